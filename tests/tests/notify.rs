//! NOTIFY (RFC 1996) against real sockets: xfrd retries a NOTIFY until the target answers
//! (a listener that stays silent for two attempts, then answers), gives up after the configured
//! attempts on one that never does, announces a reload's new serial, answers NOTIFYs it
//! receives (NOERROR for its zones, NOTAUTH for others, as dig shows), and a flood of forged
//! NOTIFY responses at its port changes nothing: it keeps serving and its pending NOTIFY still
//! completes.

use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use xfrd_tests::{dig, free_port, require_program, soa_serial, wait_until, workspace_bin, Proc};

const ORIGIN: &str = "notify.example.";

fn zone_text(serial: u32) -> String {
    format!(
        "$ORIGIN {ORIGIN}\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.80\n"
    )
}

/// A NOTIFY as received: (source port, ID, serial in its answer section).
fn parse_notify(msg: &[u8]) -> (u16, u32) {
    assert!(msg.len() > 12, "short NOTIFY");
    assert_eq!((msg[2] >> 3) & 0x0F, 4, "opcode NOTIFY");
    assert_eq!(msg[2] & 0x80, 0, "a query");
    assert_ne!(msg[2] & 0x04, 0, "AA set");
    assert_eq!(u16::from_be_bytes([msg[4], msg[5]]), 1, "one question");
    assert_eq!(
        u16::from_be_bytes([msg[6], msg[7]]),
        1,
        "the SOA in the answer"
    );
    // The serial is the first 4 bytes of the last 20 of the SOA RDATA (no TSIG: unsigned).
    let n = msg.len();
    let serial = u32::from_be_bytes(msg[n - 20..n - 16].try_into().unwrap());
    (u16::from_be_bytes([msg[0], msg[1]]), serial)
}

/// The response a secondary sends: the NOTIFY with QR set, its answer section dropped.
fn response_to(msg: &[u8]) -> Vec<u8> {
    let mut r = msg.to_vec();
    r[2] |= 0x80;
    r[6..8].fill(0);
    // Header and question only: find the question's end.
    let mut pos = 12;
    while r[pos] != 0 {
        pos += 1 + r[pos] as usize;
    }
    r.truncate(pos + 5);
    r
}

fn start_xfrd(dir: &Path, port: u16, targets: &[u16], extra: &str) -> (Proc, std::path::PathBuf) {
    let zone = dir.join("notify.zone");
    std::fs::write(&zone, zone_text(1)).unwrap();
    let targets: Vec<String> = targets
        .iter()
        .map(|p| format!("\"127.0.0.1:{p}\""))
        .collect();
    let conf = dir.join("xfrd.toml");
    std::fs::write(
        &conf,
        format!(
            "listen = [\"127.0.0.1:{port}\"]\ncores = 2\nstore_dir = \"{}\"\n{extra}\n\
             [[zone]]\norigin = \"{ORIGIN}\"\nfile = \"{}\"\nnotify = [{}]\n",
            dir.join("stores").display(),
            zone.display(),
            targets.join(", ")
        ),
    )
    .unwrap();
    let mut cmd = Command::new(workspace_bin("xfrd"));
    cmd.arg("serve").arg("--config").arg(&conf);
    let mut proc = Proc::spawn("xfrd", cmd, dir.join("xfrd.log")).unwrap();
    wait_until(Duration::from_secs(30), "xfrd to answer SOA", || {
        proc.check_running()?;
        Ok(soa_serial("127.0.0.1", port, ORIGIN).is_some())
    })
    .unwrap();
    (proc, zone)
}

