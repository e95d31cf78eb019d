//! `.servicenow-itom` (Event Management): events to /api/global/em/jsonv2, and the choices of
//! event fields.

use super::servicenow::{assert_sn_basic, sn_error, sn_harness};
use super::*;

const ITOM: &str = "servicenow_itom.yaml";

#[tokio::test]
async fn add_event_posts_one_record() {
    let server = loopback().await;
    mount_any(
        &server,
        json_reply(json!({ "result": { "Default Bulk Endpoint": "1 events were inserted" } })),
    )
    .await;
    let h = sn_harness(ITOM, &server);
    let event = json!({
        "source": "Elastic", "event_class": "Kibana default space", "resource": "C:",
        "node": "web-01.example.com", "metric_name": "Disk free", "type": "Disk",
        "severity": "2", "description": "Disk C: below 5%",
        "additional_info": "{\"alert_id\":\"a-1\"}", "message_key": "rule-1:web-01",
        "time_of_event": "2026-11-20 09:30:00"
    });
    let out = h.exec("addEvent", event.clone()).await.expect("sent");
    assert_eq!(
        out,
        json!({ "Default Bulk Endpoint": "1 events were inserted" })
    );
    let r = only_request(&server).await;
    assert_line(&r, "POST", "/api/global/em/jsonv2");
    assert_query(&r, &[]);
    assert_sn_basic(&r);
    assert_eq!(json_body(&r), json!({ "records": [event] }));
}

#[tokio::test]
async fn add_event_sends_only_the_fields_set() {
    let server = loopback().await;
    mount_any(
        &server,
        json_reply(json!({ "result": { "Default Bulk Endpoint": "1 events were inserted" } })),
    )
    .await;
    let h = sn_harness(ITOM, &server);
    h.exec("addEvent", json!({ "source": "Elastic", "severity": "0" }))
        .await
        .expect("sent");
    let r = only_request(&server).await;
    assert_eq!(
        json_body(&r),
        json!({ "records": [{ "source": "Elastic", "severity": "0" }] })
    );
    // Severity is one of ServiceNow's six values.
    let e = h
        .exec("addEvent", json!({ "severity": "critical" }))
        .await
        .expect_err("enum");
    assert_eq!(e.class, ErrorClass::User, "{e}");
}

#[tokio::test]
async fn get_choices_reads_em_event_choices_and_is_the_connection_test() {
    let server = loopback().await;
    let choices = json!([
        { "label": "Critical", "value": "1", "dependent_value": "", "element": "severity" },
        { "label": "Clear", "value": "0", "dependent_value": "", "element": "severity" }
    ]);
    mount_any(&server, json_reply(json!({ "result": choices }))).await;
    let h = sn_harness(ITOM, &server);
    let out = h
        .exec("getChoices", json!({ "fields": ["severity"] }))
        .await
        .expect("choices");
    assert_eq!(out, choices);
    h.test().await.expect("test passes");
    let calls = requests(&server).await;
    assert_eq!(calls.len(), 2);
    for r in &calls {
        assert_line(r, "GET", "/api/now/table/sys_choice");
        assert_query(
            r,
            &[
                (
                    "sysparm_query",
                    "name=task^ORname=em_event^element=severity^language=en",
                ),
                ("sysparm_fields", "label,value,dependent_value,element"),
                ("sysparm_limit", "500"),
                ("sysparm_offset", "0"),
            ],
        );
        assert_sn_basic(r);
    }
}

#[tokio::test]
async fn event_management_errors_are_classified() {
    let server = loopback().await;
    mount_any(&server, sn_error(403, "User Not Authorized")).await;
    let h = sn_harness(ITOM, &server);
    let e = h
        .exec("addEvent", json!({ "source": "Elastic" }))
        .await
        .expect_err("403");
    assert_eq!((e.class, e.status), (ErrorClass::Auth, Some(403)));
    assert!(e.message.contains("User Not Authorized"), "{e}");
}
