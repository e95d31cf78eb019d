//! The spec *format's* own JSON Schema (`docs/connector-spec.schema.json`).
//!
//! It is generated from the model with schemars, so it cannot drift from the types the loader
//! fills, and then adjusted where the written YAML form differs from the model's serde form.
//! Its audience is YAML editors (yaml-language-server and friends): completion, hover docs and
//! inline errors while writing a spec. The loader checks every file against the same schema
//! ([`structure_schema`], this one without the meta-schema references), so what it says about
//! keys, types, enum values and ranges is what the loader says; the loader adds the rules JSON
//! Schema cannot express (see [`crate::validate`]).
//!
//! Adjustments to the generated schema, each because of how specs are written:
//!
//! * `$id`, `title` and key order at the root, for tools that display them;
//! * optional fields do not accept `null` (schemars adds it for `Option<T>`; the loader wants
//!   the key left out instead);
//! * an action is exactly one of `{request, response?}` or `{handler: code}`. The model
//!   flattens an untagged enum, which schemars renders as `anyOf` + `unevaluatedProperties`;
//!   editors that only know draft-07 then accept any key. We list every key under one
//!   `properties` with `additionalProperties: false` and express the choice with `oneOf` over
//!   `required` sets, which every validator understands;
//! * embedded schemas (`config`, `secrets`, action `input`/`output`) are checked against the
//!   JSON Schema 2020-12 meta-schema;
//! * `x-template` on a top-level `config` property is described (`$defs/UserTemplate`), for
//!   completion; the loader checks it in [`crate::user_template`];
//! * string maps (headers, query, form fields) accept numbers and booleans, as the loader does
//!   (`X-Retries: 3` is read as the text `3`).

use serde_json::{Map, Value, json};

use crate::export::JSON_SCHEMA_DIALECT;
use crate::model::ConnectorSpec;

/// The format schema's `$id`. Connector ids start with `.`, so this can never collide with a
/// connector document's `urn:connector:<id>`.
pub const FORMAT_SCHEMA_ID: &str = "urn:connector:spec-format:v1";

/// Where the generated schema is committed, relative to the workspace root.
pub const FORMAT_SCHEMA_PATH: &str = "docs/connector-spec.schema.json";

/// The JSON Schema (2020-12) of a connector spec file.
pub fn format_schema() -> Value {
    let mut schema = structure_schema();
    embed_meta_schema(&mut schema);
    describe_user_templates(&mut schema);
    with_root_header(schema)
}

/// The format schema without the meta-schema checks of embedded schemas: what the loader
/// validates a file against ([`crate::validate::format`]). Embedded schemas are checked on
/// their own by [`crate::schema_check`], which points inside them.
pub fn structure_schema() -> Value {
    let mut schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<ConnectorSpec>()
        .to_value();
    remove_null_options(&mut schema);
    close_action_implementations(&mut schema);
    accept_scalar_map_values(&mut schema);
    schema
}

/// `$schema`, `$id`, `title`, `description` first, then everything else as generated.
fn with_root_header(schema: Value) -> Value {
    let Value::Object(mut rest) = schema else {
        return schema;
    };
    let mut root = Map::new();
    root.insert("$schema".into(), json!(JSON_SCHEMA_DIALECT));
    root.insert("$id".into(), json!(FORMAT_SCHEMA_ID));
    for key in ["title", "description"] {
        if let Some(v) = rest.shift_remove(key) {
            root.insert(key.into(), v);
        }
    }
    rest.shift_remove("$schema");
    root.extend(rest);
    Value::Object(root)
}

/// `type: [T, "null"]` becomes `type: T`, and `anyOf: [S, {type: null}]` becomes `S`.
fn remove_null_options(schema: &mut Value) {
    match schema {
        Value::Object(obj) => {
            if let Some(Value::Array(types)) = obj.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types[0].clone();
                    obj.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(branches)) = obj.get("anyOf") {
                let non_null: Vec<&Value> = branches
                    .iter()
                    .filter(|b| **b != json!({ "type": "null" }))
                    .collect();
                if non_null.len() == 1
                    && branches.len() == 2
                    && let Some(inner) = non_null[0].as_object()
                {
                    let inner = inner.clone();
                    obj.shift_remove("anyOf");
                    // The branch's keywords go first so `$ref` leads, as elsewhere.
                    let siblings = std::mem::take(obj);
                    obj.extend(inner);
                    obj.extend(siblings);
                }
            }
            obj.values_mut().for_each(remove_null_options);
        }
        Value::Array(items) => items.iter_mut().for_each(remove_null_options),
        _ => {}
    }
}

/// Rewrite the `Action` definition: one closed property list, and a `oneOf` over the two
/// implementations (see the module docs).
fn close_action_implementations(schema: &mut Value) {
    let Some(Value::Object(action)) = schema.pointer_mut("/$defs/Action") else {
        return;
    };
    let Some(Value::Array(branches)) = action.shift_remove("anyOf") else {
        return;
    };
    action.shift_remove("unevaluatedProperties");

    let common = match action.shift_remove("properties") {
        Some(Value::Object(p)) => p,
        _ => Map::new(),
    };
    let (properties, implementation_keys) = merge_implementation_properties(common, &branches);
    let alternatives = implementation_alternatives(&branches, &implementation_keys);

    let description = action.shift_remove("description");
    let required = action.shift_remove("required");
    let mut rebuilt = Map::new();
    rebuilt.insert("type".into(), json!("object"));
    rebuilt.insert("properties".into(), Value::Object(properties));
    if let Some(required) = required {
        rebuilt.insert("required".into(), required);
    }
    rebuilt.insert("additionalProperties".into(), json!(false));
    rebuilt.insert("oneOf".into(), Value::Array(alternatives));
    rebuilt.extend(
        std::mem::take(action)
            .into_iter()
            .filter(|(k, _)| k != "type"),
    );
    if let Some(description) = description {
        rebuilt.insert("description".into(), description);
    }
    *action = rebuilt;
}

