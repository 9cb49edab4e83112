//! The frames of handoff protocol v1, and the assembler that pairs a byte stream and the file
//! descriptors that arrived with it into handoffs. No I/O, no `unsafe`: descriptors travel as
//! [`OwnedFd`], so one that is dropped anywhere here is closed, and none can leak.
//!
//! Front end to engine, one per handoff, sent in one `sendmsg` that carries exactly one
//! descriptor in SCM_RIGHTS (the client's connected TCP socket):
//!
//! ```text
//! [u8 version = 1][u8 flags = 0][u16 BE length N][N bytes: the DNS query, without its TCP length prefix]
//! ```
//!
//! Engine to front end, one per handoff, in the order the frames came: `[u8 version = 1][u8 status]`.
//! Status 0: taken (the engine answers on the socket; the front end closes its copy). Non-zero:
//! the engine closed its copy and the front end still owns the client connection.
//!
//! Pairing descriptors with frames: on a Unix stream socket the kernel never merges the data of
//! two `sendmsg` calls that carry descriptors into one read, and the descriptors arrive with the
//! first byte of their call's data. So a conforming front end's frame always starts a chunk that
//! carries its descriptor. The assembler gives every complete frame the descriptors that arrived
//! since the previous frame ended; a chunk that brings descriptors while a frame is still
//! incomplete means that frame was truncated (its length promised more than was sent), so it is
//! rejected as malformed and the new chunk starts a new frame. That resynchronises the stream
//! after a short frame without losing the next handoff.

use std::os::fd::OwnedFd;

/// The protocol version this crate speaks.
pub const VERSION: u8 = 1;
/// Bytes before the query in a request frame.
pub const REQUEST_HEADER_BYTES: usize = 4;
/// Bytes of a response.
pub const RESPONSE_BYTES: usize = 2;
/// The shortest DNS message: a 12-byte header (a query also needs a question, checked later).
pub const QUERY_BYTES_MIN: usize = 12;

/// The engine's answer to one handoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// The engine took the connection and answers on it.
    Taken = 0,
    /// The frame, its descriptor or its query was not acceptable.
    Malformed = 1,
    /// The engine is at a limit (connections or transfers); try later or serve it yourself.
    Overloaded = 2,
    /// The query is not for a zone this engine serves, or not a query it serves (XFR or SOA).
    NotServed = 3,
}

impl Status {
    pub fn from_u8(b: u8) -> Option<Status> {
        Some(match b {
            0 => Status::Taken,
            1 => Status::Malformed,
            2 => Status::Overloaded,
            3 => Status::NotServed,
            _ => return None,
        })
    }
}

/// Why bytes are not a valid frame or response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    #[error("unknown handoff protocol version {0}")]
    Version(u8),
    #[error("non-zero flags {0:#04x}")]
    Flags(u8),
    #[error("query of {0} bytes is shorter than a DNS header")]
    QueryTooShort(usize),
    #[error("query of {0} bytes does not fit a frame")]
    QueryTooLong(usize),
    #[error("unknown status {0}")]
    Status(u8),
}

/// The 4-byte header of a request frame for `query`; the query itself follows as a second
/// iovec of the same `sendmsg`.
pub fn request_header(query: &[u8]) -> Result<[u8; REQUEST_HEADER_BYTES], FrameError> {
    if query.len() < QUERY_BYTES_MIN {
        return Err(FrameError::QueryTooShort(query.len()));
    }
    let len = u16::try_from(query.len()).map_err(|_| FrameError::QueryTooLong(query.len()))?;
    let [hi, lo] = len.to_be_bytes();
    Ok([VERSION, 0, hi, lo])
}

/// The response bytes for `status`.
pub fn response(status: Status) -> [u8; RESPONSE_BYTES] {
    [VERSION, status as u8]
}

/// Decodes a response.
pub fn parse_response(b: [u8; RESPONSE_BYTES]) -> Result<Status, FrameError> {
    if b[0] != VERSION {
        return Err(FrameError::Version(b[0]));
    }
    Status::from_u8(b[1]).ok_or(FrameError::Status(b[1]))
}

/// What the assembler makes of the stream.
#[derive(Debug)]
pub enum Event {
    /// A well-formed frame with exactly one descriptor. The receiver still checks that the
    /// descriptor is a connected TCP socket and that the query is one it serves.
    Handoff { query: Vec<u8>, fd: OwnedFd },
    /// A frame to answer with [`Status::Malformed`]; its descriptors (if any) are closed when
    /// this is dropped.
    Reject {
        reason: RejectReason,
        fds: Vec<OwnedFd>,
    },
    /// The stream cannot be read further (unknown version or flags: the length cannot be
    /// trusted): answer [`Status::Malformed`] once, then close the front-end connection.
    Fatal {
        error: FrameError,
        fds: Vec<OwnedFd>,
    },
}

/// Why a frame was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    NoFd,
    TooManyFds(usize),
    Truncated,
    QueryTooShort,
}

