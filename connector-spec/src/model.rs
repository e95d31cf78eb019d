//! The connector model: what a YAML spec file and a `#[connector]` struct both become.
//!
//! Field names serialize in camelCase, exactly as they are written in a spec file, so the
//! serialized model *is* the spec format; `docs/connector-spec.schema.json` is generated from
//! these types.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::AuthTypeId;
use crate::output::OutputMapping;
use crate::path::JsonPath;

/// A JSON Schema (2020-12) document embedded in a spec, with `x-ui` hints.
pub type Schema = Value;

/// A complete connector definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(
    title = "Connector spec",
    description = "A connector spec file (format v1)."
)]
pub struct ConnectorSpec {
    /// Optional pointer to the format's JSON Schema; ignored by the loader.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema_ref: Option<String>,
    /// Connector type id: starts with `.`, then `A-Z a-z 0-9 . _ -`, at most 64 characters.
    #[schemars(regex(pattern = r"^\.[A-Za-z0-9._-]{1,63}$"))]
    pub id: String,
    /// Name shown to users.
    pub display_name: String,
    /// One or two sentences on what the connector does.
    pub description: String,
    /// The lowest license tier that may use the connector.
    pub minimum_license: License,
    /// Features the connector is offered in (`alerting`, `workflows`, `security`, ...).
    #[serde(default)]
    pub supported_feature_ids: Vec<String>,
    /// Icon name or URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Link to the vendor's or our documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
    /// Base URL that request paths are joined to; may be a template such as `{{ config.apiUrl }}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Accepted auth types and headers added to every request.
    pub auth: AuthSpec,
    /// JSON Schema of the connector's non-secret configuration.
    #[serde(default = "empty_object_schema")]
    pub config: Schema,
    /// JSON Schema of the connector's secrets (never echoed, never exported with values).
    #[serde(default = "empty_object_schema")]
    pub secrets: Schema,
    /// Retry, rate limit, pagination, streaming, timeout and error classification policies.
    #[serde(default, skip_serializing_if = "Policies::is_empty")]
    pub policies: Policies,
    /// Named actions, in the order they are written.
    pub actions: IndexMap<String, Action>,
    /// The connection check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<ConnectionTest>,
    /// Lifecycle hooks: Rust code or templated requests.
    #[serde(default, skip_serializing_if = "Hooks::is_empty")]
    pub hooks: Hooks,
    /// Sessions: state opened by one action, used by others, and closed by a third (for
    /// example a real-time response session on a host).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub sessions: IndexMap<String, SessionSpec>,
}

/// A session that member actions run inside: `init` opens it, `cleanup` always closes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionSpec {
    /// What the session is, for documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The action that opens the session. It receives the fields of the caller's input that
    /// its own input schema declares.
    pub init: String,
    /// JSON path to the session id in `init`'s output (e.g. `$.resources[0].session_id`).
    pub id: JsonPath,
    /// The action that closes the session; it runs after the member actions, also when they
    /// fail. Its templates can read `session.id` and `session.data` (init's output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<String>,
}

/// A JSON value under a key that is present: `equals: null` tests for null rather than
/// meaning "no test" (serde's `Option` would read a present `null` as `None`).
fn present_value<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// An empty object schema: `{ "type": "object", "properties": {} }`.
pub fn empty_object_schema() -> Schema {
    serde_json::json!({ "type": "object", "properties": {} })
}

/// License tiers, lowest first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum License {
    Basic,
    Gold,
    Platinum,
    Enterprise,
}

impl License {
    pub const ALL: [License; 4] = [
        License::Basic,
        License::Gold,
        License::Platinum,
        License::Enterprise,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            License::Basic => "basic",
            License::Gold => "gold",
            License::Platinum => "platinum",
            License::Enterprise => "enterprise",
        }
    }
}

/// The `auth` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthSpec {
    /// Accepted auth types, by id or with defaults.
    #[serde(deserialize_with = "auth_type_entries")]
    #[schemars(with = "Vec<AuthTypeEntry>")]
    pub types: Vec<AuthTypeRef>,
    /// Headers added to every request (values may be templates).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, String>,
    /// Values kept per user with their token (a per-user auth type's), readable in templates
    /// as `account.<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountSpec>,
}

/// Per-user account values: read from the token response and from a discovery request made
/// right after the authorization with the new access token, kept with the user's token, and
/// readable as `account.<name>` in `baseUrl` and the actions' templates (Salesforce's
/// `instance_url`, the Atlassian cloud id of `accessible-resources`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountSpec {
    /// Name → JSON path into the token response (the code exchange's).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub from_token_response: IndexMap<String, JsonPath>,
    /// A request made once after the authorization; its reply gives more values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<AccountDiscovery>,
}

