//! Auth strategies against loopback servers: each test asserts the exact wire format the
//! strategy produces, and that no secret leaks into errors or `Debug` output.

mod auth_support;
mod sigv4_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use auth_support::{GET_THINGS, Harness, assert_absent, assert_no_leak, header, spec};
use base64::Engine;
use connector_runtime::{ActionError, ErrorClass};
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header as header_is, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Requests the server received on `p`.
async fn received(server: &MockServer, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .expect("recording is on")
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

async fn api_ok(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(server)
        .await;
}

/// Answers 500 with a body that echoes every credential-bearing part of the request, the way
/// a chatty debugging endpoint would. The echo comes first so it survives message truncation.
struct Echo500;

impl Respond for Echo500 {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut parts = vec![
            format!("query={}", req.url.query().unwrap_or_default()),
            format!(
                "url=http://{}{}",
                header(req, "host").unwrap_or_default(),
                {
                    let mut p = req.url.path().to_string();
                    if let Some(q) = req.url.query() {
                        p.push('?');
                        p.push_str(q);
                    }
                    p
                }
            ),
        ];
        for (name, value) in &req.headers {
            if matches!(
                name.as_str(),
                "host" | "accept" | "user-agent" | "content-length" | "content-type"
            ) {
                continue;
            }
            parts.insert(0, format!("{name}={}", value.to_str().unwrap_or_default()));
        }
        ResponseTemplate::new(500).set_body_json(json!({ "message": parts.join("; ") }))
    }
}

/// The error of a call against an echoing 500, checked for redaction.
async fn leak_check(h: &Harness, canaries: &[&str]) {
    let err = h.call().await.expect_err("the server answers 500");
    assert_eq!(err.status, Some(500), "{err}");
    assert!(
        err.message.contains("[REDACTED]"),
        "the echo should reach the message, scrubbed: {err}"
    );
    assert_no_leak(canaries, &err, &h.runtime);
}

// ---------------------------------------------------------------------------------------
// Static strategies
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn none_sends_no_credentials() {
    let server = MockServer::start().await;
    api_ok(&server).await;
    let h = Harness::new(
        spec("[none]", GET_THINGS),
        json!({"base": server.uri()}),
        json!({}),
    )
    .unwrap();
    assert_eq!(h.call().await.unwrap(), json!({"ok": true}));
    let reqs = received(&server, "/api/things").await;
    assert_eq!(reqs.len(), 1);
    assert!(header(&reqs[0], "authorization").is_none());
    assert!(header(&reqs[0], "x-api-key").is_none());
    assert_eq!(reqs[0].url.query(), None);
}

