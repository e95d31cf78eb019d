//! The connection layer: an accept loop over hyper's HTTP/1 server with the limits
//! `axum::serve` does not have (it has no header-read timeout, no idle timeout and no cap on
//! connections), the request-body deadline, and the security headers of every response.
//!
//! Per connection, one deadline applies at a time:
//! - **idle**: no request in flight and no byte of a next request received (right after
//!   accept, and after each response) → closed after `idle`;
//! - **header**: the first byte of a request head arrived but the head is not complete →
//!   closed `header` after that first byte, however slowly the rest trickles in;
//! - **body**: a handler reading the body gets an error once `body` has passed since the head
//!   was complete; the answer is `408 body_timeout` with `Connection: close`.
//!
//! While a request is in flight (its response not yet fully sent, SSE streams included) no
//! connection deadline runs: the action's own timeouts apply.
//!
//! **Connection cap**: at most `max_connections` are served at once. The loop takes a permit
//! before it accepts, so beyond the cap new connections wait in the kernel's listen backlog
//! (their `connect` succeeds, nothing is read) until one closes; nothing is refused.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::error::ApiError;

/// Connection limits (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> ConnLimits {
        ConnLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// Serve `app` on `listener` until `shutdown` resolves, then let every connection finish its
/// in-flight request (idle keep-alive connections are closed at once) and return. `open`
/// follows the number of open connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    open: Gauge,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let stop = CancellationToken::new();
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            // Reap finished connections so the set does not grow with the server's age.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            (stream, permit) = accept(&listener, &permits) => {
                let open = OpenConnection::new(&open);
                let conn = serve_conn(stream, app.clone(), limits, stop.clone(), permit);
                conns.spawn(async move {
                    conn.await;
                    drop(open);
                });
            }
        }
    }
    stop.cancel();
    while conns.join_next().await.is_some() {}
}

/// One open connection on the gauge, from accept until it closes (or its task is dropped).
struct OpenConnection(Gauge);

impl OpenConnection {
    fn new(g: &Gauge) -> OpenConnection {
        g.inc();
        OpenConnection(g.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A permit, then a connection. Cancel-safe: dropping it drops the permit or a pending accept.
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> (TcpStream, OwnedSemaphorePermit) {
    let permit = Arc::clone(permits)
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return (stream, permit),
            // Out of file descriptors, a connection reset before accept, ...: the listener
            // is still good. The pause keeps an exhausted fd table from spinning the loop.
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// What one connection is doing, as far as its deadlines go.
struct Phase {
    /// Requests whose response has not been fully sent (0 or 1 over HTTP/1).
    in_flight: usize,
    /// When the first byte of the next request head arrived.
    head_started: Option<Instant>,
    /// Since when the connection has been waiting for a request (accept, or the last response).
    idle_since: Instant,
}

struct ConnState {
    phase: Mutex<Phase>,
    /// Wakes the connection's supervisor when the phase changes.
    changed: Notify,
}

impl ConnState {
    fn new() -> ConnState {
        ConnState {
            phase: Mutex::new(Phase {
                in_flight: 0,
                head_started: None,
                idle_since: Instant::now(),
            }),
            changed: Notify::new(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut Phase) -> bool) {
        let changed = f(&mut self.phase.lock().expect("not poisoned"));
        if changed {
            self.changed.notify_one();
        }
    }

    fn bytes_read(&self) {
        self.update(|p| {
            let starts_head = p.in_flight == 0 && p.head_started.is_none();
            if starts_head {
                p.head_started = Some(Instant::now());
            }
            starts_head
        });
    }

    fn request_started(&self) {
        self.update(|p| {
            p.in_flight += 1;
            p.head_started = None;
            true
        });
    }

    fn response_ended(&self) {
        self.update(|p| {
            p.in_flight = p.in_flight.saturating_sub(1);
            p.idle_since = Instant::now();
            true
        });
    }

    /// When the connection is to be closed if nothing changes; `None` while a request is in
    /// flight.
    fn deadline(&self, limits: &ConnLimits) -> Option<Instant> {
        let p = self.phase.lock().expect("not poisoned");
        if p.in_flight > 0 {
            None
        } else if let Some(start) = p.head_started {
            Some(start + limits.header_timeout)
        } else {
            Some(p.idle_since + limits.idle_timeout)
        }
    }
}

/// Counts a request in flight from its head until its response body is dropped (fully sent,
/// or the connection went away).
struct InFlight(Arc<ConnState>);

impl InFlight {
    fn start(state: &Arc<ConnState>) -> InFlight {
        state.request_started();
        InFlight(Arc::clone(state))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.response_ended();
    }
}

/// A response body that holds its request's [`InFlight`].
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, reporting every read to the connection's [`ConnState`].
struct TrackedIo {
    inner: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.bytes_read();
        }
        r
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Serve one connection; returns when it is closed, by either side or by a deadline.
async fn serve_conn(
    stream: TcpStream,
    app: Router,
    limits: ConnLimits,
    stop: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let state = Arc::new(ConnState::new());
    let io = TokioIo::new(TrackedIo {
        inner: stream,
        state: Arc::clone(&state),
    });
    let svc_state = Arc::clone(&state);
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let in_flight = InFlight::start(&svc_state);
        let app = app.clone();
        async move {
            let res = match app.oneshot(req.map(Body::new)).await {
                Ok(res) => res,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(res.map(|inner| TrackedBody {
                inner,
                _in_flight: in_flight,
            }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The header deadline is ours (above): hyper's would also cut idle keep-alive
    // connections at the header timeout, leaving no separate idle timeout.
    builder.header_read_timeout(None).keep_alive(true);
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let deadline = state.deadline(&limits);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stop.cancelled(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = state.changed.notified() => {}
            _ = sleep_until(deadline) => {
                if state.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!("closing a connection: idle or header timeout");
                    return;
                }
            }
        }
    }
}

/// The body deadline: the request body must have arrived within `timeout` of the head.
/// Past it, reading the body fails and the answer is `408 body_timeout`, closing the
/// connection (the rest of the body is never read).
pub async fn body_deadline(
    axum::extract::State(timeout): axum::extract::State<Duration>,
    req: Request,
    next: Next,
) -> Response {
    let fired = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + timeout;
    let req = req.map(|b| {
        Body::new(DeadlineBody {
            inner: b,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            fired: Arc::clone(&fired),
        })
    });
    let res = next.run(req).await;
    if !fired.load(Ordering::Acquire) {
        return res;
    }
    let mut res = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "body_timeout",
        format!(
            "the request body did not arrive within {} s",
            timeout.as_secs_f64()
        ),
    )
    .into_response();
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

struct DeadlineBody {
    inner: Body,
    sleep: Pin<Box<tokio::time::Sleep>>,
    fired: Arc<AtomicBool>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.fired.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// `X-Content-Type-Options: nosniff` on every response; HTML pages (the OAuth callback) also
/// get a policy that allows nothing (they have no script, style or image) and cannot be framed.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    res
}
