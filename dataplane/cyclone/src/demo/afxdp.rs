//! `cyclone demo` on a real kernel: the dataplane serves one end of a veth pair through
//! AF_XDP, and the Linux kernel on the other end talks to it with its own tools.
//!
//! [`LabServer`] is the reusable part (the tests use it too): a throwaway
//! [`VethLab`] (two network namespaces, a veth pair, the kernel side's checksum offload off),
//! and `cyclone serve --backend afxdp` ([`crate::serve::afxdp::serve`]) running on a thread
//! that entered namespace A. Dropping it stops the server (the XDP program is detached) and
//! deletes the namespaces, also when a test panics.
//!
//! [`run`] is the demo: ping, an HTTP GET with curl, a 1 MiB upload to `/echo` compared byte
//! for byte, a short `wrk` run (a loop of curl requests without wrk), then the dataplane's
//! counters, each step's result printed as it happens.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cyclone_afxdp::lab::VethLab;
use cyclone_stack::iface::Ipv4Cidr;

use crate::config::{AppKind, Backend, ServeConfig};
use crate::metrics::{Metrics, XdpCounter};
use crate::runtime::ServeReport;
use crate::serve::CliError;

/// How long [`LabServer::start`] waits for every queue to be up.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the AF_XDP demo cannot run here, or `None` if it can: root, `ip`, `curl`.
pub fn unavailable() -> Option<String> {
    if let Some(why) = cyclone_afxdp::lab::skip_reason() {
        return Some(why);
    }
    if let Some(missing) = crate::serve::afxdp::missing_privileges() {
        return Some(format!("missing {missing}"));
    }
    if !has_tool("curl", "--version") {
        return Some("`curl` is not installed".to_string());
    }
    if !has_tool("ping", "-V") {
        return Some("`ping` (iputils-ping) is not installed".to_string());
    }
    None
}

/// Whether `tool` runs.
pub fn has_tool(tool: &str, arg: &str) -> bool {
    Command::new(tool)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `error: cause: cause` on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let _ = write!(s, ": {c}");
        src = c.source();
    }
    s
}

/// A veth lab with `cyclone serve --backend afxdp` on its A side (see the module docs).
#[derive(Debug)]
pub struct LabServer {
    /// The namespaces and the veth; the dataplane serves `lab.if_a` as `lab.our_ip()`.
    pub lab: VethLab,
    /// The settings served.
    pub config: ServeConfig,
    /// The live counters.
    pub metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<ServeReport, CliError>>>,
}

impl LabServer {
    /// Builds a lab whose veth has `queues` queues and serves `root` (static files, `/echo`,
    /// `/health`, `/metrics`) on port 80 with `queues` queue threads. Returns once every
    /// queue's socket is bound, or the server's error.
    pub fn start(queues: u16, root: &Path) -> Result<LabServer, String> {
        let lab = VethLab::new(queues).map_err(|e| format!("cannot build the veth lab: {e}"))?;
        let mut config = ServeConfig::memory(Ipv4Cidr {
            addr: lab.our_ip(),
            prefix_len: 24,
        });
        config.backend = Backend::Afxdp;
        config.iface = lab.if_a.clone();
        config.queues = queues;
        config.app = AppKind::Static;
        config.root = Some(root.to_path_buf());
        config.metrics = true;
        config.grace = Duration::from_millis(500);
        Self::start_in(lab, config)
    }

