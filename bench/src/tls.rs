//! The client side of zone transfers over TLS (XoT, RFC 9103): the rustls configuration and
//! one connection's TLS state, driven by the caller's socket and buffers.
//!
//! Owns: the client configuration (TLS 1.3 only, ALPN "dot", the server certificate checked
//! against `--tls-ca` and `--tls-name`, one session store for the whole run with
//! `--tls-resume`), and `TlsConn`: a rustls `UnbufferedClientConnection` plus what it carries
//! between reads (the incomplete TLS record and the incomplete DNS frame). Does not own the
//! socket, the clock or the transfer's checks: the drivers (`evloop.rs`, `load.rs`) read into
//! their one buffer per thread and call `TlsConn::progress`, which decrypts and hands every
//! complete DNS message to `xfr::Transfer` as the plain TCP paths do.
//!
//! Why the unbuffered API: rustls's `ClientConnection` reads at most one TLS record (about 16
//! KiB) per read(2) into a buffer it resizes and shrinks as it goes; here the driver's 256 KiB
//! reads land in the thread's buffer, records are decrypted in place there, and DNS frames are
//! read from the decrypted records directly; only a frame split between two records is copied
//! (into the connection's carried frame, whose capacity is reused). rustls 0.23 still copies
//! each decrypted record into a `Vec` of its own before it hands it out (both APIs do).
//!
//! Key exchange: X25519 first, then P-256 and P-384. The ring provider lists P-384 first,
//! which costs about 1 ms of CPU per full handshake on each side.
//!
//! Bounds: the carried TLS bytes are at most `TLS_CARRY_BYTES` (a handshake message rustls
//! joins across records is at most 64 KiB, an application record at most 16 KiB plus its
//! overhead); more is an error, never a larger buffer.

use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, Resumption, Tls12ClientSessionValue,
    Tls13ClientSessionValue, UnbufferedClientConnection,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError};
use rustls::HandshakeKind;

use crate::load::io_err;
use crate::xfr::{Step, Transfer, XfrError};

/// ALPN of DNS over TLS, which RFC 9103 section 7.1 requires for XoT.
pub const ALPN_DOT: &[u8] = b"dot";
/// TLS 1.3 tickets the client-wide store keeps per server name, and server names it keeps
/// (a run has one). rustls's `ClientSessionMemoryCache` keeps at most 8 tickets per name,
/// which 64 connections that start together use up: measured against xfrd at concurrency 64,
/// 1,291 of 3,000 connections made full handshakes with it, though xfrd sends tickets after
/// every handshake. Each ticket is used once (RFC 8446 section 4.6.1, C.4).
pub const SESSION_CACHE_ENTRIES: usize = 4096;
/// The most TLS bytes a connection carries from one read to the next: a handshake message of
/// up to 64 KiB (rustls's limit) plus one record's header.
pub(crate) const TLS_CARRY_BYTES: usize = 0x10000 + 5 + 16 * 1024 + 256;

/// `--tls`, `--tls-ca`, `--tls-name`, `--tls-resume`.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// PEM file of the CA certificates the server's certificate must chain to.
    pub ca: PathBuf,
    /// The name (or IP address) the server's certificate must hold.
    pub name: String,
    /// Keep sessions in one store for the whole run and resume them (tickets).
    pub resume: bool,
    /// Queries carry an EDNS Padding option (RFC 7830), padded to a multiple of 128 bytes
    /// (RFC 8467 section 4.1): a server that pads answers every message padded.
    pub padding: bool,
}

/// The ring provider with X25519 as the first key exchange group.
pub fn provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::ring::kx_group;
    #[allow(deprecated)] // 0.23.48 deprecates it for lacking post-quantum groups
    let mut p = rustls::crypto::ring::default_provider();
    p.kx_groups = vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1];
    p
}

