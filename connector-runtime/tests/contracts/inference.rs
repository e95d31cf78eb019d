//! `.inference` (Kibana's AI Connector) against a loopback mock of Elasticsearch's
//! `_inference` API: every action's wire format and mapped output, the declarative `preSave`
//! (creates the endpoint; a refusal refuses the save) and `postDelete` (deletes it) hooks run
//! through `Dispatcher::save_instance` / `delete_instance`, the unified chat stream read from a
//! raw socket that splits events across TCP writes, and the two canaries (the provider's API
//! key and the Elasticsearch API key) in no output, error, Debug form or log line.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use connector_runtime::{ActionError, ErrorClass, StreamEvent};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::contract_support::*;

/// The Elasticsearch API key (the `api_key_header` auth type's `apiKey`).
fn es_key() -> String {
    format!("{CANARY}-es-key")
}

/// The provider's API key (the connector's `providerApiKey` secret).
const PROVIDER_KEY: &str = "sk-provider-canary-5e1d07b2";

const ID: &str = "my-openai-endpoint";

fn config(base: &str, task: &str) -> Value {
    json!({
        "elasticsearchUrl": base,
        "provider": "openai",
        "taskType": task,
        "inferenceId": ID,
        "providerConfig": { "model_id": "gpt-4o", "rate_limit": { "requests_per_minute": 500 } },
        "taskTypeConfig": { "user": "kibana" },
    })
}

fn harness(base: &str, task: &str) -> Harness {
    Harness::new(
        load_spec("inference.yaml"),
        config(base, task),
        json!({ "apiKey": es_key(), "providerApiKey": PROVIDER_KEY }),
    )
}

/// Neither canary in what the caller or a log sees.
fn assert_clean(shown: &str) {
    assert!(!shown.contains(CANARY), "Elasticsearch key in {shown}");
    assert!(!shown.contains(PROVIDER_KEY), "provider key in {shown}");
}

fn assert_es_auth(r: &wiremock::Request) {
    assert_eq!(
        header(r, "authorization"),
        Some(format!("ApiKey {}", es_key()))
    );
}

async fn mount_post(server: &MockServer, p: &str, reply: Value) {
    Mock::given(method("POST"))
        .and(path(p))
        .respond_with(ResponseTemplate::new(200).set_body_json(reply))
        .mount(server)
        .await;
}

#[tokio::test]
async fn inference_completion_posts_the_input_and_returns_the_results() {
    let server = loopback().await;
    let p = format!("/_inference/completion/{ID}");
    mount_post(
        &server,
        &p,
        json!({ "completion": [{ "result": "Elastic is a search company." }] }),
    )
    .await;
    let h = harness(&server.uri(), "completion");
    let input = json!({ "input": "What is Elastic?", "task_settings": { "temperature": 0.1 } });
    let out = h
        .exec("completion", input.clone())
        .await
        .expect("completion");
    assert_eq!(out["text"], "Elastic is a search company.");
    assert_eq!(out["results"], json!(["Elastic is a search company."]));
    let r = only_request(&server).await;
    assert_line(&r, "POST", &p);
    assert_es_auth(&r);
    assert_eq!(json_body(&r), input);
    assert_clean(&format!("{out}{:?}", h.runtime));
}

#[tokio::test]
async fn inference_rerank_sends_query_and_documents_and_returns_scores() {
    let server = loopback().await;
    let p = format!("/_inference/rerank/{ID}");
    let reply = json!({ "rerank": [
        { "index": 1, "relevance_score": 0.98, "text": "ELSER is sparse" },
        { "index": 0, "relevance_score": 0.12, "text": "cats" }
    ] });
    mount_post(&server, &p, reply.clone()).await;
    let h = harness(&server.uri(), "rerank");
    let input = json!({ "query": "sparse models", "input": ["cats", "ELSER is sparse"],
                        "top_n": 2, "return_documents": true });
    let out = h.exec("rerank", input.clone()).await.expect("rerank");
    assert_eq!(out["results"], reply["rerank"]);
    let r = only_request(&server).await;
    assert_line(&r, "POST", &p);
    assert_es_auth(&r);
    assert_eq!(json_body(&r), input);
}

