//! Decoding a located YAML tree into a [`ConnectorSpec`], reporting every mistake at once.
//!
//! Decoding is lenient in what it keeps going with (a bad field becomes a default so the rest of
//! the file is still checked) and strict in what it reports. Cross references (templates,
//! `optionsFrom`, `when`, `test.action`) are collected while decoding and resolved at the end in
//! [`crate::validate`], when every declared field is known.

use indexmap::IndexMap;
use serde_json::Value;

use crate::auth::AuthTypeId;
use crate::decode::{Decoder, did_you_mean_or, suggest};
use crate::diagnostic::{Code, Diagnostic};
use crate::model::*;
use crate::path::JsonPath;
use crate::schema_check::{self, UI_KEYS, WIDGETS};
use crate::source::Span;
use crate::yaml::{Node, NodeValue};

/// Which variables a template may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateScope {
    /// `config`, `secrets` (base URL, auth headers, the connection test request).
    Connection,
    /// `config`, `secrets`, `input` of the named action.
    Request(String),
    /// `config`, `secrets`, `input`, `response` of the named action.
    Response(String),
    /// `config`, `secrets`, `response` (the connection test's response rules).
    ConnectionResponse,
}

/// A template found while decoding, checked once all fields are known.
#[derive(Debug, Clone)]
pub struct PendingTemplate {
    pub text: String,
    pub node_span: Span,
    pub scope: TemplateScope,
}

/// A name that must resolve once everything is decoded.
#[derive(Debug, Clone)]
pub enum PendingRef {
    /// An action named by `optionsFrom` or `test.action`.
    Action {
        name: String,
        span: Span,
        what: &'static str,
    },
    /// A session named by an action's `session`.
    Session {
        name: String,
        span: Span,
        action: String,
    },
    /// A field named by `x-ui.when`, in the schema called `schema` (`config`, `secrets`, or
    /// `<action>.input`).
    Field {
        name: String,
        span: Span,
        schema: String,
    },
}

/// Everything decoding learned besides the spec itself.
#[derive(Default)]
pub struct Pending {
    pub templates: Vec<PendingTemplate>,
    pub refs: Vec<PendingRef>,
    /// Schemas that did not decode; references into them are not checked.
    pub broken_schemas: Vec<String>,
}

const TOP_KEYS: &[&str] = &[
    "$schema",
    "id",
    "displayName",
    "description",
    "minimumLicense",
    "supportedFeatureIds",
    "icon",
    "docsUrl",
    "baseUrl",
    "auth",
    "config",
    "secrets",
    "policies",
    "actions",
    "test",
    "hooks",
    "sessions",
];

const LICENSES: &[(&str, License)] = &[
    ("basic", License::Basic),
    ("gold", License::Gold),
    ("platinum", License::Platinum),
    ("enterprise", License::Enterprise),
];

const METHODS: &[(&str, HttpMethod)] = &[
    ("GET", HttpMethod::Get),
    ("POST", HttpMethod::Post),
    ("PUT", HttpMethod::Put),
    ("PATCH", HttpMethod::Patch),
    ("DELETE", HttpMethod::Delete),
    ("HEAD", HttpMethod::Head),
];

const SCOPES: &[(&str, ActionScope)] = &[
    ("read", ActionScope::Read),
    ("write", ActionScope::Write),
    ("destroy", ActionScope::Destroy),
];

const CLASSES: &[(&str, ErrorClass)] = &[
    ("user", ErrorClass::User),
    ("auth", ErrorClass::Auth),
    ("rate_limited", ErrorClass::RateLimited),
    ("transient", ErrorClass::Transient),
    ("system", ErrorClass::System),
];

/// Decode the root node. Returns the spec (with defaults where fields were bad) and the
/// references to resolve.
pub fn decode_spec(d: &mut Decoder, root: &Node) -> (ConnectorSpec, Pending) {
    let mut p = Pending::default();
    let mut spec = ConnectorSpec {
        schema_ref: None,
        id: String::new(),
        display_name: String::new(),
        description: String::new(),
        minimum_license: License::Basic,
        supported_feature_ids: Vec::new(),
        icon: None,
        docs_url: None,
        base_url: None,
        auth: AuthSpec {
            types: Vec::new(),
            headers: IndexMap::new(),
        },
        config: empty_object_schema(),
        secrets: empty_object_schema(),
        policies: Policies::default(),
        actions: IndexMap::new(),
        test: None,
        hooks: Hooks::default(),
        sessions: IndexMap::new(),
    };
    let Some(f) = d.object(root, "the connector spec", TOP_KEYS) else {
        return (spec, p);
    };
    if let Some(n) = f.get("$schema") {
        spec.schema_ref = d.string(n, "`$schema`");
    }
    if let Some(n) = d.require(&f, "id", "the connector spec")
        && let Some(id) = d.string(n, "`id`")
    {
        check_id(d, n, &id);
        spec.id = id;
    }
    if let Some(n) = d.require(&f, "displayName", "the connector spec") {
        spec.display_name = non_empty(d, n, "`displayName`").unwrap_or_default();
    }
    if let Some(n) = d.require(&f, "description", "the connector spec") {
        spec.description = non_empty(d, n, "`description`").unwrap_or_default();
    }
    if let Some(n) = d.require(&f, "minimumLicense", "the connector spec") {
        spec.minimum_license = d.choice(n, "license", LICENSES).unwrap_or(License::Basic);
    }
    if let Some(n) = f.get("supportedFeatureIds") {
        spec.supported_feature_ids = d.string_list(n, "`supportedFeatureIds`");
    }
    if let Some(n) = f.get("icon") {
        spec.icon = d.string(n, "`icon`");
    }
    if let Some(n) = f.get("docsUrl") {
        spec.docs_url = d.string(n, "`docsUrl`");
        if let Some(url) = &spec.docs_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            d.error(
                Code::InvalidValue,
                n.span,
                "`docsUrl` must be an http(s) URL",
            );
        }
    }
    if let Some(n) = f.get("baseUrl")
        && let Some(url) = d.string(n, "`baseUrl`")
    {
        check_url_template(d, n, &url, "`baseUrl`");
        template(&mut p, n, &url, TemplateScope::Connection);
        spec.base_url = Some(url);
    }
    if let Some(n) = d.require(&f, "auth", "the connector spec") {
        spec.auth = decode_auth(d, &mut p, n);
    }
    if let Some(n) = f.get("config") {
        spec.config = decode_schema(d, &mut p, n, "config", SchemaRole::Form);
    }
    if let Some(n) = f.get("secrets") {
        spec.secrets = decode_schema(d, &mut p, n, "secrets", SchemaRole::Form);
    }
    if let Some(n) = f.get("policies") {
        spec.policies = decode_policies(d, n);
    }
    if let Some(n) = d.require(&f, "actions", "the connector spec") {
        spec.actions = decode_actions(d, &mut p, n, spec.base_url.is_some(), &spec.policies);
    }
    if let Some(n) = f.get("test") {
        spec.test = decode_test(d, &mut p, n, spec.base_url.is_some());
    }
    if let Some(n) = f.get("hooks") {
        spec.hooks = decode_hooks(d, n);
    }
    if let Some(n) = f.get("sessions") {
        spec.sessions = decode_sessions(d, &mut p, n);
    }
    (spec, p)
}

