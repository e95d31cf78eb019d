//! A loopback Gmail for the per-user tests through `connector serve`: Google's OAuth
//! ([`super::google_oauth`], scope `gmail.readonly`) and two Gmail v1 methods on the user id
//! `me`, each answering only with a valid token and only the token's account's mail.
//! `users.messages.list` wants `Accept: application/json` and pages each account's three
//! messages two at a time with `pageToken` / `nextPageToken` (ids and thread ids only, the
//! last page without `nextPageToken`); `users.messages.get` wants a `format` and, with
//! `format=metadata`, answers only the headers named by the repeated `metadataHeaders`
//! parameter (404 `notFound` for a message of another account).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::google_oauth::{self, Google, GoogleOAuth, api_error, unauthenticated};
use super::grants::{header_of, query_pairs, serve};

pub const SCOPE: &str = "https://www.googleapis.com/auth/gmail.readonly";

pub struct Gmail {
    pub oauth: GoogleOAuth,
}

impl Google for Gmail {
    fn oauth(&mut self) -> &mut GoogleOAuth {
        &mut self.oauth
    }
}

pub type GmailState = Arc<Mutex<Gmail>>;

/// The id of `account`'s message `i` (Gmail ids are hex: the account's bytes in hex, then `i`).
pub fn message_id(account: &str, i: u32) -> String {
    let hex: String = account.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex}{i}")
}

fn summary(account: &str, i: u32) -> Value {
    json!({ "id": message_id(account, i), "threadId": format!("t-{account}-{i}") })
}

/// The mock's caller and query, or Google's 401; the request is recorded.
fn caller(g: &mut Gmail, headers: &HeaderMap, path: &str, raw: Option<&str>) -> Option<String> {
    let account = g.oauth.grants.bearer(headers)?;
    g.oauth.grants.record(&account, path, query_pairs(raw));
    Some(account)
}

async fn list(
    State(g): State<GmailState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut g = g.lock().unwrap();
    let path = "/gmail/v1/users/me/messages";
    let Some(account) = caller(&mut g, &headers, path, raw.as_deref()) else {
        return unauthenticated();
    };
    if header_of(&headers, "accept") != Some("application/json") {
        return api_error(StatusCode::BAD_REQUEST, "badRequest", "Accept");
    }
    let query = query_pairs(raw.as_deref());
    let token = query.iter().find(|(k, _)| k == "pageToken").map(|(_, v)| v);
    let second = format!("p2-{account}");
    let body = match token {
        None => json!({ "messages": [summary(&account, 1), summary(&account, 2)],
                        "nextPageToken": second, "resultSizeEstimate": 3 }),
        Some(t) if *t == second => {
            json!({ "messages": [summary(&account, 3)], "resultSizeEstimate": 3 })
        }
        Some(_) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalidArgument",
                "Invalid pageToken",
            );
        }
    };
    axum::Json(body).into_response()
}

async fn message(
    State(g): State<GmailState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut g = g.lock().unwrap();
    let path = format!("/gmail/v1/users/me/messages/{id}");
    let Some(account) = caller(&mut g, &headers, &path, raw.as_deref()) else {
        return unauthenticated();
    };
    let query = query_pairs(raw.as_deref());
    let Some(i) = (1..=3).find(|i| message_id(&account, *i) == id) else {
        return api_error(
            StatusCode::NOT_FOUND,
            "notFound",
            "Requested entity was not found.",
        );
    };
    let all = [
        ("From", format!("{account} <{account}@example.com>")),
        ("To", "team@example.com".to_string()),
        ("Subject", format!("Plan {i} of {account}")),
    ];
    let wanted: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "metadataHeaders")
        .map(|(_, v)| v.as_str())
        .collect();
    if !query.iter().any(|(k, v)| k == "format" && v == "metadata") {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalidArgument",
            "only metadata here",
        );
    }
    let headers: Vec<Value> = all
        .iter()
        .filter(|(n, _)| wanted.is_empty() || wanted.contains(n))
        .map(|(n, v)| json!({ "name": n, "value": v }))
        .collect();
    axum::Json(json!({
        "id": id, "threadId": format!("t-{account}-{i}"), "labelIds": ["INBOX", "UNREAD"],
        "snippet": format!("The plan, part {i}"), "historyId": "98765",
        "internalDate": "1764979200000", "sizeEstimate": 2048,
        "payload": { "mimeType": "text/plain", "headers": headers, "body": { "size": 0 } }
    }))
    .into_response()
}

/// Start the Gmail on 127.0.0.1, expecting `client_secret` from [`google_oauth::CLIENT_ID`].
pub async fn start(client_secret: &str) -> (SocketAddr, GmailState) {
    let state: GmailState = Arc::new(Mutex::new(Gmail {
        oauth: GoogleOAuth::new(client_secret, SCOPE),
    }));
    let app = google_oauth::routes::<Gmail>()
        .route("/gmail/v1/users/me/messages", get(list))
        .route("/gmail/v1/users/me/messages/{id}", get(message))
        .with_state(Arc::clone(&state));
    (serve(app).await, state)
}
