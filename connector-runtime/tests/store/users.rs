//! [`UserStore`] on SQLite: users with a role and the SHA-256 of their API key, the key shown
//! once; typed refusals; the table shared with the other stores in one file, no keyring
//! needed, and a users table written before the store owned it read as it is.

use sha2::{Digest, Sha256};

use super::*;

async fn users_only(path: &Path) -> SqliteUserStore {
    SqliteUserStore::open(path).await.unwrap()
}

#[tokio::test]
async fn users_are_added_authenticated_by_key_and_listed_by_name() {
    let dir = TempDir::new().unwrap();
    let users = users_only(&db(&dir)).await;
    let (zoe, zoe_key) = users.add_user("zoe", false).await.unwrap();
    let (al, al_key) = users.add_user("al.ice@example", true).await.unwrap();
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

#[tokio::test]
async fn a_key_that_is_not_one_finds_no_user() {
    let dir = TempDir::new().unwrap();
    let users = users_only(&db(&dir)).await;
    let (_, key) = users.add_user("alice", false).await.unwrap();
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

#[tokio::test]
async fn a_taken_or_malformed_name_is_a_typed_error() {
    let dir = TempDir::new().unwrap();
    let users = users_only(&db(&dir)).await;
    users.add_user("alice", false).await.unwrap();
    let err = users.add_user("alice", true).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::UserExists { name } if name == "alice"),
        "{err}"
    );
    assert_eq!(err.to_string(), "a user named `alice` already exists");
    assert_eq!(ActionError::from(err).class, ErrorClass::User);
    let long = "a".repeat(65);
    for bad in ["", long.as_str(), "a b", "al/ice", "élise", "bob\n"] {
        let err = users.add_user(bad, false).await.unwrap_err();
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

#[tokio::test]
async fn only_the_hash_of_a_key_is_stored_and_debug_shows_no_key() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    let users = users_only(&path).await;
    let (user, key) = users.add_user("alice", false).await.unwrap();
    let plain = key.key.expose_secret().to_string();
    assert!(!format!("{key:?}").contains(&plain), "{key:?}");
    assert_eq!(key.sha256, hex::encode(Sha256::digest(plain.as_bytes())));
    users.close().await;
    let pool = raw_pool(&path).await;
    let row = sqlx::query("SELECT id, key_sha256 FROM server_users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("id"), user.id);
    assert_eq!(row.get::<String, _>("key_sha256"), key.sha256);
    pool.close().await;
    let raw_key = &plain[KEY_PREFIX.len()..];
    for (file, bytes) in files_of(&path) {
        assert!(
            !bytes
                .windows(raw_key.len())
                .any(|w| w == raw_key.as_bytes()),
            "the key is in {}",
            file.display()
        );
    }
}

#[tokio::test]
async fn users_share_the_file_with_the_other_stores_and_need_no_keyring() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    // `connector users add` opens the file with no keyring configured.
    let users = users_only(&path).await;
    let (alice, key) = users.add_user("alice", true).await.unwrap();
    users.close().await;
    let store = open(&path, k1()).await;
    let stores = store.stores();
    assert_eq!(
        stores
            .users
            .authenticate(key.key.expose_secret())
            .await
            .unwrap(),
        Some(alice)
    );
    stores.users.add_user("bob", false).await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        connector_runtime::store::sqlite::MIGRATIONS
            .last()
            .unwrap()
            .0,
        "the users table is no numbered migration: it is created on open"
    );
    store.close().await;
    let names: Vec<String> = users_only(&path)
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
async fn a_users_table_written_before_the_move_is_read_as_it_is() {
    let dir = TempDir::new().unwrap();
    let path = db(&dir);
    // The table and a row exactly as the server wrote them before the store owned users (an
    // empty file is an empty SQLite database).
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"").unwrap();
    let pool = raw_pool(&path).await;
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
    let store = open(&path, k1()).await;
    let found = store.users().authenticate(old_key).await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.name.as_str(), found.admin),
        ("u_old", "olduser", true)
    );
    let err = store.users().add_user("olduser", false).await.unwrap_err();
    assert!(matches!(err, StoreError::UserExists { .. }), "{err}");
}
