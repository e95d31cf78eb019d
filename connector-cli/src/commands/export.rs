//! `connector export`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use connector_spec::export::export_catalog;
use connector_spec::{ConnectorSpec, Loaded};

use crate::output::{ColorChoice, Stream, count, emit};
use crate::{Outcome, specs};

pub fn run(
    paths: &[PathBuf],
    out: &Path,
    strict: bool,
    color: ColorChoice,
) -> anyhow::Result<Outcome> {
    let files = specs::collect(paths)?;
    let loaded = specs::load_all(&files, strict);

    let color = color.enabled(Stream::Stderr);
    let mut report = String::new();
    for l in loaded.iter().filter(|l| !l.diagnostics.is_empty()) {
        report.push_str(&l.render(color));
    }
    let errors: usize = loaded.iter().map(Loaded::error_count).sum();
    if errors > 0 {
        let failed = loaded.iter().filter(|l| l.has_errors()).count();
        report.push_str(&format!(
            "error: {} in {}; nothing written to {}\n",
            count(errors, "error", "errors"),
            count(failed, "file", "files"),
            out.display()
        ));
        emit(Stream::Stderr, &report);
        return Ok(Outcome::Invalid);
    }
    emit(Stream::Stderr, &report);

    let specs: Vec<ConnectorSpec> = loaded.into_iter().filter_map(|l| l.spec).collect();
    let catalog = export_catalog(&specs);
    for file in &catalog {
        let target = out.join(&file.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create directory {}", parent.display()))?;
        }
        std::fs::write(&target, &file.contents)
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    warn_stale(out, &catalog);

    emit(
        Stream::Stdout,
        &format!(
            "exported {} to {} ({})\n",
            count(specs.len(), "connector", "connectors"),
            out.display(),
            count(catalog.len(), "file", "files"),
        ),
    );
    Ok(Outcome::Success)
}

/// Export never deletes anything, but a connector document left over from an earlier export
/// (a renamed or removed spec) would look like part of the catalog: point it out.
fn warn_stale(out: &Path, catalog: &[connector_spec::export::CatalogFile]) {
    let written: BTreeSet<&str> = catalog.iter().map(|f| f.path.as_str()).collect();
    let Ok(entries) = std::fs::read_dir(out.join("connectors")) else {
        return;
    };
    let mut stale: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|name| name.ends_with(".json"))
        .filter(|name| !written.contains(format!("connectors/{name}").as_str()))
        .collect();
    stale.sort();
    for name in stale {
        emit(
            Stream::Stderr,
            &format!(
                "warning: {} is not part of this catalog (left over from an earlier export?)\n",
                out.join("connectors").join(name).display()
            ),
        );
    }
}
