//! `connector auth login|status|logout` and per-user `connector run` / `connector test`,
//! through the real binary, against a loopback OAuth provider that verifies PKCE (S256) and
//! rotates refresh tokens, and a loopback API that answers 401 to a token it does not accept.
//! The test plays the browser: it reads the printed URL, opens it at the provider and follows
//! the redirect to the CLI's 127.0.0.1 callback.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use connector_runtime::store::{
    ExposeSecret, Keyring, OAuthStateStore, SqliteStore, Timestamp, TokenStore, TokenUpdate,
    UserTokenKey,
};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CLIENT_ID: &str = "cli-client";
/// The client secret: a canary that must never be printed.
const CLIENT_SECRET: &str = "CANARYCLIENTSECRET-5b7e";
const KEY_B64: [u8; 32] = [9u8; 32];
/// The local user of every command (`USER` is set for the child processes).
const USER: &str = "alice";
/// The per-user spec's id, which is the instance id the tokens are stored under.
const INSTANCE: &str = ".oauth-cli";

// ---- the loopback provider + API ----

#[derive(Default)]
struct State {
    /// code -> (user, challenge, redirect_uri, used)
    codes: HashMap<String, (String, String, String, bool)>,
    /// access token -> (user, accepted by the API)
    access: HashMap<String, (String, bool)>,
    /// refresh token -> (user, not yet spent)
    refresh: HashMap<String, (String, bool)>,
    refreshes: usize,
    exchanges: usize,
    api_ok: Vec<String>,
    api_401: usize,
    authorize_queries: Vec<HashMap<String, String>>,
    /// Every token, code and verifier issued or received, and the client secret.
    secrets: Vec<String>,
    counter: u64,
    expires_in: u64,
}

type Shared = Arc<Mutex<State>>;

struct Provider {
    addr: SocketAddr,
    state: Shared,
}

impl Provider {
    async fn start() -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state: Shared = Arc::new(Mutex::new(State {
            secrets: vec![CLIENT_SECRET.to_string()],
            expires_in: 3600,
            ..State::default()
        }));
        let s = Arc::clone(&state);
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let s = Arc::clone(&s);
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let s = Arc::clone(&s);
                        async move { Ok::<_, Infallible>(handle(&s, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(sock), svc)
                        .await;
                });
            }
        });
        Provider { addr, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }
}

fn resp(status: u16, body: Value) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn oauth_error(error: &str, description: &str) -> hyper::Response<Full<Bytes>> {
    resp(
        400,
        json!({ "error": error, "error_description": description }),
    )
}

fn pairs(q: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(q).into_owned().collect()
}

fn with_query(base: &str, q: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(base).unwrap();
    u.query_pairs_mut().extend_pairs(q);
    u.to_string()
}

impl State {
    fn mint(&mut self, kind: &str, user: &str) -> String {
        self.counter += 1;
        let t = format!(
            "CANARY{kind}-{user}-{}-{:x}",
            self.counter,
            std::process::id()
        );
        self.secrets.push(t.clone());
        t
    }

    fn issue(&mut self, user: &str) -> Value {
        let at = self.mint("AT", user);
        let rt = self.mint("RT", user);
        self.access.insert(at.clone(), (user.to_string(), true));
        self.refresh.insert(rt.clone(), (user.to_string(), true));
        json!({ "access_token": at, "refresh_token": rt, "token_type": "Bearer",
                "expires_in": self.expires_in, "scope": "me.read" })
    }
}

