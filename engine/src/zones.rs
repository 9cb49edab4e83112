//! The zones being served: compiling or reusing their stores, the snapshot the cores read, and
//! reload.
//!
//! A [`ZoneSet`] is immutable; the cores hold an `Arc` of it and look up zones by the query's
//! name. Reload builds a new set (in the reload thread, never on a core) and publishes it in
//! [`SharedZones`]: a mutex-protected `Arc` plus a generation counter that each core compares
//! once per loop turn, so the hot path takes no lock. A transfer keeps the `Arc<Store>` it
//! started with, so it ends on the serial it began on; the old mmap goes when the last transfer
//! holding it ends.
//!
//! Stores live in the store folder as `<origin>.store`. A store whose `matches_sources()` is
//! true (every source file has its recorded length, mtime and hash) and whose origin is the
//! configured one is reused without parsing; otherwise the zone file is compiled anew
//! (`zone_store::compile`, which writes a temporary file and renames it, so a store mmapped by a
//! running transfer is never overwritten in place).
//!
//! A secondary zone (`primaries` instead of `file`) has no source to check: its store and
//! journal are whatever its last transfer in committed to `store_dir` ([`crate::secondary`],
//! driven by [`crate::refresh`]); a load serves that store when its origin matches, and keeps
//! the version served when the file on disk holds the same serial and checksum. Without a store
//! the zone is not served until its first transfer. A zone whose SOA EXPIRE passed without
//! contact with a primary is marked expired in [`SharedZones`]: every set published leaves it
//! out until a transfer succeeds again.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use xfr_proto::cursor::PREFIX_BYTES;
use zone_store::journal::{Journal, JournalLimits, SerialPolicy};
use zone_store::store::Store;
use zone_store::update::{compile_update, journal_path, UpdateOutcome};
use zone_store::Name;

use crate::acl::Acl;
use crate::config::{IxfrConfig, ZoneConfig};
use crate::keys::Keys;
use crate::metrics::ZoneStats;

/// One served zone: its configuration and the store of its current version.
#[derive(Debug)]
pub struct Zone {
    pub origin: Name,
    /// The origin in presentation format, rendered once: the per-transfer log line writes it.
    pub origin_text: Box<str>,
    /// The master file; empty for a secondary zone (served from what its transfers wrote).
    pub file: PathBuf,
    pub allow_transfer: Acl,
    pub store: Arc<Store>,
    /// The IXFR history: rendered diffs from each older version to this store's. `None`: no
    /// history (a first load, or a journal that was rejected), IXFR is answered AXFR-style.
    pub journal: Option<Arc<Journal>>,
    /// `[ixfr] max_ratio`.
    pub ixfr_max_ratio: f64,
    /// Secondaries told of each new serial.
    pub notify: Vec<std::net::SocketAddr>,
    /// The key NOTIFYs are signed with.
    pub notify_key: Option<xfr_proto::tsig::Key>,
    /// Counters, carried from each version to the next.
    pub stats: Arc<ZoneStats>,
}

impl Zone {
    /// The journal version an IXFR from `serial` is answered with: in the history, and its
    /// diff no larger than `ixfr_max_ratio` times the AXFR (both as framed on the wire with a
    /// question of `question_len` bytes). No allocation.
    pub fn ixfr_version(&self, serial: u32, question_len: usize) -> Option<usize> {
        let j = self.journal.as_deref()?;
        let v = j.find(serial)?;
        let framing = (PREFIX_BYTES + question_len) as u64;
        let axfr = self.store.body_bytes() + self.store.message_count() as u64 * framing;
        let diff = j.version(v).wire_bytes;
        (diff as f64 <= self.ixfr_max_ratio * axfr as f64).then_some(v)
    }
}

/// `qname` (uncompressed wire) lower-cased into `buf`, the key of the set's maps; `None` when
/// longer than a name can be. Label length bytes are below 64, so lower-casing them changes
/// nothing.
fn lowered<'b>(qname: &[u8], buf: &'b mut [u8; 255]) -> Option<&'b [u8]> {
    let lower = buf.get_mut(..qname.len())?;
    lower.copy_from_slice(qname);
    lower.make_ascii_lowercase();
    Some(lower)
}

/// An immutable set of served zones, with the TSIG keys of the configuration it came from.
#[derive(Debug, Default)]
pub struct ZoneSet {
    zones: Vec<Arc<Zone>>,
    /// Lower-cased origin wire bytes → index in `zones`.
    by_name: HashMap<Box<[u8]>, usize>,
    keys: Arc<Keys>,
    /// Secondary zones configured but not served (no copy transferred yet, or expired), by
    /// lower-cased origin: their queries get SERVFAIL, not the REFUSED of a zone not ours.
    unserved: HashSet<Box<[u8]>>,
}

