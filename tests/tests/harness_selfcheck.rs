//! Checks the interop harness itself with peers only: knotd as the primary of the example
//! zone, and each peer as its secondary. If this fails, the secondaries tests of xfrd cannot be
//! trusted either.

use std::path::Path;

use xfrd_tests::peers::{self, Peer, Role};
use xfrd_tests::{axfr_canonical, canonical_zone, diff_summary, free_port, workspace_root};

#[test]
fn peers_transfer_the_example_zone_from_knotd() {
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
    let pport = free_port("127.0.0.1");
    let Some(primary) = peers::start(
        Peer::Knot,
        "127.0.0.1",
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
    let got = axfr_canonical("127.0.0.1", primary.port, zone, tmp.path()).unwrap();
    assert_eq!(expected, got, "{}", diff_summary(&expected, &got));
    for peer in [Peer::Knot, Peer::Nsd, Peer::Bind] {
        let port = free_port("127.0.0.1");
        let dir = tmp.path().join(format!("secondary-{port}"));
        let Some(sec) = peers::start(
            peer,
            "127.0.0.1",
            port,
            zone,
            Role::Secondary {
                primary_ip: "127.0.0.1",
                primary_port: pport,
            },
            Path::new(&dir),
        )
        .unwrap() else {
            continue;
        };
        let got = axfr_canonical("127.0.0.1", sec.port, zone, tmp.path()).unwrap();
        assert_eq!(
            expected,
            got,
            "{peer:?} as secondary: {}\nlog:\n{}",
            diff_summary(&expected, &got),
            sec.proc.log_text()
        );
    }
}
