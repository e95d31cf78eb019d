//! Durability of per-user tokens across SIGKILL in the middle of a refresh storm.
//!
//! A custom harness (`harness = false`): the test binary is both the parent and the child.
//! The parent runs a loopback OAuth provider that accepts every refresh token exactly once
//! and rotates it, keeping a ledger of every token it issued (and whether each was presented
//! back or used at the API). It seeds a real SQLite token store with one expired token per
//! user, then starts this binary again as a child (`KILL_TEST_ROLE=storm`) that opens the store
//! and runs concurrent executions for every user, each of which refreshes (the provider's
//! access tokens live 0 s), and kills the child with SIGKILL mid-storm. A second child
//! (`KILL_TEST_ROLE=verify`) then opens the same store and executes once per user.
//!
//! Three scenarios:
//!
//! 1. `kill_while_refreshes_are_held`: the provider holds the next refresh of every user
//!    (before touching any token), then the child is killed. Every refresh token the child
//!    presented had been committed before it was presented, so after the restart every user's
//!    stored token is the provider's current one and every user executes successfully.
//! 2. `kill_and_restart_at_arbitrary_moments`: the provider keeps a rotated-out refresh token
//!    valid until its successor is first used ([`Rotation::UntilSuccessorUsed`], rotation with
//!    a grace for lost responses). Three times over, a storm runs on the store the previous
//!    child left and is killed after a random number of refreshes, wherever that lands. After
//!    every kill, for every user: the store file passes `PRAGMA integrity_check`, the stored
//!    refresh token is one the provider still accepts, and every rotation issued after it was
//!    never presented nor used: no rotated refresh token the process had used is lost. After
//!    the last kill every user executes, and the provider never refused a refresh token.
//! 3. `kill_with_a_strict_provider`: a provider that accepts a refresh token only once, no
//!    hold, the kill lands wherever it lands. For every user the stored refresh token is the
//!    provider's current one, or exactly the one before it when the kill fell between the
//!    provider issuing a rotation and the store committing it; then the newer token was never
//!    presented nor used (tokens are written before use). The restarted process executes as
//!    every user of the first kind; users of the second kind get the typed `token_revoked`
//!    error: no client can recover a rotation whose response died with it when the provider
//!    has already invalidated the old token. The store passes `PRAGMA integrity_check`.
//!
//!     cargo test -p connector-runtime --test kill

mod refresh_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use connector_runtime::oauth::{OAuthFlows, OAuthSettings};
use connector_runtime::store::{
    ExposeSecret, SecretString, Timestamp, TokenData, TokenStore, UserTokenKey,
};
use connector_runtime::{ExecuteOptions, InstanceRuntime, Registry};
use futures::future::join_all;
use refresh_support::{CONNECTOR, Gate, Rotation, StormProvider};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const ROLE_ENV: &str = "KILL_TEST_ROLE";
const STORE_ENV: &str = "KILL_TEST_STORE";
const PROVIDER_ENV: &str = "KILL_TEST_PROVIDER";
const USERS_ENV: &str = "KILL_TEST_USERS";

const USERS: usize = 50;
/// Concurrent executions per user in the storm.
const PER_USER: usize = 4;
/// Refreshes (in all) the provider must have served before the kill: the storm is running.
const BEFORE_KILL: usize = USERS * 3;
/// Kill-and-restart cycles in `kill_and_restart_at_arbitrary_moments`.
const CYCLES: usize = 3;
/// A guard against a hang turning into a stuck test; far longer than any run needs.
const HANG_GUARD: Duration = Duration::from_secs(300);

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("storm") => rt.block_on(child_storm()),
        Ok("verify") => rt.block_on(child_verify()),
        Ok(other) => panic!("unknown {ROLE_ENV} `{other}`"),
        Err(_) => {
            // `cargo test -- <filter>` runs the scenarios whose names contain the filter.
            let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
            let run = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
            if run("kill_while_refreshes_are_held") {
                println!("test kill_while_refreshes_are_held ...");
                rt.block_on(kill_while_refreshes_are_held());
                println!("test kill_while_refreshes_are_held ... ok");
            }
            if run("kill_and_restart_at_arbitrary_moments") {
                println!("test kill_and_restart_at_arbitrary_moments ...");
                rt.block_on(kill_and_restart_at_arbitrary_moments());
                println!("test kill_and_restart_at_arbitrary_moments ... ok");
            }
            if run("kill_with_a_strict_provider") {
                println!("test kill_with_a_strict_provider ...");
                rt.block_on(kill_with_a_strict_provider());
                println!("test kill_with_a_strict_provider ... ok");
            }
        }
    }
}

