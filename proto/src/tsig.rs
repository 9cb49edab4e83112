//! TSIG (RFC 8945): signing and verifying DNS messages with a shared secret, over byte slices.
//!
//! What it owns: keys and their algorithms, parsing a TSIG record, the server's side (verify a
//! request, RFC 8945 section 5.2; sign every response message, each MAC chained on the previous
//! one, section 5.3.1; the error responses of section 5.3.2) and the client's side (sign a
//! request, section 5.1; verify a response stream, section 5.4). What it does not own: where the
//! record sits among the others (the query parser finds it, the engine appends it as one more
//! iovec after each pre-rendered body), key configuration, clocks (callers pass `now` in seconds
//! since the Unix epoch) and I/O.
//!
//! The MACs are HMACs from RustCrypto's `hmac` with `sha1`/`sha2`, which use the CPU's SHA
//! extensions when present: HMAC-SHA256 runs at about 1.2-1.5 GB/s on one core of the dev VM on
//! 16 KiB blocks, as fast as ring's and aws-lc's (measured side by side, 2026-12-06). A key holds
//! its HMAC already keyed (the inner and outer pads hashed once), so each message costs its own
//! bytes only; signing allocates nothing.
//!
//! Digests (RFC 8945 section 4.3): a request is digested as the message without its TSIG record
//! (ARCOUNT one less, the ID the Original ID) followed by the TSIG variables (key name and
//! algorithm name in canonical, lowercase form, class ANY, TTL 0, time signed, fudge, error,
//! other data). The first response message is digested after the request MAC (2-byte length
//! first); every later one after the previous message's MAC, with only the timers (time signed,
//! fudge) as variables. This module signs every message of a transfer (section 5.3.1 allows
//! gaps of up to 99 unsigned ones; strict secondaries check every one); its verifier accepts
//! gaps only when asked to ([`UnsignedRun::Rfc8945`]).

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha224, Sha256, Sha384, Sha512};

use crate::query::{read_record, skip_name, uncompressed_name_len};
use crate::wire::{read_u16, HEADER_BYTES, NAME_BYTES_MAX};

pub use crate::wire::{CLASS_ANY, TYPE_TSIG};
/// Seconds of clock difference allowed either way (RFC 8945 section 10 recommends 300).
pub const FUDGE_S: u16 = 300;
/// The longest MAC of the algorithms here (HMAC-SHA512).
pub const MAC_BYTES_MAX: usize = 64;
/// At most this many unsigned messages may follow a signed one (RFC 8945 section 5.3.1).
pub const UNSIGNED_RUN_MAX: usize = 99;

/// TSIG error codes (RFC 8945 section 3, IANA "DNS RCODEs").
pub const TSIG_ERROR_BADSIG: u16 = 16;
pub const TSIG_ERROR_BADKEY: u16 = 17;
pub const TSIG_ERROR_BADTIME: u16 = 18;
pub const TSIG_ERROR_BADTRUNC: u16 = 22;

/// Fixed bytes of a TSIG record besides its two names and the MAC and other data: type, class,
/// TTL, RDLENGTH (10), time signed (6), fudge (2), MAC size (2), original ID (2), error (2),
/// other length (2).
const RR_FIXED_BYTES: usize = 10 + 6 + 2 + 2 + 2 + 2 + 2;
/// Other data of a BADTIME response: the server's time, 48 bits.
const BADTIME_OTHER_BYTES: usize = 6;
/// The longest TSIG record this module writes: a key name of at most 255 bytes, an algorithm
/// name of at most 13 (`hmac-sha512.` in wire form), the longest MAC and BADTIME's other data.
pub const RR_BYTES_MAX: usize = NAME_BYTES_MAX
    + ALGORITHM_NAME_BYTES_MAX
    + RR_FIXED_BYTES
    + MAC_BYTES_MAX
    + BADTIME_OTHER_BYTES;
const ALGORITHM_NAME_BYTES_MAX: usize = 13;

