//! Auth types: each turns an instance's auth config and secrets into what goes on the wire.
//!
//! One file per auth type implements [`AuthType`] (its strategy, and where it needs them its
//! per-user OAuth client, TLS identity and extra redaction forms); [`for_type`] is the one
//! registration. Adding a type is its schema in `connector_spec::AuthTypeId` plus one file
//! here and one line in [`for_type`] (see "Adding an auth type" in `docs/spec-format.md`).

mod api_key_header;
mod api_key_pair;
mod api_key_query;
mod auth_type;
#[cfg(feature = "sigv4")]
mod aws_sigv4;
mod basic;
mod bearer;
mod ears;
mod fields;
mod gcp_service_account;
mod headers;
pub(crate) mod mtls;
mod none;
mod oauth_authorization_code;
mod oauth_client_credentials;
mod oauth_jwt_bearer;
mod static_headers;
pub(crate) mod strategy;
pub(crate) mod token_grant;
#[cfg(not(feature = "sigv4"))]
mod unavailable;
mod webhook_url;

use std::sync::Arc;

use connector_spec::AuthTypeId;
use serde_json::{Map, Value};

pub use crate::oauth::token::ClientAuthentication;
pub use api_key_query::QueryKey;
pub use auth_type::AuthType;
pub use auth_type::TlsConfig;
#[cfg(feature = "sigv4")]
pub use aws_sigv4::SigV4;
pub use none::NoAuth;
pub use oauth_client_credentials::ClientCredentials;
pub use static_headers::StaticHeaders;
pub use strategy::{AuthStrategy, Clock, Refuse, UserAuthProvider};
pub use token_grant::GrantedToken;

use crate::egress::EgressClient;
use crate::error::ActionError;
use crate::secrets::Secrets;

/// The runtime's implementation of an auth type: the one registration. The `match` is
/// exhaustive, so a new `AuthTypeId` variant does not compile until it has its file here.
pub fn for_type(id: AuthTypeId) -> &'static dyn AuthType {
    match id {
        AuthTypeId::None => &none::NoneType,
        AuthTypeId::Basic => &basic::BasicType,
        AuthTypeId::Bearer => &bearer::BearerType,
        AuthTypeId::ApiKeyHeader => &api_key_header::ApiKeyHeaderType,
        AuthTypeId::ApiKeyQuery => &api_key_query::ApiKeyQueryType,
        AuthTypeId::Headers => &headers::HeadersType,
        AuthTypeId::WebhookUrl => &webhook_url::WebhookUrlType,
        AuthTypeId::OauthClientCredentials => &oauth_client_credentials::ClientCredentialsType,
        AuthTypeId::OauthAuthorizationCode => &oauth_authorization_code::AuthorizationCodeType,
        AuthTypeId::Ears => &ears::EarsType,
        AuthTypeId::Mtls => &mtls::MtlsType,
        #[cfg(feature = "sigv4")]
        AuthTypeId::AwsSigv4 => &aws_sigv4::AwsSigv4Type,
        #[cfg(not(feature = "sigv4"))]
        AuthTypeId::AwsSigv4 => &unavailable::Unavailable {
            id: AuthTypeId::AwsSigv4,
            feature: "sigv4",
        },
        AuthTypeId::ApiKeyPair => &api_key_pair::ApiKeyPairType,
        AuthTypeId::OauthJwtBearer => &oauth_jwt_bearer::JwtBearerType,
        AuthTypeId::GcpServiceAccount => &gcp_service_account::GcpServiceAccountType,
    }
}

/// Build the strategy for an auth type from the instance's auth config and secrets
/// (shorthand for [`for_type`]`(auth).build_strategy(..)`).
pub fn build_strategy(
    auth: AuthTypeId,
    config: &Map<String, Value>,
    secrets: &Secrets,
    http: &EgressClient,
) -> Result<Arc<dyn AuthStrategy>, ActionError> {
    for_type(auth).build_strategy(config, secrets, http)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_auth_type_is_registered_under_its_own_id() {
        for id in AuthTypeId::ALL {
            assert_eq!(for_type(id).id(), id);
        }
    }

    /// The spec's `auth_mode` and the runtime's per-user hook agree: a per-user type builds
    /// an OAuth client (here it lacks its config, so `invalid_config`), a shared one refuses.
    #[test]
    fn exactly_the_per_user_types_build_an_oauth_client() {
        use connector_spec::AuthMode;
        let settings = crate::oauth::OAuthSettings::new("http://127.0.0.1:9/callback").unwrap();
        for id in AuthTypeId::ALL {
            let e = for_type(id)
                .oauth_client(&Map::new(), &Secrets::default(), &settings)
                .unwrap_err();
            let expected = match id.auth_mode() {
                AuthMode::PerUser => "invalid_config",
                AuthMode::Shared => "not_per_user",
            };
            assert_eq!(e.code, expected, "{id}: {e}");
        }
    }
}
