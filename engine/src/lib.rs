//! The xfrd transfer engine: per-core io_uring rings serving AXFR/IXFR from zone stores.
//!
//! What it owns: configuration ([`config`]), TSIG keys ([`keys`]), access lists ([`acl`]), the
//! zones being served and their reload ([`zones`]), the answer policy ([`answer`]), the per-core
//! io_uring driver ([`core`], with handoff protocol v1 receipt in its `handoff` child module),
//! start-up, signals and shutdown ([`server`]), NOTIFY out ([`notify`]), the serving threads' log
//! buffering ([`logbuf`]), the command line ([`cli`]), telling systemd what it does
//! ([`sdnotify`]), secondary zones' transfers in ([`secondary`], driven by [`refresh`]).
//! The only `unsafe` is in [`sys`].
//! What it does not own: zone parsing and the store format (`zone-store`), query parsing,
//! framing and the transfer cursor (`xfr-proto`, sans-IO).

pub mod acl;
pub mod answer;
pub mod cli;
pub mod config;
pub mod control;
pub mod core;
pub mod keys;
pub mod logbuf;
pub mod metrics;
pub mod notify;
pub mod refresh;
pub mod sdnotify;
pub mod secondary;
pub mod server;
pub mod sys;
pub mod tls;
pub mod zones;
