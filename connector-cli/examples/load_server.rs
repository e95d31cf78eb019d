//! Load harness for `connector serve` (loopback only).
//!
//! Starts the real `connector` binary on 127.0.0.1 with a temporary data directory and a small
//! bearer-auth spec, creates an admin and `--users` users with `connector users add`, has the
//! admin create one shared-auth instance pointing at a loopback mock API (axum, in this process),
//! then holds a steady rate of action executions for `--seconds`, each request with the API key
//! of the next user in turn. It reports requests per second, latency percentiles, errors (any
//! non-200, transport failure or wrong output) and the server's peak memory (`VmHWM` from
//! `/proc/<pid>/status`), then stops the server with SIGTERM and checks it exits 0.
//!
//! ```sh
//! cargo build --release -p connector-cli --bin connector --example load_server
//! $CARGO_TARGET_DIR/release/examples/load_server --users 100 --seconds 60 --rate 200
//! ```
//!
//! Exit status 1 when any request failed, the rate could not be held, or the server did not
//! shut down cleanly.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

const USAGE: &str = "\
usage: load_server [--users N] [--seconds S] [--rate R] [--max-in-flight M] [--bin PATH]
                   [--postgres ADMIN_URL]

  --users N          users, each with its own API key (default 100)
  --seconds S        how long to hold the rate (default 60)
  --rate R           action executions per second, across all users (default 200)
  --max-in-flight M  requests allowed in flight before a tick counts as missed (default 512)
  --bin PATH         the connector binary (default: `connector` next to this example's folder,
                     i.e. target/<profile>/connector)
  --postgres URL     run the server on PostgreSQL instead of the SQLite file: a database of
                     its own is created on the server at URL (e.g.
                     postgres://postgres@127.0.0.1:5432/postgres) and dropped afterwards
";

/// The upstream's bearer token: must never show up in a response.
const UPSTREAM_TOKEN: &str = "LOAD-upstream-token-5b1e";

const SPEC: &str = r#"id: .load-test
displayName: Load test
description: A shared bearer-token connector against a loopback API.
minimumLicense: basic
baseUrl: "{{ config.base }}"
auth:
  types: [bearer]
config:
  type: object
  additionalProperties: false
  properties:
    base: { type: string, maxLength: 2048 }
actions:
  ping:
    description: Ask the API for a small JSON document.
    scope: read
    input:
      type: object
      additionalProperties: false
      properties:
        n: { type: integer, minimum: 0 }
    request:
      method: GET
      path: /api/ping
      query:
        n: "{{ input.n }}"
"#;

/// The harness settings (also built directly by the smoke test, `tests/serve_load_smoke.rs`).
pub struct Args {
    pub users: usize,
    pub seconds: u64,
    pub rate: u64,
    pub max_in_flight: u64,
    pub bin: PathBuf,
    /// A PostgreSQL server URL to create the run's database on; `None`: SQLite.
    pub postgres: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let default_bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|d| d.join("connector")))
        .unwrap_or_else(|| PathBuf::from("connector"));
    let mut a = Args {
        users: 100,
        seconds: 60,
        rate: 200,
        max_in_flight: 512,
        bin: default_bin,
        postgres: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| -> Result<u64, String> {
            match v.parse::<u64>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{flag}: expected a positive integer, got `{v}`")),
            }
        };
        match flag.as_str() {
            "--users" => a.users = num(&value)? as usize,
            "--seconds" => a.seconds = num(&value)?,
            "--rate" => a.rate = num(&value)?,
            "--max-in-flight" => a.max_in_flight = num(&value)?,
            "--bin" => a.bin = PathBuf::from(value),
            "--postgres" => a.postgres = Some(value),
            other => return Err(format!("unknown flag `{other}`")),
        }
    }
    if !a.bin.is_file() {
        return Err(format!(
            "the connector binary {} does not exist; build it (`cargo build -p connector-cli --bin connector`) or pass --bin",
            a.bin.display()
        ));
    }
    Ok(a)
}

// ---------------------------------------------------------------- mock API

async fn ping(
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let expected = format!("Bearer {UPSTREAM_TOKEN}");
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return (StatusCode::UNAUTHORIZED, "bad token").into_response();
    }
    let n: u64 = q.get("n").and_then(|n| n.parse().ok()).unwrap_or(u64::MAX);
    axum::Json(json!({ "ok": true, "n": n })).into_response()
}

async fn start_mock() -> std::io::Result<SocketAddr> {
    let app = Router::new().route("/api/ping", get(ping));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("mock API stopped: {e}");
        }
    });
    Ok(addr)
}

