//! A small, strict reader of the answer section of a stored message, written independently of
//! zone-store's own decoder so that `dump` checks the store rather than trusting it.
//!
//! It follows compression pointers (RFC 1035 section 4.1.4) in owner names and in the RDATA
//! of the types whose RDATA names may be compressed (RFC 3597 section 4: NS, MD, MF, CNAME,
//! SOA, MB, MG, MR, PTR, MINFO, MX), and returns every record with its RDATA in uncompressed
//! wire format: the exact bytes an RFC 3597 `\#` rendering needs.

use anyhow::{bail, ensure, Context, Result};
use zone_store::{rtype, Name};

/// One record read back from a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRecord {
    pub owner: Name,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// RDATA with every name uncompressed.
    pub rdata: Vec<u8>,
    /// Bytes the record takes in the message (compressed).
    pub wire_bytes: usize,
}

impl WireRecord {
    /// Bytes the record would take with no compression at all.
    pub fn uncompressed_bytes(&self) -> usize {
        self.owner.wire_len() + 10 + self.rdata.len()
    }
}

/// Most pointers followed for one name: a name has at most 127 labels, so a longer chain
/// can only be a loop.
const POINTERS_PER_NAME_MAX: usize = 128;

/// Reads the name at `pos` of `msg`; returns it and the position after it (after the first
/// pointer, if any). Pointers must point backwards and no lower than `floor`: the layout
/// contract lets a body point only into the answer section of its own message, never into
/// the header or the question, which the engine copies from each client's query.
pub fn read_name(msg: &[u8], mut pos: usize, floor: usize) -> Result<(Name, usize)> {
    let mut wire = Vec::with_capacity(64);
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg
            .get(pos)
            .context("name runs past the end of the message")? as usize;
        match len {
            0 => {
                wire.push(0);
                let end = end.unwrap_or(pos + 1);
                let name = Name::from_wire(&wire).context("invalid name")?;
                return Ok((name, end));
            }
            1..=63 => {
                let label = msg
                    .get(pos..pos + 1 + len)
                    .context("label runs past the end of the message")?;
                wire.extend_from_slice(label);
                ensure!(wire.len() < 255, "name longer than 255 bytes");
                pos += 1 + len;
            }
            0xC0..=0xFF => {
                let low = *msg.get(pos + 1).context("truncated compression pointer")? as usize;
                let target = ((len & 0x3F) << 8) | low;
                ensure!(
                    target < pos,
                    "compression pointer at {pos} points forward, to {target}"
                );
                ensure!(
                    target >= floor,
                    "compression pointer at {pos} points to {target}, before the answer section at {floor}"
                );
                end.get_or_insert(pos + 2);
                jumps += 1;
                ensure!(jumps <= POINTERS_PER_NAME_MAX, "compression pointer loop");
                pos = target;
            }
            _ => bail!("label type {len:#x} at offset {pos} is not defined"),
        }
    }
}

/// Reads `ancount` records starting at `start` of `msg`, which must end exactly after them;
/// compression pointers may only point into `msg[start..]`.
pub fn read_answers(msg: &[u8], start: usize, ancount: u16) -> Result<Vec<WireRecord>> {
    let mut records = Vec::with_capacity(ancount as usize);
    let mut pos = start;
    for i in 0..ancount {
        let rec_start = pos;
        let (owner, p) =
            read_name(msg, pos, start).with_context(|| format!("record {i}: owner"))?;
        let fixed = msg
            .get(p..p + 10)
            .with_context(|| format!("record {i}: truncated"))?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let class = u16::from_be_bytes([fixed[2], fixed[3]]);
        let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        let rd_start = p + 10;
        let rd_end = rd_start + rdlen;
        ensure!(
            rd_end <= msg.len(),
            "record {i}: RDATA runs past the message"
        );
        let rdata = uncompress_rdata(msg, start, rtype, rd_start, rd_end)
            .with_context(|| format!("record {i} ({owner} type {rtype}): RDATA"))?;
        records.push(WireRecord {
            owner,
            rtype,
            class,
            ttl,
            rdata,
            wire_bytes: rd_end - rec_start,
        });
        pos = rd_end;
    }
    ensure!(
        pos == msg.len(),
        "{} bytes after the last of {ancount} records",
        msg.len() - pos
    );
    Ok(records)
}

/// The RDATA at `msg[start..end]` with its names uncompressed.
fn uncompress_rdata(
    msg: &[u8],
    floor: usize,
    ty: u16,
    start: usize,
    end: usize,
) -> Result<Vec<u8>> {
    if !rtype::rdata_names_compressible(ty) {
        return Ok(msg[start..end].to_vec());
    }
    // Layout of each compressible type: fixed bytes before, names, fixed bytes after.
    let (before, names, after) = match ty {
        rtype::MX => (2, 1, 0),
        rtype::SOA => (0, 2, 20),
        rtype::MINFO => (0, 2, 0),
        _ => (0, 1, 0), // NS MD MF CNAME MB MG MR PTR
    };
    let mut out = Vec::with_capacity(end - start + 64);
    let mut pos = start;
    ensure!(end - start >= before, "too short");
    out.extend_from_slice(&msg[pos..pos + before]);
    pos += before;
    for _ in 0..names {
        ensure!(pos < end, "too short");
        // A name must not run past the RDATA (pointers may point anywhere before it).
        let (name, next) = read_name(&msg[..end], pos, floor)?;
        out.extend_from_slice(name.as_wire());
        pos = next;
    }
    ensure!(
        end - pos == after,
        "{} bytes where {after} were expected",
        end - pos
    );
    out.extend_from_slice(&msg[pos..end]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_and_rdata() {
        // 12-byte header and a question for "example.com." (17 bytes), then an MX record at
        // the apex whose exchange is "mail" + a pointer to the owner.
        let mut m = vec![0u8; 12];
        m.extend_from_slice(b"\x07example\x03com\x00\x00\xfc\x00\x01");
        let start = m.len();
        m.extend_from_slice(b"\x07example\x03com\x00");
        m.extend_from_slice(&[0, 15, 0, 1, 0, 0, 0x0E, 0x10, 0, 9, 0, 10]);
        m.extend_from_slice(b"\x04mail");
        m.extend_from_slice(&[0xC0, start as u8]);
        let recs = read_answers(&m, start, 1).unwrap();
        assert_eq!(recs[0].owner.to_string(), "example.com.");
        assert_eq!(recs[0].rtype, rtype::MX);
        assert_eq!(recs[0].ttl, 3600);
        assert_eq!(recs[0].rdata, b"\x00\x0a\x04mail\x07example\x03com\x00");
        assert_eq!(recs[0].wire_bytes, m.len() - start);
        assert_eq!(recs[0].uncompressed_bytes(), 13 + 10 + 20);
        // A pointer into the question breaks the layout contract.
        let mut into_question = m.clone();
        let n = into_question.len();
        into_question[n - 1] = 12;
        assert!(read_answers(&into_question, start, 1).is_err());
        // Trailing bytes, a forward pointer, a loop, a bad label type are errors.
        let mut extra = m.clone();
        extra.push(0);
        assert!(read_answers(&extra, start, 1).is_err());
        assert!(read_answers(&m, start, 2).is_err());
        assert!(read_name(&[0xC0, 0x05, 0, 0, 0, 0], 0, 0).is_err());
        assert!(read_name(&[0, 0xC0, 0x01], 1, 0).is_err());
        assert!(read_name(&[0x40, 0], 0, 0).is_err());
        assert!(read_name(&[0, 0, 0, 0, 0, 3, b'a', b'b', b'c', 0xC0, 5], 9, 0).is_err());
    }
}
