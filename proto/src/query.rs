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
//! The order of the checks: QR set (dropped), then the opcode (any other than QUERY and NOTIFY
//! is NOTIMP whatever the section counts say: UPDATE and DSO messages have other sections),
//! then QDCOUNT (not 1: FORMERR), then the records.
//!
//! Of the OPT record (RFC 6891 section 6.1.2) the parser keeps the UDP size, the version, the
//! DO bit (RFC 3225) and whether the EXPIRE option (RFC 7314) is present; its options must tile
//! its RDATA exactly (else FORMERR, section 7), and unknown options and flags are skipped, never
//! echoed. The version is not judged here: a version above 0 is the answer policy's BADVERS.
//! Error replies carry the OPT's fields when the whole message walked cleanly, so a FORMERR or
//! NOTIMP to an EDNS query can carry an OPT too; a message that does not walk gets none (RFC
//! 6891 section 7).
//!
//! The question is returned as the client wrote it, case included, so every response message can
//! echo it (RFC 5936 section 2.2).

use crate::wire::{
    read_u16, read_u32, EDNS_FLAG_DO, EDNS_OPTION_EXPIRE, EDNS_OPTION_PADDING, FLAG_QR,
    HEADER_BYTES, NAME_BYTES_MAX, OPCODE_MASK, OPCODE_NOTIFY, OPCODE_QUERY, OPCODE_SHIFT,
    RCODE_FORMERR, RCODE_NOTIMP, TYPE_IXFR, TYPE_OPT, TYPE_SOA, TYPE_TSIG,
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

/// What the query's OPT record said (RFC 6891 section 6.1.3). Other flags and options are
/// not kept: they are ignored, and never echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    pub udp_payload_bytes: u16,
    /// Above 0: BADVERS (RFC 6891 section 6.1.3); the parser does not judge it.
    pub version: u8,
    /// The DO bit (RFC 3225 section 3), copied into the response's OPT.
    pub dnssec_ok: bool,
    /// The query carries an EDNS EXPIRE option (RFC 7314 section 2; its content, empty in a
    /// query, is not looked at).
    pub expire: bool,
    /// The query carries an EDNS Padding option (RFC 7830): a responder that pads answers it
    /// padded (section 4).
    pub padding: bool,
}

/// What the server may echo when it answers a query it could not fully parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorReply {
    pub id: u16,
    pub request_flags: u16,
    /// `(start, end)` of the question in the message, when it parsed.
    pub question: Option<(usize, usize)>,
    pub rcode: u8,
    /// The query's OPT record, when the message walked cleanly and had one: the reply carries
    /// an OPT too (RFC 6891 section 6.1.1).
    pub edns: Option<Edns>,
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
    let opcode = ((flags & OPCODE_MASK) >> OPCODE_SHIFT) as u8;
    let reply = |question, rcode, edns| ErrorReply {
        id,
        request_flags: flags,
        question,
        rcode,
        edns,
    };
    if opcode != OPCODE_QUERY && opcode != OPCODE_NOTIFY {
        // Whatever the counts say: the question echoed when there is exactly one and it is
        // well formed, the OPT when the whole message walks.
        let question = match qdcount {
            1 => question_end(msg).ok().map(|end| (HEADER_BYTES, end)),
            _ => None,
        };
        let edns = walk_edns(msg, [qdcount, ancount, nscount, arcount]);
        return Err(QueryError::OpcodeNotImplemented {
            reply: reply(question, RCODE_NOTIMP, edns),
            opcode,
        });
    }
    if qdcount != 1 {
        let edns = walk_edns(msg, [qdcount, ancount, nscount, arcount]);
        return Err(QueryError::Malformed {
            reply: reply(None, RCODE_FORMERR, edns),
            reason: "QDCOUNT is not 1",
        });
    }
    let qend = question_end(msg).map_err(|reason| QueryError::Malformed {
        reply: reply(None, RCODE_FORMERR, None),
        reason,
    })?;
    let question_range = (HEADER_BYTES, qend);
    let qname_end = qend - 4;
    let qtype = read_u16(msg, qname_end);
    let qclass = read_u16(msg, qname_end + 2);
    let bad = |reason| QueryError::Malformed {
        reply: reply(Some(question_range), RCODE_FORMERR, None),
        reason,
    };

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
                    edns = Some(parse_opt(msg, pos, &rr).map_err(bad)?);
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
        return Err(QueryError::Malformed {
            reply: reply(Some(question_range), RCODE_FORMERR, edns),
            reason: "IXFR query without an SOA in the authority section",
        });
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

