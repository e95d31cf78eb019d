//! Server state: the registry, the store, OAuth flows, users, live instances, limits.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use connector_runtime::oauth::OAuthFlows;
use connector_runtime::store::{
    ConnectorInstanceRecord, OpenStore, RateDecision, RateLimit, RateLimits, Stores, Timestamp,
    User,
};
use connector_runtime::{ConnectorInstance, Dispatcher, InstanceRuntime, Registry};
use connector_spec::AuthMode;
use serde_json::{Map, Value};
use url::Url;

use crate::error::ApiError;
use crate::guard::OutboundPolicy;

/// A stored instance with its runtime built.
pub struct Live {
    pub record: ConnectorInstanceRecord,
    pub dispatcher: Arc<Dispatcher>,
    pub runtime: InstanceRuntime,
}

/// Everything a handler needs.
pub struct AppState {
    pub registry: Registry,
    /// `{"connectorTypes": [...]}` with each document byte-identical to `connector export`.
    pub catalog: String,
    /// `connectors/<id>.json` of the export, by connector type id.
    pub catalog_docs: HashMap<String, String>,
    /// The opened database (closed on shutdown); `stores` is its bundle.
    pub store: OpenStore,
    /// Whether other server instances share the database (PostgreSQL): instance records are
    /// then read through on use instead of trusted from this process's cache.
    pub shared: bool,
    pub stores: Stores,
    pub flows: Arc<OAuthFlows>,
    pub live: RwLock<HashMap<String, Arc<Live>>>,
    pub outbound: OutboundPolicy,
    pub public_base: Url,
    pub max_body_bytes: usize,
    pub oauth_limit: RateLimiter,
    /// What `/metrics` serves; the instances' runtimes report their upstream events to it.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The cookie that ties a browser to one OAuth flow it started (plain-http base URL).
pub const FLOW_COOKIE: &str = "connector_flow";
/// The same cookie when the public base URL is https: the `__Host-` prefix makes the browser
/// refuse it unless it was set by this exact origin over https with `Path=/` and no `Domain`,
/// so a sibling subdomain or a plain-http page cannot plant one.
pub const HOST_FLOW_COOKIE: &str = "__Host-connector_flow";

impl AppState {
    /// The config as `ConnectorInstance::new` takes it: the stored config plus `authType`.
    fn instance_of(
        &self,
        dispatcher: &Dispatcher,
        record: &ConnectorInstanceRecord,
    ) -> Result<ConnectorInstance, ApiError> {
        connector_instance(dispatcher, record)
    }

    /// Build the runtime of a stored instance (registering per-user ones for OAuth).
    pub fn build_live(&self, record: ConnectorInstanceRecord) -> Result<Arc<Live>, ApiError> {
        let dispatcher = self
            .registry
            .get(&record.connector_type)
            .cloned()
            .ok_or_else(|| {
                ApiError::bad_request(
                    "unknown_connector_type",
                    format!("no connector type `{}`", record.connector_type),
                )
            })?;
        let instance = self.instance_of(&dispatcher, &record)?;
        let events: Arc<dyn connector_runtime::RuntimeEvents> = self.metrics.clone();
        let mut runtime =
            InstanceRuntime::new_with_egress(instance.clone(), self.outbound.clone())?
                .with_events(events)
                .with_usage(Arc::clone(&self.stores.usage), &record.id);
        if instance.auth_mode() == AuthMode::PerUser {
            self.flows.register(&record.id, &instance)?;
            runtime = runtime.with_user_auth(self.flows.user_auth(&record.id)?);
        }
        Ok(Arc::new(Live {
            record,
            dispatcher,
            runtime,
        }))
    }

    /// The runtime of instance `id`. On a database other instances share, the stored record
    /// is read first: an instance created, changed or deleted through another server is
    /// seen here on its next use (the cached runtime is kept while the record is unchanged).
    pub async fn get_live(&self, id: &str) -> Result<Arc<Live>, ApiError> {
        let cached = self.live.read().expect("not poisoned").get(id).cloned();
        if !self.shared {
            return cached.ok_or_else(|| ApiError::not_found("instance", id));
        }
        let Some(record) = self.stores.instances.get_instance(id).await? else {
            self.live.write().expect("not poisoned").remove(id);
            return Err(ApiError::not_found("instance", id));
        };
        if let Some(l) = cached.filter(|l| same_record(&l.record, &record)) {
            return Ok(l);
        }
        let live = self.build_live(record)?;
        self.live
            .write()
            .expect("not poisoned")
            .insert(id.to_string(), Arc::clone(&live));
        Ok(live)
    }

