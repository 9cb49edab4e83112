//! SVCB and HTTPS RDATA (RFC 9460 section 2.1 and appendix A): priority, target name, then
//! `key[=value]` parameters in any order, written sorted by key number.
//!
//! A value is a character string (quoted or not, with zone-file escapes); the comma-separated
//! lists of `alpn` and `mandatory` then take a second level of escapes, so that
//! `alpn="f\\\\oo\\,bar,h2"` is the two ids `f\oo,bar` and `h2` (appendix A.1, as BIND does).

use super::rdata::{ipv4, ipv6, Cursor};
use super::text::{self, fail, show, Fail, PResult};

const KEYS: [&str; 8] = [
    "mandatory",
    "alpn",
    "no-default-alpn",
    "port",
    "ipv4hint",
    "ech",
    "ipv6hint",
    "dohpath",
];

/// The number of a key name (`alpn`, `key65000`).
fn key_number(b: &[u8]) -> Option<u16> {
    if let Some(i) = KEYS.iter().position(|k| k.as_bytes() == b) {
        return Some(i as u16);
    }
    let digits = b.strip_prefix(b"key")?;
    if digits.len() > 1 && digits[0] == b'0' {
        return None;
    }
    let v = text::number(digits, 65534)?;
    Some(v as u16)
}

/// Splits a decoded value-list at unescaped commas, removing the list escapes.
fn value_list(v: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let mut items = vec![Vec::new()];
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b',' => items.push(Vec::new()),
            b'\\' => {
                i += 1;
                let x = *v.get(i).ok_or("backslash at end of value")?;
                items.last_mut().expect("non-empty").push(x);
            }
            x => items.last_mut().expect("non-empty").push(x),
        }
        i += 1;
    }
    if items.iter().any(Vec::is_empty) {
        return Err("empty item in list");
    }
    Ok(items)
}

/// Whether `v` is a valid wire value for `key` (any value for keys without a known format).
fn wire_value_ok(key: u16, v: &[u8]) -> bool {
    match key {
        0 => !v.is_empty() && v.len().is_multiple_of(2),
        1 => {
            let mut i = 0;
            while i < v.len() {
                let n = v[i] as usize;
                if n == 0 || i + 1 + n > v.len() {
                    return false;
                }
                i += 1 + n;
            }
            !v.is_empty()
        }
        2 => v.is_empty(),
        3 => v.len() == 2,
        4 => !v.is_empty() && v.len().is_multiple_of(4),
        5 => !v.is_empty(),
        6 => !v.is_empty() && v.len().is_multiple_of(16),
        _ => true,
    }
}

