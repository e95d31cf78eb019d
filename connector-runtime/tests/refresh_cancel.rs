//! A caller that gives up in the middle of a refresh (its future is dropped: a timeout, a
//! cancelled request, a client that disconnects) must not lose the rotated refresh token:
//! once the request is at the provider, the new token exists only in its response, and the
//! old one is spent.

mod refresh_support;

use std::sync::Arc;
use std::time::Duration;

use connector_runtime::oauth::{OAuthFlows, OAuthSettings};
use connector_runtime::store::{
    ExposeSecret, SecretString, Timestamp, TokenData, TokenStore, UserTokenKey,
};
use connector_runtime::{ExecuteOptions, InstanceRuntime, Registry};
use refresh_support::{CONNECTOR, Gate, StormProvider};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// A guard against a hang turning into a stuck test; far longer than any run needs.
const HANG_GUARD: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_dropped_mid_refresh_does_not_lose_the_rotated_token() {
    let provider = StormProvider::start(3600).await;
    let dir = tempfile::tempdir().unwrap();
    let stores = refresh_support::open_store(&dir.path().join("tokens.db"))
        .await
        .stores();
    let store: Arc<dyn TokenStore> = Arc::clone(&stores.tokens);
    let first = provider.grant("alice");
    let key = UserTokenKey::oauth("alice", CONNECTOR);
    store
        .put_user_token(
            &key,
            TokenData {
                access_token: SecretString::from(first.access_token),
                refresh_token: Some(SecretString::from(first.refresh_token)),
                token_type: "Bearer".into(),
                scope: None,
                expires_at: Some(Timestamp::now().minus(Duration::from_secs(1))),
                refresh_token_expires_at: None,
            },
        )
        .await
        .unwrap();
    let flows = OAuthFlows::new(
        Arc::clone(&store),
        stores.states,
        OAuthSettings::new("http://127.0.0.1:9/callback").unwrap(),
    )
    .unwrap();
    let spec = Arc::new(refresh_support::spec());
    let instance = refresh_support::instance(Arc::clone(&spec), &provider.url(""));
    flows.register(CONNECTOR, &instance).unwrap();
    let runtime = Arc::new(
        InstanceRuntime::new(instance)
            .unwrap()
            .with_user_auth(flows.user_auth(CONNECTOR).unwrap()),
    );
    let dispatcher = Registry::new().register_spec((*spec).clone()).unwrap();
    let me = {
        let (runtime, dispatcher) = (Arc::clone(&runtime), Arc::clone(&dispatcher));
        move || {
            let (runtime, dispatcher) = (Arc::clone(&runtime), Arc::clone(&dispatcher));
            async move {
                let ctx = runtime.context("alice", CancellationToken::new());
                dispatcher
                    .execute(&ctx, "me", json!({}), ExecuteOptions::default())
                    .await
            }
        }
    };

    // The expired token's refresh reaches the provider and waits there.
    provider.set_gate(Gate::Hold);
    let call = tokio::spawn(me());
    tokio::time::timeout(HANG_GUARD, provider.until(|p| p.held().len() == 1))
        .await
        .expect("the refresh reached the provider");
    // The caller gives up.
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    // The provider rotates anyway: the stored refresh token is spent from here on.
    provider.set_gate(Gate::Open);
    tokio::time::timeout(HANG_GUARD, provider.until(|p| p.refreshes_of("alice") == 1))
        .await
        .expect("the provider rotated the token");

    // The next call finds the rotated token (it waits for the abandoned refresh to be
    // stored, under the same lock) and does not refresh again.
    assert_eq!(me().await.unwrap(), json!({"user": "alice"}));
    assert_eq!(provider.refreshes_of("alice"), 1);
    assert_eq!(provider.refused(), 0, "the spent token was never presented");
    let stored = store.get_user_token(&key).await.unwrap().unwrap();
    let chain = provider.chain("alice");
    assert_eq!(
        stored.refresh_token.unwrap().expose_secret(),
        chain.last().unwrap().refresh_token
    );
    assert!(!stored.revoked);
}
