//! `.crowdstrike-rtr`: an annotated-struct connector with a session lifecycle (init, command,
//! cleanup) driven by the runtime, against a loopback Falcon API.

mod support;

use connector_examples::crowdstrike::{Crowdstrike, CrowdstrikeConnector};
use connector_runtime::{Caller, CancellationToken, Credentials, ErrorClass, InstanceHandle};
use serde_json::{Value, json};
use support::{CANARY, assert_no_canary, loopback};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SESSIONS: &str = "/real-time-response/entities/sessions/v1";
const COMMAND: &str = "/real-time-response/entities/command/v1";

fn falcon(server: &MockServer) -> InstanceHandle {
    let config = Crowdstrike {
        api_url: Some(server.uri()),
    };
    CrowdstrikeConnector::instance(&config, Credentials::bearer(CANARY)).expect("instance")
}

async fn mount_session(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(SESSIONS))
        .and(header("authorization", format!("Bearer {CANARY}").as_str()))
        .and(body_partial_json(json!({"device_id": "host-1"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "resources": [{ "session_id": "sess-42", "scripts": [] }],
            "errors": []
        })))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(SESSIONS))
        .and(query_param("session_id", "sess-42"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(server)
        .await;
}

fn run_input() -> Value {
    json!({ "deviceId": "host-1", "baseCommand": "ls", "commandString": "ls C:\\Windows" })
}

/// The paths of the requests the server saw, in order.
async fn calls(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

#[test]
fn the_session_attribute_becomes_the_spec_sessions_section() {
    let spec = CrowdstrikeConnector::spec_model().unwrap();
    let rtr = &spec.sessions["rtr"];
    assert_eq!(rtr.init, "initSession");
    assert_eq!(rtr.cleanup.as_deref(), Some("closeSession"));
    assert_eq!(rtr.id.as_str(), "$.session_id");
    assert_eq!(spec.actions["runCommand"].session.as_deref(), Some("rtr"));
    assert_eq!(spec.actions["initSession"].session, None);
    // The config default from `#[field(default = ...)]` is in the schema.
    assert_eq!(
        spec.config["properties"]["apiUrl"]["default"],
        "https://api.crowdstrike.com"
    );
}

#[tokio::test]
async fn a_command_runs_inside_a_session_that_is_opened_and_closed() {
    let server = loopback().await;
    mount_session(&server).await;
    Mock::given(method("POST"))
        .and(path(COMMAND))
        .and(body_partial_json(json!({
            "session_id": "sess-42",
            "base_command": "ls",
            "command_string": "ls C:\\Windows"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "resources": [{ "stdout": "System32\n", "stderr": "", "complete": true }]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let out = falcon(&server)
        .execute("runCommand", run_input())
        .await
        .expect("runCommand");
    assert_eq!(
        out,
        json!({"stdout": "System32\n", "stderr": "", "complete": true})
    );
    assert_eq!(
        calls(&server).await,
        [
            format!("POST {SESSIONS}"),
            format!("POST {COMMAND}"),
            format!("DELETE {SESSIONS}")
        ]
    );
}

#[tokio::test]
async fn the_session_is_closed_when_the_command_fails() {
    let server = loopback().await;
    mount_session(&server).await;
    Mock::given(method("POST"))
        .and(path(COMMAND))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "errors": [{ "code": 404, "message": "session not found" }]
        })))
        .mount(&server)
        .await;
    let e = falcon(&server)
        .execute("runCommand", run_input())
        .await
        .unwrap_err();
    assert_no_canary(&e);
    assert_eq!((e.class, e.status), (ErrorClass::User, Some(404)), "{e}");
    assert_eq!(
        calls(&server).await.last().unwrap(),
        &format!("DELETE {SESSIONS}")
    );
}

#[tokio::test]
async fn no_command_runs_when_the_session_does_not_open() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .and(path(SESSIONS))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"resources": [], "errors": [{"message": "host offline"}]})),
        )
        .mount(&server)
        .await;
    let e = falcon(&server)
        .execute("runCommand", run_input())
        .await
        .unwrap_err();
    assert_no_canary(&e);
    assert_eq!(e.code, "unexpected_reply", "{e}");
    assert!(e.message.contains("host offline"), "{e}");
    assert_eq!(calls(&server).await, [format!("POST {SESSIONS}")]);
}

#[tokio::test]
async fn a_member_action_called_directly_without_session_context_is_refused_by_the_handler() {
    // Through the dispatcher a member action always gets a session; the handler still checks.
    let server = loopback().await;
    let h = falcon(&server);
    let ctx = h.context(&Caller::Shared, CancellationToken::new());
    let c = h.dispatcher().connector();
    let e = c
        .execute(&ctx, "closeSession", json!({}), Default::default())
        .await
        .unwrap_err();
    assert_eq!(e.code, "no_session");
    assert!(calls(&server).await.is_empty());
}

#[tokio::test]
async fn the_connection_check_lists_a_device() {
    let server = loopback().await;
    Mock::given(method("GET"))
        .and(path("/devices/queries/devices/v1"))
        .and(query_param("limit", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"resources": ["host-1"]})))
        .expect(1)
        .mount(&server)
        .await;
    let h = falcon(&server);
    assert_eq!(h.test().await.unwrap()["resources"], json!(["host-1"]));
}
