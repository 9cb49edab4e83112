//! Domain names in uncompressed wire format.
//!
//! A [`Name`] is always absolute: a sequence of length-prefixed labels ending with the root
//! label (a zero byte), at most 255 bytes in all, each label at most 63 bytes (RFC 1035
//! section 2.3.4). Case is preserved as written; comparisons that DNS defines as
//! case-insensitive use [`Name::eq_ignore_case`] or [`Name::to_lowercase`].

use std::fmt;

/// Longest name in wire format, root label included (RFC 1035 section 2.3.4).
pub const NAME_BYTES_MAX: usize = 255;
/// Longest label (RFC 1035 section 2.3.4).
pub const LABEL_BYTES_MAX: usize = 63;

/// Why bytes or text are not a valid name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    #[error("name is longer than 255 bytes in wire format")]
    TooLong,
    #[error("label is longer than 63 bytes")]
    LabelTooLong,
    #[error("empty label")]
    EmptyLabel,
    #[error("bad escape in name")]
    BadEscape,
    #[error("malformed wire-format name")]
    Malformed,
}

/// An absolute domain name in uncompressed wire format.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Box<[u8]>);

impl Name {
    /// The root name `.`.
    pub fn root() -> Name {
        Name(Box::new([0u8]))
    }

    /// Takes uncompressed wire bytes, checking every label and the total length.
    pub fn from_wire(wire: &[u8]) -> Result<Name, NameError> {
        let len = wire_name_len(wire)?;
        if len != wire.len() {
            return Err(NameError::Malformed);
        }
        Ok(Name(wire.into()))
    }

    /// The uncompressed wire bytes, root label included.
    pub fn as_wire(&self) -> &[u8] {
        &self.0
    }

    /// Length in wire format, root label included.
    pub fn wire_len(&self) -> usize {
        self.0.len()
    }

    pub fn is_root(&self) -> bool {
        self.0.len() == 1
    }

    /// The labels, leftmost first, without the root label.
    pub fn labels(&self) -> Labels<'_> {
        Labels {
            wire: &self.0,
            pos: 0,
        }
    }

    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// Case-insensitive equality (ASCII only, RFC 4343).
    pub fn eq_ignore_case(&self, other: &Name) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }

    /// A copy with ASCII letters lowered; the canonical form of RFC 4034 section 6.2.
    pub fn to_lowercase(&self) -> Name {
        Name(self.0.to_ascii_lowercase().into_boxed_slice())
    }

    /// True when `self` equals `zone` or lies below it (case-insensitive).
    pub fn is_subdomain_of(&self, zone: &Name) -> bool {
        let (s, z) = (&self.0[..], &zone.0[..]);
        if z.len() > s.len() {
            return false;
        }
        // The suffix must start on a label boundary of self.
        let start = s.len() - z.len();
        let mut pos = 0;
        while pos < start {
            pos += 1 + s[pos] as usize;
        }
        pos == start && s[start..].eq_ignore_ascii_case(z)
    }

    /// `label.self`, or an error if the result is too long.
    pub fn prepend_label(&self, label: &[u8]) -> Result<Name, NameError> {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > LABEL_BYTES_MAX {
            return Err(NameError::LabelTooLong);
        }
        let mut v = Vec::with_capacity(1 + label.len() + self.0.len());
        v.push(label.len() as u8);
        v.extend_from_slice(label);
        v.extend_from_slice(&self.0);
        if v.len() > NAME_BYTES_MAX {
            return Err(NameError::TooLong);
        }
        Ok(Name(v.into_boxed_slice()))
    }

    /// Appends `origin` to a relative name given as wire labels without the root label.
    pub fn from_relative(relative_labels: &[u8], origin: &Name) -> Result<Name, NameError> {
        let mut v = Vec::with_capacity(relative_labels.len() + origin.0.len());
        v.extend_from_slice(relative_labels);
        v.extend_from_slice(&origin.0);
        if v.len() > NAME_BYTES_MAX {
            return Err(NameError::TooLong);
        }
        Name::from_wire(&v)
    }

    /// Parses presentation format (`www.example.com.` or relative `www`, with `\.` and `\DDD`
    /// escapes; `@` means the origin). A name without a trailing dot is relative to `origin`.
    pub fn parse(text: &str, origin: Option<&Name>) -> Result<Name, NameError> {
        parse_presentation(text.as_bytes(), origin)
    }
}

/// Iterator over the labels of a [`Name`].
pub struct Labels<'a> {
    wire: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let len = *self.wire.get(self.pos)? as usize;
        if len == 0 {
            return None;
        }
        let label = &self.wire[self.pos + 1..self.pos + 1 + len];
        self.pos += 1 + len;
        Some(label)
    }
}

