//! What to answer to one query: the policy of the server, shared by UDP and TCP.
//!
//! | query | answer |
//! |---|---|
//! | malformed (but with a header) | FORMERR, the question echoed when it parsed |
//! | a response (QR=1), or shorter than a header | nothing (UDP) / connection closed (TCP) |
//! | opcode other than QUERY | NOTIMP |
//! | QNAME not the apex of a served zone, or class not IN | AXFR/IXFR: NOTAUTH (RFC 5936 section 2.2.1 names NotAuth for a zone the server is not authoritative for); other types: REFUSED (RFC 8906 section 3.1.4) |
//! | SOA at a served apex | the SOA, authoritative (UDP and TCP; no ACL: the SOA is public) |
//! | AXFR/IXFR from an address outside the zone's allow-transfer list | REFUSED, checked before any quota |
//! | IXFR whose serial is the current one | the single current SOA (RFC 1995 section 2: up to date) |
//! | IXFR over UDP | the single current SOA (RFC 1995 section 2: "use TCP") |
//! | AXFR over UDP | NOTIMP (RFC 5936 section 4.2 leaves AXFR over UDP undefined) |
//! | AXFR/IXFR over TCP beyond the per-core transfer limit | SERVFAIL (a transient condition: the secondary retries) |
//! | AXFR over TCP | the stored transfer |
//! | IXFR over TCP, other serial | the stored transfer, AXFR-style (RFC 1995 section 4: no journal yet) |
//! | any other type at a served apex | NOTIMP (xfrd answers SOA and transfers, not general queries) |

use std::net::IpAddr;
use std::sync::Arc;

use xfr_proto::query::parse_query;
use xfr_proto::response::{write_error_response, write_rcode_response, write_soa_answer};
use xfr_proto::wire::{
    CLASS_IN, RCODE_NOTAUTH, RCODE_NOTIMP, RCODE_REFUSED, RCODE_SERVFAIL, TYPE_AXFR, TYPE_IXFR,
    TYPE_SOA,
};

use crate::zones::{Zone, ZoneSet};

/// The transport a query came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
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
}

#[derive(Debug)]
pub enum Answer {
    /// Send nothing (TCP: close the connection).
    Drop,
    /// Send `out[..len]`.
    Reply {
        len: usize,
        rcode: u8,
    },
    Transfer(TransferStart),
}

