//! Auth strategies backed by the token store: a user's own token on a per-user connector,
//! or a connector's shared token. Both refresh ahead of expiry and once after a 401.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use super::flows::{OAuthConnector, OAuthFlows, TokenOwner};
use crate::auth::strategy::{AuthStrategy, UserAuthProvider};
use crate::error::ActionError;

/// Sends the owner's stored access token as a bearer token.
pub struct StoredTokenAuth {
    flows: Arc<OAuthFlows>,
    connector: Arc<OAuthConnector>,
    owner: TokenOwner,
    /// The token the last request carried: a 401 refreshes only if it is still current.
    last: Mutex<Option<SecretString>>,
    /// Every token this strategy handed out, for redaction.
    seen: Mutex<Vec<SecretString>>,
}

impl std::fmt::Debug for StoredTokenAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTokenAuth")
            .field("connector", &self.connector.id)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl StoredTokenAuth {
    pub fn new(
        flows: Arc<OAuthFlows>,
        connector: Arc<OAuthConnector>,
        owner: TokenOwner,
    ) -> StoredTokenAuth {
        StoredTokenAuth {
            flows,
            connector,
            owner,
            last: Mutex::new(None),
            seen: Mutex::new(Vec::new()),
        }
    }

    fn remember(&self, token: &SecretString) {
        *self.last.lock().expect("not poisoned") = Some(token.clone());
        let mut seen = self.seen.lock().expect("not poisoned");
        if !seen
            .iter()
            .any(|s| s.expose_secret() == token.expose_secret())
        {
            seen.push(token.clone());
        }
    }

    fn scrub(&self, e: ActionError) -> ActionError {
        self.connector
            .redactor()
            .with(self.runtime_secrets())
            .redact_error(e)
    }
}

#[async_trait]
impl AuthStrategy for StoredTokenAuth {
    async fn apply(&self, req: &mut reqwest::Request) -> Result<(), ActionError> {
        let token = self
            .flows
            .access_token(&self.connector, &self.owner)
            .await
            .map_err(|e| self.scrub(e))?;
        self.remember(&token);
        let mut v =
            HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).map_err(|_| {
                ActionError::auth(
                    "invalid_token",
                    "the stored access token contains characters not allowed in a header",
                )
            })?;
        v.set_sensitive(true);
        req.headers_mut().insert(AUTHORIZATION, v);
        Ok(())
    }

    async fn refresh(&self) -> Result<bool, ActionError> {
        let stale = self.last.lock().expect("not poisoned").clone();
        let token = self
            .flows
            .force_refresh(&self.connector, &self.owner, stale.as_ref())
            .await
            .map_err(|e| self.scrub(e))?;
        self.remember(&token);
        Ok(true)
    }

    async fn account(
        &self,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, ActionError> {
        self.flows
            .account(&self.connector, &self.owner)
            .await
            .map_err(|e| self.scrub(e))
    }

    fn runtime_secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .seen
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|s| s.expose_secret().to_string())
            .collect();
        out.extend(self.connector.client.secrets());
        out
    }
}

/// The [`UserAuthProvider`] of one per-user connector: each user gets a strategy that reads
/// only that user's token.
#[derive(Debug, Clone)]
pub struct PerUserAuth {
    flows: Arc<OAuthFlows>,
    connector: Arc<OAuthConnector>,
}

impl PerUserAuth {
    pub fn new(flows: Arc<OAuthFlows>, connector: Arc<OAuthConnector>) -> PerUserAuth {
        PerUserAuth { flows, connector }
    }
}

impl UserAuthProvider for PerUserAuth {
    fn for_user(&self, user_id: &str) -> Result<Arc<dyn AuthStrategy>, ActionError> {
        if user_id.is_empty() {
            return Err(ActionError::auth(
                "user_required",
                format!(
                    "connector `{}` uses per-user auth; call it as a user",
                    self.connector.id
                ),
            ));
        }
        Ok(Arc::new(StoredTokenAuth::new(
            Arc::clone(&self.flows),
            Arc::clone(&self.connector),
            TokenOwner::User(user_id.to_string()),
        )))
    }
}

impl OAuthFlows {
    /// The per-user token source of a registered connector, for
    /// [`InstanceRuntime::with_user_auth`](crate::InstanceRuntime::with_user_auth).
    pub fn user_auth(
        self: &Arc<Self>,
        connector_id: &str,
    ) -> Result<Arc<PerUserAuth>, ActionError> {
        Ok(Arc::new(PerUserAuth::new(
            Arc::clone(self),
            self.connector(connector_id)?,
        )))
    }

    /// A strategy using the connector's shared token, for
    /// [`InstanceRuntime::with_auth`](crate::InstanceRuntime::with_auth).
    pub fn shared_auth(
        self: &Arc<Self>,
        connector_id: &str,
    ) -> Result<Arc<StoredTokenAuth>, ActionError> {
        Ok(Arc::new(StoredTokenAuth::new(
            Arc::clone(self),
            self.connector(connector_id)?,
            TokenOwner::Shared,
        )))
    }
}
