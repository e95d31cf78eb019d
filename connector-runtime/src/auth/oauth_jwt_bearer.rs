//! `oauth_jwt_bearer`: an access token from the OAuth 2.0 JWT bearer grant (RFC 7523 2.1), as
//! ServiceNow's `oauth_token.do` takes it (and Kibana's ServiceNow OAuth sends it): an RS256
//! JWT with `iss` = client id, `sub` = the user, `aud` = the audience (the client id by
//! default), `iat`, `exp` = now + 1 h and a `jti`, its header naming the key (`kid`), posted
//! as `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=...` with
//! `client_id` and `client_secret` in the form. Cached and refreshed by [`GrantedToken`].
//!
//! References: RFC 7523 (<https://www.rfc-editor.org/rfc/rfc7523>); ServiceNow, "Create an
//! OAuth JWT API endpoint for external clients"
//! (<https://docs.servicenow.com/bundle/tokyo-platform-security/page/administer/security/task/create-jwt-endpoint.html>:
//! `aud` must match the client id, `sub` is the user, `iss` the client id) and KB2683759
//! (the grant's request).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use connector_spec::AuthTypeId;
use secrecy::SecretString;
use serde_json::{Map, Value, json};

use super::auth_type::AuthType;
use super::fields::{config_str, required_config, required_secret};
use super::strategy::AuthStrategy;
use super::token_grant::{Grant, GrantedToken};
use crate::egress::EgressClient;
use crate::error::ActionError;
use crate::oauth::jwt::{SigningKey, jti, unix_seconds};
use crate::oauth::token::{
    ClientAuthentication, TokenBodyFormat, TokenEndpoint, TokenEndpointError, TokenPaths, TokenSet,
};
use crate::secrets::Secrets;

/// The `oauth_jwt_bearer` auth type.
pub struct JwtBearerType;

/// Lifetime of the assertion (Kibana's ServiceNow connector signs for an hour too).
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// The JWT bearer grant: a fresh assertion per token request.
struct JwtBearerGrant {
    endpoint: TokenEndpoint,
    key: SigningKey,
    user: String,
    audience: String,
    scope: Option<String>,
}

impl JwtBearerGrant {
    fn assertion(&self, now: SystemTime) -> Result<String, TokenEndpointError> {
        let iat = unix_seconds(now);
        let claims = json!({
            "iss": self.endpoint.client_id,
            "sub": self.user,
            "aud": self.audience,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME.as_secs(),
            "jti": jti(),
        });
        self.key
            .sign(&claims)
            .map_err(|e| TokenEndpointError::Assertion(e.message))
    }
}

#[async_trait]
impl Grant for JwtBearerGrant {
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
        self.endpoint
            .jwt_bearer(http, &assertion, self.scope.as_deref(), issued)
            .await
    }
}

impl AuthType for JwtBearerType {
    fn id(&self) -> AuthTypeId {
        AuthTypeId::OauthJwtBearer
    }

    fn build_strategy(
        &self,
        config: &Map<String, Value>,
        secrets: &Secrets,
        http: &EgressClient,
    ) -> Result<Arc<dyn AuthStrategy>, ActionError> {
        let token_url = required_config(config, "tokenUrl", self.id())?;
        let client_id = required_config(config, "clientId", self.id())?;
        let user = required_config(config, "userIdentifier", self.id())?;
        let key = SigningKey::from_pem(
            required_secret(secrets, "privateKey", self.id())?,
            secrets.get_str("privateKeyPassword"),
            "kid",
            required_config(config, "keyId", self.id())?,
        )?;
        let client_secret = required_secret(secrets, "clientSecret", self.id())?;
        let url = match super::token_grant::token_url(token_url) {
            Ok(url) => url,
            Err(refuse) => return Ok(refuse),
        };
        let grant = JwtBearerGrant {
            endpoint: TokenEndpoint {
                url,
                client_id: client_id.to_string(),
                client_secret: SecretString::from(client_secret),
                client_auth: ClientAuthentication::Post,
                paths: TokenPaths::default(),
                signing_key: None,
                body_format: TokenBodyFormat::Form,
            },
            key,
            user: user.to_string(),
            audience: config_str(config, "audience")
                .unwrap_or(client_id)
                .to_string(),
            scope: config_str(config, "scope").map(str::to_string),
        };
        Ok(Arc::new(GrantedToken::new(http, Box::new(grant))))
    }
}
