//! The XDP steering program (`ebpf/xdp_steer.c`): embedded at build time, loaded and attached
//! with aya, configured through its maps, detached on drop.
//!
//! What lives here: [`SteerProgram`] (one per interface), the attach choices [`AttachMode`]
//! and [`AttachApi`], the per-queue [`XdpCounters`], and [`attached_program`] /
//! [`remove_stale`], which find and remove a Cyclone program a killed process left on an
//! interface. Safe code only; the netlink and BPF-link calls are in `sys`.
//!
//! **One program per interface.** There is no libxdp dispatcher on this platform (its
//! trampoline programs fail to load), so an interface carries one XDP program. Before
//! attaching, the interface is queried: a program named [`PROGRAM_NAME`] is ours and is
//! removed (a leftover of a process that died); any other program is an error naming it.
//!
//! **Attach API.** By default the program is attached through a BPF link ([`AttachApi::Link`],
//! what aya's `Xdp::attach` uses): the kernel detaches it when the last link reference goes,
//! so even a SIGKILLed process leaves nothing behind. [`AttachApi::Netlink`] attaches the
//! old way, which survives the process (like `ip link set dev X xdp obj ...`); the start-up
//! clean-up handles both.

use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use aya::maps::{Array, HashMap, MapData, PerCpuArray, XskMap};
use aya::programs::{Xdp, XdpMode};
use aya::Ebpf;

use crate::error::AfXdpError;
use crate::netdev::NetDev;
use crate::sys;

/// Name of the program in the kernel (the C function's name), how a leftover is recognised.
pub const PROGRAM_NAME: &str = "cyclone_steer";

/// The object built by `build.rs`, embedded aligned (aya parses it in place).
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdp_steer.o"));

/// Queues the program's maps have room for (`MAX_QUEUES` in the C source).
pub const MAX_QUEUES: u16 = 64;
/// Addresses `our_addrs` holds (`MAX_ADDRS`).
pub const MAX_ADDRS: usize = 64;
/// Ports `our_ports` holds (`MAX_PORTS`).
pub const MAX_PORTS: usize = 1024;
const CNT_N: u32 = 4;

const XDP_FLAGS_UPDATE_IF_NOEXIST: u32 = 1;
const XDP_FLAGS_SKB_MODE: u32 = 2;
const XDP_FLAGS_DRV_MODE: u32 = 4;

/// Where the program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttachMode {
    /// Driver (native) mode, falling back to generic (skb) mode with a logged warning.
    #[default]
    Auto,
    /// Driver (native) mode only.
    Driver,
    /// Generic (skb) mode only: works on any device, slower.
    Skb,
}

/// How the program is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttachApi {
    /// A BPF link: detached by the kernel when the process exits, however it exits.
    #[default]
    Link,
    /// rtnetlink (`IFLA_XDP`): stays attached after the process exits until someone removes
    /// it (the next start does).
    Netlink,
}

/// Per-queue counters of the XDP program, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpCounters {
    /// Frames redirected to the queue's AF_XDP socket.
    pub redirected: u64,
    /// Frames passed to the kernel (not ours, or no socket on the queue).
    pub passed: u64,
    /// Frames whose redirect failed with an action other than PASS.
    pub dropped: u64,
    /// Frames on a queue index beyond the map (counted on the last queue).
    pub aborted: u64,
}

/// A program attached to an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedProgram {
    /// Kernel program id.
    pub id: u32,
    /// Program name (up to 15 bytes), empty if unknown.
    pub name: String,
    /// `XDP_ATTACHED_*`: 1 driver, 2 generic, 3 hardware, 4 several.
    pub mode: u8,
}

/// The XDP program attached to `ifindex`, if any.
pub fn attached_program(ifindex: u32) -> Result<Option<AttachedProgram>, AfXdpError> {
    let Some(att) =
        sys::xdp_query(ifindex).map_err(|e| AfXdpError::syscall("netlink RTM_GETLINK", e))?
    else {
        return Ok(None);
    };
    let name = aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .find(|p| p.id() == att.prog_id)
        .and_then(|p| p.name_as_str().map(str::to_string))
        .unwrap_or_default();
    Ok(Some(AttachedProgram {
        id: att.prog_id,
        name,
        mode: att.mode,
    }))
}

