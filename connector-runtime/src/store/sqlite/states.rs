//! [`OAuthStateStore`] on the `oauth_states` table: the PKCE verifier is sealed and erased
//! when the state is consumed.

use async_trait::async_trait;
use base64::Engine;
use secrecy::SecretString;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStore, check_name};
use crate::store::crypto::Aad;
use crate::store::error::StoreError;
use crate::store::states::{NewOAuthState, OAuthStateRecord, OAuthStateStore, PendingState};
use crate::store::timestamp::Timestamp;

impl SqliteStore {
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

    pub(super) fn verifier_aad(r: &OAuthStateRecord) -> Aad {
        Aad::state(&r.state, &r.user_id, &r.connector_id, "pkce_verifier")
    }
}

fn state_value() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[async_trait]
impl OAuthStateStore for SqliteStore {
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

    async fn peek_state(&self, state: &str) -> Result<Option<PendingState>, StoreError> {
        if state.is_empty() || state.len() > 512 {
            return Ok(None);
        }
        let row = sqlx::query(concat!(
            "SELECT state, connector_id, user_id, credential_type, tenant, return_url, \
             pkce_verifier, metadata, created_at, expires_at, consumed_at ",
            "FROM oauth_states WHERE state = ?"
        ))
        .bind(state)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (record, _) = self.state_from_row(&row)?;
        Ok(Some(record.pending()))
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
}
