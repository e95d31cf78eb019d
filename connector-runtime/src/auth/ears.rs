//! `ears`: OAuth through the Elastic Auth Redirect Service, which holds the client; per user.

use connector_spec::AuthTypeId;
use serde_json::{Map, Value};

use super::auth_type::AuthType;
use super::fields::{config_str, required_config};
use crate::error::ActionError;
use crate::oauth::ears::{EarsClient, EarsProvider};
use crate::oauth::provider::OAuthClient;
use crate::oauth::settings::OAuthSettings;
use crate::secrets::Secrets;

/// The `ears` auth type.
pub struct EarsType;

impl AuthType for EarsType {
    fn id(&self) -> AuthTypeId {
        AuthTypeId::Ears
    }

    fn oauth_client(
        &self,
        config: &Map<String, Value>,
        _secrets: &Secrets,
        settings: &OAuthSettings,
    ) -> Result<OAuthClient, ActionError> {
        let provider = EarsProvider::parse(required_config(config, "provider", self.id())?)?;
        let base = config_str(config, "earsBaseUrl")
            .or(settings.ears_base_url.as_deref())
            .ok_or_else(|| {
                ActionError::user(
                    "invalid_config",
                    "no EARS base URL: set `earsBaseUrl` on the connector or in the runtime's \
                     OAuth settings",
                )
            })?;
        Ok(OAuthClient::Ears(EarsClient::new(
            base,
            provider,
            config_str(config, "scope").map(str::to_string),
        )?))
    }
}
