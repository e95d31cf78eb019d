//! Per-call overhead of the runtime with no network: `Dispatcher::execute` of a typical action
//! (a POST with a JSON body templated from several inputs, bearer auth, an input schema with
//! several fields, an output mapping and output schema), answered by an `InMemoryTransport`.
//!
//! ```text
//! cargo bench -p connector-runtime --bench overhead
//! ```
//!
//! - `overhead/execute`: one call on a context made beforehand (input validation, request
//!   templating, auth, the policy-enforcing client with its timeout and cancellation, body
//!   buffering, response mapping, output validation);
//! - `overhead/context_and_execute`: the same plus `InstanceRuntime::context` (a fresh context,
//!   as a caller makes per call).
//!
//! Each is measured twice: in wall-clock time (`overhead/...`) and in the CPU time of the
//! benchmark thread (`overhead_cpu/...`, `CLOCK_THREAD_CPUTIME_ID`). Everything runs on that one
//! thread (a current-thread tokio runtime, no network), so the CPU time is the cost of a call,
//! and it does not grow when other processes compete for the cores as wall-clock time does.
//!
//! Results are recorded in docs/performance.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use connector_runtime::{
    CancellationToken, ConnectorInstance, DeclarativeConnector, Dispatcher, ExecuteOptions,
    InMemoryTransport, InstanceRuntime,
};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

const SPEC: &str = r#"id: .bench_alerts
displayName: Bench alerts
description: A typical create action for the per-call overhead benchmark.
minimumLicense: basic
baseUrl: https://api.example.invalid
auth:
  types: [bearer]
policies:
  retry: { presets: [rate_limit], maxRetries: 2 }
actions:
  createAlert:
    description: Create an alert.
    scope: write
    input:
      type: object
      additionalProperties: false
      required: [message, priority]
      properties:
        message: { type: string, minLength: 1, maxLength: 130 }
        alias: { type: string, maxLength: 512 }
        description: { type: string, maxLength: 15000 }
        priority: { type: string, enum: [P1, P2, P3, P4, P5] }
        tags: { type: array, maxItems: 20, items: { type: string, maxLength: 50 } }
        responders: { type: integer, minimum: 0, maximum: 50 }
        notify: { type: boolean }
    output:
      type: object
      required: [id, status]
      properties:
        id: { type: string }
        status: { type: string }
        requestId: { type: string }
    request:
      method: POST
      path: /v2/alerts
      headers:
        X-Request-Source: connector-runtime
      body:
        json:
          message: "{{ input.message }}"
          alias: "{{ input.alias }}"
          description: "Reported: {{ input.description }}"
          priority: "{{ input.priority }}"
          tags: "{{ input.tags }}"
          responders: "{{ input.responders }}"
          notify: "{{ input.notify }}"
          source: connector-runtime
    response:
      output:
        id: $.data.alertId
        status: $.result
        requestId: $.requestId
"#;

const REPLY: &[u8] =
    br#"{"result":"Request will be processed","took":0.01,"requestId":"43a29c5c-3dbf-4fa4-9c26-f4f71023e120","data":{"alertId":"7b5a2c1e"}}"#;

fn input() -> Value {
    json!({
        "message": "Disk usage above 90% on db-01",
        "alias": "disk-db-01",
        "description": "The data volume of db-01 is at 93% and growing 1% per hour.",
        "priority": "P2",
        "tags": ["disk", "db", "production"],
        "responders": 3,
        "notify": true,
    })
}

fn setup() -> (Dispatcher, InstanceRuntime) {
    let loaded = connector_spec::load_str(
        "bench_alerts.yaml",
        SPEC,
        &connector_spec::LoadOptions::default(),
    );
    let spec = Arc::new(
        loaded
            .spec
            .clone()
            .unwrap_or_else(|| panic!("spec errors:\n{}", loaded.render(false))),
    );
    let dispatcher = Dispatcher::new(Arc::new(DeclarativeConnector::new(Arc::clone(&spec))))
        .expect("dispatcher");
    let instance = ConnectorInstance::new(spec, json!({}), json!({"token": "bench-token-123"}))
        .expect("valid instance");
    let transport = InMemoryTransport::new(|req: reqwest::Request| {
        // A light check that what would go on the wire is the real request.
        let ok = req.method() == reqwest::Method::POST
            && req.url().path() == "/v2/alerts"
            && req.headers().contains_key(reqwest::header::AUTHORIZATION)
            && req.body().and_then(|b| b.as_bytes()).is_some();
        let status = if ok { 202 } else { 400 };
        Ok(http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Bytes::from_static(REPLY))
            .expect("response"))
    });
    let runtime = InstanceRuntime::new(instance)
        .expect("runtime")
        .with_transport(Arc::new(transport));
    (dispatcher, runtime)
}

/// CPU time consumed by the calling thread.
struct ThreadCpuTime {
    wall: WallTime,
}

fn thread_cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the OS defines.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_now()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu_now().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}

fn overhead<M: Measurement + 'static>(c: &mut Criterion<M>, group: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (dispatcher, runtime) = setup();
    let ctx = runtime.context("", CancellationToken::new());
    let expected = json!({
        "id": "7b5a2c1e",
        "status": "Request will be processed",
        "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120",
    });
    let first =
        rt.block_on(dispatcher.execute(&ctx, "createAlert", input(), ExecuteOptions::default()));
    assert_eq!(first, Ok(expected), "the action runs end to end in memory");

    let mut g = c.benchmark_group(group);
    g.bench_function("execute", |b| {
        b.iter_batched(
            input,
            |input| {
                black_box(
                    rt.block_on(dispatcher.execute(
                        &ctx,
                        "createAlert",
                        input,
                        ExecuteOptions::default(),
                    ))
                    .expect("call succeeds"),
                )
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("context_and_execute", |b| {
        b.iter_batched(
            input,
            |input| {
                let ctx = runtime.context("", CancellationToken::new());
                black_box(
                    rt.block_on(dispatcher.execute(
                        &ctx,
                        "createAlert",
                        input,
                        ExecuteOptions::default(),
                    ))
                    .expect("call succeeds"),
                )
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn wall(c: &mut Criterion) {
    overhead(c, "overhead");
}

fn cpu(c: &mut Criterion<ThreadCpuTime>) {
    overhead(c, "overhead_cpu");
}

criterion_group! {
    name = wall_clock;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = wall
}
criterion_group! {
    name = cpu_time;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(5))
        .with_measurement(ThreadCpuTime { wall: WallTime });
    targets = cpu
}
criterion_main!(wall_clock, cpu_time);
