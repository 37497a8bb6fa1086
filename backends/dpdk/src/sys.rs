//! Every `unsafe` operation of the DPDK backend, and nothing else.
//!
//! - EAL: `rte_eal_init` over leaked C strings, `rte_errno`/`rte_strerror`, lcore launch.
//! - ethdev: thin wrappers that turn DPDK's negative return codes into `Err(errno)` and its
//!   structs into plain Rust ones ([`DevInfo`], [`EthStats`], [`Link`]).
//! - [`Mempool`]: the DPDK mempool that is a *view* of a Cyclone [`Pool`]: object `i` is frame `i`
//!   (`rte_mempool_objhdr` + `rte_mbuf` in the frame's first `reserved` bytes, the mbuf's data
//!   buffer the rest of the frame), with mempool ops whose dequeue takes frames from the pool and
//!   whose enqueue gives them back.
//! - The burst fast path, [`Mempool::rx_burst`] and [`Mempool::tx_burst`]: one shim call per burst
//!   and plain field reads/writes on the `rte_mbuf`s to turn them into [`PacketBuf`]s and back.
//!
//! The ownership rule every `// SAFETY:` below leans on (it extends `cyclone-pmd`'s `raw` rule):
//! a frame of a [`Mempool`]'s pool is owned either by the Cyclone side (free list, thread cache,
//! a `PacketBuf`, ...) or by DPDK (a device ring, a mempool user between `get` and `put`). The
//! mempool ops are the only doors between the two: dequeue moves frames to DPDK with
//! `Pool::alloc_indices`, enqueue moves them back with `Pool::free_indices`; RX moves a frame from
//! DPDK to a `PacketBuf` (`PacketBuf::from_raw`), TX from a `PacketBuf` to DPDK (`into_raw`).

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use cyclone_dpdk_sys as ffi;
use cyclone_pmd::{Offload, PacketBuf, Pool, QueueStats, RawBuf};

/// Size of the mempool's per-object header (`rte_mempool_objhdr`, 24 bytes, rounded up to a
/// cache line) in a non-debug DPDK build; checked against the mempool at creation.
pub(crate) const OBJ_HEADER: usize = 64;
/// Size of `struct rte_mbuf` (two cache lines).
pub(crate) const MBUF_SIZE: usize = std::mem::size_of::<ffi::rte_mbuf>();
const _: () = assert!(MBUF_SIZE == 128);

/// Where DPDK's part of a frame goes: frames sit `frame_size` apart, so the mbuf headers of
/// all frames would fall into the same few L1 cache sets (a 4 KiB way holds two 2048-byte or
/// one 4096-byte frame) and a burst of 32 mbufs would evict itself. The mbuf of frame `i` is
/// therefore shifted by a "colour", `(page of i) % COLOURS` steps, and the data buffer starts
/// after the last colour, at the same offset (`reserved`) in every frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameLayout {
    /// log2(frame size).
    pub shift: u32,
    /// log2(frames per 4 KiB page).
    pub page_shift: u32,
    /// Number of colours (a power of two).
    pub colours: usize,
    /// Bytes between two colours.
    pub step: usize,
    /// Bytes at the start of each frame that belong to DPDK: object header, the colour gap and
    /// the mbuf. The mbuf's data buffer (`buf_addr`) starts here.
    pub reserved: usize,
}

impl FrameLayout {
    /// The layout for 2048- or 4096-byte frames. 2048: 4 colours 64 bytes apart (reserved 384,
    /// leaving 1536 bytes after DPDK's 128-byte headroom); 4096: 8 colours 128 bytes apart
    /// (reserved 1088).
    pub(crate) const fn new(frame_size: u32) -> FrameLayout {
        let (colours, step) = if frame_size >= 4096 {
            (8, 128)
        } else {
            (4, 64)
        };
        let shift = frame_size.trailing_zeros();
        FrameLayout {
            shift,
            page_shift: 12u32.saturating_sub(shift),
            colours,
            step,
            reserved: OBJ_HEADER + (colours - 1) * step + MBUF_SIZE,
        }
    }

    /// Offset of frame `index`'s mbuf from the frame's start.
    #[inline(always)]
    pub(crate) const fn mbuf_offset(&self, index: u32) -> usize {
        OBJ_HEADER + ((index as usize >> self.page_shift) & (self.colours - 1)) * self.step
    }
}
/// DPDK's default data offset inside an mbuf's buffer (`RTE_PKTMBUF_HEADROOM`).
pub(crate) const MBUF_HEADROOM: usize = ffi::RTE_PKTMBUF_HEADROOM as usize;
/// Most mbufs the fast path handles per DPDK call (a stack array of pointers).
pub(crate) const MAX_BURST: usize = 64;
/// Name under which the Cyclone mempool ops are registered.
const OPS_NAME: &CStr = c"cyclone_pool";

// ---------------------------------------------------------------------------------------------
// errno and EAL

/// The calling thread's `rte_errno`.
pub(crate) fn rte_errno() -> i32 {
    // SAFETY: the shim reads a thread-local int; no preconditions.
    unsafe { ffi::cyclone_rte_errno() }
}

/// DPDK's text for an errno value (DPDK's own codes above 1000 included).
pub(crate) fn strerror(errno: i32) -> String {
    // SAFETY: `rte_strerror` accepts any value and returns a pointer to a NUL-terminated string
    // (static, or in a thread-local buffer) that stays valid until the next call on this thread.
    let text = unsafe { ffi::rte_strerror(errno) };
    // SAFETY: as above: a valid NUL-terminated string, read before any other DPDK call.
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

/// Calls `rte_eal_init` with `args` (the program name first). The strings are leaked: the EAL
/// may keep pointers into its `argv` for the life of the process, and this runs once.
pub(crate) fn eal_init(args: &[String]) -> Result<(), i32> {
    let mut argv: Vec<*mut c_char> = Vec::with_capacity(args.len() + 1);
    for arg in args {
        let c = CString::new(arg.as_str()).map_err(|_| libc::EINVAL)?;
        argv.push(c.into_raw());
    }
    argv.push(ptr::null_mut());
    let argc = args.len() as c_int;
    let argv = Box::leak(argv.into_boxed_slice());
    // SAFETY: `argv` holds `argc` valid NUL-terminated strings followed by NULL, all leaked, so
    // they outlive the EAL; `rte_eal_init` may permute the array, which is ours to give.
    let ret = unsafe { ffi::rte_eal_init(argc, argv.as_mut_ptr()) };
    if ret < 0 {
        Err(rte_errno())
    } else {
        Ok(())
    }
}

/// The calling thread's CPU affinity, to restore after `rte_eal_init` pinned it to the main
/// lcore's CPU (`None` if it cannot be read).
pub(crate) fn thread_affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: `cpu_set_t` is a plain bit array for which all zeroes is valid.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `cpu_set_t` of the size passed.
    let ret =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    (ret == 0).then_some(set)
}

