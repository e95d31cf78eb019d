//! `.email`: SMTP against a real server (aiosmtpd on 127.0.0.1, `tests/smtp_server.py`, with
//! a certificate from a CA made here), and Microsoft Graph `sendMail` against wiremock.
//!
//! The Python comes from `CONNECTOR_TEST_PYTHON` (set by `cargo xtask test`), else
//! `<target>/ci-venv/bin/python`; without either the tests fail and say to run
//! `cargo xtask test`, they never skip.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use connector_runtime::egress::EgressPolicy;
use connector_runtime::{ConnectorInstance, InstanceRuntime, Registry};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::body_string_contains;

const FROM: &str = "alerts@example.com";
/// The OAuth access token the token endpoint issues (and XOAUTH2 must carry).
const TOKEN: &str = "eyJ0eXAi.graph-token.sig";

/// The Python with aiosmtpd: `CONNECTOR_TEST_PYTHON`, else the venv `cargo xtask test` makes.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("CONNECTOR_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/contracts-<hash>
    let exe = std::env::current_exe().expect("test binary path");
    let venv = exe
        .ancestors()
        .nth(3)
        .map(|t| t.join("ci-venv/bin/python"))
        .filter(|p| p.exists());
    venv.unwrap_or_else(|| {
        panic!(
            "the .email SMTP tests need Python with aiosmtpd: run `cargo xtask test` (it \
             creates target/ci-venv), or set CONNECTOR_TEST_PYTHON"
        )
    })
}

/// A CA and a server certificate for `localhost` and 127.0.0.1: (CA PEM, cert PEM, key PEM).
fn certificates() -> (String, String, String) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "email test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = leaf.signed_by(&key, &*ca).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// One aiosmtpd process; killed on drop.
struct SmtpServer {
    child: Child,
    port: u16,
    out: PathBuf,
    ca_pem: String,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    fn start(mode: &str, extra: &[&str]) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let (ca_pem, cert, key) = certificates();
        std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
        std::fs::write(dir.path().join("key.pem"), key).unwrap();
        let out = dir.path().join("messages.jsonl");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(["--mode", mode])
            .arg("--cert")
            .arg(dir.path().join("cert.pem"))
            .arg("--key")
            .arg(dir.path().join("key.pem"))
            .arg("--out")
            .arg(&out)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start smtp_server.py: {e} (run `cargo xtask test`)"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("smtp_server.py did not start: {line:?}"));
        SmtpServer {
            child,
            port,
            out,
            ca_pem,
            _dir: dir,
        }
    }

    /// Every message the server accepted.
    fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The spec with fast retries, so the transient tests wait milliseconds.
fn spec() -> connector_spec::ConnectorSpec {
    let mut spec = load_spec("email.yaml");
    let retry = spec.policies.retry.as_mut().expect("a retry policy");
    retry.backoff.initial_delay_ms = 10;
    retry.backoff.max_delay_ms = 20;
    spec
}

fn smtp_config(server: &SmtpServer, secure: bool, auth: Value) -> Value {
    let mut c = json!({
        "service": "other", "from": FROM, "host": "localhost",
        "port": server.port, "secure": secure,
    });
    if let (Value::Object(c), Value::Object(extra)) = (&mut c, auth) {
        c.extend(extra);
    }
    c
}

/// A harness on the SMTP server, trusting its CA.
fn smtp(server: &SmtpServer, secure: bool, auth: Value, secrets: Value) -> Harness {
    let mut h = Harness::new(spec(), smtp_config(server, secure, auth), secrets);
    h.runtime = h.runtime.clone().with_smtp_roots(&server.ca_pem);
    h
}

fn basic(server: &SmtpServer) -> Harness {
    smtp(
        server,
        false,
        json!({ "authType": "basic" }),
        json!({ "username": "mailer", "password": CANARY }),
    )
}

