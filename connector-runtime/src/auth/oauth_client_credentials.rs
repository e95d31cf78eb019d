//! `oauth_client_credentials`: an access token from the OAuth 2.0 client credentials grant,
//! fetched through the one token client ([`TokenEndpoint`]), cached until shortly before it
//! expires, and fetched again after a 401.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use connector_spec::{AuthTypeId, ErrorClass};
use reqwest::header::AUTHORIZATION;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use super::auth_type::AuthType;
use super::fields::{config_str, header_value, required_config, required_secret};
use super::strategy::{AuthStrategy, Refuse};
use crate::egress::EgressClient;
use crate::error::ActionError;
use crate::oauth::token::{ClientAuthentication, TokenEndpoint, TokenEndpointError, TokenPaths};
use crate::secrets::Secrets;

/// The `oauth_client_credentials` auth type.
pub struct ClientCredentialsType;

/// Refresh this long before the token expires (at most half its life).
const MARGIN: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct CachedToken {
    access_token: String,
    /// When to stop using it (expiry minus the safety margin).
    refresh_at: Option<Instant>,
}

/// OAuth 2.0 client credentials grant with a cached token.
pub struct ClientCredentials {
    /// The instance's client behind the egress check: the token URL is checked like an API
    /// URL (`tokenUrl: "http:127.0.0.1:1/t"` is loopback however it is spelled).
    http: EgressClient,
    endpoint: TokenEndpoint,
    scope: Option<String>,
    audience: Option<String>,
    /// Held while fetching, so concurrent callers wait for one fetch.
    cache: Mutex<Option<CachedToken>>,
    seen: std::sync::Mutex<Vec<String>>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// A failed token request as the action's error. Messages carry what the provider said
/// (already stripped of control characters and capped), never the client secret; the
/// instance's redactor scrubs an echoed secret on the way out.
fn token_error(e: &TokenEndpointError) -> ActionError {
    let class = if e.is_transient() {
        ErrorClass::Transient
    } else {
        ErrorClass::Auth
    };
    let err = match e {
        TokenEndpointError::Provider { .. } => ActionError::new(
            class,
            "token_request_failed",
            format!("token endpoint refused the client: {e}"),
        ),
        TokenEndpointError::Status { .. } => {
            ActionError::new(class, "token_request_failed", e.to_string())
        }
        TokenEndpointError::Malformed { .. } => {
            ActionError::auth("invalid_token_response", e.to_string())
        }
        TokenEndpointError::Transport(why) => ActionError::transient(
            "token_request_failed",
            format!("token request failed: {why}"),
        ),
        TokenEndpointError::Refused(_) => ActionError::user("egress_refused", e.to_string()),
    };
    match e.status() {
        Some(s) => err.with_status(s),
        None => err,
    }
}

impl ClientCredentials {
    async fn fetch(&self) -> Result<CachedToken, ActionError> {
        let tokens = self
            .endpoint
            .client_credentials(&self.http, self.scope.as_deref(), self.audience.as_deref())
            .await
            .map_err(|e| token_error(&e))?;
        let access_token = tokens.access_token.expose_secret().to_string();
        let refresh_at = tokens
            .expires_in
            .map(|life| Instant::now() + life.saturating_sub(MARGIN.min(life / 2)));
        self.seen
            .lock()
            .expect("not poisoned")
            .push(access_token.clone());
        Ok(CachedToken {
            access_token,
            refresh_at,
        })
    }

    async fn token(&self, force: bool, stale: Option<&str>) -> Result<String, ActionError> {
        let mut cache = self.cache.lock().await;
        if let Some(t) = cache.as_ref() {
            let fresh = t.refresh_at.is_none_or(|at| Instant::now() < at);
            // A forced refresh reuses a token another caller fetched meanwhile.
            let replaced = stale.is_some_and(|s| s != t.access_token);
            if (fresh && !force) || replaced {
                return Ok(t.access_token.clone());
            }
        }
        let t = self.fetch().await?;
        let token = t.access_token.clone();
        *cache = Some(t);
        Ok(token)
    }
}

#[async_trait]
impl AuthStrategy for ClientCredentials {
    async fn apply(&self, req: &mut reqwest::Request) -> Result<(), ActionError> {
        let token = self.token(false, None).await?;
        req.headers_mut().insert(
            AUTHORIZATION,
            header_value(&format!("Bearer {token}"), "access token")?,
        );
        Ok(())
    }

    async fn refresh(&self) -> Result<bool, ActionError> {
        let stale = self
            .cache
            .lock()
            .await
            .as_ref()
            .map(|t| t.access_token.clone());
        self.token(true, stale.as_deref()).await?;
        Ok(true)
    }

    fn runtime_secrets(&self) -> Vec<String> {
        let mut out = self.seen.lock().expect("not poisoned").clone();
        if self.endpoint.client_auth == ClientAuthentication::Basic {
            out.push(self.endpoint.basic_credentials());
        }
        out
    }
}

impl AuthType for ClientCredentialsType {
    fn id(&self) -> AuthTypeId {
        AuthTypeId::OauthClientCredentials
    }

    fn build_strategy(
        &self,
        config: &Map<String, Value>,
        secrets: &Secrets,
        http: &EgressClient,
    ) -> Result<Arc<dyn AuthStrategy>, ActionError> {
        let token_url = required_config(config, "tokenUrl", self.id())?;
        let client_id = required_config(config, "clientId", self.id())?;
        let client_secret = required_secret(secrets, "clientSecret", self.id())?;
        let client_auth = ClientAuthentication::parse(config_str(config, "clientAuthentication"))?;
        // An unparsable URL fails each call, as a request to it would, rather than the
        // instance: the instance stays usable for fixing its config.
        let Ok(url) = reqwest::Url::parse(token_url) else {
            return Ok(Arc::new(Refuse(ActionError::user(
                "invalid_config",
                "`tokenUrl` is not a valid URL",
            ))));
        };
        Ok(Arc::new(ClientCredentials {
            http: http.clone(),
            endpoint: TokenEndpoint {
                url,
                client_id: client_id.to_string(),
                client_secret: SecretString::from(client_secret),
                client_auth,
                paths: TokenPaths::default(),
            },
            scope: config_str(config, "scope").map(str::to_string),
            audience: config_str(config, "audience").map(str::to_string),
            cache: Mutex::new(None),
            seen: std::sync::Mutex::new(Vec::new()),
        }))
    }
}
