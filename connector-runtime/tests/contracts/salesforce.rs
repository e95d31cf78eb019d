//! `.salesforce`: per-user OAuth (web server flow, the client in the form body), and the
//! token response's `instance_url` kept per person (`auth.account`) as their API base: alice
//! and bob are in two orgs on two different hosts, and each one's calls go to their own.

use super::*;
use contract_support::per_user::PerUser;
use wiremock::matchers::body_string_contains;

const CLIENT_ID: &str = "3MVG9salesforce-consumer-key";

/// The login host (authorization and token endpoints) is `login`; each person's org is its
/// own server.
async fn salesforce(login: &MockServer) -> PerUser {
    PerUser::new(
        load_spec("salesforce.yaml"),
        json!({ "authType": "oauth_authorization_code", "loginUrl": login.uri(), "clientId": CLIENT_ID }),
        json!({ "clientSecret": CANARY }),
    )
    .await
}

/// Salesforce's token reply for `person`, whose org answers at `instance`.
fn token_reply(person: &str, instance: &str) -> Value {
    json!({
        "access_token": format!("00D{person}!token"),
        "refresh_token": format!("5Aep{person}refresh"),
        "signature": "d9F1dR8q0ZbQ==",
        "scope": "refresh_token api",
        "instance_url": instance,
        "id": format!("https://login.salesforce.com/id/00Dxx0000001gPL/005xx000001Sv6{person}"),
        "token_type": "Bearer",
        "issued_at": "1733400000000"
    })
}

async fn mount_token(login: &MockServer, person: &str, instance: &str) {
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .and(body_string_contains(format!("code={person}-code")))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_reply(person, instance)))
        .mount(login)
        .await;
}

/// alice's org on one host, bob's on another, both connected.
async fn two_orgs() -> (MockServer, MockServer, MockServer, PerUser) {
    let (login, alice_org, bob_org) = (loopback().await, loopback().await, loopback().await);
    let sf = salesforce(&login).await;
    mount_token(&login, "alice", &alice_org.uri()).await;
    mount_token(&login, "bob", &bob_org.uri()).await;
    sf.connect("alice", "alice-code").await.unwrap();
    sf.connect("bob", "bob-code").await.unwrap();
    (login, alice_org, bob_org, sf)
}

#[tokio::test]
async fn salesforce_authorizes_at_the_login_url_with_the_client_in_the_body() {
    let login = loopback().await;
    let sf = salesforce(&login).await;
    mount_token(&login, "alice", "https://acme.my.salesforce.com").await;
    let url = sf.connect("alice", "alice-code").await.unwrap();
    assert_eq!(url.path(), "/services/oauth2/authorize");
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["scope"], "api refresh_token");
    assert_eq!(q["code_challenge_method"], "S256");
    let token = only_request(&login).await;
    assert_line(&token, "POST", "/services/oauth2/token");
    let form = contract_support::per_user::form(&token);
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(field("grant_type"), Some("authorization_code"));
    assert_eq!(field("client_id"), Some(CLIENT_ID));
    assert_eq!(field("client_secret"), Some(CANARY));
    assert!(field("code_verifier").is_some());
    assert!(header(&token, "authorization").is_none());
}

#[tokio::test]
async fn salesforce_each_person_queries_their_own_org() {
    let (_login, alice_org, bob_org, sf) = two_orgs().await;
    for (org, person) in [(&alice_org, "alice"), (&bob_org, "bob")] {
        Mock::given(method("GET"))
            .and(path("/services/data/v62.0/query"))
            .and(query_param("q", "SELECT Id, Name FROM Account LIMIT 2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "totalSize": 1, "done": true,
                "records": [{ "attributes": { "type": "Account", "url": "/services/data/v62.0/sobjects/Account/001x" },
                              "Id": "001x", "Name": format!("{person}'s account") }]
            })))
            .mount(org)
            .await;
    }
    let input = json!({ "soql": "SELECT Id, Name FROM Account LIMIT 2" });
    let alice = sf.run_as("alice", "query", input.clone()).await.unwrap();
    assert_eq!(alice["records"][0]["Name"], "alice's account");
    assert_eq!(alice["done"], true);
    let bob = sf.run_as("bob", "query", input).await.unwrap();
    assert_eq!(bob["records"][0]["Name"], "bob's account");

    let a = only_request(&alice_org).await;
    assert_eq!(
        header(&a, "authorization").as_deref(),
        Some("Bearer 00Dalice!token")
    );
    let b = only_request(&bob_org).await;
    assert_eq!(
        header(&b, "authorization").as_deref(),
        Some("Bearer 00Dbob!token")
    );
}