/// The header block of an RFC 5322 message, folded lines joined, as (name, value) pairs.
fn headers(data: &str) -> Vec<(String, String)> {
    let head = data.split("\r\n\r\n").next().unwrap_or_default();
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push_str(line.trim_start());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((k.to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    out
}

fn header_of(h: &[(String, String)], name: &str) -> Option<String> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn message_input() -> Value {
    json!({
        "to": ["ops@example.com"],
        "cc": ["lead@example.com"],
        "bcc": ["audit@example.com"],
        "subject": "Disk usage above 90%",
        "message": "web-01: /var is 93% full",
    })
}

#[tokio::test]
async fn email_smtp_starttls_basic_auth_delivers_headers_body_and_bcc_in_the_envelope() {
    let server = SmtpServer::start("starttls", &["--user", "mailer", "--password", CANARY]);
    let h = basic(&server);
    let out = h
        .exec("execute", message_input())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out["service"], json!("other"));
    assert_eq!(
        out["accepted"],
        json!(["ops@example.com", "lead@example.com", "audit@example.com"])
    );
    let response = out["response"].as_str().unwrap();
    assert!(response.starts_with("250 "), "{response}");
    let got = server.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["mail_from"], json!(FROM));
    assert_eq!(
        got[0]["rcpt_tos"],
        json!(["ops@example.com", "lead@example.com", "audit@example.com"])
    );
    let data = got[0]["data"].as_str().unwrap();
    let hs = headers(data);
    assert_eq!(header_of(&hs, "from").as_deref(), Some(FROM));
    assert_eq!(header_of(&hs, "to").as_deref(), Some("ops@example.com"));
    assert_eq!(header_of(&hs, "cc").as_deref(), Some("lead@example.com"));
    assert_eq!(
        header_of(&hs, "subject").as_deref(),
        Some("Disk usage above 90%")
    );
    assert_eq!(
        header_of(&hs, "bcc"),
        None,
        "Bcc must not be in the headers"
    );
    assert!(!data.contains("audit@example.com"), "{data}");
    assert!(
        header_of(&hs, "content-type").is_some_and(|c| c.starts_with("text/plain")),
        "{hs:?}"
    );
    let body = data.split("\r\n\r\n").nth(1).unwrap();
    assert_eq!(body.trim_end(), "web-01: /var is 93% full");
}

#[tokio::test]
async fn email_smtp_connection_test_authenticates_and_quits_without_sending() {
    let server = SmtpServer::start("starttls", &["--user", "mailer", "--password", CANARY]);
    let out = basic(&server)
        .test()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out["service"], json!("other"));
    assert!(
        out["response"].as_str().unwrap().starts_with("221 "),
        "{out}"
    );
    assert!(server.messages().is_empty());
    // The same test with a wrong password fails as an auth error.
    let other = SmtpServer::start("starttls", &["--user", "mailer", "--password", "right"]);
    let e = basic(&other).test().await.expect_err("wrong password");
    assert_eq!(e.class, ErrorClass::Auth, "{e}");
}

