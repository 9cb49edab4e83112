//! The refresh driver: one thread that keeps every secondary zone's copy current by transfers
//! in from its primaries, as RFC 1034 section 4.3.5 secondaries do.
//!
//! What it owns: the timers of each secondary zone (refresh, retry, expire, read from the SOA
//! of the version held, RFC 1035 section 3.3.13), the blocking sockets the transfers in run
//! over, choosing a primary (in configured order, failing over), the IXFR-then-AXFR choice, and
//! telling the zone registry to serve what was committed (the reload of that one zone, the path
//! `xfrctl reload ORIGIN` takes) or to stop serving an expired zone. What it does not own: the
//! protocol ([`xfr_proto::xfrin::XfrIn`], sans-IO, fed every whole message here), the checks on
//! the zone data and the commit into `store_dir` ([`crate::secondary::StagedTransfer`]), the
//! served sets ([`crate::zones`]).
//!
//! Sockets: a blocking `TcpStream` per transfer, on this thread, never on a serving core (a
//! transfer in is rare, and the parse and render of the commit take far longer than the reads).
//! Every wait is bounded: connect [`CONNECT_TIMEOUT`], the whole transfer [`TRANSFER_TIME_MAX`],
//! each read at most [`READ_SLICE`] so that a stop is seen within that.
//!
//! Timing per zone: the first attempt at start-up; after a success (up to date included) the
//! next after the SOA REFRESH, after a failure after the SOA RETRY ([`RETRY_NO_SOA`] while no
//! version is held). The query is an IXFR from the serial held (RFC 1995), an AXFR when nothing
//! is held or the primary refuses IXFR ([`XfrInError::falls_back_to_axfr`]). When SOA EXPIRE
//! passes without a success (counted from start-up for a version found on disk), the zone is
//! no longer served (RFC 1034: "the secondary ... no longer [considers] the data it has
//! authoritative"), until a transfer succeeds again. NOTIFY-triggered refresh is not built yet.
//!
//! The secondary zones are those of the configuration at start-up; a zone added by a reload
//! gets its transfers after a restart.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use xfr_proto::framing::{self, LENGTH_PREFIX_BYTES};
use xfr_proto::tsig::Key;
use xfr_proto::wire::MESSAGE_BYTES_MAX;
use xfr_proto::xfrin::{Kind, Outcome, Progress, Shape, Sink, XfrIn, XfrInError};
use zone_store::compile::CompileOptions;
use zone_store::journal::{Journal, JournalLimits};
use zone_store::store::Store;
use zone_store::update::journal_path;

use crate::config::{CliOverrides, Config, ZoneConfig};
use crate::core::Shared;
use crate::secondary::StagedTransfer;
use crate::zones::{store_path, Scope};

/// A primary that does not accept within this is down: the next one is tried. Loopback and
/// LAN primaries accept in well under a millisecond; 5 s covers a slow WAN path.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A transfer in, connect to last message, is given up past this: a stalled primary cannot hold
/// the driver (and the other zones' refreshes) for longer.
pub const TRANSFER_TIME_MAX: Duration = Duration::from_secs(60);
/// The longest one read waits, so a stop request is seen within it.
pub const READ_SLICE: Duration = Duration::from_millis(250);
/// How often the driver looks at its timers and at the stop flag while idle.
pub const TICK: Duration = Duration::from_millis(100);
/// The retry interval while no version is held (there is no SOA to read one from).
pub const RETRY_NO_SOA: Duration = Duration::from_secs(10);
/// SOA timers below this are read as this: a zero REFRESH would make the driver spin.
pub const TIMER_MIN: Duration = Duration::from_secs(1);

const _: () = assert!(READ_SLICE.as_millis() < CONNECT_TIMEOUT.as_millis());

/// The SOA's REFRESH, RETRY and EXPIRE of `store` (the last 20 bytes of its RDATA are serial,
/// refresh, retry, expire, minimum).
fn soa_timers(store: &Store) -> (Duration, Duration, Duration) {
    let rdata = store.soa_rdata();
    assert!(
        rdata.len() >= 20,
        "a store's SOA RDATA ends in its five counters"
    );
    let at = |i: usize| {
        let b = &rdata[rdata.len() - 20 + 4 * i..][..4];
        Duration::from_secs(u32::from_be_bytes([b[0], b[1], b[2], b[3]]).into()).max(TIMER_MIN)
    };
    (at(1), at(2), at(3))
}

struct Timer {
    cfg: ZoneConfig,
    next: Instant,
    /// When the version held stops being served without a success before then.
    expire_at: Option<Instant>,
    expired: bool,
}

/// The running driver; [`Refresher::join`] waits for it once `shared.stop` is set.
#[derive(Debug)]
pub struct Refresher {
    thread: std::thread::JoinHandle<()>,
}

