//! WASI 0.2 components in `plugins/`: `wasi:cli` commands through the CGI
//! contract, `wasi:http` handlers with streamed bodies both ways, and every
//! limit a p1 plugin has, through the real binary.
//!
//! The example components come from `host/build.rs` (`hello-p2`, `echo-p2`,
//! `stream`); the probe handler (`fixtures/probe-http`) is built here from
//! source, once per run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plugins_support;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use plugins_support::*;
use support::*;

/// The probe handler, compiled for wasm32-wasip2 (its own target folder:
/// the test run holds the workspace's).
fn probe() -> Vec<u8> {
    static PROBE: OnceLock<Vec<u8>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let manifest = repo_root().join("host/tests/fixtures/probe-http/Cargo.toml");
            let target_dir = repo_root().join("target/test-fixtures");
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"])
                .arg("--manifest-path")
                .arg(&manifest)
                .arg("--target-dir")
                .arg(&target_dir)
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_TARGET_DIR")
                .status()
                .expect("run cargo for the probe fixture");
            assert!(status.success(), "building the probe fixture failed");
            std::fs::read(target_dir.join("wasm32-wasip2/release/probe_http.wasm")).unwrap()
        })
        .clone()
}

fn example(name: &str) -> Vec<u8> {
    let path: PathBuf = example_plugins().join(format!("{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (host/build.rs builds it)", path.display()))
}

/// Raw bytes of one exchange on a connection the server closes.
fn raw(addr: SocketAddr, request: &str) -> Vec<u8> {
    send_raw(addr, request.as_bytes())
}

#[test]
fn a_cli_command_component_speaks_cgi() {
    let site = Site::new();
    site.plugin("hello", &example("hello"))
        .plugin("hello-p2", &example("hello-p2"))
        .plugin("echo-p2", &example("echo-p2"));
    let server = site.start(&[]);
    for line in [
        "/hello-p2.wasm (",
        ") wasi:cli command\n",
        "/hello.wasm (",
        ") WASI p1 command\n",
    ] {
        assert!(
            server.wait_for_log(line, Duration::from_secs(5)),
            "banner lacks {line:?}: {}",
            server.log()
        );
    }
    let p1 = get(server.addr, "/hello?name=Ada");
    let p2 = get(server.addr, "/hello-p2?name=Ada");
    assert_eq!((p2.status, p2.text()), (200, "Hello, Ada!\n".to_owned()));
    assert_eq!(p1.text(), p2.text());
    assert_eq!(p1.header("content-type"), p2.header("content-type"));

    let resp = request(
        server.addr,
        "POST",
        "/echo-p2/a%20b?q=1",
        &[("X-Custom", "yes"), ("Content-Type", "text/plain")],
        b"raw body",
    );
    let echo = echo_output(&resp);
    assert_eq!(echo.var("SCRIPT_NAME"), Some("/echo-p2"));
    assert_eq!(echo.var("PATH_INFO"), Some("/a b"));
    assert_eq!(echo.var("QUERY_STRING"), Some("q=1"));
    assert_eq!(echo.var("HTTP_X_CUSTOM"), Some("yes"));
    assert_eq!(echo.var("CONTENT_LENGTH"), Some("8"));
    assert_eq!(echo.var("GATEWAY_INTERFACE"), Some("CGI/1.1"));
    assert_eq!(echo.body, b"raw body");
}

