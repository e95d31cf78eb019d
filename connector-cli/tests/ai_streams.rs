//! The AI connectors' streams through the real binary: `connector run` prints, and the
//! server's SSE route sends, a Bedrock stream's and a Gemini stream's mapped events unchanged
//! and in order. The vendors are a loopback mock (axum, in the test process): Bedrock's
//! `InvokeModelWithResponseStream` answers AWS event-stream frames with real CRCs, Vertex's
//! token endpoint and `streamGenerateContent?alt=sse` answer SSE.

use std::net::SocketAddr;
use std::process::Command;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

mod support;
use support::{Serve, Server, workspace_root};

/// The AWS secret access key and the Vertex access token: canaries, never in any output.
const AWS_SECRET: &str = "CANARY-aws-secret-5b1e";
const GEM_TOKEN: &str = "CANARY-gem-token-77c2";
const AKID: &str = "AKIDCLISTREAMS";
const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

/// The Anthropic events of a Bedrock stream: a text block, a tool call, the stop reason.
fn anthropic_events() -> Vec<Value> {
    let delta = |i: u64, d: Value| json!({ "type": "content_block_delta", "index": i, "delta": d });
    vec![
        json!({ "type": "message_start", "message": { "id": "msg_c", "type": "message", "role": "assistant",
            "content": [], "usage": { "input_tokens": 7, "output_tokens": 1 } } }),
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        delta(0, json!({ "type": "text_delta", "text": "Hi" })),
        delta(0, json!({ "type": "text_delta", "text": " there" })),
        json!({ "type": "content_block_stop", "index": 0 }),
        json!({ "type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": "toolu_cli", "name": "lookup", "input": {} } }),
        delta(
            1,
            json!({ "type": "input_json_delta", "partial_json": "{\"q\": 1}" }),
        ),
        json!({ "type": "content_block_stop", "index": 1 }),
        json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use", "stop_sequence": null },
            "usage": { "output_tokens": 5 } }),
        json!({ "type": "message_stop" }),
    ]
}

/// A mapped Bedrock event: every field null but those of `set`.
fn bedrock_event(set: Value) -> Value {
    let mut v = json!({ "type": null, "index": null, "text": null,
        "toolUse": { "id": null, "name": null }, "partialJson": null, "stopReason": null,
        "usage": { "promptTokens": null, "completionTokens": null, "totalTokens": null } });
    for (k, x) in set.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// What `invokeStream` makes of `anthropic_events()`, event by event.
fn bedrock_expected() -> Vec<Value> {
    let at = |t: &str, i: u64| bedrock_event(json!({ "type": t, "index": i }));
    let text =
        |t: &str| bedrock_event(json!({ "type": "content_block_delta", "index": 0, "text": t }));
    vec![
        bedrock_event(json!({ "type": "message_start",
            "usage": { "promptTokens": 7, "completionTokens": null, "totalTokens": 7 } })),
        at("content_block_start", 0),
        text("Hi"),
        text(" there"),
        at("content_block_stop", 0),
        bedrock_event(json!({ "type": "content_block_start", "index": 1,
            "toolUse": { "id": "toolu_cli", "name": "lookup" } })),
        bedrock_event(
            json!({ "type": "content_block_delta", "index": 1, "partialJson": "{\"q\": 1}" }),
        ),
        at("content_block_stop", 1),
        bedrock_event(json!({ "type": "message_delta", "stopReason": "tool_use",
            "usage": { "promptTokens": null, "completionTokens": 5, "totalTokens": 5 } })),
        bedrock_event(json!({ "type": "message_stop" })),
    ]
}

/// One `chunk` frame per event, the event base64-encoded in `bytes`, as Bedrock sends it.
fn bedrock_body() -> Vec<u8> {
    let mut out = Vec::new();
    for e in anthropic_events() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(e.to_string());
        let payload = json!({ "bytes": b64, "p": "abcdefgh" }).to_string();
        let headers = [
            (":message-type", "event"),
            (":event-type", "chunk"),
            (":content-type", "application/json"),
        ]
        .iter()
        .map(|(n, v)| Header::new(n.to_string(), HeaderValue::String(v.to_string().into())))
        .collect();
        write_message_to(
            &Message::new_from_parts(headers, payload.into_bytes()),
            &mut out,
        )
        .unwrap();
    }
    out
}