#[tokio::test]
async fn inference_sparse_embedding_returns_token_weights() {
    let server = loopback().await;
    let p = format!("/_inference/sparse_embedding/{ID}");
    let reply = json!({ "sparse_embedding": [
        { "is_truncated": false, "embedding": { "elastic": 1.9, "search": 0.7 } }
    ] });
    mount_post(&server, &p, reply.clone()).await;
    let h = harness(&server.uri(), "sparse_embedding");
    let out = h
        .exec("sparse_embedding", json!({ "input": ["Elastic search"] }))
        .await
        .expect("sparse");
    assert_eq!(out["embeddings"], reply["sparse_embedding"]);
    let r = only_request(&server).await;
    assert_line(&r, "POST", &p);
    assert_eq!(json_body(&r), json!({ "input": ["Elastic search"] }));
}

#[tokio::test]
async fn inference_text_embedding_sends_input_type_and_maps_float_and_byte_vectors() {
    let server = loopback().await;
    let p = format!("/_inference/text_embedding/{ID}");
    mount_post(
        &server,
        &p,
        json!({ "text_embedding": [{ "embedding": [0.25, -0.5] }, { "embedding": [1.0, 0.0] }] }),
    )
    .await;
    let h = harness(&server.uri(), "text_embedding");
    let input = json!({ "input": ["a", "b"], "input_type": "search" });
    let out = h
        .exec("text_embedding", input.clone())
        .await
        .expect("dense");
    assert_eq!(out["embeddings"], json!([[0.25, -0.5], [1.0, 0.0]]));
    assert_eq!(out["byteEmbeddings"], json!([]));
    let r = only_request(&server).await;
    assert_line(&r, "POST", &p);
    assert_eq!(json_body(&r), input);

    server.reset().await;
    mount_post(
        &server,
        &p,
        json!({ "text_embedding_bytes": [{ "embedding": [12, -7] }] }),
    )
    .await;
    let out = h
        .exec("text_embedding", json!({ "input": "a" }))
        .await
        .expect("bytes");
    assert_eq!(out["byteEmbeddings"], json!([[12, -7]]));
    assert_eq!(out["embeddings"], json!([]));
}

#[tokio::test]
async fn inference_an_elasticsearch_error_is_a_user_error_with_its_reason() {
    let server = loopback().await;
    let p = format!("/_inference/completion/{ID}");
    Mock::given(method("POST"))
        .and(path(&p))
        .respond_with(es_error(
            400,
            "status_exception",
            "Inference endpoint [my-openai-endpoint] has task type [text_embedding]",
        ))
        .mount(&server)
        .await;
    let h = harness(&server.uri(), "completion");
    let e = h
        .exec("completion", json!({ "input": "hi" }))
        .await
        .expect_err("refused");
    assert_eq!(e.class, ErrorClass::User, "{e}");
    assert!(e.message.contains("has task type [text_embedding]"), "{e}");
}

// ---------------------------------------------------------------- lifecycle hooks

/// Save through the dispatcher, recording whether `persist` ran.
async fn save(h: &Harness) -> (Result<(), ActionError>, bool) {
    let persisted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&persisted);
    let ctx = h.runtime.context("", CancellationToken::new());
    let r = h
        .dispatcher
        .save_instance(&ctx, || async move {
            flag.store(true, Ordering::SeqCst);
            Ok(())
        })
        .await
        .map(|outcome| assert!(outcome.hook_error.is_none(), "no postSave declared"));
    (r, persisted.load(Ordering::SeqCst))
}

