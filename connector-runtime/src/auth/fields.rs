//! Reading an auth type's config and secrets, and turning credentials into header values.

use connector_spec::AuthTypeId;
use reqwest::header::HeaderValue;
use serde_json::{Map, Value};

use crate::error::ActionError;
use crate::secrets::Secrets;

/// A sensitive header value (never printed by `Debug`); `what` names it in the error.
pub(crate) fn header_value(value: &str, what: &str) -> Result<HeaderValue, ActionError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        ActionError::user(
            "invalid_credentials",
            format!("{what} contains characters not allowed in an HTTP header"),
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// A secret the auth type cannot work without.
pub(crate) fn required_secret<'a>(
    secrets: &'a Secrets,
    key: &str,
    auth: AuthTypeId,
) -> Result<&'a str, ActionError> {
    secrets.get_str(key).ok_or_else(|| {
        ActionError::user(
            "missing_secret",
            format!("auth type `{auth}` needs the secret `{key}`"),
        )
    })
}

/// A non-empty string config field.
pub(crate) fn config_str<'a>(config: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    config
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A config field the auth type cannot work without.
pub(crate) fn required_config<'a>(
    config: &'a Map<String, Value>,
    key: &str,
    auth: AuthTypeId,
) -> Result<&'a str, ActionError> {
    config_str(config, key).ok_or_else(|| {
        ActionError::user(
            "invalid_config",
            format!("auth type `{auth}` needs `{key}`"),
        )
    })
}
