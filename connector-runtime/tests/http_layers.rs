//! The HTTP stack end to end against a loopback server: retries that cannot duplicate a write
//! (method, idempotency key, `retryNonIdempotent`) and the response body limit.

mod policy_support;

use connector_runtime::ErrorClass;
use policy_support::*;
use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn created() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({"id": 7}))
}

/// A server answering `/tickets` from `replies` (the last repeats).
async fn serve(replies: Vec<ResponseTemplate>) -> (MockServer, Script) {
    let server = MockServer::start().await;
    let script = Script::new(replies);
    Mock::given(path("/tickets"))
        .respond_with(script.clone())
        .mount(&server)
        .await;
    (server, script)
}

/// A spec whose `create` action sends `method` to `/tickets`, with `extra` request keys and
/// the retry policy `retry`.
fn ticket_spec(base: &str, method: &str, extra: &str, retry: &str) -> Harness {
    let rest = format!(
        "
        policies:
          retry: {retry}
        actions:
          create:
            description: Create a ticket.
            scope: write
            input:
              type: object
              properties:
                requestId: {{ type: string, maxLength: 64 }}
            request:
              method: {method}
              path: /tickets
              body: {{ json: {{ title: t }} }}
              {extra}
        "
    );
    Harness::new(base, &rest)
}

const SERVER_ERRORS: &str =
    "{ presets: [server_errors], maxRetries: 2, backoff: { initialDelayMs: 1, maxDelayMs: 2 } }";
const RATE_LIMIT: &str =
    "{ presets: [rate_limit], maxRetries: 2, backoff: { initialDelayMs: 1, maxDelayMs: 2 } }";

fn header_values(script: &Script, name: &str) -> Vec<Option<String>> {
    script
        .requests()
        .iter()
        .map(|r| {
            r.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        })
        .collect()
}

#[tokio::test]
async fn a_post_answered_500_under_server_errors_is_sent_exactly_once() {
    bounded(async {
        let (server, script) = serve(vec![ResponseTemplate::new(500), created()]).await;
        let h = ticket_spec(&server.uri(), "POST", "", SERVER_ERRORS);
        let r = h.run("create", json!({})).await;
        assert_error(&r, ErrorClass::Transient, "http_status");
        assert_eq!(r.unwrap_err().status, Some(500));
        assert_eq!(
            script.hits(),
            1,
            "the ticket may have been created: no retry"
        );
    })
    .await;
}

#[tokio::test]
async fn a_post_with_an_idempotency_key_is_retried_with_the_same_key_on_every_attempt() {
    bounded(async {
        let (server, script) = serve(vec![
            ResponseTemplate::new(500),
            ResponseTemplate::new(502),
            created(),
        ])
        .await;
        let key =
            "idempotencyKey: { header: Idempotency-Key, value: \"req-{{ input.requestId }}\" }";
        let h = ticket_spec(&server.uri(), "POST", key, SERVER_ERRORS);
        let r = h.run("create", json!({"requestId": "abc"})).await;
        assert_eq!(r, Ok(json!({"id": 7})));
        assert_eq!(script.hits(), 3);
        assert_eq!(
            header_values(&script, "idempotency-key"),
            vec![Some("req-abc".to_string()); 3]
        );
    })
    .await;
}

#[tokio::test]
async fn a_key_without_a_value_is_one_fresh_uuid_shared_by_the_attempts_of_a_call() {
    bounded(async {
        let (server, script) = serve(vec![ResponseTemplate::new(503), created()]).await;
        let key = "idempotencyKey: { header: Idempotency-Key }";
        let h = ticket_spec(&server.uri(), "POST", key, SERVER_ERRORS);
        assert_eq!(h.run("create", json!({})).await, Ok(json!({"id": 7})));
        assert_eq!(h.run("create", json!({})).await, Ok(json!({"id": 7})));
        let keys: Vec<String> = header_values(&script, "idempotency-key")
            .into_iter()
            .map(|k| k.expect("every attempt carries the key"))
            .collect();
        assert_eq!(keys.len(), 3, "{keys:?}");
        assert_eq!(keys[0], keys[1], "the retry reuses the key");
        assert_ne!(keys[1], keys[2], "the next call has its own key");
        assert_eq!(keys[0].len(), 36, "{}", keys[0]);
    })
    .await;
}

