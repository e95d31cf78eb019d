//! `connector keys`: the token store's encryption keys (generate, status, rotate) and catalog
//! signing keys (generate-signing, [`crate::catalog::signing`]).

use anyhow::Context;
use clap::Subcommand;
use connector_runtime::store::Keyring;
use connector_runtime::store::crypto::KEY_ENV;

use super::store_args::TokenStoreArgs;
use crate::Outcome;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Print a fresh random key as `id:base64` for CONNECTOR_KEY
    #[command(
        long_about = "Print a fresh 32-byte key from the operating system's random source, as \
            `id:base64`, the form CONNECTOR_KEY and CONNECTOR_KEY_FILE take. Nothing is \
            written anywhere: store the line where your secrets live.",
        after_help = "Examples:\n  \
            connector keys generate\n  \
            connector keys generate --id prod-2026-07\n  \
            export CONNECTOR_KEY=\"$(connector keys generate)\""
    )]
    Generate {
        /// Key id (ASCII letters, digits, `-`, `_`, `.`; default: `k<unix seconds>`)
        #[arg(long, value_name = "ID")]
        id: Option<String>,
    },
    /// Write a fresh Ed25519 key pair for signing catalogs (`connector export --sign`)
    #[command(
        long_about = "Write a fresh Ed25519 key pair for signing catalogs: <DIR>/<NAME>.key, the \
            private key (PKCS#8 PEM, readable by its owner only) that `connector export --sign` \
            and `connector catalog sign` use, and <DIR>/<NAME>.pub, the public key (SPKI PEM) \
            that `connector catalog verify --key` and `connector serve --catalog-key` check \
            against. Existing files are never overwritten. Keep the private key where release \
            builds run; hand the public key to every site that loads the catalog. OpenSSL \
            reads both (`openssl pkey -in NAME.key -text`).",
        after_help = "Examples:\n  \
            connector keys generate-signing --out keys/\n  \
            connector keys generate-signing --out keys/ --name release-2026"
    )]
    GenerateSigning {
        /// Directory to write the key files into (created if missing)
        #[arg(long, value_name = "DIR", default_value = ".")]
        out: std::path::PathBuf,
        /// File name of the pair, without extension
        #[arg(long, value_name = "NAME", default_value = "catalog-signing")]
        name: String,
    },
    /// Show which key ids the store's sealed values are under
    #[command(
        long_about = "Count the store's sealed values (access and refresh tokens, PKCE \
            verifiers, connector secrets) per key id, and name the active key of the configured \
            keyring. A configured key that seals no value can be removed from the \
            configuration. Values are not opened, so this works with any keyring.",
        after_help = "Examples:\n  \
            connector keys status\n  \
            connector keys status --store /var/lib/connector/connector.db"
    )]
    Status {
        #[command(flatten)]
        store: TokenStoreArgs,
    },
    /// Re-encrypt every sealed value in the store under the active key
    #[command(
        long_about = "Re-encrypt every sealed value in the store (access and refresh tokens, \
            PKCE verifiers, connector secrets) under the active key, in one transaction: \
            either every value moves or none does, and no record is lost.\n\n\
            The keyring comes from CONNECTOR_KEY (or the file named by CONNECTOR_KEY_FILE): \
            `id:base64` entries separated by commas or newlines; the FIRST entry is the active \
            key, the others are old keys kept for reading.\n\n\
            To rotate:\n  \
            1. generate a new key: connector keys generate --id k2\n  \
            2. put it first, keep the old one: CONNECTOR_KEY=\"k2:...,k1:...\"\n     \
               (deploy this keyring to every process that uses the store)\n  \
            3. run: connector keys rotate\n  \
            4. remove the old key: CONNECTOR_KEY=\"k2:...\"\n\n\
            Exit code 0 on success, 2 when a value cannot be opened (an old key is missing \
            from the keyring or a value was tampered with); nothing is changed then.",
        after_help = "Examples:\n  \
            CONNECTOR_KEY=\"k2:NEWKEY,k1:OLDKEY\" connector keys rotate\n  \
            connector keys rotate --store ./connector.db"
    )]
    Rotate {
        #[command(flatten)]
        store: TokenStoreArgs,
    },
}

