//! Sessions (init, member actions, cleanup) and lifecycle hooks, on the bundled CrowdStrike
//! spec's real-time response session against a loopback server.

mod contract_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use connector_runtime::{
    ActionContext, ActionError, DeclarativeConnector, Dispatcher, ErrorClass, Hook, HookHandler,
    Registry,
};
use contract_support::*;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SESSIONS: &str = "/real-time-response/entities/sessions/v1";
const COMMAND: &str = "/real-time-response/entities/command/v1";

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

async fn mount_token(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "access_token": "falcon-token", "token_type": "bearer", "expires_in": 1799
        })))
        .mount(server)
        .await;
}

async fn mount_session(server: &MockServer, session_id: &str) {
    Mock::given(method("POST"))
        .and(path(SESSIONS))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "resources": [{ "session_id": session_id, "scripts": [] }], "errors": []
        })))
        .mount(server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(SESSIONS))
        .respond_with(ResponseTemplate::new(204))
        .mount(server)
        .await;
}

async fn mount_command(server: &MockServer, reply: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(COMMAND))
        .respond_with(reply)
        .mount(server)
        .await;
}

fn command_ok(stdout: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "resources": [{ "stdout": stdout, "stderr": "", "complete": true }], "errors": []
    }))
}

/// The API requests (not the token request), as `METHOD path`.
async fn api_calls(server: &MockServer) -> Vec<wiremock::Request> {
    requests(server)
        .await
        .into_iter()
        .filter(|r| r.url.path() != "/oauth2/token")
        .collect()
}

fn line(r: &wiremock::Request) -> String {
    format!("{} {}", r.method, r.url.path())
}

fn run_input() -> Value {
    json!({ "deviceId": "dev-1", "baseCommand": "ls", "commandString": "ls C:\\Windows" })
}

#[tokio::test]
async fn a_member_action_opens_runs_in_and_closes_its_own_session() {
    let server = loopback().await;
    mount_token(&server).await;
    mount_session(&server, "sess-42").await;
    mount_command(&server, command_ok("Directory listing")).await;
    let h = crowdstrike(&server);

    let out = h.exec("runCommand", run_input()).await.expect("runs");
    assert_eq!(
        out,
        json!({ "stdout": "Directory listing", "stderr": "", "complete": true })
    );

    let calls = api_calls(&server).await;
    let lines: Vec<String> = calls.iter().map(line).collect();
    assert_eq!(
        lines,
        [
            format!("POST {SESSIONS}"),
            format!("POST {COMMAND}"),
            format!("DELETE {SESSIONS}")
        ]
    );
    // init got only the fields its own schema declares.
    assert_eq!(
        json_body(&calls[0]),
        json!({ "device_id": "dev-1", "queue_offline": false })
    );
    // The command names the session init opened.
    assert_eq!(
        json_body(&calls[1]),
        json!({
            "session_id": "sess-42", "base_command": "ls",
            "command_string": "ls C:\\Windows", "persist": false
        })
    );
    assert_query(&calls[2], &[("session_id", "sess-42")]);
    for c in &calls {
        assert_eq!(
            header(c, "authorization").as_deref(),
            Some("Bearer falcon-token")
        );
    }
}

#[tokio::test]
async fn cleanup_runs_when_the_member_action_fails() {
    let server = loopback().await;
    mount_token(&server).await;
    mount_session(&server, "sess-err").await;
    mount_command(
        &server,
        ResponseTemplate::new(400).set_body_json(json!({
            "errors": [{ "code": 400, "message": "invalid command" }]
        })),
    )
    .await;
    let h = crowdstrike(&server);

    let err = h.exec("runCommand", run_input()).await.expect_err("400");
    assert_eq!(err.class, ErrorClass::User);
    assert_eq!(err.status, Some(400));
    let lines: Vec<String> = api_calls(&server).await.iter().map(line).collect();
    assert_eq!(
        lines.last().map(String::as_str),
        Some(&*format!("DELETE {SESSIONS}"))
    );
}

