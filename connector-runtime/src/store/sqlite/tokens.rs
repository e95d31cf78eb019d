//! [`TokenStore`] on the `tokens` table: tokens are sealed under associated data naming their
//! scope, user, connector, credential type and field.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStore, check_name};
use crate::store::crypto::Aad;
use crate::store::error::StoreError;
use crate::store::locks::RefreshLocks;
use crate::store::scope::TokenScope;
use crate::store::timestamp::Timestamp;
use crate::store::tokens::{
    DEFAULT_CREDENTIAL_TYPE, TokenData, TokenId, TokenRecord, TokenStore, TokenUpdate, UserTokenKey,
};

/// `SELECT <token columns> FROM tokens` (kept as literals: sqlx takes `&'static str`).
macro_rules! select_tokens {
    ($where:literal) => {
        concat!(
            "SELECT id, scope, user_id, connector_id, credential_type, access_token, \
             refresh_token, token_type, granted_scope, expires_at, refresh_token_expires_at, \
             created_at, updated_at, last_used_at, revoked, version, refresh_failed_at FROM tokens ",
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
             created_at, updated_at, last_used_at, revoked, version, refresh_failed_at"
        )
    };
}

impl SqliteStore {
    pub(super) fn token_aad(
        scope: TokenScope,
        user: &str,
        connector: &str,
        ct: &str,
        field: &'static str,
    ) -> Aad {
        Aad::token(scope.as_str(), user, connector, ct, field)
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
            refresh_failed_at: row
                .try_get::<Option<i64>, _>("refresh_failed_at")?
                .map(Timestamp),
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
             updated_at = excluded.updated_at, revoked = 0, refresh_failed_at = NULL, \
             version = tokens.version + 1"
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
             expires_at = ?, updated_at = ?, refresh_failed_at = NULL, version = version + 1 \
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
}

fn check_user_key(key: &UserTokenKey) -> Result<(), StoreError> {
    check_name("user id", &key.user_id)?;
    check_name("connector id", &key.connector_id)?;
    check_name("credential type", &key.credential_type)
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

    async fn record_refresh_failure(&self, id: &TokenId, now: Timestamp) -> Result<(), StoreError> {
        sqlx::query("UPDATE tokens SET refresh_failed_at = ? WHERE id = ?")
            .bind(now.0)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
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

    fn refresh_locks(&self) -> Arc<dyn RefreshLocks> {
        Arc::new(self.locks.clone())
    }
}
