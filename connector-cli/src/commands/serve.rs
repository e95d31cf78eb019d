//! `connector serve`: the HTTP server (its users are managed by `connector users`,
//! [`super::users`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use connector_server::{ConnLimits, OutboundPolicy};

use super::store_args::StoreArgs;
use crate::Outcome;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Spec files or a folder of them
    #[arg(long, value_name = "PATH", default_value = "specs")]
    pub specs: PathBuf,
    /// Load the connectors from this signed catalog (`connector export --sign`) instead of
    /// --specs; the server refuses to start unless it verifies under --catalog-key
    #[arg(
        long,
        value_name = "DIR",
        requires = "catalog_key",
        conflicts_with = "specs"
    )]
    pub catalog: Option<PathBuf>,
    /// The catalog publisher's Ed25519 public key (SPKI PEM) that --catalog must verify under
    #[arg(long, value_name = "PUBLIC KEY FILE", requires = "catalog")]
    pub catalog_key: Option<PathBuf>,
    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The URL users reach the server at (builds the OAuth redirect URI; return URLs must share
    /// its origin). Default: `http://<listen address>`
    #[arg(long, value_name = "URL")]
    pub public_base_url: Option<String>,
    /// Hosts instances may call: `api.example.com`, `*.example.com` or `*` (repeatable).
    /// Private, link-local and metadata addresses are refused whatever the list says
    #[arg(long = "allow-host", value_name = "PATTERN", default_value = "*")]
    pub allow_hosts: Vec<String>,
    /// Allow outbound calls to loopback addresses (local development and tests)
    #[arg(long)]
    pub allow_loopback: bool,
    /// EARS base URL for connectors that do not set `earsBaseUrl`
    #[arg(long, value_name = "URL")]
    pub ears_base_url: Option<String>,
    /// Largest accepted request body
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024)]
    pub max_body_bytes: usize,
    /// OAuth starts (and, separately, callbacks) allowed per user per minute
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub oauth_rate_per_minute: u32,
    /// Seconds a client has to send a request's headers, counted from its first byte; a
    /// connection still sending them is closed
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,
    /// Seconds a client has to send a request body once the headers are in; past it the
    /// answer is 408 and the connection is closed
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout: u64,
    /// Seconds a connection may wait for its next request (after connecting, or between
    /// keep-alive requests) before it is closed
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Connections served at once; more wait in the listen backlog until one closes
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Days the audit trail keeps an event (`GET /api/audit`, `connector audit`); older events
    /// are deleted by the periodic cleanup
    #[arg(long, value_name = "DAYS", default_value_t = connector_runtime::store::DEFAULT_AUDIT_RETENTION_DAYS, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub audit_retention_days: u32,
    /// Also serve `GET /metrics` on this address, without authentication (bind it to a
    /// loopback or private address only a scraper reaches, e.g. 127.0.0.1:9464). The main
    /// listener's `/metrics` needs an admin key either way
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Export traces (each request's span is a trace root with its request id) over
    /// OTLP/HTTP to this collector base URL, e.g. http://127.0.0.1:4318 (`/v1/traces` is
    /// appended). Default: $OTEL_EXPORTER_OTLP_ENDPOINT. Needs a build with `--features otlp`
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<Outcome> {
    let mut config = args.store.config();
    config.specs = args.specs;
    if let (Some(dir), Some(key)) = (&args.catalog, &args.catalog_key) {
        config.verified_specs = Some(verified_catalog(dir, key)?);
    }
    config.listen = args.listen;
    config.public_base_url = args.public_base_url;
    config.outbound = OutboundPolicy {
        allowed_hosts: args.allow_hosts,
        allow_loopback: args.allow_loopback,
    };
    config.ears_base_url = args.ears_base_url;
    config.max_body_bytes = args.max_body_bytes;
    config.oauth_rate_per_minute = args.oauth_rate_per_minute;
    config.audit_retention_days = args.audit_retention_days;
    config.limits = ConnLimits {
        header_timeout: Duration::from_secs(args.header_timeout),
        body_timeout: Duration::from_secs(args.body_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
    };
    config.metrics_listen = args.metrics_listen;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    connector_server::serve(config, listener, shutdown_signal()).await?;
    Ok(Outcome::Success)
}

/// The spec sources of the catalog at `dir`, once it verifies under the public key in
/// `key`; a catalog that does not verify stops the start with every problem named.
fn verified_catalog(
    dir: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<Vec<(String, String)>> {
    let key = crate::catalog::signing::read_verifying_key(key)?;
    let checked = crate::catalog::verify(dir, &key)
        .map_err(|rejected| anyhow::anyhow!("refusing to start: {rejected}"))?;
    let sources = checked.spec_sources();
    if sources.is_empty() {
        anyhow::bail!(
            "refusing to start: the catalog at {} verifies but holds no spec sources under \
             specs/ (export it with this version of `connector export`)",
            dir.display()
        );
    }
    tracing::info!(
        catalog = %dir.display(),
        version = checked.version.as_deref().unwrap_or("none"),
        key = %crate::catalog::signing::key_id(&key),
        specs = sources.len(),
        "catalog verified"
    );
    Ok(sources
        .into_iter()
        .map(|(path, text)| (format!("{}/{path}", dir.display()), text))
        .collect())
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    eprintln!("shutting down: finishing in-flight requests");
}
