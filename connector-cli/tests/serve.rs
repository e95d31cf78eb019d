//! `connector serve` end to end: the real binary on 127.0.0.1 with a loopback mock OAuth
//! provider and mock API, driven over HTTP by browser-like clients (cookies, redirects).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use serde_json::{Value, json};

mod support;
use support::provider::{self, CANARY, per_user_spec};
use support::{Serve, Server, bin};

const CLIENT_SECRET: &str = "CANARY-client-secret-7f3a9c";

// ---------------------------------------------------------------- the server under test

impl Server {
    async fn start() -> Server {
        Serve::new()
            .spec("peruser.yaml", &per_user_spec(".peruser-test"))
            .args(&["--allow-loopback", "--max-body-bytes", "65536"])
            .rust_log("debug")
            .start()
            .await
    }
}

/// Every response seen, for the canary scan.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    async fn record(&self, r: reqwest::Response) -> (u16, HeaderMap, String) {
        let status = r.status().as_u16();
        // The URL is the request the client made (a callback URL carries the code by
        // design); what the server said is the status, headers and body.
        let headers = r.headers().clone();
        let body = r.text().await.unwrap();
        self.0
            .lock()
            .unwrap()
            .push(format!("{status}\n{headers:?}\n{body}"));
        (status, headers, body)
    }
}

/// A browser-like client: a cookie jar, follows redirects, logs in at the provider as
/// `account`.
fn browser(account: &str) -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("x-account", account.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(h)
        .build()
        .unwrap()
}

struct Api<'a> {
    c: reqwest::Client,
    base: &'a str,
    key: Option<String>,
    seen: Seen,
}