/// The HMAC algorithms of RFC 8945 section 6 that xfrd implements (HMAC-MD5 is not: it is
/// deprecated, and its use is "not recommended").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    HmacSha1,
    HmacSha224,
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl Algorithm {
    pub const ALL: [Algorithm; 5] = [
        Algorithm::HmacSha1,
        Algorithm::HmacSha224,
        Algorithm::HmacSha256,
        Algorithm::HmacSha384,
        Algorithm::HmacSha512,
    ];

    /// The name as written in configurations and on `dig -y`: `hmac-sha256`.
    pub fn text_name(self) -> &'static str {
        match self {
            Algorithm::HmacSha1 => "hmac-sha1",
            Algorithm::HmacSha224 => "hmac-sha224",
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha384 => "hmac-sha384",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// The algorithm name in wire form (lowercase, uncompressed), as the TSIG record carries it.
    pub fn wire_name(self) -> &'static [u8] {
        match self {
            Algorithm::HmacSha1 => b"\x09hmac-sha1\x00",
            Algorithm::HmacSha224 => b"\x0bhmac-sha224\x00",
            Algorithm::HmacSha256 => b"\x0bhmac-sha256\x00",
            Algorithm::HmacSha384 => b"\x0bhmac-sha384\x00",
            Algorithm::HmacSha512 => b"\x0bhmac-sha512\x00",
        }
    }

    /// Parses `hmac-sha256` (any case, trailing dot allowed).
    pub fn from_text(s: &str) -> Option<Algorithm> {
        let s = s.trim().trim_end_matches('.');
        Algorithm::ALL
            .into_iter()
            .find(|a| a.text_name().eq_ignore_ascii_case(s))
    }

    /// The algorithm whose wire name is `name` (compared case-insensitively).
    pub fn from_wire_name(name: &[u8]) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.wire_name().eq_ignore_ascii_case(name))
    }

    /// Bytes of the full MAC.
    pub fn mac_bytes(self) -> usize {
        match self {
            Algorithm::HmacSha1 => 20,
            Algorithm::HmacSha224 => 28,
            Algorithm::HmacSha256 => 32,
            Algorithm::HmacSha384 => 48,
            Algorithm::HmacSha512 => 64,
        }
    }

    /// The shortest truncated MAC RFC 8945 section 5.2.2.1 allows: the larger of 10 bytes and
    /// half the full MAC. Shorter is FORMERR.
    pub fn mac_bytes_min(self) -> usize {
        (self.mac_bytes() / 2).max(10)
    }
}

const _: () = assert!(ALGORITHM_NAME_BYTES_MAX >= b"\x0bhmac-sha512\x00".len());

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text_name())
    }
}

/// A domain name in wire form, uncompressed, held inline (no allocation).
#[derive(Clone, Copy)]
pub struct NameBuf {
    bytes: [u8; NAME_BYTES_MAX],
    len: u8,
}

impl NameBuf {
    /// `wire` must be an uncompressed name of at most 255 bytes.
    pub fn new(wire: &[u8]) -> Option<NameBuf> {
        if wire.is_empty()
            || wire.len() > NAME_BYTES_MAX
            || uncompressed_name_len(wire) != Ok(wire.len())
        {
            return None;
        }
        let mut b = NameBuf {
            bytes: [0; NAME_BYTES_MAX],
            len: wire.len() as u8,
        };
        b.bytes[..wire.len()].copy_from_slice(wire);
        Some(b)
    }

    pub fn as_wire(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The same name with ASCII letters lowercased (label lengths are below 64: unchanged).
    pub fn to_lowercase(mut self) -> NameBuf {
        self.bytes[..self.len as usize].make_ascii_lowercase();
        self
    }

    /// Reads the possibly compressed name at `pos` of `msg`, following pointers (each must
    /// point backwards, so a walk ends). Returns the name and the position after it.
    pub fn read(msg: &[u8], pos: usize) -> Result<(NameBuf, usize), &'static str> {
        let mut out = NameBuf {
            bytes: [0; NAME_BYTES_MAX],
            len: 0,
        };
        let mut at = pos;
        let mut end = None;
        let mut len = 0usize;
        loop {
            let Some(&l) = msg.get(at) else {
                return Err("name truncated");
            };
            match l & 0xC0 {
                0x00 => {
                    let label = msg.get(at..at + 1 + l as usize).ok_or("name truncated")?;
                    if len + label.len() > NAME_BYTES_MAX {
                        return Err("name longer than 255 bytes");
                    }
                    out.bytes[len..len + label.len()].copy_from_slice(label);
                    len += label.len();
                    at += label.len();
                    if l == 0 {
                        out.len = len as u8;
                        return Ok((out, end.unwrap_or(at)));
                    }
                }
                0xC0 => {
                    let b = *msg.get(at + 1).ok_or("name truncated")?;
                    let target = (((l & 0x3F) as usize) << 8) | b as usize;
                    if target >= at {
                        return Err("compression pointer does not point backwards");
                    }
                    end.get_or_insert(at + 2);
                    at = target;
                }
                _ => return Err("unknown label type"),
            }
        }
    }
}

impl PartialEq for NameBuf {
    fn eq(&self, other: &NameBuf) -> bool {
        self.as_wire() == other.as_wire()
    }
}
impl Eq for NameBuf {}

impl std::fmt::Debug for NameBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&name_text(self.as_wire()))
    }
}

/// A wire name in presentation format, for logs (`xfr-key.`).
pub fn name_text(wire: &[u8]) -> String {
    DisplayName(wire).to_string()
}