pub fn parse(c: &mut Cursor<'_>, out: &mut Vec<u8>, scratch: &mut Vec<u8>) -> PResult<()> {
    let prio = c.u16("SvcPriority")?;
    out.extend_from_slice(&prio.to_be_bytes());
    c.name_into("TargetName", out)?;
    // (key, value bytes, line)
    let mut params: Vec<(u16, Vec<u8>, u32)> = Vec::new();
    while !c.done() {
        let (b, line) = c.word("SvcParam")?;
        let (kname, raw_value): (&[u8], Option<Vec<u8>>) = match b.iter().position(|&x| x == b'=') {
            None => (b, None),
            Some(p) => {
                let key = &b[..p];
                let rest = &b[p + 1..];
                let mut v = Vec::new();
                if rest.is_empty() {
                    // `key="quoted value"`: the value is the next, adjacent token.
                    match c.peek() {
                        Some(t) if t.joined && t.quoted => {
                            let (q, t) = c.next("value")?;
                            text::unescape_into(q, &mut v).or_else(|e| fail(t.line, e))?;
                        }
                        _ => {
                            return fail(
                                line,
                                format!("SvcParam '{}' has an empty value", show(key)),
                            )
                        }
                    }
                } else {
                    text::unescape_into(rest, &mut v).or_else(|e| fail(line, e))?;
                }
                (key, Some(v))
            }
        };
        let key = key_number(kname).ok_or_else(|| Fail {
            line,
            msg: format!("unknown SvcParamKey '{}'", show(kname)),
        })?;
        let bad = |m: &str| Fail {
            line,
            msg: format!("bad SvcParam '{}': {m}", show(kname)),
        };
        let mut w = Vec::new();
        let generic_form = !KEYS.iter().any(|k| k.as_bytes() == kname);
        if generic_form {
            // `keyNNNNN=value`: the value is the wire form (section 2.1), checked for known keys.
            let v = raw_value.unwrap_or_default();
            if !wire_value_ok(key, &v) {
                return Err(bad("malformed wire value for this key"));
            }
            params.push((key, v, line));
            continue;
        }
        match (key, raw_value) {
            (2, None) => {}
            (2, Some(_)) => return Err(bad("no-default-alpn takes no value")),
            (k, None) if k < 8 => return Err(bad("a value is required")),
            (_, None) => {}
            (0, Some(v)) => {
                let mut keys = Vec::new();
                for item in value_list(&v).map_err(bad)? {
                    let k = key_number(&item).ok_or_else(|| bad("unknown key in mandatory"))?;
                    if k == 0 {
                        return Err(bad("mandatory may not list itself"));
                    }
                    keys.push(k);
                }
                keys.sort_unstable();
                if keys.windows(2).any(|p| p[0] == p[1]) {
                    return Err(bad("duplicate key in mandatory"));
                }
                for k in keys {
                    w.extend_from_slice(&k.to_be_bytes());
                }
            }
            (1, Some(v)) => {
                for item in value_list(&v).map_err(bad)? {
                    if item.len() > 255 {
                        return Err(bad("alpn id longer than 255 bytes"));
                    }
                    w.push(item.len() as u8);
                    w.extend_from_slice(&item);
                }
            }
            (3, Some(v)) => {
                let p = text::number(&v, u16::MAX as u64).ok_or_else(|| bad("not a port"))?;
                w.extend_from_slice(&(p as u16).to_be_bytes());
            }
            (4, Some(v)) => {
                for a in v.split(|&x| x == b',') {
                    w.extend_from_slice(&ipv4(a, line)?.octets());
                }
            }
            (6, Some(v)) => {
                for a in v.split(|&x| x == b',') {
                    w.extend_from_slice(&ipv6(a, line)?.octets());
                }
            }
            (5, Some(v)) => {
                scratch.clear();
                text::base64_into(&v, scratch).map_err(bad)?;
                w.extend_from_slice(scratch);
            }
            (_, Some(v)) => w = v,
        }
        if w.len() > u16::MAX as usize {
            return Err(bad("value too long"));
        }
        params.push((key, w, line));
    }
    params.sort_by_key(|p| p.0);
    for pair in params.windows(2) {
        if pair[0].0 == pair[1].0 {
            return fail(pair[1].2, format!("duplicate SvcParamKey {}", pair[1].0));
        }
    }
    if let Some(m) = params.iter().find(|p| p.0 == 0) {
        for k in m.1.chunks_exact(2) {
            let k = u16::from_be_bytes([k[0], k[1]]);
            if !params.iter().any(|p| p.0 == k) {
                return fail(m.2, format!("mandatory key {k} is not present"));
            }
        }
    }
    for (key, w, _) in params {
        out.extend_from_slice(&key.to_be_bytes());
        out.extend_from_slice(&(w.len() as u16).to_be_bytes());
        out.extend_from_slice(&w);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::rdata::tests::wire;
    use crate::rtype::{HTTPS, SVCB};

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        data_encoding::HEXLOWER_PERMISSIVE
            .decode(s.as_bytes())
            .unwrap()
    }

    /// Test vectors of RFC 9460 appendix D.
    #[test]
    fn rfc9460_vectors() {
        assert_eq!(
            wire(SVCB, "x 0 foo.example.com.").unwrap(),
            hex("0000 03666f6f076578616d706c6503636f6d00")
        );
        assert_eq!(wire(SVCB, "x 1 .").unwrap(), hex("0001 00"));
        assert_eq!(
            wire(SVCB, "x 16 foo.example.com. port=53").unwrap(),
            hex("0010 03666f6f076578616d706c6503636f6d00 0003 0002 0035")
        );
        assert_eq!(
            wire(SVCB, "x 1 foo.example.com. key667=hello").unwrap(),
            hex("0001 03666f6f076578616d706c6503636f6d00 029b 0005 68656c6c6f")
        );
        assert_eq!(
            wire(SVCB, "x 1 foo.example.com. key667=\"hello\\210qoo\"").unwrap(),
            hex("0001 03666f6f076578616d706c6503636f6d00 029b 0009 68656c6c6fd271 6f6f")
        );
        assert_eq!(
            wire(SVCB, "x 1 foo.example.com. ipv6hint=\"2001:db8::1,2001:db8::53:1\"").unwrap(),
            hex("0001 03666f6f076578616d706c6503636f6d00 0006 0020 20010db8000000000000000000000001 20010db8000000000000000000530001")
        );
        assert_eq!(
            wire(SVCB, "x 16 foo.example.org. ( alpn=h2,h3-19 mandatory=ipv4hint,alpn\n ipv4hint=192.0.2.1 )").unwrap(),
            hex("0010 03666f6f076578616d706c65036f726700 0000 0004 00010004 0001 0009 02683205 6833 2d3139 0004 0004 c0000201")
        );
        assert_eq!(
            wire(
                SVCB,
                "x 16 foo.example.org. alpn=\"f\\\\\\\\oo\\\\,bar,h2\""
            )
            .unwrap(),
            hex("0010 03666f6f076578616d706c65036f726700 0001 000c 08 665c6f6f2c626172 02 6832")
        );
        assert_eq!(
            wire(
                SVCB,
                "x 16 foo.example.org. alpn=f\\\\\\092oo\\\\\\044bar,h2"
            )
            .unwrap(),
            wire(
                SVCB,
                "x 16 foo.example.org. alpn=\"f\\\\\\\\oo\\\\,bar,h2\""
            )
            .unwrap()
        );
        assert_eq!(
            wire(HTTPS, "x 1 . no-default-alpn alpn=h2").unwrap(),
            hex("0001 00 0001 0003 026832 0002 0000")
        );
        // Failure cases of appendix D.3.
        assert!(wire(SVCB, "x 1 foo.example.com. key123=abc key123=def").is_err());
        assert!(wire(SVCB, "x 1 foo.example.com. mandatory").is_err());
        assert!(wire(SVCB, "x 1 foo.example.com. alpn").is_err());
        assert!(wire(SVCB, "x 1 foo.example.com. port").is_err());
        assert!(wire(SVCB, "x 1 foo.example.com. mandatory=mandatory").is_err());
        assert!(wire(SVCB, "x 1 foo.example.com. mandatory=key123").is_err());
        assert!(wire(SVCB, "x 1 foo.example.com. bogus=1").is_err());
        assert!(wire(SVCB, "x 1 foo.example.com. ipv4hint=1.2.3").is_err());
    }
}
