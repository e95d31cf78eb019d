//! The HTTP API: routes, extractors and handlers.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, RawQuery, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{StatusCode, request::Parts};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use connector_runtime::oauth::{CallbackParams, OAuthClient, StartOptions};
use connector_runtime::store::{
    Authenticated, ConnectorInstanceRecord, InstanceUpdate, NewConnectorInstance, Timestamp, User,
    UserTokenKey,
};
use connector_runtime::{ActionError, ConnectorInstance, ExecuteOptions, InstanceRuntime, Secrets};
use connector_spec::AuthMode;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::access;
use crate::audit::{Audit, PendingAudit, audited};
use crate::error::{ApiError, AppResult};
use crate::extract::{ApiJson, ApiJsonOrEmpty, ApiPath, ApiQuery};
use crate::flow_cookie::{self, FlowCookie};
use crate::guard::{OutboundCheck, same_origin_return_url};
use crate::openapi::Extras as OpenApiExtras;
use crate::state::{AppState, FLOW_COOKIE, HOST_FLOW_COOKIE, secrets_value};

type St = State<Arc<AppState>>;

// ---------------------------------------------------------------- extractors

/// The caller, authenticated by `Authorization: Bearer <key>` or `X-Api-Key: <key>`.
pub struct Caller(pub User);

fn api_key(headers: &HeaderMap) -> Option<&str> {
    // RFC 9110 §11.1: the auth scheme is case-insensitive (`bearer`, `BEARER`).
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some((scheme, k)) = v.trim_start().split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
    {
        return Some(k.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> AppResult<User> {
    authenticate_key(state, headers).await.map(|a| a.user)
}

/// The caller and the name of the key they presented. A missing, unknown or expired key and
/// a disabled user are all the same 401: the client learns nothing about which.
pub(crate) async fn authenticate_key(
    state: &AppState,
    headers: &HeaderMap,
) -> AppResult<Authenticated> {
    let refused = |code: &'static str| async move {
        Audit::new("auth.refused")
            .finish_with(&*state.stores.audit, "denied", Some(code))
            .await;
        ApiError::unauthorized()
    };
    let Some(key) = api_key(headers) else {
        return Err(refused("no_key").await);
    };
    match state.stores.users.authenticate_key(key).await {
        Ok(Some(a)) => {
            tracing::Span::current().record("user", a.user.id.as_str());
            Ok(a)
        }
        Ok(None) => Err(refused("bad_key").await),
        Err(e) => {
            tracing::error!(error = %e, "user lookup failed");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the user store is unavailable",
            ))
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Caller, ApiError> {
        authenticate(state, &parts.headers).await.map(Caller)
    }
}

/// The caller, who must be an admin. An extractor (not a check in the handler body) so that
/// it runs before the body is read: a user's malformed body on an admin route gets 403.
pub struct Admin(pub User);

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Admin, ApiError> {
        let a = authenticate_key(state, &parts.headers).await?;
        require_admin(state, a).await.map(|a| Admin(a.user))
    }
}

/// `a` if the caller is an admin; else 403, recorded as `auth.forbidden`.
pub(crate) async fn require_admin(
    state: &AppState,
    a: Authenticated,
) -> Result<Authenticated, ApiError> {
    if a.user.admin {
        return Ok(a);
    }
    let e = ApiError::forbidden("this operation needs the admin role");
    Audit::new("auth.forbidden")
        .actor(&a.user)
        .finish_error(&*state.stores.audit, &e)
        .await;
    Err(e)
}

// ---------------------------------------------------------------- types

/// A connector instance as the API shows it: never a secret value.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceView {
    pub id: String,
    pub connector_type: String,
    pub name: String,
    pub auth_type: String,
    /// `shared` or `per_user`.
    pub auth_mode: String,
    /// Non-secret configuration as saved.
    #[schema(value_type = Object)]
    pub config: Value,
    /// Names of the secrets that are set (values are write-only).
    pub secrets_set: Vec<String>,
    /// Per-user instances: whether the caller has connected an account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected: Option<bool>,
    /// Shown to admins: the users who may use the instance, when it is limited to some;
    /// absent when every user may.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<Vec<String>>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
    /// A failed `postSave` hook (the instance is saved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_error: Option<crate::error::ErrorDetail>,
}

