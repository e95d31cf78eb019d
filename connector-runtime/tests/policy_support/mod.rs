//! Shared helpers for the wire-level policy and fault tests: inline specs, instances on
//! loopback servers, a scripted wiremock responder that records arrival times, a raw TCP
//! server for faults wiremock cannot produce, and a bound on every test body.

#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use connector_runtime::{
    ActionContext, ActionError, CancellationToken, ConnectorInstance, DeclarativeConnector,
    Dispatcher, ExecuteOptions, InstanceRuntime, Registry,
};
use connector_spec::ConnectorSpec;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wiremock::{Request, Respond, ResponseTemplate};

/// Upper bound on every test body: nothing may hang.
pub const TEST_BOUND: Duration = Duration::from_secs(10);

/// Run a test body within [`TEST_BOUND`].
pub async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_BOUND, f)
        .await
        .expect("the test body did not finish within its bound")
}

/// Remove the common leading indentation of a multi-line string (first empty line dropped).
pub fn dedent(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|l| if l.len() >= indent { &l[indent..] } else { "" })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// A spec with the standard header, `baseUrl: base` and `rest` (dedented YAML holding
/// `auth`, `policies`, `actions`, ...). Panics with the rendered diagnostics if it has errors.
pub fn spec(base: &str, rest: &str) -> ConnectorSpec {
    let rest = dedent(rest);
    let auth = if rest.lines().any(|l| l.starts_with("auth:")) {
        String::new()
    } else {
        "auth:\n  types: [none]\n".to_string()
    };
    let text = format!(
        "id: .wire_test\ndisplayName: Wire test\ndescription: A connector for wire-level tests.\n\
         minimumLicense: basic\nbaseUrl: {base}\n{auth}{rest}"
    );
    let loaded = connector_spec::load_str(
        "wire_test.yaml",
        &text,
        &connector_spec::LoadOptions::default(),
    );
    match loaded.spec.clone() {
        Some(s) => s,
        None => panic!("spec has errors:\n{}\n---\n{text}", loaded.render(false)),
    }
}

/// One instance of an inline spec against a loopback server.
pub struct Harness {
    pub spec: Arc<ConnectorSpec>,
    pub dispatcher: Arc<Dispatcher>,
    pub connector: DeclarativeConnector,
    pub runtime: InstanceRuntime,
}

impl Harness {
    /// A spec with auth `none` (unless `rest` has an `auth:` block) and no config or secrets.
    pub fn new(base: &str, rest: &str) -> Harness {
        Harness::with(base, rest, json!({}), json!({}))
    }

    /// A spec with the given config and secrets.
    pub fn with(base: &str, rest: &str, config: Value, secrets: Value) -> Harness {
        let spec = Arc::new(spec(base, rest));
        let mut registry = Registry::new();
        let dispatcher = registry
            .register_spec((*spec).clone())
            .expect("the spec registers");
        let instance =
            ConnectorInstance::new(Arc::clone(&spec), config, secrets).expect("valid instance");
        let runtime = InstanceRuntime::new(instance).expect("the runtime builds");
        Harness {
            connector: DeclarativeConnector::new(Arc::clone(&spec)),
            spec,
            dispatcher,
            runtime,
        }
    }

    /// A fresh context (same client and rate-limit state) with its own cancellation token.
    pub fn ctx(&self) -> ActionContext {
        self.runtime.context("", CancellationToken::new())
    }

    /// Run an action through the dispatcher (first page only).
    pub async fn run(&self, action: &str, input: Value) -> Result<Value, ActionError> {
        self.dispatcher
            .execute(&self.ctx(), action, input, ExecuteOptions::default())
            .await
    }

    /// Run an action and follow every page.
    pub async fn run_all(&self, action: &str, input: Value) -> Result<Value, ActionError> {
        self.dispatcher
            .execute(
                &self.ctx(),
                action,
                input,
                ExecuteOptions { all_pages: true },
            )
            .await
    }
}

/// A wiremock responder that replays a script (the last entry repeats) and records when each
/// request arrived and what it asked for.
#[derive(Clone)]
pub struct Script {
    replies: Arc<Vec<ResponseTemplate>>,
    hits: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<(Instant, Request)>>>,
}

impl Script {
    pub fn new(replies: Vec<ResponseTemplate>) -> Script {
        assert!(!replies.is_empty());
        Script {
            replies: Arc::new(replies),
            hits: Arc::new(AtomicUsize::new(0)),
            log: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Arrival times of the requests.
    pub fn times(&self) -> Vec<Instant> {
        self.log.lock().unwrap().iter().map(|(t, _)| *t).collect()
    }

    /// Gaps between consecutive arrivals.
    pub fn gaps(&self) -> Vec<Duration> {
        self.times().windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// The requests received.
    pub fn requests(&self) -> Vec<Request> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }
}

impl Respond for Script {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let n = self.hits.fetch_add(1, Ordering::SeqCst);
        self.log
            .lock()
            .unwrap()
            .push((Instant::now(), request.clone()));
        self.replies[n.min(self.replies.len() - 1)].clone()
    }
}

/// The query pairs of a request, in order.
pub fn query(r: &Request) -> Vec<(String, String)> {
    r.url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Pairs from string slices, for comparing with [`query`].
pub fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A raw TCP server on 127.0.0.1: every accepted connection is handed to `handler` in its own
/// task. Returns the base URL and the number of connections accepted so far.
pub async fn raw_server<F, Fut>(handler: F) -> (String, Arc<AtomicUsize>)
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let h = Arc::clone(&handler);
            tokio::spawn(async move { h(sock).await });
        }
    });
    (format!("http://{addr}"), accepted)
}

/// Read a request head (up to the blank line); the text, or what arrived before EOF.
pub async fn read_head(sock: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 64 * 1024 {
            break;
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Write bytes, ignoring errors (the client may be gone).
pub async fn write(sock: &mut TcpStream, bytes: &[u8]) -> bool {
    sock.write_all(bytes).await.is_ok() && sock.flush().await.is_ok()
}

/// A port on 127.0.0.1 where nothing listens.
pub async fn closed_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}")
}

/// Assert an error's class and code, with the whole error in the failure message.
#[track_caller]
pub fn assert_error(
    r: &Result<Value, ActionError>,
    class: connector_runtime::ErrorClass,
    code: &str,
) {
    match r {
        Err(e) => {
            assert_eq!(e.class, class, "class of {e:?}");
            assert_eq!(e.code, code, "code of {e:?}");
        }
        Ok(v) => panic!("expected a {class:?}/{code} error, got Ok({v})"),
    }
}
