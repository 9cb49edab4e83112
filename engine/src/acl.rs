//! Address-prefix access lists (allow-transfer).
//!
//! A list of prefixes (`192.0.2.0/24`, `2001:db8::/32`, or a bare address for a single host).
//! IPv4-mapped IPv6 peers (`::ffff:192.0.2.1`, what a dual-stack socket reports) are matched as
//! the IPv4 address they carry. The default list is loopback only: `127.0.0.0/8` and `::1/128`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AclError {
    #[error("`{0}` is not an address prefix (like 192.0.2.0/24 or 2001:db8::/32)")]
    Syntax(String),
    #[error("`{0}`: prefix length is longer than the address")]
    LengthTooLong(String),
}

impl FromStr for Prefix {
    type Err = AclError;
    fn from_str(s: &str) -> Result<Self, AclError> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| AclError::Syntax(s.into()))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => l
                .trim()
                .parse::<u8>()
                .map_err(|_| AclError::Syntax(s.into()))?,
            None => max,
        };
        if len > max {
            return Err(AclError::LengthTooLong(s.into()));
        }
        Ok(Prefix { addr, len })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl Prefix {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(p), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - self.len as u32).unwrap_or(0);
                u32::from(p) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(p), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - self.len as u32).unwrap_or(0);
                u128::from(p) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// A list of prefixes; an address is allowed when any prefix contains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl(Vec<Prefix>);

impl Acl {
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Acl, AclError> {
        items
            .iter()
            .map(|s| s.as_ref().parse())
            .collect::<Result<_, _>>()
            .map(Acl)
    }

    /// Loopback only: the default for transfers.
    pub fn loopback() -> Acl {
        Acl::parse(&["127.0.0.0/8", "::1/128"]).expect("constant prefixes")
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|p| p.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_default_and_mapped_addresses() {
        let acl = Acl::loopback();
        assert!(acl.allows("127.0.0.1".parse().unwrap()));
        assert!(acl.allows("127.9.8.7".parse().unwrap()));
        assert!(acl.allows("::1".parse().unwrap()));
        assert!(acl.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!acl.allows("192.0.2.1".parse().unwrap()));
        assert!(!acl.allows("::2".parse().unwrap()));
    }

    #[test]
    fn prefixes_of_any_length() {
        let acl = Acl::parse(&[
            "192.0.2.0/24",
            "2001:db8::/32",
            "0.0.0.0/0",
            "::ffff:10.0.0.1",
        ])
        .unwrap();
        assert!(acl.allows("10.0.0.1".parse().unwrap()));
        assert!(acl.allows("2001:db8:1::5".parse().unwrap()));
        assert!(!acl.allows("2001:db9::5".parse().unwrap()));
        let none = Acl::parse::<&str>(&[]).unwrap();
        assert!(!none.allows("127.0.0.1".parse().unwrap()));
        assert!(matches!(
            "1.2.3.4/33".parse::<Prefix>(),
            Err(AclError::LengthTooLong(_))
        ));
        assert!(matches!(
            "nonsense/8".parse::<Prefix>(),
            Err(AclError::Syntax(_))
        ));
        assert!("::/0"
            .parse::<Prefix>()
            .unwrap()
            .contains("2001::1".parse().unwrap()));
    }
}
