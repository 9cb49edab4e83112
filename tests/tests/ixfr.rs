//! IXFR (RFC 1995) from xfrd's journal, with NOTIFY: dnspython applies xfrd's incremental
//! answers (a chain condensed into one diff, a single step, AXFR-style fallbacks) to the old
//! version and gets exactly the new one; every answer case is checked (current serial, newer
//! serial, unknown serial, the size ratio, UDP that fits and UDP that does not, no authority
//! SOA); knotd, nsd and named as secondaries with NOTIFY from xfrd follow versions 2, 3 and,
//! across an xfrd restart, 4 by incremental transfers, and hold exactly xfrd's content.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use xfrd_tests::peers::{self, Peer, PeerOptions, Role};
use xfrd_tests::{
    axfr_canonical, canonical_zone, diff_summary, find_program, free_port, soa_serial, wait_until,
    workspace_bin, Proc,
};

const BASE_NAMES: usize = 3000;

/// Version `v` (1-based) of a zone of about 3,000 names. Each version differs from the one
/// before by deletes, adds and changed RRsets; version 3 undoes part of version 2 (so the
/// condensed diff from 1 is smaller than the chain); version 5 changes every address (its diff
/// is larger than the zone).
fn zone_text(origin: &str, v: u32) -> String {
    let mut t = format!(
        "$ORIGIN {origin}\n$TTL 300\n@ 3600 SOA ns1 hostmaster {v} 3600 600 86400 300\n@ NS ns1\n@ NS ns2\n\
         ns1 A 192.0.2.1\nns2 A 192.0.2.2\n@ MX 10 mail\nmail A 192.0.2.25\n"
    );
    for i in 0..BASE_NAMES {
        let deleted_in_2 = (1..=10).contains(&i);
        let back_in_3 = (1..=3).contains(&i);
        let present = match v {
            1 => true,
            2 => !deleted_in_2,
            _ => !deleted_in_2 || back_in_3,
        };
        if !present {
            continue;
        }
        let last = if v >= 5 { (i % 200) + 20 } else { i % 250 };
        t.push_str(&format!(
            "h{i} A 10.{}.{}.{last}\n",
            i / 65536,
            (i / 256) % 256
        ));
        if i % 10 == 0 {
            // h30's RRset gets another TTL in version 3: a delete and an add of it.
            let ttl = if v >= 3 && i == 30 { "600 " } else { "" };
            t.push_str(&format!(
                "h{i} {ttl}TXT \"host {i} of version-stable text\"\n"
            ));
        }
    }
    // h20: an RRset of two in version 1, changed to one other record in version 2.
    if v == 1 {
        t.push_str("h20 A 10.99.0.1\nh20 A 10.99.0.2\n");
    } else {
        t.push_str("h20 A 10.99.0.3\n");
    }
    if v >= 2 {
        let added = if v == 2 { 1..=10 } else { 6..=10 };
        for i in added {
            t.push_str(&format!("n{i} AAAA 2001:db8::{i:x}\n"));
        }
    }
    if v >= 3 {
        t.push_str("v3 TXT \"new in three\"\n");
    }
    if v >= 4 {
        t.push_str("v4 CNAME h4\nh40 MX 20 mail\n");
    }
    t
}

fn python() -> Option<PathBuf> {
    let python = if Path::new("/usr/bin/python3").is_file() {
        PathBuf::from("/usr/bin/python3")
    } else {
        find_program("python3")?
    };
    let probe = Command::new(&python)
        .args(["-c", "import dns.query, dns.xfr, dns.zone"])
        .output()
        .ok()?;
    if probe.status.success() {
        return Some(python);
    }
    assert!(
        !xfrd_tests::in_ci(),
        "dnspython is not installed; CI needs it (scripts/test.sh installs python3-dnspython)"
    );
    eprintln!("SKIPPED: dnspython is not installed");
    None
}

struct Xfrd {
    proc: Proc,
    port: u16,
    zonefile: PathBuf,
    conf: PathBuf,
    dir: PathBuf,
}