/// The run's TLS client: one configuration (and session store) shared by every connection.
pub(crate) struct TlsClient {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl TlsClient {
    pub(crate) fn new(opts: &TlsOptions) -> anyhow::Result<TlsClient> {
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(&opts.ca)
            .with_context(|| format!("--tls-ca {}", opts.ca.display()))?;
        for c in certs {
            roots
                .add(c.with_context(|| format!("--tls-ca {}", opts.ca.display()))?)
                .context("--tls-ca: not a CA certificate")?;
        }
        anyhow::ensure!(
            !roots.is_empty(),
            "--tls-ca {}: no certificate in it",
            opts.ca.display()
        );
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .context("TLS 1.3 with the ring provider")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![ALPN_DOT.to_vec()];
        config.resumption = if opts.resume {
            Resumption::store(Arc::new(TicketStore::default()))
        } else {
            Resumption::disabled()
        };
        let name = ServerName::try_from(opts.name.clone()).with_context(|| {
            format!("--tls-name {:?} is not a DNS name or IP address", opts.name)
        })?;
        Ok(TlsClient {
            config: Arc::new(config),
            name,
        })
    }

    /// A new connection's TLS state; `query` (its length prefix included) is sent once the
    /// handshake allows.
    pub(crate) fn connect(&self, query: Vec<u8>) -> Result<TlsConn, XfrError> {
        let conn = UnbufferedClientConnection::new(self.config.clone(), self.name.clone())
            .map_err(tls_err)?;
        Ok(TlsConn {
            conn,
            query,
            out: Vec::with_capacity(2048),
            out_sent: 0,
            ctext: Vec::new(),
            plain: Vec::new(),
            started: false,
            handshake: None,
            first_byte: None,
            bytes: 0,
        })
    }
}

/// The run's session store: TLS 1.3 tickets, up to `SESSION_CACHE_ENTRIES` per server name,
/// the newest used first; key exchange hints (and TLS 1.2 sessions, never used: TLS 1.3
/// only) in rustls's memory cache.
#[derive(Debug)]
struct TicketStore {
    tickets: std::sync::Mutex<
        std::collections::HashMap<
            ServerName<'static>,
            std::collections::VecDeque<Tls13ClientSessionValue>,
        >,
    >,
    rest: ClientSessionMemoryCache,
}

impl Default for TicketStore {
    fn default() -> Self {
        TicketStore {
            tickets: Default::default(),
            rest: ClientSessionMemoryCache::new(SESSION_CACHE_ENTRIES),
        }
    }
}

impl ClientSessionStore for TicketStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: rustls::NamedGroup) {
        self.rest.set_kx_hint(name, group);
    }
    fn kx_hint(&self, name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.rest.kx_hint(name)
    }
    fn set_tls12_session(&self, name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.rest.set_tls12_session(name, value);
    }
    fn tls12_session(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.rest.tls12_session(name)
    }
    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.rest.remove_tls12_session(name);
    }
    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: Tls13ClientSessionValue) {
        let mut map = self.tickets.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(&name) && map.len() >= SESSION_CACHE_ENTRIES {
            return;
        }
        let q = map.entry(name).or_default();
        if q.len() >= SESSION_CACHE_ENTRIES {
            q.pop_front();
        }
        q.push_back(value);
    }
    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        let mut map = self.tickets.lock().unwrap_or_else(|p| p.into_inner());
        map.get_mut(name)?.pop_back()
    }
}

fn tls_err(e: rustls::Error) -> XfrError {
    XfrError::Tls(e.to_string())
}

/// A finished handshake: whether the session was resumed, how long it took from the start of
/// the connect, and the key exchange group (none for a resumption without one).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Handshake {
    pub(crate) resumed: bool,
    pub(crate) took: Duration,
    pub(crate) kx: Option<rustls::NamedGroup>,
}

/// What `progress` did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// The socket would block: wait for the next event (or, blocking, read again).
    Pending,
    /// The transfer's last message was read.
    Done,
}

