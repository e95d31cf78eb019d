//! [`Stores`]: one handle per store trait, so call sites pass one value.

use std::sync::Arc;

use super::audit::AuditStore;
use super::instances::InstanceStore;
use super::maintenance::Maintenance;
use super::rate_limits::RateLimits;
use super::states::OAuthStateStore;
use super::tokens::TokenStore;
use super::users::UserStore;
use crate::usage::UsageLedger;

/// Every store a process uses. A backend may implement all of them in one type
/// ([`SqliteStore::stores`](super::SqliteStore::stores)); the fields are separate so another
/// backend can provide them one by one.
#[derive(Debug, Clone)]
pub struct Stores {
    pub tokens: Arc<dyn TokenStore>,
    pub states: Arc<dyn OAuthStateStore>,
    pub instances: Arc<dyn InstanceStore>,
    pub users: Arc<dyn UserStore>,
    pub audit: Arc<dyn AuditStore>,
    pub maintenance: Arc<dyn Maintenance>,
    /// Counters behind the per-user limits of the OAuth routes.
    pub rate_limits: Arc<dyn RateLimits>,
    /// Token usage per instance, day and model.
    pub usage: Arc<dyn UsageLedger>,
}

impl Stores {
    /// The bundle of a backend whose one type holds tokens, states, instances and upkeep.
    pub fn of<S>(
        store: S,
        users: Arc<dyn UserStore>,
        audit: Arc<dyn AuditStore>,
        rate_limits: Arc<dyn RateLimits>,
    ) -> Stores
    where
        S: TokenStore + OAuthStateStore + InstanceStore + Maintenance + UsageLedger + 'static,
    {
        let this = Arc::new(store);
        Stores {
            tokens: this.clone(),
            states: this.clone(),
            instances: this.clone(),
            users,
            audit,
            maintenance: this.clone(),
            rate_limits,
            usage: this,
        }
    }
}
