//! `.index`: documents go to Elasticsearch's Bulk API as NDJSON.

use super::*;

fn es(server: &MockServer, config: Value) -> Harness {
    let mut c = json!({ "url": server.uri(), "index": "alerts-history", "authType": "basic" });
    if let (Value::Object(c), Value::Object(extra)) = (&mut c, config) {
        c.extend(extra);
    }
    Harness::new(
        load_spec("index.yaml"),
        c,
        json!({ "username": "elastic", "password": CANARY }),
    )
}

fn bulk_ok(n: usize) -> Value {
    let items: Vec<Value> = (0..n)
        .map(|i| {
            json!({ "index": {
                "_index": "alerts-history", "_id": format!("id-{i}"), "_version": 1,
                "result": "created", "_shards": {"total": 2, "successful": 1, "failed": 0},
                "_seq_no": i, "_primary_term": 1, "status": 201
            }})
        })
        .collect();
    json!({ "took": 30, "errors": false, "items": items })
}

/// The NDJSON lines of a bulk body, each parsed.
fn ndjson(r: &wiremock::Request) -> Vec<Value> {
    assert_eq!(
        header(r, "content-type").as_deref(),
        Some("application/x-ndjson")
    );
    let text = std::str::from_utf8(&r.body).expect("utf-8");
    assert!(text.ends_with('\n'), "the body ends with a newline");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON value per line"))
        .collect()
}

#[tokio::test]
async fn index_execute_sends_a_bulk_request() {
    let server = loopback().await;
    mount_any(&server, json_reply(bulk_ok(2))).await;
    let h = es(&server, json!({}));
    let out = h
        .exec(
            "execute",
            json!({ "documents": [{"message": "disk full", "host": "web-01"}, {"message": "ok"}] }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({ "took": 30, "errors": false, "items": [
            {"_index": "alerts-history", "_id": "id-0", "result": "created", "status": 201},
            {"_index": "alerts-history", "_id": "id-1", "result": "created", "status": 201}
        ]})
    );
    let r = only_request(&server).await;
    assert_line(&r, "POST", "/_bulk");
    assert_query(&r, &[("refresh", "false")]);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("elastic:{CANARY}"));
    assert_eq!(header(&r, "authorization"), Some(format!("Basic {basic}")));
    assert_eq!(
        ndjson(&r),
        vec![
            json!({"index": {"_index": "alerts-history"}}),
            json!({"message": "disk full", "host": "web-01"}),
            json!({"index": {"_index": "alerts-history"}}),
            json!({"message": "ok"}),
        ]
    );
}

#[tokio::test]
async fn index_refresh_override_and_execution_time_field() {
    let server = loopback().await;
    mount_any(&server, json_reply(bulk_ok(1))).await;
    let h = es(
        &server,
        json!({ "refresh": true, "executionTimeField": "@timestamp" }),
    );
    let before = std::time::SystemTime::now();
    h.exec(
        "execute",
        json!({ "documents": [{"message": "m"}], "indexOverride": "other-index" }),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let r = only_request(&server).await;
    assert_query(&r, &[("refresh", "true")]);
    let lines = ndjson(&r);
    assert_eq!(lines[0], json!({"index": {"_index": "other-index"}}));
    assert_eq!(lines[1]["message"], json!("m"));
    let stamp = lines[1]["@timestamp"].as_str().expect("a timestamp");
    // YYYY-MM-DDTHH:MM:SS.mmmZ, and not before the call started (same second at least).
    assert_eq!(stamp.len(), 24, "{stamp}");
    assert!(stamp.ends_with('Z'), "{stamp}");
    let year: i32 = stamp[..4].parse().expect("year");
    let secs = before
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    assert!(year >= 1970 + (secs / 31_557_600) as i32, "{stamp}");
}

#[tokio::test]
async fn index_bulk_item_failure_is_a_user_error() {
    let server = loopback().await;
    mount_any(
        &server,
        json_reply(json!({
            "took": 4, "errors": true,
            "items": [
                {"index": {"_index": "alerts-history", "_id": "a", "status": 201, "result": "created"}},
                {"index": {"_index": "alerts-history", "_id": "b", "status": 400, "error": {
                    "type": "document_parsing_exception",
                    "reason": "[1:12] failed to parse field [count] of type [long]"
                }}}
            ]
        })),
    )
    .await;
    let e = es(&server, json!({}))
        .exec(
            "execute",
            json!({ "documents": [{"count": 1}, {"count": "x"}] }),
        )
        .await
        .expect_err("an item failed");
    assert_eq!(e.class, ErrorClass::User);
    assert_eq!(e.code, "bulk_failed");
    assert!(e.message.contains("document_parsing_exception"), "{e}");
}

#[tokio::test]
async fn index_missing_index_is_a_user_error() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(404).set_body_json(json!({
            "error": {"root_cause": [{"type": "index_not_found_exception", "reason": "no such index [x]"}],
                      "type": "index_not_found_exception", "reason": "no such index [x]"},
            "status": 404
        })),
    )
    .await;
    let e = es(&server, json!({}))
        .exec("execute", json!({ "documents": [{"a": 1}] }))
        .await
        .expect_err("404");
    assert_eq!(e.class, ErrorClass::User);
    assert_eq!(e.status, Some(404));
}

#[tokio::test]
async fn index_connection_test_gets_the_cluster_and_401_is_auth() {
    let server = loopback().await;
    let info = json!({
        "name": "node-1", "cluster_name": "elasticsearch", "cluster_uuid": "abc",
        "version": {"number": "9.1.0"}, "tagline": "You Know, for Search"
    });
    mount_any(&server, json_reply(info.clone())).await;
    assert_eq!(
        es(&server, json!({}))
            .test()
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        info
    );
    let r = only_request(&server).await;
    assert_line(&r, "GET", "/");

    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(401).set_body_json(json!({
            "error": {"type": "security_exception", "reason": "unable to authenticate user [elastic]"},
            "status": 401
        })),
    )
    .await;
    let e = es(&server, json!({})).test().await.expect_err("401");
    assert_eq!(e.class, ErrorClass::Auth);
}

#[tokio::test]
async fn index_without_auth_sends_no_authorization() {
    let server = loopback().await;
    mount_any(&server, json_reply(bulk_ok(1))).await;
    let h = Harness::new(
        load_spec("index.yaml"),
        json!({ "url": server.uri(), "index": "alerts-history" }),
        json!({}),
    );
    h.exec("execute", json!({ "documents": [{"a": 1}] }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r = only_request(&server).await;
    assert_line(&r, "POST", "/_bulk");
    assert_eq!(header(&r, "authorization"), None);
}

#[tokio::test]
async fn index_api_key_is_sent_with_the_apikey_scheme() {
    let server = loopback().await;
    mount_any(&server, json_reply(bulk_ok(1))).await;
    let h = Harness::new(
        load_spec("index.yaml"),
        json!({ "url": server.uri(), "index": "alerts-history", "authType": "api_key_header" }),
        json!({ "apiKey": CANARY }),
    );
    h.exec("execute", json!({ "documents": [{"a": 1}] }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r = only_request(&server).await;
    assert_eq!(
        header(&r, "authorization"),
        Some(format!("ApiKey {CANARY}"))
    );
}