fn check_id(d: &mut Decoder, n: &Node, id: &str) {
    let problem = if !id.starts_with('.') {
        Some("must start with `.`".to_string())
    } else if id.len() < 2 {
        Some("needs at least one character after the `.`".to_string())
    } else if id.chars().count() > 64 {
        Some(format!(
            "is {} characters long; the limit is 64",
            id.chars().count()
        ))
    } else {
        id.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            .map(|c| format!("contains `{c}`; only `A-Z a-z 0-9 . _ -` are allowed"))
    };
    if let Some(problem) = problem {
        d.push(
            Diagnostic::error(
                Code::InvalidId,
                n.span,
                format!("connector id `{id}` {problem}"),
            )
            .with_label("invalid id")
            .with_help("ids look like `.slack_api` or `.server-log`"),
        );
    }
}

fn non_empty(d: &mut Decoder, n: &Node, what: &str) -> Option<String> {
    let s = d.string(n, what)?;
    if s.trim().is_empty() {
        d.error(
            Code::InvalidValue,
            n.span,
            format!("{what} must not be empty"),
        );
    }
    Some(s)
}

fn template(p: &mut Pending, n: &Node, text: &str, scope: TemplateScope) {
    if crate::template::is_template(text) {
        p.templates.push(PendingTemplate {
            text: text.to_string(),
            node_span: n.span,
            scope,
        });
    }
}