pub async fn run(cmd: KeysCommand) -> anyhow::Result<Outcome> {
    match cmd {
        KeysCommand::Generate { id } => generate(id),
        KeysCommand::GenerateSigning { out, name } => generate_signing(&out, &name),
        KeysCommand::Status { store } => status(store).await,
        KeysCommand::Rotate { store } => rotate(store).await,
    }
}

fn generate(id: Option<String>) -> anyhow::Result<Outcome> {
    let id = match id {
        Some(id) => id,
        None => {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!("k{secs}")
        }
    };
    let key = Keyring::generate_key();
    // Validate the id the way the keyring will read it.
    Keyring::single(&id, &key)?;
    println!("{}", &*Keyring::format_entry(&id, &key));
    Ok(Outcome::Success)
}

fn generate_signing(out: &std::path::Path, name: &str) -> anyhow::Result<Outcome> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        anyhow::bail!("--name `{name}`: use ASCII letters, digits, `-`, `_` and `.`");
    }
    let private_path = out.join(format!("{name}.key"));
    let public_path = out.join(format!("{name}.pub"));
    for p in [&private_path, &public_path] {
        if p.exists() {
            anyhow::bail!(
                "{} already exists: refusing to overwrite a key (choose another --name or --out)",
                p.display()
            );
        }
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create directory {}", out.display()))?;
    let (private, public) = crate::catalog::signing::generate()?;
    write_private(&private_path, private.as_bytes())?;
    std::fs::write(&public_path, &public)
        .with_context(|| format!("cannot write {}", public_path.display()))?;
    let key = crate::catalog::signing::read_verifying_key(&public_path)?;
    println!(
        "wrote {} (private: keep it secret) and {} (public), key {}",
        private_path.display(),
        public_path.display(),
        crate::catalog::signing::key_id(&key)
    );
    Ok(Outcome::Success)
}

/// Create `path` (never replacing a file) readable and writable by its owner only.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

async fn status(at: TokenStoreArgs) -> anyhow::Result<Outcome> {
    let db = at.existing()?;
    let store = TokenStoreArgs::open(&db).await?;
    let keys = store.keyring().clone();
    let usage = store.stores.maintenance.key_usage().await;
    store.close().await;
    let usage = usage?;
    println!("store: {db}");
    println!("active key: {}", keys.active_id());
    let configured = keys.key_ids();
    if usage.is_empty() {
        println!("no sealed values");
    }
    for (id, n) in &usage {
        let note = if !configured.contains(&id.as_str()) {
            "  (NOT CONFIGURED: these values cannot be opened)"
        } else if id != keys.active_id() {
            "  (old key: run `connector keys rotate`)"
        } else {
            ""
        };
        println!(
            "{id}: {n} sealed value{}{note}",
            if *n == 1 { "" } else { "s" }
        );
    }
    for id in configured.iter().filter(|id| !usage.contains_key(**id)) {
        if *id != keys.active_id() {
            println!("{id}: no sealed values (can be removed from {KEY_ENV})");
        }
    }
    Ok(Outcome::Success)
}

async fn rotate(at: TokenStoreArgs) -> anyhow::Result<Outcome> {
    let db = at.existing()?;
    let store = TokenStoreArgs::open(&db).await?;
    let keys = store.keyring().clone();
    let report = store.stores.maintenance.rotate_keys().await;
    store.close().await;
    let report = report.context("rotation failed; nothing was changed")?;
    println!(
        "re-encrypted {} sealed value{} under key `{}`: {} token{}, {} OAuth state{}, {} \
         connector instance{} ({})",
        report.values,
        plural(report.values),
        keys.active_id(),
        report.tokens,
        plural(report.tokens),
        report.states,
        plural(report.states),
        report.instances,
        plural(report.instances),
        db
    );
    let old: Vec<&str> = keys
        .key_ids()
        .into_iter()
        .filter(|id| *id != keys.active_id())
        .collect();
    if !old.is_empty() {
        println!(
            "no value is sealed under {} any more; remove {} from {KEY_ENV}",
            old.join(", "),
            if old.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(Outcome::Success)
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
