//! `.gen-ai` (OpenAI chat completions) for each provider against loopback mocks: OpenAI
//! (`Authorization: Bearer`), Azure OpenAI (the deployment path, `api-version`, the `api-key`
//! header or an Entra ID client-credentials token), and an OpenAI-compatible server (a bearer
//! key, or a TLS client certificate). Each mock checks the wire format; streams check the SSE
//! chunks, the tool-call deltas assembled into whole calls, and that a dropped or cancelled
//! stream is a disconnect the server sees.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use connector_runtime::{ConnectorInstance, ErrorClass, StreamEvent};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::contract_support::*;

const OPENAI_PATH: &str = "/v1/chat/completions";
const AZURE_PATH: &str = "/openai/deployments/gpt4o-prod/chat/completions";
const TOKEN_PATH: &str = "/canary-tenant/oauth2/v2.0/token";
const ENTRA_SCOPE: &str = "https://cognitiveservices.azure.com/.default";
const ENTRA_TOKEN: &str = "canary-entra-token-1";

/// The API key: carries the canary, so every error is checked for it.
fn api_key() -> String {
    format!("sk-proj-{CANARY}")
}

/// The Entra ID client secret.
fn client_secret() -> String {
    format!("entra~{CANARY}~secret")
}

/// Nothing secret in what a caller or a log reader sees.
fn assert_clean(shown: &str) {
    for s in [api_key(), client_secret(), ENTRA_TOKEN.to_string()] {
        assert!(!shown.contains(&s), "a secret in {shown}");
    }
    assert!(!shown.contains(CANARY), "the canary in {shown}");
}

fn openai(server: &MockServer) -> Harness {
    Harness::new(
        load_spec("gen_ai.yaml"),
        json!({ "apiProvider": "OpenAI", "apiUrl": format!("{}{OPENAI_PATH}", server.uri()),
                "defaultModel": "gpt-4o" }),
        json!({ "apiKey": api_key() }),
    )
}

fn azure_config(server: &MockServer) -> Value {
    json!({ "apiProvider": "Azure OpenAI", "apiUrl": format!("{}/", server.uri()),
            "deployment": "gpt4o-prod", "apiVersion": "2024-10-21" })
}

fn azure_key(server: &MockServer) -> Harness {
    Harness::new(
        load_spec("gen_ai.yaml"),
        azure_config(server),
        json!({ "apiKey": api_key() }),
    )
}

fn azure_entra(server: &MockServer) -> Harness {
    let mut config = azure_config(server);
    config["authType"] = json!("oauth_client_credentials");
    config["tenantId"] = json!("canary-tenant");
    config["clientId"] = json!("0f1e2d3c-app");
    config["tokenUrl"] = json!(format!("{}{TOKEN_PATH}", server.uri()));
    Harness::new(
        load_spec("gen_ai.yaml"),
        config,
        json!({ "clientSecret": client_secret() }),
    )
}

fn other(server: &MockServer) -> Harness {
    Harness::new(
        load_spec("gen_ai.yaml"),
        json!({ "apiProvider": "Other", "apiUrl": format!("{}/llm/v1/chat/completions", server.uri()),
                "defaultModel": "meta-llama/Llama-3.1-8B-Instruct" }),
        json!({ "apiKey": api_key() }),
    )
}

fn completion(message: Value, finish: &str, prompt: u64) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1733580000,
        "model": "gpt-4o-2024-08-06",
        "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": finish }],
        "usage": { "prompt_tokens": prompt, "completion_tokens": 3, "total_tokens": prompt + 3 }
    })
}

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1733580000,
        "model": "gpt-4o-2024-08-06",
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }], "usage": null
    })
}

fn usage_chunk() -> Value {
    json!({
        "id": "chatcmpl-2", "object": "chat.completion.chunk", "model": "gpt-4o-2024-08-06",
        "choices": [], "usage": { "prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7 }
    })
}

/// SSE events, then `[DONE]`, then a line that would be an error if it were read.
fn sse(chunks: &[Value]) -> String {
    let mut body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    body.push_str("data: [DONE]\n\ndata: {not json after the end\n\n");
    body
}

/// A completion for `stream: false`, a text stream for `stream: true`.
struct Chat;

impl Respond for Chat {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).expect("JSON body");
        if body["stream"] == json!(true) {
            let chunks = [
                chunk(json!({ "role": "assistant", "content": "" }), None),
                chunk(json!({ "content": "Hel" }), None),
                chunk(json!({ "content": "lo!" }), None),
                chunk(json!({}), Some("stop")),
                usage_chunk(),
            ];
            return ResponseTemplate::new(200).set_body_raw(sse(&chunks), "text/event-stream");
        }
        let message = json!({ "role": "assistant", "content": "Hello!", "refusal": null });
        ResponseTemplate::new(200).set_body_json(completion(message, "stop", 9))
    }
}

