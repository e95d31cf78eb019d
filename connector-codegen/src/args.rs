//! Strict attribute arguments: `key = value`, `key(...)` and bare flags, with every unknown or
//! repeated key reported at the key, with a "did you mean" suggestion.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Ident, Lit, Token, bracketed, parenthesized};

/// Errors gathered over a whole macro input, so one compile shows every mistake.
#[derive(Default)]
pub struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    pub fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    pub fn push_error(&mut self, e: syn::Error) {
        self.errors.push(e);
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Every error as `compile_error!` invocations.
    pub fn to_compile_errors(&self) -> TokenStream {
        self.errors
            .iter()
            .map(syn::Error::to_compile_error)
            .collect()
    }
}

/// One argument value.
pub enum ArgValue {
    /// `key`
    Flag,
    /// `key = "lit"`, `key = 3`, `key = true`
    Lit(Lit),
    /// `key = ["a", "b"]`
    Array(Vec<Lit>, Span),
    /// `key = some::path`
    Path(syn::Path),
    /// `key(...)`
    List(Vec<Arg>, Span),
}

/// `key`, `key = value` or `key(...)`.
pub struct Arg {
    pub key: Ident,
    pub value: ArgValue,
}

impl Arg {
    pub fn name(&self) -> String {
        self.key.unraw().to_string()
    }

    /// The span of the whole argument.
    pub fn span(&self) -> Span {
        match &self.value {
            ArgValue::Flag => self.key.span(),
            ArgValue::Lit(l) => join(self.key.span(), l.span()),
            ArgValue::Array(_, s) | ArgValue::List(_, s) => join(self.key.span(), *s),
            ArgValue::Path(p) => join(self.key.span(), p.span()),
        }
    }

    pub fn value_span(&self) -> Span {
        match &self.value {
            ArgValue::Flag => self.key.span(),
            ArgValue::Lit(l) => l.span(),
            ArgValue::Array(_, s) | ArgValue::List(_, s) => *s,
            ArgValue::Path(p) => p.span(),
        }
    }

    /// A string value.
    pub fn string(&self, errors: &mut Errors) -> Option<(String, Span)> {
        match &self.value {
            ArgValue::Lit(Lit::Str(s)) => Some((s.value(), s.span())),
            _ => {
                errors.push(
                    self.value_span(),
                    format_args!(
                        "`{}` takes a string: `{} = \"...\"`",
                        self.name(),
                        self.name()
                    ),
                );
                None
            }
        }
    }

    /// An integer value.
    pub fn int(&self, errors: &mut Errors) -> Option<i64> {
        match &self.value {
            ArgValue::Lit(Lit::Int(i)) => match i.base10_parse::<i64>() {
                Ok(v) => Some(v),
                Err(e) => {
                    errors.push_error(e);
                    None
                }
            },
            _ => {
                errors.push(
                    self.value_span(),
                    format_args!(
                        "`{}` takes a whole number: `{} = 1`",
                        self.name(),
                        self.name()
                    ),
                );
                None
            }
        }
    }

    /// A flag: `key` or `key = true|false`.
    pub fn flag(&self, errors: &mut Errors) -> bool {
        match &self.value {
            ArgValue::Flag => true,
            ArgValue::Lit(Lit::Bool(b)) => b.value,
            _ => {
                errors.push(
                    self.value_span(),
                    format_args!(
                        "`{}` is a flag: write `{}` or `{} = false`",
                        self.name(),
                        self.name(),
                        self.name()
                    ),
                );
                false
            }
        }
    }

