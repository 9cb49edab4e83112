//! A zone transferred in becomes a store and journal exactly as a compiled one does: knotd as a
//! journaled primary (`zonefile-load: difference`), proto's [`XfrIn`] driven by the tests'
//! blocking loop ([`xfrin_transfer`]), the engine's [`StagedTransfer`] as its sink, committed
//! into a store folder.
//!
//! Checked: the AXFR's store holds exactly the primary's zone file (both sides rendered by
//! named-checkzone, the store read back by `xfr-zone dump --generic`); after a change at
//! knotd, an IXFR from the serial held gives a store that holds exactly the new file and a
//! journal with one version whose diff is the change; `xfrd serve` on that store folder answers
//! `dig IXFR=<old serial>` incrementally (a relay's downstream secondaries get IXFR from it)
//! and its AXFR equals the new file. A diff that deletes a record not held (the sink driven
//! directly, as a primary would through [`XfrIn`]) is refused and leaves the store and journal
//! as they were; a transfer dropped before its commit writes nothing.
//!
//! Here xfrd is given a zone whose `file` does not exist: it then serves the store it finds in
//! `store_dir`, as it does when a zone file goes missing after a restart (logged as an error),
//! which is exactly the store and journal the transfer wrote. The engine's own secondary zones
//! (`primaries`, its refresh driver) are tested in secondary_zone.rs.
//!
//! knotd, named-checkzone and dig are required under CI=true (a missing one fails the test);
//! elsewhere a missing one skips the test, loudly.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use xfr_proto::xfrin::{Kind, Rr, Shape, Sink, SinkError};
use xfrd::secondary::StagedTransfer;
use xfrd::zones::store_path;
use xfrd_tests::peers::{self, Peer, PeerServer, Role};
use xfrd_tests::{
    canonical_zone, diff_summary, dig, free_port, normalize_lines, require_program, txt_zone,
    workspace_bin, xfrd_from_config, xfrin_transfer,
};
use zone_store::compile::CompileOptions;
use zone_store::journal::{Journal, JournalLimits};
use zone_store::store::Store;
use zone_store::update::{journal_path, UpdateOutcome};
use zone_store::Name;

const IP: &str = "127.0.0.1";
const ZONE: &str = "relay.test.";

fn origin() -> Name {
    Name::parse(ZONE, None).unwrap()
}

/// Every program the test drives, or `None` (skip) outside CI when one is missing.
fn programs() -> Option<()> {
    for p in ["knotd", "named-checkzone", "dig"] {
        require_program(p)?;
    }
    Some(())
}

/// The store's records, printed by `xfr-zone dump --generic` and read back by
/// named-checkzone: comparable with [`canonical_zone`] of a zone file.
fn canonical_store(store: &Path, scratch: &Path) -> BTreeSet<String> {
    let out = Command::new(workspace_bin("xfr-zone"))
        .args(["dump", "--generic"])
        .arg(store)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xfr-zone dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = scratch.join("dump.zone");
    std::fs::write(&file, out.stdout).unwrap();
    canonical_zone(ZONE, &file).unwrap()
}

fn assert_holds(store: &Path, zonefile: &Path, scratch: &Path) {
    let want = canonical_zone(ZONE, zonefile).unwrap();
    let have = canonical_store(store, scratch);
    assert!(want.len() > 40, "{} records", want.len());
    assert!(want == have, "{}", diff_summary(&want, &have));
}

/// Version 2 of the zone: r48 and r49 deleted, x0..x2 added.
fn version_2() -> String {
    let mut t = txt_zone(ZONE, 2, 48, "v1");
    for i in 0..3 {
        t.push_str(&format!("x{i} TXT \"added {i} in version 2\"\n"));
    }
    t
}

fn knotd(v1: &Path, dir: &Path) -> PeerServer {
    let role = Role::JournaledPrimary { zonefile: v1 };
    peers::start(Peer::Knot, IP, free_port(IP), ZONE, role, dir)
        .unwrap_or_else(|e| panic!("knotd as primary: {e:#}"))
        .expect("programs() checked knotd")
}

