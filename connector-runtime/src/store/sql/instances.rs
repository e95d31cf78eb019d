//! The [`InstanceStore`](crate::store::InstanceStore) of both SQL backends, written once (see
//! `store/sql/tokens.rs` for the conventions): secrets are one sealed JSON object.

/// `instance_store!(Store, begin = "BEGIN IMMEDIATE", for_update = "")`: how a
/// read-modify-write transaction starts and locks the rows it reads.
macro_rules! instance_store {
    ($store:ty, begin = $begin:literal, for_update = $for_update:literal) => {
        const _: () = {
            use async_trait::async_trait;

            use $crate::secrets::Secrets;
            use $crate::store::error::StoreError;
            use $crate::store::instances::{
                ConnectorInstanceRecord, InstanceStore, InstanceUpdate, NewConnectorInstance,
            };
            use $crate::store::sql::{self, Columns, access_json, object_or_empty, random_hex};
            use $crate::store::timestamp::Timestamp;

        impl $store {
            fn instance_from_row(&self, row: &impl Columns) -> Result<ConnectorInstanceRecord, StoreError> {
                sql::instance_from_row(&self.keys, row)
            }

            fn seal_secrets(&self, id: &str, secrets: &Secrets) -> Result<Vec<u8>, StoreError> {
                sql::seal_secrets(&self.keys, id, secrets)
            }
        }

        #[async_trait]
        impl InstanceStore for $store {
            async fn create_instance(
                &self,
                new: NewConnectorInstance,
            ) -> Result<ConnectorInstanceRecord, StoreError> {
                let id = new.id.unwrap_or_else(|| random_hex(16));
                check_name("instance id", &id)?;
                check_name("connector type", &new.connector_type)?;
                check_name("instance name", &new.name)?;
                let config = object_or_empty("config", new.config)?;
                let sealed = self.seal_secrets(&id, &new.secrets)?;
                let now = Timestamp::now();
                let auth_mode = new.auth_type.auth_mode();
                let result = sqlx::query(
                    "INSERT INTO connector_instances (id, connector_type, name, auth_type, auth_mode, \
                     config, secrets, access, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&id)
                .bind(&new.connector_type)
                .bind(&new.name)
                .bind(new.auth_type.as_str())
                .bind(auth_mode.as_str())
                .bind(config.to_string())
                .bind(sealed)
                .bind(access_json(&new.access))
                .bind(now.0)
                .bind(now.0)
                .execute(&self.pool)
                .await;
                match result {
                    Ok(_) => {}
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        return Err(StoreError::InstanceExists { id });
                    }
                    Err(e) => return Err(e.into()),
                }
                Ok(ConnectorInstanceRecord {
                    id,
                    connector_type: new.connector_type,
                    name: new.name,
                    auth_type: new.auth_type,
                    auth_mode,
                    config,
                    secrets: new.secrets,
                    access: new.access,
                    created_at: now,
                    updated_at: now,
                })
            }

            async fn get_instance(&self, id: &str) -> Result<Option<ConnectorInstanceRecord>, StoreError> {
                let row = sqlx::query("SELECT * FROM connector_instances WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| self.instance_from_row(&r)).transpose()
            }

            async fn list_instances(&self) -> Result<Vec<ConnectorInstanceRecord>, StoreError> {
                let rows = sqlx::query("SELECT * FROM connector_instances ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| self.instance_from_row(r)).collect()
            }

            async fn update_instance(
                &self,
                id: &str,
                update: InstanceUpdate,
            ) -> Result<ConnectorInstanceRecord, StoreError> {
                let mut tx = self.pool.begin_with($begin).await?;
                let row = sqlx::query(concat!(
                    "SELECT * FROM connector_instances WHERE id = $1",
                    $for_update
                ))
                .bind(id)
                .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::InstanceNotFound { id: id.to_string() })?;
                let mut record = self.instance_from_row(&row)?;
                if let Some(name) = update.name {
                    check_name("instance name", &name)?;
                    record.name = name;
                }
                if let Some(t) = update.auth_type {
                    record.auth_type = t;
                    record.auth_mode = t.auth_mode();
                }
                if let Some(c) = update.config {
                    record.config = object_or_empty("config", c)?;
                }
                if let Some(s) = update.secrets {
                    record.secrets = s;
                }
                if let Some(a) = update.access {
                    record.access = a;
                }
                record.updated_at = Timestamp::now();
                let sealed = self.seal_secrets(id, &record.secrets)?;
                sqlx::query(
                    "UPDATE connector_instances SET name = $1, auth_type = $2, auth_mode = $3, \
                     config = $4, secrets = $5, access = $6, updated_at = $7 WHERE id = $8",
                )
                .bind(&record.name)
                .bind(record.auth_type.as_str())
                .bind(record.auth_mode.as_str())
                .bind(record.config.to_string())
                .bind(sealed)
                .bind(access_json(&record.access))
                .bind(record.updated_at.0)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn revoke_access(&self, user_id: &str) -> Result<u64, StoreError> {
                let mut tx = self.pool.begin_with($begin).await?;
                let rows =
                    sqlx::query(concat!(
                        "SELECT id, access FROM connector_instances WHERE access IS NOT NULL",
                        $for_update
                    ))
                        .fetch_all(&mut *tx)
                        .await?;
                let mut changed = 0;
                for row in rows {
                    let id = row.text("id")?;
                    let json = row.text("access")?;
                    let mut ids = sql::parse_access(&id, &json)?;
                    let before = ids.len();
                    ids.retain(|u| u != user_id);
                    if ids.len() == before {
                        continue;
                    }
                    sqlx::query("UPDATE connector_instances SET access = $1 WHERE id = $2")
                        .bind(access_json(&Some(ids)))
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    changed += 1;
                }
                tx.commit().await?;
                Ok(changed)
            }

            async fn delete_instance(&self, id: &str) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin_with($begin).await?;
                let done = sqlx::query("DELETE FROM connector_instances WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                sqlx::query("DELETE FROM tokens WHERE connector_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM oauth_states WHERE connector_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                // A new instance given the same id starts its usage at zero.
                sqlx::query("DELETE FROM usage_daily WHERE instance = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }
        }
        };
    };
}

pub(crate) use instance_store;
