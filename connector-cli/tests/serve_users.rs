//! User and key lifecycle through the real `connector` binary: `connector users ...` on the
//! data dir of a running `connector serve`, and the admin routes under `/api/users`. A
//! rotated, removed or expired key and a disabled user are refused at once; key listings and
//! logs never show a key; removing a user deletes their per-user tokens; the connection
//! route tells a connected and an unconnected user apart and reports a failed refresh.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use connector_runtime::store::{Keyring, SqliteStore, TokenStore};
use reqwest::Method;
use serde_json::{Value, json};

mod support;
use support::provider::{self, CANARY, MockState, per_user_spec};
use support::{Serve, Server, bin, run_ok, workspace_root};

const CLIENT_SECRET: &str = "CANARY-client-secret-u5e4s";

async fn server() -> Server {
    Serve::new()
        .spec("peruser.yaml", &per_user_spec(".peruser-users"))
        .spec("ears.yaml", EARS_SPEC)
        .copy_spec(workspace_root().join("specs/server_log.yaml"))
        .args(&["--allow-loopback"])
        .rust_log("debug")
        .start()
        .await
}

// ---------------------------------------------------------------- clients

/// Every response body seen, for the key scan.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

struct Api {
    c: reqwest::Client,
    base: String,
    seen: Seen,
}

impl Api {
    fn new(server: &Server, account: &str, seen: &Seen) -> Api {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-account", account.parse().unwrap());
        Api {
            c: reqwest::Client::builder()
                .cookie_store(true)
                .default_headers(h)
                .build()
                .unwrap(),
            base: server.base.clone(),
            seen: seen.clone(),
        }
    }

