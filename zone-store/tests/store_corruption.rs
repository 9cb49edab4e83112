//! The store reader never panics and never reads out of bounds on damaged files: truncated,
//! bit-flipped, or altered and then given a valid checksum again (as a writer bug or a forger
//! would), every open either fails with an error or yields a store whose every message reads.

#[path = "../benches/support/synth.rs"]
mod synth;

use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use zone_store::build::{build_records, BuildOptions};
use zone_store::store::{write_store, SourceFile, Store, StoreError};

fn pristine() -> &'static Vec<u8> {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let origin = synth::name("example.com.");
        let mut built = build_records(
            &origin,
            &synth::zone(&origin, 3_000, 5),
            &BuildOptions {
                workers: 1,
                message_bytes_target: 2048,
            },
        )
        .unwrap();
        let src = dir.path().join("zone");
        std::fs::write(&src, b"text").unwrap();
        built.sources = vec![SourceFile::capture(&src, None).unwrap()];
        let path = dir.path().join("s");
        write_store(&built, &path).unwrap();
        std::fs::read(path).unwrap()
    })
}

fn reseal(bytes: &mut [u8]) {
    if bytes.len() >= 32 {
        let sum = xxhash_rust::xxh3::xxh3_64(&bytes[32..]);
        bytes[24..32].copy_from_slice(&sum.to_le_bytes());
    }
}

/// Opens `bytes` as a store; if that succeeds, reads everything through the public API.
fn open_and_read(dir: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let path = dir.join("s");
    std::fs::write(&path, bytes).unwrap();
    let s = Store::open(&path)?;
    let mut total = 0u64;
    for m in s.messages() {
        total += m.body.len() as u64;
    }
    assert_eq!(total, s.body_bytes());
    let _ = (
        s.origin().to_string(),
        s.soa_rdata().len(),
        s.sources().len(),
        s.serial(),
    );
    Ok(())
}

#[test]
fn pristine_opens() {
    let dir = tempfile::tempdir().unwrap();
    open_and_read(dir.path(), pristine()).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn truncated_is_an_error(cut in 0usize..100_000) {
        let dir = tempfile::tempdir().unwrap();
        let bytes = pristine();
        let cut = cut % bytes.len();
        let e = open_and_read(dir.path(), &bytes[..cut]).unwrap_err();
        prop_assert!(matches!(e, StoreError::Truncated { .. } | StoreError::NotAStore { .. }), "{}", e);
    }

    #[test]
    fn a_flipped_bit_is_an_error(at in 0usize..1_000_000, bit in 0u8..8) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = pristine().clone();
        let at = at % bytes.len();
        bytes[at] ^= 1 << bit;
        prop_assert!(open_and_read(dir.path(), &bytes).is_err());
    }

    #[test]
    fn resealed_damage_never_panics(edits in prop::collection::vec((0usize..1_000_000, any::<u8>()), 1..8), head in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = pristine().clone();
        // Half the cases aim at the header, section table, zone section and index, where the
        // structure is.
        let span = if head { 1024.min(bytes.len()) } else { bytes.len() };
        for (at, v) in edits {
            let at = 32 + at % (span - 32);
            bytes[at] = v;
        }
        reseal(&mut bytes);
        let _ = open_and_read(dir.path(), &bytes);
    }
}
