//! The response side of the CGI contract (RFC 3875 §6), end to end: what a
//! client receives for what a guest prints, through the real server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plugins_support;
mod support;

use plugins_support::*;
use support::*;

#[test]
fn status_headers_and_duplicate_cookies_pass_in_order() {
    let site = Site::new();
    site.plugin(
        "status",
        &printing(b"Status: 418 Short And Stout\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nX-Order: first\r\nSet-Cookie: b=2\r\n\r\nteapot"),
    );
    let server = site.start(&[]);
    let resp = get(server.addr, "/status");
    assert_eq!(resp.status, 418);
    assert_eq!(resp.reason, "Short And Stout");
    assert_eq!(resp.header("content-type"), Some("text/plain"));
    assert_eq!(resp.headers_all("set-cookie"), ["a=1", "b=2"]);
    assert_eq!(resp.header("x-order"), Some("first"));
    assert_eq!(resp.body, b"teapot");
    let names: Vec<_> = resp
        .headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .filter(|n| matches!(n.as_str(), "set-cookie" | "x-order"))
        .collect();
    assert_eq!(names, ["set-cookie", "x-order", "set-cookie"]);
}

#[test]
fn the_host_frames_the_body_and_drops_the_guests_framing() {
    let site = Site::new();
    site.plugin(
        "framing",
        &printing(b"Content-Type: text/plain\nContent-Length: 999\nTransfer-Encoding: chunked\nConnection: close\nServer: evil/1\nDate: yesterday\n\nfive!"),
    );
    let server = site.start(&[]);
    // Two pipelined requests: if the guest's framing leaked, the second
    // answer would be lost or mangled.
    let raw = b"GET /framing HTTP/1.1\r\nHost: h\r\n\r\nGET /framing HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let responses = parse_responses(&send_raw(server.addr, raw));
    assert_eq!(responses.len(), 2);
    for resp in responses {
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body, b"five!");
        assert_eq!(resp.header("content-length"), Some("5"));
        assert_eq!(resp.header("transfer-encoding"), None);
        assert!(resp.header("server").unwrap().starts_with("wasibin/"));
        assert_ne!(resp.header("date"), Some("yesterday"));
    }
}

#[test]
fn head_gets_the_headers_only() {
    let site = Site::new();
    site.plugin(
        "page",
        &printing(b"Content-Type: text/html\n\n<p>hello</p>"),
    );
    let server = site.start(&[]);
    let raw = send_raw(
        server.addr,
        b"HEAD /page HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    let (resp, used) = parse_response(&raw, true).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/html"));
    assert_eq!(resp.header("content-length"), Some("12"));
    assert_eq!(used, raw.len(), "no body after the head");
}

#[test]
fn a_path_location_is_followed_inside_the_server_as_a_get() {
    let site = Site::new();
    site.plugin("echo", &echo())
        .plugin("go", &printing(b"Location: /echo/landed?from=go\n\n"))
        .plugin("tostatic", &printing(b"Location: /page.html\r\n\r\n"))
        .plugin("loop", &printing(b"Location: /loop\n\n"))
        .static_file("page.html", b"<p>static page</p>");
    let server = site.start(&[]);

    let resp = request(
        server.addr,
        "POST",
        "/go",
        &[("Content-Type", "text/plain")],
        b"dropped",
    );
    let echo = echo_output(&resp);
    assert_eq!(echo.var("REQUEST_METHOD"), Some("GET"));
    assert_eq!(echo.var("PATH_INFO"), Some("/landed"));
    assert_eq!(echo.var("QUERY_STRING"), Some("from=go"));
    assert_eq!(echo.var("CONTENT_LENGTH"), None);
    assert_eq!(echo.var("CONTENT_TYPE"), None);
    assert_eq!(resp.header("location"), None);

    let resp = get(server.addr, "/tostatic");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"<p>static page</p>");

    let resp = get(server.addr, "/loop");
    assert!(resp.status >= 500, "a redirect loop ends in an error");
}

#[test]
fn an_absolute_url_location_is_a_client_redirect() {
    let site = Site::new();
    site.plugin("away", &printing(b"Location: https://example.com/x?y\n\n"))
        .plugin(
            "moved",
            &printing(b"Status: 301 Moved Permanently\nLocation: https://example.com/new\nContent-Type: text/plain\n\nmoved"),
        )
        .plugin("seeother", &printing(b"Status: 303\nLocation: /echo\n\n"));
    let server = site.start(&[]);
    let resp = get(server.addr, "/away");
    assert_eq!(resp.status, 302);
    assert_eq!(resp.header("location"), Some("https://example.com/x?y"));
    let resp = get(server.addr, "/moved");
    assert_eq!(resp.status, 301);
    assert_eq!(resp.header("location"), Some("https://example.com/new"));
    assert_eq!(resp.body, b"moved");
    // A path with an explicit redirect status goes to the client as is.
    let resp = get(server.addr, "/seeother");
    assert_eq!(resp.status, 303);
    assert_eq!(resp.header("location"), Some("/echo"));
}

#[test]
fn bodyless_statuses_need_no_content_type() {
    let site = Site::new();
    site.plugin("nothing", &printing(b"Status: 204\nX-Done: yes\n\nignored"));
    let server = site.start(&[]);
    let raw = send_raw(
        server.addr,
        b"GET /nothing HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    let (resp, used) = parse_response(&raw, false).unwrap();
    assert_eq!(resp.status, 204);
    assert_eq!(resp.header("x-done"), Some("yes"));
    assert_eq!(used, raw.len(), "a 204 carries no body");
}

#[test]
fn wasm_files_are_never_served_as_static_content() {
    let site = Site::new();
    let wasm = printing(b"Content-Type: text/plain\n\nran");
    site.plugin("app", &wasm);
    // The static root holds the plugins folder: still never served.
    let server = Server::start(&[
        "--quiet",
        "--no-cache",
        "--static",
        site.root().to_str().unwrap(),
        "--plugins",
        site.plugins().to_str().unwrap(),
    ]);
    assert_eq!(get(server.addr, "/app").body, b"ran");
    for path in [
        "/app.wasm",
        "/plugins/app.wasm",
        "/plugins/",
        "/app/../plugins/app.wasm",
    ] {
        let resp = get(server.addr, path);
        assert!(
            resp.body != wasm && !resp.body.starts_with(b"\0asm"),
            "{path} served the module ({})",
            resp.status
        );
    }
}
