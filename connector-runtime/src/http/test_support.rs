//! Helpers for the layers' unit tests: a scripted [`InMemoryTransport`] that counts attempts
//! and keeps the headers each one carried.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::layer::{Layer, Reply, run};
use super::transport::{InMemoryReply, InMemoryTransport, Transport};
use crate::error::ActionError;

/// A transport answering from a script (the last entry repeats), recording every attempt.
#[derive(Clone)]
pub struct Counter {
    seen: Arc<Mutex<Vec<reqwest::header::HeaderMap>>>,
    inner: InMemoryTransport,
}

/// One scripted answer.
pub type Answer = Arc<dyn Fn() -> InMemoryReply + Send + Sync>;

/// A reply with `status`, `headers` and `body`.
pub fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Answer {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let body = Bytes::from(body.to_string());
    Arc::new(move || {
        let mut b = http::Response::builder().status(status);
        for (k, v) in &headers {
            b = b.header(k, v);
        }
        Ok(b.body(body.clone()).expect("valid response"))
    })
}

/// A transport error of `kind`.
pub fn fail(e: ActionError) -> Answer {
    Arc::new(move || Err(e.clone()))
}

impl Counter {
    /// Answer every attempt with `status` and an empty body.
    pub fn ok(status: u16) -> Counter {
        Counter::script(vec![reply(status, &[], "")])
    }

    /// Answer attempt `i` with `answers[i]` (the last one repeats).
    pub fn script(answers: Vec<Answer>) -> Counter {
        let seen: Arc<Mutex<Vec<reqwest::header::HeaderMap>>> = Arc::default();
        let log = Arc::clone(&seen);
        let inner = InMemoryTransport::new(move |req| {
            let mut log = log.lock().expect("not poisoned");
            let i = log.len().min(answers.len() - 1);
            log.push(req.headers().clone());
            (answers[i])()
        });
        Counter { seen, inner }
    }

    /// How many attempts reached the transport.
    pub fn calls(&self) -> usize {
        self.seen.lock().expect("not poisoned").len()
    }

    /// The value of header `name` on each attempt.
    pub fn header(&self, name: &str) -> Vec<Option<String>> {
        self.seen
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|h| h.get(name).and_then(|v| v.to_str().ok()).map(String::from))
            .collect()
    }
}

#[async_trait::async_trait]
impl Transport for Counter {
    async fn execute(&self, req: reqwest::Request) -> Result<reqwest::Response, ActionError> {
        self.inner.execute(req).await
    }
}

/// A request with `method` to `url`.
pub fn request(method: reqwest::Method, url: &str) -> reqwest::Request {
    reqwest::Request::new(method, url.parse().expect("valid url"))
}

/// A GET to `url`.
pub fn get(url: &str) -> reqwest::Request {
    request(reqwest::Method::GET, url)
}

/// Send `req` through `layer` alone over `transport`.
pub async fn run_one(
    layer: &(dyn Layer + '_),
    transport: &dyn Transport,
    req: reqwest::Request,
) -> Result<Reply, ActionError> {
    run(&[layer], transport, req).await
}
