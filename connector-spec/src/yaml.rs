//! A located YAML node tree built from saphyr-parser events.
//!
//! We build our own tree rather than use a generic YAML value type so that every node keeps its
//! byte span, duplicate keys are reported (a hash map would silently drop one), and input budgets
//! (node count, nesting depth, alias expansion) bound the work any file can cause.

use std::borrow::Cow;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Tag};
use serde_json::Value;

use crate::diagnostic::{Code, Diagnostic};
use crate::source::{SourceFile, Span};

/// Limits that keep hostile input from exhausting memory or time.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Most nodes in the tree, counting alias expansions.
    pub max_nodes: usize,
    /// Deepest nesting of sequences and mappings.
    pub max_depth: usize,
    /// Largest input in bytes.
    pub max_bytes: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_nodes: 200_000,
            max_depth: 64,
            max_bytes: 4 * 1024 * 1024,
        }
    }
}

/// A YAML node with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: NodeValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in source order. Keys are unique (duplicates are reported and dropped).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The YAML type name, for messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a number",
            NodeValue::Str(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            NodeValue::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            NodeValue::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value under a string key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The key node of a string key of a mapping.
    pub fn key_node(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, _)| k)
    }

    /// Follow a path of mapping keys and sequence indexes (as decimal strings).
    pub fn lookup<'a>(&'a self, path: &[&str]) -> Option<&'a Node> {
        let mut node = self;
        for seg in path {
            node = match &node.value {
                NodeValue::Map(_) => node.get(seg)?,
                NodeValue::Seq(items) => items.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Convert to JSON. Mapping keys are stringified.
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_text(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// A mapping key as text (non-string keys are rendered as YAML would print them).
    pub fn key_text(&self) -> String {
        match &self.value {
            NodeValue::Str(s) => s.clone(),
            NodeValue::Null => "null".into(),
            NodeValue::Bool(b) => b.to_string(),
            NodeValue::Int(i) => i.to_string(),
            NodeValue::Float(f) => f.to_string(),
            NodeValue::Seq(_) | NodeValue::Map(_) => "<complex key>".into(),
        }
    }

    fn count(&self) -> usize {
        match &self.value {
            NodeValue::Seq(items) => 1 + items.iter().map(Node::count).sum::<usize>(),
            NodeValue::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.count() + v.count())
                    .sum::<usize>()
            }
            _ => 1,
        }
    }
}

/// Parse one YAML document. Returns the root (or `None` on a fatal error) and every
/// diagnostic found while building the tree.
pub fn parse(source: &SourceFile, budget: Budget) -> (Option<Node>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    if source.text().len() > budget.max_bytes {
        diags.push(Diagnostic::error(
            Code::YamlUnsupported,
            Span::at(0, 0),
            format!(
                "file is {} bytes; the limit is {} bytes",
                source.text().len(),
                budget.max_bytes
            ),
        ));
        return (None, diags);
    }
    let mut builder = Builder {
        source,
        budget,
        stack: Vec::new(),
        anchors: std::collections::HashMap::new(),
        nodes: 0,
        root: None,
        documents: 0,
        diags: &mut diags,
    };
    let parser = Parser::new_from_str(source.text());
    for event in parser {
        match event {
            Ok((event, span)) => {
                let start = source.offset(span.start.line(), span.start.col() + 1);
                let end = source.offset(span.end.line(), span.end.col() + 1);
                if let Err(fatal) = builder.on_event(event, Span::new(start, end)) {
                    builder.diags.push(fatal);
                    return (None, diags);
                }
            }
            Err(e) => {
                let open = builder.open_flow();
                builder.diags.push(scan_error(source, &e, open));
                return (None, diags);
            }
        }
    }
    let root = builder.root.take();
    (root, diags)
}

