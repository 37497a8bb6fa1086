//! Wire-format benchmarks: ns per packet to parse an Ethernet + IPv4 + TCP frame (checksums
//! verified in software, and trusted as after a device verified them) and to emit one
//! (checksums computed), and Internet-checksum throughput over a full-MSS payload.
//!
//! Run: `cargo bench -p cyclone-bench --bench wire`

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use cyclone_stack::wire::{
    checksum, samples, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, RxChecksum,
    TcpPacket, TcpRepr, TxChecksum,
};

/// Everything a receive path extracts from a TCP frame.
struct Parsed {
    ip: Ipv4Repr,
    tcp: TcpRepr,
    payload_len: usize,
}

fn parse(frame: &[u8], csum: RxChecksum) -> Option<Parsed> {
    let eth_frame = EthernetFrame::new_checked(frame).ok()?;
    let _eth = EthernetRepr::parse(&eth_frame);
    let ip_packet = Ipv4Packet::new_checked(eth_frame.payload()).ok()?;
    let ip = Ipv4Repr::parse(&ip_packet, csum).ok()?;
    let tcp_packet = TcpPacket::new_checked(ip_packet.payload()).ok()?;
    let tcp = TcpRepr::parse(&tcp_packet, ip.src, ip.dst, csum).ok()?;
    Some(Parsed {
        ip,
        tcp,
        payload_len: tcp_packet.payload().len(),
    })
}

/// Writes Ethernet, IPv4 and TCP headers in front of the payload already in `frame`.
fn emit(frame: &mut [u8], eth: &EthernetRepr, ip: &Ipv4Repr, tcp: &TcpRepr) -> Option<()> {
    let (eth_bytes, rest) = frame.split_at_mut(eth.header_len());
    eth.emit(eth_bytes).ok()?;
    let (ip_bytes, segment) = rest.split_at_mut(ip.header_len());
    ip.emit(ip_bytes, TxChecksum::Compute).ok()?;
    tcp.emit(segment, ip.src, ip.dst, TxChecksum::Compute).ok()
}

/// The reprs of the TCP data sample (PSH|ACK with timestamps), and a full-size frame built
/// from them: 14 + 20 + 32 + 1448 = 1514 bytes, what Linux sends at MSS 1460 with timestamps.
fn frames() -> (EthernetRepr, Ipv4Repr, TcpRepr, Vec<u8>, Vec<u8>) {
    let small = samples::TCP_DATA.to_vec();
    let eth = EthernetRepr::parse(&EthernetFrame::new_checked(&small[..]).unwrap());
    let parsed = parse(&small, RxChecksum::Verify).unwrap();
    let payload_len = 1514 - 14 - 20 - parsed.tcp.header_len();
    let mut ip = parsed.ip;
    ip.payload_len = parsed.tcp.header_len() + payload_len;
    let mut big = vec![0u8; 1514];
    for (i, byte) in big
        .iter_mut()
        .enumerate()
        .skip(14 + 20 + parsed.tcp.header_len())
    {
        *byte = (i * 7) as u8;
    }
    emit(&mut big, &eth, &ip, &parsed.tcp).unwrap();
    assert_eq!(parse(&big, RxChecksum::Verify).unwrap().payload_len, 1448);
    (eth, ip, parsed.tcp, small, big)
}

fn parse_frames(c: &mut Criterion) {
    let (_, _, _, small, big) = frames();
    let mut group = c.benchmark_group("wire_parse_eth_ipv4_tcp");
    group.throughput(Throughput::Elements(1));
    for (name, frame) in [("103B", &small), ("1514B", &big)] {
        group.bench_with_input(BenchmarkId::new("verify", name), frame, |b, frame| {
            b.iter(|| parse(black_box(frame), RxChecksum::Verify).map(|p| p.payload_len))
        });
        group.bench_with_input(BenchmarkId::new("trust", name), frame, |b, frame| {
            b.iter(|| parse(black_box(frame), RxChecksum::Trust).map(|p| p.payload_len))
        });
    }
    group.finish();
}

fn emit_frames(c: &mut Criterion) {
    let (eth, ip, tcp, small, big) = frames();
    let mut group = c.benchmark_group("wire_emit_eth_ipv4_tcp");
    group.throughput(Throughput::Elements(1));
    for (name, frame) in [("103B", small), ("1514B", big)] {
        let mut ip = ip;
        ip.payload_len = frame.len() - 14 - 20;
        let mut buf = frame.clone();
        group.bench_function(BenchmarkId::new("compute", name), |b| {
            b.iter(|| emit(black_box(&mut buf), black_box(&eth), &ip, black_box(&tcp)))
        });
        assert_eq!(buf, frame);
    }
    group.finish();
}

fn checksum_throughput(c: &mut Criterion) {
    let mut rng = 0x1071u32;
    let data: Vec<u8> = (0..1461)
        .map(|_| {
            rng = rng.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (rng >> 16) as u8
        })
        .collect();
    let mut group = c.benchmark_group("wire_checksum_1460B");
    group.throughput(Throughput::Bytes(1460));
    group.bench_function("aligned", |b| {
        b.iter(|| checksum::sum(black_box(&data[..1460])))
    });
    group.bench_function("odd_offset", |b| {
        b.iter(|| checksum::sum(black_box(&data[1..1461])))
    });
    group.bench_function("with_pseudo_header", |b| {
        let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        b.iter(|| {
            let pseudo = checksum::pseudo_header_sum(src, dst, IpProtocol::TCP.0, 1460);
            !checksum::add(pseudo, checksum::sum(black_box(&data[..1460])))
        })
    });
    group.finish();
}

criterion_group!(benches, parse_frames, emit_frames, checksum_throughput);
criterion_main!(benches);