async fn handle(
    s: &Shared,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut st = s.lock().unwrap();
    match (parts.method.as_str(), parts.uri.path()) {
        // The user's browser at the provider. `x-mock-user` is who is logged in there.
        ("GET", "/authorize") => {
            let q = pairs(parts.uri.query().unwrap_or_default().as_bytes());
            st.authorize_queries.push(q.clone());
            let get = |k: &str| q.get(k).map(String::as_str);
            if get("client_id") != Some(CLIENT_ID)
                || get("response_type") != Some("code")
                || get("code_challenge_method") != Some("S256")
                || get("code_challenge").is_none_or(|c| c.len() != 43)
            {
                return resp(400, json!({"error": "bad authorization request"}));
            }
            let (Some(redirect), Some(state)) = (get("redirect_uri"), get("state")) else {
                return resp(400, json!({"error": "missing redirect_uri or state"}));
            };
            let user = header("x-mock-user").unwrap_or_default();
            let location = if user == "denier" {
                with_query(
                    redirect,
                    &[
                        ("error", "access_denied"),
                        ("error_description", "The user said no"),
                        ("state", state),
                    ],
                )
            } else {
                let code = st.mint("CODE", &user);
                st.codes.insert(
                    code.clone(),
                    (
                        user,
                        get("code_challenge").unwrap().to_string(),
                        redirect.to_string(),
                        false,
                    ),
                );
                with_query(redirect, &[("code", &code), ("state", state)])
            };
            hyper::Response::builder()
                .status(302)
                .header("location", location)
                .body(Full::new(Bytes::new()))
                .unwrap()
        }
        ("POST", "/token") => {
            let basic = format!(
                "Basic {}",
                STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
            );
            if header("authorization").as_deref() != Some(basic.as_str()) {
                return resp(401, json!({"error": "invalid_client"}));
            }
            let f = pairs(&body);
            let get = |k: &str| f.get(k).cloned();
            match get("grant_type").as_deref() {
                Some("authorization_code") => {
                    st.exchanges += 1;
                    let verifier = get("code_verifier").unwrap_or_default();
                    st.secrets.push(verifier.clone());
                    let Some(grant) = get("code").and_then(|c| st.codes.get_mut(&c)) else {
                        return oauth_error("invalid_grant", "unknown code");
                    };
                    if grant.3 {
                        return oauth_error("invalid_grant", "code already used");
                    }
                    grant.3 = true;
                    if get("redirect_uri").as_deref() != Some(grant.2.as_str()) {
                        return oauth_error("invalid_grant", "redirect_uri mismatch");
                    }
                    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.1 {
                        return oauth_error("invalid_grant", "PKCE verification failed");
                    }
                    let user = grant.0.clone();
                    let body = st.issue(&user);
                    resp(200, body)
                }
                Some("refresh_token") => {
                    st.refreshes += 1;
                    let rt = get("refresh_token").unwrap_or_default();
                    let Some((user, true)) = st.refresh.get(&rt).cloned() else {
                        return oauth_error("invalid_grant", "refresh token unknown or spent");
                    };
                    // Rotation: the presented refresh token dies as the new one is issued.
                    st.refresh.get_mut(&rt).unwrap().1 = false;
                    let body = st.issue(&user);
                    resp(200, body)
                }
                _ => oauth_error("unsupported_grant_type", "grant_type"),
            }
        }
        ("GET", "/api/me") => {
            let token = header("authorization")
                .and_then(|a| a.strip_prefix("Bearer ").map(str::to_string))
                .unwrap_or_default();
            match st.access.get(&token).cloned() {
                Some((user, true)) => {
                    st.api_ok.push(token);
                    resp(200, json!({ "user": user }))
                }
                _ => {
                    st.api_401 += 1;
                    resp(401, json!({ "error": "invalid_token" }))
                }
            }
        }
        _ => resp(404, json!({"error": "not found"})),
    }
}

// ---- files and the binary ----

struct Env {
    dir: tempfile::TempDir,
    spec: PathBuf,
    config: PathBuf,
    secrets: PathBuf,
    store: PathBuf,
}

const SPEC: &str = r#"id: .oauth-cli
displayName: OAuth CLI test
description: Acts as the local user against a loopback API.
minimumLicense: basic
baseUrl: "{{ config.base }}"
auth:
  types: [oauth_authorization_code]
config:
  type: object
  additionalProperties: false
  properties:
    base: { type: string, maxLength: 2048 }
actions:
  me:
    description: Who am I.
    scope: read
    input: { type: object, additionalProperties: false, properties: {} }
    request: { method: GET, path: /api/me }
test:
  request: { method: GET, path: /api/me }
"#;

fn env(p: &Provider) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("oauth-cli.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let config = dir.path().join("config.json");
    let cfg = json!({
        "authType": "oauth_authorization_code",
        "base": p.url(""),
        "authorizationUrl": p.url("/authorize"),
        "tokenUrl": p.url("/token"),
        "clientId": CLIENT_ID,
        "scope": "me.read",
    });
    std::fs::write(&config, cfg.to_string()).unwrap();
    let secrets = dir.path().join("secrets.json");
    std::fs::write(
        &secrets,
        json!({ "clientSecret": CLIENT_SECRET }).to_string(),
    )
    .unwrap();
    let store = dir.path().join("state").join("connector.db");
    Env {
        dir,
        spec,
        config,
        secrets,
        store,
    }
}

fn key_env() -> String {
    format!("k1:{}", STANDARD.encode(KEY_B64))
}

