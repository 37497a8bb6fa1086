//! The backend's errors: each keeps the failing DPDK call's name and DPDK's `rte_errno` text.

use crate::sys;

/// Something the DPDK backend could not do.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// A DPDK call failed; `message` is `rte_strerror(errno)`.
    #[error("`{call}` failed: {message} (rte_errno {errno})")]
    Call {
        /// The DPDK function that failed.
        call: &'static str,
        /// The error number (`rte_errno` or the negated return value).
        errno: i32,
        /// DPDK's text for it.
        message: String,
    },
    /// `rte_eal_init` ran before in this process with other arguments: the EAL starts once.
    #[error("the DPDK EAL is already running in this process with arguments {existing:?}; it starts once per process")]
    AlreadyInitialised {
        /// The arguments of the running EAL.
        existing: Vec<String>,
    },
    /// `rte_eal_init` failed earlier in this process in a way that forbids another try.
    #[error(
        "the DPDK EAL failed to start earlier in this process ({0}); it cannot be started again"
    )]
    InitFailedBefore(String),
    /// The EAL runs but has no Ethernet port.
    #[error("DPDK found no Ethernet port: pass `--vdev net_null0` (or another vdev) or allow a PCI device")]
    NoPorts,
    /// No port has this name or id.
    #[error("no DPDK port `{name}`; ports: {available:?}")]
    NoSuchPort {
        /// The name or id asked for.
        name: String,
        /// The ports there are.
        available: Vec<String>,
    },
    /// A `--vdev` was asked for but no driver created a port for it.
    #[error("vdev `{vdev}` was requested but no driver created a port for it: is its PMD plugin installed (e.g. in {})? see the EAL log above", cyclone_dpdk_sys::PMD_DIR)]
    VdevNotProbed {
        /// The `--vdev` argument.
        vdev: String,
    },
    /// A configuration value is out of range.
    #[error("invalid DPDK configuration: {0}")]
    Config(String),
    /// A queue could not be opened.
    #[error(transparent)]
    Queue(#[from] cyclone_pmd::PortError),
    /// The Cyclone pool could not be created.
    #[error(transparent)]
    Pool(#[from] cyclone_pmd::PoolError),
}

impl DpdkError {
    /// An error for `call` failing with `errno`, with DPDK's text for it.
    pub(crate) fn call(call: &'static str, errno: i32) -> DpdkError {
        DpdkError::Call {
            call,
            errno,
            message: sys::strerror(errno),
        }
    }

    /// The errno of a failed call, if this is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            DpdkError::Call { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

impl From<DpdkError> for cyclone_pmd::PortError {
    fn from(e: DpdkError) -> Self {
        match e {
            DpdkError::Call { call, errno, .. } => cyclone_pmd::PortError::Io {
                call,
                source: std::io::Error::from_raw_os_error(errno),
            },
            DpdkError::Pool(p) => cyclone_pmd::PortError::Pool(p),
            other => cyclone_pmd::PortError::Config(other.to_string()),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = DpdkError> = std::result::Result<T, E>;
