//! XoT (zone transfers over TLS, RFC 9103; issue 16) with real clients: `kdig +tls` and
//! `dig +tls` transfer zones from xfrd's `[[tls]]` listener with the certificate checked
//! against a CA made for the test, and get exactly the zone (AXFR) or exactly what plain TCP
//! gets (IXFR); access by transport (a TLS-only zone is REFUSED over plain TCP, a plain rule
//! never covers TLS); what RFC 9103 requires of the handshake (TLS 1.3, ALPN "dot"), session
//! resumption, mutual TLS; bad input (garbage, a stalled handshake, a handshake message after
//! the handshake, a plain DNS query on the TLS port, certificate files that are not PEM) and
//! certificate reload on SIGHUP that keeps the old certificate when the new one is broken.
//!
//! The peers as XoT secondaries (named, nsd) are in xot_peers.rs; several transfers on one TLS
//! connection in pipeline.rs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use xfr_proto::message::{build_query, Header};
use xfr_proto::wire::{TYPE_AXFR, TYPE_SOA};
use xfrd_tests::tls::{self, ClientOptions, Pki, SERVER_NAME};
use xfrd_tests::{
    canonical_zone, diff_summary, free_port, require_program, soa_serial, txt_zone as zone_text,
    wait_until, workspace_bin, Proc,
};

const OPEN: &str = "open.xot.";
const OPEN_WIRE: &[u8] = b"\x04open\x03xot\x00";
const PRIVATE: &str = "private.xot.";
const PRIVATE_WIRE: &[u8] = b"\x07private\x03xot\x00";
const PLAIN: &str = "plain.xot.";
const PLAIN_WIRE: &[u8] = b"\x05plain\x03xot\x00";
const RCODE_REFUSED: u8 = 5;

struct Server {
    proc: Proc,
    dir: PathBuf,
    pki: Pki,
    port: u16,
    tls_port: u16,
    /// A second listener that asks for a client certificate (client_ca).
    mtls_port: u16,
    /// A third that does not pad (`padding = false`).
    nopad_port: u16,
}

/// A TSIG key the zones accept (kdig -y signs with it; xfrd signs every message back).
const KEY_NAME: &str = "xot-key.";
const KEY_SECRET: &str = "c2VjcmV0IGtleSBmb3IgWG9UIHRlc3Rz";

fn config(dir: &Path, ports: [u16; 4], pki: &Pki) -> String {
    let [port, tls_port, mtls_port, nopad_port] = ports;
    format!(
        "listen = [\"127.0.0.1:{port}\"]\ncores = 1\nstore_dir = \"{d}/stores\"\n\
         [limits]\nidle_timeout_ms = 1500\n\
         [[key]]\nname = \"{KEY_NAME}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{KEY_SECRET}\"\n\
         [[tls]]\nlisten = [\"127.0.0.1:{nopad_port}\"]\ncert = \"{cert}\"\nkey = \"{key}\"\npadding = false\n\
         [[tls]]\nlisten = [\"127.0.0.1:{tls_port}\"]\ncert = \"{cert}\"\nkey = \"{key}\"\n\
         [[tls]]\nlisten = [\"127.0.0.1:{mtls_port}\"]\ncert = \"{cert}\"\nkey = \"{key}\"\nclient_ca = \"{ca}\"\n\
         [[zone]]\norigin = \"{OPEN}\"\nfile = \"{d}/open.zone\"\n\
         [[zone]]\norigin = \"{PRIVATE}\"\nfile = \"{d}/private.zone\"\n\
         allow_transfer = [{{ address = \"127.0.0.0/8\", transport = \"tls\" }}]\n\
         [[zone]]\norigin = \"{PLAIN}\"\nfile = \"{d}/plain.zone\"\nallow_transfer = [\"127.0.0.0/8\"]\n",
        d = dir.display(),
        cert = pki.cert.display(),
        key = pki.key.display(),
        ca = pki.ca.display(),
    )
}

