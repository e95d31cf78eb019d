//! One connector's OAuth endpoints, built from its instance: a provider configured directly
//! (`oauth_authorization_code`) or reached through EARS (`ears`).

use connector_spec::AuthTypeId;
use serde_json::Value;

use super::ears::{EarsClient, EarsProvider};
use super::pkce::{METHOD, Pkce};
use super::settings::OAuthSettings;
use super::token::{TokenEndpoint, TokenEndpointError, TokenPaths, TokenSet};
use crate::auth::ClientAuthentication;
use crate::error::ActionError;
use crate::instance::ConnectorInstance;
use secrecy::{ExposeSecret, SecretString};

/// Parameters the runtime sets on an authorization URL; configuration may not set them.
pub const RESERVED_PARAMETERS: [&str; 6] = [
    "client_id",
    "response_type",
    "redirect_uri",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// A provider configured directly: authorization and token endpoints and the client.
#[derive(Debug, Clone)]
pub struct DirectClient {
    pub authorization_url: reqwest::Url,
    pub scope: Option<String>,
    pub scope_parameter: String,
    pub token: TokenEndpoint,
}

impl DirectClient {
    /// The authorization URL (RFC 6749 4.1.1 with RFC 7636 4.3). Query parameters already in
    /// the configured URL (e.g. `prompt=consent`) are kept.
    pub fn authorization_url(&self, state: &str, pkce: &Pkce, redirect_uri: &str) -> reqwest::Url {
        let mut url = self.authorization_url.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.token.client_id)
                .append_pair("response_type", "code")
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("state", state)
                .append_pair("code_challenge", pkce.challenge())
                .append_pair("code_challenge_method", METHOD);
            if let Some(s) = &self.scope {
                q.append_pair(&self.scope_parameter, s);
            }
        }
        url
    }
}

/// Where a connector's tokens come from.
#[derive(Debug, Clone)]
pub enum OAuthClient {
    Direct(DirectClient),
    Ears(EarsClient),
}

fn config_str<'a>(instance: &'a ConnectorInstance, key: &str) -> Option<&'a str> {
    instance
        .config
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

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

impl OAuthClient {
    /// Build from a per-user instance's auth config and secrets. Missing or contradictory
    /// settings are `invalid_config` errors naming the field.
    pub fn from_instance(
        instance: &ConnectorInstance,
        settings: &OAuthSettings,
    ) -> Result<OAuthClient, ActionError> {
        let required = |key: &str| {
            config_str(instance, key).ok_or_else(|| {
                ActionError::user(
                    "invalid_config",
                    format!("auth type `{}` needs `{key}`", instance.auth_type),
                )
            })
        };
        match instance.auth_type {
            AuthTypeId::OauthAuthorizationCode => {
                let authorization_url =
                    http_url(required("authorizationUrl")?, "authorizationUrl")?;
                if let Some((k, _)) = authorization_url
                    .query_pairs()
                    .find(|(k, _)| RESERVED_PARAMETERS.contains(&k.as_ref()))
                {
                    return Err(ActionError::user(
                        "invalid_config",
                        format!(
                            "`authorizationUrl` already sets `{k}`, which the runtime sets itself"
                        ),
                    ));
                }
                let scope_parameter = config_str(instance, "scopeParameter")
                    .unwrap_or("scope")
                    .to_string();
                if RESERVED_PARAMETERS.contains(&scope_parameter.as_str()) {
                    return Err(ActionError::user(
                        "reserved_parameter",
                        format!(
                            "`scopeParameter` `{scope_parameter}` collides with a parameter the \
                             runtime sets ({}); choose another name",
                            RESERVED_PARAMETERS.join(", ")
                        ),
                    ));
                }
                let client_secret = instance.secrets.get_str("clientSecret").ok_or_else(|| {
                    ActionError::user(
                        "missing_secret",
                        "auth type `oauth_authorization_code` needs the secret `clientSecret`",
                    )
                })?;
                let client_auth = match config_str(instance, "clientAuthentication") {
                    None | Some("client_secret_basic") => ClientAuthentication::Basic,
                    Some("client_secret_post") => ClientAuthentication::Post,
                    Some(other) => {
                        return Err(ActionError::user(
                            "invalid_config",
                            format!(
                                "`clientAuthentication` `{other}` is not one of: \
                                 client_secret_basic, client_secret_post"
                            ),
                        ));
                    }
                };
                let paths = TokenPaths::parse(
                    config_str(instance, "accessTokenPath").unwrap_or("$.access_token"),
                    config_str(instance, "refreshTokenPath").unwrap_or("$.refresh_token"),
                )?;
                Ok(OAuthClient::Direct(DirectClient {
                    authorization_url,
                    scope: config_str(instance, "scope").map(str::to_string),
                    scope_parameter,
                    token: TokenEndpoint {
                        url: http_url(required("tokenUrl")?, "tokenUrl")?,
                        client_id: required("clientId")?.to_string(),
                        client_secret: SecretString::from(client_secret),
                        client_auth,
                        paths,
                    },
                }))
            }
            AuthTypeId::Ears => {
                let provider = EarsProvider::parse(required("provider")?)?;
                let base = config_str(instance, "earsBaseUrl")
                    .or(settings.ears_base_url.as_deref())
                    .ok_or_else(|| {
                        ActionError::user(
                            "invalid_config",
                            "no EARS base URL: set `earsBaseUrl` on the connector or in the \
                             runtime's OAuth settings",
                        )
                    })?;
                Ok(OAuthClient::Ears(EarsClient::new(
                    base,
                    provider,
                    config_str(instance, "scope").map(str::to_string),
                )?))
            }
            other => Err(ActionError::user(
                "not_per_user",
                format!(
                    "auth type `{other}` is shared; only oauth_authorization_code and ears use \
                     the per-user OAuth flow"
                ),
            )),
        }
    }

