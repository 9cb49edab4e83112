//! Operations: the Prometheus endpoint and the control command against a running xfrd.
//!
//! - `/metrics` moves as real transfers happen: a dig AXFR, an up-to-date IXFR (SOA only), an
//!   SOA query and a transfer refused by the ACL each show in the counters of a scrape taken
//!   before and after; a real Prometheus server scrapes the endpoint and its query API returns
//!   the zone's transfer counter and `up` = 1.
//! - `xfrctl`: every command against a running server (status, zones, zone, reload with and
//!   without an origin, notify, refresh, stop) and its errors: no server, a zone not served, a
//!   broken zone file on reload (the old serial keeps serving), permission denied.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use xfrd_tests::{dig, free_port, require_program, soa_serial, wait_until, workspace_bin, Proc};

const ORIGIN: &str = "ops.example.";

/// The zone at `serial`: 54 records (enough that a small change's diff is well under the
/// AXFR's size, the journal's default bound), then `extra`.
fn zone_text(serial: u32, extra: &str) -> String {
    let hosts: String = (0..50)
        .map(|i| format!("h{i} A 192.0.2.{}\n", i + 10))
        .collect();
    format!(
        "$ORIGIN {ORIGIN}\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.80\n{hosts}{extra}"
    )
}

struct Server {
    proc: Proc,
    port: u16,
    metrics: u16,
    socket: PathBuf,
    zone: PathBuf,
}

