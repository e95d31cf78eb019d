//! The token store: shared and per-user OAuth tokens, OAuth state records and connector
//! instances behind one async trait, [`TokenStore`], with secrets sealed at rest.
//!
//! # Scopes
//!
//! A *shared* token belongs to a connector instance (one credential set for every caller); a
//! *per-user* token belongs to one `(user, connector, credential type)`. Every token has a
//! [`TokenId`] whose string form carries its scope as a prefix (`shared:` / `per-user:`). The
//! shared methods of [`TokenStore`] refuse per-user ids and the per-user methods refuse shared
//! ids with [`StoreError::WrongScope`], so a lookup can never cross scopes; the per-user
//! methods also take the calling user and refuse another user's token with
//! [`StoreError::NotOwner`].
//!
//! # Secrets
//!
//! Access tokens, refresh tokens, PKCE verifiers and connector secrets are held in memory as
//! [`SecretString`] / [`Secrets`] (their `Debug` prints no value) and sealed on disk with an
//! AEAD cipher under the operator's [`Keyring`] (see [`crypto`]). Each ciphertext is bound to
//! its record (scope, user, connector, credential type, field) by associated data, so a
//! ciphertext copied onto another row fails to open with [`CryptoError::Open`].
//!
//! # Backends
//!
//! [`SqliteStore`] is the default (a file path, nothing to install). The trait is written so
//! that a Postgres backend can follow: every method is one transaction, and nothing relies
//! on SQLite specifics.

pub mod crypto;
pub mod sqlite;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use connector_spec::{AuthMode, AuthTypeId};
pub use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

pub use crypto::{CryptoError, Keyring};
pub use sqlite::SqliteStore;

use crate::error::ActionError;
use crate::secrets::Secrets;

/// Prefix of a shared token id.
pub const SHARED_PREFIX: &str = "shared:";
/// Prefix of a per-user token id.
pub const PER_USER_PREFIX: &str = "per-user:";
/// The credential type used when a connector has a single per-user credential.
pub const DEFAULT_CREDENTIAL_TYPE: &str = "oauth";
/// How long an OAuth state record lives: 10 minutes.
pub const STATE_TTL: Duration = Duration::from_secs(10 * 60);
/// Per-user tokens unused for this long are deleted by [`TokenStore::cleanup`]: 90 days.
pub const DEFAULT_UNUSED_TOKEN_TTL: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// A point in time: milliseconds since the Unix epoch (UTC). Stored as an integer, so a
/// value round-trips through the store exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current wall-clock time, truncated to milliseconds.
    pub fn now() -> Timestamp {
        Timestamp::from_system_time(SystemTime::now())
    }

    pub fn from_system_time(t: SystemTime) -> Timestamp {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            Err(e) => Timestamp(-i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX)),
        }
    }

    pub fn from_unix_seconds(secs: i64) -> Timestamp {
        Timestamp(secs.saturating_mul(1000))
    }

    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// This time plus `d` (saturating).
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// This time minus `d` (saturating).
    pub fn minus(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }
}

/// Whether a token belongs to a connector (shared) or to one user of it (per-user).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenScope {
    Shared,
    PerUser,
}

impl TokenScope {
    /// `shared` / `per-user`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Shared => "shared",
            TokenScope::PerUser => "per-user",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            TokenScope::Shared => SHARED_PREFIX,
            TokenScope::PerUser => PER_USER_PREFIX,
        }
    }
}

impl fmt::Display for TokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token id: `shared:<key>` or `per-user:<key>`, where `<key>` is 32 lowercase hex digits
/// chosen by the store. Ids are not secrets; they are safe to log and to return from an API.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenId {
    scope: TokenScope,
    key: String,
}

impl TokenId {
    /// A fresh random id in `scope`.
    pub fn generate(scope: TokenScope) -> TokenId {
        let bytes: [u8; 16] = rand::random();
        TokenId {
            scope,
            key: bytes.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    pub fn scope(&self) -> TokenScope {
        self.scope
    }

    /// The part after the prefix.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Refuse this id unless it has scope `expected`.
    pub fn expect_scope(&self, expected: TokenScope) -> Result<(), StoreError> {
        if self.scope == expected {
            Ok(())
        } else {
            Err(StoreError::WrongScope {
                id: self.to_string(),
                expected,
                found: self.scope,
            })
        }
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.scope.prefix(), self.key)
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({self})")
    }
}

impl FromStr for TokenId {
    type Err = StoreError;

