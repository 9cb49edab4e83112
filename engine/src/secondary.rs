//! A zone transferred in becomes a store and a journal, exactly as a compiled one does.
//!
//! What it owns: [`StagedTransfer`], the [`Sink`] that proto's sans-IO transfer-in client
//! ([`xfr_proto::xfrin::XfrIn`]) streams a transfer's records into, the checks on the zone data
//! that only the holder of the old version can make (an IXFR delete of a record not held, an
//! add of one already held: RFC 1995 section 4 lets neither happen to a consistent secondary),
//! and the commit: the new version's records through
//! [`zone_store::update::update_from_records`] into `store_dir`, so the store is rendered by the
//! same parallel builder as a compiled zone and the diff from the version held joins this
//! relay's own journal (downstream secondaries then get IXFR from the relay). What it does not
//! own: sockets, timers (refresh, retry, expire), choosing a primary, and publishing the new
//! store to the cores (the zone registry in [`crate::zones`]).
//!
//! Staging: nothing is written before [`StagedTransfer::commit`], and [`XfrIn`] must have said
//! [`Progress::Done`] before it is called (a later message's TSIG may still fail a transfer
//! whose records were all seen). Dropping a staged transfer discards it; the store and journal
//! being served are untouched until the commit renames the new ones into place (crash-safe as
//! [`zone_store::update`] describes).
//!
//! Record identity is diff.rs's key ([`zone_store::diff::key`]): owner lower-cased, type, class,
//! TTL, RDATA as sent. A diff is applied to the version held as decoded from its store, where
//! the build has equalised each RRset's TTLs: a primary whose RRset held mixed TTLs deletes
//! records by TTLs this copy no longer has, and the delete is refused as "not held" (the next
//! refresh then asks again and, on refusal, an AXFR brings the zone back in line).
//!
//! Memory: what is held is the record set of the new version, one [`Record`] per record (owner
//! and RDATA boxed): the builder's working set, which the build needs anyway. The wire stream
//! is never kept: [`XfrIn`] lends each record for the call and it is copied into the set. For a
//! full zone the set is a `Vec` in stream order; for diffs, the held version's records
//! (decoded from its store, SOA excluded) in store order with an index by key (a hash and a
//! `u32` per record), which each diff edits in place.
//!
//! [`XfrIn`]: xfr_proto::xfrin::XfrIn
//! [`Progress::Done`]: xfr_proto::xfrin::Progress::Done

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::path::Path;

use xfr_proto::xfrin::{Rr, Sink, SinkError};
use zone_store::compile::{CompileError, CompileOptions};
use zone_store::diff;
use zone_store::journal::{Journal, JournalLimits, SerialPolicy};
use zone_store::name::NAME_BYTES_MAX;
use zone_store::render::decode::{walk_body, DecodeError};
use zone_store::rtype;
use zone_store::store::Store;
use zone_store::update::{journal_path, update_from_records, UpdateReport, VersionRecords};
use zone_store::{Name, Record};

