//! Concurrent transfers on one connection (issue 16; RFC 7766 section 6.2.1.1, RFC 9103
//! section 5.1): queries sent back to back on one TCP connection are all answered completely,
//! each transfer's messages in order and carrying its own ID and question, interleaved only at
//! message boundaries, and a large transfer does not hold back a small one behind it.
//!
//! Every stream is compared record by record with the same query answered alone on its own
//! connection. With `max_transfers_per_connection = 1` the same queries are answered one after
//! the other, in the order sent (what a server without pipelining does).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use xfr_proto::message::{build_query, skip_questions, write_canonical, Header, Records};
use xfr_proto::wire::{TYPE_AXFR, TYPE_IXFR, TYPE_SOA};
use xfrd_tests::{free_port, soa_serial, txt_zone as zone_text, wait_until, workspace_bin, Proc};

const BIG: &str = "big.pipe.";
const BIG_WIRE: &[u8] = b"\x03big\x04pipe\x00";
const SMALL: &str = "small.pipe.";
const SMALL_WIRE: &[u8] = b"\x05small\x04pipe\x00";
const IX: &str = "ix.pipe.";
const IX_WIRE: &[u8] = b"\x02ix\x04pipe\x00";
/// Records of the big zone: some 10 MB of AXFR, hundreds of messages, many send batches.
const BIG_RECORDS: usize = 150_000;

struct Server {
    proc: Proc,
    port: u16,
    /// The same zones over TLS (XoT).
    tls_port: u16,
    tls: std::sync::Arc<rustls::ClientConfig>,
}

/// A connection: plain TCP or TLS.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Over {
    Tcp,
    Tls,
}

trait Stream2: Read + Write {
    fn read_timeout(&mut self, t: Duration);
}
impl Stream2 for TcpStream {
    fn read_timeout(&mut self, t: Duration) {
        self.set_read_timeout(Some(t)).unwrap();
    }
}
impl Stream2 for xfrd_tests::tls::TlsStream {
    fn read_timeout(&mut self, t: Duration) {
        self.sock.set_read_timeout(Some(t)).unwrap();
    }
}

fn connect(server: &Server, over: Over) -> Box<dyn Stream2> {
    match over {
        Over::Tcp => {
            let s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            Box::new(s)
        }
        Over::Tls => Box::new(
            xfrd_tests::tls::connect(
                server.tls_port,
                xfrd_tests::tls::SERVER_NAME,
                server.tls.clone(),
            )
            .unwrap(),
        ),
    }
}

