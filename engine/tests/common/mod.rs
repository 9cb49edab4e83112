//! Helpers for the engine's integration tests: starting `xfrd`, a small DNS client over std
//! sockets (hickory-proto decodes what it receives), peer programs, canonical zone forms.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::RData;

pub const TYPE_SOA: u16 = 6;
pub const TYPE_AXFR: u16 = 252;
pub const TYPE_IXFR: u16 = 251;

/// A peer program; under CI a missing one fails the test, otherwise it is skipped loudly.
pub fn require(program: &str) -> Option<PathBuf> {
    xfrd_tests::require_program(program)
}

/// A port free for TCP and UDP on 127.0.0.1 and ::1 at the time of asking.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let ok = UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("::1", port)).is_ok()
            && UdpSocket::bind(("::1", port)).is_ok();
        if ok {
            return port;
        }
    }
    panic!("no free port found");
}

pub fn examples_zone() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/example.com.zone")
}

/// Writes a generated zone of `records` records for `origin`; returns its path.
pub fn generated_zone(dir: &Path, origin: &str, records: usize) -> PathBuf {
    let path = dir.join(format!("{origin}zone"));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let name = zone_store::Name::parse(origin, None).unwrap();
    zone_store::gen::generate(&name, records, 1, &mut f).unwrap();
    f.flush().unwrap();
    path
}

