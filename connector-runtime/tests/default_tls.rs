//! The default client's TLS (`src/tls.rs`): with no TLS settings of its own, an instance's
//! client verifies the server's certificate against the system's roots, read at the first
//! handshake. A loopback server with a self-signed certificate is refused before any request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::AsyncWriteExt;

/// A TLS server on 127.0.0.1 with a self-signed certificate for `localhost` that answers 200
/// to anything; returns the port and the number of handshakes that completed.
async fn self_signed_server() -> (u16, Arc<AtomicUsize>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&handshakes);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(mut tls) = acceptor.clone().accept(tcp).await else {
                continue;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = tls
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await;
        }
    });
    (port, handshakes)
}

#[tokio::test]
async fn the_default_client_refuses_a_self_signed_server_certificate() {
    let (port, handshakes) = self_signed_server().await;
    let client =
        connector_runtime::client::build_reqwest(Duration::from_secs(5), None, None).unwrap();
    let err = client
        .get(format!("https://localhost:{port}/"))
        .send()
        .await
        .expect_err("a self-signed certificate is not trusted");
    assert!(err.is_connect(), "{err:?}");
    let chain = format!("{err:?}");
    assert!(
        chain.contains("UnknownIssuer") || chain.contains("certificate"),
        "the refusal names the certificate: {chain}"
    );
    assert_eq!(
        handshakes.load(Ordering::SeqCst),
        0,
        "no handshake completed"
    );
}
