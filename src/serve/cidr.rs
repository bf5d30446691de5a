use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address block such as `10.0.0.0/8` or `::1/128` (a bare address is a
/// single host). IPv4-mapped IPv6 peers are compared as IPv4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CidrError {
    #[error("`{0}` is not an address block (expected ADDR or ADDR/PREFIX)")]
    NotABlock(String),
    /// `192.168.1.10/24`: a typo for one host or for its network, and the
    /// network would trust 255 hosts more than the one meant.
    #[error("`{text}` has bits set past its /{prefix}: write {network}/{prefix} for the block, or {addr} alone for the one address")]
    HostBits {
        text: String,
        network: IpAddr,
        prefix: u8,
        addr: IpAddr,
    },
}

impl Cidr {
    /// A prefix of length 0: every address of its family.
    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }

    pub fn loopback() -> [Cidr; 2] {
        [
            Cidr {
                addr: IpAddr::from([127, 0, 0, 0]),
                prefix: 8,
            },
            Cidr {
                addr: IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
                prefix: 128,
            },
        ]
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4()
            && Cidr { addr: ip, ..*self }.network() == self.network()
    }

    /// The address with the bits past the prefix cleared.
    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CidrError::NotABlock(s.to_string());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = addr.trim().parse::<IpAddr>().map_err(|_| err())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().map_err(|_| err())?,
            None => max,
        };
        if prefix > max {
            return Err(err());
        }
        let block = Cidr { addr, prefix };
        let network = block.network();
        if network != addr {
            return Err(CidrError::HostBits {
                text: s.to_string(),
                network,
                prefix,
                addr,
            });
        }
        // Peers are compared as IPv4 when mapped, so a mapped block is the
        // IPv4 block it maps (`::ffff:10.0.0.0/104` is `10.0.0.0/8`).
        Ok(match addr.to_canonical() {
            IpAddr::V4(v4) if addr.is_ipv6() && prefix >= 96 => Cidr {
                addr: IpAddr::V4(v4),
                prefix: prefix - 96,
            },
            _ => Cidr { addr, prefix },
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().expect("valid cidr")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("valid ip")
    }

    #[test]
    fn membership() {
        assert!(c("10.0.0.0/8").contains(ip("10.200.1.1")));
        assert!(!c("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(c("0.0.0.0/0").contains(ip("1.2.3.4")));
        assert!(!c("0.0.0.0/0").contains(ip("::1")));
        assert!(c("127.0.0.1").contains(ip("::ffff:127.0.0.1")));
        assert!(c("2001:db8::/32").contains(ip("2001:db8:1::5")));
        assert!(!c("2001:db8::/32").contains(ip("2001:db9::5")));
        assert!(c("::1").contains(ip("::1")));
        // A mapped block is its IPv4 block.
        let mapped = c("::ffff:10.0.0.0/104");
        assert_eq!(mapped, c("10.0.0.0/8"));
        assert!(mapped.contains(ip("10.1.2.3")) && mapped.contains(ip("::ffff:10.9.9.9")));
        assert!(!mapped.contains(ip("11.0.0.1")));
    }

    #[test]
    fn rejects_bad_blocks() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "x/8",
            "10.0.0.0/-1",
            "10.0.0/8",
            "192.168.1.10/24",
            "10.0.0.1/0",
            "2001:db8::1/64",
            "::ffff:10.0.0.1/104",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        let e = "192.168.1.10/24".parse::<Cidr>().unwrap_err().to_string();
        assert!(
            e.contains("write 192.168.1.0/24 for the block, or 192.168.1.10 alone"),
            "{e}"
        );
        for good in [
            "192.168.1.0/24",
            "0.0.0.0/0",
            "2001:db8::/64",
            "10.0.0.1",
            "::1",
        ] {
            assert!(good.parse::<Cidr>().is_ok(), "{good}");
        }
    }
}
