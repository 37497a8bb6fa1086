//! The static-file application through a `Connection`: no path leaves the root, a 50 MB file
//! streams byte-exact through a small window without being held in memory, validators (304),
//! ranges (206/416), index.html and content types.

mod common;

use std::fs;

use common::*;
use cyclone_http::apps::static_files::StaticFiles;
use cyclone_http::{Connection, Router, Timestamp, FILE_CHUNK};

/// `<tmp>/secret.txt` next to `<tmp>/root/` holding `index.html`, `a.txt`, `sub/b.css` and
/// symlinks inside and out.
struct Site {
    dir: TempDir,
}

const SECRET: &[u8] = b"TOP-SECRET-CONTENT";

impl Site {
    fn new() -> Site {
        let dir = TempDir::new("static");
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(dir.path().join("secret.txt"), SECRET).unwrap();
        fs::write(root.join("index.html"), b"<h1>home</h1>").unwrap();
        fs::write(root.join("a.txt"), b"0123456789abcdefghij").unwrap();
        fs::write(root.join("sub/b.css"), b"body{}").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("escape")).unwrap();
            std::os::unix::fs::symlink(dir.path(), root.join("updir")).unwrap();
            std::os::unix::fs::symlink(root.join("a.txt"), root.join("inside")).unwrap();
        }
        Site { dir }
    }

    fn client(&self) -> Client {
        let mut router = builtin_router();
        let files = StaticFiles::new(self.dir.path().join("root"), "/").unwrap();
        router.mount("GET", "/", files);
        Client::new(server_with(config(), router))
    }

    fn get(&self, target: &str, extra: &str) -> Resp {
        let mut c = self.client();
        let req = format!("GET {target} HTTP/1.1\r\nHost: t\r\n{extra}\r\n");
        one_response(&c.exchange(req.as_bytes()))
    }
}

#[test]
fn path_traversal_never_reads_outside_the_root() {
    let site = Site::new();
    let nasty: &[(&str, &[u16])] = &[
        ("/../secret.txt", &[400]),
        ("/..%2fsecret.txt", &[400]),
        ("/%2e%2e/secret.txt", &[400]),
        ("/%2E%2e/secret.txt", &[400]),
        ("/%2e%2e%2fsecret.txt", &[400]),
        ("/sub/../../secret.txt", &[400]),
        ("/sub/%2e%2e/%2e%2e/secret.txt", &[400]),
        ("/./a.txt", &[400]),
        ("/..\\secret.txt", &[400]),
        ("/%5c..%5csecret.txt", &[400]),
        ("/a.txt%00.html", &[400]),
        ("/%00", &[400]),
        ("/%c0%ae%c0%ae/secret.txt", &[400]),
        ("/%", &[400]),
        ("/%zz", &[400]),
        ("//etc/passwd", &[404]),
        (
            &format!("/{}", site.dir.path().join("secret.txt").display()),
            &[404],
        ),
        ("http://t/../secret.txt", &[400]),
        ("/escape", &[403]),
        ("/updir/secret.txt", &[403]),
        ("/updir/root/a.txt", &[200]), // back inside the root through the parent: allowed
        ("/....//secret.txt", &[404]),
    ];
    for &(target, allowed) in nasty {
        let r = site.get(target, "");
        assert!(allowed.contains(&r.status), "{target}: got {}", r.status);
        assert!(
            !r.body.windows(SECRET.len()).any(|w| w == SECRET),
            "{target} leaked the secret"
        );
    }
}

#[test]
fn serves_files_index_and_content_types() {
    let site = Site::new();
    let r = site.get("/", "");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"<h1>home</h1>"[..]));
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    let r = site.get("/sub/b.css", "");
    assert_eq!(r.header("Content-Type"), Some("text/css; charset=utf-8"));
    let r = site.get("/%61.txt?v=1", "");
    assert_eq!(r.body, b"0123456789abcdefghij");
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    assert_eq!(site.get("/inside", "").status, 200);
    assert_eq!(site.get("/nothing.txt", "").status, 404);
    assert_eq!(site.get("/sub/", "").status, 404, "no index.html in sub/");
    // /health is an exact route and wins over the "/" mount.
    assert_eq!(site.get("/health", "").body, b"ok");
}

#[test]
fn etag_and_last_modified_give_304() {
    let site = Site::new();
    let r = site.get("/a.txt", "");
    let etag = r.header("ETag").unwrap().to_string();
    let lm = r.header("Last-Modified").unwrap().to_string();
    let r = site.get("/a.txt", &format!("If-None-Match: \"x\", {etag}\r\n"));
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("ETag"), Some(etag.as_str()));
    assert_eq!(
        site.get("/a.txt", "If-None-Match: \"other\"\r\n").status,
        200
    );
    assert_eq!(
        site.get("/a.txt", &format!("If-Modified-Since: {lm}\r\n"))
            .status,
        304
    );
    assert_eq!(
        site.get(
            "/a.txt",
            "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
        )
        .status,
        200
    );
    // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
    let both = format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {lm}\r\n");
    assert_eq!(site.get("/a.txt", &both).status, 200);
}

