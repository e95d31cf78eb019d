//! `none`: no credentials.

use std::sync::Arc;

use async_trait::async_trait;
use connector_spec::AuthTypeId;
use serde_json::{Map, Value};

use super::auth_type::AuthType;
use super::strategy::AuthStrategy;
use crate::egress::EgressClient;
use crate::error::ActionError;
use crate::secrets::Secrets;

/// The `none` auth type.
pub struct NoneType;

/// No credentials: the strategy of types that act outside the request (mTLS, webhook URLs).
#[derive(Debug)]
pub struct NoAuth;

#[async_trait]
impl AuthStrategy for NoAuth {
    async fn apply(&self, _req: &mut reqwest::Request) -> Result<(), ActionError> {
        Ok(())
    }
}

impl AuthType for NoneType {
    fn id(&self) -> AuthTypeId {
        AuthTypeId::None
    }

    fn build_strategy(
        &self,
        _config: &Map<String, Value>,
        _secrets: &Secrets,
        _http: &EgressClient,
    ) -> Result<Arc<dyn AuthStrategy>, ActionError> {
        Ok(Arc::new(NoAuth))
    }
}
