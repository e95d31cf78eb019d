//! [`UserStore`] on both backends: users with a role and the SHA-256 of their API key, the key shown
//! once; typed refusals; the table shared with the other stores in one file, no keyring
//! needed, and a users table written before the store owned it read as it is.

use sha2::{Digest, Sha256};

use connector_runtime::store::{ApiKey, parse_key_lifetime};

use super::*;

async fn users_are_added_authenticated_by_key_and_listed_by_name<B: Backend>() {
    let db = B::fresh().await;
    let users = db.users_only().await;
    let (zoe, zoe_key) = users.add_user("zoe", false, None).await.unwrap();
    let (al, al_key) = users.add_user("al.ice@example", true, None).await.unwrap();
    assert!(al.admin && !zoe.admin);
    for u in [&al, &zoe] {
        let hex_part = u.id.strip_prefix("u_").expect("ids start with u_");
        assert_eq!(hex_part.len(), 32, "{}", u.id);
        assert!(hex_part.bytes().all(|b| b.is_ascii_hexdigit()), "{}", u.id);
    }
    assert_ne!(al.id, zoe.id);
    for k in [&al_key, &zoe_key] {
        let key = k.key.expose_secret();
        assert!(key.starts_with(KEY_PREFIX), "{key}");
        // 32 random bytes, base64url without padding.
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&key[KEY_PREFIX.len()..])
            .unwrap();
        assert_eq!(raw.len(), 32);
    }
    assert_ne!(al_key.key.expose_secret(), zoe_key.key.expose_secret());
    assert_eq!(
        users
            .authenticate(al_key.key.expose_secret())
            .await
            .unwrap(),
        Some(al.clone())
    );
    assert_eq!(
        users
            .authenticate(zoe_key.key.expose_secret())
            .await
            .unwrap(),
        Some(zoe.clone())
    );
    assert_eq!(users.list_users().await.unwrap(), vec![al, zoe]);
    users.ping().await.unwrap();
}

async fn a_key_that_is_not_one_finds_no_user<B: Backend>() {
    let db = B::fresh().await;
    let users = db.users_only().await;
    let (_, key) = users.add_user("alice", false, None).await.unwrap();
    let key = key.key.expose_secret().to_string();
    let mut flipped = key.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let without_prefix = key[KEY_PREFIX.len()..].to_string();
    let overlong = format!("{key}{}", "x".repeat(200));
    for wrong in [flipped.as_str(), &without_prefix, &overlong, "", KEY_PREFIX] {
        assert_eq!(users.authenticate(wrong).await.unwrap(), None, "{wrong:?}");
    }
    // The stored hash itself is not a key either.
    let stored = key_sha256(&key);
    assert_eq!(users.authenticate(&stored).await.unwrap(), None);
}

async fn a_taken_or_malformed_name_is_a_typed_error<B: Backend>() {
    let db = B::fresh().await;
    let users = db.users_only().await;
    users.add_user("alice", false, None).await.unwrap();
    let err = users.add_user("alice", true, None).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::UserExists { name } if name == "alice"),
        "{err}"
    );
    assert_eq!(err.to_string(), "a user named `alice` already exists");
    assert_eq!(ActionError::from(err).class, ErrorClass::User);
    let long = "a".repeat(65);
    for bad in ["", long.as_str(), "a b", "al/ice", "élise", "bob\n"] {
        let err = users.add_user(bad, false, None).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::InvalidInput {
                    field: "user name",
                    ..
                }
            ),
            "{bad:?}: {err}"
        );
        assert!(err.to_string().starts_with("invalid user name: "), "{err}");
    }
    assert_eq!(
        users.list_users().await.unwrap().len(),
        1,
        "a refused add stores nothing"
    );
}

async fn only_the_hash_of_a_key_is_stored_and_debug_shows_no_key<B: Backend>() {
    let db = B::fresh().await;
    let users = db.users_only().await;
    let (user, key) = users.add_user("alice", false, None).await.unwrap();
    let plain = key.key.expose_secret().to_string();
    assert!(!format!("{key:?}").contains(&plain), "{key:?}");
    assert_eq!(key.sha256, hex::encode(Sha256::digest(plain.as_bytes())));
    let user_id = db.raw_text("SELECT user_id FROM server_user_keys").await;
    let stored = db.raw_text("SELECT key_sha256 FROM server_user_keys").await;
    assert_eq!((user_id, stored), (user.id, key.sha256));
    let raw_key = &plain[KEY_PREFIX.len()..];
    for (place, bytes) in db.at_rest().await {
        assert!(
            !bytes
                .windows(raw_key.len())
                .any(|w| w == raw_key.as_bytes()),
            "the key is in {place}"
        );
    }
}