#[tokio::test]
async fn init_without_a_session_id_is_a_typed_error_and_runs_nothing_else() {
    let server = loopback().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path(SESSIONS))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({ "resources": [], "errors": [] })),
        )
        .mount(&server)
        .await;
    let h = crowdstrike(&server);

    let err = h.exec("runCommand", run_input()).await.expect_err("no id");
    assert_eq!(err.code, "session_id_missing");
    assert_eq!(err.class, ErrorClass::System);
    assert!(err.message.contains("$.resources[0].session_id"), "{err}");
    let lines: Vec<String> = api_calls(&server).await.iter().map(line).collect();
    assert_eq!(lines, [format!("POST {SESSIONS}")]);
}

#[tokio::test]
async fn an_open_session_serves_several_commands_and_closes_once() {
    let server = loopback().await;
    mount_token(&server).await;
    mount_session(&server, "sess-7").await;
    mount_command(&server, command_ok("ok")).await;
    let h = crowdstrike(&server);
    let ctx = h.runtime.context("", CancellationToken::new());

    let session = h
        .dispatcher
        .open_session(&ctx, "rtr", &json!({ "deviceId": "dev-9" }))
        .await
        .expect("opens");
    assert_eq!(session.info().id, "sess-7");
    assert_eq!(session.info().data["resources"][0]["session_id"], "sess-7");
    for cmd in ["ps", "netstat"] {
        session
            .execute(
                "runCommand",
                json!({ "deviceId": "dev-9", "baseCommand": cmd, "commandString": cmd }),
            )
            .await
            .expect("command");
    }
    // An action outside the session is refused before any request.
    let err = session
        .execute("getAgentDetails", json!({ "ids": ["dev-9"] }))
        .await
        .expect_err("not a member");
    assert_eq!(err.code, "not_in_session");
    session.close().await.expect("closes");

    let lines: Vec<String> = api_calls(&server).await.iter().map(line).collect();
    assert_eq!(
        lines,
        [
            format!("POST {SESSIONS}"),
            format!("POST {COMMAND}"),
            format!("POST {COMMAND}"),
            format!("DELETE {SESSIONS}")
        ]
    );
}