fn hello() -> Value {
    json!({ "messages": [
        { "role": "system", "content": "Be brief." },
        { "role": "user", "content": "Say hello" }
    ], "temperature": 0.2, "max_completion_tokens": 64 })
}

async fn collect(h: &Harness, input: Value) -> Vec<StreamEvent> {
    let ctx = h.runtime.context("", CancellationToken::new());
    let mut s = h
        .dispatcher
        .stream(&ctx, "stream", input)
        .await
        .expect("stream");
    let mut events = Vec::new();
    while let Some(ev) = s.next().await {
        events.push(ev.expect("event"));
    }
    events
}

/// Run `run`, `invokeAI` and `stream` with [`hello`] and check what each returns.
async fn every_action(h: &Harness) {
    for action in ["run", "invokeAI"] {
        let out = h.exec(action, hello()).await.expect(action);
        assert_eq!(out["message"], "Hello!");
        assert_eq!(out["toolCalls"], json!([]));
        assert_eq!(out["finishReason"], "stop");
        assert_eq!(out["model"], "gpt-4o-2024-08-06");
        assert_eq!(
            out["usage"],
            json!({ "promptTokens": 9, "completionTokens": 3, "totalTokens": 12 })
        );
        assert_clean(&out.to_string());
    }
    let events = collect(h, hello()).await;
    let texts: Vec<&Value> = events.iter().map(|e| &e.data["text"]).collect();
    assert_eq!(
        texts,
        [
            &json!(""),
            &json!("Hel"),
            &json!("lo!"),
            &Value::Null,
            &Value::Null
        ]
    );
    assert_eq!(events[3].data["finishReason"], "stop");
    assert_eq!(events[0].data["usage"]["totalTokens"], Value::Null);
    assert_eq!(
        events[4].data["usage"],
        json!({ "promptTokens": 5, "completionTokens": 2, "totalTokens": 7 })
    );
    assert!(
        events.iter().all(|e| e.event == "message"),
        "no tool calls, no `assembled` event"
    );
}

/// The body of each of the three requests, and the stream's extra fields.
fn assert_bodies(calls: &[&Request], model: Option<&str>) {
    assert_eq!(calls.len(), 3);
    for (i, r) in calls.iter().enumerate() {
        let body = json_body(r);
        assert_eq!(body["messages"], hello()["messages"]);
        assert_eq!(body["temperature"], 0.2);
        assert_eq!(body["max_completion_tokens"], 64);
        assert_eq!(body.get("model").and_then(Value::as_str), model);
        let streaming = i == 2;
        assert_eq!(body.get("stream"), streaming.then_some(&json!(true)));
        assert_eq!(
            body.get("stream_options"),
            streaming.then_some(&json!({ "include_usage": true }))
        );
        let accept = if streaming {
            "text/event-stream"
        } else {
            "application/json"
        };
        assert_eq!(header(r, "accept").as_deref(), Some(accept));
    }
}

async fn mount_chat(server: &MockServer, at: &str) {
    Mock::given(method("POST"))
        .and(path(at))
        .respond_with(Chat)
        .mount(server)
        .await;
}

#[tokio::test]
async fn openai_sends_every_action_to_chat_completions_with_a_bearer_key() {
    let server = loopback().await;
    mount_chat(&server, OPENAI_PATH).await;
    every_action(&openai(&server)).await;
    let calls = requests(&server).await;
    for r in &calls {
        assert_line(r, "POST", OPENAI_PATH);
        assert_query(r, &[]);
        assert_eq!(
            header(r, "authorization"),
            Some(format!("Bearer {}", api_key()))
        );
        assert_eq!(header(r, "api-key"), None);
    }
    assert_bodies(&calls.iter().collect::<Vec<_>>(), Some("gpt-4o"));
}

