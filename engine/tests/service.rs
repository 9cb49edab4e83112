//! xfrd as a service: the systemd readiness protocol (READY=1 once it answers, RELOADING=1 and
//! READY=1 around a SIGHUP reload, STOPPING=1 on SIGTERM) received on a real datagram socket
//! by a spawned xfrd, and `[log] format = "json"` read back line by line with serde_json.

mod common;

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The next notification, within `limit`; the test fails with xfrd's log if none comes.
fn next_state(sock: &UnixDatagram, limit: Duration, x: &Xfrd) -> String {
    sock.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    match sock.recv(&mut buf) {
        Ok(n) => String::from_utf8(buf[..n].to_vec()).unwrap(),
        Err(e) => panic!(
            "no notification within {limit:?} ({e}); xfrd's log:\n{}",
            x.log_text()
        ),
    }
}

/// dig's answer to an SOA query over UDP, one try: READY=1 must mean "answers now".
fn dig_soa_once(port: u16) -> Option<u32> {
    xfrd_tests::soa_serial("127.0.0.1", port, "example.com.")
}

#[test]
fn ready_reloading_and_stopping_reach_the_notify_socket() {
    if require("dig").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // An abstract address, written with '@' as systemd writes it for a user manager's units.
    let name = format!("xfrd-notify-test-{}-{port}", std::process::id());
    let notify =
        UnixDatagram::bind_addr(&UnixAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    let log = dir.path().join("xfrd.log");
    let child = Command::new(env!("CARGO_BIN_EXE_xfrd"))
        .args(["serve", "--cores", "2", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--store-dir")
        .arg(dir.path().join("stores"))
        .env("NOTIFY_SOCKET", format!("@{name}"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start xfrd");
    let mut x = Xfrd { child, port, log };

    assert_eq!(next_state(&notify, Duration::from_secs(60), &x), "READY=1");
    assert_eq!(
        dig_soa_once(port),
        Some(2026112301),
        "READY=1 came but dig got no SOA at the first try:\n{}",
        x.log_text()
    );

    x.signal("HUP");
    let reloading = next_state(&notify, Duration::from_secs(30), &x);
    let mut lines = reloading.lines();
    assert_eq!(lines.next(), Some("RELOADING=1"), "{reloading:?}");
    let usec: u64 = lines
        .next()
        .and_then(|l| l.strip_prefix("MONOTONIC_USEC="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("RELOADING=1 without MONOTONIC_USEC: {reloading:?}"));
    assert!(usec > 0);
    assert_eq!(next_state(&notify, Duration::from_secs(30), &x), "READY=1");
    assert!(x.log_shows("reload done"), "{}", x.log_text());
    assert_eq!(dig_soa_once(port), Some(2026112301));

    x.signal("TERM");
    assert_eq!(
        next_state(&notify, Duration::from_secs(30), &x),
        "STOPPING=1"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = x.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "xfrd did not stop within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}:\n{}", x.log_text());
}

#[test]
fn a_missing_notify_socket_is_logged_and_xfrd_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = dir.path().join("xfrd.log");
    let child = Command::new(env!("CARGO_BIN_EXE_xfrd"))
        .args(["serve", "--cores", "1", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--store-dir")
        .arg(dir.path().join("stores"))
        .env("NOTIFY_SOCKET", dir.path().join("nobody-listens"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start xfrd");
    let mut x = Xfrd { child, port, log };
    let addr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(60);
    while soa_udp(addr, "example.com.").is_none() {
        assert!(x.child.try_wait().unwrap().is_none(), "{}", x.log_text());
        assert!(Instant::now() < deadline, "no SOA:\n{}", x.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(x.log_shows("sd_notify"), "{}", x.log_text());
    assert!(x.stop().success());
}

/// Every line of `text` as a JSON object with a string `level` and a string `message`.
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}\nwhole log:\n{text}"));
            for field in ["level", "message"] {
                assert!(v[field].is_string(), "no string {field:?} in {l:?}");
            }
            v
        })
        .collect()
}

#[test]
fn json_log_format_writes_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("xfrd.toml");
    std::fs::write(
        &config,
        format!(
            "listen = [\"127.0.0.1:{port}\"]\ncores = 2\n[log]\nformat = \"json\"\n\
             [[zone]]\norigin = \"example.com.\"\nfile = \"{}\"\n",
            examples_zone().display()
        ),
    )
    .unwrap();
    let args = vec!["--config".into(), config.display().to_string()];
    let mut x = Xfrd::start(dir.path(), port, "example.com.", &args);
    // A transfer: its line comes from a serving core, through the core's log buffer.
    let t = axfr(([127, 0, 0, 1], port).into(), "example.com.");
    assert!(t.records > 2);
    assert!(x.log_shows("transfer done"), "{}", x.log_text());
    // A line from the reload thread.
    x.signal("HUP");
    assert!(x.log_shows("reload done"), "{}", x.log_text());
    assert!(x.stop().success());

    let lines = json_lines(&x.log_text());
    let find = |message: &str| {
        lines
            .iter()
            .find(|v| v["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} line in {lines:#?}"))
    };
    let serving = find("xfrd serving");
    assert_eq!(serving["level"], "INFO");
    assert_eq!(serving["listen"], format!("127.0.0.1:{port}"));
    let done = find("transfer done");
    assert_eq!(done["zone"], "example.com.", "{done}");
    find("reload done");
    find("xfrd stopped");
}

#[test]
fn the_log_format_flag_overrides_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("xfrd.toml");
    std::fs::write(&config, "[log]\nformat = \"json\"\n").unwrap();
    let args: Vec<String> = [
        "--config",
        &config.display().to_string(),
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--log-format",
        "text",
    ]
    .map(String::from)
    .to_vec();
    let mut x = Xfrd::start(dir.path(), port, "example.com.", &args);
    assert!(x.stop().success());
    let text = x.log_text();
    assert!(text.contains("xfrd serving"), "{text}");
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_err()),
        "--log-format text still wrote JSON:\n{text}"
    );

    // And a word that is neither is refused by name.
    let out = Command::new(env!("CARGO_BIN_EXE_xfrd"))
        .args(["serve", "--log-format", "xml", "--check"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("json") && err.contains("text"), "{err}");
}
