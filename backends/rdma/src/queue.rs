//! [`RdmaQueue`]: the queue of an [`RdmaPort`](crate::RdmaPort), implementing the burst
//! receive and transmit of [`cyclone_pmd::Queue`] over the UD queue pair.
//!
//! - `rx_burst`: reap send completions, poll up to `max` receive completions (each one a
//!   frame, already at the buffer's data offset), then post receives for the slots they freed
//!   (one `ibv_post_recv` per 64).
//! - `tx_burst`: reap send completions, then post the front of the Vec as one chained
//!   `ibv_post_send` per 64 frames, asking for a completion on every `signal_every`-th send and
//!   on the last of each chain (so a quiet queue still gets its frames back). Frames too large
//!   for a datagram are dropped and counted; frames of another pool are copied into ours.
//!
//! Errors of the data-path verbs never panic and never block: they are counted in
//! [`RdmaStats::verb_errors`] and the latest is kept for [`RdmaQueue::take_error`].

use cyclone_pmd::{PacketBuf, Pool, Queue, QueueStats, RxQueue, TxQueue};

use crate::error::RdmaError;
use crate::sys::ud::MAX_BURST;
use crate::sys::UdQp;

/// Counters of the RDMA queue beyond [`QueueStats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RdmaStats {
    /// Receive completions with an error status or a bad length (frame returned to the pool).
    pub rx_bad_completions: u64,
    /// Receive slots left unposted because the pool was empty (the device drops datagrams
    /// that find the receive queue empty, without telling us how many).
    pub rx_refill_short: u64,
    /// Send completions with an error status.
    pub tx_error_completions: u64,
    /// Frames larger than a datagram, dropped by `tx_burst`.
    pub tx_dropped_oversize: u64,
    /// Frames of another pool copied into this one before sending.
    pub tx_copied: u64,
    /// Data-path verbs that failed (see [`RdmaQueue::take_error`]).
    pub verb_errors: u64,
}

/// The one queue of an [`RdmaPort`](crate::RdmaPort).
#[derive(Debug)]
pub struct RdmaQueue {
    qp: UdQp,
    stats: QueueStats,
    rdma: RdmaStats,
    max_frame: usize,
    signal_every: u32,
    since_signal: u32,
    last_error: Option<RdmaError>,
}

impl RdmaQueue {
    pub(crate) fn new(qp: UdQp, max_frame: usize, signal_every: u32) -> RdmaQueue {
        RdmaQueue {
            qp,
            stats: QueueStats::default(),
            rdma: RdmaStats::default(),
            max_frame,
            signal_every,
            since_signal: 0,
            last_error: None,
        }
    }

    /// RDMA-specific counters.
    pub fn rdma_stats(&self) -> RdmaStats {
        self.rdma
    }

    /// Receives posted to the device now (frames lent to it).
    pub fn rx_posted(&self) -> usize {
        self.qp.rx_posted()
    }

    /// Sends posted and not reaped yet (frames lent to the device).
    pub fn tx_in_flight(&self) -> usize {
        self.qp.tx_in_flight()
    }

    /// The queue pair number (what the peer sends to).
    pub fn qpn(&self) -> u32 {
        self.qp.qpn()
    }

    /// The latest data-path verb error, if any since the last call.
    pub fn take_error(&mut self) -> Option<RdmaError> {
        self.last_error.take()
    }

    /// Returns the frames of completed sends to the pool (`rx_burst` and `tx_burst` do it too).
    pub fn reap(&mut self) {
        match self.qp.poll_tx() {
            Ok(poll) => self.rdma.tx_error_completions += poll.errors as u64,
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: RdmaError) {
        self.rdma.verb_errors += 1;
        self.last_error = Some(e);
    }

    fn refill(&mut self) {
        match self.qp.refill_rx() {
            Ok((_, short)) => self.rdma.rx_refill_short += short as u64,
            Err(e) => self.fail(e),
        }
    }
}

impl RxQueue for RdmaQueue {
    fn rx_burst(&mut self, out: &mut Vec<PacketBuf>, max: usize) -> usize {
        self.reap();
        let start = out.len();
        match self.qp.poll_rx(out, max) {
            Ok(poll) => self.rdma.rx_bad_completions += poll.bad as u64,
            Err(e) => self.fail(e),
        }
        for buf in &out[start..] {
            self.stats.count_rx(buf.len());
        }
        self.refill();
        out.len() - start
    }
}

impl TxQueue for RdmaQueue {
    fn tx_burst(&mut self, bufs: &mut Vec<PacketBuf>) -> usize {
        self.reap();
        let mut taken = 0;
        while !bufs.is_empty() && self.qp.tx_room() > 0 {
            let front = &bufs[0];
            if front.len() > self.max_frame {
                drop(bufs.remove(0));
                self.rdma.tx_dropped_oversize += 1;
                taken += 1;
                continue;
            }
            if front.pool_id() != self.qp.pool().id() {
                let Some(mut copy) = self.qp.pool().alloc() else {
                    break; // our pool is empty: the frame stays with the caller
                };
                if copy.extend_from_slice(front.data()).is_err() {
                    drop(bufs.remove(0));
                    self.rdma.tx_dropped_oversize += 1;
                    taken += 1;
                    continue;
                }
                bufs[0] = copy;
                self.rdma.tx_copied += 1;
            }
            // The run of sendable frames at the front.
            let limit = bufs.len().min(self.qp.tx_room()).min(MAX_BURST);
            let pool_id = self.qp.pool().id();
            let n = bufs[..limit]
                .iter()
                .position(|b| b.len() > self.max_frame || b.pool_id() != pool_id)
                .unwrap_or(limit);
            let mut lens = [0usize; MAX_BURST];
            for (len, buf) in lens.iter_mut().zip(&bufs[..n]) {
                *len = buf.len();
            }
            let every = self.signal_every;
            let mut since = self.since_signal;
            let result = self.qp.post_tx(bufs, n, |k| {
                since += 1;
                if since >= every || k + 1 == n {
                    since = 0;
                    true
                } else {
                    false
                }
            });
            self.since_signal = since;
            let posted = match result {
                Ok(posted) => posted,
                Err(e) => {
                    self.fail(e);
                    0
                }
            };
            for &len in &lens[..posted] {
                self.stats.count_tx(len);
            }
            taken += posted;
            if posted < n {
                break;
            }
        }
        self.stats.tx_full += bufs.len() as u64;
        taken
    }

    fn pool(&self) -> &Pool {
        self.qp.pool()
    }
}

impl Queue for RdmaQueue {
    fn id(&self) -> u16 {
        0
    }

    fn stats(&self) -> QueueStats {
        self.stats
    }
}