#[tokio::test]
async fn azure_sends_every_action_to_the_deployment_with_api_version_and_the_api_key_header() {
    let server = loopback().await;
    mount_chat(&server, AZURE_PATH).await;
    every_action(&azure_key(&server)).await;
    let calls = requests(&server).await;
    for r in &calls {
        assert_line(r, "POST", AZURE_PATH);
        assert_query(r, &[("api-version", "2024-10-21")]);
        assert_eq!(header(r, "api-key"), Some(api_key()));
        assert_eq!(header(r, "authorization"), None);
    }
    // The deployment is the model: no `model` unless the caller names one.
    assert_bodies(&calls.iter().collect::<Vec<_>>(), None);
}

/// Entra ID's token endpoint: checks the client-credentials form, answers one token.
struct EntraToken(Arc<AtomicUsize>);

impl Respond for EntraToken {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        form.sort();
        let expected = [
            ("client_id", "0f1e2d3c-app".to_string()),
            ("client_secret", client_secret()),
            ("grant_type", "client_credentials".to_string()),
            ("scope", ENTRA_SCOPE.to_string()),
        ];
        let expected: Vec<(String, String)> = expected
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(
            form, expected,
            "client_secret_post with the Cognitive Services scope"
        );
        assert_eq!(header(req, "authorization"), None);
        self.0.fetch_add(1, Ordering::SeqCst);
        ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
            "access_token": ENTRA_TOKEN
        }))
    }
}

#[tokio::test]
async fn azure_with_entra_id_fetches_one_token_and_sends_it_as_a_bearer() {
    let server = loopback().await;
    let tokens = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(EntraToken(Arc::clone(&tokens)))
        .mount(&server)
        .await;
    mount_chat(&server, AZURE_PATH).await;
    let h = azure_entra(&server);
    every_action(&h).await;
    assert_eq!(tokens.load(Ordering::SeqCst), 1, "one token for every call");
    let calls = requests(&server).await;
    let api: Vec<&Request> = calls
        .iter()
        .filter(|r| r.url.path() == AZURE_PATH)
        .collect();
    for r in &api {
        assert_query(r, &[("api-version", "2024-10-21")]);
        assert_eq!(
            header(r, "authorization"),
            Some(format!("Bearer {ENTRA_TOKEN}"))
        );
        assert_eq!(header(r, "api-key"), None);
    }
    assert_bodies(&api, None);
    assert_clean(&format!("{:?}", h.runtime));
}

#[tokio::test]
async fn other_sends_every_action_to_its_url_with_a_bearer_key_and_the_default_model() {
    let server = loopback().await;
    mount_chat(&server, "/llm/v1/chat/completions").await;
    every_action(&other(&server)).await;
    let calls = requests(&server).await;
    for r in &calls {
        assert_query(r, &[]);
        assert_eq!(
            header(r, "authorization"),
            Some(format!("Bearer {}", api_key()))
        );
    }
    assert_bodies(
        &calls.iter().collect::<Vec<_>>(),
        Some("meta-llama/Llama-3.1-8B-Instruct"),
    );
}

fn weather_tools() -> Value {
    json!([{ "type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city.",
        "parameters": { "type": "object", "properties": { "city": { "type": "string" } },
                        "required": ["city"] }
    } }])
}

fn weather_call() -> Value {
    json!({ "id": "call_Wx1", "type": "function",
            "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } })
}

/// A tool call for a conversation without a tool result; the answer once the `tool` message
/// answers that call.
struct Weather;

impl Respond for Weather {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).expect("JSON");
        let messages = body["messages"].as_array().expect("messages");
        let Some(result) = messages.iter().find(|m| m["role"] == "tool") else {
            let message =
                json!({ "role": "assistant", "content": null, "tool_calls": [weather_call()] });
            return ResponseTemplate::new(200).set_body_json(completion(message, "tool_calls", 25));
        };
        assert_eq!(result["tool_call_id"], "call_Wx1");
        assert_eq!(result["content"], "{\"celsius\":21}");
        let asked = &messages[messages.len() - 2];
        assert_eq!(asked["tool_calls"], json!([weather_call()]));
        let message = json!({ "role": "assistant", "content": "It is 21 degrees in Paris." });
        ResponseTemplate::new(200).set_body_json(completion(message, "stop", 40))
    }
}