fn check_url_template(d: &mut Decoder, n: &Node, url: &str, what: &str) {
    if crate::template::is_template(url) && url.trim_start().starts_with("{{") {
        return;
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        d.push(
            Diagnostic::error(
                Code::InvalidValue,
                n.span,
                format!("{what} must be an absolute http(s) URL or start with a template"),
            )
            .with_help("for example `https://api.example.com` or `{{ config.apiUrl }}`"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// auth

fn decode_auth(d: &mut Decoder, p: &mut Pending, n: &Node) -> AuthSpec {
    let mut auth = AuthSpec {
        types: Vec::new(),
        headers: IndexMap::new(),
    };
    let Some(f) = d.object(n, "`auth`", &["types", "headers"]) else {
        return auth;
    };
    if let Some(types) = d.require(&f, "types", "`auth`")
        && let Some(items) = d.seq(types, "`auth.types`")
    {
        if items.is_empty() {
            d.error(
                Code::InvalidValue,
                types.span,
                "`auth.types` must list at least one auth type",
            )
            .help = Some("use `- none` for connectors without credentials".into());
        }
        let mut recommended: Option<Span> = None;
        for item in items {
            let Some((r, type_span)) = decode_auth_type(d, item) else {
                continue;
            };
            if let Some(prev) = auth.types.iter().find(|t| t.kind == r.kind) {
                d.push(
                    Diagnostic::error(
                        Code::DuplicateAuthType,
                        type_span,
                        format!("auth type `{}` is listed twice", prev.kind),
                    )
                    .with_label("second entry"),
                );
                continue;
            }
            if r.recommended {
                if recommended.is_some() {
                    d.error(
                        Code::Conflict,
                        item.span,
                        "only one auth type may be `recommended`",
                    );
                }
                recommended = Some(item.span);
            }
            auth.types.push(r);
        }
    }
    if let Some(h) = f.get("headers") {
        auth.headers = decode_headers(d, p, h, "`auth.headers`", TemplateScope::Connection);
    }
    auth
}

fn decode_auth_type(d: &mut Decoder, item: &Node) -> Option<(AuthTypeRef, Span)> {
    let names: Vec<&str> = AuthTypeId::ALL.iter().map(|t| t.as_str()).collect();
    let parse_id = |d: &mut Decoder, n: &Node| -> Option<AuthTypeId> {
        let s = d.string(n, "an auth type")?;
        match AuthTypeId::parse(&s) {
            Some(t) => Some(t),
            None => {
                let help = did_you_mean_or(&s, names.iter().copied(), || {
                    format!("auth types are: {}", names.join(", "))
                });
                d.push(
                    Diagnostic::error(
                        Code::UnknownAuthType,
                        n.span,
                        format!("unknown auth type `{s}`"),
                    )
                    .with_label("not an auth type")
                    .with_help(help),
                );
                None
            }
        }
    };
    match &item.value {
        NodeValue::Str(_) => {
            let kind = parse_id(d, item)?;
            Some((
                AuthTypeRef {
                    kind,
                    recommended: false,
                    defaults: IndexMap::new(),
                },
                item.span,
            ))
        }
        NodeValue::Map(_) => {
            let f = d.object(
                item,
                "an auth type entry",
                &["type", "recommended", "defaults"],
            )?;
            let type_node = d.require(&f, "type", "an auth type entry")?;
            let kind = parse_id(d, type_node)?;
            let recommended = f
                .get("recommended")
                .and_then(|n| d.boolean(n, "`recommended`"))
                .unwrap_or(false);
            let mut defaults = IndexMap::new();
            if let Some(dn) = f.get("defaults") {
                let schema = kind.config_schema();
                let props = schema["properties"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                if let Some(entries) = d.map(dn, "`defaults`") {
                    for (key, v, kspan) in entries {
                        match props.get(key) {
                            None => {
                                let mut diag = Diagnostic::error(
                                    Code::UnknownKey,
                                    kspan,
                                    format!("auth type `{kind}` has no config field `{key}`"),
                                )
                                .with_label("unknown field");
                                diag.help =
                                    Some(match suggest(key, props.keys().map(String::as_str)) {
                                        Some(m) => format!("did you mean `{m}`?"),
                                        None if props.is_empty() => format!(
                                            "`{kind}` has no configuration fields to default"
                                        ),
                                        None => format!(
                                            "its fields are: {}",
                                            props.keys().cloned().collect::<Vec<_>>().join(", ")
                                        ),
                                    });
                                d.push(diag);
                            }
                            Some(prop) => {
                                let value = v.to_json();
                                if !jsonschema::draft202012::is_valid(prop, &value) {
                                    d.error(
                                        Code::InvalidValue,
                                        v.span,
                                        format!(
                                            "default for `{key}` does not match its schema ({})",
                                            short_schema(prop)
                                        ),
                                    );
                                }
                                defaults.insert(key.to_string(), value);
                            }
                        }
                    }
                }
            }
            Some((
                AuthTypeRef {
                    kind,
                    recommended,
                    defaults,
                },
                type_node.span,
            ))
        }
        _ => {
            d.wrong_type(
                item,
                "an auth type",
                "an auth type id or a mapping with `type`",
            );
            None
        }
    }
}

fn short_schema(schema: &Value) -> String {
    if let Some(e) = schema.get("enum") {
        return format!("one of {e}");
    }
    match schema.get("type") {
        Some(Value::String(t)) => format!("a {t}"),
        _ => "see the auth type reference".into(),
    }
}

fn decode_headers(
    d: &mut Decoder,
    p: &mut Pending,
    n: &Node,
    what: &str,
    scope: TemplateScope,
) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    if let Some(entries) = d.map(n, what) {
        for (k, v, kspan) in entries {
            if k.is_empty() || !k.bytes().all(is_header_name_byte) {
                d.error(
                    Code::InvalidValue,
                    kspan,
                    format!("`{k}` is not a valid HTTP header name"),
                );
            }
            if let Some(s) = d.scalar_text(v, &format!("header `{k}`")) {
                template(p, v, &s, scope.clone());
                out.insert(k.to_string(), s);
            }
        }
    }
    out
}

fn is_header_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

// ---------------------------------------------------------------------------------------------
// schemas

#[derive(Clone, Copy, PartialEq, Eq)]
enum SchemaRole {
    /// Config and secrets: forms for people.
    Form,
    /// Action input: also filled in by AI callers, so it must be bounded.
    Input,
    /// Action output: documentation of what comes back.
    Output,
}

/// Decode an embedded JSON Schema: meta-validate it, check `x-ui` hints and (for inputs)
/// bounds. `name` is how the schema is referred to in messages and in `Pending`.
fn decode_schema(
    d: &mut Decoder,
    p: &mut Pending,
    n: &Node,
    name: &str,
    role: SchemaRole,
) -> Value {
    if n.as_map().is_none() && !matches!(n.value, NodeValue::Bool(_)) {
        d.wrong_type(n, &format!("the `{name}` schema"), "a JSON Schema mapping");
        p.broken_schemas.push(name.to_string());
        return Value::Null;
    }
    let schema = n.to_json();
    let problems = schema_check::meta_validate(&schema);
    for problem in &problems {
        let segs = schema_check::pointer_segments(&problem.pointer);
        let at = locate(n, &segs);
        d.push(
            Diagnostic::error(
                Code::InvalidSchema,
                at.span,
                format!(
                    "the `{name}` schema is not valid JSON Schema 2020-12: {}",
                    problem.message
                ),
            )
            .with_label("invalid here"),
        );
    }
    if !problems.is_empty() {
        p.broken_schemas.push(name.to_string());
    }
    if role != SchemaRole::Output && !schema_check::has_type(&schema, "object") {
        d.push(
            Diagnostic::error(
                Code::InvalidValue,
                n.get("type").map_or(n.span, |t| t.span),
                format!("the `{name}` schema must have `type: object`"),
            )
            .with_help("a form or an action input is an object with named fields"),
        );
    }
    // x-ui hints and bounds.
    let mut findings: Vec<(Vec<String>, &'static str)> = Vec::new();
    schema_check::walk_subschemas(&schema, &mut |path, sub| {
        if sub.get("x-ui").is_some() {
            findings.push((path.to_vec(), "ui"));
        }
        if role == SchemaRole::Input && sub.get("enum").is_none() && sub.get("const").is_none() {
            if schema_check::has_type(sub, "string") && sub.get("maxLength").is_none() {
                findings.push((path.to_vec(), "string"));
            }
            if schema_check::has_type(sub, "array") && sub.get("maxItems").is_none() {
                findings.push((path.to_vec(), "array"));
            }
        }
    });
    for (path, kind) in findings {
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        let Some(sub) = n.lookup(&refs) else { continue };
        match kind {
            "ui" => {
                if let Some(ui) = sub.get("x-ui") {
                    decode_ui(d, p, ui, name);
                }
            }
            "string" => d.push(
                Diagnostic::warning(
                    Code::UnboundedString,
                    sub.get("type").map_or(sub.span, |t| t.span),
                    format!(
                        "string input `{}` has no `maxLength`",
                        field_name(&path, name)
                    ),
                )
                .with_label("unbounded")
                .with_help("add `maxLength`: unbounded tool inputs let AI callers send anything"),
            ),
            _ => d.push(
                Diagnostic::warning(
                    Code::UnboundedArray,
                    sub.get("type").map_or(sub.span, |t| t.span),
                    format!(
                        "array input `{}` has no `maxItems`",
                        field_name(&path, name)
                    ),
                )
                .with_label("unbounded")
                .with_help("add `maxItems`: unbounded tool inputs let AI callers send anything"),
            ),
        }
    }
    schema
}

fn field_name(path: &[String], schema_name: &str) -> String {
    let names: Vec<&str> = path
        .chunks(2)
        .filter(|c| c[0] == "properties")
        .filter_map(|c| c.get(1).map(String::as_str))
        .collect();
    if names.is_empty() {
        schema_name.to_string()
    } else {
        names.join(".")
    }
}

/// The deepest node along `segs` that exists.
fn locate<'n>(root: &'n Node, segs: &[String]) -> &'n Node {
    let mut node = root;
    for seg in segs {
        let next = match &node.value {
            NodeValue::Map(_) => node.get(seg),
            NodeValue::Seq(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    node
}

fn decode_ui(d: &mut Decoder, p: &mut Pending, ui: &Node, schema: &str) {
    let Some(f) = d.object(ui, "`x-ui`", &UI_KEYS) else {
        return;
    };
    if let Some(n) = f.get("widget")
        && let Some(w) = d.string(n, "`x-ui.widget`")
        && !WIDGETS.contains(&w.as_str())
    {
        let help = did_you_mean_or(&w, WIDGETS, || {
            format!("widgets are: {}", WIDGETS.join(", "))
        });
        d.push(
            Diagnostic::error(Code::InvalidUiHint, n.span, format!("unknown widget `{w}`"))
                .with_label("not a widget")
                .with_help(help),
        );
    }
    // Each plain hint has one YAML type: (key, `Node::kind()` it must have, how to say it).
    let kinds = [
        ("label", "a string", "a string"),
        ("placeholder", "a string", "a string"),
        ("helpText", "a string", "a string"),
        ("section", "a string", "a string"),
        ("order", "an integer", "a whole number"),
        ("sensitive", "a boolean", "`true` or `false`"),
    ];
    for (key, kind, expected) in kinds {
        if let Some(n) = f.get(key)
            && n.kind() != kind
        {
            d.push(Diagnostic::error(
                Code::InvalidUiHint,
                n.span,
                format!("`x-ui.{key}` must be {expected}, found {}", n.kind()),
            ));
        }
    }
    if let Some(n) = f.get("optionsFrom") {
        match &n.value {
            NodeValue::Str(action) => p.refs.push(PendingRef::Action {
                name: action.clone(),
                span: n.span,
                what: "`optionsFrom`",
            }),
            NodeValue::Map(_) => {
                if let Some(of) =
                    d.object(n, "`optionsFrom`", &["action", "valuePath", "labelPath"])
                {
                    if let Some(a) = d.require(&of, "action", "`optionsFrom`")
                        && let Some(name) = d.string(a, "`optionsFrom.action`")
                    {
                        p.refs.push(PendingRef::Action {
                            name,
                            span: a.span,
                            what: "`optionsFrom`",
                        });
                    }
                    for key in ["valuePath", "labelPath"] {
                        if let Some(pn) = of.get(key) {
                            json_path(d, pn, &format!("`optionsFrom.{key}`"));
                        }
                    }
                }
            }
            _ => d.push(Diagnostic::error(
                Code::InvalidUiHint,
                n.span,
                "`x-ui.optionsFrom` must be an action name or a mapping with `action`",
            )),
        }
    }
    if let Some(n) = f.get("when")
        && let Some(wf) = d.object(n, "`x-ui.when`", &["field", "equals", "notEquals", "in"])
    {
        if let Some(field) = d.require(&wf, "field", "`x-ui.when`")
            && let Some(name) = d.string(field, "`x-ui.when.field`")
        {
            p.refs.push(PendingRef::Field {
                name,
                span: field.span,
                schema: schema.to_string(),
            });
        }
        let tests = ["equals", "notEquals", "in"]
            .iter()
            .filter(|k| wf.has(k))
            .count();
        if tests != 1 {
            d.push(
                Diagnostic::error(
                    Code::Conflict,
                    n.span,
                    "`x-ui.when` needs exactly one of `equals`, `notEquals`, `in`",
                )
                .with_label(format!("{tests} given")),
            );
        }
        if let Some(i) = wf.get("in") {
            d.seq(i, "`x-ui.when.in`");
        }
    }
}

fn json_path(d: &mut Decoder, n: &Node, what: &str) -> Option<String> {
    let text = d.string(n, what)?;
    match JsonPath::parse(&text) {
        Ok(_) => Some(text),
        Err(e) => {
            let at = n.span.start + quote_offset(d, n) + e.offset;
            d.push(
                Diagnostic::error(
                    Code::InvalidPath,
                    Span::at(at.min(n.span.end.saturating_sub(1)).max(n.span.start), 1),
                    format!("{what} is not a valid JSON path: {}", e.message),
                )
                .with_label("here")
                .with_help("paths look like `$.items`, `$.data[0].id` or `$.items[*].name`"),
            );
            None
        }
    }
}

/// 1 for a quoted scalar whose span starts at the quote, else 0.
fn quote_offset(d: &Decoder, n: &Node) -> usize {
    let quoted = d
        .source
        .as_ref()
        .and_then(|s| s.text().get(n.span.start..n.span.start + 1))
        .is_some_and(|c| c == "'" || c == "\"");
    usize::from(quoted)
}

// ---------------------------------------------------------------------------------------------
// actions

const ACTION_KEYS: &[&str] = &[
    "description",
    "isTool",
    "scope",
    "input",
    "output",
    "supportsStreaming",
    "request",
    "response",
    "handler",
    "pagination",
    "streaming",
    "session",
    "maxResponseBytes",
];

fn decode_actions(
    d: &mut Decoder,
    p: &mut Pending,
    n: &Node,
    has_base_url: bool,
    policies: &Policies,
) -> IndexMap<String, Action> {
    let mut actions = IndexMap::new();
    let Some(entries) = d.map(n, "`actions`") else {
        return actions;
    };
    if entries.is_empty() {
        d.error(
            Code::InvalidValue,
            n.span,
            "a connector needs at least one action",
        );
    }
    for (name, node, kspan) in entries {
        let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            d.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    kspan,
                    format!("action name `{name}` must start with a letter and contain only letters, digits and `_`"),
                )
                .with_help("action names become Rust method names and tool names"),
            );
        }
        if let Some(a) = decode_action(d, p, name, node, has_base_url, policies) {
            actions.insert(name.to_string(), a);
        }
    }
    actions
}

/// Keys a streaming action would ignore: a stream is not a listing, and its events are not
/// replies that error rules read.
fn streaming_conflicts(d: &mut Decoder, f: &crate::decode::Fields<'_>, what: &str) {
    if let Some(pn) = f.get("pagination") {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                f.key_span("pagination").unwrap_or(pn.span),
                format!("{what} streams, so `pagination` would have no effect"),
            )
            .with_help("remove `pagination`, or `supportsStreaming` to make it a listing"),
        );
    }
    let errors = f
        .get("response")
        .and_then(|r| r.as_map())
        .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("errors")));
    if let Some((k, _)) = errors {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                k.span,
                format!("{what} streams: `response.errors` is not applied to streamed events"),
            )
            .with_help(
                "remove it; a failed stream is classified by its HTTP status and \
                 `policies.errors`",
            ),
        );
    }
}

