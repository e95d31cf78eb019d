//! Traces over OTLP (the `otlp` feature): the real binary exports to a loopback collector
//! that decodes the OTLP/HTTP protobuf body; each request's span is a trace root carrying the
//! request id. Run with `cargo test -p connector-cli --features otlp --test serve_otlp`.

mod support;

#[cfg(not(feature = "otlp"))]
#[test]
fn without_the_feature_the_flag_is_refused_with_the_fix() {
    let out = std::process::Command::new(support::bin())
        .args(["serve", "--otlp-endpoint", "http://127.0.0.1:4318"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--features otlp"), "{err}");
}

#[cfg(feature = "otlp")]
mod export {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::routing::post;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use prost::Message;

    use super::support::Serve;

    /// A span as the collector received it.
    #[derive(Debug, Clone)]
    struct Received {
        name: String,
        is_root: bool,
        attributes: HashMap<String, String>,
    }

    type Spans = Arc<Mutex<Vec<Received>>>;

    async fn traces(State(spans): State<Spans>, body: Bytes) -> &'static str {
        let req = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
        let mut got = spans.lock().unwrap();
        for span in req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            let attributes = span
                .attributes
                .iter()
                .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Any::StringValue(s) => Some((kv.key.clone(), s.clone())),
                    other => Some((kv.key.clone(), format!("{other:?}"))),
                })
                .collect();
            got.push(Received {
                name: span.name.clone(),
                is_root: span.parent_span_id.is_empty(),
                attributes,
            });
        }
        ""
    }

    async fn start_collector(spans: Spans) -> SocketAddr {
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .with_state(spans);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn each_request_is_a_trace_root_with_its_request_id() {
        let spans: Spans = Arc::default();
        let collector = start_collector(Arc::clone(&spans)).await;
        let endpoint = format!("http://{collector}");
        let mut server = Serve::new()
            .args(&["--otlp-endpoint", &endpoint])
            .start()
            .await;
        let resp = reqwest::get(server.url("/healthz")).await.unwrap();
        assert_eq!(resp.status(), 200);
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();

        // A graceful stop exports what is still buffered.
        assert!(server.terminate(), "log:\n{}", server.log_text());
        let mut found = None;
        for _ in 0..100 {
            found = spans
                .lock()
                .unwrap()
                .iter()
                .find(|s| s.attributes.get("id") == Some(&id))
                .cloned();
            if found.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let span = found.unwrap_or_else(|| {
            panic!(
                "no span with request id {id}; received {:#?}; log:\n{}",
                spans.lock().unwrap(),
                server.log_text()
            )
        });
        assert_eq!(span.name, "request");
        assert!(span.is_root, "the request span is the trace root: {span:?}");
        assert_eq!(span.attributes["method"], "GET");
        assert_eq!(span.attributes["path"], "/healthz");
    }
}
