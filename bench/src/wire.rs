//! Minimal DNS wire handling for the load client: build queries, walk responses.
//!
//! Owns: query construction (SOA, AXFR, IXFR with an authority SOA), header access, the cheap
//! record walk used on every message (skip names, read type and rdlength, pick out SOA serials),
//! and the canonical record form used by `--verify` digests. Does not own: sockets, clocks, TSIG
//! (see `tsig`), or the transfer state machine (see `xfr`).
//!
//! Everything here works on caller-owned byte slices and never allocates on the cheap path.

/// DNS header length (RFC 1035 section 4.1.1).
pub const HEADER_LEN: usize = 12;
/// Record types this module needs by number.
pub const TYPE_SOA: u16 = 6;
pub const TYPE_TSIG: u16 = 250;
pub const TYPE_IXFR: u16 = 251;
pub const TYPE_AXFR: u16 = 252;
pub const CLASS_IN: u16 = 1;
pub const CLASS_ANY: u16 = 255;
/// A name is at most 255 bytes on the wire (RFC 1035 section 2.3.4).
const NAME_MAX_LEN: usize = 255;
/// Compression pointers followed per name before giving up: a loop guard. 127 is the most labels
/// a 255-byte name can have, so no valid name needs more hops.
const NAME_MAX_POINTERS: usize = 127;

/// Why a message could not be walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The message or a field runs past the end of the message.
    Short,
    /// A name has a bad label type, a pointer loop, a forward pointer or is too long.
    BadName,
    /// Records end before the message does (the counts and the length disagree).
    TrailingBytes,
    /// An RDATA's inner structure does not fit its rdlength.
    BadRdata,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WireError::Short => "message shorter than its contents",
            WireError::BadName => "malformed name",
            WireError::TrailingBytes => "bytes after the last record",
            WireError::BadRdata => "malformed rdata",
        })
    }
}

#[inline]
pub fn u16_at(b: &[u8], pos: usize) -> Result<u16, WireError> {
    match b.get(pos..pos + 2) {
        Some(s) => Ok(u16::from_be_bytes([s[0], s[1]])),
        None => Err(WireError::Short),
    }
}

#[inline]
pub fn u32_at(b: &[u8], pos: usize) -> Result<u32, WireError> {
    match b.get(pos..pos + 4) {
        Some(s) => Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]])),
        None => Err(WireError::Short),
    }
}

/// The fixed header of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    pub fn parse(msg: &[u8]) -> Result<Header, WireError> {
        if msg.len() < HEADER_LEN {
            return Err(WireError::Short);
        }
        Ok(Header {
            id: u16_at(msg, 0)?,
            flags: u16_at(msg, 2)?,
            qdcount: u16_at(msg, 4)?,
            ancount: u16_at(msg, 6)?,
            nscount: u16_at(msg, 8)?,
            arcount: u16_at(msg, 10)?,
        })
    }
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    pub fn rcode(&self) -> u8 {
        (self.flags & 0x000f) as u8
    }
}

/// Skip a (possibly compressed) name starting at `pos`; returns the position after it.
#[inline]
pub fn skip_name(msg: &[u8], mut pos: usize) -> Result<usize, WireError> {
    let mut len = 0usize;
    loop {
        let b = *msg.get(pos).ok_or(WireError::Short)?;
        match b & 0xc0 {
            0x00 => {
                if b == 0 {
                    return Ok(pos + 1);
                }
                len += b as usize + 1;
                if len >= NAME_MAX_LEN {
                    return Err(WireError::BadName);
                }
                pos += 1 + b as usize;
            }
            0xc0 => {
                if pos + 2 > msg.len() {
                    return Err(WireError::Short);
                }
                return Ok(pos + 2);
            }
            _ => return Err(WireError::BadName),
        }
    }
}

