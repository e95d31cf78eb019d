//! Model types decode straight from the located YAML tree: a serde `Deserializer` over
//! [`Node`] whose errors carry the span of the node that failed.
//!
//! The model's own `Deserialize` impls (derived from its field names, renames and defaults)
//! are the only description of how a spec maps to types; nothing here knows a field name.
//! The structure has already been checked against the format schema
//! ([`crate::validate::format`]) by the time a whole spec is decoded, so an error here is
//! normally one a type finds in a value it parses itself (a JSON path, say), and it is
//! reported at that value.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use crate::source::Span;
use crate::yaml::{Node, NodeValue};

/// A decoding error at a place in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    pub message: String,
    /// The innermost node that failed; `None` until the error leaves the type that raised it.
    pub span: Option<Span>,
}

impl DecodeError {
    fn or_at(mut self, span: Span) -> DecodeError {
        self.span.get_or_insert(span);
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError {
            message: msg.to_string(),
            span: None,
        }
    }
}

/// Decode a model value from a node.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &'de Node) -> Result<T, DecodeError> {
    T::deserialize(node).map_err(|e| e.or_at(node.span))
}

impl<'de> de::Deserializer<'de> for &'de Node {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let result = match &self.value {
            NodeValue::Null => visitor.visit_unit(),
            NodeValue::Bool(b) => visitor.visit_bool(*b),
            NodeValue::Int(i) => visitor.visit_i64(*i),
            NodeValue::Float(f) => visitor.visit_f64(*f),
            NodeValue::Str(s) => visitor.visit_borrowed_str(s),
            NodeValue::Seq(items) => visitor.visit_seq(Items(items.iter())),
            NodeValue::Map(entries) => visitor.visit_map(Entries {
                entries: entries.iter(),
                value: None,
            }),
        };
        result.map_err(|e| e.or_at(self.span))
    }

    /// Where text is expected, a plain YAML scalar is its text: `X-Retries: 3` is the header
    /// value `"3"`, as the format schema allows for string maps.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        let result: Result<V::Value, DecodeError> = match &self.value {
            NodeValue::Int(i) => visitor.visit_string(i.to_string()),
            NodeValue::Bool(b) => visitor.visit_string(b.to_string()),
            NodeValue::Float(f) => visitor.visit_string(f.to_string()),
            _ => return self.deserialize_any(visitor),
        };
        result.map_err(|e| e.or_at(self.span))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    /// A missing value and an explicit `null` are both `None`.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.value {
            NodeValue::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
        .map_err(|e| e.or_at(self.span))
    }

    /// A unit variant is a string (`scope: read`); a variant with content is a one-key
    /// mapping (`body: { json: ... }`).
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let result = match &self.value {
            NodeValue::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            NodeValue::Map(entries) if entries.len() == 1 => visitor.visit_enum(Variant {
                key: &entries[0].0,
                value: &entries[0].1,
            }),
            _ => Err(de::Error::invalid_type(unexpected(self), &visitor)),
        };
        result.map_err(|e| e.or_at(self.span))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

fn unexpected(node: &Node) -> de::Unexpected<'_> {
    match &node.value {
        NodeValue::Null => de::Unexpected::Unit,
        NodeValue::Bool(b) => de::Unexpected::Bool(*b),
        NodeValue::Int(i) => de::Unexpected::Signed(*i),
        NodeValue::Float(f) => de::Unexpected::Float(*f),
        NodeValue::Str(s) => de::Unexpected::Str(s),
        NodeValue::Seq(_) => de::Unexpected::Seq,
        NodeValue::Map(_) => de::Unexpected::Map,
    }
}

struct Items<'de>(std::slice::Iter<'de, Node>);

impl<'de> de::SeqAccess<'de> for Items<'de> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        match self.0.next() {
            Some(node) => seed
                .deserialize(node)
                .map(Some)
                .map_err(|e| e.or_at(node.span)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Entries<'de> {
    entries: std::slice::Iter<'de, (Node, Node)>,
    value: Option<&'de Node>,
}

impl<'de> de::MapAccess<'de> for Entries<'de> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(key)
                    .map(Some)
                    .map_err(|e| e.or_at(key.span))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        let node = self
            .value
            .take()
            .ok_or_else(|| <DecodeError as de::Error>::custom("a value without its key"))?;
        seed.deserialize(node).map_err(|e| e.or_at(node.span))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct Variant<'de> {
    key: &'de Node,
    value: &'de Node,
}

impl<'de> de::EnumAccess<'de> for Variant<'de> {
    type Error = DecodeError;
    type Variant = &'de Node;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, &'de Node), DecodeError> {
        let variant = seed
            .deserialize(self.key)
            .map_err(|e| e.or_at(self.key.span))?;
        Ok((variant, self.value))
    }
}

impl<'de> de::VariantAccess<'de> for &'de Node {
    type Error = DecodeError;

    fn unit_variant(self) -> Result<(), DecodeError> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, DecodeError> {
        seed.deserialize(self).map_err(|e| e.or_at(self.span))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Body, HttpMethod, Pagination, PaginationStyle, Request};
    use crate::source::SourceFile;
    use crate::yaml::{Budget, parse};

    fn tree(text: &str) -> Node {
        let (root, diags) = parse(&SourceFile::new("t.yaml", text), Budget::default());
        assert!(diags.is_empty(), "{diags:?}");
        root.expect("a document")
    }

    #[test]
    fn model_types_decode_from_the_tree_with_scalar_text_and_enums() {
        let node = tree(
            "method: POST\npath: /x\nheaders: { X-Retries: 3, X-On: true }\nbody: { form: { n: 1 } }\n",
        );
        let r: Request = from_node(&node).unwrap();
        assert_eq!(r.method, HttpMethod::Post);
        assert_eq!(r.headers["X-Retries"], "3");
        assert_eq!(r.headers["X-On"], "true");
        assert!(matches!(r.body, Some(Body::Form(ref f)) if f["n"] == "1"));
    }

    #[test]
    fn an_error_points_at_the_innermost_node() {
        let text = "style: cursor\npageSize: many\n";
        let node = tree(text);
        let e = from_node::<Pagination>(&node).unwrap_err();
        let span = e.span.expect("located");
        assert_eq!(&text[span.start..span.end], "many");
        let ok: Pagination = from_node(&tree("style: link_header\n")).unwrap();
        assert_eq!(ok.style, PaginationStyle::LinkHeader);
    }
}