/// Writes a wire name (uncompressed) in presentation format, escapes included, without
/// allocating; a malformed name stops at the first bad label.
#[derive(Debug, Clone, Copy)]
pub struct DisplayName<'a>(pub &'a [u8]);

impl std::fmt::Display for DisplayName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
        let wire = self.0;
        let mut at = 0;
        let mut any = false;
        while let Some(&l) = wire.get(at) {
            if l == 0 || l & 0xC0 != 0 {
                break;
            }
            for &c in wire.get(at + 1..at + 1 + l as usize).unwrap_or(&[]) {
                match c {
                    b'.' | b'\\' | b'"' | b';' | b'(' | b')' | b'@' | b'$' => {
                        f.write_char('\\')?;
                        f.write_char(c as char)?;
                    }
                    0x21..=0x7E => f.write_char(c as char)?,
                    _ => write!(f, "\\{c:03}")?,
                }
            }
            f.write_char('.')?;
            any = true;
            at += 1 + l as usize;
        }
        if !any {
            f.write_char('.')?;
        }
        Ok(())
    }
}

/// A keyed HMAC, ready to digest.
#[derive(Clone)]
enum Keyed {
    Sha1(Hmac<Sha1>),
    Sha224(Hmac<Sha224>),
    Sha256(Hmac<Sha256>),
    Sha384(Hmac<Sha384>),
    Sha512(Hmac<Sha512>),
}

impl Keyed {
    fn new(algorithm: Algorithm, secret: &[u8]) -> Keyed {
        // HMAC takes keys of any length (longer ones are hashed first): this cannot fail.
        const ANY: &str = "HMAC accepts keys of any length";
        match algorithm {
            Algorithm::HmacSha1 => Keyed::Sha1(Hmac::new_from_slice(secret).expect(ANY)),
            Algorithm::HmacSha224 => Keyed::Sha224(Hmac::new_from_slice(secret).expect(ANY)),
            Algorithm::HmacSha256 => Keyed::Sha256(Hmac::new_from_slice(secret).expect(ANY)),
            Algorithm::HmacSha384 => Keyed::Sha384(Hmac::new_from_slice(secret).expect(ANY)),
            Algorithm::HmacSha512 => Keyed::Sha512(Hmac::new_from_slice(secret).expect(ANY)),
        }
    }

    fn update(&mut self, b: &[u8]) {
        match self {
            Keyed::Sha1(m) => m.update(b),
            Keyed::Sha224(m) => m.update(b),
            Keyed::Sha256(m) => m.update(b),
            Keyed::Sha384(m) => m.update(b),
            Keyed::Sha512(m) => m.update(b),
        }
    }

    fn finalize(self) -> MacBuf {
        let mut out = MacBuf::default();
        let mut put = |b: &[u8]| {
            out.bytes[..b.len()].copy_from_slice(b);
            out.len = b.len() as u8;
        };
        match self {
            Keyed::Sha1(m) => put(&m.finalize().into_bytes()),
            Keyed::Sha224(m) => put(&m.finalize().into_bytes()),
            Keyed::Sha256(m) => put(&m.finalize().into_bytes()),
            Keyed::Sha384(m) => put(&m.finalize().into_bytes()),
            Keyed::Sha512(m) => put(&m.finalize().into_bytes()),
        }
        out
    }
}

/// A MAC, held inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MacBuf {
    bytes: [u8; MAC_BYTES_MAX],
    len: u8,
}

impl Default for MacBuf {
    fn default() -> Self {
        MacBuf {
            bytes: [0; MAC_BYTES_MAX],
            len: 0,
        }
    }
}

impl MacBuf {
    pub fn from_slice(b: &[u8]) -> MacBuf {
        let mut m = MacBuf::default();
        let n = b.len().min(MAC_BYTES_MAX);
        m.bytes[..n].copy_from_slice(&b[..n]);
        m.len = n as u8;
        m
    }
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl std::fmt::Debug for MacBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MacBuf({} bytes)", self.len)
    }
}

/// A TSIG key: its name, its algorithm and its secret (kept only as the keyed HMAC state).
/// `Debug` never shows the secret. Cloning copies the state; it allocates nothing.
#[derive(Clone)]
pub struct Key {
    /// Lowercased wire form.
    name: NameBuf,
    algorithm: Algorithm,
    keyed: Keyed,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Why a key specification is not usable. Never holds the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("key name {0:?} is not a domain name")]
    BadName(String),
    #[error("unknown TSIG algorithm {0:?} (use hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384 or hmac-sha512)")]
    UnknownAlgorithm(String),
    #[error("the secret is not valid base64")]
    BadSecret,
    #[error("the secret is empty")]
    EmptySecret,
    #[error("a key is NAME:ALGORITHM:SECRET (as with dig -y), or ALGORITHM:NAME:SECRET")]
    Syntax,
}