/// The binary as the local user `alice`, with the test's store and key, logging at TRACE.
fn connector(e: &Env) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_connector"));
    for v in ["CONNECTOR_KEY_FILE", "CONNECTOR_HOME", "USERNAME"] {
        cmd.env_remove(v);
    }
    cmd.env("CONNECTOR_KEY", key_env())
        .env("CONNECTOR_STORE", &e.store)
        .env("USER", USER)
        .env("RUST_LOG", "trace")
        .env("NO_COLOR", "1")
        .current_dir(e.dir.path());
    cmd
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Every output of every command, for the canary scan.
#[derive(Default)]
struct Transcript(Vec<String>);

impl Transcript {
    fn record(&mut self, what: &str, out: &Output) -> (i32, String, String) {
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        self.0.push(format!("== {what}\n{stdout}\n{stderr}"));
        (out.status.code().unwrap_or(-1), stdout, stderr)
    }

    /// No token, code, verifier or client secret anywhere.
    fn assert_clean(&self, secrets: &[String]) {
        assert!(!secrets.is_empty(), "the scan has something to look for");
        for text in &self.0 {
            for secret in secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "a secret leaked into the output:\n{text}"
                );
            }
        }
    }
}

async fn run_cmd(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

async fn run_me(e: &Env, t: &mut Transcript, what: &str) -> (i32, String, String) {
    let mut cmd = connector(e);
    cmd.args([
        "run",
        &s(&e.spec),
        "me",
        "--config",
        &s(&e.config),
        "--secrets",
        &s(&e.secrets),
    ]);
    let out = run_cmd(cmd).await;
    t.record(what, &out)
}

/// A running `connector auth login` and the URL it printed.
struct Login {
    child: Child,
    url: String,
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
}

fn start_login(e: &Env, extra: &[&str]) -> Login {
    let mut cmd = connector(e);
    cmd.args([
        "auth",
        "login",
        &s(&e.spec),
        "--config",
        &s(&e.config),
        "--secrets",
        &s(&e.secrets),
    ])
    .args(extra)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut all = String::new();
        let mut reader = BufReader::new(out);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if line.trim().starts_with("http") {
                let _ = url_tx.send(line.trim().to_string());
            }
            all.push_str(&line);
            line.clear();
        }
        all
    });
    let mut err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = err.read_to_string(&mut all);
        all
    });
    // A hang guard, not a timing assertion: the URL is printed before any waiting.
    let url = url_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("`auth login` printed an authorization URL");
    Login {
        child,
        url,
        stdout,
        stderr,
    }
}

impl Login {
    fn finish(mut self, t: &mut Transcript, what: &str) -> (i32, String, String) {
        let status = self.child.wait().unwrap();
        let out = Output {
            status,
            stdout: self.stdout.join().unwrap().into_bytes(),
            stderr: self.stderr.join().unwrap().into_bytes(),
        };
        t.record(what, &out)
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

/// The browser's part: open the URL at the provider as `user`, follow the redirect to the
/// CLI's callback, return the callback URL and the page the CLI answered with.
async fn approve(url: &str, user: &str) -> (String, u16, String) {
    let b = browser();
    let r = b.get(url).header("x-mock-user", user).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302, "the provider redirects back");
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let page = b.get(&location).send().await.unwrap();
    let status = page.status().as_u16();
    (location, status, page.text().await.unwrap())
}

async fn open_store(e: &Env) -> SqliteStore {
    let keys = Keyring::parse(&key_env()).unwrap();
    SqliteStore::open(&e.store, keys).await.unwrap()
}

async fn stored(e: &Env) -> Option<connector_runtime::store::TokenRecord> {
    let store = open_store(e).await;
    let r = store
        .get_user_token(&UserTokenKey::oauth(USER, INSTANCE))
        .await
        .unwrap();
    store.close().await;
    r
}

// ---- tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_run_refresh_status_logout_as_the_local_user() {
    let p = Provider::start().await;
    let e = env(&p);
    let mut t = Transcript::default();

