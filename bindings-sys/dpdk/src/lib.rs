//! # cyclone-dpdk-sys: raw bindings to the system DPDK
//!
//! What lives here: `bindgen` output over the part of DPDK 22.11 that `cyclone-dpdk` uses (EAL,
//! ethdev, mbuf, mempool; see the allowlist in `build.rs`) and the prototypes of a small C shim
//! (`shim.c`, functions named `cyclone_*`) that re-exports DPDK's `static inline` fast-path
//! functions: `rte_eth_rx_burst`, `rte_eth_tx_burst`, `rte_pktmbuf_alloc(_bulk)`,
//! `rte_pktmbuf_free`, `rte_pktmbuf_mtod`, `rte_lcore_id`, `rte_mempool_cache_flush` (of the
//! calling lcore's cache, or of every lcore's), a cache fill count, and a reader of the
//! thread-local `rte_errno`.
//!
//! Bindings only, no logic: the safe layer is `cyclone-dpdk`. DPDK is linked the way
//! `pkg-config --libs libdpdk` says (shared libraries on Debian); the poll-mode drivers
//! (`net_null`, `net_ring`, `net_af_packet`, `net_af_xdp`, ...) are plugins that the EAL loads at
//! start from its default plugin directory ([`PMD_DIR`] on Debian 12) or from `-d <dir>`.

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

/// Where Debian 12's DPDK 22.11 packages put the poll-mode driver plugins.
pub const PMD_DIR: &str = "/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0";
