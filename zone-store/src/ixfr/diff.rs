//! The difference between two versions of a zone, and condensing two differences into one.
//!
//! Records are compared by their canonical key: owner lower-cased, type, class, TTL, RDATA as
//! stored (names in RDATA keep their case: a change of case is sent as a delete and an add,
//! which a secondary applies to the same result). A changed RRset is the delete of its old
//! records and the add of its new ones, and an RRset whose TTL changed is a delete and an add of
//! every record (RFC 1995 sends records, not RRsets). SOA records are not part of a diff: the
//! IXFR framing carries them.
//!
//! Both versions are sorted by key and merged: O(n log n) for the sort, one pass for the merge,
//! no hash per record.

use crate::name::Name;
use crate::record::Record;
use crate::rtype::SOA as TYPE_SOA;

/// What changed from `from_serial` to `to_serial`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diff {
    pub from_serial: u32,
    pub to_serial: u32,
    /// Sorted by key, SOA excluded.
    pub deleted: Vec<Record>,
    /// Sorted by key, SOA excluded.
    pub added: Vec<Record>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.deleted.is_empty() && self.added.is_empty()
    }
}

/// The comparison key of a record.
pub fn key(r: &Record) -> Vec<u8> {
    let owner = r.owner.as_wire();
    let mut k = Vec::with_capacity(owner.len() + 10 + r.rdata.len());
    k.extend(owner.iter().map(u8::to_ascii_lowercase));
    k.extend_from_slice(&r.rtype.to_be_bytes());
    k.extend_from_slice(&r.class.to_be_bytes());
    k.extend_from_slice(&r.ttl.to_be_bytes());
    k.extend_from_slice(&r.rdata);
    k
}

fn keyed(records: Vec<Record>) -> Vec<(Vec<u8>, Record)> {
    let mut v: Vec<(Vec<u8>, Record)> = records
        .into_iter()
        .filter(|r| r.rtype != TYPE_SOA)
        .map(|r| (key(&r), r))
        .collect();
    v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    v.dedup_by(|a, b| a.0 == b.0);
    v
}

/// Records in `a` and not in `b`, and in `b` and not in `a`: both sorted by key.
fn merge(a: Vec<(Vec<u8>, Record)>, b: Vec<(Vec<u8>, Record)>) -> (Vec<Record>, Vec<Record>) {
    let (mut only_a, mut only_b) = (Vec::new(), Vec::new());
    let mut a = a.into_iter().peekable();
    let mut b = b.into_iter().peekable();
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => only_a.push(a.next().expect("peeked").1),
            (None, Some(_)) => only_b.push(b.next().expect("peeked").1),
            (Some(x), Some(y)) => match x.0.cmp(&y.0) {
                std::cmp::Ordering::Less => only_a.push(a.next().expect("peeked").1),
                std::cmp::Ordering::Greater => only_b.push(b.next().expect("peeked").1),
                std::cmp::Ordering::Equal => {
                    a.next();
                    b.next();
                }
            },
        }
    }
    (only_a, only_b)
}

/// The difference from `old` to `new` (records in any order; SOA records are ignored).
pub fn diff(old: Vec<Record>, new: Vec<Record>, from_serial: u32, to_serial: u32) -> Diff {
    let (deleted, added) = merge(keyed(old), keyed(new));
    Diff {
        from_serial,
        to_serial,
        deleted,
        added,
    }
}

/// `a` (v1 → v2) followed by `b` (v2 → v3) as one diff v1 → v3: a record added by one and
/// deleted by the other appears in neither.
pub fn compose(a: &Diff, b: &Diff) -> Diff {
    let set = |v: &[Record]| keyed(v.to_vec());
    let (a_del, a_add, b_del, b_add) = (
        set(&a.deleted),
        set(&a.added),
        set(&b.deleted),
        set(&b.added),
    );
    // deleted = (a.del - b.add) + (b.del - a.add); added = (a.add - b.del) + (b.add - a.del).
    let (a_del_kept, _) = merge(a_del.clone(), b_add.clone());
    let (b_del_kept, _) = merge(b_del.clone(), a_add.clone());
    let (a_add_kept, _) = merge(a_add, b_del);
    let (b_add_kept, _) = merge(b_add, a_del);
    let mut deleted = a_del_kept;
    deleted.extend(b_del_kept);
    let mut added = a_add_kept;
    added.extend(b_add_kept);
    let deleted = keyed(deleted).into_iter().map(|(_, r)| r).collect();
    let added = keyed(added).into_iter().map(|(_, r)| r).collect();
    Diff {
        from_serial: a.from_serial,
        to_serial: b.to_serial,
        deleted,
        added,
    }
}

