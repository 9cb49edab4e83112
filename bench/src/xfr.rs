//! The client side of one AXFR or IXFR response stream, sans I/O.
//!
//! Owns: deciding when a response stream is complete (RFC 5936 section 2.2: an AXFR response
//! begins and ends with the zone's SOA; RFC 1995 section 4: an IXFR response is a single SOA
//! when the client is current, an incremental answer whose second record is the older SOA, or
//! an AXFR-style answer), checking every message (ID, QR, RCODE, counts against length), and
//! with `verify` the record set digest. Does not own sockets or the clock; the driver feeds it
//! each message without its TCP length prefix.

use xxhash_rust::xxh3::xxh3_64;

use xfr_proto::message::{self, Header, MessageError, Records};
use xfr_proto::tsig::{ResponseError, ResponseVerifier};
use xfr_proto::wire::{HEADER_BYTES, TYPE_SOA};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Axfr,
    /// IXFR with the client's serial.
    Ixfr(u32),
}

/// Why a transfer failed. `kind()` names it in reports ("errors by kind").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XfrError {
    Connect(String),
    Io(String),
    Timeout,
    /// The server closed the connection before the final SOA.
    Truncated,
    IdMismatch {
        want: u16,
        got: u16,
    },
    NotResponse,
    Rcode(u8),
    Malformed(MessageError),
    FirstNotSoa,
    /// A SOA with another serial where the transfer should end, or serials differ between
    /// transfers of the same zone.
    SerialMismatch {
        want: u32,
        got: u32,
    },
    RecordsAfterFinalSoa,
    /// Bytes after the final message on the connection.
    TrailingData,
    /// Record count or record set digest differs from the first transfer (or `--expect-records`).
    CountMismatch {
        want: u64,
        got: u64,
    },
    DigestMismatch,
    Tsig(ResponseError),
    /// The engine answered a handoff with this non-zero status.
    HandoffRejected(u8),
    /// XoT: the TLS handshake or a record failed (a certificate that does not verify, an
    /// alert from the server, a record that does not decrypt).
    Tls(String),
}

impl XfrError {
    pub fn kind(&self) -> &'static str {
        match self {
            XfrError::Connect(_) => "connect",
            XfrError::Io(_) => "io",
            XfrError::Timeout => "timeout",
            XfrError::Truncated => "truncated",
            XfrError::IdMismatch { .. } => "id_mismatch",
            XfrError::NotResponse => "not_response",
            XfrError::Rcode(1) => "rcode_formerr",
            XfrError::Rcode(2) => "rcode_servfail",
            XfrError::Rcode(4) => "rcode_notimp",
            XfrError::Rcode(5) => "rcode_refused",
            XfrError::Rcode(9) => "rcode_notauth",
            XfrError::Rcode(_) => "rcode_other",
            XfrError::Malformed(MessageError::NoHeader(_)) => "malformed_short",
            XfrError::Malformed(MessageError::TrailingBytes(_)) => "malformed_length",
            XfrError::Malformed(_) => "malformed",
            XfrError::FirstNotSoa => "first_not_soa",
            XfrError::SerialMismatch { .. } => "serial_mismatch",
            XfrError::RecordsAfterFinalSoa => "records_after_final_soa",
            XfrError::TrailingData => "trailing_data",
            XfrError::CountMismatch { .. } => "count_mismatch",
            XfrError::DigestMismatch => "digest_mismatch",
            XfrError::Tsig(t) => t.kind(),
            XfrError::HandoffRejected(1) => "handoff_malformed",
            XfrError::HandoffRejected(2) => "handoff_overloaded",
            XfrError::HandoffRejected(3) => "handoff_not_served",
            XfrError::HandoffRejected(_) => "handoff_rejected",
            XfrError::Tls(_) => "tls",
        }
    }
}

