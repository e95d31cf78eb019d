//! `.google_drive`: a per-user connector. Two users (alice and bob, two Google accounts)
//! connect through the real OAuth flow against a loopback Google (authorization URL with
//! Google's parameters, `oauth2.googleapis.com/token`-shaped token endpoint), then Drive v3
//! calls run as each of them with their own bearer token. The helpers at the top are Google's
//! OAuth side and are shared with `gmail.rs`.

use super::*;
use contract_support::per_user::{PerUser, REDIRECT_URI, form_field};
use wiremock::Request;
use wiremock::matchers::header as header_is;

/// The deployment's OAuth client id (Google's `*.apps.googleusercontent.com` shape).
pub const CLIENT_ID: &str = "1234567890-abc123def456.apps.googleusercontent.com";

/// One Google account as the mock provider knows it.
pub struct GoogleUser {
    pub name: &'static str,
    pub code: &'static str,
    pub access: &'static str,
    pub refreshed: &'static str,
    pub refresh: &'static str,
}

pub const ALICE: GoogleUser = GoogleUser {
    name: "alice",
    code: "4/0Adeu5BW-alice-code",
    access: "ya29.a0-alice-access",
    refreshed: "ya29.a0-alice-refreshed",
    refresh: "1//0g-alice-refresh",
};

pub const BOB: GoogleUser = GoogleUser {
    name: "bob",
    code: "4/0Adeu5BW-bob-code",
    access: "ya29.a0-bob-access",
    refreshed: "ya29.a0-bob-refreshed",
    refresh: "1//0g-bob-refresh",
};

/// A form-field matcher for token requests.
fn form_has(name: &'static str, value: &'static str) -> impl wiremock::Match {
    move |r: &Request| form_field(r, name).as_deref() == Some(value)
}

/// Google's token endpoint at `/token`: each user's code gives that user's tokens in Google's
/// exact reply shape (with an `id_token`); each refresh token gives a new access token and,
/// as Google does, no new refresh token. Anything else is Google's `invalid_grant`.
pub async fn mount_google_token(server: &MockServer, scope: &str) {
    for u in [ALICE, BOB] {
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(form_has("grant_type", "authorization_code"))
            .and(form_has("code", u.code))
            .respond_with(json_reply(json!({
                "access_token": u.access,
                "expires_in": 3599,
                "refresh_token": u.refresh,
                "scope": scope,
                "token_type": "Bearer",
                "id_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiIxMDk4In0.c2ln"
            })))
            .mount(server)
            .await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(form_has("grant_type", "refresh_token"))
            .and(form_has("refresh_token", u.refresh))
            .respond_with(json_reply(json!({
                "access_token": u.refreshed,
                "expires_in": 3599,
                "scope": scope,
                "token_type": "Bearer"
            })))
            .mount(server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(
                json!({ "error": "invalid_grant", "error_description": "Bad Request" }),
            ),
        )
        .with_priority(10)
        .mount(server)
        .await;
}

/// The instance config a deployment gives: its own client id, and here Google's endpoints
/// overridden with the mock's (a config value wins over the spec's default).
pub fn google_config(server: &MockServer) -> Value {
    json!({
        "authType": "oauth_authorization_code",
        "clientId": CLIENT_ID,
        "authorizationUrl": format!("{}/o/oauth2/v2/auth?access_type=offline&prompt=consent", server.uri()),
        "tokenUrl": format!("{}/token", server.uri()),
    })
}

/// A per-user instance of `file` pointed at `server`, with alice and bob connected.
pub async fn connect_both(file: &str, server: &MockServer, scope: &str) -> PerUser {
    mount_google_token(server, scope).await;
    let mut spec = load_spec(file);
    spec.base_url = Some(server.uri());
    let p = PerUser::new(
        spec,
        google_config(server),
        json!({ "clientSecret": CANARY }),
    )
    .await;
    for u in [ALICE, BOB] {
        let url = p
            .connect(u.name, u.code)
            .await
            .unwrap_or_else(|e| panic!("connect {}: {e}", u.name));
        assert_google_authorization(&url, &format!("{}/o/oauth2/v2/auth", server.uri()), scope);
    }
    p
}

/// The authorization URL carries Google's parameters: the client, `response_type=code`, the
/// redirect URI, a state, the S256 PKCE challenge, the scope and Google's `access_type=offline`
/// and `prompt=consent`.
pub fn assert_google_authorization(url: &url::Url, endpoint: &str, scope: &str) {
    let base = format!("{}{}", url.origin().ascii_serialization(), url.path());
    assert_eq!(base, endpoint, "{url}");
    let q: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("access_type"), Some("offline"), "{url}");
    assert_eq!(get("prompt"), Some("consent"), "{url}");
    assert_eq!(get("client_id"), Some(CLIENT_ID), "{url}");
    assert_eq!(get("response_type"), Some("code"), "{url}");
    assert_eq!(get("redirect_uri"), Some(REDIRECT_URI), "{url}");
    assert_eq!(get("scope"), Some(scope), "{url}");
    assert_eq!(get("code_challenge_method"), Some("S256"), "{url}");
    assert!(
        get("code_challenge").is_some_and(|c| c.len() == 43),
        "{url}"
    );
    assert!(get("state").is_some_and(|s| s.len() >= 43), "{url}");
    assert!(get("client_secret").is_none(), "{url}");
}

