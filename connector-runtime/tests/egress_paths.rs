//! Every outbound request path goes through the one egress check: the client-credentials
//! token fetch, the authorization-code exchange, refresh, EARS token/refresh/revoke, and
//! pagination. Each target is a loopback listener that counts the connections it accepts; a
//! refused path must leave it at zero, fail with `egress_refused`, and say the same whether
//! or not anything listens on the port.
//!
//!     cargo test -p connector-runtime --test egress_paths

use std::sync::Arc;
use std::time::Duration;

use connector_runtime::egress::EgressClient;
use connector_runtime::oauth::{
    CallbackParams, OAuthClient, OAuthFlows, OAuthSettings, TokenOwner,
};
use connector_runtime::store::{
    Keyring, SqliteStore, Timestamp, TokenData, TokenStore, UserTokenKey,
};
use connector_runtime::{
    ActionError, Connector, ConnectorInstance, DeclarativeConnector, EgressPolicy, ErrorClass,
    ExecuteOptions, InMemoryTransport, InstanceRuntime,
};
use connector_spec::{ConnectorSpec, LoadOptions};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

// The counting loopback target, shared with the `connector serve` egress tests.
#[path = "../../connector-cli/tests/support/target.rs"]
mod target;
use target::Target;

/// The loopback target: it answers every request with a valid token response (so a request
/// that gets through visibly succeeds) and counts the connections it accepted.
async fn start_target() -> Target {
    let body = json!({
        "access_token": "LEAKED-access", "refresh_token": "LEAKED-refresh",
        "token_type": "Bearer", "expires_in": 3600,
    });
    Target::start("200 OK", body.to_string()).await
}

/// A port on 127.0.0.1 with nothing listening.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Every way to write "127.0.0.1:PORT" that the URL parser accepts as an http URL.
fn spellings(port: u16, path: &str) -> Vec<String> {
    vec![
        format!("http:127.0.0.1:{port}{path}"),
        format!("HTTP://127.0.0.1:{port}{path}"),
        format!("http:/127.0.0.1:{port}{path}"),
        // `http:\\127.0.0.1` is not here: it is no RFC 3986 URI, so an instance whose URL
        // field (`format: uri`) holds it is refused before it exists (`invalid_config`).
        // The check itself reads it as loopback: `egress` unit test
        // `every_spelling_of_an_http_url_is_judged_by_what_it_parses_to`.
        format!("http://[::127.0.0.1]:{port}{path}"),
        format!("http://[::ffff:127.0.0.1]:{port}{path}"),
        format!("http://[::ffff:0:127.0.0.1]:{port}{path}"),
        format!("http://2130706433:{port}{path}"),
    ]
}

/// No loopback (the server default).
fn no_loopback() -> EgressPolicy {
    EgressPolicy::default()
}

/// Loopback allowed (the setup check: with it, a request reaches the target).
fn loopback_allowed() -> EgressPolicy {
    EgressPolicy {
        allow_loopback: true,
        ..EgressPolicy::default()
    }
}

/// Loopback allowed, but only `api.example.test` on the allowed-hosts list.
fn allow_list() -> EgressPolicy {
    EgressPolicy {
        allowed_hosts: vec!["api.example.test".into()],
        allow_loopback: true,
    }
}

fn load(text: &str) -> Arc<ConnectorSpec> {
    let loaded = connector_spec::load_str("egress-paths.yaml", text, &LoadOptions::default());
    assert!(!loaded.has_errors(), "{}", loaded.render(false));
    Arc::new(loaded.spec.expect("spec"))
}

const CC_SPEC: &str = r#"id: .egress-cc
displayName: Egress client credentials
description: An API behind an OAuth client-credentials token endpoint.
minimumLicense: basic
baseUrl: https://api.example.test
auth:
  types: [oauth_client_credentials]
actions:
  get:
    description: Read.
    scope: read
    request: { method: GET, path: /thing }
"#;

