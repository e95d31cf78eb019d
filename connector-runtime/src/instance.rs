//! Connector instances: a spec plus validated config and secrets, and the client built for them.

use std::sync::Arc;
use std::time::Duration;

use connector_spec::{AuthMode, AuthTypeId, AuthTypeRef, ConnectorSpec};
use serde_json::{Map, Value};

use crate::error::ActionError;
use crate::request_base::{InstanceScope, RequestBase};
use crate::secrets::{Redactor, Secrets};
use crate::user_template::{UserTemplate, UserTemplates};

pub use crate::auth::TlsConfig;

/// A configured connector: what a user saved, validated.
#[derive(Clone)]
pub struct ConnectorInstance {
    pub spec: Arc<ConnectorSpec>,
    /// The selected auth type.
    pub auth_type: AuthTypeId,
    /// Config with defaults applied (connector fields and the auth type's fields).
    pub config: Map<String, Value>,
    pub secrets: Secrets,
    pub(crate) redactor: Redactor,
    /// `config` and `secrets` as template values, built once for every call's templates.
    pub(crate) scope: InstanceScope,
    /// The rendered `baseUrl` and `auth.headers`.
    pub(crate) base: Arc<RequestBase>,
    /// The `x-template` config fields, compiled when the instance was created.
    pub(crate) user_templates: Arc<UserTemplates>,
}

impl std::fmt::Debug for ConnectorInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorInstance")
            .field("id", &self.spec.id)
            .field("auth_type", &self.auth_type)
            .field("config", &self.config)
            .field("secrets", &self.secrets)
            .finish()
    }
}

/// A JSON object (null is an empty one); anything else is the user error `code`.
fn object(
    v: Value,
    code: &'static str,
    message: &'static str,
) -> Result<Map<String, Value>, ActionError> {
    match v {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        _ => Err(ActionError::user(code, message)),
    }
}

/// The auth type `config.authType` names, else the recommended one, else the first listed.
fn selected_auth_type(
    spec: &ConnectorSpec,
    named: Option<Value>,
) -> Result<AuthTypeRef, ActionError> {
    let types = &spec.auth.types;
    match named {
        Some(Value::String(s)) => types
            .iter()
            .find(|t| t.kind.as_str() == s)
            .cloned()
            .ok_or_else(|| {
                let accepted: Vec<&str> = types.iter().map(|t| t.kind.as_str()).collect();
                ActionError::user(
                    "invalid_config",
                    format!(
                        "`authType` `{s}` is not accepted by {}; it accepts: {}",
                        spec.id,
                        accepted.join(", ")
                    ),
                )
            }),
        Some(_) => Err(ActionError::user(
            "invalid_config",
            "`authType` must be a string",
        )),
        None => types
            .iter()
            .find(|t| t.recommended)
            .or_else(|| types.first())
            .cloned()
            .ok_or_else(|| ActionError::user("invalid_config", "the spec accepts no auth type")),
    }
}

impl ConnectorInstance {
    /// Validate `config` and `secrets` against the spec and the selected auth type.
    ///
    /// The auth type is `config.authType` when given, else the recommended one, else the
    /// first listed. Errors name the field and never echo a secret value.
    pub fn new(
        spec: Arc<ConnectorSpec>,
        config: Value,
        secrets: Value,
    ) -> Result<ConnectorInstance, ActionError> {
        let mut config = object(config, "invalid_config", "config must be a JSON object")?;
        let secrets = object(secrets, "invalid_secrets", "secrets must be a JSON object")?;
        let auth_ref = selected_auth_type(&spec, config.remove("authType"))?;
        let auth = auth_ref.kind;
        let auth_config_schema = auth.config_schema();
        let auth_secret_schema = auth.secrets_schema();
        let (mut auth_config, mut conn_config) = split(config, auth_config_schema);
        apply_defaults(&mut conn_config, &spec.config);
        apply_auth_defaults(&mut auth_config, &conn_config, &auth_ref)?;
        apply_defaults(&mut auth_config, auth_config_schema);
        let (auth_secrets, conn_secrets) = split(secrets, auth_secret_schema);
        refuse_undeclared(&conn_config, &spec.config, "config", &spec.id, auth)?;
        refuse_undeclared(&conn_secrets, &spec.secrets, "secrets", &spec.id, auth)?;
        check(&spec.config, &conn_config, "config", false)?;
        check(auth_config_schema, &auth_config, "config", false)?;
        check(&spec.secrets, &conn_secrets, "secrets", true)?;
        check(auth_secret_schema, &auth_secrets, "secrets", true)?;
        let user_templates = Arc::new(UserTemplates::compile(&spec.config, &conn_config)?);
        let mut config = conn_config;
        config.extend(auth_config);
        let mut all_secrets = conn_secrets;
        all_secrets.extend(auth_secrets);
        let secrets = Secrets::new(all_secrets);
        let mut known = secrets.strings();
        known.extend(crate::auth::for_type(auth).secret_forms(&secrets));
        let redactor = Redactor::new(known);
        let scope = InstanceScope::new(&config, &secrets);
        let base = Arc::new(RequestBase::render(&spec, &scope, &redactor));
        Ok(ConnectorInstance {
            spec,
            auth_type: auth,
            config,
            secrets,
            redactor,
            scope,
            base,
            user_templates,
        })
    }