/// Turns chunks of bytes, each with the descriptors that came with it, into [`Event`]s.
/// Memory is bounded: at most one frame (4 + 65535 bytes) is buffered.
#[derive(Debug, Default)]
pub struct Assembler {
    buf: Vec<u8>,
    fds: Vec<OwnedFd>,
    dead: bool,
}

/// Most descriptors kept for one frame: more than one already makes the frame malformed, so
/// a flood is closed as it comes.
const FDS_PER_FRAME_MAX: usize = 8;

impl Assembler {
    pub fn new() -> Assembler {
        Assembler::default()
    }

    /// True once a [`Event::Fatal`] was returned: nothing more is read from this stream.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// True while a frame is partly received (for "front end closed mid-frame").
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty() || !self.fds.is_empty()
    }

    /// Feeds one received chunk and its descriptors; pushes the events in stream order.
    pub fn feed(&mut self, mut data: &[u8], fds: Vec<OwnedFd>, events: &mut Vec<Event>) {
        if self.dead {
            return; // dropping `fds` closes them
        }
        if !fds.is_empty() && !self.buf.is_empty() {
            // A new sendmsg began while the previous frame was incomplete: that frame was
            // truncated. Reject it and start over at this chunk.
            events.push(Event::Reject {
                reason: RejectReason::Truncated,
                fds: std::mem::take(&mut self.fds),
            });
            self.buf.clear();
        }
        self.add_fds(fds);
        while !data.is_empty() {
            // Header first.
            if self.buf.len() < REQUEST_HEADER_BYTES {
                let take = (REQUEST_HEADER_BYTES - self.buf.len()).min(data.len());
                self.buf.extend_from_slice(&data[..take]);
                data = &data[take..];
                if self.buf.len() < REQUEST_HEADER_BYTES {
                    return;
                }
                if self.buf[0] != VERSION || self.buf[1] != 0 {
                    let error = if self.buf[0] != VERSION {
                        FrameError::Version(self.buf[0])
                    } else {
                        FrameError::Flags(self.buf[1])
                    };
                    self.dead = true;
                    self.buf = Vec::new();
                    events.push(Event::Fatal {
                        error,
                        fds: std::mem::take(&mut self.fds),
                    });
                    return;
                }
            }
            let want = self.frame_len();
            let take = (want - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() < want {
                return;
            }
            self.emit(events);
        }
    }

    /// The front end closed its connection: a partial frame is rejected (its descriptors are
    /// closed; no response can be sent).
    pub fn finish(&mut self, events: &mut Vec<Event>) {
        if self.has_partial() && !self.dead {
            events.push(Event::Reject {
                reason: RejectReason::Truncated,
                fds: std::mem::take(&mut self.fds),
            });
        }
        self.buf = Vec::new();
        self.dead = true;
    }

    fn frame_len(&self) -> usize {
        REQUEST_HEADER_BYTES + u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize
    }

    fn add_fds(&mut self, fds: Vec<OwnedFd>) {
        for fd in fds {
            if self.fds.len() < FDS_PER_FRAME_MAX {
                self.fds.push(fd);
            } // else: dropped, so closed; the frame is malformed anyway
        }
    }

    fn emit(&mut self, events: &mut Vec<Event>) {
        let query = self.buf[REQUEST_HEADER_BYTES..].to_vec();
        self.buf.clear();
        let mut fds = std::mem::take(&mut self.fds);
        let event = if query.len() < QUERY_BYTES_MIN {
            Event::Reject {
                reason: RejectReason::QueryTooShort,
                fds,
            }
        } else if fds.len() == 1 {
            Event::Handoff {
                query,
                fd: fds.pop().expect("one fd"),
            }
        } else if fds.is_empty() {
            Event::Reject {
                reason: RejectReason::NoFd,
                fds,
            }
        } else {
            Event::Reject {
                reason: RejectReason::TooManyFds(fds.len()),
                fds,
            }
        };
        events.push(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd() -> OwnedFd {
        std::fs::File::open("/dev/null").unwrap().into()
    }

    fn frame(query: &[u8]) -> Vec<u8> {
        let mut v = request_header(query).unwrap().to_vec();
        v.extend_from_slice(query);
        v
    }

    const Q: &[u8] =
        b"\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\xfc\x00\x01";

    #[test]
    fn one_frame_one_fd() {
        let mut a = Assembler::new();
        let mut ev = Vec::new();
        a.feed(&frame(Q), vec![fd()], &mut ev);
        assert!(matches!(&ev[..], [Event::Handoff { query, .. }] if query == Q));
        assert!(!a.has_partial());
    }

    #[test]
    fn split_across_chunks_and_two_frames_in_one_chunk() {
        let mut a = Assembler::new();
        let mut ev = Vec::new();
        let f = frame(Q);
        a.feed(&f[..3], vec![fd()], &mut ev);
        a.feed(&f[3..10], vec![], &mut ev);
        assert!(ev.is_empty());
        a.feed(&f[10..], vec![], &mut ev);
        assert_eq!(ev.len(), 1);
        // Two frames in one chunk, one fd: the first takes it, the second has none.
        let mut both = f.clone();
        both.extend_from_slice(&f);
        a.feed(&both, vec![fd()], &mut ev);
        assert!(matches!(ev[1], Event::Handoff { .. }));
        assert!(matches!(
            ev[2],
            Event::Reject {
                reason: RejectReason::NoFd,
                ..
            }
        ));
    }

    #[test]
    fn bad_fd_counts_and_short_query() {
        let mut a = Assembler::new();
        let mut ev = Vec::new();
        a.feed(&frame(Q), vec![], &mut ev);
        a.feed(&frame(Q), vec![fd(), fd()], &mut ev);
        let mut short = vec![VERSION, 0, 0, 3];
        short.extend_from_slice(b"abc");
        a.feed(&short, vec![fd()], &mut ev);
        assert!(matches!(
            ev[0],
            Event::Reject {
                reason: RejectReason::NoFd,
                ..
            }
        ));
        assert!(
            matches!(&ev[1], Event::Reject { reason: RejectReason::TooManyFds(2), fds } if fds.len() == 2)
        );
        assert!(matches!(
            ev[2],
            Event::Reject {
                reason: RejectReason::QueryTooShort,
                ..
            }
        ));
    }

    #[test]
    fn truncated_frame_is_rejected_when_the_next_one_arrives() {
        let mut a = Assembler::new();
        let mut ev = Vec::new();
        let mut long = frame(Q);
        long[3] += 50; // promises 50 bytes more than it sends
        a.feed(&long, vec![fd()], &mut ev);
        assert!(ev.is_empty());
        a.feed(&frame(Q), vec![fd()], &mut ev);
        assert!(
            matches!(&ev[0], Event::Reject { reason: RejectReason::Truncated, fds } if fds.len() == 1)
        );
        assert!(matches!(ev[1], Event::Handoff { .. }));
    }

    #[test]
    fn unknown_version_is_fatal_and_closes_everything() {
        let mut a = Assembler::new();
        let mut ev = Vec::new();
        let mut f = frame(Q);
        f[0] = 2;
        // A pipe's write end as the descriptor: once every copy of it is closed, the read
        // end sees end of file.
        let (mut reader, writer) = std::io::pipe().unwrap();
        a.feed(&f, vec![OwnedFd::from(writer)], &mut ev);
        assert!(matches!(
            &ev[0],
            Event::Fatal {
                error: FrameError::Version(2),
                ..
            }
        ));
        assert!(a.is_dead());
        drop(ev);
        // Bounded: a leaked descriptor fails the test instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut rest = Vec::new();
            let _ = tx.send(std::io::Read::read_to_end(&mut reader, &mut rest).map(|_| rest));
        });
        let rest = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("descriptor still open")
            .unwrap();
        assert!(rest.is_empty());
    }

    #[test]
    fn close_mid_frame() {
        let mut a = Assembler::new();
        let mut ev = Vec::new();
        a.feed(&frame(Q)[..7], vec![fd()], &mut ev);
        a.finish(&mut ev);
        assert!(
            matches!(&ev[0], Event::Reject { reason: RejectReason::Truncated, fds } if fds.len() == 1)
        );
    }

    #[test]
    fn response_round_trip() {
        for s in [
            Status::Taken,
            Status::Malformed,
            Status::Overloaded,
            Status::NotServed,
        ] {
            assert_eq!(parse_response(response(s)), Ok(s));
        }
        assert_eq!(parse_response([1, 9]), Err(FrameError::Status(9)));
        assert_eq!(parse_response([2, 0]), Err(FrameError::Version(2)));
    }

    proptest::proptest! {
        /// Any split of a stream of well-formed frames (each chunk boundary at most once per
        /// frame start carrying the frame's fd) yields exactly those frames.
        #[test]
        fn any_split_yields_the_frames(lens in proptest::collection::vec(12usize..300, 1..8), cut in 1usize..64) {
            let mut a = Assembler::new();
            let mut ev = Vec::new();
            for (i, len) in lens.iter().enumerate() {
                let q: Vec<u8> = (0..*len).map(|j| (i + j) as u8).collect();
                let f = frame(&q);
                let mut first = true;
                for chunk in f.chunks(cut) {
                    let fds = if first { vec![fd()] } else { vec![] };
                    first = false;
                    a.feed(chunk, fds, &mut ev);
                }
            }
            proptest::prop_assert_eq!(ev.len(), lens.len());
            for (e, len) in ev.iter().zip(&lens) {
                let ok = matches!(e, Event::Handoff { query, .. } if query.len() == *len);
                proptest::prop_assert!(ok, "unexpected event {:?}", e);
            }
        }
    }
}
