//! Devices, contexts, protection domains, memory regions, completion queues, address handles.

use std::ffi::CStr;
use std::io;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use cyclone_pmd::Pool;
use cyclone_verbs_sys as ffi;

use crate::addr::EndpointAddr;
use crate::error::RdmaError;
use crate::gid::{GidEntry, GidType};

/// The list `ibv_get_device_list` returns, freed on drop.
struct DeviceList {
    ptr: NonNull<*mut ffi::ibv_device>,
    len: usize,
}

impl DeviceList {
    fn get() -> Result<DeviceList, RdmaError> {
        let mut n: i32 = 0;
        // SAFETY: `n` is a valid out-pointer; the returned list is freed in `Drop`.
        let ptr = unsafe { ffi::cyclone_ibv_get_device_list(&mut n) };
        match NonNull::new(ptr) {
            Some(ptr) => Ok(DeviceList {
                ptr,
                len: usize::try_from(n).unwrap_or(0),
            }),
            None => {
                let source = io::Error::last_os_error();
                if source.raw_os_error() == Some(libc::ENOSYS) {
                    Err(RdmaError::NoKernelSupport { source })
                } else {
                    Err(RdmaError::Verb {
                        verb: "ibv_get_device_list",
                        source,
                    })
                }
            }
        }
    }

    fn devices(&self) -> &[*mut ffi::ibv_device] {
        // SAFETY: libibverbs returned an array of `len` device pointers (plus a NULL), alive
        // until `ibv_free_device_list`, which only our `Drop` calls.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    fn names(&self) -> Vec<String> {
        self.devices()
            .iter()
            .map(|&dev| {
                // SAFETY: `dev` is a device of the live list; its name is a NUL-terminated
                // string owned by the device.
                let name = unsafe { ffi::ibv_get_device_name(dev) };
                if name.is_null() {
                    String::from("?")
                } else {
                    // SAFETY: non-NULL, NUL-terminated, alive as long as the list.
                    unsafe { CStr::from_ptr(name) }
                        .to_string_lossy()
                        .into_owned()
                }
            })
            .collect()
    }
}

impl Drop for DeviceList {
    fn drop(&mut self) {
        // SAFETY: the list came from `ibv_get_device_list` and is freed once, here. Opened
        // contexts stay valid after the list is freed.
        unsafe { ffi::ibv_free_device_list(self.ptr.as_ptr()) }
    }
}

/// Names of the RDMA devices present, in the order libibverbs lists them.
pub(crate) fn device_names() -> Result<Vec<String>, RdmaError> {
    Ok(DeviceList::get()?.names())
}

/// An opened device (`ibv_context`), closed on drop.
#[derive(Debug)]
pub(crate) struct Context {
    ptr: NonNull<ffi::ibv_context>,
    name: String,
}

// SAFETY: libibverbs' verbs are thread-safe on a context; we only pass the pointer to them.
unsafe impl Send for Context {}
// SAFETY: as above; `&Context` methods are verbs calls that libibverbs serialises itself.
unsafe impl Sync for Context {}

/// What Cyclone needs to know of a port.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PortInfo {
    /// `IBV_PORT_ACTIVE` etc.
    pub(crate) state: u32,
    /// The active MTU in bytes (the largest UD payload).
    pub(crate) active_mtu: u32,
    /// Entries in the GID table.
    pub(crate) gid_tbl_len: u32,
    /// The port's LID (0 on RoCE).
    pub(crate) lid: u16,
}

impl PortInfo {
    /// Whether the port is up.
    pub(crate) fn is_active(&self) -> bool {
        self.state == ffi::IBV_PORT_ACTIVE
    }
}

/// `enum ibv_mtu` to bytes: 1 → 256 … 5 → 4096.
fn mtu_bytes(mtu: u32) -> u32 {
    match mtu {
        1..=5 => 128 << mtu,
        _ => 0,
    }
}

impl Context {
    /// Opens the device named `wanted`, or the first one.
    pub(crate) fn open(wanted: Option<&str>) -> Result<Arc<Context>, RdmaError> {
        let list = DeviceList::get()?;
        let names = list.names();
        let index = crate::device::select_device(&names, wanted)?;
        // SAFETY: the device pointer comes from the live list.
        let ptr = unsafe { ffi::ibv_open_device(list.devices()[index]) };
        let ptr = NonNull::new(ptr).ok_or_else(|| RdmaError::last_os("ibv_open_device"))?;
        Ok(Arc::new(Context {
            ptr,
            name: names[index].clone(),
        }))
    }