fn start(dir: &Path) -> Server {
    let pki = tls::make_pki(&dir.join("pki")).unwrap();
    std::fs::write(dir.join("open.zone"), zone_text(OPEN, 1, 3000, "v1")).unwrap();
    std::fs::write(dir.join("private.zone"), zone_text(PRIVATE, 1, 50, "v1")).unwrap();
    std::fs::write(dir.join("plain.zone"), zone_text(PLAIN, 1, 50, "v1")).unwrap();
    let ports = [(); 4].map(|_| free_port("127.0.0.1"));
    let [port, tls_port, mtls_port, nopad_port] = ports;
    let conf = dir.join("xfrd.toml");
    std::fs::write(&conf, config(dir, ports, &pki)).unwrap();
    let mut cmd = Command::new(workspace_bin("xfrd"));
    cmd.arg("serve").arg("--config").arg(&conf);
    let mut proc = Proc::spawn("xfrd", cmd, dir.join("xfrd.log")).unwrap();
    wait_until(Duration::from_secs(60), "xfrd to serve", || {
        proc.check_running()?;
        Ok(soa_serial("127.0.0.1", port, OPEN) == Some(1))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", proc.log_text()));
    Server {
        proc,
        dir: dir.to_path_buf(),
        pki,
        port,
        tls_port,
        mtls_port,
        nopad_port,
    }
}

fn run(program: &Path, args: &[String]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The records of a transfer's text output (dig or kdig), in order, comments dropped.
fn record_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(';'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The canonical record set of an AXFR's text, through named-checkzone as the zone file goes.
fn canonical_of(
    origin: &str,
    text: &str,
    scratch: &Path,
    name: &str,
) -> std::collections::BTreeSet<String> {
    assert!(
        text.contains("SOA") && !text.contains("failed"),
        "{name}: the transfer failed:\n{}",
        &text[..text.len().min(2000)]
    );
    let f = scratch.join(format!("{name}.zone"));
    std::fs::write(&f, text).unwrap();
    canonical_zone(origin, &f).unwrap()
}

/// One query over a TLS stream; returns every message until the transfer is complete (AXFR:
/// second SOA) or, for other queries, the single reply.
fn exchange(s: &mut tls::TlsStream, id: u16, qname: &[u8], qtype: u16) -> Vec<Vec<u8>> {
    exchange_query(s, &build_query(id, qname, qtype, None))
}

/// [`exchange`] of the query `q` as written.
fn exchange_query(s: &mut tls::TlsStream, q: &[u8]) -> Vec<Vec<u8>> {
    let h = Header::parse(q).unwrap();
    let qend = xfr_proto::message::skip_questions(q, 1).unwrap();
    let (id, qtype) = (h.id, xfr_proto::wire::read_u16(q, qend - 4));
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(q);
    s.write_all(&framed).unwrap();
    s.flush().unwrap();
    let mut msgs = Vec::new();
    let mut soas = 0;
    loop {
        let m = tls::read_message(s)
            .unwrap()
            .expect("the server closed before answering");
        let h = Header::parse(&m).unwrap();
        assert_eq!(h.id, id);
        let rcode = h.rcode();
        soas += count_soa(&m);
        msgs.push(m);
        if qtype != TYPE_AXFR || rcode != 0 || soas >= 2 {
            return msgs;
        }
    }
}

/// SOA records in a message's answer section.
fn count_soa(m: &[u8]) -> usize {
    let h = Header::parse(m).unwrap();
    let qend = xfr_proto::message::skip_questions(m, h.qdcount).unwrap();
    xfr_proto::message::Records::new(m, qend, h.ancount as usize)
        .filter(|r| r.as_ref().is_ok_and(|r| r.rtype == TYPE_SOA))
        .count()
}

fn rcode_of(msgs: &[Vec<u8>]) -> u8 {
    Header::parse(&msgs[0]).unwrap().rcode()
}

/// A plain TCP query's first reply.
fn plain_tcp(port: u16, id: u16, qname: &[u8], qtype: u16) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let q = build_query(id, qname, qtype, None);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    s.write_all(&framed).unwrap();
    tls::read_message(&mut s).unwrap().expect("a reply")
}

fn config_for(s: &Server, opts: &ClientOptions) -> std::sync::Arc<rustls::ClientConfig> {
    tls::client_config(&s.pki.ca, opts).unwrap()
}

/// True when the server ends the connection (EOF, reset, or a TLS alert) within `limit`.
fn closed_within(sock: &mut TcpStream, limit: Duration) -> bool {
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match sock.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // an alert record, then EOF
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn kdig_and_dig_transfer_over_tls_with_the_certificate_checked() {
    let (Some(kdig), Some(dig)) = (require_program("kdig"), require_program("dig")) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path());
    let want = canonical_zone(OPEN, &s.dir.join("open.zone")).unwrap();
    let p = s.tls_port.to_string();
    let ca = s.pki.ca.display().to_string();
    let dig_tls = |zone: &str, qtype: &str, host: &str| {
        run(
            &dig,
            &[
                "@127.0.0.1".into(),
                "-p".into(),
                p.clone(),
                "+tls".into(),
                format!("+tls-ca={ca}"),
                format!("+tls-hostname={host}"),
                zone.into(),
                qtype.into(),
                "+nocmd".into(),
                "+nostats".into(),
                "+nocomments".into(),
                "+time=5".into(),
                "+tries=1".into(),
            ],
        )
    };
    let kdig_tls = |zone: &str, qtype: &str, host: &str| {
        run(
            &kdig,
            &[
                "@127.0.0.1".into(),
                "-p".into(),
                p.clone(),
                format!("+tls-ca={ca}"),
                format!("+tls-hostname={host}"),
                zone.into(),
                qtype.into(),
                "+nostats".into(),
                "+time=5".into(),
                "+retry=0".into(),
            ],
        )
    };

    // AXFR: exactly the zone.
    let got = canonical_of(
        OPEN,
        &dig_tls(OPEN, "AXFR", SERVER_NAME),
        &s.dir,
        "dig-axfr",
    );
    assert!(got == want, "dig +tls AXFR: {}", diff_summary(&want, &got));
    let got = canonical_of(
        OPEN,
        &kdig_tls(OPEN, "AXFR", SERVER_NAME),
        &s.dir,
        "kdig-axfr",
    );
    assert!(got == want, "kdig +tls AXFR: {}", diff_summary(&want, &got));

    // The certificate is checked: a name it does not carry fails the handshake, in both.
    let wrong = dig_tls(OPEN, "AXFR", "wrong.test");
    assert!(
        !wrong.contains("IN\tSOA") && !wrong.contains(" SOA "),
        "dig accepted a wrong name:\n{wrong}"
    );
    let wrong = kdig_tls(OPEN, "AXFR", "wrong.test");
    assert!(
        record_lines(&wrong).iter().all(|l| !l.contains("SOA")),
        "kdig accepted a wrong name:\n{wrong}"
    );

    // IXFR: version 2 changes every 20th record; over TLS the answer is what plain TCP gets.
    let mut v2 = zone_text(OPEN, 2, 3000, "v1");
    for i in (0..3000).step_by(20) {
        v2 = v2.replace(
            &format!("r{i} TXT \"record {i} of {OPEN} v1\"\n"),
            &format!("r{i} TXT \"record {i} of {OPEN} v2\"\n"),
        );
    }
    std::fs::write(s.dir.join("open.zone"), v2).unwrap();
    s.proc.signal("HUP").unwrap();
    wait_until(Duration::from_secs(60), "serial 2", || {
        s.proc.check_running()?;
        Ok(soa_serial("127.0.0.1", s.port, OPEN) == Some(2))
    })
    .unwrap();
    let plain = run(
        &dig,
        &[
            "@127.0.0.1".into(),
            "-p".into(),
            s.port.to_string(),
            "+tcp".into(),
            OPEN.into(),
            "IXFR=1".into(),
            "+nocmd".into(),
            "+nostats".into(),
            "+nocomments".into(),
        ],
    );
    let plain = record_lines(&plain);
    assert!(
        plain.len() > 300,
        "an incremental answer: {} lines",
        plain.len()
    );
    assert_eq!(
        record_lines(&dig_tls(OPEN, "IXFR=1", SERVER_NAME)),
        plain,
        "dig +tls IXFR"
    );
    let kdig_plain = record_lines(&run(
        &kdig,
        &[
            "@127.0.0.1".into(),
            "-p".into(),
            s.port.to_string(),
            "+tcp".into(),
            OPEN.into(),
            "IXFR=1".into(),
            "+nostats".into(),
        ],
    ));
    assert!(kdig_plain.len() > 300);
    assert_eq!(
        record_lines(&kdig_tls(OPEN, "IXFR=1", SERVER_NAME)),
        kdig_plain,
        "kdig +tls IXFR"
    );
    // The new AXFR over TLS is the new zone.
    let want2 = canonical_zone(OPEN, &s.dir.join("open.zone")).unwrap();
    let got = canonical_of(
        OPEN,
        &dig_tls(OPEN, "AXFR", SERVER_NAME),
        &s.dir,
        "dig-axfr2",
    );
    assert!(
        got == want2,
        "dig +tls AXFR v2: {}",
        diff_summary(&want2, &got)
    );
    assert!(s.proc.log_text().contains("transfer done"));
    s.proc.check_running().unwrap();
}

#[test]
fn access_by_transport_and_what_the_handshake_requires() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path());
    let good = config_for(&s, &ClientOptions::default());

    // A TLS-only zone: REFUSED over plain TCP, served over TLS.
    let r = plain_tcp(s.port, 0x1111, PRIVATE_WIRE, TYPE_AXFR);
    assert_eq!(Header::parse(&r).unwrap().rcode(), RCODE_REFUSED);
    let mut c = tls::connect(s.tls_port, SERVER_NAME, good.clone()).unwrap();
    let msgs = exchange(&mut c, 0x2222, PRIVATE_WIRE, TYPE_AXFR);
    assert_eq!(rcode_of(&msgs), 0);
    assert_eq!(msgs.iter().map(|m| count_soa(m)).sum::<usize>(), 2);
    // A plain rule never covers TLS; the default (loopback, any transport) covers both.
    let msgs = exchange(&mut c, 0x3333, PLAIN_WIRE, TYPE_AXFR);
    assert_eq!(rcode_of(&msgs), RCODE_REFUSED, "a plain rule over TLS");
    let r = plain_tcp(s.port, 0x4444, PLAIN_WIRE, TYPE_AXFR);
    assert_eq!(Header::parse(&r).unwrap().rcode(), 0);
    let msgs = exchange(&mut c, 0x5555, OPEN_WIRE, TYPE_AXFR);
    assert_eq!(rcode_of(&msgs), 0);
    assert!(msgs.len() > 3, "a transfer of several messages over TLS");
    // SOA and IXFR (answered by the SOA: the client is current) on the same connection.
    let msgs = exchange(&mut c, 0x6666, OPEN_WIRE, TYPE_SOA);
    assert_eq!(rcode_of(&msgs), 0);
    drop(c);

    // No ALPN "dot": refused in the handshake. TLS 1.2 only: refused.
    let e = tls::connect(
        s.tls_port,
        SERVER_NAME,
        config_for(
            &s,
            &ClientOptions {
                alpn: false,
                ..Default::default()
            },
        ),
    );
    assert!(e.is_err(), "a client without ALPN dot was accepted");
    let e = tls::connect(
        s.tls_port,
        SERVER_NAME,
        config_for(
            &s,
            &ClientOptions {
                tls12_only: true,
                ..Default::default()
            },
        ),
    );
    assert!(e.is_err(), "a TLS 1.2 client was accepted");

    // Resumption: the same client configuration resumes with the tickets of the first.
    let resuming = config_for(&s, &ClientOptions::default());
    let mut first = tls::connect(s.tls_port, SERVER_NAME, resuming.clone()).unwrap();
    assert_eq!(
        first.conn.handshake_kind(),
        Some(rustls::HandshakeKind::Full)
    );
    exchange(&mut first, 1, OPEN_WIRE, TYPE_SOA); // reads the tickets too
    drop(first);
    let mut second = tls::connect(s.tls_port, SERVER_NAME, resuming).unwrap();
    assert_eq!(
        second.conn.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed),
        "the second connection resumed"
    );
    assert_eq!(rcode_of(&exchange(&mut second, 2, OPEN_WIRE, TYPE_AXFR)), 0);

    // Mutual TLS: the client_ca listener wants a certificate signed by the CA.
    let e = tls::connect(s.mtls_port, SERVER_NAME, good.clone()).and_then(|mut c| {
        // TLS 1.3 client authentication fails after the client's Finished: the server's
        // alert arrives with the first read.
        let q = build_query(7, OPEN_WIRE, TYPE_SOA, None);
        let mut f = (q.len() as u16).to_be_bytes().to_vec();
        f.extend_from_slice(&q);
        c.write_all(&f)?;
        tls::read_message(&mut c)?.ok_or_else(|| anyhow::anyhow!("closed"))
    });
    assert!(
        e.is_err(),
        "a client without a certificate was served on the mTLS listener"
    );
    let with_cert = config_for(
        &s,
        &ClientOptions {
            client_cert: Some((s.pki.client_cert.clone(), s.pki.client_key.clone())),
            ..Default::default()
        },
    );
    let mut m = tls::connect(s.mtls_port, SERVER_NAME, with_cert).unwrap();
    assert_eq!(rcode_of(&exchange(&mut m, 8, OPEN_WIRE, TYPE_AXFR)), 0);

    s.proc.check_running().unwrap();
    // Log lines of a core go out once per tick.
    wait_until(
        Duration::from_secs(10),
        "the ALPN refusal in the log",
        || Ok(s.proc.log_text().contains("did not offer ALPN")),
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", s.proc.log_text()));
}

/// `q` with an OPT record (version 0) carrying `options`.
fn with_opt(mut q: Vec<u8>, options: &[u8]) -> Vec<u8> {
    q[11] += 1;
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0]);
    q.extend_from_slice(&(options.len() as u16).to_be_bytes());
    q.extend_from_slice(options);
    q
}

