//! `.sentinelone`: management API v2.1 with `Authorization: ApiToken <token>`, cursor paging.

use super::*;

fn s1(server: &MockServer) -> Harness {
    Harness::new(
        load_spec("sentinelone.yaml"),
        json!({ "url": server.uri() }),
        json!({ "apiKey": CANARY }),
    )
}

const API: &str = "/web/api/v2.1";

fn assert_s1_headers(r: &wiremock::Request) {
    assert_eq!(
        header(r, "authorization"),
        Some(format!("ApiToken {CANARY}"))
    );
    assert_eq!(header(r, "accept").as_deref(), Some("application/json"));
}

fn agent(id: &str, status: &str) -> Value {
    json!({
        "id": id, "uuid": format!("uuid-{id}"), "computerName": format!("host-{id}"),
        "networkStatus": status, "osType": "windows", "isActive": true,
        "lastActiveDate": "2024-04-12T09:00:00.000000Z"
    })
}

#[tokio::test]
async fn s1_get_agents_follows_next_cursor() {
    let server = loopback().await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/agents")))
        .and(query_param_is_missing("cursor"))
        .respond_with(json_reply(json!({
            "data": [agent("101", "connected"), agent("102", "connected")],
            "pagination": { "nextCursor": "YWdlbnRfaWQ6MTAy", "totalItems": 3 }
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/agents")))
        .and(query_param("cursor", "YWdlbnRfaWQ6MTAy"))
        .respond_with(json_reply(json!({
            "data": [agent("103", "disconnected")],
            "pagination": { "nextCursor": null, "totalItems": 3 }
        })))
        .expect(1)
        .mount(&server)
        .await;
    let h = s1(&server);
    let out = h
        .exec_all(
            "getAgents",
            json!({ "computerName": "host-1", "networkStatuses": ["connected", "disconnected"] }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!([
            agent("101", "connected"),
            agent("102", "connected"),
            agent("103", "disconnected")
        ])
    );
    let rs = requests(&server).await;
    assert_eq!(rs.len(), 2);
    for r in &rs {
        assert_line(r, "GET", &format!("{API}/agents"));
        assert_s1_headers(r);
    }
    assert_query(
        &rs[0],
        &[
            ("computerName", "host-1"),
            ("networkStatuses", "connected,disconnected"),
            ("limit", "100"),
        ],
    );
    assert_query(
        &rs[1],
        &[
            ("computerName", "host-1"),
            ("networkStatuses", "connected,disconnected"),
            ("limit", "100"),
            ("cursor", "YWdlbnRfaWQ6MTAy"),
        ],
    );
}

#[tokio::test]
async fn s1_get_agents_by_ids() {
    let server = loopback().await;
    mount_any(
        &server,
        json_reply(
            json!({ "data": [agent("101", "connected")], "pagination": { "nextCursor": null } }),
        ),
    )
    .await;
    let out = s1(&server)
        .exec(
            "getAgents",
            json!({ "ids": ["101", "102"], "uuids": ["u-1"] }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!([agent("101", "connected")]));
    let r = only_request(&server).await;
    assert_query(
        &r,
        &[("ids", "101,102"), ("uuids", "u-1"), ("limit", "100")],
    );
}

#[tokio::test]
async fn s1_isolate_and_release_post_the_filter() {
    for (action, suffix) in [("isolateHost", "disconnect"), ("releaseHost", "connect")] {
        let server = loopback().await;
        mount_any(&server, json_reply(json!({ "data": { "affected": 1 } }))).await;
        let out = s1(&server)
            .exec(action, json!({ "ids": ["101"] }))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, json!({ "affected": 1 }));
        let r = only_request(&server).await;
        assert_line(&r, "POST", &format!("{API}/agents/actions/{suffix}"));
        assert_query(&r, &[]);
        assert_s1_headers(&r);
        assert_eq!(json_body(&r), json!({ "filter": { "ids": ["101"] } }));
    }
}

#[tokio::test]
async fn s1_get_remote_scripts() {
    let server = loopback().await;
    let script = json!({
        "id": "1466645476786791838", "scriptName": "Get Process List", "scriptType": "dataCollection",
        "osTypes": ["windows"], "inputRequired": false, "scriptDescription": null
    });
    mount_any(
        &server,
        json_reply(json!({ "data": [script.clone()], "pagination": { "nextCursor": null, "totalItems": 1 } })),
    )
    .await;
    let out = s1(&server)
        .exec(
            "getRemoteScripts",
            json!({ "query": "process", "osTypes": ["windows", "linux"], "scriptType": "dataCollection" }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!([script]));
    let r = only_request(&server).await;
    assert_line(&r, "GET", &format!("{API}/remote-scripts"));
    assert_s1_headers(&r);
    assert_query(
        &r,
        &[
            ("query", "process"),
            ("osTypes", "windows,linux"),
            ("scriptType", "dataCollection"),
            ("limit", "100"),
        ],
    );
}

#[tokio::test]
async fn s1_execute_script_sends_output_to_sentinel_cloud() {
    let server = loopback().await;
    mount_any(
        &server,
        json_reply(json!({ "data": {
            "pendingExecutionId": null, "affected": 1, "parentTaskId": "1844311234567890123", "pending": false
        }})),
    )
    .await;
    let out = s1(&server)
        .exec(
            "executeScript",
            json!({
                "ids": ["101"], "scriptId": "1466645476786791838",
                "taskDescription": "Elastic: process list", "inputParams": "-all"
            }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({ "parentTaskId": "1844311234567890123", "affected": 1, "pending": false })
    );
    let r = only_request(&server).await;
    assert_line(&r, "POST", &format!("{API}/remote-scripts/execute"));
    assert_s1_headers(&r);
    assert_eq!(
        json_body(&r),
        json!({
            "filter": { "ids": ["101"] },
            "data": {
                "outputDestination": "SentinelCloud",
                "scriptId": "1466645476786791838",
                "taskDescription": "Elastic: process list",
                "inputParams": "-all",
                "scriptRuntimeTimeoutSeconds": 3600
            }
        })
    );
}

#[tokio::test]
async fn s1_get_remote_script_status() {
    let server = loopback().await;
    let task = json!({
        "id": "1844311234567890999", "agentId": "101", "status": "completed",
        "detailedStatus": "Completed", "parentTaskId": "1844311234567890123"
    });
    mount_any(
        &server,
        json_reply(json!({ "data": [task.clone()], "pagination": { "nextCursor": null } })),
    )
    .await;
    let out = s1(&server)
        .exec(
            "getRemoteScriptStatus",
            json!({ "parentTaskId": "1844311234567890123" }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!([task]));
    let r = only_request(&server).await;
    assert_line(&r, "GET", &format!("{API}/remote-scripts/status"));
    assert_query(
        &r,
        &[("parent_task_id", "1844311234567890123"), ("limit", "100")],
    );
}

#[tokio::test]
async fn s1_get_remote_script_results() {
    let server = loopback().await;
    let data = json!({
        "download_links": [{
            "downloadUrl": "https://s1-cloud.example/tasks/1844311234567890999.zip?sig=abc",
            "fileName": "host-101_output.zip", "taskId": "1844311234567890999"
        }],
        "errors": []
    });
    mount_any(&server, json_reply(json!({ "data": data.clone() }))).await;
    let out = s1(&server)
        .exec(
            "getRemoteScriptResults",
            json!({ "taskIds": ["1844311234567890999"] }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, data);
    let r = only_request(&server).await;
    assert_line(&r, "POST", &format!("{API}/remote-scripts/fetch-files"));
    assert_eq!(
        json_body(&r),
        json!({ "data": { "taskIds": ["1844311234567890999"] } })
    );
}

#[tokio::test]
async fn s1_fetch_agent_files() {
    let server = loopback().await;
    mount_any(&server, json_reply(json!({ "data": { "success": true } }))).await;
    let out = s1(&server)
        .exec(
            "fetchAgentFiles",
            json!({ "agentId": "101", "files": ["C:\\Windows\\Temp\\a.log"], "zipPassCode": "Elastic-1234" }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!({ "success": true }));
    let r = only_request(&server).await;
    assert_line(&r, "POST", &format!("{API}/agents/101/actions/fetch-files"));
    assert_s1_headers(&r);
    assert_eq!(
        json_body(&r),
        json!({ "data": { "password": "Elastic-1234", "files": ["C:\\Windows\\Temp\\a.log"] } })
    );
}

#[tokio::test]
async fn s1_download_agent_file_returns_base64() {
    let server = loopback().await;
    let zip: &[u8] = b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe";
    mount_any(
        &server,
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/zip")
            .insert_header(
                "content-disposition",
                "attachment; filename=\"fetch-101.zip\"",
            )
            .set_body_bytes(zip),
    )
    .await;
    let out = s1(&server)
        .exec(
            "downloadAgentFile",
            json!({ "agentId": "101", "activityId": "1845000000000000001" }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({
            "fileName": "fetch-101.zip",
            "contentType": "application/zip",
            "size": zip.len(),
            "contentBase64": base64::engine::general_purpose::STANDARD.encode(zip)
        })
    );
    let r = only_request(&server).await;
    assert_line(
        &r,
        "GET",
        &format!("{API}/agents/101/uploads/1845000000000000001"),
    );
    assert_s1_headers(&r);
}

#[tokio::test]
async fn s1_get_activities() {
    let server = loopback().await;
    let activity = json!({
        "id": "1845000000000000001", "activityType": 86, "agentId": "101",
        "createdAt": "2024-04-12T09:05:00.000000Z",
        "primaryDescription": "Agent host-101 uploaded files", "data": { "fileName": "fetch-101.zip" }
    });
    mount_any(
        &server,
        json_reply(json!({ "data": [activity.clone()], "pagination": { "nextCursor": null } })),
    )
    .await;
    let out = s1(&server)
        .exec(
            "getActivities",
            json!({ "agentIds": ["101"], "activityTypes": [86], "createdAtGte": "2024-04-12T09:00:00Z" }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!([activity]));
    let r = only_request(&server).await;
    assert_line(&r, "GET", &format!("{API}/activities"));
    assert_query(
        &r,
        &[
            ("agentIds", "101"),
            ("activityTypes", "86"),
            ("createdAt__gte", "2024-04-12T09:00:00Z"),
            ("sortBy", "createdAt"),
            ("sortOrder", "desc"),
            ("limit", "100"),
        ],
    );
}

#[tokio::test]
async fn s1_connection_test_and_401() {
    let server = loopback().await;
    mount_any(
        &server,
        json_reply(
            json!({ "data": [agent("101", "connected")], "pagination": { "nextCursor": "x" } }),
        ),
    )
    .await;
    s1(&server).test().await.unwrap_or_else(|e| panic!("{e}"));
    let r = only_request(&server).await;
    assert_line(&r, "GET", &format!("{API}/agents"));
    assert_query(&r, &[("limit", "1")]);
    assert_s1_headers(&r);

    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(401).set_body_json(json!({
            "errors": [{ "code": 4010010, "detail": null, "title": "Authentication Failed" }]
        })),
    )
    .await;
    let e = s1(&server).test().await.expect_err("401");
    assert_eq!(e.class, ErrorClass::Auth);
    assert_eq!(e.status, Some(401));
}

#[tokio::test]
async fn s1_validation_error_is_user() {
    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(400).set_body_json(json!({
            "errors": [{ "code": 4000010, "detail": "scriptId: Not a valid id", "title": "Validation Error" }]
        })),
    )
    .await;
    let e = s1(&server)
        .exec(
            "executeScript",
            json!({ "ids": ["101"], "scriptId": "1", "taskDescription": "t" }),
        )
        .await
        .expect_err("400");
    assert_eq!(e.class, ErrorClass::User);
}
