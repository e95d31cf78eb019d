//! `.gmail`: a per-user connector. Alice and bob connect their own Google accounts through the
//! real OAuth flow against the loopback Google of `google_drive.rs`, then Gmail v1 calls run as
//! each of them on `users/me` with their own bearer token.

use super::google_drive::{
    ALICE, BOB, CLIENT_ID, api_requests, assert_code_exchanges, assert_google_authorization,
    bearer, connect_both, for_token, google_error,
};
use super::*;
use contract_support::per_user::PerUser;

const GMAIL_SCOPE: &str = "https://www.googleapis.com/auth/gmail.readonly";

async fn gmail(server: &MockServer) -> PerUser {
    connect_both("gmail.yaml", server, GMAIL_SCOPE).await
}

fn ids(out: &Value) -> Vec<&str> {
    out.as_array()
        .expect("records")
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn gmail_two_users_search_their_own_mailboxes() {
    let server = loopback().await;
    let p = gmail(&server).await;
    assert_code_exchanges(&server).await;
    for u in [ALICE, BOB] {
        Mock::given(method("GET"))
            .and(path("/gmail/v1/users/me/messages"))
            .and(for_token(u.access))
            .respond_with(json_reply(json!({
                "messages": [{ "id": format!("{}-m1", u.name), "threadId": format!("{}-t1", u.name) }],
                "resultSizeEstimate": 1
            })))
            .mount(&server)
            .await;
    }
    for u in [BOB, ALICE] {
        let out = p
            .run_as(u.name, "searchMessages", json!({ "query": "is:unread" }))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out,
            json!([{ "id": format!("{}-m1", u.name), "threadId": format!("{}-t1", u.name) }])
        );
    }
    let calls = api_requests(&server).await;
    assert_eq!(calls.len(), 2);
    assert_eq!(bearer(&calls[0]), format!("Bearer {}", BOB.access));
    assert_eq!(bearer(&calls[1]), format!("Bearer {}", ALICE.access));
    for r in &calls {
        assert_line(r, "GET", "/gmail/v1/users/me/messages");
        assert_query(r, &[("q", "is:unread"), ("maxResults", "100")]);
    }
}

#[tokio::test]
async fn gmail_defaults_are_googles_endpoints_and_scope() {
    let p = PerUser::new(
        load_spec("gmail.yaml"),
        json!({ "authType": "oauth_authorization_code", "clientId": CLIENT_ID }),
        json!({ "clientSecret": CANARY }),
    )
    .await;
    let url = p.authorization_url("bob").await;
    assert_google_authorization(
        &url,
        "https://accounts.google.com/o/oauth2/v2/auth",
        GMAIL_SCOPE,
    );
}

