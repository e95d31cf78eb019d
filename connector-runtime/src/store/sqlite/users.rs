//! [`UserStore`] on the `server_users` table. It needs no keyring (nothing in it is sealed:
//! keys are stored as SHA-256 hashes), so `connector users` can open it alone.

use std::path::Path;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteRow};

use super::connect;
use crate::store::error::StoreError;
use crate::store::timestamp::Timestamp;
use crate::store::users::{
    ApiKey, User, UserStore, check_user_name, new_user_id, presented_key_sha256,
};

/// The same table and columns the server created before the store owned it.
const CREATE_USERS: &str = "CREATE TABLE IF NOT EXISTS server_users (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    admin      INTEGER NOT NULL,
    key_sha256 TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
)";

/// Users and their key hashes in a SQLite file. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct SqliteUserStore {
    pool: SqlitePool,
}

impl SqliteUserStore {
    /// Open the SQLite file at `path` (created if missing, mode 0600 in a 0700 folder, the
    /// same as the other stores whichever opens it first) and create the users table.
    pub async fn open(path: &Path) -> Result<SqliteUserStore, StoreError> {
        let store = SqliteUserStore::from_pool(connect::connect(path).await?);
        store.create_table().await?;
        Ok(store)
    }

    pub(super) fn from_pool(pool: SqlitePool) -> SqliteUserStore {
        SqliteUserStore { pool }
    }

    pub(super) async fn create_table(&self) -> Result<(), StoreError> {
        sqlx::raw_sql(CREATE_USERS).execute(&self.pool).await?;
        Ok(())
    }

    /// Close the pool (shared with the [`SqliteStore`](super::SqliteStore) it came from, if any).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn user_from_row(r: &SqliteRow) -> Result<User, StoreError> {
    Ok(User {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        admin: r.try_get("admin")?,
    })
}

#[async_trait]
impl UserStore for SqliteUserStore {
    async fn add_user(&self, name: &str, admin: bool) -> Result<(User, ApiKey), StoreError> {
        check_user_name(name)?;
        let id = new_user_id();
        let key = ApiKey::generate();
        let r = sqlx::query(
            "INSERT INTO server_users (id, name, admin, key_sha256, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(name)
        .bind(admin)
        .bind(&key.sha256)
        .bind(Timestamp::now().as_millis())
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => {}
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(StoreError::UserExists {
                    name: name.to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        let user = User {
            id,
            name: name.to_string(),
            admin,
        };
        Ok((user, key))
    }

    async fn authenticate(&self, key: &str) -> Result<Option<User>, StoreError> {
        let Some(hash) = presented_key_sha256(key) else {
            return Ok(None);
        };
        let row = sqlx::query("SELECT id, name, admin FROM server_users WHERE key_sha256 = ?")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query("SELECT id, name, admin FROM server_users ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
