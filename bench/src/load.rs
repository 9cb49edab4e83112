//! The load driver: runs transfers (or SOA queries) back to back on `--concurrency`
//! connections until the transfer count or the duration runs out, and builds the report.
//!
//! Two drivers for the TCP transfer modes (axfr, ixfr), `--driver`: `events` (the default,
//! `evloop.rs`: a few threads, one per client core, each multiplexing its share of the
//! connections with epoll and reading into one buffer) and `threads` (this module: one
//! blocking thread per connection, each with its own buffer). SOA over UDP has both drivers
//! too; SOA over TCP and handoff always use blocking threads. The report prints the client's CPU next to the server's so that a
//! reader can check on every run that the client was the cheaper side.
//!
//! Measured and rejected: reading only each frame's length and header and dropping bodies in
//! the kernel (recv with MSG_TRUNC, no copy) once a transfer's record count is known. Against
//! xfrd it doubled the client's CPU on a 1M-record AXFR (0.04 to 0.09 s per 10 transfers: one
//! wake-up and two syscalls per 16 KB message instead of one read per 256 KiB) and did not
//! help on 10k-record zones, where connect, close and scheduling cost as much as the copy.
//!
//! Both drivers make each transfer's socket with SO_RCVBUF `--rcvbuf-kib` (1 MiB) set before
//! connect, so that the first window lets the server send a 10k-record zone (350 KB) without
//! waiting for the client's window updates; with the kernel's default (auto-tuned from 128
//! KiB) the transfer advances one window at a time, and on loopback the segments that a
//! window update releases are sent and delivered inside the client's read call, on its CPU.
//! `--rcvbuf-kib 0` keeps the kernel's default.
//!
//! Bounds: every transfer has a connect, read and total timeout (`--timeout`); no transfer
//! starts after `--duration`; the blocking thread count is `--concurrency`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::xfr::{Kind, Outcome, Step, Transfer, XfrError};
use xfr_proto::message::{self, Header, NameBuf};
use xfr_proto::tsig::{self, ResponseVerifier, UnsignedRun};
use xfr_proto::wire::{TYPE_AXFR, TYPE_IXFR, TYPE_SOA};

/// Bytes asked of each read(2). Large reads keep the syscall count per transfer low: a
/// 60 MB AXFR takes about 240 reads when the socket has data queued.
pub const READ_BUF_BYTES: usize = 256 * 1024;
/// SO_RCVBUF of each transfer's socket by default (`--rcvbuf-kib`): see `LoadConfig::rcvbuf`.
pub const RCVBUF_BYTES: usize = 1024 * 1024;
/// Largest TCP frame: 2-byte length plus a 65535-byte message.
pub(crate) const MAX_FRAME_BYTES: usize = 2 + 65535;
/// Histogram range: 1 us to 10 minutes, 3 significant digits.
const HIST_MAX_US: u64 = 600_000_000;
/// How often the main thread samples the server and updates the progress line.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);
/// How often the main thread checks whether the workers are done: the run's elapsed time is
/// taken from the workers' own end times, this only bounds how long the report waits.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Axfr,
    Ixfr {
        serial: u32,
    },
    Soa {
        tcp: bool,
    },
    /// AXFR whose connection reaches the server by handoff protocol v1 (DESIGN.md): the
    /// harness plays the front end, connecting to itself over loopback and passing the
    /// accepted socket and the query to `LoadConfig::handoff_socket` with SCM_RIGHTS.
    Handoff,
}

impl Mode {
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Axfr => "axfr",
            Mode::Ixfr { .. } => "ixfr",
            Mode::Soa { tcp: false } => "soa-udp",
            Mode::Soa { tcp: true } => "soa-tcp",
            Mode::Handoff => "axfr-handoff",
        }
    }
}

/// How the TCP transfer modes (axfr, ixfr) drive their connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Driver {
    /// A few threads, each multiplexing its share of the connections with epoll (`evloop`).
    Events,
    /// One blocking thread per connection (this module).
    Threads,
}

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub mode: Mode,
    pub target: SocketAddr,
    pub zone: String,
    pub concurrency: usize,
    pub transfers: u64,
    pub duration: Duration,
    pub timeout: Duration,
    pub tsig: Option<tsig::Key>,
    /// With `tsig`: verify the MAC chain of every response (`xfr-bench axfr` and `ixfr`
    /// always do). Off, the query is still signed and the response read as unsigned ones
    /// are, so that the client's HMAC does not bound a timed run (compare without
    /// `--verify`); a server that refuses the key still fails the transfer (NOTAUTH).
    pub tsig_verify: bool,
    pub verify: bool,
    pub expect_records: Option<u64>,
    pub server_pid: Option<u32>,
    /// Cores the client threads are pinned to, round robin; empty: all cores.
    pub client_cores: Vec<usize>,
    pub progress: bool,
    /// The engine's handoff socket (Mode::Handoff).
    pub handoff_socket: Option<std::path::PathBuf>,
    /// Bytes asked of each read(2) of a transfer (READ_BUF_BYTES by default).
    pub read_bytes: usize,
    /// Handoff mode: connections from the front end to the engine (a real front end keeps a
    /// few long-lived ones; xfrd limits them per core).
    pub handoff_conns: usize,
    /// SO_RCVBUF of each transfer's socket in bytes, 0: the kernel's default (auto-tuned).
    pub rcvbuf: usize,
    /// The driver of axfr, ixfr and soa over UDP; soa over TCP and handoff always use
    /// blocking threads.
    pub driver: Driver,
    /// Event driver: client threads (0: one per client core), never more than `concurrency`.
    pub client_threads: usize,
    /// XoT (RFC 9103): axfr and ixfr over TLS 1.3 (`tls.rs`).
    pub tls: Option<crate::tls::TlsOptions>,
    /// soa over UDP with the event driver: spin on epoll (a zero timeout) instead of sleeping
    /// in it, so an answer is seen when it arrives, not when the scheduler wakes the client.
    pub busy_poll: bool,
}

