//! `.swimlane`: records of one Swimlane application, keyed by the mapped field IDs, against a
//! loopback Swimlane server.

use super::*;

const APP: &str = "aQdR4nZbK8ev";

fn mappings() -> Value {
    json!({
        "alertIdConfig": { "id": "adnjls", "key": "alert-id", "name": "Alert ID", "fieldType": "text" },
        "ruleNameConfig": { "id": "adnlas", "key": "rule-name", "name": "Rule name", "fieldType": "text" },
        "severityConfig": { "id": "adhpmm", "key": "severity", "name": "Severity", "fieldType": "numeric" },
        "caseNameConfig": { "id": "a6sst9", "key": "case-name", "name": "Case name", "fieldType": "text" },
        "descriptionConfig": { "id": "ae1mi4", "key": "description", "name": "Description", "fieldType": "text" },
        "commentsConfig": { "id": "a6fdf4", "key": "comments", "name": "Comments", "fieldType": "comments" }
    })
}

fn swimlane(server: &MockServer) -> Harness {
    Harness::new(
        load_spec("swimlane.yaml"),
        json!({ "apiUrl": server.uri(), "appId": APP, "connectorType": "all", "mappings": mappings() }),
        json!({ "apiKey": CANARY }),
    )
}

fn assert_token(r: &wiremock::Request) {
    assert_eq!(header(r, "private-token").as_deref(), Some(CANARY));
    assert_eq!(header(r, "authorization"), None);
}

#[tokio::test]
async fn push_to_service_creates_the_record_then_posts_the_comments() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .and(path(format!("/api/app/{APP}/record")))
        .respond_with(json_reply(json!({
            "id": "aR3S8mgW2vsa", "name": "SW-12", "applicationId": APP,
            "createdDate": "2026-11-20T09:30:00.000Z", "values": {}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/api/app/{APP}/record/aR3S8mgW2vsa/a6fdf4/comment"
        )))
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(&server)
        .await;
    let h = swimlane(&server);
    let out = h
        .exec(
            "pushToService",
            json!({
                "incident": {
                    "alertId": "alert-9", "ruleName": "Malware detected", "severity": "3",
                    "caseName": "Malware on web-01", "description": "EDR alert",
                    "caseId": null, "externalId": null
                },
                "comments": [
                    { "comment": "Host isolated", "commentId": "c-1" },
                    { "comment": "Reimaged", "commentId": "c-2" }
                ]
            }),
        )
        .await
        .expect("pushed");
    let calls = requests(&server).await;
    assert_eq!(calls.len(), 3);
    for r in &calls {
        assert_token(r);
    }
    assert_eq!(
        json_body(&calls[0]),
        json!({
            "applicationId": APP,
            "values": {
                "adnjls": "alert-9", "adnlas": "Malware detected", "adhpmm": 3.0,
                "a6sst9": "Malware on web-01", "ae1mi4": "EDR alert"
            }
        })
    );
    let mut comment = json_body(&calls[1]);
    let sent = comment["createdDate"].take();
    assert!(sent.as_str().is_some_and(|d| d.ends_with('Z')), "{sent}");
    assert_eq!(
        comment,
        json!({ "createdDate": null, "fieldId": "a6fdf4", "isRichText": true, "message": "Host isolated" })
    );
    assert_eq!(json_body(&calls[2])["message"], "Reimaged");
    assert_eq!(
        out,
        json!({
            "id": "aR3S8mgW2vsa", "title": "SW-12",
            "url": format!("{}/record/{APP}/aR3S8mgW2vsa", server.uri()),
            "pushedDate": "2026-11-20T09:30:00.000Z",
            "comments": [
                { "commentId": "c-1", "pushedDate": sent },
                { "commentId": "c-2", "pushedDate": sent }
            ]
        })
    );
}

#[tokio::test]
async fn push_to_service_updates_the_record_named_by_external_id() {
    let server = loopback().await;
    Mock::given(method("PATCH"))
        .and(path(format!("/api/app/{APP}/record/aR3S8mgW2vsa")))
        .respond_with(json_reply(json!({
            "id": "aR3S8mgW2vsa", "name": "SW-12", "modifiedDate": "2026-11-21T10:15:00.000Z"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let h = swimlane(&server);
    let out = h
        .exec(
            "pushToService",
            json!({ "incident": { "caseName": "Contained", "externalId": "aR3S8mgW2vsa" } }),
        )
        .await
        .expect("pushed");
    assert_eq!(out["pushedDate"], "2026-11-21T10:15:00.000Z");
    assert_eq!(out["comments"], json!([]));
    let r = only_request(&server).await;
    assert_token(&r);
    assert_eq!(
        json_body(&r),
        json!({ "applicationId": APP, "id": "aR3S8mgW2vsa", "values": { "a6sst9": "Contained" } })
    );
}

#[tokio::test]
async fn swimlane_errors_and_bad_input_are_classified() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(400).set_body_json(json!({
            "ErrorCode": 1051, "Argument": "values.adhpmm", "Description": "Invalid value"
        })),
    )
    .await;
    let h = swimlane(&server);
    let e = h
        .exec("pushToService", json!({ "incident": { "caseName": "x" } }))
        .await
        .expect_err("400");
    assert_eq!((e.class, e.status), (ErrorClass::User, Some(400)));
    // Text for a numeric field is refused before any request.
    let before = requests(&server).await.len();
    let e = h
        .exec(
            "pushToService",
            json!({ "incident": { "severity": "high" } }),
        )
        .await
        .expect_err("not a number");
    assert_eq!((e.class, e.code), (ErrorClass::User, "invalid_input"));
    assert_eq!(requests(&server).await.len(), before);

    let server = loopback().await;
    mount_any(&server, ResponseTemplate::new(401)).await;
    let e = swimlane(&server).test().await.expect_err("401");
    assert_eq!(e.class, ErrorClass::Auth);
}

#[tokio::test]
async fn connection_test_reads_the_application() {
    let server = loopback().await;
    mount_any(
        &server,
        json_reply(json!({ "id": APP, "name": "SOC cases", "fields": [] })),
    )
    .await;
    swimlane(&server).test().await.expect("test passes");
    let r = only_request(&server).await;
    assert_line(&r, "GET", &format!("/api/app/{APP}"));
    assert_token(&r);
}
