//! The [`UserStore`](crate::store::UserStore) of both SQL backends, written once (see
//! `store/sql/tokens.rs` for the conventions). Nothing in it is sealed: keys are stored as
//! SHA-256 hashes.

/// `user_store!(Store, Database, begin = "BEGIN IMMEDIATE")`: the store type (field `pool`),
/// its sqlx database, and how a write transaction starts.
macro_rules! user_store {
    ($store:ty, $db:ty, begin = $begin:literal) => {
        const _: () = {
            use async_trait::async_trait;
            use sqlx::Transaction;

            use $crate::store::error::StoreError;
            use $crate::store::sql::{Columns, TOUCH_EVERY_MS, key_from_row, new_key_id, user_from_row};
            use $crate::store::timestamp::Timestamp;
            use $crate::store::users::{
                ApiKey, Authenticated, DEFAULT_KEY_NAME, KeyInfo, User, UserStore, check_key_name,
                check_user_name, new_user_id, presented_key_sha256,
            };

        /// The user named `name` inside `tx`, or [`StoreError::UserNotFound`].
        async fn user_in(tx: &mut Transaction<'_, $db>, name: &str) -> Result<User, StoreError> {
            find_user(&mut **tx, name)
                .await?
                .ok_or_else(|| StoreError::UserNotFound {
                    name: name.to_string(),
                })
        }

        /// The user named `name`, read through `ex` (the pool or a transaction).
        async fn find_user<'e, E>(ex: E, name: &str) -> Result<Option<User>, StoreError>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let row = sqlx::query("SELECT id, name, admin, disabled FROM server_users WHERE name = $1")
                .bind(name)
                .fetch_optional(ex)
                .await?;
            row.as_ref().map(|r| user_from_row(r)).transpose()
        }

        /// Give `name` a fresh key named `key_name` in one transaction; with `replace`, the key
        /// of that name must exist and is deleted first (a rotation).
        async fn write_key(
            pool: &sqlx::Pool<$db>,
            name: &str,
            key_name: &str,
            expires_at: Option<Timestamp>,
            replace: bool,
        ) -> Result<ApiKey, StoreError> {
            check_key_name(key_name)?;
            let mut tx = pool.begin_with($begin).await?;
            let user = user_in(&mut tx, name).await?;
            if replace {
                delete_key(&mut tx, &user, key_name).await?;
            }
            let key = insert_key(&mut tx, &user, key_name, expires_at).await?;
            tx.commit().await?;
            Ok(key)
        }

        /// Insert a fresh key named `key_name` for `user_id`.
        async fn insert_key(
            tx: &mut Transaction<'_, $db>,
            user: &User,
            key_name: &str,
            expires_at: Option<Timestamp>,
        ) -> Result<ApiKey, StoreError> {
            check_key_name(key_name)?;
            let key = ApiKey::generate();
            let r = sqlx::query(
                "INSERT INTO server_user_keys (id, user_id, name, key_sha256, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(new_key_id())
            .bind(&user.id)
            .bind(key_name)
            .bind(&key.sha256)
            .bind(Timestamp::now().as_millis())
            .bind(expires_at.map(Timestamp::as_millis))
            .execute(&mut **tx)
            .await;
            match r {
                Ok(_) => Ok(key),
                Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Err(StoreError::KeyExists {
                    user: user.name.clone(),
                    key: key_name.to_string(),
                }),
                Err(e) => Err(e.into()),
            }
        }

        /// Delete `user`'s key named `key_name`, or [`StoreError::KeyNotFound`].
        async fn delete_key(
            tx: &mut Transaction<'_, $db>,
            user: &User,
            key_name: &str,
        ) -> Result<(), StoreError> {
            let r = sqlx::query("DELETE FROM server_user_keys WHERE user_id = $1 AND name = $2")
                .bind(&user.id)
                .bind(key_name)
                .execute(&mut **tx)
                .await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::KeyNotFound {
                    user: user.name.clone(),
                    key: key_name.to_string(),
                });
            }
            Ok(())
        }

        #[async_trait]
        impl UserStore for $store {
            async fn add_user(
                &self,
                name: &str,
                admin: bool,
                expires_at: Option<Timestamp>,
            ) -> Result<(User, ApiKey), StoreError> {
                check_user_name(name)?;
                let user = User {
                    id: new_user_id(),
                    name: name.to_string(),
                    admin,
                    disabled: false,
                };
                let mut tx = self.pool.begin_with($begin).await?;
                let r = sqlx::query(
                    "INSERT INTO server_users (id, name, admin, disabled, created_at) \
                     VALUES ($1, $2, $3, FALSE, $4)",
                )
                .bind(&user.id)
                .bind(name)
                .bind(admin)
                .bind(Timestamp::now().as_millis())
                .execute(&mut *tx)
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
                let key = insert_key(&mut tx, &user, DEFAULT_KEY_NAME, expires_at).await?;
                tx.commit().await?;
                Ok((user, key))
            }

            async fn authenticate_key(&self, key: &str) -> Result<Option<Authenticated>, StoreError> {
                let Some(hash) = presented_key_sha256(key) else {
                    return Ok(None);
                };
                let now = Timestamp::now().as_millis();
                let row = sqlx::query(
                    "SELECT u.id, u.name, u.admin, u.disabled, k.id AS key_id, k.name AS key_name, \
                     k.last_used_at \
                     FROM server_user_keys k JOIN server_users u ON u.id = k.user_id \
                     WHERE k.key_sha256 = $1 AND u.disabled = FALSE \
                     AND (k.expires_at IS NULL OR k.expires_at > $2)",
                )
                .bind(hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let key_id = row.text("key_id")?;
                let last_used = row.int_opt("last_used_at")?;
                // Most requests write nothing: only a stale last use is updated (and the guard in the
                // UPDATE keeps two racing requests from both writing).
                if last_used.is_none_or(|t| t < now - TOUCH_EVERY_MS) {
                    sqlx::query(
                        "UPDATE server_user_keys SET last_used_at = $1 \
                     WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
                    )
                    .bind(now)
                    .bind(&key_id)
                    .bind(now - TOUCH_EVERY_MS)
                    .execute(&self.pool)
                    .await?;
                }
                Ok(Some(Authenticated {
                    user: user_from_row(&row)?,
                    key_name: row.text("key_name")?,
                }))
            }

            async fn list_users(&self) -> Result<Vec<User>, StoreError> {
                let rows = sqlx::query("SELECT id, name, admin, disabled FROM server_users ORDER BY name")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| user_from_row(r)).collect()
            }

            async fn get_user(&self, name: &str) -> Result<Option<User>, StoreError> {
                find_user(&self.pool, name).await
            }

            async fn remove_user(&self, name: &str) -> Result<User, StoreError> {
                let mut tx = self.pool.begin_with($begin).await?;
                let user = user_in(&mut tx, name).await?;
                for sql in [
                    "DELETE FROM tokens WHERE scope = 'per-user' AND user_id = $1",
                    "DELETE FROM oauth_states WHERE user_id = $1",
                    "DELETE FROM server_user_keys WHERE user_id = $1",
                    "DELETE FROM server_users WHERE id = $1",
                ] {
                    sqlx::query(sql).bind(&user.id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(user)
            }

            async fn set_disabled(&self, name: &str, disabled: bool) -> Result<User, StoreError> {
                let row = sqlx::query(
                    "UPDATE server_users SET disabled = $1 WHERE name = $2 \
                     RETURNING id, name, admin, disabled",
                )
                .bind(disabled)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
                match row {
                    Some(r) => user_from_row(&r),
                    None => Err(StoreError::UserNotFound {
                        name: name.to_string(),
                    }),
                }
            }

            async fn add_key(
                &self,
                name: &str,
                key_name: &str,
                expires_at: Option<Timestamp>,
            ) -> Result<ApiKey, StoreError> {
                write_key(&self.pool, name, key_name, expires_at, false).await
            }

            async fn rotate_key(
                &self,
                name: &str,
                key_name: &str,
                expires_at: Option<Timestamp>,
            ) -> Result<ApiKey, StoreError> {
                write_key(&self.pool, name, key_name, expires_at, true).await
            }

            async fn list_keys(&self, name: &str) -> Result<Vec<KeyInfo>, StoreError> {
                let mut tx = self.pool.begin().await?;
                let user = user_in(&mut tx, name).await?;
                let rows = sqlx::query(
                    "SELECT name, created_at, expires_at, last_used_at FROM server_user_keys \
                     WHERE user_id = $1 ORDER BY name",
                )
                .bind(&user.id)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows.iter().map(|r| key_from_row(r)).collect()
            }

            async fn remove_key(&self, name: &str, key_name: &str) -> Result<(), StoreError> {
                let mut tx = self.pool.begin_with($begin).await?;
                let user = user_in(&mut tx, name).await?;
                delete_key(&mut tx, &user, key_name).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
        }
        };
    };
}

pub(crate) use user_store;
