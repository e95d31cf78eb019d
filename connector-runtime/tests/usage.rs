//! Token usage end to end: an action with `usage:` against a loopback model API, streamed or
//! not, recorded per instance, model and day, reported by a `handler: usage` action, emitted as
//! a tracing event and a `RuntimeEvents::model_usage` event, with no secret in any of them.

mod log_support;
mod policy_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use connector_runtime::usage::{LocalUsage, TokenUsage, UsageLedger};
use connector_runtime::{ConnectorInstance, InstanceRuntime, Registry, RuntimeEvents};
use futures::StreamExt;
use log_support::{captured_logs, logs_text};
use policy_support::*;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CANARY: &str = "cAnArY-usage-51c0de";

const SPEC: &str = r#"
    auth:
      types: [bearer]
    config:
      type: object
      properties:
        defaultModel: { type: string, maxLength: 64, default: m-default }
    actions:
      chat:
        description: One completion.
        scope: write
        input:
          type: object
          properties:
            model: { type: string, maxLength: 64 }
            prompt: { type: string, maxLength: 1000 }
        request:
          method: POST
          path: /chat
          body:
            json:
              model: "{{ input.model | default(config.defaultModel) }}"
              prompt: "{{ input.prompt | default('') }}"
        response:
          output:
            text: $.text
            usage:
              promptTokens: $.usage.prompt_tokens
              completionTokens: $.usage.completion_tokens
        usage:
          model: "{{ input.model | default(config.defaultModel) }}"
          promptTokens: $.usage.promptTokens
          completionTokens: $.usage.completionTokens
      leaky:
        description: A model template that reads a secret.
        scope: write
        request: { method: POST, path: /chat }
        response:
          output:
            usage: { totalTokens: $.usage.total_tokens }
        usage:
          model: "m-{{ secrets.token }}"
          totalTokens: $.usage.totalTokens
      stream:
        description: A streamed completion.
        scope: write
        input:
          type: object
          properties:
            model: { type: string, maxLength: 64 }
        supportsStreaming: true
        streaming: { format: sse, doneMarker: "[DONE]" }
        request: { method: POST, path: /stream }
        response:
          output:
            text: $.text
            usage:
              promptTokens: $.usage.prompt_tokens
              completionTokens: $.usage.completion_tokens
              totalTokens: $.usage.total_tokens
        usage:
          model: "{{ input.model | default(config.defaultModel) }}"
          promptTokens: $.usage.promptTokens
          completionTokens: $.usage.completionTokens
          totalTokens: $.usage.totalTokens
      getDashboard:
        description: Token usage per model and day.
        scope: read
        handler: usage
"#;

/// Counts what `RuntimeEvents::model_usage` was told.
#[derive(Default)]
struct Tokens {
    calls: AtomicU64,
    prompt: AtomicU64,
}

impl RuntimeEvents for Tokens {
    fn model_usage(&self, connector_type: &str, usage: &TokenUsage) {
        assert_eq!(connector_type, ".wire_test");
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.prompt.fetch_add(usage.prompt_tokens, Ordering::SeqCst);
    }
}

/// An instance of [`SPEC`] on `base`, recording into `ledger` as `instance_id`.
fn runtime(
    base: &str,
    ledger: Arc<dyn UsageLedger>,
    instance_id: &str,
    events: Arc<Tokens>,
) -> Harness {
    let mut h = Harness::with(base, SPEC, json!({}), json!({ "token": CANARY }));
    h.runtime = h
        .runtime
        .with_usage(ledger, instance_id)
        .with_events(events);
    h
}

fn reply(prompt: u64, completion: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "text": "hello",
        "usage": { "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion },
    }))
}

async fn dashboard(h: &Harness, input: Value) -> Value {
    h.run("getDashboard", input)
        .await
        .expect("the report answers")
}

