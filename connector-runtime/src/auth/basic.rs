//! `basic`: HTTP Basic with a username and password.

use std::sync::Arc;

use base64::Engine;
use connector_spec::AuthTypeId;
use reqwest::header::AUTHORIZATION;
use serde_json::{Map, Value};

use super::auth_type::AuthType;
use super::fields::{header_value, required_secret};
use super::static_headers::StaticHeaders;
use super::strategy::AuthStrategy;
use crate::egress::EgressClient;
use crate::error::ActionError;
use crate::secrets::Secrets;

/// The `basic` auth type.
pub struct BasicType;

impl AuthType for BasicType {
    fn id(&self) -> AuthTypeId {
        AuthTypeId::Basic
    }

    fn build_strategy(
        &self,
        _config: &Map<String, Value>,
        secrets: &Secrets,
        _http: &EgressClient,
    ) -> Result<Arc<dyn AuthStrategy>, ActionError> {
        let user = required_secret(secrets, "username", self.id())?;
        let pass = required_secret(secrets, "password", self.id())?;
        let creds = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        Ok(Arc::new(StaticHeaders::new(vec![(
            AUTHORIZATION,
            header_value(&format!("Basic {creds}"), "basic credentials")?,
        )])))
    }

    /// `username:password` is encoded as one value on the wire.
    fn secret_forms(&self, secrets: &Secrets) -> Vec<String> {
        match (secrets.get_str("username"), secrets.get_str("password")) {
            (Some(u), Some(p)) => vec![format!("{u}:{p}")],
            _ => Vec::new(),
        }
    }
}
