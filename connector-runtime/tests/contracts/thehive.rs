//! `.thehive`: TheHive 5 API v1 cases, alerts, comments and custom fields with a bearer key.

use super::*;

fn thehive_with(server: &MockServer, organisation: Option<&str>) -> Harness {
    let mut config = json!({ "url": server.uri() });
    if let Some(o) = organisation {
        config["organisation"] = json!(o);
    }
    Harness::new(
        load_spec("thehive.yaml"),
        config,
        json!({ "token": CANARY }),
    )
}

fn thehive(server: &MockServer) -> Harness {
    thehive_with(server, Some("SOC"))
}

fn assert_thehive_headers(r: &wiremock::Request) {
    assert_eq!(header(r, "authorization"), Some(format!("Bearer {CANARY}")));
    assert_eq!(header(r, "x-organisation").as_deref(), Some("SOC"));
    assert_eq!(header(r, "accept").as_deref(), Some("application/json"));
}

/// A case as TheHive 5 returns it (trimmed to the fields that matter here).
fn case_reply(id: &str, title: &str) -> Value {
    json!({
        "_id": id, "_type": "Case", "_createdBy": "soc@example.com",
        "_createdAt": 1712912400123_i64, "_updatedAt": null,
        "number": 42, "title": title, "description": "Suspicious login",
        "severity": 3, "severityLabel": "HIGH", "startDate": 1712912400123_i64,
        "tags": ["elastic"], "flag": false, "tlp": 2, "tlpLabel": "AMBER",
        "pap": 2, "papLabel": "AMBER", "status": "New", "stage": "New",
        "assignee": null, "extraData": {}
    })
}

fn comment_reply(id: &str, created: i64) -> Value {
    json!({
        "_id": id, "_type": "Comment", "createdBy": "soc@example.com",
        "createdAt": created, "message": "m", "isEdited": false, "extraData": {}
    })
}

