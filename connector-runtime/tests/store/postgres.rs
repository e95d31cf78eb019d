//! What only a database shared by several processes does, on PostgreSQL: two `PgStore`s (two
//! pools, as two server instances would hold) on one database exclude each other's refresh
//! of a token, see each other's writes and versions, clean up one at a time, count rate
//! limits together, hand an OAuth state from one to the other, and refuse an instance with
//! another key. Plus the schema's migrations.

use connector_runtime::store::postgres::{MIGRATOR, PgStore};
use connector_runtime::store::{RateDecision, RateLimit, RefreshLockKey};

use super::*;

/// Two stores on one fresh database.
async fn two() -> (PgDb, PgStore, PgStore) {
    let db = PgDb::fresh().await;
    let a = db.open(k1()).await;
    let b = db.open(k1()).await;
    (db, a, b)
}

/// True when `fut` is still pending after `ms` milliseconds.
async fn still_waiting<F: std::future::Future>(fut: F, ms: u64) -> bool {
    tokio::time::timeout(Duration::from_millis(ms), fut)
        .await
        .is_err()
}

#[tokio::test]
async fn postgres_a_refresh_lock_excludes_the_other_process_for_its_key_only() {
    let (_db, a, b) = two().await;
    let (la, lb) = (a.refresh_locks(), b.refresh_locks());
    let alice = RefreshLockKey::user("c1", "alice");
    let held = la.lock(&alice).await.unwrap();
    assert!(
        still_waiting(lb.lock(&alice), 300).await,
        "the other store must wait for alice's lock"
    );
    // Another key, and the shared key of the same connector, are free.
    let _bob = lb
        .lock(&RefreshLockKey::user("c1", "alice2"))
        .await
        .unwrap();
    let _shared = lb.lock(&RefreshLockKey::shared("c1")).await.unwrap();
    // The holder can still use the data pool while others wait.
    a.put_user_token(&UserTokenKey::oauth("alice", "c1"), token("a", None))
        .await
        .unwrap();
    let waiter = tokio::spawn(async move { lb.lock(&alice).await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiter.is_finished());
    let dropped_at = std::time::Instant::now();
    drop(held);
    tokio::time::timeout(Duration::from_secs(1), waiter)
        .await
        .expect("a dropped guard releases the lock within 1 s")
        .unwrap()
        .unwrap();
    assert!(dropped_at.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn postgres_a_terminated_holder_releases_its_refresh_lock() {
    let (db, a, b) = two().await;
    let key = RefreshLockKey::shared("c1");
    let held = a.refresh_locks().lock(&key).await.unwrap();
    let lb = b.refresh_locks();
    assert!(still_waiting(lb.lock(&key), 200).await);
    // The holder's session dies (as when its process is killed): PostgreSQL ends its locks.
    let admin = db.raw_pool().await;
    let killed: i64 = sqlx::query_scalar(
        "SELECT COUNT(pg_terminate_backend(l.pid)) FROM pg_locks l \
         WHERE l.locktype = 'advisory' AND l.granted AND l.database = \
         (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(killed, 1, "one session held an advisory lock");
    tokio::time::timeout(Duration::from_secs(5), lb.lock(&key))
        .await
        .expect("the other store acquires the lock")
        .unwrap();
    drop(held);
}

#[tokio::test]
async fn postgres_a_stale_version_is_refused_after_the_other_store_wrote() {
    let (_db, a, b) = two().await;
    let t = a
        .put_shared_token("c1", token("a1", Some("r1")))
        .await
        .unwrap();
    let seen = b.get_shared_token("c1").await.unwrap().unwrap();
    assert_eq!(seen.version, 1);
    a.update_shared_token(&t.id, Some(1), refresh_update("a2", None))
        .await
        .unwrap();
    let err = b
        .update_shared_token(&t.id, Some(seen.version), refresh_update("b2", None))
        .await
        .unwrap_err();
    assert_version_conflict(err, 1, 2);
    let now = a.get_shared_token("c1").await.unwrap().unwrap();
    assert_eq!(now.access_token.expose_secret(), "a2");
}

#[tokio::test]
async fn postgres_two_cleanups_at_once_one_runs_one_is_skipped() {
    let (db, a, b) = two().await;
    let t0 = Timestamp::now();
    let mut new = NewOAuthState::new("c1", "alice", verifier(), t0);
    new.expires_at = t0.plus(Duration::from_secs(1));
    a.insert_state(new).await.unwrap();
    let later = t0.plus(Duration::from_secs(3600));
    // A raw session locks `audit_events`, so a's cleanup stops inside its transaction (its
    // cleanup lock held) until the session lets go.
    let pool = db.raw_pool().await;
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let running =
        tokio::spawn(async move { a.cleanup(later, &CleanupPolicy::default()).await.unwrap() });
    let mut skipped = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let r = b.cleanup(later, &CleanupPolicy::default()).await.unwrap();
        if r.skipped {
            skipped = Some(r);
            break;
        }
    }
    let skipped = skipped.expect("b's cleanup is skipped while a's runs");
    assert_eq!(
        (
            skipped.states_deleted,
            skipped.tokens_deleted,
            skipped.audit_events_deleted
        ),
        (0, 0, 0)
    );
    assert!(
        !running.is_finished(),
        "a's cleanup waits for the table lock"
    );
    blocker.rollback().await.unwrap();
    let ran = running.await.unwrap();
    assert!(!ran.skipped);
    assert_eq!(ran.states_deleted, 1);
    // Once a is done, b runs again.
    let again = b.cleanup(later, &CleanupPolicy::default()).await.unwrap();
    assert!(!again.skipped);
    assert!(
        !lock_held_by_raw_session(&db).await,
        "the cleanup lock is free again"
    );
}

/// Whether a raw session can take the cleanup lock right now (and gives it back).
async fn lock_held_by_raw_session(db: &PgDb) -> bool {
    let pool = db.raw_pool().await;
    let mut tx = pool.begin().await.unwrap();
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(cleanup_lock_id())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    !got
}

/// The cleanup lock id (first 8 bytes of SHA-256 of `"cleanup\0store"`).
fn cleanup_lock_id() -> i64 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(b"cleanup\0store");
    i64::from_be_bytes(d[..8].try_into().unwrap())
}

#[tokio::test]
async fn postgres_rate_limits_count_across_both_stores() {
    let (_db, a, b) = two().await;
    let (ra, rb) = (a.stores().rate_limits, b.stores().rate_limits);
    let limit = RateLimit {
        limit: 3,
        window: Duration::from_secs(60),
    };
    let t0 = Timestamp(1_000_000);
    for r in [&ra, &rb, &ra] {
        assert_eq!(
            r.hit("u", "start", limit, t0).await.unwrap(),
            RateDecision::Allowed
        );
    }
    for r in [&rb, &ra] {
        assert_eq!(
            r.hit("u", "start", limit, Timestamp(t0.0 + 15_500))
                .await
                .unwrap(),
            RateDecision::Refused { retry_after: 45 }
        );
    }
    // Refused hits were not counted: the next window starts fresh, and another user or
    // bucket has its own.
    assert_eq!(
        rb.hit("u", "start", limit, Timestamp(t0.0 + 60_000))
            .await
            .unwrap(),
        RateDecision::Allowed
    );
    assert_eq!(
        rb.hit("v", "start", limit, t0).await.unwrap(),
        RateDecision::Allowed
    );
}

#[tokio::test]
async fn postgres_a_refused_hit_is_not_counted() {
    let db = PgDb::fresh().await;
    let a = db.open(k1()).await;
    let r = a.stores().rate_limits;
    let limit = RateLimit {
        limit: 1,
        window: Duration::from_secs(60),
    };
    let t0 = Timestamp(5_000_000);
    assert_eq!(
        r.hit("u", "b", limit, t0).await.unwrap(),
        RateDecision::Allowed
    );
    for _ in 0..3 {
        assert!(matches!(
            r.hit("u", "b", limit, t0).await.unwrap(),
            RateDecision::Refused { .. }
        ));
    }
    let count: i64 =
        sqlx::query_scalar("SELECT count FROM rate_windows WHERE user_id = 'u' AND bucket = 'b'")
            .fetch_one(a.pool())
            .await
            .unwrap();
    assert_eq!(count, 1, "only the allowed hit is counted");
}

#[tokio::test]
async fn postgres_an_instance_with_another_key_is_refused_and_a_rotated_one_opens() {
    let db = PgDb::fresh().await;
    let a = db.open(k1()).await;
    fill(&a).await;
    let err = db
        .try_open(ring(&format!("k2:{}", key(2))))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::KeyMismatch { ref key_id } if key_id == "k1"),
        "{err}"
    );
    let e: ActionError = err.into();
    assert_eq!((e.class, e.code), (ErrorClass::System, "key_mismatch"));
    // After a rotation to k2, a keyring with k2 first and k1 second opens, and so does k2
    // alone (the key check moved with the values); k1 alone no longer does.
    let both = db.open(ring(&format!("k2:{},k1:{}", key(2), key(1)))).await;
    both.rotate_keys().await.unwrap();
    db.open(ring(&format!("k1:{},k2:{}", key(1), key(2)))).await;
    db.open(ring(&format!("k2:{}", key(2)))).await;
    assert!(matches!(
        db.try_open(k1()).await.unwrap_err(),
        StoreError::KeyMismatch { ref key_id } if key_id == "k2"
    ));
}