impl ZoneSet {
    pub fn new(zones: Vec<Arc<Zone>>, keys: Arc<Keys>) -> ZoneSet {
        let by_name = zones
            .iter()
            .enumerate()
            .map(|(i, z)| (z.origin.to_lowercase().as_wire().into(), i))
            .collect();
        ZoneSet {
            zones,
            by_name,
            keys,
            unserved: HashSet::new(),
        }
    }

    /// The same set, with `origins` (lower-cased wire names) as secondary zones this server
    /// has but cannot answer for now.
    pub fn with_unserved(mut self, origins: impl IntoIterator<Item = Box<[u8]>>) -> ZoneSet {
        self.unserved.extend(origins);
        self
    }

    /// True when `qname` (uncompressed wire, any case) is the apex of a secondary zone that is
    /// configured but not served now (no copy yet, or expired: RFC 1034 section 4.3.5). No
    /// allocation.
    pub fn is_unserved(&self, qname: &[u8]) -> bool {
        if self.unserved.is_empty() {
            return false;
        }
        let mut buf = [0u8; 255];
        lowered(qname, &mut buf).is_some_and(|k| self.unserved.contains(k))
    }

    pub fn zones(&self) -> &[Arc<Zone>] {
        &self.zones
    }

    /// The TSIG keys requests are verified with.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The zone whose apex is `qname` (uncompressed wire, any case). No allocation.
    pub fn find(&self, qname: &[u8]) -> Option<&Arc<Zone>> {
        self.find_index(qname).map(|i| &self.zones[i])
    }

    /// The index in [`ZoneSet::zones`] of the zone whose apex is `qname`. No allocation.
    pub fn find_index(&self, qname: &[u8]) -> Option<usize> {
        let mut buf = [0u8; 255];
        self.by_name.get(lowered(qname, &mut buf)?).copied()
    }
}

/// The current zone set, shared between the reload thread (writer) and the cores (readers).
#[derive(Debug)]
pub struct SharedZones {
    current: Mutex<Arc<ZoneSet>>,
    generation: AtomicU64,
    /// Lower-cased origin wire bytes of the secondary zones past their SOA EXPIRE: left out
    /// of every set published until they are marked live again.
    expired: Mutex<HashSet<Box<[u8]>>>,
}

