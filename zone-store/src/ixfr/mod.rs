//! IXFR (RFC 1995): the difference between versions ([`diff`]), the journal of rendered diffs
//! beside a store ([`journal`]), and the update that turns a new version (a changed zone file,
//! or the records of a transfer in) into a new store and journal ([`update`]).

pub mod diff;
pub mod journal;
pub mod update;
