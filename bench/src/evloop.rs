//! The event-loop driver for the TCP transfer modes (`axfr`, `ixfr`; SOA over UDP at the
//! end of this file): a few client threads
//! (`--client-threads`, default one per client core, never more than `--concurrency`), each
//! owning its share of the `--concurrency` connections and multiplexing them with epoll
//! (`mio`). Each connection runs transfers back to back exactly as the blocking driver does
//! (`load.rs`): connect, send the query (TSIG-signed with `--tsig`), feed every message to
//! `xfr::Transfer`, record time to first byte and completion, check `--verify`'s reference,
//! then close and start the next transfer until `--transfers` or `--duration` runs out.
//!
//! Why: the blocking driver runs one thread per connection, each reading 256 KiB at a time
//! into its own buffer. Against xfrd (a cheap server) it used more CPU than the server at
//! concurrency 8 and above, most of it system time: the kernel copying received bytes into
//! 64 or 256 buffers of 320 KiB that are cold in cache, plus a wake-up and a context switch
//! per read. Here every connection of a thread reads into the thread's one buffer, which stays
//! hot in cache; a connection carries only the incomplete frame at the end of a read to its
//! next read (measured: 0.4% of the bytes read), and one epoll wait serves every connection
//! that has data. A read shorter than the buffer ends a connection's turn without the read
//! that would only return EAGAIN (a later arrival raises a new edge).
//!
//! Why epoll rather than io_uring: profiled against xfrd at concurrency 64 (perf, cpu-clock),
//! the client's time is the kernel's copy of received bytes to user memory (about half),
//! then the TCP work that loopback runs inside the client's own calls (connect, which also
//! runs the server's side of the handshake; the query's send; close), with syscall entry
//! itself about 1%. A ring copies the same bytes (provided buffers only choose where), so it
//! could save little more than that 1%, at the price of unsafe buffer ownership in this crate.
//!
//! Measured against xfrd (`xfrd serve --cores 1` pinned to core 0 with taskset, the client
//! on core 1 with `--client-cores 1`, a 10,000-record zone from `xfr-zone gen --seed 3`, 350
//! KB per AXFR, `--transfers 5000`, median of 5 runs per cell, drivers interleaved; 22:22
//! UTC, load average 0.2 to 1.4), CPU per transfer in ms, client / server:
//!
//! | concurrency | events        | threads       |
//! |------------:|---------------|---------------|
//! | 1           | 0.076 / 0.082 | 0.073 / 0.084 |
//! | 8           | 0.052 / 0.068 | 0.063 / 0.068 |
//! | 64          | 0.058 / 0.056 | 0.077 / 0.064 |
//! | 256         | 0.055 / 0.052 | 0.103 / 0.074 |
//!
//! Runs spread by about 10% (c=64, events: 0.051 to 0.078), and other runs that day put the
//! event driver at 0.85 to 1.05 of xfrd's CPU at c=64 and c=256. Both drivers there set the
//! 1 MiB SO_RCVBUF (`load.rs`); without it (`--rcvbuf-kib 0`) the event driver cost 0.087,
//! 0.062, 0.074 and 0.076 ms against 0.076, 0.052, 0.068 and 0.056 with it in another run.
//! One 1M-record AXFR (36 MB): 4.1 ms of client CPU (events) and 3.7 (threads) against 13 ms
//! of xfrd's. What is left at 10k records is the kernel's copy of the 350 KB (about half) and
//! the TCP connection work that loopback runs inside the client's calls (connect also runs
//! the server's side of the handshake), which is also most of what xfrd spends: against xfrd
//! the event driver is below the server at c=1 and c=8 and level with it at c=64 and c=256,
//! where the blocking driver was 20-40% above it.
//!
//! Measured and rejected: SO_RCVLOWAT set after the first read to the bytes still expected
//! (learned from the run's previous transfer), so that the kernel wakes the thread once per
//! transfer: at concurrency 1 the client already woke about once per transfer (5,517 context
//! switches in 5,000 transfers), and the extra setsockopt calls cost more than the few reads
//! they saved (0.57 s against 0.50 s of client CPU); closing a finished connection only after
//! the next query went out, so its FIN reaches a server that is awake: no change.
//!
//! SOA queries over UDP have an event driver too (`soa_udp_worker`: `--concurrency` connected
//! sockets, one query in flight on each, on one thread per client core). Against xfrd, 4
//! sockets, 200,000 queries, median of 3: 7.9 µs of client CPU per query against the
//! blocking threads' 9.6, with xfrd at 9.1 and 10.3 µs (the blocking client had been
//! level with xfrd in `compare`). SOA over TCP and the handoff mode keep the blocking driver
//! (`load.rs`): one connection per thread that is reused, and a front-end exchange per
//! transfer that is blocking by nature. `--driver threads` selects the blocking driver for
//! axfr, ixfr and soa too, so both can be compared on the same server.
//!
//! Bounds: every transfer has one deadline, `--timeout` after its connect started (connect,
//! query, and the whole response), checked after every read and by a scan of the thread's
//! connections whenever the earliest deadline has passed; a poll waits at most `POLL_MAX`; no
//! transfer starts after `--duration`, so a thread ends at the latest one timeout after it.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::load::{
    io_err, next_id, now_unix_s, query_frame, xfr_query, Ctx, Done, WorkerStats, MAX_FRAME_BYTES,
};
use crate::tls::{Progress, TlsConn, TLS_CARRY_BYTES};
use crate::xfr::{Step, Transfer, XfrError};

