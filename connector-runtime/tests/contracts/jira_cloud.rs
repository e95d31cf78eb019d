//! `.jira-cloud`: Atlassian 3LO (a JSON token request with the client in the body), then the
//! discovery of the person's site (`GET /oauth/token/accessible-resources` with the new
//! token) whose cloud id makes their API base `/ex/jira/{cloudId}`; alice and bob on two
//! sites; enhanced JQL search paged with `nextPageToken` in the body.

use super::*;
use contract_support::per_user::{PerUser, REDIRECT_URI};
use wiremock::matchers::{body_partial_json, header as header_is};

const CLIENT_ID: &str = "atlassian-3lo-client";

/// The gateway (`apiUrl`) and Atlassian's authorization server are both `server`.
async fn jira(server: &MockServer) -> PerUser {
    PerUser::new(
        load_spec("jira_cloud.yaml"),
        json!({
            "authType": "oauth_authorization_code",
            "apiUrl": server.uri(),
            "authorizationUrl": format!("{}/authorize?audience=api.atlassian.com&prompt=consent", server.uri()),
            "tokenUrl": format!("{}/oauth/token", server.uri()),
            "clientId": CLIENT_ID,
        }),
        json!({ "clientSecret": CANARY }),
    )
    .await
}

fn cloud_id(person: &str) -> String {
    format!("{person}-cloud-1324a887")
}

/// Tokens per code, and each token's accessible resources.
async fn mount_atlassian(server: &MockServer, people: &[&str]) {
    for person in people {
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .and(body_partial_json(
                json!({ "code": format!("{person}-code") }),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": format!("eyJ-{person}-access"),
                "refresh_token": format!("{person}-refresh"),
                "expires_in": 3600,
                "scope": "read:jira-work read:jira-user offline_access",
                "token_type": "Bearer"
            })))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/oauth/token/accessible-resources"))
            .and(header_is("authorization", format!("Bearer eyJ-{person}-access").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
                "id": cloud_id(person),
                "name": format!("{person}'s site"),
                "url": format!("https://{person}.atlassian.net"),
                "scopes": ["read:jira-work", "read:jira-user"],
                "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png"
            }])))
            .mount(server)
            .await;
    }
}

async fn connected(people: &[&str]) -> (MockServer, PerUser) {
    let server = loopback().await;
    let j = jira(&server).await;
    mount_atlassian(&server, people).await;
    for person in people {
        j.connect(person, &format!("{person}-code")).await.unwrap();
    }
    (server, j)
}

fn issue(key: &str) -> Value {
    json!({ "id": "10001", "key": key, "self": "https://api.atlassian.com/ex/jira/x/rest/api/3/issue/10001",
            "fields": { "summary": format!("{key} summary"), "status": { "name": "In Progress" } } })
}

#[tokio::test]
async fn jira_cloud_authorizes_with_a_json_grant_and_discovers_the_site() {
    let (server, _j) = connected(&["alice"]).await;
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 2, "the token exchange, then the discovery");
    let token = &reqs[0];
    assert_line(token, "POST", "/oauth/token");
    let body = json_body(token);
    assert_eq!(body["grant_type"], "authorization_code");
    assert_eq!(body["client_id"], CLIENT_ID);
    assert_eq!(body["client_secret"], CANARY);
    assert_eq!(body["redirect_uri"], REDIRECT_URI);
    assert_eq!(body["code"], "alice-code");
    let discovery = &reqs[1];
    assert_line(discovery, "GET", "/oauth/token/accessible-resources");
    assert_eq!(
        header(discovery, "authorization").as_deref(),
        Some("Bearer eyJ-alice-access")
    );
}

#[tokio::test]
async fn jira_cloud_each_person_searches_their_own_site_with_the_cursor_in_the_body() {
    let (server, j) = connected(&["alice", "bob"]).await;
    let search = |person: &str| format!("/ex/jira/{}/rest/api/3/search/jql", cloud_id(person));
    Mock::given(method("POST"))
        .and(path(search("alice")))
        .and(body_partial_json(json!({ "nextPageToken": "page-2" })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issues": [issue("OPS-3")], "isLast": true
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(search("alice")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issues": [issue("OPS-1"), issue("OPS-2")], "nextPageToken": "page-2", "isLast": false
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(search("bob")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issues": [issue("BOB-1")], "isLast": true
        })))
        .mount(&server)
        .await;
    let input = json!({ "jql": "project = OPS ORDER BY updated DESC" });
    let alice = j
        .run_all_as("alice", "searchIssues", input.clone())
        .await
        .unwrap();
    let keys: Vec<&str> = alice
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["OPS-1", "OPS-2", "OPS-3"]);
    let bob = j.run_all_as("bob", "searchIssues", input).await.unwrap();
    assert_eq!(bob[0]["key"], "BOB-1", "bob's calls go to bob's site");

    let searches: Vec<wiremock::Request> = requests(&server)
        .await
        .into_iter()
        .filter(|r| r.url.path().ends_with("/search/jql"))
        .collect();
    assert_eq!(
        json_body(&searches[0]),
        json!({ "jql": "project = OPS ORDER BY updated DESC",
                "fields": ["summary", "status", "assignee", "updated"], "maxResults": 100 })
    );
    assert_eq!(json_body(&searches[1])["nextPageToken"], "page-2");
    assert_eq!(
        header(&searches[0], "authorization").as_deref(),
        Some("Bearer eyJ-alice-access")
    );
    assert_eq!(
        header(&searches[2], "authorization").as_deref(),
        Some("Bearer eyJ-bob-access")
    );
}

#[tokio::test]
async fn jira_cloud_get_issue_errors_and_the_connection_test() {
    let (server, j) = connected(&["alice"]).await;
    let base = format!("/ex/jira/{}/rest/api/3", cloud_id("alice"));
    Mock::given(method("GET"))
        .and(path(format!("{base}/issue/OPS-7")))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue("OPS-7")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{base}/issue/OPS-404")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{base}/myself")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "accountId": "5b10a2844c20165700ede21g" })),
        )
        .mount(&server)
        .await;
    let got = j
        .run_as(
            "alice",
            "getIssue",
            json!({ "issue": "OPS-7", "fields": "summary,status" }),
        )
        .await
        .unwrap();
    assert_eq!(got["fields"]["summary"], "OPS-7 summary");
    let e = j
        .run_as("alice", "getIssue", json!({ "issue": "OPS-404" }))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::User, "{e}");
    assert!(e.message.contains("does not exist"), "{e}");
    j.test_as("alice").await.unwrap();
}

#[tokio::test]
async fn jira_cloud_a_failed_discovery_connects_nothing() {
    let server = loopback().await;
    let j = jira(&server).await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "eyJ-carol-access", "expires_in": 3600, "token_type": "Bearer"
        })))
        .mount(&server)
        .await;
    // The person granted no site: an empty list.
    Mock::given(method("GET"))
        .and(path("/oauth/token/accessible-resources"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let e = j.connect("carol", "carol-code").await.unwrap_err();
    assert_eq!(e.code, "account_discovery_failed", "{e}");
    assert!(e.message.contains("cloudId"), "{e}");
    assert!(!e.message.contains("eyJ-carol-access"), "{e}");
    let e = j
        .run_as("carol", "getIssue", json!({ "issue": "OPS-1" }))
        .await
        .unwrap_err();
    assert_eq!(e.code, "not_authorized", "{e}");
}
