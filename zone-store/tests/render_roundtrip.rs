//! Render then decode round trips: random records through `build_records`, every message
//! decoded by hickory-proto and by our own decoder, compared with an independent model of
//! the grouping (RRsets in first-appearance order, SOA first, TTL of the first record,
//! duplicates dropped, the SOA again at the end).

#[path = "../benches/support/synth.rs"]
mod synth;

use hickory_proto::op::Message;
use proptest::prelude::*;
use zone_store::build::{build_records, BuildOptions, BuiltZone};
use zone_store::render::{self, decode::decode_body};
use zone_store::{rtype, Name, Record};

use synth::{name, rec, soa_rdata};

/// Names from a small alphabet so that suffixes repeat and compression has work to do; owner
/// labels in random case (compression must keep each spelling).
fn owner_strategy() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop::sample::select(vec!["a", "b", "www", "Www", "mail", "x-1", "deep", "A"])
            .prop_map(str::to_string),
        0..4,
    )
}

fn target_name_strategy() -> impl Strategy<Value = (Vec<String>, bool)> {
    (
        prop::collection::vec(
            prop::sample::select(vec!["ns", "mx", "a", "b", "www"]).prop_map(str::to_string),
            0..3,
        ),
        any::<bool>(),
    )
}

#[derive(Debug, Clone)]
enum Kind {
    A(u32),
    Aaaa(u128),
    Ns(Vec<String>, bool),
    Cname(Vec<String>, bool),
    Mx(u16, Vec<String>, bool),
    Srv(u16, Vec<String>, bool),
    Txt(Vec<u8>),
    Unknown(Vec<u8>),
    Minfo(Vec<String>, Vec<String>),
}

fn kind_strategy() -> impl Strategy<Value = Kind> {
    prop_oneof![
        any::<u32>().prop_map(|v| Kind::A(v % 4)),
        any::<u128>().prop_map(Kind::Aaaa),
        target_name_strategy().prop_map(|(n, o)| Kind::Ns(n, o)),
        target_name_strategy().prop_map(|(n, o)| Kind::Cname(n, o)),
        (any::<u16>(), target_name_strategy()).prop_map(|(p, (n, o))| Kind::Mx(p % 3, n, o)),
        (any::<u16>(), target_name_strategy()).prop_map(|(p, (n, o))| Kind::Srv(p, n, o)),
        prop::collection::vec(any::<u8>(), 0..600).prop_map(Kind::Txt),
        // At least one byte: hickory-proto rejects empty RDATA outside UPDATE messages, although
        // RFC 3597 allows it (`\# 0`); our decoder is checked on it in `empty_rdata`.
        prop::collection::vec(any::<u8>(), 1..3000).prop_map(Kind::Unknown),
        (target_name_strategy(), target_name_strategy())
            .prop_map(|((a, _), (b, _))| Kind::Minfo(a, b)),
    ]
}

fn mk_name(labels: &[String], origin: &Name, inside: bool) -> Name {
    let base = if inside {
        origin.clone()
    } else {
        name("other.net.")
    };
    labels
        .iter()
        .rev()
        .fold(base, |n, l| n.prepend_label(l.as_bytes()).unwrap_or(n))
}

fn txt_rdata(bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for c in bytes.chunks(255) {
        v.push(c.len() as u8);
        v.extend_from_slice(c);
    }
    if v.is_empty() {
        v.push(0);
    }
    v
}