fn users() -> Vec<String> {
    (0..USERS).map(|i| format!("user-{i:02}")).collect()
}

// ---- the child ----

fn child_users() -> Vec<String> {
    let n: usize = std::env::var(USERS_ENV)
        .expect("users")
        .parse()
        .expect("a number");
    (0..n).map(|i| format!("user-{i:02}")).collect()
}

/// The child's runtime: the store at `$KILL_TEST_STORE`, the provider at
/// `$KILL_TEST_PROVIDER`, the per-user connector registered as [`CONNECTOR`].
async fn child_runtime() -> (Arc<InstanceRuntime>, Arc<connector_runtime::Dispatcher>) {
    let path = PathBuf::from(std::env::var(STORE_ENV).expect("store path"));
    let base = std::env::var(PROVIDER_ENV).expect("provider URL");
    let stores = refresh_support::open_store(&path).await.stores();
    let flows = OAuthFlows::new(
        stores.tokens,
        stores.states,
        OAuthSettings::new("http://127.0.0.1:9/callback").expect("settings"),
    )
    .expect("flows");
    let spec = Arc::new(refresh_support::spec());
    let instance = refresh_support::instance(Arc::clone(&spec), &base);
    flows.register(CONNECTOR, &instance).expect("register");
    let runtime = InstanceRuntime::new(instance)
        .expect("runtime")
        .with_user_auth(flows.user_auth(CONNECTOR).expect("user auth"));
    let dispatcher = Registry::new()
        .register_spec((*spec).clone())
        .expect("dispatcher");
    (Arc::new(runtime), dispatcher)
}

async fn me(
    rt: &InstanceRuntime,
    d: &connector_runtime::Dispatcher,
    user: &str,
) -> Result<Value, connector_runtime::ActionError> {
    let ctx = rt.context(user, CancellationToken::new());
    d.execute(&ctx, "me", json!({}), ExecuteOptions::default())
        .await
}

/// Execute `me` for every user, `PER_USER` loops each, until killed. Any failure ends the
/// child with exit code 3 (the parent then reports it).
async fn child_storm() {
    let (rt, d) = child_runtime().await;
    let loops = child_users().into_iter().flat_map(|u| {
        let (rt, d) = (Arc::clone(&rt), Arc::clone(&d));
        (0..PER_USER).map(move |_| {
            let (rt, d, u) = (Arc::clone(&rt), Arc::clone(&d), u.clone());
            tokio::spawn(async move {
                loop {
                    match me(&rt, &d, &u).await {
                        Ok(v) if v == json!({ "user": u }) => {}
                        other => {
                            println!("storm failure for {u}: {other:?}");
                            std::process::exit(3);
                        }
                    }
                }
            })
        })
    });
    join_all(loops.collect::<Vec<_>>()).await;
}

/// Execute `me` once per user; print one JSON line per user: `{"user", "ok"}` or
/// `{"user", "code"}`.
async fn child_verify() {
    let (rt, d) = child_runtime().await;
    let calls = child_users().into_iter().map(|u| {
        let (rt, d) = (Arc::clone(&rt), Arc::clone(&d));
        tokio::spawn(async move {
            let r = me(&rt, &d, &u).await;
            match r {
                Ok(v) => json!({ "user": u, "ok": v == json!({ "user": u }) }),
                Err(e) => json!({ "user": u, "code": e.code }),
            }
        })
    });
    for line in join_all(calls.collect::<Vec<_>>()).await {
        println!("{}", line.expect("task"));
    }
}

// ---- the parent ----

struct World {
    provider: StormProvider,
    _dir: tempfile::TempDir,
    store: PathBuf,
}

/// The provider (access tokens live 0 s, so every execution refreshes first) and a store
/// holding one token per user, issued by the provider, already expired.
async fn world(rotation: Rotation) -> World {
    let provider = StormProvider::start_with(0, rotation).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store_path = dir.path().join("tokens.db");
    let store = refresh_support::open_store(&store_path).await;
    for u in users() {
        let link = provider.grant(&u);
        store
            .put_user_token(
                &UserTokenKey::oauth(&u, CONNECTOR),
                TokenData {
                    access_token: SecretString::from(link.access_token),
                    refresh_token: Some(SecretString::from(link.refresh_token)),
                    token_type: "Bearer".into(),
                    scope: None,
                    expires_at: Some(Timestamp::now().minus(Duration::from_secs(1))),
                    refresh_token_expires_at: None,
                },
            )
            .await
            .expect("seed");
    }
    store.close().await;
    World {
        provider,
        _dir: dir,
        store: store_path,
    }
}

