//! End-to-end: every limit of the connection loop answers its status code
//! (414, 431, 413, 408) or closes, within bounded time, and idle
//! connections cannot crowd out a new client.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod http_common;
mod support;

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_common::{k1, parse_answers, read_answers, start_site};
use support::*;

#[test]
fn request_line_header_block_and_header_count_limits() {
    let site = start_site(&[
        "--max-request-line",
        "100",
        "--max-header-bytes",
        "300",
        "--max-headers",
        "5",
    ]);
    let addr = site.server.addr;
    let long_line = format!(
        "GET /{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "a".repeat(200)
    );
    let r = parse_answers(&send_raw(addr, long_line.as_bytes()), &[]);
    assert_eq!(r[0].status, 414);
    assert_eq!(r[0].header("connection"), Some("close"));

    let big_block = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nX-Pad: {}\r\n\r\n",
        "b".repeat(400)
    );
    assert_eq!(
        parse_answers(&send_raw(addr, big_block.as_bytes()), &[])[0].status,
        431
    );

    let many: String = (0..6).map(|i| format!("X-{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: localhost\r\n{many}\r\n");
    assert_eq!(
        parse_answers(&send_raw(addr, many.as_bytes()), &[])[0].status,
        431
    );

    // Within every limit: served.
    let fine = "GET /k1.txt HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\nConnection: close\r\n\r\n";
    assert_eq!(
        parse_answers(&send_raw(addr, fine.as_bytes()), &[])[0].body,
        k1()
    );
}

#[test]
fn bodies_above_the_limit_get_413() {
    let site = start_site(&["--max-body", "1000"]);
    let addr = site.server.addr;
    // Declared too large: refused before the body is read.
    let r = parse_answers(
        &send_raw(
            addr,
            b"POST /cat HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n",
        ),
        &[],
    );
    assert_eq!(r[0].status, 413);
    // Chunked, found too large while reading.
    let mut raw =
        b"POST /cat HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        raw.extend_from_slice(b"1f4\r\n");
        raw.extend_from_slice(&[b'z'; 500]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let r = parse_answers(&send_raw(addr, &raw), &[]);
    assert_eq!(r[0].status, 413);
    assert_eq!(r[0].header("connection"), Some("close"));
    // At the limit: accepted.
    let body = vec![b'y'; 1000];
    let r = request(addr, "POST", "/cat", &[], &body);
    assert_eq!((r.status, r.body), (200, body));
}

/// A client that sends one header line every 100 ms never completes its
/// head: the total head deadline (not a per-read timer) cuts it off.
#[test]
fn trickled_head_gets_408_and_a_close() {
    let site = start_site(&["--header-timeout", "0.5"]);
    let mut s = connect(site.server.addr);
    s.write_all(b"GET /k1.txt HTTP/1.1\r\n").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writer = s.try_clone().unwrap();
    let trickle = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            for i in 0..100 {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if writer
                    .write_all(format!("X-{i}: y\r\n").as_bytes())
                    .is_err()
                {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let out = read_to_close(&mut s);
    stop.store(true, Ordering::Relaxed);
    trickle.join().unwrap();
    let r = parse_answers(&out, &[]);
    assert_eq!(r.len(), 1, "{:?}", String::from_utf8_lossy(&out));
    assert_eq!(r[0].status, 408);
    assert_eq!(r[0].header("connection"), Some("close"));
    assert!(site
        .server
        .wait_for_log("request head not received in time", Duration::from_secs(5)));
}

#[test]
fn trickled_body_gets_408() {
    let site = start_site(&["--body-timeout", "0.5"]);
    let mut s = connect(site.server.addr);
    s.write_all(b"POST /cat HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nonly part")
        .unwrap();
    let r = parse_answers(&read_to_close(&mut s), &[]);
    assert_eq!(r[0].status, 408);
    assert_eq!(r[0].header("connection"), Some("close"));
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    let site = start_site(&["--keepalive-timeout", "0.5"]);
    let mut s = connect(site.server.addr);
    s.write_all(b"GET /k1.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    assert_eq!(read_answers(&mut s, 1)[0].body, k1());
    // The server closes (end of stream), long before the 5 s read timeout.
    let mut byte = [0u8; 1];
    match s.read(&mut byte) {
        Ok(0) => {}
        Ok(_) => panic!("unexpected bytes after the response"),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the idle connection was not closed: {e}"),
    }
}

#[test]
fn a_thousand_idle_connections_do_not_stop_a_new_client() {
    let site = start_site(&[]);
    let addr = site.server.addr;
    let mut idle = Vec::new();
    for i in 0..1000 {
        let mut s = connect(addr);
        if i % 2 == 0 {
            // Half have been served once and now idle in keep-alive.
            s.write_all(b"GET /k1.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .unwrap();
            assert_eq!(read_answers(&mut s, 1)[0].status, 200);
        }
        idle.push(s);
    }
    let r = get(addr, "/k1.txt");
    assert_eq!((r.status, r.body), (200, k1()));
    // And the idle ones are still usable.
    let s = &mut idle[0];
    s.write_all(b"GET /k1.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    assert_eq!(read_answers(s, 1)[0].status, 200);
}