fn to_record(origin: &Name, owner: &[String], kind: &Kind, ttl: u32) -> Record {
    let owner = mk_name(owner, origin, true);
    let lower = |labels: &[String], inside: bool| {
        // RDATA names in lower case: the model compares RDATA exactly.
        mk_name(labels, origin, inside)
            .to_lowercase()
            .as_wire()
            .to_vec()
    };
    let (t, rdata) = match kind {
        Kind::A(v) => (rtype::A, v.to_be_bytes().to_vec()),
        Kind::Aaaa(v) => (rtype::AAAA, v.to_be_bytes().to_vec()),
        Kind::Ns(n, o) => (rtype::NS, lower(n, *o)),
        Kind::Cname(n, o) => (rtype::CNAME, lower(n, *o)),
        Kind::Mx(p, n, o) => {
            let mut v = p.to_be_bytes().to_vec();
            v.extend(lower(n, *o));
            (rtype::MX, v)
        }
        Kind::Srv(p, n, o) => {
            let mut v = vec![0, 1, 0, 1];
            v.extend_from_slice(&p.to_be_bytes());
            v.extend(lower(n, *o));
            (rtype::SRV, v)
        }
        Kind::Txt(b) => (rtype::TXT, txt_rdata(b)),
        Kind::Unknown(b) => (65000, b.clone()),
        Kind::Minfo(a, b) => {
            let mut v = lower(a, true);
            v.extend(lower(b, false));
            (rtype::MINFO, v)
        }
    };
    rec(&owner, t, ttl, rdata)
}

/// The expected answer sequence, computed without the crate's grouping code.
fn model(records: &[Record]) -> Vec<Record> {
    type Key = (Vec<u8>, u16);
    let mut sets: Vec<(Key, u32, Vec<Record>)> = Vec::new();
    for r in records {
        let key = (r.owner.to_lowercase().as_wire().to_vec(), r.rtype);
        let pos = sets.iter().position(|(k, _, _)| *k == key);
        let i = pos.unwrap_or_else(|| {
            sets.push((key, r.ttl, Vec::new()));
            sets.len() - 1
        });
        let ttl = sets[i].1;
        if !sets[i].2.iter().any(|x| x.rdata == r.rdata) {
            let mut r = r.clone();
            r.ttl = ttl;
            sets[i].2.push(r);
        }
    }
    let soa = sets.iter().position(|(k, _, _)| k.1 == rtype::SOA).unwrap();
    let soa_set = sets.remove(soa);
    let soa_rec = soa_set.2[0].clone();
    let mut out = soa_set.2;
    for (_, _, rs) in sets {
        out.extend(rs);
    }
    out.push(soa_rec);
    out
}

/// Every message checked on its own, then all answers concatenated.
fn decode_all(built: &BuiltZone, target: usize) -> Vec<Record> {
    let base = render::body_base(&built.origin);
    let mut all = Vec::new();
    for i in 0..built.message_count() {
        let m = built.message(i);
        let total = base + m.body.len();
        assert!(
            total <= render::MESSAGE_BYTES_MAX,
            "message {i} is {total} bytes"
        );
        assert!(
            total <= target || m.ancount == 1,
            "message {i}: {total} bytes, {} answers, target {target}",
            m.ancount
        );
        let ours =
            decode_body(m.body, base, m.ancount).unwrap_or_else(|e| panic!("message {i}: {e}"));
        let wire = render::assemble_message(0x1234, &built.origin, built.class, m.body, m.ancount);
        let theirs =
            Message::from_vec(&wire).unwrap_or_else(|e| panic!("hickory rejects message {i}: {e}"));
        assert_eq!(theirs.answers.len(), ours.len());
        for (h, o) in theirs.answers.iter().zip(&ours) {
            assert_eq!(h.name.to_ascii(), o.owner.to_string());
            assert_eq!(u16::from(h.record_type()), o.rtype);
            assert_eq!(h.ttl, o.ttl);
        }
        all.extend(ours);
    }
    all
}

/// (origin choice, records as (owner labels, kind, TTL), message target, workers).
type ZoneCase = (usize, Vec<(Vec<String>, Kind, u32)>, usize, usize);

