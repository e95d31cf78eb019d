//! `.jira-service-management`: the JSM Operations integration events API (Opsgenie-compatible
//! alerts, `GenieKey` auth) against a loopback server.

use super::*;

fn jsm(server: &MockServer) -> Harness {
    Harness::new(
        load_spec("jira_service_management.yaml"),
        json!({ "apiUrl": server.uri() }),
        json!({ "apiKey": CANARY }),
    )
}

fn accepted() -> ResponseTemplate {
    ResponseTemplate::new(202).set_body_json(json!({
        "result": "Request will be processed",
        "took": 0.107,
        "requestId": "70413a06-38d6-4c85-92b8-5ebc900d42e2"
    }))
}

fn accepted_output() -> Value {
    json!({
        "requestId": "70413a06-38d6-4c85-92b8-5ebc900d42e2",
        "result": "Request will be processed",
        "took": 0.107
    })
}

#[tokio::test]
async fn create_alert_posts_the_input_with_geniekey() {
    let server = loopback().await;
    mount_any(&server, accepted()).await;
    let h = jsm(&server);
    let input = json!({
        "message": "CPU above 95% on web-01",
        "alias": "rule-1:web-01",
        "description": "Threshold rule fired",
        "responders": [{ "name": "SRE", "type": "team" }],
        "visibleTo": [{ "username": "lead@example.com", "type": "user" }],
        "tags": ["elastic", "cpu"],
        "details": { "kibana": "https://kibana.example.com/app/r/1" },
        "entity": "web-01",
        "source": "Elastic",
        "priority": "P2",
        "note": "opened by Elastic"
    });
    let out = h.exec("createAlert", input.clone()).await.expect("created");
    assert_eq!(out, accepted_output());
    let r = only_request(&server).await;
    assert_line(&r, "POST", "/jsm/ops/integration/v2/alerts");
    assert_query(&r, &[]);
    assert_eq!(
        header(&r, "authorization"),
        Some(format!("GenieKey {CANARY}"))
    );
    assert_eq!(json_body(&r), input);
}

#[tokio::test]
async fn close_alert_by_alias() {
    let server = loopback().await;
    mount_any(&server, accepted()).await;
    let h = jsm(&server);
    let out = h
        .exec(
            "closeAlert",
            json!({ "alias": "rule-1:web 01/cpu", "source": "Elastic", "note": "recovered" }),
        )
        .await
        .expect("closed");
    assert_eq!(out, accepted_output());
    let r = only_request(&server).await;
    assert_line(
        &r,
        "POST",
        "/jsm/ops/integration/v2/alerts/rule-1:web%2001%2Fcpu/close",
    );
    assert_query(&r, &[("identifierType", "alias")]);
    assert_eq!(
        header(&r, "authorization"),
        Some(format!("GenieKey {CANARY}"))
    );
    assert_eq!(
        json_body(&r),
        json!({ "user": null, "source": "Elastic", "note": "recovered" })
    );
}

#[tokio::test]
async fn jsm_errors_are_classified_with_the_message() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(422).set_body_json(json!({
            "message": "Request body is not processable. Please check the errors.",
            "errors": { "message": "Message can not be empty." },
            "took": 0.002,
            "requestId": "e5b3e9b1-4d6a-4bd5-b5c2-43d6a1c0a8f4"
        })),
    )
    .await;
    let h = jsm(&server);
    let e = h
        .exec("createAlert", json!({ "message": "x" }))
        .await
        .expect_err("422");
    assert_eq!((e.class, e.status), (ErrorClass::User, Some(422)));
    assert!(e.message.contains("not processable"), "{e}");

    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(401).set_body_json(json!({
            "message": format!("Could not authenticate with GenieKey {CANARY}"),
            "took": 0.0, "requestId": "r"
        })),
    )
    .await;
    let h = jsm(&server);
    let e = h
        .exec("closeAlert", json!({ "alias": "a" }))
        .await
        .expect_err("401");
    assert_eq!(e.class, ErrorClass::Auth);
}

#[test]
fn the_default_url_is_atlassians_api_gateway() {
    let spec = load_spec("jira_service_management.yaml");
    assert_eq!(
        spec.base_url.as_deref(),
        Some("{{ config.apiUrl | default('https://api.atlassian.com') }}")
    );
}