/// Removes a Cyclone steering program left on `dev` (by a killed process, or a netlink
/// attachment); refuses, naming it, if the attached program is someone else's. Returns the id
/// of the program removed, if any.
pub fn remove_stale(dev: &NetDev) -> Result<Option<u32>, AfXdpError> {
    let Some(prog) = attached_program(dev.ifindex)? else {
        return Ok(None);
    };
    if prog.name != PROGRAM_NAME {
        return Err(AfXdpError::ForeignProgram {
            ifname: dev.name.clone(),
            name: if prog.name.is_empty() {
                "<unnamed>".to_string()
            } else {
                prog.name
            },
            id: prog.id,
        });
    }
    tracing::warn!(
        ifname = %dev.name,
        prog_id = prog.id,
        "removing a Cyclone XDP program left behind by an earlier process"
    );
    let flags = match prog.mode {
        1 => XDP_FLAGS_DRV_MODE,
        2 => XDP_FLAGS_SKB_MODE,
        _ => 0,
    };
    match sys::xdp_set(dev.ifindex, -1, flags) {
        Ok(()) => {}
        // Attached through a BPF link (still held by a live process, or pinned): netlink may
        // not replace it; detach the link itself.
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            let link = aya::programs::loaded_links()
                .filter_map(Result::ok)
                .find(|l| l.program_id() == prog.id)
                .ok_or_else(|| AfXdpError::syscall("netlink RTM_SETLINK(IFLA_XDP_FD=-1)", e))?;
            sys::bpf_link_detach_by_id(link.id())
                .map_err(|e| AfXdpError::syscall("bpf(BPF_LINK_DETACH)", e))?;
        }
        Err(e) => {
            return Err(AfXdpError::syscall(
                "netlink RTM_SETLINK(IFLA_XDP_FD=-1)",
                e,
            ))
        }
    }
    if let Some(still) = attached_program(dev.ifindex)? {
        return Err(AfXdpError::ForeignProgram {
            ifname: dev.name.clone(),
            name: still.name,
            id: still.id,
        });
    }
    Ok(Some(prog.id))
}

/// How the program is attached right now.
#[derive(Debug)]
enum Attachment {
    Link(aya::programs::xdp::XdpLinkId),
    Netlink { flags: u32 },
}

/// The steering program, loaded and attached to one interface. Dropping it detaches it.
#[derive(Debug)]
pub struct SteerProgram {
    ebpf: Ebpf,
    ifname: String,
    ifindex: u32,
    attachment: Option<Attachment>,
    driver_mode: bool,
    prog_id: u32,
}