fn view(record: &ConnectorInstanceRecord, secret_names: Vec<String>) -> InstanceView {
    InstanceView {
        id: record.id.clone(),
        connector_type: record.connector_type.clone(),
        name: record.name.clone(),
        auth_type: record.auth_type.as_str().to_string(),
        auth_mode: record.auth_mode.as_str().to_string(),
        config: record.config.clone(),
        secrets_set: secret_names
            .into_iter()
            .filter(|n| record.secrets.get(n).is_some())
            .collect(),
        connected: None,
        access: None,
        created_at: record.created_at.as_millis(),
        updated_at: record.updated_at.as_millis(),
        hook_error: None,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInstance {
    /// Optional id (`a-z`, `0-9`, `-`, `_`); generated when absent.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[a-z0-9_-]{1,64}$")]
    pub id: Option<String>,
    /// A connector type id from `GET /api/connector-types`.
    #[schema(pattern = r"^\.[A-Za-z0-9._-]{1,63}$")]
    pub connector_type: String,
    /// 1 to 200 characters, not all white space.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// Config, optionally with `authType`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: Value,
    /// Secrets (write-only).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub secrets: Value,
    /// The users who may use the instance (by name); absent or `null` for every user.
    #[schema(max_items = 1000, inline)]
    pub access: Option<Vec<AccessName>>,
}

/// A user name on an access list.
#[derive(Deserialize, ToSchema)]
#[schema(pattern = r"^[A-Za-z0-9._@-]{1,64}$")]
#[serde(transparent)]
pub struct AccessName(pub String);

/// `Some(None)` for an explicit `null`, `None` when the field is absent.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateInstance {
    /// 1 to 200 characters, not all white space.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    /// Replaces the config (may carry `authType`).
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// Merged into the stored secrets; a `null` value removes one.
    #[schema(value_type = Option<Object>)]
    pub secrets: Option<Value>,
    /// Replaces the access list (user names); `null` opens the instance to every user, absent
    /// keeps it. Users who lose access are disconnected from a per-user instance.
    #[serde(default, deserialize_with = "present")]
    #[schema(max_items = 1000, value_type = Option<Vec<AccessName>>)]
    pub access: Option<Option<Vec<AccessName>>>,
}

#[derive(Serialize, ToSchema)]
pub struct InstanceList {
    pub instances: Vec<InstanceView>,
}

#[derive(Serialize, ToSchema)]
pub struct ActionOutput {
    /// The action's mapped output: any JSON value (an array for listings).
    #[schema(value_type = Value)]
    pub output: Value,
    /// Present when a listing run with `allPages` was stopped by a limit while the provider
    /// had more records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<TruncatedView>,
}

/// The limit that stopped a listing.
#[derive(Serialize, ToSchema)]
pub struct TruncatedView {
    /// `maxRecords`, `maxPages` or `defaultPageCap` (the built-in 1,000 pages).
    #[schema(value_type = String, example = "maxRecords")]
    pub limit: connector_runtime::ListingLimit,
    /// The limit's value: records for `maxRecords`, pages otherwise.
    pub value: u64,
    /// The same, for a person: `listing stopped at maxRecords (250); more records exist`.
    pub message: String,
}

impl From<connector_runtime::Truncation> for TruncatedView {
    fn from(t: connector_runtime::Truncation) -> TruncatedView {
        TruncatedView {
            limit: t.limit,
            value: t.value,
            message: t.to_string(),
        }
    }
}

/// An action failure as the caller reads it: a per-user instance the caller has not connected
/// (or must connect again) names the caller and the route that connects the account, rather
/// than the internal user id.
fn for_caller(e: ActionError, user: &User, instance: &str) -> ApiError {
    let what = match e.code {
        "not_authorized" => "has not connected an account to",
        "token_revoked" => "must connect an account again to (the provider revoked the token of)",
        _ => return e.into(),
    };
    let mut err = ApiError::from(e);
    err.message = format!(
        "user `{}` {what} instance `{instance}`: connect it with \
         POST /api/instances/{instance}/oauth/start (or open GET \
         /api/instances/{instance}/oauth/start in a browser)",
        user.name
    );
    err
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ActionQuery {
    /// Follow pagination and return every record.
    #[serde(default)]
    pub all_pages: bool,
}

#[derive(Deserialize, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StartRequest {
    /// Where to send the browser after the callback: a path here or a same-origin URL.
    pub return_url: Option<String>,
    pub tenant: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartResponse {
    pub authorization_url: String,
    pub state: String,
    pub expires_at: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    pub state: String,
}

#[derive(Serialize, ToSchema)]
pub struct CancelResponse {
    pub cancelled: bool,
}

#[derive(Serialize, ToSchema)]
pub struct DisconnectResponse {
    /// Tokens deleted (0 when there were none).
    pub deleted: u64,
}

#[derive(Serialize, ToSchema)]
pub struct TestResponse {
    pub ok: bool,
    /// What the connection check returned: any JSON value.
    #[schema(value_type = Value)]
    pub result: Value,
}

/// The catalog's shape. Documentation only: the catalog is served as prebuilt text, each
/// document byte-identical to what `connector export` writes.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct Catalog {
    /// One schema document per connector type.
    #[schema(value_type = Vec<Object>)]
    connector_types: Vec<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

// ---------------------------------------------------------------- router

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/openapi.json", get(openapi_json))
        .route("/metrics", get(metrics))
        .route("/api/connector-types", get(connector_types))
        .route("/api/connector-types/{id}", get(connector_type))
        .route("/api/instances", get(list_instances).post(create_instance))
        .route(
            "/api/instances/{id}",
            get(get_instance)
                .put(update_instance)
                .delete(delete_instance),
        )
        .route("/api/instances/{id}/actions/{action}", post(run_action))
        .route("/api/instances/{id}/test", post(test_instance))
        .route(
            "/api/instances/{id}/oauth/start",
            post(oauth_start)
                .get(oauth_start_redirect)
                .head(oauth_start_head),
        )
        .route(
            "/api/instances/{id}/oauth",
            axum::routing::delete(oauth_disconnect),
        )
        .route(
            "/api/instances/{id}/connection",
            get(crate::connection::instance_connection),
        )
        .merge(crate::users_api::routes())
        .route("/api/oauth/callback", get(oauth_callback))
        .route("/api/oauth/cancel", post(oauth_cancel))
        .route("/api/audit", get(crate::audit_api::list_audit))
        .fallback(|| async { ApiError::route_not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::middleware::from_fn(limit_uri))
        .with_state(state)
}

/// Longest request target (path and query) the API reads. Longer ones get a JSON 414 here;
/// past 64 KiB hyper itself answers 414 with an empty body before any route runs.
pub const MAX_URI_BYTES: usize = 8 * 1024;

async fn limit_uri(req: Request, next: Next) -> Response {
    let len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if len > MAX_URI_BYTES {
        return ApiError::uri_too_long(MAX_URI_BYTES).into_response();
    }
    next.run(req).await
}

/// HEAD on the GET start route: axum would run the GET handler, and so start a flow (and
/// spend a rate-limit slot) for a request that must be safe. Refused instead.
async fn oauth_start_head() -> Response {
    let mut r = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "HEAD would start an authorization; use GET or POST",
    )
    .into_response();
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET,POST"));
    r
}

// ---------------------------------------------------------------- health, docs, catalog

#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "The process serves", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

#[utoipa::path(get, path = "/readyz", responses((status = 200, description = "The store answers", body = Health), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn readyz(State(s): St) -> AppResult<Json<Health>> {
    s.stores.users.ping().await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the store is not reachable",
        )
    })?;
    Ok(Json(Health {
        status: "ready".into(),
    }))
}

