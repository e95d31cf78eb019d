//! Signed catalogs: `connector keys generate-signing`, `connector export --sign`,
//! `connector catalog verify|sign` and `connector serve --catalog`, on real files and a real
//! server process.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

fn connector() -> Command {
    let mut cmd = Command::new(support::bin());
    for v in ["CONNECTOR_KEY", "CONNECTOR_KEY_FILE", "CONNECTOR_HOME"] {
        cmd.env_remove(v);
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A key pair under `dir`: (private, public).
fn keys(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let out = run(connector()
        .args(["keys", "generate-signing", "--out"])
        .arg(dir)
        .args(["--name", name]));
    assert!(out.status.success(), "{}", text(&out));
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    )
}

/// The bundled specs exported and signed into `<tmp>/catalog`.
struct Fixture {
    tmp: TempDir,
    catalog: PathBuf,
    private: PathBuf,
    public: PathBuf,
}

fn signed_catalog() -> Fixture {
    signed_catalog_of(&["specs"])
}

/// The workspace paths `paths` exported and signed.
fn signed_catalog_of(paths: &[&str]) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = keys(tmp.path(), "release");
    let catalog = tmp.path().join("catalog");
    let out = run(connector()
        .arg("export")
        .args(paths.iter().map(|p| support::workspace_root().join(p)))
        .arg("--out")
        .arg(&catalog)
        .args(["--catalog-version", "2026.12.0", "--sign"])
        .arg(&private));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("signed by key ed25519:"),
        "{}",
        text(&out)
    );
    Fixture {
        tmp,
        catalog,
        private,
        public,
    }
}

fn verify(dir: &Path, key: &Path) -> Output {
    run(connector()
        .args(["catalog", "verify"])
        .arg(dir)
        .arg("--key")
        .arg(key))
}

/// Every file of the catalog, relative, `/`-separated.
fn files_of(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for e in std::fs::read_dir(&at).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    for rel in files_of(from) {
        let target = to.join(&rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&rel), target).unwrap();
    }
}

#[test]
fn an_exported_catalog_lists_every_file_and_verifies_under_its_key() {
    let f = signed_catalog();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(f.catalog.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["catalogVersion"], "2026.12.0");
    assert_eq!(manifest["minimumRuntimeVersion"], env!("CARGO_PKG_VERSION"));
    let listed: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    let on_disk: Vec<String> = files_of(&f.catalog)
        .into_iter()
        .filter(|p| p != "manifest.json" && p != "manifest.sig")
        .collect();
    assert_eq!(
        listed, on_disk,
        "the manifest lists every other file, sorted"
    );
    // The spec sources ship byte for byte.
    let slack = std::fs::read(f.catalog.join("specs/slack_api.yaml")).unwrap();
    assert_eq!(
        slack,
        std::fs::read(support::workspace_root().join("specs/slack_api.yaml")).unwrap()
    );

    let out = verify(&f.catalog, &f.public);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("verifies: version 2026.12.0"),
        "{}",
        text(&out)
    );
}

#[test]
fn one_changed_byte_in_any_file_is_named() {
    let f = signed_catalog();
    for rel in files_of(&f.catalog) {
        let copy = f.tmp.path().join("tampered");
        let _ = std::fs::remove_dir_all(&copy);
        copy_dir(&f.catalog, &copy);
        let path = copy.join(&rel);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();

        let out = verify(&copy, &f.public);
        assert_eq!(out.status.code(), Some(1), "{rel}: {}", text(&out));
        let report = text(&out);
        let named = match rel.as_str() {
            // A changed manifest no longer matches its signature (or no longer parses).
            "manifest.json" => {
                report.contains("manifest.sig:") || report.contains("manifest.json:")
            }
            _ => report.contains(&format!("{rel}:")),
        };
        assert!(named, "{rel} is not named:\n{report}");
    }
}

