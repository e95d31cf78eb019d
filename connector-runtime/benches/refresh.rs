//! Refresh storms: wall time of many concurrent executions that all find their token
//! expired, against a loopback OAuth provider and API, and the number of refreshes the
//! provider served (asserted per storm: one per lock key).
//!
//! - `shared_1000_on_one_expired_token`: 1,000 concurrent executions on one expired shared
//!   token: exactly 1 refresh per storm.
//! - `per_user_50x20_expired`: 50 users x 20 concurrent executions on expired per-user
//!   tokens: exactly 50 refreshes per storm.
//! - `shared_1000_on_a_valid_token`: the same 1,000 executions with no refresh (baseline).
//!
//! Tokens are expired by moving the flows' clock forward 2 hours before each storm (the
//! provider issues 1-hour tokens). The SQLite store is a real file (WAL, synchronous=FULL).
//!
//!     cargo bench -p connector-runtime --bench refresh

#[path = "../tests/refresh_support/mod.rs"]
mod refresh_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use connector_runtime::oauth::{OAuthFlows, OAuthSettings};
use connector_runtime::store::{SecretString, Timestamp, TokenData, TokenStore, UserTokenKey};
use connector_runtime::{ConnectorInstance, Dispatcher, ExecuteOptions, InstanceRuntime, Registry};
use connector_spec::LoadOptions;
use criterion::{Criterion, criterion_group, criterion_main};
use futures::future::join_all;
use refresh_support::{CONNECTOR, StormProvider};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const SHARED: &str = "storm-shared";
const USERS: usize = 50;
const PER_USER: usize = 20;
const SHARED_CALLS: usize = 1_000;

struct Bench {
    provider: StormProvider,
    _dir: tempfile::TempDir,
    clock: Arc<AtomicU64>,
    per_user: Arc<InstanceRuntime>,
    shared: Arc<InstanceRuntime>,
    dispatcher: Arc<Dispatcher>,
    shared_dispatcher: Arc<Dispatcher>,
    users: Vec<String>,
}

fn token(link: refresh_support::Link) -> TokenData {
    TokenData {
        access_token: SecretString::from(link.access_token),
        refresh_token: Some(SecretString::from(link.refresh_token)),
        token_type: "Bearer".into(),
        scope: None,
        expires_at: Some(Timestamp::now().plus(Duration::from_secs(3600))),
        refresh_token_expires_at: None,
    }
}

async fn setup() -> Bench {
    let provider = StormProvider::start(3600).await;
    let dir = tempfile::tempdir().unwrap();
    let stores = refresh_support::open_store(&dir.path().join("tokens.db"))
        .await
        .stores();
    let store: Arc<dyn TokenStore> = Arc::clone(&stores.tokens);
    let clock = Arc::new(AtomicU64::new(0));
    let offset = Arc::clone(&clock);
    let settings = OAuthSettings::new("http://127.0.0.1:9/callback")
        .unwrap()
        .with_clock(Arc::new(move || {
            SystemTime::now() + Duration::from_secs(offset.load(Ordering::SeqCst))
        }));
    let flows = OAuthFlows::new(Arc::clone(&store), stores.states, settings).unwrap();
    let spec = Arc::new(refresh_support::spec());
    let instance = refresh_support::instance(Arc::clone(&spec), &provider.url(""));
    flows.register(CONNECTOR, &instance).unwrap();
    let per_user = InstanceRuntime::new(instance)
        .unwrap()
        .with_user_auth(flows.user_auth(CONNECTOR).unwrap());
    let users: Vec<String> = (0..USERS).map(|i| format!("user-{i:02}")).collect();
    for u in &users {
        store
            .put_user_token(&UserTokenKey::oauth(u, CONNECTOR), token(provider.grant(u)))
            .await
            .unwrap();
    }

    // A shared connector whose token lives in the store (one credential for every caller).
    store
        .put_shared_token(SHARED, token(provider.grant("svc")))
        .await
        .unwrap();
    flows.register_client(
        SHARED,
        flows.connector(CONNECTOR).unwrap().client.clone(),
        Vec::new(),
    );
    let text = r#"id: .storm-shared
displayName: Shared storm
description: Uses a shared OAuth token from the store.
minimumLicense: basic
baseUrl: "{{ config.base }}"
auth:
  types: [none]
config:
  type: object
  properties:
    base: { type: string, maxLength: 2048 }
actions:
  me:
    description: Who am I.
    scope: read
    input: { type: object, properties: {} }
    request: { method: GET, path: /api/me }
"#;
    let shared_spec = Arc::new(
        connector_spec::load_str("shared.yaml", text, &LoadOptions::default())
            .spec
            .unwrap(),
    );
    let shared_instance = ConnectorInstance::new(
        Arc::clone(&shared_spec),
        json!({ "base": provider.url("") }),
        json!({}),
    )
    .unwrap();
    let shared = InstanceRuntime::new(shared_instance)
        .unwrap()
        .with_auth(flows.shared_auth(SHARED).unwrap());
    Bench {
        provider,
        _dir: dir,
        clock,
        per_user: Arc::new(per_user),
        shared: Arc::new(shared),
        dispatcher: Registry::new().register_spec((*spec).clone()).unwrap(),
        shared_dispatcher: Registry::new()
            .register_spec((*shared_spec).clone())
            .unwrap(),
        users,
    }
}

