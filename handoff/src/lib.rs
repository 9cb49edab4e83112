//! Handoff protocol v1: an authoritative front end passes a client's TCP connection and the
//! query it read from it to the xfrd engine over a Unix stream socket, with the socket in
//! SCM_RIGHTS, so that the engine answers on that connection directly and no byte of the
//! transfer crosses the front end (the BIND 10 Xfrout design).
//!
//! What this crate owns: the wire format and its sans-IO [`frame::Assembler`] (which pairs
//! received descriptors with frames, closing every descriptor it does not hand on), the
//! blocking [`Client`] for Rust front ends, and the SCM_RIGHTS system calls ([`sys`]). What it
//! does not own: the engine's receive path (io_uring RECVMSG, in the engine), the checks on the
//! received socket and query, and the decision to take a connection.
//!
//! The contract, as DESIGN.md states it:
//! - The front end reads exactly one DNS message from the client (the 2-byte length, then that
//!   many bytes) and nothing more before it hands off: later bytes the client pipelined stay in
//!   the socket for the engine.
//! - ACLs apply to the client's address (getpeername on the received socket), never to the
//!   front end's.
//! - Status 0: taken; the engine answers on the client socket and serves further queries on it
//!   until the client closes; the front end closes its copy. Non-zero (1 malformed, 2
//!   overloaded, 3 not served here): the engine has closed its copy and the front end still
//!   owns the client connection. Nothing is lost either way.

pub mod client;
pub mod frame;
pub mod sys;

pub use client::Client;
pub use frame::{Assembler, Event, FrameError, RejectReason, Status};