impl Key {
    /// A key named by `name_wire` (uncompressed wire form; compared case-insensitively).
    pub fn new(name_wire: &[u8], algorithm: Algorithm, secret: &[u8]) -> Result<Key, KeyError> {
        let name = NameBuf::new(name_wire)
            .ok_or_else(|| KeyError::BadName(name_text(name_wire)))?
            .to_lowercase();
        if secret.is_empty() {
            return Err(KeyError::EmptySecret);
        }
        Ok(Key {
            name,
            algorithm,
            keyed: Keyed::new(algorithm, secret),
        })
    }

    /// A key from presentation-format parts: `name` like `xfr-key.` (a missing final dot is
    /// added), the algorithm's text name and the base64 secret.
    pub fn from_text(name: &str, algorithm: &str, secret_base64: &str) -> Result<Key, KeyError> {
        use base64::Engine as _;
        let algorithm = Algorithm::from_text(algorithm)
            .ok_or_else(|| KeyError::UnknownAlgorithm(algorithm.to_string()))?;
        let wire = text_to_wire(name).ok_or_else(|| KeyError::BadName(name.to_string()))?;
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret_base64.trim())
            .map_err(|_| KeyError::BadSecret)?;
        Key::new(&wire, algorithm, &secret)
    }

    /// Parses `NAME:ALGORITHM:SECRET` (the order of `xfr-bench --tsig`) or
    /// `ALGORITHM:NAME:SECRET` (the order of `dig -y`): whichever part is an algorithm name.
    pub fn parse_spec(spec: &str) -> Result<Key, KeyError> {
        let mut it = spec.splitn(3, ':');
        let (Some(a), Some(b), Some(secret)) = (it.next(), it.next(), it.next()) else {
            return Err(KeyError::Syntax);
        };
        if Algorithm::from_text(a).is_some() && Algorithm::from_text(b).is_none() {
            Key::from_text(b, a, secret)
        } else {
            Key::from_text(a, b, secret)
        }
    }

    /// The key name, lowercased wire form.
    pub fn name(&self) -> &[u8] {
        self.name.as_wire()
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Bytes of the TSIG record this key signs with (full MAC, no other data).
    pub fn rr_bytes(&self) -> usize {
        self.name.len as usize
            + self.algorithm.wire_name().len()
            + RR_FIXED_BYTES
            + self.algorithm.mac_bytes()
    }

    fn mac(&self) -> Keyed {
        self.keyed.clone()
    }

    /// Digests the TSIG variables (RFC 8945 section 4.3.3).
    fn update_variables(&self, m: &mut Keyed, time: u64, fudge: u16, error: u16, other: &[u8]) {
        m.update(self.name.as_wire());
        m.update(&CLASS_ANY.to_be_bytes());
        m.update(&0u32.to_be_bytes());
        m.update(self.algorithm.wire_name());
        m.update(&time48(time));
        m.update(&fudge.to_be_bytes());
        m.update(&error.to_be_bytes());
        m.update(&(other.len() as u16).to_be_bytes());
        m.update(other);
    }
}

fn time48(t: u64) -> [u8; 6] {
    let b = t.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// Presentation-format name to wire form, for key names: plain labels, `\.` and `\DDD`
/// escapes; a final dot is implied.
pub fn text_to_wire(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if text == "." {
        return Some(vec![0]);
    }
    let mut out = Vec::with_capacity(text.len() + 2);
    let mut label = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    let flush = |label: &mut Vec<u8>, out: &mut Vec<u8>| -> Option<()> {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        out.push(label.len() as u8);
        out.append(label);
        Some(())
    };
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                let d = bytes.get(i + 1..i + 4);
                if let Some(d) = d.filter(|d| d.iter().all(u8::is_ascii_digit)) {
                    let v: u32 = std::str::from_utf8(d).ok()?.parse().ok()?;
                    label.push(u8::try_from(v).ok()?);
                    i += 4;
                } else {
                    label.push(*bytes.get(i + 1)?);
                    i += 2;
                }
            }
            b'.' => {
                flush(&mut label, &mut out)?;
                i += 1;
            }
            c => {
                label.push(c);
                i += 1;
            }
        }
    }
    if !label.is_empty() {
        flush(&mut label, &mut out)?;
    }
    out.push(0);
    (out.len() <= NAME_BYTES_MAX).then_some(out)
}

/// A TSIG record as found in a message.
#[derive(Debug, Clone, Copy)]
pub struct TsigRecord<'a> {
    /// Offset of the record (its owner name) in the message: the digest covers what precedes.
    pub start: usize,
    /// The key name, decompressed, lowercased.
    pub key_name: NameBuf,
    /// The algorithm name, decompressed, lowercased.
    pub algorithm_name: NameBuf,
    pub time_signed: u64,
    pub fudge: u16,
    pub mac: &'a [u8],
    pub original_id: u16,
    pub error: u16,
    pub other: &'a [u8],
}

