//! Server state: the registry, the store, OAuth flows, users, live instances, limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use connector_runtime::oauth::OAuthFlows;
use connector_runtime::store::{
    ConnectorInstanceRecord, RateDecision, RateLimit, RateLimits, SqliteStore, Stores, Timestamp,
    User,
};
use connector_runtime::{ConnectorInstance, Dispatcher, InstanceRuntime, Registry};
use connector_spec::AuthMode;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
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
    /// The file behind `stores` (closed on shutdown).
    pub sqlite: SqliteStore,
    pub stores: Stores,
    pub flows: Arc<OAuthFlows>,
    pub live: RwLock<HashMap<String, Arc<Live>>>,
    pub outbound: OutboundPolicy,
    pub public_base: Url,
    pub max_body_bytes: usize,
    pub oauth_limit: RateLimiter,
    /// Browser flow cookies, one per pending OAuth state.
    pub flow_bindings: FlowBindings,
    /// What `/metrics` serves; the instances' runtimes report their upstream events to it.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The cookie that ties a browser to one OAuth flow it started (plain-http base URL).
pub const FLOW_COOKIE: &str = "connector_flow";
/// The same cookie when the public base URL is https: the `__Host-` prefix makes the browser
/// refuse it unless it was set by this exact origin over https with `Path=/` and no `Domain`,
/// so a sibling subdomain or a plain-http page cannot plant one.
pub const HOST_FLOW_COOKIE: &str = "__Host-connector_flow";

/// Pending flows kept at most; beyond this the oldest binding is dropped (its flow can still
/// be completed with an API key). Starts are rate limited per user, this bounds the total.
const MAX_FLOW_BINDINGS: usize = 100_000;

/// What the flow cookie of one pending state must match at the callback.
struct FlowBinding {
    /// SHA-256 of the cookie value: a memory dump does not give working cookies.
    token_sha256: String,
    user_id: String,
    expires: Instant,
}

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
                .with_events(events);
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

    pub fn get_live(&self, id: &str) -> Result<Arc<Live>, ApiError> {
        self.live
            .read()
            .expect("not poisoned")
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("instance", id))
    }

    /// The instance `id` if `user` may use it; 404 otherwise, the same as for no instance
    /// (see [`crate::access`]).
    pub fn live_for(&self, id: &str, user: &User) -> Result<Arc<Live>, ApiError> {
        let live = self.get_live(id)?;
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

/// The flow cookie bindings: state -> (SHA-256 of the cookie, user, expiry).
#[derive(Default)]
pub struct FlowBindings(Mutex<HashMap<String, FlowBinding>>);

impl FlowBindings {
    /// Bind a fresh browser cookie to the pending `state` of `user_id`; returns the cookie
    /// value. The binding lives as long as the state (`ttl`) and is spent by the callback.
    pub fn bind(&self, state: &str, user_id: &str, ttl: Duration) -> String {
        let bytes: [u8; 32] = rand::random();
        let token = hex::encode(bytes);
        let now = Instant::now();
        let mut m = self.0.lock().expect("not poisoned");
        m.retain(|_, b| b.expires > now);
        if m.len() >= MAX_FLOW_BINDINGS
            && let Some(oldest) = m
                .iter()
                .min_by_key(|(_, b)| b.expires)
                .map(|(k, _)| k.clone())
        {
            m.remove(&oldest);
        }
        m.insert(
            state.to_string(),
            FlowBinding {
                token_sha256: sha256(&token),
                user_id: user_id.to_string(),
                expires: now + ttl,
            },
        );
        token
    }

    /// The callback's check: the cookie must be the one bound to *this* state, unexpired.
    /// A match consumes the binding (a replayed callback finds nothing); a mismatch leaves
    /// it alone, so a stray cookie cannot cancel someone else's flow.
    pub fn take(&self, state: &str, token: &str) -> Option<String> {
        let mut m = self.0.lock().expect("not poisoned");
        let matches = m
            .get(state)
            .is_some_and(|b| b.expires > Instant::now() && b.token_sha256 == sha256(token));
        if !matches {
            return None;
        }
        m.remove(state).map(|b| b.user_id)
    }

    /// Forget the binding of a state its owner cancelled.
    pub fn forget(&self, state: &str, user_id: &str) {
        let mut m = self.0.lock().expect("not poisoned");
        if m.get(state).is_some_and(|b| b.user_id == user_id) {
            m.remove(state);
        }
    }
}

fn sha256(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
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

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(600);

    #[test]
    fn a_cookie_opens_only_its_own_state_once() {
        let b = FlowBindings::default();
        let a = b.bind("state-a", "u_alice", TTL);
        let c = b.bind("state-c", "u_alice", TTL);
        assert_ne!(a, c);
        assert_eq!(b.take("state-c", &a), None, "another flow's cookie");
        assert_eq!(b.take("state-a", "forged"), None);
        assert_eq!(b.take("state-a", &a).as_deref(), Some("u_alice"));
        assert_eq!(b.take("state-a", &a), None, "spent");
        assert_eq!(
            b.take("state-c", &c).as_deref(),
            Some("u_alice"),
            "the mismatches above left it alone"
        );
    }

    #[test]
    fn an_expired_binding_opens_nothing() {
        let b = FlowBindings::default();
        let t = b.bind("s", "u_alice", Duration::ZERO);
        assert_eq!(b.take("s", &t), None);
    }

    #[test]
    fn only_the_owner_forgets_a_binding() {
        let b = FlowBindings::default();
        let t = b.bind("s", "u_alice", TTL);
        b.forget("s", "u_mallory");
        b.forget("s", "u_alice");
        assert_eq!(b.take("s", &t), None);
        let t = b.bind("s2", "u_alice", TTL);
        b.forget("s2", "u_mallory");
        assert_eq!(b.take("s2", &t).as_deref(), Some("u_alice"));
    }
}