impl LoadConfig {
    /// Whether this run uses the event driver.
    fn events(&self) -> bool {
        self.driver == Driver::Events
            && matches!(
                self.mode,
                Mode::Axfr | Mode::Ixfr { .. } | Mode::Soa { tcp: false }
            )
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    fn from_us(h: &Histogram<u64>) -> Percentiles {
        let ms = |v: u64| v as f64 / 1000.0;
        if h.is_empty() {
            return Percentiles {
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                p999: 0.0,
                max: 0.0,
            };
        }
        Percentiles {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// With `--tsig`: which key the queries were signed with, and what was checked of the
/// responses.
#[derive(Debug, Clone, Serialize)]
pub struct TsigInfo {
    /// The key's name, lowercased, with the final dot.
    pub key: String,
    /// `hmac-sha256` and the like.
    pub algorithm: &'static str,
    /// Whether every response's MAC chain was verified (`LoadConfig::tsig_verify`).
    pub responses_verified: bool,
    /// Signed messages whose MAC verified, over the successful transfers (0 when not
    /// verified); against `messages_total` it shows how many the server left unsigned.
    pub messages_signed: u64,
}

/// With `--tls`: how the transfers were protected, and the handshakes they took.
#[derive(Debug, Clone, Serialize)]
pub struct TlsInfo {
    /// The name the server's certificate was checked against (`--tls-name`).
    pub server_name: String,
    /// Whether one session store served the run, so that connections resumed (`--tls-resume`).
    pub resumption: bool,
    /// Finished handshakes, full and resumed (a connection whose handshake failed is in
    /// `errors`, as `tls` or `connect`).
    pub handshakes_full: u64,
    pub handshakes_resumed: u64,
    /// From the start of connect to the end of the handshake.
    pub handshake_ms: Percentiles,
    /// The key exchange group negotiated (e.g. "X25519"; TLS 1.3 resumptions here use one
    /// too), absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kx_group: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyInfo {
    pub serial: u32,
    pub records: u64,
    pub digest: String,
}

/// The result of one run. Field names and types are a stable interface (`--json`), pinned by
/// `tests/json_schema.rs`: add fields, never rename or retype them.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    pub mode: &'static str,
    pub target: String,
    pub zone: String,
    pub concurrency: usize,
    /// How the client drove the connections: "events" (`--client-threads` threads
    /// multiplexing them) or "threads" (one blocking thread per connection).
    pub driver: &'static str,
    /// Client worker threads (their CPU is `client_cpu_s`).
    pub client_threads: usize,
    /// Successful transfers (or SOA queries in soa mode).
    pub transfers: u64,
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    pub first_error: Option<String>,
    pub elapsed_s: f64,
    pub transfers_per_s: f64,
    pub mb_per_s: f64,
    pub records_per_s: f64,
    pub bytes_total: u64,
    pub messages_total: u64,
    pub records_total: u64,
    pub messages_per_transfer: f64,
    pub records_per_transfer: f64,
    pub bytes_per_transfer: f64,
    /// From the start of connect to the first response byte (UDP: the whole answer).
    pub ttfb_ms: Percentiles,
    /// From the start of connect to the last byte of the transfer.
    pub latency_ms: Percentiles,
    /// CPU of the client's worker threads (getrusage RUSAGE_THREAD), user + system.
    pub client_cpu_s: f64,
    pub client_user_s: f64,
    pub client_sys_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_mib: Option<f64>,
    pub verify: Option<VerifyInfo>,
    /// Present only when the queries were signed (`--tsig`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tsig: Option<TsigInfo>,
    /// Present only for transfers over TLS (`--tls`). `bytes_total` and `mb_per_s` count the
    /// DNS stream inside TLS (length prefixes included), as over plain TCP; `ttfb_ms` is the
    /// first decrypted response byte.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("valid histogram bounds")
}

pub(crate) struct WorkerStats {
    ttfb: Histogram<u64>,
    latency: Histogram<u64>,
    errors: BTreeMap<&'static str, u64>,
    first_error: Option<String>,
    ok: u64,
    bytes: u64,
    messages: u64,
    records: u64,
    /// Signed response messages whose MAC verified.
    signed: u64,
    /// When this worker finished, and its own CPU time (user, system).
    finished: Option<Instant>,
    cpu_s: (f64, f64),
    /// TLS handshakes finished, full and resumed, their durations, and the group of a full one.
    tls_full: u64,
    tls_resumed: u64,
    handshake: Histogram<u64>,
    kx: Option<rustls::NamedGroup>,
}

impl WorkerStats {
    pub(crate) fn new() -> Self {
        WorkerStats {
            ttfb: hist(),
            latency: hist(),
            errors: BTreeMap::new(),
            first_error: None,
            ok: 0,
            bytes: 0,
            messages: 0,
            records: 0,
            signed: 0,
            finished: None,
            cpu_s: (0.0, 0.0),
            tls_full: 0,
            tls_resumed: 0,
            handshake: hist(),
            kx: None,
        }
    }
    /// Count a finished TLS handshake (whatever became of its transfer).
    pub(crate) fn handshake(&mut self, h: crate::tls::Handshake) {
        if h.resumed {
            self.tls_resumed += 1;
        } else {
            self.tls_full += 1;
        }
        if self.kx.is_none() {
            self.kx = h.kx;
        }
        self.handshake.saturating_record(h.took.as_micros() as u64);
    }
    pub(crate) fn error(&mut self, ctx: &Ctx, e: &XfrError) {
        *self.errors.entry(e.kind()).or_default() += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e.to_string());
        }
        ctx.errors.fetch_add(1, Ordering::Relaxed);
    }
    /// Count a SOA query answered with `bytes` (its length prefix included over TCP) `took`
    /// after it was sent (UDP) or after its connection's query was written (TCP).
    pub(crate) fn query_ok(&mut self, ctx: &Ctx, bytes: u64, took: Duration) {
        let us = took.as_micros() as u64;
        self.ok += 1;
        self.bytes += bytes;
        self.messages += 1;
        self.records += 1;
        self.ttfb.saturating_record(us);
        self.latency.saturating_record(us);
        ctx.done.fetch_add(1, Ordering::Relaxed);
        ctx.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    /// Count a transfer that completed (and passed the reference check) `total` after its
    /// connect started.
    pub(crate) fn transfer_ok(&mut self, ctx: &Ctx, d: &Done, total: Duration) {
        self.ok += 1;
        self.bytes += d.bytes;
        self.messages += d.outcome.messages;
        self.records += d.outcome.records;
        self.signed += d.outcome.signed;
        self.ttfb.saturating_record(d.ttfb.as_micros() as u64);
        self.latency.saturating_record(total.as_micros() as u64);
        ctx.done.fetch_add(1, Ordering::Relaxed);
        ctx.bytes.fetch_add(d.bytes, Ordering::Relaxed);
    }
}

pub(crate) struct Ctx<'a> {
    pub(crate) cfg: &'a LoadConfig,
    pub(crate) zone_wire: NameBuf,
    deadline: Instant,
    claimed: AtomicU64,
    done: AtomicU64,
    errors: AtomicU64,
    bytes: AtomicU64,
    pub(crate) stop: AtomicBool,
    reference: Mutex<Option<Outcome>>,
    /// XoT: the run's TLS client, one session store for every connection.
    pub(crate) tls: Option<crate::tls::TlsClient>,
    /// Handoff mode: the front end's connections to the engine, shared by the threads.
    handoff_pool: Vec<Mutex<Option<xfr_handoff::Client>>>,
}

impl Ctx<'_> {
    /// Claim the next transfer, or None when the count or the duration is used up.
    pub(crate) fn claim(&self) -> Option<u64> {
        if self.stop.load(Ordering::Relaxed) || Instant::now() >= self.deadline {
            return None;
        }
        let n = self.claimed.fetch_add(1, Ordering::Relaxed);
        (n < self.cfg.transfers).then_some(n)
    }

