//! `ctx.http()`, the request helper of `handler: code` actions, against a loopback wiremock
//! server: the instance's auth and retry policy apply, paths resolve against the base URL,
//! non-2xx replies are classified, and a body that is not the expected JSON is a typed error.

use std::sync::Arc;

use async_trait::async_trait;
use connector_runtime::compiled::Secret;
use connector_runtime::{
    ActionContext, ActionError, ActionHandler, ConnectorInstance, DeclarativeConnector, ErrorClass,
    ExecuteOptions, InstanceRuntime, Registry,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "canary-helper-token-51c2";

/// A spec with bearer auth and an `auth.headers` entry, a base URL with a path prefix, a retry policy on 503 and one
/// `handler: code` action `run`.
fn spec() -> connector_spec::ConnectorSpec {
    let text = r#"id: .request-helper-test
displayName: Request helper test
description: Exercises ctx.http() against a loopback server.
minimumLicense: basic
baseUrl: "{{ config.base }}/api/"
auth:
  types: [bearer]
  headers:
    X-Tenant: "{{ config.tenant }}"
config:
  type: object
  additionalProperties: false
  properties:
    base: { type: string, maxLength: 2048 }
    tenant: { type: string, maxLength: 64 }
policies:
  retry: { statusCodes: [503], maxRetries: 2, backoff: { initialDelayMs: 1, jitter: false } }
actions:
  run:
    description: Run the Rust handler.
    scope: read
    input: { type: object }
    handler: code
"#;
    let loaded = connector_spec::load_str("helper.yaml", text, &Default::default());
    assert!(!loaded.has_errors(), "{}", loaded.render(false));
    loaded.spec.expect("spec")
}

fn context(server: &MockServer) -> ActionContext {
    let instance = ConnectorInstance::new(
        Arc::new(spec()),
        json!({ "base": server.uri(), "tenant": "acme" }),
        json!({ "token": TOKEN }),
    )
    .expect("instance");
    InstanceRuntime::new(instance)
        .expect("runtime")
        .context("", CancellationToken::new())
}

#[derive(Debug, Deserialize, PartialEq)]
struct Thing {
    id: u32,
    name: String,
}

#[tokio::test]
async fn auth_and_auth_headers_are_applied_and_paths_resolve_under_the_base_url() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/things/7"))
        .and(query_param("expand", "all"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("x-tenant", "acme"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 7, "name": "x"})))
        .expect(1)
        .mount(&server)
        .await;
    let ctx = context(&server);
    let thing: Thing = ctx
        .http()
        .get("/things/7")
        .query("expand", "all")
        .send_json()
        .await
        .expect("a 200 with the expected JSON");
    assert_eq!(
        thing,
        Thing {
            id: 7,
            name: "x".into()
        }
    );
}

/// A handler that builds its request itself on `ctx.client` (not `ctx.http()`) still gets
/// the spec's `auth.headers`: they are a layer of the client's HTTP stack, applied once for
/// every request.
#[tokio::test]
async fn auth_headers_reach_requests_built_on_the_client_directly() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/raw"))
        .and(header("x-tenant", "acme"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let ctx = context(&server);
    let url = format!("{}/raw", server.uri()).parse().unwrap();
    let req = ctx
        .client
        .request(reqwest::Method::GET, url)
        .build()
        .unwrap();
    let resp = ctx
        .client
        .send(req, Default::default())
        .await
        .expect("sent");
    assert_eq!(resp.status(), 204);
}

#[tokio::test]
async fn json_bodies_and_headers_are_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/things"))
        .and(header("content-type", "application/json"))
        .and(header("x-trace", "abc"))
        .and(body_json(json!({"name": "new"})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1, "name": "new"})))
        .expect(1)
        .mount(&server)
        .await;
    let ctx = context(&server);
    let reply = ctx
        .http()
        .post("things")
        .header("x-trace", "abc")
        .json(&json!({"name": "new"}))
        .send()
        .await
        .expect("201");
    assert_eq!(reply.status, 201);
    assert_eq!(reply.json::<Thing>().unwrap().name, "new");
}

#[tokio::test]
async fn the_retry_policy_applies() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/flaky"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/flaky"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&server)
        .await;
    let ctx = context(&server);
    let v: Value = ctx.http().get("/flaky").send_json().await.expect("retried");
    assert_eq!(v, json!({"ok": true}));
    let hits = server.received_requests().await.unwrap().len();
    assert_eq!(hits, 2, "one 503, then the retry");
}

