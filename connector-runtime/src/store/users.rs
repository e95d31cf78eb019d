//! API-key identity: [`UserStore`] holds users with a role, a disabled flag and named keys
//! (each stored as its SHA-256, with an optional expiry and the last time it was used).
//!
//! A key is 32 bytes from the OS-seeded CSPRNG, shown once as `ck_<base64url>`
//! ([`ApiKey::generate`]). Only its SHA-256 is stored. A plain hash is enough here (no salt,
//! no slow KDF): a 256-bit random key cannot be guessed or found in a dictionary, so
//! stretching would only slow every request down without making a leaked table easier to
//! protect. Naming rules and hashing live here, not in a backend, so every backend agrees.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use secrecy::SecretString;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::StoreError;
use super::timestamp::Timestamp;

/// The prefix of every API key (lets secret scanners recognise one).
pub const KEY_PREFIX: &str = "ck_";
/// A presented key longer than this is refused without hashing it.
const MAX_KEY_LEN: usize = 128;

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Stable id (`u_` and 32 hex digits); keys the user's per-user tokens.
    pub id: String,
    pub name: String,
    pub admin: bool,
    /// A disabled user's keys are refused until the user is enabled again.
    pub disabled: bool,
}

/// The name of the key `add_user` creates (and that migration 2 gave every existing key).
pub const DEFAULT_KEY_NAME: &str = "default";
/// The longest key lifetime accepted (`--expires`, `expires`): 3650 days.
pub const MAX_KEY_LIFETIME: Duration = Duration::from_secs(3650 * 86_400);
/// The pattern of a key lifetime, as the API documents it.
pub const KEY_LIFETIME_PATTERN: &str = r"^[1-9][0-9]{0,8}[dhms]$";

/// One of a user's keys, as listings show it: never the key or its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub name: String,
    pub created_at: Timestamp,
    /// `None`: the key does not expire.
    pub expires_at: Option<Timestamp>,
    /// Updated at most once a minute, so up to a minute behind.
    pub last_used_at: Option<Timestamp>,
}

/// A user and the name of the key they presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub user: User,
    pub key_name: String,
}

/// A fresh API key: the secret shown once, and the hash that is stored. `Debug` shows the
/// hash only.
pub struct ApiKey {
    pub key: SecretString,
    pub sha256: String,
}