    /// A list of strings: `key = ["a", "b"]`.
    pub fn strings(&self, errors: &mut Errors) -> Option<Vec<(String, Span)>> {
        match &self.value {
            ArgValue::Array(items, _) => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        Lit::Str(s) => out.push((s.value(), s.span())),
                        other => errors.push(other.span(), "expected a string literal"),
                    }
                }
                Some(out)
            }
            _ => {
                errors.push(
                    self.value_span(),
                    format_args!(
                        "`{}` takes a list of strings: `{} = [\"...\"]`",
                        self.name(),
                        self.name()
                    ),
                );
                None
            }
        }
    }

    /// A path: `key = some::path`.
    pub fn path(&self, errors: &mut Errors) -> Option<syn::Path> {
        match &self.value {
            ArgValue::Path(p) => Some(p.clone()),
            ArgValue::Lit(Lit::Str(s)) => match s.parse::<syn::Path>() {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push_error(e);
                    None
                }
            },
            _ => {
                errors.push(
                    self.value_span(),
                    format_args!(
                        "`{}` takes a path: `{} = my_crate`",
                        self.name(),
                        self.name()
                    ),
                );
                None
            }
        }
    }

    /// An identifier: `key = Name`.
    pub fn ident(&self, errors: &mut Errors) -> Option<Ident> {
        match &self.value {
            ArgValue::Path(p) if p.get_ident().is_some() => p.get_ident().cloned(),
            _ => {
                errors.push(
                    self.value_span(),
                    format_args!("`{}` takes a name: `{} = Name`", self.name(), self.name()),
                );
                None
            }
        }
    }

    /// Nested arguments: `key(a = 1, b)`.
    pub fn list(&self, errors: &mut Errors) -> Option<&[Arg]> {
        match &self.value {
            ArgValue::List(items, _) => Some(items),
            _ => {
                errors.push(
                    self.value_span(),
                    format_args!("`{}` takes arguments: `{}(...)`", self.name(), self.name()),
                );
                None
            }
        }
    }
}

fn join(a: Span, b: Span) -> Span {
    a.join(b).unwrap_or(a)
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Arg> {
        let key = Ident::parse_any(input)?;
        if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            let value = if input.peek(syn::token::Bracket) {
                let content;
                let b = bracketed!(content in input);
                let items: Punctuated<Lit, Token![,]> =
                    content.parse_terminated(Lit::parse, Token![,])?;
                ArgValue::Array(items.into_iter().collect(), b.span.join())
            } else if input.peek(Lit) {
                ArgValue::Lit(input.parse()?)
            } else if input.peek(Token![::]) || input.peek(Ident::peek_any) {
                ArgValue::Path(input.call(syn::Path::parse_mod_style)?)
            } else {
                return Err(input.error("expected a value: a string, number, list or path"));
            };
            Ok(Arg { key, value })
        } else if input.peek(syn::token::Paren) {
            let content;
            let p = parenthesized!(content in input);
            let items: Punctuated<Arg, Token![,]> =
                content.parse_terminated(Arg::parse, Token![,])?;
            Ok(Arg {
                key,
                value: ArgValue::List(items.into_iter().collect(), p.span.join()),
            })
        } else {
            Ok(Arg {
                key,
                value: ArgValue::Flag,
            })
        }
    }
}

/// Parse `a = 1, b(...), c` from an attribute's tokens.
pub fn parse_args(tokens: TokenStream) -> syn::Result<Vec<Arg>> {
    let parser = Punctuated::<Arg, Token![,]>::parse_terminated;
    Ok(parser.parse2(tokens)?.into_iter().collect())
}

/// Check keys against the allowed set: an unknown key is an error at the key with a
/// suggestion, a repeated key an error at the repetition. Returns the accepted arguments.
/// A copy of an argument.
pub fn clone_arg(a: &Arg) -> Arg {
    // Args are small; re-parse instead of deriving Clone through syn's types.
    let key = a.key.clone();
    let value = match &a.value {
        ArgValue::Flag => ArgValue::Flag,
        ArgValue::Lit(l) => ArgValue::Lit(l.clone()),
        ArgValue::Array(v, s) => ArgValue::Array(v.clone(), *s),
        ArgValue::Path(p) => ArgValue::Path(p.clone()),
        ArgValue::List(v, s) => ArgValue::List(v.iter().map(clone_arg).collect(), *s),
    };
    Arg { key, value }
}