fn decode_action(
    d: &mut Decoder,
    p: &mut Pending,
    name: &str,
    n: &Node,
    has_base_url: bool,
    policies: &Policies,
) -> Option<Action> {
    let what = format!("action `{name}`");
    let f = d.object(n, &what, ACTION_KEYS)?;
    let description = d
        .require(&f, "description", &what)
        .and_then(|n| non_empty(d, n, "`description`"))
        .unwrap_or_default();
    let scope = d
        .require(&f, "scope", &what)
        .and_then(|n| d.choice(n, "action scope", SCOPES));
    let is_tool = f
        .get("isTool")
        .and_then(|n| d.boolean(n, "`isTool`"))
        .unwrap_or(false);
    let supports_streaming = f
        .get("supportsStreaming")
        .and_then(|n| d.boolean(n, "`supportsStreaming`"))
        .unwrap_or(false);
    let input = match f.get("input") {
        Some(i) => decode_schema(d, p, i, &format!("{name}.input"), SchemaRole::Input),
        None => empty_object_schema(),
    };
    let output = f
        .get("output")
        .map(|o| decode_schema(d, p, o, &format!("{name}.output"), SchemaRole::Output));

    let implementation = match (f.get("request"), f.get("handler")) {
        (Some(_), Some(h)) => {
            d.push(
                Diagnostic::error(
                    Code::Conflict,
                    f.key_span("handler").unwrap_or(h.span),
                    format!("{what} has both `request` and `handler`"),
                )
                .with_help("a declarative action has `request`; a code action has `handler: code`"),
            );
            None
        }
        (None, None) => {
            d.push(
                Diagnostic::error(
                    Code::MissingKey,
                    Span::at(n.span.start, 0),
                    format!("{what} needs either `request` or `handler: code`"),
                )
                .with_label("no implementation"),
            );
            None
        }
        (None, Some(h)) => {
            if let Some(r) = f.get("response") {
                d.error(
                    Code::Conflict,
                    f.key_span("response").unwrap_or(r.span),
                    "`response` mapping has no effect on a `handler: code` action",
                );
            }
            decode_code_handler(d, h, "`handler`").map(|handler| Implementation::Code { handler })
        }
        (Some(r), None) => {
            let request = decode_request(
                d,
                p,
                r,
                has_base_url,
                TemplateScope::Request(name.to_string()),
            );
            let response = f
                .get("response")
                .map(|rn| decode_response(d, p, rn, TemplateScope::Response(name.to_string())));
            request.map(|request| Implementation::Http { request, response })
        }
    };
    let pagination = f.get("pagination").and_then(|n| decode_pagination(d, n));
    let streaming = f.get("streaming").and_then(|n| decode_streaming(d, n));
    let name_of_action = name;
    let session = f.get("session").and_then(|n| {
        let name = d.string(n, "`session`")?;
        p.refs.push(PendingRef::Session {
            name: name.clone(),
            span: n.span,
            action: name_of_action.to_string(),
        });
        Some(name)
    });
    let is_http = matches!(implementation, Some(Implementation::Http { .. }));
    if supports_streaming
        && is_http
        && streaming.is_none()
        && policies.streaming.is_none()
        && f.get("streaming").is_none()
    {
        d.push(
            Diagnostic::error(
                Code::MissingKey,
                f.get("supportsStreaming").map_or(n.span, |s| s.span),
                format!("{what} supports streaming but no streaming format is declared"),
            )
            .with_help("add `streaming: { format: sse }` to the action or to `policies`"),
        );
    }
    if let Some(s) = f.get("streaming")
        && !supports_streaming
    {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                f.key_span("streaming").unwrap_or(s.span),
                format!("{what} declares `streaming` but not `supportsStreaming: true`"),
            )
            .with_help("set `supportsStreaming: true` or remove `streaming`"),
        );
    }
    if supports_streaming && is_http {
        streaming_conflicts(d, &f, &what);
    }
    if let (Some(pn), Some(Implementation::Code { .. })) = (f.get("pagination"), &implementation) {
        d.error(
            Code::Conflict,
            f.key_span("pagination").unwrap_or(pn.span),
            "`pagination` has no effect on a `handler: code` action",
        );
    }
    Some(Action {
        description,
        is_tool,
        // After an error the spec is discarded; placeholders keep the action (and its input
        // schema) around so references into it are still checked in this run.
        scope: scope.unwrap_or(ActionScope::Read),
        input,
        output,
        supports_streaming,
        implementation: implementation.unwrap_or(Implementation::Code {
            handler: CodeHandler::Code,
        }),
        pagination,
        streaming,
        session,
        max_response_bytes: f
            .get("maxResponseBytes")
            .and_then(|v| max_response_bytes(d, v)),
    })
}

