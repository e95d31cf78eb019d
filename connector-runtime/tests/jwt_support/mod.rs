//! Test RSA keys for the JWT-signing auth types, made at test time, and verifying the JWTs
//! signed with them.

#![allow(dead_code)]

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use serde_json::Value;

/// A test-only RSA key, its PKCS#8 PEM and its public key (PKCS#1 DER).
pub struct TestKey {
    pub pem: String,
    pub public: Vec<u8>,
}

pub fn test_key() -> TestKey {
    let kp = KeyPair::generate(KeySize::Rsa2048).expect("key generation");
    let der = kp.as_der().expect("pkcs8");
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let body: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    TestKey {
        pem: format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            body.join("\n")
        ),
        public: kp.public_key().as_ref().to_vec(),
    }
}

/// Lines of the PEM body: what must never appear in output.
pub fn key_canaries(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 32)
        .map(str::to_string)
        .collect()
}

/// Decode a JWT, verify its RS256 signature with `public`, return (header, claims).
pub fn verified(jwt: &str, public: &[u8]) -> (Value, Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let d = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .expect("base64url without padding")
    };
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
        .verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &d(parts[2]),
        )
        .expect("the signature verifies with the public key");
    let header = serde_json::from_slice(&d(parts[0])).unwrap();
    let claims = serde_json::from_slice(&d(parts[1])).unwrap();
    (header, claims)
}