pub fn check_keys<'a>(
    args: &'a [Arg],
    allowed: &[&str],
    what: &str,
    errors: &mut Errors,
) -> Vec<&'a Arg> {
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for arg in args {
        let name = arg.name();
        if !allowed.contains(&name.as_str()) {
            let help = match suggest(&name, allowed) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("expected one of: {}", allowed.join(", ")),
            };
            errors.push(
                arg.key.span(),
                format_args!("unknown {what} key `{name}`; {help}"),
            );
            continue;
        }
        if seen.contains(&name) {
            errors.push(
                arg.key.span(),
                format_args!("duplicate {what} key `{name}`"),
            );
            continue;
        }
        seen.push(name);
        out.push(arg);
    }
    out
}

/// The closest candidate, when it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `did you mean` help for a value, or the list of valid values.
pub fn one_of_help(word: &str, candidates: &[&str]) -> String {
    match suggest(word, candidates) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("expected one of: {}", candidates.join(", ")),
    }
}

/// The text of `///` doc comments, lines joined with spaces, trimmed.
pub fn doc_text(attrs: &[syn::Attribute]) -> Option<String> {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &attr.meta
            && let syn::Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) = &nv.value
        {
            lines.push(s.value().trim().to_string());
        }
    }
    let text = lines
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_string();
    (!text.is_empty()).then_some(text)
}

/// `snake_case` or `kebab-case` to `camelCase`.
pub fn camel_case(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.trim_start_matches("r#").chars() {
        if c == '_' || c == '-' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Any name to `PascalCase`.
pub fn pascal_case(name: &str) -> String {
    let camel = camel_case(&snake_case(name));
    let mut chars = camel.chars();
    match chars.next() {
        Some(f) => f.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `camelCase`, `kebab-case` or `dotted.name` to `snake_case`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() {
                if prev_lower && !out.ends_with('_') {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
                prev_lower = false;
            } else {
                out.push(c);
                prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            }
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
            prev_lower = false;
        }
    }
    let out = out.trim_end_matches('_').to_string();
    if out.is_empty() {
        "field".to_string()
    } else if out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{out}")
    } else {
        out
    }
}

/// An identifier for `name`, raw when it is a keyword.
pub fn ident(name: &str, span: Span) -> Ident {
    match name {
        "self" | "Self" | "super" | "crate" | "_" => Ident::new(&format!("{name}_"), span),
        _ if syn::parse_str::<Ident>(name).is_ok() => Ident::new(name, span),
        _ => Ident::new_raw(name, span),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_conversions() {
        assert_eq!(camel_case("get_agents"), "getAgents");
        assert_eq!(camel_case("execute"), "execute");
        assert_eq!(snake_case("pushToService"), "push_to_service");
        assert_eq!(snake_case("Content-Type"), "content_type");
        assert_eq!(snake_case("9lives"), "_9lives");
        assert_eq!(pascal_case("pushToService"), "PushToService");
        assert_eq!(pascal_case("get_agents"), "GetAgents");
    }

    #[test]
    fn keywords_become_raw_identifiers() {
        assert_eq!(ident("type", Span::call_site()).to_string(), "r#type");
        assert_eq!(ident("self", Span::call_site()).to_string(), "self_");
        assert_eq!(ident("text", Span::call_site()).to_string(), "text");
    }

    #[test]
    fn unknown_and_repeated_keys_are_errors_with_suggestions() {
        let args = parse_args(quote::quote!(dispaly_name = "x", id = ".a", id = ".b")).unwrap();
        let mut errors = Errors::default();
        let ok = check_keys(&args, &["id", "display_name"], "connector", &mut errors);
        assert_eq!(ok.len(), 1);
        let text: Vec<String> = errors.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            text,
            [
                "unknown connector key `dispaly_name`; did you mean `display_name`?",
                "duplicate connector key `id`"
            ]
        );
    }
}
