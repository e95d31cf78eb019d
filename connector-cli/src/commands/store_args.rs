//! Where a server command finds its stores: `--data-dir` (the SQLite file and, unless a key
//! is configured, the operator key) or `--database-url` (a PostgreSQL database several
//! `connector serve` instances share).

use std::path::PathBuf;

use clap::Args;
use connector_runtime::store::crypto::{KEY_ENV, KEY_FILE_ENV};
use connector_runtime::store::{DATABASE_URL_ENV, Database, Keyring, OpenStore, UserDb};
use connector_server::{DB_FILE, ServerConfig};

pub(crate) const DATA_DIR_HELP: &str = "Data directory holding connector.db and operator.key. \
    Default: $CONNECTOR_HOME, else ./.connector";

const DATABASE_URL_HELP: &str = "PostgreSQL database shared by several `connector serve` \
    instances: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE. Every instance must then use \
    the same operator key (CONNECTOR_KEY or CONNECTOR_KEY_FILE). Default: \
    $CONNECTOR_DATABASE_URL, else connector.db in the data directory";

#[derive(Args, Debug, Clone, Default)]
pub struct StoreArgs {
    #[arg(long, value_name = "DIR", help = DATA_DIR_HELP)]
    pub data_dir: Option<PathBuf>,
    #[arg(long, value_name = "URL", env = DATABASE_URL_ENV, hide_env_values = true, help = DATABASE_URL_HELP)]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// The data directory: `--data-dir`, else `$CONNECTOR_HOME`, else `./.connector`.
    pub fn dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(connector_server::default_data_dir)
    }

    /// A server configuration with these locations.
    pub fn config(&self) -> ServerConfig {
        let mut config = ServerConfig::new();
        config.data_dir = self.dir();
        config.database_url = self.database_url.clone();
        config
    }

    pub fn database(&self) -> anyhow::Result<Database> {
        Ok(self.config().database()?)
    }

    /// The database, which must hold a store already: a mistyped `--data-dir` would otherwise
    /// look like an empty store (and one would be created there). `what` names what is
    /// missing, for the message.
    pub fn existing(&self, what: &str) -> anyhow::Result<Database> {
        let db = self.database()?;
        if !db.exists() {
            anyhow::bail!(
                "no {what}: {} does not exist (`connector users add` or `connector serve` \
                 creates it; check --data-dir or $CONNECTOR_HOME, or pass --database-url)",
                self.dir().join(DB_FILE).display()
            );
        }
        Ok(db)
    }

    /// Open the users and the audit trail (no keyring needed).
    pub async fn open_users(&self, db: &Database) -> anyhow::Result<UserDb> {
        db.open_users()
            .await
            .map_err(|e| anyhow::anyhow!("opening the user store {db}: {e}"))
    }

    /// Open every store of an existing database with the operator key the server uses;
    /// never generates a key.
    pub async fn open_all(&self, db: &Database) -> anyhow::Result<OpenStore> {
        let keys = self.existing_keyring(db)?;
        db.open(keys)
            .await
            .map_err(|e| anyhow::anyhow!("opening the store {db}: {e}"))
    }

    fn existing_keyring(&self, db: &Database) -> anyhow::Result<Keyring> {
        if db.is_shared() {
            // From CONNECTOR_KEY / CONNECTOR_KEY_FILE only, as every instance has it.
            return Ok(ServerConfig::new().keyring(db)?);
        }
        connector_server::existing_operator_keyring(&self.dir())?.ok_or_else(|| {
            anyhow::anyhow!(
                "no operator key for {db}: set {KEY_ENV} or {KEY_FILE_ENV} as for `connector \
                 serve`, or check --data-dir"
            )
        })
    }
}

const TOKEN_STORE_HELP: &str = "The token store file. Default: $CONNECTOR_STORE, else \
    $CONNECTOR_HOME/connector.db, else $XDG_DATA_HOME/connector/connector.db, else \
    ~/.local/share/connector/connector.db";

/// Where `connector keys` and `connector auth` find the token store: a file (`--store`) or a
/// PostgreSQL database (`--database-url`). The keyring comes from CONNECTOR_KEY /
/// CONNECTOR_KEY_FILE.
#[derive(Args, Debug, Clone, Default)]
pub struct TokenStoreArgs {
    #[arg(long, value_name = "PATH", help = TOKEN_STORE_HELP)]
    pub store: Option<PathBuf>,
    #[arg(long, value_name = "URL", env = DATABASE_URL_ENV, hide_env_values = true, help = DATABASE_URL_HELP)]
    pub database_url: Option<String>,
}

impl TokenStoreArgs {
    /// The chosen location; both a file and a URL is an error rather than a guess.
    pub fn database(&self) -> anyhow::Result<Database> {
        let url = self
            .database_url
            .as_deref()
            .filter(|u| !u.trim().is_empty());
        if let (Some(path), Some(_)) = (&self.store, url) {
            anyhow::bail!(
                "both --store {} and a database URL (--database-url or {DATABASE_URL_ENV}) are \
                 given: pass one",
                path.display()
            );
        }
        let file = match &self.store {
            Some(p) => p.clone(),
            None if url.is_some() => PathBuf::new(),
            None => connector_runtime::store::default_store_path()?,
        };
        Ok(Database::choose(url, file)?)
    }

    /// The location, which must hold a store already.
    pub fn existing(&self) -> anyhow::Result<Database> {
        let db = self.database()?;
        if !db.exists() {
            anyhow::bail!(
                "no token store at {db} (pass --store or --database-url, or set CONNECTOR_STORE \
                 / CONNECTOR_HOME)"
            );
        }
        Ok(db)
    }

    /// Open `db` with the keyring of CONNECTOR_KEY / CONNECTOR_KEY_FILE.
    pub async fn open(db: &Database) -> anyhow::Result<OpenStore> {
        let keys = Keyring::from_env().map_err(|e| {
            anyhow::anyhow!("reading the keyring from {KEY_ENV} / {KEY_FILE_ENV}: {e}")
        })?;
        db.open(keys)
            .await
            .map_err(|e| anyhow::anyhow!("opening the token store {db}: {e}"))
    }
}
