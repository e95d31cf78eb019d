//! Where the local store file lives when no path is given: [`default_store_path`].

use super::error::StoreError;

/// Environment variable naming the store file (overridden by a `--store` option).
pub const STORE_ENV: &str = "CONNECTOR_STORE";
/// Environment variable naming the folder that holds `connector.db`.
pub const HOME_ENV: &str = "CONNECTOR_HOME";
/// The store's file name inside its folder.
pub const STORE_FILE: &str = "connector.db";

/// Where the local store lives when no path is given, first match wins:
/// `$CONNECTOR_STORE`; `$CONNECTOR_HOME/connector.db`; `$XDG_DATA_HOME/connector/connector.db`;
/// `$HOME/.local/share/connector/connector.db` (`%APPDATA%\connector\connector.db` on
/// Windows). Empty variables count as unset.
pub fn default_store_path() -> Result<std::path::PathBuf, StoreError> {
    use std::path::PathBuf;
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(p) = var(STORE_ENV) {
        return Ok(PathBuf::from(p));
    }
    if let Some(home) = var(HOME_ENV) {
        return Ok(PathBuf::from(home).join(STORE_FILE));
    }
    if let Some(data) = var("XDG_DATA_HOME") {
        return Ok(PathBuf::from(data).join("connector").join(STORE_FILE));
    }
    if cfg!(windows)
        && let Some(app) = var("APPDATA")
    {
        return Ok(PathBuf::from(app).join("connector").join(STORE_FILE));
    }
    if let Some(home) = var("HOME") {
        return Ok(PathBuf::from(home)
            .join(".local")
            .join("share")
            .join("connector")
            .join(STORE_FILE));
    }
    Err(StoreError::InvalidInput {
        field: "store path",
        reason: format!(
            "no default location: set {STORE_ENV}, {HOME_ENV} or HOME, or pass --store"
        ),
    })
}
