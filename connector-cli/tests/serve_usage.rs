//! `connector serve` records token usage in its store: model calls and a stream through the
//! API add up per instance and model, `getDashboard` (`handler: usage`) reports them, they
//! survive a restart, `/metrics` counts them, and deleting the instance deletes its usage.
//! The real binary runs on 127.0.0.1 against a loopback model API (axum, in the test process).

use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};

mod support;
use support::{Serve, Server, call_text};

/// The upstream key; a canary: it must not reach any response, the metrics or the log.
const TOKEN: &str = "CANARY-model-key-77ab2c";

const SPEC: &str = r#"id: .usage-test
displayName: Usage test
description: A model API whose calls report token usage.
minimumLicense: basic
baseUrl: "{{ config.base }}"
auth:
  types: [bearer]
config:
  type: object
  additionalProperties: false
  properties:
    base: { type: string, maxLength: 2048 }
    defaultModel: { type: string, maxLength: 64, default: model-a }
actions:
  chat:
    description: One completion.
    scope: write
    input:
      type: object
      additionalProperties: false
      properties:
        model: { type: string, maxLength: 64 }
    request:
      method: POST
      path: /chat
      body:
        json:
          model: "{{ input.model | default(config.defaultModel) }}"
    response:
      output:
        text: $.text
        usage: { promptTokens: $.usage.prompt_tokens, completionTokens: $.usage.completion_tokens }
    usage: &usage
      model: "{{ input.model | default(config.defaultModel) }}"
      promptTokens: $.usage.promptTokens
      completionTokens: $.usage.completionTokens
  stream:
    description: A streamed completion; the last chunk carries the usage.
    scope: write
    input:
      type: object
      additionalProperties: false
      properties:
        model: { type: string, maxLength: 64 }
    request:
      method: POST
      path: /stream
    supportsStreaming: true
    streaming: { format: sse, doneMarker: "[DONE]" }
    response:
      output:
        text: $.text
        usage: { promptTokens: $.usage.prompt_tokens, completionTokens: $.usage.completion_tokens }
    usage: *usage
  getDashboard:
    description: Token usage of this instance per model and day.
    scope: read
    handler: usage
"#;

async fn chat(Json(body): Json<Value>) -> Json<Value> {
    let prompt = if body["model"] == "model-b" { 1000 } else { 30 };
    Json(json!({"text": "ok", "usage": {"prompt_tokens": prompt, "completion_tokens": 7}}))
}

async fn stream() -> impl IntoResponse {
    let body = [
        json!({"text": "he"}),
        json!({"text": "llo", "usage": {"prompt_tokens": 11, "completion_tokens": 2}}),
    ]
    .iter()
    .map(|e| format!("data: {e}\n\n"))
    .collect::<String>()
        + "data: [DONE]\n\n";
    ([(header::CONTENT_TYPE, "text/event-stream")], body)
}

async fn start_mock() -> SocketAddr {
    let app = Router::new()
        .route("/chat", post(chat))
        .route("/stream", post(stream));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Create the instance `llm` on the mock API as `admin`.
async fn create_llm(server: &Server, admin: &str, mock: SocketAddr) {
    let instance = json!({
        "id": "llm",
        "connectorType": ".usage-test",
        "name": "LLM",
        "config": { "authType": "bearer", "base": format!("http://{mock}") },
        "secrets": { "token": TOKEN },
    });
    let post = reqwest::Method::POST;
    let (status, body) =
        call_text(&server.base, admin, post, "/api/instances", Some(instance)).await;
    assert_eq!(status, 201, "{body}");
}

async fn run(server: &Server, key: &str, action: &str, input: Value) -> String {
    let path = format!("/api/instances/llm/actions/{action}");
    let (status, body) =
        call_text(&server.base, key, reqwest::Method::POST, &path, Some(input)).await;
    assert_eq!(status, 200, "{action}: {body}");
    assert!(!body.contains(TOKEN), "{body}");
    body
}

async fn dashboard(server: &Server, key: &str) -> Value {
    let body = run(server, key, "getDashboard", json!({})).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    v.get("output").cloned().unwrap_or(v)
}

#[tokio::test(flavor = "multi_thread")]
async fn model_calls_through_the_server_are_recorded_in_its_store_and_reported() {
    let mock = start_mock().await;
    let mut server = Serve::new()
        .spec("usage.yaml", SPEC)
        .args(&["--allow-loopback"])
        .start()
        .await;
    let admin = server.add_user("admin", true);
    create_llm(&server, &admin, mock).await;

    run(&server, &admin, "chat", json!({})).await;
    run(&server, &admin, "chat", json!({})).await;
    run(&server, &admin, "chat", json!({"model": "model-b"})).await;
    let streamed = run(&server, &admin, "stream", json!({})).await;
    assert!(
        streamed.contains("hello") || streamed.contains("llo"),
        "{streamed}"
    );

    let expected_models = json!([
        {"model": "model-a", "calls": 3, "promptTokens": 71, "completionTokens": 16, "totalTokens": 87},
        {"model": "model-b", "calls": 1, "promptTokens": 1000, "completionTokens": 7, "totalTokens": 1007},
    ]);
    let d = dashboard(&server, &admin).await;
    assert_eq!(d["models"], expected_models, "{d}");
    assert_eq!(d["totals"]["calls"], 4);

    let (status, metrics) =
        call_text(&server.base, &admin, reqwest::Method::GET, "/metrics", None).await;
    assert_eq!(status, 200, "{metrics}");
    let line = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{metrics}"))
            .to_string()
    };
    assert!(line("connector_model_calls_total{connector_type=\".usage-test\"}").ends_with(" 4"));
    assert!(
        line("connector_model_tokens_total{connector_type=\".usage-test\",kind=\"prompt\"}")
            .ends_with(" 1071")
    );
    assert!(!metrics.contains(TOKEN));

    // The totals are the store's: a restarted server reports the same.
    server.kill_and_restart().await;
    assert_eq!(dashboard(&server, &admin).await["models"], expected_models);

    // Deleting the instance deletes its usage: a new one of the same id starts at zero.
    let delete = reqwest::Method::DELETE;
    let (status, body) = call_text(&server.base, &admin, delete, "/api/instances/llm", None).await;
    assert!(status == 200 || status == 204, "{status} {body}");
    create_llm(&server, &admin, mock).await;
    assert_eq!(dashboard(&server, &admin).await["totals"]["calls"], 0);
    assert!(!server.log_text().contains(TOKEN));
}