/// `maxResponseBytes`: at least one byte, at most 1 TiB (beyond that it is no limit).
fn max_response_bytes(d: &mut Decoder, n: &Node) -> Option<u64> {
    d.ranged(n, "`maxResponseBytes`", 1, 1 << 40)
}

fn decode_code_handler(d: &mut Decoder, n: &Node, what: &str) -> Option<CodeHandler> {
    d.choice(n, &format!("{what} kind"), &[("code", CodeHandler::Code)])
}

const REQUEST_KEYS: &[&str] = &[
    "method",
    "path",
    "url",
    "query",
    "headers",
    "body",
    "idempotencyKey",
];

fn decode_request(
    d: &mut Decoder,
    p: &mut Pending,
    n: &Node,
    has_base_url: bool,
    scope: TemplateScope,
) -> Option<Request> {
    let f = d.object(n, "`request`", REQUEST_KEYS)?;
    let method = d
        .require(&f, "method", "`request`")
        .and_then(|m| d.choice(m, "HTTP method", METHODS));
    let path = f.get("path").and_then(|pn| {
        let s = d.scalar_text(pn, "`request.path`")?;
        if !s.starts_with('/') && !s.starts_with("{{") {
            d.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    pn.span,
                    "`request.path` must start with `/`",
                )
                .with_help(format!("write `/{s}`")),
            );
        }
        template(p, pn, &s, scope.clone());
        Some(s)
    });
    let url = f.get("url").and_then(|un| {
        let s = d.string(un, "`request.url`")?;
        check_url_template(d, un, &s, "`request.url`");
        template(p, un, &s, scope.clone());
        Some(s)
    });
    match (f.get("path"), f.get("url")) {
        (Some(_), Some(un)) => {
            d.push(
                Diagnostic::error(
                    Code::Conflict,
                    f.key_span("url").unwrap_or(un.span),
                    "`request` has both `path` and `url`",
                )
                .with_help("`path` is joined to `baseUrl`; `url` is absolute. Use one."),
            );
        }
        (None, None) => {
            d.push(
                Diagnostic::error(
                    Code::MissingKey,
                    Span::at(n.span.start, 0),
                    "`request` needs `path` (joined to `baseUrl`) or an absolute `url`",
                )
                .with_label("no target"),
            );
        }
        (Some(pn), None) if !has_base_url => {
            d.push(
                Diagnostic::error(
                    Code::MissingKey,
                    f.key_span("path").unwrap_or(pn.span),
                    "`request.path` needs a top-level `baseUrl`",
                )
                .with_help("add `baseUrl: https://api.example.com` or use an absolute `url`"),
            );
        }
        _ => {}
    }
    let query = f
        .get("query")
        .map(|q| {
            let m = d.string_map(q, "`request.query`");
            for (k, v) in &m {
                if let Some(vn) = q.get(k) {
                    template(p, vn, v, scope.clone());
                }
            }
            m
        })
        .unwrap_or_default();
    let headers = f
        .get("headers")
        .map(|h| decode_headers(d, p, h, "`request.headers`", scope.clone()))
        .unwrap_or_default();
    let body = f.get("body").and_then(|b| decode_body(d, p, b, &scope));
    if let (Some(m), Some(b)) = (method, f.get("body"))
        && matches!(m, HttpMethod::Get | HttpMethod::Head)
    {
        d.error(
            Code::Conflict,
            f.key_span("body").unwrap_or(b.span),
            format!("a {} request cannot have a body", m.as_str()),
        );
    }
    let idempotency_key = f
        .get("idempotencyKey")
        .and_then(|k| decode_idempotency_key(d, p, k, &scope));
    Some(Request {
        method: method?,
        path,
        url,
        query,
        headers,
        body,
        idempotency_key,
    })
}

fn decode_idempotency_key(
    d: &mut Decoder,
    p: &mut Pending,
    n: &Node,
    scope: &TemplateScope,
) -> Option<IdempotencyKey> {
    let f = d.object(n, "`idempotencyKey`", &["header", "value"])?;
    let header = d.require(&f, "header", "`idempotencyKey`").and_then(|h| {
        let s = d.string(h, "`idempotencyKey.header`")?;
        if s.is_empty() || !s.bytes().all(is_header_name_byte) {
            d.error(
                Code::InvalidValue,
                h.span,
                format!("`{s}` is not a valid HTTP header name"),
            );
        }
        Some(s)
    });
    let value = f.get("value").and_then(|v| {
        let s = d.scalar_text(v, "`idempotencyKey.value`")?;
        template(p, v, &s, scope.clone());
        Some(s)
    });
    Some(IdempotencyKey {
        header: header?,
        value,
    })
}

fn decode_body(d: &mut Decoder, p: &mut Pending, n: &Node, scope: &TemplateScope) -> Option<Body> {
    let f = d.object(n, "`body`", &["json", "form", "multipart", "text"])?;
    let kinds: Vec<&str> = ["json", "form", "multipart", "text"]
        .into_iter()
        .filter(|k| f.has(k))
        .collect();
    if kinds.len() != 1 {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                n.span,
                "`body` needs exactly one of `json`, `form`, `multipart`, `text`",
            )
            .with_label(format!("{} given", kinds.len())),
        );
        return None;
    }
    let v = f.get(kinds[0])?;
    match kinds[0] {
        "json" => {
            collect_json_templates(p, v, scope);
            Some(Body::Json(v.to_json()))
        }
        "text" => {
            let s = d.string(v, "`body.text`")?;
            template(p, v, &s, scope.clone());
            Some(Body::Text(s))
        }
        kind => {
            let m = d.string_map(v, &format!("`body.{kind}`"));
            for (k, val) in &m {
                if let Some(vn) = v.get(k) {
                    template(p, vn, val, scope.clone());
                }
            }
            Some(if kind == "form" {
                Body::Form(m)
            } else {
                Body::Multipart(m)
            })
        }
    }
}

