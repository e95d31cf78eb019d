//! The body limit layer: a non-streaming reply is read whole here, never past the response
//! body limit. A `Content-Length` over the limit fails before any of the body is read; a
//! chunked body is counted chunk by chunk and fails as soon as it passes the limit, so memory
//! never grows beyond it. The body must arrive within the attempt's timeout. A streaming reply
//! passes through unread.

use bytes::{Bytes, BytesMut};

use super::layer::{Layer, Next, Reply};
use super::timeout::Timeout;
use super::transport_error::from_reqwest;
use crate::error::ActionError;

/// Reads non-streaming bodies within `limit` bytes and the attempt's time bound.
pub struct BodyLimit<'a> {
    pub limit: u64,
    /// The caller streams the body: leave it on the wire.
    pub streaming: bool,
    pub time: Timeout<'a>,
}

impl BodyLimit<'_> {
    /// Read `resp` whole within the limit and the time bound.
    pub async fn read(&self, resp: reqwest::Response) -> Result<Bytes, ActionError> {
        let status = resp.status().as_u16();
        self.time
            .bound(read_limited(resp, self.limit), || {
                "the response body did not arrive in time".into()
            })
            .await
            .map_err(|e| e.with_status(status))
    }
}

/// Read a whole body, failing with `response_too_large` past `limit` bytes.
pub async fn read_limited(mut resp: reqwest::Response, limit: u64) -> Result<Bytes, ActionError> {
    let status = resp.status().as_u16();
    let too_large = || ActionError::response_too_large(limit).with_status(status);
    // `content_length` is the body's exact size hint; a body built in memory around a stream
    // has none, so the header is read too.
    let declared = resp.content_length().or_else(|| {
        resp.headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
    });
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    // The chunks are kept as they arrive and joined once at the end: a growing buffer would
    // copy itself at every doubling, and the freed halves count against memory until the
    // allocator returns them (with mimalloc, a 64 MiB limit peaked at 229 MiB). Joining costs
    // one copy, as the buffer's own copy in did; one chunk is returned without it.
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0u64;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| from_reqwest(&e).with_status(status))?
    {
        len += chunk.len() as u64;
        if len > limit {
            return Err(too_large());
        }
        chunks.push(chunk);
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.swap_remove(0),
        _ => {
            let mut buf = BytesMut::with_capacity(len as usize);
            for c in chunks {
                buf.extend_from_slice(&c);
            }
            buf.freeze()
        }
    })
}

#[async_trait::async_trait]
impl Layer for BodyLimit<'_> {
    async fn handle(&self, req: reqwest::Request, next: Next<'_>) -> Result<Reply, ActionError> {
        let reply = next.run(req).await?;
        let resp = match reply {
            Reply::Unread(resp) if !self.streaming => resp,
            other => return Ok(other),
        };
        let mut head = http::Response::new(());
        *head.status_mut() = resp.status();
        *head.version_mut() = resp.version();
        *head.headers_mut() = resp.headers().clone();
        let body = self.read(resp).await?;
        Ok(Reply::Read(head.map(|()| body)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::error::ErrorKind;
    use tokio_util::sync::CancellationToken;

    static NEVER: std::sync::LazyLock<CancellationToken> =
        std::sync::LazyLock::new(CancellationToken::new);

    fn layer(limit: u64, streaming: bool) -> BodyLimit<'static> {
        BodyLimit {
            limit,
            streaming,
            time: Timeout {
                total: std::time::Duration::from_secs(60),
                cancel: &NEVER,
            },
        }
    }
    use crate::http::test_support::{Counter, get, reply, run_one};

    #[tokio::test]
    async fn a_body_within_the_limit_is_read_whole() {
        let counter = Counter::script(vec![reply(200, &[], "0123456789")]);
        let layer = layer(10, false);
        let r = run_one(&layer, &counter, get("http://127.0.0.1:9/"))
            .await
            .unwrap();
        assert_eq!(r.body().map(|b| &b[..]), Some(&b"0123456789"[..]));
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_a_typed_system_error_naming_the_limit() {
        let counter = Counter::script(vec![reply(200, &[], "0123456789!")]);
        let layer = layer(10, false);
        let e = run_one(&layer, &counter, get("http://127.0.0.1:9/"))
            .await
            .unwrap_err();
        assert_eq!(
            (e.code, e.kind),
            ("response_too_large", ErrorKind::ResponseTooLarge)
        );
        assert_eq!(e.class, connector_spec::ErrorClass::System);
        assert!(e.message.contains("10 bytes"), "{e}");
        assert_eq!(e.status, Some(200));
    }

    #[tokio::test]
    async fn a_chunked_body_is_cut_off_at_the_limit_without_reading_the_rest() {
        // An endless body: only the limit (plus one chunk) is ever pulled from it.
        let pulled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&pulled);
        let chunks = futures::stream::repeat_with(move || {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, std::io::Error>(Bytes::from_static(&[b'x'; 1024]))
        });
        let resp = http::Response::new(reqwest::Body::wrap_stream(chunks));
        let e = read_limited(reqwest::Response::from(resp), 64 * 1024)
            .await
            .unwrap_err();
        assert_eq!(e.code, "response_too_large");
        let n = pulled.load(std::sync::atomic::Ordering::SeqCst);
        assert!((64..=66).contains(&n), "pulled {n} chunks of 1 KiB");
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_fails_before_reading() {
        let body =
            reqwest::Body::wrap_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>());
        let resp = http::Response::builder()
            .header("content-length", "1000000")
            .body(body)
            .unwrap();
        let e = read_limited(reqwest::Response::from(resp), 1000)
            .await
            .unwrap_err();
        assert_eq!(e.code, "response_too_large");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_does_not_arrive_in_time_is_a_timeout_with_its_status() {
        let body =
            reqwest::Body::wrap_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>());
        let resp = reqwest::Response::from(http::Response::new(body));
        let e = layer(10, false).read(resp).await.unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::Timeout, Some(200)));
    }

    #[tokio::test]
    async fn a_streaming_reply_is_left_unread() {
        let counter = Counter::script(vec![reply(200, &[], "0123456789!")]);
        let layer = layer(10, true);
        let r = run_one(&layer, &counter, get("http://127.0.0.1:9/"))
            .await
            .unwrap();
        assert!(matches!(r, Reply::Unread(_)));
    }
}
