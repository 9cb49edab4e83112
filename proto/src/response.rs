//! The small responses the server builds itself: error responses and SOA answers.
//!
//! Header values follow RFC 5936 section 2.2.1 for every response: ID copied, QR set, OPCODE
//! copied (0 for the answers), RD and CD copied from the request, RA, Z and AD zero. When the
//! query carried an OPT record, the response carries one too (RFC 6891 section 6.1.1), written
//! by [`ResponseOpt`]: [`EDNS_UDP_PAYLOAD_BYTES`], version 0, the upper bits of an extended
//! RCODE (BADVERS), the DO bit copied (RFC 3225 section 3), no other flags, and no options but
//! EDNS EXPIRE in a served zone's answers when the query asked for it (RFC 7314 section 4).
//! Padding (RFC 7830) is added by the engine where a listener pads ([`padding_len`],
//! [`add_padding_option`]).
//! Everything is written into the caller's buffer: nothing is allocated.

use crate::query::{Edns, ErrorReply, Query};
use crate::wire::{
    read_u16, read_u32, CLASS_IN, EDNS_FLAG_DO, EDNS_OPTION_EXPIRE, EDNS_OPTION_HEADER_BYTES,
    EDNS_OPTION_PADDING, EDNS_UDP_PAYLOAD_BYTES, FLAG_AA, FLAG_CD, FLAG_QR, FLAG_RD, HEADER_BYTES,
    MESSAGE_BYTES_MAX, OPCODE_MASK, PADDING_BLOCK_MAX, TYPE_OPT, TYPE_SOA,
};

/// Bytes an OPT record without options takes in a response (root owner, type, class, TTL,
/// RDLENGTH).
pub const OPT_BYTES: usize = 11;
/// Bytes of the EDNS EXPIRE option in a response: code, length, 32-bit value.
pub const EXPIRE_OPTION_BYTES: usize = 8;
/// The largest OPT record a response carries: one with the EXPIRE option.
pub const OPT_BYTES_MAX: usize = OPT_BYTES + EXPIRE_OPTION_BYTES;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    #[error("response of {needed} bytes does not fit the {capacity}-byte buffer")]
    BufferTooSmall { needed: usize, capacity: usize },
}

/// The OPT record of a response (RFC 6891 section 6.1.2). Plain data: written with
/// [`ResponseOpt::write`] into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseOpt {
    /// The upper 8 bits of the response's 12-bit RCODE (1 for BADVERS).
    pub rcode_high: u8,
    /// DO, copied from the query (RFC 3225 section 3).
    pub dnssec_ok: bool,
    /// The EDNS EXPIRE option's value, in seconds (RFC 7314 section 2).
    pub expire_s: Option<u32>,
}

impl ResponseOpt {
    /// The OPT of a response to a query that carried `edns`: DO copied, nothing else.
    pub fn echo(edns: &Edns) -> ResponseOpt {
        ResponseOpt {
            rcode_high: 0,
            dnssec_ok: edns.dnssec_ok,
            expire_s: None,
        }
    }

    /// The OPT of a served zone's answer (SOA, AXFR, IXFR): [`ResponseOpt::echo`], and the
    /// EXPIRE option when the query carried one. xfrd is the zone's primary, so the value is
    /// the SOA's EXPIRE field, `soa_expire_s` (RFC 7314 section 4).
    pub fn zone_answer(edns: &Edns, soa_expire_s: u32) -> ResponseOpt {
        ResponseOpt {
            expire_s: edns.expire.then_some(soa_expire_s),
            ..ResponseOpt::echo(edns)
        }
    }

    /// Bytes of the record: [`OPT_BYTES`], or [`OPT_BYTES_MAX`] with EXPIRE.
    pub fn bytes(&self) -> usize {
        match self.expire_s {
            Some(_) => OPT_BYTES_MAX,
            None => OPT_BYTES,
        }
    }

