//! A deterministic generator of realistic zone files, for tests and benchmarks.
//!
//! What it owns: writing master-file TEXT (RFC 1035 section 5) that looks like a real,
//! hand-and-tool maintained zone: an apex with SOA, NS, MX, TXT, CAA and a signed DNSKEY set;
//! many hosts with A and AAAA; CNAMEs, MX, SRV, CAA; TXT records both short and long (DKIM keys
//! over 255 bytes split into several strings inside parentheses); wildcards; delegations with
//! glue and DS; a few RRSIG and NSEC records with valid-looking base64; relative and absolute
//! names, blank owners, `$TTL` (with unit suffixes) and a few `$ORIGIN` changes.
//! What it does not own: parsing (see [`crate::zonefile`]) or checking the output.
//!
//! Guarantees, which tests and benchmarks rely on:
//! - exactly `records` records (the SOA counted once), and the returned [`GenStats`] says how
//!   many of each type;
//! - the same bytes for the same `(origin, records, seed)`, on every platform and with every
//!   dependency version: the random stream is the generator's own xoshiro256** seeded by
//!   SplitMix64 (both fully specified, a few lines each) rather than `rand`, whose
//!   distributions have changed output between releases;
//! - no duplicate records, one TTL per RRset, no CNAME next to other data, nothing below a
//!   delegation but glue, every name inside the zone: `named-checkzone` accepts the output.
//!
//! Speed: about 1M records in well under a second in release (text is formatted by hand
//! into a buffer that is flushed in 64 KiB pieces).

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::name::Name;
use crate::rtype;

/// What [`generate`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenStats {
    /// Records written, the SOA counted once.
    pub records: u64,
    /// Records written per type number.
    pub per_type: BTreeMap<u16, u64>,
    /// Bytes of zone text written.
    pub bytes: u64,
}

impl GenStats {
    /// Records of one type.
    pub fn count(&self, rtype: u16) -> u64 {
        self.per_type.get(&rtype).copied().unwrap_or(0)
    }
}

/// Writes a zone of exactly `records` records for `origin` to `out`, the same text for the
/// same arguments. `records` must be at least 1 (the SOA).
pub fn generate(
    origin: &Name,
    records: usize,
    seed: u64,
    out: &mut impl Write,
) -> io::Result<GenStats> {
    if records == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a zone needs at least one record (its SOA)",
        ));
    }
    let mut g = Gen::new(origin, records, seed, out);
    g.run()?;
    g.finish()
}

/// Bytes of buffered text before they go to the writer.
const FLUSH_BYTES: usize = 64 * 1024;

/// Host label stems, as seen in real zones.
const WORDS: &[&str] = &[
    "www",
    "mail",
    "smtp",
    "imap",
    "pop",
    "ftp",
    "vpn",
    "api",
    "cdn",
    "static",
    "img",
    "app",
    "portal",
    "shop",
    "blog",
    "dev",
    "staging",
    "test",
    "db",
    "cache",
    "lb",
    "proxy",
    "git",
    "ci",
    "build",
    "grafana",
    "metrics",
    "auth",
    "sso",
    "login",
    "web",
    "host",
    "srv",
    "node",
    "edge",
    "gw",
    "ntp",
    "ldap",
    "kube",
    "worker",
    "backup",
    "files",
    "docs",
    "wiki",
    "support",
    "status",
    "admin",
    "billing",
    "crm",
    "intranet",
    "media",
    "video",
    "chat",
    "meet",
    "sip",
    "voip",
    "printer",
    "nas",
    "cam",
    "assets",
    "download",
    "update",
    "search",
    "analytics",
    "payments",
    "checkout",
    "customer-portal",
    "internal-tools",
];
/// Second words (regions, environments).
const REGIONS: &[&str] = &[
    "eu", "us", "ap", "east", "west", "north", "south", "central", "prod", "stage", "fra", "ams",
    "lhr", "iad", "sfo", "nrt", "sin", "syd", "gru", "qa",
];
/// Service labels for SRV owners.
const SERVICES: &[&str] = &[
    "_sip._tcp",
    "_sip._udp",
    "_sips._tcp",
    "_xmpp-client._tcp",
    "_xmpp-server._tcp",
    "_ldap._tcp",
    "_kerberos._udp",
    "_imaps._tcp",
    "_submission._tcp",
    "_caldavs._tcp",
    "_minecraft._tcp",
    "_autodiscover._tcp",
];
/// Out-of-zone names that records point to (RFC 2606 domains only).
/// They live under the first of [`EXTERNAL_DOMAINS`] that is outside the zone.
const EXTERNAL: &[&str] = &[
    "ns1.provider",
    "ns2.provider",
    "mx1.mailhost",
    "mx2.mailhost",
    "d1x2y3.cdn",
    "lb-7.cloud",
    "origin.hosting",
];
/// Domains for the out-of-zone names (RFC 2606), in order of preference.
const EXTERNAL_DOMAINS: &[&str] = &["example.net.", "example.org.", "example.edu."];
/// TTLs an RRset may get; the zone default appears through `None`.
const TTLS: &[u32] = &[
    60, 300, 300, 600, 900, 1800, 3600, 3600, 3600, 3600, 7200, 14400, 86400, 86400,
];
/// `$TTL` values used through the file.
const DEFAULT_TTLS: &[u32] = &[3600, 300, 86400, 1800, 3600];
/// SOA minimum, which NSEC records take as their TTL (RFC 4034 section 4).
const SOA_MINIMUM: u32 = 300;
/// Recent host labels kept as CNAME/MX/SRV targets.
const RECENT_HOSTS: usize = 16;

