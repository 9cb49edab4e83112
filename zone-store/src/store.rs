//! The store file: a built zone on disk, mapped read-only and served from directly.
//!
//! What it owns: the file format, writing it atomically, and validating it before anything is
//! read from it. What it does not own: building the messages ([`crate::build`]).
//!
//! # Format, version 1 (all integers little-endian; every section starts 8-byte aligned)
//! ```text
//! header, 64 bytes
//!   0  magic "XFRDZST\0"        8  format version u32      12 header bytes u32 (64)
//!   16 file bytes u64            24 xxh3-64 of bytes 32..file bytes
//!   32 section count u32         36 flags u32 (0)           40 reserved, zero (24 bytes)
//! section table at 64: per section 32 bytes
//!   kind u32, flags u32 (bit 0: required: a reader that does not know the kind must refuse),
//!   offset u64, bytes u64, items u64
//! ZONE (kind 1): class u16, origin wire length u16, serial u32, SOA TTL u32, SOA RDATA length
//!   u32, records u64, messages u64, body bytes u64, RRsets u64, then the origin (wire) and the
//!   SOA RDATA (uncompressed wire)
//! INDEX (kind 2): per message 16 bytes: body offset u64 (in BODIES), body length u32,
//!   ANCOUNT u16, reserved u16; the bodies are contiguous and in order
//! BODIES (kind 3): the answer sections, laid out per the contract in [`crate::render`]
//! SOURCES (kind 4): count u32, reserved u32, then per file: path length u32, reserved u32,
//!   length u64, mtime ns i64, xxh3-64 of contents u64, the path bytes, zero padding to 8
//! kinds 0x100-0x1FF: reserved for IXFR journal sections (diff bodies, their index, the serial
//!   chain); written without the required flag, so version-1 readers skip them.
//! ```
//! A store is written to a temporary file in the target directory, fsynced, renamed over the
//! target, and the directory is fsynced: a crash leaves the old store or the new one, never half.
//! [`Store::open`] checks magic, version, length, checksum and every section and index entry
//! before it returns, so a truncated, bit-flipped or foreign file is an error, never a panic or
//! an out-of-bounds read.

pub(crate) mod sys;

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::build::BuiltZone;
use crate::name::Name;
use crate::render;

/// First bytes of every store file.
pub const MAGIC: [u8; 8] = *b"XFRDZST\0";
/// The format this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

const HEADER_BYTES: usize = 64;
const SECTION_ENTRY_BYTES: usize = 32;
/// Bound on the section table a reader accepts (a corrupt count must not make it loop long).
const SECTIONS_MAX: usize = 256;
const INDEX_ENTRY_BYTES: usize = 16;
const ZONE_FIXED_BYTES: usize = 48;
const SOURCE_FIXED_BYTES: usize = 32;
/// Offset of the checksummed region: everything after the checksum field.
const CHECKSUM_FROM: usize = 32;

const KIND_ZONE: u32 = 1;
const KIND_INDEX: u32 = 2;
const KIND_BODIES: u32 = 3;
const KIND_SOURCES: u32 = 4;
const SECTION_REQUIRED: u32 = 1;

/// `mtime_ns` of a source whose contents could not be pinned down (it changed while the zone
/// was compiled): it never matches.
pub const MTIME_UNKNOWN: i64 = i64::MIN;

/// Why a store cannot be written or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: not an xfrd zone store (bad magic)", path.display())]
    NotAStore { path: PathBuf },
    #[error("{}: store format version {found}, this build reads version {expected}; recompile the zone", path.display())]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{}: truncated store: {actual} bytes, the header says {expected}", path.display())]
    Truncated {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error("{}: store checksum mismatch (stored {stored:#018x}, computed {computed:#018x})", path.display())]
    Checksum {
        path: PathBuf,
        stored: u64,
        computed: u64,
    },
    #[error("{}: corrupt store: {what}", path.display())]
    Corrupt { path: PathBuf, what: String },
}

/// A file the store was compiled from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Canonical (absolute) path when it could be resolved, else as given.
    pub path: PathBuf,
    pub len: u64,
    /// Modification time in ns since the Unix epoch; [`MTIME_UNKNOWN`] if it changed while
    /// the zone was compiled.
    pub mtime_ns: i64,
    /// xxh3-64 of the contents.
    pub xxh3: u64,
}