impl Xfrd {
    fn start(dir: &Path, origin: &str, notify: &[u16], extra: &str) -> Xfrd {
        let port = free_port("127.0.0.1");
        let zonefile = dir.join("zone.db");
        if !zonefile.exists() {
            std::fs::write(&zonefile, zone_text(origin, 1)).unwrap();
        }
        let targets: Vec<String> = notify
            .iter()
            .map(|p| format!("\"127.0.0.1:{p}\""))
            .collect();
        let conf = dir.join("xfrd.toml");
        std::fs::write(
            &conf,
            format!(
                "listen = [\"127.0.0.1:{port}\"]\ncores = 2\nstore_dir = \"{}\"\n{extra}\n\
                 [[zone]]\norigin = \"{origin}\"\nfile = \"{}\"\nnotify = [{}]\n",
                dir.join("stores").display(),
                zonefile.display(),
                targets.join(", ")
            ),
        )
        .unwrap();
        let mut x = Xfrd {
            proc: Proc::spawn("xfrd", Command::new("true"), dir.join("unused.log")).unwrap(),
            port,
            zonefile,
            conf,
            dir: dir.to_path_buf(),
        };
        x.restart(origin);
        x
    }

    /// (Re)starts xfrd on the same port, config and store folder.
    fn restart(&mut self, origin: &str) {
        let mut cmd = Command::new(workspace_bin("xfrd"));
        cmd.arg("serve").arg("--config").arg(&self.conf);
        let log = self.dir.join("xfrd.log");
        let previous = std::fs::read_to_string(&log).unwrap_or_default();
        std::fs::write(self.dir.join("xfrd.previous.log"), previous).unwrap();
        let _ = self.proc.child.kill();
        let _ = self.proc.child.wait();
        self.proc = Proc::spawn("xfrd", cmd, log).unwrap();
        let port = self.port;
        let proc = &mut self.proc;
        wait_until(Duration::from_secs(60), "xfrd to answer SOA", || {
            proc.check_running()?;
            Ok(soa_serial("127.0.0.1", port, origin).is_some())
        })
        .unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// Writes version `v` and reloads; waits until xfrd serves serial `v`.
    fn publish(&mut self, origin: &str, v: u32) {
        std::fs::write(&self.zonefile, zone_text(origin, v)).unwrap();
        self.proc.signal("HUP").unwrap();
        let port = self.port;
        let proc = &mut self.proc;
        wait_until(
            Duration::from_secs(60),
            "xfrd to serve the new serial",
            || {
                proc.check_running()?;
                Ok(soa_serial("127.0.0.1", port, origin) == Some(v))
            },
        )
        .unwrap_or_else(|e| panic!("{e:#}\n{}", self.proc.full_log()));
    }
}

/// Runs the dnspython checker: prints one line per case.
const CHECKER: &str = r#"
import sys, dns.query, dns.xfr, dns.zone, dns.message, dns.rdatatype, dns.rcode, dns.rdataclass
import dns.rrset, dns.flags
port, origin, dir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
case = sys.argv[4]

def zone_of(v):
    return dns.zone.from_file("%s/v%d.db" % (dir, v), origin, relativize=False)

def ixfr_query(serial):
    q = dns.message.make_query(origin, dns.rdatatype.IXFR)
    soa = dns.rrset.from_text(origin, 0, "IN", "SOA", ". . %d 0 0 0 0" % serial)
    q.authority.append(soa)
    return q

def raw_tcp(serial):
    """The answer records of every message, in order."""
    q = ixfr_query(serial)
    records = []
    for m in dns.query.xfr("127.0.0.1", origin, rdtype=dns.rdatatype.IXFR, serial=serial,
                           port=port, lifetime=30, relativize=False):
        for rrset in m.answer:
            for rd in rrset:
                records.append((rrset.name, rrset.rdtype, rrset.ttl, rd))
    return records

def kind(records):
    if len(records) == 1:
        return "soa-only"
    if records[1][1] == dns.rdatatype.SOA:
        return "incremental"
    return "axfr-style"

def apply(from_v):
    z = zone_of(from_v)
    q, serial = dns.xfr.make_query(z)
    dns.query.inbound_xfr("127.0.0.1", z, query=q, port=port, lifetime=30)
    return z

def zone_from(records):
    """The zone an AXFR-style answer carries: every record before the closing SOA."""
    z = dns.zone.Zone(origin, relativize=False)
    for name, rdtype, ttl, rd in records[:-1]:
        z.find_rdataset(name, rdtype, create=True).add(rd, ttl)
    return z

if case == "apply":
    from_v, to_v = int(sys.argv[5]), int(sys.argv[6])
    records = raw_tcp(from_v)
    # dnspython 2.3's inbound_xfr switches to AXFR on an AXFR-style IXFR answer and then
    # rejects the IXFR question that xfrd (as RFC 5936 section 2.2 allows) repeats in every
    # message; such an answer is applied here from its records instead.
    z = zone_from(records) if kind(records) == "axfr-style" else apply(from_v)
    want = zone_of(to_v)
    print(kind(records), len(records), "equal" if z == want else "DIFFERENT")
elif case == "kind":
    serial = int(sys.argv[5])
    records = raw_tcp(serial)
    print(kind(records), len(records), records[0][3].serial)
elif case == "udp":
    serial = int(sys.argv[5])
    q = ixfr_query(serial)
    q.use_edns(0, 0, 1232)
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=5)
    n = sum(len(rrset) for rrset in r.answer)
    tc = bool(r.flags & dns.flags.TC)
    print("udp", n, "tc" if tc else "notc", dns.rcode.to_text(r.rcode()))
