//! `.slack-user`: the Slack Web API with each user's own user token (xoxp-). Two users (alice
//! and bob, two Slack accounts) connect through Slack's OAuth v2 with `user_scope` against a
//! loopback `oauth.v2.access` answering Slack's shape (the user token under `authed_user`), or
//! through EARS; then every action runs as one of them: the user's own bearer token, page and
//! cursor paging, and Slack's `ok: false` and HTTP 429 replies.

use super::github::{s256, url_param};
use super::*;
use contract_support::per_user::{PerUser, REDIRECT_URI, form_field};
use wiremock::matchers::body_string_contains;

const CLIENT_ID: &str = "2141029472.691202649728";
const ALICE_TOKEN: &str = "xoxp-1111-alice-contract";
const BOB_TOKEN: &str = "xoxp-2222-bob-contract";
const SCOPES: &str = "search:read channels:read groups:read im:read mpim:read channels:history groups:history im:history mpim:history";

/// Slack's oauth.v2.access reply for a user-scope-only authorization.
fn token_reply(user: &str, token: &str) -> Value {
    json!({
        "ok": true, "app_id": "A0KRD7HC3",
        "authed_user": { "id": user, "scope": "search:read,channels:read,channels:history",
                         "access_token": token, "token_type": "user" },
        "team": { "id": "T9TK3CUKW", "name": "Slack Softworks" },
        "enterprise": null, "is_enterprise_install": false
    })
}

/// A loopback slack.com: `/api/oauth.v2.access` gives each user's code that user's token.
async fn mock_slack() -> MockServer {
    let server = loopback().await;
    for (code, user, token) in [
        ("code-alice", "U0ALICE", ALICE_TOKEN),
        ("code-bob", "U0BOB", BOB_TOKEN),
    ] {
        Mock::given(method("POST"))
            .and(path("/api/oauth.v2.access"))
            .and(body_string_contains(format!("code={code}&")))
            .respond_with(json_reply(token_reply(user, token)))
            .mount(&server)
            .await;
    }
    server
}

/// The spec with its `https://slack.com/api` pointed at the mock.
fn spec_at(server: &MockServer) -> connector_spec::ConnectorSpec {
    let mut spec = load_spec("slack_user.yaml");
    spec.base_url = Some(format!("{}/api", server.uri()));
    spec
}

/// The deployment's Slack app (the canary as its secret), the token URL pointed at the mock.
async fn instance(server: &MockServer) -> PerUser {
    PerUser::new(
        spec_at(server),
        json!({
            "authType": "oauth_authorization_code",
            "clientId": CLIENT_ID,
            "tokenUrl": format!("{}/api/oauth.v2.access", server.uri()),
        }),
        json!({ "clientSecret": CANARY }),
    )
    .await
}

async fn connected() -> (MockServer, PerUser) {
    let server = mock_slack().await;
    let slack = instance(&server).await;
    for (user, code) in [("alice", "code-alice"), ("bob", "code-bob")] {
        slack
            .connect(user, code)
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
    }
    (server, slack)
}

/// The Web API requests the mock received (not the token requests).
async fn api_requests(server: &MockServer) -> Vec<wiremock::Request> {
    requests(server)
        .await
        .into_iter()
        .filter(|r| r.url.path() != "/api/oauth.v2.access")
        .collect()
}

fn assert_user_token(r: &wiremock::Request, token: &str) {
    assert_eq!(header(r, "authorization"), Some(format!("Bearer {token}")));
}