#[test]
fn a_wasi_http_handler_streams_its_answer_as_it_writes_it() {
    let site = Site::new();
    site.plugin("stream", &example("stream"));
    let server = site.start(&[]);
    assert!(
        server.log().contains("wasi:http handler"),
        "{}",
        server.log()
    );

    let whole = get(server.addr, "/stream?lines=3");
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("transfer-encoding"), Some("chunked"));
    assert_eq!(whole.text(), "line 1 of 3\nline 2 of 3\nline 3 of 3\n");

    // A hundred lines take ten seconds to write: the first read holds the
    // head and the first line, and not the last, which is not written yet.
    let mut stream = connect(server.addr);
    stream
        .write_all(b"GET /stream?lines=100 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("line 1 of 100\n") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(!text.contains("line 100 of 100"), "{text}");

    // HTTP/1.0 gets the same body, delimited by the connection's end.
    let out = raw(server.addr, "GET /stream?lines=2 HTTP/1.0\r\n\r\n");
    let text = String::from_utf8_lossy(&out);
    assert!(!text.contains("chunked"), "{text}");
    assert!(
        text.ends_with("\r\n\r\nline 1 of 2\nline 2 of 2\n"),
        "{text}"
    );
}

#[test]
fn the_guest_sees_the_request_without_hop_by_hop_headers() {
    let site = Site::new();
    site.plugin("probe", &probe());
    let server = site.start(&[]);
    let resp = request(
        server.addr,
        "GET",
        "/probe/headers?a=1&b",
        &[
            ("X-Thing", "42"),
            ("Cookie", "k=v"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("Authorization", "Basic c2VjcmV0"),
        ],
        b"",
    );
    let text = resp.text();
    assert_eq!(resp.status, 200, "{text}");
    for needle in [
        "method=Method::Get\n",
        "scheme=Some(Scheme::Http)\n",
        "authority=Some(\"localhost\")\n",
        "path=/probe/headers?a=1&b\n",
        "x-thing: 42\n",
        "cookie: k=v\n",
    ] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    // The authority above stands for Host, which wasi:http does not show.
    for absent in ["te:", "upgrade:", "connection:", "authorization:"] {
        assert!(!text.contains(absent), "{absent:?} in {text}");
    }
    // What the guest may not set is the server's: framing, hop-by-hop.
    assert_eq!(resp.header("x-probe"), Some("yes"));
    assert_eq!(resp.header("content-length"), None);
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
}

#[test]
fn request_bodies_stream_in_bounded_by_max_body() {
    let site = Site::new();
    site.plugin("probe", &probe()).plugin("small", &probe());
    site.sidecar("small", "max_body_kb = 1\n");
    let server = site.start(&[]);

    let chunked = "POST /probe/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
                   5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n\
                   GET /probe/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let responses = parse_responses(&raw(server.addr, chunked));
    assert_eq!(responses.len(), 2, "keep-alive after a streamed exchange");
    assert_eq!(responses[0].text(), "len=11\nhello world");
    assert_eq!(responses[1].text(), "probe\n");

    let big = vec![b'a'; 100_000];
    let resp = request(server.addr, "POST", "/probe/echo", &[], &big);
    assert_eq!(resp.text(), format!("len=100000\n{}", "a".repeat(100_000)));

    let declared = request(server.addr, "POST", "/small/echo", &[], &[b'a'; 2000]);
    assert_eq!(declared.status, 413);
    let mut over =
        String::from("POST /small/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..3 {
        over.push_str(&format!("200\r\n{}\r\n", "b".repeat(0x200)));
    }
    over.push_str("0\r\n\r\n");
    let resp = parse_response(&raw(server.addr, &over), false).unwrap().0;
    assert_eq!(resp.status, 413);
    assert_eq!(resp.header("connection"), Some("close"));
}

#[test]
fn failures_before_the_head_answer_502_or_504_and_after_it_cut_the_response_off() {
    let site = Site::new();
    site.plugin("probe", &probe());
    site.sidecar("probe", "timeout_ms = 500\nmemory_mb = 16\n");
    let server = site.start(&[]);
    for (path, status) in [
        ("/probe/trap-before", 502),
        ("/probe/error-code", 502),
        ("/probe/hog", 502),
        ("/probe/spin-before", 504),
    ] {
        let resp = get(server.addr, path);
        assert_eq!(resp.status, status, "{path}: {}", resp.text());
        assert!(
            !resp.text().contains("trapping"),
            "no guest detail in the page"
        );
    }
    for path in ["/probe/trap-after", "/probe/sleep-after"] {
        let out = raw(
            server.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n"),
        );
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {text}");
        assert!(text.contains("first line"), "{path}: {text}");
        assert!(
            !text.ends_with("0\r\n\r\n"),
            "{path}: cut off, no last chunk: {text}"
        );
        assert!(
            parse_response(&out, false).is_none(),
            "{path}: the body is incomplete: {text}"
        );
    }
    assert!(server.wait_for_log("response cut off", Duration::from_secs(5)));
    assert!(
        server.log().contains("ran past its time limit"),
        "{}",
        server.log()
    );
    // Still serving.
    assert_eq!(get(server.addr, "/probe/x").status, 200);
}

#[test]
fn a_slow_client_holds_the_guest_back_in_bounded_memory() {
    let site = Site::new();
    site.plugin("probe", &probe());
    let server = site.start(&[]);
    let rss = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .unwrap()
            .to_owned();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1024
    };
    get(server.addr, "/probe/x");
    let before = rss();
    let mut stream = connect(server.addr);
    stream
        .write_all(b"GET /probe/big?kib=262144 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    // The guest would write 256 MiB; the client reads nothing for a while.
    std::thread::sleep(Duration::from_millis(1500));
    let stalled = rss();
    assert!(
        stalled < before + (32 << 20),
        "RSS grew from {before} to {stalled} bytes while the client did not read"
    );
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    assert!(
        total > 256 << 20,
        "the whole body arrived once read: {total}"
    );
}

/// A loopback upstream that answers `hi` to every request and counts them.
fn upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { continue };
            counted.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
        }
    });
    (addr, hits)
}