#[tokio::test]
async fn a_dropped_session_is_closed_in_the_background() {
    let server = loopback().await;
    mount_token(&server).await;
    mount_session(&server, "sess-drop").await;
    let h = crowdstrike(&server);
    let ctx = h.runtime.context("", CancellationToken::new());

    let session = h
        .dispatcher
        .open_session(&ctx, "rtr", &json!({ "deviceId": "dev-1" }))
        .await
        .expect("opens");
    drop(session);

    // Wait (bounded) for the background cleanup to reach the server.
    let mut closed = false;
    for _ in 0..200 {
        let calls = api_calls(&server).await;
        if calls.iter().any(|r| r.method.as_str() == "DELETE") {
            assert_query(
                calls.last().expect("delete"),
                &[("session_id", "sess-drop")],
            );
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(closed, "the dropped session was never closed");
}

#[tokio::test]
async fn unknown_sessions_and_actions_are_typed_errors() {
    let server = loopback().await;
    let h = crowdstrike(&server);
    let ctx = h.runtime.context("", CancellationToken::new());
    let err = h
        .dispatcher
        .open_session(&ctx, "shell", &json!({}))
        .await
        .expect_err("unknown");
    assert_eq!(err.code, "unknown_session");
    assert!(err.message.contains("available: rtr"), "{err}");
    // Member input is validated before the session opens.
    let err = h
        .exec(
            "runCommand",
            json!({ "deviceId": "dev-1", "baseCommand": "rm" }),
        )
        .await
        .expect_err("invalid");
    assert_eq!(err.code, "invalid_input");
    assert!(api_calls(&server).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// lifecycle hooks

const HOOKED: &str = r#"
id: .hooked
displayName: Hooked
description: A connector with lifecycle hooks.
minimumLicense: basic
auth: { types: [none] }
config:
  type: object
  properties:
    index: { type: string, maxLength: 64 }
actions:
  noop:
    description: Does nothing.
    scope: read
    handler: code
hooks:
  preSave: code
  postSave: code
  postDelete: code
"#;

/// Records the order of hooks and refuses a save whose config says `refuse`.
struct Recorder(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl HookHandler for Recorder {
    async fn call(&self, ctx: &ActionContext, hook: Hook) -> Result<(), ActionError> {
        self.0.lock().unwrap().push(format!("{hook:?}"));
        match (hook, ctx.config.get("index").and_then(Value::as_str)) {
            (Hook::PreSave, Some("refuse")) => Err(ActionError::user(
                "index_missing",
                "the index does not exist",
            )),
            (Hook::PostSave, Some("post-fails")) => Err(ActionError::system(
                "index_setup",
                "could not create the index",
            )),
            _ => Ok(()),
        }
    }
}

fn hooked(
    config: Value,
) -> (
    Arc<Dispatcher>,
    connector_runtime::InstanceRuntime,
    Arc<Mutex<Vec<String>>>,
) {
    let spec = connector_spec::load_str("hooked.yaml", HOOKED, &Default::default())
        .spec
        .expect("loads");
    let log = Arc::new(Mutex::new(Vec::new()));
    let connector = DeclarativeConnector::new(Arc::new(spec.clone()))
        .with_hooks(Arc::new(Recorder(Arc::clone(&log))));
    let dispatcher = Registry::new()
        .register(Arc::new(connector))
        .expect("registers");
    let instance = connector_runtime::ConnectorInstance::new(Arc::new(spec), config, json!({}))
        .expect("instance");
    let runtime = connector_runtime::InstanceRuntime::new(instance).expect("runtime");
    (dispatcher, runtime, log)
}

#[tokio::test]
async fn save_runs_pre_save_then_persist_then_post_save() {
    let (d, rt, log) = hooked(json!({ "index": "alerts" }));
    let ctx = rt.context("", CancellationToken::new());
    let l = Arc::clone(&log);
    let out = d
        .save_instance(&ctx, || async move {
            l.lock().unwrap().push("persist".into());
            Ok::<_, ActionError>(7)
        })
        .await
        .expect("saved");
    assert_eq!(out.value, 7);
    assert!(out.hook_error.is_none());
    assert_eq!(*log.lock().unwrap(), ["PreSave", "persist", "PostSave"]);
}

#[tokio::test]
async fn a_failing_pre_save_refuses_the_save_and_persists_nothing() {
    let (d, rt, log) = hooked(json!({ "index": "refuse" }));
    let ctx = rt.context("", CancellationToken::new());
    let l = Arc::clone(&log);
    let err = d
        .save_instance(&ctx, || async move {
            l.lock().unwrap().push("persist".into());
            Ok::<_, ActionError>(())
        })
        .await
        .expect_err("refused");
    assert_eq!(err.code, "index_missing");
    assert_eq!(*log.lock().unwrap(), ["PreSave"]);
}

#[tokio::test]
async fn a_failing_post_save_is_reported_but_the_save_stands() {
    let (d, rt, _log) = hooked(json!({ "index": "post-fails" }));
    let ctx = rt.context("", CancellationToken::new());
    let out = d
        .save_instance(&ctx, || async { Ok::<_, ActionError>("saved") })
        .await
        .expect("the save stands");
    assert_eq!(out.value, "saved");
    assert_eq!(out.hook_error.expect("reported").code, "index_setup");
}

#[tokio::test]
async fn delete_runs_remove_then_post_delete() {
    let (d, rt, log) = hooked(json!({ "index": "alerts" }));
    let ctx = rt.context("", CancellationToken::new());
    let l = Arc::clone(&log);
    d.delete_instance(&ctx, || async move {
        l.lock().unwrap().push("remove".into());
        Ok::<_, ActionError>(())
    })
    .await
    .expect("deleted");
    assert_eq!(*log.lock().unwrap(), ["remove", "PostDelete"]);
    // A failed remove runs no hook.
    log.lock().unwrap().clear();
    let err = d
        .delete_instance(&ctx, || async {
            Err::<(), _>(ActionError::system("store", "disk full"))
        })
        .await
        .expect_err("remove failed");
    assert_eq!(err.code, "store");
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn declared_hooks_without_a_handler_refuse_the_save() {
    let spec = connector_spec::load_str("hooked.yaml", HOOKED, &Default::default())
        .spec
        .expect("loads");
    let d = Registry::new()
        .register_spec(spec.clone())
        .expect("registers");
    let instance = connector_runtime::ConnectorInstance::new(Arc::new(spec), json!({}), json!({}))
        .expect("instance");
    let rt = connector_runtime::InstanceRuntime::new(instance).expect("runtime");
    let ctx = rt.context("", CancellationToken::new());
    let err = d
        .save_instance(&ctx, || async { Ok::<_, ActionError>(()) })
        .await
        .expect_err("no handler");
    assert_eq!(err.code, "no_handler");
}
