//! Checks the interop harness itself with peers only: knotd as the primary of the example
//! zone, and each peer as its secondary. If this fails, the secondaries tests of xfrd cannot be
//! trusted either.

use std::path::Path;

use xfrd_tests::peers::{self, Peer, Role};
use xfrd_tests::{axfr_canonical, canonical_zone, diff_summary, free_port, workspace_root};

#[test]
fn peers_transfer_the_example_zone_from_knotd() {
    transfer_from_knotd("127.0.0.1");
}

#[test]
fn peers_transfer_the_example_zone_from_knotd_over_ipv6() {
    transfer_from_knotd("::1");
}

fn transfer_from_knotd(ip: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let zonefile = workspace_root().join("examples/example.com.zone");
    let zone = "example.com.";
    let expected = match canonical_zone(zone, &zonefile) {
        Ok(set) => set,
        Err(e) if xfrd_tests::require_program("named-checkzone").is_none() => {
            return eprintln!("{e}")
        }
        Err(e) => panic!("{e:#}"),
    };
    let pport = free_port(ip);
    let Some(primary) = peers::start(
        Peer::Knot,
        ip,
        pport,
        zone,
        Role::Primary {
            zonefile: &zonefile,
        },
        &tmp.path().join("primary"),
    )
    .unwrap() else {
        return;
    };
    let got = axfr_canonical(ip, primary.port, zone, tmp.path()).unwrap();
    assert!(expected == got, "{}", diff_summary(&expected, &got));
    for peer in [Peer::Knot, Peer::Nsd, Peer::Bind] {
        let port = free_port(ip);
        let dir = tmp.path().join(format!("secondary-{port}"));
        let Some(sec) = peers::start(
            peer,
            ip,
            port,
            zone,
            Role::Secondary {
                primary_ip: ip,
                primary_port: pport,
            },
            Path::new(&dir),
        )
        .unwrap() else {
            continue;
        };
        let got = axfr_canonical(ip, sec.port, zone, tmp.path()).unwrap();
        assert!(
            expected == got,
            "{peer:?} as secondary: {}\nlog:\n{}",
            diff_summary(&expected, &got),
            sec.proc.log_text()
        );
    }
}
