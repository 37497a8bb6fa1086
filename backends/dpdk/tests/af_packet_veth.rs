//! (c) `net_af_packet` on a veth pair: a throwaway network namespace holds one end with an
//! address from 198.18.0.0/15; the DPDK port sits on the other end. The kernel sends to an address
//! behind the DPDK port (UDP datagrams), so it sends ARP requests, which the DPDK port must
//! receive.
//!
//! The full test — the kernel pings Cyclone and `curl` fetches a file from `cyclone serve
//! --backend dpdk` over such a veth — is `dataplane/cyclone/tests/dpdk_af_packet_serve.rs`.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cyclone_dpdk::{DpdkPort, Eal, EalConfig, PortConfig};
use cyclone_pmd::{Port, RxQueue};

/// The namespace and veth pair; removed on drop, also when the test panics.
struct Lab {
    ns: String,
    host_if: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Lab {
    fn new() -> Result<Lab, String> {
        let pid = std::process::id() % 1_000_000;
        let lab = Lab {
            ns: format!("cyc-dpdk-{pid}"),
            host_if: format!("cda{pid}"),
        };
        let peer = format!("cdb{pid}");
        ip(&["netns", "add", &lab.ns])?;
        ip(&[
            "link",
            "add",
            &lab.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ])?;
        ip(&["link", "set", &peer, "netns", &lab.ns])?;
        ip(&["-n", &lab.ns, "addr", "add", "198.18.7.1/24", "dev", &peer])?;
        ip(&["-n", &lab.ns, "link", "set", &peer, "up"])?;
        ip(&["link", "set", &lab.host_if, "up"])?;
        Ok(lab)
    }

    /// Makes the kernel in the namespace send UDP datagrams to 198.18.7.2 (bash's `/dev/udp`,
    /// so no ping binary is needed): it must resolve the address first, with ARP requests.
    fn send_udp(&self) -> std::io::Result<Child> {
        Command::new("ip")
            .args(["netns", "exec", &self.ns, "bash", "-c"])
            .arg("for i in 1 2 3 4 5; do echo x > /dev/udp/198.18.7.2/9; sleep 0.5; done")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.host_if]);
        let _ = ip(&["netns", "del", &self.ns]);
    }
}

#[test]
fn af_packet_port_receives_the_kernels_arp() {
    skip_unless_ready!("net_af_packet");
    if Command::new("ip").arg("-V").output().is_err() {
        println!("SKIP: the `ip` tool (iproute2) is missing");
        return;
    }
    let lab = match Lab::new() {
        Ok(lab) => lab,
        Err(e) => {
            println!("SKIP: cannot build the veth lab: {e}");
            return;
        }
    };
    let eal = Eal::init(&EalConfig::new([
        "-l".to_string(),
        "0".to_string(),
        "--no-pci".to_string(),
        "--vdev".to_string(),
        format!("net_af_packet0,iface={}", lab.host_if),
    ]))
    .expect("EAL starts with the af_packet port");
    let cfg = PortConfig {
        rx_desc: 256,
        tx_desc: 256,
        // net_af_packet wants room for a whole 2048-byte TPACKET frame in an mbuf: 2048-byte
        // frames leave 1536 bytes after the reserved area and headroom, so use 4096.
        pool: cyclone_dpdk::MbufPoolConfig {
            frames: 1024,
            frame_size: 4096,
            ..Default::default()
        },
        ..PortConfig::default()
    };
    let mut port = DpdkPort::open(&eal, "net_af_packet0", &cfg).expect("port");
    assert_eq!(port.driver(), "net_af_packet");
    println!("mac {} link {:?}", port.mac(), port.link());
    let mut q = port.open_queue(0).expect("queue");

    let mut pinger = lab.send_udp().expect("ip netns exec bash runs");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    let mut arp = None;
    while Instant::now() < deadline && arp.is_none() {
        let mut bufs = Vec::new();
        if q.rx_burst(&mut bufs, 32) == 0 {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        for b in bufs {
            let d = b.data();
            // ARP request (ethertype 0x0806, op 1) asking for 198.18.7.2 from 198.18.7.1.
            if d.len() >= 42
                && d[12..14] == [0x08, 0x06]
                && d[20..22] == [0, 1]
                && d[28..32] == [198, 18, 7, 1]
                && d[38..42] == [198, 18, 7, 2]
            {
                arp = Some(d.to_vec());
            }
            seen.push(d.len());
        }
    }
    let _ = pinger.kill();
    let _ = pinger.wait();
    let arp = arp.unwrap_or_else(|| panic!("no ARP request arrived; frames seen: {seen:?}"));
    assert_eq!(&arp[..6], &[0xff; 6], "broadcast");
    drop((q, port, lab));
}
