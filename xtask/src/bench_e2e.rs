//! `cargo xtask bench-e2e`: the wall time of `connector run --all-pages` against curl fetching
//! the same pages over one keep-alive connection, from the same loopback server, in the same
//! run.
//!
//! 1. `cargo build --release -p connector-cli --bin connector` (unless `--no-build`);
//! 2. the page server ([`bench_pages::PageServer`]) on 127.0.0.1, and in a temporary directory a
//!    bearer-auth spec with cursor pagination, its config (the base URL) and secrets (the
//!    token), and a curl config file with the token header and every page URL;
//! 3. one checked run of each: curl must read every page body, byte for byte, and
//!    `connector run` must print every record, in order;
//! 4. `--runs` rounds, each timing curl then `connector run` (stdout to /dev/null); after each,
//!    the server must have served every page over exactly one connection with no refusal;
//! 5. the median and minimum wall time of each, and the ratio of the medians.
//!
//! The machine may be busy (other builds): alternating the two spreads that load over both,
//! so the ratio is steadier than either time.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::cargo::{cargo, step, target_dir};
use bench_pages::{self as page_server, PageServer, Seen, Shape};

/// The bearer token the spec sends and the server checks.
const TOKEN: &str = "bench-e2e-token.eyJhbGciOiJIUzI1NiJ9.c2lnbmF0dXJl";
/// The ratio issue 11 asks for.
const TARGET_RATIO: f64 = 2.0;

pub const USAGE: &str = "  bench-e2e [--runs N] [--pages P] [--per-page R] [--no-build] [--serve]
          wall time of `connector run --all-pages --output ndjson` against curl fetching
          the same P pages (default 200) of R records (default 100) over one keep-alive
          connection, N alternating runs each (default 15); builds the release CLI first
          unless --no-build; needs curl. --serve starts the server and writes the files,
          prints both command lines (to run under a profiler) and serves until stdin closes
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub runs: usize,
    pub shape: Shape,
    pub build: bool,
    /// Serve and print the command lines instead of timing.
    pub serve: bool,
}

impl Options {
    /// Parse the arguments after `bench-e2e`.
    pub fn parse(args: &[&str]) -> anyhow::Result<Options> {
        let mut opts = Options {
            runs: 15,
            shape: Shape {
                pages: 200,
                per_page: 100,
            },
            build: true,
            serve: false,
        };
        let mut args = args.iter();
        while let Some(&arg) = args.next() {
            if arg == "--no-build" || arg == "--serve" {
                opts.build &= arg != "--no-build";
                opts.serve |= arg == "--serve";
                continue;
            }
            let slot = match arg {
                "--runs" => &mut opts.runs,
                "--pages" => &mut opts.shape.pages,
                "--per-page" => &mut opts.shape.per_page,
                other => bail!("bench-e2e: unknown argument `{other}`"),
            };
            let value = args
                .next()
                .with_context(|| format!("bench-e2e: {arg} needs a value"))?;
            *slot = value
                .parse()
                .ok()
                .filter(|&n: &usize| (1..=100_000).contains(&n))
                .with_context(|| {
                    format!("bench-e2e: {arg} wants a whole number from 1 to 100000, not `{value}`")
                })?;
        }
        Ok(opts)
    }
}

pub fn run(root: &Path, opts: &Options) -> anyhow::Result<bool> {
    let curl = which_curl()?;
    if opts.build {
        step("cargo build --release -p connector-cli --bin connector");
        if !cargo(
            root,
            &[
                "build",
                "--release",
                "-p",
                "connector-cli",
                "--bin",
                "connector",
            ],
        )? {
            return Ok(false);
        }
    }
    let bin = target_dir(root).join("release/connector");
    if !bin.is_file() {
        bail!(
            "{} is missing: build it (drop --no-build) first",
            bin.display()
        );
    }
    let server = PageServer::start(opts.shape, TOKEN)?;
    let dir = tempfile::tempdir()?;
    let files = Files::write(dir.path(), &server, opts.shape)?;
    let contenders = [
        Contender::curl(&curl, &files),
        Contender::connector(&bin, &files),
    ];
    step(&format!(
        "checking both read all {} pages ({} records, {} bytes of JSON)",
        opts.shape.pages,
        opts.shape.records(),
        server.body_bytes
    ));
    check_curl_output(&contenders[0], &server, opts.shape)?;
    check_connector_output(&contenders[1], &server, opts.shape)?;
    if opts.serve {
        return serve_until_stdin_closes(&contenders);
    }
    step(&format!(
        "{} alternating runs (load average before: {})",
        opts.runs,
        load_average()
    ));
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..opts.runs {
        for (c, t) in contenders.iter().zip(&mut times) {
            t.push(c.timed(&server, opts.shape)?);
        }
    }
    report(&contenders, &times);
    println!("load average after: {}", load_average());
    Ok(true)
}

