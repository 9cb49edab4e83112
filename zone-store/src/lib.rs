//! zone-store: compiles RFC 1035 master files into a store file that is mmapped and already
//! partitioned into the DNS messages of the AXFR response.
//!
//! What it owns: the zone-file parser ([`zonefile`]), the record model ([`Name`], [`Record`]),
//! the message renderer with name compression, the parallel build, the store file format, and
//! IXFR's diffs and journal ([`ixfr`]).
//! What it does not own: sockets, query handling, per-transfer state. The engine joins a
//! [`store`] to a connection; this crate never does I/O other than reading zone files and
//! writing/mapping store files.

pub mod name;
pub mod record;
pub mod rtype;

pub use name::{Name, NameError};
pub use record::Record;
pub mod zonefile;

pub mod build;
pub mod compile;
pub mod gen;
pub mod ixfr;
pub use ixfr::{diff, journal, update};
pub mod render;
pub mod store;