/// Why a transfer in was refused or could not be committed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecondaryError {
    #[error("IXFR deletes a record not held: {owner} {rtype}")]
    DeleteNotHeld { owner: Name, rtype: TypeName },
    #[error("IXFR adds a record already held: {owner} {rtype}")]
    AddHeld { owner: Name, rtype: TypeName },
    #[error("an IXFR diff arrived, but no version of {origin} is held to apply it to")]
    NoVersionHeld { origin: Name },
    #[error("the IXFR diff starts at serial {diff_from}, the version held is serial {held}")]
    WrongBase { held: u32, diff_from: u32 },
    #[error("a record's owner is not a valid name: {0}")]
    BadOwner(#[from] zone_store::NameError),
    #[error("the SOA RDATA is malformed")]
    MalformedSoa,
    #[error("the version held does not decode (message {message}): {error}")]
    HeldCorrupt { message: usize, error: DecodeError },
    /// The transfer client called the sink out of the order it documents: a bug, not the
    /// primary's fault, but the transfer is refused all the same.
    #[error("transfer records out of order: {0}")]
    OutOfOrder(&'static str),
    #[error("nothing to commit: the transfer did not deliver a complete version ({0})")]
    Incomplete(&'static str),
    #[error(transparent)]
    Update(#[from] CompileError),
}

/// A type number shown by its mnemonic where it has one (`TYPE65000` otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeName(pub u16);

impl std::fmt::Display for TypeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match rtype::mnemonic(self.0) {
            Some(m) => f.write_str(m),
            None => write!(f, "TYPE{}", self.0),
        }
    }
}

/// Whether two records are the same by diff.rs's key (owner compared without case, type,
/// class, TTL, RDATA as sent: `Www.Example.` deletes what `www.example.` added). Called only
/// when the key hashes are equal: once per delete, and per add of a record already held.
fn same(a: &Record, b: &Record) -> bool {
    diff::key(a) == diff::key(b)
}

/// No next slot in a chain.
const CHAIN_END: u32 = u32::MAX;

/// The held version's records in store order, with an index by key: a delete empties a slot,
/// an add appends one, so the new version keeps the old one's order (records already grouped
/// in RRsets, and every unchanged stretch of the zone in the place it had). Measured with
/// `build_records` on a 1,000,000-record `xfr-zone gen` zone (release, 2 vCPUs shared with
/// other builds, 3 runs): 122-174 ms and 2210 messages in file order, 424-464 ms and 2493
/// messages in the order a hash set of the records iterates (this kept such a set at first).
#[derive(Debug)]
struct HeldRecords {
    /// `None`: deleted.
    slots: Vec<Option<Record>>,
    /// The next slot whose key has the same hash, or [`CHAIN_END`]: one chain per hash.
    next: Vec<u32>,
    /// The last slot added of each key hash's chain.
    heads: HashMap<u64, u32>,
    /// Keyed per process: a primary cannot choose records that all land in one chain.
    hasher: RandomState,
    live: usize,
}

impl HeldRecords {
    fn with_capacity(n: usize) -> HeldRecords {
        HeldRecords {
            slots: Vec::with_capacity(n),
            next: Vec::with_capacity(n),
            heads: HashMap::with_capacity(n),
            hasher: RandomState::new(),
            live: 0,
        }
    }

    /// The hash of diff.rs's key: owner lower-cased, type, class, TTL, RDATA.
    fn key_hash(&self, r: &Record) -> u64 {
        let mut h = self.hasher.build_hasher();
        let owner = r.owner.as_wire();
        let mut lower = [0u8; NAME_BYTES_MAX];
        let lower = &mut lower[..owner.len()];
        lower.copy_from_slice(owner);
        lower.make_ascii_lowercase();
        h.write(lower);
        h.write_u16(r.rtype);
        h.write_u16(r.class);
        h.write_u32(r.ttl);
        h.write(&r.rdata);
        h.finish()
    }

    /// The live slot holding `r`, if any.
    fn find(&self, hash: u64, r: &Record) -> Option<usize> {
        let mut at = *self.heads.get(&hash)?;
        while at != CHAIN_END {
            let i = at as usize;
            if self.slots[i].as_ref().is_some_and(|x| same(x, r)) {
                return Some(i);
            }
            at = self.next[i];
        }
        None
    }

    /// Adds `r`; gives it back when a record with its key is held.
    fn insert(&mut self, r: Record) -> Result<(), Record> {
        let hash = self.key_hash(&r);
        if self.find(hash, &r).is_some() {
            return Err(r);
        }
        let at = u32::try_from(self.slots.len())
            .ok()
            .filter(|&at| at != CHAIN_END)
            .expect("fewer than 2^32 records in a zone");
        self.slots.push(Some(r));
        self.next
            .push(self.heads.insert(hash, at).unwrap_or(CHAIN_END));
        self.live += 1;
        Ok(())
    }

    /// Deletes the record with `r`'s key; false when none is held.
    fn remove(&mut self, r: &Record) -> bool {
        match self.find(self.key_hash(r), r) {
            Some(i) => {
                self.slots[i] = None;
                self.live -= 1;
                true
            }
            None => false,
        }
    }

    fn into_records(self) -> impl Iterator<Item = Record> {
        self.slots.into_iter().flatten()
    }
}

fn record_of(rr: &Rr<'_>) -> Result<Record, SecondaryError> {
    Ok(Record {
        owner: Name::from_wire(rr.owner)?,
        rtype: rr.rtype,
        class: rr.class,
        ttl: rr.ttl,
        rdata: rr.rdata.into(),
    })
}

/// The serial of SOA RDATA (the first of its five trailing 32-bit fields).
fn soa_serial(rdata: &[u8]) -> Result<u32, SecondaryError> {
    let n = rdata.len();
    let field = rdata
        .get(n.wrapping_sub(20)..n.wrapping_sub(16))
        .filter(|_| n >= 22)
        .ok_or(SecondaryError::MalformedSoa)?;
    Ok(u32::from_be_bytes(field.try_into().expect("4 bytes")))
}

/// Where a diff stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Deleting,
    Adding,
    /// Between diffs (or after the last one).
    Ended,
}

