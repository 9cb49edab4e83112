//! RDATA presentation formats: from an entry's RDATA tokens to uncompressed wire bytes.
//!
//! One function per format; the RFC that defines each is named beside it. RFC 3597 generic
//! RDATA (`\# len hex`) is accepted for every type, known or not.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::name::Name;
use crate::rtype;

use super::lexer::Tok;
use super::text::{self, fail, show, tok_bytes, Fail, PResult};
use super::{loc, svcb};

/// Reads RDATA tokens in order.
pub struct Cursor<'a> {
    pub text: &'a [u8],
    pub toks: &'a [Tok],
    pub pos: usize,
    /// Line of the entry, for errors about missing tokens.
    pub line: u32,
    pub origin: &'a Name,
}

impl<'a> Cursor<'a> {
    pub fn done(&self) -> bool {
        self.pos >= self.toks.len()
    }

    pub fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.pos)
    }

    /// The line of the current token (or of the entry when all are used).
    pub fn here(&self) -> u32 {
        self.toks.get(self.pos).map_or(self.line, |t| t.line)
    }

    pub fn next(&mut self, what: &str) -> PResult<(&'a [u8], &'a Tok)> {
        match self.toks.get(self.pos) {
            Some(t) => {
                self.pos += 1;
                Ok((tok_bytes(self.text, t), t))
            }
            None => fail(
                self.toks.last().map_or(self.line, |t| t.line),
                format!("unexpected end of RDATA: expected {what}"),
            ),
        }
    }

    /// The next token, which must not be a quoted string.
    pub fn word(&mut self, what: &str) -> PResult<(&'a [u8], u32)> {
        let (b, t) = self.next(what)?;
        if t.quoted {
            return fail(t.line, format!("expected {what}, found a quoted string"));
        }
        Ok((b, t.line))
    }

    pub fn num(&mut self, what: &str, max: u64) -> PResult<u64> {
        let (b, line) = self.word(what)?;
        text::number(b, max).map_or_else(
            || {
                fail(
                    line,
                    format!("bad {what} '{}' (a number up to {max})", show(b)),
                )
            },
            Ok,
        )
    }

    pub fn u8(&mut self, what: &str) -> PResult<u8> {
        self.num(what, u8::MAX as u64).map(|v| v as u8)
    }
    pub fn u16(&mut self, what: &str) -> PResult<u16> {
        self.num(what, u16::MAX as u64).map(|v| v as u16)
    }
    pub fn u32(&mut self, what: &str) -> PResult<u32> {
        self.num(what, u32::MAX as u64).map(|v| v as u32)
    }

    /// A TTL-like time with optional units (SOA timers).
    pub fn time(&mut self, what: &str) -> PResult<u32> {
        let (b, line) = self.word(what)?;
        text::ttl(b).map_or_else(|| fail(line, format!("bad {what} '{}'", show(b))), Ok)
    }

    pub fn name_into(&mut self, what: &str, out: &mut Vec<u8>) -> PResult<()> {
        let (b, line) = self.word(what)?;
        text::name_into(b, self.origin, out)
            .map(|_| ())
            .map_err(|e| Fail {
                line,
                msg: format!("bad {what} '{}': {e}", show(b)),
            })
    }

    /// One character string (RFC 1035 section 3.3), written with its length byte.
    pub fn string_into(&mut self, what: &str, out: &mut Vec<u8>) -> PResult<()> {
        let (b, t) = self.next(what)?;
        string_into(b, t.line, out)
    }

    /// Concatenates the remaining tokens (base64 or hex split by white space) into `scratch`.
    pub fn rest_into(&mut self, scratch: &mut Vec<u8>) -> PResult<u32> {
        scratch.clear();
        let line = self.here();
        while let Some(t) = self.toks.get(self.pos) {
            if t.quoted {
                return fail(t.line, "unexpected quoted string in encoded data");
            }
            scratch.extend_from_slice(tok_bytes(self.text, t));
            self.pos += 1;
        }
        Ok(line)
    }
}

/// Writes a character string with its length byte.
pub fn string_into(b: &[u8], line: u32, out: &mut Vec<u8>) -> PResult<()> {
    let at = out.len();
    out.push(0);
    if let Err(e) = text::unescape_into(b, out) {
        return fail(line, e);
    }
    let len = out.len() - at - 1;
    if len > 255 {
        return fail(
            line,
            format!("character string longer than 255 bytes ({len})"),
        );
    }
    out[at] = len as u8;
    Ok(())
}