    /// With --verify, every transfer must match the first one (and --expect-records).
    pub(crate) fn check_reference(&self, o: &Outcome) -> Result<(), XfrError> {
        if !self.cfg.verify {
            return Ok(());
        }
        if let Some(want) = self.cfg.expect_records {
            if o.records != want {
                return Err(XfrError::CountMismatch {
                    want,
                    got: o.records,
                });
            }
        }
        let mut r = self.reference.lock().unwrap_or_else(|p| p.into_inner());
        match r.as_ref() {
            None => {
                *r = Some(*o);
                Ok(())
            }
            Some(first) if first.serial != o.serial => Err(XfrError::SerialMismatch {
                want: first.serial,
                got: o.serial,
            }),
            Some(first) if first.records != o.records => Err(XfrError::CountMismatch {
                want: first.records,
                got: o.records,
            }),
            Some(first) if first.digest != o.digest => Err(XfrError::DigestMismatch),
            Some(_) => Ok(()),
        }
    }
}

pub(crate) fn now_unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn io_err(e: std::io::Error) -> XfrError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => XfrError::Timeout,
        _ => XfrError::Io(e.to_string()),
    }
}

/// A query ID sequence per thread: distinct starting points, so IDs differ across threads.
pub(crate) fn next_id(state: &mut u32) -> u16 {
    // xorshift32: cheap and never zero for a non-zero seed.
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    *state as u16
}

pub(crate) struct Done {
    pub(crate) ttfb: Duration,
    pub(crate) bytes: u64,
    pub(crate) outcome: Outcome,
}

/// Appends an OPT record (version 0, UDP size 1232) whose Padding option brings the query to a
/// multiple of `block` bytes (RFC 7830, RFC 8467 section 4.1), with proto's padding helpers.
fn add_padding(q: &mut Vec<u8>, block: usize) {
    use xfr_proto::response::{add_padding_option, padding_len, ResponseOpt, OPT_BYTES};
    let ar = u16::from_be_bytes([q[10], q[11]]) + 1;
    q[10..12].copy_from_slice(&ar.to_be_bytes());
    let at = q.len();
    let pad = padding_len(at + OPT_BYTES + 4, block).expect("a query is small");
    q.resize(at + OPT_BYTES + 4 + pad, 0);
    let opt = ResponseOpt {
        rcode_high: 0,
        dnssec_ok: false,
        expire_s: None,
    };
    opt.write(&mut q[at..]);
    add_padding_option(q, at, OPT_BYTES, pad);
}

