//! One connector's OAuth endpoints: a provider configured directly
//! (`oauth_authorization_code`) or reached through EARS (`ears`). Each per-user auth type
//! builds its client (`crate::auth`); [`OAuthClient::from_instance`] picks the type.

use super::ears::EarsClient;
use super::pkce::{METHOD, Pkce};
use super::token::{TokenEndpoint, TokenEndpointError, TokenSet};
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

/// Where a connector's tokens come from. Built by [`OAuthClient::from_instance`].
#[derive(Debug, Clone)]
pub enum OAuthClient {
    Direct(Box<DirectClient>),
    Ears(EarsClient),
}

impl OAuthClient {
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
