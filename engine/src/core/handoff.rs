//! Fd receipt, handoff protocol v1 (DESIGN.md): front ends pass a client's TCP socket and the
//! query they read from it over a Unix stream socket; the engine answers on the socket.
//!
//! Every core holds its own descriptor of the one Unix listener (AF_UNIX has no SO_REUSEPORT)
//! with a multishot accept armed on it, so each front-end connection lands on one of the
//! cores and the connections handed over on it are served there: front ends spread across
//! cores. Each front-end connection is long-lived and sits in a small fixed per-core table ([`FRONT_ENDS_MAX`]); its peer uid (SO_PEERCRED) must be in
//! `handoff_uids`. Receiving is an io_uring RECVMSG with room for descriptors
//! (MSG_CMSG_CLOEXEC); [`xfr_handoff::Assembler`] pairs bytes and descriptors into handoffs and
//! owns every descriptor until one is adopted, so a rejected one is closed by being dropped
//! (a close(2) outside the ring: the control path's only one). Statuses go back in order,
//! one send in flight, from a bounded queue; the receive is not re-armed while the queue could
//! not take the statuses of one more full receive.
//!
//! What a handoff gets: 1 (malformed) for a bad frame, a descriptor that is not a connected
//! TCP socket, or a query that does not parse; 3 (not served) for a query that is not SOA, AXFR
//! or IXFR (class IN) at a served apex; 2 (overloaded) when stopping, when the connection
//! table is full, or for a transfer beyond the transfer limit; 0 (taken) otherwise: the query
//! goes into the new connection slot as if received on it, and the ACL (against the client's
//! address) and everything else apply as for any connection.

use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};

use xfr_handoff::frame::{
    response, Event, Status, QUERY_BYTES_MIN, REQUEST_HEADER_BYTES, RESPONSE_BYTES,
};
use xfr_handoff::sys::ControlBuf;
use xfr_handoff::Assembler;
use xfr_proto::query::parse_query;
use xfr_proto::wire::{CLASS_IN, TYPE_AXFR, TYPE_IXFR, TYPE_SOA};

use super::*;

/// Front-end connections at once, per core. Front ends keep long-lived connections (M front
/// ends + N transfers, as in BIND 10 Xfrout), often one per worker thread: `xfr-bench handoff
/// --concurrency 64` holds 64, and with 16 the 17th was closed at accept. 128 per core costs
/// 2 MiB of receive buffers per core, allocated up front.
pub const FRONT_ENDS_MAX: usize = 128;
/// Receive buffer per front end: a burst of pipelined handoffs.
const RECV_BYTES_FRONT_END: usize = 16 * 1024;
/// Most handoffs one receive can complete (each frame is at least header + DNS header).
const STATUSES_PER_RECV_MAX: usize =
    RECV_BYTES_FRONT_END / (REQUEST_HEADER_BYTES + QUERY_BYTES_MIN) + 1;
/// Status bytes waiting to be sent: room for two receives' worth.
const STATUS_QUEUE_BYTES: usize = 2 * RESPONSE_BYTES * STATUSES_PER_RECV_MAX;

pub(super) struct FrontEnd {
    generation: u32,
    state: SlotState,
    fd: RawFd,
    ops_in_flight: u32,
    recv_pending: bool,
    send_pending: bool,
    close_when_sent: bool,
    hdr: Box<libc::msghdr>,
    iov: Box<libc::iovec>,
    buf: Box<[u8]>,
    control: Box<ControlBuf>,
    assembler: Assembler,
    out: Box<[u8]>,
    out_len: usize,
    out_sent: usize,
}

impl FrontEnd {
    fn new() -> FrontEnd {
        FrontEnd {
            generation: 0,
            state: SlotState::Free,
            fd: -1,
            ops_in_flight: 0,
            recv_pending: false,
            send_pending: false,
            close_when_sent: false,
            hdr: Box::new(sys::msghdr_zeroed()),
            iov: Box::new(libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }),
            buf: vec![0; RECV_BYTES_FRONT_END].into_boxed_slice(),
            control: Box::default(),
            assembler: Assembler::new(),
            out: vec![0; STATUS_QUEUE_BYTES].into_boxed_slice(),
            out_len: 0,
            out_sent: 0,
        }
    }
}

/// This core's descriptor of the handoff listener and its front-end table.
pub(super) struct Handoff {
    pub(super) listener: Option<Listener>,
    pub(super) front_ends: Vec<FrontEnd>,
    pub(super) open: usize,
    /// The assembler's output for one receive, kept between receives so that a handoff
    /// allocates no event list.
    events: Vec<Event>,
}