impl SourceFile {
    /// Stats and hashes `path`. If the file was modified at or after `not_before`, or changes
    /// while it is hashed, the entry is recorded as unknown: the parse may have read other
    /// contents than the ones hashed. (The kernel stamps mtimes from a coarse clock, a few ms
    /// behind `SystemTime::now()`: a write within that window before the parse began is missed.)
    pub fn capture(path: &Path, not_before: Option<SystemTime>) -> io::Result<SourceFile> {
        let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let before = fs::metadata(&path)?;
        let xxh3 = hash_file(&path)?;
        let after = fs::metadata(&path)?;
        let mtime = mtime_ns(&after);
        let mut entry = SourceFile {
            path,
            len: after.len(),
            mtime_ns: mtime,
            xxh3,
        };
        let changed = before.len() != after.len() || mtime_ns(&before) != mtime;
        let late = modified_since(mtime, not_before);
        if changed || late {
            entry.mtime_ns = MTIME_UNKNOWN;
        }
        Ok(entry)
    }

    /// [`SourceFile::capture`] for a file whose bytes were just parsed: `len` and `xxh3` are
    /// those of the bytes read, so the file is not read again. The entry is unknown (never
    /// fresh) when the file's length now differs or it was modified at or after `not_before`;
    /// a same-length change after the read leaves a hash that [`SourceFile::matches`] will not
    /// find in the file.
    pub fn capture_parsed(
        path: &Path,
        len: u64,
        xxh3: u64,
        not_before: Option<SystemTime>,
    ) -> io::Result<SourceFile> {
        let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let meta = fs::metadata(&path)?;
        let mtime = mtime_ns(&meta);
        let late = modified_since(mtime, not_before);
        Ok(SourceFile {
            path,
            len,
            mtime_ns: if late || meta.len() != len {
                MTIME_UNKNOWN
            } else {
                mtime
            },
            xxh3,
        })
    }

    /// True if the file still has the recorded length, mtime and contents.
    pub fn matches(&self) -> bool {
        if self.mtime_ns == MTIME_UNKNOWN {
            return false;
        }
        let Ok(meta) = fs::metadata(&self.path) else {
            return false;
        };
        meta.len() == self.len
            && mtime_ns(&meta) == self.mtime_ns
            && hash_file(&self.path).is_ok_and(|h| h == self.xxh3)
    }
}

/// A file whose mtime is `mtime` (ns) was modified at or after `not_before`.
fn modified_since(mtime: i64, not_before: Option<SystemTime>) -> bool {
    not_before.is_some_and(|t| {
        let t_ns = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64);
        mtime >= t_ns
    })
}

fn mtime_ns(meta: &fs::Metadata) -> i64 {
    meta.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.mtime_nsec())
}

fn hash_file(path: &Path) -> io::Result<u64> {
    let mut f = File::open(path)?;
    let mut h = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.digest());
        }
        h.update(&buf[..n]);
    }
}

/// One message of a store: its answer section and the number of records in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredMessage<'a> {
    pub body: &'a [u8],
    pub ancount: u16,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn pad8(n: usize) -> usize {
    (8 - n % 8) % 8
}

fn zone_section(b: &BuiltZone) -> Vec<u8> {
    let mut z = Vec::with_capacity(ZONE_FIXED_BYTES + b.origin.wire_len() + b.soa_rdata.len());
    z.extend_from_slice(&b.class.to_le_bytes());
    z.extend_from_slice(&(b.origin.wire_len() as u16).to_le_bytes());
    z.extend_from_slice(&b.serial.to_le_bytes());
    z.extend_from_slice(&b.soa_ttl.to_le_bytes());
    z.extend_from_slice(&(b.soa_rdata.len() as u32).to_le_bytes());
    z.extend_from_slice(&b.record_count.to_le_bytes());
    z.extend_from_slice(&(b.messages.len() as u64).to_le_bytes());
    z.extend_from_slice(&b.body_bytes().to_le_bytes());
    z.extend_from_slice(&b.rrset_count.to_le_bytes());
    debug_assert_eq!(z.len(), ZONE_FIXED_BYTES);
    z.extend_from_slice(b.origin.as_wire());
    z.extend_from_slice(&b.soa_rdata);
    z
}

