//! PKCE (RFC 7636) with the S256 method.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use secrecy::SecretString;

/// Random bytes behind a verifier: 64 bytes encode to 86 characters, inside RFC 7636's 43-128.
const VERIFIER_BYTES: usize = 64;

/// The one challenge method this runtime sends. `plain` is never used.
pub const METHOD: &str = "S256";

/// A PKCE verifier and its S256 challenge.
#[derive(Clone)]
pub struct Pkce {
    verifier: SecretString,
    challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &self.verifier)
            .field("challenge", &self.challenge)
            .finish()
    }
}

impl Pkce {
    /// A fresh verifier from the operating system's CSPRNG-seeded generator.
    pub fn generate() -> Pkce {
        let mut bytes = [0u8; VERIFIER_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        Pkce::from_verifier(verifier).expect("86 base64url characters form a valid verifier")
    }

    /// Rebuild from a stored verifier, checking RFC 7636's length and alphabet.
    pub fn from_verifier(verifier: String) -> Result<Pkce, PkceError> {
        check_verifier(&verifier)?;
        let challenge = challenge_s256(&verifier);
        Ok(Pkce {
            verifier: SecretString::from(verifier),
            challenge,
        })
    }

    pub fn verifier(&self) -> &SecretString {
        &self.verifier
    }

    /// `BASE64URL(SHA256(ASCII(verifier)))`, no padding.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }
}

/// A verifier that RFC 7636 section 4.1 does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    #[error("a PKCE verifier must be 43 to 128 characters long, this one has {0}")]
    Length(usize),
    #[error("a PKCE verifier may only contain A-Z a-z 0-9 - . _ ~")]
    Alphabet,
}

fn check_verifier(v: &str) -> Result<(), PkceError> {
    if !(43..=128).contains(&v.len()) {
        return Err(PkceError::Length(v.len()));
    }
    if !v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    {
        return Err(PkceError::Alphabet);
    }
    Ok(())
}

/// The S256 challenge of a verifier.
pub fn challenge_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn rfc7636_appendix_b_known_answer() {
        let p = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into()).unwrap();
        assert_eq!(p.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn generated_verifiers_are_long_distinct_and_valid() {
        let a = Pkce::generate();
        let b = Pkce::generate();
        assert_eq!(a.verifier().expose_secret().len(), 86);
        assert_ne!(a.verifier().expose_secret(), b.verifier().expose_secret());
        assert_eq!(a.challenge(), challenge_s256(a.verifier().expose_secret()));
    }

    #[test]
    fn bad_verifiers_are_refused() {
        assert_eq!(
            Pkce::from_verifier("short".into()).unwrap_err(),
            PkceError::Length(5)
        );
        assert_eq!(
            Pkce::from_verifier("a".repeat(129)).unwrap_err(),
            PkceError::Length(129)
        );
        assert_eq!(
            Pkce::from_verifier(format!("{}+", "a".repeat(50))).unwrap_err(),
            PkceError::Alphabet
        );
    }

    #[test]
    fn debug_hides_the_verifier() {
        let p = Pkce::generate();
        let dbg = format!("{p:?}");
        assert!(!dbg.contains(p.verifier().expose_secret()), "{dbg}");
        assert!(dbg.contains(p.challenge()));
    }
}
