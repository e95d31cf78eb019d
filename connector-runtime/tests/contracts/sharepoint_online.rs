//! `.sharepoint-online`: a per-user connector. Two users (alice and bob, two Microsoft 365
//! accounts of one tenant) connect through the real OAuth flow: the authorization URL is the
//! spec's Microsoft identity platform default for the configured tenant, the token exchange
//! reaches a loopback `login.microsoftonline.com`-shaped token endpoint, then Microsoft Graph
//! v1.0 calls run against a loopback Graph (`apiUrl`) as each user with their own bearer token.

use super::*;
use connector_runtime::ConnectorInstance;
use contract_support::per_user::{PerUser, REDIRECT_URI, form_field};
use std::sync::Arc;
use wiremock::Request;
use wiremock::matchers::header as header_is;

/// The deployment's Entra ID application (client) id.
const CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
/// The directory (tenant) id the deployment configures.
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const SCOPE: &str = "offline_access Sites.Read.All Files.Read.All";
/// The scope Microsoft's token reply reports (resource-qualified, without offline_access).
const GRANTED: &str = "https://graph.microsoft.com/Files.Read.All https://graph.microsoft.com/Sites.Read.All https://graph.microsoft.com/User.Read";

struct MsUser {
    name: &'static str,
    code: &'static str,
    access: &'static str,
    refreshed: &'static str,
    refresh: &'static str,
}

const ALICE: MsUser = MsUser {
    name: "alice",
    code: "0.AXoAv4j5cvGGr0GRqy180BHbR-alice-code",
    access: "eyJ0eXAiOiJKV1QiLCJub25jZSI6ImFsaWNlIn0.alice-access.sig",
    refreshed: "eyJ0eXAiOiJKV1QiLCJub25jZSI6ImFsaWNlIn0.alice-refreshed.sig",
    refresh: "0.AXoAv4j5cvGGr0GRqy180BHbR-alice-refresh",
};

const BOB: MsUser = MsUser {
    name: "bob",
    code: "0.AXoAv4j5cvGGr0GRqy180BHbR-bob-code",
    access: "eyJ0eXAiOiJKV1QiLCJub25jZSI6ImJvYiJ9.bob-access.sig",
    refreshed: "eyJ0eXAiOiJKV1QiLCJub25jZSI6ImJvYiJ9.bob-refreshed.sig",
    refresh: "0.AXoAv4j5cvGGr0GRqy180BHbR-bob-refresh",
};

fn token_path() -> String {
    format!("/{TENANT}/oauth2/v2.0/token")
}

fn form_has(name: &'static str, value: &'static str) -> impl wiremock::Match {
    move |r: &Request| form_field(r, name).as_deref() == Some(value)
}

/// Microsoft's v2.0 token endpoint: each user's code gives that user's tokens in Microsoft's
/// reply shape; each refresh token a new access token (and a new refresh token, as Microsoft
/// rotates them). Anything else is Microsoft's `invalid_grant` (AADSTS70008).
async fn mount_ms_token(server: &MockServer) {
    for u in [ALICE, BOB] {
        Mock::given(method("POST"))
            .and(path(token_path()))
            .and(form_has("grant_type", "authorization_code"))
            .and(form_has("code", u.code))
            .respond_with(json_reply(json!({
                "token_type": "Bearer",
                "scope": GRANTED,
                "expires_in": 4868,
                "ext_expires_in": 4868,
                "access_token": u.access,
                "refresh_token": u.refresh
            })))
            .mount(server)
            .await;
        Mock::given(method("POST"))
            .and(path(token_path()))
            .and(form_has("grant_type", "refresh_token"))
            .and(form_has("refresh_token", u.refresh))
            .respond_with(json_reply(json!({
                "token_type": "Bearer",
                "scope": GRANTED,
                "expires_in": 4868,
                "ext_expires_in": 4868,
                "access_token": u.refreshed,
                "refresh_token": format!("{}-rotated", u.refresh)
            })))
            .mount(server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.",
            "error_codes": [70008],
            "timestamp": "2026-12-07 10:00:00Z",
            "trace_id": "0b7a5b36-2f0e-4c59-9a5e-6a0d5e1f0100",
            "correlation_id": "3f1c3b8e-7f1b-4b0e-9d54-8c2f8c5e0f00"
        })))
        .with_priority(10)
        .mount(server)
        .await;
}

