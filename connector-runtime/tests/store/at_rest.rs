//! What is at rest, on both backends: no secret in plaintext (SQLite's file, PostgreSQL's rows), ciphertexts bound to their row, the
//! wrong key refused, no secret in `Debug` or errors, migrations, bad input.

use super::*;

async fn no_token_secret_or_verifier_in_plaintext_on_disk<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
    fill(&store).await;
    let live = db.at_rest().await;
    // While a SQLite store is open, the WAL holds the latest pages.
    assert!(
        B::SHARED
            || live
                .iter()
                .any(|(p, b)| p.ends_with("-wal") && !b.is_empty()),
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
    let closed = db.at_rest().await;
    assert!(!closed.is_empty());
    assert_no_canary(&closed);
}

async fn a_ciphertext_moved_to_another_row_fails_to_open<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
    fill(&store).await;
    store
        .create_instance(new_instance("c2", AuthTypeId::Bearer))
        .await
        .unwrap();
    // Alice's access token copied onto bob's row (same connector and field).
    db.raw_exec(
        "UPDATE tokens SET access_token = (SELECT access_token FROM tokens WHERE user_id = 'alice') \
         WHERE user_id = 'bob'", &[],
    )
        .await;
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
    db.raw_exec(
        "UPDATE tokens SET access_token = refresh_token WHERE user_id = 'alice'",
        &[],
    )
    .await;
    assert!(matches!(
        store
            .get_user_token(&UserTokenKey::oauth("alice", "c1"))
            .await
            .unwrap_err(),
        StoreError::Crypto(CryptoError::Open { .. })
    ));

    // A per-user ciphertext moved onto the shared row of the same connector.
    db.raw_exec(
        "UPDATE tokens SET refresh_token = (SELECT refresh_token FROM tokens WHERE user_id = 'bob') \
         WHERE scope = 'shared'", &[],
    )
        .await;
    assert!(matches!(
        store.get_shared_token("c1").await.unwrap_err(),
        StoreError::Crypto(CryptoError::Open { .. })
    ));

    // Connector secrets moved between instances.
    db.raw_exec(
        "UPDATE connector_instances SET secrets = (SELECT secrets FROM connector_instances \
         WHERE id = 'c1') WHERE id = 'c2'",
        &[],
    )
    .await;
    assert!(matches!(
        store.get_instance("c2").await.unwrap_err(),
        StoreError::Crypto(CryptoError::Open { .. })
    ));
    assert!(store.get_instance("c1").await.unwrap().is_some());
}

async fn a_store_opened_with_the_wrong_key_refuses_to_open_values<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
    fill(&store).await;
    store.close().await;
    // Same key id, other bytes; another key id. A shared database refuses either keyring
    // when connecting (its key check does not open); a SQLite file refuses each value.
    let same_id = ring(&format!("k1:{}", key(99)));
    let other_id = ring(&format!("k9:{}", key(1)));
    if B::SHARED {
        for keys in [same_id, other_id] {
            let err = db.try_open(keys).await.unwrap_err();
            assert!(
                matches!(err, StoreError::KeyMismatch { ref key_id } if key_id == "k1"),
                "{err}"
            );
            let text = err.to_string();
            assert!(
                text.contains("CONNECTOR_KEY") && text.contains("`k1`"),
                "{text}"
            );
        }
        return;
    }
    let wrong = db.open(same_id).await;
    assert!(matches!(
        wrong.get_shared_token("c1").await.unwrap_err(),
        StoreError::Crypto(CryptoError::Open { .. })
    ));
    let other = db.open(other_id).await;
    let err = other.get_instance("c1").await.unwrap_err();
    assert!(
        matches!(err, StoreError::Crypto(CryptoError::UnknownKey { ref key_id, .. }) if key_id == "k1"),
        "{err}"
    );
}

