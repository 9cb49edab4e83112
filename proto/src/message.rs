//! DNS messages as a client or a tool reads and builds them, over byte slices.
//!
//! What it owns: the header ([`Header`]), names (skip, read with decompression: [`skip_name`],
//! [`read_name`], [`read_name_above`]), records by position ([`Record`], [`Records`]), the SOA
//! serial, queries ([`build_query`], with the authority SOA an IXFR query carries: RFC 1995
//! section 3), the canonical form of a record that equal-record-set checks digest
//! ([`write_canonical`]) and answer records with their names decompressed
//! ([`read_answers`]). Presentation names go to wire form with [`text_to_wire`] (re-exported from
//! [`crate::tsig`], which needs it for key names).
//!
//! What it does not own: the server's view of a query (the stricter [`crate::query`] parser,
//! whose name and record walk this module shares, so both read a name the same way), TSIG
//! ([`crate::tsig`]), sockets and clocks.
//!
//! Names (RFC 1035 section 4.1.4): a compression pointer must point to "a prior occurrence",
//! that is strictly backwards, and a name is at most 255 bytes; together these bound every walk,
//! pointer loops included. Reading allocates nothing ([`NameBuf`] holds a name inline); only
//! [`build_query`], [`text_to_wire`] and [`read_answers`] return owned buffers, and the writers
//! append to the caller's.

use crate::query::{read_record as read_span, skip_name as skip_name_walk};
use crate::wire::{
    read_u16, read_u32, CLASS_IN, FLAG_QR, HEADER_BYTES, OPCODE_MASK, OPCODE_SHIFT, TYPE_SOA,
};

pub use crate::tsig::{name_text, text_to_wire, DisplayName, NameBuf};

/// Bytes of an SOA's RDATA after its two names: serial, refresh, retry, expire, minimum
/// (RFC 1035 section 3.3.13).
pub const SOA_TAIL_BYTES: usize = 20;

/// Why a message does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Shorter than the fixed header.
    #[error("message of {0} bytes is shorter than a DNS header")]
    NoHeader(usize),
    /// A name, question, record or RDATA field that does not parse (truncated, a bad label
    /// type, a forward pointer, too long...); `at` is the offset where it starts.
    #[error("{reason} at byte {at}")]
    Malformed { at: usize, reason: &'static str },
    /// A compression pointer below the part of the message names may point into.
    #[error("compression pointer at byte {at} points to byte {target}, before byte {floor}")]
    PointerBelowFloor {
        at: usize,
        target: usize,
        floor: usize,
    },
    /// The records end this many bytes before the message does.
    #[error("{0} bytes after the last record")]
    TrailingBytes(usize),
}

fn malformed(at: usize) -> impl Fn(&'static str) -> MessageError {
    move |reason| MessageError::Malformed { at, reason }
}

/// The fixed header of a message (RFC 1035 section 4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    /// QR, opcode, AA, TC, RD, RA, Z, AD, CD and RCODE, as on the wire.
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    pub fn parse(msg: &[u8]) -> Result<Header, MessageError> {
        if msg.len() < HEADER_BYTES {
            return Err(MessageError::NoHeader(msg.len()));
        }
        Ok(Header {
            id: read_u16(msg, 0),
            flags: read_u16(msg, 2),
            qdcount: read_u16(msg, 4),
            ancount: read_u16(msg, 6),
            nscount: read_u16(msg, 8),
            arcount: read_u16(msg, 10),
        })
    }

    /// The header in wire form.
    pub fn to_bytes(&self) -> [u8; HEADER_BYTES] {
        let mut b = [0u8; HEADER_BYTES];
        let fields = [
            self.id,
            self.flags,
            self.qdcount,
            self.ancount,
            self.nscount,
            self.arcount,
        ];
        for (i, f) in fields.into_iter().enumerate() {
            b[2 * i..2 * i + 2].copy_from_slice(&f.to_be_bytes());
        }
        b
    }

    pub fn is_response(&self) -> bool {
        self.flags & FLAG_QR != 0
    }

    pub fn opcode(&self) -> u8 {
        ((self.flags & OPCODE_MASK) >> OPCODE_SHIFT) as u8
    }

    /// The header's 4-bit RCODE (an OPT record may extend it: RFC 6891 section 6.1.3).
    pub fn rcode(&self) -> u8 {
        (self.flags & 0x000F) as u8
    }
}