/// Read a name at `pos`, following compression pointers, appending its uncompressed wire form
/// to `out` (lowercased when `lower`). Returns the position after the name in the message.
pub fn read_name(
    msg: &[u8],
    mut pos: usize,
    out: &mut Vec<u8>,
    lower: bool,
) -> Result<usize, WireError> {
    let mut end = None;
    let mut hops = 0usize;
    let start_len = out.len();
    loop {
        let b = *msg.get(pos).ok_or(WireError::Short)?;
        match b & 0xc0 {
            0x00 => {
                let label = msg.get(pos..pos + 1 + b as usize).ok_or(WireError::Short)?;
                if out.len() - start_len + label.len() > NAME_MAX_LEN {
                    return Err(WireError::BadName);
                }
                if lower {
                    out.push(b);
                    out.extend(label[1..].iter().map(u8::to_ascii_lowercase));
                } else {
                    out.extend_from_slice(label);
                }
                pos += 1 + b as usize;
                if b == 0 {
                    return Ok(end.unwrap_or(pos));
                }
            }
            0xc0 => {
                let target = (u16_at(msg, pos)? & 0x3fff) as usize;
                if end.is_none() {
                    end = Some(pos + 2);
                }
                // Pointers must go backwards (RFC 1035 section 4.1.4: "a prior occurrence");
                // this plus the hop bound rules out loops.
                hops += 1;
                if target >= pos || hops > NAME_MAX_POINTERS {
                    return Err(WireError::BadName);
                }
                pos = target;
            }
            _ => return Err(WireError::BadName),
        }
    }
}

/// One resource record as found in a message, by position.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef {
    pub owner_pos: usize,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata_pos: usize,
    pub rdlen: usize,
}

/// Read the fixed part of a record at `pos`; returns it and the position after its RDATA.
#[inline]
pub fn read_record(msg: &[u8], pos: usize) -> Result<(RecordRef, usize), WireError> {
    let p = skip_name(msg, pos)?;
    if p + 10 > msg.len() {
        return Err(WireError::Short);
    }
    let rtype = u16_at(msg, p)?;
    let class = u16_at(msg, p + 2)?;
    let ttl = u32_at(msg, p + 4)?;
    let rdlen = u16_at(msg, p + 8)? as usize;
    let rdata_pos = p + 10;
    if rdata_pos + rdlen > msg.len() {
        return Err(WireError::Short);
    }
    Ok((
        RecordRef {
            owner_pos: pos,
            rtype,
            class,
            ttl,
            rdata_pos,
            rdlen,
        },
        rdata_pos + rdlen,
    ))
}

/// The serial of an SOA record's RDATA (after MNAME and RNAME).
pub fn soa_serial(msg: &[u8], rec: &RecordRef) -> Result<u32, WireError> {
    let end = rec.rdata_pos + rec.rdlen;
    let p = skip_name(msg, rec.rdata_pos)?;
    let p = skip_name(msg, p)?;
    if p + 20 != end {
        return Err(WireError::BadRdata);
    }
    u32_at(msg, p)
}

/// Skip the question section; returns the position of the first answer record.
pub fn skip_questions(msg: &[u8], qdcount: u16) -> Result<usize, WireError> {
    let mut pos = HEADER_LEN;
    for _ in 0..qdcount {
        pos = skip_name(msg, pos)? + 4;
        if pos > msg.len() {
            return Err(WireError::Short);
        }
    }
    Ok(pos)
}

/// Encode a presentation-format domain name (`example.com.` or `example.com`) into wire form.
/// Accepts `\DDD` and `\X` escapes. The name is taken as absolute.
pub fn name_to_wire(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() + 2);
    if text == "." || text.is_empty() {
        out.push(0);
        return Ok(out);
    }
    let bytes = text.as_bytes();
    let mut label: Vec<u8> = Vec::new();
    let mut i = 0;
    let flush = |label: &mut Vec<u8>, out: &mut Vec<u8>| -> Result<(), String> {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("bad label length in name {text:?}"));
        }
        out.push(label.len() as u8);
        out.append(label);
        Ok(())
    };
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\\' {
            let rest = &bytes[i + 1..];
            if rest.len() >= 3 && rest[..3].iter().all(u8::is_ascii_digit) {
                let v: u32 = std::str::from_utf8(&rest[..3])
                    .map_err(|e| e.to_string())?
                    .parse()
                    .map_err(|e: std::num::ParseIntError| e.to_string())?;
                if v > 255 {
                    return Err(format!("bad escape in name {text:?}"));
                }
                label.push(v as u8);
                i += 4;
            } else if let Some(&x) = rest.first() {
                label.push(x);
                i += 2;
            } else {
                return Err(format!("dangling escape in name {text:?}"));
            }
        } else if c == b'.' {
            flush(&mut label, &mut out)?;
            i += 1;
        } else {
            label.push(c);
            i += 1;
        }
    }
    if !label.is_empty() {
        flush(&mut label, &mut out)?;
    }
    out.push(0);
    if out.len() > NAME_MAX_LEN {
        return Err(format!("name too long: {text:?}"));
    }
    Ok(out)
}

