//! The admin API for users and their keys: list, add, remove, disable, enable, rotate a key,
//! and a user's named keys. Every route needs the admin role. A key is shown once, in the
//! response that creates it; listings show names and times only.
//!
//! An admin cannot lock themself out through the API: removing or disabling themself, or
//! rotating or removing the key they are calling with, is refused with 409, and so is
//! removing the last admin.

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::{StatusCode, request::Parts};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use connector_runtime::store::{
    ApiKey, Authenticated, DEFAULT_KEY_NAME, ExposeSecret, KeyInfo, Timestamp, User,
    check_key_name, check_user_name, parse_key_lifetime,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::{authenticate_key, require_admin};
use crate::audit::{Audit, audited};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiJsonOrNull, ApiPath};
use crate::state::AppState;

type AppResult<T> = Result<T, ApiError>;
type St = State<Arc<AppState>>;

/// The routes of this module (merged into [`crate::api::router`]).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/users", get(list_users).post(create_user))
        .route("/api/users/{name}", delete(remove_user))
        .route("/api/users/{name}/disable", post(disable_user))
        .route("/api/users/{name}/enable", post(enable_user))
        .route("/api/users/{name}/rotate-key", post(rotate_user_key))
        .route(
            "/api/users/{name}/keys",
            get(list_user_keys).post(add_user_key),
        )
        .route("/api/users/{name}/keys/{key}", delete(remove_user_key))
}

/// The calling admin and the key they presented (to refuse locking themself out).
pub struct AdminKey(pub Authenticated);

impl FromRequestParts<Arc<AppState>> for AdminKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<AdminKey, ApiError> {
        let a = authenticate_key(state, &parts.headers).await?;
        require_admin(state, a).await.map(AdminKey)
    }
}

// ---------------------------------------------------------------- types

/// A user as the API shows it: never a key or hash.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    pub name: String,
    pub admin: bool,
    pub disabled: bool,
}

