//! Start-up, signals, reload and shutdown: everything around the cores.
//!
//! Start-up: probe io_uring, block SIGHUP/SIGTERM/SIGINT (so only the signal thread sees them),
//! load or compile every zone, bind one TCP listener and one UDP socket per listen address per
//! core (SO_REUSEPORT spreads connections over the cores), then start the pinned cores.
//! SIGHUP: re-read the config file (zones and ACLs; listeners, cores and limits need a restart)
//! and recompile every zone whose files changed, in a background thread; a zone that fails keeps
//! its served version, and the error names file and line. SIGTERM/SIGINT: stop accepting, let
//! transfers in flight finish within `limits.shutdown_grace_ms`, exit 0; a second signal cuts
//! them off at once.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::config::{self, CliOverrides, Config};
use crate::core::{self, Core, CoreSockets, Shared};
use crate::metrics::{Metrics, XfrdCollector};
use crate::notify::{Announce, Notify};
use crate::sys;
use crate::tls::TlsContext;
use crate::zones::{self, Scope, SharedZones, ZoneSet};

const SIGNALS: [libc::c_int; 3] = [libc::SIGHUP, libc::SIGTERM, libc::SIGINT];

/// Runs `xfrd serve` until SIGTERM/SIGINT.
pub fn serve(cli: CliOverrides, cfg: Config) -> Result<()> {
    core::probe()?;
    sys::ignore_sigpipe();
    match sys::raise_nofile_limit() {
        Ok(n) => {
            let needed = cfg.cores as u64
                * (cfg.limits.max_connections_per_core as u64 + 2 * cfg.listen.len() as u64)
                + 64;
            if n < needed {
                tracing::warn!(
                    nofile = n,
                    needed,
                    "RLIMIT_NOFILE is below what the connection limits need"
                );
            }
        }
        Err(e) => tracing::warn!("raising RLIMIT_NOFILE: {e}"),
    }
    sys::block_signals(&SIGNALS).context("blocking signals")?;

    let (set, errors) = zones::load_all(
        &cfg.zones,
        cfg.keys.clone(),
        &cfg.store_dir,
        &cfg.ixfr,
        None,
        Scope::All,
        cfg.cores,
    );
    if let Some(e) = errors.into_iter().next() {
        return Err(e.context("loading zones at start-up"));
    }
    let tls = load_tls(&cfg)?;
    if !tls.is_empty() {
        // The record layer is rustls in the serving cores either way; kTLS (SENDMSG from the
        // mmap after the handshake) is not built, since no machine here has it to measure on.
        if sys::kernel_tls_available() {
            tracing::info!(
                "kernel TLS is available, but not used: TLS records are encrypted in user space"
            );
        } else {
            tracing::info!(
                "kernel TLS not available (CONFIG_TLS unset): TLS records are encrypted in user \
                 space"
            );
        }
    }
    let mut tls_listen: Vec<Vec<SocketAddr>> = cfg.tls.iter().map(|t| t.listen.clone()).collect();
    // Sockets: bind every address on every core. Port 0 is resolved by the first bind and
    // reused by the others, so all cores share one port per address.
    let mut listen: Vec<SocketAddr> = cfg.listen.clone();
    let mut per_core: Vec<CoreSockets> = Vec::with_capacity(cfg.cores);
    for _ in 0..cfg.cores {
        let mut sockets = CoreSockets {
            tcp: Vec::new(),
            tls: Vec::new(),
            udp: Vec::new(),
            handoff: None,
        };
        for addr in listen.iter_mut() {
            let tcp = sys::tcp_listener(addr, cfg.limits.listen_backlog)
                .with_context(|| format!("listening on TCP {addr}"))?;
            if addr.port() == 0 {
                addr.set_port(sys::local_addr(tcp.as_raw_fd())?.port());
            }
            let udp = sys::udp_socket(addr).with_context(|| format!("binding UDP {addr}"))?;
            sockets.tcp.push(tcp);
            sockets.udp.push(udp);
        }
        for (i, addrs) in tls_listen.iter_mut().enumerate() {
            for addr in addrs.iter_mut() {
                let tcp = sys::tcp_listener(addr, cfg.limits.listen_backlog)
                    .with_context(|| format!("listening on TLS {addr}"))?;
                if addr.port() == 0 {
                    addr.set_port(sys::local_addr(tcp.as_raw_fd())?.port());
                }
                sockets.tls.push((tcp, i));
            }
        }
        per_core.push(sockets);
    }
    if let Some(path) = &cfg.handoff {
        // Every core accepts front-end connections on its own descriptor of the one Unix
        // listener (AF_UNIX has no SO_REUSEPORT): each connection goes to whichever ring's
        // multishot accept takes it, so front ends, and the transfers handed over on them,
        // spread across cores.
        let listener = handoff_listener(path, cfg.handoff_mode)?;
        for sockets in per_core.iter_mut() {
            sockets.handoff = Some(
                listener
                    .try_clone()
                    .context("duplicating the handoff listener")?,
            );
        }
    }

    let metrics = Arc::new(Metrics::new(cfg.cores));
    let notify_stop = Arc::new(AtomicBool::new(false));
    let notify = Notify::start(
        cfg.notify.policy(),
        &per_core[0].udp,
        notify_stop.clone(),
        metrics.clone(),
    )?;
    let shared = Arc::new(Shared {
        zones: SharedZones::new(set),
        stop: AtomicBool::new(false),
        stop_now: AtomicBool::new(false),
        limits: cfg.limits,
        handoff_uids: cfg.handoff_uids.clone(),
        ring_fds: (0..cfg.cores)
            .map(|_| std::sync::atomic::AtomicI32::new(-1))
            .collect(),
        next_front_end: std::sync::atomic::AtomicUsize::new(0),
        // The cores and this thread: READY=1 goes to systemd once every ring is built.
        started: std::sync::Barrier::new(cfg.cores + 1),
        notify,
        metrics,
        reload_lock: std::sync::Mutex::new(()),
        tls,
    });
    if let Some(addr) = cfg.metrics_listen {
        let for_scrapes = shared.clone();
        let local = crate::metrics::start(addr, move || XfrdCollector {
            shared: for_scrapes.clone(),
        })?;
        tracing::info!(listen = %local, "metrics served at /metrics");
    }
    if let Some(path) = &cfg.control_socket {
        crate::control::start(path, cli.clone(), cfg.clone(), shared.clone())?;
        tracing::info!(socket = %path.display(), "control socket ready");
    }

    let core_ids = core_affinity::get_core_ids().unwrap_or_default();
    let mut threads = Vec::with_capacity(cfg.cores);
    for (i, sockets) in per_core.into_iter().enumerate() {
        let shared = shared.clone();
        let core_id = (!core_ids.is_empty()).then(|| core_ids[i % core_ids.len()]);
        let handle = std::thread::Builder::new()
            .name(format!("xfrd-core-{i}"))
            .spawn(move || {
                if let Some(id) = core_id {
                    core_affinity::set_for_current(id);
                }
                // Built on its own thread: a core's buffers hold raw pointers and never move
                // between threads. Every thread passes the barrier, built or not, so a failed
                // core cannot leave the others waiting.
                let core = Core::new(i, sockets, shared.clone());
                shared.started.wait();
                core?.run()
            })
            .context("starting a core thread")?;
        threads.push(handle);
    }
    // Past the barrier every core has built its ring (a core that failed left its ring_fd at
    // -1 and is about to return its error); listeners already queue connections.
    shared.started.wait();
    if shared
        .ring_fds
        .iter()
        .all(|fd| fd.load(Ordering::Acquire) >= 0)
    {
        crate::sdnotify::ready();
    }
    let addrs: Vec<String> = listen.iter().map(ToString::to_string).collect();
    let tls_addrs: Vec<String> = tls_listen
        .iter()
        .flatten()
        .map(ToString::to_string)
        .collect();
    tracing::info!(listen = %addrs.join(" "), tls = %tls_addrs.join(" "), cores = cfg.cores, store_dir = %cfg.store_dir.display(), "xfrd serving");

    // Secondaries hear of every zone at start-up: one of them may have missed the serial a
    // previous run announced, and one that is up to date answers and checks nothing more.
    let (set, _) = shared.zones.snapshot();
    announce_changed(&shared, &set, None);

    let handoff_path = cfg.handoff.clone();
    // Transfers in for the secondary zones, off the serving cores; it stops with them.
    let refresher = crate::refresh::Refresher::start(cli.clone(), cfg.clone(), shared.clone())?;
    {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("xfrd-signals".into())
            .spawn(move || signal_loop(cli, cfg, shared))
            .context("starting the signal thread")?;
    }

    let mut failed = None;
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed = Some(e),
            Err(_) => failed = Some(anyhow::anyhow!("a core thread panicked")),
        }
        // One core failing stops the others.
        shared.stop.store(true, Ordering::Release);
        shared.stop_now.store(true, Ordering::Release);
    }
    notify_stop.store(true, Ordering::Release);
    if let Some(r) = refresher {
        r.join();
    }
    if let Some(path) = &handoff_path {
        let _ = std::fs::remove_file(path);
    }
    if let Some(e) = failed {
        return Err(e);
    }
    tracing::info!("xfrd stopped");
    Ok(())
}

