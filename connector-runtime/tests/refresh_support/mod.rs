//! A loopback OAuth provider for refresh storms, shared by the kill test (`tests/kill.rs`)
//! and the refresh benchmark (`benches/refresh.rs`): a token endpoint that rotates the
//! refresh token on every refresh ([`Rotation`] says when the old one stops working), keeping
//! a ledger of every token it issued per user (and whether each was presented or used), an
//! API that names the owner of an access token, and a switch that holds refresh requests
//! before they touch any token.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use connector_runtime::ConnectorInstance;
use connector_runtime::store::{Keyring, SqliteStore};
use connector_spec::{ConnectorSpec, LoadOptions};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

pub const CLIENT_ID: &str = "storm-client";
pub const CLIENT_SECRET: &str = "storm-client-secret";
/// The connector instance id the tokens are stored under.
pub const CONNECTOR: &str = "storm-conn";

/// When a rotated-out refresh token stops working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// At once: only the newest refresh token of a grant is accepted, once. A rotation whose
    /// response never reaches the client leaves it holding a dead token.
    Strict,
    /// When its successor is first used (its refresh token presented or its access token
    /// sent to the API): until then the previous refresh token is still accepted, and
    /// presenting it abandons the unused successor and issues a new one. This is rotation
    /// with a grace for lost responses, as OAuth 2.0 Security BCP (RFC 9700, 4.14.2) allows
    /// and providers offer (Okta's grace period, Auth0's reuse interval). Presenting a token
    /// whose successor was used is refused (reuse).
    UntilSuccessorUsed,
}

/// One rotation of a user's grant: the tokens issued together.
#[derive(Debug, Clone)]
pub struct Link {
    pub refresh_token: String,
    pub access_token: String,
    /// A refresh request carried this refresh token.
    pub presented: bool,
    /// The API received this access token.
    pub used: bool,
    /// [`Rotation::UntilSuccessorUsed`]: the client presented the previous refresh token
    /// again before using this link, so the provider dropped this link's tokens.
    pub abandoned: bool,
}

impl Link {
    /// The client showed it holds this link's tokens.
    pub fn confirmed(&self) -> bool {
        self.presented || self.used
    }
}

/// What a held refresh request carried.
#[derive(Debug, Clone)]
pub struct Held {
    pub user: String,
    pub refresh_token: String,
}

#[derive(Default)]
struct Ledger {
    /// user -> every link issued, oldest first; only the last refresh token is unspent.
    chains: HashMap<String, Vec<Link>>,
    /// refresh token -> (user, index in the chain)
    by_refresh: HashMap<String, (String, usize)>,
    /// access token -> (user, index in the chain)
    by_access: HashMap<String, (String, usize)>,
    /// successful refreshes per user
    refreshes: HashMap<String, usize>,
    refused: usize,
    api_calls: usize,
    held: Vec<Held>,
    counter: u64,
}

struct Shared {
    ledger: Mutex<Ledger>,
    expires_in: u64,
    rotation: Rotation,
    /// Successful refreshes in all, for waiters.
    refreshed: AtomicUsize,
    changed: Notify,
    /// `Gate::Open`: refreshes are served. `Gate::Hold`: they wait before touching any
    /// token. `Gate::Drop`: waiting ones answer 503 without rotating.
    hold: watch::Sender<Gate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    Hold,
    Drop,
}

/// The provider + API on 127.0.0.1.
pub struct StormProvider {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

type Resp = hyper::Response<Full<Bytes>>;

fn json_resp(status: u16, v: Value) -> Resp {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(v.to_string())))
        .expect("valid response")
}

impl Ledger {
    fn mint(&mut self, kind: &str, user: &str) -> String {
        self.counter += 1;
        format!(
            "{kind}-{user}-{}-{:016x}",
            self.counter,
            rand::random::<u64>()
        )
    }