/// Run `get` on a client-credentials instance whose token URL is `token_url`. The API call
/// itself is answered in memory: only the token fetch can touch the network.
async fn cc_run(token_url: &str, policy: EgressPolicy) -> Result<Value, ActionError> {
    let spec = load(CC_SPEC);
    let instance = ConnectorInstance::new(
        Arc::clone(&spec),
        json!({ "tokenUrl": token_url, "clientId": "client-1" }),
        json!({ "clientSecret": "CANARY-cc-secret" }),
    )
    .unwrap();
    let api = InMemoryTransport::new(|_| {
        Ok(http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(bytes::Bytes::from_static(b"{\"ok\":true}"))
            .unwrap())
    });
    let rt = InstanceRuntime::new_with_egress(instance, policy)
        .unwrap()
        .with_transport(Arc::new(api));
    let ctx = rt.context("", CancellationToken::new());
    DeclarativeConnector::new(spec)
        .execute(&ctx, "get", json!({}), ExecuteOptions::default())
        .await
}

fn assert_refused(e: &ActionError, why: &str, what: &str) {
    assert_eq!(e.code, "egress_refused", "{what}: {e:?}");
    assert_eq!(e.class, ErrorClass::User, "{what}");
    assert!(e.message.contains(why), "{what}: {}", e.message);
    assert!(!e.message.contains("CANARY"), "{what}: {}", e.message);
}

#[tokio::test]
async fn the_client_credentials_fetch_is_refused_however_the_token_url_is_spelled() {
    let target = start_target().await;
    // The setup can tell: with loopback allowed, the fetch reaches the target.
    let open = loopback_allowed();
    let url = format!("http://127.0.0.1:{}/t", target.port);
    assert_eq!(cc_run(&url, open).await.unwrap(), json!({"ok": true}));
    assert_eq!(target.accepted(), 1);

    for url in spellings(target.port, "/t") {
        let e = cc_run(&url, no_loopback()).await.unwrap_err();
        assert_refused(&e, "loopback", &url);
        let e = cc_run(&url, allow_list()).await.unwrap_err();
        assert_refused(&e, "allowed-hosts", &url);
    }
    assert_eq!(target.accepted(), 1, "no refused fetch reached the target");
}

#[tokio::test]
async fn a_refused_token_url_reads_the_same_whether_or_not_the_port_is_open() {
    let target = start_target().await;
    let closed = closed_port();
    for (open, shut) in spellings(target.port, "/t")
        .into_iter()
        .zip(spellings(closed, "/t"))
    {
        let a = cc_run(&open, no_loopback()).await.unwrap_err();
        let b = cc_run(&shut, no_loopback()).await.unwrap_err();
        assert_eq!(
            (a.code, &a.message),
            (b.code, &b.message),
            "{open} / {shut}"
        );
        assert!(
            !a.message.contains(&target.port.to_string()),
            "{}",
            a.message
        );
    }
    assert_eq!(target.accepted(), 0);
}

#[tokio::test]
async fn a_closed_port_on_an_allowed_host_says_only_that_it_could_not_connect() {
    let closed = closed_port();
    let open = loopback_allowed();
    let e = cc_run(&format!("http://127.0.0.1:{closed}/t?k=v"), open)
        .await
        .unwrap_err();
    assert_eq!(e.code, "token_request_failed", "{e:?}");
    assert_eq!(
        e.message,
        format!("token request failed: could not connect to http://127.0.0.1:{closed}")
    );
}

// ------------------------------------------------------------------ per-user OAuth and EARS

const USER_SPEC: &str = r#"id: .egress-user
displayName: Egress per-user
description: Per-user OAuth and EARS.
minimumLicense: basic
baseUrl: https://api.example.test
auth:
  types: [oauth_authorization_code, ears]
actions:
  get:
    description: Read.
    scope: read
    request: { method: GET, path: /thing }
"#;

const ID: &str = "guarded";

struct Flows {
    flows: Arc<OAuthFlows>,
    store: Arc<dyn TokenStore>,
    _dir: tempfile::TempDir,
}

