//! `xfr-bench handoff` speaks handoff protocol v1 (DESIGN.md) as the front end, against a
//! real xfrd: every handoff it makes must be taken and the transfers on the handed-off
//! sockets must be the zone that xfrd serves directly; a zone xfrd does not serve must be
//! counted as refused by its status.

mod common;

use std::path::PathBuf;

use common::*;
use xfrd_tests::{xfrd_with_handoff, Proc};

struct Engine {
    proc: Proc,
    socket: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

fn start_xfrd() -> Engine {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("handoff.sock");
    let port = free_port();
    let cmd = xfrd_with_handoff(dir.path(), port, &socket, 2);
    let proc = spawn_listening("xfrd", cmd, dir.path().join("xfrd.log"), port, || {
        socket.exists()
    });
    Engine {
        proc,
        socket,
        port,
        _dir: dir,
    }
}

#[test]
fn handoff_transfers_are_taken_and_equal_to_direct_ones() {
    let x = start_xfrd();
    let s = x.socket.to_str().unwrap();
    let (out, j) = run_bench(&[
        "handoff",
        "--socket",
        s,
        "--zone",
        "example.com.",
        "--transfers",
        "40",
        "--concurrency",
        "4",
        "--conns",
        "2",
        "--verify",
        "--fail-on-error",
        "--timeout",
        "10",
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        x.proc.log_text()
    );
    let j = j.unwrap();
    assert_eq!(j["mode"], "axfr-handoff");
    assert_eq!(j["transfers"], 40);
    assert_eq!(j["errors"], 0);
    assert_eq!(j["target"], s);
    let target = format!("127.0.0.1:{}", x.port);
    let (out, direct) = run_bench(&[
        "axfr",
        "--target",
        &target,
        "--zone",
        "example.com.",
        "--transfers",
        "4",
        "--verify",
        "--fail-on-error",
        "--timeout",
        "10",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let direct = direct.unwrap();
    assert_eq!(
        j["verify"], direct["verify"],
        "handed-off transfers differ from direct ones"
    );
    assert!(j["verify"]["records"].as_u64().unwrap() > 10, "{j}");
}

#[test]
fn handoff_refusals_are_counted_by_status() {
    let x = start_xfrd();
    let (_, j) = run_bench(&[
        "handoff",
        "--socket",
        x.socket.to_str().unwrap(),
        "--zone",
        "not-served.example.",
        "--transfers",
        "3",
        "--timeout",
        "10",
    ]);
    let j = j.unwrap();
    assert_eq!(j["transfers"], 0);
    assert_eq!(j["errors_by_kind"]["handoff_not_served"], 3, "{j}");
}
