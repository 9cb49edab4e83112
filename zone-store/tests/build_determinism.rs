//! The build output does not depend on the number of workers, and the grouping follows BIND.

#[path = "../benches/support/synth.rs"]
mod synth;

use zone_store::build::{build_records, BuildError, BuildOptions, RANGE_RECORDS};
use zone_store::render::{self, decode::decode_body};
use zone_store::{rtype, Name};

use synth::{name, rec, soa_rdata};

#[test]
fn same_bytes_for_1_2_and_7_workers() {
    let origin = name("example.com.");
    // Several ranges, so that workers really interleave.
    let records = synth::zone(&origin, 3 * RANGE_RECORDS + 1234, 42);
    let opts = |workers| BuildOptions {
        workers,
        message_bytes_target: 16383,
    };
    let one = build_records(&origin, &records, &opts(1)).unwrap();
    for w in [2, 7, 0] {
        let other = build_records(&origin, &records, &opts(w)).unwrap();
        assert_eq!(one.messages, other.messages, "{w} workers: index differs");
        let a: Vec<u8> = one.body_chunks().flatten().copied().collect();
        let b: Vec<u8> = other.body_chunks().flatten().copied().collect();
        assert!(a == b, "{w} workers: bodies differ");
        for i in 0..one.message_count() {
            assert_eq!(one.message(i), other.message(i));
        }
        assert_eq!(one.record_count, other.record_count);
    }
    assert_eq!(one.record_count, records.len() as u64);
    // And so is the store file.
    let dir = tempfile::tempdir().unwrap();
    let (p1, p7) = (dir.path().join("1"), dir.path().join("7"));
    zone_store::store::write_store(&one, &p1).unwrap();
    zone_store::store::write_store(&build_records(&origin, &records, &opts(7)).unwrap(), &p7)
        .unwrap();
    assert!(
        std::fs::read(&p1).unwrap() == std::fs::read(&p7).unwrap(),
        "store files differ"
    );
    // The first message starts with the SOA, the last ends with it.
    let base = render::body_base(&origin);
    let first = decode_body(one.message(0).body, base, one.message(0).ancount).unwrap();
    assert_eq!(first[0].rtype, rtype::SOA);
    let last_i = one.message_count() - 1;
    let last = decode_body(one.message(last_i).body, base, one.message(last_i).ancount).unwrap();
    assert_eq!(last.last().unwrap().rtype, rtype::SOA);
    let answers: u64 = one.messages.iter().map(|m| m.ancount as u64).sum();
    assert_eq!(answers, one.record_count + 1);
}

#[test]
fn differing_ttls_take_the_first_and_duplicates_go_as_in_bind() {
    let origin = name("example.com.");
    let www = origin.prepend_label(b"www").unwrap();
    let www_upper = Name::parse("WWW.example.com.", None).unwrap();
    let ns = |s: &str| name(s).as_wire().to_vec();
    let records = vec![
        rec(&origin, rtype::SOA, 3600, soa_rdata(&origin, 1)),
        rec(&origin, rtype::NS, 3600, ns("ns1.example.com.")),
        rec(&www, rtype::A, 300, vec![192, 0, 2, 1]),
        rec(&www, rtype::A, 600, vec![192, 0, 2, 2]),
        rec(&origin, rtype::NS, 60, ns("NS1.example.com.")), // duplicate, names compare in any case
        rec(&www_upper, rtype::A, 100, vec![192, 0, 2, 1]),  // duplicate (owner in other case)
        rec(&www, rtype::A, 100, vec![192, 0, 2, 3]),
        rec(&origin, rtype::TXT, 3600, b"\x01a".to_vec()),
        rec(&origin, rtype::TXT, 3600, b"\x01A".to_vec()), // TXT is case-sensitive: kept
    ];
    let built = build_records(
        &origin,
        &records,
        &BuildOptions {
            workers: 1,
            message_bytes_target: 0,
        },
    )
    .unwrap();
    assert_eq!(built.duplicates_dropped, 2);
    assert_eq!(built.record_count, 7);
    let m = built.message(0);
    let got = decode_body(m.body, render::body_base(&origin), m.ancount).unwrap();
    let summary: Vec<(String, u16, u32, Vec<u8>)> = got
        .iter()
        .map(|r| (r.owner.to_string(), r.rtype, r.ttl, r.rdata.to_vec()))
        .collect();
    let expect = vec![
        (
            "example.com.".to_string(),
            rtype::SOA,
            3600,
            soa_rdata(&origin, 1),
        ),
        (
            "example.com.".to_string(),
            rtype::NS,
            3600,
            ns("ns1.example.com."),
        ),
        (
            "www.example.com.".to_string(),
            rtype::A,
            300,
            vec![192, 0, 2, 1],
        ),
        (
            "www.example.com.".to_string(),
            rtype::A,
            300,
            vec![192, 0, 2, 2],
        ),
        (
            "www.example.com.".to_string(),
            rtype::A,
            300,
            vec![192, 0, 2, 3],
        ),
        (
            "example.com.".to_string(),
            rtype::TXT,
            3600,
            b"\x01a".to_vec(),
        ),
        (
            "example.com.".to_string(),
            rtype::TXT,
            3600,
            b"\x01A".to_vec(),
        ),
        (
            "example.com.".to_string(),
            rtype::SOA,
            3600,
            soa_rdata(&origin, 1),
        ),
    ];
    assert_eq!(summary, expect);
    let w: Vec<String> = built.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(w.iter().filter(|w| w.contains("TTL")).count(), 2, "{w:?}");
    assert!(
        w.iter()
            .any(|w| w.contains("www.example.com. A: TTL 600 set to prior TTL (300)")),
        "{w:?}"
    );
    assert!(
        w.iter().any(|w| w.contains("2 duplicate records dropped")),
        "{w:?}"
    );
}

