//! The JSON path subset used in specs: `$`, `.name`, `['name']`, `[index]`, `[*]`, `.*`.
//!
//! Kept deliberately small so a path can be checked at validation time and evaluated by the
//! runtime without surprises; filters and recursive descent are not supported.

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
    Wildcard,
}

/// A parsed JSON path. It keeps its source text: it serialises as that text (so exports and
/// the format schema see a plain string) and deserialises by parsing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    pub segments: Vec<Segment>,
    source: String,
}

/// Why a path does not parse, with the byte offset inside the path text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    pub offset: usize,
    pub message: String,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at character {})", self.message, self.offset + 1)
    }
}

/// The segment after a `.` (`i` is just past the dot): `*` or a field name. Returns the
/// segment and the offset after it.
fn parse_dot_segment(text: &str, mut i: usize) -> Result<(Segment, usize), PathError> {
    let bytes = text.as_bytes();
    if bytes.get(i) == Some(&b'*') {
        return Ok((Segment::Wildcard, i + 1));
    }
    let start = i;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'-')) {
        i += 1;
    }
    if start == i {
        return Err(PathError {
            offset: start,
            message: "expected a field name after `.`".into(),
        });
    }
    Ok((Segment::Key(text[start..i].to_string()), i))
}

/// The segment inside `[...]` (`i` is just past the `[`): `*`, a quoted name or an index,
/// then the closing `]`. Returns the segment and the offset after the `]`.
fn parse_bracket_segment(text: &str, mut i: usize) -> Result<(Segment, usize), PathError> {
    let bytes = text.as_bytes();
    let segment = match bytes.get(i) {
        Some(b'*') => {
            i += 1;
            Segment::Wildcard
        }
        Some(q @ (b'\'' | b'"')) => {
            let quote = *q;
            i += 1;
            let start = i;
            while i < bytes.len() && bytes[i] != quote {
                i += 1;
            }
            if i >= bytes.len() {
                return Err(PathError {
                    offset: start - 1,
                    message: "unterminated quoted name".into(),
                });
            }
            i += 1;
            Segment::Key(text[start..i - 1].to_string())
        }
        Some(b'0'..=b'9') => {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let index = text[start..i].parse::<usize>().map_err(|_| PathError {
                offset: start,
                message: "index is too large".into(),
            })?;
            Segment::Index(index)
        }
        _ => {
            return Err(PathError {
                offset: i,
                message: "expected an index, `*` or a quoted name after `[`".into(),
            });
        }
    };
    if bytes.get(i) != Some(&b']') {
        return Err(PathError {
            offset: i,
            message: "expected `]`".into(),
        });
    }
    Ok((segment, i + 1))
}

impl JsonPath {
    /// Parse a path. It must start with `$`.
    pub fn parse(text: &str) -> Result<JsonPath, PathError> {
        let bytes = text.as_bytes();
        if bytes.first() != Some(&b'$') {
            return Err(PathError {
                offset: 0,
                message: "a JSON path starts with `$`".into(),
            });
        }
        let mut i = 1;
        let mut segments = Vec::new();
        while i < bytes.len() {
            let (segment, next) = match bytes[i] {
                b'.' => parse_dot_segment(text, i + 1)?,
                b'[' => parse_bracket_segment(text, i + 1)?,
                _ => {
                    return Err(PathError {
                        offset: i,
                        message: format!(
                            "unexpected `{}`; use `.name`, `[0]` or `[*]`",
                            text[i..].chars().next().unwrap_or(' ')
                        ),
                    });
                }
            };
            segments.push(segment);
            i = next;
        }
        Ok(JsonPath {
            segments,
            source: text.to_string(),
        })
    }

    /// The text the path was parsed from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when the path can select more than one value.
    pub fn is_multi(&self) -> bool {
        self.segments.contains(&Segment::Wildcard)
    }