#[test]
fn an_unsigned_a_wrongly_keyed_and_an_incomplete_catalog_are_refused() {
    let f = signed_catalog();
    let (_, other) = keys(f.tmp.path(), "other");
    let out = verify(&f.catalog, &other);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("does not verify under key ed25519:"),
        "{}",
        text(&out)
    );

    let copy = f.tmp.path().join("edited");
    copy_dir(&f.catalog, &copy);
    std::fs::remove_file(copy.join("specs/webhook.yaml")).unwrap();
    std::fs::write(copy.join("specs/extra.yaml"), "id: .extra\n").unwrap();
    let out = verify(&copy, &f.public);
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out);
    assert!(report.contains("specs/webhook.yaml: missing"), "{report}");
    assert!(
        report.contains("specs/extra.yaml: not listed in the manifest"),
        "{report}"
    );

    std::fs::remove_file(f.catalog.join("manifest.sig")).unwrap();
    let out = verify(&f.catalog, &f.public);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("the catalog is unsigned"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_mirror_signs_a_verified_copy_with_its_own_key_and_never_a_changed_one() {
    let f = signed_catalog();
    let (mirror_private, mirror_public) = keys(f.tmp.path(), "mirror");
    let mirror = f.tmp.path().join("mirror");
    copy_dir(&f.catalog, &mirror);
    let out = run(connector()
        .args(["catalog", "sign"])
        .arg(&mirror)
        .arg("--key")
        .arg(&mirror_private));
    assert!(out.status.success(), "{}", text(&out));
    assert!(verify(&mirror, &mirror_public).status.success());
    assert_eq!(verify(&mirror, &f.public).status.code(), Some(1));

    std::fs::write(mirror.join("index.json"), "{}\n").unwrap();
    let before = std::fs::read(mirror.join("manifest.sig")).unwrap();
    let out = run(connector()
        .args(["catalog", "sign"])
        .arg(&mirror)
        .arg("--key")
        .arg(&mirror_private));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("index.json: changed"), "{}", text(&out));
    assert!(text(&out).contains("nothing was signed"), "{}", text(&out));
    assert_eq!(std::fs::read(mirror.join("manifest.sig")).unwrap(), before);
}

#[test]
fn signing_keys_are_written_once_and_read_with_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = keys(tmp.path(), "k");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the private key is its owner's only");
    }
    let before = std::fs::read(&private).unwrap();
    let out = run(connector()
        .args(["keys", "generate-signing", "--out"])
        .arg(tmp.path())
        .args(["--name", "k"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("refusing to overwrite"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(&private).unwrap(), before);

    // The keys swapped: each command says which kind of key it wants.
    let catalog = tmp.path().join("c");
    let out = run(connector()
        .arg("export")
        .arg(support::workspace_root().join("specs/webhook.yaml"))
        .arg("--out")
        .arg(&catalog)
        .args(["--catalog-version", "1.0.0", "--sign"])
        .arg(&public));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("is not an Ed25519 private key"),
        "{}",
        text(&out)
    );
    assert!(!catalog.exists(), "a wrong key writes nothing");
    let out = verify(tmp.path(), &private);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("is a private key"), "{}", text(&out));
    // The private key's PEM body never appears in any output.
    let body = String::from_utf8(before).unwrap();
    let secret_line = body.lines().nth(1).unwrap();
    assert!(!text(&out).contains(secret_line));

    let out = run(connector()
        .arg("export")
        .arg(support::workspace_root().join("specs/webhook.yaml"))
        .arg("--out")
        .arg(&catalog)
        .arg("--sign")
        .arg(&private));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--catalog-version"), "{}", text(&out));
}

#[test]
fn an_unsigned_export_removes_a_signature_left_from_an_earlier_one() {
    let f = signed_catalog();
    let out = run(connector()
        .arg("export")
        .arg(support::workspace_root().join("specs"))
        .arg("--out")
        .arg(&f.catalog));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("removed"), "{}", text(&out));
    assert!(!f.catalog.join("manifest.sig").exists());
}