#[tokio::test]
async fn postgres_an_oauth_state_created_by_one_store_is_consumed_by_the_other() {
    let (_db, a, b) = two().await;
    let now = Timestamp::now();
    let rec = a
        .insert_state(NewOAuthState::new("c1", "alice", verifier(), now))
        .await
        .unwrap();
    let got = b.consume_state(&rec.state, "alice", now).await.unwrap();
    assert_eq!(got.pkce_verifier.expose_secret(), CANARY_VERIFIER);
    assert!(matches!(
        a.consume_state(&rec.state, "alice", now).await.unwrap_err(),
        StoreError::StateAlreadyUsed
    ));
}

#[tokio::test]
async fn postgres_migrations_are_applied_once_by_instances_starting_at_once() {
    let db = PgDb::fresh().await;
    let opens = (0..4).map(|_| db.try_open(k1()));
    for r in futures::future::join_all(opens).await {
        r.unwrap();
    }
    let known = MIGRATOR.iter().map(|m| m.version).max().unwrap();
    let store = db.open(k1()).await;
    assert_eq!(store.schema_version().await.unwrap(), known);
    assert_eq!(
        db.raw_int("SELECT COUNT(*) FROM _sqlx_migrations").await,
        MIGRATOR.iter().count() as i64
    );
    // A database migrated by a newer program is refused, not downgraded.
    db.raw_exec(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, '\\x00', 0)",
        &[],
    )
    .await;
    let err = db.try_open(k1()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 9999, known: k } if k == known),
        "{err}"
    );
}

#[tokio::test]
async fn postgres_debug_shows_no_password_or_key() {
    let db = PgDb::fresh().await;
    let store = db.open(k1()).await;
    let dumps = [
        format!("{store:?}"),
        format!("{:?}", store.users()),
        format!("{:?}", store.audit()),
        format!("{:?}", store.refresh_locks()),
        format!("{:?}", store.stores()),
    ];
    for d in &dumps {
        assert!(!d.contains(&key(1)), "{d}");
        assert!(!d.contains("postgres@"), "the user is shown: {d}");
    }
    assert!(dumps[0].contains("connector_test_"), "{}", dumps[0]);
}
