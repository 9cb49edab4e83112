//! NOTIFY out (RFC 1996), sans-IO: which NOTIFY to send to whom and when, and what a response
//! means. The caller owns the sockets and the clock: it feeds [`Notifier::notify`] on every new
//! serial, sends what [`Notifier::poll`] hands out, passes responses to
//! [`Notifier::on_response`], and sleeps until [`Poll::Wait`]'s deadline.
//!
//! Policy (RFC 1996 sections 3.6 and 4.7, and what knotd, NSD and named do):
//! - one NOTIFY per (zone, target), retransmitted with the same ID and bytes until a matching
//!   response arrives: from the target's address and port, QR set, opcode NOTIFY, the same ID
//!   and question, and, when the NOTIFY was signed, a TSIG that verifies; at most
//!   [`NotifyPolicy::attempts`] sends, [`NotifyPolicy::retry_interval_ms`] apart, then it fails;
//! - a newer serial for the same zone and target replaces the pending NOTIFY (a new ID, attempts
//!   from zero): the secondary only needs to hear of the latest version;
//! - sends are paced by a token bucket of [`NotifyPolicy::max_per_second`] for all zones
//!   together, so a reload of many zones does not burst at the secondaries;
//! - a response with an RCODE other than NOERROR still ends the retries (the target heard us and
//!   said no: retrying cannot change its mind) and is reported as such.
//!
//! Bounds: one pending entry per (zone, target), so memory is bounded by the configuration; a
//! flood of forged responses costs one comparison each and changes nothing unless it matches.

use std::net::SocketAddr;

use crate::tsig::{self, Key, MacBuf, ResponseVerifier, UnsignedRun};
use crate::wire::{
    read_u16, CLASS_IN, FLAG_AA, FLAG_QR, HEADER_BYTES, OPCODE_MASK, OPCODE_NOTIFY, OPCODE_SHIFT,
    TYPE_SOA,
};

/// How NOTIFYs are retried and paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyPolicy {
    /// Sends per NOTIFY before it is given up, the first included.
    pub attempts: u32,
    pub retry_interval_ms: u64,
    /// NOTIFYs sent per second, all zones and targets together (the bucket holds as many).
    pub max_per_second: u32,
}

/// knotd's and NSD's defaults are within a few of these: 5 sends, 3 s apart, 20 per second.
impl Default for NotifyPolicy {
    fn default() -> Self {
        NotifyPolicy {
            attempts: 5,
            retry_interval_ms: 3000,
            max_per_second: 20,
        }
    }
}

/// What happened to a NOTIFY; the caller logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A matching response arrived (RCODE 0: the target took it).
    Answered {
        zone: Box<[u8]>,
        target: SocketAddr,
        serial: u32,
        rcode: u8,
        attempts: u32,
    },
    /// Every attempt went unanswered.
    Failed {
        zone: Box<[u8]>,
        target: SocketAddr,
        serial: u32,
        attempts: u32,
    },
    /// A response with the right ID and source whose TSIG did not verify (or that was not a
    /// NOTIFY response for the zone): ignored, the NOTIFY stays pending.
    BadResponse {
        zone: Box<[u8]>,
        target: SocketAddr,
        reason: &'static str,
    },
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Send the datagram now in the `out` buffer given to [`Notifier::poll`] to `target`.
    Transmit {
        target: SocketAddr,
        zone: Box<[u8]>,
        serial: u32,
        /// 1 for the first send.
        attempt: u32,
    },
    Event(Event),
    /// Nothing to do before this time (ms, the caller's clock); `None`: nothing pending.
    Wait(Option<u64>),
}

#[derive(Debug)]
struct Pending {
    zone: Box<[u8]>,
    target: SocketAddr,
    serial: u32,
    id: u16,
    message: Vec<u8>,
    key: Option<Key>,
    request_mac: Option<MacBuf>,
    sent: u32,
    next_at_ms: u64,
}

/// The NOTIFYs in flight.
#[derive(Debug)]
pub struct Notifier {
    policy: NotifyPolicy,
    pending: Vec<Pending>,
    rng: u64,
    tokens: u32,
    refill_at_ms: u64,
}

