//! xfr-proto: the sans-IO protocol core of xfrd.
//!
//! What it owns: parsing a DNS query as a zone-transfer server sees it ([`query`]), building the
//! small responses the server sends itself (errors, SOA answers: [`response`]), TSIG signing
//! and verification over byte slices ([`tsig`]), TCP
//! length-prefixed framing over a caller-owned buffer ([`framing`]) and the transfer cursor that
//! turns a stored sequence of message bodies into the exact byte stream of an AXFR response,
//! surviving any sequence of partial writes ([`cursor`]), and NOTIFY out: which NOTIFY goes to
//! whom and when, retries and pacing ([`notify`]). For clients and tools (xfr-bench, xfr-zone,
//! the tests): reading and building whole messages, names decompressed, records walked, queries
//! built, records in canonical form ([`message`]).
//!
//! What it does not own: sockets, io_uring, clocks, mmaps and zone data. It reads no clock (the
//! caller passes time where it matters), does no I/O and allocates nothing on the transfer path:
//! every buffer is the caller's.
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

pub mod cursor;
pub mod framing;
pub mod message;
pub mod notify;
pub mod query;
pub mod response;
pub mod tsig;
pub mod wire;
pub mod xfrin;

pub use cursor::{MessageSource, Signing, TransferCursor, PREFIX_BYTES};
pub use framing::{frame, FrameError};
pub use query::{parse_query, Query, QueryError};
pub use response::{write_error_response, write_soa_answer, ResponseError};
pub use xfrin::{XfrIn, XfrInError};
