//! Encryption at rest: XChaCha20-Poly1305 under an operator keyring, with associated data that
//! binds each ciphertext to its record.
//!
//! # Keys
//!
//! A key is 32 random bytes, written as base64 (standard or url-safe, padding optional) and
//! named by a key id: `id:base64`. A keyring is one or more entries separated by commas or
//! newlines; the **first** entry is the active key (new values are sealed under it), the others
//! are kept to open values sealed before a rotation. A single bare base64 key gets the id
//! `default`. The keyring comes from the `CONNECTOR_KEY` environment variable, or else from
//! the file named by `CONNECTOR_KEY_FILE` (blank lines and `#` comments allowed).
//!
//! # Sealed value format
//!
//! `0x01 | key id length (1 byte) | key id | 24-byte random nonce | ciphertext + 16-byte tag`.
//! The key id sits beside each ciphertext, so one store can hold values under several keys
//! while a rotation is pending.
//!
//! # Associated data
//!
//! Every seal/open takes an [`Aad`] naming the record (scope, user, connector, credential
//! type, or state/instance id) and the field. A ciphertext copied onto another row, or into
//! another field of the same row, fails authentication: [`CryptoError::Open`].

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

/// Environment variable holding the keyring (`id:base64[,id:base64...]`, or one bare key).
pub const KEY_ENV: &str = "CONNECTOR_KEY";
/// Environment variable naming a file that holds the keyring.
pub const KEY_FILE_ENV: &str = "CONNECTOR_KEY_FILE";
/// Id given to a single key written without one.
pub const DEFAULT_KEY_ID: &str = "default";

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const AAD_DOMAIN: &[u8] = b"connector-store/v1";

/// Key and sealing failures. No message contains key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error(
        "no encryption key configured: set {KEY_ENV} (`id:base64key`, 32 bytes; \
         `connector keys generate` prints one) or {KEY_FILE_ENV}"
    )]
    NoKey,
    #[error("invalid encryption key configuration: {0}")]
    InvalidKey(String),
    #[error("cannot read key file {path}: {message}")]
    KeyFile { path: PathBuf, message: String },
    #[error(
        "a sealed {field} is under key `{key_id}`, which is not configured (add it to \
         {KEY_ENV} after the active key until `connector keys rotate` has run)"
    )]
    UnknownKey { key_id: String, field: String },
    #[error(
        "a sealed {field} does not open under key `{key_id}`: wrong key, tampered value, or a \
         value copied from another record"
    )]
    Open { key_id: String, field: String },
    #[error("malformed sealed {field}: {reason}")]
    Malformed { field: String, reason: &'static str },
}

/// The record a sealed value belongs to, fed to the AEAD as associated data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aad {
    parts: Vec<String>,
    field: &'static str,
}

impl Aad {
    /// A token field: `scope` is `shared` or `per-user`, `user` empty for shared tokens.
    pub fn token(
        scope: &str,
        user: &str,
        connector: &str,
        credential_type: &str,
        field: &'static str,
    ) -> Aad {
        Aad {
            parts: vec![
                "token".into(),
                scope.into(),
                user.into(),
                connector.into(),
                credential_type.into(),
            ],
            field,
        }
    }

    /// An OAuth state field (the PKCE verifier).
    pub fn state(state: &str, user: &str, connector: &str, field: &'static str) -> Aad {
        Aad {
            parts: vec![
                "oauth_state".into(),
                state.into(),
                user.into(),
                connector.into(),
            ],
            field,
        }
    }

    /// A connector instance field (the secrets).
    pub fn instance(id: &str, field: &'static str) -> Aad {
        Aad {
            parts: vec!["connector_instance".into(), id.into()],
            field,
        }
    }

    /// A store-wide value (PostgreSQL's `store_meta` table): `name` is its row.
    pub fn meta(name: &'static str) -> Aad {
        Aad {
            parts: vec!["store_meta".into(), name.into()],
            field: name,
        }
    }