#[tokio::test]
async fn email_smtp_auth_failure_is_an_auth_error_without_the_password() {
    let server = SmtpServer::start("starttls", &["--auth-fail"]);
    let e = basic(&server)
        .exec("execute", message_input())
        .await
        .expect_err("535");
    assert_eq!(e.class, ErrorClass::Auth, "{e}");
    assert_eq!(e.code, "smtp_auth_failed");
    assert_eq!(e.status, Some(535), "{e}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn email_smtp_transient_replies_are_retried_once_delivered() {
    for code in ["451", "421"] {
        let server = SmtpServer::start(
            "starttls",
            &[
                "--user",
                "mailer",
                "--password",
                CANARY,
                "--fail-once",
                code,
            ],
        );
        let out = basic(&server)
            .exec("execute", message_input())
            .await
            .unwrap_or_else(|e| panic!("{code}: {e}"));
        assert!(out["response"].as_str().unwrap().starts_with("250 "));
        assert_eq!(server.messages().len(), 1, "{code}: delivered once");
    }
}

#[tokio::test]
async fn email_smtp_without_starttls_is_refused_before_auth() {
    let server = SmtpServer::start("plain", &["--user", "mailer", "--password", CANARY]);
    let e = basic(&server)
        .exec("execute", message_input())
        .await
        .expect_err("no STARTTLS");
    assert_eq!(e.code, "starttls_unavailable", "{e}");
    assert_eq!(e.class, ErrorClass::User);
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn email_smtp_untrusted_certificate_is_refused() {
    let server = SmtpServer::start("starttls", &["--user", "mailer", "--password", CANARY]);
    // No extra root: the platform's roots do not know the test CA.
    let h = Harness::new(
        spec(),
        smtp_config(&server, false, json!({ "authType": "basic" })),
        json!({ "username": "mailer", "password": CANARY }),
    );
    let e = h
        .exec("execute", message_input())
        .await
        .expect_err("untrusted");
    assert_eq!(e.code, "smtp_tls_failed", "{e}");
    assert!(server.messages().is_empty());
}

/// A token endpoint on wiremock for the client-credentials grant.
async fn token_endpoint(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/tenant-1/oauth2/v2.0/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(json_reply(json!({
            "token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN
        })))
        .mount(server)
        .await;
}

fn oauth_config(idp: &MockServer, scope: &str) -> Value {
    json!({
        "authType": "oauth_client_credentials",
        "tenantId": "tenant-1",
        "clientId": "app-1",
        "tokenUrl": format!("{}/tenant-1/oauth2/v2.0/token", idp.uri()),
        "scope": scope,
    })
}

/// The form fields of a request body.
fn form(r: &wiremock::Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&r.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn email_smtp_implicit_tls_with_xoauth2_and_an_html_part() {
    let idp = loopback().await;
    token_endpoint(&idp).await;
    let server = SmtpServer::start("implicit", &["--user", FROM, "--token", TOKEN]);
    let h = smtp(
        &server,
        true,
        oauth_config(&idp, "https://outlook.office365.com/.default"),
        json!({ "clientSecret": CANARY }),
    );
    let mut input = message_input();
    input["messageHTML"] = json!("<p>web-01: <b>/var</b> is 93% full</p>");
    h.exec("execute", input)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let token_request = only_request(&idp).await;
    assert_eq!(
        form(&token_request),
        vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            (
                "scope".to_string(),
                "https://outlook.office365.com/.default".to_string()
            ),
            ("client_id".to_string(), "app-1".to_string()),
            ("client_secret".to_string(), CANARY.to_string()),
        ]
    );
    let got = server.messages();
    assert_eq!(got.len(), 1);
    let data = got[0]["data"].as_str().unwrap();
    let hs = headers(data);
    assert!(
        header_of(&hs, "content-type").is_some_and(|c| c.starts_with("multipart/alternative")),
        "{hs:?}"
    );
    assert!(data.contains("Content-Type: text/plain"), "{data}");
    assert!(data.contains("Content-Type: text/html"), "{data}");
    assert!(data.contains("<b>/var</b>"), "{data}");
}

#[tokio::test]
async fn email_smtp_relay_refused_by_the_egress_policy_is_never_contacted() {
    let server = SmtpServer::start("starttls", &["--user", "mailer", "--password", CANARY]);
    let spec = std::sync::Arc::new(spec());
    for (host, allowed, why) in [
        ("localhost", "*", "loopback"),
        ("127.0.0.1", "*", "loopback"),
        ("localhost", "smtp.example.com", "allowed-hosts"),
    ] {
        let mut config = smtp_config(&server, false, json!({ "authType": "basic" }));
        config["host"] = json!(host);
        let instance = ConnectorInstance::new(
            std::sync::Arc::clone(&spec),
            config,
            json!({ "username": "mailer", "password": CANARY }),
        )
        .unwrap();
        let policy = EgressPolicy {
            allowed_hosts: vec![allowed.to_string()],
            allow_loopback: false,
        };
        let runtime = InstanceRuntime::new_with_egress(instance, policy)
            .unwrap()
            .with_smtp_roots(&server.ca_pem);
        let mut registry = Registry::with_builtins();
        let d = registry.register_spec((*spec).clone()).unwrap();
        let ctx = runtime.context("", CancellationToken::new());
        let e = d
            .execute(&ctx, "execute", message_input(), Default::default())
            .await
            .expect_err("refused");
        assert_no_canary(&e);
        assert_eq!(e.code, "egress_refused", "{host}: {e}");
        assert!(e.message.contains(why), "{host}: {e}");
    }
    assert!(server.messages().is_empty());
}

fn exchange(idp: &MockServer) -> Harness {
    let mut config = oauth_config(idp, "https://graph.microsoft.com/.default");
    config["service"] = json!("exchange_server");
    config["from"] = json!(FROM);
    config["graphApiUrl"] = json!(format!("{}/v1.0", idp.uri()));
    Harness::new(spec(), config, json!({ "clientSecret": CANARY }))
}

#[tokio::test]
async fn email_exchange_sends_through_graph_send_mail() {
    let server = loopback().await;
    token_endpoint(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1.0/users/alerts%40example.com/sendMail"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    let h = exchange(&server);
    let mut input = message_input();
    input["replyTo"] = json!(["noc@example.com"]);
    let out = h
        .exec("execute", input)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({
            "service": "exchange_server",
            "accepted": ["ops@example.com", "lead@example.com", "audit@example.com"],
            "response": "202 Accepted",
        })
    );
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 2, "token, then sendMail");
    assert_line(&reqs[0], "POST", "/tenant-1/oauth2/v2.0/token");
    assert_eq!(
        form(&reqs[0]),
        vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            (
                "scope".to_string(),
                "https://graph.microsoft.com/.default".to_string()
            ),
            ("client_id".to_string(), "app-1".to_string()),
            ("client_secret".to_string(), CANARY.to_string()),
        ]
    );
    let send = &reqs[1];
    assert_line(send, "POST", "/v1.0/users/alerts%40example.com/sendMail");
    assert_eq!(
        header(send, "authorization"),
        Some(format!("Bearer {TOKEN}"))
    );
    assert_eq!(
        json_body(send),
        json!({
            "message": {
                "subject": "Disk usage above 90%",
                "body": { "contentType": "Text", "content": "web-01: /var is 93% full" },
                "toRecipients": [{ "emailAddress": { "address": "ops@example.com" } }],
                "ccRecipients": [{ "emailAddress": { "address": "lead@example.com" } }],
                "bccRecipients": [{ "emailAddress": { "address": "audit@example.com" } }],
                "replyTo": [{ "emailAddress": { "address": "noc@example.com" } }],
            },
            "saveToSentItems": true,
        })
    );
}