#[derive(Debug)]
enum Staged {
    /// No record yet (and none will come when the primary says "up to date").
    Empty,
    /// A full zone: its records in stream order, the SOA first.
    Full { records: Vec<Record>, ended: bool },
    /// Diffs applied to the version held: every record but the SOA, and the SOA of the
    /// version the last diff leads to.
    Diffs {
        held: HeldRecords,
        soa: Option<Record>,
        phase: Phase,
        diffs: u32,
    },
}

/// The records of one transfer in, staged until it is known good; see the module docs.
#[derive(Debug)]
pub struct StagedTransfer<'a> {
    origin: Name,
    /// The version held (and its journal): IXFR diffs apply to it, the commit diffs against
    /// it.
    base: Option<(&'a Store, Option<&'a Journal>)>,
    /// Named in errors: which transfer this is ("AXFR from 192.0.2.1:53").
    from: String,
    staged: Staged,
}

impl<'a> StagedTransfer<'a> {
    /// A transfer of `origin` into a copy that holds `base` (its store and journal; `None`
    /// for a zone never transferred). `from` names the transfer in errors.
    pub fn new(
        origin: Name,
        base: Option<(&'a Store, Option<&'a Journal>)>,
        from: impl Into<String>,
    ) -> StagedTransfer<'a> {
        StagedTransfer {
            origin,
            base,
            from: from.into(),
            staged: Staged::Empty,
        }
    }

    /// Whether a complete version is staged (a full zone to its final SOA, or at least one
    /// whole diff); false after "up to date".
    pub fn is_complete(&self) -> bool {
        match &self.staged {
            Staged::Empty => false,
            Staged::Full { ended, .. } => *ended,
            Staged::Diffs { phase, diffs, .. } => *phase == Phase::Ended && *diffs > 0,
        }
    }

    /// Records staged, the SOA counted.
    pub fn records(&self) -> usize {
        match &self.staged {
            Staged::Empty => 0,
            Staged::Full { records, .. } => records.len(),
            Staged::Diffs { held, .. } => held.live + 1,
        }
    }

    /// The held version's records, SOA excluded, keyed: the set the first diff edits.
    fn held_records(&self, diff_from: u32) -> Result<HeldRecords, SecondaryError> {
        let Some((store, _)) = self.base else {
            return Err(SecondaryError::NoVersionHeld {
                origin: self.origin.clone(),
            });
        };
        if store.serial() != diff_from {
            return Err(SecondaryError::WrongBase {
                held: store.serial(),
                diff_from,
            });
        }
        let mut held = HeldRecords::with_capacity(store.record_count() as usize);
        let base = store.body_base();
        for (message, m) in store.messages().enumerate() {
            walk_body(m.body, base, m.ancount, |i, r| {
                if r.rtype != rtype::SOA {
                    // The build dropped duplicates: each key is there once.
                    let _ = held.insert(r.to_record(i)?);
                }
                Ok(())
            })
            .map_err(|error| SecondaryError::HeldCorrupt { message, error })?;
        }
        Ok(held)
    }

    fn diff_phase(
        &mut self,
        want: Phase,
        call: &'static str,
    ) -> Result<&mut HeldRecords, SecondaryError> {
        match &mut self.staged {
            Staged::Diffs { held, phase, .. } if *phase == want => Ok(held),
            _ => Err(SecondaryError::OutOfOrder(call)),
        }
    }

    /// Writes the staged version as the store of `origin` in `store_dir` (the path
    /// [`crate::zones::store_path`] names, the journal beside it), diffed against the version
    /// held into the journal, with its history condensed onto the new version. The serial is
    /// the primary's: a changed zone whose serial did not increase is refused
    /// ([`SerialPolicy::Keep`]), never renumbered, as downstream secondaries must see the
    /// primary's serials.
    pub fn commit(
        self,
        store_dir: &Path,
        opts: &CompileOptions,
        limits: &JournalLimits,
    ) -> Result<UpdateReport, SecondaryError> {
        if !self.is_complete() {
            return Err(SecondaryError::Incomplete(match self.staged {
                Staged::Empty => "no records: up to date, or nothing received",
                Staged::Full { .. } => "the full zone did not reach its final SOA",
                Staged::Diffs { .. } => "a diff did not reach its end",
            }));
        }
        let records = match self.staged {
            Staged::Empty => unreachable!("is_complete"),
            Staged::Full { records, .. } => records,
            Staged::Diffs { held, soa, .. } => {
                let soa = soa.expect("a complete diff has its new SOA");
                let mut records = Vec::with_capacity(held.live + 1);
                records.push(soa);
                records.extend(held.into_records());
                records
            }
        };
        std::fs::create_dir_all(store_dir).map_err(|source| {
            CompileError::from(zone_store::store::StoreError::Io {
                path: store_dir.to_path_buf(),
                source,
            })
        })?;
        let store_out = crate::zones::store_path(store_dir, &self.origin);
        let journal_out = journal_path(&store_out);
        let version = VersionRecords {
            records,
            from: self.from.into(),
            ..VersionRecords::default()
        };
        Ok(update_from_records(
            &self.origin,
            version,
            &store_out,
            &journal_out,
            self.base,
            opts,
            limits,
            SerialPolicy::Keep,
        )?)
    }
}

