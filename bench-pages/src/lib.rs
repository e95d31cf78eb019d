//! The fast loopback API of the listing benchmarks (`cargo xtask bench-e2e` and
//! `connector-runtime/benches/throughput.rs`): pre-rendered JSON pages behind bearer auth and
//! cursor pagination, served by hyper on its own thread so it does as little as possible per
//! request. Both benchmarks read the same pages, so their figures compare.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// The records endpoint.
pub const PATH: &str = "/records";

/// How many pages of how many records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub pages: usize,
    pub per_page: usize,
}

impl Shape {
    pub fn records(self) -> usize {
        self.pages * self.per_page
    }
}

/// The cursor that asks for page `page` (the first page is asked for without one).
pub fn cursor(page: usize) -> String {
    format!("cur_{page:05}")
}

/// The query of page `page`, as a client following the cursors sends it.
pub fn query(shape: Shape, page: usize) -> String {
    match page {
        0 => format!("limit={}", shape.per_page),
        p => format!("limit={}&cursor={}", shape.per_page, cursor(p)),
    }
}

/// What the server has seen since it started.
#[derive(Debug, Default)]
pub struct Counters {
    /// TCP connections accepted.
    pub connections: AtomicU64,
    /// Pages served (200 replies).
    pub pages: AtomicU64,
    /// Requests refused: wrong or missing token (401), unknown path or query (400).
    pub refused: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub connections: u64,
    pub pages: u64,
    pub refused: u64,
}

impl Seen {
    /// What happened between `earlier` and this snapshot.
    pub fn since(self, earlier: Seen) -> Seen {
        Seen {
            connections: self.connections - earlier.connections,
            pages: self.pages - earlier.pages,
            refused: self.refused - earlier.refused,
        }
    }
}

/// A running page server. It lives until the process ends (the benchmark is one process).
pub struct PageServer {
    pub addr: SocketAddr,
    /// Total bytes of all page bodies, in order: what a client that fetches every page reads.
    pub body_bytes: usize,
    counters: Arc<Counters>,
}

impl PageServer {
    /// Render the pages and start serving them on a free 127.0.0.1 port.
    pub fn start(shape: Shape, token: &str) -> anyhow::Result<PageServer> {
        let pages = Arc::new(render_pages(shape));
        let body_bytes = pages.iter().map(Bytes::len).sum();
        let counters = Arc::new(Counters::default());
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let site = Site {
            pages,
            expected: Bytes::from(format!("Bearer {token}")),
            shape,
            counters: Arc::clone(&counters),
        };
        std::thread::Builder::new()
            .name("page-server".into())
            .spawn(move || serve(listener, site))
            .context("starting the page server thread")?;
        Ok(PageServer {
            addr,
            body_bytes,
            counters,
        })
    }

    /// The base URL of the API.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Seen {
        Seen {
            connections: self.counters.connections.load(Ordering::SeqCst),
            pages: self.counters.pages.load(Ordering::SeqCst),
            refused: self.counters.refused.load(Ordering::SeqCst),
        }
    }
}

/// Everything a request handler reads.
#[derive(Clone)]
struct Site {
    pages: Arc<Vec<Bytes>>,
    expected: Bytes,
    shape: Shape,
    counters: Arc<Counters>,
}

/// The body of every page: `per_page` records and the next cursor (null on the last page).
fn render_pages(shape: Shape) -> Vec<Bytes> {
    (0..shape.pages)
        .map(|p| {
            let items: Vec<Value> = (0..shape.per_page)
                .map(|i| record(p * shape.per_page + i))
                .collect();
            let next = if p + 1 < shape.pages {
                Value::String(cursor(p + 1))
            } else {
                Value::Null
            };
            Bytes::from(json!({"items": items, "next": next}).to_string())
        })
        .collect()
}

/// Record number `n`.
pub fn record(n: usize) -> Value {
    json!({
        "id": format!("rec-{n:06}"),
        "name": format!("Record {n}"),
        "status": if n.is_multiple_of(3) { "closed" } else { "open" },
        "owner": {"id": format!("u-{}", n % 97), "email": format!("user{}@example.com", n % 97)},
        "createdAt": "2024-05-01T12:00:00Z",
        "score": (n % 1000) as f64 / 10.0,
        "tags": ["alpha", "beta"],
    })
}