/// Decides the answer to `msg` and writes a small reply into `out` when that is the answer.
pub fn answer(
    zones: &ZoneSet,
    msg: &[u8],
    out: &mut [u8],
    transport: Transport,
    peer: IpAddr,
    transfers_full: bool,
) -> Answer {
    let q = match parse_query(msg) {
        Ok(q) => q,
        Err(e) => {
            return match e.reply() {
                Some(r) => match write_error_response(out, msg, &r, false) {
                    Ok(len) => Answer::Reply {
                        len,
                        rcode: r.rcode,
                    },
                    Err(_) => Answer::Drop,
                },
                None => Answer::Drop,
            }
        }
    };
    let rcode = |out: &mut [u8], rcode: u8| match write_rcode_response(
        out,
        q.id,
        q.flags,
        Some(q.question),
        rcode,
        q.edns.is_some(),
    ) {
        Ok(len) => Answer::Reply { len, rcode },
        Err(_) => Answer::Drop,
    };
    let is_xfr = q.qtype == TYPE_AXFR || q.qtype == TYPE_IXFR;
    let zone = match zones.find(q.qname) {
        Some(z) if q.qclass == CLASS_IN => z,
        _ => return rcode(out, if is_xfr { RCODE_NOTAUTH } else { RCODE_REFUSED }),
    };
    let soa = |out: &mut [u8]| match write_soa_answer(
        out,
        &q,
        zone.store.soa_ttl(),
        zone.store.soa_rdata(),
    ) {
        Ok(len) => Answer::Reply { len, rcode: 0 },
        Err(_) => Answer::Drop,
    };
    match q.qtype {
        TYPE_SOA => soa(out),
        TYPE_AXFR | TYPE_IXFR => {
            if !zone.allow_transfer.allows(peer) {
                return rcode(out, RCODE_REFUSED);
            }
            if q.qtype == TYPE_IXFR
                && (transport == Transport::Udp || q.ixfr_serial == Some(zone.store.serial()))
            {
                return soa(out);
            }
            if transport == Transport::Udp {
                return rcode(out, RCODE_NOTIMP);
            }
            if transfers_full {
                return rcode(out, RCODE_SERVFAIL);
            }
            assert_eq!(
                q.qname.len(),
                zone.origin.wire_len(),
                "apex match with another length"
            );
            Answer::Transfer(TransferStart {
                zone: zone.clone(),
                id: q.id,
                flags: q.flags,
                question_len: q.question.len(),
                served: if q.qtype == TYPE_AXFR {
                    "AXFR"
                } else {
                    "IXFR as AXFR"
                },
            })
        }
        _ => rcode(out, RCODE_NOTIMP),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::Acl;
    use crate::zones::Zone;
    use xfr_proto::wire::{RCODE_FORMERR, RCODE_REFUSED};

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
        });
        (dir, ZoneSet::new(vec![zone]))
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

    fn rcode_of(a: &Answer) -> Option<u8> {
        match a {
            Answer::Reply { rcode, .. } => Some(*rcode),
            _ => None,
        }
    }

    #[test]
    fn policy_table() {
        let (_dir, set) = zones(Acl::loopback());
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let far: IpAddr = "192.0.2.1".parse().unwrap();
        let mut out = [0u8; 1024];
        let mut ask = |q: &[u8], t: Transport, peer: IpAddr, full: bool| {
            answer(&set, q, &mut out, t, peer, full)
        };

        assert!(matches!(
            ask(&query(TYPE_AXFR, CLASS_IN, None), Transport::Tcp, lo, false),
            Answer::Transfer(_)
        ));
        assert!(matches!(
            ask(
                &query(TYPE_AXFR, CLASS_IN, None),
                Transport::Tcp,
                mapped,
                false
            ),
            Answer::Transfer(_)
        ));
        // ACL before quota: a refused client never sees SERVFAIL.
        assert_eq!(
            rcode_of(&ask(
                &query(TYPE_AXFR, CLASS_IN, None),
                Transport::Tcp,
                far,
                true
            )),
            Some(RCODE_REFUSED)
        );
        assert_eq!(
            rcode_of(&ask(
                &query(TYPE_AXFR, CLASS_IN, None),
                Transport::Tcp,
                lo,
                true
            )),
            Some(RCODE_SERVFAIL)
        );
        assert_eq!(
            rcode_of(&ask(
                &query(TYPE_AXFR, CLASS_IN, None),
                Transport::Udp,
                lo,
                false
            )),
            Some(RCODE_NOTIMP)
        );
        // SOA to anyone; IXFR at the current serial or over UDP: the SOA alone.
        assert_eq!(
            rcode_of(&ask(
                &query(TYPE_SOA, CLASS_IN, None),
                Transport::Udp,
                far,
                false
            )),
            Some(0)
        );
        assert_eq!(
            rcode_of(&ask(
                &query(TYPE_IXFR, CLASS_IN, Some(1)),
                Transport::Udp,
                lo,
                false
            )),
            Some(0)
        );
        assert_eq!(
            rcode_of(&ask(
                &query(TYPE_IXFR, CLASS_IN, Some(2026112301)),
                Transport::Tcp,
                lo,
                false
            )),
            Some(0)
        );
        match ask(
            &query(TYPE_IXFR, CLASS_IN, Some(1)),
            Transport::Tcp,
            lo,
            false,
        ) {
            Answer::Transfer(t) => assert_eq!(t.served, "IXFR as AXFR"),
            other => panic!("{other:?}"),
        }
        // Another class is not a served zone; other types are not implemented.
        assert_eq!(
            rcode_of(&ask(&query(TYPE_AXFR, 3, None), Transport::Tcp, lo, false)),
            Some(RCODE_NOTAUTH)
        );
        assert_eq!(
            rcode_of(&ask(&query(TYPE_SOA, 3, None), Transport::Udp, lo, false)),
            Some(RCODE_REFUSED)
        );
        assert_eq!(
            rcode_of(&ask(&query(1, CLASS_IN, None), Transport::Udp, lo, false)),
            Some(RCODE_NOTIMP)
        );
        // Malformed: FORMERR; a response: nothing.
        assert_eq!(
            rcode_of(&ask(
                &query(TYPE_IXFR, CLASS_IN, None),
                Transport::Tcp,
                lo,
                false
            )),
            Some(RCODE_FORMERR)
        );
        let mut response = query(TYPE_SOA, CLASS_IN, None);
        response[2] |= 0x80;
        assert!(matches!(
            ask(&response, Transport::Udp, lo, false),
            Answer::Drop
        ));
    }
}
