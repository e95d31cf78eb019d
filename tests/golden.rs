//! Golden tests: the schema document of every bundled spec is committed under
//! `tests/golden/<spec file stem>.schema.json` and must match the library's output
//! byte-for-byte; every document, and every schema embedded in it, is valid JSON Schema
//! 2020-12. Regenerate the files with `cargo xtask bless` after an intended change.

use std::path::{Path, PathBuf};

use connector_spec::export::{schema_document, to_pretty_json};
use connector_spec::format_schema::{FORMAT_SCHEMA_PATH, format_schema};
use connector_spec::{ConnectorSpec, LoadOptions, SpecLoader};
use connector_tests::{bundled_specs, repo_root};
use serde_json::Value;

const BLESS: &str = "run `cargo xtask bless` and review the diff";

fn golden_path(spec: &Path) -> PathBuf {
    let stem = spec
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("UTF-8 file stem");
    repo_root()
        .join("tests/golden")
        .join(format!("{stem}.schema.json"))
}

fn load(spec: &Path) -> ConnectorSpec {
    let loaded = SpecLoader::new(LoadOptions::default()).load_file(spec);
    match loaded.spec {
        Some(s) => s,
        None => panic!("{} has errors:\n{}", spec.display(), loaded.render(false)),
    }
}

/// The first line where two texts differ, for a readable failure message.
fn first_difference(expected: &str, actual: &str) -> String {
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        if e != a {
            return format!("line {}:\n  golden: {e}\n  actual: {a}", i + 1);
        }
    }
    format!(
        "golden has {} lines, actual has {}",
        expected.lines().count(),
        actual.lines().count()
    )
}

fn meta_errors(schema: &Value) -> Vec<String> {
    jsonschema::draft202012::meta::validator()
        .iter_errors(schema)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

#[test]
fn bundled_specs_exist() {
    let specs = bundled_specs();
    assert!(
        specs.len() >= 8,
        "expected the bundled connectors, found {specs:?}"
    );
}

#[test]
fn schema_documents_match_the_golden_files() {
    let mut failures = Vec::new();
    for spec_path in bundled_specs() {
        let spec = load(&spec_path);
        let actual = to_pretty_json(&schema_document(&spec));
        let golden = golden_path(&spec_path);
        match std::fs::read_to_string(&golden) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{} differs from {}: {}",
                spec_path.display(),
                golden.display(),
                first_difference(&expected, &actual)
            )),
            Err(e) => failures.push(format!("{}: {e}", golden.display())),
        }
    }
    assert!(failures.is_empty(), "{}\n{BLESS}", failures.join("\n"));
}

#[test]
fn every_golden_file_has_a_bundled_spec() {
    let expected: Vec<PathBuf> = bundled_specs().iter().map(|p| golden_path(p)).collect();
    let mut orphans = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("tests/golden")).expect("tests/golden") {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".schema.json") && !expected.contains(&path) {
            orphans.push(path.display().to_string());
        }
    }
    assert!(
        orphans.is_empty(),
        "golden files without a spec: {orphans:?}\n{BLESS}"
    );
}

#[test]
fn schema_documents_and_embedded_schemas_are_meta_valid() {
    let mut failures = Vec::new();
    for spec_path in bundled_specs() {
        let doc = schema_document(&load(&spec_path));
        let name = spec_path.display();
        let mut check = |what: String, schema: &Value| {
            let errors = meta_errors(schema);
            if !errors.is_empty() {
                failures.push(format!("{name} {what}: {errors:?}"));
            }
        };
        check("document".into(), &doc);
        for part in ["config", "secrets", "auth"] {
            assert!(doc[part].is_object(), "{name}: no `{part}` schema");
            check(part.into(), &doc[part]);
        }
        let actions = doc["actions"].as_object().expect("actions");
        assert!(!actions.is_empty(), "{name}: no actions");
        for (action, entry) in actions {
            for part in ["input", "output"] {
                assert!(
                    !entry[part].is_null(),
                    "{name}: action {action} has no {part}"
                );
                check(format!("action {action} {part}"), &entry[part]);
            }
        }
        assert!(doc["uiSchema"].is_object(), "{name}: no uiSchema");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn documents_carry_ui_hints() {
    // Every bundled connector has at least one x-ui hint, and the uiSchema reflects them.
    for spec_path in bundled_specs() {
        let doc = schema_document(&load(&spec_path));
        let text = serde_json::to_string(&doc).unwrap();
        assert!(
            text.contains("\"x-ui\""),
            "{}: no x-ui hints",
            spec_path.display()
        );
        assert!(
            text.contains("\"ui:"),
            "{}: empty uiSchema",
            spec_path.display()
        );
    }
}

#[test]
fn format_schema_is_fresh_and_meta_valid() {
    let path = repo_root().join(FORMAT_SCHEMA_PATH);
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}\n{BLESS}", path.display()));
    let schema = format_schema();
    let generated = to_pretty_json(&schema);
    assert!(
        committed == generated,
        "{FORMAT_SCHEMA_PATH} is stale: {}\n{BLESS}",
        first_difference(&committed, &generated)
    );
    let errors = meta_errors(&schema);
    assert!(errors.is_empty(), "{errors:?}");
}
