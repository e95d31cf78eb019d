//! Opening the SQLite file: private folder and file modes, then one pool with the journal and
//! durability settings every store relies on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::store::error::StoreError;

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

/// Prepare the file ([`prepare_private_db`]) and open a pool of 4 connections: WAL journal,
/// `synchronous=FULL` (a commit is on disk when the call returns), 30 s busy timeout.
pub(super) async fn connect(path: &Path) -> Result<SqlitePool, StoreError> {
    open_pool(path, SqliteSynchronous::Full, 4).await
}

/// One connection for the audit trail, with `synchronous=NORMAL`: in WAL mode a commit is
/// then not synced on its own but with the next checkpoint or `FULL` commit. An event per
/// action must not cost an fsync per action (`docs/performance.md`, server load); what a
/// power loss (not a crash of the process) can cost is the last events before it.
pub(super) async fn connect_audit(path: &Path) -> Result<SqlitePool, StoreError> {
    open_pool(path, SqliteSynchronous::Normal, 1).await
}

async fn open_pool(
    path: &Path,
    sync: SqliteSynchronous,
    connections: u32,
) -> Result<SqlitePool, StoreError> {
    prepare_private_db(path)?;
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(sync)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(30));
    SqlitePoolOptions::new()
        .max_connections(connections)
        .connect_with(options)
        .await
        .map_err(|e| StoreError::Database(format!("cannot open {}: {e}", path.display())))
}
