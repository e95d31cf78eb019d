//! A loopback Notion for the per-user tests through `connector serve`: its OAuth endpoints
//! behave like Notion's (the authorization URL must carry `owner=user`; the token endpoint
//! takes HTTP Basic client authentication and a JSON grant, and answers with Notion's token
//! object), and `POST /v1/search` pages each account's own pages with the cursor in the JSON
//! body (`start_cursor` / `page_size` in, `has_more` / `next_cursor` out). The account logging
//! in is whoever the browser says it is (`x-account`). Everything it issues starts with
//! [`super::provider::CANARY`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::provider::{CANARY, redirect_with_code};

pub const CLIENT_ID: &str = "notion-client-1";

#[derive(Default)]
pub struct Notion {
    client_secret: String,
    codes: HashMap<String, String>,
    tokens: HashMap<String, String>,
    /// Every search body received, with the account it was for.
    pub searches: Vec<(String, Value)>,
    seq: u64,
}

pub type NotionState = Arc<Mutex<Notion>>;

fn notion_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body =
        json!({ "object": "error", "status": status.as_u16(), "code": code, "message": message });
    (status, axum::Json(body)).into_response()
}

async fn authorize(
    State(n): State<NotionState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(account) = headers.get("x-account").and_then(|v| v.to_str().ok()) else {
        return (StatusCode::UNAUTHORIZED, "log in first").into_response();
    };
    let good = q.get("owner").map(String::as_str) == Some("user")
        && q.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && q.get("response_type").map(String::as_str) == Some("code");
    if !good {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let mut n = n.lock().unwrap();
    n.seq += 1;
    let code = format!("{CANARY}notion-code-{account}-{}", n.seq);
    n.codes.insert(code.clone(), account.to_string());
    redirect_with_code(&q, &code)
}

async fn token(State(n): State<NotionState>, headers: HeaderMap, body: String) -> Response {
    use base64::Engine;
    let mut n = n.lock().unwrap();
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{CLIENT_ID}:{}", n.client_secret));
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth != Some(format!("Basic {basic}").as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    // Notion reads the grant as JSON only.
    let Ok(grant) = serde_json::from_str::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": "invalid_request" })),
        )
            .into_response();
    };
    let account = match grant["grant_type"].as_str() {
        Some("authorization_code") => grant["code"].as_str().and_then(|c| n.codes.remove(c)),
        _ => None,
    };
    let Some(account) = account else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": "invalid_grant" })),
        )
            .into_response();
    };
    n.seq += 1;
    let access = format!("{CANARY}ntn-{account}-{}", n.seq);
    n.tokens.insert(access.clone(), account.clone());
    axum::Json(json!({
        "access_token": access,
        "token_type": "bearer",
        "refresh_token": format!("{CANARY}nrt-{account}-{}", n.seq),
        "bot_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
        "workspace_name": format!("{account}'s workspace"),
        "workspace_icon": null,
        "workspace_id": format!("ws-{account}"),
        "owner": { "type": "user", "user": { "object": "user", "id": format!("user-{account}") } },
        "duplicated_template_id": null,
        "request_id": "r-1"
    }))
    .into_response()
}

/// The account a bearer token belongs to.
fn account_of(n: &Notion, headers: &HeaderMap) -> Option<String> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?;
    n.tokens.get(token).cloned()
}

/// Three pages per account, two per page: `start_cursor` absent → 1 and 2, `c2` → 3.
async fn search(State(n): State<NotionState>, headers: HeaderMap, body: String) -> Response {
    let mut n = n.lock().unwrap();
    if headers.get("notion-version").and_then(|v| v.to_str().ok()) != Some("2025-09-03") {
        return notion_error(StatusCode::BAD_REQUEST, "missing_version", "Notion-Version");
    }
    let Some(account) = account_of(&n, &headers) else {
        return notion_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "API token is invalid.",
        );
    };
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return notion_error(StatusCode::BAD_REQUEST, "invalid_json", "body is not JSON");
    };
    n.searches.push((account.clone(), body.clone()));
    let page = |i: u32| {
        json!({ "object": "page", "id": format!("{account}-page-{i}"),
                "url": format!("https://www.notion.so/{account}-{i}"),
                "last_edited_time": "2026-12-01T09:00:00.000Z", "properties": {} })
    };
    let (results, next) = match body["start_cursor"].as_str() {
        None => (vec![page(1), page(2)], json!("c2")),
        Some("c2") => (vec![page(3)], Value::Null),
        Some(_) => return notion_error(StatusCode::BAD_REQUEST, "validation_error", "bad cursor"),
    };
    axum::Json(json!({
        "object": "list", "results": results, "next_cursor": next,
        "has_more": !next.is_null(), "type": "page_or_data_source", "page_or_data_source": {}
    }))
    .into_response()
}

/// Start the Notion on 127.0.0.1, expecting `client_secret` from [`CLIENT_ID`].
pub async fn start(client_secret: &str) -> (SocketAddr, NotionState) {
    let state: NotionState = Arc::new(Mutex::new(Notion {
        client_secret: client_secret.to_string(),
        ..Notion::default()
    }));
    let app = Router::new()
        .route("/v1/oauth/authorize", get(authorize))
        .route("/v1/oauth/token", post(token))
        .route("/v1/search", post(search))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, state)
}
