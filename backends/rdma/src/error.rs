//! Errors of the RDMA backend: each failing verb keeps its name and errno, and the two setup
//! failures every newcomer hits (a kernel without RDMA, no device) say what to do.

use std::io;

/// Why the RDMA backend failed.
#[derive(Debug, thiserror::Error)]
pub enum RdmaError {
    /// `ibv_get_device_list` failed with `ENOSYS`: the running kernel has no RDMA subsystem
    /// (no `CONFIG_INFINIBAND`, or `ib_uverbs` not loaded).
    #[error(
        "this kernel has no RDMA support (`ibv_get_device_list` failed with ENOSYS): load \
         `ib_uverbs` and a device driver (SoftRoCE: `modprobe rdma_rxe && rdma link add rxe0 \
         type rxe netdev <netdev>`), or run the RDMA tests in the SoftRoCE VM: \
         `bash ci/softroce/run.sh`"
    )]
    NoKernelSupport {
        /// The `ENOSYS` error.
        #[source]
        source: io::Error,
    },
    /// The kernel has RDMA but no device is registered.
    #[error(
        "no RDMA device found: create one (SoftRoCE: `rdma link add rxe0 type rxe netdev \
         <netdev>`), load your NIC's RDMA driver, and check with `ibv_devices`"
    )]
    NoDevice,
    /// The named device does not exist.
    #[error("RDMA device `{name}` not found; devices present: {available} (see `ibv_devices`)")]
    NoSuchDevice {
        /// The name asked for.
        name: String,
        /// The devices that exist, comma-separated.
        available: String,
    },
    /// A verb failed.
    #[error("`{verb}` failed")]
    Verb {
        /// The verb's name, e.g. `ibv_create_qp`.
        verb: &'static str,
        /// The errno it reported.
        #[source]
        source: io::Error,
    },
    /// The port is not usable (down, or no usable GID).
    #[error("port {port} of `{device}` is not usable: {reason}")]
    PortUnusable {
        /// The device.
        device: String,
        /// The port number.
        port: u8,
        /// Why.
        reason: String,
    },
    /// Raw-packet queue pairs were asked for; see [`crate::QpMode::RawPacket`].
    #[error(
        "raw-packet QPs are not implemented: `{device}` would need IBV_QPT_RAW_PACKET (mlx4/mlx5 \
         NICs; SoftRoCE and siw have none), CAP_NET_RAW and a flow-steering rule to receive; \
         use QpMode::Ud"
    )]
    RawPacketUnsupported {
        /// The device.
        device: String,
    },
    /// A configuration value is out of range.
    #[error("invalid RDMA configuration: {0}")]
    Config(String),
    /// The pool could not be created.
    #[error(transparent)]
    Pool(#[from] cyclone_pmd::PoolError),
    /// A peer address line could not be parsed.
    #[error("bad peer address `{text}`: {reason}")]
    BadAddr {
        /// The text.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The address exchange over the control socket failed.
    #[error("address exchange with `{peer}` failed")]
    Exchange {
        /// The control-socket address.
        peer: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

impl RdmaError {
    /// A failed verb with the errno of the calling thread (`errno` as set by libibverbs).
    pub(crate) fn last_os(verb: &'static str) -> RdmaError {
        RdmaError::Verb {
            verb,
            source: io::Error::last_os_error(),
        }
    }

    /// A failed verb that returned its errno (the data-path verbs and `ibv_modify_qp` return
    /// it instead of setting `errno`).
    pub(crate) fn returned(verb: &'static str, ret: i32) -> RdmaError {
        RdmaError::Verb {
            verb,
            source: io::Error::from_raw_os_error(ret.abs()),
        }
    }
}

impl From<RdmaError> for cyclone_pmd::PortError {
    fn from(e: RdmaError) -> Self {
        match e {
            RdmaError::Verb { verb, source } => cyclone_pmd::PortError::Io { call: verb, source },
            RdmaError::Pool(p) => cyclone_pmd::PortError::Pool(p),
            other => cyclone_pmd::PortError::Config(other.to_string()),
        }
    }
}
