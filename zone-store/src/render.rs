//! The message renderer: turns records into the answer sections ("bodies") of AXFR messages,
//! with full name compression.
//!
//! What it owns: the body layout contract with the engine, the compression table, packing RRsets
//! into messages, and a decoder for bodies ([`decode`]) used by tests and the dump tool.
//! What it does not own: grouping records into RRsets ([`crate::build`]), the 12-byte header and
//! the question (the engine writes them per transfer; [`header_template`] is the one we assume).
//!
//! Layout contract: a body is rendered as if it starts at offset [`body_base`] of its message,
//! right after the 12-byte header and one question for the zone's origin (name, QTYPE, QCLASS).
//! Compression pointers in a body point only into the same body, never into the header or the
//! question, so the engine may copy the client's question as written (any case) in front of it.
//!
//! Compression (RFC 1035 section 4.1.4): every owner name, and every RDATA name of the types RFC
//! 3597 section 4 allows ([`rtype::rdata_names_compressible`]), points at the longest suffix
//! already written in the message. Matching is exact (case-sensitive), so the names a secondary
//! decodes are byte for byte the names of the zone file. A pointer holds 14 bits, so only
//! suffixes written before offset 0x4000 become targets. Names inside the RDATA of other types
//! are copied verbatim and never become pointer targets.
//!
//! Packing: RRsets stay whole in one message unless an RRset alone is larger than the target, in
//! which case it is split between records; one record larger than the target gets a message of
//! its own (at most [`MESSAGE_BYTES_MAX`] bytes with header and question).

pub mod decode;

use crate::name::Name;
use crate::record::Record;
use crate::rtype;

/// Largest DNS message over TCP: the 2-byte length prefix (RFC 1035 section 4.2.2).
pub const MESSAGE_BYTES_MAX: usize = 65535;
/// The fixed DNS header (RFC 1035 section 4.1.1).
pub const HEADER_BYTES: usize = 12;
/// Highest message offset a compression pointer can hold (14 bits, RFC 1035 section 4.1.4).
pub const POINTER_OFFSET_MAX: usize = 0x3FFF;

/// Default size of a message (header and question included) the renderer packs up to.
///
/// Chosen by measurement: the 1,000,000-record zone of `zone_store::gen` (seed 1, origin
/// `example.com.`, 45.6 MB of text), built with each target (`ZONE_STORE_PERF_ZONE=<file> cargo
/// test --release -p zone-store --test build_perf -- --ignored --nocapture --exact
/// message_size_table`). Wire bytes are what one AXFR puts on the TCP stream: per message the
/// 2-byte length, the header and the question, plus the body.
///
/// | target bytes | messages | wire bytes | bytes/record |
/// |---|---|---|---|
/// | 8192 | 4468 | 36,267,546 | 36.3 |
/// | 12288 | 2964 | 36,091,337 | 36.1 |
/// | **16383** | **2217** | **35,989,709** | **36.0** |
/// | 32768 | 1228 | 39,660,561 | 39.7 |
/// | 65535 | 656 | 41,897,013 | 41.9 |
///
/// 16383 is the largest size in which every offset is reachable by a 14-bit pointer: above it,
/// names written past 0x3FFF cannot be pointed at and the bytes grow (+10% at 32K, +16% at
/// 64K); below it, more headers and questions and fewer names to point at. nsd 4.6 serving the
/// same file sent 2234 messages and 36,487,958 message bytes (`dig AXFR +stats`, which counts
/// messages without the length prefix); ours are 35,985,275 on that count, 1.4% less.
pub const MESSAGE_BYTES_TARGET_DEFAULT: usize = 16383;
/// Smallest target accepted: a message must hold at least a typical RRset.
pub const MESSAGE_BYTES_TARGET_MIN: usize = 512;

const _: () = assert!(MESSAGE_BYTES_TARGET_DEFAULT <= MESSAGE_BYTES_MAX);
const _: () = assert!(MESSAGE_BYTES_TARGET_MIN <= MESSAGE_BYTES_TARGET_DEFAULT);

