//! A fault injector around any queue: drops, duplicates, reorders and corrupts frames with
//! configured probabilities, deterministically from a seed.
//!
//! What lives here: [`FaultInjector`], which wraps a [`Queue`] and is a `Queue` itself, its
//! configuration [`FaultConfig`] (with [`Direction`] and the validation error
//! [`FaultConfigError`]) and its counters [`FaultStats`]. It uses only the driver contract and
//! the pool; no `unsafe`.
//!
//! Each direction (receive, transmit) has its own random generator, seeded from
//! [`FaultConfig::seed`], so a failing run replays exactly, and faults on one direction do not
//! depend on traffic in the other. The `i`-th frame of a direction always draws the same random
//! numbers, whether or not its faults fire, so changing one probability does not reshuffle the
//! others' decisions.
//!
//! For each frame, in order: **drop** (the buffer goes back to its pool), **corrupt** (one
//! random bit of one random byte flips), **duplicate** (a copy in a buffer from the wrapped
//! queue's pool follows the frame; if the pool is empty, no copy and it is counted), and
//! **reorder** (the frame is held back and released after 1 to `reorder_depth` later frames;
//! at most `reorder_depth` frames are held). Held frames are never lost: they also go out on
//! the first burst call that brings no new frame (an idle poll on receive, an empty burst on
//! transmit), or on [`FaultInjector::release_held`].

use std::collections::VecDeque;
use std::fmt;

use crate::error::PortError;
use crate::port::{Queue, QueueStats, RxQueue, TxQueue};
use crate::{PacketBuf, Pool};

/// Which traffic the faults apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Frames received (`rx_burst`).
    Rx,
    /// Frames transmitted (`tx_burst`).
    Tx,
    /// Both.
    #[default]
    Both,
}

impl Direction {
    /// Whether received frames are affected.
    pub fn rx(self) -> bool {
        matches!(self, Direction::Rx | Direction::Both)
    }

    /// Whether transmitted frames are affected.
    pub fn tx(self) -> bool {
        matches!(self, Direction::Tx | Direction::Both)
    }
}

/// Configuration of a [`FaultInjector`]. Probabilities are per frame, in `0.0..=1.0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultConfig {
    /// Probability that a frame is dropped.
    pub drop: f64,
    /// Probability that a frame is followed by a copy of itself.
    pub duplicate: f64,
    /// Probability that a frame is held back and overtaken by later frames.
    pub reorder: f64,
    /// Probability that one bit of a frame is flipped.
    pub corrupt: f64,
    /// Seed of the random decisions: the same seed and traffic give the same faults.
    pub seed: u64,
    /// Which traffic the faults apply to.
    pub direction: Direction,
    /// Most later frames that overtake a held frame, and most frames held at once per
    /// direction. At least 1 when `reorder > 0`.
    pub reorder_depth: usize,
}

impl Default for FaultConfig {
    /// No faults, seed 0, both directions, reorder depth 3.
    fn default() -> Self {
        FaultConfig {
            drop: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            corrupt: 0.0,
            seed: 0,
            direction: Direction::Both,
            reorder_depth: 3,
        }
    }
}

impl FaultConfig {
    /// Checks the configuration: each probability a number in `0..=1`, and a reorder depth
    /// when reordering is on.
    pub fn validate(&self) -> Result<(), FaultConfigError> {
        for (name, value) in [
            ("drop", self.drop),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
            ("corrupt", self.corrupt),
        ] {
            // `contains` is false for NaN.
            if !(0.0..=1.0).contains(&value) {
                return Err(FaultConfigError::Probability { name, value });
            }
        }
        if self.reorder > 0.0 && self.reorder_depth == 0 {
            return Err(FaultConfigError::ReorderDepth);
        }
        Ok(())
    }
}

/// A [`FaultConfig`] that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum FaultConfigError {
    /// A probability is not a number in `0..=1`.
    #[error("fault probability `{name}` is {value}: it must be a number from 0 to 1")]
    Probability {
        /// Which probability.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// Reordering is on but no frame may overtake a held one.
    #[error("`reorder_depth` must be at least 1 when `reorder` is above 0")]
    ReorderDepth,
}

impl From<FaultConfigError> for PortError {
    fn from(e: FaultConfigError) -> PortError {
        PortError::Config(e.to_string())
    }
}

/// Counters of the faults injected in one direction (or both, summed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Frames that went through the injector.
    pub frames: u64,
    /// Frames dropped.
    pub dropped: u64,
    /// Copies added.
    pub duplicated: u64,
    /// Copies not added because the pool had no buffer (or the copy did not fit one).
    pub duplicate_skipped: u64,
    /// Frames held back to be overtaken.
    pub reordered: u64,
    /// Frames with a bit flipped.
    pub corrupted: u64,
}