impl Handoff {
    pub(super) fn new(listener: Option<OwnedFd>) -> Handoff {
        let front_ends = if listener.is_some() {
            (0..FRONT_ENDS_MAX).map(|_| FrontEnd::new()).collect()
        } else {
            Vec::new()
        };
        Handoff {
            listener: listener.map(|fd| Listener {
                fd: fd.into_raw_fd(),
                armed: false,
                resume_pending: false,
                tls: None,
            }),
            front_ends,
            open: 0,
            events: Vec::new(),
        }
    }

    /// No operation of the handoff path is in flight and no front end is open.
    pub(super) fn idle(&self) -> bool {
        self.open == 0
            && self
                .listener
                .as_ref()
                .is_none_or(|l| !l.armed && !l.resume_pending)
    }
}

impl Core {
    pub(super) fn arm_handoff_accept(&mut self) {
        let Some(l) = &mut self.handoff.listener else {
            return;
        };
        l.armed = true;
        let e = opcode::AcceptMulti::new(types::Fd(l.fd))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(user_data(Kind::HandoffAccept, 0, 0));
        self.control_in_flight += 1;
        self.push(e);
    }

    pub(super) fn on_handoff_accept(&mut self, res: i32, flags: u32) {
        if res >= 0 {
            self.route_front_end(res);
        } else if res != -libc::ECANCELED {
            tracing::warn!("handoff accept: {}", errno_name(res));
        }
        if cqueue::more(flags) {
            return;
        }
        self.control_in_flight -= 1;
        if let Some(l) = &mut self.handoff.listener {
            l.armed = false;
        }
        if self.stopping {
            return;
        }
        if res < 0 {
            if let Some(l) = &mut self.handoff.listener {
                l.resume_pending = true;
            }
            let e = opcode::Timeout::new(&*self.pause_ts)
                .build()
                .user_data(user_data(Kind::HandoffAcceptResume, 0, 0));
            self.control_in_flight += 1;
            self.push(e);
        } else {
            self.arm_handoff_accept();
        }
    }

    pub(super) fn on_handoff_accept_resume(&mut self) {
        self.control_in_flight -= 1;
        if let Some(l) = &mut self.handoff.listener {
            l.resume_pending = false;
        }
        if !self.stopping {
            self.arm_handoff_accept();
        }
    }

    /// Passes a newly accepted front-end connection to the next core in turn, so front ends
    /// (and the transfers handed over on them) spread across cores: several rings' accepts
    /// armed on one Unix listener are not woken in turn, one of them takes every connection.
    /// The pass is a MSG_RING that posts the descriptor's number as a completion in the
    /// target ring (the threads share one descriptor table); if it fails, this core keeps
    /// the connection, so none is lost.
    fn route_front_end(&mut self, fd: RawFd) {
        let cores = self.shared.ring_fds.len();
        let target = self.shared.next_front_end.fetch_add(1, Ordering::Relaxed) % cores.max(1);
        let ring_fd = self.shared.ring_fds[target].load(Ordering::Acquire);
        if target == self.index || ring_fd < 0 || self.stopping {
            self.take_front_end(fd);
            return;
        }
        let e = opcode::MsgRingData::new(
            types::Fd(ring_fd),
            fd,
            user_data(Kind::HandoffAdopt, 0, 0),
            None,
        )
        .build()
        .user_data(user_data(Kind::HandoffPass, 0, fd as u32));
        self.control_in_flight += 1;
        self.push(e);
    }

    /// Completion of this core's MSG_RING pass of front-end connection `fd`.
    pub(super) fn on_handoff_pass(&mut self, fd: RawFd, res: i32) {
        self.control_in_flight -= 1;
        if res < 0 {
            tracing::debug!(
                core = self.index,
                "passing a front end to another core failed ({}): kept here",
                errno_name(res)
            );
            self.take_front_end(fd);
        }
    }

    /// A front-end connection passed to this core by another core's MSG_RING.
    pub(super) fn on_handoff_adopt(&mut self, fd: RawFd) {
        if fd < 0 {
            return;
        }
        self.take_front_end(fd);
    }

    fn take_front_end(&mut self, fd: RawFd) {
        let uid = sys::peer_uid(fd);
        let allowed = uid
            .as_ref()
            .is_ok_and(|u| self.shared.handoff_uids.contains(u));
        let free = self
            .handoff
            .front_ends
            .iter()
            .position(|f| f.state == SlotState::Free);
        match (allowed, free, self.stopping) {
            (true, Some(i), false) => {
                let f = &mut self.handoff.front_ends[i];
                f.state = SlotState::Open;
                f.fd = fd;
                f.out_len = 0;
                f.out_sent = 0;
                f.close_when_sent = false;
                f.assembler = Assembler::new();
                self.handoff.open += 1;
                tracing::debug!(uid = ?uid, core = self.index, "front end connected");
                self.arm_front_end_recv(i);
            }
            (false, _, _) => {
                tracing::warn!(uid = ?uid, "handoff connection from a uid not in handoff_uids: closed");
                self.close_orphan(fd);
            }
            _ => {
                tracing::warn!("handoff: front-end table full ({FRONT_ENDS_MAX}) or stopping: connection closed");
                self.close_orphan(fd);
            }
        }
    }