/// A syntax error. When a flow collection (`[` or `{`) opened on an earlier line is still
/// open, the error is almost always that it was never closed: the scanner only notices on a
/// later line, so point at where the collection opens.
fn scan_error(source: &SourceFile, e: &ScanError, open_flow: Option<usize>) -> Diagnostic {
    let m = e.marker();
    let at = source.offset(m.line(), m.col() + 1);
    // At end of file there is no character to point at; point at the last one.
    let at = at.min(source.text().len().saturating_sub(1));
    if let Some(open) = open_flow
        && source.location(open).line < source.location(at).line
    {
        let bracket = &source.text()[open..open + 1];
        let close = if bracket == "[" { "]" } else { "}" };
        let here = source.location(at);
        let (line, col) = (here.line, here.column);
        return Diagnostic::error(
            Code::YamlSyntax,
            Span::at(open, 1),
            format!("YAML syntax error: this `{bracket}` is never closed"),
        )
        .with_label(format!("`{bracket}` opens here"))
        .with_help(format!(
            "add the closing `{close}`; the parser noticed at line {line}, column {col}: {}",
            e.info()
        ));
    }
    Diagnostic::error(
        Code::YamlSyntax,
        Span::at(at, 1),
        format!("YAML syntax error: {}", e.info()),
    )
    .with_label("here")
}

