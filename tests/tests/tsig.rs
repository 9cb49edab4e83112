//! TSIG (RFC 8945) against real clients and secondaries: dig and kdig verify every message of a
//! signed 100,000-record AXFR for four algorithms; knotd, nsd and named transfer with the key
//! and fail with a wrong one (xfrd logs why); dnspython, a second implementation, transfers and
//! verifies with every algorithm; unsigned, wrong-key, wrong-secret, stale and garbled requests
//! get the answers of RFC 8945 section 5.2 while the server keeps serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use xfr_proto::tsig::{self, Key, ResponseVerifier, UnsignedRun};
use xfrd_tests::peers::{self, Peer, PeerOptions, Role, TsigSpec};
use xfrd_tests::{
    canonical_zone, diff_summary, find_program, free_port, generated_zone, require_program,
    soa_serial, wait_until, workspace_bin, Proc,
};

/// One key per algorithm, secrets of the algorithm's output length.
fn specs() -> Vec<TsigSpec> {
    [
        (
            "hmac-sha256",
            "xfr-key.",
            "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0MTIzNA==",
        ),
        ("hmac-sha1", "sha1-key.", "c2hhMS1zZWNyZXQtc2hhMS1zZWNyZXQ="),
        (
            "hmac-sha384",
            "sha384-key.",
            "c2hhMzg0LXNlY3JldC1zaGEzODQtc2VjcmV0LXNoYTM4NC1zZWNyZXQtc2hh",
        ),
        (
            "hmac-sha512",
            "sha512-key.",
            "c2hhNTEyLXNlY3JldC1zaGE1MTItc2VjcmV0LXNoYTUxMi1zZWNyZXQtc2hhNTEyLXNlY3JldC1zaGE1MTI=",
        ),
        (
            "hmac-sha224",
            "sha224-key.",
            "c2hhMjI0LXNlY3JldC1zaGEyMjQtc2VjcmV0",
        ),
    ]
    .into_iter()
    .map(|(a, n, s)| TsigSpec {
        name: n.into(),
        algorithm: a.into(),
        secret: s.into(),
    })
    .collect()
}

/// Starts xfrd on 127.0.0.1:`port` serving `origin` from `file`, transfers allowed only with
/// one of `keys` (from loopback).
fn start_xfrd(port: u16, origin: &str, file: &Path, keys: &[TsigSpec], dir: &Path) -> Proc {
    let mut conf = format!(
        "listen = [\"127.0.0.1:{port}\"]\ncores = 2\nstore_dir = \"{}\"\n",
        dir.join("stores").display()
    );
    for k in keys {
        conf.push_str(&format!(
            "[[key]]\nname = \"{}\"\nalgorithm = \"{}\"\nsecret = \"{}\"\n",
            k.name, k.algorithm, k.secret
        ));
    }
    let rules: Vec<String> = keys
        .iter()
        .map(|k| format!("{{ address = \"127.0.0.0/8\", key = \"{}\" }}", k.name))
        .collect();
    conf.push_str(&format!(
        "[[zone]]\norigin = \"{origin}\"\nfile = \"{}\"\nallow_transfer = [{}]\n",
        file.display(),
        rules.join(", ")
    ));
    let path = dir.join("xfrd.toml");
    std::fs::write(&path, conf).unwrap();
    let mut cmd = Command::new(workspace_bin("xfrd"));
    cmd.arg("serve").arg("--config").arg(&path);
    let mut proc = Proc::spawn("xfrd", cmd, dir.join("xfrd.log")).expect("start xfrd");
    wait_until(Duration::from_secs(60), "xfrd to answer SOA", || {
        proc.check_running()?;
        Ok(soa_serial("127.0.0.1", port, origin).is_some())
    })
    .unwrap_or_else(|e| panic!("{e:#}"));
    proc
}

