//! `connector schema`.

use std::path::Path;

use anyhow::{Context, bail};
use connector_spec::export::{schema_document, to_pretty_json};
use connector_spec::{LoadOptions, SpecLoader};

use crate::Outcome;
use crate::output::{ColorChoice, Stream, emit};

pub fn run(spec: &Path, out: Option<&Path>, color: ColorChoice) -> anyhow::Result<Outcome> {
    if !spec.exists() {
        bail!("{}: no such file or directory", spec.display());
    }
    if spec.is_dir() {
        bail!(
            "{} is a directory; `connector schema` takes one spec file (use `connector export` for a directory)",
            spec.display()
        );
    }
    let loaded = SpecLoader::new(LoadOptions::default()).load_file(spec);
    // Warnings do not stop the export but are worth seeing; errors do.
    if !loaded.diagnostics.is_empty() {
        emit(
            Stream::Stderr,
            &loaded.render(color.enabled(Stream::Stderr)),
        );
    }
    let Some(model) = &loaded.spec else {
        emit(
            Stream::Stderr,
            &format!(
                "error: {} has {}; no schema written\n",
                spec.display(),
                crate::output::count(loaded.error_count(), "error", "errors")
            ),
        );
        return Ok(Outcome::Invalid);
    };
    let text = to_pretty_json(&schema_document(model));
    match out {
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create directory {}", parent.display()))?;
            }
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            emit(Stream::Stderr, &format!("wrote {}\n", path.display()));
        }
        None => emit(Stream::Stdout, &text),
    }
    Ok(Outcome::Success)
}
