//! Listing throughput: 20,000 records over 200 cursor-paginated pages (100 records each) from a
//! loopback HTTP server with bearer auth, read through the runtime and by a hand-written reqwest
//! loop doing the same requests against the same server.
//!
//! ```text
//! cargo bench -p connector-runtime --bench throughput
//! ```
//!
//! The server is `bench_pages::PageServer` (the same pages `cargo xtask bench-e2e` serves): hyper
//! on 127.0.0.1, on its own thread, serving precomputed page bodies, so it does as little work
//! per request as possible. Criterion reports `thrpt`
//! in records per second for:
//!
//! - `throughput/runtime_execute_all_pages`: `Dispatcher::execute` with `all_pages: true` (input
//!   validation, request templating, auth, the policy-enforcing client, the pagination stream);
//! - `throughput/runtime_pages_stream`: the same listing through `DeclarativeConnector::pages`;
//! - `throughput/reqwest_loop`: a hand-written loop on one `reqwest::Client` (same bearer header
//!   and query, parse JSON, follow the cursor, collect the records).
//!
//! When run as a benchmark (`--bench`), the run ends with an interleaved comparison (runtime and
//! loop alternating, so that load from other processes hits both alike) that prints the median
//! records per second of each and their ratio. Results are recorded in docs/performance.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench_pages::{PageServer, Shape};
use connector_runtime::{
    CancellationToken, ConnectorInstance, DeclarativeConnector, Dispatcher, ExecuteOptions,
    InstanceRuntime,
};
use criterion::{Criterion, Throughput};
use futures::StreamExt;
use serde_json::{Value, json};

const SHAPE: Shape = Shape {
    pages: 200,
    per_page: 100,
};
const RECORDS: usize = SHAPE.pages * SHAPE.per_page;
const TOKEN: &str = "bench-token.eyJhbGciOiJIUzI1NiJ9.c2lnbmF0dXJl";

fn spec_text(base: &str) -> String {
    format!(
        r#"id: .bench_list
displayName: Bench list
description: Lists records from a loopback server for the throughput benchmark.
minimumLicense: basic
baseUrl: {base}
auth:
  types: [bearer]
actions:
  list:
    description: List every record.
    scope: read
    input:
      type: object
      additionalProperties: false
      properties: {{}}
    request:
      method: GET
      path: /records
    pagination: {{ style: cursor, records: $.items, cursorParam: cursor, cursorPath: $.next, limitParam: limit, pageSize: 100 }}
"#
    )
}

struct RuntimeSide {
    dispatcher: Dispatcher,
    connector: DeclarativeConnector,
    runtime: InstanceRuntime,
}

fn runtime_side(base: &str) -> RuntimeSide {
    let text = spec_text(base);
    let loaded = connector_spec::load_str(
        "bench_list.yaml",
        &text,
        &connector_spec::LoadOptions::default(),
    );
    let spec = Arc::new(
        loaded
            .spec
            .clone()
            .unwrap_or_else(|| panic!("spec errors:\n{}", loaded.render(false))),
    );
    let connector = DeclarativeConnector::new(Arc::clone(&spec));
    let dispatcher = Dispatcher::new(Arc::new(DeclarativeConnector::new(Arc::clone(&spec))))
        .expect("dispatcher");
    let instance =
        ConnectorInstance::new(spec, json!({}), json!({"token": TOKEN})).expect("valid instance");
    let runtime = InstanceRuntime::new(instance).expect("runtime");
    RuntimeSide {
        dispatcher,
        connector,
        runtime,
    }
}

async fn via_execute(side: &RuntimeSide) -> Vec<Value> {
    let ctx = side.runtime.context("", CancellationToken::new());
    let out = side
        .dispatcher
        .execute(&ctx, "list", json!({}), ExecuteOptions { all_pages: true })
        .await
        .expect("listing succeeds");
    match out {
        Value::Array(records) => records,
        other => panic!("expected an array of records, got {other}"),
    }
}

async fn via_pages(side: &RuntimeSide) -> Vec<Value> {
    let ctx = side.runtime.context("", CancellationToken::new());
    let mut pages = side.connector.pages(ctx, "list", json!({}));
    let mut records = Vec::new();
    while let Some(page) = pages.next().await {
        records.extend(page.expect("page").records);
    }
    records
}

