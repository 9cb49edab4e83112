//! The small responses the server builds itself: error responses and SOA answers.
//!
//! Header values follow RFC 5936 section 2.2.1 for every response: ID copied, QR set, OPCODE
//! copied (0 for the answers), RD and CD copied from the request, RA, Z and AD zero. When the
//! query carried an OPT record, the response carries one too (RFC 6891 section 6.1.1) advertising
//! [`EDNS_UDP_PAYLOAD_BYTES`].

use crate::query::{ErrorReply, Query};
use crate::wire::{
    CLASS_IN, EDNS_UDP_PAYLOAD_BYTES, FLAG_AA, FLAG_CD, FLAG_QR, FLAG_RD, HEADER_BYTES,
    OPCODE_MASK, TYPE_OPT, TYPE_SOA,
};

/// Bytes an OPT record takes in a response (root owner, no options).
pub const OPT_BYTES: usize = 11;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    #[error("response of {needed} bytes does not fit the {capacity}-byte buffer")]
    BufferTooSmall { needed: usize, capacity: usize },
}

fn response_flags(request_flags: u16, rcode: u8, authoritative: bool) -> u16 {
    let mut flags = FLAG_QR | (request_flags & (OPCODE_MASK | FLAG_RD | FLAG_CD)) | rcode as u16;
    if authoritative {
        flags |= FLAG_AA;
    }
    flags
}

