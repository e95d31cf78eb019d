//! `connector serve`: one server holds connector instances; users authenticate with API keys,
//! connect their own accounts through OAuth, and run actions as themselves.
//!
//! [`ServerConfig`] holds the settings (all with embedded defaults); [`serve`] starts the
//! server and returns when the shutdown signal fires and in-flight requests have finished.
//! See `docs/server-api.md`.

pub mod access;
pub mod api;
pub mod audit;
pub mod audit_api;
pub mod connection;
pub mod error;
pub mod extract;
mod flow_cookie;
pub mod guard;
pub mod http;
pub mod metrics;
pub mod openapi;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod removal;
pub mod state;
pub mod users_api;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use connector_runtime::oauth::{OAuthFlows, OAuthSettings};
use connector_runtime::store::crypto::{KEY_ENV, KEY_FILE_ENV};
use connector_runtime::store::{CleanupPolicy, Database, Keyring, Stores, spawn_cleanup};
use connector_runtime::{CancellationToken, Registry};
use tracing::Instrument;

use crate::guard::OutboundCheck;

pub use connector_runtime::store::{User, UserStore};
pub use guard::OutboundPolicy;
pub use http::ConnLimits;

/// The store file inside the data directory.
pub const DB_FILE: &str = "connector.db";
/// The generated operator key inside the data directory.
pub const KEY_FILE: &str = "operator.key";
/// The data directory when neither `--data-dir` nor `CONNECTOR_HOME` is given.
pub const DEFAULT_DATA_DIR: &str = ".connector";

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Holds `connector.db` and, unless a key is configured, `operator.key`.
    pub data_dir: PathBuf,
    /// Spec files or a folder of them.
    pub specs: PathBuf,
    /// Spec sources already verified, as (name, text): a signed catalog's, checked by
    /// `connector serve --catalog`. When set, the connectors come from these alone and
    /// `specs` is not read.
    pub verified_specs: Option<Vec<(String, String)>>,
    pub listen: SocketAddr,
    /// The URL users reach the server at; builds the OAuth redirect URI and is the origin
    /// return URLs must share. Default `http://<listen>`.
    pub public_base_url: Option<String>,
    pub outbound: OutboundPolicy,
    /// EARS base URL for connectors that do not set `earsBaseUrl`.
    pub ears_base_url: Option<String>,
    pub max_body_bytes: usize,
    /// OAuth starts and callbacks per user per minute (each).
    pub oauth_rate_per_minute: u32,
    pub cleanup_every: Duration,
    /// Audit events are kept this many days, then deleted by the periodic cleanup.
    pub audit_retention_days: u32,
    /// Header, body and idle timeouts and the connection cap (see [`http`]).
    pub limits: ConnLimits,
    /// Serve `GET /metrics` without authentication on this address too (the main
    /// listener's `/metrics` still needs an admin key).
    pub metrics_listen: Option<SocketAddr>,
    /// A PostgreSQL URL several instances share (`--database-url`, `CONNECTOR_DATABASE_URL`);
    /// `None`: `connector.db` in the data directory.
    pub database_url: Option<String>,
}

impl ServerConfig {
    /// Defaults: data dir `$CONNECTOR_HOME` or `./.connector`, specs `specs/`, 127.0.0.1:8080.
    pub fn new() -> ServerConfig {
        ServerConfig {
            data_dir: default_data_dir(),
            specs: PathBuf::from("specs"),
            verified_specs: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_base_url: None,
            outbound: OutboundPolicy::default(),
            ears_base_url: None,
            max_body_bytes: 256 * 1024,
            oauth_rate_per_minute: 20,
            cleanup_every: Duration::from_secs(10 * 60),
            audit_retention_days: connector_runtime::store::DEFAULT_AUDIT_RETENTION_DAYS,
            limits: ConnLimits::default(),
            metrics_listen: None,
            database_url: None,
        }
    }

    /// Where this server's stores live: the configured PostgreSQL URL, else `connector.db` in
    /// the data directory.
    pub fn database(&self) -> Result<Database, StartError> {
        Database::choose(self.database_url.as_deref(), self.data_dir.join(DB_FILE))
            .map_err(|e| StartError(e.to_string()))
    }

