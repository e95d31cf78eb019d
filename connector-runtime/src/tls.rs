//! The TLS client configuration of an instance's default HTTP client: the platform's
//! certificate verifier (the system's root store, as reqwest's own default), built at the first
//! TLS handshake instead of when the client is built.
//!
//! Reading and parsing the system's root certificates costs a few milliseconds of a short
//! `connector run`, and a run against an `http://` API never needs them. The verifier here
//! checks exactly as [`rustls_platform_verifier::Verifier`] does (it is one, created on first
//! use); only the moment the roots are read changes. Instances with their own TLS settings
//! (a CA, a client certificate, verification off) are built by reqwest as before.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use rustls_platform_verifier::Verifier;

/// The rustls configuration reqwest would build by default (TLS 1.2 and 1.3, ALPN `h2` and
/// `http/1.1`, SNI, no client certificate), with the platform verifier created lazily.
pub(crate) fn default_client_config() -> Result<ClientConfig, rustls::Error> {
    let provider = provider();
    let verifier = LazyPlatformVerifier::new(Arc::clone(&provider));
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The process's default rustls provider if one is installed, else the one of this build:
/// aws-lc-rs (`aws-lc`), or ring (`ring` alone).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(build_provider()))
}

#[cfg(feature = "aws-lc")]
fn build_provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

#[cfg(all(feature = "ring", not(feature = "aws-lc")))]
fn build_provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// reqwest builds the TLS configuration itself for an instance with TLS settings of its own
/// (a CA, a client certificate); without `aws-lc` it has no provider of its own and uses the
/// process default, so this build's provider is installed as that default when none is.
pub(crate) fn ensure_process_provider() {
    if CryptoProvider::get_default().is_none() {
        // Another thread may install one first; theirs is then the default, which is fine.
        let _ = build_provider().install_default();
    }
}

/// A [`Verifier`] created on the first certificate to verify. A failure to create it (no
/// root certificate on the system) fails that handshake and every later one, as reqwest's
/// client build would have failed.
#[derive(Debug)]
struct LazyPlatformVerifier {
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Result<Verifier, rustls::Error>>,
}

impl LazyPlatformVerifier {
    fn new(provider: Arc<CryptoProvider>) -> LazyPlatformVerifier {
        LazyPlatformVerifier {
            provider,
            verifier: OnceLock::new(),
        }
    }

    fn get(&self) -> Result<&Verifier, rustls::Error> {
        self.verifier
            .get_or_init(|| Verifier::new(Arc::clone(&self.provider)))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyPlatformVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.get()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls13_signature(message, cert, dss)
    }

    /// Offered in the ClientHello, before any certificate: the provider's schemes, which are
    /// what the platform verifier (WebPKI over the same provider) supports.
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed() -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn the_roots_are_read_at_the_first_certificate_and_a_self_signed_one_is_refused() {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let lazy = LazyPlatformVerifier::new(Arc::clone(&provider));
        assert_eq!(
            lazy.supported_verify_schemes(),
            Verifier::new(provider).unwrap().supported_verify_schemes(),
            "the same schemes as the platform verifier, without creating it"
        );
        assert!(
            lazy.verifier.get().is_none(),
            "nothing read before a handshake"
        );

        let err = lazy
            .verify_server_cert(
                &self_signed(),
                &[],
                &ServerName::try_from("localhost").unwrap(),
                &[],
                UnixTime::now(),
            )
            .expect_err("a self-signed certificate is not trusted");
        assert!(
            matches!(err, rustls::Error::InvalidCertificate(_)),
            "{err:?}"
        );
        assert!(lazy.verifier.get().is_some_and(Result::is_ok));
    }

    #[test]
    fn the_default_configuration_offers_h2_and_http1_with_sni() {
        let config = default_client_config().unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        assert!(config.enable_sni);
        assert!(!config.client_auth_cert_resolver.has_certs());
    }
}
