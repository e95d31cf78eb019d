//! The invalid-spec corpus: every file under `tests/invalid/` is a small, realistic spec with
//! exactly one mistake, and a header that says which errors the loader must report.
//!
//! Header lines (comments at the top of the file):
//!
//! ```text
//! # expect: unknown-key 12:5        one line per expected error: code, line, column (1-based)
//! # strict                          load with `strict: true` (warnings become errors)
//! # Anything else is a description of the mistake.
//! ```
//!
//! The set of *errors* a file produces must equal its `# expect:` lines exactly: no missing
//! error, no extra error, no wrong position. Warnings are ignored unless the file is strict.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use connector_spec::{Code, LoadOptions, Loaded, Severity, SpecLoader};

/// Corpus files must never drop below this many.
const MIN_FILES: usize = 40;

/// One expected error.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Expected {
    code: Code,
    line: usize,
    column: usize,
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}:{}", self.code, self.line, self.column)
    }
}

/// A corpus file with its parsed header.
struct Case {
    /// Path relative to the repository root, used as the file name in diagnostics.
    name: String,
    text: String,
    strict: bool,
    expected: Vec<Expected>,
}

fn corpus_dir() -> PathBuf {
    connector_tests::repo_root().join("tests").join("invalid")
}

fn parse_header(name: &str, text: &str) -> Result<(bool, Vec<Expected>), String> {
    let mut strict = false;
    let mut expected = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some(comment) = line.strip_prefix('#') else {
            break;
        };
        let comment = comment.trim();
        if comment == "strict" {
            strict = true;
        } else if let Some(rest) = comment.strip_prefix("expect:") {
            let bad = |why: &str| format!("{name}:{}: bad `# expect:` line ({why}): {line}", i + 1);
            let mut words = rest.split_whitespace();
            let (Some(code), Some(pos), None) = (words.next(), words.next(), words.next()) else {
                return Err(bad("want `code line:column`"));
            };
            let code = Code::parse(code).ok_or_else(|| bad("unknown code"))?;
            let (line_no, column) = pos
                .split_once(':')
                .and_then(|(l, c)| Some((l.parse().ok()?, c.parse().ok()?)))
                .ok_or_else(|| bad("position is not `line:column`"))?;
            expected.push(Expected {
                code,
                line: line_no,
                column,
            });
        }
    }
    if expected.is_empty() {
        return Err(format!("{name}: no `# expect:` line"));
    }
    expected.sort();
    Ok((strict, expected))
}

fn load_corpus() -> Vec<Case> {
    let root = connector_tests::repo_root();
    let files =
        connector_spec::collect_spec_files(&[corpus_dir()]).expect("tests/invalid is readable");
    let mut problems = Vec::new();
    let mut cases = Vec::new();
    for path in files {
        let name = relative(&root, &path);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        match parse_header(&name, &text) {
            Ok((strict, expected)) => cases.push(Case {
                name,
                text,
                strict,
                expected,
            }),
            Err(e) => problems.push(e),
        }
    }
    assert!(
        problems.is_empty(),
        "malformed corpus headers:\n{}",
        problems.join("\n")
    );
    cases
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn load(case: &Case) -> Loaded {
    let options = LoadOptions {
        strict: case.strict,
        ..LoadOptions::default()
    };
    SpecLoader::new(options).load_str(&case.name, &case.text)
}

#[test]
fn every_corpus_file_reports_exactly_its_expected_errors() {
    let cases = load_corpus();
    assert!(
        cases.len() >= MIN_FILES,
        "the corpus has {} files; it needs at least {MIN_FILES}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let loaded = load(case);
        let mut actual: Vec<Expected> = loaded
            .located()
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| Expected {
                code: d.code,
                line: d.line,
                column: d.column,
            })
            .collect();
        actual.sort();
        if actual != case.expected {
            let want: BTreeSet<_> = case.expected.iter().collect();
            let got: BTreeSet<_> = actual.iter().collect();
            let missing: Vec<String> = want.difference(&got).map(|e| e.to_string()).collect();
            let extra: Vec<String> = got.difference(&want).map(|e| e.to_string()).collect();
            failures.push(format!(
                "{}{}\n  missing: [{}]\n  extra:   [{}]\n{}",
                case.name,
                if case.strict { " (strict)" } else { "" },
                missing.join(", "),
                extra.join(", "),
                indent(&loaded.render(false)),
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus files do not report what their header expects:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_covers_every_diagnostic_code() {
    let cases = load_corpus();
    assert!(
        cases.len() >= MIN_FILES,
        "the corpus has only {} files",
        cases.len()
    );
    let covered: BTreeSet<Code> = cases
        .iter()
        .flat_map(|c| c.expected.iter().map(|e| e.code))
        .collect();
    let missing: Vec<&str> = Code::ALL
        .into_iter()
        .filter(|c| *c != Code::Io && !covered.contains(c))
        .map(Code::as_str)
        .collect();
    assert!(
        missing.is_empty(),
        "no corpus file expects these codes: {}",
        missing.join(", ")
    );
}

#[test]
fn every_corpus_diagnostic_renders_with_its_location() {
    let mut failures = Vec::new();
    for case in load_corpus() {
        let loaded = load(&case);
        let rendered = loaded.render(false);
        for d in loaded.located() {
            let header = format!("[{}]: {}", d.code, d.message);
            let location = format!("┌─ {}:{}:{}", d.file, d.line, d.column);
            if !rendered.contains(&header) || !rendered.contains(&location) {
                failures.push(format!(
                    "{}: expected `{header}` and `{location}` in:\n{}",
                    case.name,
                    indent(&rendered)
                ));
            }
        }
        if loaded.diagnostics.is_empty() {
            failures.push(format!("{}: no diagnostics at all", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}\n"))
        .collect::<String>()
}