    /// The operator keyring for [`ServerConfig::database`]. A shared database takes it from
    /// `CONNECTOR_KEY` / `CONNECTOR_KEY_FILE` only: a key generated here would be this
    /// instance's alone.
    pub fn keyring(&self, db: &Database) -> Result<Keyring, StartError> {
        if !db.is_shared() {
            return operator_keyring(&self.data_dir);
        }
        match existing_env_keyring()? {
            Some(k) => Ok(k),
            None => Err(StartError(format!(
                "no operator key for {db}: every instance on a shared database must use the \
                 same key; set {KEY_ENV} (`connector keys generate` prints one) or \
                 {KEY_FILE_ENV} to the same value on each"
            ))),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig::new()
    }
}

/// `$CONNECTOR_HOME`, else `./.connector`.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os(connector_runtime::store::HOME_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

pub(crate) fn start_err(what: &str, e: impl std::fmt::Display) -> StartError {
    StartError(format!("{what}: {e}"))
}

/// The operator keyring: `CONNECTOR_KEY` / `CONNECTOR_KEY_FILE` when set, else
/// `<data dir>/operator.key`, generated (mode 0600) on first start with a warning on stderr.
pub fn operator_keyring(data_dir: &Path) -> Result<Keyring, StartError> {
    if let Some(keys) = existing_operator_keyring(data_dir)? {
        return Ok(keys);
    }
    let path = data_dir.join(KEY_FILE);
    connector_runtime::store::sqlite::create_private_dir(data_dir)
        .map_err(|e| start_err(&format!("creating {}", data_dir.display()), e))?;
    let key = Keyring::generate_key();
    let entry = Keyring::format_entry("k1", &key);
    write_private(&path, format!("{}\n", &*entry).as_bytes())
        .map_err(|e| start_err(&format!("writing {}", path.display()), e))?;
    eprintln!(
        "WARNING: generated a new operator key in {path}.\n\
         It encrypts every token and secret in {db}. Back it up and keep it private: \
         without it the stored tokens and secrets cannot be read. To keep it elsewhere, \
         move it and set {KEY_FILE_ENV} (or {KEY_ENV}).",
        path = path.display(),
        db = data_dir.join(DB_FILE).display()
    );
    Keyring::from_file(&path).map_err(|e| start_err("reading the operator key", e))
}

/// The operator keyring when one is configured or already in the data directory; `None`
/// rather than generating one (for commands that read a store the server created).
pub fn existing_operator_keyring(data_dir: &Path) -> Result<Option<Keyring>, StartError> {
    if let Some(k) = existing_env_keyring()? {
        return Ok(Some(k));
    }
    let path = data_dir.join(KEY_FILE);
    if path.exists() {
        return Keyring::from_file(&path)
            .map(Some)
            .map_err(|e| start_err("reading the operator key", e));
    }
    Ok(None)
}

/// The keyring of `CONNECTOR_KEY` / `CONNECTOR_KEY_FILE` when either is set.
fn existing_env_keyring() -> Result<Option<Keyring>, StartError> {
    let configured = std::env::var(KEY_ENV).is_ok_and(|v| !v.trim().is_empty())
        || std::env::var_os(KEY_FILE_ENV).is_some_and(|v| !v.is_empty());
    if !configured {
        return Ok(None);
    }
    Keyring::from_env()
        .map(Some)
        .map_err(|e| start_err("reading the operator key", e))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Start the server on an already bound listener; returns after `shutdown` resolves and every
/// in-flight request (actions included) has finished.
pub async fn serve(
    config: ServerConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let addr = listener
        .local_addr()
        .map_err(|e| start_err("reading the listen address", e))?;
    let public_base = public_base_url(&config, addr)?;
    if let Some(ears) = &config.ears_base_url {
        config
            .outbound
            .check_outbound_url("earsBaseUrl", ears)
            .await
            .map_err(|e| StartError(e.message))?;
    }

    let state = app_state(&config, public_base.clone()).await?;
    let (stores, metrics) = (state.stores.clone(), Arc::clone(&state.metrics));
    load_instances(&state).await?;
    hint_first_admin(&stores, &config).await;

    let cancel = CancellationToken::new();
    // Bound before anything is spawned: a taken address fails the start cleanly.
    let metrics_server = spawn_metrics_listener(&config, metrics, cancel.clone()).await?;
    let cleanup = spawn_cleanup(
        Arc::clone(&stores.maintenance),
        config.cleanup_every,
        CleanupPolicy {
            audit_retention: Duration::from_secs(u64::from(config.audit_retention_days) * 86_400),
            ..CleanupPolicy::default()
        },
        cancel.clone(),
    );

    let app = app(Arc::clone(&state), &config);
    tracing::info!(%addr, public_base = %public_base, "connector serve listening");
    eprintln!("connector serve listening on http://{addr} (public URL {public_base})");
    http::serve(
        listener,
        app,
        config.limits,
        state.metrics.open_connections(),
        shutdown,
    )
    .await;
    tracing::info!("shutting down: in-flight requests finished");
    cancel.cancel();
    if let Some(m) = metrics_server {
        let _ = m.await;
    }
    let _ = cleanup.await;
    state.store.close().await;
    Ok(())
}

/// The server's state: the specs and their catalog, the store in the data directory, the
/// OAuth flows and the metrics (no instance loaded yet).
async fn app_state(
    config: &ServerConfig,
    public_base: url::Url,
) -> Result<Arc<state::AppState>, StartError> {
    let registry = load_specs(config)?;
    let specs: Vec<_> = registry
        .ids()
        .filter_map(|id| registry.get(id))
        .map(|d| (**d.spec()).clone())
        .collect();
    let (catalog, catalog_docs) = catalog(&specs);
    let db = config.database()?;
    let keys = config.keyring(&db)?;
    let store = db
        .open(keys)
        .await
        .map_err(|e| start_err(&format!("opening {db}"), e))?;
    let stores = store.stores.clone();
    let metrics = Arc::new(metrics::Metrics::new());
    let flows = oauth_flows(config, &public_base, &stores, &metrics)?;
    let oauth_limit = state::RateLimiter::new(
        config.oauth_rate_per_minute,
        Arc::clone(&stores.rate_limits),
    );
    Ok(Arc::new(state::AppState {
        shared: db.is_shared(),
        registry,
        catalog,
        catalog_docs,
        store,
        stores,
        flows,
        live: RwLock::new(HashMap::new()),
        outbound: config.outbound.clone(),
        public_base,
        max_body_bytes: config.max_body_bytes,
        oauth_limit,
        metrics,
    }))
}

/// With `--metrics-listen`, serve `GET /metrics` without authentication there until
/// `stop` fires.
async fn spawn_metrics_listener(
    config: &ServerConfig,
    metrics: Arc<metrics::Metrics>,
    stop: CancellationToken,
) -> Result<Option<tokio::task::JoinHandle<()>>, StartError> {
    let Some(at) = config.metrics_listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(at)
        .await
        .map_err(|e| start_err(&format!("cannot listen on {at} for --metrics-listen"), e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| start_err("reading the metrics listen address", e))?;
    eprintln!("metrics on http://{bound}/metrics (no authentication)");
    let router = metrics::standalone_router(metrics)
        .layer(axum::middleware::from_fn(http::security_headers));
    // The scraper's own connections are not the service's: a gauge of their own, unread.
    Ok(Some(tokio::spawn(http::serve(
        listener,
        router,
        config.limits,
        Default::default(),
        stop.cancelled_owned(),
    ))))
}

/// `publicBaseUrl`, else `http://<listen address>/`; it must be an http(s) base URL.
pub(crate) fn public_base_url(
    config: &ServerConfig,
    addr: SocketAddr,
) -> Result<url::Url, StartError> {
    let public_base = config
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}/"));
    let public_base = url::Url::parse(&public_base).map_err(|e| start_err("publicBaseUrl", e))?;
    if !matches!(public_base.scheme(), "http" | "https") || public_base.cannot_be_a_base() {
        return Err(StartError("publicBaseUrl must be an http(s) URL".into()));
    }
    Ok(public_base)
}

/// The built-in connector types and those of the verified catalog, else of the specs folder
/// (or file).
pub(crate) fn load_specs(config: &ServerConfig) -> Result<Registry, StartError> {
    let mut registry = Registry::with_builtins();
    if let Some(sources) = &config.verified_specs {
        registry
            .load_sources(sources)
            .map_err(|e| start_err("loading the catalog's specs", e.message))?;
        return Ok(registry);
    }
    let specs = config.specs.as_path();
    if !specs.exists() {
        let shown = match specs.is_relative() && !specs.starts_with(".") {
            true => Path::new(".").join(specs),
            false => specs.to_path_buf(),
        };
        return Err(StartError(format!(
            "no specs folder at {}; pass --specs DIR (a folder of spec files, or one file)",
            shown.display()
        )));
    }
    registry.load_dir(specs).map_err(|e| {
        start_err(
            &format!("loading specs from {}", specs.display()),
            e.message,
        )
    })?;
    Ok(registry)
}

/// The OAuth flow manager, redirecting to `<public base>/api/oauth/callback`.
pub(crate) fn oauth_flows(
    config: &ServerConfig,
    public_base: &url::Url,
    stores: &Stores,
    metrics: &Arc<metrics::Metrics>,
) -> Result<Arc<OAuthFlows>, StartError> {
    let redirect_uri = public_base
        .join("api/oauth/callback")
        .map_err(|e| start_err("building the redirect URI", e))?;
    let mut settings = OAuthSettings::new(redirect_uri.to_string())
        .map_err(|e| start_err("OAuth settings", e.message))?
        .with_egress(config.outbound.clone())
        .with_events(Arc::clone(metrics) as Arc<dyn connector_runtime::RuntimeEvents>);
    if let Some(ears) = &config.ears_base_url {
        settings = settings.with_ears_base_url(ears.clone());
    }
    OAuthFlows::new(
        Arc::clone(&stores.tokens),
        Arc::clone(&stores.states),
        settings,
    )
    .map_err(|e| start_err("OAuth flows", e.message))
}

/// Bring up the stored instances; one that cannot be built is logged and left out.
async fn load_instances(state: &state::AppState) -> Result<(), StartError> {
    let records = state
        .stores
        .instances
        .list_instances()
        .await
        .map_err(|e| start_err("listing instances", e))?;
    for r in records {
        let id = r.id.clone();
        match state.build_live(r) {
            Ok(l) => {
                state.live.write().expect("not poisoned").insert(id, l);
            }
            // One broken instance (say its type was removed) must not keep the rest down.
            Err(e) => {
                tracing::error!(instance = %id, code = %e.code, "instance not loaded: {}", e.message)
            }
        }
    }
    Ok(())
}

/// With no users yet, say how to create the first admin.
async fn hint_first_admin(stores: &Stores, config: &ServerConfig) {
    if stores
        .users
        .list_users()
        .await
        .map(|u| u.is_empty())
        .unwrap_or(false)
    {
        let at = match config.database_url {
            // The URL may hold a password: name the variable rather than print it.
            Some(_) => "--database-url <this server's database URL>".to_string(),
            None => format!("--data-dir {}", config.data_dir.display()),
        };
        eprintln!("no users yet: create an admin with `connector users add <name> --admin {at}`");
    }
}

/// The API routes under the body limit, the body deadline, the request log and the
/// security headers.
fn app(state: Arc<state::AppState>, config: &ServerConfig) -> axum::Router {
    let counted = Arc::clone(&state.metrics);
    api::router(state)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            config.limits.body_timeout,
            http::body_deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            counted,
            metrics::track_http,
        ))
        .layer(axum::middleware::from_fn(request_log))
        .layer(axum::middleware::from_fn(http::security_headers))
}