/// Sets the calling thread's CPU affinity.
pub(crate) fn set_thread_affinity(set: &libc::cpu_set_t) -> Result<(), i32> {
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed, read during the call only.
    let ret = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if ret == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL))
    }
}

/// Whether the EAL chose IOVA-as-VA.
pub(crate) fn iova_is_va() -> bool {
    // SAFETY: called only after a successful `rte_eal_init`; reads a global.
    unsafe { ffi::rte_eal_iova_mode() == ffi::RTE_IOVA_VA }
}

/// The main lcore and the worker lcores the EAL runs.
pub(crate) fn lcores() -> (u32, Vec<u32>) {
    // SAFETY: called after a successful `rte_eal_init`; reads EAL configuration.
    let main = unsafe { ffi::rte_get_main_lcore() };
    let mut workers = Vec::new();
    let mut i = u32::MAX; // `-1`: start the search at lcore 0, as RTE_LCORE_FOREACH_WORKER does.
    loop {
        // SAFETY: as above; any `i` is accepted.
        i = unsafe { ffi::rte_get_next_lcore(i, 1, 0) };
        if i >= ffi::RTE_MAX_LCORE {
            break;
        }
        workers.push(i);
    }
    (main, workers)
}

type Job = Box<dyn FnOnce() + Send + 'static>;

unsafe extern "C" fn launch_trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `Box<Job>` leaked by `remote_launch`, handed over exactly once.
    let job = unsafe { Box::from_raw(arg as *mut Job) };
    // A panic must not unwind into C: report it as a failed job instead.
    match catch_unwind(AssertUnwindSafe(job)) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// Runs `job` on worker lcore `lcore`. Wait for it with [`wait_lcore`].
pub(crate) fn remote_launch(lcore: u32, job: Job) -> Result<(), i32> {
    let arg = Box::into_raw(Box::new(job)) as *mut c_void;
    // SAFETY: the trampoline matches `lcore_function_t`; `arg` is a leaked `Box<Job>` that the
    // trampoline takes back. On failure the job never runs and is reclaimed below.
    let ret = unsafe { ffi::rte_eal_remote_launch(Some(launch_trampoline), arg, lcore) };
    if ret < 0 {
        // SAFETY: the launch failed, so the trampoline will not run: `arg` is still ours.
        drop(unsafe { Box::from_raw(arg as *mut Job) });
        return Err(-ret);
    }
    Ok(())
}

/// Waits for the job on `lcore` to finish; returns its return code (0, or -1 if it panicked).
pub(crate) fn wait_lcore(lcore: u32) -> i32 {
    // SAFETY: any lcore id is accepted; blocks until that lcore is idle.
    unsafe { ffi::rte_eal_wait_lcore(lcore) }
}

/// `rte_dev_probe(devargs)`: hot-plugs a device such as a vdev.
pub(crate) fn dev_probe(devargs: &str) -> Result<(), i32> {
    let c = CString::new(devargs).map_err(|_| libc::EINVAL)?;
    // SAFETY: `c` is a valid NUL-terminated string that lives across the call.
    let ret = unsafe { ffi::rte_dev_probe(c.as_ptr()) };
    neg(ret).map(|_| ())
}

/// Two ports over two crossed `rte_ring`s (what `a` sends, `b` receives and back), made by the
/// `net_ring` driver's `rte_eth_from_rings` in its plugin `plugin`. Returns the port ids.
pub(crate) fn eth_ring_pair(
    plugin: &str,
    a: &str,
    b: &str,
    ring_size: u32,
) -> Result<(u16, u16), i32> {
    let c = |s: &str| CString::new(s).map_err(|_| libc::EINVAL);
    let (plugin, a, b) = (c(plugin)?, c(a)?, c(b)?);
    let (mut pa, mut pb) = (0u16, 0u16);
    // SAFETY: three NUL-terminated strings and two out-pointers, all live across the call; the
    // shim only creates rings and ports (called after `rte_eal_init`, checked by the caller).
    let ret = unsafe {
        ffi::cyclone_eth_ring_pair(
            plugin.as_ptr(),
            a.as_ptr(),
            b.as_ptr(),
            ring_size,
            &mut pa,
            &mut pb,
        )
    };
    neg(ret).map(|_| (pa, pb))
}

fn neg(ret: c_int) -> Result<c_int, i32> {
    if ret < 0 {
        Err(-ret)
    } else {
        Ok(ret)
    }
}

// ---------------------------------------------------------------------------------------------
// ethdev

/// The ids of all available ports, in order.
pub(crate) fn port_ids() -> Vec<u16> {
    let mut ids = Vec::new();
    let mut id = 0u16;
    loop {
        // SAFETY: any port id is accepted; returns the next valid one or RTE_MAX_ETHPORTS.
        let next = unsafe { ffi::rte_eth_find_next(id) };
        if u32::from(next) >= ffi::RTE_MAX_ETHPORTS {
            break;
        }
        ids.push(next);
        id = next + 1;
    }
    ids
}

/// The port id of a device name (`net_null0`, a PCI address).
pub(crate) fn port_by_name(name: &str) -> Result<u16, i32> {
    let c = CString::new(name).map_err(|_| libc::EINVAL)?;
    let mut id = 0u16;
    // SAFETY: `c` is a NUL-terminated string and `id` a valid out-pointer, both live across the
    // call.
    let ret = unsafe { ffi::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
    neg(ret).map(|_| id)
}

/// The device name of a port.
pub(crate) fn port_name(port: u16) -> Result<String, i32> {
    let mut buf = [0 as c_char; ffi::RTE_ETH_NAME_MAX_LEN as usize];
    // SAFETY: `buf` is RTE_ETH_NAME_MAX_LEN bytes, the size the function writes at most.
    let ret = unsafe { ffi::rte_eth_dev_get_name_by_port(port, buf.as_mut_ptr()) };
    neg(ret)?;
    // SAFETY: on success the name in `buf` is NUL-terminated.
    Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned())
}

/// What `rte_eth_dev_info_get` says, in plain fields.
#[derive(Debug, Clone, Default)]
pub(crate) struct DevInfo {
    pub driver: String,
    pub min_mtu: u16,
    pub max_mtu: u16,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    pub rx_offload_capa: u64,
    pub tx_offload_capa: u64,
    pub flow_type_rss_offloads: u64,
    pub rx_desc_max: u16,
    pub tx_desc_max: u16,
    pub rx_desc_min: u16,
    pub tx_desc_min: u16,
}