/// The deployment's config: its client, its tenant, Graph at the mock (`apiUrl`) and, because
/// the mock cannot be login.microsoftonline.com, only the token URL overridden with the mock's
/// (a config value wins over the spec's templated default). The authorization URL stays the
/// spec's default: the test plays the browser and never fetches it.
fn graph_config(server: &MockServer) -> Value {
    json!({
        "authType": "oauth_authorization_code",
        "clientId": CLIENT_ID,
        "tenantId": TENANT,
        "apiUrl": server.uri(),
        "tokenUrl": format!("{}{}", server.uri(), token_path()),
    })
}

async fn connect_both(server: &MockServer) -> PerUser {
    mount_ms_token(server).await;
    let p = PerUser::new(
        load_spec("sharepoint_online.yaml"),
        graph_config(server),
        json!({ "clientSecret": CANARY }),
    )
    .await;
    for u in [ALICE, BOB] {
        let url = p
            .connect(u.name, u.code)
            .await
            .unwrap_or_else(|e| panic!("connect {}: {e}", u.name));
        assert_ms_authorization(&url, TENANT);
    }
    p
}

/// The authorization URL is the tenant's v2.0 authorize endpoint with the client,
/// `response_type=code`, the redirect URI, a state, the S256 PKCE challenge and the scope.
fn assert_ms_authorization(url: &url::Url, tenant: &str) {
    assert_eq!(url.scheme(), "https", "{url}");
    assert_eq!(url.host_str(), Some("login.microsoftonline.com"), "{url}");
    assert_eq!(
        url.path(),
        format!("/{tenant}/oauth2/v2.0/authorize"),
        "{url}"
    );
    let q: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("client_id"), Some(CLIENT_ID), "{url}");
    assert_eq!(get("response_type"), Some("code"), "{url}");
    assert_eq!(get("redirect_uri"), Some(REDIRECT_URI), "{url}");
    assert_eq!(get("scope"), Some(SCOPE), "{url}");
    assert_eq!(get("code_challenge_method"), Some("S256"), "{url}");
    assert!(
        get("code_challenge").is_some_and(|c| c.len() == 43),
        "{url}"
    );
    assert!(get("state").is_some_and(|s| s.len() >= 43), "{url}");
    assert!(get("client_secret").is_none(), "{url}");
}

async fn token_requests(server: &MockServer) -> Vec<Request> {
    requests(server)
        .await
        .into_iter()
        .filter(|r| r.url.path() == token_path())
        .collect()
}

async fn api_requests(server: &MockServer) -> Vec<Request> {
    requests(server)
        .await
        .into_iter()
        .filter(|r| r.url.path() != token_path())
        .collect()
}

fn bearer(r: &Request) -> String {
    header(r, "authorization").unwrap_or_default()
}

fn for_token(token: &str) -> wiremock::matchers::HeaderExactMatcher {
    header_is("authorization", format!("Bearer {token}").as_str())
}

/// Microsoft Graph's error body.
fn graph_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": "2026-12-07T10:00:00",
                "request-id": "a2b7c1d4-0000-4000-8000-000000000001",
                "client-request-id": "a2b7c1d4-0000-4000-8000-000000000001"
            }
        }
    }))
}

fn site(n: u32, name: &str) -> Value {
    json!({
        "id": format!("contoso.sharepoint.com,da60e844-ba1d-49bc-b4d4-d5e36bae901{n},712a596e-90a1-49e3-9b48-bfa80bee874{n}"),
        "name": name,
        "displayName": name,
        "description": "",
        "createdDateTime": "2016-10-18T03:05:59Z",
        "lastModifiedDateTime": "2016-10-18T10:40:59Z",
        "webUrl": format!("https://contoso.sharepoint.com/sites/{name}")
    })
}

