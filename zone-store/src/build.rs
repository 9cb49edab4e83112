//! The parallel build: records → RRsets → rendered messages, ready for [`crate::store`].
//!
//! What it owns: validating the zone's shape (one SOA at the apex, one class, every record in the
//! zone), grouping ([`group`]), cutting the RRset list into ranges, and running pinned workers
//! that render the ranges. What it does not own: parsing, the message encoding
//! ([`crate::render`]) and the file format ([`crate::store`]).
//!
//! Determinism: range boundaries depend only on the zone (a new range starts at the first RRset
//! boundary after every [`RANGE_RECORDS`] records), every range starts a fresh message, and a
//! range renders the same bytes whichever worker takes it, so the output is byte for byte the
//! same for any number of workers.

mod group;
mod sys;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam::channel;

use crate::name::Name;
use crate::record::Record;
use crate::render::{self, Item, RangeOutput, RenderError, Renderer};
use crate::rtype;
use crate::store::{SourceFile, StoredMessage};

/// Records per range (rounded up to the next RRset boundary). Each range ends with a partly
/// filled message and starts with an empty compression table, so fewer, larger ranges waste
/// less; 32768 records give 31 ranges for a 1M-record zone: enough to balance 2-16 workers,
/// while the boundaries cost about 31 x (31 bytes of length, header and question + a few
/// hundred bytes of names written out in full), under 0.05% of the 36 MB on the wire (an
/// estimate, not a measurement).
pub const RANGE_RECORDS: usize = 32768;

/// Build settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Message size to pack up to, header and question included; 0 means
    /// [`render::MESSAGE_BYTES_TARGET_DEFAULT`].
    pub message_bytes_target: usize,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            workers: 0,
            message_bytes_target: render::MESSAGE_BYTES_TARGET_DEFAULT,
        }
    }
}

/// Why a zone cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("zone {origin} has no SOA record at its apex")]
    NoSoa { origin: Name },
    #[error("zone {origin} has more than one SOA record")]
    MultipleSoa { origin: Name },
    #[error("SOA record at {owner} is not at the zone apex {origin}")]
    SoaNotAtApex { owner: Name, origin: Name },
    #[error("the SOA RDATA of {origin} is malformed")]
    MalformedSoa { origin: Name },
    #[error("record {owner} type {rtype} is not in zone {origin}")]
    OutOfZone {
        owner: Name,
        rtype: u16,
        origin: Name,
    },
    #[error("record {owner} type {rtype} has class {class}, the zone has class {zone_class}")]
    ClassMismatch {
        owner: Name,
        rtype: u16,
        class: u16,
        zone_class: u16,
    },
    #[error("message size target {0} is outside {min}..=65535", min = render::MESSAGE_BYTES_TARGET_MIN)]
    BadTarget(usize),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("reading source file {path}: {source}")]
    Source {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Something the build changed or dropped, worth telling the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildWarning {
    pub message: String,
}

impl std::fmt::Display for BuildWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Where a message's body lies among all bodies laid back to back (as in the store file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageEntry {
    pub offset: u64,
    pub len: u32,
    pub ancount: u16,
}

/// Time spent in each build phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildTimings {
    pub group: Duration,
    pub render: Duration,
    pub sources: Duration,
}

/// A rendered zone, ready to be written with [`crate::store::write_store`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltZone {
    pub origin: Name,
    pub class: u16,
    pub serial: u32,
    pub soa_ttl: u32,
    /// Uncompressed wire RDATA of the SOA.
    pub soa_rdata: Box<[u8]>,
    /// Records in the zone, SOA counted once, duplicates not counted.
    pub record_count: u64,
    pub rrset_count: u64,
    pub duplicates_dropped: u64,
    pub messages: Vec<MessageEntry>,
    /// The bodies as the workers rendered them, one chunk per range; laid back to back they
    /// are the store's bodies (kept apart to spare a copy of the whole zone).
    chunks: Vec<Vec<u8>>,
    /// Offset of each chunk among all bodies, and the chunk of each message.
    chunk_starts: Vec<u64>,
    chunk_of_message: Vec<u32>,
    pub sources: Vec<SourceFile>,
    pub warnings: Vec<BuildWarning>,
    pub timings: BuildTimings,
}

