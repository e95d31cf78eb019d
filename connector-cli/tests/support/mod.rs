//! The harness shared by the end-to-end tests that drive the real `connector serve` binary:
//! a temp data dir and specs dir, a free loopback port, readiness, `connector users add`,
//! SIGTERM and restart. Each test binary uses part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod atlassian_provider;
pub mod github_provider;
pub mod gmail_provider;
pub mod google_drive_provider;
pub mod google_oauth;
pub mod grants;
pub mod notion_provider;
pub mod provider;
pub mod salesforce_provider;
pub mod sharepoint_provider;
pub mod slack_provider;
pub mod target;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_connector")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Run a command that must succeed (its stderr is the failure message); returns its output.
pub fn run_ok(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The workspace root (where `specs/` lives).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// How to start `connector serve`: the specs it loads, its flags and its log level.
pub struct Serve {
    /// `(file name, YAML)` written into a fresh specs dir.
    specs: Vec<(String, String)>,
    /// Files copied into the fresh specs dir.
    copies: Vec<PathBuf>,
    /// An existing specs dir used as is instead of a fresh one.
    specs_dir: Option<PathBuf>,
    args: Vec<String>,
    rust_log: Option<String>,
    /// Environment set for the process (after CONNECTOR_KEY / CONNECTOR_KEY_FILE are cleared).
    envs: Vec<(String, String)>,
    /// The address to listen on; default a free loopback port.
    listen: Option<SocketAddr>,
}

impl Serve {
    pub fn new() -> Serve {
        Serve {
            specs: Vec::new(),
            copies: Vec::new(),
            specs_dir: None,
            args: Vec::new(),
            rust_log: None,
            envs: Vec::new(),
            listen: None,
        }
    }

    /// Listen on `addr` (for tests that must know the address before the start).
    pub fn listen(mut self, addr: SocketAddr) -> Serve {
        self.listen = Some(addr);
        self
    }

    /// Set an environment variable for the process (e.g. `CONNECTOR_KEY`).
    pub fn env(mut self, name: &str, value: &str) -> Serve {
        self.envs.push((name.to_string(), value.to_string()));
        self
    }

    pub fn spec(mut self, file: &str, yaml: &str) -> Serve {
        self.specs.push((file.to_string(), yaml.to_string()));
        self
    }

    /// Copy a spec file (e.g. one of the workspace's `specs/`) into the specs dir.
    pub fn copy_spec(mut self, from: PathBuf) -> Serve {
        self.copies.push(from);
        self
    }

    /// Load an existing specs directory instead of writing one.
    pub fn specs_dir(mut self, dir: PathBuf) -> Serve {
        self.specs_dir = Some(dir);
        self
    }

    pub fn args(mut self, args: &[&str]) -> Serve {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn rust_log(mut self, level: &str) -> Serve {
        self.rust_log = Some(level.to_string());
        self
    }

    /// Start the process without waiting for it to be ready.
    pub fn spawn(self) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let specs = match self.specs_dir {
            Some(d) => d,
            None => {
                let specs = dir.path().join("specs");
                std::fs::create_dir_all(&specs).unwrap();
                for from in &self.copies {
                    std::fs::copy(from, specs.join(from.file_name().unwrap())).unwrap();
                }
                for (file, yaml) in &self.specs {
                    std::fs::write(specs.join(file), yaml).unwrap();
                }
                specs
            }
        };
        let addr: SocketAddr = self
            .listen
            .unwrap_or_else(|| format!("127.0.0.1:{}", free_port()).parse().unwrap());
        let log = dir.path().join("server.log");
        let data = dir.path().join("data");
        let child = spawn_process(
            &data,
            &specs,
            addr,
            &log,
            &self.args,
            self.rust_log.as_deref(),
            &self.envs,
        );
        Server {
            envs: self.envs,
            child,
            addr,
            base: format!("http://{addr}"),
            log,
            data,
            specs,
            args: self.args,
            rust_log: self.rust_log,
            _dir: dir,
        }
    }

    /// Start the process and wait until `/readyz` answers 200.
    pub async fn start(self) -> Server {
        let s = self.spawn();
        s.wait_ready().await;
        s
    }
}

/// Wait until `{base}/readyz` answers 200 (over a pooled reqwest client); the server's log at
/// `log` in the panic message otherwise.
pub async fn wait_ready_at(base: &str, log: &Path) {
    let c = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(r) = c.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    panic!("the server did not become ready; log:\n{text}");
}

/// A running `connector serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub base: String,
    pub log: PathBuf,
    pub data: PathBuf,
    pub specs: PathBuf,
    /// The flags the process was started with (kept for restarts).
    pub args: Vec<String>,
    rust_log: Option<String>,
    envs: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

fn spawn_process(
    data: &Path,
    specs: &Path,
    addr: SocketAddr,
    log: &Path,
    args: &[String],
    rust_log: Option<&str>,
    envs: &[(String, String)],
) -> Child {
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--data-dir"])
        .arg(data)
        .arg("--specs")
        .arg(specs)
        .args(["--listen", &addr.to_string()])
        .args(args)
        .env_remove("CONNECTOR_KEY")
        .env_remove("CONNECTOR_KEY_FILE")
        .env_remove("CONNECTOR_DATABASE_URL")
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        // Appending: a restarted process keeps the earlier lines for the log assertions.
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        );
    if let Some(level) = rust_log {
        cmd.env("RUST_LOG", level);
    }
    cmd.spawn().unwrap()
}

impl Server {
    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `host:port`, for raw TCP clients.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// SIGKILL the process and start it again on the same data dir and port, with `args`.
    pub fn respawn_with(&mut self, args: Vec<String>) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.args = args;
        self.child = spawn_process(
            &self.data,
            &self.specs,
            self.addr,
            &self.log,
            &self.args,
            self.rust_log.as_deref(),
            &self.envs,
        );
    }

    /// SIGKILL, start again with the same flags, and wait until ready.
    pub async fn kill_and_restart(&mut self) {
        self.respawn_with(self.args.clone());
        self.wait_ready().await;
    }

    /// Wait until `/readyz` answers 200 (over a pooled reqwest client).
    pub async fn wait_ready(&self) {
        wait_ready_at(&self.base, &self.log).await;
    }

    /// Readiness over a raw `Connection: close` request, so no pooled client connection
    /// stays open and counts against `--max-connections`.
    pub fn wait_ready_raw(&self) {
        use std::io::{Read, Write};
        for _ in 0..600 {
            if let Ok(mut c) = TcpStream::connect(self.addr) {
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let req = "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
                let mut out = String::new();
                if c.write_all(req.as_bytes()).is_ok()
                    && c.read_to_string(&mut out).is_ok()
                    && out.starts_with("HTTP/1.1 200")
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not become ready; log:\n{}", self.log_text());
    }

    /// Everything the server has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// `connector users add NAME [--admin]` on the server's data dir; returns the API key.
    pub fn add_user(&self, name: &str, admin: bool) -> String {
        let mut cmd = Command::new(bin());
        cmd.args(["users", "add", name, "--data-dir"])
            .arg(&self.data);
        if admin {
            cmd.arg("--admin");
        }
        let out = run_ok(&mut cmd);
        let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert!(key.starts_with("ck_"), "{key}");
        key
    }

    /// Send SIGTERM (graceful shutdown) without waiting.
    pub fn sigterm(&self) {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// SIGTERM, then wait for the process to end; returns whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        self.sigterm();
        self.child.wait().unwrap().success()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP call with a bearer key and an optional JSON body: the status and the body text.
pub async fn call_text(
    base: &str,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, String) {
    let mut r = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}