#[tokio::test]
async fn successful_calls_are_recorded_per_model_and_the_report_sums_them() {
    bounded(async {
        captured_logs();
        let server = MockServer::start().await;
        Mock::given(path("/chat"))
            .and(body_partial_json(json!({"prompt": "fail"})))
            .respond_with(ResponseTemplate::new(400))
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/chat"))
            .and(body_partial_json(json!({"model": "m-a"})))
            .respond_with(reply(10, 4))
            .mount(&server)
            .await;
        Mock::given(path("/chat"))
            .respond_with(reply(100, 1))
            .mount(&server)
            .await;
        let events = Arc::new(Tokens::default());
        let h = runtime(&server.uri(), Arc::new(LocalUsage::default()), "inst-1", Arc::clone(&events));
        for _ in 0..2 {
            let out = h.run("chat", json!({"model": "m-a"})).await.unwrap();
            assert_eq!(out["usage"], json!({"promptTokens": 10, "completionTokens": 4}));
        }
        h.run("chat", json!({})).await.unwrap();
        // A failed call made no model call to record.
        h.run("chat", json!({"prompt": "fail"})).await.unwrap_err();

        let today = connector_runtime::usage::today();
        let r = dashboard(&h, json!({})).await;
        assert_eq!(r["to"], today);
        assert_eq!(
            r["totals"],
            json!({"calls": 3, "promptTokens": 120, "completionTokens": 9, "totalTokens": 129})
        );
        assert_eq!(
            r["models"],
            json!([
                {"model": "m-a", "calls": 2, "promptTokens": 20, "completionTokens": 8, "totalTokens": 28},
                {"model": "m-default", "calls": 1, "promptTokens": 100, "completionTokens": 1, "totalTokens": 101},
            ])
        );
        assert_eq!(r["days"][0]["day"], today);
        let only_a = dashboard(&h, json!({"model": "m-a"})).await;
        assert_eq!(only_a["totals"]["calls"], 2);
        let yesterday_only = dashboard(&h, json!({"from": "2020-01-01", "to": "2020-01-31"})).await;
        assert_eq!(yesterday_only["totals"]["calls"], 0);
        let bad = h.run("getDashboard", json!({"to": "2026-02-30"})).await.unwrap_err();
        assert_eq!(bad.code, "invalid_input");

        assert_eq!(events.calls.load(Ordering::SeqCst), 3);
        assert_eq!(events.prompt.load(Ordering::SeqCst), 120);
        let logs = logs_text();
        let line = logs
            .lines()
            .find(|l| l.contains("model usage") && l.contains("inst-1") && l.contains("m-default"))
            .unwrap_or_else(|| panic!("no usage event in:\n{logs}"));
        assert!(line.contains("prompt_tokens=100"), "{line}");
        assert!(line.contains("total_tokens=101"), "{line}");
    })
    .await;
}

#[tokio::test]
async fn instances_sharing_a_ledger_keep_their_own_totals() {
    bounded(async {
        let server = MockServer::start().await;
        Mock::given(path("/chat"))
            .respond_with(reply(3, 2))
            .mount(&server)
            .await;
        let ledger: Arc<dyn UsageLedger> = Arc::new(LocalUsage::default());
        let one = runtime(&server.uri(), Arc::clone(&ledger), "one", Arc::default());
        let two = runtime(&server.uri(), Arc::clone(&ledger), "two", Arc::default());
        one.run("chat", json!({})).await.unwrap();
        for _ in 0..3 {
            two.run("chat", json!({})).await.unwrap();
        }
        assert_eq!(dashboard(&one, json!({})).await["totals"]["calls"], 1);
        assert_eq!(
            dashboard(&two, json!({})).await["totals"]["totalTokens"],
            15
        );
    })
    .await;
}