impl Refresher {
    /// Starts the driver for the secondary zones of `cfg`; `None` when there are none.
    pub fn start(cli: CliOverrides, cfg: Config, shared: Arc<Shared>) -> Result<Option<Self>> {
        if cfg.zones.iter().all(|z| z.secondary.is_none()) {
            return Ok(None);
        }
        let thread = std::thread::Builder::new()
            .name("xfrd-refresh".into())
            .spawn(move || Driver::new(cli, cfg, shared).run())
            .context("starting the refresh thread")?;
        Ok(Some(Refresher { thread }))
    }

    /// Waits for the thread, which ends within [`CONNECT_TIMEOUT`] (plus one commit in
    /// progress) of the stop flag.
    pub fn join(self) {
        if self.thread.join().is_err() {
            tracing::error!("the refresh thread panicked");
        }
    }
}

struct Driver {
    cli: CliOverrides,
    cfg: Config,
    shared: Arc<Shared>,
    timers: Vec<Timer>,
    limits: JournalLimits,
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::Axfr => "AXFR",
        Kind::Ixfr { .. } => "IXFR",
    }
}

fn shape_label(shape: Shape) -> &'static str {
    match shape {
        Shape::Full => "full",
        Shape::Incremental => "incremental",
        Shape::UpToDate => "up-to-date",
    }
}

/// The version held in `store_dir` for `cfg`, with its journal.
fn held(cfg: &ZoneConfig, store_dir: &Path) -> Option<(Store, Option<Journal>)> {
    let path = store_path(store_dir, &cfg.origin);
    let store = Store::open(&path)
        .ok()
        .filter(|s| s.origin().eq_ignore_case(&cfg.origin))?;
    let jpath = journal_path(&path);
    let journal = jpath
        .exists()
        .then(|| Journal::open(&jpath, &store).ok())
        .flatten();
    Some((store, journal))
}

impl Driver {
    fn new(cli: CliOverrides, cfg: Config, shared: Arc<Shared>) -> Driver {
        let now = Instant::now();
        let timers = cfg
            .zones
            .iter()
            .filter(|z| z.secondary.is_some())
            .map(|z| Timer {
                cfg: z.clone(),
                next: now,
                expire_at: held(z, &cfg.store_dir).map(|(s, _)| now + soa_timers(&s).2),
                expired: false,
            })
            .collect();
        let limits = JournalLimits {
            max_versions: cfg.ixfr.max_versions,
            max_bytes: cfg.ixfr.max_journal_bytes,
            max_ratio: cfg.ixfr.max_ratio,
        };
        Driver {
            cli,
            cfg,
            shared,
            timers,
            limits,
        }
    }

    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire)
    }

    fn run(mut self) {
        while !self.stopping() {
            let now = Instant::now();
            for i in 0..self.timers.len() {
                if self.stopping() {
                    return;
                }
                self.check_expiry(i, now);
                if self.timers[i].next <= now {
                    self.refresh(i);
                }
            }
            std::thread::sleep(TICK);
        }
    }

    fn check_expiry(&mut self, i: usize, now: Instant) {
        let t = &mut self.timers[i];
        if t.expired || t.expire_at.is_none_or(|at| at > now) {
            return;
        }
        t.expired = true;
        tracing::warn!(zone = %t.cfg.origin, "secondary zone expired: no successful refresh within its SOA EXPIRE; no longer served");
        self.shared.zones.set_expired(&t.cfg.origin, true);
    }

    /// Serves what `store_dir` now holds for timer `i` (the reload of that zone alone).
    fn publish(&self, i: usize) {
        let origin = &self.timers[i].cfg.origin;
        let errors = crate::server::reload(&self.cli, &self.cfg, &self.shared, Scope::Only(origin));
        for e in errors {
            tracing::error!(zone = %origin, "publishing the transferred version: {e:#}");
        }
    }

    /// One refresh of timer `i`: every primary in order until one succeeds.
    fn refresh(&mut self, i: usize) {
        let cfg = self.timers[i].cfg.clone();
        let secondary = cfg.secondary.as_ref().expect("timers are secondary zones");
        let base = held(&cfg, &self.cfg.store_dir);
        let mut ok = false;
        for &primary in &secondary.primaries {
            if self.stopping() {
                return;
            }
            match self.transfer_from(&cfg, primary, secondary.primary_key.as_ref(), &base) {
                Ok(()) => {
                    ok = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(zone = %cfg.origin, %primary, "refresh failed: {e:#}");
                }
            }
        }
        let now = Instant::now();
        // The version held now (a commit may have replaced it) gives the timers.
        let timers = held(&cfg, &self.cfg.store_dir).map(|(s, _)| soa_timers(&s));
        let t = &mut self.timers[i];
        if ok {
            let (refresh, _, expire) = timers.expect("a success leaves a version held");
            t.next = now + refresh;
            t.expire_at = Some(now + expire);
            if t.expired {
                t.expired = false;
                self.shared.zones.set_expired(&cfg.origin, false);
                tracing::info!(zone = %cfg.origin, "secondary zone served again after a successful refresh");
                self.publish(i);
            }
        } else {
            t.next = now + timers.map_or(RETRY_NO_SOA, |(_, retry, _)| retry);
            if base.is_none() {
                tracing::warn!(zone = %cfg.origin, "secondary zone still not served: no primary gave a transfer");
            }
        }
    }

    /// An IXFR from the serial held (AXFR without one, or when the primary refuses IXFR) from
    /// `primary`, committed and published; the error says why not.
    fn transfer_from(
        &self,
        cfg: &ZoneConfig,
        primary: SocketAddr,
        key: Option<&Key>,
        base: &Option<(Store, Option<Journal>)>,
    ) -> Result<()> {
        let base_ref = base.as_ref().map(|(s, j)| (s, j.as_ref()));
        let mut kind = match base {
            Some((s, _)) => Kind::Ixfr { serial: s.serial() },
            None => Kind::Axfr,
        };
        loop {
            let started = Instant::now();
            let from = format!("{} from {primary}", kind_label(kind));
            let mut staged = StagedTransfer::new(cfg.origin.clone(), base_ref, from.clone());
            let outcome = match transfer_in(
                primary,
                cfg.origin.as_wire(),
                kind,
                key,
                &mut staged,
                TRANSFER_TIME_MAX,
                &self.shared.stop,
            )? {
                Ok(o) => o,
                Err(e) if matches!(kind, Kind::Ixfr { .. }) && e.falls_back_to_axfr() => {
                    tracing::info!(zone = %cfg.origin, %primary, "IXFR refused ({e}); asking for AXFR");
                    kind = Kind::Axfr;
                    continue;
                }
                Err(e) => bail!("{from}: {e}"),
            };
            if outcome.shape != Shape::UpToDate {
                let report = staged
                    .commit(
                        &self.cfg.store_dir,
                        &CompileOptions::default(),
                        &self.limits,
                    )
                    .with_context(|| format!("{from}: commit"))?;
                if let Some(why) = &report.history_dropped {
                    tracing::warn!(zone = %cfg.origin, "journal history dropped: {why}");
                }
                let i = self
                    .timers
                    .iter()
                    .position(|t| t.cfg.origin.eq_ignore_case(&cfg.origin))
                    .expect("a timer per secondary zone");
                self.publish(i);
            }
            tracing::info!(
                zone = %cfg.origin,
                %primary,
                query = kind_label(kind),
                serial = outcome.serial,
                shape = shape_label(outcome.shape),
                messages = outcome.messages,
                records = outcome.records,
                ms = started.elapsed().as_millis() as u64,
                "refresh done"
            );
            return Ok(());
        }
    }
}

