//! A built zone written and opened again reads back exactly; source tracking notices edits.

#[path = "../benches/support/synth.rs"]
mod synth;

use std::sync::Arc;

use zone_store::build::{build_records, BuildOptions};
use zone_store::store::{write_store, SourceFile, Store, StoreError, FORMAT_VERSION};

use synth::name;

#[test]
fn write_then_open_reads_back_everything() {
    let dir = tempfile::tempdir().unwrap();
    let origin = name("example.com.");
    let records = synth::zone(&origin, 50_000, 9);
    let mut built = build_records(
        &origin,
        &records,
        &BuildOptions {
            workers: 2,
            message_bytes_target: 0,
        },
    )
    .unwrap();
    let src = dir.path().join("example.com.zone");
    std::fs::write(&src, b"; stands in for the zone text\n").unwrap();
    built.sources = vec![SourceFile::capture(&src, None).unwrap()];
    let path = dir.path().join("example.com.store");
    write_store(&built, &path).unwrap();
    // Only the store is left: the temporary file was renamed.
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, vec!["example.com.store", "example.com.zone"]);

    let store = Arc::new(Store::open(&path).unwrap());
    assert_eq!(store.origin(), &origin);
    assert_eq!(store.serial(), 2026112301);
    assert_eq!(store.soa_ttl(), 3600);
    assert_eq!(store.soa_rdata(), &built.soa_rdata[..]);
    assert_eq!(store.record_count(), 50_000);
    assert_eq!(store.message_count(), built.message_count());
    assert_eq!(store.body_bytes(), built.body_bytes());
    for i in 0..built.message_count() {
        assert_eq!(store.message(i), built.message(i));
    }
    // Shared between threads as the engine does.
    let s2 = Arc::clone(&store);
    let n = std::thread::spawn(move || s2.messages().map(|m| m.ancount as u64).sum::<u64>())
        .join()
        .unwrap();
    assert_eq!(n, 50_001);
    assert!(
        store.file_bytes() < built.wire_bytes(),
        "store larger than the AXFR on the wire"
    );

    assert_eq!(store.sources().len(), 1);
    assert!(store.matches_sources());
    std::fs::write(&src, b"; stands in for the zone text, edited\n").unwrap();
    assert!(!store.matches_sources());
}

#[test]
fn replacing_a_store_keeps_the_open_one_readable() {
    let dir = tempfile::tempdir().unwrap();
    let origin = name("example.org.");
    let path = dir.path().join("z.store");
    let a = build_records(
        &origin,
        &synth::zone(&origin, 2_000, 1),
        &BuildOptions::default(),
    )
    .unwrap();
    let b = build_records(
        &origin,
        &synth::zone(&origin, 3_000, 2),
        &BuildOptions::default(),
    )
    .unwrap();
    write_store(&a, &path).unwrap();
    let old = Store::open(&path).unwrap();
    write_store(&b, &path).unwrap();
    let new = Store::open(&path).unwrap();
    assert_eq!(old.record_count(), 2_000);
    assert_eq!(new.record_count(), 3_000);
    assert_eq!(
        old.message(old.message_count() - 1),
        a.message(a.message_count() - 1)
    );
    assert!(
        !new.matches_sources(),
        "a store without sources never matches"
    );
}

#[test]
fn a_file_modified_during_compile_is_never_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("z");
    std::fs::write(&src, b"x").unwrap();
    let before = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let f = SourceFile::capture(&src, Some(before)).unwrap();
    assert!(!f.matches());
    let g = SourceFile::capture(&src, None).unwrap();
    assert!(g.matches());
    assert!(g.path.is_absolute());
}

#[test]
fn open_errors_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("not-a-store");
    std::fs::write(&p, b"$ORIGIN example.com.\n").unwrap();
    assert!(matches!(Store::open(&p), Err(StoreError::NotAStore { .. })));
    let missing = Store::open(&dir.path().join("missing")).unwrap_err();
    assert!(matches!(missing, StoreError::Io { .. }), "{missing}");

    let origin = name("example.com.");
    let built = build_records(
        &origin,
        &synth::zone(&origin, 100, 1),
        &BuildOptions::default(),
    )
    .unwrap();
    let path = dir.path().join("s");
    write_store(&built, &path).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let e = Store::open(&path).unwrap_err();
    assert!(
        matches!(e, StoreError::Version { found, .. } if found == FORMAT_VERSION + 1),
        "{e}"
    );
    assert!(e.to_string().contains("recompile"), "{e}");
}