    /// Parse `shared:<key>` / `per-user:<key>`. The error never echoes the input (a caller
    /// may have passed a token where an id belongs).
    fn from_str(s: &str) -> Result<TokenId, StoreError> {
        let (scope, key) = if let Some(k) = s.strip_prefix(SHARED_PREFIX) {
            (TokenScope::Shared, k)
        } else if let Some(k) = s.strip_prefix(PER_USER_PREFIX) {
            (TokenScope::PerUser, k)
        } else {
            return Err(StoreError::InvalidTokenId {
                reason: "a token id starts with `shared:` or `per-user:`",
            });
        };
        if key.is_empty() || key.len() > 64 {
            return Err(StoreError::InvalidTokenId {
                reason: "the part after the scope prefix must be 1 to 64 characters",
            });
        }
        if !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(StoreError::InvalidTokenId {
                reason: "the part after the scope prefix may hold only ASCII letters, digits, `-` and `_`",
            });
        }
        Ok(TokenId {
            scope,
            key: key.to_string(),
        })
    }
}

/// The key of a per-user token: one token set per `(user, connector, credential type)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserTokenKey {
    pub user_id: String,
    /// The connector instance id.
    pub connector_id: String,
    /// Which credential of the connector (`oauth` unless a connector holds several).
    pub credential_type: String,
}

impl UserTokenKey {
    /// The key of `user_id`'s token for `connector_id`, credential type `oauth`.
    pub fn oauth(user_id: impl Into<String>, connector_id: impl Into<String>) -> UserTokenKey {
        UserTokenKey {
            user_id: user_id.into(),
            connector_id: connector_id.into(),
            credential_type: DEFAULT_CREDENTIAL_TYPE.to_string(),
        }
    }
}

/// A stored token set, opened. `Debug` shows no token value.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: TokenId,
    /// The connector instance id.
    pub connector_id: String,
    /// The owner of a per-user token; `None` for a shared token.
    pub user_id: Option<String>,
    /// `oauth` unless the connector holds several per-user credentials.
    pub credential_type: String,
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    /// As the provider sent it, usually `Bearer`.
    pub token_type: String,
    /// The granted scope, as the provider sent it.
    pub scope: Option<String>,
    /// When the access token expires; `None` when the provider gave no lifetime.
    pub expires_at: Option<Timestamp>,
    /// When the refresh token expires, when the provider says.
    pub refresh_token_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Last time a per-user token was used ([`TokenStore::touch_user_token`]).
    pub last_used_at: Option<Timestamp>,
    /// Set by `revoke_*` when the provider answered `invalid_grant`: the user (or operator)
    /// must authorize again. A `put_*` clears it.
    pub revoked: bool,
    /// Generation counter: 1 on creation, +1 on every write. A refresher reads it, takes its
    /// lock, re-reads, and passes the version it saw to `update_*` so a concurrent write is
    /// detected ([`StoreError::VersionConflict`]) instead of overwritten.
    pub version: u64,
}

impl TokenRecord {
    pub fn scope(&self) -> TokenScope {
        self.id.scope()
    }

    /// True when the access token expires before `now + margin`.
    pub fn expires_within(&self, now: Timestamp, margin: Duration) -> bool {
        self.expires_at.is_some_and(|e| e <= now.plus(margin))
    }
}

/// A token set to store (create, or replace after a new authorization).
#[derive(Debug, Clone)]
pub struct TokenData {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub token_type: String,
    pub scope: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub refresh_token_expires_at: Option<Timestamp>,
}

impl TokenData {
    /// A bearer token with no refresh token, scope or expiry.
    pub fn bearer(access_token: impl Into<String>) -> TokenData {
        TokenData {
            access_token: SecretString::from(access_token.into()),
            refresh_token: None,
            token_type: "Bearer".to_string(),
            scope: None,
            expires_at: None,
            refresh_token_expires_at: None,
        }
    }
}

/// The result of a refresh, applied to an existing token by `update_*_token`.
#[derive(Debug, Clone)]
pub struct TokenUpdate {
    pub access_token: SecretString,
    /// `None` keeps the stored refresh token (and its expiry): providers that do not rotate
    /// refresh tokens send none.
    pub refresh_token: Option<SecretString>,
    /// Expiry of the new refresh token; ignored when `refresh_token` is `None`.
    pub refresh_token_expires_at: Option<Timestamp>,
    /// `None` keeps the stored token type.
    pub token_type: Option<String>,
    /// `None` keeps the stored scope.
    pub scope: Option<String>,
    /// Replaces the stored expiry (`None`: the new token has no known lifetime).
    pub expires_at: Option<Timestamp>,
}