pub(crate) fn dev_info(port: u16) -> Result<DevInfo, i32> {
    let mut info = ffi::rte_eth_dev_info::default();
    // SAFETY: `info` is a valid, writable `rte_eth_dev_info`.
    neg(unsafe { ffi::rte_eth_dev_info_get(port, &mut info) })?;
    let driver = if info.driver_name.is_null() {
        String::new()
    } else {
        // SAFETY: a non-null `driver_name` points to the driver's static NUL-terminated name.
        unsafe { CStr::from_ptr(info.driver_name) }
            .to_string_lossy()
            .into_owned()
    };
    Ok(DevInfo {
        driver,
        min_mtu: info.min_mtu,
        max_mtu: info.max_mtu,
        max_rx_queues: info.max_rx_queues,
        max_tx_queues: info.max_tx_queues,
        rx_offload_capa: info.rx_offload_capa,
        tx_offload_capa: info.tx_offload_capa,
        flow_type_rss_offloads: info.flow_type_rss_offloads,
        rx_desc_max: info.rx_desc_lim.nb_max,
        tx_desc_max: info.tx_desc_lim.nb_max,
        rx_desc_min: info.rx_desc_lim.nb_min,
        tx_desc_min: info.tx_desc_lim.nb_min,
    })
}

/// The parts of `rte_eth_conf` Cyclone sets.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EthConf {
    pub rss_hf: u64,
    pub rx_offloads: u64,
    pub tx_offloads: u64,
    pub mtu: u32,
}

pub(crate) fn configure(port: u16, rxq: u16, txq: u16, conf: &EthConf) -> Result<(), i32> {
    let mut c = ffi::rte_eth_conf::default();
    if conf.rss_hf != 0 {
        c.rxmode.mq_mode = ffi::RTE_ETH_MQ_RX_RSS;
        c.rx_adv_conf.rss_conf.rss_hf = conf.rss_hf;
    }
    c.rxmode.offloads = conf.rx_offloads;
    c.rxmode.mtu = conf.mtu;
    c.txmode.offloads = conf.tx_offloads;
    // SAFETY: `c` is a fully initialised `rte_eth_conf` (zeroed, then the fields above).
    neg(unsafe { ffi::rte_eth_dev_configure(port, rxq, txq, &c) }).map(|_| ())
}

pub(crate) fn rx_queue_setup(port: u16, queue: u16, desc: u16, mp: &Mempool) -> Result<(), i32> {
    // SAFETY: reads the port's NUMA socket; any port id is accepted.
    let socket = unsafe { ffi::rte_eth_dev_socket_id(port) };
    let socket = if socket < 0 { 0 } else { socket as c_uint };
    // SAFETY: a NULL rxconf means the driver's defaults; `mp.mp` is a live, populated mempool
    // that outlives the queue (the port holds the `Mempool` until it is closed).
    let ret =
        unsafe { ffi::rte_eth_rx_queue_setup(port, queue, desc, socket, ptr::null(), mp.mp()) };
    neg(ret).map(|_| ())
}

pub(crate) fn tx_queue_setup(port: u16, queue: u16, desc: u16) -> Result<(), i32> {
    // SAFETY: as in `rx_queue_setup`.
    let socket = unsafe { ffi::rte_eth_dev_socket_id(port) };
    let socket = if socket < 0 { 0 } else { socket as c_uint };
    // SAFETY: a NULL txconf means the driver's defaults.
    let ret = unsafe { ffi::rte_eth_tx_queue_setup(port, queue, desc, socket, ptr::null()) };
    neg(ret).map(|_| ())
}

pub(crate) fn dev_start(port: u16) -> Result<(), i32> {
    // SAFETY: plain call on a configured port.
    neg(unsafe { ffi::rte_eth_dev_start(port) }).map(|_| ())
}

pub(crate) fn dev_stop(port: u16) -> Result<(), i32> {
    // SAFETY: plain call; no queue of this port is polled any more (the caller owns them all).
    neg(unsafe { ffi::rte_eth_dev_stop(port) }).map(|_| ())
}

pub(crate) fn dev_close(port: u16) -> Result<(), i32> {
    // SAFETY: plain call on a stopped port; its mbufs go back through the mempool ops.
    neg(unsafe { ffi::rte_eth_dev_close(port) }).map(|_| ())
}

pub(crate) fn set_mtu(port: u16, mtu: u16) -> Result<(), i32> {
    // SAFETY: plain call.
    neg(unsafe { ffi::rte_eth_dev_set_mtu(port, mtu) }).map(|_| ())
}

pub(crate) fn mtu(port: u16) -> Result<u16, i32> {
    let mut mtu = 0u16;
    // SAFETY: `mtu` is a valid out-pointer.
    neg(unsafe { ffi::rte_eth_dev_get_mtu(port, &mut mtu) }).map(|_| mtu)
}

pub(crate) fn promiscuous(port: u16, on: bool) -> Result<(), i32> {
    let ret = if on {
        // SAFETY: plain call; any port id is accepted.
        unsafe { ffi::rte_eth_promiscuous_enable(port) }
    } else {
        // SAFETY: plain call; any port id is accepted.
        unsafe { ffi::rte_eth_promiscuous_disable(port) }
    };
    neg(ret).map(|_| ())
}

pub(crate) fn mac(port: u16) -> Result<[u8; 6], i32> {
    let mut addr = ffi::rte_ether_addr::default();
    // SAFETY: `addr` is a valid out-pointer.
    neg(unsafe { ffi::rte_eth_macaddr_get(port, &mut addr) }).map(|_| addr.addr_bytes)
}

/// Link state of a port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Link {
    /// Whether the link is up.
    pub up: bool,
    /// Speed in Mbit/s (0 when unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

pub(crate) fn link(port: u16) -> Result<Link, i32> {
    let mut l = ffi::rte_eth_link::default();
    // SAFETY: `l` is a valid out-pointer; the call does not wait.
    neg(unsafe { ffi::rte_eth_link_get_nowait(port, &mut l) })?;
    Ok(Link {
        up: l.link_status() != 0,
        speed_mbps: l.link_speed,
        full_duplex: l.link_duplex() != 0,
    })
}

/// Port counters from `rte_eth_stats_get`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EthStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets dropped by the hardware because no RX descriptor was free.
    pub imissed: u64,
    /// Erroneous packets received.
    pub ierrors: u64,
    /// Failed transmissions.
    pub oerrors: u64,
    /// RX mbuf allocation failures.
    pub rx_nombuf: u64,
}