impl AccountSpec {
    /// Every value name, token-response values first.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.from_token_response
            .keys()
            .chain(self.discovery.iter().flat_map(|d| d.values.keys()))
            .map(String::as_str)
    }
}

/// The discovery request: `GET url` with the user's new access token as a bearer token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountDiscovery {
    /// Absolute URL; a template over `config`.
    #[schemars(length(max = 2048))]
    pub url: String,
    /// Name → JSON path into the reply.
    pub values: IndexMap<String, JsonPath>,
}

/// How an `auth.types` entry is written.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum AuthTypeEntry {
    /// A bare id: `- bearer`.
    Id(AuthTypeId),
    /// A mapping: `- { type: bearer, recommended: true }`.
    Ref(AuthTypeRef),
}

fn auth_type_entries<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<AuthTypeRef>, D::Error> {
    let entries = Vec::<AuthTypeEntry>::deserialize(d)?;
    Ok(entries
        .into_iter()
        .map(|e| match e {
            AuthTypeEntry::Id(kind) => AuthTypeRef {
                kind,
                recommended: false,
                defaults: IndexMap::new(),
            },
            AuthTypeEntry::Ref(r) => r,
        })
        .collect())
}

/// One accepted auth type. Written as a bare id (`bearer`) or as a map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthTypeRef {
    /// The auth type id.
    #[serde(rename = "type")]
    pub kind: AuthTypeId,
    /// Shown first and preselected in forms.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recommended: bool,
    /// Default values for the auth type's configuration fields.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub defaults: IndexMap<String, Value>,
}

/// HTTP methods a declarative request may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
}

impl HttpMethod {
    pub const ALL: [HttpMethod; 6] = [
        HttpMethod::Get,
        HttpMethod::Post,
        HttpMethod::Put,
        HttpMethod::Patch,
        HttpMethod::Delete,
        HttpMethod::Head,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Head => "HEAD",
        }
    }
    /// Idempotent methods may be retried after a connection error or timeout.
    pub fn is_idempotent(self) -> bool {
        !matches!(self, HttpMethod::Post | HttpMethod::Patch)
    }
}

/// What an action is allowed to do; used by callers that gate AI tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionScope {
    Read,
    Write,
    Destroy,
}

impl ActionScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionScope::Read => "read",
            ActionScope::Write => "write",
            ActionScope::Destroy => "destroy",
        }
    }
}

/// One named action.
// No `deny_unknown_fields`: serde cannot combine it with the flattened implementation. The
// format schema closes the action's keys (see `format_schema`), and the loader checks every
// file against it before decoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// What the action does; shown to users and to AI callers.
    pub description: String,
    /// Offered to AI agents as a tool.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_tool: bool,
    /// read, write or destroy.
    pub scope: ActionScope,
    /// JSON Schema of the action's input.
    #[serde(default = "empty_object_schema")]
    pub input: Schema,
    /// JSON Schema of the action's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Schema>,
    /// The action returns a stream of events.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub supports_streaming: bool,
    /// How the action is carried out.
    #[serde(flatten)]
    pub implementation: Implementation,
    /// Pagination for this action, overriding `policies.pagination`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
    /// Streaming format for this action, overriding `policies.streaming`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming: Option<Streaming>,
    /// The session (a key of `sessions`) this action runs inside; its templates can read
    /// `session.id` and `session.data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Largest response body this action reads, in bytes, overriding
    /// `policies.maxResponseBytes` (default 64 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_099_511_627_776_u64))]
    pub max_response_bytes: Option<u64>,
    /// Where the model and the token counts of this call are read: the runtime records them
    /// in the instance's usage ledger (what a `handler: usage` action reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageMapping>,
}

/// An action's token usage (`usage:`): the model, a template over `config` and `input`, and
/// JSON paths into the action's output (on a streaming action, into each event's data; the
/// last value seen of each count is the call's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UsageMapping {
    /// The model the call used (template), e.g. `{{ input.model | default(config.defaultModel) }}`.
    pub model: String,
    /// JSON path of the prompt (input) token count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<String>,
    /// JSON path of the completion (output) token count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<String>,
    /// JSON path of the total token count; without one, prompt + completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<String>,
}