async fn users_share_the_file_with_the_other_stores_and_need_no_keyring<B: Backend>() {
    let db = B::fresh().await;
    // `connector users add` opens the file with no keyring configured.
    let users = db.users_only().await;
    let (alice, key) = users.add_user("alice", true, None).await.unwrap();
    drop(users);
    let store = db.open(k1()).await;
    let stores = store.stores();
    assert_eq!(
        stores
            .users
            .authenticate(key.key.expose_secret())
            .await
            .unwrap(),
        Some(alice)
    );
    stores.users.add_user("bob", false, None).await.unwrap();
    store.close().await;
    let names: Vec<String> = db
        .users_only()
        .await
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["alice", "bob"]);
}

#[tokio::test]
async fn sqlite_a_users_table_written_before_the_move_is_read_as_it_is() {
    let db = SqliteDb::fresh().await;
    let path = db.path();
    // The table and a row exactly as the server wrote them before the store owned users (an
    // empty file is an empty SQLite database).
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"").unwrap();
    let pool = db.raw_pool().await;
    sqlx::raw_sql(
        "CREATE TABLE server_users (
            id         TEXT PRIMARY KEY NOT NULL,
            name       TEXT NOT NULL UNIQUE,
            admin      INTEGER NOT NULL,
            key_sha256 TEXT NOT NULL UNIQUE,
            created_at INTEGER NOT NULL
        )",
    )
    .execute(&pool)
    .await
    .unwrap();
    let old_key = "ck_an-old-key-from-before";
    sqlx::query("INSERT INTO server_users VALUES ('u_old', 'olduser', 1, ?, 0)")
        .bind(hex::encode(Sha256::digest(old_key.as_bytes())))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let store = db.open(k1()).await;
    let found = store.users().authenticate(old_key).await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.name.as_str(), found.admin),
        ("u_old", "olduser", true)
    );
    let err = store
        .users()
        .add_user("olduser", false, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UserExists { .. }), "{err}");
    let keys = store.users().list_keys("olduser").await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["default"],
        "migration 2 moved the old key under the name `default`"
    );
    assert_eq!(
        (keys[0].expires_at, keys[0].created_at),
        (None, Timestamp(0))
    );
}

fn key_of(k: &ApiKey) -> String {
    k.key.expose_secret().to_string()
}

async fn who(users: &Arc<dyn UserStore>, key: &str) -> Option<String> {
    users.authenticate(key).await.unwrap().map(|u| u.name)
}

async fn a_user_holds_several_named_keys_listed_without_key_or_hash<B: Backend>() {
    let db = B::fresh().await;
    let users = db.users_only().await;
    let (_, first) = users.add_user("alice", false, None).await.unwrap();
    let ci = users.add_key("alice", "ci", None).await.unwrap();
    assert_eq!(who(&users, &key_of(&first)).await.as_deref(), Some("alice"));
    let by_ci = users.authenticate_key(&key_of(&ci)).await.unwrap().unwrap();
    assert_eq!(
        (by_ci.user.name.as_str(), by_ci.key_name.as_str()),
        ("alice", "ci")
    );
    let keys = users.list_keys("alice").await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["ci", "default"]
    );
    let shown = format!("{keys:?}");
    for secret in [
        key_of(&first),
        key_of(&ci),
        first.sha256.clone(),
        ci.sha256.clone(),
    ] {
        assert!(!shown.contains(&secret), "{shown}");
    }
    let err = users.add_key("alice", "ci", None).await.unwrap_err();
    assert!(matches!(err, StoreError::KeyExists { .. }), "{err}");
    let err = users.add_key("alice", "no spaces", None).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidInput {
                field: "key name",
                ..
            }
        ),
        "{err}"
    );
    let err = users.add_key("nobody", "ci", None).await.unwrap_err();
    assert!(matches!(err, StoreError::UserNotFound { .. }), "{err}");
    users.remove_key("alice", "ci").await.unwrap();
    assert_eq!(
        who(&users, &key_of(&ci)).await,
        None,
        "a removed key is refused"
    );
    assert_eq!(who(&users, &key_of(&first)).await.as_deref(), Some("alice"));
    let err = users.remove_key("alice", "ci").await.unwrap_err();
    assert!(matches!(err, StoreError::KeyNotFound { .. }), "{err}");
}