/// The page a query asks for: exactly [`query`] of some page.
fn page_index(shape: Shape, q: &str) -> Option<usize> {
    let mut limit_ok = false;
    let mut page = 0;
    for pair in q.split('&') {
        match pair.split_once('=')? {
            ("limit", v) => limit_ok = v.parse() == Ok(shape.per_page),
            ("cursor", v) => page = v.strip_prefix("cur_")?.parse().ok().filter(|&p| p > 0)?,
            _ => return None,
        }
    }
    (limit_ok && page < shape.pages).then_some(page)
}

fn respond(
    site: &Site,
    req: &hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let authorized = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == site.expected.as_ref());
    let page = (req.uri().path() == PATH)
        .then(|| page_index(site.shape, req.uri().query().unwrap_or("")))
        .flatten();
    let (status, body) = match (authorized, page) {
        (false, _) => (401, Bytes::from_static(b"{\"message\":\"bad token\"}")),
        (true, None) => (400, Bytes::from_static(b"{\"message\":\"bad page\"}")),
        (true, Some(p)) => (200, site.pages[p].clone()),
    };
    let counter = match status {
        200 => &site.counters.pages,
        _ => &site.counters.refused,
    };
    counter.fetch_add(1, Ordering::SeqCst);
    let mut resp = hyper::Response::new(Full::new(body));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// The accept loop, on a current-thread runtime: one client at a time is all the benchmark
/// has, and a single thread leaves the other core to the client.
fn serve(listener: std::net::TcpListener, site: Site) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    else {
        eprintln!("page server: cannot start a tokio runtime");
        return;
    };
    rt.block_on(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
            eprintln!("page server: cannot register the listener");
            return;
        };
        while let Ok((sock, _)) = listener.accept().await {
            site.counters.connections.fetch_add(1, Ordering::SeqCst);
            let _ = sock.set_nodelay(true);
            let site = site.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let resp = respond(&site, &req);
                    async move { Ok::<_, Infallible>(resp) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    const SHAPE: Shape = Shape {
        pages: 3,
        per_page: 2,
    };

    /// One HTTP/1.1 request on a fresh connection; the status code and the body.
    fn get(addr: SocketAddr, target: &str, auth: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        let status = reply[9..12].parse().unwrap();
        let body = reply.split_once("\r\n\r\n").unwrap().1.to_string();
        (status, body)
    }

    #[test]
    fn every_page_is_served_in_order_and_a_wrong_token_is_refused() {
        let server = PageServer::start(SHAPE, "t0k").unwrap();
        let mut ids = Vec::new();
        let mut bytes = 0;
        for p in 0..SHAPE.pages {
            let (status, body) = get(
                server.addr,
                &format!("{PATH}?{}", query(SHAPE, p)),
                "Bearer t0k",
            );
            assert_eq!(status, 200, "{body}");
            bytes += body.len();
            let v: Value = serde_json::from_str(&body).unwrap();
            let next = (p + 1 < SHAPE.pages).then(|| cursor(p + 1));
            assert_eq!(v["next"].as_str(), next.as_deref());
            for r in v["items"].as_array().unwrap() {
                ids.push(r["id"].as_str().unwrap().to_string());
            }
        }
        assert_eq!(
            ids,
            [
                "rec-000000",
                "rec-000001",
                "rec-000002",
                "rec-000003",
                "rec-000004",
                "rec-000005"
            ]
        );
        assert_eq!(bytes, server.body_bytes);

        let (status, _) = get(
            server.addr,
            &format!("{PATH}?{}", query(SHAPE, 1)),
            "Bearer nope",
        );
        assert_eq!(status, 401);
        let (status, _) = get(
            server.addr,
            &format!("{PATH}?limit=2&cursor=cur_00009"),
            "Bearer t0k",
        );
        assert_eq!(status, 400);
        let seen = server.seen();
        assert_eq!((seen.pages, seen.refused, seen.connections), (3, 2, 5));
    }

    #[test]
    fn only_the_queries_a_cursor_client_sends_name_a_page() {
        assert_eq!(page_index(SHAPE, "limit=2"), Some(0));
        assert_eq!(page_index(SHAPE, "limit=2&cursor=cur_00002"), Some(2));
        assert_eq!(page_index(SHAPE, "limit=3&cursor=cur_00002"), None);
        assert_eq!(page_index(SHAPE, "cursor=cur_00001"), None);
        assert_eq!(page_index(SHAPE, "limit=2&cursor=cur_00000"), None);
        assert_eq!(page_index(SHAPE, "limit=2&cursor=cur_00003"), None);
        assert_eq!(page_index(SHAPE, "limit=2&x=1"), None);
    }
}