    /// Every instance's runtime, ordered by id; on a shared database, in step with the stored
    /// records first (see [`AppState::get_live`]).
    pub async fn all_live(&self) -> Result<Vec<Arc<Live>>, ApiError> {
        if self.shared {
            let records = self.stores.instances.list_instances().await?;
            let mut fresh = HashMap::with_capacity(records.len());
            for record in records {
                let cached = self
                    .live
                    .read()
                    .expect("not poisoned")
                    .get(&record.id)
                    .cloned();
                let live = match cached.filter(|l| same_record(&l.record, &record)) {
                    Some(l) => l,
                    None => match self.build_live(record) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(code = %e.code, "instance not loaded: {}", e.message);
                            continue;
                        }
                    },
                };
                fresh.insert(live.record.id.clone(), live);
            }
            *self.live.write().expect("not poisoned") = fresh;
        }
        let mut lives: Vec<_> = self
            .live
            .read()
            .expect("not poisoned")
            .values()
            .cloned()
            .collect();
        lives.sort_by(|a, b| a.record.id.cmp(&b.record.id));
        Ok(lives)
    }

    /// The instance `id` if `user` may use it; 404 otherwise, the same as for no instance
    /// (see [`crate::access`]).
    pub async fn live_for(&self, id: &str, user: &User) -> Result<Arc<Live>, ApiError> {
        let live = self.get_live(id).await?;
        if crate::access::may_use(user, &live.record) {
            Ok(live)
        } else {
            Err(ApiError::not_found("instance", id))
        }
    }

    /// Whether the flow cookie is `__Host-connector_flow` (https) or `connector_flow`.
    pub fn secure_cookies(&self) -> bool {
        self.public_base.scheme() == "https"
    }

    /// The flow cookie's name for this server.
    pub fn flow_cookie_name(&self) -> &'static str {
        if self.secure_cookies() {
            HOST_FLOW_COOKIE
        } else {
            FLOW_COOKIE
        }
    }
}

/// Whether a cached runtime still matches the stored record.
fn same_record(cached: &ConnectorInstanceRecord, stored: &ConnectorInstanceRecord) -> bool {
    cached.updated_at == stored.updated_at
        && cached.access == stored.access
        && cached.name == stored.name
        && cached.auth_type == stored.auth_type
        && cached.config == stored.config
}

/// Names of every secret field a spec and an auth type declare.
/// The runtime instance of a stored record: its config plus `authType`, and its secrets.
pub fn connector_instance(
    dispatcher: &Dispatcher,
    record: &ConnectorInstanceRecord,
) -> Result<ConnectorInstance, ApiError> {
    let mut config = match &record.config {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    config.insert(
        "authType".into(),
        Value::String(record.auth_type.as_str().to_string()),
    );
    let secrets = secrets_value(dispatcher, record);
    Ok(ConnectorInstance::new(
        Arc::clone(dispatcher.spec()),
        Value::Object(config),
        secrets,
    )?)
}

pub fn secret_names(dispatcher: &Dispatcher, auth: connector_spec::AuthTypeId) -> Vec<String> {
    let mut names = Vec::new();
    for schema in [&dispatcher.spec().secrets, auth.secrets_schema()] {
        if let Some(p) = schema.get("properties").and_then(Value::as_object) {
            names.extend(p.keys().cloned());
        }
    }
    names
}

/// A record's secrets as a JSON object (the declared fields that are set).
pub fn secrets_value(dispatcher: &Dispatcher, record: &ConnectorInstanceRecord) -> Value {
    let mut m = Map::new();
    for name in secret_names(dispatcher, record.auth_type) {
        if let Some(v) = record.secrets.get(&name) {
            m.insert(name, v.clone());
        }
    }
    Value::Object(m)
}

/// The per-user limit of the OAuth routes, counted by the store's [`RateLimits`] (across
/// every instance when the store is shared).
pub struct RateLimiter {
    limit: RateLimit,
    counters: Arc<dyn RateLimits>,
}

impl RateLimiter {
    pub fn new(per_minute: u32, counters: Arc<dyn RateLimits>) -> RateLimiter {
        RateLimiter {
            limit: RateLimit {
                limit: per_minute,
                window: Duration::from_secs(60),
            },
            counters,
        }
    }

    /// Count one request; `Ok(Err(seconds to wait))` past the limit.
    pub async fn hit(&self, user: &str, bucket: &str) -> Result<Result<(), u64>, ApiError> {
        match self
            .counters
            .hit(user, bucket, self.limit, Timestamp::now())
            .await
            .map_err(ApiError::from)?
        {
            RateDecision::Allowed => Ok(Ok(())),
            RateDecision::Refused { retry_after } => Ok(Err(retry_after)),
        }
    }
}