    fn arm_front_end_recv(&mut self, i: usize) {
        let f = &mut self.handoff.front_ends[i];
        let room_for_statuses =
            STATUS_QUEUE_BYTES - f.out_len >= RESPONSE_BYTES * STATUSES_PER_RECV_MAX;
        if f.state != SlotState::Open
            || f.recv_pending
            || f.close_when_sent
            || f.assembler.is_dead()
            || !room_for_statuses
        {
            return;
        }
        f.iov.iov_base = f.buf.as_mut_ptr().cast();
        f.iov.iov_len = f.buf.len();
        *f.hdr = sys::msghdr_zeroed();
        f.hdr.msg_iov = &mut *f.iov;
        f.hdr.msg_iovlen = 1;
        f.hdr.msg_control = f.control.0.as_mut_ptr().cast();
        f.hdr.msg_controllen = f.control.0.len();
        let e = opcode::RecvMsg::new(types::Fd(f.fd), &mut *f.hdr)
            .flags(libc::MSG_CMSG_CLOEXEC as u32)
            .build()
            .user_data(user_data(Kind::HandoffRecv, f.generation, i as u32));
        f.recv_pending = true;
        f.ops_in_flight += 1;
        self.push(e);
    }

    pub(super) fn on_front_end_op(
        &mut self,
        kind: Kind,
        generation: u32,
        i: usize,
        res: i32,
        now: Instant,
    ) {
        let f = &mut self.handoff.front_ends[i];
        assert_eq!(
            f.generation, generation,
            "completion for a reused front-end slot"
        );
        assert!(
            f.ops_in_flight > 0,
            "front-end completion with nothing in flight"
        );
        f.ops_in_flight -= 1;
        match kind {
            Kind::HandoffRecv => self.on_front_end_recv(i, res, now),
            Kind::HandoffSend => self.on_front_end_send(i, res),
            Kind::HandoffClose => {
                let f = &mut self.handoff.front_ends[i];
                assert_eq!(f.state, SlotState::CloseSubmitted);
                // Dropping the assembler closes any descriptor of a partial frame.
                f.assembler = Assembler::new();
                f.state = SlotState::Free;
                f.fd = -1;
                f.generation = (f.generation + 1) & GENERATION_MASK;
                self.handoff.open -= 1;
            }
            _ => self.maybe_finish_front_end_close(i),
        }
    }

    fn on_front_end_recv(&mut self, i: usize, res: i32, now: Instant) {
        let f = &mut self.handoff.front_ends[i];
        f.recv_pending = false;
        // Descriptors arrived with the data, whatever happens next: own them now.
        let fds = if res > 0 {
            sys::take_received_fds(&f.hdr)
        } else {
            Vec::new()
        };
        if f.state != SlotState::Open {
            drop(fds);
            self.maybe_finish_front_end_close(i);
            return;
        }
        let mut events = std::mem::take(&mut self.handoff.events);
        if res <= 0 {
            // Whatever a half-received frame held (its descriptor) is closed by the drop.
            f.assembler.finish(&mut events);
            events.clear();
            self.handoff.events = events;
            self.close_front_end(i);
            return;
        }
        f.assembler.feed(&f.buf[..res as usize], fds, &mut events);
        for event in events.drain(..) {
            let status = match event {
                Event::Handoff { query, fd } => self.adopt(fd, &query, now),
                Event::Reject { reason, .. } => {
                    tracing::debug!(?reason, "handoff rejected");
                    Status::Malformed
                }
                Event::Fatal { error, .. } => {
                    tracing::warn!(
                        "handoff stream unreadable: {error}; closing the front-end connection"
                    );
                    self.handoff.front_ends[i].close_when_sent = true;
                    Status::Malformed
                }
            };
            self.shared.metrics.core(self.index).handoffs[status as usize].inc();
            let f = &mut self.handoff.front_ends[i];
            assert!(
                f.out_len + RESPONSE_BYTES <= f.out.len(),
                "status queue overflow"
            );
            f.out[f.out_len..f.out_len + RESPONSE_BYTES].copy_from_slice(&response(status));
            f.out_len += RESPONSE_BYTES;
        }
        self.handoff.events = events;
        self.kick_front_end_send(i);
        self.arm_front_end_recv(i);
    }