/// Parses the RDATA of `rtype` from the cursor's tokens into `out` (cleared first).
/// `scratch` is a reusable buffer.
pub fn parse(
    rtype_num: u16,
    c: &mut Cursor<'_>,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> PResult<()> {
    out.clear();
    if let Some(t) = c.peek() {
        if !t.quoted && tok_bytes(c.text, t) == b"\\#" {
            c.pos += 1;
            let line = c.here();
            generic(c, out, scratch)?;
            if let Err(e) = check_generic(rtype_num, out) {
                return fail(
                    line,
                    format!("RFC 3597 RDATA is not valid for this type: {e}"),
                );
            }
            return finish(c, out);
        }
    }
    use rtype::*;
    match rtype_num {
        A => {
            let (b, line) = c.word("IPv4 address")?;
            out.extend_from_slice(&ipv4(b, line)?.octets());
        }
        AAAA => {
            let (b, line) = c.word("IPv6 address")?;
            out.extend_from_slice(&ipv6(b, line)?.octets());
        }
        NS | CNAME | DNAME | PTR | MD | MF | MB | MG | MR => c.name_into("domain name", out)?,
        SOA => {
            c.name_into("SOA MNAME", out)?;
            c.name_into("SOA RNAME", out)?;
            out.extend_from_slice(&c.u32("SOA serial")?.to_be_bytes());
            for what in ["SOA refresh", "SOA retry", "SOA expire", "SOA minimum"] {
                out.extend_from_slice(&c.time(what)?.to_be_bytes());
            }
        }
        MX | KX | AFSDB | RT => {
            out.extend_from_slice(&c.u16("preference")?.to_be_bytes());
            c.name_into("exchange name", out)?;
        }
        MINFO | RP => {
            c.name_into("mailbox name", out)?;
            c.name_into("domain name", out)?;
        }
        TXT | SPF => {
            c.string_into("character string", out)?;
            while !c.done() {
                c.string_into("character string", out)?;
            }
        }
        HINFO => {
            c.string_into("CPU", out)?;
            c.string_into("OS", out)?;
        }
        SRV => {
            for what in ["SRV priority", "SRV weight", "SRV port"] {
                out.extend_from_slice(&c.u16(what)?.to_be_bytes());
            }
            c.name_into("SRV target", out)?;
        }
        NAPTR => {
            out.extend_from_slice(&c.u16("NAPTR order")?.to_be_bytes());
            out.extend_from_slice(&c.u16("NAPTR preference")?.to_be_bytes());
            c.string_into("NAPTR flags", out)?;
            c.string_into("NAPTR services", out)?;
            c.string_into("NAPTR regexp", out)?;
            c.name_into("NAPTR replacement", out)?;
        }
        CAA => caa(c, out)?,
        TLSA | SMIMEA => {
            out.push(c.u8("certificate usage")?);
            out.push(c.u8("selector")?);
            out.push(c.u8("matching type")?);
            hex_rest(c, out, scratch, false)?;
        }
        SSHFP => {
            out.push(c.u8("SSHFP algorithm")?);
            out.push(c.u8("SSHFP fingerprint type")?);
            hex_rest(c, out, scratch, false)?;
        }
        LOC => loc::parse(c, out)?,
        URI => {
            out.extend_from_slice(&c.u16("URI priority")?.to_be_bytes());
            out.extend_from_slice(&c.u16("URI weight")?.to_be_bytes());
            let (b, t) = c.next("URI target")?;
            if !t.quoted {
                return fail(t.line, "URI target must be a quoted string");
            }
            text::unescape_into(b, out).or_else(|e| fail(t.line, e))?;
        }
        SVCB | HTTPS => svcb::parse(c, out, scratch)?,
        DS | CDS | TA | DLV => {
            out.extend_from_slice(&c.u16("key tag")?.to_be_bytes());
            out.push(algorithm(c)?);
            out.push(c.u8("digest type")?);
            hex_rest(c, out, scratch, false)?;
        }
        DNSKEY | CDNSKEY | KEY => {
            out.extend_from_slice(&c.u16("flags")?.to_be_bytes());
            out.push(c.u8("protocol")?);
            out.push(algorithm(c)?);
            base64_rest(c, out, scratch, rtype_num == KEY)?;
        }
        RRSIG | SIG => {
            let (b, line) = c.word("type covered")?;
            let covered = type_from_text(b).ok_or_else(|| Fail {
                line,
                msg: format!("unknown type covered '{}'", show(b)),
            })?;
            out.extend_from_slice(&covered.to_be_bytes());
            out.push(algorithm(c)?);
            out.push(c.u8("labels")?);
            out.extend_from_slice(&c.time("original TTL")?.to_be_bytes());
            for what in ["signature expiration", "signature inception"] {
                let (b, line) = c.word(what)?;
                let v = text::rrsig_time(b).ok_or_else(|| Fail {
                    line,
                    msg: format!("bad {what} '{}' (YYYYMMDDHHmmSS or seconds)", show(b)),
                })?;
                out.extend_from_slice(&v.to_be_bytes());
            }
            out.extend_from_slice(&c.u16("key tag")?.to_be_bytes());
            c.name_into("signer name", out)?;
            base64_rest(c, out, scratch, false)?;
        }
        NSEC => {
            c.name_into("next domain name", out)?;
            type_bitmap(c, out)?;
        }
        NSEC3 | NSEC3PARAM => {
            out.push(c.u8("hash algorithm")?);
            out.push(c.u8("flags")?);
            out.extend_from_slice(&c.u16("iterations")?.to_be_bytes());
            let (b, line) = c.word("salt")?;
            if b == b"-" {
                out.push(0);
            } else {
                let at = out.len();
                out.push(0);
                text::hex_into(b, out).or_else(|e| fail(line, format!("bad salt: {e}")))?;
                let len = out.len() - at - 1;
                if len > 255 {
                    return fail(line, "salt longer than 255 bytes");
                }
                out[at] = len as u8;
            }
            if rtype_num == NSEC3 {
                let (b, line) = c.word("next hashed owner")?;
                let at = out.len();
                out.push(0);
                text::base32hex_into(b, out)
                    .or_else(|e| fail(line, format!("bad next hashed owner: {e}")))?;
                let len = out.len() - at - 1;
                if len == 0 || len > 255 {
                    return fail(line, "bad next hashed owner length");
                }
                out[at] = len as u8;
                type_bitmap(c, out)?;
            }
        }
        OPENPGPKEY | DHCID => base64_rest(c, out, scratch, false)?,
        ZONEMD => {
            out.extend_from_slice(&c.u32("ZONEMD serial")?.to_be_bytes());
            out.push(c.u8("ZONEMD scheme")?);
            out.push(c.u8("ZONEMD hash algorithm")?);
            let line = c.here();
            hex_rest(c, out, scratch, false)?;
            if out.len() < 6 + 12 {
                return fail(line, "ZONEMD digest shorter than 12 bytes");
            }
        }
        CERT => {
            let (b, line) = c.word("certificate type")?;
            let ct = cert_type(b).ok_or_else(|| Fail {
                line,
                msg: format!("bad certificate type '{}'", show(b)),
            })?;
            out.extend_from_slice(&ct.to_be_bytes());
            out.extend_from_slice(&c.u16("key tag")?.to_be_bytes());
            out.push(algorithm(c)?);
            base64_rest(c, out, scratch, false)?;
        }
        CSYNC => {
            out.extend_from_slice(&c.u32("CSYNC serial")?.to_be_bytes());
            out.extend_from_slice(&c.u16("CSYNC flags")?.to_be_bytes());
            type_bitmap(c, out)?;
        }
        APL => apl(c, out)?,
        EUI48 => eui(c, out, 6)?,
        EUI64 => eui(c, out, 8)?,
        NID | L64 => {
            out.extend_from_slice(&c.u16("preference")?.to_be_bytes());
            let (b, line) = c.word("locator")?;
            locator64(b, line, out)?;
        }
        L32 => {
            out.extend_from_slice(&c.u16("preference")?.to_be_bytes());
            let (b, line) = c.word("locator")?;
            out.extend_from_slice(&ipv4(b, line)?.octets());
        }
        LP => {
            out.extend_from_slice(&c.u16("preference")?.to_be_bytes());
            c.name_into("FQDN", out)?;
        }
        IPSECKEY => ipseckey(c, out, scratch)?,
        _ => {
            let name = rtype::mnemonic(rtype_num)
                .map(str::to_string)
                .unwrap_or_else(|| format!("TYPE{rtype_num}"));
            return fail(
                c.line,
                format!("no presentation format known for {name}: write its RDATA as RFC 3597 '\\# len hex'"),
            );
        }
    }
    finish(c, out)
}