enum Frame {
    Seq {
        start: usize,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: usize,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

struct Builder<'a> {
    source: &'a SourceFile,
    budget: Budget,
    stack: Vec<Frame>,
    anchors: std::collections::HashMap<usize, Node>,
    nodes: usize,
    root: Option<Node>,
    documents: usize,
    diags: &'a mut Vec<Diagnostic>,
}

impl Builder<'_> {
    /// Where the innermost open flow collection (`[...]` or `{...}`) starts, if any.
    fn open_flow(&self) -> Option<usize> {
        self.stack.iter().rev().find_map(|f| {
            let start = match f {
                Frame::Seq { start, .. } | Frame::Map { start, .. } => *start,
            };
            matches!(self.source.text().as_bytes().get(start), Some(b'[' | b'{')).then_some(start)
        })
    }

    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<(), Diagnostic> {
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => Ok(()),
            Event::DocumentStart(_) => self.on_document_start(span),
            Event::Alias(id) => self.on_alias(id, span),
            Event::Scalar(text, style, anchor, tag) => {
                self.on_scalar(text, style, anchor, tag, span)
            }
            Event::SequenceStart(anchor, _tag) => {
                self.bump(1, span)?;
                self.enter(span)?;
                self.stack.push(Frame::Seq {
                    start: span.start,
                    anchor,
                    items: Vec::new(),
                });
                Ok(())
            }
            Event::MappingStart(anchor, _tag) => {
                self.bump(1, span)?;
                self.enter(span)?;
                self.stack.push(Frame::Map {
                    start: span.start,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                });
                Ok(())
            }
            Event::SequenceEnd => self.on_sequence_end(span),
            Event::MappingEnd => self.on_mapping_end(span),
        }
    }

    /// A spec file holds one document; the second start is an error.
    fn on_document_start(&mut self, span: Span) -> Result<(), Diagnostic> {
        self.documents += 1;
        if self.documents > 1 {
            return Err(Diagnostic::error(
                Code::YamlUnsupported,
                span,
                "a spec file holds exactly one YAML document",
            )
            .with_label("second document starts here")
            .with_help("put each connector in its own file"));
        }
        Ok(())
    }

    /// An alias is a copy of its anchored node (counted in full against the budget), located
    /// at the alias.
    fn on_alias(&mut self, id: usize, span: Span) -> Result<(), Diagnostic> {
        let Some(node) = self.anchors.get(&id).cloned() else {
            return Err(Diagnostic::error(
                Code::YamlSyntax,
                span,
                "alias refers to an unknown anchor",
            ));
        };
        self.bump(node.count(), span)?;
        let node = Node {
            span,
            value: node.value,
        };
        self.push_node(node, 0)
    }

    fn on_scalar(
        &mut self,
        text: Cow<'_, str>,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<Cow<'_, Tag>>,
        span: Span,
    ) -> Result<(), Diagnostic> {
        self.bump(1, span)?;
        // The parser's end marker can sit after trailing blanks and line breaks; keep
        // the span on the scalar itself so carets underline just the value.
        let raw = self.source.text().get(span.start..span.end).unwrap_or("");
        let span = Span::new(span.start, span.start + raw.trim_end().len());
        let value = if let Some(tag) = tag {
            self.tagged_scalar(text, &tag, span)
        } else if style == ScalarStyle::Plain {
            resolve_plain(&text)
        } else {
            NodeValue::Str(text.into_owned())
        };
        self.push_node(Node { span, value }, anchor)
    }

    /// The value of an explicitly tagged scalar: `!!str` keeps the text, other core tags
    /// resolve it as plain, and a custom tag is reported and kept as text.
    fn tagged_scalar(&mut self, text: Cow<'_, str>, tag: &Tag, span: Span) -> NodeValue {
        let known = tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!";
        match (known, tag.suffix.as_str()) {
            (true, "str") => NodeValue::Str(text.into_owned()),
            (true, _) => resolve_plain(&text),
            (false, _) => {
                self.diags.push(Diagnostic::error(
                    Code::YamlUnsupported,
                    span,
                    format!(
                        "custom YAML tag `{}{}` is not supported",
                        tag.handle, tag.suffix
                    ),
                ));
                NodeValue::Str(text.into_owned())
            }
        }
    }

    fn on_sequence_end(&mut self, span: Span) -> Result<(), Diagnostic> {
        match self.stack.pop() {
            Some(Frame::Seq {
                start,
                anchor,
                items,
            }) => {
                let end = items.last().map_or(span.end, |n| n.span.end);
                self.push_node(
                    Node {
                        span: Span::new(start, end),
                        value: NodeValue::Seq(items),
                    },
                    anchor,
                )
            }
            _ => Err(Diagnostic::error(
                Code::YamlSyntax,
                span,
                "unbalanced sequence end",
            )),
        }
    }

    fn on_mapping_end(&mut self, span: Span) -> Result<(), Diagnostic> {
        match self.stack.pop() {
            Some(Frame::Map {
                start,
                anchor,
                entries,
                ..
            }) => {
                let end = entries.last().map_or(span.end, |(_, v)| v.span.end);
                self.push_node(
                    Node {
                        span: Span::new(start, end),
                        value: NodeValue::Map(entries),
                    },
                    anchor,
                )
            }
            _ => Err(Diagnostic::error(
                Code::YamlSyntax,
                span,
                "unbalanced mapping end",
            )),
        }
    }

    fn bump(&mut self, n: usize, span: Span) -> Result<(), Diagnostic> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.budget.max_nodes {
            return Err(Diagnostic::error(
                Code::YamlUnsupported,
                span,
                format!(
                    "document expands to more than {} nodes (alias expansion counts)",
                    self.budget.max_nodes
                ),
            ));
        }
        Ok(())
    }

    fn enter(&self, span: Span) -> Result<(), Diagnostic> {
        if self.stack.len() >= self.budget.max_depth {
            return Err(Diagnostic::error(
                Code::YamlUnsupported,
                span,
                format!("nesting deeper than {} levels", self.budget.max_depth),
            ));
        }
        Ok(())
    }

    fn push_node(&mut self, node: Node, anchor: usize) -> Result<(), Diagnostic> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    if let Some((first, _)) = entries.iter().find(|(e, _)| same_key(e, &k)) {
                        let line = self.source.location(first.span.start).line;
                        self.diags.push(
                            Diagnostic::error(
                                Code::DuplicateKey,
                                k.span,
                                format!("duplicate key `{}`", k.key_text()),
                            )
                            .with_label(format!("first defined on line {line}"))
                            .with_help("remove or rename one of them"),
                        );
                    } else {
                        entries.push((k, node));
                    }
                }
            },
        }
        Ok(())
    }
}