#[tokio::test]
async fn basic_sends_exact_authorization_header() {
    let server = MockServer::start().await;
    api_ok(&server).await;
    let (user, pass) = ("alice@example.com", "canary-p4ss:word/é");
    let h = Harness::new(
        spec("[basic]", GET_THINGS),
        json!({"base": server.uri()}),
        json!({"username": user, "password": pass}),
    )
    .unwrap();
    h.call().await.unwrap();
    let reqs = received(&server, "/api/things").await;
    assert_eq!(reqs.len(), 1);
    let expected = format!("Basic {}", b64(&format!("{user}:{pass}")));
    assert_eq!(header(&reqs[0], "authorization"), Some(expected.as_str()));
    // Pin the encoding once against a literal: RFC 7617 example.
    assert_eq!(b64("Aladdin:open sesame"), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

#[tokio::test]
async fn basic_secrets_do_not_leak() {
    let server = MockServer::start().await;
    Mock::given(path("/api/things"))
        .respond_with(Echo500)
        .mount(&server)
        .await;
    let (user, pass) = ("canary-user-9c1", "canary-pass-77f");
    let h = Harness::new(
        spec("[basic]", GET_THINGS),
        json!({"base": server.uri()}),
        json!({"username": user, "password": pass}),
    )
    .unwrap();
    // 15 characters: `base64(user)` is a prefix of the wire form, so scrubbing only the
    // configured secrets would leave the password's encoding behind.
    assert_eq!(user.len() % 3, 0);
    let wire = b64(&format!("{user}:{pass}"));
    // Any 12-character piece of the wire form decodes to 9 bytes of the credentials.
    let pieces: Vec<&str> = (0..=wire.len() - 12).map(|i| &wire[i..i + 12]).collect();
    let mut canaries = vec![user, pass, wire.as_str()];
    canaries.extend(pieces);
    leak_check(&h, &canaries).await;
}

#[tokio::test]
async fn bearer_sends_exact_authorization_header_and_does_not_leak() {
    let server = MockServer::start().await;
    api_ok(&server).await;
    let token = "canary-bearer.eyJhbGciOi.abc-_~+/=";
    let h = Harness::new(
        spec("[bearer]", GET_THINGS),
        json!({"base": server.uri()}),
        json!({"token": token}),
    )
    .unwrap();
    h.call().await.unwrap();
    let reqs = received(&server, "/api/things").await;
    assert_eq!(
        header(&reqs[0], "authorization"),
        Some(format!("Bearer {token}").as_str())
    );

    server.reset().await;
    Mock::given(path("/api/things"))
        .respond_with(Echo500)
        .mount(&server)
        .await;
    leak_check(&h, &[token]).await;
}

#[tokio::test]
async fn api_key_header_uses_default_name() {
    let server = MockServer::start().await;
    api_ok(&server).await;
    let h = Harness::new(
        spec("[api_key_header]", GET_THINGS),
        json!({"base": server.uri()}),
        json!({"apiKey": "canary-key-1"}),
    )
    .unwrap();
    h.call().await.unwrap();
    let reqs = received(&server, "/api/things").await;
    assert_eq!(header(&reqs[0], "x-api-key"), Some("canary-key-1"));
    assert!(header(&reqs[0], "authorization").is_none());
    assert_eq!(reqs[0].url.query(), None);
}

#[tokio::test]
async fn api_key_header_name_from_spec_defaults_and_instance_config() {
    let server = MockServer::start().await;
    api_ok(&server).await;
    let types = "[{ type: api_key_header, defaults: { headerName: X-Spec-Key } }]";
    // The spec's default.
    let h = Harness::new(
        spec(types, GET_THINGS),
        json!({"base": server.uri()}),
        json!({"apiKey": "canary-key-2"}),
    )
    .unwrap();
    h.call().await.unwrap();
    // The instance's config wins over the spec's default.
    let h = Harness::new(
        spec(types, GET_THINGS),
        json!({"base": server.uri(), "headerName": "X-Instance-Key", "authType": "api_key_header"}),
        json!({"apiKey": "canary-key-3"}),
    )
    .unwrap();
    h.call().await.unwrap();
    let reqs = received(&server, "/api/things").await;
    assert_eq!(reqs.len(), 2);
    assert_eq!(header(&reqs[0], "x-spec-key"), Some("canary-key-2"));
    assert!(header(&reqs[0], "x-api-key").is_none());
    assert_eq!(header(&reqs[1], "x-instance-key"), Some("canary-key-3"));
    assert!(header(&reqs[1], "x-spec-key").is_none());
    assert!(header(&reqs[1], "x-api-key").is_none());

    server.reset().await;
    Mock::given(path("/api/things"))
        .respond_with(Echo500)
        .mount(&server)
        .await;
    leak_check(&h, &["canary-key-3"]).await;
}

#[tokio::test]
async fn api_key_header_prefix_goes_before_the_key_and_both_forms_are_redacted() {
    let server = MockServer::start().await;
    api_ok(&server).await;
    // Opsgenie's scheme.
    let types = "[{ type: api_key_header, defaults: { headerName: Authorization, prefix: \"GenieKey \" } }]";
    let h = Harness::new(
        spec(types, GET_THINGS),
        json!({"base": server.uri()}),
        json!({"apiKey": "canary-genie-key-4"}),
    )
    .unwrap();
    h.call().await.unwrap();
    let reqs = received(&server, "/api/things").await;
    assert_eq!(
        header(&reqs[0], "authorization"),
        Some("GenieKey canary-genie-key-4")
    );
    assert!(header(&reqs[0], "x-api-key").is_none());
    // Without a prefix the bare key, as before.
    let h2 = Harness::new(
        spec(
            "[{ type: api_key_header, defaults: { headerName: X-Key } }]",
            GET_THINGS,
        ),
        json!({"base": server.uri()}),
        json!({"apiKey": "canary-bare-key-5"}),
    )
    .unwrap();
    h2.call().await.unwrap();
    let reqs = received(&server, "/api/things").await;
    assert_eq!(header(&reqs[1], "x-key"), Some("canary-bare-key-5"));

    server.reset().await;
    Mock::given(path("/api/things"))
        .respond_with(Echo500)
        .mount(&server)
        .await;
    leak_check(&h, &["canary-genie-key-4", "GenieKey canary"]).await;
}

#[tokio::test]
async fn api_key_pair_sends_the_key_id_and_the_prefixed_key_in_two_headers() {
    let server = MockServer::start().await;
    api_ok(&server).await;
    // Tines: the user's email and token.
    let tines = "[{ type: api_key_pair, defaults: { idHeaderName: X-User-Email, keyHeaderName: X-User-Token } }]";
    let h = Harness::new(
        spec(tines, GET_THINGS),
        json!({"base": server.uri()}),
        json!({"keyId": "soc@example.com", "apiKey": "canary-tines-token-6"}),
    )
    .unwrap();
    h.call().await.unwrap();
    // Cortex XSOAR 8: the key id and the key in `Authorization`, here with a prefix.
    let xsoar = "[{ type: api_key_pair, defaults: { idHeaderName: x-xdr-auth-id, keyHeaderName: Authorization, keyPrefix: \"Key \" } }]";
    let h = Harness::new(
        spec(xsoar, GET_THINGS),
        json!({"base": server.uri()}),
        json!({"keyId": "17", "apiKey": "canary-xsoar-key-7"}),
    )
    .unwrap();
    h.call().await.unwrap();
    let reqs = received(&server, "/api/things").await;
    assert_eq!(header(&reqs[0], "x-user-email"), Some("soc@example.com"));
    assert_eq!(
        header(&reqs[0], "x-user-token"),
        Some("canary-tines-token-6")
    );
    assert!(header(&reqs[0], "authorization").is_none());
    assert_eq!(header(&reqs[1], "x-xdr-auth-id"), Some("17"));
    assert_eq!(
        header(&reqs[1], "authorization"),
        Some("Key canary-xsoar-key-7")
    );

    server.reset().await;
    Mock::given(path("/api/things"))
        .respond_with(Echo500)
        .mount(&server)
        .await;
    leak_check(&h, &["canary-xsoar-key-7"]).await;
}

#[test]
fn api_key_pair_refuses_missing_or_clashing_header_names_and_missing_secrets() {
    let secrets = json!({"keyId": "id", "apiKey": "k3y-value"});
    let build = |types: &str, secrets: &Value| {
        Harness::new(
            spec(types, GET_THINGS),
            json!({"base": "http://127.0.0.1:9"}),
            secrets.clone(),
        )
        .err()
        .map(|e| (e.code, e.message))
    };
    // No header names: the schema requires them.
    let (code, message) = build("[api_key_pair]", &secrets).unwrap();
    assert_eq!(code, "invalid_config");
    assert!(message.contains("idHeaderName"), "{message}");
    let (code, message) = build(
        "[{ type: api_key_pair, defaults: { idHeaderName: X-A, keyHeaderName: x-a } }]",
        &secrets,
    )
    .unwrap();
    assert_eq!(code, "invalid_config");
    assert!(message.contains("two headers"), "{message}");
    // A header name the user typed (a spec's default is checked at load).
    let e = Harness::new(
        spec("[api_key_pair]", GET_THINGS),
        json!({"base": "http://127.0.0.1:9", "idHeaderName": "X A", "keyHeaderName": "X-B"}),
        secrets.clone(),
    )
    .err()
    .expect("refused");
    assert_eq!(e.code, "invalid_config");
    assert!(
        e.message.contains("not a valid header name"),
        "{}",
        e.message
    );
    let (code, message) = build(
        "[{ type: api_key_pair, defaults: { idHeaderName: X-A, keyHeaderName: X-B } }]",
        &json!({"keyId": "id"}),
    )
    .unwrap();
    assert_eq!(code, "invalid_secrets");
    assert!(message.contains("apiKey"), "{message}");
}

#[tokio::test]
async fn api_key_query_default_and_configured_name_url_encoded() {
    let server = MockServer::start().await;
    api_ok(&server).await;
    let key = "canary k3y&=/+?é";
    let h = Harness::new(
        spec("[api_key_query]", GET_THINGS),
        json!({"base": server.uri()}),
        json!({"apiKey": key}),
    )
    .unwrap();
    h.call().await.unwrap();
    let h2 = Harness::new(
        spec(
            "[{ type: api_key_query, defaults: { paramName: token } }]",
            GET_THINGS,
        ),
        json!({"base": server.uri()}),
        json!({"apiKey": key}),
    )
    .unwrap();
    h2.call().await.unwrap();
    let h3 = Harness::new(
        spec("[api_key_query]", GET_THINGS),
        json!({"base": server.uri(), "paramName": "k"}),
        json!({"apiKey": key}),
    )
    .unwrap();
    h3.call().await.unwrap();
    let reqs = received(&server, "/api/things").await;
    assert_eq!(reqs.len(), 3);
    let enc = "canary+k3y%26%3D%2F%2B%3F%C3%A9";
    assert_eq!(reqs[0].url.query(), Some(format!("api_key={enc}").as_str()));
    assert_eq!(reqs[1].url.query(), Some(format!("token={enc}").as_str()));
    assert_eq!(reqs[2].url.query(), Some(format!("k={enc}").as_str()));
    for r in &reqs {
        assert!(header(r, "authorization").is_none());
    }

    server.reset().await;
    Mock::given(path("/api/things"))
        .respond_with(Echo500)
        .mount(&server)
        .await;
    leak_check(&h, &[key, enc, "canary"]).await;
}

#[tokio::test]
async fn api_key_query_transport_error_does_not_leak_the_url() {
    // A port nothing listens on: the transport error must not carry the URL (and its key).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let key = "canary-query-key-5d2";
    let h = Harness::new(
        spec("[api_key_query]", GET_THINGS),
        json!({"base": format!("http://127.0.0.1:{port}")}),
        json!({"apiKey": key}),
    )
    .unwrap();
    let err = h.call().await.expect_err("nothing listens");
    assert_eq!(err.class, ErrorClass::Transient, "{err}");
    assert_no_leak(&[key, "canary"], &err, &h.runtime);
}

#[tokio::test]
async fn headers_sends_each_secret_header() {
    let server = MockServer::start().await;
    api_ok(&server).await;
    let h = Harness::new(
        spec("[headers]", GET_THINGS),
        json!({"base": server.uri()}),
        json!({"headers": {"X-Tenant": "canary-tenant-1", "Authorization": "Token canary-tok-2"}}),
    )
    .unwrap();
    h.call().await.unwrap();
    let reqs = received(&server, "/api/things").await;
    assert_eq!(header(&reqs[0], "x-tenant"), Some("canary-tenant-1"));
    assert_eq!(
        header(&reqs[0], "authorization"),
        Some("Token canary-tok-2")
    );

    server.reset().await;
    Mock::given(path("/api/things"))
        .respond_with(Echo500)
        .mount(&server)
        .await;
    leak_check(&h, &["canary-tenant-1", "canary-tok-2"]).await;
}

const WEBHOOK_POST: &str = "      method: POST\n      url: \"{{ secrets.url }}\"\n      body:\n        json: { text: hello }\n";

#[tokio::test]
async fn webhook_url_posts_to_the_secret_url() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/T000/canary-hook-8a1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/hooks/T000/canary-hook-8a1", server.uri());
    let h = Harness::new(
        spec("[webhook_url]", WEBHOOK_POST),
        json!({}),
        json!({ "url": url }),
    )
    .unwrap();
    assert_eq!(h.call().await.unwrap(), json!({"ok": true}));
    let reqs = received(&server, "/hooks/T000/canary-hook-8a1").await;
    assert_eq!(reqs.len(), 1);
    assert!(header(&reqs[0], "authorization").is_none());
    assert_eq!(
        serde_json::from_slice::<Value>(&reqs[0].body).unwrap(),
        json!({"text": "hello"})
    );

    // The URL is the secret: an echo of it is scrubbed.
    server.reset().await;
    Mock::given(path("/hooks/T000/canary-hook-8a1"))
        .respond_with(Echo500)
        .mount(&server)
        .await;
    leak_check(&h, &[&url]).await;
}

#[tokio::test]
async fn webhook_url_transport_error_does_not_leak_the_url() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let h = Harness::new(
        spec("[webhook_url]", WEBHOOK_POST),
        json!({}),
        json!({ "url": format!("http://127.0.0.1:{port}/hooks/canary-hook-3b9") }),
    )
    .unwrap();
    let err = h.call().await.expect_err("nothing listens");
    assert_no_leak(&["canary-hook-3b9"], &err, &h.runtime);
}

