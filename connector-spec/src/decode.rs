//! Small combinators that turn located YAML nodes into model values while collecting every
//! mistake, instead of stopping at the first one as serde would.

use crate::diagnostic::{Code, Diagnostic};
use crate::source::Span;
use crate::yaml::{Node, NodeValue};

/// Collects diagnostics while decoding.
#[derive(Default)]
pub struct Decoder {
    pub diags: Vec<Diagnostic>,
    /// The text being decoded, for pointing inside scalars.
    pub source: Option<crate::source::SourceFile>,
}

/// A mapping whose keys have been checked against the known set.
pub struct Fields<'n> {
    pub node: &'n Node,
    entries: &'n [(Node, Node)],
}

impl<'n> Fields<'n> {
    /// The value under `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The key node for `key`, for pointing at it.
    pub fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, _)| k.span)
    }

    pub fn entries(&self) -> &'n [(Node, Node)] {
        self.entries
    }
}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let score = strsim::jaro_winkler(&lower, &c.to_ascii_lowercase());
            (c, score)
        })
        .filter(|(_, s)| *s >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

/// "did you mean `x`?" for a likely typo, else the fallback text.
pub fn did_you_mean_or<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    fallback: impl FnOnce() -> String,
) -> String {
    match suggest(word, candidates) {
        Some(m) => format!("did you mean `{m}`?"),
        None => fallback(),
    }
}

fn did_you_mean(word: &str, candidates: &[&str]) -> Option<String> {
    suggest(word, candidates.iter().copied()).map(|s| format!("did you mean `{s}`?"))
}

impl Decoder {
    pub fn error(&mut self, code: Code, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::error(code, span, message));
        self.diags.last_mut().expect("just pushed")
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub fn wrong_type(&mut self, node: &Node, what: &str, expected: &str) {
        self.diags.push(
            Diagnostic::error(
                Code::WrongType,
                node.span,
                format!("{what} must be {expected}, found {}", node.kind()),
            )
            .with_label(format!("expected {expected}")),
        );
    }

