//! The bundled per-user connectors through the real `connector serve`: an admin creates one
//! instance with the deployment's own OAuth client (overriding the spec's endpoints), two
//! people connect their own accounts at a loopback provider that behaves like the vendor,
//! and each one's actions run as them and see only their account's data.

mod support;

use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::{Value, json};
use support::notion_provider;
use support::provider::CANARY;
use support::{Serve, Server, workspace_root};

const CLIENT_SECRET: &str = "CANARY-notion-client-secret-7d1e";

/// Every response body seen, for the leak scan.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

/// One person's browser: their `x-account` at the provider, cookies, and their API key.
struct Person {
    c: reqwest::Client,
    base: String,
    key: String,
    seen: Seen,
}

impl Person {
    fn new(server: &Server, account: &str, key: String, seen: &Seen) -> Person {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-account", account.parse().unwrap());
        Person {
            c: reqwest::Client::builder()
                .cookie_store(true)
                .default_headers(h)
                .build()
                .unwrap(),
            base: server.base.clone(),
            key,
            seen: seen.clone(),
        }
    }

    async fn send(&self, m: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .c
            .request(m, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        self.seen.0.lock().unwrap().push(text.clone());
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The browser flow: start, the provider's login and redirect, the server's callback.
    async fn connect(&self, id: &str) {
        let resp = self
            .c
            .get(format!("{}/api/instances/{id}/oauth/start", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("connected"), "{body}");
    }
}

#[tokio::test]
async fn notion_runs_as_each_person_through_the_server() {
    let (mock, notion) = notion_provider::start(CLIENT_SECRET).await;
    let server = Serve::new()
        .copy_spec(workspace_root().join("specs/notion.yaml"))
        .args(&["--allow-loopback"])
        .start()
        .await;
    let seen = Seen::default();
    let admin = Person::new(&server, "admin", server.add_user("admin", true), &seen);
    let alice = Person::new(&server, "alice", server.add_user("alice", false), &seen);
    let bob = Person::new(&server, "bob", server.add_user("bob", false), &seen);

    // The deployment's own client and endpoints override the spec's Notion defaults.
    let instance = json!({
        "id": "notion",
        "connectorType": ".notion",
        "name": "Notion",
        "config": {
            "authType": "oauth_authorization_code",
            "apiUrl": format!("http://{mock}"),
            "authorizationUrl": format!("http://{mock}/v1/oauth/authorize?owner=user"),
            "tokenUrl": format!("http://{mock}/v1/oauth/token"),
            "clientId": notion_provider::CLIENT_ID,
        },
        "secrets": { "clientSecret": CLIENT_SECRET },
    });
    let (st, body) = admin
        .send(Method::POST, "/api/instances", Some(instance))
        .await;
    assert_eq!(st, 201, "{body}");

    // Before connecting: told how to connect, and nothing reaches Notion.
    let (st, body) = alice
        .send(
            Method::POST,
            "/api/instances/notion/actions/search",
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 403, "{body}");
    assert_eq!(body["error"]["code"], "not_authorized", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/api/instances/notion/oauth/start"),
        "{body}"
    );
    assert!(notion.lock().unwrap().searches.is_empty());

    alice.connect("notion").await;
    bob.connect("notion").await;

    for (person, account) in [(&alice, "alice"), (&bob, "bob")] {
        let (st, body) = person
            .send(
                Method::POST,
                "/api/instances/notion/actions/search?allPages=true",
                Some(json!({ "query": "plan" })),
            )
            .await;
        assert_eq!(st, 200, "{body}");
        let ids: Vec<&str> = body["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = (1..=3).map(|i| format!("{account}-page-{i}")).collect();
        assert_eq!(
            ids, expected,
            "{account} sees their own workspace, all pages"
        );
    }

    // Each page request carried the cursor in the body, for the account that asked.
    let searches = notion.lock().unwrap().searches.clone();
    let accounts: Vec<&str> = searches.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(accounts, ["alice", "alice", "bob", "bob"]);
    assert_eq!(searches[0].1["page_size"], 100);
    assert!(searches[0].1.get("start_cursor").is_none());
    assert_eq!(searches[1].1["start_cursor"], "c2");
    assert_eq!(searches[1].1["query"], "plan");

    // No token, code or client secret ever reaches an API response.
    for body in seen.0.lock().unwrap().iter() {
        assert!(!body.contains(CANARY), "a credential in a response: {body}");
    }
    let log = server.log_text();
    assert!(!log.contains(CLIENT_SECRET), "the client secret in the log");
    assert!(!log.contains("CANARY-ntn-"), "an access token in the log");
}