/// Builds a NOTIFY for `zone` (uncompressed wire name) carrying its current SOA in the answer
/// section (RFC 1996 section 3.7: a hint the secondary may use), signed when `key` is given.
/// Returns the request MAC when signed.
pub fn build_notify(
    out: &mut Vec<u8>,
    id: u16,
    zone: &[u8],
    soa_ttl: u32,
    soa_rdata: &[u8],
    key: Option<&Key>,
    now_s: u64,
) -> Option<MacBuf> {
    out.clear();
    out.extend_from_slice(&id.to_be_bytes());
    let flags = ((OPCODE_NOTIFY as u16) << OPCODE_SHIFT) | FLAG_AA;
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0]);
    out.extend_from_slice(zone);
    out.extend_from_slice(&TYPE_SOA.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&[0xC0, HEADER_BYTES as u8]);
    out.extend_from_slice(&TYPE_SOA.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&soa_ttl.to_be_bytes());
    out.extend_from_slice(&(soa_rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(soa_rdata);
    key.map(|k| tsig::sign_request(k, out, now_s))
}

/// Whether `msg` is a NOTIFY response (QR set, opcode NOTIFY): what a serving socket hands to
/// the notifier instead of dropping it as a response.
pub fn is_notify_response(msg: &[u8]) -> bool {
    msg.len() >= HEADER_BYTES && {
        let flags = read_u16(msg, 2);
        flags & FLAG_QR != 0 && ((flags & OPCODE_MASK) >> OPCODE_SHIFT) as u8 == OPCODE_NOTIFY
    }
}

impl Notifier {
    /// `seed` makes the message IDs unpredictable to an off-path forger (RFC 5452's concern);
    /// pass something random.
    pub fn new(policy: NotifyPolicy, seed: u64) -> Notifier {
        Notifier {
            policy: NotifyPolicy {
                attempts: policy.attempts.max(1),
                max_per_second: policy.max_per_second.max(1),
                ..policy
            },
            pending: Vec::new(),
            rng: seed | 1,
            tokens: policy.max_per_second.max(1),
            refill_at_ms: 0,
        }
    }

    fn next_id(&mut self) -> u16 {
        // xorshift64*: fast, and enough to spread IDs; the seed carries the unpredictability.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 48) as u16
    }

    /// NOTIFYs not yet answered or given up.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Announces `serial` of `zone` to each of `targets`, replacing what is pending for the
    /// same zone and target.
    #[allow(clippy::too_many_arguments)]
    pub fn notify(
        &mut self,
        zone: &[u8],
        serial: u32,
        soa_ttl: u32,
        soa_rdata: &[u8],
        targets: &[SocketAddr],
        key: Option<&Key>,
        now_ms: u64,
        now_s: u64,
    ) {
        for &target in targets {
            self.pending
                .retain(|p| !(p.target == target && p.zone.eq_ignore_ascii_case(zone)));
            let id = self.next_id();
            let mut message = Vec::new();
            let request_mac = build_notify(&mut message, id, zone, soa_ttl, soa_rdata, key, now_s);
            self.pending.push(Pending {
                zone: zone.into(),
                target,
                serial,
                id,
                message,
                key: key.cloned(),
                request_mac,
                sent: 0,
                next_at_ms: now_ms,
            });
        }
    }

    /// The next thing to do at `now_ms`. On [`Poll::Transmit`], `out` holds the datagram.
    pub fn poll(&mut self, now_ms: u64, out: &mut Vec<u8>) -> Poll {
        if now_ms >= self.refill_at_ms {
            self.tokens = self.policy.max_per_second;
            self.refill_at_ms = now_ms + 1000;
        }
        if let Some(i) = self
            .pending
            .iter()
            .position(|p| p.sent >= self.policy.attempts && p.next_at_ms <= now_ms)
        {
            let p = self.pending.swap_remove(i);
            return Poll::Event(Event::Failed {
                zone: p.zone,
                target: p.target,
                serial: p.serial,
                attempts: p.sent,
            });
        }
        let due = self
            .pending
            .iter_mut()
            .filter(|p| p.next_at_ms <= now_ms)
            .min_by_key(|p| p.next_at_ms);
        if let Some(p) = due {
            if self.tokens == 0 {
                return Poll::Wait(Some(self.refill_at_ms));
            }
            self.tokens -= 1;
            p.sent += 1;
            p.next_at_ms = now_ms + self.policy.retry_interval_ms;
            out.clear();
            out.extend_from_slice(&p.message);
            return Poll::Transmit {
                target: p.target,
                zone: p.zone.clone(),
                serial: p.serial,
                attempt: p.sent,
            };
        }
        Poll::Wait(self.pending.iter().map(|p| p.next_at_ms).min())
    }

    /// A datagram from `from` that [`is_notify_response`]: ends the matching NOTIFY.
    pub fn on_response(&mut self, from: SocketAddr, msg: &[u8], now_s: u64) -> Option<Event> {
        if !is_notify_response(msg) {
            return None;
        }
        let id = read_u16(msg, 0);
        let i = self
            .pending
            .iter()
            .position(|p| p.target == from && p.id == id && p.sent > 0)?;
        let p = &self.pending[i];
        let bad = |reason| {
            Some(Event::BadResponse {
                zone: p.zone.clone(),
                target: from,
                reason,
            })
        };
        // The question must be ours: QDCOUNT 1, the zone's name (any case), SOA IN.
        let qend = HEADER_BYTES + p.zone.len() + 4;
        if read_u16(msg, 4) != 1
            || msg.len() < qend
            || !msg[HEADER_BYTES..qend - 4].eq_ignore_ascii_case(&p.zone)
            || msg[qend - 4..qend] != p.message[qend - 4..qend]
        {
            return bad("the response's question is not the NOTIFY's");
        }
        if let (Some(key), Some(mac)) = (&p.key, p.request_mac) {
            let mut v = ResponseVerifier::new(key, mac, UnsignedRun::None);
            if let Err(e) = v.verify(msg, now_s) {
                return bad(e.kind());
            }
        }
        let p = self.pending.swap_remove(i);
        Some(Event::Answered {
            zone: p.zone,
            target: from,
            serial: p.serial,
            rcode: (read_u16(msg, 2) & 0xF) as u8,
            attempts: p.sent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse_query;

    const ZONE: &[u8] = b"\x07example\x03com\x00";
    const SOA: &[u8] = b"\x02ns\x00\x04host\x00\x00\x00\x00\x07\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01";

    fn target(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// The response a secondary sends: the NOTIFY with QR set and no answer records.
    fn response_to(notify: &[u8], rcode: u8) -> Vec<u8> {
        let qend = HEADER_BYTES + ZONE.len() + 4;
        let mut r = notify[..qend].to_vec();
        r[2] |= 0x80;
        r[3] = rcode;
        r[6..12].fill(0);
        r
    }

    #[test]
    fn notify_is_a_parseable_notify_query_with_the_soa() {
        let mut out = Vec::new();
        build_notify(&mut out, 7, ZONE, 3600, SOA, None, 0);
        let q = parse_query(&out).unwrap();
        assert_eq!(
            (q.id, q.opcode, q.qtype, q.qname),
            (7, OPCODE_NOTIFY, TYPE_SOA, ZONE)
        );
        assert_eq!(read_u16(&out, 6), 1);
        assert!(out.ends_with(SOA));
        assert!(!is_notify_response(&out));
        assert!(is_notify_response(&response_to(&out, 0)));
    }

    #[test]
    fn retries_then_fails_and_an_answer_ends_it() {
        let policy = NotifyPolicy {
            attempts: 3,
            retry_interval_ms: 100,
            max_per_second: 100,
        };
        let mut n = Notifier::new(policy, 42);
        n.notify(ZONE, 7, 3600, SOA, &[target(1), target(2)], None, 0, 0);
        let mut out = Vec::new();
        let mut sent = Vec::new();
        let mut now = 0;
        let mut first_to_2 = None;
        let mut events = Vec::new();
        while now < 1000 {
            match n.poll(now, &mut out) {
                Poll::Transmit {
                    target, attempt, ..
                } => {
                    sent.push((target.port(), attempt, now));
                    if target.port() == 2 && first_to_2.is_none() {
                        first_to_2 = Some(out.clone());
                    }
                }
                Poll::Event(e) => events.push(e),
                Poll::Wait(Some(t)) => now = t,
                Poll::Wait(None) => break,
            }
            // Target 2 answers its second send.
            if sent.iter().filter(|s| s.0 == 2).count() == 2 {
                if let Some(m) = first_to_2.take() {
                    let e = n.on_response(target(2), &response_to(&m, 0), 0).unwrap();
                    events.push(e);
                }
            }
        }
        let to1: Vec<_> = sent
            .iter()
            .filter(|s| s.0 == 1)
            .map(|s| (s.1, s.2))
            .collect();
        assert_eq!(to1, vec![(1, 0), (2, 100), (3, 200)]);
        assert!(events.contains(&Event::Failed {
            zone: ZONE.into(),
            target: target(1),
            serial: 7,
            attempts: 3
        }));
        assert!(events.contains(&Event::Answered {
            zone: ZONE.into(),
            target: target(2),
            serial: 7,
            rcode: 0,
            attempts: 2
        }));
        assert_eq!(n.pending(), 0);
    }

    #[test]
    fn responses_must_match_source_id_question_and_key() {
        let key = Key::from_text("k.", "hmac-sha256", "c2VjcmV0c2VjcmV0").unwrap();
        let mut n = Notifier::new(NotifyPolicy::default(), 1);
        n.notify(ZONE, 9, 60, SOA, &[target(5)], Some(&key), 0, 1000);
        let mut out = Vec::new();
        assert!(matches!(n.poll(0, &mut out), Poll::Transmit { .. }));
        assert!(tsig::find_record(&out).unwrap().is_some());
        let unsigned = response_to(&out, 0);
        // Wrong port, wrong ID: not ours, silently.
        assert_eq!(n.on_response(target(6), &unsigned, 1000), None);
        let mut other_id = unsigned.clone();
        other_id[1] ^= 1;
        assert_eq!(n.on_response(target(5), &other_id, 1000), None);
        // Right source and ID but unsigned: reported, still pending.
        assert!(matches!(
            n.on_response(target(5), &unsigned, 1000),
            Some(Event::BadResponse { .. })
        ));
        assert_eq!(n.pending(), 1);
        // Signed by the secondary with the key over the request MAC: accepted.
        let rr = tsig::find_record(&out).unwrap().unwrap();
        let v = tsig::verify_request(&out, &rr, |_| Some(&key), 1000).unwrap();
        let mut signer = tsig::ResponseSigner::new(&v);
        let mut resp = unsigned.clone();
        let at = resp.len();
        resp.resize(at + signer.rr_bytes(), 0);
        let (head, tail) = resp.split_at_mut(at);
        let n_rr = signer.sign(&[head], 1000, tail);
        resp.truncate(at + n_rr);
        resp[11] = 1;
        let e = n.on_response(target(5), &resp, 1000).unwrap();
        assert!(matches!(e, Event::Answered { rcode: 0, .. }), "{e:?}");
    }

    #[test]
    fn a_newer_serial_replaces_and_the_rate_is_bounded() {
        let policy = NotifyPolicy {
            attempts: 5,
            retry_interval_ms: 3000,
            max_per_second: 2,
        };
        let mut n = Notifier::new(policy, 3);
        n.notify(
            ZONE,
            1,
            60,
            SOA,
            &[target(1), target(2), target(3)],
            None,
            0,
            0,
        );
        n.notify(ZONE, 2, 60, SOA, &[target(1)], None, 0, 0);
        assert_eq!(n.pending(), 3);
        let mut out = Vec::new();
        let mut at = Vec::new();
        let mut now = 0;
        while at.len() < 3 {
            match n.poll(now, &mut out) {
                Poll::Transmit { serial, target, .. } => at.push((now, target.port(), serial)),
                Poll::Wait(Some(t)) => now = t,
                other => panic!("{other:?}"),
            }
        }
        // Two in the first second, the third after the bucket refills; port 1 got serial 2.
        assert_eq!((at[0].0, at[1].0, at[2].0), (0, 0, 1000));
        assert!(at.iter().any(|a| a.1 == 1 && a.2 == 2));
        assert!(!at.iter().any(|a| a.2 == 1 && a.1 == 1));
    }
}