    /// The device's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Limits of the device: (`max_qp_wr`, `max_cqe`).
    pub(crate) fn query_device(&self) -> Result<(u32, u32), RdmaError> {
        let mut attr = ffi::ibv_device_attr::default();
        // SAFETY: a live context and a valid out-pointer.
        let ret = unsafe { ffi::ibv_query_device(self.ptr.as_ptr(), &mut attr) };
        if ret != 0 {
            return Err(RdmaError::returned("ibv_query_device", ret));
        }
        Ok((
            u32::try_from(attr.max_qp_wr).unwrap_or(0),
            u32::try_from(attr.max_cqe).unwrap_or(0),
        ))
    }

    /// State, MTU, GID table size and LID of `port`.
    pub(crate) fn query_port(&self, port: u8) -> Result<PortInfo, RdmaError> {
        let mut attr = ffi::ibv_port_attr::default();
        // SAFETY: a live context and a valid out-pointer.
        let ret = unsafe { ffi::cyclone_ibv_query_port(self.ptr.as_ptr(), port, &mut attr) };
        if ret != 0 {
            return Err(RdmaError::returned("ibv_query_port", ret));
        }
        Ok(PortInfo {
            state: attr.state,
            active_mtu: mtu_bytes(attr.active_mtu),
            gid_tbl_len: u32::try_from(attr.gid_tbl_len).unwrap_or(0),
            lid: attr.lid,
        })
    }

    /// The valid entries of `port`'s GID table.
    pub(crate) fn gid_table(&self, port: u8, len: u32) -> Result<Vec<GidEntry>, RdmaError> {
        let mut raw = vec![ffi::ibv_gid_entry::default(); len.max(1) as usize];
        // SAFETY: a live context and an array of `raw.len()` entries to fill.
        let n = unsafe {
            ffi::cyclone_ibv_query_gid_table(self.ptr.as_ptr(), raw.as_mut_ptr(), raw.len(), 0)
        };
        if n < 0 {
            return Err(RdmaError::returned(
                "ibv_query_gid_table",
                i32::try_from(n).unwrap_or(libc::EINVAL),
            ));
        }
        Ok(raw
            .iter()
            .take(n as usize)
            .filter(|e| e.port_num == u32::from(port))
            .map(|e| GidEntry {
                index: e.gid_index,
                // SAFETY: `ibv_gid` is a union of a 16-byte array and two u64s: any bit pattern
                // is a valid `raw` array.
                gid: unsafe { e.gid.raw },
                gid_type: match e.gid_type {
                    ffi::IBV_GID_TYPE_ROCE_V2 => GidType::RoceV2,
                    ffi::IBV_GID_TYPE_ROCE_V1 => GidType::RoceV1,
                    _ => GidType::Ib,
                },
            })
            .collect())
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: every object made from this context holds an `Arc<Context>` and is gone, so
        // the context is closed once, last.
        unsafe { ffi::ibv_close_device(self.ptr.as_ptr()) };
    }
}

/// A protection domain, deallocated on drop.
#[derive(Debug)]
pub(crate) struct Pd {
    ptr: NonNull<ffi::ibv_pd>,
    ctx: Arc<Context>,
}

// SAFETY: a verbs object used only through thread-safe verbs (see `Context`).
unsafe impl Send for Pd {}
// SAFETY: as above.
unsafe impl Sync for Pd {}

impl Pd {
    /// Allocates a protection domain on `ctx`.
    pub(crate) fn new(ctx: &Arc<Context>) -> Result<Arc<Pd>, RdmaError> {
        // SAFETY: a live context.
        let ptr = unsafe { ffi::ibv_alloc_pd(ctx.ptr.as_ptr()) };
        let ptr = NonNull::new(ptr).ok_or_else(|| RdmaError::last_os("ibv_alloc_pd"))?;
        Ok(Arc::new(Pd {
            ptr,
            ctx: ctx.clone(),
        }))
    }

    /// The context the domain belongs to.
    pub(crate) fn context(&self) -> &Arc<Context> {
        &self.ctx
    }
}

impl Drop for Pd {
    fn drop(&mut self) {
        // SAFETY: every MR, QP and AH of this PD holds an `Arc<Pd>` and is gone.
        unsafe { ffi::ibv_dealloc_pd(self.ptr.as_ptr()) };
    }
}

/// The pool's whole region registered as one memory region. Holds a pool handle, so the region
/// outlives the registration.
#[derive(Debug)]
pub(crate) struct Mr {
    ptr: NonNull<ffi::ibv_mr>,
    pool: Pool,
    pd: Arc<Pd>,
}

// SAFETY: a verbs object used only through thread-safe verbs; `lkey` is read-only after
// registration.
unsafe impl Send for Mr {}
// SAFETY: as above.
unsafe impl Sync for Mr {}

