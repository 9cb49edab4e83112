//! xfrd as a secondary: a `[[zone]]` with `primaries` instead of `file`, kept current by the
//! engine's refresh driver (engine/src/refresh.rs) from knotd as a journaled primary, every
//! transfer signed with TSIG.
//!
//! Checked: xfrd starts without a copy, transfers the zone (AXFR, as nothing is held) and
//! serves it: SOA serial 1, and its AXFR equals the primary's file (both sides read by
//! named-checkzone). After a change at knotd (serial 2), the next refresh (the zone's SOA
//! REFRESH is 1 s) brings serial 2 by IXFR, and `dig IXFR=1` from xfrd is incremental: the
//! relay's own journal; restarted with its primary gone, xfrd serves serial 2 from its store
//! folder at once. A primary that refuses the transfer (xfrd signs with a key of the
//! same name but another secret) leaves the zone unserved, with the reason in the log.
//!
//! knotd, named-checkzone and dig are required under CI=true (a missing one fails the test);
//! elsewhere a missing one skips the test, loudly. Every wait is bounded.

use std::path::Path;

use std::process::Command;
use std::time::Duration;

use xfrd_tests::peers::{self, Peer, PeerOptions, PeerServer, Role, TsigSpec};
use xfrd_tests::{
    axfr_canonical, canonical_zone, diff_summary, dig, free_port, normalize_lines, require_program,
    soa_serial, txt_zone, wait_until, workspace_bin, Proc,
};

const IP: &str = "127.0.0.1";
const ZONE: &str = "secondary.test.";

fn programs() -> Option<()> {
    for p in ["knotd", "named-checkzone", "dig"] {
        require_program(p)?;
    }
    Some(())
}

fn key(secret: &str) -> TsigSpec {
    TsigSpec {
        name: "xfr-key.".into(),
        algorithm: "hmac-sha256".into(),
        secret: secret.into(),
    }
}

const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0MTIzNA==";
const OTHER_SECRET: &str = "b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXIxMjM=";

/// The zone at `serial` with SOA REFRESH and RETRY of 1 s, so the secondary checks often.
fn zone_text(serial: u32) -> String {
    let mut t = txt_zone(ZONE, serial, if serial == 1 { 50 } else { 48 }, "v1").replace(
        &format!("{serial} 3600 600 86400 300"),
        &format!("{serial} 1 1 86400 300"),
    );
    assert!(t.contains(" 1 1 86400 300"), "the SOA timers were replaced");
    if serial > 1 {
        for i in 0..3 {
            t.push_str(&format!("x{i} TXT \"added {i} in version 2\"\n"));
        }
    }
    t
}

fn knotd(v1: &Path, dir: &Path) -> PeerServer {
    let opts = PeerOptions {
        tsig: Some(key(SECRET)),
        ..PeerOptions::default()
    };
    let role = Role::JournaledPrimary { zonefile: v1 };
    peers::start_with(Peer::Knot, IP, free_port(IP), ZONE, role, dir, &opts)
        .unwrap_or_else(|e| panic!("knotd as primary: {e:#}"))
        .expect("programs() checked knotd")
}