fn check(out: &[u8], needed: usize) -> Result<(), ResponseError> {
    if out.len() < needed {
        return Err(ResponseError::BufferTooSmall {
            needed,
            capacity: out.len(),
        });
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn write_header(out: &mut [u8], id: u16, flags: u16, qd: u16, an: u16, ar: u16) {
    out[0..2].copy_from_slice(&id.to_be_bytes());
    out[2..4].copy_from_slice(&flags.to_be_bytes());
    out[4..6].copy_from_slice(&qd.to_be_bytes());
    out[6..8].copy_from_slice(&an.to_be_bytes());
    out[8..10].copy_from_slice(&0u16.to_be_bytes());
    out[10..12].copy_from_slice(&ar.to_be_bytes());
}

fn write_opt(out: &mut [u8]) {
    out[0] = 0;
    out[1..3].copy_from_slice(&TYPE_OPT.to_be_bytes());
    out[3..5].copy_from_slice(&EDNS_UDP_PAYLOAD_BYTES.to_be_bytes());
    out[5..11].fill(0); // extended RCODE 0, version 0, no flags, no options
}

/// Writes an error response for `reply` (the question echoed when it parsed) into `out`;
/// `msg` is the request the reply refers to. Returns the response length.
pub fn write_error_response(
    out: &mut [u8],
    msg: &[u8],
    reply: &ErrorReply,
    with_opt: bool,
) -> Result<usize, ResponseError> {
    let question = reply.question.map(|(s, e)| &msg[s..e]).unwrap_or(&[]);
    write_rcode_response(
        out,
        reply.id,
        reply.request_flags,
        reply.question.map(|_| question),
        reply.rcode,
        with_opt,
    )
}

/// Writes a response with no records but `rcode`, echoing `question` when given.
pub fn write_rcode_response(
    out: &mut [u8],
    id: u16,
    request_flags: u16,
    question: Option<&[u8]>,
    rcode: u8,
    with_opt: bool,
) -> Result<usize, ResponseError> {
    let qlen = question.map_or(0, <[u8]>::len);
    let needed = HEADER_BYTES + qlen + if with_opt { OPT_BYTES } else { 0 };
    check(out, needed)?;
    write_header(
        out,
        id,
        response_flags(request_flags, rcode, false),
        question.is_some() as u16,
        0,
        with_opt as u16,
    );
    let mut pos = HEADER_BYTES;
    if let Some(q) = question {
        out[pos..pos + qlen].copy_from_slice(q);
        pos += qlen;
    }
    if with_opt {
        write_opt(&mut out[pos..]);
        pos += OPT_BYTES;
    }
    Ok(pos)
}

/// Writes an authoritative answer to `query` holding one SOA record (owner: the question's
/// name, by a pointer to it; class IN; `ttl` and uncompressed `rdata` from the store).
pub fn write_soa_answer(
    out: &mut [u8],
    query: &Query<'_>,
    ttl: u32,
    rdata: &[u8],
) -> Result<usize, ResponseError> {
    let with_opt = query.edns.is_some();
    let qlen = query.question.len();
    let rr_bytes = 2 + 10 + rdata.len();
    let needed = HEADER_BYTES + qlen + rr_bytes + if with_opt { OPT_BYTES } else { 0 };
    check(out, needed)?;
    let rdlen = u16::try_from(rdata.len()).expect("SOA rdata longer than 65535 bytes");
    write_header(
        out,
        query.id,
        response_flags(query.flags, 0, true),
        1,
        1,
        with_opt as u16,
    );
    let mut pos = HEADER_BYTES;
    out[pos..pos + qlen].copy_from_slice(query.question);
    pos += qlen;
    out[pos..pos + 2].copy_from_slice(&[0xC0, HEADER_BYTES as u8]);
    out[pos + 2..pos + 4].copy_from_slice(&TYPE_SOA.to_be_bytes());
    out[pos + 4..pos + 6].copy_from_slice(&CLASS_IN.to_be_bytes());
    out[pos + 6..pos + 10].copy_from_slice(&ttl.to_be_bytes());
    out[pos + 10..pos + 12].copy_from_slice(&rdlen.to_be_bytes());
    pos += 12;
    out[pos..pos + rdata.len()].copy_from_slice(rdata);
    pos += rdata.len();
    if with_opt {
        write_opt(&mut out[pos..]);
        pos += OPT_BYTES;
    }
    debug_assert_eq!(pos, needed);
    Ok(pos)
}

/// Writes an authoritative answer to `query` whose answer section is a stored body of
/// `ancount` records (an IXFR that fits one UDP message): the body's compression pointers
/// assume the header and the question precede it, as they do here.
pub fn write_stored_answer(
    out: &mut [u8],
    query: &Query<'_>,
    body: &[u8],
    ancount: u16,
) -> Result<usize, ResponseError> {
    let with_opt = query.edns.is_some();
    let qlen = query.question.len();
    let needed = HEADER_BYTES + qlen + body.len() + if with_opt { OPT_BYTES } else { 0 };
    check(out, needed)?;
    write_header(
        out,
        query.id,
        response_flags(query.flags, 0, true),
        1,
        ancount,
        with_opt as u16,
    );
    let mut pos = HEADER_BYTES;
    out[pos..pos + qlen].copy_from_slice(query.question);
    pos += qlen;
    out[pos..pos + body.len()].copy_from_slice(body);
    pos += body.len();
    if with_opt {
        write_opt(&mut out[pos..]);
        pos += OPT_BYTES;
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse_query;
    use crate::wire::{read_u16, RCODE_NOTAUTH};

    fn query(qtype: u16) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x10, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(b"\x07example\x03com\x00");
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m
    }

    #[test]
    fn soa_answer_layout() {
        let m = query(TYPE_SOA);
        let q = parse_query(&m).unwrap();
        let rdata = b"\x03ns1\x00\x0ahostmaster\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04\x00\x00\x00\x05";
        let mut out = [0u8; 512];
        let n = write_soa_answer(&mut out, &q, 3600, rdata).unwrap();
        let r = &out[..n];
        assert_eq!(&r[0..2], &[0x12, 0x34]);
        let flags = read_u16(r, 2);
        assert_eq!(flags, FLAG_QR | FLAG_AA | FLAG_RD | FLAG_CD);
        assert_eq!(&r[4..12], &[0, 1, 0, 1, 0, 0, 0, 0]);
        assert_eq!(&r[12..12 + q.question.len()], q.question);
        let rr = &r[12 + q.question.len()..];
        assert_eq!(&rr[..2], &[0xC0, 12]);
        assert_eq!(read_u16(rr, 10) as usize, rdata.len());
        assert_eq!(&rr[12..], rdata);
    }

    #[test]
    fn stored_answer_layout() {
        let m = query(TYPE_SOA);
        let q = parse_query(&m).unwrap();
        let body = [0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 60, 0, 0];
        let mut out = [0u8; 512];
        let n = write_stored_answer(&mut out, &q, &body, 1).unwrap();
        assert_eq!(n, 12 + q.question.len() + body.len());
        assert_eq!(read_u16(&out, 2), FLAG_QR | FLAG_AA | FLAG_RD | FLAG_CD);
        assert_eq!(&out[4..12], &[0, 1, 0, 1, 0, 0, 0, 0]);
        assert_eq!(&out[12 + q.question.len()..n], &body);
        let e = write_stored_answer(&mut out[..30], &q, &body, 1);
        assert!(matches!(e, Err(ResponseError::BufferTooSmall { .. })));
    }

    #[test]
    fn error_response_echoes_question_and_opt() {
        let m = query(252);
        let q = parse_query(&m).unwrap();
        let mut out = [0u8; 512];
        let n = write_rcode_response(
            &mut out,
            q.id,
            q.flags,
            Some(q.question),
            RCODE_NOTAUTH,
            true,
        )
        .unwrap();
        assert_eq!(n, 12 + q.question.len() + OPT_BYTES);
        assert_eq!(read_u16(&out, 2) & 0xF, RCODE_NOTAUTH as u16);
        assert_eq!(read_u16(&out, 10), 1);
        assert_eq!(read_u16(&out, 12 + q.question.len() + 1), TYPE_OPT);
        let e = write_rcode_response(&mut out[..20], 1, 0, Some(q.question), 5, false);
        assert!(matches!(e, Err(ResponseError::BufferTooSmall { .. })));
    }
}
