//! Parsing a DNS query as a zone-transfer server sees it.
//!
//! Accepted: a standard query (OPCODE 0) or a NOTIFY (OPCODE 4, RFC 1996), QR 0, with exactly
//! one question (RFC 9619: QDCOUNT
//! must be 1), whose QNAME is written uncompressed (a compression pointer in the question has
//! nothing to point at: FORMERR). Records in the other sections are walked, compressed names
//! allowed: the authority SOA of an IXFR query gives the client's serial (RFC 1995 section 3,
//! which makes it mandatory: an IXFR without it is FORMERR), and one OPT record in the additional
//! section is remembered (RFC 6891 section 6.1.1: more than one is FORMERR), and so is the
//! position of a TSIG record, which must be the last record of the additional section (RFC
//! 8945 section 5.2; elsewhere, or malformed, it is FORMERR). Other records are skipped. Bytes
//! after the last record are FORMERR.
//!
//! The question is returned as the client wrote it, case included, so every response message can
//! echo it (RFC 5936 section 2.2).

use crate::wire::{
    read_u16, read_u32, FLAG_QR, HEADER_BYTES, NAME_BYTES_MAX, OPCODE_MASK, OPCODE_NOTIFY,
    OPCODE_QUERY, OPCODE_SHIFT, RCODE_FORMERR, RCODE_NOTIMP, TYPE_IXFR, TYPE_OPT, TYPE_SOA,
    TYPE_TSIG,
};

/// A parsed query. Borrowed from the caller's receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query<'a> {
    pub id: u16,
    /// The request's header flags as received (opcode, RD, CD...; RCODE bits included).
    pub flags: u16,
    /// [`OPCODE_QUERY`] or [`OPCODE_NOTIFY`].
    pub opcode: u8,
    /// QNAME, uncompressed wire format as written.
    pub qname: &'a [u8],
    pub qtype: u16,
    pub qclass: u16,
    /// QNAME + QTYPE + QCLASS exactly as written: what every response echoes.
    pub question: &'a [u8],
    /// For IXFR: the serial of the SOA in the authority section (the client's version).
    pub ixfr_serial: Option<u32>,
    /// The OPT record of the additional section, when there is one.
    pub edns: Option<Edns>,
    /// Offset of the TSIG record, when the query is signed: the last record of the additional
    /// section, already checked to parse ([`crate::tsig::parse_record`]; RFC 8945 section
    /// 5.2: a TSIG elsewhere, or one that cannot be interpreted, is FORMERR).
    pub tsig: Option<usize>,
}

/// What the query's OPT record said (RFC 6891 section 6.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    pub udp_payload_bytes: u16,
    pub version: u8,
    pub dnssec_ok: bool,
}

/// What the server may echo when it answers a query it could not fully parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorReply {
    pub id: u16,
    pub request_flags: u16,
    /// `(start, end)` of the question in the message, when it parsed.
    pub question: Option<(usize, usize)>,
    pub rcode: u8,
}

/// Why a message is not a query the server serves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// Shorter than a header: nothing to answer to.
    #[error("message of {0} bytes is shorter than a DNS header")]
    TooShort(usize),
    /// QR is set: never answer a response (avoids reflection loops).
    #[error("message is a response (QR=1), not a query")]
    NotAQuery,
    /// Malformed: answer FORMERR.
    #[error("malformed query: {reason}")]
    Malformed {
        reply: ErrorReply,
        reason: &'static str,
    },
    /// An opcode other than QUERY: answer NOTIMP.
    #[error("opcode {opcode} not implemented")]
    OpcodeNotImplemented { reply: ErrorReply, opcode: u8 },
}

impl QueryError {
    /// The error response to send, if any (`None`: drop the message silently).
    pub fn reply(&self) -> Option<ErrorReply> {
        match self {
            QueryError::TooShort(_) | QueryError::NotAQuery => None,
            QueryError::Malformed { reply, .. }
            | QueryError::OpcodeNotImplemented { reply, .. } => Some(*reply),
        }
    }
}