/// Slots in the per-message compression table. Only offsets up to [`POINTER_OFFSET_MAX`] are
/// stored and every stored suffix starts a distinct label of at least 2 bytes, so at most
/// 8192 entries exist: the load factor stays at or below one half.
const COMPRESS_SLOTS: usize = 16384;
const _: () = assert!(COMPRESS_SLOTS.is_power_of_two());
// Twice the most entries: (POINTER_OFFSET_MAX + 1) / 2.
const _: () = assert!(COMPRESS_SLOTS > POINTER_OFFSET_MAX);

/// Most labels in a name: 255 bytes, each label at least 2 bytes, plus the root.
const LABELS_MAX: usize = 128;

/// Offset of the first body byte in every message: header plus one question for `origin`.
pub fn body_base(origin: &Name) -> usize {
    HEADER_BYTES + origin.wire_len() + 4
}

/// The header the bodies assume: ID 0 (the engine puts the query's), QR and AA set, opcode
/// QUERY, RCODE 0, one question, `ancount` answers, no authority or additional records.
pub fn header_template(ancount: u16) -> [u8; HEADER_BYTES] {
    let an = ancount.to_be_bytes();
    [0, 0, 0x84, 0, 0, 1, an[0], an[1], 0, 0, 0, 0]
}

/// A complete message: header (with `id`), the question `origin`/AXFR/`class`, then `body`.
/// For tests and tools; the engine assembles messages with vectored sends instead.
pub fn assemble_message(id: u16, origin: &Name, class: u16, body: &[u8], ancount: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(body_base(origin) + body.len());
    m.extend_from_slice(&header_template(ancount));
    m[..2].copy_from_slice(&id.to_be_bytes());
    m.extend_from_slice(origin.as_wire());
    m.extend_from_slice(&rtype::AXFR.to_be_bytes());
    m.extend_from_slice(&class.to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// Why records cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    #[error("{owner} type {rtype}: RDATA is {len} bytes, more than 65535")]
    RdataTooLong { owner: Name, rtype: u16, len: usize },
    #[error("{owner} type {rtype}: malformed domain name in RDATA")]
    MalformedRdata { owner: Name, rtype: u16 },
    #[error(
        "{owner} type {rtype}: record takes {bytes} bytes, more than the {room} bytes a message \
         has room for"
    )]
    RecordTooLarge {
        owner: Name,
        rtype: u16,
        bytes: usize,
        room: usize,
    },
}

/// One message of a rendered range: its body length and answer count. Bodies lie back to back
/// in [`RangeOutput::bodies`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageSpan {
    pub len: u32,
    pub ancount: u16,
}

/// The messages rendered for one range of RRsets.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RangeOutput {
    pub bodies: Vec<u8>,
    pub messages: Vec<MessageSpan>,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    generation: u32,
    hash: u32,
    offset: u16,
}

/// Renders records into message bodies. Holds the compression table and is reused across
/// messages and ranges, so rendering allocates nothing per record (the output `Vec` grows
/// geometrically).
pub struct Renderer {
    slots: Box<[Slot]>,
    generation: u32,
    /// Offset of the body in its message ([`body_base`]).
    base: usize,
    /// Body bytes a message may take before it is full (from the target).
    room_target: usize,
    /// Body bytes a message may never exceed (from [`MESSAGE_BYTES_MAX`]).
    room_max: usize,
    /// The last name written and where it can be pointed at, valid while `last_generation`
    /// is the table's: consecutive records mostly share their owner, and this skips the
    /// hashing and lookups for them.
    last_name: [u8; crate::name::NAME_BYTES_MAX],
    last_len: usize,
    last_target: u16,
    last_generation: u32,
}

/// An item to render: a record and the TTL to write (the RRset's).
#[derive(Clone, Copy)]
pub struct Item<'a> {
    pub record: &'a Record,
    pub ttl: u32,
}

