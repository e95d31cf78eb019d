//! [`Stores`]: one handle per store trait, so call sites pass one value.

use std::sync::Arc;

use super::audit::AuditStore;
use super::instances::InstanceStore;
use super::maintenance::Maintenance;
use super::rate_limits::RateLimits;
use super::states::OAuthStateStore;
use super::tokens::TokenStore;
use super::users::UserStore;

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
}
