//! `xfr-bench handoff` speaks handoff protocol v1 (DESIGN.md) as the front end. The engine
//! side here is a scripted one built on the protocol crate's own assembler and SCM_RIGHTS
//! receive, because xfrd does not take handoffs yet: it checks each frame, answers with a
//! chosen status and, when it takes the socket, writes an AXFR on it.

mod common;

use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::Path;

fn scripted_engine(path: &Path, handoffs: usize, status: u8) -> std::thread::JoinHandle<usize> {
    let l = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        let (conn, _) = l.accept().unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut asm = xfr_handoff::Assembler::new();
        let mut events = Vec::new();
        let mut buf = vec![0u8; 70000];
        let mut seen = 0;
        // Bounded: at most `handoffs` frames, and each recv has a timeout.
        while seen < handoffs {
            let (n, fds) = xfr_handoff::sys::recv_with_fds(conn.as_fd(), &mut buf).unwrap();
            if n == 0 {
                break;
            }
            asm.feed(&buf[..n], fds, &mut events);
            for e in events.drain(..) {
                let xfr_handoff::Event::Handoff { query, fd } = e else {
                    panic!("bad frame from xfr-bench: {e:?}");
                };
                seen += 1;
                // The query as a client would send it: one question, AXFR for the zone.
                assert_eq!(&query[4..6], &[0, 1]);
                let qend = 12 + name_wire("ex.").len();
                assert_eq!(&query[12..qend], name_wire("ex.").as_slice());
                assert_eq!(&query[qend..qend + 2], &[0, 252]);
                (&conn).write_all(&[1, status]).unwrap();
                if status == 0 {
                    let mut s = TcpStream::from(fd);
                    let id = u16::from_be_bytes([query[0], query[1]]);
                    s.write_all(&good_axfr(id, &query[12..qend + 4])).unwrap();
                }
            }
        }
        seen
    })
}

#[test]
fn handoff_transfers_are_taken_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("handoff.sock");
    let engine = scripted_engine(&sock, 4, 0);
    let s = sock.to_str().unwrap();
    let (out, j) = run_bench(&[
        "handoff",
        "--socket",
        s,
        "--zone",
        "ex.",
        "--transfers",
        "4",
        "--verify",
        "--fail-on-error",
        "--timeout",
        "5",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(engine.join().unwrap(), 4);
    let j = j.unwrap();
    assert_eq!(j["mode"], "axfr-handoff");
    assert_eq!(j["transfers"], 4);
    assert_eq!(j["verify"]["records"], 4);
    assert_eq!(j["target"], s);
}

#[test]
fn handoff_refusals_are_counted_by_status() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("handoff.sock");
    let engine = scripted_engine(&sock, 2, 3);
    let (_, j) = run_bench(&[
        "handoff",
        "--socket",
        sock.to_str().unwrap(),
        "--zone",
        "ex.",
        "--transfers",
        "2",
        "--timeout",
        "5",
    ]);
    assert_eq!(engine.join().unwrap(), 2);
    let j = j.unwrap();
    assert_eq!(j["transfers"], 0);
    assert_eq!(j["errors_by_kind"]["handoff_not_served"], 2, "{j}");
}
