//! Export: the per-connector JSON Schema document, react-jsonschema-form uiSchemas,
//! behaviour fingerprints and the release catalog.
//!
//! Everything here is a pure function of the model, so the CLI, the macros and the server
//! produce byte-identical output for the same connector. Documents are built in a fixed key
//! order (serde_json keeps insertion order workspace-wide), never by iterating a hash map, so
//! [`to_pretty_json`] output is stable and can be committed and diffed.
//!
//! # The schema document
//!
//! [`schema_document`] returns one JSON document per connector. It declares the JSON Schema
//! 2020-12 dialect so that generic tooling accepts it; every non-keyword top-level key
//! (`config`, `auth`, `actions`, `uiSchema`, ...) is an unknown keyword to a 2020-12 validator,
//! which keeps the whole document meta-valid, and each embedded schema is itself a
//! meta-valid 2020-12 schema that can be used on its own:
//!
//! ```json
//! {
//!   "$schema": "https://json-schema.org/draft/2020-12/schema",
//!   "$id": "urn:connector:.slack_api",
//!   "title": "Slack API",
//!   "description": "Post messages and read channels in Slack",
//!   "formatVersion": 1,
//!   "id": ".slack_api",
//!   "displayName": "Slack API",
//!   "minimumLicense": "gold",
//!   "supportedFeatureIds": ["alerting"],
//!   "config": { "type": "object", "properties": { ... } },
//!   "secrets": { "type": "object", "properties": { ... writeOnly + x-ui.sensitive ... } },
//!   "auth": {
//!     "title": "Authentication",
//!     "type": "object",
//!     "discriminator": { "propertyName": "authType" },
//!     "oneOf": [
//!       { "title": "Bearer token", "type": "object",
//!         "properties": { "authType": { "const": "bearer", ... }, "token": { ... } },
//!         "required": ["authType", "token"], "additionalProperties": false,
//!         "x-authType": "bearer", "x-authMode": "shared", "x-recommended": true }
//!     ],
//!     "x-headers": { "Content-Type": "application/json" }
//!   },
//!   "actions": {
//!     "postMessage": { "description": "...", "isTool": true, "scope": "write",
//!                      "supportsStreaming": false, "handler": "http",
//!                      "input": { ... }, "output": { ... } }
//!   },
//!   "uiSchema": { "config": { ... }, "secrets": { ... }, "auth": { "bearer": { ... } },
//!                 "actions": { "postMessage": { ... } } }
//! }
//! ```

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::auth::AuthTypeId;
use crate::model::{AuthTypeRef, ConnectorSpec, HandlerKind, Implementation};

/// The JSON Schema dialect every exported schema uses.
pub const JSON_SCHEMA_DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// Version of the exported document and catalog layout. Bump it when consumers must change.
pub const EXPORT_FORMAT_VERSION: u64 = 1;

/// Prefix of the fingerprint hash input. Changing how fingerprints are computed must change
/// this tag, so a new algorithm can never produce a value that looks like an old one.
const FINGERPRINT_DOMAIN: &str = "connector-fingerprint-v1\n";