    /// The compiled user template of config field `field` (declared with `x-template`), when
    /// the instance configures one.
    pub fn user_template(&self, field: &str) -> Option<&UserTemplate> {
        self.user_templates.get(field)
    }

    /// Shared or per-user, from the auth type.
    pub fn auth_mode(&self) -> AuthMode {
        self.auth_type.auth_mode()
    }

    /// TLS settings the auth type needs (mTLS), if any.
    pub fn tls(&self) -> Option<TlsConfig> {
        crate::auth::for_type(self.auth_type).tls(&self.config, &self.secrets)
    }

    /// The redactor for this instance's secrets.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Connect and total timeouts from the spec, or the defaults.
    pub fn timeouts(&self) -> (Duration, Duration) {
        let t = self.spec.policies.timeouts.as_ref();
        (
            t.and_then(|t| t.connect_ms)
                .map_or(crate::http::DEFAULT_CONNECT_TIMEOUT, Duration::from_millis),
            t.and_then(|t| t.total_ms)
                .map_or(crate::http::DEFAULT_TOTAL_TIMEOUT, Duration::from_millis),
        )
    }
}

/// Split an object into the fields a schema declares and the rest.
fn split(values: Map<String, Value>, schema: &Value) -> (Map<String, Value>, Map<String, Value>) {
    let props = schema.get("properties").and_then(Value::as_object);
    values
        .into_iter()
        .partition(|(k, _)| props.is_some_and(|p| p.contains_key(k)))
}

/// A field neither the connector's schema nor the auth type's declares is refused, naming it:
/// the exported form schema says `additionalProperties: false`, and a silently stored stray
/// field (a typo of a secret's name, say) would look saved while doing nothing. A connector
/// schema that opens itself up (`additionalProperties` other than `false`, or
/// `patternProperties`) is left to the validator.
fn refuse_undeclared(
    rest: &Map<String, Value>,
    schema: &Value,
    what: &'static str,
    connector: &str,
    auth: AuthTypeId,
) -> Result<(), ActionError> {
    let open = schema
        .get("additionalProperties")
        .is_some_and(|a| a != &Value::Bool(false))
        || schema.get("patternProperties").is_some();
    if open {
        return Ok(());
    }
    let props = schema.get("properties").and_then(Value::as_object);
    let mut undeclared: Vec<&str> = rest
        .keys()
        .filter(|k| !props.is_some_and(|p| p.contains_key(*k)))
        .map(String::as_str)
        .collect();
    if undeclared.is_empty() {
        return Ok(());
    }
    undeclared.sort_unstable();
    let list = undeclared
        .iter()
        .take(10)
        // A field name is not a secret, but it is the caller's text: keep the echo short.
        .map(|k| format!("{what}.{}", k.chars().take(64).collect::<String>()))
        .collect::<Vec<_>>()
        .join(", ");
    Err(ActionError::user(
        if what == "config" {
            "invalid_config"
        } else {
            "invalid_secrets"
        },
        format!(
            "invalid {what}: {list}: not declared by {connector} or the `{}` auth type",
            auth.as_str()
        ),
    ))
}

