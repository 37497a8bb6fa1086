//! A packet capture around any queue: every frame received, and every frame the device took
//! for transmission, written to a pcap file.
//!
//! What lives here: [`PcapCapture`], which wraps a [`Queue`] and is a `Queue` itself, its
//! counters [`CaptureStats`] and its error [`CaptureError`]. It writes with `pcap-file`'s
//! [`PcapWriter`] (link type Ethernet, microsecond or nanosecond timestamps) and takes times from
//! the [`Clock`] it is given, read once per burst. No `unsafe`.
//!
//! The packet path never fails because of the capture: a write error is counted and remembered
//! (the first one, with its cause), and writing stops there; frames keep flowing.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};

use crate::port::{Queue, QueueStats, RxQueue, TxQueue};
use crate::time::{Clock, Timestamp};
use crate::{PacketBuf, Pool};

/// The snapshot length written in the file header: frames longer than this are truncated.
pub const SNAPLEN: u32 = 65535;

/// Counters of a capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Frames written.
    pub written: u64,
    /// Frames not written because writing had stopped after an error.
    pub skipped: u64,
    /// Write and flush errors.
    pub errors: u64,
}

/// Why a capture could not write.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file header could not be written.
    #[error("could not write the pcap file header")]
    Header(#[source] PcapError),
    /// A frame could not be written; writing stopped there.
    #[error("could not write frame {frame} of the capture; writing stopped")]
    Write {
        /// How many frames had been written before.
        frame: u64,
        /// The cause.
        #[source]
        source: PcapError,
    },
    /// The writer could not be flushed.
    #[error("could not flush the capture")]
    Flush(#[source] std::io::Error),
}

/// The destination, reachable both by the [`PcapWriter`] that owns one handle and by the
/// capture, which flushes it and takes it back: `pcap-file` 2's writer offers no `get_mut`.
/// The mutex is never contended: only the capture's thread uses either handle.
struct Sink<W>(Arc<Mutex<W>>);

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

/// The writing half of a capture, apart from the queue so both can be borrowed at once.
struct Recorder<W: Write> {
    /// `None` once writing stopped after an error.
    writer: Option<PcapWriter<Sink<W>>>,
    sink: Arc<Mutex<W>>,
    error: Option<CaptureError>,
    stats: CaptureStats,
}

impl<W: Write> Recorder<W> {
    fn record(&mut self, at: Timestamp, frame: &[u8]) {
        let Some(writer) = self.writer.as_mut() else {
            self.stats.skipped += 1;
            return;
        };
        let orig_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let captured = &frame[..frame.len().min(SNAPLEN as usize)];
        let packet = PcapPacket::new(Duration::from_nanos(at.as_nanos()), orig_len, captured);
        match writer.write_packet(&packet) {
            Ok(_) => self.stats.written += 1,
            Err(source) => {
                self.stats.errors += 1;
                self.stats.skipped += 1;
                self.writer = None;
                if self.error.is_none() {
                    self.error = Some(CaptureError::Write {
                        frame: self.stats.written,
                        source,
                    });
                }
            }
        }
    }
}

/// A queue wrapper that writes the frames going through it to a pcap file.
pub struct PcapCapture<Q: Queue, W: Write> {
    inner: Q,
    recorder: Recorder<W>,
    clock: Arc<dyn Clock + Send + Sync>,
    resolution: TsResolution,
    /// The bytes of a transmit burst, copied before the device takes (and frees) the buffers.
    tx_bytes: Vec<u8>,
    tx_lens: Vec<usize>,
}

impl<Q: Queue, W: Write> PcapCapture<Q, W> {
    /// Wraps `inner`, writing the pcap file header to `writer` now. `resolution` is the
    /// timestamp resolution of the file; times come from `clock` (nanoseconds since its epoch
    /// become the time since 1970 in the file).
    pub fn new(
        inner: Q,
        writer: W,
        clock: Arc<dyn Clock + Send + Sync>,
        resolution: TsResolution,
    ) -> Result<Self, CaptureError> {
        let sink = Arc::new(Mutex::new(writer));
        let header = PcapHeader {
            snaplen: SNAPLEN,
            datalink: DataLink::ETHERNET,
            ts_resolution: resolution,
            endianness: Endianness::native(),
            ..PcapHeader::default()
        };
        let writer = PcapWriter::with_header(Sink(Arc::clone(&sink)), header)
            .map_err(CaptureError::Header)?;
        Ok(PcapCapture {
            inner,
            recorder: Recorder {
                writer: Some(writer),
                sink,
                error: None,
                stats: CaptureStats::default(),
            },
            clock,
            resolution,
            tx_bytes: Vec::new(),
            tx_lens: Vec::new(),
        })
    }

    /// The wrapped queue.
    pub fn inner(&self) -> &Q {
        &self.inner
    }

    /// The wrapped queue, mutably (frames sent or received through it are not captured).
    pub fn inner_mut(&mut self) -> &mut Q {
        &mut self.inner
    }

    /// The timestamp resolution of the file.
    pub fn resolution(&self) -> TsResolution {
        self.resolution
    }

    /// The capture's counters.
    pub fn capture_stats(&self) -> CaptureStats {
        self.recorder.stats
    }

    /// The first error met, if any. Writing stops after a write error.
    pub fn error(&self) -> Option<&CaptureError> {
        self.recorder.error.as_ref()
    }

    /// Whether frames are still being written (no write error so far).
    pub fn is_writing(&self) -> bool {
        self.recorder.writer.is_some()
    }

    /// Flushes the writer. An error is also counted and remembered if it is the first.
    pub fn flush(&mut self) -> Result<(), CaptureError> {
        let result = self
            .recorder
            .sink
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush();
        result.map_err(|e| {
            self.recorder.stats.errors += 1;
            // `io::Error` is not `Clone`: remember a copy with the same kind and message.
            if self.recorder.error.is_none() {
                self.recorder.error = Some(CaptureError::Flush(std::io::Error::new(
                    e.kind(),
                    e.to_string(),
                )));
            }
            CaptureError::Flush(e)
        })
    }

    /// Unwraps the queue and the writer (not flushed: flush it, or call [`PcapCapture::flush`]
    /// first).
    pub fn into_parts(self) -> (Q, W) {
        let PcapCapture {
            inner, recorder, ..
        } = self;
        let Recorder { writer, sink, .. } = recorder;
        // The pcap writer holds the only other handle on the sink.
        drop(writer);
        let sink = match Arc::try_unwrap(sink) {
            Ok(sink) => sink,
            Err(_) => unreachable!("the capture's pcap writer held the only other sink handle"),
        };
        (inner, sink.into_inner().unwrap_or_else(|e| e.into_inner()))
    }
}

impl<Q: Queue, W: Write> RxQueue for PcapCapture<Q, W> {
    fn rx_burst(&mut self, out: &mut Vec<PacketBuf>, max: usize) -> usize {
        let start = out.len();
        let n = self.inner.rx_burst(out, max);
        if n > 0 {
            let now = self.clock.now();
            for buf in out.get(start..).unwrap_or_default() {
                self.recorder.record(now, buf.data());
            }
        }
        n
    }
}

impl<Q: Queue, W: Write> TxQueue for PcapCapture<Q, W> {
    /// Offers the burst to the wrapped queue and writes the frames it took (the front of the
    /// burst).
    fn tx_burst(&mut self, bufs: &mut Vec<PacketBuf>) -> usize {
        if bufs.is_empty() {
            return self.inner.tx_burst(bufs);
        }
        self.tx_bytes.clear();
        self.tx_lens.clear();
        for buf in bufs.iter() {
            self.tx_bytes.extend_from_slice(buf.data());
            self.tx_lens.push(buf.len());
        }
        let now = self.clock.now();
        let taken = self.inner.tx_burst(bufs);
        let mut offset = 0;
        for &len in self.tx_lens.iter().take(taken) {
            let frame = self.tx_bytes.get(offset..offset + len).unwrap_or_default();
            self.recorder.record(now, frame);
            offset += len;
        }
        taken
    }

    fn pool(&self) -> &Pool {
        self.inner.pool()
    }
}

impl<Q: Queue, W: Write> Queue for PcapCapture<Q, W> {
    fn id(&self) -> u16 {
        self.inner.id()
    }

    fn stats(&self) -> QueueStats {
        self.inner.stats()
    }
}

impl<Q: Queue, W: Write> fmt::Debug for PcapCapture<Q, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PcapCapture")
            .field("queue", &self.inner.id())
            .field("resolution", &self.resolution)
            .field("stats", &self.recorder.stats)
            .field("error", &self.recorder.error)
            .finish_non_exhaustive()
    }
}
