//! The token store on real SQLite files: round trips, scope and ownership refusals, OAuth
//! state refusals, encryption at rest (no plaintext on disk, ciphertexts bound to their row),
//! key rotation, cleanup, migrations, and no secret in `Debug` or error output.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use connector_runtime::store::crypto::CryptoError;
use connector_runtime::store::{
    CleanupPolicy, ExposeSecret, InstanceUpdate, Keyring, NewConnectorInstance, NewOAuthState,
    STATE_TTL, SecretString, SqliteStore, StoreError, Timestamp, TokenData, TokenId, TokenScope,
    TokenStore, TokenUpdate, UserTokenKey,
};
use connector_runtime::{ActionError, ErrorClass, Secrets};
use connector_spec::{AuthMode, AuthTypeId};
use serde_json::json;
use sqlx::Row;
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

fn db(dir: &TempDir) -> PathBuf {
    dir.path().join("store").join("connector.db")
}

async fn open(path: &Path, keys: Keyring) -> SqliteStore {
    SqliteStore::open(path, keys).await.unwrap()
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
    }
}

fn verifier() -> SecretString {
    SecretString::from(CANARY_VERIFIER)
}

#[tokio::test]
async fn shared_token_round_trip_replace_and_refresh() {
    let dir = TempDir::new().unwrap();
    let store = open(&db(&dir), k1()).await;
    assert!(store.get_shared_token("c1").await.unwrap().is_none());

    let t = store
        .put_shared_token("c1", token(CANARY_ACCESS, Some(CANARY_REFRESH)))
        .await
        .unwrap();
    assert_eq!(t.id.scope(), TokenScope::Shared);
    assert!(t.id.to_string().starts_with("shared:"));
    assert_eq!(t.user_id, None);
    assert_eq!(t.connector_id, "c1");
    assert_eq!(t.version, 1);
    assert!(!t.revoked);

    let got = store.get_shared_token("c1").await.unwrap().unwrap();
    assert_eq!(got.id, t.id);
    assert_eq!(got.access_token.expose_secret(), CANARY_ACCESS);
    assert_eq!(
        got.refresh_token.as_ref().unwrap().expose_secret(),
        CANARY_REFRESH
    );
    assert_eq!(got.token_type, "Bearer");
    assert_eq!(got.scope.as_deref(), Some("read write"));
    assert_eq!(got.expires_at, Some(Timestamp(1_900_000_000_000)));
    assert_eq!(
        got.refresh_token_expires_at,
        Some(Timestamp(1_950_000_000_000))
    );
    assert_eq!(got.created_at, t.created_at);
    let by_id = store.get_shared_token_by_id(&t.id).await.unwrap().unwrap();
    assert_eq!(by_id.version, 1);

    // A refresh without a new refresh token keeps the old one.
    let r = store
        .update_shared_token(&t.id, Some(1), refresh_update("access-2", None))
        .await
        .unwrap();
    assert_eq!(r.version, 2);
    assert_eq!(r.access_token.expose_secret(), "access-2");
    assert_eq!(r.refresh_token.unwrap().expose_secret(), CANARY_REFRESH);
    assert_eq!(
        r.refresh_token_expires_at,
        Some(Timestamp(1_950_000_000_000))
    );
    assert_eq!(r.expires_at, Some(Timestamp(1_990_000_000_000)));
    assert_eq!(r.scope.as_deref(), Some("read write"));

    // A stale version is refused and changes nothing.
    let err = store
        .update_shared_token(&t.id, Some(1), refresh_update("access-3", Some("r3")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::VersionConflict {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{err}"
    );
    let now = store.get_shared_token("c1").await.unwrap().unwrap();
    assert_eq!(now.access_token.expose_secret(), "access-2");

    // Replacing (a new authorization) keeps the id, bumps the version, clears revoked.
    store.revoke_shared_token(&t.id).await.unwrap();
    assert!(store.get_shared_token("c1").await.unwrap().unwrap().revoked);
    let replaced = store
        .put_shared_token("c1", token("access-new", None))
        .await
        .unwrap();
    assert_eq!(replaced.id, t.id);
    assert_eq!(replaced.version, 4);
    assert!(!replaced.revoked);
    assert!(replaced.refresh_token.is_none());
    assert_eq!(replaced.created_at, t.created_at);

    assert!(store.delete_shared_token(&t.id).await.unwrap());
    assert!(!store.delete_shared_token(&t.id).await.unwrap());
    assert!(store.get_shared_token("c1").await.unwrap().is_none());
}

#[tokio::test]
async fn per_user_tokens_are_keyed_by_user_connector_and_credential_type() {
    let dir = TempDir::new().unwrap();
    let store = open(&db(&dir), k1()).await;
    let alice = UserTokenKey::oauth("alice", "c1");
    let alice_other = UserTokenKey {
        credential_type: "calendar".into(),
        ..alice.clone()
    };
    let bob = UserTokenKey::oauth("bob", "c1");

    let a = store
        .put_user_token(&alice, token("alice-access", Some("alice-refresh")))
        .await
        .unwrap();
    let a2 = store
        .put_user_token(&alice_other, token("alice-cal", None))
        .await
        .unwrap();
    let b = store
        .put_user_token(&bob, token("bob-access", None))
        .await
        .unwrap();
    assert!(a.id.to_string().starts_with("per-user:"));
    assert_ne!(a.id, a2.id);
    assert_eq!(a.user_id.as_deref(), Some("alice"));

    let got = store.get_user_token(&alice).await.unwrap().unwrap();
    assert_eq!(got.access_token.expose_secret(), "alice-access");
    assert_eq!(got.credential_type, "oauth");
    let got = store.get_user_token(&alice_other).await.unwrap().unwrap();
    assert_eq!(got.access_token.expose_secret(), "alice-cal");
    let got = store.get_user_token(&bob).await.unwrap().unwrap();
    assert_eq!(got.access_token.expose_secret(), "bob-access");
    // Shared and per-user tokens of one connector do not meet.
    assert!(store.get_shared_token("c1").await.unwrap().is_none());

    let by_id = store
        .get_user_token_by_id("alice", &a.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id.access_token.expose_secret(), "alice-access");

    let listed = store.list_user_tokens("alice").await.unwrap();
    let ids: Vec<_> = listed.iter().map(|t| t.credential_type.as_str()).collect();
    assert_eq!(ids, ["calendar", "oauth"]);

    let r = store
        .update_user_token(
            "alice",
            &a.id,
            None,
            refresh_update("alice-2", Some("alice-r2")),
        )
        .await
        .unwrap();
    assert_eq!(r.refresh_token.unwrap().expose_secret(), "alice-r2");
    assert_eq!(r.version, 2);

    store
        .touch_user_token("alice", &a.id, Timestamp(2_000_000_000_000))
        .await
        .unwrap();
    // An older touch does not move last use back.
    store
        .touch_user_token("alice", &a.id, Timestamp(1_000))
        .await
        .unwrap();
    let t = store.get_user_token(&alice).await.unwrap().unwrap();
    assert_eq!(t.last_used_at, Some(Timestamp(2_000_000_000_000)));
    assert_eq!(t.version, 2, "touch does not change the version");

    store.revoke_user_token("alice", &a.id).await.unwrap();
    assert!(store.get_user_token(&alice).await.unwrap().unwrap().revoked);

    // Disconnect deletes every credential type alice holds for c1, not bob's.
    assert_eq!(store.delete_user_tokens("alice", "c1").await.unwrap(), 2);
    assert_eq!(store.delete_user_tokens("alice", "c1").await.unwrap(), 0);
    assert!(store.get_user_token(&alice).await.unwrap().is_none());
    assert!(store.get_user_token(&bob).await.unwrap().is_some());
    assert!(store.delete_user_token("bob", &b.id).await.unwrap());
    assert!(!store.delete_user_token("bob", &b.id).await.unwrap());
}

#[tokio::test]
async fn token_ids_carry_their_scope_and_each_api_refuses_the_other() {
    let dir = TempDir::new().unwrap();
    let store = open(&db(&dir), k1()).await;
    let shared = store
        .put_shared_token("c1", token("s", None))
        .await
        .unwrap();
    let user = store
        .put_user_token(&UserTokenKey::oauth("alice", "c1"), token("u", None))
        .await
        .unwrap();

    // Parse/print round trip.
    for id in [&shared.id, &user.id] {
        assert_eq!(&TokenId::from_str(&id.to_string()).unwrap(), id);
    }
    for bad in [
        "",
        "c1",
        "personal:abc",
        "shared:",
        "per-user:a b",
        "shared:x/y",
    ] {
        let err = TokenId::from_str(bad).unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidTokenId { .. }),
            "{bad}: {err}"
        );
    }

    let wrong = |e: StoreError, expected: TokenScope| match e {
        StoreError::WrongScope {
            expected: x, found, ..
        } => assert!(x == expected && found != expected),
        other => panic!("expected WrongScope, got {other}"),
    };
    // A shared id on the per-user API.
    let s = &shared.id;
    wrong(
        store.get_user_token_by_id("alice", s).await.unwrap_err(),
        TokenScope::PerUser,
    );
    wrong(
        store
            .update_user_token("alice", s, None, refresh_update("x", None))
            .await
            .unwrap_err(),
        TokenScope::PerUser,
    );
    wrong(
        store.revoke_user_token("alice", s).await.unwrap_err(),
        TokenScope::PerUser,
    );
    wrong(
        store
            .touch_user_token("alice", s, Timestamp::now())
            .await
            .unwrap_err(),
        TokenScope::PerUser,
    );
    wrong(
        store.delete_user_token("alice", s).await.unwrap_err(),
        TokenScope::PerUser,
    );
    // A per-user id on the shared API.
    let u = &user.id;
    wrong(
        store.get_shared_token_by_id(u).await.unwrap_err(),
        TokenScope::Shared,
    );
    wrong(
        store
            .update_shared_token(u, None, refresh_update("x", None))
            .await
            .unwrap_err(),
        TokenScope::Shared,
    );
    wrong(
        store.revoke_shared_token(u).await.unwrap_err(),
        TokenScope::Shared,
    );
    wrong(
        store.delete_shared_token(u).await.unwrap_err(),
        TokenScope::Shared,
    );

    // Nothing was changed by the refused calls.
    let s = store.get_shared_token("c1").await.unwrap().unwrap();
    assert_eq!((s.version, s.access_token.expose_secret()), (1, "s"));
    let u = store
        .get_user_token(&UserTokenKey::oauth("alice", "c1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((u.version, u.access_token.expose_secret()), (1, "u"));

    // As an ActionError: a user error with a stable code.
    let e: ActionError = store
        .get_shared_token_by_id(&u.id)
        .await
        .unwrap_err()
        .into();
    assert_eq!(
        (e.class, e.code),
        (ErrorClass::User, "token_scope_mismatch")
    );
}

#[tokio::test]
async fn another_users_token_is_refused() {
    let dir = TempDir::new().unwrap();
    let store = open(&db(&dir), k1()).await;
    let a = store
        .put_user_token(
            &UserTokenKey::oauth("alice", "c1"),
            token(CANARY_ACCESS, None),
        )
        .await
        .unwrap();
    let not_owner = |e: StoreError| assert!(matches!(e, StoreError::NotOwner { .. }), "{e}");
    not_owner(store.get_user_token_by_id("bob", &a.id).await.unwrap_err());
    not_owner(
        store
            .update_user_token("bob", &a.id, None, refresh_update("stolen", None))
            .await
            .unwrap_err(),
    );
    not_owner(store.revoke_user_token("bob", &a.id).await.unwrap_err());
    not_owner(
        store
            .touch_user_token("bob", &a.id, Timestamp::now())
            .await
            .unwrap_err(),
    );
    not_owner(store.delete_user_token("bob", &a.id).await.unwrap_err());
    let t = store
        .get_user_token_by_id("alice", &a.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.access_token.expose_secret(), CANARY_ACCESS);
    assert_eq!(t.version, 1);
    assert!(!t.revoked);

    let e: ActionError = store
        .get_user_token_by_id("bob", &a.id)
        .await
        .unwrap_err()
        .into();
    assert_eq!((e.class, e.code), (ErrorClass::Auth, "token_not_owned"));
    assert!(!e.to_string().contains(CANARY_ACCESS));

    // An unknown id of the right scope.
    let ghost = TokenId::generate(TokenScope::PerUser);
    assert!(
        store
            .get_user_token_by_id("alice", &ghost)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store
            .update_user_token("alice", &ghost, None, refresh_update("x", None))
            .await
            .unwrap_err(),
        StoreError::TokenNotFound { .. }
    ));
}

#[tokio::test]
async fn oauth_state_round_trip_and_every_refusal() {
    let dir = TempDir::new().unwrap();
    let store = open(&db(&dir), k1()).await;
    let now = Timestamp::now();
    let mut new = NewOAuthState::new("c1", "alice", verifier(), now);
    new.tenant = Some("acme".into());
    new.return_url = Some("https://app.example/after".into());
    new.metadata = json!({"redirectUri": "http://127.0.0.1:8080/callback"});
    let rec = store.insert_state(new).await.unwrap();
    assert_eq!(rec.expires_at, now.plus(STATE_TTL));
    assert_eq!(rec.state.len(), 43, "32 bytes, base64url without padding");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&rec.state)
        .unwrap();
    assert_eq!(raw.len(), 32);

    // Unknown state.
    assert!(matches!(
        store.consume_state("nope", "alice", now).await.unwrap_err(),
        StoreError::StateNotFound
    ));
    // Another user's state is refused and stays usable for its owner.
    assert!(matches!(
        store
            .consume_state(&rec.state, "mallory", now)
            .await
            .unwrap_err(),
        StoreError::StateUserMismatch
    ));
    // Expired (at the expiry instant and after) is refused and stays unconsumed.
    assert!(matches!(
        store
            .consume_state(&rec.state, "alice", rec.expires_at)
            .await
            .unwrap_err(),
        StoreError::StateExpired
    ));

    let got = store.consume_state(&rec.state, "alice", now).await.unwrap();
    assert_eq!(got.pkce_verifier.expose_secret(), CANARY_VERIFIER);
    assert_eq!(got.connector_id, "c1");
    assert_eq!(got.tenant.as_deref(), Some("acme"));
    assert_eq!(got.return_url.as_deref(), Some("https://app.example/after"));
    assert_eq!(
        got.metadata["redirectUri"],
        "http://127.0.0.1:8080/callback"
    );
    assert_eq!(got.created_at, now);
    assert_eq!(got.consumed_at, Some(now));

    // Replay.
    assert!(matches!(
        store
            .consume_state(&rec.state, "alice", now)
            .await
            .unwrap_err(),
        StoreError::StateAlreadyUsed
    ));
    let e: ActionError = store
        .consume_state(&rec.state, "alice", now)
        .await
        .unwrap_err()
        .into();
    assert_eq!(e.code, "state_already_used");

    // A consumed state no longer holds its verifier on disk.
    let pool = raw_pool(store.path()).await;
    let v: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT pkce_verifier FROM oauth_states WHERE state = ?")
            .bind(&rec.state)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(v.is_none());
}

