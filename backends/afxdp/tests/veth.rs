//! Real-kernel tests in a throwaway veth lab (two network namespaces, see `lab.rs`). They need
//! root; elsewhere each prints `SKIP: <what is missing>` and passes.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use cyclone_afxdp::lab::NetnsGuard;
use cyclone_afxdp::program::attached_program;
use cyclone_afxdp::{AfXdpConfig, AfXdpError, AfXdpPort, AttachApi, NetDev, PROGRAM_NAME};
use cyclone_pmd::{Port, PortError, Queue, RxQueue, TxQueue};

fn config(lab: &cyclone_afxdp::lab::VethLab) -> AfXdpConfig {
    AfXdpConfig::new(lab.if_a.clone(), vec![lab.our_ip()])
}

/// Runs `f` on a thread inside namespace `ns` (e.g. a kernel UDP socket on the peer side).
fn in_ns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        let _guard = NetnsGuard::enter(&ns).expect("enter netns");
        f()
    })
}

#[test]
fn ping_arp_request_arrives_on_the_queue_and_counters_move() {
    let Some(lab) = lab(1) else { return };
    let _ns = lab.enter().unwrap();
    let mut port = AfXdpPort::open(config(&lab)).unwrap();
    let mut q = port.open_queue(0).unwrap();
    // A datagram from the peer kernel with no neighbour entry: it ARPs for our address first
    // (what `ping` would do; no ping binary needed).
    let (peer, ours) = (lab.peer_ip(), lab.our_ip());
    let pinger = in_ns(&lab.ns_b, move || {
        let s = UdpSocket::bind((peer, 0)).unwrap();
        for _ in 0..3 {
            let _ = s.send_to(b"ping", (ours, 7));
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let arp = rx_until(&mut q, Duration::from_secs(5), |f| {
        is_arp_request_for(f, lab.our_ip())
    });
    let _ = pinger.join();
    let arp = arp.expect("the kernel's ARP request for our address reached the AF_XDP queue");
    assert_eq!(
        arp.data()[28..32],
        lab.peer_ip().octets(),
        "sender is the peer"
    );
    let c = port.xdp_counters(0).unwrap();
    assert!(c.redirected >= 1, "redirect counter moved: {c:?}");
    let stats = q.stats();
    assert!(stats.rx_packets >= 1 && stats.rx_bytes >= 42, "{stats:?}");
    println!("xdp counters {c:?}, queue {:?}", q.xsk_stats());
}

#[test]
fn udp_both_ways_byte_exact_and_other_traffic_reaches_the_kernel() {
    let Some(lab) = lab(1) else { return };
    let _ns = lab.enter().unwrap();
    let mut port = AfXdpPort::open(config(&lab)).unwrap();
    let our_mac = port.mac();
    let mut q = port.open_queue(0).unwrap();

    // Kernel -> us: a static neighbour entry so the peer sends without waiting for ARP.
    lab.exec_b(&[
        "ip",
        "neigh",
        "replace",
        &lab.our_ip().to_string(),
        "lladdr",
        &our_mac.to_string(),
        "dev",
        &lab.if_b,
    ])
    .unwrap();
    let payload: Vec<u8> = (0..200u32).map(|i| (i * 7) as u8).collect();
    let (peer, ours) = (lab.peer_ip(), lab.our_ip());
    let sent = payload.clone();
    let if_b = lab.if_b.clone();
    let sender = in_ns(&lab.ns_b, move || {
        let s = UdpSocket::bind((peer, 4000)).unwrap();
        for _ in 0..3 {
            s.send_to(&sent, (ours, 5000)).unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
        NetDev::lookup(&if_b).unwrap().mac
    });
    let got = rx_until(&mut q, Duration::from_secs(5), |f| {
        parse_udp(f).is_some_and(|u| u.3 == 5000)
    });
    let peer_mac = sender.join().unwrap();
    let got = got.expect("a UDP datagram from the kernel reached the queue");
    let expect = udp_frame(peer_mac, our_mac.0, peer, ours, 4000, 5000, &payload);
    let (src, dst, sport, dport, data) = parse_udp(got.data()).unwrap();
    assert_eq!((src, dst, sport, dport), (peer, ours, 4000, 5000));
    assert_eq!(data, payload, "payload byte-exact");
    assert_eq!(got.data()[..14], expect[..14], "Ethernet header");
    assert_eq!(got.data().len(), expect.len());

    // Us -> kernel: a UDP datagram a kernel socket in the peer namespace reads.
    let receiver = in_ns(&lab.ns_b, move || {
        let s = UdpSocket::bind((peer, 6000)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 2048];
        let mut out = Vec::new();
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            out.push((buf[..n].to_vec(), from));
            if out.len() == 2 {
                break;
            }
        }
        out
    });
    std::thread::sleep(Duration::from_millis(200));
    let frame = udp_frame(
        our_mac.0,
        peer_mac,
        ours,
        peer,
        7000,
        6000,
        b"hello from cyclone",
    );
    let mut bufs = Vec::new();
    for _ in 0..2 {
        let mut b = q.pool().alloc().unwrap();
        b.extend_from_slice(&frame).unwrap();
        bufs.push(b);
    }
    assert_eq!(q.tx_burst(&mut bufs), 2);
    assert!(bufs.is_empty());
    let got = receiver.join().unwrap();
    assert_eq!(got.len(), 2, "the peer kernel received both datagrams");
    assert_eq!(got[0].0, b"hello from cyclone");
    assert_eq!(got[0].1, (ours, 7000).into());
    q.flush();
    assert_eq!(q.stats().tx_packets, 2);

    // Not for our address: the XDP program passes it (and the ARP for it) to the A-side kernel,
    // whose socket reads it.
    let kernel = lab.kernel_ip();
    let kernel_rx = in_ns(&lab.ns_a, move || {
        let s = UdpSocket::bind((kernel, 8000)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
        let mut buf = [0u8; 64];
        s.recv_from(&mut buf).map(|(n, _)| buf[..n].to_vec())
    });
    std::thread::sleep(Duration::from_millis(200));
    in_ns(&lab.ns_b, move || {
        let s = UdpSocket::bind((peer, 0)).unwrap();
        for _ in 0..3 {
            s.send_to(b"for the kernel", (kernel, 8000)).unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .join()
    .unwrap();
    let got = kernel_rx.join().unwrap();
    assert_eq!(
        got.ok().as_deref(),
        Some(&b"for the kernel"[..]),
        "the A-side kernel got traffic not for us"
    );
    let c = port.xdp_counters(0).unwrap();
    assert!(c.passed >= 2 && c.redirected >= 1, "{c:?}");
}

#[test]
fn two_queues_get_a_socket_each_and_share_the_traffic() {
    let Some(lab) = lab(2) else { return };
    let _ns = lab.enter().unwrap();
    let mut port = AfXdpPort::open(config(&lab)).unwrap();
    assert_eq!(port.capabilities().max_queues, 2);
    let mut q0 = port.open_queue(0).unwrap();
    let mut q1 = port.open_queue(1).unwrap();
    assert!(matches!(
        port.open_queue(2),
        Err(PortError::NoSuchQueue {
            queue: 2,
            queues: 2
        })
    ));
    assert!(matches!(port.open_queue(1), Err(PortError::QueueInUse(1))));
    lab.exec_b(&[
        "ip",
        "neigh",
        "replace",
        &lab.our_ip().to_string(),
        "lladdr",
        &port.mac().to_string(),
        "dev",
        &lab.if_b,
    ])
    .unwrap();
    let (peer, ours) = (lab.peer_ip(), lab.our_ip());
    const N: u16 = 64;
    let sender = in_ns(&lab.ns_b, move || {
        for sport in 0..N {
            let s = UdpSocket::bind((peer, 10000 + sport)).unwrap();
            s.send_to(b"x", (ours, 5000)).unwrap();
        }
    });
    sender.join().unwrap();
    let mut counts = [0usize; 2];
    let mut bufs = Vec::new();
    for _ in 0..100 {
        for (i, q) in [&mut q0, &mut q1].into_iter().enumerate() {
            bufs.clear();
            q.rx_burst(&mut bufs, 64);
            counts[i] += bufs
                .iter()
                .filter(|b| parse_udp(b.data()).is_some())
                .count();
        }
        if counts[0] + counts[1] >= N as usize {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("per-queue datagrams: {counts:?}");
    assert_eq!(
        counts[0] + counts[1],
        N as usize,
        "every datagram reached one of the queues"
    );
    let (c0, c1) = (port.xdp_counters(0).unwrap(), port.xdp_counters(1).unwrap());
    assert!(
        c0.redirected as usize >= counts[0] && c1.redirected as usize >= counts[1],
        "{c0:?} {c1:?}"
    );
    assert!(c0.redirected + c1.redirected >= N as u64, "{c0:?} {c1:?}");
}

#[test]
fn program_is_gone_and_pool_is_full_after_drop() {
    let Some(lab) = lab(1) else { return };
    let _ns = lab.enter().unwrap();
    let dev = NetDev::lookup(&lab.if_a).unwrap();
    let mut port = AfXdpPort::open(config(&lab)).unwrap();
    let prog = attached_program(dev.ifindex).unwrap().expect("attached");
    assert_eq!(prog.name, PROGRAM_NAME);
    assert_eq!(prog.mode, 1, "driver mode on veth");
    let mut q = port.open_queue(0).unwrap();
    let pool = q.pool().clone();
    // Hold some buffers across the port's drop, and send a few frames.
    let held = (0..10).map(|_| pool.alloc().unwrap()).collect::<Vec<_>>();
    let mut bufs = (0..4)
        .map(|_| {
            let mut b = pool.alloc().unwrap();
            b.extend_from_slice(&[0xff; 60]).unwrap();
            b
        })
        .collect::<Vec<_>>();
    q.tx_burst(&mut bufs);
    assert!(
        q.xsk_stats().frames_in_kernel > 0,
        "the fill ring holds frames"
    );
    drop(q);
    drop(port);
    assert_eq!(
        attached_program(dev.ifindex).unwrap(),
        None,
        "XDP program detached on drop"
    );
    drop(held);
    pool.flush_thread_cache();
    assert_eq!(
        pool.available(),
        pool.capacity(),
        "every frame is back in the pool"
    );
}

#[test]
fn config_errors_say_what_to_do() {
    let Some(lab) = lab(1) else { return };
    let _ns = lab.enter().unwrap();
    let e = AfXdpPort::open(AfXdpConfig::new("nope0", vec![lab.our_ip()])).unwrap_err();
    assert!(matches!(e, AfXdpError::NoSuchInterface { .. }), "{e}");
    assert!(e.to_string().contains("ip link"), "{e}");
    let mut port = AfXdpPort::open(config(&lab)).unwrap();
    let e = port.open_xsk_queue(5).unwrap_err();
    assert!(e.to_string().contains("numrxqueues"), "{e}");
    let mut cfg = config(&lab);
    cfg.socket.rx_size = 100;
    let e = AfXdpPort::open(cfg).unwrap_err();
    assert!(e.to_string().contains("power of two"), "{e}");
}

#[test]
fn a_foreign_xdp_program_is_refused_by_name() {
    let Some(lab) = lab(1) else { return };
    let _ns = lab.enter().unwrap();
    // A different XDP program attached the old way (netlink), as another tool would.
    let dev = NetDev::lookup(&lab.if_a).unwrap();
    let foreign = std::env::temp_dir().join(format!("cyc-foreign-{}.o", std::process::id()));
    if !build_foreign(&foreign) {
        println!("SKIP: clang cannot build a test XDP program");
        return;
    }
    lab.exec_a(&[
        "ip",
        "link",
        "set",
        "dev",
        &lab.if_a,
        "xdpgeneric",
        "obj",
        foreign.to_str().unwrap(),
        "sec",
        "xdp",
    ])
    .unwrap();
    let _ = std::fs::remove_file(&foreign);
    let e = AfXdpPort::open(config(&lab)).unwrap_err();
    println!("{e}");
    assert!(
        matches!(&e, AfXdpError::ForeignProgram { name, .. } if name == "other_prog"),
        "{e}"
    );
    assert!(
        attached_program(dev.ifindex).unwrap().is_some(),
        "the foreign program is left alone"
    );
}

fn build_foreign(out: &std::path::Path) -> bool {
    let src = out.with_extension("c");
    std::fs::write(
        &src,
        "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\nSEC(\"xdp\") int other_prog(struct xdp_md *c) { return XDP_PASS; }\nchar _l[] SEC(\"license\") = \"GPL\";\n",
    )
    .unwrap();
    let ok = Command::new("clang")
        .args([
            "-O2",
            "-g",
            "-target",
            "bpf",
            "-I/usr/include/x86_64-linux-gnu",
            "-c",
        ])
        .arg(&src)
        .arg("-o")
        .arg(out)
        .status()
        .is_ok_and(|s| s.success());
    let _ = std::fs::remove_file(&src);
    ok
}

/// The child side of the SIGKILL tests: opens a port and waits to be killed.
#[test]
#[ignore = "run by sigkill tests as a child process"]
fn child_holds_port() {
    let (Ok(ns), Ok(ifname), Ok(addr), Ok(api)) = (
        std::env::var("CYC_CHILD_NS"),
        std::env::var("CYC_CHILD_IF"),
        std::env::var("CYC_CHILD_ADDR"),
        std::env::var("CYC_CHILD_API"),
    ) else {
        return;
    };
    let _g = NetnsGuard::enter(&ns).unwrap();
    let mut cfg = AfXdpConfig::new(ifname, vec![addr.parse::<Ipv4Addr>().unwrap()]);
    cfg.attach_api = if api == "netlink" {
        AttachApi::Netlink
    } else {
        AttachApi::Link
    };
    let mut port = AfXdpPort::open(cfg).unwrap();
    let _q = port.open_queue(0).unwrap();
    println!("READY");
    std::thread::sleep(Duration::from_secs(60));
}

fn killed_child_then_restart(api: &str) {
    let Some(lab) = lab(1) else { return };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_holds_port",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CYC_CHILD_NS", &lab.ns_a)
        .env("CYC_CHILD_IF", &lab.if_a)
        .env("CYC_CHILD_ADDR", lab.our_ip().to_string())
        .env("CYC_CHILD_API", api)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = false;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if line.unwrap().contains("READY") {
            ready = true;
            break;
        }
    }
    assert!(ready, "child opened the port");
    child.kill().unwrap(); // SIGKILL: no destructor runs
    child.wait().unwrap();

    let _ns = lab.enter().unwrap();
    let dev = NetDev::lookup(&lab.if_a).unwrap();
    let left = attached_program(dev.ifindex).unwrap();
    match api {
        // A netlink attachment outlives the process: the program is still there...
        "netlink" => assert_eq!(left.as_ref().map(|p| p.name.as_str()), Some(PROGRAM_NAME)),
        // ...a BPF link dies with it.
        _ => assert_eq!(
            left, None,
            "link-attached program detached by the kernel at exit"
        ),
    }
    // A restart replaces what was left and works.
    let mut port = AfXdpPort::open(config(&lab)).unwrap();
    let now = attached_program(dev.ifindex).unwrap().unwrap();
    assert_eq!(now.name, PROGRAM_NAME);
    assert_ne!(Some(now.id), left.map(|p| p.id), "a fresh program");
    let _q = port.open_queue(0).unwrap();
    drop(_q);
    drop(port);
    assert_eq!(
        attached_program(dev.ifindex).unwrap(),
        None,
        "gone after the restarted port drops"
    );
}

#[test]
fn sigkilled_netlink_attached_process_is_cleaned_up_by_restart() {
    killed_child_then_restart("netlink");
}

#[test]
fn sigkilled_link_attached_process_leaves_nothing() {
    killed_child_then_restart("link");
}
