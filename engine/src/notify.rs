//! NOTIFY out (RFC 1996): the notifier thread.
//!
//! What it owns: one thread that drives [`xfr_proto::notify::Notifier`] (which decides what to
//! send, to whom and when), sends its datagrams from the serving UDP sockets (duplicated
//! descriptors of core 0's, one per listen address, so a secondary sees the NOTIFY come from the
//! address and port it transfers from), and logs every NOTIFY sent and its outcome.
//! What it does not own: the policy (retries, pacing, matching: `xfr-proto`), and receiving:
//! a response arrives on whichever core's socket SO_REUSEPORT picks, and that core hands it over
//! here through a bounded queue ([`Notify::forward_response`]) instead of dropping it.
//!
//! Bounds: the response queue holds [`RESPONSE_QUEUE`] fixed-size datagrams; when it is full a
//! response is dropped (the NOTIFY is retried), so a flood of forged responses costs the cores
//! one failed `try_send` each and this thread at most the queue per wake-up.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam::channel::{self, Receiver, Sender, TrySendError};
use xfr_proto::notify::{Event, Notifier, NotifyPolicy, Poll};
use xfr_proto::tsig::{DisplayName, Key};

/// Largest NOTIFY response handed to the notifier; a larger one is not a response to us (ours
/// are answered with a header, the question and at most a TSIG record).
pub const RESPONSE_BYTES_MAX: usize = 1232;
/// Responses waiting for the notifier thread.
pub const RESPONSE_QUEUE: usize = 64;
/// The longest the thread sleeps before it looks at the stop flag again.
const IDLE_WAKE_MS: u64 = 1000;

/// A NOTIFY response as a core received it.
pub struct Response {
    pub from: SocketAddr,
    pub len: usize,
    pub buf: [u8; RESPONSE_BYTES_MAX],
}

/// A new serial to announce.
#[derive(Debug, Clone)]
pub struct Announce {
    /// Origin, uncompressed wire form.
    pub zone: Box<[u8]>,
    pub serial: u32,
    pub soa_ttl: u32,
    pub soa_rdata: Box<[u8]>,
    pub targets: Vec<SocketAddr>,
    pub key: Option<Key>,
}

impl Announce {
    /// The current serial of `zone`, to its notify targets, signed with its notify key.
    pub fn of(zone: &crate::zones::Zone) -> Announce {
        Announce {
            zone: zone.origin.as_wire().into(),
            serial: zone.store.serial(),
            soa_ttl: zone.store.soa_ttl(),
            soa_rdata: zone.store.soa_rdata().into(),
            targets: zone.notify.clone(),
            key: zone.notify_key.clone(),
        }
    }
}

/// The handle the cores and the reload path use.
#[derive(Debug)]
pub struct Notify {
    announce: Sender<Announce>,
    responses: Sender<Response>,
    /// Responses dropped because the queue was full.
    dropped: AtomicU64,
}