/// The option codes of a message's OPT record, in order; `None` without one.
fn opt_options(m: &[u8]) -> Option<Vec<(u16, Vec<u8>)>> {
    let h = Header::parse(m).unwrap();
    let qend = xfr_proto::message::skip_questions(m, h.qdcount).unwrap();
    let n = (h.ancount + h.nscount + h.arcount) as usize;
    let opt = xfr_proto::message::Records::new(m, qend, n)
        .map(|r| r.unwrap())
        .find(|r| r.rtype == 41)?;
    let rdata = opt.rdata(m);
    let mut out = Vec::new();
    let mut at = 0;
    while at < rdata.len() {
        let code = xfr_proto::wire::read_u16(rdata, at);
        let len = xfr_proto::wire::read_u16(rdata, at + 2) as usize;
        out.push((code, rdata[at + 4..at + 4 + len].to_vec()));
        at += 4 + len;
    }
    Some(out)
}

/// EDNS padding (RFC 7830, RFC 8467): a query with a Padding option gets every message of its
/// transfer padded to a multiple of 468 bytes on a listener that pads, the records unchanged;
/// a query without it, or a listener with `padding = false`, gets none. kdig pads its queries
/// over TLS and checks each message's TSIG: signed padded transfers verify and carry exactly
/// the zone.
#[test]
fn edns_padding_when_asked_on_listeners_that_pad() {
    let Some(kdig) = require_program("kdig") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path());
    let cfg = config_for(&s, &ClientOptions::default());
    let padding = [0u8, 12, 0, 0];
    let mut c = tls::connect(s.tls_port, SERVER_NAME, cfg.clone()).unwrap();
    let padded = exchange_query(
        &mut c,
        &with_opt(build_query(7, OPEN_WIRE, TYPE_AXFR, None), &padding),
    );
    let bare = exchange(&mut c, 8, OPEN_WIRE, TYPE_AXFR);
    assert!(padded.len() > 2, "a transfer of several messages");
    assert_eq!(padded.len(), bare.len());
    for (i, (p, b)) in padded.iter().zip(&bare).enumerate() {
        assert_eq!(p.len() % 468, 0, "message {i}: {} bytes", p.len());
        let opts = opt_options(p).expect("an OPT in every padded message");
        let (code, zeros) = opts.last().unwrap();
        assert_eq!(*code, 12, "message {i}: Padding last");
        assert!(zeros.iter().all(|&z| z == 0));
        // The same question and records as unpadded.
        assert_eq!(&p[12..b.len()], &b[12..], "message {i}");
        assert_eq!(opt_options(b), None, "no EDNS, no OPT");
    }
    // EDNS without the Padding option: an OPT in the first message only, no padding.
    let edns = exchange_query(
        &mut c,
        &with_opt(build_query(9, OPEN_WIRE, TYPE_AXFR, None), &[]),
    );
    assert_eq!(opt_options(&edns[0]), Some(vec![]));
    assert!(edns[1..].iter().all(|m| opt_options(m).is_none()));
    // A listener that does not pad.
    let mut c = tls::connect(s.nopad_port, SERVER_NAME, cfg).unwrap();
    let q = with_opt(build_query(10, OPEN_WIRE, TYPE_AXFR, None), &padding);
    let unpadded = exchange_query(&mut c, &q);
    assert_eq!(opt_options(&unpadded[0]), Some(vec![]));
    assert!(unpadded[1..].iter().all(|m| opt_options(m).is_none()));
    assert!(unpadded.iter().any(|m| m.len() % 468 != 0));

    // kdig: padded (its default over TLS), signed, every message's TSIG checked.
    let tls_args = |port: u16| {
        vec![
            "@127.0.0.1".to_string(),
            "-p".into(),
            port.to_string(),
            format!("+tls-ca={}", s.pki.ca.display()),
            format!("+tls-hostname={SERVER_NAME}"),
            "+padding".into(),
            "-y".into(),
            format!("hmac-sha256:{KEY_NAME}:{KEY_SECRET}"),
        ]
    };
    let mut args = tls_args(s.tls_port);
    args.extend([OPEN.to_string(), "SOA".into()]);
    let soa = run(&kdig, &args);
    assert!(
        soa.contains("PADDING:") && soa.contains("TSIG PSEUDOSECTION") && soa.contains("NOERROR"),
        "{soa}"
    );
    let mut args = tls_args(s.tls_port);
    args.extend([OPEN.to_string(), "AXFR".into()]);
    let axfr = run(&kdig, &args);
    assert!(
        !axfr.contains("WARNING") && !axfr.contains("rror"),
        "{axfr}"
    );
    let tsig_lines = axfr.lines().filter(|l| l.contains("\tANY\tTSIG\t")).count();
    assert!(tsig_lines >= 2, "kdig shows each message's TSIG:\n{axfr}");
    let axfr: String = axfr
        .lines()
        .filter(|l| !l.contains("\tANY\tTSIG\t"))
        .map(|l| format!("{l}\n"))
        .collect();
    let want = canonical_zone(OPEN, &s.dir.join("open.zone")).unwrap();
    let got = canonical_of(OPEN, &axfr, &s.dir, "kdig-padded-signed");
    assert!(want == got, "{}", diff_summary(&want, &got));
}

