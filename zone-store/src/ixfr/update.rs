//! A zone changed: build the new version, diff it against the previous store, and write the new
//! store and journal. [`compile_update`] reads the version from a zone file;
//! [`update_from_records`] takes its records from anywhere else (a transfer in), and is the
//! part of [`compile_update`] after its parse: a transferred version becomes a store and a
//! journal exactly as a compiled one does.
//!
//! What it owns: the order of the phases and what each outcome writes. The new version's records
//! and the previous version's are both taken from rendered bodies (the new build's and the old
//! store's, decoded), so both sides carry exactly the normalisation the build applies (RRset TTLs
//! equalised, duplicates dropped) and the diff never reports what the build would not serve.
//!
//! Outcomes:
//! - no previous store: the store is written, any journal left at the path removed (`Initial`);
//! - same records and serial (a touched file): the store and journal are written again so they
//!   record the file's new mtime and still belong together (`Unchanged`);
//! - records changed and the serial increased (RFC 1982): the diff from the previous version,
//!   and every version of the old history condensed onto it, are rendered; the history is cut
//!   to the limits, oldest first; the store is written, then the journal (`Updated`);
//! - records changed, serial not increased: under [`SerialPolicy::Keep`] an error and nothing
//!   written; under [`SerialPolicy::Increment`] the serial becomes the previous + 1.
//!
//! A version from records alone (no source files) is stored with an empty sources section: it
//! opens like any other, and [`Store::matches_sources`] is false for it, so a caller that
//! reuses stores by their sources must tell such a zone apart (a secondary zone is fresh by
//! its SOA timers, not by a file).
//!
//! Crash safety: each file is replaced by rename. A crash between the store's rename and the
//! journal's leaves the new store with the old journal, which names the old store's checksum:
//! [`Journal::open`] refuses it and the engine drops it (IXFR AXFR-style until the next
//! version), never serves a diff that does not lead to the served store.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::diff::{self, compose, Bodies, Diff};
use super::journal::{
    render_version, write_journal, Journal, JournalLimits, NewVersion, RenderedVersion,
    SerialPolicy,
};
use crate::build::{self, BuildOptions};
use crate::compile::{CompileError, CompileOptions, CompileReport, CompileTimings};
use crate::name::Name;
use crate::record::Record;
use crate::render;
use crate::rtype;
use crate::store::{self, Store, StoreError};
use crate::zonefile::{self, ParseOptions};

/// What [`compile_update`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// No previous version: the store alone.
    Initial,
    /// The same records and serial as the previous version.
    Unchanged,
    Updated {
        from: u32,
        to: u32,
        added: u64,
        deleted: u64,
    },
}

/// Time spent in each phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdateTimings {
    pub parse: Duration,
    /// Grouping and rendering the new store.
    pub build: Duration,
    /// Decoding the previous store's and the new build's records.
    pub decode_old: Duration,
    pub diff: Duration,
    /// Condensing the history and rendering every version's diff.
    pub render: Duration,
    pub store_write: Duration,
    pub journal_write: Duration,
    pub total: Duration,
}

/// What [`compile_update`] did, with the compile's own report.
#[derive(Debug, Clone)]
pub struct UpdateReport {
    pub compile: CompileReport,
    pub outcome: UpdateOutcome,
    pub timings: UpdateTimings,
    /// Versions in the journal written (0: none written).
    pub history: usize,
    pub journal_bytes: u64,
    /// The old history could not be read and was left out (its reason).
    pub history_dropped: Option<String>,
}

/// Versions of at least this many records are freed on a thread of their own after a reload's
/// files are written; smaller ones inline (a thread costs more than their free).
const FREE_ASIDE_RECORDS: usize = 100_000;

/// RFC 1982: `a` is later than `b`.
pub fn serial_gt(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 1 << 31
}

fn soa_record(origin: &Name, class: u16, ttl: u32, rdata: &[u8]) -> Record {
    Record {
        owner: origin.clone(),
        rtype: rtype::SOA,
        class,
        ttl,
        rdata: rdata.into(),
    }
}

