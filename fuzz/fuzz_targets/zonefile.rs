//! The zone-file parser never panics on any text, and one thread and two give the same result
//! (inputs under the parallel threshold, `PARALLEL_BYTES_MIN`, take the one-thread path both
//! times; the parallel split itself is covered by the zonefile tests).
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use zone_store::zonefile::{parse_bytes, ParseOptions};
use zone_store::Name;

fuzz_target!(|data: &[u8]| {
    let origin = Name::parse("example.com.", None).expect("origin");
    let mut opts = ParseOptions::new(origin);
    // $INCLUDE resolves against this folder; it holds nothing to include.
    let file = Path::new("/nonexistent-fuzz-dir/fuzz.zone");
    let one = parse_bytes(data, file, &opts);
    opts.threads = 2;
    let two = parse_bytes(data, file, &opts);
    match (one, two) {
        (Ok(a), Ok(b)) => assert_eq!(a.records, b.records),
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!(
            "1 and 2 threads disagree: {:?} vs {:?}",
            a.is_ok(),
            b.is_ok()
        ),
    }
});