#[test]
fn axfr_then_ixfr_from_knotd_become_a_store_and_journal_that_xfrd_serves_ixfr_from() {
    if programs().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let v1 = tmp.path().join("v1.zone");
    std::fs::write(&v1, txt_zone(ZONE, 1, 50, "v1")).unwrap();
    let mut p = knotd(&v1, &tmp.path().join("knotd"));
    let stores = tmp.path().join("stores");
    let (opts, limits) = (CompileOptions::default(), JournalLimits::default());
    let spath = store_path(&stores, &origin());

    // AXFR into an empty store folder.
    let mut staged = StagedTransfer::new(origin(), None, format!("AXFR from {IP}:{}", p.port));
    let o = xfrin_transfer(IP, p.port, ZONE, Kind::Axfr, None, &mut staged)
        .unwrap()
        .unwrap_or_else(|e| panic!("AXFR: {e}\n{}", p.proc.log_text()));
    assert_eq!((o.shape, o.serial), (Shape::Full, 1));
    assert!(!spath.exists(), "nothing is written before the commit");
    let r = staged.commit(&stores, &opts, &limits).unwrap();
    assert_eq!((r.outcome, r.history), (UpdateOutcome::Initial, 0));
    assert!(r.compile.sources.is_empty());
    assert_holds(&spath, &v1, tmp.path());
    let held = Store::open(&spath).unwrap();
    assert_eq!(held.serial(), 1);

    // A change at the primary; IXFR from the serial held.
    p.reload_zone(ZONE, &version_2(), 2).unwrap();
    let mut staged = StagedTransfer::new(
        origin(),
        Some((&held, None)),
        format!("IXFR from {IP}:{}", p.port),
    );
    let o = xfrin_transfer(
        IP,
        p.port,
        ZONE,
        Kind::Ixfr { serial: 1 },
        None,
        &mut staged,
    )
    .unwrap()
    .unwrap_or_else(|e| panic!("IXFR: {e}\n{}", p.proc.log_text()));
    assert_eq!((o.shape, o.serial, o.diffs), (Shape::Incremental, 2, 1));
    let started = std::time::Instant::now();
    let r = staged.commit(&stores, &opts, &limits).unwrap();
    eprintln!(
        "IXFR 1 -> 2 committed in {:?}: {:?}",
        started.elapsed(),
        r.outcome
    );
    assert_eq!(
        (r.outcome, r.history),
        (
            UpdateOutcome::Updated {
                from: 1,
                to: 2,
                added: 3,
                deleted: 2
            },
            1
        )
    );
    drop(held);
    assert_holds(&spath, &p.zonefile(ZONE), tmp.path());
    let store = Store::open(&spath).unwrap();
    let journal = Journal::open(&journal_path(&spath), &store).unwrap();
    assert_eq!((journal.versions(), journal.version(0).serial), (1, 1));
    let (_, d) = journal.diff(0).unwrap();
    let owners = |v: &[zone_store::Record]| -> BTreeSet<String> {
        v.iter().map(|r| r.owner.to_string()).collect()
    };
    assert_eq!(
        owners(&d.deleted),
        ["r48", "r49"].map(|l| format!("{l}.{ZONE}")).into()
    );
    assert_eq!(
        owners(&d.added),
        ["x0", "x1", "x2"].map(|l| format!("{l}.{ZONE}")).into()
    );
    drop((journal, store));

    // xfrd serving that store folder answers IXFR from serial 1 with the diff.
    let port = free_port(IP);
    let conf = tmp.path().join("xfrd.toml");
    std::fs::write(
        &conf,
        format!(
            "listen = [\"{IP}:{port}\"]\ncores = 1\nstore_dir = \"{}\"\n\
             [[zone]]\norigin = \"{ZONE}\"\nfile = \"{}\"\n",
            stores.display(),
            tmp.path().join("no-such-file.zone").display()
        ),
    )
    .unwrap();
    let x = xfrd_from_config(&conf, tmp.path().join("xfrd.log"), port, ZONE).unwrap();
    let at = format!("@{IP}");
    let ps = port.to_string();
    let ixfr = dig(&[&at, "-p", &ps, ZONE, "IXFR=1", "+nocmd", "+nostats"]).unwrap();
    // Incremental (RFC 1995 section 4): SOA 2, SOA 1, the 2 deleted, SOA 2, the 3 added, SOA
    // 2; as a set of lines, the two SOAs and the five records (an AXFR-style answer: 53).
    let lines = normalize_lines(&ixfr);
    assert_eq!(lines.len(), 7, "{ixfr}\n{}", x.log_text());
    let soa_1 = lines
        .iter()
        .filter(|l| l.contains(" SOA "))
        .any(|l| l.split_whitespace().nth(6) == Some("1"));
    assert!(soa_1, "{ixfr}");
    for l in ["r48", "r49", "x0", "x1", "x2"] {
        let owner = format!("{l}.{ZONE} ");
        assert!(lines.iter().any(|r| r.starts_with(&owner)), "{l} in {ixfr}");
    }
    let axfr = xfrd_tests::axfr_canonical(IP, port, ZONE, tmp.path()).unwrap();
    let want = canonical_zone(ZONE, &p.zonefile(ZONE)).unwrap();
    assert!(axfr == want, "{}", diff_summary(&want, &axfr));
}

/// An owned record lent to the sink as an [`Rr`].
struct Owned {
    owner: Vec<u8>,
    rtype: u16,
    rdata: Vec<u8>,
}