#[tokio::test]
async fn email_exchange_errors_and_connection_test() {
    let server = loopback().await;
    token_endpoint(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1.0/users/alerts%40example.com/sendMail"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": { "code": "ErrorAccessDenied", "message": "Access is denied." }
        })))
        .mount(&server)
        .await;
    let h = exchange(&server);
    let e = h.exec("execute", message_input()).await.expect_err("403");
    assert_eq!(e.class, ErrorClass::Auth, "{e}");
    assert_eq!(e.status, Some(403));
    let out = h.test().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({ "service": "exchange_server", "token": "issued" })
    );
}

#[tokio::test]
async fn email_input_and_config_errors_are_typed() {
    let server = SmtpServer::start("starttls", &["--user", "mailer", "--password", CANARY]);
    let h = basic(&server);
    let e = h
        .exec(
            "execute",
            json!({ "to": [], "subject": "s", "message": "m" }),
        )
        .await
        .expect_err("no recipient");
    assert_eq!(e.code, "invalid_input", "{e}");
    assert!(e.message.contains("[to], [cc], or [bcc]"), "{e}");
    // exchange_server without client credentials.
    let mut config = smtp_config(&server, false, json!({ "authType": "basic" }));
    config["service"] = json!("exchange_server");
    let h = Harness::new(
        spec(),
        config,
        json!({ "username": "mailer", "password": CANARY }),
    );
    let e = h.exec("execute", message_input()).await.expect_err("basic");
    assert_eq!(e.code, "invalid_config", "{e}");
    assert!(server.messages().is_empty());
}