/// The longest one poll waits, so that deadlines and the run's bounds are checked often.
const POLL_MAX: Duration = Duration::from_millis(50);

#[derive(Clone, Copy)]
enum Phase {
    /// Connect started (on loopback the handshake is usually done when connect returns);
    /// the query frame is being written, this many bytes of it so far.
    Sending { sent: usize },
    /// The query is out; response messages are read and checked.
    Reading,
}

/// One transfer in flight on its own connection.
struct Conn {
    stream: TcpStream,
    phase: Phase,
    /// The query with its TCP length prefix.
    query: Vec<u8>,
    /// When the connect started: latency and time to first byte count from here.
    t0: Instant,
    deadline: Instant,
    /// Wall clock for TSIG time checks, taken once per transfer as the blocking driver does.
    now_s: u64,
    ttfb: Option<Duration>,
    bytes: u64,
    xfr: Transfer,
    /// XoT: the connection's TLS state, which sends the query itself (`phase` stays
    /// `Reading`) and carries its own incomplete record and frame.
    tls: Option<TlsConn>,
}

/// One of the thread's connections: the transfer in flight (None when the run is over for
/// it) and the incomplete frame carried from one read to the next (its capacity is reused).
struct Slot {
    conn: Option<Conn>,
    partial: Vec<u8>,
}

/// Run `conns` connections on this thread until the run's transfers or duration are used up
/// and every transfer in flight has ended.
pub(crate) fn worker(ctx: &Ctx, conns: usize, seed: u32) -> WorkerStats {
    let mut st = WorkerStats::new();
    let mut poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            st.error(ctx, &XfrError::Io(format!("epoll_create: {e}")));
            return st;
        }
    };
    let mut events = Events::with_capacity(conns.clamp(16, 1024));
    // The partial frame of a connection goes right before where a read lands, so a frame
    // split over two reads is contiguous: buf[..MAX_FRAME_BYTES] holds the carried bytes
    // (over TLS: the carried incomplete record, buf[..TLS_CARRY_BYTES]).
    let carry = match ctx.tls {
        Some(_) => TLS_CARRY_BYTES,
        None => MAX_FRAME_BYTES,
    };
    let mut buf = vec![0u8; carry + ctx.cfg.read_bytes];
    let mut ids = seed | 1;
    let verify = ctx.cfg.verify;
    let mut slots: Vec<Slot> = (0..conns)
        .map(|_| Slot {
            conn: None,
            partial: Vec::new(),
        })
        .collect();
    let mut active = 0usize;
    for (i, slot) in slots.iter_mut().enumerate() {
        if start(ctx, &poll, slot, i, &mut ids, &mut st) {
            active += 1;
        }
    }
    // The earliest deadline of the transfers in flight, or a time by which it has passed:
    // transfers started later have later deadlines, so it is never too late.
    let mut next_check = earliest_deadline(&slots);
    while active > 0 {
        let wait = next_check
            .saturating_duration_since(Instant::now())
            .min(POLL_MAX);
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            let failed = slots.iter_mut().filter_map(|s| s.conn.take()).count();
            epoll_failed(ctx, &mut st, &e, failed);
            break;
        }
        for ev in events.iter() {
            let i = ev.token().0;
            let slot = &mut slots[i];
            // Events for a connection closed earlier in this batch land on its successor,
            // whose progress() then finds nothing to do: harmless.
            let Some(conn) = slot.conn.as_mut() else {
                continue;
            };
            // With a FIN or an error already reported, read to the end even after a short read.
            let closed = ev.is_read_closed() || ev.is_error();
            let r = match progress(conn, &mut slot.partial, &mut buf, verify, closed) {
                Ok(None) => continue,
                Ok(Some(d)) => ctx.check_reference(&d.outcome).map(|()| d),
                Err(e) => Err(e),
            };
            match r {
                Ok(d) => st.transfer_ok(ctx, &d, conn.t0.elapsed()),
                Err(e) => st.error(ctx, &e),
            }
            if !start(ctx, &poll, slot, i, &mut ids, &mut st) {
                active -= 1;
            }
        }
        let now = Instant::now();
        if now >= next_check {
            for (i, slot) in slots.iter_mut().enumerate() {
                if slot.conn.as_ref().is_some_and(|c| now >= c.deadline) {
                    st.error(ctx, &timeout_of(slot));
                    if !start(ctx, &poll, slot, i, &mut ids, &mut st) {
                        active -= 1;
                    }
                }
            }
            next_check = earliest_deadline(&slots);
        }
    }
    st
}

