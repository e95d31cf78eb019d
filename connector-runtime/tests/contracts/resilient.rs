//! `.resilient` (IBM QRadar SOAR REST API, `/rest/orgs/{org_id}`): every action against a
//! loopback SOAR server.

use super::*;
use base64::Engine as _;

const ORG: &str = "/rest/orgs/201";

fn soar(server: &MockServer) -> Harness {
    Harness::new(
        load_spec("resilient.yaml"),
        json!({ "apiUrl": server.uri(), "orgId": "201" }),
        json!({ "username": "a1b2c3d4-key-id", "password": CANARY }),
    )
}

fn assert_soar_auth(r: &wiremock::Request) {
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("a1b2c3d4-key-id:{CANARY}"));
    assert_eq!(header(r, "authorization"), Some(format!("Basic {basic}")));
}

fn field_values() -> Value {
    json!({
        "id": 37, "name": "severity_code", "text": "Severity", "input_type": "select",
        "values": [
            { "value": 4, "label": "Low", "enabled": true, "hidden": false },
            { "value": 6, "label": "High", "enabled": true, "hidden": false }
        ]
    })
}

#[tokio::test]
async fn get_fields_lists_the_incident_fields() {
    let server = loopback().await;
    let fields = json!([
        { "name": "name", "text": "Name", "input_type": "text", "prefix": null,
          "read_only": false, "required": "always", "values": [] },
        { "name": "u_team", "text": "Team", "input_type": "text", "prefix": "properties",
          "read_only": false, "required": null, "values": [] }
    ]);
    mount_any(&server, json_reply(fields.clone())).await;
    let h = soar(&server);
    assert_eq!(
        h.exec("getFields", json!({})).await.expect("fields"),
        fields
    );
    let r = only_request(&server).await;
    assert_line(&r, "GET", &format!("{ORG}/types/incident/fields"));
    assert_query(&r, &[]);
    assert_soar_auth(&r);
}

#[tokio::test]
async fn incident_types_and_severity_are_the_fields_values() {
    let server = loopback().await;
    mount_any(&server, json_reply(field_values())).await;
    let h = soar(&server);
    let values = field_values()["values"].clone();
    assert_eq!(
        h.exec("incidentTypes", json!({})).await.expect("types"),
        values
    );
    assert_eq!(
        h.exec("severity", json!({})).await.expect("severity"),
        values
    );
    h.test().await.expect("test passes");
    let calls = requests(&server).await;
    let paths: Vec<&str> = calls.iter().map(|r| r.url.path()).collect();
    let types = format!("{ORG}/types/incident/fields/incident_type_ids");
    let severity = format!("{ORG}/types/incident/fields/severity_code");
    assert_eq!(paths, [&types, &severity, &severity]);
    for r in &calls {
        assert_eq!(r.method.as_str(), "GET");
        assert_soar_auth(r);
    }
}