    // Before any login: run says to authorize first, and exits 1.
    let (code, stdout, stderr) = run_me(&e, &mut t, "run before login").await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("[not_authorized]"), "{stderr}");
    assert!(stderr.contains("connector auth login"), "{stderr}");

    // Login: the URL is printed; the browser approves at the provider and is sent back to
    // the CLI's loopback callback.
    let login = start_login(&e, &["--timeout", "120"]);
    let q = pairs(
        url::Url::parse(&login.url)
            .unwrap()
            .query()
            .unwrap()
            .as_bytes(),
    );
    let redirect = q["redirect_uri"].clone();
    assert!(
        redirect.starts_with("http://127.0.0.1:") && redirect.ends_with("/callback"),
        "{redirect}"
    );
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scope"], "me.read");
    // A request to the callback that does not carry this login's state is ignored.
    let stray = browser()
        .get(format!("{redirect}?state=forged&code=nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(stray.status().as_u16(), 400);
    let (location, status, page) = approve(&login.url, USER).await;
    assert!(location.starts_with(&redirect), "{location}");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Authorized"), "{page}");
    let (code, stdout, stderr) = login.finish(&mut t, "auth login");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("authorized: user `alice` on `.oauth-cli`"),
        "{stdout}"
    );
    assert!(stdout.contains("refreshable"), "{stdout}");
    assert_eq!(p.with(|s| s.exchanges), 1);
    let first = stored(&e).await.expect("the tokens are stored");
    assert!(first.id.to_string().starts_with("per-user:"));

    // run acts as alice: the API sees her token.
    let (code, stdout, stderr) = run_me(&e, &mut t, "run").await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap(),
        json!({"user": "alice"})
    );
    assert_eq!(
        p.with(|s| s.api_ok.clone()),
        [first.access_token.expose_secret().to_string()]
    );
    assert_eq!(p.with(|s| s.refreshes), 0);

    // The access token expires (as time passing would make it): run refreshes first, with
    // the stored refresh token, and stores the rotated one.
    {
        let store = open_store(&e).await;
        let r = first.clone();
        store
            .update_user_token(
                USER,
                &r.id,
                Some(r.version),
                TokenUpdate {
                    access_token: r.access_token.clone(),
                    refresh_token: None,
                    refresh_token_expires_at: None,
                    token_type: None,
                    scope: None,
                    expires_at: Some(Timestamp::now().minus(Duration::from_secs(60))),
                },
            )
            .await
            .unwrap();
        store.close().await;
    }
    let (code, stdout, stderr) = run_me(&e, &mut t, "run after expiry").await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap(),
        json!({"user": "alice"})
    );
    assert_eq!(p.with(|s| s.refreshes), 1, "one refresh");
    let second = stored(&e).await.unwrap();
    assert_ne!(
        second.refresh_token.as_ref().unwrap().expose_secret(),
        first.refresh_token.as_ref().unwrap().expose_secret(),
        "the rotated refresh token is stored"
    );
    assert_eq!(
        p.with(|s| s.api_ok.last().cloned()).unwrap(),
        second.access_token.expose_secret(),
        "the API saw the new token"
    );

    // The API stops accepting the token: one forced refresh and one retry.
    p.with(|s| s.access.values_mut().for_each(|v| v.1 = false));
    let (code, stdout, stderr) = run_me(&e, &mut t, "run after a 401").await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap(),
        json!({"user": "alice"})
    );
    assert_eq!(p.with(|s| (s.refreshes, s.api_401)), (2, 1));

    // The connection check runs as alice too.
    let mut cmd = connector(&e);
    cmd.args([
        "test",
        &s(&e.spec),
        "--config",
        &s(&e.config),
        "--secrets",
        &s(&e.secrets),
    ]);
    let (code, _, stderr) = t.record("test", &run_cmd(cmd).await);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("connection test of .oauth-cli passed"),
        "{stderr}"
    );

    // status: what is stored, never a value.
    let mut cmd = connector(&e);
    cmd.args(["auth", "status"]);
    let (code, stdout, stderr) = t.record("auth status", &run_cmd(cmd).await);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("user `alice`"), "{stdout}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with(".oauth-cli"))
        .unwrap_or_else(|| panic!("a row for the connector:\n{stdout}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[..3], [".oauth-cli", "oauth", "valid"], "{row}");
    assert!(row.contains(" UTC"), "{row}");
    let mut cmd = connector(&e);
    cmd.args(["auth", "status", &s(&e.spec), "--format", "json"]);
    let (code, stdout, stderr) = t.record("auth status json", &run_cmd(cmd).await);
    assert_eq!(code, 0, "{stderr}");
    let rows: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["instance"], INSTANCE);
    assert_eq!(rows[0]["credentialType"], "oauth");
    assert_eq!(rows[0]["state"], "valid");
    assert_eq!(rows[0]["revoked"], false);
    assert_eq!(rows[0]["refreshable"], true);

    // logout deletes the tokens; a second logout is harmless; run says to log in again.
    let mut cmd = connector(&e);
    cmd.args(["auth", "logout", &s(&e.spec)]);
    let (code, stdout, stderr) = t.record("auth logout", &run_cmd(cmd).await);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("logged out: deleted 1 token of user `alice` for `.oauth-cli`"),
        "{stdout}"
    );
    assert!(stored(&e).await.is_none());
    let mut cmd = connector(&e);
    cmd.args(["auth", "logout", &s(&e.spec)]);
    let (code, stdout, _) = t.record("auth logout again", &run_cmd(cmd).await);
    assert_eq!(code, 0);
    assert!(stdout.contains("nothing to delete"), "{stdout}");
    let mut cmd = connector(&e);
    cmd.args(["auth", "status"]);
    let (_, stdout, _) = t.record("auth status after logout", &run_cmd(cmd).await);
    assert!(stdout.contains("no tokens stored"), "{stdout}");
    let api_before = p.with(|s| s.api_ok.len() + s.api_401);
    let (code, stdout, stderr) = run_me(&e, &mut t, "run after logout").await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("error: auth [not_authorized]"), "{stderr}");
    assert!(stderr.contains("authorize first"), "{stderr}");
    assert!(
        stderr.contains(&format!("hint: run `connector auth login {}", s(&e.spec))),
        "{stderr}"
    );
    assert_eq!(
        p.with(|s| s.api_ok.len() + s.api_401),
        api_before,
        "no call reached the API"
    );

    // Canary: no token, code, verifier or client secret in any output, at TRACE.
    let secrets = p.with(|s| s.secrets.clone());
    // The client secret, a code, its verifier, and three access + refresh token pairs.
    assert_eq!(secrets.len(), 9, "{}", secrets.len());
    t.assert_clean(&secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_authorization_is_a_clear_error_and_stores_nothing() {
    let p = Provider::start().await;
    let e = env(&p);
    let mut t = Transcript::default();
    let login = start_login(&e, &[]);
    let (_, status, page) = approve(&login.url, "denier").await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("Authorization failed"), "{page}");
    let (code, stdout, stderr) = login.finish(&mut t, "auth login denied");
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("[authorization_denied]"), "{stderr}");
    assert!(
        stderr.contains("the user declined the authorization"),
        "{stderr}"
    );
    assert!(stored(&e).await.is_none());
    assert_eq!(p.with(|s| s.exchanges), 0);
    t.assert_clean(&p.with(|s| s.secrets.clone()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_nobody_finishes_times_out_and_its_state_is_cancelled() {
    let p = Provider::start().await;
    let e = env(&p);
    let mut t = Transcript::default();
    let login = start_login(&e, &["--timeout", "1"]);
    let url = login.url.clone();
    let (code, _, stderr) = login.finish(&mut t, "auth login timeout");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("[login_timeout]"), "{stderr}");
    // The pending authorization was deleted: a late approval finds no listener and no state.
    let q = pairs(url::Url::parse(&url).unwrap().query().unwrap().as_bytes());
    let store = open_store(&e).await;
    let consumed = store
        .consume_state(&q["state"], USER, Timestamp::now())
        .await;
    assert!(
        matches!(
            consumed,
            Err(connector_runtime::store::StoreError::StateNotFound)
        ),
        "{consumed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_refuses_a_shared_spec_and_a_missing_key() {
    let p = Provider::start().await;
    let e = env(&p);
    let shared = e.dir.path().join("shared.yaml");
    std::fs::write(
        &shared,
        SPEC.replace("[oauth_authorization_code]", "[bearer]"),
    )
    .unwrap();
    let token = e.dir.path().join("token.json");
    std::fs::write(&token, json!({ "token": "not-used" }).to_string()).unwrap();
    let mut cmd = connector(&e);
    cmd.args(["auth", "login", &s(&shared), "--secrets", &s(&token)]);
    let out = run_cmd(cmd).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("[not_per_user]"), "{stderr}");
    assert!(stderr.contains("`bearer`, which is shared"), "{stderr}");

    let mut cmd = connector(&e);
    cmd.env_remove("CONNECTOR_KEY").args([
        "auth",
        "login",
        &s(&e.spec),
        "--config",
        &s(&e.config),
        "--secrets",
        &s(&e.secrets),
    ]);
    let out = run_cmd(cmd).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("CONNECTOR_KEY"), "{stderr}");
    assert!(stderr.contains("connector keys generate"), "{stderr}");
    assert!(!e.store.exists(), "nothing was created");
}

#[test]
fn every_auth_subcommand_has_help_with_examples() {
    for args in [
        vec!["auth", "--help"],
        vec!["auth", "login", "--help"],
        vec!["auth", "status", "--help"],
        vec!["auth", "logout", "--help"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_connector"))
            .args(&args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}");
        assert!(text.contains("Examples:"), "{args:?}:\n{text}");
        assert!(text.contains("connector auth"), "{args:?}:\n{text}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_connector"))
        .args(["auth", "login", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "127.0.0.1",
        "--port",
        "--timeout",
        "PKCE",
        "--store",
        "--user",
    ] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }
}