/// Parses the TSIG record at `start` of `msg`, which must end exactly at the end of `msg`
/// (RFC 8945 section 5.2: the TSIG record is the last record of the message).
pub fn parse_record(msg: &[u8], start: usize) -> Result<TsigRecord<'_>, &'static str> {
    let rr = read_record(msg, start)?;
    if rr.rtype != TYPE_TSIG {
        return Err("not a TSIG record");
    }
    if rr.class != CLASS_ANY {
        return Err("TSIG record class is not ANY");
    }
    if rr.ttl != 0 {
        return Err("TSIG record TTL is not 0");
    }
    if rr.rdata_end != msg.len() {
        return Err("TSIG record is not the last record");
    }
    let (key_name, _) = NameBuf::read(msg, start)?;
    // The algorithm name must not be compressed (RFC 8945 section 4.2): read it from RDATA
    // alone, so a pointer has nothing to point at.
    let rdata = &msg[rr.rdata_start..rr.rdata_end];
    let alg_len = uncompressed_name_len(rdata).map_err(|_| "TSIG algorithm name malformed")?;
    let algorithm_name = NameBuf::new(&rdata[..alg_len]).ok_or("TSIG algorithm name malformed")?;
    let rest = &rdata[alg_len..];
    if rest.len() < 10 {
        return Err("TSIG record data truncated");
    }
    let time_signed = rest[..6].iter().fold(0u64, |a, &b| (a << 8) | b as u64);
    let fudge = read_u16(rest, 6);
    let mac_len = read_u16(rest, 8) as usize;
    let after_mac = 10 + mac_len;
    if rest.len() < after_mac + 6 {
        return Err("TSIG MAC size runs past the record");
    }
    let original_id = read_u16(rest, after_mac);
    let error = read_u16(rest, after_mac + 2);
    let other_len = read_u16(rest, after_mac + 4) as usize;
    if rest.len() != after_mac + 6 + other_len {
        return Err("TSIG other length does not match the record length");
    }
    Ok(TsigRecord {
        start,
        key_name: key_name.to_lowercase(),
        algorithm_name: algorithm_name.to_lowercase(),
        time_signed,
        fudge,
        mac: &rest[10..after_mac],
        original_id,
        error,
        other: &rest[after_mac + 6..],
    })
}

/// Digests a message without its TSIG record: the header with the original ID and ARCOUNT
/// one less, then everything up to the record.
fn update_message_without_tsig(m: &mut Keyed, msg: &[u8], rr: &TsigRecord<'_>) {
    let mut header = [0u8; HEADER_BYTES];
    header.copy_from_slice(&msg[..HEADER_BYTES]);
    header[0..2].copy_from_slice(&rr.original_id.to_be_bytes());
    let ar = read_u16(&header, 10).wrapping_sub(1);
    header[10..12].copy_from_slice(&ar.to_be_bytes());
    m.update(&header);
    m.update(&msg[HEADER_BYTES..rr.start]);
}

/// Compares a computed MAC with a received one, which may be truncated (section 5.2.2.1), in
/// time independent of where they differ.
fn mac_matches(computed: &MacBuf, received: &[u8]) -> bool {
    let c = computed.as_slice();
    if received.len() > c.len() {
        return false;
    }
    c[..received.len()]
        .iter()
        .zip(received)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// A request whose TSIG verified: what signing the response needs.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedRequest<'k> {
    pub key: &'k Key,
    /// The request's MAC as received (truncated if it was): the response digest starts with it.
    pub request_mac: MacBuf,
    pub time_signed: u64,
    pub original_id: u16,
}

/// Why a signed request is refused, and how (RFC 8945 section 5.2, 5.3.2).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum RequestRefusal<'k> {
    /// A malformed TSIG record: FORMERR, no TSIG in the answer.
    FormErr(&'static str),
    /// Unknown key or algorithm: NOTAUTH with an unsigned TSIG, error BADKEY.
    BadKey,
    /// The MAC does not verify: NOTAUTH with an unsigned TSIG, error BADSIG.
    BadSig,
    /// Time signed outside the fudge window: NOTAUTH, error BADTIME, signed, the server's time
    /// in the other data.
    BadTime(VerifiedRequest<'k>),
    /// A truncated MAC shorter than the local policy (the full MAC): NOTAUTH, error
    /// BADTRUNC, signed.
    BadTrunc(VerifiedRequest<'k>),
}

impl RequestRefusal<'_> {
    /// A short name for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            RequestRefusal::FormErr(_) => "malformed TSIG",
            RequestRefusal::BadKey => "BADKEY",
            RequestRefusal::BadSig => "BADSIG",
            RequestRefusal::BadTime(_) => "BADTIME",
            RequestRefusal::BadTrunc(_) => "BADTRUNC",
        }
    }

    /// The TSIG error code of the answer, when it carries a TSIG record.
    pub fn tsig_error(&self) -> Option<u16> {
        match self {
            RequestRefusal::FormErr(_) => None,
            RequestRefusal::BadKey => Some(TSIG_ERROR_BADKEY),
            RequestRefusal::BadSig => Some(TSIG_ERROR_BADSIG),
            RequestRefusal::BadTime(_) => Some(TSIG_ERROR_BADTIME),
            RequestRefusal::BadTrunc(_) => Some(TSIG_ERROR_BADTRUNC),
        }
    }
}

