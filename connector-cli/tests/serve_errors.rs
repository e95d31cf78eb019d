//! `connector serve` answers every failure with the documented JSON error and refuses bodies
//! that are not JSON objects. The real binary on 127.0.0.1, driven with reqwest (and raw TCP
//! where a client would normalise the request).

use std::io::{Read, Write};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

mod support;
use support::{Serve, Server, workspace_root};

/// A per-user connector, so the OAuth start routes can be exercised; its provider URLs point
/// at a loopback port nobody listens on (starting a flow does not contact the provider).
const PERUSER_SPEC: &str = r#"id: .peruser-errors
displayName: Per-user errors
description: A per-user connector whose provider is never reached.
minimumLicense: basic
baseUrl: "http://127.0.0.1:9/"
auth:
  types: [oauth_authorization_code]
actions:
  me:
    description: Who am I.
    scope: read
    request:
      method: GET
      path: /me
"#;

impl Server {
    async fn start(extra: &[&str]) -> Server {
        Serve::new()
            .copy_spec(workspace_root().join("specs/server_log.yaml"))
            .spec("peruser.yaml", PERUSER_SPEC)
            .args(&["--allow-loopback", "--max-body-bytes", "4096"])
            .args(extra)
            .rust_log("info")
            .start()
            .await
    }
}

struct Answer {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

/// Sends the request and reads the answer, which must be JSON.
async fn send(r: reqwest::RequestBuilder) -> Answer {
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        content_type,
        headers,
        body,
    }
}

/// The documented error shape, with `application/json`.
fn assert_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{:?}", a.body);
    assert!(
        a.content_type.starts_with("application/json"),
        "content type `{}` for {:?}",
        a.content_type,
        a.body
    );
    assert_eq!(a.body["error"]["code"], code, "{:?}", a.body);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

/// The error's message contains `needle`.
fn assert_message_contains(a: &Answer, needle: &str) {
    let message = a.body["error"]["message"].as_str().unwrap();
    assert!(message.contains(needle), "{:?}", a.body);
}

/// The `.server-log` instance `log-1`, created as `admin`.
async fn create_log_instance(c: &reqwest::Client, s: &Server, admin: &str) -> Answer {
    send(
        c.post(s.url("/api/instances"))
            .bearer_auth(admin)
            .json(&json!({"id": "log-1", "connectorType": ".server-log", "name": "Log"})),
    )
    .await
}