/// The error of a transfer whose deadline passed: a connect that never completed is a
/// connect error, as with the blocking driver's connect timeout.
/// epoll itself failed: the `failed` transfers (or queries) in flight, already taken off their
/// slots, count as errors, and no new one starts anywhere.
fn epoll_failed(ctx: &Ctx, st: &mut WorkerStats, e: &std::io::Error, failed: usize) {
    let err = XfrError::Io(format!("epoll_wait: {e}"));
    for _ in 0..failed {
        st.error(ctx, &err);
    }
    ctx.stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn timeout_of(slot: &Slot) -> XfrError {
    match slot.conn.as_ref() {
        Some(c) if matches!(c.phase, Phase::Sending { sent: 0 }) => {
            XfrError::Connect("connection timed out".into())
        }
        Some(Conn { tls: Some(t), .. }) if t.handshake().is_none() => {
            XfrError::Tls("handshake timed out".into())
        }
        _ => XfrError::Timeout,
    }
}

fn earliest_deadline(slots: &[Slot]) -> Instant {
    slots
        .iter()
        .filter_map(|s| s.conn.as_ref().map(|c| c.deadline))
        .min()
        .unwrap_or_else(|| Instant::now() + POLL_MAX)
}

/// Close the slot's transfer (if any) and start its next one. Returns false when the run has
/// no transfer left for it. A transfer that fails to start is counted and the next claimed,
/// so this is bounded by the transfer count and the duration.
fn start(
    ctx: &Ctx,
    poll: &Poll,
    slot: &mut Slot,
    token: usize,
    ids: &mut u32,
    st: &mut WorkerStats,
) -> bool {
    // Dropping the stream closes it, which also removes it from the epoll set.
    if let Some(h) = slot
        .conn
        .as_ref()
        .and_then(|c| c.tls.as_ref())
        .and_then(TlsConn::handshake)
    {
        st.handshake(h);
    }
    slot.conn = None;
    slot.partial.clear();
    while ctx.claim().is_some() {
        let c = open(ctx, poll, token, next_id(ids)).and_then(|mut c| {
            match c.tls {
                // The ClientHello, once the connect has finished (a writable event).
                Some(_) => {}
                None => send_query(&mut c)?,
            }
            Ok(c)
        });
        match c {
            Ok(c) => {
                slot.conn = Some(c);
                return true;
            }
            Err(e) => st.error(ctx, &e),
        }
    }
    false
}

/// Start a non-blocking connect and register it; the query is sent once it is connected.
fn open(ctx: &Ctx, poll: &Poll, token: usize, id: u16) -> Result<Conn, XfrError> {
    let t0 = Instant::now();
    let connect_err = |e: std::io::Error| XfrError::Connect(e.to_string());
    let s = crate::sys::tcp_socket(&ctx.cfg.target, ctx.cfg.rcvbuf, true).map_err(connect_err)?;
    match crate::sys::connect(&s, &ctx.cfg.target) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(connect_err(e)),
    }
    let mut stream = TcpStream::from_std(s);
    poll.registry()
        .register(
            &mut stream,
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        )
        .map_err(|e| XfrError::Io(format!("epoll_ctl: {e}")))?;
    let (q, xfr) = xfr_query(ctx, id);
    let (query, phase, tls) = match &ctx.tls {
        Some(t) => (
            Vec::new(),
            Phase::Reading,
            Some(t.connect(query_frame(&q))?),
        ),
        None => (query_frame(&q), Phase::Sending { sent: 0 }, None),
    };
    Ok(Conn {
        stream,
        phase,
        query,
        t0,
        deadline: t0 + ctx.cfg.timeout,
        now_s: now_unix_s(),
        ttfb: None,
        bytes: 0,
        xfr,
        tls,
    })
}

