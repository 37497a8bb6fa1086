//! # cyclone-verbs-sys: raw bindings to libibverbs (rdma-core)
//!
//! What lives here: `bindgen` output over the part of libibverbs that `cyclone-rdma` uses
//! (devices, contexts, protection domains, memory regions, completion queues, queue pairs,
//! address handles and the work-request and completion structures; see the allowlist in
//! `build.rs`), plus the prototypes of a small C shim (`shim.c`, functions named
//! `cyclone_ibv_*`).
//!
//! ## Why a C shim and not bindgen's `wrap_static_fns`
//! The data-path verbs `ibv_post_send`, `ibv_post_recv` and `ibv_poll_cq` (and
//! `ibv_req_notify_cq`, `ibv_query_gid_ex`, `ibv_query_gid_table`) are `static inline` in `verbs.h`: they call the
//! provider through `context->ops`, so libibverbs exports no symbol to link against. Some
//! control-path names are macros over differently named functions (`ibv_query_port` →
//! `___ibv_query_port`, `ibv_reg_mr` → `__ibv_reg_mr`, `ibv_get_device_list` →
//! `__ibv_get_device_list`). bindgen's `wrap_static_fns` handles the first kind but is still
//! an experimental bindgen feature (a cargo feature on the build dependency and generated C
//! whose shape changes between bindgen releases) and does nothing for macros. A ten-function
//! hand-written `shim.c` covers both kinds, is readable in one screen, and compiles with `cc`
//! against the same headers; the cost of an extra call per *burst* (not per packet) is noise.
//!
//! Bindings only, no logic: the safe layer is `cyclone-rdma`. libibverbs is linked as
//! `pkg-config --libs libibverbs` says (the shared library on Debian); the device providers
//! (`librxe`, `libmlx5`, ...) are plugins it loads at run time from `ibverbs-providers`.

#![no_std]
#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    missing_debug_implementations,
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block,
    unsafe_op_in_unsafe_fn,
    rustdoc::all
)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

/// Bytes of the Global Route Header that a UD receive buffer starts with: the device writes
/// it (or 40 bytes of undefined data) in front of every received datagram.
pub const GRH_LEN: usize = 40;
