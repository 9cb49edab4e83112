//! XoT (DNS zone transfers over TLS, RFC 9103): the rustls server configuration of each
//! `[[tls]]` listener, and its reload.
//!
//! TLS 1.3 only (RFC 9103 section 9 asks for 1.3); ALPN "dot" required: a client that offers
//! no ALPN, or not "dot", gets no certificate and the handshake fails with an alert (named
//! refuses such clients too). Session resumption: stateless tickets (two per full handshake,
//! rustls' default), with a ticket key shared by every core and kept across reloads, so a
//! secondary that reconnects after a SIGHUP still resumes. No 0-RTT data (a replayed query
//! would start a transfer twice).
//!
//! Certificate and key are loaded at start (a bad file is an error that names it) and again on
//! SIGHUP: a reload that fails logs why and keeps the configuration it had. Each new
//! connection takes the configuration current when it is accepted; connections already open
//! keep theirs.
//!
//! The record layer runs in the serving cores (core.rs): rustls' buffered connection, fed
//! ciphertext the ring received and drained into a bounded per-connection buffer the ring
//! sends. This kernel has no kernel TLS (CONFIG_TLS is not set), so records are encrypted in
//! user space; see BENCHMARKS.md for what that costs against the cipher's own speed.

use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::{bail, Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, StoresServerSessions, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use crate::config::TlsListenerConfig;

/// The ALPN protocol of DNS over TLS (RFC 7858, RFC 9103 section 7.1).
pub const ALPN_DOT: &[u8] = b"dot";

/// Sessions kept for stateful resumption by clients that do not take tickets, per listener.
pub const SESSION_CACHE_ENTRIES: usize = 1024;

/// One listener's TLS state: its current server configuration and what a reload keeps.
pub struct TlsContext {
    config: RwLock<Arc<ServerConfig>>,
    settings: RwLock<TlsListenerConfig>,
    ticketer: Arc<dyn rustls::server::ProducesTickets>,
    sessions: Arc<dyn StoresServerSessions + Send + Sync>,
}

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsContext")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl TlsContext {
    /// Loads the listener's certificate chain, key and client CA; every error names the file.
    pub fn load(settings: &TlsListenerConfig) -> Result<TlsContext> {
        let ticketer = rustls::crypto::ring::Ticketer::new()
            .map_err(|e| anyhow::anyhow!("creating the TLS session ticket key: {e}"))?;
        let sessions: Arc<dyn StoresServerSessions + Send + Sync> =
            rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES);
        let config = build(settings, &ticketer, &sessions)?;
        Ok(TlsContext {
            config: RwLock::new(Arc::new(config)),
            settings: RwLock::new(settings.clone()),
            ticketer,
            sessions,
        })
    }

    /// The configuration new connections get.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.config.read().expect("tls config lock").clone()
    }

    /// Loads the files again (from `settings`, the reloaded configuration's, when given);
    /// on error keeps what it had and says why.
    pub fn reload(&self, settings: Option<&TlsListenerConfig>) -> Result<()> {
        let settings = match settings {
            Some(s) => s.clone(),
            None => self.settings.read().expect("tls settings lock").clone(),
        };
        let config = build(&settings, &self.ticketer, &self.sessions)?;
        *self.config.write().expect("tls config lock") = Arc::new(config);
        *self.settings.write().expect("tls settings lock") = settings;
        Ok(())
    }

    /// The listener's padding block (0: it does not pad), as last (re)loaded.
    pub fn pad_block(&self) -> usize {
        self.settings.read().expect("tls settings lock").pad_block
    }

    pub fn listen(&self) -> Vec<std::net::SocketAddr> {
        self.settings
            .read()
            .expect("tls settings lock")
            .listen
            .clone()
    }
}

/// The certificate chain in a PEM file: at least one CERTIFICATE block.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{}: not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        bail!(
            "{}: no PEM CERTIFICATE block (expected \"-----BEGIN CERTIFICATE-----\")",
            path.display()
        );
    }
    Ok(certs)
}