#[tokio::test]
async fn inference_pre_save_creates_the_endpoint_with_the_provider_key() {
    let server = loopback().await;
    let p = format!("/_inference/completion/{ID}");
    Mock::given(method("PUT"))
        .and(path(&p))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "inference_id": ID, "task_type": "completion", "service": "openai",
            "service_settings": { "model_id": "gpt-4o" }, "task_settings": { "user": "kibana" }
        })))
        .mount(&server)
        .await;
    let h = harness(&server.uri(), "completion");
    let (r, persisted) = save(&h).await;
    r.expect("saved");
    assert!(persisted, "persist ran after the endpoint was created");
    let put = only_request(&server).await;
    assert_line(&put, "PUT", &p);
    assert_es_auth(&put);
    assert_eq!(
        json_body(&put),
        json!({
            "service": "openai",
            "service_settings": {
                "model_id": "gpt-4o",
                "rate_limit": { "requests_per_minute": 500 },
                "api_key": PROVIDER_KEY
            },
            "task_settings": { "user": "kibana" }
        })
    );
}

#[tokio::test]
async fn inference_pre_save_without_a_provider_key_sends_the_settings_alone() {
    let server = loopback().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), "sparse_embedding");
    cfg["provider"] = json!("elasticsearch");
    cfg["providerConfig"] = json!({ "model_id": ".elser_model_2", "num_threads": 1 });
    cfg.as_object_mut().unwrap().remove("taskTypeConfig");
    let h = Harness::new(
        load_spec("inference.yaml"),
        cfg,
        json!({ "apiKey": es_key() }),
    );
    let (r, persisted) = save(&h).await;
    r.expect("saved");
    assert!(persisted);
    let put = only_request(&server).await;
    assert_line(&put, "PUT", &format!("/_inference/sparse_embedding/{ID}"));
    assert_eq!(
        json_body(&put),
        json!({
            "service": "elasticsearch",
            "service_settings": { "model_id": ".elser_model_2", "num_threads": 1 },
            "task_settings": {}
        })
    );
}

/// A failed create refuses the save with Elasticsearch's reason, persists nothing, and
/// shows neither key, though the reply echoes the provider key and the logs are read at TRACE.
#[tokio::test]
async fn inference_a_refused_create_refuses_the_save_and_persists_nothing() {
    let (logs, _guard) = crate::log_support::capture_here();
    let server = loopback().await;
    Mock::given(method("PUT"))
        .respond_with(es_error(400, "status_exception", format!("Received an authentication error status code for request from inference entity id [{ID}] status [401]. Error message: [Incorrect API key provided: {PROVIDER_KEY}]")))
        .mount(&server)
        .await;
    let h = harness(&server.uri(), "completion");
    let (r, persisted) = save(&h).await;
    let e = r.expect_err("refused");
    assert!(!persisted, "nothing is persisted when preSave fails");
    assert_eq!(e.class, ErrorClass::User, "{e}");
    assert!(e.message.starts_with("preSave hook failed: "), "{e}");
    assert!(e.message.contains(ID), "{e}");
    assert!(e.message.contains("Incorrect API key provided"), "{e}");
    assert_clean(&format!("{e}{e:?}"));
    let logged = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(!logged.is_empty(), "TRACE logs were captured");
    assert_clean(&logged);
}

/// Elasticsearch's error reply: `{"error": {"type", "reason"}, "status"}`.
fn es_error(status: u16, kind: &str, reason: impl Into<String>) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": { "type": kind, "reason": reason.into() },
        "status": status
    }))
}

#[tokio::test]
async fn inference_an_existing_endpoint_id_is_refused_naming_the_id() {
    let server = loopback().await;
    Mock::given(method("PUT"))
        .respond_with(es_error(
            400,
            "resource_already_exists_exception",
            format!("Inference endpoint [{ID}] already exists"),
        ))
        .mount(&server)
        .await;
    let h = harness(&server.uri(), "completion");
    let (r, persisted) = save(&h).await;
    let e = r.expect_err("refused");
    assert!(!persisted);
    assert!(e.message.contains("already exists"), "{e}");
    assert!(e.message.contains("choose another `inferenceId`"), "{e}");
}

