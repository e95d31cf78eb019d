//! The strategy of the token-fetching shared types (`oauth_client_credentials`,
//! `oauth_jwt_bearer`): an access token from a grant at the one token client
//! ([`TokenEndpoint`]), cached until shortly before it expires, fetched again after a 401,
//! one fetch at a time. Each type supplies only its [`Grant`].

use std::time::{Duration, Instant};

use async_trait::async_trait;
use connector_spec::ErrorClass;
use reqwest::header::AUTHORIZATION;
use secrecy::ExposeSecret;
use tokio::sync::Mutex;

use super::fields::header_value;
use super::strategy::AuthStrategy;
use crate::egress::EgressClient;
use crate::error::ActionError;
use crate::oauth::token::{ClientAuthentication, TokenEndpoint, TokenEndpointError, TokenSet};

/// Refresh this long before the token expires (at most half its life).
const MARGIN: Duration = Duration::from_secs(30);

/// One way of obtaining an access token at a token endpoint.
#[async_trait]
pub(crate) trait Grant: Send + Sync {
    /// The endpoint and client the grant talks to.
    fn endpoint(&self) -> &TokenEndpoint;

    /// Request a token. `issued` receives credentials made for the request (a signed
    /// assertion), which the redactor must know too.
    async fn request(
        &self,
        http: &EgressClient,
        issued: &mut Vec<String>,
    ) -> Result<TokenSet, TokenEndpointError>;
}

#[derive(Clone)]
struct CachedToken {
    access_token: String,
    /// When to stop using it (expiry minus the safety margin).
    refresh_at: Option<Instant>,
}

/// A grant's access token, cached, sent as `Authorization: Bearer <token>`.
pub struct GrantedToken {
    /// The instance's client behind the egress check: the token URL is checked like an API
    /// URL (`tokenUrl: "http:127.0.0.1:1/t"` is loopback however it is spelled).
    http: EgressClient,
    grant: Box<dyn Grant>,
    /// Held while fetching, so concurrent callers wait for one fetch.
    cache: Mutex<Option<CachedToken>>,
    /// Tokens and assertions obtained so far, for the redactor.
    seen: std::sync::Mutex<Vec<String>>,
}

impl std::fmt::Debug for GrantedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantedToken")
            .field("endpoint", self.grant.endpoint())
            .finish_non_exhaustive()
    }
}

/// A failed token request as the action's error. Messages carry what the provider said
/// (already stripped of control characters and capped), never the client secret; the
/// instance's redactor scrubs an echoed secret on the way out.
/// The token endpoint's URL. An unparsable one is a strategy that fails each call, as a
/// request to it would, rather than the instance: the instance stays usable for fixing its
/// config.
pub(crate) fn token_url(text: &str) -> Result<reqwest::Url, std::sync::Arc<dyn AuthStrategy>> {
    reqwest::Url::parse(text).map_err(|_| {
        let refuse: std::sync::Arc<dyn AuthStrategy> =
            std::sync::Arc::new(super::strategy::Refuse(ActionError::user(
                "invalid_config",
                "`tokenUrl` is not a valid URL",
            )));
        refuse
    })
}

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
        TokenEndpointError::Assertion(_) => ActionError::user("invalid_config", e.to_string()),
    };
    match e.status() {
        Some(s) => err.with_status(s),
        None => err,
    }
}

impl GrantedToken {
    pub(crate) fn new(http: &EgressClient, grant: Box<dyn Grant>) -> GrantedToken {
        GrantedToken {
            http: http.clone(),
            grant,
            cache: Mutex::new(None),
            seen: std::sync::Mutex::new(Vec::new()),
        }
    }

    async fn fetch(&self) -> Result<CachedToken, ActionError> {
        let mut issued = Vec::new();
        let result = self.grant.request(&self.http, &mut issued).await;
        self.seen.lock().expect("not poisoned").extend(issued);
        let tokens = result.map_err(|e| token_error(&e))?;
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
impl AuthStrategy for GrantedToken {
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
        let endpoint = self.grant.endpoint();
        if endpoint.client_auth == ClientAuthentication::Basic {
            out.push(endpoint.basic_credentials());
        }
        out
    }
}
