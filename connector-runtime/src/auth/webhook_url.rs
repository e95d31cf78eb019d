//! `webhook_url`: the secret is the URL itself; the spec's `request.url` template puts it on
//! the wire, so the request carries no extra credential.

use std::sync::Arc;

use connector_spec::AuthTypeId;
use serde_json::{Map, Value};

use super::auth_type::AuthType;
use super::none::NoAuth;
use super::strategy::AuthStrategy;
use crate::egress::EgressClient;
use crate::error::ActionError;
use crate::secrets::Secrets;

/// The `webhook_url` auth type.
pub struct WebhookUrlType;

impl AuthType for WebhookUrlType {
    fn id(&self) -> AuthTypeId {
        AuthTypeId::WebhookUrl
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
