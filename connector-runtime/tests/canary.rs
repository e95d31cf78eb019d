//! The canary scan: every shared auth strategy, run through every error path (and the success
//! path) against a loopback server that echoes back everything it receives, with a canary
//! secret. Everything is captured and scanned: every log line at TRACE level from every crate
//! (our `tracing` events and `log` records of reqwest and friends), every error's Display and
//! Debug, every output, and the Debug of instances, runtimes and contexts.

mod log_support;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use connector_runtime::{ConnectorInstance, Dispatcher, ExecuteOptions, InstanceRuntime, Registry};
use connector_spec::{ConnectorSpec, LoadOptions};
use log_support::captured_logs;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Every secret in this file contains this text.
const CANARY: &str = "cAnArY-9d2f71e0b4";

/// Replies with everything the request carried (method, URL with query, headers, body): the
/// worst case of an API that quotes the credential back. `ok` is false for error statuses and
/// for `ok_false` (a 200 whose body says it failed).
struct Echo {
    status: u16,
    ok_false: bool,
}

impl Respond for Echo {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let headers: serde_json::Map<String, Value> = r
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), json!(String::from_utf8_lossy(v.as_bytes()))))
            .collect();
        ResponseTemplate::new(self.status).set_body_json(json!({
            "ok": self.status < 300 && !self.ok_false,
            "error": format!("echo of {} {}", r.method, r.url),
            "url": r.url.to_string(),
            "headers": headers,
            "body": String::from_utf8_lossy(&r.body),
        }))
    }
}

fn spec(auth_type: &str, request: &str, extra_secrets: &str) -> ConnectorSpec {
    let text = format!(
        r#"id: .canary
displayName: Canary
description: Every request and error path with a canary secret.
minimumLicense: basic
baseUrl: "{{{{ config.base }}}}"
auth:
  types: [{auth_type}]
config:
  type: object
  properties:
    base: {{ type: string, maxLength: 2048 }}
secrets:
  type: object
  properties: {{ {extra_secrets} }}
policies:
  retry:
    presets: [server_errors, rate_limit]
    maxRetries: 1
    backoff: {{ strategy: fixed, initialDelayMs: 1, jitter: false }}
    maxWaitMs: 5
  timeouts: {{ connectMs: 500, totalMs: 400 }}
  errors:
    - status: [401, 403]
      class: auth
actions:
  call:
    description: Call one scenario.
    scope: read
    input:
      type: object
      required: [scenario]
      properties:
        scenario: {{ type: string, maxLength: 64 }}
    request:
{request}
    response:
      errors:
        - when: {{ path: $.ok, equals: false }}
          class: user
          message: "the API said: {{{{ response.error }}}} {{{{ response.headers | tojson }}}}"
"#
    );
    let loaded = connector_spec::load_str("canary.yaml", &text, &LoadOptions::default());
    assert!(!loaded.has_errors(), "{}", loaded.render(false));
    loaded.spec.expect("spec")
}

const PATH_REQUEST: &str = "      method: POST\n      path: \"/s/{{ input.scenario }}\"\n      body:\n        json: { hello: world }\n";

/// One auth strategy: its spec, config and secrets (each secret holds the canary).
struct Case {
    name: &'static str,
    spec: ConnectorSpec,
    config: Value,
    secrets: Value,
    /// Wire forms of the secret that differ from the canary text.
    wire: Vec<String>,
}

/// A private key generated for this run, as PEM, and its body lines: a key cannot hold the
/// canary text, so its lines are the needles.
struct TestKey {
    pem: String,
    body: Vec<String>,
}

fn test_key() -> TestKey {
    use aws_lc_rs::encoding::AsDer;
    let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("key");
    let der = kp.as_der().expect("pkcs8");
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let body: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    TestKey {
        pem: format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            body.join("\n")
        ),
        // The last line may be short enough to occur by chance; the others cannot.
        body: body.into_iter().filter(|l| l.len() == 64).collect(),
    }
}

