//! `api_key_query`: an API key in a configurable query parameter (`api_key` by default).

use std::sync::Arc;

use async_trait::async_trait;
use connector_spec::AuthTypeId;
use serde_json::{Map, Value};

use super::auth_type::AuthType;
use super::fields::{config_str, required_secret};
use super::strategy::AuthStrategy;
use crate::egress::EgressClient;
use crate::error::ActionError;
use crate::secrets::Secrets;

/// The `api_key_query` auth type.
pub struct ApiKeyQueryType;

/// An API key in a query parameter.
pub struct QueryKey {
    param: String,
    key: String,
}

impl std::fmt::Debug for QueryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QueryKey({})", self.param)
    }
}

#[async_trait]
impl AuthStrategy for QueryKey {
    async fn apply(&self, req: &mut reqwest::Request) -> Result<(), ActionError> {
        req.url_mut()
            .query_pairs_mut()
            .append_pair(&self.param, &self.key);
        Ok(())
    }
}

impl AuthType for ApiKeyQueryType {
    fn id(&self) -> AuthTypeId {
        AuthTypeId::ApiKeyQuery
    }

    fn build_strategy(
        &self,
        config: &Map<String, Value>,
        secrets: &Secrets,
        _http: &EgressClient,
    ) -> Result<Arc<dyn AuthStrategy>, ActionError> {
        Ok(Arc::new(QueryKey {
            param: config_str(config, "paramName")
                .unwrap_or("api_key")
                .to_string(),
            key: required_secret(secrets, "apiKey", self.id())?.to_string(),
        }))
    }
}
