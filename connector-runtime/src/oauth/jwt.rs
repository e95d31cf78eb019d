//! Signed JWTs for OAuth (RFC 7523): the JWT bearer grant's `assertion` and the
//! `private_key_jwt` client authentication's `client_assertion`, RS256 with an RSA key read
//! from PEM. Signing is the crypto library rustls already links (decision 0011): aws-lc-rs, or
//! ring under the `ring` feature alone (the same API).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::crypto::rsa::KeyPair;
use crate::crypto::signature::RSA_PKCS1_SHA256;
use base64::Engine;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Map, Value, json};

use crate::error::ActionError;

/// An RSA private key that signs assertions, with the key id the JWT header names. Its
/// `Debug` shows the header parameter only.
pub struct SigningKey {
    key: KeyPair,
    /// The header parameter naming the key (`kid`, or `x5t` / `x5t#S256` for Entra ID) and
    /// its value.
    key_id: (String, String),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field(&self.key_id.0, &self.key_id.1)
            .finish_non_exhaustive()
    }
}

fn key_error(message: impl Into<String>) -> ActionError {
    ActionError::user("invalid_private_key", message)
}

/// The header parameters that may carry the key id.
pub const KEY_ID_HEADERS: [&str; 3] = ["kid", "x5t", "x5t#S256"];

impl SigningKey {
    /// Read an RSA key from PEM (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`). An
    /// encrypted key is refused with `unsupported_private_key`: aws-lc-rs does not decrypt
    /// PEM, and a second crypto library only for that is not worth it (decision 0011).
    /// Errors never quote the key.
    pub fn from_pem(
        pem: &str,
        password: Option<&str>,
        key_id_header: &str,
        key_id: &str,
    ) -> Result<SigningKey, ActionError> {
        if pem.contains("ENCRYPTED") {
            return Err(ActionError::user(
                "unsupported_private_key",
                "the private key is encrypted, and encrypted keys are not supported: store it \
                 decrypted (`openssl pkcs8 -topk8 -nocrypt -in key.pem`) and leave \
                 `privateKeyPassword` empty",
            ));
        }
        if password.is_some_and(|p| !p.is_empty()) {
            return Err(ActionError::user(
                "unsupported_private_key",
                "`privateKeyPassword` is set but the private key is not encrypted: leave it empty",
            ));
        }
        if !KEY_ID_HEADERS.contains(&key_id_header) {
            return Err(ActionError::user(
                "invalid_config",
                format!(
                    "`keyIdHeader` `{key_id_header}` is not one of: {}",
                    KEY_ID_HEADERS.join(", ")
                ),
            ));
        }
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| {
            key_error("the private key is not a PEM `PRIVATE KEY` or `RSA PRIVATE KEY`")
        })?;
        let key = match &der {
            PrivateKeyDer::Pkcs8(k) => KeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => KeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err(key_error("the private key is not an RSA key")),
        }
        .map_err(|e| key_error(format!("the private key is not a usable RSA key ({e})")))?;
        Ok(SigningKey {
            key,
            key_id: (key_id_header.to_string(), key_id.to_string()),
        })
    }

    /// `header.claims.signature`, RS256, the header naming the key.
    pub fn sign(&self, claims: &Value) -> Result<String, ActionError> {
        let mut header = Map::new();
        header.insert("alg".into(), json!("RS256"));
        header.insert("typ".into(), json!("JWT"));
        header.insert(self.key_id.0.clone(), json!(self.key_id.1));
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let signing_input = format!(
            "{}.{}",
            b64(Value::Object(header).to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut signature = vec![0; modulus_len(&self.key)];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &crate::crypto::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| ActionError::system("jwt_signing_failed", "signing the JWT failed"))?;
        Ok(format!("{signing_input}.{}", b64(&signature)))
    }
}

/// Seconds since the epoch of `t` (0 before it).
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A fresh `jti`: 128 random bits, hex.
pub fn jti() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The RSA modulus length in bytes: the signature's length.
#[cfg(feature = "aws-lc")]
fn modulus_len(key: &KeyPair) -> usize {
    key.public_modulus_len()
}

#[cfg(all(feature = "ring", not(feature = "aws-lc")))]
fn modulus_len(key: &KeyPair) -> usize {
    key.public().modulus_len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_keys_are_typed_errors_that_do_not_quote_the_key() {
        let canary =
            "-----BEGIN PRIVATE KEY-----\nY2FuYXJ5LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n";
        let e = SigningKey::from_pem(canary, None, "kid", "k1").unwrap_err();
        assert_eq!(e.code, "invalid_private_key");
        assert!(!e.to_string().contains("Y2FuYXJ5"), "{e}");
        let e = SigningKey::from_pem("not a pem", None, "kid", "k1").unwrap_err();
        assert_eq!(e.code, "invalid_private_key");
        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let e = SigningKey::from_pem(enc, Some("pw"), "kid", "k1").unwrap_err();
        assert_eq!(e.code, "unsupported_private_key");
        let e = SigningKey::from_pem(canary, Some("pw"), "kid", "k1").unwrap_err();
        assert_eq!(e.code, "unsupported_private_key");
        let e = SigningKey::from_pem(canary, None, "jku", "k1").unwrap_err();
        assert_eq!(e.code, "invalid_config");
    }
}
