//! `connector catalog`: verify and sign an exported catalog ([`crate::catalog`]).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use crate::Outcome;
use crate::catalog::{self, signing};
use crate::output::{Stream, count, emit};

#[derive(Subcommand, Debug)]
pub enum CatalogCommand {
    /// Check a catalog's signature, every file and the runtime version it needs
    #[command(
        long_about = "Check the catalog in DIR: the Ed25519 signature in manifest.sig over \
            manifest.json under the public key --key, every file the manifest lists (present, \
            same SHA-256), no file it does not list, and that this runtime is at least the \
            manifest's minimumRuntimeVersion. Every problem is named with its path. Exit code \
            0 when the catalog verifies, 1 when it does not, 2 when the key cannot be read.",
        after_help = "Examples:\n  \
            connector catalog verify dist/catalog --key keys/catalog-signing.pub"
    )]
    Verify {
        /// The catalog directory
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The publisher's Ed25519 public key (SPKI PEM, the `.pub` file)
        #[arg(long, value_name = "PUBLIC KEY FILE")]
        key: PathBuf,
    },
    /// Sign a catalog whose files match its manifest (a mirror signing with its own key)
    #[command(
        long_about = "Write manifest.sig for the catalog in DIR, signed with the Ed25519 private \
            key --key. Every file must match the manifest first (as `verify` checks, without \
            the signature): a catalog is only ever signed as it was exported. A mirror verifies \
            the publisher's catalog, copies it, and may sign it with its own key for its \
            servers; the file contents stay as published.",
        after_help = "Examples:\n  \
            connector catalog verify upstream/ --key publisher.pub && cp -r upstream/ mirror/\n  \
            connector catalog sign mirror/ --key mirror.key"
    )]
    Sign {
        /// The catalog directory
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The Ed25519 private key (PKCS#8 PEM)
        #[arg(long, value_name = "KEY FILE")]
        key: PathBuf,
    },
}

pub fn run(cmd: CatalogCommand) -> anyhow::Result<Outcome> {
    match cmd {
        CatalogCommand::Verify { dir, key } => verify(&dir, &key),
        CatalogCommand::Sign { dir, key } => sign(&dir, &key),
    }
}

fn verify(dir: &Path, key: &Path) -> anyhow::Result<Outcome> {
    let key = signing::read_verifying_key(key)?;
    match catalog::verify(dir, &key) {
        Ok(checked) => {
            emit(
                Stream::Stdout,
                &format!(
                    "{} verifies: {}, {}, signed by key {}, needs connector {} or later\n",
                    dir.display(),
                    version_label(checked.version.as_deref()),
                    count(checked.files.len(), "file", "files"),
                    signing::key_id(&key),
                    checked.minimum_runtime_version,
                ),
            );
            Ok(Outcome::Success)
        }
        Err(rejected) => {
            emit(Stream::Stderr, &format!("error: {rejected}\n"));
            Ok(Outcome::Invalid)
        }
    }
}

fn sign(dir: &Path, key: &Path) -> anyhow::Result<Outcome> {
    let key = signing::read_signing_key(key)?;
    let checked = match catalog::check(dir) {
        Ok(c) => c,
        Err(rejected) => {
            emit(
                Stream::Stderr,
                &format!("error: {rejected}\nnothing was signed\n"),
            );
            return Ok(Outcome::Invalid);
        }
    };
    let target = dir.join(signing::SIGNATURE_FILE);
    std::fs::write(&target, signing::sign(&checked.manifest, &key))
        .with_context(|| format!("cannot write {}", target.display()))?;
    emit(
        Stream::Stdout,
        &format!(
            "signed {} ({}, {}) with key {}\n",
            dir.display(),
            version_label(checked.version.as_deref()),
            count(checked.files.len(), "file", "files"),
            signing::key_id(&key.verifying_key()),
        ),
    );
    Ok(Outcome::Success)
}

fn version_label(version: Option<&str>) -> String {
    match version {
        Some(v) => format!("version {v}"),
        None => "no catalog version".into(),
    }
}
