//! `.gemini` (Vertex AI) against a loopback mock of Google's token endpoint and of Vertex's
//! `generateContent` / `streamGenerateContent?alt=sse`. The token endpoint verifies the RS256
//! JWT with the public half of a key made at test time (`iss`, `aud`, `scope`, `kid`); the API
//! checks the bearer token it issued. The streaming checks (drop, cancel, a slow consumer,
//! order) run against a raw server writing SSE (`contract_support::streams`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use connector_runtime::{
    ConnectorInstance, EgressPolicy, ErrorClass, EventStream, InstanceRuntime, Registry,
    StreamEvent,
};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::contract_support::streams::*;
use crate::contract_support::*;
use crate::jwt_support::{TestKey, key_canaries, test_key, verified};

const EMAIL: &str = "vertex-caller@canary-project.iam.gserviceaccount.com";
const KEY_ID: &str = "8f1c0e2d4b6a8c0e2f4a6b8c0d2e4f6a8b0c2d4e";
const TOKEN_PATH: &str = "/token";
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const MODEL_PATH: &str =
    "/v1/projects/canary-project/locations/us-central1/publishers/google/models/gemini-2.5-pro";

fn key_file(key: &TestKey, token_uri: &str) -> Value {
    json!({
        "type": "service_account",
        "project_id": "canary-project",
        "private_key_id": KEY_ID,
        "private_key": key.pem,
        "client_email": EMAIL,
        "client_id": "108234567890123456789",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    })
}

/// The Google token endpoint: verifies the assertion, answers `canary-gem-token-<n>`.
struct GoogleToken {
    public: Vec<u8>,
    aud: String,
    n: Arc<AtomicUsize>,
}

impl Respond for GoogleToken {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        let names: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["grant_type", "assertion"],
            "no client authentication"
        );
        assert_eq!(form[0].1, "urn:ietf:params:oauth:grant-type:jwt-bearer");
        let (head, claims) = verified(&form[1].1, &self.public);
        assert_eq!(head["alg"], "RS256");
        assert_eq!(head["kid"], KEY_ID);
        assert_eq!(claims["iss"], EMAIL);
        assert_eq!(claims["aud"], self.aud.as_str());
        assert_eq!(claims["scope"], SCOPE);
        let iat = claims["iat"].as_u64().expect("iat");
        assert_eq!(claims["exp"].as_u64(), Some(iat + 3600));
        let n = self.n.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": format!("canary-gem-token-{n}"),
            "expires_in": 3599,
            "token_type": "Bearer",
        }))
    }
}

struct Gemini {
    server: MockServer,
    key: TestKey,
    tokens: Arc<AtomicUsize>,
    h: Harness,
}

async fn gemini() -> Gemini {
    gemini_with(|uri| (uri.to_string(), None)).await
}

/// `urls` gives the key's `token_uri` and the `tokenUrl` config override for the token
/// endpoint's URL.
async fn gemini_with(urls: impl Fn(&str) -> (String, Option<String>)) -> Gemini {
    let server = loopback().await;
    let key = test_key();
    let endpoint = format!("{}{TOKEN_PATH}", server.uri());
    let (token_uri, token_url) = urls(&endpoint);
    let tokens = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(GoogleToken {
            public: key.public.clone(),
            aud: endpoint,
            n: Arc::clone(&tokens),
        })
        .mount(&server)
        .await;
    let mut config = json!({
        "apiUrl": server.uri(), "region": "us-central1",
        "projectId": "canary-project", "defaultModel": "gemini-2.5-pro"
    });
    if let Some(u) = token_url {
        config["tokenUrl"] = json!(u);
    }
    let h = Harness::new(
        load_spec("gemini.yaml"),
        config,
        json!({ "serviceAccountKey": key_file(&key, &token_uri).to_string() }),
    );
    Gemini {
        server,
        key,
        tokens,
        h,
    }
}

