//! `gcp_service_account`: an access token for Google Cloud APIs (Vertex AI) from a
//! service-account JSON key, as Google's OAuth 2.0 for server-to-server applications takes it:
//! an RS256 JWT with `iss` = the key's `client_email`, `scope`, `aud` = the token URI, `iat`
//! and `exp` = now + 1 h, its header naming the key (`kid` = `private_key_id`), posted as
//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=...` (no client
//! authentication: the signature is the credential). Cached and refreshed by
//! [`GrantedToken`].
//!
//! Reference: "Using OAuth 2.0 for Server to Server Applications"
//! (<https://developers.google.com/identity/protocols/oauth2/service-account#httprest>).

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use connector_spec::AuthTypeId;
use reqwest::header::{ACCEPT, HeaderValue};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

use super::auth_type::AuthType;
use super::fields::{config_str, required_secret};
use super::oauth_jwt_bearer::ASSERTION_LIFETIME;
use super::strategy::AuthStrategy;
use super::token_grant::{Grant, GrantedToken};
use crate::egress::EgressClient;
use crate::error::ActionError;
use crate::oauth::jwt::{SigningKey, unix_seconds};
use crate::oauth::token::{
    ClientAuthentication, JWT_BEARER_GRANT, TokenBodyFormat, TokenEndpoint, TokenEndpointError,
    TokenPaths, TokenSet, send,
};
use crate::secrets::Secrets;

/// The `gcp_service_account` auth type.
pub struct GcpServiceAccountType;

/// The scope requested when the config names none.
pub const DEFAULT_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The fields of a service-account key the grant needs. `Debug` is not derived: the private
/// key is in here.
struct ServiceAccountKey<'a> {
    client_email: &'a str,
    private_key: &'a str,
    private_key_id: &'a str,
    token_uri: &'a str,
}

fn key_error(message: String) -> ActionError {
    ActionError::user("invalid_config", message)
}

/// Read the key file. Errors name the field at fault and never quote the key: a JSON syntax
/// error gives the position only.
fn parse_key(value: &Value) -> Result<ServiceAccountKey<'_>, ActionError> {
    let field = |name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| key_error(format!("`serviceAccountKey` has no `{name}`")))
    };
    if field("type")? != "service_account" {
        return Err(key_error(
            "`serviceAccountKey` is not a service-account key: its `type` is not `service_account`"
                .into(),
        ));
    }
    Ok(ServiceAccountKey {
        client_email: field("client_email")?,
        private_key: field("private_key")?,
        private_key_id: field("private_key_id")?,
        token_uri: field("token_uri")?,
    })
}

fn key_json(text: &str) -> Result<Value, ActionError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        key_error(format!(
            "`serviceAccountKey` is not JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(key_error("`serviceAccountKey` is not a JSON object".into()))
    }
}

/// The grant: a fresh assertion per token request, the scope in its claims.
struct ServiceAccountGrant {
    endpoint: TokenEndpoint,
    key: SigningKey,
    scope: String,
}

impl ServiceAccountGrant {
    fn assertion(&self, now: SystemTime) -> Result<String, TokenEndpointError> {
        let iat = unix_seconds(now);
        let claims = json!({
            "iss": self.endpoint.client_id,
            "scope": self.scope,
            "aud": self.endpoint.url.as_str(),
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME.as_secs(),
        });
        self.key
            .sign(&claims)
            .map_err(|e| TokenEndpointError::Assertion(e.message))
    }
}

#[async_trait]
impl Grant for ServiceAccountGrant {
    fn endpoint(&self) -> &TokenEndpoint {
        &self.endpoint
    }

    async fn request(
        &self,
        http: &EgressClient,
        issued: &mut Vec<String>,
    ) -> Result<TokenSet, TokenEndpointError> {
        let assertion = self.assertion(SystemTime::now())?;
        // A bearer credential until it expires: the redactor learns it before it is sent.
        issued.push(assertion.clone());
        let req = http
            .post(self.endpoint.url.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .form(&[("grant_type", JWT_BEARER_GRANT), ("assertion", &assertion)]);
        send(req, &self.endpoint.paths).await
    }
}

impl AuthType for GcpServiceAccountType {
    fn id(&self) -> AuthTypeId {
        AuthTypeId::GcpServiceAccount
    }

    fn build_strategy(
        &self,
        config: &Map<String, Value>,
        secrets: &Secrets,
        http: &EgressClient,
    ) -> Result<Arc<dyn AuthStrategy>, ActionError> {
        let value = key_json(required_secret(secrets, "serviceAccountKey", self.id())?)?;
        let key = parse_key(&value)?;
        let signing_key = SigningKey::from_pem(key.private_key, None, "kid", key.private_key_id)?;
        let token_url = config_str(config, "tokenUrl").unwrap_or(key.token_uri);
        let url = match super::token_grant::token_url(token_url) {
            Ok(url) => url,
            Err(refuse) => return Ok(refuse),
        };
        let grant = ServiceAccountGrant {
            endpoint: TokenEndpoint {
                url,
                client_id: key.client_email.to_string(),
                // No client secret: the signed assertion authenticates the client.
                client_secret: SecretString::from(String::new()),
                client_auth: ClientAuthentication::Post,
                paths: TokenPaths::default(),
                signing_key: None,
                body_format: TokenBodyFormat::Form,
            },
            key: signing_key,
            scope: config_str(config, "scope")
                .unwrap_or(DEFAULT_SCOPE)
                .to_string(),
        };
        Ok(Arc::new(GrantedToken::new(http, Box::new(grant))))
    }
}
