//! What the SQL backends (`sqlite/`, `postgres/`) share: reading a row's columns whatever the
//! driver ([`Columns`]), turning rows into records (opening sealed values on the way), sealing
//! helpers, input checks and the audit query. Nothing here names a driver's SQL dialect except
//! through [`Columns`].

pub(crate) mod audit;
pub(crate) mod instances;
pub(crate) mod maintenance;
pub(crate) mod states;
pub(crate) mod tokens;
pub(crate) mod usage;
pub(crate) mod users;

use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use sqlx::{Database, Encode, QueryBuilder, Row, Type};

use super::audit::AuditEvent;
use super::audit::AuditFilter;
use super::crypto::{Aad, Keyring};
use super::error::StoreError;
use super::instances::ConnectorInstanceRecord;
use super::scope::TokenScope;
use super::states::OAuthStateRecord;
use super::timestamp::Timestamp;
use super::tokens::{TokenId, TokenRecord, UserTokenKey};
use super::users::{KeyInfo, User};
use crate::secrets::Secrets;
use connector_spec::{AuthMode, AuthTypeId};

/// A key's last use is written at most this often (milliseconds), not on every request.
pub(crate) const TOUCH_EVERY_MS: i64 = 60_000;

/// The columns of a result row, typed the way the stores use them. Flags are read as `bool`
/// (SQLite's `INTEGER` 0/1 decodes as one, PostgreSQL's `BOOLEAN` is one).
pub(crate) trait Columns {
    fn text(&self, c: &str) -> Result<String, StoreError>;
    fn text_opt(&self, c: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, c: &str) -> Result<i64, StoreError>;
    fn int_opt(&self, c: &str) -> Result<Option<i64>, StoreError>;
    fn blob(&self, c: &str) -> Result<Vec<u8>, StoreError>;
    fn blob_opt(&self, c: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn flag(&self, c: &str) -> Result<bool, StoreError>;
}

macro_rules! columns_for {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, c: &str) -> Result<String, StoreError> {
                Ok(self.try_get(c)?)
            }
            fn text_opt(&self, c: &str) -> Result<Option<String>, StoreError> {
                Ok(self.try_get(c)?)
            }
            fn int(&self, c: &str) -> Result<i64, StoreError> {
                Ok(self.try_get(c)?)
            }
            fn int_opt(&self, c: &str) -> Result<Option<i64>, StoreError> {
                Ok(self.try_get(c)?)
            }
            fn blob(&self, c: &str) -> Result<Vec<u8>, StoreError> {
                Ok(self.try_get(c)?)
            }
            fn blob_opt(&self, c: &str) -> Result<Option<Vec<u8>>, StoreError> {
                Ok(self.try_get(c)?)
            }
            fn flag(&self, c: &str) -> Result<bool, StoreError> {
                Ok(self.try_get(c)?)
            }
        }
    };
}

columns_for!(sqlx::sqlite::SqliteRow);
columns_for!(sqlx::postgres::PgRow);

/// A name or id given to a store: non-empty, at most 512 bytes, no control characters.
pub(crate) fn check_name(field: &'static str, value: &str) -> Result<(), StoreError> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value.len() > 512 {
        "must be at most 512 bytes"
    } else if value.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidInput {
        field,
        reason: reason.into(),
    })
}

pub(crate) fn check_user_key(key: &UserTokenKey) -> Result<(), StoreError> {
    check_name("user id", &key.user_id)?;
    check_name("connector id", &key.connector_id)?;
    check_name("credential type", &key.credential_type)
}

pub(crate) fn seal_str(keys: &Keyring, s: &SecretString, aad: &Aad) -> Result<Vec<u8>, StoreError> {
    Ok(keys.seal(s.expose_secret().as_bytes(), aad)?)
}

pub(crate) fn open_secret(
    keys: &Keyring,
    sealed: &[u8],
    aad: &Aad,
) -> Result<SecretString, StoreError> {
    let s = keys.open_string(sealed, aad)?;
    Ok(SecretString::from(s.as_str()))
}

