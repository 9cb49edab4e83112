//! One resource record as the zone store keeps it: owner, type, class, TTL and RDATA in
//! uncompressed wire format (names inside RDATA are absolute and uncompressed).

use crate::name::Name;

/// A resource record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    pub owner: Name,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// RDATA in uncompressed wire format, at most 65535 bytes.
    pub rdata: Box<[u8]>,
}

/// The class IN (RFC 1035 section 3.2.4).
pub const CLASS_IN: u16 = 1;
