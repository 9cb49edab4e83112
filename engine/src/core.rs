//! One serving core: a pinned thread owning an io_uring ring, its SO_REUSEPORT TCP listeners and
//! UDP sockets, a fixed table of connection slots, and (with `handoff` configured) its descriptor
//! of the handoff socket and its front-end table: `handoff.rs`.
//!
//! Loop: reap (copy every completion out of the ring), dispatch (handle each; handlers only
//! push new entries), submit (and wait for at least one completion). A full submission queue
//! is flushed to the kernel; what still does not fit waits in a bounded backlog pushed at the
//! next turn; EBUSY from the kernel (completion queue overflow) means reap first, then retry.
//! Nothing here panics on a full queue.
//!
//! Memory ownership: every pointer a submitted entry carries points into a slot's boxed buffers
//! (receive buffer, reply buffer, prefixes, iovecs, msghdr, question), into the slot's
//! `Arc<Store>` mmap, or into the core's boxed control structures. A slot counts its operations
//! in flight; it is freed (and its generation bumped) only when the close of its socket has
//! completed, which is submitted only when no other operation is in flight. A slot being torn
//! down is parked (`Closing`): shutdown(2) and cancels go through the ring, their completions
//! are counted like any other. The ring itself is dropped only when every control operation has
//! completed too.
//!
//! `user_data` is typed: `[kind: 8 bits][generation: 24 bits][index: 32 bits]`; a completion
//! whose generation does not match its slot is a bug and asserts.
//!
//! Ordered sends: per connection at most one send in flight, and a [`TransferCursor`] whose
//! progress counter is checked after every completion; each SENDMSG carries up to
//! [`SEND_MESSAGES_MAX`] messages or about `limits.send_batch_bytes` bytes.
//!
//! Concurrent transfers on one connection (RFC 7766 section 6.2.1.1, RFC 9103 section 5.1): the
//! queries a client sends back to back are answered together, up to
//! `limits.max_transfers_per_connection` transfers at once (further queries wait in the receive
//! buffer). Each SENDMSG holds messages of one transfer; the connection's transfers take turns,
//! one batch each, and a turn passes only at a message boundary, so every transfer's messages
//! arrive whole, in order, with its own ID, and a large transfer cannot hold back a small one.
//! A short reply (SOA, an error) goes out at the next message boundary. A reader that stops reading
//! leaves that one send pending (memory per transfer is constant) until the send timeout cuts it
//! off.
//!
//! XoT (RFC 9103): a connection accepted on a `[[tls]]` listener carries a rustls server
//! connection (`TlsConn`). The ring receives ciphertext into the connection's boxed input buffer;
//! rustls decrypts it into the same receive buffer plain connections use, so queries are parsed
//! and answered by the same code. Sending, one batch of one transfer at a time as on plain TCP:
//! the cursor's pieces (prefixes, question, bodies straight from the mmap, TSIG records) go to
//! rustls in one `write_vectored`, which packs them into full 16 KiB records and encrypts them;
//! the records are drained into the connection's bounded output buffer and sent by the ring.
//! No more than a batch of plaintext is in rustls at a time, and no new plaintext goes in
//! until the ciphertext before it has been sent: memory per connection stays bounded, and a
//! reader that stops reading stops the transfer as on plain TCP. A TLS error sends rustls' alert
//! and closes the connection; a finished connection gets a close_notify before it is closed.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use xfr_proto::cursor::{
    MessageSource, Signing, TransferCursor, EXTRA_PIECES_MAX, PAD_HEAD_BYTES, PREFIX_BYTES,
};
use xfr_proto::framing::{consume, frame, write_length_prefix, LENGTH_PREFIX_BYTES};
use xfr_proto::notify::is_notify_response;
use xfr_proto::response::OPT_BYTES_MAX;
use xfr_proto::tsig::{self, ResponseSigner};
use xfr_proto::wire::{QUESTION_BYTES_MAX, RCODE_SERVFAIL, TYPE_AXFR, TYPE_IXFR, TYPE_SOA};
use zone_store::journal::Journal;
use zone_store::store::Store;

use crate::answer::{answer, Answer, Refusal, Request, Source, TransferStart, Transport};
use crate::config::Limits;
use crate::sys;
use crate::tls::TlsContext;
use crate::zones::{SharedZones, Zone, ZoneSet};

mod handoff;
use handoff::Handoff;

/// Messages per SENDMSG. 64 messages of ~16 KiB is about 1 MiB, more than a socket buffer
/// takes at once; more iovecs buy nothing (FINDINGS.md: one 64 KiB write stream reaches
/// 4.3-5.6 GB/s on loopback).
pub const SEND_MESSAGES_MAX: usize = 64;
/// Receive buffer per connection. Queries are at most a few hundred bytes (a question, an SOA
/// for IXFR, an OPT, a TSIG); 2 KiB holds several pipelined ones. A larger frame is refused.
pub const RECV_BYTES: usize = 2048;
/// Reply buffer: length prefix + header + largest question + SOA RR with the largest RDATA
/// (two 255-byte names + 20) + OPT with EXPIRE = 2 + 12 + 259 + 12 + 530 + 19 = 834, plus the
/// longest TSIG record (`tsig::RR_BYTES_MAX`, 364) = 1198; over XoT, padded to the next
/// multiple of 468 (RFC 8467's block): 1404. Larger padding blocks pad as far as it holds.
pub const REPLY_BYTES: usize = 1408;
/// Pieces per message in a SENDMSG: prefix, question, body, and the TSIG record when signed
/// (the first message of a transfer may add its OPT: `EXTRA_PIECES_MAX` more per batch).
pub const PIECES_PER_MESSAGE_MAX: usize = 4;
/// Refused requests (ACL, TSIG) logged per core per second at most; the rest are counted and
/// the count logged, so a flood of bad requests cannot flood the log.
pub const REFUSAL_LOGS_PER_S: u32 = 10;
/// UDP buffers per socket, each cycling recv → send → recv. Four keep a core busy with SOA
/// queries while a send is in flight; UDP here serves SOA checks, not bulk traffic.
pub const UDP_BUFS_PER_SOCKET: usize = 4;
/// Largest UDP query taken; larger ones are dropped.
pub const UDP_RECV_BYTES: usize = 4096;
/// Timer tick: timeouts are checked this often, so they fire up to one tick late.
pub const TICK_MS: u64 = 100;
/// After EMFILE/ENFILE (or any error that ends the multishot accept) accepting pauses this
/// long instead of spinning on the error.
pub const ACCEPT_PAUSE_MS: u64 = 100;
/// Submission queue entries per ring; completions get four times as many.
pub const RING_ENTRIES: u32 = 4096;
/// Ciphertext received per RECV on a TLS connection: a ClientHello or a few queries' records
/// (rustls reassembles records across receives).
pub const TLS_IN_BYTES: usize = 4096;
/// Plaintext handed to rustls per batch on a TLS connection (at most `send_batch_bytes`):
/// eight full TLS records.
pub const TLS_BATCH_BYTES: usize = 128 * 1024;
/// Ciphertext buffer per TLS connection: a batch's records with their headers and tags (22
/// bytes per 16 KiB record) and room for a session ticket or an alert; what does not fit
/// stays in rustls until the next send.
pub const TLS_OUT_BYTES: usize = TLS_BATCH_BYTES + 8 * 1024;
/// Pieces of one TLS batch (as on plain TCP: a SENDMSG's worth), and a padded transfer's two
/// more per message (its OPT and the zeros).
const TLS_PIECES_MAX: usize = (PIECES_PER_MESSAGE_MAX + 2) * SEND_MESSAGES_MAX + EXTRA_PIECES_MAX;

const _: () = assert!(
    REPLY_BYTES >= 2 + 12 + QUESTION_BYTES_MAX + 12 + 530 + OPT_BYTES_MAX + tsig::RR_BYTES_MAX
);
const _: () = assert!(
    REPLY_BYTES
        >= 2 + (12 + QUESTION_BYTES_MAX + 12 + 530 + OPT_BYTES_MAX + 4 + tsig::RR_BYTES_MAX)
            .div_ceil(xfr_proto::wire::PADDING_BLOCK_RESPONSES)
            * xfr_proto::wire::PADDING_BLOCK_RESPONSES
);
const _: () = assert!(
    SEND_MESSAGES_MAX * PIECES_PER_MESSAGE_MAX + EXTRA_PIECES_MAX <= 1024,
    "IOV_MAX is 1024 on Linux"
);
const _: () = assert!(RECV_BYTES >= 2 + 512);