fn zone_strategy() -> impl Strategy<Value = ZoneCase> {
    (
        0usize..3,
        prop::collection::vec(
            (
                owner_strategy(),
                kind_strategy(),
                prop::sample::select(vec![60u32, 300, 3600]),
            ),
            0..120,
        ),
        prop_oneof![
            512usize..2000,
            2000usize..20000,
            Just(16383usize),
            Just(65535usize)
        ],
        1usize..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn render_decode_round_trip((o, recs, target, workers) in zone_strategy()) {
        let origin = name(["example.com.", ".", "a-rather-long-origin-label.example.org."][o]);
        let mut records = vec![rec(&origin, rtype::SOA, 3600, soa_rdata(&origin, 7))];
        let soa_after = recs.len() / 2;
        for (k, (owner, kind, ttl)) in recs.iter().enumerate() {
            if k == soa_after && k > 0 {
                // The SOA need not come first in the file.
                records.rotate_left(1);
            }
            records.push(to_record(&origin, owner, kind, *ttl));
        }
        let built = build_records(&origin, &records, &BuildOptions { workers, message_bytes_target: target }).unwrap();
        let decoded = decode_all(&built, target);
        let expected = model(&records);
        prop_assert_eq!(decoded.len(), expected.len());
        for (d, e) in decoded.iter().zip(&expected) {
            prop_assert_eq!(d, e);
        }
        prop_assert_eq!(built.record_count as usize, expected.len() - 1);
        prop_assert_eq!(built.messages.first().map(|m| m.offset), Some(0));
    }
}

/// The 14-bit limit: in 64 KiB messages names after offset 0x3FFF are written, but never made
/// pointer targets, and every message still decodes.
#[test]
fn large_messages_decode_past_the_pointer_limit() {
    let origin = name("example.com.");
    let records = synth::zone(&origin, 20_000, 3);
    let built = build_records(
        &origin,
        &records,
        &BuildOptions {
            workers: 2,
            message_bytes_target: 65535,
        },
    )
    .unwrap();
    assert!(
        built.messages.iter().any(|m| m.len as usize > 0x4000),
        "no message beyond 16 KiB"
    );
    let decoded = decode_all(&built, 65535);
    assert_eq!(decoded.len() as u64, built.record_count + 1);
}

/// A record larger than the target gets a message of its own; one too large for any message
/// is an error, not a truncated message.
#[test]
fn oversized_records() {
    let origin = name("example.com.");
    let mut records = vec![rec(&origin, rtype::SOA, 3600, soa_rdata(&origin, 1))];
    let big = origin.prepend_label(b"big").unwrap();
    records.push(rec(&big, rtype::A, 60, vec![1, 2, 3, 4]));
    records.push(rec(&big, 65000, 60, vec![7; 30_000]));
    records.push(rec(&big, 65000, 60, vec![8; 30_000]));
    records.push(rec(&big, rtype::AAAA, 60, vec![0; 16]));
    let built = build_records(
        &origin,
        &records,
        &BuildOptions {
            workers: 1,
            message_bytes_target: 16383,
        },
    )
    .unwrap();
    let ancounts: Vec<u16> = built.messages.iter().map(|m| m.ancount).collect();
    assert_eq!(ancounts, vec![2, 1, 1, 2]);
    decode_all(&built, 16383);

    records.push(rec(&big, 65001, 60, vec![9; 65_535 - 20]));
    let err = build_records(
        &origin,
        &records,
        &BuildOptions {
            workers: 1,
            message_bytes_target: 16383,
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("more than the"), "{err}");
}

/// Empty RDATA (RFC 3597 `TYPE65000 \# 0`) renders and decodes with our decoder.
#[test]
fn empty_rdata() {
    let origin = name("example.com.");
    let e = origin.prepend_label(b"e").unwrap();
    let records = vec![
        rec(&origin, rtype::SOA, 3600, soa_rdata(&origin, 1)),
        rec(&e, 65000, 60, Vec::new()),
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
    let m = built.message(0);
    let got = decode_body(m.body, render::body_base(&origin), m.ancount).unwrap();
    assert_eq!(got[1], records[1]);
}
