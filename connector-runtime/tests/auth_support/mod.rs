//! Helpers for the auth strategy tests: tiny inline specs, instance -> runtime -> dispatcher,
//! and a loopback TLS server that requires a client certificate.

#![allow(dead_code)]

use std::sync::Arc;

use connector_runtime::{
    ActionError, ConnectorInstance, Dispatcher, ExecuteOptions, InstanceRuntime, Registry,
};
use connector_spec::{ConnectorSpec, LoadOptions};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// A one-action spec. `auth` is the YAML of `auth.types` (a flow sequence or block);
/// `request` is the YAML of the action's `request` mapping (indented by 6 spaces).
pub fn spec(auth_types: &str, request: &str) -> ConnectorSpec {
    let text = format!(
        r#"id: .auth-test
displayName: Auth test
description: Exercises one auth strategy against a loopback server.
minimumLicense: basic
baseUrl: "{{{{ config.base }}}}"
auth:
  types: {auth_types}
config:
  type: object
  additionalProperties: false
  properties:
    base: {{ type: string, maxLength: 2048 }}
actions:
  call:
    description: Call the API.
    scope: read
    input:
      type: object
      additionalProperties: false
      properties: {{}}
    request:
{request}
"#
    );
    let loaded = connector_spec::load_str("auth-test.yaml", &text, &LoadOptions::default());
    assert!(
        !loaded.has_errors(),
        "spec errors:\n{}",
        loaded.render(false)
    );
    loaded.spec.expect("spec")
}

/// `GET {base}/api/things`.
pub const GET_THINGS: &str = "      method: GET\n      path: /api/things\n";

/// An instance, its runtime and a dispatcher for `spec`.
pub struct Harness {
    pub runtime: InstanceRuntime,
    pub dispatcher: Arc<Dispatcher>,
}

impl Harness {
    pub fn new(spec: ConnectorSpec, config: Value, secrets: Value) -> Result<Harness, ActionError> {
        let spec = Arc::new(spec);
        let instance = ConnectorInstance::new(Arc::clone(&spec), config, secrets)?;
        let runtime = InstanceRuntime::new(instance)?;
        let mut registry = Registry::new();
        let dispatcher = registry.register_spec((*spec).clone())?;
        Ok(Harness {
            runtime,
            dispatcher,
        })
    }

    /// Run the `call` action with empty input.
    pub async fn call(&self) -> Result<Value, ActionError> {
        let ctx = self.runtime.context("", CancellationToken::new());
        self.dispatcher
            .execute(
                &ctx,
                "call",
                serde_json::json!({}),
                ExecuteOptions::default(),
            )
            .await
    }
}

/// Assert that `needle` appears in none of the strings.
#[track_caller]
pub fn assert_absent(needle: &str, texts: &[&str]) {
    for t in texts {
        assert!(
            !t.contains(needle),
            "secret `{needle}` leaked into output:\n{t}"
        );
    }
}

/// Assert that no canary leaks into an error's Display/Debug or the runtime's Debug.
#[track_caller]
pub fn assert_no_leak(canaries: &[&str], err: &ActionError, runtime: &InstanceRuntime) {
    let display = err.to_string();
    let debug = format!("{err:?}");
    let instance = format!("{:?}", runtime.instance);
    let rt = format!("{runtime:?}");
    for c in canaries {
        assert_absent(c, &[&display, &debug, &instance, &rt]);
    }
}

/// Header value of a received wiremock request, as a string.
pub fn header<'a>(req: &'a wiremock::Request, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}
