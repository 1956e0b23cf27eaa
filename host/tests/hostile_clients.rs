//! Clients that attack the framing and the paths, end to end: a chunk
//! announced larger than the body limit, dot segments and decoded control
//! characters under a plugin mount. Each is answered at once and the same
//! way on plugin and static paths.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plugins_support;
mod support;

use std::io::{Read as _, Write as _};

use plugins_support::*;
use support::*;

/// A site with `echo` (CGI), `small` (echo with `max_body_kb = 1`) and the
/// `hello-http` wasi:http handler, and a body timeout far longer than any
/// test read waits: an answer that comes only at the body timeout shows up
/// as no answer at all.
fn site() -> (Site, Server) {
    let site = Site::new();
    site.plugin("echo", &echo())
        .plugin("small", &echo())
        .sidecar("small", "max_body_kb = 1\n")
        .static_file("index.html", b"home\n");
    let hello_http = std::fs::read(example_plugins().join("hello-http.wasm"))
        .expect("host/build.rs builds hello-http.wasm");
    site.plugin("hello-http", &hello_http);
    let server = site.start(&["--body-timeout", "3600"]);
    (site, server)
}

/// What the server sent, and whether it closed the connection (rather
/// than the read timing out).
struct Answer {
    resp: Option<Resp>,
    raw: Vec<u8>,
    closed: bool,
}

/// Send a chunked request whose second chunk announces `size` bytes and
/// delivers two; the connection stays open from our side, so the server
/// alone decides when it ends.
fn oversized_chunk(server: &Server, path: &str, size: &str) -> Answer {
    let mut stream = connect(server.addr);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n{size}\r\nab"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => break e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    };
    Answer {
        resp: parse_response(&raw, false).map(|(r, _)| r),
        raw,
        closed,
    }
}

#[test]
fn a_chunk_larger_than_the_body_limit_answers_413_at_once_and_closes() {
    let (_site, server) = site();
    for (path, size) in [
        ("/echo", "ffffffffffffffff"),
        ("/small", "ffffffffffffffff"),
        // 1 KiB limit: 5 bytes came, 1020 more announced.
        ("/small", "3fc"),
        // The default 10 MiB limit, one byte over.
        ("/echo", "9ffffc"),
    ] {
        let answer = oversized_chunk(&server, path, size);
        let resp = answer.resp.unwrap_or_else(|| {
            panic!(
                "{path} with a chunk of {size}: no answer before the read timeout: {:?}",
                String::from_utf8_lossy(&answer.raw)
            )
        });
        assert_eq!(resp.status, 413, "{path} {size}");
        assert_eq!(resp.header("connection"), Some("close"));
        assert!(answer.closed, "{path} {size}: the connection stayed open");
    }
    // A wasi:http handler may answer before it reads the body, and a static
    // path does not read it: either way the connection ends at once rather
    // than waiting for the chunk (nor draining past its budget).
    for path in ["/hello-http", "/index.html"] {
        let answer = oversized_chunk(&server, path, "ffffffffffffffff");
        let resp = answer.resp.unwrap_or_else(|| {
            panic!(
                "{path}: no answer: {:?}",
                String::from_utf8_lossy(&answer.raw)
            )
        });
        assert!(
            matches!(resp.status, 200 | 405 | 413),
            "{path}: {}",
            resp.status
        );
        assert!(answer.closed, "{path}: the connection stayed open");
    }
    // And the server still serves.
    assert_eq!(get(server.addr, "/echo").status, 200);
}

#[test]
fn dot_segments_and_control_characters_get_the_same_400_on_plugin_and_static_paths() {
    let (_site, server) = site();
    for path in [
        "/echo/../hello-http",
        "/echo/%2e%2e/x",
        "/echo/%2E%2E",
        "/echo/a/./b",
        "/echo/a%0Ab",
        "/echo/%0D%0AX:%20y",
        "/echo/%7F",
        "/echo/a%5C..%5Cb",
        "/hello-http/../echo",
        "/hello-http/%2e%2e/x",
        "/../echo",
        "/x/../index.html",
        "/%2e%2e/index.html",
        "/a%0Ab",
    ] {
        let resp = get_with(server.addr, path, &["Host: t"]);
        assert_eq!(resp.status, 400, "{path}: {}", resp.text());
    }
    // Names that only look like dot segments are plain names.
    let echoed = echo_output(&get_with(
        server.addr,
        "/echo/...a/.b/%2e%2e%2e",
        &["Host: t"],
    ));
    assert_eq!(echoed.var("PATH_INFO"), Some("/...a/.b/..."));
    let echoed = echo_output(&get_with(server.addr, "/echo/a%20b//c/", &["Host: t"]));
    assert_eq!(echoed.var("PATH_INFO"), Some("/a b//c/"));
}

