//! What a new user runs into first, through the real binary against loopback servers: listings
//! (mappings, truncation, streamed output, broken pipes), Retry-After, logs, syntax errors.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const CANARY: &str = "canary-5e2b-first-use-token";

/// A cursor listing of `pages` pages of `per_page` records `{number, title}`; the page after
/// the first is delayed by `delay`.
struct Pages {
    pages: u64,
    per_page: u64,
    delay: Duration,
}

impl Respond for Pages {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let page: u64 = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "cursor")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let items: Vec<Value> = (0..self.per_page)
            .map(|i| json!({ "number": page * self.per_page + i, "title": format!("t{i}") }))
            .collect();
        let next = if page + 1 < self.pages {
            json!((page + 1).to_string())
        } else {
            json!("")
        };
        let r = ResponseTemplate::new(200).set_body_json(json!({ "items": items, "next": next }));
        if page >= 1 {
            r.set_delay(self.delay)
        } else {
            r
        }
    }
}

fn spec(base: &str, pagination_extra: &str, retry: &str) -> String {
    format!(
        r#"id: .firstuse
displayName: First use
description: A listing API
minimumLicense: basic
baseUrl: {base}
auth: {{ types: [bearer] }}
policies:
  retry: {retry}
actions:
  issues:
    description: List issues
    scope: read
    request: {{ method: GET, path: /issues }}
    pagination: {{ style: cursor, cursorParam: cursor, cursorPath: $.next, records: $.items{pagination_extra} }}
    response:
      output: {{ n: $.number }}
  create:
    description: Create an issue
    scope: write
    request: {{ method: POST, path: /create, body: {{ json: {{ title: x }} }} }}
"#
    )
}

struct Files {
    _dir: tempfile::TempDir,
    spec: String,
    secrets: String,
}

fn files(text: &str) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("firstuse.yaml");
    std::fs::write(&spec, text).unwrap();
    let secrets = dir.path().join("secrets.json");
    std::fs::write(&secrets, json!({ "token": CANARY }).to_string()).unwrap();
    Files {
        spec: spec.display().to_string(),
        secrets: secrets.display().to_string(),
        _dir: dir,
    }
}

const NO_RETRY: &str = "{ presets: [server_errors], maxRetries: 0 }";

async fn listing(pages: u64, per_page: u64, delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/issues"))
        .respond_with(Pages {
            pages,
            per_page,
            delay,
        })
        .mount(&server)
        .await;
    server
}

fn connector(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_connector"));
    c.args(args).env_remove("RUST_LOG").env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

async fn output(args: Vec<String>, env: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        connector(&args, &env).output().unwrap()
    })
    .await
    .unwrap()
}

fn run_args(f: &Files, action: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["run", &f.spec, action, "--secrets", &f.secrets]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_listing_applies_its_output_mapping_to_each_record() {
    let server = listing(2, 2, Duration::ZERO).await;
    let f = files(&spec(&server.uri(), "", NO_RETRY));
    let out = output(run_args(&f, "issues", &["--all-pages"]), vec![]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v, json!([{ "n": 0 }, { "n": 1 }, { "n": 2 }, { "n": 3 }]));
    // One record per line in the default JSON output.
    assert_eq!(stdout.lines().count(), 6, "{stdout}");
    // The first page alone is mapped too.
    let out = output(run_args(&f, "issues", &[]), vec![]).await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, json!([{ "n": 0 }, { "n": 1 }]));
}

#[tokio::test]
async fn a_listing_cut_by_max_records_or_max_pages_says_so_on_stderr() {
    let server = listing(10, 2, Duration::ZERO).await;
    for (extra, records, warning) in [
        (
            ", maxRecords: 3",
            3,
            "warning: listing stopped at maxRecords (3); more records exist",
        ),
        (
            ", maxPages: 2",
            4,
            "warning: listing stopped at maxPages (2); more records exist",
        ),
    ] {
        let f = files(&spec(&server.uri(), extra, NO_RETRY));
        let out = output(
            run_args(&f, "issues", &["--all-pages", "--output", "ndjson"]),
            vec![],
        )
        .await;
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert_eq!(stdout.lines().count(), records, "{stdout}");
        assert!(stderr.contains(warning), "{stderr}");
    }
    // A listing that reaches the provider's last page says nothing.
    let f = files(&spec(&server.uri(), ", maxPages: 10", NO_RETRY));
    let out = output(run_args(&f, "issues", &["--all-pages"]), vec![]).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("listing stopped"), "{stderr}");
}

