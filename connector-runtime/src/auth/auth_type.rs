//! The runtime half of an auth type: everything the runtime asks of it, with defaults for
//! what most types do not need. Each type's file implements [`AuthType`]; the registration
//! in [`for_type`](super::for_type) maps every [`AuthTypeId`] to one.

use std::sync::Arc;

use connector_spec::{AuthMode, AuthTypeId};
use serde_json::{Map, Value};

use super::strategy::{AuthStrategy, Refuse};
use crate::egress::EgressClient;
use crate::error::ActionError;
use crate::oauth::provider::OAuthClient;
use crate::oauth::settings::OAuthSettings;
use crate::secrets::Secrets;

/// TLS settings for mTLS instances.
#[derive(Clone, Default)]
pub struct TlsConfig {
    /// Client certificate and private key, PEM, concatenated.
    pub identity_pem: Option<String>,
    /// Extra trusted CA certificates, PEM.
    pub ca_pem: Option<String>,
    pub verify_server: bool,
}

/// One auth type as the runtime sees it. The schema of its config and secrets lives in
/// `connector_spec::AuthTypeId`; this is how those values act on the wire.
pub trait AuthType: Sync {
    /// The spec's id of this type.
    fn id(&self) -> AuthTypeId;

    /// The strategy that puts the instance's shared credentials on every request. `http` is
    /// the instance's client behind its egress check, for strategies that fetch tokens.
    ///
    /// By default a per-user type has no shared credential ([`Refuse::no_user_auth`]: its
    /// users' strategies come from a `UserAuthProvider`), and a shared type that did not
    /// implement this is a typed error rather than requests without credentials.
    fn build_strategy(
        &self,
        _config: &Map<String, Value>,
        _secrets: &Secrets,
        _http: &EgressClient,
    ) -> Result<Arc<dyn AuthStrategy>, ActionError> {
        match self.id().auth_mode() {
            AuthMode::PerUser => Ok(Arc::new(Refuse::no_user_auth(self.id()))),
            AuthMode::Shared => Err(ActionError::system(
                "auth_type_not_implemented",
                format!("the runtime has no strategy for auth type `{}`", self.id()),
            )),
        }
    }

    /// Per-user types: the OAuth client the users' tokens come from. Shared types refuse.
    fn oauth_client(
        &self,
        _config: &Map<String, Value>,
        _secrets: &Secrets,
        _settings: &OAuthSettings,
    ) -> Result<OAuthClient, ActionError> {
        let per_user: Vec<&str> = AuthTypeId::ALL
            .iter()
            .filter(|t| t.auth_mode() == AuthMode::PerUser)
            .map(|t| t.as_str())
            .collect();
        Err(ActionError::user(
            "not_per_user",
            format!(
                "auth type `{}` is shared; only {} use the per-user OAuth flow",
                self.id(),
                per_user.join(" and ")
            ),
        ))
    }

    /// TLS settings the instance's HTTP client needs (a client certificate), if any.
    fn tls(&self, _config: &Map<String, Value>, _secrets: &Secrets) -> Option<TlsConfig> {
        None
    }

    /// Forms the secrets take on the wire that are not a secret value itself, for the
    /// redactor (basic auth's `username:password`).
    fn secret_forms(&self, _secrets: &Secrets) -> Vec<String> {
        Vec::new()
    }
}
