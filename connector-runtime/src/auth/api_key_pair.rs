//! `api_key_pair`: a key id and a key, each in its own header (Tines' `X-User-Email` and
//! `X-User-Token`; Cortex XSOAR 8's `x-xdr-auth-id` and `Authorization`), the key after an
//! optional `keyPrefix`.

use std::sync::Arc;

use connector_spec::AuthTypeId;
use reqwest::header::HeaderName;
use serde_json::{Map, Value};

use super::auth_type::AuthType;
use super::fields::{config_str, header_value, required_config, required_secret};
use super::static_headers::StaticHeaders;
use super::strategy::AuthStrategy;
use crate::egress::EgressClient;
use crate::error::ActionError;
use crate::secrets::Secrets;

/// The `api_key_pair` auth type.
pub struct ApiKeyPairType;

/// The header named by config field `field`.
fn header_name(config: &Map<String, Value>, field: &str) -> Result<HeaderName, ActionError> {
    let name = required_config(config, field, AuthTypeId::ApiKeyPair)?;
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        ActionError::user(
            "invalid_config",
            format!("`{field}` `{name}` is not a valid header name"),
        )
    })
}

impl AuthType for ApiKeyPairType {
    fn id(&self) -> AuthTypeId {
        AuthTypeId::ApiKeyPair
    }

    fn build_strategy(
        &self,
        config: &Map<String, Value>,
        secrets: &Secrets,
        _http: &EgressClient,
    ) -> Result<Arc<dyn AuthStrategy>, ActionError> {
        let id_header = header_name(config, "idHeaderName")?;
        let key_header = header_name(config, "keyHeaderName")?;
        if id_header == key_header {
            return Err(ActionError::user(
                "invalid_config",
                format!(
                    "`idHeaderName` and `keyHeaderName` are both `{id_header}`: the key id and \
                     the key need two headers"
                ),
            ));
        }
        let key_id = required_secret(secrets, "keyId", self.id())?;
        let key = required_secret(secrets, "apiKey", self.id())?;
        let prefix = config_str(config, "keyPrefix").unwrap_or("");
        Ok(Arc::new(StaticHeaders::new(vec![
            (id_header, header_value(key_id, "key ID")?),
            (
                key_header,
                header_value(&format!("{prefix}{key}"), "API key")?,
            ),
        ])))
    }
}