/// The query of one transfer (signed with --tsig) and its response verifier.
pub(crate) fn xfr_query(ctx: &Ctx, id: u16) -> (Vec<u8>, Transfer) {
    let cfg = ctx.cfg;
    let (qtype, kind, serial) = match cfg.mode {
        Mode::Ixfr { serial } => (TYPE_IXFR, Kind::Ixfr(serial), Some(serial)),
        _ => (TYPE_AXFR, Kind::Axfr, None),
    };
    let mut q = message::build_query(id, ctx.zone_wire.as_wire(), qtype, serial);
    if cfg.tls.as_ref().is_some_and(|t| t.padding) {
        add_padding(&mut q, 128);
    }
    // Gaps of unsigned messages as RFC 8945 section 5.3.1 allows them (NSD signs one message
    // in a hundred or so); each signed one is verified over all since the last.
    let verifier = cfg.tsig.as_ref().and_then(|k| {
        let mac = tsig::sign_request(k, &mut q, now_unix_s());
        cfg.tsig_verify
            .then(|| ResponseVerifier::new(k, mac, UnsignedRun::Rfc8945))
    });
    (q, Transfer::new(kind, id, cfg.verify, verifier))
}

/// A blocking connect to `target` from `sys::tcp_socket` (so SO_RCVBUF and, on loopback, the
/// spread of source addresses apply), bounded by `timeout` through SO_SNDTIMEO.
fn blocking_connect(
    target: &SocketAddr,
    rcvbuf: usize,
    timeout: Duration,
) -> Result<TcpStream, XfrError> {
    let connect_err = |e: std::io::Error| XfrError::Connect(e.to_string());
    let s = crate::sys::tcp_socket(target, rcvbuf, false).map_err(connect_err)?;
    s.set_write_timeout(Some(timeout)).map_err(io_err)?;
    match crate::sys::connect(&s, target) {
        Ok(()) => Ok(s),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
            Err(XfrError::Connect("connection timed out".into()))
        }
        Err(e) => Err(connect_err(e)),
    }
}

fn one_transfer(ctx: &Ctx, buf: &mut [u8], id: u16) -> Result<Done, XfrError> {
    let cfg = ctx.cfg;
    let t0 = Instant::now();
    // The socket is made first so that SO_RCVBUF (--rcvbuf-kib) sizes the initial window;
    // SO_SNDTIMEO (the write timeout) bounds the blocking connect.
    let mut s = blocking_connect(&cfg.target, cfg.rcvbuf, cfg.timeout)?;
    s.set_nodelay(true).map_err(io_err)?;
    s.set_read_timeout(Some(cfg.timeout)).map_err(io_err)?;
    let (q, xfr) = xfr_query(ctx, id);
    s.write_all(&query_frame(&q)).map_err(io_err)?;
    read_response(ctx, &mut s, buf, t0, xfr)
}

/// One transfer over TLS with a blocking socket: `TlsConn::progress` until the transfer is
/// done; a read that times out comes back as `Pending`, and the transfer's own timeout ends
/// it. The handshake is counted whatever became of the transfer.
fn one_tls_transfer(
    ctx: &Ctx,
    tls: &crate::tls::TlsClient,
    buf: &mut [u8],
    id: u16,
    st: &mut WorkerStats,
) -> Result<Done, XfrError> {
    let cfg = ctx.cfg;
    let t0 = Instant::now();
    let mut s = blocking_connect(&cfg.target, cfg.rcvbuf, cfg.timeout)?;
    s.set_nodelay(true).map_err(io_err)?;
    s.set_read_timeout(Some(cfg.timeout)).map_err(io_err)?;
    let (q, mut xfr) = xfr_query(ctx, id);
    let mut conn = tls.connect(query_frame(&q))?;
    let now_s = now_unix_s();
    let r = loop {
        match conn.progress(&mut s, buf, &mut xfr, t0, now_s, cfg.verify, false) {
            Ok(crate::tls::Progress::Done) => break Ok(()),
            Ok(crate::tls::Progress::Pending) if t0.elapsed() > cfg.timeout => {
                break Err(XfrError::Timeout)
            }
            Ok(crate::tls::Progress::Pending) => {}
            Err(e) => break Err(e),
        }
    };
    if let Some(h) = conn.handshake() {
        st.handshake(h);
    }
    r.map(|()| Done {
        ttfb: conn.first_byte.map(|t| t - t0).unwrap_or_default(),
        bytes: conn.bytes,
        outcome: xfr.outcome(),
    })
}

/// A query with its TCP length prefix (RFC 1035 section 4.2.2; RFC 7858 over TLS).
pub(crate) fn query_frame(q: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(q.len() + 2);
    frame.extend_from_slice(&(q.len() as u16).to_be_bytes());
    frame.extend_from_slice(q);
    frame
}

