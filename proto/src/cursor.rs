//! The transfer cursor: the byte stream of an AXFR response, sent in batches, surviving partial
//! writes.
//!
//! A response is `message_count` DNS messages. On the wire each is
//! `[2-byte length][12-byte header][question as the client wrote it][stored body]`. The stored
//! bodies (answer sections) exist already (mmapped, in the engine); the cursor writes only the
//! 14-byte prefixes, into a caller-owned array, and describes each batch as `IoSlice`s
//! (`[prefix][question][body]` per message) that the engine hands to one `sendmsg`.
//!
//! Header values (RFC 5936 section 2.2.1): ID copied from the query, QR=1, OPCODE=0, AA=1, TC=0,
//! RD and CD copied from the query, RA=0, Z=0, AD=0, RCODE=0; QDCOUNT=1 in every message (the
//! stored bodies' compression pointers assume the question precedes them, and RFC 5936 section
//! 2.2 allows the question in every message), ANCOUNT from the store, NSCOUNT=ARCOUNT=0.
//!
//! When the query carried an OPT record, the first message carries one too, after the body (RFC
//! 5936 section 2.2.5: "it SHOULD include one OPT RR in the first response message"): one more
//! piece, whose bytes the caller keeps beside the question ([`TransferCursor::with_opt`]),
//! counted in the first message's ARCOUNT. Later messages carry none.
//!
//! A signed transfer (RFC 8945 section 5.3.1) adds a fourth piece to every message, its TSIG
//! record, and counts it in ARCOUNT. Each message is signed exactly once, when it first enters a
//! batch (a MAC chains on the previous one, so a message cut by a partial write must not be
//! signed again): its record is kept in the caller's record buffer, slot `index % slots`, until
//! it has been sent. The MAC covers the message as it would be without TSIG: the header with
//! the ARCOUNT of the OPT alone, the question, the body, the OPT (which goes before the TSIG
//! record, RFC 8945 section 5.3).
//!
//! Invariants, checked after every completion ([`TransferCursor::advance`]): at most one batch
//! in flight; the bytes acknowledged never exceed the batch; the progress counter
//! (`bytes_sent_total`) equals the framed length of the fully sent messages plus the offset into
//! the current one, two counts kept independently.

use std::io::IoSlice;

use crate::tsig::ResponseSigner;
use crate::wire::{FLAG_AA, FLAG_CD, FLAG_QR, FLAG_RD, HEADER_BYTES, MESSAGE_BYTES_MAX};

/// Bytes of a message prefix: TCP length (2) + DNS header (12).
pub const PREFIX_BYTES: usize = 2 + HEADER_BYTES;
/// Most pieces a batch takes beyond `pieces_per_message()` per message: the first message's OPT
/// record.
pub const EXTRA_PIECES_MAX: usize = 1;

/// The stored messages of one transfer, as the cursor needs them.
pub trait MessageSource {
    fn message_count(&self) -> usize;
    /// The body (answer section) of message `i`.
    fn body(&self, i: usize) -> &[u8];
    fn ancount(&self, i: usize) -> u16;
}

/// A batch handed out by [`TransferCursor::fill`] and not yet acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InFlight {
    bytes: usize,
}

/// Where a transfer stands. Plain data: no buffers, no references.
#[derive(Debug, Clone)]
pub struct TransferCursor {
    id: u16,
    flags: u16,
    question_len: usize,
    message_count: usize,
    /// The first message not completely sent.
    next_message: usize,
    /// Bytes of `next_message` (framed) already sent.
    offset_in_message: usize,
    /// Progress counter: every byte acknowledged by [`TransferCursor::advance`].
    bytes_sent_total: u64,
    /// Framed bytes of the messages before `next_message`, summed separately as a cross-check.
    bytes_complete_messages: u64,
    in_flight: Option<InFlight>,
    /// Bytes of each message's TSIG record; 0 for an unsigned transfer.
    tsig_bytes: usize,
    /// Messages before this one have been signed.
    signed_upto: usize,
    /// Bytes of the first message's OPT record; 0 without.
    opt_len: usize,
}