#[tokio::test]
async fn salesforce_search_and_get_record_on_the_persons_instance() {
    let (_login, alice_org, _bob_org, sf) = two_orgs().await;
    Mock::given(method("GET"))
        .and(path("/services/data/v62.0/parameterizedSearch"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "searchRecords": [{ "attributes": { "type": "Contact" }, "Id": "003a" }]
        })))
        .mount(&alice_org)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/services/data/v62.0/sobjects/Account/001xx000003DGb2AAG",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "attributes": { "type": "Account" }, "Id": "001xx000003DGb2AAG", "Name": "Acme"
        })))
        .mount(&alice_org)
        .await;
    let found = sf
        .run_as(
            "alice",
            "search",
            json!({ "text": "Acme", "objects": "Account,Contact", "limit": 10 }),
        )
        .await
        .unwrap();
    assert_eq!(found[0]["Id"], "003a");
    let record = sf
        .run_as(
            "alice",
            "getRecord",
            json!({ "objectType": "Account", "id": "001xx000003DGb2AAG", "fields": "Id,Name" }),
        )
        .await
        .unwrap();
    assert_eq!(record["Name"], "Acme");
    let reqs = requests(&alice_org).await;
    assert_query(
        &reqs[0],
        &[
            ("q", "Acme"),
            ("sobject", "Account,Contact"),
            ("overallLimit", "10"),
        ],
    );
    assert_query(&reqs[1], &[("fields", "Id,Name")]);
}

#[tokio::test]
async fn salesforce_errors_and_the_connection_test() {
    let (_login, alice_org, _bob_org, sf) = two_orgs().await;
    Mock::given(method("GET"))
        .and(path("/services/data/v62.0/query"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!([
            { "message": "unexpected token: FORM", "errorCode": "MALFORMED_QUERY" }
        ])))
        .mount(&alice_org)
        .await;
    Mock::given(method("GET"))
        .and(path("/services/data/v62.0/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "sobjects": "/services/data/v62.0/sobjects" })),
        )
        .mount(&alice_org)
        .await;
    let e = sf
        .run_as(
            "alice",
            "query",
            json!({ "soql": "SELECT Id FORM Account" }),
        )
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::User, "{e}");
    assert!(e.message.contains("MALFORMED_QUERY"), "{e}");
    sf.test_as("alice").await.unwrap();

    // Someone who never connected has no org to call: told to connect, nothing sent.
    let e = sf
        .run_as(
            "carol",
            "query",
            json!({ "soql": "SELECT Id FROM Account" }),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "not_authorized", "{e}");
}

#[tokio::test]
async fn salesforce_a_token_response_without_instance_url_connects_nothing() {
    let login = loopback().await;
    let sf = salesforce(&login).await;
    let mut reply = token_reply("alice", "unused");
    reply.as_object_mut().unwrap().remove("instance_url");
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(reply))
        .mount(&login)
        .await;
    let e = sf.connect("alice", "alice-code").await.unwrap_err();
    assert_eq!(e.code, "account_discovery_failed", "{e}");
    assert!(e.message.contains("instanceUrl"), "{e}");
    assert!(!e.message.contains("00Dalice!token"), "{e}");
    // Nothing was kept: the person is still not connected.
    let e = sf
        .run_as(
            "alice",
            "query",
            json!({ "soql": "SELECT Id FROM Account" }),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, "not_authorized", "{e}");
}
