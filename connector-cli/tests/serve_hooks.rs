//! `connector serve` end to end: instance create and delete over the HTTP API run the spec's
//! declarative lifecycle hooks. The real binary serves the bundled `.inference` spec against a
//! loopback mock of Elasticsearch's `_inference` API (axum, in the test process): a create
//! runs `preSave` (the mock sees the `PUT` with its body), a refused `PUT` refuses the create
//! and stores nothing, and a delete runs `postDelete` (the mock sees the `DELETE`).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use serde_json::{Value, json};

mod support;
use support::{Serve, call_text, workspace_root};

/// The Elasticsearch API key and the provider's key: canaries for responses and logs.
const ES_KEY: &str = "CANARY-es-api-key-41c2";
const PROVIDER_KEY: &str = "CANARY-provider-key-9b7e";

/// What the mock received: method, path, `Authorization`, body.
type Seen = Arc<Mutex<Vec<(String, String, String, Value)>>>;

async fn endpoint(
    State(seen): State<Seen>,
    method: Method,
    Path((task, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let parsed = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.lock().unwrap().push((
        method.to_string(),
        format!("/_inference/{task}/{id}"),
        auth,
        parsed,
    ));
    if id == "refused" {
        let reason = format!("Unknown model [nope]; key [{PROVIDER_KEY}] not accepted");
        let body =
            json!({ "error": { "type": "status_exception", "reason": reason }, "status": 400 });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    axum::Json(json!({ "inference_id": id, "task_type": task, "acknowledged": true }))
        .into_response()
}

async fn mock_es() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/_inference/{task}/{id}", put(endpoint).delete(endpoint))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn instance(id: &str, es: &str) -> Value {
    json!({
        "id": id,
        "connectorType": ".inference",
        "name": "AI connector",
        "config": {
            "elasticsearchUrl": es, "provider": "openai", "taskType": "completion",
            "inferenceId": id, "providerConfig": { "model_id": "gpt-4o" }
        },
        "secrets": { "apiKey": ES_KEY, "providerApiKey": PROVIDER_KEY }
    })
}

#[tokio::test]
async fn instance_create_and_delete_over_the_api_run_the_declarative_hooks() {
    let (es, seen) = mock_es().await;
    let server = Serve::new()
        .copy_spec(workspace_root().join("specs/inference.yaml"))
        .args(&["--allow-loopback"])
        .rust_log("trace")
        .start()
        .await;
    let key = server.add_user("admin", true);
    let post = reqwest::Method::POST;

    // A create runs preSave: the endpoint is created with the provider key, then stored.
    let (st, body) = call_text(
        &server.base,
        &key,
        post.clone(),
        "/api/instances",
        Some(instance("chat", &es)),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        let (m, p, auth, b) = &seen[0];
        assert_eq!(
            (m.as_str(), p.as_str()),
            ("PUT", "/_inference/completion/chat")
        );
        assert_eq!(auth, &format!("ApiKey {ES_KEY}"));
        assert_eq!(
            b,
            &json!({ "service": "openai",
                     "service_settings": { "model_id": "gpt-4o", "api_key": PROVIDER_KEY },
                     "task_settings": {} })
        );
    }
    let (st, _) = call_text(
        &server.base,
        &key,
        reqwest::Method::GET,
        "/api/instances/chat",
        None,
    )
    .await;
    assert_eq!(st, 200, "the created instance is stored");

    // A refused PUT refuses the create with Elasticsearch's reason; nothing is stored.
    let (st, refused) = call_text(
        &server.base,
        &key,
        post,
        "/api/instances",
        Some(instance("refused", &es)),
    )
    .await;
    assert_eq!(st, 400, "{refused}");
    let v: Value = serde_json::from_str(&refused).unwrap();
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("preSave hook failed: "), "{refused}");
    assert!(message.contains("Unknown model [nope]"), "{refused}");
    let (st, _) = call_text(
        &server.base,
        &key,
        reqwest::Method::GET,
        "/api/instances/refused",
        None,
    )
    .await;
    assert_eq!(st, 404, "a refused create stores nothing");

    // A delete removes the instance and runs postDelete.
    let (st, body) = call_text(
        &server.base,
        &key,
        reqwest::Method::DELETE,
        "/api/instances/chat",
        None,
    )
    .await;
    assert_eq!(st, 204, "{body}");
    {
        let seen = seen.lock().unwrap();
        let (m, p, auth, _) = seen.last().unwrap();
        assert_eq!(
            (m.as_str(), p.as_str()),
            ("DELETE", "/_inference/completion/chat")
        );
        assert_eq!(auth, &format!("ApiKey {ES_KEY}"));
        assert_eq!(
            seen.len(),
            3,
            "PUT chat, PUT refused, DELETE chat: {seen:?}"
        );
    }
    let (st, _) = call_text(
        &server.base,
        &key,
        reqwest::Method::GET,
        "/api/instances/chat",
        None,
    )
    .await;
    assert_eq!(st, 404);

    for shown in [refused, server.log_text()] {
        assert!(!shown.contains(ES_KEY), "Elasticsearch key shown");
        assert!(!shown.contains(PROVIDER_KEY), "provider key shown");
    }
}