/// The `connector schema <spec>` document: metadata, the config/secrets/auth/action schemas
/// and a react-jsonschema-form uiSchema for each form. See the module docs for the shape.
///
/// Secrets are exported as schemas only: every secret property is marked `writeOnly` and
/// `x-ui.sensitive`, and any `default`/`examples` a spec author put on a secret property is
/// dropped so that a value can never leak into a published schema.
pub fn schema_document(spec: &ConnectorSpec) -> Value {
    let secrets = sensitive_schema(&spec.secrets);
    let branches = auth_branches(spec);

    let mut doc = Map::new();
    doc.insert("$schema".into(), json!(JSON_SCHEMA_DIALECT));
    doc.insert("$id".into(), json!(format!("urn:connector:{}", spec.id)));
    // `title`/`description` are JSON Schema annotations, so generic schema viewers show them.
    doc.insert("title".into(), json!(spec.display_name));
    doc.insert("description".into(), json!(spec.description));
    doc.insert("formatVersion".into(), json!(EXPORT_FORMAT_VERSION));
    doc.insert("id".into(), json!(spec.id));
    doc.insert("displayName".into(), json!(spec.display_name));
    doc.insert(
        "minimumLicense".into(),
        json!(spec.minimum_license.as_str()),
    );
    doc.insert(
        "supportedFeatureIds".into(),
        json!(spec.supported_feature_ids),
    );
    if let Some(icon) = &spec.icon {
        doc.insert("icon".into(), json!(icon));
    }
    if let Some(docs_url) = &spec.docs_url {
        doc.insert("docsUrl".into(), json!(docs_url));
    }
    doc.insert("config".into(), spec.config.clone());
    doc.insert("secrets".into(), secrets.clone());
    doc.insert("auth".into(), auth_schema(spec, &branches));

    let mut actions = Map::new();
    for (name, action) in &spec.actions {
        let handler = match action.implementation {
            Implementation::Http { .. } => "http",
            Implementation::Code { handler } => match handler {
                HandlerKind::Code => "code",
                HandlerKind::Usage => "usage",
            },
        };
        actions.insert(
            name.clone(),
            json!({
                "description": action.description,
                "isTool": action.is_tool,
                "scope": action.scope.as_str(),
                "supportsStreaming": action.supports_streaming,
                "handler": handler,
                "input": action.input,
                // No declared output means "any JSON value": the empty schema.
                "output": action.output.clone().unwrap_or_else(|| json!({})),
            }),
        );
    }
    doc.insert("actions".into(), Value::Object(actions));

    let mut ui_auth = Map::new();
    for (kind, branch) in &branches {
        ui_auth.insert(kind.as_str().into(), ui_schema(branch));
    }
    let mut ui_actions = Map::new();
    for (name, action) in &spec.actions {
        ui_actions.insert(name.clone(), ui_schema(&action.input));
    }
    doc.insert(
        "uiSchema".into(),
        json!({
            "config": ui_schema(&spec.config),
            "secrets": ui_schema(&secrets),
            "auth": ui_auth,
            "actions": ui_actions,
        }),
    );
    Value::Object(doc)
}

/// The auth schema: one object branch per accepted auth type, selected by `authType`.
///
/// `oneOf` with a `const` discriminator makes exactly one branch match any value, and the
/// OpenAPI-style `discriminator` keyword lets react-jsonschema-form pick the branch from the
/// data instead of trying each one.
fn auth_schema(spec: &ConnectorSpec, branches: &[(AuthTypeId, Value)]) -> Value {
    let mut auth = Map::new();
    auth.insert("title".into(), json!("Authentication"));
    auth.insert("type".into(), json!("object"));
    if !branches.is_empty() {
        // An empty `oneOf` is not a valid schema; a spec without auth types is rejected by
        // validation anyway, but export must still produce a meta-valid document.
        auth.insert("required".into(), json!(["authType"]));
        auth.insert(
            "discriminator".into(),
            json!({ "propertyName": "authType" }),
        );
        auth.insert(
            "oneOf".into(),
            Value::Array(branches.iter().map(|(_, b)| b.clone()).collect()),
        );
    }
    if !spec.auth.headers.is_empty() {
        // Header values are templates over config/secrets (e.g. `Bearer {{ secrets.token }}`),
        // never secret values themselves, so they are safe to publish and useful to readers.
        auth.insert("x-headers".into(), json!(spec.auth.headers));
    }
    Value::Object(auth)
}

/// One branch per auth type, recommended types first (stable otherwise), so the form's
/// default selection is the one the author recommends.
fn auth_branches(spec: &ConnectorSpec) -> Vec<(AuthTypeId, Value)> {
    let mut refs: Vec<&AuthTypeRef> = spec.auth.types.iter().collect();
    refs.sort_by_key(|r| !r.recommended);
    refs.into_iter().map(|r| (r.kind, auth_branch(r))).collect()
}

/// An auth default that is a template over `config` (see `validate::auth`).
fn templated(default: &Value) -> bool {
    default.as_str().is_some_and(crate::template::is_template)
}

