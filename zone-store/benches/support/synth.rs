//! Records built in memory for tests and benchmarks of the renderer, the build and the store,
//! shaped like a real zone (hosts with A/AAAA, MX, CNAME, TXT, SRV, CAA, delegations with glue,
//! an RRSIG here and there). Text zones come from `zone_store::gen` through the parser; this
//! exists so those pieces can be tested without the parser, and with inputs the generator never
//! writes (mixed case, duplicates, differing TTLs).

#![allow(dead_code)]

use zone_store::record::CLASS_IN;
use zone_store::{rtype, Name, Record};

/// A small deterministic PRNG (SplitMix64), so tests do not depend on `rand`'s streams.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub fn name(s: &str) -> Name {
    Name::parse(s, None).expect("valid name")
}

pub fn rec(owner: &Name, t: u16, ttl: u32, rdata: Vec<u8>) -> Record {
    Record {
        owner: owner.clone(),
        rtype: t,
        class: CLASS_IN,
        ttl,
        rdata: rdata.into_boxed_slice(),
    }
}

pub fn soa_rdata(origin: &Name, serial: u32) -> Vec<u8> {
    let mut v = origin.prepend_label(b"ns1").unwrap().as_wire().to_vec();
    v.extend_from_slice(origin.prepend_label(b"hostmaster").unwrap().as_wire());
    for x in [serial, 7200, 3600, 1_209_600, 300] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v
}

fn with_pref(pref: u16, n: &Name) -> Vec<u8> {
    let mut v = pref.to_be_bytes().to_vec();
    v.extend_from_slice(n.as_wire());
    v
}

fn txt(s: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for chunk in s.chunks(255) {
        v.push(chunk.len() as u8);
        v.extend_from_slice(chunk);
    }
    v
}

const STEMS: [&str; 12] = [
    "www", "mail", "api", "cdn", "shop", "vpn", "git", "db", "app", "static", "auth", "img",
];

/// About `records` records (exactly, SOA counted once) for `origin`.
pub fn zone(origin: &Name, records: usize, seed: u64) -> Vec<Record> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(records + 16);
    out.push(rec(origin, rtype::SOA, 3600, soa_rdata(origin, 2026112301)));
    let ns1 = origin.prepend_label(b"ns1").unwrap();
    let ns2 = origin.prepend_label(b"ns2").unwrap();
    out.push(rec(origin, rtype::NS, 3600, ns1.as_wire().to_vec()));
    out.push(rec(origin, rtype::NS, 3600, ns2.as_wire().to_vec()));
    out.push(rec(
        origin,
        rtype::MX,
        3600,
        with_pref(10, &origin.prepend_label(b"mail").unwrap()),
    ));
    out.push(rec(&ns1, rtype::A, 3600, vec![192, 0, 2, 1]));
    out.push(rec(&ns2, rtype::A, 3600, vec![192, 0, 2, 2]));
    let mut i = 0u64;
    while out.len() < records {
        i += 1;
        let stem = STEMS[rng.below(STEMS.len() as u64) as usize];
        let label = format!("{stem}{i}");
        let host = origin.prepend_label(label.as_bytes()).unwrap();
        let ttl = [300, 3600, 86400][rng.below(3) as usize];
        match rng.below(100) {
            0..=44 => {
                out.push(rec(
                    &host,
                    rtype::A,
                    ttl,
                    (rng.next() as u32).to_be_bytes().to_vec(),
                ));
                if rng.below(2) == 0 {
                    out.push(rec(
                        &host,
                        rtype::A,
                        ttl,
                        (rng.next() as u32).to_be_bytes().to_vec(),
                    ));
                }
                if rng.below(3) == 0 {
                    let mut a6 = vec![0x20, 0x01, 0x0d, 0xb8];
                    a6.extend_from_slice(&rng.next().to_be_bytes());
                    a6.extend_from_slice(&(rng.next() as u32).to_be_bytes());
                    out.push(rec(&host, rtype::AAAA, ttl, a6));
                }
            }
            45..=59 => {
                let target = origin
                    .prepend_label(
                        format!("{}{}", STEMS[rng.below(12) as usize], rng.below(i + 1)).as_bytes(),
                    )
                    .unwrap();
                out.push(rec(&host, rtype::CNAME, ttl, target.as_wire().to_vec()));
            }
            60..=69 => {
                let m = origin
                    .prepend_label(format!("mx{}", rng.below(4)).as_bytes())
                    .unwrap();
                out.push(rec(&host, rtype::MX, ttl, with_pref(10, &m)));
                out.push(rec(
                    &host,
                    rtype::MX,
                    ttl,
                    with_pref(20, &origin.prepend_label(b"mail").unwrap()),
                ));
                out.push(rec(
                    &host,
                    rtype::A,
                    ttl,
                    (rng.next() as u32).to_be_bytes().to_vec(),
                ));
            }
            70..=79 => {
                let n = if rng.below(10) == 0 {
                    400
                } else {
                    20 + rng.below(60) as usize
                };
                let s: Vec<u8> = (0..n).map(|_| b'a' + rng.below(26) as u8).collect();
                out.push(rec(&host, rtype::TXT, ttl, txt(&s)));
                out.push(rec(
                    &host,
                    rtype::A,
                    ttl,
                    (rng.next() as u32).to_be_bytes().to_vec(),
                ));
            }
            80..=86 => {
                let srv = host
                    .prepend_label(b"_tcp")
                    .unwrap()
                    .prepend_label(b"_sip")
                    .unwrap();
                let mut v = vec![0, 10, 0, 5, 0x13, 0xc4];
                v.extend_from_slice(host.as_wire());
                out.push(rec(&srv, rtype::SRV, ttl, v));
                out.push(rec(
                    &host,
                    rtype::A,
                    ttl,
                    (rng.next() as u32).to_be_bytes().to_vec(),
                ));
            }
            87..=91 => {
                let mut v = vec![0, 5];
                v.extend_from_slice(b"issueletsencrypt.org");
                out.push(rec(&host, rtype::CAA, ttl, v));
                out.push(rec(
                    &host,
                    rtype::A,
                    ttl,
                    (rng.next() as u32).to_be_bytes().to_vec(),
                ));
            }
            _ => {
                // Delegation with glue.
                let d1 = host.prepend_label(b"ns1").unwrap();
                let d2 = host.prepend_label(b"ns2").unwrap();
                out.push(rec(&host, rtype::NS, 86400, d1.as_wire().to_vec()));
                out.push(rec(&host, rtype::NS, 86400, d2.as_wire().to_vec()));
                out.push(rec(
                    &d1,
                    rtype::A,
                    86400,
                    (rng.next() as u32).to_be_bytes().to_vec(),
                ));
                out.push(rec(
                    &d2,
                    rtype::A,
                    86400,
                    (rng.next() as u32).to_be_bytes().to_vec(),
                ));
            }
        }
    }
    out.truncate(records);
    out
}