/// Skips the possibly compressed name at `pos`; returns the position after it. Pointers are
/// not followed.
pub fn skip_name(msg: &[u8], pos: usize) -> Result<usize, MessageError> {
    skip_name_walk(msg, pos).map_err(malformed(pos))
}

/// Reads the possibly compressed name at `pos`, following pointers; returns it (as written,
/// case kept) and the position after it in the message.
pub fn read_name(msg: &[u8], pos: usize) -> Result<(NameBuf, usize), MessageError> {
    NameBuf::read(msg, pos).map_err(malformed(pos))
}

/// [`read_name`], where every pointer must also point at `floor` or after: a part of the
/// message that must not depend on what precedes it (a stored body, which xfrd sends after
/// each client's own header and question, may point only into itself).
pub fn read_name_above(
    msg: &[u8],
    pos: usize,
    floor: usize,
) -> Result<(NameBuf, usize), MessageError> {
    let read = read_name(msg, pos)?;
    // The read walked the same labels and pointers: every one is in bounds and every
    // pointer goes backwards, so this walk ends.
    let mut at = pos;
    loop {
        let l = msg[at];
        if l & 0xC0 == 0xC0 {
            let target = (((l & 0x3F) as usize) << 8) | msg[at + 1] as usize;
            if target < floor {
                return Err(MessageError::PointerBelowFloor { at, target, floor });
            }
            at = target;
        } else if l == 0 {
            return Ok(read);
        } else {
            at += 1 + l as usize;
        }
    }
}

/// Lowercases an uncompressed wire name in place (the canonical case of RFC 4034 section
/// 6.2). Label length bytes are below 64, under `A`, so only label bytes change.
pub fn lowercase_name(name: &mut [u8]) {
    name.make_ascii_lowercase();
}

/// Skips `qdcount` questions after the header; returns the position of the first record.
pub fn skip_questions(msg: &[u8], qdcount: u16) -> Result<usize, MessageError> {
    let mut pos = HEADER_BYTES;
    for _ in 0..qdcount {
        let start = pos;
        pos = skip_name(msg, pos)? + 4;
        if pos > msg.len() {
            return Err(malformed(start)("question truncated"));
        }
    }
    Ok(pos)
}

/// One resource record, by position in its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Offset of the owner name: where the record starts.
    pub start: usize,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata_start: usize,
    /// Offset after the RDATA: where the next record starts.
    pub rdata_end: usize,
}

impl Record {
    pub fn rdata<'a>(&self, msg: &'a [u8]) -> &'a [u8] {
        &msg[self.rdata_start..self.rdata_end]
    }

    /// The owner name, decompressed, case kept.
    pub fn owner(&self, msg: &[u8]) -> Result<NameBuf, MessageError> {
        read_name(msg, self.start).map(|(n, _)| n)
    }

    /// The RDATA's serial, when this is an SOA (the type is not checked: the caller knows).
    pub fn soa_serial(&self, msg: &[u8]) -> Result<u32, MessageError> {
        let rd = &msg[..self.rdata_end];
        let after_rname = skip_name(rd, skip_name(rd, self.rdata_start)?)?;
        if after_rname + SOA_TAIL_BYTES != self.rdata_end {
            return Err(malformed(self.rdata_start)(
                "SOA record data has the wrong length",
            ));
        }
        Ok(read_u32(msg, after_rname))
    }

    /// The SOA's last 20 bytes (serial to minimum), when this is an SOA whose RDATA has them.
    pub fn soa_tail<'a>(&self, msg: &'a [u8]) -> Option<&'a [u8; SOA_TAIL_BYTES]> {
        let rd = self.rdata(msg);
        rd.get(rd.len().checked_sub(SOA_TAIL_BYTES)?..)?
            .try_into()
            .ok()
    }
}

/// Reads the fixed part of the record at `pos` (its name skipped, not followed).
pub fn read_record(msg: &[u8], pos: usize) -> Result<Record, MessageError> {
    let s = read_span(msg, pos).map_err(malformed(pos))?;
    Ok(Record {
        start: pos,
        rtype: s.rtype,
        class: s.class,
        ttl: s.ttl,
        rdata_start: s.rdata_start,
        rdata_end: s.rdata_end,
    })
}

