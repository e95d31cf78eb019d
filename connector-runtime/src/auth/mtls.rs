//! `mtls`: mutual TLS with a client certificate. It acts when the instance's HTTP client is
//! built (the identity and trusted CAs), so the request itself carries no credential.

use std::sync::Arc;

use connector_spec::AuthTypeId;
use serde_json::{Map, Value};

use super::auth_type::{AuthType, TlsConfig};
use super::none::NoAuth;
use super::strategy::AuthStrategy;
use crate::egress::EgressClient;
use crate::error::ActionError;
use crate::secrets::Secrets;

/// The `mtls` auth type.
pub struct MtlsType;

impl AuthType for MtlsType {
    fn id(&self) -> AuthTypeId {
        AuthTypeId::Mtls
    }

    fn build_strategy(
        &self,
        _config: &Map<String, Value>,
        _secrets: &Secrets,
        _http: &EgressClient,
    ) -> Result<Arc<dyn AuthStrategy>, ActionError> {
        Ok(Arc::new(NoAuth))
    }

    fn tls(&self, config: &Map<String, Value>, secrets: &Secrets) -> Option<TlsConfig> {
        let cert = secrets.get_str("certificate").unwrap_or_default();
        let key = secrets.get_str("privateKey").unwrap_or_default();
        Some(TlsConfig {
            identity_pem: Some(format!("{}\n{}\n", cert.trim(), key.trim())),
            ca_pem: config
                .get("caCertificate")
                .and_then(Value::as_str)
                .map(str::to_string),
            verify_server: config
                .get("verifyServerCertificate")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        })
    }
}
