//! A realistic zone (zone_store::gen, then the parser) through the build: every message decodes
//! with hickory-proto and with our decoder, fits in 65535 bytes, and together the messages hold
//! exactly the parsed records, SOA first and last.

use std::collections::HashMap;

use hickory_proto::op::Message;
use zone_store::build::{build_records, BuildOptions};
use zone_store::render::{self, decode::decode_body};
use zone_store::zonefile::{parse_str, ParseOptions};
use zone_store::{rtype, Name};

#[test]
fn gen_zone_round_trips() {
    let origin = Name::parse("example.com.", None).unwrap();
    let mut text = Vec::new();
    zone_store::gen::generate(&origin, 30_000, 11, &mut text).unwrap();
    let zone = parse_str(
        std::str::from_utf8(&text).unwrap(),
        "gen.zone".as_ref(),
        &ParseOptions::new(origin.clone()),
    )
    .unwrap();
    for target in [2048, 16383, 65535] {
        let built = build_records(
            &origin,
            &zone.records,
            &BuildOptions {
                workers: 2,
                message_bytes_target: target,
            },
        )
        .unwrap();
        let base = render::body_base(&origin);
        let mut all = Vec::new();
        for i in 0..built.message_count() {
            let m = built.message(i);
            assert!(base + m.body.len() <= render::MESSAGE_BYTES_MAX);
            let wire = render::assemble_message(7, &origin, built.class, m.body, m.ancount);
            let msg = Message::from_vec(&wire).unwrap_or_else(|e| panic!("message {i}: {e}"));
            let ours = decode_body(m.body, base, m.ancount).unwrap();
            assert_eq!(msg.answers.len(), ours.len());
            for (h, o) in msg.answers.iter().zip(&ours) {
                assert!(h.name.to_ascii().eq_ignore_ascii_case(&o.owner.to_string()));
                assert_eq!(u16::from(h.record_type()), o.rtype);
            }
            all.extend(ours);
        }
        assert_eq!(all.first().unwrap().rtype, rtype::SOA);
        assert_eq!(all.last(), all.first());
        all.pop();
        // Same records as parsed (gen writes no duplicates and one TTL per RRset).
        let mut want: HashMap<(Vec<u8>, u16, u32, Vec<u8>), i32> = HashMap::new();
        for r in &zone.records {
            *want
                .entry((r.owner.as_wire().to_vec(), r.rtype, r.ttl, r.rdata.to_vec()))
                .or_default() += 1;
        }
        for r in &all {
            *want
                .entry((r.owner.as_wire().to_vec(), r.rtype, r.ttl, r.rdata.to_vec()))
                .or_default() -= 1;
        }
        assert!(
            want.values().all(|&v| v == 0),
            "target {target}: records differ"
        );
        assert_eq!(all.len(), zone.records.len());
    }
}