/// The hand-written loop: the same requests, bearer header, JSON parsing and cursor following.
async fn hand_loop(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let endpoint = reqwest::Url::parse(&format!("{base}{}", bench_pages::PATH)).expect("URL");
    let mut records = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", "100");
            if let Some(c) = &cursor {
                q.append_pair("cursor", c);
            }
        }
        let resp = client
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request");
        assert!(resp.status().is_success(), "status {}", resp.status());
        let mut body: Value = resp.json().await.expect("JSON body");
        if let Some(Value::Array(items)) = body.get_mut("items").map(Value::take) {
            records.extend(items);
        }
        match body.get("next") {
            Some(Value::String(next)) if !next.is_empty() => cursor = Some(next.clone()),
            _ => return records,
        }
    }
}

fn check(records: &[Value], what: &str) {
    assert_eq!(records.len(), RECORDS, "{what}: record count");
    assert_eq!(records[0]["id"], "rec-000000", "{what}: first record");
    assert_eq!(
        records[RECORDS - 1]["id"],
        json!(format!("rec-{:06}", RECORDS - 1)),
        "{what}: last record"
    );
}

/// CPU time consumed by the calling thread.
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let server = PageServer::start(SHAPE, TOKEN).expect("page server");
    let base = server.base_url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let side = runtime_side(&base);
    let client = reqwest::Client::new();

    // Both sides read exactly the same records before anything is timed.
    check(&rt.block_on(via_execute(&side)), "runtime execute");
    check(&rt.block_on(via_pages(&side)), "runtime pages");
    check(&rt.block_on(hand_loop(&client, &base)), "reqwest loop");

    let mut c = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(10))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("throughput");
        g.throughput(Throughput::Elements(RECORDS as u64));
        g.bench_function("runtime_execute_all_pages", |b| {
            b.iter(|| black_box(rt.block_on(via_execute(&side))))
        });
        g.bench_function("runtime_pages_stream", |b| {
            b.iter(|| black_box(rt.block_on(via_pages(&side))))
        });
        g.bench_function("reqwest_loop", |b| {
            b.iter(|| black_box(rt.block_on(hand_loop(&client, &base))))
        });
        g.finish();
    }
    c.final_summary();

    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test") {
        // Alternate the two so that load from other processes lands on both alike.
        // Besides wall-clock records per second, the CPU time the client thread spends per
        // listing (the server runs on its own thread).
        const ROUNDS: usize = 30;
        let mut runtime_rps = Vec::with_capacity(ROUNDS);
        let mut loop_rps = Vec::with_capacity(ROUNDS);
        let mut runtime_cpu = Vec::with_capacity(ROUNDS);
        let mut loop_cpu = Vec::with_capacity(ROUNDS);
        let timed = |f: &dyn Fn()| {
            let (t, cpu) = (Instant::now(), thread_cpu_now());
            f();
            let cpu_ms = (thread_cpu_now() - cpu).as_secs_f64() * 1e3;
            (RECORDS as f64 / t.elapsed().as_secs_f64(), cpu_ms)
        };
        let run_runtime = || {
            black_box(rt.block_on(via_execute(&side)));
        };
        let run_loop = || {
            black_box(rt.block_on(hand_loop(&client, &base)));
        };
        for round in 0..ROUNDS {
            let order: [(&dyn Fn(), bool); 2] = if round % 2 == 0 {
                [(&run_runtime, true), (&run_loop, false)]
            } else {
                [(&run_loop, false), (&run_runtime, true)]
            };
            for (f, is_runtime) in order {
                let (rps, cpu) = timed(f);
                if is_runtime {
                    runtime_rps.push(rps);
                    runtime_cpu.push(cpu);
                } else {
                    loop_rps.push(rps);
                    loop_cpu.push(cpu);
                }
            }
        }
        let (r, l) = (median(runtime_rps), median(loop_rps));
        let (rc, lc) = (median(runtime_cpu), median(loop_cpu));
        println!(
            "interleaved ({ROUNDS} rounds, medians): runtime {r:.0} records/s, reqwest loop \
             {l:.0} records/s, runtime/loop = {:.1}%; client-thread CPU per listing: runtime \
             {rc:.1} ms, reqwest loop {lc:.1} ms",
            100.0 * r / l
        );
        // What the runtime's output redaction (a walk over every record of the result, done by
        // the dispatcher after the listing) costs on its own, on a fresh 20,000-record result.
        let redactor = side.runtime.instance.redactor();
        let mut walk_cpu = Vec::with_capacity(10);
        for _ in 0..10 {
            let mut records = Value::Array(rt.block_on(hand_loop(&client, &base)));
            let cpu = thread_cpu_now();
            redactor.redact_value(&mut records);
            walk_cpu.push((thread_cpu_now() - cpu).as_secs_f64() * 1e3);
            black_box(records);
        }
        println!(
            "output redaction walk over {RECORDS} records: {:.1} ms CPU (median of 10)",
            median(walk_cpu)
        );
    }
}
