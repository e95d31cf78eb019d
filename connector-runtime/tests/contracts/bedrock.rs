//! `.bedrock` (Amazon Bedrock Runtime, Anthropic models) against a loopback mock of
//! `InvokeModel` and `InvokeModelWithResponseStream`. The mock recomputes every request's
//! SigV4 signature with the test credentials (service `bedrock`, the instance's region) and
//! refuses one that does not match; the stream is AWS event-stream frames with real CRCs. The
//! streaming checks (drop, cancel, a slow consumer, order) run against a raw server writing
//! the same frames (`contract_support::streams`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use base64::Engine;
use connector_runtime::{ErrorClass, EventStream, StreamEvent};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::contract_support::streams::*;
use crate::contract_support::*;
use crate::sigv4_support::sigv4_reference;

const AKID: &str = "AKIDBEDROCKCANARY";
const REGION: &str = "us-west-2";
const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

/// The secret access key: the canary, so every error is checked for it.
fn secret() -> String {
    format!("{CANARY}/bedrock+KEY")
}

/// The path as SigV4 canonicalises it for every service but S3: the wire path encoded once
/// more, `/` kept.
fn canonical_path(wire: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(wire, SET).to_string()
}

/// Checks the request's SigV4 `Authorization` against the reference signature; `Err` names
/// what is wrong.
fn verify_sigv4(req: &Request) -> Result<(), String> {
    let h = |n: &str| req.headers.get(n).map(|v| v.to_str().unwrap().to_string());
    let auth = h("authorization").ok_or("no authorization")?;
    let amz_date = h("x-amz-date").ok_or("no x-amz-date")?;
    let prefix = format!(
        "AWS4-HMAC-SHA256 Credential={AKID}/{}/{REGION}/bedrock/aws4_request, SignedHeaders=",
        &amz_date[..8]
    );
    let signed = auth.strip_prefix(&prefix).ok_or(format!("scope: {auth}"))?;
    let signed: Vec<&str> = signed.split(',').next().unwrap().split(';').collect();
    for must in ["host", "x-amz-date", "content-type"] {
        if !signed.contains(&must) {
            return Err(format!("`{must}` is not signed: {auth}"));
        }
    }
    let values: Vec<(String, String)> = signed
        .iter()
        .map(|n| (n.to_string(), h(n).unwrap_or_default()))
        .collect();
    let headers: Vec<(&str, &str)> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let expected = sigv4_reference(
        req.method.as_str(),
        &canonical_path(req.url.path()),
        "",
        &headers,
        &req.body,
        &amz_date,
        REGION,
        "bedrock",
        AKID,
        &secret(),
    );
    if auth == expected {
        Ok(())
    } else {
        Err(format!("signature: got {auth}, expected {expected}"))
    }
}

/// Refuses a request whose signature does not match (Bedrock's 403), else answers with `R`.
struct Signed<R>(R);

impl<R: Respond> Respond for Signed<R> {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        match verify_sigv4(req) {
            Ok(()) => self.0.respond(req),
            Err(why) => ResponseTemplate::new(403)
                .insert_header("x-amzn-ErrorType", "InvalidSignatureException")
                .set_body_json(json!({ "message": why })),
        }
    }
}

/// The model's path as the mock sees it, `:` decoded.
fn decoded_path(req: &Request) -> String {
    percent_encoding::percent_decode_str(req.url.path())
        .decode_utf8()
        .unwrap()
        .into_owned()
}

async fn mount(server: &MockServer, op: &'static str, r: impl Respond + 'static) {
    Mock::given(move |req: &Request| decoded_path(req) == format!("/model/{MODEL}/{op}"))
        .respond_with(Signed(r))
        .mount(server)
        .await;
}

fn harness(server: &MockServer) -> Harness {
    harness_signing_with(server, &secret())
}

fn harness_signing_with(server: &MockServer, secret_key: &str) -> Harness {
    Harness::new(
        load_spec("bedrock.yaml"),
        json!({ "apiUrl": server.uri(), "region": REGION, "defaultModel": MODEL }),
        json!({ "accessKeyId": AKID, "secretAccessKey": secret_key }),
    )
}

/// A `tool_use` block for a request without a `tool_result`, the final text for one with.
struct Claude;

