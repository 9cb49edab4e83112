//! Resource record type numbers and their mnemonics (IANA "Resource Record (RR) TYPEs").

macro_rules! rtypes {
    ($($name:ident = $num:expr),* $(,)?) => {
        $(pub const $name: u16 = $num;)*
        /// The mnemonic of a known type (`A`, `AAAA`, ...), or `None`.
        pub fn mnemonic(rtype: u16) -> Option<&'static str> {
            match rtype {
                $($num => Some(stringify!($name)),)*
                _ => None,
            }
        }
        /// The number for a mnemonic, case-insensitive; `TYPEnnn` (RFC 3597) is accepted too.
        pub fn from_mnemonic(text: &str) -> Option<u16> {
            $(if text.eq_ignore_ascii_case(stringify!($name)) { return Some($num); })*
            let digits = text.get(..4).filter(|p| p.eq_ignore_ascii_case("TYPE")).map(|_| &text[4..])?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse::<u16>().ok()
        }
    };
}

rtypes! {
    A = 1, NS = 2, MD = 3, MF = 4, CNAME = 5, SOA = 6, MB = 7, MG = 8, MR = 9, NULL = 10,
    WKS = 11, PTR = 12, HINFO = 13, MINFO = 14, MX = 15, TXT = 16, RP = 17, AFSDB = 18,
    X25 = 19, ISDN = 20, RT = 21, NSAP = 22, SIG = 24, KEY = 25, PX = 26, GPOS = 27,
    AAAA = 28, LOC = 29, NXT = 30, SRV = 33, NAPTR = 35, KX = 36, CERT = 37, A6 = 38,
    DNAME = 39, APL = 42, DS = 43, SSHFP = 44, IPSECKEY = 45, RRSIG = 46, NSEC = 47,
    DNSKEY = 48, DHCID = 49, NSEC3 = 50, NSEC3PARAM = 51, TLSA = 52, SMIMEA = 53, HIP = 55,
    CDS = 59, CDNSKEY = 60, OPENPGPKEY = 61, CSYNC = 62, ZONEMD = 63, SVCB = 64, HTTPS = 65,
    SPF = 99, NID = 104, L32 = 105, L64 = 106, LP = 107, EUI48 = 108, EUI64 = 109,
    TKEY = 249, TSIG = 250, IXFR = 251, AXFR = 252, ANY = 255, URI = 256, CAA = 257,
    AVC = 258, DOA = 259, AMTRELAY = 260, TA = 32768, DLV = 32769,
}

/// Types whose RDATA names may be compressed on the wire: the well-known types of RFC 1035
/// (RFC 3597 section 4: no compression for any type defined later).
pub fn rdata_names_compressible(rtype: u16) -> bool {
    matches!(
        rtype,
        NS | MD | MF | CNAME | SOA | MB | MG | MR | PTR | MINFO | MX
    )
}

/// Meta and query-only types, which never appear in a zone (RFC 6895 section 3.1).
pub fn is_meta(rtype: u16) -> bool {
    matches!(rtype, 0 | TKEY | TSIG | IXFR | AXFR | ANY | 128..=255)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnemonics() {
        assert_eq!(from_mnemonic("aaaa"), Some(AAAA));
        assert_eq!(from_mnemonic("TYPE65000"), Some(65000));
        assert_eq!(from_mnemonic("type1"), Some(1));
        assert_eq!(from_mnemonic("TYPE"), None);
        assert_eq!(from_mnemonic("TYPE70000"), None);
        assert_eq!(mnemonic(HTTPS), Some("HTTPS"));
        assert!(rdata_names_compressible(MX));
        assert!(!rdata_names_compressible(SRV));
    }
}
