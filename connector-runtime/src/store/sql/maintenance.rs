//! The [`Maintenance`](crate::store::Maintenance) of both SQL backends, written once (see
//! `store/sql/tokens.rs` for the conventions): cleanup, key rotation (one transaction across
//! the tokens, states and instances tables) and key usage. A backend adds two hooks:
//! `cleanup_gate(&mut tx) -> Result<bool, StoreError>` (false: another process is cleaning,
//! skip) and `after_rotate(&mut tx)` (re-seal what else it holds).

/// `maintenance!(Store, Database, begin = "BEGIN IMMEDIATE", greatest = "MAX")`.
macro_rules! maintenance {
    ($store:ty, $db:ty, begin = $begin:literal, greatest = $greatest:literal) => {
        const _: () = {
            use std::collections::BTreeMap;

            use async_trait::async_trait;
            use sqlx::Transaction;

            use $crate::store::crypto::{Aad, Keyring};
            use $crate::store::error::StoreError;
            use $crate::store::maintenance::{
                CleanupPolicy, CleanupReport, Maintenance, RotationReport,
            };
            use $crate::store::sql::{self, Columns};
            use $crate::store::timestamp::Timestamp;

        impl $store {
            async fn rotate_in(
                &self,
                tx: &mut Transaction<'static, $db>,
            ) -> Result<RotationReport, StoreError> {
                let mut report = RotationReport::default();
                let rows = sqlx::query(
                    "SELECT id, scope, user_id, connector_id, credential_type, access_token, refresh_token \
                     FROM tokens",
                )
                .fetch_all(&mut **tx)
                .await?;
                for row in rows {
                    let id = row.text("id")?;
                    let scope = sql::scope_of(&row.text("scope")?);
                    let user = row.text("user_id")?;
                    let connector = row.text("connector_id")?;
                    let ct = row.text("credential_type")?;
                    let aad = |field| sql::token_aad(scope, &user, &connector, &ct, field);
                    let access = row.blob("access_token")?;
                    let access = sql::reseal(&self.keys, &access, &aad("access_token"))?;
                    let refresh = row.blob_opt("refresh_token")?;
                    let refresh = refresh
                        .map(|r| sql::reseal(&self.keys, &r, &aad("refresh_token")))
                        .transpose()?;
                    report.values += 1 + u64::from(refresh.is_some());
                    sqlx::query("UPDATE tokens SET access_token = $1, refresh_token = $2 WHERE id = $3")
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
                    let state = row.text("state")?;
                    let user = row.text("user_id")?;
                    let connector = row.text("connector_id")?;
                    let sealed = row.blob("pkce_verifier")?;
                    let fresh = sql::reseal(&self.keys,
                        &sealed,
                        &Aad::state(&state, &user, &connector, "pkce_verifier"),
                    )?;
                    sqlx::query("UPDATE oauth_states SET pkce_verifier = $1 WHERE state = $2")
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
                    let id = row.text("id")?;
                    let sealed = row.blob("secrets")?;
                    let fresh = sql::reseal(&self.keys, &sealed, &Aad::instance(&id, "secrets"))?;
                    sqlx::query("UPDATE connector_instances SET secrets = $1 WHERE id = $2")
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
        impl Maintenance for $store {
            async fn cleanup(
                &self,
                now: Timestamp,
                policy: &CleanupPolicy,
            ) -> Result<CleanupReport, StoreError> {
                let mut tx = self.pool.begin_with($begin).await?;
                if !self.cleanup_gate(&mut tx).await? {
                    return Ok(CleanupReport {
                        skipped: true,
                        ..CleanupReport::default()
                    });
                }
                let cutoff = now.minus(policy.unused_token_ttl);
                let states = sqlx::query("DELETE FROM oauth_states WHERE expires_at <= $1")
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let tokens = sqlx::query(concat!(
                    "DELETE FROM tokens WHERE scope = 'per-user' AND ",
                    $greatest,
                    "(updated_at, COALESCE(last_used_at, updated_at)) < $1"
                ))
                .bind(cutoff.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let audit_events = sqlx::query("DELETE FROM audit_events WHERE at < $1")
                    .bind(now.minus(policy.audit_retention).0)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(CleanupReport {
                    states_deleted: states,
                    tokens_deleted: tokens,
                    audit_events_deleted: audit_events,
                    skipped: false,
                })
            }

            async fn rotate_keys(&self) -> Result<RotationReport, StoreError> {
                let mut tx = self.pool.begin_with($begin).await?;
                let report = self.rotate_in(&mut tx).await?;
                self.after_rotate(&mut tx).await?;
                tx.commit().await?;
                Ok(report)
            }

            async fn key_usage(&self) -> Result<BTreeMap<String, u64>, StoreError> {
                let mut usage = BTreeMap::new();
                for (column, sql) in [
                    ("access_token", "SELECT access_token FROM tokens"),
                    (
                        "refresh_token",
                        "SELECT refresh_token FROM tokens WHERE refresh_token IS NOT NULL",
                    ),
                    (
                        "pkce_verifier",
                        "SELECT pkce_verifier FROM oauth_states WHERE pkce_verifier IS NOT NULL",
                    ),
                    ("secrets", "SELECT secrets FROM connector_instances"),
                ] {
                    for row in sqlx::query(sql).fetch_all(&self.pool).await? {
                        let blob = row.blob(column)?;
                        let id = Keyring::sealed_key_id(&blob)?;
                        *usage.entry(id.to_string()).or_insert(0) += 1;
                    }
                }
                Ok(usage)
            }
        }
        };
    };
}

pub(crate) use maintenance;
