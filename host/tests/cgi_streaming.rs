//! CGI answers that stream: a guest that pauses after its head has it sent
//! and its body forwarded as it writes it; one that ends first is answered
//! whole. Plus the CGI response rules as Apache applies them (a bodyless
//! head needs no Content-Type; any exit status after a complete answer).
//! The guests are WAT scripts generated here: write, sleep, exit, trap.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plugins_support;
mod support;

use std::fmt::Write as _;
use std::io::{Read, Write};

use plugins_support::*;
use support::*;

/// One step of a scripted guest.
enum Step<'a> {
    Write(&'a [u8]),
    /// The same bytes `n` times.
    WriteTimes(&'a [u8], u32),
    SleepMs(u64),
    Exit(i32),
    Trap,
}

/// A p1 module that runs `steps` in order.
fn script(steps: &[Step<'_>]) -> Vec<u8> {
    let mut data = String::new();
    let mut body = String::new();
    let mut at = 1024;
    for step in steps {
        match step {
            Step::Write(bytes) | Step::WriteTimes(bytes, _) => {
                let times = match step {
                    Step::WriteTimes(_, n) => *n,
                    _ => 1,
                };
                let mut escaped = String::new();
                for &b in *bytes {
                    write!(escaped, "\\{b:02x}").unwrap();
                }
                writeln!(data, r#"  (data (i32.const {at}) "{escaped}")"#).unwrap();
                writeln!(
                    body,
                    "    (local.set $i (i32.const {times}))\n    (loop $again\n      (call $write (i32.const {at}) (i32.const {len}))\n      (local.set $i (i32.sub (local.get $i) (i32.const 1)))\n      (br_if $again (local.get $i)))",
                    len = bytes.len()
                )
                .unwrap();
                at += bytes.len() + 16;
            }
            Step::SleepMs(ms) => {
                writeln!(body, "    (call $sleep (i64.const {}))", ms * 1_000_000).unwrap()
            }
            Step::Exit(code) => writeln!(body, "    (call $proc_exit (i32.const {code}))").unwrap(),
            Step::Trap => body.push_str("    unreachable\n"),
        }
    }
    let wat = format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 4)
{data}
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $sleep (param $ns i64)
    (i64.store (i32.const 64) (i64.const 0))
    (i32.store8 (i32.const 72) (i32.const 0))
    (i32.store (i32.const 80) (i32.const 1))
    (i64.store (i32.const 88) (local.get $ns))
    (i64.store (i32.const 96) (i64.const 0))
    (i32.store16 (i32.const 104) (i32.const 0))
    (drop (call $poll_oneoff (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 192))))
  (func (export "_start") (local $i i32)
{body}  ))"#
    );
    wat::parse_str(&wat).unwrap_or_else(|e| panic!("{e}\n{wat}"))
}

const HEAD: &[u8] = b"Content-Type: text/plain\n\n";