#[tokio::test]
async fn thehive_push_creates_a_case_and_adds_comments() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/case"))
        .respond_with(ResponseTemplate::new(201).set_body_json(case_reply("~4120", "Login")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/case/~4120/comment"))
        .respond_with(ResponseTemplate::new(201).set_body_json(comment_reply("~77", 1712912460000)))
        .expect(2)
        .mount(&server)
        .await;
    let h = thehive(&server);
    let out = h
        .exec(
            "pushToService",
            json!({
                "incident": {
                    "title": "Login", "description": "Suspicious login", "externalId": null,
                    "severity": 3, "tlp": 2, "tags": ["elastic"]
                },
                "comments": [
                    {"comment": "first", "commentId": "c-1"},
                    {"comment": "second", "commentId": "c-2"}
                ]
            }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({
            "id": "~4120",
            "title": "Login",
            "url": format!("{}/cases/~4120/details", server.uri()),
            "pushedDate": "2024-04-12T09:00:00.123Z",
            "comments": [
                {"commentId": "c-1", "pushedDate": "2024-04-12T09:01:00.000Z"},
                {"commentId": "c-2", "pushedDate": "2024-04-12T09:01:00.000Z"}
            ]
        })
    );
    let rs = requests(&server).await;
    assert_eq!(rs.len(), 3);
    for r in &rs {
        assert_thehive_headers(r);
        assert_query(r, &[]);
    }
    assert_line(&rs[0], "POST", "/api/v1/case");
    assert_eq!(
        json_body(&rs[0]),
        json!({
            "title": "Login", "description": "Suspicious login",
            "severity": 3, "tlp": 2, "tags": ["elastic"]
        })
    );
    assert_line(&rs[1], "POST", "/api/v1/case/~4120/comment");
    assert_eq!(json_body(&rs[1]), json!({"message": "first"}));
    assert_eq!(json_body(&rs[2]), json!({"message": "second"}));
}

#[tokio::test]
async fn thehive_push_updates_an_existing_case() {
    let server = loopback().await;
    Mock::given(method("PATCH"))
        .and(path("/api/v1/case/~4120"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let mut updated = case_reply("~4120", "Login (updated)");
    updated["_updatedAt"] = json!(1712916000000_i64);
    Mock::given(method("GET"))
        .and(path("/api/v1/case/~4120"))
        .respond_with(json_reply(updated))
        .expect(1)
        .mount(&server)
        .await;
    let h = thehive(&server);
    let out = h
        .exec(
            "pushToService",
            json!({"incident": {
                "title": "Login (updated)", "description": "More detail", "externalId": "~4120"
            }}),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({
            "id": "~4120",
            "title": "Login (updated)",
            "url": format!("{}/cases/~4120/details", server.uri()),
            "pushedDate": "2024-04-12T10:00:00.000Z",
            "comments": []
        })
    );
    let rs = requests(&server).await;
    assert_eq!(rs.len(), 2);
    assert_line(&rs[0], "PATCH", "/api/v1/case/~4120");
    assert_thehive_headers(&rs[0]);
    assert_eq!(
        json_body(&rs[0]),
        json!({"title": "Login (updated)", "description": "More detail"})
    );
    assert_line(&rs[1], "GET", "/api/v1/case/~4120");
}

#[tokio::test]
async fn thehive_push_404_is_a_user_error_with_the_message() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(404).set_body_json(json!({
            "type": "NotFoundError", "message": "Case ~999 not found"
        })),
    )
    .await;
    let e = thehive(&server)
        .exec(
            "pushToService",
            json!({"incident": {"title": "t", "description": "d", "externalId": "~999"}}),
        )
        .await
        .expect_err("404");
    assert_eq!(e.class, ErrorClass::User);
    assert_eq!(e.status, Some(404));
    assert_eq!(
        requests(&server).await.len(),
        1,
        "no read after a failed update"
    );
}

#[tokio::test]
async fn thehive_get_fields_lists_custom_fields() {
    let server = loopback().await;
    let fields = json!([
        {"_id": "~1", "name": "business-unit", "displayName": "Business unit", "group": "default",
         "description": "Owning unit", "type": "string", "options": ["HR", "IT"], "mandatory": false}
    ]);
    mount_any(&server, json_reply(fields.clone())).await;
    let h = thehive(&server);
    let out = h
        .exec("getFields", json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, fields);
    let r = only_request(&server).await;
    assert_line(&r, "GET", "/api/v1/customField");
    assert_query(&r, &[]);
    assert_thehive_headers(&r);
}

#[tokio::test]
async fn thehive_get_incident_reads_the_case() {
    let server = loopback().await;
    mount_any(&server, json_reply(case_reply("~4120", "Login"))).await;
    let h = thehive(&server);
    let out = h
        .exec("getIncident", json!({"externalId": "~4120"}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, case_reply("~4120", "Login"));
    let r = only_request(&server).await;
    assert_line(&r, "GET", "/api/v1/case/~4120");
    assert_thehive_headers(&r);
}

#[tokio::test]
async fn thehive_create_alert_sends_the_alert() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(201).set_body_json(json!({
            "_id": "~8200", "_type": "Alert", "_createdBy": "soc@example.com",
            "_createdAt": 1712912400123_i64, "type": "external", "source": "Elastic",
            "sourceRef": "rule-1-alert-9", "title": "Malware", "description": "EICAR",
            "severity": 2, "severityLabel": "MEDIUM", "date": 1712912400123_i64,
            "tlp": 2, "tlpLabel": "AMBER", "pap": 2, "papLabel": "AMBER",
            "observableCount": 0, "status": "New", "stage": "New", "extraData": {}
        })),
    )
    .await;
    let h = thehive(&server);
    let out = h
        .exec(
            "createAlert",
            json!({
                "title": "Malware", "description": "EICAR", "type": "external",
                "source": "Elastic", "sourceRef": "rule-1-alert-9", "tags": ["av"]
            }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({"id": "~8200", "title": "Malware", "status": "New", "createdAt": 1712912400123_i64})
    );
    let r = only_request(&server).await;
    assert_line(&r, "POST", "/api/v1/alert");
    assert_thehive_headers(&r);
    assert_eq!(
        json_body(&r),
        json!({
            "title": "Malware", "description": "EICAR", "type": "external",
            "source": "Elastic", "sourceRef": "rule-1-alert-9",
            "severity": 2, "tlp": 2, "tags": ["av"]
        })
    );
}

#[tokio::test]
async fn thehive_test_reads_the_current_user_without_organisation_header() {
    let server = loopback().await;
    mount_any(
        &server,
        json_reply(json!({
            "_id": "~1", "login": "soc@example.com", "name": "SOC bot",
            "organisation": "SOC", "profile": "analyst"
        })),
    )
    .await;
    let h = thehive_with(&server, None);
    let want = json!({"login": "soc@example.com", "name": "SOC bot", "organisation": "SOC"});
    assert_eq!(h.test().await.unwrap_or_else(|e| panic!("{e}")), want);
    assert_eq!(
        h.exec("test", json!({}))
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        want
    );
    for r in requests(&server).await {
        assert_line(&r, "GET", "/api/v1/user/current");
        assert_eq!(
            header(&r, "authorization"),
            Some(format!("Bearer {CANARY}"))
        );
        // No organisation configured: the header is left out, not sent empty.
        assert_eq!(header(&r, "x-organisation"), None);
    }
}

#[tokio::test]
async fn thehive_401_is_auth() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(401).set_body_json(json!({
            "type": "AuthenticationError", "message": "Authentication failure"
        })),
    )
    .await;
    let e = thehive(&server).test().await.expect_err("401");
    assert_eq!(e.class, ErrorClass::Auth);
    assert_eq!(e.status, Some(401));
}
