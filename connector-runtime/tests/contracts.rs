//! Contract tests of the bundled specs in `specs/`: every declarative action of every spec runs
//! through `Dispatcher::execute` against a loopback wiremock server, and the test asserts the
//! request on the wire (method, path, query, headers including the auth header, exact body) and
//! the mapped output. Specs with a hard-coded vendor URL are pointed at the mock by editing the
//! loaded `ConnectorSpec` (never the spec file). Every instance carries the canary secret, and no
//! error may show it.

mod contract_support;

use base64::Engine as _;
use connector_runtime::ErrorClass;
use contract_support::*;
use serde_json::{Value, json};
use wiremock::matchers::{any, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Every declarative action this file has a contract test for, per spec file.
const COVERED: &[(&str, &[&str])] = &[
    (
        "jira.yaml",
        &[
            "createIssue",
            "fieldsByIssueType",
            "getFields",
            "getIncident",
            "issue",
            "issueTypes",
            "issues",
        ],
    ),
    ("opsgenie.yaml", &["closeAlert", "createAlert"]),
    ("pagerduty.yaml", &["execute"]),
    ("server_log.yaml", &[]),
    ("slack.yaml", &["execute"]),
    (
        "slack_api.yaml",
        &[
            "getAllowedChannels",
            "postBlockkit",
            "postMessage",
            "validChannelId",
        ],
    ),
    ("teams.yaml", &["execute"]),
    ("webhook.yaml", &[]),
];

#[test]
fn every_declarative_action_of_every_spec_has_a_contract() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("specs dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    let listed: Vec<&str> = COVERED.iter().map(|(f, _)| *f).collect();
    assert_eq!(files, listed, "a spec file without contract tests");
    for (file, covered) in COVERED {
        let spec = load_spec(file);
        assert_eq!(
            declarative_actions(&spec),
            covered.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "declarative actions of {file}"
        );
    }
}

fn json_reply(v: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(v)
}

async fn mount_any(server: &MockServer, reply: ResponseTemplate) {
    Mock::given(any()).respond_with(reply).mount(server).await;
}

// ---------------------------------------------------------------------------------------------
// .server-log
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn server_log_execute_runs_the_builtin_handler() {
    let spec = load_spec("server_log.yaml");
    let h = Harness::new(spec, json!({}), json!({}));
    let out = h
        .exec(
            "execute",
            json!({"message": "disk usage above 90%", "level": "warn"}),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!({"logged": true}));
    // The level defaults to info.
    let out = h
        .exec("execute", json!({"message": "hello"}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!({"logged": true}));
    // No connection test is declared.
    let e = h.test().await.expect_err("no test");
    assert_eq!(e.code, "no_test");
}

// ---------------------------------------------------------------------------------------------
// .slack (incoming webhook)
// ---------------------------------------------------------------------------------------------

fn slack_webhook(server: &MockServer) -> Harness {
    let url = format!("{}/services/T000/B000/{CANARY}", server.uri());
    Harness::new(load_spec("slack.yaml"), json!({}), json!({ "url": url }))
}

#[tokio::test]
async fn slack_webhook_execute_posts_text_to_the_secret_url() {
    let server = loopback().await;
    mount_any(&server, ResponseTemplate::new(200).set_body_string("ok")).await;
    let h = slack_webhook(&server);
    let out = h
        .exec("execute", json!({"message": "*deploy* done <!here>"}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!("ok"));
    let r = only_request(&server).await;
    assert_line(&r, "POST", &format!("/services/T000/B000/{CANARY}"));
    assert_query(&r, &[]);
    assert_eq!(header(&r, "authorization"), None);
    assert_eq!(json_body(&r), json!({"text": "*deploy* done <!here>"}));
}

#[tokio::test]
async fn slack_webhook_errors_are_classified_without_the_url() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(404).set_body_string("no_service"),
    )
    .await;
    let h = slack_webhook(&server);
    let e = h
        .exec("execute", json!({"message": "x"}))
        .await
        .expect_err("404");
    assert_eq!(e.class, ErrorClass::Auth);
    assert_eq!(e.status, Some(404));
    assert!(e.message.contains("disabled, revoked or invalid"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// .teams
// ---------------------------------------------------------------------------------------------

fn teams(server: &MockServer) -> Harness {
    let url = format!("{}/webhookb2/{CANARY}/IncomingWebhook/abc", server.uri());
    Harness::new(load_spec("teams.yaml"), json!({}), json!({ "url": url }))
}

#[tokio::test]
async fn teams_execute_posts_text_to_the_secret_url() {
    let server = loopback().await;
    mount_any(&server, ResponseTemplate::new(200).set_body_string("1")).await;
    let h = teams(&server);
    let out = h
        .exec("execute", json!({"message": "**Alert** fired"}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!(1));
    let r = only_request(&server).await;
    assert_line(
        &r,
        "POST",
        &format!("/webhookb2/{CANARY}/IncomingWebhook/abc"),
    );
    assert_query(&r, &[]);
    assert_eq!(header(&r, "authorization"), None);
    assert_eq!(json_body(&r), json!({"text": "**Alert** fired"}));
}

#[tokio::test]
async fn teams_workflow_webhook_answers_202_empty() {
    let server = loopback().await;
    mount_any(&server, ResponseTemplate::new(202)).await;
    let h = teams(&server);
    let out = h
        .exec("execute", json!({"message": "hi"}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, Value::Null);
}

#[tokio::test]
async fn teams_200_application_throttled_is_rate_limited() {
    let server = loopback().await;
    // `Retry-After: 0` keeps the spec's retries (1 + maxRetries 3) immediate.
    mount_any(
        &server,
        ResponseTemplate::new(200)
            .insert_header("Retry-After", "0")
            .set_body_string(
                "Microsoft Teams endpoint returned HTTP error 429 with ContextId \
                 tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef. \
                 ErrorCode:ApplicationThrottled",
            ),
    )
    .await;
    let h = teams(&server);
    let e = h
        .exec("execute", json!({"message": "hi"}))
        .await
        .expect_err("throttled");
    assert_eq!(e.class, ErrorClass::RateLimited, "{e}");
    assert_eq!(requests(&server).await.len(), 4, "retried maxRetries times");
}

// ---------------------------------------------------------------------------------------------
// .pagerduty
// ---------------------------------------------------------------------------------------------

fn pagerduty(server: &MockServer) -> Harness {
    // The events URL comes from `config.apiUrl` (default: the vendor's); point it at the mock
    // through the config, and separately check the model-level override below.
    Harness::new(
        load_spec("pagerduty.yaml"),
        json!({ "apiUrl": format!("{}/v2/enqueue", server.uri()) }),
        json!({ "routingKey": CANARY }),
    )
}

#[tokio::test]
async fn pagerduty_trigger_sends_the_input_plus_routing_key() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(202).set_body_json(json!({
            "status": "success",
            "message": "Event processed",
            "dedup_key": "srv01/HTTP"
        })),
    )
    .await;
    let h = pagerduty(&server);
    let input = json!({
        "event_action": "trigger",
        "dedup_key": "srv01/HTTP",
        "payload": {
            "summary": "DISK at 99% on machine prod-datapipe03.example.com",
            "source": "prod-datapipe03.example.com",
            "severity": "critical",
            "custom_details": {"free space": "1%"}
        },
        "links": [{"href": "https://example.com/runbook", "text": "Runbook"}]
    });
    let out = h
        .exec("execute", input.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({"status": "success", "message": "Event processed", "dedupKey": "srv01/HTTP"})
    );
    let r = only_request(&server).await;
    assert_line(&r, "POST", "/v2/enqueue");
    assert_query(&r, &[]);
    assert_eq!(header(&r, "authorization"), None);
    let mut expected = input;
    expected["routing_key"] = json!(CANARY);
    assert_eq!(json_body(&r), expected);
}

#[tokio::test]
async fn pagerduty_default_url_replaced_in_the_model() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(202).set_body_json(json!({
            "status": "success", "message": "Event processed", "dedup_key": "k1"
        })),
    )
    .await;
    let mut spec = load_spec("pagerduty.yaml");
    set_request_url(
        &mut spec,
        Some("execute"),
        &format!("{}/v2/enqueue", server.uri()),
    );
    let h = Harness::new(spec, json!({}), json!({ "routingKey": CANARY }));
    let out = h
        .exec(
            "execute",
            json!({"event_action": "resolve", "dedup_key": "k1"}),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out["dedupKey"], json!("k1"));
    let r = only_request(&server).await;
    assert_line(&r, "POST", "/v2/enqueue");
    assert_eq!(
        json_body(&r),
        json!({"event_action": "resolve", "dedup_key": "k1", "routing_key": CANARY})
    );
}

#[tokio::test]
async fn pagerduty_invalid_event_is_a_user_error_with_provider_text() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(400).set_body_json(json!({
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": ["Length of 'routing_key' is incorrect (should be 32 characters)"]
        })),
    )
    .await;
    let h = pagerduty(&server);
    let e = h
        .exec(
            "execute",
            json!({"event_action": "acknowledge", "dedup_key": "k"}),
        )
        .await
        .expect_err("400");
    assert_eq!(e.class, ErrorClass::User);
    assert_eq!(e.status, Some(400));
    assert_eq!(
        e.message,
        "PagerDuty rejected the event: Event object is invalid \
         (Length of 'routing_key' is incorrect (should be 32 characters))"
    );
}