elif case == "noauth":
    q = dns.message.make_query(origin, dns.rdatatype.IXFR)
    r = dns.query.tcp(q, "127.0.0.1", port=port, timeout=5)
    print("rcode", dns.rcode.to_text(r.rcode()))
"#;

fn check(python: &Path, port: u16, origin: &str, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(python)
        .arg("-c")
        .arg(CHECKER)
        .arg(port.to_string())
        .arg(origin)
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "checker {args:?}: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn dnspython_applies_condensed_and_single_diffs_and_every_answer_case_holds() {
    let Some(python) = python() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let origin = "ixfr.example.";
    for v in 1..=5 {
        std::fs::write(dir.join(format!("v{v}.db")), zone_text(origin, v)).unwrap();
    }
    // Room for version 5's diff, larger than the zone: the ratio, not the byte bound, must be
    // what sends it AXFR-style.
    let mut x = Xfrd::start(dir, origin, &[], "[ixfr]\nmax_journal_bytes = 100000000\n");
    let port = x.port;
    let run = |args: &[&str]| check(&python, port, origin, dir, args);

    // Only version 1: nothing in the history, so an older serial is answered AXFR-style.
    assert!(run(&["kind", "0"]).starts_with("axfr-style"));
    x.publish(origin, 2);
    x.publish(origin, 3);

    // From 1: one condensed diff to 3 (the chain would carry h1-h3 and n1-n5 twice).
    let r = run(&["apply", "1", "3"]);
    assert!(r.starts_with("incremental") && r.ends_with("equal"), "{r}");
    let condensed: usize = r.split_whitespace().nth(1).unwrap().parse().unwrap();
    // Deleted: h4-h10 (+TXT h10), the two h20, old h30 TXT; added: n6-n10, new h20, h30, v3;
    // plus four SOAs.
    assert!(condensed < 40, "condensed from 1 to 3: {condensed} records");
    let r = run(&["apply", "2", "3"]);
    assert!(r.starts_with("incremental") && r.ends_with("equal"), "{r}");
    // Current and newer serials: the single SOA.
    assert_eq!(run(&["kind", "3"]), "soa-only 1 3");
    assert_eq!(run(&["kind", "1000"]), "soa-only 1 3");
    // Unknown (older, RFC 1982) serials: AXFR-style.
    assert!(run(&["kind", "0"]).starts_with("axfr-style"));
    assert!(run(&["kind", "4000000000"]).starts_with("axfr-style"));
    // UDP: the 2 -> 3 diff fits one message; the 1 -> 3 diff at 512 bytes would not, but with
    // EDNS 1232 it does: check both that a fitting diff comes over UDP and that a larger one
    // is answered with the single SOA.
    let small = run(&["udp", "2"]);
    assert!(
        small.starts_with("udp ") && small.contains("notc NOERROR"),
        "{small}"
    );
    assert_ne!(
        small, "udp 1 notc NOERROR",
        "the diff, not the SOA: {small}"
    );
    x.publish(origin, 4);
    // After a restart with the same store folder the history is still there.
    x.restart(origin);
    let r = run(&["apply", "1", "4"]);
    assert!(r.starts_with("incremental") && r.ends_with("equal"), "{r}");
    let r = run(&["apply", "3", "4"]);
    assert!(r.starts_with("incremental") && r.ends_with("equal"), "{r}");

    x.publish(origin, 5);
    // Version 5 changes every address: its diff is larger than the zone.
    let r = run(&["kind", "4"]);
    assert!(r.starts_with("axfr-style"), "ratio fallback: {r}");
    let r = run(&["apply", "4", "5"]);
    assert!(r.ends_with("equal"), "{r}");
    let big = run(&["udp", "4"]);
    assert_eq!(big, "udp 1 notc NOERROR", "too large for UDP: the SOA only");
    // No authority SOA: FORMERR.
    assert_eq!(run(&["noauth"]), "rcode FORMERR");
    x.proc.check_running().unwrap();
}