fn auth_branch(r: &AuthTypeRef) -> Value {
    let config = r.kind.config_schema();
    let secrets = sensitive_schema(r.kind.secrets_schema());

    let mut properties = Map::new();
    properties.insert(
        "authType".into(),
        json!({
            "const": r.kind.as_str(),
            "title": "Authentication type",
            "x-ui": { "widget": "hidden" }
        }),
    );
    let mut required = vec![json!("authType")];
    for (part, is_config) in [(config, true), (&secrets, false)] {
        if let Some(props) = part.get("properties").and_then(Value::as_object) {
            for (name, prop) in props {
                let mut prop = prop.clone();
                // Defaults apply to configuration only: a secret never gets a value in an
                // exported schema, even if a spec (wrongly) supplies one.
                if is_config
                    && let (Some(default), Some(obj)) = (r.defaults.get(name), prop.as_object_mut())
                {
                    if templated(default) {
                        // Rendered over `config` when the instance is created: the form
                        // cannot show it, and the user need not fill the field in.
                        obj.remove("default");
                    } else {
                        obj.insert("default".into(), default.clone());
                    }
                }
                properties.insert(name.clone(), prop);
            }
        }
        if let Some(req) = part.get("required").and_then(Value::as_array) {
            let derived = |v: &Value| {
                is_config
                    && v.as_str()
                        .and_then(|n| r.defaults.get(n))
                        .is_some_and(templated)
            };
            required.extend(req.iter().filter(|v| !derived(v)).cloned());
        }
    }

    let mut branch = Map::new();
    branch.insert("title".into(), json!(r.kind.title()));
    branch.insert("type".into(), json!("object"));
    branch.insert("properties".into(), Value::Object(properties));
    branch.insert("required".into(), Value::Array(required));
    branch.insert("additionalProperties".into(), json!(false));
    let conditions = r.kind.form_conditions();
    if !conditions.is_empty() {
        branch.insert("allOf".into(), Value::Array(conditions));
    }
    branch.insert("x-authType".into(), json!(r.kind.as_str()));
    branch.insert("x-authMode".into(), json!(r.kind.auth_mode().as_str()));
    if r.recommended {
        branch.insert("x-recommended".into(), json!(true));
    }
    Value::Object(branch)
}

/// A copy of an object schema whose properties are all marked sensitive.
///
/// `writeOnly` is the standard annotation ("may be sent, is never returned"), `x-ui.sensitive`
/// is what our forms read. Value-carrying keywords (`default`, `examples`) are removed from the
/// secret subschemas so a published schema can never contain a secret.
fn sensitive_schema(schema: &Value) -> Value {
    let mut schema = schema.clone();
    let Some(obj) = schema.as_object_mut() else {
        return schema;
    };
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        for prop in props.values_mut() {
            mark_sensitive(prop);
        }
    }
    if let Some(Value::Object(props)) = obj.get_mut("patternProperties") {
        for prop in props.values_mut() {
            mark_sensitive(prop);
        }
    }
    if let Some(additional) = obj.get_mut("additionalProperties") {
        mark_sensitive(additional);
    }
    schema
}

fn mark_sensitive(prop: &mut Value) {
    if *prop == Value::Bool(true) {
        // `true` accepts anything; an empty object schema is equivalent and can carry marks.
        *prop = json!({});
    }
    strip_values(prop);
    let Some(obj) = prop.as_object_mut() else {
        return; // `false`: nothing can be entered, nothing to mark.
    };
    obj.insert("writeOnly".into(), json!(true));
    match obj.get_mut("x-ui") {
        Some(Value::Object(ui)) => {
            ui.insert("sensitive".into(), json!(true));
        }
        _ => {
            obj.insert("x-ui".into(), json!({ "sensitive": true }));
        }
    }
}

/// Remove `default` and `examples` from a schema and all its subschemas. Walks only schema
/// positions, so a property that happens to be *named* `default` is kept.
fn strip_values(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    obj.shift_remove("default");
    obj.shift_remove("examples");
    for (key, value) in obj.iter_mut() {
        match key.as_str() {
            "properties" | "patternProperties" | "$defs" | "definitions" | "dependentSchemas" => {
                if let Some(map) = value.as_object_mut() {
                    map.values_mut().for_each(strip_values);
                }
            }
            "allOf" | "anyOf" | "oneOf" | "prefixItems" => {
                if let Some(list) = value.as_array_mut() {
                    list.iter_mut().for_each(strip_values);
                }
            }
            "items"
            | "additionalProperties"
            | "contains"
            | "not"
            | "if"
            | "then"
            | "else"
            | "propertyNames"
            | "unevaluatedItems"
            | "unevaluatedProperties" => strip_values(value),
            _ => {}
        }
    }
}