fn collect_json_templates(p: &mut Pending, n: &Node, scope: &TemplateScope) {
    match &n.value {
        NodeValue::Str(s) => template(p, n, s, scope.clone()),
        NodeValue::Seq(items) => items
            .iter()
            .for_each(|i| collect_json_templates(p, i, scope)),
        NodeValue::Map(entries) => entries
            .iter()
            .for_each(|(_, v)| collect_json_templates(p, v, scope)),
        _ => {}
    }
}

fn decode_response(
    d: &mut Decoder,
    p: &mut Pending,
    n: &Node,
    scope: TemplateScope,
) -> ResponseMapping {
    let mut r = ResponseMapping::default();
    let Some(f) = d.object(n, "`response`", &["output", "errors"]) else {
        return r;
    };
    if let Some(o) = f.get("output") {
        check_output(d, p, o, &scope);
        r.output = Some(o.to_json());
    }
    if let Some(e) = f.get("errors")
        && let Some(items) = d.seq(e, "`response.errors`")
    {
        r.errors = items
            .iter()
            .filter_map(|i| decode_error_rule(d, p, i, &scope))
            .collect();
    }
    r
}

/// Output mapping strings are JSON paths when they start with `$`, otherwise templates.
fn check_output(d: &mut Decoder, p: &mut Pending, n: &Node, scope: &TemplateScope) {
    match &n.value {
        NodeValue::Str(s) if s.starts_with('$') => {
            json_path(d, n, "the output path");
        }
        NodeValue::Str(s) => template(p, n, s, scope.clone()),
        NodeValue::Seq(items) => items.iter().for_each(|i| check_output(d, p, i, scope)),
        NodeValue::Map(entries) => entries
            .iter()
            .for_each(|(_, v)| check_output(d, p, v, scope)),
        _ => {}
    }
}

fn decode_error_rule(
    d: &mut Decoder,
    p: &mut Pending,
    n: &Node,
    scope: &TemplateScope,
) -> Option<ErrorRule> {
    let f = d.object(n, "an error rule", &["when", "class", "message"])?;
    let when = d
        .require(&f, "when", "an error rule")
        .and_then(|w| decode_condition(d, w));
    let class = match f.get("class") {
        Some(c) => d.choice(c, "error class", CLASSES)?,
        None => ErrorClass::User,
    };
    let message = f.get("message").and_then(|m| {
        let s = d.string(m, "`message`")?;
        template(p, m, &s, scope.clone());
        Some(s)
    });
    Some(ErrorRule {
        when: when?,
        class,
        message,
    })
}

fn decode_condition(d: &mut Decoder, n: &Node) -> Option<Condition> {
    let f = d.object(
        n,
        "a condition",
        &[
            "path",
            "status",
            "equals",
            "notEquals",
            "in",
            "exists",
            "contains",
        ],
    )?;
    let mut c = Condition::default();
    if let Some(pn) = f.get("path") {
        c.path = json_path(d, pn, "`path`");
    }
    if let Some(s) = f.get("status") {
        c.status = d.status_codes(s, "`status`");
    }
    let tests: Vec<&str> = ["equals", "notEquals", "in", "exists", "contains"]
        .into_iter()
        .filter(|k| f.has(k))
        .collect();
    if tests.len() > 1 {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                f.key_span(tests[1]).unwrap_or(n.span),
                format!(
                    "a condition takes one test; found `{}` and `{}`",
                    tests[0], tests[1]
                ),
            )
            .with_help("split it into two rules"),
        );
    }
    if tests.is_empty() && c.status.is_empty() {
        d.push(
            Diagnostic::error(
                Code::MissingKey,
                Span::at(n.span.start, 0),
                "a condition needs a test: `equals`, `notEquals`, `in`, `exists`, `contains` or `status`",
            )
            .with_label("nothing to test"),
        );
    }
    c.equals = f.get("equals").map(Node::to_json);
    c.not_equals = f.get("notEquals").map(Node::to_json);
    if let Some(i) = f.get("in") {
        c.one_of = d
            .seq(i, "`in`")
            .map(|items| items.iter().map(Node::to_json).collect());
    }
    if let Some(e) = f.get("exists") {
        c.exists = d.boolean(e, "`exists`");
    }
    if let Some(s) = f.get("contains") {
        c.contains = d.scalar_text(s, "`contains`");
    }
    let needs_path = f.has("equals") || f.has("notEquals") || f.has("in") || f.has("exists");
    if needs_path && c.path.is_none() && !f.has("path") {
        d.push(
            Diagnostic::error(
                Code::MissingKey,
                Span::at(n.span.start, 0),
                format!("`{}` compares a value in the body: add `path`", tests[0]),
            )
            .with_help("for example `path: $.ok`"),
        );
    }
    Some(c)
}

// ---------------------------------------------------------------------------------------------
// policies

fn decode_policies(d: &mut Decoder, n: &Node) -> Policies {
    let mut pol = Policies::default();
    let Some(f) = d.object(
        n,
        "`policies`",
        &[
            "retry",
            "rateLimit",
            "pagination",
            "streaming",
            "timeouts",
            "errors",
            "maxResponseBytes",
        ],
    ) else {
        return pol;
    };
    pol.max_response_bytes = f
        .get("maxResponseBytes")
        .and_then(|v| max_response_bytes(d, v));
    pol.retry = f.get("retry").and_then(|r| decode_retry(d, r));
    pol.rate_limit = f.get("rateLimit").and_then(|r| decode_rate_limit(d, r));
    pol.pagination = f.get("pagination").and_then(|r| decode_pagination(d, r));
    pol.streaming = f.get("streaming").and_then(|r| decode_streaming(d, r));
    pol.timeouts = f.get("timeouts").and_then(|t| {
        let tf = d.object(t, "`timeouts`", &["connectMs", "totalMs"])?;
        let connect_ms = tf
            .get("connectMs")
            .and_then(|v| d.ranged(v, "`connectMs`", 1, 600_000));
        let total_ms = tf
            .get("totalMs")
            .and_then(|v| d.ranged(v, "`totalMs`", 1, 3_600_000));
        Some(Timeouts {
            connect_ms,
            total_ms,
        })
    });
    if let Some(e) = f.get("errors")
        && let Some(items) = d.seq(e, "`policies.errors`")
    {
        for item in items {
            let Some(ef) = d.object(item, "an error classification", &["status", "class"]) else {
                continue;
            };
            let status = d
                .require(&ef, "status", "an error classification")
                .map(|s| d.status_codes(s, "`status`"));
            let class = d
                .require(&ef, "class", "an error classification")
                .and_then(|c| d.choice(c, "error class", CLASSES));
            if let (Some(status), Some(class)) = (status, class) {
                pol.errors.push(StatusClassification { status, class });
            }
        }
    }
    pol
}

