//! [`Maintenance`] on both backends: key rotation (all or nothing), cleanup of expired states and
//! stale per-user tokens, the periodic cleanup task, key usage.

use super::*;

async fn key_ids_at_rest<B: Backend>(db: &B) -> Vec<String> {
    let mut blobs = Vec::new();
    for sql in [
        "SELECT access_token FROM tokens",
        "SELECT refresh_token FROM tokens WHERE refresh_token IS NOT NULL",
        "SELECT pkce_verifier FROM oauth_states WHERE pkce_verifier IS NOT NULL",
        "SELECT secrets FROM connector_instances",
    ] {
        blobs.extend(db.raw_blobs(sql, &[]).await.into_iter().flatten());
    }
    blobs
        .iter()
        .map(|b| Keyring::sealed_key_id(b).unwrap().to_string())
        .collect()
}

async fn counts<B: Backend>(db: &B) -> (i64, i64, i64) {
    (
        db.raw_int("SELECT COUNT(*) FROM tokens").await,
        db.raw_int("SELECT COUNT(*) FROM oauth_states").await,
        db.raw_int("SELECT COUNT(*) FROM connector_instances").await,
    )
}

async fn rotation_reseals_everything_under_the_new_key<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
    fill(&store).await;
    store.close().await;
    let before = counts(&db).await;
    assert_eq!(before, (3, 1, 1));
    let ids = key_ids_at_rest(&db).await;
    assert_eq!(ids.len(), 8);
    assert!(ids.iter().all(|i| i == "k1"));

    // The operator puts the new key first, keeps the old one, and rotates.
    let both = ring(&format!("k2:{},k1:{}", key(2), key(1)));
    let store = db.open(both).await;
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
    assert!(key_ids_at_rest(&db).await.iter().all(|i| i == "k2"));
    assert_eq!(counts(&db).await, before);

    // The old key removed: every record still opens.
    let store = db.open(ring(&format!("k2:{}", key(2)))).await;
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
    let state = db.raw_text("SELECT state FROM oauth_states").await;
    let st = store
        .consume_state(&state, "alice", Timestamp::now())
        .await
        .unwrap();
    assert_eq!(st.pkce_verifier.expose_secret(), CANARY_VERIFIER);
    assert_no_canary(&db.at_rest().await);
}

async fn rotation_without_the_old_key_changes_nothing<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
    fill(&store).await;
    store.close().await;
    // The old key forgotten: the rotation fails as a whole and the data stays under k1. A
    // shared database refuses such a keyring at once (its key check is under k1).
    let k2_only = ring(&format!("k2:{}", key(2)));
    if B::SHARED {
        let err = db.try_open(k2_only).await.unwrap_err();
        assert!(
            matches!(err, StoreError::KeyMismatch { ref key_id } if key_id == "k1"),
            "{err}"
        );
    } else {
        let store = db.open(k2_only).await;
        let err = store.rotate_keys().await.unwrap_err();
        assert!(
            matches!(err, StoreError::Crypto(CryptoError::UnknownKey { .. })),
            "{err}"
        );
        store.close().await;
    }
    assert!(key_ids_at_rest(&db).await.iter().all(|i| i == "k1"));
    let store = db.open(k1()).await;
    assert!(store.get_shared_token("c1").await.unwrap().is_some());
}

async fn cleanup_deletes_exactly_expired_states_and_stale_user_tokens<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
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
        ..CleanupPolicy::default()
    };
    let r = store
        .cleanup(t0.plus(day * 61), &short_policy)
        .await
        .unwrap();
    assert_eq!(r.tokens_deleted, 1);
    assert!(store.get_user_token(&used).await.unwrap().is_none());
    assert!(store.get_shared_token("c1").await.unwrap().is_some());
}

async fn periodic_cleanup_task_runs_and_stops_on_cancel<B: Backend>() {
    let db = B::fresh().await;
    let store = Arc::new(db.open(k1()).await);
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

async fn cleanup_deletes_audit_events_past_the_retention_and_keeps_the_rest<B: Backend>() {
    use connector_runtime::store::{AuditEvent, AuditFilter};
    let db = B::fresh().await;
    let store = db.open(k1()).await;
    let day = Duration::from_secs(24 * 60 * 60);
    let t0 = Timestamp(1_000_000_000_000);
    for (op, at) in [("old", t0), ("recent", t0.plus(day * 20))] {
        let mut e = AuditEvent::new(op);
        e.at = at.as_millis();
        store.audit().record(e).await.unwrap();
    }
    let policy = CleanupPolicy {
        audit_retention: day * 30,
        ..CleanupPolicy::default()
    };
    let r = store.cleanup(t0.plus(day * 31), &policy).await.unwrap();
    assert_eq!(r.audit_events_deleted, 1);
    let left = store
        .audit()
        .query(&AuditFilter {
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let ops: Vec<_> = left.events.iter().map(|e| e.operation.as_str()).collect();
    assert_eq!(ops, vec!["recent"]);
}

crate::both! {
    rotation_reseals_everything_under_the_new_key => sqlite_rotation_reseals_everything_under_the_new_key, postgres_rotation_reseals_everything_under_the_new_key;
    rotation_without_the_old_key_changes_nothing => sqlite_rotation_without_the_old_key_changes_nothing, postgres_rotation_without_the_old_key_changes_nothing;
    cleanup_deletes_exactly_expired_states_and_stale_user_tokens => sqlite_cleanup_deletes_exactly_expired_states_and_stale_user_tokens, postgres_cleanup_deletes_exactly_expired_states_and_stale_user_tokens;
    periodic_cleanup_task_runs_and_stops_on_cancel => sqlite_periodic_cleanup_task_runs_and_stops_on_cancel, postgres_periodic_cleanup_task_runs_and_stops_on_cancel;
    cleanup_deletes_audit_events_past_the_retention_and_keeps_the_rest => sqlite_cleanup_deletes_audit_events_past_the_retention_and_keeps_the_rest, postgres_cleanup_deletes_audit_events_past_the_retention_and_keeps_the_rest;
}