/// Lowercase a wire-format (uncompressed) name in place.
pub fn lowercase_wire_name(name: &mut [u8]) {
    let mut i = 0;
    while i < name.len() {
        let l = name[i] as usize;
        if l == 0 {
            break;
        }
        let end = (i + 1 + l).min(name.len());
        for b in &mut name[i + 1..end] {
            *b = b.to_ascii_lowercase();
        }
        i += 1 + l;
    }
}

/// Build a query message (no TCP length prefix): one question, RD clear, and for IXFR an
/// authority SOA carrying `ixfr_serial` (RFC 1995 section 3).
pub fn build_query(id: u16, qname: &[u8], qtype: u16, ixfr_serial: Option<u32>) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + 2 * qname.len());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&0u16.to_be_bytes()); // opcode QUERY, no flags
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&0u16.to_be_bytes());
    m.extend_from_slice(&(ixfr_serial.is_some() as u16).to_be_bytes());
    m.extend_from_slice(&0u16.to_be_bytes());
    m.extend_from_slice(qname);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    if let Some(serial) = ixfr_serial {
        m.extend_from_slice(&[0xc0, 0x0c]); // owner: the question name
        m.extend_from_slice(&TYPE_SOA.to_be_bytes());
        m.extend_from_slice(&CLASS_IN.to_be_bytes());
        m.extend_from_slice(&0u32.to_be_bytes());
        m.extend_from_slice(&22u16.to_be_bytes());
        m.push(0); // MNAME "."
        m.push(0); // RNAME "."
        m.extend_from_slice(&serial.to_be_bytes());
        m.extend_from_slice(&[0u8; 16]); // refresh, retry, expire, minimum
    }
    m
}

/// RDATA layout of the types whose RDATA holds domain names, so the canonical form can
/// decompress and lowercase them (RFC 4034 section 6.2 list; RFC 3597 section 4 for the
/// ones a server may compress).
#[derive(Clone, Copy)]
enum Field {
    Name,
    Fixed(usize),
    CharString,
}

fn rdata_layout(rtype: u16) -> Option<&'static [Field]> {
    use Field::*;
    Some(match rtype {
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => &[Name], // NS MD MF CNAME MB MG MR PTR DNAME
        6 => &[Name, Name, Fixed(20)],                  // SOA
        14 | 17 => &[Name, Name],                       // MINFO RP
        15 | 18 | 21 | 36 => &[Fixed(2), Name],         // MX AFSDB RT KX
        26 => &[Fixed(2), Name, Name],                  // PX
        33 => &[Fixed(6), Name],                        // SRV
        35 => &[Fixed(4), CharString, CharString, CharString, Name], // NAPTR
        _ => return None,
    })
}