/// The server's metrics in the Prometheus exposition format (OpenMetrics text): HTTP
/// requests, action runs, upstream retries, rate-limit waits, token refreshes
/// (docs/operations.md, "Metrics and traces"). Admins only; `--metrics-listen` serves the
/// same without authentication on an address of its own.
#[utoipa::path(get, path = "/metrics", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The metrics", content_type = "application/openmetrics-text", body = String),
        (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn metrics(State(s): St, Admin(_): Admin) -> Response {
    crate::metrics::response(&s.metrics)
}

/// The OpenAPI document of this API (this document).
#[utoipa::path(get, path = "/api/openapi.json", responses((status = 200, description = "This document", content_type = "application/json", body = Object)))]
async fn openapi_json() -> Response {
    // The document is the same for the life of the process: built once, on first request.
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    json_text(DOC.get_or_init(openapi_document).clone())
}

/// The OpenAPI document of this API.
pub fn openapi_document() -> String {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::users_api::UsersDoc::openapi());
    serde_json::to_string_pretty(&crate::openapi::finish(doc)).unwrap_or_else(|_| "{}".to_string())
}

fn json_text(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// The catalog: `{"connectorTypes": [...]}`, each document byte-identical to the file
/// `connector export` writes for it.
#[utoipa::path(get, path = "/api/connector-types", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The catalog", body = Catalog), (status = 401, response = crate::openapi::Unauthorized), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn connector_types(State(s): St, Caller(_): Caller) -> Response {
    json_text(s.catalog.clone())
}

/// One connector type's schema document, byte-identical to `connectors/<id>.json`.
#[utoipa::path(get, path = "/api/connector-types/{id}", security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The connector type id, e.g. `.slack_api`", pattern = r"^\.[A-Za-z0-9._-]{1,63}$")),
    responses((status = 200, description = "The connector type's schema document", body = Object), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 404, response = crate::openapi::NotFound), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn connector_type(
    State(s): St,
    Caller(_): Caller,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    s.catalog_docs
        .get(&id)
        .map(|d| json_text(d.clone()))
        .ok_or_else(|| ApiError::not_found("connector_type", &id))
}

// ---------------------------------------------------------------- instances

fn hook_ctx(rt: &InstanceRuntime, user: &User) -> connector_runtime::ActionContext {
    rt.context(&user.id, CancellationToken::new())
}

pub(crate) fn valid_id(id: &str) -> AppResult<()> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(ApiError::bad_request(
            "invalid_id",
            "an instance id has 1 to 64 characters from a-z, 0-9, `-` and `_`",
        ));
    }
    Ok(())
}

/// The longest instance name, in characters (the OpenAPI document's `maxLength`).
pub const MAX_NAME_CHARS: usize = 200;

/// 1 to 200 characters, not only white space, no control characters.
fn valid_name(name: &str) -> AppResult<()> {
    if name.trim().is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(
            "invalid_name",
            format!(
                "the name must have 1 to {MAX_NAME_CHARS} characters, not all white space, \
                 and no control characters"
            ),
        ));
    }
    Ok(())
}

/// Validate config and secrets, check every outbound URL, and for per-user instances the
/// OAuth settings. Returns the instance and the config to store (without `authType`).
async fn validate_instance(
    s: &AppState,
    dispatcher: &connector_runtime::Dispatcher,
    config: Value,
    secrets: Value,
) -> AppResult<(ConnectorInstance, Value)> {
    let instance = ConnectorInstance::new(Arc::clone(dispatcher.spec()), config.clone(), secrets)?;
    s.outbound.check_outbound_instance(&instance).await?;
    if instance.auth_mode() == AuthMode::PerUser {
        OAuthClient::from_instance(&instance, s.flows.settings())?;
    }
    let mut stored = match config {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    stored.remove("authType");
    Ok((instance, Value::Object(stored)))
}

fn secrets_map(v: Value) -> AppResult<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        _ => Err(ApiError::bad_request(
            "invalid_secrets",
            "secrets must be a JSON object",
        )),
    }
}

#[utoipa::path(post, path = "/api/instances", security(("bearer" = []), ("api_key" = [])), request_body = CreateInstance,
    responses((status = 201, description = "Created", body = InstanceView), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 409, response = crate::openapi::Conflict), (status = 408, response = crate::openapi::RequestTimeout), (status = 413, response = crate::openapi::PayloadTooLarge), (status = 415, response = crate::openapi::UnsupportedMediaType), (status = 502, response = crate::openapi::BadGateway), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn create_instance(
    State(s): St,
    Admin(user): Admin,
    ApiJson(body): ApiJson<CreateInstance>,
) -> AppResult<(StatusCode, Json<InstanceView>)> {
    let id = body
        .id
        .clone()
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
    let audit = Audit::new("instance.create").actor(&user).instance(&id);
    audited(&s.stores.audit, audit, async {
        if let Some(id) = &body.id {
            valid_id(id)?;
        }
        valid_name(&body.name)?;
        let dispatcher = s
            .registry
            .get(&body.connector_type)
            .cloned()
            .ok_or_else(|| {
                ApiError::bad_request(
                    "unknown_connector_type",
                    format!("no connector type `{}`", body.connector_type),
                )
            })?;
        let (instance, config) =
            validate_instance(&s, &dispatcher, body.config, body.secrets.clone()).await?;
        let secrets = Secrets::new(secrets_map(body.secrets)?);
        let access = match body.access {
            Some(names) => Some(access_ids(&s, names).await?),
            None => None,
        };
        let rt = InstanceRuntime::new_with_egress(instance.clone(), s.outbound.clone())?;
        let ctx = hook_ctx(&rt, &user);
        let new = NewConnectorInstance {
            access,
            id: Some(id.clone()),
            connector_type: body.connector_type,
            name: body.name,
            auth_type: instance.auth_type,
            config,
            secrets,
        };
        let store = Arc::clone(&s.stores.instances);
        let outcome = dispatcher
            .save_instance(&ctx, || async move {
                store.create_instance(new).await.map_err(ActionError::from)
            })
            .await?;
        let record = outcome.value;
        let live = s.build_live(record.clone())?;
        s.live
            .write()
            .expect("not poisoned")
            .insert(record.id.clone(), Arc::clone(&live));
        tracing::info!(instance = %record.id, connector_type = %record.connector_type, "instance created");
        let mut v = instance_view(&s, &live, &user).await?;
        v.hook_error = outcome.hook_error.map(|e| crate::error::ErrorDetail {
            code: e.code.to_string(),
            message: e.message,
        });
        Ok((StatusCode::CREATED, Json(v)))
    })
    .await
}

async fn instance_view(
    s: &AppState,
    live: &crate::state::Live,
    user: &User,
) -> AppResult<InstanceView> {
    let mut users = None;
    instance_view_with(s, live, user, &mut users).await
}

