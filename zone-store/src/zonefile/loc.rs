//! LOC RDATA (RFC 1876 section 3 and appendix A):
//! `d1 [m1 [s1]] {N|S} d2 [m2 [s2]] {E|W} alt[m] [siz[m] [hp[m] [vp[m]]]]`.

use super::rdata::Cursor;
use super::text::{fail, show, PResult};

/// Latitude and longitude are offsets from 2^31 in thousandths of an arc second.
const EQUATOR: u64 = 1 << 31;
/// Altitude is in centimetres above a base 100,000 m below the WGS 84 spheroid.
const ALTITUDE_BASE_CM: i64 = 10_000_000;
/// Defaults (RFC 1876 appendix A): size 1 m, horizontal precision 10 km, vertical 10 m.
const DEFAULT_SIZE_CM: u64 = 100;
const DEFAULT_HP_CM: u64 = 1_000_000;
const DEFAULT_VP_CM: u64 = 1_000;

/// A non-negative decimal with at most `frac` fraction digits, scaled by 10^frac.
fn decimal(b: &[u8], frac: u32) -> Option<u64> {
    let (int, fr) = match b.iter().position(|&c| c == b'.') {
        Some(p) => (&b[..p], &b[p + 1..]),
        None => (b, &b[b.len()..]),
    };
    if int.is_empty() && fr.is_empty() || fr.len() > frac as usize {
        return None;
    }
    if !int.iter().chain(fr).all(u8::is_ascii_digit) || int.len() > 12 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in int {
        v = v * 10 + (c - b'0') as u64;
    }
    for i in 0..frac as usize {
        v = v * 10 + fr.get(i).map_or(0, |c| (c - b'0') as u64);
    }
    Some(v)
}

/// Size and precision as RFC 1876 encodes them: mantissa and power of ten of centimetres.
fn precision(cm: u64) -> u8 {
    let mut exp = 0u32;
    while exp < 9 && cm >= 10u64.pow(exp + 1) {
        exp += 1;
    }
    let man = (cm / 10u64.pow(exp)).min(9);
    ((man as u8) << 4) | exp as u8
}

/// Degrees [minutes [seconds]] hemisphere; returns the encoded coordinate.
fn coordinate(c: &mut Cursor<'_>, max_deg: u64, pos: u8, neg: u8) -> PResult<u32> {
    let what = if pos == b'N' { "latitude" } else { "longitude" };
    let (d, line) = c.word(what)?;
    let deg = super::text::number(d, max_deg).map_or_else(
        || fail(line, format!("bad LOC {what} degrees '{}'", show(d))),
        Ok,
    )?;
    let mut parts = [0u64; 2];
    let mut hemi = None;
    for (i, part) in parts.iter_mut().enumerate() {
        let (b, line) = c.word(what)?;
        if b.len() == 1 && (b[0].eq_ignore_ascii_case(&pos) || b[0].eq_ignore_ascii_case(&neg)) {
            hemi = Some(b[0].to_ascii_uppercase());
            break;
        }
        *part = if i == 0 {
            super::text::number(b, 59)
        } else {
            decimal(b, 3).filter(|&v| v < 60_000)
        }
        .map_or_else(|| fail(line, format!("bad LOC {what} '{}'", show(b))), Ok)?;
    }
    let hemi = match hemi {
        Some(h) => h,
        None => {
            let (b, line) = c.word(what)?;
            if b.len() == 1 && (b[0].eq_ignore_ascii_case(&pos) || b[0].eq_ignore_ascii_case(&neg))
            {
                b[0].to_ascii_uppercase()
            } else {
                return fail(
                    line,
                    format!(
                        "bad LOC {what}: expected '{}' or '{}', found '{}'",
                        pos as char,
                        neg as char,
                        show(b)
                    ),
                );
            }
        }
    };
    let (min, sec_milli) = (parts[0], parts[1]);
    let secs = deg * 3_600_000 + min * 60_000 + sec_milli;
    if secs > max_deg * 3_600_000 {
        return fail(line, format!("LOC {what} out of range"));
    }
    let v = if hemi == pos {
        EQUATOR + secs
    } else {
        EQUATOR - secs
    };
    Ok(v as u32)
}

/// A length in metres with an optional `m` suffix, up to two decimals; in centimetres.
fn metres(b: &[u8]) -> Option<u64> {
    let b = b.strip_suffix(b"m").or(b.strip_suffix(b"M")).unwrap_or(b);
    decimal(b, 2)
}

pub fn parse(c: &mut Cursor<'_>, out: &mut Vec<u8>) -> PResult<()> {
    let lat = coordinate(c, 90, b'N', b'S')?;
    let lon = coordinate(c, 180, b'E', b'W')?;
    let (a, line) = c.word("altitude")?;
    let (neg, digits) = match a.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, a),
    };
    let alt_cm = metres(digits)
        .map(|v| if neg { -(v as i64) } else { v as i64 })
        .filter(|v| (-ALTITUDE_BASE_CM..=(u32::MAX as i64 - ALTITUDE_BASE_CM)).contains(v))
        .map_or_else(|| fail(line, format!("bad LOC altitude '{}'", show(a))), Ok)?;
    let mut prec = [DEFAULT_SIZE_CM, DEFAULT_HP_CM, DEFAULT_VP_CM];
    for (p, what) in prec
        .iter_mut()
        .zip(["size", "horizontal precision", "vertical precision"])
    {
        if c.done() {
            break;
        }
        let (b, line) = c.word(what)?;
        *p = metres(b)
            .filter(|&v| v <= 9_000_000_000)
            .map_or_else(|| fail(line, format!("bad LOC {what} '{}'", show(b))), Ok)?;
    }
    out.push(0); // version
    out.extend(prec.iter().map(|&cm| precision(cm)));
    out.extend_from_slice(&lat.to_be_bytes());
    out.extend_from_slice(&lon.to_be_bytes());
    out.extend_from_slice(&((alt_cm + ALTITUDE_BASE_CM) as u32).to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::rdata::tests::wire;
    use crate::rtype::LOC;

    #[test]
    fn rfc1876_examples() {
        // cambridge-net.kei.com. LOC 42 21 54 N 71 06 18 W -24m 30m
        let w = wire(LOC, "x 42 21 54 N 71 06 18 W -24m 30m").unwrap();
        assert_eq!(w[0], 0);
        assert_eq!(w[1], 0x33); // 30 m = 3e3 cm
        assert_eq!(w[2], 0x16); // default 10 km
        assert_eq!(w[3], 0x13); // default 10 m
        let lat = (1u64 << 31) + (42 * 3600 + 21 * 60 + 54) * 1000;
        assert_eq!(w[4..8], (lat as u32).to_be_bytes());
        let lon = (1u64 << 31) - (71 * 3600 + 6 * 60 + 18) * 1000;
        assert_eq!(w[8..12], (lon as u32).to_be_bytes());
        assert_eq!(w[12..16], (10_000_000u32 - 2400).to_be_bytes());
        // Minutes and seconds may be left out; precision with decimals.
        let w = wire(LOC, "x 52 N 4 E 0 1 10000 10.5m").unwrap();
        assert_eq!(w[1..4], [0x12, 0x16, 0x13]);
        assert!(wire(LOC, "x 91 N 4 E 0").is_err());
        assert!(wire(LOC, "x 52 X 4 E 0").is_err());
        assert!(wire(LOC, "x 52 30 61 N 4 E 0").is_err());
    }
}
