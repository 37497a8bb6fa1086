//! The pcap capture: a known exchange over the memory link, read back with `pcap-file` and with
//! `tcpdump`; only frames the device took are written; write errors never reach the packet path.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cyclone_pmd::memory::{MemoryLink, MemoryLinkConfig, MemoryQueue};
use cyclone_pmd::pcap::{CaptureError, CaptureStats, PcapCapture};
use cyclone_pmd::{
    Clock, MacAddr, PacketBuf, Pool, PoolConfig, Port, Queue, QueueStats, RxQueue, Timestamp,
    TxQueue, VirtualClock,
};
use pcap_file::pcap::PcapReader;
use pcap_file::{DataLink, TsResolution};

const IP_A: [u8; 4] = [10, 0, 0, 1];
const IP_B: [u8; 4] = [10, 0, 0, 2];

/// A file in the temp dir, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str) -> TempFile {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("cyclone-pmd-{}-{tag}-{n}.pcap", std::process::id());
        TempFile(std::env::temp_dir().join(name))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn arp(op: u16, src: MacAddr, spa: [u8; 4], dst: MacAddr, tpa: [u8; 4]) -> Vec<u8> {
    let eth_dst = if op == 1 { MacAddr::BROADCAST } else { dst };
    let tha = if op == 1 { MacAddr::ZERO } else { dst };
    let mut f = Vec::new();
    f.extend_from_slice(&eth_dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&tha.0);
    f.extend_from_slice(&tpa);
    f
}

fn udp(
    src: MacAddr,
    dst: MacAddr,
    sip: [u8; 4],
    dip: [u8; 4],
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&sip);
    ip.extend_from_slice(&dip);
    let sum: u32 = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    let checksum = !((folded & 0xffff) + (folded >> 16)) as u16;
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

fn send<Q: Queue>(queue: &mut Q, frame: &[u8]) {
    let mut buf = queue.pool().alloc().expect("buffer");
    buf.extend_from_slice(frame).expect("fits");
    let mut bufs = vec![buf];
    assert_eq!(queue.tx_burst(&mut bufs), 1);
}

fn recv<Q: Queue>(queue: &mut Q) -> Vec<Vec<u8>> {
    let mut bufs = Vec::new();
    while queue.rx_burst(&mut bufs, 8) > 0 {}
    bufs.iter().map(|b| b.data().to_vec()).collect()
}

/// What the capture on port A should hold: (time, frame).
type Expected = Vec<(Timestamp, Vec<u8>)>;

/// Runs an ARP exchange and a UDP echo between ports A and B of a memory link with 1 ms of
/// latency, capturing A's queue into `writer`. Returns the capture and what it should hold.
fn exchange<W: Write>(
    writer: W,
    resolution: TsResolution,
) -> (PcapCapture<MemoryQueue, W>, Expected) {
    let clock = VirtualClock::new();
    // 2023-11-14 22:13:20.123456789 UTC, so tcpdump shows a plausible date.
    clock.advance(Duration::new(1_700_000_000, 123_456_789));
    let (mut a, mut b) = MemoryLink::pair(
        MemoryLinkConfig {
            latency: Duration::from_millis(1),
            ..MemoryLinkConfig::default()
        },
        Arc::new(clock.clone()),
    )
    .expect("link");
    let (mac_a, mac_b) = (a.mac(), b.mac());
    let qa = a.open_queue(0).expect("queue");
    let mut qb = b.open_queue(0).expect("queue");
    let mut cap = PcapCapture::new(qa, writer, a.clock(), resolution).expect("header written");
    let mut expected = Vec::new();
    let link = a.link();
    let step = |cap: &mut PcapCapture<MemoryQueue, W>, qb: &mut MemoryQueue| {
        let next = link.next_arrival().expect("a frame in flight");
        clock.advance_to(next);
        for f in recv(qb) {
            send(qb, &reply(&f, mac_a, mac_b));
        }
        recv(cap)
    };

    let request = arp(1, mac_a, IP_A, mac_b, IP_B);
    expected.push((clock.now(), request.clone()));
    send(&mut cap, &request);
    assert!(step(&mut cap, &mut qb).is_empty());
    let got = step(&mut cap, &mut qb);
    assert_eq!(got, vec![arp(2, mac_b, IP_B, mac_a, IP_A)]);
    expected.push((clock.now(), got[0].clone()));

    let ping = udp(mac_a, mac_b, IP_A, IP_B, 1000, 2000, b"hello");
    clock.advance(Duration::from_micros(1500));
    expected.push((clock.now(), ping.clone()));
    send(&mut cap, &ping);
    assert!(step(&mut cap, &mut qb).is_empty());
    let got = step(&mut cap, &mut qb);
    assert_eq!(
        got,
        vec![udp(mac_b, mac_a, IP_B, IP_A, 2000, 1000, b"hello")]
    );
    expected.push((clock.now(), got[0].clone()));
    (cap, expected)
}

