//! DPDK ports and their queues, implementing `cyclone_pmd`'s [`Port`] and [`Queue`].
//!
//! [`DpdkPort::open`] configures a port (queues, descriptors, RSS when there is more than one
//! queue, MTU, the checksum offloads the device has, promiscuous mode), starts it and reads its
//! [`Capabilities`] from `rte_eth_dev_info`. Each [`DpdkQueue`] receives and transmits in bursts
//! over the port's [`MbufPool`] without copying; the port stops and closes when the port handle
//! and all its queues are gone.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cyclone_dpdk_sys as ffi;
use cyclone_pmd::{
    Capabilities, Checksums, MacAddr, PacketBuf, Pool, Port, PortError, Queue, QueueStats, RxQueue,
    TxQueue,
};

use crate::eal::{Eal, PortInfo};
use crate::error::{DpdkError, Result};
use crate::pool::{self, MbufPool, MbufPoolConfig};
use crate::sys::{self, DevInfo, EthStats, Link};

/// Which port: by DPDK id or by device name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSelector {
    /// DPDK port id.
    Id(u16),
    /// Device name (`net_null0`, `0000:00:08.0`).
    Name(String),
}

impl FromStr for PortSelector {
    type Err = std::convert::Infallible;
    /// A number is an id, anything else a name.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(match s.parse::<u16>() {
            Ok(id) => PortSelector::Id(id),
            Err(_) => PortSelector::Name(s.to_string()),
        })
    }
}

impl From<u16> for PortSelector {
    fn from(id: u16) -> Self {
        PortSelector::Id(id)
    }
}

impl From<&str> for PortSelector {
    fn from(name: &str) -> Self {
        PortSelector::Name(name.to_string())
    }
}

/// How to set up a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// RX/TX queue pairs; more than one turns RSS on.
    pub queues: u16,
    /// RX descriptors per queue (clamped to the device's limits).
    pub rx_desc: u16,
    /// TX descriptors per queue (clamped to the device's limits).
    pub tx_desc: u16,
    /// L3 MTU to set; `None` keeps the device's.
    pub mtu: Option<u16>,
    /// Receive frames for any destination MAC.
    pub promiscuous: bool,
    /// Size of the pool a port creates when it is not given one.
    pub pool: MbufPoolConfig,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            mtu: None,
            promiscuous: true,
            pool: MbufPoolConfig::default(),
        }
    }
}

struct PortInner {
    id: u16,
    name: String,
    queues: u16,
    mac: MacAddr,
    caps: Capabilities,
    info: DevInfo,
    tx_offload: Checksums,
    open: Vec<AtomicBool>,
    pool: MbufPool,
}

impl Drop for PortInner {
    fn drop(&mut self) {
        // Nothing polls the port any more: every queue holds this `Arc`. Closing frees the mbufs
        // the driver holds back to the pool. The pool (and its mempool) is dropped after this.
        let _ = sys::dev_stop(self.id);
        let _ = sys::dev_close(self.id);
    }
}

/// A started DPDK port.
pub struct DpdkPort {
    inner: Arc<PortInner>,
}

impl fmt::Debug for DpdkPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpdkPort")
            .field("id", &self.inner.id)
            .field("name", &self.inner.name)
            .field("queues", &self.inner.queues)
            .finish()
    }
}

const RSS_HF: u64 = (ffi::RTE_ETH_RSS_IP | ffi::RTE_ETH_RSS_TCP | ffi::RTE_ETH_RSS_UDP) as u64;

fn bit(capa: u64, flag: u32) -> bool {
    capa & u64::from(flag) != 0
}

/// The port `sel` names, or why there is none.
fn find_port(eal: &Eal, sel: PortSelector) -> Result<PortInfo> {
    let ports = eal.ports();
    if ports.is_empty() {
        return Err(DpdkError::NoPorts);
    }
    let found = match &sel {
        PortSelector::Id(id) => ports.iter().find(|p| p.id == *id),
        PortSelector::Name(name) => ports.iter().find(|p| p.name == *name),
    };
    found.cloned().ok_or_else(|| DpdkError::NoSuchPort {
        name: match sel {
            PortSelector::Id(id) => id.to_string(),
            PortSelector::Name(n) => n,
        },
        available: ports
            .iter()
            .map(|p| format!("{} ({})", p.id, p.name))
            .collect(),
    })
}

/// The smallest frame size a driver works with: 4096 for `net_af_packet`, which refuses an
/// mbuf with less data room than its TPACKET frame (2048 bytes by default, more than the 1536
/// a 2048-byte frame leaves after DPDK's part and headroom); 2048 for the others.
pub fn min_frame_size(driver: &str) -> u32 {
    match driver {
        "net_af_packet" => 4096,
        _ => 2048,
    }
}