/// The handoff Unix listener; a stale socket file left by a previous run is replaced, any
/// other file at the path is an error.
fn handoff_listener(path: &std::path::Path, mode: u32) -> Result<std::os::fd::OwnedFd> {
    unix_listener(path, mode, "handoff")
}

/// A Unix stream listener at `path` with permission bits `mode` (`what` names it in errors);
/// a stale socket file left by a previous run is replaced, any other file there is an error.
pub(crate) fn unix_listener(
    path: &std::path::Path,
    mode: u32,
    what: &str,
) -> Result<std::os::fd::OwnedFd> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            bail!("{what} path {} exists and is not a socket", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing stale {}", path.display()))?;
    }
    // Created under a mask that leaves only the owner's bits, so the file is never reachable by
    // others, not even between bind and chmod; then given the configured mode.
    let previous = sys::set_umask(0o177);
    let bound = std::os::unix::net::UnixListener::bind(path);
    sys::set_umask(previous);
    let listener =
        bound.with_context(|| format!("listening on {what} socket {}", path.display()))?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
        .with_context(|| format!("setting mode {mode:#o} on {}", path.display()))?;
    Ok(listener.into())
}

fn signal_loop(cli: CliOverrides, cfg: Config, shared: Arc<Shared>) {
    let reloading = Arc::new(AtomicBool::new(false));
    let again = Arc::new(AtomicBool::new(false));
    loop {
        let sig = match sys::wait_signal(&SIGNALS) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("sigwait: {e}");
                return;
            }
        };
        if sig == libc::SIGHUP {
            if reloading.swap(true, Ordering::AcqRel) {
                again.store(true, Ordering::Release);
                continue;
            }
            let (cli, cfg, shared, reloading, again) = (
                cli.clone(),
                cfg.clone(),
                shared.clone(),
                reloading.clone(),
                again.clone(),
            );
            let spawned = std::thread::Builder::new()
                .name("xfrd-reload".into())
                .spawn(move || {
                    crate::sdnotify::reloading();
                    loop {
                        again.store(false, Ordering::Release);
                        reload(&cli, &cfg, &shared, Scope::All);
                        if !again.load(Ordering::Acquire) {
                            break;
                        }
                    }
                    // Before the flag drops: a reload that starts next says RELOADING=1 after.
                    crate::sdnotify::ready();
                    reloading.store(false, Ordering::Release);
                });
            if let Err(e) = spawned {
                tracing::error!("starting the reload thread: {e}");
            }
        } else if shared.stop.swap(true, Ordering::AcqRel) {
            tracing::warn!("second stop signal: cutting transfers off now");
            shared.stop_now.store(true, Ordering::Release);
        } else {
            crate::sdnotify::stopping();
            tracing::info!(
                grace_ms = cfg.limits.shutdown_grace_ms,
                "stopping: no new connections; transfers in flight may finish"
            );
        }
    }
}