/// `--serve`: print each contender's command line, then keep the server up until stdin
/// closes (Ctrl-D), so a profiler can run either one as often as it likes.
fn serve_until_stdin_closes(contenders: &[Contender]) -> anyhow::Result<bool> {
    for c in contenders {
        println!("{}: {} {}", c.name, c.program.display(), c.args.join(" "));
    }
    println!("serving until stdin closes");
    std::io::copy(&mut std::io::stdin(), &mut std::io::sink())?;
    Ok(true)
}

/// curl, found on `PATH`, or a clear error when it is not installed.
fn which_curl() -> anyhow::Result<PathBuf> {
    let curl = PathBuf::from("curl");
    match Command::new(&curl).arg("--version").output() {
        Ok(o) if o.status.success() => Ok(curl),
        _ => bail!(
            "bench-e2e needs curl as its baseline, and `curl --version` did not run: install curl"
        ),
    }
}

/// What the two contenders read: the spec, its config and secrets, and curl's config file.
struct Files {
    spec: PathBuf,
    config: PathBuf,
    secrets: PathBuf,
    curl_config: PathBuf,
}

impl Files {
    fn write(dir: &Path, server: &PageServer, shape: Shape) -> anyhow::Result<Files> {
        let files = Files {
            spec: dir.join("bench_list.yaml"),
            config: dir.join("config.json"),
            secrets: dir.join("secrets.json"),
            curl_config: dir.join("curl.conf"),
        };
        std::fs::write(&files.spec, spec_text(shape))?;
        std::fs::write(
            &files.config,
            json!({ "base": server.base_url() }).to_string(),
        )?;
        std::fs::write(&files.secrets, json!({ "token": TOKEN }).to_string())?;
        std::fs::write(&files.curl_config, curl_config(&server.base_url(), shape))?;
        Ok(files)
    }
}

/// A bearer-auth connector listing the server's records with cursor pagination.
fn spec_text(shape: Shape) -> String {
    format!(
        r#"id: .bench_e2e
displayName: Bench end to end
description: Lists records from the loopback page server of `cargo xtask bench-e2e`.
minimumLicense: basic
baseUrl: "{{{{ config.base }}}}"
auth:
  types: [bearer]
config:
  type: object
  additionalProperties: false
  required: [base]
  properties:
    base: {{ type: string, maxLength: 2048 }}
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
      path: {path}
    pagination: {{ style: cursor, records: $.items, cursorParam: cursor, cursorPath: $.next, limitParam: limit, pageSize: {per_page} }}
"#,
        path = page_server::PATH,
        per_page = shape.per_page,
    )
}

/// curl reads its options from this file: quiet, fail on an HTTP error, the token, and the
/// URL of every page (one process fetches them all over one connection).
fn curl_config(base: &str, shape: Shape) -> String {
    let mut text =
        format!("silent\nshow-error\nfail\nheader = \"Authorization: Bearer {TOKEN}\"\n");
    for p in 0..shape.pages {
        text.push_str(&format!(
            "url = \"{base}{}?{}\"\n",
            page_server::PATH,
            page_server::query(shape, p)
        ));
    }
    text
}

/// One side of the comparison: a command line run as a child process.
struct Contender {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
}

impl Contender {
    fn curl(curl: &Path, files: &Files) -> Contender {
        Contender {
            name: "curl",
            program: curl.to_path_buf(),
            args: vec!["--config".into(), files.curl_config.display().to_string()],
        }
    }

    fn connector(bin: &Path, files: &Files) -> Contender {
        let path = |p: &Path| p.display().to_string();
        Contender {
            name: "connector run",
            program: bin.to_path_buf(),
            args: vec![
                "run".into(),
                path(&files.spec),
                "list".into(),
                "--config".into(),
                path(&files.config),
                "--secrets".into(),
                path(&files.secrets),
                "--all-pages".into(),
                "--output".into(),
                "ndjson".into(),
            ],
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).env_remove("RUST_LOG");
        cmd
    }

    /// Run once with stdout captured; what it printed. Fails unless it exited 0.
    fn output(&self) -> anyhow::Result<Vec<u8>> {
        let out = self
            .command()
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("running {}", self.program.display()))?;
        if !out.status.success() {
            bail!(
                "{} failed ({}): {}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out.stdout)
    }

    /// Run once with stdout to /dev/null; its wall time, after checking with the server that
    /// it fetched every page over one connection.
    fn timed(&self, server: &PageServer, shape: Shape) -> anyhow::Result<Duration> {
        let before = server.seen();
        let start = Instant::now();
        let status = self
            .command()
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("running {}", self.program.display()))?;
        let took = start.elapsed();
        if !status.success() {
            bail!("{} failed ({status})", self.name);
        }
        check_seen(self.name, server.seen().since(before), shape)?;
        Ok(took)
    }
}