/// Either a declarative HTTP request, a Rust code handler, or the runtime's usage report.
// Built once per action at load time; boxing the larger variant would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Implementation {
    /// A templated HTTP request and response mapping.
    Http {
        request: Request,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response: Option<ResponseMapping>,
    },
    /// Implemented by a Rust method of the same name (`handler: code`), or answered by the
    /// runtime from the instance's usage ledger (`handler: usage`).
    Code { handler: HandlerKind },
}

impl Implementation {
    /// `handler: code`: a Rust method implements it.
    pub fn is_code(&self) -> bool {
        matches!(
            self,
            Implementation::Code {
                handler: HandlerKind::Code
            }
        )
    }

    /// `handler: usage`: the runtime's token-usage report, whose input and output schemas are
    /// the runtime's ([`usage_dashboard_input`], [`usage_dashboard_output`]).
    pub fn is_usage_report(&self) -> bool {
        matches!(
            self,
            Implementation::Code {
                handler: HandlerKind::Usage
            }
        )
    }
}

/// What carries out an action that has no `request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandlerKind {
    /// A Rust method of the same name.
    Code,
    /// The runtime's token-usage report of the instance (see `usage` on actions).
    Usage,
}

/// Give every `handler: usage` action the runtime's input and output schemas (the loader
/// refuses a spec that declares its own).
pub fn fill_usage_schemas(spec: &mut ConnectorSpec) {
    for a in spec.actions.values_mut() {
        if a.implementation.is_usage_report() {
            a.input = usage_dashboard_input();
            a.output = Some(usage_dashboard_output());
        }
    }
}

/// The input of a `handler: usage` action: a range of UTC days and an optional model.
pub fn usage_dashboard_input() -> Schema {
    serde_json::json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "from": {
                "type": "string",
                "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                "description": "First day (UTC, YYYY-MM-DD), inclusive; default 29 days before `to`."
            },
            "to": {
                "type": "string",
                "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                "description": "Last day (UTC, YYYY-MM-DD), inclusive; default today."
            },
            "model": {
                "type": "string",
                "minLength": 1,
                "maxLength": 256,
                "description": "Only this model."
            }
        }
    })
}

/// The output of a `handler: usage` action: totals, per model, and per day and model.
pub fn usage_dashboard_output() -> Schema {
    let counts = serde_json::json!({
        "calls": { "type": "integer", "minimum": 0 },
        "promptTokens": { "type": "integer", "minimum": 0 },
        "completionTokens": { "type": "integer", "minimum": 0 },
        "totalTokens": { "type": "integer", "minimum": 0 }
    });
    let with = |extra: serde_json::Value| {
        let mut props = counts.as_object().cloned().unwrap_or_default();
        let mut required: Vec<String> = props.keys().cloned().collect();
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            required.push(k.clone());
            props.insert(k, v);
        }
        serde_json::json!({ "type": "object", "required": required, "properties": props })
    };
    let text = serde_json::json!({ "type": "string" });
    serde_json::json!({
        "type": "object",
        "required": ["from", "to", "totals", "models", "days"],
        "properties": {
            "from": text,
            "to": text,
            "totals": with(serde_json::json!({})),
            "models": { "type": "array", "items": with(serde_json::json!({ "model": text })) },
            "days": {
                "type": "array",
                "items": with(serde_json::json!({ "day": text, "model": text }))
            }
        }
    })
}

/// A hook or connection test implemented in Rust: `handler: code` (the only kind they take).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CodeHandler {
    Code,
}

/// A templated HTTP request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Request {
    pub method: HttpMethod,
    /// Path joined to the connector's `baseUrl` (template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Absolute URL (template); used instead of `baseUrl` + `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Query parameters (templates). A parameter whose value renders empty is omitted.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub query: IndexMap<String, String>,
    /// Headers (templates).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, String>,
    /// Request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    /// A header that makes a write safe to retry: sent with the same value on every attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<IdempotencyKey>,
}

/// An idempotency key header (`Idempotency-Key: <value>`). With one, a POST or PATCH is
/// retried like a GET: the provider sees the same key on every attempt and acts once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdempotencyKey {
    /// The header name, for example `Idempotency-Key`.
    pub header: String,
    /// The value (template), rendered once per call. Omitted: a fresh random UUID for each
    /// request (every attempt of that request carries the same one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A request body; exactly one kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Body {
    /// A JSON value whose strings are templates. A string that is exactly one
    /// `{{ expression }}` keeps the expression's JSON type.
    Json(Value),
    /// `application/x-www-form-urlencoded` fields (templates).
    Form(IndexMap<String, String>),
    /// `multipart/form-data` text fields (templates).
    Multipart(IndexMap<String, String>),
    /// A raw text body (template).
    Text(String),
}

