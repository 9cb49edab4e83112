//! Handoff protocol v1 against the running engine: the test plays the front end (accepts a
//! client's TCP connection, reads exactly one query, hands the socket to xfrd over the Unix
//! socket) and the client, which then reads its answers from xfrd on the same connection.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

use common::*;
use xfr_handoff::{Client, Status};

/// A client connected to the front end, and the front end's side of that connection with the
/// client's first query read from it (and nothing more).
fn client_and_front_end(
    front: &TcpListener,
    queries: &[Vec<u8>],
) -> (TcpStream, TcpStream, Vec<u8>) {
    let mut client = TcpStream::connect(front.local_addr().unwrap()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    for q in queries {
        client.write_all(&framed(q)).unwrap();
    }
    let (mut side, _) = front.accept().unwrap();
    let mut len = [0u8; 2];
    side.read_exact(&mut len).unwrap();
    let mut query = vec![0u8; u16::from_be_bytes(len) as usize];
    side.read_exact(&mut query).unwrap();
    (client, side, query)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn handed_off_connections_are_served_and_rejects_stay_with_the_front_end() {
    let dir = tempfile::tempdir().unwrap();
    let zone = generated_zone(dir.path(), "hand.example.", 20_000);
    let port = free_port();
    let sock = dir.path().join("handoff.sock");
    let args = vec![
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--cores".into(),
        "2".into(),
        "--zone".into(),
        format!("hand.example.={}", zone.display()),
        "--handoff".into(),
        sock.display().to_string(),
    ];
    let x = Xfrd::start(dir.path(), port, "hand.example.", &args);
    let front = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut fe = Client::connect(&sock).unwrap();
    let fds_before = open_fds(x.pid());

    // Taken: AXFR plus a pipelined SOA that stayed in the socket, both answered by xfrd (the
    // SOA at a message boundary of the AXFR or after it: queries on one connection are answered
    // concurrently).
    for round in 0..3u16 {
        let (mut client, side, query) = client_and_front_end(
            &front,
            &[
                query(10 + round, "hand.example.", TYPE_AXFR, None),
                query(20 + round, "hand.example.", TYPE_SOA, None),
            ],
        );
        assert_eq!(fe.hand_off(side.as_fd(), &query).unwrap(), Status::Taken);
        drop(side); // the front end closes its copy
        let mut beside = Vec::new();
        let t = read_transfer_beside(&mut client, 10 + round, &mut beside, 1);
        assert_eq!(t.records, 20_001);
        assert_eq!(t.first_serial, t.last_serial);
        let soa = match beside.pop() {
            Some(soa) => soa,
            None => read_frame(&mut client).unwrap().unwrap(),
        };
        assert_eq!(u16::from_be_bytes([soa[0], soa[1]]), 20 + round);
        assert!(soa_serial_of(&soa).is_some());
    }

    // Not served: the front end still owns the connection and can answer on it itself.
    let (mut client, mut side, q) =
        client_and_front_end(&front, &[query(30, "other.example.", TYPE_AXFR, None)]);
    assert_eq!(fe.hand_off(side.as_fd(), &q).unwrap(), Status::NotServed);
    side.write_all(&framed(b"front end here")).unwrap();
    assert_eq!(read_frame(&mut client).unwrap().unwrap(), b"front end here");
    drop((client, side));

    // Malformed: a descriptor that is not a TCP socket, and a query that does not parse.
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let good = query(40, "hand.example.", TYPE_AXFR, None);
    assert_eq!(fe.hand_off(a.as_fd(), &good).unwrap(), Status::Malformed);
    let (client, side, _) =
        client_and_front_end(&front, &[query(41, "hand.example.", TYPE_SOA, None)]);
    assert_eq!(
        fe.hand_off(side.as_fd(), &[0u8; 12]).unwrap(),
        Status::Malformed
    );
    drop((client, side, a));

    // Every descriptor the engine received is closed once the clients and the front end are
    // gone (taken ones by the connection's close, rejected ones at once).
    drop(fe);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now_open = open_fds(x.pid());
        if now_open <= fds_before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "xfrd holds {now_open} descriptors, {fds_before} before the handoffs"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_front_end_sending_garbage_gets_malformed_and_is_closed() {
    // A wrong version makes the stream unreadable: one Malformed status, then the close.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sock = dir.path().join("h.sock");
    let args = vec![
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--handoff".into(),
        sock.display().to_string(),
    ];
    let _x = Xfrd::start(dir.path(), port, "example.com.", &args);
    let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&[9, 0, 0, 12]).unwrap();
    let mut status = [0u8; 2];
    s.read_exact(&mut status).unwrap();
    assert_eq!(status, [1, 1], "version 1, status malformed");
    let mut rest = Vec::new();
    assert_eq!(
        s.read_to_end(&mut rest).unwrap(),
        0,
        "connection closed after a fatal frame"
    );
}
