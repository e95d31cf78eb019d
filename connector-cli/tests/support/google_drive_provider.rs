//! A loopback Google Drive for the per-user tests through `connector serve`: Google's OAuth
//! ([`super::google_oauth`], scope `drive.readonly`) and two Drive v3 methods, each answering
//! only with a valid token and only the token's account's files. `files.list` wants
//! `Accept: application/json` and a `fields` that asks for `nextPageToken` (or paging would
//! stop), and pages each account's three Google Docs two at a time with `pageToken` /
//! `nextPageToken` (the last page has no `nextPageToken`); `files.export` wants
//! `mimeType=text/plain` and `Accept: text/plain`, and answers the document's text as
//! `text/plain` (404 `notFound` for a file of another account).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::google_oauth::{self, Google, GoogleOAuth, api_error, unauthenticated};
use super::grants::{header_of, query_pairs, serve};

pub const SCOPE: &str = "https://www.googleapis.com/auth/drive.readonly";

pub struct Drive {
    pub oauth: GoogleOAuth,
}

impl Google for Drive {
    fn oauth(&mut self) -> &mut GoogleOAuth {
        &mut self.oauth
    }
}

pub type DriveState = Arc<Mutex<Drive>>;

/// The page token of `account`'s second page.
fn page_token(account: &str) -> String {
    format!("p2-{account}")
}

/// The text of `account`'s document `i`.
pub fn doc_text(account: &str, i: u32) -> String {
    format!("Plan {i} of {account}\r\nSecond line.")
}

fn file(account: &str, i: u32) -> serde_json::Value {
    json!({
        "id": format!("{account}-doc-{i}"), "name": format!("{account} plan {i}"),
        "mimeType": "application/vnd.google-apps.document",
        "modifiedTime": "2026-12-01T09:00:00.000Z",
        "webViewLink": format!("https://docs.google.com/document/d/{account}-doc-{i}/edit"),
        "owners": [{ "displayName": account, "emailAddress": format!("{account}@example.com") }]
    })
}

async fn list(
    State(d): State<DriveState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut d = d.lock().unwrap();
    let Some(account) = d.oauth.grants.bearer(&headers) else {
        return unauthenticated();
    };
    let query = query_pairs(raw.as_deref());
    d.oauth
        .grants
        .record(&account, "/drive/v3/files", query.clone());
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if header_of(&headers, "accept") != Some("application/json")
        || !get("fields").is_some_and(|f| f.starts_with("nextPageToken,"))
    {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalidParameter",
            "Invalid field selection",
        );
    }
    let body = match get("pageToken") {
        None => json!({ "kind": "drive#fileList", "incompleteSearch": false,
                        "nextPageToken": page_token(&account),
                        "files": [file(&account, 1), file(&account, 2)] }),
        Some(t) if t == page_token(&account) => {
            json!({ "kind": "drive#fileList", "incompleteSearch": false, "files": [file(&account, 3)] })
        }
        Some(_) => return api_error(StatusCode::BAD_REQUEST, "invalid", "Invalid Value"),
    };
    axum::Json(body).into_response()
}

async fn export(
    State(d): State<DriveState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut d = d.lock().unwrap();
    let Some(account) = d.oauth.grants.bearer(&headers) else {
        return unauthenticated();
    };
    let query = query_pairs(raw.as_deref());
    let path = format!("/drive/v3/files/{id}/export");
    d.oauth.grants.record(&account, &path, query.clone());
    if query != [("mimeType".to_string(), "text/plain".to_string())]
        || header_of(&headers, "accept") != Some("text/plain")
    {
        return api_error(StatusCode::BAD_REQUEST, "badRequest", "Bad export request");
    }
    let doc = id
        .strip_prefix(&format!("{account}-doc-"))
        .and_then(|i| i.parse::<u32>().ok());
    match doc {
        Some(i @ 1..=3) => (
            [(header::CONTENT_TYPE, "text/plain")],
            doc_text(&account, i),
        )
            .into_response(),
        _ => api_error(
            StatusCode::NOT_FOUND,
            "notFound",
            &format!("File not found: {id}."),
        ),
    }
}

/// Start the Drive on 127.0.0.1, expecting `client_secret` from [`google_oauth::CLIENT_ID`].
pub async fn start(client_secret: &str) -> (SocketAddr, DriveState) {
    let state: DriveState = Arc::new(Mutex::new(Drive {
        oauth: GoogleOAuth::new(client_secret, SCOPE),
    }));
    let app = google_oauth::routes::<Drive>()
        .route("/drive/v3/files", get(list))
        .route("/drive/v3/files/{id}/export", get(export))
        .with_state(Arc::clone(&state));
    (serve(app).await, state)
}