/// xoshiro256** (Blackman and Vigna), seeded with SplitMix64: small, fast, and its output is
/// fixed by its definition, so a seed means the same zone forever.
struct Rng {
    s: [u64; 4],
}

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` (multiply-shift; the bias is below 2^-32 for the small `n` used here).
    fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// True with probability `num / den`.
    fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// How the owner of a record is written.
#[derive(Clone, Copy)]
enum Owner<'a> {
    /// Blank: the previous record's owner (only within one block, never after a directive).
    Same,
    /// `@`.
    Apex,
    /// `prefix` + the block's label (`self.label`), relative or (sometimes) absolute.
    Label(&'a [u8]),
}

/// The kinds of block the body of the zone is made of, with their weights.
#[derive(Clone, Copy)]
enum Block {
    HostA,
    HostDual,
    HostTxt,
    Cname,
    MailDomain,
    Srv,
    TxtShort,
    TxtDkim,
    TxtMulti,
    Dmarc,
    Caa,
    Wildcard,
    Delegation,
    Signed,
}

const BLOCKS: &[(Block, usize)] = &[
    (Block::HostA, 300),
    (Block::HostDual, 200),
    (Block::HostTxt, 30),
    (Block::Cname, 120),
    (Block::MailDomain, 25),
    (Block::Srv, 40),
    (Block::TxtShort, 40),
    (Block::TxtDkim, 15),
    (Block::TxtMulti, 15),
    (Block::Dmarc, 10),
    (Block::Caa, 20),
    (Block::Wildcard, 15),
    (Block::Delegation, 40),
    (Block::Signed, 10),
];

struct Gen<'w, W: Write> {
    out: &'w mut W,
    rng: Rng,
    buf: Vec<u8>,
    counts: BTreeMap<u16, u64>,
    bytes: u64,
    remaining: usize,
    total: usize,
    /// The zone's origin, absolute text (`example.com.`, or `.` for the root).
    origin_text: String,
    origin_labels: usize,
    /// The domain of out-of-zone names: one outside the zone, so that out-of-zone NS and MX
    /// targets need no addresses in it (the root zone has none: everything is inside).
    external_domain: &'static str,
    /// The current `$ORIGIN`, absolute text, and its label count.
    cur_origin: String,
    cur_labels: usize,
    /// The current `$TTL`.
    default_ttl: u32,
    /// Serial number of the block labels: every block owner contains it, so owners never
    /// collide with each other or with the fixed apex names.
    counter: u64,
    /// The label (possibly several) of the current block, relative to `cur_origin`.
    label: Vec<u8>,
    recent: Vec<Vec<u8>>,
    recent_next: usize,
    scratch: Vec<u8>,
    /// Record counts at which the next `$ORIGIN` / `$TTL` change happens.
    origin_switches: Vec<usize>,
    ttl_switches: Vec<usize>,
    block_weight_total: usize,
}

impl<'w, W: Write> Gen<'w, W> {
    fn new(origin: &Name, records: usize, seed: u64, out: &'w mut W) -> Self {
        let origin_text = origin.to_string();
        let origin_labels = origin.label_count();
        // A few $ORIGIN changes (into a sub-domain and back) and $TTL changes, spread evenly.
        let origin_changes = 2 + records / 100_000;
        let ttl_changes = 2 + records / 200_000;
        let at = |k: usize, n: usize| (records as u128 * k as u128 / (n as u128 + 1)) as usize;
        let origin_switches = (1..=origin_changes * 2)
            .map(|k| at(k, origin_changes * 2))
            .rev()
            .collect();
        let ttl_switches = (1..=ttl_changes)
            .map(|k| at(k, ttl_changes) + 7)
            .rev()
            .collect();
        let external_domain = EXTERNAL_DOMAINS
            .iter()
            .copied()
            .find(|d| {
                Name::parse(d, None)
                    .is_ok_and(|d| !d.is_subdomain_of(origin) && !origin.is_subdomain_of(&d))
            })
            .unwrap_or(EXTERNAL_DOMAINS[0]);
        Gen {
            out,
            external_domain,
            rng: Rng::new(seed),
            buf: Vec::with_capacity(FLUSH_BYTES + 4096),
            counts: BTreeMap::new(),
            bytes: 0,
            remaining: records,
            total: records,
            cur_origin: origin_text.clone(),
            cur_labels: origin_labels,
            origin_text,
            origin_labels,
            default_ttl: 3600,
            counter: 100,
            label: Vec::with_capacity(64),
            recent: Vec::with_capacity(RECENT_HOSTS),
            recent_next: 0,
            scratch: Vec::with_capacity(1024),
            origin_switches,
            ttl_switches,
            block_weight_total: BLOCKS.iter().map(|b| b.1).sum(),
        }
    }

    fn finish(mut self) -> io::Result<GenStats> {
        self.flush()?;
        self.out.flush()?;
        debug_assert_eq!(self.remaining, 0);
        Ok(GenStats {
            records: self.total as u64,
            per_type: self.counts,
            bytes: self.bytes,
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn run(&mut self) -> io::Result<()> {
        self.apex()?;
        while self.remaining > 0 {
            self.directives();
            let mut pick = self.rng.below(self.block_weight_total);
            let mut block = Block::HostA;
            for &(b, w) in BLOCKS {
                if pick < w {
                    block = b;
                    break;
                }
                pick -= w;
            }
            self.block(block);
            if self.buf.len() >= FLUSH_BYTES {
                self.flush()?;
            }
        }
        Ok(())
    }

    // ---- text primitives -------------------------------------------------------------

    fn s(&mut self, text: &str) {
        self.buf.extend_from_slice(text.as_bytes());
    }

    fn b(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn num(&mut self, v: u64) {
        push_u64(&mut self.buf, v);
    }

    /// An out-of-zone name: `stem.` and the external domain.
    fn external(&mut self, stem: &str) {
        self.s(stem);
        self.s(".");
        self.s(self.external_domain);
    }

    /// A random number in `0..n`, written.
    fn rand_num(&mut self, n: usize) {
        let v = self.rng.below(n) as u64;
        self.num(v);
    }

    fn hex16(&mut self, v: u16) {
        push_hex(&mut self.buf, v);
    }

    fn base64(&mut self, len: usize) {
        self.scratch.clear();
        self.scratch.resize(len, 0);
        let mut bytes = std::mem::take(&mut self.scratch);
        self.rng.fill(&mut bytes);
        let start = self.buf.len();
        let enc_len = data_encoding::BASE64.encode_len(len);
        self.buf.resize(start + enc_len, 0);
        data_encoding::BASE64.encode_mut(&bytes, &mut self.buf[start..]);
        self.scratch = bytes;
    }

    /// Base64 of `len` random bytes, broken into lines of 56 characters inside parentheses,
    /// as BIND writes keys and signatures.
    fn base64_lines(&mut self, len: usize) {
        let start = self.buf.len();
        self.base64(len);
        let encoded: Vec<u8> = self.buf.split_off(start);
        for (i, chunk) in encoded.chunks(56).enumerate() {
            if i > 0 {
                self.s("\n\t\t\t\t");
            }
            self.b(chunk);
        }
    }

    fn ttl_text(&mut self, ttl: u32) {
        // Now and then with a unit suffix, as people write them.
        if self.rng.chance(1, 25) {
            let unit = match ttl {
                t if t % 86400 == 0 => Some((t / 86400, "d")),
                t if t % 3600 == 0 => Some((t / 3600, "h")),
                t if t % 60 == 0 => Some((t / 60, "m")),
                _ => None,
            };
            if let Some((n, u)) = unit {
                self.num(n as u64);
                self.s(u);
                return;
            }
        }
        self.num(ttl as u64);
    }

    /// Absolute text of `label` in the current origin.
    fn absolute_label(&mut self, prefix: &[u8]) {
        self.b(prefix);
        self.buf.extend_from_slice(&self.label);
        self.origin_suffix();
    }

    /// Makes the relative name just written absolute: `.` and the current origin (only the
    /// dot for the root).
    fn origin_suffix(&mut self) {
        self.s(".");
        if self.cur_origin != "." {
            self.buf.extend_from_slice(self.cur_origin.as_bytes());
        }
    }

    /// Starts a record: owner, TTL and class (in either order, either sometimes left out),
    /// type mnemonic, and a separator before the RDATA.
    fn head(&mut self, owner: Owner<'_>, ttl: u32, ty: &str) {
        match owner {
            Owner::Same => self.s("\t"),
            Owner::Apex => self.s("@"),
            Owner::Label(prefix) => {
                if self.rng.chance(1, 10) {
                    self.absolute_label(prefix);
                } else {
                    self.b(prefix);
                    self.buf.extend_from_slice(&self.label);
                }
            }
        }
        self.s("\t");
        let omit_ttl = ttl == self.default_ttl && self.rng.chance(1, 2);
        let omit_class = self.rng.chance(1, 10);
        if !omit_ttl && !omit_class && self.rng.chance(1, 20) {
            self.s("IN ");
            self.ttl_text(ttl);
        } else {
            if !omit_ttl {
                self.ttl_text(ttl);
                self.s(" ");
            }
            if !omit_class {
                self.s("IN");
            }
        }
        self.s("\t");
        self.s(ty);
        self.s("\t");
    }

    /// Ends a record of type `code`.
    fn end(&mut self, code: u16) {
        self.s("\n");
        *self.counts.entry(code).or_insert(0) += 1;
        self.remaining -= 1;
    }

    fn ttl(&mut self) -> u32 {
        if self.rng.chance(1, 3) {
            self.default_ttl
        } else {
            *self.rng.pick(TTLS)
        }
    }

    fn ipv4(&mut self) -> [u8; 4] {
        let r = self.rng.next_u64();
        match r % 4 {
            0 => [192, 0, 2, (r >> 8) as u8],
            1 => [198, 51, 100, (r >> 8) as u8],
            2 => [203, 0, 113, (r >> 8) as u8],
            _ => [10, (r >> 8) as u8, (r >> 16) as u8, (r >> 24) as u8],
        }
    }

    fn write_ipv4(&mut self, a: [u8; 4]) {
        for (i, o) in a.iter().enumerate() {
            if i > 0 {
                self.s(".");
            }
            self.num(*o as u64);
        }
    }

    /// An IPv6 address in 2001:db8::/32, written with `::` as people do.
    fn write_ipv6(&mut self, net: u16, host: u16) {
        self.s("2001:db8:");
        self.hex16(net);
        self.s("::");
        self.hex16(host);
    }

    /// A new block label: `stem<counter>`, `stem-region<counter>` or `node<counter>.region`.
    fn new_label(&mut self) {
        self.counter += 1;
        self.label.clear();
        let stem = *self.rng.pick(WORDS);
        let shape = self.rng.below(10);
        self.label.extend_from_slice(stem.as_bytes());
        match shape {
            0..=5 => push_u64(&mut self.label, self.counter),
            6..=8 => {
                self.label.push(b'-');
                self.label
                    .extend_from_slice(self.rng.pick(REGIONS).as_bytes());
                push_u64(&mut self.label, self.counter);
            }
            _ => {
                push_u64(&mut self.label, self.counter);
                self.label.push(b'.');
                self.label
                    .extend_from_slice(self.rng.pick(REGIONS).as_bytes());
            }
        }
        // A few capitalised owners: case is preserved and must survive the round trip.
        if self.rng.chance(1, 200) {
            self.label[0] = self.label[0].to_ascii_uppercase();
        }
    }

    fn remember_host(&mut self) {
        if self.recent.len() < RECENT_HOSTS {
            self.recent.push(self.label.clone());
        } else {
            let slot = &mut self.recent[self.recent_next];
            slot.clear();
            slot.extend_from_slice(&self.label);
            self.recent_next = (self.recent_next + 1) % RECENT_HOSTS;
        }
    }

    /// A target name: a recent host of this origin (relative or absolute), `@`, or a name
    /// outside the zone.
    fn target(&mut self) {
        let r = self.rng.below(10);
        if r < 7 && !self.recent.is_empty() {
            let i = self.rng.below(self.recent.len());
            let host = std::mem::take(&mut self.recent[i]);
            self.b(&host);
            if r == 0 {
                self.origin_suffix();
            }
            self.recent[i] = host;
        } else if r < 8 {
            self.s("@");
        } else {
            let ext = *self.rng.pick(EXTERNAL);
            self.external(ext);
        }
    }

    // ---- directives --------------------------------------------------------------------

    fn directives(&mut self) {
        let written = self.total - self.remaining;
        if self.origin_switches.last().is_some_and(|&at| written >= at) {
            self.origin_switches.pop();
            if self.cur_origin == self.origin_text {
                self.counter += 1;
                let region = *self.rng.pick(REGIONS);
                let mut sub = format!("site-{region}{}", self.counter);
                sub.push('.');
                if self.origin_text != "." {
                    sub.push_str(&self.origin_text);
                }
                self.s("\n; hosts of one site, relative to their own origin\n$ORIGIN ");
                self.s(&sub);
                self.s("\n");
                self.cur_origin = sub;
                self.cur_labels = self.origin_labels + 1;
            } else {
                let origin = self.origin_text.clone();
                self.s("\n$ORIGIN ");
                self.s(&origin);
                self.s("\n");
                self.cur_origin = origin;
                self.cur_labels = self.origin_labels;
            }
            // Names relative to the old origin no longer mean the same.
            self.recent.clear();
            self.recent_next = 0;
        }
        if self.ttl_switches.last().is_some_and(|&at| written >= at) {
            self.ttl_switches.pop();
            let ttl = *self.rng.pick(DEFAULT_TTLS);
            self.default_ttl = ttl;
            self.s("$TTL ");
            self.ttl_text(ttl);
            self.s("\n");
        }
    }

    // ---- the apex ------------------------------------------------------------------------

    fn apex(&mut self) -> io::Result<()> {
        let serial = 2_026_010_100u64 + self.rng.below(100) as u64;
        self.s("; Zone generated by zone_store::gen (deterministic for its seed).\n$ORIGIN ");
        let origin = self.origin_text.clone();
        self.s(&origin);
        self.s("\n$TTL 1h\n");
        self.s("@\t3600\tIN\tSOA\tns1 hostmaster (\n\t\t\t\t");
        self.num(serial);
        self.s(" ; serial\n\t\t\t\t7200       ; refresh (2 hours)\n\t\t\t\t900        ; retry\n\t\t\t\t1209600    ; expire (2 weeks)\n\t\t\t\t");
        self.num(SOA_MINIMUM as u64);
        self.s("        ; minimum\n\t\t\t\t)");
        self.end(rtype::SOA);

        // Type, RDATA text, and the out-of-zone name that ends the RDATA, if any.
        let apex_rrsets: [(&str, u16, &str, Option<&str>); 9] = [
            ("NS", rtype::NS, "ns1", None),
            ("NS", rtype::NS, "ns2", None),
            ("NS", rtype::NS, "", Some("ns1.provider")),
            ("MX", rtype::MX, "10 mail", None),
            ("MX", rtype::MX, "20 ", Some("mx1.mailhost")),
            (
                "TXT",
                rtype::TXT,
                "\"v=spf1 mx ip4:192.0.2.0/24 include:_spf.mailhost.example.net ~all\"",
                None,
            ),
            (
                "TXT",
                rtype::TXT,
                "\"google-site-verification=4ibFUgB-wXLQ_S7vsXVomSTVamuOXBiVAzpR5IZ87D0\"",
                None,
            ),
            ("CAA", rtype::CAA, "0 issue \"letsencrypt.org\"", None),
            (
                "CAA",
                rtype::CAA,
                "0 iodef \"mailto:security@example.com\"",
                None,
            ),
        ];
        for (i, (ty, code, rdata, external)) in apex_rrsets.into_iter().enumerate() {
            if self.remaining == 0 {
                return Ok(());
            }
            let owner = if i == 0 { Owner::Apex } else { Owner::Same };
            let ttl = if code == rtype::NS { 86400 } else { 3600 };
            self.head(owner, ttl, ty);
            self.s(rdata);
            if let Some(stem) = external {
                self.external(stem);
            }
            self.end(code);
        }
        // A signed apex: KSK and ZSK (ECDSA P-256, 64-byte keys), with RRSIGs over SOA and
        // DNSKEY.
        for flags in [257, 256] {
            if self.remaining == 0 {
                return Ok(());
            }
            self.head(Owner::Same, 3600, "DNSKEY");
            self.num(flags);
            self.s(" 3 13 (\n\t\t\t\t");
            self.base64_lines(64);
            self.s(" )");
            self.end(rtype::DNSKEY);
        }
        for (covered, ttl) in [("SOA", 3600), ("DNSKEY", 3600)] {
            if self.remaining == 0 {
                return Ok(());
            }
            self.head(Owner::Same, 3600, "RRSIG");
            self.rrsig_rdata(covered, self.origin_labels, ttl);
            self.end(rtype::RRSIG);
        }
        for (ty, code) in [("A", rtype::A), ("AAAA", rtype::AAAA)] {
            if self.remaining == 0 {
                return Ok(());
            }
            self.head(Owner::Same, 3600, ty);
            if code == rtype::A {
                self.s("192.0.2.1");
            } else {
                self.s("2001:db8::1");
            }
            self.end(code);
        }
        let fixed: [(&str, &str, u16, &str); 6] = [
            ("ns1", "A", rtype::A, "192.0.2.53"),
            ("", "AAAA", rtype::AAAA, "2001:db8::53"),
            ("ns2", "A", rtype::A, "198.51.100.53"),
            ("mail", "A", rtype::A, "192.0.2.25"),
            ("www", "CNAME", rtype::CNAME, "@"),
            (
                "_dmarc",
                "TXT",
                rtype::TXT,
                "\"v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com; pct=100\"",
            ),
        ];
        for (owner, ty, code, rdata) in fixed {
            if self.remaining == 0 {
                return Ok(());
            }
            if owner.is_empty() {
                self.s("\t");
            } else {
                self.s(owner);
            }
            self.s("\t3600\tIN\t");
            self.s(ty);
            self.s("\t");
            self.s(rdata);
            self.end(code);
        }
        self.s("\n");
        Ok(())
    }

    fn rrsig_rdata(&mut self, covered: &str, labels: usize, original_ttl: u32) {
        self.s(covered);
        self.s(" 13 ");
        self.num(labels as u64);
        self.s(" ");
        self.num(original_ttl as u64);
        self.s(" 20261223000000 20261123000000 ");
        self.rand_num(65536);
        self.s(" ");
        let origin = self.origin_text.clone();
        self.s(&origin);
        self.s(" (\n\t\t\t\t");
        self.base64_lines(64);
        self.s(" )");
    }

    // ---- body blocks -----------------------------------------------------------------------

    /// Records a block of this kind will write, decided before writing it, so that the zone
    /// ends on exactly the requested count (a block that does not fit becomes one A record).
    fn block(&mut self, kind: Block) {
        let size = match kind {
            Block::HostA => 1 + self.rng.below(2),
            Block::HostDual => 2 + self.rng.below(2),
            Block::HostTxt => 2,
            Block::Cname => 1,
            Block::MailDomain => 4,
            Block::Srv => 1 + self.rng.below(3),
            Block::TxtShort | Block::TxtDkim | Block::TxtMulti | Block::Dmarc => 1,
            Block::Caa => 2,
            Block::Wildcard => 1,
            // 2 NS, 2 glue; DS decided inside for 1 in 3.
            Block::Delegation => 5,
            Block::Signed => 4,
        };
        if size > self.remaining {
            self.host(1, false);
            return;
        }
        match kind {
            Block::HostA => self.host(size, false),
            Block::HostDual => self.host(size, true),
            Block::HostTxt => {
                self.new_label();
                let ttl = self.ttl();
                self.head(Owner::Label(b""), ttl, "A");
                let a = self.ipv4();
                self.write_ipv4(a);
                self.end(rtype::A);
                let ttl = self.ttl();
                self.head(Owner::Same, ttl, "TXT");
                self.s("\"owner=team-");
                self.rand_num(500);
                self.s(" env=production\"");
                self.end(rtype::TXT);
                self.remember_host();
            }
            Block::Cname => {
                self.new_label();
                let ttl = self.ttl();
                self.head(Owner::Label(b""), ttl, "CNAME");
                self.target();
                self.end(rtype::CNAME);
            }
            Block::MailDomain => {
                // A mail domain: two MX to its own exchangers, each with an address.
                self.new_label();
                let ttl = self.ttl();
                for (i, pref) in [10u64, 20].into_iter().enumerate() {
                    let owner = if i == 0 {
                        Owner::Label(b"")
                    } else {
                        Owner::Same
                    };
                    self.head(owner, ttl, "MX");
                    self.num(pref);
                    self.s(" mx");
                    self.num(i as u64 + 1);
                    self.s(".");
                    self.buf.extend_from_slice(&self.label);
                    self.end(rtype::MX);
                }
                for prefix in [&b"mx1."[..], b"mx2."] {
                    let ttl = self.ttl();
                    self.head(Owner::Label(prefix), ttl, "A");
                    let a = self.ipv4();
                    self.write_ipv4(a);
                    self.end(rtype::A);
                }
            }
            Block::Srv => {
                self.new_label();
                let service = *self.rng.pick(SERVICES);
                let mut prefix = Vec::with_capacity(24);
                prefix.extend_from_slice(service.as_bytes());
                prefix.push(b'.');
                let ttl = self.ttl();
                let port = [5060u64, 5061, 5222, 5269, 389, 88, 993, 587, 443, 25565];
                let port = *self.rng.pick(&port);
                let external = self.rng.chance(1, 4);
                for i in 0..size {
                    let owner = if i == 0 {
                        Owner::Label(&prefix)
                    } else {
                        Owner::Same
                    };
                    self.head(owner, ttl, "SRV");
                    self.num(i as u64 * 10);
                    self.s(" ");
                    let weight = 10 + self.rng.below(90) as u64;
                    self.num(weight);
                    self.s(" ");
                    self.num(port);
                    self.s(" ");
                    // Distinct targets within the RRset: numbered servers of this service,
                    // inside the zone or at a provider.
                    self.s("srv");
                    self.num(i as u64 + 1);
                    self.s(".");
                    if external {
                        self.external("provider");
                    } else {
                        self.buf.extend_from_slice(&self.label);
                    }
                    self.end(rtype::SRV);
                }
            }
            Block::TxtShort => {
                self.new_label();
                let ttl = self.ttl();
                self.head(Owner::Label(b""), ttl, "TXT");
                match self.rng.below(4) {
                    0 => self.s("\"v=spf1 -all\""),
                    1 => {
                        self.s("\"google-site-verification=");
                        self.base64(30);
                        self.s("\"");
                    }
                    2 => {
                        self.s("\"MS=ms");
                        self.rand_num(100_000_000);
                        self.s("\"");
                    }
                    _ => {
                        self.s("\"contact: ops team; ticket queue \\\"infra\\\"\"");
                    }
                }
                self.end(rtype::TXT);
            }
            Block::TxtDkim => {
                // An RSA-2048 DKIM key: 392 characters of base64, more than one 255-byte
                // string can hold, so split in three strings over several lines.
                self.new_label();
                let ttl = self.ttl();
                self.head(Owner::Label(b"selector1._domainkey."), ttl, "TXT");
                self.s("( \"v=DKIM1; k=rsa; \"\n\t\t\t\t\"p=");
                let start = self.buf.len();
                self.base64(294);
                let key = self.buf.split_off(start);
                let (first, rest) = key.split_at(200);
                self.b(first);
                self.s("\"\n\t\t\t\t\"");
                self.b(rest);
                self.s("\" )");
                self.end(rtype::TXT);
            }
            Block::TxtMulti => {
                self.new_label();
                let ttl = self.ttl();
                self.head(Owner::Label(b""), ttl, "TXT");
                let n = 2 + self.rng.below(3);
                self.s("(");
                for i in 0..n {
                    self.s(if i == 0 { " " } else { "\n\t\t\t\t" });
                    self.s("\"part ");
                    self.num(i as u64 + 1);
                    self.s(" of ");
                    self.num(n as u64);
                    self.s("; id=");
                    self.base64(12);
                    self.s("\"");
                }
                self.s(" )");
                self.end(rtype::TXT);
            }
            Block::Dmarc => {
                self.new_label();
                let ttl = self.ttl();
                self.head(Owner::Label(b"_dmarc."), ttl, "TXT");
                self.s(
                    "\"v=DMARC1; p=reject; rua=mailto:dmarc-reports@example.com; adkim=s; aspf=s\"",
                );
                self.end(rtype::TXT);
            }
            Block::Caa => {
                self.new_label();
                let ttl = self.ttl();
                self.head(Owner::Label(b""), ttl, "CAA");
                self.s("0 issue \"letsencrypt.org\"");
                self.end(rtype::CAA);
                self.head(Owner::Same, ttl, "CAA");
                if self.rng.chance(1, 2) {
                    self.s("0 issuewild \";\"");
                } else {
                    self.s("128 issue \"ca.example.net; account=");
                    self.rand_num(1_000_000);
                    self.s("\"");
                }
                self.end(rtype::CAA);
            }
            Block::Wildcard => {
                self.new_label();
                let ttl = self.ttl();
                if self.rng.chance(1, 2) {
                    self.head(Owner::Label(b"*."), ttl, "A");
                    let a = self.ipv4();
                    self.write_ipv4(a);
                    self.end(rtype::A);
                } else {
                    self.head(Owner::Label(b"*."), ttl, "CNAME");
                    self.target();
                    self.end(rtype::CNAME);
                }
            }
            Block::Delegation => self.delegation(),
            Block::Signed => {
                // A host signed in place: A, its RRSIG, an NSEC and the NSEC's RRSIG, all at
                // the SOA minimum so the RRSIG RRset has one TTL.
                self.new_label();
                let ttl = SOA_MINIMUM;
                let labels = self.cur_labels + count_labels(&self.label);
                self.head(Owner::Label(b""), ttl, "A");
                let a = self.ipv4();
                self.write_ipv4(a);
                self.end(rtype::A);
                self.head(Owner::Same, ttl, "RRSIG");
                self.rrsig_rdata("A", labels, ttl);
                self.end(rtype::RRSIG);
                self.head(Owner::Same, ttl, "NSEC");
                self.s("zz");
                self.num(self.counter);
                self.origin_suffix();
                self.s(" A RRSIG NSEC");
                self.end(rtype::NSEC);
                self.head(Owner::Same, ttl, "RRSIG");
                self.rrsig_rdata("NSEC", labels, ttl);
                self.end(rtype::RRSIG);
                self.remember_host();
            }
        }
    }

    fn host(&mut self, n: usize, dual: bool) {
        self.new_label();
        let ttl = self.ttl();
        let a = self.ipv4();
        let n_a = if dual { 1 } else { n };
        for i in 0..n_a {
            let owner = if i == 0 {
                Owner::Label(b"")
            } else {
                Owner::Same
            };
            self.head(owner, ttl, "A");
            let mut ai = a;
            ai[3] ^= i as u8;
            self.write_ipv4(ai);
            self.end(rtype::A);
        }
        if dual {
            let net = self.rng.next_u64() as u16;
            let ttl = if self.rng.chance(1, 2) {
                ttl
            } else {
                self.ttl()
            };
            for i in 0..n - 1 {
                self.head(Owner::Same, ttl, "AAAA");
                self.write_ipv6(net, 0x10 + i as u16);
                self.end(rtype::AAAA);
            }
        }
        self.remember_host();
    }

    fn delegation(&mut self) {
        self.new_label();
        let with_ds = self.rng.chance(1, 3);
        // Five records: NS, NS, glue A, glue AAAA (or a second A), and DS when signed;
        // unsigned delegations use a third NS outside the zone instead.
        let ttl = 86400;
        self.head(Owner::Label(b""), ttl, "NS");
        self.s("ns1.");
        self.buf.extend_from_slice(&self.label);
        self.end(rtype::NS);
        self.head(Owner::Same, ttl, "NS");
        self.s("ns2.");
        self.buf.extend_from_slice(&self.label);
        self.end(rtype::NS);
        if with_ds {
            self.head(Owner::Same, ttl, "DS");
            self.rand_num(65536);
            self.s(" 13 2 ");
            let mut digest = [0u8; 32];
            self.rng.fill(&mut digest);
            let start = self.buf.len();
            self.buf.resize(start + 64, 0);
            data_encoding::HEXUPPER.encode_mut(&digest, &mut self.buf[start..]);
            self.end(rtype::DS);
        } else {
            self.head(Owner::Same, ttl, "NS");
            let ext = *self.rng.pick(&EXTERNAL[..2]);
            self.external(ext);
            self.end(rtype::NS);
        }
        self.head(Owner::Label(b"ns1."), ttl, "A");
        let a = self.ipv4();
        self.write_ipv4(a);
        self.end(rtype::A);
        if self.rng.chance(1, 2) {
            self.head(Owner::Label(b"ns2."), ttl, "AAAA");
            let net = self.rng.next_u64() as u16;
            self.write_ipv6(net, 0x53);
            self.end(rtype::AAAA);
        } else {
            self.head(Owner::Label(b"ns2."), ttl, "A");
            let a = self.ipv4();
            self.write_ipv4(a);
            self.end(rtype::A);
        }
    }
}

fn count_labels(relative: &[u8]) -> usize {
    1 + relative.iter().filter(|&&b| b == b'.').count()
}

fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn push_hex(buf: &mut Vec<u8>, v: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut started = false;
    for shift in [12u32, 8, 4, 0] {
        let d = ((v >> shift) & 0xf) as usize;
        if d != 0 || started || shift == 0 {
            buf.push(HEX[d]);
            started = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(origin: &str, records: usize, seed: u64) -> (Vec<u8>, GenStats) {
        let origin = Name::parse(origin, None).unwrap();
        let mut out = Vec::new();
        let stats = generate(&origin, records, seed, &mut out).unwrap();
        (out, stats)
    }

    #[test]
    fn exact_counts() {
        for records in [1, 2, 5, 17, 18, 19, 20, 30, 100, 1000, 12_345] {
            let (text, stats) = gen("example.com.", records, 7);
            assert_eq!(stats.records, records as u64);
            assert_eq!(stats.per_type.values().sum::<u64>(), records as u64);
            assert_eq!(stats.count(rtype::SOA), 1);
            assert_eq!(stats.bytes, text.len() as u64);
        }
        assert!(generate(&Name::root(), 0, 1, &mut Vec::new()).is_err());
    }

    #[test]
    fn deterministic_and_seed_dependent() {
        let (a, _) = gen("example.org.", 5000, 42);
        let (b, _) = gen("example.org.", 5000, 42);
        let (c, _) = gen("example.org.", 5000, 43);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn realistic_mix() {
        let (text, stats) = gen("example.com.", 100_000, 1);
        let text = String::from_utf8(text).unwrap();
        for t in [
            rtype::NS,
            rtype::A,
            rtype::AAAA,
            rtype::MX,
            rtype::TXT,
            rtype::CNAME,
            rtype::SRV,
            rtype::CAA,
            rtype::DS,
            rtype::DNSKEY,
            rtype::RRSIG,
            rtype::NSEC,
        ] {
            assert!(stats.count(t) > 0, "no {:?}", rtype::mnemonic(t));
        }
        assert!(stats.count(rtype::A) > stats.count(rtype::CNAME));
        assert!(text.matches("$ORIGIN").count() >= 3);
        assert!(text.matches("$TTL").count() >= 2);
        assert!(text.contains("*."));
        // A TXT longer than one string can hold, split in parentheses.
        let dkim = text.lines().position(|l| l.contains("v=DKIM1")).unwrap();
        let key_len: usize = text
            .lines()
            .skip(dkim + 1)
            .take(2)
            .map(|l| l.trim().trim_end_matches(" )").trim_matches('"').len())
            .sum();
        assert!(key_len > 255, "{key_len}");
        // Lines: no string over 255 bytes.
        for l in text.lines() {
            for (i, s) in l.split('"').enumerate() {
                assert!(i % 2 == 0 || s.len() <= 255, "{l}");
            }
        }
    }

    /// The output for a seed is fixed forever: benchmarks compare figures across commits.
    /// If this fails, the generator changed: bump it deliberately and say so in the commit.
    #[test]
    fn stable_output() {
        let (text, stats) = gen("example.com.", 20_000, 2026);
        let hash = xxhash_rust::xxh3::xxh3_64(&text);
        assert_eq!(stats.records, 20_000);
        assert_eq!(
            hash, 0x7b74_e663_20ae_176a,
            "generator output changed: {hash:#x}"
        );
    }

    /// The parser reads back exactly what the generator says it wrote, type by type.
    #[test]
    fn parses_back() {
        for (origin, records, seed) in [("example.com.", 30_000, 5), ("a.example.net.", 3_000, 6)] {
            let (text, stats) = gen(origin, records, seed);
            let text = String::from_utf8(text).unwrap();
            let opts = crate::zonefile::ParseOptions::new(Name::parse(origin, None).unwrap());
            let zone = crate::zonefile::parse_str(&text, std::path::Path::new("gen.zone"), &opts)
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(zone.warnings.is_empty(), "{:?}", zone.warnings.first());
            assert_eq!(zone.records.len(), records);
            let mut per_type = BTreeMap::new();
            for r in &zone.records {
                *per_type.entry(r.rtype).or_insert(0u64) += 1;
            }
            assert_eq!(per_type, stats.per_type);
        }
    }

    #[test]
    fn root_origin() {
        let (text, stats) = gen(".", 300, 3);
        assert_eq!(stats.records, 300);
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("$ORIGIN .\n"));
        assert!(!text.contains(".."));
    }
}
