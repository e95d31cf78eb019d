//! Fault injection against loopback servers: every fault ends in success or a typed error,
//! nothing panics and nothing waits without bound (each body runs under a 10 s timeout).

mod policy_support;

use std::time::{Duration, Instant};

use connector_runtime::{CancellationToken, ErrorClass, ExecuteOptions};
use futures::StreamExt;
use policy_support::*;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn get_spec(base: &str, policies: &str) -> Harness {
    let rest = format!(
        "{policies}\nactions:\n  get:\n    description: Read a thing.\n    scope: read\n    request: {{ method: GET, path: /thing }}\n"
    );
    Harness::new(base, &rest)
}

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": true}))
}

#[tokio::test]
async fn rate_limited_replies_with_retry_after_end_in_success() {
    bounded(async {
        let server = MockServer::start().await;
        let past = httpdate::fmt_http_date(std::time::SystemTime::now() - Duration::from_secs(30));
        let script = Script::new(vec![
            ResponseTemplate::new(429).insert_header("Retry-After", "0"),
            ResponseTemplate::new(429).insert_header("Retry-After", past.as_str()),
            ResponseTemplate::new(503).insert_header("Retry-After", "0"),
            ok(),
        ]);
        Mock::given(path("/thing"))
            .respond_with(script.clone())
            .mount(&server)
            .await;
        // The backoff would wait 2 s; Retry-After (now, or a date in the past) means no wait.
        let h = get_spec(
            &server.uri(),
            "policies:\n  retry: { presets: [rate_limit], maxRetries: 3, backoff: { initialDelayMs: 2000, jitter: false } }",
        );
        let start = Instant::now();
        assert_eq!(h.run("get", json!({})).await, Ok(json!({"ok": true})));
        assert_eq!(script.hits(), 4);
        assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    })
    .await;
}

#[tokio::test]
async fn a_503_storm_beyond_max_retries_is_a_transient_error_after_exactly_n_plus_one_attempts() {
    bounded(async {
        let server = MockServer::start().await;
        Mock::given(path("/thing"))
            .respond_with(
                ResponseTemplate::new(503)
                    .insert_header("Retry-After", "0")
                    .set_body_json(json!({"message": "overloaded"})),
            )
            .expect(4)
            .mount(&server)
            .await;
        let h = get_spec(
            &server.uri(),
            "policies:\n  retry: { presets: [server_errors], maxRetries: 3, backoff: { initialDelayMs: 5 } }",
        );
        let r = h.run("get", json!({})).await;
        assert_error(&r, ErrorClass::Transient, "http_status");
        let e = r.unwrap_err();
        assert_eq!(e.status, Some(503));
        assert!(e.message.contains("overloaded"), "{e}");
        server.verify().await;
    })
    .await;
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    bounded(async {
        let (base, _) = raw_server(|mut sock| async move {
            let _ = read_head(&mut sock).await;
            tokio::time::sleep(Duration::from_secs(8)).await;
            drop(sock);
        })
        .await;
        let h = get_spec(&base, "policies:\n  timeouts: { totalMs: 150 }");
        let start = Instant::now();
        let r = h.run("get", json!({})).await;
        assert_error(&r, ErrorClass::Transient, "timeout");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    })
    .await;
}

