//! Request extractors whose every rejection is the API's JSON error (`ApiError`), never
//! axum's `text/plain` one: JSON bodies, query strings and path parameters.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::{self, HeaderMap};
use axum::http::{StatusCode, request::Parts};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// The message for an empty body where the type needs fields.
pub const EMPTY_BODY: &str = "the request body is empty; expected a JSON object";

/// A JSON object body under the size limit, deserialized into `T`; an empty body is refused
/// with [`EMPTY_BODY`].
///
/// The body is parsed to a [`Value`] first and anything but an object is refused: serde fills
/// a struct from an array by position, so `["id", ".type", "name"]` would otherwise pass for
/// an instance. Errors give the position or the field, never the text: a misplaced secret
/// could be in it.
pub struct ApiJson<T>(pub T);

/// The same, except that an empty body stands for `{}`: for the routes whose body is
/// optional (an action's input, the OAuth start options).
pub struct ApiJsonOrEmpty<T>(pub T);

/// The same, except that an empty body and JSON `null` both stand for `{}`: for admin routes
/// whose body is optional and documented as nullable.
pub struct ApiJsonOrNull<T>(pub T);

/// What stands for `{}`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Absent {
    Refused,
    Empty,
    EmptyOrNull,
}

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        json_object(req, state, Absent::Refused).await.map(ApiJson)
    }
}

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for ApiJsonOrNull<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        json_object(req, state, Absent::EmptyOrNull)
            .await
            .map(ApiJsonOrNull)
    }
}

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for ApiJsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        json_object(req, state, Absent::Empty)
            .await
            .map(ApiJsonOrEmpty)
    }
}

async fn json_object<T: DeserializeOwned>(
    req: Request,
    state: &Arc<AppState>,
    absent: Absent,
) -> Result<T, ApiError> {
    let json_type = is_json_content_type(req.headers());
    let bytes = Bytes::from_request(req, state)
        .await
        .map_err(|r| read_error(r, state.max_body_bytes))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        if absent == Absent::Refused {
            return Err(ApiError::bad_request("invalid_body", EMPTY_BODY));
        }
        return T::deserialize(Value::Object(Map::new())).map_err(|e| shape_error(&e));
    }
    if !json_type {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be JSON (`Content-Type: application/json`)",
        ));
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    if value.is_null() && absent == Absent::EmptyOrNull {
        return T::deserialize(Value::Object(Map::new())).map_err(|e| shape_error(&e));
    }
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("expected a JSON object, found {}", kind(&value)),
        ));
    }
    T::deserialize(value).map_err(|e| shape_error(&e))
}

/// `application/json` or any `application/*+json`, parameters (`charset`) allowed.
fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn read_error(r: BytesRejection, limit: usize) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::body_too_large(limit)
    } else {
        ApiError::bad_request("invalid_body", "the request body could not be read")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// serde's messages for missing and unknown fields name only fields; its type errors quote
/// the offending value, which is left out.
fn shape_error(e: &serde_json::Error) -> ApiError {
    let text = e.to_string();
    let message = if text.starts_with("missing field") || text.starts_with("unknown field") {
        format!("the JSON does not have the expected shape: {text}")
    } else {
        "the JSON does not have the expected shape: a field has the wrong type".to_string()
    };
    ApiError::bad_request("invalid_body", message)
}

/// A query string deserialized into `T`; errors are 400 `invalid_query`.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(ApiError::from)
    }
}

/// Path parameters deserialized into `T`; errors (invalid UTF-8 included) are 400
/// `invalid_path`.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| ApiPath(p))
            .map_err(ApiError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn json_content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json_content_type(&h));
        for (ct, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
        ] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            assert_eq!(is_json_content_type(&h), ok, "{ct}");
        }
    }

    #[test]
    fn type_errors_do_not_quote_the_value() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct T {
            n: u32,
        }
        let e = serde_json::from_value::<T>(serde_json::json!({"n": "SECRET-ish"})).unwrap_err();
        let a = shape_error(&e);
        assert!(!a.message.contains("SECRET"), "{}", a.message);
        let e = serde_json::from_value::<T>(serde_json::json!({})).unwrap_err();
        assert!(shape_error(&e).message.contains("missing field `n`"));
    }
}
