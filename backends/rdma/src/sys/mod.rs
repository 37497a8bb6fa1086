//! The only module of this crate that may use `unsafe`: every call into libibverbs.
//!
//! - [`device`]: the device list, the opened device ([`Context`]), its port and GID table, the
//!   protection domain ([`Pd`]), the pool registered as one memory region ([`Mr`]), completion
//!   queues ([`Cq`]) and address handles ([`Ah`]). Each is an RAII owner that destroys its
//!   verbs object on drop and holds an `Arc` of the object it was made from, so the kernel
//!   objects are always destroyed children first.
//! - [`ud`]: the UD queue pair ([`UdQp`]) with its data path: posting receives and sends
//!   in bursts and polling their completions.
//!
//! Ownership rule every `// SAFETY:` comment of the data path leans on (the pool's rule (e) in
//! `cyclone-pmd`'s `raw` module): a frame index is *lent to the device* from the moment its
//! work request is posted until its completion is polled, and while lent it is recorded here —
//! receive frames in `UdQp::rx_slots`, send frames in `UdQp::tx_ring` — and nowhere else. Only
//! this module turns indices back into buffers (`PacketBuf::from_raw`) or returns them to the
//! pool (`Pool::free_indices`), and each index is taken back exactly once.
//!
//! libibverbs is thread-safe: verbs objects may be used from any thread, which is what the
//! `Send`/`Sync` impls below rely on; each queue pair is still driven by one thread at a time
//! (`&mut self` on the data path).

pub(crate) mod device;
pub(crate) mod ud;

pub(crate) use device::{device_names, Ah, Context, Mr, Pd, PortInfo};
pub(crate) use ud::UdQp;