/// Nothing secret in a value shown to the caller: the key's PEM lines and the tokens.
fn assert_clean(g: &Gemini, shown: &str) {
    for c in key_canaries(&g.key.pem) {
        assert!(!shown.contains(&c), "private key in {shown}");
    }
    assert!(!shown.contains("canary-gem-token"), "token in {shown}");
    let rt = format!("{:?}", g.h.runtime);
    assert!(
        !rt.contains(&key_canaries(&g.key.pem)[0]),
        "key in runtime Debug"
    );
}

fn usage(prompt: u64, candidates: u64) -> Value {
    json!({
        "promptTokenCount": prompt, "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates
    })
}

/// A `functionCall` for a request without a `functionResponse`, the final text for one with.
struct Weather;

impl Respond for Weather {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).expect("JSON");
        let answered = body.to_string().contains("functionResponse");
        let part = if answered {
            json!({ "text": "It is 21 degrees in Paris." })
        } else {
            json!({ "functionCall": { "name": "get_weather", "args": { "city": "Paris" } } })
        };
        ResponseTemplate::new(200).set_body_json(json!({
            "candidates": [{ "content": { "role": "model", "parts": [part] }, "finishReason": "STOP" }],
            "usageMetadata": usage(if answered { 40 } else { 25 }, 7),
            "modelVersion": "gemini-2.5-pro"
        }))
    }
}

fn weather_tools() -> Value {
    json!([{ "functionDeclarations": [{
        "name": "get_weather", "description": "Current weather in a city.",
        "parameters": { "type": "OBJECT", "properties": { "city": { "type": "STRING" } }, "required": ["city"] }
    }] }])
}

#[tokio::test]
async fn gemini_run_round_trips_a_function_call() {
    let g = gemini().await;
    Mock::given(method("POST"))
        .and(path(format!("{MODEL_PATH}:generateContent")))
        .respond_with(Weather)
        .mount(&g.server)
        .await;
    let question = json!({ "role": "user", "parts": [{ "text": "Weather in Paris?" }] });
    let first =
        g.h.exec(
            "run",
            json!({
                "contents": [question], "tools": weather_tools(),
                "toolConfig": { "functionCallingConfig": { "mode": "AUTO" } },
                "systemInstruction": "Be brief.", "temperature": 0.2, "maxOutputTokens": 256
            }),
        )
        .await
        .expect("run");
    let call = json!({ "name": "get_weather", "args": { "city": "Paris" } });
    assert_eq!(first["functionCalls"], json!([call]));
    assert_eq!(first["text"], "");
    assert_eq!(
        first["usage"],
        json!({ "promptTokens": 25, "completionTokens": 7, "totalTokens": 32 })
    );
    let second =
        g.h.exec(
            "invokeAI",
            json!({ "contents": [
                question,
                { "role": "model", "parts": [{ "functionCall": call }] },
                { "role": "user", "parts": [{ "functionResponse": {
                    "name": "get_weather", "response": { "celsius": 21 } } }] }
            ], "tools": weather_tools() }),
        )
        .await
        .expect("invokeAI");
    assert_eq!(second["text"], "It is 21 degrees in Paris.");
    assert_eq!(second["functionCalls"], json!([]));
    assert_eq!(second["finishReason"], "STOP");
    assert_eq!(second["usage"]["totalTokens"], 47);
    assert_usage_recorded(&g.h, &[&first, &second]).await;
    let calls = requests(&g.server).await;
    assert_eq!(calls.len(), 3, "one token for both calls");
    let body = json_body(&calls[1]);
    assert_eq!(body["tools"], weather_tools());
    assert_eq!(body["toolConfig"]["functionCallingConfig"]["mode"], "AUTO");
    assert_eq!(body["systemInstruction"]["parts"][0]["text"], "Be brief.");
    assert_eq!(
        body["generationConfig"],
        json!({ "temperature": 0.2, "maxOutputTokens": 256 })
    );
    assert_eq!(
        json_body(&calls[2])["contents"][2]["parts"][0]["functionResponse"]["name"],
        "get_weather"
    );
    for r in &calls[1..] {
        assert_eq!(
            header(r, "authorization").as_deref(),
            Some("Bearer canary-gem-token-1")
        );
    }
    assert_clean(&g, &format!("{first}{second}"));
}