#[tokio::test]
async fn a_post_is_retried_on_429_and_on_503_with_retry_after() {
    bounded(async {
        for first in [
            ResponseTemplate::new(429),
            ResponseTemplate::new(503).insert_header("Retry-After", "0"),
        ] {
            let (server, script) = serve(vec![first, created()]).await;
            let h = ticket_spec(&server.uri(), "POST", "", RATE_LIMIT);
            assert_eq!(h.run("create", json!({})).await, Ok(json!({"id": 7})));
            assert_eq!(script.hits(), 2);
        }
        // A 503 without Retry-After may have been processed.
        let (server, script) = serve(vec![ResponseTemplate::new(503), created()]).await;
        let h = ticket_spec(&server.uri(), "PATCH", "", RATE_LIMIT);
        assert!(h.run("create", json!({})).await.is_err());
        assert_eq!(script.hits(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_put_answered_500_is_retried() {
    bounded(async {
        let (server, script) = serve(vec![ResponseTemplate::new(500), created()]).await;
        let h = ticket_spec(&server.uri(), "PUT", "", SERVER_ERRORS);
        assert_eq!(h.run("create", json!({})).await, Ok(json!({"id": 7})));
        assert_eq!(script.hits(), 2);
    })
    .await;
}

#[tokio::test]
async fn retry_non_idempotent_retries_a_post_like_a_get() {
    bounded(async {
        let (server, script) = serve(vec![ResponseTemplate::new(500), created()]).await;
        let retry = "{ presets: [server_errors], maxRetries: 2, retryNonIdempotent: true, backoff: { initialDelayMs: 1, maxDelayMs: 2 } }";
        let h = ticket_spec(&server.uri(), "POST", "", retry);
        assert_eq!(h.run("create", json!({})).await, Ok(json!({"id": 7})));
        assert_eq!(script.hits(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_connection_error_on_a_post_is_retried_only_with_a_key() {
    bounded(async {
        let (base, accepted) = raw_server(|mut sock| async move {
            let _ = read_head(&mut sock).await;
            drop(sock);
        })
        .await;
        let plain = ticket_spec(&base, "POST", "", SERVER_ERRORS);
        assert_error(
            &plain.run("create", json!({})).await,
            ErrorClass::Transient,
            "connection_failed",
        );
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
        let keyed = ticket_spec(
            &base,
            "POST",
            "idempotencyKey: { header: Idempotency-Key }",
            SERVER_ERRORS,
        );
        assert!(keyed.run("create", json!({})).await.is_err());
        assert_eq!(
            accepted.load(std::sync::atomic::Ordering::SeqCst),
            4,
            "one plain attempt, then three keyed ones"
        );
    })
    .await;
}

fn big_spec(base: &str, policy_limit: &str, action_limit: &str) -> Harness {
    let rest = format!(
        "
        policies:
          {policy_limit}
        actions:
          read:
            description: Read a big thing.
            scope: read
            {action_limit}
            request: {{ method: GET, path: /tickets }}
        "
    );
    Harness::new(base, &rest)
}

#[tokio::test]
async fn the_response_body_limit_is_settable_per_connector_and_per_action() {
    bounded(async {
        let body: Value = json!({ "data": "x".repeat(2000) });
        let (server, _) = serve(vec![ResponseTemplate::new(200).set_body_json(&body)]).await;
        let h = big_spec(&server.uri(), "maxResponseBytes: 1000", "");
        let r = h.run("read", json!({})).await;
        assert_error(&r, ErrorClass::System, "response_too_large");
        let e = r.unwrap_err();
        assert!(e.message.contains("limit of 1000 bytes"), "{e}");
        assert_eq!(e.status, Some(200));
        // The action's own limit wins over the connector's.
        let h = big_spec(
            &server.uri(),
            "maxResponseBytes: 1000",
            "maxResponseBytes: 100000",
        );
        assert_eq!(h.run("read", json!({})).await, Ok(body.clone()));
        let h = big_spec(
            &server.uri(),
            "timeouts: { totalMs: 5000 }",
            "maxResponseBytes: 10",
        );
        assert_error(
            &h.run("read", json!({})).await,
            ErrorClass::System,
            "response_too_large",
        );
    })
    .await;
}
