//! Transfer in (proto's sans-IO [`XfrIn`]) against real primaries: knotd, nsd and named serve
//! a zone with TSIG required, and a small blocking TCP loop written here (test-only: the engine
//! will drive the same machine from its ring) feeds their answers to the state machine.
//!
//! Checked: an AXFR of a generated zone and of the example zone yields exactly the zone file's
//! records (both sides rendered by named-checkzone, ours from RFC 3597 generic records), every
//! message signed; an unsigned query is refused with a named RCODE; an IXFR after a change at
//! a journaled primary (knotd `zonefile-load: difference`, named `ixfr-from-differences`)
//! yields exactly the diff, then "up to date", and after a second change an IXFR from the
//! first version that, applied to it, gives what an AXFR of the third gives (both peers send
//! the chain of two diffs); an IXFR to a primary without history (knotd with
//! `journal-content: none`, nsd 4.6, named without `ixfr-from-differences`) comes back
//! AXFR-style and yields the whole zone.
//!
//! Every peer program and named-checkzone are required under CI=true (a missing one fails the
//! test); elsewhere a missing one skips its part, loudly.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use xfr_proto::message::{text_to_wire, DisplayName};
use xfr_proto::tsig::Key;
use xfr_proto::xfrin::{Kind, Outcome, Rr, Shape, Sink, SinkError, XfrInError};
use xfrd_tests::peers::{self, Peer, PeerOptions, PeerServer, Role, TsigSpec};
use xfrd_tests::{
    canonical_zone, diff_summary, free_port, generated_zone, require_program, txt_zone,
};

const IP: &str = "127.0.0.1";
fn tsig_spec() -> TsigSpec {
    TsigSpec {
        name: "xfr-key.".into(),
        algorithm: "hmac-sha256".into(),
        // 32 bytes, base64.
        secret: "eGZyaW4tdGVzdC1zZWNyZXQtb2YtMzItYnl0ZXMhIQ==".into(),
    }
}

fn key() -> Key {
    let s = tsig_spec();
    Key::from_text(&s.name, &s.algorithm, &s.secret).unwrap()
}

/// What a transfer delivered: a full zone (its SOA first) or diffs.
#[derive(Debug, Default)]
struct Collected {
    full: Vec<Vec<u8>>,
    diffs: Vec<Diff>,
    ended_full: bool,
}

#[derive(Debug, Default)]
struct Diff {
    old_soa: Vec<u8>,
    new_soa: Vec<u8>,
    deleted: Vec<Vec<u8>>,
    added: Vec<Vec<u8>>,
    serials: Option<(u32, u32)>,
}

fn wire(rr: &Rr<'_>) -> Vec<u8> {
    let mut v = Vec::new();
    rr.write_wire(&mut v);
    v
}

impl Sink for Collected {
    fn begin_full(&mut self, soa: &Rr<'_>) -> Result<(), SinkError> {
        self.full.push(wire(soa));
        Ok(())
    }
    fn record(&mut self, rr: &Rr<'_>) -> Result<(), SinkError> {
        self.full.push(wire(rr));
        Ok(())
    }
    fn end_full(&mut self) -> Result<(), SinkError> {
        self.ended_full = true;
        Ok(())
    }
    fn begin_diff(&mut self, old_soa: &Rr<'_>) -> Result<(), SinkError> {
        self.diffs.push(Diff {
            old_soa: wire(old_soa),
            ..Diff::default()
        });
        Ok(())
    }
    fn delete(&mut self, rr: &Rr<'_>) -> Result<(), SinkError> {
        self.diffs.last_mut().unwrap().deleted.push(wire(rr));
        Ok(())
    }
    fn begin_additions(&mut self, new_soa: &Rr<'_>) -> Result<(), SinkError> {
        self.diffs.last_mut().unwrap().new_soa = wire(new_soa);
        Ok(())
    }
    fn add(&mut self, rr: &Rr<'_>) -> Result<(), SinkError> {
        self.diffs.last_mut().unwrap().added.push(wire(rr));
        Ok(())
    }
    fn end_diff(&mut self, old_serial: u32, new_serial: u32) -> Result<(), SinkError> {
        self.diffs.last_mut().unwrap().serials = Some((old_serial, new_serial));
        Ok(())
    }
}