impl SharedZones {
    pub fn new(set: ZoneSet) -> SharedZones {
        SharedZones {
            current: Mutex::new(Arc::new(set)),
            generation: AtomicU64::new(1),
            expired: Mutex::new(HashSet::new()),
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current set and its generation.
    pub fn snapshot(&self) -> (Arc<ZoneSet>, u64) {
        let guard = self.current.lock().expect("zone set lock poisoned");
        (guard.clone(), self.generation.load(Ordering::Acquire))
    }

    /// Publishes `set`, less the zones marked expired.
    pub fn publish(&self, set: ZoneSet) {
        let set = self.without_expired(set);
        let mut guard = self.current.lock().expect("zone set lock poisoned");
        *guard = Arc::new(set);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Marks `origin` expired (`true`: it is left out of the set now and of every set published
    /// until it is marked live) or live again (`false`: the next load of the zone serves it).
    /// Returns whether the mark changed.
    pub fn set_expired(&self, origin: &Name, expired: bool) -> bool {
        let key: Box<[u8]> = origin.to_lowercase().as_wire().into();
        let changed = {
            let mut marks = self.expired.lock().expect("expired lock poisoned");
            if expired {
                marks.insert(key)
            } else {
                marks.remove(&key)
            }
        };
        if changed && expired {
            let mut guard = self.current.lock().expect("zone set lock poisoned");
            if guard.find(origin.as_wire()).is_some() {
                let zones = guard.zones.clone();
                let set = ZoneSet::new(zones, guard.keys.clone())
                    .with_unserved(guard.unserved.iter().cloned());
                *guard = Arc::new(self.without_expired(set));
                self.generation.fetch_add(1, Ordering::AcqRel);
            }
        }
        changed
    }

    fn without_expired(&self, set: ZoneSet) -> ZoneSet {
        let marks = self.expired.lock().expect("expired lock poisoned");
        if marks.is_empty() {
            return set;
        }
        let zones = set
            .zones
            .into_iter()
            .filter(|z| !marks.contains(z.origin.to_lowercase().as_wire()))
            .collect();
        ZoneSet::new(zones, set.keys)
            .with_unserved(set.unserved.into_iter().chain(marks.iter().cloned()))
    }
}

/// The store file for `origin` in `store_dir`.
pub fn store_path(store_dir: &Path, origin: &Name) -> PathBuf {
    let text = origin.to_lowercase().to_string();
    let text = text.trim_end_matches('.');
    let stem = if text.is_empty() { "root" } else { text };
    // Names may hold '/' or other bytes in escaped form; keep the file name plain.
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    store_dir.join(format!("{stem}.store"))
}

/// How a zone's store was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The version already served; its sources are unchanged.
    Kept,
    /// An existing store file whose sources are unchanged.
    Reused,
    /// Compiled from the zone file now (the first version: no history).
    Compiled,
    /// Compiled from the zone file now and diffed against the previous version, whose diff
    /// joined the journal.
    Updated,
    /// The zone file changed, but to the same records and serial: the version served stays.
    Unchanged,
    /// A secondary zone: the store its last transfer in wrote.
    Transferred,
}

impl Origin {
    pub fn label(self) -> &'static str {
        match self {
            Origin::Kept => "kept",
            Origin::Reused => "reused",
            Origin::Compiled => "compiled",
            Origin::Updated => "updated",
            Origin::Unchanged => "unchanged",
            Origin::Transferred => "transferred",
        }
    }
}

/// A zone's store and journal as loaded.
#[derive(Debug)]
pub struct Loaded {
    pub store: Arc<Store>,
    pub journal: Option<Arc<Journal>>,
    pub how: Origin,
}

fn usable(store: &Store, cfg: &ZoneConfig) -> bool {
    store.origin().eq_ignore_case(&cfg.origin) && store.matches_sources()
}

/// Opens the journal beside `store`; one that is corrupt or belongs to another version or zone
/// is logged, removed and replaced by none (IXFR AXFR-style until new diffs exist): it never
/// stops the zone from being served.
fn open_journal(path: &Path, store: &Store, origin: &Name) -> Option<Arc<Journal>> {
    if !path.exists() {
        return None;
    }
    match Journal::open(path, store) {
        Ok(j) => Some(Arc::new(j)),
        Err(e) => {
            tracing::warn!(zone = %origin, journal = %path.display(), "journal dropped: {e}; IXFR is answered AXFR-style until new versions are loaded");
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(journal = %path.display(), "removing the dropped journal: {e}");
            }
            None
        }
    }
}

/// A secondary zone's store and journal as its last transfer in left them in `store_dir`
/// (no source check: the primary is the source); `None` when it has none yet. A store on disk
/// with the serial and checksum of the one served keeps the one served.
fn load_secondary(
    cfg: &ZoneConfig,
    store_dir: &Path,
    previous: Option<&Zone>,
) -> Result<Option<Loaded>> {
    let path = store_path(store_dir, &cfg.origin);
    if !path.exists() {
        return Ok(None);
    }
    let store = Store::open(&path)
        .with_context(|| format!("secondary zone {}: store {}", cfg.origin, path.display()))?;
    if !store.origin().eq_ignore_case(&cfg.origin) {
        anyhow::bail!(
            "secondary zone {}: store {} holds zone {}",
            cfg.origin,
            path.display(),
            store.origin()
        );
    }
    if let Some(prev) = previous {
        if prev.store.serial() == store.serial() && prev.store.checksum() == store.checksum() {
            return Ok(Some(Loaded {
                store: prev.store.clone(),
                journal: prev.journal.clone(),
                how: Origin::Kept,
            }));
        }
    }
    let journal = open_journal(&journal_path(&path), &store, &cfg.origin);
    Ok(Some(Loaded {
        store: Arc::new(store),
        journal,
        how: Origin::Transferred,
    }))
}

/// Opens or compiles the store for `cfg`; `previous` is the version being served, if any.
/// When the zone file changed, the new version is diffed against the previous one (the one
/// served, or after a restart the store left in `store_dir`) and the diff joins the journal.
/// `None`: a secondary zone with no store yet (not served until its first transfer in).
pub fn load_zone(
    cfg: &ZoneConfig,
    store_dir: &Path,
    limits: &JournalLimits,
    previous: Option<&Zone>,
) -> Result<Option<Loaded>> {
    if cfg.secondary.is_some() {
        return load_secondary(cfg, store_dir, previous);
    }
    load_primary(cfg, store_dir, limits, previous).map(Some)
}

fn load_primary(
    cfg: &ZoneConfig,
    store_dir: &Path,
    limits: &JournalLimits,
    previous: Option<&Zone>,
) -> Result<Loaded> {
    if let Some(prev) = previous {
        if prev.file == cfg.file && usable(&prev.store, cfg) {
            return Ok(Loaded {
                store: prev.store.clone(),
                journal: prev.journal.clone(),
                how: Origin::Kept,
            });
        }
    }
    let path = store_path(store_dir, &cfg.origin);
    let jpath = journal_path(&path);
    let on_disk = match previous {
        Some(_) => None,
        None => Store::open(&path)
            .ok()
            .filter(|s| s.origin().eq_ignore_case(&cfg.origin)),
    };
    if let Some(store) = on_disk {
        if usable(&store, cfg)
            && store
                .sources()
                .first()
                .is_some_and(|s| same_file(&s.path, &cfg.file))
        {
            let journal = open_journal(&jpath, &store, &cfg.origin);
            return Ok(Loaded {
                store: Arc::new(store),
                journal,
                how: Origin::Reused,
            });
        }
        // The version served before a restart: the base of the diff.
        let journal = open_journal(&jpath, &store, &cfg.origin);
        let base = (Arc::new(store), journal);
        return update(cfg, store_dir, &path, &jpath, limits, Some(base), true);
    }
    let base = previous.map(|p| (p.store.clone(), p.journal.clone()));
    update(cfg, store_dir, &path, &jpath, limits, base, false)
}

/// Compiles the zone file into a new store at `path`, diffing it against `base` into the
/// journal at `jpath`. A failure with a base on disk (`base_on_disk`: start-up) serves the
/// base, logged; otherwise the caller keeps what it serves.
fn update(
    cfg: &ZoneConfig,
    store_dir: &Path,
    path: &Path,
    jpath: &Path,
    limits: &JournalLimits,
    base: Option<(Arc<Store>, Option<Arc<Journal>>)>,
    base_on_disk: bool,
) -> Result<Loaded> {
    std::fs::create_dir_all(store_dir)
        .with_context(|| format!("creating store folder {}", store_dir.display()))?;
    let opts = zone_store::compile::CompileOptions::default();
    let policy = match cfg.serial_policy {
        crate::config::SerialPolicy::Keep => SerialPolicy::Keep,
        crate::config::SerialPolicy::Increment => SerialPolicy::Increment,
    };
    let previous = base.as_ref().map(|(s, j)| (&**s, j.as_deref()));
    let result = compile_update(
        &cfg.file,
        &cfg.origin,
        path,
        jpath,
        previous,
        &opts,
        limits,
        policy,
    )
    .with_context(|| format!("zone {} from {}", cfg.origin, cfg.file.display()));
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            return match base {
                Some((store, journal)) if base_on_disk => {
                    tracing::error!(zone = %cfg.origin, serial = store.serial(), "{e:#}; serving the stored version");
                    Ok(Loaded {
                        store,
                        journal,
                        how: Origin::Reused,
                    })
                }
                _ => Err(e),
            };
        }
    };
    for w in &report.compile.warnings {
        tracing::warn!(zone = %cfg.origin, "{w}");
    }
    let t = &report.timings;
    tracing::debug!(
        zone = %cfg.origin,
        parse_ms = t.parse.as_millis() as u64,
        decode_ms = t.decode_old.as_millis() as u64,
        diff_ms = t.diff.as_millis() as u64,
        render_ms = t.render.as_millis() as u64,
        journal_ms = t.journal_write.as_millis() as u64,
        total_ms = t.total.as_millis() as u64,
        wire_bytes = report.compile.wire_bytes,
        "compiled"
    );
    if let Some(why) = &report.history_dropped {
        tracing::warn!(zone = %cfg.origin, "journal history dropped: {why}");
    }
    // Unchanged too: the store and journal were written again with the file's new mtime.
    let store = Store::open(path).with_context(|| format!("opening store {}", path.display()))?;
    let (journal, how) = match report.outcome {
        UpdateOutcome::Updated {
            from,
            to,
            added,
            deleted,
        } => {
            tracing::info!(zone = %cfg.origin, from, to, added, deleted, "diff");
            (open_journal(jpath, &store, &cfg.origin), Origin::Updated)
        }
        UpdateOutcome::Unchanged => (open_journal(jpath, &store, &cfg.origin), Origin::Unchanged),
        UpdateOutcome::Initial => (None, Origin::Compiled),
    };
    Ok(Loaded {
        store: Arc::new(store),
        journal,
        how,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Which zones a load reads.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every configured zone (start-up, SIGHUP, `xfrctl reload`).
    All,
    /// Only this one (`xfrctl reload ORIGIN`): every other zone of `previous` stays exactly as
    /// served, and zones new to the configuration wait for a full reload.
    Only(&'a Name),
}

/// Loads every configured zone (in `scope`). A zone that fails keeps its previous version when
/// there is one (reload), and is otherwise left out; each failure is logged and returned, and
/// every zone's outcome is kept in its counters (`stats.last_load`) for `xfrctl`. `cores`:
/// how many serving cores count into a new zone's counters.
pub fn load_all(
    configs: &[ZoneConfig],
    keys: Arc<Keys>,
    store_dir: &Path,
    ixfr: &IxfrConfig,
    previous: Option<&ZoneSet>,
    scope: Scope<'_>,
    cores: usize,
) -> (ZoneSet, Vec<anyhow::Error>) {
    let limits = &JournalLimits {
        max_versions: ixfr.max_versions,
        max_bytes: ixfr.max_journal_bytes,
        max_ratio: ixfr.max_ratio,
    };
    let mut zones = Vec::with_capacity(configs.len());
    let mut errors = Vec::new();
    for cfg in configs {
        let prev_arc = previous.and_then(|p| p.find(cfg.origin.as_wire()));
        let prev = prev_arc.map(Arc::as_ref);
        if let Scope::Only(only) = scope {
            if !cfg.origin.eq_ignore_case(only) {
                if let Some(p) = prev_arc {
                    zones.push(p.clone());
                }
                continue;
            }
        }
        let stats = prev.map_or_else(|| Arc::new(ZoneStats::new(cores)), |p| p.stats.clone());
        let started = Instant::now();
        match load_zone(cfg, store_dir, limits, prev) {
            Ok(None) => {
                tracing::info!(zone = %cfg.origin, "secondary zone not served yet: waiting for the first transfer from its primaries");
                stats.record_load(started, Ok("waiting"));
            }
            Ok(Some(Loaded {
                store,
                journal,
                how,
            })) => {
                let changed = prev.is_none_or(|p| !Arc::ptr_eq(&p.store, &store));
                if changed || how != Origin::Kept {
                    tracing::info!(
                        zone = %cfg.origin,
                        serial = store.serial(),
                        records = store.record_count(),
                        messages = store.message_count(),
                        history = journal.as_ref().map_or(0, |j| j.versions()),
                        how = ?how,
                        ms = started.elapsed().as_millis() as u64,
                        "zone loaded"
                    );
                }
                stats.record_load(started, Ok(how.label()));
                zones.push(Arc::new(Zone {
                    origin: cfg.origin.clone(),
                    origin_text: cfg.origin.to_string().into(),
                    file: cfg.file.clone(),
                    allow_transfer: cfg.allow_transfer.clone(),
                    store,
                    journal,
                    ixfr_max_ratio: ixfr.max_ratio,
                    notify: cfg.notify.clone(),
                    notify_key: cfg.notify_key.clone(),
                    stats,
                }));
            }
            Err(e) => {
                stats.record_load(started, Err(format!("{e:#}")));
                match prev {
                    Some(p) => {
                        tracing::error!(zone = %cfg.origin, serial = p.store.serial(), "{e:#}; keeping the version being served");
                        zones.push(Arc::new(Zone {
                            origin: p.origin.clone(),
                            origin_text: p.origin_text.clone(),
                            file: p.file.clone(),
                            allow_transfer: cfg.allow_transfer.clone(),
                            store: p.store.clone(),
                            journal: p.journal.clone(),
                            ixfr_max_ratio: ixfr.max_ratio,
                            notify: cfg.notify.clone(),
                            notify_key: cfg.notify_key.clone(),
                            stats,
                        }));
                    }
                    None => tracing::error!(zone = %cfg.origin, "{e:#}; zone not served"),
                }
                errors.push(e);
            }
        }
    }
    crate::sys::release_free_memory();
    let set = ZoneSet::new(zones, keys);
    let unserved: Vec<Box<[u8]>> = configs
        .iter()
        .filter(|c| c.secondary.is_some() && set.find(c.origin.as_wire()).is_none())
        .map(|c| c.origin.to_lowercase().as_wire().into())
        .collect();
    (set.with_unserved(unserved), errors)
}
