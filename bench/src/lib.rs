//! xfr-bench: a load harness for DNS zone transfer servers (xfrd, knotd, nsd, named, any other).
//!
//! `axfr`, `ixfr` and `soa` drive one server; `compare` starts xfrd and the peers one at a time
//! on loopback and runs the same workloads against each. See bench/README.md.
//!
//! The harness is this library; `main.rs` only parses the command line ([`cli`]) and runs it.

pub mod cli;
pub mod compare;
mod evloop;
pub mod load;
mod procstat;
mod svg;
mod sys;
pub mod tls;
mod xfr;
