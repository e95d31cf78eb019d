//! Ed25519 keys and the catalog's signature file (decision 0025).
//!
//! Keys are PEM files in the standard encodings OpenSSL reads and writes: the private key as
//! PKCS#8 (`-----BEGIN PRIVATE KEY-----`, `openssl genpkey -algorithm ed25519`), the public key
//! as SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`, `openssl pkey -pubout`). A key's id
//! is `ed25519:` and the first 16 hex digits of the SHA-256 of its 32 public bytes: short
//! enough to read in an error, and enough to tell two keys apart.
//!
//! The signature file, `manifest.sig` beside `manifest.json`, is a small JSON document: the
//! algorithm, the signing key's id (only to name it in errors; it is never trusted) and the
//! base64 signature over the manifest's exact bytes.

use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The signature file's name, beside the manifest.
pub const SIGNATURE_FILE: &str = "manifest.sig";

/// The only algorithm a signature file may name.
const ALGORITHM: &str = "ed25519";

/// Largest key or signature file read (a PEM key is a few hundred bytes).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// A fresh key pair as PEM text: (private PKCS#8, public SPKI).
pub fn generate() -> anyhow::Result<(zeroize::Zeroizing<String>, String)> {
    let secret: zeroize::Zeroizing<[u8; 32]> = zeroize::Zeroizing::new(rand::random());
    let key = SigningKey::from_bytes(&secret);
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .context("cannot encode the private key")?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .context("cannot encode the public key")?;
    Ok((private, public))
}

/// `ed25519:<16 hex digits>`: the first 8 bytes of the SHA-256 of the public key.
pub fn key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("{ALGORITHM}:{}", hex::encode(&digest[..8]))
}

/// Read a private signing key (PKCS#8 PEM). The error never quotes the file's contents.
pub fn read_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text = read_small(path, "signing key")?;
    SigningKey::from_pkcs8_pem(text.trim()).map_err(|_| {
        anyhow::anyhow!(
            "{} is not an Ed25519 private key (PKCS#8 PEM, `-----BEGIN PRIVATE KEY-----`, as \
             `connector keys generate-signing` writes)",
            path.display()
        )
    })
}

/// Read a public key (SPKI PEM).
pub fn read_verifying_key(path: &Path) -> anyhow::Result<VerifyingKey> {
    let text = read_small(path, "public key")?;
    if text.contains("PRIVATE KEY") {
        bail!(
            "{} is a private key: pass the public key (the `.pub` file `connector keys \
             generate-signing` wrote); the private key stays with whoever signs releases",
            path.display()
        );
    }
    VerifyingKey::from_public_key_pem(text.trim()).map_err(|_| {
        anyhow::anyhow!(
            "{} is not an Ed25519 public key (SPKI PEM, `-----BEGIN PUBLIC KEY-----`, as \
             `connector keys generate-signing` writes)",
            path.display()
        )
    })
}

fn read_small(path: &Path, what: &str) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    if meta.len() > MAX_KEY_FILE {
        bail!(
            "{} is {} bytes: too large for a {what} (at most {MAX_KEY_FILE})",
            path.display(),
            meta.len()
        );
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

/// The signature file's document.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    algorithm: String,
    #[serde(rename = "keyId")]
    key_id: String,
    signature: String,
}

/// The signature file's text for `manifest` signed by `key`.
pub fn sign(manifest: &[u8], key: &SigningKey) -> String {
    let signature = key.sign(manifest);
    let doc = SignatureFile {
        algorithm: ALGORITHM.into(),
        key_id: key_id(&key.verifying_key()),
        signature: BASE64.encode(signature.to_bytes()),
    };
    // A struct of three strings always serializes.
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// Why a signature does not hold; each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "{SIGNATURE_FILE} is not a signature file ({0}); sign the catalog again with \
         `connector catalog sign`"
    )]
    Malformed(String),
    #[error(
        "the signature does not verify under key {expected} (the signature names key \
         {named}): the manifest changed after it was signed, or it was signed with another key"
    )]
    Mismatch { expected: String, named: String },
}

/// Check `signature_file` (its text) over `manifest` under `key`.
pub fn verify(
    manifest: &[u8],
    signature_file: &str,
    key: &VerifyingKey,
) -> Result<(), SignatureError> {
    let doc: SignatureFile = serde_json::from_str(signature_file)
        .map_err(|e| SignatureError::Malformed(e.to_string()))?;
    if doc.algorithm != ALGORITHM {
        return Err(SignatureError::Malformed(format!(
            "algorithm `{}`; only `{ALGORITHM}` is accepted",
            doc.algorithm
        )));
    }
    let bytes = BASE64
        .decode(doc.signature.trim())
        .map_err(|_| SignatureError::Malformed("the signature is not base64".into()))?;
    let signature = Signature::from_slice(&bytes)
        .map_err(|_| SignatureError::Malformed("the signature is not 64 bytes".into()))?;
    key.verify_strict(manifest, &signature)
        .map_err(|_| SignatureError::Mismatch {
            expected: key_id(key),
            named: doc.key_id,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (SigningKey, VerifyingKey) {
        let (private, _) = generate().unwrap();
        let key = SigningKey::from_pkcs8_pem(&private).unwrap();
        let public = key.verifying_key();
        (key, public)
    }

    #[test]
    fn a_signature_verifies_under_its_key_and_no_other() {
        let (key, public) = pair();
        let (_, other) = pair();
        let sig = sign(b"manifest bytes", &key);
        assert_eq!(verify(b"manifest bytes", &sig, &public), Ok(()));
        assert!(matches!(
            verify(b"manifest bytes", &sig, &other),
            Err(SignatureError::Mismatch { .. })
        ));
        assert!(matches!(
            verify(b"manifest bytez", &sig, &public),
            Err(SignatureError::Mismatch { .. })
        ));
    }

    #[test]
    fn a_malformed_signature_file_says_so() {
        let (_, public) = pair();
        for text in [
            "",
            "{}",
            r#"{"algorithm":"rsa","keyId":"x","signature":"AA=="}"#,
            r#"{"algorithm":"ed25519","keyId":"x","signature":"%%"}"#,
            r#"{"algorithm":"ed25519","keyId":"x","signature":"AAAA"}"#,
        ] {
            assert!(
                matches!(
                    verify(b"m", text, &public),
                    Err(SignatureError::Malformed(_))
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn the_public_key_pem_round_trips_and_names_the_same_key() {
        let (private, public) = generate().unwrap();
        let key = SigningKey::from_pkcs8_pem(&private).unwrap();
        let read = VerifyingKey::from_public_key_pem(&public).unwrap();
        assert_eq!(key.verifying_key(), read);
        assert_eq!(key_id(&read).len(), "ed25519:".len() + 16);
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
    }
}