#[tokio::test]
async fn a_4xx_reply_is_a_classified_error() {
    let server = MockServer::start().await;
    Mock::given(path("/api/missing"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "no such thing"})))
        .mount(&server)
        .await;
    let ctx = context(&server);
    let e = ctx.http().delete("/missing").send().await.expect_err("404");
    assert_eq!(
        (e.class, e.code, e.status),
        (ErrorClass::User, "http_status", Some(404))
    );
    assert!(e.message.contains("no such thing"), "{}", e.message);
}

#[tokio::test]
async fn a_body_that_is_not_the_expected_json_is_a_typed_error() {
    let server = MockServer::start().await;
    Mock::given(path("/api/text"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>oops</html>"))
        .mount(&server)
        .await;
    Mock::given(path("/api/shape"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "seven"})))
        .mount(&server)
        .await;
    Mock::given(path("/api/empty"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let ctx = context(&server);
    for p in ["/text", "/shape", "/empty"] {
        let e = ctx
            .http()
            .get(p)
            .send_json::<Thing>()
            .await
            .expect_err("not a Thing");
        assert_eq!(
            (e.class, e.code),
            (ErrorClass::System, "invalid_response"),
            "{p}"
        );
        assert!(e.message.contains(&format!("GET /api{p}")), "{e}");
    }
    // An empty body is JSON null: fine for an `Option`, never a silent default struct.
    let none: Option<Thing> = ctx.http().get("/empty").send_json().await.unwrap();
    assert_eq!(none, None);
}

#[tokio::test]
async fn mistakes_while_building_are_typed_errors_and_hide_secrets() {
    let server = MockServer::start().await;
    let ctx = context(&server);
    let e = ctx
        .http()
        .get("/x")
        .header("bad header", "v")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code, "invalid_header");
    let e = ctx
        .http()
        .get("/x")
        .header("x-ok", "line\nbreak")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code, "invalid_header");
    let url = reqwest::Url::parse("ftp://127.0.0.1/x").unwrap();
    let e = ctx
        .http()
        .request_url(reqwest::Method::GET, url)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code, "invalid_url");
    // A token the handler holds itself is marked sensitive: not in the request's Debug.
    let secret = Secret::new(TOKEN);
    let req = ctx.http().get("/x").bearer(&secret);
    assert!(!format!("{req:?}").contains(TOKEN));
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// A code handler reaching the API through the helper, run from a registry like any action.
struct CountThings;

#[async_trait]
impl ActionHandler for CountThings {
    async fn call(&self, ctx: &ActionContext, _input: Value) -> Result<Value, ActionError> {
        let things: Vec<Thing> = ctx.http().get("/things").send_json().await?;
        Ok(json!({ "count": things.len() }))
    }
}

#[tokio::test]
async fn a_code_handler_uses_the_helper_through_the_dispatcher() {
    let server = MockServer::start().await;
    Mock::given(path("/api/things"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])),
        )
        .mount(&server)
        .await;
    let connector =
        DeclarativeConnector::new(Arc::new(spec())).with_handler("run", Arc::new(CountThings));
    let dispatcher = Registry::new().register(Arc::new(connector)).unwrap();
    let ctx = context(&server);
    let out = dispatcher
        .execute(&ctx, "run", json!({}), ExecuteOptions::default())
        .await
        .unwrap();
    assert_eq!(out, json!({"count": 2}));
}

/// Code handlers read what declarative actions use: the rendered base URL and the config,
/// typed; a config that is not the requested type is a typed error naming the problem.
#[tokio::test]
async fn handlers_get_the_rendered_base_url_and_a_typed_config() {
    #[derive(Debug, Deserialize)]
    struct Config {
        base: String,
        tenant: String,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Wrong {
        tenant: u32,
    }
    let server = MockServer::start().await;
    let ctx = context(&server);
    let base = format!("{}/api/", server.uri());
    assert_eq!(ctx.base_url().unwrap(), Some(base.as_str()));
    let config: Config = ctx.config_as().expect("the config is a Config");
    assert_eq!(
        (config.base, config.tenant.as_str()),
        (server.uri(), "acme")
    );
    let e = ctx.config_as::<Wrong>().unwrap_err();
    assert_eq!((e.class, e.code), (ErrorClass::User, "invalid_config"));
    assert!(e.message.contains("expected u32"), "{e}");
}