/// What a signed transfer's [`TransferCursor::fill_with`] needs: the signer, and a buffer for
/// the records of the messages of one batch (`slots * rr_bytes` bytes, `slots` at least the
/// batch's message count), which must stay untouched while a batch is in flight.
#[derive(Debug)]
pub struct Signing<'a, 's> {
    pub signer: &'s mut ResponseSigner,
    pub records: &'a mut [u8],
    /// Seconds since the Unix epoch: the time signed.
    pub now_s: u64,
}

impl TransferCursor {
    /// A cursor for answering the query with `id` and header `request_flags`, whose question
    /// (as written) is `question_len` bytes, with `message_count` stored messages.
    pub fn new(id: u16, request_flags: u16, question_len: usize, message_count: usize) -> Self {
        assert!(message_count > 0, "a transfer has at least one message");
        TransferCursor {
            id,
            flags: FLAG_QR | FLAG_AA | (request_flags & (FLAG_RD | FLAG_CD)),
            question_len,
            message_count,
            next_message: 0,
            offset_in_message: 0,
            bytes_sent_total: 0,
            bytes_complete_messages: 0,
            in_flight: None,
            tsig_bytes: 0,
            signed_upto: 0,
            opt_len: 0,
        }
    }

    /// The same cursor for a transfer whose first message carries an OPT record of `opt_len`
    /// bytes (the caller passes those bytes to every fill). `first_body_bytes` is the first
    /// stored body's length: an OPT that would push that message beyond 65535 bytes is left
    /// out (RFC 5936 makes it a SHOULD) and the cursor is returned unchanged; see
    /// [`TransferCursor::opt_len`].
    pub fn with_opt(mut self, opt_len: usize, first_body_bytes: usize) -> Self {
        assert!(opt_len > 0 && self.bytes_sent_total == 0);
        let len = HEADER_BYTES + self.question_len + first_body_bytes + opt_len + self.tsig_bytes;
        if len <= MESSAGE_BYTES_MAX {
            self.opt_len = opt_len;
        }
        self
    }

    /// Bytes of the first message's OPT record (0: none): the length of the `opt` every fill
    /// takes.
    pub fn opt_len(&self) -> usize {
        self.opt_len
    }

    /// The same cursor for a signed transfer whose TSIG records are `rr_bytes` long (before
    /// [`TransferCursor::with_opt`], which counts them in its size check).
    pub fn signed(mut self, rr_bytes: usize) -> Self {
        assert!(rr_bytes > 0 && self.bytes_sent_total == 0);
        assert_eq!(self.opt_len, 0, "signed() goes before with_opt()");
        self.tsig_bytes = rr_bytes;
        self
    }

    pub fn is_signed(&self) -> bool {
        self.tsig_bytes > 0
    }

    /// Pieces per message in a batch: prefix, question, body, and the TSIG record if signed.
    /// The first message has one more, its OPT, when there is one ([`Self::extra_pieces`]).
    pub fn pieces_per_message(&self) -> usize {
        if self.is_signed() {
            4
        } else {
            3
        }
    }

    /// Pieces a batch may take beyond `pieces_per_message()` per message: the first message's
    /// OPT. An iovec array sized `messages * pieces_per_message() + EXTRA_PIECES_MAX` always
    /// holds a batch of `messages`.
    pub fn extra_pieces(&self) -> usize {
        (self.opt_len > 0) as usize
    }

    /// Every byte of every message has been acknowledged.
    pub fn is_done(&self) -> bool {
        self.next_message == self.message_count
    }

    /// No message is partly sent: another transfer's messages (or a reply) may follow on the
    /// same connection without splitting one of this transfer's messages.
    pub fn at_message_boundary(&self) -> bool {
        self.offset_in_message == 0 && self.in_flight.is_none()
    }

    pub fn has_in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    pub fn bytes_sent_total(&self) -> u64 {
        self.bytes_sent_total
    }

    /// Messages completely sent.
    pub fn messages_sent(&self) -> usize {
        self.next_message
    }

    pub fn message_count(&self) -> usize {
        self.message_count
    }

    fn framed_len<S: MessageSource + ?Sized>(&self, src: &S, i: usize) -> usize {
        PREFIX_BYTES + self.question_len + src.body(i).len() + self.opt_len_of(i) + self.tsig_bytes
    }

