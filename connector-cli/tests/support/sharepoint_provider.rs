//! A loopback Microsoft 365 for the per-user tests through `connector serve`: the Microsoft
//! identity platform's v2.0 endpoints under the tenant (`/{tenant}/oauth2/v2.0/authorize` and
//! `/token`, the client in the form body, Entra ID's token reply), Microsoft Graph under
//! `/v1.0` (site search paged by `@odata.nextLink`, a file's `content` answered with 302 to a
//! pre-authenticated download URL), and that download host on a second address, which records
//! whether a request carried an `Authorization` header (it must not: the Graph token stays
//! with Graph).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::grants::{Grants, client_in_form, logged_in, param_is, query_pairs, serve};

pub const CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
pub const TENANT: &str = "contoso.onmicrosoft.com";
pub const SCOPE: &str = "offline_access Sites.Read.All Files.Read.All";

pub struct M365 {
    client_secret: String,
    graph: Option<SocketAddr>,
    download: Option<SocketAddr>,
    pub grants: Grants,
    /// Download requests: (path, whether an Authorization header came with it).
    pub downloads: Vec<(String, bool)>,
}

pub type M365State = Arc<Mutex<M365>>;

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message,
                                  "innerError": { "request-id": "r-1", "date": "2026-12-07T10:00:00" } } });
    (status, axum::Json(body)).into_response()
}

async fn authorize(
    State(m): State<M365State>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(account) = logged_in(&headers) else {
        return (StatusCode::UNAUTHORIZED, "sign in to Microsoft").into_response();
    };
    if tenant != TENANT || !param_is(&q, "client_id", CLIENT_ID) || !param_is(&q, "scope", SCOPE) {
        return (
            StatusCode::BAD_REQUEST,
            "AADSTS50011: bad authorization request",
        )
            .into_response();
    }
    m.lock().unwrap().grants.code_redirect("m365", &account, &q)
}

async fn token(
    State(m): State<M365State>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut m = m.lock().unwrap();
    let bad = |code: &str| {
        let body = json!({ "error": code, "error_description": "AADSTS7000215", "error_codes": [7000215] });
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    };
    if tenant != TENANT || !client_in_form(&headers, &f, CLIENT_ID, &m.client_secret) {
        return bad("invalid_client");
    }
    let Some(account) = m.grants.redeem(&f) else {
        return bad("invalid_grant");
    };
    let access = m.grants.access_token("EwB-", &account);
    let refresh = m.grants.refresh_token("M.C5-", &account);
    axum::Json(json!({
        "token_type": "Bearer", "scope": "Sites.Read.All Files.Read.All",
        "expires_in": 3599, "ext_expires_in": 3599,
        "access_token": access, "refresh_token": refresh
    }))
    .into_response()
}

/// `GET /v1.0/sites?search=`: the caller's three sites, two per page.
async fn sites(
    State(m): State<M365State>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut m = m.lock().unwrap();
    let Some(account) = m.grants.bearer(&headers) else {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty.",
        );
    };
    let pairs = query_pairs(raw.as_deref());
    m.grants.record(&account, "/v1.0/sites", pairs.clone());
    let site = |n: u32| {
        json!({ "id": format!("{account}.sharepoint.com,site-{n},web-{n}"),
                                "name": format!("{account}-site-{n}"), "displayName": format!("{account} site {n}"),
                                "webUrl": format!("https://{account}.sharepoint.com/sites/{n}") })
    };
    let graph = m.graph.expect("started");
    if pairs.iter().any(|(k, _)| k == "$skiptoken") {
        return axum::Json(json!({ "value": [site(3)] })).into_response();
    }
    let next = format!("http://{graph}/v1.0/sites?search=plans&$skiptoken=page2");
    axum::Json(
        json!({ "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#sites",
                       "value": [site(1), site(2)], "@odata.nextLink": next }),
    )
    .into_response()
}

/// A file's content: 302 to the download host, as Graph answers.
async fn content(
    State(m): State<M365State>,
    Path((drive, item)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut m = m.lock().unwrap();
    let Some(account) = m.grants.bearer(&headers) else {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty.",
        );
    };
    if drive != format!("{account}-drive") {
        return graph_error(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            "The resource could not be found.",
        );
    }
    m.grants.record(&account, "/content", Vec::new());
    let download = m.download.expect("started");
    let to = format!("http://{download}/personal/{account}/{item}?tempauth=v1.eyJ0ZW1wYXV0aCJ9");
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

async fn download(
    State(m): State<M365State>,
    Path((account, item)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut m = m.lock().unwrap();
    let authorized = headers.contains_key(header::AUTHORIZATION);
    m.downloads
        .push((format!("/personal/{account}/{item}"), authorized));
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        format!("# {account}'s {item}\nplans\n"),
    )
        .into_response()
}

/// Start the identity platform and Graph on one address and the download host on another.
pub async fn start(client_secret: &str) -> (SocketAddr, M365State) {
    let state: M365State = Arc::new(Mutex::new(M365 {
        client_secret: client_secret.to_string(),
        graph: None,
        download: None,
        grants: Grants::default(),
        downloads: Vec::new(),
    }));
    let app = Router::new()
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/v1.0/sites", get(sites))
        .route("/v1.0/drives/{drive}/items/{item}/content", get(content))
        .with_state(Arc::clone(&state));
    let downloads = Router::new()
        .route("/personal/{account}/{item}", get(download))
        .with_state(Arc::clone(&state));
    let graph = serve(app).await;
    let download = serve(downloads).await;
    {
        let mut m = state.lock().unwrap();
        m.graph = Some(graph);
        m.download = Some(download);
    }
    (graph, state)
}