impl Notify {
    /// Starts the notifier thread. `sockets` are the serving UDP sockets (duplicated here);
    /// the thread ends when `stop` is set.
    pub fn start(
        policy: NotifyPolicy,
        sockets: &[OwnedFd],
        stop: Arc<AtomicBool>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<Arc<Notify>> {
        let mut socks = Vec::with_capacity(sockets.len());
        for fd in sockets {
            let dup = fd
                .try_clone()
                .context("duplicating a UDP socket for NOTIFY")?;
            let sock = UdpSocket::from(dup);
            let local = sock.local_addr().context("NOTIFY socket address")?;
            socks.push((local, sock));
        }
        let (announce, announce_rx) = channel::unbounded();
        let (responses, responses_rx) = channel::bounded(RESPONSE_QUEUE);
        std::thread::Builder::new()
            .name("xfrd-notify".into())
            .spawn(move || run(policy, socks, announce_rx, responses_rx, stop, &metrics))
            .context("starting the notify thread")?;
        Ok(Arc::new(Notify {
            announce,
            responses,
            dropped: AtomicU64::new(0),
        }))
    }

    /// Queues a NOTIFY of `a.serial` to each of `a.targets`.
    pub fn announce(&self, a: Announce) {
        if a.targets.is_empty() {
            return;
        }
        // Fails only when the thread is gone (shutting down): nothing to notify then.
        let _ = self.announce.send(a);
    }

    /// Hands a NOTIFY response received on a serving socket to the notifier. Never blocks.
    pub fn forward_response(&self, from: SocketAddr, msg: &[u8]) {
        if msg.len() > RESPONSE_BYTES_MAX {
            return;
        }
        let mut r = Response {
            from,
            len: msg.len(),
            buf: [0; RESPONSE_BYTES_MAX],
        };
        r.buf[..msg.len()].copy_from_slice(msg);
        if let Err(TrySendError::Full(_)) = self.responses.try_send(r) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// NOTIFY responses dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn unix_now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A seed the message IDs are drawn from: the standard library's per-process random hash keys.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(unix_now_s());
    h.write_u32(std::process::id());
    h.finish()
}

/// Logs an event and counts it (acknowledged, failed).
fn log_event(e: &Event, m: &crate::metrics::Metrics) {
    match e {
        Event::Answered { rcode: 0, .. } => m.notify_acknowledged.inc(),
        Event::Answered { .. } | Event::Failed { .. } => m.notify_failed.inc(),
        Event::BadResponse { .. } => {}
    }
    match e {
        Event::Answered {
            zone,
            target,
            serial,
            rcode,
            attempts,
        } => {
            if *rcode == 0 {
                tracing::info!(zone = %DisplayName(zone), %target, serial, attempts, "notify answered");
            } else {
                tracing::warn!(zone = %DisplayName(zone), %target, serial, attempts, rcode, "notify answered with an error");
            }
        }
        Event::Failed {
            zone,
            target,
            serial,
            attempts,
        } => {
            tracing::warn!(zone = %DisplayName(zone), %target, serial, attempts, "notify failed: no response");
        }
        Event::BadResponse {
            zone,
            target,
            reason,
        } => {
            tracing::warn!(zone = %DisplayName(zone), %target, reason, "notify response ignored");
        }
    }
}

fn run(
    policy: NotifyPolicy,
    sockets: Vec<(SocketAddr, UdpSocket)>,
    announce: Receiver<Announce>,
    responses: Receiver<Response>,
    stop: Arc<AtomicBool>,
    metrics: &crate::metrics::Metrics,
) {
    let mut notifier = Notifier::new(policy, seed());
    let epoch = Instant::now();
    let now_ms = || epoch.elapsed().as_millis() as u64;
    let mut out = Vec::with_capacity(512);
    while !stop.load(Ordering::Acquire) {
        let now = now_ms();
        let wait = loop {
            match notifier.poll(now, &mut out) {
                Poll::Transmit {
                    target,
                    zone,
                    serial,
                    attempt,
                } => {
                    let sock = sockets
                        .iter()
                        .find(|(local, _)| local.is_ipv4() == target.is_ipv4());
                    let zone = DisplayName(&zone);
                    match sock.map(|(_, s)| s.send_to(&out, target)) {
                        Some(Ok(_)) => {
                            metrics.notify_sent.inc();
                            tracing::info!(%zone, %target, serial, attempt, "notify sent")
                        }
                        Some(Err(e)) => {
                            tracing::warn!(%zone, %target, serial, attempt, "notify not sent: {e}")
                        }
                        None => tracing::warn!(
                            %zone,
                            %target,
                            serial,
                            "notify not sent: no listen address of the target's family"
                        ),
                    }
                }
                Poll::Event(e) => log_event(&e, metrics),
                Poll::Wait(deadline) => break deadline,
            }
        };
        let sleep_ms = wait.map_or(IDLE_WAKE_MS, |d| d.saturating_sub(now).min(IDLE_WAKE_MS));
        channel::select! {
            recv(announce) -> a => match a {
                Ok(a) => notifier.notify(
                    &a.zone,
                    a.serial,
                    a.soa_ttl,
                    &a.soa_rdata,
                    &a.targets,
                    a.key.as_ref(),
                    now_ms(),
                    unix_now_s(),
                ),
                Err(_) => return,
            },
            recv(responses) -> r => {
                if let Ok(r) = r {
                    if let Some(e) = notifier.on_response(r.from, &r.buf[..r.len], unix_now_s()) {
                        log_event(&e, metrics);
                    }
                }
            },
            default(Duration::from_millis(sleep_ms)) => {},
        }
    }
}