#[test]
fn ranges_give_206_and_416() {
    let site = Site::new();
    let r = site.get("/a.txt", "Range: bytes=2-5\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, b"2345");
    assert_eq!(r.header("Content-Range"), Some("bytes 2-5/20"));
    let r = site.get("/a.txt", "Range: bytes=-3\r\n");
    assert_eq!((r.status, r.body.as_slice()), (206, &b"hij"[..]));
    let r = site.get("/a.txt", "Range: bytes=15-\r\n");
    assert_eq!((r.status, r.body.as_slice()), (206, &b"fghij"[..]));
    let r = site.get("/a.txt", "Range: bytes=20-30\r\n");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some("bytes */20"));
    assert_eq!(site.get("/a.txt", "Range: bytes=0-1,4-5\r\n").status, 200);
    let etag = site.get("/a.txt", "").header("ETag").unwrap().to_string();
    let r = site.get(
        "/a.txt",
        &format!("Range: bytes=0-0\r\nIf-Range: {etag}\r\n"),
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &b"0"[..]));
    let r = site.get("/a.txt", "Range: bytes=0-0\r\nIf-Range: \"stale\"\r\n");
    assert_eq!(r.status, 200);
}

#[test]
fn head_of_a_file_sends_no_body() {
    let site = Site::new();
    let mut c = site.client();
    let out = c.exchange(b"HEAD /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = &parse_responses_with(&out, &[true])[0];
    assert_eq!(r.header("Content-Length"), Some("20"));
    assert!(out.ends_with(b"\r\n\r\n"));
}

#[test]
fn fifty_megabyte_file_streams_through_a_small_window() {
    const SIZE: usize = 50 * 1000 * 1000;
    const WINDOW: usize = 64 * 1024;
    let dir = TempDir::new("big");
    let data = pattern(SIZE, 0x5eed);
    fs::write(dir.path().join("big.bin"), &data).unwrap();
    let mut router = Router::new();
    router.mount("GET", "/", StaticFiles::new(dir.path(), "/").unwrap());
    let server = server_with(config(), router);
    let mut conn = Connection::new(server, Timestamp::from_millis(1));
    let now = Timestamp::from_millis(2);
    let req = b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_eq!(conn.on_recv(now, req), req.len());

    let mut received = Vec::with_capacity(SIZE + 512);
    let mut max_buffered = 0;
    let mut polls = 0;
    while conn.has_pending_output() {
        // The "socket" takes at most one window per poll, in pieces of odd sizes.
        let mut budget = WINDOW;
        while budget > 0 {
            let chunk = conn.pending_output();
            if chunk.is_empty() {
                break;
            }
            let n = chunk.len().min(budget).min(40_000);
            received.extend_from_slice(&chunk[..n]);
            conn.consume(now, n);
            budget -= n;
            max_buffered = max_buffered.max(conn.buffered_output_bytes());
        }
        polls += 1;
    }
    assert!(polls > SIZE / WINDOW);
    assert!(
        max_buffered <= FILE_CHUNK + 1024,
        "buffered {max_buffered} bytes"
    );
    let r = one_response(&received);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("50000000"));
    assert!(r.body == data, "byte-exact");
}

#[test]
fn a_file_that_shrinks_while_sent_cuts_the_connection() {
    let dir = TempDir::new("shrink");
    fs::write(dir.path().join("f"), vec![1u8; 200_000]).unwrap();
    let mut router = Router::new();
    router.mount("GET", "/", StaticFiles::new(dir.path(), "/").unwrap());
    let mut c = Client::new(server_with(config(), router));
    c.send(b"GET /f HTTP/1.1\r\nHost: t\r\n\r\n");
    fs::write(dir.path().join("f"), b"short").unwrap();
    let out = c.recv();
    assert!(out.len() < 200_000);
    assert!(c.conn.should_close());
    assert!(c.conn.last_error().is_some());
}

#[test]
fn a_cached_small_file_is_served_fresh_after_it_changes() {
    let site = Site::new();
    let mut c = site.client();
    let get = b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_eq!(one_response(&c.exchange(get)).body, b"0123456789abcdefghij");
    assert_eq!(
        one_response(&c.exchange(get)).body,
        b"0123456789abcdefghij",
        "from the cache"
    );
    fs::write(site.dir.path().join("root/a.txt"), b"changed on disk").unwrap();
    assert_eq!(
        one_response(&c.exchange(get)).body,
        b"changed on disk",
        "revalidated by stat"
    );
    fs::remove_file(site.dir.path().join("root/a.txt")).unwrap();
    assert_eq!(
        one_response(&c.exchange(get)).status,
        404,
        "a deleted file is not served from memory"
    );
}
