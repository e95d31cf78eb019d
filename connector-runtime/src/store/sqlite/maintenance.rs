//! [`Maintenance`] over the whole file: cleanup, key rotation (one transaction across the
//! tokens, states and instances tables) and key usage.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::{Row, Sqlite, Transaction};

use super::SqliteStore;
use crate::store::crypto::{Aad, Keyring};
use crate::store::error::StoreError;
use crate::store::maintenance::{CleanupPolicy, CleanupReport, Maintenance, RotationReport};
use crate::store::scope::TokenScope;
use crate::store::timestamp::Timestamp;

impl SqliteStore {
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
}

#[async_trait]
impl Maintenance for SqliteStore {
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
        let audit_events = sqlx::query("DELETE FROM audit_events WHERE at < ?")
            .bind(now.minus(policy.audit_retention).0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(CleanupReport {
            states_deleted: states,
            tokens_deleted: tokens,
            audit_events_deleted: audit_events,
        })
    }

    async fn rotate_keys(&self) -> Result<RotationReport, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let report = self.rotate_in(&mut tx).await?;
        tx.commit().await?;
        Ok(report)
    }

    async fn key_usage(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut usage = BTreeMap::new();
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
}