fn sse(chunks: &[Value]) -> String {
    chunks
        .iter()
        .map(|c| format!("data: {c}\r\n\r\n"))
        .collect()
}

#[tokio::test]
async fn gemini_stream_yields_text_deltas_and_the_final_usage() {
    let g = gemini().await;
    let delta = |t: &str| json!({ "candidates": [{ "content": { "role": "model", "parts": [{ "text": t }] } }] });
    let mut last = delta(" world.");
    last["candidates"][0]["finishReason"] = json!("STOP");
    last["usageMetadata"] = usage(5, 3);
    let body = sse(&[delta("Hello"), delta(","), last]);
    Mock::given(method("POST"))
        .and(path(format!("{MODEL_PATH}:streamGenerateContent")))
        .and(query_param("alt", "sse"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
        .mount(&g.server)
        .await;
    let ctx = g.h.runtime.context("", CancellationToken::new());
    let input = json!({ "contents": [{ "role": "user", "parts": [{ "text": "Say hello" }] }] });
    let mut s =
        g.h.dispatcher
            .stream(&ctx, "stream", input)
            .await
            .expect("stream");
    let mut events: Vec<StreamEvent> = Vec::new();
    while let Some(ev) = s.next().await {
        events.push(ev.expect("event"));
    }
    let texts: Vec<&Value> = events.iter().map(|e| &e.data["text"]).collect();
    assert_eq!(texts, [&json!("Hello"), &json!(","), &json!(" world.")]);
    assert_eq!(events[0].data["usage"]["totalTokens"], Value::Null);
    assert_eq!(
        events[2].data["usage"],
        json!({ "promptTokens": 5, "completionTokens": 3, "totalTokens": 8 })
    );
    assert_eq!(events[2].data["finishReason"], "STOP");
    let api = &requests(&g.server).await[1];
    assert_eq!(
        header(api, "authorization").as_deref(),
        Some("Bearer canary-gem-token-1")
    );
    assert_eq!(
        json_body(api)["contents"][0]["parts"][0]["text"],
        "Say hello"
    );
}

/// Answers the scripted statuses in turn, then a reply.
struct Script {
    statuses: Vec<u16>,
    hits: Arc<AtomicUsize>,
}

impl Respond for Script {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let n = self.hits.fetch_add(1, Ordering::SeqCst);
        let token = req
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string());
        match self.statuses.get(n) {
            Some(&401) if token.as_deref() == Some("Bearer canary-gem-token-1") => {
                ResponseTemplate::new(401)
                    .set_body_json(json!({ "error": { "code": 401, "status": "UNAUTHENTICATED" } }))
            }
            Some(&s) if s != 401 => ResponseTemplate::new(s)
                .insert_header("retry-after", "0")
                .set_body_json(json!({ "error": { "code": s, "message": "try again" } })),
            _ => ResponseTemplate::new(200).set_body_json(json!({
                "candidates": [{ "content": { "role": "model", "parts": [{ "text": "ok" }] } }],
                "usageMetadata": usage(1, 1)
            })),
        }
    }
}

async fn scripted(g: &Gemini, statuses: Vec<u16>) -> Arc<AtomicUsize> {
    let hits = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path(format!("{MODEL_PATH}:generateContent")))
        .respond_with(Script {
            statuses,
            hits: Arc::clone(&hits),
        })
        .mount(&g.server)
        .await;
    hits
}

fn hello() -> Value {
    json!({ "contents": [{ "role": "user", "parts": [{ "text": "hi" }] }], "model": "gemini-2.5-pro" })
}

