//! The IXFR journal end to end: compile_update writes a store and a journal whose diffs decode to
//! exactly the IXFR layout (current SOA, old SOA, deleted, current SOA, added, current SOA) and
//! lead from each kept version to the current records; the history is condensed and bounded;
//! a serial that did not increase writes nothing (or is incremented under that policy); and
//! truncated, bit-flipped, foreign and stale journals are refused with clear errors.

use std::collections::BTreeSet;
use std::path::Path;

use zone_store::compile::{CompileError, CompileOptions};
use zone_store::journal::{Journal, JournalError, JournalLimits, SerialPolicy};
use zone_store::render::{body_base, decode::decode_body};
use zone_store::store::Store;
use zone_store::update::{compile_update, journal_path, UpdateOutcome};
use zone_store::{Name, Record};

const ORIGIN: &str = "j.example.";

fn zone(serial: u32, hosts: impl IntoIterator<Item = u32>, extra: &str) -> String {
    let mut t = format!(
        "$ORIGIN {ORIGIN}\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\n"
    );
    for i in hosts {
        t.push_str(&format!("h{i} A 10.0.{}.{}\n", i / 256, i % 256));
    }
    t.push_str(extra);
    t
}

struct Dir {
    _tmp: tempfile::TempDir,
    file: std::path::PathBuf,
    store: std::path::PathBuf,
    journal: std::path::PathBuf,
}

fn dir() -> Dir {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("z.db");
    let store = tmp.path().join("j.example.store");
    let journal = journal_path(&store);
    Dir {
        _tmp: tmp,
        file,
        store,
        journal,
    }
}

fn origin() -> Name {
    Name::parse(ORIGIN, None).unwrap()
}

/// Writes `text` and updates from what is at the paths (none the first time).
fn update(
    d: &Dir,
    text: &str,
    limits: &JournalLimits,
    policy: SerialPolicy,
) -> Result<UpdateOutcome, CompileError> {
    std::fs::write(&d.file, text).unwrap();
    let old = Store::open(&d.store).ok();
    let journal = old.as_ref().and_then(|s| Journal::open(&d.journal, s).ok());
    let previous = old.as_ref().map(|s| (s, journal.as_ref()));
    compile_update(
        &d.file,
        &origin(),
        &d.store,
        &d.journal,
        previous,
        &CompileOptions::default(),
        limits,
        policy,
    )
    .map(|r| r.outcome)
}

fn text(r: &Record) -> String {
    format!(
        "{} {} {} {:?}",
        r.owner.to_string().to_lowercase(),
        r.rtype,
        r.ttl,
        r.rdata
    )
}

fn store_records(s: &Store) -> BTreeSet<String> {
    let base = body_base(s.origin());
    let mut all: Vec<Record> = Vec::new();
    for m in s.messages() {
        all.extend(decode_body(m.body, base, m.ancount).unwrap());
    }
    all.iter().filter(|r| r.rtype != 6).map(text).collect()
}

/// The records of version `v`'s IXFR, split at the SOAs.
fn ixfr_parts(j: &Journal, v: usize) -> (Vec<Record>, Vec<Record>, Vec<Record>) {
    let base = body_base(j.origin());
    let mut all = Vec::new();
    for i in 0..j.message_count(v) {
        let m = j.message(v, i);
        all.extend(decode_body(m.body, base, m.ancount).unwrap());
    }
    let soas: Vec<usize> = (0..all.len()).filter(|&i| all[i].rtype == 6).collect();
    assert_eq!(soas.len(), 4, "current, old, current, current");
    assert_eq!((soas[0], soas[1]), (0, 1));
    assert_eq!(soas[3], all.len() - 1);
    let deleted = all[2..soas[2]].to_vec();
    let added = all[soas[2] + 1..soas[3]].to_vec();
    (all[..2].to_vec(), deleted, added)
}

