//! A signed catalog: the directory `connector export --sign` writes, checked before anything
//! in it is used (`connector catalog verify`, `connector serve --catalog`).
//!
//! `manifest.json` lists every other file of the catalog with its size and SHA-256, the
//! catalog's version and the runtime version it needs; `manifest.sig` is an Ed25519 signature
//! over the manifest's bytes ([`signing`]). A catalog verifies when the signature holds under
//! the given public key, every listed file is there with its listed hash, no other file is
//! there, and this runtime is at least the version the manifest asks for. Every file is read
//! once, into memory, and what [`verify`] returns is what was hashed: nothing is read from the
//! directory again after the check (no window for a swap between check and use).

pub mod signing;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use connector_spec::export::{EXPORT_FORMAT_VERSION, MANIFEST_FILE, RUNTIME_VERSION};
use ed25519_dalek::VerifyingKey;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use signing::SIGNATURE_FILE;

/// Largest file a catalog may hold (schema documents and specs are far smaller).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Most files a manifest may list.
const MAX_FILES: usize = 10_000;

/// One thing wrong with a catalog, at a path inside it (`""`: the catalog itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path.is_empty() {
            true => f.write_str(&self.message),
            false => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// A catalog that does not verify, with every problem found.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub dir: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the catalog at {} does not verify:", self.dir.display())?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejected {}

