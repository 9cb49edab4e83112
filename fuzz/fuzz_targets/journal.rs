//! The journal reader never panics or reads out of bounds on any file. Inputs are made to
//! belong to a real store (its checksum, serial and origin written into the header, then the
//! journal's own checksum), so the fuzzer reaches the version table, the indexes and the record
//! blobs instead of stopping at the first identity check.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use zone_store::journal::Journal;
use zone_store::store::Store;

fn store() -> &'static (std::path::PathBuf, Store) {
    static STORE: OnceLock<(std::path::PathBuf, Store)> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("xfrd-fuzz-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let out = dir.join("example.com.store");
        let zone =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/example.com.zone");
        let origin = zone_store::Name::parse("example.com.", None).unwrap();
        zone_store::compile::compile(&zone, &origin, &out, &Default::default()).expect("compile");
        (dir, Store::open(&out).expect("open"))
    })
}

fuzz_target!(|data: &[u8]| {
    let (dir, store) = store();
    let mut bytes = data.to_vec();
    if bytes.len() >= 64 {
        bytes[32..40].copy_from_slice(&store.checksum().to_le_bytes());
        bytes[40..44].copy_from_slice(&store.serial().to_le_bytes());
        let origin = store.origin().as_wire();
        if bytes.len() >= 64 + origin.len() {
            bytes[48..50].copy_from_slice(&(origin.len() as u16).to_le_bytes());
            bytes[64..64 + origin.len()].copy_from_slice(origin);
        }
        let sum = xxhash_rust::xxh3::xxh3_64(&bytes[32..]);
        bytes[24..32].copy_from_slice(&sum.to_le_bytes());
    }
    let path = dir.join("input.journal");
    std::fs::write(&path, &bytes).expect("write the input");
    if let Ok(j) = Journal::open(&path, store) {
        for v in 0..j.versions() {
            let info = j.version(v);
            let mut bytes = 0u64;
            for i in 0..j.message_count(v) {
                let m = j.message(v, i);
                assert!(m.ancount > 0);
                bytes += m.body.len() as u64;
            }
            assert!(bytes <= info.wire_bytes);
            let _ = j.diff(v);
            assert_eq!(
                j.find(info.serial).map(|f| j.version(f).serial),
                Some(info.serial)
            );
        }
    }
});