#[test]
fn bad_input_is_cut_off_and_the_server_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path());
    let good = config_for(&s, &ClientOptions::default());

    // Garbage instead of a ClientHello.
    let mut g = TcpStream::connect(("127.0.0.1", s.tls_port)).unwrap();
    let garbage: Vec<u8> = (0..3000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let _ = g.write_all(&garbage);
    assert!(
        closed_within(&mut g, Duration::from_secs(5)),
        "garbage: not closed"
    );

    // A plain DNS query on the TLS port.
    let mut p = TcpStream::connect(("127.0.0.1", s.tls_port)).unwrap();
    let q = build_query(9, OPEN_WIRE, TYPE_AXFR, None);
    let mut f = (q.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(&q);
    p.write_all(&f).unwrap();
    assert!(
        closed_within(&mut p, Duration::from_secs(5)),
        "plain DNS on TLS: not closed"
    );

    // A client that stops mid-handshake (a record header and a few bytes of a ClientHello):
    // closed by the idle timeout (1.5 s here), while other clients are served meanwhile.
    let mut stall = TcpStream::connect(("127.0.0.1", s.tls_port)).unwrap();
    stall
        .write_all(&[
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ])
        .unwrap();
    let started = Instant::now();
    let mut c = tls::connect(s.tls_port, SERVER_NAME, good.clone()).unwrap();
    assert_eq!(rcode_of(&exchange(&mut c, 10, OPEN_WIRE, TYPE_AXFR)), 0);
    assert!(
        closed_within(&mut stall, Duration::from_secs(10)),
        "a stalled handshake stays open"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "closed before the idle timeout"
    );

    // A handshake message after the handshake (how a renegotiation would begin; TLS 1.3 has
    // none): a ClientHello record written under the TLS stream.
    let mut r = tls::connect(s.tls_port, SERVER_NAME, good.clone()).unwrap();
    assert_eq!(rcode_of(&exchange(&mut r, 11, OPEN_WIRE, TYPE_SOA)), 0);
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x00, 0x30, 0x01, 0x00, 0x00, 0x2c, 0x03, 0x03,
    ];
    hello.extend_from_slice(&[0x42; 0x2c - 2]);
    r.sock.write_all(&hello).unwrap();
    assert!(
        closed_within(&mut r.sock, Duration::from_secs(5)),
        "renegotiation: not closed"
    );

    // Still serving, over TLS and plain TCP.
    let mut c = tls::connect(s.tls_port, SERVER_NAME, good).unwrap();
    assert_eq!(rcode_of(&exchange(&mut c, 12, OPEN_WIRE, TYPE_AXFR)), 0);
    assert_eq!(
        Header::parse(&plain_tcp(s.port, 13, OPEN_WIRE, TYPE_SOA))
            .unwrap()
            .rcode(),
        0
    );
    s.proc.check_running().unwrap();
}

