//! Rules on single values that their types cannot state: the connector id's explanation,
//! non-blank text, URLs, header names and JSON paths.

use crate::decode::Decoder;
use crate::diagnostic::{Code, Diagnostic};
use crate::path::JsonPath;
use crate::source::Span;
use crate::yaml::Node;

/// What is wrong with a connector id, if anything.
fn id_problem(id: &str) -> Option<String> {
    if !id.starts_with('.') {
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
    }
}

/// The connector id, with an explanation of what is wrong rather than the bare pattern.
pub fn check_id(d: &mut Decoder, n: &Node) {
    let Some(id) = n.as_str() else { return };
    if let Some(problem) = id_problem(id) {
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

/// Text that must say something (names, descriptions).
pub fn non_blank(d: &mut Decoder, n: Option<&Node>, what: &str) {
    if let Some(n) = n
        && let Some(s) = n.as_str()
        && s.trim().is_empty()
    {
        d.error(
            Code::InvalidValue,
            n.span,
            format!("{what} must not be empty"),
        );
    }
}

fn is_http_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// A documentation link.
pub fn check_http_url(d: &mut Decoder, n: &Node, what: &str) {
    if let Some(url) = n.as_str()
        && !is_http_url(url)
    {
        d.error(
            Code::InvalidValue,
            n.span,
            format!("{what} must be an http(s) URL"),
        );
    }
}

/// A URL the runtime requests: absolute, or computed by a template.
pub fn check_url_template(d: &mut Decoder, n: &Node, what: &str) {
    let Some(url) = n.as_str() else { return };
    if crate::template::is_template(url) && url.trim_start().starts_with("{{") {
        return;
    }
    if !is_http_url(url) {
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

fn is_header_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Every key of a header mapping is an HTTP header name.
pub fn check_header_names(d: &mut Decoder, headers: &Node) {
    for (k, _) in headers.as_map().unwrap_or_default() {
        check_header_name(d, k);
    }
}

/// A string node that names an HTTP header.
pub fn check_header_name(d: &mut Decoder, n: &Node) {
    let Some(name) = n.as_str() else { return };
    if name.is_empty() || !name.bytes().all(is_header_name_byte) {
        d.error(
            Code::InvalidValue,
            n.span,
            format!("`{name}` is not a valid HTTP header name"),
        );
    }
}

/// A JSON path, reported at the character where it goes wrong.
pub fn check_json_path(d: &mut Decoder, n: &Node, what: &str) {
    let Some(text) = n.as_str() else { return };
    if let Err(e) = JsonPath::parse(text) {
        let quote = d
            .source
            .as_ref()
            .map_or(0, |s| quote_offset(s.text(), n.span));
        let at = n.span.start + quote + e.offset;
        d.push(
            Diagnostic::error(
                Code::InvalidPath,
                Span::at(at.min(n.span.end.saturating_sub(1)).max(n.span.start), 1),
                format!("{what} is not a valid JSON path: {}", e.message),
            )
            .with_label("here")
            .with_help("paths look like `$.items`, `$.data[0].id` or `$.items[*].name`"),
        );
    }
}

/// 1 for a quoted scalar whose span starts at the quote, else 0.
pub fn quote_offset(text: &str, span: Span) -> usize {
    let c = text.get(span.start..span.start + 1);
    usize::from(matches!(c, Some("'") | Some("\"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_problems_name_the_rule_broken() {
        assert_eq!(id_problem(".slack_api"), None);
        assert!(id_problem("slack").unwrap().contains("start with"));
        assert!(id_problem(".").unwrap().contains("at least one"));
        assert!(id_problem(".a b").unwrap().contains("contains ` `"));
        assert!(
            id_problem(&format!(".{}", "a".repeat(64)))
                .unwrap()
                .contains("65")
        );
    }
}