impl std::fmt::Display for XfrError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            XfrError::Connect(e) => write!(f, "connect: {e}"),
            XfrError::Io(e) => write!(f, "i/o: {e}"),
            XfrError::IdMismatch { want, got } => write!(f, "message ID {got}, query ID {want}"),
            XfrError::Rcode(r) => write!(f, "RCODE {r}"),
            XfrError::Malformed(w) => write!(f, "malformed message: {w}"),
            XfrError::SerialMismatch { want, got } => {
                write!(f, "SOA serial {got}, expected {want}")
            }
            XfrError::CountMismatch { want, got } => write!(f, "{got} records, expected {want}"),
            XfrError::Tsig(t) => write!(f, "TSIG: {t}"),
            XfrError::Tls(e) => write!(f, "TLS: {e}"),
            other => f.write_str(other.kind()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    More,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Unknown,
    /// AXFR, or an AXFR-style IXFR answer: ends at the second SOA with the first serial.
    Full,
    /// Incremental IXFR: the new SOA appears first, before the last additions, and last.
    Incremental,
}

/// The order-independent digest of a record set: wrapping sum and xor of xxh3-64 of each
/// canonical record. Equal record sets give equal digests whatever the order or compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Digest {
    pub sum: u64,
    pub xor: u64,
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}{:016x}", self.sum, self.xor)
    }
}

/// What a finished transfer delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub messages: u64,
    /// Records of the transferred set: every answer record but the final SOA.
    pub records: u64,
    pub serial: u32,
    pub digest: Option<Digest>,
    /// Messages whose TSIG MAC verified (0 without a verifier).
    pub signed: u64,
}

pub struct Transfer {
    kind: Kind,
    query_id: u16,
    verify: bool,
    tsig: Option<ResponseVerifier>,
    shape: Shape,
    messages: u64,
    /// Answer records seen so far.
    seen: u64,
    first_serial: u32,
    /// SOAs with the first serial seen (the first record included).
    first_serial_soas: u32,
    done: bool,
    digest: Digest,
    scratch: Vec<u8>,
    /// The last 20 bytes of the first SOA's RDATA (serial to minimum): a message that does
    /// not end with them cannot end a full transfer (see `on_message`).
    soa_tail: [u8; 20],
}

/// `a` is newer than `b` in serial number arithmetic (RFC 1982).
fn serial_newer(a: u32, b: u32) -> bool {
    a != b && (a.wrapping_sub(b) as i32) > 0
}

impl Transfer {
    pub fn new(kind: Kind, query_id: u16, verify: bool, tsig: Option<ResponseVerifier>) -> Self {
        Transfer {
            kind,
            query_id,
            verify,
            tsig,
            shape: if kind == Kind::Axfr {
                Shape::Full
            } else {
                Shape::Unknown
            },
            messages: 0,
            seen: 0,
            first_serial: 0,
            first_serial_soas: 0,
            done: false,
            digest: Digest::default(),
            scratch: Vec::with_capacity(512),
            soa_tail: [0; 20],
        }
    }

    pub fn outcome(&self) -> Outcome {
        Outcome {
            messages: self.messages,
            records: self.seen.saturating_sub(1),
            serial: self.first_serial,
            digest: self.verify.then_some(self.digest),
            signed: self
                .tsig
                .as_ref()
                .map_or(0, ResponseVerifier::messages_verified),
        }
    }

