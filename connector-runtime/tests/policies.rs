//! Wire-level tests of the spec policies against loopback servers: retry (presets, limits,
//! `Retry-After`, caps, jitter, connection errors), rate limiting (header, status code,
//! response body), pagination (cursor, offset, page, link header, caps), streaming (SSE,
//! NDJSON, chunked, drop and cancellation), timeouts and error classification.

mod policy_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use connector_runtime::{ErrorClass, StreamEvent};
use futures::StreamExt;
use policy_support::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": true}))
}

fn get_action() -> &'static str {
    "
    actions:
      get:
        description: Read a thing.
        scope: read
        request:
          method: GET
          path: /thing
    "
}

/// A spec with a retry policy and one GET action `get` on `/thing`.
fn retry_spec(base: &str, retry: &str) -> Harness {
    let rest = format!("policies:\n  retry: {retry}\n{}", dedent(get_action()));
    Harness::new(base, &rest)
}

// ---------------------------------------------------------------------------------------------
// Retry
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_preset_retries_its_codes_and_nothing_else() {
    bounded(async {
        let cases: &[(&str, &[u16], u16)] = &[
            ("rate_limit", &[429, 503], 500),
            ("server_errors", &[500, 502, 503, 504], 429),
            ("gateway", &[502, 503, 504], 500),
            ("timeout_rate_limit", &[408, 429, 503], 502),
        ];
        for (preset, codes, outside) in cases {
            for code in codes.iter().copied().chain([*outside]) {
                let server = MockServer::start().await;
                let retried = code != *outside;
                // A retried code is tried 3 times (maxRetries 2), then the next reply is ok;
                // a code outside the preset is tried once.
                Mock::given(method("GET"))
                    .and(path("/thing"))
                    .respond_with(ResponseTemplate::new(code))
                    .up_to_n_times(if retried { 2 } else { 1 })
                    .expect(if retried { 2 } else { 1 })
                    .mount(&server)
                    .await;
                Mock::given(method("GET"))
                    .and(path("/thing"))
                    .respond_with(ok())
                    .expect(if retried { 1 } else { 0 })
                    .mount(&server)
                    .await;
                let h = retry_spec(
                    &server.uri(),
                    &format!(
                        "{{ presets: [{preset}], maxRetries: 2, backoff: {{ initialDelayMs: 1, jitter: false }} }}"
                    ),
                );
                let r = h.run("get", json!({})).await;
                if retried {
                    assert_eq!(r, Ok(json!({"ok": true})), "{preset}: {code} is retried");
                } else {
                    let e = r.expect_err("not retried, so the error comes back");
                    assert_eq!(e.status, Some(code), "{preset}: {code} is not retried");
                }
                server.verify().await;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn max_retries_means_exactly_n_plus_one_attempts() {
    bounded(async {
        for n in [0u32, 1, 4] {
            let server = MockServer::start().await;
            Mock::given(method("GET"))
                .and(path("/thing"))
                .respond_with(ResponseTemplate::new(503))
                .expect(u64::from(n) + 1)
                .mount(&server)
                .await;
            let h = retry_spec(
                &server.uri(),
                &format!(
                    "{{ statusCodes: [503], maxRetries: {n}, backoff: {{ initialDelayMs: 1 }} }}"
                ),
            );
            let r = h.run("get", json!({})).await;
            assert_error(&r, ErrorClass::Transient, "http_status");
            assert_eq!(r.unwrap_err().status, Some(503));
            server.verify().await;
        }
    })
    .await;
}

#[tokio::test]
async fn retry_after_in_seconds_is_honoured() {
    bounded(async {
        let server = MockServer::start().await;
        let script = Script::new(vec![
            ResponseTemplate::new(429).insert_header("Retry-After", "1"),
            ok(),
        ]);
        Mock::given(path("/thing"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        // The backoff alone would wait 1 ms: the server's 1 s wins.
        let h = retry_spec(
            &server.uri(),
            "{ presets: [rate_limit], maxRetries: 2, backoff: { initialDelayMs: 1, jitter: false } }",
        );
        assert_eq!(h.run("get", json!({})).await, Ok(json!({"ok": true})));
        assert_eq!(script.hits(), 2);
        let gap = script.gaps()[0];
        assert!(gap >= Duration::from_millis(900), "waited only {gap:?}");
        assert!(gap < Duration::from_secs(5), "waited {gap:?}");
    })
    .await;
}

#[tokio::test]
async fn retry_after_as_http_date_is_honoured() {
    bounded(async {
        let server = MockServer::start().await;
        // HTTP dates have whole seconds: two seconds ahead is at least one second away.
        let at = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
        let script = Script::new(vec![
            ResponseTemplate::new(503).insert_header("Retry-After", at.as_str()),
            ok(),
        ]);
        Mock::given(path("/thing"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        let h = retry_spec(
            &server.uri(),
            "{ presets: [gateway], maxRetries: 1, backoff: { initialDelayMs: 1, jitter: false } }",
        );
        assert_eq!(h.run("get", json!({})).await, Ok(json!({"ok": true})));
        let gap = script.gaps()[0];
        assert!(gap >= Duration::from_millis(900), "waited only {gap:?}");
        assert!(gap < Duration::from_secs(5), "waited {gap:?}");
    })
    .await;
}

/// A wait the server asks for that is longer than `maxWaitMs` is never cut short: the call
/// fails with `rate_limited` naming the wait, and no retry goes out early.
#[tokio::test]
async fn a_retry_after_beyond_max_wait_fails_instead_of_retrying_early() {
    bounded(async {
        for (retry_after, max_wait, named) in [("3600", 50, "3600 s"), ("1", 300, "1 s")] {
            let server = MockServer::start().await;
            let script = Script::new(vec![
                ResponseTemplate::new(429).insert_header("Retry-After", retry_after),
                ok(),
            ]);
            Mock::given(path("/thing"))
                .respond_with(script.clone())
                .mount(&server)
                .await;
            let h = retry_spec(
                &server.uri(),
                &format!(
                    "{{ presets: [rate_limit], maxRetries: 1, maxWaitMs: {max_wait}, backoff: {{ initialDelayMs: 1 }} }}"
                ),
            );
            let e = h.run("get", json!({})).await.unwrap_err();
            assert_eq!(e.class, ErrorClass::RateLimited, "{e:?}");
            assert_eq!(e.status, Some(429));
            assert!(e.message.contains(named), "{}", e.message);
            assert!(e.message.contains(&format!("maxWaitMs: {max_wait}")), "{}", e.message);
            assert_eq!(script.hits(), 1, "no retry before the server's wait");
        }
    })
    .await;
}

/// A wait within `maxWaitMs` is honoured in full.
#[tokio::test]
async fn a_retry_after_within_max_wait_is_waited_in_full() {
    bounded(async {
        let server = MockServer::start().await;
        let script = Script::new(vec![
            ResponseTemplate::new(429).insert_header("Retry-After", "1"),
            ok(),
        ]);
        Mock::given(path("/thing"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        let h = retry_spec(
            &server.uri(),
            "{ presets: [rate_limit], maxRetries: 1, maxWaitMs: 2000, backoff: { initialDelayMs: 1 } }",
        );
        assert_eq!(h.run("get", json!({})).await, Ok(json!({"ok": true})));
        let gap = script.gaps()[0];
        assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
    })
    .await;
}

#[tokio::test]
async fn jitter_applies_only_when_configured() {
    bounded(async {
        const RETRIES: usize = 6;
        let mut min_gap = Vec::new();
        for jitter in [false, true] {
            let server = MockServer::start().await;
            let script = Script::new(vec![ResponseTemplate::new(500)]);
            Mock::given(path("/thing"))
                .respond_with(script.clone())
                .mount(&server)
                .await;
            let h = retry_spec(
                &server.uri(),
                &format!(
                    "{{ presets: [server_errors], maxRetries: {RETRIES}, backoff: {{ strategy: fixed, initialDelayMs: 100, maxDelayMs: 100, jitter: {jitter} }} }}"
                ),
            );
            assert!(h.run("get", json!({})).await.is_err());
            assert_eq!(script.hits(), RETRIES + 1);
            let gaps = script.gaps();
            min_gap.push(*gaps.iter().min().unwrap());
            if !jitter {
                // Without jitter every wait is the full fixed delay.
                for g in &gaps {
                    assert!(*g >= Duration::from_millis(100), "no jitter: {gaps:?}");
                }
            } else {
                // Full jitter draws each wait from [50, 100] ms; six draws all above 90 ms
                // would be a (0.2)^6 coincidence.
                assert!(
                    gaps.iter().any(|g| *g < Duration::from_millis(90)),
                    "jitter: {gaps:?}"
                );
                for g in &gaps {
                    assert!(*g >= Duration::from_millis(49), "jitter keeps half: {gaps:?}");
                }
            }
        }
        assert!(min_gap[1] < min_gap[0]);
    })
    .await;
}

/// A server that accepts connections and closes them without answering.
async fn hang_up_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    raw_server(|mut sock| async move {
        let _ = read_head(&mut sock).await;
        drop(sock);
    })
    .await
}

#[tokio::test]
async fn connection_errors_are_retried_for_get_but_not_post() {
    bounded(async {
        let (base, accepted) = hang_up_server().await;
        let rest = "
            policies:
              retry: { statusCodes: [503], maxRetries: 2, backoff: { initialDelayMs: 1 } }
            actions:
              get:
                description: Read.
                scope: read
                request: { method: GET, path: /thing }
              post:
                description: Write.
                scope: write
                request: { method: POST, path: /thing, body: { json: { a: 1 } } }
              patch:
                description: Change.
                scope: write
                request: { method: PATCH, path: /thing, body: { json: { a: 1 } } }
              put:
                description: Replace.
                scope: write
                request: { method: PUT, path: /thing, body: { json: { a: 1 } } }
        ";
        let h = Harness::new(&base, rest);
        let r = h.run("get", json!({})).await;
        assert_error(&r, ErrorClass::Transient, "connection_failed");
        assert_eq!(accepted.load(Ordering::SeqCst), 3, "GET: 1 + 2 retries");

        accepted.store(0, Ordering::SeqCst);
        let r = h.run("put", json!({})).await;
        assert_error(&r, ErrorClass::Transient, "connection_failed");
        assert_eq!(accepted.load(Ordering::SeqCst), 3, "PUT is idempotent");

        for action in ["post", "patch"] {
            accepted.store(0, Ordering::SeqCst);
            let r = h.run(action, json!({})).await;
            assert_error(&r, ErrorClass::Transient, "connection_failed");
            assert_eq!(accepted.load(Ordering::SeqCst), 1, "{action} is not retried");
        }

        // With retryNonIdempotent a POST is retried too.
        let (base, accepted) = hang_up_server().await;
        let rest = "
            policies:
              retry: { statusCodes: [503], maxRetries: 2, retryNonIdempotent: true, backoff: { initialDelayMs: 1 } }
            actions:
              post:
                description: Write.
                scope: write
                request: { method: POST, path: /thing, body: { json: { a: 1 } } }
        ";
        let h = Harness::new(&base, rest);
        let r = h.run("post", json!({})).await;
        assert_error(&r, ErrorClass::Transient, "connection_failed");
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    })
    .await;
}

#[tokio::test]
async fn a_closed_port_is_a_transient_connection_error_retried_for_get_only() {
    bounded(async {
        let base = closed_port_url().await;
        let rest = "
            policies:
              retry: { statusCodes: [503], maxRetries: 2, backoff: { strategy: fixed, initialDelayMs: 100, jitter: false } }
            actions:
              get:
                description: Read.
                scope: read
                request: { method: GET, path: /thing }
              post:
                description: Write.
                scope: write
                request: { method: POST, path: /thing, body: { json: { a: 1 } } }
        ";
        let h = Harness::new(&base, rest);
        // Nothing listens, so the retries are seen in the time spent backing off.
        let start = Instant::now();
        let r = h.run("get", json!({})).await;
        assert_error(&r, ErrorClass::Transient, "connection_failed");
        assert!(start.elapsed() >= Duration::from_millis(190), "GET backed off twice");
        // A POST is not retried: with a 3-second backoff, a retry would take 6 s.
        let h = Harness::new(&base, &rest.replace("initialDelayMs: 100", "initialDelayMs: 3000"));
        let start = Instant::now();
        let r = h.run("post", json!({})).await;
        assert_error(&r, ErrorClass::Transient, "connection_failed");
        assert!(start.elapsed() < Duration::from_secs(3), "POST failed at once");
        // The origin is named (it carries no credential), never the path or query.
        let message = r.unwrap_err().message;
        assert!(!message.contains("/thing"), "no URL path in messages: {message}");
        assert_eq!(message, format!("could not connect to {}", base.trim_end_matches('/')));
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Rate limiting
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn header_strategy_delays_the_next_call_until_the_reset() {
    bounded(async {
        let server = MockServer::start().await;
        let script = Script::new(vec![
            ok().insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset", "1"),
            ok().insert_header("X-RateLimit-Remaining", "10")
                .insert_header("X-RateLimit-Reset", "1"),
        ]);
        Mock::given(path("/thing"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        let rest = format!(
            "policies:\n  rateLimit: {{ strategy: header, remainingHeader: X-RateLimit-Remaining, resetHeader: X-RateLimit-Reset, resetFormat: delta_seconds }}\n{}",
            dedent(get_action())
        );
        let h = Harness::new(&server.uri(), &rest);
        assert_eq!(h.run("get", json!({})).await, Ok(json!({"ok": true})));
        assert_eq!(h.run("get", json!({})).await, Ok(json!({"ok": true})));
        // Budget left again: the third call goes out at once.
        let t = Instant::now();
        assert_eq!(h.run("get", json!({})).await, Ok(json!({"ok": true})));
        assert!(t.elapsed() < Duration::from_millis(500));
        let gaps = script.gaps();
        assert!(gaps[0] >= Duration::from_millis(900), "second call waited {:?}", gaps[0]);
        assert!(gaps[0] < Duration::from_secs(5));
    })
    .await;
}

#[tokio::test]
async fn status_code_strategy_retries_its_codes_and_classifies_them_as_rate_limited() {
    bounded(async {
        // With a retry policy: a 420 is a rate-limit reply and is retried.
        let server = MockServer::start().await;
        let script = Script::new(vec![ResponseTemplate::new(420), ok()]);
        Mock::given(path("/thing"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        let rest = format!(
            "policies:\n  rateLimit: {{ strategy: status_code, codes: [420] }}\n  retry: {{ statusCodes: [500], maxRetries: 2, backoff: {{ initialDelayMs: 1 }} }}\n{}",
            dedent(get_action())
        );
        let h = Harness::new(&server.uri(), &rest);
        assert_eq!(h.run("get", json!({})).await, Ok(json!({"ok": true})));
        assert_eq!(script.hits(), 2);

        // Exhausted: three 420s, then a rate_limited error.
        let server = MockServer::start().await;
        Mock::given(path("/thing"))
            .respond_with(ResponseTemplate::new(420))
            .expect(3)
            .mount(&server)
            .await;
        let h = Harness::new(&server.uri(), &rest);
        let r = h.run("get", json!({})).await;
        assert_error(&r, ErrorClass::RateLimited, "http_status");
        server.verify().await;

        // Without a retry policy: one attempt, classified as rate limited.
        let server = MockServer::start().await;
        Mock::given(path("/thing"))
            .respond_with(ResponseTemplate::new(420))
            .expect(1)
            .mount(&server)
            .await;
        let rest = format!(
            "policies:\n  rateLimit: {{ strategy: status_code, codes: [420] }}\n{}",
            dedent(get_action())
        );
        let h = Harness::new(&server.uri(), &rest);
        let r = h.run("get", json!({})).await;
        assert_error(&r, ErrorClass::RateLimited, "http_status");
        server.verify().await;
    })
    .await;
}

#[tokio::test]
async fn response_body_strategy_detects_throttling_in_a_200() {
    bounded(async {
        let throttled = || {
            ResponseTemplate::new(200)
                .set_body_json(json!({"error": {"code": "ApplicationThrottled"}}))
        };
        let policy = "rateLimit: { strategy: response_body, when: { contains: ApplicationThrottled } }";

        // Retry configured: the throttled reply is retried and the next one succeeds.
        let server = MockServer::start().await;
        let script = Script::new(vec![throttled(), ok()]);
        Mock::given(path("/thing"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        let rest = format!(
            "policies:\n  {policy}\n  retry: {{ statusCodes: [503], maxRetries: 2, backoff: {{ initialDelayMs: 1 }} }}\n{}",
            dedent(get_action())
        );
        let h = Harness::new(&server.uri(), &rest);
        assert_eq!(h.run("get", json!({})).await, Ok(json!({"ok": true})));
        assert_eq!(script.hits(), 2);

        // No retry: a rate_limited error after one attempt.
        let server = MockServer::start().await;
        Mock::given(path("/thing"))
            .respond_with(throttled())
            .expect(1)
            .mount(&server)
            .await;
        let rest = format!("policies:\n  {policy}\n{}", dedent(get_action()));
        let h = Harness::new(&server.uri(), &rest);
        let r = h.run("get", json!({})).await;
        assert_error(&r, ErrorClass::RateLimited, "rate_limited");
        assert_eq!(r.unwrap_err().status, Some(200));
        server.verify().await;

        // A 200 without the marker is a plain success.
        let server = MockServer::start().await;
        Mock::given(path("/thing"))
            .respond_with(ok())
            .expect(1)
            .mount(&server)
            .await;
        let h = Harness::new(&server.uri(), &rest);
        assert_eq!(h.run("get", json!({})).await, Ok(json!({"ok": true})));
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Pagination
// ---------------------------------------------------------------------------------------------

fn list_spec(base: &str, pagination: &str) -> Harness {
    let rest = format!(
        "actions:\n  list:\n    description: List things.\n    scope: read\n    request:\n      method: GET\n      path: /items\n      query: {{ filter: open }}\n    pagination: {pagination}\n"
    );
    Harness::new(base, &rest)
}

async fn collect_pages(h: &Harness) -> Vec<Vec<Value>> {
    let mut pages = h.connector.pages(h.ctx(), "list", json!({}));
    let mut out = Vec::new();
    while let Some(p) = pages.next().await {
        out.push(p.expect("page").records);
    }
    out
}

#[tokio::test]
async fn cursor_pagination_follows_the_cursor_with_exact_params() {
    bounded(async {
        let server = MockServer::start().await;
        let replies = vec![
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [1, 2], "meta": {"next": "c1"}})),
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [3, 4], "meta": {"next": "c/2="}})),
            ResponseTemplate::new(200).set_body_json(json!({"items": [5], "meta": {"next": ""}})),
        ];
        let script = Script::new(replies.clone());
        Mock::given(path("/items"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        let h = list_spec(
            &server.uri(),
            "{ style: cursor, records: $.items, cursorParam: cursor, cursorPath: $.meta.next, limitParam: limit, pageSize: 2 }",
        );
        let pages = collect_pages(&h).await;
        assert_eq!(
            pages,
            vec![vec![json!(1), json!(2)], vec![json!(3), json!(4)], vec![json!(5)]]
        );
        let q: Vec<_> = script.requests().iter().map(query).collect();
        assert_eq!(
            q,
            vec![
                pairs(&[("filter", "open"), ("limit", "2")]),
                pairs(&[("filter", "open"), ("limit", "2"), ("cursor", "c1")]),
                pairs(&[("filter", "open"), ("limit", "2"), ("cursor", "c/2=")]),
            ]
        );
        // The same listing through execute with all_pages, against a fresh script.
        server.reset().await;
        Mock::given(path("/items"))
            .respond_with(Script::new(replies))
            .mount(&server)
            .await;
        let all = h.run_all("list", json!({})).await;
        assert_eq!(all, Ok(json!([1, 2, 3, 4, 5])));
    })
    .await;
}

/// A POST search whose paging parameters travel in its JSON body, with `body` as given.
fn body_list_spec(base: &str, body: &str, pagination: &str) -> Harness {
    let rest = format!(
        "actions:\n  list:\n    description: Search things.\n    scope: read\n    request:\n      method: POST\n      path: /search\n      body: {body}\n    pagination: {pagination}\n"
    );
    Harness::new(base, &rest)
}

#[tokio::test]
async fn offset_paging_in_the_body_sends_numbers_and_keeps_the_rest_of_the_body() {
    bounded(async {
        let server = MockServer::start().await;
        let script = Script::new(vec![
            ResponseTemplate::new(200).set_body_json(json!({"hits": [1, 2], "total": 3})),
            ResponseTemplate::new(200).set_body_json(json!({"hits": [3], "total": 3})),
        ]);
        Mock::given(path("/search"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        let h = body_list_spec(
            &server.uri(),
            "{ json: { query: open, from: 99 } }",
            "{ style: offset, paramsIn: body, records: $.hits, offsetParam: from, limitParam: size, pageSize: 2, totalPath: $.total }",
        );
        assert_eq!(h.run_all("list", json!({})).await, Ok(json!([1, 2, 3])));
        let bodies: Vec<Value> = script
            .requests()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
        assert_eq!(
            bodies,
            vec![
                json!({"query": "open", "from": 0, "size": 2}),
                json!({"query": "open", "from": 2, "size": 2}),
            ]
        );
        assert!(script.requests().iter().all(|r| r.url.query().is_none()));
    })
    .await;
}

#[tokio::test]
async fn paging_in_a_body_that_renders_no_object_is_a_typed_error() {
    bounded(async {
        let server = MockServer::start().await;
        Mock::given(path("/search"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
            .expect(0)
            .mount(&server)
            .await;
        let h = body_list_spec(
            &server.uri(),
            "{ json: \"{{ [1, 2] }}\" }",
            "{ style: cursor, paramsIn: body, records: $.items, cursorParam: c, cursorPath: $.next }",
        );
        let e = h.run_all("list", json!({})).await.unwrap_err();
        assert_eq!(e.code, "invalid_request", "{e}");
        assert!(e.message.contains("not a JSON object"), "{e}");
    })
    .await;
}

#[tokio::test]
async fn offset_pagination_advances_by_records_and_stops_at_the_total() {
    bounded(async {
        let server = MockServer::start().await;
        let script = Script::new(vec![
            ResponseTemplate::new(200).set_body_json(json!({"values": ["a", "b"], "total": 6})),
            ResponseTemplate::new(200).set_body_json(json!({"values": ["c", "d"], "total": 6})),
            ResponseTemplate::new(200).set_body_json(json!({"values": ["e", "f"], "total": 6})),
            // Never requested: the total is reached.
            ResponseTemplate::new(200).set_body_json(json!({"values": ["x"], "total": 6})),
        ]);
        Mock::given(path("/items"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        let h = list_spec(
            &server.uri(),
            "{ style: offset, records: $.values, offsetParam: startAt, limitParam: maxResults, pageSize: 2, totalPath: $.total }",
        );
        let pages = collect_pages(&h).await;
        assert_eq!(
            pages,
            vec![
                vec![json!("a"), json!("b")],
                vec![json!("c"), json!("d")],
                vec![json!("e"), json!("f")]
            ]
        );
        let q: Vec<_> = script.requests().iter().map(query).collect();
        assert_eq!(
            q,
            vec![
                pairs(&[("filter", "open"), ("maxResults", "2"), ("startAt", "0")]),
                pairs(&[("filter", "open"), ("maxResults", "2"), ("startAt", "2")]),
                pairs(&[("filter", "open"), ("maxResults", "2"), ("startAt", "4")]),
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn page_pagination_counts_pages_and_stops_on_a_short_page() {
    bounded(async {
        let server = MockServer::start().await;
        let script = Script::new(vec![
            ResponseTemplate::new(200).set_body_json(json!({"results": [1, 2, 3]})),
            ResponseTemplate::new(200).set_body_json(json!({"results": [4, 5, 6]})),
            ResponseTemplate::new(200).set_body_json(json!({"results": [7]})),
            ResponseTemplate::new(200).set_body_json(json!({"results": [99]})),
        ]);
        Mock::given(path("/items"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        let h = list_spec(
            &server.uri(),
            "{ style: page, records: $.results, pageParam: page, startPage: 0, limitParam: per_page, pageSize: 3 }",
        );
        let all = h.run_all("list", json!({})).await;
        assert_eq!(all, Ok(json!([1, 2, 3, 4, 5, 6, 7])));
        let q: Vec<_> = script.requests().iter().map(query).collect();
        assert_eq!(
            q,
            vec![
                pairs(&[("filter", "open"), ("per_page", "3"), ("page", "0")]),
                pairs(&[("filter", "open"), ("per_page", "3"), ("page", "1")]),
                pairs(&[("filter", "open"), ("per_page", "3"), ("page", "2")]),
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn link_header_pagination_follows_rel_next() {
    bounded(async {
        let server = MockServer::start().await;
        let base = server.uri();
        let script = Script::new(vec![
            ResponseTemplate::new(200)
                .set_body_json(json!([{"id": 1}, {"id": 2}]))
                .insert_header(
                    "Link",
                    format!("<{base}/items?per_page=2&page=2>; rel=\"next\", <{base}/items?per_page=2&page=9>; rel=\"last\"").as_str(),
                ),
            ResponseTemplate::new(200)
                .set_body_json(json!([{"id": 3}, {"id": 4}]))
                // A relative target resolves against the request URL.
                .insert_header("Link", "</items?per_page=2&page=3>; rel=\"next\""),
            ResponseTemplate::new(200)
                .set_body_json(json!([{"id": 5}]))
                .insert_header("Link", "</items?per_page=2&page=1>; rel=\"first\""),
        ]);
        Mock::given(path("/items"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        let h = list_spec(
            &base,
            "{ style: link_header, limitParam: per_page, pageSize: 2 }",
        );
        let pages = collect_pages(&h).await;
        assert_eq!(
            pages,
            vec![
                vec![json!({"id": 1}), json!({"id": 2})],
                vec![json!({"id": 3}), json!({"id": 4})],
                vec![json!({"id": 5})],
            ]
        );
        let q: Vec<_> = script.requests().iter().map(query).collect();
        assert_eq!(
            q,
            vec![
                pairs(&[("filter", "open"), ("per_page", "2")]),
                pairs(&[("per_page", "2"), ("page", "2")]),
                pairs(&[("per_page", "2"), ("page", "3")]),
            ]
        );
    })
    .await;
}

/// A listing of GitHub's search shape: `/search/issues?q=label:a,b`, followed by `Link`.
fn search_spec(base: &str) -> Harness {
    let rest = "actions:\n  list:\n    description: Search issues.\n    scope: read\n    request:\n      method: GET\n      path: /search/issues\n      query: { q: \"label:a,b\" }\n    pagination: { style: link_header, records: $.items }\n";
    Harness::new(base, rest)
}

/// Page 1 (no `page` parameter) answers with `link`; page 2 answers only when `q` arrived
/// intact. Any other request gets wiremock's 404.
async fn mount_search(server: &MockServer, link: &str) {
    Mock::given(path("/search/issues"))
        .and(query_param("q", "label:a,b"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [3, 4]})))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(path("/search/issues"))
        .and(query_param("q", "label:a,b"))
        .and(query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [1, 2]}))
                .insert_header("Link", link),
        )
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_link_with_a_comma_in_its_query_is_followed_intact() {
    bounded(async {
        let server = MockServer::start().await;
        let base = server.uri();
        let link = format!(
            "<{base}/search/issues?q=label:a,b&page=2>; rel=\"next\", <{base}/search/issues?q=label:a,b&page=2>; rel=\"last\""
        );
        mount_search(&server, &link).await;
        let h = search_spec(&base);
        assert_eq!(h.run_all("list", json!({})).await, Ok(json!([1, 2, 3, 4])));
        let asked: Vec<String> = server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| r.url.query().unwrap_or_default().to_string())
            .collect();
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert_eq!(asked[1], "q=label:a,b&page=2", "the next URL as the server wrote it");
    })
    .await;
}

#[tokio::test]
async fn a_link_to_another_origin_is_refused_and_never_requested() {
    bounded(async {
        let server = MockServer::start().await;
        let elsewhere = MockServer::start().await;
        let link = format!(
            "<{}/search/issues?q=label:a,b&page=2>; rel=\"next\"",
            elsewhere.uri()
        );
        mount_search(&server, &link).await;
        let h = search_spec(&server.uri());
        let e = h.run_all("list", json!({})).await.unwrap_err();
        assert_eq!(e.code, "invalid_response", "{e}");
        assert!(e.message.contains("another origin"), "{e}");
        assert!(
            !e.message.contains(&elsewhere.uri()),
            "the URL is not quoted: {e}"
        );
        let seen = elsewhere.received_requests().await.unwrap_or_default();
        assert!(
            seen.is_empty(),
            "the other origin got a request (and the credentials)"
        );
    })
    .await;
}

#[tokio::test]
async fn rel_next_last_is_seen_as_next_and_a_relative_target_resolves() {
    bounded(async {
        let server = MockServer::start().await;
        mount_search(
            &server,
            "</search/issues?q=label:a,b&page=2>; rel=\"next last\"",
        )
        .await;
        let h = search_spec(&server.uri());
        assert_eq!(h.run_all("list", json!({})).await, Ok(json!([1, 2, 3, 4])));
    })
    .await;
}

#[tokio::test]
async fn max_pages_and_max_records_cap_an_endless_listing() {
    bounded(async {
        // A provider that always has another page.
        let server = MockServer::start().await;
        let script = Script::new(vec![
            ResponseTemplate::new(200).set_body_json(json!({"items": [1, 2], "next": "n1"})),
            ResponseTemplate::new(200).set_body_json(json!({"items": [3, 4], "next": "n2"})),
            ResponseTemplate::new(200).set_body_json(json!({"items": [5, 6], "next": "n3"})),
            ResponseTemplate::new(200).set_body_json(json!({"items": [7, 8], "next": "n4"})),
            ResponseTemplate::new(200).set_body_json(json!({"items": [9, 10], "next": "n5"})),
        ]);
        Mock::given(path("/items"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        let h = list_spec(
            &server.uri(),
            "{ style: cursor, records: $.items, cursorParam: c, cursorPath: $.next, maxPages: 3 }",
        );
        let pages = collect_pages(&h).await;
        assert_eq!(pages.len(), 3);
        assert_eq!(script.hits(), 3, "no request beyond maxPages");

        let server = MockServer::start().await;
        let script = Script::new(vec![
            ResponseTemplate::new(200).set_body_json(json!({"items": [1, 2], "next": "n1"})),
            ResponseTemplate::new(200).set_body_json(json!({"items": [3, 4], "next": "n2"})),
            ResponseTemplate::new(200).set_body_json(json!({"items": [5, 6], "next": "n3"})),
            ResponseTemplate::new(200).set_body_json(json!({"items": [7, 8], "next": "n4"})),
        ]);
        Mock::given(path("/items"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        let h = list_spec(
            &server.uri(),
            "{ style: cursor, records: $.items, cursorParam: c, cursorPath: $.next, maxRecords: 5 }",
        );
        assert_eq!(h.run_all("list", json!({})).await, Ok(json!([1, 2, 3, 4, 5])));
        assert_eq!(script.hits(), 3, "no request beyond maxRecords");
    })
    .await;
}

#[tokio::test]
async fn a_repeated_cursor_ends_the_listing() {
    bounded(async {
        let server = MockServer::start().await;
        let script = Script::new(vec![
            ResponseTemplate::new(200).set_body_json(json!({"items": [1], "next": "same"})),
        ]);
        Mock::given(path("/items"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        let h = list_spec(
            &server.uri(),
            "{ style: cursor, records: $.items, cursorParam: c, cursorPath: $.next }",
        );
        assert_eq!(h.run_all("list", json!({})).await, Ok(json!([1, 1])));
        assert_eq!(script.hits(), 2, "the second `same` cursor is not followed");
    })
    .await;
}

#[tokio::test]
async fn a_failing_page_ends_the_listing_with_its_error() {
    bounded(async {
        let server = MockServer::start().await;
        let script = Script::new(vec![
            ResponseTemplate::new(200).set_body_json(json!({"items": [1], "next": "n1"})),
            ResponseTemplate::new(400).set_body_json(json!({"message": "bad cursor"})),
        ]);
        Mock::given(path("/items"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        let h = list_spec(
            &server.uri(),
            "{ style: cursor, records: $.items, cursorParam: c, cursorPath: $.next }",
        );
        let r = h.run_all("list", json!({})).await;
        assert_error(&r, ErrorClass::User, "http_status");
        assert!(r.unwrap_err().message.contains("bad cursor"));
        assert_eq!(script.hits(), 2);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------------------------

fn stream_spec(base: &str, streaming: &str) -> Harness {
    let rest = format!(
        "actions:\n  events:\n    description: Stream events.\n    scope: read\n    request: {{ method: GET, path: /events }}\n    supportsStreaming: true\n    streaming: {streaming}\n"
    );
    Harness::new(base, &rest)
}

async fn collect_events(h: &Harness) -> Vec<StreamEvent> {
    let mut s = h
        .dispatcher
        .stream(&h.ctx(), "events", json!({}))
        .await
        .expect("stream starts");
    let mut out = Vec::new();
    while let Some(ev) = s.next().await {
        out.push(ev.expect("event"));
    }
    out
}

#[tokio::test]
async fn sse_stream_yields_events_until_the_done_marker() {
    bounded(async {
        let server = MockServer::start().await;
        let body = "data: {\"n\":1}\n\nevent: delta\ndata: {\"n\":2}\n\ndata: plain text\n\ndata: [DONE]\n\ndata: {\"n\":3}\n\n";
        Mock::given(path("/events"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
            .mount(&server)
            .await;
        let h = stream_spec(&server.uri(), "{ format: sse, doneMarker: \"[DONE]\" }");
        let events = collect_events(&h).await;
        let got: Vec<(&str, &Value)> = events.iter().map(|e| (e.event.as_str(), &e.data)).collect();
        assert_eq!(
            got,
            vec![
                ("message", &json!({"n": 1})),
                ("delta", &json!({"n": 2})),
                ("message", &json!("plain text")),
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn ndjson_stream_yields_one_event_per_line() {
    bounded(async {
        let server = MockServer::start().await;
        let body = "{\"n\":1}\n{\"n\":2}\r\n\n{\"n\":3}";
        Mock::given(path("/events"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/x-ndjson"))
            .mount(&server)
            .await;
        let h = stream_spec(&server.uri(), "{ format: ndjson }");
        let events = collect_events(&h).await;
        assert!(events.iter().all(|e| e.event == "line"));
        let data: Vec<Value> = events.into_iter().map(|e| e.data).collect();
        assert_eq!(
            data,
            vec![json!({"n": 1}), json!({"n": 2}), json!({"n": 3})]
        );
    })
    .await;
}

/// One AWS event-stream frame with string headers.
#[cfg(feature = "sigv4")]
fn aws_frame(headers: &[(&str, &str)], payload: &str) -> Vec<u8> {
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
    let headers = headers
        .iter()
        .map(|(n, v)| Header::new(n.to_string(), HeaderValue::String(v.to_string().into())))
        .collect();
    let mut out = Vec::new();
    let m = Message::new_from_parts(headers, payload.as_bytes().to_vec());
    aws_smithy_eventstream::frame::write_message_to(&m, &mut out).unwrap();
    out
}

#[cfg(feature = "sigv4")]
#[tokio::test]
async fn eventstream_frames_become_events_and_an_exception_ends_the_stream() {
    bounded(async {
        let chunk = [(":message-type", "event"), (":event-type", "chunk")];
        let mut body = aws_frame(&chunk, r#"{"bytes":"eyJhIjoxfQ=="}"#);
        body.extend(aws_frame(&chunk, r#"{"bytes":"eyJhIjoyfQ=="}"#));
        body.extend(aws_frame(
            &[
                (":message-type", "exception"),
                (":exception-type", "modelStreamErrorException"),
            ],
            r#"{"message":"the model stopped"}"#,
        ));
        let server = MockServer::start().await;
        Mock::given(path("/events"))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(body, "application/vnd.amazon.eventstream"),
            )
            .mount(&server)
            .await;
        let h = stream_spec(&server.uri(), "{ format: eventstream }");
        let got = stream_results(&h).await;
        assert_eq!(got.len(), 3, "{got:?}");
        let first = got[0].as_ref().unwrap();
        assert_eq!(first.event, "chunk");
        assert_eq!(first.data, json!({"bytes": "eyJhIjoxfQ=="}));
        assert_eq!(
            got[1].as_ref().unwrap().data,
            json!({"bytes": "eyJhIjoyfQ=="})
        );
        let e = got[2].as_ref().unwrap_err();
        assert_eq!(
            (e.class, e.code),
            (ErrorClass::Transient, "stream_exception")
        );
        assert!(
            e.message
                .contains("modelStreamErrorException: the model stopped"),
            "{e}"
        );
    })
    .await;
}

#[tokio::test]
async fn chunked_stream_yields_text_chunks_as_they_arrive() {
    bounded(async {
        let (base, _) = raw_server(|mut sock| async move {
            let _ = read_head(&mut sock).await;
            let head =
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
            if !write(&mut sock, head.as_bytes()).await {
                return;
            }
            for part in ["alpha ", "beta ", "gamma"] {
                let chunk = format!("{:x}\r\n{part}\r\n", part.len());
                if !write(&mut sock, chunk.as_bytes()).await {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            let _ = write(&mut sock, b"0\r\n\r\n").await;
        })
        .await;
        let h = stream_spec(&base, "{ format: chunked }");
        let events = collect_events(&h).await;
        assert!(events.len() >= 2, "chunks arrive separately: {events:?}");
        assert!(events.iter().all(|e| e.event == "chunk"));
        let text: String = events
            .iter()
            .map(|e| e.data.as_str().expect("text").to_string())
            .collect();
        assert_eq!(text, "alpha beta gamma");
    })
    .await;
}

/// An SSE server that writes an event every 20 ms for up to 5 s and reports when a write
/// fails (the client went away).
async fn slow_sse_server() -> (String, Arc<AtomicBool>) {
    let closed = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&closed);
    let (base, _) = raw_server(move |mut sock| {
        let flag = Arc::clone(&flag);
        async move {
            let _ = read_head(&mut sock).await;
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
            if !write(&mut sock, head.as_bytes()).await {
                flag.store(true, Ordering::SeqCst);
                return;
            }
            for i in 0..250 {
                let ev = format!("data: {{\"i\":{i}}}\n\n");
                let chunk = format!("{:x}\r\n{ev}\r\n", ev.len());
                if !write(&mut sock, chunk.as_bytes()).await {
                    flag.store(true, Ordering::SeqCst);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    })
    .await;
    (base, closed)
}

#[tokio::test]
async fn dropping_the_stream_aborts_the_request() {
    bounded(async {
        let (base, closed) = slow_sse_server().await;
        let h = stream_spec(&base, "{ format: sse }");
        let mut s = h
            .dispatcher
            .stream(&h.ctx(), "events", json!({}))
            .await
            .expect("stream starts");
        for i in 0..2 {
            let ev = s.next().await.expect("an event").expect("ok");
            assert_eq!(ev.data, json!({"i": i}));
        }
        drop(s);
        let start = Instant::now();
        while !closed.load(Ordering::SeqCst) {
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "the server still writes to an open connection"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn cancelling_ends_the_stream_promptly() {
    bounded(async {
        let (base, _closed) = slow_sse_server().await;
        let h = stream_spec(&base, "{ format: sse }");
        let cancel = connector_runtime::CancellationToken::new();
        let ctx = h.runtime.context("", cancel.clone());
        let mut s = h
            .dispatcher
            .stream(&ctx, "events", json!({}))
            .await
            .expect("stream starts");
        assert!(s.next().await.expect("an event").is_ok());
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            c.cancel();
        });
        let start = Instant::now();
        // The server would keep writing for 5 s; the stream must end soon after the cancel.
        while let Some(ev) = s.next().await {
            assert!(ev.is_ok());
            assert!(start.elapsed() < Duration::from_secs(2));
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
    })
    .await;
}

/// Every result of a stream, errors included.
async fn stream_results(h: &Harness) -> Vec<Result<StreamEvent, connector_runtime::ActionError>> {
    let s = h
        .dispatcher
        .stream(&h.ctx(), "events", json!({}))
        .await
        .expect("stream starts");
    s.collect().await
}

/// A stream answered with `body` as `content_type`.
async fn stream_server(body: String, content_type: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/events"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, content_type))
        .mount(&server)
        .await;
    server
}

#[track_caller]
fn assert_too_large(r: &Result<StreamEvent, connector_runtime::ActionError>) {
    let e = r.as_ref().expect_err("over the limit");
    assert_eq!(
        (e.class, e.code),
        (ErrorClass::System, "stream_event_too_large")
    );
    let limit = connector_runtime::executor::MAX_STREAM_EVENT_BYTES.to_string();
    assert!(
        e.message.contains(&limit),
        "the limit is in the message: {e}"
    );
}

#[tokio::test]
async fn an_ndjson_line_over_the_limit_is_a_typed_error() {
    bounded(async {
        let max = connector_runtime::executor::MAX_STREAM_EVENT_BYTES;
        let body = format!("{{\"n\":1}}\n\"{}\"\n{{\"n\":2}}\n", "x".repeat(max + 10));
        let server = stream_server(body, "application/x-ndjson").await;
        let h = stream_spec(&server.uri(), "{ format: ndjson }");
        let got = stream_results(&h).await;
        assert_eq!(got.len(), 2, "one event, then the error ends the stream");
        assert_eq!(got[0].as_ref().expect("first line").data, json!({"n": 1}));
        assert_too_large(&got[1]);
    })
    .await;
}

#[tokio::test]
async fn an_sse_event_over_the_limit_is_a_typed_error_though_each_line_is_short() {
    bounded(async {
        let max = connector_runtime::executor::MAX_STREAM_EVENT_BYTES;
        let line = format!("data: {}\n", "y".repeat(1000));
        let body = format!(
            "data: ok\n\n{}\ndata: never\n\n",
            line.repeat(max / 1000 + 2)
        );
        let server = stream_server(body, "text/event-stream").await;
        let h = stream_spec(&server.uri(), "{ format: sse }");
        let got = stream_results(&h).await;
        assert_eq!(
            got.len(),
            2,
            "{:?}",
            got.iter().map(|r| r.is_ok()).collect::<Vec<_>>()
        );
        assert_eq!(got[0].as_ref().expect("first event").data, json!("ok"));
        assert_too_large(&got[1]);
    })
    .await;
}

#[tokio::test]
async fn many_small_events_all_arrive() {
    bounded(async {
        const N: usize = 20_000;
        let ndjson: String = (0..N).map(|i| format!("{{\"i\":{i}}}\n")).collect();
        let server = stream_server(ndjson, "application/x-ndjson").await;
        let h = stream_spec(&server.uri(), "{ format: ndjson }");
        let events = collect_events(&h).await;
        assert_eq!(events.len(), N);
        assert_eq!(events[N - 1].data, json!({"i": N - 1}));

        let sse: String = (0..N).map(|i| format!("data: {i}\r\n\r\n")).collect();
        let server = stream_server(sse, "text/event-stream").await;
        let h = stream_spec(&server.uri(), "{ format: sse }");
        let events = collect_events(&h).await;
        assert_eq!(events.len(), N);
        assert!(events.iter().enumerate().all(|(i, e)| e.data == json!(i)));
    })
    .await;
}

#[tokio::test]
async fn an_event_split_across_many_tiny_chunks_is_reassembled() {
    bounded(async {
        const BODY: &str = "event: delta\r\ndata: {\"text\": \"h\u{e9}llo, world\"}\r\n\r\ndata: 2\n\n";
        let (base, _) = raw_server(|mut sock| async move {
            let _ = sock.set_nodelay(true);
            let _ = read_head(&mut sock).await;
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
            if !write(&mut sock, head.as_bytes()).await {
                return;
            }
            // One byte a chunk, so every line end and the two bytes of `é` are split.
            for b in BODY.as_bytes() {
                let mut chunk = b"1\r\n".to_vec();
                chunk.push(*b);
                chunk.extend_from_slice(b"\r\n");
                if !write(&mut sock, &chunk).await {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let _ = write(&mut sock, b"0\r\n\r\n").await;
        })
        .await;
        let h = stream_spec(&base, "{ format: sse }");
        let events = collect_events(&h).await;
        let got: Vec<(&str, &Value)> = events.iter().map(|e| (e.event.as_str(), &e.data)).collect();
        assert_eq!(
            got,
            vec![
                ("delta", &json!({"text": "h\u{e9}llo, world"})),
                ("message", &json!(2)),
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn a_stream_that_fails_to_start_is_a_classified_error() {
    bounded(async {
        let server = MockServer::start().await;
        Mock::given(path("/events"))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "nope"})))
            .mount(&server)
            .await;
        let h = stream_spec(&server.uri(), "{ format: ndjson }");
        let r = h.dispatcher.stream(&h.ctx(), "events", json!({})).await;
        let e = r.err().expect("an error");
        assert_eq!(
            (e.class, e.code, e.status),
            (ErrorClass::Auth, "http_status", Some(401))
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn total_timeout_against_a_slow_server_is_a_transient_timeout() {
    bounded(async {
        let server = MockServer::start().await;
        Mock::given(path("/thing"))
            .respond_with(ok().set_delay(Duration::from_secs(3)))
            .mount(&server)
            .await;
        let rest = format!(
            "policies:\n  timeouts: {{ totalMs: 200 }}\n{}",
            dedent(get_action())
        );
        let h = Harness::new(&server.uri(), &rest);
        let start = Instant::now();
        let r = h.run("get", json!({})).await;
        assert_error(&r, ErrorClass::Transient, "timeout");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(190) && took < Duration::from_secs(2),
            "{took:?}"
        );

        // A GET that times out is retried like a connection error.
        let server = MockServer::start().await;
        Mock::given(path("/thing"))
            .respond_with(ok().set_delay(Duration::from_secs(3)))
            .expect(2)
            .mount(&server)
            .await;
        let rest = format!(
            "policies:\n  timeouts: {{ totalMs: 150 }}\n  retry: {{ statusCodes: [503], maxRetries: 1, backoff: {{ initialDelayMs: 1 }} }}\n{}",
            dedent(get_action())
        );
        let h = Harness::new(&server.uri(), &rest);
        let r = h.run("get", json!({})).await;
        assert_error(&r, ErrorClass::Transient, "timeout");
        server.verify().await;
    })
    .await;
}

#[tokio::test]
async fn default_timeouts_exist() {
    let h = Harness::new("http://127.0.0.1:9", get_action());
    let (connect, total) = h.runtime.instance.timeouts();
    assert_eq!(connect, connector_runtime::client::DEFAULT_CONNECT_TIMEOUT);
    assert_eq!(total, connector_runtime::client::DEFAULT_TOTAL_TIMEOUT);
    assert!(connect > Duration::ZERO && connect <= Duration::from_secs(60));
    assert!(total > Duration::ZERO && total <= Duration::from_secs(600));
    let rest = format!(
        "policies:\n  timeouts: {{ connectMs: 1234, totalMs: 5678 }}\n{}",
        dedent(get_action())
    );
    let h = Harness::new("http://127.0.0.1:9", &rest);
    assert_eq!(
        h.runtime.instance.timeouts(),
        (Duration::from_millis(1234), Duration::from_millis(5678))
    );
}

// ---------------------------------------------------------------------------------------------
// Error classification
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn statuses_are_classified_by_default_and_by_policy() {
    bounded(async {
        let server = MockServer::start().await;
        let h = Harness::new(&server.uri(), get_action());
        let over = format!(
            "policies:\n  errors:\n    - {{ status: [409, 500], class: user }}\n    - {{ status: [404], class: transient }}\n    - {{ status: [400], class: auth }}\n{}",
            dedent(get_action())
        );
        let ho = Harness::new(&server.uri(), &over);
        let cases = [
            (400, ErrorClass::User, ErrorClass::Auth),
            (401, ErrorClass::Auth, ErrorClass::Auth),
            (403, ErrorClass::Auth, ErrorClass::Auth),
            (404, ErrorClass::User, ErrorClass::Transient),
            (409, ErrorClass::User, ErrorClass::User),
            (422, ErrorClass::User, ErrorClass::User),
            (429, ErrorClass::RateLimited, ErrorClass::RateLimited),
            (500, ErrorClass::Transient, ErrorClass::User),
            (502, ErrorClass::Transient, ErrorClass::Transient),
            (503, ErrorClass::Transient, ErrorClass::Transient),
            (504, ErrorClass::Transient, ErrorClass::Transient),
        ];
        for (status, default_class, policy_class) in cases {
            server.reset().await;
            Mock::given(path("/thing"))
                .respond_with(
                    ResponseTemplate::new(status).set_body_json(json!({"message": "went wrong"})),
                )
                .mount(&server)
                .await;
            let e = h.run("get", json!({})).await.unwrap_err();
            assert_eq!((e.class, e.code, e.status), (default_class, "http_status", Some(status)));
            assert!(e.message.contains("went wrong"), "{e}");
            let e = ho.run("get", json!({})).await.unwrap_err();
            assert_eq!(e.class, policy_class, "policy class for {status}");
        }
    })
    .await;
}

#[tokio::test]
async fn error_rules_turn_a_2xx_into_a_typed_error_with_a_templated_message() {
    bounded(async {
        let server = MockServer::start().await;
        let rest = r#"
            actions:
              post:
                description: Post a message.
                scope: write
                request: { method: POST, path: /chat.postMessage, body: { json: { text: hi } } }
                response:
                  output: { ts: $.ts }
                  errors:
                    - when: { path: $.error, equals: ratelimited }
                      class: rate_limited
                      message: "Slack rate limit: {{ response.error }}"
                    - when: { path: $.ok, equals: false }
                      message: "Slack API error: {{ response.error }}"
                    - when: { status: [404], contains: no_service }
                      class: auth
                      message: The webhook URL is disabled.
        "#;
        let h = Harness::new(&server.uri(), rest);
        let reply = |status: u16, body: Value| ResponseTemplate::new(status).set_body_json(body);
        let cases = [
            (
                reply(200, json!({"ok": false, "error": "channel_not_found"})),
                ErrorClass::User,
                "Slack API error: channel_not_found",
            ),
            (
                reply(200, json!({"ok": false, "error": "ratelimited"})),
                ErrorClass::RateLimited,
                "Slack rate limit: ratelimited",
            ),
            (
                ResponseTemplate::new(404).set_body_string("no_service"),
                ErrorClass::Auth,
                "The webhook URL is disabled.",
            ),
        ];
        for (resp, class, message) in cases {
            server.reset().await;
            Mock::given(path("/chat.postMessage"))
                .respond_with(resp)
                .mount(&server)
                .await;
            let e = h.run("post", json!({})).await.unwrap_err();
            assert_eq!(
                (e.class, e.code, e.message.as_str()),
                (class, "provider_error", message)
            );
        }
        server.reset().await;
        Mock::given(path("/chat.postMessage"))
            .respond_with(reply(200, json!({"ok": true, "ts": "1.2"})))
            .mount(&server)
            .await;
        assert_eq!(h.run("post", json!({})).await, Ok(json!({"ts": "1.2"})));
    })
    .await;
}

#[tokio::test]
async fn error_messages_never_contain_a_secret() {
    bounded(async {
        const TOKEN: &str = "xoxb-very-secret-token-4242";
        let server = MockServer::start().await;
        let rest = r#"
            auth:
              types: [bearer]
            actions:
              get:
                description: Read.
                scope: read
                request: { method: GET, path: /thing, query: { t: "{{ secrets.token }}" } }
                response:
                  errors:
                    - when: { path: $.ok, equals: false }
                      message: "failed with {{ secrets.token }}: {{ response.error }}"
        "#;
        let h = Harness::with(&server.uri(), rest, json!({}), json!({"token": TOKEN}));
        // The provider echoes the token in an error body.
        Mock::given(path("/thing"))
            .respond_with(
                ResponseTemplate::new(400)
                    .set_body_json(json!({"message": format!("bad token {TOKEN}")})),
            )
            .mount(&server)
            .await;
        let e = h.run("get", json!({})).await.unwrap_err();
        assert_eq!(e.class, ErrorClass::User);
        assert!(!e.message.contains(TOKEN), "{e}");
        assert!(!e.to_string().contains(TOKEN), "{e}");
        // An error rule's template reads the secret.
        server.reset().await;
        Mock::given(path("/thing"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"ok": false, "error": format!("echo {TOKEN}")})),
            )
            .mount(&server)
            .await;
        let e = h.run("get", json!({})).await.unwrap_err();
        assert_eq!(e.code, "provider_error");
        assert!(!e.message.contains(TOKEN), "{e}");
        assert!(e.message.starts_with("failed with "), "{e}");
        // A transport error: the URL (which carries the token in the query) is not echoed.
        let h = Harness::with(
            &closed_port_url().await,
            rest,
            json!({}),
            json!({"token": TOKEN}),
        );
        let e = h.run("get", json!({})).await.unwrap_err();
        assert_eq!(e.code, "connection_failed");
        assert!(!e.message.contains(TOKEN), "{e}");
    })
    .await;
}

#[tokio::test]
async fn a_listing_that_echoes_the_credential_is_redacted_on_every_page() {
    bounded(async {
        const TOKEN: &str = "xoxb-listing-secret-token-7171";
        let server = MockServer::start().await;
        let rest = "
            auth:
              types: [bearer]
            actions:
              list:
                description: List things.
                scope: read
                request: { method: GET, path: /items }
                pagination: { style: cursor, records: $.items, cursorParam: cursor, cursorPath: $.next }
        ";
        let h = Harness::with(&server.uri(), rest, json!({}), json!({"token": TOKEN}));
        Mock::given(path("/items"))
            .respond_with(Script::new(vec![
                ResponseTemplate::new(200).set_body_json(
                    json!({"items": [{"id": 1, "note": format!("you are {TOKEN}")}], "next": "c1"}),
                ),
                ResponseTemplate::new(200).set_body_json(json!({
                    "items": [{"id": 2, "seen": {format!("Bearer {TOKEN}"): [format!("{TOKEN}!")]}}],
                    "next": null
                })),
            ]))
            .mount(&server)
            .await;
        let all = h.run_all("list", json!({})).await.expect("the listing");
        assert_eq!(
            all,
            json!([
                {"id": 1, "note": "you are [REDACTED]"},
                {"id": 2, "seen": {"[REDACTED]": ["[REDACTED]!"]}}
            ])
        );
        // The first page alone (no all_pages) is redacted too.
        server.reset().await;
        Mock::given(path("/items"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"items": [{"id": 1, "note": TOKEN}], "next": "c1"}),
            ))
            .mount(&server)
            .await;
        let first = h.run("list", json!({})).await.expect("the first page");
        assert_eq!(first, json!([{"id": 1, "note": "[REDACTED]"}]));
    })
    .await;
}

/// A listing of Microsoft Graph's shape: records at `$.value`, the next page's URL at
/// `$['@odata.nextLink']`, with a static header every page must carry.
fn next_url_spec(base: &str) -> Harness {
    let rest = "actions:\n  list:\n    description: List drive items.\n    scope: read\n    request:\n      method: GET\n      path: /items\n      query: { filter: open }\n      headers: { X-Trace: t1 }\n    pagination: { style: next_url, records: $.value, nextUrlPath: \"$['@odata.nextLink']\", limitParam: top, pageSize: 2 }\n";
    Harness::new(base, rest)
}

#[tokio::test]
async fn next_url_pagination_follows_the_body_link_with_exact_urls() {
    bounded(async {
        let server = MockServer::start().await;
        let base = server.uri();
        let script = Script::new(vec![
            ResponseTemplate::new(200).set_body_json(json!({
                "value": [1, 2],
                "@odata.nextLink": format!("{base}/items?$skiptoken=s2&top=2")
            })),
            // A relative next URL resolves against the URL of the request that fetched it.
            ResponseTemplate::new(200).set_body_json(
                json!({"value": [3, 4], "@odata.nextLink": "/items?$skiptoken=s3&top=2"}),
            ),
            ResponseTemplate::new(200)
                .set_body_json(json!({"value": [5], "@odata.nextLink": null})),
        ]);
        Mock::given(path("/items"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        let h = next_url_spec(&base);
        let pages = collect_pages(&h).await;
        assert_eq!(
            pages,
            vec![
                vec![json!(1), json!(2)],
                vec![json!(3), json!(4)],
                vec![json!(5)]
            ]
        );
        let reqs = script.requests();
        let urls: Vec<String> = reqs
            .iter()
            .map(|r| format!("{}?{}", r.url.path(), r.url.query().unwrap_or_default()))
            .collect();
        assert_eq!(
            urls,
            vec![
                "/items?filter=open&top=2",
                // The next URL is sent as given: no page size or query parameter added.
                "/items?$skiptoken=s2&top=2",
                "/items?$skiptoken=s3&top=2",
            ]
        );
        for r in &reqs {
            assert_eq!(r.method.as_str(), "GET");
            assert_eq!(r.headers.get("x-trace").unwrap(), "t1", "{}", r.url);
        }
        // A missing or empty link ends the listing as null does.
        for last in [
            json!({"value": [1]}),
            json!({"value": [1], "@odata.nextLink": ""}),
        ] {
            server.reset().await;
            Mock::given(path("/items"))
                .respond_with(ResponseTemplate::new(200).set_body_json(last))
                .mount(&server)
                .await;
            assert_eq!(h.run_all("list", json!({})).await, Ok(json!([1])));
        }
    })
    .await;
}

#[tokio::test]
async fn next_url_on_another_origin_is_refused_and_never_requested() {
    bounded(async {
        let server = MockServer::start().await;
        let elsewhere = MockServer::start().await;
        let other = format!("{}/items?$skiptoken=s3cret-token", elsewhere.uri());
        Mock::given(path("/items"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"value": [1, 2], "@odata.nextLink": other})),
            )
            .mount(&server)
            .await;
        let h = next_url_spec(&server.uri());
        let r = h.run_all("list", json!({})).await;
        assert_error(&r, ErrorClass::System, "invalid_response");
        let e = r.unwrap_err();
        assert!(e.message.contains("another origin"), "{e}");
        assert!(!e.message.contains("s3cret"), "{e}");
        assert!(!e.message.contains(&elsewhere.uri()), "{e}");
        let sent_elsewhere = elsewhere.received_requests().await.unwrap_or_default();
        assert!(sent_elsewhere.is_empty(), "{sent_elsewhere:?}");
    })
    .await;
}

#[tokio::test]
async fn a_next_url_that_does_not_parse_is_invalid_response() {
    bounded(async {
        let server = MockServer::start().await;
        Mock::given(path("/items"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"value": [1], "@odata.nextLink": "http://[::1/items"})),
            )
            .mount(&server)
            .await;
        let h = next_url_spec(&server.uri());
        assert_error(
            &h.run_all("list", json!({})).await,
            ErrorClass::System,
            "invalid_response",
        );
    })
    .await;
}

/// One GET action whose reply is read as `format`, with a body limit.
fn format_spec(base: &str, format: &str) -> Harness {
    let rest = format!(
        "actions:\n  get:\n    description: Download a file.\n    scope: read\n    maxResponseBytes: 64\n    request:\n      method: GET\n      path: /file\n    response:\n      format: {format}\n      output: {{ content: $, size: \"{{{{ response | string | length }}}}\" }}\n"
    );
    Harness::new(base, &rest)
}

async fn serve_file(server: &MockServer, body: Vec<u8>, content_type: &str) {
    server.reset().await;
    Mock::given(path("/file"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, content_type))
        .mount(server)
        .await;
}

#[tokio::test]
async fn format_text_keeps_a_body_that_happens_to_be_json_as_text() {
    bounded(async {
        let server = MockServer::start().await;
        let h = format_spec(&server.uri(), "text");
        for body in ["42", "\"hi\"", "{\"a\": 1}", "", "h\u{e9}llo\r\n"] {
            serve_file(&server, body.as_bytes().to_vec(), "text/plain").await;
            let out = h.run("get", json!({})).await;
            assert_eq!(
                out,
                Ok(json!({"content": body, "size": body.chars().count()})),
                "{body:?}"
            );
        }
        // Declared as JSON, still text: `format` wins over the content type.
        serve_file(&server, b"[1, 2]".to_vec(), "application/json").await;
        assert_eq!(
            h.run("get", json!({})).await.map(|v| v["content"].clone()),
            Ok(json!("[1, 2]"))
        );
        // The default format parses it, as before.
        let json_h = format_spec(&server.uri(), "json");
        serve_file(&server, b"42".to_vec(), "text/plain").await;
        assert_eq!(
            json_h
                .run("get", json!({}))
                .await
                .map(|v| v["content"].clone()),
            Ok(json!(42))
        );
    })
    .await;
}

#[tokio::test]
async fn format_base64_returns_a_pngs_exact_bytes() {
    use base64::Engine as _;
    bounded(async {
        let server = MockServer::start().await;
        // A PNG's signature, its IHDR chunk head and bytes that are not UTF-8.
        let png: Vec<u8> = vec![
            0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R',
            0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0xff, 0xfe, 0x00,
        ];
        serve_file(&server, png.clone(), "image/png").await;
        let h = format_spec(&server.uri(), "base64");
        let out = h.run("get", json!({})).await.expect("the file");
        let text = out["content"].as_str().expect("a base64 string");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("standard base64");
        assert_eq!(decoded, png);
    })
    .await;
}

#[tokio::test]
async fn format_text_refuses_invalid_utf8_naming_the_offset() {
    bounded(async {
        let server = MockServer::start().await;
        serve_file(&server, b"abc\xff\xfedef".to_vec(), "text/plain").await;
        let h = format_spec(&server.uri(), "text");
        let r = h.run("get", json!({})).await;
        assert_error(&r, ErrorClass::System, "invalid_response");
        let e = r.unwrap_err();
        assert!(e.message.contains("byte 3"), "{e}");
        assert!(!e.message.contains("abc"), "{e}");
    })
    .await;
}

#[tokio::test]
async fn a_text_or_base64_body_over_the_limit_is_response_too_large() {
    bounded(async {
        let server = MockServer::start().await;
        for format in ["text", "base64"] {
            let h = format_spec(&server.uri(), format);
            // 64 bytes are 88 base64 characters: the limit is on the raw bytes.
            serve_file(&server, vec![b'a'; 64], "text/plain").await;
            assert!(
                h.run("get", json!({})).await.is_ok(),
                "{format}: 64 bytes fit"
            );
            serve_file(&server, vec![b'a'; 65], "text/plain").await;
            assert_error(
                &h.run("get", json!({})).await,
                ErrorClass::System,
                "response_too_large",
            );
        }
    })
    .await;
}