/// Reads from `stream` until `needle` has arrived; everything read.
fn read_until(stream: &mut std::net::TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed before {needle:?}: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn a_pausing_guest_is_answered_while_it_writes() {
    let site = Site::new();
    site.plugin(
        "progress",
        &script(&[
            Step::Write(HEAD),
            Step::Write(b"first\n"),
            Step::SleepMs(400),
            Step::Write(b"second\n"),
        ]),
    );
    let server = site.start(&[]);

    let mut stream = connect(server.addr);
    stream
        .write_all(b"GET /progress HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let first = read_until(&mut stream, "first\n");
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
    assert!(first.contains("Transfer-Encoding: chunked\r\n"), "{first}");
    assert!(
        !first.contains("second"),
        "sent before the guest wrote it: {first}"
    );
    let rest = read_until(&mut stream, "0\r\n\r\n");
    assert!(rest.contains("second\n"), "{rest}");

    // Whole, keep-alive still works after a chunked answer.
    let two = parse_responses(&send_raw(
        server.addr,
        b"GET /progress HTTP/1.1\r\nHost: t\r\n\r\nGET /progress HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ));
    assert_eq!(two.len(), 2);
    for resp in two {
        assert_eq!(resp.text(), "first\nsecond\n");
    }

    // HTTP/1.0: the body ends with the connection.
    let out = send_raw(server.addr, b"GET /progress HTTP/1.0\r\n\r\n");
    let text = String::from_utf8_lossy(&out);
    assert!(!text.contains("chunked"), "{text}");
    assert!(text.ends_with("\r\n\r\nfirst\nsecond\n"), "{text}");
}

#[test]
fn a_guest_that_ends_first_is_answered_whole_and_a_large_one_streams() {
    let site = Site::new();
    site.plugin(
        "quick",
        &script(&[Step::Write(HEAD), Step::Write(b"all at once\n")]),
    )
    .plugin(
        "large",
        &script(&[Step::Write(HEAD), Step::WriteTimes(&[b'x'; 4096], 256)]),
    );
    let server = site.start(&[]);
    let quick = get(server.addr, "/quick");
    assert_eq!(quick.header("content-length"), Some("12"));
    assert_eq!(quick.text(), "all at once\n");

    // 1 MiB does not fit the pipe: it streams, and arrives whole.
    let large = get(server.addr, "/large");
    assert_eq!(large.header("transfer-encoding"), Some("chunked"));
    assert_eq!(large.body.len(), 1 << 20);
    assert!(large.body.iter().all(|&b| b == b'x'));
}

#[test]
fn a_streamed_body_is_held_to_its_content_length() {
    let site = Site::new();
    site.plugin(
        "short",
        &script(&[
            Step::Write(b"Content-Type: text/plain\nContent-Length: 10\n\nabc"),
            Step::SleepMs(100),
        ]),
    )
    .plugin(
        "long",
        &script(&[
            Step::Write(b"Content-Type: text/plain\nContent-Length: 4\n\nabc"),
            Step::SleepMs(100),
            Step::Write(b"defgh"),
        ]),
    )
    .plugin(
        "exact",
        &script(&[
            Step::Write(b"Content-Type: text/plain\nContent-Length: 6\n\nabc"),
            Step::SleepMs(100),
            Step::Write(b"def"),
        ]),
    );
    let server = site.start(&[]);
    for (route, sent) in [("/short", "abc"), ("/long", "abcd")] {
        let out = send_raw(
            server.addr,
            format!(
                "GET {route} HTTP/1.1\r\nHost: t\r\n\r\nGET /exact HTTP/1.1\r\nHost: t\r\n\r\n"
            )
            .as_bytes(),
        );
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.ends_with(&format!("\r\n\r\n{sent}")),
            "{route}: {text}"
        );
        assert_eq!(
            text.matches("HTTP/1.1 ").count(),
            1,
            "{route}: closed, no desync: {text}"
        );
    }
    let exact = get(server.addr, "/exact");
    assert_eq!(exact.header("content-length"), Some("6"));
    assert_eq!(exact.text(), "abcdef");
    assert!(server.wait_for_log(
        "shorter than its Content-Length",
        std::time::Duration::from_secs(5)
    ));
    assert!(
        server.log().contains("longer than its Content-Length"),
        "{}",
        server.log()
    );
}

#[test]
fn a_failure_after_the_head_cuts_the_answer_off() {
    let site = Site::new();
    site.plugin(
        "dies",
        &script(&[
            Step::Write(HEAD),
            Step::Write(b"partial\n"),
            Step::SleepMs(100),
            Step::Trap,
        ]),
    )
    .plugin(
        "slow",
        &script(&[
            Step::Write(HEAD),
            Step::Write(b"waiting\n"),
            Step::SleepMs(60_000),
        ]),
    );
    site.sidecar("slow", "timeout_ms = 300\n");
    let server = site.start(&[]);
    for route in ["/dies", "/slow"] {
        let out = send_raw(
            server.addr,
            format!("GET {route} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
        );
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{route}: {text}");
        assert!(
            !text.ends_with("0\r\n\r\n"),
            "{route}: no last chunk: {text}"
        );
        assert!(
            parse_response(&out, false).is_none(),
            "{route}: incomplete: {text}"
        );
    }
    assert!(server.wait_for_log("response cut off", std::time::Duration::from_secs(5)));
}

#[test]
fn the_cgi_response_rules_as_apache_applies_them() {
    let site = Site::new();
    site.plugin("notfound", &printing(b"Status: 404 Not Found\n\n"))
        .plugin(
            "exit200",
            &script(&[Step::Write(HEAD), Step::Write(b"done\n"), Step::Exit(200)]),
        )
        .plugin(
            "exitneg",
            &script(&[Step::Write(HEAD), Step::Write(b"done\n"), Step::Exit(-1)]),
        );
    let server = site.start(&[]);
    let resp = get(server.addr, "/notfound");
    assert_eq!(resp.status, 404);
    assert!(resp.body.is_empty());
    for route in ["/exit200", "/exitneg"] {
        let resp = get(server.addr, route);
        assert_eq!(
            (resp.status, resp.text()),
            (200, "done\n".to_owned()),
            "{route}"
        );
    }
    // Each line is written after its response is sent: wait for both.
    for code in ["exit_code=200", "exit_code=-1"] {
        assert!(
            server.wait_for_log(code, std::time::Duration::from_secs(5)),
            "{}",
            server.log()
        );
    }
}

fn digest() -> Vec<u8> {
    std::fs::read(example_plugins().join("digest.wasm")).expect("host/build.rs builds digest")
}

#[test]
fn a_large_body_streams_into_the_guest() {
    let site = Site::new();
    site.plugin("digest", &digest()).plugin(
        "early",
        &script(&[Step::Write(HEAD), Step::Write(b"did not read\n")]),
    );
    let server = site.start(&["--body-timeout", "2"]);

    // 3 MiB of a fixed pattern, hashed by the guest as it reads it.
    let body: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
    let resp = request(server.addr, "POST", "/digest", &[], &body);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.text(),
        format!("3145728 bytes, sha256 {}\n", sha256_hex(&body))
    );

    // A guest may answer without reading: the answer arrives whole.
    let resp = request(server.addr, "POST", "/early", &[], &body);
    assert_eq!(
        (resp.status, resp.text()),
        (200, "did not read\n".to_owned())
    );

    // A body that stops coming: 408 once the body timeout passes, since
    // the guest waits for it and has not answered.
    let mut stream = connect(server.addr);
    stream
        .write_all(b"POST /digest HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n")
        .unwrap();
    stream.write_all(&[b'a'; 100_000]).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
}

/// `body` in chunks of `size` bytes, with or without the last chunk.
fn chunked(body: &[u8], size: usize, last: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    if last {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    out
}

#[test]
fn a_large_chunked_body_streams_into_the_guest_without_a_length() {
    let site = Site::new();
    site.plugin("digest", &digest()).plugin(
        "early",
        &script(&[Step::Write(HEAD), Step::Write(b"did not read\n")]),
    );
    let server = site.start(&["--body-timeout", "30"]);
    let head = |path: &str| {
        format!("POST {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    };

    // Read to its end by the guest, which is given no length.
    let body: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut stream = connect(server.addr);
    stream.write_all(head("/digest").as_bytes()).unwrap();
    stream.write_all(&chunked(&body, 16 << 10, true)).unwrap();
    let want = format!("3145728 bytes, sha256 {}\n", sha256_hex(&body));
    let text = read_until(&mut stream, &want);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");

    // The guest starts before the body is all in: one that answers without
    // reading is heard while the client is still sending (the body timeout
    // is 30 s; the test's read gives up long before).
    let mut stream = connect(server.addr);
    stream.write_all(head("/early").as_bytes()).unwrap();
    stream
        .write_all(&chunked(&body[..200 << 10], 16 << 10, false))
        .unwrap();
    let text = read_until(&mut stream, "did not read");
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
}

/// SHA-256 in hex, as the guest prints it (through the `sha2` crate the
/// guest uses, so the test checks the streaming, not the hash).
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_guest_held_back_by_a_client_that_does_not_read_is_stopped_at_its_time_limit() {
    let site = Site::new();
    site.plugin(
        "flood",
        &script(&[
            Step::Write(HEAD),
            Step::WriteTimes(&[b'x'; 4096], 16 * 1024),
        ]),
    );
    site.sidecar("flood", "timeout_ms = 500\n");
    let server = site.start(&[]);
    let mut stream = connect(server.addr);
    stream
        .write_all(b"GET /flood HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // 64 MiB would not fit the pipe and the socket buffers: the guest
    // waits for the client, and its time limit still counts.
    assert!(
        server.wait_for_log(
            "ran past its time limit",
            std::time::Duration::from_secs(10)
        ),
        "{}",
        server.log()
    );
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    assert!(out.len() < 64 << 20, "cut off: {} bytes", out.len());
    assert!(
        parse_response(&out, false).is_none(),
        "the answer is incomplete"
    );
}