#[tokio::test]
async fn a_body_that_trickles_past_the_timeout_times_out() {
    bounded(async {
        let (base, _) = raw_server(|mut sock| async move {
            let _ = read_head(&mut sock).await;
            let head =
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
            if !write(&mut sock, head.as_bytes()).await {
                return;
            }
            // One byte every 50 ms: 1000 bytes would take 50 s.
            for _ in 0..1000 {
                if !write(&mut sock, b" ").await {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        let h = get_spec(&base, "policies:\n  timeouts: { totalMs: 300 }");
        let start = Instant::now();
        let r = h.run("get", json!({})).await;
        assert_error(&r, ErrorClass::Transient, "timeout");
        assert_eq!(r.unwrap_err().status, Some(200));
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
    })
    .await;
}

/// A server that announces 1000 bytes, sends 100 and closes (with a reset when `rst`).
async fn short_body_server(rst: bool) -> String {
    let (base, _) = raw_server(move |mut sock: TcpStream| async move {
        let _ = read_head(&mut sock).await;
        let head =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
        let _ = write(&mut sock, head.as_bytes()).await;
        let _ = write(&mut sock, &[b' '; 100]).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        if rst {
            let _ = sock.set_zero_linger();
        }
        drop(sock);
    })
    .await;
    base
}

#[tokio::test]
async fn a_connection_closed_mid_body_is_a_typed_error() {
    bounded(async {
        for rst in [false, true] {
            let base = short_body_server(rst).await;
            let h = get_spec(&base, "");
            let r = h.run("get", json!({})).await;
            assert_error(&r, ErrorClass::Transient, "connection_failed");
            assert!(!r.unwrap_err().message.contains("127.0.0.1"));
        }
    })
    .await;
}

#[tokio::test]
async fn a_get_whose_body_breaks_is_retried_like_one_whose_connection_breaks() {
    bounded(async {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = std::sync::Arc::clone(&calls);
        let (base, accepted) = raw_server(move |mut sock: TcpStream| {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                let _ = read_head(&mut sock).await;
                if n == 0 {
                    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n";
                    let _ = write(&mut sock, head.as_bytes()).await;
                    let _ = write(&mut sock, b"{\"id\":").await;
                    let _ = sock.set_zero_linger();
                } else {
                    let body = "{\"id\":1}";
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = write(&mut sock, reply.as_bytes()).await;
                }
            }
        })
        .await;
        let h = get_spec(
            &base,
            "policies:\n  retry: { presets: [server_errors], maxRetries: 2, backoff: { initialDelayMs: 1, maxDelayMs: 2 } }",
        );
        let r = h.run("get", json!({})).await;
        assert_eq!(r.expect("the second attempt succeeds"), json!({ "id": 1 }));
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    })
    .await;
}

#[tokio::test]
async fn a_reply_that_is_not_http_is_a_typed_error() {
    bounded(async {
        let (base, _) = raw_server(|mut sock| async move {
            let _ = read_head(&mut sock).await;
            let _ = write(&mut sock, b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
        })
        .await;
        let h = get_spec(&base, "");
        let r = h.run("get", json!({})).await;
        let e = r.expect_err("garbage is an error");
        assert!(
            matches!(e.class, ErrorClass::Transient | ErrorClass::System),
            "{e:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_malformed_json_body_is_a_typed_error_not_a_silent_fallback() {
    bounded(async {
        let server = MockServer::start().await;
        Mock::given(path("/thing"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw("{\"id\": \"abc\", \"name\": ", "application/json"),
            )
            .mount(&server)
            .await;
        Mock::given(path("/text"))
            .respond_with(ResponseTemplate::new(200).set_body_raw("{ not json", "text/plain"))
            .mount(&server)
            .await;
        let actions = |extra: &str| {
            format!(
                "actions:\n  get:\n    description: Read.\n    scope: read\n    request: {{ method: GET, path: /thing }}\n{extra}  text:\n    description: Read text.\n    scope: read\n    request: {{ method: GET, path: /text }}\n"
            )
        };
        for extra in ["", "    response:\n      output: { id: $.id }\n"] {
            let h = Harness::new(&server.uri(), &actions(extra));
            let r = h.run("get", json!({})).await;
            assert_error(&r, ErrorClass::System, "invalid_response");
            let e = r.unwrap_err();
            assert_eq!(e.status, Some(200));
            assert!(e.message.contains("line 1 column"), "{e}");
            assert!(!e.message.contains("abc"), "the body is not echoed: {e}");
        }
        // A body that does not claim to be JSON is returned as text.
        let h = Harness::new(&server.uri(), &actions(""));
        assert_eq!(h.run("text", json!({})).await, Ok(json!("{ not json")));
    })
    .await;
}

fn stream_spec(base: &str, streaming: &str) -> Harness {
    let rest = format!(
        "actions:\n  events:\n    description: Stream events.\n    scope: read\n    request: {{ method: GET, path: /events }}\n    supportsStreaming: true\n    streaming: {streaming}\n"
    );
    Harness::new(base, &rest)
}

/// Drain a stream: the events before it ended, and the error it ended with, if any.
async fn drain(h: &Harness) -> (Vec<Value>, Option<connector_runtime::ActionError>) {
    let mut s = h
        .dispatcher
        .stream(&h.ctx(), "events", json!({}))
        .await
        .expect("the stream starts");
    let mut events = Vec::new();
    while let Some(ev) = s.next().await {
        match ev {
            Ok(ev) => events.push(ev.data),
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

#[tokio::test]
async fn a_truncated_sse_stream_ends_with_a_typed_error_or_ends() {
    bounded(async {
        // Chunked: two whole events and half of a third, then the connection closes without
        // the final chunk.
        let (base, _) = raw_server(|mut sock| async move {
            let _ = read_head(&mut sock).await;
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
            let _ = write(&mut sock, head.as_bytes()).await;
            for ev in ["data: {\"n\":1}\n\n", "data: {\"n\":2}\n\n", "data: {\"n\""] {
                let chunk = format!("{:x}\r\n{ev}\r\n", ev.len());
                let _ = write(&mut sock, chunk.as_bytes()).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        })
        .await;
        let h = stream_spec(&base, "{ format: sse, doneMarker: \"[DONE]\" }");
        let (events, err) = drain(&h).await;
        assert_eq!(events, vec![json!({"n": 1}), json!({"n": 2})]);
        let e = err.expect("a truncated chunked body is an error");
        assert_eq!(e.class, ErrorClass::Transient, "{e:?}");

        // Content-Length: promised 500 bytes, sent fewer, closed.
        let (base, _) = raw_server(|mut sock| async move {
            let _ = read_head(&mut sock).await;
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 500\r\n\r\ndata: {\"n\":1}\n\ndata: trunc";
            let _ = write(&mut sock, head.as_bytes()).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        })
        .await;
        let h = stream_spec(&base, "{ format: sse }");
        let (events, err) = drain(&h).await;
        assert_eq!(events.first(), Some(&json!({"n": 1})));
        assert!(!events.contains(&json!("trunc")), "a partial event is not delivered");
        assert!(err.is_some(), "a short body is an error");

        // A complete body that ends inside an event (no blank line): the stream just ends.
        let server = MockServer::start().await;
        Mock::given(path("/events"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                "data: {\"n\":1}\n\ndata: {\"n\":2}",
                "text/event-stream",
            ))
            .mount(&server)
            .await;
        let h = stream_spec(&server.uri(), "{ format: sse }");
        let (events, err) = drain(&h).await;
        assert_eq!(events.first(), Some(&json!({"n": 1})));
        assert!(err.is_none(), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn a_bad_ndjson_line_is_a_typed_error() {
    bounded(async {
        let server = MockServer::start().await;
        Mock::given(path("/events"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw("{\"n\":1}\nnot json\n{\"n\":3}\n", "application/x-ndjson"),
            )
            .mount(&server)
            .await;
        let h = stream_spec(&server.uri(), "{ format: ndjson }");
        let mut s = h
            .dispatcher
            .stream(&h.ctx(), "events", json!({}))
            .await
            .expect("starts");
        assert_eq!(s.next().await.unwrap().unwrap().data, json!({"n": 1}));
        let e = s.next().await.unwrap().unwrap_err();
        assert_eq!((e.class, e.code), (ErrorClass::System, "invalid_stream"));
    })
    .await;
}

#[tokio::test]
async fn a_redirect_loop_is_a_typed_error() {
    bounded(async {
        let server = MockServer::start().await;
        Mock::given(path("/thing"))
            .respond_with(ResponseTemplate::new(302).insert_header("Location", "/loop"))
            .mount(&server)
            .await;
        Mock::given(path("/loop"))
            .respond_with(ResponseTemplate::new(302).insert_header("Location", "/thing"))
            .mount(&server)
            .await;
        let h = get_spec(&server.uri(), "");
        let r = h.run("get", json!({})).await;
        assert_error(&r, ErrorClass::System, "too_many_redirects");
        let hits = server.received_requests().await.unwrap().len();
        assert!(
            hits <= connector_runtime::client::MAX_REDIRECTS + 1,
            "{hits}"
        );
    })
    .await;
}

#[tokio::test]
async fn cancelling_during_a_retry_wait_ends_the_call_promptly() {
    bounded(async {
        let server = MockServer::start().await;
        Mock::given(path("/thing"))
            // A wait within maxWaitMs (a longer one fails at once without waiting).
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "30"))
            .expect(1)
            .mount(&server)
            .await;
        let h = get_spec(
            &server.uri(),
            "policies:\n  retry: { presets: [rate_limit], maxRetries: 3, maxWaitMs: 60000 }",
        );
        let cancel = CancellationToken::new();
        let ctx = h.runtime.context("", cancel.clone());
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            c.cancel();
        });
        let start = Instant::now();
        let r = h
            .dispatcher
            .execute(&ctx, "get", json!({}), ExecuteOptions::default())
            .await;
        assert_error(&r, ErrorClass::Transient, "cancelled");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        server.verify().await;
    })
    .await;
}

#[tokio::test]
async fn cancelling_a_slow_request_ends_it_promptly() {
    bounded(async {
        let (base, _) = raw_server(|mut sock| async move {
            let _ = read_head(&mut sock).await;
            tokio::time::sleep(Duration::from_secs(8)).await;
        })
        .await;
        let h = get_spec(&base, "");
        let cancel = CancellationToken::new();
        let ctx = h.runtime.context("", cancel.clone());
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            c.cancel();
        });
        let start = Instant::now();
        let r = h
            .dispatcher
            .execute(&ctx, "get", json!({}), ExecuteOptions::default())
            .await;
        assert_error(&r, ErrorClass::Transient, "cancelled");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    })
    .await;
}