/// Starts xfrd with `ZONE` as a secondary of `primary_port`, signing with `secret`; returns
/// once it logs that it serves (the zone itself may not be served yet).
fn xfrd_secondary(dir: &Path, port: u16, primary_port: u16, secret: &str) -> Proc {
    let conf = dir.join("xfrd.toml");
    std::fs::write(
        &conf,
        format!(
            "listen = [\"{IP}:{port}\"]\ncores = 1\nstore_dir = \"{}\"\n\
             [[key]]\nname = \"xfr-key.\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{secret}\"\n\
             [[zone]]\norigin = \"{ZONE}\"\nprimaries = [\"{IP}:{primary_port}\"]\n\
             primary_key = \"xfr-key.\"\n",
            dir.join("stores").display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(workspace_bin("xfrd"));
    cmd.args(["serve", "--config"]).arg(&conf);
    let mut x = Proc::spawn("xfrd", cmd, dir.join("xfrd.log")).unwrap();
    wait_until(Duration::from_secs(30), "xfrd to start serving", || {
        x.check_running()?;
        Ok(x.full_log().contains("xfrd serving"))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", x.log_text()));
    x
}

/// Waits (30 s at most) until xfrd answers SOA with `serial`.
fn wait_serial(x: &mut Proc, port: u16, serial: u32) {
    wait_until(
        Duration::from_secs(30),
        &format!("xfrd to serve serial {serial}"),
        || {
            x.check_running()?;
            Ok(soa_serial(IP, port, ZONE) == Some(serial))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", x.log_text()));
}

/// knotd serving `v1_text` (with the key), xfrd as its secondary signing with `secret`.
struct Setup {
    tmp: tempfile::TempDir,
    v1: std::path::PathBuf,
    p: PeerServer,
    port: u16,
    x: Proc,
}

/// `None` (skip) outside CI when a program is missing.
fn setup(v1_text: &str, secret: &str) -> Option<Setup> {
    programs()?;
    let tmp = tempfile::tempdir().unwrap();
    let v1 = tmp.path().join("v1.zone");
    std::fs::write(&v1, v1_text).unwrap();
    let p = knotd(&v1, &tmp.path().join("knotd"));
    let port = free_port(IP);
    let x = xfrd_secondary(tmp.path(), port, p.port, secret);
    Some(Setup {
        tmp,
        v1,
        p,
        port,
        x,
    })
}

#[test]
fn xfrd_transfers_its_secondary_zone_from_knotd_and_follows_its_changes_by_ixfr() {
    let Some(Setup {
        tmp,
        v1,
        mut p,
        port,
        mut x,
    }) = setup(&zone_text(1), SECRET)
    else {
        return;
    };

    wait_serial(&mut x, port, 1);
    let axfr = axfr_canonical(IP, port, ZONE, tmp.path()).unwrap();
    let want = canonical_zone(ZONE, &v1).unwrap();
    assert!(want.len() > 40, "{} records", want.len());
    assert!(axfr == want, "{}", diff_summary(&want, &axfr));

    // A change at the primary reaches xfrd at its next refresh, incrementally.
    p.reload_zone(ZONE, &zone_text(2), 2).unwrap();
    wait_until(Duration::from_secs(30), "xfrd to serve serial 2", || {
        x.check_running()?;
        Ok(soa_serial(IP, port, ZONE) == Some(2))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}\n{}", x.log_text(), p.proc.log_text()));
    let log = x.full_log();
    assert!(
        log.lines().any(|l| l.contains("refresh done")
            && l.contains("incremental")
            && l.contains("serial=2")),
        "{log}"
    );
    let axfr = axfr_canonical(IP, port, ZONE, tmp.path()).unwrap();
    let want = canonical_zone(ZONE, &p.zonefile(ZONE)).unwrap();
    assert!(axfr == want, "{}", diff_summary(&want, &axfr));

    // Downstream secondaries get IXFR from the relay's journal: the 2 deleted, the 3 added and
    // the SOAs of serials 1 and 2 (an AXFR-style answer would be 53 lines).
    let at = format!("@{IP}");
    let ps = port.to_string();
    let ixfr = dig(&[&at, "-p", &ps, ZONE, "IXFR=1", "+nocmd", "+nostats"]).unwrap();
    let lines = normalize_lines(&ixfr);
    assert_eq!(lines.len(), 7, "{ixfr}\n{}", x.log_text());
    for l in ["r48", "r49", "x0", "x1", "x2"] {
        let owner = format!("{l}.{ZONE} ");
        assert!(lines.iter().any(|r| r.starts_with(&owner)), "{l} in {ixfr}");
    }

    // A restart serves the copy in store_dir at once, the primary gone.
    drop(p);
    drop(x);
    let mut x = xfrd_secondary(tmp.path(), port, free_port(IP), SECRET);
    wait_serial(&mut x, port, 2);
}

#[test]
fn a_primary_that_refuses_the_key_leaves_the_zone_unserved_and_logged() {
    let Some(Setup {
        tmp,
        v1: _,
        p,
        port,
        mut x,
    }) = setup(&zone_text(1), OTHER_SECRET)
    else {
        return;
    };
    wait_until(
        Duration::from_secs(30),
        "xfrd to log the refused refresh",
        || {
            x.check_running()?;
            Ok(x.full_log().contains("refresh failed"))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", x.log_text()));
    let log = x.full_log();
    assert!(log.contains("waiting for the first transfer"), "{log}");
    let failed = log.lines().find(|l| l.contains("refresh failed")).unwrap();
    assert!(
        failed.contains(ZONE) && failed.contains(&format!("{IP}:{}", p.port)),
        "{failed}"
    );
    assert_eq!(soa_serial(IP, port, ZONE), None, "{log}");
    // A secondary zone with no copy yet: SERVFAIL over UDP and TCP, not the REFUSED of a zone
    // xfrd does not have (transfers too: answer.rs's tests).
    for q in [&["SOA"][..], &["SOA", "+tcp"]] {
        assert_eq!(status(port, q), "SERVFAIL", "{q:?}");
    }
    assert!(
        !tmp.path().join("stores/secondary.test.store").exists(),
        "nothing is written for a refused transfer"
    );

    // The refresh thread stops with the server, within a bounded time, while it waits to retry.
    x.signal("TERM").unwrap();
    wait_until(Duration::from_secs(15), "xfrd to stop", || {
        Ok(x.check_running().is_err())
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", x.log_text()));
    assert!(x.full_log().contains("xfrd stopped"), "{}", x.log_text());
}

#[test]
fn a_zone_whose_primary_is_gone_past_its_soa_expire_is_no_longer_served() {
    // EXPIRE 3 s: the zone goes 3 s after the last successful refresh.
    let Some(Setup {
        tmp: _tmp,
        v1: _,
        p,
        port,
        mut x,
    }) = setup(
        &zone_text(1).replace(" 1 1 86400 300", " 1 1 3 300"),
        SECRET,
    )
    else {
        return;
    };
    wait_serial(&mut x, port, 1);
    drop(p);
    wait_until(
        Duration::from_secs(20),
        "xfrd to stop serving the expired zone",
        || {
            x.check_running()?;
            Ok(soa_serial(IP, port, ZONE).is_none() && status(port, &["SOA"]) == "SERVFAIL")
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", x.log_text()));
    let log = x.full_log();
    assert!(log.contains("secondary zone expired"), "{log}");
}

/// The RCODE dig reads in xfrd's answer (at `port`) about the zone, for dig's `args`.
fn status(port: u16, args: &[&str]) -> String {
    let at = format!("@{IP}");
    let p = port.to_string();
    let mut a = vec![at.as_str(), "-p", p.as_str(), ZONE, "+time=2", "+tries=1"];
    a.extend_from_slice(args);
    let out = xfrd_tests::dig(&a).unwrap_or_default();
    out.split("status: ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap_or("none")
        .to_string()
}
