//! The stores: what the runtime and the server remember, one trait per kind of record, with
//! secrets sealed at rest.
//!
//! | Trait | Holds | Records |
//! | --- | --- | --- |
//! | [`TokenStore`] | shared and per-user OAuth tokens | [`TokenRecord`], [`TokenData`], [`TokenUpdate`] |
//! | [`OAuthStateStore`] | pending authorization-code states | [`NewOAuthState`], [`OAuthStateRecord`] |
//! | [`InstanceStore`] | connector instances (config, sealed secrets) | [`NewConnectorInstance`], [`ConnectorInstanceRecord`], [`InstanceUpdate`] |
//! | [`UserStore`] | server users, their named API keys (hashes only) | [`User`], [`ApiKey`], [`KeyInfo`] |
//! | [`AuditStore`] | the audit trail: one event per operation, no values | [`AuditEvent`], [`AuditFilter`], [`AuditPage`] |
//! | [`RefreshLocks`] | single-flight refresh locks (per process, or across processes) | [`RefreshLockKey`], [`RefreshGuard`] |
//! | [`RateLimits`] | fixed-window request counters per user (OAuth routes) | [`RateLimit`], [`RateDecision`] |
//! | [`Maintenance`] | upkeep across them: cleanup, key rotation, key usage | [`CleanupPolicy`], [`CleanupReport`], [`RotationReport`] |
//!
//! [`Stores`] bundles one handle of each so call sites pass one value.
//!
//! # Secrets
//!
//! Access tokens, refresh tokens, PKCE verifiers and connector secrets are held in memory as
//! [`SecretString`] / [`Secrets`](crate::Secrets) (their `Debug` prints no value) and sealed on
//! disk with an AEAD cipher under the operator's [`Keyring`] (see [`crypto`]). Each ciphertext
//! is bound to its record (scope, user, connector, credential type, field) by associated data,
//! so a ciphertext copied onto another row fails to open with [`CryptoError::Open`]. API keys
//! are never stored, only their SHA-256.
//!
//! # Backends
//!
//! | Backend | For | Refresh locks, rate limits |
//! | --- | --- | --- |
//! | [`SqliteStore`] (default) | one process: a file path, nothing to install | in process |
//! | [`PgStore`] | any number of instances on one PostgreSQL database | across processes (advisory locks, `rate_windows`) |
//!
//! Both implement every trait (`stores()` gives the bundle) with one SQL implementation per
//! store (`store/sql/`, private): every method is one transaction, and what differs between
//! the dialects is a parameter. See [`sqlite`] and [`postgres`] for their schemas.

mod audit;
pub mod crypto;
mod database;
mod error;
mod instances;
mod location;
mod locks;
mod maintenance;
pub mod postgres;
mod rate_limits;
mod scope;
mod sql;
pub mod sqlite;
mod states;
mod stores;
mod timestamp;
mod tokens;
mod users;

pub use secrecy::{ExposeSecret, SecretString};

pub use audit::{
    AuditEvent, AuditFilter, AuditPage, AuditStore, DEFAULT_AUDIT_RETENTION_DAYS, MAX_FIELD_CHARS,
    MAX_PAGE,
};
pub use crypto::{CryptoError, Keyring};
pub use database::{DATABASE_URL_ENV, Database, OpenStore, UserDb, redacted_url};
pub use error::StoreError;
pub use instances::{ConnectorInstanceRecord, InstanceStore, InstanceUpdate, NewConnectorInstance};
pub use location::{HOME_ENV, STORE_ENV, STORE_FILE, default_store_path};
pub use locks::{LocalRefreshLocks, RefreshGuard, RefreshLockKey, RefreshLocks};
pub use maintenance::{
    CleanupPolicy, CleanupReport, DEFAULT_UNUSED_TOKEN_TTL, Maintenance, RotationReport,
    spawn_cleanup,
};
pub use postgres::{PgAuditStore, PgRateLimits, PgRefreshLocks, PgStore, PgUserStore};
pub use rate_limits::{
    LocalRateLimits, RateDecision, RateLimit, RateLimits, decide as rate_decision,
};
pub use scope::{PER_USER_PREFIX, SHARED_PREFIX, TokenScope};
pub use sqlite::{SqliteAuditStore, SqliteStore, SqliteUserStore};
pub use states::{NewOAuthState, OAuthStateRecord, OAuthStateStore, PendingState, STATE_TTL};
pub use stores::Stores;
pub use timestamp::Timestamp;
pub use tokens::{
    DEFAULT_CREDENTIAL_TYPE, TokenData, TokenId, TokenRecord, TokenStore, TokenUpdate, UserTokenKey,
};
pub use users::{
    ApiKey, Authenticated, DEFAULT_KEY_NAME, KEY_LIFETIME_PATTERN, KEY_PREFIX, KeyInfo,
    MAX_KEY_LIFETIME, User, UserStore, check_key_name, check_user_name, key_sha256, new_user_id,
    parse_key_lifetime, presented_key_sha256,
};