fn decode_retry(d: &mut Decoder, n: &Node) -> Option<RetryPolicy> {
    let f = d.object(
        n,
        "`retry`",
        &[
            "presets",
            "statusCodes",
            "maxRetries",
            "backoff",
            "maxWaitMs",
            "retryNonIdempotent",
        ],
    )?;
    let presets: Vec<RetryPreset> = f
        .get("presets")
        .and_then(|pn| d.seq(pn, "`presets`"))
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    d.choice(
                        i,
                        "retry preset",
                        &[
                            ("rate_limit", RetryPreset::RateLimit),
                            ("server_errors", RetryPreset::ServerErrors),
                            ("gateway", RetryPreset::Gateway),
                            ("timeout_rate_limit", RetryPreset::TimeoutRateLimit),
                        ],
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let status_codes = f
        .get("statusCodes")
        .map(|s| d.status_codes(s, "`statusCodes`"))
        .unwrap_or_default();
    let max_retries = f
        .get("maxRetries")
        .and_then(|m| d.ranged(m, "`maxRetries`", 0, 20))
        .map_or(3, |v| v as u32);
    let backoff = match f.get("backoff") {
        Some(b) => decode_backoff(d, b).unwrap_or_default(),
        None => Backoff::default(),
    };
    let max_wait_ms = f
        .get("maxWaitMs")
        .and_then(|m| d.ranged(m, "`maxWaitMs`", 1, 3_600_000))
        .unwrap_or(30_000);
    let retry_non_idempotent = f
        .get("retryNonIdempotent")
        .and_then(|r| d.boolean(r, "`retryNonIdempotent`"))
        .unwrap_or(false);
    if presets.is_empty() && status_codes.is_empty() && !f.has("presets") && !f.has("statusCodes") {
        d.push(
            Diagnostic::error(
                Code::MissingKey,
                Span::at(n.span.start, 0),
                "`retry` needs `presets` or `statusCodes` to know what to retry",
            )
            .with_help("for example `presets: [rate_limit, server_errors]`"),
        );
    }
    Some(RetryPolicy {
        presets,
        status_codes,
        max_retries,
        backoff,
        max_wait_ms,
        retry_non_idempotent,
    })
}

fn decode_backoff(d: &mut Decoder, n: &Node) -> Option<Backoff> {
    let f = d.object(
        n,
        "`backoff`",
        &["strategy", "initialDelayMs", "maxDelayMs", "jitter"],
    )?;
    let mut b = Backoff::default();
    if let Some(s) = f.get("strategy") {
        b.strategy = d
            .choice(
                s,
                "backoff strategy",
                &[
                    ("exponential", BackoffStrategy::Exponential),
                    ("linear", BackoffStrategy::Linear),
                    ("fixed", BackoffStrategy::Fixed),
                ],
            )
            .unwrap_or_default();
    }
    if let Some(v) = f.get("initialDelayMs") {
        b.initial_delay_ms = d.ranged(v, "`initialDelayMs`", 0, 600_000).unwrap_or(500);
    }
    if let Some(v) = f.get("maxDelayMs") {
        b.max_delay_ms = d.ranged(v, "`maxDelayMs`", 0, 3_600_000).unwrap_or(10_000);
    }
    if let Some(v) = f.get("jitter") {
        b.jitter = d.boolean(v, "`jitter`").unwrap_or(true);
    }
    if b.initial_delay_ms > b.max_delay_ms {
        d.error(
            Code::Conflict,
            f.get("initialDelayMs").map_or(n.span, |v| v.span),
            "`initialDelayMs` is larger than `maxDelayMs`",
        );
    }
    Some(b)
}

fn decode_rate_limit(d: &mut Decoder, n: &Node) -> Option<RateLimitPolicy> {
    let f = d.object(
        n,
        "`rateLimit`",
        &[
            "strategy",
            "codes",
            "remainingHeader",
            "resetHeader",
            "resetFormat",
            "when",
        ],
    )?;
    let strategy = d.require(&f, "strategy", "`rateLimit`").and_then(|s| {
        d.choice(
            s,
            "rate-limit strategy",
            &[
                ("header", RateLimitStrategy::Header),
                ("status_code", RateLimitStrategy::StatusCode),
                ("response_body", RateLimitStrategy::ResponseBody),
            ],
        )
    })?;
    let codes = f
        .get("codes")
        .map(|c| d.status_codes(c, "`codes`"))
        .unwrap_or_default();
    let remaining_header = f
        .get("remainingHeader")
        .and_then(|h| d.string(h, "`remainingHeader`"));
    let reset_header = f
        .get("resetHeader")
        .and_then(|h| d.string(h, "`resetHeader`"));
    let reset_format = f.get("resetFormat").and_then(|r| {
        d.choice(
            r,
            "reset format",
            &[
                ("delta_seconds", ResetFormat::DeltaSeconds),
                ("epoch_seconds", ResetFormat::EpochSeconds),
                ("epoch_millis", ResetFormat::EpochMillis),
                ("http_date", ResetFormat::HttpDate),
            ],
        )
    });
    let when = f.get("when").and_then(|w| decode_condition(d, w));
    match strategy {
        RateLimitStrategy::Header if remaining_header.is_none() && reset_header.is_none() => {
            d.push(
                Diagnostic::error(
                    Code::MissingKey,
                    Span::at(n.span.start, 0),
                    "the `header` strategy needs `resetHeader` and/or `remainingHeader`",
                )
                .with_help("for example `resetHeader: Retry-After`"),
            );
        }
        RateLimitStrategy::ResponseBody if when.is_none() && !f.has("when") => {
            d.push(
                Diagnostic::error(
                    Code::MissingKey,
                    Span::at(n.span.start, 0),
                    "the `response_body` strategy needs `when` to recognise a throttled reply",
                )
                .with_help("for example `when: { contains: ApplicationThrottled }`"),
            );
        }
        _ => {}
    }
    Some(RateLimitPolicy {
        strategy,
        codes,
        remaining_header,
        reset_header,
        reset_format,
        when,
    })
}

const PAGINATION_KEYS: &[&str] = &[
    "style",
    "records",
    "cursorParam",
    "cursorPath",
    "offsetParam",
    "pageParam",
    "startPage",
    "limitParam",
    "pageSize",
    "totalPath",
    "maxPages",
    "maxRecords",
];

fn decode_pagination(d: &mut Decoder, n: &Node) -> Option<Pagination> {
    let f = d.object(n, "`pagination`", PAGINATION_KEYS)?;
    let style = d.require(&f, "style", "`pagination`").and_then(|s| {
        d.choice(
            s,
            "pagination style",
            &[
                ("cursor", PaginationStyle::Cursor),
                ("offset", PaginationStyle::Offset),
                ("page", PaginationStyle::Page),
                ("link_header", PaginationStyle::LinkHeader),
            ],
        )
    })?;
    let path = |d: &mut Decoder, key: &str| {
        f.get(key)
            .and_then(|v| json_path(d, v, &format!("`{key}`")))
    };
    let text =
        |d: &mut Decoder, key: &str| f.get(key).and_then(|v| d.string(v, &format!("`{key}`")));
    let num = |d: &mut Decoder, key: &str, min: u64| {
        f.get(key)
            .and_then(|v| d.ranged(v, &format!("`{key}`"), min, 1_000_000_000))
    };
    let pg = Pagination {
        style,
        records: path(d, "records"),
        cursor_param: text(d, "cursorParam"),
        cursor_path: path(d, "cursorPath"),
        offset_param: text(d, "offsetParam"),
        page_param: text(d, "pageParam"),
        start_page: num(d, "startPage", 0),
        limit_param: text(d, "limitParam"),
        page_size: num(d, "pageSize", 1),
        total_path: path(d, "totalPath"),
        max_pages: num(d, "maxPages", 1),
        max_records: num(d, "maxRecords", 1),
    };
    let (required, allowed): (&[&str], &[&str]) = match style {
        PaginationStyle::Cursor => (
            &["cursorParam", "cursorPath"],
            &["cursorParam", "cursorPath"],
        ),
        PaginationStyle::Offset => (&["offsetParam"], &["offsetParam", "totalPath"]),
        PaginationStyle::Page => (&["pageParam"], &["pageParam", "startPage", "totalPath"]),
        PaginationStyle::LinkHeader => (&[], &[]),
    };
    for key in required {
        if !f.has(key) {
            d.push(
                Diagnostic::error(
                    Code::MissingKey,
                    f.get("style").map_or(n.span, |s| s.span),
                    format!("`{}` pagination needs `{key}`", style.as_str()),
                )
                .with_label(format!("`{key}` is required for this style")),
            );
        }
    }
    let style_specific = [
        "cursorParam",
        "cursorPath",
        "offsetParam",
        "pageParam",
        "startPage",
        "totalPath",
    ];
    for key in style_specific {
        if f.has(key) && !allowed.contains(&key) {
            d.push(
                Diagnostic::error(
                    Code::Conflict,
                    f.key_span(key).unwrap_or(n.span),
                    format!("`{key}` has no effect with `{}` pagination", style.as_str()),
                )
                .with_label("remove this")
                .with_help("check `style`"),
            );
        }
    }
    if style == PaginationStyle::Offset && pg.limit_param.is_some() && pg.page_size.is_none() {
        d.error(
            Code::MissingKey,
            f.key_span("limitParam").unwrap_or(n.span),
            "`limitParam` needs `pageSize` to know what to send",
        );
    }
    Some(pg)
}

fn decode_streaming(d: &mut Decoder, n: &Node) -> Option<Streaming> {
    let f = d.object(n, "`streaming`", &["format", "doneMarker"])?;
    let format = d.require(&f, "format", "`streaming`").and_then(|s| {
        d.choice(
            s,
            "stream format",
            &[
                ("sse", StreamFormat::Sse),
                ("ndjson", StreamFormat::Ndjson),
                ("chunked", StreamFormat::Chunked),
            ],
        )
    })?;
    let done_marker = f
        .get("doneMarker")
        .and_then(|m| d.string(m, "`doneMarker`"));
    if done_marker.is_some() && format != StreamFormat::Sse {
        d.error(
            Code::Conflict,
            f.key_span("doneMarker").unwrap_or(n.span),
            "`doneMarker` only applies to `sse` streams",
        );
    }
    Some(Streaming {
        format,
        done_marker,
    })
}

// ---------------------------------------------------------------------------------------------
// test and hooks

fn decode_test(
    d: &mut Decoder,
    p: &mut Pending,
    n: &Node,
    has_base_url: bool,
) -> Option<ConnectionTest> {
    let f = d.object(
        n,
        "`test`",
        &[
            "description",
            "request",
            "response",
            "action",
            "input",
            "handler",
        ],
    )?;
    let kinds: Vec<&str> = ["request", "action", "handler"]
        .into_iter()
        .filter(|k| f.has(k))
        .collect();
    if kinds.len() != 1 {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                Span::at(n.span.start, 0),
                "`test` needs exactly one of `request`, `action`, `handler`",
            )
            .with_label(format!("{} given", kinds.len())),
        );
    }
    let description = f
        .get("description")
        .and_then(|v| d.string(v, "`description`"));
    let request = f
        .get("request")
        .and_then(|r| decode_request(d, p, r, has_base_url, TemplateScope::Connection));
    let response = f
        .get("response")
        .map(|r| decode_response(d, p, r, TemplateScope::ConnectionResponse));
    if f.has("response") && !f.has("request") {
        d.error(
            Code::Conflict,
            f.key_span("response").unwrap_or(n.span),
            "`test.response` only applies to `test.request`",
        );
    }
    let action = f.get("action").and_then(|a| {
        let name = d.string(a, "`test.action`")?;
        p.refs.push(PendingRef::Action {
            name: name.clone(),
            span: a.span,
            what: "`test.action`",
        });
        Some(name)
    });
    let input = f.get("input").map(Node::to_json);
    if f.has("input") && !f.has("action") {
        d.error(
            Code::Conflict,
            f.key_span("input").unwrap_or(n.span),
            "`test.input` only applies to `test.action`",
        );
    }
    let handler = f
        .get("handler")
        .and_then(|h| decode_code_handler(d, h, "`test.handler`"));
    Some(ConnectionTest {
        description,
        request,
        response,
        action,
        input,
        handler,
    })
}

