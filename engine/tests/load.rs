//! xfrd under load: a reload during 20 concurrent transfers, 1,000 concurrent connections and
//! 200 concurrent transfers, readers that stop reading (cut off, memory bounded), and a
//! graceful stop. Only generous, bounded timeouts; no timing assertions.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::*;

/// The test process needs more descriptors than the common soft default of 1024.
mod sys {
    pub fn raise_nofile_limit() {
        // SAFETY: zeroed rlimit is valid; getrlimit/setrlimit read and write a live local.
        unsafe {
            let mut lim: libc::rlimit = std::mem::zeroed();
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    }
}

fn write_config(dir: &Path, port: u16, zones: &[(&str, &Path)], limits: &str) -> String {
    let mut text = format!("listen = [\"127.0.0.1:{port}\"]\n[limits]\n{limits}\n");
    for (origin, file) in zones {
        text.push_str(&format!(
            "[[zone]]\norigin = \"{origin}\"\nfile = \"{}\"\n",
            file.display()
        ));
    }
    let path = dir.join("xfrd.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn reload_during_20_concurrent_transfers_keeps_each_on_one_serial() {
    const RECORDS: usize = 200_000;
    const CLIENTS: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let zone = generated_zone(dir.path(), "reload.example.", RECORDS);
    let port = free_port();
    let config = write_config(
        dir.path(),
        port,
        &[("reload.example.", &zone)],
        "send_timeout_ms = 120000\nidle_timeout_ms = 120000",
    );
    let x = Xfrd::start(
        dir.path(),
        port,
        "reload.example.",
        &["--config".into(), config],
    );
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let old = soa_udp(addr, "reload.example.").unwrap();

    // Every client has its first message (so its transfer is under way) before the reload,
    // and reads the rest only once the new version is published.
    let started = Arc::new(Barrier::new(CLIENTS + 1));
    let reloaded = Arc::new(Barrier::new(CLIENTS + 1));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (started, reloaded) = (started.clone(), reloaded.clone());
            std::thread::spawn(move || {
                let id = 100 + i as u16;
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
                s.write_all(&framed(&query(id, "reload.example.", TYPE_AXFR, None)))
                    .unwrap();
                let mut first = [0u8; 2];
                s.read_exact(&mut first).unwrap();
                let mut rest = vec![0u8; u16::from_be_bytes(first) as usize];
                s.read_exact(&mut rest).unwrap();
                let first_serial = soa_serial_of(&rest).expect("first message holds the SOA");
                started.wait();
                reloaded.wait();
                // The rest of the transfer, with the first message's records accounted for.
                let records_first = u16::from_be_bytes([rest[6], rest[7]]) as usize;
                let mut t = read_transfer_after_first(&mut s, id, first_serial);
                t.records += records_first;
                t.first_serial = first_serial;
                t
            })
        })
        .collect();
    started.wait();
    let text = std::fs::read_to_string(&zone).unwrap();
    let new = old + 1;
    let edited = text.replacen(&format!("{old} ; serial"), &format!("{new} ; serial"), 1);
    assert_ne!(text, edited, "serial not found in the generated zone");
    std::fs::write(&zone, edited).unwrap();
    x.signal("HUP");
    wait_for("the new serial", Duration::from_secs(120), || {
        soa_udp(addr, "reload.example.") == Some(new)
    });
    reloaded.wait();
    for c in clients {
        let t = c.join().unwrap();
        assert_eq!(t.records, RECORDS + 1, "complete transfer");
        assert_eq!(
            (t.first_serial, t.last_serial),
            (old, old),
            "a transfer begun on {old} ends on it"
        );
    }
    let t = axfr(addr, "reload.example.");
    assert_eq!(
        (t.first_serial, t.last_serial, t.records),
        (new, new, RECORDS + 1)
    );

    // A broken zone file: logged with file and line, the served version stays.
    std::fs::write(
        &zone,
        "$ORIGIN reload.example.\n@ IN SOA ns1 host 1 2 3 4 5\nbroken IN A 300.1.2.3\n",
    )
    .unwrap();
    x.signal("HUP");
    wait_for(
        "the reload error in the log",
        Duration::from_secs(60),
        || x.log_text().contains(&format!("{}:3", zone.display())),
    );
    assert_eq!(soa_udp(addr, "reload.example."), Some(new));
    assert_eq!(axfr(addr, "reload.example.").records, RECORDS + 1);
}

