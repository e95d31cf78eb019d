//! Shared by the example tests: run a connector type through the runtime (registry, instance,
//! dispatcher) against a loopback server.

#![allow(dead_code)]

use std::sync::Arc;

use connector_runtime::{
    ActionError, CancellationToken, Connector, ConnectorInstance, Dispatcher, ExecuteOptions,
    InstanceRuntime, Registry,
};
use serde_json::Value;
use wiremock::MockServer;

/// A secret value that must never show up in an error's Display or Debug output.
pub const CANARY: &str = "canary-s3cr3t-5e2b71d0";

/// A wiremock server bound to 127.0.0.1 only.
pub async fn loopback() -> MockServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    MockServer::builder().listener(listener).start().await
}

/// A connector type registered in a registry, and one configured instance of it.
pub struct Harness {
    pub runtime: InstanceRuntime,
    pub dispatcher: Arc<Dispatcher>,
}

impl Harness {
    pub fn new(connector: Arc<dyn Connector>, config: Value, secrets: Value) -> Harness {
        let spec = Arc::clone(connector.spec());
        let mut registry = Registry::new();
        let dispatcher = registry
            .register(connector)
            .unwrap_or_else(|e| panic!("register: {e}"));
        let instance = ConnectorInstance::new(spec, config, secrets)
            .unwrap_or_else(|e| panic!("instance: {e}"));
        let runtime = InstanceRuntime::new(instance).unwrap_or_else(|e| panic!("runtime: {e}"));
        Harness {
            runtime,
            dispatcher,
        }
    }

    pub async fn exec(&self, action: &str, input: Value) -> Result<Value, ActionError> {
        let ctx = self.runtime.context("", CancellationToken::new());
        let r = self
            .dispatcher
            .execute(&ctx, action, input, ExecuteOptions::default())
            .await;
        if let Err(e) = &r {
            assert_no_canary(e);
        }
        r
    }

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