/// Every key of every implementation, in model order: the common keys up to
/// `supportsStreaming`, then the implementation keys, then the rest. Also returns each
/// implementation's own keys, in branch order.
fn merge_implementation_properties(
    common: Map<String, Value>,
    branches: &[Value],
) -> (Map<String, Value>, Vec<Vec<String>>) {
    let mut implementation_keys: Vec<Vec<String>> = Vec::new();
    let mut implementation_props = Map::new();
    for branch in branches {
        let props = branch.get("properties").and_then(Value::as_object);
        let keys: Vec<String> = props
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(props) = props {
            implementation_props.extend(props.clone());
        }
        implementation_keys.push(keys);
    }
    let mut properties = Map::new();
    let mut inserted = false;
    for (key, value) in common {
        if !inserted && key == "pagination" {
            properties.extend(std::mem::take(&mut implementation_props));
            inserted = true;
        }
        properties.insert(key, value);
    }
    properties.extend(implementation_props);
    (properties, implementation_keys)
}

/// Each alternative requires its own keys' `required` and forbids every other
/// implementation's keys, so an action with both `request` and `handler` matches neither.
fn implementation_alternatives(
    branches: &[Value],
    implementation_keys: &[Vec<String>],
) -> Vec<Value> {
    branches
        .iter()
        .enumerate()
        .map(|(i, branch)| {
            let mut alt = Map::new();
            if let Some(d) = branch.get("description") {
                alt.insert("description".into(), d.clone());
            }
            if let Some(r) = branch.get("required") {
                alt.insert("required".into(), r.clone());
            }
            let foreign: Vec<Value> = implementation_keys
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .flat_map(|(_, keys)| keys.iter())
                .filter(|k| !implementation_keys[i].contains(k))
                .map(|k| json!({ "required": [k] }))
                .collect();
            if !foreign.is_empty() {
                alt.insert("not".into(), json!({ "anyOf": foreign }));
            }
            Value::Object(alt)
        })
        .collect()
}

/// Fields that hold a JSON Schema are validated against the 2020-12 meta-schema, which
/// validators ship with (no network access needed).
fn embed_meta_schema(schema: &mut Value) {
    for pointer in [
        "/properties/config",
        "/properties/secrets",
        "/$defs/Action/properties/input",
        "/$defs/Action/properties/output",
    ] {
        if let Some(Value::Object(field)) = schema.pointer_mut(pointer) {
            let rest = std::mem::take(field);
            field.insert("$ref".into(), json!(JSON_SCHEMA_DIALECT));
            field.extend(rest);
        }
    }
}

/// The `x-template` declaration of a config property (see [`crate::user_template`]).
fn describe_user_templates(schema: &mut Value) {
    if let Some(Value::Object(defs)) = schema.get_mut("$defs") {
        defs.insert(
            "UserTemplate".into(),
            json!({
                "description": "The field's value is a template written by the user (a URL or a JSON body with {{{variable}}} in it), rendered with contextual escaping.",
                "type": "object",
                "properties": {
                    "kind": {
                        "description": "json: variables as JSON values, or string content inside quotes; url: variables percent-encoded, origin fixed by the template.",
                        "enum": crate::user_template::KINDS
                    },
                    "variables": {
                        "description": "The variables the template may use (`case.title`).",
                        "type": "array",
                        "items": { "type": "string", "pattern": VARIABLE_PATTERN }
                    },
                    "required": {
                        "description": "The variables the template must use, among `variables`.",
                        "type": "array",
                        "items": { "type": "string", "pattern": VARIABLE_PATTERN }
                    }
                },
                "required": ["kind"],
                "additionalProperties": false
            }),
        );
    }
    if let Some(Value::Object(config)) = schema.pointer_mut("/properties/config") {
        config.insert(
            "properties".into(),
            json!({
                "properties": {
                    "additionalProperties": {
                        "properties": { "x-template": { "$ref": "#/$defs/UserTemplate" } }
                    }
                }
            }),
        );
    }
}

/// A user-template variable: a dotted name (`external.system.id`).
const VARIABLE_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*$";

/// `additionalProperties: {type: string}` maps accept YAML scalars, which the loader reads as
/// text.
fn accept_scalar_map_values(schema: &mut Value) {
    match schema {
        Value::Object(obj) => {
            if obj.get("type") == Some(&json!("object"))
                && obj.get("additionalProperties") == Some(&json!({ "type": "string" }))
            {
                obj.insert(
                    "additionalProperties".into(),
                    json!({ "type": ["string", "number", "boolean"] }),
                );
            }
            obj.values_mut().for_each(accept_scalar_map_values);
        }
        Value::Array(items) => items.iter_mut().for_each(accept_scalar_map_values),
        _ => {}
    }
}
