//! A loopback GitHub for the per-user tests through `connector serve`: an OAuth app's endpoints
//! as github.com serves them and two REST methods as api.github.com does. The authorization
//! endpoint (`/login/oauth/authorize`) wants the client id, the scope `repo read:user` and
//! PKCE S256; the token endpoint (`/login/oauth/access_token`) takes the client id and secret
//! in the form body and answers with GitHub's form-encoded reply, or its JSON one when asked
//! with `Accept: application/json` (or always form-encoded, with [`GitHub::form_replies`]; an OAuth app token: no refresh token, no expiry,
//! comma-separated scopes). The API wants `Accept: application/vnd.github+json`,
//! `X-GitHub-Api-Version: 2022-11-28`, a `User-Agent` and a valid bearer token, and answers
//! only for the token's account: `GET /search/issues` pages three issues two at a time with a
//! `Link` header (`rel="next"` to `page=2`), `GET /repos/{owner}/{repo}/contents/{path}`
//! serves the account's `{account}-gh/notes` repository with the file's base64 wrapped at 60
//! characters, as GitHub sends it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::grants::{Grants, client_in_form, header_of, logged_in, param_is, query_pairs, serve};

pub const CLIENT_ID: &str = "Ov23liCANARYclient01";
pub const SCOPE: &str = "repo read:user";

pub struct GitHub {
    client_secret: String,
    pub grants: Grants,
    /// The `Accept` of each token request.
    pub token_accepts: Vec<String>,
    /// Answer token requests form-encoded whatever they accept (as GitHub does for a client
    /// that asks for no JSON).
    pub form_replies: bool,
}

pub type GitHubState = Arc<Mutex<GitHub>>;

/// GitHub's REST error body.
fn rest_error(status: StatusCode, message: &str) -> Response {
    let body = json!({ "message": message,
        "documentation_url": "https://docs.github.com/rest", "status": status.as_u16().to_string() });
    (status, axum::Json(body)).into_response()
}

