//! The front-end side of handoff protocol v1, for Rust servers: one long-lived connection to
//! the engine carries many handoffs, acknowledged in order.
//!
//! ```no_run
//! # fn demo(client_sock: std::net::TcpStream, query: &[u8]) -> std::io::Result<()> {
//! use std::os::fd::AsFd;
//! let mut engine = xfr_handoff::Client::connect("/run/xfrd/handoff.sock")?;
//! match engine.hand_off(client_sock.as_fd(), query)? {
//!     xfr_handoff::Status::Taken => drop(client_sock), // the engine answers; close our copy
//!     other => { /* still ours: answer it ourselves, or close it */ let _ = other; }
//! }
//! # Ok(()) }
//! ```

use std::io::{self, IoSlice, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::frame::{self, Status, RESPONSE_BYTES};
use crate::sys;

/// A connection from a front end to the engine's handoff socket.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    /// Handoffs sent and not yet acknowledged.
    pending: usize,
}

impl Client {
    pub fn connect(path: impl AsRef<Path>) -> io::Result<Client> {
        Ok(Client {
            stream: UnixStream::connect(path)?,
            pending: 0,
        })
    }

    pub fn from_stream(stream: UnixStream) -> Client {
        Client { stream, pending: 0 }
    }

    /// Sends one handoff and waits for its status. On anything but [`Status::Taken`] the
    /// caller still owns the client connection; on `Taken` it closes its copy.
    pub fn hand_off(&mut self, client: BorrowedFd<'_>, query: &[u8]) -> io::Result<Status> {
        self.send(client, query)?;
        self.recv_status()
    }

    /// Sends one handoff without waiting; statuses come back in order via [`recv_status`].
    ///
    /// [`recv_status`]: Client::recv_status
    pub fn send(&mut self, client: BorrowedFd<'_>, query: &[u8]) -> io::Result<()> {
        let header = frame::request_header(query)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let total = header.len() + query.len();
        let sent = sys::send_with_fd(
            self.stream.as_fd(),
            &[IoSlice::new(&header), IoSlice::new(query)],
            client,
        )?;
        if sent != total {
            // A blocking stream socket sends all or fails; anything else would desynchronise
            // the descriptor from its frame, so the connection is unusable.
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short handoff send: {sent} of {total} bytes"),
            ));
        }
        self.pending += 1;
        Ok(())
    }

    /// The status of the oldest unacknowledged handoff. Waits at most the stream's read
    /// timeout, when one is set.
    pub fn recv_status(&mut self) -> io::Result<Status> {
        // Wait in poll(POLLIN) rather than in read: a reader blocked in read(2) on a Unix
        // stream socket is woken each time the engine consumes a frame of ours (the kernel
        // signals write space on the same wait queue), once per handoff for nothing. poll
        // filters that wake-up out; perf put it at about a tenth of the engine's CPU per
        // handoff, the cross-core wake-up being paid by the engine's core.
        sys::wait_readable(self.stream.as_fd(), self.stream.read_timeout()?)?;
        let mut b = [0u8; RESPONSE_BYTES];
        self.stream.read_exact(&mut b)?;
        self.pending = self.pending.saturating_sub(1);
        frame::parse_response(b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Handoffs sent and not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// The underlying socket (for timeouts, or for sending raw frames in tests).
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }
}
