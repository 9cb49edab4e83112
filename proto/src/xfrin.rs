//! Transfer in (AXFR, RFC 5936; IXFR, RFC 1995), sans-IO: the client side of a zone transfer,
//! from the query to the last record, for a secondary pulling a zone from its primary.
//!
//! What it owns: the query ([`XfrIn::new`] writes it, TCP length prefix included, with the IXFR
//! authority SOA and a TSIG record when asked), checking every response message (ID, QR,
//! opcode, RCODE, TC, the question, TSIG), classifying the response (full zone, incremental,
//! up to date) and the consistency of the record stream (SOA first, records inside the zone,
//! diff serials chained, RFC 1982 serial order), and handing each record to the caller's
//! [`Sink`] as it is read. What it does not own: sockets, the TCP length prefix of responses
//! (the caller frames them, [`crate::framing::frame`] does it over a caller buffer), timers (a
//! stalled primary is the caller's timeout), retries and failover between primaries, and the
//! zone data: whether an IXFR deletes a record that is held, or adds one already there, is for
//! the caller's builder to check (it alone holds the old version) and to reject by returning
//! an error from [`Sink::delete`] or [`Sink::add`], which ends the transfer.
//!
//! Driving it: `let mut x = XfrIn::new(origin, kind, id, key, now_s, &mut out)`, send `out`,
//! then for each received message `x.feed(msg, now_s, &mut sink)` until it returns
//! [`Progress::Done`]; when the connection ends first, [`XfrIn::finish`] says why that is an
//! error. Any error poisons the machine: the transfer is rejected whole and every later call
//! fails ([`XfrInError::Failed`]).
//!
//! Memory: nothing of the wire stream is kept. The machine holds the first SOA (an IXFR
//! response cannot be classified before its second record, which may come in the next
//! message: RFC 1995 section 4), one scratch buffer for a decompressed RDATA (bounded by the
//! 65535-byte message) and the TSIG chain state; each record is lent to the sink and gone. The
//! sink therefore sees records before the transfer is known to be good (message 7's TSIG may
//! still fail): it must stage them and commit only on [`Progress::Done`], and drop them on an
//! error. Within one message the TSIG is verified before any of its records reach the sink.
//!
//! Records reach the sink in wire form ([`Rr`]): the owner decompressed (case as sent), type,
//! class, TTL, and the RDATA with the names of the well-known types decompressed; RFC 3597
//! section 4 allows compression inside RDATA only for those (NS, CNAME, SOA, PTR, MX and the
//! other RFC 1035 types: [`crate::message::rdata_names_compressible`]), so any other type's
//! RDATA is passed on as sent.
//!
//! The sink's calls follow the response's shape:
//! - full zone (AXFR, or an IXFR answered AXFR-style: RFC 1995 section 4, "the second RR is
//!   not an SOA"): [`Sink::begin_full`] with the SOA, [`Sink::record`] for every other record,
//!   [`Sink::end_full`] at the final SOA;
//! - incremental: per diff, [`Sink::begin_diff`] with the old SOA, [`Sink::delete`] per
//!   record deleted, [`Sink::begin_additions`] with the new SOA, [`Sink::add`] per record
//!   added, [`Sink::end_diff`] with both serials. The old SOA's deletion and the new SOA's
//!   addition are those two SOA arguments, never `delete`/`add` calls. The new serial is not
//!   known when a diff begins (it follows the deletions, RFC 1995 section 4), and knowing it
//!   would mean buffering the deletions, so `begin_diff` gets only the old SOA;
//! - up to date (the primary's serial is not newer than ours, answered with its SOA alone, RFC
//!   1995 section 4): no call.
//!
//! Rules, and where they come from:
//! - every message: our ID, QR set, opcode QUERY, RCODE NOERROR (otherwise
//!   [`XfrInError::Rcode`], which names it; [`XfrInError::falls_back_to_axfr`] says when an IXFR
//!   refusal means "ask again with AXFR"), TC clear (RFC 5936 section 2.2: never set over TCP);
//! - the question: the first message must carry ours (name in any case, type, class IN); later
//!   ones may omit it (RFC 5936 section 2.2.1) but, when present, it must be ours;
//! - TSIG, when a key is given: every message signed and verified, each MAC chained on the
//!   previous one ([`crate::tsig::ResponseVerifier`] with [`UnsignedRun::None`]). RFC 8945
//!   section 5.3.1 lets a server leave up to 99 messages unsigned; knotd, nsd and named sign
//!   every one, and strictness costs nothing with them;
//! - the first record is the zone's SOA (RFC 5936 section 2.2); every record is of class IN
//!   and at or below the zone's name ("out of zone" data is rejected, not ignored: a primary
//!   that sends it is broken or hostile), and SOA records only at the apex;
//! - AXFR ends at the second SOA, whose serial must be the first's (RFC 5936 section 2.2: "the
//!   same SOA"; the serial is what is compared); nothing may follow it;
//! - IXFR: the first SOA's serial is the primary's. Not newer than ours (RFC 1982 order) and
//!   alone in the first message: up to date; not newer but with more records:
//!   [`XfrInError::NotNewer`] (we never go back to an older version). Newer: the second record
//!   decides: not an SOA, or an SOA with the same serial, is a full zone; an SOA with another
//!   serial starts the diffs, which must begin at our serial, chain (each diff's old serial is
//!   the previous diff's new one), go forwards (new newer than old), and end with the first
//!   SOA's serial, followed by that SOA once more;
//! - a stream that ends before the final SOA is truncated ([`XfrInError::Truncated`]).
//!
//! Work is bounded per message: names are read with the bounded walk of
//! [`crate::message`] (pointers strictly backwards, 255 bytes at most, no recursion), records
//! are walked by count with every length checked against the message, and nothing is
//! allocated from a length the peer sent beyond the scratch RDATA buffer (at most one
//! message's size).
//!
//! The IXFR query carries an authority SOA whose only meaningful field is our serial (the
//! other fields are zero, as [`crate::message::build_query`] writes it): RFC 1995 section 3
//! asks for the client's SOA, and knotd, nsd and named read only its serial.

use crate::framing::{write_length_prefix, LENGTH_PREFIX_BYTES};
use crate::message::{
    build_query, read_name, read_record, skip_questions, write_rdata_uncompressed, Header,
    MessageError, NameBuf, Record,
};
use crate::tsig::{self, Key, ResponseError, ResponseVerifier, UnsignedRun};
use crate::wire::{
    CLASS_IN, FLAG_TC, HEADER_BYTES, OPCODE_QUERY, RCODE_FORMERR, RCODE_NOTAUTH, RCODE_NOTIMP,
    RCODE_NXDOMAIN, RCODE_REFUSED, RCODE_SERVFAIL, TYPE_AXFR, TYPE_IXFR, TYPE_SOA,
};

/// Which transfer to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The whole zone.
    Axfr,
    /// The changes since `serial`, the version held (the primary may still answer with the
    /// whole zone).
    Ixfr { serial: u32 },
}

/// `a` is newer than `b` in serial number arithmetic (RFC 1982 section 3.2; the pairs 2^31
/// apart, whose order is undefined, are not newer either way).
pub fn serial_newer(a: u32, b: u32) -> bool {
    a != b && (a.wrapping_sub(b) as i32) > 0
}

/// One record as the sink gets it, borrowed for the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rr<'a> {
    /// The owner, uncompressed wire form, case as sent.
    pub owner: &'a [u8],
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// The RDATA, names of the compressible types decompressed (RFC 3597 section 4).
    pub rdata: &'a [u8],
}

impl Rr<'_> {
    /// Appends the record in uncompressed wire form (owner, type, class, TTL, RDLENGTH, RDATA).
    pub fn write_wire(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.owner);
        out.extend_from_slice(&self.rtype.to_be_bytes());
        out.extend_from_slice(&self.class.to_be_bytes());
        out.extend_from_slice(&self.ttl.to_be_bytes());
        out.extend_from_slice(&(self.rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(self.rdata);
    }
}

