#![allow(clippy::unwrap_used, clippy::expect_used)]
//! TLS at the protocol level: which authentication a client is asked for
//! with and without TLS, checked with a rustls client that trusts the test
//! certificate.

mod common;

use std::sync::Arc;

use common::raw::{startup_packet, typed};
use common::TestServer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use weir_gateway::config::{Config, TlsConfig};

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn tls(c: &mut Config) {
    c.tls = Some(TlsConfig {
        cert: fixtures().join("test-cert.pem"),
        key: fixtures().join("test-key.pem"),
        required: false,
    });
    c.auth.cleartext_over_tls = true;
}

async fn tls_connect(addr: std::net::SocketAddr) -> tokio_rustls::client::TlsStream<TcpStream> {
    use rustls_pki_types::pem::PemObject;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut req = 8i32.to_be_bytes().to_vec();
    req.extend_from_slice(&80_877_103i32.to_be_bytes());
    tcp.write_all(&req).await.unwrap();
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"S");
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        rustls_pki_types::CertificateDer::pem_file_iter(fixtures().join("test-ca.pem")).unwrap()
    {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap()
}

/// Send a startup packet and return the authentication request code.
async fn auth_code<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> i32 {
    s.write_all(&startup_packet(&[("user", "weir"), ("database", "lake")]))
        .await
        .unwrap();
    let mut head = [0u8; 9];
    s.read_exact(&mut head).await.unwrap();
    assert_eq!(head[0], b'R');
    i32::from_be_bytes([head[5], head[6], head[7], head[8]])
}

#[tokio::test]
async fn cleartext_passwords_are_asked_for_only_over_tls() {
    let s = TestServer::start_with(tls).await;

    let mut plain = TcpStream::connect(s.addr).await.unwrap();
    assert_eq!(
        auth_code(&mut plain).await,
        10,
        "plain TCP gets SASL (SCRAM-SHA-256)"
    );

    let mut secure = tls_connect(s.addr).await;
    assert_eq!(
        auth_code(&mut secure).await,
        3,
        "TLS gets a cleartext password request"
    );
    secure.write_all(&typed(b'p', b"weir\0")).await.unwrap();
    let mut ok = [0u8; 9];
    secure.read_exact(&mut ok).await.unwrap();
    assert_eq!(
        (ok[0], i32::from_be_bytes([ok[5], ok[6], ok[7], ok[8]])),
        (b'R', 0),
        "AuthenticationOk"
    );

    let mut wrong = tls_connect(s.addr).await;
    assert_eq!(auth_code(&mut wrong).await, 3);
    wrong.write_all(&typed(b'p', b"nope\0")).await.unwrap();
    let mut e = vec![0u8; 256];
    let n = wrong.read(&mut e).await.unwrap();
    let text = String::from_utf8_lossy(&e[..n]);
    assert!(e[0] == b'E' && text.contains("28P01"), "{text}");
}
