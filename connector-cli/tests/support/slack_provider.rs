//! A loopback Slack for the per-user tests through `connector serve`: OAuth v2 as slack.com
//! serves it for user tokens, and two Web API methods under `/api`. The authorization
//! endpoint (`/oauth/v2/authorize`) wants the client id and the user scopes in `user_scope`
//! (a bot `scope` is refused: this app asks for none); `oauth.v2.access` takes the client by
//! HTTP Basic and answers Slack's reply for a user-scope-only grant, the user token under
//! `authed_user` and no top-level `access_token`. Every method answers HTTP 200, with
//! `{"ok": false, "error"}` on failure (`not_authed`, `invalid_auth`, ...), and only for the
//! token's account: `search.messages` pages three matches two at a time by `page`
//! (`messages.paging.total` 3), `conversations.history` serves the account's channel
//! `C0{ACCOUNT}` two messages at a time with `cursor` / `response_metadata.next_cursor` (empty
//! on the last page, as Slack sends it).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::grants::{Grants, client_basic, header_of, logged_in, param_is, query_pairs, serve};

pub const CLIENT_ID: &str = "2141029472.691202649728";
pub const USER_SCOPE: &str = "search:read channels:read groups:read im:read mpim:read channels:history groups:history im:history mpim:history";

pub struct Slack {
    client_secret: String,
    pub grants: Grants,
}

pub type SlackState = Arc<Mutex<Slack>>;

fn not_ok(error: &str) -> Response {
    axum::Json(json!({ "ok": false, "error": error })).into_response()
}

async fn authorize(
    State(s): State<SlackState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(account) = logged_in(&headers) else {
        return (StatusCode::UNAUTHORIZED, "sign in to your workspace").into_response();
    };
    if !param_is(&q, "client_id", CLIENT_ID)
        || !param_is(&q, "user_scope", USER_SCOPE)
        || q.contains_key("scope")
    {
        return (StatusCode::BAD_REQUEST, "invalid_scope").into_response();
    }
    s.lock()
        .unwrap()
        .grants
        .code_redirect("slack", &account, &q)
}

async fn access(
    State(s): State<SlackState>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut s = s.lock().unwrap();
    if !client_basic(&headers, &f, CLIENT_ID, &s.client_secret) {
        return not_ok("invalid_client_id");
    }
    let Some(account) = s.grants.redeem(&f) else {
        return not_ok("invalid_code");
    };
    let token = s.grants.access_token("xoxp-", &account);
    axum::Json(json!({
        "ok": true, "app_id": "A0KRD7HC3",
        "authed_user": { "id": user_id(&account), "scope": USER_SCOPE.replace(' ', ","),
                         "access_token": token, "token_type": "user" },
        "team": { "id": "T9TK3CUKW", "name": "Slack Softworks" },
        "enterprise": null, "is_enterprise_install": false
    }))
    .into_response()
}

/// `account`'s Slack user id (`U0ALICE`).
pub fn user_id(account: &str) -> String {
    format!("U0{}", account.to_uppercase())
}

/// `account`'s channel (`C0ALICE`).
pub fn channel_id(account: &str) -> String {
    format!("C0{}", account.to_uppercase())
}

/// The caller of a Web API request (recorded) and its query, or Slack's refusal.
fn caller(
    s: &mut Slack,
    headers: &HeaderMap,
    method: &str,
    raw: Option<&str>,
) -> Result<(String, HashMap<String, String>), Box<Response>> {
    if header_of(headers, "authorization").is_none() {
        return Err(Box::new(not_ok("not_authed")));
    }
    let Some(account) = s.grants.bearer(headers) else {
        return Err(Box::new(not_ok("invalid_auth")));
    };
    let query = query_pairs(raw);
    s.grants.record(&account, method, query.clone());
    Ok((account, query.into_iter().collect()))
}

fn matched(account: &str, i: u32) -> Value {
    let ts = format!("1764979{i}00.000100");
    json!({ "iid": format!("iid-{i}"), "team": "T9TK3CUKW", "type": "message",
            "channel": { "id": channel_id(account), "name": format!("{account}-notes"), "is_private": true },
            "user": user_id(account), "username": account, "ts": ts, "text": format!("{account}'s match {i}"),
            "permalink": format!("https://softworks.slack.com/archives/{}/p{i}", channel_id(account)) })
}

async fn search(
    State(s): State<SlackState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut s = s.lock().unwrap();
    let (account, q) = match caller(&mut s, &headers, "/search.messages", raw.as_deref()) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let matches = match q.get("page").map(String::as_str) {
        None | Some("1") => vec![matched(&account, 1), matched(&account, 2)],
        Some("2") => vec![matched(&account, 3)],
        Some(_) => vec![],
    };
    let page: u32 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    axum::Json(json!({
        "ok": true, "query": q.get("query"),
        "messages": { "total": 3, "matches": matches,
                      "paging": { "count": 2, "total": 3, "page": page, "pages": 2 } }
    }))
    .into_response()
}

async fn history(
    State(s): State<SlackState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut s = s.lock().unwrap();
    let (account, q) = match caller(&mut s, &headers, "/conversations.history", raw.as_deref()) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if !param_is(&q, "channel", &channel_id(&account)) {
        return not_ok("channel_not_found");
    }
    let msg = |i: u32| {
        json!({ "type": "message", "user": user_id(&account),
                               "text": format!("{account} says {i}"), "ts": format!("17649{i}0000.000200") })
    };
    let next = format!("bmV4dF90czo{account}");
    let (messages, cursor) = match q.get("cursor") {
        None => (vec![msg(4), msg(3)], next.as_str()),
        Some(c) if *c == next => (vec![msg(2), msg(1)], ""),
        Some(_) => return not_ok("invalid_cursor"),
    };
    axum::Json(json!({
        "ok": true, "messages": messages, "has_more": !cursor.is_empty(), "pin_count": 0,
        "response_metadata": { "next_cursor": cursor }
    }))
    .into_response()
}

/// Start the Slack on 127.0.0.1, expecting `client_secret` from [`CLIENT_ID`].
pub async fn start(client_secret: &str) -> (SocketAddr, SlackState) {
    let state: SlackState = Arc::new(Mutex::new(Slack {
        client_secret: client_secret.to_string(),
        grants: Grants::default(),
    }));
    let app = Router::new()
        .route("/oauth/v2/authorize", get(authorize))
        .route("/api/oauth.v2.access", post(access))
        .route("/api/search.messages", get(search))
        .route("/api/conversations.history", get(history))
        .with_state(Arc::clone(&state));
    (serve(app).await, state)
}
