//! Access lists (allow-transfer): rules by address prefix, and by TSIG key.
//!
//! A rule is a prefix (`192.0.2.0/24`, `2001:db8::/32`, or a bare address for a single host),
//! optionally with a key: `{ address = "192.0.2.0/24", key = "xfr-key." }` matches only a request
//! from that prefix whose TSIG verified with that key. A rule without a key matches any request
//! from its prefix, signed or not, so a list that holds only keyed rules refuses unsigned
//! transfers. IPv4-mapped IPv6 peers (`::ffff:192.0.2.1`, what a dual-stack socket reports) are
//! matched as the IPv4 address they carry.
//!
//! A rule also names the transports it covers (`transport = "tcp" | "tls" | "any"`): a rule
//! without one covers plain DNS (TCP, and UDP for IXFR) only, never TLS, and a `"tls"` rule never
//! covers plain TCP, so a zone whose rules all say `"tls"` refuses plain transfers (RFC 9103
//! section 9). The default list is loopback only, over any transport: `127.0.0.0/8` and
//! `::1/128` (loopback traffic never leaves the host, so TLS adds nothing there).

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

/// The transports a rule covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RuleTransport {
    /// Plain DNS: TCP (and UDP). What a rule without `transport` covers.
    #[default]
    Plain,
    /// DNS over TLS (XoT) only.
    Tls,
    /// Both.
    Any,
}

impl FromStr for RuleTransport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tcp" => Ok(RuleTransport::Plain),
            "tls" => Ok(RuleTransport::Tls),
            "any" => Ok(RuleTransport::Any),
            other => Err(format!(
                "transport `{other}`: expected \"tcp\", \"tls\" or \"any\""
            )),
        }
    }
}

impl RuleTransport {
    fn covers(self, tls: bool) -> bool {
        match self {
            RuleTransport::Plain => !tls,
            RuleTransport::Tls => tls,
            RuleTransport::Any => true,
        }
    }
}

/// One rule: a prefix, the key a request must be signed with, if any, and the transports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub prefix: Prefix,
    /// The key's name, lowercased wire form.
    pub key: Option<Box<[u8]>>,
    pub transport: RuleTransport,
}

/// A list of rules; a request is allowed when any rule matches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl(Vec<Rule>);

impl Acl {
    /// A list of prefixes without keys.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Acl, AclError> {
        items
            .iter()
            .map(|s| {
                s.as_ref().parse().map(|prefix| Rule {
                    prefix,
                    key: None,
                    transport: RuleTransport::Plain,
                })
            })
            .collect::<Result<_, _>>()
            .map(Acl)
    }

    pub fn from_rules(rules: Vec<Rule>) -> Acl {
        Acl(rules)
    }

    pub fn rules(&self) -> &[Rule] {
        &self.0
    }

    /// Loopback only, over any transport: the default for transfers.
    pub fn loopback() -> Acl {
        let mut acl = Acl::parse(&["127.0.0.0/8", "::1/128"]).expect("constant prefixes");
        for r in &mut acl.0 {
            r.transport = RuleTransport::Any;
        }
        acl
    }

    /// True when a plain-DNS request from `ip`, signed with the key named `key` (lowercased
    /// wire form; `None`: unsigned), matches a rule.
    pub fn allows(&self, ip: IpAddr, key: Option<&[u8]>) -> bool {
        self.allows_over(ip, key, false)
    }

    /// True when a request from `ip`, signed with `key`, over TLS when `tls`, matches a rule.
    pub fn allows_over(&self, ip: IpAddr, key: Option<&[u8]>, tls: bool) -> bool {
        self.0.iter().any(|r| {
            r.transport.covers(tls)
                && r.prefix.contains(ip)
                && match (&r.key, key) {
                    (None, _) => true,
                    (Some(want), Some(got)) => **want == *got,
                    (Some(_), None) => false,
                }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_default_and_mapped_addresses() {
        let acl = Acl::loopback();
        for yes in ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1"] {
            assert!(acl.allows(ip(yes), None), "{yes}");
            assert!(acl.allows(ip(yes), Some(b"\x01k\x00")), "{yes} signed");
        }
        for no in ["192.0.2.1", "::2"] {
            assert!(!acl.allows(ip(no), None), "{no}");
        }
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
        assert!(acl.allows(ip("10.0.0.1"), None));
        assert!(acl.allows(ip("2001:db8:1::5"), None));
        assert!(!acl.allows(ip("2001:db9::5"), None));
        let none = Acl::parse::<&str>(&[]).unwrap();
        assert!(!none.allows(ip("127.0.0.1"), None));
        assert!(matches!(
            "1.2.3.4/33".parse::<Prefix>(),
            Err(AclError::LengthTooLong(_))
        ));
        assert!(matches!(
            "nonsense/8".parse::<Prefix>(),
            Err(AclError::Syntax(_))
        ));
        assert!("::/0".parse::<Prefix>().unwrap().contains(ip("2001::1")));
    }

    #[test]
    fn keyed_rules_need_address_and_key() {
        let k: Box<[u8]> = b"\x07xfr-key\x00".as_slice().into();
        let acl = Acl::from_rules(vec![
            Rule {
                prefix: "192.0.2.0/24".parse().unwrap(),
                key: Some(k.clone()),
                transport: RuleTransport::Plain,
            },
            Rule {
                prefix: "127.0.0.1".parse().unwrap(),
                key: None,
                transport: RuleTransport::Plain,
            },
        ]);
        assert!(acl.allows(ip("192.0.2.9"), Some(&k)));
        assert!(!acl.allows(ip("192.0.2.9"), None), "unsigned");
        assert!(
            !acl.allows(ip("192.0.2.9"), Some(b"\x05other\x00")),
            "another key"
        );
        assert!(!acl.allows(ip("198.51.100.1"), Some(&k)), "another address");
        assert!(acl.allows(ip("127.0.0.1"), None));
        assert!(acl.allows(ip("127.0.0.1"), Some(b"\x05other\x00")));
        assert!(
            !acl.allows_over(ip("127.0.0.1"), None, true),
            "a rule without transport never covers TLS"
        );
    }

    #[test]
    fn transports_of_rules() {
        let rule = |transport| Rule {
            prefix: "0.0.0.0/0".parse().unwrap(),
            key: None,
            transport,
        };
        let tls = Acl::from_rules(vec![rule(RuleTransport::Tls)]);
        assert!(tls.allows_over(ip("192.0.2.1"), None, true));
        assert!(
            !tls.allows_over(ip("192.0.2.1"), None, false),
            "TLS rule, plain TCP"
        );
        let plain = Acl::from_rules(vec![rule(RuleTransport::Plain)]);
        assert!(plain.allows_over(ip("192.0.2.1"), None, false));
        assert!(
            !plain.allows_over(ip("192.0.2.1"), None, true),
            "plain rule, TLS"
        );
        let any = Acl::from_rules(vec![rule(RuleTransport::Any)]);
        assert!(any.allows_over(ip("192.0.2.1"), None, true));
        assert!(any.allows_over(ip("192.0.2.1"), None, false));
        let lo = Acl::loopback();
        assert!(lo.allows_over(ip("127.0.0.1"), None, true));
        assert!(lo.allows_over(ip("::1"), None, false));
        assert_eq!("tls".parse::<RuleTransport>(), Ok(RuleTransport::Tls));
        assert!("udp".parse::<RuleTransport>().is_err());
    }
}
