//! `connector auth logout` with EARS, through the real binary: a revocation the provider does
//! not confirm is said (naming the revocation endpoint, never the token endpoint or a token),
//! the local tokens are deleted all the same, and the exit code is 1; a confirmed one is said
//! too and exits 0.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use connector_runtime::store::{Keyring, SqliteStore, TokenData, TokenStore, UserTokenKey};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const USER: &str = "alice";
const INSTANCE: &str = ".ears-logout";
const REFRESH: &str = "CANARY-ears-refresh-71c2";
const KEY: [u8; 32] = [5u8; 32];

const SPEC: &str = r#"id: .ears-logout
displayName: EARS logout
description: A per-user connector through EARS.
minimumLicense: basic
baseUrl: "{{ config.base }}"
auth:
  types: [ears]
config:
  type: object
  additionalProperties: false
  properties:
    base: { type: string, maxLength: 2048 }
actions:
  me:
    description: Who am I.
    scope: read
    request: { method: GET, path: /me }
"#;

fn key_env() -> String {
    format!("k1:{}", STANDARD.encode(KEY))
}

/// Answers `status` and records the JSON bodies it was sent.
struct Revoke {
    status: u16,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Respond for Revoke {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.bodies
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&req.body).into_owned());
        ResponseTemplate::new(self.status)
    }
}

async fn seed(store_path: &Path) {
    let keys = Keyring::parse(&key_env()).unwrap();
    let store = SqliteStore::open(store_path, keys).await.unwrap();
    let mut data = TokenData::bearer("CANARY-ears-access-33a0");
    data.refresh_token = Some(REFRESH.to_string().into());
    store
        .put_user_token(&UserTokenKey::oauth(USER, INSTANCE), data)
        .await
        .unwrap();
    store.close().await;
}

async fn remaining(store_path: &Path) -> bool {
    let keys = Keyring::parse(&key_env()).unwrap();
    let store = SqliteStore::open(store_path, keys).await.unwrap();
    let r = store
        .get_user_token(&UserTokenKey::oauth(USER, INSTANCE))
        .await
        .unwrap();
    store.close().await;
    r.is_some()
}

async fn logout_with_revocation_answering(status: u16) -> (i32, String, String, Vec<String>) {
    let ears = MockServer::start().await;
    let bodies = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .and(path("/v1/google/oauth/revoke"))
        .respond_with(Revoke {
            status,
            bodies: Arc::clone(&bodies),
        })
        .mount(&ears)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("tokens.db");
    seed(&store).await;
    let spec = dir.path().join("ears.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        json!({
            "authType": "ears",
            "base": ears.uri(),
            "provider": "google",
            "scope": "drive.readonly",
            "earsBaseUrl": ears.uri(),
        })
        .to_string(),
    )
    .unwrap();
    let args = vec![
        "auth".to_string(),
        "logout".into(),
        spec.display().to_string(),
        "--config".into(),
        config.display().to_string(),
    ];
    let store_for_cmd = store.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_connector"))
            .args(&args)
            .env("CONNECTOR_KEY", key_env())
            .env("CONNECTOR_STORE", &store_for_cmd)
            .env("USER", USER)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "trace")
            .env_remove("CONNECTOR_KEY_FILE")
            .env_remove("CONNECTOR_HOME")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!remaining(&store).await, "the local tokens are deleted");
    let bodies = bodies.lock().unwrap().clone();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        bodies,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_revocation_is_said_with_the_revoke_endpoint_and_exits_1() {
    let (code, stdout, stderr, bodies) = logout_with_revocation_answering(500).await;
    assert_eq!(bodies.len(), 1, "EARS was asked to revoke once");
    assert!(bodies[0].contains(REFRESH), "the refresh token is revoked");
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("deleted 1 token"), "{stdout}");
    let warning = stderr
        .lines()
        .find(|l| l.starts_with("warning: "))
        .unwrap_or_else(|| panic!("no warning in {stderr}"));
    assert!(
        warning.contains("/v1/google/oauth/revoke") && warning.contains("HTTP 500"),
        "{warning}"
    );
    assert!(
        warning.contains("may still be valid at the provider"),
        "{warning}"
    );
    assert!(!stderr.contains("token endpoint"), "{stderr}");
    assert!(
        !stdout.contains("CANARY") && !stderr.contains("CANARY"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_confirmed_revocation_is_said_and_exits_0() {
    let (code, stdout, stderr, bodies) = logout_with_revocation_answering(200).await;
    assert_eq!(bodies.len(), 1);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("revoked the token at the provider"),
        "{stderr}"
    );
    assert!(!stderr.contains("warning:"), "{stderr}");
}