/// How a response becomes the action's output, and when a 2xx response is an error.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResponseMapping {
    /// Output: a JSON path into the response body (`$.channels`), or an object whose string
    /// values are JSON paths or templates over `response`. Defaults to the whole body.
    #[serde(
        default,
        deserialize_with = "present_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub output: Option<OutputMapping>,
    /// Rules that turn a successful HTTP response into an error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ErrorRule>,
    /// How a successful body becomes `response`: `json` (the default: JSON when it parses,
    /// else text), `text` (the body as a string, never parsed; invalid UTF-8 is an error) or
    /// `base64` (the body's bytes as a standard base64 string, for binary files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ResponseFormat>,
}

/// How a successful reply body is read (`response.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// JSON when it parses (or when the reply declares JSON), else text.
    #[default]
    Json,
    /// The body as a UTF-8 string, never parsed as JSON.
    Text,
    /// The body's bytes as a standard (padded) base64 string.
    Base64,
}

impl ResponseFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseFormat::Json => "json",
            ResponseFormat::Text => "text",
            ResponseFormat::Base64 => "base64",
        }
    }
}

/// A rule that detects an error inside a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorRule {
    /// When the rule applies.
    pub when: Condition,
    /// How the error is classified.
    #[serde(default = "default_user_class")]
    pub class: ErrorClass,
    /// Message template over `response`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn default_user_class() -> ErrorClass {
    ErrorClass::User
}

/// A test on a response. Exactly one of `equals`, `notEquals`, `in`, `exists`, `contains`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    /// JSON path into the response body; omit to test the raw body text (`contains`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<JsonPath>,
    /// HTTP status codes this condition is limited to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(range(min = 100, max = 599)))]
    pub status: Vec<u16>,
    #[serde(
        default,
        deserialize_with = "present_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub equals: Option<Value>,
    #[serde(
        default,
        deserialize_with = "present_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub not_equals: Option<Value>,
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// The value at `path` (or the body text) contains this substring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
}

/// Error classes: what a caller can do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The input or configuration is wrong; retrying will not help.
    User,
    /// Credentials are missing, wrong, expired or revoked.
    Auth,
    /// The provider asked us to slow down.
    RateLimited,
    /// A temporary failure; retrying later may succeed.
    Transient,
    /// A bug or an unexpected reply.
    System,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 5] = [
        ErrorClass::User,
        ErrorClass::Auth,
        ErrorClass::RateLimited,
        ErrorClass::Transient,
        ErrorClass::System,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::User => "user",
            ErrorClass::Auth => "auth",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::Transient => "transient",
            ErrorClass::System => "system",
        }
    }
}

/// The `policies` section.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policies {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitPolicy>,
    /// Default pagination for GET actions that declare none of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
    /// Default streaming format for streaming actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming: Option<Streaming>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
    /// Error classification by HTTP status, checked in order before the built-in rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<StatusClassification>,
    /// Largest response body read, in bytes (default 64 MiB); a larger reply fails with
    /// `response_too_large` before memory grows past it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_099_511_627_776_u64))]
    pub max_response_bytes: Option<u64>,
}

/// The response body limit when neither the action nor `policies` sets one: 64 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

impl Policies {
    pub fn is_empty(&self) -> bool {
        self == &Policies::default()
    }
}

/// Named sets of retryable status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetryPreset {
    /// 429, 503
    RateLimit,
    /// 500, 502, 503, 504
    ServerErrors,
    /// 502, 503, 504
    Gateway,
    /// 408, 429, 503
    TimeoutRateLimit,
}

impl RetryPreset {
    pub fn codes(self) -> &'static [u16] {
        match self {
            RetryPreset::RateLimit => &[429, 503],
            RetryPreset::ServerErrors => &[500, 502, 503, 504],
            RetryPreset::Gateway => &[502, 503, 504],
            RetryPreset::TimeoutRateLimit => &[408, 429, 503],
        }
    }
}

/// Retry policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryPolicy {
    /// Status code presets to retry on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub presets: Vec<RetryPreset>,
    /// Additional status codes to retry on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(range(min = 100, max = 599)))]
    pub status_codes: Vec<u16>,
    /// Retries after the first attempt.
    #[serde(default = "default_max_retries")]
    #[schemars(range(max = 20))]
    pub max_retries: u32,
    #[serde(default)]
    pub backoff: Backoff,
    /// Cap on any single wait, including a server's `Retry-After`, in milliseconds.
    #[serde(default = "default_max_wait_ms")]
    #[schemars(range(min = 1, max = 3_600_000))]
    pub max_wait_ms: u64,
    /// Retry connection errors and timeouts for non-idempotent methods (POST, PATCH) too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retry_non_idempotent: bool,
}

