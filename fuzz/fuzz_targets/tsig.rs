//! TSIG record parsing and verification never panic on any message: `find_record` either finds
//! a record lying inside the message or says why not; verifying a request or a response with a
//! real key on arbitrary bytes fails cleanly, never succeeds without the key's MAC.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xfr_proto::tsig::{self, Key, MacBuf, ResponseVerifier, UnsignedRun};

fuzz_target!(|data: &[u8]| {
    let key = Key::from_text("k.", "hmac-sha256", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0").unwrap();
    if let Ok(Some(rr)) = tsig::find_record(data) {
        assert!(rr.start < data.len());
        assert!(rr.mac.len() + rr.other.len() < data.len());
        let _ = tsig::verify_request(data, &rr, |_| Some(&key), rr.time_signed);
    }
    // Whatever the bytes, a response verifier fed them as the first message stays consistent.
    let mut v = ResponseVerifier::new(&key, MacBuf::from_slice(&[0; 32]), UnsignedRun::None);
    if v.verify(data, 0).is_ok() {
        assert!(v.messages_verified() == 1);
    }
});
