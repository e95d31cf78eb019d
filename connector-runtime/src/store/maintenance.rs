//! Upkeep across every store: [`Maintenance`] (cleanup of expired states and stale per-user
//! tokens, key rotation, key usage) and the periodic cleanup task [`spawn_cleanup`].
//!
//! These span several stores (a key rotation re-seals tokens, states and instances in one
//! transaction), so they are one trait of their own rather than a method on each store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::error::StoreError;
use super::timestamp::Timestamp;

/// Per-user tokens unused for this long are deleted by [`Maintenance::cleanup`]: 90 days.
pub const DEFAULT_UNUSED_TOKEN_TTL: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// What [`Maintenance::cleanup`] deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// Per-user tokens whose last use (or last write, if never used) is older than this are
    /// deleted. Shared tokens are never deleted by cleanup.
    pub unused_token_ttl: Duration,
    /// Audit events older than this are deleted.
    pub audit_retention: Duration,
}

impl Default for CleanupPolicy {
    fn default() -> CleanupPolicy {
        CleanupPolicy {
            unused_token_ttl: DEFAULT_UNUSED_TOKEN_TTL,
            audit_retention: Duration::from_secs(
                u64::from(super::audit::DEFAULT_AUDIT_RETENTION_DAYS) * 24 * 60 * 60,
            ),
        }
    }
}

/// What a cleanup deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CleanupReport {
    /// OAuth states past their expiry (consumed or not).
    pub states_deleted: u64,
    /// Per-user tokens unused for longer than the policy allows.
    pub tokens_deleted: u64,
    /// Audit events older than the retention.
    pub audit_events_deleted: u64,
    /// True when nothing was done because another process was cleaning the same database
    /// (PostgreSQL); a SQLite file has one process, which never skips.
    pub skipped: bool,
}

/// What a key rotation re-sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RotationReport {
    /// Token records re-sealed (shared and per-user).
    pub tokens: u64,
    /// OAuth states re-sealed.
    pub states: u64,
    /// Connector instances re-sealed.
    pub instances: u64,
    /// Sealed values (fields) re-encrypted in all.
    pub values: u64,
}

/// Store-wide upkeep: what touches the records of several stores at once.
#[async_trait]
pub trait Maintenance: Send + Sync + std::fmt::Debug {
    /// Delete states expired at `now`, per-user tokens unused since
    /// `now - policy.unused_token_ttl` and audit events older than `now - policy.audit_retention`.
    async fn cleanup(
        &self,
        now: Timestamp,
        policy: &CleanupPolicy,
    ) -> Result<CleanupReport, StoreError>;

    /// Re-seal every sealed value under the keyring's active key, in one transaction: either
    /// every value moves or none does. Values already under the active key are re-sealed
    /// too (fresh nonces). Afterwards the old keys can be removed from the configuration.
    async fn rotate_keys(&self) -> Result<RotationReport, StoreError>;

    /// How many sealed values each key id holds (for `connector keys status`: a key with no
    /// values left can be removed from the configuration). Values are not opened.
    async fn key_usage(&self) -> Result<BTreeMap<String, u64>, StoreError>;
}

/// Run [`Maintenance::cleanup`] every `every` until `cancel` fires. Failures are logged
/// (without secrets) and the next round runs as usual.
pub fn spawn_cleanup(
    store: Arc<dyn Maintenance>,
    every: Duration,
    policy: CleanupPolicy,
    cancel: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {
                    match store.cleanup(Timestamp::now(), &policy).await {
                        Ok(r) => tracing::debug!(
                            states = r.states_deleted,
                            tokens = r.tokens_deleted,
                            audit_events = r.audit_events_deleted,
                            "token store cleanup"
                        ),
                        Err(e) => tracing::warn!(error = %e, "token store cleanup failed"),
                    }
                }
            }
        }
    })
}