fn finish(c: &Cursor<'_>, out: &[u8]) -> PResult<()> {
    if let Some(t) = c.peek() {
        return fail(
            t.line,
            format!(
                "too many fields: unexpected '{}'",
                show(tok_bytes(c.text, t))
            ),
        );
    }
    if out.len() > u16::MAX as usize {
        return fail(
            c.line,
            format!("RDATA longer than 65535 bytes ({})", out.len()),
        );
    }
    Ok(())
}

/// RFC 3597 section 5: `\# <length> <hex>...`.
fn generic(c: &mut Cursor<'_>, out: &mut Vec<u8>, scratch: &mut Vec<u8>) -> PResult<()> {
    let (b, line) = c.word("RDATA length after \\#")?;
    let len = text::number(b, u16::MAX as u64).ok_or_else(|| Fail {
        line,
        msg: format!("bad RFC 3597 RDATA length '{}'", show(b)),
    })? as usize;
    c.rest_into(scratch)?;
    text::hex_into(scratch, out).or_else(|e| fail(line, e))?;
    if out.len() != len {
        return fail(
            line,
            format!(
                "RFC 3597 RDATA length mismatch: {len} declared, {} given",
                out.len()
            ),
        );
    }
    Ok(())
}

/// Checks the wire form of generic RDATA for the types whose layout is simple and that the rest
/// of the store reads (SOA for its serial, names for compression); BIND checks all types.
fn check_generic(t: u16, w: &[u8]) -> Result<(), &'static str> {
    use crate::name::wire_name_len;
    let name_at = |pos: usize| -> Result<usize, &'static str> {
        let rest = w.get(pos..).ok_or("truncated")?;
        wire_name_len(rest).map_err(|_| "bad domain name")
    };
    let exact = |ok: bool| if ok { Ok(()) } else { Err("wrong length") };
    match t {
        rtype::A => exact(w.len() == 4),
        rtype::AAAA => exact(w.len() == 16),
        rtype::NS
        | rtype::CNAME
        | rtype::DNAME
        | rtype::PTR
        | rtype::MD
        | rtype::MF
        | rtype::MB
        | rtype::MG
        | rtype::MR => exact(name_at(0)? == w.len()),
        rtype::MX | rtype::KX | rtype::AFSDB | rtype::RT => {
            exact(w.len() > 2 && 2 + name_at(2)? == w.len())
        }
        rtype::SOA => {
            let m = name_at(0)?;
            let r = name_at(m)?;
            exact(m + r + 20 == w.len())
        }
        rtype::TXT | rtype::SPF => {
            let mut i = 0;
            while i < w.len() {
                i += 1 + w[i] as usize;
            }
            exact(i == w.len() && !w.is_empty())
        }
        _ => Ok(()),
    }
}

fn hex_rest(
    c: &mut Cursor<'_>,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    may_be_empty: bool,
) -> PResult<()> {
    let line = c.rest_into(scratch)?;
    if scratch.is_empty() && !may_be_empty {
        return fail(line, "unexpected end of RDATA: expected hex data");
    }
    text::hex_into(scratch, out).or_else(|e| fail(line, e))
}

