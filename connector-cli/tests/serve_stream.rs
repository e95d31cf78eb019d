//! `connector serve` end to end, part two: a streaming action answered over SSE, graceful
//! shutdown finishing an in-flight action, the connection-test route and `connector users list`.
//! The real binary runs on 127.0.0.1 against a loopback mock API (axum, in the test process).

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

mod support;
use support::{Serve, Server, bin, run_ok};

/// The upstream bearer token; a canary: it must not reach any response, stream or log line.
const TOKEN: &str = "CANARY-upstream-token-93d1";

const SPEC: &str = r#"id: .stream-test
displayName: Stream test
description: A shared bearer-token connector with a streaming action and a slow action.
minimumLicense: basic
baseUrl: "{{ config.base }}"
auth:
  types: [bearer]
config:
  type: object
  additionalProperties: false
  properties:
    base: { type: string, maxLength: 2048 }
actions:
  events:
    description: Stream events from the API.
    scope: read
    request:
      method: GET
      path: /events
    supportsStreaming: true
    streaming: { format: sse, doneMarker: "[DONE]" }
  lines:
    description: Stream NDJSON lines from the API.
    scope: read
    request:
      method: GET
      path: /lines
    supportsStreaming: true
    streaming: { format: ndjson }
  items:
    description: A listing cut at three records.
    scope: read
    request:
      method: GET
      path: /items
    pagination: { style: cursor, cursorParam: cursor, cursorPath: $.next, records: $.items, maxRecords: 3 }
  slow:
    description: An answer the API takes its time over.
    scope: read
    request:
      method: GET
      path: /slow
test:
  request:
    method: GET
    path: /me
"#;

// ---------------------------------------------------------------- mock API

#[derive(Default)]
struct Mock {
    /// Told when a `/slow` request has arrived.
    slow_arrived: Notify,
    /// The `/slow` reply waits for this.
    slow_release: Mutex<Option<oneshot::Receiver<()>>>,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

fn authorized(headers: &HeaderMap) -> bool {
    bearer(headers) == Some(format!("Bearer {TOKEN}").as_str())
}

/// Three events, the second echoing the credential it was sent (the runtime must redact it),
/// then the done marker and an event after it that must not be delivered.
async fn events(headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, "bad token").into_response();
    }
    let echo = serde_json::to_string(bearer(&headers).unwrap_or_default()).unwrap();
    let body = format!(
        "data: {{\"n\":1}}\n\nevent: delta\ndata: {{\"n\":2,\"echo\":{echo}}}\n\ndata: {{\"n\":3}}\n\ndata: [DONE]\n\ndata: {{\"n\":4}}\n\n"
    );
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

/// Two NDJSON lines.
async fn lines(headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, "bad token").into_response();
    }
    let body = "{\"id\":7,\"status\":\"done\"}\n{\"id\":8,\"status\":\"queued\"}\n";
    ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}

/// Pages of two records, for ever: `cursor=N` answers records 2N and 2N+1.
async fn items(
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, "bad token").into_response();
    }
    let n: u64 = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    axum::Json(json!({ "items": [2 * n, 2 * n + 1], "next": (n + 1).to_string() })).into_response()
}

async fn slow(State(m): State<Arc<Mock>>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, "bad token").into_response();
    }
    let release = m.slow_release.lock().unwrap().take();
    m.slow_arrived.notify_one();
    if let Some(r) = release {
        let _ = r.await;
    }
    axum::Json(json!({ "finished": true })).into_response()
}

async fn me(headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": "invalid_token" })),
        )
            .into_response();
    }
    axum::Json(json!({ "user": "service-account" })).into_response()
}

async fn start_mock(m: Arc<Mock>) -> SocketAddr {
    let app = Router::new()
        .route("/events", get(events))
        .route("/slow", get(slow))
        .route("/lines", get(lines))
        .route("/items", get(items))
        .route("/me", get(me))
        .with_state(m);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

// ---------------------------------------------------------------- the server under test

impl Server {
    async fn start() -> Server {
        Serve::new()
            .spec("stream.yaml", SPEC)
            .args(&["--allow-loopback"])
            .rust_log("debug")
            .start()
            .await
    }

    /// Create a shared bearer instance as `admin`.
    async fn create_instance(&self, admin: &str, id: &str, mock: SocketAddr, token: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}/api/instances", self.base))
            .bearer_auth(admin)
            .json(&json!({
                "id": id,
                "connectorType": ".stream-test",
                "name": "Stream test",
                "config": { "authType": "bearer", "base": format!("http://{mock}") },
                "secrets": { "token": token },
            }))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_eq!(status, 201, "{body}");
        assert!(!body.contains(token), "{body}");
    }
}

/// A server with the shared instance `feed` on the mock API: the server and the key of the
/// non-admin user `reader`.
async fn feed_server() -> (Server, String) {
    let mock = start_mock(Arc::default()).await;
    let server = Server::start().await;
    let admin = server.add_user("admin", true);
    let user = server.add_user("reader", false);
    server.create_instance(&admin, "feed", mock, TOKEN).await;
    (server, user)
}

/// Run an action (`action[?query]`) of the instance `feed` as `user`, with `{}` as input.
async fn run_feed(server: &Server, user: &str, action: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url(&format!("/api/instances/feed/actions/{action}")))
        .bearer_auth(user)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
}

/// `(event, data)` pairs of a `text/event-stream` body (comments and keep-alives skipped).
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