#[tokio::test]
async fn slack_user_oauth_flow_for_two_users_asks_for_user_scopes() {
    let server = mock_slack().await;
    let slack = instance(&server).await;
    let mut challenges = Vec::new();
    for (user, code) in [("alice", "code-alice"), ("bob", "code-bob")] {
        let url = slack
            .connect(user, code)
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
        assert_eq!(
            url.as_str().split('?').next(),
            Some("https://slack.com/oauth/v2/authorize")
        );
        assert_eq!(url_param(&url, "client_id").as_deref(), Some(CLIENT_ID));
        assert_eq!(url_param(&url, "response_type").as_deref(), Some("code"));
        assert_eq!(
            url_param(&url, "redirect_uri").as_deref(),
            Some(REDIRECT_URI)
        );
        // User scopes go in `user_scope`; no bot `scope` is asked for.
        assert_eq!(url_param(&url, "user_scope").as_deref(), Some(SCOPES));
        assert_eq!(url_param(&url, "scope"), None);
        assert_eq!(
            url_param(&url, "code_challenge_method").as_deref(),
            Some("S256")
        );
        assert!(url_param(&url, "state").is_some_and(|s| s.len() >= 32));
        challenges.push(url_param(&url, "code_challenge").expect("code_challenge"));
    }
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CANARY}"))
    );
    let tokens = requests(&server).await;
    assert_eq!(tokens.len(), 2);
    for ((r, code), challenge) in tokens
        .iter()
        .zip(["code-alice", "code-bob"])
        .zip(&challenges)
    {
        assert_line(r, "POST", "/api/oauth.v2.access");
        assert_eq!(
            header(r, "authorization"),
            Some(basic.clone()),
            "HTTP Basic, as Slack prefers"
        );
        let field = |k| form_field(r, k);
        assert_eq!(field("grant_type").as_deref(), Some("authorization_code"));
        assert_eq!(field("code").as_deref(), Some(code));
        assert_eq!(field("redirect_uri").as_deref(), Some(REDIRECT_URI));
        assert_eq!(field("client_secret"), None);
        let verifier = field("code_verifier").expect("code_verifier");
        assert_eq!(&s256(&verifier), challenge);
    }
    // The token stored for each user is `authed_user.access_token`: auth.test as each user.
    Mock::given(method("POST"))
        .and(path("/api/auth.test"))
        .respond_with(json_reply(json!({ "ok": true, "url": "https://softworks.slack.com/",
            "team": "Slack Softworks", "user": "alice", "team_id": "T9TK3CUKW", "user_id": "U0ALICE" })))
        .mount(&server)
        .await;
    for (user, token) in [("alice", ALICE_TOKEN), ("bob", BOB_TOKEN)] {
        slack.test_as(user).await.unwrap_or_else(|e| panic!("{e}"));
        let r = api_requests(&server).await.pop().expect("auth.test");
        assert_line(&r, "POST", "/api/auth.test");
        assert_user_token(&r, token);
    }
}

fn search_page(page: u64, matches: &[(&str, &str)]) -> Value {
    let matches: Vec<Value> = matches
        .iter()
        .map(|(ts, text)| {
            json!({
                "iid": format!("iid-{ts}"), "team": "T9TK3CUKW", "type": "message",
                "channel": { "id": "C0OPS", "name": "ops", "is_private": false },
                "user": "U0CAROL", "username": "carol", "ts": ts, "text": text,
                "permalink": format!("https://softworks.slack.com/archives/C0OPS/p{}", ts.replace('.', ""))
            })
        })
        .collect();
    json!({
        "ok": true, "query": "deploy failed",
        "messages": {
            "total": 3, "matches": matches,
            "pagination": { "total_count": 3, "page": page, "per_page": 2, "page_count": 2, "first": 1, "last": 2 },
            "paging": { "count": 2, "total": 3, "page": page, "pages": 2 }
        }
    })
}