/// `old` with `d` applied (for tests and checks): the records of the new version, SOA
/// excluded, sorted by key.
pub fn apply(old: Vec<Record>, d: &Diff) -> Vec<Record> {
    let (kept, _) = merge(keyed(old), keyed(d.deleted.clone()));
    let mut all = kept;
    all.extend(d.added.iter().cloned());
    keyed(all).into_iter().map(|(_, r)| r).collect()
}

/// Whether `name` is the zone's apex, for callers that split records by owner.
pub fn is_apex(name: &Name, origin: &Name) -> bool {
    name.eq_ignore_case(origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(owner: &str, rtype: u16, ttl: u32, rdata: &[u8]) -> Record {
        Record {
            owner: Name::parse(owner, None).unwrap(),
            rtype,
            class: 1,
            ttl,
            rdata: rdata.into(),
        }
    }

    fn keys(v: &[Record]) -> Vec<Vec<u8>> {
        let mut k: Vec<_> = v.iter().map(key).collect();
        k.sort();
        k
    }

    #[test]
    fn diff_apply_and_compose() {
        let v1 = vec![
            rec("a.example.", 1, 300, &[10, 0, 0, 1]),
            rec("b.example.", 1, 300, &[10, 0, 0, 2]),
            rec("c.example.", 1, 300, &[10, 0, 0, 3]),
            rec("c.example.", 1, 300, &[10, 0, 0, 4]),
        ];
        // v2: b deleted, d added, c's RRset changed, a's TTL changed.
        let v2 = vec![
            rec("A.example.", 1, 600, &[10, 0, 0, 1]),
            rec("c.example.", 1, 300, &[10, 0, 0, 5]),
            rec("d.example.", 1, 300, &[10, 0, 0, 6]),
        ];
        // v3: b back, d gone again, e added.
        let v3 = vec![
            rec("a.example.", 1, 600, &[10, 0, 0, 1]),
            rec("b.example.", 1, 300, &[10, 0, 0, 2]),
            rec("c.example.", 1, 300, &[10, 0, 0, 5]),
            rec("e.example.", 1, 300, &[10, 0, 0, 7]),
        ];
        let d12 = diff(v1.clone(), v2.clone(), 1, 2);
        assert_eq!(d12.deleted.len(), 4, "a (ttl), b, both c");
        assert_eq!(d12.added.len(), 3, "a (ttl), c, d");
        assert_eq!(keys(&apply(v1.clone(), &d12)), keys(&v2));
        let d23 = diff(v2.clone(), v3.clone(), 2, 3);
        let d13 = compose(&d12, &d23);
        assert_eq!((d13.from_serial, d13.to_serial), (1, 3));
        assert_eq!(keys(&apply(v1.clone(), &d13)), keys(&v3));
        let direct = diff(v1, v3, 1, 3);
        assert_eq!(keys(&d13.deleted), keys(&direct.deleted));
        assert_eq!(keys(&d13.added), keys(&direct.added));
        // b deleted then re-added and d added then deleted appear in neither.
        assert_eq!(d13.deleted.len() + d13.added.len(), 6, "a twice, c three times, e");
    }

    #[test]
    fn owner_case_and_soa_are_not_changes() {
        let soa = |serial: u8| rec("example.", TYPE_SOA, 300, &[0, 0, 0, 0, serial]);
        let d = diff(
            vec![soa(1), rec("Www.example.", 1, 300, &[1, 2, 3, 4])],
            vec![soa(2), rec("www.EXAMPLE.", 1, 300, &[1, 2, 3, 4])],
            1,
            2,
        );
        assert!(d.is_empty());
    }
}
