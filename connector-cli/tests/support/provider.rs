//! A loopback OAuth provider and API for the end-to-end tests of per-user instances: the
//! authorization endpoint logs in whoever the browser says it is (`x-account`), the token
//! endpoint checks the client (`client-1` and the secret the test gives) and issues
//! short-lived canary tokens with refresh tokens, and `/api/me` answers as the account the
//! bearer token belongs to. Everything it issues starts with [`CANARY`], for the leak scans.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

/// The prefix of every code and token the provider issues.
pub const CANARY: &str = "CANARY-";

/// The provider's memory; tests reach it through [`MockState`] to change its behaviour.
#[derive(Default)]
pub struct Mock {
    /// The client secret the token endpoint expects (with client id `client-1`).
    pub client_secret: String,
    /// code -> account
    pub codes: HashMap<String, String>,
    /// access token -> account
    pub tokens: HashMap<String, String>,
    /// refresh token -> account
    pub refresh: HashMap<String, String>,
    /// Refreshes answer 503 while set.
    pub fail_refresh: bool,
    /// Access tokens the API refuses (as if revoked), which makes the server refresh.
    pub rejected: HashSet<String>,
    pub seq: u64,
}

pub type MockState = Arc<Mutex<Mock>>;

/// The provider's login: the account is whoever the browser says it is (`x-account`).
async fn authorize(
    State(m): State<MockState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let account = match login(&headers, &q) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let mut m = m.lock().unwrap();
    m.seq += 1;
    let code = format!("{CANARY}code-{account}-{}", m.seq);
    m.codes.insert(code.clone(), account);
    redirect_with_code(&q, &code)
}

/// The account an authorization request logs in as (`x-account`), once the request is one of
/// client `client-1` with PKCE S256; otherwise the error page.
pub fn login(
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Result<String, (StatusCode, &'static str)> {
    let Some(account) = headers.get("x-account").and_then(|v| v.to_str().ok()) else {
        return Err((StatusCode::UNAUTHORIZED, "log in first"));
    };
    if q.get("client_id").map(String::as_str) != Some("client-1")
        || q.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return Err((StatusCode::BAD_REQUEST, "bad authorization request"));
    }
    Ok(account.to_string())
}

/// The redirect back to the client with `code` and the request's `state`.
pub fn redirect_with_code(q: &HashMap<String, String>, code: &str) -> Response {
    let mut to = url::Url::parse(&q["redirect_uri"]).unwrap();
    to.query_pairs_mut()
        .append_pair("code", code)
        .append_pair("state", &q["state"]);
    (StatusCode::FOUND, [(header::LOCATION, to.to_string())]).into_response()
}

fn error(status: StatusCode, code: &str) -> Response {
    (status, axum::Json(json!({ "error": code }))).into_response()
}

async fn token(
    State(m): State<MockState>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    use base64::Engine;
    let mut m = m.lock().unwrap();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("client-1:{}", m.client_secret))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let account = match f.get("grant_type").map(String::as_str) {
        Some("refresh_token") if m.fail_refresh => {
            return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
        }
        // Old refresh tokens stay valid (as with providers that do not rotate, or rotate
        // with a grace period): a refresh cut off by SIGKILL can be repeated.
        Some("refresh_token") => f
            .get("refresh_token")
            .and_then(|r| m.refresh.get(r).cloned()),
        _ => f.get("code").and_then(|c| m.codes.remove(c)),
    };
    let Some(account) = account else {
        return error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    m.seq += 1;
    let access = format!("{CANARY}at-{account}-{}", m.seq);
    m.tokens.insert(access.clone(), account.clone());
    let refresh = format!("{CANARY}rt-{account}-{}", m.seq);
    m.refresh.insert(refresh.clone(), account);
    // 30 s is inside the runtime's 60 s refresh margin: every action refreshes first.
    axum::Json(json!({
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": 30,
        "scope": "files.read profile",
    }))
    .into_response()
}

async fn me(State(m): State<MockState>, headers: HeaderMap) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let m = m.lock().unwrap();
    if m.rejected.contains(&auth) {
        return (StatusCode::UNAUTHORIZED, "revoked").into_response();
    }
    match m.tokens.get(&auth).cloned() {
        Some(a) => {
            axum::Json(json!({ "account": a, "files": [format!("{a}-notes.txt")] })).into_response()
        }
        None => (StatusCode::UNAUTHORIZED, "no").into_response(),
    }
}

/// An API that sends its caller to the cloud metadata address (IPv4-mapped IPv6 form).
async fn redirect_to_metadata() -> Response {
    (
        StatusCode::FOUND,
        [(
            header::LOCATION,
            "http://[::ffff:169.254.169.254]/latest/meta-data/",
        )],
    )
        .into_response()
}

/// Start the provider on 127.0.0.1, expecting `client_secret` from client `client-1`.
pub async fn start(client_secret: &str) -> (SocketAddr, MockState) {
    let state: MockState = Arc::new(Mutex::new(Mock {
        client_secret: client_secret.to_string(),
        ..Mock::default()
    }));
    let app = Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/api/me", get(me))
        .route("/redirect/api/me", get(redirect_to_metadata))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, state)
}

/// The body of `POST /api/instances` for a per-user instance `id` of `connector_type` whose API,
/// authorization and token endpoints are the provider at `mock` (client `client-1`).
pub fn per_user_instance(
    mock: SocketAddr,
    id: &str,
    connector_type: &str,
    base: &str,
    client_secret: &str,
) -> serde_json::Value {
    json!({
        "id": id,
        "connectorType": connector_type,
        "name": "Files",
        "config": {
            "authType": "oauth_authorization_code",
            "base": base,
            "authorizationUrl": format!("http://{mock}/authorize"),
            "tokenUrl": format!("http://{mock}/token"),
            "clientId": "client-1",
        },
        "secrets": { "clientSecret": client_secret },
    })
}

/// A per-user connector type (`id`) acting as the calling user against [`start`]'s API.
pub fn per_user_spec(id: &str) -> String {
    format!(
        r#"id: {id}
displayName: Per-user test
description: Acts as the calling user against a loopback API.
minimumLicense: basic
baseUrl: "{{{{ config.base }}}}"
auth:
  types: [oauth_authorization_code]
config:
  type: object
  additionalProperties: false
  properties:
    base: {{ type: string, maxLength: 2048 }}
actions:
  me:
    description: Who am I.
    scope: read
    input:
      type: object
      additionalProperties: false
      properties: {{}}
    request:
      method: GET
      path: /api/me
"#
    )
}