impl SteerProgram {
    /// Removes a stale Cyclone program from `dev` (see [`remove_stale`]), loads the program
    /// and attaches it in `mode` through `api`.
    pub fn attach(
        dev: &NetDev,
        mode: AttachMode,
        api: AttachApi,
    ) -> Result<SteerProgram, AfXdpError> {
        remove_stale(dev)?;
        let mut ebpf =
            Ebpf::load(OBJECT).map_err(|e| match e {
                aya::EbpfError::MapError(aya::maps::MapError::CreateError {
                    ref io_error, ..
                }) if io_error.raw_os_error() == Some(libc::EPERM) => AfXdpError::Permission {
                    call: "bpf(BPF_MAP_CREATE)",
                    source: std::io::Error::from_raw_os_error(libc::EPERM),
                },
                e => AfXdpError::Load(Box::new(e)),
            })?;
        let prog: &mut Xdp = ebpf
            .program_mut(PROGRAM_NAME)
            .ok_or_else(|| {
                AfXdpError::Config(format!(
                    "the embedded object has no program `{PROGRAM_NAME}`"
                ))
            })?
            .try_into()
            .map_err(|source| AfXdpError::Program {
                op: "program type",
                source: Box::new(source),
            })?;
        prog.load().map_err(|source| AfXdpError::Program {
            op: "load",
            source: Box::new(source),
        })?;
        let prog_id = prog.info().map(|i| i.id()).unwrap_or(0);

        let modes: &[(bool, &'static str)] = match mode {
            AttachMode::Auto => &[(true, "driver"), (false, "generic")],
            AttachMode::Driver => &[(true, "driver")],
            AttachMode::Skb => &[(false, "generic")],
        };
        let mut last_err = None;
        let mut attached = None;
        for &(driver, name) in modes {
            let result = match api {
                AttachApi::Link => prog
                    .attach_to_if_index(
                        dev.ifindex,
                        if driver {
                            XdpMode::Driver
                        } else {
                            XdpMode::Skb
                        },
                    )
                    .map(Attachment::Link),
                AttachApi::Netlink => {
                    let flags = XDP_FLAGS_UPDATE_IF_NOEXIST
                        | if driver {
                            XDP_FLAGS_DRV_MODE
                        } else {
                            XDP_FLAGS_SKB_MODE
                        };
                    let fd = prog.fd().map_err(|source| AfXdpError::Program {
                        op: "fd",
                        source: Box::new(source),
                    })?;
                    sys::xdp_set(dev.ifindex, fd.as_fd().as_raw_fd(), flags)
                        .map(|()| Attachment::Netlink {
                            flags: flags & !XDP_FLAGS_UPDATE_IF_NOEXIST,
                        })
                        .map_err(|e| {
                            aya::programs::ProgramError::SyscallError(aya::sys::SyscallError {
                                call: "netlink RTM_SETLINK",
                                io_error: e,
                            })
                        })
                }
            };
            match result {
                Ok(a) => {
                    attached = Some((a, driver));
                    break;
                }
                Err(e) => {
                    if driver && modes.len() > 1 {
                        tracing::warn!(
                            ifname = %dev.name,
                            error = %error_chain(&e),
                            "XDP driver (native) mode refused; falling back to generic (skb) mode, which is slower"
                        );
                    }
                    last_err = Some((e, name));
                }
            }
        }
        let Some((attachment, driver_mode)) = attached else {
            let (source, mode) = last_err.expect("at least one mode was tried");
            let hint = if mode == "driver" {
                // veth answers ERANGE/EINVAL ("Peer MTU is too large to set XDP") through
                // extack, which the attach call does not show: say the likely cause.
                ": driver-mode XDP was refused; on a veth this means an MTU above 3506 on either \
                 end (the program is not `xdp.frags`): lower both with `ip link set dev IFACE mtu \
                 1500`, or attach in generic (skb) mode"
            } else if dev.mtu > 3506 {
                ": a veth refuses a non-frags XDP program when the peer's MTU is above 3506; lower it"
            } else {
                ""
            };
            return Err(AfXdpError::Attach {
                ifname: dev.name.clone(),
                mode,
                hint,
                source: Box::new(source),
            });
        };
        tracing::info!(ifname = %dev.name, prog_id, mode = if driver_mode { "driver" } else { "generic" }, "XDP steering program attached");
        Ok(SteerProgram {
            ebpf,
            ifname: dev.name.clone(),
            ifindex: dev.ifindex,
            attachment: Some(attachment),
            driver_mode,
            prog_id,
        })
    }

    /// Whether the program runs in driver (native) mode rather than generic mode.
    pub fn is_driver_mode(&self) -> bool {
        self.driver_mode
    }

    /// Kernel id of the loaded program.
    pub fn id(&self) -> u32 {
        self.prog_id
    }

    fn map_mut(&mut self, name: &'static str) -> Result<&mut aya::maps::Map, AfXdpError> {
        self.ebpf.map_mut(name).ok_or(AfXdpError::Map {
            map: name,
            what: "missing from the object",
            source: None,
        })
    }

    /// Steers traffic for `addr` (ARP asking for it, IPv4 to it) to the dataplane.
    pub fn add_addr(&mut self, addr: Ipv4Addr) -> Result<(), AfXdpError> {
        let mut map: HashMap<&mut MapData, u32, u8> = HashMap::try_from(self.map_mut("our_addrs")?)
            .map_err(map_err("our_addrs", "wrong type"))?;
        // Key in network byte order, as the program reads it from the header.
        map.insert(u32::from_ne_bytes(addr.octets()), 1, 0)
            .map_err(map_err("our_addrs", "insert failed (at most 64 addresses)"))
    }

    /// Stops steering traffic for `addr`.
    pub fn remove_addr(&mut self, addr: Ipv4Addr) -> Result<(), AfXdpError> {
        let mut map: HashMap<&mut MapData, u32, u8> = HashMap::try_from(self.map_mut("our_addrs")?)
            .map_err(map_err("our_addrs", "wrong type"))?;
        map.remove(&u32::from_ne_bytes(addr.octets()))
            .map_err(map_err("our_addrs", "remove failed"))
    }

    /// With `Some(ports)`, TCP/UDP to our addresses is steered only for these destination
    /// ports (the rest goes to the kernel); `None` turns the filter off.
    pub fn set_port_filter(&mut self, ports: Option<&[u16]>) -> Result<(), AfXdpError> {
        if let Some(ports) = ports {
            if ports.len() > MAX_PORTS {
                return Err(AfXdpError::Config(format!(
                    "at most {MAX_PORTS} filtered ports"
                )));
            }
            let mut map: HashMap<&mut MapData, u16, u8> =
                HashMap::try_from(self.map_mut("our_ports")?)
                    .map_err(map_err("our_ports", "wrong type"))?;
            for &p in ports {
                map.insert(p.to_be(), 1, 0)
                    .map_err(map_err("our_ports", "insert failed"))?;
            }
        }
        let mut cfg: Array<&mut MapData, u32> =
            Array::try_from(self.map_mut("cfg")?).map_err(map_err("cfg", "wrong type"))?;
        cfg.set(0, u32::from(ports.is_some()), 0)
            .map_err(map_err("cfg", "set failed"))
    }

    /// Points queue `queue`'s redirect at socket `fd`.
    pub(crate) fn set_socket(&mut self, queue: u16, fd: BorrowedFd<'_>) -> Result<(), AfXdpError> {
        let mut map: XskMap<&mut MapData> = XskMap::try_from(self.map_mut("xsks_map")?)
            .map_err(map_err("xsks_map", "wrong type"))?;
        map.set(u32::from(queue), fd.as_raw_fd(), 0)
            .map_err(map_err("xsks_map", "set failed"))
    }

    /// The program's counters for queue `queue`, summed over CPUs.
    pub fn counters(&self, queue: u16) -> Result<XdpCounters, AfXdpError> {
        if queue >= MAX_QUEUES {
            return Err(AfXdpError::Config(format!(
                "queue {queue} is beyond the program's {MAX_QUEUES}"
            )));
        }
        let map = self.ebpf.map("counters").ok_or(AfXdpError::Map {
            map: "counters",
            what: "missing from the object",
            source: None,
        })?;
        let arr: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(map).map_err(map_err("counters", "wrong type"))?;
        let mut v = [0u64; CNT_N as usize];
        for (slot, out) in v.iter_mut().enumerate() {
            let values = arr
                .get(&(u32::from(queue) * CNT_N + slot as u32), 0)
                .map_err(map_err("counters", "lookup failed"))?;
            *out = values.iter().sum();
        }
        Ok(XdpCounters {
            redirected: v[0],
            passed: v[1],
            dropped: v[2],
            aborted: v[3],
        })
    }

    /// Detaches the program now (also done on drop).
    pub fn detach(&mut self) -> Result<(), AfXdpError> {
        match self.attachment.take() {
            None => Ok(()),
            Some(Attachment::Netlink { flags }) => sys::xdp_set(self.ifindex, -1, flags)
                .map_err(|e| AfXdpError::syscall("netlink RTM_SETLINK(IFLA_XDP_FD=-1)", e)),
            Some(Attachment::Link(id)) => {
                let prog: &mut Xdp = self
                    .ebpf
                    .program_mut(PROGRAM_NAME)
                    .ok_or_else(|| {
                        AfXdpError::Config(format!("program `{PROGRAM_NAME}` vanished"))
                    })?
                    .try_into()
                    .map_err(|source| AfXdpError::Program {
                        op: "program type",
                        source: Box::new(source),
                    })?;
                prog.detach(id).map_err(|source| AfXdpError::Program {
                    op: "detach",
                    source: Box::new(source),
                })
            }
        }
    }
}

impl Drop for SteerProgram {
    fn drop(&mut self) {
        if let Err(e) = self.detach() {
            tracing::warn!(ifname = %self.ifname, error = %error_chain(&e), "detaching the XDP program failed");
        }
    }
}

fn map_err(map: &'static str, what: &'static str) -> impl Fn(aya::maps::MapError) -> AfXdpError {
    move |e| AfXdpError::Map {
        map,
        what,
        source: Some(Box::new(e)),
    }
}

/// `error: cause: cause` on one line, for logs.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