#[tokio::test]
async fn the_built_in_page_cap_is_named_when_it_stops_a_listing() {
    let server = listing(1_005, 1, Duration::ZERO).await;
    let f = files(&spec(&server.uri(), "", NO_RETRY));
    let out = output(
        run_args(&f, "issues", &["--all-pages", "--output", "ndjson"]),
        vec![],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout.lines().count(), 1_000);
    assert!(
        stderr.contains("listing stopped at the built-in page cap (1000); more records exist"),
        "{stderr}"
    );
    assert!(stderr.contains("pagination.maxPages"), "{stderr}");
}

#[tokio::test]
async fn ndjson_records_arrive_as_pages_arrive() {
    // The second page takes 4 s: the first page's records must be readable before that.
    let server = listing(2, 3, Duration::from_secs(4)).await;
    let f = files(&spec(&server.uri(), "", NO_RETRY));
    let args = run_args(&f, "issues", &["--all-pages", "--output", "ndjson"]);
    let first = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = connector(&args, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let at = started.elapsed();
        let rest: Vec<String> = lines.map(Result::unwrap).collect();
        assert!(child.wait().unwrap().success());
        (first, at, rest)
    })
    .await
    .unwrap();
    let (line, at, rest) = first;
    assert_eq!(
        serde_json::from_str::<Value>(&line).unwrap(),
        json!({ "n": 0 })
    );
    assert!(at < Duration::from_secs(3), "first record after {at:?}");
    assert_eq!(rest.len(), 5);
}

#[tokio::test]
async fn a_closed_stdout_ends_a_long_listing_quietly_with_exit_0() {
    // 200 pages of 500 records: far more than `head` reads.
    let server = listing(200, 500, Duration::ZERO).await;
    let f = files(&spec(&server.uri(), "", NO_RETRY));
    let args = run_args(&f, "issues", &["--all-pages", "--output", "ndjson"]);
    let (status, stderr) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = connector(&args, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        for _ in 0..5 {
            line.clear();
            stdout.read_line(&mut line).unwrap();
        }
        drop(stdout); // like `| head -n 5`
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status, stderr)
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.trim().is_empty(), "quiet: {stderr}");
    let seen = server.received_requests().await.unwrap().len();
    assert!(
        seen < 200,
        "the listing stopped early: {seen} pages fetched"
    );
}

#[tokio::test]
async fn a_retry_after_longer_than_max_wait_fails_rate_limited_naming_the_wait() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/create"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .expect(1)
        .mount(&server)
        .await;
    let f = files(&spec(
        &server.uri(),
        "",
        "{ presets: [rate_limit], maxRetries: 2, maxWaitMs: 300 }",
    ));
    let out = output(run_args(&f, "create", &[]), vec![]).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: rate_limited (HTTP 429) [rate_limited]"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 s") && stderr.contains("maxWaitMs: 300"),
        "{stderr}"
    );
    server.verify().await;
}

#[tokio::test]
async fn logs_follow_color_and_log_format() {
    let server = listing(1, 1, Duration::ZERO).await;
    let f = files(&spec(&server.uri(), "", NO_RETRY));
    let info = vec![("RUST_LOG".to_string(), "debug".to_string())];
    let run = |extra: &[&str]| {
        let mut a: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        a.extend(run_args(&f, "issues", &[]));
        a
    };
    // Not a terminal: `auto` writes no escapes, `never` none, `always` some.
    for (flags, ansi) in [
        (&[][..], false),
        (&["--color", "never"][..], false),
        (&["--color", "always"][..], true),
    ] {
        let out = output(run(flags), info.clone()).await;
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(!stderr.trim().is_empty(), "debug logs expected");
        assert_eq!(stderr.contains('\u{1b}'), ansi, "{flags:?}: {stderr}");
    }
    let out = output(run(&["--log-format", "json"]), info.clone()).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for l in lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v.get("level").is_some(), "{l}");
    }
    assert!(!stderr.contains(CANARY));
}

