//! What the backend learns about a network interface: index, MAC, MTU and queue count.
//!
//! Asked with ioctls on a socket of the calling thread's network namespace (not through
//! `/sys`, which shows the namespace sysfs was mounted in), via `sys`.

use std::io;

use crate::error::AfXdpError;
use crate::sys;

/// A network interface as the backend sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDev {
    /// Interface name.
    pub name: String,
    /// Interface index.
    pub ifindex: u32,
    /// MAC address.
    pub mac: [u8; 6],
    /// L3 MTU.
    pub mtu: u32,
    /// Receive queues (`ethtool -l`: combined, or rx, whichever is larger; at least 1).
    pub queues: u16,
}

impl NetDev {
    /// Looks `name` up. A missing interface is [`AfXdpError::NoSuchInterface`].
    pub fn lookup(name: &str) -> Result<NetDev, AfXdpError> {
        let ifindex = sys::if_index(name).map_err(|source| missing(name, source))?;
        let mac =
            sys::if_mac(name).map_err(|e| syscall_or_missing(name, "ioctl(SIOCGIFHWADDR)", e))?;
        let mtu =
            sys::if_mtu(name).map_err(|e| syscall_or_missing(name, "ioctl(SIOCGIFMTU)", e))?;
        let queues = match sys::ethtool_channels(name) {
            Ok(ch) => ch.combined_count.max(ch.rx_count).max(1),
            // Drivers without get_channels: one queue, like `ethtool -l` would imply.
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => 1,
            Err(e) => {
                return Err(syscall_or_missing(
                    name,
                    "ioctl(SIOCETHTOOL, ETHTOOL_GCHANNELS)",
                    e,
                ))
            }
        };
        Ok(NetDev {
            name: name.to_string(),
            ifindex,
            mac,
            mtu,
            queues: queues.min(u16::MAX as u32) as u16,
        })
    }
}

fn missing(name: &str, source: io::Error) -> AfXdpError {
    AfXdpError::NoSuchInterface {
        ifname: name.to_string(),
        source,
    }
}

fn syscall_or_missing(name: &str, call: &'static str, e: io::Error) -> AfXdpError {
    if e.raw_os_error() == Some(libc::ENODEV) {
        missing(name, e)
    } else {
        AfXdpError::syscall(call, e)
    }
}