#[tokio::test]
async fn push_to_service_creates_the_incident_then_adds_the_comments() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .and(path(format!("{ORG}/incidents")))
        .and(query_param("text_content_output_format", "objects_convert"))
        .respond_with(json_reply(json!({
            "id": 2113, "name": "Malware on web-01", "create_date": 1_795_685_400_000_i64
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{ORG}/incidents/2113/comments")))
        .respond_with(json_reply(
            json!({ "id": 9, "create_date": 1_795_685_460_000_i64 }),
        ))
        .expect(2)
        .mount(&server)
        .await;
    let h = soar(&server);
    let out = h
        .exec(
            "pushToService",
            json!({
                "incident": {
                    "name": "Malware on web-01", "description": "<p>EDR alert</p>",
                    "incidentTypes": [1001, 19], "severityCode": 6, "externalId": null,
                    "additionalFields": { "confirmed": true }
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
            "id": "2113", "title": "2113", "url": format!("{}/#incidents/2113", server.uri()),
            "pushedDate": "2026-11-26T09:30:00.000Z",
            "comments": [
                { "commentId": "c-1", "pushedDate": "2026-11-26T09:30:00.000Z" },
                { "commentId": "c-2", "pushedDate": "2026-11-26T09:30:00.000Z" }
            ]
        })
    );
    let calls = requests(&server).await;
    assert_eq!(calls.len(), 3);
    for r in &calls {
        assert_soar_auth(r);
    }
    let mut created = json_body(&calls[0]);
    let discovered = created["discovered_date"].take();
    assert!(
        discovered.as_i64().is_some_and(|ms| ms > 1_700_000_000_000),
        "{discovered}"
    );
    assert_eq!(
        created,
        json!({
            "name": "Malware on web-01", "discovered_date": null,
            "description": { "format": "html", "content": "<p>EDR alert</p>" },
            "incident_type_ids": [{ "id": 1001 }, { "id": 19 }],
            "severity_code": { "id": 6 }, "confirmed": true
        })
    );
    assert_eq!(
        json_body(&calls[1]),
        json!({ "text": { "format": "text", "content": "Host isolated" } })
    );
    assert_eq!(
        json_body(&calls[2]),
        json!({ "text": { "format": "text", "content": "Reimaged" } })
    );
}

#[tokio::test]
async fn push_to_service_updates_with_old_and_new_values() {
    let server = loopback().await;
    Mock::given(method("GET"))
        .and(path(format!("{ORG}/incidents/2113")))
        .and(query_param("text_content_output_format", "objects_convert"))
        .respond_with(json_reply(json!({
            "id": 2113, "name": "Malware on web-01",
            "description": { "format": "html", "content": "<p>EDR alert</p>" },
            "severity_code": 4, "inc_last_modified_date": 1_795_771_800_000_i64
        })))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{ORG}/incidents/2113")))
        .respond_with(json_reply(
            json!({ "success": true, "title": null, "message": null }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let h = soar(&server);
    let out = h
        .exec(
            "pushToService",
            json!({ "incident": {
                "name": "Malware on web-01 (contained)", "severityCode": 6, "externalId": "2113"
            }}),
        )
        .await
        .expect("pushed");
    assert_eq!(out["id"], "2113");
    assert_eq!(out["pushedDate"], "2026-11-27T09:30:00.000Z");
    let calls = requests(&server).await;
    let methods: Vec<&str> = calls.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["GET", "PATCH", "GET"]);
    assert_eq!(
        json_body(&calls[1]),
        json!({ "changes": [
            { "field": { "name": "name" },
              "old_value": { "text": "Malware on web-01" },
              "new_value": { "text": "Malware on web-01 (contained)" } },
            { "field": { "name": "severity_code" },
              "old_value": { "id": 4 }, "new_value": { "id": 6 } }
        ]})
    );
}

#[tokio::test]
async fn soar_errors_are_classified_with_the_message() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(400).set_body_json(json!({
            "success": false, "title": null,
            "message": "Invalid incident type id: 99999", "hints": [], "error_code": "generic"
        })),
    )
    .await;
    let h = soar(&server);
    let e = h
        .exec(
            "pushToService",
            json!({ "incident": { "name": "x", "incidentTypes": [99999] } }),
        )
        .await
        .expect_err("400");
    assert_eq!((e.class, e.status), (ErrorClass::User, Some(400)));
    assert!(e.message.contains("Invalid incident type id"), "{e}");

    // A 200 whose body says the update failed is an error too.
    let server = loopback().await;
    Mock::given(method("GET"))
        .respond_with(json_reply(
            json!({ "id": 7, "name": "a", "inc_last_modified_date": 0 }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(json_reply(json!({
            "success": false, "title": null, "message": "The incident has been modified"
        })))
        .mount(&server)
        .await;
    let h = soar(&server);
    let e = h
        .exec(
            "pushToService",
            json!({ "incident": { "name": "b", "externalId": "7" } }),
        )
        .await
        .expect_err("refused");
    assert_eq!((e.class, e.code), (ErrorClass::User, "update_refused"));
    assert!(e.message.contains("has been modified"), "{e}");

    let server = loopback().await;
    mount_any(&server, ResponseTemplate::new(401)).await;
    let e = soar(&server).test().await.expect_err("401");
    assert_eq!(e.class, ErrorClass::Auth);
}
