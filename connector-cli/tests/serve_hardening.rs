//! `connector serve` hardening, end to end through the real binary on 127.0.0.1: the OAuth
//! flow cookie bound to one state, connection timeouts and the connection cap, input bounds,
//! file modes, security headers.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

mod support;
use support::{Serve, Server, bin, free_port, run_ok};

const CLIENT_SECRET: &str = "client-secret-h4rd3n";

// ---------------------------------------------------------------- mock provider

#[derive(Default)]
struct Mock {
    /// code -> account
    codes: HashMap<String, String>,
    seq: u64,
}

type MockState = Arc<Mutex<Mock>>;

/// The provider's login: the account is whoever the browser says it is (`x-account`).
async fn authorize(
    State(m): State<MockState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let account = headers
        .get("x-account")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("nobody")
        .to_string();
    let mut m = m.lock().unwrap();
    m.seq += 1;
    let code = format!("code-{account}-{}", m.seq);
    m.codes.insert(code.clone(), account);
    let mut to = url::Url::parse(&q["redirect_uri"]).unwrap();
    to.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q["state"]);
    (StatusCode::FOUND, [(header::LOCATION, to.to_string())]).into_response()
}

async fn token(State(m): State<MockState>, Form(f): Form<HashMap<String, String>>) -> Response {
    let account = f
        .get("code")
        .and_then(|c| m.lock().unwrap().codes.remove(c));
    match account {
        Some(a) => axum::Json(json!({
            "access_token": format!("at-{a}"),
            "refresh_token": format!("rt-{a}"),
            "token_type": "Bearer",
            "expires_in": 3600,
        }))
        .into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response(),
    }
}

async fn start_mock() -> SocketAddr {
    let app = Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(MockState::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

// ---------------------------------------------------------------- the server under test

const SPEC: &str = r#"id: .harden-test
displayName: Hardening test
description: A per-user connector for the hardening tests.
minimumLicense: basic
baseUrl: "{{ config.base }}"
auth:
  types: [oauth_authorization_code]
config:
  type: object
  additionalProperties: false
  properties:
    base: { type: string, maxLength: 2048 }
    home: { type: string, format: uri, maxLength: 2048 }
actions:
  me:
    description: Who am I.
    scope: read
    input:
      type: object
      additionalProperties: false
      properties: {}
    request:
      method: GET
      path: /api/me
"#;

impl Server {
    fn start(extra: &[&str]) -> Server {
        let s = Serve::new()
            .spec("harden.yaml", SPEC)
            .args(&["--allow-loopback"])
            .args(extra)
            .rust_log("info")
            .spawn();
        s.wait_ready_raw();
        s
    }

    fn restart(&mut self) {
        self.respawn_with(self.args.clone());
        self.wait_ready_raw();
    }
}

/// A client that keeps no cookies and follows no redirects: the tests set cookies by hand.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn call(
    c: &reqwest::Client,
    key: &str,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> (u16, HeaderMap, Value) {
    let mut r = c.request(method, url).bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, v)
}

fn instance_body(mock: SocketAddr, id: &str) -> Value {
    support::provider::per_user_instance(
        mock,
        id,
        ".harden-test",
        &format!("http://{mock}"),
        CLIENT_SECRET,
    )
}

/// Create the per-user instance `files` as `admin`.
async fn create_files(c: &reqwest::Client, base: &str, admin: &str, mock: SocketAddr) {
    let (st, _, v) = call(
        c,
        admin,
        reqwest::Method::POST,
        &format!("{base}/api/instances"),
        Some(instance_body(mock, "files")),
    )
    .await;
    assert_eq!(st, 201, "{v}");
}

/// A server (started with `extra`) whose admin has created `files` against the mock
/// provider: the server, a client and the admin's key.
async fn files_server(extra: &[&str]) -> (Server, reqwest::Client, String) {
    let mock = start_mock().await;
    let server = Server::start(extra);
    let admin = server.add_user("admin", true);
    let c = client();
    create_files(&c, &server.base, &admin, mock).await;
    (server, c, admin)
}

/// A 400 with the documented error `code`.
fn assert_400(st: u16, v: &Value, code: &str) {
    assert_eq!((st, v["error"]["code"].as_str()), (400, Some(code)), "{v}");
}

/// The error's message contains `needle`.
fn assert_message_contains(v: &Value, needle: &str) {
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains(needle), "{v}");
}

