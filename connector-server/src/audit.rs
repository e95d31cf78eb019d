//! The audit trail as the server writes it: [`Audit`] describes one operation (who, on whose
//! behalf, which instance and action), [`Audit::finish`] records it with its outcome class and
//! duration, and [`audited`] wraps a handler body so every path out of it is recorded once.
//! `GET /api/audit` reads it back (in [`crate::api`]).
//!
//! Only names, ids and error codes are recorded: never an input value, an output, an error
//! message (it may quote input) or a secret.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use connector_runtime::store::{AuditEvent, AuditStore, User};

use crate::error::{ApiError, AppResult};

tokio::task_local! {
    /// The id of the HTTP request being served (set by the request-log middleware).
    pub static REQUEST_ID: String;
}

/// The actor recorded for the local operator (`connector users ...` on the server's machine).
pub const CLI_ACTOR: &str = "cli";

/// The outcome class of an error answer.
pub fn outcome_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=399 => "ok",
        400 | 413 | 414 | 415 | 422 => "invalid",
        401 | 403 => "denied",
        404 => "not_found",
        408 => "timeout",
        409 => "conflict",
        429 => "rate_limited",
        502 | 504 => "upstream",
        503 => "unavailable",
        _ => "error",
    }
}

/// A store error as the audit trail and the API classify it: the outcome class and code.
pub fn store_outcome(e: connector_runtime::store::StoreError) -> (&'static str, String) {
    let api = ApiError::from(e);
    (outcome_class(api.status), api.code)
}

/// One operation being done; recorded by [`Audit::finish`].
#[derive(Debug)]
pub struct Audit {
    event: AuditEvent,
    started: Instant,
}

impl Audit {
    /// An operation starting now, in the current request (its id is taken from the request).
    pub fn new(operation: &'static str) -> Audit {
        let mut event = AuditEvent::new(operation);
        event.request_id = REQUEST_ID.try_with(Clone::clone).ok();
        Audit {
            event,
            started: Instant::now(),
        }
    }

    pub fn actor(mut self, user: &User) -> Audit {
        self.event.actor = Some(user.name.clone());
        self
    }

    /// The actor by name (`cli`, or a user found without a [`User`] at hand).
    pub fn actor_name(mut self, name: &str) -> Audit {
        self.event.actor = Some(name.to_string());
        self
    }

    pub fn on_behalf_of(mut self, whose: &str) -> Audit {
        self.event.on_behalf_of = Some(whose.to_string());
        self
    }

    pub fn instance(mut self, id: &str) -> Audit {
        self.event.instance = Some(id.to_string());
        self
    }

    pub fn action(mut self, name: &str) -> Audit {
        self.event.action = Some(name.to_string());
        self
    }

    pub fn target(mut self, what: &str) -> Audit {
        self.event.target = Some(what.to_string());
        self
    }

    /// Record the operation with the outcome of `result`. A plain function returning the
    /// future, so the future holds the outcome rather than `result` (a response body is not
    /// `Sync`, and a handler's future must be `Send`).
    pub fn finish<T>(
        self,
        store: &dyn AuditStore,
        result: &AppResult<T>,
    ) -> impl Future<Output = ()> + Send {
        let (outcome, code) = match result {
            Ok(_) => ("ok", None),
            Err(e) => (outcome_class(e.status), Some(e.code.clone())),
        };
        async move { self.finish_with(store, outcome, code.as_deref()).await }
    }

    /// Record the operation as failed with `e`.
    pub async fn finish_error(self, store: &dyn AuditStore, e: &ApiError) {
        let class = outcome_class(e.status);
        self.finish_with(store, class, Some(e.code.as_str())).await
    }

    /// Record the operation with an outcome class and error code of the caller's choosing
    /// (streams end with an error event rather than an error answer).
    pub async fn finish_with(mut self, store: &dyn AuditStore, outcome: &str, code: Option<&str>) {
        self.event.outcome = outcome.to_string();
        self.event.code = code.map(str::to_string);
        self.event.duration_ms =
            i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        if let Err(e) = store.record(self.event).await {
            // The operation itself is done; losing its record is logged, not answered.
            tracing::error!(error = %e, "recording an audit event failed");
        }
    }
}

/// Run `body` and record `audit` with its outcome; the body's result is returned unchanged.
pub async fn audited<T>(
    store: &Arc<dyn AuditStore>,
    audit: Audit,
    body: impl Future<Output = AppResult<T>>,
) -> AppResult<T> {
    let result = body.await;
    audit.finish(&**store, &result).await;
    result
}

/// Records an operation that outlives its handler (a streamed action): finished explicitly
/// when the stream ends, or as `cancelled` when it is dropped first (the client went away).
#[derive(Debug)]
pub struct PendingAudit {
    audit: Option<Audit>,
    store: Arc<dyn AuditStore>,
}

impl PendingAudit {
    pub fn new(store: Arc<dyn AuditStore>, audit: Audit) -> PendingAudit {
        PendingAudit {
            audit: Some(audit),
            store,
        }
    }

    /// Record the outcome now (later calls and the drop record nothing).
    pub async fn finish(&mut self, outcome: &str, code: Option<&str>) {
        if let Some(a) = self.audit.take() {
            a.finish_with(&*self.store, outcome, code).await;
        }
    }
}

impl Drop for PendingAudit {
    fn drop(&mut self) {
        if let Some(a) = self.audit.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let store = Arc::clone(&self.store);
            rt.spawn(async move { a.finish_with(&*store, "cancelled", None).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_outcome_classes() {
        for (status, class) in [
            (200, "ok"),
            (400, "invalid"),
            (401, "denied"),
            (403, "denied"),
            (404, "not_found"),
            (409, "conflict"),
            (429, "rate_limited"),
            (502, "upstream"),
            (503, "unavailable"),
            (500, "error"),
        ] {
            assert_eq!(outcome_class(StatusCode::from_u16(status).unwrap()), class);
        }
    }
}