#[test]
fn diffs_are_condensed_bounded_and_decode_to_the_ixfr_layout() {
    let d = dir();
    let lim = JournalLimits::default();
    let keep = SerialPolicy::Keep;
    assert_eq!(
        update(&d, &zone(1, 0..100, ""), &lim, keep).unwrap(),
        UpdateOutcome::Initial
    );
    assert!(!d.journal.exists());
    let v1 = store_records(&Store::open(&d.store).unwrap());
    // v2: h0-h9 deleted, h100-h104 added; v3: h0-h4 back, h100-h101 deleted again, a TXT.
    update(&d, &zone(2, 10..105, ""), &lim, keep).unwrap();
    let v3_hosts = || (0..5).chain(10..100).chain(102..105);
    let v3_text = zone(3, v3_hosts(), "t TXT \"three\"\n");
    let out = update(&d, &v3_text, &lim, keep).unwrap();
    assert!(
        matches!(out, UpdateOutcome::Updated { from: 2, to: 3, .. }),
        "{out:?}"
    );
    let store = Store::open(&d.store).unwrap();
    let j = Journal::open(&d.journal, &store).unwrap();
    assert_eq!(j.versions(), 2);
    assert_eq!(j.current_serial(), 3);
    let v = j.find(1).expect("version 1 in the history");
    let (soas, deleted, added) = ixfr_parts(&j, v);
    assert_eq!(
        soas[1].rdata[soas[1].rdata.len() - 20..][..4],
        1u32.to_be_bytes()
    );
    // Condensed 1 -> 3: h5-h9 deleted, h102-h104 and t added; h0-h4 and h100/h101 not at all.
    let del: BTreeSet<String> = deleted.iter().map(text).collect();
    let add: BTreeSet<String> = added.iter().map(text).collect();
    assert_eq!(del.len(), 5, "{del:?}");
    assert_eq!(add.len(), 4, "{add:?}");
    let mut applied: BTreeSet<String> = v1.difference(&del).cloned().collect();
    applied.extend(add);
    assert_eq!(applied, store_records(&store), "1 + condensed diff = 3");
    assert_eq!(j.version(v).deleted, 5);
    assert!(j.version(v).wire_bytes > 0);

    // max_versions = 2: after two more versions only the newest two remain.
    let lim2 = JournalLimits {
        max_versions: 2,
        ..lim
    };
    update(&d, &zone(4, v3_hosts(), "t TXT \"four\"\n"), &lim2, keep).unwrap();
    update(&d, &zone(5, v3_hosts(), "t TXT \"five\"\n"), &lim2, keep).unwrap();
    let store = Store::open(&d.store).unwrap();
    let j = Journal::open(&d.journal, &store).unwrap();
    let serials: Vec<u32> = (0..j.versions()).map(|v| j.version(v).serial).collect();
    assert_eq!(serials, vec![3, 4]);
    // A byte bound below any diff leaves no history (and no journal file).
    let tiny = JournalLimits {
        max_bytes: Some(10),
        ..lim
    };
    update(&d, &zone(6, v3_hosts(), "t TXT \"six\"\n"), &tiny, keep).unwrap();
    assert!(!d.journal.exists());
}