// ---------------------------------------------------------------------------------------
// OAuth 2.0 client credentials
// ---------------------------------------------------------------------------------------

/// A token endpoint that hands out `tok-1`, `tok-2`, ... with a fixed `expires_in`.
struct TokenSeq {
    n: Arc<AtomicUsize>,
    expires_in: u64,
}

impl Respond for TokenSeq {
    fn respond(&self, _req: &Request) -> ResponseTemplate {
        let n = self.n.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": format!("canary-access-tok-{n}"),
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }))
    }
}

async fn token_endpoint(server: &MockServer, expires_in: u64) -> Arc<AtomicUsize> {
    let n = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(TokenSeq {
            n: Arc::clone(&n),
            expires_in,
        })
        .mount(server)
        .await;
    n
}

const CLIENT_ID: &str = "my client:id";
const CLIENT_SECRET: &str = "canary-cl1ent/secret+=&";

fn oauth(server: &MockServer, client_auth: &str) -> Harness {
    Harness::new(
        spec("[oauth_client_credentials]", GET_THINGS),
        json!({
            "base": server.uri(),
            "tokenUrl": format!("{}/oauth/token", server.uri()),
            "clientId": CLIENT_ID,
            "scope": "read:things write",
            "clientAuthentication": client_auth,
        }),
        json!({"clientSecret": CLIENT_SECRET}),
    )
    .unwrap()
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

#[tokio::test]
async fn client_credentials_basic_wire_format_and_cache() {
    let server = MockServer::start().await;
    let fetches = token_endpoint(&server, 3600).await;
    api_ok(&server).await;
    let h = oauth(&server, "client_secret_basic");
    for _ in 0..3 {
        h.call().await.unwrap();
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "the token is cached");
    let tok = received(&server, "/oauth/token").await;
    assert_eq!(tok.len(), 1);
    let t = &tok[0];
    // RFC 6749 2.3.1: id and secret form-urlencoded, then Basic.
    let expected = format!(
        "Basic {}",
        b64("my+client%3Aid:canary-cl1ent%2Fsecret%2B%3D%26")
    );
    assert_eq!(header(t, "authorization"), Some(expected.as_str()));
    assert_eq!(
        header(t, "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        form(&t.body),
        vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("scope".to_string(), "read:things write".to_string()),
        ]
    );
    let api = received(&server, "/api/things").await;
    assert_eq!(api.len(), 3);
    for r in &api {
        assert_eq!(
            header(r, "authorization"),
            Some("Bearer canary-access-tok-1")
        );
    }
}

#[tokio::test]
async fn client_credentials_post_sends_credentials_in_the_form() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(TokenSeq {
            n: Arc::new(AtomicUsize::new(0)),
            expires_in: 3600,
        })
        .expect(1)
        .mount(&server)
        .await;
    api_ok(&server).await;
    let h = oauth(&server, "client_secret_post");
    for _ in 0..3 {
        h.call().await.unwrap();
    }
    let tok = received(&server, "/oauth/token").await;
    assert_eq!(tok.len(), 1);
    assert!(header(&tok[0], "authorization").is_none());
    assert_eq!(
        form(&tok[0].body),
        vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("scope".to_string(), "read:things write".to_string()),
            ("client_id".to_string(), CLIENT_ID.to_string()),
            ("client_secret".to_string(), CLIENT_SECRET.to_string()),
        ]
    );
    server.verify().await;
}

