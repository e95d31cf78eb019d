//! Three real `connector serve` processes on one PostgreSQL database, behind one public base
//! URL, against a provider that rotates refresh tokens strictly (a superseded one is refused
//! and recorded) and counts refreshes:
//!
//! - a storm of 50 users x 20 concurrent actions on expiring tokens, spread over the three:
//!   exactly one refresh per user at the provider, every call answered as its own user;
//! - the same storm on refused access tokens with one instance SIGKILLed while refreshes are
//!   held at the provider: the other two keep serving, no user loses a token, and no
//!   superseded refresh token ever reaches the provider;
//! - a user created through the CLI works on every instance; an OAuth flow started on one
//!   instance completes on another (the callback's instance is the public base URL's), and an
//!   instance created through one is used through the others.
//!
//! The database is created for the test and dropped afterwards; PostgreSQL must be running
//! (127.0.0.1:5432, or `CONNECTOR_TEST_DATABASE_URL`).

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

#[path = "support/rotating_provider.rs"]
mod rotating_provider;
mod support;

use rotating_provider::Rotating;
use support::provider::{per_user_instance, per_user_spec};
use support::{Serve, Server, bin, free_port, run_ok};

const CLIENT_SECRET: &str = "canary-scale-secret-7q2w";
const USERS: usize = 50;
const CALLS_PER_USER: usize = 20;

/// A database of its own on the test server, dropped when this goes away (pass or fail).
struct TestDb {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDb {
    async fn create() -> TestDb {
        let admin_url = std::env::var("CONNECTOR_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
        let name = format!("connector_scale_{}_{:08x}", std::process::id(), rand_u32());
        connector_runtime::store::postgres::create_database(&admin_url, &name)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL at {} is not usable ({e}): start it, or set \
                     CONNECTOR_TEST_DATABASE_URL to a server where databases can be created",
                    connector_runtime::store::redacted_url(&admin_url)
                )
            });
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        TestDb {
            admin_url,
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let _ = rt.block_on(connector_runtime::store::postgres::drop_database(
                &admin, &name,
            ));
        })
        .join();
    }
}

fn rand_u32() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    t.subsec_nanos() ^ (t.as_secs() as u32).rotate_left(7)
}

/// The three servers, their shared key and database.
struct Cluster {
    servers: Vec<Server>,
    db: TestDb,
    key: String,
    provider: Rotating,
}

impl Cluster {
    async fn start() -> Cluster {
        let db = TestDb::create().await;
        let key = String::from_utf8(run_ok(Command::new(bin()).args(["keys", "generate"])).stdout)
            .unwrap()
            .trim()
            .to_string();
        let provider = Rotating::start(CLIENT_SECRET).await;
        // Every instance builds the OAuth redirect URI from one public base URL: the second
        // instance's, as a load balancer in front of them would be.
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let public = format!("http://127.0.0.1:{}", ports[1]);
        let mut servers = Vec::new();
        for port in &ports {
            let s = Serve::new()
                .spec("peruser.yaml", &per_user_spec(".peruser-scale"))
                .args(&[
                    "--allow-loopback",
                    "--database-url",
                    &db.url,
                    "--public-base-url",
                    &public,
                    "--oauth-rate-per-minute",
                    "1000",
                ])
                .listen(format!("127.0.0.1:{port}").parse().unwrap())
                .env("CONNECTOR_KEY", &key)
                .spawn();
            servers.push(s);
        }
        for s in &servers {
            s.wait_ready().await;
        }
        Cluster {
            servers,
            db,
            key,
            provider,
        }
    }

    /// `connector users add` against the shared database (no server involved).
    fn cli_user(&self, name: &str, admin: bool) -> String {
        let mut cmd = Command::new(bin());
        cmd.args(["users", "add", name, "--database-url", &self.db.url])
            .env_remove("CONNECTOR_KEY");
        if admin {
            cmd.arg("--admin");
        }
        let key = String::from_utf8(run_ok(&mut cmd).stdout).unwrap();
        key.trim().to_string()
    }
}