#[tokio::test]
async fn an_unclosed_flow_sequence_is_reported_where_it_opens() {
    let f = files(
        "id: .firstuse\ndisplayName: First use\ndescription: d\nminimumLicense: basic\n\
         supportedFeatureIds: [alerting, workflows\nauth: { types: [bearer] }\nactions: {}\n",
    );
    let out = output(vec!["validate".into(), f.spec.clone()], vec![]).await;
    let (stdout, stderr) = text(&out);
    let all = format!("{stdout}{stderr}");
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("firstuse.yaml:5:22"), "{all}");
    assert!(all.contains("this `[` is never closed"), "{all}");
}

#[tokio::test]
async fn a_streaming_action_maps_each_event_and_prints_one_per_line() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/events"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "data: {\"delta\":{\"text\":\"Hel\"},\"i\":1}\n\ndata: {\"delta\":{\"text\":\"lo\"},\"i\":2}\n\ndata: [DONE]\n\n",
            "text/event-stream",
        ))
        .mount(&server)
        .await;
    let spec_text = format!(
        r#"id: .firstuse
displayName: First use
description: A streaming API
minimumLicense: basic
baseUrl: {}
auth: {{ types: [bearer] }}
actions:
  events:
    description: Stream text
    scope: read
    request: {{ method: GET, path: /events }}
    supportsStreaming: true
    streaming: {{ format: sse, doneMarker: "[DONE]" }}
    response:
      output: {{ text: $.delta.text }}
"#,
        server.uri()
    );
    let f = files(&spec_text);
    for format in ["json", "ndjson"] {
        let out = output(run_args(&f, "events", &["--output", format]), vec![]).await;
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let lines: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines,
            vec![
                json!({ "event": "message", "data": { "text": "Hel" } }),
                json!({ "event": "message", "data": { "text": "lo" } }),
            ]
        );
    }
}

#[tokio::test]
async fn a_connection_failure_names_scheme_host_and_port_but_never_path_or_query() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}/v1/secret-path?key={CANARY}");
    let f = files(&spec(&base, "", NO_RETRY));
    let out = output(run_args(&f, "create", &[]), vec![]).await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("could not connect to http://127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-path"), "{stderr}");
    assert!(!stderr.contains(CANARY), "{stderr}");
}

#[tokio::test]
async fn every_record_of_a_listing_and_every_event_is_checked_against_the_output_schema() {
    let server = listing(3, 2, Duration::ZERO).await;
    Mock::given(method("GET"))
        .and(path("/events"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "data: {\"n\":1}\n\ndata: {\"n\":\"two\"}\n\n",
            "text/event-stream",
        ))
        .mount(&server)
        .await;
    let spec_text = format!(
        r#"id: .firstuse
displayName: First use
description: Checked outputs
minimumLicense: basic
baseUrl: {}
auth: {{ types: [bearer] }}
actions:
  issues:
    description: List issues; the schema allows numbers below 3 only
    scope: read
    request: {{ method: GET, path: /issues }}
    pagination: {{ style: cursor, cursorParam: cursor, cursorPath: $.next, records: $.items }}
    response:
      output: {{ n: $.number }}
    output:
      type: array
      maxItems: 2
      items: {{ type: object, properties: {{ n: {{ type: integer, maximum: 2 }} }} }}
  events:
    description: Events whose n is a number
    scope: read
    request: {{ method: GET, path: /events }}
    supportsStreaming: true
    streaming: {{ format: sse }}
    output: {{ type: object, properties: {{ n: {{ type: integer }} }} }}
"#,
        server.uri()
    );
    let f = files(&spec_text);
    // The first page alone matches (two records, n 0 and 1).
    let out = output(run_args(&f, "issues", &[]), vec![]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    // All pages: the fourth record (n = 3) breaks `items`; the page-sized maxItems does not
    // apply to the whole listing.
    for format in ["json", "ndjson"] {
        let out = output(
            run_args(&f, "issues", &["--all-pages", "--output", format]),
            vec![],
        )
        .await;
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("[invalid_output]") && stderr.contains("record of `issues`"),
            "{stderr}"
        );
    }
    let out = output(run_args(&f, "events", &[]), vec![]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "the valid event first: {stdout}");
    assert!(
        stderr.contains("[invalid_output]") && stderr.contains("event of `events`"),
        "{stderr}"
    );
}