/// Every page served, over one connection, nothing refused.
fn check_seen(name: &str, seen: Seen, shape: Shape) -> anyhow::Result<()> {
    let wanted = Seen {
        connections: 1,
        pages: shape.pages as u64,
        refused: 0,
    };
    if seen != wanted {
        bail!("{name}: the server saw {seen:?}, expected {wanted:?}");
    }
    Ok(())
}

fn check_curl_output(curl: &Contender, server: &PageServer, shape: Shape) -> anyhow::Result<()> {
    let before = server.seen();
    let out = curl.output()?;
    check_seen(curl.name, server.seen().since(before), shape)?;
    if out.len() != server.body_bytes {
        bail!(
            "curl printed {} bytes, the pages have {}",
            out.len(),
            server.body_bytes
        );
    }
    Ok(())
}

/// `connector run` printed one line per record, each the record the server sent, in order.
fn check_connector_output(
    connector: &Contender,
    server: &PageServer,
    shape: Shape,
) -> anyhow::Result<()> {
    let before = server.seen();
    let out = connector.output()?;
    check_seen(connector.name, server.seen().since(before), shape)?;
    let text = String::from_utf8(out).context("connector run printed invalid UTF-8")?;
    let mut lines = 0;
    for (n, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line)
            .with_context(|| format!("connector run: line {} is not JSON", n + 1))?;
        if v != page_server::record(n) {
            bail!("connector run: line {} is {line}, not record {n}", n + 1);
        }
        lines += 1;
    }
    if lines != shape.records() {
        bail!(
            "connector run printed {lines} records, the pages have {}",
            shape.records()
        );
    }
    Ok(())
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2
    } else {
        sorted[mid]
    }
}

fn report(contenders: &[Contender; 2], times: &[Vec<Duration>; 2]) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("\n{:<14} {:>10} {:>10}", "", "median", "min");
    for (c, t) in contenders.iter().zip(times) {
        let min = t.iter().min().copied().unwrap_or_default();
        println!(
            "{:<14} {:>7.1} ms {:>7.1} ms",
            c.name,
            ms(median(t)),
            ms(min)
        );
    }
    let ratio = median(&times[1]).as_secs_f64() / median(&times[0]).as_secs_f64();
    let verdict = if ratio <= TARGET_RATIO {
        "within"
    } else {
        "over"
    };
    println!(
        "ratio (median connector run / median curl): {ratio:.2}x, {verdict} the {TARGET_RATIO:.1}x target"
    );
}

/// `/proc/loadavg`'s first three fields (1, 5 and 15 minutes), or `unknown`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_and_parse_every_flag() {
        let d = Options::parse(&[]).unwrap();
        assert_eq!(
            (d.runs, d.shape.pages, d.shape.per_page, d.build, d.serve),
            (15, 200, 100, true, false)
        );
        let o = Options::parse(&[
            "--runs",
            "3",
            "--pages",
            "7",
            "--per-page",
            "9",
            "--no-build",
        ])
        .unwrap();
        assert_eq!(
            (o.runs, o.shape.pages, o.shape.per_page, o.build, o.serve),
            (3, 7, 9, false, false)
        );
        let s = Options::parse(&["--serve"]).unwrap();
        assert_eq!((s.build, s.serve), (true, true));
    }

    #[test]
    fn bad_options_are_errors_naming_the_flag() {
        for (args, needle) in [
            (&["--runs"][..], "--runs needs a value"),
            (&["--runs", "0"], "--runs wants a whole number"),
            (&["--pages", "x"], "not `x`"),
            (&["--fast"], "unknown argument `--fast`"),
        ] {
            let err = Options::parse(args).unwrap_err().to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        let ms = Duration::from_millis;
        assert_eq!(median(&[ms(5), ms(1), ms(3)]), ms(3));
        assert_eq!(
            median(&[ms(4), ms(1), ms(2), ms(3)]),
            Duration::from_micros(2500)
        );
    }

    #[test]
    fn the_generated_spec_is_valid() {
        let shape = Shape {
            pages: 2,
            per_page: 5,
        };
        let loaded = connector_spec::load_str(
            "bench_list.yaml",
            &spec_text(shape),
            &connector_spec::LoadOptions {
                strict: true,
                ..Default::default()
            },
        );
        assert!(loaded.diagnostics.is_empty(), "{}", loaded.render(false));
    }

    #[test]
    fn curl_config_names_every_page_once() {
        let shape = Shape {
            pages: 3,
            per_page: 5,
        };
        let text = curl_config("http://127.0.0.1:1", shape);
        let urls: Vec<&str> = text.lines().filter(|l| l.starts_with("url = ")).collect();
        assert_eq!(
            urls,
            [
                "url = \"http://127.0.0.1:1/records?limit=5\"",
                "url = \"http://127.0.0.1:1/records?limit=5&cursor=cur_00001\"",
                "url = \"http://127.0.0.1:1/records?limit=5&cursor=cur_00002\"",
            ]
        );
        assert!(text.contains(&format!("header = \"Authorization: Bearer {TOKEN}\"")));
    }
}