impl FaultStats {
    fn sum(self, o: FaultStats) -> FaultStats {
        FaultStats {
            frames: self.frames + o.frames,
            dropped: self.dropped + o.dropped,
            duplicated: self.duplicated + o.duplicated,
            duplicate_skipped: self.duplicate_skipped + o.duplicate_skipped,
            reordered: self.reordered + o.reordered,
            corrupted: self.corrupted + o.corrupted,
        }
    }
}

/// A frame held back, released after `after` more frames pass.
struct Held {
    buf: PacketBuf,
    after: usize,
}

/// The fault state of one direction.
struct Lane {
    rng: fastrand::Rng,
    /// Held frames, oldest first; at most `reorder_depth`.
    held: Vec<Held>,
    /// Frames that went through, waiting for the caller (receive) or the device (transmit).
    ready: VecDeque<PacketBuf>,
    stats: FaultStats,
}

impl Lane {
    fn new(seed: u64) -> Lane {
        Lane {
            rng: fastrand::Rng::with_seed(seed),
            held: Vec::new(),
            ready: VecDeque::new(),
            stats: FaultStats::default(),
        }
    }

    /// Runs one frame through the faults; what survives goes to `ready` (or `held`).
    fn process(&mut self, mut buf: PacketBuf, config: &FaultConfig, pool: &Pool) {
        self.stats.frames += 1;
        // One draw from the lane per frame seeds the frame's own decisions, so frame `i` sees
        // the same random numbers whatever the probabilities and whatever fired before.
        let mut rng = fastrand::Rng::with_seed(self.rng.u64(..));
        let drop = rng.f64() < config.drop;
        let corrupt = rng.f64() < config.corrupt;
        let duplicate = rng.f64() < config.duplicate;
        let reorder = rng.f64() < config.reorder;

        if drop {
            self.stats.dropped += 1;
            return;
        }
        if corrupt && !buf.is_empty() {
            let byte = rng.usize(..buf.len());
            let bit = rng.u8(..8);
            if let Some(b) = buf.data_mut().get_mut(byte) {
                *b ^= 1 << bit;
                self.stats.corrupted += 1;
            }
        }
        let copy = if duplicate {
            let copy = pool.alloc().and_then(|mut copy| {
                copy.extend_from_slice(buf.data()).ok()?;
                copy.offload = buf.offload;
                Some(copy)
            });
            match copy {
                Some(_) => self.stats.duplicated += 1,
                None => self.stats.duplicate_skipped += 1,
            }
            copy
        } else {
            None
        };
        if reorder && config.reorder_depth > 0 {
            if self.held.len() >= config.reorder_depth {
                // Full: the oldest held frame goes now, to keep the bound.
                let oldest = self.held.remove(0);
                self.ready.push_back(oldest.buf);
            }
            let after = 1 + rng.usize(..config.reorder_depth);
            self.held.push(Held { buf, after });
            self.stats.reordered += 1;
        } else {
            self.pass(buf);
        }
        if let Some(copy) = copy {
            self.pass(copy);
        }
    }

    /// Lets a frame through; held frames it was the last to overtake follow it.
    fn pass(&mut self, buf: PacketBuf) {
        self.ready.push_back(buf);
        let mut i = 0;
        while i < self.held.len() {
            self.held[i].after -= 1;
            if self.held[i].after == 0 {
                let held = self.held.remove(i);
                self.ready.push_back(held.buf);
            } else {
                i += 1;
            }
        }
    }

    /// Lets every held frame go, oldest first.
    fn release_held(&mut self) {
        self.ready.extend(self.held.drain(..).map(|h| h.buf));
    }
}

/// A queue wrapper that injects faults into the frames going through it.
pub struct FaultInjector<Q: Queue> {
    inner: Q,
    config: FaultConfig,
    rx: Lane,
    tx: Lane,
    /// Reused burst vector between this wrapper and the wrapped queue.
    scratch: Vec<PacketBuf>,
}

/// Added to the seed for the transmit direction, so both directions draw different sequences.
const TX_SEED_OFFSET: u64 = 0x9e37_79b9_7f4a_7c15;

