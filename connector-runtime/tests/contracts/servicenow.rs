//! `.servicenow` (ServiceNow ITSM, REST Table API): every action against a loopback ServiceNow.
//! The shared ServiceNow helpers (`sn_*`) are used by the SIR and ITOM contracts too.

use super::*;
use base64::Engine as _;
use wiremock::matchers::{body_json, path_regex};

pub const SYS_ID: &str = "9d385017c611228701d22104cc95c371";

/// A ServiceNow instance of `file` on the mock, basic auth with the canary password.
pub fn sn_harness(file: &str, server: &MockServer) -> Harness {
    Harness::new(
        load_spec(file),
        json!({ "apiUrl": server.uri() }),
        json!({ "username": "elastic.svc", "password": CANARY }),
    )
}

pub fn assert_sn_basic(r: &wiremock::Request) {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("elastic.svc:{CANARY}"));
    assert_eq!(header(r, "authorization"), Some(format!("Basic {basic}")));
    assert_eq!(header(r, "accept").as_deref(), Some("application/json"));
}

/// A Table API record as ServiceNow returns it (every value a string).
pub fn sn_record(number: &str, state: &str, updated: &str) -> Value {
    json!({
        "sys_id": SYS_ID, "number": number, "state": state,
        "short_description": "Malware on web-01", "correlation_id": "rule-1:alert-9",
        "sys_created_on": "2026-11-20 09:30:00", "sys_updated_on": updated
    })
}

/// ServiceNow's error body.
pub fn sn_error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": { "message": message, "detail": null }, "status": "failure"
    }))
}

pub fn lines(calls: &[wiremock::Request]) -> Vec<String> {
    calls
        .iter()
        .map(|r| match r.url.query() {
            Some(q) => format!("{} {}?{q}", r.method, r.url.path()),
            None => format!("{} {}", r.method, r.url.path()),
        })
        .collect()
}

fn field(i: usize) -> Value {
    json!({ "element": format!("u_field_{i}"), "column_label": format!("Field {i}"),
            "max_length": "40", "mandatory": "false" })
}

#[tokio::test]
async fn get_fields_reads_sys_dictionary_page_after_page() {
    let server = loopback().await;
    let first: Vec<Value> = (0..500).map(field).collect();
    for (offset, records) in [("0", first.clone()), ("500", vec![field(500)])] {
        Mock::given(method("GET"))
            .and(path("/api/now/table/sys_dictionary"))
            .and(query_param("sysparm_offset", offset))
            .respond_with(json_reply(json!({ "result": records })))
            .expect(1)
            .mount(&server)
            .await;
    }
    let h = sn_harness("servicenow.yaml", &server);
    let out = h.exec_all("getFields", json!({})).await.expect("fields");
    let mut all = first;
    all.push(field(500));
    assert_eq!(out, Value::Array(all));
    let calls = requests(&server).await;
    assert_eq!(calls.len(), 2);
    assert_line(&calls[0], "GET", "/api/now/table/sys_dictionary");
    assert_query(
        &calls[0],
        &[
            (
                "sysparm_query",
                "name=task^ORname=incident^internal_type=string^active=true^array=false^read_only=false",
            ),
            (
                "sysparm_fields",
                "max_length,element,column_label,mandatory",
            ),
            ("sysparm_limit", "500"),
            ("sysparm_offset", "0"),
        ],
    );
    assert_eq!(query(&calls[1])[3], ("sysparm_offset".into(), "500".into()));
    for r in &calls {
        assert_sn_basic(r);
    }
}

#[tokio::test]
async fn get_choices_asks_for_each_field() {
    let server = loopback().await;
    let choices = json!([
        { "label": "1 - Critical", "value": "1", "dependent_value": "", "element": "priority" },
        { "label": "Network", "value": "network", "dependent_value": "", "element": "category" }
    ]);
    mount_any(&server, json_reply(json!({ "result": choices }))).await;
    let h = sn_harness("servicenow.yaml", &server);
    let out = h
        .exec("getChoices", json!({ "fields": ["priority", "category"] }))
        .await
        .expect("choices");
    assert_eq!(out, choices);
    let r = only_request(&server).await;
    assert_line(&r, "GET", "/api/now/table/sys_choice");
    assert_query(
        &r,
        &[
            (
                "sysparm_query",
                "name=task^ORname=incident^element=priority^ORelement=category^language=en",
            ),
            ("sysparm_fields", "label,value,dependent_value,element"),
            ("sysparm_limit", "500"),
            ("sysparm_offset", "0"),
        ],
    );
    assert_sn_basic(&r);
    // A field name that would leave the encoded query is refused before any request.
    let e = h
        .exec(
            "getChoices",
            json!({ "fields": ["priority^ORname=sys_user"] }),
        )
        .await
        .expect_err("pattern");
    assert_eq!(e.class, ErrorClass::User, "{e}");
}