fn start(dir: &Path, per_connection: u32) -> Server {
    let port = free_port("127.0.0.1");
    let tls_port = free_port("127.0.0.1");
    let pki = xfrd_tests::tls::make_pki(&dir.join("pki")).unwrap();
    std::fs::write(dir.join("big.zone"), zone_text(BIG, 1, BIG_RECORDS, "v1")).unwrap();
    std::fs::write(dir.join("small.zone"), zone_text(SMALL, 7, 200, "v1")).unwrap();
    std::fs::write(dir.join("ix.zone"), zone_text(IX, 1, 2000, "v1")).unwrap();
    let mut zones = String::new();
    for (origin, file) in [(BIG, "big.zone"), (SMALL, "small.zone"), (IX, "ix.zone")] {
        zones.push_str(&format!(
            "[[zone]]\norigin = \"{origin}\"\nfile = \"{}\"\n",
            dir.join(file).display()
        ));
    }
    let conf = dir.join("xfrd.toml");
    std::fs::write(
        &conf,
        format!(
            "listen = [\"127.0.0.1:{port}\"]\ncores = 1\nstore_dir = \"{}\"\n\
             [limits]\nmax_transfers_per_connection = {per_connection}\n\
             [[tls]]\nlisten = [\"127.0.0.1:{tls_port}\"]\ncert = \"{}\"\nkey = \"{}\"\n{zones}",
            dir.join("stores").display(),
            pki.cert.display(),
            pki.key.display(),
        ),
    )
    .unwrap();
    let mut cmd = Command::new(workspace_bin("xfrd"));
    cmd.arg("serve").arg("--config").arg(&conf);
    let mut proc = Proc::spawn("xfrd", cmd, dir.join("xfrd.log")).unwrap();
    wait_until(Duration::from_secs(120), "xfrd to serve the zones", || {
        proc.check_running()?;
        Ok(soa_serial("127.0.0.1", port, BIG) == Some(1)
            && soa_serial("127.0.0.1", port, IX) == Some(1))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", proc.log_text()));
    // Version 2 of ix.pipe.: every tenth record changed, so IXFR from 1 is a diff of several
    // messages' worth.
    let mut v2 = zone_text(IX, 2, 2000, "v1");
    for i in (0..2000).step_by(10) {
        v2 = v2.replace(
            &format!("r{i} TXT \"record {i} of {IX} v1\"\n"),
            &format!("r{i} TXT \"record {i} of {IX} changed in v2, longer than before\"\n"),
        );
    }
    std::fs::write(dir.join("ix.zone"), v2).unwrap();
    proc.signal("HUP").unwrap();
    wait_until(Duration::from_secs(120), "xfrd to serve ix.pipe. 2", || {
        proc.check_running()?;
        Ok(soa_serial("127.0.0.1", port, IX) == Some(2))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", proc.log_text()));
    let tls = xfrd_tests::tls::client_config(&pki.ca, &Default::default()).unwrap();
    Server {
        proc,
        port,
        tls_port,
        tls,
    }
}

#[derive(Debug, Clone, Copy)]
struct Query {
    id: u16,
    qname: &'static [u8],
    qtype: u16,
    /// The client's serial, for IXFR.
    serial: Option<u32>,
}

impl Query {
    fn wire(&self) -> Vec<u8> {
        let q = build_query(self.id, self.qname, self.qtype, self.serial);
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        framed
    }
}

/// One response stream as it arrived: its records (canonical bytes, in order) and when it ended
/// (the index of its last message among all the messages read on the connection).
#[derive(Debug, Default)]
struct Stream {
    records: Vec<Vec<u8>>,
    /// SOA records seen, and the serial of the first.
    soas: usize,
    first_serial: Option<u32>,
    /// Records whose serial equals the first SOA's.
    current_soas: usize,
    messages: usize,
    done_at: Option<usize>,
}

impl Stream {
    /// RFC 5936 and RFC 1995: an AXFR ends with its second SOA; an IXFR answered by the SOA
    /// alone is one record; an incremental IXFR (one condensed diff) ends with the third SOA of
    /// the current serial, an AXFR-style one with the second.
    fn complete(&self, q: &Query) -> bool {
        match q.qtype {
            TYPE_AXFR => self.soas == 2,
            _ => {
                self.records.len() == 1 && self.messages == 1 && self.first_serial == q.serial
                    || (self.soas > self.current_soas && self.current_soas == 3)
                    || (self.soas == self.current_soas && self.soas == 2)
            }
        }
    }
}

/// Sends every query back to back on one connection, then reads until every stream is complete.
/// Checks each message: a response, NOERROR, one question equal to its query's, an ID that is
/// one of the queries' and whose stream has not ended.
fn pipelined(server: &Server, over: Over, queries: &[Query]) -> HashMap<u16, Stream> {
    let mut sock = connect(server, over);
    let mut out = Vec::new();
    for q in queries {
        out.extend_from_slice(&q.wire());
    }
    sock.write_all(&out).unwrap();
    sock.flush().unwrap();
    let by_id: HashMap<u16, Query> = queries.iter().map(|q| (q.id, *q)).collect();
    assert_eq!(by_id.len(), queries.len(), "query IDs must differ");
    let mut streams: HashMap<u16, Stream> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut index = 0;
    while streams.values().filter(|s| s.done_at.is_some()).count() < queries.len() {
        assert!(Instant::now() < deadline, "streams incomplete: {streams:?}");
        let mut len = [0u8; 2];
        sock.read_exact(&mut len).expect("a message's length");
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        sock.read_exact(&mut msg).expect("a message");
        let h = Header::parse(&msg).expect("a header");
        let q = by_id
            .get(&h.id)
            .unwrap_or_else(|| panic!("a message with ID {} that no query had", h.id));
        assert!(h.is_response(), "ID {}: not a response", h.id);
        assert_eq!(h.rcode(), 0, "ID {}: rcode {}", h.id, h.rcode());
        assert_eq!(
            h.qdcount, 1,
            "ID {}: every message echoes the question",
            h.id
        );
        let qend = skip_questions(&msg, 1).unwrap();
        let asked = build_query(q.id, q.qname, q.qtype, None);
        assert_eq!(
            &msg[12..qend],
            &asked[12..12 + q.qname.len() + 4],
            "ID {}: the question echoed",
            h.id
        );
        let s = streams.entry(h.id).or_default();
        assert!(
            s.done_at.is_none(),
            "ID {}: a message after the stream ended",
            h.id
        );
        s.messages += 1;
        for rec in Records::new(&msg, qend, h.ancount as usize) {
            let rec = rec.unwrap();
            if rec.rtype == TYPE_SOA {
                let serial = rec.soa_serial(&msg).unwrap();
                s.soas += 1;
                let first = *s.first_serial.get_or_insert(serial);
                s.current_soas += (serial == first) as usize;
            }
            let mut canon = Vec::new();
            write_canonical(&msg, &rec, &mut canon).unwrap();
            s.records.push(canon);
        }
        if s.complete(q) {
            s.done_at = Some(index);
        }
        index += 1;
    }
    // Nothing more follows the last stream's end.
    sock.read_timeout(Duration::from_millis(300));
    let mut rest = [0u8; 1];
    match sock.read(&mut rest) {
        Ok(0) | Err(_) => {}
        Ok(_) => panic!("bytes after every stream ended"),
    }
    streams
}

/// Each query answered alone, on its own connection: the reference records.
fn alone(server: &Server, q: &Query) -> Vec<Vec<u8>> {
    let mut streams = pipelined(server, Over::Tcp, &[*q]);
    streams.remove(&q.id).unwrap().records
}

fn queries() -> Vec<Query> {
    let q = |id, qname, qtype, serial| Query {
        id,
        qname,
        qtype,
        serial,
    };
    vec![
        q(0x1001, BIG_WIRE, TYPE_AXFR, None),
        q(0x2002, SMALL_WIRE, TYPE_AXFR, None),
        q(0x3003, IX_WIRE, TYPE_IXFR, Some(1)),
        q(0x4004, IX_WIRE, TYPE_IXFR, Some(2)),
        q(0x5005, SMALL_WIRE, TYPE_IXFR, Some(7)),
        q(0x6006, IX_WIRE, TYPE_AXFR, None),
        q(0x7007, BIG_WIRE, TYPE_AXFR, None),
        q(0x8008, SMALL_WIRE, TYPE_AXFR, None),
    ]
}

fn check_against_alone(server: &Server, sent: &[Query], got: &HashMap<u16, Stream>) {
    for q in sent {
        let want = alone(server, q);
        let s = &got[&q.id];
        assert_eq!(
            s.records.len(),
            want.len(),
            "ID {:#x}: records pipelined vs alone",
            q.id
        );
        assert!(
            s.records == want,
            "ID {:#x}: the pipelined stream's records differ from the same query alone",
            q.id
        );
    }
}

#[test]
fn back_to_back_queries_are_served_concurrently_each_whole_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), 8);
    let all = queries();
    for over in [Over::Tcp, Over::Tls] {
        concurrently(&server, over, &all);
    }
    server.proc.check_running().unwrap();
}

/// Over `over`: two, then eight queries on one connection; everything compared with the same
/// query answered alone over plain TCP.
fn concurrently(server: &Server, over: Over, all: &[Query]) {
    // Two: a large AXFR, then a small one. Both complete, and the small one ends first: the
    // large one ahead of it does not hold it back.
    let two = &all[..2];
    let got = pipelined(server, over, two);
    check_against_alone(server, two, &got);
    let (big, small) = (&got[&0x1001], &got[&0x2002]);
    assert!(
        small.done_at < big.done_at,
        "{over:?}: the small transfer ended after the large one ahead of it: {small:?} vs {:?}",
        big.done_at
    );
    assert!(big.messages > 100, "the big AXFR is many messages");

    // Eight, mixing AXFRs, an incremental IXFR, IXFRs answered by the SOA alone.
    let got = pipelined(server, over, all);
    check_against_alone(server, all, &got);
    let ixfr = &got[&0x3003];
    assert!(
        ixfr.current_soas == 3 && ixfr.soas == 4,
        "an incremental answer: {ixfr:?}"
    );
    for short in [0x4004, 0x5005, 0x2002, 0x8008] {
        assert!(
            got[&short].done_at < got[&0x1001].done_at,
            "{over:?}: ID {short:#x} waited for the big transfer sent before it"
        );
    }
}

#[test]
fn one_transfer_per_connection_answers_in_the_order_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), 1);
    let all = queries();
    let got = pipelined(&server, Over::Tls, &all);
    check_against_alone(&server, &all, &got);
    let mut order: Vec<(usize, u16)> = got
        .iter()
        .map(|(id, s)| (s.done_at.unwrap(), *id))
        .collect();
    order.sort();
    let ids: Vec<u16> = order.into_iter().map(|(_, id)| id).collect();
    let sent: Vec<u16> = all.iter().map(|q| q.id).collect();
    assert_eq!(
        ids, sent,
        "with one transfer at a time, answers follow the queries' order"
    );
    server.proc.check_running().unwrap();
}