    /// Bytes of message `i`'s OPT record.
    fn opt_len_of(&self, i: usize) -> usize {
        if i == 0 {
            self.opt_len
        } else {
            0
        }
    }

    /// Describes the next batch as `IoSlice`s (see [`TransferCursor::fill_with`]); at most
    /// `(iov.len() - extra_pieces()) / pieces_per_message()` messages. Returns how many entries
    /// of `iov` it used.
    #[allow(clippy::too_many_arguments)]
    pub fn fill<'a, S: MessageSource + ?Sized>(
        &mut self,
        src: &'a S,
        question: &'a [u8],
        opt: &'a [u8],
        prefixes: &'a mut [[u8; PREFIX_BYTES]],
        signing: Option<Signing<'a, '_>>,
        iov: &mut [IoSlice<'a>],
        bytes_max: usize,
    ) -> usize {
        let messages_max =
            iov.len().saturating_sub(self.extra_pieces()) / self.pieces_per_message();
        let mut used = 0;
        self.fill_with(
            src,
            question,
            opt,
            prefixes,
            signing,
            messages_max,
            bytes_max,
            |piece| {
                iov[used] = IoSlice::new(piece);
                used += 1;
            },
        )
    }

    /// Describes the next batch: at most `prefixes.len()` and `messages_max` messages, and no
    /// message started beyond `bytes_max` bytes (at least one message is always included).
    /// Writes the prefixes (and, signed, the TSIG records of messages not signed before) and
    /// hands each piece (`[prefix][question][body]` per message, then `[OPT]` for the first
    /// message when the cursor has one (`opt`: its bytes, `opt_len()` of them), then
    /// `[TSIG record]` when signed; the first ones cut by what a partial write already sent,
    /// empty pieces left out)
    /// to `emit`, in stream order; returns how many pieces. The batch is in flight until
    /// [`TransferCursor::advance`]; filling again before that is a programmer error.
    #[allow(clippy::too_many_arguments)]
    pub fn fill_with<'a, S: MessageSource + ?Sized>(
        &mut self,
        src: &'a S,
        question: &'a [u8],
        opt: &'a [u8],
        prefixes: &'a mut [[u8; PREFIX_BYTES]],
        signing: Option<Signing<'a, '_>>,
        messages_max: usize,
        bytes_max: usize,
        mut emit: impl FnMut(&'a [u8]),
    ) -> usize {
        assert!(self.in_flight.is_none(), "fill with a batch in flight");
        assert!(!self.is_done(), "fill after the transfer is done");
        assert_eq!(question.len(), self.question_len, "question changed");
        assert_eq!(opt.len(), self.opt_len, "OPT record changed");
        assert_eq!(src.message_count(), self.message_count, "source changed");
        assert_eq!(
            signing.is_some(),
            self.is_signed(),
            "a signed transfer is filled with a signer, an unsigned one without"
        );
        let mut messages_max = prefixes.len().min(messages_max);
        let mut signing = signing;
        if let Some(sg) = &signing {
            messages_max = messages_max.min(sg.records.len() / self.tsig_bytes);
        }
        assert!(messages_max > 0, "no room for a single message");
        let slots = signing
            .as_ref()
            .map_or(1, |sg| sg.records.len() / self.tsig_bytes);

        // Pass 1: choose the messages, write their prefixes, sign the new ones.
        let mut count = 0;
        let mut bytes = 0usize;
        while count < messages_max && self.next_message + count < self.message_count {
            if count > 0 && bytes >= bytes_max {
                break;
            }
            let i = self.next_message + count;
            let body = src.body(i);
            let opt_i = &opt[..self.opt_len_of(i)];
            let len = HEADER_BYTES + self.question_len + body.len() + opt_i.len() + self.tsig_bytes;
            assert!(len <= MESSAGE_BYTES_MAX, "message {i} is {len} bytes");
            let p = &mut prefixes[count];
            p[0..2].copy_from_slice(&(len as u16).to_be_bytes());
            p[2..4].copy_from_slice(&self.id.to_be_bytes());
            p[4..6].copy_from_slice(&self.flags.to_be_bytes());
            p[6..8].copy_from_slice(&1u16.to_be_bytes());
            p[8..10].copy_from_slice(&src.ancount(i).to_be_bytes());
            let arcount = !opt_i.is_empty() as u16;
            p[10..12].fill(0);
            p[12..14].copy_from_slice(&arcount.to_be_bytes());
            if let Some(sg) = signing.as_mut() {
                if i >= self.signed_upto {
                    assert_eq!(i, self.signed_upto, "messages are signed in order");
                    let slot = (i % slots) * self.tsig_bytes;
                    let out = &mut sg.records[slot..slot + self.tsig_bytes];
                    let n = sg
                        .signer
                        .sign(&[&p[2..], question, body, opt_i], sg.now_s, out);
                    assert_eq!(n, self.tsig_bytes, "TSIG record length changed");
                    self.signed_upto = i + 1;
                }
                p[12..14].copy_from_slice(&(arcount + 1).to_be_bytes());
            }
            bytes += 2 + len;
            count += 1;
        }

        // Pass 2: the slices, skipping what a partial write already sent of the first message.
        let prefixes: &'a [[u8; PREFIX_BYTES]] = prefixes;
        let records: &'a [u8] = signing.map_or(&[], |sg| sg.records);
        let mut skip = self.offset_in_message;
        let mut used = 0;
        let mut emitted_bytes = 0;
        for (j, prefix) in prefixes[..count].iter().enumerate() {
            let i = self.next_message + j;
            let body = src.body(i);
            let slot = (i % slots) * self.tsig_bytes;
            let record =
                &records[slot.min(records.len())..(slot + self.tsig_bytes).min(records.len())];
            let opt_i = &opt[..self.opt_len_of(i)];
            for piece in [&prefix[..], question, body, opt_i, record] {
                if skip >= piece.len() {
                    skip -= piece.len();
                    continue;
                }
                emit(&piece[skip..]);
                emitted_bytes += piece.len() - skip;
                skip = 0;
                used += 1;
            }
        }
        let batch_bytes = bytes - self.offset_in_message;
        debug_assert_eq!(emitted_bytes, batch_bytes);
        self.in_flight = Some(InFlight { bytes: batch_bytes });
        used
    }

