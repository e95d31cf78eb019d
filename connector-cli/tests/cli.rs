//! End-to-end tests of the real `connector` binary.
//!
//! They live in the connector-cli package because Cargo only builds a package's own binaries
//! for its integration tests (and sets `CARGO_BIN_EXE_<name>` for them).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use tempfile::TempDir;

/// A small valid spec; tests write variations of it into a temp dir.
const VALID: &str = r#"id: .demo
displayName: Demo
description: A demo connector.
minimumLicense: basic
baseUrl: https://api.example.com
auth:
  types:
    - bearer
actions:
  getItem:
    description: Fetch one item.
    scope: read
    input:
      type: object
      required: [id]
      properties:
        id:
          type: string
          maxLength: 64
          x-ui:
            label: Item ID
    request:
      method: GET
      path: "/items/{{ input.id }}"
"#;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("connector-cli/ has a parent")
        .to_path_buf()
}

fn bundled_specs() -> Vec<PathBuf> {
    connector_spec::collect_spec_files(&[repo_root().join("specs")]).expect("specs/ is readable")
}

/// The binary, run from the repository root, with colour decided by the test, not the caller's
/// environment.
fn connector() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_connector"));
    cmd.current_dir(repo_root()).env_remove("NO_COLOR");
    cmd
}

/// Write `text` to `<dir>/<name>` and return the path.
fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// 1-based line and column of the first occurrence of `needle`.
fn position(text: &str, needle: &str) -> (usize, usize) {
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in text"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// Run `validate --format json` on one file and return the parsed document.
fn validate_json(path: &Path, extra: &[&str]) -> (Value, i32) {
    let output = connector()
        .arg("validate")
        .arg(path)
        .args(["--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "validate --format json printed invalid JSON ({e}):\n{}",
            stdout_of(&output)
        )
    });
    (doc, output.status.code().expect("exited"))
}

/// The diagnostics of the only file in a `validate --format json` document.
fn diagnostics(doc: &Value) -> &Vec<Value> {
    doc["files"][0]["diagnostics"]
        .as_array()
        .expect("diagnostics array")
}

fn has_diagnostic(doc: &Value, code: &str, line: usize, column: usize) -> bool {
    diagnostics(doc)
        .iter()
        .any(|d| d["code"] == code && d["line"] == line && d["column"] == column)
}

fn meta_validate(schema: &Value, what: &str) {
    let validator = jsonschema::draft202012::meta::validator();
    let errors: Vec<String> = validator
        .iter_errors(schema)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{what} is not a valid 2020-12 schema: {errors:#?}"
    );
}

// ---------------------------------------------------------------- validate

#[test]
fn validate_bundled_specs_is_clean_with_summary() {
    let n = bundled_specs().len();
    assert!(
        n >= 8,
        "expected the bundled connectors in specs/, found {n}"
    );
    connector()
        .args(["validate", "specs/"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "checked {n} files: 0 errors, "
        )));
}

#[test]
fn validate_bundled_specs_is_clean_under_strict() {
    let n = bundled_specs().len();
    connector()
        .args(["validate", "specs/", "--strict"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "checked {n} files: 0 errors, 0 warnings"
        )));
}

#[test]
fn typo_key_is_located_in_human_format() {
    let dir = TempDir::new().unwrap();
    let text = VALID.replace("displayName:", "displayNme:");
    let path = write(&dir, "typo.yaml", &text);
    let (line, col) = position(&text, "displayNme");
    let output = connector()
        .arg("validate")
        .arg(&path)
        .arg("--color=never")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let out = stdout_of(&output);
    assert!(
        out.contains(&format!("{}:{line}:{col}", path.display())),
        "no file:line:col in:\n{out}"
    );
    assert!(out.contains("error[unknown-key]"), "{out}");
    assert!(out.contains("did you mean `displayName`?"), "{out}");
    assert!(
        out.contains("displayNme: Demo"),
        "no source snippet in:\n{out}"
    );
    assert!(out.contains("checked 1 file: "), "{out}");
}

