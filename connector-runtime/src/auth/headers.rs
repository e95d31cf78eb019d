//! `headers`: arbitrary secret headers, one per entry of the `headers` secret.

use std::sync::Arc;

use connector_spec::AuthTypeId;
use reqwest::header::HeaderName;
use serde_json::{Map, Value};

use super::auth_type::AuthType;
use super::fields::header_value;
use super::static_headers::StaticHeaders;
use super::strategy::AuthStrategy;
use crate::egress::EgressClient;
use crate::error::ActionError;
use crate::secrets::Secrets;

/// The `headers` auth type.
pub struct HeadersType;

impl AuthType for HeadersType {
    fn id(&self) -> AuthTypeId {
        AuthTypeId::Headers
    }

    fn build_strategy(
        &self,
        _config: &Map<String, Value>,
        secrets: &Secrets,
        _http: &EgressClient,
    ) -> Result<Arc<dyn AuthStrategy>, ActionError> {
        let Some(Value::Object(map)) = secrets.get("headers") else {
            return Err(ActionError::user(
                "missing_secret",
                "auth type `headers` needs the secret `headers`",
            ));
        };
        let mut headers = Vec::new();
        for (k, v) in map {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                ActionError::user(
                    "invalid_secrets",
                    format!("`{k}` is not a valid header name"),
                )
            })?;
            let value = v.as_str().ok_or_else(|| {
                ActionError::user("invalid_secrets", format!("header `{k}` must be a string"))
            })?;
            headers.push((name, header_value(value, &format!("header `{k}`"))?));
        }
        Ok(Arc::new(StaticHeaders::new(headers)))
    }
}
