//! Repository automation: `cargo xtask <command>`.
//!
//! * `bless`: regenerate the committed generated files: `docs/connector-spec.schema.json`
//!   (the spec format's JSON Schema) and `tests/golden/<spec>.schema.json` (the schema
//!   document of every bundled spec in `specs/`). Golden files without a spec are removed.
//! * `check`: verify those files are fresh; exit 1 listing the stale ones.
//! * `test`: the whole test suite, with what it needs installed and started (see `test.rs`).
//! * `bench-e2e`: `connector run` against curl over the same loopback pages (see
//!   `bench_e2e.rs`).
//! * `quickstart`: the docs' Rust quickstart crate tested from a folder outside the workspace;
//!   `bench-author-build`: its clean build on the runtime's default and light features (see
//!   `quickstart.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod bench_e2e;
mod cargo;
mod quickstart;
mod test;

use anyhow::{Context, bail};
use connector_spec::export::{schema_document, to_pretty_json};
use connector_spec::format_schema::{FORMAT_SCHEMA_PATH, format_schema};
use connector_spec::{LoadOptions, SpecLoader};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  bless   regenerate docs/connector-spec.schema.json and tests/golden/*.schema.json
  check   verify the generated files are fresh (exit 1 listing stale files)
  test    cargo test --workspace, the docs' quickstart crate (as `quickstart`), then the
          served OpenAPI document checked with openapi-spec-validator and the API with
          schemathesis (installed into target/ci-venv), then the `otlp` feature's test;
          `test --api-only` runs only the API checks
  quickstart          test docs/quickstart from a temporary folder outside the workspace, and
                      check it builds none of SQLite, the token store, SigV4, SMTP, aws-lc
  bench-author-build  clean builds of docs/quickstart on the runtime's default and light
                      features, side by side (a markdown table for docs/performance.md)
";

/// Where the golden schema documents live, relative to the workspace root.
const GOLDEN_DIR: &str = "tests/golden";
const GOLDEN_SUFFIX: &str = ".schema.json";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["bless"] => bless(),
        ["check"] => check(),
        ["test"] => test::run(&workspace_root(), &test::Options { api_only: false }),
        ["test", "--api-only"] => test::run(&workspace_root(), &test::Options { api_only: true }),
        ["quickstart"] => quickstart::test(&workspace_root()),
        ["bench-author-build"] => quickstart::bench(&workspace_root()),
        ["bench-e2e", rest @ ..] => bench_e2e::Options::parse(rest)
            .and_then(|opts| bench_e2e::run(&workspace_root(), &opts)),
        ["help" | "--help" | "-h"] => {
            print!("{USAGE}{}", bench_e2e::USAGE);
            Ok(true)
        }
        _ => {
            eprint!("{USAGE}{}", bench_e2e::USAGE);
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ is inside the workspace")
        .to_path_buf()
}

/// Every generated file: path relative to the root, and its expected contents.
fn expected_files(root: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    files.insert(
        FORMAT_SCHEMA_PATH.to_string(),
        to_pretty_json(&format_schema()),
    );

    let specs =
        connector_spec::collect_spec_files(&[root.join("specs")]).context("cannot read specs/")?;
    let loader = SpecLoader::new(LoadOptions::default());
    let mut invalid = Vec::new();
    for path in &specs {
        let loaded = loader.load_file(path);
        let Some(spec) = &loaded.spec else {
            eprint!("{}", loaded.render(false));
            invalid.push(path.display().to_string());
            continue;
        };
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .with_context(|| format!("{} has no UTF-8 file name", path.display()))?;
        let golden = format!("{GOLDEN_DIR}/{stem}{GOLDEN_SUFFIX}");
        if files.contains_key(&golden) {
            bail!("two bundled specs map to {golden} (same file stem with .yaml and .yml?)");
        }
        files.insert(golden, to_pretty_json(&schema_document(spec)));
    }
    if !invalid.is_empty() {
        bail!(
            "bundled specs have errors, fix them first: {}",
            invalid.join(", ")
        );
    }
    Ok(files)
}

/// Golden files on disk that no bundled spec produces any more.
fn orphaned_golden_files(
    root: &Path,
    expected: &BTreeMap<String, String>,
) -> anyhow::Result<Vec<String>> {
    let dir = root.join(GOLDEN_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut orphans = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let rel = format!("{GOLDEN_DIR}/{name}");
        if name.ends_with(GOLDEN_SUFFIX) && !expected.contains_key(&rel) {
            orphans.push(rel);
        }
    }
    orphans.sort();
    Ok(orphans)
}

fn bless() -> anyhow::Result<bool> {
    let root = workspace_root();
    let (changes, total) = bless_at(&root)?;
    for change in &changes {
        println!("{change}");
    }
    println!("{total} generated files, {} changed", changes.len());
    Ok(true)
}

/// Write every stale generated file under `root` and remove orphaned golden files. Returns
/// what changed and how many generated files there are.
fn bless_at(root: &Path) -> anyhow::Result<(Vec<String>, usize)> {
    let expected = expected_files(root)?;
    let mut changes = Vec::new();
    for (rel, contents) in &expected {
        let path = root.join(rel);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(contents.as_str()) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, contents).with_context(|| format!("cannot write {rel}"))?;
        changes.push(format!("wrote {rel}"));
    }
    for rel in orphaned_golden_files(root, &expected)? {
        std::fs::remove_file(root.join(&rel)).with_context(|| format!("cannot remove {rel}"))?;
        changes.push(format!("removed {rel} (no bundled spec produces it)"));
    }
    Ok((changes, expected.len()))
}

fn check() -> anyhow::Result<bool> {
    let root = workspace_root();
    let (stale, total) = stale_files(&root)?;
    let docs = quickstart::docs_problems(&root)?;
    for d in &docs {
        eprintln!("{d}");
    }
    if stale.is_empty() {
        println!("{total} generated files are fresh");
        return Ok(docs.is_empty());
    }
    eprintln!("stale generated files:");
    for s in &stale {
        eprintln!("  {s}");
    }
    eprintln!("run `cargo xtask bless` and commit the result");
    Ok(false)
}

/// Generated files under `root` that are missing, out of date or orphaned.
fn stale_files(root: &Path) -> anyhow::Result<(Vec<String>, usize)> {
    let expected = expected_files(root)?;
    let mut stale = Vec::new();
    for (rel, contents) in &expected {
        match std::fs::read_to_string(root.join(rel)) {
            Ok(actual) if actual == *contents => {}
            Ok(_) => stale.push(format!("{rel} (out of date)")),
            Err(_) => stale.push(format!("{rel} (missing)")),
        }
    }
    for rel in orphaned_golden_files(root, &expected)? {
        stale.push(format!("{rel} (no bundled spec produces it)"));
    }
    Ok((stale, expected.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch workspace with one bundled spec (a copy of a real one).
    fn scratch() -> tempfile::TempDir {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::create_dir(dir.path().join("specs")).unwrap();
        std::fs::copy(
            workspace_root().join("specs/webhook.yaml"),
            dir.path().join("specs/webhook.yaml"),
        )
        .unwrap();
        dir
    }

    #[test]
    fn check_finds_missing_files_and_bless_writes_them() {
        let dir = scratch();
        let (stale, total) = stale_files(dir.path()).unwrap();
        assert_eq!(total, 2);
        assert_eq!(
            stale,
            [
                format!("{FORMAT_SCHEMA_PATH} (missing)"),
                "tests/golden/webhook.schema.json (missing)".to_string()
            ]
        );
        let (changes, _) = bless_at(dir.path()).unwrap();
        assert_eq!(changes.len(), 2);
        assert!(stale_files(dir.path()).unwrap().0.is_empty());
        // Blessing again changes nothing.
        assert!(bless_at(dir.path()).unwrap().0.is_empty());
    }

    #[test]
    fn check_finds_edited_and_orphaned_golden_files() {
        let dir = scratch();
        bless_at(dir.path()).unwrap();
        let golden = dir.path().join("tests/golden/webhook.schema.json");
        let mut text = std::fs::read_to_string(&golden).unwrap();
        text.push(' ');
        std::fs::write(&golden, text).unwrap();
        std::fs::write(dir.path().join("tests/golden/gone.schema.json"), "{}").unwrap();
        let (stale, _) = stale_files(dir.path()).unwrap();
        assert_eq!(
            stale,
            [
                "tests/golden/webhook.schema.json (out of date)",
                "tests/golden/gone.schema.json (no bundled spec produces it)"
            ]
        );
        bless_at(dir.path()).unwrap();
        assert!(stale_files(dir.path()).unwrap().0.is_empty());
        assert!(!dir.path().join("tests/golden/gone.schema.json").exists());
    }

    #[test]
    fn an_invalid_bundled_spec_is_an_error() {
        let dir = scratch();
        std::fs::write(dir.path().join("specs/broken.yaml"), "id: [").unwrap();
        let err = stale_files(dir.path()).unwrap_err();
        assert!(err.to_string().contains("broken.yaml"), "{err}");
    }
}
