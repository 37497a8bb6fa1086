//! The backend's error type: each variant says what failed and, where the user can act, what
//! to do. Failed system calls keep the call's name and the `io::Error` (errno) as the source.

use std::io;

use cyclone_pmd::{PoolError, PortError};

/// Something the AF_XDP backend could not do.
#[derive(Debug, thiserror::Error)]
pub enum AfXdpError {
    /// A system call failed; `call` names it, the source carries the errno.
    #[error("`{call}` failed")]
    Syscall {
        call: &'static str,
        #[source]
        source: io::Error,
    },
    /// The interface does not exist in this network namespace.
    #[error(
        "interface `{ifname}` does not exist: check the name with `ip link` (in the network \
         namespace the process runs in, e.g. under `ip netns exec <ns>`)"
    )]
    NoSuchInterface {
        ifname: String,
        #[source]
        source: io::Error,
    },
    /// The process lacks the privileges AF_XDP and BPF need.
    #[error(
        "`{call}` was refused (EPERM): AF_XDP sockets and XDP programs need root, or \
         CAP_NET_ADMIN + CAP_NET_RAW + CAP_BPF (+ CAP_IPC_LOCK for the UMEM)"
    )]
    Permission {
        call: &'static str,
        #[source]
        source: io::Error,
    },
    /// A queue id beyond the interface's queue count.
    #[error(
        "queue {queue} does not exist: `{ifname}` has {queues} queue(s) (see `ethtool -l \
         {ifname}`; a veth gets more with `numrxqueues N numtxqueues N`)"
    )]
    NoSuchQueue {
        ifname: String,
        queue: u16,
        queues: u16,
    },
    /// Another program already holds the interface's XDP hook.
    #[error(
        "another XDP program, `{name}` (id {id}), is attached to `{ifname}`; Cyclone needs the \
         XDP hook for itself (no multi-program dispatcher here). Remove it with \
         `ip link set dev {ifname} xdp off` if nothing needs it"
    )]
    ForeignProgram {
        ifname: String,
        name: String,
        id: u32,
    },
    /// The XDP program could not be attached in any allowed mode.
    #[error("cannot attach the XDP program to `{ifname}` ({mode} mode){hint}")]
    Attach {
        ifname: String,
        mode: &'static str,
        hint: &'static str,
        #[source]
        source: Box<aya::programs::ProgramError>,
    },
    /// Loading the embedded eBPF object failed (verifier, BTF, map creation).
    #[error("loading the XDP steering program failed (is the kernel built with BPF and BTF?)")]
    Load(#[source] Box<aya::EbpfError>),
    /// A program operation (load into the kernel, info) failed.
    #[error("XDP program operation `{op}` failed")]
    Program {
        op: &'static str,
        #[source]
        source: Box<aya::programs::ProgramError>,
    },
    /// A map of the program is missing or could not be updated.
    #[error("XDP map `{map}`: {what}")]
    Map {
        map: &'static str,
        what: &'static str,
        #[source]
        source: Option<Box<aya::maps::MapError>>,
    },
    /// Zero-copy was required and the driver refused it.
    #[error(
        "zero-copy AF_XDP is not supported on `{ifname}` queue {queue} (veth and most virtual \
         devices only do copy mode): use `ZeroCopy::Auto` or `ZeroCopy::Off`"
    )]
    ZeroCopyUnsupported {
        ifname: String,
        queue: u16,
        #[source]
        source: io::Error,
    },
    /// A configuration value is out of range.
    #[error("invalid AF_XDP configuration: {0}")]
    Config(String),
    /// The per-queue pool could not be created.
    #[error(transparent)]
    Pool(#[from] PoolError),
}

impl AfXdpError {
    /// A failed syscall, turned into `Permission` when the errno is EPERM/EACCES.
    pub(crate) fn syscall(call: &'static str, source: io::Error) -> AfXdpError {
        match source.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => AfXdpError::Permission { call, source },
            _ => AfXdpError::Syscall { call, source },
        }
    }
}

impl From<AfXdpError> for PortError {
    fn from(e: AfXdpError) -> PortError {
        match e {
            AfXdpError::Syscall { call, source } => PortError::Io { call, source },
            AfXdpError::NoSuchQueue { queue, queues, .. } => {
                PortError::NoSuchQueue { queue, queues }
            }
            AfXdpError::Pool(p) => PortError::Pool(p),
            other => {
                // PortError has no boxed-source variant: keep the whole chain in the message.
                let mut msg = other.to_string();
                let mut src = std::error::Error::source(&other);
                while let Some(s) = src {
                    msg.push_str(": ");
                    msg.push_str(&s.to_string());
                    src = s.source();
                }
                PortError::Config(msg)
            }
        }
    }
}
