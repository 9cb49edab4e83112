//! --verify catches corrupt streams from a tiny scripted server: a wrong SOA at the end, a
//! broken length, a wrong ID, a stream that stops early. Without --verify the cheap checks
//! still catch what they must to frame the stream (ID, length, truncation). Every case runs
//! with both drivers (`--driver events` and `--driver threads`): each must catch it.

mod common;

use common::*;

const DRIVERS: [&str; 2] = ["events", "threads"];

/// Two transfers against a fresh scripted server with `driver`; with the event driver the
/// two run at once on one client thread.
fn run_with(script: Script, verify: bool, driver: &str) -> serde_json::Value {
    let (port, h) = scripted_server(script, 2);
    let t = format!("127.0.0.1:{port}");
    let mut args = vec![
        "axfr",
        "--target",
        &t,
        "--zone",
        "ex.",
        "--transfers",
        "2",
        "--timeout",
        "5",
        "--driver",
        driver,
    ];
    if driver == "events" {
        args.extend(["--concurrency", "2", "--client-threads", "1"]);
    }
    if verify {
        args.push("--verify");
    }
    let (out, j) = run_bench(&args);
    h.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = j.unwrap();
    assert_eq!(j["driver"], driver, "{j}");
    j
}

/// The same script with each driver, the report of each.
fn run(script: Script, verify: bool) -> Vec<serde_json::Value> {
    DRIVERS
        .iter()
        .map(|d| run_with(script, verify, d))
        .collect()
}

fn only_error(js: &[serde_json::Value], kind: &str) {
    for j in js {
        assert_eq!(j["transfers"], 0, "{j}");
        assert_eq!(j["errors"], 2, "{j}");
        assert_eq!(j["errors_by_kind"][kind], 2, "{j}");
    }
}

#[test]
fn good_stream_passes() {
    for j in run(good_axfr, true) {
        assert_eq!(j["transfers"], 2, "{j}");
        assert_eq!(j["errors"], 0);
        assert_eq!(j["verify"]["records"], 4);
        assert_eq!(j["verify"]["serial"], 5);
        assert_eq!(j["messages_per_transfer"].as_f64().unwrap(), 2.0);
    }
}

fn wrong_final_soa(id: u16, q: &[u8]) -> Vec<u8> {
    let mut out = frame(&message(id, q, &[soa(5), a(1)]));
    out.extend(frame(&message(id, q, &[a(2), soa(6)])));
    out
}

#[test]
fn wrong_soa_at_the_end() {
    only_error(&run(wrong_final_soa, true), "serial_mismatch");
    // Without --verify a final SOA with another serial is not taken as the end either: the
    // stream then stops without one.
    only_error(&run(wrong_final_soa, false), "truncated");
}

fn broken_length(id: u16, q: &[u8]) -> Vec<u8> {
    let m1 = message(id, q, &[soa(5), a(1)]);
    let m2 = message(id, q, &[a(2), soa(5)]);
    // The first length claims 3 bytes fewer than the message has.
    let mut out = ((m1.len() - 3) as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&m1);
    out.extend(frame(&m2));
    out
}

#[test]
fn broken_length_prefix() {
    for j in run(broken_length, true) {
        assert_eq!(j["transfers"], 0, "{j}");
        assert_eq!(j["errors"], 2, "{j}");
        let kinds: Vec<&String> = j["errors_by_kind"].as_object().unwrap().keys().collect();
        assert!(kinds.iter().all(|k| k.starts_with("malformed")), "{j}");
    }
    for j in run(broken_length, false) {
        assert_eq!(j["errors"], 2, "{j}");
    }
}

fn wrong_id(id: u16, q: &[u8]) -> Vec<u8> {
    let mut out = frame(&message(id, q, &[soa(5), a(1)]));
    out.extend(frame(&message(id ^ 0x0101, q, &[a(2), soa(5)])));
    out
}

#[test]
fn wrong_message_id() {
    only_error(&run(wrong_id, true), "id_mismatch");
    only_error(&run(wrong_id, false), "id_mismatch");
}

fn stops_early(id: u16, q: &[u8]) -> Vec<u8> {
    frame(&message(id, q, &[soa(5), a(1)]))
}

#[test]
fn stream_that_stops_before_the_final_soa() {
    only_error(&run(stops_early, true), "truncated");
}

/// Connections served by `records_differ`, so each one can send a different record set.
static SERVED: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

fn records_differ(id: u16, q: &[u8]) -> Vec<u8> {
    let n = SERVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut out = frame(&message(id, q, &[soa(5), a(1)]));
    out.extend(frame(&message(id, q, &[a(2 + n), a(9), soa(5)])));
    out
}

#[test]
fn digest_mismatch_between_transfers() {
    // Same serial, same count, one record differs: only the digest can tell.
    for j in run(records_differ, true) {
        assert_eq!(j["transfers"], 1, "{j}");
        assert_eq!(j["errors"], 1, "{j}");
        assert_eq!(j["errors_by_kind"]["digest_mismatch"], 1, "{j}");
    }
}

/// 400 messages of 100 A records each (about 650 KB, more than one 256 KiB read): frames span
/// reads, and the end is found by the cheap path (tail check, then a walk of the candidate).
fn big_axfr(id: u16, q: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in 0..400u16 {
        let mut rrs: Vec<Rr> = (0..100u8).map(a).collect();
        if m == 0 {
            rrs.insert(0, soa(9));
        }
        if m == 399 {
            rrs.push(soa(9));
        }
        out.extend(frame(&message(id, q, &rrs)));
    }
    out
}

#[test]
fn long_stream_counts_exactly_across_reads() {
    let total = big_axfr(1, &[0, 0, 0, 0, 0]).len() as u64;
    for driver in DRIVERS {
        // Events: 4 transfers at once on one thread, so reads of different connections
        // interleave in its one buffer and each carries its partial frame.
        let (port, h) = scripted_server(big_axfr, 4);
        let t = format!("127.0.0.1:{port}");
        let (out, j) = run_bench(&[
            "axfr",
            "--target",
            &t,
            "--zone",
            ".",
            "--transfers",
            "4",
            "--concurrency",
            "4",
            "--client-threads",
            "1",
            "--driver",
            driver,
            "--timeout",
            "5",
            "--fail-on-error",
        ]);
        h.join().unwrap();
        assert!(
            out.status.success(),
            "{driver}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let j = j.unwrap();
        assert_eq!(j["transfers"], 4, "{j}");
        assert_eq!(j["records_per_transfer"].as_f64().unwrap(), 40001.0);
        assert_eq!(j["messages_per_transfer"].as_f64().unwrap(), 400.0);
        assert_eq!(j["bytes_per_transfer"].as_f64().unwrap(), total as f64);
    }
}
