//! Contract tests of the bundled specs in `specs/`: every action of every spec (declarative, and
//! the `handler: code` actions through their built-in Rust handlers) runs
//! through `Dispatcher::execute` against a loopback wiremock server, and the test asserts the
//! request on the wire (method, path, query, headers including the auth header, exact body) and
//! the mapped output. Specs with a hard-coded vendor URL are pointed at the mock by editing the
//! loaded `ConnectorSpec` (never the spec file). Every instance carries the canary secret, and no
//! error may show it.

mod contract_support;
mod jwt_support;
mod log_support;
mod sigv4_support;

#[path = "contracts/bedrock.rs"]
mod bedrock;
#[path = "contracts/cases_webhook.rs"]
mod cases_webhook;
#[path = "contracts/d3security.rs"]
mod d3security;
#[path = "contracts/email.rs"]
mod email;
#[path = "contracts/gemini.rs"]
mod gemini;
#[path = "contracts/gen_ai.rs"]
mod gen_ai;
#[path = "contracts/github.rs"]
mod github;
#[path = "contracts/gmail.rs"]
mod gmail;
#[path = "contracts/google_drive.rs"]
mod google_drive;
#[path = "contracts/index.rs"]
mod index;
#[path = "contracts/inference.rs"]
mod inference;
#[path = "contracts/jira_cloud.rs"]
mod jira_cloud;
#[path = "contracts/jira_service_management.rs"]
mod jira_service_management;
#[path = "contracts/microsoft_defender_endpoint.rs"]
mod microsoft_defender_endpoint;
#[path = "contracts/notion.rs"]
mod notion;
#[path = "contracts/resilient.rs"]
mod resilient;
#[path = "contracts/salesforce.rs"]
mod salesforce;
#[path = "contracts/sentinelone.rs"]
mod sentinelone;
#[path = "contracts/servicenow.rs"]
mod servicenow;
#[path = "contracts/servicenow_itom.rs"]
mod servicenow_itom;
#[path = "contracts/servicenow_sir.rs"]
mod servicenow_sir;
#[path = "contracts/sharepoint_online.rs"]
mod sharepoint_online;
#[path = "contracts/slack_user.rs"]
mod slack_user;
#[path = "contracts/swimlane.rs"]
mod swimlane;
#[path = "contracts/thehive.rs"]
mod thehive;
#[path = "contracts/tines.rs"]
mod tines;
#[path = "contracts/torq.rs"]
mod torq;
#[path = "contracts/xmatters.rs"]
mod xmatters;
#[path = "contracts/xsoar.rs"]
mod xsoar;