impl DpdkPort {
    /// Finds, configures and starts a port, with a pool of its own. A driver known to need
    /// more room per mbuf than `config.pool.frame_size` leaves gets bigger frames (see
    /// [`min_frame_size`]).
    pub fn open(eal: &Eal, port: impl Into<PortSelector>, config: &PortConfig) -> Result<DpdkPort> {
        let found = find_port(eal, port.into())?;
        let info =
            sys::dev_info(found.id).map_err(|e| DpdkError::call("rte_eth_dev_info_get", e))?;
        let mut pool_config = config.pool;
        pool_config.frame_size = pool_config.frame_size.max(min_frame_size(&info.driver));
        let pool = MbufPool::new(eal, pool_config)?;
        DpdkPort::open_with_pool(eal, found.id, config, pool)
    }

    /// Finds, configures and starts a port that receives into `pool` (which may be shared by
    /// several ports, as a forwarder between two ports does).
    pub fn open_with_pool(
        eal: &Eal,
        port: impl Into<PortSelector>,
        config: &PortConfig,
        pool: MbufPool,
    ) -> Result<DpdkPort> {
        let found = find_port(eal, port.into())?;
        let id = found.id;
        let info = sys::dev_info(id).map_err(|e| DpdkError::call("rte_eth_dev_info_get", e))?;
        let max_queues = info.max_rx_queues.min(info.max_tx_queues);
        if config.queues == 0 || config.queues > max_queues {
            return Err(DpdkError::Config(format!(
                "port {} offers 1 to {max_queues} queues, {} asked",
                found.name, config.queues
            )));
        }
        let clamp = |want: u16, min: u16, max: u16| {
            let max = if max == 0 { u16::MAX } else { max };
            want.clamp(min.min(max), max)
        };
        let rx_desc = clamp(config.rx_desc, info.rx_desc_min, info.rx_desc_max);
        let tx_desc = clamp(config.tx_desc, info.tx_desc_min, info.tx_desc_max);
        let frames = pool.pool().capacity();
        if (config.queues as usize) * (rx_desc as usize) >= frames {
            return Err(DpdkError::Config(format!(
                "{} queue(s) of {rx_desc} RX descriptors need more than the pool's {frames} frames",
                config.queues
            )));
        }
        let frame = pool.pool().config().frame_size;
        // Largest frame on the wire: MTU + Ethernet header + VLAN tag + CRC.
        let room = frame - pool::data_offset(frame);
        if let Some(mtu) = config.mtu {
            if mtu < info.min_mtu || (info.max_mtu != 0 && mtu > info.max_mtu) {
                return Err(DpdkError::Config(format!(
                    "MTU {mtu} is outside port {}'s range {}..={}",
                    found.name, info.min_mtu, info.max_mtu
                )));
            }
            if u32::from(mtu) + 22 > room {
                return Err(DpdkError::Config(format!(
                    "MTU {mtu} does not fit {frame}-byte frames (at most {})",
                    room - 22
                )));
            }
        }

        let rx_checksum = Checksums {
            ipv4: bit(info.rx_offload_capa, ffi::RTE_ETH_RX_OFFLOAD_IPV4_CKSUM),
            udp: bit(info.rx_offload_capa, ffi::RTE_ETH_RX_OFFLOAD_UDP_CKSUM),
            tcp: bit(info.rx_offload_capa, ffi::RTE_ETH_RX_OFFLOAD_TCP_CKSUM),
        };
        let tx_checksum = Checksums {
            ipv4: bit(info.tx_offload_capa, ffi::RTE_ETH_TX_OFFLOAD_IPV4_CKSUM),
            udp: bit(info.tx_offload_capa, ffi::RTE_ETH_TX_OFFLOAD_UDP_CKSUM),
            tcp: bit(info.tx_offload_capa, ffi::RTE_ETH_TX_OFFLOAD_TCP_CKSUM),
        };
        let mut rx_offloads = 0u64;
        for (on, flag) in [
            (rx_checksum.ipv4, ffi::RTE_ETH_RX_OFFLOAD_IPV4_CKSUM),
            (rx_checksum.udp, ffi::RTE_ETH_RX_OFFLOAD_UDP_CKSUM),
            (rx_checksum.tcp, ffi::RTE_ETH_RX_OFFLOAD_TCP_CKSUM),
        ] {
            if on {
                rx_offloads |= u64::from(flag);
            }
        }
        let mut tx_offloads = 0u64;
        for (on, flag) in [
            (tx_checksum.ipv4, ffi::RTE_ETH_TX_OFFLOAD_IPV4_CKSUM),
            (tx_checksum.udp, ffi::RTE_ETH_TX_OFFLOAD_UDP_CKSUM),
            (tx_checksum.tcp, ffi::RTE_ETH_TX_OFFLOAD_TCP_CKSUM),
        ] {
            if on {
                tx_offloads |= u64::from(flag);
            }
        }
        let rss_hf = if config.queues > 1 {
            let hf = RSS_HF & info.flow_type_rss_offloads;
            if hf == 0 {
                return Err(DpdkError::Config(format!(
                    "port {} cannot spread flows over {} queues: it has no RSS",
                    found.name, config.queues
                )));
            }
            hf
        } else {
            0
        };
        let conf = sys::EthConf {
            rss_hf,
            rx_offloads,
            tx_offloads,
            mtu: config.mtu.map(u32::from).unwrap_or(0),
        };
        sys::configure(id, config.queues, config.queues, &conf)
            .map_err(|e| DpdkError::call("rte_eth_dev_configure", e))?;
        for q in 0..config.queues {
            sys::rx_queue_setup(id, q, rx_desc, pool.mempool())
                .map_err(|e| DpdkError::call("rte_eth_rx_queue_setup", e))?;
            sys::tx_queue_setup(id, q, tx_desc)
                .map_err(|e| DpdkError::call("rte_eth_tx_queue_setup", e))?;
        }
        if let Some(mtu) = config.mtu {
            // Some drivers ignore `rxmode.mtu`; setting it again is harmless.
            match sys::set_mtu(id, mtu) {
                Ok(()) | Err(libc::ENOTSUP) => {}
                Err(e) => return Err(DpdkError::call("rte_eth_dev_set_mtu", e)),
            }
        }
        sys::dev_start(id).map_err(|e| DpdkError::call("rte_eth_dev_start", e))?;
        // From here on `PortInner::drop` stops and closes the port on any error.
        let mac = MacAddr(sys::mac(id).unwrap_or_default());
        let mtu = sys::mtu(id).unwrap_or(1500);
        let caps = Capabilities {
            mtu,
            max_queues: config.queues,
            rx_checksum,
            tx_checksum,
            // `PacketBuf` carries no segment size, so TSO cannot be asked for per buffer yet;
            // `DpdkPort::device_tso` says whether the device has it.
            tso: false,
            rss: rss_hf != 0,
        };
        let inner = Arc::new(PortInner {
            id,
            name: found.name,
            queues: config.queues,
            mac,
            caps,
            info,
            tx_offload: tx_checksum,
            open: (0..config.queues).map(|_| AtomicBool::new(false)).collect(),
            pool,
        });
        let port = DpdkPort { inner };
        match sys::promiscuous(id, config.promiscuous) {
            Ok(()) | Err(libc::ENOTSUP) => {}
            Err(e) => return Err(DpdkError::call("rte_eth_promiscuous_enable", e)),
        }
        Ok(port)
    }

