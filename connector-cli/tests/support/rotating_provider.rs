//! A strict loopback OAuth provider for the scale-out tests: every refresh rotates the refresh
//! token, and a superseded refresh token presented again is refused with `invalid_grant` and
//! recorded (what a provider with no reuse grace does). It counts rotations, can hold refreshes
//! at a gate (so a test can kill a server while refreshes are in flight), and can refuse every
//! access token issued so far at its API (which makes the servers refresh).
//!
//! A refresh cut off before the gate opened (its client died) is never rotated: the handler's
//! future is dropped with the connection, so the old refresh token stays the live one.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::watch;

pub const CLIENT_ID: &str = "client-1";

/// What the provider knows; read through [`Rotating`].
#[derive(Default)]
pub struct Books {
    pub client_secret: String,
    codes: HashMap<String, String>,
    /// access token -> (account, sequence number)
    access: HashMap<String, (String, u64)>,
    /// live refresh token -> account
    live_refresh: HashMap<String, String>,
    /// refresh tokens rotated away
    superseded: HashSet<String>,
    /// Access tokens with a sequence number up to this are refused by the API.
    refuse_up_to: u64,
    seq: u64,
    /// Successful refreshes (rotations), per account.
    pub rotations: HashMap<String, u64>,
    /// Superseded refresh tokens presented (must stay empty).
    pub superseded_presented: Vec<String>,
    /// Refreshes waiting at the gate now.
    pub waiting: u64,
}

/// A handle on a running provider.
#[derive(Clone)]
pub struct Rotating {
    pub addr: SocketAddr,
    books: Arc<Mutex<Books>>,
    gate: Arc<watch::Sender<bool>>,
}

impl Rotating {
    pub async fn start(client_secret: &str) -> Rotating {
        let (gate, _) = watch::channel(true);
        let p = Rotating {
            addr: "127.0.0.1:0".parse().unwrap(),
            books: Arc::new(Mutex::new(Books {
                client_secret: client_secret.to_string(),
                ..Books::default()
            })),
            gate: Arc::new(gate),
        };
        let app = Router::new()
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/api/me", get(me))
            .with_state(p.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Rotating { addr, ..p }
    }

    pub fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().unwrap()
    }

    /// Total rotations so far.
    pub fn rotations(&self) -> u64 {
        self.books().rotations.values().sum()
    }

    /// Hold (`false`) or release (`true`) every refresh at the gate.
    pub fn set_gate(&self, open: bool) {
        self.gate.send_replace(open);
    }

    /// The API refuses every access token issued so far (401), as after a revocation.
    pub fn refuse_current_access_tokens(&self) {
        let mut b = self.books();
        b.refuse_up_to = b.seq;
    }
}

async fn authorize(
    State(p): State<Rotating>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let account = match crate::support::provider::login(&headers, &q) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let mut b = p.books();
    b.seq += 1;
    let code = format!("code-{account}-{}", b.seq);
    b.codes.insert(code.clone(), account);
    crate::support::provider::redirect_with_code(&q, &code)
}

fn error(status: StatusCode, code: &str) -> Response {
    (status, axum::Json(json!({ "error": code }))).into_response()
}

fn client_ok(b: &Books, headers: &HeaderMap) -> bool {
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{CLIENT_ID}:{}", b.client_secret))
    );
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str())
}

/// Issue a token pair for `account` with a lifetime in seconds: the first (from a code) lives
/// one second, so the first action after it refreshes; refreshed ones live an hour.
fn issue(b: &mut Books, account: &str, lifetime: u64) -> Response {
    b.seq += 1;
    let access = format!("at-{account}-{}", b.seq);
    b.access
        .insert(access.clone(), (account.to_string(), b.seq));
    let refresh = format!("rt-{account}-{}", b.seq);
    b.live_refresh.insert(refresh.clone(), account.to_string());
    axum::Json(json!({
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": lifetime,
    }))
    .into_response()
}

async fn token(
    State(p): State<Rotating>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !client_ok(&p.books(), &headers) {
        return error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let mut b = p.books();
            match f.get("code").and_then(|c| b.codes.remove(c)) {
                Some(account) => issue(&mut b, &account, 1),
                None => error(StatusCode::BAD_REQUEST, "invalid_grant"),
            }
        }
        Some("refresh_token") => {
            let presented = f.get("refresh_token").cloned().unwrap_or_default();
            wait_at_gate(&p).await;
            rotate(&mut p.books(), &presented)
        }
        _ => error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

/// Wait while the gate is closed. If the client goes away meanwhile, hyper drops this future
/// and nothing is rotated.
async fn wait_at_gate(p: &Rotating) {
    let mut rx = p.gate.subscribe();
    if *rx.borrow() {
        return;
    }
    struct Waiting<'a>(&'a Rotating);
    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            self.0.books().waiting -= 1;
        }
    }
    p.books().waiting += 1;
    let _w = Waiting(p);
    let _ = rx.wait_for(|open| *open).await;
}

fn rotate(b: &mut Books, presented: &str) -> Response {
    if b.superseded.contains(presented) {
        b.superseded_presented.push(presented.to_string());
        return error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let Some(account) = b.live_refresh.remove(presented) else {
        return error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    b.superseded.insert(presented.to_string());
    *b.rotations.entry(account.clone()).or_default() += 1;
    issue(b, &account, 3600)
}

async fn me(State(p): State<Rotating>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let b = p.books();
    match b.access.get(bearer) {
        Some((account, seq)) if *seq > b.refuse_up_to => {
            axum::Json(json!({ "account": account })).into_response()
        }
        _ => (StatusCode::UNAUTHORIZED, "invalid token").into_response(),
    }
}
