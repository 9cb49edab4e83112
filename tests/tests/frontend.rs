//! `xfr-frontend` in front of xfrd (handoff protocol v1): dig, kdig and a knotd secondary
//! talk only to the front end's port; transfers are answered by xfrd on the handed-over
//! sockets, and what the clients get must equal the source zone.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use xfrd_tests::peers::{self, Peer, Role};
use xfrd_tests::{
    axfr_canonical, canonical_zone, diff_summary, free_port, generated_zone, require_program,
    soa_serial, wait_until, workspace_bin, workspace_root, Proc,
};

struct Pair {
    xfrd: Proc,
    frontend: Proc,
    port: u16,
    socket: PathBuf,
}

/// xfrd serving `zones` with its handoff socket at `socket` (its own TCP port is used only to
/// see that it is up).
fn start_xfrd(zones: &[(&str, &Path)], dir: &Path, socket: &Path) -> Proc {
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
        .arg(socket);
    for (origin, file) in zones {
        cmd.arg("--zone")
            .arg(format!("{origin}={}", file.display()));
    }
    let _ = std::fs::remove_file(socket);
    let mut xfrd = Proc::spawn("xfrd", cmd, dir.join("xfrd.log")).unwrap();
    wait_until(Duration::from_secs(60), "xfrd to load its zones", || {
        xfrd.check_running()?;
        Ok(zones
            .iter()
            .all(|(o, _)| soa_serial("127.0.0.1", xport, o).is_some())
            && socket.exists())
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", xfrd.log_text()));
    xfrd
}

/// xfrd (handoff socket, no TCP clients of its own in use) and xfr-frontend in front of it,
/// started with `extra` arguments.
fn start_pair_with(zones: &[(&str, &Path)], dir: &Path, extra: &[&str]) -> Pair {
    let socket = dir.join("handoff.sock");
    let xfrd = start_xfrd(zones, dir, &socket);
    let port = free_port("127.0.0.1");
    let mut cmd = Command::new(workspace_bin("xfr-frontend"));
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--handoff")
        .arg(&socket)
        .args(extra);
    for (origin, file) in zones {
        cmd.arg("--zone")
            .arg(format!("{origin}={}", file.display()));
    }
    let mut frontend = Proc::spawn("xfr-frontend", cmd, dir.join("frontend.log")).unwrap();
    wait_until(Duration::from_secs(30), "xfr-frontend to listen", || {
        frontend.check_running()?;
        Ok(TcpStream::connect(("127.0.0.1", port)).is_ok())
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", frontend.log_text()));
    Pair {
        xfrd,
        frontend,
        port,
        socket,
    }
}

fn start_pair(zones: &[(&str, &Path)], dir: &Path) -> Pair {
    start_pair_with(zones, dir, &[])
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

/// A TCP-framed DNS query for `name` and `qtype`, ID `id`.
fn framed_query(id: u16, name: &str, qtype: RecordType) -> Vec<u8> {
    let mut q = vec![0, 0];
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&u16::from(qtype).to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    let len = (q.len() - 2) as u16;
    q[..2].copy_from_slice(&len.to_be_bytes());
    q
}

fn connect(port: u16) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

/// One DNS/TCP message, or `None` when the server closed the connection first.
fn try_read_message(c: &mut TcpStream) -> Option<Message> {
    let mut len = [0u8; 2];
    match c.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
        Err(e) => panic!("reading a response: {e}"),
    }
    let mut m = vec![0u8; u16::from_be_bytes(len) as usize];
    c.read_exact(&mut m).unwrap();
    Some(Message::from_vec(&m).expect("a valid DNS message"))
}

fn read_message(c: &mut TcpStream) -> Message {
    try_read_message(c).expect("a response, not a closed connection")
}

/// Asserts that the next message answers `id` with `rcode` and `answers` records.
fn expect_answer(c: &mut TcpStream, id: u16, rcode: ResponseCode, answers: usize) -> Message {
    let m = read_message(c);
    assert_eq!(m.metadata.id, id, "response ID");
    assert_eq!(m.metadata.response_code, rcode, "rcode of response {id}");
    assert_eq!(m.answers.len(), answers, "answers in response {id}");
    m
}

/// Reads one whole AXFR answering `id` (up to its closing SOA); returns its record count.
fn read_transfer(c: &mut TcpStream, id: u16) -> usize {
    let (mut records, mut soas) = (0, 0);
    for _ in 0..100_000 {
        let m = read_message(c);
        assert_eq!(m.metadata.id, id, "transfer message ID");
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(!m.answers.is_empty(), "an empty transfer message");
        records += m.answers.len();
        soas += m
            .answers
            .iter()
            .filter(|r| r.record_type() == RecordType::SOA)
            .count();
        if soas >= 2 {
            return records;
        }
    }
    panic!("a transfer of more than 100000 messages");
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .count()
}

#[test]
fn pipelined_queries_are_answered_in_order_on_one_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = "pipe.example.";
    let zone = generated_zone(origin, 3000, 11, tmp.path());
    let pair = start_pair(&[(origin, zone.as_path())], tmp.path());

    // SOA (answered by the front end) and AXFR (handed off with the socket) in one segment:
    // the front end must not read the AXFR while it answers the SOA, nor anything behind the
    // AXFR (a third query, which xfrd reads and answers after the transfer).
    let mut c = connect(pair.port);
    let mut bytes = framed_query(1, origin, RecordType::SOA);
    bytes.extend(framed_query(2, origin, RecordType::AXFR));
    bytes.extend(framed_query(3, origin, RecordType::SOA));
    c.write_all(&bytes).unwrap();
    let soa = expect_answer(&mut c, 1, ResponseCode::NoError, 1);
    assert!(
        soa.metadata.authoritative,
        "the front end's SOA is authoritative"
    );
    assert_eq!(soa.answers[0].record_type(), RecordType::SOA);
    assert_eq!(
        read_transfer(&mut c, 2),
        3001,
        "3000 records, the SOA twice"
    );
    expect_answer(&mut c, 3, ResponseCode::NoError, 1);

    // Not taken, so still the front end's: NOTAUTH for a zone xfrd does not serve, REFUSED
    // for what the front end does not answer, FORMERR for an IXFR without its SOA (malformed
    // to xfrd), then the SOA it does answer, and a transfer.
    let mut c = connect(pair.port);
    let mut bytes = framed_query(4, "nope.example.", RecordType::AXFR);
    bytes.extend(framed_query(5, origin, RecordType::TXT));
    bytes.extend(framed_query(6, "nope.example.", RecordType::SOA));
    bytes.extend(framed_query(7, "nope.example.", RecordType::IXFR));
    bytes.extend(framed_query(8, origin, RecordType::SOA));
    bytes.extend(framed_query(9, origin, RecordType::AXFR));
    // Byte by byte, so that every read the front end makes can come up short.
    for b in bytes {
        c.write_all(&[b]).unwrap();
    }
    expect_answer(&mut c, 4, ResponseCode::NotAuth, 0);
    expect_answer(&mut c, 5, ResponseCode::Refused, 0);
    expect_answer(&mut c, 6, ResponseCode::Refused, 0);
    expect_answer(&mut c, 7, ResponseCode::FormErr, 0);
    expect_answer(&mut c, 8, ResponseCode::NoError, 1);
    assert_eq!(read_transfer(&mut c, 9), 3001);

    // A client that takes its time before its first query (past TCP_DEFER_ACCEPT's second).
    let mut c = connect(pair.port);
    std::thread::sleep(Duration::from_millis(1500));
    c.write_all(&framed_query(10, origin, RecordType::SOA))
        .unwrap();
    expect_answer(&mut c, 10, ResponseCode::NoError, 1);

    // Not a query (shorter than a header): the connection is closed.
    let mut c = connect(pair.port);
    c.write_all(&[0, 5, 1, 2, 3, 4, 5]).unwrap();
    assert!(try_read_message(&mut c).is_none(), "closed after garbage");
}

#[test]
fn vanishing_and_concurrent_clients_leave_every_descriptor_accounted_for() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = "many.example.";
    let zone = generated_zone(origin, 2000, 12, tmp.path());
    let pair = start_pair_with(
        &[(origin, zone.as_path())],
        tmp.path(),
        &["--threads", "2", "--engine-connections", "4"],
    );
    let fe = pair.frontend.pid();
    // The count once the start-up probe connections are closed: the same three times running.
    let mut counts = Vec::new();
    for _ in 0..100 {
        counts.push(fd_count(fe));
        if counts.len() >= 3
            && counts[counts.len() - 3..]
                .iter()
                .all(|&n| n == counts[counts.len() - 1])
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let baseline = *counts.last().unwrap();

    // Clients that go away at every step: right after an AXFR (before its status, or
    // mid-transfer), after half a length, after half a message, and ones that stay silent.
    for i in 0..60u16 {
        let mut c = connect(pair.port);
        match i % 4 {
            0 => c
                .write_all(&framed_query(i, origin, RecordType::AXFR))
                .unwrap(),
            1 => c.write_all(&[0]).unwrap(),
            2 => c
                .write_all(&framed_query(i, origin, RecordType::SOA)[..9])
                .unwrap(),
            _ => {
                let mut q = framed_query(i, origin, RecordType::AXFR);
                q.extend(framed_query(i, origin, RecordType::SOA));
                c.write_all(&q).unwrap();
                let _ = c.shutdown(Shutdown::Write);
            }
        }
    }
    let silent: Vec<TcpStream> = (0..20).map(|_| connect(pair.port)).collect();

    // Many clients at once, each an SOA and a transfer on one connection, several times.
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..24u16 {
            s.spawn(move || {
                for j in 0..6u16 {
                    let id = t * 100 + j;
                    let mut c = connect(pair.port);
                    let mut q = framed_query(id, origin, RecordType::SOA);
                    q.extend(framed_query(id + 50, origin, RecordType::AXFR));
                    c.write_all(&q).unwrap();
                    expect_answer(&mut c, id, ResponseCode::NoError, 1);
                    assert_eq!(read_transfer(&mut c, id + 50), 2001);
                }
            });
        }
    });
    eprintln!("144 SOA + AXFR clients in {:?}", started.elapsed());
    // The silent clients are not accepted yet (TCP_DEFER_ACCEPT) or idle: either way, they must
    // leave nothing behind once they go.
    drop(silent);
    wait_until(
        Duration::from_secs(10),
        "the front end's descriptors back to their count before the clients",
        || Ok(fd_count(fe) == baseline),
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e:#}: {} now, {baseline} before\n{}",
            fd_count(fe),
            std::fs::read_to_string(&pair.frontend.log).unwrap_or_default()
        )
    });
}