fn child(role: &str, w: &World) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .env(ROLE_ENV, role)
        .env(STORE_ENV, &w.store)
        .env(PROVIDER_ENV, w.provider.url(""))
        .env(USERS_ENV, USERS.to_string())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the child")
}

/// Start the storm and wait until the provider has served `until` refreshes in all (or fail
/// with the child's output if it stopped by itself).
async fn storm(w: &World, until: usize) -> Child {
    let mut c = child("storm", w);
    let started =
        tokio::time::timeout(HANG_GUARD, w.provider.until(|p| p.refreshes() >= until)).await;
    if let Ok(Some(status)) = c.try_wait() {
        let out = c.wait_with_output().expect("output");
        panic!(
            "the storm child ended by itself ({status}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    started.expect("the storm got under way");
    c
}

/// SIGKILL (`Child::kill` on Unix), then reap it.
fn kill(mut c: Child) {
    c.kill().expect("SIGKILL the child");
    let status = c.wait().expect("reap the child");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "the child died of SIGKILL: {status}"
        );
    }
}

/// Run the verify child; its per-user results.
async fn verify(w: &World) -> Vec<Value> {
    let c = child("verify", w);
    let out = tokio::task::spawn_blocking(move || c.wait_with_output())
        .await
        .expect("join")
        .expect("verify output");
    assert!(
        out.status.success(),
        "verify child failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), USERS);
    lines
}

async fn integrity_ok(path: &Path) {
    use sqlx::Row;
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(path))
        .await
        .expect("open the file");
    let row = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .expect("integrity check");
    let verdict: String = row.try_get(0).expect("a verdict");
    assert_eq!(verdict, "ok", "the store file is intact");
    pool.close().await;
}

/// Every user's stored refresh token, read with a fresh store (as a restarted process).
async fn stored_refresh_tokens(path: &Path) -> Vec<(String, String, bool)> {
    let store = refresh_support::open_store(path).await;
    let mut out = Vec::new();
    for u in users() {
        let r = store
            .get_user_token(&UserTokenKey::oauth(&u, CONNECTOR))
            .await
            .expect("the record opens")
            .unwrap_or_else(|| panic!("{u}'s token survived"));
        let rt = r
            .refresh_token
            .as_ref()
            .expect("a refresh token")
            .expose_secret()
            .to_string();
        out.push((u, rt, r.revoked));
    }
    store.close().await;
    out
}

async fn kill_while_refreshes_are_held() {
    let w = world(Rotation::Strict).await;
    let c = storm(&w, BEFORE_KILL).await;
    // From now on every refresh waits at the provider before touching any token. Each user
    // has one refresh in flight at a time (the single-flight lock), so all users end up
    // waiting with the refresh token their process read from the store.
    w.provider.set_gate(Gate::Hold);
    tokio::time::timeout(HANG_GUARD, w.provider.until(|p| p.held().len() >= USERS))
        .await
        .expect("every user's next refresh reached the provider");
    kill(c);
    w.provider.set_gate(Gate::Drop);
    let refreshed = w.provider.refreshes();
    assert!(refreshed >= BEFORE_KILL, "{refreshed}");
    assert_eq!(w.provider.refused(), 0, "no spent token was ever presented");

    integrity_ok(&w.store).await;
    let held = w.provider.held();
    for (u, stored, revoked) in stored_refresh_tokens(&w.store).await {
        assert!(!revoked, "{u}");
        let chain = w.provider.chain(&u);
        let current = &chain.last().expect("a chain").refresh_token;
        assert_eq!(
            &stored, current,
            "{u}: the stored token is the provider's current one"
        );
        let presented: Vec<&str> = held
            .iter()
            .filter(|h| h.user == u)
            .map(|h| h.refresh_token.as_str())
            .collect();
        assert_eq!(presented, [current.as_str()], "{u}");
    }

    // Restarted: every user acts, refreshing from the stored token.
    let before: Vec<usize> = users().iter().map(|u| w.provider.chain(u).len()).collect();
    w.provider.set_gate(Gate::Open);
    for line in verify(&w).await {
        assert_eq!(line["ok"], json!(true), "{line}");
    }
    for (u, n) in users().iter().zip(before) {
        let chain = w.provider.chain(u);
        assert_eq!(chain.len(), n + 1, "{u} refreshed once after the restart");
        assert!(
            chain.last().unwrap().used,
            "{u}'s new token reached the API"
        );
    }
    assert_eq!(w.provider.refused(), 0);
    println!(
        "  {USERS} users, {refreshed} refreshes before SIGKILL with {USERS} held; after the \
         restart all {USERS} users executed"
    );
}