#[test]
fn typo_key_is_located_in_github_format() {
    let dir = TempDir::new().unwrap();
    let text = VALID.replace("displayName:", "displayNme:");
    let path = write(&dir, "typo.yaml", &text);
    let (line, col) = position(&text, "displayNme");
    let output = connector()
        .arg("validate")
        .arg(&path)
        .args(["--format", "github"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let out = stdout_of(&output);
    let file = path
        .display()
        .to_string()
        .replace(':', "%3A")
        .replace(',', "%2C");
    let expected = format!("::error file={file},line={line},col={col},");
    assert!(
        out.lines()
            .any(|l| l.starts_with(&expected) && l.contains("[unknown-key]")),
        "no `{expected}` annotation in:\n{out}"
    );
}

#[test]
fn typo_key_has_its_code_in_json_format() {
    let dir = TempDir::new().unwrap();
    let text = VALID.replace("displayName:", "displayNme:");
    let path = write(&dir, "typo.yaml", &text);
    let (line, col) = position(&text, "displayNme");
    let (doc, code) = validate_json(&path, &[]);
    assert_eq!(code, 1);
    assert!(has_diagnostic(&doc, "unknown-key", line, col), "{doc:#}");
    assert_eq!(doc["files"][0]["file"], path.display().to_string());
    assert_eq!(doc["files"][0]["ok"], false);
    let d = diagnostics(&doc)
        .iter()
        .find(|d| d["code"] == "unknown-key")
        .unwrap();
    assert_eq!(d["severity"], "error");
    assert_eq!(d["help"], "did you mean `displayName`?");
}

#[test]
fn json_format_is_one_document_with_files_and_summary() {
    let dir = TempDir::new().unwrap();
    write(&dir, "a_good.yaml", VALID);
    write(
        &dir,
        "b_bad.yaml",
        &VALID
            .replace(".demo", ".other")
            .replace("displayName:", "displayNme:"),
    );
    // Not a spec file: ignored when searching a directory.
    write(&dir, "notes.txt", "not yaml");
    let output = connector()
        .arg("validate")
        .arg(dir.path())
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&output.stdout).expect("exactly one JSON document");
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert!(files[0]["file"].as_str().unwrap().ends_with("a_good.yaml"));
    assert_eq!(files[0]["ok"], true);
    assert_eq!(files[0]["diagnostics"], Value::Array(vec![]));
    assert!(files[1]["file"].as_str().unwrap().ends_with("b_bad.yaml"));
    assert_eq!(files[1]["ok"], false);
    let errors = files[1]["diagnostics"].as_array().unwrap().len();
    assert!(errors >= 1);
    assert_eq!(doc["summary"]["files"], 2);
    assert_eq!(doc["summary"]["errors"], errors);
    assert_eq!(doc["summary"]["warnings"], 0);
}

#[test]
fn yaml_syntax_error_is_reported() {
    let dir = TempDir::new().unwrap();
    let text = VALID.replace("scope: read", "scope: [read");
    let path = write(&dir, "syntax.yaml", &text);
    let (doc, code) = validate_json(&path, &[]);
    assert_eq!(code, 1);
    let d = diagnostics(&doc)
        .iter()
        .find(|d| d["code"] == "yaml-syntax")
        .unwrap_or_else(|| panic!("no yaml-syntax diagnostic: {doc:#}"));
    let (line, _) = position(&text, "scope: [read");
    let reported = d["line"].as_u64().unwrap() as usize;
    assert!(
        reported >= line,
        "syntax error reported at line {reported}, before the broken line {line}"
    );
    connector()
        .arg("validate")
        .arg(&path)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("error[yaml-syntax]"))
        .stdout(predicate::str::contains(format!(
            "{}:{reported}:",
            path.display()
        )));
}

#[test]
fn unknown_auth_type_is_reported() {
    let dir = TempDir::new().unwrap();
    let text = VALID.replace("- bearer", "- bearer_token");
    let path = write(&dir, "auth.yaml", &text);
    let (line, col) = position(&text, "bearer_token");
    let (doc, code) = validate_json(&path, &[]);
    assert_eq!(code, 1);
    assert!(
        has_diagnostic(&doc, "unknown-auth-type", line, col),
        "{doc:#}"
    );
}

#[test]
fn bad_template_reference_is_reported() {
    let dir = TempDir::new().unwrap();
    let text = VALID.replace("{{ input.id }}", "{{ input.itemId }}");
    let path = write(&dir, "template.yaml", &text);
    let (line, col) = position(&text, "input.itemId");
    let (doc, code) = validate_json(&path, &[]);
    assert_eq!(code, 1);
    assert!(
        has_diagnostic(&doc, "unresolved-reference", line, col),
        "{doc:#}"
    );
    connector()
        .arg("validate")
        .arg(&path)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "{}:{line}:{col}",
            path.display()
        )))
        .stdout(predicate::str::contains("error[unresolved-reference]"));
}

