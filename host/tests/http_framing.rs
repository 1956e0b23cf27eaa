//! End-to-end: HTTP/1.1 framing through the real binary. Keep-alive,
//! pipelining, request bodies, every request-smuggling shape, `Expect`,
//! HEAD, the fixed headers and the access log, all in raw bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod http_common;
mod support;

use std::io::{Read, Write};
use std::time::Duration;

use http_common::{big, k1, parse_answers, read_answers, start_site};
use support::*;

#[test]
fn keep_alive_serves_one_request_after_another() {
    let site = start_site(&[]);
    let mut s = connect(site.server.addr);
    for _ in 0..3 {
        s.write_all(b"GET /k1.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let r = read_answers(&mut s, 1).remove(0);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, k1());
        assert_eq!(r.header("connection"), None);
        assert!(r.header("server").unwrap().starts_with("wasibin/"));
        assert!(r.header("date").unwrap().ends_with(" GMT"));
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let site = start_site(&[]);
    let raw = b"GET /k1.txt HTTP/1.1\r\nHost: localhost\r\n\r\n\
        POST /cat HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello\
        POST /cat HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n\
        3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n\
        HEAD /k1.txt HTTP/1.1\r\nHost: localhost\r\n\r\n\
        GET /missing-file HTTP/1.1\r\nHost: localhost\r\n\r\n\
        GET /k1.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let out = send_raw(site.server.addr, raw);
    let r = parse_answers(&out, &[false, false, false, true, false, false]);
    let statuses: Vec<u16> = r.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 404, 200]);
    assert_eq!(r[0].body, k1());
    assert_eq!(r[1].body, b"hello");
    assert_eq!(r[2].body, b"abcdefg");
    assert_eq!(r[3].header("content-length"), Some("1024"));
    assert!(r[3].body.is_empty());
    assert_eq!(r[5].body, k1());
    assert_eq!(r[5].header("connection"), Some("close"));
}

#[test]
fn http10_closes_unless_asked_and_is_never_chunked() {
    let site = start_site(&[]);
    let out = send_raw(
        site.server.addr,
        b"GET /k1.txt HTTP/1.0\r\n\r\nGET /k1.txt HTTP/1.0\r\n\r\n",
    );
    let r = parse_answers(&out, &[]);
    assert_eq!(r.len(), 1, "only the first request is answered");
    assert_eq!(r[0].header("connection"), Some("close"));
    assert_eq!(r[0].header("transfer-encoding"), None);
    assert_eq!(r[0].body, k1());

    let mut s = connect(site.server.addr);
    s.write_all(b"POST /cat HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi")
        .unwrap();
    let r = read_answers(&mut s, 1).remove(0);
    assert_eq!(r.header("connection"), Some("keep-alive"));
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.body, b"hi");
    s.write_all(b"GET /k1.txt HTTP/1.0\r\n\r\n").unwrap();
    let r = parse_answers(&read_to_close(&mut s), &[]);
    assert_eq!(r[0].body, k1());
}

