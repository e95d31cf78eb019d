//! Finding and loading spec files: shared by every command that reads specs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use connector_spec::{Code, Diagnostic, LoadOptions, Loaded, SpecLoader};

/// The spec files named by `paths`: files as given, directories searched recursively for
/// `*.yaml` / `*.yml`. Sorted and deduplicated.
///
/// A path that does not exist, an unreadable directory, or no spec file at all is a CLI error
/// (exit code 2), not a validation failure.
pub fn collect(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if !path.exists() {
            bail!("{}: no such file or directory", path.display());
        }
        let found = connector_spec::collect_spec_files(std::slice::from_ref(path))
            .with_context(|| format!("cannot read directory {}", path.display()))?;
        files.extend(found);
    }
    files.sort();
    files.dedup();
    if files.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        bail!(
            "no spec files (*.yaml, *.yml) found in {}",
            names.join(", ")
        );
    }
    Ok(files)
}

/// Load every file with one loader (the template parser is reused between files), then check
/// that connector ids are unique across the set.
pub fn load_all(files: &[PathBuf], strict: bool) -> Vec<Loaded> {
    let loader = SpecLoader::new(LoadOptions {
        strict,
        ..LoadOptions::default()
    });
    let mut loaded: Vec<Loaded> = files.iter().map(|f| loader.load_file(f)).collect();
    check_unique_ids(&mut loaded);
    loaded
}

/// Two valid specs with the same id would overwrite each other in a catalog and in the
/// runtime registry: report a `conflict` error on the `id` of each, naming the other files.
fn check_unique_ids(loaded: &mut [Loaded]) {
    let mut by_id: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, l) in loaded.iter().enumerate() {
        if let Some(spec) = &l.spec {
            by_id.entry(spec.id.clone()).or_default().push(i);
        }
    }
    for (id, indexes) in by_id {
        if indexes.len() < 2 {
            continue;
        }
        for &i in &indexes {
            let others: Vec<String> = indexes
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| format!("`{}`", loaded[j].source.name()))
                .collect();
            let target = &mut loaded[i];
            let span = id_span(target);
            target.diagnostics.push(
                Diagnostic::error(
                    Code::Conflict,
                    span,
                    format!("connector id `{id}` is also used by {}", others.join(", ")),
                )
                .with_label("duplicate id")
                .with_help("every connector needs its own id"),
            );
            target
                .diagnostics
                .sort_by_key(|d| (d.span.start, d.span.end));
            target.spec = None;
        }
    }
}

/// The span of the `id` value, found by parsing the (already valid) file again. Only called
/// for duplicates, so the extra parse costs nothing in the common case.
fn id_span(loaded: &Loaded) -> connector_spec::Span {
    let (root, _) = connector_spec::yaml::parse(&loaded.source, Default::default());
    root.and_then(|r| r.get("id").map(|n| n.span))
        .unwrap_or_default()
}