/// The spec's `auth.types[].defaults` for fields the user left unset. A string default with
/// template syntax (`https://login.microsoftonline.com/{{ config.tenantId }}/oauth2/v2.0/token`)
/// is rendered over `config`: the connector's fields with their defaults and the auth fields
/// set by the user or by a plain default. The result is checked against the auth type's schema
/// like a value the user typed, and a URL is checked by the egress policy when it is requested.
fn apply_auth_defaults(
    auth_config: &mut Map<String, Value>,
    conn_config: &Map<String, Value>,
    auth_ref: &AuthTypeRef,
) -> Result<(), ActionError> {
    let mut templated = Vec::new();
    for (k, v) in &auth_ref.defaults {
        if auth_config.contains_key(k) {
            continue;
        }
        match v {
            Value::String(t) if connector_spec::template::is_template(t) => templated.push((k, t)),
            _ => {
                auth_config.insert(k.clone(), v.clone());
            }
        }
    }
    if templated.is_empty() {
        return Ok(());
    }
    let mut scope = conn_config.clone();
    scope.extend(auth_config.iter().map(|(k, v)| (k.clone(), v.clone())));
    let ctx = minijinja::Value::from_serialize(serde_json::json!({ "config": scope }));
    let renderer = crate::template::Renderer::new();
    for (k, t) in templated {
        let value = renderer.render_str(t, &ctx).map_err(|e| {
            ActionError::user(
                "invalid_config",
                format!(
                    "the `{}` default for `{k}` cannot be rendered ({}): set `{k}` or the config \
                     fields it reads",
                    auth_ref.kind, e.message
                ),
            )
        })?;
        auth_config.insert(k.clone(), Value::String(value));
    }
    Ok(())
}

fn apply_defaults(values: &mut Map<String, Value>, schema: &Value) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, p) in props {
            if let Some(d) = p.get("default") {
                values.entry(k.clone()).or_insert_with(|| d.clone());
            }
        }
    }
}

/// Validate against a schema; messages name the field and the rule, never the value.
fn check(
    schema: &Value,
    values: &Map<String, Value>,
    what: &'static str,
    secret: bool,
) -> Result<(), ActionError> {
    // Formats are assertions here, not annotations: the runtime builds requests from these
    // values, so a `format: uri` field must hold a URI.
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| {
            ActionError::system(
                "invalid_schema",
                format!("the {what} schema does not compile: {e}"),
            )
        })?;
    let instance = Value::Object(values.clone());
    let problems: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| describe_violation(&e, what, secret))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ActionError::user(
            if what == "config" {
                "invalid_config"
            } else {
                "invalid_secrets"
            },
            format!("invalid {what}: {}", problems.join("; ")),
        ))
    }
}

