//! The [`TokenStore`](crate::store::TokenStore) of both SQL backends, written once:
//! [`token_store!`] expands to the impl for a store type with fields `pool`, `keys` and
//! `locks` and methods `seal_str`. The SQL is the subset both dialects read (`$n`
//! placeholders, `TRUE`/`FALSE`, `CAST`, `RETURNING`); what differs is a parameter.
//! `check_name` is resolved where the macro is used.

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
macro_rules! returning_tokens {
    ($sql:literal) => {
        concat!(
            $sql,
            " RETURNING id, scope, user_id, connector_id, credential_type, access_token, \
             refresh_token, token_type, granted_scope, expires_at, refresh_token_expires_at, \
             created_at, updated_at, last_used_at, revoked, version, refresh_failed_at"
        )
    };
}

/// `token_store!(Store, greatest = "MAX")`: the two-argument maximum is `MAX` in SQLite,
/// `GREATEST` in PostgreSQL.
macro_rules! token_store {
    ($store:ty, greatest = $greatest:literal) => {
        const _: () = {
            use std::sync::Arc;

            use async_trait::async_trait;

            use $crate::store::error::StoreError;
            use $crate::store::locks::RefreshLocks;
            use $crate::store::scope::TokenScope;
            use $crate::store::sql::{self, Columns, check_user_key};
            use $crate::store::timestamp::Timestamp;
            use $crate::store::tokens::{
                DEFAULT_CREDENTIAL_TYPE, TokenData, TokenId, TokenRecord, TokenStore, TokenUpdate,
                UserTokenKey,
            };

        impl $store {
            /// Create or replace the token of `(scope, user, connector, credential type)`.
            async fn put_token(
                &self,
                scope: TokenScope,
                user: &str,
                connector: &str,
                credential_type: &str,
                data: TokenData,
            ) -> Result<TokenRecord, StoreError> {
                let aad = |field| sql::token_aad(scope, user, connector, credential_type, field);
                let access = sql::seal_str(&self.keys, &data.access_token, &aad("access_token"))?;
                let refresh = data
                    .refresh_token
                    .as_ref()
                    .map(|r| sql::seal_str(&self.keys, r, &aad("refresh_token")))
                    .transpose()?;
                let now = Timestamp::now().0;
                let row = sqlx::query($crate::store::sql::tokens::returning_tokens!(
                    "INSERT INTO tokens (id, scope, user_id, connector_id, credential_type, access_token, \
                     refresh_token, token_type, granted_scope, expires_at, refresh_token_expires_at, \
                     created_at, updated_at, last_used_at, revoked, version) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, NULL, FALSE, 1) \
                     ON CONFLICT (scope, user_id, connector_id, credential_type) DO UPDATE SET \
                     access_token = excluded.access_token, refresh_token = excluded.refresh_token, \
                     token_type = excluded.token_type, granted_scope = excluded.granted_scope, \
                     expires_at = excluded.expires_at, \
                     refresh_token_expires_at = excluded.refresh_token_expires_at, \
                     updated_at = excluded.updated_at, revoked = FALSE, refresh_failed_at = NULL, \
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
                .fetch_one(&self.pool)
                .await?;
                sql::token_from_row(&self.keys, &row)
            }

            /// Why an update of token `id` for `user` (empty: shared) matched no row.
            async fn diagnose_token(
                &self,
                id: &TokenId,
                user: &str,
                expected_version: Option<u64>,
            ) -> StoreError {
                let row = sqlx::query("SELECT user_id, version FROM tokens WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await;
                match row {
                    Err(e) => e.into(),
                    Ok(r) => {
                        let found = r.map(|r| {
                            let owner = r.text("user_id").unwrap_or_default();
                            (owner, r.int("version").unwrap_or(0))
                        });
                        sql::diagnose_token(id, user, expected_version, found)
                    }
                }
            }

            async fn get_token_by_id(
                &self,
                id: &TokenId,
                user: &str,
            ) -> Result<Option<TokenRecord>, StoreError> {
                let row = sqlx::query($crate::store::sql::tokens::select_tokens!("WHERE id = $1"))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    None => Ok(None),
                    Some(row) => {
                        let owner = row.text("user_id")?;
                        if owner != user {
                            return Err(StoreError::NotOwner { id: id.to_string() });
                        }
                        sql::token_from_row(&self.keys, &row).map(Some)
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
                    "SELECT user_id, connector_id, credential_type, version FROM tokens WHERE id = $1",
                )
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| StoreError::TokenNotFound { id: id.to_string() })?;
                let owner = row.text("user_id")?;
                if owner != user {
                    return Err(StoreError::NotOwner { id: id.to_string() });
                }
                let connector = row.text("connector_id")?;
                let credential_type = row.text("credential_type")?;
                let expected = expected_version.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
                let scope = id.scope();
                let aad = |field| sql::token_aad(scope, user, &connector, &credential_type, field);
                let access = sql::seal_str(&self.keys, &update.access_token, &aad("access_token"))?;
                let refresh = update
                    .refresh_token
                    .as_ref()
                    .map(|r| sql::seal_str(&self.keys, r, &aad("refresh_token")))
                    .transpose()?;
                let has_refresh = refresh.is_some();
                let row = sqlx::query($crate::store::sql::tokens::returning_tokens!(
                    "UPDATE tokens SET access_token = $1, \
                     refresh_token = CASE WHEN $2 THEN $3 ELSE refresh_token END, \
                     refresh_token_expires_at = CASE WHEN $2 THEN $4 ELSE refresh_token_expires_at END, \
                     token_type = COALESCE($5, token_type), granted_scope = COALESCE($6, granted_scope), \
                     expires_at = $7, updated_at = $8, refresh_failed_at = NULL, version = version + 1 \
                     WHERE id = $9 AND user_id = $10 AND (CAST($11 AS BIGINT) IS NULL OR version = $11)"
                ))
                .bind(access)
                .bind(has_refresh)
                .bind(refresh)
                .bind(update.refresh_token_expires_at.map(|t| t.0))
                .bind(update.token_type)
                .bind(update.scope)
                .bind(update.expires_at.map(|t| t.0))
                .bind(Timestamp::now().0)
                .bind(id.to_string())
                .bind(user)
                .bind(expected)
                .fetch_optional(&self.pool)
                .await?;
                match row {
                    Some(row) => sql::token_from_row(&self.keys, &row),
                    None => Err(self.diagnose_token(id, user, expected_version).await),
                }
            }

            async fn revoke_token(&self, id: &TokenId, user: &str) -> Result<(), StoreError> {
                let done = sqlx::query(
                    "UPDATE tokens SET revoked = TRUE, updated_at = $1, version = version + 1 \
                     WHERE id = $2 AND user_id = $3",
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
                let done = sqlx::query("DELETE FROM tokens WHERE id = $1 AND user_id = $2")
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

        #[async_trait]
        impl TokenStore for $store {
            async fn get_shared_token(
                &self,
                connector_id: &str,
            ) -> Result<Option<TokenRecord>, StoreError> {
                check_name("connector id", connector_id)?;
                let row = sqlx::query($crate::store::sql::tokens::select_tokens!(
                    "WHERE scope = 'shared' AND user_id = '' AND connector_id = $1 AND credential_type = $2"
                ))
                .bind(connector_id)
                .bind(DEFAULT_CREDENTIAL_TYPE)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| sql::token_from_row(&self.keys, &r)).transpose()
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
                let row = sqlx::query($crate::store::sql::tokens::select_tokens!(
                    "WHERE scope = 'per-user' AND user_id = $1 AND connector_id = $2 AND credential_type = $3"
                ))
                .bind(&key.user_id)
                .bind(&key.connector_id)
                .bind(&key.credential_type)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| sql::token_from_row(&self.keys, &r)).transpose()
            }

            async fn set_user_account(
                &self,
                key: &UserTokenKey,
                account: &serde_json::Map<String, serde_json::Value>,
            ) -> Result<(), StoreError> {
                check_user_key(key)?;
                let text = serde_json::to_string(account).map_err(|e| StoreError::InvalidInput {
                    field: "account",
                    reason: e.to_string(),
                })?;
                sqlx::query(
                    "UPDATE tokens SET account = $1 WHERE scope = 'per-user' AND user_id = $2 \
                     AND connector_id = $3 AND credential_type = $4",
                )
                .bind(text)
                .bind(&key.user_id)
                .bind(&key.connector_id)
                .bind(&key.credential_type)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn get_user_account(
                &self,
                key: &UserTokenKey,
            ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, StoreError> {
                check_user_key(key)?;
                let row = sqlx::query(
                    "SELECT account FROM tokens WHERE scope = 'per-user' AND user_id = $1 \
                     AND connector_id = $2 AND credential_type = $3",
                )
                .bind(&key.user_id)
                .bind(&key.connector_id)
                .bind(&key.credential_type)
                .fetch_optional(&self.pool)
                .await?;
                let Some(text) = row.map(|r| r.text_opt("account")).transpose()?.flatten() else {
                    return Ok(None);
                };
                serde_json::from_str(&text).map(Some).map_err(|e| {
                    StoreError::Database(format!("a stored account value is not a JSON object: {e}"))
                })
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
                sqlx::query("UPDATE tokens SET refresh_failed_at = $1 WHERE id = $2")
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
                    concat!(
                        "UPDATE tokens SET last_used_at = ",
                        $greatest,
                        "(COALESCE(last_used_at, $1), $1) WHERE id = $2 AND user_id = $3"
                    ),
                )
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
                    "DELETE FROM tokens WHERE scope = 'per-user' AND user_id = $1 AND connector_id = $2",
                )
                .bind(user_id)
                .bind(connector_id)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<TokenRecord>, StoreError> {
                check_name("user id", user_id)?;
                let rows = sqlx::query($crate::store::sql::tokens::select_tokens!(
                    "WHERE scope = 'per-user' AND user_id = $1 ORDER BY connector_id, credential_type"
                ))
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|r| sql::token_from_row(&self.keys, r)).collect()
            }

            fn refresh_locks(&self) -> Arc<dyn RefreshLocks> {
                Arc::new(self.locks.clone())
            }
        }
        };
    };
}

pub(crate) use {returning_tokens, select_tokens, token_store};