fn drive_item(id: &str, name: &str, folder: bool) -> Value {
    let mut v = json!({
        "id": id,
        "name": name,
        "size": 1024,
        "webUrl": format!("https://contoso.sharepoint.com/sites/Team/Shared%20Documents/{name}"),
        "lastModifiedDateTime": "2026-11-30T08:15:00Z",
        "parentReference": { "driveId": "b!-RIj2DuyvEyV1T4NlOaMHk8XkS_I8MdFlUCq1BlcjgmhRfAj3-Z8RY2VpuvV_tpd", "id": "01BYE5RZ56Y2GOVW7725BZO354PWSELRRZ" }
    });
    if folder {
        v["folder"] = json!({ "childCount": 3 });
    } else {
        v["file"] = json!({ "mimeType": "text/plain", "hashes": { "quickXorHash": "AAAAAAAAAAAAAAAAAAAAAAAAAAA=" } });
    }
    v
}

const DRIVE: &str = "b!-RIj2DuyvEyV1T4NlOaMHk8XkS_I8MdFlUCq1BlcjgmhRfAj3-Z8RY2VpuvV_tpd";

#[tokio::test]
async fn sharepoint_online_two_users_connect_with_microsofts_parameters_and_act_as_themselves() {
    let server = loopback().await;
    let p = connect_both(&server).await;
    // Each code exchange: Microsoft's fields, the client in the form body (client_secret_post).
    let tokens = token_requests(&server).await;
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
    // Each user reads their own profile with their own token.
    for u in [ALICE, BOB] {
        Mock::given(method("GET"))
            .and(path("/v1.0/me"))
            .and(for_token(u.access))
            .respond_with(json_reply(json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,displayName,userPrincipalName)/$entity",
                "id": format!("{}-object-id", u.name),
                "displayName": u.name,
                "userPrincipalName": format!("{}@contoso.onmicrosoft.com", u.name)
            })))
            .mount(&server)
            .await;
    }
    let alice = p.test_as("alice").await.unwrap_or_else(|e| panic!("{e}"));
    let bob = p.test_as("bob").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(alice["userPrincipalName"], "alice@contoso.onmicrosoft.com");
    assert_eq!(bob["userPrincipalName"], "bob@contoso.onmicrosoft.com");
    let api = api_requests(&server).await;
    assert_eq!(api.len(), 2);
    for (r, u) in api.iter().zip([ALICE, BOB]) {
        assert_line(r, "GET", "/v1.0/me");
        assert_query(r, &[("$select", "id,displayName,userPrincipalName")]);
        assert_eq!(bearer(r), format!("Bearer {}", u.access));
        assert_eq!(header(r, "accept").as_deref(), Some("application/json"));
    }
}