#[tokio::test]
async fn gmail_search_messages_follows_next_page_token() {
    let server = loopback().await;
    let p = gmail(&server).await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/messages"))
        .and(query_param_is_missing("pageToken"))
        .respond_with(json_reply(json!({
            "messages": [{ "id": "18c1", "threadId": "18c1" }, { "id": "18c2", "threadId": "18c1" }],
            "nextPageToken": "09876543210987654321", "resultSizeEstimate": 3
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/messages"))
        .and(query_param("pageToken", "09876543210987654321"))
        .respond_with(json_reply(json!({
            "messages": [{ "id": "18c3", "threadId": "18c3" }], "resultSizeEstimate": 3
        })))
        .mount(&server)
        .await;
    let input = json!({
        "query": "from:alerts@example.com newer_than:7d", "maxResults": 2, "includeSpamTrash": true
    });
    let out = p
        .run_all_as("alice", "searchMessages", input)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ids(&out), ["18c1", "18c2", "18c3"]);
    let calls = api_requests(&server).await;
    assert_eq!(calls.len(), 2);
    let base = [
        ("q", "from:alerts@example.com newer_than:7d"),
        ("maxResults", "2"),
        ("includeSpamTrash", "true"),
    ];
    assert_query(&calls[0], &base);
    let mut second = base.to_vec();
    second.push(("pageToken", "09876543210987654321"));
    assert_query(&calls[1], &second);
    for r in &calls {
        assert_eq!(bearer(r), format!("Bearer {}", ALICE.access));
    }
    // No hits: Gmail leaves `messages` out, an empty listing.
    let server = loopback().await;
    let p = gmail(&server).await;
    mount_any(&server, json_reply(json!({ "resultSizeEstimate": 0 }))).await;
    let out = p
        .run_all_as("alice", "searchMessages", json!({ "query": "nothing" }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!([]));
}

#[tokio::test]
async fn gmail_get_message_sends_format_and_repeated_metadata_headers() {
    let server = loopback().await;
    let p = gmail(&server).await;
    let message = json!({
        "id": "18c1a2b3c4d5e6f7", "threadId": "18c1a2b3c4d5e6f7", "labelIds": ["INBOX", "UNREAD"],
        "snippet": "Disk usage above 90% on web-01", "historyId": "123456",
        "internalDate": "1764489600000", "sizeEstimate": 4321,
        "payload": { "mimeType": "text/plain", "headers": [
            { "name": "From", "value": "Alerts <alerts@example.com>" },
            { "name": "Subject", "value": "Disk usage" }
        ]}
    });
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/messages/18c1a2b3c4d5e6f7"))
        .and(for_token(BOB.access))
        .respond_with(json_reply(message.clone()))
        .mount(&server)
        .await;
    let out = p
        .run_as(
            "bob",
            "getMessage",
            json!({ "id": "18c1a2b3c4d5e6f7", "format": "metadata", "metadataHeaders": ["From", "Subject"] }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, message);
    let out = p
        .run_as("bob", "getMessage", json!({ "id": "18c1a2b3c4d5e6f7" }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, message);
    let calls = api_requests(&server).await;
    assert_eq!(calls.len(), 2);
    for r in &calls {
        assert_line(r, "GET", "/gmail/v1/users/me/messages/18c1a2b3c4d5e6f7");
        assert_eq!(bearer(r), format!("Bearer {}", BOB.access));
    }
    assert_query(
        &calls[0],
        &[
            ("format", "metadata"),
            ("metadataHeaders", "From"),
            ("metadataHeaders", "Subject"),
        ],
    );
    assert_query(&calls[1], &[("format", "full")]);
    // A header name that could smuggle a parameter in is refused before anything is sent.
    let e = p
        .run_as(
            "bob",
            "getMessage",
            json!({ "id": "18c1", "format": "metadata", "metadataHeaders": ["From&format=raw"] }),
        )
        .await
        .expect_err("refused");
    assert_eq!(e.class, ErrorClass::User);
    assert_eq!(api_requests(&server).await.len(), 2);
}

#[tokio::test]
async fn gmail_list_labels() {
    let server = loopback().await;
    let p = gmail(&server).await;
    let labels = json!([
        { "id": "INBOX", "name": "INBOX", "type": "system",
          "messageListVisibility": "hide", "labelListVisibility": "labelShow" },
        { "id": "Label_12", "name": "Alerts", "type": "user",
          "messageListVisibility": "show", "labelListVisibility": "labelShow" }
    ]);
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/labels"))
        .and(for_token(ALICE.access))
        .respond_with(json_reply(json!({ "labels": labels.clone() })))
        .mount(&server)
        .await;
    let out = p
        .run_as("alice", "listLabels", json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, labels);
    let r = &api_requests(&server).await[0];
    assert_line(r, "GET", "/gmail/v1/users/me/labels");
    assert_query(r, &[]);
}

#[tokio::test]
async fn gmail_errors_are_classified() {
    let server = loopback().await;
    let p = gmail(&server).await;
    let cases = [
        (
            "aaa1",
            google_error(
                403,
                "PERMISSION_DENIED",
                "rateLimitExceeded",
                "Rate Limit Exceeded",
            ),
            ErrorClass::RateLimited,
        ),
        (
            "aaa2",
            google_error(
                404,
                "NOT_FOUND",
                "notFound",
                "Requested entity was not found.",
            ),
            ErrorClass::User,
        ),
        (
            "aaa3",
            google_error(
                400,
                "INVALID_ARGUMENT",
                "invalidArgument",
                "Invalid id value",
            ),
            ErrorClass::User,
        ),
        (
            "aaa4",
            google_error(
                403,
                "PERMISSION_DENIED",
                "insufficientPermissions",
                "Request had insufficient authentication scopes.",
            ),
            ErrorClass::Auth,
        ),
        (
            "aaa5",
            google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "rateLimitExceeded",
                "Too many concurrent requests for user",
            )
            .insert_header("Retry-After", "3600"),
            ErrorClass::RateLimited,
        ),
    ];
    for (id, reply, _) in &cases {
        Mock::given(method("GET"))
            .and(path(format!("/gmail/v1/users/me/messages/{id}")))
            .respond_with(reply.clone())
            .mount(&server)
            .await;
    }
    for (id, _, class) in cases {
        let e = p
            .run_as("alice", "getMessage", json!({ "id": id }))
            .await
            .expect_err(id);
        assert_eq!(e.class, class, "{id}: {e}");
    }
}

#[tokio::test]
async fn gmail_connection_test_gets_the_profile() {
    let server = loopback().await;
    let p = gmail(&server).await;
    let profile = json!({
        "emailAddress": "alice@example.com", "messagesTotal": 1234,
        "threadsTotal": 987, "historyId": "123456"
    });
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/profile"))
        .and(for_token(ALICE.access))
        .respond_with(json_reply(profile.clone()))
        .mount(&server)
        .await;
    assert_eq!(
        p.test_as("alice").await.unwrap_or_else(|e| panic!("{e}")),
        profile
    );
    let r = &api_requests(&server).await[0];
    assert_line(r, "GET", "/gmail/v1/users/me/profile");
    assert_query(r, &[]);
    // Bob's token is refused by Google: the test fails as auth, in bob's name only.
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/profile"))
        .respond_with(google_error(
            401,
            "UNAUTHENTICATED",
            "authError",
            "Invalid Credentials",
        ))
        .mount(&server)
        .await;
    let e = p.test_as("bob").await.expect_err("401");
    assert_eq!(e.class, ErrorClass::Auth);
}

#[tokio::test]
async fn gmail_429_with_retry_after_is_retried_after_the_wait() {
    let server = loopback().await;
    let p = gmail(&server).await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/labels"))
        .respond_with(
            google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "rateLimitExceeded",
                "Rate Limit Exceeded",
            )
            .insert_header("Retry-After", "0"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/labels"))
        .respond_with(json_reply(
            json!({ "labels": [{ "id": "INBOX", "name": "INBOX", "type": "system" }] }),
        ))
        .mount(&server)
        .await;
    let out = p
        .run_as("bob", "listLabels", json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!([{ "id": "INBOX", "name": "INBOX", "type": "system" }])
    );
    let calls = api_requests(&server).await;
    assert_eq!(calls.len(), 2);
    for r in &calls {
        assert_eq!(bearer(r), format!("Bearer {}", BOB.access));
    }
}
