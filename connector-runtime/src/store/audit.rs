//! The audit trail: [`AuditStore`] keeps one [`AuditEvent`] per operation (who, on whose
//! behalf, which instance and action, when, how long, the outcome class), never an input
//! value, an output or a secret. [`AuditFilter`] and [`AuditPage`] read it back, newest first.
//!
//! Events carry names and ids only. The fields are bounded by the callers (user names, instance
//! ids and action names are validated before they are recorded), and [`AuditEvent::clamped`]
//! cuts any field to [`MAX_FIELD_CHARS`] so a store row never grows with its input.

use std::fmt;

use async_trait::async_trait;
use serde::Serialize;

use super::error::StoreError;
use super::timestamp::Timestamp;

/// Audit events older than this are deleted by cleanup unless the server says otherwise: 90 days.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 90;
/// A recorded field is cut to this many characters.
pub const MAX_FIELD_CHARS: usize = 200;
/// The most events one page returns.
pub const MAX_PAGE: u32 = 500;

/// One recorded operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Assigned by the store, increasing; 0 before it is recorded.
    pub id: i64,
    /// When the operation started (milliseconds since the Unix epoch).
    pub at: i64,
    /// What was done: `action.run`, `instance.create`, `user.remove`, `auth.refused`, ...
    pub operation: String,
    /// Who did it: a user name, `cli` for the local operator, or `None` when the caller could
    /// not be authenticated.
    pub actor: Option<String>,
    /// Whose credentials the operation used: the user's own name for a per-user instance,
    /// `shared` for an instance's shared credentials, `None` when no upstream call was made.
    pub on_behalf_of: Option<String>,
    /// The connector instance, when the operation is about one.
    pub instance: Option<String>,
    /// The action, for action runs.
    pub action: Option<String>,
    /// The user or key the operation changed (`alice`, `alice/ci`), for user and key changes.
    pub target: Option<String>,
    /// `ok`, or the class of the failure: `invalid`, `denied`, `not_found`, `conflict`,
    /// `rate_limited`, `upstream`, `unavailable`, `error`, `cancelled`.
    pub outcome: String,
    /// The error's stable code (`invalid_input`, `unauthorized`, ...); `None` on success.
    pub code: Option<String>,
    /// How long the operation took, in milliseconds.
    pub duration_ms: i64,
    /// The request id of the HTTP request, when there was one.
    pub request_id: Option<String>,
}

impl AuditEvent {
    /// An event for `operation` starting now, with outcome `ok` and nothing else set.
    pub fn new(operation: impl Into<String>) -> AuditEvent {
        AuditEvent {
            id: 0,
            at: Timestamp::now().as_millis(),
            operation: operation.into(),
            actor: None,
            on_behalf_of: None,
            instance: None,
            action: None,
            target: None,
            outcome: "ok".into(),
            code: None,
            duration_ms: 0,
            request_id: None,
        }
    }

    /// The same event with every text field cut to [`MAX_FIELD_CHARS`] characters.
    pub fn clamped(mut self) -> AuditEvent {
        let cut = |s: &mut String| {
            if let Some((i, _)) = s.char_indices().nth(MAX_FIELD_CHARS) {
                s.truncate(i);
            }
        };
        cut(&mut self.operation);
        cut(&mut self.outcome);
        for f in [
            &mut self.actor,
            &mut self.on_behalf_of,
            &mut self.instance,
            &mut self.action,
            &mut self.target,
            &mut self.code,
            &mut self.request_id,
        ]
        .into_iter()
        .flatten()
        {
            cut(f);
        }
        self
    }
}

/// Which events to read. Every set field must match; times are inclusive bounds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Events done by this user, or on their behalf.
    pub user: Option<String>,
    pub instance: Option<String>,
    pub action: Option<String>,
    pub operation: Option<String>,
    pub outcome: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only events with an id below this one (the cursor of the previous page).
    pub before_id: Option<i64>,
    /// At most this many events (1 to [`MAX_PAGE`]).
    pub limit: u32,
}

/// One page of events, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `before_id` for the next (older) page; `None` on the last page.
    pub next_before_id: Option<i64>,
}

/// Where audit events are kept.
#[async_trait]
pub trait AuditStore: Send + Sync + fmt::Debug {
    /// Record `event` (its `id` is ignored); returns the id it got.
    async fn record(&self, event: AuditEvent) -> Result<i64, StoreError>;

    /// The events matching `filter`, newest first.
    async fn query(&self, filter: &AuditFilter) -> Result<AuditPage, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamped_cuts_every_text_field_on_a_character_boundary() {
        let long = "é".repeat(MAX_FIELD_CHARS + 50);
        let mut e = AuditEvent::new(long.clone());
        e.actor = Some(long.clone());
        e.target = Some(long.clone());
        let e = e.clamped();
        assert_eq!(e.operation.chars().count(), MAX_FIELD_CHARS);
        assert_eq!(e.actor.unwrap().chars().count(), MAX_FIELD_CHARS);
        assert_eq!(e.target.unwrap().chars().count(), MAX_FIELD_CHARS);
    }
}