/// The token requests the mock received, in order.
pub async fn token_requests(server: &MockServer) -> Vec<Request> {
    requests(server)
        .await
        .into_iter()
        .filter(|r| r.url.path() == "/token")
        .collect()
}

/// The API requests (everything but the token endpoint), in order.
pub async fn api_requests(server: &MockServer) -> Vec<Request> {
    requests(server)
        .await
        .into_iter()
        .filter(|r| r.url.path() != "/token")
        .collect()
}

/// Each code exchange carried Google's fields and the client in the form body
/// (`client_secret_post`), never in an `Authorization` header.
pub async fn assert_code_exchanges(server: &MockServer) {
    let tokens = token_requests(server).await;
    assert_eq!(tokens.len(), 2, "one code exchange per user");
    for (r, u) in tokens.iter().zip([ALICE, BOB]) {
        assert_eq!(r.method.as_str(), "POST");
        let ct = header(r, "content-type").unwrap_or_default();
        assert!(ct.starts_with("application/x-www-form-urlencoded"), "{ct}");
        let f = |k| form_field(r, k);
        assert_eq!(f("grant_type").as_deref(), Some("authorization_code"));
        assert_eq!(f("code").as_deref(), Some(u.code));
        assert_eq!(f("redirect_uri").as_deref(), Some(REDIRECT_URI));
        assert!(f("code_verifier").is_some_and(|v| (43..=128).contains(&v.len())));
        assert_eq!(f("client_id").as_deref(), Some(CLIENT_ID));
        assert_eq!(f("client_secret").as_deref(), Some(CANARY));
        assert_eq!(header(r, "authorization"), None);
    }
}

/// The bearer token a request carried.
pub fn bearer(r: &Request) -> String {
    header(r, "authorization").unwrap_or_default()
}

/// A reply only for the holder of `token`.
pub fn for_token(token: &str) -> wiremock::matchers::HeaderExactMatcher {
    header_is("authorization", format!("Bearer {token}").as_str())
}

/// Google's error body.
pub fn google_error(code: u16, status: &str, reason: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({
        "error": {
            "code": code,
            "message": message,
            "errors": [{ "domain": "global", "reason": reason, "message": message }],
            "status": status
        }
    }))
}

// ---------------------------------------------------------------------------------------------
// .google_drive

const DRIVE_SCOPE: &str = "https://www.googleapis.com/auth/drive.readonly";
const DEFAULT_FILE_FIELDS: &str =
    "id,name,mimeType,modifiedTime,size,webViewLink,owners(displayName,emailAddress)";

async fn drive(server: &MockServer) -> PerUser {
    connect_both("google_drive.yaml", server, DRIVE_SCOPE).await
}

fn doc(id: &str, name: &str) -> Value {
    json!({
        "id": id, "name": name, "mimeType": "application/vnd.google-apps.document",
        "modifiedTime": "2026-11-30T08:15:00.000Z",
        "webViewLink": format!("https://docs.google.com/document/d/{id}/edit"),
        "owners": [{ "displayName": "Alice", "emailAddress": "alice@example.com" }]
    })
}