/// A validation error as `where: rule`, without the offending value.
pub(crate) fn describe_violation(
    e: &jsonschema::ValidationError<'_>,
    what: &str,
    hide_values: bool,
) -> String {
    let path = e.instance_path().to_string();
    let field = if path.is_empty() {
        what.to_string()
    } else {
        format!("{what}{}", path.replace('/', "."))
    };
    let keyword = e
        .schema_path()
        .to_string()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    if hide_values {
        match keyword.as_str() {
            // These messages name properties, never values.
            "required" | "additionalProperties" => {
                format!("{field}: {e}")
            }
            _ => format!("{field}: does not satisfy `{keyword}`"),
        }
    } else {
        format!("{field}: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPEC: &str = r#"id: .instance-test
displayName: Instance test
description: Config and secrets validation.
minimumLicense: basic
baseUrl: "https://api.example.com"
auth:
  types: [bearer]
config:
  type: object
  additionalProperties: false
  properties:
    home: { type: string, format: uri, maxLength: 2048 }
    region: { type: string, maxLength: 16 }
actions:
  ping:
    description: Ping.
    scope: read
    input:
      type: object
      additionalProperties: false
      properties: {}
    request:
      method: GET
      path: /ping
"#;

    fn spec() -> Arc<ConnectorSpec> {
        let loaded = connector_spec::load_str(
            "instance.yaml",
            SPEC,
            &connector_spec::LoadOptions::default(),
        );
        assert!(!loaded.has_errors(), "{}", loaded.render(false));
        Arc::new(loaded.spec.expect("spec"))
    }

    #[test]
    fn declared_fields_pass() {
        let i = ConnectorInstance::new(
            spec(),
            json!({"home": "https://example.com/x", "region": "eu"}),
            json!({"token": "t0k3n"}),
        )
        .unwrap();
        assert_eq!(i.config["region"], "eu");
    }

    #[test]
    fn an_undeclared_config_field_is_refused_by_name() {
        let e = ConnectorInstance::new(spec(), json!({"regoin": "eu"}), json!({"token": "t"}))
            .unwrap_err();
        assert_eq!(e.code, "invalid_config");
        assert!(e.message.contains("config.regoin"), "{}", e.message);
        assert!(e.message.contains("bearer"), "{}", e.message);
    }

    #[test]
    fn an_undeclared_secret_is_refused_by_name_without_its_value() {
        let e = ConnectorInstance::new(
            spec(),
            json!({}),
            json!({"token": "t", "tokn": "s3cr3t-value"}),
        )
        .unwrap_err();
        assert_eq!(e.code, "invalid_secrets");
        assert!(e.message.contains("secrets.tokn"), "{}", e.message);
        assert!(!e.message.contains("s3cr3t-value"), "{}", e.message);
    }

    #[test]
    fn format_uri_is_asserted() {
        let e = ConnectorInstance::new(spec(), json!({"home": "not a uri"}), json!({"token": "t"}))
            .unwrap_err();
        assert_eq!(e.code, "invalid_config");
        assert!(e.message.contains("config.home"), "{}", e.message);
    }

    const TEMPLATED: &str = r#"id: .templated-auth
displayName: Templated auth defaults
description: A token URL built from the tenant.
minimumLicense: basic
baseUrl: "https://graph.example.com"
auth:
  types:
    - type: oauth_client_credentials
      defaults:
        tokenUrl: "https://login.example.com/{{ config.tenantId }}/oauth2/v2.0/token"
        scope: "https://graph.example.com/.default"
config:
  type: object
  additionalProperties: false
  properties:
    tenantId: { type: string, maxLength: 64 }
actions:
  ping:
    description: Ping.
    scope: read
    input: { type: object, additionalProperties: false, properties: {} }
    request: { method: GET, path: /ping }
"#;

    fn templated() -> Arc<ConnectorSpec> {
        let loaded =
            connector_spec::load_str("t.yaml", TEMPLATED, &connector_spec::LoadOptions::default());
        assert!(!loaded.has_errors(), "{}", loaded.render(false));
        Arc::new(loaded.spec.expect("spec"))
    }

    #[test]
    fn a_templated_auth_default_is_rendered_over_config() {
        let i = ConnectorInstance::new(
            templated(),
            json!({"tenantId": "contoso", "clientId": "app"}),
            json!({"clientSecret": "s3cret"}),
        )
        .unwrap();
        assert_eq!(
            i.config["tokenUrl"],
            "https://login.example.com/contoso/oauth2/v2.0/token"
        );
        assert_eq!(i.config["scope"], "https://graph.example.com/.default");
        // The user's own value wins over the default.
        let i = ConnectorInstance::new(
            templated(),
            json!({"clientId": "app", "tokenUrl": "https://idp.example.org/token"}),
            json!({"clientSecret": "s3cret"}),
        )
        .unwrap();
        assert_eq!(i.config["tokenUrl"], "https://idp.example.org/token");
    }

    #[test]
    fn a_templated_auth_default_missing_its_field_is_a_config_error() {
        let e = ConnectorInstance::new(
            templated(),
            json!({"clientId": "app"}),
            json!({"clientSecret": "s3cret"}),
        )
        .unwrap_err();
        assert_eq!(e.code, "invalid_config");
        assert!(e.message.contains("`tokenUrl`"), "{}", e.message);
        assert!(!e.message.contains("s3cret"), "{}", e.message);
        // A value that renders to something the schema refuses is refused like a typed one.
        let e = ConnectorInstance::new(
            templated(),
            json!({"clientId": "app", "tenantId": "a b"}),
            json!({"clientSecret": "s3cret"}),
        )
        .unwrap_err();
        assert_eq!(e.code, "invalid_config");
        assert!(e.message.contains("config.tokenUrl"), "{}", e.message);
    }
}