#[tokio::test]
async fn client_credentials_refetches_an_expiring_token() {
    // expires_in 0: never reusable.
    let server = MockServer::start().await;
    let fetches = token_endpoint(&server, 0).await;
    api_ok(&server).await;
    let h = oauth(&server, "client_secret_basic");
    h.call().await.unwrap();
    h.call().await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);

    // expires_in 1: the margin is min(30 s, life / 2) = 0.5 s, so the token is reused at
    // once and refetched after half a second.
    let server = MockServer::start().await;
    let fetches = token_endpoint(&server, 1).await;
    api_ok(&server).await;
    let h = oauth(&server, "client_secret_basic");
    h.call().await.unwrap();
    h.call().await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    h.call().await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    let api = received(&server, "/api/things").await;
    let auths: Vec<_> = api.iter().map(|r| header(r, "authorization")).collect();
    assert_eq!(
        auths,
        [
            Some("Bearer canary-access-tok-1"),
            Some("Bearer canary-access-tok-1"),
            Some("Bearer canary-access-tok-2"),
        ]
    );
}

#[tokio::test]
async fn client_credentials_401_forces_one_refresh_and_one_retry() {
    let server = MockServer::start().await;
    let fetches = token_endpoint(&server, 3600).await;
    Mock::given(path("/api/things"))
        .and(header_is("authorization", "Bearer canary-access-tok-1"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/things"))
        .and(header_is("authorization", "Bearer canary-access-tok-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .expect(2)
        .mount(&server)
        .await;
    let h = oauth(&server, "client_secret_basic");
    assert_eq!(h.call().await.unwrap(), json!({"ok": true}));
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    // The refreshed token is cached for the next call.
    h.call().await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    server.verify().await;
}

#[tokio::test]
async fn client_credentials_permanent_401_is_an_auth_error_after_one_retry() {
    let server = MockServer::start().await;
    let fetches = token_endpoint(&server, 3600).await;
    Mock::given(path("/api/things"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"message": "token rejected"})),
        )
        .expect(2)
        .mount(&server)
        .await;
    let h = oauth(&server, "client_secret_basic");
    let err = h.call().await.expect_err("always 401");
    assert_eq!(err.class, ErrorClass::Auth, "{err}");
    assert_eq!(err.status, Some(401));
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    assert_eq!(received(&server, "/api/things").await.len(), 2);
    server.verify().await;
}

/// A call on an instance whose token endpoint refuses the client: an `auth` error with the
/// code `token_request_failed`, checked by the caller for what it may not contain.
async fn token_refused(server: &MockServer, client_auth: &str) -> (Harness, ActionError) {
    let h = oauth(server, client_auth);
    let err = h.call().await.expect_err("the token endpoint refuses");
    assert_eq!(err.class, ErrorClass::Auth, "{client_auth}: {err}");
    assert_eq!(err.code, "token_request_failed", "{client_auth}: {err}");
    (h, err)
}

#[tokio::test]
async fn client_credentials_secrets_and_tokens_do_not_leak() {
    // The API echoes the access token.
    let server = MockServer::start().await;
    token_endpoint(&server, 3600).await;
    Mock::given(path("/api/things"))
        .respond_with(Echo500)
        .mount(&server)
        .await;
    let h = oauth(&server, "client_secret_basic");
    leak_check(&h, &["canary-access-tok-1", CLIENT_SECRET]).await;

    // The token endpoint refuses and echoes the client credentials.
    let server = MockServer::start().await;
    let basic = b64("my+client%3Aid:canary-cl1ent%2Fsecret%2B%3D%26");
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": format!("invalid_client {CLIENT_SECRET} Basic {basic}"),
        })))
        .mount(&server)
        .await;
    for client_auth in ["client_secret_basic", "client_secret_post"] {
        let (h, err) = token_refused(&server, client_auth).await;
        assert!(err.message.contains("[REDACTED]"), "{err}");
        if client_auth == "client_secret_basic" {
            // Only what went on the wire can come back.
            assert_no_leak(&[&basic], &err, &h.runtime);
        }
        assert_no_leak(&[CLIENT_SECRET, "canary"], &err, &h.runtime);
    }
}

