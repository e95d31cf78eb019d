//! A loopback OAuth world for the per-user auth tests: one hyper server on 127.0.0.1 that is
//! an OAuth provider (authorize + token endpoints, PKCE verified, refresh tokens rotated,
//! requests counted), an EARS service, and an API that answers 401 on a token it does not
//! accept; a "browser" that follows the authorization redirect; and a harness wiring a real
//! SQLite token store, [`OAuthFlows`] and a per-user connector instance together.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use connector_runtime::oauth::{CallbackParams, OAuthFlows, OAuthSettings};
use connector_runtime::store::{Keyring, OAuthStateStore, SqliteStore, Stores, TokenStore};
use connector_runtime::{
    ActionError, ConnectorInstance, Dispatcher, ExecuteOptions, InstanceRuntime, Registry,
};
use connector_spec::{ConnectorSpec, LoadOptions};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

pub const CLIENT_ID: &str = "mock-client-id";
/// The client secret: a canary that must never show up in logs, errors or `Debug`.
pub const CLIENT_SECRET: &str = "CANARYSECRET-client-7f3a9c";

/// How the provider expects the client to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Basic,
    Post,
}

/// Where the provider puts user tokens in its token response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Standard,
    /// Slack: `authed_user.{access_token,refresh_token,expires_in}`, a bot token at the top.
    Slack,
}

#[derive(Debug)]
struct CodeGrant {
    user: String,
    challenge: String,
    redirect_uri: String,
    used: bool,
}

#[derive(Debug)]
struct Issued {
    user: String,
    valid: bool,
}

struct Inner {
    client_auth: ClientAuth,
    layout: Layout,
    expires_in: u64,
    rotate_refresh: bool,
    scope_parameter: String,
    codes: HashMap<String, CodeGrant>,
    access: HashMap<String, Issued>,
    refresh: HashMap<String, Issued>,
    code_exchanges: usize,
    refreshes: HashMap<String, usize>,
    api_calls: HashMap<String, usize>,
    api_401: usize,
    always_401: HashSet<String>,
    /// Every credential the provider issued or received, for canary scans.
    secrets: Vec<String>,
    authorize_queries: Vec<Vec<(String, String)>>,
    token_requests: Vec<TokenRequestSeen>,
    counter: u64,
}

/// What a token request looked like on the wire (no secret values).
#[derive(Debug, Clone)]
pub struct TokenRequestSeen {
    pub path: String,
    pub content_type: String,
    pub has_authorization: bool,
    pub fields: Vec<String>,
}

struct Hold {
    arrived: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

struct Shared {
    inner: Mutex<Inner>,
    holds: Mutex<HashMap<String, Hold>>,
}

/// The loopback OAuth provider + EARS + API.
pub struct MockProvider {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A refresh held at the provider until released.
pub struct HeldRefresh {
    pub arrived: oneshot::Receiver<()>,
    pub release: oneshot::Sender<()>,
}

type Resp = hyper::Response<Full<Bytes>>;

fn json_resp(status: u16, v: Value) -> Resp {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(v.to_string())))
        .expect("valid response")
}

fn text_resp(status: u16, t: &str) -> Resp {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from(t.to_string())))
        .expect("valid response")
}

fn redirect(to: String) -> Resp {
    hyper::Response::builder()
        .status(302)
        .header("location", to)
        .body(Full::new(Bytes::new()))
        .expect("valid response")
}

