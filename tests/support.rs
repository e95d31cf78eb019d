//! Shared helpers for the workspace-level tests.

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The bundled spec files, sorted.
pub fn bundled_specs() -> Vec<PathBuf> {
    connector_spec::collect_spec_files(&[repo_root().join("specs")]).expect("specs/ is readable")
}
