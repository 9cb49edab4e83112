//! TLS for the XoT tests: a certificate authority made for the test (rcgen), the server
//! certificate xfrd presents (names `xfr.test` and 127.0.0.1), a client certificate for
//! mutual TLS, and rustls clients configured as a test needs (ALPN "dot" or none, TLS 1.3 or
//! 1.2 only, resumption, a client certificate).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// The server name in xfrd's test certificate.
pub const SERVER_NAME: &str = "xfr.test";

/// PEM files of a test PKI.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// Makes a CA, a server certificate for [`SERVER_NAME`] and 127.0.0.1, and a client certificate,
/// all signed by the CA, as PEM files in `dir`.
pub fn make_pki(dir: &Path) -> Result<Pki> {
    std::fs::create_dir_all(dir)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "xfrd test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let mut server = CertificateParams::new(vec![SERVER_NAME.to_string(), "127.0.0.1".into()])?;
    server
        .distinguished_name
        .push(DnType::CommonName, SERVER_NAME);
    let server_key = KeyPair::generate()?;
    let server_cert = server.signed_by(&server_key, &ca, &ca_key)?;
    let mut client = CertificateParams::new(vec!["secondary.test".to_string()])?;
    client
        .distinguished_name
        .push(DnType::CommonName, "secondary.test");
    let client_key = KeyPair::generate()?;
    let client_cert = client.signed_by(&client_key, &ca, &ca_key)?;
    let pki = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        client_cert: dir.join("client-cert.pem"),
        client_key: dir.join("client-key.pem"),
    };
    std::fs::write(&pki.ca, ca.pem())?;
    std::fs::write(&pki.cert, server_cert.pem())?;
    std::fs::write(&pki.key, server_key.serialize_pem())?;
    std::fs::write(&pki.client_cert, client_cert.pem())?;
    std::fs::write(&pki.client_key, client_key.serialize_pem())?;
    Ok(pki)
}

/// How a test client connects.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Offer ALPN "dot" (RFC 9103 requires it).
    pub alpn: bool,
    /// Offer TLS 1.2 only (xfrd must refuse).
    pub tls12_only: bool,
    /// Present this certificate and key (mutual TLS).
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            alpn: true,
            tls12_only: false,
            client_cert: None,
        }
    }
}

#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration trusting `ca` only. Sessions are kept in memory (resumption on): the
/// same configuration used again resumes.
pub fn client_config(ca: &Path, opts: &ClientOptions) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).context("CA file")? {
        roots.add(c?)?;
    }
    let versions: &[&rustls::SupportedProtocolVersion] = if opts.tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)?
        .with_root_certificates(roots);
    let mut config = match &opts.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
            builder.with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(key)?)?
        }
    };
    if opts.alpn {
        config.alpn_protocols = vec![b"dot".to_vec()];
    }
    Ok(Arc::new(config))
}

/// A TLS stream to xfrd.
pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Connects to 127.0.0.1:`port` and completes the handshake, checking the certificate against
/// `name`.
pub fn connect(port: u16, name: &str, config: Arc<rustls::ClientConfig>) -> Result<TlsStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(30)))?;
    let conn = rustls::ClientConnection::new(config, ServerName::try_from(name.to_string())?)?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn
            .complete_io(&mut s.sock)
            .context("TLS handshake with xfrd")?;
    }
    // The server's session tickets arrive after the handshake; a zero-byte write flushes
    // nothing and reads nothing, so callers that test resumption read a response first.
    s.flush()?;
    Ok(s)
}

/// Reads one length-prefixed DNS message; `None` at a clean end of stream.
pub fn read_message(s: &mut impl Read) -> Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match s.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut msg)?;
    Ok(Some(msg))
}