async fn call(
    c: &reqwest::Client,
    base: &str,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), reqwest::Error> {
    let mut r = c.request(method, format!("{base}{path}")).bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await?;
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

fn instance_body(p: &Rotating) -> Value {
    let base = format!("http://{}", p.addr);
    per_user_instance(p.addr, "files", ".peruser-scale", &base, CLIENT_SECRET)
}

/// Connect `key`'s account `account` without a browser: start on `start`, log in at the
/// provider, and deliver the callback (to the public base URL's instance) with the API key.
async fn connect(c: &reqwest::Client, start: &str, key: &str, account: &str) {
    let (st, v) = call(
        c,
        start,
        key,
        Method::POST,
        "/api/instances/files/oauth/start",
        None,
    )
    .await
    .unwrap();
    assert_eq!(st, 200, "{v}");
    let auth_url = v["authorizationUrl"].as_str().unwrap();
    let r = c
        .get(auth_url)
        .header("x-account", account)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let callback = r.headers()["location"].to_str().unwrap().to_string();
    let r = c.get(&callback).bearer_auth(key).send().await.unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Connected"), "{body}");
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()
        .unwrap()
}

/// 50 users (created through instance 1's API), each connected to account `acct-<i>`.
async fn connected_users(cl: &Cluster, admin: &str) -> Vec<(String, String)> {
    let c = no_redirects();
    let mut users = Vec::new();
    for i in 0..USERS {
        let base = &cl.servers[0].base;
        let (st, v) = call(
            &c,
            base,
            admin,
            Method::POST,
            "/api/users",
            Some(json!({ "name": format!("user{i}") })),
        )
        .await
        .unwrap();
        assert_eq!(st, 201, "{v}");
        let key = v["key"]["key"].as_str().unwrap().to_string();
        // Started on instance i % 3, completed on the public base URL's instance.
        connect(&c, &cl.servers[i % 3].base, &key, &format!("acct-{i}")).await;
        users.push((key, format!("acct-{i}")));
    }
    users
}

/// Every user runs `me` CALLS_PER_USER times at once, spread over `bases`; a call whose
/// instance is gone (connection refused or reset) goes to the next live one, as a load
/// balancer retries. Returns the number of calls that had to move.
async fn storm(users: &[(String, String)], bases: &[String], alive: &[bool]) -> usize {
    let c = no_redirects();
    let calls = users.iter().enumerate().flat_map(|(u, (key, account))| {
        let c = c.clone();
        (0..CALLS_PER_USER).map(move |k| {
            let c = c.clone();
            async move {
                let mut target = (u + k) % bases.len();
                let mut moved = 0;
                loop {
                    let r = call(
                        &c,
                        &bases[target],
                        key,
                        Method::POST,
                        "/api/instances/files/actions/me",
                        Some(json!({})),
                    )
                    .await;
                    match r {
                        Ok((st, v)) => {
                            assert_eq!(st, 200, "user {u} call {k} on {target}: {v}");
                            assert_eq!(v["output"]["account"], account.as_str(), "{v}");
                            return moved;
                        }
                        Err(e) => {
                            assert!(!alive[target], "a live instance failed: {e}");
                            moved += 1;
                            target = (target + 1) % bases.len();
                        }
                    }
                }
            }
        })
    });
    join_all(calls).await.into_iter().sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_refresh_each_token_once_and_survive_a_sigkill() {
    let mut cl = Cluster::start().await;
    let bases: Vec<String> = cl.servers.iter().map(|s| s.base.clone()).collect();
    // A user created through the CLI (no server involved) is known to every instance.
    let admin = cl.cli_user("admin", true);
    let c = no_redirects();
    for b in &bases {
        let (st, v) = call(&c, b, &admin, Method::GET, "/api/users", None)
            .await
            .unwrap();
        assert_eq!(st, 200, "{v}");
    }
    // An instance created through instance 1 is used through the others.
    let (st, v) = call(
        &c,
        &bases[0],
        &admin,
        Method::POST,
        "/api/instances",
        Some(instance_body(&cl.provider)),
    )
    .await
    .unwrap();
    assert_eq!(st, 201, "{v}");
    let users = connected_users(&cl, &admin).await;

    // Storm 1: every token has expired (the provider gave them one second).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t = Instant::now();
    let moved = storm(&users, &bases, &[true, true, true]).await;
    let storm1 = t.elapsed();
    assert_eq!(moved, 0);
    assert_eq!(
        cl.provider.rotations(),
        USERS as u64,
        "one refresh per user"
    );
    assert!(cl.provider.books().rotations.values().all(|n| *n == 1));

    // Storm 2: the provider refuses every access token (each call's 401 forces a refresh)
    // and holds the refreshes; instance 3 is killed while they are held.
    cl.provider.refuse_current_access_tokens();
    cl.provider.set_gate(false);
    let alive = [true, true, false];
    let storm2 = tokio::spawn({
        let users = users.clone();
        let bases = bases.clone();
        async move { storm(&users, &bases, &alive).await }
    });
    let held = wait_until_held(&cl.provider).await;
    cl.servers[2].child.kill().unwrap();
    cl.servers[2].child.wait().unwrap();
    // Its connections are gone: the provider dropped its held refreshes unrotated, and
    // PostgreSQL ended its sessions, releasing its refresh locks.
    tokio::time::sleep(Duration::from_millis(500)).await;
    cl.provider.set_gate(true);
    let moved = storm2.await.unwrap();
    {
        let b = cl.provider.books();
        assert!(
            b.superseded_presented.is_empty(),
            "superseded refresh tokens reached the provider: {:?}",
            b.superseded_presented
        );
        assert_eq!(
            b.rotations.values().sum::<u64>(),
            2 * USERS as u64,
            "one more refresh per user: {:?}",
            b.rotations
        );
    }
    eprintln!(
        "storm 1: {} calls in {storm1:?}, {USERS} refreshes; storm 2: {held} refreshes held at \
         the kill, {moved} calls moved off the killed instance",
        USERS * CALLS_PER_USER
    );

    // After the storm every user still works, on both survivors.
    for (key, account) in users.iter().take(5) {
        for b in &bases[..2] {
            let (st, v) = call(
                &c,
                b,
                key,
                Method::POST,
                "/api/instances/files/actions/me",
                Some(json!({})),
            )
            .await
            .unwrap();
            assert_eq!(
                (st, v["output"]["account"].as_str()),
                (200, Some(account.as_str()))
            );
        }
    }
    browser_flow_across_instances(&cl, &admin).await;
    other_keys_are_refused_at_start(&cl);
}

/// An instance with another operator key, or none, refuses to start on the shared database,
/// saying why, instead of failing later on each sealed value.
fn other_keys_are_refused_at_start(cl: &Cluster) {
    let other = String::from_utf8(
        run_ok(Command::new(bin()).args(["keys", "generate", "--id", "k1"])).stdout,
    )
    .unwrap();
    assert_ne!(other.trim(), cl.key);
    for (key, expect) in [
        (Some(other.trim()), "CONNECTOR_KEY"),
        (None, "no operator key"),
    ] {
        let mut s = Serve::new()
            .spec("peruser.yaml", &per_user_spec(".peruser-scale"))
            .args(&["--database-url", &cl.db.url]);
        if let Some(k) = key {
            s = s.env("CONNECTOR_KEY", k);
        }
        let mut server = s.spawn();
        let status = wait_exit(&mut server.child, Duration::from_secs(30));
        let log = server.log_text();
        assert!(!status.success(), "started with another key: {log}");
        assert!(log.contains(expect), "{log}");
        assert!(
            !log.contains(&cl.key) && !log.contains(other.trim()),
            "{log}"
        );
    }
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until the provider holds refreshes and no more arrive for a moment; how many it holds.
async fn wait_until_held(p: &Rotating) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = (0, Instant::now());
    loop {
        let n = p.books().waiting;
        if n != last.0 {
            last = (n, Instant::now());
        } else if n > 0 && last.1.elapsed() > Duration::from_millis(300) {
            return n;
        }
        assert!(Instant::now() < deadline, "no refresh reached the provider");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A browser starts a flow on instance 1; the provider sends it to the public base URL
/// (instance 2), which completes it from the flow cookie alone; the account then works.
async fn browser_flow_across_instances(cl: &Cluster, admin: &str) {
    let c = no_redirects();
    let (st, v) = call(
        &c,
        &cl.servers[0].base,
        admin,
        Method::POST,
        "/api/users",
        Some(json!({ "name": "carol" })),
    )
    .await
    .unwrap();
    assert_eq!(st, 201, "{v}");
    let carol = v["key"]["key"].as_str().unwrap().to_string();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-account", "carol-account".parse().unwrap());
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .build()
        .unwrap();
    let r = browser
        .get(format!(
            "{}/api/instances/files/oauth/start",
            cl.servers[0].base
        ))
        .bearer_auth(&carol)
        .send()
        .await
        .unwrap();
    let landed = r.url().clone();
    let body = r.text().await.unwrap();
    assert_eq!(
        landed.port(),
        cl.servers[1].addr.port().into(),
        "the callback is served by instance 2"
    );
    assert!(body.contains("Connected"), "{body}");
    let mut seen = HashMap::new();
    for s in &cl.servers[..2] {
        let (st, v) = call(
            &c,
            &s.base,
            &carol,
            Method::POST,
            "/api/instances/files/actions/me",
            Some(json!({})),
        )
        .await
        .unwrap();
        seen.insert(s.addr.port(), (st, v["output"]["account"].clone()));
    }
    assert!(
        seen.values()
            .all(|(st, a)| *st == 200 && a == "carol-account"),
        "{seen:?}"
    );
}
