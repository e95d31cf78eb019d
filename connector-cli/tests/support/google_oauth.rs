//! Google's OAuth 2.0 endpoints for web server applications, as the loopback Drive and Gmail of
//! the per-user server tests serve them (one address stands for accounts.google.com and
//! oauth2.googleapis.com). The authorization endpoint (`/o/oauth2/v2/auth`) wants the client
//! id, `response_type=code`, the service's scope, `access_type=offline` and `prompt=consent`
//! (else no refresh token would come back), and PKCE S256; the token endpoint (`/token`)
//! takes the client id and secret in the form body (`client_secret_post`) and answers Google's
//! `{access_token, expires_in, refresh_token, scope, token_type: "Bearer"}`. Refusals are
//! Google's `{"error", "error_description"}`; API errors Google's `{"error": {"code",
//! "message", "errors": [...], "status"}}`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::grants::{Grants, client_in_form, logged_in, param_is};

pub const CLIENT_ID: &str = "1234567890-canary.apps.googleusercontent.com";

/// The OAuth client and the grants of one Google service.
pub struct GoogleOAuth {
    pub client_secret: String,
    /// The one scope the service's spec asks for.
    pub scope: &'static str,
    pub grants: Grants,
}

impl GoogleOAuth {
    pub fn new(client_secret: &str, scope: &'static str) -> GoogleOAuth {
        GoogleOAuth {
            client_secret: client_secret.to_string(),
            scope,
            grants: Grants::default(),
        }
    }
}

/// A Google service mock: its state holds a [`GoogleOAuth`].
pub trait Google: Send + 'static {
    fn oauth(&mut self) -> &mut GoogleOAuth;
}

/// The two OAuth routes, for the service's router.
pub fn routes<T: Google>() -> Router<Arc<Mutex<T>>> {
    Router::new()
        .route("/o/oauth2/v2/auth", get(authorize::<T>))
        .route("/token", post(token::<T>))
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description });
    (status, axum::Json(body)).into_response()
}

async fn authorize<T: Google>(
    State(s): State<Arc<Mutex<T>>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(account) = logged_in(&headers) else {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    let mut s = s.lock().unwrap();
    let o = s.oauth();
    let good = param_is(&q, "client_id", CLIENT_ID)
        && param_is(&q, "response_type", "code")
        && param_is(&q, "scope", o.scope)
        && param_is(&q, "access_type", "offline")
        && param_is(&q, "prompt", "consent")
        && param_is(&q, "code_challenge_method", "S256");
    if !good {
        return (StatusCode::BAD_REQUEST, "Error 400: invalid_request").into_response();
    }
    o.grants.code_redirect("google", &account, &q)
}

async fn token<T: Google>(
    State(s): State<Arc<Mutex<T>>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut s = s.lock().unwrap();
    let o = s.oauth();
    if !client_in_form(&headers, &f, CLIENT_ID, &o.client_secret) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized");
    }
    let Some(account) = o.grants.redeem(&f) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Bad Request");
    };
    let access = o.grants.access_token("ya29.", &account);
    let refresh = o.grants.refresh_token("1//", &account);
    axum::Json(json!({
        "access_token": access,
        "expires_in": 3599,
        "refresh_token": refresh,
        "scope": o.scope,
        "token_type": "Bearer",
    }))
    .into_response()
}

/// Google's API error (`reason` as in `errors[0].reason`).
pub fn api_error(status: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({ "error": {
        "code": status.as_u16(), "message": message,
        "errors": [{ "message": message, "domain": "global", "reason": reason }],
        "status": match status.as_u16() { 401 => "UNAUTHENTICATED", 404 => "NOT_FOUND", _ => "INVALID_ARGUMENT" },
    }});
    (status, axum::Json(body)).into_response()
}

/// 401 for a request without a valid token, as Google answers it.
pub fn unauthenticated() -> Response {
    api_error(
        StatusCode::UNAUTHORIZED,
        "authError",
        "Request had invalid authentication credentials. Expected OAuth 2 access token.",
    )
}
