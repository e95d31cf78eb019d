//! What one action adds to the connector's policies for its requests: the idempotency key
//! and its response body limit.

use connector_spec::{Action, DEFAULT_MAX_RESPONSE_BYTES, Implementation, Policies};

use super::idempotency::ResolvedKey;
use crate::error::ActionError;

/// The per-action part of the HTTP policies, resolved once per call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionPolicy {
    /// `request.idempotencyKey`, with its value rendered for this call.
    pub idempotency_key: Option<ResolvedKey>,
    /// The action's `maxResponseBytes`.
    pub max_response_bytes: Option<u64>,
}

impl ActionPolicy {
    /// The policy of `action`; `render` renders the key's value template for this call.
    pub fn for_action(
        action: &Action,
        render: impl FnOnce(&str) -> Result<String, ActionError>,
    ) -> Result<ActionPolicy, ActionError> {
        let key = match &action.implementation {
            Implementation::Http { request, .. } => request.idempotency_key.as_ref(),
            Implementation::Code { .. } => None,
        };
        let idempotency_key = match key {
            None => None,
            Some(k) => {
                let value = k.value.as_deref().map(render).transpose()?;
                Some(ResolvedKey::new(&k.header, value.as_deref())?)
            }
        };
        Ok(ActionPolicy {
            idempotency_key,
            max_response_bytes: action.max_response_bytes,
        })
    }

    /// The response body limit: the action's, else the connector's, else 64 MiB.
    pub fn body_limit(&self, policies: &Policies) -> u64 {
        self.max_response_bytes
            .or(policies.max_response_bytes)
            .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES)
    }
}
