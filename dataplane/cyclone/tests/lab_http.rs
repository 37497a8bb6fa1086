//! The HTTP server on Cyclone's own stack, on the in-memory link: a client stack sends
//! requests over TCP and checks the answers byte for byte.

use std::net::SocketAddrV4;
use std::sync::Arc;

use cyclone::app::client::HttpClient;
use cyclone::app::http::HttpService;
use cyclone::http::apps::{install_builtin, static_files::StaticFiles};
use cyclone::http::{Router, Server, ServerConfig};
use cyclone::lab::{Lab, LabConfig};
use cyclone::pmd::fault::FaultConfig;

struct Site {
    root: std::path::PathBuf,
}

impl Site {
    fn new(name: &str, files: &[(&str, &[u8])]) -> Site {
        let root =
            std::env::temp_dir().join(format!("cyclone-lab-http-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        for (file, data) in files {
            std::fs::write(root.join(file), data).unwrap();
        }
        Site { root }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn server(root: &std::path::Path) -> Arc<Server> {
    let mut router = Router::new();
    install_builtin(&mut router);
    router.mount("GET", "/", StaticFiles::new(root, "/").unwrap());
    Arc::new(Server::new(ServerConfig::default(), router))
}

/// Sends `request` on a new connection from host 0 and collects `expect` responses.
fn exchange(
    lab: &mut Lab,
    service: &mut HttpService,
    request: &[u8],
    expect: usize,
) -> Vec<(u16, Vec<u8>)> {
    let now = lab.now();
    let server = SocketAddrV4::new(lab.hosts[1].addr, 80);
    let local = SocketAddrV4::new(lab.hosts[0].addr, 0);
    let conn = lab.hosts[0]
        .iface
        .tcp_mut()
        .connect(now, local, server)
        .unwrap();
    let mut client = HttpClient::new(conn);
    client.send(request);
    let service_at = std::cell::Cell::new(None);
    lab.run_until(
        5_000_000,
        |lab| {
            service.poll(lab.now(), lab.hosts[1].iface.tcp_mut());
            service_at.set(service.poll_at());
            client.pump(lab.hosts[0].iface.tcp_mut()).unwrap_or(0) >= expect
        },
        |_| service_at.get(),
    )
    .expect("responses arrive");
    let _ = lab.hosts[0].iface.tcp_mut().close(conn);
    client
        .take_responses()
        .into_iter()
        .map(|r| (r.status, r.body))
        .collect()
}

fn lab_and_service(faults: FaultConfig, root: &std::path::Path) -> (Lab, HttpService) {
    let mut lab = Lab::new(LabConfig {
        faults,
        ..LabConfig::default()
    })
    .unwrap();
    let addr = SocketAddrV4::new(lab.hosts[1].addr, 80);
    let now = lab.now();
    let service =
        HttpService::new(lab.hosts[1].iface.tcp_mut(), addr, 64, server(root), now).unwrap();
    (lab, service)
}

#[test]
fn keep_alive_pipelining_echo_and_errors() {
    let site = Site::new("basic", &[("index.html", b"<h1>cyclone</h1>")]);
    let (mut lab, mut service) = lab_and_service(FaultConfig::default(), &site.root);

    let r = exchange(
        &mut lab,
        &mut service,
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        1,
    );
    assert_eq!(r, vec![(200, b"ok".to_vec())]);

    let ten: Vec<u8> = (0..10)
        .flat_map(|_| b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec())
        .collect();
    let r = exchange(&mut lab, &mut service, &ten, 10);
    assert_eq!(r.len(), 10);
    assert!(r.iter().all(|(s, b)| *s == 200 && b == b"<h1>cyclone</h1>"));

    let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut post = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    post.extend_from_slice(&body);
    let r = exchange(&mut lab, &mut service, &post, 1);
    assert_eq!(r, vec![(200, body)]);

    let r = exchange(
        &mut lab,
        &mut service,
        b"GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        1,
    );
    assert_eq!(r[0].0, 400);
    let r = exchange(&mut lab, &mut service, b"BLAH\r\n\r\n", 1);
    assert_eq!(r[0].0, 400);
    assert!(service.stats().accepted >= 5);
}

#[test]
fn a_large_static_file_arrives_byte_exact_through_a_lossy_link() {
    let file: Vec<u8> = (0..5_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let site = Site::new("big", &[("big.bin", &file)]);
    let faults = FaultConfig {
        drop: 0.02,
        reorder: 0.01,
        duplicate: 0.005,
        seed: 3,
        ..FaultConfig::default()
    };
    let (mut lab, mut service) = lab_and_service(faults, &site.root);
    let r = exchange(
        &mut lab,
        &mut service,
        b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n",
        1,
    );
    assert_eq!(r[0].0, 200);
    assert!(r[0].1 == file, "5 MB file byte-exact");
}
