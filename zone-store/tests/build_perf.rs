//! Timings of the build, the store write and the store open on a 1,000,000-record zone, and
//! the message-size table. Ignored by default: run in release, alone on the machine:
//!
//! ```text
//! cargo test --release -p zone-store --test build_perf -- --ignored --nocapture --exact compile_1m
//! cargo test --release -p zone-store --test build_perf -- --ignored --nocapture --exact build_write_open_1m
//! cargo test --release -p zone-store --test build_perf -- --ignored --nocapture --exact message_size_table
//! ```
//! One test per process, so that VmHWM is that test's peak. `ZONE_STORE_PERF_ZONE=<file>` uses an
//! existing zone file for example.com. instead of generating one. The machine is shared: wall
//! times move with its load, so the tests also print process CPU time (all threads).
//! Prints figures; asserts only correctness (speed is measured, never asserted).

#[path = "../benches/support/synth.rs"]
mod synth;

use std::time::{Duration, Instant};

use zone_store::build::{build_records, BuildOptions};
use zone_store::compile::{compile, CompileOptions};
use zone_store::render;
use zone_store::store::{write_store, Store};

const RECORDS: usize = 1_000_000;

fn vm_hwm_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time of the whole process (all threads, exited ones included), from /proc/self/stat:
/// on a shared machine it moves less than the wall clock.
fn cpu_time() -> Duration {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command: state is field 3, utime 14, stime 15.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    let ticks = f.iter().sum::<u64>();
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The 1M-record zone text from `zone_store::gen` (seed 1), written once per process.
/// `ZONE_STORE_PERF_ZONE` names an existing file for example.com. to use instead (to compare with
/// a peer serving that very file).
fn zone_text(dir: &std::path::Path) -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("ZONE_STORE_PERF_ZONE") {
        return p.into();
    }
    let path = dir.join("example.com.zone");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    zone_store::gen::generate(&synth::name("example.com."), RECORDS, 1, &mut f).unwrap();
    std::io::Write::flush(&mut f).unwrap();
    path
}

#[test]
#[ignore = "performance figures; run in release with --ignored --nocapture"]
fn message_size_table() {
    let origin = synth::name("example.com.");
    let dir = tempfile::tempdir().unwrap();
    let text = zone_text(dir.path());
    let opts = zone_store::zonefile::ParseOptions {
        threads: 2,
        ..zone_store::zonefile::ParseOptions::new(origin.clone())
    };
    let records = zone_store::zonefile::parse_file(&text, &opts)
        .unwrap()
        .records;
    println!("| target bytes | messages | wire bytes | bytes/record | body bytes |");
    println!("|---|---|---|---|---|");
    for target in [8192, 12288, 16383, 32768, 65535] {
        let b = build_records(
            &origin,
            &records,
            &BuildOptions {
                workers: 2,
                message_bytes_target: target,
            },
        )
        .unwrap();
        println!(
            "| {target} | {} | {} | {:.1} | {} |",
            b.message_count(),
            b.wire_bytes(),
            b.wire_bytes() as f64 / RECORDS as f64,
            b.body_bytes()
        );
    }
    let _ = render::MESSAGE_BYTES_TARGET_DEFAULT;
}

/// The whole compile (parse included) of the gen zone, then the open. Run it as its own
/// process (`--exact compile_1m`) so that VmHWM is the compile's own peak.
#[test]
#[ignore = "performance figures; run in release with --ignored --nocapture"]
fn compile_1m() {
    let origin = synth::name("example.com.");
    let dir = tempfile::tempdir().unwrap();
    let text = zone_text(dir.path());
    let hwm_before = vm_hwm_kib();
    let out = dir.path().join("z.store");
    for workers in [1, 2] {
        let mut totals = Vec::new();
        let mut cpus = Vec::new();
        let mut last = None;
        for _ in 0..5 {
            let c = cpu_time();
            let r = compile(
                &text,
                &origin,
                &out,
                &CompileOptions {
                    workers,
                    message_bytes_target: 0,
                },
            )
            .unwrap();
            cpus.push(cpu_time() - c);
            totals.push(r.timings.total);
            last = Some(r);
        }
        let r = last.unwrap();
        println!(
            "workers {workers}: compile wall median {:?} min {:?}, CPU median {:?}; last run: {r}",
            median(totals.clone()),
            totals.iter().min().unwrap(),
            median(cpus)
        );
    }
    let mut opens = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let s = Store::open(&out).unwrap();
        opens.push(t.elapsed());
        assert_eq!(s.record_count(), RECORDS as u64);
    }
    let s = Store::open(&out).unwrap();
    let wire = s.body_bytes() + s.message_count() as u64 * (2 + s.body_base() as u64);
    println!(
        "open median {:?} (min {:?}); store file {} bytes = {:.3} x wire bytes {} ({:.1}/record), {} messages",
        median(opens.clone()),
        opens.iter().min().unwrap(),
        s.file_bytes(),
        s.file_bytes() as f64 / wire as f64,
        wire,
        wire as f64 / RECORDS as f64,
        s.message_count()
    );
    println!(
        "VmHWM: {} MiB before compiling, {} MiB at the end",
        hwm_before / 1024,
        vm_hwm_kib() / 1024
    );
}

/// Build and write only, from records made in memory (no parser).
#[test]
#[ignore = "performance figures; run in release with --ignored --nocapture"]
fn build_write_open_1m() {
    let origin = synth::name("example.com.");
    let records = synth::zone(&origin, RECORDS, 1);
    let hwm_input = vm_hwm_kib();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.store");
    for workers in [1, 2] {
        let mut builds = Vec::new();
        let mut cpus = Vec::new();
        let mut groups = Vec::new();
        let mut writes = Vec::new();
        let mut built = None;
        for _ in 0..5 {
            let t = Instant::now();
            let c = cpu_time();
            let b = build_records(
                &origin,
                &records,
                &BuildOptions {
                    workers,
                    message_bytes_target: 0,
                },
            )
            .unwrap();
            builds.push(t.elapsed());
            cpus.push(cpu_time() - c);
            groups.push(b.timings.group);
            let t = Instant::now();
            write_store(&b, &path).unwrap();
            writes.push(t.elapsed());
            built = Some(b);
        }
        let b = built.unwrap();
        println!(
            "workers {workers}: build wall median {:?} min {:?}, CPU median {:?}, group min {:?} \
             (render {:?} in the last run), write median {:?}",
            median(builds.clone()),
            builds.iter().min().unwrap(),
            median(cpus),
            groups.iter().min().unwrap(),
            b.timings.render,
            median(writes)
        );
    }
    let mut opens = Vec::new();
    let mut store = None;
    for _ in 0..20 {
        let t = Instant::now();
        let s = Store::open(&path).unwrap();
        opens.push(t.elapsed());
        store = Some(s);
    }
    let s = store.unwrap();
    let wire = s.body_bytes() + s.message_count() as u64 * (2 + s.body_base() as u64);
    println!(
        "open median {:?} (min {:?}) for {} bytes",
        median(opens.clone()),
        opens.iter().min().unwrap(),
        s.file_bytes()
    );
    println!(
        "records {}, messages {}, wire bytes {} ({:.1}/record), store file {} bytes = {:.3} x wire",
        s.record_count(),
        s.message_count(),
        wire,
        wire as f64 / s.record_count() as f64,
        s.file_bytes(),
        s.file_bytes() as f64 / wire as f64
    );
    println!(
        "VmHWM: {} MiB after making the records, {} MiB at the end",
        hwm_input / 1024,
        vm_hwm_kib() / 1024
    );
}