/// Defines the operation kinds carried in `user_data` and their decoding from one list, so the
/// two cannot drift apart; decoding is a `match`, run for every completion.
macro_rules! op_kinds {
    ($first:ident = $base:literal, $($(#[$doc:meta])* $kind:ident),+ $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        enum Kind {
            $first = $base,
            $($(#[$doc])* $kind,)+
        }

        impl Kind {
            /// Every kind, in order.
            #[cfg(test)]
            const ALL: &'static [Kind] = &[Kind::$first, $(Kind::$kind),+];

            fn from_u8(v: u8) -> Kind {
                if v == Kind::$first as u8 {
                    return Kind::$first;
                }
                $(if v == Kind::$kind as u8 {
                    return Kind::$kind;
                })+
                panic!("unknown op kind {v} in user_data")
            }
        }
    };
}

op_kinds! {
    // From 1: no operation's user_data is 0.
    Accept = 1,
    AcceptResume,
    UdpRecv,
    UdpSend,
    Tick,
    Recv,
    Send,
    Shutdown,
    Cancel,
    Close,
    CloseOrphan,
    CloseControl,
    CancelControl,
    HandoffAccept,
    HandoffAcceptResume,
    HandoffRecv,
    HandoffSend,
    HandoffCancel,
    HandoffClose,
    /// This core's MSG_RING that passed a front-end connection to another core (index: the fd).
    HandoffPass,
    /// Posted into this ring by another core's MSG_RING: a front-end connection (res: the fd).
    HandoffAdopt,
}

const GENERATION_MASK: u32 = 0xFF_FFFF;

fn user_data(kind: Kind, generation: u32, index: u32) -> u64 {
    ((kind as u64) << 56) | (((generation & GENERATION_MASK) as u64) << 32) | index as u64
}

fn split_user_data(ud: u64) -> (Kind, u32, u32) {
    (
        Kind::from_u8((ud >> 56) as u8),
        ((ud >> 32) as u32) & GENERATION_MASK,
        ud as u32,
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    Open,
    /// Shutdown/cancels submitted; waiting for operations in flight to complete.
    Closing,
    /// close(2) submitted.
    CloseSubmitted,
}

/// A transfer's own copies of its question and first message's OPT: the pieces its messages
/// carry besides the store's bytes. Boxed, so sends in flight keep pointing at them while the
/// connection's list of transfers changes; pooled per core like the TSIG buffers.
struct StreamBufs {
    question: [u8; QUESTION_BYTES_MAX],
    opt: [u8; OPT_BYTES_MAX],
}

struct Transfer {
    bufs: Box<StreamBufs>,
    question_len: usize,
    /// The zone version the transfer started on: its store (and mmap) lives at least as long as
    /// this transfer, whatever reloads happen meanwhile.
    zone: Arc<Zone>,
    /// The store or the journal version it sends: both live in `zone`.
    source: Source,
    cursor: TransferCursor,
    started: Instant,
    served: &'static str,
    /// A signed transfer: its signer, and the buffer its messages' TSIG records are written to
    /// (taken from the core's pool, returned when the transfer is dropped; sends in flight point
    /// into it, and a transfer is dropped only once its slot has no operation in flight).
    signing: Option<(ResponseSigner, Box<[u8]>)>,
}

/// The key a transfer is signed with, for its log line ("-" when unsigned), written without
/// allocating.
struct KeyOf<'a>(&'a Transfer);

impl std::fmt::Display for KeyOf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.signing {
            Some((signer, _)) => tsig::DisplayName(signer.key().name()).fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// Bytes of one signed transfer's TSIG record buffer: a record slot per message of a batch.
const TSIG_RECORDS_BYTES: usize = SEND_MESSAGES_MAX * tsig::RR_BYTES_MAX;

/// Counts refusals and says when one may be logged: at most [`REFUSAL_LOGS_PER_S`] per second.
struct RefusalLog {
    window_start: Instant,
    logged: u32,
    suppressed: u64,
}

impl RefusalLog {
    /// True when this refusal may be logged; logs how many were not, once per new window.
    fn allow(&mut self, now: Instant) -> bool {
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            if self.suppressed > 0 {
                tracing::warn!(
                    suppressed = self.suppressed,
                    "refused requests not logged (more than {REFUSAL_LOGS_PER_S} per second)"
                );
            }
            self.window_start = now;
            self.logged = 0;
            self.suppressed = 0;
        }
        if self.logged < REFUSAL_LOGS_PER_S {
            self.logged += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }
}

/// The stored messages a transfer sends, as the cursor reads them: the store's (AXFR) or one
/// version's diff in the journal (IXFR).
enum StoredSource<'a> {
    Store(&'a Store),
    Journal(&'a Journal, usize),
}

impl<'a> StoredSource<'a> {
    fn of(zone: &'a Zone, source: Source) -> StoredSource<'a> {
        match (source, zone.journal.as_deref()) {
            (Source::Ixfr { version }, Some(j)) => StoredSource::Journal(j, version),
            (Source::Ixfr { .. }, None) => unreachable!("an IXFR transfer without a journal"),
            (Source::Axfr, _) => StoredSource::Store(&zone.store),
        }
    }
}

impl MessageSource for StoredSource<'_> {
    fn message_count(&self) -> usize {
        match self {
            StoredSource::Store(s) => s.message_count(),
            StoredSource::Journal(j, v) => j.message_count(*v),
        }
    }
    fn body(&self, i: usize) -> &[u8] {
        match self {
            StoredSource::Store(s) => s.message(i).body,
            StoredSource::Journal(j, v) => j.message(*v, i).body,
        }
    }
    fn ancount(&self, i: usize) -> u16 {
        match self {
            StoredSource::Store(s) => s.message(i).ancount,
            StoredSource::Journal(j, v) => j.message(*v, i).ancount,
        }
    }
}

/// A TLS connection's buffers: pooled per core (sends and receives in flight point into them).
struct TlsBufs {
    input: [u8; TLS_IN_BYTES],
    out: [u8; TLS_OUT_BYTES],
}

/// The TLS state of a connection accepted on a `[[tls]]` listener.
struct TlsConn {
    conn: rustls::ServerConnection,
    bufs: Box<TlsBufs>,
    /// Received ciphertext not yet taken by rustls: `input[in_start..in_end]`.
    in_start: usize,
    in_end: usize,
    /// Ciphertext being sent: `out[out_sent..out_len]`.
    out_len: usize,
    out_sent: usize,
    handshake_done: bool,
    close_notify_sent: bool,
    /// The listener's `padding_block` when it pads (0: it does not).
    pad_block: usize,
}

impl TlsConn {
    /// Ciphertext is waiting to be sent (in the output buffer or still in rustls).
    fn pending_out(&self) -> bool {
        self.out_sent < self.out_len || self.conn.wants_write()
    }
}

struct Slot {
    generation: u32,
    state: SlotState,
    fd: RawFd,
    peer: IpAddr,
    ops_in_flight: u32,
    recv_pending: bool,
    send_pending: bool,
    peer_eof: bool,
    queries: u32,
    last_activity: Instant,
    send_progress_at: Instant,
    recv_buf: Box<[u8]>,
    recv_filled: usize,
    reply: Box<[u8]>,
    reply_len: usize,
    reply_sent: usize,
    prefixes: Box<[[u8; PREFIX_BYTES]]>,
    iov: Box<[libc::iovec]>,
    msghdr: Box<libc::msghdr>,
    /// The transfers being served, at most `limits.max_transfers_per_connection` (the capacity,
    /// reserved when the slot is made: no allocation per transfer).
    transfers: Vec<Transfer>,
    /// Whose turn it is in `transfers`.
    turn: usize,
    /// What the send in flight carries.
    sending: Sending,
    /// XoT: the TLS state of a connection from a `[[tls]]` listener.
    tls: Option<Box<TlsConn>>,
    /// Close once what is queued has been sent (a TLS alert or close_notify).
    close_after_send: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sending {
    Reply,
    /// A batch of `transfers[turn]`.
    Transfer,
}

impl Slot {
    fn new(now: Instant, transfers_max: usize) -> Slot {
        Slot {
            generation: 0,
            state: SlotState::Free,
            fd: -1,
            peer: IpAddr::from([0, 0, 0, 0]),
            ops_in_flight: 0,
            recv_pending: false,
            send_pending: false,
            peer_eof: false,
            queries: 0,
            last_activity: now,
            send_progress_at: now,
            recv_buf: vec![0; RECV_BYTES].into_boxed_slice(),
            recv_filled: 0,
            reply: vec![0; REPLY_BYTES].into_boxed_slice(),
            reply_len: 0,
            reply_sent: 0,
            prefixes: vec![[0; PREFIX_BYTES]; SEND_MESSAGES_MAX].into_boxed_slice(),
            iov: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0
                };
                PIECES_PER_MESSAGE_MAX * SEND_MESSAGES_MAX + EXTRA_PIECES_MAX
            ]
            .into_boxed_slice(),
            msghdr: Box::new(sys::msghdr_zeroed()),
            transfers: Vec::with_capacity(transfers_max),
            turn: 0,
            sending: Sending::Reply,
            tls: None,
            close_after_send: false,
        }
    }

    /// Something is being answered (a reply or a transfer not yet fully sent, or, over TLS,
    /// ciphertext not yet sent).
    fn busy(&self) -> bool {
        self.reply_len > 0
            || !self.transfers.is_empty()
            || self.tls.as_ref().is_some_and(|t| t.pending_out())
    }

    fn transport(&self) -> Transport {
        if self.tls.is_some() {
            Transport::Tls
        } else {
            Transport::Tcp
        }
    }

    /// The transfer whose message is partly sent, if any: it keeps the connection until that
    /// message is complete.
    fn mid_message(&self) -> bool {
        self.transfers
            .get(self.turn)
            .is_some_and(|t| !t.cursor.at_message_boundary())
    }
}

struct UdpBuf {
    hdr: Box<libc::msghdr>,
    addr: Box<libc::sockaddr_storage>,
    iov: Box<libc::iovec>,
    buf: Box<[u8]>,
    out: Box<[u8]>,
}

struct UdpSock {
    fd: RawFd,
    bufs: Vec<UdpBuf>,
    in_flight: usize,
}

struct Listener {
    fd: RawFd,
    armed: bool,
    resume_pending: bool,
    /// A `[[tls]]` listener: its index in `Shared::tls`.
    tls: Option<usize>,
}

/// State shared by every core.
#[derive(Debug)]
pub struct Shared {
    pub zones: SharedZones,
    /// SIGTERM/SIGINT: stop accepting, finish transfers within the grace period.
    pub stop: AtomicBool,
    /// A second signal: close everything now.
    pub stop_now: AtomicBool,
    pub limits: Limits,
    /// Peer uids allowed on the handoff socket.
    pub handoff_uids: Vec<u32>,
    /// Each core's ring descriptor, -1 until the core has its ring (and again once it has
    /// stopped): front-end connections are passed between rings with MSG_RING.
    pub ring_fds: Vec<std::sync::atomic::AtomicI32>,
    /// Every core thread waits here after building its core (or failing to) and before it
    /// accepts anything, so front ends that connect at start-up reach every core's ring; so
    /// does the main thread, which then tells systemd that xfrd is ready (server.rs).
    pub started: std::sync::Barrier,
    /// Round-robin counter that spreads front-end connections across cores.
    pub next_front_end: std::sync::atomic::AtomicUsize,
    /// The notifier: NOTIFY responses received on the serving sockets go there.
    pub notify: Arc<crate::notify::Notify>,
    /// Counters: each core writes its own blocks (see metrics).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Held by whoever reloads (the SIGHUP thread, `xfrctl reload`): one reload at a time.
    pub reload_lock: std::sync::Mutex<()>,
    /// The `[[tls]]` listeners' TLS configurations, in config order.
    pub tls: Vec<TlsContext>,
}

/// The sockets a core serves, created (and bound) before the core starts.
#[derive(Debug)]
pub struct CoreSockets {
    pub tcp: Vec<OwnedFd>,
    /// XoT listeners, each with its index in `Shared::tls`.
    pub tls: Vec<(OwnedFd, usize)>,
    pub udp: Vec<OwnedFd>,
    /// This core's descriptor of the handoff Unix listener.
    pub handoff: Option<OwnedFd>,
}

pub struct Core {
    // The ring first: it is dropped first, and only once nothing is in flight.
    ring: IoUring,
    index: usize,
    shared: Arc<Shared>,
    zones: Arc<ZoneSet>,
    zones_generation: u64,
    slots: Vec<Slot>,
    free: Vec<u32>,
    listeners: Vec<Listener>,
    udp: Vec<UdpSock>,
    handoff: Handoff,
    backlog: std::collections::VecDeque<squeue::Entry>,
    tick_ts: Box<types::Timespec>,
    pause_ts: Box<types::Timespec>,
    control_in_flight: usize,
    connections_open: usize,
    transfers_active: usize,
    stopping: bool,
    grace_deadline: Option<Instant>,
    fds_closed: bool,
    tick_armed: bool,
    rejected_connections: u64,
    accept_errors: u64,
    /// Seconds since the Unix epoch, read once per loop turn (TSIG times).
    now_s: u64,
    /// Free TSIG record buffers; at most `max_transfers_per_core` ever exist.
    tsig_pool: Vec<Box<[u8]>>,
    /// Free question/OPT buffers of transfers; at most `max_transfers_per_core` ever exist.
    /// Boxed: a transfer takes the box itself, whose address its sends point into.
    #[allow(clippy::vec_box)]
    stream_pool: Vec<Box<StreamBufs>>,
    /// Free TLS connection buffers; at most one per TLS connection ever open at once.
    #[allow(clippy::vec_box)]
    tls_pool: Vec<Box<TlsBufs>>,
    refusal_log: RefusalLog,
}

fn unix_now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Logs a refused request (the caller has checked the rate limit).
fn log_refusal(peer: IpAddr, zone: &[u8], transport: Transport, refusal: &Refusal) {
    let zone = tsig::DisplayName(zone);
    match refusal {
        Refusal::Acl { key } => tracing::warn!(
            client = %peer,
            zone = %zone,
            ?transport,
            key = %key.as_ref().map_or_else(|| "none".to_string(), |k| tsig::name_text(k.as_wire())),
            "transfer refused: no allow_transfer rule matches"
        ),
        Refusal::Tsig { reason, key } => tracing::warn!(
            client = %peer,
            zone = %zone,
            ?transport,
            key = %tsig::DisplayName(key.as_wire()),
            reason,
            "request refused: TSIG did not verify"
        ),
    }
}

fn errno_name(res: i32) -> String {
    std::io::Error::from_raw_os_error(-res).to_string()
}

impl Core {
    pub fn new(index: usize, sockets: CoreSockets, shared: Arc<Shared>) -> Result<Core> {
        let ring = build_ring().context("creating the io_uring ring")?;
        let now = Instant::now();
        let slots_count = shared.limits.max_connections_per_core as usize;
        let per_connection = shared.limits.max_transfers_per_connection as usize;
        let slots: Vec<Slot> = (0..slots_count)
            .map(|_| Slot::new(now, per_connection))
            .collect();
        let free = (0..slots_count as u32).rev().collect();
        let handoff = Handoff::new(sockets.handoff);
        let listeners = sockets
            .tcp
            .into_iter()
            .map(|fd| (fd, None))
            .chain(sockets.tls.into_iter().map(|(fd, i)| (fd, Some(i))))
            .map(|(fd, tls)| Listener {
                fd: fd.into_raw_fd(),
                armed: false,
                resume_pending: false,
                tls,
            })
            .collect();
        let udp = sockets
            .udp
            .into_iter()
            .map(|fd| UdpSock {
                fd: fd.into_raw_fd(),
                bufs: (0..UDP_BUFS_PER_SOCKET)
                    .map(|_| UdpBuf {
                        hdr: Box::new(sys::msghdr_zeroed()),
                        addr: Box::new(sys::sockaddr_from(&"0.0.0.0:0".parse().expect("addr")).0),
                        iov: Box::new(libc::iovec {
                            iov_base: std::ptr::null_mut(),
                            iov_len: 0,
                        }),
                        buf: vec![0; UDP_RECV_BYTES].into_boxed_slice(),
                        out: vec![0; REPLY_BYTES].into_boxed_slice(),
                    })
                    .collect(),
                in_flight: 0,
            })
            .collect();
        let (zones, zones_generation) = shared.zones.snapshot();
        let backlog_cap = slots_count * 4 + 64;
        // Other cores may pass front-end connections to this ring from now on: a completion
        // posted before `run` waits in the completion queue. Published before the start-up
        // barrier (server.rs), so no core accepts before every ring can be reached.
        shared.ring_fds[index].store(ring.as_raw_fd(), Ordering::Release);
        Ok(Core {
            ring,
            index,
            shared,
            zones,
            zones_generation,
            slots,
            free,
            listeners,
            udp,
            handoff,
            backlog: std::collections::VecDeque::with_capacity(backlog_cap),
            tick_ts: Box::new(types::Timespec::new().nsec((TICK_MS * 1_000_000) as u32)),
            pause_ts: Box::new(types::Timespec::new().nsec((ACCEPT_PAUSE_MS * 1_000_000) as u32)),
            control_in_flight: 0,
            connections_open: 0,
            transfers_active: 0,
            stopping: false,
            grace_deadline: None,
            fds_closed: false,
            tick_armed: false,
            rejected_connections: 0,
            accept_errors: 0,
            now_s: unix_now_s(),
            tsig_pool: Vec::new(),
            stream_pool: Vec::new(),
            tls_pool: Vec::new(),
            refusal_log: RefusalLog {
                window_start: now,
                logged: 0,
                suppressed: 0,
            },
        })
    }

    fn push(&mut self, entry: squeue::Entry) {
        if !self.backlog.is_empty() {
            self.backlog.push_back(entry);
            return;
        }
        if sys::push(&mut self.ring, &entry).is_ok() {
            return;
        }
        // Full: hand what is queued to the kernel (EBUSY: completions must be reaped first;
        // the entry then waits in the backlog for the next turn).
        let _ = self.ring.submit();
        if sys::push(&mut self.ring, &entry).is_err() {
            self.backlog.push_back(entry);
        }
    }

    fn flush_backlog(&mut self) {
        while let Some(entry) = self.backlog.front() {
            if sys::push(&mut self.ring, entry).is_err() {
                let _ = self.ring.submit();
                if sys::push(&mut self.ring, entry).is_err() {
                    return;
                }
            }
            self.backlog.pop_front();
        }
    }

    /// Serves until stopped. Returns when every connection is closed and every operation has
    /// completed.
    pub fn run(mut self) -> Result<()> {
        // Log lines of this core go out once per tick (see logbuf); the guard writes the rest
        // when the core returns or unwinds.
        let _log = crate::logbuf::buffer_this_thread();
        for i in 0..self.listeners.len() {
            self.arm_accept(i);
        }
        for s in 0..self.udp.len() {
            for b in 0..UDP_BUFS_PER_SOCKET {
                self.arm_udp_recv(s, b);
            }
        }
        self.arm_handoff_accept();
        self.arm_tick();
        let mut completions: Vec<(u64, i32, u32)> = Vec::with_capacity(4 * RING_ENTRIES as usize);
        loop {
            self.flush_backlog();
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EBUSY | libc::EINTR | libc::EAGAIN)
                    ) => {}
                Err(e) => return Err(e).context("io_uring_enter"),
            }
            // Reap.
            completions.clear();
            completions.extend(
                self.ring
                    .completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            // New zone versions before anything is answered: a core that slept through a
            // reload must not answer the query that woke it from the old set (a secondary
            // told of serial N by NOTIFY would see N-1 and stop looking). One atomic load.
            let generation = self.shared.zones.generation();
            if generation != self.zones_generation {
                (self.zones, self.zones_generation) = self.shared.zones.snapshot();
            }
            // Dispatch.
            let now = Instant::now();
            self.now_s = unix_now_s();
            for &(ud, res, flags) in &completions {
                self.dispatch(ud, res, flags, now);
            }
            let stats = self.shared.metrics.core(self.index);
            stats.connections_open.set(self.connections_open as u64);
            stats.transfers_in_flight.set(self.transfers_active as u64);
            // Between turns: stop requests.
            self.check_stop(now);
            if self.stopping
                && self.fds_closed
                && self.control_in_flight == 0
                && self.connections_open == 0
                && self.backlog.is_empty()
            {
                tracing::debug!(core = self.index, "core stopped");
                self.shared.ring_fds[self.index].store(-1, Ordering::Release);
                return Ok(());
            }
        }
    }

    fn dispatch(&mut self, ud: u64, res: i32, flags: u32, now: Instant) {
        let (kind, generation, index) = split_user_data(ud);
        match kind {
            Kind::Accept => self.on_accept(index as usize, res, flags, now),
            Kind::AcceptResume => {
                self.control_in_flight -= 1;
                let l = &mut self.listeners[index as usize];
                l.resume_pending = false;
                if !self.stopping {
                    self.arm_accept(index as usize);
                }
            }
            Kind::UdpRecv => self.on_udp_recv(index as usize, res),
            Kind::UdpSend => {
                self.control_in_flight -= 1;
                let s = index as usize / UDP_BUFS_PER_SOCKET;
                self.udp[s].in_flight -= 1;
                if !self.stopping {
                    self.arm_udp_recv(s, index as usize % UDP_BUFS_PER_SOCKET);
                }
            }
            Kind::Tick => {
                self.control_in_flight -= 1;
                self.tick_armed = false;
                crate::logbuf::flush();
                self.on_tick(now);
                if !self.fds_closed {
                    self.arm_tick();
                }
            }
            Kind::HandoffAccept => self.on_handoff_accept(res, flags),
            Kind::HandoffPass => self.on_handoff_pass(index as RawFd, res),
            Kind::HandoffAdopt => self.on_handoff_adopt(res),
            Kind::HandoffAcceptResume => self.on_handoff_accept_resume(),
            Kind::HandoffRecv | Kind::HandoffSend | Kind::HandoffCancel | Kind::HandoffClose => {
                self.on_front_end_op(kind, generation, index as usize, res, now)
            }
            Kind::CloseOrphan | Kind::CloseControl | Kind::CancelControl => {
                self.control_in_flight -= 1;
            }
            Kind::Recv | Kind::Send | Kind::Shutdown | Kind::Cancel | Kind::Close => {
                let slot = &mut self.slots[index as usize];
                assert_eq!(slot.generation, generation, "completion for a reused slot");
                assert!(
                    slot.ops_in_flight > 0,
                    "completion with no operation in flight"
                );
                slot.ops_in_flight -= 1;
                match kind {
                    Kind::Recv => self.on_recv(index as usize, res, now),
                    Kind::Send => self.on_send(index as usize, res, now),
                    Kind::Close => self.on_closed(index as usize),
                    _ => self.maybe_finish_close(index as usize),
                }
            }
        }
    }

    // ---- control operations ----

    fn arm_accept(&mut self, i: usize) {
        let l = &mut self.listeners[i];
        debug_assert!(!l.armed);
        l.armed = true;
        let e = opcode::AcceptMulti::new(types::Fd(l.fd))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(user_data(Kind::Accept, 0, i as u32));
        self.control_in_flight += 1;
        self.push(e);
    }

    fn arm_tick(&mut self) {
        self.tick_armed = true;
        let e = opcode::Timeout::new(&*self.tick_ts)
            .build()
            .user_data(user_data(Kind::Tick, 0, 0));
        self.control_in_flight += 1;
        self.push(e);
    }

    fn on_accept(&mut self, i: usize, res: i32, flags: u32, now: Instant) {
        if res >= 0 {
            let tls = self.listeners[i].tls;
            self.take_connection(res, now, tls);
        } else if res != -libc::ECANCELED {
            if res == -libc::EINVAL {
                tracing::error!(
                    "multishot accept failed with EINVAL: xfrd needs Linux 5.19 or later"
                );
            } else {
                // Logged at 1, 2, 4, 8... errors: EMFILE under a flood must not flood the log.
                self.accept_errors += 1;
                if self.accept_errors.is_power_of_two() {
                    tracing::warn!(
                        core = self.index,
                        errors = self.accept_errors,
                        "accept: {}; pausing accepts for {ACCEPT_PAUSE_MS} ms",
                        errno_name(res)
                    );
                }
            }
        }
        if cqueue::more(flags) {
            return;
        }
        // The multishot accept ended.
        self.control_in_flight -= 1;
        self.listeners[i].armed = false;
        if self.stopping {
            return;
        }
        if res < 0 {
            // Do not spin on EMFILE/ENFILE: re-arm after a pause.
            self.listeners[i].resume_pending = true;
            let e = opcode::Timeout::new(&*self.pause_ts)
                .build()
                .user_data(user_data(Kind::AcceptResume, 0, i as u32));
            self.control_in_flight += 1;
            self.push(e);
        } else {
            self.arm_accept(i);
        }
    }

    fn close_orphan(&mut self, fd: RawFd) {
        let e = opcode::Close::new(types::Fd(fd))
            .build()
            .user_data(user_data(Kind::CloseOrphan, 0, 0));
        self.control_in_flight += 1;
        self.push(e);
    }

    fn take_connection(&mut self, fd: RawFd, now: Instant, tls: Option<usize>) {
        if self.stopping {
            self.close_orphan(fd);
            return;
        }
        let Some(index) = self.free.pop() else {
            self.shared
                .metrics
                .core(self.index)
                .connections_rejected
                .inc();
            self.rejected_connections += 1;
            if self.rejected_connections.is_power_of_two() {
                tracing::warn!(
                    core = self.index,
                    rejected = self.rejected_connections,
                    "connection table full (limits.max_connections_per_core): closing new connections"
                );
            }
            self.close_orphan(fd);
            return;
        };
        let peer = match sys::peer_ip(fd) {
            Ok(ip) => ip,
            Err(_) => {
                self.free.push(index);
                self.close_orphan(fd);
                return;
            }
        };
        let tls = match tls.map(|i| {
            let ctx = &self.shared.tls[i];
            (rustls::ServerConnection::new(ctx.config()), ctx.pad_block())
        }) {
            None => None,
            Some((Ok(mut conn), pad_block)) => {
                // Our own bound: one batch of plaintext at a time (kick_send_tls).
                conn.set_buffer_limit(None);
                let bufs = self.tls_pool.pop().unwrap_or_else(|| {
                    Box::new(TlsBufs {
                        input: [0; TLS_IN_BYTES],
                        out: [0; TLS_OUT_BYTES],
                    })
                });
                Some(Box::new(TlsConn {
                    conn,
                    bufs,
                    in_start: 0,
                    in_end: 0,
                    out_len: 0,
                    out_sent: 0,
                    handshake_done: false,
                    close_notify_sent: false,
                    pad_block,
                }))
            }
            Some((Err(e), _)) => {
                tracing::warn!(client = %peer, "TLS connection not started: {e}");
                self.free.push(index);
                self.close_orphan(fd);
                return;
            }
        };
        self.shared
            .metrics
            .core(self.index)
            .connections_accepted
            .inc();
        self.open_slot(index, fd, peer, now);
        self.slots[index as usize].tls = tls;
        self.arm_recv(index as usize);
    }

    /// Makes free slot `index` an open connection on `fd`.
    fn open_slot(&mut self, index: u32, fd: RawFd, peer: IpAddr, now: Instant) {
        let slot = &mut self.slots[index as usize];
        assert_eq!(slot.state, SlotState::Free);
        assert_eq!(slot.ops_in_flight, 0);
        slot.state = SlotState::Open;
        slot.fd = fd;
        slot.peer = peer;
        slot.recv_filled = 0;
        slot.reply_len = 0;
        slot.reply_sent = 0;
        slot.peer_eof = false;
        slot.queries = 0;
        slot.last_activity = now;
        slot.send_progress_at = now;
        slot.tls = None;
        slot.close_after_send = false;
        self.connections_open += 1;
    }

    // ---- UDP ----

    fn arm_udp_recv(&mut self, s: usize, b: usize) {
        let sock = &mut self.udp[s];
        let ub = &mut sock.bufs[b];
        ub.iov.iov_base = ub.buf.as_mut_ptr().cast();
        ub.iov.iov_len = ub.buf.len();
        *ub.hdr = sys::msghdr_zeroed();
        ub.hdr.msg_name = (&mut *ub.addr as *mut libc::sockaddr_storage).cast();
        ub.hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        ub.hdr.msg_iov = &mut *ub.iov;
        ub.hdr.msg_iovlen = 1;
        let e = opcode::RecvMsg::new(types::Fd(sock.fd), &mut *ub.hdr)
            .build()
            .user_data(user_data(
                Kind::UdpRecv,
                0,
                (s * UDP_BUFS_PER_SOCKET + b) as u32,
            ));
        sock.in_flight += 1;
        self.control_in_flight += 1;
        self.push(e);
    }

    fn on_udp_recv(&mut self, index: usize, res: i32) {
        self.control_in_flight -= 1;
        let (s, b) = (index / UDP_BUFS_PER_SOCKET, index % UDP_BUFS_PER_SOCKET);
        self.udp[s].in_flight -= 1;
        if self.stopping {
            return;
        }
        if res <= 0 {
            if res < 0 {
                tracing::debug!(core = self.index, "udp recvmsg: {}", errno_name(res));
            }
            self.arm_udp_recv(s, b);
            return;
        }
        let fd = self.udp[s].fd;
        let ub = &mut self.udp[s].bufs[b];
        let truncated = ub.hdr.msg_flags & libc::MSG_TRUNC != 0;
        let peer = sys::sockaddr_to(&ub.addr).map(|a| a.ip().to_canonical());
        let (Some(peer), false) = (peer, truncated) else {
            self.arm_udp_recv(s, b);
            return;
        };
        let msg = &ub.buf[..res as usize];
        if is_notify_response(msg) {
            if let Some(from) = sys::sockaddr_to(&ub.addr) {
                let from = std::net::SocketAddr::new(from.ip().to_canonical(), from.port());
                self.shared.notify.forward_response(from, msg);
            }
            self.arm_udp_recv(s, b);
            return;
        }
        let req = Request {
            msg,
            transport: Transport::Udp,
            peer,
            transfers_full: true,
            now_s: self.now_s,
            pad_block: 0,
        };
        let len = match answer(&self.zones, &req, &mut ub.out) {
            Answer::Reply {
                len,
                rcode,
                refusal,
            } => {
                count_reply(
                    &self.shared.metrics,
                    &self.zones,
                    self.index,
                    msg,
                    &ub.out[..len],
                    Transport::Udp,
                    rcode,
                    refusal.as_ref(),
                );
                if let Some(r) = refusal {
                    if self.refusal_log.allow(Instant::now()) {
                        log_refusal(peer, question_name(msg), Transport::Udp, &r);
                    }
                }
                len
            }
            Answer::Drop | Answer::Transfer(_) => {
                self.arm_udp_recv(s, b);
                return;
            }
        };
        ub.iov.iov_base = ub.out.as_mut_ptr().cast();
        ub.iov.iov_len = len;
        // msg_name and msg_namelen still hold the sender, as recvmsg left them.
        ub.hdr.msg_flags = 0;
        let e = opcode::SendMsg::new(types::Fd(fd), &*ub.hdr)
            .build()
            .user_data(user_data(Kind::UdpSend, 0, index as u32));
        self.udp[s].in_flight += 1;
        self.control_in_flight += 1;
        self.push(e);
    }

    // ---- TCP connections ----

    fn arm_recv(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        if slot.state != SlotState::Open
            || slot.recv_pending
            || slot.peer_eof
            || slot.close_after_send
        {
            return;
        }
        let room = match &mut slot.tls {
            // Ciphertext is received only once rustls has taken the last and holds no
            // plaintext we have not read (its back-pressure, and ours).
            Some(t) if t.in_start < t.in_end || !t.conn.wants_read() => return,
            Some(t) => &mut t.bufs.input[..],
            None if slot.recv_filled == slot.recv_buf.len() => return,
            None => &mut slot.recv_buf[slot.recv_filled..],
        };
        let e = opcode::Recv::new(types::Fd(slot.fd), room.as_mut_ptr(), room.len() as u32)
            .build()
            .user_data(user_data(Kind::Recv, slot.generation, index as u32));
        slot.recv_pending = true;
        slot.ops_in_flight += 1;
        self.push(e);
    }

    fn on_recv(&mut self, index: usize, res: i32, now: Instant) {
        let slot = &mut self.slots[index];
        slot.recv_pending = false;
        if slot.state != SlotState::Open {
            self.maybe_finish_close(index);
            return;
        }
        if res < 0 {
            self.start_close(index);
            return;
        }
        if res == 0 {
            slot.peer_eof = true;
        } else if let Some(t) = &mut slot.tls {
            assert!(res as usize <= t.bufs.input.len());
            (t.in_start, t.in_end) = (0, res as usize);
            slot.last_activity = now;
        } else {
            slot.recv_filled += res as usize;
            assert!(slot.recv_filled <= slot.recv_buf.len());
            slot.last_activity = now;
        }
        self.serve(index, now);
    }

    /// TLS: gives rustls the ciphertext received, and moves the plaintext it decrypted into the
    /// receive buffer, as far as there is room. Err: the TLS error (rustls has queued its alert).
    fn tls_input(&mut self, index: usize) -> std::result::Result<(), String> {
        let slot = &mut self.slots[index];
        let Slot {
            tls,
            recv_buf,
            recv_filled,
            peer_eof,
            ..
        } = slot;
        let Some(t) = tls else {
            return Ok(());
        };
        loop {
            while *recv_filled < recv_buf.len() {
                match std::io::Read::read(&mut t.conn.reader(), &mut recv_buf[*recv_filled..]) {
                    // close_notify: the client sends nothing more.
                    Ok(0) => {
                        *peer_eof = true;
                        break;
                    }
                    Ok(n) => *recv_filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e.to_string()),
                }
            }
            if t.in_start == t.in_end {
                break;
            }
            match t.conn.read_tls(&mut &t.bufs.input[t.in_start..t.in_end]) {
                Ok(0) => {
                    // After close_notify nothing more is read.
                    t.in_start = t.in_end;
                    break;
                }
                Ok(n) => t.in_start += n,
                // Its plaintext buffer is full and so is ours: the rest waits until queries
                // have been answered.
                Err(_) => break,
            }
            t.conn.process_new_packets().map_err(|e| match e {
                // DotOnly gives the certificate to every client that offers ALPN "dot".
                rustls::Error::General(m) if m.contains("no server certificate") => {
                    "the client did not offer ALPN \"dot\" (RFC 9103 section 7.1)".to_string()
                }
                e => e.to_string(),
            })?;
        }
        if !t.handshake_done && !t.conn.is_handshaking() {
            t.handshake_done = true;
            let resumed = t.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
            self.shared.metrics.core(self.index).tls_handshakes[resumed as usize].inc();
            tracing::debug!(
                client = %slot.peer,
                resumed,
                suite = ?t.conn.negotiated_cipher_suite().map(|s| s.suite()),
                "TLS handshake done"
            );
        }
        Ok(())
    }

    /// A TLS error: sends rustls' alert (if any) and closes the connection.
    fn tls_failed(&mut self, index: usize, why: &str, now: Instant) {
        self.shared.metrics.core(self.index).tls_failures.inc();
        let slot = &mut self.slots[index];
        let during = if slot.tls.as_ref().is_some_and(|t| t.handshake_done) {
            "TLS error"
        } else {
            "TLS handshake failed"
        };
        if self.refusal_log.allow(now) {
            tracing::warn!(client = %slot.peer, "{during}: {why}; closing the connection");
        }
        slot.close_after_send = true;
        self.kick_send(index, now);
        let slot = &self.slots[index];
        if slot.state == SlotState::Open && !slot.send_pending {
            self.start_close(index);
        }
    }

    /// Ends a connection that has answered everything: over TLS, after a close_notify.
    fn finish(&mut self, index: usize, now: Instant) {
        let slot = &mut self.slots[index];
        if let Some(t) = &mut slot.tls {
            if !t.close_notify_sent {
                t.close_notify_sent = true;
                t.conn.send_close_notify();
                slot.close_after_send = true;
                self.kick_send(index, now);
                if self.slots[index].send_pending {
                    return;
                }
            }
        }
        self.start_close(index);
    }

    /// Answers the queries waiting in the receive buffer, in order: transfers start at once (up
    /// to `limits.max_transfers_per_connection` on the connection), a short reply is taken only
    /// when none is waiting to be sent. Then sends, and re-arms the receive.
    fn serve(&mut self, index: usize, now: Instant) {
        let max_queries = self.shared.limits.max_queries_per_connection;
        let per_connection = self.shared.limits.max_transfers_per_connection as usize;
        loop {
            if let Err(why) = self.tls_input(index) {
                self.tls_failed(index, &why, now);
                return;
            }
            let transfers_full =
                self.transfers_active >= self.shared.limits.max_transfers_per_core as usize;
            let slot = &mut self.slots[index];
            if slot.state != SlotState::Open
                || slot.close_after_send
                || slot.reply_len > 0
                || slot.transfers.len() >= per_connection
                || self.stopping
                || slot.queries >= max_queries
            {
                break;
            }
            let range = match frame(&slot.recv_buf[..slot.recv_filled], slot.recv_buf.len()) {
                Err(e) => {
                    tracing::debug!(client = %slot.peer, "closing: {e}");
                    self.start_close(index);
                    return;
                }
                Ok(None) => break,
                Ok(Some(range)) => range,
            };
            slot.queries += 1;
            let transport = slot.transport();
            let pad_block = slot.tls.as_ref().map_or(0, |t| t.pad_block);
            let Slot {
                recv_buf,
                reply,
                peer,
                ..
            } = slot;
            let msg = &recv_buf[range.clone()];
            let req = Request {
                msg,
                transport,
                peer: *peer,
                transfers_full,
                now_s: self.now_s,
                pad_block,
            };
            let decision = answer(&self.zones, &req, &mut reply[LENGTH_PREFIX_BYTES..]);
            let mut bufs = None;
            match &decision {
                Answer::Reply {
                    len,
                    rcode,
                    refusal,
                } => {
                    count_reply(
                        &self.shared.metrics,
                        &self.zones,
                        self.index,
                        msg,
                        &reply[LENGTH_PREFIX_BYTES..LENGTH_PREFIX_BYTES + len],
                        transport,
                        *rcode,
                        refusal.as_ref(),
                    );
                    if let Some(r) = refusal {
                        if self.refusal_log.allow(now) {
                            log_refusal(*peer, question_name(msg), transport, r);
                        }
                    }
                }
                Answer::Transfer(t) => {
                    // At most max_transfers_per_core buffers exist: one per transfer in flight.
                    let mut b = self.stream_pool.pop().unwrap_or_else(|| {
                        Box::new(StreamBufs {
                            question: [0; QUESTION_BYTES_MAX],
                            opt: [0; OPT_BYTES_MAX],
                        })
                    });
                    b.question[..t.question_len].copy_from_slice(&msg[12..12 + t.question_len]);
                    bufs = Some(b);
                }
                Answer::Drop => {}
            }
            consume(recv_buf, &mut slot.recv_filled, range.end);
            match decision {
                Answer::Drop => {
                    self.start_close(index);
                    return;
                }
                Answer::Reply { len, rcode, .. } => {
                    write_length_prefix(&mut slot.reply[..], len);
                    slot.reply_len = LENGTH_PREFIX_BYTES + len;
                    slot.reply_sent = 0;
                    if rcode != 0 {
                        tracing::debug!(client = %slot.peer, rcode, "query answered with an error");
                    }
                }
                Answer::Transfer(t) => {
                    let bufs = bufs.expect("buffers taken for the transfer");
                    self.start_transfer(index, t, bufs, now);
                }
            }
        }
        self.kick_send(index, now);
        let slot = &self.slots[index];
        if slot.state == SlotState::Open
            && !slot.busy()
            && !slot.send_pending
            && !slot.close_after_send
            && (slot.peer_eof || self.stopping || slot.queries >= max_queries)
        {
            self.finish(index, now);
            return;
        }
        self.arm_recv(index);
    }

    fn start_transfer(
        &mut self,
        index: usize,
        t: TransferStart,
        mut bufs: Box<StreamBufs>,
        now: Instant,
    ) {
        let src = StoredSource::of(&t.zone, t.source);
        let messages = src.message_count();
        let first_body_bytes = src.body(0).len();
        let mut cursor = TransferCursor::new(t.id, t.flags, t.question_len, messages);
        let signing = t.signer.map(|signer| {
            cursor = cursor.clone().signed(signer.rr_bytes());
            // At most max_transfers_per_core buffers exist: one per transfer in flight.
            let records = self
                .tsig_pool
                .pop()
                .unwrap_or_else(|| vec![0u8; TSIG_RECORDS_BYTES].into_boxed_slice());
            (signer, records)
        });
        let served = crate::metrics::Served::of_log_label(t.served);
        t.zone.stats.core(self.index).transfers[served as usize].inc();
        let slot = &mut self.slots[index];
        if let Some(opt) = t.opt {
            let len = opt.write(&mut bufs.opt);
            cursor = cursor.with_opt(len, first_body_bytes);
            if t.pad_block > 0 {
                cursor = cursor.with_padding(t.pad_block, &opt);
            }
        }
        debug_assert!(slot.transfers.len() < slot.transfers.capacity());
        slot.transfers.push(Transfer {
            bufs,
            question_len: t.question_len,
            zone: t.zone,
            source: t.source,
            cursor,
            started: now,
            served: t.served,
            signing,
        });
        self.transfers_active += 1;
    }

    /// A transfer is over (sent, or its connection closed with nothing in flight): its TSIG
    /// buffer goes back to the pool.
    fn end_transfer(&mut self, t: Transfer) {
        let stats = t.zone.stats.core(self.index);
        stats.bytes.add(t.cursor.bytes_sent_total());
        stats.messages.add(t.cursor.messages_sent() as u64);
        if t.cursor.is_done() {
            stats.duration.observe(t.started.elapsed());
        } else {
            stats.transfers_aborted.inc();
        }
        if let Some((_, records)) = t.signing {
            self.tsig_pool.push(records);
        }
        self.stream_pool.push(t.bufs);
        self.transfers_active -= 1;
    }

    fn kick_send(&mut self, index: usize, now: Instant) {
        let batch_bytes = self.shared.limits.send_batch_bytes as usize;
        let now_s = self.now_s;
        let slot = &mut self.slots[index];
        if slot.state != SlotState::Open || slot.send_pending {
            return;
        }
        if slot.tls.is_some() {
            self.kick_send_tls(index, now);
            return;
        }
        // A reply already begun finishes first; then a transfer's message already begun; then
        // a waiting reply; then the transfer whose turn it is.
        let reply_first = slot.reply_len > 0 && (slot.reply_sent > 0 || !slot.mid_message());
        let e = if reply_first {
            slot.sending = Sending::Reply;
            let rest = &slot.reply[slot.reply_sent..slot.reply_len];
            opcode::Send::new(types::Fd(slot.fd), rest.as_ptr(), rest.len() as u32)
                .flags(libc::MSG_NOSIGNAL)
                .build()
                .user_data(user_data(Kind::Send, slot.generation, index as u32))
        } else if let Some(t) = slot.transfers.get_mut(slot.turn) {
            slot.sending = Sending::Transfer;
            let Slot {
                prefixes,
                iov,
                msghdr,
                ..
            } = slot;
            let src = StoredSource::of(&t.zone, t.source);
            let signing = t.signing.as_mut().map(|(signer, records)| Signing {
                signer,
                records: &mut records[..],
                now_s,
            });
            let mut used = 0;
            let opt_len = t.cursor.opt_len();
            t.cursor.fill_with(
                &src,
                &t.bufs.question[..t.question_len],
                &t.bufs.opt[..opt_len],
                &mut prefixes[..],
                &mut [],
                signing,
                SEND_MESSAGES_MAX,
                batch_bytes,
                |piece, _| {
                    iov[used] = libc::iovec {
                        iov_base: piece.as_ptr() as *mut libc::c_void,
                        iov_len: piece.len(),
                    };
                    used += 1;
                },
            );
            **msghdr = sys::msghdr_zeroed();
            msghdr.msg_iov = iov.as_mut_ptr();
            msghdr.msg_iovlen = used;
            opcode::SendMsg::new(types::Fd(slot.fd), &**msghdr)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build()
                .user_data(user_data(Kind::Send, slot.generation, index as u32))
        } else {
            return;
        };
        slot.send_pending = true;
        slot.send_progress_at = now;
        slot.ops_in_flight += 1;
        self.push(e);
    }

    fn on_send(&mut self, index: usize, res: i32, now: Instant) {
        let slot = &mut self.slots[index];
        slot.send_pending = false;
        if slot.state != SlotState::Open {
            self.maybe_finish_close(index);
            return;
        }
        if res <= 0 {
            for t in &slot.transfers {
                tracing::warn!(
                    client = %slot.peer,
                    zone = %t.zone.origin,
                    bytes = t.cursor.bytes_sent_total(),
                    "transfer aborted: {}",
                    if res == 0 { "peer closed".to_string() } else { errno_name(res) }
                );
            }
            self.start_close(index);
            return;
        }
        let sent = res as usize;
        slot.send_progress_at = now;
        if let Some(t) = &mut slot.tls {
            t.out_sent += sent;
            assert!(t.out_sent <= t.out_len, "sent more than the ciphertext");
            if slot.close_after_send && !t.pending_out() {
                self.start_close(index);
                return;
            }
            if slot.close_after_send {
                self.kick_send(index, now);
                return;
            }
        } else if slot.sending == Sending::Reply {
            slot.reply_sent += sent;
            assert!(
                slot.reply_sent <= slot.reply_len,
                "sent more than the reply"
            );
            if slot.reply_sent == slot.reply_len {
                slot.reply_len = 0;
                slot.reply_sent = 0;
                slot.last_activity = now;
            }
        } else {
            self.transfer_sent(index, sent, now);
        }
        self.serve(index, now);
    }

    /// `sent` bytes of the batch in flight of `transfers[turn]` have gone (to the kernel, or
    /// over TLS to rustls): advances its cursor, passes the turn at a message boundary, and
    /// ends the transfer when it is complete.
    fn transfer_sent(&mut self, index: usize, sent: usize, now: Instant) {
        let slot = &mut self.slots[index];
        {
            let turn = slot.turn;
            let t = slot
                .transfers
                .get_mut(turn)
                .expect("send completion without a reply or transfer");
            t.cursor.advance(&StoredSource::of(&t.zone, t.source), sent);
            if t.cursor.at_message_boundary() && !t.cursor.is_done() {
                // The turn passes (at a message boundary only).
                slot.turn = (turn + 1) % slot.transfers.len();
            } else if t.cursor.is_done() {
                let t = slot.transfers.remove(turn);
                if slot.turn >= slot.transfers.len() {
                    slot.turn = 0;
                }
                // Cheap fields only: this line is written once per transfer, and at one
                // message per handoff its formatting was half of xfrd's own CPU (perf).
                tracing::info!(
                    client = %slot.peer,
                    zone = %t.zone.origin_text,
                    served = %t.served,
                    serial = t.zone.store.serial(),
                    messages = t.cursor.messages_sent(),
                    bytes = t.cursor.bytes_sent_total(),
                    us = now.duration_since(t.started).as_micros() as u64,
                    key = %KeyOf(&t),
                    "transfer done"
                );
                slot.last_activity = now;
                self.end_transfer(t);
            }
        }
    }

    /// The send step of a TLS connection: the rest of the ciphertext in flight; else, once the
    /// handshake is done and rustls holds nothing unsent, one reply or one batch of the
    /// transfer whose turn it is goes in as plaintext; then the ciphertext rustls made is
    /// drained into the output buffer and sent.
    fn kick_send_tls(&mut self, index: usize, now: Instant) {
        use std::io::Write;
        let batch_bytes = (self.shared.limits.send_batch_bytes as usize).min(TLS_BATCH_BYTES);
        let now_s = self.now_s;
        let slot = &mut self.slots[index];
        let mid_message = slot.mid_message();
        let t = slot.tls.as_mut().expect("a TLS connection");
        if t.out_sent == t.out_len {
            (t.out_len, t.out_sent) = (0, 0);
            let may_feed = t.handshake_done && !t.conn.wants_write() && !slot.close_after_send;
            let mut fed_transfer = None;
            if may_feed && slot.reply_len > 0 && !mid_message {
                let written = t.conn.writer().write(&slot.reply[..slot.reply_len]);
                assert_eq!(
                    written.ok(),
                    Some(slot.reply_len),
                    "rustls takes a whole reply"
                );
                slot.reply_len = 0;
                slot.reply_sent = 0;
                slot.last_activity = now;
            } else if let Some(tr) = slot.transfers.get_mut(slot.turn).filter(|_| may_feed) {
                let src = StoredSource::of(&tr.zone, tr.source);
                let signing = tr.signing.as_mut().map(|(signer, records)| Signing {
                    signer,
                    records: &mut records[..],
                    now_s,
                });
                let mut pieces = [std::io::IoSlice::new(&[]); TLS_PIECES_MAX];
                // A padded transfer's OPTs: they only need to live until rustls has taken
                // the batch, just below; an unpadded one writes none.
                let mut heads_buf;
                let heads: &mut [[u8; PAD_HEAD_BYTES]] = if tr.cursor.is_padded() {
                    heads_buf = [[0u8; PAD_HEAD_BYTES]; SEND_MESSAGES_MAX];
                    &mut heads_buf
                } else {
                    &mut []
                };
                let opt_len = tr.cursor.opt_len();
                let mut used = 0;
                // Where the batch's last message begins.
                let mut last_at = 0;
                let mut last_message = 0;
                tr.cursor.fill_with(
                    &src,
                    &tr.bufs.question[..tr.question_len],
                    &tr.bufs.opt[..opt_len],
                    &mut slot.prefixes[..],
                    heads,
                    signing,
                    SEND_MESSAGES_MAX,
                    batch_bytes,
                    |piece, message| {
                        if message != last_message || used == 0 {
                            (last_at, last_message) = (used, message);
                        }
                        pieces[used] = std::io::IoSlice::new(piece);
                        used += 1;
                    },
                );
                // rustls packs each write into full records (no buffer limit is set) and
                // ends a record where the write ends. The batch's last message goes in a write
                // of its own, so the last record holds one message's end: a reader that
                // takes one message per readable event (nsd 4.6 reads one, then waits for
                // the socket) would otherwise find the last message already decrypted in its
                // TLS buffer, with nothing left on the socket to wake it.
                let mut n = 0;
                for part in [&pieces[..last_at], &pieces[last_at..used]] {
                    if !part.is_empty() {
                        n += t
                            .conn
                            .writer()
                            .write_vectored(part)
                            .expect("rustls takes plaintext after the handshake");
                    }
                }
                fed_transfer = Some(n);
            }
            let out = &mut t.bufs.out[..];
            while t.out_len < out.len() && t.conn.wants_write() {
                match t.conn.write_tls(&mut &mut out[t.out_len..]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => t.out_len += n,
                }
            }
            let nothing = t.out_len == 0;
            if let Some(n) = fed_transfer {
                slot.sending = Sending::Transfer;
                self.transfer_sent(index, n, now);
            }
            if nothing {
                return;
            }
        }
        let slot = &mut self.slots[index];
        let t = slot.tls.as_mut().expect("a TLS connection");
        let rest = &t.bufs.out[t.out_sent..t.out_len];
        let e = opcode::Send::new(types::Fd(slot.fd), rest.as_ptr(), rest.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(user_data(Kind::Send, slot.generation, index as u32));
        slot.send_pending = true;
        slot.send_progress_at = now;
        slot.ops_in_flight += 1;
        self.push(e);
    }

    fn start_close(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        if slot.state != SlotState::Open {
            return;
        }
        slot.state = SlotState::Closing;
        if slot.ops_in_flight == 0 {
            self.maybe_finish_close(index);
            return;
        }
        let (fd, generation) = (slot.fd, slot.generation);
        let mut entries: [Option<squeue::Entry>; 3] = [None, None, None];
        entries[0] = Some(
            opcode::Shutdown::new(types::Fd(fd), libc::SHUT_RDWR)
                .build()
                .user_data(user_data(Kind::Shutdown, generation, index as u32)),
        );
        if slot.recv_pending {
            entries[1] = Some(
                opcode::AsyncCancel::new(user_data(Kind::Recv, generation, index as u32))
                    .build()
                    .user_data(user_data(Kind::Cancel, generation, index as u32)),
            );
        }
        if slot.send_pending {
            entries[2] = Some(
                opcode::AsyncCancel::new(user_data(Kind::Send, generation, index as u32))
                    .build()
                    .user_data(user_data(Kind::Cancel, generation, index as u32)),
            );
        }
        for e in entries.into_iter().flatten() {
            self.slots[index].ops_in_flight += 1;
            self.push(e);
        }
    }

    fn maybe_finish_close(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        if slot.state != SlotState::Closing || slot.ops_in_flight > 0 {
            return;
        }
        slot.state = SlotState::CloseSubmitted;
        slot.ops_in_flight += 1;
        let e = opcode::Close::new(types::Fd(slot.fd))
            .build()
            .user_data(user_data(Kind::Close, slot.generation, index as u32));
        self.push(e);
    }

    fn on_closed(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        assert_eq!(slot.state, SlotState::CloseSubmitted);
        assert_eq!(
            slot.ops_in_flight, 0,
            "slot freed with operations in flight"
        );
        let mut cut_off = std::mem::take(&mut slot.transfers);
        for t in &cut_off {
            tracing::warn!(
                client = %slot.peer,
                zone = %t.zone.origin,
                serial = t.zone.store.serial(),
                messages = t.cursor.messages_sent(),
                bytes = t.cursor.bytes_sent_total(),
                "transfer cut off before its end"
            );
        }
        slot.state = SlotState::Free;
        slot.fd = -1;
        slot.recv_pending = false;
        slot.send_pending = false;
        slot.reply_len = 0;
        slot.generation = (slot.generation + 1) & GENERATION_MASK;
        self.free.push(index as u32);
        slot.turn = 0;
        slot.close_after_send = false;
        if let Some(t) = slot.tls.take() {
            self.tls_pool.push(t.bufs);
        }
        self.connections_open -= 1;
        for t in cut_off.drain(..) {
            self.end_transfer(t);
        }
        // The slot keeps its reserved list: no allocation when it serves again.
        self.slots[index].transfers = cut_off;
    }

    // ---- timers and stopping ----

    fn on_tick(&mut self, now: Instant) {
        let limits = self.shared.limits;
        let send_timeout = Duration::from_millis(limits.send_timeout_ms);
        let idle_timeout = Duration::from_millis(limits.idle_timeout_ms);
        let grace_over = self.grace_deadline.is_some_and(|d| now >= d);
        for index in 0..self.slots.len() {
            let slot = &self.slots[index];
            if slot.state != SlotState::Open {
                continue;
            }
            if slot.send_pending && now.duration_since(slot.send_progress_at) > send_timeout {
                tracing::warn!(client = %slot.peer, "no send progress for {} ms: cutting the connection off", limits.send_timeout_ms);
                self.start_close(index);
            } else if !slot.busy()
                && !slot.send_pending
                && now.duration_since(slot.last_activity) > idle_timeout
            {
                tracing::debug!(client = %slot.peer, "idle connection closed");
                self.start_close(index);
            } else if grace_over || (self.stopping && !slot.busy()) {
                self.start_close(index);
            }
        }
    }

    fn check_stop(&mut self, now: Instant) {
        if !self.stopping && self.shared.stop.load(Ordering::Acquire) {
            self.stopping = true;
            self.grace_deadline =
                Some(now + Duration::from_millis(self.shared.limits.shutdown_grace_ms));
            // Stop accepting and receiving datagrams: cancel through the ring.
            for i in 0..self.listeners.len() {
                if self.listeners[i].armed {
                    let e = opcode::AsyncCancel::new(user_data(Kind::Accept, 0, i as u32))
                        .build()
                        .user_data(user_data(Kind::CancelControl, 0, 0));
                    self.control_in_flight += 1;
                    self.push(e);
                }
            }
            for s in 0..self.udp.len() {
                for b in 0..UDP_BUFS_PER_SOCKET {
                    let e = opcode::AsyncCancel::new(user_data(
                        Kind::UdpRecv,
                        0,
                        (s * UDP_BUFS_PER_SOCKET + b) as u32,
                    ))
                    .build()
                    .user_data(user_data(Kind::CancelControl, 0, 0));
                    self.control_in_flight += 1;
                    self.push(e);
                }
            }
            if self.handoff.listener.as_ref().is_some_and(|l| l.armed) {
                let e = opcode::AsyncCancel::new(user_data(Kind::HandoffAccept, 0, 0))
                    .build()
                    .user_data(user_data(Kind::CancelControl, 0, 0));
                self.control_in_flight += 1;
                self.push(e);
            }
            for i in 0..self.handoff.front_ends.len() {
                self.close_front_end(i);
            }
            for index in 0..self.slots.len() {
                if self.slots[index].state == SlotState::Open && !self.slots[index].busy() {
                    self.start_close(index);
                }
            }
        }
        if self.stopping && self.shared.stop_now.load(Ordering::Acquire) {
            self.grace_deadline = Some(now);
        }
        if self.stopping && !self.fds_closed && self.connections_open == 0 {
            let sockets_idle = self.listeners.iter().all(|l| !l.armed && !l.resume_pending)
                && self.udp.iter().all(|u| u.in_flight == 0)
                && self.handoff.idle();
            if sockets_idle {
                self.fds_closed = true;
                let fds: Vec<RawFd> = self
                    .listeners
                    .iter()
                    .map(|l| l.fd)
                    .chain(self.udp.iter().map(|u| u.fd))
                    .chain(self.handoff.listener.as_ref().map(|l| l.fd))
                    .collect();
                for fd in fds {
                    let e = opcode::Close::new(types::Fd(fd))
                        .build()
                        .user_data(user_data(Kind::CloseControl, 0, 0));
                    self.control_in_flight += 1;
                    self.push(e);
                }
                if self.tick_armed {
                    let e = opcode::AsyncCancel::new(user_data(Kind::Tick, 0, 0))
                        .build()
                        .user_data(user_data(Kind::CancelControl, 0, 0));
                    self.control_in_flight += 1;
                    self.push(e);
                }
            }
        }
    }
}

/// Counts one reply (not a transfer) in core `core`'s blocks: its rcode, a refusal by reason
/// (also under the zone, when served), an IXFR answered by the SOA alone or by a diff in one
/// datagram, an SOA answer. Reads the query's question only; the zone is looked up for the
/// rare cases (refusals, IXFR) alone, so an SOA answer costs two counter increments.
#[allow(clippy::too_many_arguments)]
fn count_reply(
    metrics: &crate::metrics::Metrics,
    zones: &ZoneSet,
    core: usize,
    query: &[u8],
    reply: &[u8],
    transport: Transport,
    rcode: u16,
    refusal: Option<&Refusal>,
) {
    use crate::metrics::{RefusedReason, Served};
    let stats = metrics.core(core);
    let t = match transport {
        Transport::Udp => 0,
        Transport::Tcp => 1,
        Transport::Tls => 2,
    };
    stats.responses[t][crate::metrics::rcode_slot(rcode)].inc();
    let qname = question_name(query);
    let qtype = query
        .get(12 + qname.len()..14 + qname.len())
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let is_xfr = qtype == TYPE_AXFR || qtype == TYPE_IXFR;
    let reason = match refusal {
        Some(Refusal::Acl { .. }) => Some(RefusedReason::Acl),
        Some(Refusal::Tsig { reason, .. }) => Some(RefusedReason::of_tsig(reason)),
        None if rcode == RCODE_SERVFAIL as u16 && is_xfr => Some(RefusedReason::Quota),
        None => None,
    };
    if let Some(r) = reason {
        stats.refused[r as usize].inc();
        if let Some(z) = zones.find(qname) {
            z.stats.core(core).refused[r as usize].inc();
        }
    } else if rcode == 0 && qtype == TYPE_IXFR {
        if let Some(z) = zones.find(qname) {
            // More than the SOA in the answer: the diff, in one datagram.
            let ancount = reply
                .get(6..8)
                .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            let served = if ancount > 1 {
                Served::Ixfr
            } else {
                Served::SoaOnly
            };
            z.stats.core(core).transfers[served as usize].inc();
        }
    } else if rcode == 0 && qtype == TYPE_SOA {
        stats.soa_answers[t].inc();
    }
}

/// The question name of a query that parsed far enough to be answered (for log lines).
fn question_name(msg: &[u8]) -> &[u8] {
    let q = msg.get(12..).unwrap_or(&[]);
    let mut at = 0;
    while let Some(&l) = q.get(at) {
        if l == 0 || l & 0xC0 != 0 {
            return &q[..(at + 1).min(q.len())];
        }
        at += 1 + l as usize;
    }
    &[]
}

/// The ring of one core. Only the core's own thread submits and reaps, and it reaps only in
/// `submit_and_wait`, so completions' deferred work can run there (DEFER_TASKRUN, Linux 6.1):
/// the kernel then wakes the thread only when it waits, instead of interrupting it to run that
/// work. SOA over UDP with four queries in flight: about 73,000 queries/s against 62,000
/// without it (medians, BENCHMARKS.md); TCP transfers and handoffs are unchanged. Older
/// kernels get COOP_TASKRUN, then a plain ring.
fn build_ring() -> std::io::Result<IoUring> {
    let ring = |defer: bool| {
        let mut b = IoUring::builder();
        b.setup_cqsize(4 * RING_ENTRIES).setup_single_issuer();
        if defer {
            b.setup_defer_taskrun();
        } else {
            b.setup_coop_taskrun();
        }
        b.build(RING_ENTRIES)
    };
    ring(true).or_else(|_| ring(false)).or_else(|_| {
        IoUring::builder()
            .setup_cqsize(4 * RING_ENTRIES)
            .build(RING_ENTRIES)
    })
}

/// Checks that io_uring and every opcode the serving path uses are available; the error says
/// precisely what is missing.
pub fn probe() -> Result<()> {
    let ring = match build_ring() {
        Ok(r) => r,
        Err(e) => {
            let hint = match e.raw_os_error() {
                Some(libc::ENOSYS) => "this kernel has no io_uring (Linux 5.19 or later is needed)",
                Some(libc::EPERM) => "io_uring is disabled (sysctl kernel.io_uring_disabled must be 0) or blocked by seccomp",
                Some(libc::ENOMEM) => "not enough locked memory for the ring (RLIMIT_MEMLOCK)",
                _ => "io_uring_setup failed",
            };
            anyhow::bail!("{hint}: {e}");
        }
    };
    let mut probe = io_uring::Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .context("io_uring probe")?;
    let needed: [(&str, u8); 9] = [
        ("ACCEPT (multishot)", opcode::AcceptMulti::CODE),
        ("RECV", opcode::Recv::CODE),
        ("SEND", opcode::Send::CODE),
        ("RECVMSG", opcode::RecvMsg::CODE),
        ("SENDMSG", opcode::SendMsg::CODE),
        ("CLOSE", opcode::Close::CODE),
        ("SHUTDOWN", opcode::Shutdown::CODE),
        ("TIMEOUT", opcode::Timeout::CODE),
        ("ASYNC_CANCEL", opcode::AsyncCancel::CODE),
    ];
    let missing: Vec<&str> = needed
        .iter()
        .filter(|(_, code)| !probe.is_supported(*code))
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        anyhow::bail!("this kernel's io_uring lacks opcodes xfrd needs: {} (Linux 5.19 or later has them all)", missing.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_round_trips() {
        assert_eq!(Kind::ALL.len(), Kind::HandoffAdopt as usize);
        for &kind in Kind::ALL {
            let ud = user_data(kind, 0x12_3456, 4_000_000_000);
            assert_eq!(split_user_data(ud), (kind, 0x12_3456, 4_000_000_000));
        }
        assert_eq!(
            split_user_data(user_data(Kind::Close, GENERATION_MASK + 5, 1)).1,
            4
        );
    }
}