#[tokio::test]
async fn inference_post_delete_deletes_the_endpoint_after_the_removal() {
    let server = loopback().await;
    let p = format!("/_inference/rerank/{ID}");
    Mock::given(method("DELETE"))
        .and(path(&p))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "acknowledged": true, "pipelines": [] })),
        )
        .mount(&server)
        .await;
    let h = harness(&server.uri(), "rerank");
    let ctx = h.runtime.context("", CancellationToken::new());
    let outcome = h
        .dispatcher
        .delete_instance(&ctx, || async { Ok("removed") })
        .await
        .expect("deleted");
    assert_eq!(outcome.value, "removed");
    assert!(outcome.hook_error.is_none(), "{:?}", outcome.hook_error);
    let del = only_request(&server).await;
    assert_line(&del, "DELETE", &p);
    assert_es_auth(&del);
}

#[tokio::test]
async fn inference_a_failed_delete_of_the_endpoint_is_reported_but_the_delete_stands() {
    let server = loopback().await;
    Mock::given(method("DELETE"))
        .respond_with(es_error(
            404,
            "resource_not_found_exception",
            format!("Inference endpoint not found [{ID}]"),
        ))
        .mount(&server)
        .await;
    let h = harness(&server.uri(), "completion");
    let ctx = h.runtime.context("", CancellationToken::new());
    let outcome = h
        .dispatcher
        .delete_instance(&ctx, || async { Ok(()) })
        .await
        .expect("the delete stands");
    let e = outcome.hook_error.expect("postDelete failed");
    assert!(e.message.starts_with("postDelete hook failed: "), "{e}");
    assert!(e.message.contains("not found"), "{e}");
    assert_clean(&format!("{e:?}"));
}

#[tokio::test]
async fn inference_basic_auth_reaches_the_connection_test() {
    let server = loopback().await;
    let p = format!("/_inference/completion/{ID}");
    Mock::given(method("GET"))
        .and(path(&p))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "endpoints": [] })))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), "completion");
    cfg["authType"] = json!("basic");
    let h = Harness::new(
        load_spec("inference.yaml"),
        cfg,
        json!({ "username": "elastic", "password": CANARY }),
    );
    h.test().await.expect("test");
    let r = only_request(&server).await;
    assert_line(&r, "GET", &p);
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("elastic:{CANARY}"),
    );
    assert_eq!(header(&r, "authorization"), Some(format!("Basic {basic}")));
}

// ---------------------------------------------------------------- unified chat stream

/// One chunk in Elasticsearch's unified (OpenAI) shape.
fn chunk(delta: Value, finish: Option<&str>, usage: Option<Value>) -> String {
    let mut c = json!({
        "id": "chatcmpl-1", "model": "gpt-4o", "object": "chat.completion.chunk",
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }]
    });
    if let Some(u) = usage {
        c["choices"] = json!([]);
        c["usage"] = u;
    }
    format!("event: message\ndata: {c}\n\n")
}

/// The whole SSE reply: text deltas, two tool-call deltas, the finish, the usage, `[DONE]`
/// and an event after it that must not be delivered.
fn chat_reply() -> String {
    let call = |args: &str, first: bool| {
        let mut tc = json!({ "index": 0, "function": { "arguments": args } });
        if first {
            tc["id"] = json!("call_1");
            tc["type"] = json!("function");
            tc["function"]["name"] = json!("get_weather");
        }
        json!({ "tool_calls": [tc] })
    };
    [
        chunk(
            json!({ "role": "assistant", "content": "Let me " }),
            None,
            None,
        ),
        chunk(json!({ "content": "check." }), None, None),
        chunk(call("{\"city\":", true), None, None),
        chunk(call("\"Paris\"}", false), None, None),
        chunk(json!({}), Some("tool_calls"), None),
        chunk(
            json!({}),
            None,
            Some(json!({ "prompt_tokens": 31, "completion_tokens": 12, "total_tokens": 43 })),
        ),
        "event: message\ndata: [DONE]\n\n".to_string(),
        chunk(json!({ "content": "after done" }), None, None),
    ]
    .concat()
}

