//! Pieces of the OpenAPI document that are not one handler's annotation: the reusable error
//! responses (one per status, each with its description), the security schemes, and the
//! links stateful clients follow from a created instance. The paths are in `api.rs`.

use serde_json::{Map, Value, json};
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::error::ErrorBody;

/// The request is not valid: a malformed or non-object JSON body, a body or query field that
/// breaks its rule, a path parameter that is not UTF-8, or a config or input the connector's
/// schema refuses.
#[derive(utoipa::ToResponse)]
#[allow(dead_code)]
pub struct BadRequest(ErrorBody);

/// No valid API key: missing, malformed or unknown (the answer does not say which).
#[derive(utoipa::ToResponse)]
#[allow(dead_code)]
pub struct Unauthorized(ErrorBody);

/// Not allowed: the operation needs the admin role, the OAuth state belongs to another user,
/// or the upstream credential is missing or refused.
#[derive(utoipa::ToResponse)]
#[allow(dead_code)]
pub struct Forbidden(ErrorBody);

/// No such instance, action or connector type.
#[derive(utoipa::ToResponse)]
#[allow(dead_code)]
pub struct NotFound(ErrorBody);

/// The instance id is taken.
#[derive(utoipa::ToResponse)]
#[allow(dead_code)]
pub struct Conflict(ErrorBody);

/// The body is larger than `--max-body-bytes`.
#[derive(utoipa::ToResponse)]
#[allow(dead_code)]
pub struct PayloadTooLarge(ErrorBody);

/// The body did not arrive within `--body-timeout`; the connection is closed.
#[derive(utoipa::ToResponse)]
#[allow(dead_code)]
pub struct RequestTimeout(ErrorBody);

/// The body is not `application/json`.
#[derive(utoipa::ToResponse)]
#[allow(dead_code)]
pub struct UnsupportedMediaType(ErrorBody);

/// Rate limited (OAuth starts and callbacks per user, or the upstream API); `Retry-After`
/// says when to try again.
#[derive(utoipa::ToResponse)]
#[allow(dead_code)]
pub struct TooManyRequests(ErrorBody);

/// The upstream API failed transiently.
#[derive(utoipa::ToResponse)]
#[allow(dead_code)]
pub struct BadGateway(ErrorBody);

/// The store (users, tokens, instances) is not reachable.
#[derive(utoipa::ToResponse)]
#[allow(dead_code)]
pub struct ServiceUnavailable(ErrorBody);

/// The security scheme names the path annotations use.
pub const BEARER: &str = "bearer";
pub const API_KEY: &str = "api_key";

/// Declares both ways to send a key.
pub struct Extras;

impl utoipa::Modify for Extras {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <API key>` (scheme in any case)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "`X-Api-Key: <API key>`",
            ))),
        );
    }
}

/// The finished document as JSON: utoipa's model plus the links, which are added here
/// because utoipa 5 serializes a link's `operationId` as `operation_id`, which validators
/// refuse.
pub fn finish(doc: OpenApi) -> Value {
    let mut v = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    // An instance id (from the created instance, or the first one listed) feeds every
    // operation on `/api/instances/{id}...`, so stateful clients can follow from one to
    // the next.
    add_links(
        &mut v,
        "/api/instances",
        "post",
        "201",
        &[("id", "$response.body#/id")],
        &INSTANCE_OPS,
    );
    add_links(
        &mut v,
        "/api/instances",
        "get",
        "200",
        &[("id", "$response.body#/instances/0/id")],
        &INSTANCE_OPS,
    );
    add_links(
        &mut v,
        "/api/connector-types",
        "get",
        "200",
        &[("id", "$response.body#/connectorTypes/0/id")],
        &["connector_type"],
    );
    // A user name (the created user, or the first listed: often the caller, whom the
    // self-lockout rules protect) feeds every operation on `/api/users/{name}...`.
    add_links(
        &mut v,
        "/api/users",
        "post",
        "201",
        &[("name", "$response.body#/user/name")],
        &USER_OPS,
    );
    add_links(
        &mut v,
        "/api/users",
        "get",
        "200",
        &[("name", "$response.body#/users/0/name")],
        &USER_OPS,
    );
    // A created key's name, with the user from the request path, feeds its removal.
    add_links(
        &mut v,
        "/api/users/{name}/keys",
        "post",
        "201",
        &[
            ("name", "$request.path.name"),
            ("key", "$response.body#/name"),
        ],
        &["remove_user_key"],
    );
    v
}

const USER_OPS: [&str; 6] = [
    "remove_user",
    "disable_user",
    "enable_user",
    "rotate_user_key",
    "list_user_keys",
    "add_user_key",
];

const INSTANCE_OPS: [&str; 8] = [
    "get_instance",
    "instance_connection",
    "update_instance",
    "delete_instance",
    "test_instance",
    "oauth_start",
    "oauth_start_redirect",
    "oauth_disconnect",
];

/// Link `path`'s `method` response `status` to each of `targets`, feeding each parameter
/// `(name, expression)` of `params`.
fn add_links(
    doc: &mut Value,
    path: &str,
    method: &str,
    status: &str,
    params: &[(&str, &str)],
    targets: &[&str],
) {
    let Some(Value::Object(response)) = doc.pointer_mut(&format!(
        "/paths/{}/{method}/responses/{status}",
        path.replace('~', "~0").replace('/', "~1")
    )) else {
        return;
    };
    let links = response
        .entry("links")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(links) = links {
        for t in targets {
            links.insert(
                (*t).to_string(),
                json!({ "operationId": t, "parameters": params.iter().map(|(k, e)| ((*k).to_string(), json!(e))).collect::<Map<String, Value>>() }),
            );
        }
    }
}
