//! The request side of the CGI contract (RFC 3875 §4), end to end: what a
//! guest sees in its environment, argv and stdin, through the real server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plugins_support;
mod support;

use plugins_support::*;
use support::*;

#[test]
fn every_meta_variable_is_set_from_the_request() {
    let site = Site::new();
    site.plugin("echo", &echo());
    let server = site.start(&[]);
    let resp = get_with(
        server.addr,
        "/echo/a%20b/c?x=1&y=%20",
        &["Host: example.com:8080", "Accept: */*", "X-Custom: yes"],
    );
    let echo = echo_output(&resp);
    assert!(
        echo.first_line.starts_with("GET /echo/a b/c"),
        "{}",
        echo.first_line
    );
    let want = [
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_METHOD", "GET"),
        ("SCRIPT_NAME", "/echo"),
        ("PATH_INFO", "/a b/c"),
        ("X_RAW_PATH_INFO", "/a%20b/c"),
        ("QUERY_STRING", "x=1&y=%20"),
        ("SERVER_NAME", "example.com"),
        ("SERVER_PORT", "8080"),
        ("REMOTE_ADDR", "127.0.0.1"),
        (
            "X_FULL_URL",
            "http://example.com:8080/echo/a%20b/c?x=1&y=%20",
        ),
        ("X_MATCHED_ROUTE", "/echo/..."),
        ("HTTP_HOST", "example.com:8080"),
        ("HTTP_ACCEPT", "*/*"),
        ("HTTP_X_CUSTOM", "yes"),
    ];
    for (name, value) in want {
        assert_eq!(echo.var(name), Some(value), "{name} in {:?}", echo.vars);
    }
    assert!(echo.var("SERVER_SOFTWARE").unwrap().starts_with("wasibin/"));
    let port: u16 = echo.var("REMOTE_PORT").unwrap().parse().unwrap();
    assert_ne!(port, 0);
    for absent in [
        "CONTENT_LENGTH",
        "CONTENT_TYPE",
        "PATH_TRANSLATED",
        "HTTP_CONNECTION",
    ] {
        assert_eq!(echo.var(absent), None, "{absent} should not be set");
    }
    // Nothing of the server's own environment leaks in.
    assert_eq!(echo.var("PATH"), None);
    assert_eq!(echo.var("HOME"), None);
}

#[test]
fn query_string_is_empty_without_a_query_and_port_defaults_to_80() {
    let site = Site::new();
    site.plugin("echo", &echo());
    let server = site.start(&[]);
    let echo = echo_output(&get_with(server.addr, "/echo", &["Host: example.com"]));
    assert_eq!(echo.var("QUERY_STRING"), Some(""));
    assert_eq!(echo.var("PATH_INFO"), Some(""));
    assert_eq!(echo.var("SERVER_PORT"), Some("80"));
}

#[test]
fn script_name_and_path_info_follow_the_longest_mount() {
    let site = Site::new();
    site.plugin("api", &echo()).plugin("api/users", &echo());
    let server = site.start(&[]);
    let vars = |path: &str| {
        let echo = echo_output(&get(server.addr, path));
        (
            echo.var("SCRIPT_NAME").unwrap().to_owned(),
            echo.var("PATH_INFO").unwrap().to_owned(),
        )
    };
    assert_eq!(vars("/api/users/7"), ("/api/users".into(), "/7".into()));
    assert_eq!(vars("/api/users"), ("/api/users".into(), String::new()));
    assert_eq!(vars("/api/other/x"), ("/api".into(), "/other/x".into()));
    assert_eq!(vars("/api/usersx"), ("/api".into(), "/usersx".into()));
    assert_eq!(vars("/api"), ("/api".into(), String::new()));
}

#[test]
fn argv_is_the_name_then_the_search_words() {
    let site = Site::new();
    site.plugin("args", &fixture("args"));
    let server = site.start(&[]);
    assert_eq!(get(server.addr, "/args").text(), "args\n");
    assert_eq!(
        get(server.addr, "/args?hello+big%20world+%3D").text(),
        "args\nhello\nbig world\n=\n"
    );
    // An unencoded `=` makes it a form query, not search words.
    assert_eq!(get(server.addr, "/args?a=b+c").text(), "args\n");
}