#[tokio::test]
async fn client_credentials_accepts_a_form_encoded_token_reply() {
    // GitHub-style providers answer `application/x-www-form-urlencoded` by default.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "access_token=canary-form%2Btok&token_type=bearer&expires_in=3600",
            "application/x-www-form-urlencoded",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/things"))
        .and(header_is("authorization", "Bearer canary-form+tok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .expect(2)
        .mount(&server)
        .await;
    let h = oauth(&server, "client_secret_basic");
    assert_eq!(h.call().await.unwrap(), json!({"ok": true}));
    // `expires_in` came as text and was read: the token is cached, not fetched again.
    h.call().await.unwrap();
    server.verify().await;
}

#[tokio::test]
async fn client_credentials_oversized_token_reply_is_a_typed_error() {
    let server = MockServer::start().await;
    let pad = "a".repeat(connector_runtime::oauth::MAX_TOKEN_RESPONSE);
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "canary-big-tok", "pad": pad})),
        )
        .mount(&server)
        .await;
    api_ok(&server).await;
    let h = oauth(&server, "client_secret_post");
    let err = h.call().await.expect_err("the reply is over the cap");
    assert_eq!(err.code, "invalid_token_response", "{err}");
    assert_eq!(err.class, ErrorClass::Auth, "{err}");
    assert_eq!(err.status, Some(200), "{err}");
    assert!(
        err.message.contains(&format!(
            "larger than {} bytes",
            connector_runtime::oauth::MAX_TOKEN_RESPONSE
        )),
        "{err}"
    );
    assert!(
        received(&server, "/api/things").await.is_empty(),
        "no API call without a token"
    );
    assert_no_leak(&[CLIENT_SECRET, "canary"], &err, &h.runtime);
}