/// A server started with `extra`, the key of its admin, and a client.
async fn admin_server(extra: &[&str]) -> (Server, String, reqwest::Client) {
    let s = Server::start(extra).await;
    let admin = s.add_user("admin", true);
    (s, admin, client())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// One raw HTTP/1.1 request, for targets reqwest would normalise or refuse to send.
fn raw(addr: &str, request_line_target: &str, extra_headers: &str) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "GET {request_line_target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra_headers}\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_json_array_is_refused_where_an_object_is_required_and_creates_nothing() {
    let (s, admin, c) = admin_server(&[]).await;
    let a = send(
        c.post(s.url("/api/instances"))
            .bearer_auth(&admin)
            .json(&json!(["arr-1", ".server-log", "From an array", {}, {}])),
    )
    .await;
    assert_error(&a, 400, "invalid_body");
    assert_message_contains(&a, "expected a JSON object, found an array");
    let a = send(c.get(s.url("/api/instances/arr-1")).bearer_auth(&admin)).await;
    assert_error(&a, 404, "instance_not_found");

    // Every JSON body route refuses a non-object, the optional-body ones included.
    let created = create_log_instance(&c, &s, &admin).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    for (method, path, body) in [
        (Method::PUT, "/api/instances/log-1", json!(["Renamed"])),
        (
            Method::POST,
            "/api/instances/log-1/actions/execute",
            json!(["hello"]),
        ),
        (Method::POST, "/api/instances/log-1/oauth/start", json!(1)),
        (Method::POST, "/api/oauth/cancel", json!("state")),
    ] {
        let a = send(
            c.request(method.clone(), s.url(path))
                .bearer_auth(&admin)
                .json(&body),
        )
        .await;
        assert_error(&a, 400, "invalid_body");
        assert!(
            a.body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("expected a JSON object"),
            "{method} {path}: {:?}",
            a.body
        );
    }
    // Unknown fields are refused where the API documents the fields.
    let a = send(
        c.put(s.url("/api/instances/log-1"))
            .bearer_auth(&admin)
            .json(&json!({"nmae": "typo"})),
    )
    .await;
    assert_error(&a, 400, "invalid_body");
    assert_message_contains(&a, "unknown field `nmae`");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_body_is_named_as_such_except_where_it_counts_as_an_empty_object() {
    let (s, admin, c) = admin_server(&[]).await;
    for (method, path) in [
        (Method::POST, "/api/instances"),
        (Method::PUT, "/api/instances/whatever"),
        (Method::POST, "/api/oauth/cancel"),
    ] {
        let a = send(
            c.request(method.clone(), s.url(path))
                .bearer_auth(&admin)
                .header("content-type", "application/json"),
        )
        .await;
        assert_error(&a, 400, "invalid_body");
        assert_eq!(
            a.body["error"]["message"], "the request body is empty; expected a JSON object",
            "{method} {path}"
        );
    }
    // An action's input may be empty: it counts as `{}` (and `.server-log` then names the
    // missing field, which proves the body reached the action).
    create_log_instance(&c, &s, &admin).await;
    let a = send(
        c.post(s.url("/api/instances/log-1/actions/execute"))
            .bearer_auth(&admin),
    )
    .await;
    assert_error(&a, 400, "invalid_input");
}

#[tokio::test(flavor = "multi_thread")]
async fn query_path_method_route_media_type_and_size_errors_are_json() {
    let (s, admin, c) = admin_server(&[]).await;
    let a = send(
        c.post(s.url("/api/instances/x/actions/y?allPages=maybe"))
            .bearer_auth(&admin),
    )
    .await;
    assert_error(&a, 400, "invalid_query");
    assert_message_contains(&a, "allPages");

    let a = send(c.get(s.url("/api/instances/%FF%FE")).bearer_auth(&admin)).await;
    assert_error(&a, 400, "invalid_path");
    assert_message_contains(&a, "not valid UTF-8");

    let a = send(c.patch(s.url("/api/instances")).bearer_auth(&admin)).await;
    assert_error(&a, 405, "method_not_allowed");
    let allow = a.headers["allow"].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");

    let a = send(c.get(s.url("/api/nothing-here"))).await;
    assert_error(&a, 404, "not_found");

    let a = send(
        c.post(s.url("/api/oauth/cancel"))
            .bearer_auth(&admin)
            .header("content-type", "text/plain")
            .body(r#"{"state": "x"}"#),
    )
    .await;
    assert_error(&a, 415, "unsupported_media_type");

    let big = json!({ "state": "x".repeat(8000) });
    let a = send(
        c.post(s.url("/api/oauth/cancel"))
            .bearer_auth(&admin)
            .json(&big),
    )
    .await;
    assert_error(&a, 413, "body_too_large");

    let a = send(
        c.post(s.url("/api/oauth/cancel"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body("{\"state\": "),
    )
    .await;
    assert_error(&a, 400, "invalid_body");
    assert_message_contains(&a, "not valid JSON (line 1, column");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_uri_gets_a_json_414_and_past_hypers_limit_an_empty_414() {
    let s = Server::start(&[]).await;
    let long = format!("/api/instances?pad={}", "a".repeat(9000));
    let (status, head, body) = raw(&s.host_port(), &long, "");
    assert_eq!(status, 414, "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "uri_too_long");

    // Past 64 KiB hyper refuses the request line before any route runs; the body is empty
    // (documented in docs/server-api.md).
    let huge = format!("/api/instances?pad={}", "a".repeat(70_000));
    let (status, _, body) = raw(&s.host_port(), &huge, "");
    assert_eq!(status, 414);
    assert!(body.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_users_malformed_body_on_an_admin_route_gets_403_not_400() {
    let (s, admin, c) = admin_server(&[]).await;
    let user = s.add_user("alice", false);
    create_log_instance(&c, &s, &admin).await;
    for (method, path) in [
        (Method::POST, "/api/instances"),
        (Method::PUT, "/api/instances/log-1"),
    ] {
        let a = send(
            c.request(method.clone(), s.url(path))
                .bearer_auth(&user)
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
        assert_error(&a, 403, "forbidden");
    }
    let a = send(c.delete(s.url("/api/instances/log-1")).bearer_auth(&user)).await;
    assert_error(&a, 403, "forbidden");
    // No key at all is 401 before either.
    let a = send(
        c.post(s.url("/api/instances"))
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_error(&a, 401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bearer_scheme_is_case_insensitive() {
    let s = Server::start(&[]).await;
    let user = s.add_user("alice", false);
    let c = client();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let a = send(
            c.get(s.url("/api/instances"))
                .header("authorization", format!("{scheme} {user}")),
        )
        .await;
        assert_eq!(a.status, 200, "{scheme}: {:?}", a.body);
    }
    let a = send(c.get(s.url("/api/instances")).header("x-api-key", &user)).await;
    assert_eq!(a.status, 200);
    let a = send(
        c.get(s.url("/api/instances"))
            .header("authorization", format!("Basic {user}")),
    )
    .await;
    assert_error(&a, 401, "unauthorized");
}

fn peruser_instance() -> Value {
    json!({
        "id": "files",
        "connectorType": ".peruser-errors",
        "name": "Files",
        "config": {
            "authType": "oauth_authorization_code",
            "authorizationUrl": "http://127.0.0.1:9/authorize",
            "tokenUrl": "http://127.0.0.1:9/token",
            "clientId": "client-1",
        },
        "secrets": { "clientSecret": "s3cret-value" },
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn head_on_the_get_start_route_starts_no_flow() {
    // One start per minute: if HEAD started a flow, the GET after it would get 429.
    let (s, admin, c) = admin_server(&["--oauth-rate-per-minute", "1"]).await;
    let user = s.add_user("alice", false);
    let created = send(
        c.post(s.url("/api/instances"))
            .bearer_auth(&admin)
            .json(&peruser_instance()),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    for _ in 0..3 {
        let r = c
            .head(s.url("/api/instances/files/oauth/start"))
            .bearer_auth(&user)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
        assert!(r.headers().get("set-cookie").is_none());
        assert_eq!(r.headers()["allow"], "GET,POST");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
    }
    assert!(!s.log_text().contains("OAuth flow started"));
    let r = c
        .get(s.url("/api/instances/files/oauth/start"))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the HEADs spent no start");
    assert!(r.headers().get("set-cookie").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_callback_answers_400_for_a_provider_refusal_as_documented() {
    let (s, admin, c) = admin_server(&[]).await;
    let user = s.add_user("alice", false);
    send(
        c.post(s.url("/api/instances"))
            .bearer_auth(&admin)
            .json(&peruser_instance()),
    )
    .await;
    let started = send(
        c.post(s.url("/api/instances/files/oauth/start"))
            .bearer_auth(&user),
    )
    .await;
    assert_eq!(started.status, 200, "{:?}", started.body);
    let state = started.body["state"].as_str().unwrap();
    let r = c
        .get(s.url(&format!(
            "/api/oauth/callback?state={state}&error=access_denied"
        )))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("authorization_denied"), "{page}");

    // A state that belongs to another user stays 403.
    let bob = s.add_user("bob", false);
    let started = send(
        c.post(s.url("/api/instances/files/oauth/start"))
            .bearer_auth(&user),
    )
    .await;
    let state = started.body["state"].as_str().unwrap();
    let r = c
        .get(s.url(&format!("/api/oauth/callback?state={state}&code=abc")))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
