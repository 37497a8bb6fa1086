//! The Linux kernel talks to `cyclone serve --backend dpdk` over a veth: a throwaway network
//! namespace holds one end (198.18.8.2/24, TX checksum offload off so the kernel fills its
//! checksums), the other end stays in the root namespace under DPDK's `net_af_packet` port,
//! which the built `cyclone` binary serves 198.18.8.1/24 on (`--app static`). The kernel pings
//! Cyclone, `curl` fetches a 20 MB file byte-exact (SHA-256), and SIGTERM stops the server
//! cleanly (exit status 0, its report printed). A guard kills the server and removes the
//! namespace and the veth even when the test panics.
//!
//! Runs as root with `ip`, `ethtool`, `ping`, `curl` and the `net_af_packet` plugin; prints
//! `SKIP: ...` and passes otherwise.

#![cfg(feature = "dpdk")]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const SERVER_IP: &str = "198.18.8.1";
const KERNEL_IP: &str = "198.18.8.2";

fn run(cmd: &str, args: &[&str]) -> Result<Output, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{cmd} {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The namespace, the veth pair, the served directory and the server process: all removed
/// (the server killed) on drop.
struct Lab {
    ns: String,
    dpdk_if: String,
    root: PathBuf,
    server: Option<Child>,
}

impl Lab {
    fn new() -> Result<Lab, String> {
        let pid = std::process::id() % 1_000_000;
        let root = std::env::temp_dir().join(format!("cyclone-dpdk-serve-{pid}"));
        let lab = Lab {
            ns: format!("cyc-srv-{pid}"),
            dpdk_if: format!("cyd{pid}"),
            root,
            server: None,
        };
        let peer = format!("cye{pid}");
        std::fs::create_dir_all(&lab.root).map_err(|e| e.to_string())?;
        run("ip", &["netns", "add", &lab.ns])?;
        run(
            "ip",
            &[
                "link",
                "add",
                &lab.dpdk_if,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
            ],
        )?;
        run("ip", &["link", "set", &peer, "netns", &lab.ns])?;
        let cidr = format!("{KERNEL_IP}/24");
        run("ip", &["-n", &lab.ns, "addr", "add", &cidr, "dev", &peer])?;
        // A veth hands frames on with their checksums unfilled unless TX checksumming is off.
        run(
            "ip",
            &[
                "netns", "exec", &lab.ns, "ethtool", "-K", &peer, "tx", "off",
            ],
        )?;
        run("ip", &["-n", &lab.ns, "link", "set", &peer, "up"])?;
        run("ip", &["-n", &lab.ns, "link", "set", "lo", "up"])?;
        run("ip", &["link", "set", &lab.dpdk_if, "up"])?;
        Ok(lab)
    }

    /// A command run by the kernel side, in the namespace.
    fn in_ns(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).args(args);
        c
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = run("ip", &["link", "del", &self.dpdk_if]);
        let _ = run("ip", &["netns", "del", &self.ns]);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Why this machine cannot run the test, if it cannot.
fn skip_reason() -> Option<String> {
    if let Some(why) = cyclone_dpdk::env::skip_reason(&["net_af_packet"]) {
        return Some(why);
    }
    for (tool, package) in [
        ("ip", "iproute2"),
        ("ethtool", "ethtool"),
        ("ping", "iputils-ping"),
        ("curl", "curl"),
    ] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            return Some(format!("`{tool}` is missing (apt-get install {package})"));
        }
    }
    None
}

#[test]
fn the_kernel_pings_cyclone_and_curl_fetches_a_file_over_dpdk_af_packet() {
    if let Some(why) = skip_reason() {
        println!("SKIP: {why}");
        return;
    }
    let mut lab = match Lab::new() {
        Ok(lab) => lab,
        Err(e) => {
            println!("SKIP: cannot build the veth lab: {e}");
            return;
        }
    };
    let file: Vec<u8> = (0..20u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(lab.root.join("file"), &file).expect("write the served file");
    let want = Sha256::digest(&file);

    let dpdk_args = format!("-l 0 --no-pci --vdev net_af_packet0,iface={}", lab.dpdk_if);
    let ip = format!("{SERVER_IP}/24");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cyclone"))
        .args(["serve", "--backend", "dpdk", "--dpdk-args"])
        .arg(&dpdk_args)
        .args(["--iface", "net_af_packet0", "--ip", &ip, "--app", "static"])
        .arg("--root")
        .arg(&lab.root)
        .env_remove("CYCLONE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cyclone runs");
    let stderr = child.stderr.take().expect("stderr");
    let mut stdout = child.stdout.take().expect("stdout");
    lab.server = Some(child);
    // Collect the server's stderr; wait for the line that says the port is open.
    let log = Arc::new(Mutex::new(String::new()));
    {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
                l.push_str(&line);
                l.push('\n');
            }
        });
    }
    let log_text = || log.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log_text().contains("DPDK port") {
        let exited = lab
            .server
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        assert!(
            exited.is_none(),
            "cyclone serve exited ({exited:?}):\n{}",
            log_text()
        );
        assert!(
            Instant::now() < deadline,
            "the port did not open:\n{}",
            log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The kernel pings Cyclone (ARP first, then ICMP echo).
    let ping = lab
        .in_ns(&["ping", "-c", "3", "-i", "0.2", "-W", "2", SERVER_IP])
        .output()
        .expect("ping runs");
    assert!(
        ping.status.success(),
        "ping failed:\n{}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&ping.stdout),
        String::from_utf8_lossy(&ping.stderr),
        log_text()
    );
    println!("{}", String::from_utf8_lossy(&ping.stdout).trim());

    // curl fetches the 20 MB file over Cyclone's TCP and HTTP.
    let out_file = lab.root.join("fetched");
    let url = format!("http://{SERVER_IP}/file");
    let started = Instant::now();
    let curl = lab
        .in_ns(&["curl", "-sS", "--max-time", "10", "-o"])
        .arg(&out_file)
        .arg(&url)
        .output()
        .expect("curl runs");
    let took = started.elapsed();
    assert!(
        curl.status.success(),
        "curl failed: {}\nserver:\n{}",
        String::from_utf8_lossy(&curl.stderr),
        log_text()
    );
    let fetched = std::fs::read(&out_file).expect("the fetched file");
    assert_eq!(fetched.len(), file.len(), "length of the fetched file");
    assert!(
        Sha256::digest(&fetched) == want,
        "SHA-256 of the fetched file"
    );
    println!(
        "curl fetched {} MB in {:.2} s ({:.0} Mbit/s)",
        fetched.len() >> 20,
        took.as_secs_f64(),
        fetched.len() as f64 * 8.0 / took.as_secs_f64() / 1e6
    );

    // SIGTERM: a clean shutdown, exit status 0, the report on stdout.
    let mut child = lab.server.take().expect("the server");
    run("kill", &["-TERM", &child.id().to_string()]).expect("kill -TERM");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cyclone serve did not stop on SIGTERM:\n{}", log_text());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut report = String::new();
    let _ = stdout.read_to_string(&mut report);
    println!("{}", report.trim());
    assert!(status.success(), "exit status {status}:\n{}", log_text());
    assert!(report.contains("served"), "the report: {report}");
    drop(lab);
}
