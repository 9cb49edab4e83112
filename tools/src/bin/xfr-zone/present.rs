//! Master-file lines for dumped records (RFC 1035 section 5.1): `owner TTL class type rdata`
//! with absolute names, either in RFC 3597 generic form (`TYPEnnn \# len hex`, exact for every
//! type) or in the usual presentation form where hickory-proto prints it correctly.
//!
//! hickory-proto's `Display` is used only for the types in [`PRESENTATION_TYPES`], each of which
//! was checked to read back into `named-checkzone` unchanged (tools/tests/roundtrip.rs), and
//! even then only when hickory's decoded RDATA encodes back to exactly the stored bytes and its
//! text is plain ASCII without escapes. Left out, with the reason:
//! - TXT, SPF, HINFO: strings are printed without quotes (and TXT strings run together);
//! - SVCB, HTTPS: lists end with a stray comma (`alpn=h2,h3,`); CERT: `Reserved(0)`;
//! - CSYNC: an unknown type in its bitmap would print as hickory's own name for it;
//! - CAA and NAPTR strings are quoted but not escaped: such a record with a `"` or `\` in a
//!   string is printed in generic form;
//! - names with bytes that need escaping: hickory writes `\ooo` in octal where the master-file
//!   format means decimal, and prints `xn--` labels as Unicode;
//! - DNSSEC types (DS, DNSKEY, RRSIG, NSEC, NSEC3...): without its dnssec feature hickory keeps
//!   them as unknown RDATA and prints base64 of the whole RDATA;
//! - types hickory has no RDATA for (DNAME, RP, AFSDB, LOC, URI...), and everything else
//!   not verified against named-checkzone.

use std::fmt::Write as _;

use hickory_proto::rr::Record as HRecord;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use xfr_proto::message::{Answer, DisplayName};
use zone_store::rtype;

/// Types printed in presentation form by default.
pub const PRESENTATION_TYPES: &[u16] = &[
    rtype::A,
    rtype::AAAA,
    rtype::NS,
    rtype::CNAME,
    rtype::PTR,
    rtype::MX,
    rtype::SOA,
    rtype::SRV,
    rtype::CAA,
    rtype::NAPTR,
    rtype::SSHFP,
    rtype::TLSA,
    rtype::SMIMEA,
    rtype::OPENPGPKEY,
];

/// `IN`, `CH`, `HS` or `CLASSnnn` (RFC 3597 section 5).
pub fn class_text(class: u16) -> String {
    match class {
        1 => "IN".into(),
        3 => "CH".into(),
        4 => "HS".into(),
        c => format!("CLASS{c}"),
    }
}

/// The mnemonic, or `TYPEnnn` (RFC 3597 section 5).
pub fn type_text(ty: u16) -> String {
    match rtype::mnemonic(ty) {
        Some(m) => m.to_string(),
        None => format!("TYPE{ty}"),
    }
}

/// Appends the record as one line in RFC 3597 generic form.
pub fn write_generic(out: &mut String, rec: &Answer) {
    let _ = write!(
        out,
        "{}\t{}\t{}\tTYPE{}\t\\# {}",
        DisplayName(rec.owner.as_wire()),
        rec.ttl,
        class_text(rec.class),
        rec.rtype,
        rec.rdata.len()
    );
    if !rec.rdata.is_empty() {
        out.push(' ');
        out.push_str(&data_encoding_hex(&rec.rdata));
    }
    out.push('\n');
}

fn data_encoding_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Appends the record in presentation form when hickory-proto prints its RDATA correctly
/// (see the module docs), else in generic form. Returns true if presentation form was used.
pub fn write_default(out: &mut String, rec: &Answer, decoded: Option<&HRecord>) -> bool {
    match decoded.and_then(|h| presentation_rdata(rec, h)) {
        Some(rdata) => {
            let _ = writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}",
                DisplayName(rec.owner.as_wire()),
                rec.ttl,
                class_text(rec.class),
                type_text(rec.rtype),
                rdata
            );
            true
        }
        None => {
            write_generic(out, rec);
            false
        }
    }
}

fn presentation_rdata(rec: &Answer, h: &HRecord) -> Option<String> {
    if !PRESENTATION_TYPES.contains(&rec.rtype) || u16::from(h.record_type()) != rec.rtype {
        return None;
    }
    // The decoded RDATA must encode back to exactly the stored bytes, or the text would not
    // be this record.
    let mut bytes = Vec::with_capacity(rec.rdata.len());
    let mut encoder = BinEncoder::new(&mut bytes);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    h.data.emit(&mut encoder).ok()?;
    if bytes != rec.rdata {
        return None;
    }
    let text = h.data.to_string();
    // Printable ASCII only: hickory writes label bytes that need escaping as octal `\ooo`
    // (the master-file format means decimal), `xn--` labels as Unicode, and string bytes
    // unescaped (a tab or newline would break the line).
    if text.is_empty() || !text.bytes().all(|b| (0x20..0x7f).contains(&b)) || text.contains('\\') {
        return None;
    }
    // Strings are quoted without escaping: a quote inside one would end it early.
    let quotes = match rec.rtype {
        rtype::CAA => 2,
        rtype::NAPTR => 6,
        _ => 0,
    };
    if text.matches('"').count() != quotes {
        return None;
    }
    Some(text)
}