impl Respond for Claude {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).expect("JSON");
        let answered = body.to_string().contains("tool_result");
        let (content, stop, input) = if answered {
            (
                json!([{ "type": "text", "text": "It is 21 degrees in Paris." }]),
                "end_turn",
                60,
            )
        } else {
            (tool_use_blocks(), "tool_use", 40)
        };
        ResponseTemplate::new(200).set_body_json(json!({
            "id": "msg_bdrk_01", "type": "message", "role": "assistant", "model": "claude-3-5-sonnet-20240620",
            "content": content, "stop_reason": stop, "stop_sequence": null,
            "usage": { "input_tokens": input, "output_tokens": 12 }
        }))
    }
}

fn tool_use_blocks() -> Value {
    json!([
        { "type": "text", "text": "Let me check." },
        { "type": "tool_use", "id": "toolu_bdrk_01", "name": "get_weather", "input": { "city": "Paris" } }
    ])
}

fn weather_tools() -> Value {
    json!([{ "name": "get_weather", "description": "Current weather in a city.",
             "input_schema": { "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"] } }])
}

fn assert_clean(shown: &str) {
    assert!(!shown.contains(CANARY), "the secret key in {shown}");
}

#[tokio::test]
async fn bedrock_run_round_trips_a_tool_use() {
    let server = loopback().await;
    mount(&server, "invoke", Claude).await;
    let h = harness(&server);
    let question = json!({ "role": "user", "content": "Weather in Paris?" });
    let first = h
        .exec("run", json!({ "messages": [question], "tools": weather_tools(),
            "toolChoice": { "type": "auto" }, "system": "Be brief.", "maxTokens": 256, "temperature": 0.2 }))
        .await
        .expect("run");
    assert_eq!(first["text"], "Let me check.");
    assert_eq!(first["toolCalls"], json!([tool_use_blocks()[1]]));
    assert_eq!(first["stopReason"], "tool_use");
    assert_eq!(
        first["usage"],
        json!({ "promptTokens": 40, "completionTokens": 12, "totalTokens": 52 })
    );
    let result = json!({ "role": "user", "content": [{ "type": "tool_result",
        "tool_use_id": "toolu_bdrk_01", "content": "21 degrees" }] });
    let second = h
        .exec("invokeAI", json!({ "messages": [question,
            { "role": "assistant", "content": tool_use_blocks() }, result], "tools": weather_tools() }))
        .await
        .expect("invokeAI");
    assert_eq!(second["text"], "It is 21 degrees in Paris.");
    assert_eq!(second["toolCalls"], json!([]));
    assert_eq!(second["stopReason"], "end_turn");
    assert_eq!(second["usage"]["totalTokens"], 72);
    assert_usage_recorded(&h, &[&first, &second]).await;
    let calls = requests(&server).await;
    assert_eq!(calls.len(), 2);
    assert_eq!(
        json_body(&calls[0]),
        json!({ "anthropic_version": "bedrock-2023-05-31", "max_tokens": 256, "system": "Be brief.",
            "messages": [question], "temperature": 0.2, "tools": weather_tools(),
            "tool_choice": { "type": "auto" } })
    );
    let body = json_body(&calls[1]);
    assert_eq!(body["max_tokens"], 1024, "the default");
    assert_eq!(body["messages"][2], result);
    assert_clean(&format!("{first}{second}"));
}

#[tokio::test]
async fn bedrock_invoke_ai_raw_returns_the_reply_unchanged() {
    let server = loopback().await;
    let reply = json!({ "id": "msg_raw", "content": [{ "type": "text", "text": "raw" }],
        "usage": { "input_tokens": 3, "output_tokens": 1 }, "amazon-bedrock-extra": [1, 2] });
    mount(
        &server,
        "invoke",
        ResponseTemplate::new(200).set_body_json(reply.clone()),
    )
    .await;
    let h = harness(&server);
    let body = json!({ "anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
        "messages": [{ "role": "user", "content": "hi" }], "top_k": 5 });
    let out = h
        .exec("invokeAIRaw", json!({ "body": body }))
        .await
        .expect("raw");
    assert_eq!(out, reply);
    assert_eq!(json_body(&only_request(&server).await), body);
}

/// A text reply's stream: the events Anthropic sends (a `ping` among them), with the
/// `amazon-bedrock-invocationMetrics` Bedrock adds to the last one.
fn anthropic_events() -> Vec<Value> {
    let delta = |t: &str| json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": t } });
    vec![
        json!({ "type": "message_start", "message": { "id": "msg_s", "type": "message", "role": "assistant",
            "model": "claude-3-5-sonnet-20240620", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": { "input_tokens": 9, "output_tokens": 1 } } }),
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        json!({ "type": "ping" }),
        delta("Hello"),
        delta(", world."),
        json!({ "type": "content_block_stop", "index": 0 }),
        json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null },
            "usage": { "output_tokens": 4 } }),
        json!({ "type": "message_stop", "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": 9, "outputTokenCount": 4, "invocationLatency": 511, "firstByteLatency": 302 } }),
    ]
}

