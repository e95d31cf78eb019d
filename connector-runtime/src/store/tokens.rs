//! Shared and per-user tokens: [`TokenStore`], its ids ([`TokenId`], [`UserTokenKey`]) and
//! records ([`TokenRecord`], [`TokenData`], [`TokenUpdate`]).
//!
//! A *shared* token belongs to a connector instance (one credential set for every caller); a
//! *per-user* token belongs to one `(user, connector, credential type)`. Every token has a
//! [`TokenId`] whose string form carries its scope as a prefix (`shared:` / `per-user:`). The
//! shared methods of [`TokenStore`] refuse per-user ids and the per-user methods refuse shared
//! ids with [`StoreError::WrongScope`], so a lookup can never cross scopes; the per-user
//! methods also take the calling user and refuse another user's token with
//! [`StoreError::NotOwner`].

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;

use super::error::StoreError;
use super::locks::RefreshLocks;
use super::scope::{PER_USER_PREFIX, SHARED_PREFIX, TokenScope};
use super::timestamp::Timestamp;

/// The credential type used when a connector has a single per-user credential.
pub const DEFAULT_CREDENTIAL_TYPE: &str = "oauth";

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
    /// When the last refresh of this token failed; `None` when it has not failed since the
    /// token was last written ([`TokenStore::record_refresh_failure`]).
    pub refresh_failed_at: Option<Timestamp>,
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

/// Shared and per-user tokens. Every method is atomic (one transaction) and
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

    /// Keep `account` (the spec's `auth.account` values: JSON scalars by name) with the
    /// token of `key`; a key without a token is left alone.
    async fn set_user_account(
        &self,
        key: &UserTokenKey,
        account: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), StoreError>;

    /// The account values kept with the token of `key`: `None` without a token, or for a
    /// token stored before the spec declared any.
    async fn get_user_account(
        &self,
        key: &UserTokenKey,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, StoreError>;

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

    /// Record that refreshing token `id` (either scope) failed at `now`. Does not change the
    /// version; the next successful write of the token clears it. A missing token is no error.
    async fn record_refresh_failure(&self, id: &TokenId, now: Timestamp) -> Result<(), StoreError>;

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

    /// The refresh locks that go with this store: they exclude across every process that
    /// shares it (one process for a SQLite file, every instance on a PostgreSQL database).
    fn refresh_locks(&self) -> Arc<dyn RefreshLocks>;
}