    /// The URL the user's browser opens to grant access.
    pub fn authorization_url(&self, state: &str, pkce: &Pkce, redirect_uri: &str) -> reqwest::Url {
        match self {
            OAuthClient::Direct(d) => d.authorization_url(state, pkce, redirect_uri),
            OAuthClient::Ears(e) => e.authorization_url(state, pkce, redirect_uri),
        }
    }

    pub async fn exchange_code(
        &self,
        http: &crate::egress::EgressClient,
        code: &str,
        redirect_uri: &str,
        verifier: &SecretString,
    ) -> Result<TokenSet, TokenEndpointError> {
        match self {
            OAuthClient::Direct(d) => {
                d.token
                    .exchange_code(http, code, redirect_uri, verifier)
                    .await
            }
            OAuthClient::Ears(e) => e.exchange_code(http, code, redirect_uri, verifier).await,
        }
    }

    pub async fn refresh(
        &self,
        http: &crate::egress::EgressClient,
        refresh_token: &SecretString,
    ) -> Result<TokenSet, TokenEndpointError> {
        match self {
            OAuthClient::Direct(d) => d.token.refresh(http, refresh_token).await,
            OAuthClient::Ears(e) => e.refresh(http, refresh_token).await,
        }
    }

    /// Revoke a token at the provider where the connector has a revocation endpoint (EARS).
    /// Returns whether a revocation was sent.
    pub async fn revoke(
        &self,
        http: &crate::egress::EgressClient,
        token: &SecretString,
    ) -> Result<bool, TokenEndpointError> {
        match self {
            OAuthClient::Direct(_) => Ok(false),
            OAuthClient::Ears(e) => e.revoke(http, token).await.map(|()| true),
        }
    }

    /// Where [`OAuthClient::revoke`] sends the token, when the client can revoke.
    pub fn revoke_endpoint(&self) -> Option<reqwest::Url> {
        match self {
            OAuthClient::Direct(_) => None,
            OAuthClient::Ears(e) => Some(e.endpoint("revoke")),
        }
    }

    /// Configured secrets in every form they take on the wire, for redaction.
    pub fn secrets(&self) -> Vec<String> {
        match self {
            OAuthClient::Direct(d) => vec![
                d.token.client_secret.expose_secret().to_string(),
                d.token.basic_credentials(),
            ],
            OAuthClient::Ears(_) => Vec::new(),
        }
    }
}