/// Verifies the TSIG record `rr` of request `msg` (RFC 8945 section 5.2, checks in its order:
/// key, MAC, time, truncation). `key_for` finds the configured key of a (lowercased wire) name;
/// its algorithm must be the record's.
pub fn verify_request<'k>(
    msg: &[u8],
    rr: &TsigRecord<'_>,
    key_for: impl FnOnce(&[u8]) -> Option<&'k Key>,
    now_s: u64,
) -> Result<VerifiedRequest<'k>, RequestRefusal<'k>> {
    let algorithm = Algorithm::from_wire_name(rr.algorithm_name.as_wire());
    let key = match (key_for(rr.key_name.as_wire()), algorithm) {
        (Some(k), Some(a)) if k.algorithm == a => k,
        _ => return Err(RequestRefusal::BadKey),
    };
    let full = key.algorithm.mac_bytes();
    if rr.mac.len() > full || rr.mac.len() < key.algorithm.mac_bytes_min() {
        return Err(RequestRefusal::FormErr(
            "TSIG MAC size outside what the algorithm allows",
        ));
    }
    let mut m = key.mac();
    update_message_without_tsig(&mut m, msg, rr);
    key.update_variables(&mut m, rr.time_signed, rr.fudge, rr.error, rr.other);
    if !mac_matches(&m.finalize(), rr.mac) {
        return Err(RequestRefusal::BadSig);
    }
    let verified = VerifiedRequest {
        key,
        request_mac: MacBuf::from_slice(rr.mac),
        time_signed: rr.time_signed,
        original_id: rr.original_id,
    };
    if now_s.abs_diff(rr.time_signed) > rr.fudge as u64 {
        return Err(RequestRefusal::BadTime(verified));
    }
    if rr.mac.len() < full {
        return Err(RequestRefusal::BadTrunc(verified));
    }
    Ok(verified)
}

/// Writes a TSIG record into `out` (which must have room: [`RR_BYTES_MAX`] always suffices);
/// returns its length.
#[allow(clippy::too_many_arguments)]
fn write_rr(
    out: &mut [u8],
    key_name: &[u8],
    algorithm_name: &[u8],
    time: u64,
    fudge: u16,
    mac: &[u8],
    original_id: u16,
    error: u16,
    other: &[u8],
) -> usize {
    let rdlen = algorithm_name.len() + 16 + mac.len() + other.len();
    let total = key_name.len() + 10 + rdlen;
    assert!(out.len() >= total, "TSIG record of {total} bytes");
    let mut at = 0;
    let mut put = |b: &[u8]| {
        out[at..at + b.len()].copy_from_slice(b);
        at += b.len();
    };
    put(key_name);
    put(&TYPE_TSIG.to_be_bytes());
    put(&CLASS_ANY.to_be_bytes());
    put(&0u32.to_be_bytes());
    put(&(rdlen as u16).to_be_bytes());
    put(algorithm_name);
    put(&time48(time));
    put(&fudge.to_be_bytes());
    put(&(mac.len() as u16).to_be_bytes());
    put(mac);
    put(&original_id.to_be_bytes());
    put(&error.to_be_bytes());
    put(&(other.len() as u16).to_be_bytes());
    put(other);
    debug_assert_eq!(at, total);
    total
}

/// Writes the unsigned TSIG record of a BADKEY or BADSIG answer (RFC 8945 section 5.3.2: MAC
/// size 0), naming the request's key and algorithm; returns its length.
pub fn write_unsigned_error(out: &mut [u8], rr: &TsigRecord<'_>, error: u16, now_s: u64) -> usize {
    write_rr(
        out,
        rr.key_name.as_wire(),
        rr.algorithm_name.as_wire(),
        now_s,
        FUDGE_S,
        &[],
        rr.original_id,
        error,
        &[],
    )
}

