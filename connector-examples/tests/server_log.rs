//! `.server-log-rs`, a pure-code `#[connector]`: spec derived from the Rust types, typed
//! dispatch through the runtime, config and secrets read into the struct, a loopback collector.

mod support;

use std::sync::Arc;

use connector_examples::server_log::{ServerLog, ServerLogConnector};
use connector_runtime::ErrorClass;
use connector_runtime::compiled::ConnectorConfig;
use connector_spec::Implementation;
use serde_json::json;
use support::{CANARY, Harness, loopback};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

fn harness(config: serde_json::Value, secrets: serde_json::Value) -> Harness {
    let c = ServerLogConnector::new().expect("spec builds");
    Harness::new(Arc::new(c), config, secrets)
}

#[test]
fn spec_comes_from_the_attributes_doc_comments_and_types() {
    let spec = ServerLogConnector::spec_model().expect("spec");
    assert_eq!(spec.id, ".server-log-rs");
    assert_eq!(spec.display_name, "Server log (Rust)");
    assert_eq!(spec.minimum_license.as_str(), "basic");
    assert_eq!(spec.supported_feature_ids, ["alerting", "workflows"]);
    let execute = &spec.actions["execute"];
    assert_eq!(execute.description, "Write a message to the server log.");
    assert!(execute.is_tool);
    assert_eq!(execute.scope.as_str(), "write");
    assert!(matches!(
        execute.implementation,
        Implementation::Code { .. }
    ));
    assert_eq!(execute.input["properties"]["message"]["maxLength"], 10000);
    assert_eq!(execute.input["required"], json!(["message"]));
    assert_eq!(
        execute.input["properties"]["level"]["enum"],
        json!(["debug", "info", "warn", "error", null])
    );
    assert_eq!(
        execute.output.as_ref().unwrap()["required"],
        json!(["line", "forwarded"])
    );
    // Config: camelCase keys, doc comments as descriptions, `#[field]` hints as `x-ui`.
    let url = &spec.config["properties"]["collectorUrl"];
    assert_eq!(
        url["description"],
        "Where lines are also sent, as `{\"line\": ...}` JSON."
    );
    assert_eq!(
        url["x-ui"],
        json!({"label": "Collector URL", "widget": "url", "order": 2, "section": "Forwarding"})
    );
    assert_eq!(spec.config["additionalProperties"], false);
    // The secret field lives in the secrets schema, not in config.
    assert!(spec.config["properties"].get("collectorToken").is_none());
    assert_eq!(
        spec.secrets["properties"]["collectorToken"]["x-ui"]["helpText"],
        "Sent as `Authorization: Bearer`."
    );
    assert!(spec.test.as_ref().is_some_and(|t| t.handler.is_some()));
}

#[test]
fn spec_document_passes_the_yaml_loader_unchanged() {
    // The same checks a YAML spec gets (x-ui hints, schemas, ids) accept the derived model.
    let doc = serde_json::Value::Object(ServerLogConnector::spec_document());
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let loaded = connector_spec::load_str("server_log_rs.json", &text, &Default::default());
    assert!(!loaded.has_errors(), "{}", loaded.render(false));
    assert_eq!(
        loaded.spec.unwrap(),
        ServerLogConnector::spec_model().unwrap()
    );
}

#[tokio::test]
async fn execute_logs_and_returns_the_typed_output() {
    let h = harness(json!({"prefix": "[alerts]"}), json!({}));
    let out = h
        .exec("execute", json!({"message": "disk full", "level": "warn"}))
        .await
        .expect("execute");
    assert_eq!(
        out,
        json!({"line": "[alerts] disk full", "forwarded": false})
    );
}

#[tokio::test]
async fn input_is_validated_against_the_derived_schema() {
    let h = harness(json!({}), json!({}));
    let e = h.exec("execute", json!({"message": ""})).await.unwrap_err();
    assert_eq!(
        (e.class, e.code),
        (ErrorClass::User, "invalid_input"),
        "{e}"
    );
    let e = h
        .exec("execute", json!({"message": "x", "level": "loud"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "invalid_input", "{e}");
    let e = h.exec("nope", json!({})).await.unwrap_err();
    assert_eq!(e.code, "unknown_action");
    assert!(e.message.contains("available: execute"), "{e}");
}

#[tokio::test]
async fn forwards_to_a_loopback_collector_with_the_secret_token() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .and(path("/lines"))
        .and(header("authorization", format!("Bearer {CANARY}").as_str()))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let h = harness(
        json!({"collectorUrl": format!("{}/lines", server.uri())}),
        json!({"collectorToken": CANARY}),
    );
    let out = h
        .exec("execute", json!({"message": "hello"}))
        .await
        .expect("execute");
    assert_eq!(out, json!({"line": "hello", "forwarded": true}));
    let req = &server.received_requests().await.unwrap()[0];
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body, json!({"line": "hello", "level": "info"}));
}

#[tokio::test]
async fn collector_errors_are_classified_and_never_show_the_secret() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_string(format!("bad token {CANARY}")))
        .mount(&server)
        .await;
    let h = harness(
        json!({"collectorUrl": server.uri()}),
        json!({"collectorToken": CANARY}),
    );
    let e = h
        .exec("execute", json!({"message": "x"}))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Auth, "{e}");
    assert_eq!(e.status, Some(401));
}

#[tokio::test]
async fn the_test_method_is_the_connection_check() {
    let server = loopback().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let h = harness(json!({"collectorUrl": server.uri()}), json!({}));
    assert_eq!(h.test().await.unwrap(), json!({"collector": "reachable"}));
}

#[tokio::test]
async fn config_is_read_into_the_struct_with_typed_errors() {
    let h = harness(json!({}), json!({}));
    let ctx = h
        .runtime
        .context("", connector_runtime::CancellationToken::new());
    let s = ServerLog::from_context(&ctx).expect("all fields optional");
    assert_eq!(s.prefix, None);
    assert!(format!("{:?}", s.collector_token).contains("None"));
    // A secret of the wrong type names the field, not the value.
    let h = harness(json!({}), json!({"collectorToken": CANARY}));
    let ctx = h
        .runtime
        .context("", connector_runtime::CancellationToken::new());
    let s = ServerLog::from_context(&ctx).unwrap();
    assert!(!format!("{:?}", s.collector_token).contains(CANARY));
}
