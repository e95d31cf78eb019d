//! The embedded SQLite backend of [`TokenStore`]: one file, WAL journal, `synchronous=FULL`
//! (a commit is on disk before the call returns), versioned migrations embedded in the binary.
//!
//! # Schema (version 1)
//!
//! - `schema_version(version, applied_at)`: one row per applied migration.
//! - `tokens`: shared and per-user tokens. `id` is the full [`TokenId`] string; `scope` is
//!   `shared` / `per-user`; `user_id` is `''` for shared tokens; unique on
//!   `(scope, user_id, connector_id, credential_type)`. `access_token` and `refresh_token`
//!   are sealed blobs.
//! - `oauth_states`: pending authorization-code states; `pkce_verifier` is sealed and set to
//!   NULL when the state is consumed.
//! - `connector_instances`: id, type, name, auth type, auth mode, config JSON, sealed secrets.
//!
//! Migrations are plain SQL in [`MIGRATIONS`], applied in order inside one `BEGIN IMMEDIATE`
//! transaction that also records them in `schema_version`; opening a store runs the pending
//! ones, so running them twice is a no-op. A file written by a newer program (a version this
//! program does not know) is refused with [`StoreError::SchemaTooNew`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use connector_spec::{AuthMode, AuthTypeId};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use super::crypto::{Aad, Keyring};
use super::{
    CleanupPolicy, CleanupReport, ConnectorInstanceRecord, DEFAULT_CREDENTIAL_TYPE, InstanceUpdate,
    NewConnectorInstance, NewOAuthState, OAuthStateRecord, RotationReport, StoreError, Timestamp,
    TokenData, TokenId, TokenRecord, TokenScope, TokenStore, TokenUpdate, UserTokenKey,
};
use crate::secrets::Secrets;

/// The embedded migrations: `(version, SQL)`, applied in order.
pub const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    r#"
CREATE TABLE tokens (
    id                       TEXT PRIMARY KEY NOT NULL,
    scope                    TEXT NOT NULL CHECK (scope IN ('shared', 'per-user')),
    user_id                  TEXT NOT NULL,
    connector_id             TEXT NOT NULL,
    credential_type          TEXT NOT NULL,
    access_token             BLOB NOT NULL,
    refresh_token            BLOB,
    token_type               TEXT NOT NULL,
    granted_scope            TEXT,
    expires_at               INTEGER,
    refresh_token_expires_at INTEGER,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL,
    last_used_at             INTEGER,
    revoked                  INTEGER NOT NULL DEFAULT 0,
    version                  INTEGER NOT NULL,
    UNIQUE (scope, user_id, connector_id, credential_type),
    CHECK ((scope = 'shared') = (user_id = ''))
);
CREATE INDEX tokens_by_connector ON tokens (connector_id);
CREATE TABLE oauth_states (
    state           TEXT PRIMARY KEY NOT NULL,
    connector_id    TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    credential_type TEXT NOT NULL,
    tenant          TEXT,
    return_url      TEXT,
    pkce_verifier   BLOB,
    metadata        TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    consumed_at     INTEGER
);
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);
CREATE TABLE connector_instances (
    id             TEXT PRIMARY KEY NOT NULL,
    connector_type TEXT NOT NULL,
    name           TEXT NOT NULL,
    auth_type      TEXT NOT NULL,
    auth_mode      TEXT NOT NULL,
    config         TEXT NOT NULL,
    secrets        BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
"#,
)];

/// `SELECT <token columns> FROM tokens` (kept as literals: sqlx takes `&'static str`).
macro_rules! select_tokens {
    ($where:literal) => {
        concat!(
            "SELECT id, scope, user_id, connector_id, credential_type, access_token, \
             refresh_token, token_type, granted_scope, expires_at, refresh_token_expires_at, \
             created_at, updated_at, last_used_at, revoked, version FROM tokens ",
            $where
        )
    };
}

/// `<sql> RETURNING <token columns>`.
macro_rules! select_tokens_returning {
    ($sql:literal) => {
        concat!(
            $sql,
            " RETURNING id, scope, user_id, connector_id, credential_type, access_token, \
             refresh_token, token_type, granted_scope, expires_at, refresh_token_expires_at, \
             created_at, updated_at, last_used_at, revoked, version"
        )
    };
}

/// A [`TokenStore`] in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    keys: Keyring,
    path: PathBuf,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("keys", &self.keys)
            .finish()
    }
}