impl Owned {
    fn rr(&self) -> Rr<'_> {
        Rr {
            owner: &self.owner,
            rtype: self.rtype,
            class: 1,
            ttl: 300,
            rdata: &self.rdata,
        }
    }
}

/// The zone's SOA at `serial`, as [`txt_zone`] writes it.
fn soa(serial: u32) -> Owned {
    let wire = |n: &str| Name::parse(n, None).unwrap().as_wire().to_vec();
    let mut rdata = wire(&format!("ns1.{ZONE}"));
    rdata.extend(wire(&format!("hostmaster.{ZONE}")));
    for v in [serial, 3600, 600, 86400, 300] {
        rdata.extend(v.to_be_bytes());
    }
    Owned {
        owner: wire(ZONE),
        rtype: 6,
        rdata,
    }
}

fn txt(label: &str, text: &str) -> Owned {
    Owned {
        owner: Name::parse(&format!("{label}.{ZONE}"), None)
            .unwrap()
            .as_wire()
            .to_vec(),
        rtype: 16,
        rdata: [&[text.len() as u8][..], text.as_bytes()].concat(),
    }
}

#[test]
fn a_diff_deleting_a_record_not_held_is_refused_and_the_store_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let stores = tmp.path().join("stores");
    let (opts, limits) = (CompileOptions::default(), JournalLimits::default());
    let spath = store_path(&stores, &origin());
    let jpath = journal_path(&spath);

    // Versions 1 and 2 committed (r0..r9, then r9 deleted and n0 added): a store and journal.
    let mut staged = StagedTransfer::new(origin(), None, "AXFR");
    staged.begin_full(&soa(1).rr()).unwrap();
    for i in 0..10 {
        staged
            .record(&txt(&format!("r{i}"), &format!("record {i}")).rr())
            .unwrap();
    }
    staged.end_full().unwrap();
    staged.commit(&stores, &opts, &limits).unwrap();
    let v1 = Store::open(&spath).unwrap();
    let mut staged = StagedTransfer::new(origin(), Some((&v1, None)), "IXFR");
    staged.begin_diff(&soa(1).rr()).unwrap();
    staged.delete(&txt("r9", "record 9").rr()).unwrap();
    staged.begin_additions(&soa(2).rr()).unwrap();
    staged.add(&txt("n0", "new").rr()).unwrap();
    staged.end_diff(1, 2).unwrap();
    staged.commit(&stores, &opts, &limits).unwrap();
    drop(v1);
    let (store_bytes, journal_bytes) = (
        std::fs::read(&spath).unwrap(),
        std::fs::read(&jpath).unwrap(),
    );
    let v2 = Store::open(&spath).unwrap();
    let journal = Journal::open(&jpath, &v2).unwrap();

    let refused = |e: SinkError, why: &str, label: &str| {
        assert_eq!(e.to_string(), format!("IXFR {why}: {label}.{ZONE} TXT"));
    };
    // A diff from 2, staged on version 2 and its journal.
    let from_2 = || {
        let mut staged = StagedTransfer::new(origin(), Some((&v2, Some(&journal))), "IXFR");
        staged.begin_diff(&soa(2).rr()).unwrap();
        staged
    };
    // A diff to 3 that deletes r9 again (not held): refused at that record.
    let mut staged = from_2();
    staged.delete(&txt("r0", "record 0").rr()).unwrap();
    let e = staged.delete(&txt("r9", "record 9").rr()).unwrap_err();
    refused(e, "deletes a record not held", "r9");
    drop(staged);
    // A diff with the same content in another case is held, but an add of one held is not.
    let mut staged = from_2();
    let mut upper = txt("R1", "record 1");
    upper.owner.make_ascii_uppercase();
    staged.delete(&upper.rr()).unwrap();
    staged.begin_additions(&soa(3).rr()).unwrap();
    let e = staged.add(&txt("n0", "new").rr()).unwrap_err();
    refused(e, "adds a record already held", "n0");
    drop(staged);
    // A complete diff dropped before its commit.
    let mut staged = from_2();
    staged.begin_additions(&soa(3).rr()).unwrap();
    staged.add(&txt("n1", "newer").rr()).unwrap();
    staged.end_diff(2, 3).unwrap();
    assert!(staged.is_complete());
    drop(staged);

    // Nothing written: the store and journal of version 2, byte for byte, and nothing beside.
    assert_eq!(std::fs::read(&spath).unwrap(), store_bytes);
    assert_eq!(std::fs::read(&jpath).unwrap(), journal_bytes);
    let mut files: Vec<_> = std::fs::read_dir(&stores)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["relay.test.journal", "relay.test.store"]);
    assert_eq!(Store::open(&spath).unwrap().serial(), 2);
}