/// Open `sealed` and seal it again under the active key (fresh nonce).
pub(crate) fn reseal(keys: &Keyring, sealed: &[u8], aad: &Aad) -> Result<Vec<u8>, StoreError> {
    let plain = keys.open(sealed, aad)?;
    Ok(keys.seal(&plain, aad)?)
}

pub(crate) fn token_aad(
    scope: TokenScope,
    user: &str,
    connector: &str,
    ct: &str,
    field: &'static str,
) -> Aad {
    Aad::token(scope.as_str(), user, connector, ct, field)
}

/// The scope a `tokens.scope` column names.
pub(crate) fn scope_of(column: &str) -> TokenScope {
    if column == "shared" {
        TokenScope::Shared
    } else {
        TokenScope::PerUser
    }
}

/// A `tokens` row (every column), its values opened.
pub(crate) fn token_from_row(
    keys: &Keyring,
    row: &impl Columns,
) -> Result<TokenRecord, StoreError> {
    let id = TokenId::from_str(&row.text("id")?).map_err(|_| StoreError::Corrupt {
        what: "a token id without a scope prefix".into(),
    })?;
    let scope_col = row.text("scope")?;
    if scope_col != id.scope().as_str() {
        return Err(StoreError::Corrupt {
            what: format!("token `{id}` has scope column `{scope_col}`"),
        });
    }
    let user_id = row.text("user_id")?;
    let connector_id = row.text("connector_id")?;
    let credential_type = row.text("credential_type")?;
    let scope = id.scope();
    let aad = |field| token_aad(scope, &user_id, &connector_id, &credential_type, field);
    let access_token = open_secret(keys, &row.blob("access_token")?, &aad("access_token"))?;
    let refresh_token = row
        .blob_opt("refresh_token")?
        .map(|r| open_secret(keys, &r, &aad("refresh_token")))
        .transpose()?;
    let ts = |c| Ok::<_, StoreError>(row.int_opt(c)?.map(Timestamp));
    Ok(TokenRecord {
        access_token,
        refresh_token,
        token_type: row.text("token_type")?,
        scope: row.text_opt("granted_scope")?,
        expires_at: ts("expires_at")?,
        refresh_token_expires_at: ts("refresh_token_expires_at")?,
        created_at: Timestamp(row.int("created_at")?),
        updated_at: Timestamp(row.int("updated_at")?),
        last_used_at: ts("last_used_at")?,
        revoked: row.flag("revoked")?,
        refresh_failed_at: ts("refresh_failed_at")?,
        version: u64::try_from(row.int("version")?).unwrap_or(0),
        user_id: (scope == TokenScope::PerUser).then_some(user_id.clone()),
        connector_id: connector_id.clone(),
        credential_type: credential_type.clone(),
        id,
    })
}

/// Why an update of token `id` for `user` (empty: shared) matched no row, given the row's
/// owner and version when there is one.
pub(crate) fn diagnose_token(
    id: &TokenId,
    user: &str,
    expected_version: Option<u64>,
    found: Option<(String, i64)>,
) -> StoreError {
    match found {
        None => StoreError::TokenNotFound { id: id.to_string() },
        Some((owner, _)) if owner != user => StoreError::NotOwner { id: id.to_string() },
        Some((_, version)) => match expected_version {
            Some(expected) => StoreError::VersionConflict {
                id: id.to_string(),
                expected,
                actual: u64::try_from(version).unwrap_or(0),
            },
            None => StoreError::TokenNotFound { id: id.to_string() },
        },
    }
}

