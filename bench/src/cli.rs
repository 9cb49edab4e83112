//! xfr-bench's command line: the clap definitions that `main.rs` parses and from which
//! `xfr-dist` (dist/) generates the man pages and shell completions.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::{compare, load};

#[derive(Parser)]
#[command(
    name = "xfr-bench",
    version,
    about = "Load harness for DNS zone transfer servers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Full zone transfers (AXFR over TCP).
    Axfr(LoadArgs),
    /// Incremental zone transfers; accepts incremental and AXFR-style answers.
    Ixfr {
        #[command(flatten)]
        load: LoadArgs,
        /// The client's serial, sent in the authority SOA of the query.
        #[arg(long, default_value_t = 0)]
        serial: u32,
    },
    /// SOA queries (UDP, or TCP with --tcp, one connection per client thread).
    Soa {
        #[command(flatten)]
        load: LoadArgs,
        #[arg(long)]
        tcp: bool,
    },
    /// AXFR by handoff protocol v1: the harness is the front end, passing each client
    /// connection (and its query) to the engine's Unix socket with SCM_RIGHTS.
    Handoff {
        #[command(flatten)]
        load: LoadArgs,
        /// The engine's handoff socket.
        #[arg(long)]
        socket: PathBuf,
        /// Front-end connections to the engine, shared by the client threads.
        #[arg(long, default_value_t = 4)]
        conns: usize,
    },
    /// Start xfrd and the peers (knotd, nsd, named) one at a time and run the same workloads.
    Compare(compare::CompareArgs),
}

#[derive(Args, Clone)]
pub struct LoadArgs {
    /// Server address, ADDR:PORT (handoff: not used; the engine's socket is --socket).
    #[arg(long, default_value = "127.0.0.1:53")]
    pub target: SocketAddr,
    /// Zone origin (e.g. example.com.).
    #[arg(long)]
    pub zone: String,
    /// Connections, each with one transfer in flight at a time.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// How axfr and ixfr drive the connections: `events`, a few threads each multiplexing its
    /// share with epoll (also soa over UDP: sockets); `threads`, one blocking thread per
    /// connection. soa --tcp and handoff always use blocking threads.
    #[arg(long, value_enum, default_value_t = load::Driver::Events)]
    pub driver: load::Driver,
    /// With --driver events: client threads (default: one per client core), never more than
    /// --concurrency.
    #[arg(long, default_value_t = 0)]
    pub client_threads: usize,
    /// Transfers (or queries) to run in total.
    #[arg(long, default_value_t = 100)]
    pub transfers: u64,
    /// Start no transfer after this many seconds.
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
    /// Per transfer: connect, each read, and the whole transfer, in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// TSIG key NAME:ALG:SECRET (or ALG:NAME:SECRET, as with dig -y; hmac-sha1, hmac-sha224,
    /// hmac-sha256, hmac-sha384 or hmac-sha512; secret in base64). The query is signed and the
    /// MAC chain of the response verified message by message (RFC 8945 section 5.4).
    #[arg(long)]
    pub tsig: Option<String>,
    /// With --tsig: sign the queries but do not verify the responses' MACs, for load
    /// generation (verifying costs the client as much HMAC as signing costs the server). A
    /// server that refuses the key still fails the transfer (NOTAUTH, REFUSED).
    #[arg(long, requires = "tsig")]
    pub tsig_sign_only: bool,
    /// Check every transfer: framing, IDs, SOA first and last, one serial, record count and
    /// record-set digest equal across transfers.
    #[arg(long)]
    pub verify: bool,
    /// With --verify: the number of records each transfer must carry (final SOA not counted).
    #[arg(long)]
    pub expect_records: Option<u64>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Measure this server process (and its children): CPU seconds and peak RSS.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Pin client threads to these cores (comma-separated ids), round robin (default: all).
    #[arg(long, value_delimiter = ',')]
    pub client_cores: Vec<usize>,
    /// Exit with status 1 if any transfer failed.
    #[arg(long)]
    pub fail_on_error: bool,
    /// SO_RCVBUF of each transfer's socket, KiB (0: the kernel's auto-tuned default). A
    /// large one lets the server send without waiting for the client's window.
    #[arg(long, default_value_t = load::RCVBUF_BYTES / 1024)]
    pub rcvbuf_kib: usize,
    /// KiB asked of each read of a transfer (at least 64).
    #[arg(long, default_value_t = load::READ_BUF_BYTES / 1024)]
    pub read_kib: usize,
    /// axfr, ixfr: transfer over TLS 1.3 (XoT, RFC 9103) with ALPN "dot"; the server's
    /// certificate is checked against --tls-ca and --tls-name.
    #[arg(long, requires_all = ["tls_ca", "tls_name"])]
    pub tls: bool,
    /// With --tls: PEM file of the CA certificates the server's certificate must chain to.
    #[arg(long, requires = "tls")]
    pub tls_ca: Option<PathBuf>,
    /// With --tls: the name (or IP address) the server's certificate must be valid for.
    #[arg(long, requires = "tls")]
    pub tls_name: Option<String>,
    /// With --tls: one session store for the whole run (4096 entries), so that connections
    /// after the first resume their sessions (TLS 1.3 tickets) instead of full handshakes.
    #[arg(long, requires = "tls")]
    pub tls_resume: bool,
    /// soa over UDP (events driver): spin on epoll instead of sleeping in it, so that the
    /// client sees an answer when it arrives, not when the scheduler wakes it (on these VMs a
    /// blocked process is woken late: at 1 and 4 in flight every server then reads a few
    /// thousand queries/s). The client's core is then always busy: pin it apart from the
    /// server's, and read the server's CPU per answer.
    #[arg(long)]
    pub busy_poll: bool,
    /// With --tls: queries carry an EDNS Padding option (RFC 7830; padded to 128 bytes, RFC
    /// 8467), so a server that pads sends every message padded (xfrd: to 468-byte blocks).
    #[arg(long, requires = "tls")]
    pub tls_padding: bool,
}

/// The clap command of `xfr-bench`, for the man page and completion generator.
pub fn command() -> clap::Command {
    Cli::command()
}