/// Flows with `policy`, and `config` registered as [`ID`].
async fn flows(policy: EgressPolicy, config: Value) -> Flows {
    let dir = tempfile::tempdir().unwrap();
    let keyring = Keyring::single("test-key", &[7u8; 32]).unwrap();
    let stores = SqliteStore::open(&dir.path().join("t.db"), keyring)
        .await
        .unwrap()
        .stores();
    let store: Arc<dyn TokenStore> = Arc::clone(&stores.tokens);
    let settings = OAuthSettings::new("http://127.0.0.1:9/callback")
        .unwrap()
        .with_egress(policy);
    let flows = OAuthFlows::new(Arc::clone(&store), stores.states, settings).unwrap();
    // EARS holds the client: its instances declare no client secret (an undeclared one is
    // refused).
    let secrets = match config["authType"].as_str() {
        Some("ears") => json!({}),
        _ => json!({ "clientSecret": "CANARY-client-secret" }),
    };
    let instance = ConnectorInstance::new(load(USER_SPEC), config, secrets).unwrap();
    flows.register(ID, &instance).unwrap();
    Flows {
        flows,
        store,
        _dir: dir,
    }
}

fn direct(token_url: &str) -> Value {
    json!({
        "authType": "oauth_authorization_code",
        "authorizationUrl": "https://login.example.test/authorize",
        "tokenUrl": token_url,
        "clientId": "client-1",
    })
}

fn ears(base: &str) -> Value {
    json!({ "authType": "ears", "provider": "google", "earsBaseUrl": base })
}

impl Flows {
    /// Start an authorization for alice and come back with a code: the exchange follows.
    async fn exchange(&self) -> Result<(), ActionError> {
        let a = self
            .flows
            .start(ID, "alice", Default::default())
            .await
            .unwrap();
        let params = CallbackParams {
            state: Some(a.state),
            code: Some("CANARY-code".into()),
            ..Default::default()
        };
        self.flows.callback("alice", params).await.map(|_| ())
    }

    /// Store an expired token for alice, then ask for it: a refresh follows.
    async fn refresh(&self) -> Result<(), ActionError> {
        self.store_token().await;
        let c = self.flows.connector(ID).unwrap();
        self.flows
            .access_token(&c, &TokenOwner::User("alice".into()))
            .await
            .map(|_| ())
    }

    async fn store_token(&self) {
        let data = TokenData {
            access_token: SecretString::from("CANARY-at"),
            refresh_token: Some(SecretString::from("CANARY-rt")),
            token_type: "Bearer".into(),
            scope: None,
            expires_at: Some(Timestamp::now()),
            refresh_token_expires_at: None,
        };
        self.store
            .put_user_token(&UserTokenKey::oauth("alice", ID), data)
            .await
            .unwrap();
    }

    /// Disconnect alice: a revocation at the provider (EARS) is attempted first.
    async fn disconnect(&self) -> u64 {
        self.store_token().await;
        self.flows.disconnect(ID, "alice").await.unwrap()
    }
}

#[tokio::test]
async fn the_code_exchange_and_refresh_are_refused_however_the_token_url_is_spelled() {
    let target = start_target().await;
    // The setup can tell: with loopback allowed, the exchange reaches the target.
    let open = loopback_allowed();
    let f = flows(open, direct(&format!("http://127.0.0.1:{}/t", target.port))).await;
    f.refresh().await.unwrap();
    assert_eq!(target.accepted(), 1);

    for url in spellings(target.port, "/token") {
        for (policy, why) in [(no_loopback(), "loopback"), (allow_list(), "allowed-hosts")] {
            let f = flows(policy, direct(&url)).await;
            let e = f.exchange().await.unwrap_err();
            assert_refused(&e, why, &format!("exchange {url}"));
            let e = f.refresh().await.unwrap_err();
            assert_refused(&e, why, &format!("refresh {url}"));
        }
    }
    assert_eq!(
        target.accepted(),
        1,
        "no refused request reached the target"
    );
}

