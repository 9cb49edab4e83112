//! --timeout bounds a transfer that stalls, with both drivers: a server that answers nothing,
//! and one that sends the first message and then neither sends nor closes.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// The first message of `good_axfr` only: the transfer cannot end.
fn first_message_only(id: u16, q: &[u8]) -> Vec<u8> {
    frame(&message(id, q, &[soa(5), a(1)]))
}

fn stalls(script: Option<Script>, driver: &str) {
    // The server holds each connection 10 s; the client must give up after 1 s.
    let (port, h) = stalling_server(script, 2, Duration::from_secs(10));
    let t = format!("127.0.0.1:{port}");
    let start = Instant::now();
    let (out, j) = run_bench(&[
        "axfr",
        "--target",
        &t,
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
    h.join().unwrap();
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
    // Both transfers run at once and each ends one timeout after it started (plus start-up
    // and scheduling slack), far from the server's 10 s hold.
    assert!(wall < Duration::from_secs(5), "{driver}: took {wall:?}");
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
        let start = Instant::now();
        let (out, j) = run_bench(&[
            "soa",
            "--target",
            &t,
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
        assert_eq!(j["errors_by_kind"]["timeout"], 2, "{j}");
        assert!(wall < Duration::from_secs(5), "{driver}: took {wall:?}");
    }
}