#[test]
fn email_a_named_relay_needs_host_and_port_in_the_config_schema() {
    let spec = Arc::new(spec());
    let secrets = json!({ "username": "mailer", "password": CANARY });
    for (config, missing) in [
        (
            json!({ "from": FROM, "port": 587, "authType": "basic" }),
            "host",
        ),
        (
            json!({ "service": "other", "from": FROM, "host": "relay.example.com", "authType": "basic" }),
            "port",
        ),
    ] {
        let e = ConnectorInstance::new(Arc::clone(&spec), config, secrets.clone())
            .expect_err("refused when the instance is created");
        assert_eq!(e.code, "invalid_config", "{e}");
        assert!(e.message.contains(missing), "{e}");
        assert_no_canary(&e);
    }
    // The well-known services need neither.
    for service in ["gmail", "ses", "elastic_cloud"] {
        let config = json!({ "service": service, "from": FROM, "authType": "basic" });
        ConnectorInstance::new(Arc::clone(&spec), config, secrets.clone())
            .unwrap_or_else(|e| panic!("{service}: {e}"));
    }
}

/// A relay that accepts connections and never says a word (no 220 greeting); returns its port
/// and how many connections it accepted.
async fn silent_relay() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(tcp);
        }
    });
    (port, accepted)
}

fn silent_harness(port: u16, total_ms: u64) -> Harness {
    let mut spec = spec();
    let timeouts = spec
        .policies
        .timeouts
        .as_mut()
        .expect("the spec's timeouts");
    timeouts.total_ms = Some(total_ms);
    let config = json!({
        "service": "other", "from": FROM, "host": "localhost", "port": port, "secure": false,
        "authType": "basic",
    });
    Harness::new(
        spec,
        config,
        json!({ "username": "mailer", "password": CANARY }),
    )
}

#[tokio::test]
async fn email_smtp_relay_that_never_greets_times_out_and_a_send_is_not_retried() {
    let (port, accepted) = silent_relay().await;
    let h = silent_harness(port, 300);
    let err = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        h.exec("execute", message_input()),
    )
    .await
    .expect("the spec's total timeout ends the exchange")
    .expect_err("no greeting");
    assert_eq!(err.code, "timeout", "{err}");
    assert_eq!(err.class, ErrorClass::Transient);
    assert!(err.message.contains("300 ms"), "{err}");
    // The message may have been handed over when the time ran out: no second attempt.
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn email_smtp_exchange_ends_when_the_action_is_cancelled() {
    let (port, accepted) = silent_relay().await;
    // A long timeout, so only the cancellation can end the wait.
    let h = silent_harness(port, 600_000);
    let cancel = CancellationToken::new();
    let ctx = h.runtime.context("", cancel.clone());
    let run = h.dispatcher.execute(
        &ctx,
        "execute",
        message_input(),
        connector_runtime::ExecuteOptions::default(),
    );
    let cancel_when_connected = async {
        while accepted.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        cancel.cancel();
    };
    let (result, ()) = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        futures::future::join(run, cancel_when_connected),
    )
    .await
    .expect("cancellation ends the exchange");
    let err = result.expect_err("cancelled");
    assert_eq!(err.code, "cancelled", "{err}");
    assert_no_canary(&err);
}