#[tokio::test]
async fn ears_token_refresh_and_revoke_are_refused_however_the_base_is_spelled() {
    let target = start_target().await;
    let open = loopback_allowed();
    let f = flows(
        open,
        ears(&format!("http://127.0.0.1:{}/ears", target.port)),
    )
    .await;
    assert_eq!(f.disconnect().await, 1);
    assert_eq!(
        target.accepted(),
        1,
        "the setup can tell: the revocation got there"
    );

    for base in spellings(target.port, "/ears") {
        for (policy, why) in [(no_loopback(), "loopback"), (allow_list(), "allowed-hosts")] {
            let f = flows(policy.clone(), ears(&base)).await;
            let e = f.exchange().await.unwrap_err();
            assert_refused(&e, why, &format!("EARS token {base}"));
            let e = f.refresh().await.unwrap_err();
            assert_refused(&e, why, &format!("EARS refresh {base}"));
            // A failed revocation does not stop the local deletion.
            assert_eq!(f.disconnect().await, 1, "{base}");

            // The revocation's own error, through the client the flows use.
            let client = OAuthClient::from_instance(
                &ConnectorInstance::new(load(USER_SPEC), ears(&base), json!({})).unwrap(),
                &OAuthSettings::new("http://127.0.0.1:9/callback").unwrap(),
            )
            .unwrap();
            let http =
                EgressClient::for_tokens(Some(Arc::new(policy)), Duration::from_secs(5)).unwrap();
            let e = client
                .revoke(&http, &SecretString::from("CANARY-rt"))
                .await
                .unwrap_err();
            assert!(
                matches!(&e, connector_runtime::oauth::TokenEndpointError::Refused(m) if m.contains(why)),
                "EARS revoke {base}: {e:?}"
            );
        }
    }
    assert_eq!(
        target.accepted(),
        1,
        "no refused request reached the target"
    );
}

// ------------------------------------------------------------------ pagination

const PAGED: &str = r#"id: .egress-paged
displayName: Egress paged
description: A listing paginated by Link headers.
minimumLicense: basic
baseUrl: "{{ config.base }}"
auth:
  types: [none]
config:
  type: object
  additionalProperties: false
  properties:
    base: { type: string, maxLength: 2048 }
actions:
  list:
    description: List.
    scope: read
    request: { method: GET, path: /items }
    pagination: { style: link_header, records: $.items }
"#;

#[tokio::test]
async fn a_pagination_next_link_to_a_refused_host_is_never_followed() {
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let port = server.address().port();
    Mock::given(path("/p2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [2]})))
        .mount(&server)
        .await;
    // Only 127.0.0.1 is allowed: the same server under another spelling is not.
    let policy = EgressPolicy {
        allowed_hosts: vec!["127.0.0.1".into()],
        allow_loopback: true,
    };
    for next in [
        format!("http://localhost:{port}/p2"),
        format!("http://[::ffff:127.0.0.1]:{port}/p2"),
        format!("http://[::127.0.0.1]:{port}/p2"),
        format!("http:\\\\localhost:{port}/p2"),
    ] {
        server.reset().await;
        Mock::given(path("/items"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("link", format!("<{next}>; rel=\"next\"").as_str())
                    .set_body_json(json!({"items": [1]})),
            )
            .mount(&server)
            .await;
        Mock::given(path("/p2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [2]})))
            .mount(&server)
            .await;
        let spec = load(PAGED);
        let instance = ConnectorInstance::new(
            Arc::clone(&spec),
            json!({ "base": format!("http://127.0.0.1:{port}") }),
            json!({}),
        )
        .unwrap();
        let rt = InstanceRuntime::new_with_egress(instance, policy.clone()).unwrap();
        let ctx = rt.context("", CancellationToken::new());
        let e = DeclarativeConnector::new(spec)
            .execute(&ctx, "list", json!({}), ExecuteOptions { all_pages: true })
            .await
            .unwrap_err();
        // Another spelling of the host is another origin: the pagination refuses it before
        // the egress policy is asked (the next request would carry the same credentials).
        assert_eq!(e.code, "invalid_response", "{next}: {e}");
        assert!(e.message.contains("another origin"), "{next}: {e}");
        assert!(
            !e.message.contains(&next),
            "{next}: the URL is not quoted: {e}"
        );
        let seen = server.received_requests().await.unwrap();
        assert_eq!(
            seen.iter()
                .map(|r| r.url.path().to_string())
                .collect::<Vec<_>>(),
            ["/items"],
            "{next}: the next page was never requested"
        );
    }
}