/// Parses `msg` (without a TCP length prefix).
pub fn parse_query(msg: &[u8]) -> Result<Query<'_>, QueryError> {
    if msg.len() < HEADER_BYTES {
        return Err(QueryError::TooShort(msg.len()));
    }
    let id = read_u16(msg, 0);
    let flags = read_u16(msg, 2);
    if flags & FLAG_QR != 0 {
        return Err(QueryError::NotAQuery);
    }
    let qdcount = read_u16(msg, 4);
    let ancount = read_u16(msg, 6);
    let nscount = read_u16(msg, 8);
    let arcount = read_u16(msg, 10);
    let malformed = |question: Option<(usize, usize)>, reason| QueryError::Malformed {
        reply: ErrorReply {
            id,
            request_flags: flags,
            question,
            rcode: RCODE_FORMERR,
        },
        reason,
    };
    if qdcount != 1 {
        return Err(malformed(None, "QDCOUNT is not 1"));
    }
    let qname_len = uncompressed_name_len(&msg[HEADER_BYTES..]).map_err(|r| malformed(None, r))?;
    let qname_end = HEADER_BYTES + qname_len;
    if msg.len() < qname_end + 4 {
        return Err(malformed(None, "question truncated"));
    }
    let question_range = (HEADER_BYTES, qname_end + 4);
    let qtype = read_u16(msg, qname_end);
    let qclass = read_u16(msg, qname_end + 2);
    let opcode = ((flags & OPCODE_MASK) >> OPCODE_SHIFT) as u8;
    if opcode != OPCODE_QUERY && opcode != OPCODE_NOTIFY {
        return Err(QueryError::OpcodeNotImplemented {
            reply: ErrorReply {
                id,
                request_flags: flags,
                question: Some(question_range),
                rcode: RCODE_NOTIMP,
            },
            opcode,
        });
    }
    let bad = |reason| malformed(Some(question_range), reason);

    let mut pos = question_range.1;
    let mut ixfr_serial = None;
    let mut edns = None;
    let mut tsig = None;
    let sections = [(ancount, 1u8), (nscount, 2), (arcount, 3)];
    for (count, section) in sections {
        for k in 0..count {
            let rr = read_record(msg, pos).map_err(bad)?;
            match (section, rr.rtype) {
                (3, TYPE_TSIG) if k + 1 == count => {
                    crate::tsig::parse_record(msg, pos).map_err(bad)?;
                    tsig = Some(pos);
                }
                (_, TYPE_TSIG) => {
                    return Err(bad("TSIG record not last in the additional section"));
                }
                (2, TYPE_SOA) if qtype == TYPE_IXFR && ixfr_serial.is_none() => {
                    ixfr_serial = Some(soa_serial(msg, rr.rdata_start, rr.rdata_end).map_err(bad)?);
                }
                (3, TYPE_OPT) => {
                    if edns.is_some() {
                        return Err(bad("more than one OPT record"));
                    }
                    if msg[pos] != 0 {
                        return Err(bad("OPT record owner is not the root"));
                    }
                    edns = Some(Edns {
                        udp_payload_bytes: rr.class,
                        version: (rr.ttl >> 16) as u8,
                        dnssec_ok: rr.ttl & 0x8000 != 0,
                    });
                }
                _ => {}
            }
            pos = rr.rdata_end;
        }
    }
    if pos != msg.len() {
        return Err(bad("bytes after the last record"));
    }
    if qtype == TYPE_IXFR && ixfr_serial.is_none() {
        return Err(bad("IXFR query without an SOA in the authority section"));
    }
    Ok(Query {
        id,
        flags,
        opcode,
        qname: &msg[HEADER_BYTES..qname_end],
        qtype,
        qclass,
        question: &msg[question_range.0..question_range.1],
        ixfr_serial,
        edns,
        tsig,
    })
}

/// Length of an uncompressed name at the start of `bytes`, root label included.
pub(crate) fn uncompressed_name_len(bytes: &[u8]) -> Result<usize, &'static str> {
    let mut pos = 0;
    loop {
        let Some(&len) = bytes.get(pos) else {
            return Err("question name truncated");
        };
        if len & 0xC0 == 0xC0 {
            return Err("compression pointer in the question");
        }
        if len & 0xC0 != 0 {
            return Err("unknown label type in the question");
        }
        pos += 1 + len as usize;
        if pos > NAME_BYTES_MAX {
            return Err("question name longer than 255 bytes");
        }
        if len == 0 {
            return Ok(pos);
        }
    }
}

/// Skips a possibly compressed name at `pos`; returns the position after it.
pub(crate) fn skip_name(msg: &[u8], mut pos: usize) -> Result<usize, &'static str> {
    // A name is at most 128 labels; a longer walk is malformed.
    for _ in 0..128 {
        let Some(&len) = msg.get(pos) else {
            return Err("name truncated");
        };
        match len & 0xC0 {
            0x00 if len == 0 => return Ok(pos + 1),
            0x00 => pos += 1 + len as usize,
            0xC0 => {
                if pos + 2 > msg.len() {
                    return Err("name truncated");
                }
                return Ok(pos + 2);
            }
            _ => return Err("unknown label type"),
        }
    }
    Err("name has too many labels")
}

pub(crate) struct RecordSpan {
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata_start: usize,
    pub rdata_end: usize,
}

pub(crate) fn read_record(msg: &[u8], pos: usize) -> Result<RecordSpan, &'static str> {
    let after_name = skip_name(msg, pos)?;
    if msg.len() < after_name + 10 {
        return Err("record truncated");
    }
    let rtype = read_u16(msg, after_name);
    let class = read_u16(msg, after_name + 2);
    let ttl = read_u32(msg, after_name + 4);
    let rdlen = read_u16(msg, after_name + 8) as usize;
    let rdata_start = after_name + 10;
    let rdata_end = rdata_start + rdlen;
    if rdata_end > msg.len() {
        return Err("record data truncated");
    }
    Ok(RecordSpan {
        rtype,
        class,
        ttl,
        rdata_start,
        rdata_end,
    })
}

