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
    /// What happened, for control flow (retry, refresh); `code` is the wire name.
    pub kind: ErrorKind,
}

/// What went wrong, as the HTTP layers branch on it. The wire `code` strings stay the
/// stable contract; this enum keeps decisions off string comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorKind {
    /// No reply (head or body) within the per-attempt timeout.
    Timeout,
    /// The connection could not be made, or broke before the reply was complete.
    Connect,
    /// The caller cancelled the action.
    Cancelled,
    /// The reply body is larger than the response body limit.
    ResponseTooLarge,
    /// The provider asked to slow down (or wait longer than the retry policy allows).
    RateLimited,
    /// Anything else: not retried by the transport layers.
    #[default]
    Other,
}

impl ActionError {
    pub fn new(class: ErrorClass, code: &'static str, message: impl Into<String>) -> ActionError {
        ActionError {
            class,
            code,
            status: None,
            message: message.into(),
            kind: ErrorKind::Other,
        }
    }

    /// The same error with a kind for the HTTP layers to branch on.
    pub fn with_kind(mut self, kind: ErrorKind) -> ActionError {
        self.kind = kind;
        self
    }

    /// No reply within the per-attempt timeout (`timeout`, transient).
    pub fn timeout(message: impl Into<String>) -> ActionError {
        ActionError::transient("timeout", message).with_kind(ErrorKind::Timeout)
    }

    /// A connection that failed or broke (`connection_failed`, transient).
    pub fn connection_failed(message: impl Into<String>) -> ActionError {
        ActionError::transient("connection_failed", message).with_kind(ErrorKind::Connect)
    }

    /// A reply body over `limit` bytes (`response_too_large`, system).
    pub fn response_too_large(limit: u64) -> ActionError {
        ActionError::system(
            "response_too_large",
            format!(
                "the response body is larger than the limit of {limit} bytes; raise \
                 `maxResponseBytes` on the action or in `policies` if the reply is expected"
            ),
        )
        .with_kind(ErrorKind::ResponseTooLarge)
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
            .with_kind(ErrorKind::RateLimited)
    }

    pub fn cancelled() -> ActionError {
        ActionError::new(
            ErrorClass::Transient,
            "cancelled",
            "the action was cancelled",
        )
        .with_kind(ErrorKind::Cancelled)
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

/// The error for an action name the spec does not have.
pub fn unknown_action(spec: &connector_spec::ConnectorSpec, action: &str) -> ActionError {
    let names: Vec<&str> = spec.actions.keys().map(String::as_str).collect();
    ActionError::user(
        "unknown_action",
        format!(
            "{} has no action `{action}`; available: {}",
            spec.id,
            names.join(", ")
        ),
    )
}