/// Reads a transfer whose first message was already read (it held the opening SOA).
fn read_transfer_after_first(s: &mut TcpStream, id: u16, first_serial: u32) -> Transfer {
    let mut t = Transfer {
        messages: 1,
        records: 0,
        first_serial,
        last_serial: 0,
        bytes: 0,
    };
    loop {
        let msg = read_frame(s).unwrap().expect("transfer ended early");
        assert_eq!(u16::from_be_bytes([msg[0], msg[1]]), id);
        let m = hickory_proto::op::Message::from_vec(&msg).unwrap();
        t.messages += 1;
        t.records += m.answers.len();
        if let Some(serial) = m.answers.iter().find_map(|r| match &r.data {
            hickory_proto::rr::RData::SOA(soa) => Some(soa.serial),
            _ => None,
        }) {
            t.last_serial = serial;
            return t;
        }
    }
}

#[test]
fn thousand_connections_and_200_concurrent_transfers() {
    sys::raise_nofile_limit();
    let dir = tempfile::tempdir().unwrap();
    let zone = generated_zone(dir.path(), "many.example.", 10_000);
    let port = free_port();
    let config = write_config(
        dir.path(),
        port,
        &[("many.example.", &zone)],
        "idle_timeout_ms = 120000",
    );
    let _x = Xfrd::start(
        dir.path(),
        port,
        "many.example.",
        &["--config".into(), config],
    );
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();

    // 1,000 connections open at once, each then answered.
    let mut conns: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    for (i, s) in conns.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(&framed(&query(i as u16, "many.example.", TYPE_SOA, None)))
            .unwrap();
    }
    for (i, s) in conns.iter_mut().enumerate() {
        let r = read_frame(s).unwrap().expect("answer");
        assert_eq!(u16::from_be_bytes([r[0], r[1]]), i as u16);
        assert!(soa_serial_of(&r).is_some());
    }
    drop(conns);

    // 200 transfers at once.
    let go = Arc::new(Barrier::new(200));
    let threads: Vec<_> = (0..200)
        .map(|_| {
            let go = go.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
                go.wait();
                s.write_all(&framed(&query(77, "many.example.", TYPE_AXFR, None)))
                    .unwrap();
                read_transfer(&mut s, 77)
            })
        })
        .collect();
    for t in threads {
        let t = t.join().unwrap();
        assert_eq!(t.records, 10_001);
        assert_eq!(t.first_serial, t.last_serial);
    }
}

#[test]
fn readers_that_stop_reading_are_cut_off_and_memory_stays_bounded() {
    const RECORDS: usize = 300_000;
    let dir = tempfile::tempdir().unwrap();
    let zone = generated_zone(dir.path(), "slow.example.", RECORDS);
    let port = free_port();
    let config = write_config(
        dir.path(),
        port,
        &[("slow.example.", &zone)],
        "send_timeout_ms = 2000",
    );
    let x = Xfrd::start(
        dir.path(),
        port,
        "slow.example.",
        &["--config".into(), config],
    );
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let anon_before = x.status_kb("RssAnon");

    let mut stalled: Vec<TcpStream> = (0..20)
        .map(|i| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(&framed(&query(i, "slow.example.", TYPE_AXFR, None)))
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let anon_stalled = x.status_kb("RssAnon");
    assert!(
        anon_stalled < anon_before + 32 * 1024,
        "anonymous memory grew from {anon_before} kB to {anon_stalled} kB with 20 stalled readers"
    );
    wait_for("20 cut-offs in the log", Duration::from_secs(60), || {
        x.log_text().matches("no send progress").count() >= 20
    });
    // Each stalled client now finds its stream ended before the transfer's end.
    for s in &mut stalled {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut bytes = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => bytes += n,
            }
            assert!(bytes < 64 << 20, "unbounded stream");
        }
        assert!(
            bytes < 8 << 20,
            "a cut-off client got {bytes} bytes: more than a stalled send"
        );
    }
    // The server still serves a reader that reads (framing only: a debug-build decoder would
    // itself be slower than this test's 2 s send timeout).
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(&framed(&query(99, "slow.example.", TYPE_AXFR, None)))
        .unwrap();
    let mut records = 0;
    while records < RECORDS + 1 {
        let msg = read_frame(&mut s).unwrap().expect("transfer ended early");
        assert_eq!(u16::from_be_bytes([msg[0], msg[1]]), 99);
        records += u16::from_be_bytes([msg[6], msg[7]]) as usize;
    }
    assert_eq!(records, RECORDS + 1);
}