/// Whether a peer's log shows version `to` arriving by an incremental transfer.
fn incremental_in_log(peer: Peer, log: &str, to: u32) -> bool {
    match peer {
        // "[zone.] refresh, remote ..., zone updated, ..., serial 1 -> 2", preceded by
        // "IXFR, incoming, ..., finished" and no "fallback to AXFR" since the previous update.
        Peer::Knot => {
            let lines: Vec<&str> = log.lines().collect();
            let Some(done) = lines
                .iter()
                .position(|l| l.contains("zone updated") && l.contains(&format!("-> {to},")))
            else {
                return false;
            };
            let since = lines[..done]
                .iter()
                .rposition(|l| l.contains("zone updated"))
                .map_or(0, |i| i + 1);
            let between = &lines[since..done];
            between
                .iter()
                .any(|l| l.contains("IXFR, incoming") && l.contains("finished"))
                && !between.iter().any(|l| l.contains("fallback to AXFR"))
        }
        // named 9.18 does not name the transfer type at its default log level, but counts the
        // records: "Transfer completed: 1 messages, 28 records, ... (serial 2)"; a zone of
        // some 3,300 records coming in a few dozen was incremental.
        Peer::Bind => log.lines().any(|l| {
            l.contains("Transfer completed") && l.contains(&format!("(serial {to})")) && {
                let records = l
                    .split(", ")
                    .find_map(|f| f.strip_suffix(" records"))
                    .and_then(|n| n.parse::<usize>().ok());
                records.is_some_and(|n| n < BASE_NAMES / 10)
            }
        }),
        // nsd 4.6 logs the bytes of what it received: "received update to serial 2 at ... of
        // 802 bytes"; the whole zone is some 79,000.
        Peer::Nsd => log.lines().any(|l| {
            l.contains(&format!("received update to serial {to} at")) && {
                let bytes = l
                    .rsplit_once(" of ")
                    .and_then(|(_, rest)| rest.split(' ').next())
                    .and_then(|n| n.parse::<usize>().ok());
                bytes.is_some_and(|n| n < 10_000)
            }
        }),
    }
}

fn secondary_follows(peer: Peer) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let origin = "follow.example.";
    let peer_port = free_port("127.0.0.1");
    let mut x = Xfrd::start(dir, origin, &[peer_port], "");
    let Some(mut p) = peers::start_with(
        peer,
        "127.0.0.1",
        peer_port,
        origin,
        Role::Secondary {
            primary_ip: "127.0.0.1",
            primary_port: x.port,
        },
        &dir.join(peer.program()),
        &PeerOptions::default(),
    )
    .unwrap() else {
        return;
    };
    let expect = |v: u32, p: &mut peers::PeerServer, x: &Xfrd| {
        wait_until(
            Duration::from_secs(30),
            &format!("{} to hold serial {v}", peer.program()),
            || {
                p.proc.check_running()?;
                Ok(soa_serial("127.0.0.1", peer_port, origin) == Some(v))
            },
        )
        .unwrap_or_else(|e| {
            panic!(
                "{e:#}\n{} log:\n{}\nxfrd log:\n{}",
                peer.program(),
                peer_log(p),
                x.proc.full_log()
            )
        });
        let file = dir.join(format!("v{v}.db"));
        std::fs::write(&file, zone_text(origin, v)).unwrap();
        let want = canonical_zone(origin, &file).unwrap();
        let got = axfr_canonical("127.0.0.1", peer_port, origin, dir).unwrap();
        assert!(
            want == got,
            "{} holds other content than version {v}: {}",
            peer.program(),
            diff_summary(&want, &got)
        );
    };
    expect(1, &mut p, &x);
    for v in [2, 3] {
        x.publish(origin, v);
        expect(v, &mut p, &x);
        assert!(
            incremental_in_log(peer, &peer_log(&p), v),
            "{} did not transfer {v} incrementally:\n{}",
            peer.program(),
            peer_log(&p)
        );
    }
    // Version 4 is written while xfrd is down: at start-up it diffs against the store it
    // served, keeps its journal, and announces 4.
    let _ = x.proc.child.kill();
    let _ = x.proc.child.wait();
    std::fs::write(&x.zonefile, zone_text(origin, 4)).unwrap();
    x.restart(origin);
    expect(4, &mut p, &x);
    assert!(
        incremental_in_log(peer, &peer_log(&p), 4),
        "{} did not transfer 4 incrementally:\n{}",
        peer.program(),
        peer_log(&p)
    );
}