#[tokio::test]
async fn gemini_retries_a_429_and_a_503() {
    let g = gemini().await;
    let hits = scripted(&g, vec![429, 503]).await;
    let out = g.h.exec("run", hello()).await.expect("retried");
    assert_eq!(out["text"], "ok");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(g.tokens.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn gemini_refreshes_the_token_once_after_a_401() {
    let g = gemini().await;
    let hits = scripted(&g, vec![401]).await;
    let out = g.h.exec("invokeAI", hello()).await.expect("refreshed");
    assert_eq!(out["usage"]["totalTokens"], 2);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(
        g.tokens.load(Ordering::SeqCst),
        2,
        "a new token after the 401"
    );
    let last = requests(&g.server).await.pop().expect("a request");
    assert_eq!(
        header(&last, "authorization").as_deref(),
        Some("Bearer canary-gem-token-2")
    );
}

#[tokio::test]
async fn gemini_refuses_a_malformed_key_naming_the_field() {
    let key = test_key();
    let good = key_file(&key, "https://oauth2.googleapis.com/token");
    let without = |field: &str| {
        let mut k = good.clone();
        k.as_object_mut().unwrap().remove(field);
        k.to_string()
    };
    let mut wrong_type = good.clone();
    wrong_type["type"] = json!("authorized_user");
    let mut bad_pem = good.clone();
    bad_pem["private_key"] = json!(format!("{CANARY}-not-a-pem"));
    let cases = [
        (
            format!("{{\"private_key\": \"{CANARY}"),
            "invalid_config",
            "not JSON",
        ),
        (without("client_email"), "invalid_config", "`client_email`"),
        (without("private_key"), "invalid_config", "`private_key`"),
        (
            without("private_key_id"),
            "invalid_config",
            "`private_key_id`",
        ),
        (without("token_uri"), "invalid_config", "`token_uri`"),
        (
            wrong_type.to_string(),
            "invalid_config",
            "`service_account`",
        ),
        (bad_pem.to_string(), "invalid_private_key", "PEM"),
    ];
    let spec = Arc::new(load_spec("gemini.yaml"));
    for (secret, code, names) in cases {
        let instance = ConnectorInstance::new(
            Arc::clone(&spec),
            json!({ "region": "us-central1", "projectId": "p", "defaultModel": "gemini-2.5-pro" }),
            json!({ "serviceAccountKey": secret }),
        )
        .expect("instance");
        let e = InstanceRuntime::new(instance).expect_err("a malformed key is refused");
        assert_eq!(e.code, code, "{e}");
        assert_eq!(e.class, ErrorClass::User, "{e}");
        assert!(e.message.contains(names), "{e}");
        assert_no_canary(&e);
        for c in key_canaries(&key.pem) {
            assert!(!format!("{e}{e:?}").contains(&c), "the key in {e:?}");
        }
    }
}

#[tokio::test]
async fn gemini_token_url_overrides_the_keys_token_uri() {
    let g = gemini_with(|uri| {
        (
            "https://oauth2.googleapis.com/token".into(),
            Some(uri.to_string()),
        )
    })
    .await;
    let hits = scripted(&g, vec![]).await;
    let out = g.h.exec("run", hello()).await.expect("run");
    assert_eq!(out["text"], "ok");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(
        g.tokens.load(Ordering::SeqCst),
        1,
        "the aud is the override"
    );
}

#[tokio::test]
async fn gemini_token_uri_is_checked_by_the_egress_policy() {
    let g = gemini_with(|uri| (uri.replace("127.0.0.1", "localhost"), None)).await;
    let hits = scripted(&g, vec![]).await;
    // The API on 127.0.0.1 is allowed; the key's token URI on `localhost` is not.
    let policy = EgressPolicy {
        allowed_hosts: vec!["127.0.0.1".into()],
        allow_loopback: true,
    };
    let instance = g.h.runtime.instance.clone();
    let runtime = InstanceRuntime::new_with_egress(instance, policy).expect("runtime");
    let dispatcher = Registry::new()
        .register_spec(load_spec("gemini.yaml"))
        .expect("registers");
    let ctx = runtime.context("", CancellationToken::new());
    let e = dispatcher
        .execute(&ctx, "run", hello(), Default::default())
        .await
        .expect_err("refused");
    assert_eq!(e.code, "egress_refused", "{e}");
    assert_eq!(g.tokens.load(Ordering::SeqCst), 0);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

/// A blocked prompt has no candidates, only `promptFeedback`; a candidate stopped for safety
/// may have no parts. Both are an empty text, no calls, and the usage.
#[tokio::test]
async fn gemini_run_without_candidates_or_parts_is_an_empty_reply() {
    let g = gemini().await;
    let replies = [
        json!({ "promptFeedback": { "blockReason": "SAFETY" }, "usageMetadata": usage(4, 0) }),
        json!({ "candidates": [{ "content": { "role": "model" }, "finishReason": "SAFETY" }],
                "usageMetadata": usage(4, 0) }),
    ];
    for reply in replies {
        g.server.reset().await;
        let server = &g.server;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "canary-gem-token-x", "expires_in": 3599
            })))
            .mount(server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("{MODEL_PATH}:generateContent")))
            .respond_with(ResponseTemplate::new(200).set_body_json(reply.clone()))
            .mount(server)
            .await;
        let out = g.h.exec("run", hello()).await.expect("run");
        assert_eq!(out["text"], "", "{reply}");
        assert_eq!(out["functionCalls"], json!([]), "{reply}");
        assert_eq!(out["usage"]["promptTokens"], 4);
    }
}