fn default_max_retries() -> u32 {
    3
}
fn default_max_wait_ms() -> u64 {
    30_000
}

impl RetryPolicy {
    /// Every status code this policy retries, deduplicated and sorted.
    pub fn retry_codes(&self) -> Vec<u16> {
        let mut codes: Vec<u16> = self
            .presets
            .iter()
            .flat_map(|p| p.codes().iter().copied())
            .chain(self.status_codes.iter().copied())
            .collect();
        codes.sort_unstable();
        codes.dedup();
        codes
    }
}

/// Backoff between retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Backoff {
    #[serde(default)]
    pub strategy: BackoffStrategy,
    /// First delay in milliseconds.
    #[serde(default = "default_initial_delay_ms")]
    #[schemars(range(max = 600_000))]
    pub initial_delay_ms: u64,
    /// Largest computed delay in milliseconds.
    #[serde(default = "default_max_delay_ms")]
    #[schemars(range(max = 3_600_000))]
    pub max_delay_ms: u64,
    /// Randomize each delay (full jitter) so clients do not retry in lockstep.
    #[serde(default = "default_true")]
    pub jitter: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            strategy: BackoffStrategy::default(),
            initial_delay_ms: default_initial_delay_ms(),
            max_delay_ms: default_max_delay_ms(),
            jitter: true,
        }
    }
}

fn default_initial_delay_ms() -> u64 {
    500
}
fn default_max_delay_ms() -> u64 {
    10_000
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackoffStrategy {
    #[default]
    Exponential,
    Linear,
    Fixed,
}

/// Rate-limit policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitPolicy {
    pub strategy: RateLimitStrategy,
    /// Status codes that mean "rate limited" (status_code strategy; default 429).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(range(min = 100, max = 599)))]
    pub codes: Vec<u16>,
    /// Header with the number of calls left (header strategy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_header: Option<String>,
    /// Header saying when the budget resets, or how long to wait (header strategy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_header: Option<String>,
    /// How to read the reset header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_format: Option<ResetFormat>,
    /// When a 2xx body says "throttled" (response_body strategy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitStrategy {
    Header,
    StatusCode,
    ResponseBody,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResetFormat {
    /// Seconds to wait.
    DeltaSeconds,
    /// Unix time in seconds.
    EpochSeconds,
    /// Unix time in milliseconds.
    EpochMillis,
    /// An HTTP date.
    HttpDate,
}

/// Pagination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pagination {
    pub style: PaginationStyle,
    /// JSON path to the records array in each page (default `$`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<JsonPath>,
    /// cursor: query parameter that carries the cursor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_param: Option<String>,
    /// cursor: JSON path to the next cursor; empty or missing ends the listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_path: Option<JsonPath>,
    /// offset: query parameter that carries the offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_param: Option<String>,
    /// page: query parameter that carries the page number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_param: Option<String>,
    /// page: number of the first page (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 1_000_000_000))]
    pub start_page: Option<u64>,
    /// Query parameter that carries the page size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_param: Option<String>,
    /// Records requested per page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000_000))]
    pub page_size: Option<u64>,
    /// offset/page: JSON path to the total number of records, when the API reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_path: Option<JsonPath>,
    /// Stop after this many pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000_000))]
    pub max_pages: Option<u64>,
    /// Stop after this many records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000_000))]
    pub max_records: Option<u64>,
    /// Where the paging parameters (`cursorParam`, `offsetParam`, `pageParam`, `limitParam`)
    /// go: `query` (the default) or `body`, as top-level keys of the request's JSON object
    /// body (a search sent as POST, like Notion's `start_cursor` and `page_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params_in: Option<ParamsIn>,
    /// cursor: JSON path to the flag that says whether another page exists (Notion's
    /// `has_more`); `false` ends the listing whatever the cursor says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_more_path: Option<JsonPath>,
    /// next_url: JSON path to the next page's full URL in the reply body (Microsoft Graph's
    /// `$['@odata.nextLink']`); missing, null or empty ends the listing. A URL on another
    /// origin than the request's is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_url_path: Option<JsonPath>,
}

