//! TCP framing: each DNS message is preceded by its length as a 2-byte big-endian integer
//! (RFC 1035 section 4.2.2, RFC 7766 section 8). Works over a buffer the caller owns: the
//! caller appends received bytes, asks for the next complete frame, and consumes it.

use crate::wire::HEADER_BYTES;

/// Bytes of the TCP length prefix.
pub const LENGTH_PREFIX_BYTES: usize = 2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame shorter than a DNS header cannot be answered: the stream is garbage.
    #[error("frame of {0} bytes is shorter than a DNS header")]
    TooShort(usize),
    /// A frame larger than the receive buffer: the server does not take queries this large.
    #[error("frame of {len} bytes exceeds the {capacity}-byte receive buffer")]
    TooLarge { len: usize, capacity: usize },
}

/// Looks for the first complete frame in `filled` (the received bytes), given the receive
/// buffer's `capacity`. `Ok(Some(range))`: the message (without prefix) is `filled[range]` and
/// the frame ends at `range.end`; `Ok(None)`: more bytes are needed.
pub fn frame(filled: &[u8], capacity: usize) -> Result<Option<std::ops::Range<usize>>, FrameError> {
    if filled.len() < LENGTH_PREFIX_BYTES {
        return Ok(None);
    }
    let len = u16::from_be_bytes([filled[0], filled[1]]) as usize;
    if len < HEADER_BYTES {
        return Err(FrameError::TooShort(len));
    }
    if len + LENGTH_PREFIX_BYTES > capacity {
        return Err(FrameError::TooLarge { len, capacity });
    }
    if filled.len() < LENGTH_PREFIX_BYTES + len {
        return Ok(None);
    }
    Ok(Some(LENGTH_PREFIX_BYTES..LENGTH_PREFIX_BYTES + len))
}

/// Removes the first `consumed` bytes of `buf[..*filled]`, moving the rest to the front.
pub fn consume(buf: &mut [u8], filled: &mut usize, consumed: usize) {
    assert!(consumed <= *filled, "consumed more than was received");
    buf.copy_within(consumed..*filled, 0);
    *filled -= consumed;
}

/// Writes the length prefix for a message of `len` bytes into `out[..2]`.
pub fn write_length_prefix(out: &mut [u8], len: usize) {
    let len = u16::try_from(len).expect("DNS message longer than 65535 bytes");
    out[..LENGTH_PREFIX_BYTES].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_anywhere_reassemble() {
        let mut stream = Vec::new();
        for n in [12usize, 40, 300] {
            stream.extend_from_slice(&(n as u16).to_be_bytes());
            stream.extend(std::iter::repeat_n(n as u8, n));
        }
        for chunk in 1..stream.len() {
            let mut buf = vec![0u8; 512];
            let mut filled = 0;
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                buf[filled..filled + piece.len()].copy_from_slice(piece);
                filled += piece.len();
                while let Some(r) = frame(&buf[..filled], buf.len()).unwrap() {
                    got.push(buf[r.clone()].to_vec());
                    consume(&mut buf, &mut filled, r.end);
                }
            }
            assert_eq!(got.len(), 3, "chunk {chunk}");
            assert_eq!(got[2], vec![44u8; 300]);
            assert_eq!(filled, 0);
        }
    }

    proptest::proptest! {
        /// Any bytes, fed in any chunks: framing never panics, and every frame it returns lies
        /// within what was received.
        #[test]
        fn any_stream_in_any_chunks(
            stream in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000),
            chunk in 1usize..300,
        ) {
            let mut buf = vec![0u8; 512];
            let mut filled = 0;
            'outer: for piece in stream.chunks(chunk) {
                let take = piece.len().min(buf.len() - filled);
                buf[filled..filled + take].copy_from_slice(&piece[..take]);
                filled += take;
                loop {
                    match frame(&buf[..filled], buf.len()) {
                        Ok(Some(r)) => {
                            proptest::prop_assert!(r.end <= filled && r.len() >= HEADER_BYTES);
                            consume(&mut buf, &mut filled, r.end);
                        }
                        Ok(None) => break,
                        Err(_) => break 'outer,
                    }
                }
            }
        }
    }

    #[test]
    fn garbage_lengths_are_errors() {
        assert_eq!(frame(&[0, 3, 1, 2, 3], 512), Err(FrameError::TooShort(3)));
        assert!(matches!(
            frame(&[2, 0], 512),
            Err(FrameError::TooLarge { len: 512, .. })
        ));
        assert_eq!(frame(&[0], 512), Ok(None));
    }
}