    /// DPDK port id.
    pub fn id(&self) -> u16 {
        self.inner.id
    }

    /// The driver's name (`net_null`, `net_af_packet`, ...).
    pub fn driver(&self) -> &str {
        &self.inner.info.driver
    }

    /// The pool the port receives into and transmits from.
    pub fn mbuf_pool(&self) -> &MbufPool {
        &self.inner.pool
    }

    /// Whether the device has TCP segmentation offload (not wired to `PacketBuf` yet).
    pub fn device_tso(&self) -> bool {
        bit(
            self.inner.info.tx_offload_capa,
            ffi::RTE_ETH_TX_OFFLOAD_TCP_TSO,
        )
    }

    /// Link state, without waiting.
    pub fn link(&self) -> Result<Link> {
        sys::link(self.inner.id).map_err(|e| DpdkError::call("rte_eth_link_get_nowait", e))
    }

    /// The current MTU.
    pub fn mtu(&self) -> Result<u16> {
        sys::mtu(self.inner.id).map_err(|e| DpdkError::call("rte_eth_dev_get_mtu", e))
    }

    /// Turns promiscuous mode on or off.
    pub fn set_promiscuous(&self, on: bool) -> Result<()> {
        sys::promiscuous(self.inner.id, on).map_err(|e| {
            DpdkError::call(
                if on {
                    "rte_eth_promiscuous_enable"
                } else {
                    "rte_eth_promiscuous_disable"
                },
                e,
            )
        })
    }