#[tokio::test(flavor = "multi_thread")]
async fn a_streaming_action_answers_over_sse_in_order_without_secrets() {
    let (server, user) = feed_server().await;

    let r = run_feed(&server, &user, "events").await;
    assert_eq!(r.status(), 200);
    let ct = r.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    let body = r.text().await.unwrap();
    let events = parse_sse(&body);
    assert_eq!(
        events,
        vec![
            ("message".to_string(), json!({"n": 1})),
            ("delta".to_string(), json!({"n": 2, "echo": "[REDACTED]"})),
            ("message".to_string(), json!({"n": 3})),
            ("end".to_string(), json!({})),
        ],
        "{body}"
    );
    assert!(!body.contains(TOKEN), "{body}");
    assert!(!server.log_text().contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn ndjson_events_are_named_line_and_a_cut_listing_says_truncated() {
    let (server, user) = feed_server().await;

    let r = run_feed(&server, &user, "lines").await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert_eq!(
        parse_sse(&body),
        vec![
            ("line".to_string(), json!({"id": 7, "status": "done"})),
            ("line".to_string(), json!({"id": 8, "status": "queued"})),
            ("end".to_string(), json!({})),
        ],
        "{body}"
    );

    let r = run_feed(&server, &user, "items?allPages=true").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["output"], json!([0, 1, 2]), "{v}");
    assert_eq!(v["truncated"]["limit"], "maxRecords", "{v}");
    assert_eq!(v["truncated"]["value"], 3, "{v}");
    assert_eq!(
        v["truncated"]["message"],
        "listing stopped at maxRecords (3); more records exist"
    );
    // The first page alone is what was asked for: not truncated.
    let r = run_feed(&server, &user, "items").await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["output"], json!([0, 1]), "{v}");
    assert!(v.get("truncated").is_none(), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_an_in_flight_action_finish_then_exits_0() {
    let m = Arc::new(Mock::default());
    let (release, gate) = oneshot::channel();
    *m.slow_release.lock().unwrap() = Some(gate);
    let mock = start_mock(Arc::clone(&m)).await;
    let mut server = Server::start().await;
    let admin = server.add_user("admin", true);
    let user = server.add_user("runner", false);
    server
        .create_instance(&admin, "slowpoke", mock, TOKEN)
        .await;

    let url = format!("{}/api/instances/slowpoke/actions/slow", server.base);
    let call = tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(url)
            .bearer_auth(&user)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    // The action is at the API, waiting for its answer.
    m.slow_arrived.notified().await;
    server.sigterm();
    // The server has taken the signal (it says so) while the action is still in flight.
    let mut seen = false;
    for _ in 0..600 {
        if server
            .log_text()
            .contains("shutting down: finishing in-flight requests")
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen, "no shutdown line; log:\n{}", server.log_text());
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server must wait for the in-flight action"
    );
    release.send(()).unwrap();

    let (status, body) = call.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"output": {"finished": true}})
    );
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "exit status {exit:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_connection_test_route_reports_a_good_and_a_refused_credential() {
    let mock = start_mock(Arc::default()).await;
    let server = Server::start().await;
    let admin = server.add_user("admin", true);
    let user = server.add_user("checker", false);
    server.create_instance(&admin, "good", mock, TOKEN).await;
    let wrong = "CANARY-wrong-token-0c77";
    server.create_instance(&admin, "bad", mock, wrong).await;
    let c = reqwest::Client::new();
    let test = |id: &str| {
        c.post(format!("{}/api/instances/{id}/test", server.base))
            .bearer_auth(&user)
            .send()
    };

    let r = test("good").await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["result"], json!({"user": "service-account"}), "{v}");

    let r = test("bad").await.unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 403, "a refused credential: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v["error"]["code"].is_string(), "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    assert!(!body.contains(wrong) && !body.contains(TOKEN), "{body}");

    let r = test("missing").await.unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .post(format!("{}/api/instances/good/test", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no key, no test");

    let log = server.log_text();
    assert!(!log.contains(TOKEN) && !log.contains(wrong));
}

#[tokio::test(flavor = "multi_thread")]
async fn users_list_shows_names_ids_and_roles_but_never_keys() {
    let server = Server::start().await;
    let keys = [
        ("ops-admin", server.add_user("ops-admin", true)),
        (
            "alice@example.com",
            server.add_user("alice@example.com", false),
        ),
        ("bob", server.add_user("bob", false)),
    ];
    let out = run_ok(
        Command::new(bin())
            .args(["users", "list", "--data-dir"])
            .arg(&server.data),
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut rows: Vec<(String, String, String)> = stdout
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 3, "name, id, role: {l:?}");
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect();
    rows.sort();
    let names: Vec<(&str, &str)> = rows
        .iter()
        .map(|(n, _, r)| (n.as_str(), r.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("alice@example.com", "user"),
            ("bob", "user"),
            ("ops-admin", "admin"),
        ]
    );
    for (_, id, _) in &rows {
        assert!(id.starts_with("u_"), "{id}");
    }
    let ids: std::collections::HashSet<_> = rows.iter().map(|r| &r.1).collect();
    assert_eq!(ids.len(), 3, "distinct ids");
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for (_, key) in &keys {
        assert!(!all.contains(key.as_str()), "a key was listed");
    }

    // The listed key works: the list reflects the store the server authenticates against.
    let r = reqwest::Client::new()
        .get(format!("{}/api/instances", server.base))
        .bearer_auth(&keys[2].1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A data directory without a store is an error that names the file, and stays empty.
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["users", "list", "--data-dir"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("connector.db does not exist"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
}
