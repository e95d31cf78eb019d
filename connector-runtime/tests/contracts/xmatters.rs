//! `.xmatters`: a workflow's HTTP trigger, with basic auth (URL in the config) or with the
//! trigger URL holding its API key (the URL is the secret), against a loopback server.

use super::*;
use base64::Engine as _;

const TRIGGER: &str = "/api/integration/1/functions/5e0e3b3c-5f1f-4c39-9b3a-1b0d6f7f2c11/triggers";

fn alert() -> Value {
    json!({
        "alertActionGroupName": "Threshold met", "signalId": "a-1", "ruleName": "CPU high",
        "date": "2026-11-20T09:30:00.000Z", "severity": "high", "spaceId": "default",
        "tags": "prod,cpu"
    })
}

fn accepted() -> ResponseTemplate {
    ResponseTemplate::new(202)
        .set_body_json(json!({ "requestId": "7d2a8e1c-5b0f-4b8e-9c1d-0a2b3c4d5e6f" }))
}

#[tokio::test]
async fn execute_with_basic_auth_posts_to_the_configured_url() {
    let server = loopback().await;
    mount_any(&server, accepted()).await;
    let h = Harness::new(
        load_spec("xmatters.yaml"),
        json!({ "configUrl": format!("{}{TRIGGER}", server.uri()), "authType": "basic" }),
        json!({ "username": "elastic-integration", "password": CANARY }),
    );
    let out = h.exec("execute", alert()).await.expect("triggered");
    assert_eq!(
        out,
        json!({ "requestId": "7d2a8e1c-5b0f-4b8e-9c1d-0a2b3c4d5e6f" })
    );
    let r = only_request(&server).await;
    assert_line(&r, "POST", TRIGGER);
    assert_query(&r, &[]);
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("elastic-integration:{CANARY}"));
    assert_eq!(header(&r, "authorization"), Some(format!("Basic {basic}")));
    assert_eq!(json_body(&r), alert());
}

#[tokio::test]
async fn execute_with_url_authentication_posts_to_the_secret_url() {
    let server = loopback().await;
    mount_any(&server, accepted()).await;
    let h = Harness::new(
        load_spec("xmatters.yaml"),
        json!({ "authType": "webhook_url" }),
        json!({ "url": format!("{}{TRIGGER}?apiKey={CANARY}", server.uri()) }),
    );
    h.exec("execute", json!({ "severity": "low" }))
        .await
        .expect("triggered");
    let r = only_request(&server).await;
    assert_line(&r, "POST", TRIGGER);
    assert_query(&r, &[("apiKey", CANARY)]);
    assert_eq!(header(&r, "authorization"), None);
    assert_eq!(json_body(&r), json!({ "severity": "low" }));
}

#[tokio::test]
async fn xmatters_errors_are_classified_without_the_key() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(401).set_body_json(json!({
            "code": 401, "reason": "Unauthorized", "message": "Invalid API key"
        })),
    )
    .await;
    let h = Harness::new(
        load_spec("xmatters.yaml"),
        json!({ "authType": "webhook_url" }),
        json!({ "url": format!("{}{TRIGGER}?apiKey={CANARY}", server.uri()) }),
    );
    let e = h
        .exec("execute", json!({ "severity": "low" }))
        .await
        .expect_err("401");
    assert_eq!((e.class, e.status), (ErrorClass::Auth, Some(401)));

    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(400).set_body_json(json!({
            "code": 400, "reason": "Bad Request", "message": "The trigger is disabled"
        })),
    )
    .await;
    let h = Harness::new(
        load_spec("xmatters.yaml"),
        json!({ "configUrl": format!("{}{TRIGGER}", server.uri()), "authType": "basic" }),
        json!({ "username": "u", "password": CANARY }),
    );
    let e = h.exec("execute", alert()).await.expect_err("400");
    assert_eq!((e.class, e.status), (ErrorClass::User, Some(400)));
    assert!(
        e.message
            .contains("xMatters refused the request: The trigger is disabled"),
        "{e}"
    );
}