#[test]
fn zone_shape_errors() {
    let origin = name("example.com.");
    let opts = BuildOptions {
        workers: 1,
        message_bytes_target: 0,
    };
    let a = rec(
        &origin.prepend_label(b"a").unwrap(),
        rtype::A,
        1,
        vec![1, 2, 3, 4],
    );
    let e = build_records(&origin, std::slice::from_ref(&a), &opts).unwrap_err();
    assert!(matches!(e, BuildError::NoSoa { .. }), "{e}");
    let soa = rec(&origin, rtype::SOA, 1, soa_rdata(&origin, 1));
    let soa2 = rec(&origin, rtype::SOA, 1, soa_rdata(&origin, 2));
    let e = build_records(&origin, &[soa.clone(), soa2], &opts).unwrap_err();
    assert!(matches!(e, BuildError::MultipleSoa { .. }), "{e}");
    let out = rec(&name("example.net."), rtype::A, 1, vec![1, 2, 3, 4]);
    let e = build_records(&origin, &[soa.clone(), out], &opts).unwrap_err();
    assert!(matches!(e, BuildError::OutOfZone { .. }), "{e}");
    let e = build_records(
        &origin,
        std::slice::from_ref(&soa),
        &BuildOptions {
            workers: 1,
            message_bytes_target: 100,
        },
    )
    .unwrap_err();
    assert!(matches!(e, BuildError::BadTarget(100)), "{e}");
    // An exact repeat of the SOA is a duplicate, not a second SOA.
    let b = build_records(&origin, &[soa.clone(), a, soa], &opts).unwrap();
    assert_eq!((b.record_count, b.duplicates_dropped), (2, 1));
}

/// RRsets of more than 16 records take the sorted path of duplicate removal: same result.
#[test]
fn large_rrset_duplicates() {
    let origin = name("example.com.");
    let mut records = vec![rec(&origin, rtype::SOA, 3600, soa_rdata(&origin, 1))];
    let ns = |k: usize, upper: bool| {
        let l = if upper {
            format!("NS{k}")
        } else {
            format!("ns{k}")
        };
        origin
            .prepend_label(l.as_bytes())
            .unwrap()
            .as_wire()
            .to_vec()
    };
    for k in 0..30 {
        records.push(rec(&origin, rtype::NS, 3600, ns(k, false)));
    }
    for k in [3, 17, 29] {
        records.push(rec(&origin, rtype::NS, 3600, ns(k, true)));
    }
    records.push(rec(&origin, rtype::NS, 3600, ns(5, false)));
    let built = build_records(
        &origin,
        &records,
        &BuildOptions {
            workers: 1,
            message_bytes_target: 0,
        },
    )
    .unwrap();
    assert_eq!(built.duplicates_dropped, 4);
    let m = built.message(0);
    let got = decode_body(m.body, render::body_base(&origin), m.ancount).unwrap();
    let rdatas: Vec<Vec<u8>> = got[1..31].iter().map(|r| r.rdata.to_vec()).collect();
    let want: Vec<Vec<u8>> = (0..30).map(|k| ns(k, false)).collect();
    assert_eq!(rdatas, want);
    assert_eq!(got.len(), 32);
}
