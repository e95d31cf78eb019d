//! A loopback Salesforce for the per-user tests through `connector serve`: the login host's
//! OAuth web server flow (`/services/oauth2/authorize`, and `/services/oauth2/token` with the
//! client in the form body, answering Salesforce's token reply whose `instance_url` is the
//! person's org), and each org's REST API under `/orgs/{account}` on the same address, so
//! every person's calls must go to the base their own token reply named.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::grants::{Grants, client_in_form, logged_in, param_is, query_pairs, serve};

pub const CLIENT_ID: &str = "3MVG9loopback-consumer-key";

pub struct Salesforce {
    client_secret: String,
    addr: Option<SocketAddr>,
    pub grants: Grants,
}

pub type SalesforceState = Arc<Mutex<Salesforce>>;

fn sf_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!([{ "message": message, "errorCode": code }])),
    )
        .into_response()
}

async fn authorize(
    State(s): State<SalesforceState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(account) = logged_in(&headers) else {
        return (StatusCode::UNAUTHORIZED, "log in to Salesforce").into_response();
    };
    if !param_is(&q, "client_id", CLIENT_ID) || !param_is(&q, "response_type", "code") {
        return (StatusCode::BAD_REQUEST, "invalid_client_id").into_response();
    }
    s.lock().unwrap().grants.code_redirect("sf", &account, &q)
}

async fn token(
    State(s): State<SalesforceState>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut s = s.lock().unwrap();
    if !client_in_form(&headers, &f, CLIENT_ID, &s.client_secret) {
        let body =
            json!({ "error": "invalid_client", "error_description": "invalid client credentials" });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let Some(account) = s.grants.redeem(&f) else {
        let body =
            json!({ "error": "invalid_grant", "error_description": "authentication failure" });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    };
    let access = s.grants.access_token("00D!", &account);
    let refresh = s.grants.refresh_token("5Aep", &account);
    let addr = s.addr.expect("started");
    axum::Json(json!({
        "access_token": access,
        "refresh_token": refresh,
        "signature": "d9F1dR8q0ZbQ==",
        "scope": "refresh_token api",
        "instance_url": format!("http://{addr}/orgs/{account}"),
        "id": format!("http://{addr}/id/00Dxx0000001gPL/005{account}"),
        "token_type": "Bearer",
        "issued_at": "1733400000000"
    }))
    .into_response()
}

/// SOQL on org `org`: only the org's own people's tokens are valid there.
async fn query(
    State(s): State<SalesforceState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut s = s.lock().unwrap();
    let Some(account) = s.grants.bearer(&headers) else {
        return sf_error(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        );
    };
    if account != org {
        return sf_error(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        );
    }
    let pairs = query_pairs(raw.as_deref());
    s.grants.record(&account, "/query", pairs.clone());
    let soql = pairs
        .iter()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.as_str());
    if !soql.is_some_and(|q| q.starts_with("SELECT ")) {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "MALFORMED_QUERY",
            "unexpected token",
        );
    }
    axum::Json(json!({
        "totalSize": 2, "done": true,
        "records": [
            { "attributes": { "type": "Account" }, "Id": "001A", "Name": format!("{org} Energy") },
            { "attributes": { "type": "Account" }, "Id": "001B", "Name": format!("{org} Retail") }
        ]
    }))
    .into_response()
}

/// Start Salesforce on 127.0.0.1, expecting `client_secret` from [`CLIENT_ID`].
pub async fn start(client_secret: &str) -> (SocketAddr, SalesforceState) {
    let state: SalesforceState = Arc::new(Mutex::new(Salesforce {
        client_secret: client_secret.to_string(),
        addr: None,
        grants: Grants::default(),
    }));
    let app = Router::new()
        .route("/services/oauth2/authorize", get(authorize))
        .route("/services/oauth2/token", post(token))
        .route("/orgs/{org}/services/data/v62.0/query", get(query))
        .with_state(Arc::clone(&state));
    let addr = serve(app).await;
    state.lock().unwrap().addr = Some(addr);
    (addr, state)
}