#[tokio::test]
async fn invalid_client_is_one_typed_token_error_for_client_credentials_and_code_exchange() {
    use connector_runtime::auth::ClientAuthentication;
    use connector_runtime::egress::EgressClient;
    use connector_runtime::oauth::{TokenEndpoint, TokenEndpointError, TokenPaths};
    use secrecy::SecretString;

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client"})))
        .mount(&server)
        .await;
    let http = EgressClient::for_tokens(None, Duration::from_secs(5)).unwrap();
    let expected = TokenEndpointError::Provider {
        status: 401,
        error: "invalid_client".into(),
        description: None,
    };
    for client_auth in [ClientAuthentication::Basic, ClientAuthentication::Post] {
        let endpoint = TokenEndpoint {
            url: format!("{}/oauth/token", server.uri()).parse().unwrap(),
            client_id: CLIENT_ID.into(),
            client_secret: SecretString::from(CLIENT_SECRET),
            client_auth,
            paths: TokenPaths::default(),
            signing_key: None,
            body_format: connector_runtime::oauth::TokenBodyFormat::Form,
        };
        let cc = endpoint
            .client_credentials(&http, Some("read"), None)
            .await
            .unwrap_err();
        let code = endpoint
            .exchange_code(
                &http,
                "the-code",
                "http://127.0.0.1:9/cb",
                &SecretString::from("verifier"),
            )
            .await
            .unwrap_err();
        assert_eq!(cc, expected, "{client_auth:?}");
        assert_eq!(code, expected, "{client_auth:?}");
        for text in [cc.to_string(), format!("{cc:?}"), format!("{endpoint:?}")] {
            assert_absent(CLIENT_SECRET, &[&text]);
            assert_absent(
                &b64("my+client%3Aid:canary-cl1ent%2Fsecret%2B%3D%26"),
                &[&text],
            );
        }
    }

    // Through an instance: a typed auth error that names the provider's code, with the
    // status, and never the secret that went on the wire.
    for client_auth in ["client_secret_basic", "client_secret_post"] {
        let (h, err) = token_refused(&server, client_auth).await;
        assert_eq!(err.status, Some(401), "{err}");
        assert!(err.message.contains("`invalid_client`"), "{err}");
        assert_no_leak(&[CLIENT_SECRET, "canary"], &err, &h.runtime);
    }
}

// ---------------------------------------------------------------------------------------
// AWS Signature Version 4
// ---------------------------------------------------------------------------------------

use connector_runtime::auth::SigV4;
use sigv4_support::sigv4_reference;

/// 2015-08-30T12:36:00Z, the time of the AWS SigV4 test suite.
fn suite_clock() -> connector_runtime::auth::Clock {
    Arc::new(|| SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160))
}

const SUITE_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

