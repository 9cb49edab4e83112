use super::*;
use crate::query::parse_query;
use crate::wire::{CLASS_IN, TYPE_AXFR};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn key(alg: Algorithm) -> Key {
    Key::new(b"\x07xfr-key\x00", alg, SECRET).unwrap()
}

fn axfr_query(id: u16) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(b"\x07example\x03com\x00");
    m.extend_from_slice(&TYPE_AXFR.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    m
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The HMAC layer against the published vectors (RFC 2202 test case 2 for SHA-1, RFC 4231 test
/// case 2 for the SHA-2 family: key "Jefe"). RFC 8945 itself publishes no TSIG vectors; the
/// TSIG layer is checked against dig, kdig and dnspython in the integration tests.
#[test]
fn hmac_matches_published_vectors() {
    let cases = [
        (Algorithm::HmacSha1, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
        (Algorithm::HmacSha224, "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44"),
        (Algorithm::HmacSha256, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (Algorithm::HmacSha384, "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"),
        (Algorithm::HmacSha512, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"),
    ];
    for (alg, want) in cases {
        let mut m = Keyed::new(alg, b"Jefe");
        m.update(b"what do ya ");
        m.update(b"want for nothing?");
        let mac = m.finalize();
        assert_eq!(hex(mac.as_slice()), want, "{alg}");
        assert_eq!(mac.as_slice().len(), alg.mac_bytes());
    }
}

#[test]
fn key_specs_parse_in_both_orders_and_hide_the_secret() {
    let a = Key::parse_spec("Xfr-Key.:hmac-sha256:MDEyMzQ1Njc4OWFiY2RlZg==").unwrap();
    let b = Key::parse_spec("hmac-sha256:xfr-key:MDEyMzQ1Njc4OWFiY2RlZg==").unwrap();
    assert_eq!(a.name(), b"\x07xfr-key\x00");
    assert_eq!(b.name(), a.name());
    assert_eq!(a.algorithm(), Algorithm::HmacSha256);
    let shown = format!("{a:?}");
    assert!(
        shown.contains("redacted") && !shown.contains("MDEy"),
        "{shown}"
    );
    assert_eq!(
        Key::parse_spec("k:hmac-md5:c2VjcmV0").unwrap_err(),
        KeyError::UnknownAlgorithm("hmac-md5".into())
    );
    assert_eq!(
        Key::parse_spec("k:hmac-sha256").unwrap_err(),
        KeyError::Syntax
    );
    assert_eq!(
        Key::parse_spec("k:hmac-sha256:***").unwrap_err(),
        KeyError::BadSecret
    );
    assert_eq!(
        Key::parse_spec("k:hmac-sha256:").unwrap_err(),
        KeyError::EmptySecret
    );
    assert!(matches!(
        Key::parse_spec("a..b:hmac-sha256:c2VjcmV0"),
        Err(KeyError::BadName(_))
    ));
    for alg in Algorithm::ALL {
        assert_eq!(Algorithm::from_text(alg.text_name()), Some(alg));
        assert_eq!(Algorithm::from_wire_name(alg.wire_name()), Some(alg));
    }
    assert_eq!(
        Algorithm::from_text("HMAC-SHA512."),
        Some(Algorithm::HmacSha512)
    );
}

#[test]
fn text_names_to_wire() {
    assert_eq!(text_to_wire("a.b").unwrap(), b"\x01a\x01b\x00");
    assert_eq!(text_to_wire("a.b.").unwrap(), b"\x01a\x01b\x00");
    assert_eq!(text_to_wire(".").unwrap(), b"\x00");
    assert_eq!(text_to_wire("a\\.b.c").unwrap(), b"\x03a.b\x01c\x00");
    assert_eq!(text_to_wire("a\\065").unwrap(), b"\x02aA\x00");
    assert!(text_to_wire("a..b").is_none());
    assert!(text_to_wire(&"x".repeat(64)).is_none());
    assert_eq!(name_text(b"\x03a.b\x01c\x00"), "a\\.b.c.");
}

fn verify<'k>(
    msg: &[u8],
    keys: &'k [Key],
    now: u64,
) -> Result<VerifiedRequest<'k>, RequestRefusal<'k>> {
    let q = parse_query(msg).expect("query parses");
    let at = q.tsig.expect("signed");
    let rr = parse_record(msg, at).unwrap();
    verify_request(msg, &rr, |name| keys.iter().find(|k| k.name() == name), now)
}

#[test]
fn signed_requests_verify_for_every_algorithm() {
    for alg in Algorithm::ALL {
        let k = key(alg);
        let mut q = axfr_query(0x1234);
        let mac = sign_request(&k, &mut q, 1_700_000_000);
        assert_eq!(mac.as_slice().len(), alg.mac_bytes());
        assert_eq!(read_u16(&q, 10), 1);
        let keys = [k];
        let v = verify(&q, &keys, 1_700_000_100).unwrap();
        assert_eq!(v.request_mac, mac);
        assert_eq!(v.original_id, 0x1234);
        assert_eq!(v.time_signed, 1_700_000_000);
    }
}

#[test]
fn request_refusals_follow_rfc8945_section_5_2() {
    let k = key(Algorithm::HmacSha256);
    let keys = [k.clone()];
    let mut q = axfr_query(7);
    sign_request(&k, &mut q, 1000);

    // Unknown key name, unknown algorithm, or the key's name with another algorithm: BADKEY.
    let other = [Key::new(b"\x05other\x00", Algorithm::HmacSha256, SECRET).unwrap()];
    assert!(matches!(
        verify(&q, &other, 1000),
        Err(RequestRefusal::BadKey)
    ));
    let same_name_sha1 = [key(Algorithm::HmacSha1)];
    assert!(matches!(
        verify(&q, &same_name_sha1, 1000),
        Err(RequestRefusal::BadKey)
    ));
    // Another secret, or a flipped bit in the message: BADSIG.
    let wrong = [Key::new(b"\x07xfr-key\x00", Algorithm::HmacSha256, b"another secret").unwrap()];
    assert!(matches!(
        verify(&q, &wrong, 1000),
        Err(RequestRefusal::BadSig)
    ));
    let mut flipped = q.clone();
    flipped[14] ^= 0x20; // a letter of the question changes case
    assert!(matches!(
        verify(&flipped, &keys, 1000),
        Err(RequestRefusal::BadSig)
    ));
    // Outside the fudge: BADTIME, which carries what signing the answer needs.
    match verify(&q, &keys, 1000 + FUDGE_S as u64 + 1) {
        Err(RequestRefusal::BadTime(v)) => assert_eq!(v.time_signed, 1000),
        other => panic!("{other:?}"),
    }
    assert!(verify(&q, &keys, 1000 - FUDGE_S as u64).is_ok());

    // A MAC truncated to a length RFC 8945 allows but local policy does not: BADTRUNC; below
    // what the RFC allows: FORMERR.
    let truncated = |len: usize| {
        let mut m = axfr_query(7);
        let full = sign_request(&k, &mut m, 1000);
        let at = parse_query(&m).unwrap().tsig.unwrap();
        let rr = parse_record(&m, at).unwrap();
        let mac_at = rr.mac.as_ptr() as usize - m.as_ptr() as usize;
        let mut out = m[..mac_at - 2].to_vec();
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&full.as_slice()[..len]);
        out.extend_from_slice(&m[mac_at + full.as_slice().len()..]);
        let rd_at = at + k.name().len() + 8;
        let rdlen = read_u16(&out, rd_at) - (32 - len as u16);
        out[rd_at..rd_at + 2].copy_from_slice(&rdlen.to_be_bytes());
        out
    };
    assert!(matches!(
        verify(&truncated(16), &keys, 1000),
        Err(RequestRefusal::BadTrunc(_))
    ));
    assert!(matches!(
        verify(&truncated(15), &keys, 1000),
        Err(RequestRefusal::FormErr(_))
    ));
}

#[test]
fn malformed_tsig_records_are_formerr() {
    let k = key(Algorithm::HmacSha256);
    let mut q = axfr_query(7);
    sign_request(&k, &mut q, 1000);
    let at = parse_query(&q).unwrap().tsig.unwrap();
    let class_at = at + k.name().len() + 2;
    // Wrong class.
    let mut m = q.clone();
    m[class_at + 1] = 1;
    assert!(parse_query(&m).is_err());
    // TTL not 0.
    let mut m = q.clone();
    m[class_at + 5] = 1;
    assert!(parse_query(&m).is_err());
    // RDLENGTH one short / one long.
    for delta in [-1i32, 1] {
        let mut m = q.clone();
        let rd = read_u16(&m, class_at + 6) as i32 + delta;
        m[class_at + 6..class_at + 8].copy_from_slice(&(rd as u16).to_be_bytes());
        assert!(parse_query(&m).is_err(), "rdlen {delta}");
    }
    // Not the last record: an OPT after it.
    let mut m = q.clone();
    m[11] = 2;
    m.extend_from_slice(&[0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
    let e = parse_query(&m).unwrap_err();
    assert!(e.to_string().contains("TSIG"), "{e}");
    // Every truncation: an error, never a panic.
    for n in 0..q.len() {
        let _ = parse_query(&q[..n]);
        let _ = find_record(&q[..n]);
    }
}

fn response_messages(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut m = axfr_query(7);
            m[2] = 0x84;
            m[7] = 1;
            m.extend_from_slice(&[0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60]);
            let txt = format!("message {i}");
            m.extend_from_slice(&((txt.len() + 1) as u16).to_be_bytes());
            m.push(txt.len() as u8);
            m.extend_from_slice(txt.as_bytes());
            m
        })
        .collect()
}

/// Signs `msgs` as the engine does: the MAC over the message as sent without TSIG (given in two
/// pieces, header and the rest), then the record appended and ARCOUNT bumped.
fn sign_stream(k: &Key, request_mac: MacBuf, msgs: &[Vec<u8>], now: u64) -> Vec<Vec<u8>> {
    let verified = VerifiedRequest {
        key: k,
        request_mac,
        time_signed: now,
        original_id: 7,
    };
    let mut signer = ResponseSigner::new(&verified);
    msgs.iter()
        .map(|m| {
            let mut rr = [0u8; RR_BYTES_MAX];
            let n = signer.sign(&[&m[..12], &m[12..]], now, &mut rr);
            assert_eq!(n, signer.rr_bytes());
            let mut out = m.clone();
            out.extend_from_slice(&rr[..n]);
            out[11] += 1;
            out
        })
        .collect()
}

#[test]
fn every_response_message_is_signed_and_chained() {
    for alg in Algorithm::ALL {
        let k = key(alg);
        let mut q = axfr_query(7);
        let req_mac = sign_request(&k, &mut q, 5000);
        let signed = sign_stream(&k, req_mac, &response_messages(5), 5000);
        let mut v = ResponseVerifier::new(&k, req_mac, UnsignedRun::None);
        for m in &signed {
            v.verify(m, 5010).unwrap();
        }
        assert_eq!(v.messages_verified(), 5);
        assert!(v.ends_signed());

        // Messages out of order, a flipped bit, another request MAC: the chain breaks.
        let mut v = ResponseVerifier::new(&k, req_mac, UnsignedRun::None);
        v.verify(&signed[0], 5010).unwrap();
        assert_eq!(v.verify(&signed[2], 5010), Err(ResponseError::BadSig));
        let mut bad = signed[1].clone();
        bad[15] ^= 0x20;
        let mut v = ResponseVerifier::new(&k, req_mac, UnsignedRun::None);
        v.verify(&signed[0], 5010).unwrap();
        assert_eq!(v.verify(&bad, 5010), Err(ResponseError::BadSig));
        let mut v = ResponseVerifier::new(&k, MacBuf::from_slice(&[0; 32]), UnsignedRun::None);
        assert_eq!(v.verify(&signed[0], 5010), Err(ResponseError::BadSig));
        let mut v = ResponseVerifier::new(&k, req_mac, UnsignedRun::None);
        assert_eq!(v.verify(&signed[0], 9000), Err(ResponseError::BadTime));
    }
}

#[test]
fn unsigned_runs_only_when_allowed() {
    let k = key(Algorithm::HmacSha256);
    let mut q = axfr_query(7);
    let req_mac = sign_request(&k, &mut q, 5000);
    let plain = response_messages(4);
    // A signer that skips messages 1 and 2: the MAC of message 3 covers them (section 5.3.1).
    let verified = VerifiedRequest {
        key: &k,
        request_mac: req_mac,
        time_signed: 5000,
        original_id: 7,
    };
    let mut signer = ResponseSigner::new(&verified);
    let mut rr = [0u8; RR_BYTES_MAX];
    let mut stream = Vec::new();
    let n = signer.sign(&[&plain[0]], 5000, &mut rr);
    let mut m0 = plain[0].clone();
    m0.extend_from_slice(&rr[..n]);
    m0[11] += 1;
    stream.push(m0);
    stream.push(plain[1].clone());
    stream.push(plain[2].clone());
    let n = signer.sign(&[&plain[1], &plain[2], &plain[3]], 5000, &mut rr);
    let mut m3 = plain[3].clone();
    m3.extend_from_slice(&rr[..n]);
    m3[11] += 1;
    stream.push(m3);

    let mut v = ResponseVerifier::new(&k, req_mac, UnsignedRun::Rfc8945);
    for m in &stream {
        v.verify(m, 5000).unwrap();
    }
    assert!(v.ends_signed());
    let mut strict = ResponseVerifier::new(&k, req_mac, UnsignedRun::None);
    strict.verify(&stream[0], 5000).unwrap();
    assert_eq!(strict.verify(&stream[1], 5000), Err(ResponseError::Missing));
    let mut v = ResponseVerifier::new(&k, req_mac, UnsignedRun::Rfc8945);
    assert_eq!(v.verify(&plain[0], 5000), Err(ResponseError::Missing));
}

#[test]
fn error_answers() {
    let k = key(Algorithm::HmacSha256);
    let keys = [k.clone()];
    let mut q = axfr_query(9);
    let req_mac = sign_request(&k, &mut q, 1000);
    let at = parse_query(&q).unwrap().tsig.unwrap();
    let rr = parse_record(&q, at).unwrap();

    // BADKEY/BADSIG: an unsigned TSIG record naming the request's key.
    let mut out = [0u8; RR_BYTES_MAX];
    let n = write_unsigned_error(&mut out, &rr, TSIG_ERROR_BADSIG, 1234);
    let mut answer = axfr_query(9);
    answer[2] = 0x80;
    answer[3] = 9;
    answer[11] = 1;
    answer.extend_from_slice(&out[..n]);
    let found = find_record(&answer).unwrap().unwrap();
    assert_eq!(found.mac.len(), 0);
    assert_eq!(found.error, TSIG_ERROR_BADSIG);
    assert_eq!(found.key_name.as_wire(), k.name());
    let mut v = ResponseVerifier::new(&k, req_mac, UnsignedRun::None);
    assert_eq!(
        v.verify(&answer, 1234),
        Err(ResponseError::ServerError(TSIG_ERROR_BADSIG))
    );

    // BADTIME: signed, time signed the request's, the server's time in other data.
    let Err(RequestRefusal::BadTime(verified)) = verify(&q, &keys, 99_999) else {
        panic!("BADTIME expected")
    };
    let mut signer = ResponseSigner::new(&verified);
    let mut answer = axfr_query(9);
    answer[2] = 0x80;
    answer[3] = 9;
    let n = signer.sign_error(&[&answer], 1000, TSIG_ERROR_BADTIME, 99_999, &mut out);
    answer[11] = 1;
    answer.extend_from_slice(&out[..n]);
    let found = find_record(&answer).unwrap().unwrap();
    assert_eq!(found.time_signed, 1000);
    assert_eq!(found.error, TSIG_ERROR_BADTIME);
    assert_eq!(found.other, &[0, 0, 0, 1, 0x86, 0x9f]);
    assert_eq!(found.mac.len(), 32);
}

proptest::proptest! {
    #[test]
    fn parsing_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        let _ = find_record(&bytes);
        for start in 0..bytes.len().min(40) {
            let _ = parse_record(&bytes, start);
            let _ = NameBuf::read(&bytes, start);
        }
    }
}