/// A tool call's stream: a text block, then a `tool_use` block whose input arrives as
/// `input_json_delta` pieces (the first one empty, as Anthropic sends it).
fn tool_use_events() -> Vec<Value> {
    let input = |i: usize, p: &str| {
        json!({ "type": "content_block_delta", "index": i,
        "delta": { "type": "input_json_delta", "partial_json": p } })
    };
    vec![
        json!({ "type": "message_start", "message": { "id": "msg_t", "type": "message", "role": "assistant",
            "content": [], "usage": { "input_tokens": 40, "output_tokens": 1 } } }),
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "Let me check." } }),
        json!({ "type": "content_block_stop", "index": 0 }),
        json!({ "type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": "toolu_bdrk_s1", "name": "get_weather", "input": {} } }),
        input(1, ""),
        input(1, "{\"city\": \"Par"),
        input(1, "is\"}"),
        json!({ "type": "content_block_stop", "index": 1 }),
        json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use", "stop_sequence": null },
            "usage": { "output_tokens": 12 } }),
        json!({ "type": "message_stop" }),
    ]
}

/// One `chunk` frame whose payload is `payload`, as Bedrock sends it.
fn chunk_frame(payload: &Value) -> Vec<u8> {
    let headers = [
        (":message-type", "event"),
        (":event-type", "chunk"),
        (":content-type", "application/json"),
    ]
    .iter()
    .map(|(n, v)| Header::new(n.to_string(), HeaderValue::String(v.to_string().into())))
    .collect();
    let mut out = Vec::new();
    write_message_to(
        &Message::new_from_parts(headers, payload.to_string().into_bytes()),
        &mut out,
    )
    .unwrap();
    out
}

/// The `chunk` frame of one Anthropic event: base64 in `bytes`, with Bedrock's padding `p`.
fn frame(event: &Value) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(event.to_string());
    chunk_frame(&json!({ "bytes": b64, "p": "abcdefghijkl" }))
}

fn frames(events: &[Value]) -> Vec<Vec<u8>> {
    events.iter().map(frame).collect()
}