    /// The field name, for error messages.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// Length-prefixed encoding, so no two distinct records share a byte string.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        let mut push = |b: &[u8]| {
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(b);
        };
        push(AAD_DOMAIN);
        for p in &self.parts {
            push(p.as_bytes());
        }
        push(self.field.as_bytes());
        out
    }
}

/// One key: an id and a cipher (the key bytes are zeroized on drop).
#[derive(Clone)]
struct Entry {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// The operator's keys: one active key for sealing, older keys for opening. `Debug` shows key
/// ids only.
#[derive(Clone)]
pub struct Keyring {
    entries: Vec<Entry>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active_id())
            .field("ids", &self.key_ids())
            .finish()
    }
}

impl Keyring {
    /// A keyring of one key.
    pub fn single(id: &str, key: &[u8; 32]) -> Result<Keyring, CryptoError> {
        let mut k = Keyring {
            entries: Vec::new(),
        };
        k.push(id, key)?;
        Ok(k)
    }

    /// Parse `id:base64` entries separated by commas or newlines (first = active), or a single
    /// bare base64 key (id `default`). `#` starts a comment line. Errors name the entry by
    /// position, never its content.
    pub fn parse(text: &str) -> Result<Keyring, CryptoError> {
        let mut ring = Keyring {
            entries: Vec::new(),
        };
        let items: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if items.is_empty() {
            return Err(CryptoError::NoKey);
        }
        for (n, item) in items.iter().enumerate() {
            let (id, b64) = match item.split_once(':') {
                Some((id, b64)) => (id.trim(), b64.trim()),
                None if items.len() == 1 => (DEFAULT_KEY_ID, *item),
                None => {
                    return Err(CryptoError::InvalidKey(format!(
                        "entry {} has no key id; with several keys each is written `id:base64`",
                        n + 1
                    )));
                }
            };
            let bytes = decode_key(b64).map_err(|reason| {
                CryptoError::InvalidKey(format!("entry {} (`{id}`): {reason}", n + 1))
            })?;
            ring.push(id, &bytes)?;
        }
        Ok(ring)
    }

    /// The keyring from `CONNECTOR_KEY`, else from the file named by `CONNECTOR_KEY_FILE`.
    pub fn from_env() -> Result<Keyring, CryptoError> {
        if let Ok(v) = std::env::var(KEY_ENV)
            && !v.trim().is_empty()
        {
            return Keyring::parse(&v);
        }
        if let Some(path) = std::env::var_os(KEY_FILE_ENV).filter(|p| !p.is_empty()) {
            return Keyring::from_file(Path::new(&path));
        }
        Err(CryptoError::NoKey)
    }