pub(crate) fn stats(port: u16) -> Result<EthStats, i32> {
    let mut s = ffi::rte_eth_stats::default();
    // SAFETY: `s` is a valid out-pointer.
    neg(unsafe { ffi::rte_eth_stats_get(port, &mut s) })?;
    Ok(EthStats {
        ipackets: s.ipackets,
        opackets: s.opackets,
        ibytes: s.ibytes,
        obytes: s.obytes,
        imissed: s.imissed,
        ierrors: s.ierrors,
        oerrors: s.oerrors,
        rx_nombuf: s.rx_nombuf,
    })
}

pub(crate) fn xstats(port: u16) -> Result<Vec<(String, u64)>, i32> {
    // SAFETY: a NULL array with size 0 asks for the number of xstats.
    let n = neg(unsafe { ffi::rte_eth_xstats_get_names(port, ptr::null_mut(), 0) })? as usize;
    let mut names = vec![ffi::rte_eth_xstat_name { name: [0; 64] }; n];
    let mut values = vec![ffi::rte_eth_xstat::default(); n];
    // SAFETY: `names` has room for `n` entries.
    let got = neg(unsafe { ffi::rte_eth_xstats_get_names(port, names.as_mut_ptr(), n as c_uint) })?
        as usize;
    // SAFETY: `values` has room for `n` entries.
    let got_v =
        neg(unsafe { ffi::rte_eth_xstats_get(port, values.as_mut_ptr(), n as c_uint) })? as usize;
    let mut out = Vec::with_capacity(got.min(got_v));
    for v in values.iter().take(got_v.min(n)) {
        let Some(name) = names.get(v.id as usize).filter(|_| (v.id as usize) < got) else {
            continue;
        };
        // SAFETY: the name array is NUL-terminated within its 64 bytes (written by DPDK with
        // strlcpy, or still zeroed).
        let name = unsafe { CStr::from_ptr(name.name.as_ptr()) };
        out.push((name.to_string_lossy().into_owned(), v.value));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The mempool over a Cyclone pool

/// What the mempool ops need to map objects to frames and back. Lives in a `Box` whose address is
/// the mempool's `pool_config`; freed after the mempool.
struct OpsCtx {
    pool: Pool,
    layout: FrameLayout,
    /// Set while the mempool is being freed: dequeue then takes nothing.
    closing: AtomicBool,
    base: usize,
    len: usize,
    shift: u32,
}

impl OpsCtx {
    #[inline(always)]
    fn obj_of(&self, index: u32) -> *mut c_void {
        (self.base + ((index as usize) << self.shift) + self.layout.mbuf_offset(index))
            as *mut c_void
    }

    #[inline(always)]
    fn index_of(&self, obj: *const c_void) -> Option<u32> {
        let off = (obj as usize).wrapping_sub(self.base);
        (off < self.len).then_some((off >> self.shift) as u32)
    }
}

/// The ops context of a mempool created by [`Mempool::new`].
///
/// # Safety
/// `mp` is a live mempool whose ops are the Cyclone ops, so `pool_config` is an `OpsCtx`.
unsafe fn ctx<'a>(mp: *const ffi::rte_mempool) -> &'a OpsCtx {
    // SAFETY: per the contract, `mp` is live.
    let config = unsafe { (*mp).pool_config } as *const OpsCtx;
    // SAFETY: per the contract, `pool_config` points to the `OpsCtx` that outlives the mempool.
    unsafe { &*config }
}

unsafe extern "C" fn ops_alloc(_mp: *mut ffi::rte_mempool) -> c_int {
    // Nothing to allocate: the frames live in the Cyclone pool's region already.
    0
}

unsafe extern "C" fn ops_free(_mp: *mut ffi::rte_mempool) {
    // Nothing to free: the pool's region belongs to the `Pool`, the context to `Mempool`.
}

/// Mempool put: DPDK gives frames back to the Cyclone pool.
unsafe extern "C" fn ops_enqueue(
    mp: *mut ffi::rte_mempool,
    obj_table: *const *mut c_void,
    n: c_uint,
) -> c_int {
    // SAFETY: DPDK calls the ops only on mempools created with them.
    let ctx = unsafe { ctx(mp) };
    // SAFETY: DPDK passes `n` valid object pointers.
    let objs = unsafe { std::slice::from_raw_parts(obj_table, n as usize) };
    // SAFETY: DPDK owned these objects (frames of the pool, by the mempool's construction) and
    // gives them up with this put.
    unsafe {
        ctx.pool
            .free_indices(objs.iter().filter_map(|&obj| ctx.index_of(obj)))
    };
    0
}

/// Mempool get: DPDK takes `n` frames from the Cyclone pool, all or nothing.
unsafe extern "C" fn ops_dequeue(
    mp: *mut ffi::rte_mempool,
    obj_table: *mut *mut c_void,
    n: c_uint,
) -> c_int {
    // SAFETY: DPDK calls the ops only on mempools created with them.
    let ctx = unsafe { ctx(mp) };
    if ctx.closing.load(Ordering::Relaxed) {
        return -libc::ENOBUFS;
    }
    // SAFETY: DPDK passes room for `n` object pointers.
    let out = unsafe { std::slice::from_raw_parts_mut(obj_table, n as usize) };
    let mut k = 0usize;
    let got = ctx.pool.alloc_indices(n as usize, |index| {
        if let Some(slot) = out.get_mut(k) {
            *slot = ctx.obj_of(index);
            k += 1;
        }
    });
    if got < n as usize {
        for &obj in &out[..k] {
            if let Some(index) = ctx.index_of(obj) {
                // SAFETY: these frames were just taken for this call and never left it.
                unsafe { ctx.pool.free_index(index) };
            }
        }
        return -libc::ENOBUFS;
    }
    0
}

/// Mempool populate: places object `i` (an mbuf) in frame `i` at its colour's offset, tells
/// DPDK (`obj_cb`, which writes the object header) and puts it in the pool (enqueue).
unsafe extern "C" fn ops_populate(
    mp: *mut ffi::rte_mempool,
    max_objs: c_uint,
    vaddr: *mut c_void,
    iova: ffi::rte_iova_t,
    len: usize,
    obj_cb: ffi::rte_mempool_populate_obj_cb_t,
    obj_cb_arg: *mut c_void,
) -> c_int {
    // SAFETY: DPDK calls the ops only on mempools created with them.
    let ctx = unsafe { ctx(mp) };
    let frame = 1usize << ctx.shift;
    let start = vaddr as usize;
    let Some(first) = start.checked_sub(ctx.base) else {
        return -libc::EINVAL;
    };
    let mut index = first.div_ceil(frame);
    let mut count: c_uint = 0;
    while count < max_objs && (index + 1) * frame <= first + len && index * frame < ctx.len {
        let obj = ctx.obj_of(index as u32);
        let obj_iova = if iova == u64::MAX {
            iova
        } else {
            iova + (obj as usize - start) as u64
        };
        if let Some(cb) = obj_cb {
            // SAFETY: `obj` is inside the chunk DPDK handed us, with room for its header in
            // front (colour offsets start at 64) and the mbuf behind it (inside the frame).
            unsafe { cb(mp, obj_cb_arg, obj, obj_iova) };
        }
        let table = [obj];
        // SAFETY: the object is now the mempool's; putting it in the pool is what DPDK's own
        // populate helper does next (through the same enqueue op).
        unsafe { ops_enqueue(mp, table.as_ptr(), 1) };
        count += 1;
        index += 1;
    }
    count as c_int
}

unsafe extern "C" fn ops_get_count(mp: *const ffi::rte_mempool) -> c_uint {
    // SAFETY: DPDK calls the ops only on mempools created with them.
    let ctx = unsafe { ctx(mp) };
    ctx.pool.available() as c_uint
}

/// Registers the Cyclone mempool ops once per process.
fn register_ops() -> Result<(), i32> {
    static REGISTERED: OnceLock<Result<(), i32>> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        let mut ops = ffi::rte_mempool_ops::default();
        for (dst, &src) in ops.name.iter_mut().zip(OPS_NAME.to_bytes()) {
            *dst = src as c_char;
        }
        ops.alloc = Some(ops_alloc);
        ops.free = Some(ops_free);
        ops.enqueue = Some(ops_enqueue);
        ops.dequeue = Some(ops_dequeue);
        ops.get_count = Some(ops_get_count);
        ops.populate = Some(ops_populate);
        // SAFETY: `ops` is a fully initialised ops struct; DPDK copies it into its table.
        neg(unsafe { ffi::rte_mempool_register_ops(&ops) }).map(|_| ())
    })
}

