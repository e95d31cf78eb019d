//! Logs on stderr and, for `connector serve` in a build with the `otlp` feature, traces over
//! OTLP (`--otlp-endpoint`, else `OTEL_EXPORTER_OTLP_ENDPOINT`).

use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The variable the OpenTelemetry SDKs read for the collector's base URL.
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// How the process reports: what the logs look like and where traces go.
pub struct Reporting {
    pub filter: tracing_subscriber::EnvFilter,
    pub ansi: bool,
    pub json: bool,
    /// `--otlp-endpoint` (serve only).
    pub otlp_flag: Option<String>,
    /// Traces are exported only by `connector serve`.
    pub serving: bool,
}

/// What must live until the process ends: dropping it exports the buffered traces.
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    _traces: Option<connector_server::otlp::Traces>,
}

/// The OTLP endpoint to export to: the flag, else the environment (for `serve`).
fn otlp_endpoint(r: &Reporting) -> Option<String> {
    if !r.serving {
        return None;
    }
    r.otlp_flag.clone().or_else(|| {
        std::env::var(OTLP_ENDPOINT_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
    })
}

/// Install the logger (and the trace exporter). Call it outside any tokio runtime.
pub fn init(r: Reporting) -> anyhow::Result<Telemetry> {
    let endpoint = otlp_endpoint(&r);
    #[cfg(not(feature = "otlp"))]
    refuse_without_feature(&r, endpoint.as_deref())?;
    let logs = match r.json {
        true => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .boxed(),
        false => tracing_subscriber::fmt::layer()
            .with_ansi(r.ansi)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let registry = tracing_subscriber::registry().with(r.filter).with(logs);
    #[cfg(feature = "otlp")]
    {
        let (layer, traces) = match endpoint {
            Some(e) => {
                let (layer, traces) = connector_server::otlp::layer(&e)?;
                (Some(layer), Some(traces))
            }
            None => (None, None),
        };
        let _ = registry.with(layer).try_init();
        Ok(Telemetry { _traces: traces })
    }
    #[cfg(not(feature = "otlp"))]
    {
        let _ = registry.try_init();
        Ok(Telemetry {})
    }
}

/// Without the `otlp` feature the flag is an error that says how to get it; the variable
/// (often set for other programs too) is a warning.
#[cfg(not(feature = "otlp"))]
fn refuse_without_feature(r: &Reporting, endpoint: Option<&str>) -> anyhow::Result<()> {
    if r.otlp_flag.is_some() {
        anyhow::bail!(
            "--otlp-endpoint needs a connector built with trace export: \
             `cargo build -p connector-cli --release --features otlp` \
             (or `cargo install --path connector-cli --features otlp`)"
        );
    }
    if endpoint.is_some() {
        eprintln!(
            "warning: {OTLP_ENDPOINT_ENV} is set, but this build exports no traces \
             (build with `--features otlp`)"
        );
    }
    Ok(())
}
