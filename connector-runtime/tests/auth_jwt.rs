//! The JWT-signing auth: `oauth_jwt_bearer` (RFC 7523 2.1, ServiceNow's `oauth_token.do`) and
//! the `private_key_jwt` client authentication of `oauth_client_credentials` (RFC 7523 2.2,
//! Entra ID certificate credentials), against loopback token endpoints. Each assertion is
//! decoded, its signature verified with the public half of a key generated at test time, and
//! its claims checked.
//!
//!     cargo test -p connector-runtime --test auth_jwt

mod auth_support;
mod jwt_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_support::{GET_THINGS, Harness, assert_no_leak, header, spec};
use base64::Engine;
use connector_runtime::{EgressPolicy, ErrorClass, InstanceRuntime};
use jwt_support::{TestKey, key_canaries, test_key, verified};
use serde_json::{Value, json};
use wiremock::matchers::{header as header_is, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The same key as PKCS#1 (`RSA PRIVATE KEY`): the RSAPrivateKey inside the PKCS#8
/// PrivateKeyInfo's OCTET STRING (version, rsaEncryption AlgorithmIdentifier, then 04 82 len).
fn pkcs1_pem(pkcs8_pem: &str) -> String {
    let b64: String = pkcs8_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    // 30 82 xx xx | 02 01 00 | 30 0d 06 09 2a 86 48 86 f7 0d 01 01 01 05 00 | 04 82 xx xx
    assert_eq!(&der[4..7], &[0x02, 0x01, 0x00], "version 0");
    assert_eq!(&der[7..9], &[0x30, 0x0d], "rsaEncryption algorithm");
    assert_eq!(&der[22..24], &[0x04, 0x82], "the key's OCTET STRING");
    let len = usize::from(der[24]) << 8 | usize::from(der[25]);
    let inner = &der[26..26 + len];
    let b64 = base64::engine::general_purpose::STANDARD.encode(inner);
    let body: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
        body.join("\n")
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no `{name}` in {form:?}"))
}

async fn received(server: &MockServer, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .expect("recording is on")
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

/// Answers token requests with `canary-jwt-tok-<n>`, as ServiceNow does (`scope`,
/// `token_type`, `expires_in`, `refresh_token`).
struct TokenSeq {
    n: Arc<AtomicUsize>,
    expires_in: u64,
}

impl Respond for TokenSeq {
    fn respond(&self, _req: &Request) -> ResponseTemplate {
        let n = self.n.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": format!("canary-jwt-tok-{n}"),
            "refresh_token": "canary-unused-refresh",
            "scope": "useraccount",
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }))
    }
}

const TOKEN_PATH: &str = "/oauth_token.do";

async fn token_endpoint(server: &MockServer, expires_in: u64) -> Arc<AtomicUsize> {
    let n = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(TokenSeq {
            n: Arc::clone(&n),
            expires_in,
        })
        .mount(server)
        .await;
    n
}

async fn api_ok(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(server)
        .await;
}

const CLIENT_ID: &str = "a1b2c3d4-client";
const CLIENT_SECRET: &str = "canary-jwt-cl1ent-secret";

fn jwt_bearer(server: &MockServer, key: &TestKey, extra: Value) -> Harness {
    let mut config = json!({
        "base": server.uri(),
        "tokenUrl": format!("{}{TOKEN_PATH}", server.uri()),
        "clientId": CLIENT_ID,
        "userIdentifier": "integration.user@example.com",
        "keyId": "key-1",
    });
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    Harness::new(
        spec("[oauth_jwt_bearer]", GET_THINGS),
        config,
        json!({"clientSecret": CLIENT_SECRET, "privateKey": key.pem}),
    )
    .unwrap()
}