#[test]
fn sigterm_lets_a_transfer_in_flight_finish_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let zone = generated_zone(dir.path(), "stop.example.", 100_000);
    let port = free_port();
    let args = vec![
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--zone".into(),
        format!("stop.example.={}", zone.display()),
    ];
    let mut x = Xfrd::start(dir.path(), port, "stop.example.", &args);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(&framed(&query(5, "stop.example.", TYPE_AXFR, None)))
        .unwrap();
    let mut first = [0u8; 2];
    s.read_exact(&mut first).unwrap();
    x.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    // No new connections are taken...
    let refused = match TcpStream::connect(("127.0.0.1", port)) {
        Err(_) => true,
        Ok(mut c) => {
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let _ = c.write_all(&framed(&query(6, "stop.example.", TYPE_SOA, None)));
            read_frame(&mut c).map(|f| f.is_none()).unwrap_or(true)
        }
    };
    assert!(refused, "a connection made after SIGTERM was served");
    // ...but the transfer in flight completes.
    let mut rest = vec![0u8; u16::from_be_bytes(first) as usize];
    s.read_exact(&mut rest).unwrap();
    let records_first = u16::from_be_bytes([rest[6], rest[7]]) as usize;
    let t = read_transfer_after_first(&mut s, 5, 0);
    assert_eq!(t.records + records_first, 100_001);
    let status = x.stop();
    assert!(status.success(), "exit status {status}\n{}", x.log_text());
}

#[test]
fn descriptor_exhaustion_pauses_accepting_without_spinning() {
    let Some(prlimit) = require("prlimit") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let args = vec![
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--cores".into(),
        "1".into(),
    ];
    let prlimit = prlimit.display().to_string();
    let x = Xfrd::start_wrapped(
        dir.path(),
        port,
        "example.com.",
        &args,
        &[&prlimit, "--nofile=40", "--"],
    );
    // More connections than descriptors: accept hits EMFILE while these stay open.
    let conns: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    wait_for("EMFILE in the log", Duration::from_secs(30), || {
        x.log_text().contains("pausing accepts")
    });
    let before = x.cpu_ticks();
    std::thread::sleep(Duration::from_secs(2));
    let used = x.cpu_ticks() - before;
    assert!(
        used < 50,
        "xfrd used {used} ticks in 2 s with accept failing: it spins"
    );
    drop(conns);
    // Once descriptors are free again, new connections are served.
    wait_for(
        "a TCP SOA answer after the flood",
        Duration::from_secs(30),
        || {
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                return false;
            };
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            s.write_all(&framed(&query(1, "example.com.", TYPE_SOA, None)))
                .is_ok()
                && read_frame(&mut s)
                    .ok()
                    .flatten()
                    .is_some_and(|r| soa_serial_of(&r).is_some())
        },
    );
}

#[test]
fn connections_beyond_the_table_are_closed_not_queued() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        port,
        &[("example.com.", &examples_zone())],
        "max_connections_per_core = 4",
    );
    let x = Xfrd::start(
        dir.path(),
        port,
        "example.com.",
        &["--config".into(), config, "--cores".into(), "1".into()],
    );
    let mut held: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&framed(&query(1, "example.com.", TYPE_SOA, None)))
            .unwrap();
        assert!(read_frame(s).unwrap().is_some());
    }
    let mut extra = TcpStream::connect(("127.0.0.1", port)).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = extra.write_all(&framed(&query(2, "example.com.", TYPE_SOA, None)));
    assert!(
        read_frame(&mut extra).map(|f| f.is_none()).unwrap_or(true),
        "a fifth connection was served"
    );
    assert!(x.log_shows("connection table full"), "{}", x.log_text());
    drop(held);
    wait_for("a slot to free up", Duration::from_secs(30), || {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(&framed(&query(3, "example.com.", TYPE_SOA, None)))
            .is_ok()
            && read_frame(&mut s).ok().flatten().is_some()
    });
}