#[tokio::test]
async fn google_drive_two_users_connect_with_googles_parameters_and_act_as_themselves() {
    let server = loopback().await;
    let p = drive(&server).await;
    assert_code_exchanges(&server).await;
    for u in [ALICE, BOB] {
        Mock::given(method("GET"))
            .and(path("/drive/v3/files"))
            .and(for_token(u.access))
            .respond_with(json_reply(json!({
                "kind": "drive#fileList", "incompleteSearch": false,
                "files": [doc(&format!("{}-doc", u.name), u.name)]
            })))
            .mount(&server)
            .await;
    }
    for u in [ALICE, BOB] {
        let out = p
            .run_as(u.name, "searchFiles", json!({}))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, json!([doc(&format!("{}-doc", u.name), u.name)]));
    }
    let calls = api_requests(&server).await;
    assert_eq!(calls.len(), 2);
    assert_eq!(bearer(&calls[0]), format!("Bearer {}", ALICE.access));
    assert_eq!(bearer(&calls[1]), format!("Bearer {}", BOB.access));
    let fields = format!("nextPageToken,incompleteSearch,files({DEFAULT_FILE_FIELDS})");
    for r in &calls {
        assert_line(r, "GET", "/drive/v3/files");
        assert_query(r, &[("pageSize", "100"), ("fields", fields.as_str())]);
        assert_eq!(header(r, "accept").as_deref(), Some("application/json"));
    }
    // A user who never connected is asked to, and gets nobody else's token.
    let e = p
        .run_as("carol", "searchFiles", json!({}))
        .await
        .expect_err("carol has no token");
    assert_eq!((e.class, e.code), (ErrorClass::Auth, "not_authorized"));
    assert_eq!(api_requests(&server).await.len(), 2);
}

#[tokio::test]
async fn google_drive_defaults_are_googles_endpoints_and_scope() {
    let spec = load_spec("google_drive.yaml");
    let p = PerUser::new(
        spec,
        json!({ "authType": "oauth_authorization_code", "clientId": CLIENT_ID }),
        json!({ "clientSecret": CANARY }),
    )
    .await;
    let url = p.authorization_url("alice").await;
    assert_google_authorization(
        &url,
        "https://accounts.google.com/o/oauth2/v2/auth",
        DRIVE_SCOPE,
    );
}