/// The front end's side of one handoff: connect to our own loopback listener, hand the
/// accepted socket and the query to the engine, close our copy once it is taken, and read
/// the transfer on the client end.
fn one_handoff(
    ctx: &Ctx,
    buf: &mut [u8],
    id: u16,
    listener: &std::net::TcpListener,
    engine: &Mutex<Option<xfr_handoff::Client>>,
) -> Result<Done, XfrError> {
    use std::os::fd::AsFd;
    let cfg = ctx.cfg;
    let path = cfg
        .handoff_socket
        .as_ref()
        .expect("handoff mode has a socket");
    let t0 = Instant::now();
    let addr = listener.local_addr().map_err(io_err)?;
    let mut s = blocking_connect(&addr, cfg.rcvbuf, cfg.timeout)?;
    s.set_read_timeout(Some(cfg.timeout)).map_err(io_err)?;
    let (accepted, _) = listener.accept().map_err(io_err)?;
    let (q, xfr) = xfr_query(ctx, id);
    let status = {
        // The engine answers a handoff before it serves the transfer, so a front-end
        // connection is held only for that exchange and a few serve many client threads.
        let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
        if engine.is_none() {
            let c = xfr_handoff::Client::connect(path)
                .map_err(|e| XfrError::Connect(format!("{}: {e}", path.display())))?;
            c.stream()
                .set_read_timeout(Some(cfg.timeout))
                .map_err(io_err)?;
            *engine = Some(c);
        }
        match engine
            .as_mut()
            .expect("connected above")
            .hand_off(accepted.as_fd(), &q)
        {
            Ok(st) => st,
            Err(e) => {
                // The handoff connection is out of step or gone: start a new one next time.
                *engine = None;
                return Err(XfrError::Io(format!("handoff: {e}")));
            }
        }
    };
    drop(accepted);
    if status != xfr_handoff::Status::Taken {
        return Err(XfrError::HandoffRejected(status as u8));
    }
    read_response(ctx, &mut s, buf, t0, xfr)
}

fn read_response(
    ctx: &Ctx,
    s: &mut TcpStream,
    buf: &mut [u8],
    t0: Instant,
    mut xfr: Transfer,
) -> Result<Done, XfrError> {
    let cfg = ctx.cfg;
    let (mut start, mut end) = (0usize, 0usize);
    let mut ttfb = None;
    let mut bytes = 0u64;
    let now_s = now_unix_s();
    loop {
        let n = s.read(&mut buf[end..]).map_err(io_err)?;
        if n == 0 {
            return Err(XfrError::Truncated);
        }
        ttfb.get_or_insert_with(|| t0.elapsed());
        bytes += n as u64;
        end += n;
        while end - start >= 2 {
            let len = u16::from_be_bytes([buf[start], buf[start + 1]]) as usize;
            if end - start < 2 + len {
                break;
            }
            let step = xfr.on_message(&buf[start + 2..start + 2 + len], now_s)?;
            start += 2 + len;
            if step == Step::Done {
                if start != end && cfg.verify {
                    return Err(XfrError::TrailingData);
                }
                return Ok(Done {
                    ttfb: ttfb.unwrap_or_default(),
                    bytes,
                    outcome: xfr.outcome(),
                });
            }
        }
        if start == end {
            start = 0;
            end = 0;
        } else if buf.len() - end < MAX_FRAME_BYTES {
            // Less room than one frame: move the partial frame to the front.
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        if t0.elapsed() > cfg.timeout {
            return Err(XfrError::Timeout);
        }
    }
}

fn xfr_worker(ctx: &Ctx, seed: u32) -> WorkerStats {
    let mut st = WorkerStats::new();
    let carry = match ctx.tls {
        Some(_) => crate::tls::TLS_CARRY_BYTES,
        None => MAX_FRAME_BYTES,
    };
    let mut buf = vec![0u8; ctx.cfg.read_bytes.max(MAX_FRAME_BYTES) + carry];
    let mut ids = seed | 1;
    // Handoff mode: this thread's front-end listener (engine connections are shared).
    let listener = if ctx.cfg.mode == Mode::Handoff {
        match std::net::TcpListener::bind("127.0.0.1:0") {
            Ok(l) => Some(l),
            Err(e) => {
                st.error(ctx, &XfrError::Io(format!("front-end listener: {e}")));
                return st;
            }
        }
    } else {
        None
    };
    while ctx.claim().is_some() {
        let t0 = Instant::now();
        let id = next_id(&mut ids);
        let r = match &listener {
            Some(l) => {
                let pool = &ctx.handoff_pool;
                one_handoff(ctx, &mut buf, id, l, &pool[seed as usize % pool.len()])
            }
            None => match &ctx.tls {
                Some(tls) => one_tls_transfer(ctx, tls, &mut buf, id, &mut st),
                None => one_transfer(ctx, &mut buf, id),
            },
        };
        match r.and_then(|d| {
            ctx.check_reference(&d.outcome)?;
            Ok(d)
        }) {
            Ok(d) => st.transfer_ok(ctx, &d, t0.elapsed()),
            Err(e) => st.error(ctx, &e),
        }
    }
    st
}

/// Check a SOA answer: our ID, a response, NOERROR, and a SOA as the first answer.
pub(crate) fn check_soa_answer(msg: &[u8], id: u16) -> Result<(), XfrError> {
    let h = Header::parse(msg).map_err(XfrError::Malformed)?;
    if h.id != id {
        return Err(XfrError::IdMismatch {
            want: id,
            got: h.id,
        });
    }
    if !h.is_response() {
        return Err(XfrError::NotResponse);
    }
    if h.rcode() != 0 {
        return Err(XfrError::Rcode(h.rcode()));
    }
    let pos = message::skip_questions(msg, h.qdcount).map_err(XfrError::Malformed)?;
    if h.ancount == 0 {
        return Err(XfrError::FirstNotSoa);
    }
    let rec = message::read_record(msg, pos).map_err(XfrError::Malformed)?;
    if rec.rtype != TYPE_SOA {
        return Err(XfrError::FirstNotSoa);
    }
    Ok(())
}

fn soa_udp_worker(ctx: &Ctx, seed: u32) -> WorkerStats {
    let cfg = ctx.cfg;
    let mut st = WorkerStats::new();
    let bind: SocketAddr = if cfg.target.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let sock = match UdpSocket::bind(bind).and_then(|s| {
        s.connect(cfg.target)?;
        s.set_read_timeout(Some(cfg.timeout))?;
        Ok(s)
    }) {
        Ok(s) => s,
        Err(e) => {
            st.error(ctx, &XfrError::Connect(e.to_string()));
            return st;
        }
    };
    let mut q = message::build_query(0, ctx.zone_wire.as_wire(), TYPE_SOA, None);
    let mut rbuf = vec![0u8; 65535];
    let mut ids = seed | 1;
    while ctx.claim().is_some() {
        let id = next_id(&mut ids);
        q[0..2].copy_from_slice(&id.to_be_bytes());
        let t0 = Instant::now();
        let r = (|| {
            sock.send(&q).map_err(io_err)?;
            // Answers to earlier, timed-out queries may still arrive: skip them, bounded by
            // the timeout of this query.
            loop {
                let n = sock.recv(&mut rbuf).map_err(io_err)?;
                if n >= 2 && u16::from_be_bytes([rbuf[0], rbuf[1]]) != id {
                    if t0.elapsed() > cfg.timeout {
                        return Err(XfrError::Timeout);
                    }
                    continue;
                }
                check_soa_answer(&rbuf[..n], id)?;
                return Ok(n as u64);
            }
        })();
        match r {
            Ok(n) => st.query_ok(ctx, n, t0.elapsed()),
            Err(e) => st.error(ctx, &e),
        }
    }
    st
}

fn soa_tcp_worker(ctx: &Ctx, seed: u32) -> WorkerStats {
    let cfg = ctx.cfg;
    let mut st = WorkerStats::new();
    let mut conn: Option<TcpStream> = None;
    let mut q = message::build_query(0, ctx.zone_wire.as_wire(), TYPE_SOA, None);
    let mut frame = Vec::with_capacity(q.len() + 2);
    let mut rbuf = vec![0u8; 65535];
    let mut ids = seed | 1;
    while ctx.claim().is_some() {
        let id = next_id(&mut ids);
        q[0..2].copy_from_slice(&id.to_be_bytes());
        frame.clear();
        frame.extend_from_slice(&(q.len() as u16).to_be_bytes());
        frame.extend_from_slice(&q);
        let t0 = Instant::now();
        let r = (|| {
            if conn.is_none() {
                let s = TcpStream::connect_timeout(&cfg.target, cfg.timeout)
                    .map_err(|e| XfrError::Connect(e.to_string()))?;
                s.set_nodelay(true).map_err(io_err)?;
                s.set_read_timeout(Some(cfg.timeout)).map_err(io_err)?;
                conn = Some(s);
            }
            let s = conn.as_mut().expect("just connected");
            s.write_all(&frame).map_err(io_err)?;
            let mut lenb = [0u8; 2];
            s.read_exact(&mut lenb).map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => XfrError::Truncated,
                _ => io_err(e),
            })?;
            let len = u16::from_be_bytes(lenb) as usize;
            s.read_exact(&mut rbuf[..len]).map_err(io_err)?;
            check_soa_answer(&rbuf[..len], id)?;
            Ok(len as u64 + 2)
        })();
        match r {
            Ok(n) => st.query_ok(ctx, n, t0.elapsed()),
            Err(e) => {
                conn = None;
                st.error(ctx, &e)
            }
        }
    }
    st
}

