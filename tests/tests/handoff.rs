//! Handoff protocol v1 against a real xfrd: good handoffs answered on the handed-over socket,
//! every bad input answered with its documented status, and no descriptor leaked in either
//! process (counted in /proc/PID/fd).

use std::io::{IoSlice, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use xfr_handoff::{frame, sys, Client, Status};
use xfrd_tests::{free_port, soa_serial, wait_until, xfrd_with_handoff, Proc};

const ZONE: &str = "example.com.";

/// The tests of this file count this process's open descriptors, which every test running in
/// parallel in the same process changes: each test holds this lock for its whole run.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Waits (bounded) until `pid` has `want` descriptors open; returns the last count.
fn settle_fds(pid: u32, want: usize) -> usize {
    let start = Instant::now();
    loop {
        let n = fd_count(pid);
        if n == want || start.elapsed() > Duration::from_secs(5) {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Descriptor counts of xfrd and of this test process, taken once the front-end connections
/// are registered; checked again at the end of a test.
struct Baseline {
    engine: usize,
    own: usize,
}

impl Baseline {
    fn take(engine: &Engine) -> Baseline {
        // Let the engine register the front-end connections first.
        std::thread::sleep(Duration::from_millis(200));
        Baseline {
            engine: fd_count(engine.proc.pid()),
            own: fd_count(std::process::id()),
        }
    }

    /// Every descriptor is accounted for in both processes (waiting, bounded, for closes).
    fn assert_settled(&self, engine: &Engine) {
        assert_eq!(
            settle_fds(std::process::id(), self.own),
            self.own,
            "test process leaked descriptors"
        );
        let now = settle_fds(engine.proc.pid(), self.engine);
        assert_eq!(
            now,
            self.engine,
            "xfrd leaked descriptors; log:\n{}",
            engine.proc.log_text()
        );
    }
}

struct Engine {
    proc: Proc,
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// Starts xfrd serving the example zone (and `zones`, as ORIGIN=FILE) with a handoff socket.
fn start_engine(extra: &[&str]) -> Engine {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("handoff.sock");
    let port = free_port("127.0.0.1");
    let mut cmd = xfrd_with_handoff(dir.path(), port, &socket, 2);
    cmd.args(extra).env("RUST_LOG", "xfrd=debug");
    let mut proc = Proc::spawn("xfrd", cmd, dir.path().join("xfrd.log")).unwrap();
    wait_until(Duration::from_secs(60), "xfrd to answer SOA", || {
        proc.check_running()?;
        Ok(soa_serial("127.0.0.1", port, ZONE).is_some() && socket.exists())
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", proc.log_text()));
    Engine {
        proc,
        socket,
        _dir: dir,
    }
}

/// A DNS query (without TCP length) for `name` and `qtype`, ID `id`.
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

/// A connected TCP pair on loopback: (the client's end, the server's end to hand off).
fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

/// Reads one DNS/TCP message (bounded by a read timeout).
fn read_message(c: &mut TcpStream) -> hickory_proto::op::Message {
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut len = [0u8; 2];
    c.read_exact(&mut len).expect("a response from the engine");
    let mut m = vec![0u8; u16::from_be_bytes(len) as usize];
    c.read_exact(&mut m).unwrap();
    hickory_proto::op::Message::from_vec(&m).expect("engine sent a valid DNS message")
}

/// Reads the messages of one AXFR from `c` until the closing SOA; returns (messages, answer
/// records, id of each message).
fn read_transfer(c: &mut TcpStream) -> (usize, usize, Vec<u16>) {
    let (mut msgs, mut records, mut ids) = (0, 0, Vec::new());
    let mut soas = 0;
    loop {
        let msg = read_message(c);
        msgs += 1;
        ids.push(msg.metadata.id);
        records += msg.answers.len();
        soas += msg
            .answers
            .iter()
            .filter(|r| r.record_type() == hickory_proto::rr::RecordType::SOA)
            .count();
        if soas >= 2 || msg.answers.is_empty() {
            break;
        }
    }
    (msgs, records, ids)
}

fn raw_frame(query: &[u8]) -> Vec<u8> {
    let mut f = frame::request_header(query).unwrap().to_vec();
    f.extend_from_slice(query);
    f
}

fn recv_status(s: &mut UnixStream) -> Status {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut b = [0u8; 2];
    s.read_exact(&mut b).expect("a status from the engine");
    frame::parse_response(b).expect("a valid status")
}

#[test]
fn handoff_good_and_bad_inputs_leak_nothing() {
    let _serial = serial();
    if xfrd_tests::require_program("dig").is_none() {
        return;
    }
    let engine = start_engine(&[]);
    // The socket file is the owner's alone (mode 0600 by default).
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&engine.socket).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "handoff socket mode {mode:o}");
    let mut conn = UnixStream::connect(&engine.socket).unwrap();
    let baseline = Baseline::take(&engine);

    // A good AXFR handoff: taken, answered on the handed-over socket with our ID.
    {
        let (mut c, s) = tcp_pair();
        let q = query(0x1234, ZONE, 252);
        let mut client = Client::from_stream(conn.try_clone().unwrap());
        assert_eq!(client.hand_off(s.as_fd(), &q).unwrap(), Status::Taken);
        drop(s);
        let (msgs, records, ids) = read_transfer(&mut c);
        assert!(
            msgs >= 1 && records >= 3,
            "a whole transfer: {msgs} messages, {records} records"
        );
        assert!(ids.iter().all(|&id| id == 0x1234));
    }
    // SOA over a handed-over socket; the client pipelined a second query behind the first,
    // which the front end must leave in the socket: the engine reads and answers it too.
    {
        let (mut c, mut s) = tcp_pair();
        let mut bytes = Vec::new();
        for q in [query(7, ZONE, 6), query(8, ZONE, 6)] {
            bytes.extend_from_slice(&(q.len() as u16).to_be_bytes());
            bytes.extend_from_slice(&q);
        }
        c.write_all(&bytes).unwrap();
        // The front end reads exactly one message.
        let mut len = [0u8; 2];
        s.read_exact(&mut len).unwrap();
        let mut first = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut first).unwrap();
        let mut client = Client::from_stream(conn.try_clone().unwrap());
        assert_eq!(client.hand_off(s.as_fd(), &first).unwrap(), Status::Taken);
        drop(s);
        assert_eq!(read_message(&mut c).metadata.id, 7);
        assert_eq!(read_message(&mut c).metadata.id, 8);
    }
    // A frame without a descriptor.
    conn.write_all(&raw_frame(&query(1, ZONE, 252))).unwrap();
    assert_eq!(recv_status(&mut conn), Status::Malformed);
    // Two descriptors.
    {
        let (_c1, s1) = tcp_pair();
        let (_c2, s2) = tcp_pair();
        let q = query(2, ZONE, 252);
        let h = frame::request_header(&q).unwrap();
        sys::send_with_fds(
            conn.as_fd(),
            &[IoSlice::new(&h), IoSlice::new(&q)],
            &[s1.as_fd(), s2.as_fd()],
        )
        .unwrap();
        assert_eq!(recv_status(&mut conn), Status::Malformed);
    }
    // Not a socket, a UDP socket, a listening socket.
    {
        let q = query(3, ZONE, 252);
        let h = frame::request_header(&q).unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        sys::send_with_fd(
            conn.as_fd(),
            &[IoSlice::new(&h), IoSlice::new(&q)],
            file.as_fd(),
        )
        .unwrap();
        assert_eq!(recv_status(&mut conn), Status::Malformed, "a file");
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        sys::send_with_fd(
            conn.as_fd(),
            &[IoSlice::new(&h), IoSlice::new(&q)],
            udp.as_fd(),
        )
        .unwrap();
        assert_eq!(recv_status(&mut conn), Status::Malformed, "a UDP socket");
        let listening = TcpListener::bind("127.0.0.1:0").unwrap();
        sys::send_with_fd(
            conn.as_fd(),
            &[IoSlice::new(&h), IoSlice::new(&q)],
            listening.as_fd(),
        )
        .unwrap();
        assert_eq!(
            recv_status(&mut conn),
            Status::Malformed,
            "a listening socket"
        );
    }
    // A query that is neither XFR nor SOA, a zone not served, a query too short.
    for (q, want) in [
        (query(4, ZONE, 1), Status::NotServed),
        (query(5, "not-served.example.", 252), Status::NotServed),
        (query(6, ZONE, 252)[..12].to_vec(), Status::Malformed),
    ] {
        let (_c, s) = tcp_pair();
        let mut client = Client::from_stream(conn.try_clone().unwrap());
        assert_eq!(client.hand_off(s.as_fd(), &q).unwrap(), want, "query {q:?}");
    }
    // A frame whose length is larger than its data, followed by a good frame: the first is
    // rejected as truncated when the second arrives, the second is served.
    {
        let (_c1, s1) = tcp_pair();
        let q = query(9, ZONE, 6);
        let mut h = frame::request_header(&q).unwrap();
        h[3] = h[3].wrapping_add(40);
        sys::send_with_fd(
            conn.as_fd(),
            &[IoSlice::new(&h), IoSlice::new(&q)],
            s1.as_fd(),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let (mut c2, s2) = tcp_pair();
        let mut client = Client::from_stream(conn.try_clone().unwrap());
        client.send(s2.as_fd(), &query(10, ZONE, 6)).unwrap();
        assert_eq!(recv_status(&mut conn), Status::Malformed);
        assert_eq!(recv_status(&mut conn), Status::Taken);
        drop(s2);
        assert_eq!(read_message(&mut c2).metadata.id, 10);
    }
    // The client closes before the engine answers: taken, and the engine cleans up.
    {
        let (c, s) = tcp_pair();
        drop(c);
        let mut client = Client::from_stream(conn.try_clone().unwrap());
        assert_eq!(
            client.hand_off(s.as_fd(), &query(11, ZONE, 252)).unwrap(),
            Status::Taken
        );
    }
    // A second front-end connection closes mid-frame, another sends an unknown version.
    {
        let (_c, s) = tcp_pair();
        let other = UnixStream::connect(&engine.socket).unwrap();
        let q = query(12, ZONE, 252);
        let f = raw_frame(&q);
        sys::send_with_fd(other.as_fd(), &[IoSlice::new(&f[..10])], s.as_fd()).unwrap();
        drop(other);
        let mut third = UnixStream::connect(&engine.socket).unwrap();
        let mut bad = raw_frame(&q);
        bad[0] = 9;
        let (_c2, s2) = tcp_pair();
        sys::send_with_fd(third.as_fd(), &[IoSlice::new(&bad)], s2.as_fd()).unwrap();
        assert_eq!(recv_status(&mut third), Status::Malformed);
        let mut rest = Vec::new();
        third.read_to_end(&mut rest).unwrap();
        assert!(
            rest.is_empty(),
            "the engine closes a connection with an unknown version"
        );
    }
    baseline.assert_settled(&engine);
}

/// Status 2: at its transfer limit, the engine declines an AXFR handoff and the front end keeps
/// the connection; once the transfer in flight ends, the next handoff is taken.
#[test]
fn handoff_at_the_transfer_limit_is_overloaded() {
    let _serial = serial();
    if xfrd_tests::require_program("dig").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let big = xfrd_tests::generated_zone("big.example.", 200_000, 1, dir.path());
    let config = dir.path().join("xfrd.toml");
    std::fs::write(&config, "[limits]\nmax_transfers_per_core = 1\n").unwrap();
    let zone_arg = format!("big.example.={}", big.display());
    let engine = start_engine(&["--config", config.to_str().unwrap(), "--zone", &zone_arg]);
    let conn = UnixStream::connect(&engine.socket).unwrap();
    let baseline = Baseline::take(&engine);

    // One transfer of the big zone, handed off, whose client does not read: it stays in flight.
    let (stalled, s) = tcp_pair();
    let mut client = Client::from_stream(conn.try_clone().unwrap());
    assert_eq!(
        client
            .hand_off(s.as_fd(), &query(1, "big.example.", 252))
            .unwrap(),
        Status::Taken
    );
    drop(s);
    std::thread::sleep(Duration::from_millis(300));
    // The next AXFR is declined; the front end still owns that connection.
    let (c2, s2) = tcp_pair();
    assert_eq!(
        client.hand_off(s2.as_fd(), &query(2, ZONE, 252)).unwrap(),
        Status::Overloaded
    );
    // SOA is not a transfer: still taken.
    let (mut c3, s3) = tcp_pair();
    assert_eq!(
        client.hand_off(s3.as_fd(), &query(3, ZONE, 6)).unwrap(),
        Status::Taken
    );
    drop(s3);
    assert_eq!(read_message(&mut c3).metadata.id, 3);
    drop(c3);
    // The stalled client goes away; the slot frees and a new transfer is taken.
    drop(stalled);
    let (mut c4, s4) = tcp_pair();
    let start = Instant::now();
    loop {
        let st = client.hand_off(s4.as_fd(), &query(4, ZONE, 252)).unwrap();
        if st == Status::Taken {
            break;
        }
        assert_eq!(st, Status::Overloaded);
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the aborted transfer never ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(s4);
    let (_, records, _) = read_transfer(&mut c4);
    assert!(records >= 3);
    drop(c4);
    // The front end still owned the declined connection; it closes it now.
    drop((c2, s2, client));
    baseline.assert_settled(&engine);
}

/// Front-end connections spread across the cores (each logs the core that took it), and a
/// handoff on each of them is served.
#[test]
fn front_ends_spread_across_cores() {
    let _serial = serial();
    if xfrd_tests::require_program("dig").is_none() {
        return;
    }
    let engine = start_engine(&[]);
    let mut conns: Vec<UnixStream> = (0..4)
        .map(|_| UnixStream::connect(&engine.socket).unwrap())
        .collect();
    for (i, conn) in conns.iter_mut().enumerate() {
        let (mut c, s) = tcp_pair();
        let mut client = Client::from_stream(conn.try_clone().unwrap());
        assert_eq!(
            client
                .hand_off(s.as_fd(), &query(i as u16, ZONE, 6))
                .unwrap(),
            Status::Taken
        );
        drop(s);
        assert_eq!(read_message(&mut c).metadata.id, i as u16);
    }
    // The cores write their log lines once per tick (100 ms): wait for all four.
    let log = || std::fs::read_to_string(&engine.proc.log).unwrap();
    let _ = xfrd_tests::wait_until(Duration::from_secs(5), "four front-end log lines", || {
        Ok(log().matches("front end connected").count() >= 4)
    });
    let log = log();
    let cores: std::collections::BTreeSet<&str> = log
        .lines()
        .filter(|l| l.contains("front end connected"))
        .filter_map(|l| l.split("core=").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(cores.len(), 2, "front ends on cores {cores:?}; log:\n{log}");
}

/// 10,000 handoffs over four front-end connections, one in ten a whole AXFR and the rest SOA
/// answers, every one read back in full; afterwards every descriptor is accounted for in both
/// processes.
#[test]
fn ten_thousand_handoffs_leave_every_descriptor_accounted_for() {
    let _serial = serial();
    if xfrd_tests::require_program("dig").is_none() {
        return;
    }
    const HANDOFFS: usize = 10_000;
    let engine = start_engine(&[]);
    let mut clients: Vec<Client> = (0..4)
        .map(|_| Client::connect(&engine.socket).unwrap())
        .collect();
    let baseline = Baseline::take(&engine);
    let start = Instant::now();
    let (mut transfers, mut soas) = (0, 0);
    for i in 0..HANDOFFS {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "stuck after {i} handoffs"
        );
        let (mut c, s) = tcp_pair();
        let id = i as u16;
        let is_xfr = i % 10 == 0;
        let q = query(id, ZONE, if is_xfr { 252 } else { 6 });
        let client = &mut clients[i % 4];
        assert_eq!(
            client.hand_off(s.as_fd(), &q).unwrap(),
            Status::Taken,
            "handoff {i}"
        );
        drop(s);
        if is_xfr {
            let (_, records, ids) = read_transfer(&mut c);
            assert!(records >= 3 && ids.iter().all(|&x| x == id), "transfer {i}");
            transfers += 1;
        } else {
            assert_eq!(read_message(&mut c).metadata.id, id);
            soas += 1;
        }
    }
    assert_eq!((transfers, soas), (HANDOFFS / 10, HANDOFFS - HANDOFFS / 10));
    baseline.assert_settled(&engine);
}
