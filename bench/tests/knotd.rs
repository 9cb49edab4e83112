//! xfr-bench against a real knotd: counts, --verify, IXFR, SOA, TSIG and the --duration bound.

mod common;

use common::*;
use std::time::{Duration, Instant};

fn target(k: &Knot) -> String {
    format!("127.0.0.1:{}", k.port)
}

#[test]
fn axfr_counts_and_verify_pass_against_knotd() {
    let dir = tempfile::tempdir().unwrap();
    let zf = dir.path().join("z.zone");
    let records = write_zone(&zf, "bench.test.", 3000, 2026112301);
    let Some(k) = start_knot(&[("bench.test.", &zf)], None) else {
        return;
    };
    let want = records.to_string();
    let (out, j) = run_bench(&[
        "axfr",
        "--target",
        &target(&k),
        "--zone",
        "bench.test.",
        "--concurrency",
        "3",
        "--transfers",
        "12",
        "--verify",
        "--expect-records",
        &want,
        "--fail-on-error",
        "--server-pid",
        &k.child.id().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = j.unwrap();
    assert_eq!(j["transfers"], 12);
    assert_eq!(j["errors"], 0);
    assert_eq!(j["records_per_transfer"].as_f64().unwrap(), records as f64);
    assert_eq!(j["verify"]["records"], records);
    assert_eq!(j["verify"]["serial"], 2026112301u32);
    assert!(j["messages_per_transfer"].as_f64().unwrap() >= 1.0);
    assert!(j["server_cpu_s"].as_f64().is_some());
    assert!(j["server_rss_mib"].as_f64().unwrap() > 1.0);
    // The human table names the result too.
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("12 transfers ok, 0 errors"), "{table}");

    // Without --verify the counts come from message headers (the cheap path): same numbers.
    let (out, j) = run_bench(&[
        "axfr",
        "--target",
        &target(&k),
        "--zone",
        "bench.test.",
        "--concurrency",
        "2",
        "--transfers",
        "6",
        "--fail-on-error",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = j.unwrap();
    assert_eq!(j["transfers"], 6);
    assert_eq!(j["records_per_transfer"].as_f64().unwrap(), records as f64);
    assert_eq!(j["verify"], serde_json::Value::Null);

    // A wrong expectation must be caught: the count check is real.
    let wrong = (records + 1).to_string();
    let (out, j) = run_bench(&[
        "axfr",
        "--target",
        &target(&k),
        "--zone",
        "bench.test.",
        "--transfers",
        "2",
        "--verify",
        "--expect-records",
        &wrong,
        "--fail-on-error",
    ]);
    assert!(!out.status.success());
    let j = j.unwrap();
    assert_eq!(j["transfers"], 0);
    assert_eq!(j["errors_by_kind"]["count_mismatch"], 2);
}

#[test]
fn ixfr_and_soa_against_knotd() {
    let dir = tempfile::tempdir().unwrap();
    let zf = dir.path().join("z.zone");
    let records = write_zone(&zf, "ix.test.", 500, 7);
    let Some(k) = start_knot(&[("ix.test.", &zf)], None) else {
        return;
    };
    // Client at serial 1, no journal: an AXFR-style answer with the whole zone.
    let (out, j) = run_bench(&[
        "ixfr",
        "--target",
        &target(&k),
        "--zone",
        "ix.test.",
        "--serial",
        "1",
        "--transfers",
        "3",
        "--verify",
        "--fail-on-error",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = j.unwrap();
    assert_eq!(j["transfers"], 3);
    assert_eq!(j["records_per_transfer"].as_f64().unwrap(), records as f64);
    // Client already current: a single SOA, no records.
    let (out, j) = run_bench(&[
        "ixfr",
        "--target",
        &target(&k),
        "--zone",
        "ix.test.",
        "--serial",
        "7",
        "--transfers",
        "2",
        "--fail-on-error",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(j.unwrap()["records_per_transfer"].as_f64().unwrap(), 0.0);

    let t = target(&k);
    for tcp in [false, true] {
        let mut args = vec![
            "soa",
            "--target",
            &t,
            "--zone",
            "ix.test.",
            "--concurrency",
            "2",
            "--transfers",
            "500",
            "--fail-on-error",
        ];
        if tcp {
            args.push("--tcp");
        }
        let (out, j) = run_bench(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j = j.unwrap();
        assert_eq!(j["transfers"], 500);
        assert_eq!(j["mode"], if tcp { "soa-tcp" } else { "soa-udp" });
    }
    // An unknown zone: knotd answers NOTAUTH (AXFR) / REFUSED; counted, not hidden.
    let (out, j) = run_bench(&[
        "axfr",
        "--target",
        &target(&k),
        "--zone",
        "nope.test.",
        "--transfers",
        "2",
        "--fail-on-error",
    ]);
    assert!(!out.status.success());
    let j = j.unwrap();
    assert_eq!(j["errors"], 2);
    assert!(j["errors_by_kind"]
        .as_object()
        .unwrap()
        .keys()
        .all(|k| k.starts_with("rcode_")));
}

#[test]
fn tsig_signed_transfers_against_knotd() {
    let dir = tempfile::tempdir().unwrap();
    let zf = dir.path().join("z.zone");
    let records = write_zone(&zf, "sig.test.", 2000, 3);
    let secret = "c2VjcmV0LWtleS1mb3ItdGhlLWJlbmNoLXRlc3Q=";
    let Some(k) = start_knot(
        &[("sig.test.", &zf)],
        Some(("tkey.", "hmac-sha256", secret)),
    ) else {
        return;
    };
    let good = format!("tkey.:hmac-sha256:{secret}");
    let (out, j) = run_bench(&[
        "axfr",
        "--target",
        &target(&k),
        "--zone",
        "sig.test.",
        "--transfers",
        "3",
        "--verify",
        "--tsig",
        &good,
        "--fail-on-error",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let j = j.unwrap();
    assert_eq!(j["transfers"], 3);
    assert_eq!(j["verify"]["records"], records);
    // The report says how it was signed, and that knotd signed every message.
    assert_eq!(j["tsig"]["key"], "tkey.");
    assert_eq!(j["tsig"]["algorithm"], "hmac-sha256");
    assert_eq!(j["tsig"]["responses_verified"], true);
    assert_eq!(j["tsig"]["messages_signed"], j["messages_total"]);
    // Signed but not verified (load generation): served, and the report says so.
    let (out, j) = run_bench(&[
        "axfr",
        "--target",
        &target(&k),
        "--zone",
        "sig.test.",
        "--transfers",
        "2",
        "--tsig",
        &good,
        "--tsig-sign-only",
        "--fail-on-error",
    ]);
    assert!(out.status.success());
    let j = j.unwrap();
    assert_eq!(j["transfers"], 2);
    assert_eq!(j["tsig"]["responses_verified"], false);
    assert_eq!(j["tsig"]["messages_signed"], 0);
    // Without a key, and with a wrong secret (verified or not): refused by knotd.
    let bad = "tkey.:hmac-sha256:d3Jvbmc=".to_string();
    for extra in [
        vec![],
        vec!["--tsig", bad.as_str()],
        vec!["--tsig", bad.as_str(), "--tsig-sign-only"],
    ] {
        let mut args = vec![
            "axfr",
            "--target",
            "",
            "--zone",
            "sig.test.",
            "--transfers",
            "1",
        ];
        let t = target(&k);
        args[2] = &t;
        args.extend(extra);
        let (_, j) = run_bench(&args);
        let j = j.unwrap();
        assert_eq!(j["transfers"], 0, "{j}");
        assert_eq!(j["errors"], 1);
    }
}

#[test]
fn duration_bounds_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let zf = dir.path().join("z.zone");
    write_zone(&zf, "dur.test.", 2000, 1);
    let Some(k) = start_knot(&[("dur.test.", &zf)], None) else {
        return;
    };
    let t = Instant::now();
    let (out, j) = run_bench(&[
        "axfr",
        "--target",
        &target(&k),
        "--zone",
        "dur.test.",
        "--concurrency",
        "2",
        "--transfers",
        "100000000",
        "--duration",
        "1",
        "--timeout",
        "5",
    ]);
    let wall = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = j.unwrap();
    // Bounded by --duration plus at most one transfer timeout, not by the transfer count.
    assert!(wall < Duration::from_secs(1 + 5 + 5), "took {wall:?}");
    assert!(j["elapsed_s"].as_f64().unwrap() >= 1.0);
    assert!(j["transfers"].as_u64().unwrap() < 100000000);
}
