//! [`MbufPool`]: a Cyclone [`Pool`] whose frames are DPDK mbufs (see the crate doc for the
//! layout). Ports receive into it and transmit from it without copying.

use std::sync::Arc;

use cyclone_pmd::{Pool, PoolConfig};

use crate::eal::Eal;
use crate::error::{DpdkError, Result};
use crate::sys;

/// Bytes at the start of every frame that belong to DPDK: the mempool object header, the
/// `rte_mbuf` and the gap that staggers mbufs over cache sets (384 for 2048-byte frames, 1088
/// for 4096). A buffer's data window never reaches into them.
pub const fn reserved(frame_size: u32) -> u32 {
    sys::FrameLayout::new(frame_size).reserved as u32
}

/// Offset of a frame's data when DPDK or Cyclone fills a fresh buffer: the reserved area plus
/// DPDK's `RTE_PKTMBUF_HEADROOM` (128): 512 for 2048-byte frames.
pub const fn data_offset(frame_size: u32) -> u32 {
    reserved(frame_size) + sys::MBUF_HEADROOM as u32
}

/// Offset of frame `index`'s mbuf from the frame's start (64 plus its colour's step).
pub const fn mbuf_offset(frame_size: u32, index: u32) -> usize {
    sys::FrameLayout::new(frame_size).mbuf_offset(index)
}

/// Default size of DPDK's per-lcore mempool cache ([`MbufPoolConfig::dpdk_cache`]): 256,
/// as in DPDK's own examples.
pub const DEFAULT_DPDK_CACHE: u32 = 256;

/// Size of an [`MbufPool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MbufPoolConfig {
    /// Number of frames (= mbufs); rounded up to a whole number of 4 KiB pages of frames.
    pub frames: u32,
    /// 2048 or 4096.
    pub frame_size: u32,
    /// Size of DPDK's per-lcore mempool cache in front of the Cyclone pool
    /// ([`DEFAULT_DPDK_CACHE`] by default). Drivers that free one mbuf at a time (`net_null`,
    /// most software PMDs) put it in DPDK's inline cache, which gives frames back to the
    /// Cyclone pool in bulk. Frames in those caches count as in use, like those in Cyclone's
    /// own per-thread caches: [`MbufPool::flush_caches`] gives the calling thread's back.
    /// Only EAL lcores have such a cache; other threads go straight to the Cyclone pool. 0: no
    /// cache at all, every get and put goes to the Cyclone pool (slower: see the README).
    pub dpdk_cache: u32,
}

impl Default for MbufPoolConfig {
    fn default() -> Self {
        MbufPoolConfig {
            frames: 8192,
            frame_size: 2048,
            dpdk_cache: DEFAULT_DPDK_CACHE,
        }
    }
}

/// One buffer pool seen from both sides: a Cyclone [`Pool`] (what the stack allocates from and
/// what `PacketBuf`s return to) and a DPDK mempool over the same frames (what drivers allocate
/// from and free to). Clones share the pool.
#[derive(Debug, Clone)]
pub struct MbufPool {
    pool: Pool,
    mempool: Arc<sys::Mempool>,
}

impl MbufPool {
    /// Creates the pool and its mempool (named `cyc_<pool id>`).
    pub fn new(_eal: &Eal, config: MbufPoolConfig) -> Result<MbufPool> {
        // The mempool is populated page by page: make the region a whole number of pages.
        let per_page = (4096 / config.frame_size.max(1)).max(1);
        let frames = config.frames.div_ceil(per_page) * per_page;
        let pool = Pool::new(PoolConfig {
            frames,
            frame_size: config.frame_size,
            headroom: data_offset(config.frame_size),
            reserved: reserved(config.frame_size),
        })?;
        let name = format!("cyc_{}", pool.id());
        let mempool = sys::Mempool::new(&name, &pool, config.dpdk_cache)
            .map_err(|e| DpdkError::call(e.call, e.errno))?;
        Ok(MbufPool {
            pool,
            mempool: Arc::new(mempool),
        })
    }

    /// The Cyclone side of the pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Addresses of the mbufs, in DPDK's object order: object `i` is at
    /// `region_base + i * frame_size + mbuf_offset(frame_size, i)`.
    pub fn mbuf_addresses(&self) -> Vec<usize> {
        self.mempool.object_addresses()
    }

    /// Gives the frames cached by the calling thread back to the pool's shared free list: those
    /// in DPDK's mempool cache of the calling lcore (`rte_mempool_cache_flush`; none on a thread
    /// that is not an EAL lcore), then those in Cyclone's thread cache. After it, and with no
    /// frame held anywhere else, `pool().available() == pool().capacity()`.
    pub fn flush_caches(&self) {
        self.mempool.flush_cache();
        self.pool.flush_thread_cache();
    }

    /// Frames in the calling lcore's DPDK mempool cache (0 on a thread that is not an lcore).
    pub fn dpdk_cached(&self) -> u32 {
        self.mempool.cache_count()
    }

    /// What DPDK's `rte_mempool_avail_count` says (the pool's shared free list).
    pub fn dpdk_avail_count(&self) -> u32 {
        self.mempool.avail_count()
    }

    pub(crate) fn mempool(&self) -> &sys::Mempool {
        &self.mempool
    }
}