    /// Feed the next message of the stream. `now_s` is only used for TSIG time checks.
    pub fn on_message(&mut self, msg: &[u8], now_s: u64) -> Result<Step, XfrError> {
        if self.done {
            return Err(XfrError::TrailingData);
        }
        let h = Header::parse(msg).map_err(XfrError::Malformed)?;
        if h.id != self.query_id {
            return Err(XfrError::IdMismatch {
                want: self.query_id,
                got: h.id,
            });
        }
        if !h.is_response() {
            return Err(XfrError::NotResponse);
        }
        if h.rcode() != 0 {
            return Err(XfrError::Rcode(h.rcode()));
        }
        if let Some(v) = self.tsig.as_mut() {
            v.verify(msg, now_s).map_err(XfrError::Tsig)?;
        }
        self.messages += 1;
        // The cheap path (AXFR without --verify or TSIG): after the first record (the SOA),
        // only a message whose last 20 bytes are the SOA's serial..minimum can end the
        // transfer, so any other message is counted from its header alone. A candidate is walked in full,
        // so the end is still decided exactly. A final SOA with another serial is then not
        // taken as the end: the transfer fails (timeout or truncated) instead of passing.
        let cheap = !self.verify
            && self.tsig.is_none()
            && self.kind == Kind::Axfr
            && h.nscount == 0
            && h.arcount == 0;
        if cheap && self.seen == 0 && h.ancount > 1 {
            // The first message: only its first record (the SOA, whose serial and tail the
            // end is recognised by) is read, unless the message could also end the transfer.
            let pos = message::skip_questions(msg, h.qdcount).map_err(XfrError::Malformed)?;
            let rec = message::read_record(msg, pos).map_err(XfrError::Malformed)?;
            if rec.rtype != TYPE_SOA {
                return Err(XfrError::FirstNotSoa);
            }
            let serial = rec.soa_serial(msg).map_err(XfrError::Malformed)?;
            let tail = rec
                .soa_tail(msg)
                .expect("an SOA whose serial reads has a tail");
            if msg[msg.len() - tail.len()..] != *tail {
                self.soa_tail.copy_from_slice(tail);
                self.first_serial = serial;
                self.first_serial_soas = 1;
                self.seen = h.ancount as u64;
                return Ok(Step::More);
            }
            // Otherwise walk it in full below, which reads the SOA again.
        }
        if cheap
            && self.seen > 0
            && (msg.len() < HEADER_BYTES + 20 || msg[msg.len() - 20..] != self.soa_tail)
        {
            self.seen += h.ancount as u64;
            return Ok(Step::More);
        }
        let mut pos = message::skip_questions(msg, h.qdcount).map_err(XfrError::Malformed)?;
        let an = h.ancount as usize;
        for i in 0..an {
            let rec = message::read_record(msg, pos).map_err(XfrError::Malformed)?;
            let next = rec.rdata_end;
            if self.done {
                return Err(XfrError::RecordsAfterFinalSoa);
            }
            let index = self.seen;
            self.seen += 1;
            let mut ends = false;
            if rec.rtype == TYPE_SOA {
                let serial = rec.soa_serial(msg).map_err(XfrError::Malformed)?;
                if index == 0 {
                    self.soa_tail = *rec
                        .soa_tail(msg)
                        .expect("an SOA whose serial reads has a tail");
                    self.first_serial = serial;
                    self.first_serial_soas = 1;
                    if let Kind::Ixfr(client) = self.kind {
                        // RFC 1995 section 2: a lone SOA that is not newer says "up to date".
                        let lone = self.messages == 1 && an == 1;
                        if lone && !serial_newer(serial, client) {
                            self.done = true;
                            self.seen = 1; // zero records transferred
                            pos = next;
                            break;
                        }
                    }
                } else {
                    if index == 1 && self.shape == Shape::Unknown {
                        self.shape = if serial != self.first_serial {
                            Shape::Incremental
                        } else {
                            Shape::Full
                        };
                    }
                    if serial == self.first_serial {
                        self.first_serial_soas += 1;
                    }
                    match self.shape {
                        Shape::Full => {
                            // In a full transfer every SOA after the first ends it.
                            if serial != self.first_serial && self.verify {
                                return Err(XfrError::SerialMismatch {
                                    want: self.first_serial,
                                    got: serial,
                                });
                            }
                            ends = true;
                        }
                        Shape::Incremental => ends = self.first_serial_soas == 3,
                        Shape::Unknown => {}
                    }
                }
            } else if index == 0 {
                return Err(XfrError::FirstNotSoa);
            } else if index == 1 && self.shape == Shape::Unknown {
                self.shape = Shape::Full;
            }
            if ends {
                self.done = true;
                if i + 1 != an {
                    return Err(XfrError::RecordsAfterFinalSoa);
                }
            } else if self.verify {
                self.scratch.clear();
                message::write_canonical(msg, &rec, &mut self.scratch)
                    .map_err(XfrError::Malformed)?;
                let h = xxh3_64(&self.scratch);
                self.digest.sum = self.digest.sum.wrapping_add(h);
                self.digest.xor ^= h;
            }
            pos = next;
        }
        if !self.done || pos != msg.len() {
            // Authority and additional (OPT, TSIG) are walked so the length is checked.
            let mut rest = Records::new(msg, pos, h.nscount as usize + h.arcount as usize);
            for rec in rest.by_ref() {
                rec.map_err(XfrError::Malformed)?;
            }
            pos = rest.pos();
        }
        message::check_end(msg, pos).map_err(XfrError::Malformed)?;
        if !self.done {
            return Ok(Step::More);
        }
        // RFC 8945 section 5.3.1: the last message of a response is signed, whatever gaps
        // came before it.
        if self.tsig.as_ref().is_some_and(|v| !v.ends_signed()) {
            return Err(XfrError::Tsig(ResponseError::Missing));
        }
        Ok(Step::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xfr_proto::tsig::{self, UnsignedRun};
    use xfr_proto::wire::TYPE_AXFR;

    /// Build a response message with the given answer records (owner "ex.", uncompressed).
    fn msg(id: u16, answers: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&0x8400u16.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        m.extend_from_slice(b"\x02ex\x00\x00\xfc\x00\x01");
        for (t, rdata) in answers {
            m.extend_from_slice(b"\xc0\x0c");
            m.extend_from_slice(&t.to_be_bytes());
            m.extend_from_slice(&1u16.to_be_bytes());
            m.extend_from_slice(&300u32.to_be_bytes());
            m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            m.extend_from_slice(rdata);
        }
        m
    }
    fn soa(serial: u32) -> (u16, Vec<u8>) {
        let mut r = b"\x00\x00".to_vec();
        r.extend_from_slice(&serial.to_be_bytes());
        r.extend_from_slice(&[0; 16]);
        (TYPE_SOA, r)
    }
    fn a(last: u8) -> (u16, Vec<u8>) {
        (1, vec![10, 0, 0, last])
    }

    #[test]
    fn axfr_over_two_messages() {
        let mut t = Transfer::new(Kind::Axfr, 5, true, None);
        assert_eq!(t.on_message(&msg(5, &[soa(1), a(1)]), 0), Ok(Step::More));
        assert_eq!(t.on_message(&msg(5, &[a(2), soa(1)]), 0), Ok(Step::Done));
        let o = t.outcome();
        assert_eq!((o.messages, o.records, o.serial), (2, 3, 1));
        // Order does not change the digest.
        let mut u = Transfer::new(Kind::Axfr, 6, true, None);
        assert_eq!(
            u.on_message(&msg(6, &[soa(1), a(2), a(1), soa(1)]), 0),
            Ok(Step::Done)
        );
        assert_eq!(u.outcome().digest, o.digest);
    }

    #[test]
    fn axfr_errors() {
        let mut t = Transfer::new(Kind::Axfr, 5, true, None);
        assert_eq!(
            t.on_message(&msg(5, &[soa(1), a(1), soa(2)]), 0),
            Err(XfrError::SerialMismatch { want: 1, got: 2 })
        );
        let mut t = Transfer::new(Kind::Axfr, 5, false, None);
        assert!(matches!(
            t.on_message(&msg(4, &[soa(1)]), 0),
            Err(XfrError::IdMismatch { .. })
        ));
        let mut t = Transfer::new(Kind::Axfr, 5, false, None);
        assert_eq!(
            t.on_message(&msg(5, &[a(1)]), 0),
            Err(XfrError::FirstNotSoa)
        );
        // A walked message must be filled exactly by its records, and nothing may follow the
        // final SOA. The cheap path walks only a message that may end the transfer, so it
        // counts these from the header (and the transfer then never ends: it fails later).
        for verify in [true, false] {
            let mut t = Transfer::new(Kind::Axfr, 5, verify, None);
            let mut m = msg(5, &[soa(1), a(1)]);
            m.push(0);
            let r = t.on_message(&m, 0);
            if verify {
                assert_eq!(r, Err(XfrError::Malformed(MessageError::TrailingBytes(1))));
            } else {
                assert_eq!(r, Ok(Step::More));
            }
            let mut t = Transfer::new(Kind::Axfr, 5, verify, None);
            let r = t.on_message(&msg(5, &[soa(1), soa(1), a(1)]), 0);
            if verify {
                assert_eq!(r, Err(XfrError::RecordsAfterFinalSoa));
            } else {
                assert_eq!(r, Ok(Step::More));
            }
        }
        // A message that may end the transfer is walked on the cheap path too.
        let mut t = Transfer::new(Kind::Axfr, 5, false, None);
        assert_eq!(
            t.on_message(&msg(5, &[soa(1), a(1), soa(1), soa(1)]), 0),
            Err(XfrError::RecordsAfterFinalSoa)
        );
    }

    #[test]
    fn cheap_path_counts_from_headers_and_ends_exactly() {
        let mut t = Transfer::new(Kind::Axfr, 5, false, None);
        assert_eq!(t.on_message(&msg(5, &[soa(1), a(1)]), 0), Ok(Step::More));
        assert_eq!(t.on_message(&msg(5, &[a(2), a(3)]), 0), Ok(Step::More));
        assert_eq!(t.on_message(&msg(5, &[a(4), soa(1)]), 0), Ok(Step::Done));
        assert_eq!(t.outcome().records, 5);
        // A wrong final serial is not an end without --verify either.
        let mut t = Transfer::new(Kind::Axfr, 5, false, None);
        assert_eq!(t.on_message(&msg(5, &[soa(1), a(1)]), 0), Ok(Step::More));
        assert_eq!(t.on_message(&msg(5, &[a(2), soa(2)]), 0), Ok(Step::More));
    }

    #[test]
    fn cheap_path_first_message() {
        // The first message is read up to its SOA only; a wrong first record is still caught.
        let mut t = Transfer::new(Kind::Axfr, 5, false, None);
        assert_eq!(
            t.on_message(&msg(5, &[a(1), soa(1), a(2)]), 0),
            Err(XfrError::FirstNotSoa)
        );
        // A one-message transfer (first message ends with the SOA) is walked and ends.
        let mut t = Transfer::new(Kind::Axfr, 5, false, None);
        assert_eq!(
            t.on_message(&msg(5, &[soa(3), a(1), a(2), soa(3)]), 0),
            Ok(Step::Done)
        );
        assert_eq!((t.outcome().records, t.outcome().serial), (3, 3));
        // Counted from the header, then ended by the tail check of a later message.
        let mut t = Transfer::new(Kind::Axfr, 5, false, None);
        assert_eq!(
            t.on_message(&msg(5, &[soa(3), a(1), a(2)]), 0),
            Ok(Step::More)
        );
        assert_eq!(t.on_message(&msg(5, &[a(3), soa(3)]), 0), Ok(Step::Done));
        assert_eq!((t.outcome().records, t.outcome().serial), (4, 3));
    }

    /// A key, a signed AXFR query for ID 5, and the server's signer for its answer.
    fn signed_exchange() -> (tsig::Key, ResponseVerifier, tsig::ResponseSigner) {
        let key = tsig::Key::parse_spec("k.:hmac-sha256:c2VjcmV0c2VjcmV0").unwrap();
        let mut q = message::build_query(5, b"\x02ex\x00", TYPE_AXFR, None);
        let mac = tsig::sign_request(&key, &mut q, 1000);
        let rr = tsig::find_record(&q).unwrap().unwrap();
        let request = tsig::verify_request(&q, &rr, |_| Some(&key), 1000).unwrap();
        let signer = tsig::ResponseSigner::new(&request);
        let verifier = ResponseVerifier::new(&key, mac, UnsignedRun::Rfc8945);
        (key, verifier, signer)
    }

    /// `m` signed; `unsigned` are the messages sent unsigned since the last signed one, which
    /// its MAC covers too (RFC 8945 section 5.3.1).
    fn sign(signer: &mut tsig::ResponseSigner, unsigned: &[u8], mut m: Vec<u8>) -> Vec<u8> {
        let mut rr = [0u8; tsig::RR_BYTES_MAX];
        let n = signer.sign(&[unsigned, &m], 1000, &mut rr);
        m.extend_from_slice(&rr[..n]);
        m[11] += 1; // ARCOUNT
        m
    }

    #[test]
    fn tsig_chain_is_verified_on_every_message() {
        let (_, verifier, mut signer) = signed_exchange();
        let m1 = sign(&mut signer, &[], msg(5, &[soa(1), a(1)]));
        let m2 = msg(5, &[a(2)]); // a gap, as RFC 8945 section 5.3.1 allows
        let m3 = sign(&mut signer, &m2, msg(5, &[a(3), soa(1)]));
        let mut t = Transfer::new(Kind::Axfr, 5, true, Some(verifier.clone()));
        assert_eq!(t.on_message(&m1, 1010), Ok(Step::More));
        assert_eq!(t.on_message(&m2, 1010), Ok(Step::More));
        assert_eq!(t.on_message(&m3, 1010), Ok(Step::Done));
        assert_eq!(t.outcome().records, 4);
        // One byte changed in the unsigned message breaks the next MAC.
        let mut bad = m2.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        let mut t = Transfer::new(Kind::Axfr, 5, true, Some(verifier.clone()));
        assert_eq!(t.on_message(&m1, 1010), Ok(Step::More));
        assert_eq!(t.on_message(&bad, 1010), Ok(Step::More));
        assert_eq!(
            t.on_message(&m3, 1010),
            Err(XfrError::Tsig(ResponseError::BadSig))
        );
        // Outside the fudge window, and a stream whose last message is unsigned.
        let mut t = Transfer::new(Kind::Axfr, 5, false, Some(verifier.clone()));
        assert_eq!(
            t.on_message(&m1, 5000),
            Err(XfrError::Tsig(ResponseError::BadTime))
        );
        let mut t = Transfer::new(Kind::Axfr, 5, false, Some(verifier));
        assert_eq!(t.on_message(&m1, 1010), Ok(Step::More));
        assert_eq!(
            t.on_message(&msg(5, &[a(2), soa(1)]), 1010),
            Err(XfrError::Tsig(ResponseError::Missing))
        );
    }

    #[test]
    fn ixfr_shapes() {
        // Up to date: a lone SOA.
        let mut t = Transfer::new(Kind::Ixfr(7), 1, true, None);
        assert_eq!(t.on_message(&msg(1, &[soa(7)]), 0), Ok(Step::Done));
        assert_eq!(t.outcome().records, 0);
        // Incremental 7 -> 8 split over messages, with a separator SOA ending a message.
        let mut t = Transfer::new(Kind::Ixfr(7), 1, true, None);
        assert_eq!(
            t.on_message(&msg(1, &[soa(8), soa(7), a(1)]), 0),
            Ok(Step::More)
        );
        assert_eq!(t.on_message(&msg(1, &[soa(8)]), 0), Ok(Step::More));
        assert_eq!(t.on_message(&msg(1, &[a(2), soa(8)]), 0), Ok(Step::Done));
        // AXFR-style answer.
        let mut t = Transfer::new(Kind::Ixfr(0), 1, true, None);
        assert_eq!(t.on_message(&msg(1, &[soa(8)]), 0), Ok(Step::More));
        assert_eq!(t.on_message(&msg(1, &[a(1), soa(8)]), 0), Ok(Step::Done));
    }
}
