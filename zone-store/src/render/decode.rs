//! Decodes a stored message body back into records: names decompressed, RDATA of the RFC 1035
//! types with its names expanded, so the result is comparable with the records that were
//! rendered. For tests, `xfr-zone dump`, and checks of a store; not on the transfer path.
//!
//! Strict on purpose: a pointer must point backwards, into the body (never into the header or
//! question, per the layout contract in [`crate::render`]), and the body must hold exactly
//! `ancount` records.

use crate::name::{Name, NAME_BYTES_MAX};
use crate::record::Record;
use crate::rtype;

/// Why a body does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("body ends inside record {index}")]
    Truncated { index: usize },
    #[error("bad compression pointer or name in record {index} (body offset {at})")]
    BadName { index: usize, at: usize },
    #[error("RDATA of record {index} does not match its type's layout")]
    BadRdata { index: usize },
    #[error("{extra} bytes after the last of {ancount} records")]
    TrailingBytes { ancount: u16, extra: usize },
}

/// One record of a body as [`walk_body`] shows it: borrowed, names uncompressed.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    /// Where the record starts in the body.
    pub at: usize,
    /// The owner, uncompressed wire form.
    pub owner: &'a [u8],
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// RDATA with its names expanded (as [`decode_body`] gives it).
    pub rdata: &'a [u8],
}

impl RecordView<'_> {
    pub fn to_record(&self, index: usize) -> Result<Record, DecodeError> {
        let owner =
            Name::from_wire(self.owner).map_err(|_| DecodeError::BadName { index, at: self.at })?;
        Ok(Record {
            owner,
            rtype: self.rtype,
            class: self.class,
            ttl: self.ttl,
            rdata: self.rdata.into(),
        })
    }
}

/// Decodes the `ancount` records of `body`, which sits at message offset `base`.
pub fn decode_body(body: &[u8], base: usize, ancount: u16) -> Result<Vec<Record>, DecodeError> {
    let mut out = Vec::with_capacity(ancount as usize);
    walk_body(body, base, ancount, |index, r| {
        out.push(r.to_record(index)?);
        Ok(())
    })?;
    Ok(out)
}

/// Walks the `ancount` records of `body` (at message offset `base`), showing each to `f` with
/// its names uncompressed, in two buffers reused from record to record: nothing is allocated
/// per record. Checks what [`decode_body`] checks.
pub fn walk_body(
    body: &[u8],
    base: usize,
    ancount: u16,
    mut f: impl FnMut(usize, RecordView<'_>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut pos = 0usize;
    let mut name = Vec::with_capacity(NAME_BYTES_MAX);
    let mut rdata = Vec::with_capacity(512);
    for index in 0..ancount as usize {
        let (view, next) = read_record(body, base, pos, index, &mut name, &mut rdata)?;
        f(index, view)?;
        pos = next;
    }
    if pos != body.len() {
        return Err(DecodeError::TrailingBytes {
            ancount,
            extra: body.len() - pos,
        });
    }
    Ok(())
}

/// The record of `body` at `pos` (record number `index`, for errors), its names expanded into
/// `name` and `rdata`; returns it and where the next record starts.
pub fn read_record<'b>(
    body: &'b [u8],
    base: usize,
    pos: usize,
    index: usize,
    name: &'b mut Vec<u8>,
    rdata: &'b mut Vec<u8>,
) -> Result<(RecordView<'b>, usize), DecodeError> {
    let at = pos;
    name.clear();
    let pos = read_name(body, base, pos, name).ok_or(DecodeError::BadName { index, at: pos })?;
    let fixed = body
        .get(pos..pos + 10)
        .ok_or(DecodeError::Truncated { index })?;
    let t = u16::from_be_bytes([fixed[0], fixed[1]]);
    let class = u16::from_be_bytes([fixed[2], fixed[3]]);
    let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
    let pos = pos + 10;
    let rd_end = pos + rdlen;
    if rd_end > body.len() {
        return Err(DecodeError::Truncated { index });
    }
    let rd: &[u8] = if rtype::rdata_names_compressible(t) {
        rdata.clear();
        expand_rdata(body, base, pos, rd_end, t, rdata).ok_or(DecodeError::BadRdata { index })?;
        rdata
    } else {
        &body[pos..rd_end]
    };
    let view = RecordView {
        at,
        owner: name,
        rtype: t,
        class,
        ttl,
        rdata: rd,
    };
    Ok((view, rd_end))
}

fn expand_rdata(
    body: &[u8],
    base: usize,
    start: usize,
    end: usize,
    t: u16,
    v: &mut Vec<u8>,
) -> Option<()> {
    let (pre, names, post) = match t {
        rtype::SOA => (0, 2, 20),
        rtype::MINFO => (0, 2, 0),
        rtype::MX => (2, 1, 0),
        _ => (0, 1, 0),
    };
    let rd = &body[..end];
    v.extend_from_slice(rd.get(start..start + pre)?);
    let mut pos = start + pre;
    for _ in 0..names {
        pos = read_name(rd, base, pos, v)?;
    }
    if end - pos != post {
        return None;
    }
    v.extend_from_slice(&rd[pos..end]);
    Some(())
}

/// Reads the possibly compressed name at body position `pos`, appending its uncompressed wire
/// form to `out`; returns the position after the name as written.
fn read_name(body: &[u8], base: usize, mut pos: usize, out: &mut Vec<u8>) -> Option<usize> {
    let start_len = out.len();
    let mut after = None;
    // Every pointer must go strictly backwards, so the walk ends.
    let mut limit = pos;
    loop {
        let len = *body.get(pos)? as usize;
        if len & 0xC0 == 0xC0 {
            let lo = *body.get(pos + 1)? as usize;
            let target = ((len & 0x3F) << 8) | lo;
            let target = target.checked_sub(base)?;
            if target >= limit {
                return None;
            }
            after.get_or_insert(pos + 2);
            limit = target;
            pos = target;
            continue;
        }
        if len & 0xC0 != 0 {
            return None;
        }
        let label = body.get(pos..pos + 1 + len)?;
        out.extend_from_slice(label);
        if out.len() - start_len > NAME_BYTES_MAX {
            return None;
        }
        pos += 1 + len;
        if len == 0 {
            return Some(after.unwrap_or(pos));
        }
    }
}