    fn issue(&mut self, user: &str) -> Link {
        let link = Link {
            refresh_token: self.mint("rt", user),
            access_token: self.mint("at", user),
            presented: false,
            used: false,
            abandoned: false,
        };
        let chain = self.chains.entry(user.to_string()).or_default();
        let idx = chain.len();
        chain.push(link.clone());
        self.by_refresh
            .insert(link.refresh_token.clone(), (user.to_string(), idx));
        self.by_access
            .insert(link.access_token.clone(), (user.to_string(), idx));
        link
    }
}

impl StormProvider {
    /// Start on an ephemeral loopback port with [`Rotation::Strict`]. Access tokens live
    /// `expires_in` seconds (0: every use needs a refresh first).
    pub async fn start(expires_in: u64) -> StormProvider {
        StormProvider::start_with(expires_in, Rotation::Strict).await
    }

    /// [`StormProvider::start`] with the given rotation.
    pub async fn start_with(expires_in: u64, rotation: Rotation) -> StormProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let (hold, _) = watch::channel(Gate::Open);
        let shared = Arc::new(Shared {
            ledger: Mutex::new(Ledger::default()),
            expires_in,
            rotation,
            refreshed: AtomicUsize::new(0),
            changed: Notify::new(),
            hold,
        });
        let s = Arc::clone(&shared);
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let s = Arc::clone(&s);
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let s = Arc::clone(&s);
                        async move { Ok::<_, Infallible>(handle(s, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(sock), svc)
                        .await;
                });
            }
        });
        StormProvider { addr, shared }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Issue a first token set to `user` (as a completed authorization would).
    pub fn grant(&self, user: &str) -> Link {
        self.shared.ledger.lock().unwrap().issue(user)
    }

    pub fn set_gate(&self, h: Gate) {
        self.shared.hold.send_replace(h);
        self.shared.changed.notify_waiters();
    }

    /// Successful refreshes in all.
    pub fn refreshes(&self) -> usize {
        self.shared.refreshed.load(Ordering::SeqCst)
    }

    pub fn refreshes_of(&self, user: &str) -> usize {
        let l = self.shared.ledger.lock().unwrap();
        l.refreshes.get(user).copied().unwrap_or(0)
    }

    /// Refresh requests refused (unknown, spent or abandoned refresh token).
    pub fn refused(&self) -> usize {
        self.shared.ledger.lock().unwrap().refused
    }

    pub fn api_calls(&self) -> usize {
        self.shared.ledger.lock().unwrap().api_calls
    }

    pub fn chain(&self, user: &str) -> Vec<Link> {
        let l = self.shared.ledger.lock().unwrap();
        l.chains.get(user).cloned().unwrap_or_default()
    }

    pub fn held(&self) -> Vec<Held> {
        self.shared.ledger.lock().unwrap().held.clone()
    }

    /// Wait until `cond` holds (checked after every change at the provider).
    pub async fn until(&self, mut cond: impl FnMut(&StormProvider) -> bool) {
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if cond(self) {
                return;
            }
            changed.await;
        }
    }
}

async fn handle(s: Arc<Shared>, req: hyper::Request<hyper::body::Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    match (parts.method.as_str(), parts.uri.path()) {
        ("POST", "/token") => {
            let form: HashMap<String, String> =
                url::form_urlencoded::parse(&body).into_owned().collect();
            if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
                return json_resp(400, json!({"error": "unsupported_grant_type"}));
            }
            let rt = form.get("refresh_token").cloned().unwrap_or_default();
            // Like a real provider, finish the work even if the client goes away meanwhile
            // (hyper drops this future when the connection closes).
            let s = Arc::clone(&s);
            tokio::spawn(async move { refresh(&s, rt).await })
                .await
                .unwrap_or_else(|_| json_resp(500, json!({"error": "server_error"})))
        }
        ("GET", "/api/me") => {
            let token = parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|a| a.strip_prefix("Bearer "))
                .unwrap_or_default()
                .to_string();
            let mut l = s.ledger.lock().unwrap();
            l.api_calls += 1;
            let Some((user, idx)) = l.by_access.get(&token).cloned() else {
                return json_resp(401, json!({"error": "invalid_token"}));
            };
            l.chains.get_mut(&user).expect("chain")[idx].used = true;
            drop(l);
            s.changed.notify_waiters();
            json_resp(200, json!({ "user": user }))
        }
        _ => json_resp(404, json!({"error": "not found"})),
    }
}