async fn kill_and_restart_at_arbitrary_moments() {
    let w = world(Rotation::UntilSuccessorUsed).await;
    let mut in_flight = Vec::new();
    for cycle in 1..=CYCLES {
        // A restarted process storms on the store the killed one left, and dies after a
        // random number of further refreshes.
        let until = w.provider.refreshes() + USERS / 2 + rand::random_range(0..USERS * 3);
        let c = storm(&w, until).await;
        kill(c);
        assert_eq!(
            w.provider.refused(),
            0,
            "cycle {cycle}: no refresh was refused"
        );
        integrity_ok(&w.store).await;
        let mut behind = 0;
        for (u, stored, revoked) in stored_refresh_tokens(&w.store).await {
            assert!(!revoked, "cycle {cycle}: {u}");
            let chain = w.provider.chain(&u);
            let pos = chain
                .iter()
                .position(|l| l.refresh_token == stored)
                .unwrap_or_else(|| panic!("{u}: the stored token is one the provider issued"));
            assert!(
                !chain[pos].abandoned,
                "cycle {cycle}: {u}'s stored token still works at the provider"
            );
            // Nothing issued after the stored token was ever presented or used: every
            // rotation the process acted on is in the store.
            for later in &chain[pos + 1..] {
                assert!(
                    !later.confirmed(),
                    "cycle {cycle}: {u} lost a rotation it had used: {later:?}"
                );
            }
            if pos + 1 < chain.len() {
                behind += 1;
            }
        }
        in_flight.push(behind);
    }
    let refreshed = w.provider.refreshes();
    for line in verify(&w).await {
        assert_eq!(line["ok"], json!(true), "{line}");
    }
    assert_eq!(w.provider.refused(), 0, "no refresh token was ever refused");
    println!(
        "  {USERS} users, {CYCLES} SIGKILLs at random moments, {refreshed} refreshes: users \
         with a rotation in flight at each kill {in_flight:?}; after every restart their \
         stored token still worked, and all {USERS} users executed after the last one"
    );
}

async fn kill_with_a_strict_provider() {
    let w = world(Rotation::Strict).await;
    let c = storm(&w, BEFORE_KILL).await;
    kill(c);
    let refreshed = w.provider.refreshes();
    assert_eq!(w.provider.refused(), 0, "no spent token was ever presented");

    integrity_ok(&w.store).await;
    let mut current_users = Vec::new();
    let mut behind_users = Vec::new();
    for (u, stored, revoked) in stored_refresh_tokens(&w.store).await {
        assert!(!revoked, "{u}");
        let chain = w.provider.chain(&u);
        let pos = chain
            .iter()
            .position(|l| l.refresh_token == stored)
            .unwrap_or_else(|| panic!("{u}: the stored token is one the provider issued"));
        let head = chain.len() - 1;
        if pos == head {
            current_users.push(u);
        } else {
            assert_eq!(pos + 1, head, "{u}: at most one rotation behind");
            // The rotation the store missed was issued as the process died: nobody had
            // presented or used it, because a token is committed before it is used.
            let lost = &chain[head];
            assert!(!lost.presented && !lost.used, "{u}: {lost:?}");
            assert!(
                chain[pos].presented,
                "{u}: the stored token was being refreshed"
            );
            behind_users.push(u);
        }
    }

    for line in verify(&w).await {
        let u = line["user"].as_str().expect("user").to_string();
        if current_users.contains(&u) {
            assert_eq!(line["ok"], json!(true), "{line}");
        } else {
            assert_eq!(line["code"], json!("token_revoked"), "{line}");
        }
    }
    assert_eq!(
        w.provider.refused(),
        behind_users.len(),
        "only the users one rotation behind were refused"
    );
    println!(
        "  {USERS} users, {refreshed} refreshes before SIGKILL: {} users at the provider's \
         current token (all executed after the restart), {} one rotation behind (the \
         rotation in flight at the kill; never used; they must authorize again)",
        current_users.len(),
        behind_users.len()
    );
}