unsafe extern "C" fn collect_obj(
    _mp: *mut ffi::rte_mempool,
    opaque: *mut c_void,
    obj: *mut c_void,
    _idx: c_uint,
) {
    // SAFETY: `opaque` is the `Vec<usize>` passed by `object_addresses`, alive for the iteration.
    let v = unsafe { &mut *(opaque as *mut Vec<usize>) };
    v.push(obj as usize);
}

/// A DPDK packet mempool whose objects are the frames of a Cyclone [`Pool`].
pub(crate) struct Mempool {
    mp: NonNull<ffi::rte_mempool>,
    ctx: NonNull<OpsCtx>,
    pool: Pool,
    base: usize,
    shift: u32,
    layout: FrameLayout,
}

// SAFETY: the mempool is a process-wide DPDK object whose ops are thread-safe (they go to the
// thread-safe `Pool`); the context is immutable after creation.
unsafe impl Send for Mempool {}
// SAFETY: as above; `&Mempool` methods only read the mempool's constant fields.
unsafe impl Sync for Mempool {}

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool")
            .field("mp", &self.mp)
            .field("pool", &self.pool.id())
            .finish()
    }
}

/// Why a [`Mempool`] could not be made.
#[derive(Debug)]
pub(crate) struct MempoolError {
    pub call: &'static str,
    pub errno: i32,
}

impl Mempool {
    /// Makes the mempool over `pool`, whose frames must all be free and whose `reserved` area is
    /// [`FrameLayout::reserved`] bytes.
    pub(crate) fn new(name: &str, pool: &Pool, cache_size: u32) -> Result<Mempool, MempoolError> {
        let err = |call, errno| MempoolError { call, errno };
        let cfg = pool.config();
        let layout = FrameLayout::new(cfg.frame_size);
        if cfg.reserved as usize != layout.reserved || pool.available() != pool.capacity() {
            return Err(err("cyclone_pool_layout", libc::EINVAL));
        }
        register_ops().map_err(|e| err("rte_mempool_register_ops", e))?;
        let frame = cfg.frame_size as usize;
        let cname =
            CString::new(name).map_err(|_| err("rte_mempool_create_empty", libc::EINVAL))?;
        let flags = ffi::RTE_MEMPOOL_F_NO_SPREAD;
        let priv_size = std::mem::size_of::<ffi::rte_pktmbuf_pool_private>() as c_uint;
        // SAFETY: valid name; sizes as documented; the mempool is freed in `Drop` (or below).
        let mp = unsafe {
            ffi::rte_mempool_create_empty(
                cname.as_ptr(),
                cfg.frames,
                (frame - OBJ_HEADER) as c_uint,
                cache_size,
                priv_size,
                ffi::SOCKET_ID_ANY,
                flags,
            )
        };
        let mp = NonNull::new(mp).ok_or_else(|| err("rte_mempool_create_empty", rte_errno()))?;
        let ctx = NonNull::from(Box::leak(Box::new(OpsCtx {
            pool: pool.clone(),
            layout,
            closing: AtomicBool::new(false),
            base: pool.region_base().as_ptr() as usize,
            len: pool.region_len(),
            shift: cfg.frame_size.trailing_zeros(),
        })));
        let this = Mempool {
            mp,
            ctx,
            pool: pool.clone(),
            base: pool.region_base().as_ptr() as usize,
            shift: cfg.frame_size.trailing_zeros(),
            layout,
        };
        // SAFETY: `mp` is live; reading its computed object layout.
        let (hdr, elt, trailer) = unsafe {
            let m = mp.as_ref();
            (m.header_size, m.elt_size, m.trailer_size)
        };
        if hdr as usize != OBJ_HEADER || (hdr + elt + trailer) as usize != frame {
            return Err(err("rte_mempool_calc_obj_size", libc::EINVAL));
        }
        // SAFETY: `mp` is a fresh empty mempool; `ctx` outlives it (freed after it in `Drop`).
        let ret = unsafe {
            ffi::rte_mempool_set_ops_byname(mp.as_ptr(), OPS_NAME.as_ptr(), ctx.as_ptr().cast())
        };
        neg(ret).map_err(|e| err("rte_mempool_set_ops_byname", e))?;
        let mut private = ffi::rte_pktmbuf_pool_private {
            mbuf_data_room_size: (frame - layout.reserved) as u16,
            mbuf_priv_size: 0,
            flags: 0,
        };
        // SAFETY: `mp` was created with room for `rte_pktmbuf_pool_private`; `private` is read
        // during the call only.
        unsafe {
            ffi::rte_pktmbuf_pool_init(
                mp.as_ptr(),
                (&mut private as *mut ffi::rte_pktmbuf_pool_private).cast(),
            )
        };
        // Populating enqueues every object it places: lend every frame to the mempool first,
        // so those enqueues give them back to the pool.
        pool.alloc_indices(cfg.frames as usize, |_| {});
        // SAFETY: the region is page-aligned, `frames * frame_size` long (a multiple of 4 KiB,
        // checked by the caller), and lives as long as `pool`, which `ctx` and `self` hold; no
        // free callback: DPDK never frees it.
        let populated = unsafe {
            ffi::rte_mempool_populate_virt(
                mp.as_ptr(),
                pool.region_base().as_ptr().cast(),
                pool.region_len(),
                ffi::RTE_PGSIZE_4K as usize,
                None,
                ptr::null_mut(),
            )
        };
        let addrs = this.object_addresses();
        if populated < 0 || addrs.len() != cfg.frames as usize {
            // Give back the frames that populate did not place (it enqueued the others).
            let mut placed = vec![false; cfg.frames as usize];
            for a in &addrs {
                let i = (a - this.base) >> this.shift;
                if let Some(p) = placed.get_mut(i) {
                    *p = true;
                }
            }
            for (i, placed) in placed.iter().enumerate() {
                if !placed {
                    // SAFETY: frame `i` was lent above and not handed to the mempool.
                    unsafe { pool.free_index(i as u32) };
                }
            }
            let errno = if populated < 0 {
                -populated
            } else {
                libc::ENOMEM
            };
            return Err(err("rte_mempool_populate_virt", errno));
        }
        // SAFETY: initialises every object's mbuf header (buf_addr, buf_iova, buf_len, pool,
        // refcnt 1, nb_segs 1, next NULL) in the frames' reserved area, which nothing else
        // touches.
        unsafe {
            ffi::rte_mempool_obj_iter(mp.as_ptr(), Some(ffi::rte_pktmbuf_init), ptr::null_mut())
        };
        // `rte_pktmbuf_init` put each data buffer right behind its mbuf; move it to the same
        // offset in every frame (`reserved`), whatever the mbuf's colour.
        for index in 0..cfg.frames {
            let m = this.mbuf_of(index);
            let frame_start = this.base + ((index as usize) << this.shift);
            // SAFETY: `m` is frame `index`'s mbuf, just initialised, owned by the (idle) pool.
            let h = unsafe { &mut *m };
            let old = h.buf_addr as usize;
            let new = frame_start + layout.reserved;
            h.buf_addr = new as *mut c_void;
            if h.buf_iova != u64::MAX {
                h.buf_iova = h.buf_iova + new as u64 - old as u64;
            }
            h.buf_len = (frame - layout.reserved) as u16;
        }
        Ok(this)
    }

