//! What to answer to one query: the policy of the server, shared by UDP and TCP.
//!
//! | query | answer |
//! |---|---|
//! | a response (QR=1), or shorter than a header | nothing (UDP) / connection closed (TCP), as NSD does: a peer that sends responses on a transfer connection is not a client |
//! | opcode other than QUERY and NOTIFY, whatever the section counts | NOTIMP, the question echoed when there is exactly one |
//! | QDCOUNT other than 1 | FORMERR, no question |
//! | malformed (but with a header), a TSIG record misplaced or malformed | FORMERR, the question echoed when it parsed |
//! | NOTIFY for a served zone | NOERROR, AA, the question echoed (RFC 1996 section 4.7: we are its primary; the sender stops retrying) |
//! | NOTIFY for any other name | NOTAUTH |
//! | signed with an unknown key or algorithm | NOTAUTH, TSIG error BADKEY, unsigned (RFC 8945 section 5.2.1) |
//! | signed, MAC does not verify | NOTAUTH, BADSIG, unsigned (5.2.2) |
//! | signed, time outside the fudge | NOTAUTH, BADTIME, signed, the server's time in the TSIG other data (5.2.3) |
//! | signed, MAC truncated below the full length (our policy) | NOTAUTH, BADTRUNC, signed (5.2.4) |
//! | EDNS version above 0 | BADVERS (extended RCODE 16: 0 in the header, 1 in the OPT), an OPT of version 0, the question echoed, signed when the TSIG verified (RFC 6891 section 6.1.3) |
//! | QNAME not the apex of a served zone, or class not IN | AXFR/IXFR: NOTAUTH (RFC 5936 section 2.2.1 names NotAuth for a zone the server is not authoritative for); other types: REFUSED (RFC 8906 section 3.1.4) |
//! | SOA at a served apex | the SOA, authoritative (UDP and TCP; no ACL: the SOA is public) |
//! | AXFR/IXFR that no rule of the zone's allow-transfer list matches (address, and key when the rule names one) | REFUSED, checked before any quota |
//! | IXFR whose serial is the current one or later (RFC 1982) | the single current SOA (RFC 1995 section 2: up to date) |
//! | IXFR over UDP, a diff in the journal that fits one datagram (TSIG and OPT included) | the diff |
//! | IXFR over UDP, otherwise | the single current SOA (RFC 1995 section 2: "use TCP") |
//! | AXFR over UDP | NOTIMP (RFC 5936 section 4.2 leaves AXFR over UDP undefined) |
//! | AXFR/IXFR over TCP beyond the per-core transfer limit | SERVFAIL (a transient condition: the secondary retries) |
//! | AXFR over TCP | the stored transfer |
//! | IXFR over TCP, a serial in the journal's history, the diff at most `[ixfr] max_ratio` times the AXFR | the condensed diff from that version to the current one, from the journal |
//! | IXFR over TCP, any other serial | the stored transfer, AXFR-style (RFC 1995 section 4) |
//! | any other type at a served apex (A, DNSKEY, TYPE666...) | REFUSED (xfrd answers SOA and transfers, not general queries; NOTIMP is for opcodes, RFC 8906 section 3.1.4 and compliance probes read it as broken) |
//!
//! EDNS (RFC 6891): a query with an OPT record gets one in every answer, errors included: our
//! UDP size ([`xfr_proto::wire::EDNS_UDP_PAYLOAD_BYTES`]), version 0, the DO bit copied (RFC
//! 3225 section 3), no other flags; unknown options and flags of the query are ignored, never
//! echoed. A FORMERR or NOTIMP to a message that does not walk cleanly carries none (RFC 6891
//! section 7). The answers of a served zone (the SOA, an IXFR over UDP, the first message of
//! AXFR and IXFR over TCP) carry the EDNS EXPIRE option when the query did (RFC 7314 section
//! 4): xfrd is the primary, so its value is the SOA's EXPIRE field. In a transfer only the first
//! message has the OPT (RFC 5936 section 2.2.5). The OPT goes before the TSIG record.
//!
//! A request whose TSIG verified gets every answer signed with its key (RFC 8945 section 5.3),
//! errors included; a transfer carries a [`ResponseSigner`] that signs each of its messages.
//! Over UDP a reply that does not fit the client's size (512 bytes, or its EDNS size), TSIG
//! included, becomes its header, question and OPT with TC set, signed (RFC 1035 section 4.2.1,
//! RFC 6891 sections 6.2.5 and 7, RFC 8945 section 5.3).

use std::net::IpAddr;
use std::sync::Arc;

use xfr_proto::query::{parse_query, Query};
use xfr_proto::response::{
    add_padding_option, padding_len, soa_expire_s, write_error_response, write_rcode_response,
    write_soa_answer, write_stored_answer, zone_answer_opt_bytes, ResponseOpt, OPT_BYTES,
};
use xfr_proto::tsig::{self, NameBuf, RequestRefusal, ResponseSigner, VerifiedRequest};
use xfr_proto::wire::{
    read_u16, CLASS_IN, EDNS_OPTION_HEADER_BYTES, FLAG_AA, FLAG_TC, HEADER_BYTES,
    MESSAGE_BYTES_MAX, OPCODE_NOTIFY, RCODE_BADVERS, RCODE_NOTAUTH, RCODE_NOTIMP, RCODE_REFUSED,
    RCODE_SERVFAIL, TYPE_AXFR, TYPE_IXFR, TYPE_SOA,
};

use crate::zones::{Zone, ZoneSet};

/// The transport a query came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    /// DNS over TLS (XoT): framed like TCP.
    Tls,
}

/// One query to answer, and what the answer depends on besides the zones.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The query, without TCP length prefix.
    pub msg: &'a [u8],
    pub transport: Transport,
    pub peer: IpAddr,
    /// The core's transfer slots are all taken.
    pub transfers_full: bool,
    /// Seconds since the Unix epoch: TSIG time checks and signatures.
    pub now_s: u64,
    /// The listener pads (XoT, `[[tls]] padding`): answers to a query with a Padding option
    /// are padded to a multiple of this many bytes (RFC 7830, RFC 8467 section 4.1); 0: never.
    pub pad_block: usize,
}

