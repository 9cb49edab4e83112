//! The strict front door (issue 15), against a running xfrd, each case over UDP and over TCP:
//! dig and kdig as the EDNS compliance probes use them, and hand-built messages where the
//! clients cannot say what the case needs (QDCOUNT 0 or 2, QR set, exact OPT bytes, a signed
//! BADVERS, the OPT of a transfer's first message).
//!
//! - EDNS version 1: BADVERS (extended RCODE 16) with an OPT of version 0 (RFC 6891 6.1.3),
//!   signed when the request was.
//! - The OPT echoed with our UDP size (1232), unknown options and flags not echoed, DO copied
//!   (RFC 3225).
//! - Unknown opcodes: NOTIMP whatever QDCOUNT says; QDCOUNT 0 or 2: FORMERR; QR set: no
//!   answer over UDP, the connection closed over TCP.
//! - A type xfrd does not answer (DNSKEY, A, TYPE666) at a served apex: REFUSED.
//! - EDNS EXPIRE (RFC 7314): the SOA answer, an IXFR answered over UDP, and the first message
//!   of an AXFR carry the SOA's EXPIRE field; later messages carry no OPT.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use xfr_proto::message::{skip_questions, Header, Records};
use xfr_proto::tsig::{self, Algorithm, Key, ResponseVerifier, UnsignedRun};
use xfrd_tests::{free_port, require_program, soa_serial, wait_until, workspace_bin, Proc};

const ORIGIN: &str = "front.example.";
const ORIGIN_WIRE: &[u8] = b"\x05front\x07example\x00";
const SERIAL: u32 = 2026120701;
/// The SOA's EXPIRE field: not a round number of any unit, so it cannot come from elsewhere.
const EXPIRE_S: u32 = 1_234_567;
/// Records beyond the apex: enough for an AXFR of several messages.
const TXT_RECORDS: usize = 3000;
const KEY_NAME: &str = "xfr-key.";
const KEY_WIRE: &[u8] = b"\x07xfr-key\x00";
const SECRET_B64: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0MTIzNA==";
const SECRET: &[u8] = b"secret-secret-secret-secret1234";
const TYPE_OPT: u16 = 41;
const TYPE_SOA: u16 = 6;
const TYPE_IXFR: u16 = 251;
const TYPE_AXFR: u16 = 252;

