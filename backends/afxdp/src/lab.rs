//! A throwaway veth lab in two network namespaces, for tests, benchmarks and demos.
//!
//! [`VethLab::new`] creates namespaces `cyc-xdp-<pid>-<n>-a` and `-b` and a veth pair between
//! them: `xa` in A (the dataplane's side: AF_XDP binds here) and `xb` in B (the kernel peer,
//! `198.18.<n>.2/24`, checksum offload off so the frames it sends carry real checksums). The
//! kernel in A gets `198.18.<n>.3/24` on `xa`, so traffic not for the dataplane's address
//! (`198.18.<n>.1`) has somewhere to go. Dropping the lab deletes both namespaces (and the
//! veth with them), also when a test panics.
//!
//! [`VethLab::enter`] moves the *calling thread* into namespace A (network namespaces are per
//! thread); the returned guard moves it back.

use std::fs::File;
use std::net::Ipv4Addr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::sys;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Why a lab could not be built (the test that wanted it should skip).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LabError(pub String);

/// Two namespaces joined by a veth pair. Deleted on drop.
#[derive(Debug)]
pub struct VethLab {
    /// Namespace of the dataplane's side.
    pub ns_a: String,
    /// Namespace of the kernel peer.
    pub ns_b: String,
    /// The dataplane's interface (in `ns_a`).
    pub if_a: String,
    /// The peer interface (in `ns_b`).
    pub if_b: String,
    /// Third octet of the lab's 198.18.n.0/24 subnet.
    pub n: u8,
}

/// Why real-kernel tests cannot run here, if they cannot: not root, or no `ip` tool.
pub fn skip_reason() -> Option<String> {
    if sys::geteuid() != 0 {
        return Some("not root (AF_XDP, XDP and network namespaces need root)".to_string());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("`ip` (iproute2) is not installed".to_string()),
    }
}

fn run(args: &[&str]) -> Result<Output, LabError> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| LabError(format!("cannot run `{}`: {e}", args.join(" "))))?;
    if !out.status.success() {
        return Err(LabError(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}

impl VethLab {
    /// Builds the lab with `queues` RX/TX queues on each veth end.
    pub fn new(queues: u16) -> Result<VethLab, LabError> {
        let n = (NEXT.fetch_add(1, Ordering::Relaxed) % 250) as u8 + 1;
        let pid = std::process::id();
        let lab = VethLab {
            ns_a: format!("cyc-xdp-{pid}-{n}-a"),
            ns_b: format!("cyc-xdp-{pid}-{n}-b"),
            if_a: "xa".to_string(),
            if_b: "xb".to_string(),
            n,
        };
        // From here on, `lab`'s Drop cleans up whatever was created.
        run(&["ip", "netns", "add", &lab.ns_a])?;
        run(&["ip", "netns", "add", &lab.ns_b])?;
        let q = queues.to_string();
        run(&[
            "ip",
            "link",
            "add",
            "name",
            &lab.if_a,
            "netns",
            &lab.ns_a,
            "numrxqueues",
            &q,
            "numtxqueues",
            &q,
            "type",
            "veth",
            "peer",
            "name",
            &lab.if_b,
            "netns",
            &lab.ns_b,
            "numrxqueues",
            &q,
            "numtxqueues",
            &q,
        ])?;
        let peer = format!("{}/24", lab.peer_ip());
        let kernel = format!("{}/24", lab.kernel_ip());
        lab.exec_b(&["ip", "addr", "add", &peer, "dev", &lab.if_b])?;
        lab.exec_a(&["ip", "addr", "add", &kernel, "dev", &lab.if_a])?;
        // The kernel would leave UDP/TCP checksums of frames it sends unfilled (CHECKSUM_PARTIAL
        // travels through a veth as is); a raw-frame receiver needs them computed.
        lab.exec_b(&["ethtool", "-K", &lab.if_b, "tx", "off"])?;
        lab.exec_a(&["ip", "link", "set", "lo", "up"])?;
        lab.exec_b(&["ip", "link", "set", "lo", "up"])?;
        lab.exec_a(&["ip", "link", "set", &lab.if_a, "up"])?;
        lab.exec_b(&["ip", "link", "set", &lab.if_b, "up"])?;
        Ok(lab)
    }

    /// The dataplane's address, 198.18.n.1.
    pub fn our_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.n, 1)
    }

    /// The peer kernel's address on `if_b`, 198.18.n.2.
    pub fn peer_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.n, 2)
    }

    /// The A-side kernel's own address on `if_a`, 198.18.n.3 (traffic the XDP program passes).
    pub fn kernel_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.n, 3)
    }

    /// Runs a command in namespace A.
    pub fn exec_a(&self, args: &[&str]) -> Result<Output, LabError> {
        let mut all = vec!["ip", "netns", "exec", &self.ns_a];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Runs a command in namespace B.
    pub fn exec_b(&self, args: &[&str]) -> Result<Output, LabError> {
        let mut all = vec!["ip", "netns", "exec", &self.ns_b];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Moves the calling thread into namespace A until the guard drops.
    pub fn enter(&self) -> Result<NetnsGuard, LabError> {
        NetnsGuard::enter(&self.ns_a)
    }
}

impl Drop for VethLab {
    fn drop(&mut self) {
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// The calling thread's stay in another network namespace; dropping it returns the thread.
#[derive(Debug)]
pub struct NetnsGuard {
    home: File,
}

impl NetnsGuard {
    /// Moves the calling thread into the named namespace (`/var/run/netns/<name>`).
    pub fn enter(name: &str) -> Result<NetnsGuard, LabError> {
        let home = File::open("/proc/thread-self/ns/net")
            .map_err(|e| LabError(format!("open own netns: {e}")))?;
        let target = File::open(format!("/var/run/netns/{name}"))
            .map_err(|e| LabError(format!("open netns {name}: {e}")))?;
        sys::setns_net(&target).map_err(|e| LabError(format!("setns({name}): {e}")))?;
        Ok(NetnsGuard { home })
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = sys::setns_net(&self.home);
    }
}