/// `{"connectorTypes": [...]}` and the per-type documents, as `connector export` writes them.
fn catalog(specs: &[connector_spec::ConnectorSpec]) -> (String, HashMap<String, String>) {
    let files = connector_spec::export::export_catalog(specs);
    let mut docs = HashMap::new();
    for spec in specs {
        let path = connector_spec::export::catalog_path(&spec.id);
        if let Some(f) = files.iter().find(|f| f.path == path) {
            docs.insert(spec.id.clone(), f.contents.clone());
        }
    }
    let mut ids: Vec<&String> = docs.keys().collect();
    ids.sort();
    let body: Vec<&str> = ids.iter().map(|id| docs[*id].trim_end()).collect();
    let text = format!("{{\"connectorTypes\": [\n{}\n]}}\n", body.join(",\n"));
    (text, docs)
}

/// The path as logged: a segment that looks like an API key (`ck_...`, a client that put a
/// key where a key *name* belongs) is replaced by `ck_<redacted>`.
fn logged_path(path: &str) -> std::borrow::Cow<'_, str> {
    let prefix = connector_runtime::store::KEY_PREFIX;
    if !path.contains(prefix) {
        return std::borrow::Cow::Borrowed(path);
    }
    let parts: Vec<&str> = path
        .split('/')
        .map(|seg| {
            if seg.starts_with(prefix) {
                "ck_<redacted>"
            } else {
                seg
            }
        })
        .collect();
    std::borrow::Cow::Owned(parts.join("/"))
}

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(0);

/// Give every request an id (`x-request-id`), run it in a span with the method and path (the
/// query is left out: the OAuth callback carries a code there), and log its status.
async fn request_log(req: Request, next: Next) -> Response {
    let n = REQUEST_SEQ.fetch_add(1, Ordering::Relaxed);
    let id = format!("{:08x}-{n}", rand::random::<u32>());
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %req.method(),
        path = %logged_path(req.uri().path()),
        user = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let mut res = audit::REQUEST_ID
        .scope(id.clone(), next.run(req).instrument(span.clone()))
        .await;
    span.in_scope(|| {
        tracing::info!(
            status = res.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "request"
        )
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::logged_path;

    #[test]
    fn a_key_in_a_path_is_not_logged() {
        assert_eq!(
            logged_path("/api/users/al/keys/ck_SECRETSECRET"),
            "/api/users/al/keys/ck_<redacted>"
        );
        assert_eq!(logged_path("/api/instances/x"), "/api/instances/x");
    }
}
