//! `oauth_client_credentials`: an access token from the OAuth 2.0 client credentials grant,
//! fetched through the one token client ([`TokenEndpoint`]) and cached by [`GrantedToken`].
//! The client authenticates with its secret, or with a `private_key_jwt` assertion signed by
//! its private key (Entra ID certificate credentials).

use std::sync::Arc;

use async_trait::async_trait;
use connector_spec::AuthTypeId;
use secrecy::SecretString;
use serde_json::{Map, Value};

use super::auth_type::AuthType;
use super::fields::{config_str, required_config, required_secret};
use super::strategy::AuthStrategy;
use super::token_grant::{Grant, GrantedToken};
use crate::egress::EgressClient;
use crate::error::ActionError;
use crate::oauth::jwt::SigningKey;
use crate::oauth::token::{
    ClientAuthentication, TokenBodyFormat, TokenEndpoint, TokenEndpointError, TokenPaths, TokenSet,
};
use crate::secrets::Secrets;

/// The `oauth_client_credentials` auth type.
pub struct ClientCredentialsType;

/// The strategy of `oauth_client_credentials` (a cached client credentials token).
pub type ClientCredentials = GrantedToken;

/// The client credentials grant with the optional scope and audience.
struct ClientCredentialsGrant {
    endpoint: TokenEndpoint,
    scope: Option<String>,
    audience: Option<String>,
}

#[async_trait]
impl Grant for ClientCredentialsGrant {
    fn endpoint(&self) -> &TokenEndpoint {
        &self.endpoint
    }

    async fn request(
        &self,
        http: &EgressClient,
        issued: &mut Vec<String>,
    ) -> Result<TokenSet, TokenEndpointError> {
        self.endpoint
            .client_credentials_issuing(
                http,
                self.scope.as_deref(),
                self.audience.as_deref(),
                issued,
            )
            .await
    }
}

/// The client's credential: its secret, or for `private_key_jwt` its signing key (then
/// `keyId` and `privateKey` are required and `clientSecret` is not).
fn client_credential(
    config: &Map<String, Value>,
    secrets: &Secrets,
    client_auth: ClientAuthentication,
) -> Result<(SecretString, Option<Arc<SigningKey>>), ActionError> {
    let id = AuthTypeId::OauthClientCredentials;
    if client_auth != ClientAuthentication::PrivateKeyJwt {
        let secret = required_secret(secrets, "clientSecret", id)?;
        return Ok((SecretString::from(secret), None));
    }
    let key = SigningKey::from_pem(
        required_secret(secrets, "privateKey", id)?,
        secrets.get_str("privateKeyPassword"),
        config_str(config, "keyIdHeader").unwrap_or("kid"),
        required_config(config, "keyId", id)?,
    )?;
    let secret = secrets.get_str("clientSecret").unwrap_or_default();
    Ok((SecretString::from(secret), Some(Arc::new(key))))
}

impl AuthType for ClientCredentialsType {
    fn id(&self) -> AuthTypeId {
        AuthTypeId::OauthClientCredentials
    }

    fn build_strategy(
        &self,
        config: &Map<String, Value>,
        secrets: &Secrets,
        http: &EgressClient,
    ) -> Result<Arc<dyn AuthStrategy>, ActionError> {
        let token_url = required_config(config, "tokenUrl", self.id())?;
        let client_id = required_config(config, "clientId", self.id())?;
        let client_auth = ClientAuthentication::parse(config_str(config, "clientAuthentication"))?;
        let (client_secret, signing_key) = client_credential(config, secrets, client_auth)?;
        let url = match super::token_grant::token_url(token_url) {
            Ok(url) => url,
            Err(refuse) => return Ok(refuse),
        };
        let grant = ClientCredentialsGrant {
            endpoint: TokenEndpoint {
                url,
                client_id: client_id.to_string(),
                client_secret,
                client_auth,
                paths: TokenPaths::default(),
                signing_key,
                body_format: TokenBodyFormat::Form,
            },
            scope: config_str(config, "scope").map(str::to_string),
            audience: config_str(config, "audience").map(str::to_string),
        };
        Ok(Arc::new(GrantedToken::new(http, Box::new(grant))))
    }
}