/// The records of one or more sections, in order: `count` records from `pos`. Stops at the
/// first error, which it yields.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    msg: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> Records<'a> {
    pub fn new(msg: &'a [u8], pos: usize, count: usize) -> Records<'a> {
        Records {
            msg,
            pos,
            left: count,
        }
    }

    /// Where the next record starts (after the last one, once all are read).
    pub fn pos(&self) -> usize {
        self.pos
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Record, MessageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let r = read_record(self.msg, self.pos);
        match r {
            Ok(rec) => self.pos = rec.rdata_end,
            Err(_) => self.left = 0,
        }
        Some(r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

/// Checks that the records, which end at `pos`, fill the message exactly.
pub fn check_end(msg: &[u8], pos: usize) -> Result<(), MessageError> {
    match msg.len().checked_sub(pos) {
        Some(0) => Ok(()),
        Some(n) => Err(MessageError::TrailingBytes(n)),
        None => Err(malformed(pos)("record runs past the message")),
    }
}

/// A query (no TCP length prefix): one question of class IN, no flags (opcode QUERY, RD
/// clear), and with `ixfr_serial` an authority SOA carrying it (RFC 1995 section 3: owner the
/// zone, by a pointer to the question; MNAME and RNAME the root; other fields 0).
pub fn build_query(id: u16, qname: &[u8], qtype: u16, ixfr_serial: Option<u32>) -> Vec<u8> {
    assert!(
        NameBuf::new(qname).is_some(),
        "a query name is an uncompressed wire name"
    );
    let header = Header {
        id,
        flags: 0,
        qdcount: 1,
        ancount: 0,
        nscount: ixfr_serial.is_some() as u16,
        arcount: 0,
    };
    let mut m = Vec::with_capacity(HEADER_BYTES + qname.len() + 4 + 2 + 10 + 2 + SOA_TAIL_BYTES);
    m.extend_from_slice(&header.to_bytes());
    m.extend_from_slice(qname);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    if let Some(serial) = ixfr_serial {
        m.extend_from_slice(&[0xC0, HEADER_BYTES as u8]);
        m.extend_from_slice(&TYPE_SOA.to_be_bytes());
        m.extend_from_slice(&CLASS_IN.to_be_bytes());
        m.extend_from_slice(&0u32.to_be_bytes());
        m.extend_from_slice(&(2 + SOA_TAIL_BYTES as u16).to_be_bytes());
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&serial.to_be_bytes());
        m.extend_from_slice(&[0; SOA_TAIL_BYTES - 4]);
    }
    m
}

/// One field of an RDATA layout.
#[derive(Debug, Clone, Copy)]
enum Field {
    Name,
    Fixed(usize),
    CharString,
}

/// The RDATA layout of the types whose RDATA holds domain names: those whose names the
/// canonical form lowercases (RFC 4034 section 6.2, less the types without names or with
/// their own rules: HINFO, SIG, NXT, A6, RRSIG, NSEC).
fn rdata_layout(rtype: u16) -> Option<&'static [Field]> {
    use Field::*;
    Some(match rtype {
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => &[Name], // NS MD MF CNAME MB MG MR PTR DNAME
        6 => &[Name, Name, Fixed(SOA_TAIL_BYTES)],      // SOA
        14 | 17 => &[Name, Name],                       // MINFO RP
        15 | 18 | 21 | 36 => &[Fixed(2), Name],         // MX AFSDB RT KX
        26 => &[Fixed(2), Name, Name],                  // PX
        33 => &[Fixed(6), Name],                        // SRV
        35 => &[Fixed(4), CharString, CharString, CharString, Name], // NAPTR
        _ => return None,
    })
}

/// The types whose RDATA names a sender may compress and a receiver must decompress: the
/// well-known types of RFC 1035 (RFC 3597 section 4). Any other type's RDATA is opaque.
pub fn rdata_names_compressible(rtype: u16) -> bool {
    // NS MD MF CNAME SOA MB MG MR PTR MINFO MX
    matches!(rtype, 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 12 | 14 | 15)
}

/// Appends the RDATA of `rec` to `out` with the names of `layout` decompressed (pointers at
/// `floor` or after), lowercased when `lower`. Names must lie inside the RDATA (their
/// pointers may point before it).
fn write_rdata(
    msg: &[u8],
    rec: &Record,
    layout: &[Field],
    floor: usize,
    lower: bool,
    out: &mut Vec<u8>,
) -> Result<(), MessageError> {
    let end = rec.rdata_end;
    let rd = &msg[..end];
    let mut p = rec.rdata_start;
    let bad = malformed(rec.rdata_start);
    for f in layout {
        match *f {
            Field::Name => {
                let (name, after) = read_name_above(rd, p, floor)?;
                let at = out.len();
                out.extend_from_slice(name.as_wire());
                if lower {
                    lowercase_name(&mut out[at..]);
                }
                p = after;
            }
            Field::Fixed(n) => {
                let s = rd
                    .get(p..p + n)
                    .ok_or_else(|| bad("record data too short"))?;
                out.extend_from_slice(s);
                p += n;
            }
            Field::CharString => {
                let l = *rd.get(p).ok_or_else(|| bad("record data too short"))? as usize;
                let s = rd
                    .get(p..p + 1 + l)
                    .ok_or_else(|| bad("character string runs past the record data"))?;
                out.extend_from_slice(s);
                p += 1 + l;
            }
        }
    }
    if p != end {
        return Err(bad("bytes after the record data's last field"));
    }
    Ok(())
}

/// Appends the canonical form of `rec` to `out`: the owner decompressed and lowercased,
/// type, class, TTL, RDATA length, and RDATA with the names of the types listed in RFC 4034
/// section 6.2 decompressed and lowercased. Equal records give equal bytes whatever
/// compression or case the sender chose.
pub fn write_canonical(msg: &[u8], rec: &Record, out: &mut Vec<u8>) -> Result<(), MessageError> {
    let (owner, _) = read_name(msg, rec.start)?;
    let at = out.len();
    out.extend_from_slice(owner.as_wire());
    lowercase_name(&mut out[at..]);
    out.extend_from_slice(&rec.rtype.to_be_bytes());
    out.extend_from_slice(&rec.class.to_be_bytes());
    out.extend_from_slice(&rec.ttl.to_be_bytes());
    let rdlen_at = out.len();
    out.extend_from_slice(&[0, 0]);
    match rdata_layout(rec.rtype) {
        Some(layout) => write_rdata(msg, rec, layout, 0, true, out)?,
        None => out.extend_from_slice(rec.rdata(msg)),
    }
    let rdlen = out.len() - rdlen_at - 2;
    let rdlen =
        u16::try_from(rdlen).map_err(|_| malformed(rec.start)("canonical RDATA too long"))?;
    out[rdlen_at..rdlen_at + 2].copy_from_slice(&rdlen.to_be_bytes());
    Ok(())
}

/// Appends the RDATA of `rec` to `out` exactly as sent but with the names of the
/// compressible types ([`rdata_names_compressible`]) decompressed; every pointer must point at
/// `floor` or after.
pub fn write_rdata_uncompressed(
    msg: &[u8],
    rec: &Record,
    floor: usize,
    out: &mut Vec<u8>,
) -> Result<(), MessageError> {
    match rdata_layout(rec.rtype) {
        Some(layout) if rdata_names_compressible(rec.rtype) => {
            write_rdata(msg, rec, layout, floor, false, out)
        }
        _ => {
            out.extend_from_slice(rec.rdata(msg));
            Ok(())
        }
    }
}

/// An answer record read back in full: names decompressed, case kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub owner: NameBuf,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// RDATA with the names of compressible types uncompressed: RFC 3597's exact bytes.
    pub rdata: Vec<u8>,
    /// Bytes the record takes in the message (compressed).
    pub wire_bytes: usize,
}

