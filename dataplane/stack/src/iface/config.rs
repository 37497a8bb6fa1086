//! Configuration of an [`Interface`](super::Interface): its addresses ([`Ipv4Cidr`]), gateway,
//! ARP, ICMP, UDP and queue bounds, and the validation that turns a bad value into a
//! [`ConfigError`] saying which one and why.
//!
//! Address rules are RFC 1122 §3.2.1.3 (a host's own address is unicast: not 0.0.0.0, not
//! broadcast, not multicast, not loopback) and RFC 3021 (/31 links have no broadcast address).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use cyclone_pmd::MacAddr;

use crate::tcp::TcpConfig;

/// An IPv4 address with the prefix length of its subnet (`10.0.0.1/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    /// The address.
    pub addr: Ipv4Addr,
    /// The prefix length, 0 to 32.
    pub prefix_len: u8,
}

impl Ipv4Cidr {
    /// `addr/prefix_len` (checked by [`InterfaceConfig::validate`], not here).
    pub const fn new(addr: Ipv4Addr, prefix_len: u8) -> Ipv4Cidr {
        Ipv4Cidr { addr, prefix_len }
    }

    /// The subnet mask (`/24` → 255.255.255.0); a prefix above 32 counts as 32.
    pub fn netmask(&self) -> Ipv4Addr {
        let len = u32::from(self.prefix_len.min(32));
        let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
        Ipv4Addr::from(mask)
    }

    /// The subnet's first address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & u32::from(self.netmask()))
    }

    /// The subnet's directed broadcast address, or `None` for /31 and /32 (RFC 3021).
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        if self.prefix_len >= 31 {
            return None;
        }
        Some(Ipv4Addr::from(
            u32::from(self.addr) | !u32::from(self.netmask()),
        ))
    }

    /// Whether `ip` is in this subnet (on-link).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::from(self.netmask());
        u32::from(ip) & mask == u32::from(self.addr) & mask
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = ConfigError;

    /// Parses `a.b.c.d/len`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ConfigError::BadCidr(s.to_string());
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr = addr.parse().map_err(|_| bad())?;
        let prefix_len = len.parse().map_err(|_| bad())?;
        Ok(Ipv4Cidr { addr, prefix_len })
    }
}

/// A configuration value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `addresses` is empty: a host needs at least one address.
    #[error("the interface has no IPv4 address")]
    NoAddress,
    /// A prefix length above 32.
    #[error("address {addr}/{prefix_len}: the prefix length must be at most 32")]
    PrefixTooLong {
        /// The address.
        addr: Ipv4Addr,
        /// The prefix length given.
        prefix_len: u8,
    },
    /// Not a `a.b.c.d/len` string.
    #[error("`{0}` is not an IPv4 address with a prefix length (like 10.0.0.1/24)")]
    BadCidr(String),
    /// An address a host cannot own (RFC 1122 §3.2.1.3): unspecified, broadcast, multicast,
    /// loopback, or the subnet's broadcast address.
    #[error("address {0} cannot be a host's address (unspecified, broadcast, multicast, loopback or the subnet broadcast)")]
    AddressNotUnicast(Ipv4Addr),
    /// The same address twice.
    #[error("address {0} is configured twice")]
    DuplicateAddress(Ipv4Addr),
    /// The gateway is not in any of the interface's subnets, so it cannot be reached by ARP.
    #[error("gateway {0} is not on-link: it is in none of the interface's subnets")]
    GatewayNotOnLink(Ipv4Addr),
    /// The gateway is one of the interface's own addresses, or not unicast.
    #[error("gateway {0} is not a usable next hop (own address, or not unicast)")]
    BadGateway(Ipv4Addr),
    /// The MAC address is multicast, broadcast or zero.
    #[error("MAC address {0} is not a unicast address")]
    MacNotUnicast(MacAddr),
    /// A value that must be positive is zero.
    #[error("`{0}` must be greater than zero")]
    Zero(&'static str),
    /// The port's MTU is below the IPv4 minimum of 68 (RFC 791).
    #[error("the port's MTU {0} is below the IPv4 minimum of 68")]
    MtuTooSmall(u16),
}

