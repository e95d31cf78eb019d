//! `connector serve` without `--allow-loopback`: no URL spelling gets a token request (with
//! the client id and secret) to a loopback address. Save refuses such URLs naming the field;
//! instances saved earlier under `--allow-loopback` are refused when the request is made; and
//! a refusal reads the same whether or not anything listens on the port.
//!
//!     cargo test -p connector-cli --test serve_egress

use serde_json::{Value, json};

mod support;
use support::target::Target;
use support::{Serve, Server, free_port};

/// What a token endpoint would answer: if this text ever reaches a client, a request got out.
const TARGET_ANSWER: &str = "TARGET-ANSWER-invalid-client";
const CLIENT_SECRET: &str = "CANARY-egress-secret";

/// The loopback target: it answers every request with an OAuth error carrying
/// [`TARGET_ANSWER`], and counts the connections it accepts.
async fn start_target() -> Target {
    let body = json!({"error": "invalid_client", "error_description": TARGET_ANSWER});
    Target::start("401 Unauthorized", body.to_string()).await
}

/// Every way to write "127.0.0.1:PORT" that the URL parser reads as an http URL.
fn spellings(port: u16, path: &str) -> Vec<String> {
    vec![
        format!("http:127.0.0.1:{port}{path}"),
        format!("HTTP://127.0.0.1:{port}{path}"),
        format!("http:/127.0.0.1:{port}{path}"),
        format!("http:\\\\127.0.0.1:{port}{path}"),
        format!("http://[::127.0.0.1]:{port}{path}"),
        format!("http://[::ffff:127.0.0.1]:{port}{path}"),
        format!("http://[::ffff:0:127.0.0.1]:{port}{path}"),
    ]
}

// ---------------------------------------------------------------- the server under test

/// The API is a public IP literal (TEST-NET-1): save accepts it without DNS, and no test
/// gets as far as calling it.
const CC_SPEC: &str = r#"id: .egress-cc
displayName: Egress client credentials
description: An API behind a client-credentials token endpoint.
minimumLicense: basic
baseUrl: https://192.0.2.10
auth:
  types: [oauth_client_credentials]
actions:
  get:
    description: Read.
    scope: read
    input: { type: object, additionalProperties: false, properties: {} }
    request: { method: GET, path: /thing }
"#;

const USER_SPEC: &str = r#"id: .egress-user
displayName: Egress per-user
description: Acts as the calling user.
minimumLicense: basic
baseUrl: https://192.0.2.10
auth:
  types: [oauth_authorization_code]
actions:
  get:
    description: Read.
    scope: read
    input: { type: object, additionalProperties: false, properties: {} }
    request: { method: GET, path: /thing }
"#;

fn loopback_flag(allow_loopback: bool) -> &'static [&'static str] {
    if allow_loopback {
        &["--allow-loopback"]
    } else {
        &[]
    }
}

impl Server {
    async fn start(allow_loopback: bool) -> Server {
        Serve::new()
            .spec("cc.yaml", CC_SPEC)
            .spec("user.yaml", USER_SPEC)
            .args(loopback_flag(allow_loopback))
            .rust_log("info")
            .start()
            .await
    }

    /// Stop the process and start it again on the same data, with another loopback setting.
    async fn restart(&mut self, allow_loopback: bool) {
        let args = loopback_flag(allow_loopback).iter().map(|a| a.to_string());
        self.respawn_with(args.collect());
        self.wait_ready().await;
    }

    fn admin_key(&self) -> String {
        self.add_user("admin", true)
    }

    /// A call with the admin key: status and body text, exactly as sent.
    async fn call(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String) {
        support::call_text(&self.base, key, method, path, body).await
    }

    /// Save an instance: status and body text.
    async fn save(&self, key: &str, instance: Value) -> (u16, String) {
        self.call(key, Method::POST, "/api/instances", Some(instance))
            .await
    }
}

fn cc_instance(id: &str, token_url: &str) -> Value {
    json!({
        "id": id,
        "connectorType": ".egress-cc",
        "name": "cc",
        "config": { "tokenUrl": token_url, "clientId": "client-1" },
        "secrets": { "clientSecret": CLIENT_SECRET },
    })
}

fn user_instance(id: &str, token_url: &str) -> Value {
    json!({
        "id": id,
        "connectorType": ".egress-user",
        "name": "user",
        "config": {
            "authorizationUrl": "https://192.0.2.10/authorize",
            "tokenUrl": token_url,
            "clientId": "client-1",
        },
        "secrets": { "clientSecret": CLIENT_SECRET },
    })
}

