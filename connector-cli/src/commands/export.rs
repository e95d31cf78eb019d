//! `connector export`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use connector_spec::export::{MANIFEST_FILE, Release, export_release};
use connector_spec::{ConnectorSpec, Loaded};

use crate::catalog::signing::{self, SIGNATURE_FILE};
use crate::output::{ColorChoice, Stream, count, emit};
use crate::{Outcome, specs};

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Spec files or directories
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Directory to write the catalog into (created if missing)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Treat warnings as errors
    #[arg(long)]
    pub strict: bool,
    /// Sign the release manifest with this Ed25519 private key (PKCS#8 PEM, from `connector
    /// keys generate-signing`), writing manifest.sig; needs --catalog-version
    #[arg(long, value_name = "KEY FILE", requires = "catalog_version")]
    pub sign: Option<PathBuf>,
    /// The catalog's release version (a semantic version, e.g. 2026.12.0), recorded in the
    /// manifest as catalogVersion
    #[arg(long, value_name = "VERSION")]
    pub catalog_version: Option<String>,
}

pub fn run(args: &ExportArgs, color: ColorChoice) -> anyhow::Result<Outcome> {
    let out = args.out.as_path();
    if let Some(v) = &args.catalog_version
        && let Err(e) = semver::Version::parse(v)
    {
        bail!("--catalog-version `{v}` is not a semantic version such as 2026.12.0: {e}");
    }
    // Read the key before anything is written: a wrong key file writes nothing.
    let key = args
        .sign
        .as_deref()
        .map(signing::read_signing_key)
        .transpose()?;
    let files = specs::collect(&args.paths)?;
    let loaded = specs::load_all(&files, args.strict);

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

    let mut release = Release {
        version: args.catalog_version.clone(),
        ..Release::default()
    };
    let mut specs: Vec<ConnectorSpec> = Vec::with_capacity(loaded.len());
    for l in loaded {
        if let Some(spec) = l.spec {
            release
                .sources
                .insert(spec.id.clone(), l.source.text().to_owned());
            specs.push(spec);
        }
    }
    let catalog = export_release(&specs, &release);
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
    let signed = write_signature(out, &catalog, key.as_ref())?;

    emit(
        Stream::Stdout,
        &format!(
            "exported {} to {} ({}){signed}\n",
            count(specs.len(), "connector", "connectors"),
            out.display(),
            count(catalog.len(), "file", "files"),
        ),
    );
    Ok(Outcome::Success)
}

/// Sign the manifest just written, or remove a signature left from an earlier export (it
/// signed another manifest, and would only make the catalog fail to verify). Returns the note
/// for the summary line.
fn write_signature(
    out: &Path,
    catalog: &[connector_spec::export::CatalogFile],
    key: Option<&ed25519_dalek::SigningKey>,
) -> anyhow::Result<String> {
    let target = out.join(SIGNATURE_FILE);
    let Some(key) = key else {
        if target.exists() {
            std::fs::remove_file(&target)
                .with_context(|| format!("cannot remove {}", target.display()))?;
            emit(
                Stream::Stderr,
                &format!(
                    "note: removed {}: it signed an earlier manifest (sign with --sign)\n",
                    target.display()
                ),
            );
        }
        return Ok(String::new());
    };
    let manifest = catalog
        .iter()
        .find(|f| f.path == MANIFEST_FILE)
        .context("the catalog has no manifest")?;
    std::fs::write(&target, signing::sign(manifest.contents.as_bytes(), key))
        .with_context(|| format!("cannot write {}", target.display()))?;
    Ok(format!(
        ", signed by key {}",
        signing::key_id(&key.verifying_key())
    ))
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