struct Server {
    proc: Proc,
    port: u16,
    _dir: tempfile::TempDir,
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1");
    let zone = dir.path().join("front.zone");
    let mut text = format!(
        "$ORIGIN {ORIGIN}\n$TTL 300\n@ SOA ns1 hostmaster {SERIAL} 3600 600 {EXPIRE_S} 300\n@ NS ns1\nns1 A 192.0.2.1\n"
    );
    for i in 0..TXT_RECORDS {
        text.push_str(&format!("r{i} TXT \"record {i} of the front door zone\"\n"));
    }
    std::fs::write(&zone, text).unwrap();
    let conf = dir.path().join("xfrd.toml");
    std::fs::write(
        &conf,
        format!(
            "listen = [\"127.0.0.1:{port}\"]\ncores = 2\nstore_dir = \"{}\"\n\
             [[key]]\nname = \"{KEY_NAME}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET_B64}\"\n\
             [[zone]]\norigin = \"{ORIGIN}\"\nfile = \"{}\"\nallow_transfer = [\"127.0.0.1/32\"]\n",
            dir.path().join("stores").display(),
            zone.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(workspace_bin("xfrd"));
    cmd.arg("serve").arg("--config").arg(&conf);
    let mut proc = Proc::spawn("xfrd", cmd, dir.path().join("xfrd.log")).unwrap();
    wait_until(Duration::from_secs(60), "xfrd to answer SOA", || {
        proc.check_running()?;
        Ok(soa_serial("127.0.0.1", port, ORIGIN) == Some(SERIAL))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", proc.log_text()));
    Server {
        proc,
        port,
        _dir: dir,
    }
}

/// The two clients, both required (a missing one skips, or fails under CI).
struct Clients {
    dig: PathBuf,
    kdig: PathBuf,
}

fn clients() -> Option<Clients> {
    Some(Clients {
        dig: require_program("dig")?,
        kdig: require_program("kdig")?,
    })
}

/// Runs `prog` and returns its stdout (dig and kdig exit 0 for any RCODE).
fn run(prog: &Path, args: &[String]) -> String {
    let out = Command::new(prog).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} {args:?} failed: {text}{}",
        prog.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn dig(c: &Clients, s: &Server, tcp: bool, args: &[&str]) -> String {
    let mut a: Vec<String> = [
        "@127.0.0.1",
        "-p",
        &s.port.to_string(),
        "+time=3",
        "+tries=1",
    ]
    .map(String::from)
    .to_vec();
    a.push(if tcp { "+tcp" } else { "+notcp" }.into());
    a.extend(args.iter().map(|s| s.to_string()));
    run(&c.dig, &a)
}

fn kdig(c: &Clients, s: &Server, tcp: bool, args: &[&str]) -> String {
    let mut a: Vec<String> = [
        "@127.0.0.1",
        "-p",
        &s.port.to_string(),
        "+time=3",
        "+retry=0",
    ]
    .map(String::from)
    .to_vec();
    a.push(if tcp { "+tcp" } else { "+notcp" }.into());
    a.extend(args.iter().map(|s| s.to_string()));
    run(&c.kdig, &a)
}

/// The lines of the pseudo-section headed `title` (dig's `;; OPT PSEUDOSECTION:`, kdig's
/// `;; EDNS PSEUDOSECTION:`), up to a blank line or the next section.
fn pseudosection<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| !l.contains(title));
    assert!(lines.next().is_some(), "no {title} in:\n{text}");
    lines
        .take_while(|l| !l.trim().is_empty() && !l.ends_with("SECTION:"))
        .map(str::trim)
        .collect()
}

fn both(f: impl Fn(bool, &str)) {
    f(false, "UDP");
    f(true, "TCP");
}

#[test]
fn edns_with_dig_and_kdig() {
    let Some(c) = clients() else {
        return;
    };
    let mut s = start();
    both(|tcp, t| {
        // Version 1: BADVERS, with an OPT of version 0 and our size (dig would retry with
        // version 0 unless told not to).
        let out = dig(&c, &s, tcp, &[ORIGIN, "SOA", "+edns=1", "+noednsneg"]);
        assert!(out.contains("status: BADVERS"), "{t}: {out}");
        assert!(out.contains("ANSWER: 0,"), "{t}: {out}");
        assert_eq!(
            pseudosection(&out, "OPT PSEUDOSECTION"),
            ["; EDNS: version: 0, flags:; udp: 1232"],
            "{t}"
        );
        let out = kdig(&c, &s, tcp, &[ORIGIN, "SOA", "+edns=1", "+dnssec"]);
        assert!(out.contains("status: BADVERS"), "{t}: {out}");
        assert_eq!(
            pseudosection(&out, "EDNS PSEUDOSECTION"),
            [";; Version: 0; flags: do; UDP size: 1232 B; ext-rcode: BADVERS"],
            "{t}"
        );

        // DO copied; an unknown option and an unknown flag ignored, neither echoed.
        let out = dig(
            &c,
            &s,
            tcp,
            &[
                ORIGIN,
                "SOA",
                "+dnssec",
                "+ednsopt=100:abcd",
                "+ednsflags=0x40",
                "+bufsize=4096",
            ],
        );
        assert!(out.contains("status: NOERROR"), "{t}: {out}");
        assert!(out.contains(&format!("{SERIAL} 3600 600 {EXPIRE_S} 300")));
        assert_eq!(
            pseudosection(&out, "OPT PSEUDOSECTION"),
            ["; EDNS: version: 0, flags: do; udp: 1232"],
            "{t}: no MBZ flag, no OPT=100"
        );
        let out = kdig(
            &c,
            &s,
            tcp,
            &[
                ORIGIN,
                "SOA",
                "+dnssec",
                "+ednsopt=100:abcd",
                "+ednsopt=65001",
            ],
        );
        assert!(out.contains("status: NOERROR"), "{t}: {out}");
        assert_eq!(
            pseudosection(&out, "EDNS PSEUDOSECTION"),
            [";; Version: 0; flags: do; UDP size: 1232 B; ext-rcode: NOERROR"],
            "{t}"
        );
        // Without DO: none in the answer.
        let out = kdig(&c, &s, tcp, &[ORIGIN, "SOA", "+edns", "+nodnssec"]);
        assert_eq!(
            pseudosection(&out, "EDNS PSEUDOSECTION"),
            [";; Version: 0; flags: ; UDP size: 1232 B; ext-rcode: NOERROR"],
            "{t}"
        );

        // EXPIRE: the SOA's EXPIRE field, with both clients.
        let out = dig(&c, &s, tcp, &[ORIGIN, "SOA", "+expire"]);
        // dig's EXPIRE line without its human-readable tail, which varies between versions.
        let opt: Vec<&str> = pseudosection(&out, "OPT PSEUDOSECTION")
            .into_iter()
            .map(|l| l.split(" (").next().unwrap())
            .collect();
        assert_eq!(
            opt,
            ["; EDNS: version: 0, flags:; udp: 1232", "; EXPIRE: 1234567"],
            "{t}: {out}"
        );
        let out = kdig(&c, &s, tcp, &[ORIGIN, "SOA", "+expire"]);
        let edns = pseudosection(&out, "EDNS PSEUDOSECTION");
        assert_eq!(edns.len(), 2, "{t}: {out}");
        assert!(
            edns[1].starts_with(&format!(";; EXPIRE: {EXPIRE_S} ")),
            "{t}: {out}"
        );
        // Not a served zone's answer: no EXPIRE.
        let out = kdig(&c, &s, tcp, &["other.example.", "SOA", "+expire"]);
        assert!(out.contains("status: REFUSED"), "{t}: {out}");
        assert!(!out.contains("EXPIRE"), "{t}: {out}");
    });
    s.proc.check_running().unwrap();
}

#[test]
fn types_and_opcodes_with_dig_and_kdig() {
    let Some(c) = clients() else {
        return;
    };
    let mut s = start();
    both(|tcp, t| {
        for qtype in ["DNSKEY", "A", "TYPE666", "MX"] {
            let out = dig(&c, &s, tcp, &[ORIGIN, qtype, "+norec"]);
            assert!(out.contains("status: REFUSED"), "{t} {qtype}: {out}");
            assert_eq!(
                pseudosection(&out, "OPT PSEUDOSECTION"),
                ["; EDNS: version: 0, flags:; udp: 1232"],
                "{t} {qtype}"
            );
            let out = kdig(&c, &s, tcp, &[ORIGIN, qtype]);
            assert!(out.contains("status: REFUSED"), "{t} {qtype}: {out}");
        }
        // Unknown opcodes: NOTIMP, with no question (QDCOUNT 0) and with one.
        let out = dig(
            &c,
            &s,
            tcp,
            &["+header-only", "+opcode=15", "+noedns", ORIGIN],
        );
        assert!(out.contains("status: NOTIMP"), "{t}: {out}");
        assert!(out.contains("QUERY: 0, ANSWER: 0"), "{t}: {out}");
        let out = dig(&c, &s, tcp, &["+opcode=15", ORIGIN, "SOA"]);
        assert!(out.contains("status: NOTIMP"), "{t}: {out}");
        assert!(out.contains("QUERY: 1, ANSWER: 0"), "{t}: {out}");
        let out = dig(&c, &s, tcp, &["+opcode=5", ORIGIN, "SOA"]);
        assert!(out.contains("opcode: UPDATE, status: NOTIMP"), "{t}: {out}");
        // A QUERY without a question: FORMERR.
        let out = dig(&c, &s, tcp, &["+header-only", "+noedns", ORIGIN]);
        assert!(out.contains("status: FORMERR"), "{t}: {out}");
    });
    s.proc.check_running().unwrap();
}

// ---- hand-built messages ----

/// An IXFR query from `serial` (the client's SOA in the authority section), with an OPT of
/// `ttl` and `options`.
fn ixfr_query(id: u16, serial: u32, ttl: u32, options: &[u8]) -> Vec<u8> {
    let mut m = query(id, TYPE_IXFR, None);
    m[9] = 1; // NSCOUNT
    m[11] = 1; // ARCOUNT
    m.extend_from_slice(&[0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 22, 0, 0]);
    m.extend_from_slice(&serial.to_be_bytes());
    m.extend_from_slice(&[0; 16]);
    push_opt(&mut m, ttl, options);
    m
}

/// A query for `qtype` at the zone, with an OPT of `ttl` (extended RCODE, version, flags) and
/// `options` when given.
fn query(id: u16, qtype: u16, opt: Option<(u32, &[u8])>) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, opt.is_some() as u8]);
    m.extend_from_slice(ORIGIN_WIRE);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    if let Some((ttl, options)) = opt {
        push_opt(&mut m, ttl, options);
    }
    m
}