async fn refresh(s: &Shared, rt: String) -> Resp {
    let owner = s.ledger.lock().unwrap().by_refresh.get(&rt).cloned();
    if let Some((user, _)) = &owner {
        let mut hold = s.hold.subscribe();
        if *hold.borrow_and_update() == Gate::Hold {
            s.ledger.lock().unwrap().held.push(Held {
                user: user.clone(),
                refresh_token: rt.clone(),
            });
            s.changed.notify_waiters();
            let _ = hold.wait_for(|h| *h != Gate::Hold).await;
            if *hold.borrow() == Gate::Drop {
                return json_resp(503, json!({"error": "temporarily_unavailable"}));
            }
        }
    }
    let mut l = s.ledger.lock().unwrap();
    let Some((user, idx)) = owner else {
        l.refused += 1;
        return json_resp(
            400,
            json!({"error": "invalid_grant", "error_description": "unknown refresh token"}),
        );
    };
    let chain = l.chains.get_mut(&user).expect("chain");
    let accepted = match s.rotation {
        // Only the newest refresh token of a grant is accepted, once.
        Rotation::Strict => idx + 1 == chain.len(),
        // Accepted while no later link was used (an abandoned link is not in `by_refresh`).
        Rotation::UntilSuccessorUsed => {
            !chain[idx].abandoned && chain[idx + 1..].iter().all(|l| !l.confirmed())
        }
    };
    chain[idx].presented = true;
    if !accepted {
        l.refused += 1;
        drop(l);
        s.changed.notify_waiters();
        return json_resp(
            400,
            json!({"error": "invalid_grant", "error_description": "refresh token already used"}),
        );
    }
    // The successors the client never used are dropped: their tokens no longer work.
    let abandoned: Vec<Link> = chain[idx + 1..].to_vec();
    for link in chain.iter_mut().skip(idx + 1) {
        link.abandoned = true;
    }
    for link in abandoned {
        l.by_refresh.remove(&link.refresh_token);
        l.by_access.remove(&link.access_token);
    }
    let link = l.issue(&user);
    *l.refreshes.entry(user).or_default() += 1;
    drop(l);
    s.refreshed.fetch_add(1, Ordering::SeqCst);
    s.changed.notify_waiters();
    json_resp(
        200,
        json!({
            "access_token": link.access_token,
            "refresh_token": link.refresh_token,
            "token_type": "Bearer",
            "expires_in": s.expires_in,
        }),
    )
}

/// The per-user connector: `me` calls `GET /api/me` as the calling user.
pub fn spec() -> ConnectorSpec {
    let text = r#"id: .storm
displayName: Refresh storm
description: Acts as the calling user against a loopback API.
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
"#;
    let loaded = connector_spec::load_str("storm.yaml", text, &LoadOptions::default());
    assert!(!loaded.has_errors(), "{}", loaded.render(false));
    loaded.spec.expect("spec")
}

/// A per-user instance whose token endpoint is the provider at `base`.
pub fn instance(spec: Arc<ConnectorSpec>, base: &str) -> ConnectorInstance {
    ConnectorInstance::new(
        spec,
        json!({
            "authType": "oauth_authorization_code",
            "base": base,
            "authorizationUrl": format!("{base}/authorize"),
            "tokenUrl": format!("{base}/token"),
            "clientId": CLIENT_ID,
        }),
        json!({ "clientSecret": CLIENT_SECRET }),
    )
    .expect("instance")
}

pub fn keyring() -> Keyring {
    Keyring::single("storm", &[5u8; 32]).expect("keyring")
}

pub async fn open_store(path: &std::path::Path) -> SqliteStore {
    SqliteStore::open(path, keyring())
        .await
        .expect("open the SQLite token store")
}
