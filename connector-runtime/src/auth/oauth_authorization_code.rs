//! `oauth_authorization_code`: the OAuth 2.0 authorization code grant with PKCE, per user.
//! The provider is configured directly; the users' tokens come from the OAuth flows.

use connector_spec::AuthTypeId;
use secrecy::SecretString;
use serde_json::{Map, Value};

use super::auth_type::AuthType;
use super::fields::{config_str, required_config, required_secret};
use crate::error::ActionError;
use crate::oauth::provider::{DirectClient, OAuthClient, RESERVED_PARAMETERS};
use crate::oauth::settings::OAuthSettings;
use crate::oauth::token::{ClientAuthentication, TokenBodyFormat, TokenEndpoint, TokenPaths};
use crate::secrets::Secrets;

/// The `oauth_authorization_code` auth type.
pub struct AuthorizationCodeType;

fn http_url(value: &str, field: &str) -> Result<reqwest::Url, ActionError> {
    let url = reqwest::Url::parse(value)
        .map_err(|e| ActionError::user("invalid_config", format!("`{field}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ActionError::user(
            "invalid_config",
            format!("`{field}` must be an http(s) URL"),
        ));
    }
    Ok(url)
}

/// The authorization URL, which may carry extra parameters (`prompt=consent`) but none the
/// runtime sets itself.
fn authorization_url(config: &Map<String, Value>) -> Result<reqwest::Url, ActionError> {
    let field = "authorizationUrl";
    let url = http_url(
        required_config(config, field, AuthTypeId::OauthAuthorizationCode)?,
        field,
    )?;
    if let Some((k, _)) = url
        .query_pairs()
        .find(|(k, _)| RESERVED_PARAMETERS.contains(&k.as_ref()))
    {
        return Err(ActionError::user(
            "invalid_config",
            format!("`{field}` already sets `{k}`, which the runtime sets itself"),
        ));
    }
    Ok(url)
}

fn scope_parameter(config: &Map<String, Value>) -> Result<String, ActionError> {
    let name = config_str(config, "scopeParameter").unwrap_or("scope");
    if RESERVED_PARAMETERS.contains(&name) {
        return Err(ActionError::user(
            "reserved_parameter",
            format!(
                "`scopeParameter` `{name}` collides with a parameter the runtime sets ({}); \
                 choose another name",
                RESERVED_PARAMETERS.join(", ")
            ),
        ));
    }
    Ok(name.to_string())
}

impl AuthType for AuthorizationCodeType {
    fn id(&self) -> AuthTypeId {
        AuthTypeId::OauthAuthorizationCode
    }

    fn oauth_client(
        &self,
        config: &Map<String, Value>,
        secrets: &Secrets,
        _settings: &OAuthSettings,
    ) -> Result<OAuthClient, ActionError> {
        let authorization_url = authorization_url(config)?;
        let scope_parameter = scope_parameter(config)?;
        let client_secret = required_secret(secrets, "clientSecret", self.id())?;
        let client_auth = ClientAuthentication::parse(config_str(config, "clientAuthentication"))?;
        if client_auth == ClientAuthentication::PrivateKeyJwt {
            return Err(ActionError::user(
                "invalid_config",
                "`clientAuthentication` `private_key_jwt` is supported by \
                 `oauth_client_credentials` only",
            ));
        }
        let paths = TokenPaths::parse(
            config_str(config, "accessTokenPath").unwrap_or("$.access_token"),
            config_str(config, "refreshTokenPath").unwrap_or("$.refresh_token"),
        )?;
        Ok(OAuthClient::Direct(Box::new(DirectClient {
            authorization_url,
            scope: config_str(config, "scope").map(str::to_string),
            scope_parameter,
            token: TokenEndpoint {
                url: http_url(required_config(config, "tokenUrl", self.id())?, "tokenUrl")?,
                client_id: required_config(config, "clientId", self.id())?.to_string(),
                client_secret: SecretString::from(client_secret),
                client_auth,
                paths,
                signing_key: None,
                body_format: TokenBodyFormat::parse(config_str(config, "tokenRequestFormat"))?,
            },
        })))
    }
}