/// Signs the messages of one response, in order, each MAC chained on the previous one (RFC
/// 8945 section 5.3.1). Holds copies of what it needs (the keyed HMAC, the names): no
/// allocation, no borrow of the key set.
#[derive(Clone)]
pub struct ResponseSigner {
    key: Key,
    /// The request MAC before the first message, then each message's MAC.
    prior_mac: MacBuf,
    original_id: u16,
    messages_signed: u64,
}

impl std::fmt::Debug for ResponseSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseSigner")
            .field("key", &self.key)
            .field("messages_signed", &self.messages_signed)
            .finish_non_exhaustive()
    }
}

impl ResponseSigner {
    pub fn new(request: &VerifiedRequest<'_>) -> ResponseSigner {
        ResponseSigner {
            key: request.key.clone(),
            prior_mac: request.request_mac,
            original_id: request.original_id,
            messages_signed: 0,
        }
    }

    /// Bytes of the TSIG record [`ResponseSigner::sign`] writes.
    pub fn rr_bytes(&self) -> usize {
        self.key.rr_bytes()
    }

    pub fn messages_signed(&self) -> u64 {
        self.messages_signed
    }

    /// The key it signs with.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Signs the next response message, whose bytes without TSIG (header with ARCOUNT not
    /// counting the TSIG record) are `pieces` laid end to end; writes the TSIG record into
    /// `out` and returns its length.
    pub fn sign(&mut self, pieces: &[&[u8]], now_s: u64, out: &mut [u8]) -> usize {
        self.sign_with(pieces, now_s, 0, &[], out)
    }

    /// Signs an error answer (BADTIME, BADTRUNC; RFC 8945 section 5.3.2): for BADTIME the time
    /// signed is the request's and the other data the server's time.
    pub fn sign_error(
        &mut self,
        pieces: &[&[u8]],
        request_time: u64,
        error: u16,
        now_s: u64,
        out: &mut [u8],
    ) -> usize {
        if error == TSIG_ERROR_BADTIME {
            self.sign_with(pieces, request_time, error, &time48(now_s), out)
        } else {
            self.sign_with(pieces, now_s, error, &[], out)
        }
    }

    fn sign_with(
        &mut self,
        pieces: &[&[u8]],
        time: u64,
        error: u16,
        other: &[u8],
        out: &mut [u8],
    ) -> usize {
        let mut m = self.key.mac();
        m.update(&(self.prior_mac.len as u16).to_be_bytes());
        m.update(self.prior_mac.as_slice());
        for p in pieces {
            m.update(p);
        }
        if self.messages_signed == 0 {
            self.key
                .update_variables(&mut m, time, FUDGE_S, error, other);
        } else {
            m.update(&time48(time));
            m.update(&FUDGE_S.to_be_bytes());
        }
        let mac = m.finalize();
        self.prior_mac = mac;
        self.messages_signed += 1;
        write_rr(
            out,
            self.key.name.as_wire(),
            self.key.algorithm.wire_name(),
            time,
            FUDGE_S,
            mac.as_slice(),
            self.original_id,
            error,
            other,
        )
    }
}

/// Signs a request (RFC 8945 section 5.1): appends the TSIG record to `msg`, counts it in
/// ARCOUNT, and returns the request MAC that the response's verification starts from.
pub fn sign_request(key: &Key, msg: &mut Vec<u8>, now_s: u64) -> MacBuf {
    assert!(msg.len() >= HEADER_BYTES, "a request has a header");
    let id = read_u16(msg, 0);
    let mut m = key.mac();
    m.update(msg);
    key.update_variables(&mut m, now_s, FUDGE_S, 0, &[]);
    let mac = m.finalize();
    let at = msg.len();
    msg.resize(at + key.rr_bytes(), 0);
    let n = write_rr(
        &mut msg[at..],
        key.name.as_wire(),
        key.algorithm.wire_name(),
        now_s,
        FUDGE_S,
        mac.as_slice(),
        id,
        0,
        &[],
    );
    msg.truncate(at + n);
    let ar = read_u16(msg, 10) + 1;
    msg[10..12].copy_from_slice(&ar.to_be_bytes());
    mac
}

/// How many unsigned messages a response verifier accepts between signed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsignedRun {
    /// Every message must be signed (what xfrd sends, and what strict secondaries require).
    None,
    /// Up to [`UNSIGNED_RUN_MAX`] (RFC 8945 section 5.3.1), the first and last signed.
    Rfc8945,
}

/// Why a response does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    #[error("response message without TSIG where one is required")]
    Missing,
    #[error("TSIG MAC does not verify")]
    BadSig,
    #[error("TSIG key or algorithm differ from the request's")]
    WrongKey,
    #[error("TSIG time signed outside the fudge window")]
    BadTime,
    #[error("the server answered with TSIG error {0}")]
    ServerError(u16),
    #[error("malformed response: {0}")]
    Malformed(&'static str),
}

