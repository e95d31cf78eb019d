//! `bearer`: `Authorization: Bearer <token>`.

use std::sync::Arc;

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

/// The `bearer` auth type.
pub struct BearerType;

impl AuthType for BearerType {
    fn id(&self) -> AuthTypeId {
        AuthTypeId::Bearer
    }

    fn build_strategy(
        &self,
        _config: &Map<String, Value>,
        secrets: &Secrets,
        _http: &EgressClient,
    ) -> Result<Arc<dyn AuthStrategy>, ActionError> {
        let token = required_secret(secrets, "token", self.id())?;
        Ok(Arc::new(StaticHeaders::new(vec![(
            AUTHORIZATION,
            header_value(&format!("Bearer {token}"), "token")?,
        )])))
    }
}
