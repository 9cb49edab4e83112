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
//! A padded transfer (EDNS padding, RFC 7830, on a listener that pads: XoT) carries an OPT in
//! every message, each with a Padding option that brings the message to a multiple of the
//! block length (RFC 8467 section 4.1): the first message's OPT is the one above, the padding
//! option added; the others get a bare OPT (version, DO and UDP size as in the first) and the
//! option. Each message's OPT and option header (at most [`PAD_HEAD_BYTES`]) are written into a
//! caller-owned array beside the prefixes, the zeros come from a static buffer
//! ([`crate::wire::PADDING_ZEROS`]): two more pieces per message. A message that padding would
//! push beyond 65535 bytes gets what room is left, or no padding.
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

use crate::response::{add_padding_option, padding_len, ResponseOpt, OPT_BYTES, OPT_BYTES_MAX};
use crate::tsig::ResponseSigner;
use crate::wire::{
    EDNS_OPTION_HEADER_BYTES, FLAG_AA, FLAG_CD, FLAG_QR, FLAG_RD, HEADER_BYTES, MESSAGE_BYTES_MAX,
    PADDING_BLOCK_MAX, PADDING_ZEROS,
};

/// Bytes of a message prefix: TCP length (2) + DNS header (12).
pub const PREFIX_BYTES: usize = 2 + HEADER_BYTES;
/// Most pieces a batch takes beyond `pieces_per_message()` per message: the first message's OPT
/// record.
pub const EXTRA_PIECES_MAX: usize = 1;
/// Bytes of a padded message's OPT record and Padding option header (the zeros not counted):
/// the element of the `heads` array a padded transfer's fills write.
pub const PAD_HEAD_BYTES: usize = OPT_BYTES_MAX + EDNS_OPTION_HEADER_BYTES;

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
    /// Every message padded to a multiple of this many bytes; 0: no padding.
    pad_block: usize,
    /// The OPT record of padded messages after the first (no options of its own).
    pad_opt: [u8; OPT_BYTES],
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
            pad_block: 0,
            pad_opt: [0; OPT_BYTES],
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

    /// The same cursor for a transfer whose every message is padded to a multiple of `block`
    /// bytes (RFC 8467 section 4.1), with OPT records like `opt` (the query's EDNS echoed; the
    /// first message's own OPT, given by [`TransferCursor::with_opt`], keeps its EXPIRE). Goes
    /// after `signed()` and `with_opt()`. Fills then take a `heads` array.
    pub fn with_padding(mut self, block: usize, opt: &ResponseOpt) -> Self {
        assert!(self.bytes_sent_total == 0 && (1..=PADDING_BLOCK_MAX).contains(&block));
        let bare = ResponseOpt {
            expire_s: None,
            ..*opt
        };
        bare.write(&mut self.pad_opt);
        self.pad_block = block;
        self
    }

    pub fn is_padded(&self) -> bool {
        self.pad_block > 0
    }

    /// Pieces per message in a batch: prefix, question, body, and the TSIG record if signed.
    /// The first message has one more, its OPT, when there is one ([`Self::extra_pieces`]).
    pub fn pieces_per_message(&self) -> usize {
        3 + self.is_signed() as usize + 2 * self.is_padded() as usize
    }

    /// Pieces a batch may take beyond `pieces_per_message()` per message: the first message's
    /// OPT. An iovec array sized `messages * pieces_per_message() + EXTRA_PIECES_MAX` always
    /// holds a batch of `messages`.
    pub fn extra_pieces(&self) -> usize {
        (self.opt_len > 0 && !self.is_padded()) as usize
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
        let (head, pad) = self.opt_of(src, i);
        PREFIX_BYTES + self.question_len + src.body(i).len() + head + pad + self.tsig_bytes
    }

    /// Message `i`'s OPT: bytes of the record (with the Padding option's header when padded)
    /// and of the padding zeros after them.
    fn opt_of<S: MessageSource + ?Sized>(&self, src: &S, i: usize) -> (usize, usize) {
        let own = if i == 0 { self.opt_len } else { 0 };
        if !self.is_padded() {
            return (own, 0);
        }
        let opt = if own > 0 { own } else { OPT_BYTES };
        let head = opt + EDNS_OPTION_HEADER_BYTES;
        let unpadded =
            HEADER_BYTES + self.question_len + src.body(i).len() + head + self.tsig_bytes;
        match padding_len(unpadded, self.pad_block) {
            Some(pad) => (head, pad),
            None => (own, 0),
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
        heads: &'a mut [[u8; PAD_HEAD_BYTES]],
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
            heads,
            signing,
            messages_max,
            bytes_max,
            |piece, _| {
                iov[used] = IoSlice::new(piece);
                used += 1;
            },
        )
    }

    /// Describes the next batch: at most `prefixes.len()` and `messages_max` messages, and no
    /// message started beyond `bytes_max` bytes (at least one message is always included).
    /// Writes the prefixes (and, signed, the TSIG records of messages not signed before) and
    /// hands each piece (`[prefix][question][body]` per message, then `[OPT]` for the first
    /// message when the cursor has one (`opt`: its bytes, `opt_len()` of them), or, padded,
    /// `[OPT and Padding option header][zeros]` for every message (the first written into
    /// `heads`, one element per message of the batch: padded, at most `heads.len()` messages),
    /// then `[TSIG record]` when signed; the first ones cut by what a partial write already
    /// sent, empty pieces left out)
    /// to `emit` with the index of its message in the batch (0 for the first), in stream
    /// order; returns how many pieces. The batch is in flight until
    /// [`TransferCursor::advance`]; filling again before that is a programmer error.
    #[allow(clippy::too_many_arguments)]
    pub fn fill_with<'a, S: MessageSource + ?Sized>(
        &mut self,
        src: &'a S,
        question: &'a [u8],
        opt: &'a [u8],
        prefixes: &'a mut [[u8; PREFIX_BYTES]],
        heads: &'a mut [[u8; PAD_HEAD_BYTES]],
        signing: Option<Signing<'a, '_>>,
        messages_max: usize,
        bytes_max: usize,
        mut emit: impl FnMut(&'a [u8], usize),
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
        if self.is_padded() {
            messages_max = messages_max.min(heads.len());
        }
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
            let (head_len, pad) = self.opt_of(src, i);
            let opt_i: &[u8] = if self.is_padded() {
                let h = &mut heads[count];
                let own = if i == 0 { self.opt_len } else { 0 };
                if head_len == own {
                    // No room for padding: the message as unpadded.
                    h[..own].copy_from_slice(&opt[..own]);
                } else {
                    let rr = head_len - EDNS_OPTION_HEADER_BYTES;
                    let from = if own > 0 {
                        &opt[..own]
                    } else {
                        &self.pad_opt[..]
                    };
                    h[..rr].copy_from_slice(from);
                    add_padding_option(h, 0, rr, pad);
                }
                &h[..head_len]
            } else {
                &opt[..head_len]
            };
            let zeros = &PADDING_ZEROS[..pad];
            let len =
                HEADER_BYTES + self.question_len + body.len() + opt_i.len() + pad + self.tsig_bytes;
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
                        .sign(&[&p[2..], question, body, opt_i, zeros], sg.now_s, out);
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
        let heads: &'a [[u8; PAD_HEAD_BYTES]] = heads;
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
            let (head_len, pad) = self.opt_of(src, i);
            let opt_i = if self.is_padded() {
                &heads[j][..head_len]
            } else {
                &opt[..head_len]
            };
            for piece in [
                &prefix[..],
                question,
                body,
                opt_i,
                &PADDING_ZEROS[..pad],
                record,
            ] {
                if skip >= piece.len() {
                    skip -= piece.len();
                    continue;
                }
                emit(&piece[skip..], j);
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
        drive_padded(src, k, bytes_max, writes, key, opt, 0)
    }

    /// [`drive_full`], every message padded to a multiple of `pad_block` bytes (0: none).
    fn drive_padded(
        src: &Bodies,
        k: usize,
        bytes_max: usize,
        writes: &[usize],
        key: Option<&Key>,
        opt: &[u8],
        pad_block: usize,
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
        if pad_block > 0 {
            cursor = cursor.with_padding(pad_block, &PAD_OPT);
        }
        let mut heads = vec![[0u8; PAD_HEAD_BYTES]; k];
        let rr_bytes = signer.as_ref().map_or(0, |s| s.rr_bytes());
        let mut records = vec![0u8; k * rr_bytes];
        let mut prefixes = vec![[0u8; PREFIX_BYTES]; k];
        let mut wire = Vec::new();
        let total = expected_with_opt(src, 0, 0, opt).len()
            + src.0.len() * (rr_bytes + OPT_BYTES + 4 + pad_block);
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
                &mut heads,
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

    /// The OPT of padded messages after the first: DO set, as the query's was.
    const PAD_OPT: ResponseOpt = ResponseOpt {
        rcode_high: 0,
        dnssec_ok: true,
        expire_s: None,
    };

    /// A padded stream checked and stripped of its padding: every message a multiple of
    /// `block` bytes (or 65535), an OPT after each body whose last option is Padding, all
    /// zeros; the later messages' OPT is [`PAD_OPT`] and nothing else. Returns the stream as
    /// it would be unpadded (the later messages' OPTs removed, the first's option dropped).
    fn strip_padding(wire: &[u8], src: &Bodies, block: usize, signed: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = 0;
        for (i, (body, _)) in src.0.iter().enumerate() {
            let len = u16::from_be_bytes([wire[at], wire[at + 1]]) as usize;
            assert!(
                len.is_multiple_of(block) || len == 65535,
                "message {i}: {len} bytes"
            );
            let mut msg = wire[at + 2..at + 2 + len].to_vec();
            at += 2 + len;
            let opt_at = 12 + QUESTION.len() + body.len();
            assert_eq!(
                &msg[opt_at..opt_at + 3],
                &[0, 0, 41],
                "message {i}: OPT after the body"
            );
            let rdlen = u16::from_be_bytes([msg[opt_at + 9], msg[opt_at + 10]]) as usize;
            let rdata = opt_at + 11;
            let end = rdata + rdlen;
            assert_eq!(end + if signed { msg.len() - end } else { 0 }, msg.len());
            // Walk to the last option: Padding.
            let mut o = rdata;
            let mut last = o;
            while o < end {
                last = o;
                o += 4 + u16::from_be_bytes([msg[o + 2], msg[o + 3]]) as usize;
            }
            assert_eq!(o, end, "options tile the RDATA");
            assert_eq!(&msg[last..last + 2], &[0, 12], "message {i}: Padding last");
            assert!(msg[last + 4..end].iter().all(|&b| b == 0), "zeros");
            if !signed {
                assert_eq!(end, msg.len(), "the OPT ends the message");
            }
            msg.truncate(last);
            if i > 0 {
                let mut bare = [0u8; OPT_BYTES];
                PAD_OPT.write(&mut bare);
                assert_eq!(
                    &msg[opt_at..opt_at + 9],
                    &bare[..9],
                    "message {i}: the bare OPT"
                );
                assert_eq!(last, rdata, "message {i}: Padding the only option");
                msg.truncate(opt_at);
                msg[11] -= 1;
            } else {
                let rd = (last - rdata) as u16;
                msg[opt_at + 9..opt_at + 11].copy_from_slice(&rd.to_be_bytes());
            }
            out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
            out.extend_from_slice(&msg);
        }
        assert_eq!(at, wire.len());
        out
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
        verify_stream_ar(wire, key, count, |n| 1 + (opt && n == 0) as u16)
    }

    /// [`verify_stream`], message `n` with ARCOUNT `ar(n)`.
    fn verify_stream_ar(wire: &[u8], key: &Key, count: usize, ar: impl Fn(usize) -> u16) {
        let mut v = ResponseVerifier::new(key, MacBuf::from_slice(&[7; 32]), UnsignedRun::None);
        let mut at = 0;
        let mut n = 0;
        while at < wire.len() {
            let len = u16::from_be_bytes([wire[at], wire[at + 1]]) as usize;
            let msg = &wire[at + 2..at + 2 + len];
            assert_eq!(u16::from_be_bytes([msg[10], msg[11]]), ar(n), "ARCOUNT");
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
    fn padded_messages_are_block_multiples_and_strip_to_the_unpadded_stream() {
        let src = bodies(&[40, 0, 1000, 467, 468, 3]);
        let flags = FLAG_QR | FLAG_AA | FLAG_RD;
        for opt in [OPT, &[0, 0, 41, 4, 0xD0, 0, 0, 0x80, 0, 0, 0][..]] {
            let want = expected_with_opt(&src, 0xA55A, flags, opt);
            for block in [468, 128, 1, 4096] {
                for (k, writes) in [(64, &[usize::MAX][..]), (1, &[1, 3]), (3, &[700, 5])] {
                    let wire = drive_padded(&src, k, 1 << 20, writes, None, opt, block);
                    assert_eq!(strip_padding(&wire, &src, block, false), want, "{block}");
                }
            }
        }
        // Signed: the padding is inside each MAC, the OPT before the TSIG.
        let key = Key::new(b"\x01k\x00", Algorithm::HmacSha256, b"secret").unwrap();
        let src = record_bodies(&[3, 1, 50, 2]);
        for writes in [&[usize::MAX][..], &[1], &[7, 100]] {
            let wire = drive_padded(&src, 2, 1 << 20, writes, Some(&key), OPT, 468);
            verify_stream_ar(&wire, &key, 4, |_| 2);
            strip_padding(&wire, &src, 468, true);
        }
    }

    #[test]
    fn padding_stops_at_the_largest_message() {
        let q = QUESTION.len();
        // Room for the OPT and option header and 10 bytes: padded to 65535 exactly.
        let near = 65535 - 12 - q - OPT_BYTES - 4 - 10;
        // No room for the OPT: the message goes unpadded, without an OPT.
        let full = 65535 - 12 - q - 5;
        let src = bodies(&[near, full, 10]);
        let c = TransferCursor::new(1, 0, q, 3).with_padding(468, &PAD_OPT);
        assert_eq!(c.opt_of(&src, 0), (OPT_BYTES + 4, 10));
        assert_eq!(c.opt_of(&src, 1), (0, 0));
        let wire = drive_padded(&src, 2, 1 << 20, &[usize::MAX], None, &[], 468);
        let lens: Vec<usize> = {
            let mut at = 0;
            let mut v = Vec::new();
            while at < wire.len() {
                let len = u16::from_be_bytes([wire[at], wire[at + 1]]) as usize;
                v.push(len);
                at += 2 + len;
            }
            v
        };
        assert_eq!(lens, vec![65535, full + 12 + q, 468]);
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
        cursor.fill(&src, QUESTION, &[], &mut p, &mut [], None, &mut iov, 100);
        let mut p2 = [[0u8; PREFIX_BYTES]; 2];
        let mut iov2 = [IoSlice::new(&[]); 6];
        cursor.fill(&src, QUESTION, &[], &mut p2, &mut [], None, &mut iov2, 100);
    }

    #[test]
    #[should_panic(expected = "bytes sent of a")]
    fn overreported_write_is_a_bug() {
        let src = bodies(&[5]);
        let mut cursor = TransferCursor::new(1, 0, QUESTION.len(), 1);
        let mut p = [[0u8; PREFIX_BYTES]; 2];
        let mut iov = [IoSlice::new(&[]); 6];
        cursor.fill(&src, QUESTION, &[], &mut p, &mut [], None, &mut iov, 100);
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

        /// Padded, signed or not, cut anywhere.
        #[test]
        fn padded_short_writes_reproduce_stream_and_verify(
            lens in proptest::collection::vec(0usize..700, 1..12),
            k in 1usize..5,
            bytes_max in 1usize..2000,
            writes in proptest::collection::vec(1usize..500, 1..10),
            block in 1usize..600,
        ) {
            let src = bodies(&lens);
            let want = expected_with_opt(&src, 0xA55A, FLAG_QR | FLAG_AA | FLAG_RD, OPT);
            let wire = drive_padded(&src, k, bytes_max, &writes, None, OPT, block);
            prop_assert_eq!(strip_padding(&wire, &src, block, false), want);
            let key = Key::new(b"\x01k\x00", Algorithm::HmacSha256, b"secret").unwrap();
            let src = record_bodies(&lens.iter().map(|l| l / 10).collect::<Vec<_>>());
            let wire = drive_padded(&src, k, bytes_max, &writes, Some(&key), OPT, block);
            verify_stream_ar(&wire, &key, lens.len(), |_| 2);
        }
    }
}
