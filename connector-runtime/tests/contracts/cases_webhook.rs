//! `.cases-webhook`: the user's own case API, described by templated URLs and JSON bodies,
//! against a loopback server standing in for it (the shape of Jira's REST API v2, as in
//! Kibana's docs example).

use std::sync::Arc;

use connector_runtime::{ActionError, ConnectorInstance, EgressPolicy, InstanceRuntime, Registry};

use super::*;

fn config(base: &str) -> Value {
    json!({
        "createIncidentUrl": format!("{base}/rest/api/2/issue"),
        "createIncidentMethod": "post",
        "createIncidentJson": r#"{"fields": {"summary": {{{case.title}}}, "description": "{{{case.description}}} (case {{case.id}})", "labels": {{{case.tags}}}, "project": {"key": "ROC"}}}"#,
        "createIncidentResponseKey": "id",
        "getIncidentUrl": format!("{base}/rest/api/2/issue/{{{{{{external.system.id}}}}}}"),
        "getIncidentResponseExternalTitleKey": "key",
        "viewIncidentUrl": format!("{base}/browse/{{{{{{external.system.title}}}}}}"),
        "updateIncidentUrl": format!("{base}/rest/api/2/issue/{{{{{{external.system.id}}}}}}"),
        "updateIncidentMethod": "put",
        "updateIncidentJson": r#"{"fields": {"summary": {{{case.title}}}, "labels": {{{case.tags}}}}, "ref": {{{external.system.id}}}}"#,
        "createCommentUrl": format!("{base}/rest/api/2/issue/{{{{{{external.system.id}}}}}}/comment"),
        "createCommentMethod": "post",
        "createCommentJson": r#"{"body": {{{case.comment}}}}"#,
        "headers": { "X-Team": "soc" }
    })
}

fn basic(base: &str) -> Harness {
    let mut c = config(base);
    c["authType"] = json!("basic");
    Harness::new(
        load_spec("cases_webhook.yaml"),
        c,
        json!({ "username": "elastic", "password": CANARY }),
    )
}

fn instance(c: Value) -> Result<ConnectorInstance, ActionError> {
    ConnectorInstance::new(
        Arc::new(load_spec("cases_webhook.yaml")),
        c,
        json!({ "username": "elastic", "password": CANARY }),
    )
}

fn assert_basic(r: &wiremock::Request) {
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("elastic:{CANARY}"));
    assert_eq!(
        header(r, "authorization"),
        Some(format!("Basic {expected}"))
    );
    assert_eq!(header(r, "x-team").as_deref(), Some("soc"));
}

async fn mount_get(server: &MockServer, id: &str, key: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/rest/api/2/issue/{id}")))
        .respond_with(json_reply(json!({ "id": id, "key": key })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn push_creates_reads_the_title_and_comments() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/issue"))
        .respond_with(json_reply(json!({ "id": "10001", "key": "ROC-1" })))
        .expect(1)
        .mount(&server)
        .await;
    mount_get(&server, "10001", "ROC-1").await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/issue/10001/comment"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": "c1" })))
        .expect(1)
        .mount(&server)
        .await;
    let out = basic(&server.uri())
        .exec(
            "pushToService",
            json!({
                "incident": { "title": "Disk full", "description": "web-01", "id": "case-9",
                              "tags": ["ops", "disk"], "externalId": null },
                "comments": [{ "comment": "Freed 20 GB", "commentId": "k-1" },
                             { "comment": "", "commentId": "k-2" }]
            }),
        )
        .await
        .expect("pushed");
    let calls = requests(&server).await;
    assert_eq!(calls.len(), 3);
    calls.iter().for_each(assert_basic);
    assert_line(&calls[0], "POST", "/rest/api/2/issue");
    assert_eq!(
        header(&calls[0], "content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        json_body(&calls[0]),
        json!({ "fields": { "summary": "Disk full", "description": "web-01 (case case-9)",
                            "labels": ["ops", "disk"], "project": { "key": "ROC" } } })
    );
    assert_line(&calls[1], "GET", "/rest/api/2/issue/10001");
    assert!(calls[1].body.is_empty());
    assert_line(&calls[2], "POST", "/rest/api/2/issue/10001/comment");
    assert_eq!(json_body(&calls[2]), json!({ "body": "Freed 20 GB" }));
    assert_eq!(out["id"], "10001");
    assert_eq!(out["title"], "ROC-1");
    assert_eq!(out["url"], format!("{}/browse/ROC-1", server.uri()));
    let date = out["pushedDate"].as_str().unwrap();
    assert_eq!(
        out["comments"],
        json!([{ "commentId": "k-1", "pushedDate": date }])
    );
}