#[test]
fn strict_turns_an_unbounded_string_warning_into_an_error() {
    let dir = TempDir::new().unwrap();
    let text = VALID.replace("          maxLength: 64\n", "");
    assert_ne!(text, VALID);
    let path = write(&dir, "unbounded.yaml", &text);

    // Without --strict: a warning, exit 0.
    connector()
        .arg("validate")
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains("warning[unbounded-string]"))
        .stdout(predicate::str::contains(
            "checked 1 file: 0 errors, 1 warning\n",
        ));
    let (doc, code) = validate_json(&path, &[]);
    assert_eq!(code, 0);
    assert_eq!(doc["files"][0]["ok"], true);
    assert_eq!(diagnostics(&doc)[0]["severity"], "warning");
    assert_eq!(diagnostics(&doc)[0]["code"], "unbounded-string");

    // With --strict: the same finding is an error, exit 1.
    connector()
        .arg("validate")
        .arg(&path)
        .arg("--strict")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("error[unbounded-string]"))
        .stdout(predicate::str::contains(
            "checked 1 file: 1 error, 0 warnings\n",
        ));
    let (doc, code) = validate_json(&path, &["--strict"]);
    assert_eq!(code, 1);
    assert_eq!(doc["summary"]["errors"], 1);
    assert_eq!(diagnostics(&doc)[0]["severity"], "error");
}

#[test]
fn duplicate_ids_across_files_are_errors() {
    let dir = TempDir::new().unwrap();
    write(&dir, "one.yaml", VALID);
    write(&dir, "two.yaml", VALID);
    let output = connector()
        .arg("validate")
        .arg(dir.path())
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    let (line, col) = position(VALID, ".demo");
    for file in doc["files"].as_array().unwrap() {
        assert_eq!(file["ok"], false);
        assert!(
            file["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["code"] == "conflict" && d["line"] == line && d["column"] == col),
            "{file:#}"
        );
    }
}

#[test]
fn validate_without_spec_files_is_a_usage_error() {
    let dir = TempDir::new().unwrap();
    write(&dir, "readme.md", "# nothing here");
    connector()
        .arg("validate")
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with("error: no spec files"));
}

#[test]
fn validate_of_a_missing_path_is_a_usage_error() {
    connector()
        .args(["validate", "does/not/exist"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "error: does/not/exist: no such file or directory",
        ));
}

#[test]
fn usage_errors_exit_2() {
    connector().arg("validate").assert().code(2);
    connector()
        .args(["validate", "specs/", "--format", "xml"])
        .assert()
        .code(2);
    connector().arg("frobnicate").assert().code(2);
    connector().assert().code(2);
}

#[test]
fn no_colour_codes_when_not_a_terminal() {
    let dir = TempDir::new().unwrap();
    let path = write(
        &dir,
        "typo.yaml",
        &VALID.replace("displayName:", "displayNme:"),
    );
    // The test captures stdout/stderr through pipes, so `auto` must not colour.
    let output = connector().arg("validate").arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout_of(&output).contains("error[unknown-key]"));
    assert!(
        !stdout_of(&output).contains('\x1b'),
        "{}",
        stdout_of(&output)
    );

    // The same run with colour forced does contain escape codes, so the check above is real.
    let output = connector()
        .arg("validate")
        .arg(&path)
        .args(["--color", "always"])
        .output()
        .unwrap();
    assert!(stdout_of(&output).contains('\x1b'));

    let output = connector()
        .arg("validate")
        .arg(&path)
        .args(["--color", "never"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!stdout_of(&output).contains('\x1b'));

    // Diagnostics of a failing `schema` go to stderr: no colour there either.
    let output = connector().arg("schema").arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr_of(&output).contains("error[unknown-key]"));
    assert!(!stderr_of(&output).contains('\x1b'));
}

// ---------------------------------------------------------------- schema

