//! `cyclone demo`: shows the dataplane working.
//!
//! Where it can (root, a build with the `afxdp` feature, curl and ping installed), the main
//! demo runs Cyclone over AF_XDP on a veth pair with the Linux kernel as its client
//! ([`afxdp`]). Otherwise, or with `cyclone demo --memory`, it shows the dataplane with nothing
//! but memory:
//!
//! Two ports on an in-memory link (latency, bandwidth, a virtual clock). Port A's queue is
//! wrapped in a seeded fault injector and a pcap capture; a timer wheel paces UDP datagrams
//! from A to B; B parses every frame in place (Ethernet → IPv4 → UDP, checksums verified) and
//! accounts for each datagram: delivered, duplicated, reordered, lost, corrupted-and-caught.

use std::collections::HashSet;
use std::fs::File;
use std::io::BufWriter;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cyclone_pmd::fault::{Direction, FaultConfig, FaultInjector};
use cyclone_pmd::memory::{MemoryLink, MemoryLinkConfig};
use cyclone_pmd::pcap::PcapCapture;
use cyclone_pmd::{Clock, PacketBuf, Port, RxQueue, TxQueue, VirtualClock};
use cyclone_stack::timer::TimerWheel;
use cyclone_stack::wire::{
    EtherType, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, RxChecksum,
    TxChecksum, UdpPacket, UdpRepr,
};

#[cfg(feature = "afxdp")]
pub mod afxdp;

/// `cyclone demo`'s flags: which demo, and the in-memory demo's settings.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoCommand {
    /// Run the in-memory demo even where the AF_XDP one could run.
    #[arg(long)]
    pub memory: bool,
    /// Settings of the in-memory demo.
    #[command(flatten)]
    pub args: DemoArgs,
}

/// Why the AF_XDP demo cannot run here, or `None` if it can.
pub fn afxdp_unavailable() -> Option<String> {
    #[cfg(feature = "afxdp")]
    {
        afxdp::unavailable()
    }
    #[cfg(not(feature = "afxdp"))]
    {
        Some(
            "this build does not include the AF_XDP backend: \
             `cargo run --release -p cyclone --features afxdp -- demo`"
                .to_string(),
        )
    }
}

/// Runs the AF_XDP demo (see [`afxdp`]); `Err` says which step failed.
pub fn run_afxdp() -> Result<(), String> {
    #[cfg(feature = "afxdp")]
    {
        afxdp::run()
    }
    #[cfg(not(feature = "afxdp"))]
    {
        Err(afxdp_unavailable().unwrap_or_default())
    }
}

/// Settings of the in-memory demo.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Datagrams to send.
    #[arg(long, default_value_t = 20_000)]
    pub datagrams: u32,
    /// Payload bytes per datagram (8..=1472).
    #[arg(long, default_value_t = 512)]
    pub payload: usize,
    /// Probability that the link drops a frame.
    #[arg(long, default_value_t = 0.02)]
    pub drop: f64,
    /// Probability that a frame is duplicated.
    #[arg(long, default_value_t = 0.01)]
    pub duplicate: f64,
    /// Probability that a frame is held back and reordered.
    #[arg(long, default_value_t = 0.02)]
    pub reorder: f64,
    /// Probability that one bit of a frame is flipped.
    #[arg(long, default_value_t = 0.005)]
    pub corrupt: f64,
    /// Seed of the fault injector: the same seed replays the same run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to write the capture of what port A puts on the wire (read it with `tcpdump -r`).
    #[arg(long, default_value = "cyclone-demo.pcap")]
    pub pcap: PathBuf,
}

/// What the demo observed; printed, and checked by the tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DemoReport {
    pub sent: u64,
    pub received_frames: u64,
    pub delivered: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub rejected: u64,
    pub missing: u64,
    pub fault_dropped: u64,
    pub fault_duplicated: u64,
    pub fault_corrupted: u64,
    pub pcap_frames: u64,
    pub virtual_time: Duration,
}