/// Move a transfer as far as its socket allows: send the rest of the query, or read and
/// check what has arrived. Ok(None): wait for the next event; Ok(Some): the transfer is done.
/// Registrations are edge-triggered, so each step runs until the socket would block.
fn progress(
    conn: &mut Conn,
    partial: &mut Vec<u8>,
    buf: &mut [u8],
    verify: bool,
    closed: bool,
) -> Result<Option<Done>, XfrError> {
    if let Some(tls) = conn.tls.as_mut() {
        let now_s = conn.now_s;
        return match tls.progress(
            &mut conn.stream,
            buf,
            &mut conn.xfr,
            conn.t0,
            now_s,
            verify,
            closed,
        )? {
            Progress::Pending => Ok(None),
            Progress::Done => Ok(Some(Done {
                ttfb: tls.first_byte.map(|t| t - conn.t0).unwrap_or_default(),
                bytes: tls.bytes,
                outcome: conn.xfr.outcome(),
            })),
        };
    }
    if let Phase::Sending { .. } = conn.phase {
        // No answer can be there before the whole query was sent: it comes with a later event.
        send_query(conn)?;
        return Ok(None);
    }
    read_available(conn, partial, buf, verify, closed)
}

/// Write what is left of the query. Right after connect this either succeeds (loopback
/// completes the handshake inside connect), would block (a writable event follows once
/// connected), or fails with the connect's error (refused, unreachable).
fn send_query(conn: &mut Conn) -> Result<(), XfrError> {
    while let Phase::Sending { sent } = conn.phase {
        match conn.stream.write(&conn.query[sent..]) {
            Ok(0) => return Err(XfrError::Io("write returned 0".into())),
            Ok(n) if sent + n == conn.query.len() => conn.phase = Phase::Reading,
            Ok(n) => conn.phase = Phase::Sending { sent: sent + n },
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if sent == 0 => return Err(XfrError::Connect(e.to_string())),
            Err(e) => return Err(io_err(e)),
        }
    }
    Ok(())
}

/// Read until the socket would block, feeding every complete message to the transfer.
/// `closed`: the event said the peer closed (or the socket failed), so read until that shows.
fn read_available(
    conn: &mut Conn,
    partial: &mut Vec<u8>,
    buf: &mut [u8],
    verify: bool,
    closed: bool,
) -> Result<Option<Done>, XfrError> {
    let carry = MAX_FRAME_BYTES;
    loop {
        if Instant::now() >= conn.deadline {
            return Err(XfrError::Timeout);
        }
        let n = match conn.stream.read(&mut buf[carry..]) {
            Ok(0) => return Err(XfrError::Truncated),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        };
        let t0 = conn.t0;
        conn.ttfb.get_or_insert_with(|| t0.elapsed());
        conn.bytes += n as u64;
        // The carried incomplete frame (shorter than one frame) goes right before the bytes
        // just read.
        let mut pos = carry - partial.len();
        buf[pos..carry].copy_from_slice(partial);
        partial.clear();
        let end = carry + n;
        while end - pos >= 2 {
            let len = u16::from_be_bytes([buf[pos], buf[pos + 1]]) as usize;
            if end - pos < 2 + len {
                break;
            }
            let step = conn
                .xfr
                .on_message(&buf[pos + 2..pos + 2 + len], conn.now_s)?;
            pos += 2 + len;
            if step == Step::Done {
                if pos != end && verify {
                    return Err(XfrError::TrailingData);
                }
                return Ok(Some(Done {
                    ttfb: conn.ttfb.unwrap_or_default(),
                    bytes: conn.bytes,
                    outcome: conn.xfr.outcome(),
                }));
            }
        }
        partial.extend_from_slice(&buf[pos..end]);
        if carry + n < buf.len() && !closed {
            // A short read emptied the receive queue, and what arrives after the event was
            // taken (data, FIN, reset) raises a new edge: the read that would only say EAGAIN
            // is saved. A FIN that came before it was in the event (`closed`).
            return Ok(None);
        }
    }
}

