//! Running cargo and finding its output, for the commands that build before they run.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// Announce the next step of a long command.
pub fn step(what: &str) {
    println!("\n==> {what}");
}

/// `cargo <args>` in `root`, with the cargo that runs xtask; whether it succeeded.
pub fn cargo(root: &Path, args: &[&str]) -> anyhow::Result<bool> {
    cargo_with_env(root, args, &[])
}

/// [`cargo`] with extra environment variables for the child.
pub fn cargo_with_env(
    root: &Path,
    args: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
) -> anyhow::Result<bool> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root)
        .status()
        .context("running cargo")?;
    Ok(st.success())
}

/// Where cargo puts build output: `$CARGO_TARGET_DIR` (relative to `root`), else `root/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root.join(p) })
        .unwrap_or_else(|| root.join("target"))
}