    /// Acknowledges `bytes_sent` bytes of the batch in flight (a completion, possibly partial).
    pub fn advance<S: MessageSource + ?Sized>(&mut self, src: &S, bytes_sent: usize) {
        let batch = self
            .in_flight
            .take()
            .expect("advance without a batch in flight");
        assert!(
            bytes_sent <= batch.bytes,
            "kernel reports {bytes_sent} bytes sent of a {}-byte batch",
            batch.bytes
        );
        self.bytes_sent_total += bytes_sent as u64;
        let mut remaining = bytes_sent;
        while remaining > 0 {
            let left = self.framed_len(src, self.next_message) - self.offset_in_message;
            if remaining >= left {
                remaining -= left;
                self.bytes_complete_messages += self.framed_len(src, self.next_message) as u64;
                self.next_message += 1;
                self.offset_in_message = 0;
            } else {
                self.offset_in_message += remaining;
                remaining = 0;
            }
        }
        assert_eq!(
            self.bytes_sent_total,
            self.bytes_complete_messages + self.offset_in_message as u64,
            "progress counter disagrees with the message position"
        );
        assert!(self.next_message <= self.message_count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsig::{Algorithm, Key, MacBuf, ResponseVerifier, UnsignedRun, VerifiedRequest};
    use proptest::prelude::*;

    struct Bodies(Vec<(Vec<u8>, u16)>);

    impl MessageSource for Bodies {
        fn message_count(&self) -> usize {
            self.0.len()
        }
        fn body(&self, i: usize) -> &[u8] {
            &self.0[i].0
        }
        fn ancount(&self, i: usize) -> u16 {
            self.0[i].1
        }
    }

    const QUESTION: &[u8] = b"\x07ExAmPlE\x03com\x00\x00\xfc\x00\x01";

    /// The stream as it must appear on the wire, built the obvious way.
    fn expected(src: &Bodies, id: u16, flags: u16) -> Vec<u8> {
        expected_with_opt(src, id, flags, &[])
    }

    /// The same, `opt` (when not empty) closing the first message.
    fn expected_with_opt(src: &Bodies, id: u16, flags: u16, opt: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, (body, an)) in src.0.iter().enumerate() {
            let opt = if i == 0 { opt } else { &[] };
            let len = 12 + QUESTION.len() + body.len() + opt.len();
            out.extend_from_slice(&(len as u16).to_be_bytes());
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&flags.to_be_bytes());
            out.extend_from_slice(&[0, 1]);
            out.extend_from_slice(&an.to_be_bytes());
            out.extend_from_slice(&[0, 0, 0, !opt.is_empty() as u8]);
            out.extend_from_slice(QUESTION);
            out.extend_from_slice(body);
            out.extend_from_slice(opt);
        }
        out
    }

