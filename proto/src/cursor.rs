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
//! Invariants, checked after every completion ([`TransferCursor::advance`]): at most one batch
//! in flight; the bytes acknowledged never exceed the batch; the progress counter
//! (`bytes_sent_total`) equals the framed length of the fully sent messages plus the offset into
//! the current one, two counts kept independently.

use std::io::IoSlice;

use crate::wire::{FLAG_AA, FLAG_CD, FLAG_QR, FLAG_RD, HEADER_BYTES, MESSAGE_BYTES_MAX};

/// Bytes of a message prefix: TCP length (2) + DNS header (12).
pub const PREFIX_BYTES: usize = 2 + HEADER_BYTES;

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
        }
    }

    /// Every byte of every message has been acknowledged.
    pub fn is_done(&self) -> bool {
        self.next_message == self.message_count
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
        PREFIX_BYTES + self.question_len + src.body(i).len()
    }

    /// Describes the next batch as `IoSlice`s (see [`TransferCursor::fill_with`]); at most
    /// `iov.len() / 3` messages. Returns how many entries of `iov` it used.
    pub fn fill<'a, S: MessageSource + ?Sized>(
        &mut self,
        src: &'a S,
        question: &'a [u8],
        prefixes: &'a mut [[u8; PREFIX_BYTES]],
        iov: &mut [IoSlice<'a>],
        bytes_max: usize,
    ) -> usize {
        let messages_max = iov.len() / 3;
        let mut used = 0;
        self.fill_with(src, question, prefixes, messages_max, bytes_max, |piece| {
            iov[used] = IoSlice::new(piece);
            used += 1;
        })
    }

    /// Describes the next batch: at most `prefixes.len()` and `messages_max` messages, and no
    /// message started beyond `bytes_max` bytes (at least one message is always included).
    /// Writes the prefixes and hands each piece (`[prefix][question][body]` per message, the
    /// first ones cut by what a partial write already sent, empty pieces left out) to `emit`,
    /// in stream order; returns how many pieces (at most `3 * messages_max`). The batch is in
    /// flight until [`TransferCursor::advance`]; filling again before that is a programmer error.
    pub fn fill_with<'a, S: MessageSource + ?Sized>(
        &mut self,
        src: &'a S,
        question: &'a [u8],
        prefixes: &'a mut [[u8; PREFIX_BYTES]],
        messages_max: usize,
        bytes_max: usize,
        mut emit: impl FnMut(&'a [u8]),
    ) -> usize {
        assert!(self.in_flight.is_none(), "fill with a batch in flight");
        assert!(!self.is_done(), "fill after the transfer is done");
        assert_eq!(question.len(), self.question_len, "question changed");
        assert_eq!(src.message_count(), self.message_count, "source changed");
        let messages_max = prefixes.len().min(messages_max);
        assert!(messages_max > 0, "no room for a single message");

        // Pass 1: choose the messages and write their prefixes.
        let mut count = 0;
        let mut bytes = 0usize;
        while count < messages_max && self.next_message + count < self.message_count {
            if count > 0 && bytes >= bytes_max {
                break;
            }
            let i = self.next_message + count;
            let body = src.body(i);
            let len = HEADER_BYTES + self.question_len + body.len();
            assert!(len <= MESSAGE_BYTES_MAX, "message {i} is {len} bytes");
            let p = &mut prefixes[count];
            p[0..2].copy_from_slice(&(len as u16).to_be_bytes());
            p[2..4].copy_from_slice(&self.id.to_be_bytes());
            p[4..6].copy_from_slice(&self.flags.to_be_bytes());
            p[6..8].copy_from_slice(&1u16.to_be_bytes());
            p[8..10].copy_from_slice(&src.ancount(i).to_be_bytes());
            p[10..14].fill(0);
            bytes += 2 + len;
            count += 1;
        }

        // Pass 2: the slices, skipping what a partial write already sent of the first message.
        let prefixes: &'a [[u8; PREFIX_BYTES]] = prefixes;
        let mut skip = self.offset_in_message;
        let mut used = 0;
        let mut emitted_bytes = 0;
        for (j, prefix) in prefixes[..count].iter().enumerate() {
            let body = src.body(self.next_message + j);
            for piece in [&prefix[..], question, body] {
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
        let mut out = Vec::new();
        for (body, an) in &src.0 {
            let len = 12 + QUESTION.len() + body.len();
            out.extend_from_slice(&(len as u16).to_be_bytes());
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&flags.to_be_bytes());
            out.extend_from_slice(&[0, 1]);
            out.extend_from_slice(&an.to_be_bytes());
            out.extend_from_slice(&[0, 0, 0, 0]);
            out.extend_from_slice(QUESTION);
            out.extend_from_slice(body);
        }
        out
    }

    /// Drives a transfer where the "kernel" accepts `writes[k]` bytes per call (cycled; at
    /// least 1). Bounded: at most one call per byte of the stream.
    fn drive(src: &Bodies, k: usize, bytes_max: usize, writes: &[usize]) -> Vec<u8> {
        let mut cursor = TransferCursor::new(0xA55A, 0x0100, QUESTION.len(), src.0.len());
        let mut prefixes = vec![[0u8; PREFIX_BYTES]; k];
        let mut wire = Vec::new();
        let total = expected(src, 0, 0).len();
        for call in 0..=total {
            if cursor.is_done() {
                break;
            }
            assert!(
                call < total,
                "livelock: transfer not done after {call} sends"
            );
            let mut iov = vec![IoSlice::new(&[]); 3 * k];
            let used = cursor.fill(src, QUESTION, &mut prefixes, &mut iov, bytes_max);
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
        cursor.fill(&src, QUESTION, &mut p, &mut iov, 100);
        let mut p2 = [[0u8; PREFIX_BYTES]; 2];
        let mut iov2 = [IoSlice::new(&[]); 6];
        cursor.fill(&src, QUESTION, &mut p2, &mut iov2, 100);
    }

    #[test]
    #[should_panic(expected = "bytes sent of a")]
    fn overreported_write_is_a_bug() {
        let src = bodies(&[5]);
        let mut cursor = TransferCursor::new(1, 0, QUESTION.len(), 1);
        let mut p = [[0u8; PREFIX_BYTES]; 2];
        let mut iov = [IoSlice::new(&[]); 6];
        cursor.fill(&src, QUESTION, &mut p, &mut iov, 100);
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
    }
}
