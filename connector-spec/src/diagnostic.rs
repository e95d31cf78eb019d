//! Located diagnostics and their renderings (human with a source snippet, JSON, GitHub).

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor};
use serde::Serialize;

use crate::source::{Location, SourceFile, Span};

/// Error or warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// Stable diagnostic codes. Each names one kind of mistake; the invalid-spec corpus under
/// `tests/invalid/` has at least one file per code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// The file could not be read.
    Io,
    /// The text is not valid YAML.
    YamlSyntax,
    /// The YAML uses a feature the format does not allow (several documents, tags, alias bombs).
    YamlUnsupported,
    /// A mapping has the same key twice (e.g. two actions with one name).
    DuplicateKey,
    /// A key the format does not know.
    UnknownKey,
    /// A required key is missing.
    MissingKey,
    /// A value has the wrong type.
    WrongType,
    /// A value is outside the allowed set or range.
    InvalidValue,
    /// The connector id is malformed.
    InvalidId,
    /// An auth type id that does not exist.
    UnknownAuthType,
    /// An auth type is listed twice.
    DuplicateAuthType,
    /// A template does not parse.
    TemplateSyntax,
    /// A template refers to a field that is not declared.
    UnresolvedReference,
    /// `optionsFrom` or `test.action` names an action that does not exist.
    UnknownAction,
    /// `when` names a field that does not exist.
    UnknownField,
    /// A JSON path does not parse.
    InvalidPath,
    /// An embedded schema is not valid JSON Schema 2020-12.
    InvalidSchema,
    /// An `x-ui` hint is malformed.
    InvalidUiHint,
    /// Two keys that cannot be used together, or none of a required set.
    Conflict,
    /// A string input has no `maxLength` (warning; error with `--strict`).
    UnboundedString,
    /// An array input has no `maxItems` (warning; error with `--strict`).
    UnboundedArray,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Io => "io",
            Code::YamlSyntax => "yaml-syntax",
            Code::YamlUnsupported => "yaml-unsupported",
            Code::DuplicateKey => "duplicate-key",
            Code::UnknownKey => "unknown-key",
            Code::MissingKey => "missing-key",
            Code::WrongType => "wrong-type",
            Code::InvalidValue => "invalid-value",
            Code::InvalidId => "invalid-id",
            Code::UnknownAuthType => "unknown-auth-type",
            Code::DuplicateAuthType => "duplicate-auth-type",
            Code::TemplateSyntax => "template-syntax",
            Code::UnresolvedReference => "unresolved-reference",
            Code::UnknownAction => "unknown-action",
            Code::UnknownField => "unknown-field",
            Code::InvalidPath => "invalid-path",
            Code::InvalidSchema => "invalid-schema",
            Code::InvalidUiHint => "invalid-ui-hint",
            Code::Conflict => "conflict",
            Code::UnboundedString => "unbounded-string",
            Code::UnboundedArray => "unbounded-array",
        }
    }

    pub const ALL: [Code; 21] = [
        Code::Io,
        Code::YamlSyntax,
        Code::YamlUnsupported,
        Code::DuplicateKey,
        Code::UnknownKey,
        Code::MissingKey,
        Code::WrongType,
        Code::InvalidValue,
        Code::InvalidId,
        Code::UnknownAuthType,
        Code::DuplicateAuthType,
        Code::TemplateSyntax,
        Code::UnresolvedReference,
        Code::UnknownAction,
        Code::UnknownField,
        Code::InvalidPath,
        Code::InvalidSchema,
        Code::InvalidUiHint,
        Code::Conflict,
        Code::UnboundedString,
        Code::UnboundedArray,
    ];

    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding in one file, located by a byte span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    pub span: Span,
    /// Text under the caret, e.g. "unknown key".
    pub label: Option<String>,
    /// A fix suggestion ("did you mean `displayName`?").
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            label: None,
            help: None,
        }
    }

    pub fn warning(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A diagnostic with its file, as rendered.
#[derive(Debug, Clone, Serialize)]
pub struct LocatedDiagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl LocatedDiagnostic {
    pub fn new(source: &SourceFile, d: &Diagnostic) -> LocatedDiagnostic {
        let Location { line, column } = source.location(d.span.start);
        let end = source.location(d.span.end);
        LocatedDiagnostic {
            file: source.name().to_string(),
            line,
            column,
            end_line: end.line,
            end_column: end.column,
            severity: d.severity,
            code: d.code,
            message: d.message.clone(),
            help: d.help.clone(),
        }
    }

    /// `file:line:col: severity[code]: message`
    pub fn short(&self) -> String {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        format!(
            "{}:{}:{}: {}[{}]: {}",
            self.file, self.line, self.column, sev, self.code, self.message
        )
    }

    /// A GitHub Actions workflow command (`::error file=..,line=..,col=..::message`).
    pub fn github(&self) -> String {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut message = format!("[{}] {}", self.code, self.message);
        if let Some(help) = &self.help {
            message.push_str(" (");
            message.push_str(help);
            message.push(')');
        }
        format!(
            "::{kind} file={},line={},col={},endLine={},endColumn={},title={}::{}",
            escape_property(&self.file),
            self.line,
            self.column,
            self.end_line,
            self.end_column,
            escape_property(self.code.as_str()),
            escape_data(&message)
        )
    }
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Render diagnostics rustc-style with a source snippet. `color` adds ANSI colours.
pub fn render_human(source: &SourceFile, diagnostics: &[Diagnostic], color: bool) -> String {
    let file = SimpleFile::new(source.name(), source.text());
    let config = term::Config::default();
    let mut out = Vec::new();
    for d in diagnostics {
        let mut label = cs::Label::primary((), clamp(source, d.span));
        if let Some(text) = &d.label {
            label = label.with_message(text.clone());
        }
        let mut diag = match d.severity {
            Severity::Error => cs::Diagnostic::error(),
            Severity::Warning => cs::Diagnostic::warning(),
        }
        .with_code(d.code.as_str())
        .with_message(d.message.clone())
        .with_labels(vec![label]);
        if let Some(help) = &d.help {
            diag = diag.with_notes(vec![format!("help: {help}")]);
        }
        let result = if color {
            let mut w = termcolor::Ansi::new(&mut out);
            term::emit(&mut w, &config, &file, &diag)
        } else {
            let mut w = termcolor::NoColor::new(&mut out);
            term::emit(&mut w, &config, &file, &diag)
        };
        if result.is_err() {
            // Rendering only fails on a span the file cannot hold; fall back to one line.
            let located = LocatedDiagnostic::new(source, d);
            out.extend_from_slice(located.short().as_bytes());
            out.push(b'\n');
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn clamp(source: &SourceFile, span: Span) -> std::ops::Range<usize> {
    let text = source.text();
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = span.end.min(text.len()).max(start);
    while !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}
