//! Shared by the example tests: a loopback server and the canary secret check. The tests run
//! their connectors through the runtime's own short path (`XConnector::instance`,
//! `InstanceHandle`), as the docs show, with no harness of their own.

#![allow(dead_code)]

use connector_runtime::ActionError;
use wiremock::MockServer;

/// A secret value that must never show up in an error's Display or Debug output.
pub const CANARY: &str = "canary-s3cr3t-5e2b71d0";

/// A wiremock server bound to 127.0.0.1 only.
pub async fn loopback() -> MockServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    MockServer::builder().listener(listener).start().await
}

/// The canary secret appears in neither the Display nor the Debug form of an error.
pub fn assert_no_canary(e: &ActionError) {
    let shown = e.to_string();
    let debug = format!("{e:?}");
    assert!(!shown.contains(CANARY), "secret in Display: {shown}");
    assert!(!debug.contains(CANARY), "secret in Debug: {debug}");
}
