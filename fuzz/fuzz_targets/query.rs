//! The query parser never panics, and what it accepts is self-consistent: the question it
//! returns lies inside the message and starts with the QNAME.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(q) = xfr_proto::query::parse_query(data) {
        assert!(q.question.len() >= q.qname.len() + 4);
        assert!(q.question.starts_with(q.qname));
        assert!(q.question.len() <= data.len());
    }
});
