//! xfr-bench: a load harness for DNS zone transfer servers (xfrd, knotd, nsd, named, any other).
//!
//! `axfr`, `ixfr` and `soa` drive one server; `compare` starts xfrd and the peers one at a time
//! on loopback and runs the same workloads against each. See bench/README.md.

mod compare;
mod evloop;
mod load;
mod procstat;
mod svg;
mod sys;
mod xfr;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "xfr-bench",
    version,
    about = "Load harness for DNS zone transfer servers"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
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
struct LoadArgs {
    /// Server address, ADDR:PORT (handoff: not used; the engine's socket is --socket).
    #[arg(long, default_value = "127.0.0.1:53")]
    target: SocketAddr,
    /// Zone origin (e.g. example.com.).
    #[arg(long)]
    zone: String,
    /// Connections, each with one transfer in flight at a time.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// How axfr and ixfr drive the connections: `events`, a few threads each multiplexing its
    /// share with epoll (also soa over UDP: sockets); `threads`, one blocking thread per
    /// connection. soa --tcp and handoff always use blocking threads.
    #[arg(long, value_enum, default_value_t = load::Driver::Events)]
    driver: load::Driver,
    /// With --driver events: client threads (default: one per client core), never more than
    /// --concurrency.
    #[arg(long, default_value_t = 0)]
    client_threads: usize,
    /// Transfers (or queries) to run in total.
    #[arg(long, default_value_t = 100)]
    transfers: u64,
    /// Start no transfer after this many seconds.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Per transfer: connect, each read, and the whole transfer, in seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// TSIG key NAME:ALG:SECRET (or ALG:NAME:SECRET, as with dig -y; hmac-sha1, hmac-sha224,
    /// hmac-sha256, hmac-sha384 or hmac-sha512; secret in base64). The query is signed and the
    /// MAC chain of the response verified message by message (RFC 8945 section 5.4).
    #[arg(long)]
    tsig: Option<String>,
    /// With --tsig: sign the queries but do not verify the responses' MACs, for load
    /// generation (verifying costs the client as much HMAC as signing costs the server). A
    /// server that refuses the key still fails the transfer (NOTAUTH, REFUSED).
    #[arg(long, requires = "tsig")]
    tsig_sign_only: bool,
    /// Check every transfer: framing, IDs, SOA first and last, one serial, record count and
    /// record-set digest equal across transfers.
    #[arg(long)]
    verify: bool,
    /// With --verify: the number of records each transfer must carry (final SOA not counted).
    #[arg(long)]
    expect_records: Option<u64>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Measure this server process (and its children): CPU seconds and peak RSS.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Pin client threads to these cores (comma-separated ids), round robin (default: all).
    #[arg(long, value_delimiter = ',')]
    client_cores: Vec<usize>,
    /// Exit with status 1 if any transfer failed.
    #[arg(long)]
    fail_on_error: bool,
    /// SO_RCVBUF of each transfer's socket, KiB (0: the kernel's auto-tuned default). A
    /// large one lets the server send without waiting for the client's window.
    #[arg(long, default_value_t = load::RCVBUF_BYTES / 1024)]
    rcvbuf_kib: usize,
    /// KiB asked of each read of a transfer (at least 64).
    #[arg(long, default_value_t = load::READ_BUF_BYTES / 1024)]
    read_kib: usize,
}

fn secs(name: &str, v: f64) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        v.is_finite() && v > 0.0 && v < 1e7,
        "{name} must be a positive number of seconds"
    );
    Ok(Duration::from_secs_f64(v))
}

fn run_load(
    a: LoadArgs,
    mode: load::Mode,
    handoff_socket: Option<PathBuf>,
    handoff_conns: usize,
) -> anyhow::Result<()> {
    let tsig = a
        .tsig
        .as_deref()
        .map(xfr_proto::tsig::Key::parse_spec)
        .transpose()
        .context("--tsig")?;
    anyhow::ensure!(
        tsig.is_none() || !matches!(mode, load::Mode::Soa { .. }),
        "--tsig applies to axfr and ixfr"
    );
    let cfg = load::LoadConfig {
        mode,
        target: a.target,
        zone: a.zone,
        concurrency: a.concurrency,
        transfers: a.transfers,
        duration: secs("--duration", a.duration)?,
        timeout: secs("--timeout", a.timeout)?,
        tsig,
        tsig_verify: !a.tsig_sign_only,
        verify: a.verify,
        expect_records: a.expect_records,
        server_pid: a.server_pid,
        client_cores: a.client_cores,
        progress: true,
        handoff_socket,
        read_bytes: a.read_kib.max(64) * 1024,
        handoff_conns,
        rcvbuf: a.rcvbuf_kib * 1024,
        driver: a.driver,
        client_threads: a.client_threads,
    };
    let report = load::run(&cfg)?;
    print!("{}", report.table());
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    if a.fail_on_error && report.errors > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Axfr(a) => run_load(a, load::Mode::Axfr, None, 1),
        Cmd::Ixfr { load, serial } => run_load(load, load::Mode::Ixfr { serial }, None, 1),
        Cmd::Soa { load, tcp } => run_load(load, load::Mode::Soa { tcp }, None, 1),
        Cmd::Handoff {
            load,
            socket,
            conns,
        } => run_load(load, load::Mode::Handoff, Some(socket), conns),
        Cmd::Compare(a) => compare::run(a),
    }
}
