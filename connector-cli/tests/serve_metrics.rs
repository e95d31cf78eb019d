//! `/metrics` of `connector serve` end to end: the real binary on 127.0.0.1 runs a known set of
//! operations against loopback upstreams (wiremock, and a small OAuth provider for per-user
//! refreshes); the exposition is parsed with a Prometheus text-format parser and every counter
//! must equal what was done. Also who may read it, `--metrics-listen`, and no secret in it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use openmetrics_parser::{MetricsExposition, OpenMetricsType, OpenMetricsValue};
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;
use support::{Serve, Server, call_text, free_port};

const CANARY: &str = "CANARY-metrics-";

/// Retries on 429 at once; each action is one GET on the loopback API.
fn metered_spec(base: &str) -> String {
    format!(
        r#"id: .metered
displayName: Metered
description: A loopback API whose calls the metrics count.
minimumLicense: basic
baseUrl: "{base}"
auth:
  types: [none]
policies:
  retry:
    presets: [rate_limit]
    maxRetries: 2
    backoff: {{ strategy: fixed, initialDelayMs: 1, maxDelayMs: 1, jitter: false }}
    maxWaitMs: 5000
actions:
  ok:
    description: Answers 200.
    scope: read
    request: {{ method: GET, path: /ok }}
  fail:
    description: Answers 400.
    scope: read
    request: {{ method: GET, path: /fail }}
  flaky:
    description: Answers 429 once, then 200.
    scope: read
    request: {{ method: GET, path: /flaky }}
"#
    )
}

/// Its replies say the quota is spent for two seconds: the next request waits at the gate.
fn gated_spec(base: &str) -> String {
    format!(
        r#"id: .gated
displayName: Gated
description: A loopback API that spends its quota on every call.
minimumLicense: basic
baseUrl: "{base}"
auth:
  types: [none]
policies:
  rateLimit:
    strategy: header
    remainingHeader: X-Remaining
    resetHeader: X-Reset
    resetFormat: delta_seconds
actions:
  spend:
    description: Answers 200 with no quota left.
    scope: read
    request: {{ method: GET, path: /gated }}
"#
    )
}

const PERUSER_SPEC: &str = r#"id: .peruser-metered
displayName: Per-user metered
description: Acts as the calling user; every token is inside the refresh margin.
minimumLicense: basic
baseUrl: "{{ config.base }}"
auth:
  types: [oauth_authorization_code]
config:
  type: object
  additionalProperties: false
  properties:
    base: { type: string, maxLength: 2048 }
actions:
  me:
    description: Who am I.
    scope: read
    request:
      method: GET
      path: /api/me
"#;

// ---------------------------------------------------------------- a small OAuth provider

#[derive(Default)]
struct Provider {
    seq: AtomicU64,
    /// Refresh requests are refused with `invalid_grant` while set.
    refuse_refresh: AtomicBool,
}

/// Logs anyone in and sends the browser back with a code.
async fn authorize(Query(q): Query<HashMap<String, String>>) -> Response {
    let mut to = url::Url::parse(&q["redirect_uri"]).unwrap();
    to.query_pairs_mut()
        .append_pair("code", &format!("{CANARY}code"))
        .append_pair("state", &q["state"]);
    (StatusCode::FOUND, [(header::LOCATION, to.to_string())]).into_response()
}

/// Every token is issued already expired (`expires_in: 0`): each action refreshes first.
async fn token(State(p): State<Arc<Provider>>, Form(f): Form<HashMap<String, String>>) -> Response {
    if f.get("grant_type").map(String::as_str) == Some("refresh_token")
        && p.refuse_refresh.load(Ordering::SeqCst)
    {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    let n = p.seq.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({
        "access_token": format!("{CANARY}at-{n}"),
        "refresh_token": format!("{CANARY}rt-{n}"),
        "token_type": "Bearer",
        "expires_in": 0,
    }))
    .into_response()
}

