//! Configuration of an RDMA port.

use cyclone_pmd::{MacAddr, PoolConfig};

/// The default Q_Key of Cyclone's UD queue pairs (any value works if both ends agree; the
/// high bit must be clear: keys with it set are privileged).
pub const DEFAULT_QKEY: u32 = 0x0c1c_1001;

/// Which kind of queue pair carries the frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QpMode {
    /// Unreliable Datagram: each Ethernet frame is one datagram to the peer's QP. Works on
    /// every RoCE and InfiniBand device, including SoftRoCE (`rxe`).
    #[default]
    Ud,
    /// Raw-packet QP (`IBV_QPT_RAW_PACKET`): frames go on the wire as they are (mlx4/mlx5).
    /// **Not implemented**: opening a port in this mode fails with
    /// [`RdmaError::RawPacketUnsupported`](crate::RdmaError::RawPacketUnsupported). What it
    /// needs: a QP of that type (CAP_NET_RAW), TX as for UD without an address handle, and an
    /// `ibv_create_flow` rule steering the port's MAC to the QP for RX.
    RawPacket,
}

/// Settings of an [`RdmaPort`](crate::RdmaPort).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdmaConfig {
    /// Device name (`rxe0`, `mlx5_0`); `None` takes the first device.
    pub device: Option<String>,
    /// Port number on the device (ports count from 1).
    pub port: u8,
    /// GID table index to send from; `None` chooses (see the `gid` module).
    pub gid_index: Option<u32>,
    /// Q_Key of the queue pair (both ends must use the same).
    pub qkey: u32,
    /// The pool registered as the memory region. Its headroom must hold the 40-byte GRH.
    pub pool: PoolConfig,
    /// Receive queue depth: frames kept posted for the device to receive into.
    pub rx_ring: u32,
    /// Send queue depth: frames in flight at most.
    pub tx_ring: u32,
    /// Request a completion for every Nth send (and for the last of each burst).
    pub signal_every: u32,
    /// The MAC address the port reports; `None` derives a local one from the GID and QPN.
    pub mac: Option<MacAddr>,
    /// UD (default) or raw packet.
    pub mode: QpMode,
}

impl Default for RdmaConfig {
    fn default() -> Self {
        RdmaConfig {
            device: None,
            port: 1,
            gid_index: None,
            qkey: DEFAULT_QKEY,
            pool: PoolConfig::default(),
            rx_ring: 512,
            tx_ring: 512,
            signal_every: 16,
            mac: None,
            mode: QpMode::Ud,
        }
    }
}

impl RdmaConfig {
    /// A default configuration on device `name`.
    pub fn device(name: &str) -> RdmaConfig {
        RdmaConfig {
            device: Some(name.to_string()),
            ..RdmaConfig::default()
        }
    }

    /// Checks the values that do not need the device; the error says what is accepted.
    pub fn validate(&self) -> Result<(), String> {
        self.pool.validate().map_err(|e| e.to_string())?;
        if (self.pool.headroom as usize) < cyclone_verbs_sys::GRH_LEN + self.pool.reserved as usize
        {
            return Err(format!(
                "pool headroom {} cannot hold the 40-byte GRH that UD receives put in front of \
                 every frame: use at least {}",
                self.pool.headroom,
                cyclone_verbs_sys::GRH_LEN + self.pool.reserved as usize
            ));
        }
        if self.port == 0 {
            return Err("port numbers start at 1".into());
        }
        if self.rx_ring == 0 || self.tx_ring == 0 {
            return Err("rx_ring and tx_ring must be at least 1".into());
        }
        if self.rx_ring + self.tx_ring > self.pool.frames {
            return Err(format!(
                "rx_ring {} + tx_ring {} exceed the pool's {} frames",
                self.rx_ring, self.tx_ring, self.pool.frames
            ));
        }
        if self.signal_every == 0 || self.signal_every > self.tx_ring {
            return Err(format!(
                "signal_every must be 1..=tx_ring ({}), got {}",
                self.tx_ring, self.signal_every
            ));
        }
        if self.qkey & 0x8000_0000 != 0 {
            return Err(format!(
                "Q_Key {:#x} has the high bit set (privileged keys are refused)",
                self.qkey
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid_and_bad_values_are_named() {
        assert_eq!(RdmaConfig::default().validate(), Ok(()));
        let small_headroom = RdmaConfig {
            pool: PoolConfig {
                headroom: 32,
                ..PoolConfig::default()
            },
            ..RdmaConfig::default()
        };
        assert!(small_headroom.validate().unwrap_err().contains("GRH"));
        let signal = RdmaConfig {
            signal_every: 0,
            ..RdmaConfig::default()
        };
        assert!(signal.validate().unwrap_err().contains("signal_every"));
    }
}