/// The react-jsonschema-form uiSchema of one schema, derived from its `x-ui` hints.
///
/// | `x-ui`                 | uiSchema                                   |
/// |------------------------|--------------------------------------------|
/// | `order` (on children)  | `ui:order` (ordered first, then the rest)  |
/// | `widget`               | `ui:widget` (see below)                    |
/// | `label`                | `ui:title`                                 |
/// | `placeholder`          | `ui:placeholder`                           |
/// | `helpText`             | `ui:help`                                  |
/// | `section`, `optionsFrom`, `when` | `ui:options.{section, optionsFrom, when}` |
///
/// Widgets: `text`, `password`, `textarea`, `select`, `hidden` keep their names; `url` becomes
/// rjsf's `uri`; `fileUpload` becomes `file`; `json` and `code` become `textarea` with
/// `ui:options.language` (`json`, or `x-ui.language` for code); `keyValue` is an object editor,
/// which rjsf renders through a custom *field* (widgets only apply to scalars), so it becomes
/// `ui:field: "keyValue"` for our UI to register. A sensitive string without a widget gets
/// `password` so it is masked by default. Unknown options are ignored by rjsf and read by our UI.
///
/// Recurses into `properties` (keyed by property name) and an object-schema `items`.
/// Entries with no hints are omitted, so a schema without `x-ui` yields `{}`.
pub fn ui_schema(schema: &Value) -> Value {
    let mut ui = Map::new();
    let Some(obj) = schema.as_object() else {
        return Value::Object(ui);
    };

    let props = obj.get("properties").and_then(Value::as_object);
    if let Some(props) = props {
        let mut ordered: Vec<(usize, Option<f64>, &String)> = props
            .iter()
            .enumerate()
            .map(|(i, (name, prop))| {
                let order = prop
                    .get("x-ui")
                    .and_then(|u| u.get("order"))
                    .and_then(Value::as_f64);
                (i, order, name)
            })
            .collect();
        if ordered.iter().any(|(_, order, _)| order.is_some()) {
            // rjsf requires `ui:order` to name every property (or use `*`); we list them all:
            // ordered ones by `order`, then the rest in declaration order.
            ordered.sort_by(|a, b| match (a.1, b.1) {
                (Some(x), Some(y)) => x.total_cmp(&y).then(a.0.cmp(&b.0)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => a.0.cmp(&b.0),
            });
            ui.insert(
                "ui:order".into(),
                Value::Array(ordered.iter().map(|(_, _, n)| json!(n)).collect()),
            );
        }
    }

    field_hints(obj, &mut ui);

    if let Some(props) = props {
        for (name, prop) in props {
            let child = ui_schema(prop);
            if child.as_object().is_some_and(|c| !c.is_empty()) {
                ui.insert(name.clone(), child);
            }
        }
    }
    if let Some(items) = obj.get("items").filter(|i| i.is_object()) {
        let child = ui_schema(items);
        if child.as_object().is_some_and(|c| !c.is_empty()) {
            ui.insert("items".into(), child);
        }
    }
    Value::Object(ui)
}

/// The `ui:*` keys for one schema's own `x-ui` hints.
fn field_hints(schema: &Map<String, Value>, ui: &mut Map<String, Value>) {
    let Some(hints) = schema.get("x-ui").and_then(Value::as_object) else {
        return;
    };
    let mut options = Map::new();
    let widget = hints.get("widget").and_then(Value::as_str);
    let sensitive = hints.get("sensitive").and_then(Value::as_bool) == Some(true);
    let is_string = match schema.get("type") {
        Some(Value::String(t)) => t == "string",
        _ => false,
    };
    match widget {
        Some("keyValue") => {
            ui.insert("ui:field".into(), json!("keyValue"));
        }
        Some(w) => {
            let (name, language) = match w {
                "url" => ("uri", None),
                "fileUpload" => ("file", None),
                "json" => ("textarea", Some(json!("json"))),
                "code" => ("textarea", hints.get("language").cloned()),
                other => (other, None),
            };
            ui.insert("ui:widget".into(), json!(name));
            if let Some(language) = language {
                options.insert("language".into(), language);
            }
        }
        None if sensitive && is_string => {
            ui.insert("ui:widget".into(), json!("password"));
        }
        None => {}
    }
    for (hint, key) in [
        ("label", "ui:title"),
        ("placeholder", "ui:placeholder"),
        ("helpText", "ui:help"),
    ] {
        if let Some(v) = hints.get(hint) {
            ui.insert(key.into(), v.clone());
        }
    }
    for hint in ["section", "optionsFrom", "when"] {
        if let Some(v) = hints.get(hint) {
            options.insert(hint.into(), v.clone());
        }
    }
    if !options.is_empty() {
        ui.insert("ui:options".into(), Value::Object(options));
    }
}

/// Two-space pretty JSON with a trailing newline: the on-disk form of every exported file.
pub fn to_pretty_json(value: &Value) -> String {
    // Serializing a `Value` into a `Vec` cannot fail (no I/O, string keys only).
    let mut out = serde_json::to_string_pretty(value).unwrap_or_default();
    out.push('\n');
    out
}

/// A fingerprint of the connector's behaviour: `sha256:<hex>`.
///
/// CI compares fingerprints to detect connectors whose behaviour changed between releases.
/// The hash covers the serialized model — `id`, `minimumLicense` (it decides who may use the
/// connector), `baseUrl`, `auth` (types, defaults, headers), `config` and `secrets` schemas,
/// `policies`, every action (including its description, which AI callers read as the tool
/// description, and its input/output schemas with their `x-ui` hints), `test` and `hooks`.
///
/// It excludes what only changes how the connector is presented or offered, not what it does:
/// `displayName`, `description`, `icon`, `docsUrl`, `supportedFeatureIds` (release packaging
/// decides the features; the manifest lists them next to the fingerprint) and the editor-only
/// `$schema` pointer.
///
/// Object keys are sorted recursively before hashing, so the order keys are written in a YAML
/// file does not matter; list order does (it is meaningful: auth preference, rule order).
/// Because the model is serialized with its defaults filled in, writing a default explicitly
/// (`maxRetries: 3`) and omitting it give the same fingerprint.
pub fn fingerprint(spec: &ConnectorSpec) -> String {
    // The model only contains strings, numbers, bools and string-keyed maps, so converting it
    // to a `Value` cannot fail; `Null` would only be reached if that ever changed.
    let mut value = serde_json::to_value(spec).unwrap_or(Value::Null);
    if let Some(obj) = value.as_object_mut() {
        for key in [
            "$schema",
            "displayName",
            "description",
            "icon",
            "docsUrl",
            "supportedFeatureIds",
        ] {
            obj.shift_remove(key);
        }
    }
    let canonical = canonical_json(&value);
    let mut hasher = Sha256::new();
    hasher.update(FINGERPRINT_DOMAIN.as_bytes());
    hasher.update(canonical.as_bytes());
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// Compact JSON with object keys sorted recursively (by code point).
fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(obj) => {
                let mut entries: Vec<(&String, &Value)> = obj.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sorted(value)).unwrap_or_default()
}

/// One file of an exported catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogFile {
    /// Relative path, `/`-separated.
    pub path: String,
    pub contents: String,
}

