//! Criterion benchmarks of the zone-store pipeline on a realistic zone from `zone_store::gen`
//! (100,000 records, seed 1): parse, build with 1 and 2 workers, write, open, and the whole
//! compile. The 1M-record figures (peak memory, bytes on the wire) come from
//! `tests/build_perf.rs`.
//!
//! `cargo bench -p zone-store --bench compile`

use std::hint::black_box;
use std::io::Write;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zone_store::build::{build_records, BuildOptions};
use zone_store::compile::{compile, CompileOptions};
use zone_store::store::{write_store, Store};
use zone_store::zonefile::{parse_file, ParseOptions};
use zone_store::Name;

const RECORDS: usize = 100_000;

fn pipeline(c: &mut Criterion) {
    let origin = Name::parse("example.com.", None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("example.com.zone");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&text).unwrap());
        zone_store::gen::generate(&origin, RECORDS, 1, &mut f).unwrap();
        f.flush().unwrap();
    }
    let zone = parse_file(&text, &ParseOptions::new(origin.clone())).unwrap();
    let store_path = dir.path().join("z.store");

    let mut g = c.benchmark_group("zone-store-100k");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.sample_size(20);
    for workers in [1, 2] {
        g.bench_function(format!("build/{workers}-workers"), |b| {
            b.iter(|| {
                build_records(
                    &zone.origin,
                    black_box(&zone.records),
                    &BuildOptions {
                        workers,
                        message_bytes_target: 0,
                    },
                )
                .unwrap()
            })
        });
    }
    let built = build_records(&zone.origin, &zone.records, &BuildOptions::default()).unwrap();
    g.bench_function("write", |b| {
        b.iter(|| write_store(black_box(&built), &store_path).unwrap())
    });
    g.bench_function("open", |b| {
        b.iter(|| Store::open(black_box(&store_path)).unwrap())
    });
    g.bench_function("compile/2-workers", |b| {
        b.iter(|| {
            compile(
                &text,
                &origin,
                &store_path,
                &CompileOptions {
                    workers: 2,
                    message_bytes_target: 0,
                },
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