/// Reloads the configuration and the zones in `scope` (SIGHUP: every zone), one reload at a
/// time. Returns the errors (the configuration's, or each failed zone's: those keep what they
/// served); each zone's outcome is also in its `stats.last_load`.
pub fn reload(
    cli: &CliOverrides,
    started_with: &Config,
    shared: &Shared,
    scope: Scope<'_>,
) -> Vec<anyhow::Error> {
    let _one_at_a_time = shared.reload_lock.lock().expect("reload lock poisoned");
    let started = std::time::Instant::now();
    let m = &shared.metrics;
    m.reloads.inc();
    let cfg = match config::resolve(cli) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("reload: config: {e:#}; keeping everything as served");
            m.reload_failures.inc();
            m.last_reload_us.set(started.elapsed().as_micros() as u64);
            return vec![e.context("reload: config")];
        }
    };
    if let Scope::Only(origin) = scope {
        if !cfg.zones.iter().any(|z| z.origin.eq_ignore_case(origin)) {
            m.reload_failures.inc();
            return vec![anyhow::anyhow!(
                "zone {origin} is not in the configuration; add it and reload every zone"
            )];
        }
    }
    if cfg.listen != started_with.listen
        || cfg.cores != started_with.cores
        || cfg.limits != started_with.limits
    {
        tracing::warn!("reload: listen addresses, cores and limits take effect only on restart");
    }
    let mut errors = reload_tls(&cfg, started_with, shared);
    let (current, _) = shared.zones.snapshot();
    let (set, zone_errors) = zones::load_all(
        &cfg.zones,
        cfg.keys.clone(),
        &cfg.store_dir,
        &cfg.ixfr,
        Some(&current),
        scope,
        started_with.cores,
    );
    errors.extend(zone_errors);
    shared.zones.publish(set);
    let (published, _) = shared.zones.snapshot();
    announce_changed(shared, &published, Some(&current));
    if !errors.is_empty() {
        m.reload_failures.inc();
    }
    m.last_reload_us.set(started.elapsed().as_micros() as u64);
    tracing::info!(
        errors = errors.len(),
        ms = started.elapsed().as_millis() as u64,
        "reload done"
    );
    errors
}

