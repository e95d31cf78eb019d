//! Refresh storms: concurrent executions on an expired token cause exactly one refresh per
//! lock key (the connector for a shared token, connector + user for a per-user token), and
//! one user's refresh never waits for another's. No timing: counts at the provider, and a
//! refresh held open at the provider while another user's completes.

mod oauth_support;

use std::sync::Arc;
use std::time::Duration;

use connector_runtime::store::{TokenData, UserTokenKey};
use connector_runtime::{ConnectorInstance, ExecuteOptions, InstanceRuntime, Registry};
use connector_spec::LoadOptions;
use futures::future::join_all;
use oauth_support::{CONNECTOR, Mode, World};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const HOUR: Duration = Duration::from_secs(3600);

/// A guard against a deadlock turning into a hung test: far longer than any run needs.
const HANG_GUARD: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_calls_on_an_expired_shared_token_cause_one_refresh() {
    let w = World::new(Mode::Direct).await;
    // An operator authorizes once; the tokens become the connector's shared token.
    w.connect("svc").await;
    let rec = w
        .store
        .get_user_token(&UserTokenKey::oauth("svc", CONNECTOR))
        .await
        .unwrap()
        .unwrap();
    let shared_id = "conn-shared-1";
    w.store
        .put_shared_token(
            shared_id,
            TokenData {
                access_token: rec.access_token.clone(),
                refresh_token: rec.refresh_token.clone(),
                token_type: rec.token_type.clone(),
                scope: rec.scope.clone(),
                expires_at: rec.expires_at,
                refresh_token_expires_at: rec.refresh_token_expires_at,
            },
        )
        .await
        .unwrap();
    w.flows.register_client(
        shared_id,
        w.flows.connector(CONNECTOR).unwrap().client.clone(),
        Vec::new(),
    );
    // A shared connector (no per-user auth type) that uses the stored shared token.
    let text = r#"id: .shared-test
displayName: Shared test
description: Uses a shared OAuth token from the store.
minimumLicense: basic
baseUrl: "{{ config.base }}"
auth:
  types: [none]
config:
  type: object
  properties:
    base: { type: string }
actions:
  me:
    description: Who am I.
    scope: read
    input: { type: object, properties: {} }
    request: { method: GET, path: /api/me }
"#;
    let spec = Arc::new(
        connector_spec::load_str("shared.yaml", text, &LoadOptions::default())
            .spec
            .expect("spec"),
    );
    let instance = ConnectorInstance::new(
        Arc::clone(&spec),
        json!({ "base": w.provider.url("") }),
        json!({}),
    )
    .unwrap();
    let runtime = InstanceRuntime::new(instance)
        .unwrap()
        .with_auth(w.flows.shared_auth(shared_id).unwrap());
    let dispatcher = Registry::new().register_spec((*spec).clone()).unwrap();

    w.clock.advance(2 * HOUR);
    let runtime = Arc::new(runtime);
    let calls = (0..1000).map(|_| {
        let (rt, d) = (Arc::clone(&runtime), Arc::clone(&dispatcher));
        tokio::spawn(async move {
            let ctx = rt.context("", CancellationToken::new());
            d.execute(&ctx, "me", json!({}), ExecuteOptions::default())
                .await
        })
    });
    let results = tokio::time::timeout(HANG_GUARD, join_all(calls))
        .await
        .expect("the storm finished");
    for r in results {
        assert_eq!(r.unwrap().unwrap(), json!({"user": "svc"}));
    }
    assert_eq!(w.provider.refreshes("svc"), 1, "exactly one refresh");
    assert_eq!(w.provider.api_calls("svc"), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_users_times_twenty_calls_cause_fifty_refreshes() {
    let w = Arc::new(World::new(Mode::Direct).await);
    let users: Vec<String> = (0..50).map(|i| format!("user-{i:02}")).collect();
    for u in &users {
        w.connect(u).await;
    }
    w.clock.advance(2 * HOUR);
    let calls = users.iter().flat_map(|u| {
        (0..20).map({
            let w = Arc::clone(&w);
            move |_| {
                let (w, u) = (Arc::clone(&w), u.clone());
                tokio::spawn(async move { (u.clone(), w.me(&u).await) })
            }
        })
    });
    let results = tokio::time::timeout(HANG_GUARD, join_all(calls.collect::<Vec<_>>()))
        .await
        .expect("the storm finished");
    assert_eq!(results.len(), 1000);
    for r in results {
        let (u, out) = r.unwrap();
        assert_eq!(
            out.unwrap(),
            json!({ "user": u }),
            "each call acts as its user"
        );
    }
    for u in &users {
        assert_eq!(w.provider.refreshes(u), 1, "{u}: one refresh");
        assert_eq!(w.provider.api_calls(u), 20, "{u}");
    }
    assert_eq!(w.provider.total_refreshes(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_users_refresh_does_not_wait_for_anothers() {
    let w = Arc::new(World::new(Mode::Direct).await);
    w.connect("alice").await;
    w.connect("bob").await;
    w.clock.advance(2 * HOUR);

    // Alice's refresh reaches the provider and is held there, inside alice's lock.
    let held = w.provider.hold_refresh("alice");
    let alice_calls: Vec<_> = (0..20)
        .map(|_| {
            let w = Arc::clone(&w);
            tokio::spawn(async move { w.me("alice").await })
        })
        .collect();
    held.arrived
        .await
        .expect("alice's refresh reached the provider");

    // While it is held, bob refreshes and completes: his lock is not alice's.
    let bob = tokio::time::timeout(HANG_GUARD, w.me("bob"))
        .await
        .expect("bob did not wait for alice's refresh");
    assert_eq!(bob.unwrap(), json!({"user": "bob"}));
    assert_eq!(w.provider.refreshes("bob"), 1);
    assert!(
        alice_calls.iter().all(|c| !c.is_finished()),
        "alice's calls wait for her refresh"
    );
    assert_eq!(w.provider.refreshes("alice"), 0, "still held");

    held.release.send(()).unwrap();
    for c in alice_calls {
        assert_eq!(c.await.unwrap().unwrap(), json!({"user": "alice"}));
    }
    assert_eq!(
        w.provider.refreshes("alice"),
        1,
        "her 20 calls shared one refresh"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_401s_on_one_stale_token_share_one_forced_refresh() {
    let w = Arc::new(World::new(Mode::Direct).await);
    w.connect("alice").await;
    // Every call first sends the current token; the API refuses it; all 100 force a
    // refresh, and only the first one reaches the provider.
    w.provider.invalidate_access_tokens("alice");
    let held = w.provider.hold_refresh("alice");
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let w = Arc::clone(&w);
            tokio::spawn(async move { w.me("alice").await })
        })
        .collect();
    held.arrived.await.unwrap();
    held.release.send(()).unwrap();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap(), json!({"user": "alice"}));
    }
    // Calls that sent the stale token after the refresh finished reuse the new one.
    assert_eq!(w.provider.refreshes("alice"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_lost_to_another_process_uses_its_token_instead_of_revoking() {
    // Two runtimes ("processes") share one SQLite file but not their in-process locks.
    let w = Arc::new(World::new(Mode::Direct).await);
    w.connect("alice").await;
    let store_b = oauth_support::store(&w.dir).await;
    let settings = w.flows.settings().clone();
    let flows_b =
        connector_runtime::oauth::OAuthFlows::new(store_b.tokens, store_b.states, settings)
            .unwrap();
    flows_b.register(CONNECTOR, &w.runtime.instance).unwrap();
    let runtime_b = InstanceRuntime::new(w.runtime.instance.clone())
        .unwrap()
        .with_user_auth(flows_b.user_auth(CONNECTOR).unwrap());
    w.clock.advance(2 * HOUR);

    // Process A's refresh reaches the provider first and is held there.
    let held = w.provider.hold_refresh("alice");
    let a = {
        let w = Arc::clone(&w);
        tokio::spawn(async move { w.me("alice").await })
    };
    held.arrived.await.unwrap();
    // Process B refreshes with the same refresh token, which the provider rotates.
    let ctx = runtime_b.context("alice", CancellationToken::new());
    let out = w
        .dispatcher
        .execute(&ctx, "me", json!({}), ExecuteOptions::default())
        .await
        .unwrap();
    assert_eq!(out, json!({"user": "alice"}));
    // A's request now carries a spent refresh token: the provider answers invalid_grant,
    // and A finds B's newer token instead of revoking it.
    held.release.send(()).unwrap();
    assert_eq!(a.await.unwrap().unwrap(), json!({"user": "alice"}));
    assert_eq!(w.provider.refreshes("alice"), 2);
    let rec = w
        .store
        .get_user_token(&UserTokenKey::oauth("alice", CONNECTOR))
        .await
        .unwrap()
        .unwrap();
    assert!(!rec.revoked);
}