/// Why the sink refused a record (a delete of a record not held, a full disk...).
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Where the records of a transfer go, in stream order (see the module doc for the shapes).
/// An error from any call rejects the transfer ([`XfrInError::Sink`]).
pub trait Sink {
    /// A full zone follows; `soa` is its SOA (sent first and last; given once).
    fn begin_full(&mut self, soa: &Rr<'_>) -> Result<(), SinkError>;
    /// A record of the full zone, the SOA excluded.
    fn record(&mut self, rr: &Rr<'_>) -> Result<(), SinkError>;
    /// The full zone ended at its final SOA.
    fn end_full(&mut self) -> Result<(), SinkError>;
    /// A diff begins; `old_soa` is the SOA of the version it starts from (its deletion).
    fn begin_diff(&mut self, old_soa: &Rr<'_>) -> Result<(), SinkError>;
    /// A record the diff deletes.
    fn delete(&mut self, rr: &Rr<'_>) -> Result<(), SinkError>;
    /// The diff's additions follow; `new_soa` is the SOA of the version it leads to.
    fn begin_additions(&mut self, new_soa: &Rr<'_>) -> Result<(), SinkError>;
    /// A record the diff adds.
    fn add(&mut self, rr: &Rr<'_>) -> Result<(), SinkError>;
    /// The diff from `old_serial` to `new_serial` is complete.
    fn end_diff(&mut self, old_serial: u32, new_serial: u32) -> Result<(), SinkError>;
}

/// What the response turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The whole zone: an AXFR, or an IXFR answered AXFR-style.
    Full,
    /// One or more diffs from the serial held.
    Incremental,
    /// The primary's serial is not newer than the one held: nothing to transfer.
    UpToDate,
}

/// A completed transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub shape: Shape,
    /// The primary's serial: the version now described by what the sink received.
    pub serial: u32,
    /// Response messages read.
    pub messages: u32,
    /// Answer records read, every SOA included.
    pub records: u64,
    /// Diffs applied (0 unless incremental).
    pub diffs: u32,
    /// Messages whose TSIG verified (0 without a key).
    pub messages_signed: u64,
}

/// What [`XfrIn::feed`] says after a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More messages are needed.
    More,
    /// The final SOA arrived (or the primary said up to date): commit.
    Done(Outcome),
}

/// Why a transfer is rejected. `message` is the 1-based number of the response message that
/// showed it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XfrInError {
    #[error("message {message}: {error}")]
    Malformed { message: u32, error: MessageError },
    #[error("message {message}: ID {got}, the query's is {want}")]
    WrongId { message: u32, want: u16, got: u16 },
    #[error("message {message}: QR not set (not a response)")]
    NotResponse { message: u32 },
    #[error("message {message}: opcode {opcode}, not QUERY")]
    WrongOpcode { message: u32, opcode: u8 },
    #[error("message {message}: the primary answered {} to {}", rcode_name(*.rcode), if *.ixfr { "IXFR" } else { "AXFR" })]
    Rcode { message: u32, rcode: u8, ixfr: bool },
    #[error("message {message}: TC set, a transfer over TCP is never truncated")]
    Truncation { message: u32 },
    #[error("message {message}: the first message carries no question")]
    QuestionMissing { message: u32 },
    #[error("message {message}: the question is not the query's")]
    QuestionMismatch { message: u32 },
    #[error("message {message}: {error}")]
    Tsig { message: u32, error: ResponseError },
    #[error("message {message}: the first record is not the zone's SOA")]
    FirstNotSoa { message: u32 },
    #[error("message {message}: record of class {class}, the zone's is IN")]
    WrongClass { message: u32, class: u16 },
    #[error("message {message}: record owned by {owner}, outside the zone")]
    OutOfZone { message: u32, owner: String },
    #[error("message {message}: SOA record at {owner}, not at the zone's apex")]
    MisplacedSoa { message: u32, owner: String },
    #[error("message {message}: the transfer's final SOA has serial {got}, its first {first}")]
    FinalSoaMismatch { message: u32, first: u32, got: u32 },
    #[error("message {message}: the primary's serial {primary} is not newer than ours, {held}, yet it sent more than its SOA")]
    NotNewer {
        message: u32,
        held: u32,
        primary: u32,
    },
    #[error("message {message}: a diff starts at serial {got} where serial {want} was expected")]
    DiffChain { message: u32, want: u32, got: u32 },
    #[error("message {message}: a diff goes from serial {from} back to {to}")]
    SerialBackwards { message: u32, from: u32, to: u32 },
    #[error("message {message}: records after the transfer's final SOA")]
    AfterEnd { message: u32 },
    #[error(
        "the stream ended after {messages} messages and {records} records, before the final SOA"
    )]
    Truncated { messages: u32, records: u64 },
    #[error("message {message}: the zone builder refused a record: {error}")]
    Sink { message: u32, error: SinkError },
    #[error("the transfer has already failed")]
    Failed,
}

impl XfrInError {
    /// True when an IXFR query was refused as not implemented or not understood (NOTIMP,
    /// FORMERR: RFC 1995 predates many servers' IXFR support): ask again with AXFR. REFUSED and
    /// NOTAUTH are policy answers (ACL, key) that an AXFR would get as well.
    pub fn falls_back_to_axfr(&self) -> bool {
        matches!(
            self,
            XfrInError::Rcode { rcode, ixfr: true, .. }
                if *rcode == RCODE_NOTIMP || *rcode == RCODE_FORMERR
        )
    }

    /// The message number the error was seen in, where there is one.
    pub fn message(&self) -> Option<u32> {
        use XfrInError::*;
        match *self {
            Malformed { message, .. }
            | WrongId { message, .. }
            | NotResponse { message }
            | WrongOpcode { message, .. }
            | Rcode { message, .. }
            | Truncation { message }
            | QuestionMissing { message }
            | QuestionMismatch { message }
            | Tsig { message, .. }
            | FirstNotSoa { message }
            | WrongClass { message, .. }
            | OutOfZone { message, .. }
            | MisplacedSoa { message, .. }
            | FinalSoaMismatch { message, .. }
            | NotNewer { message, .. }
            | DiffChain { message, .. }
            | SerialBackwards { message, .. }
            | AfterEnd { message }
            | Sink { message, .. } => Some(message),
            Truncated { .. } | Failed => None,
        }
    }
}

/// The mnemonic of an RCODE (RFC 1035, RFC 2136, RFC 8945), for messages.
pub fn rcode_name(rcode: u8) -> String {
    match rcode {
        0 => "NOERROR".into(),
        RCODE_FORMERR => "FORMERR".into(),
        RCODE_SERVFAIL => "SERVFAIL".into(),
        RCODE_NXDOMAIN => "NXDOMAIN".into(),
        RCODE_NOTIMP => "NOTIMP".into(),
        RCODE_REFUSED => "REFUSED".into(),
        RCODE_NOTAUTH => "NOTAUTH".into(),
        n => format!("RCODE {n}"),
    }
}

/// Where the record stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No record yet: the next is the first SOA.
    First,
    /// IXFR: the first SOA is held; the next record decides the shape.
    Classify,
    /// A full zone: records until the final SOA.
    Full,
    /// A diff's deletions, from `old`.
    Deleting {
        old: u32,
    },
    /// A diff's additions, from `old` to `new`.
    Adding {
        old: u32,
        new: u32,
    },
    Done(Shape),
    Failed,
}

/// The first SOA, held until an IXFR response's second record says what it begins.
#[derive(Debug, Clone)]
struct HeldSoa {
    owner: NameBuf,
    ttl: u32,
    rdata: Vec<u8>,
}

impl HeldSoa {
    fn rr(&self) -> Rr<'_> {
        Rr {
            owner: self.owner.as_wire(),
            rtype: TYPE_SOA,
            class: CLASS_IN,
            ttl: self.ttl,
            rdata: &self.rdata,
        }
    }
}

/// One transfer in: the query it sent and the state of the response stream.
#[derive(Debug)]
pub struct XfrIn {
    /// The zone's name, lowercased.
    origin: NameBuf,
    kind: Kind,
    id: u16,
    verifier: Option<ResponseVerifier>,
    state: State,
    messages: u32,
    records: u64,
    diffs: u32,
    /// The first SOA's serial (the primary's), once read.
    serial: u32,
    /// The first SOA, while [`State::Classify`].
    held: Option<HeldSoa>,
    /// The RDATA of the record being handed out, decompressed.
    scratch: Vec<u8>,
}