// ---------------------------------------------------------------- server process

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn add_user(bin: &Path, at: &Location, name: &str, admin: bool) -> Result<String, String> {
    let mut cmd = Command::new(bin);
    cmd.args(["users", "add", name]).args(at.flags());
    if admin {
        cmd.arg("--admin");
    }
    at.apply(&mut cmd);
    let out = cmd
        .output()
        .map_err(|e| format!("running `connector users add`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`connector users add {name}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `(VmHWM, VmRSS)` in kB.
fn memory_kb(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

// ---------------------------------------------------------------- the database

/// Where the server keeps its stores: the data dir's SQLite file, or a PostgreSQL database
/// created for the run (dropped when this goes away) with a key every process shares.
struct Location {
    data: PathBuf,
    postgres: Option<(String, String, String)>,
    key: Option<String>,
}

impl Location {
    async fn new(data: PathBuf, admin_url: Option<&str>, bin: &Path) -> Result<Location, String> {
        let Some(admin) = admin_url else {
            return Ok(Location {
                data,
                postgres: None,
                key: None,
            });
        };
        let name = format!("connector_load_{}", std::process::id());
        connector_runtime::store::postgres::create_database(admin, &name)
            .await
            .map_err(|e| format!("creating database {name}: {e}"))?;
        let mut url = url::Url::parse(admin).map_err(|e| format!("--postgres: {e}"))?;
        url.set_path(&format!("/{name}"));
        let out = Command::new(bin)
            .args(["keys", "generate"])
            .output()
            .map_err(|e| format!("connector keys generate: {e}"))?;
        let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(Location {
            data,
            postgres: Some((admin.to_string(), name, url.to_string())),
            key: Some(key),
        })
    }

    /// The flags `serve` and `users` take for this location.
    fn flags(&self) -> Vec<String> {
        let mut f = vec!["--data-dir".to_string(), self.data.display().to_string()];
        if let Some((_, _, url)) = &self.postgres {
            f.extend(["--database-url".to_string(), url.clone()]);
        }
        f
    }

    fn apply(&self, cmd: &mut Command) {
        cmd.env_remove("CONNECTOR_KEY")
            .env_remove("CONNECTOR_KEY_FILE")
            .env_remove("CONNECTOR_DATABASE_URL");
        if let Some(k) = &self.key {
            cmd.env("CONNECTOR_KEY", k);
        }
    }

    fn describe(&self) -> &'static str {
        if self.postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    }

    async fn drop_database(&self) {
        if let Some((admin, name, _)) = &self.postgres
            && let Err(e) = connector_runtime::store::postgres::drop_database(admin, name).await
        {
            eprintln!("warning: could not drop database {name}: {e}");
        }
    }
}

// ---------------------------------------------------------------- the run

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    errors: AtomicU64,
    missed_ticks: AtomicU64,
    in_flight: AtomicU64,
}

/// One run: `Ok(true)` when every request succeeded, the rate held and the server shut down
/// cleanly; `Err` when the setup failed.
pub async fn run(args: Args) -> Result<bool, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let specs = dir.path().join("specs");
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    std::fs::create_dir_all(&specs).map_err(|e| format!("creating {}: {e}", specs.display()))?;
    std::fs::write(specs.join("load.yaml"), SPEC).map_err(|e| format!("writing the spec: {e}"))?;

    let mock = start_mock()
        .await
        .map_err(|e| format!("starting the mock API: {e}"))?;
    let at = Location::new(data, args.postgres.as_deref(), &args.bin).await?;
    let r = run_at(&args, &at, &specs, &log, mock).await;
    at.drop_database().await;
    r
}

async fn run_at(
    args: &Args,
    at: &Location,
    specs: &Path,
    log: &Path,
    mock: SocketAddr,
) -> Result<bool, String> {
    let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
    let base = format!("http://127.0.0.1:{port}");
    let log_file = std::fs::File::create(log).map_err(|e| format!("creating the log: {e}"))?;
    let mut cmd = Command::new(&args.bin);
    cmd.arg("serve")
        .args(at.flags())
        .arg("--specs")
        .arg(specs)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--allow-loopback"]);
    at.apply(&mut cmd);
    let child = cmd
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", args.bin.display()))?;
    let mut server = Server { child };
    let pid = server.child.id();

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.max_in_flight as usize)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let mut ready = false;
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !ready {
        return Err(format!(
            "the server did not become ready; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        ));
    }

    let started_users = Instant::now();
    let admin_key = add_user(&args.bin, at, "admin", true)?;
    let mut keys = Vec::with_capacity(args.users);
    for i in 0..args.users {
        keys.push(add_user(&args.bin, at, &format!("user{i}"), false)?);
    }
    eprintln!(
        "added 1 admin and {} users in {:.1} s",
        args.users,
        started_users.elapsed().as_secs_f64()
    );

    let r = client
        .post(format!("{base}/api/instances"))
        .bearer_auth(&admin_key)
        .json(&json!({
            "id": "load",
            "connectorType": ".load-test",
            "name": "Load test",
            "config": { "authType": "bearer", "base": format!("http://{mock}") },
            "secrets": { "token": UPSTREAM_TOKEN },
        }))
        .send()
        .await
        .map_err(|e| format!("creating the instance: {e}"))?;
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    if status != 201 {
        return Err(format!("creating the instance: {status}: {body}"));
    }

    // One warm-up call per user, so that the timed window measures steady state.
    for key in &keys {
        let r = client
            .post(format!("{base}/api/instances/load/actions/ping"))
            .bearer_auth(key)
            .json(&json!({ "n": 0 }))
            .send()
            .await
            .map_err(|e| format!("warm-up: {e}"))?;
        if r.status() != 200 {
            return Err(format!(
                "warm-up: {}: {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ));
        }
    }

    let load_before = load_average();
    eprintln!(
        "holding {} actions/s for {} s over {} users (load average {load_before})",
        args.rate, args.seconds, args.users
    );
    let counters = Arc::new(Counters::default());
    let latencies = Arc::new(std::sync::Mutex::new(Vec::with_capacity(
        (args.rate * args.seconds) as usize,
    )));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let keys: Arc<Vec<String>> = Arc::new(keys);
    let url: Arc<str> = format!("{base}/api/instances/load/actions/ping").into();
    let period = Duration::from_secs_f64(1.0 / args.rate as f64);
    let total = args.rate * args.seconds;
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    let window = Instant::now();
    for n in 0..total {
        ticker.tick().await;
        if counters.in_flight.load(Ordering::Relaxed) >= args.max_in_flight {
            counters.missed_ticks.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        counters.in_flight.fetch_add(1, Ordering::Relaxed);
        let key = Arc::clone(&keys);
        let (client, url, counters, latencies, first_error) = (
            client.clone(),
            Arc::clone(&url),
            Arc::clone(&counters),
            Arc::clone(&latencies),
            Arc::clone(&first_error),
        );
        tasks.spawn(async move {
            let user = (n as usize) % key.len();
            let t = Instant::now();
            let result = async {
                let r = client
                    .post(&*url)
                    .bearer_auth(&key[user])
                    .json(&json!({ "n": n }))
                    .send()
                    .await
                    .map_err(|e| format!("transport: {}", error_chain(&e)))?;
                let status = r.status();
                let text = r
                    .text()
                    .await
                    .map_err(|e| format!("body: {}", error_chain(&e)))?;
                if status != 200 {
                    return Err(format!("{status}: {text}"));
                }
                if text.contains(UPSTREAM_TOKEN) {
                    return Err("the upstream token appeared in a response".into());
                }
                let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
                if v["output"] != json!({ "ok": true, "n": n }) {
                    return Err(format!("unexpected output: {text}"));
                }
                Ok(())
            }
            .await;
            let took = t.elapsed();
            match result {
                Ok(()) => {
                    counters.ok.fetch_add(1, Ordering::Relaxed);
                    latencies.lock().expect("not poisoned").push(took);
                }
                Err(e) => {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    first_error.lock().expect("not poisoned").get_or_insert(e);
                }
            }
            counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        });
        // Reap finished tasks so the set does not grow for the whole run.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = window.elapsed();
    let load_after = load_average();
    let memory = memory_kb(pid);

    let shutdown_ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
        && server.child.wait().map(|s| s.success()).unwrap_or(false);

    let mut lat = std::mem::take(&mut *latencies.lock().expect("not poisoned"));
    lat.sort_unstable();
    let ok = counters.ok.load(Ordering::Relaxed);
    let errors = counters.errors.load(Ordering::Relaxed);
    let missed = counters.missed_ticks.load(Ordering::Relaxed);
    println!("store:            {}", at.describe());
    println!("users:            {}", args.users);
    println!(
        "target:           {} actions/s for {} s ({total} requests)",
        args.rate, args.seconds
    );
    println!(
        "completed:        {ok} ok, {errors} errors, {missed} ticks missed (more than {} in flight)",
        args.max_in_flight
    );
    println!(
        "throughput:       {:.1} requests/s over {:.1} s",
        (ok + errors) as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "latency:          p50 {}, p90 {}, p99 {}, max {}",
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.90)),
        ms(percentile(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default())
    );
    match memory {
        Some((hwm, rss)) => println!(
            "server memory:    peak (VmHWM) {:.1} MiB, resident at the end {:.1} MiB",
            hwm as f64 / 1024.0,
            rss as f64 / 1024.0
        ),
        None => println!("server memory:    /proc/{pid}/status not readable"),
    }
    println!("load average:     {load_before} before, {load_after} after (1, 5, 15 min)");
    println!(
        "shutdown:         {}",
        if shutdown_ok {
            "SIGTERM, exit 0"
        } else {
            "FAILED"
        }
    );
    if let Some(e) = first_error.lock().expect("not poisoned").take() {
        println!("first error:      {e}");
    }
    let log_text = std::fs::read_to_string(log).unwrap_or_default();
    if log_text.contains(UPSTREAM_TOKEN) || keys.iter().any(|k| log_text.contains(k.as_str())) {
        println!("LEAK: a secret or API key appeared in the server log");
        return Ok(false);
    }
    let alarming: Vec<&str> = log_text
        .lines()
        .filter(|l| l.contains("panicked") || l.contains(" ERROR ") || l.contains(" WARN "))
        .collect();
    for l in alarming.iter().take(5) {
        println!("server log:       {l}");
    }
    Ok(errors == 0 && missed == 0 && shutdown_ok && alarming.is_empty())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: tokio runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// An error and its sources, joined with `: ` (reqwest's own text names only the outermost).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
