//! Presentation-format atoms shared by the record parsers: numbers, TTLs, names, character
//! strings, escapes, times, base16/32/64. Everything works on bytes and writes into caller-owned
//! buffers.

use crate::name::{Name, LABEL_BYTES_MAX, NAME_BYTES_MAX};

use super::lexer::Tok;

/// A parse failure: the line it belongs to and what went wrong.
#[derive(Debug)]
pub struct Fail {
    pub line: u32,
    pub msg: String,
}

pub type PResult<T> = Result<T, Fail>;

pub fn fail<T>(line: u32, msg: impl Into<String>) -> PResult<T> {
    Err(Fail {
        line,
        msg: msg.into(),
    })
}

/// The token's bytes as text for messages (lossy).
pub fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.len() > 60 {
        format!(
            "{}...",
            &s[..s.char_indices().nth(57).map_or(s.len(), |c| c.0)]
        )
    } else {
        s.into_owned()
    }
}

/// Unsigned decimal number with at most `max`.
pub fn number(b: &[u8], max: u64) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    (v <= max).then_some(v)
}

/// A TTL or SOA timer: digits, or a sequence of `<digits><unit>` with units w d h m s in any
/// case (`1h30m`, `1W`); a bare number may not follow a unit (BIND rejects `1h30`). Returns the
/// value in seconds; `None` if malformed or above 2^32-1.
pub fn ttl(b: &[u8]) -> Option<u32> {
    if let Some(v) = number(b, u32::MAX as u64) {
        return Some(v as u32);
    }
    let mut total: u64 = 0;
    let mut i = 0;
    if b.is_empty() {
        return None;
    }
    while i < b.len() {
        let start = i;
        let mut v: u64 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            v = v.checked_mul(10)?.checked_add((b[i] - b'0') as u64)?;
            i += 1;
        }
        if i == start || i == b.len() {
            return None;
        }
        let mult = match b[i].to_ascii_lowercase() {
            b'w' => 604_800,
            b'd' => 86_400,
            b'h' => 3_600,
            b'm' => 60,
            b's' => 1,
            _ => return None,
        };
        i += 1;
        total = total.checked_add(v.checked_mul(mult)?)?;
    }
    (total <= u32::MAX as u64).then_some(total as u32)
}

/// Decodes `\DDD` and `\X` escapes of a character string or label into `out`.
pub fn unescape_into(b: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            // Copy the run up to the next backslash at once.
            let run = b[i..]
                .iter()
                .position(|&x| x == b'\\')
                .unwrap_or(b.len() - i);
            out.extend_from_slice(&b[i..i + run]);
            i += run;
            continue;
        }
        match b.get(i + 1) {
            None => return Err("bad escape: backslash at end of text"),
            Some(d) if d.is_ascii_digit() => {
                let ds = b
                    .get(i + 1..i + 4)
                    .ok_or("bad escape: \\DDD needs three digits")?;
                if !ds.iter().all(u8::is_ascii_digit) {
                    return Err("bad escape: \\DDD needs three digits");
                }
                let v = (ds[0] - b'0') as u32 * 100
                    + (ds[1] - b'0') as u32 * 10
                    + (ds[2] - b'0') as u32;
                if v > 255 {
                    return Err("bad escape: \\DDD above 255");
                }
                out.push(v as u8);
                i += 4;
            }
            Some(&x) => {
                out.push(x);
                i += 2;
            }
        }
    }
    Ok(())
}

