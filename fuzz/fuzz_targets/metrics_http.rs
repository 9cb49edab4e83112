//! The metrics endpoint's HTTP request reader never panics: any bytes either end a head at a
//! blank line that parses to a route or an error, or are still waiting for one.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(end) = xfrd::metrics::head_end(data) {
        assert!(end <= data.len());
        let _ = xfrd::metrics::parse_request(&data[..end]);
    }
    let _ = xfrd::metrics::parse_request(data);
});