/// A started flow: the cookie the server set (`name=value`), the raw `Set-Cookie`, the state
/// and the authorization URL.
struct Flow {
    cookie: String,
    set_cookie: String,
    state: String,
    authorization_url: String,
}

async fn start_flow(c: &reqwest::Client, base: &str, key: &str, instance: &str) -> Flow {
    let (st, h, v) = call(
        c,
        key,
        reqwest::Method::POST,
        &format!("{base}/api/instances/{instance}/oauth/start"),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let set_cookie = h[header::SET_COOKIE].to_str().unwrap().to_string();
    Flow {
        cookie: set_cookie.split(';').next().unwrap().to_string(),
        set_cookie,
        state: v["state"].as_str().unwrap().to_string(),
        authorization_url: v["authorizationUrl"].as_str().unwrap().to_string(),
    }
}

/// Log in at the provider as `account`: returns the callback URL it redirects to.
async fn provider_login(c: &reqwest::Client, flow: &Flow, account: &str) -> String {
    let r = c
        .get(&flow.authorization_url)
        .header("x-account", account)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    r.headers()[header::LOCATION].to_str().unwrap().to_string()
}

/// The callback as a browser sends it: the given `Cookie` headers, no API key.
async fn callback(c: &reqwest::Client, url: &str, cookies: &[&str]) -> (u16, HeaderMap, String) {
    let mut r = c.get(url);
    for k in cookies {
        r = r.header(header::COOKIE, *k);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

async fn connected(c: &reqwest::Client, base: &str, key: &str) -> Value {
    let (st, _, v) = call(
        c,
        key,
        reqwest::Method::GET,
        &format!("{base}/api/instances/files"),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    v["connected"].clone()
}

// ---------------------------------------------------------------- point 2: the flow cookie

#[tokio::test(flavor = "multi_thread")]
async fn a_planted_second_flow_cookie_is_refused_and_links_nothing() {
    let (server, c, _admin) = files_server(&[]).await;
    let alice = server.add_user("alice", false);
    let mallory = server.add_user("mallory", false);

    // The attack: mallory starts a flow and plants its cookie in alice's browser, which also
    // holds alice's own; alice logs in at the provider on mallory's authorization URL.
    let attacker = start_flow(&c, &server.base, &mallory, "files").await;
    let victim = start_flow(&c, &server.base, &alice, "files").await;
    let url = provider_login(&c, &attacker, "alice-account").await;
    for cookies in [
        vec![format!("{}; {}", attacker.cookie, victim.cookie)],
        vec![format!("{}; {}", victim.cookie, attacker.cookie)],
        vec![attacker.cookie.clone(), victim.cookie.clone()],
    ] {
        let refs: Vec<&str> = cookies.iter().map(String::as_str).collect();
        let (st, h, body) = callback(&c, &url, &refs).await;
        assert_eq!(st, 400, "{body}");
        assert!(
            h[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{h:?}"
        );
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "multiple_flow_cookies", "{v}");
    }
    assert_eq!(connected(&c, &server.base, &mallory).await, json!(false));
    assert_eq!(connected(&c, &server.base, &alice).await, json!(false));

    // Alice's own flow, with only her cookie, still completes.
    let url = provider_login(&c, &victim, "alice-account").await;
    let (st, _, body) = callback(&c, &url, &[&victim.cookie]).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(connected(&c, &server.base, &alice).await, json!(true));
    assert_eq!(connected(&c, &server.base, &mallory).await, json!(false));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_cookie_completes_only_its_own_state_and_only_once() {
    let (server, c, _admin) = files_server(&[]).await;
    let alice = server.add_user("alice", false);

    let a = start_flow(&c, &server.base, &alice, "files").await;
    let b = start_flow(&c, &server.base, &alice, "files").await;
    assert_ne!(a.cookie, b.cookie, "one cookie per flow");
    // The cookie's shape over plain http: scoped to the OAuth routes, the state's lifetime.
    assert!(a.cookie.starts_with("connector_flow="), "{}", a.set_cookie);
    for attr in ["Path=/api/oauth", "Max-Age=600", "HttpOnly", "SameSite=Lax"] {
        assert!(a.set_cookie.contains(attr), "{attr}: {}", a.set_cookie);
    }
    assert!(!a.set_cookie.contains("Secure"), "{}", a.set_cookie);

    // Flow A's cookie on flow B's callback: not this browser's flow.
    let url_b = provider_login(&c, &b, "alice-account").await;
    let (st, _, body) = callback(&c, &url_b, &[&a.cookie]).await;
    assert_eq!(st, 401, "{body}");
    assert_eq!(connected(&c, &server.base, &alice).await, json!(false));

    // B's own cookie completes B, and the answer deletes the cookie.
    let (st, h, body) = callback(&c, &url_b, &[&b.cookie]).await;
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("Connected"), "{body}");
    let cleared: Vec<&str> = h
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("connector_flow=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert_eq!(connected(&c, &server.base, &alice).await, json!(true));

    // Replaying the callback with the same cookie: the binding is spent.
    let (st, _, body) = callback(&c, &url_b, &[&b.cookie]).await;
    assert_eq!(st, 401, "{body}");
    // A's binding was left alone by the mismatch: A still completes with its own cookie.
    let url_a = provider_login(&c, &a, "alice-account").await;
    assert!(url_a.contains(&a.state), "{url_a}");
    let (st, _, body) = callback(&c, &url_a, &[&a.cookie]).await;
    assert_eq!(st, 200, "{body}");

    // A cancelled flow's cookie is forgotten with its state.
    let f = start_flow(&c, &server.base, &alice, "files").await;
    let url_f = provider_login(&c, &f, "alice-account").await;
    let (st, _, v) = call(
        &c,
        &alice,
        reqwest::Method::POST,
        &format!("{}/api/oauth/cancel", server.base),
        Some(json!({"state": f.state})),
    )
    .await;
    assert_eq!((st, &v["cancelled"]), (200, &json!(true)), "{v}");
    let (st, _, body) = callback(&c, &url_f, &[&f.cookie]).await;
    assert_eq!(st, 401, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn over_https_the_flow_cookie_is_host_prefixed_and_secure() {
    let port = free_port();
    let public = format!("https://127.0.0.1:{port}/");
    let (server, c, admin) = files_server(&["--public-base-url", &public]).await;
    let f = start_flow(&c, &server.base, &admin, "files").await;
    assert!(
        f.set_cookie.starts_with("__Host-connector_flow="),
        "{}",
        f.set_cookie
    );
    for attr in [
        "Path=/;",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=600",
    ] {
        assert!(f.set_cookie.contains(attr), "{attr}: {}", f.set_cookie);
    }
    assert!(!f.set_cookie.contains("Domain"), "{}", f.set_cookie);
    // The plain name is not honoured on an https server.
    // The browser would reach the callback over https; this test speaks http to the server.
    let url = provider_login(&c, &f, "admin-account").await.replacen(
        public.trim_end_matches('/'),
        &server.base,
        1,
    );
    let plain = f.cookie.replacen("__Host-", "", 1);
    let (st, _, body) = callback(&c, &url, &[&plain]).await;
    assert_eq!(st, 401, "{body}");
    let (st, _, body) = callback(&c, &url, &[&f.cookie]).await;
    assert_eq!(st, 200, "{body}");
}

// ---------------------------------------------------------------- point 3: timeouts, cap

/// Whether the server closed the socket within `wait` (reading past any response it sent).
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            // Bytes (an error response): keep reading until the close.
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// The trickling writer was stopped by the server's close before its 30 pieces.
fn assert_cut_short(trickle: std::thread::JoinHandle<usize>, what: &str) {
    let sent = trickle.join().unwrap();
    assert!(
        sent < 30,
        "the server kept reading {what} for {sent} trickles"
    );
}

/// The server closes the socket within 10 s, but not at once (a timeout of 1 s, not a
/// refusal).
fn assert_closed_by_the_timeout(s: &mut TcpStream) {
    let t = Instant::now();
    assert!(closed_within(s, Duration::from_secs(10)));
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
}

/// Write `piece(i)` to the socket every 500 ms, 30 times at most; the thread returns how
/// many pieces went out before a write failed (the server closed), or 30.
fn trickle(s: &TcpStream, piece: fn(usize) -> Vec<u8>) -> std::thread::JoinHandle<usize> {
    let mut w = s.try_clone().unwrap();
    std::thread::spawn(move || {
        for i in 0..30 {
            std::thread::sleep(Duration::from_millis(500));
            if w.write_all(&piece(i)).is_err() {
                return i;
            }
        }
        30
    })
}

fn still_open_now(s: &mut TcpStream) -> bool {
    !closed_within(s, Duration::from_millis(200))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let server = Server::start(&["--idle-timeout", "1", "--header-timeout", "30"]);
    let mut s = TcpStream::connect(server.addr).unwrap();
    assert!(still_open_now(&mut s), "open right after connecting");
    assert_closed_by_the_timeout(&mut s);

    // The same after a served keep-alive request.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    assert!(still_open_now(&mut s), "kept alive after the response");
    assert!(closed_within(&mut s, Duration::from_secs(10)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partial_request_line_is_closed_after_the_header_timeout() {
    let server = Server::start(&["--header-timeout", "1", "--idle-timeout", "60"]);
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(b"GET /heal").unwrap();
    assert!(still_open_now(&mut s));
    assert_closed_by_the_timeout(&mut s);
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_trickled_every_500_ms_are_cut_at_the_header_timeout() {
    let server = Server::start(&["--header-timeout", "1", "--idle-timeout", "60"]);
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    // Left alone, this would keep the head open for 15 s.
    let trickle = trickle(&s, |i| format!("X-Slow-{i}: y\r\n").into_bytes());
    assert!(still_open_now(&mut s));
    let t = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(10)));
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_cut_short(trickle, "headers");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_trickled_every_500_ms_gets_408_and_a_closed_connection() {
    let server = Server::start(&[
        "--body-timeout",
        "2",
        "--header-timeout",
        "1",
        "--idle-timeout",
        "60",
    ]);
    let admin = server.add_user("admin", true);
    let mut s = TcpStream::connect(server.addr).unwrap();
    let head = format!(
        "POST /api/instances HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    );
    s.write_all(head.as_bytes()).unwrap();
    let trickle = trickle(&s, |_| b" ".to_vec());
    assert!(still_open_now(&mut s));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    let mut resp = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => resp.extend_from_slice(&buf[..n]),
        }
    }
    assert!(t.elapsed() < Duration::from_secs(10), "closed in time");
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    assert!(resp.contains("body_timeout"), "{resp}");
    assert!(
        resp.to_ascii_lowercase().contains("connection: close"),
        "{resp}"
    );
    assert_cut_short(trickle, "the body");
}

#[tokio::test(flavor = "multi_thread")]
async fn beyond_max_connections_a_connection_waits_until_one_closes() {
    let server = Server::start(&["--max-connections", "2", "--idle-timeout", "60"]);
    let get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let served = |s: &mut TcpStream, wait: Duration| -> bool {
        s.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 1024];
        matches!(s.read(&mut buf), Ok(n) if n > 0 && buf[..n].starts_with(b"HTTP/1.1 200"))
    };
    let mut one = TcpStream::connect(server.addr).unwrap();
    one.write_all(get).unwrap();
    assert!(served(&mut one, Duration::from_secs(5)));
    let mut two = TcpStream::connect(server.addr).unwrap();
    two.write_all(get).unwrap();
    assert!(served(&mut two, Duration::from_secs(5)));
    // Both stay open (keep-alive). A third connects (the listen backlog) but is not served.
    let mut three = TcpStream::connect(server.addr).unwrap();
    three.write_all(get).unwrap();
    assert!(!served(&mut three, Duration::from_millis(1500)));
    drop(one);
    assert!(
        served(&mut three, Duration::from_secs(10)),
        "served once one closed"
    );
    // The freed slot went to `three`: `two` still works.
    two.write_all(get).unwrap();
    assert!(served(&mut two, Duration::from_secs(5)));
}

// ---------------------------------------------------------------- point 4: input bounds

#[tokio::test(flavor = "multi_thread")]
async fn every_stored_string_is_bounded_and_undeclared_fields_are_refused() {
    let mock = start_mock().await;
    let server = Server::start(&[]);
    let admin = server.add_user("admin", true);
    let c = client();
    let instances = format!("{}/api/instances", server.base);
    let post = |body: Value| call(&c, &admin, reqwest::Method::POST, &instances, Some(body));
    let (st, _, v) = post(instance_body(mock, "files")).await;
    assert_eq!(st, 201, "{v}");

    // OAuth start: a 250,000-character tenant is refused, naming the field and the limit.
    let start = format!("{}/api/instances/files/oauth/start", server.base);
    let (st, _, v) = call(
        &c,
        &admin,
        reqwest::Method::POST,
        &start,
        Some(json!({"tenant": "t".repeat(250_000)})),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_tenant");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("tenant") && msg.contains("256"), "{msg}");
    let (st, _, v) = call(
        &c,
        &admin,
        reqwest::Method::POST,
        &start,
        Some(json!({"tenant": "acme"})),
    )
    .await;
    assert_eq!(st, 200, "a normal tenant: {v}");
    let (st, _, v) = call(
        &c,
        &admin,
        reqwest::Method::POST,
        &start,
        Some(json!({"returnUrl": format!("/{}", "r".repeat(3000))})),
    )
    .await;
    assert_400(st, &v, "invalid_return_url");
    // Cancel looks up a bounded state.
    let (st, _, v) = call(
        &c,
        &admin,
        reqwest::Method::POST,
        &format!("{}/api/oauth/cancel", server.base),
        Some(json!({"state": "s".repeat(10_000)})),
    )
    .await;
    assert_400(st, &v, "invalid_state");

    // Instance names, on create and on update.
    let mut body = instance_body(mock, "named");
    body["name"] = json!("n".repeat(201));
    let (st, _, v) = post(body).await;
    assert_400(st, &v, "invalid_name");
    let (st, _, v) = call(
        &c,
        &admin,
        reqwest::Method::PUT,
        &format!("{instances}/files"),
        Some(json!({"name": "n".repeat(100_000)})),
    )
    .await;
    assert_400(st, &v, "invalid_name");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("name") && msg.contains("200"), "{msg}");

    // Config and secrets fields the schemas do not declare are refused by name.
    let mut body = instance_body(mock, "extra");
    body["config"]["colour"] = json!("blue");
    let (st, _, v) = post(body).await;
    assert_400(st, &v, "invalid_config");
    assert_message_contains(&v, "config.colour");
    let mut body = instance_body(mock, "extra");
    body["secrets"]["clientSecrt"] = json!("typo-of-a-secret-value");
    let (st, _, v) = post(body).await;
    assert_400(st, &v, "invalid_secrets");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("secrets.clientSecrt"), "{msg}");
    assert!(!msg.contains("typo-of-a-secret-value"), "{msg}");
    let (st, _, v) = call(
        &c,
        &admin,
        reqwest::Method::PUT,
        &format!("{instances}/files"),
        Some(json!({"secrets": {"stray": "x"}})),
    )
    .await;
    assert_400(st, &v, "invalid_secrets");

    // `format: uri` is checked.
    let mut body = instance_body(mock, "formats");
    body["config"]["home"] = json!("not a uri");
    let (st, _, v) = post(body).await;
    assert_400(st, &v, "invalid_config");
    assert_message_contains(&v, "config.home");
    let mut body = instance_body(mock, "formats");
    // (Not an http URL: those must also pass the outbound guard, which resolves them.)
    body["config"]["home"] = json!("urn:example:home");
    let (st, _, v) = post(body).await;
    assert_eq!(st, 201, "a URI passes: {v}");

    // Nothing refused was stored.
    let (_, _, v) = call(&c, &admin, reqwest::Method::GET, &instances, None).await;
    let ids: Vec<&str> = v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["files", "formats"]);
}

// ---------------------------------------------------------------- point 9: modes, headers

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_data_dir_is_0700_and_the_database_files_0600() {
    let mock = start_mock().await;
    let mut server = Server::start(&[]);
    let db_files = |data: &Path| {
        ["connector.db", "connector.db-wal", "connector.db-shm"]
            .into_iter()
            .map(|f| data.join(f))
            .filter(|p| p.exists())
            .collect::<Vec<_>>()
    };
    assert_eq!(mode(&server.data), 0o700);
    assert_eq!(mode(&server.data.join("operator.key")), 0o600);
    assert!(server.data.join("connector.db").exists());
    for f in db_files(&server.data) {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    // After writes (a user, an instance with sealed secrets, a pending OAuth state).
    let admin = server.add_user("admin", true);
    let c = client();
    create_files(&c, &server.base, &admin, mock).await;
    start_flow(&c, &server.base, &admin, "files").await;
    let files = db_files(&server.data);
    assert!(
        files.len() >= 2,
        "the WAL exists while the server runs: {files:?}"
    );
    for f in files {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }

    // A database made readable by others (an older version's 0644) is tightened at start; a
    // data directory open to others is reported, not changed (it may be shared on purpose).
    use std::os::unix::fs::PermissionsExt;
    let db = server.data.join("connector.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&server.data, std::fs::Permissions::from_mode(0o755)).unwrap();
    server.restart();
    assert_eq!(mode(&db), 0o600);
    let log = server.log_text();
    assert!(log.contains("was readable by others"), "{log}");
    assert!(
        log.contains("has mode 755") && log.contains("chmod 700"),
        "{log}"
    );
    assert_eq!(mode(&server.data), 0o755);
}

#[cfg(unix)]
#[test]
fn users_add_on_a_fresh_data_dir_creates_private_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    run_ok(
        Command::new(bin())
            .args(["users", "add", "first", "--admin", "--data-dir"])
            .arg(&data),
    );
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("connector.db")), 0o600);
}

#[tokio::test(flavor = "multi_thread")]
async fn html_pages_carry_a_csp_and_every_response_nosniff() {
    let server = Server::start(&[]);
    let c = client();
    // The callback page, here the "not signed in" one.
    let r = c
        .get(format!("{}/api/oauth/callback?state=x&code=y", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let h = r.headers();
    assert!(
        h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
    let body = r.text().await.unwrap();
    assert!(
        !body.contains("<script") && !body.contains("style="),
        "the page needs nothing the policy forbids: {body}"
    );

    // JSON: a success, an error, and the fallback.
    for (path, status) in [
        ("/healthz", 200),
        ("/api/instances", 401),
        ("/no/such/route", 404),
    ] {
        let r = c
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        let h = r.headers();
        assert!(
            h[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
    }
}