    pub(crate) fn mp(&self) -> *mut ffi::rte_mempool {
        self.mp.as_ptr()
    }

    /// Addresses of the mempool's objects (mbufs), in the order DPDK placed them.
    pub(crate) fn object_addresses(&self) -> Vec<usize> {
        let mut v: Vec<usize> = Vec::new();
        // SAFETY: `mp` is live; the callback gets `&mut v` only during the iteration.
        unsafe {
            ffi::rte_mempool_obj_iter(
                self.mp(),
                Some(collect_obj),
                (&mut v as *mut Vec<usize>).cast(),
            )
        };
        v
    }

    /// `rte_mempool_avail_count`: what the ops' get_count says.
    pub(crate) fn avail_count(&self) -> u32 {
        // SAFETY: `mp` is live.
        unsafe { ffi::rte_mempool_avail_count(self.mp()) }
    }

    /// Gives the frames in the calling lcore's DPDK mempool cache back to the Cyclone pool
    /// (nothing on a thread that is not an EAL lcore: it has no cache).
    pub(crate) fn flush_cache(&self) {
        // SAFETY: `mp` is live; the calling thread's own cache is only used by this thread.
        unsafe { ffi::cyclone_rte_mempool_cache_flush(self.mp()) }
    }

    /// Frames in the calling lcore's DPDK mempool cache.
    pub(crate) fn cache_count(&self) -> u32 {
        // SAFETY: `mp` is live; reads the calling thread's own cache.
        unsafe { ffi::cyclone_rte_mempool_cache_count(self.mp()) }
    }

    /// The mbuf header of frame `index`.
    #[inline(always)]
    fn mbuf_of(&self, index: u32) -> *mut ffi::rte_mbuf {
        (self.base + ((index as usize) << self.shift) + self.layout.mbuf_offset(index))
            as *mut ffi::rte_mbuf
    }

    /// Receives up to `max` frames from `port`/`queue` and appends them to `out` as buffers.
    #[inline]
    pub(crate) fn rx_burst(
        &self,
        port: u16,
        queue: u16,
        out: &mut Vec<PacketBuf>,
        max: usize,
        stats: &mut QueueStats,
    ) -> usize {
        // The frame size as a constant: the layout arithmetic folds into immediates and the
        // loop keeps its registers (2048- and 4096-byte frames are the only ones).
        if self.shift == 11 {
            self.rx_burst_in::<11>(port, queue, out, max, stats)
        } else {
            self.rx_burst_in::<12>(port, queue, out, max, stats)
        }
    }

