//! `api_key_header`: an API key in a configurable header (`X-API-Key` by default), after an
//! optional `prefix` (Opsgenie's `Authorization: GenieKey <key>`).

use std::sync::Arc;

use connector_spec::AuthTypeId;
use reqwest::header::HeaderName;
use serde_json::{Map, Value};

use super::auth_type::AuthType;
use super::fields::{config_str, header_value, required_secret};
use super::static_headers::StaticHeaders;
use super::strategy::AuthStrategy;
use crate::egress::EgressClient;
use crate::error::ActionError;
use crate::secrets::Secrets;

/// The `api_key_header` auth type.
pub struct ApiKeyHeaderType;

impl AuthType for ApiKeyHeaderType {
    fn id(&self) -> AuthTypeId {
        AuthTypeId::ApiKeyHeader
    }

    fn build_strategy(
        &self,
        config: &Map<String, Value>,
        secrets: &Secrets,
        _http: &EgressClient,
    ) -> Result<Arc<dyn AuthStrategy>, ActionError> {
        let name = config_str(config, "headerName").unwrap_or("X-API-Key");
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            ActionError::user(
                "invalid_config",
                format!("`{name}` is not a valid header name"),
            )
        })?;
        let key = required_secret(secrets, "apiKey", self.id())?;
        let prefix = config_str(config, "prefix").unwrap_or("");
        Ok(Arc::new(StaticHeaders::new(vec![(
            name,
            header_value(&format!("{prefix}{key}"), "API key")?,
        )])))
    }
}