/// A mapped event: every field null but those of `set`.
fn mapped(set: Value) -> Value {
    let mut v = json!({ "type": null, "index": null, "text": null,
        "toolUse": { "id": null, "name": null }, "partialJson": null, "stopReason": null,
        "usage": { "promptTokens": null, "completionTokens": null, "totalTokens": null } });
    for (k, x) in set.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn tokens(prompt: Option<u64>, completion: Option<u64>) -> Value {
    json!({ "promptTokens": prompt, "completionTokens": completion,
        "totalTokens": prompt.or(completion) })
}

/// The stream's mapped events (or its error).
async fn stream(
    server: &MockServer,
    body: Vec<u8>,
) -> Vec<Result<Value, connector_runtime::ActionError>> {
    let r = ResponseTemplate::new(200).set_body_raw(body, "application/vnd.amazon.eventstream");
    mount(server, "invoke-with-response-stream", r).await;
    let h = harness(server);
    let ctx = h.runtime.context("", CancellationToken::new());
    let input = json!({ "messages": [{ "role": "user", "content": "Say hello" }] });
    let s = h
        .dispatcher
        .stream(&ctx, "invokeStream", input)
        .await
        .expect("stream");
    s.map(|ev| {
        ev.map(|StreamEvent { event, data }| {
            assert_eq!(event, "chunk");
            data
        })
    })
    .collect()
    .await
}

async fn stream_ok(server: &MockServer, events: &[Value]) -> Vec<Value> {
    stream(server, frames(events).concat())
        .await
        .into_iter()
        .map(|e| e.expect("event"))
        .collect()
}

#[tokio::test]
async fn bedrock_stream_events_carry_the_decoded_anthropic_events() {
    let server = loopback().await;
    let got = stream_ok(&server, &anthropic_events()).await;
    let text = |t: &str| mapped(json!({ "type": "content_block_delta", "index": 0, "text": t }));
    assert_eq!(
        got,
        vec![
            mapped(json!({ "type": "message_start", "usage": tokens(Some(9), None) })),
            mapped(json!({ "type": "content_block_start", "index": 0 })),
            mapped(json!({ "type": "ping" })),
            text("Hello"),
            text(", world."),
            mapped(json!({ "type": "content_block_stop", "index": 0 })),
            mapped(json!({ "type": "message_delta", "stopReason": "end_turn",
                "usage": tokens(None, Some(4)) })),
            mapped(json!({ "type": "message_stop" })),
        ],
        "every event, decoded, in order"
    );
    let req = only_request(&server).await;
    assert_eq!(
        header(&req, "accept").as_deref(),
        Some("application/vnd.amazon.eventstream")
    );
    assert_eq!(json_body(&req)["anthropic_version"], "bedrock-2023-05-31");
}

#[tokio::test]
async fn bedrock_stream_carries_a_tool_use_block_and_its_input_pieces() {
    let server = loopback().await;
    let got = stream_ok(&server, &tool_use_events()).await;
    let starts: Vec<&Value> = got
        .iter()
        .filter(|e| e["toolUse"]["id"].is_string())
        .collect();
    assert_eq!(starts.len(), 1, "{got:?}");
    assert_eq!(
        (starts[0]["type"].as_str(), starts[0]["index"].as_u64()),
        (Some("content_block_start"), Some(1))
    );
    assert_eq!(
        starts[0]["toolUse"],
        json!({ "id": "toolu_bdrk_s1", "name": "get_weather" })
    );
    let pieces: Vec<&Value> = got
        .iter()
        .filter(|e| e["partialJson"].is_string())
        .collect();
    assert_eq!(pieces.len(), 3);
    assert!(
        pieces
            .iter()
            .all(|e| e["index"] == 1 && e["text"].is_null())
    );
    let input: String = pieces
        .iter()
        .map(|e| e["partialJson"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        json!({ "city": "Paris" })
    );
    assert_eq!(got[2]["text"], "Let me check.");
    assert_eq!(got[9]["stopReason"], "tool_use");
    let sum = |k: &str| {
        got.iter()
            .filter_map(|e| e["usage"][k].as_u64())
            .sum::<u64>()
    };
    assert_eq!(
        (
            sum("promptTokens"),
            sum("completionTokens"),
            sum("totalTokens")
        ),
        (40, 12, 52),
        "the stream's usage: message_start's input tokens, message_delta's output tokens"
    );
}

#[tokio::test]
async fn bedrock_stream_ends_at_a_frame_with_a_bad_crc() {
    let server = loopback().await;
    let mut f = frames(&anthropic_events());
    let last = f[2].len() - 1;
    f[2][last] ^= 0x5a;
    let got = stream(&server, f.concat()).await;
    assert_eq!(got.len(), 3, "two events, the error, nothing after");
    assert_eq!(got[1].as_ref().unwrap()["type"], "content_block_start");
    let e = got[2].as_ref().unwrap_err();
    assert_eq!(
        (e.code, e.class),
        ("invalid_stream", ErrorClass::System),
        "{e}"
    );
    assert_no_canary(e);
}

/// A chunk whose `bytes` is not base64, not JSON once decoded, or missing ends the stream
/// with a `template` error that says what is wrong and where, and shows none of the payload.
#[tokio::test]
async fn bedrock_stream_ends_at_a_chunk_that_is_not_an_encoded_event() {
    let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
    let cases = [
        (
            json!({ "bytes": format!("{CANARY}==") }),
            "invalid base64 character at offset 6",
        ),
        (
            json!({ "bytes": b64(&format!("{{\"type\": \"{CANARY}\" ")) }),
            "`fromjson`: the text is not JSON: EOF while parsing an object at line 1 column 34",
        ),
        (
            json!({ "p": CANARY }),
            "`b64decode`: expects a string, got an undefined value",
        ),
    ];
    for (payload, says) in cases {
        let server = loopback().await;
        let body = [frame(&anthropic_events()[0]), chunk_frame(&payload)].concat();
        let got = stream(&server, body).await;
        assert_eq!(got.len(), 2, "one event, the error: {got:?}");
        assert_eq!(got[0].as_ref().unwrap()["type"], "message_start");
        let e = got[1].as_ref().unwrap_err();
        assert_eq!((e.code, e.class), ("template", ErrorClass::System), "{e}");
        assert!(e.message.contains(says), "{e}");
        assert_no_canary(e);
    }
}

/// A decoded event without a `type` is not an Anthropic event: the output schema refuses it
/// (`invalid_output`) rather than passing on an event of nulls.
#[tokio::test]
async fn bedrock_stream_ends_at_an_event_without_a_type() {
    let server = loopback().await;
    let body = [
        frame(&anthropic_events()[0]),
        frame(&json!({ "delta": { "text": "x" } })),
    ]
    .concat();
    let got = stream(&server, body).await;
    assert_eq!(got.len(), 2, "one event, the error: {got:?}");
    let e = got[1].as_ref().unwrap_err();
    assert_eq!(e.code, "invalid_output", "{e}");
    assert!(e.message.contains("type"), "{e}");
}

/// Bedrock's stream as the shared stream checks drive it: numbered text deltas in `chunk`
/// frames, from a raw server that does not check the signature.
struct BedrockStream;

impl AiStream for BedrockStream {
    fn content_type(&self) -> &'static str {
        "application/vnd.amazon.eventstream"
    }

    fn event(&self, n: u64, pad: usize) -> Vec<u8> {
        let text = format!("{n} {}", "x".repeat(pad));
        frame(&json!({ "type": "content_block_delta", "index": 0,
            "delta": { "type": "text_delta", "text": text } }))
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
            let h = Harness::new(
                load_spec("bedrock.yaml"),
                json!({ "apiUrl": url, "region": REGION, "defaultModel": MODEL }),
                json!({ "accessKeyId": AKID, "secretAccessKey": secret() }),
            );
            let ctx = h.runtime.context("", cancel);
            let input = json!({ "messages": [{ "role": "user", "content": "Count" }] });
            h.dispatcher
                .stream(&ctx, "invokeStream", input)
                .await
                .expect("stream")
        })
    }
}