impl Mr {
    /// Registers `pool`'s region for local access (what UD sends and receives need).
    pub(crate) fn register(pd: &Arc<Pd>, pool: &Pool) -> Result<Arc<Mr>, RdmaError> {
        // SAFETY: the region is `region_len` bytes at `region_base`, allocated and kept alive
        // by the pool handle stored in the returned `Mr`, which deregisters before dropping it.
        let ptr = unsafe {
            ffi::cyclone_ibv_reg_mr(
                pd.ptr.as_ptr(),
                pool.region_base().as_ptr().cast(),
                pool.region_len(),
                ffi::IBV_ACCESS_LOCAL_WRITE as i32,
            )
        };
        let ptr = NonNull::new(ptr).ok_or_else(|| RdmaError::last_os("ibv_reg_mr"))?;
        Ok(Arc::new(Mr {
            ptr,
            pool: pool.clone(),
            pd: pd.clone(),
        }))
    }

    /// The local key that work requests name the region with.
    pub(crate) fn lkey(&self) -> u32 {
        // SAFETY: the MR is alive; `lkey` is written once by `ibv_reg_mr`.
        unsafe { self.ptr.as_ref() }.lkey
    }

    /// The registered pool.
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The protection domain.
    pub(crate) fn pd(&self) -> &Arc<Pd> {
        &self.pd
    }
}

impl Drop for Mr {
    fn drop(&mut self) {
        // SAFETY: every QP that could name this MR holds an `Arc<Mr>` and is destroyed, so the
        // device no longer touches the region; the pool handle is dropped after this.
        unsafe { ffi::ibv_dereg_mr(self.ptr.as_ptr()) };
    }
}

/// A completion queue, destroyed on drop.
#[derive(Debug)]
pub(crate) struct Cq {
    pub(super) ptr: NonNull<ffi::ibv_cq>,
    _ctx: Arc<Context>,
}

// SAFETY: a verbs object used only through thread-safe verbs.
unsafe impl Send for Cq {}

impl Cq {
    /// A completion queue of at least `entries` entries, without a completion channel (polled).
    pub(crate) fn new(ctx: &Arc<Context>, entries: u32) -> Result<Cq, RdmaError> {
        let cqe = i32::try_from(entries).unwrap_or(i32::MAX);
        // SAFETY: a live context; no channel, no context pointer, vector 0.
        let ptr = unsafe {
            ffi::ibv_create_cq(ctx.ptr.as_ptr(), cqe, ptr::null_mut(), ptr::null_mut(), 0)
        };
        let ptr = NonNull::new(ptr).ok_or_else(|| RdmaError::last_os("ibv_create_cq"))?;
        Ok(Cq {
            ptr,
            _ctx: ctx.clone(),
        })
    }
}

impl Drop for Cq {
    fn drop(&mut self) {
        // SAFETY: the QP using this CQ is destroyed first (`UdQp` drops its QP before its CQs).
        unsafe { ffi::ibv_destroy_cq(self.ptr.as_ptr()) };
    }
}

/// An address handle: the route to one peer, destroyed on drop.
#[derive(Debug)]
pub(crate) struct Ah {
    pub(super) ptr: NonNull<ffi::ibv_ah>,
    _pd: Arc<Pd>,
}

// SAFETY: a verbs object used only through thread-safe verbs.
unsafe impl Send for Ah {}

impl Ah {
    /// The route from `port`/`sgid_index` to `peer`.
    pub(crate) fn new(
        pd: &Arc<Pd>,
        port: u8,
        sgid_index: u8,
        peer: &EndpointAddr,
    ) -> Result<Ah, RdmaError> {
        let mut attr = ffi::ibv_ah_attr {
            dlid: peer.lid,
            sl: 0,
            src_path_bits: 0,
            port_num: port,
            ..Default::default()
        };
        if peer.gid != [0; 16] {
            attr.is_global = 1;
            attr.grh.dgid.raw = peer.gid;
            attr.grh.sgid_index = sgid_index;
            attr.grh.hop_limit = 64;
        }
        // SAFETY: a live PD and an initialised attribute struct.
        let ptr = unsafe { ffi::ibv_create_ah(pd.ptr.as_ptr(), &mut attr) };
        let ptr = NonNull::new(ptr).ok_or_else(|| RdmaError::last_os("ibv_create_ah"))?;
        Ok(Ah {
            ptr,
            _pd: pd.clone(),
        })
    }
}

impl Drop for Ah {
    fn drop(&mut self) {
        // SAFETY: sends naming this AH have completed or their QP is destroyed (`UdQp` holds
        // its AH and destroys the QP first).
        unsafe { ffi::ibv_destroy_ah(self.ptr.as_ptr()) };
    }
}

/// Access to the raw pointers for the queue-pair module.
impl Pd {
    pub(super) fn raw(&self) -> *mut ffi::ibv_pd {
        self.ptr.as_ptr()
    }
}
