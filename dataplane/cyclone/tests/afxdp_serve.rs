//! `cyclone serve --backend afxdp` against the Linux kernel, each test in a throwaway pair of
//! network namespaces joined by a veth (`cyclone::demo::afxdp::LabServer`, built on
//! `cyclone_afxdp::lab::VethLab`; the kernel side's tx checksum offload is off, addresses from
//! 198.18.0.0/15; the namespaces are deleted on drop, also when a test panics).
//!
//! Needs the `afxdp` feature and root: `cargo test -p cyclone --features afxdp`. Elsewhere each
//! test prints `SKIP: <what is missing>` and passes. The tests take a process-wide lock so the
//! traffic of one runs at a time (2 shared cores).
#![cfg(feature = "afxdp")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cyclone::demo::afxdp::{random_bytes, LabServer, TempDir};
use cyclone::metrics::{Counter, XdpCounter};
use cyclone_afxdp::lab::{NetnsGuard, VethLab};
use sha2::{Digest, Sha256};

const BIG: usize = 20 * 1000 * 1000;
const INDEX: &[u8] = b"hello from cyclone\n";

static SERIAL: Mutex<()> = Mutex::new(());

/// The lock, or `None` (after printing SKIP) when these tests cannot run here.
fn setup(test: &str) -> Option<MutexGuard<'static, ()>> {
    if let Some(why) = cyclone::demo::afxdp_unavailable() {
        println!("SKIP {test}: {why}");
        return None;
    }
    Some(SERIAL.lock().unwrap_or_else(|e| e.into_inner()))
}

/// A static root with `index.html` and, if `big`, a 20 MB `big.bin`.
fn root(big: bool) -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new("cyclone-afxdp-test").expect("temp dir");
    let root = dir.join("www");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("index.html"), INDEX).unwrap();
    if big {
        std::fs::write(root.join("big.bin"), random_bytes(BIG, 42)).unwrap();
    }
    (dir, root)
}

fn sha256_file(path: &Path) -> [u8; 32] {
    Sha256::digest(std::fs::read(path).expect("read")).into()
}

fn has_xdp(lab: &VethLab) -> bool {
    lab.exec_a(&["ip", "link", "show", "dev", &lab.if_a])
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("prog/xdp"))
        .expect("ip link show")
}

/// Runs `f` on a thread inside namespace B (sockets it creates belong to the kernel peer).
fn in_peer<T: Send>(lab: &VethLab, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let _ns = NetnsGuard::enter(&lab.ns_b).expect("enter peer namespace");
            f()
        })
        .join()
        .expect("peer thread")
    })
}

/// Reads one HTTP/1.1 response (status line, headers, Content-Length body): (status, body).
fn read_response(r: &mut BufReader<TcpStream>) -> std::io::Result<(u16, Vec<u8>)> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed",
        ));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut len = 0usize;
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok((status, body))
}

#[test]
fn the_kernel_pings_the_dataplane() {
    let Some(_lock) = setup("the_kernel_pings_the_dataplane") else {
        return;
    };
    let (_dir, root) = root(false);
    let mut server = LabServer::start(1, &root).expect("server");
    let ip = server.lab.our_ip().to_string();
    let out = server
        .lab
        .exec_b(&["ping", "-c", "3", "-i", "0.2", "-W", "2", &ip])
        .expect("ping");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3 received"), "{text}");
    let report = server.stop().expect("clean stop");
    assert_eq!(report.totals.drops, 0);
}

#[test]
fn curl_get_of_20_mb_is_byte_exact() {
    let Some(_lock) = setup("curl_get_of_20_mb_is_byte_exact") else {
        return;
    };
    let (dir, root) = root(true);
    let server = LabServer::start(1, &root).expect("server");
    let got = dir.join("got.bin");
    let got_s = got.display().to_string();
    let out = server
        .lab
        .exec_b(&[
            "curl",
            "-sS",
            "--fail",
            "-m",
            "60",
            "-o",
            &got_s,
            "-w",
            "%{http_code} %{size_download}",
            &server.url("big.bin"),
        ])
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("200 {BIG}"));
    assert_eq!(
        sha256_file(&got),
        sha256_file(&root.join("big.bin")),
        "sha256 differs"
    );
}

