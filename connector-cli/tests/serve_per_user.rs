//! The bundled per-user connectors through the real `connector serve`: an admin creates one
//! instance with the deployment's own OAuth client (overriding the spec's endpoints), two
//! people connect their own accounts at a loopback provider that behaves like the vendor,
//! and each one's actions run as them and see only their account's data.

mod support;

use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::{Value, json};
use support::grants::Call;
use support::provider::CANARY;
use support::{
    Serve, Server, atlassian_provider, github_provider, gmail_provider, google_drive_provider,
    google_oauth, notion_provider, salesforce_provider, sharepoint_provider, slack_provider,
    workspace_root,
};

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

    /// Run `action` (which may carry a query, e.g. `search?allPages=true`) on instance `id`:
    /// the answer of the action, refused unless 200.
    async fn run(&self, id: &str, action: &str, input: Value) -> Value {
        let path = format!("/api/instances/{id}/actions/{action}");
        let (st, body) = self.send(Method::POST, &path, Some(input)).await;
        assert_eq!(st, 200, "{action}: {body}");
        body["output"].clone()
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

/// A fresh server loading one bundled spec, its admin, and alice and bob.
struct Deployment {
    server: Server,
    seen: Seen,
    admin: Person,
    alice: Person,
    bob: Person,
}

impl Deployment {
    async fn start(spec: &str) -> Deployment {
        let server = Serve::new()
            .copy_spec(workspace_root().join(spec))
            .args(&["--allow-loopback"])
            .rust_log("debug")
            .start()
            .await;
        let seen = Seen::default();
        let admin = Person::new(&server, "admin", server.add_user("admin", true), &seen);
        let alice = Person::new(&server, "alice", server.add_user("alice", false), &seen);
        let bob = Person::new(&server, "bob", server.add_user("bob", false), &seen);
        Deployment {
            server,
            seen,
            admin,
            alice,
            bob,
        }
    }

    /// The admin creates per-user instance `id` of `connector_type` with `config` (the API
    /// URL, the OAuth endpoints and client id, overriding the spec's) and the client secret.
    async fn create(&self, id: &str, connector_type: &str, mut config: Value, secret: &str) {
        config["authType"] = json!("oauth_authorization_code");
        let instance = json!({
            "id": id, "connectorType": connector_type, "name": id,
            "config": config, "secrets": { "clientSecret": secret },
        });
        let (st, body) = self
            .admin
            .send(Method::POST, "/api/instances", Some(instance))
            .await;
        assert_eq!(st, 201, "{body}");
    }

    /// Before connecting, alice is told how to connect (and the caller checks that nothing
    /// reached the vendor).
    async fn refused_before_connecting(&self, id: &str, action: &str, input: Value) {
        let path = format!("/api/instances/{id}/actions/{action}");
        let (st, body) = self.alice.send(Method::POST, &path, Some(input)).await;
        assert_eq!(st, 403, "{body}");
        assert_eq!(body["error"]["code"], "not_authorized", "{body}");
        let connect = format!("/api/instances/{id}/oauth/start");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&connect),
            "{body}"
        );
    }

    /// alice and bob connect their own accounts.
    async fn connect_both(&self, id: &str) {
        self.alice.connect(id).await;
        self.bob.connect(id).await;
    }

    /// alice and bob with the account each one logs in as at the provider.
    fn people(&self) -> [(&Person, &'static str); 2] {
        [(&self.alice, "alice"), (&self.bob, "bob")]
    }

    /// No code, token or client secret (all start with [`CANARY`]) in any API response or in
    /// the server's debug log.
    fn assert_no_leaks(&self, secret: &str) {
        for body in self.seen.0.lock().unwrap().iter() {
            assert!(!body.contains(CANARY), "a credential in a response: {body}");
        }
        let log = self.server.log_text();
        assert!(!log.contains(secret), "the client secret in the log");
        assert!(!log.contains(CANARY), "a code or token in the log");
    }
}

