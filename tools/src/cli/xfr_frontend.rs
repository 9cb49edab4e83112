//! `xfr-frontend`'s command line: parsed by `src/bin/xfr-frontend.rs`, and the source of its man
//! page and shell completions (`xfr-dist`, dist/).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{CommandFactory, Parser};

#[derive(Parser, Debug)]
#[command(
    name = "xfr-frontend",
    version,
    about = "Authoritative TCP front end that hands zone transfers to xfrd (handoff protocol v1)"
)]
pub struct Args {
    /// TCP address to accept DNS clients on.
    #[arg(long, default_value = "127.0.0.1:5300")]
    pub listen: SocketAddr,
    /// xfrd's handoff socket (its `--handoff PATH`).
    #[arg(long)]
    pub handoff: PathBuf,
    /// A zone whose SOA this front end answers itself: ORIGIN=ZONEFILE (repeatable).
    #[arg(long = "zone", value_name = "ORIGIN=ZONEFILE")]
    pub zones: Vec<String>,
    /// Long-lived connections to xfrd, shared out between the threads (at least one each).
    #[arg(long, default_value_t = 16)]
    pub engine_connections: usize,
    /// Event-loop threads; each accepts and serves client connections. No thread is pinned.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Most client connections open at once (shared out between the threads); more wait in the
    /// listen backlog. A handed-off connection no longer counts. `--workers` is its old name,
    /// from when each connection held one of a pool of blocking worker threads.
    #[arg(long, alias = "workers", default_value_t = 1024)]
    pub max_clients: usize,
    /// TCP_DEFER_ACCEPT, in seconds (0: off): a connection is accepted once its first bytes
    /// have come, so a client that connects and sends its query costs one wake-up of this
    /// front end, not two. A connection that sends nothing is accepted after about this long
    /// (the kernel's SYN-ACK retries), then the idle timeout applies.
    #[arg(long, default_value_t = 1)]
    pub defer_accept_s: u32,
    /// A client that sends nothing for this long is closed; a status that takes this long
    /// closes that engine connection.
    #[arg(long, default_value_t = 10_000)]
    pub idle_timeout_ms: u64,
}

/// The clap command of `xfr-frontend`, for the man page and completion generator.
pub fn command() -> clap::Command {
    Args::command()
}