    fn kick_front_end_send(&mut self, i: usize) {
        let f = &mut self.handoff.front_ends[i];
        if f.state != SlotState::Open || f.send_pending {
            return;
        }
        if f.out_sent == f.out_len {
            if f.close_when_sent {
                self.close_front_end(i);
            }
            return;
        }
        let rest = &f.out[f.out_sent..f.out_len];
        let e = opcode::Send::new(types::Fd(f.fd), rest.as_ptr(), rest.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(user_data(Kind::HandoffSend, f.generation, i as u32));
        f.send_pending = true;
        f.ops_in_flight += 1;
        self.push(e);
    }

    fn on_front_end_send(&mut self, i: usize, res: i32) {
        let f = &mut self.handoff.front_ends[i];
        f.send_pending = false;
        if f.state != SlotState::Open {
            self.maybe_finish_front_end_close(i);
            return;
        }
        if res <= 0 {
            self.close_front_end(i);
            return;
        }
        f.out_sent += res as usize;
        assert!(f.out_sent <= f.out_len);
        // Nothing in flight points into the queue now: compact it.
        f.out.copy_within(f.out_sent..f.out_len, 0);
        f.out_len -= f.out_sent;
        f.out_sent = 0;
        self.kick_front_end_send(i);
        self.arm_front_end_recv(i);
    }

    pub(super) fn close_front_end(&mut self, i: usize) {
        let f = &mut self.handoff.front_ends[i];
        if f.state != SlotState::Open {
            return;
        }
        f.state = SlotState::Closing;
        let (generation, recv, send) = (f.generation, f.recv_pending, f.send_pending);
        for (pending, kind) in [(recv, Kind::HandoffRecv), (send, Kind::HandoffSend)] {
            if pending {
                let e = opcode::AsyncCancel::new(user_data(kind, generation, i as u32))
                    .build()
                    .user_data(user_data(Kind::HandoffCancel, generation, i as u32));
                self.handoff.front_ends[i].ops_in_flight += 1;
                self.push(e);
            }
        }
        self.maybe_finish_front_end_close(i);
    }

    fn maybe_finish_front_end_close(&mut self, i: usize) {
        let f = &mut self.handoff.front_ends[i];
        if f.state != SlotState::Closing || f.ops_in_flight > 0 {
            return;
        }
        f.state = SlotState::CloseSubmitted;
        f.ops_in_flight += 1;
        let e = opcode::Close::new(types::Fd(f.fd))
            .build()
            .user_data(user_data(Kind::HandoffClose, f.generation, i as u32));
        self.push(e);
    }

    /// Decides on one handed-off connection; when taken, it becomes an ordinary connection
    /// slot with `query` already in its receive buffer.
    fn adopt(&mut self, fd: OwnedFd, query: &[u8], now: Instant) -> Status {
        if self.stopping {
            return Status::Overloaded;
        }
        let raw = fd.as_raw_fd();
        // TCP or nothing: setting TCP_NODELAY (as accepted sockets have it, from the
        // listener) fails on a UDP or Unix socket, a file or anything else. A listening TCP
        // socket passes this and fails the peer lookup below.
        if sys::set_tcp_nodelay(raw).is_err() {
            return Status::Malformed;
        }
        let Ok(peer) = sys::peer_ip(raw) else {
            return Status::Malformed;
        };
        let Ok(q) = parse_query(query) else {
            return Status::Malformed;
        };
        if LENGTH_PREFIX_BYTES + query.len() > RECV_BYTES {
            return Status::Malformed;
        }
        let served = q.qclass == CLASS_IN
            && matches!(q.qtype, TYPE_SOA | TYPE_AXFR | TYPE_IXFR)
            && self.zones.find(q.qname).is_some();
        if !served {
            return Status::NotServed;
        }
        let is_xfr = q.qtype != TYPE_SOA;
        if is_xfr && self.transfers_active >= self.shared.limits.max_transfers_per_core as usize {
            return Status::Overloaded;
        }
        let Some(index) = self.free.pop() else {
            return Status::Overloaded;
        };
        self.open_slot(index, fd.into_raw_fd(), peer, now);
        let slot = &mut self.slots[index as usize];
        write_length_prefix(&mut slot.recv_buf[..], query.len());
        slot.recv_buf[LENGTH_PREFIX_BYTES..LENGTH_PREFIX_BYTES + query.len()]
            .copy_from_slice(query);
        slot.recv_filled = LENGTH_PREFIX_BYTES + query.len();
        self.serve(index as usize, now);
        Status::Taken
    }
}