    /// Serves `config` in `lab` (namespace A).
    pub fn start_in(lab: VethLab, config: ServeConfig) -> Result<LabServer, String> {
        let metrics = Arc::new(Metrics::new(config.queues));
        let stop = Arc::new(AtomicBool::new(false));
        let ns = lab.ns_a.clone();
        let handle = {
            let (config, metrics, stop) = (config.clone(), Arc::clone(&metrics), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("cyclone-lab-serve".to_string())
                .spawn(move || {
                    // Network namespaces are per thread; the queue threads inherit this one.
                    let _netns = cyclone_afxdp::lab::NetnsGuard::enter(&ns).map_err(|e| {
                        CliError::AfXdp {
                            message: format!("cannot enter namespace {ns}: {e}"),
                            source: None,
                        }
                    })?;
                    crate::serve::afxdp::serve(&config, stop, metrics)
                })
                .map_err(|e| format!("cannot start the server thread: {e}"))?
        };
        let mut server = LabServer {
            lab,
            config,
            metrics,
            stop,
            handle: Some(handle),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if server.is_up() {
                return Ok(server);
            }
            if server.handle.as_ref().is_some_and(JoinHandle::is_finished)
                || Instant::now() > deadline
            {
                return Err(match server.stop() {
                    Err(e) => error_chain(&e),
                    Ok(_) => "the server did not come up in time".to_string(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether every queue published its socket counters (it is bound and serving).
    fn is_up(&self) -> bool {
        self.metrics.has_xdp()
            && self
                .metrics
                .queues()
                .iter()
                .all(|q| q.xdp(XdpCounter::FramesInKernel) > 0)
    }

    /// `http://<our ip>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "http://{}/{}",
            self.lab.our_ip(),
            path.trim_start_matches('/')
        )
    }

    /// Stops the server (graceful shutdown, XDP detached) and returns its report. The lab
    /// stays until `self` drops.
    pub fn stop(&mut self) -> Result<ServeReport, CliError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take() {
            Some(h) => h.join().unwrap_or_else(|_| {
                Err(CliError::AfXdp {
                    message: "the server thread panicked".to_string(),
                    source: None,
                })
            }),
            None => Err(CliError::AfXdp {
                message: "the server was already stopped".to_string(),
                source: None,
            }),
        }
    }
}

impl Drop for LabServer {
    fn drop(&mut self) {
        if self.handle.is_some() {
            let _ = self.stop();
        }
    }
}

/// A directory removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `<tmp>/<prefix>-<pid>-<n>`.
    pub fn new(prefix: &str) -> std::io::Result<TempDir> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }

    /// A path inside.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `len` pseudo-random bytes (xorshift; the same `seed` gives the same bytes).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

const INDEX: &str = "<!doctype html><title>Cyclone</title><p>Hello from Cyclone over AF_XDP.</p>\n";
const UPLOAD_LEN: usize = 1 << 20;

/// Runs the demo (see the module docs); `Err` says which step failed.
pub fn run() -> Result<(), String> {
    let started = Instant::now();
    let dir = TempDir::new("cyclone-demo").map_err(|e| format!("temp dir: {e}"))?;
    let root = dir.join("www");
    std::fs::create_dir_all(&root).map_err(|e| format!("temp dir: {e}"))?;
    std::fs::write(root.join("index.html"), INDEX).map_err(|e| format!("write: {e}"))?;
    let upload = random_bytes(UPLOAD_LEN, 0x5eed);
    let upload_path = dir.join("upload.bin");
    std::fs::write(&upload_path, &upload).map_err(|e| format!("write: {e}"))?;
    let echoed_path = dir.join("echoed.bin");

    let mut server = LabServer::start(1, &root)?;
    let (lab, ip) = (&server.lab, server.lab.our_ip());
    println!("cyclone demo: Cyclone serving over AF_XDP, the Linux kernel as its client");
    println!(
        "  lab: namespaces {} (Cyclone on {}, {ip}/24) and {} (kernel on {}, {}/24), one veth \
         pair; tx checksum offload off on {} (veth would pass unfilled checksums)",
        lab.ns_a,
        lab.if_a,
        lab.ns_b,
        lab.if_b,
        lab.peer_ip(),
        lab.if_b
    );
    println!(
        "  dataplane: cyclone serve --backend afxdp --iface {} --ip {ip}/24 --app static --root {} \
         (XDP program `cyclone_steer` steers ARP/IPv4 for {ip} to the AF_XDP socket)",
        lab.if_a,
        root.display()
    );

    // 1. ping
    let ip_s = ip.to_string();
    let out = lab
        .exec_b(&["ping", "-c", "3", "-i", "0.2", "-W", "2", &ip_s])
        .map_err(|e| format!("ping failed: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text
        .lines()
        .filter(|l| l.contains("transmitted") || l.starts_with("rtt"))
        .collect::<Vec<_>>()
        .join("; ");
    println!("  [1] ping -c 3 {ip}: {summary}");

    // 2. curl GET
    let url = server.url("index.html");
    let out = lab
        .exec_b(&[
            "curl",
            "-sS",
            "-m",
            "5",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_download}",
            &url,
        ])
        .map_err(|e| format!("curl GET failed: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let status = text.lines().next().unwrap_or("").trim();
    let body = lab
        .exec_b(&["curl", "-sS", "-m", "5", &url])
        .map_err(|e| format!("curl GET failed: {e}"))?
        .stdout;
    let size = text
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    if body != INDEX.as_bytes() {
        return Err(format!(
            "GET {url} returned a different body ({} bytes)",
            body.len()
        ));
    }
    println!("  [2] curl {url}: {status}, {size} bytes, body matches the file");

    // 3. upload, byte for byte
    let t = Instant::now();
    let data_arg = format!("@{}", upload_path.display());
    let echoed_s = echoed_path.display().to_string();
    lab.exec_b(&[
        "curl",
        "-sS",
        "-m",
        "20",
        "--fail",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &data_arg,
        "-o",
        &echoed_s,
        &server.url("echo"),
    ])
    .map_err(|e| format!("curl POST /echo failed: {e}"))?;
    let took = t.elapsed();
    let echoed = std::fs::read(&echoed_path).map_err(|e| format!("read echo: {e}"))?;
    let same = echoed == upload;
    println!(
        "  [3] curl --data-binary @upload.bin {} ({} bytes): {} bytes back in {:.0} ms, {} (cmp)",
        server.url("echo"),
        upload.len(),
        echoed.len(),
        took.as_secs_f64() * 1e3,
        if same {
            "byte-for-byte identical"
        } else {
            "DIFFERENT"
        }
    );
    if !same {
        return Err("the echoed upload differs from what was sent".to_string());
    }

    // 4. load
    if has_tool("wrk", "--version") || Command::new("wrk").output().is_ok() {
        let out = lab
            .exec_b(&["wrk", "-t1", "-c16", "-d2s", "--latency", &url])
            .map_err(|e| format!("wrk failed: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let pick = |key: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(key))
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        };
        let errors = text
            .lines()
            .filter(|l| l.contains("Socket errors") || l.contains("Non-2xx"))
            .map(str::trim)
            .collect::<Vec<_>>()
            .join("; ");
        println!(
            "  [4] wrk -t1 -c16 -d2s {url}: {} | {} | latency {} | {} | {}",
            pick("Requests/sec"),
            pick("Transfer/sec"),
            pick("Latency"),
            pick("50%"),
            if errors.is_empty() {
                "no socket errors"
            } else {
                &errors
            }
        );
    } else {
        let urls: Vec<String> = (0..200).map(|_| url.clone()).collect();
        let mut args = vec![
            "curl",
            "-sS",
            "-m",
            "20",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}\n",
        ];
        args.extend(urls.iter().map(String::as_str));
        let t = Instant::now();
        let out = lab
            .exec_b(&args)
            .map_err(|e| format!("curl loop failed: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let ok = text.lines().filter(|l| *l == "200").count();
        println!(
            "  [4] wrk is not installed: 200 keep-alive GETs with curl: {ok} × 200 OK in {:.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
    }

    // 5. counters, then shut down
    std::thread::sleep(Duration::from_millis(150));
    let m = &server.metrics;
    let t = m.totals();
    println!(
        "  [5] dataplane counters: rx {} frames, tx {} frames, {} HTTP requests, {} drops",
        t.rx_packets, t.tx_packets, t.requests, t.drops
    );
    for (i, q) in m.queues().iter().enumerate() {
        println!(
            "      queue {i}: XDP redirected {} to the socket, passed {} to the kernel; socket: \
             rx ring full {}, fill ring empty {}, frames lent to the kernel {}",
            q.xdp(XdpCounter::Redirected),
            q.xdp(XdpCounter::Passed),
            q.xdp(XdpCounter::RxRingFull),
            q.xdp(XdpCounter::FillRingEmpty),
            q.xdp(XdpCounter::FramesInKernel),
        );
    }
    let report = server.stop().map_err(|e| error_chain(&e))?;
    let ns_a = server.lab.ns_a.clone();
    let xdp_left = server
        .lab
        .exec_a(&["ip", "link", "show", "dev", &server.lab.if_a])
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("prog/xdp"))
        .unwrap_or(false);
    drop(server);
    println!(
        "  [6] shutdown: {} connections served, {} reset at the end; XDP program {}; lab {} and \
         its peer deleted; {:.1} s in all",
        report.queues.iter().map(|q| q.accepted).sum::<u64>(),
        report.aborted_at_shutdown(),
        if xdp_left {
            "STILL ATTACHED"
        } else {
            "detached"
        },
        ns_a,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
