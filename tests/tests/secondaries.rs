//! knotd, nsd and named, each configured as a real secondary of xfrd on loopback, transfer
//! zones from it; what each then serves must equal the source zone as named-checkzone reads it.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use xfrd_tests::peers::{self, Peer, Role};
use xfrd_tests::{
    axfr_canonical, canonical_zone, diff_summary, free_port, generated_zone, require_program,
    soa_serial, wait_until, workspace_bin, workspace_root, Proc,
};

/// Starts xfrd serving `zones` (origin, file) on `ip`:`port`.
fn start_xfrd(ip: &str, port: u16, zones: &[(&str, &Path)], dir: &Path) -> Proc {
    let mut cmd = Command::new(workspace_bin("xfrd"));
    let listen = if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    };
    cmd.arg("serve")
        .arg("--listen")
        .arg(listen)
        .arg("--cores")
        .arg("2")
        .arg("--store-dir")
        .arg(dir.join("stores"));
    for (origin, file) in zones {
        cmd.arg("--zone")
            .arg(format!("{origin}={}", file.display()));
    }
    let mut proc = Proc::spawn("xfrd", cmd, dir.join("xfrd.log")).expect("start xfrd");
    for (origin, _) in zones {
        wait_until(
            Duration::from_secs(60),
            &format!("xfrd to answer SOA for {origin}"),
            || {
                proc.check_running()?;
                Ok(soa_serial(ip, port, origin).is_some())
            },
        )
        .unwrap_or_else(|e| panic!("{e:#}\nxfrd log:\n{}", proc.log_text()));
    }
    proc
}

/// Each peer as a secondary of xfrd for every zone; asserts what the secondary serves.
fn secondaries_transfer(ip: &str, zones: &[(&str, &Path)]) {
    if require_program("named-checkzone").is_none() || require_program("dig").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port(ip);
    let xfrd = start_xfrd(ip, port, zones, tmp.path());
    for (origin, file) in zones {
        let expected = canonical_zone(origin, file).unwrap();
        let direct = axfr_canonical(ip, port, origin, tmp.path()).unwrap();
        assert!(
            expected == direct,
            "dig AXFR {origin} from xfrd: {}",
            diff_summary(&expected, &direct)
        );
        for peer in [Peer::Knot, Peer::Nsd, Peer::Bind] {
            let sport = free_port(ip);
            let dir = tmp.path().join(format!("{peer:?}-{origin}"));
            let role = Role::Secondary {
                primary_ip: ip,
                primary_port: port,
            };
            let sec = match peers::start(peer, ip, sport, origin, role, &dir) {
                Ok(Some(sec)) => sec,
                Ok(None) => continue,
                Err(e) => panic!(
                    "{peer:?} as secondary of xfrd for {origin}: {e:#}\nxfrd log:\n{}",
                    xfrd.log_text()
                ),
            };
            let mut got = axfr_canonical(ip, sec.port, origin, tmp.path()).unwrap();
            let mut want = expected.clone();
            // The peers keep one spelling per name in their name tables (knotd lower-cases all
            // of them; nsd keeps the first one it met), so a mixed-case SRV target comes back
            // in another case. DNS names compare without case, so secondaries' copies are
            // compared case-folded; xfrd's own bytes were compared exactly above.
            got = got.iter().map(|l| l.to_ascii_lowercase()).collect();
            want = want.iter().map(|l| l.to_ascii_lowercase()).collect();
            assert!(
                want == got,
                "{peer:?} secondary of xfrd, zone {origin}: {}\npeer log:\n{}",
                diff_summary(&want, &got),
                sec.proc.log_text()
            );
        }
    }
}

#[test]
fn peers_transfer_example_and_generated_zones_over_ipv4() {
    let tmp = tempfile::tempdir().unwrap();
    let example = workspace_root().join("examples/example.com.zone");
    let generated = generated_zone("gen.example.", 20_000, 11, tmp.path());
    secondaries_transfer(
        "127.0.0.1",
        &[("example.com.", &example), ("gen.example.", &generated)],
    );
}

#[test]
fn peers_transfer_over_ipv6() {
    let example = workspace_root().join("examples/example.com.zone");
    secondaries_transfer("::1", &[("example.com.", &example)]);
}