impl Renderer {
    /// A renderer for bodies of `origin`'s messages, packing up to `message_bytes_target` bytes
    /// (header and question included; clamped to [`MESSAGE_BYTES_MAX`]).
    pub fn new(origin: &Name, message_bytes_target: usize) -> Renderer {
        let base = body_base(origin);
        let target = message_bytes_target.clamp(base + 1, MESSAGE_BYTES_MAX);
        Renderer {
            slots: vec![Slot::default(); COMPRESS_SLOTS].into_boxed_slice(),
            generation: 1,
            base,
            room_target: target - base,
            room_max: MESSAGE_BYTES_MAX - base,
            last_name: [0; crate::name::NAME_BYTES_MAX],
            last_len: 0,
            last_target: 0,
            last_generation: 0,
        }
    }

    fn reset_table(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.slots.fill(Slot::default());
            self.generation = 1;
        }
    }

    /// Renders RRsets (each a slice of items) into `out`, starting a fresh message. RRsets are
    /// kept whole where they fit; see the module docs for the packing rules.
    pub fn render_rrsets<'s, 'r: 's, I>(
        &mut self,
        rrsets: I,
        out: &mut RangeOutput,
    ) -> Result<(), RenderError>
    where
        I: IntoIterator<Item = &'s [Item<'r>]>,
    {
        let mut msg = Open {
            start: out.bodies.len(),
            ancount: 0,
        };
        self.reset_table();
        for rrset in rrsets {
            self.place_rrset(rrset, out, &mut msg)?;
        }
        if msg.ancount > 0 {
            self.close(out, &mut msg);
        }
        Ok(())
    }

    fn close(&mut self, out: &mut RangeOutput, msg: &mut Open) {
        let len = out.bodies.len() - msg.start;
        assert!(msg.ancount > 0 && len <= self.room_max, "message overflow");
        out.messages.push(MessageSpan {
            len: len as u32,
            ancount: msg.ancount,
        });
        msg.start = out.bodies.len();
        msg.ancount = 0;
        self.reset_table();
    }

    fn place_rrset(
        &mut self,
        rrset: &[Item<'_>],
        out: &mut RangeOutput,
        msg: &mut Open,
    ) -> Result<(), RenderError> {
        if rrset.is_empty() {
            return Ok(());
        }
        let mark = out.bodies.len();
        for item in rrset {
            self.write_record(item, &mut out.bodies, msg.start)?;
        }
        if out.bodies.len() - msg.start <= self.room_target
            && msg.ancount as usize + rrset.len() <= u16::MAX as usize
        {
            msg.ancount += rrset.len() as u16;
            return Ok(());
        }
        // Does not fit: move the RRset to a fresh message.
        out.bodies.truncate(mark);
        if msg.ancount > 0 {
            self.close(out, msg);
            for item in rrset {
                self.write_record(item, &mut out.bodies, msg.start)?;
            }
            if out.bodies.len() - msg.start <= self.room_target && rrset.len() <= u16::MAX as usize
            {
                msg.ancount = rrset.len() as u16;
                return Ok(());
            }
            out.bodies.truncate(msg.start);
        }
        // The table may name suffixes in the bytes just dropped.
        self.reset_table();
        // The RRset alone is larger than a message: split it between records.
        for item in rrset {
            let mark = out.bodies.len();
            self.write_record(item, &mut out.bodies, msg.start)?;
            if out.bodies.len() - msg.start <= self.room_target && msg.ancount < u16::MAX {
                msg.ancount += 1;
                continue;
            }
            if msg.ancount > 0 {
                out.bodies.truncate(mark);
                self.close(out, msg);
                self.write_record(item, &mut out.bodies, msg.start)?;
            }
            let bytes = out.bodies.len() - msg.start;
            if bytes <= self.room_target {
                msg.ancount = 1;
            } else if bytes <= self.room_max {
                // One record larger than the target: a message of its own.
                msg.ancount = 1;
                self.close(out, msg);
            } else {
                out.bodies.truncate(msg.start);
                return Err(RenderError::RecordTooLarge {
                    owner: item.record.owner.clone(),
                    rtype: item.record.rtype,
                    bytes,
                    room: self.room_max,
                });
            }
        }
        Ok(())
    }

    /// Appends one record to the body that starts at `out[msg_start]`.
    fn write_record(
        &mut self,
        item: &Item<'_>,
        out: &mut Vec<u8>,
        msg_start: usize,
    ) -> Result<(), RenderError> {
        let r = item.record;
        if r.rdata.len() > u16::MAX as usize {
            return Err(RenderError::RdataTooLong {
                owner: r.owner.clone(),
                rtype: r.rtype,
                len: r.rdata.len(),
            });
        }
        let record_start = out.len();
        self.write_name(r.owner.as_wire(), out, msg_start);
        out.extend_from_slice(&r.rtype.to_be_bytes());
        out.extend_from_slice(&r.class.to_be_bytes());
        out.extend_from_slice(&item.ttl.to_be_bytes());
        let rdlen_at = out.len();
        out.extend_from_slice(&[0, 0]);
        let ok = if rtype::rdata_names_compressible(r.rtype) {
            self.write_compressible_rdata(r.rtype, &r.rdata, out, msg_start)
        } else {
            out.extend_from_slice(&r.rdata);
            true
        };
        if !ok {
            out.truncate(record_start);
            return Err(RenderError::MalformedRdata {
                owner: r.owner.clone(),
                rtype: r.rtype,
            });
        }
        let rdlen = out.len() - rdlen_at - 2;
        debug_assert!(rdlen <= r.rdata.len());
        out[rdlen_at..rdlen_at + 2].copy_from_slice(&(rdlen as u16).to_be_bytes());
        Ok(())
    }

    /// RDATA of the RFC 1035 types: names compressed, the rest copied. False if the names do not
    /// exactly tile the RDATA as the type's layout says.
    fn write_compressible_rdata(
        &mut self,
        t: u16,
        rdata: &[u8],
        out: &mut Vec<u8>,
        msg_start: usize,
    ) -> bool {
        // (fixed bytes before the names, number of names, fixed bytes after).
        let (pre, names, post) = match t {
            rtype::SOA => (0, 2, 20),
            rtype::MINFO => (0, 2, 0),
            rtype::MX => (2, 1, 0),
            _ => (0, 1, 0), // NS MD MF CNAME MB MG MR PTR
        };
        if rdata.len() < pre {
            return false;
        }
        out.extend_from_slice(&rdata[..pre]);
        let mut pos = pre;
        for _ in 0..names {
            let Ok(len) = crate::name::wire_name_len(&rdata[pos..]) else {
                return false;
            };
            self.write_name(&rdata[pos..pos + len], out, msg_start);
            pos += len;
        }
        if rdata.len() - pos != post {
            return false;
        }
        out.extend_from_slice(&rdata[pos..]);
        true
    }

    /// Writes a valid uncompressed wire name, pointing at the longest suffix already in the
    /// message, and registers the suffixes written out as literal labels.
    fn write_name(&mut self, name: &[u8], out: &mut Vec<u8>, msg_start: usize) {
        if self.last_generation == self.generation && name == &self.last_name[..self.last_len] {
            out.extend_from_slice(&(0xC000 | self.last_target).to_be_bytes());
            return;
        }
        let mut starts = [0u8; LABELS_MAX];
        let mut hashes = [0u64; LABELS_MAX];
        let mut labels = 0usize;
        let mut p = 0usize;
        while name[p] != 0 {
            starts[labels] = p as u8;
            labels += 1;
            p += 1 + name[p] as usize;
        }
        // Hash every suffix, from the root leftwards.
        let mut h = 0x9E37_79B9_7F4A_7C15u64;
        for i in (0..labels).rev() {
            let s = starts[i] as usize;
            h = hash_label(h, &name[s..s + 1 + name[s] as usize]);
            hashes[i] = h;
        }
        // Longest suffix first.
        let mut matched = labels;
        let mut target = 0u16;
        for i in 0..labels {
            if let Some(off) = self.lookup(hashes[i], &name[starts[i] as usize..], out, msg_start) {
                matched = i;
                target = off;
                break;
            }
        }
        let name_at = self.base + (out.len() - msg_start);
        let literal_end = if matched < labels {
            starts[matched] as usize
        } else {
            name.len()
        };
        out.extend_from_slice(&name[..literal_end]);
        if matched < labels {
            debug_assert!(target as usize <= POINTER_OFFSET_MAX);
            out.extend_from_slice(&(0xC000 | target).to_be_bytes());
        }
        for i in 0..matched {
            let off = name_at + starts[i] as usize;
            if off > POINTER_OFFSET_MAX {
                break;
            }
            self.insert(hashes[i], off as u16);
        }
        // Where the whole name can be pointed at next time, if anywhere.
        let whole = if matched == 0 {
            Some(target)
        } else if name_at <= POINTER_OFFSET_MAX {
            Some(name_at as u16)
        } else {
            None
        };
        if let Some(t) = whole.filter(|_| labels > 0) {
            self.last_name[..name.len()].copy_from_slice(name);
            self.last_len = name.len();
            self.last_target = t;
            self.last_generation = self.generation;
        }
    }

    fn lookup(&self, hash: u64, suffix: &[u8], out: &[u8], msg_start: usize) -> Option<u16> {
        let mask = COMPRESS_SLOTS - 1;
        let tag = (hash >> 32) as u32;
        let mut i = hash as usize & mask;
        loop {
            let s = self.slots[i];
            if s.generation != self.generation {
                return None;
            }
            if s.hash == tag && self.suffix_at(s.offset as usize, suffix, out, msg_start) {
                return Some(s.offset);
            }
            i = (i + 1) & mask;
        }
    }

    fn insert(&mut self, hash: u64, offset: u16) {
        let mask = COMPRESS_SLOTS - 1;
        let mut i = hash as usize & mask;
        while self.slots[i].generation == self.generation {
            i = (i + 1) & mask;
        }
        self.slots[i] = Slot {
            generation: self.generation,
            hash: (hash >> 32) as u32,
            offset,
        };
    }

    /// True if the (possibly compressed) name at message offset `offset` equals `suffix`
    /// byte for byte.
    fn suffix_at(&self, offset: usize, suffix: &[u8], out: &[u8], msg_start: usize) -> bool {
        let body = &out[msg_start..];
        let mut at = offset; // message offset
        let mut sp = 0usize; // position in suffix
        loop {
            let Some(&len) = at.checked_sub(self.base).and_then(|b| body.get(b)) else {
                return false;
            };
            if len & 0xC0 == 0xC0 {
                let Some(&lo) = body.get(at - self.base + 1) else {
                    return false;
                };
                let next = ((len as usize & 0x3F) << 8) | lo as usize;
                if next >= at {
                    return false; // only backwards pointers: the walk ends
                }
                at = next;
                continue;
            }
            let l = len as usize;
            let b = at - self.base;
            if suffix.get(sp) != Some(&len) || body.len() < b + 1 + l || suffix.len() < sp + 1 + l {
                return false;
            }
            if l == 0 {
                return true;
            }
            if body[b + 1..b + 1 + l] != suffix[sp + 1..sp + 1 + l] {
                return false;
            }
            at += 1 + l;
            sp += 1 + l;
        }
    }
}

