//! `.servicenow-sir` (Security Incident Response, table `sn_si_incident`): the ServiceNow
//! handlers on another table, and the SIR form's fields and choices.

use super::servicenow::{
    SYS_ID, assert_sn_basic, lines, mount_sn_writes, sn_error, sn_harness, sn_record,
};
use super::*;
use wiremock::matchers::body_json;

const SIR: &str = "servicenow_sir.yaml";

#[tokio::test]
async fn get_fields_and_choices_read_the_security_incident_form() {
    let server = loopback().await;
    let fields = json!([{ "element": "dest_ip", "column_label": "Destination IP",
                          "max_length": "4000", "mandatory": "false" }]);
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_dictionary"))
        .respond_with(json_reply(json!({ "result": fields })))
        .mount(&server)
        .await;
    let choices = json!([{ "label": "1 - Critical", "value": "1", "dependent_value": "",
                           "element": "priority" }]);
    Mock::given(method("GET"))
        .and(path("/api/now/table/sys_choice"))
        .respond_with(json_reply(json!({ "result": choices })))
        .mount(&server)
        .await;
    let h = sn_harness(SIR, &server);
    assert_eq!(
        h.exec_all("getFields", json!({})).await.expect("fields"),
        fields
    );
    let out = h
        .exec("getChoices", json!({ "fields": ["priority"] }))
        .await
        .expect("choices");
    assert_eq!(out, choices);
    let calls = requests(&server).await;
    assert_eq!(calls.len(), 2, "a short page ends the listing");
    assert_query(
        &calls[0],
        &[
            (
                "sysparm_query",
                "name=task^ORname=sn_si_incident^internal_type=string^active=true^array=false^read_only=false",
            ),
            (
                "sysparm_fields",
                "max_length,element,column_label,mandatory",
            ),
            ("sysparm_limit", "500"),
            ("sysparm_offset", "0"),
        ],
    );
    assert_query(
        &calls[1],
        &[
            (
                "sysparm_query",
                "name=task^ORname=sn_si_incident^element=priority^language=en",
            ),
            ("sysparm_fields", "label,value,dependent_value,element"),
            ("sysparm_limit", "500"),
            ("sysparm_offset", "0"),
        ],
    );
    for r in &calls {
        assert_sn_basic(r);
    }
}

#[tokio::test]
async fn get_incident_reads_the_security_incident() {
    let server = loopback().await;
    let record = sn_record("SIR0010001", "10", "2026-11-20 09:30:00");
    mount_any(&server, json_reply(json!({ "result": record }))).await;
    let h = sn_harness(SIR, &server);
    let out = h
        .exec("getIncident", json!({ "externalId": SYS_ID }))
        .await
        .expect("incident");
    assert_eq!(out, record);
    let r = only_request(&server).await;
    assert_line(
        &r,
        "GET",
        &format!("/api/now/v2/table/sn_si_incident/{SYS_ID}"),
    );
    assert_sn_basic(&r);
}

#[tokio::test]
async fn push_to_service_writes_observables_comma_separated_and_work_notes() {
    let server = loopback().await;
    mount_sn_writes(&server, "sn_si_incident", "SIR0010001").await;
    let h = sn_harness(SIR, &server);
    let out = h
        .exec(
            "pushToService",
            json!({
                "incident": {
                    "short_description": "C2 beacon from web-01", "priority": "1",
                    "dest_ip": ["203.0.113.7", "203.0.113.8"], "source_ip": "10.0.0.5",
                    "malware_hash": ["44d88612fea8a8f36de82e1278abb02f"],
                    "malware_url": null, "category": "malware"
                },
                "comments": [{ "comment": "Beacon blocked at the proxy", "commentId": "c-1" }]
            }),
        )
        .await
        .expect("pushed");
    assert_eq!(
        out,
        json!({
            "id": SYS_ID, "title": "SIR0010001",
            "url": format!("{}/nav_to.do?uri=sn_si_incident.do?sys_id={SYS_ID}", server.uri()),
            "pushedDate": "2026-11-20T09:30:00Z",
            "comments": [{ "commentId": "c-1", "pushedDate": "2026-11-21T10:15:00Z" }]
        })
    );
    let calls = requests(&server).await;
    assert_eq!(
        lines(&calls),
        [
            "POST /api/now/v2/table/sn_si_incident".to_string(),
            format!("PATCH /api/now/v2/table/sn_si_incident/{SYS_ID}")
        ]
    );
    assert_eq!(
        json_body(&calls[0]),
        json!({
            "short_description": "C2 beacon from web-01", "priority": "1",
            "dest_ip": "203.0.113.7,203.0.113.8", "source_ip": "10.0.0.5",
            "malware_hash": "44d88612fea8a8f36de82e1278abb02f", "category": "malware",
            "caller_id": "elastic.svc", "opened_by": "elastic.svc"
        })
    );
    assert_eq!(
        json_body(&calls[1]),
        json!({ "work_notes": "Beacon blocked at the proxy" })
    );
}

#[tokio::test]
async fn close_incident_sets_sirs_closed_state() {
    let server = loopback().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/now/v2/table/sn_si_incident/{SYS_ID}")))
        .respond_with(json_reply(
            json!({ "result": sn_record("SIR0010001", "16", "2026-11-20 09:30:00") }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("/api/now/v2/table/sn_si_incident/{SYS_ID}")))
        .and(body_json(
            json!({ "state": "3", "close_notes": "Closed by Caller" }),
        ))
        .respond_with(json_reply(
            json!({ "result": sn_record("SIR0010001", "3", "2026-11-22 08:00:00") }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let h = sn_harness(SIR, &server);
    let out = h
        .exec(
            "closeIncident",
            json!({ "incident": { "externalId": SYS_ID } }),
        )
        .await
        .expect("closed");
    assert_eq!(out["title"], "SIR0010001");
    assert_eq!(out["pushedDate"], "2026-11-22T08:00:00Z");
    for r in &requests(&server).await {
        assert_sn_basic(r);
    }
}

#[tokio::test]
async fn a_missing_sir_plugin_is_a_user_error() {
    let server = loopback().await;
    // The table does not exist without the Security Incident Response plugin.
    mount_any(&server, sn_error(400, "Invalid table sn_si_incident")).await;
    let h = sn_harness(SIR, &server);
    let e = h.test().await.expect_err("400");
    assert_eq!((e.class, e.status), (ErrorClass::User, Some(400)));
    assert!(e.message.contains("Invalid table sn_si_incident"), "{e}");
}

#[tokio::test]
async fn close_incident_uses_the_configured_state_and_close_code() {
    let server = loopback().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/now/v2/table/sn_si_incident/{SYS_ID}")))
        .respond_with(json_reply(
            json!({ "result": sn_record("SIR0010001", "16", "2026-11-20 09:30:00") }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("/api/now/v2/table/sn_si_incident/{SYS_ID}")))
        .and(body_json(json!({
            "state": "110", "close_notes": "Closed by Caller", "close_code": "Resolved"
        })))
        .respond_with(json_reply(
            json!({ "result": sn_record("SIR0010001", "110", "2026-11-22 08:00:00") }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let h = Harness::new(
        load_spec(SIR),
        json!({ "apiUrl": server.uri(), "closedState": "110", "closeCode": "Resolved" }),
        json!({ "username": "elastic.svc", "password": CANARY }),
    );
    let out = h
        .exec(
            "closeIncident",
            json!({ "incident": { "externalId": SYS_ID } }),
        )
        .await
        .expect("closed");
    assert_eq!(out["pushedDate"], "2026-11-22T08:00:00Z");
}