/// Send one keep-alive request on `stream` and read exactly its response.
fn keep_alive_get(stream: &mut std::net::TcpStream, path: &str) -> Option<Resp> {
    let head = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some((resp, _)) = parse_response(&raw, false) {
            return Some(resp);
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn past_the_connection_cap_new_clients_are_refused_and_open_ones_served() {
    let site = Site::new();
    site.static_file("index.html", b"home\n");
    let server = site.start(&["--max-connections", "2"]);
    let mut held: Vec<_> = (0..2)
        .map(|_| {
            let mut stream = connect(server.addr);
            let resp = keep_alive_get(&mut stream, "/index.html").expect("served under the cap");
            assert_eq!(resp.status, 200);
            stream
        })
        .collect();

    // A third client is told to retry (or, if its request crossed the
    // close, sees the connection reset): never served, never left waiting.
    for _ in 0..3 {
        let raw = send_raw(server.addr, b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
        if let Some((resp, _)) = parse_response(&raw, false) {
            assert_eq!(resp.status, 503);
            assert_eq!(resp.header("retry-after"), Some("1"));
            assert_eq!(resp.header("connection"), Some("close"));
        }
    }
    assert!(
        server.wait_for_log("connection cap reached", std::time::Duration::from_secs(10)),
        "{}",
        server.log()
    );
    // The connections already open keep being served.
    for stream in &mut held {
        let resp = keep_alive_get(stream, "/index.html").expect("still served");
        assert_eq!(resp.text(), "home\n");
    }
    // Once one closes (and the server has seen it close), a new client is
    // served again.
    drop(held.pop());
    assert!(
        served_again(server.addr, "/index.html"),
        "no client served after a slot freed: {}",
        server.log()
    );
    assert!(server.wait_for_log(
        "below the connection cap again",
        std::time::Duration::from_secs(10)
    ));
}

/// Whether a new client gets a 200 for `path` within 100 tries 50 ms apart:
/// a freed slot counts once the server has seen its connection close.
fn served_again(addr: std::net::SocketAddr, path: &str) -> bool {
    let head = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    (0..100).any(|_| {
        let raw = send_raw(addr, head.as_bytes());
        let ok = parse_response(&raw, false).is_some_and(|(r, _)| r.status == 200);
        if !ok {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        ok
    })
}

/// The admin listener (64 connections at most, server.rs) refuses a flood
/// the same way, and the public port serves meanwhile.
#[test]
fn a_flood_on_the_admin_port_is_refused_and_the_public_port_serves() {
    let site = Site::new();
    site.static_file("index.html", b"home\n");
    let server = site.start(&["--admin", "127.0.0.1:0"]);
    let admin = server.admin_addr();
    let mut held: Vec<_> = (0..64)
        .map(|_| {
            let mut stream = connect(admin);
            let resp = keep_alive_get(&mut stream, "/healthz").expect("served under the cap");
            assert_eq!(resp.status, 200);
            stream
        })
        .collect();
    for _ in 0..3 {
        let raw = send_raw(admin, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        if let Some((resp, _)) = parse_response(&raw, false) {
            assert_eq!(resp.status, 503);
        }
    }
    assert!(
        server.wait_for_log(
            "connection cap reached (admin listener)",
            std::time::Duration::from_secs(10)
        ),
        "{}",
        server.log()
    );
    let mut public = connect(server.addr);
    let page = keep_alive_get(&mut public, "/index.html").expect("the public port serves");
    assert_eq!(page.text(), "home\n");
    // A freed slot serves a scrape again.
    drop(held.pop());
    assert!(
        served_again(admin, "/healthz"),
        "no scrape served after a slot freed: {}",
        server.log()
    );
}

#[test]
fn under_a_low_open_file_limit_the_derived_cap_refuses_before_descriptors_run_out() {
    if std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no prlimit (util-linux) to start the server under a low limit");
        return;
    }
    let site = Site::new();
    site.static_file("index.html", b"home\n");
    let statics = site.root().join("static");
    let plugins = site.plugins();
    // 128 descriptors, hard and soft: the cap is 128 less a quarter, 96.
    let server = Server::start_under(
        &["prlimit", "--nofile=128:128"],
        &[
            "--quiet",
            "--no-cache",
            "--static",
            statics.to_str().unwrap(),
            "--plugins",
            plugins.to_str().unwrap(),
        ],
        &[],
    );
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..150 {
        let mut stream = connect(server.addr);
        match keep_alive_get(&mut stream, "/index.html") {
            Some(resp) if resp.status == 200 => held.push(stream),
            Some(resp) => {
                assert_eq!(resp.status, 503);
                refused += 1;
            }
            None => refused += 1,
        }
    }
    assert_eq!(held.len(), 96, "{refused} refused\n{}", server.log());
    // Those held still get files (which need descriptors of their own).
    for stream in &mut held {
        let resp = keep_alive_get(stream, "/index.html").expect("still served");
        assert_eq!(resp.text(), "home\n");
    }
    let log = server.log();
    assert!(log.contains("connection cap reached"), "{log}");
    assert!(!log.contains("out of resources"), "{log}");
}

/// Found by fuzzing `Validators`: a static file dated after the year 9999
/// (any `touch -d`, an unpacked archive) made building its validators panic.
/// File systems with 64-bit times keep such a date; others (ext4) cap it
/// at 2446: either way the file is served with a date.
#[test]
fn a_file_dated_after_the_year_9999_is_served() {
    let site = Site::new();
    site.static_file("future.txt", b"later\n");
    let path = site.root().join("static/future.txt");
    let far = std::time::UNIX_EPOCH + std::time::Duration::from_secs(300_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(far)
        .unwrap();
    let server = site.start(&[]);
    let resp = get(server.addr, "/future.txt");
    assert_eq!((resp.status, resp.text().as_str()), (200, "later\n"));
    let date = resp.header("last-modified").expect("a Last-Modified");
    assert!(
        date.ends_with(" 9999 23:59:59 GMT") || date.contains(" 2446 "),
        "{date}"
    );
}