fn oauth_error(status: u16, error: &str, description: &str) -> Resp {
    json_resp(
        status,
        json!({ "error": error, "error_description": description }),
    )
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn get<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(base).expect("redirect URI is a URL");
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

impl Inner {
    fn mint(&mut self, kind: &str, user: &str) -> String {
        self.counter += 1;
        let noise: u64 = rand::random();
        let t = format!("CANARY{kind}-{user}-{}-{noise:016x}", self.counter);
        self.secrets.push(t.clone());
        t
    }

    /// Issue an access token (and a refresh token unless `refresh` is false).
    fn issue(&mut self, user: &str, refresh: bool) -> Value {
        let at = self.mint("AT", user);
        self.access.insert(
            at.clone(),
            Issued {
                user: user.to_string(),
                valid: true,
            },
        );
        let rt = refresh.then(|| {
            let rt = self.mint("RT", user);
            self.refresh.insert(
                rt.clone(),
                Issued {
                    user: user.to_string(),
                    valid: true,
                },
            );
            rt
        });
        let mut inner = json!({
            "access_token": at,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        });
        if let Some(rt) = rt {
            inner["refresh_token"] = json!(rt);
        }
        match self.layout {
            Layout::Standard => inner,
            Layout::Slack => {
                let bot = self.mint("BOT", user);
                json!({ "ok": true, "access_token": bot, "token_type": "bot", "authed_user": inner })
            }
        }
    }
}

impl MockProvider {
    pub async fn start() -> MockProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                client_auth: ClientAuth::Basic,
                layout: Layout::Standard,
                expires_in: 3600,
                rotate_refresh: true,
                scope_parameter: "scope".into(),
                codes: HashMap::new(),
                access: HashMap::new(),
                refresh: HashMap::new(),
                code_exchanges: 0,
                refreshes: HashMap::new(),
                api_calls: HashMap::new(),
                api_401: 0,
                always_401: HashSet::new(),
                secrets: vec![CLIENT_SECRET.to_string()],
                authorize_queries: Vec::new(),
                token_requests: Vec::new(),
                counter: 0,
            }),
            holds: Mutex::new(HashMap::new()),
        });
        let stop = CancellationToken::new();
        let (s, st) = (Arc::clone(&shared), stop.clone());
        tokio::spawn(async move {
            loop {
                let sock = tokio::select! {
                    _ = st.cancelled() => break,
                    r = listener.accept() => match r { Ok((sock, _)) => sock, Err(_) => continue },
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
        MockProvider { addr, shared, stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.shared.inner.lock().unwrap())
    }

    pub fn set_client_auth(&self, a: ClientAuth) {
        self.with(|i| i.client_auth = a);
    }
    pub fn set_layout(&self, l: Layout) {
        self.with(|i| i.layout = l);
    }
    /// Whether a refresh issues a new refresh token (rotation) or none.
    pub fn set_rotate_refresh(&self, on: bool) {
        self.with(|i| i.rotate_refresh = on);
    }
    /// Lifetime (seconds) of the access tokens issued from now on.
    pub fn set_expires_in(&self, secs: u64) {
        self.with(|i| i.expires_in = secs);
    }
    pub fn set_scope_parameter(&self, p: &str) {
        self.with(|i| i.scope_parameter = p.to_string());
    }
    /// The API stops accepting every access token issued to `user` so far.
    pub fn invalidate_access_tokens(&self, user: &str) {
        self.with(|i| {
            for t in i.access.values_mut().filter(|t| t.user == user) {
                t.valid = false;
            }
        });
    }
    /// The user revokes the grant: every refresh token of `user` answers `invalid_grant`.
    pub fn revoke_grant(&self, user: &str) {
        self.with(|i| {
            for t in i.refresh.values_mut().filter(|t| t.user == user) {
                t.valid = false;
            }
        });
    }
    /// The API answers 401 to every request of `user`, whatever the token.
    pub fn always_401(&self, user: &str) {
        self.with(|i| {
            i.always_401.insert(user.to_string());
        });
    }
    /// Hold the next refresh of `user` until released.
    pub fn hold_refresh(&self, user: &str) -> HeldRefresh {
        let (arrived_tx, arrived_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        self.shared.holds.lock().unwrap().insert(
            user.to_string(),
            Hold {
                arrived: arrived_tx,
                release: release_rx,
            },
        );
        HeldRefresh {
            arrived: arrived_rx,
            release: release_tx,
        }
    }

    pub fn code_exchanges(&self) -> usize {
        self.with(|i| i.code_exchanges)
    }
    pub fn refreshes(&self, user: &str) -> usize {
        self.with(|i| i.refreshes.get(user).copied().unwrap_or(0))
    }
    pub fn total_refreshes(&self) -> usize {
        self.with(|i| i.refreshes.values().sum())
    }
    pub fn api_calls(&self, user: &str) -> usize {
        self.with(|i| i.api_calls.get(user).copied().unwrap_or(0))
    }
    pub fn api_401s(&self) -> usize {
        self.with(|i| i.api_401)
    }
    /// Every token, code and verifier the provider issued or saw, and the client secret.
    pub fn secrets(&self) -> Vec<String> {
        self.with(|i| i.secrets.clone())
    }
    pub fn authorize_queries(&self) -> Vec<Vec<(String, String)>> {
        self.with(|i| i.authorize_queries.clone())
    }
    pub fn token_requests(&self) -> Vec<TokenRequestSeen> {
        self.with(|i| i.token_requests.clone())
    }
    /// A valid access token the provider issued to `user` (for cross-user tests).
    pub fn some_valid_access_token(&self, user: &str) -> Option<String> {
        self.with(|i| {
            i.access
                .iter()
                .find(|(_, t)| t.user == user && t.valid)
                .map(|(k, _)| k.clone())
        })
    }
}

async fn handle(s: &Shared, req: hyper::Request<hyper::body::Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return text_resp(400, "unreadable body"),
    };
    let path = parts.uri.path().to_string();
    let query = query_pairs(parts.uri.query());
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (parts.method.as_str(), segments.as_slice()) {
        ("GET", ["authorize"]) => authorize(s, &query, header("x-mock-user"), false),
        ("GET", ["v1", _provider, "oauth", "authorize"]) => {
            authorize(s, &query, header("x-mock-user"), true)
        }
        ("POST", ["token"]) => {
            let form: Vec<(String, String)> =
                url::form_urlencoded::parse(&body).into_owned().collect();
            record_token_request(
                s,
                &path,
                &header("content-type"),
                header("authorization").is_some(),
                form.iter().map(|(k, _)| k.clone()).collect(),
            );
            if !client_ok(s, header("authorization"), &form) {
                return oauth_error(401, "invalid_client", "client authentication failed");
            }
            match get(&form, "grant_type") {
                Some("authorization_code") => exchange(
                    s,
                    get(&form, "code"),
                    get(&form, "code_verifier"),
                    get(&form, "redirect_uri"),
                ),
                Some("refresh_token") => refresh(s, get(&form, "refresh_token")).await,
                _ => oauth_error(400, "unsupported_grant_type", "grant_type"),
            }
        }
        ("POST", ["v1", _provider, "oauth", op]) => {
            let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                return oauth_error(400, "invalid_request", "body is not JSON");
            };
            let fields: Vec<String> = v
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            record_token_request(
                s,
                &path,
                &header("content-type"),
                header("authorization").is_some(),
                fields.clone(),
            );
            // EARS holds the OAuth client: the runtime must send no client credentials.
            if header("authorization").is_some() || fields.iter().any(|f| f.starts_with("client_"))
            {
                return oauth_error(400, "invalid_request", "client credentials sent to EARS");
            }
            let field = |k: &str| v.get(k).and_then(Value::as_str);
            match *op {
                "token" => exchange(
                    s,
                    field("code"),
                    field("pkce_verifier"),
                    field("callback_uri"),
                ),
                "refresh" => refresh(s, field("refresh_token")).await,
                "revoke" => {
                    let Some(t) = field("token") else {
                        return oauth_error(400, "invalid_request", "token");
                    };
                    let mut guard = s.inner.lock().unwrap();
                    let i = &mut *guard;
                    let user = i
                        .refresh
                        .get(t)
                        .or_else(|| i.access.get(t))
                        .map(|x| x.user.clone());
                    if let Some(u) = user {
                        for x in i.refresh.values_mut().chain(i.access.values_mut()) {
                            if x.user == u {
                                x.valid = false;
                            }
                        }
                    }
                    json_resp(200, json!({}))
                }
                _ => text_resp(404, "no such EARS operation"),
            }
        }
        ("GET", ["api", "me"]) => api(s, header("authorization")),
        _ => text_resp(404, "not found"),
    }
}

fn record_token_request(
    s: &Shared,
    path: &str,
    content_type: &Option<String>,
    has_authorization: bool,
    fields: Vec<String>,
) {
    s.inner
        .lock()
        .unwrap()
        .token_requests
        .push(TokenRequestSeen {
            path: path.to_string(),
            content_type: content_type.clone().unwrap_or_default(),
            has_authorization,
            fields,
        });
}

fn authorize(s: &Shared, q: &[(String, String)], user: Option<String>, ears: bool) -> Resp {
    let mut i = s.inner.lock().unwrap();
    i.authorize_queries.push(q.to_vec());
    let (redirect_key, challenge_key, method_key) = if ears {
        ("callback_uri", "pkce_challenge", "pkce_method")
    } else {
        ("redirect_uri", "code_challenge", "code_challenge_method")
    };
    if !ears && (get(q, "client_id") != Some(CLIENT_ID) || get(q, "response_type") != Some("code"))
    {
        return text_resp(400, "bad client_id or response_type");
    }
    if get(q, method_key) != Some("S256") {
        return text_resp(400, "PKCE S256 required");
    }
    let (Some(redirect_uri), Some(state), Some(challenge)) =
        (get(q, redirect_key), get(q, "state"), get(q, challenge_key))
    else {
        return text_resp(400, "missing redirect, state or challenge");
    };
    let Some(user) = user else {
        return text_resp(401, "log in first");
    };
    if user == "denier" {
        return redirect(with_query(
            redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "The user said no"),
                ("state", state),
            ],
        ));
    }
    i.counter += 1;
    let code = format!("CANARYCODE-{}-{:016x}", i.counter, rand::random::<u64>());
    i.secrets.push(code.clone());
    i.codes.insert(
        code.clone(),
        CodeGrant {
            user,
            challenge: challenge.to_string(),
            redirect_uri: redirect_uri.to_string(),
            used: false,
        },
    );
    redirect(with_query(
        redirect_uri,
        &[("code", &code), ("state", state)],
    ))
}