/// One transfer over one TCP connection, driven to its end ([`xfrd_tests::xfrin_transfer`]).
fn transfer(
    port: u16,
    zone: &str,
    kind: Kind,
    key: Option<&Key>,
) -> Result<(Collected, Result<Outcome, XfrInError>)> {
    let mut sink = Collected::default();
    let result = xfrd_tests::xfrin_transfer(IP, port, zone, kind, key, &mut sink)?;
    Ok((sink, result))
}

/// The records as a zone file of RFC 3597 generic records, read back by named-checkzone: the
/// same canonical text as the zone file the primary loaded.
fn canonical_of(zone: &str, records: &[Vec<u8>], scratch: &Path) -> Result<BTreeSet<String>> {
    let mut text = String::new();
    for r in records {
        text.push_str(&generic_line(r));
        text.push('\n');
    }
    let file = scratch.join(format!("xfrin-{}.zone", records.len()));
    std::fs::write(&file, text)?;
    canonical_zone(zone, &file)
}

/// One uncompressed wire record as `owner TTL CLASS1 TYPEn \# len hex`.
fn generic_line(r: &[u8]) -> String {
    let mut at = 0;
    while r[at] != 0 {
        at += 1 + r[at] as usize;
    }
    let owner = DisplayName(&r[..=at]).to_string();
    let f = &r[at + 1..];
    let rtype = u16::from_be_bytes([f[0], f[1]]);
    let class = u16::from_be_bytes([f[2], f[3]]);
    let ttl = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
    let rdata = &f[10..];
    let hex: String = rdata.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{owner} {ttl} CLASS{class} TYPE{rtype} \\# {} {hex}",
        rdata.len()
    )
}

/// A scratch folder, when named-checkzone (which every comparison here goes through) is
/// installed; `None` (skip) outside CI when it is not.
fn scratch() -> Option<tempfile::TempDir> {
    require_program("named-checkzone")?;
    Some(tempfile::tempdir().unwrap())
}

/// [`txt_zone`] written to a file in `dir`.
fn txt_file(dir: &Path, zone: &str, serial: u32, records: usize, tag: &str) -> PathBuf {
    let file = dir.join(format!("{zone}{serial}.zone"));
    std::fs::write(&file, txt_zone(zone, serial, records, tag)).unwrap();
    file
}

/// A primary of `zone` from `zonefile`, transfers signed with [`tsig_spec`]; `None` when the
/// peer is missing outside CI.
fn primary(
    peer: Peer,
    zone: &str,
    zonefile: &Path,
    journaled: bool,
    dir: &Path,
) -> Option<PeerServer> {
    let opts = PeerOptions {
        tsig: Some(tsig_spec()),
        ..PeerOptions::default()
    };
    let role = if journaled {
        Role::JournaledPrimary { zonefile }
    } else {
        Role::Primary { zonefile }
    };
    peers::start_with(
        peer,
        IP,
        free_port(IP),
        zone,
        role,
        &dir.join(peer.program()),
        &opts,
    )
    .unwrap_or_else(|e| panic!("{peer:?} as primary: {e:#}"))
}

/// A full transfer's records equal the zone file's, and every message was signed.
fn check_full(
    peer: Peer,
    zone: &str,
    zonefile: &Path,
    got: &Collected,
    o: &Outcome,
    scratch: &Path,
) {
    assert_eq!(o.shape, Shape::Full, "{peer:?}");
    assert!(got.ended_full && got.diffs.is_empty(), "{peer:?}");
    assert_eq!(
        o.messages_signed,
        u64::from(o.messages),
        "{peer:?}: every message signed"
    );
    let want = canonical_zone(zone, zonefile).unwrap();
    let have = canonical_of(zone, &got.full, scratch).unwrap();
    assert!(want.len() > 3, "{peer:?}: {} records", want.len());
    assert!(want == have, "{peer:?}: {}", diff_summary(&want, &have));
}