impl XfrIn {
    /// Starts a transfer of `origin` (an uncompressed wire name; anything else is a programmer
    /// error and panics): appends the query to `out` with its TCP length prefix, signed with
    /// `key` at `now_s` when one is given. `id` should be unpredictable (RFC 5452).
    pub fn new(
        origin: &[u8],
        kind: Kind,
        id: u16,
        key: Option<&Key>,
        now_s: u64,
        out: &mut Vec<u8>,
    ) -> XfrIn {
        let origin = NameBuf::new(origin)
            .expect("a zone's name is an uncompressed wire name")
            .to_lowercase();
        let (qtype, serial) = match kind {
            Kind::Axfr => (TYPE_AXFR, None),
            Kind::Ixfr { serial } => (TYPE_IXFR, Some(serial)),
        };
        let mut query = build_query(id, origin.as_wire(), qtype, serial);
        let verifier = key.map(|k| {
            let mac = tsig::sign_request(k, &mut query, now_s);
            ResponseVerifier::new(k, mac, UnsignedRun::None)
        });
        let at = out.len();
        out.resize(at + LENGTH_PREFIX_BYTES, 0);
        write_length_prefix(&mut out[at..], query.len());
        out.extend_from_slice(&query);
        XfrIn {
            origin,
            kind,
            id,
            verifier,
            state: State::First,
            messages: 0,
            records: 0,
            diffs: 0,
            serial: 0,
            held: None,
            scratch: Vec::new(),
        }
    }

    /// The query type asked for.
    fn qtype(&self) -> u16 {
        match self.kind {
            Kind::Axfr => TYPE_AXFR,
            Kind::Ixfr { .. } => TYPE_IXFR,
        }
    }

    /// True once the transfer is complete.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done(_))
    }

    fn outcome(&self, shape: Shape) -> Outcome {
        Outcome {
            shape,
            serial: self.serial,
            messages: self.messages,
            records: self.records,
            diffs: self.diffs,
            messages_signed: self
                .verifier
                .as_ref()
                .map_or(0, ResponseVerifier::messages_verified),
        }
    }

    /// Feeds the next response message (without its TCP length prefix), received at `now_s`.
    pub fn feed(
        &mut self,
        msg: &[u8],
        now_s: u64,
        sink: &mut impl Sink,
    ) -> Result<Progress, XfrInError> {
        match self.state {
            State::Failed => return Err(XfrInError::Failed),
            State::Done(_) => {
                self.state = State::Failed;
                return Err(XfrInError::AfterEnd {
                    message: self.messages + 1,
                });
            }
            _ => {}
        }
        self.messages += 1;
        let r = self.feed_inner(msg, now_s, sink);
        if r.is_err() {
            self.state = State::Failed;
        }
        r
    }

    /// Says that the stream ended (the primary closed the connection): the outcome when the
    /// transfer was complete, [`XfrInError::Truncated`] otherwise.
    pub fn finish(&mut self) -> Result<Outcome, XfrInError> {
        match self.state {
            State::Done(shape) => Ok(self.outcome(shape)),
            State::Failed => Err(XfrInError::Failed),
            _ => {
                self.state = State::Failed;
                Err(XfrInError::Truncated {
                    messages: self.messages,
                    records: self.records,
                })
            }
        }
    }

    fn feed_inner(
        &mut self,
        msg: &[u8],
        now_s: u64,
        sink: &mut impl Sink,
    ) -> Result<Progress, XfrInError> {
        let message = self.messages;
        let malformed = |error| XfrInError::Malformed { message, error };
        let h = Header::parse(msg).map_err(malformed)?;
        if h.id != self.id {
            return Err(XfrInError::WrongId {
                message,
                want: self.id,
                got: h.id,
            });
        }
        if !h.is_response() {
            return Err(XfrInError::NotResponse { message });
        }
        if h.opcode() != OPCODE_QUERY {
            return Err(XfrInError::WrongOpcode {
                message,
                opcode: h.opcode(),
            });
        }
        // The RCODE before the TSIG: an error answer may be unsigned (BADKEY, BADSIG: RFC
        // 8945 section 5.3.2), and what the primary said matters more than that it did not
        // sign it. Either way the transfer ends here, having accepted nothing.
        if h.rcode() != 0 {
            return Err(XfrInError::Rcode {
                message,
                rcode: h.rcode(),
                ixfr: matches!(self.kind, Kind::Ixfr { .. }),
            });
        }
        if h.flags & FLAG_TC != 0 {
            return Err(XfrInError::Truncation { message });
        }
        match h.qdcount {
            0 if message == 1 => return Err(XfrInError::QuestionMissing { message }),
            0 => {}
            1 => {
                let (qname, end) = read_name(msg, HEADER_BYTES).map_err(malformed)?;
                let ours = msg.get(end..end + 4).is_some_and(|t| {
                    t[..2] == self.qtype().to_be_bytes() && t[2..] == CLASS_IN.to_be_bytes()
                });
                if !ours || !qname.as_wire().eq_ignore_ascii_case(self.origin.as_wire()) {
                    return Err(XfrInError::QuestionMismatch { message });
                }
            }
            _ => return Err(XfrInError::QuestionMismatch { message }),
        }
        if let Some(v) = self.verifier.as_mut() {
            v.verify(msg, now_s)
                .map_err(|error| XfrInError::Tsig { message, error })?;
        }
        let pos = skip_questions(msg, h.qdcount).map_err(malformed)?;
        let mut scratch = std::mem::take(&mut self.scratch);
        let r = self.walk_answers(msg, pos, h.ancount, &mut scratch, sink);
        self.scratch = scratch;
        r?;
        Ok(match self.state {
            State::Done(shape) => Progress::Done(self.outcome(shape)),
            _ => Progress::More,
        })
    }

    /// The `ancount` answer records from `pos`.
    fn walk_answers(
        &mut self,
        msg: &[u8],
        mut pos: usize,
        ancount: u16,
        scratch: &mut Vec<u8>,
        sink: &mut impl Sink,
    ) -> Result<(), XfrInError> {
        let message = self.messages;
        for i in 0..ancount {
            let rec =
                read_record(msg, pos).map_err(|error| XfrInError::Malformed { message, error })?;
            pos = rec.rdata_end;
            if let State::Done(_) = self.state {
                return Err(XfrInError::AfterEnd { message });
            }
            self.records += 1;
            self.on_record(msg, &rec, i + 1 == ancount, scratch, sink)?;
        }
        Ok(())
    }

    /// One answer record; `last_of_message` tells whether another record follows in this
    /// message.
    fn on_record(
        &mut self,
        msg: &[u8],
        rec: &Record,
        last_of_message: bool,
        scratch: &mut Vec<u8>,
        sink: &mut impl Sink,
    ) -> Result<(), XfrInError> {
        let message = self.messages;
        let malformed = |error| XfrInError::Malformed { message, error };
        let sunk =
            |r: Result<(), SinkError>| r.map_err(|error| XfrInError::Sink { message, error });
        let (owner, _) = read_name(msg, rec.start).map_err(malformed)?;
        if rec.class != CLASS_IN {
            return Err(XfrInError::WrongClass {
                message,
                class: rec.class,
            });
        }
        let apex = owner.as_wire().eq_ignore_ascii_case(self.origin.as_wire());
        if !in_zone(owner.as_wire(), self.origin.as_wire()) {
            return Err(XfrInError::OutOfZone {
                message,
                owner: tsig::name_text(owner.as_wire()),
            });
        }
        let soa = rec.rtype == TYPE_SOA;
        if soa && !apex {
            return Err(XfrInError::MisplacedSoa {
                message,
                owner: tsig::name_text(owner.as_wire()),
            });
        }
        let serial = if soa {
            rec.soa_serial(msg).map_err(malformed)?
        } else {
            0
        };
        scratch.clear();
        write_rdata_uncompressed(msg, rec, 0, scratch).map_err(malformed)?;
        let rr = Rr {
            owner: owner.as_wire(),
            rtype: rec.rtype,
            class: rec.class,
            ttl: rec.ttl,
            rdata: scratch,
        };
        match self.state {
            State::First => {
                if !soa {
                    return Err(XfrInError::FirstNotSoa { message });
                }
                self.serial = serial;
                match self.kind {
                    Kind::Axfr => {
                        sunk(sink.begin_full(&rr))?;
                        self.state = State::Full;
                    }
                    Kind::Ixfr { serial: held } if !serial_newer(serial, held) => {
                        if message == 1 && last_of_message {
                            self.state = State::Done(Shape::UpToDate);
                        } else {
                            return Err(XfrInError::NotNewer {
                                message,
                                held,
                                primary: serial,
                            });
                        }
                    }
                    Kind::Ixfr { .. } => {
                        self.held = Some(HeldSoa {
                            owner,
                            ttl: rec.ttl,
                            rdata: scratch.clone(),
                        });
                        self.state = State::Classify;
                    }
                }
            }
            State::Classify => {
                let first = self
                    .held
                    .take()
                    .expect("the first SOA is held while classifying");
                let Kind::Ixfr { serial: held } = self.kind else {
                    unreachable!("only an IXFR is classified")
                };
                if soa && serial != self.serial {
                    // RFC 1995 section 4: the diffs begin with the old SOA, which must be ours.
                    if serial != held {
                        return Err(XfrInError::DiffChain {
                            message,
                            want: held,
                            got: serial,
                        });
                    }
                    sunk(sink.begin_diff(&rr))?;
                    self.state = State::Deleting { old: serial };
                } else {
                    sunk(sink.begin_full(&first.rr()))?;
                    if soa {
                        // SOA, SOA with one serial: a zone of its SOA alone.
                        sunk(sink.end_full())?;
                        self.state = State::Done(Shape::Full);
                    } else {
                        sunk(sink.record(&rr))?;
                        self.state = State::Full;
                    }
                }
            }
            State::Full => {
                if soa {
                    if serial != self.serial {
                        return Err(XfrInError::FinalSoaMismatch {
                            message,
                            first: self.serial,
                            got: serial,
                        });
                    }
                    sunk(sink.end_full())?;
                    self.state = State::Done(Shape::Full);
                } else {
                    sunk(sink.record(&rr))?;
                }
            }
            State::Deleting { old } => {
                if soa {
                    if !serial_newer(serial, old) {
                        return Err(XfrInError::SerialBackwards {
                            message,
                            from: old,
                            to: serial,
                        });
                    }
                    sunk(sink.begin_additions(&rr))?;
                    self.state = State::Adding { old, new: serial };
                } else {
                    sunk(sink.delete(&rr))?;
                }
            }
            State::Adding { old, new } => {
                if soa {
                    sunk(sink.end_diff(old, new))?;
                    self.diffs += 1;
                    if serial == self.serial && new == self.serial {
                        self.state = State::Done(Shape::Incremental);
                    } else if serial != new {
                        return Err(XfrInError::DiffChain {
                            message,
                            want: new,
                            got: serial,
                        });
                    } else {
                        sunk(sink.begin_diff(&rr))?;
                        self.state = State::Deleting { old: serial };
                    }
                } else {
                    sunk(sink.add(&rr))?;
                }
            }
            State::Done(_) | State::Failed => unreachable!("checked before each record"),
        }
        Ok(())
    }
}