#[test]
fn sigv4_matches_the_aws_get_vanilla_vector() {
    let signer = SigV4::new("us-east-1", "service", "AKIDEXAMPLE", SUITE_KEY, None)
        .with_clock(suite_clock());
    let mut req = reqwest::Request::new(
        reqwest::Method::GET,
        "https://example.amazonaws.com/".parse().unwrap(),
    );
    signer.sign(&mut req).unwrap();
    let h = |n: &str| {
        req.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(h("x-amz-date").as_deref(), Some("20150830T123600Z"));
    assert_eq!(
        h("authorization").as_deref(),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        )
    );
    assert_eq!(h("x-amz-content-sha256"), None);
    assert_eq!(h("x-amz-security-token"), None);
}

#[test]
fn sigv4_reference_implementation_reproduces_get_vanilla() {
    // Guards the reference itself against the published vector.
    let a = sigv4_reference(
        "GET",
        "/",
        "",
        &[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
        ],
        b"",
        "20150830T123600Z",
        "us-east-1",
        "service",
        "AKIDEXAMPLE",
        SUITE_KEY,
    );
    assert!(
        a.ends_with("Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        "{a}"
    );
}

#[test]
fn sigv4_post_with_query_body_and_session_token_matches_the_reference() {
    let signer = SigV4::new(
        "eu-west-1",
        "execute-api",
        "AKIDEXAMPLE",
        SUITE_KEY,
        Some("canary-session-token"),
    )
    .with_clock(suite_clock());
    let mut req = reqwest::Request::new(
        reqwest::Method::POST,
        "https://api.example.com/v1/items?b=2&a=x%20y"
            .parse()
            .unwrap(),
    );
    req.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    let body = br#"{"name":"widget"}"#;
    *req.body_mut() = Some(body.to_vec().into());
    signer.sign(&mut req).unwrap();
    let expected = sigv4_reference(
        "POST",
        "/v1/items",
        "a=x%20y&b=2",
        &[
            ("content-type", "application/json"),
            ("host", "api.example.com"),
            ("x-amz-date", "20150830T123600Z"),
            ("x-amz-security-token", "canary-session-token"),
        ],
        body,
        "20150830T123600Z",
        "eu-west-1",
        "execute-api",
        "AKIDEXAMPLE",
        SUITE_KEY,
    );
    let h = |n: &str| {
        req.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(h("authorization"), Some(expected));
    assert_eq!(h("x-amz-date").as_deref(), Some("20150830T123600Z"));
    assert_eq!(
        h("x-amz-security-token").as_deref(),
        Some("canary-session-token")
    );
    // Headers marked sensitive so they are not logged.
    assert!(req.headers()["authorization"].is_sensitive());
}

#[tokio::test]
async fn sigv4_end_to_end_signs_the_request_on_the_wire() {
    let server = MockServer::start().await;
    api_ok(&server).await;
    let h = Harness::new(
        spec("[aws_sigv4]", GET_THINGS),
        json!({"base": server.uri(), "region": "eu-central-1", "service": "execute-api"}),
        json!({"accessKeyId": "AKIDCANARY1234", "secretAccessKey": "canary-secret-access-key"}),
    )
    .unwrap();
    h.call().await.unwrap();
    let reqs = received(&server, "/api/things").await;
    let r = &reqs[0];
    let amz_date = header(r, "x-amz-date").expect("x-amz-date").to_string();
    assert_eq!(amz_date.len(), 16, "{amz_date}");
    let auth = header(r, "authorization").expect("authorization");
    let prefix = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDCANARY1234/{}/eu-central-1/execute-api/aws4_request, SignedHeaders=",
        &amz_date[..8]
    );
    assert!(auth.starts_with(&prefix), "{auth}");
    let signed = auth
        .split("SignedHeaders=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert!(signed.split(';').any(|h| h == "host"), "{auth}");
    assert!(signed.split(';').any(|h| h == "x-amz-date"), "{auth}");
    assert!(!auth.contains("canary-secret-access-key"));

    server.reset().await;
    Mock::given(path("/api/things"))
        .respond_with(Echo500)
        .mount(&server)
        .await;
    leak_check(&h, &["AKIDCANARY1234", "canary-secret-access-key"]).await;
}

// ---------------------------------------------------------------------------------------
// Mutual TLS
// ---------------------------------------------------------------------------------------

mod mtls {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Leaf {
        cert_pem: String,
        key_pem: String,
        cert_der: CertificateDer<'static>,
        key_der: Vec<u8>,
    }

    fn make_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
    }

    fn leaf(
        issuer: &CertifiedIssuer<'static, KeyPair>,
        names: &[&str],
        eku: ExtendedKeyUsagePurpose,
    ) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("client"),
        );
        p.extended_key_usages = vec![eku];
        let cert = p.signed_by(&key, &**issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// A TLS server on 127.0.0.1 that requires a client certificate issued by `ca_der`.
    /// Returns the port and a counter of requests answered.
    async fn server(
        ca_der: CertificateDer<'static>,
        server_leaf: &Leaf,
    ) -> (u16, Arc<AtomicUsize>) {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_der).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&provider),
        )
        .build()
        .unwrap();
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![server_leaf.cert_der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_leaf.key_der.clone())),
            )
            .unwrap();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&served);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let has_cert = tls.get_ref().1.peer_certificates().is_some();
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let body = json!({"clientCert": has_cert}).to_string();
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(resp.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        (port, served)
    }

    fn harness(port: u16, ca_pem: &str, client: &Leaf) -> Harness {
        Harness::new(
            spec("[mtls]", GET_THINGS),
            json!({"base": format!("https://localhost:{port}"), "caCertificate": ca_pem}),
            json!({"certificate": client.cert_pem, "privateKey": client.key_pem}),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn mtls_presents_the_client_certificate_and_is_refused_without_a_trusted_one() {
        let ca = make_ca("auth-test CA");
        let server_leaf = leaf(
            &ca,
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = leaf(&ca, &["client"], ExtendedKeyUsagePurpose::ClientAuth);
        let (port, served) = server(ca.der().clone(), &server_leaf).await;

        let h = harness(port, &ca.pem(), &client);
        assert_eq!(h.call().await.unwrap(), json!({"clientCert": true}));
        assert_eq!(served.load(Ordering::SeqCst), 1);
        assert!(!format!("{:?}", h.runtime).contains(&client.key_pem));

        // A client certificate from another CA: the server refuses the handshake.
        let rogue_ca = make_ca("rogue CA");
        let rogue = leaf(&rogue_ca, &["client"], ExtendedKeyUsagePurpose::ClientAuth);
        let h = harness(port, &ca.pem(), &rogue);
        let err = h.call().await.expect_err("untrusted client certificate");
        assert!(
            matches!(err.class, ErrorClass::Transient | ErrorClass::System),
            "{err}"
        );
        assert_eq!(served.load(Ordering::SeqCst), 1, "no request was served");
        let key_body = rogue.key_pem.lines().nth(1).unwrap();
        assert_no_leak(&[key_body], &err, &h.runtime);

        // No custom CA: the server's certificate is not trusted.
        let h = Harness::new(
            spec("[mtls]", GET_THINGS),
            json!({"base": format!("https://localhost:{port}")}),
            json!({"certificate": client.cert_pem, "privateKey": client.key_pem}),
        )
        .unwrap();
        let err = h.call().await.expect_err("unknown server CA");
        assert_eq!(err.code, "connection_failed", "{err}");
        assert_eq!(served.load(Ordering::SeqCst), 1);
        assert_absent(key_body, &[&err.to_string()]);
    }

    #[test]
    fn mtls_rejects_invalid_pem_with_a_typed_error() {
        let err = Harness::new(
            spec("[mtls]", GET_THINGS),
            json!({"base": "https://localhost:1"}),
            json!({"certificate": "not a certificate canary-cert", "privateKey": "canary-key-pem"}),
        )
        .err()
        .expect("invalid PEM is refused");
        assert_eq!(err.class, ErrorClass::User, "{err}");
        assert_absent("canary", &[&err.to_string(), &format!("{err:?}")]);
    }
}

/// A listing whose API echoes the access token inside its records: the token is obtained by
/// the first page's request, and both ways of reading a listing (the page stream and
/// `execute` with `all_pages`) redact it from every record, the first page's included.
#[tokio::test]
async fn a_token_obtained_while_listing_is_redacted_from_the_records() {
    use futures::StreamExt;
    let server = MockServer::start().await;
    token_endpoint(&server, 3600).await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .respond_with(|req: &Request| {
            let echo = header(req, "authorization").unwrap_or_default().to_string();
            ResponseTemplate::new(200).set_body_json(json!({
                "items": [{"id": 1, "seen": echo}, {"id": 2}],
                "next": null,
            }))
        })
        .mount(&server)
        .await;
    let listing = format!(
        "{GET_THINGS}    pagination: {{ style: cursor, records: $.items, cursorParam: c, cursorPath: $.next }}\n"
    );
    let h = Harness::new(
        spec("[oauth_client_credentials]", &listing),
        json!({
            "base": server.uri(),
            "tokenUrl": format!("{}/oauth/token", server.uri()),
            "clientId": CLIENT_ID,
        }),
        json!({"clientSecret": CLIENT_SECRET}),
    )
    .unwrap();
    let ctx = h
        .runtime
        .context("", connector_runtime::CancellationToken::new());
    let mut pages = h
        .dispatcher
        .pages(&ctx, "call", json!({}))
        .unwrap()
        .unwrap();
    let mut streamed = Vec::new();
    while let Some(page) = pages.next().await {
        streamed.extend(page.unwrap().records);
    }
    let collected = h
        .dispatcher
        .execute(
            &ctx,
            "call",
            json!({}),
            connector_runtime::ExecuteOptions { all_pages: true },
        )
        .await
        .unwrap();
    for records in [Value::Array(streamed), collected] {
        assert_eq!(records[0]["seen"], json!("Bearer [REDACTED]"), "{records}");
        assert_eq!(records[1], json!({"id": 2}));
        assert_absent("canary-access-tok", &[&records.to_string()]);
    }
}
