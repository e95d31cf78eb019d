//! `cargo xtask test`: everything the test suite needs, installed and started here.
//!
//! 1. a Python virtual environment in `target/ci-venv` with pinned schemathesis,
//!    openapi-spec-validator and aiosmtpd (reused while the pins match);
//! 2. a check that PostgreSQL answers at `CONNECTOR_TEST_DATABASE_URL` (default
//!    `postgres://postgres@127.0.0.1:5432/postgres`): the store suite and the scale-out tests
//!    create and drop databases of their own there, and nothing is skipped without it;
//! 3. `cargo test --workspace`, with `CONNECTOR_TEST_PYTHON` set to the environment's Python
//!    (the `.email` contract tests run aiosmtpd with it);
//! 4. the docs' quickstart crate tested from a folder outside the workspace, its dependency
//!    tree free of what a connector-only crate leaves out (`quickstart.rs`);
//! 5. `connector serve` on a free loopback port with a temporary data directory, an admin, a
//!    user and two instances, then `openapi-spec-validator` on the served document and
//!    schemathesis (`--checks all`, stateful phase included) three times: with no key, as the
//!    user, as the admin. Exceptions are in `schemathesis.toml`, each with its reason;
//! 6. the one test of the optional `otlp` feature (`serve_otlp`), built with the feature.
//!
//! Any failure fails the command; the server is stopped either way.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::cargo::{cargo, cargo_with_env, step, target_dir};

/// The pinned Python tools. Bump together with a run of `cargo xtask test`.
const PY_PACKAGES: [&str; 3] = [
    "schemathesis==4.32.5",
    "openapi-spec-validator==0.9.0",
    "aiosmtpd==1.4.6",
];
/// The instances the runs find (and `schemathesis.toml` points `run_action` at).
const INSTANCES: [&str; 2] = ["log-1", "log-2"];
/// Fixed so a CI failure can be replayed; `XTASK_SCHEMATHESIS_SEED` picks another.
const DEFAULT_SEED: &str = "20261201";

/// The server the tests create their databases on, unless `CONNECTOR_TEST_DATABASE_URL` says.
const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Fail early, with the fix, when PostgreSQL does not accept connections: every PostgreSQL
/// test would fail later with the same cause.
fn postgres_answers() -> anyhow::Result<()> {
    let url = std::env::var("CONNECTOR_TEST_DATABASE_URL")
        .unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_string());
    let hostport = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.split('/').next())
        .map(|auth| auth.rsplit('@').next().unwrap_or(auth))
        .filter(|h| !h.is_empty())
        .with_context(|| "CONNECTOR_TEST_DATABASE_URL is not a postgres:// URL")?;
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:5432")
    };
    step(&format!("PostgreSQL at {hostport}"));
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&hostport)
        .with_context(|| format!("resolving {hostport}"))?
        .collect();
    if addrs
        .iter()
        .any(|a| TcpStream::connect_timeout(a, Duration::from_secs(3)).is_ok())
    {
        return Ok(());
    }
    bail!(
        "PostgreSQL does not answer at {hostport}: the store suite and the scale-out tests run \
         on it (each creates and drops a database of its own). Start it (trust auth for user \
         `postgres` on 127.0.0.1:5432), or set CONNECTOR_TEST_DATABASE_URL to a server where \
         that user may create databases"
    )
}

pub struct Options {
    /// Skip `cargo test --workspace` (for iterating on the API checks alone).
    pub api_only: bool,
}

pub fn run(root: &Path, opts: &Options) -> anyhow::Result<bool> {
    let venv = ensure_venv(root)?;
    if !opts.api_only {
        postgres_answers()?;
        step("cargo test --workspace");
        let python = venv.join("bin/python");
        let env = [("CONNECTOR_TEST_PYTHON", python.as_os_str())];
        if !cargo_with_env(root, &["test", "--workspace"], &env)? {
            return Ok(false);
        }
        if !crate::quickstart::test(root)? {
            return Ok(false);
        }
    }
    step("cargo build -p connector-cli");
    if !cargo(root, &["build", "-q", "-p", "connector-cli"])? {
        return Ok(false);
    }
    let server = Server::start(root)?;
    let result = api_checks(root, &venv, &server);
    server.stop();
    if !result? {
        return Ok(false);
    }
    if !opts.api_only {
        // The `otlp` feature is off by default: its one test (a loopback collector decodes
        // the exported spans) runs with the feature on, after the API checks so that they
        // run the default binary.
        let otlp = [
            "test",
            "-p",
            "connector-cli",
            "--features",
            "otlp",
            "--test",
            "serve_otlp",
        ];
        step("cargo test -p connector-cli --features otlp --test serve_otlp");
        return cargo(root, &otlp);
    }
    Ok(true)
}

/// `target/ci-venv`, created or refreshed when the pins in its stamp file differ.
fn ensure_venv(root: &Path) -> anyhow::Result<PathBuf> {
    let venv = target_dir(root).join("ci-venv");
    let stamp = venv.join("xtask-packages.txt");
    let wanted = PY_PACKAGES.join("\n");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(venv);
    }
    step(&format!("python3 -m venv {}", venv.display()));
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let st = Command::new(&python)
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .with_context(|| format!("running {python} (Python 3.9+ with venv is needed)"))?;
    if !st.success() {
        bail!("`{python} -m venv` failed");
    }
    step(&format!("pip install {}", PY_PACKAGES.join(" ")));
    let st = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(PY_PACKAGES)
        .status()
        .context("running pip")?;
    if !st.success() {
        bail!("pip install failed");
    }
    std::fs::write(&stamp, wanted)?;
    Ok(venv)
}

