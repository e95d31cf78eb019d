//! Token store latency on SQLite (a real file in a temp dir, WAL, synchronous=FULL):
//! reading and writing tokens, as the OAuth flows and the executor do.
//!
//!     cargo bench -p connector-runtime --bench store

use std::hint::black_box;
use std::time::Duration;

use connector_runtime::store::{
    Keyring, NewOAuthState, OAuthStateStore, SecretString, SqliteStore, Timestamp, TokenData,
    TokenStore, TokenUpdate, UserTokenKey,
};
use criterion::{Criterion, criterion_group, criterion_main};

const USERS: usize = 1_000;

fn token(i: usize) -> TokenData {
    TokenData {
        access_token: SecretString::from(format!("access-token-{i:06}-{}", "x".repeat(64))),
        refresh_token: Some(SecretString::from(format!("refresh-token-{i:06}"))),
        token_type: "Bearer".into(),
        scope: Some("channels:read chat:write".into()),
        expires_at: Some(Timestamp::now().plus(Duration::from_secs(3600))),
        refresh_token_expires_at: None,
    }
}

fn bench_store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let keys = Keyring::single("bench", &[7u8; 32]).unwrap();
    let store = rt.block_on(async {
        let store = SqliteStore::open(dir.path().join("bench.db"), keys)
            .await
            .unwrap();
        for i in 0..USERS {
            store
                .put_user_token(&UserTokenKey::oauth(format!("user-{i}"), "slack"), token(i))
                .await
                .unwrap();
        }
        store.put_shared_token("slack", token(0)).await.unwrap();
        store
    });
    let keys: Vec<UserTokenKey> = (0..USERS)
        .map(|i| UserTokenKey::oauth(format!("user-{i}"), "slack"))
        .collect();

    let mut g = c.benchmark_group("token_store_sqlite");
    g.sample_size(50);

    let mut n = 0usize;
    g.bench_function("read_user_token", |b| {
        b.iter(|| {
            n = (n + 7919) % USERS;
            let t = rt.block_on(store.get_user_token(&keys[n])).unwrap();
            black_box(t)
        })
    });

    g.bench_function("read_shared_token", |b| {
        b.iter(|| black_box(rt.block_on(store.get_shared_token("slack")).unwrap()))
    });

    // A refresh result written back (the write the refresh path waits for): one fsync'd
    // commit.
    let ids: Vec<_> = keys
        .iter()
        .map(|k| rt.block_on(store.get_user_token(k)).unwrap().unwrap().id)
        .collect();
    let mut n = 0usize;
    g.bench_function("update_user_token_after_refresh", |b| {
        b.iter(|| {
            n = (n + 7919) % USERS;
            let update = TokenUpdate {
                access_token: SecretString::from(format!("refreshed-{n}")),
                refresh_token: Some(SecretString::from(format!("rotated-{n}"))),
                refresh_token_expires_at: None,
                token_type: None,
                scope: None,
                expires_at: Some(Timestamp::now().plus(Duration::from_secs(3600))),
            };
            let user = &keys[n].user_id;
            black_box(
                rt.block_on(store.update_user_token(user, &ids[n], None, update))
                    .unwrap(),
            )
        })
    });

    let mut n = 0usize;
    g.bench_function("put_user_token", |b| {
        b.iter(|| {
            n = (n + 7919) % USERS;
            black_box(
                rt.block_on(store.put_user_token(&keys[n], token(n)))
                    .unwrap(),
            )
        })
    });

    g.bench_function("insert_and_consume_state", |b| {
        b.iter(|| {
            rt.block_on(async {
                let now = Timestamp::now();
                let s = store
                    .insert_state(NewOAuthState::new(
                        "slack",
                        "user-1",
                        SecretString::from("verifier-0123456789abcdef0123456789abcdef012"),
                        now,
                    ))
                    .await
                    .unwrap();
                black_box(store.consume_state(&s.state, "user-1", now).await.unwrap())
            })
        })
    });
    g.finish();

    // Many readers at once (a burst of executions looking up their users' tokens).
    let mut g = c.benchmark_group("token_store_sqlite_concurrent");
    g.sample_size(20);
    g.bench_function("read_user_token_x100_concurrent", |b| {
        b.iter(|| {
            rt.block_on(async {
                let futs = (0..100).map(|i| store.get_user_token(&keys[(i * 37) % USERS]));
                for r in futures::future::join_all(futs).await {
                    black_box(r.unwrap());
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench_store);
criterion_main!(benches);
