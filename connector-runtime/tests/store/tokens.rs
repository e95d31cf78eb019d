//! [`TokenStore`] on both backends: shared and per-user round trips, scope and ownership refusals,
//! versions, and a second handle seeing writes at once.

use super::*;

async fn shared_token_round_trip_replace_and_refresh<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
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
    assert_version_conflict(err, 1, 2);
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

async fn per_user_tokens_are_keyed_by_user_connector_and_credential_type<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
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

#[test]
fn a_malformed_token_id_is_refused() {
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
}

fn assert_wrong_scope(e: StoreError, expected: TokenScope) {
    match e {
        StoreError::WrongScope {
            expected: x, found, ..
        } => assert!(x == expected && found != expected),
        other => panic!("expected WrongScope, got {other}"),
    }
}

async fn token_ids_carry_their_scope_and_each_api_refuses_the_other<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
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
    let wrong = assert_wrong_scope;
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
}

async fn a_scope_mismatch_is_a_user_error<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
    let u = store
        .put_user_token(&UserTokenKey::oauth("alice", "c1"), token("u", None))
        .await
        .unwrap();
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

async fn another_users_token_is_refused<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
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

async fn writes_are_visible_to_a_second_process_handle_at_once<B: Backend>() {
    let db = B::fresh().await;
    let writer = db.open(k1()).await;
    let reader = db.open(k1()).await;
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

async fn a_failed_refresh_is_recorded_without_a_new_version_and_cleared_by_the_next_write<
    B: Backend,
>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
    let key = UserTokenKey::oauth("alice", "c1");
    let t = store
        .put_user_token(&key, token("a1", Some("r1")))
        .await
        .unwrap();
    assert_eq!(t.refresh_failed_at, None);
    let at = Timestamp(1_795_000_000_000);
    store.record_refresh_failure(&t.id, at).await.unwrap();
    let failed = store.get_user_token(&key).await.unwrap().unwrap();
    assert_eq!(failed.refresh_failed_at, Some(at));
    assert_eq!(
        failed.version, t.version,
        "a refresher's version check still holds"
    );
    let update = TokenUpdate {
        access_token: SecretString::from("a2"),
        refresh_token: None,
        refresh_token_expires_at: None,
        token_type: None,
        scope: None,
        expires_at: None,
    };
    let refreshed = store
        .update_user_token("alice", &t.id, Some(t.version), update)
        .await
        .unwrap();
    assert_eq!(
        refreshed.refresh_failed_at, None,
        "a successful refresh clears it"
    );
    store.record_refresh_failure(&t.id, at).await.unwrap();
    let again = store.put_user_token(&key, token("a3", None)).await.unwrap();
    assert_eq!(again.refresh_failed_at, None, "connecting again clears it");
    let shared = store
        .put_shared_token("c1", token("s1", None))
        .await
        .unwrap();
    store.record_refresh_failure(&shared.id, at).await.unwrap();
    let shared = store.get_shared_token("c1").await.unwrap().unwrap();
    assert_eq!(shared.refresh_failed_at, Some(at));
}

async fn account_values_are_kept_per_user_token<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
    let alice = UserTokenKey::oauth("alice", "crm");
    let bob = UserTokenKey::oauth("bob", "crm");
    let values = |url: &str| {
        json!({ "instanceUrl": url, "orgs": 2 })
            .as_object()
            .unwrap()
            .clone()
    };
    // No token yet: nothing to keep them with, and nothing to read.
    store
        .set_user_account(&alice, &values("https://a.my.salesforce.com"))
        .await
        .unwrap();
    assert_eq!(store.get_user_account(&alice).await.unwrap(), None);

    store
        .put_user_token(&alice, token("a1", None))
        .await
        .unwrap();
    store.put_user_token(&bob, token("b1", None)).await.unwrap();
    assert_eq!(
        store.get_user_account(&alice).await.unwrap(),
        None,
        "a token without any"
    );
    store
        .set_user_account(&alice, &values("https://a.my.salesforce.com"))
        .await
        .unwrap();
    store
        .set_user_account(&bob, &values("https://b.my.salesforce.com"))
        .await
        .unwrap();
    let a = store.get_user_account(&alice).await.unwrap().unwrap();
    assert_eq!(a["instanceUrl"], "https://a.my.salesforce.com");
    assert_eq!(a["orgs"], 2);
    let b = store.get_user_account(&bob).await.unwrap().unwrap();
    assert_eq!(b["instanceUrl"], "https://b.my.salesforce.com");

    // Disconnecting deletes them with the token.
    assert_eq!(store.delete_user_tokens("alice", "crm").await.unwrap(), 1);
    assert_eq!(store.get_user_account(&alice).await.unwrap(), None);
    assert!(store.get_user_account(&bob).await.unwrap().is_some());
}

crate::both! {
    a_scope_mismatch_is_a_user_error => sqlite_a_scope_mismatch_is_a_user_error, postgres_a_scope_mismatch_is_a_user_error;
    shared_token_round_trip_replace_and_refresh => sqlite_shared_token_round_trip_replace_and_refresh, postgres_shared_token_round_trip_replace_and_refresh;
    per_user_tokens_are_keyed_by_user_connector_and_credential_type => sqlite_per_user_tokens_are_keyed_by_user_connector_and_credential_type, postgres_per_user_tokens_are_keyed_by_user_connector_and_credential_type;
    token_ids_carry_their_scope_and_each_api_refuses_the_other => sqlite_token_ids_carry_their_scope_and_each_api_refuses_the_other, postgres_token_ids_carry_their_scope_and_each_api_refuses_the_other;
    another_users_token_is_refused => sqlite_another_users_token_is_refused, postgres_another_users_token_is_refused;
    writes_are_visible_to_a_second_process_handle_at_once => sqlite_writes_are_visible_to_a_second_process_handle_at_once, postgres_writes_are_visible_to_a_second_process_handle_at_once;
    a_failed_refresh_is_recorded_without_a_new_version_and_cleared_by_the_next_write => sqlite_a_failed_refresh_is_recorded_without_a_new_version_and_cleared_by_the_next_write, postgres_a_failed_refresh_is_recorded_without_a_new_version_and_cleared_by_the_next_write;
    account_values_are_kept_per_user_token => sqlite_account_values_are_kept_per_user_token, postgres_account_values_are_kept_per_user_token;
}