#[test]
fn outbound_requests_leave_only_for_listed_origins() {
    let (upstream, hits) = upstream();
    let site = Site::new();
    site.plugin("closed", &probe()).plugin("open", &probe());
    site.sidecar(
        "open",
        &format!("allowed_outbound_hosts = [\"http://{upstream}\"]\n"),
    );
    let server = site.start(&[]);
    let url = format!("http://{upstream}/x");

    let denied = get(server.addr, &format!("/closed/fetch?url={url}"));
    assert_eq!(denied.text(), "error=ErrorCode::HttpRequestDenied\n");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a denied request never leaves"
    );

    let allowed = get(server.addr, &format!("/open/fetch?url={url}"));
    assert_eq!(allowed.text(), "status=200\nhi");
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    let other = get(server.addr, "/open/fetch?url=http://127.0.0.1:9/");
    assert_eq!(other.text(), "error=ErrorCode::HttpRequestDenied\n");
}

#[test]
fn a_component_that_is_no_handler_is_refused_and_the_old_version_keeps_serving() {
    let site = Site::new();
    site.plugin("x", &probe());
    let server = site.start(&[]);
    assert_eq!(get(server.addr, "/x/y").text(), "probe\n");
    let nothing = wat::parse_str("(component)").unwrap();
    site.plugin("x", &nothing);
    assert!(
        server.wait_for_log("exports neither wasi:cli/run", Duration::from_secs(10)),
        "{}",
        server.log()
    );
    assert_eq!(get(server.addr, "/x/y").text(), "probe\n");
}

#[test]
fn wasibin_run_runs_every_kind() {
    for (name, path, want) in [
        ("hello-p2", "/hello-p2?name=Ada", "Hello, Ada!\n"),
        ("stream", "/stream?lines=2", "line 1 of 2\nline 2 of 2\n"),
    ] {
        let wasm = example_plugins().join(format!("{name}.wasm"));
        let out = wasibin(&["run", wasm.to_str().unwrap(), "--path", path]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{name}: {text}");
        assert!(text.starts_with("HTTP/1.1 200 OK\n"), "{name}: {text}");
        assert!(text.ends_with(&format!("\n\n{want}")), "{name}: {text}");
    }
}