    async fn send(&self, key: &str, m: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .c
            .request(m, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        self.seen.0.lock().unwrap().push(text.clone());
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    async fn status(&self, key: &str, path: &str) -> u16 {
        self.send(key, Method::GET, path, None).await.0
    }

    /// Connect `key`'s user to instance `id` in a browser: start, provider, callback.
    async fn connect(&self, key: &str, id: &str) {
        let resp = self
            .c
            .get(format!("{}/api/instances/{id}/oauth/start", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("connected"), "{body}");
    }
}

fn users_cmd(server: &Server, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg("users")
        .args(args)
        .arg("--data-dir")
        .arg(&server.data)
        .env_remove("CONNECTOR_KEY")
        .env_remove("CONNECTOR_KEY_FILE");
    cmd
}

/// `connector users ARGS` that must succeed: its stdout, trimmed.
fn users_ok(server: &Server, args: &[&str]) -> String {
    let out = run_ok(&mut users_cmd(server, args));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `connector users ARGS` that must fail: its stderr.
fn users_err(server: &Server, args: &[&str]) -> String {
    let out = users_cmd(server, args).output().unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

const LIST: &str = "/api/instances";

/// A per-user connector through EARS: its tokens can be revoked at the provider.
const EARS_SPEC: &str = r#"id: .ears-users
displayName: EARS users
description: A per-user connector through EARS.
minimumLicense: basic
baseUrl: "{{ config.base }}"
auth:
  types: [ears]
config:
  type: object
  additionalProperties: false
  properties:
    base: { type: string, maxLength: 2048 }
actions:
  me:
    description: Who am I.
    scope: read
    request: { method: GET, path: /me }
"#;

/// An EARS revocation endpoint that answers 200 and keeps the bodies it was sent.
async fn ears_revoke() -> (wiremock::MockServer, Arc<Mutex<Vec<String>>>) {
    struct Keep(Arc<Mutex<Vec<String>>>);
    impl wiremock::Respond for Keep {
        fn respond(&self, req: &wiremock::Request) -> wiremock::ResponseTemplate {
            let body = String::from_utf8_lossy(&req.body).into_owned();
            self.0.lock().unwrap().push(body);
            wiremock::ResponseTemplate::new(200)
        }
    }
    let ears = wiremock::MockServer::start().await;
    let bodies = Arc::new(Mutex::new(Vec::new()));
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/v1/google/oauth/revoke"))
        .respond_with(Keep(Arc::clone(&bodies)))
        .mount(&ears)
        .await;
    (ears, bodies)
}

// ---------------------------------------------------------------- the tests

#[tokio::test(flavor = "multi_thread")]
async fn rotated_and_expired_keys_and_disabled_users_are_refused_at_once() {
    let server = server().await;
    let seen = Seen::default();
    let api = Api::new(&server, "admin", &seen);
    let admin = server.add_user("admin", true);
    let mut cli_keys = vec![admin.clone()];
    let mut api_keys = Vec::new();

    // Rotation on the CLI: the old key is refused at once, the new one works.
    let a1 = server.add_user("alice", false);
    assert_eq!(api.status(&a1, LIST).await, 200);
    let a2 = users_ok(&server, &["rotate-key", "alice"]);
    assert!(a2.starts_with("ck_"), "{a2}");
    assert_eq!(api.status(&a1, LIST).await, 401);
    assert_eq!(api.status(&a2, LIST).await, 200);
    cli_keys.extend([a1, a2.clone()]);

    // Rotation over the API, with a `null` body.
    let (st, body) = api
        .send(
            &admin,
            Method::POST,
            "/api/users/alice/rotate-key",
            Some(Value::Null),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let a3 = body["key"].as_str().unwrap().to_string();
    assert_eq!(api.status(&a2, LIST).await, 401);
    assert_eq!(api.status(&a3, LIST).await, 200);
    api_keys.push(a3.clone());

    // Disable and enable, on the CLI and over the API: refused, then accepted again.
    users_ok(&server, &["disable", "alice"]);
    assert_eq!(api.status(&a3, LIST).await, 401);
    users_ok(&server, &["enable", "alice"]);
    assert_eq!(api.status(&a3, LIST).await, 200);
    let (st, body) = api
        .send(&admin, Method::POST, "/api/users/alice/disable", None)
        .await;
    assert_eq!(
        (st, body["disabled"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    let (st, refused) = api.send(&a3, Method::GET, LIST, None).await;
    assert_eq!(st, 401);
    assert_eq!(
        refused["error"]["code"], "unauthorized",
        "a disabled user looks like any bad key"
    );
    let (st, _) = api
        .send(&admin, Method::POST, "/api/users/alice/enable", None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(api.status(&a3, LIST).await, 200);

    // A key that expires in 1 s is refused after 2 s; the user's other keys still work.
    let short = users_ok(
        &server,
        &[
            "keys",
            "add",
            "alice",
            "--key-name",
            "short",
            "--expires",
            "1s",
        ],
    );
    cli_keys.push(short.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(api.status(&short, LIST).await, 401);
    assert_eq!(api.status(&a3, LIST).await, 200);

    keys_only_in_their_creation_response(&seen, &server.log_text(), &api_keys, &cli_keys);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_listed_without_a_key_and_an_admin_cannot_lock_themself_out() {
    let server = server().await;
    let seen = Seen::default();
    let api = Api::new(&server, "admin", &seen);
    let admin = server.add_user("admin", true);
    let a3 = server.add_user("alice", false);
    assert_eq!(api.status(&a3, LIST).await, 200);
    let cli_keys = vec![admin.clone(), a3.clone()];
    let mut api_keys = Vec::new();

    // A named key over the API, then removed.
    let (st, body) = api
        .send(
            &admin,
            Method::POST,
            "/api/users/alice/keys",
            Some(json!({"name": "ci", "expires": "90d"})),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let ci = body["key"].as_str().unwrap().to_string();
    api_keys.push(ci.clone());
    assert!(body["expiresAt"].as_i64().is_some(), "{body}");
    assert_eq!(api.status(&ci, LIST).await, 200);

    // Listings: names and times, never a key.
    let listed = users_ok(&server, &["keys", "list", "alice"]);
    for name in ["default", "ci"] {
        assert!(listed.contains(name), "{listed}");
    }
    assert!(!listed.contains("ck_"), "{listed}");
    let (st, body) = api
        .send(&admin, Method::GET, "/api/users/alice/keys", None)
        .await;
    assert_eq!(st, 200);
    let names: Vec<&str> = body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ci", "default"]);
    assert!(body["keys"][1]["lastUsedAt"].as_i64().is_some(), "{body}");
    assert!(!body.to_string().contains("ck_"), "{body}");
    let (st, _) = api
        .send(&admin, Method::DELETE, "/api/users/alice/keys/ci", None)
        .await;
    assert_eq!(st, 204);
    assert_eq!(api.status(&ci, LIST).await, 401);

    admin_cannot_lock_themself_out(&api, &admin).await;

    // A user added over the API; bad lifetimes are refused with the fix.
    let (st, body) = api
        .send(
            &admin,
            Method::POST,
            "/api/users",
            Some(json!({"name": "carol", "expires": "12h"})),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let carol = body["key"]["key"].as_str().unwrap().to_string();
    api_keys.push(carol.clone());
    assert_eq!(api.status(&carol, LIST).await, 200);
    bad_input_is_refused_with_the_fix(&server, &api, &admin).await;
    let (st, _) = api.send(&a3, Method::GET, "/api/users", None).await;
    assert_eq!(st, 403, "the users routes are for admins");

    keys_only_in_their_creation_response(&seen, &server.log_text(), &api_keys, &cli_keys);
}

/// A lifetime over 3650 days (API), malformed or out-of-range lifetimes and an unknown user
/// (CLI): refused, saying the rule.
async fn bad_input_is_refused_with_the_fix(server: &Server, api: &Api, admin: &str) {
    let (st, body) = api
        .send(
            admin,
            Method::POST,
            "/api/users",
            Some(json!({"name": "dave", "expires": "3651d"})),
        )
        .await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (400, Some("invalid_expires")),
        "{body}"
    );
    for bad in ["90w", "3651d", "0d", "soon"] {
        let err = users_err(server, &["add", "dave", "--expires", bad]);
        assert!(
            err.contains("3650d") || err.contains("d, h, m or s"),
            "{bad}: {err}"
        );
    }
    let err = users_err(server, &["rotate-key", "nobody"]);
    assert!(err.contains("no user named `nobody`"), "{err}");
}

/// User name -> id, from `GET /api/users`.
async fn user_ids(api: &Api, admin: &str) -> HashMap<String, String> {
    let (_, users) = api.send(admin, Method::GET, "/api/users", None).await;
    users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap().to_string(),
                u["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Removing or disabling yourself, and rotating or removing the key you call with: 409.
async fn admin_cannot_lock_themself_out(api: &Api, admin: &str) {
    for (m, path) in [
        (Method::DELETE, "/api/users/admin"),
        (Method::POST, "/api/users/admin/disable"),
        (Method::POST, "/api/users/admin/rotate-key"),
        (Method::DELETE, "/api/users/admin/keys/default"),
    ] {
        let (st, body) = api.send(admin, m, path, None).await;
        assert_eq!(st, 409, "{path}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("you cannot"),
            "{body}"
        );
    }
    assert_eq!(api.status(admin, LIST).await, 200);
}

/// Each API-made key appears only in the response that created it, a CLI-made key in none,
/// and no key in the log.
fn keys_only_in_their_creation_response(
    seen: &Seen,
    log: &str,
    api_keys: &[String],
    cli_keys: &[String],
) {
    let seen = seen.0.lock().unwrap().clone();
    for k in api_keys {
        assert_eq!(
            seen.iter().filter(|b| b.contains(k.as_str())).count(),
            1,
            "{k}"
        );
        assert!(!log.contains(k.as_str()), "a key is in the server log");
    }
    for k in cli_keys {
        assert!(
            !seen.iter().any(|b| b.contains(k.as_str())),
            "a CLI key in a response"
        );
        assert!(!log.contains(k.as_str()), "a key is in the server log");
    }
}

/// A per-user instance `files` on the mock provider and a shared one, `log`.
async fn create_instances(api: &Api, admin: &str, mock: SocketAddr) {
    let instance = provider::per_user_instance(
        mock,
        "files",
        ".peruser-users",
        &format!("http://{mock}"),
        CLIENT_SECRET,
    );
    let (st, body) = api
        .send(admin, Method::POST, "/api/instances", Some(instance))
        .await;
    assert_eq!(st, 201, "{body}");
    let shared = json!({"id": "log", "connectorType": ".server-log", "name": "Log"});
    let (st, body) = api
        .send(admin, Method::POST, "/api/instances", Some(shared))
        .await;
    assert_eq!(st, 201, "{body}");
}

/// Connected (alice) and unconnected (carol) callers, a shared instance, an unknown one.
async fn connection_is_reported(api: &Api, alice: &str, carol: &str, before: i64) {
    // Connected and unconnected callers.
    let (st, c) = api
        .send(alice, Method::GET, "/api/instances/files/connection", None)
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(
        (c["perUser"].as_bool(), c["connected"].as_bool()),
        (Some(true), Some(true)),
        "{c}"
    );
    let since = c["since"].as_i64().unwrap();
    assert!(since >= before, "{c}");
    assert!(c["validUntil"].as_i64().unwrap() > since, "{c}");
    assert_eq!(c["scopes"], json!(["files.read", "profile"]));
    assert_eq!(c["refreshFailed"], json!(false));
    let (st, c) = api
        .send(carol, Method::GET, "/api/instances/files/connection", None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(c, json!({"perUser": true, "connected": false}));
    let (st, c) = api
        .send(carol, Method::GET, "/api/instances/log/connection", None)
        .await;
    assert_eq!((st, c), (200, json!({"perUser": false})));
    let (st, _) = api
        .send(carol, Method::GET, "/api/instances/nope/connection", None)
        .await;
    assert_eq!(st, 404);
}

/// A failed refresh shows on the connection, and the next successful one clears it.
async fn failed_refresh_is_reported(api: &Api, bob: &str, mock_state: &MockState) {
    // A failed refresh shows on the connection: the API refuses the access token, so the
    // server refreshes, and the provider is down.
    {
        let mut m = mock_state.lock().unwrap();
        m.fail_refresh = true;
        m.rejected = m.tokens.keys().cloned().collect();
    }
    let (st, _) = api
        .send(
            bob,
            Method::POST,
            "/api/instances/files/actions/me",
            Some(json!({})),
        )
        .await;
    assert_ne!(st, 200);
    let (_, c) = api
        .send(bob, Method::GET, "/api/instances/files/connection", None)
        .await;
    assert_eq!(c["refreshFailed"], json!(true), "{c}");
    assert!(c["refreshFailedAt"].as_i64().is_some(), "{c}");
    mock_state.lock().unwrap().fail_refresh = false;
    let (st, out) = api
        .send(
            bob,
            Method::POST,
            "/api/instances/files/actions/me",
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 200, "{out}");
    let (_, c) = api
        .send(bob, Method::GET, "/api/instances/files/connection", None)
        .await;
    assert_eq!(
        c["refreshFailed"],
        json!(false),
        "a successful refresh clears it: {c}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn removing_a_user_refuses_their_key_and_deletes_their_tokens_and_connection_is_reported() {
    let (mock, mock_state) = provider::start(CLIENT_SECRET).await;
    let server = server().await;
    let seen = Seen::default();
    let admin = server.add_user("admin", true);
    let (alice, bob, carol) = (
        server.add_user("alice", false),
        server.add_user("bob", false),
        server.add_user("carol", false),
    );
    let api = Api::new(&server, "admin", &seen);
    create_instances(&api, &admin, mock).await;
    let before = chrono_now_ms();
    Api::new(&server, "alice-account", &seen)
        .connect(&alice, "files")
        .await;
    Api::new(&server, "bob-account", &seen)
        .connect(&bob, "files")
        .await;

    connection_is_reported(&api, &alice, &carol, before).await;

    failed_refresh_is_reported(&api, &bob, &mock_state).await;

    let ids = user_ids(&api, &admin).await;
    let store = SqliteStore::open(
        server.data.join("connector.db"),
        Keyring::from_file(&server.data.join("operator.key")).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        store.list_user_tokens(&ids["alice"]).await.unwrap().len(),
        1
    );

    // Removal over the API: the key is refused at once and the tokens are gone.
    let (st, body) = api
        .send(&admin, Method::DELETE, "/api/users/alice", None)
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["tokensDeleted"], json!(1), "{body}");
    assert_eq!(api.status(&alice, LIST).await, 401);
    assert!(
        store
            .list_user_tokens(&ids["alice"])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.list_user_tokens(&ids["bob"]).await.unwrap().len(), 1);
    let (st, _) = api
        .send(&admin, Method::DELETE, "/api/users/alice", None)
        .await;
    assert_eq!(st, 404);

    // Removal on the CLI: the same, and a token of an EARS instance is revoked at the
    // provider, as the server would (the CLI reads the server's specs).
    let (ears, revoked) = ears_revoke().await;
    let drive = json!({
        "id": "drive",
        "connectorType": ".ears-users",
        "name": "Drive",
        "config": {
            "authType": "ears",
            "base": ears.uri(),
            "provider": "google",
            "scope": "drive.readonly",
            "earsBaseUrl": ears.uri(),
        },
    });
    let (st, body) = api
        .send(&admin, Method::POST, "/api/instances", Some(drive))
        .await;
    assert_eq!(st, 201, "{body}");
    let refresh = format!("{CANARY}ears-refresh-bob");
    let mut data = connector_runtime::store::TokenData::bearer(format!("{CANARY}ears-access"));
    data.refresh_token = Some(refresh.clone().into());
    store
        .put_user_token(
            &connector_runtime::store::UserTokenKey::oauth(ids["bob"].as_str(), "drive"),
            data,
        )
        .await
        .unwrap();
    let specs = server.specs.display().to_string();
    let out = users_cmd(
        &server,
        &["remove", "bob", "--specs", &specs, "--allow-loopback"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("2 per-user token(s); 1 revoked at the provider"),
        "{stderr}"
    );
    let bodies = revoked.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "one revocation: {bodies:?}");
    assert!(bodies[0].contains(&refresh), "the refresh token is revoked");
    assert!(!stderr.contains(CANARY), "{stderr}");
    assert_eq!(api.status(&bob, LIST).await, 401);
    assert!(
        store
            .list_user_tokens(&ids["bob"])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(api.status(&carol, LIST).await, 200);
    // Without the specs, removal stops and says how to go on; `--no-revoke` goes on.
    let out = users_cmd(&server, &["remove", "carol", "--specs", "/nonexistent"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success());
    assert!(stderr.contains("--no-revoke"), "{stderr}");
    assert_eq!(api.status(&carol, LIST).await, 200, "nothing was removed");
    let out = users_cmd(&server, &["remove", "carol", "--no-revoke"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(api.status(&carol, LIST).await, 401);
    store.close().await;

    // No token, code or secret in any response or the log.
    let log = server.log_text();
    for text in seen.0.lock().unwrap().iter().chain([&log]) {
        assert!(!text.contains(CANARY), "a canary value leaked: {text}");
    }
}

fn chrono_now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}