const SRC_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const DST_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A setting is out of range.
    #[error("{0}")]
    Config(String),
    /// The link or a queue could not be set up.
    #[error(transparent)]
    Port(#[from] cyclone_pmd::PortError),
    /// The fault injector refused its settings.
    #[error(transparent)]
    Faults(#[from] cyclone_pmd::fault::FaultConfigError),
    /// The capture could not be written.
    #[error(transparent)]
    Capture(#[from] cyclone_pmd::pcap::CaptureError),
    /// The capture file could not be created.
    #[error("cannot create the capture file {path}")]
    CaptureFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Runs the demo and returns its report.
pub fn run(args: &DemoArgs) -> Result<DemoReport, DemoError> {
    if !(8..=1472).contains(&args.payload) {
        return Err(DemoError::Config(format!(
            "--payload must be 8..=1472 bytes, got {}",
            args.payload
        )));
    }
    let clock = VirtualClock::new();
    let config = MemoryLinkConfig {
        latency: Duration::from_micros(20),
        bandwidth_bps: 10_000_000_000,
        ..MemoryLinkConfig::default()
    };
    let (mut port_a, mut port_b) = MemoryLink::pair(config, Arc::new(clock.clone()))?;
    let (mac_a, mac_b) = (port_a.mac(), port_b.mac());
    let faults = FaultConfig {
        drop: args.drop,
        duplicate: args.duplicate,
        reorder: args.reorder,
        corrupt: args.corrupt,
        seed: args.seed,
        direction: Direction::Tx,
        ..FaultConfig::default()
    };
    let file = File::create(&args.pcap).map_err(|source| DemoError::CaptureFile {
        path: args.pcap.clone(),
        source,
    })?;
    let file = BufWriter::new(file);
    // The capture sits under the injector: it records what reaches the wire.
    let capture = PcapCapture::new(
        port_a.open_queue(0)?,
        file,
        Arc::new(clock.clone()),
        pcap_file::TsResolution::NanoSecond,
    )?;
    let mut queue_a = FaultInjector::new(capture, faults)?;
    let mut queue_b = port_b.open_queue(0)?;

    // Pace the sender with the timer wheel: one datagram every 2 µs of virtual time.
    let mut wheel = TimerWheel::new(Duration::from_micros(1), clock.now());
    for seq in 0..args.datagrams {
        wheel.arm(clock.now() + Duration::from_micros(2 * u64::from(seq)), seq);
    }

    let mut report = DemoReport::default();
    let mut seen = HashSet::new();
    let mut highest: Option<u32> = None;
    let mut tx: Vec<PacketBuf> = Vec::new();
    let mut rx: Vec<PacketBuf> = Vec::new();
    let mut due = Vec::new();
    loop {
        let now = clock.now();
        wheel.advance(now, &mut |_, seq| due.push(seq));
        for seq in due.drain(..) {
            let Some(mut buf) = queue_a.pool().alloc() else {
                continue;
            };
            if build_datagram(&mut buf, mac_a, mac_b, seq, args.payload).is_some() {
                tx.push(buf);
                report.sent += 1;
            }
        }
        if !tx.is_empty() {
            queue_a.tx_burst(&mut tx);
            tx.clear(); // what the wire could not take is lost, like a full NIC ring
        }
        queue_b.rx_burst(&mut rx, 64);
        for buf in rx.drain(..) {
            report.received_frames += 1;
            match parse_datagram(&buf) {
                Some(seq) if !seen.insert(seq) => report.duplicates += 1,
                Some(seq) => {
                    report.delivered += 1;
                    if highest.is_some_and(|h| seq < h) {
                        report.out_of_order += 1;
                    }
                    highest = highest.max(Some(seq));
                }
                None => report.rejected += 1,
            }
        }
        // Nothing due now: release what the injector holds back, then jump to the next event.
        let next = [wheel.next_deadline(), port_b.next_arrival()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(t) if t > now => clock.advance_to(t),
            Some(_) => {}
            None if queue_a.pending() > 0 => queue_a.release_held(),
            None => break,
        }
    }
    report.missing = u64::from(args.datagrams) - report.delivered;
    let faults = queue_a.tx_fault_stats();
    report.fault_dropped = faults.dropped;
    report.fault_duplicated = faults.duplicated;
    report.fault_corrupted = faults.corrupted;
    report.pcap_frames = queue_a.inner().capture_stats().written;
    queue_a.inner_mut().flush()?;
    report.virtual_time = clock.now().saturating_duration_since(Default::default());
    Ok(report)
}

/// Writes an Ethernet/IPv4/UDP datagram carrying `seq` into `buf`: payload first, then each
/// header prepended into the headroom (no copy of the payload). `None` if it does not fit.
fn build_datagram(
    buf: &mut PacketBuf,
    src_mac: cyclone_pmd::MacAddr,
    dst_mac: cyclone_pmd::MacAddr,
    seq: u32,
    payload_len: usize,
) -> Option<()> {
    let payload = buf.append(payload_len).ok()?;
    payload.fill(0xab);
    payload[..4].copy_from_slice(&seq.to_be_bytes());
    let udp = UdpRepr {
        src_port: 4000,
        dst_port: 5000,
    };
    buf.prepend(UdpRepr::HEADER_LEN).ok()?;
    udp.emit(buf.data_mut(), SRC_IP, DST_IP, TxChecksum::Compute)
        .ok()?;
    let ip = Ipv4Repr::new(SRC_IP, DST_IP, IpProtocol::UDP, buf.len());
    ip.emit(buf.prepend(Ipv4Repr::HEADER_LEN).ok()?, TxChecksum::Compute)
        .ok()?;
    let eth = EthernetRepr {
        src: src_mac,
        dst: dst_mac,
        ethertype: EtherType::IPV4,
        vlan: None,
    };
    eth.emit(buf.prepend(EthernetRepr::HEADER_LEN).ok()?).ok()
}

/// Parses a received frame in place; `None` if any layer rejects it (checksums included).
fn parse_datagram(buf: &PacketBuf) -> Option<u32> {
    let frame = EthernetFrame::new_checked(buf.data()).ok()?;
    if frame.ethertype() != EtherType::IPV4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(frame.payload()).ok()?;
    let ip_repr = Ipv4Repr::parse(&ip, RxChecksum::Verify).ok()?;
    if ip_repr.protocol != IpProtocol::UDP || ip_repr.dst != DST_IP {
        return None;
    }
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    let udp_repr = UdpRepr::parse(&udp, ip_repr.src, ip_repr.dst, RxChecksum::Verify).ok()?;
    if udp_repr.dst_port != 5000 {
        return None;
    }
    let seq = udp.payload().get(..4)?;
    Some(u32::from_be_bytes(seq.try_into().ok()?))
}

/// Prints the report for a person.
pub fn print(report: &DemoReport, args: &DemoArgs) {
    println!(
        "cyclone demo: {} UDP datagrams of {} bytes, port A → port B over an in-memory link",
        args.datagrams, args.payload
    );
    println!("  link: 20 µs latency, 10 Gbit/s, faults on A's tx: drop {}, duplicate {}, reorder {}, corrupt {} (seed {})", args.drop, args.duplicate, args.reorder, args.corrupt, args.seed);
    println!("  sent {} | frames received {} | delivered {} | duplicates {} | out of order {} | rejected by checksums {} | missing {}",
        report.sent, report.received_frames, report.delivered, report.duplicates, report.out_of_order, report.rejected, report.missing);
    println!(
        "  injector: dropped {}, duplicated {}, corrupted {}",
        report.fault_dropped, report.fault_duplicated, report.fault_corrupted
    );
    println!(
        "  virtual time {:?}; {} frames captured to {} (try: tcpdump -nn -r {} | head)",
        report.virtual_time,
        report.pcap_frames,
        args.pcap.display(),
        args.pcap.display()
    );
}

/// What the stack part of the demo observed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StackReport {
    /// Bytes the client sent over TCP and the server received intact (sha256 compared).
    pub tcp_bytes: usize,
    /// Whether the TCP data arrived byte-exact.
    pub tcp_intact: bool,
    /// TCP retransmissions on both hosts.
    pub retransmits: u64,
    /// HTTP requests answered, with their statuses.
    pub http_statuses: Vec<u16>,
    /// Whether `POST /echo` came back byte-exact.
    pub echo_intact: bool,
    /// Frames the injectors dropped, duplicated, reordered, corrupted (both hosts).
    pub faults: [u64; 4],
    /// Virtual time the whole exchange took.
    pub virtual_time: Duration,
}

/// The stack part: two Cyclone stacks (ARP, IPv4, TCP, HTTP) on the in-memory link with the
/// same faults on receive: a bulk TCP transfer, then HTTP requests to the second stack.
pub fn run_stack(args: &DemoArgs) -> Result<StackReport, crate::lab::LabError> {
    use crate::app::bulk::BulkEnd;
    use crate::app::client::HttpClient;
    use crate::app::http::HttpService;
    use crate::lab::{Lab, LabConfig};
    use sha2::{Digest, Sha256};
    use std::net::SocketAddrV4;

    let faults = FaultConfig {
        drop: args.drop,
        duplicate: args.duplicate,
        reorder: args.reorder,
        corrupt: args.corrupt,
        seed: args.seed,
        ..FaultConfig::default()
    };
    let mut lab = Lab::new(LabConfig {
        faults,
        ..LabConfig::default()
    })?;
    let mut report = StackReport::default();

    // TCP: host 0 sends 4 MB to host 1.
    let data: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let server = SocketAddrV4::new(lab.hosts[1].addr, 9000);
    let listener = lab.hosts[1]
        .iface
        .tcp_mut()
        .listen(server, 4)
        .map_err(tcp_error)?;
    let client_addr = SocketAddrV4::new(lab.hosts[0].addr, 0);
    let now = lab.now();
    let client = lab.hosts[0]
        .iface
        .tcp_mut()
        .connect(now, client_addr, server)
        .map_err(tcp_error)?;
    let mut sender = BulkEnd::new(client, data.clone());
    let mut receiver: Option<BulkEnd> = None;
    lab.run_until(
        10_000_000,
        |lab| {
            sender.pump(lab.hosts[0].iface.tcp_mut());
            let tcp = lab.hosts[1].iface.tcp_mut();
            if receiver.is_none() {
                receiver = tcp.accept(listener).map(|c| BulkEnd::new(c, Vec::new()));
            }
            receiver.as_mut().is_some_and(|r| r.pump(tcp))
        },
        |_| None,
    )?;
    let received = receiver.map(BulkEnd::into_received).unwrap_or_default();
    report.tcp_bytes = received.len();
    report.tcp_intact = Sha256::digest(&received) == Sha256::digest(&data);

    // HTTP: the second host serves /health and /echo; the first asks, pipelined.
    let mut router = cyclone_http::Router::new();
    cyclone_http::apps::install_builtin(&mut router);
    let http = Arc::new(cyclone_http::Server::new(
        cyclone_http::ServerConfig::default(),
        router,
    ));
    let addr = SocketAddrV4::new(lab.hosts[1].addr, 80);
    let now = lab.now();
    let mut service =
        HttpService::new(lab.hosts[1].iface.tcp_mut(), addr, 16, http, now).map_err(tcp_error)?;
    let conn = lab.hosts[0]
        .iface
        .tcp_mut()
        .connect(now, client_addr, addr)
        .map_err(tcp_error)?;
    let mut client = HttpClient::new(conn);
    let body = &data[..1024 * 1024];
    client.send(b"GET /health HTTP/1.1\r\nHost: demo\r\n\r\n");
    client.send(
        format!(
            "POST /echo HTTP/1.1\r\nHost: demo\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    client.send(body);
    client.send(b"GET /nowhere HTTP/1.1\r\nHost: demo\r\n\r\n");
    let service_at = std::cell::Cell::new(None);
    lab.run_until(
        10_000_000,
        |lab| {
            service.poll(lab.now(), lab.hosts[1].iface.tcp_mut());
            service_at.set(service.poll_at());
            client.pump(lab.hosts[0].iface.tcp_mut()).unwrap_or(0) >= 3
        },
        |_| service_at.get(),
    )?;
    let responses = client.take_responses();
    report.http_statuses = responses.iter().map(|r| r.status).collect();
    report.echo_intact = responses.get(1).is_some_and(|r| r.body == body);
    report.retransmits = lab
        .hosts
        .iter()
        .map(|h| h.iface.tcp().stats().retransmits)
        .sum();
    for host in &lab.hosts {
        let f = host.queue.fault_stats();
        for (slot, n) in
            report
                .faults
                .iter_mut()
                .zip([f.dropped, f.duplicated, f.reordered, f.corrupted])
        {
            *slot += n;
        }
    }
    report.virtual_time = lab.now().saturating_duration_since(Default::default());
    Ok(report)
}

fn tcp_error(e: cyclone_stack::tcp::TcpError) -> crate::lab::LabError {
    crate::lab::LabError::Tcp(e)
}

/// Prints the stack report for a person.
pub fn print_stack(report: &StackReport) {
    println!("cyclone demo: two Cyclone stacks (ARP, IPv4, TCP, HTTP/1.1) on the same faulty link");
    println!(
        "  TCP: {} bytes sent, {} (sha256 {}), {} retransmissions",
        report.tcp_bytes,
        if report.tcp_intact {
            "arrived byte-exact"
        } else {
            "CORRUPTED"
        },
        if report.tcp_intact {
            "matches"
        } else {
            "differs"
        },
        report.retransmits
    );
    println!(
        "  HTTP: GET /health, POST /echo (1 MiB), GET /nowhere, pipelined on one connection → {:?}; echo {}",
        report.http_statuses,
        if report.echo_intact { "byte-exact" } else { "WRONG" }
    );
    let [d, u, r, c] = report.faults;
    println!(
        "  injectors: dropped {d}, duplicated {u}, reordered {r}, corrupted {c}; virtual time {:?}",
        report.virtual_time
    );
}