/// Sets the serial in SOA RDATA (the first of its five trailing 32-bit fields).
fn set_serial(rdata: &mut [u8], serial: u32) {
    let n = rdata.len();
    rdata[n - 20..n - 16].copy_from_slice(&serial.to_be_bytes());
}

/// A new version of a zone as records, and what it was read from: the input of
/// [`update_from_records`].
#[derive(Debug, Clone, Default)]
pub struct VersionRecords {
    /// Every record of the version, its SOA included, in any order (duplicates are dropped and
    /// RRset TTLs equalised by the build).
    pub records: Vec<Record>,
    /// Where the version came from, named in errors: the zone file, or for a transferred
    /// version a description such as `AXFR from 192.0.2.1:53`.
    pub from: PathBuf,
    /// The files the records were read from, recorded in the store (length, mtime, hash) so
    /// that an unchanged file is not parsed again. Empty for a transferred version: the store
    /// then records no sources, opens as any other, and its
    /// [`Store::matches_sources`] is false (it has no file to be fresh against).
    pub sources: Vec<PathBuf>,
    /// When reading the sources began: a source modified at or after it is recorded with an
    /// unknown mtime (never fresh). `None`: no such check.
    pub read_started: Option<SystemTime>,
    /// Time spent reading the records (the parse), for the report.
    pub read_time: Duration,
    /// Length and hash of `sources[0]`'s bytes as read (the parser gives them), so the file
    /// is not read again to record it.
    pub main_file: Option<(u64, u64)>,
    /// Warnings of the reading (the parser's, one line each), passed on into the report.
    pub warnings: Vec<String>,
}

/// Compiles `zonefile` for `origin` into the store at `store_out`; with a `previous` version
/// (its store, and its journal when it has one), diffs the two and writes the journal at
/// `journal_out`. See the module docs for what each outcome writes. The parse, then
/// [`update_from_records`].
#[allow(clippy::too_many_arguments)]
pub fn compile_update(
    zonefile: &Path,
    origin: &Name,
    store_out: &Path,
    journal_out: &Path,
    previous: Option<(&Store, Option<&Journal>)>,
    opts: &CompileOptions,
    limits: &JournalLimits,
    policy: SerialPolicy,
) -> Result<UpdateReport, CompileError> {
    let t_total = Instant::now();
    let started = SystemTime::now();
    let parse_opts = ParseOptions {
        threads: opts.workers,
        ..ParseOptions::new(origin.clone())
    };
    let t = Instant::now();
    let zone = zonefile::parse_file(zonefile, &parse_opts)?;
    let version = VersionRecords {
        records: zone.records,
        from: zonefile.to_path_buf(),
        sources: zone.sources,
        read_started: Some(started),
        read_time: t.elapsed(),
        warnings: zone.warnings.iter().map(ToString::to_string).collect(),
        main_file: zone.main_file,
    };
    let mut report = update_from_records(
        &zone.origin,
        version,
        store_out,
        journal_out,
        previous,
        opts,
        limits,
        policy,
    )?;
    report.timings.total = t_total.elapsed();
    report.compile.timings.total = report.timings.total;
    Ok(report)
}

