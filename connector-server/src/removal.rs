//! Disconnecting a user from every instance at once, when the user is removed: each per-user
//! token is revoked at the provider where the connector can revoke, then deleted. Used by
//! `DELETE /api/users/{name}` on a running server and by `connector users remove`, which
//! builds the same OAuth flows from the data directory and the specs ([`offline_flows`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use connector_runtime::ActionError;
use connector_runtime::oauth::OAuthFlows;
use connector_runtime::oauth::flows::Revocation;
use connector_runtime::store::{Stores, TokenStore};
use connector_spec::AuthMode;

use crate::{ServerConfig, StartError, metrics, start_err};

/// What disconnecting a user did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Disconnected {
    /// Per-user tokens deleted.
    pub deleted: u64,
    /// Tokens the provider confirmed revoked.
    pub revoked: u64,
    /// Revocations that failed (the tokens are deleted all the same); each names the
    /// endpoint, never a token.
    pub failures: Vec<String>,
}

/// Revoke (where the connector can) and delete every per-user token of `user_id`. A token
/// of an instance `flows` does not know is deleted without revocation.
pub async fn disconnect_everywhere(
    flows: &OAuthFlows,
    tokens: &dyn TokenStore,
    user_id: &str,
) -> Result<Disconnected, ActionError> {
    let connectors: BTreeSet<String> = tokens
        .list_user_tokens(user_id)
        .await?
        .into_iter()
        .map(|t| t.connector_id)
        .collect();
    let mut done = Disconnected::default();
    for connector in connectors {
        let d = flows.disconnect_reporting(&connector, user_id).await?;
        done.deleted += d.deleted;
        match d.revocation {
            Revocation::Revoked => done.revoked += 1,
            Revocation::Failed(m) => done.failures.push(m),
            Revocation::NotAttempted => {}
        }
    }
    Ok(done)
}

/// The OAuth flows of the per-user instances in `stores`, as `connector serve` with `config`
/// would register them, without serving. Instances whose type is not in `config.specs` (or
/// that cannot be built) are left out and named in the second value: their tokens are
/// deleted without revocation.
pub async fn offline_flows(
    config: &ServerConfig,
    stores: &Stores,
) -> Result<(Arc<OAuthFlows>, Vec<String>), StartError> {
    let registry = crate::load_specs(config)?;
    let public_base = crate::public_base_url(config, config.listen)?;
    let events = Arc::new(metrics::Metrics::new());
    let flows = crate::oauth_flows(config, &public_base, stores, &events)?;
    let records = stores
        .instances
        .list_instances()
        .await
        .map_err(|e| start_err("listing instances", e))?;
    let mut skipped = Vec::new();
    for record in records.iter().filter(|r| r.auth_mode == AuthMode::PerUser) {
        let registered = registry
            .get(&record.connector_type)
            .ok_or_else(|| format!("no connector type `{}`", record.connector_type))
            .and_then(|d| crate::state::connector_instance(d, record).map_err(|e| e.message))
            .and_then(|i| flows.register(&record.id, &i).map_err(|e| e.message));
        if let Err(why) = registered {
            skipped.push(format!("{} ({why})", record.id));
        }
    }
    Ok((flows, skipped))
}