#[tokio::test]
async fn get_incident_reads_the_record() {
    let server = loopback().await;
    let record = sn_record("INC0010001", "1", "2026-11-20 09:30:00");
    mount_any(&server, json_reply(json!({ "result": record }))).await;
    let h = sn_harness("servicenow.yaml", &server);
    let out = h
        .exec("getIncident", json!({ "externalId": SYS_ID }))
        .await
        .expect("incident");
    assert_eq!(out, record);
    let r = only_request(&server).await;
    assert_line(&r, "GET", &format!("/api/now/v2/table/incident/{SYS_ID}"));
    assert_query(&r, &[]);
    assert_sn_basic(&r);
}

#[tokio::test]
async fn servicenow_errors_are_classified_with_the_message_and_without_the_password() {
    let server = loopback().await;
    mount_any(&server, sn_error(404, "No Record found")).await;
    let h = sn_harness("servicenow.yaml", &server);
    let e = h
        .exec("getIncident", json!({ "externalId": SYS_ID }))
        .await
        .expect_err("404");
    assert_eq!((e.class, e.status), (ErrorClass::User, Some(404)));
    assert!(e.message.contains("No Record found"), "{e}");

    let server = loopback().await;
    mount_any(&server, sn_error(401, "User Not Authenticated")).await;
    let h = sn_harness("servicenow.yaml", &server);
    let e = h.test().await.expect_err("401");
    assert_eq!((e.class, e.status), (ErrorClass::Auth, Some(401)));
}

#[tokio::test]
async fn connection_test_reads_one_incident() {
    let server = loopback().await;
    mount_any(
        &server,
        json_reply(json!({ "result": [{ "sys_id": SYS_ID }] })),
    )
    .await;
    let h = sn_harness("servicenow.yaml", &server);
    h.test().await.expect("test passes");
    let r = only_request(&server).await;
    assert_line(&r, "GET", "/api/now/v2/table/incident");
    assert_query(&r, &[("sysparm_limit", "1"), ("sysparm_fields", "sys_id")]);
    assert_sn_basic(&r);
}

/// Mounts the Table API writes of `table`: POST creates, PATCH updates (sys_updated_on moves
/// on with each PATCH body seen through `updated`).
pub async fn mount_sn_writes(server: &MockServer, table: &str, number: &str) {
    Mock::given(method("POST"))
        .and(path(format!("/api/now/v2/table/{table}")))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "result": sn_record(number, "1", "2026-11-20 09:30:00") })),
        )
        .mount(server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("/api/now/v2/table/{table}/{SYS_ID}")))
        .respond_with(json_reply(
            json!({ "result": sn_record(number, "2", "2026-11-21 10:15:00") }),
        ))
        .mount(server)
        .await;
}