/// [`instance_view`], reading the users (for an admin's view of access lists) at most once
/// into `users`, so a listing asks the store once rather than once per instance.
async fn instance_view_with(
    s: &AppState,
    live: &crate::state::Live,
    user: &User,
    users: &mut Option<Vec<User>>,
) -> AppResult<InstanceView> {
    let mut v = view(
        &live.record,
        crate::state::secret_names(&live.dispatcher, live.record.auth_type),
    );
    if live.record.auth_mode == AuthMode::PerUser {
        let t = s
            .stores
            .tokens
            .get_user_token(&UserTokenKey::oauth(
                user.id.as_str(),
                live.record.id.as_str(),
            ))
            .await?;
        v.connected = Some(t.is_some_and(|t| !t.revoked));
    }
    if user.admin
        && let Some(ids) = &live.record.access
    {
        if users.is_none() {
            *users = Some(s.stores.users.list_users().await?);
        }
        v.access = users.as_deref().map(|u| access::names_of(u, ids));
    }
    Ok(v)
}

/// The user ids of an access list given by name.
async fn access_ids(s: &AppState, names: Vec<AccessName>) -> AppResult<Vec<String>> {
    let names: Vec<String> = names.into_iter().map(|n| n.0).collect();
    access::ids_of(&*s.stores.users, &names).await
}

/// Disconnect, from the per-user instance `after`, every user who could use it `before` and
/// may not any more (their tokens are revoked at the provider where it can revoke).
async fn disconnect_lost_access(
    s: &AppState,
    before: &ConnectorInstanceRecord,
    after: &ConnectorInstanceRecord,
) -> AppResult<()> {
    if after.auth_mode != AuthMode::PerUser || before.access == after.access {
        return Ok(());
    }
    for u in s.stores.users.list_users().await? {
        if access::may_use(&u, before) && !access::may_use(&u, after) {
            let deleted = s.flows.disconnect(&after.id, &u.id).await?;
            if deleted > 0 {
                tracing::info!(instance = %after.id, user = %u.id, "access removed: user disconnected");
            }
        }
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/instances", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "Every instance", body = InstanceList), (status = 401, response = crate::openapi::Unauthorized), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn list_instances(State(s): St, Caller(user): Caller) -> AppResult<Json<InstanceList>> {
    let lives = s.all_live().await?;
    let mut instances = Vec::with_capacity(lives.len());
    let mut users = None;
    for l in lives.iter().filter(|l| access::may_use(&user, &l.record)) {
        instances.push(instance_view_with(&s, l, &user, &mut users).await?);
    }
    Ok(Json(InstanceList { instances }))
}

#[utoipa::path(get, path = "/api/instances/{id}", security(("bearer" = []), ("api_key" = [])), params(("id" = String, Path, description = "The instance id", min_length = 1, max_length = 64, pattern = r"^[a-z0-9_-]{1,64}$")),
    responses((status = 200, description = "The instance", body = InstanceView), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 404, response = crate::openapi::NotFound), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn get_instance(
    State(s): St,
    Caller(user): Caller,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<InstanceView>> {
    let live = s.live_for(&id, &user).await?;
    Ok(Json(instance_view(&s, &live, &user).await?))
}

/// The config and secrets an update asks for: `config` replaces the stored one (keeping the
/// auth type unless it names one), `secrets` is merged into the stored ones (a `null` value
/// removes one).
fn updated_settings(
    live: &crate::state::Live,
    config: Option<Value>,
    secrets_update: Option<Value>,
) -> AppResult<(Map<String, Value>, Map<String, Value>)> {
    let mut config = match config {
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_config",
                "config must be a JSON object",
            ));
        }
        None => match &live.record.config {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        },
    };
    config
        .entry("authType")
        .or_insert_with(|| Value::String(live.record.auth_type.as_str().to_string()));
    let mut secrets = secrets_map(secrets_value(&live.dispatcher, &live.record))?;
    if let Some(update) = secrets_update {
        for (k, v) in secrets_map(update)? {
            if v.is_null() {
                secrets.remove(&k);
            } else {
                secrets.insert(k, v);
            }
        }
    }
    Ok((config, secrets))
}

#[utoipa::path(put, path = "/api/instances/{id}", security(("bearer" = []), ("api_key" = [])), params(("id" = String, Path, description = "The instance id", min_length = 1, max_length = 64, pattern = r"^[a-z0-9_-]{1,64}$")),
    request_body = UpdateInstance,
    responses((status = 200, description = "The updated instance", body = InstanceView), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 404, response = crate::openapi::NotFound), (status = 408, response = crate::openapi::RequestTimeout), (status = 413, response = crate::openapi::PayloadTooLarge), (status = 415, response = crate::openapi::UnsupportedMediaType), (status = 502, response = crate::openapi::BadGateway), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn update_instance(
    State(s): St,
    Admin(user): Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateInstance>,
) -> AppResult<Json<InstanceView>> {
    let audit = Audit::new("instance.update").actor(&user).instance(&id);
    audited(&s.stores.audit, audit, async {
        if let Some(name) = &body.name {
            valid_name(name)?;
        }
        let live = s.get_live(&id).await?;
        let dispatcher = Arc::clone(&live.dispatcher);
        let (config, secrets) = updated_settings(&live, body.config, body.secrets)?;
        let (instance, config) = validate_instance(
            &s,
            &dispatcher,
            Value::Object(config),
            Value::Object(secrets.clone()),
        )
        .await?;
        let rt = InstanceRuntime::new_with_egress(instance.clone(), s.outbound.clone())?;
        let ctx = hook_ctx(&rt, &user);
        let access = match body.access {
            None => None,
            Some(None) => Some(None),
            Some(Some(names)) => Some(Some(access_ids(&s, names).await?)),
        };
        let update = InstanceUpdate {
            access,
            name: body.name,
            auth_type: Some(instance.auth_type),
            config: Some(config),
            secrets: Some(Secrets::new(secrets)),
        };
        let store = Arc::clone(&s.stores.instances);
        let id2 = id.clone();
        let outcome = dispatcher
            .save_instance(&ctx, || async move {
                store
                    .update_instance(&id2, update)
                    .await
                    .map_err(ActionError::from)
            })
            .await?;
        let before = live.record.clone();
        let live = s.build_live(outcome.value)?;
        s.live
            .write()
            .expect("not poisoned")
            .insert(id.clone(), Arc::clone(&live));
        tracing::info!(instance = %id, "instance updated");
        disconnect_lost_access(&s, &before, &live.record).await?;
        let mut v = instance_view(&s, &live, &user).await?;
        v.hook_error = outcome.hook_error.map(|e| crate::error::ErrorDetail {
            code: e.code.to_string(),
            message: e.message,
        });
        Ok(Json(v))
    })
    .await
}

