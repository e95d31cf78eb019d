//! `.tines`: stories and actions paged with `page`/`per_page`, webhooks run by path and
//! secret, `X-User-Email` / `X-User-Token` auth.

use super::*;

const EMAIL: &str = "soc@example.com";

fn tines(server: &MockServer) -> Harness {
    Harness::new(
        load_spec("tines.yaml"),
        json!({ "url": server.uri() }),
        json!({ "keyId": EMAIL, "apiKey": CANARY }),
    )
}

fn assert_tines_auth(r: &wiremock::Request) {
    assert_eq!(header(r, "x-user-email").as_deref(), Some(EMAIL));
    assert_eq!(header(r, "x-user-token").as_deref(), Some(CANARY));
}

fn meta(page: u32, pages: u32, count: u32) -> Value {
    json!({
        "current_page": format!("https://t.tines.com/api/v1/stories?page={page}&per_page=500"),
        "previous_page": null,
        "next_page": if page < pages { json!(format!("https://t.tines.com/api/v1/stories?page={}&per_page=500", page + 1)) } else { json!(null) },
        "next_page_number": if page < pages { json!(page + 1) } else { json!(null) },
        "per_page": 500, "pages": pages, "count": count
    })
}

fn story(id: u64) -> Value {
    json!({ "id": id, "name": format!("Story {id}"), "published": id.is_multiple_of(2),
            "team_id": 1, "guid": "abc", "disabled": false })
}

#[tokio::test]
async fn tines_stories_follow_pages() {
    let server = loopback().await;
    // 501 stories: the first page holds 500, the second one.
    let first: Vec<Value> = (1..=500).map(story).collect();
    Mock::given(method("GET"))
        .and(path("/api/v1/stories"))
        .and(query_param("page", "1"))
        .respond_with(json_reply(
            json!({ "stories": first, "meta": meta(1, 2, 501) }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/stories"))
        .and(query_param("page", "2"))
        .respond_with(json_reply(
            json!({ "stories": [story(501)], "meta": meta(2, 2, 501) }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let h = tines(&server);
    let out = h
        .exec_all("stories", json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let out = out.as_array().expect("an array");
    assert_eq!(out.len(), 501);
    assert_eq!(
        out[0],
        json!({ "id": 1, "name": "Story 1", "published": false })
    );
    assert_eq!(
        out[500],
        json!({ "id": 501, "name": "Story 501", "published": false })
    );
    let rs = requests(&server).await;
    assert_eq!(rs.len(), 2);
    for (i, r) in rs.iter().enumerate() {
        assert_line(r, "GET", "/api/v1/stories");
        assert_tines_auth(r);
        let page = (i + 1).to_string();
        assert_query(r, &[("per_page", "500"), ("page", page.as_str())]);
    }
}

#[tokio::test]
async fn tines_webhooks_of_a_story() {
    let server = loopback().await;
    mount_any(
        &server,
        json_reply(json!({
            "agents": [
                { "id": 7, "name": "Elastic alert", "type": "Agents::WebhookAgent", "story_id": 42,
                  "options": { "path": "e1a2b3", "secret": "f4c5d6", "verbs": "post" } },
                { "id": 8, "name": "Triage", "type": "Agents::EventTransformationAgent", "story_id": 42,
                  "options": { "mode": "message_only" } }
            ],
            "meta": meta(1, 1, 2)
        })),
    )
    .await;
    let out = tines(&server)
        .exec("webhooks", json!({ "storyId": 42 }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!([
            { "id": 7, "name": "Elastic alert", "type": "Agents::WebhookAgent", "storyId": 42,
              "path": "e1a2b3", "secret": "f4c5d6" },
            { "id": 8, "name": "Triage", "type": "Agents::EventTransformationAgent", "storyId": 42,
              "path": null, "secret": null }
        ])
    );
    let r = only_request(&server).await;
    assert_line(&r, "GET", "/api/v1/agents");
    assert_query(
        &r,
        &[("story_id", "42"), ("per_page", "500"), ("page", "1")],
    );
    assert_tines_auth(&r);
}

#[tokio::test]
async fn tines_webhook_posts_the_body_to_path_and_secret() {
    let server = loopback().await;
    mount_any(&server, json_reply(json!({ "status": "ok" }))).await;
    let body = json!({ "alertId": "a1b2c3", "severity": "high" });
    let out = tines(&server)
        .exec(
            "webhook",
            json!({ "webhook": { "path": "e1a2b3", "secret": "f4c5d6" }, "body": body.clone() }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!({ "status": "ok" }));
    let r = only_request(&server).await;
    assert_line(&r, "POST", "/webhook/e1a2b3/f4c5d6");
    assert_query(&r, &[]);
    assert_eq!(json_body(&r), body);
}

#[tokio::test]
async fn tines_connection_test_and_401() {
    let server = loopback().await;
    mount_any(
        &server,
        json_reply(json!({ "stories": [story(1)], "meta": meta(1, 1, 1) })),
    )
    .await;
    tines(&server)
        .test()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r = only_request(&server).await;
    assert_line(&r, "GET", "/api/v1/stories");
    assert_query(&r, &[("per_page", "1")]);
    assert_tines_auth(&r);

    let server = loopback().await;
    mount_any(
        &server,
        ResponseTemplate::new(401).set_body_json(json!({ "error": "Unauthorized" })),
    )
    .await;
    let e = tines(&server).test().await.expect_err("401");
    assert_eq!(e.class, ErrorClass::Auth);
}

#[tokio::test]
async fn tines_bearer_api_key_is_accepted_too() {
    let server = loopback().await;
    mount_any(
        &server,
        json_reply(json!({ "stories": [], "meta": meta(1, 1, 0) })),
    )
    .await;
    let h = Harness::new(
        load_spec("tines.yaml"),
        json!({ "url": server.uri(), "authType": "bearer" }),
        json!({ "token": CANARY }),
    );
    h.test().await.unwrap_or_else(|e| panic!("{e}"));
    let r = only_request(&server).await;
    assert_eq!(
        header(&r, "authorization"),
        Some(format!("Bearer {CANARY}"))
    );
    assert_eq!(header(&r, "x-user-token"), None);
}

#[tokio::test]
async fn tines_webhook_429_is_retried_after_the_wait() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_any(&server, json_reply(json!({ "status": "ok" }))).await;
    let out = tines(&server)
        .exec(
            "webhook",
            json!({ "webhook": { "path": "p", "secret": "s" }, "body": { "a": 1 } }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!({ "status": "ok" }));
    assert_eq!(requests(&server).await.len(), 2);
}
