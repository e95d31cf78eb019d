//! API-key identity: users with a role, stored as `server_users` in the token store's SQLite
//! file (the server's own table, created by the server; the token store's migrations do not
//! touch it).
//!
//! A key is 32 bytes from the OS-seeded CSPRNG, shown once as `ck_<base64url>`. Only its
//! SHA-256 is stored. A plain hash is enough here (no salt, no slow KDF): a 256-bit random
//! key cannot be guessed or found in a dictionary, so stretching would only slow every
//! request down without making a leaked table easier to protect.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use connector_runtime::store::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// The prefix of every API key (lets secret scanners recognise one).
pub const KEY_PREFIX: &str = "ck_";

/// An authenticated user.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Stable id; keys the user's per-user tokens.
    pub id: String,
    pub name: String,
    pub admin: bool,
}

/// User store failures.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("invalid user name: {0}")]
    InvalidName(&'static str),
    #[error("a user named `{0}` already exists")]
    Exists(String),
    #[error("user store: {0}")]
    Database(String),
}

impl From<sqlx::Error> for UserError {
    fn from(e: sqlx::Error) -> UserError {
        UserError::Database(e.to_string())
    }
}

/// Users and their key hashes.
#[derive(Debug, Clone)]
pub struct UserStore {
    pool: SqlitePool,
}

fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl UserStore {
    /// Open the SQLite file at `path` (created if missing, mode 0600 in a 0700 folder) and
    /// create the users table.
    pub async fn open(path: &Path) -> Result<UserStore, UserError> {
        // `connector users add` may be what creates the file: same modes as the token store
        // (folder 0700, database 0600) whichever opens it first.
        connector_runtime::store::sqlite::prepare_private_db(path)
            .map_err(|e| UserError::Database(e.to_string()))?;
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS server_users (
                id         TEXT PRIMARY KEY NOT NULL,
                name       TEXT NOT NULL UNIQUE,
                admin      INTEGER NOT NULL,
                key_sha256 TEXT NOT NULL UNIQUE,
                created_at INTEGER NOT NULL
            )",
        )
        .execute(&pool)
        .await?;
        Ok(UserStore { pool })
    }

    /// Add a user; returns the user and the key (shown once, never stored).
    pub async fn add(&self, name: &str, admin: bool) -> Result<(User, String), UserError> {
        if name.is_empty() || name.len() > 64 {
            return Err(UserError::InvalidName("1 to 64 characters"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
        {
            return Err(UserError::InvalidName(
                "use ASCII letters, digits, `-`, `_`, `.` and `@`",
            ));
        }
        let id_bytes: [u8; 16] = rand::random();
        let id = format!("u_{}", hex::encode(id_bytes));
        let key_bytes: [u8; 32] = rand::random();
        let key = format!(
            "{KEY_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key_bytes)
        );
        let r = sqlx::query(
            "INSERT INTO server_users (id, name, admin, key_sha256, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(name)
        .bind(admin)
        .bind(hash_key(&key))
        .bind(Timestamp::now().as_millis())
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => {}
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(UserError::Exists(name.to_string()));
            }
            Err(e) => return Err(e.into()),
        }
        Ok((
            User {
                id,
                name: name.to_string(),
                admin,
            },
            key,
        ))
    }

    /// The user holding `key`, if any.
    pub async fn authenticate(&self, key: &str) -> Result<Option<User>, UserError> {
        if !key.starts_with(KEY_PREFIX) || key.len() > 128 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT id, name, admin FROM server_users WHERE key_sha256 = ?")
            .bind(hash_key(key))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| User {
            id: r.get("id"),
            name: r.get("name"),
            admin: r.get("admin"),
        }))
    }

    /// Every user, by name.
    pub async fn list(&self) -> Result<Vec<User>, UserError> {
        let rows = sqlx::query("SELECT id, name, admin FROM server_users ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| User {
                id: r.get("id"),
                name: r.get("name"),
                admin: r.get("admin"),
            })
            .collect())
    }

    /// A cheap query, for readiness.
    pub async fn ping(&self) -> Result<(), UserError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