/// Gemini's stream as the shared stream checks drive it: numbered text deltas as
/// `streamGenerateContent?alt=sse` events, from a raw server; the token endpoint is a
/// wiremock server that verifies the JWT.
struct GeminiStream {
    token: MockServer,
    key: TestKey,
}

impl GeminiStream {
    async fn start() -> &'static GeminiStream {
        let token = loopback().await;
        let key = test_key();
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(GoogleToken {
                public: key.public.clone(),
                aud: format!("{}{TOKEN_PATH}", token.uri()),
                n: Arc::new(AtomicUsize::new(0)),
            })
            .mount(&token)
            .await;
        Box::leak(Box::new(GeminiStream { token, key }))
    }
}

impl AiStream for GeminiStream {
    fn content_type(&self) -> &'static str {
        "text/event-stream"
    }

    fn event(&self, n: u64, pad: usize) -> Vec<u8> {
        let text = format!("{n} {}", "x".repeat(pad));
        let chunk = json!({ "candidates": [{ "content": { "role": "model", "parts": [{ "text": text }] } }],
            "modelVersion": "gemini-2.5-pro" });
        format!("data: {chunk}\r\n\r\n").into_bytes()
    }

    fn number(&self, data: &Value) -> u64 {
        leading_number(data["text"].as_str().expect("a text delta"))
    }

    fn open<'a>(
        &'a self,
        url: &'a str,
        cancel: CancellationToken,
    ) -> Pin<Box<dyn Future<Output = EventStream> + Send + 'a>> {
        Box::pin(async move {
            let endpoint = format!("{}{TOKEN_PATH}", self.token.uri());
            let h = Harness::new(
                load_spec("gemini.yaml"),
                json!({ "apiUrl": url, "region": "us-central1",
                    "projectId": "canary-project", "defaultModel": "gemini-2.5-pro" }),
                json!({ "serviceAccountKey": key_file(&self.key, &endpoint).to_string() }),
            );
            let ctx = h.runtime.context("", cancel);
            let input = json!({ "contents": [{ "role": "user", "parts": [{ "text": "Count" }] }] });
            h.dispatcher
                .stream(&ctx, "stream", input)
                .await
                .expect("stream")
        })
    }
}

#[tokio::test]
async fn gemini_dropping_the_stream_closes_the_connection() {
    bounded(dropping_closes_the_connection(GeminiStream::start().await)).await;
}

#[tokio::test]
async fn gemini_cancelling_closes_the_connection() {
    bounded(cancelling_closes_the_connection(
        GeminiStream::start().await,
    ))
    .await;
}

#[tokio::test]
async fn gemini_a_slow_consumer_holds_the_server_back() {
    bounded(a_slow_consumer_holds_the_server_back(
        GeminiStream::start().await,
    ))
    .await;
}

#[tokio::test]
async fn gemini_stream_events_keep_their_order() {
    bounded(events_keep_their_order(GeminiStream::start().await)).await;
}