/// The catalog path of a connector's schema document: `connectors/<id without the leading dot>.json`.
///
/// Ids are validated to `[A-Za-z0-9._-]` by the loader; any other character is replaced by `_`
/// here too, so a spec built in code can never produce a path outside `connectors/`.
pub fn catalog_path(id: &str) -> String {
    format!("connectors/{}.json", file_stem(id))
}

/// The catalog path of a connector's spec source in a release: `specs/<id without the leading
/// dot>.yaml`, sanitized like [`catalog_path`].
pub fn spec_source_path(id: &str) -> String {
    format!("specs/{}.yaml", file_stem(id))
}

fn file_stem(id: &str) -> String {
    id.strip_prefix('.')
        .unwrap_or(id)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The name of the release manifest in a catalog.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The runtime version a catalog exported by this build needs at least
/// (`minimumRuntimeVersion` in the manifest). A runtime older than the exporter may not know
/// a keyword the specs use, so the exporter's own version is the minimum.
pub const RUNTIME_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a release adds to an exported catalog: its version, and the spec sources it ships so
/// that a server can load the connectors from the catalog alone (`connector serve --catalog`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Release {
    /// `catalogVersion` in the manifest; omitted when `None`.
    pub version: Option<String>,
    /// Spec source text by connector id, written to [`spec_source_path`].
    pub sources: std::collections::BTreeMap<String, String>,
}