// ---------------------------------------------------------------- the server

struct Server {
    child: Child,
    addr: SocketAddr,
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Server {
    fn start(root: &Path) -> anyhow::Result<Server> {
        let bin = target_dir(root).join("debug/connector");
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let log = dir.path().join("server.log");
        let addr = free_loopback_addr()?;
        step(&format!("connector serve --listen {addr}"));
        let child = Command::new(&bin)
            .args(["serve", "--data-dir"])
            .arg(&data)
            .arg("--specs")
            .arg(root.join("specs"))
            .args(["--listen", &addr.to_string()])
            // The runs send far more OAuth starts than a person would; the limiter itself is
            // tested in connector-cli/tests/serve.rs.
            .args(["--oauth-rate-per-minute", "100000"])
            .env_remove("CONNECTOR_KEY")
            .env_remove("CONNECTOR_KEY_FILE")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let server = Server {
            child,
            addr,
            bin,
            data,
            log,
            dir,
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if http(self.addr, "GET", "/readyz", None, None).is_ok_and(|(st, _)| st == 200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("the server did not become ready; log:\n{}", self.log_text())
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn add_user(&self, name: &str, admin: bool) -> anyhow::Result<String> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["users", "add", name, "--data-dir"])
            .arg(&self.data);
        if admin {
            cmd.arg("--admin");
        }
        let out = cmd.stderr(Stdio::null()).output()?;
        let key = String::from_utf8(out.stdout)?.trim().to_string();
        if !out.status.success() || !key.starts_with("ck_") {
            bail!("`connector users add {name}` failed");
        }
        Ok(key)
    }

    /// SIGTERM and wait, so the server shuts down as it would in production.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_loopback_addr() -> anyhow::Result<SocketAddr> {
    // The port is free when asked; the server binds it a moment later.
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// A minimal HTTP/1.1 client (one request per connection) for the set-up calls, so the
/// xtask needs no HTTP dependency.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(k) = key {
        req.push_str(&format!("Authorization: Bearer {k}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no HTTP status line")?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

// ---------------------------------------------------------------- the checks

fn api_checks(root: &Path, venv: &Path, server: &Server) -> anyhow::Result<bool> {
    let admin = server.add_user("admin", true)?;
    let user = server.add_user("user", false)?;
    ensure_instances(server, &admin)?;

    step("openapi-spec-validator /api/openapi.json");
    let (st, doc) = http(server.addr, "GET", "/api/openapi.json", None, None)?;
    if st != 200 {
        bail!("GET /api/openapi.json answered {st}");
    }
    let file = server.dir.path().join("openapi.json");
    std::fs::write(&file, doc)?;
    if !Command::new(venv.join("bin/openapi-spec-validator"))
        .arg(&file)
        .status()?
        .success()
    {
        return Ok(false);
    }

    let mut ok = true;
    // The admin run goes last: its stateful phase deletes instances.
    for (who, key) in [
        ("no key", None),
        ("user", Some(&user)),
        ("admin", Some(&admin)),
    ] {
        ensure_instances(server, &admin)?;
        step(&format!("schemathesis as {who}"));
        ok &= schemathesis(root, venv, server, key.map(String::as_str))?;
    }
    if !ok {
        eprintln!(
            "schemathesis found failures; server log: {} lines",
            server.log_text().lines().count()
        );
    }
    Ok(ok)
}

/// Create the instances the runs use, unless they exist (409).
fn ensure_instances(server: &Server, admin: &str) -> anyhow::Result<()> {
    for id in INSTANCES {
        let body =
            format!(r#"{{"id": "{id}", "connectorType": ".server-log", "name": "Log {id}"}}"#);
        let (st, text) = http(
            server.addr,
            "POST",
            "/api/instances",
            Some(admin),
            Some(&body),
        )?;
        if st != 201 && st != 409 {
            bail!("creating instance {id}: {st} {text}");
        }
    }
    Ok(())
}

fn schemathesis(
    root: &Path,
    venv: &Path,
    server: &Server,
    key: Option<&str>,
) -> anyhow::Result<bool> {
    let seed = std::env::var("XTASK_SCHEMATHESIS_SEED").unwrap_or_else(|_| DEFAULT_SEED.into());
    let mut cmd = Command::new(venv.join("bin/st"));
    cmd.arg("--config-file")
        .arg(root.join("schemathesis.toml"))
        .arg("run")
        .arg(server.url("/api/openapi.json"))
        .args(["--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        // One worker: Python 3.11's parser is not thread-safe, and hypothesis parses lambda
        // sources from several workers at once ("AST constructor recursion depth mismatch").
        .args(["--workers", "1"])
        .args(["--seed", &seed])
        .arg("--no-color");
    if let Some(k) = key {
        cmd.args(["--header", &format!("Authorization: Bearer {k}")]);
    }
    // Keeps the cache of found examples out of the repository.
    cmd.current_dir(server.dir.path());
    Ok(cmd.status().context("running schemathesis")?.success())
}