async fn authorize(
    State(g): State<GitHubState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(account) = logged_in(&headers) else {
        return (StatusCode::UNAUTHORIZED, "sign in to GitHub").into_response();
    };
    if !param_is(&q, "client_id", CLIENT_ID)
        || !param_is(&q, "scope", SCOPE)
        || !param_is(&q, "code_challenge_method", "S256")
    {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    g.lock().unwrap().grants.code_redirect("gh", &account, &q)
}

/// GitHub's token reply: JSON when asked for it, else form-encoded (both with HTTP 200, even
/// for an error).
fn token_reply(json: bool, pairs: &[(&str, &str)]) -> Response {
    if json {
        let body: serde_json::Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        return axum::Json(body).into_response();
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let ct = "application/x-www-form-urlencoded; charset=utf-8";
    ([(header::CONTENT_TYPE, ct)], body).into_response()
}

async fn token(
    State(g): State<GitHubState>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut g = g.lock().unwrap();
    let accept = header_of(&headers, "accept")
        .unwrap_or_default()
        .to_string();
    let json = accept.contains("application/json") && !g.form_replies;
    g.token_accepts.push(accept);
    if !client_in_form(&headers, &f, CLIENT_ID, &g.client_secret) {
        return token_reply(json, &[("error", "incorrect_client_credentials")]);
    }
    let Some(account) = g.grants.redeem(&f) else {
        return token_reply(json, &[("error", "bad_verification_code")]);
    };
    let access = g.grants.access_token("gho_", &account);
    let reply = [
        ("access_token", access.as_str()),
        ("scope", "repo,read:user"),
        ("token_type", "bearer"),
    ];
    token_reply(json, &reply)
}

/// The caller of an API request (recorded), or GitHub's refusal.
fn caller(
    g: &mut GitHub,
    headers: &HeaderMap,
    path: &str,
    raw: Option<&str>,
) -> Result<String, Box<Response>> {
    if header_of(headers, "user-agent").is_none_or(str::is_empty) {
        return Err(Box::new(rest_error(
            StatusCode::FORBIDDEN,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
        )));
    }
    if header_of(headers, "x-github-api-version") != Some("2022-11-28")
        || header_of(headers, "accept") != Some("application/vnd.github+json")
    {
        return Err(Box::new(rest_error(
            StatusCode::BAD_REQUEST,
            "Unsupported media type or API version",
        )));
    }
    let Some(account) = g.grants.bearer(headers) else {
        return Err(Box::new(rest_error(
            StatusCode::UNAUTHORIZED,
            "Bad credentials",
        )));
    };
    g.grants.record(&account, path, query_pairs(raw));
    Ok(account)
}

fn issue(account: &str, n: u32) -> Value {
    json!({
        "url": format!("https://api.github.com/repos/{account}-gh/notes/issues/{n}"),
        "repository_url": format!("https://api.github.com/repos/{account}-gh/notes"),
        "html_url": format!("https://github.com/{account}-gh/notes/issues/{n}"),
        "number": n, "title": format!("{account}'s issue {n}"), "state": "open",
        "user": { "login": format!("{account}-gh"), "type": "User" },
        "labels": [{ "name": "plan" }], "comments": n, "created_at": "2026-11-01T10:00:00Z",
        "updated_at": "2026-11-02T10:00:00Z", "closed_at": null, "body": "Steps", "score": 1.0
    })
}

async fn search(
    State(g): State<GitHubState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut g = g.lock().unwrap();
    let account = match caller(&mut g, &headers, "/search/issues", raw.as_deref()) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let query = query_pairs(raw.as_deref());
    let page = query
        .iter()
        .find(|(k, _)| k == "page")
        .map(|(_, v)| v.as_str());
    let host = header_of(&headers, "host").unwrap_or_default();
    let mut at = url::Url::parse(&format!("http://{host}/search/issues")).unwrap();
    at.query_pairs_mut()
        .extend_pairs(query.iter().filter(|(k, _)| k != "page"));
    let link = |p: u32| {
        let mut u = at.clone();
        u.query_pairs_mut().append_pair("page", &p.to_string());
        u
    };
    let (items, links) = match page {
        None | Some("1") => (
            vec![issue(&account, 1), issue(&account, 2)],
            format!("<{}>; rel=\"next\", <{}>; rel=\"last\"", link(2), link(2)),
        ),
        Some("2") => (
            vec![issue(&account, 3)],
            format!("<{}>; rel=\"prev\", <{}>; rel=\"first\"", link(1), link(1)),
        ),
        Some(_) => return rest_error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed"),
    };
    let body = json!({ "total_count": 3, "incomplete_results": false, "items": items });
    ([(header::LINK, links)], axum::Json(body)).into_response()
}

/// The text of `account`'s `docs/plan.md`.
pub fn plan_text(account: &str) -> String {
    format!(
        "# The plan of {account}\n\nShip the connectors, with a loopback vendor for each one.\n"
    )
}

/// Base64 wrapped at 60 characters with `\n`, as the contents API sends it.
fn wrapped_base64(text: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(60)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!("{}\n", lines.join("\n"))
}

async fn contents(
    State(g): State<GitHubState>,
    headers: HeaderMap,
    Path((owner, repo, file)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut g = g.lock().unwrap();
    let path = format!("/repos/{owner}/{repo}/contents/{file}");
    let account = match caller(&mut g, &headers, &path, raw.as_deref()) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    if owner != format!("{account}-gh") || repo != "notes" || file != "docs/plan.md" {
        return rest_error(StatusCode::NOT_FOUND, "Not Found");
    }
    let text = plan_text(&account);
    axum::Json(json!({
        "type": "file", "encoding": "base64", "size": text.len(), "name": "plan.md",
        "path": file, "content": wrapped_base64(&text), "sha": "3d21ec53a331a6f037a91c368710b99387d012c1",
        "html_url": format!("https://github.com/{owner}/{repo}/blob/main/{file}"),
        "url": format!("https://api.github.com/repos/{owner}/{repo}/contents/{file}?ref=main")
    }))
    .into_response()
}

/// Start the GitHub on 127.0.0.1, expecting `client_secret` from [`CLIENT_ID`].
pub async fn start(client_secret: &str) -> (SocketAddr, GitHubState) {
    let state: GitHubState = Arc::new(Mutex::new(GitHub {
        client_secret: client_secret.to_string(),
        grants: Grants::default(),
        token_accepts: Vec::new(),
        form_replies: false,
    }));
    let app = Router::new()
        .route("/login/oauth/authorize", get(authorize))
        .route("/login/oauth/access_token", post(token))
        .route("/search/issues", get(search))
        .route("/repos/{owner}/{repo}/contents/{*path}", get(contents))
        .with_state(Arc::clone(&state));
    (serve(app).await, state)
}