/// A new OAuth authorization-code state record: what the callback needs to finish the flow.
#[derive(Debug, Clone)]
pub struct NewOAuthState {
    /// The connector instance id.
    pub connector_id: String,
    pub user_id: String,
    /// Credential type the tokens will be stored under.
    pub credential_type: String,
    pub tenant: Option<String>,
    /// Where to send the user after the callback.
    pub return_url: Option<String>,
    /// The PKCE code verifier (sealed at rest).
    pub pkce_verifier: SecretString,
    /// Non-secret flow data the callback needs (redirect URI, requested scope, ...).
    pub metadata: Value,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl NewOAuthState {
    /// A state created `now`, expiring after [`STATE_TTL`], credential type `oauth`.
    pub fn new(
        connector_id: impl Into<String>,
        user_id: impl Into<String>,
        pkce_verifier: SecretString,
        now: Timestamp,
    ) -> NewOAuthState {
        NewOAuthState {
            connector_id: connector_id.into(),
            user_id: user_id.into(),
            credential_type: DEFAULT_CREDENTIAL_TYPE.to_string(),
            tenant: None,
            return_url: None,
            pkce_verifier,
            metadata: Value::Null,
            created_at: now,
            expires_at: now.plus(STATE_TTL),
        }
    }
}

/// A stored OAuth state record. `state` is 32 random bytes, base64url without padding (43
/// characters), generated by the store; it goes into the authorization URL.
#[derive(Debug, Clone)]
pub struct OAuthStateRecord {
    pub state: String,
    pub connector_id: String,
    pub user_id: String,
    pub credential_type: String,
    pub tenant: Option<String>,
    pub return_url: Option<String>,
    pub pkce_verifier: SecretString,
    pub metadata: Value,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// When the callback consumed it; a consumed state cannot be consumed again.
    pub consumed_at: Option<Timestamp>,
}

/// A connector instance to create. `auth_mode` is derived from `auth_type`.
#[derive(Debug, Clone)]
pub struct NewConnectorInstance {
    /// The instance id; `None` lets the store choose one (32 hex digits).
    pub id: Option<String>,
    /// The connector type (spec id), e.g. `slack_api`.
    pub connector_type: String,
    /// Human name.
    pub name: String,
    pub auth_type: AuthTypeId,
    /// Non-secret configuration (JSON object).
    pub config: Value,
    /// Secret configuration (sealed at rest).
    pub secrets: Secrets,
}

/// A stored connector instance. `Debug` shows secret names, never values.
#[derive(Debug, Clone)]
pub struct ConnectorInstanceRecord {
    pub id: String,
    pub connector_type: String,
    pub name: String,
    pub auth_type: AuthTypeId,
    /// Derived from `auth_type` and recorded: `per_user` for oauth_authorization_code and
    /// ears, `shared` otherwise.
    pub auth_mode: AuthMode,
    pub config: Value,
    pub secrets: Secrets,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Changes to a connector instance; `None` keeps a field. Changing `auth_type` re-derives
/// `auth_mode`.
#[derive(Debug, Clone, Default)]
pub struct InstanceUpdate {
    pub name: Option<String>,
    pub auth_type: Option<AuthTypeId>,
    pub config: Option<Value>,
    pub secrets: Option<Secrets>,
}

/// What [`TokenStore::cleanup`] deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// Per-user tokens whose last use (or last write, if never used) is older than this are
    /// deleted. Shared tokens are never deleted by cleanup.
    pub unused_token_ttl: Duration,
}

impl Default for CleanupPolicy {
    fn default() -> CleanupPolicy {
        CleanupPolicy {
            unused_token_ttl: DEFAULT_UNUSED_TOKEN_TTL,
        }
    }
}

/// What a cleanup deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CleanupReport {
    /// OAuth states past their expiry (consumed or not).
    pub states_deleted: u64,
    /// Per-user tokens unused for longer than the policy allows.
    pub tokens_deleted: u64,
}

/// What a key rotation re-sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RotationReport {
    /// Token records re-sealed (shared and per-user).
    pub tokens: u64,
    /// OAuth states re-sealed.
    pub states: u64,
    /// Connector instances re-sealed.
    pub instances: u64,
    /// Sealed values (fields) re-encrypted in all.
    pub values: u64,
}