#[test]
fn curl_post_of_20_mb_to_echo_is_byte_exact() {
    let Some(_lock) = setup("curl_post_of_20_mb_to_echo_is_byte_exact") else {
        return;
    };
    let (dir, root) = root(true);
    let server = LabServer::start(1, &root).expect("server");
    let got = dir.join("echoed.bin");
    let got_s = got.display().to_string();
    let data = format!("@{}", root.join("big.bin").display());
    let out = server
        .lab
        .exec_b(&[
            "curl",
            "-sS",
            "--fail",
            "-m",
            "60",
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
            &data,
            "-o",
            &got_s,
            "-w",
            "%{http_code} %{size_upload} %{size_download}",
            &server.url("echo"),
        ])
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("200 {BIG} {BIG}")
    );
    assert_eq!(
        sha256_file(&got),
        sha256_file(&root.join("big.bin")),
        "sha256 differs"
    );
}

#[test]
fn five_hundred_keep_alive_connections_with_several_requests_each() {
    let Some(_lock) = setup("five_hundred_keep_alive_connections") else {
        return;
    };
    let (_dir, root) = root(false);
    let server = LabServer::start(1, &root).expect("server");
    const CONNS: usize = 500;
    const ROUNDS: usize = 4;
    let addr = SocketAddrV4::new(server.lab.our_ip(), 80);
    let served = in_peer(&server.lab, || {
        let mut conns: Vec<BufReader<TcpStream>> = (0..CONNS)
            .map(|i| {
                let s = TcpStream::connect_timeout(&addr.into(), Duration::from_secs(10))
                    .unwrap_or_else(|e| panic!("connection {i}: {e}"));
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.set_nodelay(true).unwrap();
                BufReader::new(s)
            })
            .collect();
        let mut ok = 0;
        for round in 0..ROUNDS {
            for c in &mut conns {
                c.get_mut()
                    .write_all(b"GET /index.html HTTP/1.1\r\nHost: lab\r\n\r\n")
                    .unwrap();
            }
            for (i, c) in conns.iter_mut().enumerate() {
                let (status, body) = read_response(c)
                    .unwrap_or_else(|e| panic!("round {round}, connection {i}: {e}"));
                assert_eq!((status, body.as_slice()), (200, INDEX));
                ok += 1;
            }
        }
        ok
    });
    assert_eq!(served, CONNS * ROUNDS);
    let q = &server.metrics.queues()[0];
    std::thread::sleep(Duration::from_millis(50));
    assert!(q.get(Counter::TcpAccepted) >= CONNS as u64);
    assert!(q.get(Counter::HttpRequests) >= (CONNS * ROUNDS) as u64);
}

#[test]
fn wrk_for_5_s_has_no_socket_errors() {
    let Some(_lock) = setup("wrk_for_5_s_has_no_socket_errors") else {
        return;
    };
    if !cyclone::demo::afxdp::has_tool("wrk", "--version") && Command::new("wrk").output().is_err()
    {
        println!("SKIP wrk_for_5_s_has_no_socket_errors: wrk is not installed");
        return;
    }
    let (_dir, root) = root(false);
    let mut server = LabServer::start(1, &root).expect("server");
    let out = server
        .lab
        .exec_b(&["wrk", "-t1", "-c64", "-d5s", &server.url("index.html")])
        .expect("wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Socket errors"), "{text}");
    assert!(!text.contains("Non-2xx"), "{text}");
    let requests: u64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in {text}"));
    assert!(requests > 1000, "{text}");
    let report = server.stop().expect("clean stop");
    assert_eq!(report.aborted_at_shutdown(), 0);
}

