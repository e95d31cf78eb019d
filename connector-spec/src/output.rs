//! An action's output mapping, parsed once: a JSON value whose strings are `$` paths into the
//! response or templates over it, kept with its `$` paths parsed.

use serde_json::Value;

use crate::path::{JsonPath, PathError};

/// One node of a parsed output mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputNode {
    /// A `$` string: the value at this path.
    Path(JsonPath),
    /// Any other string: a template over `response` (or plain text), kept as the JSON string
    /// it was written as (what a renderer takes).
    Template(Value),
    Object(Vec<(String, OutputNode)>),
    Array(Vec<OutputNode>),
    /// A number, boolean or null, passed on as written.
    Literal(Value),
}

/// `response.output`: the mapping as written (what it serialises as) and its parsed form.
#[derive(Debug, Clone)]
pub struct OutputMapping {
    source: Value,
    node: OutputNode,
    has_template: bool,
}

impl OutputMapping {
    /// Parse a mapping: every `$` string must be a valid JSON path.
    pub fn parse(source: Value) -> Result<OutputMapping, PathError> {
        let node = node(&source)?;
        let has_template = has_template(&node);
        Ok(OutputMapping {
            source,
            node,
            has_template,
        })
    }

    /// The parsed mapping.
    pub fn node(&self) -> &OutputNode {
        &self.node
    }

    /// Whether some string of the mapping is a template (so applying it needs a template
    /// context).
    pub fn has_template(&self) -> bool {
        self.has_template
    }
}

fn node(v: &Value) -> Result<OutputNode, PathError> {
    Ok(match v {
        Value::String(s) if s.starts_with('$') => OutputNode::Path(JsonPath::parse(s)?),
        Value::String(_) => OutputNode::Template(v.clone()),
        Value::Object(m) => OutputNode::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), node(v)?)))
                .collect::<Result<_, PathError>>()?,
        ),
        Value::Array(items) => OutputNode::Array(items.iter().map(node).collect::<Result<_, _>>()?),
        other => OutputNode::Literal(other.clone()),
    })
}

fn has_template(n: &OutputNode) -> bool {
    match n {
        OutputNode::Template(t) => t.as_str().is_some_and(crate::template::is_template),
        OutputNode::Object(m) => m.iter().any(|(_, v)| has_template(v)),
        OutputNode::Array(items) => items.iter().any(has_template),
        OutputNode::Path(_) | OutputNode::Literal(_) => false,
    }
}

/// Two mappings are equal when they were written the same.
impl PartialEq for OutputMapping {
    fn eq(&self, other: &OutputMapping) -> bool {
        self.source == other.source
    }
}

/// The mapping as written, so code that read the field as a `Value` keeps compiling.
impl std::ops::Deref for OutputMapping {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.source
    }
}

impl serde::Serialize for OutputMapping {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.source.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for OutputMapping {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<OutputMapping, D::Error> {
        let source = Value::deserialize(d)?;
        OutputMapping::parse(source).map_err(|e| {
            serde::de::Error::custom(format_args!("an output path is not a valid JSON path: {e}"))
        })
    }
}

/// Described as any JSON value, inline, as when the field was a `Value`.
impl schemars::JsonSchema for OutputMapping {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        Value::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        Value::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_are_parsed_templates_found_and_the_source_kept() {
        let src = json!({"id": "$.data.id", "n": 3, "label": "{{ response.name }}", "l": ["$"]});
        let m = OutputMapping::parse(src.clone()).unwrap();
        assert!(m.has_template());
        assert_eq!(serde_json::to_value(&m).unwrap(), src);
        let OutputNode::Object(fields) = m.node() else {
            panic!("an object")
        };
        assert!(matches!(&fields[0].1, OutputNode::Path(p) if p.as_str() == "$.data.id"));
        assert_eq!(fields[1].1, OutputNode::Literal(json!(3)));
        assert!(!OutputMapping::parse(json!("$.x")).unwrap().has_template());
        assert_eq!(
            OutputMapping::parse(json!({"a": "$.a["}))
                .unwrap_err()
                .offset,
            4
        );
    }
}
