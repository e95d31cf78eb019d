//! The connector model, YAML spec loading with located diagnostics, validation and export.
//!
//! ```
//! let text = "id: .demo\ndisplayName: Demo\ndescription: A demo\nminimumLicense: basic\n\
//! auth: { types: [none] }\nactions:\n  ping:\n    description: Ping\n    scope: read\n    handler: code\n";
//! let loaded = connector_spec::load_str("demo.yaml", text, &connector_spec::LoadOptions::default());
//! assert!(!loaded.has_errors());
//! assert_eq!(loaded.spec.unwrap().id, ".demo");
//! ```

pub mod auth;
pub mod decode;
pub mod deserialize;
pub mod diagnostic;
pub mod export;
pub mod format_schema;
pub mod model;
pub mod output;
pub mod path;
pub mod schema_check;
pub mod source;
pub mod template;
pub mod user_template;
pub mod validate;
pub mod yaml;

use std::path::Path;

pub use auth::{AuthMode, AuthTypeId};
pub use diagnostic::{Code, Diagnostic, LocatedDiagnostic, Severity};
pub use model::*;
pub use source::{Location, SourceFile, Span};

/// How to load a spec.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Treat warnings (unbounded inputs) as errors.
    pub strict: bool,
    /// Input limits.
    pub budget: yaml::Budget,
}

/// The result of loading one file: the spec when it has no errors, and every diagnostic.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub source: SourceFile,
    /// Present when there are no errors (warnings allowed).
    pub spec: Option<ConnectorSpec>,
    /// Sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }

    /// Diagnostics with file, line and column.
    pub fn located(&self) -> Vec<LocatedDiagnostic> {
        self.diagnostics
            .iter()
            .map(|d| LocatedDiagnostic::new(&self.source, d))
            .collect()
    }

    /// rustc-style rendering with source snippets.
    pub fn render(&self, color: bool) -> String {
        diagnostic::render_human(&self.source, &self.diagnostics, color)
    }
}

/// Loads many specs, reusing the template parser between files.
#[derive(Default)]
pub struct SpecLoader {
    options: LoadOptions,
    templates: template::TemplateChecker,
}

impl SpecLoader {
    pub fn new(options: LoadOptions) -> SpecLoader {
        SpecLoader {
            options,
            templates: template::TemplateChecker::default(),
        }
    }

    /// Load a spec from text; `name` is used in diagnostics.
    pub fn load_str(&self, name: &str, text: &str) -> Loaded {
        // A UTF-8 byte-order mark is not part of the document.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let source = SourceFile::new(name, text);
        let (root, mut diagnostics) = yaml::parse(&source, self.options.budget);
        if root.is_none() && diagnostics.is_empty() {
            diagnostics.push(
                Diagnostic::error(
                    Code::MissingKey,
                    Span::default(),
                    "the file holds no connector spec",
                )
                .with_label("empty document")
                .with_help("start from `connector new <name>`"),
            );
        }
        let spec = root.and_then(|root| {
            let mut d = decode::Decoder {
                diags: std::mem::take(&mut diagnostics),
                source: Some(source.clone()),
            };
            let spec = self.check(&mut d, &root, &source);
            diagnostics = d.diags;
            spec
        });
        if self.options.strict {
            for diag in &mut diagnostics {
                diag.severity = Severity::Error;
            }
        }
        diagnostics.sort_by_key(|d| (d.span.start, d.span.end));
        diagnostics.dedup();
        let has_errors = diagnostics.iter().any(Diagnostic::is_error);
        Loaded {
            source,
            spec: spec.filter(|_| !has_errors),
            diagnostics,
        }
    }

    /// Every check on a parsed document, then the model when the structure is sound.
    fn check(
        &self,
        d: &mut decode::Decoder,
        root: &yaml::Node,
        source: &SourceFile,
    ) -> Option<ConnectorSpec> {
        let document = root.to_json();
        let malformed = validate::format::check(d, root, &document);
        let pending = validate::check(d, root, &document);
        let outline = validate::Outline::of(root, &document);
        validate::resolve(d, &outline, &pending, source, &self.templates);
        if malformed || d.diags.iter().any(Diagnostic::is_error) {
            return None;
        }
        match deserialize::from_node::<ConnectorSpec>(root) {
            Ok(mut spec) => {
                model::fill_usage_schemas(&mut spec);
                Some(spec)
            }
            Err(e) => {
                d.push(Diagnostic::error(
                    Code::InvalidValue,
                    e.span.unwrap_or(root.span),
                    e.message,
                ));
                None
            }
        }
    }

    /// Load a spec file. An unreadable file yields an `io` diagnostic.
    pub fn load_file(&self, path: &Path) -> Loaded {
        let name = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => self.load_str(&name, &text),
                Err(e) => Loaded {
                    source: SourceFile::new(name, ""),
                    spec: None,
                    diagnostics: vec![Diagnostic::error(
                        Code::Io,
                        Span::default(),
                        format!(
                            "file is not UTF-8 (invalid byte at offset {})",
                            e.utf8_error().valid_up_to()
                        ),
                    )],
                },
            },
            Err(e) => Loaded {
                source: SourceFile::new(name, ""),
                spec: None,
                diagnostics: vec![Diagnostic::error(
                    Code::Io,
                    Span::default(),
                    format!("cannot read file: {e}"),
                )],
            },
        }
    }
}

/// Load a spec from text with the given options.
pub fn load_str(name: &str, text: &str, options: &LoadOptions) -> Loaded {
    SpecLoader::new(*options).load_str(name, text)
}

/// Load a spec file with the given options.
pub fn load_file(path: &Path, options: &LoadOptions) -> Loaded {
    SpecLoader::new(*options).load_file(path)
}

/// Find spec files (`*.yaml`, `*.yml`) under the given files and directories, sorted.
pub fn collect_spec_files(
    paths: &[std::path::PathBuf],
) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir)? {
                    let path = entry?.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if matches!(
                        path.extension().and_then(|e| e.to_str()),
                        Some("yaml" | "yml")
                    ) {
                        out.push(path);
                    }
                }
            }
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}