impl BuiltZone {
    pub fn message_count(&self) -> usize {
        self.messages.len()
    }

    /// Message `i`; panics if `i >= message_count()`.
    pub fn message(&self, i: usize) -> StoredMessage<'_> {
        let m = self.messages[i];
        let c = self.chunk_of_message[i] as usize;
        let at = (m.offset - self.chunk_starts[c]) as usize;
        StoredMessage {
            body: &self.chunks[c][at..at + m.len as usize],
            ancount: m.ancount,
        }
    }

    /// All bodies back to back, in pieces.
    pub fn body_chunks(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.chunks.iter().map(Vec::as_slice)
    }

    /// Bytes of all bodies.
    pub fn body_bytes(&self) -> u64 {
        self.chunks.iter().map(|c| c.len() as u64).sum()
    }

    /// Bytes an AXFR of this zone puts on a TCP stream: per message the 2-byte length, the
    /// header and the question, plus the bodies (no TSIG).
    pub fn wire_bytes(&self) -> u64 {
        self.body_bytes()
            + self.messages.len() as u64 * (2 + render::body_base(&self.origin) as u64)
    }
}

/// Builds the zone parsed from text. The source files are stat'ed and hashed so that the store
/// can later tell whether they changed.
pub fn build(
    zone: &crate::zonefile::ParsedZone,
    opts: &BuildOptions,
) -> Result<BuiltZone, BuildError> {
    let mut built = build_records(&zone.origin, &zone.records, opts)?;
    let t = Instant::now();
    built.sources = capture_sources(&zone.sources, None, zone.main_file)?;
    built.timings.sources = t.elapsed();
    Ok(built)
}

/// Stats and hashes every source file. A file modified at or after `not_before` (the time the
/// parse began) is recorded as unknown, so that a store never claims to match a file that
/// changed while it was being compiled.
pub(crate) fn capture_sources(
    paths: &[PathBuf],
    not_before: Option<std::time::SystemTime>,
    main_file: Option<(u64, u64)>,
) -> Result<Vec<SourceFile>, BuildError> {
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let captured = match main_file.filter(|_| i == 0) {
                Some((len, xxh3)) => SourceFile::capture_parsed(p, len, xxh3, not_before),
                None => SourceFile::capture(p, not_before),
            };
            captured.map_err(|source| BuildError::Source {
                path: p.clone(),
                source,
            })
        })
        .collect()
}