/// Builds the store of `version` at `store_out`; with a `previous` version (its store, and its
/// journal when it has one), diffs the two and writes the journal at `journal_out`: everything
/// [`compile_update`] does after its parse, for records from anywhere (a zone file, a transfer
/// in). See the module docs for what each outcome writes.
#[allow(clippy::too_many_arguments)]
pub fn update_from_records(
    origin: &Name,
    version: VersionRecords,
    store_out: &Path,
    journal_out: &Path,
    previous: Option<(&Store, Option<&Journal>)>,
    opts: &CompileOptions,
    limits: &JournalLimits,
    policy: SerialPolicy,
) -> Result<UpdateReport, CompileError> {
    let t_total = Instant::now();
    let VersionRecords {
        mut records,
        from,
        sources,
        read_started,
        read_time,
        warnings: read_warnings,
        main_file,
    } = version;
    let mut timings = UpdateTimings {
        parse: read_time,
        ..UpdateTimings::default()
    };
    let build_opts = BuildOptions {
        workers: opts.workers,
        message_bytes_target: opts.message_bytes_target,
    };
    let t = Instant::now();
    let mut built = build::build_records(origin, &records, &build_opts)?;
    timings.build = t.elapsed();

    let mut outcome = UpdateOutcome::Initial;
    let mut versions: Vec<(NewVersion, RenderedVersion)> = Vec::new();
    let mut history_dropped = None;
    if let Some((old, journal)) = previous {
        let base = render::body_base(origin);
        let t = Instant::now();
        let old_bodies = Bodies {
            base,
            messages: old.messages().map(|m| (m.body, m.ancount)).collect(),
        };
        let new_bodies = Bodies {
            base,
            messages: (0..built.message_count())
                .map(|i| {
                    let m = built.message(i);
                    (m.body, m.ancount)
                })
                .collect(),
        };
        // The previous store is a file that may have been damaged; the new build's bodies were
        // just rendered: the error names the one that does not decode.
        let corrupt = |e: diff::BodyError| StoreError::Corrupt {
            path: if e.old {
                old.path().to_path_buf()
            } else {
                from.clone()
            },
            what: e.to_string(),
        };
        // Walking both versions (names expanded into reused buffers) and hashing their records,
        // on two threads, is `decode_old`; the merge and the decode of what changed, `diff`.
        let (ho, hn) = diff::hash_versions(&old_bodies, &new_bodies).map_err(corrupt)?;
        timings.decode_old = t.elapsed();
        let t = Instant::now();
        let mut d = diff::merge_hashed(
            &old_bodies,
            &ho,
            &new_bodies,
            &hn,
            old.serial(),
            built.serial,
        )
        .map_err(corrupt)?;
        drop((ho, hn, old_bodies, new_bodies));
        timings.diff = t.elapsed();
        if d.is_empty() && built.serial == old.serial() {
            outcome = UpdateOutcome::Unchanged;
        } else {
            if !serial_gt(built.serial, old.serial()) {
                match policy {
                    SerialPolicy::Keep => {
                        return Err(CompileError::SerialNotIncreased {
                            file: from,
                            old: old.serial(),
                            new: built.serial,
                        })
                    }
                    SerialPolicy::Increment => {
                        let serial = old.serial().wrapping_add(1);
                        for r in records
                            .iter_mut()
                            .filter(|r| r.rtype == rtype::SOA && r.owner.eq_ignore_case(origin))
                        {
                            let mut rdata = r.rdata.to_vec();
                            set_serial(&mut rdata, serial);
                            r.rdata = rdata.into();
                        }
                        let t = Instant::now();
                        built = build::build_records(origin, &records, &build_opts)?;
                        timings.build += t.elapsed();
                        d.to_serial = built.serial;
                    }
                }
            }
            outcome = UpdateOutcome::Updated {
                from: d.from_serial,
                to: d.to_serial,
                added: d.added.len() as u64,
                deleted: d.deleted.len() as u64,
            };
        }
        let t = Instant::now();
        let current_soa = soa_record(origin, built.class, built.soa_ttl, &built.soa_rdata);
        let mut history: Vec<NewVersion> = Vec::new();
        if let Some(j) = journal.filter(|j| j.current_serial() == old.serial()) {
            for v in 0..j.versions() {
                match j.diff(v) {
                    Ok((soa, dv)) => history.push(NewVersion {
                        soa,
                        diff: if matches!(outcome, UpdateOutcome::Unchanged) {
                            dv
                        } else {
                            compose(&dv, &d)
                        },
                    }),
                    Err(e) => {
                        history.clear();
                        history_dropped = Some(e.to_string());
                        break;
                    }
                }
            }
        }
        if !matches!(outcome, UpdateOutcome::Unchanged) {
            history.push(NewVersion {
                soa: soa_record(origin, old.class(), old.soa_ttl(), old.soa_rdata()),
                diff: Diff {
                    to_serial: built.serial,
                    ..d
                },
            });
        }
        let keep_from = history.len().saturating_sub(limits.max_versions);
        let max_bytes = limits.max_bytes.unwrap_or_else(|| built.wire_bytes());
        for nv in history.into_iter().skip(keep_from) {
            let rv = render_version(origin, &current_soa, &nv, opts.message_bytes_target)?;
            versions.push((nv, rv));
        }
        // Newest last: drop from the front until the bytes fit.
        let mut total: u64 = versions.iter().map(|(_, r)| r.wire_bytes).sum();
        while total > max_bytes && !versions.is_empty() {
            total -= versions.remove(0).1.wire_bytes;
        }
        timings.render = t.elapsed();
    }

    built.sources = build::capture_sources(&sources, read_started, main_file)?;
    let t = Instant::now();
    store::write_store(&built, store_out)?;
    timings.store_write = t.elapsed();
    let t = Instant::now();
    let mut journal_bytes = 0;
    let history = versions.len();
    if versions.is_empty() {
        match std::fs::remove_file(journal_out) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(StoreError::Io {
                    path: journal_out.to_path_buf(),
                    source,
                }
                .into())
            }
        }
    } else {
        let store = Store::open(store_out)?;
        write_journal(journal_out, &store, &versions)?;
        journal_bytes = std::fs::metadata(journal_out).map_or(0, |m| m.len());
    }
    timings.journal_write = t.elapsed();
    // Freeing a million records takes tens of ms (compile.rs): not on the way to the new
    // version being served. A thread of its own frees them once the files are written (a free
    // beside the store write slowed both, compile.rs); inline if no thread can be started.
    if records.len() >= FREE_ASIDE_RECORDS {
        // A spawn that fails drops its closure, and the records with it, here.
        let _ = std::thread::Builder::new()
            .name("zone-free".into())
            .spawn(move || drop(records));
    } else {
        drop(records);
    }
    let store_bytes = std::fs::metadata(store_out).map_or(0, |m| m.len());
    let mut warnings = read_warnings;
    warnings.extend(built.warnings.iter().map(ToString::to_string));
    timings.total = t_total.elapsed();
    let compile = CompileReport {
        origin: built.origin.clone(),
        serial: built.serial,
        records: built.record_count,
        rrsets: built.rrset_count,
        duplicates_dropped: built.duplicates_dropped,
        messages: built.message_count(),
        body_bytes: built.body_bytes(),
        wire_bytes: built.wire_bytes(),
        store_bytes,
        warnings,
        sources,
        timings: CompileTimings {
            parse: timings.parse,
            group: built.timings.group,
            render: built.timings.render,
            sources: Duration::ZERO,
            write: timings.store_write,
            free: Duration::ZERO,
            total: timings.total,
        },
    };
    Ok(UpdateReport {
        compile,
        outcome,
        timings,
        history,
        journal_bytes,
        history_dropped,
    })
}

