//! Helpers for the xfr-bench integration tests: a real knotd on a loopback high port, a tiny
//! scripted TCP server that sends chosen (also corrupt) responses, and running the binary.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use xfr_proto::message::{self, Header};
use xfr_proto::wire::TYPE_SOA;

pub const BIN: &str = env!("CARGO_BIN_EXE_xfr-bench");

/// A peer program, or None (skip) when missing outside CI; in CI a missing peer fails.
pub use xfrd_tests::require_program;

pub fn free_port() -> u16 {
    // Bound to both TCP and UDP on the same port, then released.
    for _ in 0..50 {
        let t = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// Write a zone with `hosts` A records (plus SOA, NS, glue, MX, a TXT and a CNAME).
/// Returns the number of records that an AXFR carries (SOA counted once).
pub fn write_zone(path: &Path, origin: &str, hosts: usize, serial: u32) -> u64 {
    let mut z = format!(
        "$ORIGIN {origin}\n$TTL 3600\n@ SOA ns1 hostmaster {serial} 7200 3600 1209600 300\n\
         @ NS ns1\nns1 A 192.0.2.1\n@ MX 10 Mail\nwww CNAME host0\n\
         t TXT \"one string\" \"two; strings\"\n"
    );
    for i in 0..hosts {
        z.push_str(&format!("host{i} A 10.0.{}.{}\n", i / 256, i % 256));
    }
    std::fs::write(path, z).unwrap();
    6 + hosts as u64
}

pub struct Knot {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start knotd serving `zones` (origin, file) on a high loopback port; optional TSIG key
/// (name, algorithm, base64 secret) required for transfers.
pub fn start_knot(zones: &[(&str, &Path)], tsig: Option<(&str, &str, &str)>) -> Option<Knot> {
    let knotd = require_program("knotd")?;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let d = dir.path().display();
    let (keys, acl_key) = match tsig {
        Some((n, a, s)) => (
            format!("key:\n  - id: {n}\n    algorithm: {a}\n    secret: {s}\n"),
            format!("    key: {n}\n"),
        ),
        None => (String::new(), String::new()),
    };
    let mut conf = format!(
        "server:\n    rundir: \"{d}\"\n    listen: 127.0.0.1@{port}\n\
         database:\n    storage: \"{d}/db\"\n\
         log:\n  - target: stderr\n    any: warning\n{keys}\
         acl:\n  - id: xfr\n    address: 127.0.0.0/8\n{acl_key}    action: transfer\n\
         template:\n  - id: default\n    storage: \"{d}\"\n    acl: xfr\n    zonefile-sync: -1\n    journal-content: none\n\
         zone:\n"
    );
    for (o, f) in zones {
        conf.push_str(&format!("  - domain: {o}\n    file: \"{}\"\n", f.display()));
    }
    let cf = dir.path().join("knot.conf");
    std::fs::write(&cf, conf).unwrap();
    let log = std::fs::File::create(dir.path().join("knot.log")).unwrap();
    let child = Command::new(knotd)
        .arg("-c")
        .arg(&cf)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut k = Knot { child, port, dir };
    let t = Instant::now();
    while !zones.iter().all(|(o, _)| soa_answers(port, o)) {
        if let Ok(Some(st)) = k.child.try_wait() {
            panic!(
                "knotd exited {st}: {}",
                std::fs::read_to_string(k.dir.path().join("knot.log")).unwrap_or_default()
            );
        }
        assert!(t.elapsed() < Duration::from_secs(30), "knotd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(k)
}

pub fn name_wire(name: &str) -> Vec<u8> {
    message::text_to_wire(name).unwrap_or_else(|| panic!("{name:?} is not a domain name"))
}

fn soa_answers(port: u16, origin: &str) -> bool {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let q = message::build_query(0x1234, &name_wire(origin), TYPE_SOA, None);
    s.send_to(&q, ("127.0.0.1", port)).unwrap();
    let mut b = [0u8; 1500];
    let Ok(n) = s.recv(&mut b) else {
        return false;
    };
    Header::parse(&b[..n]).is_ok_and(|h| h.rcode() == 0 && h.ancount > 0)
}

/// Run xfr-bench with `args`; returns the output and the parsed --json report (if written).
pub fn run_bench(args: &[&str]) -> (Output, Option<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = Command::new(BIN)
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let v = std::fs::read_to_string(&json)
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap());
    (out, v)
}

/// Response records for the scripted server: (type, rdata), owner is the zone apex.
pub type Rr = (u16, Vec<u8>);

pub fn soa(serial: u32) -> Rr {
    let mut r = name_wire("ns1.ex.");
    r.extend_from_slice(&name_wire("h.ex."));
    r.extend_from_slice(&serial.to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0, 60]);
    (6, r)
}

pub fn a(last: u8) -> Rr {
    (1, vec![10, 0, 0, last])
}

/// One DNS response message: the query's question copied, `answers` owned by the apex.
pub fn message(id: u16, question: &[u8], answers: &[Rr]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x84, 0x00, 0, 1]);
    m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(question);
    for (t, rd) in answers {
        m.extend_from_slice(&[0xc0, 0x0c]);
        m.extend_from_slice(&t.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0x0e, 0x10]);
        m.extend_from_slice(&(rd.len() as u16).to_be_bytes());
        m.extend_from_slice(rd);
    }
    m
}

/// How the scripted server answers each connection: given the query ID and question, the raw
/// bytes to write (frames with their length prefixes, possibly wrong on purpose).
pub type Script = fn(u16, &[u8]) -> Vec<u8>;

