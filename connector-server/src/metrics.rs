//! The server's metrics in the Prometheus exposition format (OpenMetrics text, through
//! `prometheus-client`, decision 0020): HTTP requests by route template and status, action
//! runs by connector type, action and outcome, latency histograms, the runtime's upstream
//! events ([`RuntimeEvents`]) and the requests in flight.
//!
//! Every label value comes from a bounded set: route templates (never raw paths), standard
//! method names, status codes, connector type ids and action names of the loaded specs,
//! error classes. No label ever carries an id a caller chose, an input value or a secret.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use connector_runtime::{ActionError, RuntimeEvents};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The route label of a request no route matched (a 404 or 405 from the fallback).
pub const UNMATCHED: &str = "unmatched";

/// What `/metrics` answers with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets in seconds: 5 ms to 60 s, enough for a p95 of API calls and of slow
/// upstream actions alike.
const LATENCY_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    connector_type: String,
    action: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionTypeLabels {
    connector_type: String,
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectorLabels {
    connector_type: String,
}

/// Model tokens by connector type and kind (`prompt` or `completion`). Neither the instance
/// id nor the model is a label: a caller chooses both (the per-instance, per-model figures are
/// the `handler: usage` report's).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    connector_type: String,
    kind: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric of the server and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Histograms<RouteLabels>,
    in_flight: Gauge,
    open_connections: Gauge,
    action_runs: Family<ActionLabels, Counter>,
    action_duration: Histograms<ActionTypeLabels>,
    retries: Family<ConnectorLabels, Counter>,
    rate_limit_waits: Family<ConnectorLabels, Counter>,
    rate_limit_wait_seconds: Family<ConnectorLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
    refreshes: Family<ConnectorLabels, Counter>,
    refresh_failures: Family<ConnectorLabels, Counter>,
    model_calls: Family<ConnectorLabels, Counter>,
    model_tokens: Family<TokenLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric registered under the `connector_` prefix, all at zero.
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("connector"),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            in_flight: Gauge::default(),
            open_connections: Gauge::default(),
            action_runs: Family::default(),
            action_duration: Family::new_with_constructor(latency_histogram),
            retries: Family::default(),
            rate_limit_waits: Family::default(),
            rate_limit_wait_seconds: Family::default(),
            refreshes: Family::default(),
            refresh_failures: Family::default(),
            model_calls: Family::default(),
            model_tokens: Family::default(),
        };
        m.register();
        m
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            self.http_requests.clone(),
        );
        // Names carry the unit; no `# UNIT` line, which some parsers refuse on histograms.
        r.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (to the response head), by route template",
            self.http_duration.clone(),
        );
        r.register(
            "http_requests_in_flight",
            "HTTP requests being answered now",
            self.in_flight.clone(),
        );
        r.register(
            "http_open_connections",
            "Client connections open on the main listener now (idle keep-alive ones included)",
            self.open_connections.clone(),
        );
        r.register(
            "action_runs",
            "Action runs, by connector type, action and outcome (ok or the error class)",
            self.action_runs.clone(),
        );
        r.register(
            "action_duration_seconds",
            "Time an action run took, by connector type and action",
            self.action_duration.clone(),
        );
        r.register(
            "upstream_retries",
            "Upstream requests sent again after a retryable reply or error, by connector type",
            self.retries.clone(),
        );
        r.register(
            "rate_limit_waits",
            "Upstream requests held at the rate-limit gate, by connector type",
            self.rate_limit_waits.clone(),
        );
        r.register(
            "rate_limit_wait_seconds",
            "Time upstream requests waited at the rate-limit gate, by connector type",
            self.rate_limit_wait_seconds.clone(),
        );
        r.register(
            "token_refreshes",
            "Access tokens refreshed, by connector type",
            self.refreshes.clone(),
        );
        r.register(
            "token_refresh_failures",
            "Access token refreshes that failed, by connector type",
            self.refresh_failures.clone(),
        );
        r.register(
            "model_calls",
            "Model calls (and streams) whose token usage was recorded, by connector type",
            self.model_calls.clone(),
        );
        r.register(
            "model_tokens",
            "Model tokens reported, by connector type and kind (prompt or completion)",
            self.model_tokens.clone(),
        );
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The gauge of open connections, for the accept loop ([`crate::http::serve`]) to move.
    pub fn open_connections(&self) -> Gauge {
        self.open_connections.clone()
    }

    /// One action run of `connector_type`'s `action` that took `took`.
    pub fn action_run(
        &self,
        connector_type: &str,
        action: &str,
        outcome: Result<(), &ActionError>,
        took: Duration,
    ) {
        let outcome = match outcome {
            Ok(()) => "ok",
            Err(e) => e.class.as_str(),
        };
        self.action_runs
            .get_or_create(&ActionLabels {
                connector_type: connector_type.to_string(),
                action: action.to_string(),
                outcome,
            })
            .inc();
        self.action_duration
            .get_or_create(&ActionTypeLabels {
                connector_type: connector_type.to_string(),
                action: action.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    fn connector(connector_type: &str) -> ConnectorLabels {
        ConnectorLabels {
            connector_type: connector_type.to_string(),
        }
    }
}

impl RuntimeEvents for Metrics {
    fn model_usage(&self, connector_type: &str, usage: &connector_runtime::TokenUsage) {
        self.model_calls
            .get_or_create(&Metrics::connector(connector_type))
            .inc();
        for (kind, n) in [
            ("prompt", usage.prompt_tokens),
            ("completion", usage.completion_tokens),
        ] {
            self.model_tokens
                .get_or_create(&TokenLabels {
                    connector_type: connector_type.to_string(),
                    kind,
                })
                .inc_by(n);
        }
    }

    fn upstream_retry(&self, connector_type: &str) {
        self.retries
            .get_or_create(&Metrics::connector(connector_type))
            .inc();
    }

    fn rate_limit_wait(&self, connector_type: &str, waited: Duration) {
        let labels = Metrics::connector(connector_type);
        self.rate_limit_waits.get_or_create(&labels).inc();
        self.rate_limit_wait_seconds
            .get_or_create(&labels)
            .inc_by(waited.as_secs_f64());
    }

    fn token_refresh(&self, connector_type: &str, outcome: Result<(), &ActionError>) {
        let labels = Metrics::connector(connector_type);
        match outcome {
            Ok(()) => self.refreshes.get_or_create(&labels).inc(),
            Err(_) => self.refresh_failures.get_or_create(&labels).inc(),
        };
    }
}

/// The method label: the standard methods by name, any extension method as `other` (a
/// client may send any token as a method).
fn method_label(m: &Method) -> &'static str {
    let known = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::TRACE, "TRACE"),
        (Method::CONNECT, "CONNECT"),
    ];
    known
        .iter()
        .find(|(k, _)| k == m)
        .map_or("other", |(_, name)| name)
}

