//! [`RdmaPort`]: an opened device port with the pool registered as one memory region and one
//! UD queue pair, implementing [`cyclone_pmd::Port`].

use std::sync::Arc;

use cyclone_pmd::{Capabilities, MacAddr, Pool, Port, PortError};

use crate::addr::EndpointAddr;
use crate::config::{QpMode, RdmaConfig};
use crate::error::RdmaError;
use crate::gid;
use crate::queue::RdmaQueue;
use crate::sys::{Ah, Context, Mr, Pd, PortInfo, UdQp};

/// Bytes of the Ethernet header each datagram carries in front of the IP packet.
const ETH_HEADER: usize = 14;

/// An RDMA device port carrying Cyclone's Ethernet frames as UD datagrams to one peer.
///
/// Open it, give the peer its [`RdmaPort::local_addr`], [`RdmaPort::connect`] to the peer's,
/// then [`Port::open_queue`]`(0)`. The queue pair exists (and receives) from `open` on. The
/// queue owns the QP: it can be opened once per port (dropping it destroys the QP and gives
/// every frame back; open a new port to start again).
pub struct RdmaPort {
    config: RdmaConfig,
    /// The QP until `open_queue` hands it to the queue. Declared before `mr` so it is
    /// destroyed first when the queue was never opened.
    qp: Option<UdQp>,
    mr: Arc<Mr>,
    pool: Pool,
    name: String,
    info: PortInfo,
    gid: gid::GidEntry,
    mac: MacAddr,
    qpn: u32,
    max_frame: usize,
}

impl std::fmt::Debug for RdmaPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdmaPort")
            .field("device", &self.name)
            .field("port", &self.config.port)
            .field("gid_index", &self.gid.index)
            .field("qp", &self.qp)
            .finish()
    }
}

impl RdmaPort {
    /// Opens the device and port, picks the GID, creates the pool, registers it, creates the
    /// CQs and the UD QP (in RTS) and posts the receive queue full.
    pub fn open(config: RdmaConfig) -> Result<RdmaPort, RdmaError> {
        config.validate().map_err(RdmaError::Config)?;
        let ctx = Context::open(config.device.as_deref())?;
        let name = ctx.name().to_string();
        if config.mode == QpMode::RawPacket {
            return Err(RdmaError::RawPacketUnsupported { device: name });
        }
        let (max_wr, max_cqe) = ctx.query_device()?;
        for (what, want) in [("rx_ring", config.rx_ring), ("tx_ring", config.tx_ring)] {
            if want > max_wr || want > max_cqe {
                return Err(RdmaError::Config(format!(
                    "{what} {want} exceeds what `{name}` allows (max_qp_wr {max_wr}, \
                     max_cqe {max_cqe})"
                )));
            }
        }
        let info = ctx.query_port(config.port)?;
        let unusable = |reason: String| RdmaError::PortUnusable {
            device: name.clone(),
            port: config.port,
            reason,
        };
        if !info.is_active() {
            return Err(unusable(format!(
                "its state is {} (not ACTIVE): is the underlying netdev up?",
                info.state
            )));
        }
        let table = ctx.gid_table(config.port, info.gid_tbl_len)?;
        let gid = match config.gid_index {
            Some(index) => table
                .iter()
                .find(|e| e.index == index)
                .copied()
                .ok_or_else(|| unusable(format!("GID index {index} is not a valid entry")))?,
            None => gid::select(&table).ok_or_else(|| {
                unusable("its GID table is empty: give the netdev an IP address".into())
            })?,
        };
        if gid.index > u32::from(u8::MAX) {
            return Err(unusable(format!("GID index {} is beyond 255", gid.index)));
        }
        let pool = Pool::new(config.pool)?;
        let pd = Pd::new(&ctx)?;
        let mr = Mr::register(&pd, &pool)?;
        let mut qp = UdQp::new(
            &mr,
            config.port,
            config.qkey,
            config.rx_ring,
            config.tx_ring,
        )?;
        qp.refill_rx()?;
        let mac = config.mac.unwrap_or_else(|| {
            let q = qp.qpn().to_be_bytes();
            MacAddr([0x02, gid.gid[14], gid.gid[15], q[1], q[2], q[3]])
        });
        let max_frame = (info.active_mtu as usize)
            .min((config.pool.frame_size - config.pool.headroom) as usize);
        if max_frame < ETH_HEADER + 68 {
            return Err(unusable(format!(
                "the active MTU of {} bytes cannot carry an Ethernet frame",
                info.active_mtu
            )));
        }
        let qpn = qp.qpn();
        Ok(RdmaPort {
            config,
            qpn,
            qp: Some(qp),
            mr,
            pool,
            name,
            info,
            gid,
            mac,
            max_frame,
        })
    }

    /// What the peer needs to reach this port's queue pair.
    pub fn local_addr(&self) -> EndpointAddr {
        EndpointAddr {
            gid: self.gid.gid,
            qpn: self.qpn,
            qkey: self.config.qkey,
            lid: self.info.lid,
            mac: self.mac,
        }
    }

    /// Sends go to `peer` from now on. Call before [`Port::open_queue`].
    pub fn connect(&mut self, peer: &EndpointAddr) -> Result<(), RdmaError> {
        let Some(qp) = self.qp.as_mut() else {
            return Err(RdmaError::Config(
                "connect before opening the queue: the queue owns the QP now".into(),
            ));
        };
        let ah = Ah::new(self.mr.pd(), self.config.port, self.gid.index as u8, peer)?;
        qp.set_peer(ah, peer.qpn, peer.qkey);
        Ok(())
    }

    /// The pool registered with the device (frames to transmit come from here).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The GID index in use (see the `gid` module for how it is chosen).
    pub fn gid_index(&self) -> u32 {
        self.gid.index
    }

    /// The largest Ethernet frame (header included) one datagram carries.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// The port's active MTU in bytes (the largest UD message).
    pub fn active_mtu(&self) -> u32 {
        self.info.active_mtu
    }
}

impl Port for RdmaPort {
    type Queue = RdmaQueue;

    fn name(&self) -> &str {
        &self.name
    }

    fn mac(&self) -> MacAddr {
        self.mac
    }

    /// One queue; the L3 MTU is what one datagram carries (the port's active MTU, or the
    /// pool's frame room if smaller) minus the Ethernet header. UD needs no room beyond that
    /// in the message: the 40-byte GRH goes into the receive buffer's headroom. No checksum
    /// offloads: the frames inside datagrams are opaque to the device.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            mtu: (self.max_frame - ETH_HEADER).min(u16::MAX as usize) as u16,
            max_queues: 1,
            ..Capabilities::default()
        }
    }

    fn open_queue(&mut self, id: u16) -> Result<RdmaQueue, PortError> {
        if id != 0 {
            return Err(PortError::NoSuchQueue {
                queue: id,
                queues: 1,
            });
        }
        match self.qp.take() {
            None => Err(PortError::QueueInUse(0)),
            Some(qp) if !qp.has_peer() => {
                self.qp = Some(qp);
                Err(PortError::Config(
                    "the RDMA port has no peer: call RdmaPort::connect with the peer's \
                     EndpointAddr before opening the queue"
                        .into(),
                ))
            }
            Some(qp) => Ok(RdmaQueue::new(qp, self.max_frame, self.config.signal_every)),
        }
    }
}
