//! [`Backend`]: what a test body needs of a store backend (a fresh store, reopening it, raw
//! SQL on what it holds), implemented by [`SqliteDb`] (a file in a temporary folder) and
//! [`PgDb`] (a database of its own); [`both!`](crate::both) runs a body on each.

use std::path::PathBuf;
use std::sync::Arc;

use connector_runtime::store::postgres::PgStore;
use connector_runtime::store::{
    AuditStore, InstanceStore, Keyring, Maintenance, OAuthStateStore, SqliteStore, SqliteUserStore,
    StoreError, Stores, TokenStore, UserStore,
};
use sqlx::Row;
use tempfile::TempDir;

use super::pg::TestDatabase;

/// The store traits in one handle, plus what the tests call on the concrete types.
pub trait TestStore:
    TokenStore + OAuthStateStore + InstanceStore + Maintenance + Clone + Send + Sync + 'static
{
    fn audit(&self) -> Arc<dyn AuditStore>;
    fn users(&self) -> Arc<dyn UserStore>;
    fn stores(&self) -> Stores;
    fn keyring(&self) -> &Keyring;
    async fn close(&self);
}

impl TestStore for SqliteStore {
    fn audit(&self) -> Arc<dyn AuditStore> {
        Arc::new(SqliteStore::audit(self))
    }
    fn users(&self) -> Arc<dyn UserStore> {
        Arc::new(SqliteStore::users(self))
    }
    fn stores(&self) -> Stores {
        SqliteStore::stores(self)
    }
    fn keyring(&self) -> &Keyring {
        SqliteStore::keyring(self)
    }
    async fn close(&self) {
        SqliteStore::close(self).await
    }
}

impl TestStore for PgStore {
    fn audit(&self) -> Arc<dyn AuditStore> {
        Arc::new(PgStore::audit(self))
    }
    fn users(&self) -> Arc<dyn UserStore> {
        Arc::new(PgStore::users(self))
    }
    fn stores(&self) -> Stores {
        PgStore::stores(self)
    }
    fn keyring(&self) -> &Keyring {
        PgStore::keyring(self)
    }
    async fn close(&self) {
        PgStore::close(self).await
    }
}

/// A fresh, empty place for one test's store.
pub trait Backend: Sized + Send + Sync + 'static {
    type Store: TestStore;
    /// Several processes share it (PostgreSQL): a keyring that cannot open what the
    /// database holds is refused when connecting, not on the first read.
    const SHARED: bool;

    async fn fresh() -> Self;
    async fn try_open(&self, keys: Keyring) -> Result<Self::Store, StoreError>;
    async fn open(&self, keys: Keyring) -> Self::Store {
        self.try_open(keys).await.unwrap()
    }
    /// The users store alone, opened without a keyring.
    async fn users_only(&self) -> Arc<dyn UserStore>;
    /// Run `sql` (binding `binds` as text, `$1`, `$2`, ...) on a connection of its own.
    async fn raw_exec(&self, sql: &'static str, binds: &[&str]);
    /// The first column of every row of `sql` (a blob, NULL as `None`).
    async fn raw_blobs(&self, sql: &'static str, binds: &[&str]) -> Vec<Option<Vec<u8>>>;
    /// The first column of the first row of `sql`, a number.
    async fn raw_int(&self, sql: &'static str) -> i64;
    /// The first column of the first row of `sql`, text.
    async fn raw_text(&self, sql: &'static str) -> String;
    /// Everything the backend keeps at rest, as bytes to search: files, or rows and blobs.
    async fn at_rest(&self) -> Vec<(String, Vec<u8>)>;
}

/// A SQLite file in a temporary folder.
pub struct SqliteDb {
    pub dir: TempDir,
}

impl SqliteDb {
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("store").join("connector.db")
    }

    pub async fn raw_pool(&self) -> sqlx::SqlitePool {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(self.path());
        sqlx::SqlitePool::connect_with(options).await.unwrap()
    }
}

/// A PostgreSQL database of its own.
pub struct PgDb {
    pub db: TestDatabase,
}

impl PgDb {
    pub async fn raw_pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.db.url).await.unwrap()
    }
}