impl Sink for StagedTransfer<'_> {
    fn begin_full(&mut self, soa: &Rr<'_>) -> Result<(), SinkError> {
        if !matches!(self.staged, Staged::Empty) {
            return Err(SecondaryError::OutOfOrder("a full zone after other records").into());
        }
        self.staged = Staged::Full {
            records: vec![record_of(soa)?],
            ended: false,
        };
        Ok(())
    }

    fn record(&mut self, rr: &Rr<'_>) -> Result<(), SinkError> {
        match &mut self.staged {
            Staged::Full {
                records,
                ended: false,
            } => {
                records.push(record_of(rr)?);
                Ok(())
            }
            _ => Err(SecondaryError::OutOfOrder("a record outside a full zone").into()),
        }
    }

    fn end_full(&mut self) -> Result<(), SinkError> {
        match &mut self.staged {
            Staged::Full { ended, .. } if !*ended => {
                *ended = true;
                Ok(())
            }
            _ => Err(SecondaryError::OutOfOrder("the end of a full zone not begun").into()),
        }
    }

    fn begin_diff(&mut self, old_soa: &Rr<'_>) -> Result<(), SinkError> {
        let from = soa_serial(old_soa.rdata)?;
        if matches!(self.staged, Staged::Empty) {
            self.staged = Staged::Diffs {
                held: self.held_records(from)?,
                soa: None,
                phase: Phase::Deleting,
                diffs: 0,
            };
            return Ok(());
        }
        match &mut self.staged {
            Staged::Diffs { phase, .. } if *phase == Phase::Ended => {
                *phase = Phase::Deleting;
                Ok(())
            }
            _ => Err(SecondaryError::OutOfOrder("a diff inside another").into()),
        }
    }

    fn delete(&mut self, rr: &Rr<'_>) -> Result<(), SinkError> {
        let r = record_of(rr)?;
        let held = self.diff_phase(Phase::Deleting, "a delete outside a diff's deletions")?;
        if !held.remove(&r) {
            return Err(SecondaryError::DeleteNotHeld {
                owner: r.owner,
                rtype: TypeName(r.rtype),
            }
            .into());
        }
        Ok(())
    }

    fn begin_additions(&mut self, new_soa: &Rr<'_>) -> Result<(), SinkError> {
        let new = record_of(new_soa)?;
        soa_serial(&new.rdata)?;
        match &mut self.staged {
            Staged::Diffs { soa, phase, .. } if *phase == Phase::Deleting => {
                *soa = Some(new);
                *phase = Phase::Adding;
                Ok(())
            }
            _ => Err(SecondaryError::OutOfOrder("additions outside a diff").into()),
        }
    }

    fn add(&mut self, rr: &Rr<'_>) -> Result<(), SinkError> {
        let r = record_of(rr)?;
        let held = self.diff_phase(Phase::Adding, "an add outside a diff's additions")?;
        if let Err(r) = held.insert(r) {
            return Err(SecondaryError::AddHeld {
                owner: r.owner,
                rtype: TypeName(r.rtype),
            }
            .into());
        }
        Ok(())
    }

    fn end_diff(&mut self, _old_serial: u32, _new_serial: u32) -> Result<(), SinkError> {
        match &mut self.staged {
            Staged::Diffs { phase, diffs, .. } if *phase == Phase::Adding => {
                *phase = Phase::Ended;
                *diffs += 1;
                Ok(())
            }
            _ => Err(SecondaryError::OutOfOrder("the end of a diff not begun").into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "sec.example.";

    /// An owned record to lend to the sink as an [`Rr`].
    struct Owned(Vec<u8>, u16, u32, Vec<u8>);

    impl Owned {
        fn rr(&self) -> Rr<'_> {
            Rr {
                owner: &self.0,
                rtype: self.1,
                class: 1,
                ttl: self.2,
                rdata: &self.3,
            }
        }
    }

    fn name(text: &str) -> Vec<u8> {
        Name::parse(text, None).unwrap().as_wire().to_vec()
    }

    fn soa(serial: u32) -> Owned {
        let mut rdata = name(&format!("ns1.{ORIGIN}"));
        rdata.extend(name(&format!("hostmaster.{ORIGIN}")));
        for v in [serial, 3600, 600, 86400, 300] {
            rdata.extend(v.to_be_bytes());
        }
        Owned(name(ORIGIN), rtype::SOA, 300, rdata)
    }

    fn a(label: &str, last: u8) -> Owned {
        Owned(
            name(&format!("{label}.{ORIGIN}")),
            rtype::A,
            300,
            vec![192, 0, 2, last],
        )
    }

    fn origin() -> Name {
        Name::parse(ORIGIN, None).unwrap()
    }

    /// A full zone of hosts `h0`..`h{n}` committed into `dir`.
    fn full(dir: &Path, n: u8) -> Store {
        let mut t = StagedTransfer::new(origin(), None, "test AXFR");
        t.begin_full(&soa(1).rr()).unwrap();
        let ns = Owned(name(ORIGIN), rtype::NS, 300, name(&format!("ns1.{ORIGIN}")));
        t.record(&ns.rr()).unwrap();
        for i in 0..n {
            t.record(&a(&format!("h{i}"), i).rr()).unwrap();
        }
        assert!(!t.is_complete());
        t.end_full().unwrap();
        let report = t
            .commit(dir, &CompileOptions::default(), &JournalLimits::default())
            .unwrap();
        assert_eq!(report.compile.records, u64::from(n) + 2);
        Store::open(&crate::zones::store_path(dir, &origin())).unwrap()
    }

    #[test]
    fn a_diff_applies_to_the_held_version_and_refuses_what_is_not_held() {
        let tmp = tempfile::tempdir().unwrap();
        let store = full(tmp.path(), 10);
        assert_eq!((store.serial(), store.record_count()), (1, 12));

        // h0 deleted (owner in another case), h10 added: serial 2.
        let mut t = StagedTransfer::new(origin(), Some((&store, None)), "test IXFR");
        t.begin_diff(&soa(1).rr()).unwrap();
        let mut h0 = a("h0", 0);
        h0.0 = name(&format!("H0.{}", ORIGIN.to_uppercase()));
        t.delete(&h0.rr()).unwrap();
        t.begin_additions(&soa(2).rr()).unwrap();
        t.add(&a("h10", 10).rr()).unwrap();
        t.end_diff(1, 2).unwrap();
        assert_eq!(t.records(), 12);
        let r = t
            .commit(
                tmp.path(),
                &CompileOptions::default(),
                &JournalLimits::default(),
            )
            .unwrap();
        assert_eq!(
            r.outcome,
            zone_store::update::UpdateOutcome::Updated {
                from: 1,
                to: 2,
                added: 1,
                deleted: 1
            }
        );
        assert_eq!(r.history, 1);
        let store2 = Store::open(&crate::zones::store_path(tmp.path(), &origin())).unwrap();
        assert_eq!(store2.serial(), 2);
        // The held order kept, the record added last.
        let mut owners = Vec::new();
        for m in store2.messages() {
            walk_body(m.body, store2.body_base(), m.ancount, |_, r| {
                if r.rtype == rtype::A {
                    owners.push(Name::from_wire(r.owner).unwrap().to_string());
                }
                Ok(())
            })
            .unwrap();
        }
        let want: Vec<String> = (1..=10).map(|i| format!("h{i}.{ORIGIN}")).collect();
        assert_eq!(owners, want);

        // Deleting a record not held, adding one held, a diff from another serial: refused.
        let refuse = |f: &dyn Fn(&mut StagedTransfer<'_>) -> Result<(), SinkError>| {
            let mut t = StagedTransfer::new(origin(), Some((&store2, None)), "test IXFR");
            f(&mut t).unwrap_err().to_string()
        };
        let e = refuse(&|t| {
            t.begin_diff(&soa(2).rr())?;
            t.delete(&a("h0", 0).rr())
        });
        assert_eq!(e, format!("IXFR deletes a record not held: h0.{ORIGIN} A"));
        let e = refuse(&|t| {
            t.begin_diff(&soa(2).rr())?;
            t.begin_additions(&soa(3).rr())?;
            t.add(&a("h1", 1).rr())
        });
        assert_eq!(e, format!("IXFR adds a record already held: h1.{ORIGIN} A"));
        let e = refuse(&|t| t.begin_diff(&soa(1).rr()));
        assert!(
            e.contains("starts at serial 1, the version held is serial 2"),
            "{e}"
        );
        // Out of order calls, and a commit of nothing.
        assert!(refuse(&|t| t.record(&a("h1", 1).rr())).contains("out of order"));
        let t = StagedTransfer::new(origin(), Some((&store2, None)), "up to date");
        assert!(matches!(
            t.commit(
                tmp.path(),
                &CompileOptions::default(),
                &JournalLimits::default()
            ),
            Err(SecondaryError::Incomplete(_))
        ));
    }
}