fn sources_section(sources: &[SourceFile]) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&(sources.len() as u32).to_le_bytes());
    s.extend_from_slice(&0u32.to_le_bytes());
    for f in sources {
        let p = f.path.as_os_str().as_bytes();
        s.extend_from_slice(&(p.len() as u32).to_le_bytes());
        s.extend_from_slice(&0u32.to_le_bytes());
        s.extend_from_slice(&f.len.to_le_bytes());
        s.extend_from_slice(&f.mtime_ns.to_le_bytes());
        s.extend_from_slice(&f.xxh3.to_le_bytes());
        s.extend_from_slice(p);
        s.resize(s.len() + pad8(p.len()), 0);
    }
    s
}

/// Writes `built` to `path` atomically: a temporary file in the same directory, fsynced,
/// renamed over `path`, then the directory fsynced.
pub fn write_store(built: &BuiltZone, path: &Path) -> Result<(), StoreError> {
    let zone = zone_section(built);
    let mut index = Vec::with_capacity(built.messages.len() * INDEX_ENTRY_BYTES);
    for m in &built.messages {
        index.extend_from_slice(&m.offset.to_le_bytes());
        index.extend_from_slice(&m.len.to_le_bytes());
        index.extend_from_slice(&m.ancount.to_le_bytes());
        index.extend_from_slice(&0u16.to_le_bytes());
    }
    let sources = sources_section(&built.sources);
    let bodies: Vec<&[u8]> = built.body_chunks().collect();
    let sections: [(u32, &[&[u8]], u64); 4] = [
        (KIND_ZONE, &[&zone], 1),
        (KIND_INDEX, &[&index], built.messages.len() as u64),
        (KIND_BODIES, &bodies, built.messages.len() as u64),
        (KIND_SOURCES, &[&sources], built.sources.len() as u64),
    ];
    // Layout.
    let mut head = vec![0u8; HEADER_BYTES + sections.len() * SECTION_ENTRY_BYTES];
    let mut at = head.len() + pad8(head.len());
    let mut parts: Vec<&[u8]> = Vec::with_capacity(bodies.len() + sections.len() * 2 + 2);
    const ZEROS: [u8; 8] = [0; 8];
    parts.push(&ZEROS[..pad8(head.len())]);
    for (k, (kind, pieces, items)) in sections.iter().enumerate() {
        let bytes: usize = pieces.iter().map(|p| p.len()).sum();
        let e = HEADER_BYTES + k * SECTION_ENTRY_BYTES;
        head[e..e + 4].copy_from_slice(&kind.to_le_bytes());
        head[e + 4..e + 8].copy_from_slice(&SECTION_REQUIRED.to_le_bytes());
        head[e + 8..e + 16].copy_from_slice(&(at as u64).to_le_bytes());
        head[e + 16..e + 24].copy_from_slice(&(bytes as u64).to_le_bytes());
        head[e + 24..e + 32].copy_from_slice(&items.to_le_bytes());
        parts.extend_from_slice(pieces);
        parts.push(&ZEROS[..pad8(bytes)]);
        at += bytes + pad8(bytes);
    }
    let file_bytes = at as u64;
    head[..8].copy_from_slice(&MAGIC);
    head[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    head[12..16].copy_from_slice(&(HEADER_BYTES as u32).to_le_bytes());
    head[16..24].copy_from_slice(&file_bytes.to_le_bytes());
    head[32..36].copy_from_slice(&(sections.len() as u32).to_le_bytes());
    let mut h = Xxh3::new();
    h.update(&head[CHECKSUM_FROM..]);
    for p in &parts {
        h.update(p);
    }
    head[24..32].copy_from_slice(&h.digest().to_le_bytes());

    let mut all: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
    all.push(&head);
    all.extend_from_slice(&parts);
    write_atomically(path, &all)
}

/// Writes `parts` back to back to `path` atomically: a temporary file in the same directory,
/// fsynced, renamed over `path`, then the directory fsynced. A crash leaves the old file or the
/// new one, never half of one.
pub(crate) fn write_atomically(path: &Path, parts: &[&[u8]]) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| StoreError::Io {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"),
    })?;
    static TMP_SEQ: AtomicU64 = AtomicU64::new(0);
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".tmp.{}.{}",
        std::process::id(),
        TMP_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        for p in parts {
            w.write_all(p).map_err(io_err(&tmp))?;
        }
        let file = w.into_inner().map_err(|e| io_err(&tmp)(e.into_error()))?;
        file.sync_all().map_err(io_err(&tmp))?;
        drop(file);
        fs::rename(&tmp, path).map_err(io_err(path))?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A store file, mapped and validated. `Send + Sync`: share it in an `Arc`.
