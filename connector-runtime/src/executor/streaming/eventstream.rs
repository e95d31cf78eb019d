//! AWS event stream (`application/vnd.amazon.eventstream`, Bedrock's
//! `InvokeModelWithResponseStream`): binary frames of a prelude (total and header lengths, a
//! CRC32 of them), typed headers, a payload and a CRC32 of the whole message, decoded with
//! `aws-smithy-eventstream` (decision 0023).
//!
//! - An `event` message becomes one event named by its `:event-type` header, its payload
//!   parsed as JSON (text when it is not JSON, base64 when it is not UTF-8).
//! - An `exception` or `error` message ends the stream with a typed error naming the
//!   provider's exception type (`throttlingException` is `rate_limited`, `validationException`
//!   a `user` error, anything else `transient`).
//! - A bad CRC, a malformed prelude or header, or a reply that ends inside a frame is the
//!   typed error `invalid_stream`; a frame larger than the limit is `stream_event_too_large`,
//!   refused before it is buffered.

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{HeaderValue, Message};
use base64::Engine;
use bytes::{Buf, BytesMut};
use futures::StreamExt;
use serde_json::Value;

use super::{ByteStream, EventStream, StreamEvent, too_large};
use crate::error::{ActionError, ErrorKind};

/// Prelude (12 bytes) and message CRC (4) around the headers and payload of a frame.
const FRAME_OVERHEAD: usize = 16;

struct Decoder {
    bytes: ByteStream,
    buf: BytesMut,
    frames: MessageFrameDecoder,
    /// Bytes of a frame have arrived since the last complete one.
    pending: bool,
    /// The decoder holds the current frame's prelude (it is no longer in `buf`).
    prelude_taken: bool,
    max: usize,
    done: bool,
}

/// One event per `event` message, until the reply ends or a message is an exception.
pub(super) fn events(bytes: ByteStream, max: usize) -> EventStream {
    let d = Decoder {
        bytes,
        buf: BytesMut::new(),
        frames: MessageFrameDecoder::new(),
        pending: false,
        prelude_taken: false,
        max,
        done: false,
    };
    futures::stream::unfold(d, |mut d| async move {
        if d.done {
            return None;
        }
        let item = d.next().await?;
        d.done = item.is_err();
        Some((item, d))
    })
    .boxed()
}

impl Decoder {
    /// The next event, an error, or `None` at a clean end of the reply.
    async fn next(&mut self) -> Option<Result<StreamEvent, ActionError>> {
        loop {
            if self.pending {
                if let Some(frame) = self.frame() {
                    return Some(frame.and_then(|m| event(&m)));
                }
                if self.buf.len() > self.max + FRAME_OVERHEAD {
                    return Some(Err(too_large("frame", self.max)));
                }
            }
            match self.bytes.next().await {
                Some(Ok(chunk)) => {
                    self.pending |= !chunk.is_empty();
                    self.buf.extend_from_slice(&chunk);
                }
                Some(Err(e)) => return Some(Err(e)),
                None if self.pending => {
                    return Some(Err(invalid("the reply ended inside a frame")));
                }
                None => return None,
            }
        }
    }

    /// A complete message when the buffer holds one, an error for a corrupt one.
    fn frame(&mut self) -> Option<Result<Message, ActionError>> {
        if !self.prelude_taken
            && let Some(total) = self.announced_length()
            && total > self.max + FRAME_OVERHEAD
        {
            return Some(Err(too_large("frame", self.max)));
        }
        let before = self.buf.len();
        match self.frames.decode_frame(&mut self.buf) {
            Ok(DecodedFrame::Complete(m)) => {
                self.prelude_taken = false;
                self.pending = self.buf.has_remaining();
                Some(Ok(m))
            }
            Ok(DecodedFrame::Incomplete) => {
                self.prelude_taken |= self.buf.len() != before;
                None
            }
            Err(e) => Some(Err(invalid(&e.to_string()))),
        }
    }

    /// The total length the next frame's prelude announces, while the prelude is still in the
    /// buffer (the decoder takes it out once it has read it).
    fn announced_length(&self) -> Option<usize> {
        let b = self.buf.get(..4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
}

fn invalid(why: &str) -> ActionError {
    ActionError::system(
        "invalid_stream",
        format!("the event stream is not valid: {why}"),
    )
}

fn header<'m>(m: &'m Message, name: &str) -> Option<&'m str> {
    m.headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| match h.value() {
            HeaderValue::String(s) => Some(s.as_str()),
            _ => None,
        })
}

/// The payload as JSON, else as text, else as base64.
fn payload(m: &Message) -> Value {
    let bytes = m.payload();
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.into())),
        Err(_) => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
    }
}

fn event(m: &Message) -> Result<StreamEvent, ActionError> {
    match header(m, ":message-type").unwrap_or("event") {
        "event" => Ok(StreamEvent {
            event: header(m, ":event-type").unwrap_or("message").to_string(),
            data: payload(m),
        }),
        _ => Err(exception(m)),
    }
}