/// One XoT connection's TLS state and what it carries between reads.
pub(crate) struct TlsConn {
    conn: UnbufferedClientConnection,
    /// The query frame, until it is encrypted into `out`.
    query: Vec<u8>,
    /// TLS bytes to send, `out_sent` of them sent.
    out: Vec<u8>,
    out_sent: usize,
    /// The incomplete TLS record at the end of the last read.
    ctext: Vec<u8>,
    /// The incomplete DNS frame at the end of the last decrypted record.
    plain: Vec<u8>,
    started: bool,
    handshake: Option<Handshake>,
    /// When the first byte of the response was decrypted.
    pub(crate) first_byte: Option<Instant>,
    /// Bytes of the DNS stream (length prefixes included), as plain TCP counts them.
    pub(crate) bytes: u64,
}

impl TlsConn {
    /// The handshake, once it has finished.
    pub(crate) fn handshake(&self) -> Option<Handshake> {
        self.handshake
    }

    /// Move the connection as far as `sock` allows: write what is pending, read what has
    /// arrived into `buf` (its first `TLS_CARRY_BYTES` hold the carried record), decrypt it
    /// and feed every complete message to `xfr`. `t0` is when the connect started.
    /// `closed`: the event said the peer closed, so read until that shows even after a short
    /// read.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn progress<S: Read + Write>(
        &mut self,
        sock: &mut S,
        buf: &mut [u8],
        xfr: &mut Transfer,
        t0: Instant,
        now_s: u64,
        verify: bool,
        closed: bool,
    ) -> Result<Progress, XfrError> {
        let carry = TLS_CARRY_BYTES;
        assert!(
            buf.len() > carry,
            "the TLS read buffer holds the carry and a read"
        );
        if !self.started {
            // The ClientHello.
            self.started = true;
            self.process(&mut [], xfr, t0, now_s, verify)?;
        }
        loop {
            self.flush(sock)?;
            let n = match sock.read(&mut buf[carry..]) {
                Ok(0) if self.handshake.is_none() => {
                    return Err(XfrError::Tls(
                        "the server closed the connection during the handshake (is it a TLS \
                         listener?)"
                            .into(),
                    ))
                }
                Ok(0) => return Err(XfrError::Truncated),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Progress::Pending),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err(e)),
            };
            let pos = carry - self.ctext.len();
            buf[pos..carry].copy_from_slice(&self.ctext);
            self.ctext.clear();
            let end = carry + n;
            let (used, step) = self.process(&mut buf[pos..end], xfr, t0, now_s, verify)?;
            if step == Some(Step::Done) {
                return Ok(Progress::Done);
            }
            let rest = &buf[pos + used..end];
            if rest.len() > carry {
                return Err(XfrError::Tls(format!(
                    "{} bytes of an incomplete TLS message, more than {carry}",
                    rest.len()
                )));
            }
            self.ctext.extend_from_slice(rest);
            if step.is_none() {
                // The peer closed (close_notify) before the transfer ended.
                return Err(XfrError::Truncated);
            }
            // Send what the records asked for (the query once the handshake is done).
            self.flush(sock)?;
            if end < buf.len() && !closed {
                // A short read emptied the receive queue; what arrives later raises a new edge
                // (as in evloop.rs).
                return Ok(Progress::Pending);
            }
        }
    }

    /// Write pending TLS bytes until done or the socket would block.
    fn flush<S: Write>(&mut self, sock: &mut S) -> Result<(), XfrError> {
        while self.out_sent < self.out.len() {
            match sock.write(&self.out[self.out_sent..]) {
                Ok(0) => return Err(XfrError::Io("write returned 0".into())),
                Ok(n) => self.out_sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if !self.started || self.handshake.is_none() => {
                    return Err(XfrError::Connect(e.to_string()))
                }
                Err(e) => return Err(io_err(e)),
            }
        }
        self.out.clear();
        self.out_sent = 0;
        Ok(())
    }

    /// Run rustls over `data` (whole and partial TLS records) until it needs more. Returns
    /// the bytes used up and `Some(More)`, `Some(Done)` when the transfer ended, or `None`
    /// when the peer closed the TLS session.
    fn process(
        &mut self,
        data: &mut [u8],
        xfr: &mut Transfer,
        t0: Instant,
        now_s: u64,
        verify: bool,
    ) -> Result<(usize, Option<Step>), XfrError> {
        let mut start = 0usize;
        loop {
            let status = self.conn.process_tls_records(&mut data[start..]);
            let mut discard = status.discard;
            let mut step = Step::More;
            let mut stop = false;
            match status.state.map_err(tls_err)? {
                ConnectionState::EncodeTlsData(mut e) => {
                    let at = self.out.len();
                    self.out.resize(at + 4096, 0);
                    let n = match e.encode(&mut self.out[at..]) {
                        Ok(n) => n,
                        Err(EncodeError::InsufficientSize(s)) => {
                            self.out.resize(at + s.required_size, 0);
                            e.encode(&mut self.out[at..])
                                .map_err(|e| XfrError::Tls(e.to_string()))?
                        }
                        Err(e) => return Err(XfrError::Tls(e.to_string())),
                    };
                    self.out.truncate(at + n);
                }
                // The encoded bytes are in `out`; the drivers write them.
                ConnectionState::TransmitTlsData(t) => t.done(),
                ConnectionState::BlockedHandshake => stop = true,
                ConnectionState::WriteTraffic(mut w) => {
                    if !self.query.is_empty() {
                        let at = self.out.len();
                        self.out.resize(at + self.query.len() + 256, 0);
                        let n = match w.encrypt(&self.query, &mut self.out[at..]) {
                            Ok(n) => n,
                            Err(EncryptError::InsufficientSize(s)) => {
                                self.out.resize(at + s.required_size, 0);
                                w.encrypt(&self.query, &mut self.out[at..])
                                    .map_err(|e| XfrError::Tls(e.to_string()))?
                            }
                            Err(e) => return Err(XfrError::Tls(e.to_string())),
                        };
                        self.out.truncate(at + n);
                        self.query.clear();
                    }
                    stop = true;
                }
                ConnectionState::ReadTraffic(mut r) => {
                    while let Some(rec) = r.next_record() {
                        let rec = rec.map_err(tls_err)?;
                        discard += rec.discard;
                        if self.first_byte.is_none() && !rec.payload.is_empty() {
                            self.first_byte = Some(Instant::now());
                        }
                        self.bytes += rec.payload.len() as u64;
                        step = feed_frames(&mut self.plain, rec.payload, xfr, now_s, verify)?;
                        if step == Step::Done {
                            break;
                        }
                    }
                }
                ConnectionState::PeerClosed | ConnectionState::Closed => {
                    return Ok((start + discard, None));
                }
                other => return Err(XfrError::Tls(format!("unexpected TLS state {other:?}"))),
            }
            start += discard;
            if self.handshake.is_none() && !self.conn.is_handshaking() {
                self.handshake = Some(Handshake {
                    resumed: self.conn.handshake_kind() == Some(HandshakeKind::Resumed),
                    took: t0.elapsed(),
                    kx: self.conn.negotiated_key_exchange_group().map(|g| g.name()),
                });
            }
            if step == Step::Done {
                return Ok((start, Some(Step::Done)));
            }
            if stop {
                return Ok((start, Some(Step::More)));
            }
        }
    }
}

