//! `.server-log-rs`, a pure-code `#[connector]`: spec derived from the Rust types, an instance
//! made from the typed config (`ServerLogConnector::instance`), typed input and output, config
//! and secrets read into the struct, a loopback collector.

mod support;

use connector_examples::server_log::{Level, LogInput, LogOutput, ServerLog, ServerLogConnector};
use connector_runtime::compiled::{ConnectorConfig, Secret};
use connector_runtime::{Caller, CancellationToken, Credentials, ErrorClass, InstanceHandle};
use connector_spec::Implementation;
use serde_json::json;
use support::{CANARY, assert_no_canary, loopback};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

/// An instance from the typed config; `.server-log-rs` takes auth type `none`.
fn log(config: ServerLog) -> InstanceHandle {
    ServerLogConnector::instance(&config, Credentials::none()).expect("instance")
}

/// A config that forwards to `url` with the canary token.
fn forwarding(url: String) -> ServerLog {
    ServerLog {
        prefix: None,
        collector_url: Some(url),
        collector_token: Some(Secret::new(CANARY)),
    }
}

fn input(message: &str) -> LogInput {
    LogInput {
        message: message.into(),
        level: None,
    }
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
    let log = log(ServerLog {
        prefix: Some("[alerts]".into()),
        ..ServerLog::default()
    });
    let input = LogInput {
        message: "disk full".into(),
        level: Some(Level::Warn),
    };
    let out: LogOutput = log.call("execute", &input).await.expect("execute");
    assert_eq!(
        out,
        LogOutput {
            line: "[alerts] disk full".into(),
            forwarded: false
        }
    );
}

#[tokio::test]
async fn input_is_validated_against_the_derived_schema() {
    let h = log(ServerLog::default());
    let e = h
        .execute("execute", json!({"message": ""}))
        .await
        .unwrap_err();
    assert_eq!(
        (e.class, e.code),
        (ErrorClass::User, "invalid_input"),
        "{e}"
    );
    let e = h
        .execute("execute", json!({"message": "x", "level": "loud"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "invalid_input", "{e}");
    let e = h.execute("nope", json!({})).await.unwrap_err();
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
    let h = log(forwarding(format!("{}/lines", server.uri())));
    let out: LogOutput = h.call("execute", &input("hello")).await.expect("execute");
    assert!(out.forwarded);
    assert_eq!(out.line, "hello");
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
    let h = log(forwarding(server.uri()));
    let e = h
        .call::<LogOutput>("execute", &input("x"))
        .await
        .unwrap_err();
    assert_no_canary(&e);
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
    let h = log(ServerLog {
        collector_url: Some(server.uri()),
        ..ServerLog::default()
    });
    assert_eq!(h.test().await.unwrap(), json!({"collector": "reachable"}));
}

#[tokio::test]
async fn config_is_read_into_the_struct_with_typed_errors() {
    let h = log(ServerLog::default());
    let ctx = h.context(&Caller::Shared, CancellationToken::new());
    let s = ServerLog::from_context(&ctx).expect("all fields optional");
    assert_eq!(s.prefix, None);
    assert!(format!("{:?}", s.collector_token).contains("None"));
    // The secret reaches the struct from the typed config, and its Debug form hides it.
    let h = log(forwarding("https://logs.example".into()));
    let ctx = h.context(&Caller::Shared, CancellationToken::new());
    let s = ServerLog::from_context(&ctx).unwrap();
    assert!(!format!("{:?}", s.collector_token).contains(CANARY));
    assert_eq!(s.collector_token.unwrap().expose(), CANARY);
}

#[test]
fn the_typed_config_becomes_the_instances_config_and_secrets() {
    let (config, secrets) = forwarding("https://logs.example".into())
        .to_parts()
        .unwrap();
    assert_eq!(
        serde_json::Value::Object(config),
        json!({"collectorUrl": "https://logs.example"})
    );
    assert_eq!(
        serde_json::Value::Object(secrets),
        json!({"collectorToken": CANARY})
    );
}

#[test]
fn credentials_of_an_auth_type_the_connector_does_not_accept_are_refused() {
    let e = ServerLogConnector::instance(&ServerLog::default(), Credentials::bearer(CANARY))
        .err()
        .expect("bearer is not accepted");
    assert_eq!(e.code, "invalid_config", "{e}");
    assert!(e.message.contains("it accepts: none"), "{e}");
    assert_no_canary(&e);
}
