//! --timeout bounds a transfer that stalls, with both drivers: a server that answers nothing,
//! and one that sends the first message and then neither sends nor closes.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// The first message of `good_axfr` only: the transfer cannot end.
fn first_message_only(id: u16, q: &[u8]) -> Vec<u8> {
    frame(&message(id, q, &[soa(5), a(1)]))
}

/// Two transfers (or queries) of `mode` at concurrency 2 with a 1 s `--timeout` against a
/// server that never finishes them: both must end as timeouts, well before the server gives
/// up (10 s), whichever the driver.
fn both_time_out(mode: &str, target: &str, driver: &str) {
    let start = Instant::now();
    let (out, j) = run_bench(&[
        mode,
        "--target",
        target,
        "--zone",
        "ex.",
        "--transfers",
        "2",
        "--concurrency",
        "2",
        "--driver",
        driver,
        "--timeout",
        "1",
    ]);
    let wall = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = j.unwrap();
    assert_eq!(j["driver"], driver, "{j}");
    assert_eq!(j["transfers"], 0, "{j}");
    assert_eq!(j["errors"], 2, "{j}");
    assert_eq!(j["errors_by_kind"]["timeout"], 2, "{j}");
    // Both run at once and each ends one timeout after it started (plus start-up and
    // scheduling slack).
    assert!(
        wall < Duration::from_secs(5),
        "{mode} {driver}: took {wall:?}"
    );
}

fn stalls(script: Option<Script>, driver: &str) {
    // The server holds each connection 10 s.
    let (port, h) = stalling_server(script, 2, Duration::from_secs(10));
    both_time_out("axfr", &format!("127.0.0.1:{port}"), driver);
    h.join().unwrap();
}

#[test]
fn silent_server_times_out() {
    stalls(None, "events");
    stalls(None, "threads");
}

#[test]
fn stream_that_stalls_times_out() {
    stalls(Some(first_message_only), "events");
    stalls(Some(first_message_only), "threads");
}

#[test]
fn silent_udp_server_times_out() {
    // A bound socket that never answers: each SOA query ends at --timeout.
    let quiet = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let t = quiet.local_addr().unwrap().to_string();
    for driver in ["events", "threads"] {
        both_time_out("soa", &t, driver);
    }
}