    /// The keyring in a file (same format as [`Keyring::parse`]).
    pub fn from_file(path: &Path) -> Result<Keyring, CryptoError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|e| CryptoError::KeyFile {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?,
            );
        Keyring::parse(&text)
    }

    /// 32 fresh random bytes from the OS-seeded CSPRNG.
    pub fn generate_key() -> Zeroizing<[u8; 32]> {
        Zeroizing::new(rand::random())
    }

    /// `id:base64` for a key, as [`Keyring::parse`] reads it.
    pub fn format_entry(id: &str, key: &[u8; 32]) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{id}:{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        ))
    }

    fn push(&mut self, id: &str, key: &[u8; 32]) -> Result<(), CryptoError> {
        validate_key_id(id)?;
        if self.entries.iter().any(|e| e.id == id) {
            return Err(CryptoError::InvalidKey(format!(
                "key id `{id}` appears twice"
            )));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(key)
            .map_err(|_| CryptoError::InvalidKey("a key must be 32 bytes".into()))?;
        self.entries.push(Entry {
            id: id.to_string(),
            cipher,
        });
        Ok(())
    }

    /// The id of the key new values are sealed under.
    pub fn active_id(&self) -> &str {
        &self.entries[0].id
    }

    /// Every key id, active first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.id.as_str()).collect()
    }

    /// Seal `plaintext` under the active key, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &Aad) -> Result<Vec<u8>, CryptoError> {
        let entry = &self.entries[0];
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let ad = aad.encode();
        let ct = entry
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &ad,
                },
            )
            .map_err(|_| CryptoError::Open {
                key_id: entry.id.clone(),
                field: aad.field.to_string(),
            })?;
        let mut out = Vec::with_capacity(2 + entry.id.len() + NONCE_LEN + ct.len());
        out.push(FORMAT_V1);
        out.push(entry.id.len() as u8);
        out.extend_from_slice(entry.id.as_bytes());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Open a sealed value bound to `aad`, with whichever configured key sealed it.
    pub fn open(&self, sealed: &[u8], aad: &Aad) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let (key_id, nonce, ct) = split(sealed, aad.field)?;
        let entry = self
            .entries
            .iter()
            .find(|e| e.id == key_id)
            .ok_or_else(|| CryptoError::UnknownKey {
                key_id: key_id.to_string(),
                field: aad.field.to_string(),
            })?;
        let ad = aad.encode();
        entry
            .cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: ct, aad: &ad })
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Open {
                key_id: key_id.to_string(),
                field: aad.field.to_string(),
            })
    }

    /// Open a sealed UTF-8 string.
    pub fn open_string(&self, sealed: &[u8], aad: &Aad) -> Result<Zeroizing<String>, CryptoError> {
        let bytes = self.open(sealed, aad)?;
        match std::str::from_utf8(&bytes) {
            Ok(s) => Ok(Zeroizing::new(s.to_string())),
            Err(_) => Err(CryptoError::Malformed {
                field: aad.field.to_string(),
                reason: "the plaintext is not UTF-8",
            }),
        }
    }

    /// The id of the key a sealed value is under.
    pub fn sealed_key_id(sealed: &[u8]) -> Result<&str, CryptoError> {
        split(sealed, "value").map(|(id, _, _)| id)
    }
}

fn split<'a>(
    sealed: &'a [u8],
    field: &str,
) -> Result<(&'a str, [u8; NONCE_LEN], &'a [u8]), CryptoError> {
    let bad = |reason| CryptoError::Malformed {
        field: field.to_string(),
        reason,
    };
    let (&format, rest) = sealed.split_first().ok_or(bad("empty"))?;
    if format != FORMAT_V1 {
        return Err(bad("unknown format version"));
    }
    let (&id_len, rest) = rest.split_first().ok_or(bad("truncated"))?;
    let id_len = usize::from(id_len);
    if rest.len() < id_len + NONCE_LEN + TAG_LEN {
        return Err(bad("truncated"));
    }
    let (id, rest) = rest.split_at(id_len);
    let id = std::str::from_utf8(id).map_err(|_| bad("key id is not UTF-8"))?;
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(nonce);
    Ok((id, n, ct))
}

fn validate_key_id(id: &str) -> Result<(), CryptoError> {
    if id.is_empty() || id.len() > 64 {
        return Err(CryptoError::InvalidKey(
            "a key id is 1 to 64 characters".into(),
        ));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(CryptoError::InvalidKey(format!(
            "key id `{}` may hold only ASCII letters, digits, `-`, `_` and `.`",
            id.escape_debug()
        )));
    }
    Ok(())
}