/// What a transfer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The zone's store: AXFR, and IXFR answered AXFR-style.
    Axfr,
    /// The journal's diff from `version` of the history to the current one.
    Ixfr { version: usize },
}

/// RFC 1982: `a` is `b` or later in serial number arithmetic (a serial exactly 2^31 away is
/// undefined; it counts as later here, so such a client gets the SOA and keeps what it has).
pub fn serial_at_least(a: u32, b: u32) -> bool {
    a.wrapping_sub(b) <= 1 << 31
}

/// A transfer to start.
#[derive(Debug, Clone)]
pub struct TransferStart {
    pub zone: Arc<Zone>,
    pub id: u16,
    pub flags: u16,
    /// The question is `msg[12..12 + question_len]`.
    pub question_len: usize,
    /// What is served, for the log line.
    pub served: &'static str,
    pub source: Source,
    /// Signs every message when the request was signed.
    pub signer: Option<ResponseSigner>,
    /// The OPT record of the first message, when the query had one (EXPIRE included when it
    /// asked): write it with [`ResponseOpt::write`] and give it to the cursor
    /// (`TransferCursor::with_opt`), which puts it after the first body, before any TSIG.
    pub opt: Option<ResponseOpt>,
    /// Every message is padded to a multiple of this many bytes (the query asked for padding
    /// on a listener that pads); 0: none. Give it, and `opt`, to `TransferCursor::with_padding`.
    pub pad_block: usize,
}

/// Why a request was refused, for the (rate-limited) log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No allow-transfer rule matched; the key the request was signed with, if any.
    Acl { key: Option<NameBuf> },
    /// Its TSIG did not verify: the reason (BADKEY, BADSIG...) and the key it named.
    Tsig { reason: &'static str, key: NameBuf },
}

// The transfer variant carries the response signer by value: it is moved once into the
// connection's transfer, and boxing it would cost an allocation per transfer.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Answer {
    /// Send nothing (TCP: close the connection).
    Drop,
    /// Send `out[..len]`.
    Reply {
        len: usize,
        /// The 12-bit RCODE (BADVERS is 16).
        rcode: u16,
        refusal: Option<Refusal>,
    },
    Transfer(TransferStart),
}

/// Bytes a reply may take over UDP: 512, or the client's EDNS size when larger (RFC 6891
/// section 6.2.5).
fn udp_limit(q: &Query<'_>) -> usize {
    q.edns
        .map_or(512, |e| (e.udp_payload_bytes as usize).max(512))
}