impl Api<'_> {
    fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.c.request(m, format!("{}{path}", self.base));
        match &self.key {
            Some(k) => r.bearer_auth(k),
            None => r,
        }
    }

    async fn call(&self, m: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.req(m, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let (status, _, text) = self.seen.record(r.send().await.unwrap()).await;
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    async fn page(&self, path_or_url: &str) -> (u16, String, String) {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        let mut r = self.c.get(url);
        if let Some(k) = &self.key {
            r = r.bearer_auth(k);
        }
        let resp = r.send().await.unwrap();
        let final_url = resp.url().to_string();
        let (status, _, body) = self.seen.record(resp).await;
        (status, final_url, body)
    }
}

fn instance_body(mock: SocketAddr, id: &str, base: &str) -> Value {
    let mut v = provider::per_user_instance(mock, id, ".peruser-test", base, CLIENT_SECRET);
    v["name"] = json!("Per-user test");
    v
}

use reqwest::Method;

/// `connector users add` an admin, `alice` and `bob`: their keys.
fn three_users(server: &Server) -> (String, String, String) {
    (
        server.add_user("admin", true),
        server.add_user("alice", false),
        server.add_user("bob", false),
    )
}

/// A browser-like client of `server` logged in at the provider as `account`, with `key`.
fn client<'a>(server: &'a Server, seen: &Seen, key: Option<&str>, account: &str) -> Api<'a> {
    Api {
        c: browser(account),
        base: &server.base,
        key: key.map(str::to_string),
        seen: seen.clone(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_users_connect_their_own_accounts_and_every_attack_is_refused() {
    let mock = provider::start(CLIENT_SECRET).await.0;
    let mut server = Server::start().await;
    let seen = Seen::default();
    let (admin_key, alice_key, bob_key) = three_users(&server);
    let api = |key: Option<&str>, account: &str| client(&server, &seen, key, account);
    let admin = api(Some(&admin_key), "admin");
    let alice = api(Some(&alice_key), "alice-account");
    let bob = api(Some(&bob_key), "bob-account");
    let anon = api(None, "nobody");

    // The admin creates a per-user instance; its secret is never shown back.
    let (st, v) = admin
        .call(
            Method::POST,
            "/api/instances",
            Some(instance_body(mock, "files", &format!("http://{mock}"))),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["authMode"], "per_user");
    assert_eq!(v["secretsSet"], json!(["clientSecret"]));
    let (st, v) = alice.call(Method::GET, "/api/instances/files", None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["connected"], false);

    // Before connecting, an action is refused with a typed error, not a 401 of ours.
    let (st, v) = alice
        .call(
            Method::POST,
            "/api/instances/files/actions/me",
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    // The message names the user as they know themselves and the route that connects them.
    assert_eq!(v["error"]["code"], "not_authorized", "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("user `alice`"), "{msg}");
    assert!(
        msg.contains("POST /api/instances/files/oauth/start"),
        "{msg}"
    );
    assert!(!msg.contains("u_"), "no internal user id: {msg}");

    // Each user runs the dance in a browser: GET start -> provider -> callback page.
    for (who, account) in [(&alice, "alice-account"), (&bob, "bob-account")] {
        let (st, final_url, body) = who
            .page("/api/instances/files/oauth/start?returnUrl=/done")
            .await;
        assert_eq!(st, 200, "{body}");
        assert!(final_url.contains("/api/oauth/callback"), "{final_url}");
        assert!(body.contains("Connected"), "{body}");
        assert!(body.contains(&format!("{}/done", server.base)), "{body}");
        let (st, v) = who
            .call(
                Method::POST,
                "/api/instances/files/actions/me",
                Some(json!({})),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["output"]["account"], account, "{v}");
        assert_eq!(
            v["output"]["files"],
            json!([format!("{account}-notes.txt")])
        );
    }
    let (_, v) = bob.call(Method::GET, "/api/instances", None).await;
    assert_eq!(v["instances"][0]["connected"], true);

    // No key, a wrong key: 401 with nothing else.
    let (st, v) = anon.call(Method::GET, "/api/instances", None).await;
    assert_eq!(st, 401);
    assert_eq!(
        v,
        json!({"error": {"code": "unauthorized", "message": "a valid API key is required"}})
    );
    let wrong = api(Some("ck_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "x");
    let (st, v2) = wrong
        .call(
            Method::POST,
            "/api/instances/files/actions/me",
            Some(json!({})),
        )
        .await;
    assert_eq!((st, &v2), (401, &v));

    // A user's key on admin routes.
    let (st, v) = alice
        .call(
            Method::POST,
            "/api/instances",
            Some(instance_body(mock, "mine", &format!("http://{mock}"))),
        )
        .await;
    assert_eq!((st, v["error"]["code"].as_str()), (403, Some("forbidden")));
    let (st, _) = bob.call(Method::DELETE, "/api/instances/files", None).await;
    assert_eq!(st, 403);
    let (st, _) = bob
        .call(
            Method::PUT,
            "/api/instances/files",
            Some(json!({"name": "mine now"})),
        )
        .await;
    assert_eq!(st, 403);

    // Another user's state on the callback: refused, and the owner can still finish.
    let (st, v) = bob
        .call(
            Method::POST,
            "/api/instances/files/oauth/start",
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let bob_state = v["state"].as_str().unwrap().to_string();
    let (st, _, body) = alice
        .page(&format!(
            "/api/oauth/callback?state={bob_state}&code=stolen"
        ))
        .await;
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("another user"), "{body}");
    let (st, _, body) = bob.page(v["authorizationUrl"].as_str().unwrap()).await;
    assert_eq!(st, 200, "{body}");

    // Tampered return URLs.
    for bad in [
        "http://evil.test/x",
        "//evil.test/x",
        "https://127.0.0.1:1/",
    ] {
        let (st, v) = alice
            .call(
                Method::POST,
                "/api/instances/files/oauth/start",
                Some(json!({"returnUrl": bad})),
            )
            .await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (400, Some("invalid_return_url")),
            "{bad}"
        );
    }

    // A cancelled flow's callback.
    let (_, v) = alice
        .call(
            Method::POST,
            "/api/instances/files/oauth/start",
            Some(json!({})),
        )
        .await;
    let state = v["state"].as_str().unwrap().to_string();
    let (st, c) = alice
        .call(
            Method::POST,
            "/api/oauth/cancel",
            Some(json!({"state": state})),
        )
        .await;
    assert_eq!((st, &c["cancelled"]), (200, &json!(true)));
    let (st, _, body) = alice
        .page(&format!("/api/oauth/callback?state={state}&code=late"))
        .await;
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("state_not_found"), "{body}");

    // Config pointing at a private address or the metadata IP.
    for base in [
        "http://169.254.169.254/latest",
        "http://10.1.2.3",
        "http://[fd00::1]/",
    ] {
        let (st, v) = admin
            .call(
                Method::POST,
                "/api/instances",
                Some(instance_body(mock, "ssrf", base)),
            )
            .await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (400, Some("outbound_url_denied")),
            "{base}: {v}"
        );
    }
    let mut body = instance_body(mock, "ssrf", &format!("http://{mock}"));
    body["config"]["tokenUrl"] = json!("http://192.168.0.10/token");
    let (st, v) = admin.call(Method::POST, "/api/instances", Some(body)).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (400, Some("outbound_url_denied")),
        "{v}"
    );
    let (st, _) = admin.call(Method::GET, "/api/instances/ssrf", None).await;
    assert_eq!(st, 404);

    // An API whose saved URL is fine but which redirects to the metadata address when
    // called: the hop is refused at request time, before any connection.
    let (st, v) = admin
        .call(
            Method::POST,
            "/api/instances",
            Some(instance_body(
                mock,
                "redirecting",
                &format!("http://{mock}/redirect"),
            )),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, _, body) = alice
        .page("/api/instances/redirecting/oauth/start?returnUrl=/done")
        .await;
    assert_eq!(st, 200, "{body}");
    let (st, v) = alice
        .call(
            Method::POST,
            "/api/instances/redirecting/actions/me",
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (400, Some("egress_refused")),
        "{v}"
    );

    // Oversized bodies.
    let big = json!({ "pad": "x".repeat(100_000) });
    let (st, v) = admin
        .call(Method::POST, "/api/instances", Some(big.clone()))
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (413, Some("body_too_large")),
        "{v}"
    );
    let (st, _) = alice
        .call(Method::POST, "/api/instances/files/actions/me", Some(big))
        .await;
    assert_eq!(st, 413);

    // Disconnect: alice's token is gone, bob still works.
    let (st, v) = alice
        .call(Method::DELETE, "/api/instances/files/oauth", None)
        .await;
    assert_eq!((st, &v["deleted"]), (200, &json!(1)));
    let (st, _) = alice
        .call(
            Method::POST,
            "/api/instances/files/actions/me",
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 403);
    let (st, v) = bob
        .call(
            Method::POST,
            "/api/instances/files/actions/me",
            Some(json!({})),
        )
        .await;
    assert_eq!((st, &v["output"]["account"]), (200, &json!("bob-account")));

    // Per-user rate limit on OAuth starts (20 a minute by default; alice used 5 above).
    let mut last = 0;
    for _ in 0..20 {
        let (st, _) = alice
            .call(
                Method::POST,
                "/api/instances/files/oauth/start",
                Some(json!({})),
            )
            .await;
        last = st;
        if st == 429 {
            break;
        }
    }
    assert_eq!(last, 429);
    let (st, _) = bob
        .call(
            Method::POST,
            "/api/instances/files/oauth/start",
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 200, "the limit is per user");

    // A clean shutdown.
    assert!(server.terminate(), "the server exits 0 on SIGTERM");

    // Canary scan: no secret, token, code or API key in any response or log line.
    let log = server.log_text();
    assert!(log.contains("request"), "the server logs requests:\n{log}");
    let mut all = seen.0.lock().unwrap().join("\n");
    all.push_str(&log);
    for needle in [CANARY, &admin_key, &alice_key, &bob_key] {
        assert!(!all.contains(needle), "`{needle}` leaked:\n{all}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn catalog_matches_connector_export_and_openapi_is_served() {
    let server = Server::start().await;
    let key = server.add_user("reader", false);
    let seen = Seen::default();
    let api = Api {
        c: reqwest::Client::new(),
        base: &server.base,
        key: Some(key),
        seen,
    };
    let out = tempfile::tempdir().unwrap();
    let st = Command::new(bin())
        .arg("export")
        .arg(&server.specs)
        .arg("--out")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(st.success());
    let file = only_file(&out.path().join("connectors"));
    let exported = std::fs::read_to_string(&file).unwrap();
    let (st, _, one) = api.page("/api/connector-types/.peruser-test").await;
    assert_eq!(st, 200);
    assert_eq!(one, exported, "same bytes as connector export");
    let (st, _, all) = api.page("/api/connector-types").await;
    assert_eq!(st, 200);
    assert!(all.contains(exported.trim_end()));
    let v: Value = serde_json::from_str(&all).unwrap();
    assert_eq!(v["connectorTypes"][0]["id"], ".peruser-test");

    let (st, _, doc) = api.page("/api/openapi.json").await;
    assert_eq!(st, 200);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    for p in [
        "/api/instances",
        "/api/instances/{id}/actions/{action}",
        "/api/instances/{id}/oauth/start",
        "/api/oauth/callback",
        "/api/oauth/cancel",
    ] {
        assert!(
            doc["paths"].get(p).is_some(),
            "{p} missing from the OpenAPI document"
        );
    }
    let (st, _, h) = api.page("/healthz").await;
    assert_eq!((st, h.as_str()), (200, r#"{"status":"ok"}"#));
}

fn only_file(dir: &Path) -> PathBuf {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn first_start_generates_the_operator_key_with_a_warning() {
    let server = Server::start().await;
    let key = server.data.join("operator.key");
    assert!(key.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let log = server.log_text();
    assert!(
        log.contains("WARNING: generated a new operator key"),
        "{log}"
    );
    assert!(log.contains(&key.display().to_string()), "{log}");
    let secret = std::fs::read_to_string(&key).unwrap();
    let secret = secret.trim().split_once(':').unwrap().1;
    assert!(!log.contains(secret), "the key itself is never printed");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_sigkill_and_restart_every_users_connector_still_works() {
    let mock = provider::start(CLIENT_SECRET).await.0;
    let mut server = Server::start().await;
    let seen = Seen::default();
    let admin_key = server.add_user("admin", true);
    let keys: Vec<(String, String)> = (0..3)
        .map(|i| {
            (
                server.add_user(&format!("user{i}"), false),
                format!("account-{i}"),
            )
        })
        .collect();
    let base = server.base.clone();
    let api = |key: &str, account: &str| Api {
        c: browser(account),
        base: &base,
        key: Some(key.to_string()),
        seen: seen.clone(),
    };
    let (st, v) = api(&admin_key, "admin")
        .call(
            Method::POST,
            "/api/instances",
            Some(instance_body(mock, "files", &format!("http://{mock}"))),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    for (key, account) in &keys {
        let (st, _, body) = api(key, account)
            .page("/api/instances/files/oauth/start")
            .await;
        assert_eq!(st, 200, "{body}");
    }
    // A refresh storm in flight when the process dies (every token is inside the refresh
    // margin, so every action refreshes first).
    let storm: Vec<_> = keys
        .iter()
        .cycle()
        .take(30)
        .map(|(key, account)| {
            let c = api(key, account);
            let path = "/api/instances/files/actions/me".to_string();
            let r = c.req(Method::POST, &path).json(&json!({}));
            tokio::spawn(async move { r.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    server.kill_and_restart().await;
    for t in storm {
        let _ = t.await.unwrap();
    }
    for (key, account) in &keys {
        let (st, v) = api(key, account)
            .call(
                Method::POST,
                "/api/instances/files/actions/me",
                Some(json!({})),
            )
            .await;
        assert_eq!((st, &v["output"]["account"]), (200, &json!(account)), "{v}");
    }
}

/// `(operation, actor, on behalf of, instance, outcome)` of each audit event, oldest first.
fn audit_rows(v: &Value) -> Vec<(String, String, String, String, String)> {
    let s = |e: &Value, k: &str| e[k].as_str().unwrap_or("-").to_string();
    let mut rows: Vec<_> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                s(e, "operation"),
                s(e, "actor"),
                s(e, "onBehalfOf"),
                s(e, "instance"),
                s(e, "outcome"),
            )
        })
        .collect();
    rows.reverse();
    rows
}

fn row(
    op: &str,
    actor: &str,
    whose: &str,
    instance: &str,
    outcome: &str,
) -> (String, String, String, String, String) {
    (
        op.into(),
        actor.into(),
        whose.into(),
        instance.into(),
        outcome.into(),
    )
}

/// A scripted session of two users: access lists hide and refuse an instance, losing access
/// disconnects, and the audit trail has exactly one event per operation, with no secret and
/// no input value in it.
#[tokio::test(flavor = "multi_thread")]
async fn access_lists_hold_and_the_audit_trail_has_one_event_per_operation() {
    let mock = provider::start(CLIENT_SECRET).await.0;
    let server = Server::start().await;
    let seen = Seen::default();
    let (admin_key, alice_key, bob_key) = three_users(&server);
    let api = |key: Option<&str>, account: &str| client(&server, &seen, key, account);
    let admin = api(Some(&admin_key), "admin");
    let alice = api(Some(&alice_key), "alice-account");
    let bob = api(Some(&bob_key), "bob-account");
    let base = format!("http://{mock}");

    // Only alice may use `files`; everyone may use `shared-files`.
    let mut files = instance_body(mock, "files", &base);
    files["access"] = json!(["alice"]);
    let (st, v) = admin
        .call(Method::POST, "/api/instances", Some(files))
        .await;
    assert_eq!((st, &v["access"]), (201, &json!(["alice"])), "{v}");
    let (st, _) = admin
        .call(
            Method::POST,
            "/api/instances",
            Some(instance_body(mock, "open", &base)),
        )
        .await;
    assert_eq!(st, 201);
    let mut unknown = instance_body(mock, "typo", &base);
    unknown["access"] = json!(["carol"]);
    let (st, v) = admin
        .call(Method::POST, "/api/instances", Some(unknown))
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (400, Some("unknown_user")),
        "{v}"
    );

    // bob neither sees nor runs nor connects `files`: the answers are those for no instance.
    let (_, v) = bob.call(Method::GET, "/api/instances", None).await;
    let ids: Vec<&str> = v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["open"]);
    assert!(
        v["instances"][0].get("access").is_none(),
        "users do not see access lists"
    );
    let (st, _) = bob.call(Method::GET, "/api/instances/files", None).await;
    assert_eq!(st, 404);
    let (st, v) = bob
        .call(
            Method::POST,
            "/api/instances/files/actions/me",
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (404, Some("instance_not_found")),
        "{v}"
    );
    let (st, _) = bob
        .call(
            Method::POST,
            "/api/instances/files/oauth/start",
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 404);

    // alice connects and runs; an input value never reaches the trail.
    let (st, _, body) = alice.page("/api/instances/files/oauth/start").await;
    assert_eq!(st, 200, "{body}");
    let (st, v) = alice
        .call(
            Method::POST,
            "/api/instances/files/actions/me",
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (st, &v["output"]["account"]),
        (200, &json!("alice-account")),
        "{v}"
    );
    let input_canary = format!("{CANARY}input-value");
    let (st, _) = alice
        .call(
            Method::POST,
            "/api/instances/files/actions/me",
            Some(json!({"note": input_canary})),
        )
        .await;
    assert_eq!(st, 400);

    // Taking alice off the list disconnects her: opened to everyone again, she must reconnect.
    let (st, v) = admin
        .call(
            Method::PUT,
            "/api/instances/files",
            Some(json!({"access": ["bob"]})),
        )
        .await;
    assert_eq!((st, &v["access"]), (200, &json!(["bob"])), "{v}");
    let (st, _) = alice.call(Method::GET, "/api/instances/files", None).await;
    assert_eq!(st, 404);
    let (st, v) = admin
        .call(
            Method::PUT,
            "/api/instances/files",
            Some(json!({"access": null})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(v.get("access").is_none(), "{v}");
    let (st, v) = alice.call(Method::GET, "/api/instances/files", None).await;
    assert_eq!((st, &v["connected"]), (200, &json!(false)), "{v}");

    // The rest of the session: a test, a cancel, a disconnect, refusals, a delete.
    let (st, _) = bob
        .call(Method::POST, "/api/instances/open/test", None)
        .await;
    assert_eq!(st, 400, "the spec has no connection test");
    let (st, v) = bob
        .call(
            Method::POST,
            "/api/oauth/cancel",
            Some(json!({"state": "nope"})),
        )
        .await;
    assert_eq!((st, &v["cancelled"]), (200, &json!(false)));
    let (st, _) = bob
        .call(Method::DELETE, "/api/instances/open/oauth", None)
        .await;
    assert_eq!(st, 200);
    let (st, _) = api(None, "x")
        .call(Method::GET, "/api/instances", None)
        .await;
    assert_eq!(st, 401);
    let (st, _) = api(Some("ck_wrong"), "x")
        .call(Method::GET, "/api/instances", None)
        .await;
    assert_eq!(st, 401);
    let (st, _) = bob.call(Method::DELETE, "/api/instances/open", None).await;
    assert_eq!(st, 403);
    let (st, _) = admin
        .call(Method::DELETE, "/api/instances/open", None)
        .await;
    assert_eq!(st, 204);

    // A user's whole lifecycle through the admin API.
    let (st, v) = admin
        .call(Method::POST, "/api/users", Some(json!({"name": "carol"})))
        .await;
    assert_eq!(st, 201, "{v}");
    let carol_key = v["key"]["key"].as_str().unwrap().to_string();
    for (method, path, body, status) in [
        (
            Method::POST,
            "/api/users/carol/keys",
            Some(json!({"name": "ci"})),
            201,
        ),
        (Method::POST, "/api/users/carol/rotate-key", None, 200),
        (Method::DELETE, "/api/users/carol/keys/ci", None, 204),
        (Method::POST, "/api/users/carol/disable", None, 200),
        (Method::POST, "/api/users/carol/enable", None, 200),
        (Method::DELETE, "/api/users/carol", None, 200),
    ] {
        let (st, v) = admin.call(method, path, body).await;
        assert_eq!(st, status, "{path}: {v}");
    }

    let (st, trail) = admin.call(Method::GET, "/api/audit?limit=500", None).await;
    assert_eq!(st, 200, "{trail}");
    assert_eq!(
        audit_rows(&trail),
        vec![
            row("user.add", "cli", "-", "-", "ok"),
            row("user.add", "cli", "-", "-", "ok"),
            row("user.add", "cli", "-", "-", "ok"),
            row("instance.create", "admin", "-", "files", "ok"),
            row("instance.create", "admin", "-", "open", "ok"),
            row("instance.create", "admin", "-", "typo", "invalid"),
            row("action.run", "bob", "-", "files", "not_found"),
            row("oauth.start", "bob", "-", "files", "not_found"),
            row("oauth.start", "alice", "-", "files", "ok"),
            row("oauth.connect", "alice", "alice", "files", "ok"),
            row("action.run", "alice", "alice", "files", "ok"),
            row("action.run", "alice", "alice", "files", "invalid"),
            row("instance.update", "admin", "-", "files", "ok"),
            row("instance.update", "admin", "-", "files", "ok"),
            row("instance.test", "bob", "-", "open", "invalid"),
            row("oauth.cancel", "bob", "-", "-", "ok"),
            row("oauth.disconnect", "bob", "-", "open", "ok"),
            row("auth.refused", "-", "-", "-", "denied"),
            row("auth.refused", "-", "-", "-", "denied"),
            row("auth.forbidden", "bob", "-", "-", "denied"),
            row("instance.delete", "admin", "-", "open", "ok"),
            row("user.add", "admin", "-", "-", "ok"),
            row("key.add", "admin", "-", "-", "ok"),
            row("key.rotate", "admin", "-", "-", "ok"),
            row("key.remove", "admin", "-", "-", "ok"),
            row("user.disable", "admin", "-", "-", "ok"),
            row("user.enable", "admin", "-", "-", "ok"),
            row("user.remove", "admin", "-", "-", "ok"),
        ]
    );
    let targets: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .filter_map(|e| e["target"].as_str())
        .collect();
    assert_eq!(
        targets,
        vec![
            "admin",
            "alice",
            "bob",
            "carol",
            "carol/ci",
            "carol/default",
            "carol/ci",
            "carol",
            "carol",
            "carol"
        ]
    );
    for e in trail["events"].as_array().unwrap() {
        assert!(e["durationMs"].as_i64().unwrap() >= 0, "{e}");
        assert_eq!(
            e["requestId"].is_string(),
            e["actor"] != "cli",
            "every event over HTTP names its request, none from the CLI: {e}"
        );
    }

    // Filters and pages.
    let (_, v) = admin
        .call(Method::GET, "/api/audit?user=bob&outcome=not_found", None)
        .await;
    let ops: Vec<_> = audit_rows(&v).into_iter().map(|r| r.0).collect();
    assert_eq!(ops, vec!["action.run", "oauth.start"]);
    let (_, p1) = admin
        .call(Method::GET, "/api/audit?operation=action.run&limit=2", None)
        .await;
    assert_eq!(p1["events"].as_array().unwrap().len(), 2);
    let before = p1["nextBefore"].as_i64().expect("a next page");
    let (_, p2) = admin
        .call(
            Method::GET,
            &format!("/api/audit?operation=action.run&limit=2&before={before}"),
            None,
        )
        .await;
    assert_eq!(p2["events"].as_array().unwrap().len(), 1);
    assert!(p2.get("nextBefore").is_none(), "{p2}");
    let (st, _) = alice.call(Method::GET, "/api/audit", None).await;
    assert_eq!(st, 403, "the trail is for admins");

    // `connector audit` reads the same trail from the data directory.
    let out = support::run_ok(
        Command::new(bin())
            .args(["audit", "--user", "alice", "--json", "--data-dir"])
            .arg(&server.data),
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ops: Vec<&str> = lines
        .iter()
        .rev()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        vec![
            "user.add",
            "oauth.start",
            "oauth.connect",
            "action.run",
            "action.run",
            "auth.forbidden"
        ],
        "alice's events (her GET /api/audit last), newest first from the CLI"
    );

    // No secret, token, key or input value anywhere in the trail.
    let text = trail.to_string() + &lines.iter().map(Value::to_string).collect::<String>();
    for needle in [
        CANARY,
        &admin_key,
        &alice_key,
        &bob_key,
        &carol_key,
        CLIENT_SECRET,
    ] {
        assert!(
            !text.contains(needle),
            "`{needle}` in the audit trail:\n{text}"
        );
    }
}