#[tokio::test]
async fn google_drive_search_files_follows_next_page_token() {
    let server = loopback().await;
    let p = drive(&server).await;
    Mock::given(method("GET"))
        .and(path("/drive/v3/files"))
        .and(for_token(ALICE.access))
        .and(query_param_is_missing("pageToken"))
        .respond_with(json_reply(json!({
            "nextPageToken": "~!!~AI9FV7T-page2", "incompleteSearch": false,
            "files": [doc("d1", "Budget 2027"), doc("d2", "Budget notes")]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/drive/v3/files"))
        .and(for_token(ALICE.access))
        .and(query_param("pageToken", "~!!~AI9FV7T-page2"))
        .respond_with(json_reply(json!({
            "incompleteSearch": false, "files": [doc("d3", "Budget archive")]
        })))
        .mount(&server)
        .await;
    let input = json!({
        "query": "name contains 'budget' and trashed = false",
        "pageSize": 2, "orderBy": "modifiedTime desc", "fields": "id,name",
        "includeSharedDrives": true
    });
    let out = p
        .run_all_as("alice", "searchFiles", input)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = out
        .as_array()
        .expect("records")
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Budget 2027", "Budget notes", "Budget archive"]);
    let calls = api_requests(&server).await;
    assert_eq!(calls.len(), 2);
    let base = [
        ("q", "name contains 'budget' and trashed = false"),
        ("pageSize", "2"),
        ("orderBy", "modifiedTime desc"),
        ("fields", "nextPageToken,incompleteSearch,files(id,name)"),
        ("includeItemsFromAllDrives", "true"),
        ("supportsAllDrives", "true"),
    ];
    assert_query(&calls[0], &base);
    let mut second = base.to_vec();
    second.push(("pageToken", "~!!~AI9FV7T-page2"));
    assert_query(&calls[1], &second);
    for r in &calls {
        assert_line(r, "GET", "/drive/v3/files");
        assert_eq!(bearer(r), format!("Bearer {}", ALICE.access));
    }
}

#[tokio::test]
async fn google_drive_get_file_reads_the_metadata_as_bob() {
    let server = loopback().await;
    let p = drive(&server).await;
    let meta = json!({
        "id": "1AbC_dEf-9", "name": "Runbook", "mimeType": "application/vnd.google-apps.document",
        "createdTime": "2026-01-02T03:04:05.000Z", "modifiedTime": "2026-11-30T08:15:00.000Z",
        "parents": ["0AFolder"], "webViewLink": "https://docs.google.com/document/d/1AbC_dEf-9/edit",
        "owners": [{ "displayName": "Bob", "emailAddress": "bob@example.com" }]
    });
    Mock::given(method("GET"))
        .and(path("/drive/v3/files/1AbC_dEf-9"))
        .and(for_token(BOB.access))
        .respond_with(json_reply(meta.clone()))
        .mount(&server)
        .await;
    let out = p
        .run_as("bob", "getFile", json!({ "fileId": "1AbC_dEf-9" }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, meta);
    let r = &api_requests(&server).await[0];
    assert_line(r, "GET", "/drive/v3/files/1AbC_dEf-9");
    assert_query(
        r,
        &[
            (
                "fields",
                "id,name,mimeType,description,size,createdTime,modifiedTime,webViewLink,parents,owners(displayName,emailAddress)",
            ),
            ("supportsAllDrives", "true"),
        ],
    );
    assert_eq!(bearer(r), format!("Bearer {}", BOB.access));
    // An id that is not a Drive id never reaches Google.
    let e = p
        .run_as("bob", "getFile", json!({ "fileId": "../about" }))
        .await
        .expect_err("bad id");
    assert_eq!(e.class, ErrorClass::User);
    assert_eq!(api_requests(&server).await.len(), 1);
}

fn text_reply(text: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(text.as_bytes().to_vec(), "text/plain; charset=utf-8")
}

#[tokio::test]
async fn google_drive_get_file_content_exports_the_doc_as_text() {
    let server = loopback().await;
    let p = drive(&server).await;
    let text = "\u{feff}Incident runbook\r\n\r\n1. Isolate the host.\r\n2. Page the on-call.";
    for (id, body) in [
        ("docA", text),
        ("docB", "42"),
        ("docC", ""),
        ("docD", "\"hi\""),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/drive/v3/files/{id}/export")))
            .and(for_token(ALICE.access))
            .respond_with(text_reply(body))
            .mount(&server)
            .await;
    }
    let out = p
        .run_as("alice", "getFileContent", json!({ "fileId": "docA" }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({ "fileId": "docA", "mimeType": "text/plain", "text": text })
    );
    let r = &api_requests(&server).await[0];
    assert_line(r, "GET", "/drive/v3/files/docA/export");
    assert_query(r, &[("mimeType", "text/plain")]);
    assert_eq!(header(r, "accept").as_deref(), Some("text/plain"));
    assert_eq!(bearer(r), format!("Bearer {}", ALICE.access));
    // `format: text`: a document whose text is also JSON (`42`, `"hi"` with its quotes) and
    // an empty one come back exactly as their text, never parsed.
    for (id, body) in [("docB", "42"), ("docC", ""), ("docD", "\"hi\"")] {
        let out = p
            .run_as("alice", "getFileContent", json!({ "fileId": id }))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out["text"], json!(body), "{id}");
    }
}

#[tokio::test]
async fn google_drive_get_file_content_is_capped_at_googles_10_mb() {
    let server = loopback().await;
    let p = drive(&server).await;
    let big = "a".repeat(10 * 1024 * 1024 + 1);
    Mock::given(method("GET"))
        .and(path("/drive/v3/files/huge/export"))
        .respond_with(text_reply(&big))
        .mount(&server)
        .await;
    let e = p
        .run_as("alice", "getFileContent", json!({ "fileId": "huge" }))
        .await
        .expect_err("too large");
    assert_eq!(
        (e.class, e.code),
        (ErrorClass::System, "response_too_large")
    );
    assert!(e.message.contains("10485760"), "{e}");
}

#[tokio::test]
async fn google_drive_errors_are_classified() {
    let server = loopback().await;
    let p = drive(&server).await;
    let cases = [
        (
            "rate",
            google_error(
                403,
                "PERMISSION_DENIED",
                "userRateLimitExceeded",
                "User Rate Limit Exceeded",
            ),
            ErrorClass::RateLimited,
        ),
        (
            "notdoc",
            google_error(
                403,
                "PERMISSION_DENIED",
                "fileNotExportable",
                "Export only supports Google Docs.",
            ),
            ErrorClass::User,
        ),
        (
            "denied",
            google_error(
                403,
                "PERMISSION_DENIED",
                "insufficientFilePermissions",
                "The user does not have sufficient permissions for this file.",
            ),
            ErrorClass::Auth,
        ),
        (
            "gone",
            google_error(404, "NOT_FOUND", "notFound", "File not found: gone."),
            ErrorClass::User,
        ),
        (
            "busy",
            google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "rateLimitExceeded",
                "Rate Limit Exceeded",
            )
            .insert_header("Retry-After", "3600"),
            ErrorClass::RateLimited,
        ),
    ];
    for (id, reply, _) in &cases {
        Mock::given(method("GET"))
            .and(path(format!("/drive/v3/files/{id}/export")))
            .respond_with(reply.clone())
            .mount(&server)
            .await;
    }
    for (id, _, class) in cases {
        let e = p
            .run_as("alice", "getFileContent", json!({ "fileId": id }))
            .await
            .expect_err(id);
        assert_eq!(e.class, class, "{id}: {e}");
    }
    // The Retry-After of an hour is past the policy's wait: it fails at once, sent once.
    let busy = api_requests(&server)
        .await
        .into_iter()
        .filter(|r| r.url.path().contains("/busy/"))
        .count();
    assert_eq!(busy, 1);
}

#[tokio::test]
async fn google_drive_401_refreshes_once_then_is_auth() {
    let server = loopback().await;
    let p = drive(&server).await;
    Mock::given(method("GET"))
        .and(path("/drive/v3/files/f1"))
        .respond_with(google_error(401, "UNAUTHENTICATED", "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."))
        .mount(&server)
        .await;
    let e = p
        .run_as("alice", "getFile", json!({ "fileId": "f1" }))
        .await
        .expect_err("401");
    assert_eq!((e.class, e.status), (ErrorClass::Auth, Some(401)));
    assert!(
        e.message
            .contains("Request had invalid authentication credentials"),
        "{e}"
    );
    let calls = api_requests(&server).await;
    assert_eq!(calls.len(), 2, "one retry after one refresh");
    assert_eq!(bearer(&calls[0]), format!("Bearer {}", ALICE.access));
    assert_eq!(bearer(&calls[1]), format!("Bearer {}", ALICE.refreshed));
    let refresh = token_requests(&server).await.pop().expect("refresh");
    assert_eq!(
        form_field(&refresh, "grant_type").as_deref(),
        Some("refresh_token")
    );
    assert_eq!(
        form_field(&refresh, "refresh_token").as_deref(),
        Some(ALICE.refresh)
    );
    assert_eq!(
        form_field(&refresh, "client_id").as_deref(),
        Some(CLIENT_ID)
    );
    assert_eq!(
        form_field(&refresh, "client_secret").as_deref(),
        Some(CANARY)
    );
}

#[tokio::test]
async fn google_drive_connection_test_gets_about_user() {
    let server = loopback().await;
    let p = drive(&server).await;
    let about = json!({ "user": {
        "kind": "drive#user", "displayName": "Bob", "me": true,
        "permissionId": "0123456789", "emailAddress": "bob@example.com"
    }});
    Mock::given(method("GET"))
        .and(path("/drive/v3/about"))
        .and(for_token(BOB.access))
        .respond_with(json_reply(about.clone()))
        .mount(&server)
        .await;
    assert_eq!(
        p.test_as("bob").await.unwrap_or_else(|e| panic!("{e}")),
        about
    );
    let r = &api_requests(&server).await[0];
    assert_line(r, "GET", "/drive/v3/about");
    assert_query(r, &[("fields", "user")]);
}

#[tokio::test]
async fn google_drive_a_refused_code_never_shows_the_client_secret() {
    let server = loopback().await;
    mount_google_token(&server, DRIVE_SCOPE).await;
    let p = PerUser::new(
        load_spec("google_drive.yaml"),
        google_config(&server),
        json!({ "clientSecret": CANARY }),
    )
    .await;
    let e = p
        .connect("alice", "4/expired-code")
        .await
        .expect_err("invalid_grant");
    assert_no_canary(&e);
    assert_eq!(e.code, "code_exchange_failed", "{e}");
    assert!(e.message.contains("invalid_grant"), "{e}");
}

#[tokio::test]
async fn google_drive_through_ears() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .and(path("/v1/google/oauth/token"))
        .respond_with(json_reply(json!({
            "access_token": ALICE.access, "expires_in": 3599, "refresh_token": ALICE.refresh,
            "scope": DRIVE_SCOPE, "token_type": "Bearer"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/drive/v3/about"))
        .and(for_token(ALICE.access))
        .respond_with(json_reply(
            json!({ "user": { "emailAddress": "alice@example.com" } }),
        ))
        .mount(&server)
        .await;
    let mut spec = load_spec("google_drive.yaml");
    spec.base_url = Some(server.uri());
    let p = PerUser::new(
        spec,
        json!({ "authType": "ears", "earsBaseUrl": server.uri() }),
        json!({}),
    )
    .await;
    let url = p
        .connect("alice", ALICE.code)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(url.path(), "/v1/google/oauth/authorize");
    let q: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("scope"), Some(DRIVE_SCOPE));
    assert_eq!(get("pkce_method"), Some("S256"));
    assert_eq!(get("callback_uri"), Some(REDIRECT_URI));
    p.test_as("alice").await.unwrap_or_else(|e| panic!("{e}"));
    let token = requests(&server).await.remove(0);
    let body = json_body(&token);
    assert_eq!(body["code"], ALICE.code);
    assert_eq!(body["callback_uri"], REDIRECT_URI);
    assert!(
        body["pkce_verifier"]
            .as_str()
            .is_some_and(|v| v.len() >= 43)
    );
}