impl<Q: Queue> FaultInjector<Q> {
    /// Wraps `inner`. Fails if the configuration does not validate.
    pub fn new(inner: Q, config: FaultConfig) -> Result<Self, FaultConfigError> {
        config.validate()?;
        Ok(FaultInjector {
            inner,
            config,
            rx: Lane::new(config.seed),
            tx: Lane::new(config.seed.wrapping_add(TX_SEED_OFFSET)),
            scratch: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// The wrapped queue.
    pub fn inner(&self) -> &Q {
        &self.inner
    }

    /// The wrapped queue, mutably (frames sent or received through it bypass the faults).
    pub fn inner_mut(&mut self) -> &mut Q {
        &mut self.inner
    }

    /// Unwraps the queue. Frames the injector still holds go back to their pool.
    pub fn into_inner(self) -> Q {
        self.inner
    }

    /// Faults injected into received frames.
    pub fn rx_fault_stats(&self) -> FaultStats {
        self.rx.stats
    }

    /// Faults injected into transmitted frames.
    pub fn tx_fault_stats(&self) -> FaultStats {
        self.tx.stats
    }

    /// Faults injected in both directions.
    pub fn fault_stats(&self) -> FaultStats {
        self.rx.stats.sum(self.tx.stats)
    }

    /// Frames the injector holds right now: held back for reordering, or processed and waiting
    /// for the caller (receive) or for room in the device (transmit).
    pub fn pending(&self) -> usize {
        self.rx.held.len() + self.rx.ready.len() + self.tx.held.len() + self.tx.ready.len()
    }

    /// Releases every frame held back for reordering: received ones are returned by the next
    /// `rx_burst`, transmitted ones are offered to the device now.
    pub fn release_held(&mut self) {
        self.rx.release_held();
        self.tx.release_held();
        self.flush_tx();
    }

    /// Offers the processed transmit frames to the device; what it does not take stays, in
    /// order.
    fn flush_tx(&mut self) {
        if self.tx.ready.is_empty() {
            return;
        }
        self.scratch.clear();
        self.scratch.extend(self.tx.ready.drain(..));
        self.inner.tx_burst(&mut self.scratch);
        for buf in self.scratch.drain(..).rev() {
            self.tx.ready.push_front(buf);
        }
    }
}

impl<Q: Queue> RxQueue for FaultInjector<Q> {
    /// Receives from the wrapped queue and returns what survives the faults. A poll may return
    /// 0 while frames are held back; the next poll that finds the wrapped queue idle releases
    /// them.
    fn rx_burst(&mut self, out: &mut Vec<PacketBuf>, max: usize) -> usize {
        if !self.config.direction.rx() {
            return self.inner.rx_burst(out, max);
        }
        if self.rx.ready.len() < max {
            let want = max - self.rx.ready.len();
            self.scratch.clear();
            if self.inner.rx_burst(&mut self.scratch, want) == 0 {
                // Idle: nothing more will overtake the held frames for now.
                self.rx.release_held();
            }
            let pool = self.inner.pool();
            for buf in self.scratch.drain(..) {
                self.rx.process(buf, &self.config, pool);
            }
        }
        let n = max.min(self.rx.ready.len());
        out.extend(self.rx.ready.drain(..n));
        n
    }
}

impl<Q: Queue> TxQueue for FaultInjector<Q> {
    /// Takes the whole burst unless frames of an earlier burst still wait for the device, in
    /// which case it takes nothing (the device is full). An empty burst releases held frames.
    fn tx_burst(&mut self, bufs: &mut Vec<PacketBuf>) -> usize {
        if !self.config.direction.tx() {
            return self.inner.tx_burst(bufs);
        }
        self.flush_tx();
        if !self.tx.ready.is_empty() {
            return 0;
        }
        let taken = bufs.len();
        if taken == 0 {
            self.tx.release_held();
        }
        let pool = self.inner.pool();
        for buf in bufs.drain(..) {
            self.tx.process(buf, &self.config, pool);
        }
        self.flush_tx();
        taken
    }

    fn pool(&self) -> &Pool {
        self.inner.pool()
    }
}

impl<Q: Queue> Queue for FaultInjector<Q> {
    fn id(&self) -> u16 {
        self.inner.id()
    }

    /// The wrapped queue's counters: frames dropped here count as received (on receive) and
    /// are not transmitted (on transmit); see [`FaultInjector::fault_stats`].
    fn stats(&self) -> QueueStats {
        self.inner.stats()
    }
}

impl<Q: Queue> fmt::Debug for FaultInjector<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultInjector")
            .field("queue", &self.inner.id())
            .field("config", &self.config)
            .field("rx", &self.rx.stats)
            .field("tx", &self.tx.stats)
            .field("pending", &self.pending())
            .finish_non_exhaustive()
    }
}
