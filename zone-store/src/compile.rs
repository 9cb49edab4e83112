//! Zone file in, store file out: parse, build, write, with the time of each phase.
//!
//! What it owns: running the phases in order and reporting on them. What it does not own: any
//! of the phases ([`crate::zonefile`], [`crate::build`], [`crate::store`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::build::{self, BuildError, BuildOptions};
use crate::name::Name;
use crate::store::{self, StoreError};
use crate::zonefile::{self, ParseError, ParseOptions};

/// Compile settings; the default uses every core and the default message size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileOptions {
    /// Threads for parsing and worker threads for rendering; 0 means one per core.
    pub workers: usize,
    /// Message size target, header and question included; 0 means
    /// [`crate::render::MESSAGE_BYTES_TARGET_DEFAULT`].
    pub message_bytes_target: usize,
}

/// Time spent in each phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileTimings {
    pub parse: Duration,
    /// Grouping records into RRsets (part of the build).
    pub group: Duration,
    /// Rendering messages with the workers (part of the build).
    pub render: Duration,
    /// Stat and hash of the source files (concurrent with group and render).
    pub sources: Duration,
    /// Writing, fsyncing and renaming the store.
    pub write: Duration,
    /// Freeing the parsed records.
    pub free: Duration,
    pub total: Duration,
}

/// What [`compile`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompileReport {
    pub origin: Name,
    pub serial: u32,
    /// Records in the zone, SOA counted once.
    pub records: u64,
    pub rrsets: u64,
    pub duplicates_dropped: u64,
    pub messages: usize,
    /// Bytes of all message bodies.
    pub body_bytes: u64,
    /// Bytes of one AXFR on a TCP stream (length prefixes, headers and questions included).
    pub wire_bytes: u64,
    /// Size of the store file.
    pub store_bytes: u64,
    /// Parser and build warnings, each on one line ("file:line: message" from the parser).
    pub warnings: Vec<String>,
    pub sources: Vec<PathBuf>,
    pub timings: CompileTimings,
}

impl fmt::Display for CompileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.timings;
        writeln!(
            f,
            "zone {} serial {}: {} records in {} RRsets ({} duplicates dropped), {} messages, \
             {} body bytes, {} bytes on the wire ({:.1}/record), store {} bytes",
            self.origin,
            self.serial,
            self.records,
            self.rrsets,
            self.duplicates_dropped,
            self.messages,
            self.body_bytes,
            self.wire_bytes,
            self.wire_bytes as f64 / self.records.max(1) as f64,
            self.store_bytes
        )?;
        write!(
            f,
            "timings: parse {:?}, group {:?}, render {:?}, sources {:?}, write {:?}, free {:?}, \
             total {:?}",
            t.parse, t.group, t.render, t.sources, t.write, t.free, t.total
        )?;
        for w in &self.warnings {
            write!(f, "\nwarning: {w}")?;
        }
        Ok(())
    }
}

/// Why a compile failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    /// The records changed but the SOA serial did not increase (RFC 1982): a secondary would
    /// never fetch the new version, so it is not served.
    #[error("{}: the records changed but the SOA serial did not increase ({old} -> {new}); keeping serial {old}", file.display())]
    SerialNotIncreased { file: PathBuf, old: u32, new: u32 },
}

/// Parses `zonefile` for `origin` (class IN), builds the messages and writes the store to `out`
/// atomically.
pub fn compile(
    zonefile: &Path,
    origin: &Name,
    out: &Path,
    opts: &CompileOptions,
) -> Result<CompileReport, CompileError> {
    let t_total = Instant::now();
    let started = SystemTime::now();
    let parse_opts = ParseOptions {
        threads: opts.workers,
        ..ParseOptions::new(origin.clone())
    };
    let t = Instant::now();
    let zone = zonefile::parse_file(zonefile, &parse_opts)?;
    let parse = t.elapsed();

    let build_opts = BuildOptions {
        workers: opts.workers,
        message_bytes_target: opts.message_bytes_target,
    };
    // Hashing the source files (tens of ms for a large zone) runs beside the build.
    let (built, captured) = std::thread::scope(|s| {
        let capture = s.spawn(|| {
            let t = Instant::now();
            (
                build::capture_sources(&zone.sources, Some(started), zone.main_file),
                t.elapsed(),
            )
        });
        let built = build::build_records(&zone.origin, &zone.records, &build_opts);
        (built, capture.join().expect("source hashing panicked"))
    });
    let mut built = built?;
    built.sources = captured.0?;
    let sources_time = captured.1;
    let mut warnings: Vec<String> = zone.warnings.iter().map(ToString::to_string).collect();
    warnings.extend(built.warnings.iter().map(ToString::to_string));
    let sources = zone.sources.clone();
    let t = Instant::now();
    let write_result = store::write_store(&built, out);
    let write = t.elapsed();
    // Freeing a million records takes tens of ms. Done after the write, not beside it: on two
    // cores a concurrent free slowed the write from ~65 to ~190 ms and itself from ~65 to
    // ~180 ms (allocator and page-table contention).
    let t = Instant::now();
    drop(zone);
    let free = t.elapsed();
    write_result?;
    let store_bytes = std::fs::metadata(out)
        .map_err(|source| StoreError::Io {
            path: out.to_path_buf(),
            source,
        })?
        .len();
    Ok(CompileReport {
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
            parse,
            group: built.timings.group,
            render: built.timings.render,
            sources: sources_time,
            write,
            free,
            total: t_total.elapsed(),
        },
    })
}