    /// An OPT record with the EXPIRE option, as the engine passes it.
    const OPT: &[u8] = &[
        0, 0, 41, 4, 0xD0, 0, 0, 0x80, 0, 0, 8, 0, 9, 0, 4, 0, 1, 0x51, 0x80,
    ];

    /// Drives a transfer where the "kernel" accepts `writes[k]` bytes per call (cycled; at
    /// least 1). Bounded: at most one call per byte of the stream. With `key`, the transfer is
    /// signed, with a record buffer of `k` slots.
    fn drive_signed(
        src: &Bodies,
        k: usize,
        bytes_max: usize,
        writes: &[usize],
        key: Option<&Key>,
    ) -> Vec<u8> {
        drive_full(src, k, bytes_max, writes, key, &[])
    }

    /// [`drive_signed`], with `opt` (when not empty) as the first message's OPT record.
    fn drive_full(
        src: &Bodies,
        k: usize,
        bytes_max: usize,
        writes: &[usize],
        key: Option<&Key>,
        opt: &[u8],
    ) -> Vec<u8> {
        let mut cursor = TransferCursor::new(0xA55A, 0x0100, QUESTION.len(), src.0.len());
        let mut signer = key.map(|key| {
            let v = VerifiedRequest {
                key,
                request_mac: MacBuf::from_slice(&[7; 32]),
                time_signed: 1000,
                original_id: 0xA55A,
            };
            ResponseSigner::new(&v)
        });
        if let Some(s) = &signer {
            cursor = cursor.signed(s.rr_bytes());
        }
        if !opt.is_empty() {
            cursor = cursor.with_opt(opt.len(), src.0[0].0.len());
            assert_eq!(cursor.opt_len(), opt.len());
        }
        let rr_bytes = signer.as_ref().map_or(0, |s| s.rr_bytes());
        let mut records = vec![0u8; k * rr_bytes];
        let mut prefixes = vec![[0u8; PREFIX_BYTES]; k];
        let mut wire = Vec::new();
        let total = expected_with_opt(src, 0, 0, opt).len() + src.0.len() * rr_bytes;
        for call in 0..=total {
            if cursor.is_done() {
                break;
            }
            assert!(
                call < total,
                "livelock: transfer not done after {call} sends"
            );
            let mut iov =
                vec![IoSlice::new(&[]); cursor.pieces_per_message() * k + cursor.extra_pieces()];
            let signing = signer.as_mut().map(|signer| Signing {
                signer,
                records: &mut records[..],
                now_s: 1000,
            });
            let used = cursor.fill(
                src,
                QUESTION,
                opt,
                &mut prefixes,
                signing,
                &mut iov,
                bytes_max,
            );
            let want = writes[call % writes.len()].max(1);
            let mut sent = 0;
            for s in &iov[..used] {
                let take = s.len().min(want - sent);
                wire.extend_from_slice(&s[..take]);
                sent += take;
                if sent == want {
                    break;
                }
            }
            cursor.advance(src, sent);
            assert_eq!(cursor.bytes_sent_total(), wire.len() as u64);
        }
        assert!(cursor.is_done());
        wire
    }

    fn drive(src: &Bodies, k: usize, bytes_max: usize, writes: &[usize]) -> Vec<u8> {
        drive_signed(src, k, bytes_max, writes, None)
    }

    /// Splits a TCP stream into its messages and checks every TSIG with the client's verifier.
    fn verify_stream(wire: &[u8], key: &Key, count: usize) {
        verify_stream_opt(wire, key, count, false)
    }