#[utoipa::path(delete, path = "/api/instances/{id}", security(("bearer" = []), ("api_key" = [])), params(("id" = String, Path, description = "The instance id", min_length = 1, max_length = 64, pattern = r"^[a-z0-9_-]{1,64}$")),
    responses((status = 204, description = "Deleted"), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 404, response = crate::openapi::NotFound), (status = 502, response = crate::openapi::BadGateway), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn delete_instance(
    State(s): St,
    Admin(user): Admin,
    ApiPath(id): ApiPath<String>,
) -> AppResult<StatusCode> {
    let audit = Audit::new("instance.delete").actor(&user).instance(&id);
    audited(&s.stores.audit, audit, async {
        let live = s.get_live(&id).await?;
        let ctx = hook_ctx(&live.runtime, &user);
        let store = Arc::clone(&s.stores.instances);
        let id2 = id.clone();
        let outcome = live
            .dispatcher
            .delete_instance(&ctx, || async move {
                store.delete_instance(&id2).await.map_err(ActionError::from)
            })
            .await?;
        s.live.write().expect("not poisoned").remove(&id);
        if !outcome.value {
            return Err(ApiError::not_found("instance", &id));
        }
        tracing::info!(instance = %id, "instance deleted");
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

// ---------------------------------------------------------------- actions

/// Run an action as the caller. A streaming action answers with Server-Sent Events: one
/// event per item (its name is the upstream event name), an `error` event on failure, and a
/// final `end` event.
#[utoipa::path(post, path = "/api/instances/{id}/actions/{action}", security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The instance id", min_length = 1, max_length = 64, pattern = r"^[a-z0-9_-]{1,64}$"), ("action" = String, Path, description = "The action name", pattern = r"^[A-Za-z][A-Za-z0-9_]*$"), ActionQuery),
    request_body(content = Option<Object>, description = "The action's input: a JSON object (an empty body counts as `{}`)", content_type = "application/json"),
    responses((status = 200, description = "The output, or for a streaming action Server-Sent Events", content(
            (ActionOutput = "application/json"),
            (String = "text/event-stream"))),
        (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 404, response = crate::openapi::NotFound), (status = 408, response = crate::openapi::RequestTimeout), (status = 413, response = crate::openapi::PayloadTooLarge), (status = 415, response = crate::openapi::UnsupportedMediaType), (status = 429, response = crate::openapi::TooManyRequests), (status = 502, response = crate::openapi::BadGateway), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn run_action(
    State(s): St,
    Caller(user): Caller,
    ApiPath((id, action)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<ActionQuery>,
    ApiJsonOrEmpty(input): ApiJsonOrEmpty<Value>,
) -> AppResult<Response> {
    let audit = Audit::new("action.run")
        .actor(&user)
        .instance(&id)
        .action(&action);
    let live = match s.live_for(&id, &user).await {
        Ok(live) => live,
        Err(e) => {
            audit.finish_error(&*s.stores.audit, &e).await;
            return Err(e);
        }
    };
    let audit = audit.on_behalf_of(match live.record.auth_mode {
        AuthMode::PerUser => user.name.as_str(),
        AuthMode::Shared => "shared",
    });
    let streaming = live
        .dispatcher
        .spec()
        .actions
        .get(&action)
        .is_some_and(|a| a.supports_streaming);
    if streaming {
        return stream_action(&s, &live, &user, &action, input, audit).await;
    }
    let body = async {
        let started = std::time::Instant::now();
        let ctx = live.runtime.context(&user.id, CancellationToken::new());
        let result = run_once(&live, &ctx, &action, q.all_pages, input).await;
        count_action(&s, &live, &action, result.as_ref().map(|_| ()), started);
        result.map_err(|e| for_caller(e, &user, &id))
    };
    audited(&s.stores.audit, audit, body).await
}

/// Count an action run in the metrics. Only actions the spec declares are counted: an
/// unknown name is the caller's text.
fn count_action(
    s: &AppState,
    live: &crate::state::Live,
    action: &str,
    outcome: Result<(), &ActionError>,
    started: std::time::Instant,
) {
    let spec = live.dispatcher.spec();
    if spec.actions.contains_key(action) {
        s.metrics
            .action_run(&spec.id, action, outcome, started.elapsed());
    }
}

/// A non-streaming action: as a whole listing (`allPages` on a listing action) or once.
async fn run_once(
    live: &crate::state::Live,
    ctx: &connector_runtime::ActionContext,
    action: &str,
    all_pages: bool,
    input: Value,
) -> Result<Response, ActionError> {
    if all_pages && live.dispatcher.is_listing(action) {
        let listing = live.dispatcher.list(ctx, action, input).await?;
        let output = ActionOutput {
            output: Value::Array(listing.records),
            truncated: listing.truncated.map(TruncatedView::from),
        };
        return Ok(Json(output).into_response());
    }
    let output = live
        .dispatcher
        .execute(ctx, action, input, ExecuteOptions { all_pages })
        .await?;
    Ok(Json(ActionOutput {
        output,
        truncated: None,
    })
    .into_response())
}

/// A streaming action: Server-Sent Events, then an `end` event. Audited and counted when the
/// stream ends (audited as `cancelled` when the client goes away first).
async fn stream_action(
    s: &Arc<AppState>,
    live: &Arc<crate::state::Live>,
    user: &User,
    action: &str,
    input: Value,
    audit: Audit,
) -> AppResult<Response> {
    let started = std::time::Instant::now();
    let ctx = live.runtime.context(&user.id, CancellationToken::new());
    let stream = match live.dispatcher.stream(&ctx, action, input).await {
        Ok(stream) => stream,
        Err(e) => {
            count_action(s, live, action, Err(&e), started);
            let e = for_caller(e, user, &live.record.id);
            audit.finish_error(&*s.stores.audit, &e).await;
            return Err(e);
        }
    };
    let mut pending = PendingAudit::new(Arc::clone(&s.stores.audit), audit);
    let failure: Arc<std::sync::Mutex<Option<ActionError>>> = Arc::default();
    let seen = Arc::clone(&failure);
    let (s, live, action) = (Arc::clone(s), Arc::clone(live), action.to_string());
    let events = stream
        .map(move |item| {
            let ev = match item {
                Ok(ev) => Event::default()
                    .event(if ev.event.is_empty() {
                        "message".to_string()
                    } else {
                        ev.event
                    })
                    .json_data(ev.data),
                Err(e) => {
                    let ev = Event::default()
                        .event("error")
                        .json_data(json!({ "code": e.code, "message": e.message }));
                    *seen.lock().expect("not poisoned") = Some(e);
                    ev
                }
            };
            Ok::<Event, Infallible>(ev.unwrap_or_else(|_| Event::default().event("error")))
        })
        .chain(futures::stream::once(async move {
            let failed = failure.lock().expect("not poisoned").take();
            count_action(
                &s,
                &live,
                &action,
                failed.as_ref().map_or(Ok(()), Err),
                started,
            );
            match failed.map(ApiError::from) {
                Some(e) => {
                    let class = crate::audit::outcome_class(e.status);
                    pending.finish(class, Some(&e.code)).await
                }
                None => pending.finish("ok", None).await,
            }
            Ok(Event::default().event("end").data("{}"))
        }));
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

#[utoipa::path(post, path = "/api/instances/{id}/test", security(("bearer" = []), ("api_key" = [])), params(("id" = String, Path, description = "The instance id", min_length = 1, max_length = 64, pattern = r"^[a-z0-9_-]{1,64}$")),
    responses((status = 200, description = "The connection check passed", body = TestResponse), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 404, response = crate::openapi::NotFound), (status = 429, response = crate::openapi::TooManyRequests), (status = 502, response = crate::openapi::BadGateway), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn test_instance(
    State(s): St,
    Caller(user): Caller,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<TestResponse>> {
    let audit = Audit::new("instance.test").actor(&user).instance(&id);
    audited(&s.stores.audit, audit, async {
        let live = s.live_for(&id, &user).await?;
        let ctx = live.runtime.context(&user.id, CancellationToken::new());
        let result = live
            .dispatcher
            .test(&ctx)
            .await
            .map_err(|e| for_caller(e, &user, &id))?;
        Ok(Json(TestResponse { ok: true, result }))
    })
    .await
}

// ---------------------------------------------------------------- OAuth

fn rate_limited(bucket: &str, retry_after: u64) -> Response {
    let mut r = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many OAuth {bucket} requests; retry in {retry_after} s"),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// [`start_flow_unaudited`], recorded as `oauth.start`.
async fn start_flow(
    s: &AppState,
    user: &User,
    id: &str,
    req: StartRequest,
) -> Result<(StartResponse, HeaderValue), Response> {
    let audit = Audit::new("oauth.start").actor(user).instance(id);
    let r = start_flow_unaudited(s, user, id, req).await;
    let outcome = match &r {
        Ok(_) => "ok",
        Err(resp) => crate::audit::outcome_class(resp.status()),
    };
    audit.finish_with(&*s.stores.audit, outcome, None).await;
    r
}

async fn start_flow_unaudited(
    s: &AppState,
    user: &User,
    id: &str,
    req: StartRequest,
) -> Result<(StartResponse, HeaderValue), Response> {
    s.oauth_limit
        .hit(&user.id, "start")
        .await
        .map_err(IntoResponse::into_response)?
        .map_err(|w| rate_limited("start", w))?;
    let live = s
        .live_for(id, user)
        .await
        .map_err(IntoResponse::into_response)?;
    if live.record.auth_mode != AuthMode::PerUser {
        return Err(ApiError::bad_request(
            "not_per_user",
            format!("instance `{id}` uses shared credentials; there is no account to connect"),
        )
        .into_response());
    }
    if let Some(t) = req.tenant.as_deref() {
        valid_tenant(t).map_err(IntoResponse::into_response)?;
    }
    let return_url = match req.return_url.as_deref() {
        Some(r) => {
            Some(same_origin_return_url(&s.public_base, r).map_err(IntoResponse::into_response)?)
        }
        None => None,
    };
    let browser = FlowCookie::generate();
    let auth = s
        .flows
        .start(
            id,
            &user.id,
            StartOptions {
                tenant: req.tenant,
                return_url,
                browser_sha256: Some(browser.sha256.clone()),
            },
        )
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let ttl = s.flows.settings().state_ttl;
    let cookie = flow_set_cookie(s, &browser.value, ttl.as_secs())
        .map_err(|_| ApiError::internal("cookie").into_response())?;
    tracing::info!(instance = %id, "OAuth flow started");
    Ok((
        StartResponse {
            authorization_url: auth.authorization_url,
            state: auth.state,
            expires_at: auth.expires_at.as_millis(),
        },
        cookie,
    ))
}

/// Start connecting the caller's account. Also sets the `connector_flow` cookie that lets the
/// callback recognise the caller's browser.
#[utoipa::path(post, path = "/api/instances/{id}/oauth/start", security(("bearer" = []), ("api_key" = [])), params(("id" = String, Path, description = "The instance id", min_length = 1, max_length = 64, pattern = r"^[a-z0-9_-]{1,64}$")),
    request_body(content = Option<StartRequest>, description = "Both fields optional; an empty body counts as `{}`", content_type = "application/json"),
    responses((status = 200, description = "The authorization URL; sets the `connector_flow` cookie", body = StartResponse), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 404, response = crate::openapi::NotFound), (status = 408, response = crate::openapi::RequestTimeout), (status = 413, response = crate::openapi::PayloadTooLarge), (status = 415, response = crate::openapi::UnsupportedMediaType), (status = 429, response = crate::openapi::TooManyRequests), (status = 502, response = crate::openapi::BadGateway), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn oauth_start(
    State(s): St,
    Caller(user): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<StartRequest>,
) -> Response {
    match start_flow(&s, &user, &id, req).await {
        Ok((body, cookie)) => ([(header::SET_COOKIE, cookie)], Json(body)).into_response(),
        Err(r) => r,
    }
}

/// The same as the POST, answered with a redirect to the provider.
#[utoipa::path(get, path = "/api/instances/{id}/oauth/start", security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The instance id", min_length = 1, max_length = 64, pattern = r"^[a-z0-9_-]{1,64}$"), StartRequest),
    responses((status = 303, description = "Redirect to the authorization URL; sets the `connector_flow` cookie"), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 404, response = crate::openapi::NotFound), (status = 429, response = crate::openapi::TooManyRequests), (status = 502, response = crate::openapi::BadGateway), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn oauth_start_redirect(
    State(s): St,
    Caller(user): Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(req): ApiQuery<StartRequest>,
) -> Response {
    match start_flow(&s, &user, &id, req).await {
        Ok((body, cookie)) => match HeaderValue::from_str(&body.authorization_url) {
            Ok(loc) => (
                StatusCode::SEE_OTHER,
                [(header::SET_COOKIE, cookie), (header::LOCATION, loc)],
            )
                .into_response(),
            Err(_) => {
                ApiError::internal("the authorization URL is not a valid header").into_response()
            }
        },
        Err(r) => r,
    }
}

/// The longest tenant accepted (it is stored with the pending state).
pub const MAX_TENANT_CHARS: usize = 256;
/// The longest `state` looked up by cancel (the server's states are 43 characters).
const MAX_STATE_CHARS: usize = 256;

fn valid_tenant(t: &str) -> AppResult<()> {
    if t.chars().count() > MAX_TENANT_CHARS || t.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_tenant",
            format!("`tenant` has at most {MAX_TENANT_CHARS} characters and no control characters"),
        ));
    }
    Ok(())
}

/// `Set-Cookie` for the flow cookie (`max_age` 0 deletes it). Over https the name carries the
/// `__Host-` prefix, which requires `Secure` and `Path=/`; over plain http (local use) the
/// cookie is limited to the OAuth routes.
fn flow_set_cookie(s: &AppState, value: &str, max_age: u64) -> Result<HeaderValue, ApiError> {
    let attrs = if s.secure_cookies() {
        "Path=/; Secure"
    } else {
        "Path=/api/oauth"
    };
    let cookie = format!(
        "{}={value}; {attrs}; Max-Age={max_age}; HttpOnly; SameSite=Lax",
        s.flow_cookie_name()
    );
    HeaderValue::from_str(&cookie).map_err(|_| ApiError::internal("cookie"))
}

/// Every flow cookie the request carries, under either name: `(name, value)`.
fn flow_cookies(headers: &HeaderMap) -> Vec<(&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .filter(|(name, _)| *name == FLOW_COOKIE || *name == HOST_FLOW_COOKIE)
        .collect()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, message: &str, link: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{m}</p><p><a href=\"{l}\">Continue</a></p></body></html>\n",
        t = html_escape(title),
        m = html_escape(message),
        l = html_escape(link),
    );
    let mut r = (status, Html(body)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    r
}

/// Where the provider sends the browser back. The caller is the user whose browser holds the
/// flow cookie (or who sends an API key); the state must be theirs. Ends on a small HTML page.
#[utoipa::path(get, path = "/api/oauth/callback",
    params(("state" = Option<String>, Query, description = "The state the flow started with"), ("code" = Option<String>, Query, description = "The authorization code"), ("error" = Option<String>, Query, description = "The provider's refusal"), ("error_description" = Option<String>, Query, description = "The provider's explanation")),
    responses((status = 200, description = "HTML page: connected", content_type = "text/html", body = String),
        (status = 400, description = "HTML page: unknown, expired, replayed or cancelled state, a provider refusal or a failed exchange; JSON `multiple_flow_cookies` when the request carries more than one flow cookie", content(
            (String = "text/html"),
            (crate::error::ErrorBody = "application/json"))),
        (status = 401, description = "HTML page: this browser did not start the flow and sent no key", content_type = "text/html", body = String),
        (status = 403, description = "HTML page: the flow belongs to another user", content_type = "text/html", body = String),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 502, description = "HTML page: the provider failed transiently", content_type = "text/html", body = String),
        (status = 503, description = "HTML page: the store is not reachable", content_type = "text/html", body = String)))]
async fn oauth_callback(State(s): St, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let mut r = callback_response(&s, &headers, q.as_deref().unwrap_or("")).await;
    // Whatever the outcome, this browser's flow cookie has done its job.
    if let Ok(clear) = flow_set_cookie(&s, "", 0) {
        r.headers_mut().append(header::SET_COOKIE, clear);
    }
    r
}

/// The name of the user `id`, for the audit trail (`None` when the user is gone or the store
/// cannot say).
async fn user_name(s: &AppState, id: &str) -> Option<String> {
    let users = s.stores.users.list_users().await.ok()?;
    users.into_iter().find(|u| u.id == id).map(|u| u.name)
}

/// Whose callback this is: the user the browser's flow cookie is bound to (the state and the
/// cookie's digest are in the store, so the flow may have started on another server
/// instance), else the caller's API key; otherwise the "not signed in" page. The state's
/// instance is loaded here if this server has not seen it yet.
async fn callback_user(
    s: &AppState,
    headers: &HeaderMap,
    cookies: &[(&str, &str)],
    state: Option<&str>,
) -> Result<String, Response> {
    let pending = match state {
        Some(state) => s
            .stores
            .states
            .peek_state(state)
            .await
            .map_err(|e| ApiError::from(e).into_response())?,
        None => None,
    };
    if let Some(p) = &pending
        && let Err(e) = s.get_live(&p.connector_id).await
    {
        tracing::debug!(instance = %p.connector_id, code = %e.code, "callback for an instance not loaded");
    }
    let from_cookie = match (cookies.first(), &pending) {
        (Some((name, value)), Some(p)) if *name == s.flow_cookie_name() => {
            flow_cookie::user_of(p, value, Timestamp::now())
        }
        _ => None,
    };
    if let Some(u) = from_cookie {
        return Ok(u);
    }
    match authenticate(s, headers).await {
        Ok(u) => Ok(u.id),
        Err(_) => Err(page(
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "This browser did not start this authorization here, or it expired. Start again.",
            s.public_base.as_ref(),
        )),
    }
}

async fn callback_response(s: &AppState, headers: &HeaderMap, query: &str) -> Response {
    let home = s.public_base.to_string();
    let cookies = flow_cookies(headers);
    if cookies.len() > 1 {
        // Two flow cookies means one was planted (a browser holds one per name and path we
        // set); the server cannot tell which is the browser's own, so it uses neither.
        return ApiError::bad_request(
            "multiple_flow_cookies",
            "the request carries more than one OAuth flow cookie; clear this site's cookies \
             and start again",
        )
        .into_response();
    }
    let params = CallbackParams::from_query(query);
    let user_id = match callback_user(s, headers, &cookies, params.state.as_deref()).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    tracing::Span::current().record("user", user_id.as_str());
    let mut audit = Audit::new("oauth.connect");
    if let Some(name) = user_name(s, &user_id).await {
        audit = audit.actor_name(&name).on_behalf_of(&name);
    }
    let hit = match s.oauth_limit.hit(&user_id, "callback").await {
        Ok(hit) => hit,
        Err(e) => return e.into_response(),
    };
    if let Err(w) = hit {
        audit
            .finish_with(&*s.stores.audit, "rate_limited", Some("rate_limited"))
            .await;
        return rate_limited("callback", w);
    }
    match s.flows.callback(&user_id, params).await {
        Ok(c) => {
            audit
                .instance(&c.connector_id)
                .finish_with(&*s.stores.audit, "ok", None)
                .await;
            tracing::info!(instance = %c.connector_id, "OAuth flow completed");
            let name = s
                .get_live(&c.connector_id)
                .await
                .map(|l| l.record.name.clone())
                .unwrap_or_else(|_| c.connector_id.clone());
            page(
                StatusCode::OK,
                "Connected",
                &format!("Your account is connected to {name}."),
                c.return_url.as_deref().unwrap_or(&home),
            )
        }
        Err(e) => {
            tracing::info!(code = e.code, "OAuth callback refused");
            let e = ApiError::from_callback(e);
            audit.finish_error(&*s.stores.audit, &e).await;
            page(
                e.status,
                "Authorization failed",
                &format!("{} ({})", e.message, e.code),
                &home,
            )
        }
    }
}

/// Disconnect the caller's account from a per-user instance.
#[utoipa::path(delete, path = "/api/instances/{id}/oauth", security(("bearer" = []), ("api_key" = [])), params(("id" = String, Path, description = "The instance id", min_length = 1, max_length = 64, pattern = r"^[a-z0-9_-]{1,64}$")),
    responses((status = 200, description = "The caller's tokens for the instance are deleted", body = DisconnectResponse), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 404, response = crate::openapi::NotFound), (status = 502, response = crate::openapi::BadGateway), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn oauth_disconnect(
    State(s): St,
    Caller(user): Caller,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Json<DisconnectResponse>> {
    let audit = Audit::new("oauth.disconnect").actor(&user).instance(&id);
    audited(&s.stores.audit, audit, async {
        s.live_for(&id, &user).await?;
        let deleted = s.flows.disconnect(&id, &user.id).await?;
        tracing::info!(instance = %id, deleted, "OAuth disconnected");
        Ok(Json(DisconnectResponse { deleted }))
    })
    .await
}

/// Cancel one of the caller's pending authorizations.
#[utoipa::path(post, path = "/api/oauth/cancel", security(("bearer" = []), ("api_key" = [])), request_body = CancelRequest,
    responses((status = 200, description = "Whether a pending state was cancelled", body = CancelResponse), (status = 400, response = crate::openapi::BadRequest), (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden), (status = 408, response = crate::openapi::RequestTimeout), (status = 413, response = crate::openapi::PayloadTooLarge), (status = 415, response = crate::openapi::UnsupportedMediaType), (status = 503, response = crate::openapi::ServiceUnavailable)))]
async fn oauth_cancel(
    State(s): St,
    Caller(user): Caller,
    ApiJson(req): ApiJson<CancelRequest>,
) -> AppResult<Json<CancelResponse>> {
    let audit = Audit::new("oauth.cancel").actor(&user);
    audited(&s.stores.audit, audit, async {
        if req.state.len() > MAX_STATE_CHARS {
            return Err(ApiError::bad_request(
                "invalid_state",
                format!("`state` has at most {MAX_STATE_CHARS} characters"),
            ));
        }
        let cancelled = s.flows.cancel(&user.id, &req.state).await?;
        Ok(Json(CancelResponse { cancelled }))
    })
    .await
}

// ---------------------------------------------------------------- OpenAPI

#[derive(OpenApi)]
#[openapi(
    info(title = "connector serve", description = "Connector instances, actions, per-user OAuth. Authenticate with `Authorization: Bearer <API key>` or `X-Api-Key: <API key>`. Every error is `{\"error\": {\"code\", \"message\"}}`."),
    paths(healthz, readyz, openapi_json, metrics, connector_types, connector_type, list_instances, create_instance, get_instance,
        update_instance, delete_instance, run_action, test_instance, oauth_start, oauth_start_redirect,
        oauth_callback, oauth_disconnect, oauth_cancel, crate::audit_api::list_audit, crate::connection::instance_connection),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail, InstanceView, AccessName, crate::audit_api::AuditList, crate::audit_api::AuditEventView, InstanceList, CreateInstance, UpdateInstance, TruncatedView,
        ActionOutput, StartRequest, StartResponse, CancelRequest, CancelResponse, DisconnectResponse, TestResponse, Health, Catalog,
        crate::connection::ConnectionView),
        responses(crate::openapi::BadRequest, crate::openapi::RequestTimeout, crate::openapi::Unauthorized, crate::openapi::Forbidden, crate::openapi::NotFound,
            crate::openapi::Conflict, crate::openapi::PayloadTooLarge, crate::openapi::UnsupportedMediaType,
            crate::openapi::TooManyRequests, crate::openapi::BadGateway, crate::openapi::ServiceUnavailable)),
    modifiers(&OpenApiExtras)
)]
pub struct ApiDoc;
