//! [`InstanceStore`] on both backends: create, read, list, update, delete (with the instance's tokens
//! and states), and the derived auth mode.

use super::*;

async fn connector_instances_crud_and_auth_mode<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
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
}

/// A fresh backend (keep it: dropping it drops the database) and a store on it holding
/// instances `a` and `b` of these auth types.
async fn with_a_and_b<B: Backend>(a: AuthTypeId, b: AuthTypeId) -> (B, B::Store) {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
    for (id, auth) in [("a", a), ("b", b)] {
        store.create_instance(new_instance(id, auth)).await.unwrap();
    }
    (db, store)
}

async fn an_update_replaces_what_it_names_and_access_can_be_revoked<B: Backend>() {
    let (_db, store) =
        with_a_and_b::<B>(AuthTypeId::OauthAuthorizationCode, AuthTypeId::Bearer).await;
    let updated = store
        .update_instance(
            "b",
            InstanceUpdate {
                name: Some("Renamed".into()),
                auth_type: Some(AuthTypeId::OauthAuthorizationCode),
                config: Some(json!({"clientId": "client-2"})),
                secrets: Some(secrets(json!({"clientSecret": "new-secret"}))),
                access: Some(Some(vec!["u_alice".into(), "u_bob".into()])),
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
    assert_eq!(got.access, Some(vec!["u_alice".into(), "u_bob".into()]));
    assert_eq!(got.access, updated.access);
    // An update without `access` keeps the list; removing a user takes them out of it.
    store
        .update_instance("b", InstanceUpdate::default())
        .await
        .unwrap();
    assert_eq!(store.revoke_access("u_alice").await.unwrap(), 1);
    assert_eq!(store.revoke_access("u_alice").await.unwrap(), 0);
    let got = store.get_instance("b").await.unwrap().unwrap();
    assert_eq!(got.access, Some(vec!["u_bob".into()]));
    assert_eq!(store.get_instance("a").await.unwrap().unwrap().access, None);
    assert!(matches!(
        store
            .update_instance("zzz", InstanceUpdate::default())
            .await
            .unwrap_err(),
        StoreError::InstanceNotFound { .. }
    ));
}

async fn deleting_an_instance_deletes_its_tokens_and_states<B: Backend>() {
    let (_db, store) =
        with_a_and_b::<B>(AuthTypeId::Bearer, AuthTypeId::OauthAuthorizationCode).await;
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

crate::both! {
    connector_instances_crud_and_auth_mode => sqlite_connector_instances_crud_and_auth_mode, postgres_connector_instances_crud_and_auth_mode;
    an_update_replaces_what_it_names_and_access_can_be_revoked => sqlite_an_update_replaces_what_it_names_and_access_can_be_revoked, postgres_an_update_replaces_what_it_names_and_access_can_be_revoked;
    deleting_an_instance_deletes_its_tokens_and_states => sqlite_deleting_an_instance_deletes_its_tokens_and_states, postgres_deleting_an_instance_deletes_its_tokens_and_states;
}
