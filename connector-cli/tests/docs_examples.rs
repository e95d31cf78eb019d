//! The commands the docs show, checked against the real binary: every documented `connector`
//! command line names a real subcommand and only flags that subcommand has, and the README's
//! tour (scaffold, validate, see an error) prints what the README says it prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn connector(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_connector"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// The documents whose examples are checked.
fn docs() -> Vec<PathBuf> {
    let root = repo_root();
    let mut files = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            files.push(p);
        }
    }
    files.sort();
    files
}

/// A command line shown in a shell code block: `connector ...` or `cargo run -p connector-cli
/// -- ...`, continuation lines joined, the trailing comment dropped.
#[derive(Debug)]
struct Example {
    at: String,
    args: Vec<String>,
}

fn examples(file: &Path) -> Vec<Example> {
    let text = std::fs::read_to_string(file).unwrap();
    let name = file
        .strip_prefix(repo_root())
        .unwrap()
        .display()
        .to_string();
    let mut out = Vec::new();
    let mut in_shell = false;
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(lang) = t.strip_prefix("```") {
            in_shell = !in_shell && matches!(lang, "sh" | "bash" | "console" | "shell");
            continue;
        }
        if !in_shell {
            continue;
        }
        let (start, mut cmd) = match pending.take() {
            Some((n, acc)) => (n, format!("{acc} {t}")),
            None => (i + 1, t.to_string()),
        };
        if let Some(stripped) = cmd.strip_suffix('\\') {
            pending = Some((start, stripped.trim_end().to_string()));
            continue;
        }
        if let Some(hash) = cmd.find(" #") {
            cmd.truncate(hash);
        }
        let rest = cmd
            .strip_prefix("connector ")
            .or_else(|| cmd.strip_prefix("cargo run -p connector-cli -- "))
            .or_else(|| cmd.strip_prefix("cargo run -q -p connector-cli -- "));
        if let Some(rest) = rest {
            out.push(Example {
                at: format!("{name}:{start}"),
                args: rest.split_whitespace().map(str::to_string).collect(),
            });
        }
    }
    out
}

/// The subcommands that take a further subcommand.
const GROUPS: &[&str] = &["auth", "keys", "users"];
/// Subcommands of a group that take a further subcommand (`connector users keys add`).
const NESTED: &[(&str, &str)] = &[("users", "keys")];

#[test]
fn every_documented_command_names_a_real_subcommand_and_real_flags() {
    let root = repo_root();
    let mut checked = 0;
    let mut problems = Vec::new();
    for file in docs() {
        for ex in examples(&file) {
            let Some(first) = ex.args.first() else {
                continue;
            };
            let nested = ex
                .args
                .get(1)
                .is_some_and(|second| NESTED.contains(&(first.as_str(), second.as_str())));
            let depth = if nested {
                3
            } else if GROUPS.contains(&first.as_str()) {
                2
            } else {
                1
            };
            let sub: Vec<&str> = ex.args.iter().take(depth).map(String::as_str).collect();
            let mut help_args = sub.clone();
            help_args.push("--help");
            let help = connector(&help_args, &root);
            let help_text = String::from_utf8_lossy(&help.stdout).to_string();
            if !help.status.success() {
                problems.push(format!(
                    "{}: `connector {}` is not a command",
                    ex.at,
                    sub.join(" ")
                ));
                continue;
            }
            // `--flag`, `--flag=value` and `[--flag PATH]` (optional in the docs) alike.
            for arg in &ex.args[depth.min(ex.args.len())..] {
                let arg = arg.trim_start_matches('[');
                if let Some(flag) = arg.strip_prefix("--") {
                    let flag = flag.split('=').next().unwrap().trim_end_matches(']');
                    // Global flags are listed in every subcommand's help.
                    if !help_text.contains(&format!("--{flag}")) {
                        problems.push(format!(
                            "{}: `connector {}` has no flag `--{flag}`",
                            ex.at,
                            sub.join(" ")
                        ));
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} documented commands found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The README's tour, step by step, in an empty folder.
#[test]
fn the_readme_tour_prints_what_the_readme_says() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();

    let out = connector(&["new", "acme_tickets"], cwd);
    assert!(out.status.success(), "{out:?}");
    let spec = cwd.join("specs/acme_tickets.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    assert!(text.contains("id: .acme_tickets"));
    assert!(text.starts_with("# yaml-language-server: $schema=../docs/connector-spec.schema.json"));

    // 3. Validate: the summary line the README quotes.
    let out = connector(&["validate", "specs/acme_tickets.yaml", "--strict"], cwd);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(readme.contains("# checked 1 file: 0 errors, 0 warnings"));
    assert!(
        all.contains("checked 1 file: 0 errors, 0 warnings"),
        "{all}"
    );

    // 4. See an error: mistype the scope.
    let typo = text.replacen("scope: read", "scope: raed", 1);
    assert_ne!(typo, text, "the scaffold has a `scope: read` to mistype");
    std::fs::write(&spec, &typo).unwrap();
    let out = connector(&["validate", "specs/acme_tickets.yaml", "--strict"], cwd);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{all}");
    for line in [
        "error[invalid-value]: `raed` is not a valid action scope",
        "scope: raed",
        "^^^^ not allowed here",
        "= help: did you mean `read`?",
        "checked 1 file: 1 error, 0 warnings",
    ] {
        assert!(readme.contains(line), "the README no longer shows `{line}`");
        assert!(all.contains(line), "`{line}` missing from:\n{all}");
    }
    // The location the README shows is the one the scaffold gives.
    let line_no = typo
        .lines()
        .position(|l| l.contains("scope: raed"))
        .unwrap()
        + 1;
    let at = format!("specs/acme_tickets.yaml:{line_no}:12");
    assert!(all.contains(&at), "{all}");
    assert!(
        readme.contains(&at),
        "the README shows another location than {at}"
    );
}