async fn me(headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(&format!("Bearer {CANARY}at-")));
    match bearer {
        true => axum::Json(json!({"me": "alice"})).into_response(),
        false => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn start_provider(p: Arc<Provider>) -> SocketAddr {
    let app = Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/api/me", get(me))
        .with_state(p);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The loopback API of `.metered` and `.gated`.
async fn start_api() -> MockServer {
    let api = MockServer::start().await;
    let ok = || ResponseTemplate::new(200).set_body_json(json!({"ok": true}));
    Mock::given(method("GET"))
        .and(path("/ok"))
        .respond_with(ok())
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/fail"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "bad"})))
        .mount(&api)
        .await;
    // The first /flaky is 429, every later one 200.
    Mock::given(method("GET"))
        .and(path("/flaky"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/flaky"))
        .respond_with(ok())
        .with_priority(2)
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/gated"))
        .respond_with(
            ok().insert_header("x-remaining", "0")
                .insert_header("x-reset", "2"),
        )
        .mount(&api)
        .await;
    api
}

// ---------------------------------------------------------------- parsing

/// The exposition, parsed by a strict OpenMetrics parser (it also checks the format).
struct Exposition(MetricsExposition<OpenMetricsType, OpenMetricsValue>);

impl Exposition {
    fn parse(text: &str) -> Exposition {
        let parsed = openmetrics_parser::openmetrics::parse_openmetrics(text);
        Exposition(parsed.unwrap_or_else(|e| panic!("{e:?} in\n{text}")))
    }

    /// The value of family `name`'s sample with exactly `labels` (a histogram's count);
    /// `None` when there is no such sample.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let family = self.0.families.get(name)?;
        let sample = family.iter_samples().find(|s| {
            let set = s.get_labelset().unwrap();
            set.iter().count() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| set.get_label_value(k) == Some(*v))
        })?;
        Some(match &sample.value {
            OpenMetricsValue::Counter(c) => c.value.as_f64(),
            OpenMetricsValue::Gauge(n) | OpenMetricsValue::Unknown(n) => n.as_f64(),
            OpenMetricsValue::Histogram(h) => h.count.unwrap_or(0) as f64,
            other => panic!("{name}: unexpected {other:?}"),
        })
    }

    /// [`Exposition::value`], which must exist.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no sample {name} {labels:?} in {:#?}", self.0))
    }
}

async fn scrape(url: &str, key: Option<&str>) -> (u16, String, String) {
    let mut r = reqwest::Client::new().get(url);
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ct, resp.text().await.unwrap())
}

// ---------------------------------------------------------------- the test

async fn create(server: &Server, admin: &str, body: Value) {
    let (st, text) = call_text(
        &server.base,
        admin,
        Method::POST,
        "/api/instances",
        Some(body),
    )
    .await;
    assert_eq!(st, 201, "{text}");
}

async fn run(server: &Server, key: &str, instance: &str, action: &str) -> u16 {
    let p = format!("/api/instances/{instance}/actions/{action}");
    call_text(&server.base, key, Method::POST, &p, Some(json!({})))
        .await
        .0
}