/// The path of the journal beside `store`: `<store stem>.journal`.
pub fn journal_path(store: &Path) -> PathBuf {
    store.with_extension("journal")
}

#[cfg(test)]
mod tests {
    use super::super::journal::VersionInfo;
    use super::*;

    const ORIGIN: &str = "split.example.";

    fn zone_text(serial: u32, hosts: std::ops::Range<u32>) -> String {
        let mut t = format!(
            "$ORIGIN {ORIGIN}\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n\
             @ NS ns1\nns1 A 192.0.2.1\n@ MX 10 mail\n"
        );
        for i in hosts {
            t.push_str(&format!(
                "h{i} A 10.0.{}.{}\nh{i} TXT \"host {i}\"\n",
                i / 256,
                i % 256
            ));
        }
        t
    }

    fn origin() -> Name {
        Name::parse(ORIGIN, None).unwrap()
    }

    /// The records of `file`, read as [`compile_update`] reads them; `sources`: keep the
    /// parser's source list (else none, as for a transferred version).
    fn version_of(file: &Path, sources: bool) -> VersionRecords {
        let zone = zonefile::parse_file(file, &ParseOptions::new(origin())).unwrap();
        VersionRecords {
            records: zone.records,
            from: file.to_path_buf(),
            sources: if sources { zone.sources } else { Vec::new() },
            ..VersionRecords::default()
        }
    }

    /// Message bodies with their ANCOUNTs.
    type Messages = Vec<(Vec<u8>, u16)>;