#[test]
fn stdin_is_exactly_the_body_for_both_framings() {
    let site = Site::new();
    site.plugin("cat", &fixture("cat")).plugin("echo", &echo());
    let server = site.start(&[]);
    let body: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();

    let resp = request(server.addr, "POST", "/cat", &[], &body);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, body, "Content-Length body");

    let mut raw =
        b"POST /cat HTTP/1.1\r\nHost: h\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for chunk in body.chunks(7000) {
        raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(chunk);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let resp = exchange(server.addr, &raw, false);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, body, "chunked body");

    // The de-chunked length is what CONTENT_LENGTH says.
    let raw = b"POST /echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let echo = echo_output(&exchange(server.addr, raw, false));
    assert_eq!(echo.var("CONTENT_LENGTH"), Some("5"));
    assert_eq!(echo.var("CONTENT_TYPE"), Some("text/plain"));
    assert_eq!(echo.var("HTTP_TRANSFER_ENCODING"), None);
    assert_eq!(echo.var("HTTP_CONTENT_TYPE"), None);
    assert_eq!(echo.body, b"abcde");

    // An empty body still says it is there.
    let echo = echo_output(&request(server.addr, "POST", "/echo", &[], b""));
    assert_eq!(echo.var("CONTENT_LENGTH"), Some("0"));
    assert_eq!(echo.body, b"");
}

#[test]
fn forged_and_private_headers_never_become_variables() {
    let site = Site::new();
    site.plugin("echo", &echo());
    let server = site.start(&[]);
    let echo = echo_output(&get_with(
        server.addr,
        "/echo",
        &[
            "Host: h",
            "Proxy: http://evil.example:3128",
            "X_Forwarded_For: 6.6.6.6",
            "X-Forwarded-For: 1.2.3.4",
            "Authorization: Basic c2VjcmV0",
            "Cookie: a=1",
            "Cookie: b=2",
            "Accept: text/html",
            "Accept: */*",
        ],
    ));
    assert_eq!(echo.var("HTTP_PROXY"), None, "httpoxy");
    assert_eq!(echo.var("HTTP_X_FORWARDED_FOR"), Some("1.2.3.4"));
    assert_eq!(echo.var("HTTP_AUTHORIZATION"), None);
    assert_eq!(echo.var("HTTP_COOKIE"), Some("a=1; b=2"));
    assert_eq!(echo.var("HTTP_ACCEPT"), Some("text/html, */*"));
}

#[test]
fn sidecar_grants_authorization_and_adds_variables_that_cannot_override_cgi() {
    let site = Site::new();
    site.plugin("echo", &echo())
        .plugin("authed", &echo())
        .sidecar(
        "authed",
        "pass_authorization = true\n[env]\nGREETING = \"hi there\"\nREQUEST_METHOD = \"FAKE\"\n",
    );
    let server = site.start(&[]);
    let headers = ["Host: h", "Authorization: Bearer t0ken"];
    let authed = echo_output(&get_with(server.addr, "/authed", &headers));
    assert_eq!(authed.var("HTTP_AUTHORIZATION"), Some("Bearer t0ken"));
    assert_eq!(authed.var("GREETING"), Some("hi there"));
    assert_eq!(authed.var("REQUEST_METHOD"), Some("GET"));
    let plain = echo_output(&get_with(server.addr, "/echo", &headers));
    assert_eq!(plain.var("HTTP_AUTHORIZATION"), None);
    assert_eq!(plain.var("GREETING"), None);
}

#[test]
fn a_body_over_the_plugin_limit_answers_413() {
    let site = Site::new();
    site.plugin("cat", &fixture("cat"))
        .sidecar("cat", "max_body_kb = 1\n");
    let server = site.start(&[]);
    let resp = request(server.addr, "POST", "/cat", &[], &[b'x'; 1024]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), 1024);
    let resp = request(server.addr, "POST", "/cat", &[], &[b'x'; 1025]);
    assert_eq!(resp.status, 413);
    assert!(!resp.text().contains("xxxx"));
}