fn decode_sessions(d: &mut Decoder, p: &mut Pending, n: &Node) -> IndexMap<String, SessionSpec> {
    let mut out = IndexMap::new();
    let Some(entries) = d.map(n, "`sessions`") else {
        return out;
    };
    for (name, node, _) in entries {
        let what = format!("session `{name}`");
        let Some(f) = d.object(node, &what, &["description", "init", "id", "cleanup"]) else {
            continue;
        };
        let description = f
            .get("description")
            .and_then(|n| non_empty(d, n, "`description`"));
        let mut action_ref = |d: &mut Decoder, key: &str, what: &'static str| {
            let n = f.get(key)?;
            let name = d.string(n, what)?;
            p.refs.push(PendingRef::Action {
                name: name.clone(),
                span: n.span,
                what,
            });
            Some((name, n.span))
        };
        let init = match f.get("init") {
            Some(_) => action_ref(d, "init", "`init`"),
            None => {
                d.require(&f, "init", &what);
                None
            }
        };
        let cleanup = action_ref(d, "cleanup", "`cleanup`");
        if let (Some((i, _)), Some((c, span))) = (&init, &cleanup)
            && i == c
        {
            d.error(
                Code::Conflict,
                *span,
                format!("{what} uses `{c}` both to open and to close the session"),
            );
        }
        let id = d
            .require(&f, "id", &what)
            .and_then(|n| json_path(d, n, "`id`"));
        // Kept with placeholders after an error (the spec is discarded then) so references to
        // the session are still checked in this run.
        out.insert(
            name.to_string(),
            SessionSpec {
                description,
                init: init.map(|i| i.0).unwrap_or_default(),
                id: id.unwrap_or_default(),
                cleanup: cleanup.map(|c| c.0),
            },
        );
    }
    out
}

fn decode_hooks(d: &mut Decoder, n: &Node) -> Hooks {
    let mut h = Hooks::default();
    let Some(f) = d.object(n, "`hooks`", &["preSave", "postSave", "postDelete"]) else {
        return h;
    };
    h.pre_save = f
        .get("preSave")
        .and_then(|v| decode_code_handler(d, v, "`preSave`"));
    h.post_save = f
        .get("postSave")
        .and_then(|v| decode_code_handler(d, v, "`postSave`"));
    h.post_delete = f
        .get("postDelete")
        .and_then(|v| decode_code_handler(d, v, "`postDelete`"));
    h
}