/// The end of the one question that follows the header: an uncompressed name, QTYPE, QCLASS.
fn question_end(msg: &[u8]) -> Result<usize, &'static str> {
    let qname_len = uncompressed_name_len(&msg[HEADER_BYTES..])?;
    let end = HEADER_BYTES + qname_len + 4;
    if msg.len() < end {
        return Err("question truncated");
    }
    Ok(end)
}

/// The OPT record at `pos` (already walked as `rr`): the root as owner, options tiling the
/// RDATA (RFC 6891 sections 6.1.2 and 7).
fn parse_opt(msg: &[u8], pos: usize, rr: &RecordSpan) -> Result<Edns, &'static str> {
    if msg[pos] != 0 {
        return Err("OPT record owner is not the root");
    }
    let mut expire = false;
    let mut padding = false;
    let mut at = rr.rdata_start;
    while at < rr.rdata_end {
        if at + 4 > rr.rdata_end {
            return Err("OPT option header truncated");
        }
        let code = read_u16(msg, at);
        let len = read_u16(msg, at + 2) as usize;
        at += 4 + len;
        if at > rr.rdata_end {
            return Err("OPT option data truncated");
        }
        expire |= code == EDNS_OPTION_EXPIRE;
        padding |= code == EDNS_OPTION_PADDING;
    }
    Ok(Edns {
        udp_payload_bytes: rr.class,
        version: (rr.ttl >> 16) as u8,
        dnssec_ok: (rr.ttl as u16) & EDNS_FLAG_DO != 0,
        expire,
        padding,
    })
}

