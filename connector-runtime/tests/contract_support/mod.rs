//! Helpers for the contract tests of the bundled specs: load a spec file from `specs/`, point it
//! at a loopback wiremock server, run actions through a `Dispatcher`, and inspect the one request
//! the server received.

#![allow(dead_code)]

pub mod per_user;
pub mod streams;

use std::path::PathBuf;
use std::sync::Arc;

use connector_runtime::{
    ActionError, ConnectorInstance, Dispatcher, ExecuteOptions, InstanceRuntime, Registry,
};
use connector_spec::{ConnectorSpec, Implementation, LoadOptions};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use wiremock::{MockServer, Request};

/// A secret value that must never show up in an error's Display or Debug output.
pub const CANARY: &str = "canary-s3cr3t-7f3a9c1e";

/// The text of `specs/<file>`.
pub fn spec_text(file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("specs")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Load `specs/<file>` with `connector_spec::load_str`; the bundled specs load without errors.
pub fn load_spec(file: &str) -> ConnectorSpec {
    let loaded = connector_spec::load_str(file, &spec_text(file), &LoadOptions::default());
    assert!(
        !loaded.has_errors(),
        "{file} has errors:\n{}",
        loaded.render(false)
    );
    loaded.spec.expect("spec")
}

/// Replace the absolute `url` of an action's request (or of the connection test with `None`).
pub fn set_request_url(spec: &mut ConnectorSpec, action: Option<&str>, url: &str) {
    let req = match action {
        Some(a) => match &mut spec.actions.get_mut(a).expect("action").implementation {
            Implementation::Http { request, .. } => request,
            Implementation::Code { .. } => panic!("`{a}` is a code action"),
        },
        None => spec
            .test
            .as_mut()
            .and_then(|t| t.request.as_mut())
            .expect("test request"),
    };
    req.url = Some(url.to_string());
}

/// The declarative (non-code) actions of a spec, sorted.
pub fn declarative_actions(spec: &ConnectorSpec) -> Vec<String> {
    let mut v: Vec<String> = spec
        .actions
        .iter()
        .filter(|(_, a)| matches!(a.implementation, Implementation::Http { .. }))
        .map(|(k, _)| k.clone())
        .collect();
    v.sort();
    v
}

/// A wiremock server bound to 127.0.0.1 only.
pub async fn loopback() -> MockServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    MockServer::builder().listener(listener).start().await
}

/// An instance of a spec, its runtime and a dispatcher.
pub struct Harness {
    pub runtime: InstanceRuntime,
    pub dispatcher: Arc<Dispatcher>,
}

impl Harness {
    pub fn new(spec: ConnectorSpec, config: Value, secrets: Value) -> Harness {
        let spec = Arc::new(spec);
        let instance = ConnectorInstance::new(Arc::clone(&spec), config, secrets)
            .unwrap_or_else(|e| panic!("instance: {e}"));
        let runtime = InstanceRuntime::new(instance).unwrap_or_else(|e| panic!("runtime: {e}"));
        let mut registry = Registry::with_builtins();
        let dispatcher = registry
            .register_spec((*spec).clone())
            .unwrap_or_else(|e| panic!("register: {e}"));
        Harness {
            runtime,
            dispatcher,
        }
    }

    pub async fn run(
        &self,
        action: &str,
        input: Value,
        opts: ExecuteOptions,
    ) -> Result<Value, ActionError> {
        let ctx = self.runtime.context("", CancellationToken::new());
        let r = self.dispatcher.execute(&ctx, action, input, opts).await;
        if let Err(e) = &r {
            assert_no_canary(e);
        }
        r
    }

    /// Run an action (first page only).
    pub async fn exec(&self, action: &str, input: Value) -> Result<Value, ActionError> {
        self.run(action, input, ExecuteOptions::default()).await
    }

    /// Run an action following every page.
    pub async fn exec_all(&self, action: &str, input: Value) -> Result<Value, ActionError> {
        self.run(action, input, ExecuteOptions { all_pages: true })
            .await
    }

    /// Run the connection test.
    pub async fn test(&self) -> Result<Value, ActionError> {
        let ctx = self.runtime.context("", CancellationToken::new());
        let r = self.dispatcher.test(&ctx).await;
        if let Err(e) = &r {
            assert_no_canary(e);
        }
        r
    }
}

/// The canary secret appears in neither the Display nor the Debug form of an error.
pub fn assert_no_canary(e: &ActionError) {
    let shown = e.to_string();
    let debug = format!("{e:?}");
    assert!(!shown.contains(CANARY), "secret in Display: {shown}");
    assert!(!debug.contains(CANARY), "secret in Debug: {debug}");
}

/// Every request the server received.
pub async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("recording on")
}

/// The one request the server received.
pub async fn only_request(server: &MockServer) -> Request {
    let mut r = requests(server).await;
    assert_eq!(r.len(), 1, "expected exactly one request, got {}", r.len());
    r.remove(0)
}

/// The query parameters of a request, in order.
pub fn query(r: &Request) -> Vec<(String, String)> {
    r.url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Assert the exact query parameters (order-sensitive).
pub fn assert_query(r: &Request, expected: &[(&str, &str)]) {
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(query(r), expected, "query of {}", r.url);
}

/// A header's value as text, or `None`.
pub fn header(r: &Request, name: &str) -> Option<String> {
    r.headers
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_string())
}

/// Assert method, path and a header.
pub fn assert_line(r: &Request, method: &str, path: &str) {
    assert_eq!(r.method.as_str(), method, "method of {}", r.url);
    assert_eq!(r.url.path(), path, "path of {}", r.url);
}

/// The body parsed as JSON, with a JSON content type.
pub fn json_body(r: &Request) -> Value {
    let ct = header(r, "content-type").unwrap_or_default();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    serde_json::from_slice(&r.body).expect("JSON body")
}

/// The instance's usage report after the calls that answered `outputs`: one call each, their
/// `usage` summed (the spec's `usage:` paths read what the outputs carry).
pub async fn assert_usage_recorded(h: &Harness, outputs: &[&Value]) {
    let report = h
        .exec("getDashboard", json!({}))
        .await
        .expect("getDashboard");
    let sum = |k: &str| {
        outputs
            .iter()
            .map(|o| o["usage"][k].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    assert_eq!(
        report["totals"],
        json!({
            "calls": outputs.len(),
            "promptTokens": sum("promptTokens"),
            "completionTokens": sum("completionTokens"),
            "totalTokens": sum("totalTokens"),
        }),
        "{report}"
    );
}