#[test]
fn a_serial_that_did_not_increase_writes_nothing_or_is_incremented() {
    let d = dir();
    let lim = JournalLimits::default();
    update(&d, &zone(10, 0..50, ""), &lim, SerialPolicy::Keep).unwrap();
    update(&d, &zone(11, 0..60, ""), &lim, SerialPolicy::Keep).unwrap();
    let store_before = std::fs::read(&d.store).unwrap();
    let journal_before = std::fs::read(&d.journal).unwrap();
    let e = update(&d, &zone(11, 0..70, ""), &lim, SerialPolicy::Keep).unwrap_err();
    assert!(
        matches!(
            e,
            CompileError::SerialNotIncreased {
                old: 11,
                new: 11,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("z.db"), "names the file: {e}");
    let e = update(&d, &zone(5, 0..70, ""), &lim, SerialPolicy::Keep).unwrap_err();
    assert!(
        matches!(
            e,
            CompileError::SerialNotIncreased {
                old: 11,
                new: 5,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(std::fs::read(&d.store).unwrap(), store_before);
    assert_eq!(std::fs::read(&d.journal).unwrap(), journal_before);
    // The same records and serial (a touched file): unchanged, history kept.
    let out = update(&d, &zone(11, 0..60, ""), &lim, SerialPolicy::Keep).unwrap();
    assert_eq!(out, UpdateOutcome::Unchanged);
    let store = Store::open(&d.store).unwrap();
    assert_eq!(Journal::open(&d.journal, &store).unwrap().versions(), 1);
    // Increment: 11 + 1, whatever the file says.
    let out = update(&d, &zone(11, 0..70, ""), &lim, SerialPolicy::Increment).unwrap();
    assert!(
        matches!(
            out,
            UpdateOutcome::Updated {
                from: 11,
                to: 12,
                added: 10,
                deleted: 0
            }
        ),
        "{out:?}"
    );
    let store = Store::open(&d.store).unwrap();
    assert_eq!(store.serial(), 12);
    let j = Journal::open(&d.journal, &store).unwrap();
    assert_eq!(j.current_serial(), 12);
    assert!(j.find(10).is_some() && j.find(11).is_some());
}

fn expect_err(path: &Path, store: &Store, what: &str) -> JournalError {
    match Journal::open(path, store) {
        Ok(_) => panic!("{what}: opened"),
        Err(e) => e,
    }
}

#[test]
fn bad_journals_are_refused_with_clear_errors() {
    let d = dir();
    let lim = JournalLimits::default();
    update(&d, &zone(1, 0..50, ""), &lim, SerialPolicy::Keep).unwrap();
    update(&d, &zone(2, 0..60, ""), &lim, SerialPolicy::Keep).unwrap();
    let store = Store::open(&d.store).unwrap();
    let good = std::fs::read(&d.journal).unwrap();
    let bad = d.journal.with_extension("bad");

    for cut in [0, 5, 40, 63, 64, good.len() / 2, good.len() - 1] {
        std::fs::write(&bad, &good[..cut]).unwrap();
        let e = expect_err(&bad, &store, "truncated");
        assert!(
            matches!(
                e,
                JournalError::Truncated { .. }
                    | JournalError::NotAJournal { .. }
                    | JournalError::Corrupt { .. }
            ),
            "cut at {cut}: {e}"
        );
    }
    for at in [9, 20, 70, good.len() - 3] {
        let mut flipped = good.clone();
        flipped[at] ^= 0x40;
        std::fs::write(&bad, &flipped).unwrap();
        let e = expect_err(&bad, &store, "bit flip");
        assert!(e.to_string().contains("journal"), "{e}");
    }
    std::fs::write(
        &bad,
        b"not a journal at all, just text that is long enough for a header",
    )
    .unwrap();
    assert!(matches!(
        expect_err(&bad, &store, "text"),
        JournalError::NotAJournal { .. }
    ));

    // Another zone's store.
    let other = dir();
    std::fs::write(
        &other.file,
        zone(2, 0..60, "").replace(ORIGIN, "k.example."),
    )
    .unwrap();
    let k = Name::parse("k.example.", None).unwrap();
    zone_store::compile::compile(&other.file, &k, &other.store, &CompileOptions::default())
        .unwrap();
    let k_store = Store::open(&other.store).unwrap();
    let e = expect_err(&d.journal, &k_store, "other zone");
    assert!(matches!(e, JournalError::Mismatch { .. }), "{e}");
    assert!(e.to_string().contains("zone j.example."), "{e}");

    // A newer store than the journal leads to (a crash between the two renames).
    let stale = std::fs::read(&d.journal).unwrap();
    update(&d, &zone(3, 0..70, ""), &lim, SerialPolicy::Keep).unwrap();
    std::fs::write(&bad, stale).unwrap();
    let store3 = Store::open(&d.store).unwrap();
    let e = expect_err(&bad, &store3, "stale");
    assert!(matches!(e, JournalError::Mismatch { .. }), "{e}");
}