/// An `oauth_states` row, with its sealed verifier apart (the record's verifier is empty).
pub(crate) fn state_from_row(
    row: &impl Columns,
) -> Result<(OAuthStateRecord, Option<Vec<u8>>), StoreError> {
    let metadata =
        serde_json::from_str(&row.text("metadata")?).map_err(|_| StoreError::Corrupt {
            what: "state metadata is not JSON".into(),
        })?;
    Ok((
        OAuthStateRecord {
            state: row.text("state")?,
            connector_id: row.text("connector_id")?,
            user_id: row.text("user_id")?,
            credential_type: row.text("credential_type")?,
            tenant: row.text_opt("tenant")?,
            return_url: row.text_opt("return_url")?,
            pkce_verifier: SecretString::from(String::new()),
            metadata,
            created_at: Timestamp(row.int("created_at")?),
            expires_at: Timestamp(row.int("expires_at")?),
            consumed_at: row.int_opt("consumed_at")?.map(Timestamp),
        },
        row.blob_opt("pkce_verifier")?,
    ))
}

pub(crate) fn verifier_aad(r: &OAuthStateRecord) -> Aad {
    Aad::state(&r.state, &r.user_id, &r.connector_id, "pkce_verifier")
}

/// A fresh OAuth `state` value: 32 random bytes, base64url.
pub(crate) fn state_value() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A `connector_instances` row, its secrets opened.
pub(crate) fn instance_from_row(
    keys: &Keyring,
    row: &impl Columns,
) -> Result<ConnectorInstanceRecord, StoreError> {
    let id = row.text("id")?;
    let corrupt = |what: &str| StoreError::Corrupt {
        what: format!("instance `{id}`: {what}"),
    };
    let auth_type =
        AuthTypeId::parse(&row.text("auth_type")?).ok_or_else(|| corrupt("unknown auth type"))?;
    let auth_mode = match row.text("auth_mode")?.as_str() {
        "shared" => AuthMode::Shared,
        "per_user" => AuthMode::PerUser,
        _ => return Err(corrupt("unknown auth mode")),
    };
    let config: Value =
        serde_json::from_str(&row.text("config")?).map_err(|_| corrupt("config is not JSON"))?;
    let secrets = open_secrets(keys, &id, &row.blob("secrets")?)?;
    let access = row
        .text_opt("access")?
        .map(|json| parse_access(&id, &json))
        .transpose()?;
    Ok(ConnectorInstanceRecord {
        access,
        connector_type: row.text("connector_type")?,
        name: row.text("name")?,
        auth_type,
        auth_mode,
        config,
        secrets,
        created_at: Timestamp(row.int("created_at")?),
        updated_at: Timestamp(row.int("updated_at")?),
        id,
    })
}

/// An instance's `access` column: a JSON array of user ids.
pub(crate) fn parse_access(id: &str, json: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(json).map_err(|_| StoreError::Corrupt {
        what: format!("instance `{id}`: access is not a JSON array of user ids"),
    })
}

pub(crate) fn seal_secrets(
    keys: &Keyring,
    id: &str,
    secrets: &Secrets,
) -> Result<Vec<u8>, StoreError> {
    let json = zeroize::Zeroizing::new(secrets.expose().to_string());
    Ok(keys.seal(json.as_bytes(), &Aad::instance(id, "secrets"))?)
}

fn open_secrets(keys: &Keyring, id: &str, sealed: &[u8]) -> Result<Secrets, StoreError> {
    let json = keys.open(sealed, &Aad::instance(id, "secrets"))?;
    match serde_json::from_slice::<Value>(&json) {
        Ok(Value::Object(m)) => Ok(Secrets::new(m)),
        _ => Err(StoreError::Corrupt {
            what: format!("instance `{id}`: secrets are not a JSON object"),
        }),
    }
}

pub(crate) fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

pub(crate) fn access_json(access: &Option<Vec<String>>) -> Option<String> {
    access
        .as_ref()
        .map(|ids| Value::from(ids.clone()).to_string())
}

pub(crate) fn object_or_empty(field: &'static str, v: Value) -> Result<Value, StoreError> {
    match v {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(v),
        _ => Err(StoreError::InvalidInput {
            field,
            reason: "must be a JSON object".into(),
        }),
    }
}