/// Feed the DNS stream bytes `bytes` to `xfr`: complete frames straight from `bytes`, a frame
/// split across calls through `partial` (which carries it to the next call). With `verify`,
/// bytes after the final message are an error.
fn feed_frames(
    partial: &mut Vec<u8>,
    mut bytes: &[u8],
    xfr: &mut Transfer,
    now_s: u64,
    verify: bool,
) -> Result<Step, XfrError> {
    if !partial.is_empty() {
        // Complete the carried frame first: its length, then its body.
        if partial.len() < 2 {
            let take = (2 - partial.len()).min(bytes.len());
            partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if partial.len() < 2 {
                return Ok(Step::More);
            }
        }
        let want = 2 + u16::from_be_bytes([partial[0], partial[1]]) as usize;
        let take = (want - partial.len()).min(bytes.len());
        partial.extend_from_slice(&bytes[..take]);
        bytes = &bytes[take..];
        if partial.len() < want {
            return Ok(Step::More);
        }
        let step = xfr.on_message(&partial[2..], now_s)?;
        partial.clear();
        if step == Step::Done {
            return end_of_stream(bytes, verify);
        }
    }
    while bytes.len() >= 2 {
        let len = u16::from_be_bytes([bytes[0], bytes[1]]) as usize;
        if bytes.len() < 2 + len {
            break;
        }
        let step = xfr.on_message(&bytes[2..2 + len], now_s)?;
        bytes = &bytes[2 + len..];
        if step == Step::Done {
            return end_of_stream(bytes, verify);
        }
    }
    partial.extend_from_slice(bytes);
    Ok(Step::More)
}