#[test]
fn axfr_from_each_peer_with_tsig_on_every_message() {
    let Some(tmp) = scratch() else {
        return;
    };
    let zone = "xfrin.test.";
    let generated = generated_zone(zone, 3000, 14, tmp.path());
    let example = xfrd_tests::workspace_root().join("examples/example.com.zone");
    for peer in [Peer::Knot, Peer::Nsd, Peer::Bind] {
        for (zone, zonefile) in [(zone, &generated), ("example.com.", &example)] {
            let dir = tmp.path().join(format!("{zone}{peer:?}"));
            let Some(p) = primary(peer, zone, zonefile, false, &dir) else {
                continue;
            };
            let started = Instant::now();
            let (got, r) = transfer(p.port, zone, Kind::Axfr, Some(&key())).unwrap();
            let o =
                r.unwrap_or_else(|e| panic!("{peer:?} AXFR of {zone}: {e}\n{}", p.proc.log_text()));
            eprintln!(
                "{peer:?}: AXFR of {zone}: {} records in {} messages, {:?}",
                o.records,
                o.messages,
                started.elapsed()
            );
            if zone != "example.com." {
                assert!(
                    o.messages > 1,
                    "{peer:?}: a zone this size takes several messages"
                );
            }
            check_full(peer, zone, zonefile, &got, &o, &dir);

            // Without the key the primary refuses, and the error names its RCODE.
            let (_, r) = transfer(p.port, zone, Kind::Axfr, None).unwrap();
            let e = r.expect_err("an unsigned AXFR is refused");
            assert!(
                matches!(e, XfrInError::Rcode { message: 1, .. }) && !e.falls_back_to_axfr(),
                "{peer:?}: {e}"
            );
            eprintln!("{peer:?}: unsigned AXFR: {e}");
        }
    }
}

/// A change to version 2: r48 and r49 deleted, x0..x2 added, the rest as in version 1.
fn version_2(zone: &str) -> String {
    let mut t = txt_zone(zone, 2, 48, "v1");
    for i in 0..3 {
        t.push_str(&format!("x{i} TXT \"added {i} in version 2\"\n"));
    }
    t
}

/// (owner lowercased, type, rdata) of wire records: what a diff is compared by.
fn keyed(records: &[Vec<u8>]) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| generic_line(r).to_ascii_lowercase())
        .collect()
}

