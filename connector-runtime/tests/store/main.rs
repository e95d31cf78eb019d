//! The stores on real SQLite files, one module per store trait: tokens (round trips, scope and
//! ownership refusals), OAuth states (every refusal), instances, users and API keys,
//! maintenance (key rotation, cleanup), and the file itself (no plaintext on disk, ciphertexts
//! bound to their row, migrations, no secret in `Debug` or error output).

mod at_rest;
mod backend;
mod instances;
mod maintenance;
mod pg;
mod postgres;
mod states;
mod tokens;
mod usage;
mod users;

use backend::{Backend, PgDb, SqliteDb, TestStore};

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use connector_runtime::store::crypto::CryptoError;
use connector_runtime::store::{
    CleanupPolicy, ExposeSecret, InstanceStore, InstanceUpdate, KEY_PREFIX, Keyring, Maintenance,
    NewConnectorInstance, NewOAuthState, OAuthStateStore, STATE_TTL, SecretString, SqliteStore,
    StoreError, Timestamp, TokenData, TokenId, TokenScope, TokenStore, TokenUpdate, UserStore,
    UserTokenKey, key_sha256,
};
use connector_runtime::{ActionError, ErrorClass, Secrets};
use connector_spec::{AuthMode, AuthTypeId};
use serde_json::json;
use tempfile::TempDir;

const CANARY_ACCESS: &str = "canary-access-7f3a9c";
const CANARY_REFRESH: &str = "canary-refresh-1b2e4d";
const CANARY_VERIFIER: &str = "canary-verifier-9d8c7b";
const CANARY_SECRET: &str = "canary-secret-5a6b7c";
const CANARIES: [&str; 4] = [
    CANARY_ACCESS,
    CANARY_REFRESH,
    CANARY_VERIFIER,
    CANARY_SECRET,
];

fn key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

fn ring(spec: &str) -> Keyring {
    Keyring::parse(spec).unwrap()
}

fn k1() -> Keyring {
    ring(&format!("k1:{}", key(1)))
}

fn token(access: &str, refresh: Option<&str>) -> TokenData {
    TokenData {
        access_token: SecretString::from(access),
        refresh_token: refresh.map(SecretString::from),
        token_type: "Bearer".into(),
        scope: Some("read write".into()),
        expires_at: Some(Timestamp(1_900_000_000_000)),
        refresh_token_expires_at: Some(Timestamp(1_950_000_000_000)),
    }
}

fn refresh_update(access: &str, refresh: Option<&str>) -> TokenUpdate {
    TokenUpdate {
        access_token: SecretString::from(access),
        refresh_token: refresh.map(SecretString::from),
        refresh_token_expires_at: None,
        token_type: None,
        scope: None,
        expires_at: Some(Timestamp(1_990_000_000_000)),
    }
}

fn secrets(v: serde_json::Value) -> Secrets {
    Secrets::new(v.as_object().unwrap().clone())
}

fn new_instance(id: &str, auth_type: AuthTypeId) -> NewConnectorInstance {
    NewConnectorInstance {
        id: Some(id.into()),
        connector_type: "slack_api".into(),
        name: format!("Slack {id}"),
        auth_type,
        config: json!({"clientId": "client-1", "authType": auth_type.as_str()}),
        secrets: secrets(json!({"clientSecret": CANARY_SECRET})),
        access: None,
    }
}

fn verifier() -> SecretString {
    SecretString::from(CANARY_VERIFIER)
}

/// Write one of every sealed value, with canaries.
async fn fill(store: &impl TestStore) {
    store
        .put_shared_token("c1", token(CANARY_ACCESS, Some(CANARY_REFRESH)))
        .await
        .unwrap();
    for user in ["alice", "bob"] {
        store
            .put_user_token(
                &UserTokenKey::oauth(user, "c1"),
                token(
                    &format!("{CANARY_ACCESS}-{user}"),
                    Some(&format!("{CANARY_REFRESH}-{user}")),
                ),
            )
            .await
            .unwrap();
    }
    store
        .insert_state(NewOAuthState::new(
            "c1",
            "alice",
            verifier(),
            Timestamp::now(),
        ))
        .await
        .unwrap();
    store
        .create_instance(new_instance("c1", AuthTypeId::OauthAuthorizationCode))
        .await
        .unwrap();
}

fn files_of(path: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", path.display()));
        if let Ok(bytes) = std::fs::read(&p) {
            out.push((p, bytes));
        }
    }
    out
}

fn assert_no_canary(places: &[(String, Vec<u8>)]) {
    for (p, bytes) in places {
        for c in CANARIES {
            // The distinctive middle of each canary, so a prefix match cannot hide it.
            let needle = &c.as_bytes()[7..];
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{p} holds `{c}` in plaintext"
            );
        }
    }
}

/// `err` is a version conflict: `expected` was passed, `actual` is stored.
fn assert_version_conflict(err: StoreError, expected: u64, actual: u64) {
    assert!(
        matches!(
            err,
            StoreError::VersionConflict { expected: e, actual: a, .. } if (e, a) == (expected, actual)
        ),
        "{err}"
    );
}