/// A catalog whose files all match its manifest (and, from [`verify`], whose signature holds).
#[derive(Debug, Clone)]
pub struct Checked {
    /// The manifest's exact bytes.
    pub manifest: Vec<u8>,
    /// `catalogVersion`, when the manifest has one.
    pub version: Option<String>,
    pub minimum_runtime_version: String,
    /// Every listed file's bytes by path.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Checked {
    /// The spec sources under `specs/` as (path in the catalog, text), sorted by path.
    pub fn spec_sources(&self) -> Vec<(String, String)> {
        self.files
            .iter()
            .filter(|(path, _)| {
                path.starts_with("specs/") && (path.ends_with(".yaml") || path.ends_with(".yml"))
            })
            // Checked files that are not UTF-8 were refused by `check_text`.
            .filter_map(|(path, bytes)| {
                Some((path.clone(), String::from_utf8(bytes.clone()).ok()?))
            })
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    format_version: u64,
    #[serde(default)]
    catalog_version: Option<String>,
    #[serde(default)]
    minimum_runtime_version: Option<String>,
    #[serde(default)]
    files: Option<Vec<Listed>>,
}

#[derive(Deserialize)]
struct Listed {
    path: String,
    sha256: String,
    #[serde(default)]
    bytes: Option<u64>,
}

/// Verify the catalog at `dir` under `key`: the signature, every file, and the runtime version.
/// Every problem found is reported, not only the first.
pub fn verify(dir: &Path, key: &VerifyingKey) -> Result<Checked, Rejected> {
    let mut problems = Vec::new();
    let checked = check_files(dir, &mut problems);
    if let Some(c) = &checked {
        check_runtime_version(c, &mut problems);
    }
    let sig_path = dir.join(SIGNATURE_FILE);
    if std::fs::symlink_metadata(&sig_path).is_err() {
        problems.push(Problem::new(
            "",
            format!(
                "the catalog is unsigned (no {SIGNATURE_FILE} beside {MANIFEST_FILE}): sign it \
                 with `connector export --sign KEY` or `connector catalog sign DIR --key KEY`"
            ),
        ));
    } else {
        match read_bounded(&sig_path) {
            Err(e) => problems.push(Problem::new(SIGNATURE_FILE, e)),
            Ok(sig) => {
                if let Some(c) = &checked {
                    let text = String::from_utf8_lossy(&sig);
                    if let Err(e) = signing::verify(&c.manifest, &text, key) {
                        problems.push(Problem::new(SIGNATURE_FILE, e.to_string()));
                    }
                }
            }
        }
    }
    match (checked, problems.is_empty()) {
        (Some(c), true) => Ok(c),
        _ => Err(Rejected {
            dir: dir.to_path_buf(),
            problems,
        }),
    }
}

/// Check every file of the catalog at `dir` against its manifest (not the signature): what
/// `connector catalog sign` requires before it signs.
pub fn check(dir: &Path) -> Result<Checked, Rejected> {
    let mut problems = Vec::new();
    match check_files(dir, &mut problems) {
        Some(c) if problems.is_empty() => Ok(c),
        _ => Err(Rejected {
            dir: dir.to_path_buf(),
            problems,
        }),
    }
}

/// Read the manifest and every file it lists; push what is wrong. `None` when the manifest
/// itself cannot be read or parsed (nothing else can be checked then).
fn check_files(dir: &Path, problems: &mut Vec<Problem>) -> Option<Checked> {
    let manifest_bytes = match read_bounded(&dir.join(MANIFEST_FILE)) {
        Ok(bytes) => bytes,
        Err(e) => {
            problems.push(Problem::new(
                MANIFEST_FILE,
                format!(
                    "{e} (is {} a catalog `connector export` wrote?)",
                    dir.display()
                ),
            ));
            return None;
        }
    };
    let manifest: Manifest = match serde_json::from_slice(&manifest_bytes) {
        Ok(m) => m,
        Err(e) => {
            problems.push(Problem::new(MANIFEST_FILE, format!("not a manifest: {e}")));
            return None;
        }
    };
    let minimum = check_manifest_header(&manifest, problems);
    let Some(listed) = manifest.files else {
        problems.push(Problem::new(
            MANIFEST_FILE,
            "lists no files (written by an older `connector export`): export the catalog again",
        ));
        return None;
    };
    if listed.len() > MAX_FILES {
        problems.push(Problem::new(
            MANIFEST_FILE,
            format!("lists {} files; at most {MAX_FILES}", listed.len()),
        ));
        return None;
    }
    let files = check_listed(dir, &listed, problems);
    let names: BTreeSet<&str> = listed.iter().map(|l| l.path.as_str()).collect();
    check_unlisted(dir, &names, problems);
    Some(Checked {
        manifest: manifest_bytes,
        version: manifest.catalog_version,
        minimum_runtime_version: minimum.unwrap_or_default(),
        files,
    })
}

/// The format version and the runtime version the manifest asks for.
fn check_manifest_header(manifest: &Manifest, problems: &mut Vec<Problem>) -> Option<String> {
    if manifest.format_version > EXPORT_FORMAT_VERSION {
        problems.push(Problem::new(
            MANIFEST_FILE,
            format!(
                "catalog format {} is newer than this runtime reads ({EXPORT_FORMAT_VERSION}): \
                 upgrade connector",
                manifest.format_version
            ),
        ));
    }
    let Some(minimum) = &manifest.minimum_runtime_version else {
        problems.push(Problem::new(
            MANIFEST_FILE,
            "names no minimumRuntimeVersion: export the catalog again",
        ));
        return None;
    };
    if let Err(e) = semver::Version::parse(minimum) {
        problems.push(Problem::new(
            MANIFEST_FILE,
            format!("minimumRuntimeVersion `{minimum}` is not a version: {e}"),
        ));
    }
    Some(minimum.clone())
}

/// Whether this runtime is at least the version the catalog needs (checked when loading, not
/// when signing: a mirror may sign a release its own tools are too old to run).
fn check_runtime_version(checked: &Checked, problems: &mut Vec<Problem>) {
    let needed = semver::Version::parse(&checked.minimum_runtime_version);
    let ours = semver::Version::parse(RUNTIME_VERSION);
    if let (Ok(needed), Ok(ours)) = (needed, ours)
        && needed > ours
    {
        problems.push(Problem::new(
            MANIFEST_FILE,
            format!(
                "the catalog needs connector {needed} or later; this is {ours}: upgrade before \
                 loading it"
            ),
        ));
    }
}

/// Read each listed file and compare its hash; the bytes of those that match, by path.
fn check_listed(
    dir: &Path,
    listed: &[Listed],
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in listed {
        if let Err(why) = safe_path(&entry.path) {
            problems.push(Problem::new(&entry.path, why));
            continue;
        }
        if files.contains_key(&entry.path) {
            problems.push(Problem::new(&entry.path, "listed twice in the manifest"));
            continue;
        }
        let bytes = match read_bounded(&dir.join(&entry.path)) {
            Ok(bytes) => bytes,
            Err(e) => {
                problems.push(Problem::new(&entry.path, e));
                continue;
            }
        };
        let actual = hex::encode(Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(&entry.sha256) {
            let size = match entry.bytes {
                Some(n) if n != bytes.len() as u64 => {
                    format!(", and it is {} bytes, not {n}", bytes.len())
                }
                _ => String::new(),
            };
            problems.push(Problem::new(
                &entry.path,
                format!(
                    "changed: its SHA-256 is {actual}, the manifest says {}{size}",
                    entry.sha256
                ),
            ));
            continue;
        }
        if let Err(why) = check_text(&entry.path, &bytes) {
            problems.push(Problem::new(&entry.path, why));
            continue;
        }
        files.insert(entry.path.clone(), bytes);
    }
    files
}

/// Spec sources must be UTF-8 text.
fn check_text(path: &str, bytes: &[u8]) -> Result<(), String> {
    if path.starts_with("specs/") && std::str::from_utf8(bytes).is_err() {
        return Err("a spec source that is not UTF-8 text".into());
    }
    Ok(())
}

/// A listed path is relative, `/`-separated, of plain names (no `.`, `..` or empty segment),
/// and not the manifest or its signature.
fn safe_path(path: &str) -> Result<(), String> {
    let plain = |seg: &str| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    if path == MANIFEST_FILE || path == SIGNATURE_FILE {
        return Err("the manifest cannot list itself or its signature".into());
    }
    match path.split('/').all(plain) {
        true => Ok(()),
        false => Err("not a plain relative path inside the catalog".into()),
    }
}

/// Files in the directory the manifest does not list (and symbolic links, which a catalog
/// does not hold).
fn check_unlisted(dir: &Path, listed: &BTreeSet<&str>, problems: &mut Vec<Problem>) {
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    let mut seen = 0usize;
    while let Some((at, prefix)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&at) else {
            problems.push(Problem::new(&prefix, "cannot read the directory"));
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            seen += 1;
            if seen > MAX_FILES * 2 {
                problems.push(Problem::new("", "too many files in the catalog directory"));
                return;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = match prefix.is_empty() {
                true => name,
                false => format!("{prefix}/{name}"),
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_symlink() {
                problems.push(Problem::new(
                    &rel,
                    "a symbolic link: a catalog holds plain files",
                ));
            } else if kind.is_dir() {
                stack.push((entry.path(), rel));
            } else if rel != MANIFEST_FILE
                && rel != SIGNATURE_FILE
                && !listed.contains(rel.as_str())
            {
                problems.push(Problem::new(&rel, "not listed in the manifest"));
            }
        }
    }
}

/// A file's bytes, refusing anything over [`MAX_FILE_BYTES`] before reading it.
fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "missing".to_string(),
        _ => format!("cannot read: {e}"),
    })?;
    if !meta.is_file() {
        return Err("not a plain file".into());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{} bytes: larger than a catalog file may be ({MAX_FILE_BYTES})",
            meta.len()
        ));
    }
    std::fs::read(path).map_err(|e| format!("cannot read: {e}"))
}