#[tokio::test]
async fn bedrock_dropping_the_stream_closes_the_connection() {
    bounded(dropping_closes_the_connection(&BedrockStream)).await;
}

#[tokio::test]
async fn bedrock_cancelling_closes_the_connection() {
    bounded(cancelling_closes_the_connection(&BedrockStream)).await;
}

#[tokio::test]
async fn bedrock_a_slow_consumer_holds_the_server_back() {
    bounded(a_slow_consumer_holds_the_server_back(&BedrockStream)).await;
}

#[tokio::test]
async fn bedrock_stream_events_keep_their_order() {
    bounded(events_keep_their_order(&BedrockStream)).await;
}

async fn say_hi(h: &Harness) -> Result<Value, connector_runtime::ActionError> {
    h.exec(
        "run",
        json!({ "messages": [{ "role": "user", "content": "hi" }] }),
    )
    .await
}

/// A `ThrottlingException` (429) first, then a reply.
struct Throttled(Arc<AtomicUsize>);

impl Respond for Throttled {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
            return ResponseTemplate::new(429)
                .insert_header(
                    "x-amzn-ErrorType",
                    "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
                )
                .set_body_json(
                    json!({ "message": "Too many requests, please wait before trying again." }),
                );
        }
        ResponseTemplate::new(200).set_body_json(json!({
            "content": [{ "type": "text", "text": "ok" }], "stop_reason": "end_turn",
            "usage": { "input_tokens": 1, "output_tokens": 1 }
        }))
    }
}

#[tokio::test]
async fn bedrock_retries_a_throttling_exception_and_logs_no_secret() {
    let (logs, _guard) = crate::log_support::capture_here();
    let server = loopback().await;
    let hits = Arc::new(AtomicUsize::new(0));
    mount(&server, "invoke", Throttled(Arc::clone(&hits))).await;
    let h = harness(&server);
    let out = say_hi(&h).await.expect("retried");
    assert_eq!(out["text"], "ok");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let logged = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(!logged.is_empty(), "TRACE logs were captured");
    assert_clean(&logged);
    assert_clean(&format!("{out}{:?}", h.runtime));
}

/// The mock's check can fail: a request signed with another secret key is refused (403, an
/// `auth` error), and the error shows neither key.
#[tokio::test]
async fn bedrock_a_wrong_signature_is_refused_by_the_mock() {
    let server = loopback().await;
    mount(&server, "invoke", Claude).await;
    let h = harness_signing_with(&server, &format!("{CANARY}/another-key"));
    let e = say_hi(&h).await.expect_err("refused");
    assert_eq!((e.status, e.class), (Some(403), ErrorClass::Auth), "{e}");
    assert_clean(&format!("{e}{e:?}"));
}
