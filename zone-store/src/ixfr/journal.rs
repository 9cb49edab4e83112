//! The journal: a zone's IXFR history as pre-rendered diff messages, in a file beside its
//! store, mapped read-only and served from directly like the store.
//!
//! What it owns: the file format, writing it atomically, validating it (and that it belongs to
//! the store it is opened with) before anything is read from it, and reading back the records
//! of each diff for the next update. What it does not own: computing diffs ([`super::diff`]),
//! deciding what an IXFR gets (the engine).
//!
//! Each version in the history holds the **condensed** diff from it straight to the current
//! version, rendered as the whole IXFR response body sequence (RFC 1995 section 4): the current
//! SOA, the version's SOA, the deleted records, the current SOA, the added records, the current
//! SOA, packed into messages with name compression under the same layout contract as AXFR
//! bodies ([`crate::render`]), so the engine's transfer cursor sends them unchanged.
//!
//! # Format, version 1 (integers little-endian, sections 8-byte aligned)
//! ```text
//! header, 64 bytes
//!   0  magic "XFRDJNL\0"   8  format version u32   12 header bytes u32 (64)
//!   16 file bytes u64       24 xxh3-64 of bytes 32..file bytes
//!   32 checksum of the store this journal leads to (its header offset 24) u64
//!   40 current serial u32   44 versions u32         48 origin wire length u16, zero (14 bytes)
//! origin (wire), zero padding to 8
//! version table: per version 64 bytes, oldest first
//!   serial u32, reserved u32, messages u64, index offset u64, bodies offset u64,
//!   bodies bytes u64, records offset u64, records bytes u64, deleted u32, added u32
//! per version: index (16 bytes per message: body offset in the version's bodies u64, length
//!   u32, ANCOUNT u16, reserved u16), bodies, records (the version's SOA, then the deleted and
//!   the added records, each: owner length u16, owner wire, type u16, class u16, TTL u32, RDATA
//!   length u16, RDATA), each part padded to 8
//! ```
//! Written whole to a temporary file, fsynced and renamed (see [`crate::store`]): a crash
//! leaves the old journal or the new one. A journal whose store checksum or current serial does
//! not match the store it is opened with is refused ([`JournalError::Mismatch`]): the engine
//! drops it, never serves from it.

use std::fs::File;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_64;

use super::diff::Diff;
use crate::name::Name;
use crate::record::Record;
use crate::render::{self, Item, RangeOutput, Renderer};
use crate::store::sys::Mapping;
use crate::store::{self, Store, StoreError, StoredMessage};

pub const MAGIC: [u8; 8] = *b"XFRDJNL\0";
pub const FORMAT_VERSION: u32 = 1;
const HEADER_BYTES: usize = 64;
const VERSION_ENTRY_BYTES: usize = 64;
const INDEX_ENTRY_BYTES: usize = 16;
/// More versions than any configuration keeps: a corrupt count must not make a reader loop.
const VERSIONS_MAX: usize = 100_000;

/// Bounds on a zone's history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JournalLimits {
    /// Versions kept; the oldest go first.
    pub max_versions: usize,
    /// Bytes of rendered diffs (as on the wire) kept; `None`: the zone's AXFR size.
    pub max_bytes: Option<u64>,
    /// Informative here (the engine applies it): the largest diff, as a multiple of the AXFR,
    /// that is worth sending incrementally.
    pub max_ratio: f64,
}

impl Default for JournalLimits {
    fn default() -> Self {
        JournalLimits {
            max_versions: 20,
            max_bytes: None,
            max_ratio: 1.0,
        }
    }
}

/// What to do with a changed zone whose serial did not increase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SerialPolicy {
    /// Refuse the new version (the old one keeps serving).
    #[default]
    Keep,
    /// Serve it with the old serial + 1.
    Increment,
}

/// Why a journal cannot be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}: not an xfrd journal (bad magic)", path.display())]
    NotAJournal { path: PathBuf },
    #[error("{}: journal format version {found}, this build reads version {expected}", path.display())]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{}: truncated journal: {actual} bytes, the header says {expected}", path.display())]
    Truncated {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error("{}: journal checksum mismatch", path.display())]
    Checksum { path: PathBuf },
    #[error("{}: corrupt journal: {what}", path.display())]
    Corrupt { path: PathBuf, what: String },
    #[error("{}: the journal belongs to {what}, not to the store being served", path.display())]
    Mismatch { path: PathBuf, what: String },
}

/// One version of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionInfo {
    pub serial: u32,
    pub messages: usize,
    /// Bytes of the IXFR response on a TCP stream (length prefixes, headers and a question of
    /// the zone's apex included; no TSIG).
    pub wire_bytes: u64,
    pub deleted: u64,
    pub added: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    info: VersionInfo,
    index_at: usize,
    bodies_at: usize,
    records_at: usize,
    records_len: usize,
}

