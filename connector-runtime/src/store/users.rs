//! API-key identity: [`UserStore`] holds users with a role and the SHA-256 of their key.
//!
//! A key is 32 bytes from the OS-seeded CSPRNG, shown once as `ck_<base64url>`
//! ([`ApiKey::generate`]). Only its SHA-256 is stored. A plain hash is enough here (no salt,
//! no slow KDF): a 256-bit random key cannot be guessed or found in a dictionary, so
//! stretching would only slow every request down without making a leaked table easier to
//! protect. Naming rules and hashing live here, not in a backend, so every backend agrees.

use std::fmt;

use async_trait::async_trait;
use base64::Engine;
use secrecy::SecretString;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::StoreError;

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

/// A new user id: `u_` and 32 random hex digits.
pub fn new_user_id() -> String {
    let bytes: [u8; 16] = rand::random();
    format!("u_{}", hex::encode(bytes))
}

/// Users of the server and their API keys (hashes only).
#[async_trait]
pub trait UserStore: Send + Sync + fmt::Debug {
    /// Add a user; returns the user and its key (shown once, never stored). A taken name is
    /// [`StoreError::UserExists`], a bad one [`StoreError::InvalidInput`].
    async fn add_user(&self, name: &str, admin: bool) -> Result<(User, ApiKey), StoreError>;

    /// The user holding `key`, if any. A string that cannot be a key gives `None`.
    async fn authenticate(&self, key: &str) -> Result<Option<User>, StoreError>;

    /// Every user, by name.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;

    /// A cheap query, for readiness.
    async fn ping(&self) -> Result<(), StoreError>;
}
