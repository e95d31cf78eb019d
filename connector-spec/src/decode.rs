//! What every check shares: the list of diagnostics being collected, and "did you mean"
//! suggestions for names close to a known one.

use crate::diagnostic::{Code, Diagnostic};
use crate::source::Span;

/// Collects diagnostics while a file is checked.
#[derive(Default)]
pub struct Decoder {
    pub diags: Vec<Diagnostic>,
    /// The text being checked, for pointing inside scalars.
    pub source: Option<crate::source::SourceFile>,
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

impl Decoder {
    pub fn error(&mut self, code: Code, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::error(code, span, message));
        self.diags.last_mut().expect("just pushed")
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
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