async fn a_rotated_key_is_refused_at_once_and_its_successor_works<B: Backend>() {
    let db = B::fresh().await;
    let users = db.users_only().await;
    let (_, old) = users.add_user("alice", false, None).await.unwrap();
    let new = users.rotate_key("alice", "default", None).await.unwrap();
    assert_eq!(who(&users, &key_of(&old)).await, None);
    assert_eq!(who(&users, &key_of(&new)).await.as_deref(), Some("alice"));
    let err = users.rotate_key("alice", "ci", None).await.unwrap_err();
    assert!(matches!(err, StoreError::KeyNotFound { .. }), "{err}");
    assert_eq!(
        who(&users, &key_of(&new)).await.as_deref(),
        Some("alice"),
        "a refused rotation changes nothing"
    );
}

async fn a_disabled_user_is_refused_until_enabled<B: Backend>() {
    let db = B::fresh().await;
    let users = db.users_only().await;
    let (_, key) = users.add_user("alice", false, None).await.unwrap();
    assert!(users.set_disabled("alice", true).await.unwrap().disabled);
    assert_eq!(who(&users, &key_of(&key)).await, None);
    assert!(users.list_users().await.unwrap()[0].disabled);
    assert!(!users.set_disabled("alice", false).await.unwrap().disabled);
    assert_eq!(who(&users, &key_of(&key)).await.as_deref(), Some("alice"));
    let err = users.set_disabled("nobody", true).await.unwrap_err();
    assert!(matches!(err, StoreError::UserNotFound { .. }), "{err}");
}

async fn an_expired_key_is_refused_and_one_not_yet_expired_works<B: Backend>() {
    let db = B::fresh().await;
    let users = db.users_only().await;
    let past = Timestamp::now().minus(Duration::from_millis(1));
    let future = Timestamp::now().plus(Duration::from_secs(3600));
    let (_, expired) = users.add_user("alice", false, Some(past)).await.unwrap();
    let live = users.add_key("alice", "live", Some(future)).await.unwrap();
    assert_eq!(who(&users, &key_of(&expired)).await, None);
    assert_eq!(who(&users, &key_of(&live)).await.as_deref(), Some("alice"));
    let keys = users.list_keys("alice").await.unwrap();
    assert_eq!(keys[0].expires_at, Some(past));
    assert_eq!(keys[1].expires_at, Some(future));
}

async fn last_use_is_written_at_most_once_a_minute<B: Backend>() {
    let db = B::fresh().await;
    let users = db.users_only().await;
    let (_, key) = users.add_user("alice", false, None).await.unwrap();
    assert_eq!(
        users.list_keys("alice").await.unwrap()[0].last_used_at,
        None
    );
    let before = Timestamp::now();
    who(&users, &key_of(&key)).await.unwrap();
    let first = users.list_keys("alice").await.unwrap()[0]
        .last_used_at
        .unwrap();
    assert!(first >= before, "{first:?}");
    let set_last_used = |ms: i64| {
        let db = &db;
        async move {
            let ms = ms.to_string();
            db.raw_exec(
                "UPDATE server_user_keys SET last_used_at = CAST($1 AS BIGINT)",
                &[&ms],
            )
            .await;
        }
    };
    let recent = Timestamp::now().minus(Duration::from_secs(30));
    set_last_used(recent.0).await;
    who(&users, &key_of(&key)).await.unwrap();
    assert_eq!(
        users.list_keys("alice").await.unwrap()[0].last_used_at,
        Some(recent),
        "no write within a minute"
    );
    let old = Timestamp::now().minus(Duration::from_secs(120));
    set_last_used(old.0).await;
    who(&users, &key_of(&key)).await.unwrap();
    let touched = users.list_keys("alice").await.unwrap()[0]
        .last_used_at
        .unwrap();
    assert!(touched > old.plus(Duration::from_secs(60)), "{touched:?}");
}

