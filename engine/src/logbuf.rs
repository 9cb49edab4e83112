//! Log output for the serving threads: each core thread gathers its log lines in a buffer and
//! writes them to stderr in one `write` per tick (100 ms), instead of one `write` per line.
//!
//! Why: xfrd writes one line per transfer. At one-message transfers (SOA-sized handoffs, small
//! zones) that `write(2)` was about 5% of the engine's CPU per transfer (perf, `cpu-clock`,
//! `scripts/bench-handoff.sh` load), and a core's ring turn holds one or two completions at
//! that load, so flushing per turn would save little. A line reaches stderr within one tick,
//! or at once when the buffer fills (64 KiB); a core that stops, gracefully or by a panic,
//! writes what it holds. Only a SIGKILL loses the last tick's lines. A thread that has not
//! asked for buffering (start-up, signals, reload) writes straight through.
//!
//! Lines are never split: the formatter hands over whole lines, and a buffer is written with
//! `write_all`. Lines of different cores interleave by batch, each line intact.

use std::cell::RefCell;
use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// A buffer this large is written out at once, without waiting for the ring turn to end.
const FLUSH_BYTES: usize = 64 * 1024;

thread_local! {
    /// `Some` while this thread buffers its lines.
    static BUF: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// The `MakeWriter` for the tracing subscriber: buffered on core threads, direct elsewhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> LineWriter {
        LineWriter
    }
}

/// Writes one formatted line (or more) into this thread's buffer, or to stderr.
#[derive(Debug)]
pub struct LineWriter;

impl Write for LineWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.write_all(b)?;
        Ok(b.len())
    }

    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        let direct = BUF.with(|cell| {
            let mut cell = cell.borrow_mut();
            match cell.as_mut() {
                Some(v) => {
                    v.extend_from_slice(b);
                    if v.len() >= FLUSH_BYTES {
                        write_out(v);
                    }
                    false
                }
                None => true,
            }
        });
        if direct {
            io::stderr().lock().write_all(b)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes and empties `v`. A failed write to stderr drops the lines: there is nowhere else
/// to report it, and a serving thread must not stop for its log.
fn write_out(v: &mut Vec<u8>) {
    if !v.is_empty() {
        let _ = io::stderr().lock().write_all(v);
        v.clear();
    }
}

/// Buffers this thread's log lines until [`flush`] or until the returned guard is dropped
/// (which flushes and goes back to writing straight through).
#[must_use = "buffering ends when the guard is dropped"]
pub fn buffer_this_thread() -> BufferGuard {
    BUF.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| Vec::with_capacity(FLUSH_BYTES))
            .clear()
    });
    BufferGuard(())
}

/// Writes this thread's buffered lines, if any.
pub fn flush() {
    BUF.with(|cell| {
        if let Some(v) = cell.borrow_mut().as_mut() {
            write_out(v);
        }
    });
}

/// Ends buffering on drop, writing out what is left (also when unwinding from a panic).
#[derive(Debug)]
pub struct BufferGuard(());

impl Drop for BufferGuard {
    fn drop(&mut self) {
        BUF.with(|cell| {
            if let Some(mut v) = cell.borrow_mut().take() {
                write_out(&mut v);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffered() -> usize {
        BUF.with(|c| c.borrow().as_ref().map_or(0, |v| v.len()))
    }

    #[test]
    fn lines_wait_for_flush_on_a_buffering_thread() {
        std::thread::spawn(|| {
            let guard = buffer_this_thread();
            LineWriter.write_all(b"one line\n").unwrap();
            LineWriter.write_all(b"another\n").unwrap();
            assert_eq!(buffered(), 17);
            flush();
            assert_eq!(buffered(), 0);
            LineWriter.write_all(b"left at the end\n").unwrap();
            drop(guard);
            assert!(BUF.with(|c| c.borrow().is_none()), "buffering ended");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_full_buffer_is_written_without_waiting() {
        std::thread::spawn(|| {
            let _guard = buffer_this_thread();
            let line = vec![b'x'; 1000];
            for _ in 0..(FLUSH_BYTES / 1000 + 1) {
                LineWriter.write_all(&line).unwrap();
            }
            assert!(
                buffered() < FLUSH_BYTES,
                "written out when it reached {FLUSH_BYTES}"
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn other_threads_write_through() {
        std::thread::spawn(|| {
            LineWriter
                .write_all(b"a line from a thread that does not buffer\n")
                .unwrap();
            assert!(BUF.with(|c| c.borrow().is_none()), "nothing was buffered");
        })
        .join()
        .unwrap();
    }
}