fn cases(base: &str) -> Vec<Case> {
    let secret = |s: &str| format!("{s}-{CANARY}");
    let key = test_key();
    let basic_pair = format!("user-{CANARY}:{}", secret("pw"));
    vec![
        Case {
            name: "none + templated auth header",
            spec: {
                let mut s = spec(
                    "none",
                    PATH_REQUEST,
                    "apiKey: { type: string, maxLength: 256 }",
                );
                s.auth.headers.insert(
                    "Authorization".into(),
                    "GenieKey {{ secrets.apiKey }}".into(),
                );
                s
            },
            config: json!({ "base": base }),
            secrets: json!({ "apiKey": secret("genie") }),
            wire: vec![],
        },
        Case {
            name: "basic",
            spec: spec("basic", PATH_REQUEST, ""),
            config: json!({ "base": base }),
            secrets: json!({ "username": format!("user-{CANARY}"), "password": secret("pw") }),
            wire: vec![base64::engine::general_purpose::STANDARD.encode(&basic_pair)],
        },
        Case {
            name: "bearer",
            spec: spec("bearer", PATH_REQUEST, ""),
            config: json!({ "base": base }),
            secrets: json!({ "token": secret("bearer") }),
            wire: vec![],
        },
        Case {
            name: "api_key_header",
            spec: spec("api_key_header", PATH_REQUEST, ""),
            config: json!({ "base": base, "headerName": "X-Api-Key" }),
            secrets: json!({ "apiKey": secret("hdr") }),
            wire: vec![],
        },
        Case {
            name: "api_key_query",
            spec: spec("api_key_query", PATH_REQUEST, ""),
            config: json!({ "base": base, "paramName": "key" }),
            secrets: json!({ "apiKey": secret("query") }),
            wire: vec![],
        },
        Case {
            name: "headers",
            spec: spec("headers", PATH_REQUEST, ""),
            config: json!({ "base": base }),
            secrets: json!({ "headers": { "X-Custom-Auth": secret("custom"), "X-Other": "plain" } }),
            wire: vec![],
        },
        Case {
            name: "webhook_url",
            spec: spec(
                "webhook_url",
                "      method: POST\n      url: \"{{ secrets.url }}/{{ input.scenario }}\"\n      body:\n        json: { hello: world }\n",
                "",
            ),
            config: json!({ "base": base }),
            secrets: json!({ "url": format!("{base}/hook/{CANARY}/s") }),
            wire: vec![],
        },
        Case {
            name: "oauth_client_credentials",
            spec: spec("oauth_client_credentials", PATH_REQUEST, ""),
            config: json!({
                "base": base, "tokenUrl": format!("{base}/oauth/token"),
                "clientId": "client-1", "clientAuthentication": "client_secret_post"
            }),
            secrets: json!({ "clientSecret": secret("client") }),
            wire: vec![],
        },
        Case {
            name: "api_key_header + prefix",
            spec: spec("api_key_header", PATH_REQUEST, ""),
            config: json!({ "base": base, "headerName": "Authorization", "prefix": "GenieKey " }),
            secrets: json!({ "apiKey": secret("genie-hdr") }),
            wire: vec![],
        },
        Case {
            name: "api_key_pair",
            spec: spec("api_key_pair", PATH_REQUEST, ""),
            config: json!({
                "base": base, "idHeaderName": "X-User-Email", "keyHeaderName": "Authorization",
                "keyPrefix": "Key "
            }),
            secrets: json!({ "keyId": secret("key-id"), "apiKey": secret("pair") }),
            wire: vec![],
        },
        Case {
            name: "oauth_jwt_bearer",
            spec: spec("oauth_jwt_bearer", PATH_REQUEST, ""),
            config: json!({
                "base": base, "tokenUrl": format!("{base}/oauth/token"), "clientId": "client-1",
                "userIdentifier": "svc@example.com", "keyId": "key-1"
            }),
            secrets: json!({ "clientSecret": secret("jwt-client"), "privateKey": key.pem }),
            wire: key.body.clone(),
        },
        Case {
            name: "oauth_client_credentials + private_key_jwt",
            spec: spec("oauth_client_credentials", PATH_REQUEST, ""),
            config: json!({
                "base": base, "tokenUrl": format!("{base}/oauth/token"), "clientId": "client-1",
                "clientAuthentication": "private_key_jwt", "keyId": "key-1"
            }),
            secrets: json!({ "privateKey": key.pem }),
            wire: key.body.clone(),
        },
        Case {
            name: "gcp_service_account",
            spec: spec("gcp_service_account", PATH_REQUEST, ""),
            config: json!({ "base": base }),
            secrets: json!({ "serviceAccountKey": json!({
                "type": "service_account", "client_email": "svc@p.iam.gserviceaccount.com",
                "client_id": secret("gcp-client"), "private_key": key.pem,
                "private_key_id": "key-1", "token_uri": format!("{base}/oauth/token")
            }).to_string() }),
            wire: key.body.clone(),
        },
        Case {
            name: "aws_sigv4",
            spec: spec("aws_sigv4", PATH_REQUEST, ""),
            config: json!({ "base": base, "region": "us-east-1", "service": "execute-api" }),
            secrets: json!({
                "accessKeyId": format!("AKIA{CANARY}"),
                "secretAccessKey": secret("aws"),
                "sessionToken": secret("session")
            }),
            wire: vec![],
        },
    ]
}

