//! `.d3security`: events go to the ingestion URL with the `d3key` header, wrapped as D3's
//! Kibana integration reads them.

use super::*;

const D3_PATH: &str = "/tenant/VSOC/api/Data/Kibana/Security%20Operations/CreateEvents";

fn d3(server: &MockServer) -> Harness {
    Harness::new(
        load_spec("d3security.yaml"),
        json!({ "url": format!("{}{D3_PATH}", server.uri()) }),
        json!({ "apiKey": CANARY }),
    )
}

fn assert_d3_request(r: &wiremock::Request) {
    assert_line(r, "POST", D3_PATH);
    assert_query(r, &[]);
    assert_eq!(header(r, "d3key").as_deref(), Some(CANARY));
    assert_eq!(header(r, "accept").as_deref(), Some("application/json"));
}

#[tokio::test]
async fn d3_run_query_wraps_the_event_as_a_hit() {
    let server = loopback().await;
    mount_any(&server, json_reply(json!({ "refid": "EVT-20260412-0001" }))).await;
    let h = d3(&server);
    let out = h
        .exec(
            "runQuery",
            json!({
                "body": { "alertId": "a1b2c3", "host": "web-01" },
                "eventType": "Security Alert",
                "severity": "high"
            }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!({ "refid": "EVT-20260412-0001" }));
    let r = only_request(&server).await;
    assert_d3_request(&r);
    assert_eq!(
        json_body(&r),
        json!({ "hits": { "hits": { "_source": {
            "rawData": { "alertId": "a1b2c3", "host": "web-01" },
            "event.type": "Security Alert",
            "kibana.alert.severity": "high"
        }}}})
    );
}

#[tokio::test]
async fn d3_test_action_sends_text_and_empty_defaults() {
    let server = loopback().await;
    mount_any(&server, json_reply(json!({ "refid": "EVT-2" }))).await;
    let h = d3(&server);
    let out = h
        .exec("test", json!({ "body": "plain text event" }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!({ "refid": "EVT-2" }));
    let r = only_request(&server).await;
    assert_d3_request(&r);
    assert_eq!(
        json_body(&r),
        json!({ "hits": { "hits": { "_source": {
            "rawData": "plain text event",
            "event.type": "",
            "kibana.alert.severity": ""
        }}}})
    );
}

#[tokio::test]
async fn d3_connection_test_runs_the_test_action() {
    let server = loopback().await;
    mount_any(&server, json_reply(json!({ "refid": "EVT-3" }))).await;
    let h = d3(&server);
    let out = h.test().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!({ "refid": "EVT-3" }));
    let r = only_request(&server).await;
    assert_d3_request(&r);
    assert_eq!(
        json_body(&r)["hits"]["hits"]["_source"]["event.type"],
        json!("connector test")
    );
}

#[tokio::test]
async fn d3_reply_without_refid_is_a_system_error() {
    let server = loopback().await;
    mount_any(&server, json_reply(json!({ "status": "ok" }))).await;
    let e = d3(&server)
        .exec("runQuery", json!({ "body": {"a": 1} }))
        .await
        .expect_err("no refid");
    assert_eq!(e.class, ErrorClass::System);
}

#[tokio::test]
async fn d3_401_is_auth_without_the_key() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(401).set_body_string(format!("Invalid d3key {CANARY}")),
    )
    .await;
    let e = d3(&server)
        .exec("runQuery", json!({ "body": {"a": 1} }))
        .await
        .expect_err("401");
    assert_eq!(e.class, ErrorClass::Auth);
    assert_eq!(e.status, Some(401));
}
