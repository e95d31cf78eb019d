//! Pieces of the OpenAPI document that are not one handler's annotation: the reusable error
//! responses (one per status, each with its description), the security schemes, and the
//! links stateful clients follow from a created instance. The paths are in `api.rs`.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::{OpenApi, RefOr};

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

/// Declares both ways to send a key and the links from `createInstance`.
pub struct Extras;

impl utoipa::Modify for Extras {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`Authorization: Bearer <API key>` (scheme in any case)"))
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
        link_created_instance(openapi);
    }
}

/// A created instance's id feeds every operation on `/api/instances/{id}...`, so stateful
/// testing (and readers) can follow from the 201 to the rest.
fn link_created_instance(openapi: &mut OpenApi) {
    const TARGETS: [&str; 6] = [
        "get_instance",
        "update_instance",
        "delete_instance",
        "test_instance",
        "oauth_start",
        "oauth_disconnect",
    ];
    let Some(create) = openapi
        .paths
        .paths
        .get_mut("/api/instances")
        .and_then(|p| p.post.as_mut())
    else {
        return;
    };
    let Some(RefOr::T(created)) = create.responses.responses.get_mut("201") else {
        return;
    };
    for target in TARGETS {
        created.links.insert(
            target.to_string(),
            RefOr::T(
                LinkBuilder::new()
                    .operation_id(target)
                    .parameter("id", "$response.body#/id")
                    .build(),
            ),
        );
    }
}