    /// [`Mempool::rx_burst`] for frames of `1 << SHIFT` bytes (`SHIFT == self.shift`).
    #[inline(always)]
    fn rx_burst_in<const SHIFT: u32>(
        &self,
        port: u16,
        queue: u16,
        out: &mut Vec<PacketBuf>,
        max: usize,
        stats: &mut QueueStats,
    ) -> usize {
        debug_assert_eq!(SHIFT, self.shift);
        let mut mbufs = [MaybeUninit::<*mut ffi::rte_mbuf>::uninit(); MAX_BURST];
        let want = max.min(MAX_BURST) as u16;
        // SAFETY: `mbufs` has room for `want` pointers; the port and queue were set up by the
        // port that owns this mempool, and only this queue's owner polls them.
        let n =
            unsafe { ffi::cyclone_rte_eth_rx_burst(port, queue, mbufs.as_mut_ptr().cast(), want) };
        let n = (n as usize).min(want as usize);
        out.reserve(n);
        // Everything the conversion needs, read once per burst.
        let mp = self.mp();
        let (base, shift) = (self.base, SHIFT);
        let reserved = FrameLayout::new(1 << SHIFT).reserved as u32;
        // The data room of every mbuf: `data_off + data_len` must stay inside it.
        let room = (1u32 << shift) - reserved;
        let len0 = out.len();
        let dst = out.as_mut_ptr().wrapping_add(len0);
        let (mut got, mut bytes) = (0usize, 0u64);
        for m in &mbufs[..n] {
            // SAFETY: the driver wrote the first `n` entries.
            let m = unsafe { m.assume_init() };
            // SAFETY: `m` is an mbuf the driver handed over: we own it and read its header.
            let (pool, nb_segs, data_off, data_len, ol_flags) = unsafe {
                let h = &*m;
                (h.pool, h.nb_segs, h.data_off, h.data_len, h.ol_flags)
            };
            let (off, len) = (u32::from(data_off), u32::from(data_len));
            let buf = if pool == mp && nb_segs == 1 && off + len <= room {
                let raw = RawBuf {
                    index: ((m as usize - base) >> shift) as u32,
                    offset: reserved + off,
                    len,
                };
                // SAFETY: `m` belongs to this mempool, so it is the header of frame
                // `raw.index` of `self.pool` (object i is frame i), and the driver handed it
                // (the frame) over to us. The window starts at `reserved + data_off >=
                // reserved` and ends at `reserved + data_off + data_len <= reserved + room =
                // frame_size`, checked just above (u16 + u16 cannot overflow a u32).
                let mut buf = unsafe { PacketBuf::from_raw_unchecked(&self.pool, raw) };
                if ol_flags & RX_CKSUM_MASK != 0 {
                    buf.offload = rx_offload(ol_flags);
                }
                buf
            } else {
                // SAFETY: we own `m` (from the driver) and give it up here.
                match unsafe { self.rx_odd(m) } {
                    Some(buf) => buf,
                    None => {
                        stats.rx_dropped_invalid += 1;
                        continue;
                    }
                }
            };
            bytes += buf.len() as u64;
            // SAFETY: `reserve(n)` made room for `n` more buffers after `len0`, and `got < n`
            // (one per mbuf at most): slot `len0 + got` is spare capacity, written once.
            unsafe { dst.wrapping_add(got).write(buf) };
            got += 1;
        }
        // SAFETY: the `got` slots after `len0` were initialised above.
        unsafe { out.set_len(len0 + got) };
        stats.rx_packets += got as u64;
        stats.rx_bytes += bytes;
        got
    }

    /// A received mbuf the fast path does not take: one of another mempool or a chain (copied
    /// into a fresh frame, see [`Mempool::rx_slow`]), or one whose window does not fit its
    /// buffer (a driver bug: dropped). Out of line, so that the fast path keeps its registers.
    ///
    /// # Safety
    /// The caller owns `m` and gives it up.
    #[cold]
    #[inline(never)]
    unsafe fn rx_odd(&self, m: *mut ffi::rte_mbuf) -> Option<PacketBuf> {
        // SAFETY: the caller owns `m`: reading its header.
        let h = unsafe { &*m };
        let (pool, nb_segs) = (h.pool, h.nb_segs);
        if pool == self.mp() && nb_segs == 1 {
            // Ours, but the window overflows the buffer: give the frame back, unseen.
            let index = ((m as usize - self.base) >> self.shift) as u32;
            // SAFETY: `m` is frame `index`'s mbuf (it belongs to this mempool) and the caller
            // gave it to us: we own the frame and return it to the pool.
            unsafe { self.pool.free_index(index) };
            return None;
        }
        // SAFETY: forwarded from the caller.
        unsafe { self.rx_slow(m) }
    }

    /// A received mbuf that is not a single segment of this mempool: copy it into a fresh
    /// frame and free it to DPDK. `None` (and the mbuf freed) if it does not fit or the pool is
    /// empty.
    ///
    /// # Safety
    /// The caller owns `m` and gives it up.
    #[cold]
    unsafe fn rx_slow(&self, m: *mut ffi::rte_mbuf) -> Option<PacketBuf> {
        let mut buf = self.pool.alloc();
        let mut seg = m;
        while let Some(b) = buf.as_mut() {
            if seg.is_null() {
                break;
            }
            // SAFETY: `seg` is a segment of the chain we own.
            let data = unsafe { ffi::cyclone_rte_pktmbuf_mtod(seg) } as *const u8;
            // SAFETY: as above.
            let len = unsafe { (*seg).data_len } as usize;
            // SAFETY: `mtod` and `data_len` describe the segment's data, inside its buffer.
            let bytes = unsafe { std::slice::from_raw_parts(data, len) };
            if b.extend_from_slice(bytes).is_err() {
                buf = None;
                break;
            }
            // SAFETY: as above.
            seg = unsafe { (*seg).next };
        }
        // SAFETY: we own the chain and free it whole.
        unsafe { ffi::cyclone_rte_pktmbuf_free(m) };
        buf
    }

    /// Offers `bufs` (front first) to `port`/`queue`; the frames the device took leave `bufs`,
    /// the rest stay in order. `meta` gives each buffer's `(ol_flags, tx_offload)`.
    #[inline]
    pub(crate) fn tx_burst(
        &self,
        port: u16,
        queue: u16,
        bufs: &mut Vec<PacketBuf>,
        stats: &mut QueueStats,
        meta: impl Fn(&PacketBuf) -> (u64, u64),
    ) -> usize {
        // As in `rx_burst`: the frame size as a constant.
        if self.shift == 11 {
            self.tx_burst_in::<11>(port, queue, bufs, stats, meta)
        } else {
            self.tx_burst_in::<12>(port, queue, bufs, stats, meta)
        }
    }

