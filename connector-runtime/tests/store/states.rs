//! [`OAuthStateStore`] on both backends: round trip, every refusal of `consume_state`, one winner of
//! concurrent callbacks, owner-only cancel.

use super::*;

async fn oauth_state_round_trip_and_every_refusal<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
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
    let v = db
        .raw_blobs(
            "SELECT pkce_verifier FROM oauth_states WHERE state = $1",
            &[&rec.state],
        )
        .await;
    assert_eq!(v, vec![None]);
}

async fn concurrent_callbacks_consume_a_state_once<B: Backend>() {
    let db = B::fresh().await;
    let store = Arc::new(db.open(k1()).await);
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

async fn cancel_is_owner_only_and_repeatable<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
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

crate::both! {
    oauth_state_round_trip_and_every_refusal => sqlite_oauth_state_round_trip_and_every_refusal, postgres_oauth_state_round_trip_and_every_refusal;
    concurrent_callbacks_consume_a_state_once => sqlite_concurrent_callbacks_consume_a_state_once, postgres_concurrent_callbacks_consume_a_state_once;
    cancel_is_owner_only_and_repeatable => sqlite_cancel_is_owner_only_and_repeatable, postgres_cancel_is_owner_only_and_repeatable;
}