#[test]
fn idle_clients_are_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let example = workspace_root().join("examples/example.com.zone");
    let pair = start_pair_with(
        &[("example.com.", example.as_path())],
        tmp.path(),
        // Accepted at once, so that the idle timeout is all that closes them.
        &["--idle-timeout-ms", "300", "--defer-accept-s", "0"],
    );
    let mut silent = connect(pair.port);
    let mut half = connect(pair.port);
    half.write_all(&framed_query(1, "example.com.", RecordType::SOA)[..5])
        .unwrap();
    let mut busy = connect(pair.port);
    let started = Instant::now();
    // A client that keeps asking stays open past the timeout.
    for id in 0..8 {
        busy.write_all(&framed_query(id, "example.com.", RecordType::SOA))
            .unwrap();
        expect_answer(&mut busy, id, ResponseCode::NoError, 1);
        std::thread::sleep(Duration::from_millis(100));
    }
    for c in [&mut silent, &mut half] {
        let mut b = [0u8; 1];
        assert_eq!(c.read(&mut b).unwrap(), 0, "an idle client is closed");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_lost_engine_means_servfail_then_a_reconnect() {
    let tmp = tempfile::tempdir().unwrap();
    let example = workspace_root().join("examples/example.com.zone");
    let zones = [("example.com.", example.as_path())];
    let mut pair = start_pair_with(&zones, tmp.path(), &["--engine-connections", "2"]);
    let mut c = connect(pair.port);
    c.write_all(&framed_query(1, "example.com.", RecordType::SOA))
        .unwrap();
    expect_answer(&mut c, 1, ResponseCode::NoError, 1);

    pair.xfrd.child.kill().unwrap();
    pair.xfrd.child.wait().unwrap();
    // The client stays the front end's: SERVFAIL for the transfer, then its SOA answered.
    let mut q = framed_query(2, "example.com.", RecordType::AXFR);
    q.extend(framed_query(3, "example.com.", RecordType::SOA));
    c.write_all(&q).unwrap();
    expect_answer(&mut c, 2, ResponseCode::ServFail, 0);
    expect_answer(&mut c, 3, ResponseCode::NoError, 1);

    // xfrd back on the same socket: the next transfer goes through on a new connection.
    pair.xfrd = start_xfrd(&zones, tmp.path(), &pair.socket);
    std::thread::sleep(Duration::from_millis(300)); // past the reconnect back-off
    c.write_all(&framed_query(4, "example.com.", RecordType::AXFR))
        .unwrap();
    assert!(read_transfer(&mut c, 4) > 2);
}
