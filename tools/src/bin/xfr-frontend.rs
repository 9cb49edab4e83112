//! `xfr-frontend`: a minimal real authoritative TCP front end that hands zone-transfer
//! connections to xfrd over handoff protocol v1 (the BIND 10 Xfrout model).
//!
//! It accepts DNS over TCP, reads exactly one message at a time (the 2-byte length, then that
//! many bytes: nothing a client pipelined behind it is read), and:
//! - AXFR or IXFR: passes the client's socket and the query to xfrd. Taken: closes its own
//!   copy; xfrd answers and serves the connection from then on. Not taken: keeps the
//!   connection and answers itself (NOTAUTH for a zone xfrd does not serve, SERVFAIL when xfrd
//!   is overloaded or unreachable, FORMERR for a malformed query), then reads the next query.
//! - SOA for a zone it was given: answers itself, authoritatively, from the zone file (with
//!   EDNS EXPIRE from that SOA when asked, as xfrd does).
//! - a query that xfrd's own parser (`xfr_proto::parse_query`) refuses: FORMERR, or NOTIMP for
//!   an opcode other than QUERY and NOTIFY, answered here without a handoff; a message shorter
//!   than a header, or a response, closes the connection.
//! - an EDNS version above 0 on anything but AXFR and IXFR: BADVERS (xfrd answers, and signs,
//!   that of a transfer query).
//! - anything else (NOTIFY included): REFUSED.
//!
//! It is both the reference integration of the protocol and the load source of the handoff
//! benchmark, so it is event-driven: a few threads (`--threads`, default 1), each an epoll
//! loop (mio) over non-blocking client sockets and its own share of the long-lived, non-blocking
//! connections to xfrd. A handoff does not wait for its status: the frame goes out on an engine
//! connection chosen round robin, the client waits in that connection's FIFO, and statuses are
//! matched to clients in order when the engine connection turns readable. Only readability is
//! watched on an engine connection (write space only while a frame waits for it), so the engine
//! consuming a frame wakes nobody here; statuses are not waited for either: they are read
//! (an `epoll_wait` with a zero timeout on a second epoll set) whenever the thread is awake for
//! its clients, and at least every millisecond while some are due, so the engine's status
//! write wakes no one. A client's socket joins the epoll set only when a read or write of it
//! has to wait; with TCP_DEFER_ACCEPT (`--defer-accept-s`, default 1) the query has usually
//! come with the connection, so a transfer costs this thread one wake-up and no `epoll_ctl`.
//!
//! A frame goes out in one `sendmsg` with its descriptor. No room (EAGAIN): it waits, in order,
//! for write space. A partial send would leave the stream out of step with the descriptors:
//! that engine connection is closed and its waiting clients are answered SERVFAIL (they stay
//! ours), as on any other loss of an engine connection; a lost connection is re-established
//! when next needed. A status that does not come within the idle timeout counts as a loss.

