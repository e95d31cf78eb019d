//! `GET /api/audit`: the audit trail for admins, filtered and paginated (newest first).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use connector_runtime::store::{AuditEvent, AuditFilter, MAX_PAGE};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::Admin;
use crate::error::{ApiError, AppResult};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// The page size when `limit` is not given.
pub const DEFAULT_PAGE: u32 = 100;
/// The largest time or cursor value accepted (JavaScript's largest safe integer).
const MAX_INT: i64 = 9_007_199_254_740_991;

/// The filters of `GET /api/audit`; every given one must match.
#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Events done by this user, on their behalf, or to them (user and key changes).
    #[param(pattern = r"^[A-Za-z0-9._@-]{1,64}$")]
    pub user: Option<String>,
    /// The instance id.
    #[param(pattern = r"^[a-z0-9_-]{1,64}$")]
    pub instance: Option<String>,
    /// The action name.
    #[param(pattern = r"^[A-Za-z][A-Za-z0-9_]{0,127}$")]
    pub action: Option<String>,
    /// The operation: `action.run`, `instance.create`, `user.remove`, `auth.refused`, ...
    #[param(pattern = r"^[a-z]{1,32}\.[a-z_]{1,32}$")]
    pub operation: Option<String>,
    /// `ok` or a failure class: `invalid`, `denied`, `not_found`, `conflict`, `timeout`,
    /// `rate_limited`, `upstream`, `unavailable`, `error`, `cancelled`.
    #[param(pattern = r"^[a-z_]{1,32}$")]
    pub outcome: Option<String>,
    /// Events at or after this time (milliseconds since the Unix epoch).
    #[param(minimum = 0, maximum = 9_007_199_254_740_991_f64)]
    pub since: Option<i64>,
    /// Events at or before this time (milliseconds since the Unix epoch).
    #[param(minimum = 0, maximum = 9_007_199_254_740_991_f64)]
    pub until: Option<i64>,
    /// The `nextBefore` of the previous page.
    #[param(minimum = 1, maximum = 9_007_199_254_740_991_f64)]
    pub before: Option<i64>,
    /// Events per page: 1 to 500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// One recorded operation. Names, ids and codes only: never an input, output or secret.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventView {
    pub id: i64,
    /// When the operation started (milliseconds since the Unix epoch).
    pub at: i64,
    pub operation: String,
    /// The user who did it, `cli` for the local operator; absent when authentication failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Whose credentials were used: the user for a per-user instance, `shared` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The user (or `user/key`) a user or key change was about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `ok` or the failure class.
    pub outcome: String,
    /// The error code of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub duration_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> AuditEventView {
        AuditEventView {
            id: e.id,
            at: e.at,
            operation: e.operation,
            actor: e.actor,
            on_behalf_of: e.on_behalf_of,
            instance: e.instance,
            action: e.action,
            target: e.target,
            outcome: e.outcome,
            code: e.code,
            duration_ms: e.duration_ms,
            request_id: e.request_id,
        }
    }
}

/// A page of the audit trail.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditList {
    /// Newest first.
    pub events: Vec<AuditEventView>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

fn in_range(name: &str, v: Option<i64>, min: i64) -> AppResult<Option<i64>> {
    match v {
        Some(n) if !(min..=MAX_INT).contains(&n) => Err(ApiError::bad_request(
            "invalid_query",
            format!("`{name}` is {min} to {MAX_INT}"),
        )),
        _ => Ok(v),
    }
}

impl AuditQuery {
    /// The store filter, with the bounds the document states checked.
    pub fn filter(self) -> AppResult<AuditFilter> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("`limit` is 1 to {MAX_PAGE}"),
            ));
        }
        Ok(AuditFilter {
            user: self.user,
            instance: self.instance,
            action: self.action,
            operation: self.operation,
            outcome: self.outcome,
            since: in_range("since", self.since, 0)?,
            until: in_range("until", self.until, 0)?,
            before_id: in_range("before", self.before, 1)?,
            limit,
        })
    }
}

/// Read the audit trail (admins only).
#[utoipa::path(get, path = "/api/audit", security(("bearer" = []), ("api_key" = [])), params(AuditQuery),
    responses((status = 200, description = "One page of events, newest first", body = AuditList), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 503, response = crate::openapi::ServiceUnavailable)))]
pub async fn list_audit(
    State(s): State<Arc<AppState>>,
    Admin(_): Admin,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> AppResult<Json<AuditList>> {
    let page = s.stores.audit.query(&q.filter()?).await?;
    Ok(Json(AuditList {
        events: page.events.into_iter().map(AuditEventView::from).collect(),
        next_before: page.next_before_id,
    }))
}