// ---------------------------------------------------------------------------------------
// oauth_jwt_bearer
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn jwt_bearer_wire_format_signed_assertion_and_cache() {
    let key = test_key();
    let server = MockServer::start().await;
    let fetches = token_endpoint(&server, 1800).await;
    api_ok(&server).await;
    let h = jwt_bearer(&server, &key, json!({}));
    let before = now();
    for _ in 0..3 {
        assert_eq!(h.call().await.unwrap(), json!({"ok": true}));
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "the token is cached");

    let tok = received(&server, TOKEN_PATH).await;
    assert_eq!(tok.len(), 1);
    assert_eq!(tok[0].method.as_str(), "POST");
    assert_eq!(
        header(&tok[0], "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(header(&tok[0], "accept"), Some("application/json"));
    assert!(header(&tok[0], "authorization").is_none());
    let f = form(&tok[0].body);
    let names: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["grant_type", "assertion", "client_id", "client_secret"]
    );
    assert_eq!(
        field(&f, "grant_type"),
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    assert_eq!(field(&f, "client_id"), CLIENT_ID);
    assert_eq!(field(&f, "client_secret"), CLIENT_SECRET);

    let (head, claims) = verified(field(&f, "assertion"), &key.public);
    assert_eq!(head, json!({"alg": "RS256", "typ": "JWT", "kid": "key-1"}));
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["sub"], "integration.user@example.com");
    assert_eq!(
        claims["aud"], CLIENT_ID,
        "the audience defaults to the client id"
    );
    let iat = claims["iat"].as_u64().unwrap();
    assert!((before..=now()).contains(&iat), "{claims}");
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 3600);
    let jti = claims["jti"].as_str().unwrap();
    assert_eq!(jti.len(), 32, "{jti}");
    assert_eq!(claims.as_object().unwrap().len(), 6, "{claims}");

    for r in received(&server, "/api/things").await {
        assert_eq!(header(&r, "authorization"), Some("Bearer canary-jwt-tok-1"));
    }
}

#[tokio::test]
async fn jwt_bearer_sends_the_configured_audience_and_scope_and_a_fresh_jti_per_fetch() {
    let key = test_key();
    let server = MockServer::start().await;
    token_endpoint(&server, 0).await; // expires at once: every call fetches
    api_ok(&server).await;
    let h = jwt_bearer(
        &server,
        &key,
        json!({"audience": "https://dev1.service-now.com", "scope": "useraccount"}),
    );
    h.call().await.unwrap();
    h.call().await.unwrap();
    let tok = received(&server, TOKEN_PATH).await;
    assert_eq!(tok.len(), 2);
    let mut jtis = Vec::new();
    for t in &tok {
        let f = form(&t.body);
        let names: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "grant_type",
                "assertion",
                "scope",
                "client_id",
                "client_secret"
            ]
        );
        assert_eq!(field(&f, "scope"), "useraccount");
        let (_, claims) = verified(field(&f, "assertion"), &key.public);
        assert_eq!(claims["aud"], "https://dev1.service-now.com");
        jtis.push(claims["jti"].as_str().unwrap().to_string());
    }
    assert_ne!(jtis[0], jtis[1]);
}

#[tokio::test]
async fn jwt_bearer_refetches_an_expiring_token() {
    let key = test_key();
    let server = MockServer::start().await;
    // expires_in 1: reused at once, fetched again after half a second.
    let fetches = token_endpoint(&server, 1).await;
    api_ok(&server).await;
    let h = jwt_bearer(&server, &key, json!({}));
    h.call().await.unwrap();
    h.call().await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    h.call().await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    let auths: Vec<_> = received(&server, "/api/things")
        .await
        .iter()
        .map(|r| header(r, "authorization").map(str::to_string))
        .collect();
    assert_eq!(
        auths,
        [
            Some("Bearer canary-jwt-tok-1".to_string()),
            Some("Bearer canary-jwt-tok-1".to_string()),
            Some("Bearer canary-jwt-tok-2".to_string()),
        ]
    );
}