pub fn frame(m: &[u8]) -> Vec<u8> {
    let mut f = (m.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(m);
    f
}

/// A well-formed two-message AXFR of 4 records.
pub fn good_axfr(id: u16, q: &[u8]) -> Vec<u8> {
    let mut out = frame(&message(id, q, &[soa(5), a(1)]));
    out.extend(frame(&message(id, q, &[a(2), a(3), soa(5)])));
    out
}

/// Reads one length-prefixed query from a test server's connection: its ID and its question
/// (name, type, class, right after the header). None if the client sent no whole query.
fn read_query(s: &mut std::net::TcpStream) -> Option<(u16, Vec<u8>)> {
    let mut lb = [0u8; 2];
    s.read_exact(&mut lb).ok()?;
    let mut q = vec![0u8; u16::from_be_bytes(lb) as usize];
    s.read_exact(&mut q).ok()?;
    let q = xfr_proto::parse_query(&q).ok()?;
    Some((q.id, q.question.to_vec()))
}

/// A scripted server on 127.0.0.1 that serves at most `max_conns` connections, then stops.
/// Returns its port and the thread handle.
pub fn scripted_server(script: Script, max_conns: usize) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        for _ in 0..max_conns {
            let Ok((mut s, _)) = l.accept() else { return };
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let Some((id, question)) = read_query(&mut s) else {
                continue;
            };
            let _ = s.write_all(&script(id, &question));
            // Closing right away: a truncated stream shows up as such in the client.
        }
    });
    (port, h)
}

/// A server on 127.0.0.1 that reads each query, writes `script`'s bytes (nothing when None),
/// and then holds the connection open, neither sending nor closing, until the client closes
/// it or `hold` has passed. Serves at most `max_conns` connections, one after another.
pub fn stalling_server(
    script: Option<Script>,
    max_conns: usize,
    hold: Duration,
) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        for _ in 0..max_conns {
            let Ok((mut s, _)) = l.accept() else { return };
            s.set_read_timeout(Some(hold)).unwrap();
            let Some((id, question)) = read_query(&mut s) else {
                continue;
            };
            if let Some(script) = script {
                let _ = s.write_all(&script(id, &question));
            }
            // Until the client gives up (EOF or reset) or `hold` passes.
            let _ = s.read(&mut [0u8; 1]);
        }
    });
    (port, h)
}

/// Start `cmd` with its output in `log` and wait (at most 60 s) until it accepts TCP on
/// 127.0.0.1:`port` and `ready` holds; if it exits or times out, panic with its log.
pub fn spawn_listening(
    name: &str,
    cmd: Command,
    log: PathBuf,
    port: u16,
    ready: impl Fn() -> bool,
) -> xfrd_tests::Proc {
    let mut proc = xfrd_tests::Proc::spawn(name, cmd, log).unwrap();
    let what = format!("{name} to listen on {port}");
    xfrd_tests::wait_until(Duration::from_secs(60), &what, || {
        proc.check_running()?;
        Ok(ready() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", proc.log_text()));
    proc
}

/// The JSON type of a report field, as the schema tests pin them ("uint" for non-negative
/// integers).
pub fn kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_u64() => "uint",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The xfrd under test: `XFR_BENCH_XFRD` when set (a build of another tree), else this
/// workspace's.
pub fn xfrd_bin() -> PathBuf {
    match std::env::var_os("XFR_BENCH_XFRD") {
        Some(p) => PathBuf::from(p),
        None => xfrd_tests::workspace_bin("xfrd"),
    }
}

pub struct Compare {
    pub out: Output,
    pub json: Option<serde_json::Value>,
    pub md: String,
    pub svg: String,
    /// Records of the large zone's AXFR.
    pub records: u64,
}

/// `compare --servers SERVERS` on a large zone of 800 hosts and a small one of 100, short
/// runs, with `extra` flags.
pub fn compare(servers: &str, extra: &[&str]) -> Compare {
    let dir = tempfile::tempdir().unwrap();
    let large = dir.path().join("l.zone");
    let small = dir.path().join("s.zone");
    let records = write_zone(&large, "l.test.", 800, 11);
    write_zone(&small, "s.test.", 100, 12);
    let (json, md, svg) = (
        dir.path().join("c.json"),
        dir.path().join("c.md"),
        dir.path().join("c.svg"),
    );
    let port = free_port().to_string();
    let mut cmd = Command::new(BIN);
    cmd.args(["compare", "--servers", servers, "--large-repeat", "3"])
        .args(["--concurrency", "1,4", "--small-transfers", "20"])
        .args(["--small-duration", "2", "--soa-queries", "200"])
        .args(["--soa-duration", "2", "--base-port", &port])
        .arg("--large")
        .arg(format!("l.test.={}", large.display()))
        .arg("--small")
        .arg(format!("s.test.={}", small.display()))
        .arg("--json")
        .arg(&json)
        .arg("--markdown")
        .arg(&md)
        .arg("--svg")
        .arg(&svg)
        .args(extra);
    if servers.contains("xfrd") {
        cmd.arg("--xfrd").arg(xfrd_bin());
    }
    let out = cmd.output().unwrap();
    Compare {
        out,
        json: std::fs::read_to_string(&json)
            .ok()
            .map(|t| serde_json::from_str(&t).unwrap()),
        md: std::fs::read_to_string(&md).unwrap_or_default(),
        svg: std::fs::read_to_string(&svg).unwrap_or_default(),
        records,
    }
}

pub fn stderr(r: &Compare) -> String {
    String::from_utf8_lossy(&r.out.stderr).into_owned()
}