fn peer_log(p: &peers::PeerServer) -> String {
    let mut log = p.proc.full_log();
    // nsd writes its own log file.
    if let Ok(own) = std::fs::read_to_string(p.dir.join("nsd.log")) {
        log.push_str(&own);
    }
    log
}

#[test]
fn knotd_follows_by_notify_and_ixfr() {
    secondary_follows(Peer::Knot);
}

#[test]
fn nsd_follows_by_notify_and_ixfr() {
    secondary_follows(Peer::Nsd);
}

#[test]
fn named_follows_by_notify_and_ixfr() {
    secondary_follows(Peer::Bind);
}

#[test]
fn bad_journals_and_lower_serials_keep_the_zone_serving() {
    let Some(python) = python() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let origin = "bad.example.";
    let mut x = Xfrd::start(dir, origin, &[], "");
    let port = x.port;
    let run = |args: &[&str]| check(&python, port, origin, dir, args);
    x.publish(origin, 2);
    assert!(run(&["kind", "1"]).starts_with("incremental"));
    let journal = dir.join("stores/bad.example.journal");
    let stop = |x: &mut Xfrd| {
        let _ = x.proc.child.kill();
        let _ = x.proc.child.wait();
    };

    // A bit flipped while xfrd was down: dropped with a log line, the zone served, IXFR
    // AXFR-style until a new version builds a new history.
    stop(&mut x);
    let mut bytes = std::fs::read(&journal).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x10;
    std::fs::write(&journal, &bytes).unwrap();
    x.restart(origin);
    assert!(
        x.proc.full_log().contains("journal dropped"),
        "{}",
        x.proc.full_log()
    );
    assert_eq!(soa_serial("127.0.0.1", port, origin), Some(2));
    assert!(run(&["kind", "1"]).starts_with("axfr-style"));
    x.publish(origin, 3);
    assert!(run(&["kind", "2"]).starts_with("incremental"));

    // A zone file whose serial went down: not served, the log says which file and why.
    std::fs::write(
        &x.zonefile,
        zone_text(origin, 4).replace(" 4 3600 600", " 1 3600 600"),
    )
    .unwrap();
    x.proc.signal("HUP").unwrap();
    wait_until(Duration::from_secs(30), "the refusal in the log", || {
        Ok(x.proc.full_log().contains("did not increase"))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", x.proc.full_log()));
    assert!(x.proc.full_log().contains("zone.db"));
    assert_eq!(soa_serial("127.0.0.1", port, origin), Some(3));
    assert!(
        run(&["kind", "2"]).starts_with("incremental"),
        "history kept"
    );

    // A truncated journal and, while down, a zone file with a lower serial: at start-up the
    // stored version is served, the journal dropped.
    stop(&mut x);
    let bytes = std::fs::read(&journal).unwrap();
    std::fs::write(&journal, &bytes[..bytes.len() / 3]).unwrap();
    x.restart(origin);
    let log = x.proc.full_log();
    assert!(
        log.contains("journal dropped") && log.contains("serving the stored version"),
        "{log}"
    );
    assert_eq!(soa_serial("127.0.0.1", port, origin), Some(3));

    // Another zone's journal in its place: refused the same way.
    stop(&mut x);
    std::fs::write(&x.zonefile, zone_text(origin, 3)).unwrap();
    let other = tempfile::tempdir().unwrap();
    let mut y = Xfrd::start(other.path(), "other.example.", &[], "");
    y.publish("other.example.", 2);
    stop(&mut y);
    std::fs::copy(other.path().join("stores/other.example.journal"), &journal).unwrap();
    x.restart(origin);
    let log = x.proc.full_log();
    assert!(
        log.contains("journal dropped") && log.contains("other.example"),
        "{log}"
    );
    assert_eq!(soa_serial("127.0.0.1", port, origin), Some(3));
    x.proc.check_running().unwrap();
}