/// Writes the wire form of the presentation name `b` (absolute, or relative to `origin`; `@`
/// is the origin) to `out`. Returns the number of bytes written.
pub fn name_into(b: &[u8], origin: &Name, out: &mut Vec<u8>) -> Result<usize, &'static str> {
    let base = out.len();
    if b == b"@" {
        out.extend_from_slice(origin.as_wire());
        return Ok(origin.wire_len());
    }
    if b == b"." {
        out.push(0);
        return Ok(1);
    }
    if b.is_empty() {
        return Err("empty name");
    }
    if let Some(r) = plain_name_into(b, origin, out) {
        return r;
    }
    let mut label_start = out.len();
    out.push(0);
    let mut i = 0;
    let mut absolute = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b'.' => {
                let len = out.len() - label_start - 1;
                if len == 0 {
                    out.truncate(base);
                    return Err("empty label in name");
                }
                if len > LABEL_BYTES_MAX {
                    out.truncate(base);
                    return Err("label longer than 63 bytes");
                }
                out[label_start] = len as u8;
                i += 1;
                if i == b.len() {
                    absolute = true;
                } else {
                    label_start = out.len();
                    out.push(0);
                }
            }
            b'\\' => {
                let rest = &b[i + 1..];
                if rest.len() >= 3 && rest[..3].iter().all(u8::is_ascii_digit) {
                    let v = (rest[0] - b'0') as u32 * 100
                        + (rest[1] - b'0') as u32 * 10
                        + (rest[2] - b'0') as u32;
                    if v > 255 {
                        out.truncate(base);
                        return Err("bad escape in name: \\DDD above 255");
                    }
                    out.push(v as u8);
                    i += 4;
                } else if let Some(&ch) = rest.first() {
                    if ch.is_ascii_digit() {
                        out.truncate(base);
                        return Err("bad escape in name: \\DDD needs three digits");
                    }
                    out.push(ch);
                    i += 2;
                } else {
                    out.truncate(base);
                    return Err("bad escape in name: backslash at end");
                }
            }
            _ => {
                // Copy the run of plain bytes up to the next '.' or '\\' at once.
                let run = b[i..]
                    .iter()
                    .position(|&x| x == b'.' || x == b'\\')
                    .unwrap_or(b.len() - i);
                out.extend_from_slice(&b[i..i + run]);
                i += run;
            }
        }
    }
    if !absolute {
        let len = out.len() - label_start - 1;
        if len > LABEL_BYTES_MAX {
            out.truncate(base);
            return Err("label longer than 63 bytes");
        }
        out[label_start] = len as u8;
        out.extend_from_slice(origin.as_wire());
    } else {
        out.push(0);
    }
    let n = out.len() - base;
    if n > NAME_BYTES_MAX {
        out.truncate(base);
        return Err("name longer than 255 bytes");
    }
    Ok(n)
}

/// [`name_into`] for a name without escapes: one copy of the text behind a placeholder byte,
/// then each `.` becomes the length byte of the label after it (no per-label copies). `None`
/// (nothing written) when the name has an escape.
fn plain_name_into(
    b: &[u8],
    origin: &Name,
    out: &mut Vec<u8>,
) -> Option<Result<usize, &'static str>> {
    let base = out.len();
    out.push(0);
    out.extend_from_slice(b);
    let mut len_at = 0usize; // relative to base
    for (i, &c) in b.iter().enumerate() {
        if c == b'.' {
            let len = i - len_at;
            if len == 0 || len > LABEL_BYTES_MAX {
                out.truncate(base);
                return Some(Err(if len == 0 {
                    "empty label in name"
                } else {
                    "label longer than 63 bytes"
                }));
            }
            out[base + len_at] = len as u8;
            len_at = i + 1;
        } else if c == b'\\' {
            out.truncate(base);
            return None;
        }
    }
    if len_at == b.len() {
        // Absolute: the final '.' is the root label.
        out[base + len_at] = 0;
    } else {
        let len = b.len() - len_at;
        if len > LABEL_BYTES_MAX {
            out.truncate(base);
            return Some(Err("label longer than 63 bytes"));
        }
        out[base + len_at] = len as u8;
        out.extend_from_slice(origin.as_wire());
    }
    let n = out.len() - base;
    if n > NAME_BYTES_MAX {
        out.truncate(base);
        return Some(Err("name longer than 255 bytes"));
    }
    Some(Ok(n))
}

/// A presentation name as a [`Name`]; `scratch` is reused.
pub fn name(b: &[u8], origin: &Name, scratch: &mut Vec<u8>) -> Result<Name, &'static str> {
    scratch.clear();
    name_into(b, origin, scratch)?;
    Name::from_wire(scratch).map_err(|_| "malformed name")
}