fn base64_rest(
    c: &mut Cursor<'_>,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    may_be_empty: bool,
) -> PResult<()> {
    let line = c.rest_into(scratch)?;
    if scratch.is_empty() && !may_be_empty {
        return fail(line, "unexpected end of RDATA: expected base64 data");
    }
    text::base64_into(scratch, out).or_else(|e| fail(line, e))
}

/// Dotted-quad IPv4 address: four decimal octets, no leading zeros (as BIND's inet_pton).
pub fn ipv4(b: &[u8], line: u32) -> PResult<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (k, o) in octets.iter_mut().enumerate() {
        let start = i;
        let mut v: u32 = 0;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 3 {
            v = v * 10 + (b[i] - b'0') as u32;
            i += 1;
        }
        let n = i - start;
        let sep_ok = if k < 3 {
            b.get(i) == Some(&b'.')
        } else {
            i == b.len()
        };
        if n == 0 || v > 255 || (n > 1 && b[start] == b'0') || !sep_ok {
            return fail(line, format!("bad IPv4 address '{}'", show(b)));
        }
        *o = v as u8;
        i += 1;
    }
    Ok(Ipv4Addr::from(octets))
}

pub fn ipv6(b: &[u8], line: u32) -> PResult<Ipv6Addr> {
    parse_ipv6(b).map_or_else(|| fail(line, format!("bad IPv6 address '{}'", show(b))), Ok)
}

/// RFC 4291 section 2.2 text form: up to eight groups of 1-4 hex digits, one `::` for a run of
/// zero groups, and optionally a dotted quad as the last 32 bits. (std's parser costs about
/// 1,200 instructions per address; this one a tenth of that.)
fn parse_ipv6(b: &[u8]) -> Option<Ipv6Addr> {
    let mut head = [0u16; 8];
    let mut tail = [0u16; 8];
    let (mut nh, mut nt) = (0usize, 0usize);
    let mut gap = false;
    let mut i = 0;
    if b.starts_with(b"::") {
        gap = true;
        i = 2;
        if i == b.len() {
            return Some(Ipv6Addr::UNSPECIFIED);
        }
    } else if b.first() == Some(&b':') {
        return None;
    }
    loop {
        if nh + nt >= 8 {
            return None;
        }
        // A dotted quad as the last 32 bits.
        let rest = &b[i..];
        let next_colon = rest.iter().position(|&c| c == b':').unwrap_or(rest.len());
        if rest[..next_colon].contains(&b'.') {
            if next_colon != rest.len() || nh + nt > 6 {
                return None;
            }
            let v4 = ipv4(rest, 0).ok()?.octets();
            for pair in [[v4[0], v4[1]], [v4[2], v4[3]]] {
                let g = u16::from_be_bytes(pair);
                if gap {
                    tail[nt] = g;
                    nt += 1;
                } else {
                    head[nh] = g;
                    nh += 1;
                }
            }
            break;
        }
        let mut v: u32 = 0;
        let start = i;
        while i < b.len() && i - start < 5 {
            let d = match b[i] {
                c @ b'0'..=b'9' => c - b'0',
                c @ b'a'..=b'f' => c - b'a' + 10,
                c @ b'A'..=b'F' => c - b'A' + 10,
                _ => break,
            };
            v = v * 16 + d as u32;
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 4 {
            return None;
        }
        if gap {
            tail[nt] = v as u16;
            nt += 1;
        } else {
            head[nh] = v as u16;
            nh += 1;
        }
        if i == b.len() {
            break;
        }
        if b[i] != b':' {
            return None;
        }
        i += 1;
        if i < b.len() && b[i] == b':' {
            if gap {
                return None;
            }
            gap = true;
            i += 1;
            if i == b.len() {
                break;
            }
        } else if i == b.len() {
            return None;
        }
    }
    let total = nh + nt;
    if (gap && total > 7) || (!gap && total != 8) {
        return None;
    }
    let mut g = [0u16; 8];
    g[..nh].copy_from_slice(&head[..nh]);
    g[8 - nt..].copy_from_slice(&tail[..nt]);
    Some(Ipv6Addr::from(g))
}

/// A type mnemonic or `TYPEnnn`.
pub fn type_from_text(b: &[u8]) -> Option<u16> {
    std::str::from_utf8(b).ok().and_then(rtype::from_mnemonic)
}

/// DNSSEC algorithm: a number or a mnemonic (RFC 4034 appendix A.1, IANA registry).
fn algorithm(c: &mut Cursor<'_>) -> PResult<u8> {
    let (b, line) = c.word("algorithm")?;
    if let Some(v) = text::number(b, 255) {
        return Ok(v as u8);
    }
    const NAMES: &[(&str, u8)] = &[
        ("RSAMD5", 1),
        ("DH", 2),
        ("DSA", 3),
        ("RSASHA1", 5),
        ("DSA-NSEC3-SHA1", 6),
        ("NSEC3DSA", 6),
        ("RSASHA1-NSEC3-SHA1", 7),
        ("NSEC3RSASHA1", 7),
        ("RSASHA256", 8),
        ("RSASHA512", 10),
        ("ECC-GOST", 12),
        ("ECDSAP256SHA256", 13),
        ("ECDSAP384SHA384", 14),
        ("ED25519", 15),
        ("ED448", 16),
        ("INDIRECT", 252),
        ("PRIVATEDNS", 253),
        ("PRIVATEOID", 254),
    ];
    NAMES
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(b))
        .map(|&(_, v)| v)
        .map_or_else(|| fail(line, format!("bad algorithm '{}'", show(b))), Ok)
}