#[test]
fn a_two_queue_port_serves_connections_on_both_queues() {
    let Some(_lock) = setup("a_two_queue_port_serves_connections_on_both_queues") else {
        return;
    };
    let (_dir, root) = root(false);
    let server = LabServer::start(2, &root).expect("server");
    let addr = SocketAddrV4::new(server.lab.our_ip(), 80);
    in_peer(&server.lab, || {
        for i in 0..64 {
            let s = TcpStream::connect_timeout(&addr.into(), Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("connection {i}: {e}"));
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut r = BufReader::new(s);
            for _ in 0..2 {
                r.get_mut()
                    .write_all(b"GET /index.html HTTP/1.1\r\nHost: lab\r\n\r\n")
                    .unwrap();
                let (status, body) = read_response(&mut r).expect("response");
                assert_eq!((status, body.as_slice()), (200, INDEX));
            }
        }
    });
    std::thread::sleep(Duration::from_millis(250));
    for (i, q) in server.metrics.queues().iter().enumerate() {
        let (redirected, requests) = (q.xdp(XdpCounter::Redirected), q.get(Counter::HttpRequests));
        println!("queue {i}: {redirected} frames redirected, {requests} requests");
        assert!(redirected > 0 && requests > 0, "queue {i} served nothing");
    }
    let total: u64 = server
        .metrics
        .queues()
        .iter()
        .map(|q| q.get(Counter::HttpRequests))
        .sum();
    assert_eq!(total, 128);
    let prom = server.metrics.render_prometheus();
    assert!(prom.contains("cyclone_xdp_redirected_total{queue=\"1\"}"));
    assert!(prom.contains("cyclone_xsk_rx_ring_full_total{queue=\"0\"} 0"));
}

#[test]
fn malformed_requests_are_answered_with_4xx_and_the_connection_closed() {
    let Some(_lock) = setup("malformed_requests") else {
        return;
    };
    let (_dir, root) = root(false);
    let server = LabServer::start(1, &root).expect("server");
    let addr = SocketAddrV4::new(server.lab.our_ip(), 80);
    let long_header = format!(
        "GET / HTTP/1.1\r\nHost: lab\r\nX-Long: {}\r\n\r\n",
        "a".repeat(9000)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("garbage request line", b"HELLO THERE\r\n\r\n".to_vec(), 400),
        (
            "bad version",
            b"GET / HTTP/9\r\nHost: lab\r\n\r\n".to_vec(),
            400,
        ),
        (
            "bad content-length",
            b"POST /echo HTTP/1.1\r\nHost: lab\r\nContent-Length: abc\r\n\r\n".to_vec(),
            400,
        ),
        ("head over 8 KiB", long_header.into_bytes(), 431),
        (
            "unknown transfer coding",
            b"POST /echo HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(),
            501,
        ),
    ];
    in_peer(&server.lab, || {
        for (name, request, want) in &cases {
            let mut s =
                TcpStream::connect_timeout(&addr.into(), Duration::from_secs(10)).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(request).unwrap();
            let mut all = Vec::new();
            // read_to_end returns only once the server closed the connection.
            let r = s.read_to_end(&mut all);
            let text = String::from_utf8_lossy(&all);
            assert!(
                r.is_ok(),
                "{name}: connection not closed: {r:?}; got {text}"
            );
            let status: u16 = text
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            assert_eq!(status, *want, "{name}: {text}");
            assert!(
                text.to_ascii_lowercase().contains("connection: close"),
                "{name}: {text}"
            );
        }
    });
    std::thread::sleep(Duration::from_millis(50));
    assert!(server.metrics.queues()[0].get(Counter::HttpProtocolErrors) >= cases.len() as u64);
}