fn same_key(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (NodeValue::Str(x), NodeValue::Str(y)) => x == y,
        (x, y) => x == y,
    }
}

/// YAML 1.2 core schema resolution for plain scalars.
fn resolve_plain(text: &str) -> NodeValue {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return NodeValue::Null,
        "true" | "True" | "TRUE" => return NodeValue::Bool(true),
        "false" | "False" | "FALSE" => return NodeValue::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return NodeValue::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return NodeValue::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return NodeValue::Float(f64::NAN),
        _ => {}
    }
    let bytes = text.as_bytes();
    let digits_start = usize::from(matches!(bytes.first(), Some(b'-' | b'+')));
    let body = &text[digits_start..];
    if !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = text.parse::<i64>()
    {
        return NodeValue::Int(i);
    }
    if let Some(hex) = text.strip_prefix("0x")
        && !hex.is_empty()
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return NodeValue::Int(i);
    }
    if let Some(oct) = text.strip_prefix("0o")
        && !oct.is_empty()
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return NodeValue::Int(i);
    }
    let looks_numeric = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && body.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric && let Ok(f) = text.parse::<f64>() {
        return NodeValue::Float(f);
    }
    NodeValue::Str(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> (Node, SourceFile) {
        let src = SourceFile::new("t.yaml", text);
        let (root, diags) = parse(&src, Budget::default());
        assert!(diags.is_empty(), "{diags:?}");
        (root.unwrap(), src)
    }

    #[test]
    fn spans_point_at_the_value() {
        let (root, src) = parse_ok("a: 1\nb:\n  c: hello\n");
        let c = root.lookup(&["b", "c"]).unwrap();
        assert_eq!(c.as_str(), Some("hello"));
        let loc = src.location(c.span.start);
        assert_eq!((loc.line, loc.column), (3, 6));
        let key = root.lookup(&["b"]).unwrap().key_node("c").unwrap();
        assert_eq!(src.location(key.span.start).column, 3);
    }

    #[test]
    fn scalars_resolve_like_yaml_1_2() {
        let (root, _) = parse_ok("a: 12\nb: '12'\nc: true\nd: 1.5\ne: ~\nf: yes\n");
        assert_eq!(root.get("a").unwrap().value, NodeValue::Int(12));
        assert_eq!(root.get("b").unwrap().value, NodeValue::Str("12".into()));
        assert_eq!(root.get("c").unwrap().value, NodeValue::Bool(true));
        assert_eq!(root.get("d").unwrap().value, NodeValue::Float(1.5));
        assert_eq!(root.get("e").unwrap().value, NodeValue::Null);
        assert_eq!(root.get("f").unwrap().value, NodeValue::Str("yes".into()));
    }

    #[test]
    fn duplicate_keys_are_reported_at_the_second_key() {
        let src = SourceFile::new("t.yaml", "a: 1\nb: 2\na: 3\n");
        let (root, diags) = parse(&src, Budget::default());
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, Code::DuplicateKey);
        assert_eq!(src.location(diags[0].span.start).line, 3);
        assert_eq!(root.unwrap().get("a").unwrap().value, NodeValue::Int(1));
    }

    #[test]
    fn alias_bombs_hit_the_budget() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for name in 'b'..='k' {
            text.push_str(&format!(
                "{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = name;
        }
        let src = SourceFile::new("bomb.yaml", text);
        let (root, diags) = parse(&src, Budget::default());
        assert!(root.is_none());
        assert_eq!(diags[0].code, Code::YamlUnsupported);
    }

    #[test]
    fn syntax_errors_are_located() {
        let src = SourceFile::new("t.yaml", "a: 1\nb: [1, 2\n");
        let (root, diags) = parse(&src, Budget::default());
        assert!(root.is_none());
        assert_eq!(diags[0].code, Code::YamlSyntax);
    }
}
