//! A loopback Atlassian for the per-user tests through `connector serve`: 3LO as
//! auth.atlassian.com serves it (`/authorize` wants `audience=api.atlassian.com` and
//! `prompt=consent`; `/oauth/token` takes a JSON grant with the client in it), the
//! `accessible-resources` discovery that names each token's site, and the Jira REST API
//! behind the gateway path `/ex/jira/{cloudId}`, where only the site's own people's tokens
//! are valid. Enhanced JQL search pages two issues at a time with `nextPageToken` in the body.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::grants::{Grants, logged_in, param_is, serve};

pub const CLIENT_ID: &str = "atlassian-3lo-loopback";

pub struct Atlassian {
    client_secret: String,
    pub grants: Grants,
    /// Every search body, with the account it was for.
    pub searches: Vec<(String, Value)>,
}

pub type AtlassianState = Arc<Mutex<Atlassian>>;

/// The cloud id of an account's site.
pub fn cloud_id(account: &str) -> String {
    format!("{account}-cloud-1324a887")
}

async fn authorize(
    State(a): State<AtlassianState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(account) = logged_in(&headers) else {
        return (StatusCode::UNAUTHORIZED, "log in to Atlassian").into_response();
    };
    let good = param_is(&q, "client_id", CLIENT_ID)
        && param_is(&q, "audience", "api.atlassian.com")
        && param_is(&q, "prompt", "consent");
    if !good {
        return (StatusCode::BAD_REQUEST, "invalid authorization request").into_response();
    }
    a.lock().unwrap().grants.code_redirect("atl", &account, &q)
}

/// The JSON grant: `grant_type`, `client_id`, `client_secret`, `code`, `redirect_uri`.
async fn token(State(a): State<AtlassianState>, body: String) -> Response {
    let mut a = a.lock().unwrap();
    let Ok(Value::Object(grant)) = serde_json::from_str::<Value>(&body) else {
        let body = json!({ "error": "invalid_request", "error_description": "JSON body expected" });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    };
    let grant: HashMap<String, String> = grant
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_str()?.to_string())))
        .collect();
    if !param_is(&grant, "client_id", CLIENT_ID)
        || !param_is(&grant, "client_secret", &a.client_secret)
    {
        let body = json!({ "error": "access_denied", "error_description": "Unauthorized" });
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    let Some(account) = a.grants.redeem(&grant) else {
        let body =
            json!({ "error": "invalid_grant", "error_description": "Invalid authorization code" });
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    };
    let access = a.grants.access_token("eyJ-", &account);
    let refresh = a.grants.refresh_token("atl-rt-", &account);
    axum::Json(json!({
        "access_token": access, "refresh_token": refresh, "expires_in": 3600,
        "scope": "read:jira-work read:jira-user offline_access", "token_type": "Bearer"
    }))
    .into_response()
}

async fn accessible_resources(State(a): State<AtlassianState>, headers: HeaderMap) -> Response {
    let Some(account) = a.lock().unwrap().grants.bearer(&headers) else {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "code": 401, "message": "Unauthorized" })),
        )
            .into_response();
    };
    axum::Json(json!([{
        "id": cloud_id(&account), "name": format!("{account}'s site"),
        "url": format!("https://{account}.atlassian.net"),
        "scopes": ["read:jira-work", "read:jira-user"], "avatarUrl": "https://example.invalid/a.png"
    }]))
    .into_response()
}

async fn search(
    State(a): State<AtlassianState>,
    Path(cloud): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let mut a = a.lock().unwrap();
    let account = a
        .grants
        .bearer(&headers)
        .filter(|acc| cloud_id(acc) == cloud);
    let Some(account) = account else {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "code": 401, "message": "Unauthorized" })),
        )
            .into_response();
    };
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    a.searches.push((account.clone(), body.clone()));
    let issue = |n: u32| {
        json!({ "id": format!("1000{n}"), "key": format!("{}-{n}", account.to_uppercase()),
                                 "fields": { "summary": format!("{account}'s issue {n}") } })
    };
    match body["nextPageToken"].as_str() {
        None => axum::Json(
            json!({ "issues": [issue(1), issue(2)], "nextPageToken": "p2", "isLast": false }),
        ),
        Some("p2") => axum::Json(json!({ "issues": [issue(3)], "isLast": true })),
        Some(_) => axum::Json(json!({ "errorMessages": ["invalid nextPageToken"] })),
    }
    .into_response()
}

/// Start Atlassian on 127.0.0.1, expecting `client_secret` from [`CLIENT_ID`].
pub async fn start(client_secret: &str) -> (SocketAddr, AtlassianState) {
    let state: AtlassianState = Arc::new(Mutex::new(Atlassian {
        client_secret: client_secret.to_string(),
        grants: Grants::default(),
        searches: Vec::new(),
    }));
    let app = Router::new()
        .route("/authorize", get(authorize))
        .route("/oauth/token", post(token))
        .route(
            "/oauth/token/accessible-resources",
            get(accessible_resources),
        )
        .route("/ex/jira/{cloud}/rest/api/3/search/jql", post(search))
        .with_state(Arc::clone(&state));
    (serve(app).await, state)
}
