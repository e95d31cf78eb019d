//! Link-header pagination (RFC 8288): the next page is the target of the `Link` header's
//! link whose `rel` holds `next`, resolved against the URL of the request that fetched the
//! page, and followed only on that request's origin (the next request carries the same
//! credentials). The parser here splits links only on commas outside `<...>` and quoted strings, so a
//! target such as `?q=label:a,b` stays whole, and reads `rel` as a list (`rel="next last"`).

use connector_spec::Pagination;

use super::{Fetched, Paginator, set_params};
use crate::error::ActionError;

/// Follows `rel="next"`; keeps no state, the provider's links say everything.
pub(super) struct LinkHeaderPaginator;

impl Paginator for LinkHeaderPaginator {
    fn first(&mut self, pg: &Pagination, req: &mut reqwest::Request) -> Result<(), ActionError> {
        set_params(req, pg, None)
    }

    fn next(
        &mut self,
        _pg: &Pagination,
        page: &Fetched<'_>,
        mut req: reqwest::Request,
    ) -> Result<Option<reqwest::Request>, ActionError> {
        let Some(target) = next_link(page.headers) else {
            return Ok(None);
        };
        // The messages name the problem only: the target may carry a token.
        let url = super::next_url::same_origin_next(
            req.url(),
            &target,
            "the `Link` header's next target",
        )?;
        *req.url_mut() = url;
        Ok(Some(req))
    }
}

/// One link of a `Link` header: its target as written (maybe relative) and its relation types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The URI reference between `<` and `>`.
    pub target: String,
    /// The relation types of the first `rel` parameter, lowercased.
    pub rels: Vec<String>,
}

/// The target of the first link whose relation types include `next`, across every `Link`
/// header of a reply (as written: the caller resolves a relative target).
pub fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_links)
        .find(|l| l.rels.iter().any(|r| r == "next"))
        .map(|l| l.target)
}

/// Parse one `Link` header value. A link that does not start with `<` is skipped up to the
/// next comma that separates links; what parses is kept.
pub fn parse_links(value: &str) -> Vec<Link> {
    let mut links = Vec::new();
    let mut s = Scanner {
        bytes: value.as_bytes(),
        text: value,
        at: 0,
    };
    loop {
        s.skip(|b| b == b',' || is_ws(b));
        if s.done() {
            return links;
        }
        if s.peek() != Some(b'<') {
            s.skip_link();
            continue;
        }
        s.at += 1;
        let start = s.at;
        s.skip(|b| b != b'>');
        if s.done() {
            return links;
        }
        let target = value[start..s.at].trim().to_string();
        s.at += 1;
        let rels = s.params_rel();
        links.push(Link {
            target,
            rels: rels.unwrap_or_default(),
        });
    }
}

/// Optional whitespace in the header grammar.
fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

struct Scanner<'a> {
    bytes: &'a [u8],
    text: &'a str,
    at: usize,
}