#[tokio::test]
async fn push_to_service_creates_the_incident_then_adds_work_notes() {
    let server = loopback().await;
    mount_sn_writes(&server, "incident", "INC0010001").await;
    let h = sn_harness("servicenow.yaml", &server);
    let out = h
        .exec(
            "pushToService",
            json!({
                "incident": {
                    "short_description": "Malware on web-01", "description": "Detected by EDR",
                    "urgency": "1", "impact": "2", "severity": null, "externalId": null,
                    "correlation_id": "rule-1:alert-9",
                    "additional_fields": { "u_team": "secops" }
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
            "id": SYS_ID, "title": "INC0010001",
            "url": format!("{}/nav_to.do?uri=incident.do?sys_id={SYS_ID}", server.uri()),
            "pushedDate": "2026-11-20T09:30:00Z",
            "comments": [
                { "commentId": "c-1", "pushedDate": "2026-11-21T10:15:00Z" },
                { "commentId": "c-2", "pushedDate": "2026-11-21T10:15:00Z" }
            ]
        })
    );
    let calls = requests(&server).await;
    let patch = format!("PATCH /api/now/v2/table/incident/{SYS_ID}");
    assert_eq!(
        lines(&calls),
        ["POST /api/now/v2/table/incident", &patch, &patch]
    );
    for r in &calls {
        assert_sn_basic(r);
    }
    assert_eq!(
        json_body(&calls[0]),
        json!({
            "u_team": "secops", "short_description": "Malware on web-01",
            "description": "Detected by EDR", "urgency": "1", "impact": "2",
            "correlation_id": "rule-1:alert-9",
            "caller_id": "elastic.svc", "opened_by": "elastic.svc"
        })
    );
    assert_eq!(
        json_body(&calls[1]),
        json!({ "work_notes": "Host isolated" })
    );
    assert_eq!(json_body(&calls[2]), json!({ "work_notes": "Reimaged" }));
}

#[tokio::test]
async fn push_to_service_updates_the_incident_named_by_external_id() {
    let server = loopback().await;
    mount_sn_writes(&server, "incident", "INC0010001").await;
    let h = sn_harness("servicenow.yaml", &server);
    let out = h
        .exec(
            "pushToService",
            json!({ "incident": { "short_description": "Contained", "externalId": SYS_ID } }),
        )
        .await
        .expect("pushed");
    assert_eq!(out["id"], SYS_ID);
    assert_eq!(out["pushedDate"], "2026-11-21T10:15:00Z");
    assert_eq!(out["comments"], json!([]));
    let r = only_request(&server).await;
    assert_line(&r, "PATCH", &format!("/api/now/v2/table/incident/{SYS_ID}"));
    // No caller on an update.
    assert_eq!(json_body(&r), json!({ "short_description": "Contained" }));
}

#[tokio::test]
async fn push_to_service_400_is_a_user_error_with_servicenows_message() {
    let server = loopback().await;
    mount_any(&server, sn_error(400, "Invalid input: urgency")).await;
    let h = sn_harness("servicenow.yaml", &server);
    let e = h
        .exec(
            "pushToService",
            json!({ "incident": { "short_description": "x" } }),
        )
        .await
        .expect_err("400");
    assert_eq!((e.class, e.status), (ErrorClass::User, Some(400)));
    assert!(e.message.contains("Invalid input: urgency"), "{e}");
}

#[tokio::test]
async fn close_incident_by_correlation_id_closes_the_newest_match() {
    let server = loopback().await;
    Mock::given(method("GET"))
        .and(path("/api/now/v2/table/incident"))
        .respond_with(json_reply(
            json!({ "result": [sn_record("INC0010001", "2", "2026-11-20 09:30:00")] }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("/api/now/v2/table/incident/{SYS_ID}")))
        .and(body_json(json!({
            "state": "7", "close_code": "Closed/Resolved by Caller", "close_notes": "Closed by Caller"
        })))
        .respond_with(json_reply(
            json!({ "result": sn_record("INC0010001", "7", "2026-11-22 08:00:00") }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let h = sn_harness("servicenow.yaml", &server);
    let out = h
        .exec(
            "closeIncident",
            json!({ "incident": { "correlation_id": "rule-1:alert-9" } }),
        )
        .await
        .expect("closed");
    assert_eq!(
        out,
        json!({
            "id": SYS_ID, "title": "INC0010001",
            "url": format!("{}/nav_to.do?uri=incident.do?sys_id={SYS_ID}", server.uri()),
            "pushedDate": "2026-11-22T08:00:00Z"
        })
    );
    let calls = requests(&server).await;
    assert_eq!(calls.len(), 2);
    assert_line(&calls[0], "GET", "/api/now/v2/table/incident");
    assert_query(
        &calls[0],
        &[
            (
                "sysparm_query",
                "ORDERBYDESCsys_created_on^correlation_id=rule-1:alert-9",
            ),
            ("sysparm_limit", "1"),
        ],
    );
    for r in &calls {
        assert_sn_basic(r);
    }
}

#[tokio::test]
async fn close_incident_leaves_a_closed_incident_and_finds_nothing_as_null() {
    let server = loopback().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/now/v2/table/incident/{SYS_ID}")))
        .respond_with(json_reply(
            json!({ "result": sn_record("INC0010001", "7", "2026-11-22 08:00:00") }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/now/v2/table/incident/0+$"))
        .respond_with(sn_error(404, "No Record found"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/now/v2/table/incident"))
        .respond_with(json_reply(json!({ "result": [] })))
        .mount(&server)
        .await;
    let h = sn_harness("servicenow.yaml", &server);
    let out = h
        .exec(
            "closeIncident",
            json!({ "incident": { "externalId": SYS_ID } }),
        )
        .await
        .expect("already closed");
    assert_eq!(out["pushedDate"], "2026-11-22T08:00:00Z");
    let zeros = "0".repeat(32);
    let out = h
        .exec(
            "closeIncident",
            json!({ "incident": { "externalId": zeros } }),
        )
        .await
        .expect("404 is null");
    assert_eq!(out, Value::Null);
    let out = h
        .exec(
            "closeIncident",
            json!({ "incident": { "correlation_id": "none" } }),
        )
        .await
        .expect("no match is null");
    assert_eq!(out, Value::Null);
    let calls = requests(&server).await;
    assert!(
        calls.iter().all(|r| r.method.as_str() == "GET"),
        "no write: {:?}",
        lines(&calls)
    );
    // Neither identifier: refused by the input schema.
    let e = h
        .exec("closeIncident", json!({ "incident": {} }))
        .await
        .expect_err("no id");
    assert_eq!(e.class, ErrorClass::User, "{e}");
}

#[tokio::test]
async fn a_rate_limited_read_is_retried_after_retry_after() {
    let server = loopback().await;
    Mock::given(method("GET"))
        .respond_with(
            sn_error(429, "Rate limit exceeded for this resource")
                .insert_header("Retry-After", "0"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let record = sn_record("INC0010001", "1", "2026-11-20 09:30:00");
    Mock::given(method("GET"))
        .respond_with(json_reply(json!({ "result": record })))
        .mount(&server)
        .await;
    let h = sn_harness("servicenow.yaml", &server);
    let out = h
        .exec("getIncident", json!({ "externalId": SYS_ID }))
        .await
        .expect("retried");
    assert_eq!(out, record);
    assert_eq!(requests(&server).await.len(), 2);

    // A wait beyond maxWaitMs (limits are per hour) fails at once as rate limited.
    let server = loopback().await;
    mount_any(
        &server,
        sn_error(429, "Rate limit exceeded").insert_header("Retry-After", "1800"),
    )
    .await;
    let h = sn_harness("servicenow.yaml", &server);
    let e = h
        .exec("getIncident", json!({ "externalId": SYS_ID }))
        .await
        .expect_err("429");
    assert_eq!(e.class, ErrorClass::RateLimited, "{e}");
    assert_eq!(requests(&server).await.len(), 1);
}

/// A PKCS#8 PEM of a fresh RSA key (the private half of the JWT verifier's certificate).
fn rsa_pem() -> String {
    crate::jwt_support::test_key().pem
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn oauth_gets_a_jwt_bearer_token_from_oauth_token_do() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .and(path("/oauth_token.do"))
        .respond_with(json_reply(json!({
            "access_token": "canary-sn-access-t0ken", "scope": "useraccount",
            "token_type": "Bearer", "expires_in": 1799
        })))
        .expect(1)
        .mount(&server)
        .await;
    let record = sn_record("INC0010001", "1", "2026-11-20 09:30:00");
    Mock::given(method("GET"))
        .and(path(format!("/api/now/v2/table/incident/{SYS_ID}")))
        .respond_with(json_reply(json!({ "result": record })))
        .expect(2)
        .mount(&server)
        .await;
    let h = Harness::new(
        load_spec("servicenow.yaml"),
        json!({
            "apiUrl": server.uri(), "authType": "oauth_jwt_bearer",
            "clientId": "9f2e0c1a5b7d4e3f8a6b2c1d0e9f8a7b",
            "userIdentifier": "elastic.integration@example.com", "keyId": "elastic-jwt"
        }),
        json!({ "clientSecret": CANARY, "privateKey": rsa_pem() }),
    );
    for _ in 0..2 {
        let out = h
            .exec("getIncident", json!({ "externalId": SYS_ID }))
            .await
            .expect("incident");
        assert_eq!(out, record);
    }
    let calls = requests(&server).await;
    assert_eq!(calls.len(), 3, "one token for both reads");
    assert_line(&calls[0], "POST", "/oauth_token.do");
    let f = form(&calls[0].body);
    let names: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["grant_type", "assertion", "client_id", "client_secret"]
    );
    assert_eq!(f[0].1, "urn:ietf:params:oauth:grant-type:jwt-bearer");
    assert_eq!(f[1].1.split('.').count(), 3, "a signed JWT");
    assert_eq!(f[2].1, "9f2e0c1a5b7d4e3f8a6b2c1d0e9f8a7b");
    assert_eq!(f[3].1, CANARY);
    for r in &calls[1..] {
        assert_eq!(
            header(r, "authorization").as_deref(),
            Some("Bearer canary-sn-access-t0ken")
        );
    }
}