impl ResponseError {
    /// A short name for counters and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ResponseError::Missing => "tsig_missing",
            ResponseError::BadSig => "tsig_bad_sig",
            ResponseError::WrongKey => "tsig_wrong_key",
            ResponseError::BadTime => "tsig_bad_time",
            ResponseError::ServerError(_) => "tsig_server_error",
            ResponseError::Malformed(_) => "tsig_malformed",
        }
    }
}

/// Finds the TSIG record of a message: the last record of the additional section, if it is a
/// TSIG. Walks every record (compressed names allowed).
pub fn find_record(msg: &[u8]) -> Result<Option<TsigRecord<'_>>, &'static str> {
    if msg.len() < HEADER_BYTES {
        return Err("message shorter than a header");
    }
    let qd = read_u16(msg, 4) as usize;
    let records = read_u16(msg, 6) as usize + read_u16(msg, 8) as usize;
    let ar = read_u16(msg, 10) as usize;
    let mut pos = HEADER_BYTES;
    for _ in 0..qd {
        pos = skip_name(msg, pos)? + 4;
        if pos > msg.len() {
            return Err("question truncated");
        }
    }
    if ar == 0 {
        return Ok(None);
    }
    for _ in 0..records + ar - 1 {
        pos = read_record(msg, pos)?.rdata_end;
    }
    let last = read_record(msg, pos)?;
    if last.rtype != TYPE_TSIG {
        return Ok(None);
    }
    parse_record(msg, pos).map(Some)
}

/// Verifies the TSIG chain of one response stream (RFC 8945 section 5.4), message by message.
#[derive(Debug, Clone)]
pub struct ResponseVerifier {
    key: Key,
    prior_mac: MacBuf,
    first: bool,
    /// The digest of the unsigned messages since the last signed one, begun with its MAC.
    pending: Option<Keyed>,
    unsigned_run: usize,
    policy: UnsignedRun,
    messages_verified: u64,
}

impl std::fmt::Debug for Keyed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyed")
    }
}

impl ResponseVerifier {
    pub fn new(key: &Key, request_mac: MacBuf, policy: UnsignedRun) -> ResponseVerifier {
        ResponseVerifier {
            key: key.clone(),
            prior_mac: request_mac,
            first: true,
            pending: None,
            unsigned_run: 0,
            policy,
            messages_verified: 0,
        }
    }

    /// Signed messages verified so far.
    pub fn messages_verified(&self) -> u64 {
        self.messages_verified
    }

    /// True when the last message fed was signed (a stream must end on a signed message).
    pub fn ends_signed(&self) -> bool {
        !self.first && self.pending.is_none()
    }

    fn chained(&self) -> Keyed {
        let mut m = self.key.mac();
        m.update(&(self.prior_mac.len as u16).to_be_bytes());
        m.update(self.prior_mac.as_slice());
        m
    }

    /// Feeds one response message (without TCP length prefix), in stream order.
    pub fn verify(&mut self, msg: &[u8], now_s: u64) -> Result<(), ResponseError> {
        let rr = find_record(msg).map_err(ResponseError::Malformed)?;
        let Some(rr) = rr else {
            if self.first || self.policy == UnsignedRun::None {
                return Err(ResponseError::Missing);
            }
            self.unsigned_run += 1;
            if self.unsigned_run > UNSIGNED_RUN_MAX {
                return Err(ResponseError::Missing);
            }
            let chained = self.chained();
            self.pending.get_or_insert(chained).update(msg);
            return Ok(());
        };
        if rr.key_name.as_wire() != self.key.name()
            || Algorithm::from_wire_name(rr.algorithm_name.as_wire()) != Some(self.key.algorithm)
        {
            return Err(ResponseError::WrongKey);
        }
        if rr.error != 0 {
            return Err(ResponseError::ServerError(rr.error));
        }
        let mut m = match self.pending.take() {
            Some(m) => m,
            None => self.chained(),
        };
        update_message_without_tsig(&mut m, msg, &rr);
        if self.first {
            self.key
                .update_variables(&mut m, rr.time_signed, rr.fudge, rr.error, rr.other);
        } else {
            m.update(&time48(rr.time_signed));
            m.update(&rr.fudge.to_be_bytes());
        }
        let mac = m.finalize();
        if rr.mac.len() < self.key.algorithm.mac_bytes_min() || !mac_matches(&mac, rr.mac) {
            return Err(ResponseError::BadSig);
        }
        if now_s.abs_diff(rr.time_signed) > rr.fudge as u64 {
            return Err(ResponseError::BadTime);
        }
        self.prior_mac = MacBuf::from_slice(rr.mac);
        self.first = false;
        self.unsigned_run = 0;
        self.messages_verified += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
