//! Per-user OAuth: the authorization code grant with PKCE (S256), EARS, refresh under a
//! single-flight lock, and the auth strategies that act as the calling user.
//!
//! [`OAuthFlows`] is the entry point. Register each per-user connector instance with
//! [`OAuthFlows::register`]; [`OAuthFlows::start`] returns the URL to send the user to;
//! [`OAuthFlows::callback`] finishes the flow and stores the tokens in the
//! [`TokenStore`](crate::store::TokenStore); [`OAuthFlows::user_auth`] gives the
//! [`UserAuthProvider`](crate::UserAuthProvider) for
//! [`InstanceRuntime::with_user_auth`](crate::InstanceRuntime::with_user_auth).

#[cfg(feature = "store")]
mod account;
pub mod ears;
#[cfg(feature = "store")]
pub mod flows;
pub mod jwt;
pub mod pkce;
pub mod provider;
pub mod refresh;
pub mod settings;
#[cfg(feature = "store")]
pub mod strategy;
pub mod token;

pub use ears::{EarsClient, EarsProvider};
#[cfg(feature = "store")]
pub use flows::{
    Authorization, BROWSER_SHA256, CallbackParams, Connected, Disconnected, OAuthConnector,
    OAuthFlows, Revocation, StartOptions, TokenOwner, not_authorized,
};
pub use pkce::Pkce;
pub use provider::{DirectClient, OAuthClient, RESERVED_PARAMETERS};
pub use settings::OAuthSettings;
#[cfg(feature = "store")]
pub use strategy::{PerUserAuth, StoredTokenAuth};
pub use token::{
    ClientAuthentication, MAX_TOKEN_RESPONSE, TokenBodyFormat, TokenEndpoint, TokenEndpointError,
    TokenPaths, TokenSet,
};

impl OAuthClient {
    /// Build from a per-user instance's auth config and secrets, by its auth type (see
    /// [`crate::auth::AuthType::oauth_client`]). Missing or contradictory settings are
    /// `invalid_config` errors naming the field; a shared type is `not_per_user`.
    pub fn from_instance(
        instance: &crate::instance::ConnectorInstance,
        settings: &OAuthSettings,
    ) -> Result<OAuthClient, crate::error::ActionError> {
        crate::auth::for_type(instance.auth_type).oauth_client(
            &instance.config,
            &instance.secrets,
            settings,
        )
    }
}