fn build(
    settings: &TlsListenerConfig,
    ticketer: &Arc<dyn rustls::server::ProducesTickets>,
    sessions: &Arc<dyn StoresServerSessions + Send + Sync>,
) -> Result<ServerConfig> {
    let provider = Arc::new(provider());
    let chain = certificates(&settings.cert).context("tls: cert")?;
    let key_pem = std::fs::read(&settings.key)
        .with_context(|| format!("reading {}", settings.key.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        anyhow::anyhow!(
            "tls: key {}: not a PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            settings.key.display()
        )
    })?;
    let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
        anyhow::anyhow!(
            "tls: key {} does not go with the certificate {}: {e}",
            settings.key.display(),
            settings.cert.display()
        )
    })?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("tls: TLS 1.3 with the ring provider")?;
    let builder = match &settings.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certificates(ca).context("tls: client_ca")? {
                roots
                    .add(c)
                    .with_context(|| format!("tls: client_ca {}", ca.display()))?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .with_context(|| format!("tls: client_ca {}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(DotOnly(Arc::new(certified))));
    config.alpn_protocols = vec![ALPN_DOT.to_vec()];
    config.ticketer = ticketer.clone();
    config.session_storage = sessions.clone();
    config.max_early_data_size = 0;
    Ok(config)
}

/// The crypto provider: ring (AES-GCM with AES-NI, ChaCha20, X25519/P-256 key exchange; builds
/// with cc alone). rustls 0.23.48 deprecates it for lacking post-quantum key exchange
/// (X25519MLKEM768, which aws-lc-rs has); the ciphers that carry the zone are the same.
///
/// Key exchange: X25519 first, then P-256, P-384. ring's own order puts P-384 first, and a
/// server picks the first of its groups the client sent a share for: a client that sends
/// several shares would get P-384, about 1 ms more CPU per full handshake here (measured with
/// xfr-bench's TLS clients).
#[allow(deprecated)]
pub fn provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::ring::kx_group;
    let mut p = rustls::crypto::ring::default_provider();
    p.kx_groups = vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1];
    p
}

/// Gives the certificate only to a client that offers ALPN "dot": any other handshake fails
/// (RFC 9103 section 7.1: XoT clients MUST offer "dot"; named refuses those that do not).
#[derive(Debug)]
struct DotOnly(Arc<CertifiedKey>);

impl ResolvesServerCert for DotOnly {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let offers_dot = hello.alpn().is_some_and(|mut a| a.any(|p| p == ALPN_DOT));
        offers_dot.then(|| self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path) -> TlsListenerConfig {
        let cert = rcgen::generate_simple_self_signed(vec!["xfr.test".into()]).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
        TlsListenerConfig {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            client_ca: None,
            pad_block: 468,
        }
    }

    #[test]
    fn loads_and_reload_keeps_the_old_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = write_pair(dir.path());
        let ctx = TlsContext::load(&s).unwrap();
        let before = ctx.config();
        assert_eq!(before.alpn_protocols, vec![b"dot".to_vec()]);
        std::fs::write(&s.cert, "not a certificate\n").unwrap();
        let e = format!("{:#}", ctx.reload(None).unwrap_err());
        assert!(e.contains("cert.pem") && e.contains("CERTIFICATE"), "{e}");
        assert!(Arc::ptr_eq(&before, &ctx.config()), "the old config stays");
        // A key of another certificate.
        let other = rcgen::generate_simple_self_signed(vec!["other.test".into()]).unwrap();
        let s2 = write_pair(dir.path());
        std::fs::write(&s2.key, other.key_pair.serialize_pem()).unwrap();
        let e = format!("{:#}", ctx.reload(Some(&s2)).unwrap_err());
        assert!(e.contains("does not go with"), "{e}");
        let good = write_pair(dir.path());
        ctx.reload(Some(&good)).unwrap();
        assert!(!Arc::ptr_eq(&before, &ctx.config()));
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = write_pair(dir.path());
        s.key = dir.path().join("missing.pem");
        let e = format!("{:#}", TlsContext::load(&s).unwrap_err());
        assert!(e.contains("missing.pem"), "{e}");
        let mut s = write_pair(dir.path());
        std::fs::write(dir.path().join("k2.pem"), "-----BEGIN NOTHING-----\n").unwrap();
        s.key = dir.path().join("k2.pem");
        let e = format!("{:#}", TlsContext::load(&s).unwrap_err());
        assert!(e.contains("k2.pem") && e.contains("private key"), "{e}");
    }
}