/// Everything an [`Interface`](super::Interface) needs to know; build with
/// [`InterfaceConfig::new`] and change the fields whose defaults do not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// Our MAC address (the port's).
    pub mac: MacAddr,
    /// Our addresses with their subnets. The first one is the source for destinations
    /// reached through the gateway when no other address shares its subnet.
    pub addresses: Vec<Ipv4Cidr>,
    /// Default gateway for off-link destinations; without one, they have no route.
    pub gateway: Option<Ipv4Addr>,
    /// TTL of every packet we send (RFC 1700 / Linux default: 64).
    pub ttl: u8,
    /// How long a learned ARP entry stays valid (default 60 s).
    pub arp_cache_timeout: Duration,
    /// Time between ARP requests for an unresolved address (RFC 1122 §2.3.2.1: at most one
    /// per second per address; default 1 s).
    pub arp_retry: Duration,
    /// Requests sent again after the first before an address is given up (default 3).
    pub arp_max_retries: u8,
    /// Frames held per unresolved address until its reply comes (default 16; RFC 1122
    /// §2.3.2.2 asks for at least one). Beyond: the oldest is dropped and counted.
    pub arp_pending_per_addr: usize,
    /// Addresses being resolved at once (default 64). Beyond: the frame is dropped and counted.
    pub arp_pending_addrs: usize,
    /// Most entries in the ARP cache (default 1024); when full the entry closest to expiry
    /// makes room.
    pub arp_cache_size: usize,
    /// Frames waiting for the device (default 1024). Beyond: the oldest is dropped and counted.
    pub tx_queue_len: usize,
    /// Most UDP sockets (default 64).
    pub udp_max_sockets: usize,
    /// Datagrams held per UDP socket until the application reads them (default 64). Beyond:
    /// the new datagram is dropped and counted.
    pub udp_rx_queue_len: usize,
    /// ICMP errors sent per second in the long run (token bucket rate; default 100).
    pub icmp_error_rate: u32,
    /// ICMP errors that may be sent back to back (token bucket depth; default 20).
    pub icmp_error_burst: u32,
    /// The TCP layer's configuration (its MSS is clamped to the port's MTU − 40).
    pub tcp: TcpConfig,
}

impl InterfaceConfig {
    /// One address, no gateway, defaults everywhere else.
    pub fn new(mac: MacAddr, address: Ipv4Cidr) -> InterfaceConfig {
        InterfaceConfig {
            mac,
            addresses: vec![address],
            gateway: None,
            ttl: 64,
            arp_cache_timeout: Duration::from_secs(60),
            arp_retry: Duration::from_secs(1),
            arp_max_retries: 3,
            arp_pending_per_addr: 16,
            arp_pending_addrs: 64,
            arp_cache_size: 1024,
            tx_queue_len: 1024,
            udp_max_sockets: 64,
            udp_rx_queue_len: 64,
            icmp_error_rate: 100,
            icmp_error_burst: 20,
            tcp: TcpConfig::default(),
        }
    }