/// Length of the uncompressed wire name at the start of `wire`, validated.
pub fn wire_name_len(wire: &[u8]) -> Result<usize, NameError> {
    let mut pos = 0;
    loop {
        let len = *wire.get(pos).ok_or(NameError::Malformed)? as usize;
        if len == 0 {
            pos += 1;
            break;
        }
        if len > LABEL_BYTES_MAX {
            return Err(if len & 0xC0 != 0 {
                NameError::Malformed
            } else {
                NameError::LabelTooLong
            });
        }
        pos += 1 + len;
        if pos > wire.len() {
            return Err(NameError::Malformed);
        }
    }
    if pos > NAME_BYTES_MAX {
        return Err(NameError::TooLong);
    }
    Ok(pos)
}

fn parse_presentation(text: &[u8], origin: Option<&Name>) -> Result<Name, NameError> {
    if text == b"@" {
        return origin.cloned().ok_or(NameError::Malformed);
    }
    if text == b"." {
        return Ok(Name::root());
    }
    let mut out: Vec<u8> = Vec::with_capacity(text.len() + 2);
    let mut label_start = 0usize;
    out.push(0);
    let mut i = 0;
    let mut absolute = false;
    while i < text.len() {
        let c = text[i];
        match c {
            b'.' => {
                let len = out.len() - label_start - 1;
                if len == 0 {
                    return Err(NameError::EmptyLabel);
                }
                if len > LABEL_BYTES_MAX {
                    return Err(NameError::LabelTooLong);
                }
                out[label_start] = len as u8;
                i += 1;
                if i == text.len() {
                    absolute = true;
                } else {
                    label_start = out.len();
                    out.push(0);
                }
                continue;
            }
            b'\\' => {
                let rest = &text[i + 1..];
                if rest.len() >= 3 && rest[..3].iter().all(u8::is_ascii_digit) {
                    let v = (rest[0] - b'0') as u32 * 100
                        + (rest[1] - b'0') as u32 * 10
                        + (rest[2] - b'0') as u32;
                    if v > 255 {
                        return Err(NameError::BadEscape);
                    }
                    out.push(v as u8);
                    i += 4;
                } else if let Some(&ch) = rest.first() {
                    if ch.is_ascii_digit() {
                        return Err(NameError::BadEscape);
                    }
                    out.push(ch);
                    i += 2;
                } else {
                    return Err(NameError::BadEscape);
                }
                continue;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    if !absolute {
        let len = out.len() - label_start - 1;
        if len == 0 {
            return Err(NameError::EmptyLabel);
        }
        if len > LABEL_BYTES_MAX {
            return Err(NameError::LabelTooLong);
        }
        out[label_start] = len as u8;
        let origin = origin.ok_or(NameError::Malformed)?;
        out.extend_from_slice(origin.as_wire());
    } else {
        out.push(0);
    }
    if out.len() > NAME_BYTES_MAX {
        return Err(NameError::TooLong);
    }
    Ok(Name(out.into_boxed_slice()))
}

/// Writes one label in presentation format, escaping as RFC 1035 section 5.1 requires.
pub fn write_label(f: &mut impl fmt::Write, label: &[u8]) -> fmt::Result {
    for &b in label {
        match b {
            b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                f.write_char('\\')?;
                f.write_char(b as char)?;
            }
            0x21..=0x7e => f.write_char(b as char)?,
            _ => write!(f, "\\{:03}", b)?,
        }
    }
    Ok(())
}

impl fmt::Display for Name {
    /// Absolute presentation format with a trailing dot.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for label in self.labels() {
            write_label(f, label)?;
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let origin = Name::parse("example.com.", None).unwrap();
        assert_eq!(origin.as_wire(), b"\x07example\x03com\x00");
        let www = Name::parse("www", Some(&origin)).unwrap();
        assert_eq!(www.to_string(), "www.example.com.");
        assert_eq!(Name::parse("@", Some(&origin)).unwrap(), origin);
        let esc = Name::parse("a\\.b.c\\046d\\\\.", None).unwrap();
        assert_eq!(esc.as_wire(), b"\x03a.b\x04c.d\\\x00");
        assert_eq!(esc.to_string(), "a\\.b.c\\.d\\\\.");
        assert!(www.is_subdomain_of(&origin));
        assert!(origin.is_subdomain_of(&origin));
        assert!(!Name::parse("xexample.com.", None)
            .unwrap()
            .is_subdomain_of(&origin));
        assert!(Name::parse("a..b.", None).is_err());
        assert!(Name::parse(&"a".repeat(64), Some(&origin)).is_err());
        assert!(Name::parse("\\256.", None).is_err());
    }
}
