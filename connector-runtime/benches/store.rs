//! Token store latency on SQLite (a real file in a temp dir, WAL, synchronous=FULL) and on
//! PostgreSQL (a database created for the run on `CONNECTOR_TEST_DATABASE_URL`, default
//! postgres://postgres@127.0.0.1:5432/postgres, dropped afterwards), side by side: reading and
//! writing tokens, as the OAuth flows and the executor do.
//!
//!     cargo bench -p connector-runtime --bench store

use std::hint::black_box;
use std::time::Duration;

use connector_runtime::store::{
    Database, Keyring, NewOAuthState, SecretString, Stores, Timestamp, TokenData, TokenUpdate,
    UserTokenKey,
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
    let sqlite = Database::Sqlite(dir.path().join("bench.db"));
    bench_backend(c, &rt, "sqlite", &sqlite);
    let admin = std::env::var("CONNECTOR_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let name = format!("connector_bench_{}", std::process::id());
    rt.block_on(connector_runtime::store::postgres::create_database(
        &admin, &name,
    ))
    .unwrap_or_else(|e| panic!("PostgreSQL at {admin} for the bench: {e}"));
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    bench_backend(c, &rt, "postgres", &Database::Postgres(url.to_string()));
    rt.block_on(connector_runtime::store::postgres::drop_database(
        &admin, &name,
    ))
    .unwrap();
}

fn bench_backend(c: &mut Criterion, rt: &tokio::runtime::Runtime, backend: &str, db: &Database) {
    let keys = Keyring::single("bench", &[7u8; 32]).unwrap();
    let open = rt.block_on(async {
        let open = db.open(keys).await.unwrap();
        for i in 0..USERS {
            open.stores
                .tokens
                .put_user_token(&UserTokenKey::oauth(format!("user-{i}"), "slack"), token(i))
                .await
                .unwrap();
        }
        open.stores
            .tokens
            .put_shared_token("slack", token(0))
            .await
            .unwrap();
        open
    });
    let Stores {
        tokens: store,
        states,
        ..
    } = open.stores.clone();
    let keys: Vec<UserTokenKey> = (0..USERS)
        .map(|i| UserTokenKey::oauth(format!("user-{i}"), "slack"))
        .collect();

    let mut g = c.benchmark_group(format!("token_store_{backend}"));
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
                let s = states
                    .insert_state(NewOAuthState::new(
                        "slack",
                        "user-1",
                        SecretString::from("verifier-0123456789abcdef0123456789abcdef012"),
                        now,
                    ))
                    .await
                    .unwrap();
                black_box(states.consume_state(&s.state, "user-1", now).await.unwrap())
            })
        })
    });
    g.finish();

    // Many readers at once (a burst of executions looking up their users' tokens).
    let mut g = c.benchmark_group(format!("token_store_{backend}_concurrent"));
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
    rt.block_on(open.close());
}

criterion_group!(benches, bench_store);
criterion_main!(benches);