/// Walks a message that is not a query this server parses in full (another opcode, QDCOUNT
/// other than 1) for its OPT record: `counts` are QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT. `None`
/// when there is none, or when anything does not walk (a malformed message gets no OPT back).
fn walk_edns(msg: &[u8], counts: [u16; 4]) -> Option<Edns> {
    let mut pos = HEADER_BYTES;
    for _ in 0..counts[0] {
        pos = skip_name(msg, pos).ok()? + 4;
    }
    if pos > msg.len() {
        return None;
    }
    let mut edns = None;
    for k in 0..counts[1] as u32 + counts[2] as u32 + counts[3] as u32 {
        let rr = read_record(msg, pos).ok()?;
        let additional = k >= counts[1] as u32 + counts[2] as u32;
        if additional && rr.rtype == TYPE_OPT {
            if edns.is_some() {
                return None;
            }
            edns = Some(parse_opt(msg, pos, &rr).ok()?);
        }
        pos = rr.rdata_end;
    }
    (pos == msg.len()).then_some(edns).flatten()
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
                dnssec_ok: true,
                expire: false,
                padding: false,
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

    /// `m` with an OPT record appended: `ttl` (extended RCODE, version, flags), `rdata`.
    fn with_opt(mut m: Vec<u8>, ttl: u32, rdata: &[u8]) -> Vec<u8> {
        let ar = read_u16(&m, 10) + 1;
        m[10..12].copy_from_slice(&ar.to_be_bytes());
        m.extend_from_slice(&[0, 0, 41, 0x04, 0xD0]);
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(rdata);
        m
    }

    #[test]
    fn unknown_opcodes_are_notimp_whatever_the_counts() {
        for qdcount in [0u8, 1, 2, 255] {
            let mut m = query_bytes(1, EXAMPLE, TYPE_SOA);
            m[2] = 15 << 3; // opcode 15
            m[5] = qdcount;
            let e = parse_query(&m).unwrap_err();
            assert!(
                matches!(e, QueryError::OpcodeNotImplemented { opcode: 15, .. }),
                "{e:?}"
            );
            let r = e.reply().unwrap();
            assert_eq!(r.rcode, RCODE_NOTIMP);
            let echoed = (qdcount == 1).then_some((12, m.len()));
            assert_eq!(r.question, echoed, "QDCOUNT {qdcount}");
        }
        // dig +header-only +opcode=15: a bare header.
        let mut m = query_bytes(1, EXAMPLE, TYPE_SOA)[..12].to_vec();
        m[2] = 15 << 3;
        m[5] = 0;
        let r = parse_query(&m).unwrap_err().reply().unwrap();
        assert_eq!((r.rcode, r.question, r.edns), (RCODE_NOTIMP, None, None));
    }

    #[test]
    fn errors_carry_the_opt_when_the_message_walks() {
        // Opcode 15 with an OPT: NOTIMP, the OPT remembered for the reply.
        let mut m = with_opt(query_bytes(1, EXAMPLE, TYPE_SOA), 0x8000, &[]);
        m[2] = 15 << 3;
        let r = parse_query(&m).unwrap_err().reply().unwrap();
        assert_eq!(r.rcode, RCODE_NOTIMP);
        assert!(r.edns.unwrap().dnssec_ok);
        // QDCOUNT 0 and 2 with an OPT: FORMERR with it.
        let q0 = with_opt(query_bytes(1, EXAMPLE, TYPE_SOA)[..12].to_vec(), 0, &[]);
        let mut q0 = q0;
        q0[5] = 0;
        let r = parse_query(&q0).unwrap_err().reply().unwrap();
        assert_eq!((r.rcode, r.question), (RCODE_FORMERR, None));
        assert!(r.edns.is_some());
        let mut q2 = query_bytes(1, EXAMPLE, TYPE_SOA);
        q2.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]); // a second, compressed, question
        q2[5] = 2;
        let q2 = with_opt(q2, 0, &[]);
        let r = parse_query(&q2).unwrap_err().reply().unwrap();
        assert_eq!((r.rcode, r.question), (RCODE_FORMERR, None));
        assert!(r.edns.is_some());
        // A message that does not walk gets no OPT back.
        let mut bad = q2.clone();
        bad.push(0);
        assert_eq!(parse_query(&bad).unwrap_err().reply().unwrap().edns, None);
        // IXFR without its SOA: well formed, the OPT kept.
        let m = with_opt(query_bytes(1, EXAMPLE, TYPE_IXFR), 0, &[]);
        let r = parse_query(&m).unwrap_err().reply().unwrap();
        assert_eq!(r.rcode, RCODE_FORMERR);
        assert!(r.edns.is_some());
    }

    #[test]
    fn opt_options_are_walked_expire_found_others_skipped() {
        let m = query_bytes(1, EXAMPLE, TYPE_SOA);
        // Unknown option 100, unknown flag 0x4000, version 1: kept as version, flags dropped.
        let e = parse_query(&with_opt(m.clone(), 0x0001_4000, &[0, 100, 0, 1, 7]))
            .unwrap()
            .edns
            .unwrap();
        assert_eq!((e.version, e.dnssec_ok, e.expire), (1, false, false));
        let e = parse_query(&with_opt(m.clone(), 0, &[0, 100, 0, 0, 0, 9, 0, 0]))
            .unwrap()
            .edns
            .unwrap();
        assert!(e.expire && !e.padding);
        // A Padding option (RFC 7830), with its zeros, beside EXPIRE.
        let e = parse_query(&with_opt(m.clone(), 0, &[0, 12, 0, 3, 0, 0, 0, 0, 9, 0, 0]))
            .unwrap()
            .edns
            .unwrap();
        assert!(e.expire && e.padding);
        // Options that do not tile the RDATA: FORMERR.
        for rdata in [&[0u8, 9, 0][..], &[0, 9, 0, 4, 1], &[0, 100, 0, 0, 1]] {
            let e = parse_query(&with_opt(m.clone(), 0, rdata)).unwrap_err();
            assert!(matches!(e, QueryError::Malformed { .. }), "{rdata:?}");
            assert_eq!(e.reply().unwrap().edns, None);
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = parse_query(&bytes);
        }
    }
}