fn push_opt(m: &mut Vec<u8>, ttl: u32, options: &[u8]) {
    m.extend_from_slice(&[0, 0, 41, 0x10, 0]);
    m.extend_from_slice(&ttl.to_be_bytes());
    m.extend_from_slice(&(options.len() as u16).to_be_bytes());
    m.extend_from_slice(options);
}

/// The EXPIRE option of a query (empty), after an unknown option.
const EXPIRE_ASKED: &[u8] = &[0, 100, 0, 3, 1, 2, 3, 0, 9, 0, 0];

fn udp_exchange(port: u16, msg: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(wait)).unwrap();
    sock.send_to(msg, ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 65535];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    Some(buf[..n].to_vec())
}

fn tcp_connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// One framed message, or `None` at end of stream.
fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    match s.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
        Err(e) => panic!("reading a frame: {e}"),
    }
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut msg).unwrap();
    Some(msg)
}

fn write_frame(s: &mut TcpStream, msg: &[u8]) {
    let mut f = (msg.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(msg);
    s.write_all(&f).unwrap();
}

/// Sends `msg` over UDP or over a new TCP connection and returns the answer.
fn exchange(port: u16, tcp: bool, msg: &[u8]) -> Vec<u8> {
    if tcp {
        let mut s = tcp_connect(port);
        write_frame(&mut s, msg);
        read_frame(&mut s).expect("an answer")
    } else {
        udp_exchange(port, msg, Duration::from_secs(5)).expect("an answer")
    }
}

/// The OPT record of a response, and where the additional section's records are: `(class,
/// ttl, rdata)`, `None` when there is none.
fn opt_of(msg: &[u8]) -> Option<(u16, u32, Vec<u8>)> {
    let h = Header::parse(msg).unwrap();
    let pos = skip_questions(msg, h.qdcount).unwrap();
    let total = (h.ancount + h.nscount + h.arcount) as usize;
    let additional_from = (h.ancount + h.nscount) as usize;
    let mut opt = None;
    for (i, r) in Records::new(msg, pos, total).enumerate() {
        let r = r.unwrap();
        if r.rtype == TYPE_OPT {
            assert!(
                i >= additional_from,
                "an OPT outside the additional section"
            );
            assert!(opt.is_none(), "two OPT records");
            opt = Some((r.class, r.ttl, r.rdata(msg).to_vec()));
        }
    }
    opt
}

/// The 12-bit RCODE: the header's 4 bits, the OPT's 8 above them.
fn rcode(msg: &[u8]) -> u16 {
    let low = Header::parse(msg).unwrap().rcode() as u16;
    low | opt_of(msg).map_or(0, |(_, ttl, _)| ((ttl >> 24) as u16) << 4)
}

fn expire_option() -> Vec<u8> {
    let mut o = vec![0, 9, 0, 4];
    o.extend_from_slice(&EXPIRE_S.to_be_bytes());
    o
}

#[test]
fn exact_bytes_of_every_case_over_udp_and_tcp() {
    let mut s = start();
    both(|tcp, t| {
        // BADVERS: header RCODE 0, OPT extended RCODE 1, version 0, our size, DO copied.
        let r = exchange(s.port, tcp, &query(1, TYPE_SOA, Some((0x0001_8000, &[]))));
        assert_eq!(rcode(&r), 16, "{t}");
        assert_eq!(Header::parse(&r).unwrap().ancount, 0, "{t}");
        assert_eq!(opt_of(&r), Some((1232, 0x0100_8000, vec![])), "{t}");

        // Unknown flag 0x4000 and option 100 dropped; DO kept; EXPIRE answered.
        let r = exchange(
            s.port,
            tcp,
            &query(2, TYPE_SOA, Some((0x0000_C000, EXPIRE_ASKED))),
        );
        assert_eq!(rcode(&r), 0, "{t}");
        assert_eq!(opt_of(&r), Some((1232, 0x8000, expire_option())), "{t}");
        let r = exchange(s.port, tcp, &query(3, TYPE_SOA, Some((0, &[0, 100, 0, 0]))));
        assert_eq!(opt_of(&r), Some((1232, 0, vec![])), "{t}");
        // IXFR from the current serial: the SOA alone, EXPIRE with it.
        let r = exchange(s.port, tcp, &ixfr_query(3, SERIAL, 0, EXPIRE_ASKED));
        assert_eq!(
            (rcode(&r), Header::parse(&r).unwrap().ancount),
            (0, 1),
            "{t}"
        );
        assert_eq!(opt_of(&r), Some((1232, 0, expire_option())), "{t}");
        // No OPT in the query: none in the answer.
        let r = exchange(s.port, tcp, &query(4, TYPE_SOA, None));
        assert_eq!(opt_of(&r), None, "{t}");

        // Unknown types: REFUSED, the OPT echoed without EXPIRE.
        for qtype in [48u16, 1, 666] {
            let r = exchange(s.port, tcp, &query(5, qtype, Some((0, EXPIRE_ASKED))));
            assert_eq!(rcode(&r), 5, "{t} type {qtype}");
            assert_eq!(opt_of(&r), Some((1232, 0, vec![])), "{t} type {qtype}");
        }

        // Opcode 15: NOTIMP whatever the counts: no question, two questions, with an OPT.
        for qdcount in [0u8, 1, 2] {
            let mut m = query(6, TYPE_SOA, Some((0x8000, &[])));
            m[2] = 15 << 3;
            m[5] = qdcount;
            let r = exchange(s.port, tcp, &m);
            assert_eq!(Header::parse(&r).unwrap().opcode(), 15, "{t}");
            assert_eq!(
                Header::parse(&r).unwrap().rcode(),
                4,
                "{t} QDCOUNT {qdcount}"
            );
        }
        let mut m = query(6, TYPE_SOA, Some((0x8000, &[])));
        m[2] = 15 << 3;
        let r = exchange(s.port, tcp, &m);
        assert_eq!(opt_of(&r), Some((1232, 0x8000, vec![])), "{t}");

        // QDCOUNT 0 and 2 with opcode QUERY: FORMERR, no question echoed.
        let mut none = query(7, TYPE_SOA, None)[..12].to_vec();
        none[5] = 0;
        let mut two = query(8, TYPE_SOA, None);
        two.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
        two[5] = 2;
        for m in [none, two] {
            let r = exchange(s.port, tcp, &m);
            let h = Header::parse(&r).unwrap();
            assert_eq!((h.id, h.rcode(), h.qdcount), (m[1] as u16, 1, 0), "{t}");
        }
    });

    // QR set: no answer over UDP; the connection closed over TCP. The server keeps serving.
    let mut response = query(9, TYPE_SOA, None);
    response[2] |= 0x80;
    assert_eq!(
        udp_exchange(s.port, &response, Duration::from_millis(1500)),
        None,
        "a response is never answered over UDP"
    );
    let mut conn = tcp_connect(s.port);
    write_frame(&mut conn, &response);
    assert_eq!(read_frame(&mut conn), None, "TCP: closed, nothing sent");
    let r = exchange(s.port, false, &query(10, TYPE_SOA, None));
    assert_eq!(rcode(&r), 0);
    s.proc.check_running().unwrap();
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn signed_badvers_and_expire_stay_signed_with_the_opt_before_tsig() {
    let mut s = start();
    let key = Key::new(KEY_WIRE, Algorithm::HmacSha256, SECRET).unwrap();
    both(|tcp, t| {
        for (ttl, want_rcode, want_opt) in [
            (0x0001_0000u32, 16u16, (1232u16, 0x0100_0000u32, vec![])),
            (0x0000_8000, 0, (1232, 0x8000, expire_option())),
        ] {
            let mut q = query(11, TYPE_SOA, Some((ttl, EXPIRE_ASKED)));
            let now = now_s();
            let mac = tsig::sign_request(&key, &mut q, now);
            let r = exchange(s.port, tcp, &q);
            assert_eq!(rcode(&r), want_rcode, "{t}");
            assert_eq!(opt_of(&r), Some(want_opt), "{t}");
            let mut v = ResponseVerifier::new(&key, mac, UnsignedRun::None);
            v.verify(&r, now_s()).unwrap_or_else(|e| panic!("{t}: {e}"));
            // The TSIG record is the last one: the OPT is before it.
            let h = Header::parse(&r).unwrap();
            let pos = skip_questions(&r, h.qdcount).unwrap();
            let types: Vec<u16> = Records::new(&r, pos, (h.ancount + h.arcount) as usize)
                .map(|rr| rr.unwrap().rtype)
                .collect();
            assert_eq!(&types[types.len() - 2..], &[TYPE_OPT, 250], "{t}");
        }
    });
    s.proc.check_running().unwrap();
}

/// The messages of a transfer over TCP, up to the closing SOA.
fn transfer(port: u16, msg: &[u8]) -> Vec<Vec<u8>> {
    let mut s = tcp_connect(port);
    write_frame(&mut s, msg);
    let mut messages = Vec::new();
    let mut soas = 0;
    while soas < 2 {
        let m = read_frame(&mut s).expect("the transfer ended early");
        assert_eq!(rcode(&m), 0, "message {}", messages.len());
        let h = Header::parse(&m).unwrap();
        let pos = skip_questions(&m, h.qdcount).unwrap();
        soas += Records::new(&m, pos, h.ancount as usize)
            .filter(|r| r.as_ref().unwrap().rtype == TYPE_SOA)
            .count();
        messages.push(m);
    }
    messages
}

#[test]
fn transfers_carry_the_opt_and_expire_in_their_first_message() {
    let Some(c) = clients() else {
        return;
    };
    let mut s = start();
    // AXFR, and IXFR from an unknown serial (answered AXFR-style), with DO and EXPIRE.
    for (what, q) in [
        ("AXFR", query(13, TYPE_AXFR, Some((0x8000, EXPIRE_ASKED)))),
        ("IXFR", ixfr_query(12, 1, 0x8000, EXPIRE_ASKED)),
    ] {
        let messages = transfer(s.port, &q);
        assert!(messages.len() > 2, "{what}: {} messages", messages.len());
        assert_eq!(
            opt_of(&messages[0]),
            Some((1232, 0x8000, expire_option())),
            "{what}: the first message"
        );
        for (i, m) in messages.iter().enumerate().skip(1) {
            assert_eq!(opt_of(m), None, "{what}: message {i}");
        }
    }
    // Without EDNS: no OPT at all.
    let messages = transfer(s.port, &query(14, TYPE_AXFR, None));
    assert!(messages.iter().all(|m| opt_of(m).is_none()));

    // The clients take it, signed (every message verified) and not.
    let records = (TXT_RECORDS + 4).to_string();
    let key = format!("hmac-sha256:{KEY_NAME}:{SECRET_B64}");
    for signed in [false, true] {
        let mut args = vec![ORIGIN, "AXFR", "+expire", "+dnssec"];
        if signed {
            args.extend(["-y", &key]);
        }
        let out = dig(&c, &s, true, &args);
        assert!(
            out.contains(&format!("XFR size: {records} records")),
            "dig signed={signed}: {}",
            &out[out.len().saturating_sub(600)..]
        );
        assert!(!out.contains("failed") && !out.contains("failure"), "{out}");
        let out = kdig(&c, &s, true, &args);
        assert!(
            out.contains(&format!(", {records} records)")),
            "kdig signed={signed}: {}",
            &out[out.len().saturating_sub(600)..]
        );
        assert!(!out.contains("WARNING") && !out.contains("failed"), "{out}");
    }
    s.proc.check_running().unwrap();
}