impl ApiKey {
    /// 32 random bytes as `ck_<base64url>`, with its hash.
    pub fn generate() -> ApiKey {
        let bytes: [u8; 32] = rand::random();
        let key = format!(
            "{KEY_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        ApiKey {
            sha256: key_sha256(&key),
            key: SecretString::from(key),
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

/// The lowercase hex SHA-256 of a presented key: what the store looks a user up by.
pub fn key_sha256(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The stored hash of `key` when it can be a key at all (right prefix, bounded length);
/// `None` means no user holds it.
pub fn presented_key_sha256(key: &str) -> Option<String> {
    (key.starts_with(KEY_PREFIX) && key.len() <= MAX_KEY_LEN).then(|| key_sha256(key))
}

/// Refuse a user name unless it is 1 to 64 of ASCII letters, digits, `-`, `_`, `.`, `@`.
pub fn check_user_name(name: &str) -> Result<(), StoreError> {
    let invalid = |reason: &str| StoreError::InvalidInput {
        field: "user name",
        reason: reason.to_string(),
    };
    if name.is_empty() || name.len() > 64 {
        return Err(invalid("1 to 64 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
    {
        return Err(invalid("use ASCII letters, digits, `-`, `_`, `.` and `@`"));
    }
    Ok(())
}

/// Refuse a key name unless it is 1 to 64 of ASCII letters, digits, `-`, `_`, `.`.
pub fn check_key_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(StoreError::InvalidInput {
            field: "key name",
            reason: "1 to 64 of ASCII letters, digits, `-`, `_` and `.`".to_string(),
        });
    }
    Ok(())
}

/// Parse a key lifetime ([`KEY_LIFETIME_PATTERN`]): a whole number without leading zeros (at
/// most 9 digits) and a unit, `d` (days), `h`, `m` or `s`, e.g. `90d`; at most 3650 days.
pub fn parse_key_lifetime(text: &str) -> Result<Duration, StoreError> {
    let invalid = |reason: String| StoreError::InvalidInput {
        field: "expiry",
        reason,
    };
    let syntax = || {
        invalid(format!(
            "`{}` is not a lifetime: write a whole number (no leading zero) and d, h, m or s, \
             e.g. `90d` or `12h`",
            text.chars().take(32).collect::<String>()
        ))
    };
    let unit = text.chars().last().ok_or_else(syntax)?;
    let per_unit: u64 = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        's' => 1,
        _ => return Err(syntax()),
    };
    let digits = &text[..text.len() - 1];
    if digits.is_empty()
        || digits.len() > 9
        || digits.starts_with('0')
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(syntax());
    }
    let n: u64 = digits.parse().map_err(|_| syntax())?;
    let secs = n.saturating_mul(per_unit);
    if secs > MAX_KEY_LIFETIME.as_secs() {
        return Err(invalid(format!(
            "`{text}` is too long: a key lives at most 3650d"
        )));
    }
    Ok(Duration::from_secs(secs))
}

/// A new user id: `u_` and 32 random hex digits.
pub fn new_user_id() -> String {
    let bytes: [u8; 16] = rand::random();
    format!("u_{}", hex::encode(bytes))
}

/// Users of the server and their API keys (hashes only). Methods naming a user that does not
/// exist return [`StoreError::UserNotFound`]; a key name a user does not hold,
/// [`StoreError::KeyNotFound`].
#[async_trait]
pub trait UserStore: Send + Sync + fmt::Debug {
    /// Add a user with one key named `default` (expiring at `expires_at`, if given); returns
    /// the user and its key (shown once, never stored). A taken name is
    /// [`StoreError::UserExists`], a bad one [`StoreError::InvalidInput`].
    async fn add_user(
        &self,
        name: &str,
        admin: bool,
        expires_at: Option<Timestamp>,
    ) -> Result<(User, ApiKey), StoreError>;

    /// The enabled user holding `key`, if any, and the key's name. A string that cannot be a
    /// key, an expired key and a disabled user all give `None`. Records the key's use at most
    /// once a minute.
    async fn authenticate_key(&self, key: &str) -> Result<Option<Authenticated>, StoreError>;

    /// [`UserStore::authenticate_key`], the user only.
    async fn authenticate(&self, key: &str) -> Result<Option<User>, StoreError> {
        Ok(self.authenticate_key(key).await?.map(|a| a.user))
    }

    /// Every user, by name.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;

    /// The user named `name`, if any.
    async fn get_user(&self, name: &str) -> Result<Option<User>, StoreError>;

    /// Remove a user, their keys and their per-user tokens (one transaction). Revoking the
    /// tokens at the provider is the caller's part, before this.
    async fn remove_user(&self, name: &str) -> Result<User, StoreError>;

    /// Disable (`true`) or enable a user; returns the user as it now is.
    async fn set_disabled(&self, name: &str, disabled: bool) -> Result<User, StoreError>;

    /// Add a key named `key_name` to a user. A name the user already holds is
    /// [`StoreError::KeyExists`].
    async fn add_key(
        &self,
        name: &str,
        key_name: &str,
        expires_at: Option<Timestamp>,
    ) -> Result<ApiKey, StoreError>;

    /// Replace the key named `key_name` with a new one (the old one stops working at once).
    async fn rotate_key(
        &self,
        name: &str,
        key_name: &str,
        expires_at: Option<Timestamp>,
    ) -> Result<ApiKey, StoreError>;

    /// A user's keys by name: names and times, never a key or hash.
    async fn list_keys(&self, name: &str) -> Result<Vec<KeyInfo>, StoreError>;

    /// Remove one of a user's keys.
    async fn remove_key(&self, name: &str, key_name: &str) -> Result<(), StoreError>;

    /// A cheap query, for readiness.
    async fn ping(&self) -> Result<(), StoreError>;
}
