//! `GET /api/instances/{id}/connection`: the calling user's connection to a per-user
//! instance — connected or not, since when, valid until when, the granted scopes and whether
//! the last refresh failed. Never a token.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use connector_runtime::store::{Timestamp, UserTokenKey};
use connector_spec::AuthMode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::Caller;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;

/// The caller's connection. Times are milliseconds since the Unix epoch.
#[derive(Serialize, ToSchema, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView {
    /// `false`: the instance uses shared credentials; there is no account to connect, and
    /// no other field is set.
    pub per_user: bool,
    /// Whether the caller has a usable token (stored and not revoked by the provider).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected: Option<bool>,
    /// When the caller connected (the token was first stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// When the access token expires (it is refreshed before then where the provider gave
    /// a refresh token). Absent: the provider gave no lifetime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<i64>,
    /// The scopes the provider granted, as it listed them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// The provider refused the refresh token (`invalid_grant`): connect again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<bool>,
    /// Whether the last refresh failed, and when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_failed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_failed_at: Option<i64>,
}

/// The caller's connection to an instance; never a token.
#[utoipa::path(get, path = "/api/instances/{id}/connection", operation_id = "instance_connection", security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The instance id", min_length = 1, max_length = 64, pattern = r"^[a-z0-9_-]{1,64}$")),
    responses((status = 200, description = "The caller's connection", body = ConnectionView), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 404, response = crate::openapi::NotFound), (status = 503, response = crate::openapi::ServiceUnavailable)))]
pub async fn instance_connection(
    State(s): State<Arc<AppState>>,
    Caller(user): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    let live = s.live_for(&id, &user).await?;
    let mut view = ConnectionView {
        per_user: live.record.auth_mode == AuthMode::PerUser,
        connected: None,
        since: None,
        valid_until: None,
        scopes: None,
        revoked: None,
        refresh_failed: None,
        refresh_failed_at: None,
    };
    if !view.per_user {
        return Ok(Json(view));
    }
    let token = s
        .stores
        .tokens
        .get_user_token(&UserTokenKey::oauth(user.id.as_str(), id.as_str()))
        .await?;
    let Some(t) = token else {
        view.connected = Some(false);
        return Ok(Json(view));
    };
    view.connected = Some(!t.revoked);
    view.since = Some(t.created_at.as_millis());
    view.valid_until = t.expires_at.map(Timestamp::as_millis);
    view.scopes = Some(
        t.scope
            .as_deref()
            .unwrap_or("")
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    );
    view.revoked = Some(t.revoked);
    view.refresh_failed = Some(t.refresh_failed_at.is_some());
    view.refresh_failed_at = t.refresh_failed_at.map(Timestamp::as_millis);
    Ok(Json(view))
}