async fn debug_output_and_errors_hold_no_secret<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
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
async fn sqlite_migrations_are_versioned_and_idempotent() {
    let db = SqliteDb::fresh().await;
    let store = db.open(k1()).await;
    let latest = connector_runtime::store::sqlite::latest_migration();
    assert_eq!(latest, 5, "every migration file is embedded");
    assert_eq!(store.schema_version().await.unwrap(), latest);
    fill(&store).await;
    assert_eq!(
        store.migrate().await.unwrap(),
        0,
        "second run applies nothing"
    );
    store.close().await;
    let store = db.open(k1()).await;
    assert_eq!(store.migrate().await.unwrap(), 0);
    assert_eq!(store.schema_version().await.unwrap(), latest);
    assert!(store.get_shared_token("c1").await.unwrap().is_some());
    store.close().await;
    let pool = db.raw_pool().await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, latest, "one row per migration");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    // A file from a newer program is refused, not downgraded.
    db.raw_exec(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99, 'from the future', TRUE, x'00', 0)",
        &[],
    )
    .await;
    pool.close().await;
    let err = db.try_open(k1()).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 99,
                known,
            } if known == latest
        ),
        "{err}"
    );
}

/// A file written before migrations moved to sqlx (versions in `schema_version`) is adopted:
/// its versions move to `_sqlx_migrations`, nothing is applied twice and nothing is lost.
#[tokio::test]
async fn sqlite_a_file_with_the_old_schema_version_table_is_adopted() {
    let db = SqliteDb::fresh().await;
    let store = db.open(k1()).await;
    fill(&store).await;
    store.close().await;
    // Rewind the bookkeeping to the old form: `schema_version` rows for 1..=3, no sqlx table,
    // and none of what came after 3 (the usage ledger, the tokens' account values).
    db.raw_exec("DROP TABLE _sqlx_migrations", &[]).await;
    db.raw_exec("DROP TABLE usage_daily", &[]).await;
    db.raw_exec("ALTER TABLE tokens DROP COLUMN account", &[])
        .await;
    db.raw_exec(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY NOT NULL, applied_at INTEGER NOT NULL)",
        &[],
    )
    .await;
    db.raw_exec(
        "INSERT INTO schema_version (version, applied_at) VALUES (1, 0), (2, 0), (3, 0)",
        &[],
    )
    .await;
    let store = db.open(k1()).await;
    assert_eq!(store.migrate().await.unwrap(), 0, "adopted, not re-applied");
    // 1..=3 adopted, 4 and 5 applied on top.
    assert_eq!(store.schema_version().await.unwrap(), 5);
    assert_eq!(
        db.raw_int("SELECT COUNT(*) FROM usage_daily").await,
        0,
        "migration 4 made the usage table"
    );
    let t = store.get_shared_token("c1").await.unwrap().unwrap();
    assert_eq!(t.access_token.expose_secret(), CANARY_ACCESS);
    store.close().await;
    let pool = db.raw_pool().await;
    let old: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(old, 0, "the old table is dropped");
    pool.close().await;
    // An old file at version 2 gets migrations 3, 4 and 5 applied on top.
    db.raw_exec("DELETE FROM _sqlx_migrations WHERE version >= 3", &[])
        .await;
    db.raw_exec("DROP TABLE usage_daily", &[]).await;
    db.raw_exec("ALTER TABLE tokens DROP COLUMN account", &[])
        .await;
    db.raw_exec("DROP TABLE audit_events", &[]).await;
    db.raw_exec("ALTER TABLE connector_instances DROP COLUMN access", &[])
        .await;
    let store = db.open(k1()).await;
    assert_eq!(store.schema_version().await.unwrap(), 5);
    store.close().await;
}

async fn bad_input_is_a_typed_error<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
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
}

#[tokio::test]
async fn sqlite_a_store_path_that_cannot_be_a_file_is_a_database_error() {
    let dir = TempDir::new().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let err = SqliteStore::open(blocker.join("sub").join("db"), k1())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err}");
}

crate::both! {
    no_token_secret_or_verifier_in_plaintext_on_disk => sqlite_no_token_secret_or_verifier_in_plaintext_on_disk, postgres_no_token_secret_or_verifier_in_plaintext_on_disk;
    a_ciphertext_moved_to_another_row_fails_to_open => sqlite_a_ciphertext_moved_to_another_row_fails_to_open, postgres_a_ciphertext_moved_to_another_row_fails_to_open;
    a_store_opened_with_the_wrong_key_refuses_to_open_values => sqlite_a_store_opened_with_the_wrong_key_refuses_to_open_values, postgres_a_store_opened_with_the_wrong_key_refuses_to_open_values;
    debug_output_and_errors_hold_no_secret => sqlite_debug_output_and_errors_hold_no_secret, postgres_debug_output_and_errors_hold_no_secret;
    bad_input_is_a_typed_error => sqlite_bad_input_is_a_typed_error, postgres_bad_input_is_a_typed_error;
}