/// Vertex's `GenerateContentResponse` chunks: text, a function call, text with the usage.
fn gemini_chunks() -> Vec<Value> {
    let parts = |p: Value| json!({ "content": { "role": "model", "parts": [p] } });
    let mut last = json!({ "candidates": [parts(json!({ "text": " there" }))],
        "usageMetadata": { "promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5 } });
    last["candidates"][0]["finishReason"] = json!("STOP");
    vec![
        json!({ "candidates": [parts(json!({ "text": "Hi" }))] }),
        json!({ "candidates": [parts(json!({ "functionCall": { "name": "lookup", "args": { "q": 1 } } }))] }),
        last,
    ]
}

fn gemini_expected() -> Vec<Value> {
    let none = json!({ "promptTokens": null, "completionTokens": null, "totalTokens": null });
    vec![
        json!({ "text": "Hi", "functionCalls": [], "finishReason": null, "usage": none }),
        json!({ "text": null, "functionCalls": [{ "name": "lookup", "args": { "q": 1 } }],
            "finishReason": null, "usage": none }),
        json!({ "text": " there", "functionCalls": [], "finishReason": "STOP",
            "usage": { "promptTokens": 3, "completionTokens": 2, "totalTokens": 5 } }),
    ]
}

/// The mock vendors, on one loopback port.
async fn vendors(uri: Uri, headers: HeaderMap, _body: Bytes) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let path = uri.path();
    if path == "/token" {
        return axum::Json(
            json!({ "access_token": GEM_TOKEN, "expires_in": 3599, "token_type": "Bearer" }),
        )
        .into_response();
    }
    if path.starts_with("/model/") && path.ends_with("/invoke-with-response-stream") {
        if !auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={AKID}/")) {
            return (StatusCode::FORBIDDEN, "unsigned").into_response();
        }
        let ct = [(header::CONTENT_TYPE, "application/vnd.amazon.eventstream")];
        return (ct, bedrock_body()).into_response();
    }
    if path.ends_with(":streamGenerateContent") && uri.query() == Some("alt=sse") {
        if auth != format!("Bearer {GEM_TOKEN}") {
            return (StatusCode::UNAUTHORIZED, "bad token").into_response();
        }
        let body: String = gemini_chunks()
            .iter()
            .map(|c| format!("data: {c}\r\n\r\n"))
            .collect();
        return ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response();
    }
    (StatusCode::NOT_FOUND, "no such route").into_response()
}

async fn start_vendors() -> SocketAddr {
    let app = Router::new().fallback(vendors);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A service-account key made for this test, its `token_uri` on the mock.
fn service_account_key(mock: SocketAddr) -> String {
    let kp = KeyPair::generate(KeySize::Rsa2048).expect("key generation");
    let der = kp.as_der().expect("pkcs8");
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    json!({ "type": "service_account", "project_id": "cli-project", "private_key_id": "k1",
        "private_key": pem, "client_email": "cli@cli-project.iam.gserviceaccount.com",
        "token_uri": format!("http://{mock}/token") })
    .to_string()
}

/// One AI connector's instance: its spec, action, config, secrets, input and what it streams.
struct Case {
    spec: &'static str,
    connector_type: &'static str,
    action: &'static str,
    config: Value,
    secrets: Value,
    input: Value,
    expected: Vec<Value>,
    /// The event name every event carries.
    event: &'static str,
}

fn cases(mock: SocketAddr) -> Vec<Case> {
    vec![
        Case {
            spec: "bedrock.yaml",
            connector_type: ".bedrock",
            action: "invokeStream",
            config: json!({ "apiUrl": format!("http://{mock}"), "region": "eu-west-1", "defaultModel": MODEL }),
            secrets: json!({ "accessKeyId": AKID, "secretAccessKey": AWS_SECRET }),
            input: json!({ "messages": [{ "role": "user", "content": "hi" }] }),
            expected: bedrock_expected(),
            event: "chunk",
        },
        Case {
            spec: "gemini.yaml",
            connector_type: ".gemini",
            action: "stream",
            config: json!({ "apiUrl": format!("http://{mock}"), "region": "us-central1",
                "projectId": "cli-project", "defaultModel": "gemini-2.5-pro" }),
            secrets: json!({ "serviceAccountKey": service_account_key(mock) }),
            input: json!({ "contents": [{ "role": "user", "parts": [{ "text": "hi" }] }] }),
            expected: gemini_expected(),
            event: "message",
        },
    ]
}

fn assert_no_secret(what: &str, text: &str) {
    for canary in [AWS_SECRET, GEM_TOKEN, "BEGIN PRIVATE KEY"] {
        assert!(!text.contains(canary), "{what} shows a secret: {text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn connector_run_prints_each_ai_stream_event_unchanged() {
    let mock = start_vendors().await;
    for case in cases(mock) {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, v: &Value| {
            let p = dir.path().join(name);
            std::fs::write(&p, v.to_string()).unwrap();
            p
        };
        let (config, secrets) = (
            write("c.json", &case.config),
            write("s.json", &case.secrets),
        );
        let spec = workspace_root().join("specs").join(case.spec);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_connector"));
        cmd.arg("run")
            .arg(&spec)
            .arg(case.action)
            .arg("--config")
            .arg(&config)
            .arg("--secrets")
            .arg(&secrets)
            .args(["--input", &case.input.to_string(), "--output", "ndjson"])
            .env_remove("RUST_LOG");
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert_eq!(out.status.code(), Some(0), "{}: {stderr}", case.spec);
        let lines: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let expected: Vec<Value> = case
            .expected
            .iter()
            .map(|d| json!({ "event": case.event, "data": d }))
            .collect();
        assert_eq!(
            lines, expected,
            "{}: one line per event, in order",
            case.spec
        );
        assert_no_secret(case.spec, &format!("{stdout}{stderr}"));
    }
}

/// `(event, data)` pairs of a `text/event-stream` body.
fn parse_sse(body: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for block in body.split("\n\n") {
        let mut event = "message".to_string();
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push(d.strip_prefix(' ').unwrap_or(d));
            }
        }
        if !data.is_empty() {
            out.push((event, serde_json::from_str(&data.join("\n")).unwrap()));
        }
    }
    out
}

/// Create the instance of `case` as `admin`. The Gemini instance keeps its default `scope`
/// (`https://www.googleapis.com/auth/cloud-platform`): the save-time check must not take that
/// identifier for an address to call (it cannot resolve here).
async fn create_instance(server: &Server, admin: &str, id: &str, case: &Case) {
    let config = case.config.clone();
    let instance = json!({ "id": id, "connectorType": case.connector_type, "name": id,
        "config": config, "secrets": case.secrets });
    let r = reqwest::Client::new()
        .post(format!("{}/api/instances", server.base))
        .bearer_auth(admin)
        .json(&instance)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_no_secret("the created instance", &body);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sse_route_sends_each_ai_stream_event_unchanged() {
    let mock = start_vendors().await;
    let specs = workspace_root().join("specs");
    let server = Serve::new()
        .copy_spec(specs.join("bedrock.yaml"))
        .copy_spec(specs.join("gemini.yaml"))
        .args(&["--allow-loopback"])
        .rust_log("debug")
        .start()
        .await;
    let admin = server.add_user("admin", true);
    let user = server.add_user("streamer", false);
    for (n, case) in cases(mock).iter().enumerate() {
        let id = format!("ai-{n}");
        create_instance(&server, &admin, &id, case).await;
        let r = reqwest::Client::new()
            .post(server.url(&format!("/api/instances/{id}/actions/{}", case.action)))
            .bearer_auth(&user)
            .json(&case.input)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", case.spec);
        let ct = r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        let body = r.text().await.unwrap();
        let mut expected: Vec<(String, Value)> = case
            .expected
            .iter()
            .map(|d| (case.event.to_string(), d.clone()))
            .collect();
        expected.push(("end".to_string(), json!({})));
        assert_eq!(parse_sse(&body), expected, "{}: {body}", case.spec);
        assert_no_secret(case.spec, &body);
    }
    assert_no_secret("the server log", &server.log_text());
}