/// A raw HTTP/1.1 server for one request: records it, then answers the SSE body chunked, cut
/// into pieces of `piece` bytes (mid-line and mid-event), one TCP write with a pause each.
async fn split_server(body: String, piece: usize) -> (String, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let request = read_request(&mut sock).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        sock.write_all(head.as_bytes()).await.unwrap();
        for part in body.as_bytes().chunks(piece) {
            let mut frame = format!("{:x}\r\n", part.len()).into_bytes();
            frame.extend_from_slice(part);
            frame.extend_from_slice(b"\r\n");
            // The client closes the connection at `[DONE]`; what follows may not be read.
            if sock.write_all(&frame).await.is_err() || sock.flush().await.is_err() {
                return request;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let _ = sock.write_all(b"0\r\n\r\n").await;
        request
    });
    (base, task)
}

/// The request's head and its `content-length` body, as text.
async fn read_request(sock: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let n = sock.read(&mut tmp).await.unwrap();
        assert!(n > 0, "the client closed before sending its request");
        buf.extend_from_slice(&tmp[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn inference_unified_stream_yields_deltas_tool_calls_and_usage_in_order() {
    let (base, server) = split_server(chat_reply(), 7).await;
    let h = harness(&base, "chat_completion");
    let ctx = h.runtime.context("", CancellationToken::new());
    let input = json!({
        "messages": [{ "role": "user", "content": "Weather in Paris?" }],
        "tools": [{ "type": "function", "function": {
            "name": "get_weather", "parameters": { "type": "object" } } }],
        "tool_choice": "auto", "max_completion_tokens": 256
    });
    let mut s = h
        .dispatcher
        .stream(&ctx, "unifiedCompletionStream", input.clone())
        .await
        .expect("stream");
    let mut events: Vec<StreamEvent> = Vec::new();
    while let Some(ev) = s.next().await {
        events.push(ev.expect("event"));
    }
    let texts: Vec<&Value> = events.iter().map(|e| &e.data["text"]).collect();
    let null = Value::Null;
    assert_eq!(
        texts,
        [
            &json!("Let me "),
            &json!("check."),
            &null,
            &null,
            &null,
            &null
        ],
        "six chunks before [DONE], none after"
    );
    assert_eq!(events[2].data["toolCalls"][0]["id"], "call_1");
    assert_eq!(
        events[2].data["toolCalls"][0]["function"],
        json!({ "name": "get_weather", "arguments": "{\"city\":" })
    );
    assert_eq!(
        events[3].data["toolCalls"][0]["function"]["arguments"],
        "\"Paris\"}"
    );
    assert_eq!(events[0].data["toolCalls"], json!([]));
    assert_eq!(events[4].data["finishReason"], "tool_calls");
    assert_eq!(events[0].data["usage"]["totalTokens"], Value::Null);
    assert_eq!(
        events[5].data["usage"],
        json!({ "promptTokens": 31, "completionTokens": 12, "totalTokens": 43 })
    );
    let request = server.await.unwrap();
    assert!(
        request.starts_with(&format!(
            "POST /_inference/chat_completion/{ID}/_stream HTTP/1.1\r\n"
        )),
        "{request}"
    );
    let lower = request.to_ascii_lowercase();
    assert!(
        lower.contains(&format!(
            "authorization: apikey {}",
            es_key().to_ascii_lowercase()
        )),
        "{request}"
    );
    assert!(lower.contains("accept: text/event-stream"), "{request}");
    let body: Value = serde_json::from_str(request.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body, input);
    assert_clean(&format!("{events:?}"));
}
