//! Typed action errors, classified by what the caller can do about them.

pub use connector_spec::ErrorClass;

/// A failed action. `message` never contains a secret: every message built by the runtime is
/// passed through the instance's [`crate::Redactor`] before it leaves.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{class}{status}: {message}", class = self.class.as_str(), status = self.status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
pub struct ActionError {
    /// user / auth / rate_limited / transient / system.
    pub class: ErrorClass,
    /// A stable machine-readable code (`unknown_action`, `invalid_input`, `timeout`, ...).
    pub code: &'static str,
    /// The HTTP status, when the error came from a response.
    pub status: Option<u16>,
    pub message: String,
}

impl ActionError {
    pub fn new(class: ErrorClass, code: &'static str, message: impl Into<String>) -> ActionError {
        ActionError {
            class,
            code,
            status: None,
            message: message.into(),
        }
    }

    pub fn with_status(mut self, status: u16) -> ActionError {
        self.status = Some(status);
        self
    }

    pub fn user(code: &'static str, message: impl Into<String>) -> ActionError {
        ActionError::new(ErrorClass::User, code, message)
    }

    pub fn auth(code: &'static str, message: impl Into<String>) -> ActionError {
        ActionError::new(ErrorClass::Auth, code, message)
    }

    pub fn transient(code: &'static str, message: impl Into<String>) -> ActionError {
        ActionError::new(ErrorClass::Transient, code, message)
    }

    pub fn system(code: &'static str, message: impl Into<String>) -> ActionError {
        ActionError::new(ErrorClass::System, code, message)
    }

    pub fn rate_limited(message: impl Into<String>) -> ActionError {
        ActionError::new(ErrorClass::RateLimited, "rate_limited", message)
    }

    pub fn cancelled() -> ActionError {
        ActionError::new(
            ErrorClass::Transient,
            "cancelled",
            "the action was cancelled",
        )
    }
}

/// Default classification of an HTTP error status.
pub fn classify_status(status: u16) -> ErrorClass {
    match status {
        401 | 403 | 407 => ErrorClass::Auth,
        408 | 425 | 500 | 502 | 503 | 504 => ErrorClass::Transient,
        429 => ErrorClass::RateLimited,
        400..=499 => ErrorClass::User,
        _ => ErrorClass::System,
    }
}