#[tokio::test]
async fn jwt_bearer_401_refreshes_once_and_retries_once() {
    let key = test_key();
    let server = MockServer::start().await;
    let fetches = token_endpoint(&server, 3600).await;
    Mock::given(path("/api/things"))
        .and(header_is("authorization", "Bearer canary-jwt-tok-1"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/things"))
        .and(header_is("authorization", "Bearer canary-jwt-tok-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .expect(2)
        .mount(&server)
        .await;
    let h = jwt_bearer(&server, &key, json!({}));
    assert_eq!(h.call().await.unwrap(), json!({"ok": true}));
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    h.call().await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2, "the new token is cached");
    server.verify().await;

    // A 401 that persists: one refresh, one retry, then an auth error.
    let server = MockServer::start().await;
    let fetches = token_endpoint(&server, 3600).await;
    Mock::given(path("/api/things"))
        .respond_with(ResponseTemplate::new(401))
        .expect(2)
        .mount(&server)
        .await;
    let h = jwt_bearer(&server, &key, json!({}));
    let err = h.call().await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Auth, "{err}");
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    server.verify().await;
}

/// The token endpoint answers `reply`; the call fails with `code` and nothing leaks.
async fn refused_with(reply: ResponseTemplate, code: &str, status: u16) {
    let key = test_key();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(reply)
        .mount(&server)
        .await;
    api_ok(&server).await;
    let h = jwt_bearer(&server, &key, json!({}));
    let err = h.call().await.unwrap_err();
    assert_eq!(err.code, code, "{err}");
    assert_eq!(err.status, Some(status), "{err}");
    assert!(received(&server, "/api/things").await.is_empty());
    let mut canaries = key_canaries(&key.pem);
    canaries.push(CLIENT_SECRET.to_string());
    let canaries: Vec<&str> = canaries.iter().map(String::as_str).collect();
    assert_no_leak(&canaries, &err, &h.runtime);
}

#[tokio::test]
async fn jwt_bearer_malformed_and_refused_token_replies_are_typed_errors() {
    // ServiceNow's refusal: 401 with an OAuth error body.
    refused_with(
        ResponseTemplate::new(401)
            .set_body_json(json!({"error_description": "access_denied", "error": "server_error"})),
        "token_request_failed",
        401,
    )
    .await;
    refused_with(
        ResponseTemplate::new(200).set_body_json(json!({"token": "x"})),
        "invalid_token_response",
        200,
    )
    .await;
    refused_with(
        ResponseTemplate::new(200).set_body_string("<html>login</html>"),
        "invalid_token_response",
        200,
    )
    .await;
    refused_with(
        ResponseTemplate::new(200).set_body_json(json!({"access_token": 42})),
        "invalid_token_response",
        200,
    )
    .await;
}

#[tokio::test]
async fn bad_private_keys_are_typed_errors_when_the_runtime_is_built() {
    let key = test_key();
    let config = json!({
        "base": "http://127.0.0.1:9",
        "tokenUrl": "http://127.0.0.1:9/oauth_token.do",
        "clientId": CLIENT_ID,
        "userIdentifier": "u",
        "keyId": "key-1",
    });
    let body = key_canaries(&key.pem);
    let broken = key.pem.replace(&body[1], &"A".repeat(body[1].len()));
    let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n";
    for (pem, password, code) in [
        (broken.as_str(), None, "invalid_private_key"),
        ("not a key", None, "invalid_private_key"),
        (encrypted, Some("pw"), "unsupported_private_key"),
        (key.pem.as_str(), Some("pw"), "unsupported_private_key"),
    ] {
        let mut secrets = json!({"clientSecret": CLIENT_SECRET, "privateKey": pem});
        if let Some(p) = password {
            secrets["privateKeyPassword"] = json!(p);
        }
        let err = match Harness::new(
            spec("[oauth_jwt_bearer]", GET_THINGS),
            config.clone(),
            secrets,
        ) {
            Ok(_) => panic!("{code}: the runtime should refuse the key"),
            Err(e) => e,
        };
        assert_eq!(err.code, code, "{err}");
        for c in &body {
            assert!(!err.to_string().contains(c.as_str()), "{err}");
            assert!(!format!("{err:?}").contains(c.as_str()), "{err:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// private_key_jwt client authentication
// ---------------------------------------------------------------------------------------

fn private_key_jwt(server: &MockServer, key: &TestKey, extra: Value) -> Harness {
    let mut config = json!({
        "base": server.uri(),
        "tokenUrl": format!("{}/tenant-1/oauth2/v2.0/token", server.uri()),
        "clientId": CLIENT_ID,
        "scope": "https://graph.microsoft.com/.default",
        "clientAuthentication": "private_key_jwt",
        "keyId": "key-7",
    });
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    Harness::new(
        spec("[oauth_client_credentials]", GET_THINGS),
        config,
        json!({"privateKey": key.pem}),
    )
    .unwrap()
}

#[tokio::test]
async fn private_key_jwt_sends_a_signed_client_assertion_and_no_secret() {
    let key = test_key();
    let server = MockServer::start().await;
    let n = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path("/tenant-1/oauth2/v2.0/token"))
        .respond_with(TokenSeq {
            n: Arc::clone(&n),
            expires_in: 3599,
        })
        .mount(&server)
        .await;
    api_ok(&server).await;
    let h = private_key_jwt(&server, &key, json!({}));
    let before = now();
    h.call().await.unwrap();
    h.call().await.unwrap();
    assert_eq!(n.load(Ordering::SeqCst), 1, "the token is cached");
    let tok = received(&server, "/tenant-1/oauth2/v2.0/token").await;
    assert!(header(&tok[0], "authorization").is_none());
    let f = form(&tok[0].body);
    let names: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "grant_type",
            "scope",
            "client_id",
            "client_assertion_type",
            "client_assertion"
        ]
    );
    assert_eq!(field(&f, "grant_type"), "client_credentials");
    assert_eq!(field(&f, "client_id"), CLIENT_ID);
    assert_eq!(
        field(&f, "client_assertion_type"),
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    let (head, claims) = verified(field(&f, "client_assertion"), &key.public);
    assert_eq!(head, json!({"alg": "RS256", "typ": "JWT", "kid": "key-7"}));
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["sub"], CLIENT_ID);
    assert_eq!(
        claims["aud"],
        format!("{}/tenant-1/oauth2/v2.0/token", server.uri())
    );
    let iat = claims["iat"].as_u64().unwrap();
    assert!((before..=now()).contains(&iat), "{claims}");
    assert_eq!(claims["nbf"].as_u64().unwrap(), iat);
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 300);
    assert_eq!(claims["jti"].as_str().unwrap().len(), 32);
    for r in received(&server, "/api/things").await {
        assert_eq!(header(&r, "authorization"), Some("Bearer canary-jwt-tok-1"));
    }
}

#[tokio::test]
async fn private_key_jwt_names_the_key_by_thumbprint_for_entra_id() {
    let key = test_key();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/tenant-1/oauth2/v2.0/token"))
        .respond_with(TokenSeq {
            n: Arc::new(AtomicUsize::new(0)),
            expires_in: 3599,
        })
        .mount(&server)
        .await;
    api_ok(&server).await;
    let h = private_key_jwt(
        &server,
        &key,
        json!({"keyIdHeader": "x5t#S256", "keyId": "q2ipmJ3HqDFY6i5G0oJnCm4bCjmmVDiA6fl0bnJz4Cs"}),
    );
    h.call().await.unwrap();
    let tok = received(&server, "/tenant-1/oauth2/v2.0/token").await;
    let f = form(&tok[0].body);
    let (head, _) = verified(field(&f, "client_assertion"), &key.public);
    assert_eq!(
        head,
        json!({"alg": "RS256", "typ": "JWT", "x5t#S256": "q2ipmJ3HqDFY6i5G0oJnCm4bCjmmVDiA6fl0bnJz4Cs"})
    );
}

#[test]
fn client_credentials_needs_the_secret_or_the_key_its_method_uses() {
    let key = test_key();
    let config = |auth: &str| {
        json!({
            "base": "http://127.0.0.1:9",
            "tokenUrl": "http://127.0.0.1:9/token",
            "clientId": CLIENT_ID,
            "clientAuthentication": auth,
            "keyId": "k",
        })
    };
    let build = |auth: &str, secrets: Value| {
        Harness::new(
            spec("[oauth_client_credentials]", GET_THINGS),
            config(auth),
            secrets,
        )
        .err()
        .map(|e| (e.code, e.message))
    };
    let (code, message) = build("private_key_jwt", json!({"clientSecret": "s"})).unwrap();
    assert_eq!(code, "missing_secret");
    assert!(message.contains("`privateKey`"), "{message}");
    let (code, message) = build("client_secret_basic", json!({"privateKey": key.pem})).unwrap();
    assert_eq!(code, "missing_secret");
    assert!(message.contains("`clientSecret`"), "{message}");
    assert!(build("private_key_jwt", json!({"privateKey": key.pem})).is_none());
    assert!(build("client_secret_post", json!({"clientSecret": "s"})).is_none());
}

// ---------------------------------------------------------------------------------------
// A templated token URL still passes the egress check
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_templated_token_url_is_rendered_and_checked_by_the_egress_policy() {
    let key = test_key();
    let server = MockServer::start().await;
    token_endpoint(&server, 3600).await;
    api_ok(&server).await;
    let port = server.address().port();
    // The token URL is the API's address under the name `localhost`.
    let types = "\n    - type: oauth_jwt_bearer\n      defaults: { tokenUrl: \"{{ config.base | replace('127.0.0.1', 'localhost') }}/oauth_token.do\" }";
    let base_spec = spec(types, GET_THINGS);
    let i = connector_runtime::ConnectorInstance::new(
        Arc::new(base_spec.clone()),
        json!({"base": format!("http://127.0.0.1:{port}"), "clientId": CLIENT_ID,
               "userIdentifier": "u", "keyId": "k"}),
        json!({"clientSecret": CLIENT_SECRET, "privateKey": key.pem}),
    )
    .unwrap();
    assert_eq!(
        i.config["tokenUrl"],
        format!("http://localhost:{port}/oauth_token.do")
    );
    // The API on 127.0.0.1 is allowed; the rendered token URL on `localhost` is not, and
    // is refused before anything is sent.
    let policy = EgressPolicy {
        allowed_hosts: vec!["127.0.0.1".into()],
        allow_loopback: true,
    };
    let runtime = InstanceRuntime::new_with_egress(i, policy).unwrap();
    let mut registry = connector_runtime::Registry::new();
    let dispatcher = registry.register_spec(base_spec.clone()).unwrap();
    let ctx = runtime.context("", tokio_util::sync::CancellationToken::new());
    let err = dispatcher
        .execute(&ctx, "call", json!({}), Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.code, "egress_refused", "{err}");
    assert!(received(&server, TOKEN_PATH).await.is_empty());
    assert!(received(&server, "/api/things").await.is_empty());
}

// ---------------------------------------------------------------------------------------
// Assertions are credentials until they expire: the redactor learns them
// ---------------------------------------------------------------------------------------

/// The strategy of `auth` built from `config` and `secrets`; one request applied; the
/// assertion the token endpoint received must be among the strategy's runtime secrets.
async fn assertion_is_a_runtime_secret(
    auth: connector_spec::AuthTypeId,
    config: Value,
    secrets: Value,
    field_name: &str,
    server: &MockServer,
    token_path: &str,
) {
    let http =
        connector_runtime::egress::EgressClient::for_tokens(None, Duration::from_secs(5)).unwrap();
    let strategy = connector_runtime::auth::build_strategy(
        auth,
        config.as_object().unwrap(),
        &connector_runtime::Secrets::new(secrets.as_object().unwrap().clone()),
        &http,
    )
    .unwrap();
    let mut req = reqwest::Request::new(
        reqwest::Method::GET,
        format!("{}/api/things", server.uri()).parse().unwrap(),
    );
    strategy.apply(&mut req).await.unwrap();
    let tok = received(server, token_path).await;
    let f = form(&tok[0].body);
    let sent = field(&f, field_name).to_string();
    let known = strategy.runtime_secrets();
    assert!(
        known.contains(&sent),
        "{auth}: the assertion is not redacted"
    );
    assert!(known.contains(&"canary-jwt-tok-1".to_string()));
}

#[tokio::test]
async fn signed_assertions_are_known_to_the_redactor() {
    let key = test_key();
    let server = MockServer::start().await;
    token_endpoint(&server, 3600).await;
    assertion_is_a_runtime_secret(
        connector_spec::AuthTypeId::OauthJwtBearer,
        json!({
            "tokenUrl": format!("{}{TOKEN_PATH}", server.uri()),
            "clientId": CLIENT_ID, "userIdentifier": "u", "keyId": "k"
        }),
        json!({"clientSecret": CLIENT_SECRET, "privateKey": key.pem}),
        "assertion",
        &server,
        TOKEN_PATH,
    )
    .await;
    let server = MockServer::start().await;
    token_endpoint(&server, 3600).await;
    assertion_is_a_runtime_secret(
        connector_spec::AuthTypeId::OauthClientCredentials,
        json!({
            "tokenUrl": format!("{}{TOKEN_PATH}", server.uri()),
            "clientId": CLIENT_ID, "clientAuthentication": "private_key_jwt", "keyId": "k"
        }),
        json!({"privateKey": key.pem}),
        "client_assertion",
        &server,
        TOKEN_PATH,
    )
    .await;
}

#[tokio::test]
async fn a_pkcs1_rsa_private_key_signs_too() {
    let key = test_key();
    let pkcs1 = TestKey {
        pem: pkcs1_pem(&key.pem),
        public: key.public.clone(),
    };
    assert!(pkcs1.pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let server = MockServer::start().await;
    token_endpoint(&server, 3600).await;
    api_ok(&server).await;
    let h = jwt_bearer(&server, &pkcs1, json!({}));
    h.call().await.unwrap();
    let tok = received(&server, TOKEN_PATH).await;
    let f = form(&tok[0].body);
    let (head, claims) = verified(field(&f, "assertion"), &pkcs1.public);
    assert_eq!(head["kid"], "key-1");
    assert_eq!(claims["iss"], CLIENT_ID);
}
