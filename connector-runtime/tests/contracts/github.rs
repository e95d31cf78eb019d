//! `.github`: GitHub REST as the user who connected their account through an OAuth app. Two
//! users (alice and bob, two GitHub accounts) go through the real authorization code flow
//! against a loopback GitHub (`/login/oauth/access_token` answering GitHub's JSON), then every
//! action runs as one of them: GitHub's headers, the user's own bearer token, `Link` paging,
//! base64 file contents and GitHub's error replies.

use super::*;
use contract_support::per_user::{PerUser, REDIRECT_URI, form_field};
use wiremock::matchers::body_string_contains;

const CLIENT_ID: &str = "Ov23liGHcontract0001";
const ALICE_TOKEN: &str = "gho_aliceAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const BOB_TOKEN: &str = "gho_bobBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const TOKEN_PATH: &str = "/login/oauth/access_token";

/// The S256 PKCE challenge of a verifier (RFC 7636 4.2).
pub(crate) fn s256(verifier: &str) -> String {
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

/// A query parameter of a URL.
pub(crate) fn url_param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A loopback GitHub whose token endpoint gives each user's code that user's token (GitHub's
/// JSON reply to `Accept: application/json`: no refresh token, comma-separated scopes).
async fn mock_github() -> MockServer {
    let server = loopback().await;
    for (code, token) in [("code-alice", ALICE_TOKEN), ("code-bob", BOB_TOKEN)] {
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .and(body_string_contains(format!("code={code}&")))
            .respond_with(json_reply(json!({
                "access_token": token, "token_type": "bearer", "scope": "repo,read:user"
            })))
            .mount(&server)
            .await;
    }
    server
}

/// The per-user instance: the deployment's OAuth app (client id, the canary as its secret) and
/// the mock as token URL and API root, overriding the spec's github.com defaults.
async fn instance(server: &MockServer) -> PerUser {
    PerUser::new(
        load_spec("github.yaml"),
        json!({
            "authType": "oauth_authorization_code",
            "clientId": CLIENT_ID,
            "tokenUrl": format!("{}{TOKEN_PATH}", server.uri()),
            "apiUrl": server.uri(),
        }),
        json!({ "clientSecret": CANARY }),
    )
    .await
}

/// alice and bob, both connected.
async fn connected() -> (MockServer, PerUser) {
    let server = mock_github().await;
    let gh = instance(&server).await;
    gh.connect("alice", "code-alice")
        .await
        .unwrap_or_else(|e| panic!("alice: {e}"));
    gh.connect("bob", "code-bob")
        .await
        .unwrap_or_else(|e| panic!("bob: {e}"));
    (server, gh)
}

/// The API requests the mock received (not the token requests).
async fn api_requests(server: &MockServer) -> Vec<wiremock::Request> {
    requests(server)
        .await
        .into_iter()
        .filter(|r| r.url.path() != TOKEN_PATH)
        .collect()
}

/// GitHub's headers and the user's own token (GitHub refuses a request without User-Agent).
fn assert_github_headers(r: &wiremock::Request, token: &str) {
    assert_eq!(
        header(r, "accept").as_deref(),
        Some("application/vnd.github+json")
    );
    assert_eq!(
        header(r, "x-github-api-version").as_deref(),
        Some("2022-11-28")
    );
    assert_eq!(header(r, "authorization"), Some(format!("Bearer {token}")));
    assert!(header(r, "user-agent").is_some_and(|ua| !ua.is_empty()));
}

#[tokio::test]
async fn github_oauth_flow_for_two_users_sends_githubs_parameters() {
    let server = mock_github().await;
    let gh = instance(&server).await;
    let mut challenges = Vec::new();
    for (user, code) in [("alice", "code-alice"), ("bob", "code-bob")] {
        let url = gh
            .connect(user, code)
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
        // The spec's default, not overridden: GitHub's authorize endpoint.
        assert_eq!(
            url.as_str().split('?').next(),
            Some("https://github.com/login/oauth/authorize")
        );
        assert_eq!(url_param(&url, "client_id").as_deref(), Some(CLIENT_ID));
        assert_eq!(url_param(&url, "response_type").as_deref(), Some("code"));
        assert_eq!(
            url_param(&url, "redirect_uri").as_deref(),
            Some(REDIRECT_URI)
        );
        assert_eq!(url_param(&url, "scope").as_deref(), Some("repo read:user"));
        assert_eq!(
            url_param(&url, "code_challenge_method").as_deref(),
            Some("S256")
        );
        assert!(url_param(&url, "state").is_some_and(|s| s.len() >= 32));
        challenges.push(url_param(&url, "code_challenge").expect("code_challenge"));
    }
    // The overridden token URL: both exchanges reached the mock.
    let tokens = requests(&server).await;
    assert_eq!(tokens.len(), 2);
    for ((r, code), challenge) in tokens
        .iter()
        .zip(["code-alice", "code-bob"])
        .zip(&challenges)
    {
        assert_line(r, "POST", TOKEN_PATH);
        assert_eq!(header(r, "accept").as_deref(), Some("application/json"));
        assert_eq!(
            header(r, "authorization"),
            None,
            "GitHub takes the client in the body"
        );
        let field = |k| form_field(r, k);
        assert_eq!(field("grant_type").as_deref(), Some("authorization_code"));
        assert_eq!(field("code").as_deref(), Some(code));
        assert_eq!(field("redirect_uri").as_deref(), Some(REDIRECT_URI));
        assert_eq!(field("client_id").as_deref(), Some(CLIENT_ID));
        assert_eq!(field("client_secret").as_deref(), Some(CANARY));
        let verifier = field("code_verifier").expect("code_verifier");
        assert_eq!(
            &s256(&verifier),
            challenge,
            "the verifier of that user's challenge"
        );
    }
    // Each user's connection test carries that user's token.
    mount_any(&server, json_reply(json!({ "login": "someone", "id": 1 }))).await;
    for (user, token) in [("alice", ALICE_TOKEN), ("bob", BOB_TOKEN)] {
        gh.test_as(user).await.unwrap_or_else(|e| panic!("{e}"));
        let r = api_requests(&server).await.pop().expect("GET /user");
        assert_line(&r, "GET", "/user");
        assert_github_headers(&r, token);
    }
}

fn search_item(number: u64, pr: bool) -> Value {
    let mut item = json!({
        "url": format!("https://api.github.com/repos/octo-org/octo-repo/issues/{number}"),
        "repository_url": "https://api.github.com/repos/octo-org/octo-repo",
        "html_url": format!("https://github.com/octo-org/octo-repo/issues/{number}"),
        "id": 1000 + number, "node_id": "MDU6SXNzdWUx", "number": number,
        "title": format!("Item {number}"), "state": "open", "locked": false,
        "user": { "login": "alice-gh", "id": 501, "type": "User" },
        "labels": [ { "id": 208045946, "name": "bug", "color": "f29513", "default": true } ],
        "assignee": null, "assignees": [], "milestone": null, "comments": number * 2,
        "created_at": "2026-11-01T10:00:00Z", "updated_at": "2026-11-02T10:00:00Z",
        "closed_at": null, "author_association": "OWNER", "body": "Steps to reproduce", "score": 1.0
    });
    if pr {
        item["pull_request"] = json!({ "url": "https://api.github.com/repos/octo-org/octo-repo/pulls/1",
            "html_url": "https://github.com/octo-org/octo-repo/pull/1", "merged_at": null });
    }
    item
}

/// Two pages of search results (3 items): the first links to the second, the second to none.
/// Returns the next link.
async fn mount_search_pages(server: &MockServer) -> String {
    let next = format!(
        "{}/search/issues?q=is%3Apr+label%3Abug%2Cui&per_page=2&sort=updated&order=desc&page=2",
        server.uri()
    );
    let page = |items: Value, total: u64| json!({ "total_count": total, "incomplete_results": false, "items": items });
    Mock::given(method("GET"))
        .and(path("/search/issues"))
        .and(query_param_is_missing("page"))
        .respond_with(
            json_reply(page(
                json!([search_item(1, true), search_item(2, false)]),
                3,
            ))
            .insert_header(
                "link",
                format!("<{next}>; rel=\"next\", <{next}>; rel=\"last\""),
            ),
        )
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/search/issues"))
        .and(query_param("page", "2"))
        .respond_with(json_reply(page(json!([search_item(3, false)]), 3)))
        .mount(server)
        .await;
    next
}

#[tokio::test]
async fn github_search_issues_follows_the_link_header_as_the_user() {
    let (server, gh) = connected().await;
    let next = mount_search_pages(&server).await;
    let input =
        json!({ "query": "is:pr label:bug,ui", "perPage": 2, "sort": "updated", "order": "desc" });
    let out = gh
        .run_all_as("alice", "searchIssues", input)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let out = out.as_array().expect("an array");
    assert_eq!(out.len(), 3);
    assert_eq!(
        out[0],
        json!({
            "number": 1, "title": "Item 1", "state": "open", "isPullRequest": true,
            "url": "https://github.com/octo-org/octo-repo/issues/1",
            "repositoryUrl": "https://api.github.com/repos/octo-org/octo-repo",
            "author": "alice-gh", "labels": ["bug"], "comments": 2,
            "createdAt": "2026-11-01T10:00:00Z", "updatedAt": "2026-11-02T10:00:00Z",
            "closedAt": null, "body": "Steps to reproduce"
        })
    );
    assert_eq!(out[1]["isPullRequest"], json!(false));
    assert_eq!(out[2]["number"], json!(3));
    let rs = api_requests(&server).await;
    assert_eq!(rs.len(), 2);
    assert_line(&rs[0], "GET", "/search/issues");
    assert_query(
        &rs[0],
        &[
            ("q", "is:pr label:bug,ui"),
            ("per_page", "2"),
            ("sort", "updated"),
            ("order", "desc"),
        ],
    );
    assert!(
        next.ends_with(&format!(
            "{}?{}",
            rs[1].url.path(),
            rs[1].url.query().unwrap()
        )),
        "the next link followed whole: {}",
        rs[1].url
    );
    for r in &rs {
        assert_github_headers(r, ALICE_TOKEN);
    }

    // bob's search carries bob's token, never alice's.
    let out = gh
        .run_as(
            "bob",
            "searchIssues",
            json!({ "query": "is:issue assignee:@me" }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.as_array().map(Vec::len), Some(2));
    let r = api_requests(&server).await.pop().expect("bob's search");
    assert_query(&r, &[("q", "is:issue assignee:@me"), ("per_page", "30")]);
    assert_github_headers(&r, BOB_TOKEN);
}

#[tokio::test]
async fn github_get_issue_as_bob() {
    let (server, gh) = connected().await;
    let mut issue = search_item(42, false);
    issue["state"] = json!("closed");
    issue["state_reason"] = json!("completed");
    issue["closed_at"] = json!("2026-11-03T09:00:00Z");
    issue["assignees"] = json!([{ "login": "bob-gh", "id": 502 }, { "login": "carol", "id": 503 }]);
    issue["milestone"] = json!({ "number": 3, "title": "v1.2", "state": "open" });
    Mock::given(method("GET"))
        .and(path("/repos/octo-org/octo-repo/issues/42"))
        .respond_with(json_reply(issue))
        .mount(&server)
        .await;
    let out = gh
        .run_as(
            "bob",
            "getIssue",
            json!({ "owner": "octo-org", "repo": "octo-repo", "issueNumber": 42 }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({
            "number": 42, "title": "Item 42", "state": "closed", "stateReason": "completed",
            "isPullRequest": false, "url": "https://github.com/octo-org/octo-repo/issues/42",
            "author": "alice-gh", "assignees": ["bob-gh", "carol"], "labels": ["bug"],
            "milestone": "v1.2", "comments": 84, "createdAt": "2026-11-01T10:00:00Z",
            "updatedAt": "2026-11-02T10:00:00Z", "closedAt": "2026-11-03T09:00:00Z",
            "body": "Steps to reproduce"
        })
    );
    let r = api_requests(&server).await.pop().expect("one request");
    assert_line(&r, "GET", "/repos/octo-org/octo-repo/issues/42");
    assert_query(&r, &[]);
    assert_github_headers(&r, BOB_TOKEN);

    // `..` is no repository name: refused before anything is sent.
    let e = gh
        .run_as(
            "bob",
            "getIssue",
            json!({ "owner": "octo-org", "repo": "..", "issueNumber": 1 }),
        )
        .await
        .expect_err("`..` as repo");
    assert_eq!(e.class, ErrorClass::User);
    assert_eq!(api_requests(&server).await.len(), 1);
}

fn pull_request() -> Value {
    json!({
        "url": "https://api.github.com/repos/octo-org/octo-repo/pulls/1347", "id": 1,
        "html_url": "https://github.com/octo-org/octo-repo/pull/1347", "number": 1347,
        "state": "open", "locked": false, "title": "Amazing new feature",
        "user": { "login": "octocat", "id": 1 }, "body": "Please pull these awesome changes in!",
        "labels": [], "milestone": null, "draft": false, "merged": false, "mergeable": true,
        "requested_reviewers": [{ "login": "other_user", "id": 2 }],
        "head": { "label": "octocat:new-topic", "ref": "new-topic", "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
                  "repo": { "full_name": "octocat/Hello-World" } },
        "base": { "label": "octo-org:main", "ref": "main", "sha": "e5bd3914e2e596debea16f433f57875b5b90bcd6",
                  "repo": { "full_name": "octo-org/octo-repo" } },
        "created_at": "2026-01-26T19:01:12Z", "updated_at": "2026-01-26T19:01:12Z",
        "merged_at": null, "commits": 3, "additions": 100, "deletions": 3, "changed_files": 5
    })
}

#[tokio::test]
async fn github_get_pull_request_as_alice() {
    let (server, gh) = connected().await;
    Mock::given(method("GET"))
        .and(path("/repos/octo-org/octo-repo/pulls/1347"))
        .respond_with(json_reply(pull_request()))
        .mount(&server)
        .await;
    let out = gh
        .run_as(
            "alice",
            "getPullRequest",
            json!({ "owner": "octo-org", "repo": "octo-repo", "pullNumber": 1347 }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        json!({
            "number": 1347, "title": "Amazing new feature", "state": "open", "draft": false,
            "merged": false, "mergeable": true, "url": "https://github.com/octo-org/octo-repo/pull/1347",
            "author": "octocat",
            "head": { "ref": "new-topic", "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e", "repo": "octocat/Hello-World" },
            "base": { "ref": "main", "sha": "e5bd3914e2e596debea16f433f57875b5b90bcd6", "repo": "octo-org/octo-repo" },
            "requestedReviewers": ["other_user"], "commits": 3, "additions": 100, "deletions": 3,
            "changedFiles": 5, "createdAt": "2026-01-26T19:01:12Z", "updatedAt": "2026-01-26T19:01:12Z",
            "mergedAt": null, "body": "Please pull these awesome changes in!"
        })
    );
    let r = api_requests(&server).await.pop().expect("one request");
    assert_line(&r, "GET", "/repos/octo-org/octo-repo/pulls/1347");
    assert_github_headers(&r, ALICE_TOKEN);
}

/// GitHub's base64 of a file: standard alphabet, a `\n` after every 60 characters and at the end.
fn github_base64(text: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(60)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!("{}\n", lines.join("\n"))
}

fn file_reply(path: &str, text: &str) -> Value {
    json!({
        "type": "file", "encoding": "base64", "size": text.len(), "name": path.rsplit('/').next(),
        "path": path, "content": github_base64(text), "sha": "3d21ec53a331a6f037a91c368710b99387d012c1",
        "url": format!("https://api.github.com/repos/octo-org/octo-repo/contents/{path}"),
        "html_url": format!("https://github.com/octo-org/octo-repo/blob/main/{path}"),
        "download_url": format!("https://raw.githubusercontent.com/octo-org/octo-repo/main/{path}"),
        "_links": {}
    })
}

#[tokio::test]
async fn github_get_file_contents_decodes_wrapped_base64() {
    let (server, gh) = connected().await;
    let text = "name: CI\non: [push, pull_request]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo \"caf\u{e9} \u{2713}\"\n";
    Mock::given(method("GET"))
        .and(path(
            "/repos/octo-org/octo-repo/contents/.github/workflows/ci.yml",
        ))
        .respond_with(json_reply(file_reply(".github/workflows/ci.yml", text)))
        .mount(&server)
        .await;
    let input = json!({ "owner": "octo-org", "repo": "octo-repo", "path": ".github/workflows/ci.yml", "ref": "release/1.2" });
    let out = gh
        .run_as("bob", "getFileContents", input)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        file_reply("x", text)["content"]
            .as_str()
            .unwrap()
            .matches('\n')
            .count()
            > 2
    );
    assert_eq!(
        out,
        json!({
            "name": "ci.yml", "path": ".github/workflows/ci.yml",
            "sha": "3d21ec53a331a6f037a91c368710b99387d012c1", "size": text.len(),
            "url": "https://github.com/octo-org/octo-repo/blob/main/.github/workflows/ci.yml",
            "encoding": "base64", "text": text
        })
    );
    let r = api_requests(&server).await.pop().expect("one request");
    // Each segment encoded on its own, the `/` between them kept.
    assert_line(
        &r,
        "GET",
        "/repos/octo-org/octo-repo/contents/.github/workflows/ci.yml",
    );
    assert_query(&r, &[("ref", "release/1.2")]);
    assert_github_headers(&r, BOB_TOKEN);
}

#[tokio::test]
async fn github_get_file_contents_large_files_directories_and_dot_segments() {
    let (server, gh) = connected().await;
    // Over 1 MB GitHub sends `encoding: none` and no content.
    let mut big = file_reply("data/big file.csv", "");
    big["encoding"] = json!("none");
    big["size"] = json!(5_242_880);
    Mock::given(method("GET"))
        .and(path(
            "/repos/octo-org/octo-repo/contents/data/big%20file.csv",
        ))
        .respond_with(json_reply(big))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/octo-org/octo-repo/contents/src"))
        .respond_with(json_reply(json!([
            { "type": "file", "name": "main.rs", "path": "src/main.rs", "size": 120, "sha": "a" },
            { "type": "dir", "name": "bin", "path": "src/bin", "size": 0, "sha": "b" }
        ])))
        .mount(&server)
        .await;
    let run = |p: &str| {
        gh.run_as(
            "alice",
            "getFileContents",
            json!({ "owner": "octo-org", "repo": "octo-repo", "path": p }),
        )
    };
    let out = run("data/big file.csv")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (&out["encoding"], &out["text"], &out["size"]),
        (&json!("none"), &Value::Null, &json!(5_242_880))
    );
    let e = run("src").await.expect_err("a directory");
    assert_eq!(e.class, ErrorClass::User);
    assert!(e.message.contains("src is a directory, not a file"), "{e}");
    for bad in [
        "../../user",
        "src/../../../user",
        "src//main.rs",
        "/etc",
        ".",
    ] {
        let e = run(bad).await.expect_err(bad);
        assert_eq!(e.class, ErrorClass::User, "{bad}");
    }
    assert_eq!(
        api_requests(&server).await.len(),
        2,
        "the refused paths were never sent"
    );
}

fn repo(full_name: &str) -> Value {
    let (owner, name) = full_name.split_once('/').unwrap();
    json!({
        "id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": name, "full_name": full_name,
        "owner": { "login": owner, "id": 1, "type": "User" }, "private": owner == "bob-gh",
        "html_url": format!("https://github.com/{full_name}"), "description": "This your first repo!",
        "fork": false, "language": "Rust", "default_branch": "main", "archived": false,
        "pushed_at": "2026-10-06T21:30:03Z", "created_at": "2024-01-26T19:01:12Z",
        "updated_at": "2026-10-06T21:30:03Z", "permissions": { "admin": true, "push": true, "pull": true }
    })
}

#[tokio::test]
async fn github_list_my_repositories_pages_as_bob() {
    let (server, gh) = connected().await;
    let next = format!("{}/user/repos?sort=pushed&per_page=2&page=2", server.uri());
    Mock::given(method("GET"))
        .and(path("/user/repos"))
        .and(query_param_is_missing("page"))
        .respond_with(
            json_reply(json!([repo("bob-gh/dotfiles"), repo("octo-org/octo-repo")])).insert_header(
                "link",
                format!("<{next}>; rel=\"next\", <{next}>; rel=\"last\""),
            ),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/user/repos"))
        .and(query_param("page", "2"))
        .respond_with(json_reply(json!([repo("octo-org/tools")])))
        .mount(&server)
        .await;
    let out = gh
        .run_all_as(
            "bob",
            "listMyRepositories",
            json!({ "sort": "pushed", "perPage": 2 }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = out
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fullName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["bob-gh/dotfiles", "octo-org/octo-repo", "octo-org/tools"]
    );
    assert_eq!(
        out[0],
        json!({
            "fullName": "bob-gh/dotfiles", "name": "dotfiles", "owner": "bob-gh", "private": true,
            "description": "This your first repo!", "url": "https://github.com/bob-gh/dotfiles",
            "defaultBranch": "main", "language": "Rust", "archived": false, "fork": false,
            "updatedAt": "2026-10-06T21:30:03Z", "pushedAt": "2026-10-06T21:30:03Z"
        })
    );
    let rs = api_requests(&server).await;
    assert_eq!(rs.len(), 2);
    assert_line(&rs[0], "GET", "/user/repos");
    assert_query(&rs[0], &[("sort", "pushed"), ("per_page", "2")]);
    assert!(
        next.ends_with(&format!(
            "{}?{}",
            rs[1].url.path(),
            rs[1].url.query().unwrap()
        )),
        "{}",
        rs[1].url
    );
    for r in &rs {
        assert_github_headers(r, BOB_TOKEN);
    }
}

#[tokio::test]
async fn github_error_replies_are_classified_without_the_secret() {
    let (server, gh) = connected().await;
    let docs = "https://docs.github.com/rest";
    let reset = (std::time::SystemTime::now() + std::time::Duration::from_secs(1800))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let cases = [
        (
            "/repos/o/unauthorized/issues/1",
            ResponseTemplate::new(401)
                .set_body_json(json!({ "message": "Bad credentials", "documentation_url": docs, "status": "401" })),
            ErrorClass::Auth,
        ),
        (
            "/repos/o/validation/issues/1",
            ResponseTemplate::new(422).set_body_json(json!({
                "message": "Validation Failed", "documentation_url": docs, "status": "422",
                "errors": [{ "resource": "Search", "field": "q", "code": "invalid",
                             "message": "The listed users cannot be searched" }]
            })),
            ErrorClass::User,
        ),
        (
            "/repos/o/limited/issues/1",
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string())
                .set_body_json(json!({ "message": "API rate limit exceeded for user ID 502.", "documentation_url": docs })),
            ErrorClass::RateLimited,
        ),
    ];
    for (p, reply, _) in &cases {
        Mock::given(method("GET"))
            .and(path(*p))
            .respond_with(reply.clone())
            .mount(&server)
            .await;
    }
    for (p, _, class) in cases {
        let repo = p.split('/').nth(3).unwrap();
        // run_as checks that the canary (the client secret) is in no error.
        let e = gh
            .run_as(
                "bob",
                "getIssue",
                json!({ "owner": "o", "repo": repo, "issueNumber": 1 }),
            )
            .await
            .expect_err(p);
        assert_eq!(e.class, class, "{p}: {e}");
        assert!(
            !e.to_string().contains(BOB_TOKEN) && !e.to_string().contains(ALICE_TOKEN),
            "{e}"
        );
        if class == ErrorClass::User {
            assert!(
                e.message
                    .contains("Validation Failed; The listed users cannot be searched"),
                "{e}"
            );
        }
    }
}
