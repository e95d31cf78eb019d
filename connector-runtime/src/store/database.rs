//! Where the stores live: [`Database`] is the SQLite file in the data directory (the embedded
//! default) or a PostgreSQL database several server instances share, chosen by a URL
//! (`--database-url` or [`DATABASE_URL_ENV`]). [`Database::open`] gives the [`Stores`] bundle
//! whatever the backend, so commands and the server are written once.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use url::Url;

use super::audit::AuditStore;
use super::crypto::Keyring;
use super::error::StoreError;
use super::postgres::{PgStore, PgUserStore};
use super::sqlite::{SqliteStore, SqliteUserStore};
use super::stores::Stores;
use super::users::UserStore;

/// Environment variable holding the database URL (`postgres://…`); unset or empty: the SQLite
/// file.
pub const DATABASE_URL_ENV: &str = "CONNECTOR_DATABASE_URL";

/// A store location: a SQLite file, or a PostgreSQL URL. `Display` and `Debug` never show a
/// password in the URL.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Database {
    /// `url` when given and not blank (from `--database-url` or [`DATABASE_URL_ENV`]), else the
    /// SQLite file `sqlite_file`. A URL other than `postgres://` / `postgresql://` is refused
    /// with the forms that work.
    pub fn choose(url: Option<&str>, sqlite_file: PathBuf) -> Result<Database, StoreError> {
        match url.map(str::trim).filter(|u| !u.is_empty()) {
            None => Ok(Database::Sqlite(sqlite_file)),
            Some(u) => Database::postgres(u),
        }
    }

    /// A PostgreSQL location, checked for form only (nothing is connected).
    pub fn postgres(url: &str) -> Result<Database, StoreError> {
        let parsed = Url::parse(url).map_err(|e| StoreError::InvalidInput {
            field: "database URL",
            reason: format!("{e}; write it as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"),
        })?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(StoreError::InvalidInput {
                field: "database URL",
                reason: format!(
                    "scheme `{}` is not supported: use postgres://USER@HOST[:PORT]/DATABASE, or \
                     leave the URL unset for the SQLite file in the data directory",
                    parsed.scheme()
                ),
            });
        }
        Ok(Database::Postgres(url.to_string()))
    }

    /// True when several processes may share this location (PostgreSQL): refresh locks,
    /// OAuth flows and rate limits then reach across them.
    pub fn is_shared(&self) -> bool {
        matches!(self, Database::Postgres(_))
    }

    /// Whether there is something to read: the SQLite file exists (a server is always there).
    pub fn exists(&self) -> bool {
        match self {
            Database::Sqlite(path) => path.is_file(),
            Database::Postgres(_) => true,
        }
    }

    /// Open every store, sealing with `keys`, migrating the schema when it is behind.
    pub async fn open(&self, keys: Keyring) -> Result<OpenStore, StoreError> {
        Ok(match self {
            Database::Sqlite(path) => {
                let s = SqliteStore::open(path, keys).await?;
                OpenStore {
                    stores: s.stores(),
                    backend: Backend::Sqlite(s),
                }
            }
            Database::Postgres(url) => {
                let s = PgStore::connect(url, keys).await?;
                OpenStore {
                    stores: s.stores(),
                    backend: Backend::Postgres(s),
                }
            }
        })
    }

    /// Open the users, their keys and the audit trail only: none is sealed, so no keyring is
    /// needed (`connector users`, `connector audit`).
    pub async fn open_users(&self) -> Result<UserDb, StoreError> {
        Ok(match self {
            Database::Sqlite(path) => {
                let s = SqliteUserStore::open(path).await?;
                UserDb {
                    users: Arc::new(s.clone()),
                    audit: Arc::new(s.audit()),
                    backend: UserBackend::Sqlite(s),
                }
            }
            Database::Postgres(url) => {
                let users = PgUserStore::connect(url).await?;
                UserDb {
                    users: Arc::new(users.clone()),
                    audit: Arc::new(users.audit()),
                    backend: UserBackend::Postgres(users),
                }
            }
        })
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => f.write_str(&redacted_url(url)),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(url) => f.debug_tuple("Postgres").field(&redacted_url(url)).finish(),
        }
    }
}

/// `url` with any password replaced by `***` (and query parameters, which may hold one,
/// dropped).
pub fn redacted_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "<unparsable database URL>".to_string(),
    }
}

enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Every store of one [`Database`], opened.
pub struct OpenStore {
    pub stores: Stores,
    backend: Backend,
}

impl fmt::Debug for OpenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenStore")
            .field("stores", &self.stores)
            .finish_non_exhaustive()
    }
}

impl OpenStore {
    /// The keyring values are sealed under.
    pub fn keyring(&self) -> &Keyring {
        match &self.backend {
            Backend::Sqlite(s) => s.keyring(),
            Backend::Postgres(s) => s.keyring(),
        }
    }

    /// Close the connections (SQLite checkpoints its WAL into the main file).
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(s) => s.close().await,
            Backend::Postgres(s) => s.close().await,
        }
    }
}

enum UserBackend {
    Sqlite(SqliteUserStore),
    Postgres(PgUserStore),
}

/// The users and the audit trail of one [`Database`], opened without a keyring.
pub struct UserDb {
    pub users: Arc<dyn UserStore>,
    pub audit: Arc<dyn AuditStore>,
    backend: UserBackend,
}

impl UserDb {
    pub async fn close(&self) {
        match &self.backend {
            UserBackend::Sqlite(s) => s.close().await,
            UserBackend::Postgres(u) => u.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_chooses_postgres_and_its_password_never_shows() {
        let db = Database::choose(
            Some("postgres://app:canary-pw-31@db.internal:5432/connector?password=canary-q"),
            PathBuf::from("/d/connector.db"),
        )
        .unwrap();
        assert!(db.is_shared());
        for shown in [db.to_string(), format!("{db:?}")] {
            assert!(!shown.contains("canary"), "{shown}");
            assert!(shown.contains("db.internal:5432/connector"), "{shown}");
        }
    }

    #[test]
    fn no_url_or_a_blank_one_is_the_sqlite_file() {
        for url in [None, Some(""), Some("  ")] {
            assert_eq!(
                Database::choose(url, PathBuf::from("/d/c.db")).unwrap(),
                Database::Sqlite(PathBuf::from("/d/c.db"))
            );
        }
    }

    #[test]
    fn other_schemes_are_refused_with_the_forms_that_work() {
        for url in ["mysql://root@127.0.0.1/x", "redis://127.0.0.1", "not a url"] {
            let e = Database::choose(Some(url), PathBuf::from("c.db")).unwrap_err();
            assert!(e.to_string().contains("postgres://"), "{e}");
        }
    }
}