    /// [`verify_stream`], the first message carrying an OPT before its TSIG when `opt`.
    fn verify_stream_opt(wire: &[u8], key: &Key, count: usize, opt: bool) {
        let mut v = ResponseVerifier::new(key, MacBuf::from_slice(&[7; 32]), UnsignedRun::None);
        let mut at = 0;
        let mut n = 0;
        while at < wire.len() {
            let len = u16::from_be_bytes([wire[at], wire[at + 1]]) as usize;
            let msg = &wire[at + 2..at + 2 + len];
            let ar = 1 + (opt && n == 0) as u16;
            assert_eq!(u16::from_be_bytes([msg[10], msg[11]]), ar, "ARCOUNT");
            v.verify(msg, 1000)
                .unwrap_or_else(|e| panic!("message {n}: {e}"));
            at += 2 + len;
            n += 1;
        }
        assert_eq!(n, count);
        assert_eq!(v.messages_verified(), count as u64);
    }

    /// Bodies of real records (`lens[i]` TXT records each, pointing at the question's name),
    /// which a verifier can walk to find the TSIG record after them.
    fn record_bodies(lens: &[usize]) -> Bodies {
        Bodies(
            lens.iter()
                .enumerate()
                .map(|(i, &n)| {
                    let mut b = Vec::new();
                    for r in 0..n.max(1) {
                        let text = format!("m{i}r{r}");
                        b.extend_from_slice(&[0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60]);
                        b.extend_from_slice(&((text.len() + 1) as u16).to_be_bytes());
                        b.push(text.len() as u8);
                        b.extend_from_slice(text.as_bytes());
                    }
                    (b, n.max(1) as u16)
                })
                .collect(),
        )
    }

    fn bodies(lens: &[usize]) -> Bodies {
        Bodies(
            lens.iter()
                .enumerate()
                .map(|(i, &n)| ((0..n).map(|b| (b * 7 + i) as u8).collect(), i as u16 + 1))
                .collect(),
        )
    }

    #[test]
    fn whole_writes_reproduce_stream() {
        let src = bodies(&[40, 0, 1000, 3]);
        let want = expected(&src, 0xA55A, FLAG_QR | FLAG_AA | FLAG_RD);
        assert_eq!(drive(&src, 64, 1 << 20, &[usize::MAX]), want);
        assert_eq!(drive(&src, 1, 1 << 20, &[usize::MAX]), want);
        assert_eq!(drive(&src, 64, 1, &[usize::MAX]), want);
    }

    #[test]
    fn signed_transfer_verifies_with_every_algorithm() {
        let src = record_bodies(&[4, 0, 100, 3, 7]);
        for alg in Algorithm::ALL {
            let key = Key::new(b"\x07xfr-key\x00", alg, b"secret").unwrap();
            verify_stream(
                &drive_signed(&src, 2, 1 << 20, &[usize::MAX], Some(&key)),
                &key,
                5,
            );
            verify_stream(&drive_signed(&src, 3, 1, &[5, 300], Some(&key)), &key, 5);
        }
    }

    #[test]
    fn first_message_carries_the_opt() {
        let src = bodies(&[40, 7, 1000]);
        let want = expected_with_opt(&src, 0xA55A, FLAG_QR | FLAG_AA | FLAG_RD, OPT);
        assert_eq!(
            drive_full(&src, 64, 1 << 20, &[usize::MAX], None, OPT),
            want
        );
        assert_eq!(drive_full(&src, 1, 1 << 20, &[1, 3], None, OPT), want);
        // Signed: the OPT goes before the TSIG record, inside the MAC.
        let key = Key::new(b"\x01k\x00", Algorithm::HmacSha256, b"secret").unwrap();
        let src = record_bodies(&[3, 1, 5]);
        for writes in [&[usize::MAX][..], &[1], &[7, 100]] {
            let wire = drive_full(&src, 2, 1 << 20, writes, Some(&key), OPT);
            verify_stream_opt(&wire, &key, 3, true);
            let first = &wire[2..2 + u16::from_be_bytes([wire[0], wire[1]]) as usize];
            let opt_at = 12 + QUESTION.len() + src.0[0].0.len();
            assert_eq!(&first[opt_at..opt_at + OPT.len()], OPT);
        }
    }

