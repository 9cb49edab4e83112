//! The --json report schema is an interface: these names and types must not change.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn json_report_schema_is_stable() {
    let (port, h) = scripted_server(good_axfr, 3);
    let t = format!("127.0.0.1:{port}");
    let me = std::process::id().to_string();
    let (out, j) = run_bench(&[
        "axfr",
        "--target",
        &t,
        "--zone",
        "ex.",
        "--transfers",
        "3",
        "--verify",
        "--server-pid",
        &me,
    ]);
    h.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = j.unwrap();
    let num = |v: &Value| matches!(kind(v), "uint" | "number");
    let expect_uint = [
        "transfers",
        "errors",
        "concurrency",
        "bytes_total",
        "messages_total",
        "records_total",
    ];
    for k in expect_uint {
        assert_eq!(kind(&j[k]), "uint", "{k}: {j}");
    }
    let expect_num = [
        "transfers_per_s",
        "mb_per_s",
        "records_per_s",
        "elapsed_s",
        "messages_per_transfer",
        "records_per_transfer",
        "bytes_per_transfer",
        "client_cpu_s",
        "client_user_s",
        "client_sys_s",
        "server_cpu_s",
        "server_rss_mib",
    ];
    for k in expect_num {
        assert!(num(&j[k]), "{k} is not a number: {j}");
    }
    for k in ["tool", "version", "mode", "target", "zone"] {
        assert_eq!(kind(&j[k]), "string", "{k}");
    }
    for k in ["ttfb_ms", "latency_ms"] {
        let o = j[k]
            .as_object()
            .unwrap_or_else(|| panic!("{k} is not an object"));
        let mut keys: Vec<&str> = o.keys().map(|s| s.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["max", "p50", "p90", "p99", "p999"], "{k}");
        assert!(o.values().all(num), "{k}");
    }
    assert_eq!(kind(&j["errors_by_kind"]), "object");
    assert_eq!(kind(&j["verify"]), "object");
    assert_eq!(kind(&j["verify"]["serial"]), "uint");
    assert_eq!(kind(&j["verify"]["records"]), "uint");
    assert_eq!(kind(&j["verify"]["digest"]), "string");
    assert_eq!(j["mode"], "axfr");
    assert_eq!(j["transfers"], 3);
    // Added with the event driver: which driver ran, and its worker threads.
    assert_eq!(j["driver"], "events");
    assert_eq!(kind(&j["client_threads"]), "uint");

    // Without --server-pid the server fields are absent (not zero: zero would be a claim).
    let (port, h) = scripted_server(good_axfr, 1);
    let t = format!("127.0.0.1:{port}");
    let (_, j) = run_bench(&["axfr", "--target", &t, "--zone", "ex.", "--transfers", "1"]);
    h.join().unwrap();
    let j = j.unwrap();
    assert!(j.get("server_cpu_s").is_none() && j.get("server_rss_mib").is_none());
    // Unsigned: no tsig object at all (added with `--tsig`, absent otherwise); plain TCP: no
    // tls object (added with `--tls`; its fields are pinned in xot.rs).
    assert!(j.get("tsig").is_none());
    assert!(j.get("tls").is_none());
    assert_eq!(kind(&j["verify"]), "null");
}