/// How a reply is finished: signed with the request's key, with a TSIG error, or not at all.
/// Lives on the stack for one reply; its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Signing<'r, 'k> {
    None,
    Signed(&'r mut ResponseSigner),
    /// BADTIME, BADTRUNC: signed, with the error in the TSIG record.
    SignedError(VerifiedRequest<'k>, u16),
    /// BADKEY, BADSIG: an unsigned TSIG record naming the request's key.
    UnsignedError(tsig::TsigRecord<'r>, u16),
}

/// Truncates the reply in `out[..len]` for UDP when it (with its TSIG) does not fit, pads it
/// when `pad_block` is set (its OPT gets a Padding option that brings the reply, TSIG included,
/// to a multiple of `pad_block` bytes, or as near as `out` has room for), then appends the TSIG
/// record. `opt_len`: bytes of the OPT record that ends the reply (0: none, and no padding),
/// kept when truncating. Returns the final length, or `None` when `out` is too small.
#[allow(clippy::too_many_arguments)]
fn finish(
    out: &mut [u8],
    mut len: usize,
    question_len: usize,
    opt_len: usize,
    limit: usize,
    pad_block: usize,
    signing: Signing<'_, '_>,
    now_s: u64,
) -> Option<usize> {
    let tsig_len = match &signing {
        Signing::None => 0,
        Signing::Signed(s) => s.rr_bytes(),
        Signing::SignedError(v, _) => v.key.rr_bytes() + 6,
        Signing::UnsignedError(rr, _) => {
            rr.key_name.as_wire().len() + rr.algorithm_name.as_wire().len() + 26
        }
    };
    if len + tsig_len > limit {
        // Header, question and OPT, TC set (RFC 6891 section 7: a truncated response keeps
        // its OPT).
        let keep = HEADER_BYTES + question_len;
        out[2] |= (FLAG_TC >> 8) as u8;
        out.copy_within(len - opt_len..len, keep);
        out[6..10].fill(0);
        out[10..12].copy_from_slice(&((opt_len > 0) as u16).to_be_bytes());
        len = keep + opt_len;
    }
    if pad_block > 0 && opt_len > 0 {
        let head = len + EDNS_OPTION_HEADER_BYTES;
        let room = out
            .len()
            .saturating_sub(head + tsig_len.max(tsig::RR_BYTES_MAX));
        if let Some(pad) = padding_len(head + tsig_len, pad_block) {
            let pad = pad.min(room);
            if head + pad + tsig_len <= limit {
                add_padding_option(out, len - opt_len, opt_len, pad);
                out[head..head + pad].fill(0);
                len = head + pad;
            }
        }
    }
    if out.len() < len + tsig::RR_BYTES_MAX {
        return (matches!(signing, Signing::None)).then_some(len);
    }
    let (msg, rest) = out.split_at_mut(len);
    let n = match signing {
        Signing::None => return Some(len),
        Signing::Signed(s) => s.sign(&[msg], now_s, rest),
        Signing::SignedError(v, error) => {
            ResponseSigner::new(&v).sign_error(&[msg], v.time_signed, error, now_s, rest)
        }
        Signing::UnsignedError(rr, error) => tsig::write_unsigned_error(rest, &rr, error, now_s),
    };
    let ar = read_u16(out, 10) + 1;
    out[10..12].copy_from_slice(&ar.to_be_bytes());
    Some(len + n)
}

/// Decides the answer to `req` and writes a small reply into `out` when that is the answer.
pub fn answer(zones: &ZoneSet, req: &Request<'_>, out: &mut [u8]) -> Answer {
    let msg = req.msg;
    let q = match parse_query(msg) {
        Ok(q) => q,
        Err(e) => {
            return match e.reply() {
                Some(r) => match write_error_response(out, msg, &r) {
                    Ok(len) => Answer::Reply {
                        len,
                        rcode: r.rcode.into(),
                        refusal: None,
                    },
                    Err(_) => Answer::Drop,
                },
                None => Answer::Drop,
            }
        }
    };
    let limit = match req.transport {
        Transport::Udp => udp_limit(&q),
        Transport::Tcp | Transport::Tls => MESSAGE_BYTES_MAX,
    };
    let qlen = q.question.len();
    // RFC 7830 section 4: a query with a Padding option gets a padded answer (on a listener
    // that pads); others none.
    let pad = match q.edns {
        Some(e) if e.padding => req.pad_block,
        _ => 0,
    };
    // Bytes of the OPT that ends an error reply, and a served zone's answer (EXPIRE).
    let rcode_opt = q.edns.map_or(0, |_| OPT_BYTES);
    let zone_opt = zone_answer_opt_bytes(q.edns.as_ref());

    // TSIG first (RFC 8945 section 5.2): a request that does not verify gets NOTAUTH and a
    // TSIG error, whatever it asked.
    let mut signer = None;
    if let Some(at) = q.tsig {
        let rr = tsig::parse_record(msg, at).expect("checked by parse_query");
        match tsig::verify_request(msg, &rr, |name| zones.keys().find(name), req.now_s) {
            Ok(v) => signer = Some(ResponseSigner::new(&v)),
            Err(refusal) => {
                let Ok(len) = write_rcode_response(
                    out,
                    q.id,
                    q.flags,
                    Some(q.question),
                    RCODE_NOTAUTH.into(),
                    q.edns.as_ref(),
                ) else {
                    return Answer::Drop;
                };
                let signing = match refusal {
                    // The MAC size against the algorithm's bounds: malformed (RFC 8945 section
                    // 5.2.2.1).
                    RequestRefusal::FormErr(_) => {
                        return match write_rcode_response(
                            out,
                            q.id,
                            q.flags,
                            Some(q.question),
                            xfr_proto::wire::RCODE_FORMERR.into(),
                            q.edns.as_ref(),
                        ) {
                            Ok(len) => Answer::Reply {
                                len,
                                rcode: xfr_proto::wire::RCODE_FORMERR.into(),
                                refusal: Some(Refusal::Tsig {
                                    reason: refusal.reason(),
                                    key: rr.key_name,
                                }),
                            },
                            Err(_) => Answer::Drop,
                        };
                    }
                    RequestRefusal::BadKey | RequestRefusal::BadSig => {
                        Signing::UnsignedError(rr, refusal.tsig_error().expect("a TSIG error"))
                    }
                    RequestRefusal::BadTime(v) | RequestRefusal::BadTrunc(v) => {
                        Signing::SignedError(v, refusal.tsig_error().expect("a TSIG error"))
                    }
                    _ => Signing::UnsignedError(rr, tsig::TSIG_ERROR_BADSIG),
                };
                return match finish(out, len, qlen, rcode_opt, limit, pad, signing, req.now_s) {
                    Some(len) => Answer::Reply {
                        len,
                        rcode: RCODE_NOTAUTH.into(),
                        refusal: Some(Refusal::Tsig {
                            reason: refusal.reason(),
                            key: rr.key_name,
                        }),
                    },
                    None => Answer::Drop,
                };
            }
        }
    }
    let key_name = signer.as_ref().map(|s: &ResponseSigner| s.key().name());
    let key_name = key_name.and_then(NameBuf::new);

    let tsig_bytes = signer.as_ref().map_or(0, ResponseSigner::rr_bytes);
    // `opt_len`: the OPT that ends the reply, `rcode_opt` or `zone_opt`.
    let mut reply = |out: &mut [u8], written: Result<usize, _>, rcode: u16, refusal, opt_len| {
        let Ok(len) = written else {
            return Answer::Drop;
        };
        let signing = match signer.as_mut() {
            Some(s) => Signing::Signed(s),
            None => Signing::None,
        };
        match finish(out, len, qlen, opt_len, limit, pad, signing, req.now_s) {
            Some(len) => Answer::Reply {
                len,
                rcode,
                refusal,
            },
            None => Answer::Drop,
        }
    };
    let rcode_reply = |out: &mut [u8], rcode: u16| {
        write_rcode_response(out, q.id, q.flags, Some(q.question), rcode, q.edns.as_ref())
    };

    // RFC 6891 section 6.1.3: a version not implemented gets BADVERS, whatever was asked.
    if q.edns.is_some_and(|e| e.version > 0) {
        let written = rcode_reply(out, RCODE_BADVERS);
        return reply(out, written, RCODE_BADVERS, None, rcode_opt);
    }

    let is_xfr = q.qtype == TYPE_AXFR || q.qtype == TYPE_IXFR;
    let zone = match zones.find(q.qname) {
        Some(z) if q.qclass == CLASS_IN => z,
        _ => {
            // A secondary zone we hold no current copy of (none transferred yet, or expired):
            // SERVFAIL, as RFC 1034 section 4.3.5 secondaries answer once their data expired.
            if q.qclass == CLASS_IN && zones.is_unserved(q.qname) {
                let written = rcode_reply(out, RCODE_SERVFAIL.into());
                return reply(out, written, RCODE_SERVFAIL.into(), None, rcode_opt);
            }
            // RFC 1996 section 3.10 and what knotd and NSD do: NOTAUTH for a NOTIFY of a zone
            // the server does not serve.
            let rcode = if is_xfr || q.opcode == OPCODE_NOTIFY {
                RCODE_NOTAUTH
            } else {
                RCODE_REFUSED
            };
            let written = rcode_reply(out, rcode.into());
            return reply(out, written, rcode.into(), None, rcode_opt);
        }
    };
    if q.opcode == OPCODE_NOTIFY {
        // We are this zone's primary: a NOTIFY tells us nothing, but the sender waits for the
        // response to stop retrying (RFC 1996 section 4.7).
        let written = rcode_reply(out, 0);
        if written.is_ok() {
            out[2] |= (FLAG_AA >> 8) as u8;
        }
        return reply(out, written, 0, None, rcode_opt);
    }
    let soa =
        |out: &mut [u8]| write_soa_answer(out, &q, zone.store.soa_ttl(), zone.store.soa_rdata());
    match q.qtype {
        TYPE_SOA => {
            let written = soa(out);
            reply(out, written, 0, None, zone_opt)
        }
        TYPE_AXFR | TYPE_IXFR => {
            if !zone.allow_transfer.allows_over(
                req.peer,
                key_name.as_ref().map(NameBuf::as_wire),
                req.transport == Transport::Tls,
            ) {
                let written = rcode_reply(out, RCODE_REFUSED.into());
                return reply(
                    out,
                    written,
                    RCODE_REFUSED.into(),
                    Some(Refusal::Acl { key: key_name }),
                    rcode_opt,
                );
            }
            // What an IXFR gets (RFC 1995): the single SOA when the client is up to date (or
            // ahead), the diff from its version when the journal has it and it is not larger
            // than max_ratio times the zone, else the whole zone AXFR-style.
            let mut ixfr_version = None;
            if q.qtype == TYPE_IXFR {
                let client = q.ixfr_serial.expect("parse_query requires the IXFR's SOA");
                if serial_at_least(client, zone.store.serial()) {
                    let written = soa(out);
                    return reply(out, written, 0, None, zone_opt);
                }
                ixfr_version = zone.ixfr_version(client, qlen);
                if req.transport == Transport::Udp {
                    // RFC 1995 section 2: the diff when it fits one datagram, else the SOA
                    // ("use TCP").
                    let journal = zone.journal.as_deref();
                    if let Some((j, v)) = journal.zip(ixfr_version) {
                        if j.message_count(v) == 1 {
                            let m = j.message(v, 0);
                            if HEADER_BYTES + qlen + m.body.len() + zone_opt + tsig_bytes <= limit {
                                let expire = soa_expire_s(zone.store.soa_rdata());
                                let written =
                                    write_stored_answer(out, &q, m.body, m.ancount, expire);
                                return reply(out, written, 0, None, zone_opt);
                            }
                        }
                    }
                    let written = soa(out);
                    return reply(out, written, 0, None, zone_opt);
                }
            }
            if req.transport == Transport::Udp {
                let written = rcode_reply(out, RCODE_NOTIMP.into());
                return reply(out, written, RCODE_NOTIMP.into(), None, rcode_opt);
            }
            if req.transfers_full {
                let written = rcode_reply(out, RCODE_SERVFAIL.into());
                return reply(out, written, RCODE_SERVFAIL.into(), None, rcode_opt);
            }
            assert_eq!(
                q.qname.len(),
                zone.origin.wire_len(),
                "apex match with another length"
            );
            let (source, served) = match (q.qtype, ixfr_version) {
                (TYPE_AXFR, _) => (Source::Axfr, "AXFR"),
                (_, Some(version)) => (Source::Ixfr { version }, "IXFR"),
                (_, None) => (Source::Axfr, "IXFR as AXFR"),
            };
            Answer::Transfer(TransferStart {
                zone: zone.clone(),
                id: q.id,
                flags: q.flags,
                question_len: qlen,
                served,
                source,
                signer,
                opt: q
                    .edns
                    .map(|e| ResponseOpt::zone_answer(&e, soa_expire_s(zone.store.soa_rdata()))),
                pad_block: pad,
            })
        }
        _ => {
            let written = rcode_reply(out, RCODE_REFUSED.into());
            reply(out, written, RCODE_REFUSED.into(), None, rcode_opt)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{Acl, Rule};
    use crate::keys::Keys;
    use crate::zones::Zone;
    use xfr_proto::tsig::{Algorithm, Key, ResponseVerifier, UnsignedRun};
    use xfr_proto::wire::{RCODE_FORMERR, RCODE_REFUSED};

    const NOW: u64 = 1_800_000_000;

    fn key() -> Key {
        Key::new(
            b"\x07xfr-key\x00",
            Algorithm::HmacSha256,
            b"0123456789abcdef",
        )
        .unwrap()
    }

    fn zones(acl: Acl) -> (tempfile::TempDir, ZoneSet) {
        let dir = tempfile::tempdir().unwrap();
        let origin = zone_store::Name::parse("example.com.", None).unwrap();
        let file = crate::config::example_zone();
        let out = dir.path().join("example.com.store");
        zone_store::compile::compile(&file, &origin, &out, &Default::default()).unwrap();
        let store = Arc::new(zone_store::store::Store::open(&out).unwrap());
        let zone = Arc::new(Zone {
            origin_text: origin.to_string().into(),
            origin,
            file,
            allow_transfer: acl,
            store,
            journal: None,
            ixfr_max_ratio: 1.0,
            notify: Vec::new(),
            notify_key: None,
            stats: Arc::new(crate::metrics::ZoneStats::new(1)),
        });
        let keys = Arc::new(Keys::from_keys(vec![key()]));
        (dir, ZoneSet::new(vec![zone], keys))
    }

    fn query(qtype: u16, class: u16, ixfr_serial: Option<u32>) -> Vec<u8> {
        let mut m = vec![
            0xAB,
            0xCD,
            0x01,
            0x00,
            0,
            1,
            0,
            0,
            0,
            ixfr_serial.is_some() as u8,
            0,
            0,
        ];
        m.extend_from_slice(b"\x07EXAMPLE\x03com\x00");
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&class.to_be_bytes());
        if let Some(serial) = ixfr_serial {
            m.extend_from_slice(&[0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 22, 0, 0]);
            m.extend_from_slice(&serial.to_be_bytes());
            m.extend_from_slice(&[0; 16]);
        }
        m
    }

    fn rcode_of(a: &Answer) -> Option<u16> {
        match a {
            Answer::Reply { rcode, .. } => Some(*rcode),
            _ => None,
        }
    }

    fn ask(
        set: &ZoneSet,
        q: &[u8],
        transport: Transport,
        peer: &str,
        full: bool,
    ) -> (Answer, Vec<u8>) {
        ask_with(set, q, transport, peer, full, 0)
    }

    /// [`ask`] on a listener padding to `pad_block` (0: none).
    fn ask_with(
        set: &ZoneSet,
        q: &[u8],
        transport: Transport,
        peer: &str,
        full: bool,
        pad_block: usize,
    ) -> (Answer, Vec<u8>) {
        let mut out = [0u8; 1408];
        let req = Request {
            msg: q,
            transport,
            peer: peer.parse().unwrap(),
            transfers_full: full,
            now_s: NOW,
            pad_block,
        };
        let a = answer(set, &req, &mut out);
        let bytes = match &a {
            Answer::Reply { len, .. } => out[..*len].to_vec(),
            _ => Vec::new(),
        };
        (a, bytes)
    }

    #[test]
    fn notify_is_answered_for_served_zones_only() {
        let (_d, set) = zones(Acl::loopback());
        let mut q = query(TYPE_SOA, CLASS_IN, None);
        q[2] = (q[2] & !0x78) | (OPCODE_NOTIFY << 3);
        q[2] |= 0x04; // AA, as a NOTIFY carries
        let (a, out) = ask(&set, &q, Transport::Udp, "192.0.2.9", false);
        assert_eq!(rcode_of(&a), Some(0));
        assert_eq!((out[2] >> 3) & 0x0F, OPCODE_NOTIFY, "opcode echoed");
        assert_ne!(out[2] & 0x80, 0, "QR");
        assert_ne!(out[2] & 0x04, 0, "AA");
        assert_eq!(read_u16(&out, 4), 1, "question echoed");
        assert_eq!(read_u16(&out, 6), 0, "no answer");

        let mut other = q.clone();
        other[13..20].copy_from_slice(b"EXAMPLF");
        let (a, _) = ask(&set, &other, Transport::Udp, "192.0.2.9", false);
        assert_eq!(rcode_of(&a), Some(RCODE_NOTAUTH.into()));
    }

    #[test]
    fn policy_table() {
        let (_dir, set) = zones(Acl::loopback());
        let r = |q: &[u8], t, peer, full| rcode_of(&ask(&set, q, t, peer, full).0);
        let axfr = query(TYPE_AXFR, CLASS_IN, None);
        let tcp = Transport::Tcp;
        let udp = Transport::Udp;

        assert!(matches!(
            ask(&set, &axfr, tcp, "127.0.0.1", false).0,
            Answer::Transfer(_)
        ));
        assert!(matches!(
            ask(&set, &axfr, tcp, "::ffff:127.0.0.1", false).0,
            Answer::Transfer(_)
        ));
        // ACL before quota: a refused client never sees SERVFAIL.
        assert_eq!(r(&axfr, tcp, "192.0.2.1", true), Some(RCODE_REFUSED.into()));
        assert_eq!(
            r(&axfr, tcp, "127.0.0.1", true),
            Some(RCODE_SERVFAIL.into())
        );
        assert_eq!(r(&axfr, udp, "127.0.0.1", false), Some(RCODE_NOTIMP.into()));
        // SOA to anyone; IXFR at the current serial or over UDP: the SOA alone.
        assert_eq!(
            r(&query(TYPE_SOA, CLASS_IN, None), udp, "192.0.2.1", false),
            Some(0)
        );
        assert_eq!(
            r(
                &query(TYPE_IXFR, CLASS_IN, Some(1)),
                udp,
                "127.0.0.1",
                false
            ),
            Some(0)
        );
        assert_eq!(
            r(
                &query(TYPE_IXFR, CLASS_IN, Some(2026112301)),
                tcp,
                "127.0.0.1",
                false
            ),
            Some(0)
        );
        match ask(
            &set,
            &query(TYPE_IXFR, CLASS_IN, Some(1)),
            tcp,
            "127.0.0.1",
            false,
        )
        .0
        {
            Answer::Transfer(t) => {
                assert_eq!(t.served, "IXFR as AXFR");
                assert!(t.signer.is_none());
            }
            other => panic!("{other:?}"),
        }
        // Another class is not a served zone; other types are refused.
        assert_eq!(
            r(&query(TYPE_AXFR, 3, None), tcp, "127.0.0.1", false),
            Some(RCODE_NOTAUTH.into())
        );
        assert_eq!(
            r(&query(TYPE_SOA, 3, None), udp, "127.0.0.1", false),
            Some(RCODE_REFUSED.into())
        );
        for qtype in [1, 48, 666] {
            for t in [udp, tcp] {
                assert_eq!(
                    r(&query(qtype, CLASS_IN, None), t, "127.0.0.1", false),
                    Some(RCODE_REFUSED.into()),
                    "type {qtype} over {t:?}"
                );
            }
        }
        // Malformed: FORMERR; a response: nothing.
        assert_eq!(
            r(&query(TYPE_IXFR, CLASS_IN, None), tcp, "127.0.0.1", false),
            Some(RCODE_FORMERR.into())
        );
        let mut response = query(TYPE_SOA, CLASS_IN, None);
        response[2] |= 0x80;
        assert!(matches!(
            ask(&set, &response, udp, "127.0.0.1", false).0,
            Answer::Drop
        ));
    }

    fn signed(mut q: Vec<u8>, k: &Key, time: u64) -> (Vec<u8>, tsig::MacBuf) {
        let mac = tsig::sign_request(k, &mut q, time);
        (q, mac)
    }

    /// The TSIG record of an answer.
    fn tsig_of(reply: &[u8]) -> Option<(u16, usize)> {
        tsig::find_record(reply)
            .unwrap()
            .map(|rr| (rr.error, rr.mac.len()))
    }

    #[test]
    fn signed_requests_get_signed_answers_and_keyed_rules_apply() {
        let acl = Acl::from_rules(vec![Rule {
            prefix: "127.0.0.0/8".parse().unwrap(),
            key: Some(key().name().into()),
            transport: crate::acl::RuleTransport::Plain,
        }]);
        let (_dir, set) = zones(acl);
        let k = key();

        // Unsigned: refused by the keyed rule.
        let axfr = query(TYPE_AXFR, CLASS_IN, None);
        let (a, _) = ask(&set, &axfr, Transport::Tcp, "127.0.0.1", false);
        assert_eq!(rcode_of(&a), Some(RCODE_REFUSED.into()));
        assert!(matches!(
            a,
            Answer::Reply {
                refusal: Some(Refusal::Acl { key: None }),
                ..
            }
        ));

        // Signed with the key: a transfer with a signer.
        let (q, _) = signed(axfr.clone(), &k, NOW);
        match ask(&set, &q, Transport::Tcp, "127.0.0.1", false).0 {
            Answer::Transfer(t) => assert_eq!(t.signer.unwrap().key().name(), k.name()),
            other => panic!("{other:?}"),
        }
        // Signed, from an address no rule has: REFUSED, signed.
        let (a, reply) = ask(&set, &q, Transport::Tcp, "192.0.2.1", false);
        assert_eq!(rcode_of(&a), Some(RCODE_REFUSED.into()));
        let (_, mac) = signed(axfr.clone(), &k, NOW);
        let mut v = ResponseVerifier::new(&k, mac, UnsignedRun::None);
        v.verify(&reply, NOW).unwrap();

        // A signed SOA query over UDP: the answer verifies.
        let (q, mac) = signed(query(TYPE_SOA, CLASS_IN, None), &k, NOW);
        let (a, reply) = ask(&set, &q, Transport::Udp, "192.0.2.1", false);
        assert_eq!(rcode_of(&a), Some(0));
        let mut v = ResponseVerifier::new(&k, mac, UnsignedRun::None);
        v.verify(&reply, NOW).unwrap();
        assert_eq!(read_u16(&reply, 6), 1, "the SOA");
    }

    #[test]
    fn tsig_failures_get_notauth_with_the_rfc_error() {
        let (_dir, set) = zones(Acl::loopback());
        let k = key();
        let axfr = query(TYPE_AXFR, CLASS_IN, None);

        // Unknown key: BADKEY, unsigned.
        let other = Key::new(b"\x05other\x00", Algorithm::HmacSha256, b"x").unwrap();
        let (q, _) = signed(axfr.clone(), &other, NOW);
        let (a, reply) = ask(&set, &q, Transport::Tcp, "127.0.0.1", false);
        assert_eq!(rcode_of(&a), Some(RCODE_NOTAUTH.into()));
        assert_eq!(tsig_of(&reply), Some((tsig::TSIG_ERROR_BADKEY, 0)));
        assert_eq!(read_u16(&reply, 6), 0, "nothing of the zone");
        // Wrong secret: BADSIG, unsigned.
        let wrong = Key::new(k.name(), Algorithm::HmacSha256, b"wrong").unwrap();
        let (q, _) = signed(axfr.clone(), &wrong, NOW);
        let (a, reply) = ask(&set, &q, Transport::Tcp, "127.0.0.1", false);
        assert_eq!(rcode_of(&a), Some(RCODE_NOTAUTH.into()));
        assert_eq!(tsig_of(&reply), Some((tsig::TSIG_ERROR_BADSIG, 0)));
        // Stale: BADTIME, signed, verifiable by the client.
        let (q, mac) = signed(axfr.clone(), &k, NOW - 3600);
        let (a, reply) = ask(&set, &q, Transport::Tcp, "127.0.0.1", false);
        assert_eq!(rcode_of(&a), Some(RCODE_NOTAUTH.into()));
        let rr = tsig::find_record(&reply).unwrap().unwrap();
        assert_eq!(
            (rr.error, rr.mac.len(), rr.time_signed),
            (tsig::TSIG_ERROR_BADTIME, 32, NOW - 3600)
        );
        assert_eq!(rr.other.len(), 6);
        let mut v = ResponseVerifier::new(&k, mac, UnsignedRun::None);
        assert_eq!(
            v.verify(&reply, NOW - 3600),
            Err(tsig::ResponseError::ServerError(tsig::TSIG_ERROR_BADTIME))
        );
        // Garbled record: FORMERR.
        let (mut q, _) = signed(axfr, &k, NOW);
        let n = q.len();
        q[n - 2] = 0x40; // other length runs past the record
        let (a, _) = ask(&set, &q, Transport::Tcp, "127.0.0.1", false);
        assert_eq!(rcode_of(&a), Some(RCODE_FORMERR.into()));
    }

    #[test]
    fn replies_that_do_not_fit_are_truncated_then_signed() {
        let (_dir, set) = zones(Acl::loopback());
        let k = key();
        let (q, mac) = signed(query(TYPE_SOA, CLASS_IN, None), &k, NOW);
        let mut out = [0u8; 1024];
        let req = Request {
            msg: &q,
            transport: Transport::Tcp,
            peer: "127.0.0.1".parse().unwrap(),
            transfers_full: false,
            now_s: NOW,
            pad_block: 0,
        };
        let Answer::Reply { len: full, .. } = answer(&set, &req, &mut out) else {
            panic!("a reply")
        };
        // The same reply, unsigned, finished for a client that takes 40 bytes fewer.
        let pq = parse_query(&q).unwrap();
        let mut out = [0u8; 1024];
        let len = write_soa_answer(&mut out, &pq, 3600, set.zones()[0].store.soa_rdata()).unwrap();
        let v = tsig::verify_request(
            &q,
            &tsig::parse_record(&q, pq.tsig.unwrap()).unwrap(),
            |n| set.keys().find(n),
            NOW,
        )
        .unwrap();
        let mut signer = ResponseSigner::new(&v);
        let n = finish(
            &mut out,
            len,
            pq.question.len(),
            0,
            full - 40,
            0,
            Signing::Signed(&mut signer),
            NOW,
        )
        .unwrap();
        let reply = &out[..n];
        assert!(n <= full - 40, "{n}");
        assert_ne!(read_u16(reply, 2) & FLAG_TC, 0, "TC");
        assert_eq!(read_u16(reply, 6), 0);
        let mut v = ResponseVerifier::new(&k, mac, UnsignedRun::None);
        v.verify(reply, NOW).unwrap();
    }

    /// `q` with an OPT record appended: `ttl` (extended RCODE, version, flags), `rdata`.
    fn with_opt(mut q: Vec<u8>, ttl: u32, rdata: &[u8]) -> Vec<u8> {
        let ar = read_u16(&q, 10) + 1;
        q[10..12].copy_from_slice(&ar.to_be_bytes());
        q.extend_from_slice(&[0, 0, 41, 0x10, 0]);
        q.extend_from_slice(&ttl.to_be_bytes());
        q.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        q.extend_from_slice(rdata);
        q
    }

    /// The example zone's SOA EXPIRE: 2w.
    const EXPIRE_S: u32 = 14 * 86400;
    /// EXPIRE asked for, an unknown option (100) to be ignored.
    const EXPIRE_AND_UNKNOWN: &[u8] = &[0, 100, 0, 2, 0xAB, 0xCD, 0, 9, 0, 0];

    #[test]
    fn opt_echo_do_and_expire_on_zone_answers_only() {
        let (_dir, set) = zones(Acl::loopback());
        // DO and an unknown flag (0x4000): DO copied, the other dropped; EXPIRE answered.
        let q = with_opt(query(TYPE_SOA, CLASS_IN, None), 0xC000, EXPIRE_AND_UNKNOWN);
        for t in [Transport::Udp, Transport::Tcp] {
            let (a, out) = ask(&set, &q, t, "192.0.2.1", false);
            assert_eq!(rcode_of(&a), Some(0));
            assert_eq!(read_u16(&out, 10), 1, "ARCOUNT: the OPT");
            let opt = &out[out.len() - 19..];
            let mut want = vec![0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 8, 0, 9, 0, 4];
            want.extend_from_slice(&EXPIRE_S.to_be_bytes());
            assert_eq!(opt, &want[..], "{t:?}");
        }
        // Without the option: a bare OPT.
        let q = with_opt(query(TYPE_SOA, CLASS_IN, None), 0, &[]);
        let (_, out) = ask(&set, &q, Transport::Udp, "192.0.2.1", false);
        assert_eq!(
            &out[out.len() - 11..],
            &[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]
        );
        // A refusal is not a zone's answer: an OPT, no EXPIRE.
        let q = with_opt(query(666, CLASS_IN, None), 0x8000, EXPIRE_AND_UNKNOWN);
        let (a, out) = ask(&set, &q, Transport::Tcp, "127.0.0.1", false);
        assert_eq!(rcode_of(&a), Some(RCODE_REFUSED.into()));
        assert_eq!(
            &out[out.len() - 11..],
            &[0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]
        );
        // A transfer carries the OPT for its first message, EXPIRE included when asked.
        let axfr = with_opt(query(TYPE_AXFR, CLASS_IN, None), 0, EXPIRE_AND_UNKNOWN);
        match ask(&set, &axfr, Transport::Tcp, "127.0.0.1", false).0 {
            Answer::Transfer(t) => assert_eq!(
                t.opt,
                Some(ResponseOpt {
                    rcode_high: 0,
                    dnssec_ok: false,
                    expire_s: Some(EXPIRE_S)
                })
            ),
            other => panic!("{other:?}"),
        }
        match ask(
            &set,
            &query(TYPE_AXFR, CLASS_IN, None),
            Transport::Tcp,
            "127.0.0.1",
            false,
        )
        .0
        {
            Answer::Transfer(t) => assert_eq!(t.opt, None),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_secondary_zone_without_a_copy_gets_servfail() {
        let keys = Arc::new(Keys::from_keys(vec![key()]));
        let set =
            ZoneSet::new(Vec::new(), keys).with_unserved([b"\x07example\x03com\x00"[..].into()]);
        for qtype in [TYPE_SOA, TYPE_AXFR, TYPE_IXFR] {
            for t in [Transport::Udp, Transport::Tcp, Transport::Tls] {
                let q = query(qtype, CLASS_IN, (qtype == TYPE_IXFR).then_some(1));
                let (a, out) = ask(&set, &q, t, "127.0.0.1", false);
                assert_eq!(rcode_of(&a), Some(RCODE_SERVFAIL.into()), "{qtype} {t:?}");
                assert_eq!(read_u16(&out, 0), 0xABCD);
            }
        }
        // Another zone, or another class: not ours, as before.
        let (a, _) = ask(
            &set,
            &query(TYPE_SOA, 3, None),
            Transport::Udp,
            "127.0.0.1",
            false,
        );
        assert_eq!(rcode_of(&a), Some(RCODE_REFUSED.into()));
        let empty = ZoneSet::new(Vec::new(), Arc::new(Keys::from_keys(vec![key()])));
        let (a, _) = ask(
            &empty,
            &query(TYPE_SOA, CLASS_IN, None),
            Transport::Udp,
            "127.0.0.1",
            false,
        );
        assert_eq!(rcode_of(&a), Some(RCODE_REFUSED.into()));
    }

    /// Asks over TLS on a listener padding to `block`.
    fn ask_padded(set: &ZoneSet, q: &[u8], block: usize) -> (Answer, Vec<u8>) {
        ask_with(set, q, Transport::Tls, "127.0.0.1", false, block)
    }

    #[test]
    fn padding_asked_for_on_a_padding_listener_pads_to_the_block() {
        let (_dir, set) = zones(Acl::loopback());
        // A Padding option (12) in the query, beside EXPIRE.
        let padded = with_opt(
            query(TYPE_SOA, CLASS_IN, None),
            0,
            &[0, 12, 0, 0, 0, 9, 0, 0],
        );
        for block in [468, 128, 1] {
            let (a, out) = ask_padded(&set, &padded, block);
            assert_eq!(rcode_of(&a), Some(0));
            assert_eq!(out.len() % block, 0, "{} bytes, block {block}", out.len());
            assert_eq!(read_u16(&out, 10), 1, "ARCOUNT: the OPT");
            // The OPT: EXPIRE, then Padding of zeros ending the message.
            let unpadded = ask(&set, &padded, Transport::Tcp, "127.0.0.1", false).1;
            let opt_at = unpadded.len() - 19;
            assert_eq!(&out[..opt_at], &unpadded[..opt_at]);
            let rdlen = read_u16(&out, opt_at + 9) as usize;
            assert_eq!(opt_at + 11 + rdlen, out.len());
            assert_eq!(read_u16(&out, opt_at + 19), 12, "Padding after EXPIRE");
            assert_eq!(
                read_u16(&out, opt_at + 21) as usize,
                out.len() - opt_at - 23
            );
            assert!(out[opt_at + 23..].iter().all(|&b| b == 0));
        }
        // Errors too.
        let refused = with_opt(query(666, CLASS_IN, None), 0, &[0, 12, 0, 0]);
        let (a, out) = ask_padded(&set, &refused, 468);
        assert_eq!(rcode_of(&a), Some(RCODE_REFUSED.into()));
        assert_eq!(out.len(), 468);
        // Not asked for, or a listener that does not pad: no padding.
        let plain = with_opt(query(TYPE_SOA, CLASS_IN, None), 0, &[]);
        assert_eq!(
            ask_padded(&set, &plain, 468).1,
            ask(&set, &plain, Transport::Tcp, "127.0.0.1", false).1
        );
        let (_, out) = ask_padded(&set, &padded, 0);
        assert!(out.len() < 468);
        // Signed: the TSIG counted in the block, the MAC over the padded reply.
        let k = key();
        let (q, mac) = signed(padded.clone(), &k, NOW);
        let (_, out) = ask_padded(&set, &q, 468);
        assert_eq!(out.len(), 468);
        assert_eq!(read_u16(&out, 10), 2, "OPT and TSIG");
        let mut v = ResponseVerifier::new(&k, mac, UnsignedRun::None);
        v.verify(&out, NOW).unwrap();
        // A transfer learns its block.
        let axfr = with_opt(query(TYPE_AXFR, CLASS_IN, None), 0, &[0, 12, 0, 0]);
        match ask_padded(&set, &axfr, 468).0 {
            Answer::Transfer(t) => assert_eq!((t.pad_block, t.opt.is_some()), (468, true)),
            other => panic!("{other:?}"),
        }
        let axfr = with_opt(query(TYPE_AXFR, CLASS_IN, None), 0, &[]);
        match ask_padded(&set, &axfr, 468).0 {
            Answer::Transfer(t) => assert_eq!(t.pad_block, 0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn edns_version_above_zero_is_badvers_signed_when_verified() {
        let (_dir, set) = zones(Acl::loopback());
        let k = key();
        for qtype in [TYPE_SOA, TYPE_AXFR, 1] {
            let q = with_opt(
                query(qtype, CLASS_IN, None),
                0x0001_8000,
                EXPIRE_AND_UNKNOWN,
            );
            for t in [Transport::Udp, Transport::Tcp] {
                let (a, out) = ask(&set, &q, t, "127.0.0.1", false);
                assert_eq!(rcode_of(&a), Some(RCODE_BADVERS), "{qtype} {t:?}");
                assert_eq!(read_u16(&out, 2) & 0xF, 0, "header RCODE");
                assert_eq!(&out[4..12], &[0, 1, 0, 0, 0, 0, 0, 1]);
                assert_eq!(
                    &out[out.len() - 11..],
                    &[0, 0, 41, 0x04, 0xD0, 1, 0, 0x80, 0, 0, 0],
                    "extended RCODE 1, version 0, DO"
                );
            }
        }
        // Signed: BADVERS, signed, the OPT before the TSIG.
        let (q, mac) = signed(
            with_opt(query(TYPE_SOA, CLASS_IN, None), 0x0001_0000, &[]),
            &k,
            NOW,
        );
        let (a, reply) = ask(&set, &q, Transport::Udp, "127.0.0.1", false);
        assert_eq!(rcode_of(&a), Some(RCODE_BADVERS));
        assert_eq!(read_u16(&reply, 10), 2, "OPT and TSIG");
        let mut v = ResponseVerifier::new(&k, mac, UnsignedRun::None);
        v.verify(&reply, NOW).unwrap();
        let opt_at = 12 + query(TYPE_SOA, CLASS_IN, None).len() - 12;
        assert_eq!(read_u16(&reply, opt_at + 1), 41, "OPT first");
        assert_eq!(reply[opt_at + 5], 1, "extended RCODE");
    }

    #[test]
    fn opcodes_and_counts_before_anything_else() {
        let (_dir, set) = zones(Acl::loopback());
        // Opcode 15 with QDCOUNT 0 and an OPT: NOTIMP, the OPT echoed.
        let mut q = with_opt(query(TYPE_SOA, CLASS_IN, None)[..12].to_vec(), 0x8000, &[]);
        q[2] = 15 << 3;
        q[5] = 0;
        for t in [Transport::Udp, Transport::Tcp] {
            let (a, out) = ask(&set, &q, t, "127.0.0.1", false);
            assert_eq!(rcode_of(&a), Some(RCODE_NOTIMP.into()));
            assert_eq!(&out[4..12], &[0, 0, 0, 0, 0, 0, 0, 1]);
            assert_eq!(out[2] >> 3 & 0xF, 15, "opcode echoed");
        }
        // QDCOUNT 0 with a QUERY opcode: FORMERR, with the OPT.
        q[2] = 0x01;
        let (a, out) = ask(&set, &q, Transport::Udp, "127.0.0.1", false);
        assert_eq!(rcode_of(&a), Some(RCODE_FORMERR.into()));
        assert_eq!(read_u16(&out, 10), 1);
    }

    #[test]
    fn truncation_keeps_the_opt() {
        let (_dir, set) = zones(Acl::loopback());
        let k = key();
        let (q, mac) = signed(
            with_opt(query(TYPE_SOA, CLASS_IN, None), 0x8000, &[0, 9, 0, 0]),
            &k,
            NOW,
        );
        let pq = parse_query(&q).unwrap();
        let mut out = [0u8; 1024];
        let len = write_soa_answer(&mut out, &pq, 3600, set.zones()[0].store.soa_rdata()).unwrap();
        let v = tsig::verify_request(
            &q,
            &tsig::parse_record(&q, pq.tsig.unwrap()).unwrap(),
            |n| set.keys().find(n),
            NOW,
        )
        .unwrap();
        let mut signer = ResponseSigner::new(&v);
        let n = finish(
            &mut out,
            len,
            pq.question.len(),
            19,
            len,
            0,
            Signing::Signed(&mut signer),
            NOW,
        )
        .unwrap();
        let reply = &out[..n];
        assert_ne!(read_u16(reply, 2) & FLAG_TC, 0, "TC");
        assert_eq!(
            &reply[4..12],
            &[0, 1, 0, 0, 0, 0, 0, 2],
            "question, OPT, TSIG"
        );
        let opt_at = 12 + pq.question.len();
        assert_eq!(read_u16(reply, opt_at + 1), 41);
        assert_eq!(&reply[opt_at + 15..opt_at + 19], &EXPIRE_S.to_be_bytes());
        let mut v = ResponseVerifier::new(&k, mac, UnsignedRun::None);
        v.verify(reply, NOW).unwrap();
    }
}
