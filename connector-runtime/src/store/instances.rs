//! Connector instances: [`InstanceStore`] and its records ([`NewConnectorInstance`],
//! [`ConnectorInstanceRecord`], [`InstanceUpdate`]).

use async_trait::async_trait;
use connector_spec::{AuthMode, AuthTypeId};
use serde_json::Value;

use super::error::StoreError;
use super::timestamp::Timestamp;
use crate::secrets::Secrets;

/// A connector instance to create. `auth_mode` is derived from `auth_type`.
#[derive(Debug, Clone)]
pub struct NewConnectorInstance {
    /// The instance id; `None` lets the store choose one (32 hex digits).
    pub id: Option<String>,
    /// The connector type (spec id), e.g. `slack_api`.
    pub connector_type: String,
    /// Human name.
    pub name: String,
    pub auth_type: AuthTypeId,
    /// Non-secret configuration (JSON object).
    pub config: Value,
    /// Secret configuration (sealed at rest).
    pub secrets: Secrets,
    /// Who may use the instance: user ids, or `None` for every user (the default).
    pub access: Option<Vec<String>>,
}

/// A stored connector instance. `Debug` shows secret names, never values.
#[derive(Debug, Clone)]
pub struct ConnectorInstanceRecord {
    pub id: String,
    pub connector_type: String,
    pub name: String,
    pub auth_type: AuthTypeId,
    /// Derived from `auth_type` and recorded: `per_user` for oauth_authorization_code and
    /// ears, `shared` otherwise.
    pub auth_mode: AuthMode,
    pub config: Value,
    pub secrets: Secrets,
    /// Who may use the instance: user ids, or `None` for every user.
    pub access: Option<Vec<String>>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Changes to a connector instance; `None` keeps a field. Changing `auth_type` re-derives
/// `auth_mode`.
#[derive(Debug, Clone, Default)]
pub struct InstanceUpdate {
    pub name: Option<String>,
    pub auth_type: Option<AuthTypeId>,
    pub config: Option<Value>,
    pub secrets: Option<Secrets>,
    /// `Some(None)` opens the instance to every user; `Some(Some(ids))` limits it to them.
    pub access: Option<Option<Vec<String>>>,
}

/// The configured connector instances (config and sealed secrets). Every method is atomic and
/// durable when it returns.
#[async_trait]
pub trait InstanceStore: Send + Sync + std::fmt::Debug {
    /// Store a new instance; a taken id is [`StoreError::InstanceExists`].
    async fn create_instance(
        &self,
        new: NewConnectorInstance,
    ) -> Result<ConnectorInstanceRecord, StoreError>;

    /// The instance `id`, if any.
    async fn get_instance(&self, id: &str) -> Result<Option<ConnectorInstanceRecord>, StoreError>;

    /// Every instance, ordered by id.
    async fn list_instances(&self) -> Result<Vec<ConnectorInstanceRecord>, StoreError>;

    /// Apply `update` to instance `id` ([`StoreError::InstanceNotFound`] when there is none).
    async fn update_instance(
        &self,
        id: &str,
        update: InstanceUpdate,
    ) -> Result<ConnectorInstanceRecord, StoreError>;

    /// Take user `user_id` out of every instance's access list (when the user is removed);
    /// returns how many instances changed.
    async fn revoke_access(&self, user_id: &str) -> Result<u64, StoreError>;

    /// Delete an instance with its tokens (shared and per-user), pending states and usage rows;
    /// `false` when there was none. A backend that keeps tokens or states apart deletes them there.
    async fn delete_instance(&self, id: &str) -> Result<bool, StoreError>;
}