fn run(prog: &str, args: &[String]) -> String {
    let path = find_program(prog).unwrap_or_else(|| panic!("{prog} not installed"));
    let out = Command::new(path).args(args).output().expect("run");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The records of a dig/kdig AXFR listing, TSIG records and comments left out, as a canonical
/// set through named-checkzone.
fn canonical_listing(
    origin: &str,
    text: &str,
    scratch: &Path,
) -> std::collections::BTreeSet<String> {
    let records: String = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter(|l| !l.split_whitespace().any(|f| f == "TSIG"))
        .map(|l| format!("{l}\n"))
        .collect();
    // The SOA comes first and last: named-checkzone takes one.
    let mut seen_soa = false;
    let records: String = records
        .lines()
        .filter(|l| {
            let soa = l.split_whitespace().nth(3) == Some("SOA");
            let keep = !(soa && seen_soa);
            seen_soa |= soa;
            keep
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let file = scratch.join("listing.zone");
    std::fs::write(&file, records).unwrap();
    canonical_zone(origin, &file).unwrap()
}

#[test]
fn dig_and_kdig_verify_every_message_of_a_signed_100k_axfr() {
    if require_program("dig").is_none()
        || require_program("kdig").is_none()
        || require_program("named-checkzone").is_none()
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let origin = "tsig.example.";
    let zone = generated_zone(origin, 100_000, 13, tmp.path());
    let want = canonical_zone(origin, &zone).unwrap();
    let port = free_port("127.0.0.1");
    let keys = specs();
    let xfrd = start_xfrd(port, origin, &zone, &keys, tmp.path());
    for k in keys.iter().take(4) {
        // dig prints one TSIG record per message it verified, and says so when one fails.
        let out = run(
            "dig",
            &[
                "@127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
                origin.into(),
                "AXFR".into(),
                "-y".into(),
                k.dig_arg(),
                "+time=10".into(),
            ],
        );
        assert!(
            !out.contains("Couldn't verify") && !out.contains("failed"),
            "dig {}: {}\nxfrd log:\n{}",
            k.algorithm,
            &out[out.len().saturating_sub(2000)..],
            xfrd.log_text()
        );
        let messages: usize = out
            .lines()
            .find_map(|l| l.strip_prefix(";; XFR size: "))
            .and_then(|l| l.split("messages ").nth(1))
            .and_then(|l| l.split(',').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no XFR size line: {}", &out[out.len() - 500..]));
        let tsigs = out
            .lines()
            .filter(|l| l.split_whitespace().nth(3) == Some("TSIG"))
            .count();
        assert!(messages > 10, "{messages} messages");
        assert_eq!(tsigs, messages, "dig {}: every message signed", k.algorithm);
        let got = canonical_listing(origin, &out, tmp.path());
        assert!(
            want == got,
            "dig {}: {}",
            k.algorithm,
            diff_summary(&want, &got)
        );

        // kdig verifies each message too; a failure ends the transfer with an error.
        let out = run(
            "kdig",
            &[
                "@127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
                origin.into(),
                "AXFR".into(),
                "-y".into(),
                k.dig_arg(),
                "+time=10".into(),
            ],
        );
        assert!(
            !out.contains("WARNING") && !out.contains("failed") && out.contains(";; Received"),
            "kdig {}: {}",
            k.algorithm,
            &out[out.len().saturating_sub(2000)..]
        );
        let got = canonical_listing(origin, &out, tmp.path());
        assert!(
            want == got,
            "kdig {}: {}",
            k.algorithm,
            diff_summary(&want, &got)
        );
    }
}

#[test]
fn peers_transfer_with_the_key_and_fail_with_a_wrong_one() {
    if require_program("named-checkzone").is_none() || require_program("dig").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let origin = "peers.example.";
    let zone = generated_zone(origin, 20_000, 17, tmp.path());
    let want: std::collections::BTreeSet<String> = canonical_zone(origin, &zone)
        .unwrap()
        .iter()
        .map(|l| l.to_ascii_lowercase())
        .collect();
    let port = free_port("127.0.0.1");
    let key = specs().remove(0);
    let mut xfrd = start_xfrd(port, origin, &zone, std::slice::from_ref(&key), tmp.path());
    for peer in [Peer::Knot, Peer::Nsd, Peer::Bind] {
        let role = || Role::Secondary {
            primary_ip: "127.0.0.1",
            primary_port: port,
        };
        let opts = PeerOptions {
            tsig: Some(key.clone()),
            ..Default::default()
        };
        let dir = tmp.path().join(format!("{peer:?}"));
        let sport = free_port("127.0.0.1");
        let Some(sec) = peers::start_with(peer, "127.0.0.1", sport, origin, role(), &dir, &opts)
            .unwrap_or_else(|e| panic!("{peer:?} with the key: {e:#}\nxfrd:\n{}", xfrd.log_text()))
        else {
            continue;
        };
        let got: std::collections::BTreeSet<String> =
            xfrd_tests::axfr_canonical("127.0.0.1", sec.port, origin, &dir)
                .unwrap()
                .iter()
                .map(|l| l.to_ascii_lowercase())
                .collect();
        assert!(want == got, "{peer:?}: {}", diff_summary(&want, &got));
        drop(sec);

        // The same secondary with another secret: no transfer, and xfrd says why.
        let wrong = PeerOptions {
            tsig: Some(TsigSpec {
                secret: "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==".into(),
                ..key.clone()
            }),
            wait_for_zone: false,
        };
        let dir = tmp.path().join(format!("{peer:?}-wrong"));
        let sport = free_port("127.0.0.1");
        let log_before = std::fs::read_to_string(&xfrd.log).unwrap_or_default().len();
        let mut sec = peers::start_with(peer, "127.0.0.1", sport, origin, role(), &dir, &wrong)
            .unwrap()
            .unwrap();
        wait_until(Duration::from_secs(30), "xfrd to log the BADSIG", || {
            xfrd.check_running()?;
            sec.proc.check_running()?;
            let log = std::fs::read_to_string(&xfrd.log).unwrap_or_default();
            Ok(log[log_before..].contains("reason=\"BADSIG\"")
                || log[log_before..].contains("reason=BADSIG"))
        })
        .unwrap_or_else(|e| {
            panic!(
                "{peer:?} with a wrong secret: {e:#}\nxfrd:\n{}",
                xfrd.log_text()
            )
        });
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(
            soa_serial("127.0.0.1", sport, origin),
            None,
            "{peer:?} with a wrong secret serves the zone"
        );
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn axfr_query(id: u16, origin: &[u8]) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(origin);
    m.extend_from_slice(&[0, 252, 0, 1]);
    m
}

/// Sends `query` over TCP and reads messages until the transfer ends (an SOA after the first
/// record, or an error rcode); returns them.
fn exchange(port: u16, query: &[u8]) -> Vec<Vec<u8>> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    s.write_all(&framed).unwrap();
    let mut out = Vec::new();
    let mut soas = 0;
    loop {
        let mut len = [0u8; 2];
        if s.read_exact(&mut len).is_err() {
            break;
        }
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut msg).unwrap();
        let rcode = msg[3] & 0xF;
        // Counting SOAs by their type in the answers is enough for the generated zones.
        soas += msg.windows(4).filter(|w| *w == [0, 6, 0, 1]).count();
        out.push(msg);
        if rcode != 0 || soas >= 2 {
            break;
        }
    }
    out
}

#[test]
fn bad_requests_get_rfc8945_answers_and_the_server_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = "bad.example.";
    let zone = generated_zone(origin, 5_000, 19, tmp.path());
    let port = free_port("127.0.0.1");
    let spec = specs().remove(0);
    let xfrd = start_xfrd(port, origin, &zone, std::slice::from_ref(&spec), tmp.path());
    let key = Key::from_text(&spec.name, &spec.algorithm, &spec.secret).unwrap();
    let wire = b"\x03bad\x07example\x00";
    let tsig_of = |m: &[u8]| {
        tsig::find_record(m)
            .unwrap()
            .map(|r| (r.error, r.mac.len()))
    };
    let rcode = |m: &[u8]| m[3] & 0xF;

    // Unsigned: REFUSED (the zone has only keyed rules), nothing of the zone.
    let r = exchange(port, &axfr_query(1, wire));
    assert_eq!((r.len(), rcode(&r[0]), r[0][7]), (1, 5, 0));
    // Unknown key: NOTAUTH + BADKEY, unsigned.
    let other = Key::from_text("other.", "hmac-sha256", &spec.secret).unwrap();
    let mut q = axfr_query(2, wire);
    tsig::sign_request(&other, &mut q, now_s());
    let r = exchange(port, &q);
    assert_eq!(
        (rcode(&r[0]), tsig_of(&r[0])),
        (9, Some((tsig::TSIG_ERROR_BADKEY, 0)))
    );
    // Wrong secret: NOTAUTH + BADSIG, unsigned.
    let wrong = Key::from_text(&spec.name, &spec.algorithm, "d3Jvbmc=").unwrap();
    let mut q = axfr_query(3, wire);
    tsig::sign_request(&wrong, &mut q, now_s());
    let r = exchange(port, &q);
    assert_eq!(
        (rcode(&r[0]), tsig_of(&r[0])),
        (9, Some((tsig::TSIG_ERROR_BADSIG, 0)))
    );
    // Stale: NOTAUTH + BADTIME, signed, the server's time in other data.
    let mut q = axfr_query(4, wire);
    let stale = now_s() - 3600;
    tsig::sign_request(&key, &mut q, stale);
    let r = exchange(port, &q);
    let rr = tsig::find_record(&r[0]).unwrap().unwrap();
    assert_eq!(
        (rcode(&r[0]), rr.error, rr.mac.len()),
        (9, tsig::TSIG_ERROR_BADTIME, 32)
    );
    assert_eq!(rr.time_signed, stale);
    let server_time = rr.other.iter().fold(0u64, |a, &b| (a << 8) | b as u64);
    assert!(server_time.abs_diff(now_s()) < 60, "{server_time}");
    // Garbled (the other-length field runs past the record): FORMERR.
    let mut q = axfr_query(5, wire);
    tsig::sign_request(&key, &mut q, now_s());
    let n = q.len();
    q[n - 2] = 0x7F;
    let r = exchange(port, &q);
    assert_eq!(rcode(&r[0]), 1);

    // And a signed transfer still works, every message verified.
    let mut q = axfr_query(6, wire);
    let mac = tsig::sign_request(&key, &mut q, now_s());
    let r = exchange(port, &q);
    let mut v = ResponseVerifier::new(&key, mac, UnsignedRun::None);
    for m in &r {
        v.verify(m, now_s()).unwrap();
    }
    assert!(r.len() > 1 && v.ends_signed());
    // The cores write their log lines in batches, so the refusals appear shortly after.
    let logged = wait_until(Duration::from_secs(10), "xfrd to log the refusals", || {
        let log = std::fs::read_to_string(&xfrd.log)?;
        Ok(["BADKEY", "BADSIG", "BADTIME"]
            .iter()
            .all(|r| log.contains(r)))
    });
    let log = std::fs::read_to_string(&xfrd.log).unwrap();
    assert!(
        logged.is_ok(),
        "xfrd logs BADKEY, BADSIG and BADTIME:\n{log}"
    );
}

#[test]
fn dnspython_transfers_and_verifies_with_every_algorithm() {
    let Some(python) = find_program("python3") else {
        panic!("python3 is missing");
    };
    // Debian's python3-dnspython serves /usr/bin/python3 (FINDINGS.md).
    let python = if Path::new("/usr/bin/python3").is_file() {
        "/usr/bin/python3".into()
    } else {
        python
    };
    let probe = Command::new(&python)
        .args(["-c", "import dns.query, dns.tsigkeyring, dns.zone"])
        .output()
        .unwrap();
    if !probe.status.success() {
        assert!(
            !xfrd_tests::in_ci(),
            "dnspython is not installed; CI needs it (scripts/test.sh installs python3-dnspython)"
        );
        eprintln!("SKIPPED: dnspython is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let origin = "py.example.";
    let zone = generated_zone(origin, 20_000, 23, tmp.path());
    let port = free_port("127.0.0.1");
    let keys = specs();
    let xfrd = start_xfrd(port, origin, &zone, &keys, tmp.path());
    let script = r#"
import sys, dns.query, dns.tsigkeyring, dns.zone, dns.rdatatype
port, origin, name, alg, secret = sys.argv[1:]
ring = dns.tsigkeyring.from_text({name: (alg, secret)})
msgs = 0
records = 0
# xfr() verifies the TSIG of every message it receives (one multi-message context).
for m in dns.query.xfr("127.0.0.1", origin, port=int(port), keyring=ring, keyname=name, keyalgorithm=alg, lifetime=30):
    msgs += 1
    if not m.had_tsig:
        raise SystemExit("message %d unsigned" % msgs)
    records += sum(len(rrset) for rrset in m.answer)
print(msgs, records)
"#;
    for k in &keys {
        let out = Command::new(&python)
            .arg("-c")
            .arg(script)
            .args([&port.to_string(), origin, &k.name, &k.algorithm, &k.secret])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "dnspython {}: {}{}\nxfrd:\n{}",
            k.algorithm,
            text,
            String::from_utf8_lossy(&out.stderr),
            xfrd.log_text()
        );
        let mut f = text.split_whitespace().map(|n| n.parse::<usize>().unwrap());
        let (msgs, records) = (f.next().unwrap(), f.next().unwrap());
        assert!(msgs > 1, "{}", k.algorithm);
        assert_eq!(
            records,
            20_000 + 1,
            "{}: every record and the closing SOA",
            k.algorithm
        );
    }
}