/// Decrements the in-flight gauge however the request ends (a dropped connection included).
struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Count and time every request by its route template (`unmatched` when no route matched).
pub async fn track_http(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_string();
    let method = method_label(req.method());
    m.in_flight.inc();
    let _guard = InFlight(m.in_flight.clone());
    let started = Instant::now();
    let res = next.run(req).await;
    m.http_duration
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    m.http_requests
        .get_or_create(&HttpLabels {
            route,
            method,
            status: res.status().as_u16(),
        })
        .inc();
    res
}

/// The exposition as an HTTP response.
pub fn response(m: &Metrics) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        m.encode(),
    )
        .into_response()
}

/// `GET /metrics` with no authentication, for `--metrics-listen`: nothing else is served there.
pub fn standalone_router(m: Arc<Metrics>) -> axum::Router {
    axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(|State(m): State<Arc<Metrics>>| async move { response(&m) }),
        )
        .fallback(|| async { crate::error::ApiError::route_not_found() })
        .with_state(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unused_registry_encodes_every_family_and_events_count() {
        let m = Metrics::new();
        m.upstream_retry(".x");
        m.rate_limit_wait(".x", Duration::from_millis(1500));
        m.token_refresh(".x", Ok(()));
        m.token_refresh(".x", Err(&ActionError::auth("refresh_failed", "no")));
        m.action_run(
            ".x",
            "get",
            Err(&ActionError::transient("t", "t")),
            Duration::ZERO,
        );
        let text = m.encode();
        for line in [
            "connector_upstream_retries_total{connector_type=\".x\"} 1",
            "connector_rate_limit_waits_total{connector_type=\".x\"} 1",
            "connector_rate_limit_wait_seconds_total{connector_type=\".x\"} 1.5",
            "connector_token_refreshes_total{connector_type=\".x\"} 1",
            "connector_token_refresh_failures_total{connector_type=\".x\"} 1",
            "connector_action_runs_total{connector_type=\".x\",action=\"get\",outcome=\"transient\"} 1",
            "connector_http_requests_in_flight 0",
            "connector_http_open_connections 0",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn an_extension_method_is_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