/// Every path a call can take: (scenario, whether it succeeds).
const SCENARIOS: &[(&str, bool)] = &[
    ("ok", true),
    ("ok-false", false),
    ("unauthorized", false),
    ("forbidden", false),
    ("bad-request", false),
    ("not-found", false),
    ("storm", false),
    ("throttled", false),
    ("malformed", false),
    ("slow", false),
    ("redirect-loop", false),
];

async fn mount(server: &MockServer) {
    let token = json!({
        "access_token": format!("token-{CANARY}"), "token_type": "Bearer", "expires_in": 3600
    });
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token))
        .mount(server)
        .await;
    // The webhook URL secret carries the canary in its path.
    let route = |s: &str| path_regex(format!(r"^(/hook/{CANARY})?/s/{s}$"));
    for (scenario, status, ok_false) in [
        ("ok", 200, false),
        ("ok-false", 200, true),
        ("unauthorized", 401, false),
        ("forbidden", 403, false),
        ("bad-request", 400, false),
        ("not-found", 404, false),
        ("storm", 503, false),
    ] {
        Mock::given(route(scenario))
            .respond_with(Echo { status, ok_false })
            .mount(server)
            .await;
    }
    Mock::given(route("throttled"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .mount(server)
        .await;
    Mock::given(route("malformed"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(format!("{{\"echo\": \"{CANARY}"), "application/json"),
        )
        .mount(server)
        .await;
    Mock::given(route("slow"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "late": true }))
                .set_delay(Duration::from_secs(5)),
        )
        .mount(server)
        .await;
    Mock::given(route("redirect-loop"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", "/s/redirect-loop"))
        .mount(server)
        .await;
}

fn scan(what: &str, text: &str, needles: &[String]) {
    for n in needles {
        assert!(
            !text.contains(n.as_str()),
            "a secret (`{n}`) leaked into {what}:\n{text}"
        );
    }
}

#[tokio::test]
async fn no_auth_strategy_leaks_its_secret_on_any_path() {
    let logs = captured_logs();
    let server = MockServer::builder()
        .listener(std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .start()
        .await;
    mount(&server).await;
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };

    let mut needles = vec![CANARY.to_string()];
    let mut outcomes = 0;
    for case in cases(&server.uri()) {
        needles.extend(case.wire.iter().cloned());
        let spec = Arc::new(case.spec);
        let instance =
            ConnectorInstance::new(Arc::clone(&spec), case.config.clone(), case.secrets.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let runtime = InstanceRuntime::new(instance).expect("runtime");
        let dispatcher: Arc<Dispatcher> = Registry::new()
            .register_spec((*spec).clone())
            .expect("registers");
        for (scenario, succeeds) in SCENARIOS {
            let ctx = runtime.context("", CancellationToken::new());
            let r = dispatcher
                .execute(
                    &ctx,
                    "call",
                    json!({ "scenario": scenario }),
                    ExecuteOptions::default(),
                )
                .await;
            let what = format!("{} / {scenario}", case.name);
            assert_eq!(r.is_ok(), *succeeds, "{what}: {r:?}");
            match &r {
                Ok(v) => scan(&format!("the output of {what}"), &v.to_string(), &needles),
                Err(e) => {
                    scan(&format!("the error of {what}"), &e.to_string(), &needles);
                    scan(
                        &format!("the error Debug of {what}"),
                        &format!("{e:?}"),
                        &needles,
                    );
                }
            }
            scan(
                &format!("the context Debug of {what}"),
                &format!("{ctx:?}"),
                &needles,
            );
            outcomes += 1;
        }
        // A server that is not there.
        let nowhere = format!("http://127.0.0.1:{closed_port}");
        let mut config = case.config.clone();
        config["base"] = json!(nowhere);
        if let Some(url) = config.get("tokenUrl").and_then(Value::as_str) {
            config["tokenUrl"] = json!(url.replace(&server.uri(), &nowhere));
        }
        let mut secrets = case.secrets.clone();
        if let Some(url) = secrets.get("url").and_then(Value::as_str) {
            secrets["url"] = json!(url.replace(&server.uri(), &nowhere));
        }
        let instance =
            ConnectorInstance::new(Arc::clone(&spec), config, secrets).expect("instance");
        let gone = InstanceRuntime::new(instance).expect("runtime");
        let e = dispatcher
            .execute(
                &gone.context("", CancellationToken::new()),
                "call",
                json!({ "scenario": "ok" }),
                ExecuteOptions::default(),
            )
            .await
            .expect_err("nothing listens there");
        assert!(
            ["connection_failed", "token_request_failed"].contains(&e.code),
            "{}: {e}",
            case.name
        );
        scan("a connection error", &format!("{e} {e:?}"), &needles);
        // A token endpoint that refuses, quoting the request (client secret in the form body).
        if case.config.get("tokenUrl").is_some() {
            let mut config = case.config.clone();
            config["tokenUrl"] = json!(format!("{}/s/unauthorized", server.uri()));
            let instance = ConnectorInstance::new(Arc::clone(&spec), config, case.secrets.clone())
                .expect("instance");
            let refused = InstanceRuntime::new(instance).expect("runtime");
            let e = dispatcher
                .execute(
                    &refused.context("", CancellationToken::new()),
                    "call",
                    json!({ "scenario": "ok" }),
                    ExecuteOptions::default(),
                )
                .await
                .expect_err("the token endpoint refuses");
            assert_eq!(e.class, connector_runtime::ErrorClass::Auth, "{e}");
            scan("a token endpoint error", &format!("{e} {e:?}"), &needles);
        }
        // Secrets of the wrong type: the error names the field and shows no value.
        let bad: serde_json::Map<String, Value> = case
            .secrets
            .as_object()
            .expect("object")
            .keys()
            .map(|k| (k.clone(), json!([format!("{k}-{CANARY}")])))
            .collect();
        if let Err(e) = ConnectorInstance::new(Arc::clone(&spec), case.config, Value::Object(bad)) {
            scan("an invalid-secrets error", &format!("{e} {e:?}"), &needles);
        }
        scan(
            &format!("the runtime Debug of {}", case.name),
            &format!("{runtime:?}"),
            &needles,
        );
        outcomes += 1;
    }
    assert_eq!(outcomes, 14 * (SCENARIOS.len() + 1));

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        text.contains("TRACE") || text.contains("DEBUG"),
        "the capture saw no debug/trace lines; the scan would prove nothing"
    );
    scan("the logs", &text, &needles);
}