/// Create `dir` and its missing parents, mode 0700 on Unix (only the owner may list or enter
/// it). An existing folder is not changed (it may be one the operator shares on purpose), but
/// one that others can read or enter is reported with a warning.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        b.mode(0o700);
        b.create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                "{} has mode {mode:o}: other local users can list it; `chmod 700` it",
                dir.display()
            );
        }
        Ok(())
    }
    #[cfg(not(unix))]
    b.create(dir)
}

/// Prepare the database file before SQLite opens it: its folder exists (see
/// [`create_private_dir`]), and the file exists with mode 0600 on Unix. SQLite creates `-wal`
/// and `-shm` with the main file's mode, so 0600 here covers all three; an existing file (or
/// `-wal`/`-shm`) that others could read is tightened to 0600: it holds key hashes, configs
/// and pending OAuth states.
pub fn prepare_private_db(path: &Path) -> Result<(), StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(|e| {
            StoreError::Database(format!("cannot create folder {}: {e}", dir.display()))
        })?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let cannot = |e: std::io::Error| {
            StoreError::Database(format!("cannot prepare {}: {e}", path.display()))
        };
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(cannot)?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let mut shm = path.as_os_str().to_owned();
        shm.push("-shm");
        for f in [path.to_path_buf(), PathBuf::from(wal), PathBuf::from(shm)] {
            let Ok(meta) = std::fs::metadata(&f) else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600))
                    .map_err(cannot)?;
                tracing::warn!(
                    "{} was readable by others; set its mode to 600",
                    f.display()
                );
            }
        }
    }
    Ok(())
}