/// Run the configured load and return the report.
pub fn run(cfg: &LoadConfig) -> anyhow::Result<Report> {
    anyhow::ensure!(cfg.concurrency > 0, "--concurrency must be at least 1");
    anyhow::ensure!(
        cfg.tls.is_none() || matches!(cfg.mode, Mode::Axfr | Mode::Ixfr { .. }),
        "--tls applies to axfr and ixfr"
    );
    let tls = cfg
        .tls
        .as_ref()
        .map(crate::tls::TlsClient::new)
        .transpose()?;
    let zone_wire = message::text_to_wire(&cfg.zone)
        .as_deref()
        .and_then(NameBuf::new)
        .with_context(|| format!("--zone {:?} is not a domain name", cfg.zone))?;
    let mut cores = core_affinity::get_core_ids().unwrap_or_default();
    if !cfg.client_cores.is_empty() {
        cores.retain(|c| cfg.client_cores.contains(&c.id));
        anyhow::ensure!(!cores.is_empty(), "none of --client-cores exists here");
    }
    let mut sampler = match cfg.server_pid {
        Some(pid) => Some(crate::procstat::Sampler::start(pid).map_err(|e| anyhow::anyhow!(e))?),
        None => None,
    };
    let ctx = Ctx {
        cfg,
        zone_wire,
        deadline: Instant::now() + cfg.duration,
        claimed: AtomicU64::new(0),
        done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        reference: Mutex::new(None),
        tls,
        handoff_pool: (0..cfg.handoff_conns.clamp(1, cfg.concurrency))
            .map(|_| Mutex::new(None))
            .collect(),
    };
    // Keep the sampling thread off the server's cores when the client's cores are named.
    if !cfg.client_cores.is_empty() {
        core_affinity::set_for_current(cores[0]);
    }
    let progress = cfg.progress && std::io::stderr().is_terminal();
    let t0 = Instant::now();
    // Blocking threads: one per connection. Event driver: `client_threads` (default one per
    // client core), the connections split between them as evenly as they go.
    let threads = if cfg.events() {
        let want = match cfg.client_threads {
            0 => cores.len(),
            n => n,
        };
        want.clamp(1, cfg.concurrency)
    } else {
        cfg.concurrency
    };
    let stats: Vec<WorkerStats> = std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let conns = cfg.concurrency / threads + usize::from(i < cfg.concurrency % threads);
            let core = (!cores.is_empty()).then(|| cores[i % cores.len()]);
            let ctx = &ctx;
            let h = std::thread::Builder::new()
                .name(format!("client-{i}"))
                .stack_size(256 * 1024)
                .spawn_scoped(scope, move || {
                    if let Some(c) = core {
                        core_affinity::set_for_current(c);
                    }
                    let seed = 0x9e37_79b9u32.wrapping_mul(i as u32 + 1);
                    let cpu0 = crate::sys::thread_cpu_s();
                    let mut st = match ctx.cfg.mode {
                        Mode::Soa { tcp: false } if ctx.cfg.events() => {
                            crate::evloop::soa_udp_worker(ctx, conns, seed)
                        }
                        Mode::Soa { tcp: false } => soa_udp_worker(ctx, seed),
                        Mode::Soa { tcp: true } => soa_tcp_worker(ctx, seed),
                        _ if ctx.cfg.events() => crate::evloop::worker(ctx, conns, seed),
                        _ => xfr_worker(ctx, seed),
                    };
                    let cpu1 = crate::sys::thread_cpu_s();
                    st.finished = Some(Instant::now());
                    st.cpu_s = (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1);
                    st
                })
                .expect("spawn client thread");
            handles.push(h);
        }
        // Sample and report progress until every worker is done. Workers are bounded by the
        // duration plus one transfer timeout; this loop is bounded by the same plus slack.
        let hard_stop = t0 + cfg.duration + cfg.timeout * 2 + Duration::from_secs(5);
        let mut last_print = Instant::now();
        let mut last_sample = Instant::now();
        while handles.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(POLL_INTERVAL);
            if last_sample.elapsed() >= SAMPLE_INTERVAL {
                last_sample = Instant::now();
                if let Some(s) = sampler.as_mut() {
                    s.sample();
                }
            }
            if Instant::now() > hard_stop {
                ctx.stop.store(true, Ordering::Relaxed);
            }
            if progress && last_print.elapsed() >= Duration::from_secs(1) {
                last_print = Instant::now();
                let el = t0.elapsed().as_secs_f64();
                let d = ctx.done.load(Ordering::Relaxed);
                eprint!(
                    "\r{:>6.1}s  {} ok  {} errors  {:.1}/s  {:.1} MB/s   ",
                    el,
                    d,
                    ctx.errors.load(Ordering::Relaxed),
                    d as f64 / el,
                    ctx.bytes.load(Ordering::Relaxed) as f64 / 1e6 / el
                );
            }
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread panicked"))
            .collect()
    });
    // The run ends when its last worker does (not when the polling loop noticed).
    let elapsed = stats
        .iter()
        .filter_map(|s| s.finished)
        .max()
        .map(|t| t.duration_since(t0))
        .unwrap_or_else(|| t0.elapsed())
        .as_secs_f64();
    if progress {
        eprintln!();
    }
    // The client's CPU is its workers' (RUSAGE_THREAD): the main thread's /proc sampling of
    // the server is bookkeeping, not load generation.
    let cpu = stats
        .iter()
        .fold((0.0, 0.0), |a, s| (a.0 + s.cpu_s.0, a.1 + s.cpu_s.1));
    if let Some(s) = sampler.as_mut() {
        s.sample();
    }
    let mut ttfb = hist();
    let mut latency = hist();
    let mut errors_by_kind = BTreeMap::new();
    let (mut ok, mut bytes, mut messages, mut records, mut signed) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut first_error = None;
    let mut handshake = hist();
    let (mut tls_full, mut tls_resumed, mut kx) = (0u64, 0u64, None);
    for s in &stats {
        handshake.add(&s.handshake).expect("same histogram bounds");
        tls_full += s.tls_full;
        tls_resumed += s.tls_resumed;
        kx = kx.or(s.kx);
        ttfb.add(&s.ttfb).expect("same histogram bounds");
        latency.add(&s.latency).expect("same histogram bounds");
        for (k, v) in &s.errors {
            *errors_by_kind.entry(k.to_string()).or_insert(0) += v;
        }
        ok += s.ok;
        bytes += s.bytes;
        messages += s.messages;
        records += s.records;
        signed += s.signed;
        if first_error.is_none() {
            first_error.clone_from(&s.first_error);
        }
    }
    let errors = errors_by_kind.values().sum();
    let per = |x: u64| if ok > 0 { x as f64 / ok as f64 } else { 0.0 };
    let reference = *ctx.reference.lock().unwrap_or_else(|p| p.into_inner());
    Ok(Report {
        tool: "xfr-bench",
        version: env!("CARGO_PKG_VERSION"),
        mode: cfg.mode.name(),
        target: match (&cfg.mode, &cfg.handoff_socket) {
            (Mode::Handoff, Some(p)) => p.display().to_string(),
            _ => cfg.target.to_string(),
        },
        zone: cfg.zone.clone(),
        concurrency: cfg.concurrency,
        driver: if cfg.events() { "events" } else { "threads" },
        client_threads: threads,
        transfers: ok,
        errors,
        errors_by_kind,
        first_error,
        elapsed_s: elapsed,
        transfers_per_s: ok as f64 / elapsed,
        mb_per_s: bytes as f64 / 1e6 / elapsed,
        records_per_s: records as f64 / elapsed,
        bytes_total: bytes,
        messages_total: messages,
        records_total: records,
        messages_per_transfer: per(messages),
        records_per_transfer: per(records),
        bytes_per_transfer: per(bytes),
        ttfb_ms: Percentiles::from_us(&ttfb),
        latency_ms: Percentiles::from_us(&latency),
        client_cpu_s: cpu.0 + cpu.1,
        client_user_s: cpu.0,
        client_sys_s: cpu.1,
        server_cpu_s: sampler.as_ref().map(|s| s.cpu_s()),
        server_rss_mib: sampler.as_ref().map(|s| s.peak_rss_mib()),
        verify: reference.filter(|_| cfg.verify).map(|o| VerifyInfo {
            serial: o.serial,
            records: o.records,
            digest: o.digest.map(|d| d.to_string()).unwrap_or_default(),
        }),
        tsig: cfg
            .tsig
            .as_ref()
            .filter(|_| !matches!(cfg.mode, Mode::Soa { .. }))
            .map(|k| TsigInfo {
                key: tsig::name_text(k.name()),
                algorithm: k.algorithm().text_name(),
                responses_verified: cfg.tsig_verify,
                messages_signed: signed,
            }),
        tls: cfg.tls.as_ref().map(|t| TlsInfo {
            server_name: t.name.clone(),
            resumption: t.resume,
            handshakes_full: tls_full,
            handshakes_resumed: tls_resumed,
            handshake_ms: Percentiles::from_us(&handshake),
            kx_group: kx.map(|g| format!("{g:?}")),
        }),
    })
}

