//! `xfr-bench compare` end to end on tiny zones: with knotd it writes the JSON, Markdown and
//! SVG outputs, the digests agree, and the server it started is gone afterwards; signed
//! (`--tsig`) against xfrd and knotd every message of the verified transfers is signed and
//! verified and an unsigned transfer is refused; with a key the servers do not hold it stops
//! at the first server and says why.
//!
//! The xfrd under test is `XFR_BENCH_XFRD` when set (a build of another tree), else this
//! workspace's.

mod common;

use common::*;

/// A throwaway key for these tests (base64 of "signed-compare-test-secret").
const SECRET: &str = "c2lnbmVkLWNvbXBhcmUtdGVzdC1zZWNyZXQ=";

#[test]
fn compare_runs_knotd_and_stops_it() {
    if require_program("knotd").is_none() || require_program("taskset").is_none() {
        return;
    }
    let r = compare("knotd", &[]);
    assert!(r.out.status.success(), "{}", stderr(&r));
    let j = r.json.as_ref().unwrap();
    let s = &j["servers"][0];
    assert_eq!(s["name"], "knotd");
    assert_eq!(s["large_records"], r.records);
    assert_eq!(s["small"].as_array().unwrap().len(), 2);
    assert_eq!(s["small"][0]["errors"], 0);
    assert_eq!(s["soa_udp"]["errors"], 0);
    // Stopped: the pid is gone (reaped), not left running.
    let pid = s["pid"].as_u64().unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "knotd {pid} still runs"
    );
    let md = &r.md;
    assert!(md.contains("| workload | metric | knotd |"), "{md}");
    assert!(md.contains("large zone agree"), "{md}");
    assert!(r.svg.starts_with("<svg") && r.svg.contains(">knotd<"));
    // Unsigned: nothing of TSIG anywhere in the outputs.
    assert!(j.get("tsig").is_none() && s.get("unsigned_refused").is_none());
    assert!(s["large_axfr"].get("tsig").is_none());
    assert!(
        !md.contains("Signed") && !md.contains("signed / all"),
        "{md}"
    );
}

#[test]
fn signed_compare_of_xfrd_and_knotd_verifies_every_message() {
    if require_program("knotd").is_none() || require_program("taskset").is_none() {
        return;
    }
    let key = format!("bench-key.:hmac-sha256:{SECRET}");
    let r = compare("xfrd,knotd", &["--tsig", &key, "--verify"]);
    assert!(r.out.status.success(), "{}", stderr(&r));
    let j = r.json.as_ref().unwrap();
    assert_eq!(j["tsig"]["key"], "bench-key.");
    assert_eq!(j["tsig"]["algorithm"], "hmac-sha256");
    assert_eq!(j["tsig"]["timed_responses_verified"], true);
    let servers = j["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2, "{j}");
    for s in servers {
        let name = s["name"].as_str().unwrap();
        assert_eq!(s["large_records"], r.records, "{name}");
        // The untimed AXFR: every message signed, every MAC verified.
        let m = &s["large_signed"];
        assert!(m["messages"].as_u64().unwrap() > 0, "{name}: {m}");
        assert_eq!(m["signed"], m["messages"], "{name}");
        // Transfers without the key are refused (xfrd REFUSED, knotd NOTAUTH).
        let how = s["unsigned_refused"].as_str().unwrap();
        assert!(how.starts_with("rcode_"), "{name}: {how}");
        // The timed transfers, verified too (--verify): no errors, every message signed.
        let timed = std::iter::once(&s["large_axfr"]).chain(s["small"].as_array().unwrap());
        for t in timed {
            assert_eq!(t["errors"], 0, "{name}: {t}");
            assert!(t["transfers"].as_u64().unwrap() > 0, "{name}");
            assert_eq!(t["tsig"]["responses_verified"], true, "{name}");
            assert_eq!(t["tsig"]["messages_signed"], t["messages_total"], "{name}");
        }
        // SOA queries are not signed, and the report does not claim they were.
        assert!(s["soa_udp"].get("tsig").is_none(), "{name}");
    }
    let md = &r.md;
    assert!(md.contains("Signed (TSIG, RFC 8945)"), "{md}");
    assert!(md.contains("`bench-key.` (hmac-sha256)"), "{md}");
    assert!(md.contains("signed / all messages"), "{md}");
    assert!(
        md.contains("large zone agree") && md.contains("small zone agree"),
        "{md}"
    );
    // The secret is not in the recorded command.
    assert!(!md.contains(SECRET) && !j["command"].as_str().unwrap().contains(SECRET));
    assert!(j["command"]
        .as_str()
        .unwrap()
        .contains("bench-key.:hmac-sha256:<secret>"));
    assert!(r.svg.contains("TSIG hmac-sha256"));
}

#[test]
fn signed_compare_with_a_key_the_servers_lack_fails_clearly() {
    if require_program("taskset").is_none() {
        return;
    }
    let key = format!("bench-key.:hmac-sha256:{SECRET}");
    // Same name and algorithm, another secret: xfrd answers NOTAUTH (BADSIG).
    let r = compare(
        "xfrd,knotd",
        &[
            "--tsig",
            &key,
            "--server-tsig",
            "bench-key.:hmac-sha256:b3RoZXI=",
        ],
    );
    assert!(!r.out.status.success());
    let err = stderr(&r);
    assert!(
        err.contains("xfrd: verified AXFR of l.test. failed: RCODE 9"),
        "{err}"
    );
    assert!(err.contains("do not share the key"), "{err}");
    // xfrd's log tail comes with it, with its reason.
    assert!(err.contains("BADSIG"), "{err}");
    // It stops there: no report, and knotd was never started.
    assert!(r.json.is_none());
    assert!(!err.contains("== knotd"), "{err}");
}