#[test]
fn schema_is_meta_valid_json_with_ui_hints() {
    for spec in bundled_specs() {
        let output = connector().arg("schema").arg(&spec).output().unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            spec.display(),
            stderr_of(&output)
        );
        let doc: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{}: schema output is not JSON: {e}", spec.display()));
        assert_eq!(
            doc["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        meta_validate(&doc, &spec.display().to_string());
        for part in ["config", "secrets", "auth"] {
            meta_validate(&doc[part], &format!("{} {part}", spec.display()));
        }
        let actions = doc["actions"].as_object().expect("actions");
        assert!(!actions.is_empty());
        for (name, action) in actions {
            meta_validate(
                &action["input"],
                &format!("{} {name} input", spec.display()),
            );
            meta_validate(
                &action["output"],
                &format!("{} {name} output", spec.display()),
            );
        }
        assert!(
            doc["uiSchema"].is_object(),
            "{}: no uiSchema",
            spec.display()
        );
        for part in ["config", "secrets", "auth", "actions"] {
            assert!(
                doc["uiSchema"][part].is_object(),
                "{}: uiSchema.{part}",
                spec.display()
            );
        }
    }
}

#[test]
fn schema_contains_x_ui_and_ui_schema_entries() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "demo.yaml", VALID);
    let output = connector().arg("schema").arg(&path).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    meta_validate(&doc, "demo schema");
    assert_eq!(
        doc["actions"]["getItem"]["input"]["properties"]["id"]["x-ui"]["label"],
        "Item ID"
    );
    assert_eq!(
        doc["uiSchema"]["actions"]["getItem"]["id"]["ui:title"],
        "Item ID"
    );
    // The bearer token is a secret: sensitive and masked.
    let branch = &doc["auth"]["oneOf"][0];
    assert_eq!(branch["properties"]["token"]["x-ui"]["sensitive"], true);
    assert_eq!(branch["properties"]["token"]["writeOnly"], true);
}

