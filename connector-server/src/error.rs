//! API errors: `{ "error": { "code", "message" } }` with an HTTP status. Messages come from
//! typed errors that already name fields and ids, never secret values.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use connector_runtime::ActionError;
use connector_runtime::error::ErrorClass;
use serde::Serialize;

/// An error answer of the API.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code, e.g. `invalid_config`.
    pub code: String,
    /// What went wrong, for a person. Never contains a secret.
    pub message: String,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 401 with nothing else to learn: no hint whether the key exists, was malformed or missing.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{what}_not_found"),
            format!("no {what} with id `{id}`"),
        )
    }

    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<ActionError> for ApiError {
    fn from(e: ActionError) -> ApiError {
        let status = match (e.class, e.code) {
            (_, "unknown_action") => StatusCode::NOT_FOUND,
            (_, "instance_not_found") => StatusCode::NOT_FOUND,
            (_, "instance_exists") => StatusCode::CONFLICT,
            (_, "state_user_mismatch") => StatusCode::FORBIDDEN,
            (ErrorClass::User, _) => StatusCode::BAD_REQUEST,
            // The upstream credential is missing or refused: the caller's API key is fine,
            // so this is not a 401 of ours.
            (ErrorClass::Auth, _) => StatusCode::FORBIDDEN,
            (ErrorClass::RateLimited, _) => StatusCode::TOO_MANY_REQUESTS,
            (ErrorClass::Transient, _) => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code, e.message)
    }
}

impl From<connector_runtime::store::StoreError> for ApiError {
    fn from(e: connector_runtime::store::StoreError) -> ApiError {
        ActionError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}