    /// Writes the record at the start of `out`, which holds at least [`ResponseOpt::bytes`];
    /// returns its length.
    pub fn write(&self, out: &mut [u8]) -> usize {
        let flags = if self.dnssec_ok { EDNS_FLAG_DO } else { 0 };
        out[0] = 0;
        out[1..3].copy_from_slice(&TYPE_OPT.to_be_bytes());
        out[3..5].copy_from_slice(&EDNS_UDP_PAYLOAD_BYTES.to_be_bytes());
        out[5] = self.rcode_high;
        out[6] = 0; // version 0, the only one implemented
        out[7..9].copy_from_slice(&flags.to_be_bytes());
        match self.expire_s {
            Some(expire) => {
                out[9..11].copy_from_slice(&(EXPIRE_OPTION_BYTES as u16).to_be_bytes());
                out[11..13].copy_from_slice(&EDNS_OPTION_EXPIRE.to_be_bytes());
                out[13..15].copy_from_slice(&4u16.to_be_bytes());
                out[15..19].copy_from_slice(&expire.to_be_bytes());
                OPT_BYTES_MAX
            }
            None => {
                out[9..11].fill(0);
                OPT_BYTES
            }
        }
    }
}

/// EDNS padding (RFC 7830) by the block-length strategy of RFC 8467 section 4.1: the zeros a
/// message of `unpadded` bytes needs, its Padding option's 4-byte header already counted, to
/// reach a multiple of `block` bytes (at most 65535: a message that a whole block would push
/// beyond gets what room is left). `None` when not even the option header fits.
pub fn padding_len(unpadded: usize, block: usize) -> Option<usize> {
    assert!(
        (1..=PADDING_BLOCK_MAX).contains(&block),
        "padding block {block}"
    );
    if unpadded > MESSAGE_BYTES_MAX {
        return None;
    }
    let target = unpadded.div_ceil(block).saturating_mul(block);
    Some(target.min(MESSAGE_BYTES_MAX) - unpadded)
}

/// Makes the OPT record at `out[opt_at..opt_at + opt_len]` carry a Padding option of `pad`
/// zeros: its RDLENGTH grows by the option, whose 4-byte header is written right after the
/// record (the zeros themselves are the caller's to place after it). Returns the header's
/// length.
pub fn add_padding_option(out: &mut [u8], opt_at: usize, opt_len: usize, pad: usize) -> usize {
    assert!(opt_len >= OPT_BYTES && pad <= PADDING_BLOCK_MAX);
    let rdlen_at = opt_at + 9;
    let rdlen = read_u16(out, rdlen_at) as usize + EDNS_OPTION_HEADER_BYTES + pad;
    out[rdlen_at..rdlen_at + 2].copy_from_slice(&(rdlen as u16).to_be_bytes());
    let h = opt_at + opt_len;
    out[h..h + 2].copy_from_slice(&EDNS_OPTION_PADDING.to_be_bytes());
    out[h + 2..h + 4].copy_from_slice(&(pad as u16).to_be_bytes());
    EDNS_OPTION_HEADER_BYTES
}

/// The EXPIRE field of an uncompressed SOA RDATA (MNAME, RNAME, then SERIAL, REFRESH, RETRY,
/// EXPIRE, MINIMUM: RFC 1035 section 3.3.13).
pub fn soa_expire_s(rdata: &[u8]) -> u32 {
    assert!(rdata.len() >= 22, "SOA rdata of {} bytes", rdata.len());
    read_u32(rdata, rdata.len() - 8)
}

/// Bytes of the OPT a served zone's answer to a query with `edns` carries (0: none).
pub fn zone_answer_opt_bytes(edns: Option<&Edns>) -> usize {
    edns.map_or(0, |e| ResponseOpt::zone_answer(e, 0).bytes())
}

