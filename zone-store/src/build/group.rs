//! Records in file order → RRsets in first-appearance order, SOA first, exact duplicates dropped,
//! TTLs inside an RRset made equal.
//!
//! What BIND 9.18 does, checked with `named-checkzone -D` on this machine, and done the same here:
//! - A record whose TTL differs from the TTL of the first record of its RRset gets that first
//!   TTL, with a warning ("TTL set to prior TTL (300)"); RFC 2181 section 5.2 says TTLs in an
//!   RRset must be equal. RRSIG records form one RRset per covered type (RFC 4034 section 3:
//!   their TTL follows the covered RRset's), so the covered type is part of the key.
//! - Duplicate records are dropped silently, and names inside RDATA compare case-insensitively
//!   (`NS ns1` and `NS NS1` are one record; BIND compares RDATA in canonical form, RFC 4034
//!   section 6.2). We keep the first occurrence and report a count.
//! - Owner names compare case-insensitively; the first spelling seen is kept for each record
//!   (the renderer writes each record's owner as written).

use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::name::{wire_name_len, Name};
use crate::record::Record;
use crate::rtype;

/// One RRset: `len` entries of `Plan::order` from `start`, all written with `ttl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: u32,
    pub len: u32,
    pub ttl: u32,
}

/// The RRsets of a zone, SOA first, as indices into the record slice.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub order: Vec<u32>,
    pub rrsets: Vec<Span>,
    pub duplicates: u64,
    /// (record index, first TTL of its RRset) for every record whose TTL was changed.
    pub ttl_changes: Vec<(u32, u32)>,
    /// (dropped record index, kept record index).
    pub duplicates_seen: Vec<(u32, u32)>,
}

/// Most duplicates and TTL changes remembered for warnings; the counts are always exact.
pub(crate) const NOTES_MAX: usize = 1000;

struct Key<'a> {
    owner: &'a Name,
    rtype: u16,
    class: u16,
    covered: u16,
}

impl Hash for Key<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut h = fold_lower(0x243F_6A88_85A3_08D3, self.owner.as_wire());
        h = mix(h ^ ((self.rtype as u64) << 32 | (self.class as u64) << 16 | self.covered as u64));
        state.write_u64(h);
    }
}

impl PartialEq for Key<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.rtype == o.rtype
            && self.class == o.class
            && self.covered == o.covered
            && self.owner.eq_ignore_case(o.owner)
    }
}
impl Eq for Key<'_> {}

/// Passes the one `u64` that [`Key`] computes straight through.
#[derive(Default)]
struct PassHasher(u64);
impl Hasher for PassHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fold_lower(self.0, bytes);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

#[inline]
fn mix(mut h: u64) -> u64 {
    h = (h ^ (h >> 32)).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    h ^ (h >> 32)
}

/// Hash of bytes with ASCII letters lowered.
fn fold_lower(mut h: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = mix(h ^ lower8(w));
    }
    let rest = chunks.remainder();
    let mut tail = [0u8; 8];
    tail[..rest.len()].copy_from_slice(rest);
    mix(h ^ lower8(u64::from_le_bytes(tail)) ^ (bytes.len() as u64).rotate_left(56))
}

/// ASCII-lowercases eight bytes at once (SWAR): adds 0x20 to each byte in `A..=Z`.
#[inline]
fn lower8(w: u64) -> u64 {
    const H: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    let heptets = w & !H;
    let ge_a = heptets.wrapping_add(ONES * (0x80 - b'A' as u64));
    let gt_z = heptets.wrapping_add(ONES * (0x80 - b'Z' as u64 - 1));
    let is_upper = ge_a & !gt_z & !w & H;
    w | (is_upper >> 2)
}

/// The RRSIG key includes the covered type (first two RDATA bytes).
fn covered(r: &Record) -> u16 {
    if (r.rtype == rtype::RRSIG || r.rtype == rtype::SIG) && r.rdata.len() >= 2 {
        u16::from_be_bytes([r.rdata[0], r.rdata[1]])
    } else {
        0
    }
}