/// xfrd on 127.0.0.1 with metrics, a control socket, one zone whose transfers only 127.0.0.1
/// may take (the ACL refusal comes from 127.0.0.3), and a NOTIFY target at `notify_port`.
fn start(dir: &Path, notify_port: u16) -> Server {
    let port = free_port("127.0.0.1");
    let metrics = free_port("127.0.0.1");
    let socket = dir.join("control.sock");
    let zone = dir.join("ops.zone");
    std::fs::write(&zone, zone_text(1, "")).unwrap();
    let conf = dir.join("xfrd.toml");
    std::fs::write(
        &conf,
        format!(
            "listen = [\"127.0.0.1:{port}\"]\ncores = 2\nstore_dir = \"{}\"\n\
             [metrics]\nlisten = \"127.0.0.1:{metrics}\"\n[control]\nsocket = \"{}\"\n\
             [[zone]]\norigin = \"{ORIGIN}\"\nfile = \"{}\"\nallow_transfer = [\"127.0.0.1/32\"]\n\
             notify = [\"127.0.0.1:{notify_port}\"]\n",
            dir.join("stores").display(),
            socket.display(),
            zone.display(),
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
    Server {
        proc,
        port,
        metrics,
        socket,
        zone,
    }
}

/// GET `path` from the metrics port: (status line, body).
fn http_get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// The value of the sample `name{labels}` (labels as they are printed, in order).
fn sample(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{body}"))
        .trim()
        .parse()
        .unwrap()
}

fn scrape(port: u16) -> String {
    let (status, body) = http_get(port, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    body
}

fn xfrctl(socket: &Path, args: &[&str]) -> Output {
    Command::new(workspace_bin("xfrctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .unwrap()
}

fn ok_stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "xfrctl failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn metrics_move_as_transfers_happen() {
    if require_program("dig").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let s = start(tmp.path(), silent.local_addr().unwrap().port());
    let p = s.port.to_string();
    let t = |kind: &str| format!("xfrd_zone_transfers_total{{zone=\"{ORIGIN}\",type=\"{kind}\"}}");
    let bytes = format!("xfrd_zone_transfer_bytes_total{{zone=\"{ORIGIN}\"}}");
    let acl = format!("xfrd_zone_refused_total{{zone=\"{ORIGIN}\",reason=\"acl\"}}");
    let hist = format!("xfrd_zone_transfer_duration_seconds_count{{zone=\"{ORIGIN}\"}}");
    let soa_udp = "xfrd_soa_answers_total{transport=\"udp\"}";

    let before = scrape(s.metrics);
    assert_eq!(
        sample(&before, &format!("xfrd_zone_serial{{zone=\"{ORIGIN}\"}}")),
        1.0
    );
    let axfr = dig(&["@127.0.0.1", "-p", &p, ORIGIN, "AXFR"]).unwrap();
    assert!(axfr.contains("XFR size: 55 records"), "{axfr}");
    dig(&["@127.0.0.1", "-p", &p, ORIGIN, "IXFR=1", "+tcp"]).unwrap();
    dig(&["@127.0.0.1", "-p", &p, ORIGIN, "SOA", "+short"]).unwrap();
    let refused = dig(&["@127.0.0.1", "-b", "127.0.0.3", "-p", &p, ORIGIN, "AXFR"]).unwrap();
    assert!(refused.contains("Transfer failed"), "{refused}");
    // The cores publish their counters as they go; the transfer's end may trail dig's exit.
    let mut after = String::new();
    wait_until(Duration::from_secs(10), "the counters to move", || {
        after = scrape(s.metrics);
        Ok(sample(&after, &hist) >= 1.0 && sample(&after, &acl) >= 1.0)
    })
    .unwrap();
    assert_eq!(
        sample(&after, &t("axfr")) - sample(&before, &t("axfr")),
        1.0
    );
    assert_eq!(
        sample(&after, &t("soa_only")) - sample(&before, &t("soa_only")),
        1.0
    );
    assert!(sample(&after, &bytes) - sample(&before, &bytes) > 100.0);
    assert_eq!(sample(&after, &acl) - sample(&before, &acl), 1.0);
    assert!(sample(&after, soa_udp) - sample(&before, soa_udp) >= 1.0);
    assert_eq!(sample(&after, "xfrd_refused_total{reason=\"acl\"}"), 1.0);
    assert!(
        after.trim_end().ends_with("# EOF"),
        "OpenMetrics ends with # EOF"
    );

    // Not the metrics path, or not GET: no metrics.
    assert_eq!(http_get(s.metrics, "/other").0, "HTTP/1.1 404 Not Found");
    let mut c = TcpStream::connect(("127.0.0.1", s.metrics)).unwrap();
    c.write_all(b"POST /metrics HTTP/1.1\r\n\r\n").unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 405"), "{text}");
    // A reload shows in the counters, and the zone's counters survive it.
    std::fs::write(&s.zone, zone_text(2, "new A 192.0.2.2\n")).unwrap();
    let out = xfrctl(&s.socket, &["reload"]);
    ok_stdout(&out);
    let reloaded = scrape(s.metrics);
    assert_eq!(
        sample(&reloaded, &format!("xfrd_zone_serial{{zone=\"{ORIGIN}\"}}")),
        2.0
    );
    assert_eq!(sample(&reloaded, "xfrd_reloads_total"), 1.0);
    assert_eq!(sample(&reloaded, &t("axfr")), sample(&after, &t("axfr")));
    assert_eq!(
        sample(
            &reloaded,
            &format!("xfrd_zone_journal_versions{{zone=\"{ORIGIN}\"}}")
        ),
        1.0
    );
}

#[test]
fn prometheus_scrapes_the_endpoint() {
    let Some(prometheus) = require_program("prometheus") else {
        return;
    };
    if require_program("dig").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let s = start(tmp.path(), silent.local_addr().unwrap().port());
    let p = s.port.to_string();
    dig(&["@127.0.0.1", "-p", &p, ORIGIN, "AXFR"]).unwrap();
    let web = free_port("127.0.0.1");
    let conf = tmp.path().join("prometheus.yml");
    std::fs::write(
        &conf,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: xfrd\n    static_configs:\n      - targets: [\"127.0.0.1:{}\"]\n",
            s.metrics
        ),
    )
    .unwrap();
    let mut cmd = Command::new(prometheus);
    cmd.arg(format!("--config.file={}", conf.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            tmp.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{web}"));
    let mut prom = Proc::spawn("prometheus", cmd, tmp.path().join("prometheus.log")).unwrap();
    let query = |q: &str| http_get(web, &format!("/api/v1/query?query={q}")).1;
    let mut answer = String::new();
    wait_until(Duration::from_secs(60), "Prometheus to scrape xfrd", || {
        prom.check_running()?;
        if TcpStream::connect(("127.0.0.1", web)).is_err() {
            return Ok(false);
        }
        answer = query("xfrd_zone_transfers_total");
        Ok(answer.contains("\"type\":\"axfr\""))
    })
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let axfr = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"]["type"] == "axfr")
        .expect("the axfr series");
    assert_eq!(axfr["metric"]["zone"], ORIGIN);
    assert_eq!(axfr["value"][1], "1", "{answer}");
    let targets = http_get(web, "/api/v1/targets").1;
    let t: serde_json::Value = serde_json::from_str(&targets).unwrap();
    let target = &t["data"]["activeTargets"][0];
    assert_eq!(target["health"], "up", "{targets}");
    assert_eq!(target["lastError"], "", "{targets}");
}

#[test]
fn xfrctl_commands_and_their_errors() {
    if require_program("dig").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let target = UdpSocket::bind("127.0.0.1:0").unwrap();
    target
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut s = start(tmp.path(), target.local_addr().unwrap().port());
    // The start-up NOTIFY; it is never answered, so xfrd retries it: read what comes.
    let mut buf = [0u8; 1500];
    target.recv_from(&mut buf).expect("the start-up NOTIFY");

    let status = ok_stdout(&xfrctl(&s.socket, &["status"]));
    assert!(status.contains("zones                1"), "{status}");
    assert!(
        status.contains(&format!("127.0.0.1:{}", s.port)),
        "{status}"
    );
    let zones = ok_stdout(&xfrctl(&s.socket, &["zones"]));
    assert!(zones.starts_with("ZONE"), "{zones}");
    assert!(
        zones.contains(ORIGIN) && zones.contains("primary"),
        "{zones}"
    );
    let json = ok_stdout(&xfrctl(&s.socket, &["--json", "zones"]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["result"][0]["origin"], ORIGIN);
    assert_eq!(v["result"][0]["serial"], 1);
    assert_eq!(v["result"][0]["last_load"]["ok"], true);

    // Reload one zone: the new serial is served, the history grows.
    std::fs::write(&s.zone, zone_text(2, "new A 192.0.2.2\n")).unwrap();
    let out = ok_stdout(&xfrctl(&s.socket, &["reload", ORIGIN]));
    assert!(out.contains("updated"), "{out}");
    assert_eq!(soa_serial("127.0.0.1", s.port, ORIGIN), Some(2));
    let zone = ok_stdout(&xfrctl(&s.socket, &["zone", "ops.example"]));
    assert!(zone.contains("serial     2"), "{zone}");
    assert!(zone.contains("IXFR history"), "{zone}");

    // A broken zone file: the reload fails with file and line, serial 2 keeps serving.
    std::fs::write(&s.zone, zone_text(3, "bad IN A 300.1.2.3\n")).unwrap();
    let out = xfrctl(&s.socket, &["reload"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ops.zone:57"), "{err}");
    assert!(err.contains("keeps serving"), "{err}");
    assert_eq!(soa_serial("127.0.0.1", s.port, ORIGIN), Some(2));
    let zones = ok_stdout(&xfrctl(&s.socket, &["zones"]));
    assert!(zones.contains("FAILED"), "{zones}");

    // NOTIFY now: the target hears serial 2 (after any retries of earlier ones).
    let out = ok_stdout(&xfrctl(&s.socket, &["notify", ORIGIN]));
    assert!(out.contains("serial 2"), "{out}");
    let mut heard = false;
    for _ in 0..10 {
        let Ok((n, _)) = target.recv_from(&mut buf) else {
            break;
        };
        let serial = u32::from_be_bytes(buf[n - 20..n - 16].try_into().unwrap());
        if serial == 2 && (buf[2] >> 3) & 0x0F == 4 {
            heard = true;
            break;
        }
    }
    assert!(heard, "a NOTIFY of serial 2");

    // Errors: a zone not served, refresh of a primary zone, a command without its zone.
    let out = xfrctl(&s.socket, &["zone", "nope.example."]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not served"));
    let out = xfrctl(&s.socket, &["refresh", ORIGIN]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("secondary zones"));
    let out = xfrctl(&s.socket, &["reload", "not..a.name"]);
    assert_eq!(out.status.code(), Some(1));
    // No server at the socket.
    let out = xfrctl(&tmp.path().join("none.sock"), &["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no xfrd answers"));
    // Permission denied: another user cannot connect to the owner-only socket.
    if unsafe_free_is_root() {
        let setpriv = require_program("setpriv").expect("setpriv (util-linux)");
        let out = Command::new(setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(workspace_bin("xfrctl"))
            .arg("--socket")
            .arg(&s.socket)
            .arg("status")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("permission denied"),
            "{out:?}"
        );
    } else {
        // Not root: the socket's mode is what keeps others out.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&s.socket).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Stop: xfrd exits 0.
    let out = ok_stdout(&xfrctl(&s.socket, &["stop"]));
    assert!(out.contains("stopping"), "{out}");
    let mut code = None;
    wait_until(Duration::from_secs(20), "xfrd to exit", || {
        code = s.proc.child.try_wait()?;
        Ok(code.is_some())
    })
    .unwrap();
    assert!(code.unwrap().success(), "{}", s.proc.log_text());
}

fn unsafe_free_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|u| u.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}