/// The raw helpers of [`Backend`], the same on either pool type.
macro_rules! raw_helpers {
    () => {
        async fn raw_exec(&self, sql: &'static str, binds: &[&str]) {
            let pool = self.raw_pool().await;
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(b.to_string());
            }
            q.execute(&pool).await.unwrap();
            pool.close().await;
        }

        async fn raw_blobs(&self, sql: &'static str, binds: &[&str]) -> Vec<Option<Vec<u8>>> {
            let pool = self.raw_pool().await;
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(b.to_string());
            }
            let rows = q.fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows.iter().map(|r| r.get(0)).collect()
        }

        async fn raw_int(&self, sql: &'static str) -> i64 {
            let pool = self.raw_pool().await;
            let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }

        async fn raw_text(&self, sql: &'static str) -> String {
            let pool = self.raw_pool().await;
            let t = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            t
        }
    };
}

impl Backend for SqliteDb {
    type Store = SqliteStore;
    const SHARED: bool = false;

    async fn fresh() -> SqliteDb {
        SqliteDb {
            dir: TempDir::new().unwrap(),
        }
    }

    async fn try_open(&self, keys: Keyring) -> Result<SqliteStore, StoreError> {
        SqliteStore::open(self.path(), keys).await
    }

    async fn users_only(&self) -> Arc<dyn UserStore> {
        Arc::new(SqliteUserStore::open(&self.path()).await.unwrap())
    }

    raw_helpers!();

    async fn at_rest(&self) -> Vec<(String, Vec<u8>)> {
        super::files_of(&self.path())
            .into_iter()
            .map(|(p, b)| (p.display().to_string(), b))
            .collect()
    }
}

/// The tables of the PostgreSQL schema and their sealed (`BYTEA`) columns.
const PG_TABLES: [(&str, &[&str]); 5] = [
    ("tokens", &["access_token", "refresh_token"]),
    ("oauth_states", &["pkce_verifier"]),
    ("connector_instances", &["secrets"]),
    ("server_users", &[]),
    ("server_user_keys", &[]),
];

impl Backend for PgDb {
    type Store = PgStore;
    const SHARED: bool = true;

    async fn fresh() -> PgDb {
        PgDb {
            db: TestDatabase::create().await,
        }
    }

    async fn try_open(&self, keys: Keyring) -> Result<PgStore, StoreError> {
        PgStore::connect(&self.db.url, keys).await
    }

    async fn users_only(&self) -> Arc<dyn UserStore> {
        let users = connector_runtime::store::postgres::PgUserStore::connect(&self.db.url);
        Arc::new(users.await.unwrap())
    }

    raw_helpers!();

    /// Every row as text (`BYTEA` as hex) and every sealed column's raw bytes.
    async fn at_rest(&self) -> Vec<(String, Vec<u8>)> {
        let pool = self.raw_pool().await;
        let mut out = Vec::new();
        for (table, sealed) in PG_TABLES {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(t AS TEXT) FROM {table} t"
            )))
            .fetch_all(&pool)
            .await
            .unwrap();
            for r in rows {
                out.push((table.to_string(), r.get::<String, _>(0).into_bytes()));
            }
            for column in sealed {
                let sql = format!("SELECT {column} FROM {table} WHERE {column} IS NOT NULL");
                for r in sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&pool)
                    .await
                    .unwrap()
                {
                    out.push((format!("{table}.{column}"), r.get::<Vec<u8>, _>(0)));
                }
            }
        }
        pool.close().await;
        out
    }
}

/// `both!(name, ...)`: run each generic `async fn name<B: Backend>()` of this module as
/// `sqlite_name` and `postgres_name`.
#[macro_export]
macro_rules! both {
    ($($name:ident => $sqlite:ident, $postgres:ident;)*) => {
        $(
            #[tokio::test]
            async fn $sqlite() {
                $name::<$crate::backend::SqliteDb>().await
            }

            #[tokio::test]
            async fn $postgres() {
                $name::<$crate::backend::PgDb>().await
            }
        )*
    };
}
