//! Streaming responses: a reply read as it arrives and turned into events, one framing per
//! file: `sse.rs` (Server-Sent Events), `ndjson.rs` (one JSON value a line), `chunked.rs` (text
//! as it arrives), `eventstream.rs` (AWS's binary event stream, with the `sigv4` feature).
//! Lines, events and frames are bounded by [`MAX_STREAM_EVENT_BYTES`]. `assemble.rs` merges
//! fragments spread over several events (`streaming.assemble`) into one last event.

use std::sync::Arc;

use bytes::Bytes;
use connector_spec::{StreamFormat, Streaming};
use futures::stream::{BoxStream, StreamExt};
use serde_json::Value;

use super::DeclarativeExecutor;
use super::request::template_context;
use crate::client::SendOptions;
use crate::context::ActionContext;
use crate::error::ActionError;

mod assemble;
mod chunked;
#[cfg(feature = "sigv4")]
mod eventstream;
mod lines;
mod ndjson;
mod sse;

/// The largest NDJSON line or SSE event (its `event` name and `data` together), in bytes: a
/// provider that never ends a line cannot make the runtime buffer without bound.
pub const MAX_STREAM_EVENT_BYTES: usize = 1024 * 1024;

/// One event of a streaming response.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// SSE event name (`message` by default); `line` for NDJSON, `chunk` for chunked text.
    pub event: String,
    /// Parsed JSON when the payload is JSON, else the text.
    pub data: Value,
}

/// A stream of events from a streaming action.
pub type EventStream = BoxStream<'static, Result<StreamEvent, ActionError>>;

/// The body of a streaming reply, chunk by chunk.
type ByteStream = BoxStream<'static, Result<Bytes, ActionError>>;

/// The events of a reply in a streaming format.
fn framed(
    format: StreamFormat,
    bytes: ByteStream,
    done_marker: Option<String>,
) -> Result<EventStream, ActionError> {
    Ok(match format {
        StreamFormat::Sse => sse::events(bytes, done_marker, MAX_STREAM_EVENT_BYTES),
        StreamFormat::Ndjson => ndjson::events(bytes, MAX_STREAM_EVENT_BYTES),
        StreamFormat::Chunked => chunked::events(bytes),
        #[cfg(feature = "sigv4")]
        StreamFormat::Eventstream => eventstream::events(bytes, MAX_STREAM_EVENT_BYTES),
        #[cfg(not(feature = "sigv4"))]
        StreamFormat::Eventstream => {
            return Err(ActionError::system(
                "feature_disabled",
                "the `eventstream` streaming format needs connector-runtime's `sigv4` cargo \
                 feature, which this build leaves out; enable it in Cargo.toml",
            ));
        }
    })
}

/// The error for a line or event over the limit.
fn too_large(what: &str, max: usize) -> ActionError {
    ActionError::system(
        "stream_event_too_large",
        format!("a {what} of the stream is larger than the limit of {max} bytes"),
    )
}

/// The reply's body, read by a task of its own one chunk ahead of the caller (a channel of one
/// chunk: a slow caller holds the provider back, memory stays bounded). The task ends, and
/// with it the connection, as soon as the caller drops the stream or the context is
/// cancelled, whether or not the caller is polling the stream at that moment.
fn pump(mut bytes: ByteStream, cancel: tokio_util::sync::CancellationToken) -> ByteStream {
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            let chunk = tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tx.closed() => return,
                chunk = bytes.next() => chunk,
            };
            let Some(chunk) = chunk else { return };
            tokio::select! {
                _ = cancel.cancelled() => return,
                sent = tx.send(chunk) => if sent.is_err() { return },
            }
        }
    });
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

impl DeclarativeExecutor {
    /// Start a streaming action: a stream of events that ends at the provider's end of stream
    /// (or the done marker), aborts when dropped or when the context is cancelled.
    pub async fn stream(
        self: &Arc<Self>,
        ctx: &ActionContext,
        action: &str,
        input: &Value,
    ) -> Result<EventStream, ActionError> {
        let a = self.spec.actions.get(action).ok_or_else(|| {
            ActionError::user("unknown_action", format!("unknown action `{action}`"))
        })?;
        let streaming: Streaming = a
            .streaming
            .clone()
            .or_else(|| self.spec.policies.streaming.clone())
            .ok_or_else(|| {
                ActionError::user(
                    "not_streaming",
                    format!("action `{action}` does not stream"),
                )
            })?;
        let (request, mapping) = self.http_parts(action)?;
        ctx.load_account().await?;
        let tctx = template_context(ctx, input, None);
        let req = self.build_request(ctx, request, &tctx)?;
        let resp = ctx
            .client
            .send(req, SendOptions { streaming: true })
            .await?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let body = ctx.client.read_body(resp).await.unwrap_or_default();
            return Err(ctx.client.error_for(status, &body));
        }
        let client = ctx.client.clone();
        let bytes: ByteStream = resp
            .bytes_stream()
            .map(move |r| r.map_err(|e| client.scrub(crate::client::from_reqwest(&e))))
            .boxed();
        let bytes = pump(bytes, ctx.cancel.clone());
        let events = framed(streaming.format, bytes, streaming.done_marker)?;
        // On a stream, `response.output` maps one event's data (`$` is the data).
        let mapping = mapping.filter(|m| m.output.is_some()).cloned();
        let this = Arc::clone(self);
        let (mctx, minput) = (ctx.clone(), input.clone());
        let map = move |mut ev: StreamEvent| {
            if let Some(m) = &mapping {
                ev.data = this.map_output(&mctx, Some(m), &minput, ev.data)?;
            }
            Ok(ev)
        };
        let events = match &streaming.assemble {
            Some(spec) => assemble::events(events, spec, MAX_STREAM_EVENT_BYTES, map),
            None => {
                let mut map = map;
                events.map(move |r| r.and_then(&mut map)).boxed()
            }
        };
        let cancel = ctx.cancel.clone();
        Ok(events.take_until(cancel.cancelled_owned()).boxed())
    }
}