#[tokio::test]
async fn a_tool_call_round_trips_through_the_tool_message() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .and(path(OPENAI_PATH))
        .respond_with(Weather)
        .mount(&server)
        .await;
    let h = openai(&server);
    let question = json!({ "role": "user", "content": "Weather in Paris?" });
    let choice = json!({ "type": "function", "function": { "name": "get_weather" } });
    let first = h
        .exec(
            "run",
            json!({ "messages": [question], "tools": weather_tools(), "tool_choice": choice,
                    "parallel_tool_calls": false, "model": "gpt-4o-mini" }),
        )
        .await
        .expect("run");
    assert_eq!(first["toolCalls"], json!([weather_call()]));
    assert_eq!(first["message"], Value::Null);
    assert_eq!(first["finishReason"], "tool_calls");
    let second = h
        .exec(
            "invokeAI",
            json!({ "messages": [
                question,
                { "role": "assistant", "content": null, "tool_calls": first["toolCalls"] },
                { "role": "tool", "tool_call_id": "call_Wx1", "content": "{\"celsius\":21}" }
            ], "tools": weather_tools(), "tool_choice": "auto" }),
        )
        .await
        .expect("invokeAI");
    assert_eq!(second["message"], "It is 21 degrees in Paris.");
    assert_eq!(second["usage"]["totalTokens"], 43);
    assert_usage_recorded(&h, &[&first, &second]).await;
    let calls = requests(&server).await;
    let (one, two) = (json_body(&calls[0]), json_body(&calls[1]));
    assert_eq!(one["tools"], weather_tools());
    assert_eq!(one["tool_choice"], choice);
    assert_eq!(one["parallel_tool_calls"], false);
    assert_eq!(one["model"], "gpt-4o-mini", "the input's model wins");
    assert_eq!(two["tool_choice"], "auto");
    assert_eq!(two["model"], "gpt-4o");
}

#[tokio::test]
async fn a_malformed_conversation_is_refused_before_any_request() {
    let server = loopback().await;
    mount_chat(&server, OPENAI_PATH).await;
    let h = openai(&server);
    let cases = [
        json!({ "messages": [{ "role": "tool", "content": "21" }] }),
        json!({ "messages": [{ "role": "user", "content": "hi", "tool_call_id": "call_1" }] }),
        json!({ "messages": [{ "role": "user", "content": "hi", "tool_calls": [weather_call()] }] }),
        json!({ "messages": [{ "role": "assistant" }] }),
        json!({ "messages": [{ "role": "user", "content": "hi" }], "stream": true }),
        json!({ "messages": [{ "role": "user", "content": "hi" }], "tool_choice": "sometimes" }),
        json!({ "messages": [] }),
    ];
    for input in cases {
        let e = h.exec("run", input.clone()).await.expect_err("refused");
        assert_eq!(e.class, ErrorClass::User, "{input}: {e}");
    }
    assert!(requests(&server).await.is_empty());
}

/// Tool-call fragments as OpenAI streams them: two calls, their arguments split over chunks.
fn tool_call_chunks() -> Vec<Value> {
    let first = json!([{ "index": 0, "id": "call_Wx1", "type": "function",
                         "function": { "name": "get_weather", "arguments": "" } }]);
    let second = json!([{ "index": 1, "id": "call_Tm2", "type": "function",
                          "function": { "name": "get_time", "arguments": "" } }]);
    let part = |i: u64, s: &str| json!([{ "index": i, "function": { "arguments": s } }]);
    vec![
        chunk(
            json!({ "role": "assistant", "content": null, "tool_calls": first }),
            None,
        ),
        chunk(json!({ "tool_calls": part(0, "{\"ci") }), None),
        chunk(json!({ "tool_calls": part(0, "ty\":\"Par") }), None),
        chunk(json!({ "tool_calls": second }), None),
        chunk(json!({ "tool_calls": part(1, "{\"tz\":\"CET\"}") }), None),
        chunk(json!({ "tool_calls": part(0, "is\"}") }), None),
        chunk(json!({}), Some("tool_calls")),
        usage_chunk(),
    ]
}

