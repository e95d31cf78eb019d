//! `.notion`: per-user OAuth at a Notion-like provider (Basic client authentication, a JSON
//! grant, `owner=user`), two people on two workspaces, search and data-source queries paged
//! with the cursor in the JSON body (`start_cursor` / `page_size`, `has_more` /
//! `next_cursor`), block children paged in the query, and Notion's error objects.

use super::*;
use contract_support::per_user::{PerUser, REDIRECT_URI};
use wiremock::matchers::{body_partial_json, header as header_is};

const CLIENT_ID: &str = "notion-client-2f1c";
const VERSION: &str = "2025-09-03";

/// The spec pointed at `server` (`apiUrl`, as for a proxy), and the deployment's own OAuth
/// client whose endpoints (overriding the spec's defaults) are the mock's too.
async fn notion(server: &MockServer) -> PerUser {
    PerUser::new(
        load_spec("notion.yaml"),
        json!({
            "apiUrl": server.uri(),
            "authType": "oauth_authorization_code",
            "authorizationUrl": format!("{}/v1/oauth/authorize?owner=user", server.uri()),
            "tokenUrl": format!("{}/v1/oauth/token", server.uri()),
            "clientId": CLIENT_ID,
        }),
        json!({ "clientSecret": CANARY }),
    )
    .await
}

/// Notion's token reply for a person's workspace.
fn token_reply(person: &str) -> Value {
    json!({
        "access_token": format!("ntn_{person}_token"),
        "token_type": "bearer",
        "refresh_token": format!("nrt_{person}_refresh"),
        "bot_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
        "workspace_name": format!("{person}'s workspace"),
        "workspace_icon": null,
        "workspace_id": format!("{person}-workspace-id"),
        "owner": { "type": "user", "user": { "object": "user", "id": format!("{person}-user-id") } },
        "duplicated_template_id": null,
        "request_id": "4c90c3cc-0d44-4b50-8888-8dd25736052b"
    })
}

/// Token endpoint answers per authorization code: `<person>-code` → that person's tokens.
async fn mount_token_endpoint(server: &MockServer, people: &[&str]) {
    for person in people {
        Mock::given(method("POST"))
            .and(path("/v1/oauth/token"))
            .and(body_partial_json(
                json!({ "code": format!("{person}-code") }),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_reply(person)))
            .mount(server)
            .await;
    }
}

async fn connect(n: &PerUser, server: &MockServer, people: &[&str]) {
    mount_token_endpoint(server, people).await;
    for person in people {
        n.connect(person, &format!("{person}-code"))
            .await
            .unwrap_or_else(|e| panic!("{person} connects: {e}"));
    }
}

fn page(id: &str) -> Value {
    json!({ "object": "page", "id": id, "url": format!("https://www.notion.so/{id}"),
            "last_edited_time": "2026-11-30T10:00:00.000Z", "properties": {} })
}

fn list(results: Vec<Value>, next: Option<&str>) -> Value {
    json!({ "object": "list", "results": results, "next_cursor": next,
            "has_more": next.is_some(), "type": "page_or_data_source", "page_or_data_source": {} })
}

fn assert_notion_headers(r: &wiremock::Request, person: &str) {
    assert_eq!(
        header(r, "authorization"),
        Some(format!("Bearer ntn_{person}_token"))
    );
    assert_eq!(header(r, "notion-version").as_deref(), Some(VERSION));
}

#[tokio::test]
async fn notion_people_connect_with_basic_client_auth_and_a_json_grant() {
    let spec = load_spec("notion.yaml");
    assert_eq!(
        spec.base_url.as_deref(),
        Some("{{ config.apiUrl | default('https://api.notion.com') }}")
    );
    let server = loopback().await;
    let n = notion(&server).await;
    mount_token_endpoint(&server, &["alice"]).await;
    let url = n.connect("alice", "alice-code").await.unwrap();

    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(url.path(), "/v1/oauth/authorize");
    assert_eq!(
        q["owner"], "user",
        "Notion's required owner parameter is kept"
    );
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q.contains_key("state") && q.contains_key("code_challenge"));

    let token = only_request(&server).await;
    assert_line(&token, "POST", "/v1/oauth/token");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CANARY}"));
    assert_eq!(
        header(&token, "authorization"),
        Some(format!("Basic {basic}"))
    );
    let body = json_body(&token);
    assert_eq!(body["grant_type"], "authorization_code");
    assert_eq!(body["code"], "alice-code");
    assert_eq!(body["redirect_uri"], REDIRECT_URI);
    assert!(
        body["code_verifier"]
            .as_str()
            .is_some_and(|v| v.len() >= 43)
    );
    assert!(
        body.get("client_secret").is_none(),
        "the secret travels in Basic only"
    );
}