/// `connector serve --catalog DIR --catalog-key KEY` on a fresh data dir; the child and its
/// combined output file.
fn serve_catalog(dir: &Path, key: &Path, data: &Path, port: u16) -> (std::process::Child, PathBuf) {
    let log = data.with_extension("log");
    let child = connector()
        .args(["serve", "--data-dir"])
        .arg(data)
        .arg("--catalog")
        .arg(dir)
        .arg("--catalog-key")
        .arg(key)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        // Where a `specs/` folder holds every bundled spec: none of them may be loaded.
        .current_dir(support::workspace_root())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    (child, log)
}

/// Start on `dir` and expect the process to stop with an error mentioning each of `needles`.
fn refused(dir: &Path, key: &Path, data: &Path, needles: &[&str]) {
    let (mut child, log) = serve_catalog(dir, key, data, support::free_port());
    let status = child.wait().unwrap();
    let report = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(2), "{report}");
    assert!(report.contains("refusing to start"), "{report}");
    for n in needles {
        assert!(report.contains(n), "`{n}` not in:\n{report}");
    }
}

#[tokio::test]
async fn serve_loads_connectors_only_from_a_catalog_that_verifies() {
    let f = signed_catalog_of(&["specs/webhook.yaml", "specs/slack_api.yaml"]);
    let data = f.tmp.path().join("data");

    let tampered = f.tmp.path().join("tampered");
    copy_dir(&f.catalog, &tampered);
    let spec = tampered.join("specs/webhook.yaml");
    let edited = std::fs::read_to_string(&spec)
        .unwrap()
        .replacen("Webhook", "Webhooc", 1);
    std::fs::write(&spec, edited).unwrap();
    refused(
        &tampered,
        &f.public,
        &data,
        &["specs/webhook.yaml: changed"],
    );

    let unsigned = f.tmp.path().join("unsigned");
    copy_dir(&f.catalog, &unsigned);
    std::fs::remove_file(unsigned.join("manifest.sig")).unwrap();
    refused(&unsigned, &f.public, &data, &["unsigned"]);

    // A catalog that asks for a newer runtime, signed as its publisher would.
    let newer = f.tmp.path().join("newer");
    copy_dir(&f.catalog, &newer);
    let manifest = std::fs::read_to_string(newer.join("manifest.json")).unwrap();
    let bumped = manifest.replace(
        &format!(
            "\"minimumRuntimeVersion\": \"{}\"",
            env!("CARGO_PKG_VERSION")
        ),
        "\"minimumRuntimeVersion\": \"99.0.0\"",
    );
    assert_ne!(bumped, manifest);
    std::fs::write(newer.join("manifest.json"), bumped).unwrap();
    let out = run(connector()
        .args(["catalog", "sign"])
        .arg(&newer)
        .arg("--key")
        .arg(&f.private));
    assert!(out.status.success(), "{}", text(&out));
    refused(
        &newer,
        &f.public,
        &data,
        &["needs connector 99.0.0 or later"],
    );

    let (_, other) = keys(f.tmp.path(), "other");
    refused(&f.catalog, &other, &data, &["does not verify under key"]);

    // The signed catalog: the server starts and offers exactly its connectors.
    let port = support::free_port();
    let (mut child, log) = serve_catalog(&f.catalog, &f.public, &data, port);
    let base = format!("http://127.0.0.1:{port}");
    support::wait_ready_at(&base, &log).await;
    let client = reqwest::Client::new();
    let out = run(connector()
        .args(["users", "add", "alice", "--data-dir"])
        .arg(&data));
    assert!(out.status.success(), "{}", text(&out));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let types: Value = client
        .get(format!("{base}/api/connector-types"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let served: Vec<&str> = types["connectorTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    let index: Value =
        serde_json::from_slice(&std::fs::read(f.catalog.join("index.json")).unwrap()).unwrap();
    let mut catalog_ids: Vec<&str> = index["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    catalog_ids.sort();
    assert_eq!(catalog_ids, [".slack_api", ".webhook"]);
    for id in &catalog_ids {
        assert!(served.contains(id), "{id} not served: {served:?}");
    }
    assert!(
        !served.contains(&".jira"),
        "a spec outside the catalog is served: {served:?}"
    );
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains("catalog verified"), "{log_text}");
    let _ = child.kill();
    let _ = child.wait();
}
