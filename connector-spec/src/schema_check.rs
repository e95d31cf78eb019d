//! Checks on schemas embedded in a spec: valid JSON Schema 2020-12, well-formed `x-ui` hints,
//! and bounded tool inputs.

use serde_json::Value;

/// A problem in an embedded schema, at a JSON pointer inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    /// JSON pointer (`/properties/name/maxLength`) inside the schema.
    pub pointer: String,
    pub message: String,
}

/// Validate `schema` against the JSON Schema 2020-12 meta-schema; every violation is returned.
pub fn meta_validate(schema: &Value) -> Vec<SchemaProblem> {
    let validator = jsonschema::draft202012::meta::validator();
    validator
        .iter_errors(schema)
        .map(|e| SchemaProblem {
            pointer: e.instance_path().to_string(),
            message: e.to_string(),
        })
        .collect()
}

/// The widgets a form renderer understands.
pub const WIDGETS: [&str; 10] = [
    "text",
    "password",
    "textarea",
    "select",
    "json",
    "code",
    "url",
    "keyValue",
    "fileUpload",
    "hidden",
];

/// The keys allowed inside `x-ui`.
pub const UI_KEYS: [&str; 9] = [
    "widget",
    "label",
    "placeholder",
    "helpText",
    "order",
    "section",
    "sensitive",
    "optionsFrom",
    "when",
];

/// Split a JSON pointer into its unescaped segments.
pub fn pointer_segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Walk every subschema of `schema` that describes a value (properties, items, ...), calling
/// `f` with its JSON pointer segments.
pub fn walk_subschemas<'v>(schema: &'v Value, f: &mut dyn FnMut(&[String], &'v Value)) {
    fn go<'v>(path: &mut Vec<String>, schema: &'v Value, f: &mut dyn FnMut(&[String], &'v Value)) {
        let Value::Object(map) = schema else {
            return;
        };
        f(path, schema);
        for key in ["properties", "patternProperties", "$defs", "definitions"] {
            if let Some(Value::Object(props)) = map.get(key) {
                for (name, sub) in props {
                    path.push(key.to_string());
                    path.push(name.clone());
                    go(path, sub, f);
                    path.pop();
                    path.pop();
                }
            }
        }
        for key in [
            "items",
            "additionalProperties",
            "not",
            "contains",
            "if",
            "then",
            "else",
        ] {
            if let Some(sub) = map.get(key) {
                path.push(key.to_string());
                go(path, sub, f);
                path.pop();
            }
        }
        for key in ["prefixItems", "allOf", "anyOf", "oneOf"] {
            if let Some(Value::Array(subs)) = map.get(key) {
                for (i, sub) in subs.iter().enumerate() {
                    path.push(key.to_string());
                    path.push(i.to_string());
                    go(path, sub, f);
                    path.pop();
                    path.pop();
                }
            }
        }
    }
    go(&mut Vec::new(), schema, f)
}

/// Whether a schema allows a given JSON type.
pub fn has_type(schema: &Value, ty: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == ty,
        Some(Value::Array(ts)) => ts.iter().any(|t| t == ty),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn meta_validation_reports_bad_keywords() {
        assert!(
            meta_validate(&json!({"type": "object", "properties": {"a": {"type": "string"}}}))
                .is_empty()
        );
        let problems =
            meta_validate(&json!({"type": "strin", "properties": {"a": {"maxLength": -1}}}));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.pointer == "/properties/a/maxLength")
        );
    }

    #[test]
    fn walks_nested_properties() {
        let s = json!({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}}}});
        let mut seen = Vec::new();
        walk_subschemas(&s, &mut |p, _| seen.push(p.join("/")));
        assert_eq!(seen, ["", "properties/a", "properties/a/items"]);
    }
}