#[tokio::test]
async fn streamed_tool_call_deltas_are_assembled_into_whole_calls() {
    let server = loopback().await;
    Mock::given(method("POST"))
        .and(path(OPENAI_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(sse(&tool_call_chunks()), "text/event-stream"),
        )
        .mount(&server)
        .await;
    let h = openai(&server);
    let input = json!({ "messages": [{ "role": "user", "content": "Weather and time in Paris?" }],
                        "tools": weather_tools(), "tool_choice": "required" });
    let events = collect(&h, input).await;
    assert_eq!(events.len(), 9, "8 chunks and the assembled calls");
    assert_eq!(
        events[1].data["toolCalls"],
        json!([{ "index": 0, "function": { "arguments": "{\"ci" } }])
    );
    assert_eq!(events[6].data["finishReason"], "tool_calls");
    assert_eq!(events[7].data["usage"]["totalTokens"], 7);
    let last = &events[8];
    assert_eq!(last.event, "assembled");
    assert_eq!(
        last.data,
        json!({ "toolCalls": [
            weather_call(),
            { "id": "call_Tm2", "type": "function",
              "function": { "name": "get_time", "arguments": "{\"tz\":\"CET\"}" } }
        ] })
    );
    let body = json_body(&only_request(&server).await);
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({ "include_usage": true }));
    assert_eq!(body["tools"], weather_tools());
    assert_eq!(body["tool_choice"], "required");
}

#[tokio::test]
async fn a_401_is_an_auth_error_and_a_429_is_rate_limited_after_the_retries() {
    let server = loopback().await;
    let h = openai(&server);
    let cases = [
        (401, "invalid_api_key", ErrorClass::Auth, 1),
        (429, "rate_limit_exceeded", ErrorClass::RateLimited, 4),
    ];
    for (status, code, class, hits) in cases {
        server.reset().await;
        let reply = json!({ "error": { "message": format!("Incorrect API key provided: {}", api_key()),
                                       "type": "invalid_request_error", "code": code } });
        Mock::given(method("POST"))
            .and(path(OPENAI_PATH))
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("retry-after", "0")
                    .set_body_json(reply),
            )
            .mount(&server)
            .await;
        let e = h.exec("invokeAI", hello()).await.expect_err("refused");
        assert_eq!(e.class, class, "{status}: {e}");
        assert_clean(&format!("{e} {e:?}"));
        assert_eq!(requests(&server).await.len(), hits, "{status}");
        let ctx = h.runtime.context("", CancellationToken::new());
        let e = h
            .dispatcher
            .stream(&ctx, "stream", hello())
            .await
            .err()
            .expect("a failed stream is an error");
        assert_eq!(e.class, class, "stream {status}: {e}");
        assert_clean(&format!("{e} {e:?}"));
    }
}

/// 429 once, then a completion.
struct ThrottledOnce(Arc<AtomicUsize>);

impl Respond for ThrottledOnce {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
            return ResponseTemplate::new(429)
                .insert_header("retry-after", "0")
                .set_body_json(json!({ "error": { "code": "rate_limit_exceeded" } }));
        }
        Chat.respond(req)
    }
}

#[tokio::test]
async fn no_secret_reaches_outputs_errors_or_trace_logs() {
    let (logs, _guard) = crate::log_support::capture_here();
    let server = loopback().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(EntraToken(Arc::new(AtomicUsize::new(0))))
        .mount(&server)
        .await;
    let hits = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path(AZURE_PATH))
        .respond_with(ThrottledOnce(Arc::clone(&hits)))
        .mount(&server)
        .await;
    let mut shown = String::new();
    for h in [azure_key(&server), azure_entra(&server)] {
        hits.store(0, Ordering::SeqCst);
        let out = h.exec("run", hello()).await.expect("retried");
        assert_eq!(out["message"], "Hello!");
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        let events = collect(&h, hello()).await;
        shown.push_str(&format!("{out}{events:?}{:?}", h.runtime));
    }
    let logged = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(!logged.is_empty(), "TRACE logs were captured");
    assert_clean(&logged);
    assert_clean(&shown);
}

fn instance(config: Value, secrets: Value) -> Result<ConnectorInstance, String> {
    let spec = Arc::new(load_spec("gen_ai.yaml"));
    ConnectorInstance::new(spec, config, secrets).map_err(|e| {
        assert_eq!(e.code, "invalid_config", "{e}");
        assert_eq!(e.class, ErrorClass::User, "{e}");
        assert_no_canary(&e);
        e.to_string()
    })
}