    /// [`Mempool::tx_burst`] for frames of `1 << SHIFT` bytes (`SHIFT == self.shift`).
    #[inline(always)]
    fn tx_burst_in<const SHIFT: u32>(
        &self,
        port: u16,
        queue: u16,
        bufs: &mut Vec<PacketBuf>,
        stats: &mut QueueStats,
        meta: impl Fn(&PacketBuf) -> (u64, u64),
    ) -> usize {
        debug_assert_eq!(SHIFT, self.shift);
        let layout = FrameLayout::new(1 << SHIFT);
        let base = self.base;
        let mut total = 0;
        let pool_id = self.pool.id();
        while !bufs.is_empty() {
            let mut mbufs = [MaybeUninit::<*mut ffi::rte_mbuf>::uninit(); MAX_BURST];
            let mut offl = [MaybeUninit::<Offload>::uninit(); MAX_BURST];
            let mut lens = [0u32; MAX_BURST];
            let n = bufs.len().min(MAX_BURST);
            // Frames of another pool are copied into this one (rare: a misconfigured app).
            for b in bufs[..n].iter_mut().filter(|b| b.pool_id() != pool_id) {
                let Some(mut copy) = self.pool.alloc() else {
                    return total; // no frame to copy into: the rest stays with the caller
                };
                if copy.extend_from_slice(b.data()).is_err() {
                    return total;
                }
                copy.offload = b.offload;
                *b = copy;
            }
            // Move the first `n` buffers out of `bufs` without an iterator (a `Drain` costs
            // ~20 instructions per buffer here): read them, then close the gap.
            let len = bufs.len();
            let src = bufs.as_mut_ptr();
            // SAFETY: from here until the `set_len` below, the first `n` elements are moved out
            // one by one and never dropped through `bufs`; if anything panicked in between,
            // `bufs` would only leak them (length 0), never drop them twice.
            unsafe { bufs.set_len(0) };
            for i in 0..n {
                // SAFETY: `i < n <= len`: an initialised element, read (moved) exactly once.
                let b = unsafe { ptr::read(src.wrapping_add(i)) };
                let (ol_flags, tx_offload) = meta(&b);
                offl[i].write(b.offload);
                let raw = b.into_raw();
                lens[i] = raw.len;
                // Frame `raw.index`'s mbuf (as `mbuf_of`, with the layout constant).
                let m = (base + ((raw.index as usize) << SHIFT) + layout.mbuf_offset(raw.index))
                    as *mut ffi::rte_mbuf;
                // SAFETY: `raw.index` is a frame of this pool that we now own (`into_raw`);
                // its first `reserved` bytes hold its mbuf header, initialised at creation and
                // never touched by a `PacketBuf` (the pool's reserved area). `raw.offset >=
                // reserved` by the buffer's window invariant, and `< frame_size <= 4096`.
                let h = unsafe { &mut *m };
                h.data_off = (raw.offset as usize - layout.reserved) as u16;
                h.data_len = raw.len as u16;
                h.pkt_len = raw.len;
                h.nb_segs = 1;
                h.ol_flags = ol_flags;
                // `next` is already NULL: a free mbuf's invariant, kept by `rte_pktmbuf_free`
                // and by RX taking only single segments. Leaving it, and `tx_offload` when no
                // offload is asked for, keeps TX off the mbuf's second cache line.
                debug_assert!(h.next.is_null());
                if ol_flags != 0 {
                    h.__bindgen_anon_3.tx_offload = tx_offload;
                }
                mbufs[i].write(m);
            }
            // SAFETY: elements `n..len` are still initialised: move them to the front and make
            // them the vector's contents (regions may overlap: `copy` is `memmove`).
            unsafe {
                ptr::copy(src.wrapping_add(n), src, len - n);
            }
            // SAFETY: the first `len - n` elements are now the remaining, initialised buffers.
            unsafe { bufs.set_len(len - n) };
            // SAFETY: `mbufs[..n]` were all written above and are valid mbufs of a mempool the
            // port knows; the device takes ownership of the first `sent`.
            let sent = unsafe {
                ffi::cyclone_rte_eth_tx_burst(port, queue, mbufs.as_mut_ptr().cast(), n as u16)
            };
            let sent = (sent as usize).min(n);
            total += sent;
            stats.tx_packets += sent as u64;
            stats.tx_bytes += lens[..sent].iter().map(|&l| u64::from(l)).sum::<u64>();
            if sent < n {
                let back = (sent..n).filter_map(|i| {
                    // SAFETY: all `n` entries were written above.
                    let m = unsafe { mbufs[i].assume_init() };
                    // SAFETY: as above.
                    let offload = unsafe { offl[i].assume_init() };
                    // SAFETY: the device did not take this mbuf: it and its frame are still
                    // ours, with the window we wrote.
                    let data_off = unsafe { (*m).data_off };
                    let raw = RawBuf {
                        index: ((m as usize - self.base) >> self.shift) as u32,
                        offset: u32::from(data_off) + self.layout.reserved as u32,
                        len: lens[i],
                    };
                    // SAFETY: see above: we own frame `raw.index` of `self.pool`.
                    let mut b = unsafe { PacketBuf::from_raw(&self.pool, raw) }.ok()?;
                    b.offload = offload;
                    Some(b)
                });
                if bufs.is_empty() {
                    bufs.extend(back);
                } else {
                    let rest: Vec<PacketBuf> = back.collect();
                    bufs.splice(0..0, rest);
                }
                // Everything offered that the device did not take, tried or not.
                stats.tx_full += bufs.len() as u64;
                break;
            }
        }
        total
    }
}

/// The RX checksum status bits of `ol_flags`.
const RX_CKSUM_MASK: u64 =
    (ffi::RTE_MBUF_F_RX_IP_CKSUM_MASK | ffi::RTE_MBUF_F_RX_L4_CKSUM_MASK) as u64;

/// Offload flags of a received mbuf.
#[inline(always)]
fn rx_offload(ol_flags: u64) -> Offload {
    let ip = ol_flags & ffi::RTE_MBUF_F_RX_IP_CKSUM_MASK as u64;
    let l4 = ol_flags & ffi::RTE_MBUF_F_RX_L4_CKSUM_MASK as u64;
    let mut offload = Offload::default();
    offload.set_rx_ip_checksum_ok(ip == ffi::RTE_MBUF_F_RX_IP_CKSUM_GOOD as u64);
    offload.set_rx_l4_checksum_ok(l4 == ffi::RTE_MBUF_F_RX_L4_CKSUM_GOOD as u64);
    offload
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // `rte_mempool_free` dequeues one object per populated element before freeing the
        // memory chunks: with the ops closed those dequeues take nothing from the pool.
        // SAFETY: `ctx` is alive until the end of this function.
        unsafe { self.ctx.as_ref() }
            .closing
            .store(true, Ordering::Relaxed);
        // Frames in DPDK's per-lcore caches go back to the Cyclone pool first (the free below
        // does not flush them).
        // SAFETY: every port that used this mempool has been closed and no `MbufPool` handle is
        // left, so no thread uses the mempool or its caches any more.
        unsafe { ffi::cyclone_rte_mempool_cache_flush_all(self.mp()) };
        // SAFETY: every port that used this mempool has been closed (ports hold the `Mempool`
        // until then), so no device holds its objects; frames still out as `PacketBuf`s go back
        // to the `Pool`, not to the mempool.
        unsafe { ffi::rte_mempool_free(self.mp()) };
        // SAFETY: the mempool, the only user of the context, is gone; created by `Box::leak`.
        drop(unsafe { Box::from_raw(self.ctx.as_ptr()) });
    }
}