async fn removing_a_user_deletes_their_keys_and_per_user_tokens_only<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
    let users = store.users();
    let (alice, key) = users.add_user("alice", false, None).await.unwrap();
    let (bob, _) = users.add_user("bob", false, None).await.unwrap();
    for u in [&alice, &bob] {
        store
            .put_user_token(
                &UserTokenKey::oauth(u.id.as_str(), "jira"),
                TokenData::bearer("t"),
            )
            .await
            .unwrap();
    }
    store
        .put_shared_token("jira", TokenData::bearer("shared"))
        .await
        .unwrap();
    let removed = users.remove_user("alice").await.unwrap();
    assert_eq!(removed.id, alice.id);
    assert_eq!(who(&users, &key_of(&key)).await, None);
    assert!(store.list_user_tokens(&alice.id).await.unwrap().is_empty());
    assert_eq!(store.list_user_tokens(&bob.id).await.unwrap().len(), 1);
    assert!(store.get_shared_token("jira").await.unwrap().is_some());
    let names: Vec<String> = users
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["bob"]);
    let err = users.remove_user("alice").await.unwrap_err();
    assert!(matches!(err, StoreError::UserNotFound { .. }), "{err}");
    let err = users.list_keys("alice").await.unwrap_err();
    assert!(matches!(err, StoreError::UserNotFound { .. }), "{err}");
}

#[test]
fn key_lifetimes_are_a_number_and_a_unit_within_3650_days() {
    let ok = [
        ("90d", 90 * 86_400),
        ("12h", 43_200),
        ("5m", 300),
        ("1s", 1),
        ("3650d", 3650 * 86_400),
    ];
    for (text, secs) in ok {
        assert_eq!(
            parse_key_lifetime(text).unwrap(),
            Duration::from_secs(secs),
            "{text}"
        );
    }
    for bad in [
        "",
        "d",
        "90",
        "90w",
        "-1d",
        "1.5d",
        "0s",
        "3651d",
        "99999999999d",
        "9 d",
        "90dd",
        "é",
    ] {
        let err = parse_key_lifetime(bad).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::InvalidInput {
                    field: "expiry",
                    ..
                }
            ),
            "{bad}: {err}"
        );
        assert!(
            err.to_string().contains("d, h, m or s") || err.to_string().contains("3650d"),
            "{err}"
        );
    }
}

crate::both! {
    users_are_added_authenticated_by_key_and_listed_by_name => sqlite_users_are_added_authenticated_by_key_and_listed_by_name, postgres_users_are_added_authenticated_by_key_and_listed_by_name;
    a_key_that_is_not_one_finds_no_user => sqlite_a_key_that_is_not_one_finds_no_user, postgres_a_key_that_is_not_one_finds_no_user;
    a_taken_or_malformed_name_is_a_typed_error => sqlite_a_taken_or_malformed_name_is_a_typed_error, postgres_a_taken_or_malformed_name_is_a_typed_error;
    only_the_hash_of_a_key_is_stored_and_debug_shows_no_key => sqlite_only_the_hash_of_a_key_is_stored_and_debug_shows_no_key, postgres_only_the_hash_of_a_key_is_stored_and_debug_shows_no_key;
    users_share_the_file_with_the_other_stores_and_need_no_keyring => sqlite_users_share_the_file_with_the_other_stores_and_need_no_keyring, postgres_users_share_the_file_with_the_other_stores_and_need_no_keyring;
    a_user_holds_several_named_keys_listed_without_key_or_hash => sqlite_a_user_holds_several_named_keys_listed_without_key_or_hash, postgres_a_user_holds_several_named_keys_listed_without_key_or_hash;
    a_rotated_key_is_refused_at_once_and_its_successor_works => sqlite_a_rotated_key_is_refused_at_once_and_its_successor_works, postgres_a_rotated_key_is_refused_at_once_and_its_successor_works;
    a_disabled_user_is_refused_until_enabled => sqlite_a_disabled_user_is_refused_until_enabled, postgres_a_disabled_user_is_refused_until_enabled;
    an_expired_key_is_refused_and_one_not_yet_expired_works => sqlite_an_expired_key_is_refused_and_one_not_yet_expired_works, postgres_an_expired_key_is_refused_and_one_not_yet_expired_works;
    last_use_is_written_at_most_once_a_minute => sqlite_last_use_is_written_at_most_once_a_minute, postgres_last_use_is_written_at_most_once_a_minute;
    removing_a_user_deletes_their_keys_and_per_user_tokens_only => sqlite_removing_a_user_deletes_their_keys_and_per_user_tokens_only, postgres_removing_a_user_deletes_their_keys_and_per_user_tokens_only;
}