fn response_flags(request_flags: u16, rcode: u8, authoritative: bool) -> u16 {
    let mut flags =
        FLAG_QR | (request_flags & (OPCODE_MASK | FLAG_RD | FLAG_CD)) | (rcode & 0x0F) as u16;
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

fn write_header(out: &mut [u8], id: u16, flags: u16, qd: u16, an: u16, ar: u16) {
    out[0..2].copy_from_slice(&id.to_be_bytes());
    out[2..4].copy_from_slice(&flags.to_be_bytes());
    out[4..6].copy_from_slice(&qd.to_be_bytes());
    out[6..8].copy_from_slice(&an.to_be_bytes());
    out[8..10].copy_from_slice(&0u16.to_be_bytes());
    out[10..12].copy_from_slice(&ar.to_be_bytes());
}

/// Writes an error response for `reply` (the question echoed when it parsed, an OPT when the
/// query's walked cleanly) into `out`; `msg` is the request the reply refers to. Returns the
/// response length.
pub fn write_error_response(
    out: &mut [u8],
    msg: &[u8],
    reply: &ErrorReply,
) -> Result<usize, ResponseError> {
    let question = reply.question.map(|(s, e)| &msg[s..e]);
    write_rcode_response(
        out,
        reply.id,
        reply.request_flags,
        question,
        reply.rcode.into(),
        reply.edns.as_ref(),
    )
}

/// Writes a response with no records but `rcode` (12 bits: one above 15 needs `edns`, whose
/// OPT carries the upper bits), echoing `question` when given and with an OPT when the query
/// had one (`edns`).
pub fn write_rcode_response(
    out: &mut [u8],
    id: u16,
    request_flags: u16,
    question: Option<&[u8]>,
    rcode: u16,
    edns: Option<&Edns>,
) -> Result<usize, ResponseError> {
    assert!(rcode < 1 << 12, "RCODE {rcode} is more than 12 bits");
    assert!(
        rcode < 16 || edns.is_some(),
        "extended RCODE {rcode} without an OPT record"
    );
    let opt = edns.map(|e| ResponseOpt {
        rcode_high: (rcode >> 4) as u8,
        ..ResponseOpt::echo(e)
    });
    let qlen = question.map_or(0, <[u8]>::len);
    let needed = HEADER_BYTES + qlen + opt.map_or(0, |o| o.bytes());
    check(out, needed)?;
    write_header(
        out,
        id,
        response_flags(request_flags, rcode as u8, false),
        question.is_some() as u16,
        0,
        opt.is_some() as u16,
    );
    let mut pos = HEADER_BYTES;
    if let Some(q) = question {
        out[pos..pos + qlen].copy_from_slice(q);
        pos += qlen;
    }
    if let Some(opt) = opt {
        pos += opt.write(&mut out[pos..]);
    }
    debug_assert_eq!(pos, needed);
    Ok(pos)
}

/// Writes an authoritative answer to `query` holding one SOA record (owner: the question's
/// name, by a pointer to it; class IN; `ttl` and uncompressed `rdata` from the store), with
/// EDNS EXPIRE from that SOA when the query asked for it.
pub fn write_soa_answer(
    out: &mut [u8],
    query: &Query<'_>,
    ttl: u32,
    rdata: &[u8],
) -> Result<usize, ResponseError> {
    let opt = query
        .edns
        .map(|e| ResponseOpt::zone_answer(&e, soa_expire_s(rdata)));
    let qlen = query.question.len();
    let rr_bytes = 2 + 10 + rdata.len();
    let needed = HEADER_BYTES + qlen + rr_bytes + opt.map_or(0, |o| o.bytes());
    check(out, needed)?;
    let rdlen = u16::try_from(rdata.len()).expect("SOA rdata longer than 65535 bytes");
    write_header(
        out,
        query.id,
        response_flags(query.flags, 0, true),
        1,
        1,
        opt.is_some() as u16,
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
    if let Some(opt) = opt {
        pos += opt.write(&mut out[pos..]);
    }
    debug_assert_eq!(pos, needed);
    Ok(pos)
}

/// Writes an authoritative answer to `query` whose answer section is a stored body of
/// `ancount` records (an IXFR that fits one UDP message): the body's compression pointers
/// assume the header and the question precede it, as they do here. `soa_expire_s` is the
/// zone's SOA EXPIRE, for the EXPIRE option when the query asked for it.
pub fn write_stored_answer(
    out: &mut [u8],
    query: &Query<'_>,
    body: &[u8],
    ancount: u16,
    soa_expire_s: u32,
) -> Result<usize, ResponseError> {
    let opt = query
        .edns
        .map(|e| ResponseOpt::zone_answer(&e, soa_expire_s));
    let qlen = query.question.len();
    let needed = HEADER_BYTES + qlen + body.len() + opt.map_or(0, |o| o.bytes());
    check(out, needed)?;
    write_header(
        out,
        query.id,
        response_flags(query.flags, 0, true),
        1,
        ancount,
        opt.is_some() as u16,
    );
    let mut pos = HEADER_BYTES;
    out[pos..pos + qlen].copy_from_slice(query.question);
    pos += qlen;
    out[pos..pos + body.len()].copy_from_slice(body);
    pos += body.len();
    if let Some(opt) = opt {
        pos += opt.write(&mut out[pos..]);
    }
    debug_assert_eq!(pos, needed);
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse_query;
    use crate::wire::{read_u16, RCODE_BADVERS, RCODE_NOTAUTH};

    const EDNS: Edns = Edns {
        udp_payload_bytes: 4096,
        version: 0,
        dnssec_ok: false,
        expire: false,
        padding: false,
    };

    const RDATA: &[u8] = b"\x03ns1\x00\x0ahostmaster\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04\x00\x00\x00\x05";

    /// `query(qtype)` with an OPT record of `ttl` (extended RCODE, version, flags) and
    /// `options` as its RDATA.
    fn edns_query(qtype: u16, ttl: u32, options: &[u8]) -> Vec<u8> {
        let mut m = query(qtype);
        m[11] = 1;
        m.extend_from_slice(&[0, 0, 41, 0x10, 0]);
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&(options.len() as u16).to_be_bytes());
        m.extend_from_slice(options);
        m
    }

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
        let n = write_stored_answer(&mut out, &q, &body, 1, 7).unwrap();
        assert_eq!(n, 12 + q.question.len() + body.len());
        assert_eq!(read_u16(&out, 2), FLAG_QR | FLAG_AA | FLAG_RD | FLAG_CD);
        assert_eq!(&out[4..12], &[0, 1, 0, 1, 0, 0, 0, 0]);
        assert_eq!(&out[12 + q.question.len()..n], &body);
        let e = write_stored_answer(&mut out[..30], &q, &body, 1, 7);
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
            RCODE_NOTAUTH.into(),
            Some(&EDNS),
        )
        .unwrap();
        assert_eq!(n, 12 + q.question.len() + OPT_BYTES);
        assert_eq!(read_u16(&out, 2) & 0xF, RCODE_NOTAUTH as u16);
        assert_eq!(read_u16(&out, 10), 1);
        assert_eq!(read_u16(&out, 12 + q.question.len() + 1), TYPE_OPT);
        let e = write_rcode_response(&mut out[..20], 1, 0, Some(q.question), 5, None);
        assert!(matches!(e, Err(ResponseError::BufferTooSmall { .. })));
    }

    #[test]
    fn soa_expire_is_read_from_the_rdata() {
        assert_eq!(soa_expire_s(RDATA), 4);
    }

    #[test]
    fn opt_copies_do_drops_unknown_flags_and_options() {
        // DO and an unknown flag (0x4000) set, an unknown option 100 and a cookie-sized one.
        let mut options = vec![0, 100, 0, 2, 0xAB, 0xCD];
        options.extend_from_slice(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        let m = edns_query(TYPE_SOA, 0x0000_C000, &options);
        let q = parse_query(&m).unwrap();
        let mut out = [0u8; 512];
        let n = write_soa_answer(&mut out, &q, 3600, RDATA).unwrap();
        assert_eq!(read_u16(&out, 10), 1, "ARCOUNT");
        let opt = &out[n - OPT_BYTES..n];
        assert_eq!(
            opt,
            &[0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0],
            "our size, version 0, DO alone, no options"
        );
    }

    #[test]
    fn soa_answer_carries_expire_when_asked() {
        let m = edns_query(TYPE_SOA, 0, &[0, 9, 0, 0]);
        let q = parse_query(&m).unwrap();
        assert!(q.edns.unwrap().expire);
        let mut out = [0u8; 512];
        let n = write_soa_answer(&mut out, &q, 3600, RDATA).unwrap();
        let opt = &out[n - OPT_BYTES_MAX..n];
        assert_eq!(
            opt,
            &[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 8, 0, 9, 0, 4, 0, 0, 0, 4]
        );
        // The same query without the option: no EXPIRE.
        let m = edns_query(TYPE_SOA, 0, &[]);
        let q = parse_query(&m).unwrap();
        let n2 = write_soa_answer(&mut out, &q, 3600, RDATA).unwrap();
        assert_eq!(n2, n - EXPIRE_OPTION_BYTES);
        // The stored answer takes the value given.
        let m = edns_query(TYPE_SOA, 0, &[0, 9, 0, 0]);
        let q = parse_query(&m).unwrap();
        let n = write_stored_answer(&mut out, &q, &[], 0, 86400).unwrap();
        assert_eq!(&out[n - 4..n], &86400u32.to_be_bytes());
        assert_eq!(zone_answer_opt_bytes(q.edns.as_ref()), OPT_BYTES_MAX);
        assert_eq!(zone_answer_opt_bytes(None), 0);
    }

    #[test]
    fn badvers_goes_in_the_opt() {
        let m = edns_query(TYPE_SOA, 0x0001_8000, &[]);
        let q = parse_query(&m).unwrap();
        let e = q.edns.unwrap();
        assert_eq!((e.version, e.dnssec_ok), (1, true));
        let mut out = [0u8; 512];
        let n = write_rcode_response(
            &mut out,
            q.id,
            q.flags,
            Some(q.question),
            RCODE_BADVERS,
            Some(&e),
        )
        .unwrap();
        assert_eq!(
            read_u16(&out, 2) & 0xF,
            0,
            "header RCODE: the low 4 bits of 16"
        );
        assert_eq!(read_u16(&out, 10), 1);
        assert_eq!(
            &out[n - OPT_BYTES..n],
            &[0, 0, 41, 0x04, 0xD0, 1, 0, 0x80, 0, 0, 0]
        );
    }

    #[test]
    #[should_panic(expected = "without an OPT")]
    fn extended_rcode_without_opt_is_a_bug() {
        let mut out = [0u8; 512];
        let _ = write_rcode_response(&mut out, 1, 0, None, RCODE_BADVERS, None);
    }

    proptest::proptest! {
        /// Whatever arrives, the reply fits the sizes callers reserve: an error reply in
        /// header + largest question + OPT, a SOA answer in header + question + SOA record +
        /// the largest OPT (xfr-frontend and the engine size their buffers so).
        #[test]
        fn replies_fit_their_reserved_sizes(
            mut bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 12..200),
            opt in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24),
            ttl in proptest::prelude::any::<u32>(),
        ) {
            // Half the time, a well-formed question and an OPT of random flags and options.
            if bytes[0] & 1 == 0 {
                bytes.truncate(12);
                bytes[2] &= 0x7F;
                bytes[4..12].copy_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]);
                bytes.extend_from_slice(b"\x07example\x03com\x00\x00\x06\x00\x01");
                bytes.extend_from_slice(&[0, 0, 41, 0x10, 0]);
                bytes.extend_from_slice(&ttl.to_be_bytes());
                bytes.extend_from_slice(&(opt.len() as u16).to_be_bytes());
                bytes.extend_from_slice(&opt);
            }
            let mut out = [0u8; 1024];
            match parse_query(&bytes) {
                Ok(q) => {
                    let cap = HEADER_BYTES + q.question.len() + 12 + RDATA.len() + OPT_BYTES_MAX;
                    write_soa_answer(&mut out[..cap], &q, 1, RDATA).unwrap();
                    let cap = HEADER_BYTES + q.question.len() + OPT_BYTES;
                    let rcode = if q.edns.is_some() { RCODE_BADVERS } else { 5 };
                    write_rcode_response(&mut out[..cap], q.id, q.flags, Some(q.question), rcode, q.edns.as_ref()).unwrap();
                }
                Err(e) => {
                    if let Some(r) = e.reply() {
                        let cap = HEADER_BYTES + crate::wire::QUESTION_BYTES_MAX + OPT_BYTES;
                        write_error_response(&mut out[..cap], &bytes, &r).unwrap();
                    }
                }
            }
        }
    }
}