#[tokio::test]
async fn concurrent_callbacks_consume_a_state_once() {
    let dir = TempDir::new().unwrap();
    let store = Arc::new(open(&db(&dir), k1()).await);
    let now = Timestamp::now();
    let rec = store
        .insert_state(NewOAuthState::new("c1", "alice", verifier(), now))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        let state = rec.state.clone();
        tasks.push(tokio::spawn(async move {
            store.consume_state(&state, "alice", now).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::StateAlreadyUsed) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn cancel_is_owner_only_and_repeatable() {
    let dir = TempDir::new().unwrap();
    let store = open(&db(&dir), k1()).await;
    let rec = store
        .insert_state(NewOAuthState::new(
            "c1",
            "alice",
            verifier(),
            Timestamp::now(),
        ))
        .await
        .unwrap();
    assert!(matches!(
        store.delete_state(&rec.state, "mallory").await.unwrap_err(),
        StoreError::StateUserMismatch
    ));
    assert!(store.delete_state(&rec.state, "alice").await.unwrap());
    assert!(!store.delete_state(&rec.state, "alice").await.unwrap());
    assert!(!store.delete_state(&rec.state, "mallory").await.unwrap());
    assert!(matches!(
        store
            .consume_state(&rec.state, "alice", Timestamp::now())
            .await
            .unwrap_err(),
        StoreError::StateNotFound
    ));
}

#[tokio::test]
async fn connector_instances_crud_and_auth_mode() {
    let dir = TempDir::new().unwrap();
    let store = open(&db(&dir), k1()).await;
    let a = store
        .create_instance(new_instance("a", AuthTypeId::OauthAuthorizationCode))
        .await
        .unwrap();
    assert_eq!(a.auth_mode, AuthMode::PerUser);
    let b = store
        .create_instance(new_instance("b", AuthTypeId::Bearer))
        .await
        .unwrap();
    assert_eq!(b.auth_mode, AuthMode::Shared);
    let ears = store
        .create_instance(NewConnectorInstance {
            id: None,
            ..new_instance("ignored", AuthTypeId::Ears)
        })
        .await
        .unwrap();
    assert_eq!(ears.auth_mode, AuthMode::PerUser);
    assert_eq!(ears.id.len(), 32);

    let got = store.get_instance("a").await.unwrap().unwrap();
    assert_eq!(got.connector_type, "slack_api");
    assert_eq!(got.name, "Slack a");
    assert_eq!(got.auth_type, AuthTypeId::OauthAuthorizationCode);
    assert_eq!(got.auth_mode, AuthMode::PerUser);
    assert_eq!(got.config["clientId"], "client-1");
    assert_eq!(got.secrets.get_str("clientSecret"), Some(CANARY_SECRET));
    assert_eq!(got.created_at, a.created_at);

    let dup = store
        .create_instance(new_instance("a", AuthTypeId::Bearer))
        .await
        .unwrap_err();
    assert!(matches!(dup, StoreError::InstanceExists { .. }), "{dup}");
    let bad = store
        .create_instance(NewConnectorInstance {
            config: json!([1, 2]),
            ..new_instance("c", AuthTypeId::Bearer)
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            bad,
            StoreError::InvalidInput {
                field: "config",
                ..
            }
        ),
        "{bad}"
    );

    let ids: Vec<String> = store
        .list_instances()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    let mut expected = vec!["a".to_string(), "b".to_string(), ears.id.clone()];
    expected.sort();
    assert_eq!(ids, expected);

    let updated = store
        .update_instance(
            "b",
            InstanceUpdate {
                name: Some("Renamed".into()),
                auth_type: Some(AuthTypeId::OauthAuthorizationCode),
                config: Some(json!({"clientId": "client-2"})),
                secrets: Some(secrets(json!({"clientSecret": "new-secret"}))),
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.auth_mode, AuthMode::PerUser);
    let got = store.get_instance("b").await.unwrap().unwrap();
    assert_eq!(got.name, "Renamed");
    assert_eq!(got.auth_mode, AuthMode::PerUser);
    assert_eq!(got.config, json!({"clientId": "client-2"}));
    assert_eq!(got.secrets.get_str("clientSecret"), Some("new-secret"));
    assert!(matches!(
        store
            .update_instance("zzz", InstanceUpdate::default())
            .await
            .unwrap_err(),
        StoreError::InstanceNotFound { .. }
    ));

    // Deleting an instance deletes its tokens and states.
    store.put_shared_token("a", token("s", None)).await.unwrap();
    store
        .put_user_token(&UserTokenKey::oauth("alice", "a"), token("u", None))
        .await
        .unwrap();
    let st = store
        .insert_state(NewOAuthState::new(
            "a",
            "alice",
            verifier(),
            Timestamp::now(),
        ))
        .await
        .unwrap();
    store
        .put_user_token(&UserTokenKey::oauth("alice", "b"), token("kept", None))
        .await
        .unwrap();
    assert!(store.delete_instance("a").await.unwrap());
    assert!(!store.delete_instance("a").await.unwrap());
    assert!(store.get_instance("a").await.unwrap().is_none());
    assert!(store.get_shared_token("a").await.unwrap().is_none());
    assert!(
        store
            .get_user_token(&UserTokenKey::oauth("alice", "a"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store
            .consume_state(&st.state, "alice", Timestamp::now())
            .await
            .unwrap_err(),
        StoreError::StateNotFound
    ));
    assert!(
        store
            .get_user_token(&UserTokenKey::oauth("alice", "b"))
            .await
            .unwrap()
            .is_some()
    );
}

/// Write one of every sealed value, with canaries.
async fn fill(store: &SqliteStore) {
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

fn assert_no_canary(files: &[(PathBuf, Vec<u8>)]) {
    for (p, bytes) in files {
        for c in CANARIES {
            // The distinctive middle of each canary, so a prefix match cannot hide it.
            let needle = &c.as_bytes()[7..];
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds `{c}` in plaintext",
                p.display()
            );
        }
    }
}

#[tokio::test]
async fn no_token_secret_or_verifier_in_plaintext_on_disk() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let store = open(&path, k1()).await;
    fill(&store).await;
    // While open, the WAL holds the latest pages.
    let live = files_of(&path);
    assert!(
        live.iter()
            .any(|(p, b)| p.to_string_lossy().ends_with("-wal") && !b.is_empty()),
        "expected a non-empty WAL file while the store is open"
    );
    // The test can see what it looks for: the non-secret connector type is on disk.
    assert!(
        live.iter()
            .any(|(_, b)| b.windows(9).any(|w| w == b"slack_api")),
        "plaintext columns should be visible to this check"
    );
    assert_no_canary(&live);
    store.close().await;
    let closed = files_of(&path);
    assert!(!closed.is_empty());
    assert_no_canary(&closed);
}

async fn raw_pool(path: &Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(path))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_fails_to_open() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let store = open(&path, k1()).await;
    fill(&store).await;
    store
        .create_instance(new_instance("c2", AuthTypeId::Bearer))
        .await
        .unwrap();
    let pool = raw_pool(&path).await;

    // Alice's access token copied onto bob's row (same connector and field).
    sqlx::query(
        "UPDATE tokens SET access_token = (SELECT access_token FROM tokens WHERE user_id = 'alice') \
         WHERE user_id = 'bob'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let err = store
        .get_user_token(&UserTokenKey::oauth("bob", "c1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Crypto(CryptoError::Open { .. })),
        "{err}"
    );
    let e: ActionError = err.into();
    assert_eq!((e.class, e.code), (ErrorClass::System, "decrypt_failed"));
    assert!(!e.message.contains(CANARY_ACCESS));

    // Alice's refresh token moved into her own access token field.
    sqlx::query("UPDATE tokens SET access_token = refresh_token WHERE user_id = 'alice'")
        .execute(&pool)
        .await
        .unwrap();
    assert!(matches!(
        store
            .get_user_token(&UserTokenKey::oauth("alice", "c1"))
            .await
            .unwrap_err(),
        StoreError::Crypto(CryptoError::Open { .. })
    ));

    // A per-user ciphertext moved onto the shared row of the same connector.
    sqlx::query(
        "UPDATE tokens SET refresh_token = (SELECT refresh_token FROM tokens WHERE user_id = 'bob') \
         WHERE scope = 'shared'",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert!(matches!(
        store.get_shared_token("c1").await.unwrap_err(),
        StoreError::Crypto(CryptoError::Open { .. })
    ));

    // Connector secrets moved between instances.
    sqlx::query(
        "UPDATE connector_instances SET secrets = (SELECT secrets FROM connector_instances \
         WHERE id = 'c1') WHERE id = 'c2'",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert!(matches!(
        store.get_instance("c2").await.unwrap_err(),
        StoreError::Crypto(CryptoError::Open { .. })
    ));
    assert!(store.get_instance("c1").await.unwrap().is_some());
}

#[tokio::test]
async fn a_store_opened_with_the_wrong_key_refuses_to_open_values() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let store = open(&path, k1()).await;
    fill(&store).await;
    store.close().await;
    // Same key id, other bytes.
    let wrong = open(&path, ring(&format!("k1:{}", key(99)))).await;
    assert!(matches!(
        wrong.get_shared_token("c1").await.unwrap_err(),
        StoreError::Crypto(CryptoError::Open { .. })
    ));
    // Another key id.
    let other = open(&path, ring(&format!("k9:{}", key(1)))).await;
    let err = other.get_instance("c1").await.unwrap_err();
    assert!(
        matches!(err, StoreError::Crypto(CryptoError::UnknownKey { ref key_id, .. }) if key_id == "k1"),
        "{err}"
    );
}

async fn key_ids_on_disk(path: &Path) -> Vec<String> {
    let pool = raw_pool(path).await;
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    for sql in [
        "SELECT access_token FROM tokens",
        "SELECT refresh_token FROM tokens WHERE refresh_token IS NOT NULL",
        "SELECT pkce_verifier FROM oauth_states WHERE pkce_verifier IS NOT NULL",
        "SELECT secrets FROM connector_instances",
    ] {
        for row in sqlx::query(sql).fetch_all(&pool).await.unwrap() {
            blobs.push(row.get(0));
        }
    }
    pool.close().await;
    blobs
        .iter()
        .map(|b| Keyring::sealed_key_id(b).unwrap().to_string())
        .collect()
}

async fn counts(path: &Path) -> (i64, i64, i64) {
    let pool = raw_pool(path).await;
    let mut c = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM tokens",
        "SELECT COUNT(*) FROM oauth_states",
        "SELECT COUNT(*) FROM connector_instances",
    ] {
        c.push(
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap(),
        );
    }
    pool.close().await;
    (c[0], c[1], c[2])
}

#[tokio::test]
async fn rotation_reseals_everything_under_the_new_key() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let store = open(&path, k1()).await;
    fill(&store).await;
    store.close().await;
    let before = counts(&path).await;
    assert_eq!(before, (3, 1, 1));
    let ids = key_ids_on_disk(&path).await;
    assert_eq!(ids.len(), 8);
    assert!(ids.iter().all(|i| i == "k1"));

    // The operator puts the new key first, keeps the old one, and rotates.
    let both = ring(&format!("k2:{},k1:{}", key(2), key(1)));
    let store = open(&path, both).await;
    let report = store.rotate_keys().await.unwrap();
    assert_eq!(
        (
            report.tokens,
            report.states,
            report.instances,
            report.values
        ),
        (3, 1, 1, 8)
    );
    store.close().await;
    assert!(key_ids_on_disk(&path).await.iter().all(|i| i == "k2"));
    assert_eq!(counts(&path).await, before);

    // The old key removed: every record still opens.
    let store = open(&path, ring(&format!("k2:{}", key(2)))).await;
    let s = store.get_shared_token("c1").await.unwrap().unwrap();
    assert_eq!(s.access_token.expose_secret(), CANARY_ACCESS);
    assert_eq!(s.refresh_token.unwrap().expose_secret(), CANARY_REFRESH);
    for user in ["alice", "bob"] {
        let t = store
            .get_user_token(&UserTokenKey::oauth(user, "c1"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            t.access_token.expose_secret(),
            format!("{CANARY_ACCESS}-{user}")
        );
        assert_eq!(t.version, 1, "rotation does not change token content");
    }
    let inst = store.get_instance("c1").await.unwrap().unwrap();
    assert_eq!(inst.secrets.get_str("clientSecret"), Some(CANARY_SECRET));
    let pool = raw_pool(&path).await;
    let state: String = sqlx::query_scalar("SELECT state FROM oauth_states")
        .fetch_one(&pool)
        .await
        .unwrap();
    let st = store
        .consume_state(&state, "alice", Timestamp::now())
        .await
        .unwrap();
    assert_eq!(st.pkce_verifier.expose_secret(), CANARY_VERIFIER);
    assert_no_canary(&files_of(&path));
}

#[tokio::test]
async fn rotation_without_the_old_key_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let store = open(&path, k1()).await;
    fill(&store).await;
    store.close().await;
    // The old key forgotten: the rotation fails as a whole and the data stays under k1.
    let store = open(&path, ring(&format!("k2:{}", key(2)))).await;
    let err = store.rotate_keys().await.unwrap_err();
    assert!(
        matches!(err, StoreError::Crypto(CryptoError::UnknownKey { .. })),
        "{err}"
    );
    store.close().await;
    assert!(key_ids_on_disk(&path).await.iter().all(|i| i == "k1"));
    let store = open(&path, k1()).await;
    assert!(store.get_shared_token("c1").await.unwrap().is_some());
}

#[tokio::test]
async fn cleanup_deletes_exactly_expired_states_and_stale_user_tokens() {
    let dir = TempDir::new().unwrap();
    let store = open(&db(&dir), k1()).await;
    let t0 = Timestamp::now();
    let short = store
        .insert_state(NewOAuthState::new("c1", "alice", verifier(), t0))
        .await
        .unwrap();
    let mut long = NewOAuthState::new("c1", "bob", verifier(), t0);
    long.expires_at = t0.plus(Duration::from_secs(3600));
    let long = store.insert_state(long).await.unwrap();
    // A consumed state also goes once expired.
    let consumed = store
        .insert_state(NewOAuthState::new("c1", "carol", verifier(), t0))
        .await
        .unwrap();
    store
        .consume_state(&consumed.state, "carol", t0)
        .await
        .unwrap();

    let policy = CleanupPolicy::default();
    let r = store
        .cleanup(t0.plus(Duration::from_secs(11 * 60)), &policy)
        .await
        .unwrap();
    assert_eq!((r.states_deleted, r.tokens_deleted), (2, 0));
    assert!(matches!(
        store.delete_state(&short.state, "alice").await,
        Ok(false)
    ));
    assert!(store.delete_state(&long.state, "bob").await.unwrap());

    // Tokens: stale (never used), recently used, shared.
    let stale = UserTokenKey::oauth("alice", "c1");
    let used = UserTokenKey::oauth("bob", "c1");
    store
        .put_user_token(&stale, token("a", None))
        .await
        .unwrap();
    let u = store.put_user_token(&used, token("b", None)).await.unwrap();
    store
        .put_shared_token("c1", token("s", None))
        .await
        .unwrap();
    let day = Duration::from_secs(24 * 3600);
    store
        .touch_user_token("bob", &u.id, t0.plus(day * 50))
        .await
        .unwrap();

    // 89 days on: nothing is 90 days unused yet.
    let r = store.cleanup(t0.plus(day * 89), &policy).await.unwrap();
    assert_eq!(r.tokens_deleted, 0);
    // 91 days on: alice's token (never used) goes; bob's (used on day 50) and the shared
    // token stay.
    let r = store.cleanup(t0.plus(day * 91), &policy).await.unwrap();
    assert_eq!((r.states_deleted, r.tokens_deleted), (0, 1));
    assert!(store.get_user_token(&stale).await.unwrap().is_none());
    assert!(store.get_user_token(&used).await.unwrap().is_some());
    assert!(store.get_shared_token("c1").await.unwrap().is_some());

    // A configurable window.
    let short_policy = CleanupPolicy {
        unused_token_ttl: day * 10,
    };
    let r = store
        .cleanup(t0.plus(day * 61), &short_policy)
        .await
        .unwrap();
    assert_eq!(r.tokens_deleted, 1);
    assert!(store.get_user_token(&used).await.unwrap().is_none());
    assert!(store.get_shared_token("c1").await.unwrap().is_some());
}

#[tokio::test]
async fn periodic_cleanup_task_runs_and_stops_on_cancel() {
    let dir = TempDir::new().unwrap();
    let store = Arc::new(open(&db(&dir), k1()).await);
    let mut new = NewOAuthState::new("c1", "alice", verifier(), Timestamp(1_000));
    new.expires_at = Timestamp(2_000);
    let expired = store.insert_state(new).await.unwrap();
    let cancel = connector_runtime::CancellationToken::new();
    let handle = connector_runtime::store::spawn_cleanup(
        store.clone(),
        Duration::from_millis(20),
        CleanupPolicy::default(),
        cancel.clone(),
    );
    // Wait (bounded) for the task to have removed the expired state.
    let mut gone = false;
    for _ in 0..500 {
        if !store
            .delete_state(&expired.state, "alice")
            .await
            .unwrap_or(true)
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "the periodic cleanup never removed the expired state");
    cancel.cancel();
    handle.await.unwrap();
}

#[tokio::test]
async fn debug_output_and_errors_hold_no_secret() {
    let dir = TempDir::new().unwrap();
    let store = open(&db(&dir), k1()).await;
    let shared = store
        .put_shared_token("c1", token(CANARY_ACCESS, Some(CANARY_REFRESH)))
        .await
        .unwrap();
    let new_state = NewOAuthState::new("c1", "alice", verifier(), Timestamp::now());
    let state = store.insert_state(new_state.clone()).await.unwrap();
    let consumed = store
        .consume_state(&state.state, "alice", Timestamp::now())
        .await
        .unwrap();
    let new_inst = new_instance("c1", AuthTypeId::Bearer);
    let inst = store.create_instance(new_inst.clone()).await.unwrap();
    let data = token(CANARY_ACCESS, Some(CANARY_REFRESH));
    let update = refresh_update(CANARY_ACCESS, Some(CANARY_REFRESH));
    let dumps = [
        format!("{shared:?}"),
        format!("{state:?}"),
        format!("{consumed:?}"),
        format!("{new_state:?}"),
        format!("{inst:?}"),
        format!("{new_inst:?}"),
        format!("{data:?}"),
        format!("{update:?}"),
        format!("{store:?}"),
        format!("{:?}", store.keyring()),
    ];
    for d in &dumps {
        for c in CANARIES {
            assert!(!d.contains(c), "Debug shows `{c}`: {d}");
        }
        assert!(!d.contains(&key(1)), "Debug shows the key: {d}");
    }
    // The dumps do show the non-secret parts.
    assert!(dumps[0].contains(&shared.id.to_string()) && dumps[0].contains("c1"));

    // Every refusal, as text and as an ActionError.
    let errors: Vec<StoreError> = vec![
        store
            .consume_state(&state.state, "alice", Timestamp::now())
            .await
            .unwrap_err(),
        store
            .update_shared_token(&shared.id, Some(9), refresh_update(CANARY_ACCESS, None))
            .await
            .unwrap_err(),
        store
            .create_instance(new_instance("c1", AuthTypeId::Bearer))
            .await
            .unwrap_err(),
    ];
    for e in errors {
        let text = format!("{e} {e:?}");
        let action: ActionError = e.into();
        let text = format!("{text} {action} {action:?}");
        for c in CANARIES {
            assert!(!text.contains(c), "{text}");
        }
    }
}

#[tokio::test]
async fn migrations_are_versioned_and_idempotent() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let store = open(&path, k1()).await;
    assert_eq!(store.schema_version().await.unwrap(), 1);
    fill(&store).await;
    assert_eq!(
        store.migrate().await.unwrap(),
        0,
        "second run applies nothing"
    );
    store.close().await;
    let store = open(&path, k1()).await;
    assert_eq!(store.migrate().await.unwrap(), 0);
    assert_eq!(store.schema_version().await.unwrap(), 1);
    assert!(store.get_shared_token("c1").await.unwrap().is_some());
    store.close().await;
    let pool = raw_pool(&path).await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_version")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    // A file from a newer program is refused, not downgraded.
    sqlx::query("INSERT INTO schema_version (version, applied_at) VALUES (99, 0)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let err = SqliteStore::open(&path, k1()).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 99,
                known: 1
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn writes_are_visible_to_a_second_process_handle_at_once() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let writer = open(&path, k1()).await;
    let reader = open(&path, k1()).await;
    let t = writer
        .put_user_token(&UserTokenKey::oauth("alice", "c1"), token("a1", Some("r1")))
        .await
        .unwrap();
    writer
        .update_user_token("alice", &t.id, Some(1), refresh_update("a2", Some("r2")))
        .await
        .unwrap();
    let seen = reader
        .get_user_token(&UserTokenKey::oauth("alice", "c1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.access_token.expose_secret(), "a2");
    assert_eq!(seen.refresh_token.unwrap().expose_secret(), "r2");
    assert_eq!(seen.version, 2);
}

#[tokio::test]
async fn bad_input_is_a_typed_error() {
    let dir = TempDir::new().unwrap();
    let store = open(&db(&dir), k1()).await;
    let err = store
        .put_user_token(&UserTokenKey::oauth("", "c1"), token("x", None))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                field: "user id",
                ..
            }
        ),
        "{err}"
    );
    let err = store.get_shared_token("c\n1").await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err}");
    let mut st = NewOAuthState::new("c1", "alice", verifier(), Timestamp(5_000));
    st.expires_at = Timestamp(5_000);
    assert!(matches!(
        store.insert_state(st).await.unwrap_err(),
        StoreError::InvalidInput {
            field: "expires_at",
            ..
        }
    ));
    // A store path that cannot be a file.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let err = SqliteStore::open(blocker.join("sub").join("db"), k1())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
}