/// Where the names are in RDATA of types whose names compare case-insensitively (RFC 4034
/// section 6.2, as BIND applies it): fixed bytes before, number of names; bytes after the names
/// compare exactly.
fn name_layout(t: u16) -> Option<(usize, usize)> {
    Some(match t {
        rtype::NS
        | rtype::MD
        | rtype::MF
        | rtype::CNAME
        | rtype::MB
        | rtype::MG
        | rtype::MR
        | rtype::PTR
        | rtype::DNAME => (0, 1),
        rtype::SOA | rtype::MINFO | rtype::RP => (0, 2),
        rtype::MX | rtype::AFSDB | rtype::RT | rtype::KX => (2, 1),
        rtype::PX => (2, 2),
        rtype::SRV => (6, 1),
        _ => return None,
    })
}

/// RDATA equality as BIND sees it: names case-insensitively, everything else exactly.
fn rdata_eq(t: u16, a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    if a.len() != b.len() {
        return false;
    }
    let Some((pre, names)) = name_layout(t) else {
        return false;
    };
    if a.len() < pre || a[..pre] != b[..pre] {
        return false;
    }
    let mut p = pre;
    for _ in 0..names {
        let (Ok(la), Ok(lb)) = (wire_name_len(&a[p..]), wire_name_len(&b[p..])) else {
            return false;
        };
        if la != lb || !a[p..p + la].eq_ignore_ascii_case(&b[p..p + la]) {
            return false;
        }
        p += la;
    }
    a[p..] == b[p..]
}

/// Groups `records` into RRsets. `soa` is the index of the zone's SOA record.
pub(crate) fn plan(records: &[Record], soa: usize) -> Plan {
    let n = records.len();
    let mut map: std::collections::HashMap<Key<'_>, u32, BuildHasherDefault<PassHasher>> =
        std::collections::HashMap::with_capacity_and_hasher(n / 2 + 16, Default::default());
    let mut rrset_of: Vec<u32> = Vec::with_capacity(n);
    let mut first_of: Vec<u32> = Vec::new(); // first record of each RRset
    let mut prev: Option<(usize, u32)> = None;
    for (i, r) in records.iter().enumerate() {
        // Consecutive records of one RRset are the common case: skip the map for them.
        if let Some((p, id)) = prev {
            let q = &records[p];
            if q.rtype == r.rtype
                && q.class == r.class
                && covered(q) == covered(r)
                && q.owner.eq_ignore_case(&r.owner)
            {
                rrset_of.push(id);
                prev = Some((i, id));
                continue;
            }
        }
        let key = Key {
            owner: &r.owner,
            rtype: r.rtype,
            class: r.class,
            covered: covered(r),
        };
        let next = first_of.len() as u32;
        let id = *map.entry(key).or_insert(next);
        if id == next {
            first_of.push(i as u32);
        }
        rrset_of.push(id);
        prev = Some((i, id));
    }
    drop(map);
    let sets = first_of.len();
    // Counting sort by RRset id keeps file order inside each RRset.
    let mut start = vec![0u32; sets + 1];
    for &id in &rrset_of {
        start[id as usize + 1] += 1;
    }
    for k in 0..sets {
        start[k + 1] += start[k];
    }
    let mut fill = start.clone();
    let mut grouped = vec![0u32; n];
    for (i, &id) in rrset_of.iter().enumerate() {
        grouped[fill[id as usize] as usize] = i as u32;
        fill[id as usize] += 1;
    }
    drop(rrset_of);
    drop(fill);

    let soa_set = {
        // The SOA's RRset id: the one whose range holds `soa`.
        let mut id = 0usize;
        for k in 0..sets {
            let (a, b) = (start[k] as usize, start[k + 1] as usize);
            if grouped[a..b].contains(&(soa as u32)) {
                id = k;
                break;
            }
        }
        id
    };

    let mut plan = Plan {
        order: Vec::with_capacity(n),
        rrsets: Vec::with_capacity(sets),
        ..Plan::default()
    };
    let mut keyed: Vec<(u64, u32)> = Vec::new();
    let mut keep: Vec<u32> = Vec::new();
    let ids = std::iter::once(soa_set).chain((0..sets).filter(|&k| k != soa_set));
    for k in ids {
        let members = &grouped[start[k] as usize..start[k + 1] as usize];
        let ttl = records[members[0] as usize].ttl;
        keep.clear();
        dedup(records, members, &mut keyed, &mut keep, &mut plan);
        let at = plan.order.len() as u32;
        for &i in &keep {
            if records[i as usize].ttl != ttl && plan.ttl_changes.len() < NOTES_MAX {
                plan.ttl_changes.push((i, ttl));
            }
        }
        plan.order.extend_from_slice(&keep);
        plan.rrsets.push(Span {
            start: at,
            len: keep.len() as u32,
            ttl,
        });
    }
    plan
}