/// B's side of the exchange: answer ARP requests, echo UDP with addresses and ports swapped.
fn reply(frame: &[u8], mac_a: MacAddr, mac_b: MacAddr) -> Vec<u8> {
    match u16::from_be_bytes([frame[12], frame[13]]) {
        0x0806 => arp(2, mac_b, IP_B, mac_a, IP_A),
        0x0800 => {
            let sport = u16::from_be_bytes([frame[34], frame[35]]);
            let dport = u16::from_be_bytes([frame[36], frame[37]]);
            udp(mac_b, mac_a, IP_B, IP_A, dport, sport, &frame[42..])
        }
        other => panic!("unexpected ethertype {other:#06x}"),
    }
}

/// Reads a capture back: (resolution, [(time, original length, bytes)]).
fn read_back(bytes: impl io::Read) -> (TsResolution, Vec<(Duration, u32, Vec<u8>)>) {
    let mut reader = PcapReader::new(bytes).expect("a pcap header");
    let header = reader.header();
    assert_eq!(header.datalink, DataLink::ETHERNET);
    let mut packets = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.expect("a well-formed packet");
        packets.push((packet.timestamp, packet.orig_len, packet.data.into_owned()));
    }
    (header.ts_resolution, packets)
}

#[test]
fn capture_of_an_exchange_reads_back_exactly() {
    let file = TempFile::new("exchange");
    let writer = BufWriter::new(File::create(file.path()).expect("create capture file"));
    let (mut cap, expected) = exchange(writer, TsResolution::NanoSecond);
    cap.flush().expect("flush");
    assert_eq!(
        cap.capture_stats(),
        CaptureStats {
            written: 4,
            ..CaptureStats::default()
        }
    );
    assert!(cap.error().is_none() && cap.is_writing());
    let stats: QueueStats = cap.stats();
    assert_eq!((stats.tx_packets, stats.rx_packets), (2, 2));
    let (_queue, writer) = cap.into_parts();
    drop(writer.into_inner().expect("flushed"));

    let (resolution, packets) = read_back(File::open(file.path()).expect("open capture"));
    assert_eq!(resolution, TsResolution::NanoSecond);
    assert_eq!(packets.len(), expected.len());
    for ((at, orig_len, data), (want_at, want)) in packets.iter().zip(&expected) {
        assert_eq!(*at, Duration::from_nanos(want_at.as_nanos()));
        assert_eq!(*orig_len as usize, want.len());
        assert_eq!(data, want);
    }

    tcpdump_lists_the_exchange(file.path());
}

/// `tcpdump -nn -e -r FILE` shows four frames with the expected ethertypes and addresses.
fn tcpdump_lists_the_exchange(path: &Path) {
    let Some(tcpdump) = ["/usr/bin/tcpdump", "/usr/sbin/tcpdump", "/sbin/tcpdump"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
    else {
        println!("skipping the tcpdump check: tcpdump is not installed (looked in /usr/bin, /usr/sbin, /sbin)");
        return;
    };
    let output = Command::new(tcpdump)
        .args(["-nn", "-e", "-r"])
        .arg(path)
        .output()
        .expect("run tcpdump");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "tcpdump failed: {stderr}");
    println!("tcpdump output:\n{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "tcpdump output:\n{stdout}");
    let expect = [
        [
            "02:cc:00:00:00:01 > ff:ff:ff:ff:ff:ff",
            "ethertype ARP (0x0806)",
            "Request who-has 10.0.0.2 tell 10.0.0.1",
        ],
        [
            "02:cc:00:00:00:02 > 02:cc:00:00:00:01",
            "ethertype ARP (0x0806)",
            "Reply 10.0.0.2 is-at 02:cc:00:00:00:02",
        ],
        [
            "02:cc:00:00:00:01 > 02:cc:00:00:00:02",
            "ethertype IPv4 (0x0800)",
            "10.0.0.1.1000 > 10.0.0.2.2000: UDP, length 5",
        ],
        [
            "02:cc:00:00:00:02 > 02:cc:00:00:00:01",
            "ethertype IPv4 (0x0800)",
            "10.0.0.2.2000 > 10.0.0.1.1000: UDP, length 5",
        ],
    ];
    for (line, parts) in lines.iter().zip(expect) {
        for part in parts {
            assert!(line.contains(part), "`{part}` not in tcpdump line `{line}`");
        }
    }
}

#[test]
fn microsecond_captures_round_timestamps_down() {
    let (cap, expected) = exchange(Vec::new(), TsResolution::MicroSecond);
    let (_queue, bytes) = cap.into_parts();
    let (resolution, packets) = read_back(&bytes[..]);
    assert_eq!(resolution, TsResolution::MicroSecond);
    assert_eq!(packets.len(), 4);
    for ((at, _, data), (want_at, want)) in packets.iter().zip(&expected) {
        assert_eq!(*at, Duration::from_micros(want_at.as_micros()));
        assert_eq!(data, want);
    }
}

/// A queue whose device takes at most `room` frames per burst.
struct LimitedQueue {
    pool: Pool,
    room: usize,
    sent: usize,
}

impl RxQueue for LimitedQueue {
    fn rx_burst(&mut self, _out: &mut Vec<PacketBuf>, _max: usize) -> usize {
        0
    }
}

impl TxQueue for LimitedQueue {
    fn tx_burst(&mut self, bufs: &mut Vec<PacketBuf>) -> usize {
        let n = self.room.min(bufs.len());
        bufs.drain(..n);
        self.sent += n;
        n
    }

    fn pool(&self) -> &Pool {
        &self.pool
    }
}

impl Queue for LimitedQueue {
    fn id(&self) -> u16 {
        0
    }

    fn stats(&self) -> QueueStats {
        QueueStats::default()
    }
}

#[test]
fn only_frames_the_device_took_are_written() {
    let pool = Pool::new(PoolConfig {
        frames: 64,
        ..PoolConfig::default()
    })
    .expect("pool");
    let queue = LimitedQueue {
        pool,
        room: 2,
        sent: 0,
    };
    let clock = VirtualClock::new();
    let mut cap = PcapCapture::new(queue, Vec::new(), Arc::new(clock), TsResolution::NanoSecond)
        .expect("header");
    let frames: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 60 + usize::from(i)]).collect();
    let mut bufs: Vec<PacketBuf> = frames
        .iter()
        .map(|f| {
            let mut b = cap.pool().alloc().expect("buffer");
            b.extend_from_slice(f).expect("fits");
            b
        })
        .collect();
    assert_eq!(cap.tx_burst(&mut bufs), 2);
    assert_eq!(bufs.len(), 3);
    assert_eq!(
        bufs[0].data(),
        &frames[2][..],
        "the rest stays with the caller, in order"
    );
    assert_eq!(cap.tx_burst(&mut bufs), 2);
    let (queue, bytes) = cap.into_parts();
    assert_eq!(queue.sent, 4);
    let (_, packets) = read_back(&bytes[..]);
    let data: Vec<Vec<u8>> = packets.into_iter().map(|(_, _, d)| d).collect();
    assert_eq!(data, frames[..4].to_vec());
}

