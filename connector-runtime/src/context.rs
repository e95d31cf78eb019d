//! What an action handler gets: the client with policies, config, secrets, span, cancellation,
//! and the calling user.

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::client::{HttpClient, RateLimitGate};
use crate::error::ActionError;
use crate::instance::ConnectorInstance;
use crate::secrets::Secrets;

/// The context of one action call.
#[derive(Clone, Debug)]
pub struct ActionContext {
    /// Authenticated HTTP client with the spec's policies applied.
    pub client: HttpClient,
    pub config: Map<String, Value>,
    pub secrets: Secrets,
    pub span: tracing::Span,
    pub cancel: CancellationToken,
    /// The calling user, empty for shared use.
    pub user_id: String,
    pub instance: ConnectorInstance,
}

/// Per-instance state reused across calls: the HTTP client and rate-limit state.
#[derive(Clone, Debug)]
pub struct InstanceRuntime {
    pub instance: ConnectorInstance,
    client: HttpClient,
}

impl InstanceRuntime {
    /// Build the client for an instance (auth strategy, TLS, timeouts, policies).
    pub fn new(instance: ConnectorInstance) -> Result<InstanceRuntime, ActionError> {
        let (connect, total) = instance.timeouts();
        let tls = instance.tls();
        let inner = crate::client::build_reqwest(connect, tls.as_ref())
            .map_err(|e| instance.redactor.redact_error(e))?;
        let auth = crate::auth::build_strategy(
            instance.auth_type,
            &instance.config,
            &instance.secrets,
            &inner,
        )
        .map_err(|e| instance.redactor.redact_error(e))?;
        let client = HttpClient {
            inner,
            auth,
            policies: Arc::new(instance.spec.policies.clone()),
            gate: Arc::new(RateLimitGate::default()),
            redactor: instance.redactor.clone(),
            total_timeout: total,
            cancel: CancellationToken::new(),
        };
        Ok(InstanceRuntime { instance, client })
    }

    /// Replace the auth strategy (tests, and per-user strategies layered on later).
    pub fn with_auth(mut self, auth: Arc<dyn crate::auth::AuthStrategy>) -> InstanceRuntime {
        self.client.auth = auth;
        self
    }

    /// A context for one call.
    pub fn context(&self, user_id: &str, cancel: CancellationToken) -> ActionContext {
        let mut client = self.client.clone();
        client.cancel = cancel.clone();
        let span =
            tracing::info_span!("action", connector = %self.instance.spec.id, user = %user_id);
        ActionContext {
            client,
            config: self.instance.config.clone(),
            secrets: self.instance.secrets.clone(),
            span,
            cancel,
            user_id: user_id.to_string(),
            instance: self.instance.clone(),
        }
    }
}

impl crate::secrets::Redactor {
    /// Scrub an error's message.
    pub fn redact_error(&self, mut e: ActionError) -> ActionError {
        e.message = self.redact(&e.message);
        e
    }
}
