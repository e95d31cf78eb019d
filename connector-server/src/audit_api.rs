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

/// `s` matches `^[a-z]{1,32}$`-style rules: `first` for the first character, `rest` for the
/// others, at most `max` characters, and (for operations) one `.` between two parts.
fn word(s: &str, max: usize, first: fn(u8) -> bool, rest: fn(u8) -> bool) -> bool {
    !s.is_empty() && s.len() <= max && first(s.as_bytes()[0]) && s.bytes().skip(1).all(rest)
}

fn check(
    name: &str,
    value: &Option<String>,
    ok: impl Fn(&str) -> bool,
    rule: &str,
) -> AppResult<()> {
    match value {
        Some(v) if !ok(v) => Err(ApiError::bad_request(
            "invalid_query",
            format!("`{name}` is {rule}"),
        )),
        _ => Ok(()),
    }
}

fn lower_or_underscore(b: u8) -> bool {
    b.is_ascii_lowercase() || b == b'_'
}

impl AuditQuery {
    /// The filters' text rules, as the document states them.
    fn check_text(&self) -> AppResult<()> {
        check(
            "user",
            &self.user,
            |u| connector_runtime::store::check_user_name(u).is_ok(),
            "1 to 64 of ASCII letters, digits, `-`, `_`, `.` and `@`",
        )?;
        if let Some(id) = &self.instance {
            crate::api::valid_id(id)?;
        }
        check(
            "action",
            &self.action,
            |a| {
                word(
                    a,
                    128,
                    |b| b.is_ascii_alphabetic(),
                    |b| b.is_ascii_alphanumeric() || b == b'_',
                )
            },
            "a letter, then letters, digits and `_` (at most 128)",
        )?;
        check(
            "operation",
            &self.operation,
            |o| {
                o.split_once('.').is_some_and(|(a, b)| {
                    word(
                        a,
                        32,
                        |c| c.is_ascii_lowercase(),
                        |c| c.is_ascii_lowercase(),
                    ) && word(b, 32, lower_or_underscore, lower_or_underscore)
                })
            },
            "`<kind>.<verb>`, e.g. `action.run`",
        )?;
        check(
            "outcome",
            &self.outcome,
            |o| word(o, 32, lower_or_underscore, lower_or_underscore),
            "1 to 32 of a-z and `_`, e.g. `ok` or `denied`",
        )
    }

    /// The store filter, with the bounds the document states checked.
    pub fn filter(self) -> AppResult<AuditFilter> {
        self.check_text()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn query(f: impl FnOnce(&mut AuditQuery)) -> AppResult<AuditFilter> {
        let mut q: AuditQuery = serde_json::from_value(serde_json::json!({})).unwrap();
        f(&mut q);
        q.filter()
    }

    #[test]
    fn every_filter_is_held_to_its_documented_rule() {
        assert_eq!(query(|_| {}).unwrap().limit, DEFAULT_PAGE);
        let ok = query(|q| {
            q.user = Some("alice@example.com".into());
            q.instance = Some("jira-prod".into());
            q.action = Some("createIssue".into());
            q.operation = Some("action.run".into());
            q.outcome = Some("not_found".into());
        });
        assert!(ok.is_ok());
        type Set = fn(&mut AuditQuery);
        let bad: [(&str, Set); 9] = [
            ("user", |q| q.user = Some(String::new())),
            ("user", |q| q.user = Some("a b".into())),
            ("instance", |q| q.instance = Some("Jira".into())),
            ("action", |q| q.action = Some("1run".into())),
            ("operation", |q| q.operation = Some("action".into())),
            ("operation", |q| q.operation = Some("action.".into())),
            ("outcome", |q| q.outcome = Some("OK".into())),
            ("limit", |q| q.limit = Some(0)),
            ("since", |q| q.since = Some(-1)),
        ];
        for (field, set) in bad {
            let e = query(set).unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST, "{field}");
        }
    }
}
