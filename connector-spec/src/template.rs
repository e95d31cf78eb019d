//! Template inspection at validation time: syntax and the variables a template reads.
//!
//! Templates are minijinja (Jinja2) strings such as `{{ input.channel }}`. The runtime renders
//! them with strict undefined behaviour; here we only parse them, so a typo in a reference is a
//! located error long before any request is sent.

use minijinja::Environment;

/// A variable read by a template, as a dotted path (`input.channel`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub path: String,
    /// Byte offset of the reference inside the template text, when it can be found.
    pub offset: Option<usize>,
}

/// A template that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub len: usize,
    pub message: String,
}

/// True when the string contains template syntax.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// Parses templates for validation. Holds one minijinja environment so that loading many
/// files does not rebuild it per template.
pub struct TemplateChecker {
    env: Environment<'static>,
}

impl Default for TemplateChecker {
    fn default() -> Self {
        let mut env = Environment::empty();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        TemplateChecker { env }
    }
}

impl TemplateChecker {
    /// The variables `text` reads, sorted; or its syntax error.
    pub fn references(&self, text: &str) -> Result<Vec<Reference>, TemplateError> {
        if !is_template(text) {
            return Ok(Vec::new());
        }
        let template = self
            .env
            .template_from_str(text)
            .map_err(|e| syntax_error(text, &e))?;
        let mut vars: Vec<String> = template.undeclared_variables(true).into_iter().collect();
        vars.sort();
        Ok(vars
            .into_iter()
            .map(|path| {
                let offset = text.find(&path);
                Reference { path, offset }
            })
            .collect())
    }
}

fn syntax_error(text: &str, e: &minijinja::Error) -> TemplateError {
    let (offset, len) = match e.range() {
        Some(r) => (
            r.start.min(text.len()),
            r.end.saturating_sub(r.start).max(1),
        ),
        None => (0, text.len().max(1)),
    };
    TemplateError {
        offset,
        len,
        message: e.detail().unwrap_or("invalid template").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_references_and_skips_locals() {
        let c = TemplateChecker::default();
        let refs = c
            .references("{{ config.baseUrl }}/x/{{ input.user.id }}{% for t in input.tags %}{{ t }}{% endfor %}")
            .unwrap();
        let paths: Vec<_> = refs.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["config.baseUrl", "input.tags", "input.user.id"]);
        assert_eq!(refs[0].offset, Some(3));
    }

    #[test]
    fn reports_syntax_errors() {
        let c = TemplateChecker::default();
        let e = c.references("hello {{ input.x ").unwrap_err();
        assert!(!e.message.is_empty());
        assert!(c.references("plain text").unwrap().is_empty());
    }
}