fn client_ok(s: &Shared, authorization: Option<String>, form: &[(String, String)]) -> bool {
    let mode = s.inner.lock().unwrap().client_auth;
    match mode {
        ClientAuth::Basic => {
            let expected = format!(
                "Basic {}",
                STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
            );
            authorization.as_deref() == Some(expected.as_str())
                && get(form, "client_secret").is_none()
        }
        ClientAuth::Post => {
            authorization.is_none()
                && get(form, "client_id") == Some(CLIENT_ID)
                && get(form, "client_secret") == Some(CLIENT_SECRET)
        }
    }
}

fn exchange(
    s: &Shared,
    code: Option<&str>,
    verifier: Option<&str>,
    redirect_uri: Option<&str>,
) -> Resp {
    let mut i = s.inner.lock().unwrap();
    i.code_exchanges += 1;
    if let Some(v) = verifier {
        i.secrets.push(v.to_string());
    }
    let Some(grant) = code.and_then(|c| i.codes.get_mut(c)) else {
        return oauth_error(400, "invalid_grant", "unknown authorization code");
    };
    if grant.used {
        return oauth_error(400, "invalid_grant", "authorization code already used");
    }
    grant.used = true;
    if redirect_uri != Some(grant.redirect_uri.as_str()) {
        return oauth_error(400, "invalid_grant", "redirect_uri does not match");
    }
    if verifier.map(s256).as_deref() != Some(grant.challenge.as_str()) {
        return oauth_error(400, "invalid_grant", "PKCE verification failed");
    }
    let user = grant.user.clone();
    let body = i.issue(&user, true);
    json_resp(200, body)
}