/// Whether `name` is at or below `origin` (both uncompressed wire names, `origin`
/// lowercased): its last labels are the origin's, compared without case.
fn in_zone(name: &[u8], origin: &[u8]) -> bool {
    let Some(cut) = name.len().checked_sub(origin.len()) else {
        return false;
    };
    // Walk the labels to the cut: it must fall on a label boundary. A valid name's labels
    // reach its end, so the walk ends.
    let mut at = 0;
    while at < cut {
        at += 1 + name[at] as usize;
    }
    at == cut && name[cut..].eq_ignore_ascii_case(origin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::text_to_wire;
    use crate::tsig::{Algorithm, MacBuf, ResponseSigner, RR_BYTES_MAX};
    use crate::wire::{FLAG_AA, FLAG_QR, RCODE_NOTIMP, RCODE_REFUSED};

    /// Asserts that `$e` matches `$p`, showing `$e` (an error's message) when not.
    macro_rules! assert_matches {
        ($e:expr, $p:pat $(if $guard:expr)?) => {
            assert!(matches!($e, $p $(if $guard)?), "{}", $e)
        };
    }

    const ORIGIN: &str = "example.com.";
    const ID: u16 = 0x4d2;
    const NOW: u64 = 1_700_000_000;
    const TXT: u16 = 16;

    /// The RDATA of a test record; names are presentation text, compressed when written.
    #[derive(Clone, Debug, PartialEq)]
    enum Data {
        A([u8; 4]),
        Ns(String),
        Mx(u16, String),
        Txt(String),
        /// A type outside RFC 1035 whose RDATA holds a name (SRV): never compressed.
        Srv(String),
        Soa(u32),
    }

    #[derive(Clone, Debug, PartialEq)]
    struct T {
        owner: String,
        data: Data,
    }

    fn t(owner: &str, data: Data) -> T {
        T {
            owner: owner.to_string(),
            data,
        }
    }

    fn soa(serial: u32) -> T {
        t(ORIGIN, Data::Soa(serial))
    }

    fn a(owner: &str, last: u8) -> T {
        t(owner, Data::A([192, 0, 2, last]))
    }

    fn txt(owner: &str, s: &str) -> T {
        t(owner, Data::Txt(s.to_string()))
    }

    /// A writer with a simple suffix compressor (case kept): every name suffix written in this message
    /// (outside non-compressible RDATA) may be pointed at later.
    struct Enc {
        buf: Vec<u8>,
        suffixes: Vec<(Vec<u8>, usize)>,
    }

    impl Enc {
        fn name(&mut self, text: &str, compress: bool) {
            let w = text_to_wire(text).unwrap();
            let mut at = 0;
            while w[at] != 0 {
                // Exact bytes: a case-insensitive match would change the case the test
                // expects back (legal, and what some servers do).
                let suffix = w[at..].to_vec();
                if compress {
                    if let Some(&(_, off)) = self.suffixes.iter().find(|(s, _)| *s == suffix) {
                        self.buf
                            .extend_from_slice(&(0xC000 | off as u16).to_be_bytes());
                        return;
                    }
                    if self.buf.len() < 0x3FFF {
                        self.suffixes.push((suffix, self.buf.len()));
                    }
                }
                let l = w[at] as usize;
                self.buf.extend_from_slice(&w[at..at + 1 + l]);
                at += 1 + l;
            }
            self.buf.push(0);
        }

        fn record(&mut self, r: &T) {
            self.name(&r.owner, true);
            let (rtype, _) = r.data.type_and_wire();
            self.buf.extend_from_slice(&rtype.to_be_bytes());
            self.buf.extend_from_slice(&CLASS_IN.to_be_bytes());
            self.buf.extend_from_slice(&300u32.to_be_bytes());
            let len_at = self.buf.len();
            self.buf.extend_from_slice(&[0, 0]);
            match &r.data {
                Data::A(ip) => self.buf.extend_from_slice(ip),
                Data::Ns(n) => self.name(n, true),
                Data::Mx(p, n) => {
                    self.buf.extend_from_slice(&p.to_be_bytes());
                    self.name(n, true);
                }
                Data::Txt(s) => {
                    self.buf.push(s.len() as u8);
                    self.buf.extend_from_slice(s.as_bytes());
                }
                Data::Srv(n) => {
                    self.buf.extend_from_slice(&[0, 1, 0, 2, 0, 53]);
                    self.name(n, false);
                }
                Data::Soa(serial) => {
                    self.name(&format!("ns1.{ORIGIN}"), true);
                    self.name(&format!("hostmaster.{ORIGIN}"), true);
                    self.buf.extend_from_slice(&serial.to_be_bytes());
                    for v in [3600u32, 600, 86400, 300] {
                        self.buf.extend_from_slice(&v.to_be_bytes());
                    }
                }
            }
            let len = (self.buf.len() - len_at - 2) as u16;
            self.buf[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
        }
    }

    impl Data {
        /// The type and the uncompressed RDATA.
        fn type_and_wire(&self) -> (u16, Vec<u8>) {
            let n = |s: &str| text_to_wire(s).unwrap();
            match self {
                Data::A(ip) => (1, ip.to_vec()),
                Data::Ns(s) => (2, n(s)),
                Data::Mx(p, s) => (15, [&p.to_be_bytes()[..], &n(s)].concat()),
                Data::Txt(s) => (TXT, [&[s.len() as u8][..], s.as_bytes()].concat()),
                Data::Srv(s) => (33, [&[0, 1, 0, 2, 0, 53][..], &n(s)].concat()),
                Data::Soa(serial) => {
                    let mut rd = n(&format!("ns1.{ORIGIN}"));
                    rd.extend(n(&format!("hostmaster.{ORIGIN}")));
                    rd.extend_from_slice(&serial.to_be_bytes());
                    for v in [3600u32, 600, 86400, 300] {
                        rd.extend_from_slice(&v.to_be_bytes());
                    }
                    (TYPE_SOA, rd)
                }
            }
        }
    }

    impl T {
        /// The record in uncompressed wire form, as the sink gets it.
        fn wire(&self) -> Vec<u8> {
            let (rtype, rdata) = self.data.type_and_wire();
            let owner = text_to_wire(&self.owner).unwrap();
            let mut out = Vec::new();
            Rr {
                owner: &owner,
                rtype,
                class: CLASS_IN,
                ttl: 300,
                rdata: &rdata,
            }
            .write_wire(&mut out);
            out
        }
    }

    /// A test primary: renders the response messages to one query, signing each when the
    /// query was signed (with the server-side signer, so the chain is the real one).
    struct Primary {
        id: u16,
        qtype: u16,
        flags: u16,
        signer: Option<ResponseSigner>,
    }

    impl Primary {
        /// Reads the client's framed query and, with `key`, verifies its TSIG as a server does.
        fn answering(framed: &[u8], key: Option<&Key>) -> Primary {
            let q = &framed[LENGTH_PREFIX_BYTES..];
            assert_eq!(u16::from_be_bytes([framed[0], framed[1]]) as usize, q.len());
            let parsed = crate::parse_query(q).unwrap();
            let signer = key.map(|k| {
                let rr = tsig::find_record(q).unwrap().expect("the query is signed");
                let v = tsig::verify_request(q, &rr, |_| Some(k), NOW).unwrap();
                ResponseSigner::new(&v)
            });
            Primary {
                id: u16::from_be_bytes([q[0], q[1]]),
                qtype: parsed.qtype,
                flags: FLAG_QR | FLAG_AA,
                signer,
            }
        }

        /// One message: the question when `question`, then `records`.
        fn message(&mut self, question: bool, records: &[T]) -> Vec<u8> {
            let h = Header {
                id: self.id,
                flags: self.flags,
                qdcount: question as u16,
                ancount: records.len() as u16,
                nscount: 0,
                arcount: 0,
            };
            let mut e = Enc {
                buf: h.to_bytes().to_vec(),
                suffixes: Vec::new(),
            };
            if question {
                e.name(ORIGIN, true);
                e.buf.extend_from_slice(&self.qtype.to_be_bytes());
                e.buf.extend_from_slice(&CLASS_IN.to_be_bytes());
            }
            for r in records {
                e.record(r);
            }
            let mut m = e.buf;
            if let Some(s) = self.signer.as_mut() {
                let mut rr = [0u8; RR_BYTES_MAX];
                let n = s.sign(&[&m], NOW, &mut rr);
                m.extend_from_slice(&rr[..n]);
                m[11] += 1;
            }
            m
        }

        /// The messages of a response cut after the record counts in `cuts` (the rest in a
        /// last message); the question in the first only.
        fn stream(&mut self, records: &[T], cuts: &[usize]) -> Vec<Vec<u8>> {
            let mut out = Vec::new();
            let mut from = 0;
            for &c in cuts.iter().chain(std::iter::once(&records.len())) {
                let c = c.clamp(from, records.len());
                out.push(self.message(out.is_empty(), &records[from..c]));
                from = c;
            }
            out
        }
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Ev {
        BeginFull(Vec<u8>),
        Rec(Vec<u8>),
        EndFull,
        BeginDiff(Vec<u8>),
        Del(Vec<u8>),
        Adds(Vec<u8>),
        Add(Vec<u8>),
        EndDiff(u32, u32),
    }

    /// Collects every call; refuses deletes of `refuse` (a record "not held").
    #[derive(Debug, Default)]
    struct Collect {
        events: Vec<Ev>,
        refuse: Option<Vec<u8>>,
    }

    fn w(rr: &Rr<'_>) -> Vec<u8> {
        let mut v = Vec::new();
        rr.write_wire(&mut v);
        v
    }

    impl Sink for Collect {
        fn begin_full(&mut self, soa: &Rr<'_>) -> Result<(), SinkError> {
            self.events.push(Ev::BeginFull(w(soa)));
            Ok(())
        }
        fn record(&mut self, rr: &Rr<'_>) -> Result<(), SinkError> {
            self.events.push(Ev::Rec(w(rr)));
            Ok(())
        }
        fn end_full(&mut self) -> Result<(), SinkError> {
            self.events.push(Ev::EndFull);
            Ok(())
        }
        fn begin_diff(&mut self, old_soa: &Rr<'_>) -> Result<(), SinkError> {
            self.events.push(Ev::BeginDiff(w(old_soa)));
            Ok(())
        }
        fn delete(&mut self, rr: &Rr<'_>) -> Result<(), SinkError> {
            if self.refuse.as_deref() == Some(&w(rr)[..]) {
                return Err("delete of a record not held".into());
            }
            self.events.push(Ev::Del(w(rr)));
            Ok(())
        }
        fn begin_additions(&mut self, new_soa: &Rr<'_>) -> Result<(), SinkError> {
            self.events.push(Ev::Adds(w(new_soa)));
            Ok(())
        }
        fn add(&mut self, rr: &Rr<'_>) -> Result<(), SinkError> {
            self.events.push(Ev::Add(w(rr)));
            Ok(())
        }
        fn end_diff(&mut self, old_serial: u32, new_serial: u32) -> Result<(), SinkError> {
            self.events.push(Ev::EndDiff(old_serial, new_serial));
            Ok(())
        }
    }

    fn origin() -> Vec<u8> {
        text_to_wire(ORIGIN).unwrap()
    }

    fn key() -> Key {
        Key::parse_spec("xfr-key.:hmac-sha256:MDEyMzQ1Njc4OWFiY2RlZg==").unwrap()
    }

    /// A client and the primary answering its query.
    fn pair(kind: Kind, key: Option<&Key>) -> (XfrIn, Primary) {
        let mut q = Vec::new();
        let x = XfrIn::new(&origin(), kind, ID, key, NOW, &mut q);
        (x, Primary::answering(&q, key))
    }

    /// Feeds every message; the outcome of the last, or the first error.
    fn drive(x: &mut XfrIn, msgs: &[Vec<u8>], sink: &mut Collect) -> Result<Outcome, XfrInError> {
        for m in msgs {
            if let Progress::Done(o) = x.feed(m, NOW, sink)? {
                return Ok(o);
            }
        }
        x.finish()
    }

    fn zone() -> Vec<T> {
        vec![
            soa(7),
            t(ORIGIN, Data::Ns(format!("ns1.{ORIGIN}"))),
            t(ORIGIN, Data::Mx(10, format!("Mail.{ORIGIN}"))),
            a(&format!("ns1.{ORIGIN}"), 1),
            a(&format!("Mail.{ORIGIN}"), 2),
            t(
                &format!("_dns._tcp.{ORIGIN}"),
                Data::Srv(format!("ns1.{ORIGIN}")),
            ),
            txt(&format!("a.b.c.{ORIGIN}"), "deep"),
            soa(7),
        ]
    }

    /// The events a full zone of `records` (SOA first and last) gives.
    fn full_events(records: &[T]) -> Vec<Ev> {
        let mut ev = vec![Ev::BeginFull(records[0].wire())];
        ev.extend(
            records[1..records.len() - 1]
                .iter()
                .map(|r| Ev::Rec(r.wire())),
        );
        ev.push(Ev::EndFull);
        ev
    }

    #[test]
    fn the_query_is_framed_and_carries_the_ixfr_serial() {
        let mut q = vec![0xAA];
        let _ = XfrIn::new(&origin(), Kind::Ixfr { serial: 41 }, 9, None, NOW, &mut q);
        assert_eq!(q[0], 0xAA, "appended after what the buffer held");
        let parsed = crate::parse_query(&q[3..]).unwrap();
        assert_eq!((parsed.id, parsed.qtype), (9, TYPE_IXFR));
        assert_eq!(parsed.ixfr_serial, Some(41));
        assert_eq!(usize::from(u16::from_be_bytes([q[1], q[2]])), q.len() - 3);
        let mut q = Vec::new();
        let _ = XfrIn::new(&origin(), Kind::Axfr, 9, Some(&key()), NOW, &mut q);
        let m = &q[2..];
        assert_eq!(crate::parse_query(m).unwrap().qtype, TYPE_AXFR);
        assert!(tsig::find_record(m).unwrap().is_some());
    }

    #[test]
    fn axfr_in_one_message() {
        let (mut x, mut p) = pair(Kind::Axfr, None);
        let z = zone();
        let msgs = p.stream(&z, &[]);
        assert_eq!(msgs.len(), 1);
        let mut sink = Collect::default();
        let o = drive(&mut x, &msgs, &mut sink).unwrap();
        assert_eq!(sink.events, full_events(&z));
        assert_eq!(
            (o.shape, o.serial, o.messages, o.records, o.diffs),
            (Shape::Full, 7, 1, z.len() as u64, 0)
        );
        assert_eq!(x.finish().unwrap(), o);
        assert!(x.is_done());
    }

    #[test]
    fn axfr_in_many_messages_even_empty_ones() {
        let (mut x, mut p) = pair(Kind::Axfr, None);
        let z = zone();
        let msgs = p.stream(&z, &[1, 1, 3, 7]);
        assert_eq!(msgs.len(), 5);
        let mut sink = Collect::default();
        let o = drive(&mut x, &msgs, &mut sink).unwrap();
        assert_eq!(sink.events, full_events(&z));
        assert_eq!(o.messages, 5);
    }

    #[test]
    fn names_in_rdata_are_decompressed_only_for_the_well_known_types() {
        // The SRV target is written uncompressed, the MX exchange and NS host compressed:
        // the sink sees every one whole (full_events compares uncompressed forms).
        let (mut x, mut p) = pair(Kind::Axfr, None);
        let z = zone();
        let msgs = p.stream(&z, &[]);
        assert!(msgs[0].len() < z.iter().map(|r| r.wire().len()).sum::<usize>());
        let mut sink = Collect::default();
        drive(&mut x, &msgs, &mut sink).unwrap();
        assert!(sink.events.contains(&Ev::Rec(z[2].wire())));
        assert!(sink.events.contains(&Ev::Rec(z[5].wire())));
    }

    /// Version 1 → 2 → 3 of a small zone, as RFC 1995 section 7's example lays out diffs.
    fn two_diffs() -> Vec<T> {
        let n = |s: &str| format!("{s}.{ORIGIN}");
        vec![
            soa(3),
            soa(1),
            a(&n("nezu"), 3),
            soa(2),
            a(&n("jain-bb"), 4),
            a(&n("jain-bb"), 5),
            soa(2),
            a(&n("jain-bb"), 4),
            soa(3),
            a(&n("jain-bb"), 6),
            soa(3),
        ]
    }

    #[test]
    fn ixfr_with_one_diff() {
        let (mut x, mut p) = pair(Kind::Ixfr { serial: 1 }, None);
        let n = format!("nezu.{ORIGIN}");
        let recs = vec![soa(2), soa(1), a(&n, 3), soa(2), a(&n, 4), soa(2)];
        let mut sink = Collect::default();
        let o = drive(&mut x, &p.stream(&recs, &[1]), &mut sink).unwrap();
        assert_eq!(
            sink.events,
            vec![
                Ev::BeginDiff(soa(1).wire()),
                Ev::Del(a(&n, 3).wire()),
                Ev::Adds(soa(2).wire()),
                Ev::Add(a(&n, 4).wire()),
                Ev::EndDiff(1, 2),
            ]
        );
        assert_eq!(
            (o.shape, o.serial, o.diffs, o.messages),
            (Shape::Incremental, 2, 1, 2)
        );
    }

    #[test]
    fn ixfr_with_many_diffs_split_anywhere() {
        let recs = two_diffs();
        let want = {
            let (mut x, mut p) = pair(Kind::Ixfr { serial: 1 }, None);
            let mut sink = Collect::default();
            let o = drive(&mut x, &p.stream(&recs, &[]), &mut sink).unwrap();
            assert_eq!((o.shape, o.serial, o.diffs), (Shape::Incremental, 3, 2));
            sink.events
        };
        assert_eq!(want.len(), 11);
        assert_eq!(want[5], Ev::EndDiff(1, 2));
        assert_eq!(want[10], Ev::EndDiff(2, 3));
        for cut in 0..=recs.len() {
            let (mut x, mut p) = pair(Kind::Ixfr { serial: 1 }, None);
            let mut sink = Collect::default();
            drive(&mut x, &p.stream(&recs, &[cut]), &mut sink).unwrap();
            assert_eq!(sink.events, want, "cut after {cut}");
        }
    }

    #[test]
    fn ixfr_answered_axfr_style_gives_a_full_zone() {
        let z = zone();
        for cut in [0, 1, 2] {
            let (mut x, mut p) = pair(Kind::Ixfr { serial: 3 }, None);
            let mut sink = Collect::default();
            let o = drive(&mut x, &p.stream(&z, &[cut]), &mut sink).unwrap();
            assert_eq!(sink.events, full_events(&z), "cut after {cut}");
            assert_eq!((o.shape, o.serial), (Shape::Full, 7));
        }
        // A zone of its SOA alone: SOA, SOA with one serial.
        let (mut x, mut p) = pair(Kind::Ixfr { serial: 3 }, None);
        let mut sink = Collect::default();
        let o = drive(&mut x, &p.stream(&[soa(7), soa(7)], &[1]), &mut sink).unwrap();
        assert_eq!(sink.events, vec![Ev::BeginFull(soa(7).wire()), Ev::EndFull]);
        assert_eq!(o.shape, Shape::Full);
    }

    #[test]
    fn up_to_date_is_a_lone_soa_not_newer_than_ours() {
        for (held, primary) in [(7, 7), (8, 7), (1, u32::MAX)] {
            let (mut x, mut p) = pair(Kind::Ixfr { serial: held }, None);
            let mut sink = Collect::default();
            let o = drive(&mut x, &p.stream(&[soa(primary)], &[]), &mut sink).unwrap();
            assert_eq!((o.shape, o.serial), (Shape::UpToDate, primary));
            assert!(sink.events.is_empty());
            // Nothing may follow.
            let extra = p.message(false, &[soa(primary)]);
            assert!(matches!(
                x.feed(&extra, NOW, &mut sink),
                Err(XfrInError::AfterEnd { message: 2 })
            ));
            assert!(matches!(x.finish(), Err(XfrInError::Failed)));
        }
        // Not newer, but a whole zone behind it: we never go back.
        let (mut x, mut p) = pair(Kind::Ixfr { serial: 9 }, None);
        let err = drive(&mut x, &p.stream(&zone(), &[]), &mut Collect::default()).unwrap_err();
        assert_matches!(
            err,
            XfrInError::NotNewer {
                held: 9,
                primary: 7,
                ..
            }
        );
        // Newer, yet alone: the rest of the answer never came.
        let (mut x, mut p) = pair(Kind::Ixfr { serial: 5 }, None);
        let err = drive(&mut x, &p.stream(&[soa(7)], &[]), &mut Collect::default()).unwrap_err();
        assert_matches!(
            err,
            XfrInError::Truncated {
                messages: 1,
                records: 1
            }
        );
    }

    #[test]
    fn serial_arithmetic_follows_rfc_1982() {
        assert!(serial_newer(2, 1));
        assert!(serial_newer(0, u32::MAX));
        assert!(serial_newer(5, u32::MAX - 5));
        assert!(!serial_newer(1, 2));
        assert!(!serial_newer(3, 3));
        // 2^31 apart: undefined, so neither is newer.
        assert!(!serial_newer(1 << 31, 0) && !serial_newer(0, 1 << 31));
        // An IXFR across the wrap of the serial.
        let (mut x, mut p) = pair(Kind::Ixfr { serial: u32::MAX }, None);
        let n = format!("w.{ORIGIN}");
        let recs = vec![soa(1), soa(u32::MAX), soa(1), a(&n, 1), soa(1)];
        let o = drive(&mut x, &p.stream(&recs, &[]), &mut Collect::default()).unwrap();
        assert_eq!((o.shape, o.serial), (Shape::Incremental, 1));
    }

    /// Feeds `msgs` and returns the error, which must come.
    fn rejected(x: &mut XfrIn, msgs: &[Vec<u8>]) -> XfrInError {
        let err = drive(x, msgs, &mut Collect::default()).unwrap_err();
        // Poisoned from then on.
        assert!(matches!(
            x.feed(&msgs[0], NOW, &mut Collect::default()),
            Err(XfrInError::Failed)
        ));
        err
    }

    #[test]
    fn header_rejections() {
        let z = zone();
        let (mut x, mut p) = pair(Kind::Axfr, None);
        let mut msgs = p.stream(&z, &[3]);
        msgs[1][1] ^= 1;
        let e = rejected(&mut x, &msgs);
        assert_matches!(e, XfrInError::WrongId { message: 2, want: ID, got } if got == ID ^ 1);

        let (mut x, mut p) = pair(Kind::Axfr, None);
        p.flags = FLAG_AA;
        let e = rejected(&mut x, &p.stream(&z, &[]));
        assert_matches!(e, XfrInError::NotResponse { message: 1 });

        let (mut x, mut p) = pair(Kind::Axfr, None);
        p.flags = FLAG_QR | (4 << crate::wire::OPCODE_SHIFT);
        let e = rejected(&mut x, &p.stream(&z, &[]));
        assert_matches!(
            e,
            XfrInError::WrongOpcode {
                message: 1,
                opcode: 4
            }
        );

        let (mut x, mut p) = pair(Kind::Axfr, None);
        p.flags = FLAG_QR | FLAG_TC;
        let e = rejected(&mut x, &p.stream(&z, &[]));
        assert_matches!(e, XfrInError::Truncation { message: 1 });

        let (mut x, _) = pair(Kind::Axfr, None);
        let e = rejected(&mut x, &[vec![0; 5]]);
        assert_matches!(e, XfrInError::Malformed { message: 1, .. });

        // A record cut short.
        let (mut x, mut p) = pair(Kind::Axfr, None);
        let mut msgs = p.stream(&z, &[]);
        let n = msgs[0].len();
        msgs[0].truncate(n - 3);
        let e = rejected(&mut x, &msgs);
        assert_matches!(e, XfrInError::Malformed { message: 1, .. });
    }

    #[test]
    fn rcodes_are_named_and_ixfr_refusals_fall_back() {
        for (kind, rcode, name, fallback) in [
            (Kind::Ixfr { serial: 1 }, RCODE_NOTIMP, "NOTIMP", true),
            (Kind::Ixfr { serial: 1 }, RCODE_FORMERR, "FORMERR", true),
            (Kind::Ixfr { serial: 1 }, RCODE_REFUSED, "REFUSED", false),
            (Kind::Axfr, RCODE_NOTAUTH, "NOTAUTH", false),
            (Kind::Axfr, RCODE_NOTIMP, "NOTIMP", false),
        ] {
            let (mut x, mut p) = pair(kind, None);
            p.flags = FLAG_QR | rcode as u16;
            let e = rejected(&mut x, &[p.message(true, &[])]);
            assert_matches!(e, XfrInError::Rcode { message: 1, .. });
            assert!(e.to_string().contains(name), "{e}");
            assert_eq!(e.falls_back_to_axfr(), fallback, "{e}");
        }
        assert_eq!(rcode_name(23), "RCODE 23");
    }

    #[test]
    fn the_question_must_be_ours_and_present_first() {
        let z = zone();
        // Missing from the first message.
        let (mut x, mut p) = pair(Kind::Axfr, None);
        let e = rejected(&mut x, &[p.message(false, &z)]);
        assert_matches!(e, XfrInError::QuestionMissing { message: 1 });
        // Another type (IXFR asked, AXFR in the question).
        let (mut x, mut p) = pair(Kind::Ixfr { serial: 1 }, None);
        p.qtype = TYPE_AXFR;
        let e = rejected(&mut x, &p.stream(&z, &[]));
        assert_matches!(e, XfrInError::QuestionMismatch { message: 1 });
        // Another name, in a later message.
        let (mut x, mut p) = pair(Kind::Axfr, None);
        let mut msgs = p.stream(&z, &[2]);
        let mut other = p.message(true, &z[2..]);
        other[13] = b'x'; // "example" → "xxample"
        msgs[1] = other;
        let e = rejected(&mut x, &msgs);
        assert_matches!(e, XfrInError::QuestionMismatch { message: 2 });
        // The name in another case, repeated in a later message: fine.
        let (mut x, mut p) = pair(Kind::Axfr, None);
        let mut msgs = p.stream(&z, &[2]);
        msgs[1] = p.message(true, &z[2..]);
        msgs[0][13] = b'E';
        drive(&mut x, &msgs, &mut Collect::default()).unwrap();
        // Two questions.
        let (mut x, mut p) = pair(Kind::Axfr, None);
        let mut msgs = p.stream(&z, &[]);
        msgs[0][5] = 2;
        let e = rejected(&mut x, &msgs);
        assert_matches!(e, XfrInError::QuestionMismatch { message: 1 });
    }

    #[test]
    fn content_rejections() {
        let z = zone();
        let n = format!("n.{ORIGIN}");
        let case = |kind: Kind, recs: Vec<T>, cuts: &[usize]| {
            let (mut x, mut p) = pair(kind, None);
            rejected(&mut x, &p.stream(&recs, cuts))
        };
        let e = case(Kind::Axfr, z[1..].to_vec(), &[]);
        assert_matches!(e, XfrInError::FirstNotSoa { message: 1 });

        let mut out = z.clone();
        out.insert(3, a("www.example.net.", 9));
        let e = case(Kind::Axfr, out, &[2]);
        assert!(
            matches!(&e, XfrInError::OutOfZone { message: 2, owner } if owner == "www.example.net."),
            "{e}"
        );
        // A suffix that is not a label boundary is outside too.
        let mut out = z.clone();
        out.insert(3, a("notexample.com.", 9));
        let e = case(Kind::Axfr, out, &[]);
        assert_matches!(e, XfrInError::OutOfZone { .. });

        let mut out = z.clone();
        out.insert(3, t(&n, Data::Soa(7)));
        let e = case(Kind::Axfr, out, &[]);
        assert_matches!(e, XfrInError::MisplacedSoa { .. });

        let mut out = z.clone();
        *out.last_mut().unwrap() = soa(8);
        let e = case(Kind::Axfr, out, &[]);
        assert_matches!(
            e,
            XfrInError::FinalSoaMismatch {
                first: 7,
                got: 8,
                ..
            }
        );

        // Records after the final SOA, in the same message and in a later one.
        let mut out = z.clone();
        out.push(a(&n, 1));
        let e = case(Kind::Axfr, out.clone(), &[]);
        assert_matches!(e, XfrInError::AfterEnd { message: 1 });
        let (mut x, mut p) = pair(Kind::Axfr, None);
        let msgs = p.stream(&out, &[z.len()]);
        let mut sink = Collect::default();
        assert!(matches!(
            x.feed(&msgs[0], NOW, &mut sink),
            Ok(Progress::Done(_))
        ));
        let e = x.feed(&msgs[1], NOW, &mut sink).unwrap_err();
        assert_matches!(e, XfrInError::AfterEnd { message: 2 });

        // Serials that do not chain, each with the serial wanted and the one found: the first
        // diff not at ours; 1 → 2 then 3 → 4; 1 → 2 then the final SOA 3.
        for (recs, cuts, message, want, got) in [
            (vec![soa(3), soa(2), soa(3), soa(3)], &[][..], 1, 1, 2),
            (
                vec![soa(4), soa(1), soa(2), soa(3), soa(4), soa(4)],
                &[3],
                2,
                2,
                3,
            ),
            (vec![soa(3), soa(1), soa(2), soa(3)], &[], 1, 2, 3),
        ] {
            let e = case(Kind::Ixfr { serial: 1 }, recs, cuts);
            assert_matches!(
                e,
                XfrInError::DiffChain { message: m, want: w, got: g }
                    if (m, w, g) == (message, want, got)
            );
        }
        // A diff going backwards: 5 → 4 inside a response whose first SOA is newer.
        let e = case(
            Kind::Ixfr { serial: 5 },
            vec![soa(6), soa(5), a(&n, 1), soa(4), soa(4)],
            &[],
        );
        assert_matches!(e, XfrInError::SerialBackwards { from: 5, to: 4, .. });

        // Truncated: the stream ends mid-zone, mid-diff, before any record.
        let (mut x, mut p) = pair(Kind::Axfr, None);
        let msgs = p.stream(&z, &[4]);
        let mut sink = Collect::default();
        assert_eq!(x.feed(&msgs[0], NOW, &mut sink).unwrap(), Progress::More);
        let e = x.finish().unwrap_err();
        assert_matches!(
            e,
            XfrInError::Truncated {
                messages: 1,
                records: 4
            }
        );
        let (mut x, mut p) = pair(Kind::Ixfr { serial: 1 }, None);
        let recs = two_diffs();
        let msgs = p.stream(&recs, &[5]);
        assert_eq!(x.feed(&msgs[0], NOW, &mut sink).unwrap(), Progress::More);
        assert!(matches!(x.finish(), Err(XfrInError::Truncated { .. })));
        let (mut x, _) = pair(Kind::Axfr, None);
        assert!(matches!(
            x.finish(),
            Err(XfrInError::Truncated { messages: 0, .. })
        ));
    }

    #[test]
    fn a_class_other_than_in_is_rejected() {
        let (mut x, mut p) = pair(Kind::Axfr, None);
        let mut msgs = p.stream(&zone(), &[]);
        // The first record's class follows the question and its compressed owner.
        let q_end = HEADER_BYTES + origin().len() + 4;
        assert_eq!(msgs[0][q_end..q_end + 2], [0xC0, 12]);
        msgs[0][q_end + 4..q_end + 6].copy_from_slice(&3u16.to_be_bytes());
        let e = rejected(&mut x, &msgs);
        assert_matches!(
            e,
            XfrInError::WrongClass {
                message: 1,
                class: 3
            }
        );
    }

    #[test]
    fn the_builder_may_refuse_a_delete() {
        let (mut x, mut p) = pair(Kind::Ixfr { serial: 1 }, None);
        let recs = two_diffs();
        let mut sink = Collect {
            refuse: Some(recs[4].wire()),
            ..Default::default()
        };
        let msgs = p.stream(&recs, &[3]);
        let err = drive(&mut x, &msgs, &mut sink).unwrap_err();
        assert_matches!(err, XfrInError::Sink { message: 2, .. });
        assert!(err.to_string().contains("not held"), "{err}");
    }

    #[test]
    fn tsig_on_every_message_chained() {
        let k = key();
        let z = zone();
        for kind in [Kind::Axfr, Kind::Ixfr { serial: 1 }] {
            let (mut x, mut p) = pair(kind, Some(&k));
            let msgs = p.stream(&z, &[1, 3, 5]);
            let mut sink = Collect::default();
            let o = drive(&mut x, &msgs, &mut sink).unwrap();
            assert_eq!((o.messages, o.messages_signed), (4, 4));
            assert_eq!(sink.events, full_events(&z));
        }
        // Message 3 unsigned (its TSIG record cut off): rejected, naming message 3, and no
        // record of message 3 reached the sink.
        let (mut x, mut p) = pair(Kind::Axfr, Some(&k));
        let mut msgs = p.stream(&z, &[1, 3, 5]);
        let rr_bytes = k.rr_bytes();
        let m3 = &mut msgs[2];
        m3.truncate(m3.len() - rr_bytes);
        m3[11] -= 1;
        let mut sink = Collect::default();
        let e = drive(&mut x, &msgs, &mut sink).unwrap_err();
        assert_matches!(
            e,
            XfrInError::Tsig {
                message: 3,
                error: ResponseError::Missing
            }
        );
        assert!(e.to_string().starts_with("message 3: "), "{e}");
        assert_eq!(sink.events.len(), 3, "records of messages 1 and 2 only");
        // A flipped bit in message 2's MAC (the last bytes before other-len, error, orig-id).
        let (mut x, mut p) = pair(Kind::Axfr, Some(&k));
        let mut msgs = p.stream(&z, &[1, 3, 5]);
        let n = msgs[1].len();
        msgs[1][n - 7] ^= 1;
        let e = rejected(&mut x, &msgs);
        assert_matches!(
            e,
            XfrInError::Tsig {
                message: 2,
                error: ResponseError::BadSig
            }
        );
        // Messages signed correctly but in another order: the chain breaks.
        let (mut x, mut p) = pair(Kind::Axfr, Some(&k));
        let mut msgs = p.stream(&z, &[1, 3, 5]);
        msgs.swap(1, 2);
        let e = rejected(&mut x, &msgs);
        assert_matches!(e, XfrInError::Tsig { message: 2, .. });
        // A response to a signed query from a primary that did not sign at all.
        let (mut x, mut p) = pair(Kind::Axfr, Some(&k));
        p.signer = None;
        let e = rejected(&mut x, &p.stream(&z, &[]));
        assert_matches!(
            e,
            XfrInError::Tsig {
                message: 1,
                error: ResponseError::Missing
            }
        );
        // Signed with another secret.
        let other = Key::new(
            b"\x07xfr-key\x00",
            Algorithm::HmacSha256,
            b"another secret..",
        )
        .unwrap();
        let (mut x, _) = pair(Kind::Axfr, Some(&k));
        let mut q = Vec::new();
        let _ = XfrIn::new(&origin(), Kind::Axfr, ID, Some(&other), NOW, &mut q);
        let mut p = Primary::answering(&q, Some(&other));
        let e = rejected(&mut x, &p.stream(&z, &[]));
        assert_matches!(
            e,
            XfrInError::Tsig {
                message: 1,
                error: ResponseError::BadSig
            }
        );
        let _ = MacBuf::default();
    }

    #[test]
    fn names_below_the_zone() {
        let o = origin();
        assert!(in_zone(&text_to_wire("a.example.com.").unwrap(), &o));
        assert!(in_zone(&text_to_wire("A.b.EXAMPLE.com.").unwrap(), &o));
        assert!(in_zone(&o, &o), "the apex is in the zone");
        assert!(!in_zone(&text_to_wire("aexample.com.").unwrap(), &o));
        assert!(!in_zone(&text_to_wire("com.").unwrap(), &o));
        assert!(!in_zone(&text_to_wire("example.org.").unwrap(), &o));
        // Under the root zone, every name is.
        assert!(in_zone(&o, b"\x00"));
    }

    fn any_record() -> impl proptest::strategy::Strategy<Value = T> {
        use proptest::prelude::*;
        let owner = prop_oneof![
            Just(ORIGIN.to_string()),
            "[a-c]{1,3}".prop_map(|l| format!("{l}.{ORIGIN}")),
            "[a-c]{1,3}\\.[A-C]{1,3}".prop_map(|l| format!("{l}.{ORIGIN}")),
        ];
        let host = "[a-c]{1,3}".prop_map(|l| format!("{l}.{ORIGIN}"));
        let data = prop_oneof![
            any::<u8>().prop_map(|b| Data::A([192, 0, 2, b])),
            host.clone().prop_map(Data::Ns),
            (any::<u16>(), host.clone()).prop_map(|(p, h)| Data::Mx(p, h)),
            "[ -~]{0,40}".prop_map(Data::Txt),
            host.prop_map(Data::Srv),
        ];
        (owner, data).prop_map(|(owner, data)| T { owner, data })
    }

    proptest::proptest! {
        /// A valid AXFR stream cut into messages at any record boundaries, signed or not,
        /// gives the same records.
        #[test]
        fn any_split_gives_the_same_records(
            body in proptest::collection::vec(any_record(), 0..40),
            mut cuts in proptest::collection::vec(0usize..42, 0..8),
            signed in proptest::prelude::any::<bool>(),
        ) {
            let mut recs = vec![soa(9)];
            recs.extend(body);
            recs.push(soa(9));
            cuts.retain(|&c| c < recs.len());
            cuts.sort_unstable();
            let k = key();
            let key = signed.then_some(&k);
            let (mut x, mut p) = pair(Kind::Axfr, key);
            let msgs = p.stream(&recs, &cuts);
            let mut sink = Collect::default();
            let o = drive(&mut x, &msgs, &mut sink).unwrap();
            proptest::prop_assert_eq!(sink.events, full_events(&recs));
            proptest::prop_assert_eq!(o.messages as usize, msgs.len());
            proptest::prop_assert_eq!(o.records as usize, recs.len());
        }

        /// Any bytes as a response: errors, never a panic, and never Done with records of a
        /// stream that did not end.
        #[test]
        fn garbage_never_panics(
            msgs in proptest::collection::vec(
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), 1..4),
        ) {
            let (mut x, _) = pair(Kind::Ixfr { serial: 1 }, None);
            let mut sink = Collect::default();
            for mut m in msgs {
                if m.len() >= 4 {
                    // Give it a chance to get past the header checks.
                    m[..2].copy_from_slice(&ID.to_be_bytes());
                    m[2] = 0x84;
                    m[3] = 0;
                }
                if x.feed(&m, NOW, &mut sink).is_err() {
                    break;
                }
            }
            let _ = x.finish();
        }
    }
}