/// Builds a zone from records in file order (what [`build`] does after parsing); the result
/// has no source files.
pub fn build_records(
    origin: &Name,
    records: &[Record],
    opts: &BuildOptions,
) -> Result<BuiltZone, BuildError> {
    let target = match opts.message_bytes_target {
        0 => render::MESSAGE_BYTES_TARGET_DEFAULT,
        t if (render::MESSAGE_BYTES_TARGET_MIN..=render::MESSAGE_BYTES_MAX).contains(&t) => t,
        t => return Err(BuildError::BadTarget(t)),
    };
    let t_group = Instant::now();
    let soa = find_soa(origin, records)?;
    let soa_rec = &records[soa];
    let serial = soa_serial(&soa_rec.rdata).ok_or_else(|| BuildError::MalformedSoa {
        origin: origin.clone(),
    })?;
    let plan =
        group::plan(records, origin, soa, worker_count(opts.workers)).map_err(
            |misfit| match misfit {
                group::Misfit::OutOfZone(i) => BuildError::OutOfZone {
                    owner: records[i].owner.clone(),
                    rtype: records[i].rtype,
                    origin: origin.clone(),
                },
                group::Misfit::Class(i) => BuildError::ClassMismatch {
                    owner: records[i].owner.clone(),
                    rtype: records[i].rtype,
                    class: records[i].class,
                    zone_class: soa_rec.class,
                },
            },
        )?;
    if plan.rrsets[0].len != 1 {
        return Err(BuildError::MultipleSoa {
            origin: origin.clone(),
        });
    }
    let soa_ttl = plan.rrsets[0].ttl;
    let mut warnings = Vec::new();
    for &(i, ttl) in &plan.ttl_changes {
        let r = &records[i as usize];
        warnings.push(BuildWarning {
            message: format!(
                "{} {}: TTL {} set to prior TTL ({ttl}) of its RRset, as BIND does (RFC 2181 section 5.2)",
                r.owner,
                type_name(r.rtype),
                r.ttl
            ),
        });
    }
    if plan.ttls_changed > plan.ttl_changes.len() as u64 {
        warnings.push(BuildWarning {
            message: format!(
                "{} more records had their TTL set to their RRset's first",
                plan.ttls_changed - plan.ttl_changes.len() as u64
            ),
        });
    }
    if plan.duplicates > 0 {
        warnings.push(BuildWarning {
            message: format!("{} duplicate records dropped", plan.duplicates),
        });
    }
    let group = t_group.elapsed();

    let t_render = Instant::now();
    let ranges = cut_ranges(&plan);
    let outputs = render_ranges(
        origin,
        records,
        &plan,
        &ranges,
        soa_rec,
        soa_ttl,
        target,
        opts.workers,
    )?;
    // Prefix sum: each range's bodies follow the previous ones.
    let mut messages = Vec::with_capacity(outputs.iter().map(|o| o.messages.len()).sum());
    let mut chunk_of_message = Vec::with_capacity(messages.capacity());
    let mut chunk_starts = Vec::with_capacity(outputs.len());
    let mut chunks = Vec::with_capacity(outputs.len());
    let mut at = 0u64;
    for (c, o) in outputs.into_iter().enumerate() {
        chunk_starts.push(at);
        for m in &o.messages {
            messages.push(MessageEntry {
                offset: at,
                len: m.len,
                ancount: m.ancount,
            });
            chunk_of_message.push(c as u32);
            at += m.len as u64;
        }
        chunks.push(o.bodies);
    }
    let render = t_render.elapsed();
    Ok(BuiltZone {
        origin: origin.clone(),
        class: soa_rec.class,
        serial,
        soa_ttl,
        soa_rdata: soa_rec.rdata.clone(),
        record_count: plan.order.len() as u64,
        rrset_count: plan.rrsets.len() as u64,
        duplicates_dropped: plan.duplicates,
        messages,
        chunks,
        chunk_starts,
        chunk_of_message,
        sources: Vec::new(),
        warnings,
        timings: BuildTimings {
            group,
            render,
            sources: Duration::ZERO,
        },
    })
}

fn type_name(t: u16) -> String {
    rtype::mnemonic(t).map_or_else(|| format!("TYPE{t}"), str::to_string)
}

/// The index of the one SOA (an exact repeat of it is a duplicate, dropped later).
fn find_soa(origin: &Name, records: &[Record]) -> Result<usize, BuildError> {
    let mut soa = None;
    for (i, r) in records.iter().enumerate() {
        if r.rtype != rtype::SOA {
            continue;
        }
        if !r.owner.eq_ignore_case(origin) {
            return Err(BuildError::SoaNotAtApex {
                owner: r.owner.clone(),
                origin: origin.clone(),
            });
        }
        match soa {
            None => soa = Some(i),
            Some(j) if records[j].rdata == r.rdata => {}
            Some(_) => {
                return Err(BuildError::MultipleSoa {
                    origin: origin.clone(),
                })
            }
        }
    }
    soa.ok_or_else(|| BuildError::NoSoa {
        origin: origin.clone(),
    })
}

/// The serial from SOA RDATA (two names, then SERIAL first of five 32-bit fields).
pub(crate) fn soa_serial(rdata: &[u8]) -> Option<u32> {
    let a = crate::name::wire_name_len(rdata).ok()?;
    let b = crate::name::wire_name_len(&rdata[a..]).ok()?;
    let rest = &rdata[a + b..];
    if rest.len() != 20 {
        return None;
    }
    Some(u32::from_be_bytes(rest[..4].try_into().ok()?))
}