impl Scanner<'_> {
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip(&mut self, while_: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&while_) {
            self.at += 1;
        }
    }

    /// Skip the rest of a link: up to a comma outside `<...>` and quoted strings.
    fn skip_link(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b',' => return,
                b'"' => {
                    self.quoted();
                }
                b'<' => {
                    self.skip(|b| b != b'>');
                    self.at += 1;
                }
                _ => self.at += 1,
            }
        }
    }

    /// The parameters after a target, up to the comma that ends the link: the relation types
    /// of the first `rel` (RFC 8288 section 3.3: later ones are ignored).
    fn params_rel(&mut self) -> Option<Vec<String>> {
        let mut rel = None;
        loop {
            self.skip(is_ws);
            match self.peek() {
                Some(b';') => self.at += 1,
                Some(b',') | None => return rel,
                // Junk after the target: ignore it up to the end of the link.
                Some(_) => {
                    self.skip_link();
                    return rel;
                }
            }
            self.skip(is_ws);
            let start = self.at;
            self.skip(|b| !matches!(b, b'=' | b';' | b',') && !is_ws(b));
            let name = self.text[start..self.at].to_ascii_lowercase();
            self.skip(is_ws);
            let value = if self.peek() == Some(b'=') {
                self.at += 1;
                self.skip(is_ws);
                if self.peek() == Some(b'"') {
                    self.quoted()
                } else {
                    let start = self.at;
                    self.skip(|b| !matches!(b, b';' | b',') && !is_ws(b));
                    self.text[start..self.at].to_string()
                }
            } else {
                String::new()
            };
            if name == "rel" && rel.is_none() {
                rel = Some(
                    value
                        .split_ascii_whitespace()
                        .map(str::to_ascii_lowercase)
                        .collect(),
                );
            }
        }
    }

    /// A quoted string starting at `"`: its content with `\` escapes undone. An unterminated
    /// string runs to the end of the value.
    fn quoted(&mut self) -> String {
        self.at += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.at += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(escaped) = self.peek() {
                        out.push(escaped);
                        self.at += 1;
                    }
                }
                _ => out.push(b),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(target: &str, rels: &[&str]) -> Link {
        Link {
            target: target.into(),
            rels: rels.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn a_comma_inside_the_target_does_not_split_the_link() {
        let v = "<https://api.github.com/search/issues?q=label:a,b&page=2>; rel=\"next\", \
                 <https://api.github.com/search/issues?q=label:a,b&page=5>; rel=\"last\"";
        assert_eq!(
            parse_links(v),
            vec![
                link(
                    "https://api.github.com/search/issues?q=label:a,b&page=2",
                    &["next"]
                ),
                link(
                    "https://api.github.com/search/issues?q=label:a,b&page=5",
                    &["last"]
                ),
            ]
        );
    }

    #[test]
    fn a_comma_inside_a_quoted_parameter_does_not_split_the_link() {
        let v = "</a>; title=\"one, two\"; rel=next, </b>; rel=prev";
        assert_eq!(
            parse_links(v),
            vec![link("/a", &["next"]), link("/b", &["prev"])]
        );
    }

    #[test]
    fn several_relations_in_one_rel_are_each_seen() {
        let v = "</items?page=3>; rel=\"next last\"";
        assert_eq!(
            parse_links(v),
            vec![link("/items?page=3", &["next", "last"])]
        );
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::LINK, v.parse().unwrap());
        assert_eq!(next_link(&h).as_deref(), Some("/items?page=3"));
    }

    #[test]
    fn relation_types_and_parameter_names_are_case_insensitive_and_only_the_first_rel_counts() {
        let v = "</x>; REL=\"Next\"; rel=prev, </y>; rel=prev; rel=next";
        assert_eq!(
            parse_links(v),
            vec![link("/x", &["next"]), link("/y", &["prev"])]
        );
    }

    #[test]
    fn escapes_in_quoted_strings_and_odd_spacing_are_handled() {
        let v = " ,<  /a  > ;rel = \"n\\\"ext\" ;  anchor=\"#x\" ,, </b>;rel=next";
        assert_eq!(
            parse_links(v),
            vec![link("/a", &["n\"ext"]), link("/b", &["next"])]
        );
    }

    #[test]
    fn malformed_links_are_skipped_and_the_rest_is_kept() {
        assert_eq!(
            parse_links("garbage; rel=\"a,b\", </ok>; rel=next"),
            vec![link("/ok", &["next"])]
        );
        assert_eq!(parse_links("</unterminated; rel=next"), vec![]);
        assert_eq!(parse_links(""), vec![]);
        assert_eq!(parse_links("</no-rel>"), vec![link("/no-rel", &[])]);
    }

    #[test]
    fn next_is_found_across_several_link_headers() {
        let mut h = reqwest::header::HeaderMap::new();
        h.append(
            reqwest::header::LINK,
            "</first>; rel=first".parse().unwrap(),
        );
        h.append(
            reqwest::header::LINK,
            "</second>; rel=next".parse().unwrap(),
        );
        assert_eq!(next_link(&h).as_deref(), Some("/second"));
        assert_eq!(next_link(&reqwest::header::HeaderMap::new()), None);
    }

    #[test]
    fn a_relative_target_resolves_against_the_request_url() {
        let base = reqwest::Url::parse("http://127.0.0.1:9/api/items?page=1").unwrap();
        assert_eq!(
            base.join("/items?page=2").unwrap().as_str(),
            "http://127.0.0.1:9/items?page=2"
        );
        assert_eq!(
            base.join("items?page=2").unwrap().as_str(),
            "http://127.0.0.1:9/api/items?page=2"
        );
    }
}
