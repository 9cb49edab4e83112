//! TSIG (RFC 8945) for the load client: sign a query, verify every signed response message.
//!
//! Owns the key format of `--tsig NAME:ALG:SECRET`, the query signature and the response chain
//! (RFC 8945 section 5.3.1: the first response is signed over the request MAC, the message and
//! the TSIG variables; each later signed message over the prior MAC, every message since the
//! last signed one and the timers). Does not read the clock: callers pass `now` in seconds.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384, Sha512};

use crate::wire::{self, Header, WireError, CLASS_ANY, HEADER_LEN, TYPE_TSIG};

/// Seconds of clock skew allowed either way (RFC 8945 section 10 recommends 300).
pub const FUDGE_S: u16 = 300;
/// At most this many unsigned messages may follow a signed one (RFC 8945 section 5.3.1).
pub const MAX_UNSIGNED_RUN: usize = 99;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Sha256,
    Sha384,
    Sha512,
}

impl Alg {
    fn name(self) -> &'static str {
        match self {
            Alg::Sha256 => "hmac-sha256.",
            Alg::Sha384 => "hmac-sha384.",
            Alg::Sha512 => "hmac-sha512.",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Key {
    /// Key name, canonical (lowercased) wire form.
    pub name: Vec<u8>,
    pub alg: Alg,
    alg_name: Vec<u8>,
    secret: Vec<u8>,
}

impl Key {
    /// Parse `NAME:ALG:SECRET` (SECRET in base64; ALG hmac-sha256, hmac-sha384 or hmac-sha512).
    pub fn parse(spec: &str) -> Result<Key, String> {
        let mut it = spec.splitn(3, ':');
        let (Some(name), Some(alg), Some(secret)) = (it.next(), it.next(), it.next()) else {
            return Err("--tsig wants NAME:ALG:SECRET".into());
        };
        let alg = match alg.to_ascii_lowercase().trim_end_matches('.') {
            "hmac-sha256" => Alg::Sha256,
            "hmac-sha384" => Alg::Sha384,
            "hmac-sha512" => Alg::Sha512,
            other => return Err(format!("unsupported TSIG algorithm {other:?}")),
        };
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret.trim())
            .map_err(|e| format!("TSIG secret is not base64: {e}"))?;
        let mut name = wire::name_to_wire(name)?;
        wire::lowercase_wire_name(&mut name);
        let alg_name = wire::name_to_wire(alg.name())?;
        Ok(Key {
            name,
            alg,
            alg_name,
            secret,
        })
    }

    fn mac(&self) -> MacState {
        // Hmac accepts keys of any length, so new_from_slice cannot fail.
        match self.alg {
            Alg::Sha256 => {
                MacState::S256(Hmac::new_from_slice(&self.secret).expect("any key length"))
            }
            Alg::Sha384 => {
                MacState::S384(Hmac::new_from_slice(&self.secret).expect("any key length"))
            }
            Alg::Sha512 => {
                MacState::S512(Hmac::new_from_slice(&self.secret).expect("any key length"))
            }
        }
    }

    /// Append a TSIG record to `query` (which must have arcount 0 or any count: it is bumped)
    /// and return the request MAC, which the response verifier needs.
    pub fn sign_query(&self, query: &mut Vec<u8>, now_s: u64) -> Vec<u8> {
        let id = u16::from_be_bytes([query[0], query[1]]);
        let mut m = self.mac();
        m.update(query);
        self.update_variables(&mut m, now_s, 0, &[]);
        let mac = m.finalize();
        self.append_rr(query, id, now_s, &mac);
        let ar = u16::from_be_bytes([query[10], query[11]]) + 1;
        query[10..12].copy_from_slice(&ar.to_be_bytes());
        mac
    }

    fn update_variables(&self, m: &mut MacState, time: u64, error: u16, other: &[u8]) {
        m.update(&self.name);
        m.update(&CLASS_ANY.to_be_bytes());
        m.update(&0u32.to_be_bytes());
        m.update(&self.alg_name);
        m.update(&time.to_be_bytes()[2..]);
        m.update(&FUDGE_S.to_be_bytes());
        m.update(&error.to_be_bytes());
        m.update(&(other.len() as u16).to_be_bytes());
        m.update(other);
    }

    fn append_rr(&self, out: &mut Vec<u8>, id: u16, time: u64, mac: &[u8]) {
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&TYPE_TSIG.to_be_bytes());
        out.extend_from_slice(&CLASS_ANY.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        let rdlen = self.alg_name.len() + 6 + 2 + 2 + mac.len() + 2 + 2 + 2;
        out.extend_from_slice(&(rdlen as u16).to_be_bytes());
        out.extend_from_slice(&self.alg_name);
        out.extend_from_slice(&time.to_be_bytes()[2..]);
        out.extend_from_slice(&FUDGE_S.to_be_bytes());
        out.extend_from_slice(&(mac.len() as u16).to_be_bytes());
        out.extend_from_slice(mac);
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
    }
}

enum MacState {
    S256(Hmac<Sha256>),
    S384(Hmac<Sha384>),
    S512(Hmac<Sha512>),
}

impl MacState {
    fn update(&mut self, b: &[u8]) {
        match self {
            MacState::S256(m) => m.update(b),
            MacState::S384(m) => m.update(b),
            MacState::S512(m) => m.update(b),
        }
    }
    fn finalize(self) -> Vec<u8> {
        match self {
            MacState::S256(m) => m.finalize().into_bytes().to_vec(),
            MacState::S384(m) => m.finalize().into_bytes().to_vec(),
            MacState::S512(m) => m.finalize().into_bytes().to_vec(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsigError {
    /// The first response message has no TSIG, or too many unsigned messages in a row.
    Missing,
    /// MAC does not verify, or the key or algorithm differ from ours.
    BadSig,
    /// Time signed is outside the fudge window.
    BadTime,
    /// The server answered with a TSIG error code (BADSIG 16, BADKEY 17, BADTIME 18...).
    ServerError(u16),
    Malformed(WireError),
}

impl TsigError {
    pub fn kind(&self) -> &'static str {
        match self {
            TsigError::Missing => "tsig_missing",
            TsigError::BadSig => "tsig_bad_sig",
            TsigError::BadTime => "tsig_bad_time",
            TsigError::ServerError(_) => "tsig_server_error",
            TsigError::Malformed(_) => "tsig_malformed",
        }
    }
}

/// Verifies the TSIG chain of one response stream.
pub struct ResponseVerifier<'k> {
    key: &'k Key,
    prior_mac: Vec<u8>,
    first: bool,
    /// MAC over messages since the last signed one, started with the prior MAC.
    pending: Option<MacState>,
    unsigned_run: usize,
}

struct TsigRr {
    start: usize,
    time: u64,
    fudge: u16,
    mac: std::ops::Range<usize>,
    orig_id: u16,
    error: u16,
    other: std::ops::Range<usize>,
}

impl<'k> ResponseVerifier<'k> {
    pub fn new(key: &'k Key, request_mac: Vec<u8>) -> Self {
        ResponseVerifier {
            key,
            prior_mac: request_mac,
            first: true,
            pending: None,
            unsigned_run: 0,
        }
    }

    fn find_tsig(&self, msg: &[u8]) -> Result<Option<TsigRr>, TsigError> {
        let h = Header::parse(msg).map_err(TsigError::Malformed)?;
        if h.arcount == 0 {
            return Ok(None);
        }
        let mut pos = wire::skip_questions(msg, h.qdcount).map_err(TsigError::Malformed)?;
        let total = h.ancount as usize + h.nscount as usize + h.arcount as usize;
        let mut last = pos;
        let mut last_rec = None;
        for _ in 0..total {
            let (rec, next) = wire::read_record(msg, pos).map_err(TsigError::Malformed)?;
            last = pos;
            last_rec = Some(rec);
            pos = next;
        }
        let Some(rec) = last_rec else { return Ok(None) };
        if rec.rtype != TYPE_TSIG {
            return Ok(None);
        }
        let mut name = Vec::new();
        wire::read_name(msg, last, &mut name, true).map_err(TsigError::Malformed)?;
        let mut p = rec.rdata_pos;
        let mut alg = Vec::new();
        p = wire::read_name(msg, p, &mut alg, true).map_err(TsigError::Malformed)?;
        if name != self.key.name || alg != self.key.alg_name {
            return Err(TsigError::BadSig);
        }
        let t = msg
            .get(p..p + 6)
            .ok_or(TsigError::Malformed(WireError::Short))?;
        let time = t.iter().fold(0u64, |a, &b| (a << 8) | b as u64);
        let fudge = wire::u16_at(msg, p + 6).map_err(TsigError::Malformed)?;
        let mac_len = wire::u16_at(msg, p + 8).map_err(TsigError::Malformed)? as usize;
        let mac = p + 10..p + 10 + mac_len;
        let q = mac.end;
        let orig_id = wire::u16_at(msg, q).map_err(TsigError::Malformed)?;
        let error = wire::u16_at(msg, q + 2).map_err(TsigError::Malformed)?;
        let olen = wire::u16_at(msg, q + 4).map_err(TsigError::Malformed)? as usize;
        let other = q + 6..q + 6 + olen;
        if other.end != rec.rdata_pos + rec.rdlen {
            return Err(TsigError::Malformed(WireError::BadRdata));
        }
        Ok(Some(TsigRr {
            start: last,
            time,
            fudge,
            mac,
            orig_id,
            error,
            other,
        }))
    }

    /// Feed one response message (without the TCP length prefix), in order.
    pub fn on_message(&mut self, msg: &[u8], now_s: u64) -> Result<(), TsigError> {
        let rr = self.find_tsig(msg)?;
        let Some(rr) = rr else {
            if self.first {
                return Err(TsigError::Missing);
            }
            self.unsigned_run += 1;
            if self.unsigned_run > MAX_UNSIGNED_RUN {
                return Err(TsigError::Missing);
            }
            let m = self.pending.get_or_insert_with(|| {
                let mut m = self.key.mac();
                m.update(&(self.prior_mac.len() as u16).to_be_bytes());
                m.update(&self.prior_mac);
                m
            });
            m.update(msg);
            return Ok(());
        };
        if rr.error != 0 {
            return Err(TsigError::ServerError(rr.error));
        }
        let mut m = match self.pending.take() {
            Some(m) => m,
            None => {
                let mut m = self.key.mac();
                m.update(&(self.prior_mac.len() as u16).to_be_bytes());
                m.update(&self.prior_mac);
                m
            }
        };
        let mut hdr = [0u8; HEADER_LEN];
        hdr.copy_from_slice(&msg[..HEADER_LEN]);
        hdr[0..2].copy_from_slice(&rr.orig_id.to_be_bytes());
        let ar = u16::from_be_bytes([hdr[10], hdr[11]]) - 1;
        hdr[10..12].copy_from_slice(&ar.to_be_bytes());
        m.update(&hdr);
        m.update(&msg[HEADER_LEN..rr.start]);
        if self.first {
            let other = msg[rr.other.clone()].to_vec();
            self.key.update_variables(&mut m, rr.time, rr.error, &other);
        } else {
            m.update(&rr.time.to_be_bytes()[2..]);
            m.update(&rr.fudge.to_be_bytes());
        }
        let mac = m.finalize();
        if mac.as_slice() != &msg[rr.mac.clone()] {
            return Err(TsigError::BadSig);
        }
        if now_s.abs_diff(rr.time) > rr.fudge as u64 {
            return Err(TsigError::BadTime);
        }
        self.prior_mac = mac;
        self.first = false;
        self.unsigned_run = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parse() {
        let k = Key::parse("Key.Ex:hmac-sha256:c2VjcmV0").unwrap();
        assert_eq!(k.name, b"\x03key\x02ex\x00");
        assert_eq!(k.alg, Alg::Sha256);
        assert!(Key::parse("k:hmac-md5:c2VjcmV0").is_err());
        assert!(Key::parse("k:hmac-sha256").is_err());
    }

    #[test]
    fn signed_query_verifies_against_itself_as_a_response() {
        // A response signed by the same rules (server side of RFC 8945 4.3) must verify.
        let k = Key::parse("k.:hmac-sha256:c2VjcmV0c2VjcmV0").unwrap();
        let mut q = wire::build_query(9, &wire::name_to_wire("ex.").unwrap(), 252, None);
        let req_mac = k.sign_query(&mut q, 1000);
        // Build a response: copy question, set QR, sign with request MAC prefix.
        let mut r = wire::build_query(9, &wire::name_to_wire("ex.").unwrap(), 252, None);
        r[2] |= 0x80;
        let mut m = k.mac();
        m.update(&(req_mac.len() as u16).to_be_bytes());
        m.update(&req_mac);
        m.update(&r);
        k.update_variables(&mut m, 1000, 0, &[]);
        let mac = m.finalize();
        k.append_rr(&mut r, 9, 1000, &mac);
        r[11] = 1;
        let mut v = ResponseVerifier::new(&k, req_mac.clone());
        v.on_message(&r, 1010).unwrap();
        // Corrupt one byte: must fail.
        let mut bad = r.clone();
        bad[14] ^= 1;
        let mut v = ResponseVerifier::new(&k, req_mac.clone());
        assert_eq!(v.on_message(&bad, 1010), Err(TsigError::BadSig));
        // Outside the fudge window.
        let mut v = ResponseVerifier::new(&k, req_mac);
        assert_eq!(v.on_message(&r, 5000), Err(TsigError::BadTime));
    }
}