/// One SOA query socket of `soa_udp_worker`: connected UDP, at most one query in flight.
struct Udp {
    sock: mio::net::UdpSocket,
    /// The query in flight: its ID, when it was sent and its deadline; None when the run has
    /// no query left for this socket.
    flight: Option<(u16, Instant, Instant)>,
}

/// SOA queries over UDP on `socks` connected sockets, each with one query in flight, as the
/// blocking driver's threads do, multiplexed here on one thread: a query is sent as soon as
/// the answer to the previous one is read, and one epoll wait serves every socket with an
/// answer. Answers to earlier, timed-out queries are skipped by their ID.
pub(crate) fn soa_udp_worker(ctx: &Ctx, socks: usize, seed: u32) -> WorkerStats {
    let cfg = ctx.cfg;
    let mut st = WorkerStats::new();
    let mut poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            st.error(ctx, &XfrError::Io(format!("epoll_create: {e}")));
            return st;
        }
    };
    let bind: std::net::SocketAddr = if cfg.target.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let mut udp = Vec::with_capacity(socks);
    for i in 0..socks {
        let s = std::net::UdpSocket::bind(bind).and_then(|s| {
            s.connect(cfg.target)?;
            s.set_nonblocking(true)?;
            let mut s = mio::net::UdpSocket::from_std(s);
            poll.registry()
                .register(&mut s, Token(i), Interest::READABLE)?;
            Ok(s)
        });
        match s {
            Ok(sock) => udp.push(Udp { sock, flight: None }),
            Err(e) => st.error(ctx, &XfrError::Connect(e.to_string())),
        }
    }
    let mut events = Events::with_capacity(socks.clamp(16, 1024));
    let mut q = xfr_proto::message::build_query(
        0,
        ctx.zone_wire.as_wire(),
        xfr_proto::wire::TYPE_SOA,
        None,
    );
    let mut rbuf = vec![0u8; 65535];
    let mut ids = seed | 1;
    let mut active = 0usize;
    for u in udp.iter_mut() {
        if send_soa(ctx, u, &mut q, &mut ids, &mut st) {
            active += 1;
        }
    }
    while active > 0 {
        let now = Instant::now();
        let next = udp
            .iter()
            .filter_map(|u| u.flight.map(|f| f.2))
            .min()
            .unwrap_or(now);
        let wait = match cfg.busy_poll {
            true => Duration::ZERO,
            false => next.saturating_duration_since(now).min(POLL_MAX),
        };
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            let failed = udp.iter_mut().filter_map(|u| u.flight.take()).count();
            epoll_failed(ctx, &mut st, &e, failed);
            break;
        }
        for ev in events.iter() {
            let u = &mut udp[ev.token().0];
            // Until the socket would block: each datagram is the answer, a late answer to an
            // earlier query (skipped), or an error for the query in flight. Bounded: every
            // pass reads one datagram or stops.
            while let Some((id, t0, _)) = u.flight {
                let r = match u.sock.recv(&mut rbuf) {
                    Ok(n) if n >= 2 && u16::from_be_bytes([rbuf[0], rbuf[1]]) != id => continue,
                    Ok(n) => crate::load::check_soa_answer(&rbuf[..n], id).map(|()| n as u64),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => Err(io_err(e)),
                };
                match r {
                    Ok(n) => st.query_ok(ctx, n, t0.elapsed()),
                    Err(e) => st.error(ctx, &e),
                }
                if !send_soa(ctx, u, &mut q, &mut ids, &mut st) {
                    active -= 1;
                }
            }
        }
        let now = Instant::now();
        for u in udp.iter_mut() {
            if u.flight.is_some_and(|f| now >= f.2) {
                st.error(ctx, &XfrError::Timeout);
                if !send_soa(ctx, u, &mut q, &mut ids, &mut st) {
                    active -= 1;
                }
            }
        }
    }
    st
}

/// Send the socket's next query, if the run has one left; false when it has none. A send
/// that fails is counted and the next query claimed, so this is bounded by the query count
/// and the duration.
fn send_soa(ctx: &Ctx, u: &mut Udp, q: &mut [u8], ids: &mut u32, st: &mut WorkerStats) -> bool {
    u.flight = None;
    while ctx.claim().is_some() {
        let id = next_id(ids);
        q[0..2].copy_from_slice(&id.to_be_bytes());
        let t0 = Instant::now();
        match u.sock.send(q) {
            Ok(_) => {
                u.flight = Some((id, t0, t0 + ctx.cfg.timeout));
                return true;
            }
            Err(e) => st.error(ctx, &io_err(e)),
        }
    }
    false
}