/// Append the canonical form of the record at `rec` to `out`: lowercased owner, type, class,
/// TTL, RDATA length and RDATA with embedded names decompressed and lowercased. Equal records
/// give equal bytes whatever compression or owner case the server chose.
pub fn canonical_record(msg: &[u8], rec: &RecordRef, out: &mut Vec<u8>) -> Result<(), WireError> {
    read_name(msg, rec.owner_pos, out, true)?;
    out.extend_from_slice(&rec.rtype.to_be_bytes());
    out.extend_from_slice(&rec.class.to_be_bytes());
    out.extend_from_slice(&rec.ttl.to_be_bytes());
    let rdlen_at = out.len();
    out.extend_from_slice(&[0, 0]);
    let rdata_start = out.len();
    let end = rec.rdata_pos + rec.rdlen;
    match rdata_layout(rec.rtype) {
        None => out.extend_from_slice(&msg[rec.rdata_pos..end]),
        Some(fields) => {
            let mut p = rec.rdata_pos;
            for f in fields {
                match *f {
                    Field::Name => {
                        // A name must lie inside the RDATA; a pointer may reach outside it.
                        let after = read_name(&msg[..end], p, out, true)
                            .map_err(|_| WireError::BadRdata)?;
                        p = after;
                    }
                    Field::Fixed(n) => {
                        let s = msg.get(p..p + n).ok_or(WireError::BadRdata)?;
                        if p + n > end {
                            return Err(WireError::BadRdata);
                        }
                        out.extend_from_slice(s);
                        p += n;
                    }
                    Field::CharString => {
                        let l = *msg.get(p).ok_or(WireError::BadRdata)? as usize;
                        if p + 1 + l > end {
                            return Err(WireError::BadRdata);
                        }
                        out.extend_from_slice(&msg[p..p + 1 + l]);
                        p += 1 + l;
                    }
                }
            }
            if p != end {
                return Err(WireError::BadRdata);
            }
        }
    }
    let n = (out.len() - rdata_start) as u16;
    out[rdlen_at..rdlen_at + 2].copy_from_slice(&n.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_roundtrip_and_escapes() {
        assert_eq!(name_to_wire("a.Bc.").unwrap(), b"\x01a\x02Bc\x00");
        assert_eq!(name_to_wire("a\\.b.c").unwrap(), b"\x03a.b\x01c\x00");
        assert_eq!(name_to_wire("\\065.").unwrap(), b"\x01A\x00");
        assert_eq!(name_to_wire(".").unwrap(), b"\x00");
        assert!(name_to_wire("a..b").is_err());
    }

    #[test]
    fn compressed_names_decompress_and_loops_fail() {
        // header(12) + "\x03foo\x00" at 12, then "\x03bar" + ptr to 12 at 17
        let mut m = vec![0u8; 12];
        m.extend_from_slice(b"\x03foo\x00\x03BAR\xc0\x0c");
        let mut out = Vec::new();
        let end = read_name(&m, 17, &mut out, true).unwrap();
        assert_eq!(end, m.len());
        assert_eq!(out, b"\x03bar\x03foo\x00");
        assert_eq!(skip_name(&m, 17).unwrap(), m.len());
        // A pointer to itself.
        let mut l = vec![0u8; 12];
        l.extend_from_slice(b"\xc0\x0c");
        assert_eq!(
            read_name(&l, 12, &mut Vec::new(), false),
            Err(WireError::BadName)
        );
    }

    #[test]
    fn ixfr_query_has_authority_soa() {
        let q = build_query(7, &name_to_wire("ex.").unwrap(), TYPE_IXFR, Some(42));
        let h = Header::parse(&q).unwrap();
        assert_eq!((h.id, h.qdcount, h.nscount), (7, 1, 1));
        let p = skip_questions(&q, 1).unwrap();
        let (rec, end) = read_record(&q, p).unwrap();
        assert_eq!(end, q.len());
        assert_eq!(rec.rtype, TYPE_SOA);
        assert_eq!(soa_serial(&q, &rec).unwrap(), 42);
    }

    #[test]
    fn canonical_form_ignores_compression_and_case() {
        // Same MX record twice: once with a compressed exchange, once spelled out in capitals.
        let mut m = vec![0u8; 12];
        m.extend_from_slice(b"\x02ex\x00"); // 12..16
        let r1 = m.len();
        m.extend_from_slice(
            b"\xc0\x0c\x00\x0f\x00\x01\x00\x00\x00\x3c\x00\x07\x00\x0a\x02mx\xc0\x0c",
        );
        let r2 = m.len();
        m.extend_from_slice(
            b"\x02EX\x00\x00\x0f\x00\x01\x00\x00\x00\x3c\x00\x09\x00\x0a\x02MX\x02Ex\x00",
        );
        let (a, e1) = read_record(&m, r1).unwrap();
        assert_eq!(e1, r2);
        let (b, e2) = read_record(&m, r2).unwrap();
        assert_eq!(e2, m.len());
        let (mut ca, mut cb) = (Vec::new(), Vec::new());
        canonical_record(&m, &a, &mut ca).unwrap();
        canonical_record(&m, &b, &mut cb).unwrap();
        assert_eq!(ca, cb);
    }
}
