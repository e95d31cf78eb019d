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
    /// The session this call runs inside, if its action belongs to one.
    pub session: Option<SessionInfo>,
    /// Where this call's token usage is recorded.
    pub(crate) usage: crate::usage::UsageSink,
    /// The caller's account values (`auth.account`) as a template value, read from the
    /// token store once per call by [`ActionContext::load_account`].
    pub(crate) account: Arc<tokio::sync::OnceCell<Option<minijinja::Value>>>,
}

impl ActionContext {
    /// Read the caller's account values once, for the templates of this call; a no-op for a
    /// spec without `auth.account`. A person without them (not connected, or connected
    /// before the spec declared them) gets the typed error that says to connect.
    pub(crate) async fn load_account(&self) -> Result<(), ActionError> {
        if self.instance.spec.auth.account.is_none() {
            return Ok(());
        }
        self.account
            .get_or_try_init(|| async {
                let values = self.client.auth.account().await?;
                Ok::<_, ActionError>(values.map(|v| minijinja::Value::from_serialize(&v)))
            })
            .await?;
        Ok(())
    }

    /// The account values loaded by [`ActionContext::load_account`].
    pub(crate) fn account_value(&self) -> Option<&minijinja::Value> {
        self.account.get().and_then(Option::as_ref)
    }

    /// The spec's `baseUrl` rendered with the instance's config and secrets (what
    /// declarative requests and `ctx.http().get(path)` resolve paths against); `None` when the
    /// spec has none.
    pub fn base_url(&self) -> Result<Option<&str>, ActionError> {
        self.instance.base.base_url()
    }

    /// The instance's config (defaults applied, the auth type's fields and `authType`
    /// included) decoded as `T`: a `#[derive(Deserialize)]` struct of your own, or the
    /// `Config` type `include_spec!` generates. A config that is not a `T` is the typed error
    /// `invalid_config` naming the problem.
    pub fn config_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, ActionError> {
        T::deserialize(serde_json::Value::Object(self.config.clone())).map_err(|e| {
            self.client.scrub(ActionError::user(
                "invalid_config",
                format!(
                    "the config of {} is not a `{}`: {e}",
                    self.instance.spec.id,
                    std::any::type_name::<T>()
                ),
            ))
        })
    }
}

/// Per-instance state reused across calls: the HTTP client and rate-limit state.
#[derive(Clone, Debug)]
pub struct InstanceRuntime {
    pub instance: ConnectorInstance,
    client: HttpClient,
    user_auth: Option<Arc<dyn crate::auth::UserAuthProvider>>,
    usage: crate::usage::UsageSink,
}

impl InstanceRuntime {
    /// Build the client for an instance (auth strategy, TLS, timeouts, policies).
    pub fn new(instance: ConnectorInstance) -> Result<InstanceRuntime, ActionError> {
        InstanceRuntime::build(instance, None)
    }

    /// [`InstanceRuntime::new`] with every request checked against `egress` when it is made:
    /// the URL, each redirect hop and each address a host name resolves to (see
    /// [`crate::egress`]). For a server that calls URLs its users configured.
    pub fn new_with_egress(
        instance: ConnectorInstance,
        egress: crate::egress::EgressPolicy,
    ) -> Result<InstanceRuntime, ActionError> {
        InstanceRuntime::build(instance, Some(Arc::new(egress)))
    }

    fn build(
        instance: ConnectorInstance,
        egress: Option<Arc<crate::egress::EgressPolicy>>,
    ) -> Result<InstanceRuntime, ActionError> {
        let (connect, total) = instance.timeouts();
        let tls = instance.tls();
        let inner = crate::client::build_reqwest(connect, tls.as_ref(), egress.as_ref())
            .map_err(|e| instance.redactor.redact_error(e))?;
        // The auth strategy's own requests (a client-credentials token fetch) go through the
        // same client and the same egress check as the API calls.
        let auth = crate::auth::build_strategy(
            instance.auth_type,
            &instance.config,
            &instance.secrets,
            &crate::egress::EgressClient::wrap(inner.clone(), egress.clone()),
        )
        .map_err(|e| instance.redactor.redact_error(e))?;
        let client = HttpClient {
            transport: Arc::new(crate::client::ReqwestTransport(inner.clone())),
            inner,
            auth,
            policies: Arc::new(instance.spec.policies.clone()),
            gate: Arc::new(RateLimitGate::default()),
            redactor: instance.redactor.clone(),
            total_timeout: total,
            cancel: CancellationToken::new(),
            egress,
            action: Default::default(),
            smtp_roots: None,
            base: Arc::clone(&instance.base),
            events: crate::events::Events::none(),
        };
        let usage = crate::usage::UsageSink::local(&instance.spec.id);
        Ok(InstanceRuntime {
            instance,
            client,
            user_auth: None,
            usage,
        })
    }