/// Token store failures. Messages name ids, users and connectors but never a token, secret
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
            StoreError::InvalidInput { .. } => "invalid_input",
            StoreError::Crypto(CryptoError::Open { .. }) => "decrypt_failed",
            StoreError::Crypto(_) => "key_error",
            StoreError::Database(_) => "store_unavailable",
            StoreError::Migration { .. } | StoreError::SchemaTooNew { .. } => "store_migration",
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
            | StoreError::Corrupt { .. } => ActionError::system(code, message),
        }
    }
}

/// The storage behind per-user authentication. Every method is atomic (one transaction) and
/// durable when it returns: a token written after a refresh is committed before `Ok`.
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug {
    // ---- shared tokens (keyed by connector) ----

    /// The shared token of `connector_id`, if any.
    async fn get_shared_token(&self, connector_id: &str)
    -> Result<Option<TokenRecord>, StoreError>;

    /// A shared token by id. A per-user id is refused with [`StoreError::WrongScope`].
    async fn get_shared_token_by_id(&self, id: &TokenId)
    -> Result<Option<TokenRecord>, StoreError>;

    /// Store `connector_id`'s shared token, replacing any (the id is kept, the version
    /// increases, `revoked` is cleared).
    async fn put_shared_token(
        &self,
        connector_id: &str,
        data: TokenData,
    ) -> Result<TokenRecord, StoreError>;

    /// Apply a refresh to a shared token. With `expected_version`, the write happens only if
    /// the stored version still equals it ([`StoreError::VersionConflict`] otherwise).
    async fn update_shared_token(
        &self,
        id: &TokenId,
        expected_version: Option<u64>,
        update: TokenUpdate,
    ) -> Result<TokenRecord, StoreError>;

    /// Mark a shared token revoked (`invalid_grant`).
    async fn revoke_shared_token(&self, id: &TokenId) -> Result<(), StoreError>;

    /// Delete a shared token; `false` when there was none.
    async fn delete_shared_token(&self, id: &TokenId) -> Result<bool, StoreError>;

    // ---- per-user tokens (keyed by user, connector, credential type) ----

    /// `key.user_id`'s token for a connector and credential type, if any.
    async fn get_user_token(&self, key: &UserTokenKey) -> Result<Option<TokenRecord>, StoreError>;

    /// A per-user token by id, for `user_id` only: a shared id is refused with
    /// [`StoreError::WrongScope`], another user's token with [`StoreError::NotOwner`].
    async fn get_user_token_by_id(
        &self,
        user_id: &str,
        id: &TokenId,
    ) -> Result<Option<TokenRecord>, StoreError>;

    /// Store a user's token set, replacing any for the same key (id kept, version increased,
    /// `revoked` cleared).
    async fn put_user_token(
        &self,
        key: &UserTokenKey,
        data: TokenData,
    ) -> Result<TokenRecord, StoreError>;

    /// Apply a refresh to `user_id`'s token (see [`TokenStore::update_shared_token`]).
    async fn update_user_token(
        &self,
        user_id: &str,
        id: &TokenId,
        expected_version: Option<u64>,
        update: TokenUpdate,
    ) -> Result<TokenRecord, StoreError>;

    /// Mark `user_id`'s token revoked (`invalid_grant`).
    async fn revoke_user_token(&self, user_id: &str, id: &TokenId) -> Result<(), StoreError>;

    /// Record that `user_id`'s token was used at `now` (drives the unused-token cleanup).
    /// Does not change the version.
    async fn touch_user_token(
        &self,
        user_id: &str,
        id: &TokenId,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Delete one of `user_id`'s tokens; `false` when there was none.
    async fn delete_user_token(&self, user_id: &str, id: &TokenId) -> Result<bool, StoreError>;

    /// Disconnect: delete every token `user_id` holds for `connector_id` (all credential
    /// types). Returns how many were deleted; a repeat call returns 0.
    async fn delete_user_tokens(
        &self,
        user_id: &str,
        connector_id: &str,
    ) -> Result<u64, StoreError>;

    /// Every token `user_id` holds, ordered by connector and credential type.
    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<TokenRecord>, StoreError>;

    // ---- OAuth states ----

    /// Store a new state record; the store generates the state value (32 random bytes,
    /// base64url).
    async fn insert_state(&self, state: NewOAuthState) -> Result<OAuthStateRecord, StoreError>;

    /// Consume a state in the callback, atomically: it must exist
    /// ([`StoreError::StateNotFound`]), belong to `user_id` ([`StoreError::StateUserMismatch`]),
    /// be unused ([`StoreError::StateAlreadyUsed`]) and unexpired at `now`
    /// ([`StoreError::StateExpired`]). Of two concurrent calls, exactly one succeeds. A
    /// refused call changes nothing. The consumed record keeps existing (so a replay is
    /// reported as such) until deleted or cleaned up; its sealed verifier is erased.
    async fn consume_state(
        &self,
        state: &str,
        user_id: &str,
        now: Timestamp,
    ) -> Result<OAuthStateRecord, StoreError>;

    /// Cancel (delete) a state; only its owner may ([`StoreError::StateUserMismatch`]).
    /// `Ok(false)` when it does not exist, so a repeat call is harmless.
    async fn delete_state(&self, state: &str, user_id: &str) -> Result<bool, StoreError>;

    // ---- connector instances ----

    async fn create_instance(
        &self,
        new: NewConnectorInstance,
    ) -> Result<ConnectorInstanceRecord, StoreError>;

    async fn get_instance(&self, id: &str) -> Result<Option<ConnectorInstanceRecord>, StoreError>;

    /// Every instance, ordered by id.
    async fn list_instances(&self) -> Result<Vec<ConnectorInstanceRecord>, StoreError>;

    async fn update_instance(
        &self,
        id: &str,
        update: InstanceUpdate,
    ) -> Result<ConnectorInstanceRecord, StoreError>;

    /// Delete an instance with its tokens (shared and per-user) and pending states; `false`
    /// when there was none.
    async fn delete_instance(&self, id: &str) -> Result<bool, StoreError>;

    // ---- maintenance ----

    /// Delete states expired at `now` and per-user tokens unused since
    /// `now - policy.unused_token_ttl`.
    async fn cleanup(
        &self,
        now: Timestamp,
        policy: &CleanupPolicy,
    ) -> Result<CleanupReport, StoreError>;

    /// Re-seal every sealed value under the keyring's active key, in one transaction: either
    /// every value moves or none does. Values already under the active key are re-sealed
    /// too (fresh nonces). Afterwards the old keys can be removed from the configuration.
    async fn rotate_keys(&self) -> Result<RotationReport, StoreError>;
}

/// Environment variable naming the store file (overridden by a `--store` option).
pub const STORE_ENV: &str = "CONNECTOR_STORE";
/// Environment variable naming the folder that holds `connector.db`.
pub const HOME_ENV: &str = "CONNECTOR_HOME";
/// The store's file name inside its folder.
pub const STORE_FILE: &str = "connector.db";

/// Where the local store lives when no path is given, first match wins:
/// `$CONNECTOR_STORE`; `$CONNECTOR_HOME/connector.db`; `$XDG_DATA_HOME/connector/connector.db`;
/// `$HOME/.local/share/connector/connector.db` (`%APPDATA%\connector\connector.db` on
/// Windows). Empty variables count as unset.
pub fn default_store_path() -> Result<std::path::PathBuf, StoreError> {
    use std::path::PathBuf;
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(p) = var(STORE_ENV) {
        return Ok(PathBuf::from(p));
    }
    if let Some(home) = var(HOME_ENV) {
        return Ok(PathBuf::from(home).join(STORE_FILE));
    }
    if let Some(data) = var("XDG_DATA_HOME") {
        return Ok(PathBuf::from(data).join("connector").join(STORE_FILE));
    }
    if cfg!(windows)
        && let Some(app) = var("APPDATA")
    {
        return Ok(PathBuf::from(app).join("connector").join(STORE_FILE));
    }
    if let Some(home) = var("HOME") {
        return Ok(PathBuf::from(home)
            .join(".local")
            .join("share")
            .join("connector")
            .join(STORE_FILE));
    }
    Err(StoreError::InvalidInput {
        field: "store path",
        reason: format!(
            "no default location: set {STORE_ENV}, {HOME_ENV} or HOME, or pass --store"
        ),
    })
}

/// Run [`TokenStore::cleanup`] every `every` until `cancel` fires. Failures are logged
/// (without secrets) and the next round runs as usual.
pub fn spawn_cleanup(
    store: Arc<dyn TokenStore>,
    every: Duration,
    policy: CleanupPolicy,
    cancel: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {
                    match store.cleanup(Timestamp::now(), &policy).await {
                        Ok(r) => tracing::debug!(
                            states = r.states_deleted,
                            tokens = r.tokens_deleted,
                            "token store cleanup"
                        ),
                        Err(e) => tracing::warn!(error = %e, "token store cleanup failed"),
                    }
                }
            }
        }
    })
}
