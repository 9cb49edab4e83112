//! xfrd against real clients: dig and kdig AXFR over IPv4 and IPv6 (compared with the zone file
//! through named-checkzone, the same canonical printer on both sides), SOA over UDP and TCP,
//! the error answers, the ACL, and pipelined queries on one connection.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use common::*;

fn compare_clients(dir: &Path, port: u16, origin: &str, zonefile: &Path) {
    let (Some(dig), Some(kdig), Some(checkzone)) =
        (require("dig"), require("kdig"), require("named-checkzone"))
    else {
        return;
    };
    let want = canonical(&checkzone, origin, zonefile);
    assert!(want.len() > 2);
    for (client, ip) in [
        (&dig, "127.0.0.1"),
        (&dig, "::1"),
        (&kdig, "127.0.0.1"),
        (&kdig, "::1"),
    ] {
        let out = dir.join("client.out");
        let args = vec![
            format!("@{ip}"),
            "-p".into(),
            port.to_string(),
            origin.into(),
            "AXFR".into(),
        ];
        run_client(client, &args, &out);
        let got = canonical(&checkzone, origin, &out);
        let missing: Vec<_> = want.difference(&got).take(5).collect();
        let extra: Vec<_> = got.difference(&want).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{} over {ip}: {} records missing (e.g. {missing:?}), {} extra (e.g. {extra:?})",
            client.display(),
            want.difference(&got).count(),
            got.difference(&want).count()
        );
    }
}

fn listen_both(port: u16) -> Vec<String> {
    vec![
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--listen".into(),
        format!("[::1]:{port}"),
    ]
}

#[test]
fn dig_and_kdig_axfr_example_zone_v4_v6() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut args = listen_both(port);
    args.extend([
        "--zone".into(),
        format!("example.com.={}", examples_zone().display()),
        "--cores".into(),
        "2".into(),
    ]);
    let mut x = Xfrd::start(dir.path(), port, "example.com.", &args);
    compare_clients(dir.path(), port, "example.com.", &examples_zone());
    assert!(
        x.log_shows("transfer done"),
        "no transfer log line:\n{}",
        x.log_text()
    );
    assert!(x.stop().success());
}

#[test]
fn dig_and_kdig_axfr_generated_100k_zone() {
    let dir = tempfile::tempdir().unwrap();
    let zone = generated_zone(dir.path(), "big.example.", 100_000);
    let port = free_port();
    let mut args = listen_both(port);
    args.extend(["--zone".into(), format!("big.example.={}", zone.display())]);
    let mut x = Xfrd::start(dir.path(), port, "big.example.", &args);
    let t = axfr(([127, 0, 0, 1], port).into(), "big.example.");
    assert_eq!(
        t.records,
        100_000 + 1,
        "records of the transfer (SOA twice)"
    );
    assert_eq!(t.first_serial, t.last_serial);
    compare_clients(dir.path(), port, "big.example.", &zone);
    assert!(x.stop().success());
}

#[test]
fn soa_and_error_answers() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let args = vec!["--listen".into(), format!("127.0.0.1:{port}")];
    let _x = Xfrd::start(dir.path(), port, "example.com.", &args);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();

    // SOA over UDP: authoritative, the zone's serial, the question as written (any case).
    let r = udp_exchange(addr, &query(7, "ExAmPlE.CoM.", TYPE_SOA, None)).unwrap();
    assert_eq!((u16::from_be_bytes([r[0], r[1]]), rcode(&r)), (7, 0));
    assert_ne!(r[2] & 0x04, 0, "AA set");
    assert_eq!(&r[12..12 + 13], &wire_name("ExAmPlE.CoM.")[..]);
    assert_eq!(soa_serial_of(&r), Some(2026112301));

    // SOA over TCP.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&framed(&query(8, "example.com.", TYPE_SOA, None)))
        .unwrap();
    let r = read_frame(&mut s).unwrap().unwrap();
    assert_eq!(soa_serial_of(&r), Some(2026112301));

    // Not served: NOTAUTH for transfers, REFUSED for other queries.
    s.write_all(&framed(&query(9, "example.org.", TYPE_AXFR, None)))
        .unwrap();
    assert_eq!(rcode(&read_frame(&mut s).unwrap().unwrap()), 9);
    let r = udp_exchange(addr, &query(10, "example.org.", TYPE_SOA, None)).unwrap();
    assert_eq!(rcode(&r), 5);
    // AXFR over UDP: NOTIMP. IXFR over UDP: the current SOA alone.
    let r = udp_exchange(addr, &query(11, "example.com.", TYPE_AXFR, None)).unwrap();
    assert_eq!(rcode(&r), 4);
    let r = udp_exchange(addr, &query(12, "example.com.", TYPE_IXFR, Some(1))).unwrap();
    assert_eq!(soa_serial_of(&r), Some(2026112301));
    // IXFR over TCP at the current serial: the single SOA; at an older one: AXFR-style.
    s.write_all(&framed(&query(
        13,
        "example.com.",
        TYPE_IXFR,
        Some(2026112301),
    )))
    .unwrap();
    let r = read_frame(&mut s).unwrap().unwrap();
    assert_eq!(soa_serial_of(&r), Some(2026112301));
    assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer record");
    s.write_all(&framed(&query(14, "example.com.", TYPE_IXFR, Some(1))))
        .unwrap();
    let t = read_transfer(&mut s, 14);
    assert_eq!(t.records, 22);
    // Other types: REFUSED (NOTIMP is for opcodes). A pointer in the question: FORMERR with
    // the ID.
    s.write_all(&framed(&query(15, "example.com.", 1, None)))
        .unwrap();
    assert_eq!(rcode(&read_frame(&mut s).unwrap().unwrap()), 5);
    let mut bad = query(16, "example.com.", TYPE_SOA, None);
    bad.truncate(12);
    bad.extend_from_slice(&[0xC0, 0x0C, 0, 6, 0, 1]);
    s.write_all(&framed(&bad)).unwrap();
    let r = read_frame(&mut s).unwrap().unwrap();
    assert_eq!((u16::from_be_bytes([r[0], r[1]]), rcode(&r)), (16, 1));
    // Garbage framing: the server closes the connection.
    s.write_all(&[0, 3, 1, 2, 3]).unwrap();
    assert!(read_frame(&mut s).unwrap_or(None).is_none());
}