#[test]
fn certificate_files_checked_at_start_and_reloaded_on_sighup() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut s = start(dir);

    // A broken certificate on SIGHUP: an error in the log, the old certificate kept.
    let good_cert = std::fs::read(&s.pki.cert).unwrap();
    std::fs::write(&s.pki.cert, "this is not a certificate\n").unwrap();
    s.proc.signal("HUP").unwrap();
    wait_until(Duration::from_secs(30), "the reload error", || {
        s.proc.check_running()?;
        Ok(s.proc
            .log_text()
            .contains("keeping the certificate and key in use"))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", s.proc.log_text()));
    let old_ca = config_for(&s, &ClientOptions::default());
    let mut c = tls::connect(s.tls_port, SERVER_NAME, old_ca.clone()).unwrap();
    assert_eq!(rcode_of(&exchange(&mut c, 1, OPEN_WIRE, TYPE_SOA)), 0);

    // A new CA and certificate: after SIGHUP new connections get it, and a client that trusts
    // only the old CA is refused (the old certificate is gone).
    std::fs::write(&s.pki.cert, good_cert).unwrap();
    let new = tls::make_pki(&dir.join("pki2")).unwrap();
    std::fs::copy(&new.cert, &s.pki.cert).unwrap();
    std::fs::copy(&new.key, &s.pki.key).unwrap();
    let loads_before = s
        .proc
        .log_text()
        .matches("TLS certificate and key loaded")
        .count();
    s.proc.signal("HUP").unwrap();
    wait_until(Duration::from_secs(30), "the certificate reload", || {
        s.proc.check_running()?;
        Ok(s.proc
            .log_text()
            .matches("TLS certificate and key loaded")
            .count()
            >= loads_before + 2)
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", s.proc.log_text()));
    let new_ca = tls::client_config(&new.ca, &ClientOptions::default()).unwrap();
    let mut c = tls::connect(s.tls_port, SERVER_NAME, new_ca).unwrap();
    assert_eq!(rcode_of(&exchange(&mut c, 2, OPEN_WIRE, TYPE_SOA)), 0);
    // A fresh configuration: the old one holds tickets, and a resumed session is not
    // authenticated by certificate again (RFC 8446 section 2.2).
    let old_ca = config_for(&s, &ClientOptions::default());
    assert!(
        tls::connect(s.tls_port, SERVER_NAME, old_ca).is_err(),
        "the old certificate is still served"
    );

    // At start: files that are not PEM, and a key of another certificate, are clear errors
    // naming the file (`xfrd serve --check`).
    let check = |cert: &Path, key: &Path| {
        let conf = dir.join("check.toml");
        let mut text = config(dir, [1, 2, 3, 4], &s.pki);
        text = text.replace(
            &s.pki.cert.display().to_string(),
            &cert.display().to_string(),
        );
        text = text.replace(&s.pki.key.display().to_string(), &key.display().to_string());
        std::fs::write(&conf, text).unwrap();
        let out = Command::new(workspace_bin("xfrd"))
            .args(["serve", "--check", "--config"])
            .arg(&conf)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "hello\n").unwrap();
    let (ok, err) = check(&junk, &s.pki.key);
    assert!(
        !ok && err.contains("junk.pem") && err.contains("CERTIFICATE"),
        "{err}"
    );
    let (ok, err) = check(&s.pki.cert, &junk);
    assert!(
        !ok && err.contains("junk.pem") && err.contains("private key"),
        "{err}"
    );
    let other = tls::make_pki(&dir.join("pki3")).unwrap();
    let (ok, err) = check(&s.pki.cert, &other.key);
    assert!(!ok && err.contains("does not go with"), "{err}");
    let (ok, err) = check(&s.pki.cert, &s.pki.key);
    assert!(ok, "a good pair: {err}");
    s.proc.check_running().unwrap();
}