async fn refresh(s: &Shared, token: Option<&str>) -> Resp {
    let user = {
        let i = s.inner.lock().unwrap();
        token.and_then(|t| i.refresh.get(t)).map(|x| x.user.clone())
    };
    if let Some(u) = &user {
        let hold = s.holds.lock().unwrap().remove(u);
        if let Some(h) = hold {
            let _ = h.arrived.send(());
            let _ = h.release.await;
        }
    }
    let mut i = s.inner.lock().unwrap();
    let Some(user) = user else {
        return oauth_error(400, "invalid_grant", "unknown refresh token");
    };
    *i.refreshes.entry(user.clone()).or_default() += 1;
    let t = token.expect("user implies token");
    if !i.refresh.get(t).is_some_and(|x| x.valid) {
        return oauth_error(
            400,
            "invalid_grant",
            "refresh token revoked or already used",
        );
    }
    let rotate = i.rotate_refresh;
    if rotate {
        // Rotation: the old refresh token dies the moment a new one is issued.
        i.refresh.get_mut(t).expect("checked").valid = false;
    }
    let body = i.issue(&user, rotate);
    json_resp(200, body)
}

fn api(s: &Shared, authorization: Option<String>) -> Resp {
    let mut i = s.inner.lock().unwrap();
    let token = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let who = i
        .access
        .get(&token)
        .filter(|t| t.valid)
        .map(|t| t.user.clone());
    match who {
        Some(u) if !i.always_401.contains(&u) => {
            *i.api_calls.entry(u.clone()).or_default() += 1;
            json_resp(200, json!({ "user": u }))
        }
        other => {
            if let Some(u) = other {
                *i.api_calls.entry(u).or_default() += 1;
            }
            i.api_401 += 1;
            // Echo the token, as chatty APIs do: the runtime must scrub it from the error.
            json_resp(
                401,
                json!({ "error": "invalid_token", "message": format!("token {token} is not accepted") }),
            )
        }
    }
}

