//! The docs' quickstart crate (`docs/quickstart`), built the way an author builds it: copied
//! into a folder outside the workspace, with `connector-runtime` as a path dependency.
//!
//! * `test`: its tests pass, and its dependency tree has none of what a connector-only crate
//!   leaves out (SQLite, the token store, SigV4, SMTP, aws-lc).
//! * `bench`: a clean build of it with the runtime's default features against one with the
//!   light set it uses, side by side.
//! * [`docs_problems`]: `docs/rust-connectors.md` shows each of its files verbatim.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::cargo::{step, target_dir};

/// Where the crate lives in the repository.
pub const DIR: &str = "docs/quickstart";
/// Its files, each shown whole in the docs.
const FILES: [&str; 3] = ["Cargo.toml", "src/lib.rs", "tests/open_ticket.rs"];
/// The dependency line in its `Cargo.toml`, relative to `DIR`.
const RUNTIME_PATH: &str = "path = \"../../connector-runtime\"";
const LIGHT_FEATURES: &str = ", default-features = false, features = [\"ring\"]";
/// Crates a connector-only build must not compile.
const LEFT_OUT: [&str; 6] = [
    "libsqlite3-sys",
    "sqlx",
    "chacha20poly1305",
    "aws-lc-sys",
    "aws-sigv4",
    "lettre",
];
const DOC: &str = "docs/rust-connectors.md";

/// Copy the crate into `dest`, the runtime dependency pointing at this checkout; with
/// `full`, on the runtime's default features instead of the light set.
fn copy_to(root: &Path, dest: &Path, full: bool) -> anyhow::Result<()> {
    let runtime = root.join("connector-runtime");
    for rel in FILES {
        let from = root.join(DIR).join(rel);
        let mut text = std::fs::read_to_string(&from)
            .with_context(|| format!("reading {}", from.display()))?;
        if rel == "Cargo.toml" {
            if !text.contains(RUNTIME_PATH) || !text.contains(LIGHT_FEATURES) {
                bail!("{DIR}/Cargo.toml no longer has `{RUNTIME_PATH}{LIGHT_FEATURES}`");
            }
            text = text.replace(
                RUNTIME_PATH,
                &format!("path = {:?}", runtime.display().to_string()),
            );
            if full {
                text = text.replace(LIGHT_FEATURES, "");
            }
        }
        let to = dest.join(rel);
        std::fs::create_dir_all(to.parent().expect("a file in a folder"))?;
        std::fs::write(&to, text)?;
    }
    // The workspace's versions, so the crate builds what the workspace was tested with.
    std::fs::copy(root.join("Cargo.lock"), dest.join("Cargo.lock"))?;
    Ok(())
}

fn cargo_in(dir: &Path, target: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target);
    c
}

/// The quickstart's tests, from a temporary folder, and its dependency tree checked.
pub fn test(root: &Path) -> anyhow::Result<bool> {
    step(&format!(
        "{DIR}: cargo test in a crate outside the workspace"
    ));
    let dir = tempfile::tempdir()?;
    copy_to(root, dir.path(), false)?;
    let target = target_dir(root).join("quickstart");
    if !cargo_in(dir.path(), &target, &["test"]).status()?.success() {
        return Ok(false);
    }
    let tree = cargo_in(
        dir.path(),
        &target,
        &["tree", "-e", "normal,build", "--prefix", "none"],
    )
    .output()?;
    if !tree.status.success() {
        bail!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&tree.stderr)
        );
    }
    let tree = String::from_utf8_lossy(&tree.stdout);
    let built: Vec<&str> = LEFT_OUT
        .into_iter()
        .filter(|c| tree.lines().any(|l| l.starts_with(&format!("{c} "))))
        .collect();
    if !built.is_empty() {
        eprintln!(
            "{DIR} depends on {}: a connector-only crate must not build them (connector-runtime's cargo features)",
            built.join(", ")
        );
        return Ok(false);
    }
    println!(
        "{DIR}: tests pass; none of {} is built",
        LEFT_OUT.join(", ")
    );
    Ok(true)
}

/// A clean `cargo build` of the quickstart library on the runtime's default features and on
/// the light set, one after the other in this run: wall time and crates compiled.
pub fn bench(root: &Path) -> anyhow::Result<bool> {
    println!("| runtime features | clean build (s) | crates compiled | compiled twice |");
    println!("| --- | ---: | ---: | --- |");
    for (label, full) in [
        ("default (aws-lc, store, sigv4, smtp)", true),
        ("`default-features = false, features = [\"ring\"]`", false),
    ] {
        let dir = tempfile::tempdir()?;
        copy_to(root, dir.path(), full)?;
        let target: PathBuf = dir.path().join("target");
        let start = Instant::now();
        let out = cargo_in(dir.path(), &target, &["build", "--lib"]).output()?;
        let secs = start.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!("build failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let compiled: Vec<&str> = stderr
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("Compiling "))
            .collect();
        // A crate compiled twice: once for the proc macros (host) and once for the crate.
        let mut twice: Vec<&str> = compiled
            .iter()
            .filter(|c| compiled.iter().filter(|o| *o == *c).count() > 1)
            .filter_map(|c| c.split(' ').next())
            .collect();
        twice.sort_unstable();
        twice.dedup();
        println!(
            "| {label} | {secs:.1} | {} | {} |",
            compiled.len(),
            if twice.is_empty() {
                "none".to_string()
            } else {
                twice.join(", ")
            }
        );
    }
    Ok(true)
}

/// The quickstart files `docs/rust-connectors.md` does not show verbatim.
pub fn docs_problems(root: &Path) -> anyhow::Result<Vec<String>> {
    let doc = std::fs::read_to_string(root.join(DOC)).with_context(|| format!("reading {DOC}"))?;
    let mut problems = Vec::new();
    for rel in FILES {
        let text = std::fs::read_to_string(root.join(DIR).join(rel))?;
        if !doc.contains(text.trim_end()) {
            problems.push(format!(
                "{DOC} (does not show {DIR}/{rel} as it is: paste the file into its code block)"
            ));
        }
    }
    Ok(problems)
}