#[test]
fn a_config_that_cannot_work_is_refused_naming_the_field() {
    let key = json!({ "apiKey": api_key() });
    let url = "https://api.openai.com/v1/chat/completions";
    let azure = "https://canary.openai.azure.com";
    let cases = [
        (
            json!({ "apiProvider": "Azure OpenAI", "apiUrl": azure }),
            "deployment",
        ),
        (
            json!({ "apiProvider": "OpenAI", "apiUrl": url }),
            "defaultModel",
        ),
        (
            json!({ "apiProvider": "OpenAI", "apiUrl": url, "defaultModel": "gpt-4o",
                 "deployment": "d" }),
            "deployment",
        ),
        (
            json!({ "apiProvider": "Other", "apiUrl": url, "defaultModel": "m",
                 "apiVersion": "2024-10-21" }),
            "apiVersion",
        ),
        (
            json!({ "apiProvider": "OpenAI", "defaultModel": "gpt-4o" }),
            "apiUrl",
        ),
        (
            json!({ "apiProvider": "OpenAI", "apiUrl": format!("{url}?x=1"), "defaultModel": "m" }),
            "apiUrl",
        ),
        (
            json!({ "apiProvider": "Anthropic", "apiUrl": url, "defaultModel": "m" }),
            "apiProvider",
        ),
    ];
    for (config, names) in cases {
        let e = instance(config.clone(), key.clone()).expect_err("refused");
        assert!(e.contains(names), "{config}: {e}");
    }
    // Entra ID sign-in only for Azure: the token URL default says so.
    let entra = json!({ "clientSecret": client_secret() });
    let e = instance(
        json!({ "apiProvider": "OpenAI", "apiUrl": url, "defaultModel": "gpt-4o",
                "authType": "oauth_client_credentials", "clientId": "c", "tenantId": "t" }),
        entra.clone(),
    )
    .expect_err("Entra ID on OpenAI");
    assert!(e.contains("tokenUrl") && e.contains("Azure OpenAI"), "{e}");
    let e = instance(
        json!({ "apiProvider": "Azure OpenAI", "apiUrl": azure, "deployment": "d",
                "authType": "oauth_client_credentials", "clientId": "c" }),
        entra.clone(),
    )
    .expect_err("no tenant");
    assert!(e.contains("tokenUrl"), "{e}");
    let ok = instance(
        json!({ "apiProvider": "Azure OpenAI", "apiUrl": azure, "deployment": "d",
                "authType": "oauth_client_credentials", "clientId": "c", "tenantId": "contoso.com" }),
        entra,
    )
    .expect("Azure with a tenant");
    assert_eq!(
        ok.config["tokenUrl"],
        "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token"
    );
    assert_eq!(ok.config["scope"], ENTRA_SCOPE);
}

/// Read a request head and its `Content-Length` body.
async fn read_request<S: AsyncRead + Unpin>(sock: &mut S) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < end + len {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some((head, buf[end..end + len].to_vec()))
}

async fn write_all<S: AsyncWrite + Unpin>(sock: &mut S, bytes: &[u8]) -> bool {
    sock.write_all(bytes).await.is_ok() && sock.flush().await.is_ok()
}

