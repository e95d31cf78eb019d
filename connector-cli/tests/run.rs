//! `connector run` and `connector test` against a loopback server, through the real binary.

use std::process::Output;

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CANARY: &str = "canary-7d1f-secret-token";

fn spec(base: &str) -> String {
    format!(
        r#"id: .demo
displayName: Demo
description: Demo API
minimumLicense: basic
baseUrl: {base}
auth: {{ types: [bearer] }}
policies:
  retry: {{ presets: [server_errors], maxRetries: 1, backoff: {{ initialDelayMs: 1, maxDelayMs: 2 }} }}
  pagination: {{ style: cursor, cursorParam: cursor, cursorPath: $.next, records: $.items }}
actions:
  greet:
    description: Greet someone
    scope: write
    input:
      type: object
      required: [name]
      properties:
        name: {{ type: string, maxLength: 20 }}
    request:
      method: POST
      path: /greet
      body: {{ json: {{ who: "{{{{ input.name }}}}" }} }}
    response:
      output: {{ message: $.message }}
  items:
    description: List items
    scope: read
    request: {{ method: GET, path: /items }}
    pagination: {{ style: cursor, cursorParam: cursor, cursorPath: $.next, records: $.items }}
test:
  request: {{ method: GET, path: /me }}
"#
    )
}

struct Files {
    _dir: tempfile::TempDir,
    spec: String,
    secrets: String,
}

fn files(base: &str) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("demo.yaml");
    std::fs::write(&spec, spec_text(base)).unwrap();
    let secrets = dir.path().join("secrets.json");
    std::fs::write(&secrets, json!({ "token": CANARY }).to_string()).unwrap();
    Files {
        spec: spec.display().to_string(),
        secrets: secrets.display().to_string(),
        _dir: dir,
    }
}

fn spec_text(base: &str) -> String {
    spec(base)
}

async fn connector(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_connector"))
            .args(&args)
            .env("RUST_LOG", "trace")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn run_sends_the_templated_request_and_prints_the_mapped_output() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/greet"))
        .and(header("authorization", format!("Bearer {CANARY}").as_str()))
        .and(wiremock::matchers::body_json(json!({ "who": "Ada" })))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "message": "hi Ada", "extra": 1 })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let f = files(&server.uri());
    let out = connector(vec![
        "run".into(),
        f.spec.clone(),
        "greet".into(),
        "--secrets".into(),
        f.secrets.clone(),
        "--input".into(),
        r#"{"name": "Ada"}"#.into(),
    ])
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v, json!({ "message": "hi Ada" }));
    assert!(
        !stdout.contains(CANARY) && !stderr.contains(CANARY),
        "canary leaked: {stderr}"
    );
}

#[tokio::test]
async fn run_follows_pages_with_all_pages() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .and(query_param("cursor", "c2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "items": [3], "next": "" })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "items": [1, 2], "next": "c2" })),
        )
        .mount(&server)
        .await;
    let f = files(&server.uri());
    let out = connector(vec![
        "run".into(),
        f.spec.clone(),
        "items".into(),
        "--secrets".into(),
        f.secrets.clone(),
        "--all-pages".into(),
    ])
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap(),
        json!([1, 2, 3])
    );
}

/// `--all-pages` writes records as the JSON text the API sent, except one that holds a
/// secret (here the echoed token, once plain and once spelled with an escape): that one is
/// redacted.
#[tokio::test]
async fn all_pages_writes_records_as_sent_and_redacts_an_echoed_secret() {
    let server = MockServer::start().await;
    let body = format!(
        r#"{{"items": [{{"id": 1,   "n": "kept as sent"}}, {{"echo": "{CANARY}"}}, {{"esc": "canary-7d1f-secret-toke\u006e"}}], "next": ""}}"#
    );
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
    let f = files(&server.uri());
    let out = connector(vec![
        "run".into(),
        f.spec.clone(),
        "items".into(),
        "--secrets".into(),
        f.secrets.clone(),
        "--all-pages".into(),
        "--output".into(),
        "ndjson".into(),
    ])
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stdout,
        "{\"id\": 1,   \"n\": \"kept as sent\"}\n{\"echo\":\"[REDACTED]\"}\n{\"esc\":\"[REDACTED]\"}\n"
    );
    assert!(!stdout.contains("canary-7d1f"), "canary leaked: {stdout}");
}

/// An API that pretty-prints: each record still comes out on one line of NDJSON.
#[tokio::test]
async fn all_pages_ndjson_keeps_one_record_a_line_from_a_pretty_printed_reply() {
    let server = MockServer::start().await;
    let body = "{\n  \"items\": [\n    {\n      \"id\": 1,\r\n      \"tags\": [\"a\", \"b\"]\n    },\n    2\n  ],\n  \"next\": \"\"\n}\n";
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
    let f = files(&server.uri());
    let out = connector(vec![
        "run".into(),
        f.spec.clone(),
        "items".into(),
        "--secrets".into(),
        f.secrets.clone(),
        "--all-pages".into(),
        "--output".into(),
        "ndjson".into(),
    ])
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout, "{\"id\":1,\"tags\":[\"a\",\"b\"]}\n2\n");
}

#[tokio::test]
async fn failures_print_class_status_and_message_without_secrets_and_exit_1() {
    let server = MockServer::start().await;
    // The provider echoes the credential back; it must not reach the terminal.
    Mock::given(method("POST"))
        .and(path("/greet"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({ "message": format!("token {CANARY} is not allowed") })),
        )
        .mount(&server)
        .await;
    let f = files(&server.uri());
    let out = connector(vec![
        "run".into(),
        f.spec.clone(),
        "greet".into(),
        "--secrets".into(),
        f.secrets.clone(),
        "--input".into(),
        r#"{"name": "Ada"}"#.into(),
    ])
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("error: auth (HTTP 403)"), "{stderr}");
    assert!(stderr.contains("[REDACTED]"), "{stderr}");
    assert!(
        !stdout.contains(CANARY) && !stderr.contains(CANARY),
        "canary leaked: {stderr}"
    );
}

#[tokio::test]
async fn invalid_input_and_unknown_actions_are_user_errors() {
    let server = MockServer::start().await;
    let f = files(&server.uri());
    let out = connector(vec![
        "run".into(),
        f.spec.clone(),
        "greet".into(),
        "--secrets".into(),
        f.secrets.clone(),
        "--input".into(),
        "{}".into(),
    ])
    .await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("error: user [invalid_input]"), "{stderr}");
    let out = connector(vec![
        "run".into(),
        f.spec.clone(),
        "gret".into(),
        "--secrets".into(),
        f.secrets.clone(),
    ])
    .await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("[unknown_action]") && stderr.contains("available: greet, items"),
        "{stderr}"
    );
    let out = connector(vec!["run".into(), f.spec.clone(), "greet".into()]).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("[invalid_secrets]") && stderr.contains("token"),
        "{stderr}"
    );
}

#[tokio::test]
async fn test_runs_the_connection_check() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/me"))
        .and(header("authorization", format!("Bearer {CANARY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "u1" })))
        .expect(1)
        .mount(&server)
        .await;
    let f = files(&server.uri());
    let out = connector(vec![
        "test".into(),
        f.spec.clone(),
        "--secrets".into(),
        f.secrets.clone(),
    ])
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("connection test of .demo passed"),
        "{stderr}"
    );
    assert!(stdout.contains("u1"));
    assert!(!stderr.contains(CANARY), "{stderr}");
}