    /// Everything a store serves: header fields and every message body with its count.
    fn served(s: &Store) -> (u32, u64, u64, Vec<u8>, Messages) {
        let messages = s.messages().map(|m| (m.body.to_vec(), m.ancount)).collect();
        let head = (s.serial(), s.record_count(), s.rrset_count());
        (head.0, head.1, head.2, s.soa_rdata().to_vec(), messages)
    }

    /// Every version of a journal: what it says of itself and its messages.
    fn journal_served(j: &Journal) -> Vec<(VersionInfo, Messages)> {
        (0..j.versions())
            .map(|v| {
                let m = (0..j.message_count(v))
                    .map(|i| {
                        let m = j.message(v, i);
                        (m.body.to_vec(), m.ancount)
                    })
                    .collect();
                (j.version(v), m)
            })
            .collect()
    }

    #[test]
    fn records_give_the_store_and_journal_a_zone_file_gives() {
        let tmp = tempfile::tempdir().unwrap();
        let (v1, v2) = (tmp.path().join("v1.zone"), tmp.path().join("v2.zone"));
        std::fs::write(&v1, zone_text(1, 0..400)).unwrap();
        // h0..h9 gone, h400..h404 new.
        std::fs::write(&v2, zone_text(2, 10..405)).unwrap();
        let opts = CompileOptions {
            workers: 2,
            message_bytes_target: 1200,
        };
        let limits = JournalLimits::default();
        let paths = |name: &str| {
            let store = tmp.path().join(format!("{name}.store"));
            let journal = journal_path(&store);
            (store, journal)
        };
        let (file_store, file_journal) = paths("file");
        let (rec_store, rec_journal) = paths("records");
        let (src_store, src_journal) = paths("sources");

        let step = |file: &Path, store: &Path, journal: &Path, how: Option<bool>| {
            let old = Store::open(store).ok();
            let old_journal = old.as_ref().and_then(|s| Journal::open(journal, s).ok());
            let previous = old.as_ref().map(|s| (s, old_journal.as_ref()));
            let policy = SerialPolicy::Keep;
            match how {
                None => compile_update(
                    file,
                    &origin(),
                    store,
                    journal,
                    previous,
                    &opts,
                    &limits,
                    policy,
                ),
                Some(sources) => update_from_records(
                    &origin(),
                    version_of(file, sources),
                    store,
                    journal,
                    previous,
                    &opts,
                    &limits,
                    policy,
                ),
            }
            .unwrap()
        };
        for (file, outcome) in [
            (&v1, UpdateOutcome::Initial),
            (
                &v2,
                UpdateOutcome::Updated {
                    from: 1,
                    to: 2,
                    added: 10,
                    deleted: 20,
                },
            ),
        ] {
            let a = step(file, &file_store, &file_journal, None);
            let b = step(file, &rec_store, &rec_journal, Some(false));
            let c = step(file, &src_store, &src_journal, Some(true));
            assert_eq!(
                (&a.outcome, &b.outcome, &c.outcome),
                (&outcome, &outcome, &outcome)
            );
            assert_eq!(b.compile.records, a.compile.records);
            assert!(b.compile.sources.is_empty());
        }
        // With the same source list, the files are byte for byte those of compile_update.
        assert_eq!(
            std::fs::read(&file_store).unwrap(),
            std::fs::read(&src_store).unwrap()
        );
        assert_eq!(
            std::fs::read(&file_journal).unwrap(),
            std::fs::read(&src_journal).unwrap()
        );
        // Without sources: the same served bytes, no sources recorded, never "fresh".
        let (fs, rs) = (
            Store::open(&file_store).unwrap(),
            Store::open(&rec_store).unwrap(),
        );
        assert_eq!(served(&fs), served(&rs));
        assert!(fs.matches_sources());
        assert!(rs.sources().is_empty() && !rs.matches_sources());
        let (fj, rj) = (
            Journal::open(&file_journal, &fs).unwrap(),
            Journal::open(&rec_journal, &rs).unwrap(),
        );
        assert_eq!(rj.versions(), 1);
        assert_eq!(journal_served(&fj), journal_served(&rj));
    }
}