/// Alice connects her account through the browser flow (start, provider, callback).
async fn connect(server: &Server, key: &str) {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let resp = browser
        .get(server.url("/api/instances/mine/oauth/start"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert_eq!(status, 200, "{}", resp.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_exactly_the_operations_done_and_only_admins_read_them() {
    let api = start_api().await;
    let provider = Arc::new(Provider::default());
    let idp = start_provider(Arc::clone(&provider)).await;
    let metrics_port = free_port();
    let metrics_at = format!("127.0.0.1:{metrics_port}");
    let server = Serve::new()
        .spec("metered.yaml", &metered_spec(&api.uri()))
        .spec("gated.yaml", &gated_spec(&api.uri()))
        .spec("peruser.yaml", PERUSER_SPEC)
        .args(&["--allow-loopback", "--metrics-listen", &metrics_at])
        .start()
        .await;
    let admin = server.add_user("admin", true);
    let alice = server.add_user("alice", false);
    let c = reqwest::Client::new();

    // Who may read it: no key 401, a user 403, on --metrics-listen anyone.
    assert_eq!(scrape(&server.url("/metrics"), None).await.0, 401);
    assert_eq!(scrape(&server.url("/metrics"), Some(&alice)).await.0, 403);
    let (st, ct, _) = scrape(&format!("http://{metrics_at}/metrics"), None).await;
    assert_eq!(st, 200);
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");

    create(
        &server,
        &admin,
        json!({"id": "m-1", "connectorType": ".metered", "name": "M"}),
    )
    .await;
    create(
        &server,
        &admin,
        json!({"id": "g-1", "connectorType": ".gated", "name": "G"}),
    )
    .await;
    create(
        &server,
        &admin,
        json!({
            "id": "mine", "connectorType": ".peruser-metered", "name": "Mine",
            "config": {
                "authType": "oauth_authorization_code",
                "base": format!("http://{idp}"),
                "authorizationUrl": format!("http://{idp}/authorize"),
                "tokenUrl": format!("http://{idp}/token"),
                "clientId": "client-1",
            },
            "secrets": { "clientSecret": format!("{CANARY}client-secret") },
        }),
    )
    .await;

    // Known statuses on known routes, and requests no route matches.
    for _ in 0..2 {
        assert_eq!(
            c.get(server.url("/healthz")).send().await.unwrap().status(),
            200
        );
    }
    assert_eq!(
        c.get(server.url("/no/such/route"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let (st, _) = call_text(
        &server.base,
        &admin,
        Method::GET,
        "/api/instances/zz-raw-id",
        None,
    )
    .await;
    assert_eq!(st, 404);

    // Action runs: 3 ok, 2 failing (the API's 400 is a `user` error), one 429 then 200 (a
    // retry), two quota-spending calls (the second waits ~2 s at the gate), an unknown action.
    for _ in 0..3 {
        assert_eq!(run(&server, &alice, "m-1", "ok").await, 200);
    }
    for _ in 0..2 {
        assert_eq!(run(&server, &alice, "m-1", "fail").await, 400);
    }
    assert_eq!(run(&server, &alice, "m-1", "flaky").await, 200);
    assert_eq!(run(&server, &alice, "g-1", "spend").await, 200);
    assert_eq!(run(&server, &alice, "g-1", "spend").await, 200);
    assert_eq!(run(&server, &alice, "m-1", "zz_no_such_action").await, 404);

    // Per-user: connect, two runs (each refreshes first), then a refused refresh.
    connect(&server, &alice).await;
    assert_eq!(run(&server, &alice, "mine", "me").await, 200);
    assert_eq!(run(&server, &alice, "mine", "me").await, 200);
    provider.refuse_refresh.store(true, Ordering::SeqCst);
    let failed = run(&server, &alice, "mine", "me").await;
    assert!((400..500).contains(&failed), "{failed}");

    let (st, _, text) = scrape(&server.url("/metrics"), Some(&admin)).await;
    assert_eq!(st, 200, "{text}");
    assert!(!text.contains("CANARY"), "a secret in the metrics:\n{text}");
    assert!(
        !text.contains("zz-raw-id"),
        "a raw path in the metrics:\n{text}"
    );
    assert!(
        !text.contains("zz_no_such_action"),
        "a caller's action name:\n{text}"
    );
    let m = Exposition::parse(&text);
    assert_http(&m);
    assert_actions(&m);
    assert_upstream(&m);

    // The unauthenticated listener serves the same counters, nothing else.
    let (_, _, open) = scrape(&format!("http://{metrics_at}/metrics"), None).await;
    let open = Exposition::parse(&open);
    assert_eq!(
        open.get(
            "connector_upstream_retries",
            &[("connector_type", ".metered")]
        ),
        1.0
    );
    assert_eq!(
        scrape(&format!("http://{metrics_at}/api/instances"), Some(&admin))
            .await
            .0,
        404
    );
}

fn http(route: &str, method: &str, status: &str) -> Vec<(&'static str, String)> {
    vec![
        ("route", route.to_string()),
        ("method", method.to_string()),
        ("status", status.to_string()),
    ]
}

fn assert_http(m: &Exposition) {
    let count = |route: &str, method: &str, status: &str| {
        let labels = http(route, method, status);
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        m.value("connector_http_requests", &labels).unwrap_or(0.0)
    };
    assert_eq!(count("/healthz", "GET", "200"), 2.0);
    assert_eq!(count("unmatched", "GET", "404"), 1.0);
    assert_eq!(count("/api/instances/{id}", "GET", "404"), 1.0);
    assert_eq!(count("/metrics", "GET", "401"), 1.0);
    assert_eq!(count("/metrics", "GET", "403"), 1.0);
    assert_eq!(count("/api/instances", "POST", "201"), 3.0);
    let action = "/api/instances/{id}/actions/{action}";
    assert_eq!(count(action, "POST", "200"), 3.0 + 1.0 + 2.0 + 2.0);
    assert_eq!(count(action, "POST", "400"), 2.0);
    assert_eq!(count(action, "POST", "404"), 1.0);
    assert_eq!(
        m.get("connector_http_requests_in_flight", &[]),
        1.0,
        "the scrape itself"
    );
    assert!(
        m.get("connector_http_open_connections", &[]) >= 1.0,
        "the scrape's connection at least"
    );
    let timed = m.get(
        "connector_http_request_duration_seconds",
        &[("route", "/healthz")],
    );
    assert_eq!(timed, 2.0);
}

fn assert_actions(m: &Exposition) {
    let runs = |ty: &str, action: &str, outcome: &str| {
        m.value(
            "connector_action_runs",
            &[
                ("connector_type", ty),
                ("action", action),
                ("outcome", outcome),
            ],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(runs(".metered", "ok", "ok"), 3.0);
    assert_eq!(runs(".metered", "fail", "user"), 2.0);
    assert_eq!(runs(".metered", "flaky", "ok"), 1.0);
    assert_eq!(runs(".gated", "spend", "ok"), 2.0);
    assert_eq!(runs(".peruser-metered", "me", "ok"), 2.0);
    assert_eq!(runs(".peruser-metered", "me", "auth"), 1.0);
    let timed = m.get(
        "connector_action_duration_seconds",
        &[("connector_type", ".metered"), ("action", "ok")],
    );
    assert_eq!(timed, 3.0);
}

fn assert_upstream(m: &Exposition) {
    let by = |name: &str, ty: &str| m.value(name, &[("connector_type", ty)]).unwrap_or(0.0);
    assert_eq!(by("connector_upstream_retries", ".metered"), 1.0);
    assert_eq!(by("connector_upstream_retries", ".gated"), 0.0);
    assert_eq!(by("connector_rate_limit_waits", ".gated"), 1.0);
    let waited = by("connector_rate_limit_wait_seconds", ".gated");
    // Up to the 2 s the reply asked for, less the time the second call took to arrive.
    assert!(waited > 0.0 && waited <= 2.0, "waited {waited} s");
    assert_eq!(by("connector_token_refreshes", ".peruser-metered"), 2.0);
    assert_eq!(
        by("connector_token_refresh_failures", ".peruser-metered"),
        1.0
    );
}

#[test]
fn a_taken_metrics_address_fails_the_start_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = taken.local_addr().unwrap().to_string();
    let mut server = Serve::new().args(&["--metrics-listen", &at]).spawn();
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{}", server.log_text());
    let log = server.log_text();
    assert!(
        log.contains(&format!("cannot listen on {at} for --metrics-listen")),
        "{log}"
    );
}
