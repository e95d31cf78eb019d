//! `.teams-cards`: a YAML spec compiled with `include_spec!`, with a `handler: code` action
//! implemented in Rust, run through the runtime against a loopback webhook.

mod support;

use std::sync::Arc;

use connector_examples::teams::{CardHandlers, teams_cards};
use connector_runtime::{ErrorClass, InstanceHandle};
use serde_json::json;
use support::{CANARY, assert_no_canary, loopback};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const THROTTLED: &str = "Microsoft Teams endpoint returned HTTP error 429 with ContextId \
     tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef. ErrorCode:ApplicationThrottled";

fn teams(server: &MockServer) -> InstanceHandle {
    let c = teams_cards::connector(CardHandlers).expect("connector");
    // The webhook URL is the secret; the canary in its path must never reach an error.
    InstanceHandle::new(
        Arc::new(c),
        json!({}),
        json!({ "url": format!("{}/webhook/{CANARY}", server.uri()) }),
    )
    .expect("instance")
}

fn card() -> teams_cards::PostCardInput {
    teams_cards::PostCardInput {
        title: "Disk full".into(),
        summary: Some("prod-db-1 has no space left".into()),
        severity: Some("critical".into()),
        facts: vec![teams_cards::PostCardInputFactsItem {
            name: "host".into(),
            value: "prod-db-1".into(),
        }],
    }
}

#[tokio::test]
async fn code_action_posts_a_card_through_the_typed_input() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("1"))
        .expect(1)
        .mount(&server)
        .await;
    let out = teams(&server).run(&card()).await.expect("postCard");
    assert_eq!(
        out,
        teams_cards::PostCardOutput {
            posted: true,
            reply: Some("1".into())
        }
    );
    let req = &server.received_requests().await.unwrap()[0];
    assert!(req.url.path().ends_with(CANARY), "posted to the secret URL");
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["@type"], "MessageCard");
    assert_eq!(body["themeColor"], "D13438");
    assert_eq!(
        body["sections"][0]["facts"],
        json!([{"name": "host", "value": "prod-db-1"}])
    );
}

#[tokio::test]
async fn declarative_action_runs_beside_the_code_action() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("1"))
        .mount(&server)
        .await;
    let input = teams_cards::ExecuteInput {
        message: "hello".into(),
    };
    teams(&server).run(&input).await.expect("execute");
    let req = &server.received_requests().await.unwrap()[0];
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body, json!({"text": "hello"}));
}

#[tokio::test]
async fn a_200_saying_application_throttled_is_rate_limited_for_both_actions() {
    let server = loopback().await;
    // `Retry-After: 0` keeps the spec's retries (1 + maxRetries 2) immediate.
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Retry-After", "0")
                .set_body_string(THROTTLED),
        )
        .mount(&server)
        .await;
    let h = teams(&server);
    let e = h.run(&card()).await.expect_err("throttled");
    assert_no_canary(&e);
    assert_eq!(e.class, ErrorClass::RateLimited, "{e}");
    assert_eq!(e.status, Some(200));
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        3,
        "retried twice"
    );
    let e = h
        .execute("execute", json!({"message": "hi"}))
        .await
        .expect_err("throttled");
    assert_no_canary(&e);
    assert_eq!(e.class, ErrorClass::RateLimited, "{e}");
}

#[tokio::test]
async fn a_deleted_webhook_is_an_auth_error_without_the_url() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(410).set_body_string(format!("gone: /webhook/{CANARY}")),
        )
        .mount(&server)
        .await;
    let e = teams(&server).run(&card()).await.unwrap_err();
    assert_no_canary(&e);
    assert_eq!((e.class, e.status), (ErrorClass::Auth, Some(410)), "{e}");
}

#[test]
fn the_module_embeds_the_spec_and_its_typed_inputs() {
    assert_eq!(teams_cards::ID, ".teams-cards");
    assert_eq!(teams_cards::FILE, "../specs/teams_cards.yaml");
    let on_disk = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/teams_cards.yaml"),
    )
    .unwrap();
    assert_eq!(teams_cards::SOURCE, on_disk);
    let spec = teams_cards::spec().unwrap();
    assert_eq!(
        spec.actions.keys().collect::<Vec<_>>(),
        ["execute", "postCard"]
    );
    // Unknown fields are refused like the schema's `additionalProperties: false`.
    let e =
        serde_json::from_value::<teams_cards::ExecuteInput>(json!({"message": "x", "extra": 1}));
    assert!(e.is_err());
}