fn end_of_stream(rest: &[u8], verify: bool) -> Result<Step, XfrError> {
    if verify && !rest.is_empty() {
        return Err(XfrError::TrailingData);
    }
    Ok(Step::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xfr::Kind;

    fn msg(id: u16) -> Vec<u8> {
        // Header, question "ex." AXFR, one SOA answer (serial 1).
        let mut m = Vec::new();
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&[0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0]);
        m.extend_from_slice(b"\x02ex\x00\x00\xfc\x00\x01");
        m.extend_from_slice(b"\xc0\x0c\x00\x06\x00\x01\x00\x00\x01\x2c\x00\x16\x00\x00");
        m.extend_from_slice(&1u32.to_be_bytes());
        m.extend_from_slice(&[0; 16]);
        m
    }

    #[test]
    fn frames_split_anywhere_are_joined() {
        // An AXFR of two messages, each a lone SOA: the second ends it.
        let mut stream = Vec::new();
        for _ in 0..2 {
            let m = msg(7);
            stream.extend_from_slice(&(m.len() as u16).to_be_bytes());
            stream.extend_from_slice(&m);
        }
        for cut in 0..stream.len() {
            for cut2 in cut..stream.len() {
                let mut xfr = Transfer::new(Kind::Axfr, 7, true, None);
                let mut partial = Vec::new();
                let mut steps = Vec::new();
                for part in [&stream[..cut], &stream[cut..cut2], &stream[cut2..]] {
                    steps.push(feed_frames(&mut partial, part, &mut xfr, 0, true).unwrap());
                }
                assert_eq!(steps.last(), Some(&Step::Done), "cut at {cut}, {cut2}");
                assert_eq!(xfr.outcome().messages, 2);
            }
        }
        // Bytes after the final message: an error only with verify.
        let mut more = stream.clone();
        more.push(0);
        let mut xfr = Transfer::new(Kind::Axfr, 7, true, None);
        assert_eq!(
            feed_frames(&mut Vec::new(), &more, &mut xfr, 0, true),
            Err(XfrError::TrailingData)
        );
        let mut xfr = Transfer::new(Kind::Axfr, 7, false, None);
        assert_eq!(
            feed_frames(&mut Vec::new(), &more, &mut xfr, 0, false),
            Ok(Step::Done)
        );
    }

    #[test]
    fn x25519_is_offered_first() {
        let p = provider();
        assert_eq!(p.kx_groups[0].name(), rustls::NamedGroup::X25519);
        assert_eq!(p.kx_groups.len(), 3);
    }
}