    /// The device's counters (`rte_eth_stats_get`).
    pub fn eth_stats(&self) -> Result<EthStats> {
        sys::stats(self.inner.id).map_err(|e| DpdkError::call("rte_eth_stats_get", e))
    }

    /// The device's extended counters by name (`rte_eth_xstats_get`).
    pub fn xstats(&self) -> Result<Vec<(String, u64)>> {
        sys::xstats(self.inner.id).map_err(|e| DpdkError::call("rte_eth_xstats_get", e))
    }

    /// Opens queue `id` (see [`Port::open_queue`]).
    pub fn queue(&self, id: u16) -> std::result::Result<DpdkQueue, PortError> {
        let flag = self
            .inner
            .open
            .get(id as usize)
            .ok_or(PortError::NoSuchQueue {
                queue: id,
                queues: self.inner.queues,
            })?;
        if flag.swap(true, Ordering::AcqRel) {
            return Err(PortError::QueueInUse(id));
        }
        Ok(DpdkQueue {
            port: self.inner.clone(),
            id,
            stats: QueueStats::default(),
        })
    }
}

impl Port for DpdkPort {
    type Queue = DpdkQueue;

    fn name(&self) -> &str {
        &self.inner.name
    }

    fn mac(&self) -> MacAddr {
        self.inner.mac
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.caps
    }

    fn open_queue(&mut self, id: u16) -> std::result::Result<DpdkQueue, PortError> {
        self.queue(id)
    }
}

/// One RX/TX queue pair of a [`DpdkPort`], driven by one thread.
pub struct DpdkQueue {
    port: Arc<PortInner>,
    id: u16,
    stats: QueueStats,
}

impl fmt::Debug for DpdkQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpdkQueue")
            .field("port", &self.port.name)
            .field("id", &self.id)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Drop for DpdkQueue {
    fn drop(&mut self) {
        if let Some(flag) = self.port.open.get(self.id as usize) {
            flag.store(false, Ordering::Release);
        }
    }
}

impl DpdkQueue {
    /// The port's DPDK id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }
}

/// The `(ol_flags, tx_offload)` of an mbuf for a buffer's TX offload requests: IPv4 header
/// and TCP/UDP checksums, for an untagged IPv4 frame, when the device does them. For TCP/UDP
/// the stack must leave the IPv4 pseudo-header sum in the L4 checksum field, as DPDK requires.
#[inline]
fn tx_meta(buf: &PacketBuf, dev: Checksums) -> (u64, u64) {
    let o = buf.offload;
    if !o.tx_ip_checksum() && !o.tx_l4_checksum() {
        return (0, 0);
    }
    let d = buf.data();
    if d.len() < 34 || d[12] != 0x08 || d[13] != 0x00 {
        return (0, 0);
    }
    let ihl = u64::from(d[14] & 0x0f) * 4;
    let mut flags = ffi::RTE_MBUF_F_TX_IPV4;
    if o.tx_ip_checksum() && dev.ipv4 {
        flags |= ffi::RTE_MBUF_F_TX_IP_CKSUM;
    }
    if o.tx_l4_checksum() {
        match d[23] {
            6 if dev.tcp => flags |= ffi::RTE_MBUF_F_TX_TCP_CKSUM,
            17 if dev.udp => flags |= ffi::RTE_MBUF_F_TX_UDP_CKSUM,
            _ => {}
        }
    }
    // tx_offload: l2_len in bits 0..7, l3_len in bits 7..16.
    (flags, 14 | (ihl << 7))
}

impl RxQueue for DpdkQueue {
    fn rx_burst(&mut self, out: &mut Vec<PacketBuf>, max: usize) -> usize {
        let mut total = 0;
        while total < max {
            let want = (max - total).min(sys::MAX_BURST);
            let got = self.port.pool.mempool().rx_burst(
                self.port.id,
                self.id,
                out,
                want,
                &mut self.stats,
            );
            total += got;
            if got < want {
                break;
            }
        }
        total
    }
}

impl TxQueue for DpdkQueue {
    fn tx_burst(&mut self, bufs: &mut Vec<PacketBuf>) -> usize {
        let dev = self.port.tx_offload;
        self.port
            .pool
            .mempool()
            .tx_burst(self.port.id, self.id, bufs, &mut self.stats, |b| {
                tx_meta(b, dev)
            })
    }

    fn pool(&self) -> &Pool {
        self.port.pool.pool()
    }
}

impl Queue for DpdkQueue {
    fn id(&self) -> u16 {
        self.id
    }

    fn stats(&self) -> QueueStats {
        self.stats
    }
}