/// A writer that accepts `budget` bytes, then fails every write; its flush fails on demand.
struct FailingWriter {
    budget: usize,
    fail_flush: bool,
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
        }
        let n = buf.len().min(self.budget);
        self.budget -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.fail_flush {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"))
        } else {
            Ok(())
        }
    }
}

#[test]
fn write_errors_are_counted_and_traffic_keeps_flowing() {
    const HEADER: usize = 24;
    const RECORD: usize = 16;
    let clock = VirtualClock::new();
    let (mut a, mut b) =
        MemoryLink::pair(MemoryLinkConfig::default(), Arc::new(clock.clone())).expect("link");
    let qa = a.open_queue(0).expect("queue");
    let mut qb = b.open_queue(0).expect("queue");
    let frame = udp(a.mac(), b.mac(), IP_A, IP_B, 1, 2, b"x");
    // Room for the header and exactly one frame.
    let writer = FailingWriter {
        budget: HEADER + RECORD + frame.len(),
        fail_flush: false,
    };
    let mut cap =
        PcapCapture::new(qa, writer, a.clock(), TsResolution::MicroSecond).expect("header fits");
    for _ in 0..5 {
        send(&mut cap, &frame);
    }
    assert_eq!(recv(&mut qb).len(), 5, "the capture never blocks traffic");
    assert_eq!(
        cap.capture_stats(),
        CaptureStats {
            written: 1,
            skipped: 4,
            errors: 1,
        }
    );
    assert!(!cap.is_writing());
    assert!(matches!(
        cap.error(),
        Some(CaptureError::Write { frame: 1, .. })
    ));
    let err = cap.error().expect("remembered");
    let cause = std::error::Error::source(err).expect("the cause is kept");
    assert!(!cause.to_string().is_empty());

    // A failing flush is reported and counted; the first error stays the remembered one.
    let (qa, mut writer) = cap.into_parts();
    writer.fail_flush = true;
    writer.budget = usize::MAX;
    let mut cap =
        PcapCapture::new(qa, writer, a.clock(), TsResolution::MicroSecond).expect("header");
    assert!(matches!(cap.flush(), Err(CaptureError::Flush(_))));
    assert_eq!(cap.capture_stats().errors, 1);
    assert!(matches!(cap.error(), Some(CaptureError::Flush(_))));

    // A header that cannot be written fails construction.
    let (qa, _) = cap.into_parts();
    let broken = FailingWriter {
        budget: 0,
        fail_flush: false,
    };
    assert!(matches!(
        PcapCapture::new(qa, broken, a.clock(), TsResolution::NanoSecond),
        Err(CaptureError::Header(_))
    ));
}