/// Certificate type (RFC 4398 section 2.1): a number or mnemonic.
fn cert_type(b: &[u8]) -> Option<u16> {
    if let Some(v) = text::number(b, u16::MAX as u64) {
        return Some(v as u16);
    }
    const NAMES: &[(&str, u16)] = &[
        ("PKIX", 1),
        ("SPKI", 2),
        ("PGP", 3),
        ("IPKIX", 4),
        ("ISPKI", 5),
        ("IPGP", 6),
        ("ACPKIX", 7),
        ("IACPKIX", 8),
        ("URI", 253),
        ("OID", 254),
    ];
    NAMES
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(b))
        .map(|&(_, v)| v)
}

/// CAA (RFC 8659 section 4.1): flags, tag (letters and digits), value (rest of RDATA).
fn caa(c: &mut Cursor<'_>, out: &mut Vec<u8>) -> PResult<()> {
    out.push(c.u8("CAA flags")?);
    let (tag, line) = c.word("CAA tag")?;
    if tag.is_empty() || tag.len() > 255 || !tag.iter().all(u8::is_ascii_alphanumeric) {
        return fail(line, format!("bad CAA tag '{}'", show(tag)));
    }
    out.push(tag.len() as u8);
    out.extend_from_slice(tag);
    let (v, t) = c.next("CAA value")?;
    text::unescape_into(v, out).or_else(|e| fail(t.line, e))
}

/// Type bitmap (RFC 4034 section 4.1.2) from the remaining mnemonics.
fn type_bitmap(c: &mut Cursor<'_>, out: &mut Vec<u8>) -> PResult<()> {
    let mut types: Vec<u16> = Vec::new();
    while !c.done() {
        let (b, line) = c.word("type")?;
        let t = type_from_text(b).ok_or_else(|| Fail {
            line,
            msg: format!("unknown type '{}' in type bitmap", show(b)),
        })?;
        types.push(t);
    }
    types.sort_unstable();
    types.dedup();
    let mut i = 0;
    while i < types.len() {
        let window = (types[i] >> 8) as u8;
        let mut bits = [0u8; 32];
        let mut max = 0usize;
        while i < types.len() && (types[i] >> 8) as u8 == window {
            let low = (types[i] & 0xFF) as usize;
            bits[low / 8] |= 0x80 >> (low % 8);
            max = low / 8;
            i += 1;
        }
        out.push(window);
        out.push((max + 1) as u8);
        out.extend_from_slice(&bits[..=max]);
    }
    Ok(())
}

/// APL (RFC 3123 section 4): `[!]afi:address/prefix` items.
fn apl(c: &mut Cursor<'_>, out: &mut Vec<u8>) -> PResult<()> {
    while !c.done() {
        let (b, line) = c.word("APL item")?;
        let bad = || Fail {
            line,
            msg: format!("bad APL item '{}'", show(b)),
        };
        let (neg, rest) = match b.first() {
            Some(b'!') => (true, &b[1..]),
            _ => (false, b),
        };
        let colon = rest.iter().position(|&x| x == b':').ok_or_else(bad)?;
        let slash = rest.iter().rposition(|&x| x == b'/').ok_or_else(bad)?;
        if slash < colon {
            return Err(bad());
        }
        let afi = text::number(&rest[..colon], 2).ok_or_else(bad)? as u16;
        let addr = &rest[colon + 1..slash];
        let (mut bytes, max_prefix): (Vec<u8>, u64) = match afi {
            1 => (ipv4(addr, line)?.octets().to_vec(), 32),
            2 => (ipv6(addr, line)?.octets().to_vec(), 128),
            _ => return Err(bad()),
        };
        let prefix = text::number(&rest[slash + 1..], max_prefix).ok_or_else(bad)? as u8;
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        out.extend_from_slice(&afi.to_be_bytes());
        out.push(prefix);
        out.push(bytes.len() as u8 | if neg { 0x80 } else { 0 });
        out.extend_from_slice(&bytes);
    }
    Ok(())
}

/// EUI-48/EUI-64 (RFC 7043 section 3.2/4.2): hex pairs joined by `-`.
fn eui(c: &mut Cursor<'_>, out: &mut Vec<u8>, n: usize) -> PResult<()> {
    let (b, line) = c.word("EUI address")?;
    let parts: Vec<&[u8]> = b.split(|&x| x == b'-').collect();
    if parts.len() != n || parts.iter().any(|p| p.len() != 2) {
        return fail(line, format!("bad EUI-{} address '{}'", n * 8, show(b)));
    }
    for p in parts {
        text::hex_into(p, out).or_else(|e| fail(line, e))?;
    }
    Ok(())
}

/// NID/L64 locator (RFC 6742 section 2.3): four groups of up to four hex digits.
fn locator64(b: &[u8], line: u32, out: &mut Vec<u8>) -> PResult<()> {
    let parts: Vec<&[u8]> = b.split(|&x| x == b':').collect();
    if parts.len() != 4 || parts.iter().any(|p| p.is_empty() || p.len() > 4) {
        return fail(line, format!("bad 64-bit locator '{}'", show(b)));
    }
    for p in parts {
        let s = std::str::from_utf8(p).unwrap_or("");
        let v = u16::from_str_radix(s, 16).or_else(|_| fail(line, "bad hex in locator"))?;
        out.extend_from_slice(&v.to_be_bytes());
    }
    Ok(())
}

