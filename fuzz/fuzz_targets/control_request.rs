//! The control socket's request parser never panics, and what it accepts serializes back to a
//! request that parses to the same thing.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = xfrd::control::parse_request(data) {
        let again = serde_json::to_vec(&r).unwrap();
        assert_eq!(xfrd::control::parse_request(&again).unwrap(), r);
    }
});