/// The published catalog without spec sources or version: [`export_release`] with
/// [`Release::default`].
pub fn export_catalog(specs: &[ConnectorSpec]) -> Vec<CatalogFile> {
    export_release(specs, &Release::default())
}

/// The published catalog: `index.json`, one `connectors/<id>.json` schema document per
/// connector, the spec sources of `release` under `specs/`, and the release `manifest.json`,
/// which lists every other file with its SHA-256 (the signature over the manifest therefore
/// covers them all). Files are returned sorted by path and connectors are listed by id, so the
/// output does not depend on the order of `specs` and two runs are byte-identical. Ids are
/// expected to be unique (the CLI checks); duplicates would map to the same file path.
pub fn export_release(specs: &[ConnectorSpec], release: &Release) -> Vec<CatalogFile> {
    let mut entries: Vec<(&ConnectorSpec, String)> =
        specs.iter().map(|s| (s, fingerprint(s))).collect();
    entries.sort_by(|a, b| a.0.id.cmp(&b.0.id).then_with(|| a.1.cmp(&b.1)));

    let mut files = Vec::with_capacity(2 * entries.len() + 2);
    let mut index = Vec::with_capacity(entries.len());
    let mut connectors = Vec::with_capacity(entries.len());
    for (spec, fp) in &entries {
        let path = catalog_path(&spec.id);
        index.push(index_entry(spec, &path, fp));
        connectors.push(json!({
            "id": spec.id,
            "supportedFeatureIds": spec.supported_feature_ids,
            "fingerprint": fp,
        }));
        files.push(CatalogFile {
            path,
            contents: to_pretty_json(&schema_document(spec)),
        });
        if let Some(text) = release.sources.get(&spec.id) {
            files.push(CatalogFile {
                path: spec_source_path(&spec.id),
                contents: text.clone(),
            });
        }
    }
    files.push(CatalogFile {
        path: "index.json".into(),
        contents: to_pretty_json(&json!({
            "formatVersion": EXPORT_FORMAT_VERSION,
            "connectors": index,
        })),
    });
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = manifest(&connectors, &files, release);
    files.push(CatalogFile {
        path: MANIFEST_FILE.into(),
        contents: to_pretty_json(&manifest),
    });
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// The index's entry for one connector.
fn index_entry(spec: &ConnectorSpec, path: &str, fingerprint: &str) -> Value {
    let auth_types: Vec<Value> = spec
        .auth
        .types
        .iter()
        .map(|r| {
            json!({
                "type": r.kind.as_str(),
                "authMode": r.kind.auth_mode().as_str(),
                "recommended": r.recommended,
            })
        })
        .collect();
    let actions: Vec<&String> = spec.actions.keys().collect();
    json!({
        "id": spec.id,
        "displayName": spec.display_name,
        "description": spec.description,
        "minimumLicense": spec.minimum_license.as_str(),
        "supportedFeatureIds": spec.supported_feature_ids,
        "authTypes": auth_types,
        "actions": actions,
        "file": path,
        "fingerprint": fingerprint,
    })
}

/// `manifest.json`: the format, the release's version and the runtime it needs, the
/// connectors' fingerprints, and every file (sorted by path) with its size and SHA-256.
fn manifest(connectors: &[Value], files: &[CatalogFile], release: &Release) -> Value {
    let listed: Vec<Value> = files
        .iter()
        .map(|f| {
            json!({
                "path": f.path,
                "bytes": f.contents.len(),
                "sha256": hex::encode(Sha256::digest(f.contents.as_bytes())),
            })
        })
        .collect();
    let mut manifest = Map::new();
    manifest.insert("formatVersion".into(), json!(EXPORT_FORMAT_VERSION));
    if let Some(version) = &release.version {
        manifest.insert("catalogVersion".into(), json!(version));
    }
    manifest.insert("minimumRuntimeVersion".into(), json!(RUNTIME_VERSION));
    manifest.insert("connectors".into(), Value::Array(connectors.to_vec()));
    manifest.insert("files".into(), Value::Array(listed));
    Value::Object(manifest)
}