impl Bench {
    /// Every stored access token is now past its expiry.
    fn expire_all(&self) {
        self.clock.fetch_add(2 * 3600, Ordering::SeqCst);
    }

    /// `calls` concurrent executions of `me` as `(runtime, user)`; every one must succeed.
    async fn storm(&self, calls: Vec<(Arc<InstanceRuntime>, Arc<Dispatcher>, String)>) {
        let tasks = calls.into_iter().map(|(rt, d, u)| {
            tokio::spawn(async move {
                let ctx = rt.context(&u, CancellationToken::new());
                d.execute(&ctx, "me", json!({}), ExecuteOptions::default())
                    .await
            })
        });
        for r in join_all(tasks.collect::<Vec<_>>()).await {
            r.unwrap().expect("every execution succeeds");
        }
    }

    fn shared_calls(&self) -> Vec<(Arc<InstanceRuntime>, Arc<Dispatcher>, String)> {
        (0..SHARED_CALLS)
            .map(|_| {
                (
                    Arc::clone(&self.shared),
                    Arc::clone(&self.shared_dispatcher),
                    String::new(),
                )
            })
            .collect()
    }

    fn per_user_calls(&self) -> Vec<(Arc<InstanceRuntime>, Arc<Dispatcher>, String)> {
        self.users
            .iter()
            .flat_map(|u| {
                (0..PER_USER).map(move |_| {
                    (
                        Arc::clone(&self.per_user),
                        Arc::clone(&self.dispatcher),
                        u.clone(),
                    )
                })
            })
            .collect()
    }
}

fn bench_refresh(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let b = rt.block_on(setup());
    let mut g = c.benchmark_group("refresh_storm");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(20));

    g.bench_function("shared_1000_on_one_expired_token", |bench| {
        bench.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                b.expire_all();
                let (before, api) = (b.provider.refreshes(), b.provider.api_calls());
                let calls = b.shared_calls();
                let start = Instant::now();
                rt.block_on(b.storm(calls));
                total += start.elapsed();
                assert_eq!(b.provider.refreshes() - before, 1, "one refresh per storm");
                assert_eq!(b.provider.api_calls() - api, SHARED_CALLS);
            }
            total
        })
    });
    println!(
        "  provider: {} refreshes of the shared token in all, 1 per storm",
        b.provider.refreshes_of("svc")
    );

    g.bench_function("per_user_50x20_expired", |bench| {
        bench.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                b.expire_all();
                let before = b.provider.refreshes();
                let calls = b.per_user_calls();
                let start = Instant::now();
                rt.block_on(b.storm(calls));
                total += start.elapsed();
                assert_eq!(
                    b.provider.refreshes() - before,
                    USERS,
                    "one refresh per user per storm"
                );
            }
            total
        })
    });
    println!(
        "  provider: {} per-user refreshes in all, {USERS} per storm",
        b.provider.refreshes() - b.provider.refreshes_of("svc")
    );

    // The shared token expired while the per-user storms moved the clock: refresh it once,
    // outside the measurement.
    rt.block_on(b.storm(b.shared_calls().into_iter().take(1).collect()));
    g.bench_function("shared_1000_on_a_valid_token", |bench| {
        bench.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let before = b.provider.refreshes();
                let calls = b.shared_calls();
                let start = Instant::now();
                rt.block_on(b.storm(calls));
                total += start.elapsed();
                assert_eq!(b.provider.refreshes(), before, "no refresh");
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench_refresh);
criterion_main!(benches);