struct Open {
    start: usize,
    ancount: u16,
}

/// Mixes one label (length byte and bytes) into a suffix hash.
#[inline]
fn hash_label(mut h: u64, label: &[u8]) -> u64 {
    const K: u64 = 0xF135_7AEA_2E62_A9C5;
    let mut chunks = label.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h ^ w).wrapping_mul(K).rotate_left(26);
    }
    let rest = chunks.remainder();
    h = (h ^ load_tail(rest) ^ ((rest.len() as u64) << 59)).wrapping_mul(K);
    h ^ (h >> 29)
}

/// The last 0-7 bytes of a hashed string as one word, the same for equal input (not a
/// faithful copy for 1-3 bytes, which is fine for a hash). Two overlapping loads instead of a
/// copy through the stack, which made the CPU wait on store forwarding (seen in perf on the
/// instruction after the copy).
#[inline]
pub(crate) fn load_tail(rest: &[u8]) -> u64 {
    let n = rest.len();
    if n >= 4 {
        let lo = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as u64;
        let hi = u32::from_le_bytes(rest[n - 4..].try_into().expect("4 bytes")) as u64;
        lo | hi << (8 * (n - 4))
    } else if n > 0 {
        rest[0] as u64 | (rest[n / 2] as u64) << 8 | (rest[n - 1] as u64) << 16
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::CLASS_IN;

    fn n(s: &str) -> Name {
        Name::parse(s, None).unwrap()
    }

    fn rec(owner: &str, t: u16, rdata: &[u8]) -> Record {
        Record {
            owner: n(owner),
            rtype: t,
            class: CLASS_IN,
            ttl: 300,
            rdata: rdata.into(),
        }
    }

    #[test]
    fn owner_and_rdata_names_point_at_longest_suffix() {
        let origin = n("example.com.");
        let base = body_base(&origin);
        let ns = rec("example.com.", rtype::NS, n("ns1.example.com.").as_wire());
        let a = rec("ns1.example.com.", rtype::A, &[192, 0, 2, 1]);
        let items = [
            Item {
                record: &ns,
                ttl: 300,
            },
            Item {
                record: &a,
                ttl: 300,
            },
        ];
        let mut r = Renderer::new(&origin, 16383);
        let mut out = RangeOutput::default();
        r.render_rrsets([&items[..1], &items[1..]], &mut out)
            .unwrap();
        let b = &out.bodies;
        // Owner: literal example.com.; NS rdata: "ns1" + pointer to base.
        assert_eq!(&b[..13], origin.as_wire());
        let rd = 13 + 10;
        assert_eq!(&b[rd..rd + 4], b"\x03ns1");
        assert_eq!(&b[rd + 4..rd + 6], &(0xC000u16 | base as u16).to_be_bytes());
        // The A owner points at the NS target name.
        let a_at = rd + 6;
        assert_eq!(
            &b[a_at..a_at + 2],
            &(0xC000u16 | (base + rd) as u16).to_be_bytes()
        );
        assert_eq!(
            out.messages,
            vec![MessageSpan {
                len: b.len() as u32,
                ancount: 2
            }]
        );
    }

    #[test]
    fn load_tail_sees_every_byte() {
        for n in 0..8usize {
            let a: Vec<u8> = (1..=n as u8).collect();
            for k in 0..n {
                let mut b = a.clone();
                b[k] ^= 0x40;
                assert_ne!(load_tail(&a), load_tail(&b), "length {n}, byte {k}");
            }
        }
    }

    #[test]
    fn compression_is_case_exact() {
        let origin = n("example.com.");
        let a = rec("www.Example.com.", rtype::A, &[1, 2, 3, 4]);
        let b = rec("www.example.com.", rtype::A, &[1, 2, 3, 5]);
        let items = [Item { record: &a, ttl: 1 }, Item { record: &b, ttl: 1 }];
        let mut r = Renderer::new(&origin, 16383);
        let mut out = RangeOutput::default();
        r.render_rrsets([&items[..]], &mut out).unwrap();
        let recs = decode::decode_body(&out.bodies, body_base(&origin), 2).unwrap();
        assert_eq!(recs[0].owner.as_wire(), a.owner.as_wire());
        assert_eq!(recs[1].owner.as_wire(), b.owner.as_wire());
    }

    #[test]
    fn malformed_compressible_rdata_is_an_error() {
        let origin = n("example.com.");
        let bad = rec("example.com.", rtype::MX, &[0, 10, 3, b'a']);
        let mut r = Renderer::new(&origin, 16383);
        let mut out = RangeOutput::default();
        let e = r.render_rrsets(
            [&[Item {
                record: &bad,
                ttl: 1,
            }][..]],
            &mut out,
        );
        assert!(matches!(e, Err(RenderError::MalformedRdata { .. })));
    }
}