    #[test]
    fn an_opt_that_would_overflow_the_first_message_is_left_out() {
        let big = 65535 - 12 - QUESTION.len() - 5;
        let c = TransferCursor::new(1, 0, QUESTION.len(), 1).with_opt(OPT.len(), big);
        assert_eq!((c.opt_len(), c.extra_pieces()), (0, 0));
        let c = TransferCursor::new(1, 0, QUESTION.len(), 1).with_opt(OPT.len(), 100);
        assert_eq!((c.opt_len(), c.extra_pieces()), (OPT.len(), 1));
    }

    #[test]
    fn one_byte_writes_reproduce_stream() {
        let src = bodies(&[5, 17]);
        let want = expected(&src, 0xA55A, FLAG_QR | FLAG_AA | FLAG_RD);
        assert_eq!(drive(&src, 2, 1 << 20, &[1]), want);
    }

    #[test]
    #[should_panic(expected = "batch in flight")]
    fn two_batches_in_flight_is_a_bug() {
        let src = bodies(&[5]);
        let mut cursor = TransferCursor::new(1, 0, QUESTION.len(), 1);
        let mut p = [[0u8; PREFIX_BYTES]; 2];
        let mut iov = [IoSlice::new(&[]); 6];
        cursor.fill(&src, QUESTION, &[], &mut p, None, &mut iov, 100);
        let mut p2 = [[0u8; PREFIX_BYTES]; 2];
        let mut iov2 = [IoSlice::new(&[]); 6];
        cursor.fill(&src, QUESTION, &[], &mut p2, None, &mut iov2, 100);
    }

    #[test]
    #[should_panic(expected = "bytes sent of a")]
    fn overreported_write_is_a_bug() {
        let src = bodies(&[5]);
        let mut cursor = TransferCursor::new(1, 0, QUESTION.len(), 1);
        let mut p = [[0u8; PREFIX_BYTES]; 2];
        let mut iov = [IoSlice::new(&[]); 6];
        cursor.fill(&src, QUESTION, &[], &mut p, None, &mut iov, 100);
        cursor.advance(&src, 1000);
    }

    proptest! {
        #[test]
        fn random_short_writes_reproduce_stream(
            lens in proptest::collection::vec(0usize..700, 1..25),
            k in 1usize..8,
            bytes_max in 1usize..3000,
            writes in proptest::collection::vec(1usize..900, 1..20),
        ) {
            let src = bodies(&lens);
            let want = expected(&src, 0xA55A, FLAG_QR | FLAG_AA | FLAG_RD);
            prop_assert_eq!(drive(&src, k, bytes_max, &writes), want);
        }

        /// Signed, with short writes cutting messages anywhere: every message is signed once
        /// and the chain verifies.
        #[test]
        fn signed_short_writes_verify(
            lens in proptest::collection::vec(0usize..40, 1..25),
            k in 1usize..8,
            bytes_max in 1usize..3000,
            writes in proptest::collection::vec(1usize..900, 1..20),
        ) {
            let key = Key::new(b"\x01k\x00", Algorithm::HmacSha256, b"secret").unwrap();
            let src = record_bodies(&lens);
            let wire = drive_signed(&src, k, bytes_max, &writes, Some(&key));
            verify_stream(&wire, &key, lens.len());
        }

        /// With the first message's OPT, signed or not, cut anywhere.
        #[test]
        fn opt_short_writes_reproduce_stream_and_verify(
            lens in proptest::collection::vec(0usize..40, 1..12),
            k in 1usize..5,
            bytes_max in 1usize..2000,
            writes in proptest::collection::vec(1usize..500, 1..10),
        ) {
            let src = bodies(&lens);
            let want = expected_with_opt(&src, 0xA55A, FLAG_QR | FLAG_AA | FLAG_RD, OPT);
            prop_assert_eq!(drive_full(&src, k, bytes_max, &writes, None, OPT), want);
            let key = Key::new(b"\x01k\x00", Algorithm::HmacSha256, b"secret").unwrap();
            let src = record_bodies(&lens);
            let wire = drive_full(&src, k, bytes_max, &writes, Some(&key), OPT);
            verify_stream_opt(&wire, &key, lens.len(), true);
        }
    }
}