/// A running xfrd, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Xfrd {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Xfrd {
    /// Starts `xfrd serve` with `args` (plus `--store-dir` under `dir`) and waits until it
    /// answers SOA for `zone` on 127.0.0.1:`port` (or the first `--listen`).
    pub fn start(dir: &Path, port: u16, zone: &str, args: &[String]) -> Xfrd {
        Xfrd::start_wrapped(dir, port, zone, args, &[])
    }

    /// Like [`Xfrd::start`], run through `wrapper` (a program that execs its arguments, such
    /// as `prlimit --nofile=40 --`), so the child's pid is xfrd's.
    pub fn start_wrapped(
        dir: &Path,
        port: u16,
        zone: &str,
        args: &[String],
        wrapper: &[&str],
    ) -> Xfrd {
        let log = dir.join(format!("xfrd-{port}.log"));
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(env!("CARGO_BIN_EXE_xfrd"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_xfrd")),
        };
        let child = cmd
            .arg("serve")
            .args(args)
            .arg("--store-dir")
            .arg(dir.join("stores"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start xfrd");
        let mut x = Xfrd { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        loop {
            if let Some(status) = x.child.try_wait().unwrap() {
                panic!("xfrd exited ({status}) before serving:\n{}", x.log_text());
            }
            if soa_udp(addr, zone).is_some() {
                return x;
            }
            assert!(
                Instant::now() < deadline,
                "xfrd did not answer SOA within 60 s:\n{}",
                x.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether `needle` shows up in the log within a few seconds. The serving cores write
    /// their lines once per tick (100 ms), so a line is not there the moment its event is.
    pub fn log_shows(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.log_text().contains(needle) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops with SIGTERM and returns the exit status (bounded wait).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "xfrd did not stop within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// CPU time (user + system) used so far, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // Fields after the command name (which ends with ')'): utime is the 12th, stime the 13th.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    }

    /// A field of /proc/PID/status in kB (VmRSS, RssAnon...).
    pub fn status_kb(&self, field: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{field} not in /proc status"))
    }
}

impl Drop for Xfrd {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Wire form of an absolute name in text (`example.com.`).
pub fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A query message; for IXFR, `ixfr_serial` goes in an authority SOA.
pub fn query(id: u16, name: &str, qtype: u16, ixfr_serial: Option<u32>) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, ixfr_serial.is_some() as u8, 0, 0]);
    m.extend_from_slice(&wire_name(name));
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    if let Some(serial) = ixfr_serial {
        m.extend_from_slice(&[0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 22, 0, 0]);
        m.extend_from_slice(&serial.to_be_bytes());
        m.extend_from_slice(&[0; 16]);
    }
    m
}

pub fn framed(msg: &[u8]) -> Vec<u8> {
    let mut out = (msg.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(msg);
    out
}

pub fn rcode(msg: &[u8]) -> u8 {
    msg[3] & 0x0F
}

/// One UDP exchange (3 tries of 1 s).
pub fn udp_exchange(addr: SocketAddr, msg: &[u8]) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind(if addr.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    })
    .ok()?;
    sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    for _ in 0..3 {
        sock.send_to(msg, addr).ok()?;
        let mut buf = [0u8; 4096];
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

/// The serial xfrd answers for `zone` over UDP.
pub fn soa_udp(addr: SocketAddr, zone: &str) -> Option<u32> {
    let r = udp_exchange(addr, &query(0x5151, zone, TYPE_SOA, None))?;
    soa_serial_of(&r)
}

pub fn soa_serial_of(msg: &[u8]) -> Option<u32> {
    let m = Message::from_vec(msg).ok()?;
    m.answers.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(soa.serial),
        _ => None,
    })
}

/// Reads one length-prefixed message; `None` at a clean EOF.
pub fn read_frame(s: &mut impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match s.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut msg)?;
    Ok(Some(msg))
}

/// What one transfer brought.
#[derive(Debug)]
pub struct Transfer {
    pub messages: usize,
    pub records: usize,
    pub first_serial: u32,
    pub last_serial: u32,
    pub bytes: usize,
}

/// Reads the messages of one AXFR-style response with ID `id` from `s`: until the answer
/// that ends with the second SOA. Every message must echo the ID and carry the question.
pub fn read_transfer(s: &mut impl Read, id: u16) -> Transfer {
    read_transfer_beside(s, id, &mut Vec::new(), 0)
}

/// As [`read_transfer`], on a connection where up to `others` answers to other queries (their
/// IDs differ from `id`) may come between the transfer's messages (RFC 7766: a server answers
/// pipelined queries concurrently, at message boundaries); those are put in `set_aside`.
pub fn read_transfer_beside(
    s: &mut impl Read,
    id: u16,
    set_aside: &mut Vec<Vec<u8>>,
    others: usize,
) -> Transfer {
    let mut t = Transfer {
        messages: 0,
        records: 0,
        first_serial: 0,
        last_serial: 0,
        bytes: 0,
    };
    let mut soas = 0;
    loop {
        let msg = read_frame(s)
            .expect("read")
            .expect("transfer ended early (EOF)");
        if u16::from_be_bytes([msg[0], msg[1]]) != id && set_aside.len() < others {
            set_aside.push(msg);
            continue;
        }
        t.bytes += msg.len() + 2;
        assert_eq!(
            u16::from_be_bytes([msg[0], msg[1]]),
            id,
            "message with another ID"
        );
        assert_eq!(
            rcode(&msg),
            0,
            "transfer message with RCODE {}",
            rcode(&msg)
        );
        let m = Message::from_vec(&msg).expect("decodable message");
        assert_eq!(m.queries.len(), 1, "every message carries the question");
        t.messages += 1;
        for r in &m.answers {
            t.records += 1;
            if let RData::SOA(soa) = &r.data {
                soas += 1;
                if soas == 1 {
                    assert_eq!(t.records, 1, "transfer starts with the SOA");
                    t.first_serial = soa.serial;
                } else {
                    t.last_serial = soa.serial;
                }
            }
        }
        if soas >= 2 {
            return t;
        }
        assert!(t.messages < 10_000_000, "unbounded transfer");
    }
}

/// One AXFR over a fresh TCP connection.
pub fn axfr(addr: SocketAddr, zone: &str) -> Transfer {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(&framed(&query(0x0A0A, zone, TYPE_AXFR, None)))
        .unwrap();
    read_transfer(&mut s, 0x0A0A)
}

/// The canonical form of a zone as `named-checkzone -D` prints it: one record per line,
/// whitespace collapsed, lower-cased, as a set (the closing SOA of a transfer is the same
/// record as the opening one, so it merges). Both sides of a comparison go through it.
pub fn canonical(checkzone: &Path, origin: &str, zone_text_file: &Path) -> BTreeSet<String> {
    let out = Command::new(checkzone)
        .args([
            "-D", "-o", "-", "-i", "none", "-k", "ignore", "-m", "ignore", "-M", "ignore", "-n",
            "ignore", "-S", "ignore", "-T", "ignore", "-W", "ignore",
        ])
        .arg(origin)
        .arg(zone_text_file)
        .output()
        .expect("run named-checkzone");
    assert!(
        out.status.success(),
        "named-checkzone failed on {}: {}{}",
        zone_text_file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        })
        .collect()
}

/// Runs a client (dig or kdig) and returns its stdout, saved to `file` for named-checkzone.
pub fn run_client(program: &Path, args: &[String], file: &Path) {
    let out = Command::new(program)
        .args(args)
        .output()
        .expect("run client");
    assert!(
        out.status.success(),
        "{} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("Transfer failed"),
        "{} says: {text}",
        program.display()
    );
    std::fs::write(file, text).unwrap();
}
