//! `xfr-frontend` in front of xfrd (handoff protocol v1): dig, kdig and a knotd secondary
//! talk only to the front end's port; transfers are answered by xfrd on the handed-over
//! sockets, and what the clients get must equal the source zone.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use xfrd_tests::peers::{self, Peer, Role};
use xfrd_tests::{
    axfr_canonical, canonical_zone, diff_summary, free_port, generated_zone, require_program,
    soa_serial, wait_until, workspace_bin, workspace_root, Proc,
};

struct Pair {
    _xfrd: Proc,
    _frontend: Proc,
    port: u16,
}

/// xfrd (handoff socket, no TCP clients of its own in use) and xfr-frontend in front of it.
fn start_pair(zones: &[(&str, &Path)], dir: &Path) -> Pair {
    let socket = dir.join("handoff.sock");
    let xport = free_port("127.0.0.1");
    let mut cmd = Command::new(workspace_bin("xfrd"));
    cmd.arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{xport}"))
        .arg("--cores")
        .arg("2")
        .arg("--store-dir")
        .arg(dir.join("stores"))
        .arg("--handoff")
        .arg(&socket);
    for (origin, file) in zones {
        cmd.arg("--zone")
            .arg(format!("{origin}={}", file.display()));
    }
    let mut xfrd = Proc::spawn("xfrd", cmd, dir.join("xfrd.log")).unwrap();
    wait_until(Duration::from_secs(60), "xfrd to load its zones", || {
        xfrd.check_running()?;
        Ok(zones
            .iter()
            .all(|(o, _)| soa_serial("127.0.0.1", xport, o).is_some())
            && socket.exists())
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", xfrd.log_text()));

    let port = free_port("127.0.0.1");
    let mut cmd = Command::new(workspace_bin("xfr-frontend"));
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--handoff")
        .arg(&socket);
    for (origin, file) in zones {
        cmd.arg("--zone")
            .arg(format!("{origin}={}", file.display()));
    }
    let mut frontend = Proc::spawn("xfr-frontend", cmd, dir.join("frontend.log")).unwrap();
    wait_until(Duration::from_secs(30), "xfr-frontend to listen", || {
        frontend.check_running()?;
        Ok(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", frontend.log_text()));
    Pair {
        _xfrd: xfrd,
        _frontend: frontend,
        port,
    }
}

#[test]
fn dig_kdig_and_knotd_transfer_through_the_front_end() {
    if require_program("named-checkzone").is_none() || require_program("dig").is_none() {
        return;
    }
    let Some(kdig) = require_program("kdig") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let example = workspace_root().join("examples/example.com.zone");
    let generated = generated_zone("fe.example.", 30_000, 5, tmp.path());
    let zones = [
        ("example.com.", example.as_path()),
        ("fe.example.", generated.as_path()),
    ];
    let pair = start_pair(&zones, tmp.path());

    for (origin, file) in zones {
        let expected = canonical_zone(origin, file).unwrap();
        // dig, through the front end (the front end's TCP port only).
        let got = axfr_canonical("127.0.0.1", pair.port, origin, tmp.path()).unwrap();
        assert!(
            expected == got,
            "dig AXFR {origin} via xfr-frontend: {}",
            diff_summary(&expected, &got)
        );
        // kdig, likewise.
        let out = Command::new(&kdig)
            .args([
                "@127.0.0.1",
                "-p",
                &pair.port.to_string(),
                origin,
                "AXFR",
                "+nostats",
                "+noheader",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kdig failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let file_k = tmp.path().join(format!("kdig-{origin}zone"));
        std::fs::write(&file_k, &text).unwrap();
        let got = canonical_zone(origin, &file_k).unwrap();
        assert!(
            expected == got,
            "kdig AXFR {origin} via xfr-frontend: {}",
            diff_summary(&expected, &got)
        );
    }

    // A knotd secondary whose primary is the front end's port.
    let origin = "fe.example.";
    let expected: std::collections::BTreeSet<String> = canonical_zone(origin, &generated)
        .unwrap()
        .iter()
        .map(|l| l.to_ascii_lowercase())
        .collect();
    let sport = free_port("127.0.0.1");
    let role = Role::Secondary {
        primary_ip: "127.0.0.1",
        primary_port: pair.port,
    };
    let Some(sec) = peers::start(
        Peer::Knot,
        "127.0.0.1",
        sport,
        origin,
        role,
        &tmp.path().join("knot"),
    )
    .unwrap() else {
        return;
    };
    // knotd keeps names in lower case (see secondaries.rs): compare case-folded.
    let got: std::collections::BTreeSet<String> =
        axfr_canonical("127.0.0.1", sec.port, origin, tmp.path())
            .unwrap()
            .iter()
            .map(|l| l.to_ascii_lowercase())
            .collect();
    assert!(
        expected == got,
        "knotd via xfr-frontend: {}\n{}",
        diff_summary(&expected, &got),
        sec.proc.log_text()
    );
}
