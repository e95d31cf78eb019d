//! The transport seam: an instance given an `InMemoryTransport` sends every request to its
//! closure (never to the network), with auth, templating, policies and response mapping applied
//! exactly as on the wire.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use connector_runtime::{
    ActionError, CancellationToken, ConnectorInstance, DeclarativeConnector, Dispatcher,
    ErrorClass, ExecuteOptions, InMemoryTransport, InstanceRuntime,
};
use serde_json::{Value, json};

const TOKEN: &str = "canary-transport-token-8f3a";

/// A spec whose base URL is a loopback port where nothing listens: a request that reached the
/// network would fail with `connection_failed`.
async fn setup(transport: InMemoryTransport) -> (Dispatcher, InstanceRuntime) {
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        format!("http://{addr}")
    };
    let text = format!(
        r#"id: .transport_test
displayName: Transport test
description: Exercises the in-memory transport.
minimumLicense: basic
baseUrl: {closed}
auth:
  types: [bearer]
policies:
  retry: {{ statusCodes: [503], maxRetries: 1, backoff: {{ initialDelayMs: 1, jitter: false }} }}
actions:
  create:
    description: Create a thing.
    scope: write
    input:
      type: object
      additionalProperties: false
      required: [name]
      properties:
        name: {{ type: string }}
        size: {{ type: integer }}
    request:
      method: POST
      path: /things/{{{{ input.name }}}}
      query: {{ dryRun: "false" }}
      body: {{ json: {{ name: "{{{{ input.name }}}}", size: "{{{{ input.size }}}}" }} }}
    response:
      output: {{ id: $.thing.id }}
"#
    );
    let loaded = connector_spec::load_str(
        "transport_test.yaml",
        &text,
        &connector_spec::LoadOptions::default(),
    );
    let spec = Arc::new(
        loaded
            .spec
            .clone()
            .unwrap_or_else(|| panic!("spec errors:\n{}", loaded.render(false))),
    );
    let dispatcher =
        Dispatcher::new(Arc::new(DeclarativeConnector::new(Arc::clone(&spec)))).expect("dispatch");
    let instance =
        ConnectorInstance::new(spec, json!({}), json!({"token": TOKEN})).expect("instance");
    let runtime = InstanceRuntime::new(instance)
        .expect("runtime")
        .with_transport(Arc::new(transport));
    (dispatcher, runtime)
}

fn reply(status: u16, body: &'static str) -> Result<http::Response<Bytes>, ActionError> {
    Ok(http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Bytes::from_static(body.as_bytes()))
        .expect("response"))
}

async fn create(dispatcher: &Dispatcher, runtime: &InstanceRuntime) -> Result<Value, ActionError> {
    let ctx = runtime.context("", CancellationToken::new());
    dispatcher
        .execute(
            &ctx,
            "create",
            json!({"name": "a b", "size": 3}),
            ExecuteOptions::default(),
        )
        .await
}

/// What the handler saw of one request.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    path_and_query: String,
    authorization: Option<String>,
    body: Value,
}

#[tokio::test]
async fn the_in_memory_transport_gets_the_wire_request_and_its_reply_is_mapped() {
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let log = Arc::clone(&seen);
    let transport = InMemoryTransport::new(move |req: reqwest::Request| {
        log.lock().unwrap().push(Seen {
            method: req.method().to_string(),
            path_and_query: format!("{}?{}", req.url().path(), req.url().query().unwrap_or("")),
            authorization: req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: req
                .body()
                .and_then(|b| b.as_bytes())
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null),
        });
        reply(201, r#"{"thing": {"id": "t-1"}}"#)
    });
    let (dispatcher, runtime) = setup(transport).await;
    let out = create(&dispatcher, &runtime).await;
    assert_eq!(
        out,
        Ok(json!({"id": "t-1"})),
        "the handler's reply is mapped"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Seen {
            method: "POST".into(),
            path_and_query: "/things/a%20b?dryRun=false".into(),
            authorization: Some(format!("Bearer {TOKEN}")),
            body: json!({"name": "a b", "size": 3}),
        }],
        "one request, with auth applied, reached the handler"
    );
}

#[tokio::test]
async fn retry_policy_applies_around_the_in_memory_transport() {
    let calls = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&calls);
    let transport = InMemoryTransport::new(move |_req| {
        if count.fetch_add(1, Ordering::SeqCst) == 0 {
            // `create` is a POST: only a 503 that says when to come back is retried.
            Ok(http::Response::builder()
                .status(503)
                .header("retry-after", "0")
                .body(Bytes::from_static(b"{}"))
                .expect("response"))
        } else {
            reply(200, r#"{"thing": {"id": "t-2"}}"#)
        }
    });
    let (dispatcher, runtime) = setup(transport).await;
    assert_eq!(
        create(&dispatcher, &runtime).await,
        Ok(json!({"id": "t-2"}))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the 503 was retried once");
}

#[tokio::test]
async fn a_handler_error_comes_back_typed_and_without_the_secret() {
    let transport = InMemoryTransport::new(|_req| {
        Err(ActionError::system(
            "http_client",
            format!("handler failed while holding {TOKEN}"),
        ))
    });
    let (dispatcher, runtime) = setup(transport).await;
    let e = create(&dispatcher, &runtime)
        .await
        .expect_err("the handler's error is returned");
    assert_eq!((e.class, e.code), (ErrorClass::System, "http_client"));
    assert!(e.message.contains("handler failed"), "{e:?}");
    assert!(!e.message.contains(TOKEN), "secret leaked: {e:?}");
    assert!(!format!("{e:?}").contains(TOKEN), "secret leaked: {e:?}");
}