/// A browser that opens the authorization URL as `user` and reads where the provider sends
/// it back. Asserts the redirect goes to `redirect_uri`.
pub async fn authorize_as(url: &str, user: &str, redirect_uri: &str) -> CallbackParams {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    let resp = browser
        .get(url)
        .header("x-mock-user", user)
        .send()
        .await
        .expect("authorize request");
    assert_eq!(resp.status().as_u16(), 302, "the provider redirects back");
    let location = resp
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_string();
    let to = url::Url::parse(&location).expect("Location is a URL");
    assert!(
        location.starts_with(redirect_uri),
        "redirected to {location}, expected {redirect_uri}"
    );
    CallbackParams::from_query(to.query().unwrap_or_default())
}

/// A clock the tests move forward instead of sleeping.
#[derive(Clone, Default)]
pub struct TestClock {
    offset_secs: Arc<AtomicU64>,
}

impl TestClock {
    pub fn advance(&self, d: Duration) {
        self.offset_secs.fetch_add(d.as_secs(), Ordering::SeqCst);
    }

    pub fn clock(&self) -> connector_runtime::auth::Clock {
        let off = Arc::clone(&self.offset_secs);
        Arc::new(move || SystemTime::now() + Duration::from_secs(off.load(Ordering::SeqCst)))
    }
}

/// The per-user test connector: `me` calls `GET /api/me`.
pub fn spec() -> ConnectorSpec {
    let text = r#"id: .oauth-test
displayName: OAuth test
description: Acts as the calling user against a loopback API.
minimumLicense: basic
baseUrl: "{{ config.base }}"
auth:
  types: [oauth_authorization_code, ears]
config:
  type: object
  additionalProperties: false
  properties:
    base: { type: string, maxLength: 2048 }
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
    let loaded = connector_spec::load_str("oauth-test.yaml", text, &LoadOptions::default());
    assert!(
        !loaded.has_errors(),
        "spec errors:\n{}",
        loaded.render(false)
    );
    loaded.spec.expect("spec")
}