pub struct Store {
    map: sys::Mapping,
    path: PathBuf,
    origin: Name,
    class: u16,
    serial: u32,
    soa_ttl: u32,
    soa_rdata: std::ops::Range<usize>,
    record_count: u64,
    rrset_count: u64,
    message_count: usize,
    index_at: usize,
    bodies_at: usize,
    bodies_len: usize,
    sources: Vec<SourceFile>,
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Store>();
};

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl Store {
    /// Maps and validates the store at `path`: header, version, checksum, every section and
    /// every index entry. The file must not be modified in place while it is open (stores are
    /// replaced by rename, see [`write_store`]).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let file = File::open(path).map_err(io_err(path))?;
        let len = file.metadata().map_err(io_err(path))?.len();
        if len < HEADER_BYTES as u64 {
            let mut head = Vec::new();
            (&file)
                .take(8)
                .read_to_end(&mut head)
                .map_err(io_err(path))?;
            return Err(if !head.is_empty() && MAGIC.starts_with(&head) {
                StoreError::Truncated {
                    path: path.to_path_buf(),
                    expected: HEADER_BYTES as u64,
                    actual: len,
                }
            } else {
                StoreError::NotAStore {
                    path: path.to_path_buf(),
                }
            });
        }
        if len > usize::MAX as u64 {
            return Err(corrupt(path, "larger than the address space"));
        }
        let map = sys::Mapping::map_readonly(&file).map_err(io_err(path))?;
        Self::validate(map, path)
    }

    fn validate(map: sys::Mapping, path: &Path) -> Result<Store, StoreError> {
        let m: &[u8] = &map;
        // The file may have shrunk between the stat and the map.
        if m.len() < HEADER_BYTES {
            return Err(StoreError::Truncated {
                path: path.to_path_buf(),
                expected: HEADER_BYTES as u64,
                actual: m.len() as u64,
            });
        }
        if m[..8] != MAGIC {
            return Err(StoreError::NotAStore {
                path: path.to_path_buf(),
            });
        }
        let version = le32(m, 8);
        if version != FORMAT_VERSION {
            return Err(StoreError::Version {
                path: path.to_path_buf(),
                found: version,
                expected: FORMAT_VERSION,
            });
        }
        if le32(m, 12) as usize != HEADER_BYTES {
            return Err(corrupt(path, "header length"));
        }
        let file_bytes = le64(m, 16);
        if file_bytes > m.len() as u64 {
            return Err(StoreError::Truncated {
                path: path.to_path_buf(),
                expected: file_bytes,
                actual: m.len() as u64,
            });
        }
        if file_bytes < (m.len() as u64) {
            return Err(corrupt(
                path,
                format!(
                    "{} bytes after the end the header gives",
                    m.len() as u64 - file_bytes
                ),
            ));
        }
        let stored = le64(m, 24);
        let computed = xxh3_64(&m[CHECKSUM_FROM..]);
        if stored != computed {
            return Err(StoreError::Checksum {
                path: path.to_path_buf(),
                stored,
                computed,
            });
        }
        // Below here the bytes are as written, but still check every bound: a writer bug or a
        // forged checksum must give an error, not a panic.
        let count = le32(m, 32) as usize;
        if count > SECTIONS_MAX || HEADER_BYTES + count * SECTION_ENTRY_BYTES > m.len() {
            return Err(corrupt(path, "section table"));
        }
        let table_end = HEADER_BYTES + count * SECTION_ENTRY_BYTES;
        let mut found: [Option<(usize, usize, u64)>; 5] = [None; 5];
        for k in 0..count {
            let e = HEADER_BYTES + k * SECTION_ENTRY_BYTES;
            let (kind, flags) = (le32(m, e), le32(m, e + 4));
            let (off, bytes, items) = (le64(m, e + 8), le64(m, e + 16), le64(m, e + 24));
            let end = off.checked_add(bytes).filter(|&end| end <= m.len() as u64);
            if end.is_none() || off < table_end as u64 || off % 8 != 0 {
                return Err(corrupt(
                    path,
                    format!("section {k} (kind {kind}) out of bounds"),
                ));
            }
            match kind {
                KIND_ZONE | KIND_INDEX | KIND_BODIES | KIND_SOURCES => {
                    let slot = &mut found[kind as usize];
                    if slot.is_some() {
                        return Err(corrupt(path, format!("section kind {kind} twice")));
                    }
                    *slot = Some((off as usize, bytes as usize, items));
                }
                _ if flags & SECTION_REQUIRED != 0 => {
                    return Err(corrupt(
                        path,
                        format!("required section kind {kind} unknown to this reader"),
                    ));
                }
                _ => {}
            }
        }
        let need = |kind: u32, name: &str| {
            found[kind as usize].ok_or_else(|| corrupt(path, format!("no {name} section")))
        };
        let (z_at, z_len, _) = need(KIND_ZONE, "zone")?;
        let (i_at, i_len, _) = need(KIND_INDEX, "index")?;
        let (b_at, b_len, _) = need(KIND_BODIES, "bodies")?;
        let (s_at, s_len, s_items) = need(KIND_SOURCES, "sources")?;

        // Zone.
        let z = &m[z_at..z_at + z_len];
        if z.len() < ZONE_FIXED_BYTES {
            return Err(corrupt(path, "zone section too short"));
        }
        let class = le16(z, 0);
        let origin_len = le16(z, 2) as usize;
        let serial = le32(z, 4);
        let soa_ttl = le32(z, 8);
        let soa_len = le32(z, 12) as usize;
        let record_count = le64(z, 16);
        let message_count = le64(z, 24);
        let body_bytes = le64(z, 32);
        let rrset_count = le64(z, 40);
        if ZONE_FIXED_BYTES + origin_len + soa_len != z.len() {
            return Err(corrupt(path, "zone section length"));
        }
        let origin = Name::from_wire(&z[ZONE_FIXED_BYTES..ZONE_FIXED_BYTES + origin_len])
            .map_err(|e| corrupt(path, format!("zone origin: {e}")))?;
        let soa_at = z_at + ZONE_FIXED_BYTES + origin_len;
        let soa = &m[soa_at..soa_at + soa_len];
        if crate::build::soa_serial(soa) != Some(serial) {
            return Err(corrupt(path, "SOA RDATA malformed or serial mismatch"));
        }

        // Index: contiguous bodies, each a plausible message.
        if message_count == 0
            || message_count.checked_mul(INDEX_ENTRY_BYTES as u64) != Some(i_len as u64)
        {
            return Err(corrupt(
                path,
                "index length does not match the message count",
            ));
        }
        if body_bytes != b_len as u64 {
            return Err(corrupt(path, "bodies length"));
        }
        let room = render::MESSAGE_BYTES_MAX - render::body_base(&origin);
        let mut next = 0u64;
        let mut answers = 0u64;
        for i in 0..message_count as usize {
            let e = i_at + i * INDEX_ENTRY_BYTES;
            let (off, blen, an) = (le64(m, e), le32(m, e + 8) as usize, le16(m, e + 12));
            // The smallest record: root owner and 10 fixed bytes.
            if off != next || blen > room || an == 0 || blen < 11 * an as usize {
                return Err(corrupt(path, format!("index entry {i}")));
            }
            next += blen as u64;
            answers += an as u64;
        }
        if next != b_len as u64 {
            return Err(corrupt(path, "index does not cover the bodies"));
        }
        // Every record once, plus the SOA again at the end.
        if answers != record_count + 1 {
            return Err(corrupt(
                path,
                "answer count does not match the record count",
            ));
        }

        // Sources.
        let s = &m[s_at..s_at + s_len];
        let sources = parse_sources(s, s_items).ok_or_else(|| corrupt(path, "sources section"))?;

        Ok(Store {
            path: path.to_path_buf(),
            origin,
            class,
            serial,
            soa_ttl,
            soa_rdata: soa_at..soa_at + soa_len,
            record_count,
            rrset_count,
            message_count: message_count as usize,
            index_at: i_at,
            bodies_at: b_at,
            bodies_len: b_len,
            sources,
            map,
        })
    }

    /// The file's checksum (header offset 24): what a journal names as the store it belongs to.
    pub fn checksum(&self) -> u64 {
        le64(&self.map, 24)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn origin(&self) -> &Name {
        &self.origin
    }
    pub fn class(&self) -> u16 {
        self.class
    }
    pub fn serial(&self) -> u32 {
        self.serial
    }
    pub fn soa_ttl(&self) -> u32 {
        self.soa_ttl
    }
    /// Uncompressed wire RDATA of the SOA.
    pub fn soa_rdata(&self) -> &[u8] {
        &self.map[self.soa_rdata.clone()]
    }
    /// Records in the zone (SOA counted once).
    pub fn record_count(&self) -> u64 {
        self.record_count
    }
    pub fn rrset_count(&self) -> u64 {
        self.rrset_count
    }
    pub fn message_count(&self) -> usize {
        self.message_count
    }
    /// Bytes of all message bodies.
    pub fn body_bytes(&self) -> u64 {
        self.bodies_len as u64
    }
    /// Size of the store file.
    pub fn file_bytes(&self) -> u64 {
        self.map.len() as u64
    }
    /// Offset of every body in its message (header plus the question for the origin).
    pub fn body_base(&self) -> usize {
        render::body_base(&self.origin)
    }

    /// Message `i` of the AXFR response; panics if `i >= message_count()`.
    pub fn message(&self, i: usize) -> StoredMessage<'_> {
        assert!(
            i < self.message_count,
            "message {i} of {}",
            self.message_count
        );
        let e = self.index_at + i * INDEX_ENTRY_BYTES;
        let (off, len, ancount) = (
            le64(&self.map, e) as usize,
            le32(&self.map, e + 8) as usize,
            le16(&self.map, e + 12),
        );
        let at = self.bodies_at + off;
        StoredMessage {
            body: &self.map[at..at + len],
            ancount,
        }
    }

    /// All messages in order.
    pub fn messages(&self) -> impl ExactSizeIterator<Item = StoredMessage<'_>> + '_ {
        (0..self.message_count).map(|i| self.message(i))
    }

    /// The files the store was compiled from.
    pub fn sources(&self) -> &[SourceFile] {
        &self.sources
    }

    /// True if the store was compiled from files and every one still has the recorded length,
    /// mtime and contents (a store built without source files never matches).
    pub fn matches_sources(&self) -> bool {
        !self.sources.is_empty() && self.sources.iter().all(SourceFile::matches)
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("origin", &self.origin)
            .field("serial", &self.serial)
            .field("records", &self.record_count)
            .field("messages", &self.message_count)
            .finish_non_exhaustive()
    }
}

fn corrupt(path: &Path, what: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

fn parse_sources(s: &[u8], items: u64) -> Option<Vec<SourceFile>> {
    if s.len() < 8 {
        return None;
    }
    let count = le32(s, 0) as u64;
    if count != items {
        return None;
    }
    let mut out = Vec::new();
    let mut at = 8usize;
    for _ in 0..count {
        let fixed = s.get(at..at.checked_add(SOURCE_FIXED_BYTES)?)?;
        let plen = le32(fixed, 0) as usize;
        let p = s.get(at + SOURCE_FIXED_BYTES..(at + SOURCE_FIXED_BYTES).checked_add(plen)?)?;
        out.push(SourceFile {
            path: PathBuf::from(std::ffi::OsStr::from_bytes(p)),
            len: le64(fixed, 8),
            mtime_ns: le64(fixed, 16) as i64,
            xxh3: le64(fixed, 24),
        });
        at += SOURCE_FIXED_BYTES + plen + pad8(plen);
    }
    (at == s.len()).then_some(out)
}
