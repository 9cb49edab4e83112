//! `xfr-bench compare` end to end with knotd on tiny zones: it writes the JSON, Markdown and
//! SVG outputs, the digests agree, and the server it started is gone afterwards.

mod common;

use common::*;
use std::process::Command;

#[test]
fn compare_runs_knotd_and_stops_it() {
    if require_program("knotd").is_none() || require_program("taskset").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let large = dir.path().join("l.zone");
    let small = dir.path().join("s.zone");
    let records = write_zone(&large, "l.test.", 800, 11);
    write_zone(&small, "s.test.", 100, 12);
    let (json, md, svg) = (
        dir.path().join("c.json"),
        dir.path().join("c.md"),
        dir.path().join("c.svg"),
    );
    let port = free_port().to_string();
    let out = Command::new(BIN)
        .args([
            "compare",
            "--servers",
            "knotd",
            "--large-repeat",
            "3",
            "--concurrency",
            "1,4",
        ])
        .args([
            "--small-transfers",
            "20",
            "--small-duration",
            "2",
            "--soa-queries",
            "200",
        ])
        .args(["--soa-duration", "2", "--base-port", &port])
        .arg("--large")
        .arg(format!("l.test.={}", large.display()))
        .arg("--small")
        .arg(format!("s.test.={}", small.display()))
        .arg("--json")
        .arg(&json)
        .arg("--markdown")
        .arg(&md)
        .arg("--svg")
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let s = &j["servers"][0];
    assert_eq!(s["name"], "knotd");
    assert_eq!(s["large_records"], records);
    assert_eq!(s["small"].as_array().unwrap().len(), 2);
    assert_eq!(s["small"][0]["errors"], 0);
    assert_eq!(s["soa_udp"]["errors"], 0);
    // Stopped: the pid is gone (reaped), not left running.
    let pid = s["pid"].as_u64().unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "knotd {pid} still runs"
    );
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("| workload | metric | knotd |"), "{md}");
    assert!(md.contains("large zone agree"), "{md}");
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains(">knotd<"));
}