/// A raw server on 127.0.0.1 that answers with a chunked SSE stream of 250 text deltas, 20 ms
/// apart, and records when a write fails (the client is gone).
async fn slow_stream_server() -> (String, Arc<AtomicBool>, Arc<Mutex<Vec<u8>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (gone, body) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let (flag, seen) = (Arc::clone(&gone), Arc::clone(&body));
    tokio::spawn(async move {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        let Some((_, request)) = read_request(&mut sock).await else {
            return;
        };
        *seen.lock().unwrap() = request;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        let mut ok = write_all(&mut sock, head.as_bytes()).await;
        for i in 0..250 {
            if !ok {
                break;
            }
            let ev = format!(
                "data: {}\n\n",
                chunk(json!({ "content": format!("t{i} ") }), None)
            );
            ok = write_all(&mut sock, format!("{:x}\r\n{ev}\r\n", ev.len()).as_bytes()).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        flag.store(!ok, Ordering::SeqCst);
    });
    (format!("http://{addr}"), gone, body)
}

async fn wait_for(flag: &AtomicBool, what: &str) {
    let start = Instant::now();
    while !flag.load(Ordering::SeqCst) {
        assert!(start.elapsed() < Duration::from_secs(3), "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn other_at(base: &str) -> Harness {
    Harness::new(
        load_spec("gen_ai.yaml"),
        json!({ "apiProvider": "Other", "apiUrl": format!("{base}/v1/chat/completions"),
                "defaultModel": "llama3" }),
        json!({ "apiKey": api_key() }),
    )
}

#[tokio::test]
async fn dropping_the_stream_disconnects_from_the_server() {
    let (base, gone, body) = slow_stream_server().await;
    let h = other_at(&base);
    let ctx = h.runtime.context("", CancellationToken::new());
    let mut s = h
        .dispatcher
        .stream(&ctx, "stream", hello())
        .await
        .expect("stream");
    for i in 0..2 {
        let ev = s.next().await.expect("an event").expect("ok");
        assert_eq!(ev.data["text"], format!("t{i} "));
    }
    drop(s);
    wait_for(&gone, "the server still writes to an open connection").await;
    let sent: Value = serde_json::from_slice(&body.lock().unwrap()).expect("JSON request");
    assert_eq!(sent["stream"], true);
}

#[tokio::test]
async fn cancelling_the_stream_ends_it_and_disconnects() {
    let (base, gone, _) = slow_stream_server().await;
    let h = other_at(&base);
    let cancel = CancellationToken::new();
    let ctx = h.runtime.context("", cancel.clone());
    let mut s = h
        .dispatcher
        .stream(&ctx, "stream", hello())
        .await
        .expect("stream");
    assert!(s.next().await.expect("an event").is_ok());
    cancel.cancel();
    let start = Instant::now();
    while let Some(ev) = s.next().await {
        assert!(ev.is_ok());
        assert!(start.elapsed() < Duration::from_secs(1), "still streaming");
    }
    drop(s);
    wait_for(&gone, "the server still writes after the cancel").await;
}

mod mtls {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    fn ca() -> CertifiedIssuer<'static, KeyPair> {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(DnType::CommonName, "gen-ai test CA");
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
    }

    /// A certificate and its PKCS#8 key, as PEM and DER.
    fn leaf(
        ca: &CertifiedIssuer<'static, KeyPair>,
        name: &str,
        eku: ExtendedKeyUsagePurpose,
    ) -> (String, String, CertificateDer<'static>, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        p.extended_key_usages = vec![eku];
        let cert = p.signed_by(&key, &**ca).unwrap();
        (
            cert.pem(),
            key.serialize_pem(),
            cert.der().clone(),
            key.serialize_der(),
        )
    }

    /// TLS on 127.0.0.1 that requires a client certificate from `ca`; records each request's
    /// head and whether the client presented a certificate, answers a completion.
    async fn server(
        ca: &CertifiedIssuer<'static, KeyPair>,
    ) -> (u16, Arc<Mutex<Vec<(bool, String)>>>) {
        let (_, _, cert, key) = leaf(ca, "localhost", ExtendedKeyUsagePurpose::ServerAuth);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&provider),
        )
        .build()
        .unwrap();
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![cert],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
            )
            .unwrap();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                let has_cert = tls.get_ref().1.peer_certificates().is_some();
                let Some((head, _)) = read_request(&mut tls).await else {
                    continue;
                };
                record.lock().unwrap().push((has_cert, head));
                let body = completion(
                    json!({ "role": "assistant", "content": "Hello!" }),
                    "stop",
                    9,
                );
                let body = body.to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = write_all(&mut tls, resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            }
        });
        (port, seen)
    }

    #[tokio::test]
    async fn other_with_mtls_presents_the_client_certificate_and_sends_no_key() {
        let ca = ca();
        let (port, seen) = server(&ca).await;
        let (cert, key, _, _) = leaf(&ca, "gen-ai client", ExtendedKeyUsagePurpose::ClientAuth);
        let h = Harness::new(
            load_spec("gen_ai.yaml"),
            json!({ "apiProvider": "Other", "authType": "mtls", "caCertificate": ca.pem(),
                    "apiUrl": format!("https://localhost:{port}/v1/chat/completions"),
                    "defaultModel": "llama3" }),
            json!({ "certificate": cert, "privateKey": key }),
        );
        let out = h.exec("run", hello()).await.expect("run over mTLS");
        assert_eq!(out["message"], "Hello!");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        let (has_cert, head) = &seen[0];
        assert!(has_cert, "the client certificate was presented");
        assert!(
            head.starts_with("post /v1/chat/completions http/1.1"),
            "{head}"
        );
        assert!(
            !head.contains("authorization:") && !head.contains("api-key:"),
            "{head}"
        );
        let key_line = key.lines().nth(1).unwrap();
        assert!(!format!("{out}{:?}", h.runtime).contains(key_line));
    }
}