impl SqliteStore {
    /// Open (creating it and its parent folders if missing) the store at `path`, sealing with
    /// `keys`, and run pending migrations.
    pub async fn open(path: impl AsRef<Path>, keys: Keyring) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        prepare_private_db(&path)?;
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Database(format!("cannot open {}: {e}", path.display())))?;
        let store = SqliteStore { pool, keys, path };
        store.migrate().await?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keys
    }

    /// Apply pending migrations; returns how many were applied (0 when up to date).
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_version (\
                version INTEGER PRIMARY KEY NOT NULL, applied_at INTEGER NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        let current: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                .fetch_one(&mut *tx)
                .await?;
        let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
        if current > known {
            return Err(StoreError::SchemaTooNew {
                found: current,
                known,
            });
        }
        let mut applied = 0;
        for &(version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            sqlx::raw_sql(sql)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::Migration {
                    version,
                    message: e.to_string(),
                })?;
            sqlx::query("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)")
                .bind(version)
                .bind(Timestamp::now().0)
                .execute(&mut *tx)
                .await?;
            applied += 1;
        }
        tx.commit().await?;
        Ok(applied)
    }

    /// The highest applied migration.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// How many sealed values each key id holds (for `connector keys status`: a key with no
    /// values left can be removed from the configuration).
    pub async fn key_usage(&self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let mut usage = std::collections::BTreeMap::new();
        for sql in [
            "SELECT access_token FROM tokens",
            "SELECT refresh_token FROM tokens WHERE refresh_token IS NOT NULL",
            "SELECT pkce_verifier FROM oauth_states WHERE pkce_verifier IS NOT NULL",
            "SELECT secrets FROM connector_instances",
        ] {
            for row in sqlx::query(sql).fetch_all(&self.pool).await? {
                let blob: Vec<u8> = row.try_get(0)?;
                let id = Keyring::sealed_key_id(&blob)?;
                *usage.entry(id.to_string()).or_insert(0) += 1;
            }
        }
        Ok(usage)
    }

    /// Close the pool (checkpointing the WAL into the main file).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- tokens ----

    fn token_aad(
        scope: TokenScope,
        user: &str,
        connector: &str,
        ct: &str,
        field: &'static str,
    ) -> Aad {
        Aad::token(scope.as_str(), user, connector, ct, field)
    }

    fn seal_str(&self, s: &SecretString, aad: &Aad) -> Result<Vec<u8>, StoreError> {
        Ok(self.keys.seal(s.expose_secret().as_bytes(), aad)?)
    }

    fn open_secret(&self, sealed: &[u8], aad: &Aad) -> Result<SecretString, StoreError> {
        let s = self.keys.open_string(sealed, aad)?;
        Ok(SecretString::from(s.as_str()))
    }

    fn token_from_row(&self, row: &SqliteRow) -> Result<TokenRecord, StoreError> {
        let id_text: String = row.try_get("id")?;
        let id = TokenId::from_str(&id_text).map_err(|_| StoreError::Corrupt {
            what: "a token id without a scope prefix".into(),
        })?;
        let scope_col: String = row.try_get("scope")?;
        if scope_col != id.scope().as_str() {
            return Err(StoreError::Corrupt {
                what: format!("token `{id}` has scope column `{scope_col}`"),
            });
        }
        let user_id: String = row.try_get("user_id")?;
        let connector_id: String = row.try_get("connector_id")?;
        let credential_type: String = row.try_get("credential_type")?;
        let access: Vec<u8> = row.try_get("access_token")?;
        let refresh: Option<Vec<u8>> = row.try_get("refresh_token")?;
        let scope = id.scope();
        let aad = |field| Self::token_aad(scope, &user_id, &connector_id, &credential_type, field);
        let access_token = self.open_secret(&access, &aad("access_token"))?;
        let refresh_token = refresh
            .map(|r| self.open_secret(&r, &aad("refresh_token")))
            .transpose()?;
        let version: i64 = row.try_get("version")?;
        Ok(TokenRecord {
            access_token,
            refresh_token,
            token_type: row.try_get("token_type")?,
            scope: row.try_get("granted_scope")?,
            expires_at: row.try_get::<Option<i64>, _>("expires_at")?.map(Timestamp),
            refresh_token_expires_at: row
                .try_get::<Option<i64>, _>("refresh_token_expires_at")?
                .map(Timestamp),
            created_at: Timestamp(row.try_get("created_at")?),
            updated_at: Timestamp(row.try_get("updated_at")?),
            last_used_at: row
                .try_get::<Option<i64>, _>("last_used_at")?
                .map(Timestamp),
            revoked: row.try_get::<i64, _>("revoked")? != 0,
            version: u64::try_from(version).unwrap_or(0),
            user_id: (scope == TokenScope::PerUser).then_some(user_id.clone()),
            connector_id: connector_id.clone(),
            credential_type: credential_type.clone(),
            id,
        })
    }

    /// Create or replace the token of `(scope, user, connector, credential type)`.
    async fn put_token(
        &self,
        scope: TokenScope,
        user: &str,
        connector: &str,
        credential_type: &str,
        data: TokenData,
    ) -> Result<TokenRecord, StoreError> {
        let aad = |field| Self::token_aad(scope, user, connector, credential_type, field);
        let access = self.seal_str(&data.access_token, &aad("access_token"))?;
        let refresh = data
            .refresh_token
            .as_ref()
            .map(|r| self.seal_str(r, &aad("refresh_token")))
            .transpose()?;
        let now = Timestamp::now().0;
        let row = sqlx::query(select_tokens_returning!(
            "INSERT INTO tokens (id, scope, user_id, connector_id, credential_type, access_token, \
             refresh_token, token_type, granted_scope, expires_at, refresh_token_expires_at, \
             created_at, updated_at, last_used_at, revoked, version) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, 1) \
             ON CONFLICT (scope, user_id, connector_id, credential_type) DO UPDATE SET \
             access_token = excluded.access_token, refresh_token = excluded.refresh_token, \
             token_type = excluded.token_type, granted_scope = excluded.granted_scope, \
             expires_at = excluded.expires_at, \
             refresh_token_expires_at = excluded.refresh_token_expires_at, \
             updated_at = excluded.updated_at, revoked = 0, version = tokens.version + 1"
        ))
        .bind(TokenId::generate(scope).to_string())
        .bind(scope.as_str())
        .bind(user)
        .bind(connector)
        .bind(credential_type)
        .bind(access)
        .bind(refresh)
        .bind(data.token_type)
        .bind(data.scope)
        .bind(data.expires_at.map(|t| t.0))
        .bind(data.refresh_token_expires_at.map(|t| t.0))
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        self.token_from_row(&row)
    }

    /// Why an update of token `id` for `user` (empty: shared) matched no row.
    async fn diagnose_token(
        &self,
        id: &TokenId,
        user: &str,
        expected_version: Option<u64>,
    ) -> StoreError {
        let row = sqlx::query("SELECT user_id, version FROM tokens WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await;
        match row {
            Err(e) => e.into(),
            Ok(None) => StoreError::TokenNotFound { id: id.to_string() },
            Ok(Some(r)) => {
                let owner: String = r.try_get("user_id").unwrap_or_default();
                let version: i64 = r.try_get("version").unwrap_or(0);
                if owner != user {
                    StoreError::NotOwner { id: id.to_string() }
                } else if let Some(expected) = expected_version {
                    StoreError::VersionConflict {
                        id: id.to_string(),
                        expected,
                        actual: u64::try_from(version).unwrap_or(0),
                    }
                } else {
                    StoreError::TokenNotFound { id: id.to_string() }
                }
            }
        }
    }

    async fn get_token_by_id(
        &self,
        id: &TokenId,
        user: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(select_tokens!("WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            None => Ok(None),
            Some(row) => {
                let owner: String = row.try_get("user_id")?;
                if owner != user {
                    return Err(StoreError::NotOwner { id: id.to_string() });
                }
                self.token_from_row(&row).map(Some)
            }
        }
    }

    async fn update_token(
        &self,
        id: &TokenId,
        user: &str,
        expected_version: Option<u64>,
        update: TokenUpdate,
    ) -> Result<TokenRecord, StoreError> {
        // The associated data needs the row's connector and credential type: read them, then
        // write under the version check (the write is refused if anything changed between).
        let row = sqlx::query(
            "SELECT user_id, connector_id, credential_type, version FROM tokens WHERE id = ?",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::TokenNotFound { id: id.to_string() })?;
        let owner: String = row.try_get("user_id")?;
        if owner != user {
            return Err(StoreError::NotOwner { id: id.to_string() });
        }
        let connector: String = row.try_get("connector_id")?;
        let credential_type: String = row.try_get("credential_type")?;
        let expected = expected_version.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        let scope = id.scope();
        let aad = |field| Self::token_aad(scope, user, &connector, &credential_type, field);
        let access = self.seal_str(&update.access_token, &aad("access_token"))?;
        let refresh = update
            .refresh_token
            .as_ref()
            .map(|r| self.seal_str(r, &aad("refresh_token")))
            .transpose()?;
        let has_refresh = refresh.is_some();
        let row = sqlx::query(select_tokens_returning!(
            "UPDATE tokens SET access_token = ?, \
             refresh_token = CASE WHEN ? THEN ? ELSE refresh_token END, \
             refresh_token_expires_at = CASE WHEN ? THEN ? ELSE refresh_token_expires_at END, \
             token_type = COALESCE(?, token_type), granted_scope = COALESCE(?, granted_scope), \
             expires_at = ?, updated_at = ?, version = version + 1 \
             WHERE id = ? AND user_id = ? AND (? IS NULL OR version = ?)"
        ))
        .bind(access)
        .bind(has_refresh)
        .bind(refresh)
        .bind(has_refresh)
        .bind(update.refresh_token_expires_at.map(|t| t.0))
        .bind(update.token_type)
        .bind(update.scope)
        .bind(update.expires_at.map(|t| t.0))
        .bind(Timestamp::now().0)
        .bind(id.to_string())
        .bind(user)
        .bind(expected)
        .bind(expected)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => self.token_from_row(&row),
            None => Err(self.diagnose_token(id, user, expected_version).await),
        }
    }

    async fn revoke_token(&self, id: &TokenId, user: &str) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE tokens SET revoked = 1, updated_at = ?, version = version + 1 \
             WHERE id = ? AND user_id = ?",
        )
        .bind(Timestamp::now().0)
        .bind(id.to_string())
        .bind(user)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(self.diagnose_token(id, user, None).await)
        }
    }

    async fn delete_token(&self, id: &TokenId, user: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM tokens WHERE id = ? AND user_id = ?")
            .bind(id.to_string())
            .bind(user)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        match self.diagnose_token(id, user, None).await {
            StoreError::TokenNotFound { .. } => Ok(false),
            e => Err(e),
        }
    }

    // ---- states ----

    fn state_from_row(
        &self,
        row: &SqliteRow,
    ) -> Result<(OAuthStateRecord, Option<Vec<u8>>), StoreError> {
        let metadata: String = row.try_get("metadata")?;
        let metadata = serde_json::from_str(&metadata).map_err(|_| StoreError::Corrupt {
            what: "state metadata is not JSON".into(),
        })?;
        let sealed: Option<Vec<u8>> = row.try_get("pkce_verifier")?;
        Ok((
            OAuthStateRecord {
                state: row.try_get("state")?,
                connector_id: row.try_get("connector_id")?,
                user_id: row.try_get("user_id")?,
                credential_type: row.try_get("credential_type")?,
                tenant: row.try_get("tenant")?,
                return_url: row.try_get("return_url")?,
                pkce_verifier: SecretString::from(String::new()),
                metadata,
                created_at: Timestamp(row.try_get("created_at")?),
                expires_at: Timestamp(row.try_get("expires_at")?),
                consumed_at: row.try_get::<Option<i64>, _>("consumed_at")?.map(Timestamp),
            },
            sealed,
        ))
    }

    fn verifier_aad(r: &OAuthStateRecord) -> Aad {
        Aad::state(&r.state, &r.user_id, &r.connector_id, "pkce_verifier")
    }

    // ---- instances ----

    fn instance_from_row(&self, row: &SqliteRow) -> Result<ConnectorInstanceRecord, StoreError> {
        let id: String = row.try_get("id")?;
        let corrupt = |what: &str| StoreError::Corrupt {
            what: format!("instance `{id}`: {what}"),
        };
        let auth_type_s: String = row.try_get("auth_type")?;
        let auth_type =
            AuthTypeId::parse(&auth_type_s).ok_or_else(|| corrupt("unknown auth type"))?;
        let auth_mode = match row.try_get::<String, _>("auth_mode")?.as_str() {
            "shared" => AuthMode::Shared,
            "per_user" => AuthMode::PerUser,
            _ => return Err(corrupt("unknown auth mode")),
        };
        let config: String = row.try_get("config")?;
        let config: Value =
            serde_json::from_str(&config).map_err(|_| corrupt("config is not JSON"))?;
        let sealed: Vec<u8> = row.try_get("secrets")?;
        let secrets = self.open_secrets(&id, &sealed)?;
        Ok(ConnectorInstanceRecord {
            connector_type: row.try_get("connector_type")?,
            name: row.try_get("name")?,
            auth_type,
            auth_mode,
            config,
            secrets,
            created_at: Timestamp(row.try_get("created_at")?),
            updated_at: Timestamp(row.try_get("updated_at")?),
            id,
        })
    }

    fn seal_secrets(&self, id: &str, secrets: &Secrets) -> Result<Vec<u8>, StoreError> {
        let json = zeroize::Zeroizing::new(secrets.expose().to_string());
        Ok(self
            .keys
            .seal(json.as_bytes(), &Aad::instance(id, "secrets"))?)
    }

    fn open_secrets(&self, id: &str, sealed: &[u8]) -> Result<Secrets, StoreError> {
        let json = self.keys.open(sealed, &Aad::instance(id, "secrets"))?;
        match serde_json::from_slice::<Value>(&json) {
            Ok(Value::Object(m)) => Ok(Secrets::new(m)),
            _ => Err(StoreError::Corrupt {
                what: format!("instance `{id}`: secrets are not a JSON object"),
            }),
        }
    }

    async fn rotate_in(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
    ) -> Result<RotationReport, StoreError> {
        let mut report = RotationReport::default();
        let rows = sqlx::query(
            "SELECT id, scope, user_id, connector_id, credential_type, access_token, refresh_token \
             FROM tokens",
        )
        .fetch_all(&mut **tx)
        .await?;
        for row in rows {
            let id: String = row.try_get("id")?;
            let scope = if row.try_get::<String, _>("scope")? == "shared" {
                TokenScope::Shared
            } else {
                TokenScope::PerUser
            };
            let user: String = row.try_get("user_id")?;
            let connector: String = row.try_get("connector_id")?;
            let ct: String = row.try_get("credential_type")?;
            let aad = |field| Self::token_aad(scope, &user, &connector, &ct, field);
            let access: Vec<u8> = row.try_get("access_token")?;
            let access = self.reseal(&access, &aad("access_token"))?;
            let refresh: Option<Vec<u8>> = row.try_get("refresh_token")?;
            let refresh = refresh
                .map(|r| self.reseal(&r, &aad("refresh_token")))
                .transpose()?;
            report.values += 1 + u64::from(refresh.is_some());
            sqlx::query("UPDATE tokens SET access_token = ?, refresh_token = ? WHERE id = ?")
                .bind(access)
                .bind(refresh)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            report.tokens += 1;
        }
        let rows = sqlx::query(
            "SELECT state, user_id, connector_id, pkce_verifier FROM oauth_states \
             WHERE pkce_verifier IS NOT NULL",
        )
        .fetch_all(&mut **tx)
        .await?;
        for row in rows {
            let state: String = row.try_get("state")?;
            let user: String = row.try_get("user_id")?;
            let connector: String = row.try_get("connector_id")?;
            let sealed: Vec<u8> = row.try_get("pkce_verifier")?;
            let fresh = self.reseal(
                &sealed,
                &Aad::state(&state, &user, &connector, "pkce_verifier"),
            )?;
            sqlx::query("UPDATE oauth_states SET pkce_verifier = ? WHERE state = ?")
                .bind(fresh)
                .bind(state)
                .execute(&mut **tx)
                .await?;
            report.states += 1;
            report.values += 1;
        }
        let rows = sqlx::query("SELECT id, secrets FROM connector_instances")
            .fetch_all(&mut **tx)
            .await?;
        for row in rows {
            let id: String = row.try_get("id")?;
            let sealed: Vec<u8> = row.try_get("secrets")?;
            let fresh = self.reseal(&sealed, &Aad::instance(&id, "secrets"))?;
            sqlx::query("UPDATE connector_instances SET secrets = ? WHERE id = ?")
                .bind(fresh)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            report.instances += 1;
            report.values += 1;
        }
        Ok(report)
    }

    fn reseal(&self, sealed: &[u8], aad: &Aad) -> Result<Vec<u8>, StoreError> {
        let plain = self.keys.open(sealed, aad)?;
        Ok(self.keys.seal(&plain, aad)?)
    }
}