use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use mio::net::{TcpListener, TcpStream, UnixStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use xfr_handoff::frame::{self, Status, RESPONSE_BYTES};
use xfr_handoff::sys::send_with_fd;
use xfr_proto::message::NameBuf;
use xfr_proto::response::{write_rcode_response, ResponseError, OPT_BYTES, OPT_BYTES_MAX};
use xfr_proto::wire::{
    HEADER_BYTES, OPCODE_QUERY, QUESTION_BYTES_MAX, RCODE_BADVERS, RCODE_FORMERR, RCODE_NOTAUTH,
    RCODE_REFUSED, RCODE_SERVFAIL,
};
use xfr_proto::{parse_query, write_error_response, write_soa_answer, Query};
use xfr_tools::cli::xfr_frontend::Args;
use zone_store::zonefile::{parse_file, ParseOptions};
use zone_store::{rtype, Name};

/// What the front end answers itself: the SOA of each zone, by lowercased wire origin.
struct Zones {
    soa: HashMap<Vec<u8>, (u32, Box<[u8]>)>,
}

fn load_zones(specs: &[String]) -> Result<Zones> {
    let mut zones = Zones {
        soa: HashMap::new(),
    };
    for spec in specs {
        let (origin, file) = spec
            .split_once('=')
            .with_context(|| format!("--zone {spec}: expected ORIGIN=ZONEFILE"))?;
        let origin = Name::parse(origin, Some(&Name::root()))
            .map_err(|e| anyhow::anyhow!("--zone {spec}: origin: {e}"))?;
        let parsed = parse_file(
            file.as_ref(),
            &ParseOptions {
                origin: origin.clone(),
                class: zone_store::record::CLASS_IN,
                threads: 1,
            },
        )
        .map_err(|e| anyhow::anyhow!("--zone {spec}: {e}"))?;
        let soa = parsed
            .records
            .iter()
            .find(|r| r.rtype == rtype::SOA)
            .with_context(|| format!("--zone {spec}: zone has no SOA"))?;
        zones.soa.insert(
            origin.to_lowercase().as_wire().to_vec(),
            (soa.ttl, soa.rdata.clone()),
        );
    }
    Ok(zones)
}

fn connect_engine(path: &Path) -> io::Result<UnixStream> {
    let s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_nonblocking(true)?;
    Ok(UnixStream::from_std(s))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let zones = Arc::new(load_zones(&args.zones)?);
    let threads = args.threads.max(1);
    let engines_total = args.engine_connections.clamp(threads, ENGINES_MAX);
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("listen on {}", args.listen))?;
    listener
        .set_nonblocking(true)
        .context("make the listening socket non-blocking")?;
    if args.defer_accept_s > 0 {
        sys::set_defer_accept(listener.as_fd(), args.defer_accept_s)
            .context("set TCP_DEFER_ACCEPT on the listening socket")?;
    }
    let idle = Duration::from_millis(args.idle_timeout_ms.max(1));
    let max_clients = args.max_clients.max(1).div_ceil(threads);
    let mut loops = Vec::with_capacity(threads);
    for t in 0..threads {
        let n = engines_total / threads + usize::from(t < engines_total % threads);
        let engines = (0..n)
            .map(|_| {
                connect_engine(&args.handoff).with_context(|| {
                    format!(
                        "connect to xfrd's handoff socket {}",
                        args.handoff.display()
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let listener = listener.try_clone().context("clone the listening socket")?;
        loops.push(EventLoop::new(
            TcpListener::from_std(listener),
            engines,
            args.handoff.clone(),
            zones.clone(),
            idle,
            max_clients,
        )?);
    }
    drop(listener);
    eprintln!(
        "xfr-frontend: serving on {} with {threads} thread(s), {engines_total} engine connections, \
         at most {} clients, handing transfers to {}",
        args.listen,
        max_clients * threads,
        args.handoff.display()
    );
    let handles: Vec<_> = loops
        .into_iter()
        .enumerate()
        .map(|(i, mut l)| {
            std::thread::Builder::new()
                .name(format!("frontend-{i}"))
                .spawn(move || l.run())
                .context("starting an event-loop thread")
        })
        .collect::<Result<_>>()?;
    for h in handles {
        match h.join() {
            Ok(r) => r?,
            Err(_) => anyhow::bail!("an event-loop thread panicked"),
        }
    }
    Ok(())
}

/// Engine connections per process at most (tokens are laid out below `CLIENT_BASE`).
const ENGINES_MAX: usize = 4096;
const LISTENER: Token = Token(0);
const ENGINE_BASE: usize = 1;
const CLIENT_BASE: usize = ENGINE_BASE + ENGINES_MAX;
/// Messages one client may have handled in one turn before the others get theirs.
const MESSAGES_PER_TURN: usize = 16;
/// How long a failed connect to the engine keeps that slot from trying again.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(100);
/// How long to wait before accepting again after accept failed (EMFILE and the like).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait in epoll while statuses are due (they wake no one: see `EventLoop::statuses`).
/// Under load the thread wakes sooner for its clients and collects them then.
const STATUS_WAIT: Duration = Duration::from_millis(1);
/// Bytes of statuses read at once from an engine connection.
const STATUS_READ_BYTES: usize = 256;

/// One connection to xfrd's handoff socket and the clients waiting on it.
struct Engine {
    stream: Option<UnixStream>,
    /// Earliest time to try connecting again after a failed connect.
    retry_at: Instant,
    /// Clients whose frame went out, oldest first, with when it went: statuses come in this
    /// order.
    sent: VecDeque<(usize, Instant)>,
    /// Clients whose frame waits for write space, in order (all behind `sent`).
    queued: VecDeque<usize>,
    /// Since when `queued` has been waiting.
    blocked_since: Option<Instant>,
    /// A status split between two reads.
    partial: Option<u8>,
    /// Whether write space is watched too (only while `queued` is not empty).
    watch_write: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading the 2-byte length (`got` bytes of it so far).
    Len,
    /// Reading the message (`got` bytes of it so far).
    Msg,
    /// Handed off; waiting for the engine's status. Nothing is read meanwhile.
    Pending,
    /// Writing `out[out_pos..]`; then back to `Len`.
    Writing,
}

struct Conn {
    stream: TcpStream,
    state: State,
    len: [u8; 2],
    got: usize,
    msg: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    /// Whether the socket is in the epoll set: only once a read or write had to wait (a
    /// query that came with the connection is handed off without it ever being watched).
    registered: bool,
    watch_write: bool,
    /// TCP_NODELAY is set before the first answer of ours (pipelined answers must not wait
    /// for delayed ACKs); a connection only handed off is left as the engine would accept it.
    nodelay: bool,
    /// Last progress in either direction, for the idle timeout.
    last: Instant,
}

struct EventLoop {
    poll: Poll,
    /// The engine connections' readability, polled without waiting (`epoll_wait` with a zero
    /// timeout) whenever this thread is awake anyway: a status then wakes no one, so the
    /// engine does not pay a wake-up of this thread per handoff. While statuses are due, the
    /// main wait is at most `STATUS_WAIT`.
    statuses: Poll,
    status_events: Events,
    listener: TcpListener,
    /// At the client limit with connections possibly left in the backlog.
    accept_full: bool,
    /// Accept failed (EMFILE...): try again at this time.
    accept_retry_at: Option<Instant>,
    engines: Vec<Engine>,
    next_engine: usize,
    handoff: PathBuf,
    clients: Vec<Option<Conn>>,
    free: Vec<usize>,
    live: usize,
    max_clients: usize,
    /// Clients to drive outside an event of theirs: answered after a status, or out of turn.
    ready: VecDeque<usize>,
    zones: Arc<Zones>,
    idle: Duration,
    now: Instant,
}

impl EventLoop {
    fn new(
        mut listener: TcpListener,
        engines: Vec<UnixStream>,
        handoff: PathBuf,
        zones: Arc<Zones>,
        idle: Duration,
        max_clients: usize,
    ) -> Result<EventLoop> {
        let poll = Poll::new().context("create an epoll instance")?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .context("register the listening socket")?;
        let statuses = Poll::new().context("create an epoll instance")?;
        let now = Instant::now();
        let engines = engines
            .into_iter()
            .enumerate()
            .map(|(i, mut s)| {
                statuses
                    .registry()
                    .register(&mut s, Token(ENGINE_BASE + i), Interest::READABLE)
                    .context("register an engine connection")?;
                Ok(Engine {
                    stream: Some(s),
                    retry_at: now,
                    sent: VecDeque::new(),
                    queued: VecDeque::new(),
                    blocked_since: None,
                    partial: None,
                    watch_write: false,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(EventLoop {
            poll,
            statuses,
            status_events: Events::with_capacity(64),
            listener,
            accept_full: false,
            accept_retry_at: None,
            engines,
            next_engine: 0,
            handoff,
            clients: Vec::new(),
            free: Vec::new(),
            live: 0,
            max_clients,
            ready: VecDeque::new(),
            zones,
            idle,
            now,
        })
    }

    fn run(&mut self) -> Result<()> {
        let mut events = Events::with_capacity(256);
        let sweep_every = (self.idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let mut next_sweep = Instant::now() + sweep_every;
        loop {
            let mut timeout = next_sweep.saturating_duration_since(self.now);
            if let Some(at) = self.accept_retry_at {
                timeout = timeout.min(at.saturating_duration_since(self.now));
            }
            let due = self.statuses_due();
            if due {
                timeout = timeout.min(STATUS_WAIT);
            }
            if !self.ready.is_empty() {
                timeout = Duration::ZERO;
            }
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).context("epoll_wait"),
            }
            self.now = Instant::now();
            if due {
                self.collect_statuses()?;
            }
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(),
                    Token(t) if t >= CLIENT_BASE => self.drive(t - CLIENT_BASE),
                    Token(t) => self.flush_engine(t - ENGINE_BASE),
                }
            }
            for _ in 0..self.ready.len() {
                let Some(k) = self.ready.pop_front() else {
                    break;
                };
                self.drive(k);
            }
            if self.accept_full && self.live < self.max_clients {
                self.accept();
            }
            if self.accept_retry_at.is_some_and(|at| self.now >= at) {
                self.accept_retry_at = None;
                self.accept();
            }
            if self.now >= next_sweep {
                self.sweep();
                next_sweep = self.now + sweep_every;
            }
        }
    }

    /// Whether any engine connection owes statuses.
    fn statuses_due(&self) -> bool {
        self.engines.iter().any(|e| !e.sent.is_empty())
    }

    /// Reads the statuses that have come, without waiting.
    fn collect_statuses(&mut self) -> Result<()> {
        match self
            .statuses
            .poll(&mut self.status_events, Some(Duration::ZERO))
        {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e).context("epoll_wait"),
        }
        // The event list is taken for the loop (read_statuses needs `self`) and put back, so a
        // turn allocates nothing.
        let events = std::mem::replace(&mut self.status_events, Events::with_capacity(0));
        for ev in events.iter() {
            self.read_statuses(ev.token().0 - ENGINE_BASE);
        }
        self.status_events = events;
        Ok(())
    }

    fn accept(&mut self) {
        if self.accept_retry_at.is_some() {
            return;
        }
        self.accept_full = false;
        loop {
            if self.live >= self.max_clients {
                self.accept_full = true;
                return;
            }
            match self.listener.accept() {
                Ok((stream, _)) => self.add_client(stream),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning on accept.
                    eprintln!("xfr-frontend: accept: {e}");
                    self.accept_retry_at = Some(self.now + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    fn add_client(&mut self, stream: TcpStream) {
        let k = match self.free.pop() {
            Some(k) => k,
            None => {
                self.clients.push(None);
                self.clients.len() - 1
            }
        };
        self.clients[k] = Some(Conn {
            stream,
            state: State::Len,
            len: [0; 2],
            got: 0,
            msg: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            registered: false,
            watch_write: false,
            nodelay: false,
            last: self.now,
        });
        self.live += 1;
        // The query often came with the connection: read it now, and register the socket
        // only if it has to be waited for.
        self.drive(k);
    }

    /// Watches client `k` for readability, and writability too with `write`. False: it could
    /// not be registered (the caller closes it).
    fn watch_client(&mut self, k: usize, write: bool) -> bool {
        let Some(c) = self.clients.get_mut(k).and_then(Option::as_mut) else {
            return false;
        };
        if c.registered && c.watch_write == write {
            return true;
        }
        let token = Token(CLIENT_BASE + k);
        let interest = if write {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let r = if c.registered {
            self.poll
                .registry()
                .reregister(&mut c.stream, token, interest)
        } else {
            self.poll
                .registry()
                .register(&mut c.stream, token, interest)
        };
        c.registered = r.is_ok();
        c.watch_write = write && c.registered;
        c.registered
    }

    fn close_client(&mut self, k: usize) {
        if let Some(mut c) = self.clients.get_mut(k).and_then(Option::take) {
            // Deregister before closing: a handed-off socket lives on in the engine, and its
            // epoll registration with it.
            if c.registered {
                let _ = self.poll.registry().deregister(&mut c.stream);
            }
            self.free.push(k);
            self.live -= 1;
        }
    }

    /// Makes all the progress client `k` can make without waiting.
    fn drive(&mut self, k: usize) {
        let mut budget = MESSAGES_PER_TURN;
        loop {
            let Some(c) = self.clients.get_mut(k).and_then(Option::as_mut) else {
                return;
            };
            match c.state {
                State::Pending => return,
                State::Writing if !c.nodelay => {
                    c.nodelay = true;
                    let _ = c.stream.set_nodelay(true);
                }
                State::Writing => match (&c.stream).write(&c.out[c.out_pos..]) {
                    Ok(0) => return self.close_client(k),
                    Ok(n) => {
                        c.out_pos += n;
                        c.last = self.now;
                        if c.out_pos == c.out.len() {
                            c.out.clear();
                            c.out_pos = 0;
                            c.state = State::Len;
                            c.got = 0;
                            if c.watch_write && !self.watch_client(k, false) {
                                return self.close_client(k);
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if !self.watch_client(k, true) {
                            return self.close_client(k);
                        }
                        return;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return self.close_client(k),
                },
                State::Len | State::Msg => {
                    let buf = if c.state == State::Len {
                        &mut c.len[c.got..]
                    } else {
                        &mut c.msg[c.got..]
                    };
                    match (&c.stream).read(buf) {
                        Ok(0) => return self.close_client(k),
                        Ok(n) => {
                            c.got += n;
                            c.last = self.now;
                            if c.state == State::Len && c.got == 2 {
                                c.msg.clear();
                                c.msg.resize(u16::from_be_bytes(c.len) as usize, 0);
                                c.got = 0;
                                c.state = State::Msg;
                            }
                            if c.state == State::Msg && c.got == c.msg.len() {
                                self.handle_query(k);
                                budget -= 1;
                                if budget == 0 {
                                    self.ready.push_back(k);
                                    return;
                                }
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            // Registered while data may already be there: epoll reports it.
                            if !c.registered && !self.watch_client(k, false) {
                                self.close_client(k);
                            }
                            return;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => return self.close_client(k),
                    }
                }
            }
        }
    }

    /// Client `k` has a whole message in `msg`.
    fn handle_query(&mut self, k: usize) {
        let Some(c) = self.clients[k].as_mut() else {
            return;
        };
        // The query is read by the parser xfrd itself uses, so what it would refuse as
        // malformed is answered here without a handoff.
        let q = match parse_query(&c.msg) {
            Ok(q) => q,
            Err(e) => match e.reply() {
                // Malformed (FORMERR) or another opcode (NOTIMP): the question echoed when
                // it parsed.
                Some(reply) => {
                    c.out = framed(HEADER_BYTES + QUESTION_BYTES_MAX + OPT_BYTES, |out| {
                        write_error_response(out, &c.msg, &reply)
                    });
                    c.state = State::Writing;
                    return;
                }
                // Shorter than a header, or a response: nothing to answer.
                None => {
                    let _ = c.stream.shutdown(Shutdown::Both);
                    return self.close_client(k);
                }
            },
        };
        if q.opcode != OPCODE_QUERY {
            // NOTIFY: not the front end's to answer.
            c.out = rcode_response(&q, RCODE_REFUSED.into());
            c.state = State::Writing;
            return;
        }
        match q.qtype {
            rtype::AXFR | rtype::IXFR => {
                c.state = State::Pending;
                self.hand_off(k);
            }
            // What xfrd answers too (RFC 6891 section 6.1.3); transfers are its to answer, and
            // to sign.
            _ if q.edns.is_some_and(|e| e.version > 0) => {
                c.out = rcode_response(&q, RCODE_BADVERS);
                c.state = State::Writing;
            }
            rtype::SOA => {
                let origin = NameBuf::new(q.qname).map(NameBuf::to_lowercase);
                c.out = match origin.and_then(|o| self.zones.soa.get(o.as_wire())) {
                    Some((ttl, rdata)) => {
                        let bytes = HEADER_BYTES + q.question.len() + 12 + rdata.len();
                        framed(bytes + OPT_BYTES_MAX, |out| {
                            write_soa_answer(out, &q, *ttl, rdata)
                        })
                    }
                    None => rcode_response(&q, RCODE_REFUSED.into()),
                };
                c.state = State::Writing;
            }
            _ => {
                c.out = rcode_response(&q, RCODE_REFUSED.into());
                c.state = State::Writing;
            }
        }
    }

    /// Sends client `k`'s handoff on the next usable engine connection, without waiting for
    /// the status.
    fn hand_off(&mut self, k: usize) {
        let n = self.engines.len();
        // Each connection at most twice: once as it is (it may turn out to be lost), once
        // reconnected.
        for _ in 0..2 * n {
            let i = self.next_engine;
            self.next_engine = (i + 1) % n;
            if !self.ensure_engine(i) {
                continue;
            }
            let e = &mut self.engines[i];
            if !e.queued.is_empty() {
                e.queued.push_back(k);
                return;
            }
            match self.send_frame(i, k) {
                Send::Whole => {
                    self.engines[i].sent.push_back((k, self.now));
                    return;
                }
                Send::NoRoom => {
                    let e = &mut self.engines[i];
                    e.queued.push_back(k);
                    e.blocked_since = Some(self.now);
                    self.watch_engine_write(i, true);
                    return;
                }
                Send::Partial => {
                    // The descriptor went with a truncated frame: this connection is out of
                    // step. The client stays ours (the engine drops a truncated frame).
                    self.engines[i].sent.push_back((k, self.now));
                    self.lose_engine(i);
                    return;
                }
                Send::Failed => {
                    // Nothing went out: try the next connection.
                    self.lose_engine(i);
                }
                Send::NoClient => return,
            }
        }
        self.answer(k, RCODE_SERVFAIL);
    }

    /// Whether engine connection `i` is up, reconnecting it if it is down and not backing off.
    fn ensure_engine(&mut self, i: usize) -> bool {
        let e = &mut self.engines[i];
        if e.stream.is_some() {
            return true;
        }
        if self.now < e.retry_at {
            return false;
        }
        let registered = connect_engine(&self.handoff).and_then(|mut s| {
            self.statuses.registry().register(
                &mut s,
                Token(ENGINE_BASE + i),
                Interest::READABLE,
            )?;
            Ok(s)
        });
        match registered {
            Ok(s) => {
                e.stream = Some(s);
                true
            }
            Err(_) => {
                e.retry_at = self.now + RECONNECT_BACKOFF;
                false
            }
        }
    }

    fn send_frame(&mut self, i: usize, k: usize) -> Send {
        let Some(c) = self.clients.get(k).and_then(Option::as_ref) else {
            return Send::NoClient;
        };
        let Some(stream) = self.engines[i].stream.as_ref() else {
            return Send::Failed;
        };
        let Ok(header) = frame::request_header(&c.msg) else {
            // Cannot happen for a parsed query (12..=65535 bytes); answer as the engine would.
            self.answer(k, RCODE_FORMERR);
            return Send::NoClient;
        };
        let total = header.len() + c.msg.len();
        loop {
            let iov = [IoSlice::new(&header), IoSlice::new(&c.msg)];
            return match send_with_fd(stream.as_fd(), &iov, c.stream.as_fd()) {
                Ok(n) if n == total => Send::Whole,
                Ok(_) => Send::Partial,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Send::NoRoom,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => Send::Failed,
            };
        }
    }

    fn watch_engine_write(&mut self, i: usize, on: bool) {
        let e = &mut self.engines[i];
        if e.watch_write == on {
            return;
        }
        let Some(s) = e.stream.as_mut() else {
            return;
        };
        // Write space is waited for in the main epoll set (the connection's readability is in
        // `statuses`, hence a second registration by descriptor).
        let fd = s.as_raw_fd();
        let mut source = SourceFd(&fd);
        let r = if on {
            self.poll
                .registry()
                .register(&mut source, Token(ENGINE_BASE + i), Interest::WRITABLE)
        } else {
            self.poll.registry().deregister(&mut source)
        };
        e.watch_write = on && r.is_ok();
        if r.is_err() {
            self.lose_engine(i);
        }
    }

    /// Sends the frames that waited for write space on engine connection `i`.
    fn flush_engine(&mut self, i: usize) {
        while let Some(&k) = self.engines[i].queued.front() {
            if self.engines[i].stream.is_none() {
                return;
            }
            match self.send_frame(i, k) {
                Send::Whole => {
                    let e = &mut self.engines[i];
                    e.queued.pop_front();
                    e.sent.push_back((k, self.now));
                    e.blocked_since = Some(self.now);
                }
                Send::NoRoom => return,
                Send::Partial => {
                    let e = &mut self.engines[i];
                    e.queued.pop_front();
                    e.sent.push_back((k, self.now));
                    return self.lose_engine(i);
                }
                Send::Failed => return self.lose_engine(i),
                Send::NoClient => {
                    self.engines[i].queued.pop_front();
                }
            }
        }
        self.engines[i].blocked_since = None;
        self.watch_engine_write(i, false);
    }

    /// Reads the statuses that came on engine connection `i` and acts on them in order.
    fn read_statuses(&mut self, i: usize) {
        let mut buf = [0u8; STATUS_READ_BYTES];
        loop {
            let mut at = 0;
            if let Some(b) = self.engines[i].partial.take() {
                buf[0] = b;
                at = 1;
            }
            let Some(s) = self.engines[i].stream.as_ref() else {
                return;
            };
            let n = match (&*s).read(&mut buf[at..]) {
                Ok(0) => return self.lose_engine(i),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if at == 1 {
                        self.engines[i].partial = Some(buf[0]);
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if at == 1 {
                        self.engines[i].partial = Some(buf[0]);
                    }
                    continue;
                }
                Err(_) => return self.lose_engine(i),
            };
            let end = at + n;
            let whole = end / RESPONSE_BYTES * RESPONSE_BYTES;
            for pair in buf[..whole].chunks_exact(RESPONSE_BYTES) {
                let status = frame::parse_response([pair[0], pair[1]]);
                let Some((k, _)) = self.engines[i].sent.pop_front() else {
                    // A status for nothing we sent: out of step.
                    return self.lose_engine(i);
                };
                match status {
                    Ok(s) => self.resolve(k, s),
                    Err(_) => {
                        self.answer(k, RCODE_SERVFAIL);
                        return self.lose_engine(i);
                    }
                }
            }
            if end > whole {
                self.engines[i].partial = Some(buf[whole]);
            }
            if end < buf.len() {
                return; // the socket is drained (a short read)
            }
        }
    }

    fn resolve(&mut self, k: usize, status: Status) {
        let rcode = match status {
            Status::Taken => return self.close_client(k), // the engine owns it; close our copy
            Status::NotServed => RCODE_NOTAUTH,
            Status::Malformed => RCODE_FORMERR,
            Status::Overloaded => RCODE_SERVFAIL,
        };
        self.answer(k, rcode);
    }

    /// Answers client `k`, still ours after a handoff that did not happen, with `rcode`.
    fn answer(&mut self, k: usize, rcode: u8) {
        let Some(c) = self.clients.get_mut(k).and_then(Option::as_mut) else {
            return;
        };
        if c.state != State::Pending {
            return;
        }
        let Ok(q) = parse_query(&c.msg) else {
            return self.close_client(k); // cannot happen: it parsed before its handoff
        };
        c.out = rcode_response(&q, rcode.into());
        c.out_pos = 0;
        c.state = State::Writing;
        c.last = self.now;
        self.ready.push_back(k);
    }

    /// Engine connection `i` is gone or out of step: close it (reconnected when next needed)
    /// and answer SERVFAIL to every client waiting on it; they stay ours.
    fn lose_engine(&mut self, i: usize) {
        let e = &mut self.engines[i];
        if let Some(mut s) = e.stream.take() {
            if e.watch_write {
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&s.as_raw_fd()));
            }
            let _ = self.statuses.registry().deregister(&mut s);
        }
        e.partial = None;
        e.watch_write = false;
        e.blocked_since = None;
        let waiting: Vec<usize> = e
            .sent
            .drain(..)
            .map(|(k, _)| k)
            .chain(e.queued.drain(..))
            .collect();
        for k in waiting {
            self.answer(k, RCODE_SERVFAIL);
        }
    }

    /// Closes idle clients and engine connections whose status is overdue.
    fn sweep(&mut self) {
        for k in 0..self.clients.len() {
            if let Some(c) = &self.clients[k] {
                if c.state != State::Pending && self.now.duration_since(c.last) >= self.idle {
                    self.close_client(k);
                }
            }
        }
        for i in 0..self.engines.len() {
            let e = &self.engines[i];
            let oldest = e.sent.front().map(|&(_, at)| at).into_iter();
            let stalled = oldest
                .chain(e.blocked_since)
                .any(|at| self.now.duration_since(at) >= self.idle);
            if stalled {
                eprintln!("xfr-frontend: engine connection {i} stalled; reconnecting");
                self.lose_engine(i);
            }
        }
    }
}

enum Send {
    Whole,
    NoRoom,
    Partial,
    Failed,
    /// The client is gone (or was answered instead).
    NoClient,
}

/// A TCP-framed response (2-byte length first) that `write` writes into at most `capacity`
/// bytes.
fn framed(
    capacity: usize,
    write: impl FnOnce(&mut [u8]) -> Result<usize, ResponseError>,
) -> Vec<u8> {
    let mut out = vec![0u8; 2 + capacity];
    let n = write(&mut out[2..]).expect("the buffer is sized for the response");
    out[..2].copy_from_slice(&(n as u16).to_be_bytes());
    out.truncate(2 + n);
    out
}

/// A TCP-framed response to `q` with `rcode` and no records, echoing its ID, opcode, RD, CD
/// and question, and an OPT record when the query had one.
fn rcode_response(q: &Query<'_>, rcode: u16) -> Vec<u8> {
    framed(HEADER_BYTES + q.question.len() + OPT_BYTES, |out| {
        write_rcode_response(out, q.id, q.flags, Some(q.question), rcode, q.edns.as_ref())
    })
}

/// The one socket option std and mio do not set.
mod sys {
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd};

    /// Sets TCP_DEFER_ACCEPT on a listening TCP socket.
    pub fn set_defer_accept(sock: BorrowedFd<'_>, seconds: u32) -> io::Result<()> {
        let value = libc::c_int::try_from(seconds).unwrap_or(libc::c_int::MAX);
        // SAFETY: `sock` is an open descriptor for the duration of the call; the option value
        // is a c_int that lives on this stack frame, and its exact size is passed with it.
        let r = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}