use base64::Engine as _;
use connector_runtime::ErrorClass;
use contract_support::*;
use serde_json::{Value, json};
use wiremock::matchers::{any, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Every declarative action this file has a contract test for, per spec file.
const COVERED: &[(&str, &[&str])] = &[
    // pushToService is `handler: code`: contracts/cases_webhook.rs.
    (
        "bedrock.yaml",
        &["invokeAI", "invokeAIRaw", "invokeStream", "run"],
    ),
    ("cases_webhook.yaml", &[]),
    (
        "crowdstrike.yaml",
        // initSession, runCommand and closeSession: the session tests in tests/sessions.rs.
        &[
            "closeSession",
            "getAgentDetails",
            "hostActions",
            "initSession",
            "runCommand",
        ],
    ),
    ("d3security.yaml", &["runQuery", "test"]),
    ("email.yaml", &[]),
    ("gemini.yaml", &["invokeAI", "run", "stream"]),
    ("gen_ai.yaml", &["invokeAI", "run", "stream"]),
    (
        "github.yaml",
        &[
            "getFileContents",
            "getIssue",
            "getPullRequest",
            "listMyRepositories",
            "searchIssues",
        ],
    ),
    (
        "gmail.yaml",
        &["getMessage", "listLabels", "searchMessages"],
    ),
    (
        "google_drive.yaml",
        &["getFile", "getFileContent", "searchFiles"],
    ),
    ("index.yaml", &[]),
    (
        "inference.yaml",
        &[
            "completion",
            "rerank",
            "sparse_embedding",
            "text_embedding",
            "unifiedCompletionStream",
        ],
    ),
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
    ("jira_cloud.yaml", &["getIssue", "searchIssues"]),
    (
        "jira_service_management.yaml",
        &["closeAlert", "createAlert"],
    ),
    (
        "microsoft_defender_endpoint.yaml",
        &[
            "getActionResults",
            "getActions",
            "getAgentDetails",
            "getAgentList",
            "getLibraryFiles",
            "isolateHost",
            "releaseHost",
            "runScript",
            "testConnector",
        ],
    ),
    (
        "notion.yaml",
        &["getPage", "getPageContent", "queryDataSource", "search"],
    ),
    ("opsgenie.yaml", &["closeAlert", "createAlert"]),
    ("pagerduty.yaml", &["execute"]),
    (
        "resilient.yaml",
        &["getFields", "incidentTypes", "severity"],
    ),
    ("salesforce.yaml", &["getRecord", "query", "search"]),
    (
        "sentinelone.yaml",
        &[
            "executeScript",
            "fetchAgentFiles",
            "getActivities",
            "getAgents",
            "getRemoteScriptResults",
            "getRemoteScriptStatus",
            "getRemoteScripts",
            "isolateHost",
            "releaseHost",
        ],
    ),
    ("server_log.yaml", &[]),
    (
        "servicenow.yaml",
        &["getChoices", "getFields", "getIncident"],
    ),
    ("servicenow_itom.yaml", &["addEvent", "getChoices"]),
    (
        "servicenow_sir.yaml",
        &["getChoices", "getFields", "getIncident"],
    ),
    (
        "sharepoint_online.yaml",
        &[
            "getFileText",
            "getSite",
            "listDriveItems",
            "listSites",
            "search",
        ],
    ),
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
    (
        "slack_user.yaml",
        &["getChannelHistory", "listChannels", "searchMessages"],
    ),
    ("swimlane.yaml", &[]),
    ("teams.yaml", &["execute"]),
    (
        "thehive.yaml",
        &["createAlert", "getFields", "getIncident", "test"],
    ),
    ("tines.yaml", &["stories", "webhook", "webhooks"]),
    ("torq.yaml", &["execute"]),
    ("webhook.yaml", &[]),
    ("xmatters.yaml", &["execute"]),
    ("xsoar.yaml", &["getPlaybooks", "pushToService", "test"]),
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

#[tokio::test]
async fn builtin_handlers_are_installed_only_when_asked_for() {
    use connector_runtime::Registry;
    let input = json!({"message": "hello"});
    // A plain registry knows no vendor: the code action has no handler.
    let mut plain = Registry::new();
    plain.register_spec(load_spec("server_log.yaml")).unwrap();
    let log = plain.instance(".server-log", json!({}), json!({})).unwrap();
    let e = log.execute("execute", input.clone()).await.unwrap_err();
    assert_eq!(e.code, "no_handler", "{e}");
    // `install` on a plain registry is the same as `with_builtins`.
    let mut installed = Registry::new();
    installed.install_builtins().unwrap();
    installed
        .register_spec(load_spec("server_log.yaml"))
        .unwrap();
    let log = installed
        .instance(".server-log", json!({}), json!({}))
        .unwrap();
    assert_eq!(
        log.execute("execute", input).await,
        Ok(json!({"logged": true}))
    );
    // Installing after the type is registered would be silently ignored, so it is refused.
    let e = installed.install_builtins().unwrap_err();
    assert_eq!(e.code, "handler_too_late", "{e}");
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
    // `api_key_header` with `headerName: Authorization` and `prefix: "GenieKey "`.
    assert_eq!(
        header(&r, "authorization"),
        Some(format!("GenieKey {CANARY}"))
    );
    assert_eq!(header(&r, "x-api-key"), None);
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
    assert_eq!(e.status, Some(401));
    // The key is redacted wherever the reply quotes it, bare or after its prefix.
    assert!(e.message.contains("[REDACTED]"), "{e}");
    for text in [e.to_string(), format!("{e:?}")] {
        assert!(!text.contains(CANARY), "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// .slack_api
// ---------------------------------------------------------------------------------------------

fn slack_api(server: &MockServer) -> Harness {
    let mut spec = load_spec("slack_api.yaml");
    assert_eq!(spec.base_url.as_deref(), Some("https://slack.com/api"));
    spec.base_url = Some(format!("{}/api", server.uri()));
    Harness::new(spec, json!({}), json!({ "token": CANARY }))
}

fn assert_bearer(r: &wiremock::Request) {
    assert_eq!(header(r, "authorization"), Some(format!("Bearer {CANARY}")));
}

fn channel(id: &str, name: &str) -> Value {
    json!({"id": id, "name": name, "is_private": false, "is_archived": false, "is_member": true})
}

#[tokio::test]
async fn slack_api_get_allowed_channels_follows_the_cursor() {
    let server = loopback().await;
    Mock::given(method("GET"))
        .and(path("/api/conversations.list"))
        .and(query_param_is_missing("cursor"))
        .respond_with(json_reply(json!({
            "ok": true,
            "channels": [channel("C1", "general"), channel("C2", "alerts")],
            "response_metadata": {"next_cursor": "dGVhbTpDMDYxRkE1UEI="}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/conversations.list"))
        .and(query_param("cursor", "dGVhbTpDMDYxRkE1UEI="))
        .respond_with(json_reply(json!({
            "ok": true,
            "channels": [channel("C3", "random")],
            "response_metadata": {"next_cursor": ""}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let h = slack_api(&server);
    let out = h
        .exec_all("getAllowedChannels", json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!([
            channel("C1", "general"),
            channel("C2", "alerts"),
            channel("C3", "random")
        ])
    );
    let rs = requests(&server).await;
    assert_eq!(rs.len(), 2);
    for r in &rs {
        assert_line(r, "GET", "/api/conversations.list");
        assert_bearer(r);
        assert!(r.body.is_empty());
    }
    assert_query(
        &rs[0],
        &[
            ("types", "public_channel,private_channel"),
            ("exclude_archived", "true"),
            ("limit", "200"),
        ],
    );
    assert_query(
        &rs[1],
        &[
            ("types", "public_channel,private_channel"),
            ("exclude_archived", "true"),
            ("limit", "200"),
            ("cursor", "dGVhbTpDMDYxRkE1UEI="),
        ],
    );
}

#[tokio::test]
async fn slack_api_get_allowed_channels_single_call() {
    let server = loopback().await;
    mount_any(
        &server,
        json_reply(json!({
            "ok": true,
            "channels": [channel("C9", "private-ops")],
            "response_metadata": {"next_cursor": ""}
        })),
    )
    .await;
    let h = slack_api(&server);
    let out = h
        .exec(
            "getAllowedChannels",
            json!({"types": "private_channel", "excludeArchived": false}),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!([channel("C9", "private-ops")]));
    let r = only_request(&server).await;
    assert_line(&r, "GET", "/api/conversations.list");
    assert_bearer(&r);
    assert_query(
        &r,
        &[
            ("types", "private_channel"),
            ("exclude_archived", "false"),
            ("limit", "200"),
        ],
    );
}

#[tokio::test]
async fn slack_api_valid_channel_id() {
    let server = loopback().await;
    mount_any(
        &server,
        json_reply(json!({"ok": true, "channel": channel("C012AB3CD", "general")})),
    )
    .await;
    let h = slack_api(&server);
    let out = h
        .exec("validChannelId", json!({"channelId": "C012AB3CD"}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, channel("C012AB3CD", "general"));
    let r = only_request(&server).await;
    assert_line(&r, "GET", "/api/conversations.info");
    assert_query(&r, &[("channel", "C012AB3CD")]);
    assert_bearer(&r);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn slack_api_post_message() {
    let server = loopback().await;
    mount_any(
        &server,
        json_reply(json!({
            "ok": true, "channel": "C123ABC456", "ts": "1503435956.000247",
            "message": {"text": "Here's a message for you", "type": "message"}
        })),
    )
    .await;
    let h = slack_api(&server);
    let out = h
        .exec(
            "postMessage",
            json!({"channels": ["C123ABC456"], "text": "Here's a message for you"}),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({"channel": "C123ABC456", "ts": "1503435956.000247"})
    );
    let r = only_request(&server).await;
    assert_line(&r, "POST", "/api/chat.postMessage");
    assert_query(&r, &[]);
    assert_bearer(&r);
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        json_body(&r),
        json!({"channel": "C123ABC456", "text": "Here's a message for you"})
    );
}

#[tokio::test]
async fn slack_api_post_blockkit() {
    let server = loopback().await;
    mount_any(
        &server,
        json_reply(json!({"ok": true, "channel": "C1", "ts": "1.2"})),
    )
    .await;
    let h = slack_api(&server);
    let blocks = json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Alert* fired"}},
        {"type": "divider"}
    ]);
    let out = h
        .exec(
            "postBlockkit",
            json!({"channels": ["alerts"], "blocks": blocks.clone()}),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!({"channel": "C1", "ts": "1.2"}));
    let r = only_request(&server).await;
    assert_line(&r, "POST", "/api/chat.postMessage");
    assert_query(&r, &[]);
    assert_bearer(&r);
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        json_body(&r),
        json!({"channel": "alerts", "blocks": blocks, "text": ""})
    );
}

#[tokio::test]
async fn slack_api_ok_false_is_a_typed_error_with_the_provider_text() {
    let cases = [
        (
            "channel_not_found",
            ErrorClass::User,
            "Slack API error: channel_not_found",
        ),
        (
            "invalid_auth",
            ErrorClass::Auth,
            "Slack rejected the token: invalid_auth",
        ),
        (
            "ratelimited",
            ErrorClass::RateLimited,
            "Slack rate limit reached: ratelimited",
        ),
    ];
    for (code, class, message) in cases {
        let server = loopback().await;
        mount_any(&server, json_reply(json!({"ok": false, "error": code}))).await;
        let h = slack_api(&server);
        let e = h
            .exec("postMessage", json!({"channels": ["C1"], "text": "x"}))
            .await
            .expect_err(code);
        assert_eq!(e.class, class, "{code}: {e}");
        assert_eq!(e.message, message);
        assert_eq!(e.status, Some(200));
        let e = h
            .exec("validChannelId", json!({"channelId": "C1"}))
            .await
            .expect_err(code);
        assert_eq!(e.class, class, "{code}: {e}");
        assert_eq!(e.message, message);
    }
}

#[tokio::test]
async fn slack_api_connection_test_calls_auth_test() {
    let server = loopback().await;
    let reply = json!({
        "ok": true, "url": "https://subarachnoid.slack.com/", "team": "Subarachnoid Workspace",
        "user": "grace", "team_id": "T12345678", "user_id": "W12345678"
    });
    mount_any(&server, json_reply(reply.clone())).await;
    let h = slack_api(&server);
    let out = h.test().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, reply);
    let r = only_request(&server).await;
    assert_line(&r, "POST", "/api/auth.test");
    assert_query(&r, &[]);
    assert_bearer(&r);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn slack_api_connection_test_ok_false_is_auth() {
    let server = loopback().await;
    mount_any(
        &server,
        json_reply(json!({"ok": false, "error": "invalid_auth"})),
    )
    .await;
    let h = slack_api(&server);
    let e = h.test().await.expect_err("ok=false");
    assert_eq!(e.class, ErrorClass::Auth);
    assert_eq!(
        e.message,
        "Slack rejected the token (auth.test returned ok=false)."
    );
}

// ---------------------------------------------------------------------------------------------
// .jira
// ---------------------------------------------------------------------------------------------

const JIRA_USER: &str = "ops@example.com";

fn jira(server: &MockServer) -> Harness {
    Harness::new(
        load_spec("jira.yaml"),
        json!({ "apiUrl": server.uri(), "projectKey": "SEC", "authType": "basic" }),
        json!({ "username": JIRA_USER, "password": CANARY }),
    )
}

/// Basic auth with the account email and API token, and the spec's `Accept` header.
fn assert_jira_headers(r: &wiremock::Request) {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{JIRA_USER}:{CANARY}"));
    assert_eq!(header(r, "authorization"), Some(format!("Basic {token}")));
    assert_eq!(header(r, "accept").as_deref(), Some("application/json"));
}

#[tokio::test]
async fn jira_get_fields() {
    let server = loopback().await;
    let fields = json!([
        {"id": "summary", "key": "summary", "name": "Summary", "custom": false,
         "schema": {"type": "string", "system": "summary"}},
        {"id": "customfield_10010", "key": "customfield_10010", "name": "Request Type",
         "custom": true, "schema": {"type": "sd-customerrequesttype"}}
    ]);
    mount_any(&server, json_reply(fields.clone())).await;
    let h = jira(&server);
    let out = h
        .exec("getFields", json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, fields);
    let r = only_request(&server).await;
    assert_line(&r, "GET", "/rest/api/2/field");
    assert_query(&r, &[]);
    assert_jira_headers(&r);
    assert!(r.body.is_empty());
}

fn jira_issue_reply() -> Value {
    json!({
        "id": "10002", "key": "SEC-12", "self": "https://example.atlassian.net/rest/api/2/issue/10002",
        "fields": {
            "summary": "Suspicious login",
            "description": null,
            "status": {"name": "In Progress", "id": "3"},
            "created": "2024-05-01T10:00:00.000+0000",
            "updated": "2024-05-02T11:30:00.000+0000"
        }
    })
}

#[tokio::test]
async fn jira_get_incident() {
    let server = loopback().await;
    mount_any(&server, json_reply(jira_issue_reply())).await;
    let h = jira(&server);
    let out = h
        .exec("getIncident", json!({"externalId": "SEC-12"}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({
            "id": "10002", "key": "SEC-12", "summary": "Suspicious login", "description": null,
            "status": "In Progress", "created": "2024-05-01T10:00:00.000+0000",
            "updated": "2024-05-02T11:30:00.000+0000"
        })
    );
    let r = only_request(&server).await;
    assert_line(&r, "GET", "/rest/api/2/issue/SEC-12");
    assert_query(
        &r,
        &[("fields", "summary,description,status,created,updated")],
    );
    assert_jira_headers(&r);
}

#[tokio::test]
async fn jira_issue() {
    let server = loopback().await;
    mount_any(&server, json_reply(jira_issue_reply())).await;
    let h = jira(&server);
    let out = h
        .exec("issue", json!({"id": "10002"}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({"id": "10002", "key": "SEC-12", "title": "Suspicious login"})
    );
    let r = only_request(&server).await;
    assert_line(&r, "GET", "/rest/api/2/issue/10002");
    assert_query(&r, &[("fields", "summary")]);
    assert_jira_headers(&r);
}

#[tokio::test]
async fn jira_create_issue() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(201).set_body_json(json!({
            "id": "10000", "key": "SEC-24",
            "self": "https://example.atlassian.net/rest/api/2/issue/10000"
        })),
    )
    .await;
    let h = jira(&server);
    let out = h
        .exec(
            "createIssue",
            json!({"summary": "Malware found", "issueType": "10001", "labels": ["siem", "p1"]}),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({"id": "10000", "key": "SEC-24", "url": format!("{}/browse/SEC-24", server.uri())})
    );
    let r = only_request(&server).await;
    assert_line(&r, "POST", "/rest/api/2/issue");
    assert_query(&r, &[]);
    assert_jira_headers(&r);
    assert_eq!(
        json_body(&r),
        json!({"fields": {
            "project": {"key": "SEC"},
            "issuetype": {"id": "10001"},
            "summary": "Malware found",
            "description": "",
            "labels": ["siem", "p1"]
        }})
    );
}

#[tokio::test]
async fn jira_create_issue_400_is_a_user_error() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(400).set_body_json(json!({
            "errorMessages": [], "errors": {"issuetype": "valid issue type is required"}
        })),
    )
    .await;
    let h = jira(&server);
    let e = h
        .exec(
            "createIssue",
            json!({"summary": "x", "issueType": "1", "description": "d"}),
        )
        .await
        .expect_err("400");
    assert_eq!(e.class, ErrorClass::User);
    assert_eq!(e.status, Some(400));
}

fn issue_type(i: usize) -> Value {
    json!({"id": format!("{}", 10000 + i), "name": format!("Type {i}"), "description": "", "subtask": false})
}

#[tokio::test]
async fn jira_issue_types_follow_offset_pages() {
    let server = loopback().await;
    let first: Vec<Value> = (0..50).map(issue_type).collect();
    Mock::given(method("GET"))
        .and(path("/rest/api/2/issue/createmeta/SEC/issuetypes"))
        .and(query_param("startAt", "0"))
        .respond_with(json_reply(json!({
            "startAt": 0, "maxResults": 50, "total": 51, "issueTypes": first
        })))
        .expect(1..)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/2/issue/createmeta/SEC/issuetypes"))
        .and(query_param("startAt", "50"))
        .respond_with(json_reply(json!({
            "startAt": 50, "maxResults": 50, "total": 51, "issueTypes": [issue_type(50)]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let h = jira(&server);
    let out = h
        .exec_all("issueTypes", json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let expected: Vec<Value> = (0..51).map(issue_type).collect();
    assert_eq!(out, Value::Array(expected));
    let rs = requests(&server).await;
    assert_eq!(rs.len(), 2);
    for r in &rs {
        assert_line(r, "GET", "/rest/api/2/issue/createmeta/SEC/issuetypes");
        assert_jira_headers(r);
    }
    assert_query(&rs[0], &[("maxResults", "50"), ("startAt", "0")]);
    assert_query(&rs[1], &[("maxResults", "50"), ("startAt", "50")]);

    // Without all_pages: the first page's records only.
    let out = h
        .exec("issueTypes", json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.as_array().map(Vec::len), Some(50));
    assert_eq!(requests(&server).await.len(), 3);
}

#[tokio::test]
async fn jira_fields_by_issue_type_stops_at_total() {
    let server = loopback().await;
    let fields = json!([
        {"fieldId": "summary", "key": "summary", "name": "Summary", "required": true,
         "schema": {"type": "string"}, "hasDefaultValue": false},
        {"fieldId": "priority", "key": "priority", "name": "Priority", "required": false,
         "schema": {"type": "priority"}, "allowedValues": [{"name": "High"}],
         "defaultValue": {"name": "Medium"}, "hasDefaultValue": true}
    ]);
    mount_any(
        &server,
        json_reply(json!({"startAt": 0, "maxResults": 50, "total": 2, "fields": fields.clone()})),
    )
    .await;
    let h = jira(&server);
    let out = h
        .exec_all("fieldsByIssueType", json!({"id": "10001"}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, fields);
    let r = only_request(&server).await;
    assert_line(
        &r,
        "GET",
        "/rest/api/2/issue/createmeta/SEC/issuetypes/10001",
    );
    assert_query(&r, &[("maxResults", "50"), ("startAt", "0")]);
    assert_jira_headers(&r);
}

fn jira_hit(i: u32) -> Value {
    json!({"id": format!("{}", 10000 + i), "key": format!("SEC-{i}"), "fields": {"summary": format!("login {i}")}})
}

#[tokio::test]
async fn jira_issues_follow_next_page_token() {
    let server = loopback().await;
    Mock::given(method("GET"))
        .and(path("/rest/api/2/search/jql"))
        .and(query_param_is_missing("nextPageToken"))
        .respond_with(json_reply(json!({
            "issues": [jira_hit(1), jira_hit(2)], "nextPageToken": "CAEaAggD", "isLast": false
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/2/search/jql"))
        .and(query_param("nextPageToken", "CAEaAggD"))
        .respond_with(json_reply(json!({"issues": [jira_hit(3)], "isLast": true})))
        .expect(1)
        .mount(&server)
        .await;
    let h = jira(&server);
    let out = h
        .exec_all("issues", json!({"title": "login"}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!([jira_hit(1), jira_hit(2), jira_hit(3)]));
    let rs = requests(&server).await;
    assert_eq!(rs.len(), 2);
    let jql = r#"project="SEC" and summary ~ "login""#;
    for r in &rs {
        assert_line(r, "GET", "/rest/api/2/search/jql");
        assert_jira_headers(r);
    }
    assert_query(
        &rs[0],
        &[("jql", jql), ("fields", "summary"), ("maxResults", "50")],
    );
    assert_query(
        &rs[1],
        &[
            ("jql", jql),
            ("fields", "summary"),
            ("maxResults", "50"),
            ("nextPageToken", "CAEaAggD"),
        ],
    );
}

#[tokio::test]
async fn jira_connection_test_gets_myself() {
    let server = loopback().await;
    let me =
        json!({"accountId": "5b10a2844c20165700ede21g", "emailAddress": JIRA_USER, "active": true});
    mount_any(&server, json_reply(me.clone())).await;
    let h = jira(&server);
    let out = h.test().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, me);
    let r = only_request(&server).await;
    assert_line(&r, "GET", "/rest/api/2/myself");
    assert_query(&r, &[]);
    assert_jira_headers(&r);
}

#[tokio::test]
async fn jira_connection_test_401_is_auth_without_the_token() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(401)
            .set_body_string(format!("Basic auth with token {CANARY} failed")),
    )
    .await;
    let h = jira(&server);
    let e = h.test().await.expect_err("401");
    assert_eq!(e.class, ErrorClass::Auth);
    assert_eq!(e.status, Some(401));
}

// ---------------------------------------------------------------------------------------------
// crowdstrike (the real-time response session actions are in tests/sessions.rs)

fn crowdstrike(server: &MockServer) -> Harness {
    Harness::new(
        load_spec("crowdstrike.yaml"),
        json!({
            "apiUrl": server.uri(),
            "tokenUrl": format!("{}/oauth2/token", server.uri()),
            "clientId": "client-1"
        }),
        json!({ "clientSecret": CANARY }),
    )
}

async fn mount_falcon_token(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(json_reply(json!({
            "access_token": "falcon-token", "token_type": "bearer", "expires_in": 1799
        })))
        .mount(server)
        .await;
}

/// The requests other than the token request.
async fn falcon_calls(server: &MockServer) -> Vec<wiremock::Request> {
    requests(server)
        .await
        .into_iter()
        .filter(|r| r.url.path() != "/oauth2/token")
        .collect()
}

#[tokio::test]
async fn crowdstrike_token_request_posts_the_client_credentials() {
    let server = loopback().await;
    mount_falcon_token(&server).await;
    mount_any(&server, json_reply(json!({ "resources": ["dev-1"] }))).await;
    let h = crowdstrike(&server);
    h.test().await.expect("connection test");
    let token = requests(&server)
        .await
        .into_iter()
        .find(|r| r.url.path() == "/oauth2/token")
        .expect("token request");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&token.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert!(form.contains(&("grant_type".into(), "client_credentials".into())));
    assert!(form.contains(&("client_id".into(), "client-1".into())));
    assert!(form.contains(&("client_secret".into(), CANARY.into())));
    let calls = falcon_calls(&server).await;
    assert_line(&calls[0], "GET", "/devices/queries/devices/v1");
    assert_query(&calls[0], &[("limit", "1")]);
    assert_eq!(
        header(&calls[0], "authorization").as_deref(),
        Some("Bearer falcon-token")
    );
}

#[tokio::test]
async fn crowdstrike_get_agent_details() {
    let server = loopback().await;
    mount_falcon_token(&server).await;
    let host = json!({ "device_id": "dev-1", "hostname": "web-01", "platform_name": "Linux" });
    mount_any(
        &server,
        json_reply(json!({ "resources": [host], "errors": [] })),
    )
    .await;
    let h = crowdstrike(&server);
    let out = h
        .exec("getAgentDetails", json!({ "ids": ["dev-1", "dev-2"] }))
        .await
        .expect("ok");
    assert_eq!(out, json!([host]));
    let calls = falcon_calls(&server).await;
    assert_eq!(calls.len(), 1);
    assert_line(&calls[0], "GET", "/devices/entities/devices/v2");
    assert_query(&calls[0], &[("ids", "dev-1,dev-2")]);
    assert_eq!(
        header(&calls[0], "accept").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        header(&calls[0], "authorization").as_deref(),
        Some("Bearer falcon-token")
    );
}

#[tokio::test]
async fn crowdstrike_contain_host() {
    let server = loopback().await;
    mount_falcon_token(&server).await;
    mount_any(
        &server,
        json_reply(json!({ "resources": [{ "id": "dev-1", "path": "" }], "errors": [] })),
    )
    .await;
    let h = crowdstrike(&server);
    let out = h
        .exec(
            "hostActions",
            json!({ "command": "contain", "ids": ["dev-1"], "comment": "ransomware" }),
        )
        .await
        .expect("ok");
    assert_eq!(out, json!([{ "id": "dev-1", "path": "" }]));
    let calls = falcon_calls(&server).await;
    assert_line(&calls[0], "POST", "/devices/entities/devices-actions/v2");
    assert_query(&calls[0], &[("action_name", "contain")]);
    assert_eq!(
        json_body(&calls[0]),
        json!({
            "ids": ["dev-1"],
            "action_parameters": [{ "name": "comment", "value": "ransomware" }]
        })
    );
}

#[tokio::test]
async fn crowdstrike_401_is_auth_without_the_secret() {
    let server = loopback().await;
    mount_falcon_token(&server).await;
    mount_any(
        &server,
        ResponseTemplate::new(401).set_body_json(json!({
            "errors": [{ "code": 401, "message": "access denied, authorization failed" }]
        })),
    )
    .await;
    let h = crowdstrike(&server);
    let err = h
        .exec("getAgentDetails", json!({ "ids": ["dev-1"] }))
        .await
        .expect_err("401");
    assert_eq!(err.class, ErrorClass::Auth);
    assert_eq!(err.status, Some(401));
}

// ---------------------------------------------------------------------------------------------
// code actions: .webhook execute and .jira pushToService (built-in Rust handlers)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn webhook_execute_uses_the_configured_method_headers_and_auth() {
    let server = loopback().await;
    mount_any(&server, json_reply(json!({ "received": true }))).await;
    let h = Harness::new(
        load_spec("webhook.yaml"),
        json!({
            "url": format!("{}/hooks/incoming?team=sec", server.uri()),
            "method": "put",
            "headers": { "X-Source": "connectors" },
            "authType": "basic"
        }),
        json!({ "username": "svc", "password": CANARY }),
    );
    let out = h
        .exec("execute", json!({ "body": "{\"alert\":\"disk full\"}" }))
        .await
        .expect("sent");
    assert_eq!(out, json!({ "status": 200, "body": { "received": true } }));
    let r = only_request(&server).await;
    assert_line(&r, "PUT", "/hooks/incoming");
    assert_query(&r, &[("team", "sec")]);
    assert_eq!(header(&r, "x-source").as_deref(), Some("connectors"));
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/json")
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("svc:{CANARY}"));
    assert_eq!(header(&r, "authorization"), Some(format!("Basic {basic}")));
    assert_eq!(r.body, b"{\"alert\":\"disk full\"}");
}

#[tokio::test]
async fn webhook_execute_posts_by_default_and_keeps_a_configured_content_type() {
    let server = loopback().await;
    mount_any(&server, ResponseTemplate::new(204)).await;
    let h = Harness::new(
        load_spec("webhook.yaml"),
        json!({
            "url": format!("{}/in", server.uri()),
            "headers": { "Content-Type": "text/plain" },
            "authType": "none"
        }),
        json!({}),
    );
    let out = h
        .exec("execute", json!({ "body": "plain words" }))
        .await
        .expect("sent");
    assert_eq!(out, json!({ "status": 204 }));
    let r = only_request(&server).await;
    assert_line(&r, "POST", "/in");
    assert_eq!(header(&r, "content-type").as_deref(), Some("text/plain"));
    assert_eq!(r.body, b"plain words");
}

#[tokio::test]
async fn webhook_execute_4xx_is_a_user_error() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(422).set_body_string("bad payload"),
    )
    .await;
    let h = Harness::new(
        load_spec("webhook.yaml"),
        json!({ "url": format!("{}/in", server.uri()), "authType": "none" }),
        json!({}),
    );
    let e = h
        .exec("execute", json!({ "body": "{}" }))
        .await
        .expect_err("422");
    assert_eq!((e.class, e.status), (ErrorClass::User, Some(422)));
}

async fn mount_jira_push(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/rest/api/2/issue/createmeta/SEC/issuetypes"))
        .respond_with(json_reply(json!({
            "issueTypes": [issue_type(1), issue_type(2)], "startAt": 0, "total": 2
        })))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/issue"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "id": "10100", "key": "SEC-42", "self": "x" })),
        )
        .mount(server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/rest/api/2/issue/SEC-7"))
        .respond_with(ResponseTemplate::new(204))
        .mount(server)
        .await;
    for (key, id) in [("SEC-42", "10100"), ("SEC-7", "10007")] {
        Mock::given(method("GET"))
            .and(path(format!("/rest/api/2/issue/{key}")))
            .respond_with(json_reply(json!({
                "id": id, "key": key,
                "fields": {
                    "created": "2026-11-20T09:30:00.000+0000",
                    "updated": "2026-11-21T10:15:00.000+0100"
                }
            })))
            .mount(server)
            .await;
    }
    Mock::given(method("POST"))
        .and(wiremock::matchers::path_regex(
            r"^/rest/api/2/issue/SEC-\d+/comment$",
        ))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "id": "1", "created": "2026-11-22T08:00:00.000+0000" })),
        )
        .mount(server)
        .await;
}

#[tokio::test]
async fn jira_push_to_service_creates_the_issue_then_adds_the_comments() {
    let server = loopback().await;
    mount_jira_push(&server).await;
    let h = jira(&server);
    let out = h
        .exec(
            "pushToService",
            json!({
                "incident": {
                    "summary": "Malware on web-01", "description": "Detected by EDR",
                    "priority": "High", "labels": ["edr", "sev1"], "externalId": null
                },
                "comments": [
                    { "comment": "Host isolated", "commentId": "c-1" },
                    { "comment": "Reimaged", "commentId": "c-2" }
                ]
            }),
        )
        .await
        .expect("pushed");
    assert_eq!(
        out,
        json!({
            "id": "10100", "title": "SEC-42",
            "url": format!("{}/browse/SEC-42", server.uri()),
            "pushedDate": "2026-11-20T09:30:00.000+00:00",
            "comments": [
                { "commentId": "c-1", "pushedDate": "2026-11-22T08:00:00.000+00:00" },
                { "commentId": "c-2", "pushedDate": "2026-11-22T08:00:00.000+00:00" }
            ]
        })
    );
    let calls = requests(&server).await;
    let lines: Vec<String> = calls
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(
        lines,
        [
            "GET /rest/api/2/issue/createmeta/SEC/issuetypes",
            "POST /rest/api/2/issue",
            "GET /rest/api/2/issue/SEC-42",
            "POST /rest/api/2/issue/SEC-42/comment",
            "POST /rest/api/2/issue/SEC-42/comment"
        ]
    );
    for r in &calls {
        assert_jira_headers(r);
    }
    // The first issue type of the project, since the caller named none.
    assert_eq!(
        json_body(&calls[1]),
        json!({ "fields": {
            "summary": "Malware on web-01", "description": "Detected by EDR",
            "priority": { "name": "High" }, "labels": ["edr", "sev1"],
            "project": { "key": "SEC" }, "issuetype": { "id": "10001" }
        }})
    );
    assert_eq!(json_body(&calls[3]), json!({ "body": "Host isolated" }));
    assert_eq!(json_body(&calls[4]), json!({ "body": "Reimaged" }));
}

#[tokio::test]
async fn jira_push_to_service_updates_the_issue_named_by_external_id() {
    let server = loopback().await;
    mount_jira_push(&server).await;
    let h = jira(&server);
    let out = h
        .exec(
            "pushToService",
            json!({
                "incident": {
                    "summary": "Malware on web-01 (contained)", "externalId": "SEC-7",
                    "parent": "SEC-1", "otherFields": { "customfield_10020": 5 }
                }
            }),
        )
        .await
        .expect("pushed");
    assert_eq!(out["title"], "SEC-7");
    assert_eq!(out["id"], "10007");
    assert_eq!(out["pushedDate"], "2026-11-21T10:15:00.000+01:00");
    assert_eq!(out["comments"], json!([]));
    let calls = requests(&server).await;
    assert_eq!(calls.len(), 2);
    assert_line(&calls[0], "PUT", "/rest/api/2/issue/SEC-7");
    assert_eq!(
        json_body(&calls[0]),
        json!({ "fields": {
            "customfield_10020": 5, "summary": "Malware on web-01 (contained)",
            "parent": { "key": "SEC-1" }
        }})
    );
    assert_line(&calls[1], "GET", "/rest/api/2/issue/SEC-7");
}

#[tokio::test]
async fn jira_push_to_service_errors_are_classified_without_the_token() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/issue"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "errorMessages": [], "errors": { "summary": "Summary is required." }
        })))
        .mount(&server)
        .await;
    let h = jira(&server);
    let e = h
        .exec(
            "pushToService",
            json!({ "incident": { "summary": "x", "issueType": "10001" } }),
        )
        .await
        .expect_err("400");
    assert_eq!((e.class, e.status), (ErrorClass::User, Some(400)));
}
