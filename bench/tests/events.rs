//! The event driver (`--driver events`, the default) against the blocking one (`--driver
//! threads`) on a real knotd: the same counts, records, serial and digest with --verify,
//! with more connections than client threads; and SOA queries over UDP with both.

mod common;

use common::*;

fn target(k: &Knot) -> String {
    format!("127.0.0.1:{}", k.port)
}

fn bench_ok(args: &[&str]) -> serde_json::Value {
    let (out, j) = run_bench(args);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    j.unwrap()
}

#[test]
fn drivers_agree_against_knotd() {
    let dir = tempfile::tempdir().unwrap();
    let zf = dir.path().join("z.zone");
    let records = write_zone(&zf, "ev.test.", 3000, 2026112302);
    let Some(k) = start_knot(&[("ev.test.", &zf)], None) else {
        return;
    };
    let t = target(&k);
    let want = records.to_string();
    let run = |mode: &str, driver: &str, extra: &[&str]| {
        let mut args = vec![
            mode,
            "--target",
            &t,
            "--zone",
            "ev.test.",
            "--concurrency",
            "7",
            "--transfers",
            "21",
            "--driver",
            driver,
            "--fail-on-error",
        ];
        args.extend_from_slice(extra);
        bench_ok(&args)
    };
    let verify = ["--verify", "--expect-records", want.as_str()];
    // 7 connections on 3 threads (3, 2, 2) against one thread per connection.
    let ev = run(
        "axfr",
        "events",
        &[&verify[..], &["--client-threads", "3"]].concat(),
    );
    let th = run("axfr", "threads", &verify);
    assert_eq!(ev["driver"], "events");
    assert_eq!(ev["client_threads"], 3);
    assert_eq!(th["driver"], "threads");
    assert_eq!(th["client_threads"], 7);
    for j in [&ev, &th] {
        assert_eq!(j["transfers"], 21, "{j}");
        assert_eq!(j["errors"], 0, "{j}");
        assert_eq!(j["verify"]["records"], records, "{j}");
        assert_eq!(j["verify"]["serial"], 2026112302u32, "{j}");
    }
    for k in [
        "records_per_transfer",
        "messages_per_transfer",
        "bytes_per_transfer",
    ] {
        assert_eq!(ev[k], th[k], "{k}");
    }
    assert_eq!(ev["verify"]["digest"], th["verify"]["digest"]);
    assert!(ev["client_cpu_s"].as_f64().unwrap() > 0.0);

    // The cheap path (no --verify): counts from headers, with both drivers.
    let ev = run("axfr", "events", &["--client-threads", "2"]);
    let th = run("axfr", "threads", &[]);
    for j in [&ev, &th] {
        assert_eq!(j["transfers"], 21, "{j}");
        assert_eq!(j["records_per_transfer"].as_f64().unwrap(), records as f64);
    }

    // IXFR from serial 1 (no journal: an AXFR-style answer): the same record set.
    let ev = run(
        "ixfr",
        "events",
        &[&verify[..], &["--serial", "1"]].concat(),
    );
    let th = run(
        "ixfr",
        "threads",
        &[&verify[..], &["--serial", "1"]].concat(),
    );
    assert_eq!(ev["mode"], "ixfr");
    assert_eq!(ev["verify"]["records"], records);
    assert_eq!(ev["verify"]["digest"], th["verify"]["digest"]);
}

#[test]
fn tsig_and_thread_count_with_the_event_driver() {
    let dir = tempfile::tempdir().unwrap();
    let zf = dir.path().join("z.zone");
    let records = write_zone(&zf, "evsig.test.", 1500, 9);
    let secret = "c2VjcmV0LWtleS1mb3ItdGhlLWJlbmNoLXRlc3Q=";
    let Some(k) = start_knot(
        &[("evsig.test.", &zf)],
        Some(("tkey.", "hmac-sha256", secret)),
    ) else {
        return;
    };
    let t = target(&k);
    let key = format!("tkey.:hmac-sha256:{secret}");
    // (concurrency, client threads asked, transfers, client threads expected): more threads
    // asked than connections gives one thread per connection at most; then many connections
    // on one thread, signed.
    for (conc, threads, transfers, expect) in [(2, 8, 6, 2), (16, 1, 32, 1)] {
        let (conc, threads, n) = (conc.to_string(), threads.to_string(), transfers.to_string());
        let j = bench_ok(&[
            "axfr",
            "--target",
            &t,
            "--zone",
            "evsig.test.",
            "--concurrency",
            &conc,
            "--client-threads",
            &threads,
            "--transfers",
            &n,
            "--verify",
            "--tsig",
            &key,
            "--fail-on-error",
        ]);
        assert_eq!(j["client_threads"], expect, "{j}");
        assert_eq!(j["transfers"], transfers, "{j}");
        assert_eq!(j["verify"]["records"], records, "{j}");
    }
}

#[test]
fn soa_udp_with_both_drivers_against_knotd() {
    let dir = tempfile::tempdir().unwrap();
    let zf = dir.path().join("z.zone");
    write_zone(&zf, "evsoa.test.", 10, 4);
    let Some(k) = start_knot(&[("evsoa.test.", &zf)], None) else {
        return;
    };
    let t = target(&k);
    for (driver, threads) in [("events", 1), ("threads", 5)] {
        // Five sockets, one query in flight on each: on one thread with the event driver.
        let j = bench_ok(&[
            "soa",
            "--target",
            &t,
            "--zone",
            "evsoa.test.",
            "--concurrency",
            "5",
            "--client-threads",
            "1",
            "--transfers",
            "400",
            "--driver",
            driver,
            "--fail-on-error",
        ]);
        assert_eq!(j["mode"], "soa-udp");
        assert_eq!(j["driver"], driver, "{j}");
        assert_eq!(j["client_threads"], threads, "{j}");
        assert_eq!(j["transfers"], 400, "{j}");
        assert_eq!(j["records_per_transfer"].as_f64().unwrap(), 1.0);
    }
}
