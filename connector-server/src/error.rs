//! API errors: `{ "error": { "code", "message" } }` with an HTTP status. Messages come from
//! typed errors that already name fields and ids, never secret values.

use axum::extract::path::ErrorKind;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use connector_runtime::ActionError;
use connector_runtime::error::ErrorClass;
use serde::Serialize;

/// What a handler returns.
pub type AppResult<T> = Result<T, ApiError>;

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

    /// A route exists for the path, not for the method; axum adds the `Allow` header.
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not accept that method",
        )
    }

    pub fn route_not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }

    pub fn uri_too_long(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is longer than {limit} bytes"),
        )
    }

    pub fn body_too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    /// The OAuth callback's status for a failed flow. The browser (or the provider) brought a
    /// bad request: unknown, expired or replayed state, a refusal, a code the provider would
    /// not exchange. All of that is 400, as documented; only a state that belongs to another
    /// user is 403, and the server's own or the provider's outages keep their 5xx.
    pub fn from_callback(e: ActionError) -> ApiError {
        let status = match (e.class, e.code) {
            (_, "state_user_mismatch") => StatusCode::FORBIDDEN,
            (ErrorClass::RateLimited, _) => StatusCode::TOO_MANY_REQUESTS,
            (ErrorClass::Transient, _) => StatusCode::BAD_GATEWAY,
            (ErrorClass::User | ErrorClass::Auth, _) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code, e.message)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        // The deserializer names the parameter and the rule; for the API's query types
        // (booleans and short strings) it does not repeat the value.
        ApiError::bad_request(
            "invalid_query",
            format!("the query string is not valid: {}", r.body_text()),
        )
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        match r {
            PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
                ErrorKind::InvalidUtf8InPathParam { key } => ApiError::bad_request(
                    "invalid_path",
                    format!("the path parameter `{key}` is not valid UTF-8"),
                ),
                _ => ApiError::bad_request("invalid_path", "a path parameter is not valid"),
            },
            // A route declared without the parameter its handler reads: our bug.
            _ => ApiError::internal("the route does not match its handler"),
        }
    }
}

impl From<ActionError> for ApiError {
    fn from(e: ActionError) -> ApiError {
        let status = match (e.class, e.code) {
            (_, "unknown_action") => StatusCode::NOT_FOUND,
            (_, "instance_not_found") => StatusCode::NOT_FOUND,
            (_, "instance_exists") => StatusCode::CONFLICT,
            (_, "user_not_found" | "key_not_found") => StatusCode::NOT_FOUND,
            (_, "user_exists" | "key_exists") => StatusCode::CONFLICT,
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
