//! `.xsoar`: XSOAR 6 (`Authorization: <key>`) and XSOAR 8 (`x-xdr-auth-id` plus the key,
//! under `/xsoar/public/v1`).

use super::*;

fn xsoar6(server: &MockServer) -> Harness {
    Harness::new(
        load_spec("xsoar.yaml"),
        json!({ "url": server.uri() }),
        json!({ "apiKey": CANARY }),
    )
}

fn xsoar8(server: &MockServer) -> Harness {
    Harness::new(
        load_spec("xsoar.yaml"),
        json!({ "url": server.uri(), "authType": "api_key_pair" }),
        json!({ "keyId": "17", "apiKey": CANARY }),
    )
}

fn incident_reply() -> Value {
    json!({
        "id": "4711", "version": 1, "name": "Malware on web-01", "type": "Malware",
        "severity": 3, "status": 0, "playbookId": "playbook0",
        "created": "2024-04-12T09:00:00.123456789Z", "modified": "2024-04-12T09:00:00.223456789Z",
        "labels": [{ "type": "source", "value": "Elastic" }]
    })
}

#[tokio::test]
async fn xsoar6_push_to_service_posts_the_incident() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(201).set_body_json(incident_reply()),
    )
    .await;
    let input = json!({
        "name": "Malware on web-01", "type": "Malware", "severity": 3,
        "details": "EICAR test file", "playbookId": "playbook0", "createInvestigation": true,
        "labels": [{ "type": "source", "value": "Elastic" }],
        "customFields": { "alertid": "a1b2c3" }
    });
    let out = xsoar6(&server)
        .exec("pushToService", input.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({
            "id": "4711", "title": "Malware on web-01", "version": 1,
            "pushedDate": "2024-04-12T09:00:00.223456789Z"
        })
    );
    let r = only_request(&server).await;
    assert_line(&r, "POST", "/incident");
    assert_query(&r, &[]);
    assert_eq!(header(&r, "authorization").as_deref(), Some(CANARY));
    assert_eq!(header(&r, "x-xdr-auth-id"), None);
    assert_eq!(json_body(&r), input);
}

#[tokio::test]
async fn xsoar8_uses_the_key_id_and_the_public_api_prefix() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(201).set_body_json(incident_reply()),
    )
    .await;
    xsoar8(&server)
        .exec(
            "pushToService",
            json!({ "name": "Malware on web-01", "severity": 0.5 }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r = only_request(&server).await;
    assert_line(&r, "POST", "/xsoar/public/v1/incident");
    assert_eq!(header(&r, "authorization").as_deref(), Some(CANARY));
    assert_eq!(header(&r, "x-xdr-auth-id").as_deref(), Some("17"));
    assert_eq!(
        json_body(&r),
        json!({ "name": "Malware on web-01", "severity": 0.5 })
    );
}

#[tokio::test]
async fn xsoar_get_playbooks_and_test() {
    let server = loopback().await;
    let playbooks = json!([
        { "id": "playbook0", "name": "Phishing Investigation - Generic v2", "version": 12 },
        { "id": "8db0105c-f674-4d83-8095-f95a9f61e77a", "name": "Malware Investigation", "version": 3 }
    ]);
    mount_any(
        &server,
        json_reply(json!({ "playbooks": playbooks.clone(), "total": 2, "tags": [] })),
    )
    .await;
    let h = xsoar8(&server);
    let out = h
        .exec("getPlaybooks", json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, playbooks);
    assert_eq!(
        h.test().await.unwrap_or_else(|e| panic!("{e}")),
        json!({ "total": 2 })
    );
    assert_eq!(
        h.exec("test", json!({}))
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        json!({ "total": 2 })
    );
    let rs = requests(&server).await;
    assert_eq!(rs.len(), 3);
    for r in &rs {
        assert_line(r, "POST", "/xsoar/public/v1/playbook/search");
        assert_eq!(header(r, "x-xdr-auth-id").as_deref(), Some("17"));
        assert_eq!(json_body(r), json!({}));
    }
}

#[tokio::test]
async fn xsoar_403_is_auth_and_400_is_user() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(403).set_body_json(json!({
            "id": "forbidden", "status": 403, "title": "Forbidden",
            "detail": "Issue with CSRF code", "error": "http: named cookie not present",
            "encrypted": false, "multires": null
        })),
    )
    .await;
    let e = xsoar6(&server).test().await.expect_err("403");
    assert_eq!(e.class, ErrorClass::Auth);
    assert_eq!(e.status, Some(403));

    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(400).set_body_json(json!({
            "id": "bad_request", "status": 400, "title": "Bad request",
            "detail": "Request body is not well-formed. It must be JSON.", "error": "invalid character"
        })),
    )
    .await;
    let e = xsoar6(&server)
        .exec("pushToService", json!({ "name": "n" }))
        .await
        .expect_err("400");
    assert_eq!(e.class, ErrorClass::User);
}