/// IPSECKEY (RFC 4025 section 3.1).
fn ipseckey(c: &mut Cursor<'_>, out: &mut Vec<u8>, scratch: &mut Vec<u8>) -> PResult<()> {
    out.push(c.u8("precedence")?);
    let gw_line = c.here();
    let gtype = c.u8("gateway type")?;
    out.push(gtype);
    out.push(c.u8("algorithm")?);
    let (g, line) = c.word("gateway")?;
    match gtype {
        0 => {
            if g != b"." {
                return fail(line, "gateway type 0 needs gateway '.'");
            }
        }
        1 => out.extend_from_slice(&ipv4(g, line)?.octets()),
        2 => out.extend_from_slice(&ipv6(g, line)?.octets()),
        3 => {
            text::name_into(g, c.origin, out).or_else(|e| fail(line, e))?;
        }
        _ => return fail(gw_line, "bad IPSECKEY gateway type"),
    }
    // BIND requires the key field; RFC 4025 section 2.6 allows none, but then the algorithm is 0
    // and BIND still wants the token, so an absent key is an error here too.
    base64_rest(c, out, scratch, false)
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::lexer::Lexer;
    use super::*;

    /// Parses `rdata` text of type `t` with origin example.com.
    pub fn wire(t: u16, rdata: &str) -> Result<Vec<u8>, String> {
        let origin = Name::parse("example.com.", None).unwrap();
        let mut toks = Vec::new();
        let mut lx = Lexer::new(rdata.as_bytes(), 1);
        lx.next_entry(&mut toks)
            .map_err(|e| e.message.to_string())?;
        let mut c = Cursor {
            text: rdata.as_bytes(),
            toks: &toks,
            pos: 1,
            line: 1,
            origin: &origin,
        };
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        parse(t, &mut c, &mut out, &mut scratch).map_err(|f| f.msg)?;
        Ok(out)
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        data_encoding::HEXLOWER_PERMISSIVE
            .decode(s.as_bytes())
            .unwrap()
    }

    #[test]
    fn a_aaaa() {
        assert_eq!(wire(rtype::A, "x 192.0.2.1").unwrap(), [192, 0, 2, 1]);
        assert!(wire(rtype::A, "x 192.0.2").is_err());
        assert!(wire(rtype::A, "x 01.0.2.1").is_err());
        assert!(wire(rtype::A, "x 1.2.3.4 5")
            .unwrap_err()
            .contains("too many"));
        assert_eq!(
            wire(rtype::AAAA, "x 2001:db8::1").unwrap(),
            hex("20010db8000000000000000000000001")
        );
        assert_eq!(
            wire(rtype::AAAA, "x ::ffff:192.0.2.1").unwrap(),
            hex("00000000000000000000ffffc0000201")
        );
        assert!(wire(rtype::AAAA, "x 2001:db8:::1").is_err());
        // The hand-written IPv6 parser agrees with std's on valid and invalid forms.
        for text in [
            "::",
            "::1",
            "1::",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "2001:DB8:0:0:8:800:200C:417A",
            "ff01::101",
            "::13.1.68.3",
            "::ffff:129.144.52.38",
            "1:2:3:4:5:6:1.2.3.4",
            "1::5:6:1.2.3.4",
            "fe80::1%eth0",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7",
            ":1::2",
            "1::2::3",
            "12345::",
            "1:2:3:4:5:6:7:1.2.3.4",
            "1:",
            ":",
            "::1.2.3",
            "g::",
            "1::2:",
            "::ffff:01.2.3.4",
            "1:2:3:4:5:6:7::8",
            "",
        ] {
            assert_eq!(
                parse_ipv6(text.as_bytes()),
                text.parse::<Ipv6Addr>()
                    .ok()
                    .filter(|_| !text.contains("01.")),
                "{text}"
            );
        }
    }

    #[test]
    fn names_and_soa() {
        assert_eq!(
            wire(rtype::NS, "x ns1").unwrap(),
            b"\x03ns1\x07example\x03com\x00"
        );
        assert_eq!(
            wire(rtype::CNAME, "x @").unwrap(),
            b"\x07example\x03com\x00"
        );
        assert_eq!(wire(rtype::DNAME, "x .").unwrap(), b"\x00");
        let soa = wire(rtype::SOA, "x ns hm ( 1 2h 15M 1w 5m )").unwrap();
        let mut want = b"\x02ns\x07example\x03com\x00\x02hm\x07example\x03com\x00".to_vec();
        for v in [1u32, 7200, 900, 604800, 300] {
            want.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(soa, want);
        assert_eq!(
            wire(rtype::MX, "x 10 mail.example.net.").unwrap(),
            b"\x00\x0a\x04mail\x07example\x03net\x00"
        );
        assert!(wire(rtype::MX, "x 65536 mail.").is_err());
        assert_eq!(
            wire(rtype::RP, "x a\\.b c").unwrap(),
            b"\x03a.b\x07example\x03com\x00\x01c\x07example\x03com\x00"
        );
    }

    #[test]
    fn strings() {
        assert_eq!(
            wire(rtype::TXT, "x \"a b\" c \"\" \"\\\"\\065\"").unwrap(),
            b"\x03a b\x01c\x00\x02\"A"
        );
        assert!(wire(rtype::TXT, "x").is_err());
        let long = format!("x \"{}\"", "a".repeat(256));
        assert!(wire(rtype::TXT, &long).unwrap_err().contains("255"));
        assert_eq!(
            wire(rtype::HINFO, "x \"INTEL-386\" UNIX").unwrap(),
            b"\x09INTEL-386\x04UNIX"
        );
        // RFC 2915 section 7.2 example (NAPTR).
        assert_eq!(
            wire(
                rtype::NAPTR,
                "x 100 10 \"\" \"\" \"/urn:cid:.+@([^\\\\.]+\\\\.)(.*)$/\\\\2/i\" ."
            )
            .unwrap(),
            [
                &[0, 100, 0, 10, 0, 0][..],
                b"\x20/urn:cid:.+@([^\\.]+\\.)(.*)$/\\2/i",
                b"\x00"
            ]
            .concat()
        );
        // RFC 8659 section 4.1.1: CAA 0 issue "ca.example.net".
        assert_eq!(
            wire(rtype::CAA, "x 0 issue \"ca.example.net\"").unwrap(),
            b"\x00\x05issueca.example.net"
        );
        assert!(wire(rtype::CAA, "x 0 is-sue \"x\"").is_err());
        // RFC 7553 URI.
        assert_eq!(
            wire(rtype::URI, "x 10 1 \"ftp://ftp1.example.com/public\"").unwrap(),
            b"\x00\x0a\x00\x01ftp://ftp1.example.com/public"
        );
    }

    #[test]
    fn srv_tlsa_sshfp() {
        assert_eq!(
            wire(rtype::SRV, "x 0 5 5060 sip").unwrap(),
            b"\x00\x00\x00\x05\x13\xc4\x03sip\x07example\x03com\x00"
        );
        assert_eq!(
            wire(rtype::TLSA, "x 3 1 1 ( 0123 4567\n 89ab )").unwrap(),
            hex("030101 0123456789ab")
        );
        assert!(wire(rtype::TLSA, "x 3 1 1 012").is_err());
        assert_eq!(
            wire(rtype::SSHFP, "x 4 2 ABCDEF").unwrap(),
            hex("0402abcdef")
        );
    }

    #[test]
    fn dnssec() {
        // RFC 4034 section 2.3 DNSKEY example (truncated key material).
        assert_eq!(
            wire(
                rtype::DNSKEY,
                "x 256 3 5 ( AQPSKmynfzW4kyBv015MUG2DeIQ3\n Cbl+BBZH4b/0PY1kxkmvHjcZc8nokfzj31GajIQKY+5CptLr3buXA10hWqTkF7H6RfoRqXQeogmMHfpftf6zMv1LyBUgia7za6ZEzOJBOztyvhjL742iU/TpPSEDhm2SNKLijfUppn1UaNvv4w== )"
            )
            .unwrap()[..4],
            [1, 0, 3, 5]
        );
        assert!(wire(rtype::DNSKEY, "x 256 3 5 AQP*").is_err());
        // RFC 4034 section 5.4 DS example.
        assert_eq!(
            wire(
                rtype::DS,
                "x 60485 5 1 ( 2BB183AF5F22588179A53B0A98631FAD1A292118 )"
            )
            .unwrap(),
            hex("ec4505012bb183af5f22588179a53b0a98631fad1a292118")
        );
        assert_eq!(wire(rtype::CDS, "x 0 0 0 00").unwrap(), hex("0000000000"));
        // RFC 4034 section 4.3 NSEC example.
        assert_eq!(
            wire(
                rtype::NSEC,
                "x host.example.com. ( A MX RRSIG NSEC TYPE1234 )"
            )
            .unwrap(),
            [
                &b"\x04host\x07example\x03com\x00"[..],
                &hex(&format!("0006400100000003 041b{}20", "00".repeat(26)))
            ]
            .concat()
        );
        // RFC 4034 section 3.3 RRSIG example.
        let sig = wire(
            rtype::RRSIG,
            "x A 5 3 86400 20030322173103 ( 20030220173103 2642 example.com.\n oJB1W6WNGv+ldvQ3WDG0MQkg5IEhjRip8WTr\n PYGv07h108dUKGMeDPKijVCHX3DDKdfb+v6o\n B9wfuh3DTJXUAfI/M0zmO/zz8bW0Rznl8O3t\n GNazPwQKkRN20XPXV6nwwfoXmJQbsLNrLfkG\n J5D6fwFm8nN+6pBzeDQfsS3Ap3o= )",
        )
        .unwrap();
        assert_eq!(
            sig[..18],
            hex("0001 05 03 00015180 3e7c9dd7 3e5510d7 0a52")[..]
        );
        assert_eq!(&sig[18..31], b"\x07example\x03com\x00");
        assert_eq!(
            wire(
                rtype::RRSIG,
                "x A 5 3 86400 1048354263 1045762263 2642 example.com. AA=="
            )
            .unwrap()[8..16],
            hex("3e7c9dd73e5510d7")[..]
        );
        // RFC 5155 appendix A: NSEC3 and NSEC3PARAM.
        let n3 = wire(
            rtype::NSEC3,
            "x 1 1 12 aabbccdd ( 2t7b4g4vsa5smi47k61mv5bv1a22bojr MX DNSKEY NS SOA NSEC3PARAM RRSIG )",
        )
        .unwrap();
        assert_eq!(n3[..9], hex("0101000c04aabbccdd14")[..9]);
        assert_eq!(n3[9], 20);
        assert_eq!(n3[30..], hex("000722010000000290")[..]);
        assert_eq!(
            wire(rtype::NSEC3PARAM, "x 1 0 0 -").unwrap(),
            hex("0100000000")
        );
        assert!(wire(
            rtype::NSEC3,
            "x 1 1 12 - 2t7b4g4vsa5smi47k61mv5bv1a22boj! A"
        )
        .is_err());
        assert_eq!(
            wire(rtype::ZONEMD, "x 2018031900 1 1 ( c68090d90a7aed71 6bc459f9340e3d7c 1370d4d24b7e2fc3 a1ddc0b9a87153b9 a9713b3c9ae5cc27 777f98b8e730044c )").unwrap()[..6],
            [&2018031900u32.to_be_bytes()[..], &[1, 1]].concat()[..]
        );
        assert!(wire(rtype::ZONEMD, "x 1 1 1 00").is_err());
    }

    #[test]
    fn generic_rdata() {
        assert_eq!(wire(65000, "x \\# 4 0A000001").unwrap(), [10, 0, 0, 1]);
        assert_eq!(wire(65000, "x \\# 0").unwrap(), b"");
        assert_eq!(
            wire(rtype::A, "x \\# 4 ( 0A00 0001 )").unwrap(),
            [10, 0, 0, 1]
        );
        assert!(wire(65000, "x \\# 3 0A000001")
            .unwrap_err()
            .contains("mismatch"));
        assert!(wire(65000, "x 0A000001").is_err());
        // Generic RDATA of a known type must have that type's layout.
        assert!(wire(rtype::A, "x \\# 3 0A0000").is_err());
        assert!(wire(rtype::SOA, "x \\# 0").is_err());
        assert!(wire(rtype::NS, "x \\# 2 0100").is_err());
        assert!(wire(rtype::MX, "x \\# 3 000a00").is_ok());
        assert!(wire(rtype::TXT, "x \\# 2 0561").is_err());
    }

    #[test]
    fn misc_types() {
        // RFC 3123 section 5 APL example.
        assert_eq!(
            wire(rtype::APL, "x 1:192.168.32.0/21 !1:192.168.38.0/28").unwrap(),
            hex("0001 15 03 c0a820 0001 1c 83 c0a826")
        );
        assert_eq!(
            wire(rtype::EUI48, "x 00-00-5e-00-53-2a").unwrap(),
            hex("00005e00532a")
        );
        assert!(wire(rtype::EUI48, "x 00-00-5e-00-53").is_err());
        assert_eq!(
            wire(rtype::EUI64, "x 00-00-5e-ef-10-00-00-2a").unwrap(),
            hex("00005eef1000002a")
        );
        // RFC 6742 examples.
        assert_eq!(
            wire(rtype::NID, "x 10 0014:4fff:ff20:ee64").unwrap(),
            hex("000a 00144fffff20ee64")
        );
        assert_eq!(
            wire(rtype::L32, "x 10 10.1.2.0").unwrap(),
            hex("000a 0a010200")
        );
        assert_eq!(
            wire(rtype::LP, "x 10 l64-subnet1.example.com.").unwrap()[..3],
            hex("000a0b")[..]
        );
        assert_eq!(
            wire(
                rtype::IPSECKEY,
                "x 10 1 2 192.0.2.38 AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ=="
            )
            .unwrap()[..7],
            hex("0a0102c0000226")[..]
        );
        assert!(wire(rtype::IPSECKEY, "x 10 0 0 .").is_err());
        assert_eq!(
            wire(rtype::CSYNC, "x 66 3 A NS AAAA").unwrap(),
            hex("00000042 0003 000460000008")
        );
        assert_eq!(
            wire(rtype::CERT, "x PGP 0 0 AA==").unwrap(),
            hex("0003 0000 00 00")
        );
        // RFC 6742 section 2.3: L64 example; RFC 1183 AFSDB; RFC 2230 KX; PTR; DNAME.
        assert_eq!(
            wire(rtype::L64, "x 10 2001:0DB8:1140:1000").unwrap(),
            hex("000a 20010db811401000")
        );
        assert!(wire(rtype::L64, "x 10 2001:0DB8:1140").is_err());
        assert_eq!(
            wire(rtype::AFSDB, "x 1 afs").unwrap(),
            b"\x00\x01\x03afs\x07example\x03com\x00"
        );
        assert_eq!(wire(rtype::KX, "x 10 .").unwrap(), b"\x00\x0a\x00");
        assert_eq!(wire(rtype::PTR, "x a.b.").unwrap(), b"\x01a\x01b\x00");
        assert_eq!(
            wire(rtype::SPF, "x \"v=spf1 -all\"").unwrap(),
            b"\x0bv=spf1 -all"
        );
        // RFC 7929 OPENPGPKEY and RFC 4701 DHCID: base64, split allowed.
        assert_eq!(
            wire(rtype::OPENPGPKEY, "x AAEC AwQ=").unwrap(),
            [0, 1, 2, 3, 4]
        );
        assert_eq!(
            wire(
                rtype::DHCID,
                "x ( AAIBY2/AuCccgoJbsaxcQc9TUapptP69l\n OjxfNuVAA2kjEA= )"
            )
            .unwrap()[..3],
            [0x00, 0x02, 0x01]
        );
        assert_eq!(
            wire(rtype::SMIMEA, "x 3 0 1 ABCD").unwrap(),
            hex("030001abcd")
        );
        assert!(wire(rtype::WKS, "x 1.2.3.4 tcp").is_err());
    }
}