#[tokio::test]
async fn push_with_an_external_id_updates_then_reads() {
    let server = loopback().await;
    Mock::given(method("PUT"))
        .and(path("/rest/api/2/issue/10001"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    mount_get(&server, "10001", "ROC-1").await;
    let out = basic(&server.uri())
        .exec(
            "pushToService",
            json!({ "incident": { "title": "Disk full again", "externalId": "10001" } }),
        )
        .await
        .expect("pushed");
    let calls = requests(&server).await;
    assert_eq!(calls.len(), 2);
    calls.iter().for_each(assert_basic);
    assert_line(&calls[0], "PUT", "/rest/api/2/issue/10001");
    assert_eq!(
        json_body(&calls[0]),
        json!({ "fields": { "summary": "Disk full again", "labels": [] }, "ref": "10001" })
    );
    assert_eq!(out["id"], "10001");
    assert_eq!(out["title"], "ROC-1");
    assert!(out.get("comments").is_none(), "{out}");
}

#[tokio::test]
async fn get_by_post_sends_its_body_and_bearer_auth_applies() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .and(path("/cases"))
        .respond_with(json_reply(json!({ "data": { "case": { "id": 42 } } })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/cases/search"))
        .respond_with(json_reply(json!({ "items": [{ "title": "Case 42" }] })))
        .mount(&server)
        .await;
    let base = server.uri();
    let mut c = config(&base);
    c["authType"] = json!("bearer");
    c["createIncidentUrl"] = json!(format!("{base}/cases"));
    c["createIncidentResponseKey"] = json!("data.case.id");
    c["getIncidentMethod"] = json!("post");
    c["getIncidentUrl"] = json!(format!("{base}/cases/search?id={{{{external.system.id}}}}"));
    c["getIncidentJson"] = json!(r#"{"id": {{{external.system.id}}}}"#);
    c["getIncidentResponseExternalTitleKey"] = json!("items[0].title");
    let h = Harness::new(
        load_spec("cases_webhook.yaml"),
        c,
        json!({ "token": CANARY }),
    );
    let out = h
        .exec("pushToService", json!({ "incident": { "title": "T" } }))
        .await
        .expect("pushed");
    let calls = requests(&server).await;
    assert_eq!(calls.len(), 2);
    for r in &calls {
        assert_eq!(header(r, "authorization"), Some(format!("Bearer {CANARY}")));
    }
    assert_query(&calls[1], &[("id", "42")]);
    assert_eq!(json_body(&calls[1]), json!({ "id": "42" }));
    assert_eq!(out["title"], "Case 42");
    assert_eq!(out["url"], format!("{base}/browse/Case%2042"));
}

#[tokio::test]
async fn a_hostile_title_stays_inside_its_json_string() {
    let server = loopback().await;
    mount_any(&server, json_reply(json!({ "id": "1", "key": "ROC-1" }))).await;
    let title = "x\"}, \"admin\": true, \"y\": {\"\\\n\t\u{1}";
    let description = "\"}\\\" \n";
    basic(&server.uri())
        .exec(
            "pushToService",
            json!({ "incident": { "title": title, "description": description, "id": "i",
                                  "tags": ["a\"]", "b\\"] } }),
        )
        .await
        .expect("pushed");
    let body = json_body(&requests(&server).await[0]);
    assert_eq!(
        body,
        json!({ "fields": { "summary": title, "description": format!("{description} (case i)"),
                            "labels": ["a\"]", "b\\"], "project": { "key": "ROC" } } })
    );
}

#[tokio::test]
async fn url_values_stay_percent_encoded_and_keep_the_origin() {
    let server = loopback().await;
    mount_any(&server, json_reply(json!({ "id": "1", "key": "ROC 1/#x" }))).await;
    let out = basic(&server.uri())
        .exec(
            "pushToService",
            json!({ "incident": { "title": "T", "externalId": "../../admin?x=1#@evil.example" } }),
        )
        .await
        .expect("pushed");
    let calls = requests(&server).await;
    let encoded = "..%2F..%2Fadmin%3Fx%3D1%23%40evil.example";
    for r in &calls {
        assert_eq!(r.url.path(), format!("/rest/api/2/issue/{encoded}"));
        assert_eq!(r.url.query(), None);
    }
    assert_eq!(
        out["url"],
        format!("{}/browse/ROC%201%2F%23x", server.uri())
    );
}

#[test]
fn invalid_templates_are_invalid_config_naming_the_field() {
    let base = "https://cases.example";
    for (field, value, words) in [
        (
            "createIncidentJson",
            r#"{"s": {{#case.title}}x{{/case.title}}}"#,
            "sections",
        ),
        (
            "createIncidentJson",
            r#"{"s": {{{case.title}}}, "x": {{{case.nope}}}}"#,
            "unknown variable `case.nope`",
        ),
        (
            "createIncidentJson",
            r#"{"s": {{{case.title}}}"#,
            "invalid JSON",
        ),
        (
            "createIncidentJson",
            r#"{"s": {{{case.id}}}}"#,
            "must use the variable `{{{case.title}}}`",
        ),
        (
            "getIncidentUrl",
            "https://cases.example/issue",
            "must use the variable `{{{external.system.id}}}`",
        ),
        (
            "updateIncidentUrl",
            "https://{{{external.system.id}}}.example/x",
            "scheme, host and port",
        ),
        (
            "createCommentUrl",
            "{{{external.system.id}}}/comment",
            "scheme, host and port",
        ),
        (
            "viewIncidentUrl",
            "https://cases.example/{{external.system.id",
            "not closed",
        ),
    ] {
        let mut c = config(base);
        c[field] = json!(value);
        let e = instance(c).expect_err(field);
        assert_eq!(e.code, "invalid_config", "{field}: {e}");
        assert!(
            e.message.contains(&format!("`config.{field}`")),
            "{field}: {}",
            e.message
        );
        assert!(e.message.contains(words), "{field}: {}", e.message);
        assert!(!e.to_string().contains(CANARY));
    }
    let mut c = config(base);
    c["createCommentUrl"] = Value::Null;
    c["createCommentJson"] = Value::Null;
    assert!(instance(c).is_ok(), "comment templates are optional");
}

#[tokio::test]
async fn a_templated_url_pointing_elsewhere_is_refused_by_egress() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/issue"))
        .respond_with(json_reply(json!({ "id": "10001" })))
        .mount(&server)
        .await;
    let mut c = config(&server.uri());
    c["authType"] = json!("basic");
    c["getIncidentUrl"] = json!("http://169.254.169.254/latest/meta-data/{{{external.system.id}}}");
    let i = instance(c).expect("instance");
    let policy = EgressPolicy {
        allowed_hosts: vec!["*".into()],
        allow_loopback: true,
    };
    let runtime = InstanceRuntime::new_with_egress(i, policy).expect("runtime");
    let mut registry = Registry::with_builtins();
    let dispatcher = registry
        .register_spec(load_spec("cases_webhook.yaml"))
        .expect("register");
    let h = Harness {
        runtime,
        dispatcher,
    };
    let e = h
        .exec("pushToService", json!({ "incident": { "title": "T" } }))
        .await
        .expect_err("refused");
    assert_eq!(e.code, "egress_refused", "{e}");
    assert_eq!(requests(&server).await.len(), 1, "only the create was sent");
}

#[tokio::test]
async fn a_reply_without_the_id_key_is_an_invalid_response() {
    let server = loopback().await;
    mount_any(&server, json_reply(json!({ "key": "ROC-1" }))).await;
    let e = basic(&server.uri())
        .exec("pushToService", json!({ "incident": { "title": "T" } }))
        .await
        .expect_err("no id");
    assert_eq!(e.code, "invalid_response");
    assert_eq!(e.class, ErrorClass::System);
    assert_eq!(requests(&server).await.len(), 1);
}
