//! Parse time of a large realistic zone, printed, never asserted (timed tests are forbidden;
//! speed is measured). Run in release:
//!
//! ```text
//! cargo test --release -p zone-store --test zonefile_perf -- --ignored --nocapture
//! ```
//! `ZONEFILE_PERF_RECORDS` changes the size (default 1,000,000) and `ZONEFILE_PERF_RUNS` the
//! repetitions (default 5; the median is printed); `ZONEFILE_PERF_PATH` keeps the zone text
//! at that path (for profiling); `ZONEFILE_PERF_THREADS` lists thread counts (default `1,2`).

use std::path::Path;
use std::time::{Duration, Instant};

use zone_store::zonefile::{parse_file, ParseOptions};
use zone_store::Name;

/// CPU time of this process (user + system, all threads, 10 ms ticks) from /proc/self/stat:
/// robust against other load on a shared machine, unlike wall time.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "timing: run in release with --ignored --nocapture"]
fn parse_time_of_a_generated_zone() {
    let records = env_usize("ZONEFILE_PERF_RECORDS", 1_000_000);
    let runs = env_usize("ZONEFILE_PERF_RUNS", 5).max(1);
    let origin = Name::parse("example.com.", None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = std::env::var_os("ZONEFILE_PERF_PATH")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("perf.example.com.zone"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let stats = zone_store::gen::generate(&origin, records, 1, &mut file).unwrap();
    drop(file);
    println!(
        "zone: {} records, {:.1} MB",
        stats.records,
        stats.bytes as f64 / 1e6
    );
    let mut reference = None;
    let thread_counts: Vec<usize> = std::env::var("ZONEFILE_PERF_THREADS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .filter_map(|t| t.trim().parse().ok())
        .collect();
    for threads in thread_counts {
        let mut times = Vec::new();
        for _ in 0..runs {
            let opts = ParseOptions {
                threads,
                ..ParseOptions::new(origin.clone())
            };
            let (t, c) = (Instant::now(), cpu_time());
            let zone = parse_file(Path::new(&path), &opts).unwrap();
            times.push((t.elapsed(), cpu_time() - c));
            assert_eq!(zone.records.len() as u64, stats.records);
            match &reference {
                None => reference = Some(zone.records),
                Some(r) => assert!(*r == zone.records, "threads {threads} changed the output"),
            }
        }
        times.sort();
        println!(
            "threads {threads}: wall median {:?} (min {:?}, max {:?}), CPU median {:?}; {runs} runs",
            times[runs / 2].0,
            times[0].0,
            times[runs - 1].0,
            times[runs / 2].1,
        );
    }
}
