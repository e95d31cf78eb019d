//! EARS, the auth redirect service that holds the OAuth client for Google, Microsoft and
//! Slack: the connector names a provider and scopes and keeps no client secret.
//!
//! URLs are `{earsBaseUrl}/v1/{provider}/oauth/authorize|token|refresh|revoke`. Authorize
//! carries `callback_uri`, `state`, `pkce_challenge`, `pkce_method=S256` and `scope`; token,
//! refresh and revoke take JSON bodies (`{code, pkce_verifier, callback_uri}`,
//! `{refresh_token}`, `{token}`).

use reqwest::header::{ACCEPT, HeaderValue};
use serde_json::json;

use super::pkce::{METHOD, Pkce};
use super::token::{TokenEndpointError, TokenPaths, TokenSet, send};
use crate::egress::EgressClient;
use crate::error::ActionError;
use secrecy::{ExposeSecret, SecretString};

/// The providers EARS fronts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EarsProvider {
    Google,
    Microsoft,
    Slack,
}

impl EarsProvider {
    pub fn parse(s: &str) -> Result<EarsProvider, ActionError> {
        match s {
            "google" => Ok(EarsProvider::Google),
            "microsoft" => Ok(EarsProvider::Microsoft),
            "slack" => Ok(EarsProvider::Slack),
            _ => Err(ActionError::user(
                "invalid_config",
                format!("EARS provider `{s}` is not one of: google, microsoft, slack"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EarsProvider::Google => "google",
            EarsProvider::Microsoft => "microsoft",
            EarsProvider::Slack => "slack",
        }
    }
}

/// One EARS provider endpoint set.
#[derive(Debug, Clone)]
pub struct EarsClient {
    base: reqwest::Url,
    pub provider: EarsProvider,
    pub scope: Option<String>,
}

impl EarsClient {
    /// `base` is the EARS base URL (`https://ears.example`), with or without a trailing slash.
    pub fn new(
        base: &str,
        provider: EarsProvider,
        scope: Option<String>,
    ) -> Result<EarsClient, ActionError> {
        let mut base = reqwest::Url::parse(base).map_err(|e| {
            ActionError::user("invalid_config", format!("`earsBaseUrl` is not a URL: {e}"))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.query().is_some() {
            return Err(ActionError::user(
                "invalid_config",
                "`earsBaseUrl` must be an http(s) URL without a query",
            ));
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        Ok(EarsClient {
            base,
            provider,
            scope,
        })
    }

    /// `{base}/v1/{provider}/oauth/{op}`.
    pub fn endpoint(&self, op: &str) -> reqwest::Url {
        self.base
            .join(&format!("v1/{}/oauth/{op}", self.provider.as_str()))
            .expect("a relative path joins onto an http(s) base")
    }

    /// The URL the user's browser opens.
    pub fn authorization_url(&self, state: &str, pkce: &Pkce, callback_uri: &str) -> reqwest::Url {
        let mut url = self.endpoint("authorize");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("callback_uri", callback_uri)
                .append_pair("state", state)
                .append_pair("pkce_challenge", pkce.challenge())
                .append_pair("pkce_method", METHOD);
            if let Some(s) = &self.scope {
                q.append_pair("scope", s);
            }
        }
        url
    }

    pub async fn exchange_code(
        &self,
        http: &EgressClient,
        code: &str,
        callback_uri: &str,
        verifier: &SecretString,
    ) -> Result<TokenSet, TokenEndpointError> {
        let body = json!({
            "code": code,
            "pkce_verifier": verifier.expose_secret(),
            "callback_uri": callback_uri,
        });
        send(
            http.post(self.endpoint("token"))
                .header(ACCEPT, HeaderValue::from_static("application/json"))
                .json(&body),
            &TokenPaths::default(),
        )
        .await
    }

    pub async fn refresh(
        &self,
        http: &EgressClient,
        refresh_token: &SecretString,
    ) -> Result<TokenSet, TokenEndpointError> {
        let body = json!({ "refresh_token": refresh_token.expose_secret() });
        send(
            http.post(self.endpoint("refresh"))
                .header(ACCEPT, HeaderValue::from_static("application/json"))
                .json(&body),
            &TokenPaths::default(),
        )
        .await
    }

    /// Ask EARS to revoke a token at the provider. Success is any 2xx.
    pub async fn revoke(
        &self,
        http: &EgressClient,
        token: &SecretString,
    ) -> Result<(), TokenEndpointError> {
        let resp = http
            .post(self.endpoint("revoke"))
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .json(&json!({ "token": token.expose_secret() }))
            .send()
            .await
            .map_err(|e| TokenEndpointError::from_outbound(&e))?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(TokenEndpointError::Status { status })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_ears_layout() {
        let c = EarsClient::new(
            "http://127.0.0.1:9/ears",
            EarsProvider::Google,
            Some("drive.readonly email".into()),
        )
        .unwrap();
        assert_eq!(
            c.endpoint("token").as_str(),
            "http://127.0.0.1:9/ears/v1/google/oauth/token"
        );
        let pkce = Pkce::generate();
        let url = c.authorization_url("st", &pkce, "http://127.0.0.1:1/cb");
        assert_eq!(url.path(), "/ears/v1/google/oauth/authorize");
        let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("callback_uri"), Some("http://127.0.0.1:1/cb"));
        assert_eq!(get("state"), Some("st"));
        assert_eq!(get("pkce_challenge"), Some(pkce.challenge()));
        assert_eq!(get("pkce_method"), Some("S256"));
        assert_eq!(get("scope"), Some("drive.readonly email"));
    }

    #[test]
    fn bad_configuration_is_refused() {
        assert_eq!(
            EarsProvider::parse("github").unwrap_err().code,
            "invalid_config"
        );
        assert!(EarsClient::new("not a url", EarsProvider::Slack, None).is_err());
        assert!(EarsClient::new("ftp://x", EarsProvider::Slack, None).is_err());
    }
}