impl Report {
    /// The human table printed at the end of a run.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let unit = if self.mode.starts_with("soa") {
            "queries"
        } else {
            "transfers"
        };
        let _ = writeln!(
            s,
            "{} {} zone {} concurrency {} ({} driver, {} client threads): {} {unit} ok, {} errors in {:.2} s",
            self.mode,
            self.target,
            self.zone,
            self.concurrency,
            self.driver,
            self.client_threads,
            self.transfers,
            self.errors,
            self.elapsed_s
        );
        let _ = writeln!(
            s,
            "  {:>12.1} {unit}/s {:>10.1} MB/s {:>12.0} records/s",
            self.transfers_per_s, self.mb_per_s, self.records_per_s
        );
        let _ = writeln!(
            s,
            "  per transfer: {:.1} messages, {:.0} records, {:.0} bytes",
            self.messages_per_transfer, self.records_per_transfer, self.bytes_per_transfer
        );
        let _ = writeln!(
            s,
            "  {:<12} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "ms", "p50", "p90", "p99", "p99.9", "max"
        );
        for (name, p) in [
            ("first byte", &self.ttfb_ms),
            ("complete", &self.latency_ms),
        ] {
            let _ = writeln!(
                s,
                "  {:<12} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                name, p.p50, p.p90, p.p99, p.p999, p.max
            );
        }
        let _ = write!(
            s,
            "  CPU s: client {:.2} (user {:.2} sys {:.2})",
            self.client_cpu_s, self.client_user_s, self.client_sys_s
        );
        match (self.server_cpu_s, self.server_rss_mib) {
            (Some(c), Some(r)) => {
                let _ = writeln!(s, ", server {c:.2}; server peak RSS {r:.0} MiB");
            }
            _ => {
                let _ = writeln!(s, ", server not measured (--server-pid)");
            }
        }
        for (k, v) in &self.errors_by_kind {
            let _ = writeln!(s, "  error {k}: {v}");
        }
        if let Some(e) = &self.first_error {
            let _ = writeln!(s, "  first error: {e}");
        }
        if let Some(v) = &self.verify {
            let _ = writeln!(
                s,
                "  verified: serial {}, {} records, digest {}",
                v.serial, v.records, v.digest
            );
        }
        if let Some(t) = &self.tls {
            let _ = writeln!(
                s,
                "  TLS 1.3 to {} ({}): {} full and {} resumed handshakes, handshake p50 {:.3} ms p99 {:.3} ms{}",
                t.server_name,
                if t.resumption { "sessions resumed" } else { "no resumption" },
                t.handshakes_full,
                t.handshakes_resumed,
                t.handshake_ms.p50,
                t.handshake_ms.p99,
                t.kx_group
                    .as_ref()
                    .map(|g| format!(", key exchange {g}"))
                    .unwrap_or_default()
            );
        }
        if let Some(t) = &self.tsig {
            if t.responses_verified {
                let _ = writeln!(
                    s,
                    "  TSIG {} ({}): {} of {} messages signed, every MAC verified",
                    t.key, t.algorithm, t.messages_signed, self.messages_total
                );
            } else {
                let _ = writeln!(
                    s,
                    "  TSIG {} ({}): queries signed, responses not verified",
                    t.key, t.algorithm
                );
            }
        }
        s
    }
}