    /// Record this instance's token usage in `ledger` under `instance_id` (the server's
    /// instance id). Unset, usage is kept in this runtime's memory under the connector id.
    pub fn with_usage(
        mut self,
        ledger: Arc<dyn crate::usage::UsageLedger>,
        instance_id: &str,
    ) -> InstanceRuntime {
        self.usage = crate::usage::UsageSink::new(ledger, instance_id);
        self
    }

    /// Report this instance's upstream retries and rate-limit waits to `sink`, labelled with
    /// the connector type.
    pub fn with_events(mut self, sink: Arc<dyn crate::events::RuntimeEvents>) -> InstanceRuntime {
        self.client.events = crate::events::Events::new(sink, &self.instance.spec.id);
        self
    }

    /// Replace the auth strategy (tests, and per-user strategies layered on later).
    pub fn with_auth(mut self, auth: Arc<dyn crate::auth::AuthStrategy>) -> InstanceRuntime {
        self.client.auth = auth;
        self
    }

    /// Send this instance's requests through `transport` instead of the network (for example
    /// an [`InMemoryTransport`](crate::client::InMemoryTransport)). Auth, policies, timeouts
    /// and cancellation still apply; an OAuth token endpoint is still reached over the network.
    pub fn with_transport(
        mut self,
        transport: Arc<dyn crate::client::Transport>,
    ) -> InstanceRuntime {
        self.client.transport = transport;
        self
    }

    /// Trust `pem` (one or more certificates) as extra root CAs for this instance's SMTP
    /// connections (`.email`), besides the platform's roots: a relay with a private CA, or a
    /// test server with a self-signed certificate. HTTP requests are not affected.
    pub fn with_smtp_roots(mut self, pem: &str) -> InstanceRuntime {
        self.client.smtp_roots = Some(Arc::from(pem));
        self
    }

    /// Give a per-user instance its source of user credentials.
    pub fn with_user_auth(
        mut self,
        provider: Arc<dyn crate::auth::UserAuthProvider>,
    ) -> InstanceRuntime {
        self.user_auth = Some(provider);
        self
    }

    /// A context for one call.
    ///
    /// On a per-user instance the client acts as `user_id`: an empty id, or a user the
    /// provider cannot serve, makes every request fail with a typed auth error.
    pub fn context(&self, user_id: &str, cancel: CancellationToken) -> ActionContext {
        let mut client = self.client.clone();
        client.cancel = cancel.clone();
        if self.instance.auth_mode() == connector_spec::AuthMode::PerUser {
            client.auth = self.user_strategy(user_id);
        }
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
            session: None,
            usage: self.usage.clone(),
            account: Arc::default(),
        }
    }
}

impl InstanceRuntime {
    fn user_strategy(&self, user_id: &str) -> Arc<dyn crate::auth::AuthStrategy> {
        use crate::auth::Refuse;
        if user_id.is_empty() {
            return Arc::new(Refuse(ActionError::auth(
                "user_required",
                format!(
                    "{} uses per-user auth ({}); call it as a user",
                    self.instance.spec.id, self.instance.auth_type
                ),
            )));
        }
        match &self.user_auth {
            Some(p) => p
                .for_user(user_id)
                .unwrap_or_else(|e| Arc::new(Refuse(self.instance.redactor.redact_error(e)))),
            None => Arc::clone(&self.client.auth),
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

/// An open session, as member actions and cleanup see it (`ctx.session`, and `session.id` /
/// `session.data` in templates).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionInfo {
    /// The session's name in the spec.
    pub name: String,
    /// The id found at the session's `id` path in init's output.
    pub id: String,
    /// Init's whole output.
    pub data: Value,
}