#[tokio::test]
async fn a_secret_read_by_the_model_template_never_reaches_the_ledger_or_the_logs() {
    bounded(async {
        captured_logs();
        let server = MockServer::start().await;
        Mock::given(path("/chat"))
            .respond_with(reply(1, 1))
            .mount(&server)
            .await;
        let h = runtime(
            &server.uri(),
            Arc::new(LocalUsage::default()),
            "leaky-inst",
            Arc::default(),
        );
        h.run("leaky", json!({})).await.unwrap();
        let r = dashboard(&h, json!({})).await;
        assert_eq!(r["totals"]["totalTokens"], 2);
        let model = r["models"][0]["model"].as_str().unwrap().to_string();
        assert!(
            model.starts_with("m-") && !model.contains(CANARY),
            "{model}"
        );
        assert!(logs_text().contains("leaky-inst"));
        assert!(!logs_text().contains(CANARY));
    })
    .await;
}

fn sse(events: &[Value]) -> String {
    let mut body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    body
}

#[tokio::test]
async fn a_stream_is_recorded_once_when_it_ends_with_the_last_counts() {
    bounded(async {
        let server = MockServer::start().await;
        let body = sse(&[
            json!({"text": "he"}),
            json!({"text": "llo", "usage": {"prompt_tokens": 7}}),
            json!({"text": "", "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}}),
        ]);
        Mock::given(path("/stream"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
            .mount(&server)
            .await;
        let events = Arc::new(Tokens::default());
        let h = runtime(&server.uri(), Arc::new(LocalUsage::default()), "s", Arc::clone(&events));
        let s = h
            .dispatcher
            .stream(&h.ctx(), "stream", json!({"model": "m-s"}))
            .await
            .unwrap();
        let got: Vec<_> = s.collect().await;
        assert_eq!(got.len(), 3);
        let r = dashboard(&h, json!({})).await;
        assert_eq!(
            r["models"],
            json!([{"model": "m-s", "calls": 1, "promptTokens": 7, "completionTokens": 5, "totalTokens": 12}])
        );
        assert_eq!(events.calls.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test]
async fn a_stream_dropped_early_is_recorded_with_what_it_reported() {
    bounded(async {
        // Writes the prompt count at once, then a completion count every 20 ms for 5 s.
        let (base, _) = raw_server(|mut sock| async move {
            let _ = read_head(&mut sock).await;
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
            if !write(&mut sock, head.as_bytes()).await {
                return;
            }
            for i in 0..250u64 {
                let ev = format!("data: {}\n\n", json!({"usage": {"prompt_tokens": 40, "completion_tokens": i}}));
                let chunk = format!("{:x}\r\n{ev}\r\n", ev.len());
                if !write(&mut sock, chunk.as_bytes()).await {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        let h = runtime(&base, Arc::new(LocalUsage::default()), "d", Arc::default());
        let mut s = h.dispatcher.stream(&h.ctx(), "stream", json!({})).await.unwrap();
        for _ in 0..3 {
            s.next().await.unwrap().unwrap();
        }
        drop(s);
        let start = Instant::now();
        loop {
            let r = dashboard(&h, json!({})).await;
            if r["totals"]["calls"] == 1 {
                assert_eq!(r["totals"]["promptTokens"], 40);
                assert_eq!(r["totals"]["completionTokens"], 2);
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(3), "not recorded: {r}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[test]
fn an_instance_without_a_ledger_keeps_its_usage_in_memory() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = MockServer::start().await;
        Mock::given(path("/chat"))
            .respond_with(reply(2, 2))
            .mount(&server)
            .await;
        let spec = Arc::new(policy_support::spec(&server.uri(), SPEC));
        let dispatcher = Registry::new().register_spec((*spec).clone()).unwrap();
        let instance = ConnectorInstance::new(spec, json!({}), json!({"token": CANARY})).unwrap();
        let runtime = InstanceRuntime::new(instance).unwrap();
        let ctx = runtime.context("", connector_runtime::CancellationToken::new());
        let opts = connector_runtime::ExecuteOptions::default;
        dispatcher
            .execute(&ctx, "chat", json!({}), opts())
            .await
            .unwrap();
        let r = dispatcher
            .execute(&ctx, "getDashboard", json!({}), opts())
            .await
            .unwrap();
        assert_eq!(r["totals"]["totalTokens"], 4);
    });
}