    /// Every value the path selects.
    pub fn select<'v>(&self, root: &'v Value) -> Vec<&'v Value> {
        let mut current = vec![root];
        for seg in &self.segments {
            let mut next = Vec::new();
            for v in current {
                match (seg, v) {
                    (Segment::Key(k), Value::Object(m)) => next.extend(m.get(k)),
                    (Segment::Index(i), Value::Array(a)) => next.extend(a.get(*i)),
                    (Segment::Wildcard, Value::Array(a)) => next.extend(a.iter()),
                    (Segment::Wildcard, Value::Object(m)) => next.extend(m.values()),
                    _ => {}
                }
            }
            current = next;
        }
        current
    }

    /// The single value the path selects, for paths without wildcards.
    pub fn first<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        self.select(root).into_iter().next()
    }

    /// Evaluate to a JSON value: the value itself, or an array for wildcard paths.
    pub fn evaluate(&self, root: &Value) -> Option<Value> {
        if self.is_multi() {
            Some(Value::Array(
                self.select(root).into_iter().cloned().collect(),
            ))
        } else {
            self.first(root).cloned()
        }
    }
}

/// `$`, the whole document.
impl Default for JsonPath {
    fn default() -> JsonPath {
        JsonPath {
            segments: Vec::new(),
            source: "$".into(),
        }
    }
}

impl std::fmt::Display for JsonPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

/// The source text, so code written when path fields were `String`s (`JsonPath::parse(p)`,
/// `p.starts_with(..)`) keeps compiling while it moves to the parsed form.
impl std::ops::Deref for JsonPath {
    type Target = str;
    fn deref(&self) -> &str {
        &self.source
    }
}

impl std::str::FromStr for JsonPath {
    type Err = PathError;
    fn from_str(text: &str) -> Result<JsonPath, PathError> {
        JsonPath::parse(text)
    }
}

impl serde::Serialize for JsonPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> serde::Deserialize<'de> for JsonPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<JsonPath, D::Error> {
        let text = String::deserialize(d)?;
        JsonPath::parse(&text).map_err(|e| {
            serde::de::Error::custom(format_args!("`{text}` is not a valid JSON path: {e}"))
        })
    }
}

/// Described as a plain string, inline, so the generated format schema is what it was when
/// path fields were `String`s.
impl schemars::JsonSchema for JsonPath {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        String::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_selects() {
        let v = json!({"a": {"b": [{"id": 1}, {"id": 2}]}, "x-y": true});
        let p = JsonPath::parse("$.a.b[*].id").unwrap();
        assert_eq!(p.evaluate(&v), Some(json!([1, 2])));
        assert_eq!(
            JsonPath::parse("$.a.b[1].id").unwrap().first(&v),
            Some(&json!(2))
        );
        assert_eq!(
            JsonPath::parse("$['x-y']").unwrap().first(&v),
            Some(&json!(true))
        );
        assert_eq!(JsonPath::parse("$").unwrap().first(&v), Some(&v));
        assert_eq!(JsonPath::parse("$.missing").unwrap().first(&v), None);
    }

    #[test]
    fn rejects_malformed_paths_with_offsets() {
        assert_eq!(JsonPath::parse("a.b").unwrap_err().offset, 0);
        assert_eq!(JsonPath::parse("$.").unwrap_err().offset, 2);
        assert_eq!(JsonPath::parse("$.a[").unwrap_err().offset, 4);
        assert_eq!(JsonPath::parse("$.a[1").unwrap_err().offset, 5);
        assert!(JsonPath::parse("$.a..b").is_err());
        assert!(JsonPath::parse("$.a[?(@.x)]").is_err());
    }

    #[test]
    fn serialises_as_its_source_and_parses_when_deserialised() {
        let p = JsonPath::parse("$.items[*]['x-y']").unwrap();
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!("$.items[*]['x-y']")
        );
        let back: JsonPath = serde_json::from_value(json!("$.items[*]['x-y']")).unwrap();
        assert_eq!(back, p);
        assert!(back.is_multi());
        let err = serde_json::from_value::<JsonPath>(json!("items")).unwrap_err();
        assert!(err.to_string().contains("starts with `$`"), "{err}");
    }
}