/// The string field `key` of each item of an action's array output.
fn field_of(output: &Value, key: &str) -> Vec<String> {
    let items = output.as_array().unwrap_or_else(|| panic!("{output}"));
    items
        .iter()
        .map(|i| i[key].as_str().unwrap().to_string())
        .collect()
}

/// The queries of the API calls to `path`, with the accounts they were made for.
fn calls_to<'a>(calls: &'a [Call], path: &str) -> Vec<&'a Call> {
    calls.iter().filter(|c| c.path == path).collect()
}

/// The accounts of `calls`, in order.
fn accounts(calls: &[&Call]) -> Vec<String> {
    calls.iter().map(|c| c.account.clone()).collect()
}

const NOTION_SECRET: &str = "CANARY-notion-client-secret-7d1e";

#[tokio::test]
async fn notion_runs_as_each_person_through_the_server() {
    let (mock, notion) = notion_provider::start(NOTION_SECRET).await;
    let d = Deployment::start("specs/notion.yaml").await;
    let config = json!({
        "apiUrl": format!("http://{mock}"),
        "authorizationUrl": format!("http://{mock}/v1/oauth/authorize?owner=user"),
        "tokenUrl": format!("http://{mock}/v1/oauth/token"),
        "clientId": notion_provider::CLIENT_ID,
    });
    d.create("notion", ".notion", config, NOTION_SECRET).await;
    d.refused_before_connecting("notion", "search", json!({}))
        .await;
    assert!(notion.lock().unwrap().searches.is_empty());
    d.connect_both("notion").await;

    for (person, account) in d.people() {
        let out = person
            .run("notion", "search?allPages=true", json!({ "query": "plan" }))
            .await;
        let expected: Vec<String> = (1..=3).map(|i| format!("{account}-page-{i}")).collect();
        assert_eq!(
            field_of(&out, "id"),
            expected,
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

    d.assert_no_leaks(NOTION_SECRET);
}

const GOOGLE_SECRET: &str = "CANARY-GOCSPX-google-client-secret";

/// The Google instance config: the mock as API, authorization and token endpoint, with the
/// spec's `access_type=offline&prompt=consent` kept on the authorization URL.
fn google_config(mock: std::net::SocketAddr) -> Value {
    json!({
        "apiUrl": format!("http://{mock}"),
        "authorizationUrl": format!("http://{mock}/o/oauth2/v2/auth?access_type=offline&prompt=consent"),
        "tokenUrl": format!("http://{mock}/token"),
        "clientId": google_oauth::CLIENT_ID,
    })
}

#[tokio::test]
async fn google_drive_runs_as_each_person_through_the_server() {
    let (mock, drive) = google_drive_provider::start(GOOGLE_SECRET).await;
    let d = Deployment::start("specs/google_drive.yaml").await;
    d.create("drive", ".google_drive", google_config(mock), GOOGLE_SECRET)
        .await;
    d.refused_before_connecting("drive", "searchFiles", json!({}))
        .await;
    assert!(drive.lock().unwrap().oauth.grants.calls.is_empty());
    d.connect_both("drive").await;

    let input = json!({ "query": "name contains 'plan'", "pageSize": 2 });
    for (person, account) in d.people() {
        let out = person
            .run("drive", "searchFiles?allPages=true", input.clone())
            .await;
        let expected: Vec<String> = (1..=3).map(|i| format!("{account}-doc-{i}")).collect();
        assert_eq!(field_of(&out, "id"), expected, "{account}'s own Drive");
        let doc = format!("{account}-doc-2");
        let out = person
            .run("drive", "getFileContent", json!({ "fileId": doc }))
            .await;
        let text = google_drive_provider::doc_text(account, 2);
        assert_eq!(
            out,
            json!({ "fileId": doc, "mimeType": "text/plain", "text": text })
        );
    }
    // bob's token does not open alice's document: Google's 404, a user error.
    let (st, body) = d
        .bob
        .send(
            Method::POST,
            "/api/instances/drive/actions/getFileContent",
            Some(json!({ "fileId": "alice-doc-1" })),
        )
        .await;
    assert_eq!(st, 400, "{body}");
    assert!(body.to_string().contains("File not found"), "{body}");

    let drive = drive.lock().unwrap();
    let lists = calls_to(&drive.oauth.grants.calls, "/drive/v3/files");
    assert_eq!(accounts(&lists), ["alice", "alice", "bob", "bob"]);
    let fields = "nextPageToken,incompleteSearch,files(id,name,mimeType,modifiedTime,size,webViewLink,owners(displayName,emailAddress))";
    let first = [
        ("q", "name contains 'plan'"),
        ("pageSize", "2"),
        ("fields", fields),
    ];
    assert_eq!(lists[0].pairs(), first);
    let second: Vec<_> = first
        .into_iter()
        .chain([("pageToken", "p2-alice")])
        .collect();
    assert_eq!(lists[1].pairs(), second);
    assert_eq!(lists[3].pairs().last(), Some(&("pageToken", "p2-bob")));
    d.assert_no_leaks(GOOGLE_SECRET);
}

#[tokio::test]
async fn gmail_runs_as_each_person_through_the_server() {
    let (mock, gmail) = gmail_provider::start(GOOGLE_SECRET).await;
    let d = Deployment::start("specs/gmail.yaml").await;
    d.create("gmail", ".gmail", google_config(mock), GOOGLE_SECRET)
        .await;
    d.refused_before_connecting("gmail", "searchMessages", json!({}))
        .await;
    assert!(gmail.lock().unwrap().oauth.grants.calls.is_empty());
    d.connect_both("gmail").await;

    let input = json!({ "query": "subject:plan is:unread", "maxResults": 2 });
    for (person, account) in d.people() {
        let out = person
            .run("gmail", "searchMessages?allPages=true", input.clone())
            .await;
        let expected: Vec<String> = (1..=3)
            .map(|i| gmail_provider::message_id(account, i))
            .collect();
        assert_eq!(field_of(&out, "id"), expected, "{account}'s own mailbox");
        let id = gmail_provider::message_id(account, 3);
        let get = json!({ "id": id, "format": "metadata", "metadataHeaders": ["From", "Subject"] });
        let out = person.run("gmail", "getMessage", get).await;
        assert_eq!(out["threadId"], format!("t-{account}-3"));
        let headers = &out["payload"]["headers"];
        assert_eq!(field_of(headers, "name"), ["From", "Subject"]);
        assert_eq!(headers[1]["value"], format!("Plan 3 of {account}"));
    }

    let gmail = gmail.lock().unwrap();
    let lists = calls_to(&gmail.oauth.grants.calls, "/gmail/v1/users/me/messages");
    assert_eq!(accounts(&lists), ["alice", "alice", "bob", "bob"]);
    let first = [("q", "subject:plan is:unread"), ("maxResults", "2")];
    assert_eq!(lists[0].pairs(), first);
    let second: Vec<_> = first
        .into_iter()
        .chain([("pageToken", "p2-alice")])
        .collect();
    assert_eq!(lists[1].pairs(), second);
    // The repeated metadataHeaders parameter reached Gmail as two parameters.
    let bobs = format!(
        "/gmail/v1/users/me/messages/{}",
        gmail_provider::message_id("bob", 3)
    );
    let get = calls_to(&gmail.oauth.grants.calls, &bobs);
    assert_eq!(accounts(&get), ["bob"]);
    let wanted = [
        ("format", "metadata"),
        ("metadataHeaders", "From"),
        ("metadataHeaders", "Subject"),
    ];
    assert_eq!(get[0].pairs(), wanted);
    d.assert_no_leaks(GOOGLE_SECRET);
}

const GITHUB_SECRET: &str = "CANARY-github-oauth-app-secret-0b1c";

#[tokio::test]
async fn github_runs_as_each_person_through_the_server() {
    let (mock, github) = github_provider::start(GITHUB_SECRET).await;
    let d = Deployment::start("specs/github.yaml").await;
    let config = json!({
        "apiUrl": format!("http://{mock}"),
        "authorizationUrl": format!("http://{mock}/login/oauth/authorize"),
        "tokenUrl": format!("http://{mock}/login/oauth/access_token"),
        "clientId": github_provider::CLIENT_ID,
    });
    d.create("github", ".github", config, GITHUB_SECRET).await;
    d.refused_before_connecting("github", "searchIssues", json!({ "query": "is:issue" }))
        .await;
    assert!(github.lock().unwrap().grants.calls.is_empty());
    // alice's token comes in GitHub's JSON reply, bob's in its form-encoded one.
    d.alice.connect("github").await;
    github.lock().unwrap().form_replies = true;
    d.bob.connect("github").await;

    let input = json!({ "query": "is:issue label:plan", "perPage": 2 });
    for (person, account) in d.people() {
        let out = person
            .run("github", "searchIssues?allPages=true", input.clone())
            .await;
        let titles: Vec<String> = (1..=3).map(|n| format!("{account}'s issue {n}")).collect();
        assert_eq!(field_of(&out, "title"), titles, "{account}'s own issues");
        assert_eq!(out[0]["author"], format!("{account}-gh"));
        let file =
            json!({ "owner": format!("{account}-gh"), "repo": "notes", "path": "docs/plan.md" });
        let out = person.run("github", "getFileContents", file).await;
        assert_eq!(out["text"], github_provider::plan_text(account));
        assert_eq!(out["encoding"], "base64");
    }
    // bob's token does not see alice's repository: GitHub's 404, a user error.
    let file = json!({ "owner": "alice-gh", "repo": "notes", "path": "docs/plan.md" });
    let (st, body) = d
        .bob
        .send(
            Method::POST,
            "/api/instances/github/actions/getFileContents",
            Some(file),
        )
        .await;
    assert_eq!(st, 400, "{body}");
    assert!(body.to_string().contains("Not Found"), "{body}");

    let github = github.lock().unwrap();
    // Both exchanges asked for GitHub's JSON reply (bob's was answered form-encoded anyway).
    assert_eq!(github.token_accepts, ["application/json"; 2]);
    let searches = calls_to(&github.grants.calls, "/search/issues");
    assert_eq!(accounts(&searches), ["alice", "alice", "bob", "bob"]);
    let first = [("q", "is:issue label:plan"), ("per_page", "2")];
    assert_eq!(searches[0].pairs(), first);
    // The next page is the URL of the Link header, as GitHub wrote it.
    let second: Vec<_> = first.into_iter().chain([("page", "2")]).collect();
    assert_eq!(searches[1].pairs(), second);
    d.assert_no_leaks(GITHUB_SECRET);
}

const SLACK_SECRET: &str = "CANARY-slack-app-client-secret-5e2f";

#[tokio::test]
async fn slack_user_runs_as_each_person_through_the_server() {
    let (mock, slack) = slack_provider::start(SLACK_SECRET).await;
    let d = Deployment::start("specs/slack_user.yaml").await;
    let config = json!({
        "apiUrl": format!("http://{mock}/api"),
        "authorizationUrl": format!("http://{mock}/oauth/v2/authorize"),
        "tokenUrl": format!("http://{mock}/api/oauth.v2.access"),
        "clientId": slack_provider::CLIENT_ID,
    });
    d.create("slack", ".slack-user", config, SLACK_SECRET).await;
    d.refused_before_connecting(
        "slack",
        "getChannelHistory",
        json!({ "channel": "C0ALICE" }),
    )
    .await;
    assert!(slack.lock().unwrap().grants.calls.is_empty());
    d.connect_both("slack").await;

    for (person, account) in d.people() {
        let search = json!({ "query": "plan in:#notes", "count": 2 });
        let out = person
            .run("slack", "searchMessages?allPages=true", search)
            .await;
        let texts: Vec<String> = (1..=3).map(|i| format!("{account}'s match {i}")).collect();
        assert_eq!(field_of(&out, "text"), texts, "{account}'s own matches");
        assert_eq!(out[0]["channelId"], slack_provider::channel_id(account));
        let history = json!({ "channel": slack_provider::channel_id(account), "limit": 2 });
        let out = person
            .run("slack", "getChannelHistory?allPages=true", history)
            .await;
        let texts: Vec<String> = [4, 3, 2, 1]
            .iter()
            .map(|i| format!("{account} says {i}"))
            .collect();
        assert_eq!(field_of(&out, "text"), texts, "{account}'s own channel");
    }

    let slack = slack.lock().unwrap();
    let searches = calls_to(&slack.grants.calls, "/search.messages");
    assert_eq!(accounts(&searches), ["alice", "alice", "bob", "bob"]);
    let pages: Vec<_> = searches.iter().map(|c| c.pairs()).collect();
    assert_eq!(
        pages[0],
        [("query", "plan in:#notes"), ("count", "2"), ("page", "1")]
    );
    assert_eq!(
        pages[1],
        [("query", "plan in:#notes"), ("count", "2"), ("page", "2")]
    );
    let history = calls_to(&slack.grants.calls, "/conversations.history");
    assert_eq!(accounts(&history), ["alice", "alice", "bob", "bob"]);
    assert_eq!(history[2].pairs(), [("channel", "C0BOB"), ("limit", "2")]);
    let next = [
        ("channel", "C0BOB"),
        ("limit", "2"),
        ("cursor", "bmV4dF90czobob"),
    ];
    assert_eq!(history[3].pairs(), next);
    d.assert_no_leaks(SLACK_SECRET);
}

const SALESFORCE_SECRET: &str = "CANARY-salesforce-consumer-secret-9a4d";

#[tokio::test]
async fn salesforce_runs_as_each_person_in_their_own_org_through_the_server() {
    let (mock, sf) = salesforce_provider::start(SALESFORCE_SECRET).await;
    let d = Deployment::start("specs/salesforce.yaml").await;
    // The login URL is the deployment's; each person's org comes from their token reply.
    let config = json!({
        "loginUrl": format!("http://{mock}"),
        "clientId": salesforce_provider::CLIENT_ID,
    });
    d.create("crm", ".salesforce", config, SALESFORCE_SECRET)
        .await;
    let soql = json!({ "soql": "SELECT Id, Name FROM Account LIMIT 10" });
    d.refused_before_connecting("crm", "query", soql.clone())
        .await;
    d.connect_both("crm").await;
    for (person, account) in d.people() {
        let out = person.run("crm", "query", soql.clone()).await;
        let names = field_of(&out["records"], "Name");
        assert_eq!(
            names,
            [format!("{account} Energy"), format!("{account} Retail")]
        );
    }
    let sf = sf.lock().unwrap();
    let queries = calls_to(&sf.grants.calls, "/query");
    assert_eq!(
        accounts(&queries),
        ["alice", "bob"],
        "each in their own org"
    );
    assert_eq!(
        queries[0].pairs(),
        [("q", "SELECT Id, Name FROM Account LIMIT 10")]
    );
    d.assert_no_leaks(SALESFORCE_SECRET);
}

const ATLASSIAN_SECRET: &str = "CANARY-atlassian-3lo-secret-6c2b";

#[tokio::test]
async fn jira_cloud_discovers_each_persons_site_through_the_server() {
    let (mock, atl) = atlassian_provider::start(ATLASSIAN_SECRET).await;
    let d = Deployment::start("specs/jira_cloud.yaml").await;
    let config = json!({
        "apiUrl": format!("http://{mock}"),
        "authorizationUrl": format!("http://{mock}/authorize?audience=api.atlassian.com&prompt=consent"),
        "tokenUrl": format!("http://{mock}/oauth/token"),
        "clientId": atlassian_provider::CLIENT_ID,
    });
    d.create("jira", ".jira-cloud", config, ATLASSIAN_SECRET)
        .await;
    let jql = json!({ "jql": "assignee = currentUser() ORDER BY updated DESC" });
    d.refused_before_connecting("jira", "searchIssues", jql.clone())
        .await;
    d.connect_both("jira").await;
    for (person, account) in d.people() {
        let out = person
            .run("jira", "searchIssues?allPages=true", jql.clone())
            .await;
        let expected: Vec<String> = (1..=3).map(|n| format!("{account}'s issue {n}")).collect();
        let summaries: Vec<String> = out
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["fields"]["summary"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(summaries, expected, "{account}'s own site");
    }
    let atl = atl.lock().unwrap();
    let who: Vec<&str> = atl.searches.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(who, ["alice", "alice", "bob", "bob"]);
    assert_eq!(atl.searches[0].1["maxResults"], 100);
    assert!(atl.searches[0].1.get("nextPageToken").is_none());
    assert_eq!(atl.searches[1].1["nextPageToken"], "p2");
    d.assert_no_leaks(ATLASSIAN_SECRET);
}

const M365_SECRET: &str = "CANARY-entra-client-secret-4f8e";

#[tokio::test]
async fn sharepoint_online_runs_as_each_person_through_the_server() {
    let (mock, m365) = sharepoint_provider::start(M365_SECRET).await;
    let d = Deployment::start("specs/sharepoint_online.yaml").await;
    let tenant = sharepoint_provider::TENANT;
    let config = json!({
        "tenantId": tenant,
        "apiUrl": format!("http://{mock}"),
        "authorizationUrl": format!("http://{mock}/{tenant}/oauth2/v2.0/authorize"),
        "tokenUrl": format!("http://{mock}/{tenant}/oauth2/v2.0/token"),
        "clientId": sharepoint_provider::CLIENT_ID,
    });
    d.create("sharepoint", ".sharepoint-online", config, M365_SECRET)
        .await;
    let search = json!({ "query": "plans" });
    d.refused_before_connecting("sharepoint", "listSites", search.clone())
        .await;
    d.connect_both("sharepoint").await;
    for (person, account) in d.people() {
        let out = person
            .run("sharepoint", "listSites?allPages=true", search.clone())
            .await;
        let names: Vec<String> = (1..=3).map(|n| format!("{account}-site-{n}")).collect();
        assert_eq!(field_of(&out, "name"), names, "{account}'s own sites");
        let file = json!({ "driveId": format!("{account}-drive"), "itemId": "01BYE5RZ" });
        let out = person.run("sharepoint", "getFileText", file).await;
        assert_eq!(out["text"], format!("# {account}'s 01BYE5RZ\nplans\n"));
    }
    // bob's token does not reach alice's drive: Graph's itemNotFound, a user error.
    let file = json!({ "driveId": "alice-drive", "itemId": "01BYE5RZ" });
    let path = "/api/instances/sharepoint/actions/getFileText";
    let (st, body) = d.bob.send(Method::POST, path, Some(file)).await;
    assert_eq!(st, 400, "{body}");

    let m = m365.lock().unwrap();
    let sites = calls_to(&m.grants.calls, "/v1.0/sites");
    assert_eq!(accounts(&sites), ["alice", "alice", "bob", "bob"]);
    assert_eq!(sites[0].pairs(), [("search", "plans")]);
    // The second page is Graph's @odata.nextLink as it was sent.
    assert_eq!(
        sites[1].pairs(),
        [("search", "plans"), ("$skiptoken", "page2")]
    );
    let downloads: Vec<&str> = m.downloads.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        downloads,
        ["/personal/alice/01BYE5RZ", "/personal/bob/01BYE5RZ"]
    );
    assert!(
        m.downloads.iter().all(|(_, authorized)| !authorized),
        "the Graph token never reaches the download host"
    );
    d.assert_no_leaks(M365_SECRET);
}