fn check_name(field: &'static str, value: &str) -> Result<(), StoreError> {
    if value.is_empty() {
        return Err(StoreError::InvalidInput {
            field,
            reason: "must not be empty".into(),
        });
    }
    if value.len() > 512 {
        return Err(StoreError::InvalidInput {
            field,
            reason: "must be at most 512 bytes".into(),
        });
    }
    if value.chars().any(char::is_control) {
        return Err(StoreError::InvalidInput {
            field,
            reason: "must not contain control characters".into(),
        });
    }
    Ok(())
}

fn check_user_key(key: &UserTokenKey) -> Result<(), StoreError> {
    check_name("user id", &key.user_id)?;
    check_name("connector id", &key.connector_id)?;
    check_name("credential type", &key.credential_type)
}

fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

fn state_value() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn object_or_empty(field: &'static str, v: Value) -> Result<Value, StoreError> {
    match v {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(v),
        _ => Err(StoreError::InvalidInput {
            field,
            reason: "must be a JSON object".into(),
        }),
    }
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn get_shared_token(
        &self,
        connector_id: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        check_name("connector id", connector_id)?;
        let row = sqlx::query(select_tokens!(
            "WHERE scope = 'shared' AND user_id = '' AND connector_id = ? AND credential_type = ?"
        ))
        .bind(connector_id)
        .bind(DEFAULT_CREDENTIAL_TYPE)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| self.token_from_row(&r)).transpose()
    }

    async fn get_shared_token_by_id(
        &self,
        id: &TokenId,
    ) -> Result<Option<TokenRecord>, StoreError> {
        id.expect_scope(TokenScope::Shared)?;
        self.get_token_by_id(id, "").await
    }

    async fn put_shared_token(
        &self,
        connector_id: &str,
        data: TokenData,
    ) -> Result<TokenRecord, StoreError> {
        check_name("connector id", connector_id)?;
        self.put_token(
            TokenScope::Shared,
            "",
            connector_id,
            DEFAULT_CREDENTIAL_TYPE,
            data,
        )
        .await
    }

    async fn update_shared_token(
        &self,
        id: &TokenId,
        expected_version: Option<u64>,
        update: TokenUpdate,
    ) -> Result<TokenRecord, StoreError> {
        id.expect_scope(TokenScope::Shared)?;
        self.update_token(id, "", expected_version, update).await
    }

    async fn revoke_shared_token(&self, id: &TokenId) -> Result<(), StoreError> {
        id.expect_scope(TokenScope::Shared)?;
        self.revoke_token(id, "").await
    }

    async fn delete_shared_token(&self, id: &TokenId) -> Result<bool, StoreError> {
        id.expect_scope(TokenScope::Shared)?;
        self.delete_token(id, "").await
    }

    async fn get_user_token(&self, key: &UserTokenKey) -> Result<Option<TokenRecord>, StoreError> {
        check_user_key(key)?;
        let row = sqlx::query(select_tokens!(
            "WHERE scope = 'per-user' AND user_id = ? AND connector_id = ? AND credential_type = ?"
        ))
        .bind(&key.user_id)
        .bind(&key.connector_id)
        .bind(&key.credential_type)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| self.token_from_row(&r)).transpose()
    }

    async fn get_user_token_by_id(
        &self,
        user_id: &str,
        id: &TokenId,
    ) -> Result<Option<TokenRecord>, StoreError> {
        id.expect_scope(TokenScope::PerUser)?;
        check_name("user id", user_id)?;
        self.get_token_by_id(id, user_id).await
    }

    async fn put_user_token(
        &self,
        key: &UserTokenKey,
        data: TokenData,
    ) -> Result<TokenRecord, StoreError> {
        check_user_key(key)?;
        self.put_token(
            TokenScope::PerUser,
            &key.user_id,
            &key.connector_id,
            &key.credential_type,
            data,
        )
        .await
    }

    async fn update_user_token(
        &self,
        user_id: &str,
        id: &TokenId,
        expected_version: Option<u64>,
        update: TokenUpdate,
    ) -> Result<TokenRecord, StoreError> {
        id.expect_scope(TokenScope::PerUser)?;
        check_name("user id", user_id)?;
        self.update_token(id, user_id, expected_version, update)
            .await
    }

    async fn revoke_user_token(&self, user_id: &str, id: &TokenId) -> Result<(), StoreError> {
        id.expect_scope(TokenScope::PerUser)?;
        check_name("user id", user_id)?;
        self.revoke_token(id, user_id).await
    }

    async fn touch_user_token(
        &self,
        user_id: &str,
        id: &TokenId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        id.expect_scope(TokenScope::PerUser)?;
        check_name("user id", user_id)?;
        let done = sqlx::query(
            "UPDATE tokens SET last_used_at = MAX(COALESCE(last_used_at, ?), ?) \
             WHERE id = ? AND user_id = ?",
        )
        .bind(now.0)
        .bind(now.0)
        .bind(id.to_string())
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(self.diagnose_token(id, user_id, None).await)
        }
    }

    async fn delete_user_token(&self, user_id: &str, id: &TokenId) -> Result<bool, StoreError> {
        id.expect_scope(TokenScope::PerUser)?;
        check_name("user id", user_id)?;
        self.delete_token(id, user_id).await
    }

    async fn delete_user_tokens(
        &self,
        user_id: &str,
        connector_id: &str,
    ) -> Result<u64, StoreError> {
        check_name("user id", user_id)?;
        check_name("connector id", connector_id)?;
        let done = sqlx::query(
            "DELETE FROM tokens WHERE scope = 'per-user' AND user_id = ? AND connector_id = ?",
        )
        .bind(user_id)
        .bind(connector_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<TokenRecord>, StoreError> {
        check_name("user id", user_id)?;
        let rows = sqlx::query(select_tokens!(
            "WHERE scope = 'per-user' AND user_id = ? ORDER BY connector_id, credential_type"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| self.token_from_row(r)).collect()
    }

    async fn insert_state(&self, new: NewOAuthState) -> Result<OAuthStateRecord, StoreError> {
        check_name("connector id", &new.connector_id)?;
        check_name("user id", &new.user_id)?;
        check_name("credential type", &new.credential_type)?;
        if new.expires_at <= new.created_at {
            return Err(StoreError::InvalidInput {
                field: "expires_at",
                reason: "must be after created_at".into(),
            });
        }
        let record = OAuthStateRecord {
            state: state_value(),
            connector_id: new.connector_id,
            user_id: new.user_id,
            credential_type: new.credential_type,
            tenant: new.tenant,
            return_url: new.return_url,
            pkce_verifier: new.pkce_verifier,
            metadata: new.metadata,
            created_at: new.created_at,
            expires_at: new.expires_at,
            consumed_at: None,
        };
        let sealed = self.seal_str(&record.pkce_verifier, &Self::verifier_aad(&record))?;
        sqlx::query(
            "INSERT INTO oauth_states (state, connector_id, user_id, credential_type, tenant, \
             return_url, pkce_verifier, metadata, created_at, expires_at, consumed_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
        )
        .bind(&record.state)
        .bind(&record.connector_id)
        .bind(&record.user_id)
        .bind(&record.credential_type)
        .bind(&record.tenant)
        .bind(&record.return_url)
        .bind(sealed)
        .bind(record.metadata.to_string())
        .bind(record.created_at.0)
        .bind(record.expires_at.0)
        .execute(&self.pool)
        .await?;
        Ok(record)
    }

    async fn consume_state(
        &self,
        state: &str,
        user_id: &str,
        now: Timestamp,
    ) -> Result<OAuthStateRecord, StoreError> {
        if state.is_empty() || state.len() > 512 {
            return Err(StoreError::StateNotFound);
        }
        check_name("user id", user_id)?;
        // BEGIN IMMEDIATE takes the write lock first, so the checks and the update are one
        // atomic step: of two concurrent callbacks exactly one consumes the state.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(concat!(
            "SELECT state, connector_id, user_id, credential_type, tenant, return_url, \
             pkce_verifier, metadata, created_at, expires_at, consumed_at ",
            "FROM oauth_states WHERE state = ?"
        ))
        .bind(state)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::StateNotFound)?;
        let (mut record, sealed) = self.state_from_row(&row)?;
        if record.user_id != user_id {
            return Err(StoreError::StateUserMismatch);
        }
        if record.consumed_at.is_some() {
            return Err(StoreError::StateAlreadyUsed);
        }
        if record.expires_at <= now {
            return Err(StoreError::StateExpired);
        }
        let sealed = sealed.ok_or_else(|| StoreError::Corrupt {
            what: "an unconsumed state without a verifier".into(),
        })?;
        record.pkce_verifier = self.open_secret(&sealed, &Self::verifier_aad(&record))?;
        sqlx::query(
            "UPDATE oauth_states SET consumed_at = ?, pkce_verifier = NULL WHERE state = ?",
        )
        .bind(now.0)
        .bind(state)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        record.consumed_at = Some(now);
        Ok(record)
    }

    async fn delete_state(&self, state: &str, user_id: &str) -> Result<bool, StoreError> {
        check_name("user id", user_id)?;
        let done = sqlx::query("DELETE FROM oauth_states WHERE state = ? AND user_id = ?")
            .bind(state)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM oauth_states WHERE state = ?")
            .bind(state)
            .fetch_optional(&self.pool)
            .await?;
        match exists {
            Some(_) => Err(StoreError::StateUserMismatch),
            None => Ok(false),
        }
    }

    async fn create_instance(
        &self,
        new: NewConnectorInstance,
    ) -> Result<ConnectorInstanceRecord, StoreError> {
        let id = new.id.unwrap_or_else(|| random_hex(16));
        check_name("instance id", &id)?;
        check_name("connector type", &new.connector_type)?;
        check_name("instance name", &new.name)?;
        let config = object_or_empty("config", new.config)?;
        let sealed = self.seal_secrets(&id, &new.secrets)?;
        let now = Timestamp::now();
        let auth_mode = new.auth_type.auth_mode();
        let result = sqlx::query(
            "INSERT INTO connector_instances (id, connector_type, name, auth_type, auth_mode, \
             config, secrets, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(&new.connector_type)
        .bind(&new.name)
        .bind(new.auth_type.as_str())
        .bind(auth_mode.as_str())
        .bind(config.to_string())
        .bind(sealed)
        .bind(now.0)
        .bind(now.0)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::InstanceExists { id });
            }
            Err(e) => return Err(e.into()),
        }
        Ok(ConnectorInstanceRecord {
            id,
            connector_type: new.connector_type,
            name: new.name,
            auth_type: new.auth_type,
            auth_mode,
            config,
            secrets: new.secrets,
            created_at: now,
            updated_at: now,
        })
    }

    async fn get_instance(&self, id: &str) -> Result<Option<ConnectorInstanceRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM connector_instances WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| self.instance_from_row(&r)).transpose()
    }

    async fn list_instances(&self) -> Result<Vec<ConnectorInstanceRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM connector_instances ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| self.instance_from_row(r)).collect()
    }

    async fn update_instance(
        &self,
        id: &str,
        update: InstanceUpdate,
    ) -> Result<ConnectorInstanceRecord, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query("SELECT * FROM connector_instances WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::InstanceNotFound { id: id.to_string() })?;
        let mut record = self.instance_from_row(&row)?;
        if let Some(name) = update.name {
            check_name("instance name", &name)?;
            record.name = name;
        }
        if let Some(t) = update.auth_type {
            record.auth_type = t;
            record.auth_mode = t.auth_mode();
        }
        if let Some(c) = update.config {
            record.config = object_or_empty("config", c)?;
        }
        if let Some(s) = update.secrets {
            record.secrets = s;
        }
        record.updated_at = Timestamp::now();
        let sealed = self.seal_secrets(id, &record.secrets)?;
        sqlx::query(
            "UPDATE connector_instances SET name = ?, auth_type = ?, auth_mode = ?, config = ?, \
             secrets = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&record.name)
        .bind(record.auth_type.as_str())
        .bind(record.auth_mode.as_str())
        .bind(record.config.to_string())
        .bind(sealed)
        .bind(record.updated_at.0)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn delete_instance(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query("DELETE FROM connector_instances WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM tokens WHERE connector_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM oauth_states WHERE connector_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn cleanup(
        &self,
        now: Timestamp,
        policy: &CleanupPolicy,
    ) -> Result<CleanupReport, StoreError> {
        let cutoff = now.minus(policy.unused_token_ttl);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let states = sqlx::query("DELETE FROM oauth_states WHERE expires_at <= ?")
            .bind(now.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let tokens = sqlx::query(
            "DELETE FROM tokens WHERE scope = 'per-user' \
             AND MAX(updated_at, COALESCE(last_used_at, updated_at)) < ?",
        )
        .bind(cutoff.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(CleanupReport {
            states_deleted: states,
            tokens_deleted: tokens,
        })
    }

    async fn rotate_keys(&self) -> Result<RotationReport, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let report = self.rotate_in(&mut tx).await?;
        tx.commit().await?;
        Ok(report)
    }
}
