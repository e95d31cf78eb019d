//! What every auth type produces: a strategy that puts credentials on a request, and the
//! per-user source of strategies.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use connector_spec::AuthTypeId;

use crate::error::ActionError;

/// Applies credentials to outgoing requests.
#[async_trait]
pub trait AuthStrategy: Send + Sync + std::fmt::Debug {
    /// Add credentials to a request that is about to be sent.
    async fn apply(&self, req: &mut reqwest::Request) -> Result<(), ActionError>;

    /// Called once after a 401: fetch new credentials if this strategy can. Returns `true`
    /// when the request should be retried with fresh credentials.
    async fn refresh(&self) -> Result<bool, ActionError> {
        Ok(false)
    }

    /// The caller's account values (`auth.account`), for the `account` of templates:
    /// `None` for a strategy that keeps none.
    async fn account(
        &self,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, ActionError> {
        Ok(None)
    }

    /// Credentials obtained at run time (access tokens) that must be redacted from output.
    fn runtime_secrets(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Supplies the credentials of per-user auth types (oauth_authorization_code, ears): one
/// strategy per calling user. The token store and OAuth flows implement it.
pub trait UserAuthProvider: Send + Sync + std::fmt::Debug {
    /// The strategy that acts as `user_id` (never empty) on this instance.
    fn for_user(&self, user_id: &str) -> Result<Arc<dyn AuthStrategy>, ActionError>;
}

/// A strategy that refuses every request with a fixed error: a per-user instance called
/// without a user, or one whose user strategy could not be built.
#[derive(Debug)]
pub struct Refuse(pub ActionError);

impl Refuse {
    /// The shared strategy of a per-user type: without a [`UserAuthProvider`] there is no
    /// credential to send.
    pub fn no_user_auth(auth: AuthTypeId) -> Refuse {
        Refuse(ActionError::auth(
            "no_user_auth",
            format!(
                "auth type `{auth}` acts per user and this instance has no per-user token \
                 source (see InstanceRuntime::with_user_auth)"
            ),
        ))
    }
}

#[async_trait]
impl AuthStrategy for Refuse {
    async fn account(
        &self,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, ActionError> {
        Err(self.0.clone())
    }

    async fn apply(&self, _req: &mut reqwest::Request) -> Result<(), ActionError> {
        Err(self.0.clone())
    }
}

/// A clock for signing times and token expiry; tests fix it or move it forward.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;