#[test]
fn the_xdp_program_is_gone_after_a_graceful_shutdown() {
    let Some(_lock) = setup("the_xdp_program_is_gone_after_a_graceful_shutdown") else {
        return;
    };
    let (_dir, root) = root(false);
    let mut server = LabServer::start(1, &root).expect("server");
    assert!(has_xdp(&server.lab), "attached while serving");
    server.stop().expect("clean stop");
    assert!(!has_xdp(&server.lab), "detached after stop");

    // The command's own path: SIGTERM → graceful shutdown → exit 0, program detached.
    let mut child = spawn_child(&server.lab, &root);
    wait_serving(&server.lab, &mut child);
    assert!(has_xdp(&server.lab));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = wait_exit(&mut child);
    assert!(status.success(), "SIGTERM exit: {status:?}");
    assert!(!has_xdp(&server.lab), "detached after SIGTERM");
}

#[test]
fn kill_9_leaves_no_program_and_a_restart_serves() {
    let Some(_lock) = setup("kill_9_leaves_no_program_and_a_restart_serves") else {
        return;
    };
    let (_dir, root) = root(false);
    let lab = VethLab::new(1).expect("lab");
    let mut child = spawn_child(&lab, &root);
    wait_serving(&lab, &mut child);
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    // The BPF link goes with the process's last fd.
    let deadline = Instant::now() + Duration::from_secs(5);
    while has_xdp(&lab) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!has_xdp(&lab), "program left behind after SIGKILL");
    let mut again = spawn_child(&lab, &root);
    wait_serving(&lab, &mut again);
    let url = format!("http://{}/index.html", lab.our_ip());
    let out = lab
        .exec_b(&["curl", "-sS", "--fail", "-m", "5", &url])
        .expect("curl after restart");
    assert_eq!(out.stdout, INDEX);
    Command::new("kill")
        .args(["-TERM", &again.id().to_string()])
        .status()
        .unwrap();
    assert!(wait_exit(&mut again).success());
    assert!(!has_xdp(&lab));
}

/// Guards a child server: killed if the test fails before it exits.
struct ChildGuard(Child);
impl std::ops::Deref for ChildGuard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}
impl std::ops::DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}
impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// This test binary again, as `cyclone serve --backend afxdp` in namespace A (`child_server`).
fn spawn_child(lab: &VethLab, root: &Path) -> ChildGuard {
    let exe = std::env::current_exe().unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", &lab.ns_a])
        .arg(exe)
        .args([
            "--exact",
            "child_server",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CYCLONE_TEST_CHILD", "1")
        .env("CYCLONE_IFACE", &lab.if_a)
        .env("CYCLONE_IP", format!("{}/24", lab.our_ip()))
        .env("CYCLONE_ROOT", root)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child server");
    ChildGuard(child)
}

fn wait_serving(lab: &VethLab, child: &mut ChildGuard) {
    let url = format!("http://{}/index.html", lab.our_ip());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("child server exited: {status:?}");
        }
        if lab
            .exec_b(&["curl", "-sS", "--fail", "-m", "1", &url])
            .is_ok_and(|o| o.stdout == INDEX)
        {
            return;
        }
        assert!(Instant::now() < deadline, "child server not serving");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_exit(child: &mut ChildGuard) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "child did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Not a test: the child process of the two tests above (the real `cyclone serve` code path,
/// signals included), run only when `CYCLONE_TEST_CHILD` is set.
#[test]
#[ignore = "child process of the kill/restart tests"]
fn child_server() {
    if std::env::var_os("CYCLONE_TEST_CHILD").is_none() {
        return;
    }
    let args = cyclone::config::ServeArgs {
        backend: Some("afxdp".to_string()),
        app: Some("static".to_string()),
        grace_ms: Some(300),
        ..Default::default()
    };
    // iface, ip and root come from CYCLONE_IFACE / CYCLONE_IP / CYCLONE_ROOT.
    let args = cyclone::config::ServeArgs {
        iface: std::env::var("CYCLONE_IFACE").ok(),
        ip: std::env::var("CYCLONE_IP").ok(),
        root: std::env::var_os("CYCLONE_ROOT").map(Into::into),
        ..args
    };
    if let Err(e) = cyclone::serve::run(&args) {
        eprintln!("child server: {}", cyclone::demo::afxdp::error_chain(&e));
        std::process::exit(1);
    }
}