/// Asks the serving cores to stop, as SIGTERM does (transfers in flight get the grace period).
pub fn request_stop(shared: &Shared, grace_ms: u64) {
    if !shared.stop.swap(true, Ordering::AcqRel) {
        tracing::info!(
            grace_ms,
            "stopping: no new connections; transfers in flight may finish"
        );
    }
}

/// Queues a NOTIFY for every zone of `set` with targets whose serial differs from the one in
/// `previous` (every zone when there is none).
pub fn announce_changed(shared: &Shared, set: &ZoneSet, previous: Option<&ZoneSet>) {
    for z in set.zones() {
        if z.notify.is_empty() {
            continue;
        }
        let before = previous
            .and_then(|p| p.find(z.origin.as_wire()))
            .map(|p| p.store.serial());
        if before == Some(z.store.serial()) {
            continue;
        }
        shared.notify.announce(Announce::of(z));
    }
}

/// Checks the configuration and the kernel without serving (used by `--check`).
pub fn check(cfg: &Config) -> Result<()> {
    core::probe()?;
    if cfg.cores == 0 {
        bail!("cores must be at least 1");
    }
    load_tls(cfg)?;
    Ok(())
}

/// The `[[tls]]` listeners' certificates and keys, loaded: any bad file stops the start.
fn load_tls(cfg: &Config) -> Result<Vec<TlsContext>> {
    cfg.tls
        .iter()
        .enumerate()
        .map(|(i, t)| TlsContext::load(t).with_context(|| format!("tls[{i}]")))
        .collect()
}

/// Reloads every TLS listener's certificate and key (from the reloaded configuration's
/// `[[tls]]` table when the listeners are the same; new listeners need a restart). A listener
/// whose files fail keeps what it had.
fn reload_tls(cfg: &Config, started_with: &Config, shared: &Shared) -> Vec<anyhow::Error> {
    let same_listeners = cfg.tls.len() == started_with.tls.len()
        && cfg
            .tls
            .iter()
            .zip(&started_with.tls)
            .all(|(a, b)| a.listen == b.listen);
    if !same_listeners {
        tracing::warn!(
            "reload: [[tls]] listen addresses changed: they take effect only on restart; \
             reloading the certificates of the listeners started with"
        );
    }
    let mut errors = Vec::new();
    for (i, ctx) in shared.tls.iter().enumerate() {
        let settings = same_listeners.then(|| &cfg.tls[i]);
        match ctx.reload(settings) {
            Ok(()) => tracing::info!(listener = i, "reload: TLS certificate and key loaded"),
            Err(e) => {
                tracing::error!(
                    listener = i,
                    "reload: TLS: {e:#}; keeping the certificate and key in use"
                );
                errors.push(e.context(format!("reload: tls[{i}]")));
            }
        }
    }
    errors
}