/// Ranges of RRset indices; boundaries depend only on the plan, never on the worker count.
fn cut_ranges(plan: &group::Plan) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut from = 0;
    let mut acc = 0usize;
    for (k, s) in plan.rrsets.iter().enumerate() {
        acc += s.len as usize;
        if acc >= RANGE_RECORDS {
            ranges.push((from, k + 1));
            from = k + 1;
            acc = 0;
        }
    }
    if from < plan.rrsets.len() {
        ranges.push((from, plan.rrsets.len()));
    }
    ranges
}

/// Renders one range; the last range ends with the SOA. `items` and `slices` are reused
/// allocations, cleared here.
fn render_range<'r>(
    renderer: &mut Renderer,
    items: &mut Vec<Item<'r>>,
    slices: &mut Vec<(usize, usize)>,
    records: &'r [Record],
    plan: &group::Plan,
    range: (usize, usize),
    final_soa: Option<(&'r Record, u32)>,
) -> Result<RangeOutput, RenderError> {
    items.clear();
    slices.clear();
    for s in &plan.rrsets[range.0..range.1] {
        let at = items.len();
        for &i in &plan.order[s.start as usize..(s.start + s.len) as usize] {
            items.push(Item {
                record: &records[i as usize],
                ttl: s.ttl,
            });
        }
        slices.push((at, items.len()));
    }
    if let Some((soa, ttl)) = final_soa {
        slices.push((items.len(), items.len() + 1));
        items.push(Item { record: soa, ttl });
    }
    let mut out = RangeOutput {
        bodies: Vec::with_capacity(items.len() * 40),
        messages: Vec::new(),
    };
    let result = renderer.render_rrsets(slices.iter().map(|&(a, b)| &items[a..b]), &mut out);
    result.map(|()| out)
}

/// Workers for `requested` (0: one per core).
fn worker_count(requested: usize) -> usize {
    match requested {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        w => w,
    }
}

#[allow(clippy::too_many_arguments)]
fn render_ranges(
    origin: &Name,
    records: &[Record],
    plan: &group::Plan,
    ranges: &[(usize, usize)],
    soa: &Record,
    soa_ttl: u32,
    target: usize,
    workers: usize,
) -> Result<Vec<RangeOutput>, RenderError> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let workers = worker_count(workers).min(ranges.len()).max(1);
    let last = ranges.len() - 1;
    let (work_tx, work_rx) = channel::bounded::<usize>(ranges.len());
    for k in 0..ranges.len() {
        work_tx.send(k).expect("receiver alive");
    }
    drop(work_tx);
    let (done_tx, done_rx) =
        channel::bounded::<(usize, Result<RangeOutput, RenderError>)>(ranges.len());
    std::thread::scope(|scope| {
        for w in 0..workers {
            let (work_rx, done_tx) = (work_rx.clone(), done_tx.clone());
            let core = (!cores.is_empty()).then(|| cores[w % cores.len()]);
            std::thread::Builder::new()
                .name(format!("zone-build-{w}"))
                .spawn_scoped(scope, move || {
                    if let Some(c) = core {
                        core_affinity::set_for_current(c);
                    }
                    let mut renderer = Renderer::new(origin, target);
                    let (mut items, mut slices) = (Vec::new(), Vec::new());
                    for k in work_rx.iter() {
                        let soa = (k == last).then_some((soa, soa_ttl));
                        let r = render_range(
                            &mut renderer,
                            &mut items,
                            &mut slices,
                            records,
                            plan,
                            ranges[k],
                            soa,
                        );
                        let failed = r.is_err();
                        if done_tx.send((k, r)).is_err() || failed {
                            break;
                        }
                    }
                })
                .expect("spawning a build worker");
        }
    });
    drop(done_tx);
    let mut outputs: Vec<Option<Result<RangeOutput, RenderError>>> =
        (0..ranges.len()).map(|_| None).collect();
    for (k, r) in done_rx.iter() {
        outputs[k] = Some(r);
    }
    // The first error in range order, whatever order the workers finished in; a range left
    // unrendered because a worker stopped early lies after an error.
    let mut done = Vec::with_capacity(ranges.len());
    for o in outputs {
        match o {
            Some(Ok(out)) => done.push(out),
            Some(Err(e)) => return Err(e),
            None => unreachable!("a range is missing, but no earlier range failed"),
        }
    }
    Ok(done)
}