impl Answer {
    /// Bytes the record would take with no compression at all.
    pub fn uncompressed_bytes(&self) -> usize {
        self.owner.as_wire().len() + 10 + self.rdata.len()
    }
}

/// Reads `ancount` records from `start`, which must fill the message to its end; every
/// compression pointer must point into `msg[start..]` (a stored body points only into
/// itself: see [`read_name_above`]).
pub fn read_answers(msg: &[u8], start: usize, ancount: u16) -> Result<Vec<Answer>, MessageError> {
    let mut answers = Vec::with_capacity(ancount as usize);
    let mut records = Records::new(msg, start, ancount as usize);
    for rec in records.by_ref() {
        let rec = rec?;
        let (owner, _) = read_name_above(msg, rec.start, start)?;
        let mut rdata = Vec::with_capacity(rec.rdata_end - rec.rdata_start);
        write_rdata_uncompressed(msg, &rec, start, &mut rdata)?;
        answers.push(Answer {
            owner,
            rtype: rec.rtype,
            class: rec.class,
            ttl: rec.ttl,
            rdata,
            wire_bytes: rec.rdata_end - rec.start,
        });
    }
    check_end(msg, records.pos())?;
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{TYPE_AXFR, TYPE_IXFR};

    const MX: u16 = 15;

    fn wire(text: &str) -> Vec<u8> {
        text_to_wire(text).unwrap()
    }

    /// A 12-byte header with `ancount`, then `body`.
    fn message(ancount: u16, body: &[u8]) -> Vec<u8> {
        let h = Header {
            id: 1,
            flags: FLAG_QR,
            qdcount: 0,
            ancount,
            nscount: 0,
            arcount: 0,
        };
        let mut m = h.to_bytes().to_vec();
        m.extend_from_slice(body);
        m
    }

    fn record(owner: &[u8], rtype: u16, rdata: &[u8]) -> Vec<u8> {
        let mut r = owner.to_vec();
        r.extend_from_slice(&rtype.to_be_bytes());
        r.extend_from_slice(&CLASS_IN.to_be_bytes());
        r.extend_from_slice(&60u32.to_be_bytes());
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(rdata);
        r
    }

    #[test]
    fn header_round_trips_and_reads_its_bits() {
        let h = Header {
            id: 0xBEEF,
            flags: 0x8405 | (4 << OPCODE_SHIFT),
            qdcount: 1,
            ancount: 2,
            nscount: 3,
            arcount: 4,
        };
        let b = h.to_bytes();
        assert_eq!(Header::parse(&b), Ok(h));
        assert!(h.is_response());
        assert_eq!((h.opcode(), h.rcode()), (4, 5));
        assert_eq!(Header::parse(&b[..11]), Err(MessageError::NoHeader(11)));
    }

    #[test]
    fn names_decompress_and_keep_their_end() {
        // "foo." at 12, then "BAR" and a pointer to it at 17.
        let m = message(0, b"\x03foo\x00\x03BAR\xC0\x0C");
        let (name, end) = read_name(&m, 17).unwrap();
        assert_eq!((name.as_wire(), end), (&b"\x03BAR\x03foo\x00"[..], m.len()));
        assert_eq!(skip_name(&m, 17), Ok(m.len()));
        assert_eq!(skip_name(&m, 12), Ok(17));
        let mut lower = name.as_wire().to_vec();
        lowercase_name(&mut lower);
        assert_eq!(lower, b"\x03bar\x03foo\x00");
        assert_eq!(name_text(name.as_wire()), "BAR.foo.");
    }

    #[test]
    fn compression_loops_and_bad_pointers_fail() {
        // A pointer to itself, a pointer forwards, and a label that points back to itself
        // (each hop backwards, but the name grows past 255 bytes).
        for (body, at) in [
            (&b"\xC0\x0C"[..], 12),
            (&b"\xC0\x0E\x00\x00"[..], 12),
            (&b"\x01a\xC0\x0C"[..], 12),
            (&b"\x00\x00\x00\x01a\xC0\x0F"[..], 15),
        ] {
            let m = message(0, body);
            assert!(
                matches!(read_name(&m, at), Err(MessageError::Malformed { .. })),
                "{body:?}"
            );
        }
        // A pointer past the end of the message (necessarily forwards), and one cut in half.
        let m = message(0, b"\x01a\xC0\xFF");
        assert!(read_name(&m, 12).is_err());
        let m = message(0, b"\xC0");
        assert!(read_name(&m, 12).is_err());
        assert!(skip_name(&m, 12).is_err());
        // Label types 01 and 10 are not defined.
        let m = message(0, b"\x40\x00");
        assert!(read_name(&m, 12).is_err());
        assert!(skip_name(&m, 12).is_err());
        // A name longer than 255 bytes.
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'x'; 63]);
        }
        long.push(0);
        assert!(read_name(&message(0, &long), 12).is_err());
    }

    #[test]
    fn a_floor_bounds_where_pointers_may_point() {
        // "ex." at 12; at 16 "a" + a pointer to 12.
        let m = message(0, b"\x02ex\x00\x01a\xC0\x0C");
        assert!(read_name_above(&m, 16, 12).is_ok());
        assert_eq!(
            read_name_above(&m, 16, 13),
            Err(MessageError::PointerBelowFloor {
                at: 18,
                target: 12,
                floor: 13
            })
        );
    }

    #[test]
    fn truncated_messages_fail_everywhere() {
        let rr = record(b"\x02ex\x00", 1, &[10, 0, 0, 1]);
        let m = message(1, &rr);
        assert!(read_record(&m, 12).is_ok());
        for cut in 12..m.len() {
            let t = &m[..cut];
            assert!(read_record(t, 12).is_err(), "cut at {cut}");
            assert!(read_answers(t, 12, 1).is_err(), "cut at {cut}");
        }
        // A question cut in its type or class.
        let q = build_query(1, &wire("ex."), TYPE_AXFR, None);
        assert!(skip_questions(&q[..q.len() - 1], 1).is_err());
        assert_eq!(skip_questions(&q, 1), Ok(q.len()));
        assert!(skip_questions(&q[..12], 1).is_err());
    }

    #[test]
    fn records_iterate_and_stop_at_the_first_error() {
        let mut body = record(b"\x02ex\x00", 1, &[10, 0, 0, 1]);
        body.extend(record(b"\xC0\x0C", 1, &[10, 0, 0, 2]));
        let m = message(2, &body);
        let recs: Vec<_> = Records::new(&m, 12, 2).collect::<Result<_, _>>().unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].start, recs[0].rdata_end);
        assert_eq!(recs[1].rdata(&m), &[10, 0, 0, 2]);
        assert_eq!(recs[1].owner(&m).unwrap().as_wire(), b"\x02ex\x00");
        assert_eq!(check_end(&m, recs[1].rdata_end), Ok(()));
        let mut it = Records::new(&m, 12, 3);
        assert_eq!(it.by_ref().filter(Result::is_ok).count(), 2);
        assert_eq!(it.pos(), m.len());
        let mut it = Records::new(&m[..m.len() - 1], 12, 2);
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
        let mut extra = m.clone();
        extra.push(0);
        assert_eq!(
            check_end(&extra, m.len()),
            Err(MessageError::TrailingBytes(1))
        );
    }

    #[test]
    fn ixfr_query_carries_the_serial_in_an_authority_soa() {
        let q = build_query(7, &wire("Ex."), TYPE_IXFR, Some(42));
        let h = Header::parse(&q).unwrap();
        assert_eq!((h.id, h.flags, h.qdcount, h.nscount), (7, 0, 1, 1));
        let rec = read_record(&q, skip_questions(&q, 1).unwrap()).unwrap();
        assert_eq!((rec.rtype, rec.rdata_end), (TYPE_SOA, q.len()));
        assert_eq!(rec.soa_serial(&q), Ok(42));
        assert_eq!(&rec.soa_tail(&q).unwrap()[..4], &42u32.to_be_bytes());
        // The server's parser reads it the same way.
        let parsed = crate::parse_query(&q).unwrap();
        assert_eq!(
            (parsed.ixfr_serial, parsed.qname),
            (Some(42), &b"\x02Ex\x00"[..])
        );
        let a = build_query(8, &wire("ex."), TYPE_AXFR, None);
        assert_eq!(crate::parse_query(&a).unwrap().ixfr_serial, None);
    }

    #[test]
    fn soa_serial_needs_the_exact_length() {
        let mut rd = b"\x00\x00".to_vec();
        rd.extend_from_slice(&9u32.to_be_bytes());
        rd.extend_from_slice(&[0; 16]);
        let m = message(1, &record(b"\x00", TYPE_SOA, &rd));
        let rec = read_record(&m, 12).unwrap();
        assert_eq!(rec.soa_serial(&m), Ok(9));
        rd.push(0);
        let m = message(1, &record(b"\x00", TYPE_SOA, &rd));
        assert!(read_record(&m, 12).unwrap().soa_serial(&m).is_err());
    }

    #[test]
    fn canonical_form_ignores_compression_and_case() {
        // The same MX record twice: the exchange compressed, then spelled out in capitals.
        let mut body = b"\x02ex\x00".to_vec();
        let r1 = 12 + body.len();
        body.extend(record(b"\xC0\x0C", MX, b"\x00\x0a\x02mx\xC0\x0C"));
        let r2 = 12 + body.len();
        body.extend(record(b"\x02EX\x00", MX, b"\x00\x0a\x02MX\x02Ex\x00"));
        let m = message(2, &body);
        let a = read_record(&m, r1).unwrap();
        let b = read_record(&m, r2).unwrap();
        assert_eq!(a.rdata_end, r2);
        let (mut ca, mut cb) = (Vec::new(), Vec::new());
        write_canonical(&m, &a, &mut ca).unwrap();
        write_canonical(&m, &b, &mut cb).unwrap();
        assert_eq!(ca, cb);
        assert_eq!(ca, record(b"\x02ex\x00", MX, b"\x00\x0a\x02mx\x02ex\x00"));
        // An A record's RDATA is opaque; an MX whose name overruns its RDATA is malformed.
        let bad = message(1, &record(b"\x00", MX, b"\x00\x0a\x02mx"));
        let rec = read_record(&bad, 12).unwrap();
        assert!(write_canonical(&bad, &rec, &mut Vec::new()).is_err());
        let short = message(1, &record(b"\x00", MX, b"\x00"));
        let rec = read_record(&short, 12).unwrap();
        assert!(write_canonical(&short, &rec, &mut Vec::new()).is_err());
    }

    #[test]
    fn answers_come_back_uncompressed_with_their_sizes() {
        // Header, a question for "example.com.", then an MX at the apex whose exchange is
        // "mail" and a pointer to the owner.
        let mut body = b"\x07example\x03com\x00\x00\xfc\x00\x01".to_vec();
        let start = 12 + body.len();
        body.extend(record(
            b"\x07example\x03com\x00",
            MX,
            &[0, 10, 4, b'm', b'a', b'i', b'l', 0xC0, start as u8],
        ));
        let mut m = message(1, &body);
        m[5] = 1; // QDCOUNT
        assert_eq!(skip_questions(&m, 1), Ok(start));
        let recs = read_answers(&m, start, 1).unwrap();
        assert_eq!(
            DisplayName(recs[0].owner.as_wire()).to_string(),
            "example.com."
        );
        assert_eq!((recs[0].rtype, recs[0].ttl), (MX, 60));
        assert_eq!(recs[0].rdata, b"\x00\x0a\x04mail\x07example\x03com\x00");
        assert_eq!(recs[0].wire_bytes, m.len() - start);
        assert_eq!(recs[0].uncompressed_bytes(), 13 + 10 + 20);
        // A pointer into the question is below the floor.
        let mut into_question = m.clone();
        let n = into_question.len();
        into_question[n - 1] = 12;
        assert!(matches!(
            read_answers(&into_question, start, 1),
            Err(MessageError::PointerBelowFloor { .. })
        ));
        // Trailing bytes, and more records claimed than there are.
        let mut extra = m.clone();
        extra.push(0);
        assert_eq!(
            read_answers(&extra, start, 1),
            Err(MessageError::TrailingBytes(1))
        );
        assert!(read_answers(&m, start, 2).is_err());
    }

    #[test]
    fn only_compressible_types_are_decompressed() {
        // An SRV's target is not compressible (RFC 2782): its bytes stay as sent.
        let rd = b"\x00\x01\x00\x02\x00\x03\xC0\x0C";
        let m = message(1, &record(b"\x02ex\x00", 33, rd));
        let rec = read_record(&m, 12).unwrap();
        let mut out = Vec::new();
        write_rdata_uncompressed(&m, &rec, 12, &mut out).unwrap();
        assert_eq!(out, rd);
        assert!(rdata_names_compressible(MX) && rdata_names_compressible(TYPE_SOA));
        assert!(!rdata_names_compressible(33) && !rdata_names_compressible(39));
    }

    #[test]
    fn presentation_names_go_to_wire_form() {
        assert_eq!(wire("a.Bc."), b"\x01a\x02Bc\x00");
        assert_eq!(wire("a\\.b.c"), b"\x03a.b\x01c\x00");
        assert_eq!(wire("\\065."), b"\x01A\x00");
        assert_eq!(wire("."), b"\x00");
        assert!(text_to_wire("a..b").is_none());
        assert!(text_to_wire("\\256.").is_none());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let Ok(h) = Header::parse(&bytes) else { return Ok(()) };
            if let Ok(pos) = skip_questions(&bytes, h.qdcount) {
                let _ = read_answers(&bytes, pos, h.ancount);
                for rec in Records::new(&bytes, pos, 64).flatten() {
                    let _ = write_canonical(&bytes, &rec, &mut Vec::new());
                    let _ = rec.soa_serial(&bytes);
                    let _ = rec.soa_tail(&bytes);
                }
            }
            for at in 0..bytes.len() {
                let _ = read_name_above(&bytes, at, at / 2);
            }
        }
    }
}