// ---------------------------------------------------------------------------------------------
// .opsgenie
// ---------------------------------------------------------------------------------------------

fn opsgenie(server: &MockServer) -> Harness {
    Harness::new(
        load_spec("opsgenie.yaml"),
        json!({ "apiUrl": server.uri() }),
        json!({ "apiKey": CANARY }),
    )
}

fn opsgenie_accepted() -> ResponseTemplate {
    ResponseTemplate::new(202).set_body_json(json!({
        "result": "Request will be processed",
        "took": 0.302,
        "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"
    }))
}

fn opsgenie_output() -> Value {
    json!({
        "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120",
        "result": "Request will be processed",
        "took": 0.302
    })
}

#[tokio::test]
async fn opsgenie_create_alert_sends_the_input_with_geniekey() {
    let server = loopback().await;
    mount_any(&server, opsgenie_accepted()).await;
    let h = opsgenie(&server);
    let input = json!({
        "message": "An example alert message",
        "alias": "Life is too short for no alias",
        "description": "Every alert needs a description",
        "responders": [{"id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c", "type": "team"}],
        "tags": ["OverwriteQuietHours", "Critical"],
        "details": {"key1": "value1"},
        "priority": "P1"
    });
    let out = h
        .exec("createAlert", input.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, opsgenie_output());
    let r = only_request(&server).await;
    assert_line(&r, "POST", "/v2/alerts");
    assert_query(&r, &[]);
    assert_eq!(
        header(&r, "authorization"),
        Some(format!("GenieKey {CANARY}"))
    );
    assert_eq!(json_body(&r), input);
}

#[tokio::test]
async fn opsgenie_close_alert_by_alias() {
    let server = loopback().await;
    mount_any(&server, opsgenie_accepted()).await;
    let h = opsgenie(&server);
    let out = h
        .exec(
            "closeAlert",
            json!({"alias": "host 1/disk", "note": "fixed"}),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, opsgenie_output());
    let r = only_request(&server).await;
    assert_line(&r, "POST", "/v2/alerts/host%201%2Fdisk/close");
    assert_query(&r, &[("identifierType", "alias")]);
    assert_eq!(
        header(&r, "authorization"),
        Some(format!("GenieKey {CANARY}"))
    );
    assert_eq!(
        json_body(&r),
        json!({"user": null, "source": null, "note": "fixed"})
    );
}

#[tokio::test]
async fn opsgenie_401_is_auth_without_the_key() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(401).set_body_json(json!({
            "message": format!("Key {CANARY} is not valid"), "took": 0.0, "requestId": "r"
        })),
    )
    .await;
    let h = opsgenie(&server);
    let e = h
        .exec("closeAlert", json!({"alias": "a"}))
        .await
        .expect_err("401");
    assert_eq!(e.class, ErrorClass::Auth);
}