#[test]
fn schema_output_matches_the_golden_files() {
    // One model, one schema: the CLI prints exactly what the library (and the golden files)
    // produce.
    for spec in bundled_specs() {
        let stem = spec.file_stem().unwrap().to_str().unwrap();
        let golden = repo_root().join(format!("tests/golden/{stem}.schema.json"));
        let expected = std::fs::read_to_string(&golden)
            .unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask bless`", golden.display()));
        let output = connector().arg("schema").arg(&spec).output().unwrap();
        assert!(
            stdout_of(&output) == expected,
            "`connector schema {}` differs from {}; run `cargo xtask bless`",
            spec.display(),
            golden.display()
        );
    }
}

#[test]
fn schema_out_writes_the_same_document() {
    let dir = TempDir::new().unwrap();
    let spec = write(&dir, "demo.yaml", VALID);
    let out = dir.path().join("nested/demo.schema.json");
    let printed = connector().arg("schema").arg(&spec).output().unwrap();
    connector()
        .arg("schema")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .stdout("");
    assert_eq!(std::fs::read(&out).unwrap(), printed.stdout);
}

#[test]
fn schema_of_an_invalid_spec_fails_with_diagnostics() {
    let dir = TempDir::new().unwrap();
    let text = VALID.replace("- bearer", "- bearer_token");
    let spec = write(&dir, "bad.yaml", &text);
    let out = dir.path().join("bad.schema.json");
    let (line, col) = position(&text, "bearer_token");
    connector()
        .arg("schema")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(format!(
            "{}:{line}:{col}",
            spec.display()
        )))
        .stderr(predicate::str::contains("unknown-auth-type"));
    assert!(
        !out.exists(),
        "no schema may be written for an invalid spec"
    );
}

#[test]
fn schema_of_a_directory_is_a_usage_error() {
    connector()
        .args(["schema", "specs/"])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with("error: "));
}

// ---------------------------------------------------------------- export

fn read_tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn export_writes_the_catalog_deterministically() {
    let dir = TempDir::new().unwrap();
    let first = dir.path().join("first/catalog");
    let second = dir.path().join("second");
    let n = bundled_specs().len();
    for out in [&first, &second] {
        connector()
            .args(["export", "specs/", "--out"])
            .arg(out)
            .assert()
            .success()
            .stdout(predicate::str::contains(format!("exported {n} connectors")));
    }
    let a = read_tree(&first);
    let b = read_tree(&second);
    assert_eq!(
        a.len(),
        2 * n + 2,
        "index.json, manifest.json, one schema and one spec source per connector"
    );
    assert!(a == b, "two exports of the same specs differ");

    let names: Vec<&str> = a.iter().map(|(p, _)| p.as_str()).collect();
    assert!(names.contains(&"index.json"));
    assert!(names.contains(&"manifest.json"));

    let index: Value = serde_json::from_slice(&std::fs::read(first.join("index.json")).unwrap())
        .expect("index.json is JSON");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(first.join("manifest.json")).unwrap())
            .expect("manifest.json is JSON");
    let entries = index["connectors"].as_array().unwrap();
    assert_eq!(entries.len(), n);
    assert_eq!(manifest["connectors"].as_array().unwrap().len(), n);
    for spec in bundled_specs() {
        // Each connector file is exactly what `connector schema` prints for it.
        let schema = connector().arg("schema").arg(&spec).output().unwrap();
        let doc: Value = serde_json::from_slice(&schema.stdout).unwrap();
        let id = doc["id"].as_str().unwrap();
        let entry = entries
            .iter()
            .find(|e| e["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing from index.json"));
        let file = entry["file"].as_str().unwrap();
        assert!(
            names.contains(&file),
            "{file} listed in index.json but not written"
        );
        assert_eq!(
            std::fs::read(first.join(file)).unwrap(),
            schema.stdout,
            "{file}"
        );
        assert!(
            entry["fingerprint"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
    }
}

#[test]
fn export_with_an_invalid_spec_writes_nothing() {
    let dir = TempDir::new().unwrap();
    let specs = dir.path().join("specs");
    std::fs::create_dir(&specs).unwrap();
    std::fs::write(specs.join("good.yaml"), VALID).unwrap();
    let bad = VALID
        .replace(".demo", ".bad")
        .replace("{{ input.id }}", "{{ input.nope }}");
    std::fs::write(specs.join("bad.yaml"), &bad).unwrap();
    let out = dir.path().join("catalog");
    connector()
        .arg("export")
        .arg(&specs)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unresolved-reference"))
        .stderr(predicate::str::contains("nothing written"));
    assert!(
        !out.exists(),
        "export must not write anything when a spec has errors"
    );
}

#[test]
fn export_refuses_duplicate_ids() {
    let dir = TempDir::new().unwrap();
    write(&dir, "one.yaml", VALID);
    write(&dir, "two.yaml", VALID);
    let out = dir.path().join("catalog");
    connector()
        .arg("export")
        .arg(dir.path())
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is also used by"));
    assert!(!out.exists());
}

// ---------------------------------------------------------------- list

#[test]
fn list_shows_every_bundled_connector_in_aligned_columns() {
    let output = connector().arg("list").output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let out = stdout_of(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), bundled_specs().len() + 1, "{out}");
    let header = lines[0];
    assert!(header.starts_with("ID "), "{header}");
    let columns: Vec<usize> = ["LICENSE", "AUTH", "ACTIONS"]
        .iter()
        .map(|h| {
            header
                .find(h)
                .unwrap_or_else(|| panic!("no {h} column: {header}"))
        })
        .collect();
    let loader = connector_spec::SpecLoader::new(Default::default());
    for spec_path in bundled_specs() {
        let spec = loader
            .load_file(&spec_path)
            .spec
            .expect("bundled specs are valid");
        let row = lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(spec.id.as_str()))
            .unwrap_or_else(|| panic!("{} not listed:\n{out}", spec.id));
        assert_eq!(
            &row[columns[0]..columns[0] + spec.minimum_license.as_str().len()],
            spec.minimum_license.as_str(),
            "license column misaligned: {row}"
        );
        let first_auth = spec.auth.types[0].kind.as_str();
        assert_eq!(
            &row[columns[1]..columns[1] + first_auth.len()],
            first_auth,
            "{row}"
        );
        let first_action = spec.actions.keys().next().unwrap();
        assert_eq!(
            &row[columns[2]..columns[2] + first_action.len()],
            first_action,
            "{row}"
        );
        for action in spec.actions.keys() {
            assert!(row.contains(action.as_str()), "{action} missing from {row}");
        }
    }
}

#[test]
fn list_marks_per_user_auth_types() {
    let dir = TempDir::new().unwrap();
    let text = VALID.replace(
        "    - bearer\n",
        "    - bearer\n    - type: oauth_authorization_code\n      defaults: { scope: read }\n",
    );
    write(&dir, "demo.yaml", &text);
    let output = connector().arg("list").arg(dir.path()).output().unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let out = stdout_of(&output);
    assert!(
        out.contains("bearer, oauth_authorization_code (per-user)"),
        "{out}"
    );
    assert!(!out.contains("bearer (per-user)"), "{out}");

    let output = connector()
        .arg("list")
        .arg(dir.path())
        .args(["--format", "json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc[0]["id"], ".demo");
    assert_eq!(doc[0]["authTypes"][0]["authMode"], "shared");
    assert_eq!(doc[0]["authTypes"][1]["authMode"], "per_user");
    assert_eq!(doc[0]["actions"][0], "getItem");
}

#[test]
fn list_json_has_every_bundled_connector() {
    let output = connector()
        .args(["list", "--format", "json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    let ids: Vec<&str> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), bundled_specs().len());
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "rows are sorted by id");
}

#[test]
fn list_reports_invalid_specs_and_fails() {
    let dir = TempDir::new().unwrap();
    write(&dir, "good.yaml", VALID);
    write(
        &dir,
        "bad.yaml",
        &VALID
            .replace(".demo", ".bad")
            .replace("scope: read", "scope: reed"),
    );
    let output = connector().arg("list").arg(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout_of(&output).contains(".demo"));
    assert!(!stdout_of(&output).contains(".bad"));
    assert!(stderr_of(&output).contains("bad.yaml"));
}

// ---------------------------------------------------------------- new

#[test]
fn new_scaffolds_a_spec_that_validates_under_strict() {
    let dir = TempDir::new().unwrap();
    let specs = dir.path().join("specs");
    connector()
        .args(["new", "my_service", "--dir"])
        .arg(&specs)
        .assert()
        .success()
        .stdout(predicate::str::contains("created"));
    let path = specs.join("my_service.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("# yaml-language-server: $schema="),
        "{text}"
    );
    assert!(text.contains("\nid: .my_service\n"));
    assert!(text.contains("baseUrl: "));
    assert!(text.contains("maxLength: "));
    assert!(text.contains("\ntest:\n"));
    assert!(
        text.contains("- bearer\n"),
        "bearer is the default auth type"
    );
    connector()
        .arg("validate")
        .arg(&path)
        .arg("--strict")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "checked 1 file: 0 errors, 0 warnings",
        ));

    let (doc, code) = validate_json(&path, &["--strict"]);
    assert_eq!(code, 0);
    assert!(diagnostics(&doc).is_empty(), "{doc:#}");
}

#[test]
fn new_with_each_auth_type_validates_under_strict() {
    let dir = TempDir::new().unwrap();
    for auth in connector_spec::AuthTypeId::ALL {
        let name = format!("svc_{}", auth.as_str());
        connector()
            .args(["new", &name, "--auth", auth.as_str(), "--dir"])
            .arg(dir.path())
            .assert()
            .success();
    }
    let output = connector()
        .arg("validate")
        .arg(dir.path())
        .arg("--strict")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stdout_of(&output));
    let listed = connector().arg("list").arg(dir.path()).output().unwrap();
    assert!(stdout_of(&listed).contains("oauth_authorization_code (per-user)"));
    assert!(stdout_of(&listed).contains("ears (per-user)"));
}

#[test]
fn new_refuses_to_overwrite() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "taken.yaml", "# my work\n");
    connector()
        .args(["new", "taken", "--dir"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# my work\n");

    // A .yml file of the same name counts too.
    write(&dir, "other.yml", "# mine\n");
    connector()
        .args(["new", "other", "--dir"])
        .arg(dir.path())
        .assert()
        .code(2);
    assert!(!dir.path().join("other.yaml").exists());
}

#[test]
fn new_rejects_bad_names_and_auth_types() {
    let dir = TempDir::new().unwrap();
    for name in ["My_Service", "a.b", "../escape", "with space"] {
        connector()
            .args(["new", name, "--dir"])
            .arg(dir.path())
            .assert()
            .code(2)
            .stderr(predicate::str::contains("error"));
    }
    connector()
        .args(["new", "ok", "--auth", "password", "--dir"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown auth type"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );
}

#[test]
fn new_points_the_modeline_at_the_format_schema() {
    let dir = TempDir::new().unwrap();
    std::fs::create_dir_all(dir.path().join("docs")).unwrap();
    std::fs::write(dir.path().join("docs/connector-spec.schema.json"), "{}").unwrap();
    let nested = dir.path().join("connectors/team");
    connector()
        .args(["new", "deep", "--dir"])
        .arg(&nested)
        .assert()
        .success();
    let text = std::fs::read_to_string(nested.join("deep.yaml")).unwrap();
    assert!(
        text.starts_with("# yaml-language-server: $schema=../../docs/connector-spec.schema.json\n"),
        "{text}"
    );
}

// ---------------------------------------------------------------- help

#[test]
fn every_command_has_help_with_examples() {
    for command in ["validate", "schema", "export", "list", "new", "run", "test"] {
        connector()
            .args([command, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Examples:"))
            .stdout(predicate::str::contains(format!("connector {command} ")));
    }
    connector()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "connector validate specs/ --strict",
        ));
}

#[test]
fn version_is_printed() {
    connector()
        .arg("--version")
        .assert()
        .success()
        .stdout(format!("connector {}\n", env!("CARGO_PKG_VERSION")));
}