#[tokio::test]
async fn notion_search_pages_with_the_cursor_in_the_body_for_each_person() {
    let server = loopback().await;
    let n = notion(&server).await;
    connect(&n, &server, &["alice", "bob"]).await;
    Mock::given(method("POST"))
        .and(path("/v1/search"))
        .and(header_is("authorization", "Bearer ntn_alice_token"))
        .and(body_partial_json(json!({ "start_cursor": "c-2" })))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(vec![page("a3")], None)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/search"))
        .and(header_is("authorization", "Bearer ntn_alice_token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(list(vec![page("a1"), page("a2")], Some("c-2"))),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/search"))
        .and(header_is("authorization", "Bearer ntn_bob_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(vec![page("b1")], None)))
        .mount(&server)
        .await;

    let input = json!({ "query": "roadmap", "objectType": "page" });
    let alice = n
        .run_all_as("alice", "search", input.clone())
        .await
        .unwrap();
    let ids: Vec<&str> = alice
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a1", "a2", "a3"]);
    let bob = n.run_all_as("bob", "search", input).await.unwrap();
    assert_eq!(bob[0]["id"], "b1", "bob sees his own workspace");

    let calls: Vec<wiremock::Request> = requests(&server)
        .await
        .into_iter()
        .filter(|r| r.url.path() == "/v1/search")
        .collect();
    assert_eq!(calls.len(), 3);
    for (r, person) in calls.iter().zip(["alice", "alice", "bob"]) {
        assert_notion_headers(r, person);
        assert!(r.url.query().is_none(), "nothing in the query: {}", r.url);
    }
    let first = json_body(&calls[0]);
    assert_eq!(
        first,
        json!({
            "filter": { "property": "object", "value": "page" },
            "query": "roadmap",
            "sort": { "timestamp": "last_edited_time", "direction": "descending" },
            "page_size": 100
        })
    );
    let second = json_body(&calls[1]);
    assert_eq!(second["start_cursor"], "c-2");
    assert_eq!(second["page_size"], 100);
    assert_eq!(second["query"], "roadmap");
}

#[tokio::test]
async fn notion_has_more_false_ends_the_listing_whatever_the_cursor() {
    let server = loopback().await;
    let n = notion(&server).await;
    connect(&n, &server, &["alice"]).await;
    let mut reply = list(vec![page("a1")], Some("stale"));
    reply["has_more"] = json!(false);
    Mock::given(method("POST"))
        .and(path("/v1/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(reply))
        .mount(&server)
        .await;
    let out = n.run_all_as("alice", "search", json!({})).await.unwrap();
    assert_eq!(out.as_array().unwrap().len(), 1);
    let searches = requests(&server)
        .await
        .into_iter()
        .filter(|r| r.url.path() == "/v1/search")
        .count();
    assert_eq!(searches, 1);
    // No filter is sent when none is asked for (Notion refuses `"filter": null`).
    let r = requests(&server).await.pop().unwrap();
    assert!(json_body(&r).get("filter").is_none());
}

#[tokio::test]
async fn notion_query_data_source_sends_filter_sorts_and_the_cursor() {
    let server = loopback().await;
    let n = notion(&server).await;
    connect(&n, &server, &["alice"]).await;
    let ds = "0f3b0a1e-6f5e-4e7c-9a36-1b2f3c4d5e6f";
    Mock::given(method("POST"))
        .and(path(format!("/v1/data_sources/{ds}/query")))
        .and(body_partial_json(json!({ "start_cursor": "next-1" })))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(vec![page("r2")], None)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/data_sources/{ds}/query")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(list(vec![page("r1")], Some("next-1"))),
        )
        .mount(&server)
        .await;
    let filter = json!({ "property": "Status", "status": { "equals": "Done" } });
    let sorts = json!([{ "property": "Due", "direction": "ascending" }]);
    let out = n
        .run_all_as(
            "alice",
            "queryDataSource",
            json!({ "dataSourceId": ds, "filter": filter, "sorts": sorts }),
        )
        .await
        .unwrap();
    assert_eq!(out.as_array().unwrap().len(), 2);
    let calls: Vec<wiremock::Request> = requests(&server)
        .await
        .into_iter()
        .filter(|r| r.url.path().ends_with("/query"))
        .collect();
    assert_notion_headers(&calls[0], "alice");
    assert_eq!(
        json_body(&calls[0]),
        json!({ "filter": filter, "sorts": sorts, "page_size": 100 })
    );
    assert_eq!(
        json_body(&calls[1]),
        json!({ "filter": filter, "sorts": sorts, "page_size": 100, "start_cursor": "next-1" })
    );
}

#[tokio::test]
async fn notion_get_page_and_its_blocks() {
    let server = loopback().await;
    let n = notion(&server).await;
    connect(&n, &server, &["alice"]).await;
    let id = "59833787-2cf9-4fdf-8782-e53db20768a5";
    Mock::given(method("GET"))
        .and(path(format!("/v1/pages/{id}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "page", "id": id, "url": "https://www.notion.so/Plan-598337",
            "created_time": "2026-11-01T09:00:00.000Z", "last_edited_time": "2026-11-30T10:00:00.000Z",
            "parent": { "type": "data_source_id", "data_source_id": "ds-1" },
            "properties": { "Name": { "id": "title", "type": "title", "title": [] } },
            "archived": false, "in_trash": false
        })))
        .mount(&server)
        .await;
    let block = |bid: &str| {
        json!({ "object": "block", "id": bid, "type": "paragraph", "has_children": false,
                                    "paragraph": { "rich_text": [{ "plain_text": bid }] } })
    };
    Mock::given(method("GET"))
        .and(path(format!("/v1/blocks/{id}/children")))
        .and(query_param("start_cursor", "b-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(vec![block("b2")], None)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/blocks/{id}/children")))
        .and(query_param_is_missing("start_cursor"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(list(vec![block("b1")], Some("b-2"))),
        )
        .mount(&server)
        .await;

    let got = n
        .run_as("alice", "getPage", json!({ "pageId": id }))
        .await
        .unwrap();
    assert_eq!(got["url"], "https://www.notion.so/Plan-598337");
    assert_eq!(got["parent"]["data_source_id"], "ds-1");
    assert!(
        got.get("archived").is_none(),
        "the output keeps the mapped fields"
    );

    let blocks = n
        .run_all_as("alice", "getPageContent", json!({ "blockId": id }))
        .await
        .unwrap();
    assert_eq!(blocks.as_array().unwrap().len(), 2);
    let children: Vec<wiremock::Request> = requests(&server)
        .await
        .into_iter()
        .filter(|r| r.url.path().ends_with("/children"))
        .collect();
    assert_notion_headers(&children[0], "alice");
    assert_query(&children[0], &[("page_size", "100")]);
    assert_query(
        &children[1],
        &[("page_size", "100"), ("start_cursor", "b-2")],
    );
}

#[tokio::test]
async fn notion_errors_map_to_their_class_and_the_connection_test_reads_the_bot() {
    let server = loopback().await;
    let n = notion(&server).await;
    connect(&n, &server, &["alice"]).await;
    let err = |status: u16, code: &str, message: &str| {
        ResponseTemplate::new(status).set_body_json(json!({
            "object": "error", "status": status, "code": code, "message": message,
            "request_id": "r-1"
        }))
    };
    Mock::given(method("GET"))
        .and(path("/v1/pages/00000000000000000000000000000404"))
        .respond_with(err(
            404,
            "object_not_found",
            "Could not find page with ID: 0000.",
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/search"))
        .respond_with(err(
            400,
            "validation_error",
            "body.query should be a string",
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/users/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "user", "id": "bot-1", "type": "bot", "bot": { "workspace_name": "alice's workspace" }
        })))
        .mount(&server)
        .await;

    let e = n
        .run_as(
            "alice",
            "getPage",
            json!({ "pageId": "00000000000000000000000000000404" }),
        )
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::User, "{e}");
    assert!(e.message.contains("Could not find page"), "{e}");
    let e = n.run_as("alice", "search", json!({})).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::User, "{e}");
    assert!(e.message.contains("validation_error"), "{e}");
    n.test_as("alice").await.unwrap();
    let me = requests(&server).await.pop().unwrap();
    assert_line(&me, "GET", "/v1/users/me");
    assert_notion_headers(&me, "alice");

    // A person who never connected is asked to, and nothing is sent for them.
    let before = requests(&server).await.len();
    let e = n.run_as("carol", "search", json!({})).await.unwrap_err();
    assert_eq!(e.code, "not_authorized", "{e}");
    assert_eq!(requests(&server).await.len(), before);
}

#[tokio::test]
async fn notion_a_revoked_token_is_an_auth_error() {
    let server = loopback().await;
    let n = notion(&server).await;
    connect(&n, &server, &["alice"]).await;
    Mock::given(method("POST"))
        .and(path("/v1/search"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "object": "error", "status": 401, "code": "unauthorized", "message": "API token is invalid."
        })))
        .mount(&server)
        .await;
    // The 401 makes the runtime refresh once (Notion rotates the refresh token) and retry.
    Mock::given(method("POST"))
        .and(path("/v1/oauth/token"))
        .and(body_partial_json(
            json!({ "grant_type": "refresh_token", "refresh_token": "nrt_alice_refresh" }),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_reply("alice")))
        .mount(&server)
        .await;
    let e = n.run_as("alice", "search", json!({})).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Auth, "{e}");
    assert!(e.message.contains("API token is invalid"), "{e}");
    let refreshes = requests(&server)
        .await
        .into_iter()
        .filter(|r| {
            r.url.path() == "/v1/oauth/token" && json_body(r)["grant_type"] == "refresh_token"
        })
        .count();
    assert_eq!(refreshes, 1, "one refresh after the 401, as JSON");
}