    /// Checks every value; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.mac.is_multicast() || self.mac == MacAddr::ZERO {
            return Err(ConfigError::MacNotUnicast(self.mac));
        }
        if self.addresses.is_empty() {
            return Err(ConfigError::NoAddress);
        }
        for (i, cidr) in self.addresses.iter().enumerate() {
            if cidr.prefix_len > 32 {
                return Err(ConfigError::PrefixTooLong {
                    addr: cidr.addr,
                    prefix_len: cidr.prefix_len,
                });
            }
            let a = cidr.addr;
            if !is_unicast(a) || cidr.broadcast() == Some(a) {
                return Err(ConfigError::AddressNotUnicast(a));
            }
            if self.addresses[..i].iter().any(|c| c.addr == a) {
                return Err(ConfigError::DuplicateAddress(a));
            }
        }
        if let Some(gw) = self.gateway {
            if !is_unicast(gw) || self.addresses.iter().any(|c| c.addr == gw) {
                return Err(ConfigError::BadGateway(gw));
            }
            if !self.addresses.iter().any(|c| c.contains(gw)) {
                return Err(ConfigError::GatewayNotOnLink(gw));
            }
        }
        let positive = [
            ("ttl", u64::from(self.ttl)),
            ("arp_cache_timeout", nanos(self.arp_cache_timeout)),
            ("arp_retry", nanos(self.arp_retry)),
            ("arp_pending_per_addr", self.arp_pending_per_addr as u64),
            ("arp_pending_addrs", self.arp_pending_addrs as u64),
            ("arp_cache_size", self.arp_cache_size as u64),
            ("tx_queue_len", self.tx_queue_len as u64),
            ("udp_max_sockets", self.udp_max_sockets as u64),
            ("udp_rx_queue_len", self.udp_rx_queue_len as u64),
            ("icmp_error_burst", u64::from(self.icmp_error_burst)),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::Zero(name));
        }
        Ok(())
    }
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

/// Whether `ip` can be a host's own (or a next hop's) address.
pub(crate) fn is_unicast(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> InterfaceConfig {
        InterfaceConfig::new(
            MacAddr::local(1),
            Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 1), 24),
        )
    }

    #[test]
    fn cidr_arithmetic() {
        let c: Ipv4Cidr = "192.168.1.77/26".parse().unwrap();
        assert_eq!(c.netmask(), Ipv4Addr::new(255, 255, 255, 192));
        assert_eq!(c.network(), Ipv4Addr::new(192, 168, 1, 64));
        assert_eq!(c.broadcast(), Some(Ipv4Addr::new(192, 168, 1, 127)));
        assert!(c.contains(Ipv4Addr::new(192, 168, 1, 100)));
        assert!(!c.contains(Ipv4Addr::new(192, 168, 1, 128)));
        let all = Ipv4Cidr::new(Ipv4Addr::new(10, 1, 2, 3), 0);
        assert!(all.contains(Ipv4Addr::new(200, 1, 1, 1)));
        assert_eq!(
            Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 0), 31).broadcast(),
            None
        );
        assert_eq!(c.to_string(), "192.168.1.77/26");
        assert!("10.0.0.1".parse::<Ipv4Cidr>().is_err());
        assert!("10.0.0.1/x".parse::<Ipv4Cidr>().is_err());
    }

    #[test]
    fn validation_names_the_bad_value() {
        assert_eq!(config().validate(), Ok(()));
        let mut c = config();
        c.addresses.clear();
        assert_eq!(c.validate(), Err(ConfigError::NoAddress));
        let mut c = config();
        c.addresses[0].prefix_len = 33;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::PrefixTooLong { .. })
        ));
        let mut c = config();
        c.gateway = Some(Ipv4Addr::new(10, 0, 1, 1));
        assert_eq!(
            c.validate(),
            Err(ConfigError::GatewayNotOnLink(Ipv4Addr::new(10, 0, 1, 1)))
        );
        c.gateway = Some(Ipv4Addr::new(10, 0, 0, 254));
        assert_eq!(c.validate(), Ok(()));
        c.gateway = Some(Ipv4Addr::new(10, 0, 0, 1));
        assert!(matches!(c.validate(), Err(ConfigError::BadGateway(_))));
        let mut c = config();
        c.addresses.push(c.addresses[0]);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::DuplicateAddress(_))
        ));
        let mut c = config();
        c.addresses[0].addr = Ipv4Addr::new(10, 0, 0, 255);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::AddressNotUnicast(_))
        ));
        let mut c = config();
        c.arp_pending_per_addr = 0;
        assert_eq!(c.validate(), Err(ConfigError::Zero("arp_pending_per_addr")));
        let mut c = config();
        c.mac = MacAddr::BROADCAST;
        assert!(matches!(c.validate(), Err(ConfigError::MacNotUnicast(_))));
    }
}
