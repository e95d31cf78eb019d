//! A loopback HTTP listener that counts the connections it accepts and answers every request
//! with one fixed reply: the target of the egress tests, where a refused request must leave
//! the count at zero. Dependency-free beyond tokio, so the runtime's tests include it too
//! (`#[path]`).
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Target {
    pub port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Target {
    /// Listen on 127.0.0.1 and answer each request head with `HTTP/1.1 {status}` and the
    /// JSON `body`, then close.
    pub async fn start(status: &str, body: String) -> Target {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        let reply: Arc<str> = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let reply = Arc::clone(&reply);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = sock.write_all(reply.as_bytes()).await;
                });
            }
        });
        Target { port, accepted }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}