/// One transfer in of `origin` (uncompressed wire) from `primary` over a blocking TCP
/// connection, every whole message fed to [`XfrIn`], which hands the records to `sink`; given
/// up after `limit` (connect included) or once `stop` is set. The outer error is the socket's
/// (or the limit's, or the stop's); the inner one the transfer's.
pub fn transfer_in(
    primary: SocketAddr,
    origin: &[u8],
    kind: Kind,
    key: Option<&Key>,
    sink: &mut impl Sink,
    limit: Duration,
    stop: &AtomicBool,
) -> Result<std::result::Result<Outcome, XfrInError>> {
    let deadline = Instant::now() + limit;
    let id = RandomState::new().build_hasher().finish() as u16;
    let mut out = Vec::new();
    let mut x = XfrIn::new(origin, kind, id, key, now_s(), &mut out);
    let mut s =
        TcpStream::connect_timeout(&primary, CONNECT_TIMEOUT.min(limit)).context("connect")?;
    s.set_write_timeout(Some(CONNECT_TIMEOUT))?;
    s.write_all(&out).context("sending the query")?;
    let mut buf = vec![0u8; LENGTH_PREFIX_BYTES + MESSAGE_BYTES_MAX];
    let mut filled = 0;
    let result = loop {
        // Every complete message first, then read more.
        if let Some(r) = framing::frame(&buf[..filled], buf.len())? {
            let step = x.feed(&buf[r.clone()], now_s(), sink);
            framing::consume(&mut buf, &mut filled, r.end);
            match step {
                Ok(Progress::More) => continue,
                Ok(Progress::Done(o)) => break Ok(o),
                Err(e) => break Err(e),
            }
        }
        if stop.load(Ordering::Acquire) {
            bail!("stopping");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("still running after {limit:?}: given up");
        }
        s.set_read_timeout(Some(left.min(READ_SLICE)))?;
        let n = match s.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(e).context("read from the primary"),
        };
        if n == 0 {
            break x.finish();
        }
        filled += n;
    };
    let _ = s.shutdown(std::net::Shutdown::Both);
    Ok(result)
}
