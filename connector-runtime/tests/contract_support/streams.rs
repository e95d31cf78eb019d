//! The checks every AI connector's stream passes, against a raw loopback server (tokio
//! sockets, no framework) that writes the provider's real framing: dropping the stream or
//! cancelling the context closes the connection (the server sees its write fail), a slow
//! consumer holds the server back instead of buffering, and events keep their order.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use connector_runtime::EventStream;
use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The body's pieces in order, made on demand; `None` ends the body.
pub type Pieces = Box<dyn FnMut() -> Option<Vec<u8>> + Send>;

/// A server that answers one request with a chunked body, one HTTP chunk per piece.
pub struct Drip {
    pub url: String,
    /// Body bytes the kernel has accepted so far.
    pub written: Arc<AtomicU64>,
    /// Set when a write failed: the client closed the connection.
    pub gone: Arc<AtomicBool>,
}

impl Drip {
    /// Wait (up to 3 s) until the server has seen the client go.
    pub async fn assert_disconnect_seen(&self, what: &str) {
        let start = Instant::now();
        while !self.gone.load(Ordering::SeqCst) {
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "{what}: the server still writes to an open connection"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }
}

/// Read the request's head and its `Content-Length` body.
async fn read_request(sock: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - end;
    while have < length {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
    }
}

/// Start a server on 127.0.0.1 for one connection: 200 with `content_type`, then `pieces`,
/// `pace` apart (none: as fast as the client takes them), then the end of the body.
pub async fn drip(content_type: &'static str, pace: Duration, mut pieces: Pieces) -> Drip {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let written = Arc::new(AtomicU64::new(0));
    let gone = Arc::new(AtomicBool::new(false));
    let (count, flag) = (Arc::clone(&written), Arc::clone(&gone));
    tokio::spawn(async move {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        read_request(&mut sock).await;
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let mut out = head.into_bytes();
        while let Some(piece) = pieces().filter(|p| !p.is_empty()) {
            out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            out.extend_from_slice(&piece);
            out.extend_from_slice(b"\r\n");
            if sock.write_all(&out).await.is_err() {
                flag.store(true, Ordering::SeqCst);
                return;
            }
            out.clear();
            count.fetch_add(piece.len() as u64, Ordering::SeqCst);
            if !pace.is_zero() {
                tokio::time::sleep(pace).await;
            }
        }
        let _ = sock.write_all(b"0\r\n\r\n").await;
        let _ = sock.read(&mut [0u8; 16]).await;
    });
    Drip { url, written, gone }
}

/// A connector's stream as these checks drive it.
pub trait AiStream: Sync {
    /// The reply's content type.
    fn content_type(&self) -> &'static str;
    /// The wire bytes of event number `n`, its text `"<n> "` followed by `pad` bytes.
    fn event(&self, n: u64, pad: usize) -> Vec<u8>;
    /// The number of a mapped event (the leading number of its text delta).
    fn number(&self, data: &Value) -> u64;
    /// Start the connector's streaming action against `url`.
    fn open<'a>(
        &'a self,
        url: &'a str,
        cancel: CancellationToken,
    ) -> Pin<Box<dyn Future<Output = EventStream> + Send + 'a>>;
}

/// The leading number of a text like `"17 xxxx"`.
pub fn leading_number(text: &str) -> u64 {
    text.split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a numbered text: {text:.40}"))
}

/// Events `0..` one by one, `pace` apart.
fn numbered(t: &'static dyn AiStream, count: u64, pad: usize) -> Pieces {
    let mut n = 0;
    Box::new(move || {
        (n < count).then(|| {
            n += 1;
            t.event(n - 1, pad)
        })
    })
}

/// Read the next event and check its number.
async fn expect_event(t: &dyn AiStream, s: &mut EventStream, n: u64) {
    let ev = s
        .next()
        .await
        .unwrap_or_else(|| panic!("the stream ended before event {n}"))
        .unwrap_or_else(|e| panic!("event {n}: {e}"));
    assert_eq!(t.number(&ev.data), n, "events in order");
}

/// Dropping the stream after two events closes the connection: the server sees it.
pub async fn dropping_closes_the_connection(t: &'static dyn AiStream) {
    let server = drip(
        t.content_type(),
        Duration::from_millis(20),
        numbered(t, 250, 16),
    )
    .await;
    let mut s = t.open(&server.url, CancellationToken::new()).await;
    for n in 0..2 {
        expect_event(t, &mut s, n).await;
    }
    drop(s);
    server.assert_disconnect_seen("after the drop").await;
}

/// Cancelling the context ends the stream promptly and closes the connection, while the
/// caller still holds the stream and is not polling it.
pub async fn cancelling_closes_the_connection(t: &'static dyn AiStream) {
    let server = drip(
        t.content_type(),
        Duration::from_millis(20),
        numbered(t, 250, 16),
    )
    .await;
    let cancel = CancellationToken::new();
    let mut s = t.open(&server.url, cancel.clone()).await;
    expect_event(t, &mut s, 0).await;
    cancel.cancel();
    server.assert_disconnect_seen("after the cancel").await;
    let start = Instant::now();
    while let Some(ev) = s.next().await {
        ev.expect("events read before the cancel are whole");
    }
    assert!(start.elapsed() < Duration::from_secs(1), "the stream ended");
}

/// The server offers 64 MiB as fast as it can; the consumer reads one event and pauses for a
/// second: the server gets only the socket buffers' and a chunk's worth out (< 8 MiB). Then
/// reading resumes: the events arrive whole and in order, and the server writes again.
pub async fn a_slow_consumer_holds_the_server_back(t: &'static dyn AiStream) {
    const PAD: usize = 4096;
    let count = (64 << 20) / PAD as u64;
    let server = drip(t.content_type(), Duration::ZERO, numbered(t, count, PAD)).await;
    let mut s = t.open(&server.url, CancellationToken::new()).await;
    expect_event(t, &mut s, 0).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let paused = server.written();
    assert!(
        paused < 8 << 20,
        "the server wrote {paused} bytes while the consumer paused"
    );
    let mut n = 1;
    while server.written() < paused + (4 << 20) {
        expect_event(t, &mut s, n).await;
        n += 1;
        assert!(n < count, "the server did not resume");
    }
    drop(s);
    server.assert_disconnect_seen("after the drop").await;
}

/// 2,000 numbered events of varied sizes, the bytes cut at odd places (one byte, a few, a
/// few thousand, so frames and lines split across reads): all arrive, in order, whole.
pub async fn events_keep_their_order(t: &'static dyn AiStream) {
    let body: Vec<u8> = (0..2000u64)
        .flat_map(|n| t.event(n, (n as usize * 37) % 700))
        .collect();
    let cuts = [1usize, 7, 300, 4099, 2, 65_000, 13];
    let (mut at, mut i) = (0, 0);
    let pieces: Pieces = Box::new(move || {
        (at < body.len()).then(|| {
            let end = (at + cuts[i % cuts.len()]).min(body.len());
            let piece = body[at..end].to_vec();
            (at, i) = (end, i + 1);
            piece
        })
    });
    let server = drip(t.content_type(), Duration::ZERO, pieces).await;
    let mut s = t.open(&server.url, CancellationToken::new()).await;
    for n in 0..2000 {
        expect_event(t, &mut s, n).await;
    }
    assert!(s.next().await.is_none(), "nothing after the last event");
}

/// Run a check within 60 s: a stream that hangs fails the test instead of blocking it.
pub async fn bounded<F: Future>(check: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), check)
        .await
        .expect("the stream check did not finish within 60 s")
}
