//! `.torq`: the workflow trigger posts the JSON event to the integration URL with the
//! `X-Torq-Token` header.

use super::*;

fn torq(server: &MockServer) -> Harness {
    Harness::new(
        load_spec("torq.yaml"),
        json!({ "webhookIntegrationUrl": format!("{}/v1/webhooks/af6aab8d-1111-2222-3333-74259a93b18f", server.uri()) }),
        json!({ "apiKey": CANARY }),
    )
}

const HOOK_PATH: &str = "/v1/webhooks/af6aab8d-1111-2222-3333-74259a93b18f";

#[tokio::test]
async fn torq_execute_posts_the_event_with_the_token_header() {
    let server = loopback().await;
    let reply = json!({ "event_id": "3f1c5e2a-9d4b-4e8f-8a51-0c2b7d6e9f10" });
    mount_any(&server, json_reply(reply.clone())).await;
    let h = torq(&server);
    let event = json!({ "alertId": "a1b2c3", "severity": "high", "hosts": ["web-01"] });
    let out = h
        .exec("execute", json!({ "body": event.clone() }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, reply);
    let r = only_request(&server).await;
    assert_line(&r, "POST", HOOK_PATH);
    assert_query(&r, &[]);
    assert_eq!(header(&r, "x-torq-token").as_deref(), Some(CANARY));
    assert_eq!(header(&r, "authorization"), None);
    assert_eq!(json_body(&r), event);
}

#[tokio::test]
async fn torq_connection_test_sends_a_test_event() {
    let server = loopback().await;
    mount_any(&server, ResponseTemplate::new(200)).await;
    let h = torq(&server);
    h.test().await.unwrap_or_else(|e| panic!("{e}"));
    let r = only_request(&server).await;
    assert_line(&r, "POST", HOOK_PATH);
    assert_eq!(header(&r, "x-torq-token").as_deref(), Some(CANARY));
    assert_eq!(
        json_body(&r),
        json!({ "test": true, "source": "connector connection test" })
    );
}

#[tokio::test]
async fn torq_401_is_auth_and_404_is_user() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .and(path(HOOK_PATH))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({ "message": "unauthorized" })),
        )
        .mount(&server)
        .await;
    let h = torq(&server);
    let e = h
        .exec("execute", json!({ "body": {"a": 1} }))
        .await
        .expect_err("401");
    assert_eq!(e.class, ErrorClass::Auth);
    assert_eq!(e.status, Some(401));

    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(404).set_body_json(json!({ "message": "webhook not found" })),
    )
    .await;
    let e = torq(&server)
        .exec("execute", json!({ "body": {"a": 1} }))
        .await
        .expect_err("404");
    assert_eq!(e.class, ErrorClass::User);
}

#[tokio::test]
async fn torq_retries_a_503_then_succeeds() {
    let server = loopback().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_any(&server, json_reply(json!({ "event_id": "e-2" }))).await;
    let h = torq(&server);
    let out = h
        .exec("execute", json!({ "body": {"a": 1} }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!({ "event_id": "e-2" }));
    assert_eq!(requests(&server).await.len(), 2);
}

#[test]
fn torq_refuses_a_url_outside_torq_hooks() {
    use connector_runtime::ConnectorInstance;
    let spec = std::sync::Arc::new(load_spec("torq.yaml"));
    let refused = ConnectorInstance::new(
        spec,
        json!({ "webhookIntegrationUrl": "https://evil.example.com/v1/webhooks/x" }),
        json!({ "apiKey": CANARY }),
    );
    let Err(e) = refused else {
        panic!("a non-Torq host is refused")
    };
    assert!(e.to_string().contains("webhookIntegrationUrl"), "{e}");
}