fn error_of(body: &str) -> (String, String) {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    (
        v["error"]["code"].as_str().unwrap_or_default().to_string(),
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

use reqwest::Method;

/// The save refused `url` in `config.tokenUrl`: by the outbound check, naming loopback, or
/// for `http:\\host` (which `url` reads as `http://host` but is no RFC 3986 URI) by the
/// schema's `format: uri`, before the outbound check sees it.
fn refused_at_save(url: &str, body: &str) {
    let (code, message) = error_of(body);
    if url.contains('\\') {
        assert_eq!(code, "invalid_config", "{url}: {body}");
        assert!(message.contains("config.tokenUrl"), "{url}: {message}");
    } else {
        assert_eq!(code, "outbound_url_denied", "{url}: {body}");
        assert!(message.starts_with("`config.tokenUrl`"), "{url}: {message}");
        assert!(message.contains("loopback"), "{url}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loopback_token_url_in_any_spelling_is_refused_at_save_naming_the_field() {
    let target = start_target().await;
    let closed = free_port();
    let server = Server::start(false).await;
    let key = server.admin_key();
    for (open, shut) in spellings(target.port, "/cc-token")
        .into_iter()
        .zip(spellings(closed, "/cc-token"))
    {
        let (st, body) = server.save(&key, cc_instance("cc", &open)).await;
        assert_eq!(st, 400, "{open}: {body}");
        refused_at_save(&open, &body);
        // A closed port answers byte for byte the same.
        let (st2, body2) = server.save(&key, cc_instance("cc", &shut)).await;
        // Byte for byte, but for the port numbers where a message quotes the URL.
        let same = |b: &str| {
            b.replace(&target.port.to_string(), "PORT")
                .replace(&closed.to_string(), "PORT")
        };
        assert_eq!((st2, same(&body2)), (st, same(&body)), "{open} / {shut}");

        let (st, body) = server.save(&key, user_instance("u", &open)).await;
        assert_eq!(st, 400, "{open}: {body}");
        refused_at_save(&open, &body);
    }
    let (st, body) = server.call(&key, Method::GET, "/api/instances", None).await;
    assert_eq!(st, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["instances"],
        json!([])
    );
    assert_eq!(target.accepted(), 0, "nothing was sent to the target");
}

/// Instances saved while loopback was allowed, then run by a server that no longer allows
/// it: the check made when the request is sent refuses every token path.
#[tokio::test(flavor = "multi_thread")]
async fn stored_loopback_token_urls_are_refused_when_the_request_is_made() {
    let target = start_target().await;
    let closed = free_port();
    let mut server = Server::start(true).await;
    let key = server.admin_key();
    // `http:\\host` cannot be stored at all (`format: uri` refuses it at save, see above);
    // the runtime's own tests send it through the request-time check.
    let storable = |urls: Vec<String>| -> Vec<String> {
        urls.into_iter().filter(|u| !u.contains('\\')).collect()
    };
    let open_urls = storable(spellings(target.port, "/cc-token"));
    let shut_urls = storable(spellings(closed, "/cc-token"));
    for (i, (open, shut)) in open_urls.iter().zip(&shut_urls).enumerate() {
        for (id, body) in [
            (
                format!("cc-open-{i}"),
                cc_instance(&format!("cc-open-{i}"), open),
            ),
            (
                format!("cc-shut-{i}"),
                cc_instance(&format!("cc-shut-{i}"), shut),
            ),
            (
                format!("user-{i}"),
                user_instance(&format!("user-{i}"), open),
            ),
        ] {
            let (st, text) = server.save(&key, body).await;
            assert_eq!(st, 201, "{id}: {text}");
        }
    }
    assert_eq!(target.accepted(), 0, "saving sends nothing");

    server.restart(false).await;
    for (i, url) in open_urls.iter().enumerate() {
        // Client credentials: the token fetch before the API call.
        let run = |id: String| {
            let server = &server;
            let key = &key;
            async move {
                server
                    .call(
                        key,
                        Method::POST,
                        &format!("/api/instances/{id}/actions/get"),
                        Some(json!({})),
                    )
                    .await
            }
        };
        let (st, open_body) = run(format!("cc-open-{i}")).await;
        assert_eq!(st, 400, "{}: {open_body}", url);
        let (code, message) = error_of(&open_body);
        assert_eq!(code, "egress_refused", "{}: {open_body}", url);
        assert!(message.contains("loopback"), "{message}");
        assert!(!message.contains(TARGET_ANSWER) && !message.contains(CLIENT_SECRET));
        let (st2, shut_body) = run(format!("cc-shut-{i}")).await;
        assert_eq!(
            (st2, &shut_body),
            (st, &open_body),
            "open and closed ports read the same"
        );

        // Authorization code: the exchange in the callback.
        let (st, text) = server
            .call(
                &key,
                Method::POST,
                &format!("/api/instances/user-{i}/oauth/start"),
                Some(json!({})),
            )
            .await;
        assert_eq!(st, 200, "{text}");
        let state = serde_json::from_str::<Value>(&text).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_string();
        let (st, page) = server
            .call(
                &key,
                Method::GET,
                &format!("/api/oauth/callback?state={state}&code=c"),
                None,
            )
            .await;
        assert_eq!(st, 400, "{}: {page}", url);
        assert!(page.contains("egress_refused"), "{}: {page}", url);
        assert!(!page.contains(TARGET_ANSWER), "{page}");
    }
    assert_eq!(target.accepted(), 0, "no token request reached the target");
}