#[tokio::test]
async fn sharepoint_online_tenant_id_from_config_is_in_the_authorization_and_token_urls() {
    // No authorizationUrl/tokenUrl override: the spec's defaults, templated over tenantId.
    let spec = Arc::new(load_spec("sharepoint_online.yaml"));
    for (tenant, expect) in [(Some(TENANT), TENANT), (None, "organizations")] {
        let mut config = json!({ "authType": "oauth_authorization_code", "clientId": CLIENT_ID });
        if let Some(t) = tenant {
            config["tenantId"] = json!(t);
        }
        let instance = ConnectorInstance::new(
            Arc::clone(&spec),
            config.clone(),
            json!({ "clientSecret": CANARY }),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // The token URL the flow exchanges codes and refreshes at.
        assert_eq!(
            instance.config["tokenUrl"],
            json!(format!(
                "https://login.microsoftonline.com/{expect}/oauth2/v2.0/token"
            ))
        );
        assert_eq!(
            instance.config["clientAuthentication"],
            "client_secret_post"
        );
        // The authorization URL a user is sent to.
        let p = PerUser::new((*spec).clone(), config, json!({ "clientSecret": CANARY })).await;
        let url = p.authorization_url("alice").await;
        assert_ms_authorization(&url, expect);
    }
}

#[tokio::test]
async fn sharepoint_online_search_posts_one_search_request_as_bob() {
    let server = loopback().await;
    let p = connect_both(&server).await;
    let hit = json!({
        "hitId": "01BYE5RZ6QN3ZWBTUFOFD3GSPGOHDJD36K",
        "rank": 1,
        "summary": "<c0>Contoso</c0> Detailed Design <ddd/>",
        "resource": drive_item("01BYE5RZ6QN3ZWBTUFOFD3GSPGOHDJD36K", "design.txt", false)
    });
    Mock::given(method("POST"))
        .and(path("/v1.0/search/query"))
        .and(for_token(BOB.access))
        .respond_with(json_reply(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.searchResponse)",
            "value": [{
                "searchTerms": ["contoso"],
                "hitsContainers": [{ "total": 31, "moreResultsAvailable": true, "hits": [hit] }]
            }]
        })))
        .mount(&server)
        .await;
    let out = p
        .run_as(
            "bob",
            "search",
            json!({ "query": "contoso filetype:txt", "entityTypes": ["driveItem", "listItem"], "from": 25, "size": 5 }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({ "total": 31, "moreResultsAvailable": true, "hits": [hit] })
    );
    let r = &api_requests(&server).await[0];
    assert_line(r, "POST", "/v1.0/search/query");
    assert_eq!(bearer(r), format!("Bearer {}", BOB.access));
    assert_eq!(
        json_body(r),
        json!({ "requests": [{
            "entityTypes": ["driveItem", "listItem"],
            "query": { "queryString": "contoso filetype:txt" },
            "from": 25,
            "size": 5
        }] })
    );
    // The defaults: files only, the first 25 hits. No hits container at all maps to nulls.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/search/query"))
        .respond_with(json_reply(
            json!({ "value": [{ "searchTerms": ["x"], "hitsContainers": [] }] }),
        ))
        .mount(&server)
        .await;
    let out = p
        .run_as("alice", "search", json!({ "query": "x" }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({ "total": null, "moreResultsAvailable": null, "hits": null })
    );
    let r = &requests(&server).await[0];
    assert_eq!(bearer(r), format!("Bearer {}", ALICE.access));
    assert_eq!(
        json_body(r)["requests"][0],
        json!({ "entityTypes": ["driveItem"], "query": { "queryString": "x" }, "from": 0, "size": 25 })
    );
}

#[tokio::test]
async fn sharepoint_online_list_sites_follows_odata_next_link() {
    let server = loopback().await;
    let p = connect_both(&server).await;
    let next = format!(
        "{}/v1.0/sites?search=team&$skiptoken=X%27446F63756D656E74%27",
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path("/v1.0/sites"))
        .and(query_param("search", "team"))
        .and(query_param_is_missing("$skiptoken"))
        .and(for_token(ALICE.access))
        .respond_with(json_reply(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#sites",
            "value": [site(1, "TeamA"), site(2, "TeamB")],
            "@odata.nextLink": next
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/sites"))
        .and(query_param("$skiptoken", "X'446F63756D656E74'"))
        .and(for_token(ALICE.access))
        .respond_with(json_reply(json!({ "value": [site(3, "TeamC")] })))
        .mount(&server)
        .await;
    let out = p
        .run_all_as("alice", "listSites", json!({ "query": "team" }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = out
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["TeamA", "TeamB", "TeamC"]);
    assert_eq!(out[0], site(1, "TeamA"));
    let api = api_requests(&server).await;
    assert_eq!(api.len(), 2);
    assert_line(&api[0], "GET", "/v1.0/sites");
    assert_query(&api[0], &[("search", "team")]);
    // The next link is requested as given.
    assert_line(&api[1], "GET", "/v1.0/sites");
    assert_query(
        &api[1],
        &[("search", "team"), ("$skiptoken", "X'446F63756D656E74'")],
    );
    assert!(
        api.iter()
            .all(|r| bearer(r) == format!("Bearer {}", ALICE.access))
    );
}

#[tokio::test]
async fn sharepoint_online_get_site_reads_one_site_and_maps_not_found() {
    let server = loopback().await;
    let p = connect_both(&server).await;
    let id = "contoso.sharepoint.com,da60e844-ba1d-49bc-b4d4-d5e36bae9019,712a596e-90a1-49e3-9b48-bfa80bee8749";
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/sites/{id}")))
        .and(for_token(BOB.access))
        .respond_with(json_reply(site(9, "Marketing")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/sites/gone"))
        .respond_with(graph_error(
            404,
            "itemNotFound",
            "Requested site could not be found",
        ))
        .mount(&server)
        .await;
    let out = p
        .run_as("bob", "getSite", json!({ "siteId": id }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, site(9, "Marketing"));
    let r = &api_requests(&server).await[0];
    assert_line(r, "GET", &format!("/v1.0/sites/{id}"));
    assert_eq!(bearer(r), format!("Bearer {}", BOB.access));
    let e = p
        .run_as("bob", "getSite", json!({ "siteId": "gone" }))
        .await
        .expect_err("404");
    assert_eq!(e.class, ErrorClass::User, "{e}");
    assert!(e.message.contains("itemNotFound"), "{e}");
}

fn mapped(id: &str, name: &str, folder: bool) -> Value {
    json!({
        "id": id,
        "name": name,
        "size": 1024,
        "webUrl": format!("https://contoso.sharepoint.com/sites/Team/Shared%20Documents/{name}"),
        "lastModifiedDateTime": "2026-11-30T08:15:00Z",
        "isFolder": folder,
        "mimeType": if folder { Value::Null } else { json!("text/plain") },
        "driveId": DRIVE
    })
}

#[tokio::test]
async fn sharepoint_online_list_drive_items_pages_with_next_link_as_each_user() {
    let server = loopback().await;
    let p = connect_both(&server).await;
    let site_id = "contoso.sharepoint.com,da60e844-ba1d-49bc-b4d4-d5e36bae9019,712a596e-90a1-49e3-9b48-bfa80bee8740";
    let first = format!("/v1.0/sites/{site_id}/drive/root/children");
    // Graph's next link is absolute and carries $top and $skiptoken itself.
    let next = format!(
        "{}/v1.0/drives/{DRIVE}/root/children?$top=200&$skiptoken=UGFnZWQ9VFJVRSZwX1NvcnRCZWhhdmlvcj0x",
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path(first.clone()))
        .and(for_token(ALICE.access))
        .respond_with(json_reply(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(driveItem)",
            "@odata.nextLink": next,
            "value": [drive_item("01A", "Reports", true), drive_item("01B", "notes.txt", false)]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/drives/{DRIVE}/root/children")))
        .and(query_param(
            "$skiptoken",
            "UGFnZWQ9VFJVRSZwX1NvcnRCZWhhdmlvcj0x",
        ))
        .and(for_token(ALICE.access))
        .respond_with(json_reply(
            json!({ "value": [drive_item("01C", "plan.md", false)] }),
        ))
        .mount(&server)
        .await;
    let out = p
        .run_all_as("alice", "listDriveItems", json!({ "siteId": site_id }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!([
            mapped("01A", "Reports", true),
            mapped("01B", "notes.txt", false),
            mapped("01C", "plan.md", false)
        ])
    );
    let api = api_requests(&server).await;
    assert_eq!(api.len(), 2);
    assert_line(&api[0], "GET", &first);
    assert_query(&api[0], &[("$top", "200")]);
    assert_line(
        &api[1],
        "GET",
        &format!("/v1.0/drives/{DRIVE}/root/children"),
    );
    assert_query(
        &api[1],
        &[
            ("$top", "200"),
            ("$skiptoken", "UGFnZWQ9VFJVRSZwX1NvcnRCZWhhdmlvcj0x"),
        ],
    );
    // A subfolder of a drive, as bob.
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/drives/{DRIVE}/items/01A/children")))
        .and(for_token(BOB.access))
        .respond_with(json_reply(
            json!({ "value": [drive_item("01D", "q4.csv", false)] }),
        ))
        .mount(&server)
        .await;
    let out = p
        .run_as(
            "bob",
            "listDriveItems",
            json!({ "driveId": DRIVE, "itemId": "01A", "siteId": site_id }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!([mapped("01D", "q4.csv", false)]));
    let r = api_requests(&server).await.pop().unwrap();
    assert_line(
        &r,
        "GET",
        &format!("/v1.0/drives/{DRIVE}/items/01A/children"),
    );
    assert_query(&r, &[("$top", "200")]);
    assert_eq!(bearer(&r), format!("Bearer {}", BOB.access));
    // Neither a site nor a drive: refused before anything is sent.
    let before = api_requests(&server).await.len();
    let e = p
        .run_as("bob", "listDriveItems", json!({ "itemId": "01A" }))
        .await
        .expect_err("no site or drive");
    assert_eq!(e.class, ErrorClass::User, "{e}");
    assert_eq!(api_requests(&server).await.len(), before);
}

#[tokio::test]
async fn sharepoint_online_get_file_text_follows_the_download_redirect_without_the_token() {
    let server = loopback().await;
    let download = loopback().await;
    let p = connect_both(&server).await;
    // Graph answers 302 to a pre-authenticated URL on another host (here: another port).
    let files = [
        (
            "01T",
            "Runbook\r\n1. Isolate the host.\r\n2. Page the on-call.\u{2713}",
        ),
        ("01J", "42"),
        ("01Q", "\"hi\""),
    ];
    for (item, text) in files {
        let location = format!(
            "{}/personal/alice/_layouts/15/download.aspx?UniqueId={item}&tempauth=v1.eyJ0ZW1wIjoiYXV0aCJ9",
            download.uri()
        );
        Mock::given(method("GET"))
            .and(path(format!("/v1.0/drives/{DRIVE}/items/{item}/content")))
            .and(for_token(ALICE.access))
            .respond_with(ResponseTemplate::new(302).insert_header("Location", location.as_str()))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/personal/alice/_layouts/15/download.aspx"))
            .and(query_param("UniqueId", item))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(text.as_bytes().to_vec(), "application/octet-stream"),
            )
            .mount(&download)
            .await;
    }
    for (item, text) in files {
        let out = p
            .run_as(
                "alice",
                "getFileText",
                json!({ "driveId": DRIVE, "itemId": item }),
            )
            .await
            .unwrap_or_else(|e| panic!("{item}: {e}"));
        // `format: text`: exactly the file's text, even when it happens to be JSON.
        assert_eq!(
            out,
            json!({ "driveId": DRIVE, "itemId": item, "text": text })
        );
    }
    let graph = api_requests(&server).await;
    assert_eq!(graph.len(), 3);
    assert_line(
        &graph[0],
        "GET",
        &format!("/v1.0/drives/{DRIVE}/items/01T/content"),
    );
    assert_eq!(bearer(&graph[0]), format!("Bearer {}", ALICE.access));
    assert_eq!(header(&graph[0], "accept").as_deref(), Some("*/*"));
    // The download host got the request, and never the user's Graph token.
    let downloads = requests(&download).await;
    assert_eq!(downloads.len(), 3);
    for r in &downloads {
        assert_eq!(header(r, "authorization"), None, "{}", r.url);
    }
}

#[tokio::test]
async fn sharepoint_online_get_file_text_refuses_binary_and_oversized_files() {
    let server = loopback().await;
    let p = connect_both(&server).await;
    let png = vec![
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d,
    ];
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/drives/{DRIVE}/items/01P/content")))
        .respond_with(ResponseTemplate::new(200).set_body_raw(png, "image/png"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/drives/{DRIVE}/items/01H/content")))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(vec![b'a'; 4 * 1024 * 1024 + 1], "text/plain"),
        )
        .mount(&server)
        .await;
    let e = p
        .run_as(
            "alice",
            "getFileText",
            json!({ "driveId": DRIVE, "itemId": "01P" }),
        )
        .await
        .expect_err("not UTF-8");
    assert_eq!(
        (e.class, e.code),
        (ErrorClass::System, "invalid_response"),
        "{e}"
    );
    assert!(e.message.contains("byte 0"), "{e}");
    let e = p
        .run_as(
            "alice",
            "getFileText",
            json!({ "driveId": DRIVE, "itemId": "01H" }),
        )
        .await
        .expect_err("too large");
    assert_eq!(
        (e.class, e.code),
        (ErrorClass::System, "response_too_large"),
        "{e}"
    );
    assert!(e.message.contains("4194304"), "{e}");
}

#[tokio::test]
async fn sharepoint_online_graph_errors_are_classified() {
    let server = loopback().await;
    let p = connect_both(&server).await;
    // A search Graph cannot parse is the caller's.
    Mock::given(method("POST"))
        .and(path("/v1.0/search/query"))
        .respond_with(graph_error(
            400,
            "BadRequest",
            "The combination of entity types is not supported.",
        ))
        .mount(&server)
        .await;
    let e = p
        .run_as(
            "alice",
            "search",
            json!({ "query": "x", "entityTypes": ["site", "driveItem"] }),
        )
        .await
        .expect_err("400");
    assert_eq!(e.class, ErrorClass::User, "{e}");
    assert!(e.message.contains("not supported"), "{e}");
    // In this order: the 429's Retry-After holds back every later request of the instance.
    let cases = [
        (
            "01X",
            graph_error(403, "accessDenied", "Access denied"),
            ErrorClass::Auth,
        ),
        (
            "01N",
            graph_error(404, "itemNotFound", "The resource could not be found."),
            ErrorClass::User,
        ),
        (
            "01S",
            graph_error(503, "serviceNotAvailable", "Service unavailable")
                .insert_header("Retry-After", "0"),
            ErrorClass::Transient,
        ),
        (
            "01R",
            graph_error(429, "TooManyRequests", "Please retry after")
                .insert_header("Retry-After", "3600"),
            ErrorClass::RateLimited,
        ),
    ];
    for (item, reply, _) in &cases {
        let children = format!("/v1.0/drives/{DRIVE}/items/{item}/children");
        let content = format!("/v1.0/drives/{DRIVE}/items/{item}/content");
        for p in [children, content] {
            Mock::given(method("GET"))
                .and(path(p))
                .respond_with(reply.clone())
                .mount(&server)
                .await;
        }
    }
    for (item, _, class) in cases {
        // JSON actions (path rules) and the text download (status/contains rules) agree.
        for action in ["listDriveItems", "getFileText"] {
            let e = p
                .run_as("alice", action, json!({ "driveId": DRIVE, "itemId": item }))
                .await
                .expect_err(item);
            assert_eq!(e.class, class, "{action} {item}: {e}");
        }
    }
    let sent = |item: &'static str| {
        let server = &server;
        async move {
            api_requests(server)
                .await
                .into_iter()
                .filter(|r| r.url.path().contains(&format!("/{item}/")))
                .count()
        }
    };
    // The 503 is retried (Retry-After: 0) three times per action, then is transient.
    assert_eq!(sent("01S").await, 8);
    // A Retry-After of an hour is past the policy's wait: the first fails at once, sent once,
    // and the download after it is held back without being sent.
    assert_eq!(sent("01R").await, 1);
}

#[tokio::test]
async fn sharepoint_online_401_refreshes_once_then_is_auth() {
    let server = loopback().await;
    let p = connect_both(&server).await;
    let expired = graph_error(
        401,
        "InvalidAuthenticationToken",
        "Lifetime validation failed, the token is expired.",
    );
    // Alice's first token is expired; the refreshed one works.
    Mock::given(method("GET"))
        .and(path("/v1.0/sites/root"))
        .and(for_token(ALICE.access))
        .respond_with(expired.clone())
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/sites/root"))
        .and(for_token(ALICE.refreshed))
        .respond_with(json_reply(site(0, "Root")))
        .mount(&server)
        .await;
    // Bob's refreshed token is refused too: auth, with Graph's code.
    Mock::given(method("GET"))
        .and(path("/v1.0/sites/root"))
        .and(for_token(BOB.access))
        .respond_with(expired.clone())
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/sites/root"))
        .and(for_token(BOB.refreshed))
        .respond_with(expired)
        .mount(&server)
        .await;
    let out = p
        .run_as("alice", "getSite", json!({ "siteId": "root" }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out["name"], "Root");
    let e = p
        .run_as("bob", "getSite", json!({ "siteId": "root" }))
        .await
        .expect_err("401 twice");
    assert_eq!(e.class, ErrorClass::Auth, "{e}");
    assert!(e.message.contains("InvalidAuthenticationToken"), "{e}");
    let refreshes: Vec<Request> = token_requests(&server)
        .await
        .into_iter()
        .filter(|r| form_field(r, "grant_type").as_deref() == Some("refresh_token"))
        .collect();
    assert_eq!(refreshes.len(), 2, "one refresh per user");
    assert_eq!(
        form_field(&refreshes[0], "refresh_token").as_deref(),
        Some(ALICE.refresh)
    );
    assert_eq!(
        form_field(&refreshes[1], "refresh_token").as_deref(),
        Some(BOB.refresh)
    );
    assert_eq!(
        form_field(&refreshes[0], "client_secret").as_deref(),
        Some(CANARY)
    );
}

#[tokio::test]
async fn sharepoint_online_a_refused_code_never_shows_the_client_secret() {
    let server = loopback().await;
    mount_ms_token(&server).await;
    let p = PerUser::new(
        load_spec("sharepoint_online.yaml"),
        graph_config(&server),
        json!({ "clientSecret": CANARY }),
    )
    .await;
    let e = p
        .connect("alice", "0.AXoA-expired-code")
        .await
        .expect_err("invalid_grant");
    assert_no_canary(&e);
    assert_eq!(e.code, "code_exchange_failed", "{e}");
    assert!(e.message.contains("invalid_grant"), "{e}");
}

#[tokio::test]
async fn sharepoint_online_through_ears() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .and(path("/v1/microsoft/oauth/token"))
        .respond_with(json_reply(json!({
            "access_token": ALICE.access, "expires_in": 4868, "refresh_token": ALICE.refresh,
            "scope": GRANTED, "token_type": "Bearer"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/me"))
        .and(for_token(ALICE.access))
        .respond_with(json_reply(
            json!({ "id": "alice-object-id", "displayName": "Alice" }),
        ))
        .mount(&server)
        .await;
    let p = PerUser::new(
        load_spec("sharepoint_online.yaml"),
        json!({ "authType": "ears", "earsBaseUrl": server.uri(), "apiUrl": server.uri() }),
        json!({}),
    )
    .await;
    let url = p
        .connect("alice", ALICE.code)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(url.path(), "/v1/microsoft/oauth/authorize");
    let q: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("scope"), Some(SCOPE));
    assert_eq!(get("pkce_method"), Some("S256"));
    assert_eq!(get("callback_uri"), Some(REDIRECT_URI));
    let me = p.test_as("alice").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(me["displayName"], "Alice");
    let token = requests(&server).await.remove(0);
    let body = json_body(&token);
    assert_eq!(body["code"], ALICE.code);
    assert_eq!(body["callback_uri"], REDIRECT_URI);
}