/// A journal file, mapped and validated against its store. `Send + Sync`.
pub struct Journal {
    map: Mapping,
    path: PathBuf,
    origin: Name,
    current_serial: u32,
    versions: Vec<Entry>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("current_serial", &self.current_serial)
            .field("versions", &self.versions.len())
            .finish()
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn pad8(v: &mut Vec<u8>) {
    v.resize(v.len().div_ceil(8) * 8, 0);
}

impl Journal {
    /// Maps and validates the journal at `path`, which must lead to `store` (its checksum and
    /// serial). Never panics on a malformed file.
    pub fn open(path: &Path, store: &Store) -> Result<Journal, JournalError> {
        let io = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        // Journals are replaced by rename, never written in place: the contract of the
        // store's mapping holds for them too.
        let map = Mapping::map_readonly(&file).map_err(io)?;
        let m: &[u8] = &map;
        let corrupt = |what: &str| JournalError::Corrupt {
            path: path.to_path_buf(),
            what: what.to_string(),
        };
        if m.len() < 8 || m[..8] != MAGIC {
            return Err(if m.len() < 8 && MAGIC.starts_with(m) && !m.is_empty() {
                JournalError::Truncated {
                    path: path.to_path_buf(),
                    expected: HEADER_BYTES as u64,
                    actual: m.len() as u64,
                }
            } else {
                JournalError::NotAJournal {
                    path: path.to_path_buf(),
                }
            });
        }
        if m.len() < HEADER_BYTES {
            return Err(JournalError::Truncated {
                path: path.to_path_buf(),
                expected: HEADER_BYTES as u64,
                actual: m.len() as u64,
            });
        }
        let version = le32(m, 8);
        if version != FORMAT_VERSION {
            return Err(JournalError::Version {
                path: path.to_path_buf(),
                found: version,
                expected: FORMAT_VERSION,
            });
        }
        let file_bytes = le64(m, 16);
        if file_bytes > m.len() as u64 {
            return Err(JournalError::Truncated {
                path: path.to_path_buf(),
                expected: file_bytes,
                actual: m.len() as u64,
            });
        }
        if le32(m, 12) as usize != HEADER_BYTES || file_bytes != m.len() as u64 {
            return Err(corrupt("header"));
        }
        if le64(m, 24) != xxh3_64(&m[32..]) {
            return Err(JournalError::Checksum {
                path: path.to_path_buf(),
            });
        }
        let origin_len = le16(m, 48) as usize;
        let origin = m
            .get(HEADER_BYTES..HEADER_BYTES + origin_len)
            .and_then(|w| Name::from_wire(w).ok())
            .ok_or_else(|| corrupt("origin"))?;
        let mismatch = |what: String| JournalError::Mismatch {
            path: path.to_path_buf(),
            what,
        };
        if !origin.eq_ignore_case(store.origin()) {
            return Err(mismatch(format!("zone {origin}")));
        }
        let current_serial = le32(m, 40);
        if le64(m, 32) != store.checksum() || current_serial != store.serial() {
            return Err(mismatch(format!(
                "another version of the zone (serial {current_serial})"
            )));
        }
        let count = le32(m, 44) as usize;
        let table_at = (HEADER_BYTES + origin_len).div_ceil(8) * 8;
        if count > VERSIONS_MAX || table_at + count * VERSION_ENTRY_BYTES > m.len() {
            return Err(corrupt("version table"));
        }
        let base = render::body_base(&origin);
        let room = render::MESSAGE_BYTES_MAX - base;
        let in_file = |at: u64, len: u64| at.checked_add(len).is_some_and(|e| e <= m.len() as u64);
        let mut versions = Vec::with_capacity(count);
        for v in 0..count {
            let e = table_at + v * VERSION_ENTRY_BYTES;
            let serial = le32(m, e);
            let messages = le64(m, e + 8);
            let (index_at, bodies_at, bodies_len) =
                (le64(m, e + 16), le64(m, e + 24), le64(m, e + 32));
            let (records_at, records_len) = (le64(m, e + 40), le64(m, e + 48));
            let (deleted, added) = (le32(m, e + 56), le32(m, e + 60));
            let bad = || corrupt(&format!("version {v} (serial {serial})"));
            if messages == 0
                || !in_file(index_at, messages.saturating_mul(INDEX_ENTRY_BYTES as u64))
                || !in_file(bodies_at, bodies_len)
                || !in_file(records_at, records_len)
            {
                return Err(bad());
            }
            let (index_at, bodies_at) = (index_at as usize, bodies_at as usize);
            let mut next = 0u64;
            for i in 0..messages as usize {
                let x = index_at + i * INDEX_ENTRY_BYTES;
                let (off, len, an) = (le64(m, x), le32(m, x + 8) as usize, le16(m, x + 12));
                if off != next || len > room || an == 0 || len < 11 * an as usize {
                    return Err(bad());
                }
                next += len as u64;
            }
            if next != bodies_len {
                return Err(bad());
            }
            versions.push(Entry {
                info: VersionInfo {
                    serial,
                    messages: messages as usize,
                    wire_bytes: bodies_len + messages * (2 + base as u64),
                    deleted: deleted as u64,
                    added: added as u64,
                },
                index_at,
                bodies_at,
                records_at: records_at as usize,
                records_len: records_len as usize,
            });
        }
        Ok(Journal {
            map,
            path: path.to_path_buf(),
            origin,
            current_serial,
            versions,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// The serial every diff leads to: the store's.
    pub fn current_serial(&self) -> u32 {
        self.current_serial
    }

    /// Versions in the history, oldest first.
    pub fn versions(&self) -> usize {
        self.versions.len()
    }

    pub fn version(&self, v: usize) -> VersionInfo {
        self.versions[v].info
    }

    /// The version whose serial is `serial`.
    pub fn find(&self, serial: u32) -> Option<usize> {
        self.versions.iter().position(|e| e.info.serial == serial)
    }

    pub fn message_count(&self, v: usize) -> usize {
        self.versions[v].info.messages
    }

    /// Message `i` of version `v`'s diff: panics when out of range (checked at open).
    pub fn message(&self, v: usize, i: usize) -> StoredMessage<'_> {
        let e = &self.versions[v];
        let x = e.index_at + i * INDEX_ENTRY_BYTES;
        let m: &[u8] = &self.map;
        let (off, len, ancount) = (
            le64(m, x) as usize,
            le32(m, x + 8) as usize,
            le16(m, x + 12),
        );
        let at = e.bodies_at + off;
        StoredMessage {
            body: &m[at..at + len],
            ancount,
        }
    }

    pub fn file_bytes(&self) -> u64 {
        self.map.len() as u64
    }

    /// Version `v`'s diff as records (to the current version), with the version's SOA record.
    pub fn diff(&self, v: usize) -> Result<(Record, Diff), JournalError> {
        let e = &self.versions[v];
        let bad = || JournalError::Corrupt {
            path: self.path.clone(),
            what: format!("records of version {v}"),
        };
        let mut r = RecordReader {
            b: &self.map[e.records_at..e.records_at + e.records_len],
            at: 0,
        };
        let soa = r.next().ok_or_else(bad)?;
        let mut deleted = Vec::with_capacity(e.info.deleted as usize);
        for _ in 0..e.info.deleted {
            deleted.push(r.next().ok_or_else(bad)?);
        }
        let mut added = Vec::with_capacity(e.info.added as usize);
        for _ in 0..e.info.added {
            added.push(r.next().ok_or_else(bad)?);
        }
        Ok((
            soa,
            Diff {
                from_serial: e.info.serial,
                to_serial: self.current_serial,
                deleted,
                added,
            },
        ))
    }
}

struct RecordReader<'a> {
    b: &'a [u8],
    at: usize,
}

impl RecordReader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    fn next(&mut self) -> Option<Record> {
        let olen = self.u16()? as usize;
        let owner = Name::from_wire(self.take(olen)?).ok()?;
        let rtype = self.u16()?;
        let class = self.u16()?;
        let ttl = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        let rdlen = self.u16()? as usize;
        let rdata = self.take(rdlen)?.into();
        Some(Record {
            owner,
            rtype,
            class,
            ttl,
            rdata,
        })
    }
}

fn put_record(out: &mut Vec<u8>, r: &Record) {
    let o = r.owner.as_wire();
    out.extend_from_slice(&(o.len() as u16).to_le_bytes());
    out.extend_from_slice(o);
    out.extend_from_slice(&r.rtype.to_le_bytes());
    out.extend_from_slice(&r.class.to_le_bytes());
    out.extend_from_slice(&r.ttl.to_le_bytes());
    out.extend_from_slice(&(r.rdata.len() as u16).to_le_bytes());
    out.extend_from_slice(&r.rdata);
}

/// One version to write: its SOA record and its condensed diff to the current version.
pub struct NewVersion {
    pub soa: Record,
    pub diff: Diff,
}

/// A version rendered: its messages.
pub struct RenderedVersion {
    pub serial: u32,
    pub output: RangeOutput,
    pub wire_bytes: u64,
}

/// Renders the IXFR response for `v` to the version whose SOA is `current_soa`: current SOA,
/// v's SOA, deleted, current SOA, added, current SOA.
pub fn render_version(
    origin: &Name,
    current_soa: &Record,
    v: &NewVersion,
    message_bytes_target: usize,
) -> Result<RenderedVersion, render::RenderError> {
    fn item(r: &Record) -> Item<'_> {
        Item {
            record: r,
            ttl: r.ttl,
        }
    }
    let mut items: Vec<Item<'_>> =
        Vec::with_capacity(v.diff.deleted.len() + v.diff.added.len() + 4);
    items.push(item(current_soa));
    items.push(item(&v.soa));
    items.extend(v.diff.deleted.iter().map(item));
    items.push(item(current_soa));
    items.extend(v.diff.added.iter().map(item));
    items.push(item(current_soa));
    let target = if message_bytes_target == 0 {
        render::MESSAGE_BYTES_TARGET_DEFAULT
    } else {
        message_bytes_target
    };
    let mut renderer = Renderer::new(origin, target);
    let mut output = RangeOutput::default();
    // Consecutive records of one owner and type stay together, as RRsets do in AXFR.
    let mut groups: Vec<&[Item<'_>]> = Vec::new();
    let mut start = 0;
    for i in 1..=items.len() {
        let split = i == items.len()
            || i <= 2
            || items[i].record.rtype != items[i - 1].record.rtype
            || !items[i]
                .record
                .owner
                .eq_ignore_case(&items[i - 1].record.owner)
            || items[i].record.rtype == crate::rtype::SOA;
        if split {
            groups.push(&items[start..i]);
            start = i;
        }
    }
    renderer.render_rrsets(groups, &mut output)?;
    let base = render::body_base(origin) as u64;
    let wire_bytes = output.bodies.len() as u64 + output.messages.len() as u64 * (2 + base);
    Ok(RenderedVersion {
        serial: v.diff.from_serial,
        output,
        wire_bytes,
    })
}

/// Writes a journal for `store` (the current version) holding `versions` (oldest first, each
/// with its rendered messages), atomically.
pub fn write_journal(
    path: &Path,
    store: &Store,
    versions: &[(NewVersion, RenderedVersion)],
) -> Result<(), StoreError> {
    let origin = store.origin().as_wire();
    let mut head = vec![0u8; HEADER_BYTES];
    head.extend_from_slice(origin);
    pad8(&mut head);
    let table_at = head.len();
    let mut body: Vec<u8> = Vec::new();
    let data_at = table_at + versions.len() * VERSION_ENTRY_BYTES;
    let mut table = Vec::with_capacity(versions.len() * VERSION_ENTRY_BYTES);
    for (nv, rv) in versions {
        let index_at = data_at + body.len();
        let mut off = 0u64;
        for m in &rv.output.messages {
            body.extend_from_slice(&off.to_le_bytes());
            body.extend_from_slice(&m.len.to_le_bytes());
            body.extend_from_slice(&m.ancount.to_le_bytes());
            body.extend_from_slice(&0u16.to_le_bytes());
            off += m.len as u64;
        }
        pad8(&mut body);
        let bodies_at = data_at + body.len();
        body.extend_from_slice(&rv.output.bodies);
        pad8(&mut body);
        let records_at = data_at + body.len();
        put_record(&mut body, &nv.soa);
        for r in nv.diff.deleted.iter().chain(&nv.diff.added) {
            put_record(&mut body, r);
        }
        let records_len = data_at + body.len() - records_at;
        pad8(&mut body);
        table.extend_from_slice(&rv.serial.to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        table.extend_from_slice(&(rv.output.messages.len() as u64).to_le_bytes());
        table.extend_from_slice(&(index_at as u64).to_le_bytes());
        table.extend_from_slice(&(bodies_at as u64).to_le_bytes());
        table.extend_from_slice(&(rv.output.bodies.len() as u64).to_le_bytes());
        table.extend_from_slice(&(records_at as u64).to_le_bytes());
        table.extend_from_slice(&(records_len as u64).to_le_bytes());
        table.extend_from_slice(&(nv.diff.deleted.len() as u32).to_le_bytes());
        table.extend_from_slice(&(nv.diff.added.len() as u32).to_le_bytes());
    }
    let file_bytes = (data_at + body.len()) as u64;
    head[..8].copy_from_slice(&MAGIC);
    head[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    head[12..16].copy_from_slice(&(HEADER_BYTES as u32).to_le_bytes());
    head[16..24].copy_from_slice(&file_bytes.to_le_bytes());
    head[32..40].copy_from_slice(&store.checksum().to_le_bytes());
    head[40..44].copy_from_slice(&store.serial().to_le_bytes());
    head[44..48].copy_from_slice(&(versions.len() as u32).to_le_bytes());
    head[48..50].copy_from_slice(&(origin.len() as u16).to_le_bytes());
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&head[32..]);
    h.update(&table);
    h.update(&body);
    head[24..32].copy_from_slice(&h.digest().to_le_bytes());
    store::write_atomically(path, &[&head, &table, &body])
}