/// The SQLite stores in a temp dir, a fixed test key.
pub async fn store(dir: &tempfile::TempDir) -> Stores {
    let keyring = Keyring::single("test-key", &[7u8; 32]).expect("keyring");
    SqliteStore::open(&dir.path().join("tokens.db"), keyring)
        .await
        .expect("open the SQLite token store")
        .stores()
}

/// Which auth type the harness instance uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Direct,
    Ears,
}

/// Everything wired: provider, store, flows, a per-user instance registered as `connector`.
pub struct World {
    pub provider: MockProvider,
    pub dir: tempfile::TempDir,
    pub store: Arc<dyn TokenStore>,
    pub states: Arc<dyn OAuthStateStore>,
    pub flows: Arc<OAuthFlows>,
    pub clock: TestClock,
    pub runtime: InstanceRuntime,
    pub dispatcher: Arc<Dispatcher>,
    pub connector_id: String,
    pub redirect_uri: String,
}

pub const CONNECTOR: &str = "conn-oauth-1";

impl World {
    pub async fn new(mode: Mode) -> World {
        World::with_config(mode, json!({})).await
    }

    /// `extra` is merged into the instance config (e.g. `clientAuthentication`).
    pub async fn with_config(mode: Mode, extra: Value) -> World {
        let provider = MockProvider::start().await;
        let dir = tempfile::tempdir().unwrap();
        let Stores {
            tokens: store,
            states,
            ..
        } = store(&dir).await;
        let clock = TestClock::default();
        // The callback route belongs to the server (next issue); the browser only needs to
        // be sent there, so any loopback URL works.
        let redirect_uri = "http://127.0.0.1:9/oauth/callback".to_string();
        let settings = OAuthSettings::new(redirect_uri.clone())
            .unwrap()
            .with_ears_base_url(provider.url(""))
            .with_clock(clock.clock());
        let flows = OAuthFlows::new(Arc::clone(&store), Arc::clone(&states), settings).unwrap();
        let (mut config, secrets) = match mode {
            Mode::Direct => (
                json!({
                    "authType": "oauth_authorization_code",
                    "base": provider.url(""),
                    "authorizationUrl": provider.url("/authorize"),
                    "tokenUrl": provider.url("/token"),
                    "clientId": CLIENT_ID,
                    "scope": "read write",
                }),
                json!({ "clientSecret": CLIENT_SECRET }),
            ),
            Mode::Ears => (
                json!({
                    "authType": "ears",
                    "base": provider.url(""),
                    "provider": "google",
                    "scope": "drive.readonly",
                }),
                json!({}),
            ),
        };
        if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        let spec = Arc::new(spec());
        let instance = ConnectorInstance::new(Arc::clone(&spec), config, secrets).unwrap();
        flows.register(CONNECTOR, &instance).unwrap();
        let runtime = InstanceRuntime::new(instance)
            .unwrap()
            .with_user_auth(flows.user_auth(CONNECTOR).unwrap());
        let mut registry = Registry::new();
        let dispatcher = registry.register_spec((*spec).clone()).unwrap();
        World {
            provider,
            dir,
            store,
            states,
            flows,
            clock,
            runtime,
            dispatcher,
            connector_id: CONNECTOR.to_string(),
            redirect_uri,
        }
    }

    /// start -> browser at the provider -> callback, for `user`.
    pub async fn connect(&self, user: &str) -> connector_runtime::oauth::Connected {
        let started = self
            .flows
            .start(CONNECTOR, user, Default::default())
            .await
            .expect("start");
        let params = authorize_as(&started.authorization_url, user, &self.redirect_uri).await;
        self.flows.callback(user, params).await.expect("callback")
    }

    /// Run `me` as `user`.
    pub async fn me(&self, user: &str) -> Result<Value, ActionError> {
        let ctx = self.runtime.context(user, CancellationToken::new());
        self.dispatcher
            .execute(&ctx, "me", json!({}), ExecuteOptions::default())
            .await
    }
}
