//! [`InstanceStore`] on the `connector_instances` table: secrets are one sealed JSON object.

use async_trait::async_trait;
use connector_spec::{AuthMode, AuthTypeId};
use serde_json::{Map, Value};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStore, check_name};
use crate::secrets::Secrets;
use crate::store::crypto::Aad;
use crate::store::error::StoreError;
use crate::store::instances::{
    ConnectorInstanceRecord, InstanceStore, InstanceUpdate, NewConnectorInstance,
};
use crate::store::timestamp::Timestamp;

impl SqliteStore {
    fn instance_from_row(&self, row: &SqliteRow) -> Result<ConnectorInstanceRecord, StoreError> {
        let id: String = row.try_get("id")?;
        let corrupt = |what: &str| StoreError::Corrupt {
            what: format!("instance `{id}`: {what}"),
        };
        let auth_type_s: String = row.try_get("auth_type")?;
        let auth_type =
            AuthTypeId::parse(&auth_type_s).ok_or_else(|| corrupt("unknown auth type"))?;
        let auth_mode = match row.try_get::<String, _>("auth_mode")?.as_str() {
            "shared" => AuthMode::Shared,
            "per_user" => AuthMode::PerUser,
            _ => return Err(corrupt("unknown auth mode")),
        };
        let config: String = row.try_get("config")?;
        let config: Value =
            serde_json::from_str(&config).map_err(|_| corrupt("config is not JSON"))?;
        let sealed: Vec<u8> = row.try_get("secrets")?;
        let secrets = self.open_secrets(&id, &sealed)?;
        let access = match row.try_get::<Option<String>, _>("access")? {
            None => None,
            Some(json) => Some(
                serde_json::from_str::<Vec<String>>(&json)
                    .map_err(|_| corrupt("access is not a JSON array of user ids"))?,
            ),
        };
        Ok(ConnectorInstanceRecord {
            access,
            connector_type: row.try_get("connector_type")?,
            name: row.try_get("name")?,
            auth_type,
            auth_mode,
            config,
            secrets,
            created_at: Timestamp(row.try_get("created_at")?),
            updated_at: Timestamp(row.try_get("updated_at")?),
            id,
        })
    }

    fn seal_secrets(&self, id: &str, secrets: &Secrets) -> Result<Vec<u8>, StoreError> {
        let json = zeroize::Zeroizing::new(secrets.expose().to_string());
        Ok(self
            .keys
            .seal(json.as_bytes(), &Aad::instance(id, "secrets"))?)
    }

    fn open_secrets(&self, id: &str, sealed: &[u8]) -> Result<Secrets, StoreError> {
        let json = self.keys.open(sealed, &Aad::instance(id, "secrets"))?;
        match serde_json::from_slice::<Value>(&json) {
            Ok(Value::Object(m)) => Ok(Secrets::new(m)),
            _ => Err(StoreError::Corrupt {
                what: format!("instance `{id}`: secrets are not a JSON object"),
            }),
        }
    }
}

fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

fn access_json(access: &Option<Vec<String>>) -> Option<String> {
    access
        .as_ref()
        .map(|ids| Value::from(ids.clone()).to_string())
}

fn object_or_empty(field: &'static str, v: Value) -> Result<Value, StoreError> {
    match v {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(v),
        _ => Err(StoreError::InvalidInput {
            field,
            reason: "must be a JSON object".into(),
        }),
    }
}

#[async_trait]
impl InstanceStore for SqliteStore {
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
             config, secrets, access, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        let row = sqlx::query("SELECT * FROM connector_instances WHERE id = ?")
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query("SELECT * FROM connector_instances WHERE id = ?")
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
            "UPDATE connector_instances SET name = ?, auth_type = ?, auth_mode = ?, config = ?, \
             secrets = ?, access = ?, updated_at = ? WHERE id = ?",
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let rows =
            sqlx::query("SELECT id, access FROM connector_instances WHERE access IS NOT NULL")
                .fetch_all(&mut *tx)
                .await?;
        let mut changed = 0;
        for row in rows {
            let id: String = row.try_get("id")?;
            let json: String = row.try_get("access")?;
            let mut ids: Vec<String> =
                serde_json::from_str(&json).map_err(|_| StoreError::Corrupt {
                    what: format!("instance `{id}`: access is not a JSON array of user ids"),
                })?;
            let before = ids.len();
            ids.retain(|u| u != user_id);
            if ids.len() == before {
                continue;
            }
            sqlx::query("UPDATE connector_instances SET access = ? WHERE id = ?")
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query("DELETE FROM connector_instances WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM tokens WHERE connector_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM oauth_states WHERE connector_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