#[test]
fn acl_refuses_transfers_but_not_soa() {
    let Some(dig) = require("dig") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("xfrd.toml");
    std::fs::write(
        &config,
        format!(
            "listen = [\"127.0.0.1:{port}\", \"[::1]:{port}\"]\n[acl]\nallow_transfer = [\"192.0.2.0/24\"]\n\
             [[zone]]\norigin = \"example.com.\"\nfile = \"{}\"\n[[zone]]\norigin = \"open.example.\"\nfile = \"{}\"\nallow_transfer = [\"::1\", \"127.0.0.1/32\"]\n",
            examples_zone().display(),
            generated_zone(dir.path(), "open.example.", 50).display()
        ),
    )
    .unwrap();
    let _x = Xfrd::start(
        dir.path(),
        port,
        "example.com.",
        &["--config".into(), config.display().to_string()],
    );
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&framed(&query(1, "example.com.", TYPE_AXFR, None)))
        .unwrap();
    assert_eq!(rcode(&read_frame(&mut s).unwrap().unwrap()), 5, "REFUSED");
    assert_eq!(soa_udp(addr, "example.com."), Some(2026112301));
    // The zone with its own list allows loopback, over IPv4 and IPv6.
    assert_eq!(axfr(addr, "open.example.").records, 51);
    assert_eq!(
        axfr(([0, 0, 0, 0, 0, 0, 0, 1], port).into(), "open.example.").records,
        51
    );
    let out = std::process::Command::new(dig)
        .args([
            "@127.0.0.1".to_string(),
            "-p".into(),
            port.to_string(),
            "example.com.".into(),
            "AXFR".into(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Transfer failed") && !text.contains("IN\tSOA"),
        "dig got: {text}"
    );
}

#[test]
fn pipelined_queries_are_all_answered_each_transfer_whole() {
    let dir = tempfile::tempdir().unwrap();
    let zone = generated_zone(dir.path(), "pipe.example.", 5_000);
    let port = free_port();
    let args = vec![
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--zone".into(),
        format!("pipe.example.={}", zone.display()),
    ];
    let _x = Xfrd::start(dir.path(), port, "pipe.example.", &args);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut batch = framed(&query(1, "pipe.example.", TYPE_SOA, None));
    batch.extend(framed(&query(2, "PIPE.example.", TYPE_AXFR, None)));
    batch.extend(framed(&query(3, "pipe.example.", TYPE_SOA, None)));
    s.write_all(&batch).unwrap();
    let first = read_frame(&mut s).unwrap().unwrap();
    assert_eq!(u16::from_be_bytes([first[0], first[1]]), 1);
    // The SOA after the AXFR is answered at one of the transfer's message boundaries or after
    // it (queries on one connection are served concurrently, RFC 7766).
    let mut beside = Vec::new();
    let t = read_transfer_beside(&mut s, 2, &mut beside, 1);
    assert_eq!(t.records, 5_001);
    assert!(t.messages > 1, "a 5,000-record zone takes several messages");
    let last = match beside.pop() {
        Some(m) => m,
        None => read_frame(&mut s).unwrap().unwrap(),
    };
    assert_eq!(u16::from_be_bytes([last[0], last[1]]), 3);
    assert!(soa_serial_of(&last).is_some());
}