#[test]
fn ixfr_from_journaled_primaries_yields_the_diff_then_up_to_date() {
    let Some(tmp) = scratch() else {
        return;
    };
    let zone = "ixfr.test.";
    let v1 = txt_file(tmp.path(), zone, 1, 50, "v1");
    for peer in [Peer::Knot, Peer::Bind] {
        let dir = tmp.path().join(format!("{peer:?}"));
        let Some(mut p) = primary(peer, zone, &v1, true, &dir) else {
            continue;
        };
        let (got, r) = transfer(p.port, zone, Kind::Axfr, Some(&key())).unwrap();
        check_full(peer, zone, &v1, &got, &r.unwrap(), &dir);
        let held_v1 = keyed(&got.full);

        p.reload_zone(zone, &version_2(zone), 2).unwrap();
        let (got, r) = transfer(p.port, zone, Kind::Ixfr { serial: 1 }, Some(&key())).unwrap();
        let o = r.unwrap_or_else(|e| panic!("{peer:?} IXFR: {e}\n{}", p.proc.log_text()));
        assert_eq!(
            (o.shape, o.serial, o.diffs),
            (Shape::Incremental, 2, 1),
            "{peer:?}"
        );
        assert_eq!(o.messages_signed, u64::from(o.messages), "{peer:?}");
        assert!(got.full.is_empty(), "{peer:?}");
        let d = &got.diffs[0];
        assert_eq!(d.serials, Some((1, 2)), "{peer:?}");
        // The SOAs with their serials, and exactly the records that changed.
        assert!(generic_line(&d.old_soa).contains("TYPE6"), "{peer:?}");
        assert_ne!(d.old_soa, d.new_soa);
        let deleted_want: BTreeSet<String> = [48, 49]
            .map(|i| txt_line(zone, &format!("r{i}"), &format!("record {i} of {zone} v1")))
            .into();
        let added_want: BTreeSet<String> = (0..3)
            .map(|i| txt_line(zone, &format!("x{i}"), &format!("added {i} in version 2")))
            .collect();
        assert_eq!(keyed(&d.deleted), deleted_want, "{peer:?} deleted");
        assert_eq!(keyed(&d.added), added_want, "{peer:?} added");
        eprintln!(
            "{peer:?}: IXFR 1 -> 2: {} deleted, {} added, {} messages",
            d.deleted.len(),
            d.added.len(),
            o.messages
        );

        // Now at serial 2: up to date.
        let (got, r) = transfer(p.port, zone, Kind::Ixfr { serial: 2 }, Some(&key())).unwrap();
        let o = r.unwrap_or_else(|e| panic!("{peer:?} IXFR at 2: {e}"));
        assert_eq!(
            (o.shape, o.serial, o.records),
            (Shape::UpToDate, 2, 1),
            "{peer:?}"
        );
        assert!(got.full.is_empty() && got.diffs.is_empty());

        // Version 3, and an IXFR from version 1 (a chain of two diffs, or one condensed):
        // applied to version 1, it gives what an AXFR of version 3 gives.
        let v3 = version_2(zone)
            .replace(" 2 3600 ", " 3 3600 ")
            .replace("x0 TXT", "y0 TXT");
        p.reload_zone(zone, &v3, 3).unwrap();
        let (got, r) = transfer(p.port, zone, Kind::Ixfr { serial: 1 }, Some(&key())).unwrap();
        let o = r.unwrap_or_else(|e| panic!("{peer:?} IXFR 1 -> 3: {e}"));
        assert_eq!((o.shape, o.serial), (Shape::Incremental, 3), "{peer:?}");
        let mut held = held_v1;
        for d in &got.diffs {
            assert!(held.remove(&generic_line(&d.old_soa).to_ascii_lowercase()));
            for r in keyed(&d.deleted) {
                assert!(held.remove(&r), "{peer:?}: deletes {r}, not held");
            }
            held.insert(generic_line(&d.new_soa).to_ascii_lowercase());
            held.extend(keyed(&d.added));
        }
        let (axfr, r) = transfer(p.port, zone, Kind::Axfr, Some(&key())).unwrap();
        r.unwrap();
        assert!(
            held == keyed(&axfr.full),
            "{peer:?}: {}",
            diff_summary(&keyed(&axfr.full), &held)
        );
        eprintln!("{peer:?}: IXFR 1 -> 3 in {} diffs", o.diffs);
    }
}

/// The generic line of a TXT record of `zone` at `label`, TTL 300, holding `text`.
fn txt_line(zone: &str, label: &str, text: &str) -> String {
    let owner = text_to_wire(&format!("{label}.{zone}")).unwrap();
    let rdata = [&[text.len() as u8][..], text.as_bytes()].concat();
    let mut r = owner;
    r.extend_from_slice(&16u16.to_be_bytes());
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&300u32.to_be_bytes());
    r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    r.extend_from_slice(&rdata);
    generic_line(&r).to_ascii_lowercase()
}

#[test]
fn ixfr_without_a_journal_comes_back_axfr_style() {
    let Some(tmp) = scratch() else {
        return;
    };
    let zone = "fallback.test.";
    let file = txt_file(tmp.path(), zone, 10, 400, "only");
    for peer in [Peer::Knot, Peer::Nsd, Peer::Bind] {
        let dir = tmp.path().join(format!("{peer:?}"));
        let Some(p) = primary(peer, zone, &file, false, &dir) else {
            continue;
        };
        // Serial 5 is older than the primary's 10, which holds no history back to it.
        let (got, r) = transfer(p.port, zone, Kind::Ixfr { serial: 5 }, Some(&key())).unwrap();
        let o = r.unwrap_or_else(|e| panic!("{peer:?} IXFR: {e}\n{}", p.proc.log_text()));
        eprintln!(
            "{peer:?}: IXFR without history: {:?} in {} messages",
            o.shape, o.messages
        );
        check_full(peer, zone, &file, &got, &o, &dir);
        assert_eq!(o.serial, 10);
    }
}