pub(crate) fn user_from_row(r: &impl Columns) -> Result<User, StoreError> {
    Ok(User {
        id: r.text("id")?,
        name: r.text("name")?,
        admin: r.flag("admin")?,
        disabled: r.flag("disabled")?,
    })
}

pub(crate) fn key_from_row(r: &impl Columns) -> Result<KeyInfo, StoreError> {
    Ok(KeyInfo {
        name: r.text("name")?,
        created_at: Timestamp(r.int("created_at")?),
        expires_at: r.int_opt("expires_at")?.map(Timestamp),
        last_used_at: r.int_opt("last_used_at")?.map(Timestamp),
    })
}

pub(crate) fn new_key_id() -> String {
    format!("k_{}", hex::encode(rand::random::<[u8; 16]>()))
}

pub(crate) const AUDIT_COLUMNS: &str = "id, at, operation, actor, on_behalf_of, instance, \
                                        action, target, outcome, code, duration_ms, request_id";

pub(crate) fn event_from_row(r: &impl Columns) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        id: r.int("id")?,
        at: r.int("at")?,
        operation: r.text("operation")?,
        actor: r.text_opt("actor")?,
        on_behalf_of: r.text_opt("on_behalf_of")?,
        instance: r.text_opt("instance")?,
        action: r.text_opt("action")?,
        target: r.text_opt("target")?,
        outcome: r.text("outcome")?,
        code: r.text_opt("code")?,
        duration_ms: r.int("duration_ms")?,
        request_id: r.text_opt("request_id")?,
    })
}

/// `SELECT ... WHERE <filter> ORDER BY id DESC LIMIT <limit + 1>`, in either dialect (the
/// builder writes each driver's placeholders).
pub(crate) fn audit_select<DB: Database>(filter: &AuditFilter, limit: u32) -> QueryBuilder<DB>
where
    DB::Arguments: Default,
    String: for<'t> Encode<'t, DB> + Type<DB>,
    i64: for<'t> Encode<'t, DB> + Type<DB>,
{
    let mut q = QueryBuilder::new(format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE 1 = 1"
    ));
    if let Some(u) = &filter.user {
        q.push(" AND (actor = ")
            .push_bind(u.clone())
            .push(" OR on_behalf_of = ")
            .push_bind(u.clone())
            .push(" OR target = ")
            .push_bind(u.clone())
            .push(" OR substr(target, 1, length(")
            .push_bind(u.clone())
            .push(") + 1) = ")
            .push_bind(format!("{u}/"))
            .push(")");
    }
    for (column, value) in [
        ("instance", &filter.instance),
        ("action", &filter.action),
        ("operation", &filter.operation),
        ("outcome", &filter.outcome),
    ] {
        if let Some(v) = value {
            q.push(format!(" AND {column} = ")).push_bind(v.clone());
        }
    }
    for (cond, bound) in [
        (" AND at >= ", filter.since),
        (" AND at <= ", filter.until),
        (" AND id < ", filter.before_id),
    ] {
        if let Some(v) = bound {
            q.push(cond).push_bind(v);
        }
    }
    q.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
    q
}

/// Page `events` (fetched with `limit + 1`) into an [`AuditPage`](super::AuditPage).
pub(crate) fn audit_page(mut events: Vec<AuditEvent>, limit: u32) -> super::audit::AuditPage {
    let more = events.len() > limit as usize;
    events.truncate(limit as usize);
    let next_before_id = if more {
        events.last().map(|e| e.id)
    } else {
        None
    };
    super::audit::AuditPage {
        events,
        next_before_id,
    }
}

/// Refuse an audit page size outside 1..=[`MAX_PAGE`](super::MAX_PAGE).
pub(crate) fn check_audit_limit(limit: u32) -> Result<(), StoreError> {
    if limit == 0 || limit > super::audit::MAX_PAGE {
        return Err(StoreError::InvalidInput {
            field: "limit",
            reason: format!("1 to {}", super::audit::MAX_PAGE),
        });
    }
    Ok(())
}
