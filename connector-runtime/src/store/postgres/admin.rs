//! Creating and dropping databases on a server (for tests, `xtask` and first-time setup):
//! [`create_database`], [`drop_database`], [`database_url`].

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::store::error::StoreError;

/// Refuse a database name that is not 1 to 63 lowercase ASCII letters, digits and `_`, so it
/// can be written into `CREATE DATABASE` as it is.
fn check_db_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidInput {
            field: "database name",
            reason: "1 to 63 lowercase ASCII letters, digits and `_`".into(),
        })
    }
}

async fn admin_connection(admin_url: &str) -> Result<PgConnection, StoreError> {
    let shown = super::parse_url(admin_url)?.1;
    PgConnection::connect(admin_url)
        .await
        .map_err(|e| StoreError::Database(format!("cannot connect to {shown}: {e}")))
}

/// `CREATE DATABASE name` on the server of `admin_url` (a URL of any database there, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`).
pub async fn create_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    check_db_name(name)?;
    let mut conn = admin_connection(admin_url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// `DROP DATABASE IF EXISTS name WITH (FORCE)`: sessions still connected to it are ended.
pub async fn drop_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    check_db_name(name)?;
    let mut conn = admin_connection(admin_url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(())
}

/// `admin_url` with its database replaced by `name`.
pub fn database_url(admin_url: &str, name: &str) -> Result<String, StoreError> {
    let mut u = url::Url::parse(admin_url).map_err(|_| StoreError::InvalidInput {
        field: "database URL",
        reason: "not a URL".into(),
    })?;
    u.set_path(&format!("/{name}"));
    Ok(u.to_string())
}
