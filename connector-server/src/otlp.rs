//! Traces over OTLP/HTTP with protobuf bodies (the `otlp` feature, decision 0021): a
//! `tracing` layer that turns spans into OpenTelemetry spans and exports them in batches.
//! Each request's span (`request{id, method, path, user}`, see `request_log`) has no parent,
//! so it is the root of its trace and carries the request id as the attribute `id`.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetryLayer;

use crate::StartError;

/// The OTLP path of traces, appended to the endpoint (as `OTEL_EXPORTER_OTLP_ENDPOINT`
/// specifies for the HTTP exporters).
const TRACES_PATH: &str = "v1/traces";

/// The exporter of a running process: dropping it exports what is still buffered.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl std::fmt::Debug for Traces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traces").finish_non_exhaustive()
    }
}

impl Drop for Traces {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("warning: exporting the last traces failed: {e}");
        }
    }
}

/// `<endpoint>/v1/traces`: `endpoint` is the collector's base URL (`http://127.0.0.1:4318`),
/// as in `OTEL_EXPORTER_OTLP_ENDPOINT`; one that already ends in `/v1/traces` is kept.
pub fn traces_url(endpoint: &str) -> Result<String, StartError> {
    let url = url::Url::parse(endpoint.trim()).map_err(|e| {
        StartError(format!(
            "the OTLP endpoint `{endpoint}` is not a URL ({e}); give the collector's base URL, \
             e.g. http://127.0.0.1:4318"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(StartError(format!(
            "the OTLP endpoint `{endpoint}` must be an http(s) URL, e.g. http://127.0.0.1:4318"
        )));
    }
    if url.path().trim_end_matches('/').ends_with(TRACES_PATH) {
        return Ok(url.to_string());
    }
    let mut base = url;
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(TRACES_PATH)
        .map(String::from)
        .map_err(|e| StartError(format!("building the OTLP traces URL: {e}")))
}

/// A layer exporting spans to `endpoint` over OTLP/HTTP (protobuf), and its exporter. Build
/// it outside a tokio runtime: the exporter's blocking HTTP client runs on its own thread.
pub fn layer<S>(endpoint: &str) -> Result<(OpenTelemetryLayer<S, SdkTracer>, Traces), StartError>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let url = traces_url(endpoint)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .build()
        .map_err(|e| StartError(format!("building the OTLP exporter: {e}")))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("connector")
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("connector-server");
    Ok((
        tracing_opentelemetry::layer().with_tracer(tracer),
        Traces { provider },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_appended_once_and_a_bad_endpoint_says_what_to_give() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318").unwrap(),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_url("https://otel.example/base/").unwrap(),
            "https://otel.example/base/v1/traces"
        );
        assert_eq!(
            traces_url("http://c:4318/v1/traces").unwrap(),
            "http://c:4318/v1/traces"
        );
        let e = traces_url("127.0.0.1:4318").unwrap_err().0;
        assert!(e.contains("http://127.0.0.1:4318"), "{e}");
        assert!(traces_url("ftp://c/").is_err());
    }
}
