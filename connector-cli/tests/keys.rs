//! `connector keys generate|status|rotate` against real SQLite store files.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use base64::Engine;
use connector_runtime::Secrets;
use connector_runtime::store::{
    ExposeSecret, InstanceStore, Keyring, NewConnectorInstance, NewOAuthState, OAuthStateStore,
    SecretString, SqliteStore, StoreError, Timestamp, TokenData, TokenStore, UserTokenKey,
};
use connector_spec::AuthTypeId;
use predicates::prelude::*;
use serde_json::json;
use tempfile::TempDir;

const CANARY: &str = "canary-cli-token-4e5f6a";

fn key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

/// The binary with no key or store configuration inherited from the caller.
fn connector() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_connector"));
    for v in [
        "CONNECTOR_KEY",
        "CONNECTOR_KEY_FILE",
        "CONNECTOR_STORE",
        "CONNECTOR_HOME",
    ] {
        cmd.env_remove(v);
    }
    cmd
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A store under key k1 holding a shared token, two user tokens, a state and an instance.
fn seeded_store(dir: &TempDir) -> PathBuf {
    let path = dir.path().join("connector.db");
    rt().block_on(async {
        let store = SqliteStore::open(&path, Keyring::parse(&format!("k1:{}", key(1))).unwrap())
            .await
            .unwrap();
        let data = |t: &str| TokenData {
            refresh_token: Some(SecretString::from(format!("{t}-refresh"))),
            ..TokenData::bearer(t)
        };
        store.put_shared_token("c1", data(CANARY)).await.unwrap();
        for u in ["alice", "bob"] {
            store
                .put_user_token(
                    &UserTokenKey::oauth(u, "c1"),
                    data(&format!("{CANARY}-{u}")),
                )
                .await
                .unwrap();
        }
        store
            .insert_state(NewOAuthState::new(
                "c1",
                "alice",
                SecretString::from("verifier-123456"),
                Timestamp::now(),
            ))
            .await
            .unwrap();
        store
            .create_instance(NewConnectorInstance {
                id: Some("c1".into()),
                connector_type: "slack_api".into(),
                name: "Slack".into(),
                auth_type: AuthTypeId::OauthAuthorizationCode,
                config: json!({}),
                secrets: Secrets::new(
                    json!({"clientSecret": "client-secret-xyz"})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
                access: None,
            })
            .await
            .unwrap();
        store.close().await;
    });
    path
}

/// Read every record back with `keys`; the error of the first that fails.
fn read_all(path: &Path, keys: &str) -> Result<(), StoreError> {
    rt().block_on(async {
        let store = SqliteStore::open(path, Keyring::parse(keys).unwrap()).await?;
        let s = store.get_shared_token("c1").await?.unwrap();
        assert_eq!(s.access_token.expose_secret(), CANARY);
        for u in ["alice", "bob"] {
            let t = store
                .get_user_token(&UserTokenKey::oauth(u, "c1"))
                .await?
                .unwrap();
            assert_eq!(t.access_token.expose_secret(), format!("{CANARY}-{u}"));
            assert_eq!(
                t.refresh_token.unwrap().expose_secret(),
                format!("{CANARY}-{u}-refresh")
            );
        }
        let i = store.get_instance("c1").await?.unwrap();
        assert_eq!(i.secrets.get_str("clientSecret"), Some("client-secret-xyz"));
        store.close().await;
        Ok(())
    })
}

#[test]
fn generate_prints_a_fresh_32_byte_key_with_an_id() {
    let out = connector()
        .args(["keys", "generate", "--id", "prod-1"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let line = String::from_utf8(out).unwrap();
    let (id, b64) = line.trim().split_once(':').unwrap();
    assert_eq!(id, "prod-1");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(bytes.len(), 32);
    // The printed line is a valid keyring, and a second key differs.
    Keyring::parse(line.trim()).unwrap();
    let again = connector()
        .args(["keys", "generate", "--id", "prod-1"])
        .output()
        .unwrap();
    assert_ne!(String::from_utf8(again.stdout).unwrap(), line);
    // A default id is given when none is asked for.
    connector()
        .args(["keys", "generate"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"^k[0-9]+:[A-Za-z0-9+/]{43}=\n$").unwrap());
    connector()
        .args(["keys", "generate", "--id", "bad id"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("may hold only"));
}

#[test]
fn rotate_reencrypts_every_record_under_the_new_key() {
    let dir = TempDir::new().unwrap();
    let path = seeded_store(&dir);
    let new_ring = format!("k2:{},k1:{}", key(2), key(1));
    connector()
        .args(["keys", "status", "--store"])
        .arg(&path)
        .env("CONNECTOR_KEY", &new_ring)
        .assert()
        .success()
        .stdout(predicate::str::contains("active key: k2"))
        .stdout(predicate::str::contains(
            "k1: 8 sealed values  (old key: run `connector keys rotate`)",
        ));

    let out = connector()
        .args(["keys", "rotate", "--store"])
        .arg(&path)
        .env("CONNECTOR_KEY", &new_ring)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "re-encrypted 8 sealed values under key `k2`: 3 tokens, 1 OAuth state, 1 connector instance",
        ))
        .stdout(predicate::str::contains(
            "no value is sealed under k1 any more; remove it from CONNECTOR_KEY",
        ))
        .get_output()
        .clone();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(CANARY) && !all.contains(&key(1)) && !all.contains(&key(2)));

    // The old key removed: every record opens; the old key alone no longer does.
    read_all(&path, &format!("k2:{}", key(2))).unwrap();
    assert!(matches!(
        read_all(&path, &format!("k1:{}", key(1))),
        Err(StoreError::Crypto(_))
    ));
    connector()
        .args(["keys", "status", "--store"])
        .arg(&path)
        .env("CONNECTOR_KEY", format!("k2:{}", key(2)))
        .assert()
        .success()
        .stdout(predicate::str::contains("k2: 8 sealed values\n"));
}

#[test]
fn rotate_reads_the_keyring_from_a_key_file_and_the_store_from_connector_home() {
    let dir = TempDir::new().unwrap();
    seeded_store(&dir);
    let key_file = dir.path().join("keys.txt");
    std::fs::write(
        &key_file,
        format!("# active first\nk3:{}\nk1:{}\n", key(3), key(1)),
    )
    .unwrap();
    connector()
        .args(["keys", "rotate"])
        .env("CONNECTOR_KEY_FILE", &key_file)
        .env("CONNECTOR_HOME", dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("under key `k3`"));
    read_all(&dir.path().join("connector.db"), &format!("k3:{}", key(3))).unwrap();
}

#[test]
fn rotate_without_the_old_key_fails_and_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let path = seeded_store(&dir);
    connector()
        .args(["keys", "rotate", "--store"])
        .arg(&path)
        .env("CONNECTOR_KEY", format!("k2:{}", key(2)))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "rotation failed; nothing was changed",
        ))
        .stderr(predicate::str::contains(
            "key `k1`, which is not configured",
        ))
        .stderr(predicate::str::contains(CANARY).not());
    read_all(&path, &format!("k1:{}", key(1))).unwrap();
}

#[test]
fn rotate_refuses_a_missing_key_or_store() {
    let dir = TempDir::new().unwrap();
    let path = seeded_store(&dir);
    connector()
        .args(["keys", "rotate", "--store"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no encryption key configured"));
    connector()
        .args(["keys", "rotate", "--store"])
        .arg(&path)
        .env("CONNECTOR_KEY", "k2:short")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("entry 1 (`k2`)"));
    let missing = dir.path().join("nope.db");
    connector()
        .args(["keys", "rotate", "--store"])
        .arg(&missing)
        .env("CONNECTOR_KEY", format!("k2:{}", key(2)))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no token store at"));
    assert!(!missing.exists(), "a missing store is not created");
}

#[test]
fn help_explains_the_rotation_procedure() {
    connector()
        .args(["keys", "rotate", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("the FIRST entry is the active"))
        .stdout(predicate::str::contains("CONNECTOR_KEY_FILE"))
        .stdout(predicate::str::contains("--store <PATH>"))
        .stdout(predicate::str::contains(
            "~/.local/share/connector/connector.db",
        ));
    connector()
        .args(["keys", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("generate"))
        .stdout(predicate::str::contains("status"))
        .stdout(predicate::str::contains("rotate"));
}