    /// Check that `node` is a mapping whose keys are all in `known`; unknown keys are reported
    /// with a suggestion. Returns `None` (after reporting) when `node` is not a mapping.
    pub fn object<'n>(&mut self, node: &'n Node, what: &str, known: &[&str]) -> Option<Fields<'n>> {
        let NodeValue::Map(entries) = &node.value else {
            self.wrong_type(node, what, "a mapping");
            return None;
        };
        for (k, _) in entries {
            match k.as_str() {
                Some(key) if known.contains(&key) => {}
                Some(key) => {
                    let mut d = Diagnostic::error(
                        Code::UnknownKey,
                        k.span,
                        format!("unknown key `{key}` in {what}"),
                    )
                    .with_label("unknown key");
                    d.help = Some(did_you_mean(key, known).unwrap_or_else(|| {
                        format!(
                            "expected one of: {}",
                            known
                                .iter()
                                .filter(|k| !k.starts_with('$'))
                                .map(|k| format!("`{k}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }));
                    self.diags.push(d);
                }
                None => self.wrong_type(k, &format!("a key in {what}"), "a string"),
            }
        }
        Some(Fields { node, entries })
    }

    /// A mapping with free-form string keys (actions, headers, ...).
    pub fn map<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
    ) -> Option<Vec<(&'n str, &'n Node, Span)>> {
        let NodeValue::Map(entries) = &node.value else {
            self.wrong_type(node, what, "a mapping");
            return None;
        };
        let mut out = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            match k.as_str() {
                Some(key) => out.push((key, v, k.span)),
                None => self.wrong_type(k, &format!("a key in {what}"), "a string"),
            }
        }
        Some(out)
    }

    pub fn seq<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &node.value {
            NodeValue::Seq(items) => Some(items),
            _ => {
                self.wrong_type(node, what, "a list");
                None
            }
        }
    }

    /// Report a missing required key at the mapping.
    pub fn require<'n>(&mut self, f: &Fields<'n>, key: &str, what: &str) -> Option<&'n Node> {
        let v = f.get(key);
        if v.is_none() {
            let span = Span::at(f.node.span.start, 0);
            self.diags.push(
                Diagnostic::error(Code::MissingKey, span, format!("{what} is missing `{key}`"))
                    .with_label(format!("`{key}` is required here")),
            );
        }
        v
    }

    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            NodeValue::Str(s) => Some(s.clone()),
            _ => {
                self.wrong_type(node, what, "a string");
                None
            }
        }
    }

    /// A string where YAML scalars like `200` or `true` are accepted as text (header values).
    pub fn scalar_text(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            NodeValue::Str(s) => Some(s.clone()),
            NodeValue::Int(i) => Some(i.to_string()),
            NodeValue::Bool(b) => Some(b.to_string()),
            NodeValue::Float(f) => Some(f.to_string()),
            _ => {
                self.wrong_type(node, what, "a string");
                None
            }
        }
    }

    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.value {
            NodeValue::Bool(b) => Some(*b),
            _ => {
                self.wrong_type(node, what, "`true` or `false`");
                None
            }
        }
    }

    pub fn uint(&mut self, node: &Node, what: &str) -> Option<u64> {
        match &node.value {
            NodeValue::Int(i) if *i >= 0 => Some(*i as u64),
            NodeValue::Int(_) => {
                self.error(
                    Code::InvalidValue,
                    node.span,
                    format!("{what} must not be negative"),
                );
                None
            }
            _ => {
                self.wrong_type(node, what, "a whole number");
                None
            }
        }
    }

    /// A whole number within `min..=max`.
    pub fn ranged(&mut self, node: &Node, what: &str, min: u64, max: u64) -> Option<u64> {
        let v = self.uint(node, what)?;
        if v < min || v > max {
            self.error(
                Code::InvalidValue,
                node.span,
                format!("{what} must be between {min} and {max}, found {v}"),
            );
            return None;
        }
        Some(v)
    }

    pub fn status_code(&mut self, node: &Node, what: &str) -> Option<u16> {
        self.ranged(node, what, 100, 599).map(|v| v as u16)
    }

    pub fn status_codes(&mut self, node: &Node, what: &str) -> Vec<u16> {
        let Some(items) = self.seq(node, what) else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|n| self.status_code(n, "a status code"))
            .collect()
    }

    /// One of a fixed set of string values.
    pub fn choice<T: Copy>(&mut self, node: &Node, what: &str, options: &[(&str, T)]) -> Option<T> {
        let s = self.string(node, what)?;
        if let Some((_, v)) = options.iter().find(|(name, _)| *name == s) {
            return Some(*v);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let mut d = Diagnostic::error(
            Code::InvalidValue,
            node.span,
            format!("`{s}` is not a valid {what}"),
        )
        .with_label("not allowed here");
        d.help = Some(match did_you_mean(&s, &names) {
            Some(m) => m,
            None => format!(
                "expected one of: {}",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
        self.diags.push(d);
        None
    }

    pub fn string_list(&mut self, node: &Node, what: &str) -> Vec<String> {
        let Some(items) = self.seq(node, what) else {
            return Vec::new();
        };
        items.iter().filter_map(|n| self.string(n, what)).collect()
    }

    /// A mapping of string keys to template strings.
    pub fn string_map(&mut self, node: &Node, what: &str) -> indexmap::IndexMap<String, String> {
        let mut out = indexmap::IndexMap::new();
        if let Some(entries) = self.map(node, what) {
            for (k, v, _) in entries {
                if let Some(s) = self.scalar_text(v, &format!("`{k}` in {what}")) {
                    out.insert(k.to_string(), s);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_but_not_unrelated_words() {
        let keys = ["displayName", "description", "minimumLicense"];
        assert_eq!(suggest("dispalyName", keys), Some("displayName"));
        assert_eq!(suggest("descripton", keys), Some("description"));
        assert_eq!(suggest("zzz", keys), None);
    }
}
