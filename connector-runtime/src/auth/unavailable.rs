//! An auth type whose implementation this build of the runtime leaves out (a cargo feature
//! that is off): instances of it are refused with the feature to enable.

use std::sync::Arc;

use connector_spec::AuthTypeId;
use serde_json::{Map, Value};

use super::auth_type::AuthType;
use super::strategy::AuthStrategy;
use crate::egress::EgressClient;
use crate::error::ActionError;
use crate::secrets::Secrets;

/// The auth type `id`, whose strategy needs connector-runtime's cargo feature `feature`.
pub struct Unavailable {
    pub id: AuthTypeId,
    pub feature: &'static str,
}

impl AuthType for Unavailable {
    fn id(&self) -> AuthTypeId {
        self.id
    }

    fn build_strategy(
        &self,
        _config: &Map<String, Value>,
        _secrets: &Secrets,
        _http: &EgressClient,
    ) -> Result<Arc<dyn AuthStrategy>, ActionError> {
        Err(ActionError::system(
            "feature_disabled",
            format!(
                "auth type `{}` needs connector-runtime's `{}` cargo feature, which this build leaves out; enable it in Cargo.toml",
                self.id, self.feature
            ),
        ))
    }
}