#[tokio::test]
async fn slack_user_search_messages_follows_pages_as_the_user() {
    let (server, slack) = connected().await;
    Mock::given(method("GET"))
        .and(path("/api/search.messages"))
        .and(query_param("page", "1"))
        .respond_with(json_reply(search_page(
            1,
            &[
                ("1764979200.000100", "deploy failed on web-1"),
                ("1764979100.000200", "deploy failed again"),
            ],
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/search.messages"))
        .and(query_param("page", "2"))
        .respond_with(json_reply(search_page(
            2,
            &[("1764979000.000300", "why did deploy fail?")],
        )))
        .mount(&server)
        .await;
    let input = json!({ "query": "deploy failed in:#ops", "count": 2, "sort": "timestamp", "sortDir": "asc" });
    let out = slack
        .run_all_as("alice", "searchMessages", input)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let out = out.as_array().expect("an array");
    assert_eq!(out.len(), 3);
    assert_eq!(
        out[0],
        json!({ "ts": "1764979200.000100", "text": "deploy failed on web-1", "user": "U0CAROL",
                "username": "carol", "channelId": "C0OPS", "channelName": "ops",
                "permalink": "https://softworks.slack.com/archives/C0OPS/p1764979200000100" })
    );
    assert_eq!(out[2]["text"], json!("why did deploy fail?"));
    let rs = api_requests(&server).await;
    assert_eq!(rs.len(), 2, "the total (3) is reached on page 2");
    for (r, page) in rs.iter().zip(["1", "2"]) {
        assert_line(r, "GET", "/api/search.messages");
        assert_query(
            r,
            &[
                ("query", "deploy failed in:#ops"),
                ("count", "2"),
                ("sort", "timestamp"),
                ("sort_dir", "asc"),
                ("page", page),
            ],
        );
        assert_user_token(r, ALICE_TOKEN);
    }
    // bob searches with bob's token.
    slack
        .run_as("bob", "searchMessages", json!({ "query": "lunch" }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r = api_requests(&server).await.pop().expect("bob's search");
    assert_query(&r, &[("query", "lunch"), ("count", "20"), ("page", "1")]);
    assert_user_token(&r, BOB_TOKEN);
}

#[tokio::test]
async fn slack_user_channel_history_follows_the_cursor() {
    let (server, slack) = connected().await;
    let message = |ts: &str, text: &str| json!({ "type": "message", "user": "U0ALICE", "text": text, "ts": ts });
    Mock::given(method("GET"))
        .and(path("/api/conversations.history"))
        .and(query_param_is_missing("cursor"))
        .respond_with(json_reply(json!({
            "ok": true, "messages": [message("1764979300.000100", "first"),
              { "type": "message", "user": "U0BOB", "text": "thread", "ts": "1764979200.000100",
                "thread_ts": "1764979200.000100", "reply_count": 4 }],
            "has_more": true, "pin_count": 0, "response_metadata": { "next_cursor": "bmV4dF90czoxNzY0OTc5MTAw" }
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/conversations.history"))
        .and(query_param("cursor", "bmV4dF90czoxNzY0OTc5MTAw"))
        .respond_with(json_reply(json!({
            "ok": true, "messages": [{ "type": "message", "subtype": "channel_join", "user": "U0CAROL",
              "text": "<@U0CAROL> has joined the channel", "ts": "1764979100.000100" }],
            "has_more": false, "pin_count": 0, "response_metadata": { "next_cursor": "" }
        })))
        .mount(&server)
        .await;
    let input = json!({ "channel": "C0OPS", "limit": 2, "oldest": "1764900000", "latest": "1764980000.000000" });
    let out = slack
        .run_all_as("bob", "getChannelHistory", input)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!([
            { "ts": "1764979300.000100", "type": "message", "subtype": null, "user": "U0ALICE",
              "text": "first", "threadTs": null, "replyCount": null },
            { "ts": "1764979200.000100", "type": "message", "subtype": null, "user": "U0BOB",
              "text": "thread", "threadTs": "1764979200.000100", "replyCount": 4 },
            { "ts": "1764979100.000100", "type": "message", "subtype": "channel_join", "user": "U0CAROL",
              "text": "<@U0CAROL> has joined the channel", "threadTs": null, "replyCount": null }
        ])
    );
    let rs = api_requests(&server).await;
    assert_eq!(rs.len(), 2);
    let base = [
        ("channel", "C0OPS"),
        ("limit", "2"),
        ("oldest", "1764900000"),
        ("latest", "1764980000.000000"),
    ];
    assert_query(&rs[0], &base);
    let mut second = base.to_vec();
    second.push(("cursor", "bmV4dF90czoxNzY0OTc5MTAw"));
    assert_query(&rs[1], &second);
    for r in &rs {
        assert_line(r, "GET", "/api/conversations.history");
        assert_user_token(r, BOB_TOKEN);
    }
}

#[tokio::test]
async fn slack_user_list_channels_as_alice() {
    let (server, slack) = connected().await;
    Mock::given(method("GET"))
        .and(path("/api/conversations.list"))
        .respond_with(json_reply(json!({
            "ok": true,
            "channels": [{ "id": "C0OPS", "name": "ops", "is_channel": true, "is_private": false,
                "is_archived": false, "is_member": true, "num_members": 12,
                "topic": { "value": "Deploys", "creator": "U0ALICE", "last_set": 0 },
                "purpose": { "value": "Operations", "creator": "U0ALICE", "last_set": 0 } },
              { "id": "D0DM", "is_im": true, "user": "U0BOB", "is_user_deleted": false }],
            "response_metadata": { "next_cursor": "" }
        })))
        .mount(&server)
        .await;
    let out = slack
        .run_as(
            "alice",
            "listChannels",
            json!({ "types": "public_channel,im", "excludeArchived": false }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!([
            { "id": "C0OPS", "name": "ops", "isPrivate": false, "isArchived": false, "isMember": true,
              "numMembers": 12, "topic": "Deploys", "purpose": "Operations" },
            { "id": "D0DM", "name": null, "isPrivate": null, "isArchived": null, "isMember": null,
              "numMembers": null, "topic": null, "purpose": null }
        ])
    );
    let r = api_requests(&server).await.pop().expect("one request");
    assert_line(&r, "GET", "/api/conversations.list");
    assert_query(
        &r,
        &[
            ("types", "public_channel,im"),
            ("exclude_archived", "false"),
            ("limit", "200"),
        ],
    );
    assert_user_token(&r, ALICE_TOKEN);
}

#[tokio::test]
async fn slack_user_error_replies_are_classified_without_the_secret() {
    let (server, slack) = connected().await;
    let cases = [
        (
            "C0AUTH",
            json_reply(json!({ "ok": false, "error": "invalid_auth" })),
            ErrorClass::Auth,
        ),
        (
            "C0REVOKED",
            json_reply(json!({ "ok": false, "error": "token_revoked" })),
            ErrorClass::Auth,
        ),
        (
            "C0GONE",
            json_reply(json!({ "ok": false, "error": "channel_not_found" })),
            ErrorClass::User,
        ),
        (
            "C0SLOW",
            json_reply(json!({ "ok": false, "error": "ratelimited" })),
            ErrorClass::RateLimited,
        ),
        // Retry-After beyond the policy's maxWaitMs: rate_limited at once, no retry loop.
        (
            "C0LIMIT",
            ResponseTemplate::new(429).insert_header("Retry-After", "3600"),
            ErrorClass::RateLimited,
        ),
    ];
    for (channel, reply, _) in &cases {
        Mock::given(method("GET"))
            .and(path("/api/conversations.history"))
            .and(query_param("channel", *channel))
            .respond_with(reply.clone())
            .mount(&server)
            .await;
    }
    for (channel, _, class) in cases {
        let e = slack
            .run_as("bob", "getChannelHistory", json!({ "channel": channel }))
            .await
            .expect_err(channel);
        assert_eq!(e.class, class, "{channel}: {e}");
        assert!(!e.to_string().contains(BOB_TOKEN), "{e}");
        if channel == "C0GONE" {
            assert!(
                e.message.contains("Slack API error: channel_not_found"),
                "{e}"
            );
        }
    }
}

#[tokio::test]
async fn slack_user_connects_through_ears() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .and(path("/v1/slack/oauth/token"))
        .respond_with(json_reply(json!({
            "access_token": ALICE_TOKEN, "refresh_token": "xoxe-1-alice-refresh", "expires_in": 43200,
            "token_type": "Bearer"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/conversations.list"))
        .respond_with(json_reply(
            json!({ "ok": true, "channels": [], "response_metadata": { "next_cursor": "" } }),
        ))
        .mount(&server)
        .await;
    let slack = PerUser::new(
        spec_at(&server),
        json!({ "authType": "ears", "earsBaseUrl": server.uri() }),
        json!({}),
    )
    .await;
    let url = slack
        .connect("alice", "ears-code-alice")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(url.path(), "/v1/slack/oauth/authorize");
    assert_eq!(
        url_param(&url, "callback_uri").as_deref(),
        Some(REDIRECT_URI)
    );
    assert_eq!(url_param(&url, "scope").as_deref(), Some(SCOPES));
    assert_eq!(url_param(&url, "pkce_method").as_deref(), Some("S256"));
    let challenge = url_param(&url, "pkce_challenge").expect("pkce_challenge");
    let token = requests(&server).await.remove(0);
    assert_line(&token, "POST", "/v1/slack/oauth/token");
    let body = json_body(&token);
    assert_eq!(body["code"], json!("ears-code-alice"));
    assert_eq!(body["callback_uri"], json!(REDIRECT_URI));
    assert_eq!(s256(body["pkce_verifier"].as_str().unwrap()), challenge);
    slack
        .run_as("alice", "listChannels", json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r = requests(&server).await.pop().expect("conversations.list");
    assert_line(&r, "GET", "/api/conversations.list");
    assert_user_token(&r, ALICE_TOKEN);
}
