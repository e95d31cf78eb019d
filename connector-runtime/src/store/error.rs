//! [`StoreError`]: every store failure, with a stable code and its [`ActionError`] class.

use super::crypto::CryptoError;
use super::scope::TokenScope;
use crate::error::ActionError;

/// Store failures. Messages name ids, users and connectors but never a token, secret
/// or verifier value.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid token id: {reason}")]
    InvalidTokenId { reason: &'static str },
    #[error("token id `{id}` is a {found} id; this operation accepts {expected} ids only")]
    WrongScope {
        id: String,
        expected: TokenScope,
        found: TokenScope,
    },
    #[error("no token with id `{id}`")]
    TokenNotFound { id: String },
    #[error("token `{id}` belongs to another user")]
    NotOwner { id: String },
    #[error(
        "token `{id}` changed concurrently (expected version {expected}, found {actual}); re-read it"
    )]
    VersionConflict {
        id: String,
        expected: u64,
        actual: u64,
    },
    #[error("unknown OAuth state: start the authorization again")]
    StateNotFound,
    #[error("the OAuth state expired: start the authorization again")]
    StateExpired,
    #[error("the OAuth state was already used: start the authorization again")]
    StateAlreadyUsed,
    #[error("the OAuth state belongs to another user")]
    StateUserMismatch,
    #[error("no connector instance with id `{id}`")]
    InstanceNotFound { id: String },
    #[error("a connector instance with id `{id}` already exists")]
    InstanceExists { id: String },
    #[error("a user named `{name}` already exists")]
    UserExists { name: String },
    #[error("no user named `{name}`")]
    UserNotFound { name: String },
    #[error("user `{user}` has no key named `{key}`")]
    KeyNotFound { user: String, key: String },
    #[error("user `{user}` already has a key named `{key}`")]
    KeyExists { user: String, key: String },
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("token store: {0}")]
    Database(String),
    #[error("token store migration {version} failed: {message}")]
    Migration { version: i64, message: String },
    #[error(
        "the token store at schema version {found} is newer than this program (knows up to {known})"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error(
        "this database's values are sealed under key `{key_id}`, which this instance's keyring \
         does not hold or holds with different bytes; every instance must use the same \
         CONNECTOR_KEY / CONNECTOR_KEY_FILE"
    )]
    KeyMismatch { key_id: String },
    #[error("corrupt token store row ({what})")]
    Corrupt { what: String },
}

impl StoreError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::InvalidTokenId { .. } => "invalid_token_id",
            StoreError::WrongScope { .. } => "token_scope_mismatch",
            StoreError::TokenNotFound { .. } => "token_not_found",
            StoreError::NotOwner { .. } => "token_not_owned",
            StoreError::VersionConflict { .. } => "token_version_conflict",
            StoreError::StateNotFound => "state_not_found",
            StoreError::StateExpired => "state_expired",
            StoreError::StateAlreadyUsed => "state_already_used",
            StoreError::StateUserMismatch => "state_user_mismatch",
            StoreError::InstanceNotFound { .. } => "instance_not_found",
            StoreError::InstanceExists { .. } => "instance_exists",
            StoreError::UserExists { .. } => "user_exists",
            StoreError::UserNotFound { .. } => "user_not_found",
            StoreError::KeyNotFound { .. } => "key_not_found",
            StoreError::KeyExists { .. } => "key_exists",
            StoreError::InvalidInput { .. } => "invalid_input",
            StoreError::Crypto(CryptoError::Open { .. }) => "decrypt_failed",
            StoreError::Crypto(_) => "key_error",
            StoreError::Database(_) => "store_unavailable",
            StoreError::Migration { .. } | StoreError::SchemaTooNew { .. } => "store_migration",
            StoreError::KeyMismatch { .. } => "key_mismatch",
            StoreError::Corrupt { .. } => "store_corrupt",
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        // sqlx messages carry SQL text and driver errors, never bound parameter values.
        StoreError::Database(e.to_string())
    }
}

impl From<StoreError> for ActionError {
    fn from(e: StoreError) -> ActionError {
        let code = e.code();
        let message = e.to_string();
        match e {
            StoreError::InvalidTokenId { .. }
            | StoreError::WrongScope { .. }
            | StoreError::InvalidInput { .. }
            | StoreError::InstanceExists { .. }
            | StoreError::UserExists { .. }
            | StoreError::UserNotFound { .. }
            | StoreError::KeyNotFound { .. }
            | StoreError::KeyExists { .. }
            | StoreError::InstanceNotFound { .. }
            | StoreError::StateNotFound
            | StoreError::StateExpired
            | StoreError::StateAlreadyUsed => ActionError::user(code, message),
            StoreError::TokenNotFound { .. }
            | StoreError::NotOwner { .. }
            | StoreError::StateUserMismatch => ActionError::auth(code, message),
            StoreError::VersionConflict { .. } | StoreError::Database(_) => {
                ActionError::transient(code, message)
            }
            StoreError::Crypto(_)
            | StoreError::Migration { .. }
            | StoreError::SchemaTooNew { .. }
            | StoreError::KeyMismatch { .. }
            | StoreError::Corrupt { .. } => ActionError::system(code, message),
        }
    }
}