/// The error an `exception` (or `error`) message ends the stream with.
fn exception(m: &Message) -> ActionError {
    let kind = header(m, ":exception-type")
        .or_else(|| header(m, ":error-code"))
        .unwrap_or("unknown");
    let detail = match payload(m) {
        Value::Object(o) => o
            .get("message")
            .or_else(|| o.get("Message"))
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => header(m, ":error-message").map(str::to_string),
    };
    let message = match detail {
        Some(d) => format!("the provider ended the stream with {kind}: {d}"),
        None => format!("the provider ended the stream with {kind}"),
    };
    match kind {
        "throttlingException" => ActionError::new(
            connector_spec::ErrorClass::RateLimited,
            "rate_limited",
            message,
        )
        .with_kind(ErrorKind::RateLimited),
        "validationException" => ActionError::user("stream_exception", message),
        _ => ActionError::transient("stream_exception", message),
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::Header;
    use bytes::Bytes;
    use futures::StreamExt;
    use serde_json::json;

    use super::*;

    fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
        let headers = headers
            .iter()
            .map(|(n, v)| Header::new(n.to_string(), HeaderValue::String(v.to_string().into())))
            .collect();
        let mut out = Vec::new();
        write_message_to(
            &Message::new_from_parts(headers, payload.to_vec()),
            &mut out,
        )
        .unwrap();
        out
    }

    fn chunk(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
        let mut h = vec![(":message-type", "event"), (":event-type", "chunk")];
        h.extend_from_slice(headers);
        frame(&h, payload)
    }

    /// The events (or the error) of a reply sent in pieces of `split` bytes.
    async fn decode(
        body: Vec<u8>,
        split: usize,
        max: usize,
    ) -> Vec<Result<StreamEvent, ActionError>> {
        let pieces: Vec<Result<Bytes, ActionError>> = body
            .chunks(split)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        events(futures::stream::iter(pieces).boxed(), max)
            .collect()
            .await
    }

    #[tokio::test]
    async fn frames_split_anywhere_become_named_json_events() {
        let mut body = chunk(&[], br#"{"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdGFydCJ9"}"#);
        body.extend(chunk(&[], b"plain text"));
        for split in [1, 3, 7, body.len()] {
            let got: Vec<_> = decode(body.clone(), split, 1024)
                .await
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(got.len(), 2, "split {split}");
            assert_eq!(got[0].event, "chunk");
            assert_eq!(
                got[0].data,
                json!({"bytes": "eyJ0eXBlIjoibWVzc2FnZV9zdGFydCJ9"})
            );
            assert_eq!(got[1].data, json!("plain text"));
        }
    }

    #[tokio::test]
    async fn a_bad_crc_is_a_typed_error_and_ends_the_stream() {
        let mut body = chunk(&[], b"{}");
        let last = body.len() - 1;
        body[last] ^= 0xff;
        body.extend(chunk(&[], b"{}"));
        let got = decode(body, 5, 1024).await;
        assert_eq!(got.len(), 1, "nothing after the error");
        let e = got[0].as_ref().unwrap_err();
        assert_eq!(e.code, "invalid_stream", "{e}");
    }

    #[tokio::test]
    async fn a_reply_that_ends_inside_a_frame_is_truncated() {
        let mut body = chunk(&[], b"{\"a\":1}");
        let second = chunk(&[], b"{\"a\":2}");
        body.extend_from_slice(&second[..second.len() - 3]);
        let got = decode(body, 4, 1024).await;
        assert_eq!(got[0].as_ref().unwrap().data, json!({"a": 1}));
        let e = got[1].as_ref().unwrap_err();
        assert_eq!(e.code, "invalid_stream");
        assert!(e.message.contains("ended inside a frame"), "{e}");
    }

    #[tokio::test]
    async fn a_frame_over_the_limit_is_refused_before_it_is_read() {
        // A prelude announcing 4 GiB: refused at once, not buffered.
        let mut body = u32::MAX.to_be_bytes().to_vec();
        body.extend_from_slice(&[0; 8]);
        let got = decode(body, 12, 1024).await;
        assert_eq!(got[0].as_ref().unwrap_err().code, "stream_event_too_large");
        let big = chunk(&[], &vec![b'x'; 2048]);
        let got = decode(big, 100, 1024).await;
        assert_eq!(got[0].as_ref().unwrap_err().code, "stream_event_too_large");
    }

    #[tokio::test]
    async fn an_exception_message_ends_the_stream_with_its_class() {
        let throttled = frame(
            &[
                (":message-type", "exception"),
                (":exception-type", "throttlingException"),
            ],
            br#"{"message":"Too many requests"}"#,
        );
        let mut body = chunk(&[], b"{}");
        body.extend(throttled);
        let got = decode(body, 64, 1024).await;
        assert_eq!(got.len(), 2);
        let e = got[1].as_ref().unwrap_err();
        assert_eq!(
            (e.class, e.code),
            (connector_spec::ErrorClass::RateLimited, "rate_limited")
        );
        assert!(
            e.message.contains("throttlingException: Too many requests"),
            "{e}"
        );
        let invalid = frame(
            &[
                (":message-type", "exception"),
                (":exception-type", "validationException"),
            ],
            b"{}",
        );
        let e = decode(invalid, 64, 1024).await.remove(0).unwrap_err();
        assert_eq!(e.class, connector_spec::ErrorClass::User);
    }
}