#[test]
fn every_smuggling_shape_is_refused_and_the_connection_closed() {
    let site = start_site(&[]);
    let shapes: &[(&str, u16)] = &[
        (
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
            400,
        ),
        ("Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
        ("Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
        ("Content-Length: 5, 5\r\n\r\nhello", 400),
        ("Content-Length: +5\r\n\r\nhello", 400),
        ("Content-Length: -5\r\n\r\nhello", 400),
        ("Content-Length: 0x5\r\n\r\nhello", 400),
        ("Content-Length: 5 5\r\n\r\nhello", 400),
        ("Content-Length: 184467440737095516160\r\n\r\nhello", 400),
        ("Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
        ("Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        ("Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            "Transfer-Encoding: chunked\r\n\r\nz\r\nhello\r\n0\r\n\r\n",
            400,
        ),
        (
            "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
            400,
        ),
        (
            "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
            400,
        ),
        (
            "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
            400,
        ),
        (
            "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
            400,
        ),
        (
            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello!!\r\n0\r\n\r\n",
            400,
        ),
        (
            "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
            400,
        ),
        ("X-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n", 400),
        ("Content-Length : 5\r\n\r\nhello", 400),
        ("X-Nul: a\0b\r\n\r\n", 400),
        ("X-Cr: a\rb\r\n\r\n", 400),
        ("Host: second\r\n\r\n", 400),
    ];
    for (shape, want) in shapes {
        let mut raw = format!("POST /cat HTTP/1.1\r\nHost: localhost\r\n{shape}").into_bytes();
        raw.extend_from_slice(b"GET /k1.txt?smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n");
        let out = send_raw(site.server.addr, &raw);
        let r = parse_answers(&out, &[]);
        assert_eq!(
            r.len(),
            1,
            "{shape:?} gave {:?}",
            String::from_utf8_lossy(&out)
        );
        assert_eq!(r[0].status, *want, "{shape:?}");
        assert_eq!(r[0].header("connection"), Some("close"), "{shape:?}");
        assert!(
            !log_has_smuggled(&site.server.log()),
            "{shape:?} reached the service"
        );
    }
    let r = parse_answers(
        &send_raw(
            site.server.addr,
            b"POST /cat HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        &[],
    );
    assert_eq!(r[0].status, 400);
    let r = parse_answers(
        &send_raw(site.server.addr, b"GET /k1.txt HTTP/1.1\r\n\r\n"),
        &[],
    );
    assert_eq!(r[0].status, 400, "HTTP/1.1 without Host");
}

fn log_has_smuggled(log: &str) -> bool {
    log.lines().any(|l| l.contains("GET /k1.txt?smuggled"))
}

#[test]
fn target_forms_and_versions() {
    let site = start_site(&[]);
    let addr = site.server.addr;
    let r = parse_answers(
        &send_raw(
            addr,
            b"GET http://localhost/k1.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        ),
        &[],
    );
    assert_eq!((r[0].status, r[0].body.clone()), (200, k1()));
    let r = parse_answers(
        &send_raw(
            addr,
            b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        ),
        &[],
    );
    assert_eq!(r[0].status, 200);
    assert!(r[0].header("allow").is_some());
    let cases: &[(&[u8], u16)] = &[
        (b"GET * HTTP/1.1\r\nHost: localhost\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: localhost\r\n\r\n", 505),
        (b"GET / HTTP/1.2\r\nHost: localhost\r\n\r\n", 505),
        (b"GET / HTTZ/1.1\r\nHost: localhost\r\n\r\n", 400),
        (b"GET /\r\n\r\n", 400),
        (
            b"CONNECT localhost:443 HTTP/1.1\r\nHost: localhost\r\n\r\n",
            400,
        ),
    ];
    for (raw, want) in cases {
        let r = parse_answers(&send_raw(addr, raw), &[]);
        assert_eq!(r[0].status, *want, "{:?}", String::from_utf8_lossy(raw));
        assert_eq!(r[0].header("connection"), Some("close"));
    }
}

#[test]
fn expect_100_continue() {
    let site = start_site(&[]);
    let mut s = connect(site.server.addr);
    s.write_all(b"POST /cat HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"ping").unwrap();
    let r = read_answers(&mut s, 1).remove(0);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ping"[..]));
    assert_eq!(r.header("connection"), None, "the connection stays usable");

    // Answered without reading the body: no 100, and the connection closes
    // (the client may never send the body it announced).
    let out = send_raw(
        site.server.addr,
        b"GET /k1.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    );
    assert!(
        out.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(
        parse_answers(&out, &[])[0].header("connection"),
        Some("close")
    );

    let out = send_raw(
        site.server.addr,
        b"POST /cat HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nExpect: a-pony\r\n\r\nping",
    );
    assert_eq!(parse_answers(&out, &[])[0].status, 417);
}

#[test]
fn head_gets_the_get_length_and_no_body() {
    let site = start_site(&[]);
    let out = send_raw(
        site.server.addr,
        b"HEAD /k1.txt HTTP/1.1\r\nHost: localhost\r\n\r\n\
          HEAD /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n\
          GET /k1.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    let r = parse_answers(&out, &[true, true, false]);
    assert_eq!(r.len(), 3, "{:?}", String::from_utf8_lossy(&out));
    assert_eq!(r[0].header("content-length"), Some("1024"));
    assert_eq!(
        r[1].header("content-length"),
        Some(&*big().len().to_string())
    );
    assert_eq!(r[2].body, k1(), "no HEAD body leaked into the stream");
}

#[test]
fn large_files_arrive_whole() {
    let site = start_site(&[]);
    let mut s = connect(site.server.addr);
    for _ in 0..2 {
        s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let r = read_answers(&mut s, 1).remove(0);
        assert_eq!(r.status, 200);
        assert!(r.body == big(), "body differs from the file");
    }
}

#[test]
fn errors_carry_date_and_server_and_echo_nothing() {
    let site = start_site(&[]);
    let out = send_raw(
        site.server.addr,
        b"GET /<script>alert(1)</script> HTTP/1.1\r\nX-Evil: <img>\r\n\r\n",
    );
    let r = parse_answers(&out, &[]);
    assert_eq!(r[0].status, 400);
    assert!(r[0].header("date").is_some());
    assert!(r[0].header("server").unwrap().starts_with("wasibin/"));
    let text = r[0].text();
    assert!(!text.contains("script") && !text.contains("img"), "{text}");
}

#[test]
fn access_log_has_one_combined_line_per_request() {
    let site = start_site(&[]);
    let r = request(
        site.server.addr,
        "GET",
        "/k1.txt?q=\"x\"",
        &[("User-Agent", "e2e \"agent\""), ("Referer", "http://ref/")],
        b"",
    );
    assert_eq!(r.status, 200);
    let line =
        "\"GET /k1.txt?q=\\x22x\\x22 HTTP/1.1\" 200 1024 \"http://ref/\" \"e2e \\x22agent\\x22\"";
    assert!(
        site.server.wait_for_log(line, Duration::from_secs(5)),
        "no access-log line in:\n{}",
        site.server.log()
    );
    let line = site
        .server
        .log()
        .lines()
        .find(|l| l.contains("e2e"))
        .unwrap()
        .to_owned();
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
}