fn decode_key(b64: &str) -> Result<Zeroizing<[u8; 32]>, &'static str> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let bytes = Zeroizing::new(
        [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|e| e.decode(b64).ok())
            .ok_or("the key is not valid base64")?,
    );
    let arr: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| "the key must decode to exactly 32 bytes")?;
    Ok(Zeroizing::new(arr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(spec: &str) -> Keyring {
        Keyring::parse(spec).unwrap()
    }

    fn key_b64(byte: u8) -> String {
        base64::engine::general_purpose::STANDARD.encode([byte; 32])
    }

    #[test]
    fn seal_open_round_trip_and_key_id_beside_ciphertext() {
        let k = ring(&format!("k1:{}", key_b64(1)));
        let aad = Aad::token("per-user", "alice", "c1", "oauth", "access_token");
        let sealed = k.seal(b"canary-token", &aad).unwrap();
        assert_eq!(Keyring::sealed_key_id(&sealed).unwrap(), "k1");
        assert!(!sealed.windows(6).any(|w| w == b"canary"));
        assert_eq!(&*k.open_string(&sealed, &aad).unwrap(), "canary-token");
    }

    #[test]
    fn other_record_or_field_fails_to_open() {
        let k = ring(&key_b64(7));
        let aad = Aad::token("per-user", "alice", "c1", "oauth", "access_token");
        let sealed = k.seal(b"secret", &aad).unwrap();
        for other in [
            Aad::token("per-user", "bob", "c1", "oauth", "access_token"),
            Aad::token("per-user", "alice", "c2", "oauth", "access_token"),
            Aad::token("per-user", "alice", "c1", "oauth", "refresh_token"),
            Aad::token("shared", "alice", "c1", "oauth", "access_token"),
            // Length prefixes: shifting a boundary between parts is a different record.
            Aad::token("per-user", "alic", "ec1", "oauth", "access_token"),
        ] {
            assert!(matches!(
                k.open(&sealed, &other),
                Err(CryptoError::Open { .. })
            ));
        }
    }

    #[test]
    fn old_keys_open_new_key_seals() {
        let old = ring(&format!("old:{}", key_b64(1)));
        let aad = Aad::instance("i1", "secrets");
        let sealed = old.seal(b"x", &aad).unwrap();
        let both = ring(&format!("new:{},old:{}", key_b64(2), key_b64(1)));
        assert_eq!(both.active_id(), "new");
        assert_eq!(&*both.open(&sealed, &aad).unwrap(), b"x");
        let resealed = both.seal(b"x", &aad).unwrap();
        assert_eq!(Keyring::sealed_key_id(&resealed).unwrap(), "new");
        let new_only = ring(&format!("new:{}", key_b64(2)));
        assert!(matches!(
            new_only.open(&sealed, &aad),
            Err(CryptoError::UnknownKey { .. })
        ));
        // Same id, different key bytes: authentication fails.
        let impostor = ring(&format!("old:{}", key_b64(3)));
        assert!(matches!(
            impostor.open(&sealed, &aad),
            Err(CryptoError::Open { .. })
        ));
    }

    #[test]
    fn bad_configurations_are_refused_without_echoing_keys() {
        let short = base64::engine::general_purpose::STANDARD.encode([9u8; 16]);
        for (spec, needle) in [
            ("", "no encryption key"),
            ("k1:!!!notbase64", "not valid base64"),
            (&*format!("k1:{short}"), "exactly 32 bytes"),
            (&*format!("{},{}", key_b64(1), key_b64(2)), "has no key id"),
            (
                &*format!("a:{},a:{}", key_b64(1), key_b64(2)),
                "appears twice",
            ),
            (&*format!("bad id:{}", key_b64(1)), "may hold only"),
        ] {
            let err = Keyring::parse(spec).unwrap_err().to_string();
            assert!(err.contains(needle), "{spec:?}: {err}");
            assert!(!err.contains(&short) && !err.contains(&key_b64(1)), "{err}");
        }
    }

    #[test]
    fn malformed_values_are_typed_errors() {
        let k = ring(&key_b64(1));
        let aad = Aad::instance("i", "secrets");
        for bad in [&[][..], &[2u8, 0][..], &[1u8, 5, b'a'][..]] {
            assert!(matches!(
                k.open(bad, &aad),
                Err(CryptoError::Malformed { .. })
            ));
        }
    }

    #[test]
    fn debug_shows_ids_only() {
        let k = ring(&format!("k1:{}", key_b64(42)));
        let dbg = format!("{k:?}");
        assert!(dbg.contains("k1") && !dbg.contains(&key_b64(42)), "{dbg}");
    }
}