impl From<User> for UserView {
    fn from(u: User) -> UserView {
        UserView {
            id: u.id,
            name: u.name,
            admin: u.admin,
            disabled: u.disabled,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
}

/// One of a user's keys: its name and times (milliseconds since the Unix epoch).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub name: String,
    pub created_at: i64,
    /// Absent: the key does not expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Updated at most once a minute. Absent: never used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<i64>,
}

impl From<KeyInfo> for KeyView {
    fn from(k: KeyInfo) -> KeyView {
        KeyView {
            name: k.name,
            created_at: k.created_at.as_millis(),
            expires_at: k.expires_at.map(Timestamp::as_millis),
            last_used_at: k.last_used_at.map(Timestamp::as_millis),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

/// A new key: the only response that ever holds it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewKey {
    /// The key's name.
    pub name: String,
    /// The API key (`ck_...`), shown this once: only its hash is stored.
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedUser {
    pub user: UserView,
    /// The user's first key, named `default`.
    pub key: NewKey,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUser {
    /// 1 to 64 of ASCII letters, digits, `.`, `_`, `@`, `-`.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._@-]{1,64}$")]
    pub name: String,
    /// May manage instances and users.
    #[serde(default)]
    pub admin: bool,
    /// The key's lifetime: a number and `d`, `h`, `m` or `s` (`90d`), at most 3650 days.
    /// Absent: the key does not expire.
    #[schema(max_length = 10, pattern = r"^[1-9][0-9]{0,8}[dhms]$")]
    pub expires: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateKey {
    /// The key's name: 1 to 64 of ASCII letters, digits, `.`, `_`, `-`.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
    /// The key's lifetime, as for a new user.
    #[schema(max_length = 10, pattern = r"^[1-9][0-9]{0,8}[dhms]$")]
    pub expires: Option<String>,
}

/// Both fields optional; an empty body or `null` counts as `{}`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateKey {
    /// Which key to replace. Default: `default`.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub key: Option<String>,
    /// The new key's lifetime, as for a new user. Absent: the new key does not expire.
    #[schema(max_length = 10, pattern = r"^[1-9][0-9]{0,8}[dhms]$")]
    pub expires: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemovedUser {
    pub name: String,
    /// The user's per-user tokens deleted.
    pub tokens_deleted: u64,
    /// Tokens the provider confirmed revoked (only connectors that can revoke are asked).
    pub tokens_revoked: u64,
    /// Revocations that failed (the tokens are deleted all the same); each names the
    /// endpoint, never a token.
    pub revocation_failures: Vec<String>,
}

// ---------------------------------------------------------------- helpers

fn expiry(text: Option<&str>) -> AppResult<Option<Timestamp>> {
    text.map(|t| {
        parse_key_lifetime(t)
            .map(|d| Timestamp::now().plus(d))
            .map_err(|e| ApiError::bad_request("invalid_expires", e.to_string()))
    })
    .transpose()
}

fn new_key(name: &str, key: &ApiKey, expires_at: Option<Timestamp>) -> NewKey {
    NewKey {
        name: name.to_string(),
        key: key.key.expose_secret().to_string(),
        expires_at: expires_at.map(Timestamp::as_millis),
    }
}

fn conflict(code: &str, message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, message)
}

/// The user named `name`, or 400 for a bad name and 404 for an unknown one.
async fn existing(s: &AppState, name: &str) -> AppResult<User> {
    check_user_name(name)?;
    s.stores
        .users
        .get_user(name)
        .await?
        .ok_or_else(|| ApiError::not_found("user", name))
}

fn not_yourself(caller: &Authenticated, name: &str, what: &str) -> AppResult<()> {
    if caller.user.name == name {
        return Err(conflict(
            "self_lockout",
            format!(
                "you cannot {what} yourself (`{name}`): you would lose access; ask another \
                 admin, or use `connector users` on the server"
            ),
        ));
    }
    Ok(())
}

fn not_your_key(caller: &Authenticated, name: &str, key: &str, what: &str) -> AppResult<()> {
    if caller.user.name == name && caller.key_name == key {
        return Err(conflict(
            "self_lockout",
            format!(
                "you cannot {what} key `{key}`: it is the key this request uses; call with \
                 another of your keys, or use `connector users` on the server"
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- handlers

/// Every user, by name.
#[utoipa::path(get, path = "/api/users", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "Every user", body = UserList), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn list_users(State(s): St, AdminKey(_): AdminKey) -> AppResult<Json<UserList>> {
    let users = s.stores.users.list_users().await?;
    Ok(Json(UserList {
        users: users.into_iter().map(UserView::from).collect(),
    }))
}

/// Add a user with one key named `default`, shown once in the response.
#[utoipa::path(post, path = "/api/users", security(("bearer" = []), ("api_key" = [])), request_body = CreateUser,
    responses((status = 201, description = "Created; the key is shown this once", body = CreatedUser), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 408, response = crate::openapi::RequestTimeout), (status = 409, response = crate::openapi::Conflict), (status = 413, response = crate::openapi::PayloadTooLarge), (status = 415, response = crate::openapi::UnsupportedMediaType), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn create_user(
    State(s): St,
    AdminKey(caller): AdminKey,
    ApiJson(body): ApiJson<CreateUser>,
) -> AppResult<(StatusCode, Json<CreatedUser>)> {
    let audit = Audit::new("user.add")
        .actor(&caller.user)
        .target(&body.name);
    audited(&s.stores.audit, audit, async {
        let expires_at = expiry(body.expires.as_deref())?;
        let (user, key) = s
            .stores
            .users
            .add_user(&body.name, body.admin, expires_at)
            .await?;
        tracing::info!(user = %user.id, admin = user.admin, "user added");
        Ok((
            StatusCode::CREATED,
            Json(CreatedUser {
                key: new_key(DEFAULT_KEY_NAME, &key, expires_at),
                user: user.into(),
            }),
        ))
    })
    .await
}

/// Remove a user: their per-user tokens are revoked at the provider where the connector can
/// revoke, then deleted with the user and their keys.
#[utoipa::path(delete, path = "/api/users/{name}", security(("bearer" = []), ("api_key" = [])),
    params(("name" = String, Path, description = "The user name", min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._@-]{1,64}$")),
    responses((status = 200, description = "Removed, with what happened to their tokens", body = RemovedUser), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn remove_user(
    State(s): St,
    AdminKey(caller): AdminKey,
    ApiPath(name): ApiPath<String>,
) -> AppResult<Json<RemovedUser>> {
    let audit = Audit::new("user.remove").actor(&caller.user).target(&name);
    audited(&s.stores.audit, audit, async {
        let user = existing(&s, &name).await?;
        not_yourself(&caller, &name, "remove")?;
        if user.admin {
            let admins = s.stores.users.list_users().await?;
            if admins.iter().filter(|u| u.admin && u.id != user.id).count() == 0 {
                return Err(conflict(
                    "last_admin",
                    format!("`{name}` is the last admin; add another admin first"),
                ));
            }
        }
        let d =
            crate::removal::disconnect_everywhere(&s.flows, &*s.stores.tokens, &user.id).await?;
        let removed = RemovedUser {
            name: name.clone(),
            tokens_deleted: d.deleted,
            tokens_revoked: d.revoked,
            revocation_failures: d.failures,
        };
        s.stores.users.remove_user(&name).await?;
        s.stores.instances.revoke_access(&user.id).await?;
        tracing::info!(user = %user.id, tokens = removed.tokens_deleted, "user removed");
        Ok(Json(removed))
    })
    .await
}

async fn set_disabled(s: &AppState, name: &str, disabled: bool) -> AppResult<Json<UserView>> {
    check_user_name(name)?;
    let user = s.stores.users.set_disabled(name, disabled).await?;
    tracing::info!(user = %user.id, disabled, "user disabled or enabled");
    Ok(Json(user.into()))
}

/// Disable a user: their keys are refused (401) until they are enabled again.
#[utoipa::path(post, path = "/api/users/{name}/disable", security(("bearer" = []), ("api_key" = [])),
    params(("name" = String, Path, description = "The user name", min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._@-]{1,64}$")),
    responses((status = 200, description = "The user, disabled", body = UserView), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn disable_user(
    State(s): St,
    AdminKey(caller): AdminKey,
    ApiPath(name): ApiPath<String>,
) -> AppResult<Json<UserView>> {
    let audit = Audit::new("user.disable").actor(&caller.user).target(&name);
    audited(&s.stores.audit, audit, async {
        check_user_name(&name)?;
        not_yourself(&caller, &name, "disable")?;
        set_disabled(&s, &name, true).await
    })
    .await
}

/// Enable a disabled user: their keys work again (those not expired).
#[utoipa::path(post, path = "/api/users/{name}/enable", security(("bearer" = []), ("api_key" = [])),
    params(("name" = String, Path, description = "The user name", min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._@-]{1,64}$")),
    responses((status = 200, description = "The user, enabled", body = UserView), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 404, response = crate::openapi::NotFound), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn enable_user(
    State(s): St,
    AdminKey(caller): AdminKey,
    ApiPath(name): ApiPath<String>,
) -> AppResult<Json<UserView>> {
    let audit = Audit::new("user.enable").actor(&caller.user).target(&name);
    audited(&s.stores.audit, audit, async {
        set_disabled(&s, &name, false).await
    })
    .await
}

/// Replace one of a user's keys (default: `default`); the old key is refused at once.
#[utoipa::path(post, path = "/api/users/{name}/rotate-key", security(("bearer" = []), ("api_key" = [])),
    params(("name" = String, Path, description = "The user name", min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._@-]{1,64}$")),
    request_body(content = Option<RotateKey>, description = "Optional: an empty body or `null` counts as `{}`", content_type = "application/json"),
    responses((status = 200, description = "The new key, shown this once", body = NewKey), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 404, response = crate::openapi::NotFound), (status = 408, response = crate::openapi::RequestTimeout), (status = 409, response = crate::openapi::Conflict), (status = 413, response = crate::openapi::PayloadTooLarge), (status = 415, response = crate::openapi::UnsupportedMediaType), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn rotate_user_key(
    State(s): St,
    AdminKey(caller): AdminKey,
    ApiPath(name): ApiPath<String>,
    ApiJsonOrNull(body): ApiJsonOrNull<RotateKey>,
) -> AppResult<Json<NewKey>> {
    let audit = Audit::new("key.rotate")
        .actor(&caller.user)
        .target(&format!(
            "{name}/{}",
            body.key.as_deref().unwrap_or(DEFAULT_KEY_NAME)
        ));
    audited(&s.stores.audit, audit, async {
        check_user_name(&name)?;
        let key_name = body.key.as_deref().unwrap_or(DEFAULT_KEY_NAME);
        check_key_name(key_name)?;
        let expires_at = expiry(body.expires.as_deref())?;
        not_your_key(&caller, &name, key_name, "rotate")?;
        let key = s
            .stores
            .users
            .rotate_key(&name, key_name, expires_at)
            .await?;
        tracing::info!(user = %name, key = key_name, "key rotated");
        Ok(Json(new_key(key_name, &key, expires_at)))
    })
    .await
}

/// A user's keys: names and times, never a key or hash.
#[utoipa::path(get, path = "/api/users/{name}/keys", security(("bearer" = []), ("api_key" = [])),
    params(("name" = String, Path, description = "The user name", min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._@-]{1,64}$")),
    responses((status = 200, description = "The user's keys, by name", body = KeyList), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 404, response = crate::openapi::NotFound), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn list_user_keys(
    State(s): St,
    AdminKey(_): AdminKey,
    ApiPath(name): ApiPath<String>,
) -> AppResult<Json<KeyList>> {
    check_user_name(&name)?;
    let keys = s.stores.users.list_keys(&name).await?;
    Ok(Json(KeyList {
        keys: keys.into_iter().map(KeyView::from).collect(),
    }))
}

/// Add a named key to a user, shown once in the response.
#[utoipa::path(post, path = "/api/users/{name}/keys", security(("bearer" = []), ("api_key" = [])),
    params(("name" = String, Path, description = "The user name", min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._@-]{1,64}$")),
    request_body = CreateKey,
    responses((status = 201, description = "The new key, shown this once", body = NewKey), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 404, response = crate::openapi::NotFound), (status = 408, response = crate::openapi::RequestTimeout), (status = 409, response = crate::openapi::Conflict), (status = 413, response = crate::openapi::PayloadTooLarge), (status = 415, response = crate::openapi::UnsupportedMediaType), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn add_user_key(
    State(s): St,
    AdminKey(caller): AdminKey,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<CreateKey>,
) -> AppResult<(StatusCode, Json<NewKey>)> {
    let audit = Audit::new("key.add")
        .actor(&caller.user)
        .target(&format!("{name}/{}", body.name));
    audited(&s.stores.audit, audit, async {
        check_user_name(&name)?;
        let expires_at = expiry(body.expires.as_deref())?;
        let key = s
            .stores
            .users
            .add_key(&name, &body.name, expires_at)
            .await?;
        tracing::info!(user = %name, key = %body.name, "key added");
        Ok((
            StatusCode::CREATED,
            Json(new_key(&body.name, &key, expires_at)),
        ))
    })
    .await
}

/// Remove one of a user's keys; it is refused at once.
#[utoipa::path(delete, path = "/api/users/{name}/keys/{key}", security(("bearer" = []), ("api_key" = [])),
    params(("name" = String, Path, description = "The user name", min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._@-]{1,64}$"),
        ("key" = String, Path, description = "The key name", min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._-]{1,64}$")),
    responses((status = 204, description = "Removed"), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 404, response = crate::openapi::NotFound), (status = 409, response = crate::openapi::Conflict), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn remove_user_key(
    State(s): St,
    AdminKey(caller): AdminKey,
    ApiPath((name, key)): ApiPath<(String, String)>,
) -> AppResult<StatusCode> {
    let audit = Audit::new("key.remove")
        .actor(&caller.user)
        .target(&format!("{name}/{key}"));
    audited(&s.stores.audit, audit, async {
        check_user_name(&name)?;
        check_key_name(&key)?;
        not_your_key(&caller, &name, &key, "remove")?;
        s.stores.users.remove_key(&name, &key).await?;
        tracing::info!(user = %name, key = %key, "key removed");
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// The paths of this module, for [`crate::api::ApiDoc`].
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_users,
        create_user,
        remove_user,
        disable_user,
        enable_user,
        rotate_user_key,
        list_user_keys,
        add_user_key,
        remove_user_key
    ),
    components(schemas(
        UserView,
        UserList,
        KeyView,
        KeyList,
        NewKey,
        CreatedUser,
        CreateUser,
        CreateKey,
        RotateKey,
        RemovedUser
    ))
)]
pub struct UsersDoc;