/// RRSIG time (RFC 4034 section 3.2): `YYYYMMDDHHmmSS` in UTC, or seconds since the epoch as
/// a decimal number. Dates past 2106 wrap modulo 2^32 as the RFC's serial arithmetic allows.
pub fn rrsig_time(b: &[u8]) -> Option<u32> {
    if b.len() == 14 && b.iter().all(u8::is_ascii_digit) {
        let n = |r: std::ops::Range<usize>| number(&b[r], u64::MAX).unwrap_or(0) as i64;
        let (y, mo, d, h, mi, s) = (n(0..4), n(4..6), n(6..8), n(8..10), n(10..12), n(12..14));
        if y < 1970 || !(1..=12).contains(&mo) || d < 1 || h > 23 || mi > 59 || s > 60 {
            return None;
        }
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let mdays = [
            31,
            if leap(y) { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        if d > mdays[(mo - 1) as usize] {
            return None;
        }
        let mut days: i64 = 0;
        for yy in 1970..y {
            days += if leap(yy) { 366 } else { 365 };
        }
        for m in mdays.iter().take((mo - 1) as usize) {
            days += m;
        }
        days += d - 1;
        let secs = days * 86_400 + h * 3_600 + mi * 60 + s;
        return Some((secs as u64 & 0xFFFF_FFFF) as u32);
    }
    if b.len() <= 10 {
        return number(b, u32::MAX as u64).map(|v| v as u32);
    }
    None
}

/// Decodes `data` as base64 (RFC 4648, padded) into `out`.
pub fn base64_into(data: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    let spec = &data_encoding::BASE64;
    let len = spec.decode_len(data.len()).map_err(|_| "bad base64")?;
    let base = out.len();
    out.resize(base + len, 0);
    match spec.decode_mut(data, &mut out[base..]) {
        Ok(n) => {
            out.truncate(base + n);
            Ok(())
        }
        Err(_) => {
            out.truncate(base);
            Err("bad base64")
        }
    }
}

/// Decodes hexadecimal (either case) into `out`.
pub fn hex_into(data: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    if !data.len().is_multiple_of(2) {
        return Err("bad hex: odd number of digits");
    }
    for pair in data.chunks_exact(2) {
        let h = (pair[0] as char).to_digit(16).ok_or("bad hex digit")?;
        let l = (pair[1] as char).to_digit(16).ok_or("bad hex digit")?;
        out.push((h * 16 + l) as u8);
    }
    Ok(())
}

/// Decodes base32hex without padding (RFC 4648 section 7, either case) into `out`.
pub fn base32hex_into(data: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    let upper: Vec<u8> = data.iter().map(u8::to_ascii_uppercase).collect();
    let v = data_encoding::BASE32HEX_NOPAD
        .decode(&upper)
        .map_err(|_| "bad base32hex")?;
    out.extend_from_slice(&v);
    Ok(())
}

/// The bytes of token `t` in `text`.
#[inline]
pub fn tok_bytes<'a>(text: &'a [u8], t: &Tok) -> &'a [u8] {
    &text[t.start as usize..t.end as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls() {
        assert_eq!(ttl(b"3600"), Some(3600));
        assert_eq!(ttl(b"1h"), Some(3600));
        assert_eq!(ttl(b"1d2h"), Some(93_600));
        assert_eq!(ttl(b"1W"), Some(604_800));
        assert_eq!(ttl(b"1H1m1S"), Some(3661));
        assert_eq!(ttl(b"1h30"), None);
        assert_eq!(ttl(b"h"), None);
        assert_eq!(ttl(b""), None);
        assert_eq!(ttl(b"4294967295"), Some(u32::MAX));
        assert_eq!(ttl(b"4294967296"), None);
        assert_eq!(ttl(b"1x"), None);
    }

    #[test]
    fn rrsig_times() {
        assert_eq!(rrsig_time(b"19700101000000"), Some(0));
        // RFC 4034 section 3.3 example: 20030322173103 = 1048354263.
        assert_eq!(rrsig_time(b"20030322173103"), Some(1_048_354_263));
        assert_eq!(rrsig_time(b"1048354263"), Some(1_048_354_263));
        assert_eq!(rrsig_time(b"20030230000000"), None);
    }

    #[test]
    fn escapes_and_names() {
        let mut v = Vec::new();
        unescape_into(b"a\\\"b\\046\\\\", &mut v).unwrap();
        assert_eq!(v, b"a\"b.\\");
        assert!(unescape_into(b"\\25", &mut Vec::new()).is_err());
        assert!(unescape_into(b"\\300", &mut Vec::new()).is_err());
        let origin = Name::parse("example.com.", None).unwrap();
        let mut s = Vec::new();
        assert_eq!(
            name(b"a\\.b", &origin, &mut s).unwrap().as_wire(),
            b"\x03a.b\x07example\x03com\x00"
        );
        assert_eq!(name(b"@", &origin, &mut s).unwrap(), origin);
        assert!(name(&[b'a'; 64], &origin, &mut s).is_err());
        assert!(name(b"a..b.", &origin, &mut s).is_err());
        assert!(name(b".a", &origin, &mut s).is_err());
        assert!(name(b"a..", &origin, &mut s).is_err());
        assert_eq!(
            name(b"a.b.", &origin, &mut s).unwrap().as_wire(),
            b"\x01a\x01b\x00"
        );
        assert_eq!(
            name(b"a.b", &origin, &mut s).unwrap().as_wire(),
            b"\x01a\x01b\x07example\x03com\x00"
        );
        // Escaped and plain spellings give the same wire name.
        for (plain, escaped) in [("ab.c.", "a\\098.c."), ("x.y", "\\120.y")] {
            assert_eq!(
                name(plain.as_bytes(), &origin, &mut s).unwrap(),
                name(escaped.as_bytes(), &origin, &mut s).unwrap()
            );
        }
        let long = format!("{}.", vec!["a".repeat(63); 4].join("."));
        assert!(name(long.as_bytes(), &origin, &mut s).is_err());
        let fits = format!("{}.", vec!["a".repeat(62); 4].join("."));
        assert_eq!(
            name(fits.as_bytes(), &origin, &mut s).unwrap().wire_len(),
            253
        );
    }
}
