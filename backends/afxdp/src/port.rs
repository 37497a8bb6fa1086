//! [`AfXdpPort`]: an interface driven through AF_XDP, implementing the driver contract's
//! [`Port`]. The port owns the steering program (attached when the port opens, detached when
//! it drops); each [`AfXdpQueue`] it opens owns its socket, UMEM and pool.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cyclone_pmd::{Capabilities, Checksums, MacAddr, Port, PortError};

use crate::error::AfXdpError;
use crate::netdev::NetDev;
use crate::program::{AttachApi, AttachMode, SteerProgram, XdpCounters, MAX_ADDRS, MAX_QUEUES};
use crate::queue::{AfXdpQueue, SocketConfig};
use crate::sys;

/// `XDP_PACKET_HEADROOM`: where the kernel puts a received frame in its UMEM chunk.
const XDP_PACKET_HEADROOM: u32 = 256;
/// Ethernet header plus one VLAN tag.
const L2_OVERHEAD: u32 = 18;

/// Configuration of an [`AfXdpPort`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfXdpConfig {
    /// Interface name (in the calling thread's network namespace).
    pub ifname: String,
    /// The dataplane's IPv4 addresses: ARP for them and IPv4 to them is steered to the queues;
    /// all other traffic goes to the kernel.
    pub addrs: Vec<Ipv4Addr>,
    /// If set, TCP/UDP to our addresses is steered only for these destination ports.
    pub port_filter: Option<Vec<u16>>,
    /// Per-queue socket, ring and pool settings.
    pub socket: SocketConfig,
    /// Driver (native) or generic XDP.
    pub attach_mode: AttachMode,
    /// BPF link (auto-detached at exit) or netlink (persistent) attachment.
    pub attach_api: AttachApi,
}

impl AfXdpConfig {
    /// Defaults for `ifname` and `addrs`.
    pub fn new(ifname: impl Into<String>, addrs: Vec<Ipv4Addr>) -> AfXdpConfig {
        AfXdpConfig {
            ifname: ifname.into(),
            addrs,
            port_filter: None,
            socket: SocketConfig::default(),
            attach_mode: AttachMode::Auto,
            attach_api: AttachApi::Link,
        }
    }
}

/// An interface driven through AF_XDP sockets, one per queue.
#[derive(Debug)]
pub struct AfXdpPort {
    dev: NetDev,
    config: AfXdpConfig,
    program: SteerProgram,
    open: Arc<[AtomicBool]>,
}

impl AfXdpPort {
    /// Checks the configuration and the interface, removes a stale Cyclone XDP program,
    /// attaches the steering program and configures its addresses. Queues are opened with
    /// [`Port::open_queue`].
    pub fn open(config: AfXdpConfig) -> Result<AfXdpPort, AfXdpError> {
        config.socket.validate()?;
        if config.addrs.is_empty() || config.addrs.len() > MAX_ADDRS {
            return Err(AfXdpError::Config(format!(
                "`addrs`: give 1 to {MAX_ADDRS} IPv4 addresses for the dataplane (got {})",
                config.addrs.len()
            )));
        }
        let dev = NetDev::lookup(&config.ifname)?;
        if sys::geteuid() != 0 {
            tracing::debug!(
                "not running as root: AF_XDP needs CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF"
            );
        }
        let pool = config.socket.pool;
        let room = pool.frame_size.saturating_sub(XDP_PACKET_HEADROOM);
        if dev.mtu + L2_OVERHEAD > room {
            return Err(AfXdpError::Config(format!(
                "`{}` has MTU {}, but a {}-byte frame holds at most {} bytes after the kernel's {} \
                 bytes of XDP headroom: use frame_size 4096 or lower the MTU (`ip link set dev {} mtu 1500`)",
                dev.name,
                dev.mtu,
                pool.frame_size,
                room.saturating_sub(L2_OVERHEAD),
                XDP_PACKET_HEADROOM,
                dev.name
            )));
        }
        let mut program = SteerProgram::attach(&dev, config.attach_mode, config.attach_api)?;
        for &addr in &config.addrs {
            program.add_addr(addr)?;
        }
        program.set_port_filter(config.port_filter.as_deref())?;
        let queues = dev.queues.min(MAX_QUEUES);
        let open = (0..queues).map(|_| AtomicBool::new(false)).collect();
        Ok(AfXdpPort {
            dev,
            config,
            program,
            open,
        })
    }

    /// The interface.
    pub fn netdev(&self) -> &NetDev {
        &self.dev
    }

    /// The steering program (add or remove addresses, counters).
    pub fn program(&mut self) -> &mut SteerProgram {
        &mut self.program
    }

    /// The XDP program's counters for queue `queue`.
    pub fn xdp_counters(&self, queue: u16) -> Result<XdpCounters, AfXdpError> {
        self.program.counters(queue)
    }

    /// Opens queue `id`, with the backend's own error type.
    pub fn open_xsk_queue(&mut self, id: u16) -> Result<AfXdpQueue, AfXdpError> {
        let queues = self.open.len() as u16;
        let Some(flag) = self.open.get(id as usize) else {
            return Err(AfXdpError::NoSuchQueue {
                ifname: self.dev.name.clone(),
                queue: id,
                queues,
            });
        };
        if flag.swap(true, Ordering::AcqRel) {
            return Err(AfXdpError::Config(format!(
                "queue {id} of `{}` is already open",
                self.dev.name
            )));
        }
        AfXdpQueue::open(
            &self.dev,
            id,
            &self.config.socket,
            &mut self.program,
            self.open.clone(),
        )
        .inspect_err(|_| {
            self.open[id as usize].store(false, Ordering::Release);
        })
    }
}

impl Port for AfXdpPort {
    type Queue = AfXdpQueue;

    fn name(&self) -> &str {
        &self.dev.name
    }

    fn mac(&self) -> MacAddr {
        MacAddr(self.dev.mac)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            mtu: self.dev.mtu.min(u16::MAX as u32) as u16,
            max_queues: self.open.len() as u16,
            // veth and copy-mode AF_XDP: no checksum offload either way.
            rx_checksum: Checksums::default(),
            tx_checksum: Checksums::default(),
            tso: false,
            rss: self.open.len() > 1,
        }
    }

    fn open_queue(&mut self, id: u16) -> Result<AfXdpQueue, PortError> {
        if let Some(flag) = self.open.get(id as usize) {
            if flag.load(Ordering::Acquire) {
                return Err(PortError::QueueInUse(id));
            }
        }
        self.open_xsk_queue(id).map_err(PortError::from)
    }
}