/// Appends the members of one RRset to `keep`, without duplicates, in file order.
fn dedup(
    records: &[Record],
    members: &[u32],
    keyed: &mut Vec<(u64, u32)>,
    keep: &mut Vec<u32>,
    plan: &mut Plan,
) {
    let note = |plan: &mut Plan, dropped: u32, kept: u32| {
        plan.duplicates += 1;
        if plan.duplicates_seen.len() < NOTES_MAX {
            plan.duplicates_seen.push((dropped, kept));
        }
    };
    let t = records[members[0] as usize].rtype;
    if members.len() <= 16 {
        'm: for &i in members {
            for &j in keep.iter() {
                if rdata_eq(t, &records[i as usize].rdata, &records[j as usize].rdata) {
                    note(plan, i, j);
                    continue 'm;
                }
            }
            keep.push(i);
        }
        return;
    }
    // Large RRsets: sort by a hash consistent with `rdata_eq` (lowered bytes), compare within
    // runs of equal hashes.
    keyed.clear();
    keyed.extend(
        members
            .iter()
            .map(|&i| (fold_lower(7, &records[i as usize].rdata), i)),
    );
    keyed.sort_unstable();
    let mut dropped: Vec<u32> = Vec::new();
    let mut a = 0;
    while a < keyed.len() {
        let mut b = a + 1;
        while b < keyed.len() && keyed[b].0 == keyed[a].0 {
            b += 1;
        }
        for x in a + 1..b {
            for y in a..x {
                let (iy, ix) = (keyed[y].1, keyed[x].1);
                if dropped.binary_search(&iy).is_err()
                    && rdata_eq(t, &records[ix as usize].rdata, &records[iy as usize].rdata)
                {
                    // keyed is sorted by index inside a run: y is the earlier record.
                    note(plan, ix, iy);
                    if let Err(pos) = dropped.binary_search(&ix) {
                        dropped.insert(pos, ix);
                    }
                    break;
                }
            }
        }
        a = b;
    }
    keep.extend(
        members
            .iter()
            .copied()
            .filter(|i| dropped.binary_search(i).is_err()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower8_matches_ascii_lowercase() {
        for b in 0..=255u8 {
            let w = u64::from_le_bytes([b; 8]);
            assert_eq!(
                lower8(w),
                u64::from_le_bytes([b.to_ascii_lowercase(); 8]),
                "byte {b}"
            );
        }
    }

    #[test]
    fn rdata_eq_lowers_names_only() {
        let a = b"\x00\x01\x00\x02\x00\x41\x03ns1\x00";
        let b = b"\x00\x01\x00\x02\x00\x61\x03NS1\x00";
        let c = b"\x00\x01\x00\x02\x00\x41\x03NS1\x00";
        assert!(!rdata_eq(rtype::SRV, a, b)); // port 0x41 vs 0x61
        assert!(rdata_eq(rtype::SRV, a, c));
        assert!(!rdata_eq(rtype::TXT, b"\x01a", b"\x01A"));
    }
}