/// Where a listing sends its paging parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParamsIn {
    /// Query parameters of the URL.
    Query,
    /// Top-level keys of the JSON object body.
    Body,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaginationStyle {
    Cursor,
    Offset,
    Page,
    LinkHeader,
    /// The next page's full URL is in the reply body, at `nextUrlPath`.
    NextUrl,
}

impl PaginationStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            PaginationStyle::Cursor => "cursor",
            PaginationStyle::Offset => "offset",
            PaginationStyle::Page => "page",
            PaginationStyle::LinkHeader => "link_header",
            PaginationStyle::NextUrl => "next_url",
        }
    }
}

/// Streaming response format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Streaming {
    pub format: StreamFormat,
    /// SSE: a `data:` payload that ends the stream (e.g. `[DONE]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_marker: Option<String>,
    /// Fragments spread over several events, merged into whole items and passed on in one
    /// last `assembled` event (OpenAI's streamed `tool_calls` deltas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assemble: Option<Assemble>,
}

/// How a stream's fragments are assembled: every value at `path` in an event's raw data is a
/// fragment (an array holds several); fragments with the same `key` merge into one item (the
/// string fields named in `concat` are appended, any other field keeps its first non-null
/// value); when the stream ends, one event named `assembled` carries
/// `{ "<into>": [items in key order] }`, if anything was assembled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Assemble {
    /// JSON path to the fragments in each event's data (before `response.output`).
    pub path: JsonPath,
    /// The fragment field (an integer or a string) that says which item it belongs to; it
    /// orders the items and is not part of them.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"))]
    pub key: String,
    /// Dotted paths of the string fields whose pieces are appended (`function.arguments`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(
        pattern = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}(\.[A-Za-z_][A-Za-z0-9_-]{0,63})*$"
    )))]
    pub concat: Vec<String>,
    /// The field of the `assembled` event's data that holds the items.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"))]
    pub into: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamFormat {
    Sse,
    Ndjson,
    Chunked,
    /// AWS's binary event-stream framing (`application/vnd.amazon.eventstream`), as Bedrock's
    /// `InvokeModelWithResponseStream` answers. Needs the runtime's `sigv4` feature.
    Eventstream,
}

/// Timeouts in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timeouts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 600_000))]
    pub connect_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3_600_000))]
    pub total_ms: Option<u64>,
}

/// Maps HTTP statuses to an error class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusClassification {
    #[schemars(inner(range(min = 100, max = 599)))]
    pub status: Vec<u16>,
    pub class: ErrorClass,
}

/// The connection check: a request, an action to run, or code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionTest {
    /// Human description of what the check proves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A request whose success proves the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    /// Error rules applied to the test response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseMapping>,
    /// Run this action instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Input for `action`.
    #[serde(
        default,
        deserialize_with = "present_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub input: Option<Value>,
    /// Implemented by a Rust `test` method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<CodeHandler>,
}

/// Lifecycle hooks; each is Rust code (`code`) or a templated request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Hooks {
    /// Before an instance is created or updated; an error refuses the save.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_save: Option<HookSpec>,
    /// After an instance was saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_save: Option<HookSpec>,
    /// After an instance was deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_delete: Option<HookSpec>,
}

impl Hooks {
    pub fn is_empty(&self) -> bool {
        self == &Hooks::default()
    }

    /// Whether a hook is implemented in Rust code (and so needs a registered handler).
    pub fn has_code(&self) -> bool {
        [&self.pre_save, &self.post_save, &self.post_delete]
            .into_iter()
            .any(|h| matches!(h, Some(HookSpec::Code(_))))
    }
}

/// How one lifecycle hook is carried out.
// Built once per spec at load time; boxing the larger variant would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum HookSpec {
    /// `code`: the connector's Rust hook handler.
    Code(CodeHandler),
    /// A templated HTTP request, sent with the instance's auth and policies.
    Http(HookRequest),
}

/// A declarative hook: one request, and the rules that turn its reply into an error.
/// Templates read `config` and `secrets`; the reply's body is discarded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HookRequest {
    /// What the hook does, for documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The request (templates over `config` and `secrets`).
    pub request: Request,
    /// Error rules applied to the reply (message templates also read `response`).
    #[serde(default, skip_serializing_if = "HookResponse::is_empty")]
    pub response: HookResponse,
}

/// The reply rules of a declarative hook. A non-2xx reply fails the hook without them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HookResponse {
    /// Rules checked in order; the first match is the hook's error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ErrorRule>,
}

impl HookResponse {
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}