fn soa_serial(msg: &[u8], start: usize, end: usize) -> Result<u32, &'static str> {
    let after_mname = skip_name(msg, start)?;
    let after_rname = skip_name(msg, after_mname)?;
    if after_rname + 20 != end {
        return Err("SOA record data has the wrong length");
    }
    Ok(read_u32(msg, after_rname))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{CLASS_IN, RCODE_FORMERR, TYPE_AXFR};

    pub(crate) fn query_bytes(id: u16, qname: &[u8], qtype: u16) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&0x0100u16.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(qname);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&CLASS_IN.to_be_bytes());
        m
    }

    const EXAMPLE: &[u8] = b"\x07ExAmPle\x03com\x00";

    #[test]
    fn axfr_query_parses_with_question_as_written() {
        let m = query_bytes(0xBEEF, EXAMPLE, TYPE_AXFR);
        let q = parse_query(&m).unwrap();
        assert_eq!(q.id, 0xBEEF);
        assert_eq!(q.qname, EXAMPLE);
        assert_eq!(q.qtype, TYPE_AXFR);
        assert_eq!(q.question, &m[12..]);
        assert_eq!(q.edns, None);
    }

    #[test]
    fn ixfr_serial_from_compressed_authority_soa() {
        let mut m = query_bytes(7, EXAMPLE, TYPE_IXFR);
        m[9] = 1; // NSCOUNT
        m.extend_from_slice(&[0xC0, 0x0C]);
        m.extend_from_slice(&TYPE_SOA.to_be_bytes());
        m.extend_from_slice(&CLASS_IN.to_be_bytes());
        m.extend_from_slice(&0u32.to_be_bytes());
        m.extend_from_slice(&24u16.to_be_bytes());
        m.extend_from_slice(&[0xC0, 0x0C, 0xC0, 0x0C]);
        m.extend_from_slice(&2026u32.to_be_bytes());
        m.extend_from_slice(&[0; 16]);
        let q = parse_query(&m).unwrap();
        assert_eq!(q.ixfr_serial, Some(2026));
    }

    #[test]
    fn ixfr_without_soa_is_formerr() {
        let m = query_bytes(7, EXAMPLE, TYPE_IXFR);
        let e = parse_query(&m).unwrap_err();
        assert_eq!(e.reply().unwrap().rcode, RCODE_FORMERR);
        assert_eq!(e.reply().unwrap().question, Some((12, m.len())));
    }

    #[test]
    fn edns_is_remembered_and_two_opts_rejected() {
        let mut m = query_bytes(1, EXAMPLE, TYPE_SOA);
        m[11] = 1;
        let opt = [0u8, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0, 0, 0];
        m.extend_from_slice(&opt);
        let q = parse_query(&m).unwrap();
        assert_eq!(
            q.edns,
            Some(Edns {
                udp_payload_bytes: 4096,
                version: 0,
                dnssec_ok: true
            })
        );
        m[11] = 2;
        m.extend_from_slice(&opt);
        assert!(matches!(parse_query(&m), Err(QueryError::Malformed { .. })));
    }

    #[test]
    fn pointer_in_question_is_formerr() {
        let m = query_bytes(1, &[0xC0, 0x0C], TYPE_AXFR);
        let e = parse_query(&m).unwrap_err();
        let r = e.reply().unwrap();
        assert_eq!((r.id, r.rcode, r.question), (1, RCODE_FORMERR, None));
    }

    #[test]
    fn responses_and_runts_are_dropped() {
        let mut m = query_bytes(1, EXAMPLE, TYPE_AXFR);
        m[2] |= 0x80;
        assert_eq!(parse_query(&m), Err(QueryError::NotAQuery));
        assert_eq!(parse_query(&m[..5]), Err(QueryError::TooShort(5)));
        assert!(parse_query(&m[..5]).unwrap_err().reply().is_none());
    }

    #[test]
    fn other_opcodes_are_notimp_with_question() {
        let mut m = query_bytes(1, EXAMPLE, TYPE_SOA);
        m[2] = 0x28; // opcode 5, UPDATE
        let r = parse_query(&m).unwrap_err().reply().unwrap();
        assert_eq!(r.rcode, RCODE_NOTIMP);
        assert_eq!(r.question, Some((12, m.len())));
        m[2] = 0x20; // opcode 4, NOTIFY
        let q = parse_query(&m).unwrap();
        assert_eq!((q.opcode, q.qtype), (OPCODE_NOTIFY, TYPE_SOA));
        m[2] = 0;
        assert_eq!(parse_query(&m).unwrap().opcode, OPCODE_QUERY);
    }

    #[test]
    fn trailing_bytes_and_bad_counts_are_formerr() {
        let mut m = query_bytes(1, EXAMPLE, TYPE_SOA);
        m.push(0);
        assert!(matches!(parse_query(&m), Err(QueryError::Malformed { .. })));
        let mut m = query_bytes(1, EXAMPLE, TYPE_SOA);
        m[5] = 2;
        assert!(matches!(parse_query(&m), Err(QueryError::Malformed { .. })));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = parse_query(&bytes);
        }
    }
}