#[test]
fn notify_is_retried_until_answered_and_given_up_after_the_attempts() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1");
    let answering = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ports = [
        answering.local_addr().unwrap().port(),
        silent.local_addr().unwrap().port(),
    ];
    answering
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut xfrd, zone) = start_xfrd(
        tmp.path(),
        port,
        &ports,
        "[notify]\nattempts = 3\nretry_interval_ms = 300\n",
    );

    // Start-up announces serial 1. Attempts 1 and 2 go unanswered; the third is answered.
    let mut buf = [0u8; 1500];
    let mut ids = Vec::new();
    let mut from = None;
    for _ in 0..3 {
        let (n, src) = answering.recv_from(&mut buf).expect("a NOTIFY");
        let (id, serial) = parse_notify(&buf[..n]);
        assert_eq!(serial, 1);
        assert_eq!(src.port(), port, "sent from the serving port");
        ids.push(id);
        from = Some((src, buf[..n].to_vec()));
    }
    assert!(
        ids.iter().all(|&i| i == ids[0]),
        "one ID per NOTIFY: {ids:?}"
    );
    let (src, msg) = from.unwrap();
    answering.send_to(&response_to(&msg), src).unwrap();

    // The silent target gets exactly `attempts` sends, then xfrd gives up.
    let mut sends = 0;
    silent
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    while let Ok((n, _)) = silent.recv_from(&mut buf) {
        assert_eq!(parse_notify(&buf[..n]).1, 1);
        sends += 1;
    }
    assert_eq!(sends, 3, "attempts = 3");
    wait_until(Duration::from_secs(10), "the outcomes in the log", || {
        let log = xfrd.full_log();
        Ok(log.contains("notify answered") && log.contains("notify failed: no response"))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", xfrd.log_text()));
    let log = xfrd.full_log();
    assert!(
        log.contains(&format!(
            "target=127.0.0.1:{} serial=1 attempts=3",
            ports[0]
        )),
        "{log}"
    );

    // After no more answered: the answering target hears nothing more of serial 1.
    answering
        .set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    assert!(
        answering.recv_from(&mut buf).is_err(),
        "no retry after the answer"
    );

    // A reload with serial 2 announces it.
    std::fs::write(&zone, zone_text(2)).unwrap();
    xfrd.signal("HUP").unwrap();
    answering
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let (n, src) = answering
        .recv_from(&mut buf)
        .expect("the NOTIFY of serial 2");
    assert_eq!(parse_notify(&buf[..n]).1, 2);
    answering.send_to(&response_to(&buf[..n]), src).unwrap();
    xfrd.check_running().unwrap();
}

#[test]
fn notifies_received_are_answered_and_forged_responses_change_nothing() {
    if require_program("dig").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.1");
    let target = UdpSocket::bind("127.0.0.1:0").unwrap();
    target
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut xfrd, _zone) = start_xfrd(
        tmp.path(),
        port,
        &[target.local_addr().unwrap().port()],
        "[notify]\nattempts = 5\nretry_interval_ms = 1000\n",
    );
    let p = port.to_string();
    let served = dig(&[
        "@127.0.0.1",
        "-p",
        &p,
        "+opcode=notify",
        "+norec",
        ORIGIN,
        "SOA",
    ])
    .unwrap();
    assert!(
        served.contains("opcode: NOTIFY, status: NOERROR") && served.contains("flags: qr aa"),
        "{served}"
    );
    let other = dig(&[
        "@127.0.0.1",
        "-p",
        &p,
        "+opcode=notify",
        "other.example.",
        "SOA",
    ])
    .unwrap();
    assert!(other.contains("status: NOTAUTH"), "{other}");

    // A NOTIFY for serial 1 is pending at `target`. Flood xfrd's port with forged responses
    // (every ID, from a socket that is not the target): bounded in count and time.
    let mut buf = [0u8; 1500];
    let (n, src) = target.recv_from(&mut buf).expect("a NOTIFY");
    let notify = buf[..n].to_vec();
    let forger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let mut forged = response_to(&notify);
    for id in 0..=u16::MAX {
        if started.elapsed() > Duration::from_secs(10) {
            break;
        }
        forged[0..2].copy_from_slice(&id.to_be_bytes());
        let _ = forger.send_to(&forged, ("127.0.0.1", port));
    }
    xfrd.check_running().unwrap();
    assert_eq!(
        soa_serial("127.0.0.1", port, ORIGIN),
        Some(1),
        "still serving"
    );
    // The real target still gets the retry, and its answer ends the NOTIFY.
    let (n, src2) = target.recv_from(&mut buf).expect("a retry after the flood");
    assert_eq!(src2, src);
    target.send_to(&response_to(&buf[..n]), src).unwrap();
    wait_until(Duration::from_secs(10), "notify answered", || {
        Ok(xfrd.full_log().contains("notify answered"))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", xfrd.log_text()));
    xfrd.check_running().unwrap();
}
