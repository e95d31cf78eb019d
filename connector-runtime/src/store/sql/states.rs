//! The [`OAuthStateStore`](crate::store::OAuthStateStore) of both SQL backends, written once
//! (see `store/sql/tokens.rs` for the conventions).

/// `state_store!(Store, begin = "BEGIN IMMEDIATE", for_update = "")`: how a transaction that
/// consumes a state starts and locks its row.
macro_rules! state_store {
    ($store:ty, begin = $begin:literal, for_update = $for_update:literal) => {
        const _: () = {
            use async_trait::async_trait;

            use $crate::store::error::StoreError;
            use $crate::store::sql;
            use $crate::store::states::{NewOAuthState, OAuthStateRecord, OAuthStateStore, PendingState};
            use $crate::store::timestamp::Timestamp;

        #[async_trait]
        impl OAuthStateStore for $store {
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
                    state: sql::state_value(),
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
                let sealed = sql::seal_str(&self.keys, &record.pkce_verifier, &sql::verifier_aad(&record))?;
                sqlx::query(
                    "INSERT INTO oauth_states (state, connector_id, user_id, credential_type, tenant, \
                     return_url, pkce_verifier, metadata, created_at, expires_at, consumed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)",
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
                // The transaction locks the row (SQLite: the whole file, `BEGIN IMMEDIATE`) before the
                // checks, so of two concurrent callbacks exactly one consumes the state.
                let mut tx = self.pool.begin_with($begin).await?;
                let row = sqlx::query(concat!(
                    "SELECT state, connector_id, user_id, credential_type, tenant, return_url, \
                     pkce_verifier, metadata, created_at, expires_at, consumed_at ",
                    "FROM oauth_states WHERE state = $1",
                    $for_update
                ))
                .bind(state)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::StateNotFound)?;
                let (mut record, sealed) = sql::state_from_row(&row)?;
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
                record.pkce_verifier = sql::open_secret(&self.keys, &sealed, &sql::verifier_aad(&record))?;
                sqlx::query(
                    "UPDATE oauth_states SET consumed_at = $1, pkce_verifier = NULL WHERE state = $2",
                )
                .bind(now.0)
                .bind(state)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                record.consumed_at = Some(now);
                Ok(record)
            }

            async fn peek_state(&self, state: &str) -> Result<Option<PendingState>, StoreError> {
                if state.is_empty() || state.len() > 512 {
                    return Ok(None);
                }
                let row = sqlx::query(
                    "SELECT state, connector_id, user_id, credential_type, tenant, return_url, \
                     pkce_verifier, metadata, created_at, expires_at, consumed_at \
                     FROM oauth_states WHERE state = $1",
                )
                .bind(state)
                .fetch_optional(&self.pool)
                .await?;
                match row {
                    Some(row) => Ok(Some(sql::state_from_row(&row)?.0.pending())),
                    None => Ok(None),
                }
            }

            async fn delete_state(&self, state: &str, user_id: &str) -> Result<bool, StoreError> {
                check_name("user id", user_id)?;
                let done = sqlx::query("DELETE FROM oauth_states WHERE state = $1 AND user_id = $2")
                    .bind(state)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 1 {
                    return Ok(true);
                }
                let exists: Option<String> =
                    sqlx::query_scalar("SELECT state FROM oauth_states WHERE state = $1")
                    .bind(state)
                    .fetch_optional(&self.pool)
                    .await?;
                match exists {
                    Some(_) => Err(StoreError::StateUserMismatch),
                    None => Ok(false),
                }
            }
        }
        };
    };
}

pub(crate) use state_store;
