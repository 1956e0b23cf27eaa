//! Hostile and broken guests, end to end: every failure answers a clear
//! status with a generic page, the detail goes to the log, and the server
//! keeps serving everyone else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plugins_support;
mod support;

use std::time::Duration;

use plugins_support::*;
use support::*;

const LOG_WAIT: Duration = Duration::from_secs(10);

/// A site with every hostile fixture mounted under its own name, with
/// limits small enough to be reached quickly.
fn hostile_site() -> Site {
    let site = Site::new();
    for name in [
        "loop",
        "trap",
        "memory_grab",
        "stdout_flood",
        "header_injection",
        "missing_blank_line",
        "no_content_type",
        "bad_status",
        "exit_1",
        "exit_1_with_response",
        "stderr_spam",
    ] {
        site.plugin(name, &fixture(name));
    }
    site.sidecar("loop", "timeout_ms = 300\n")
        .sidecar("memory_grab", "memory_mb = 4\n")
        .sidecar("stdout_flood", "max_stdout_kb = 64\n")
        .plugin("fine", &printing(b"Content-Type: text/plain\n\nfine\n"));
    site
}

/// What no failure page may contain: the guest's own bytes or the detail.
fn assert_generic(resp: &Resp, guest_bytes: &[&str]) {
    let text = resp.text();
    for bytes in guest_bytes {
        assert!(!text.contains(bytes), "page leaks {bytes:?}: {text}");
    }
    assert!(
        !text.contains("wasm"),
        "page leaks the failure detail: {text}"
    );
    assert_eq!(
        resp.header("content-type"),
        Some("text/html; charset=utf-8")
    );
}

#[test]
fn every_failure_maps_to_its_status_and_the_server_survives() {
    let site = hostile_site();
    let server = site.start(&[]);

    let resp = get(server.addr, "/loop");
    assert_eq!(resp.status, 504, "infinite loop");
    assert_generic(&resp, &[]);

    for (route, leaked) in [
        ("/trap", &[][..]),
        ("/memory_grab", &[]),
        ("/stdout_flood", &[]),
        ("/header_injection", &["injected", "evil"]),
        ("/missing_blank_line", &["X-A"]),
        ("/no_content_type", &["body without a type"]),
        ("/bad_status", &["bad status", "Nope"]),
        ("/exit_1", &[]),
    ] {
        let resp = get(server.addr, route);
        assert_eq!(resp.status, 502, "{route}: {}", resp.text());
        assert_eq!(resp.header("set-cookie"), None, "{route}");
        assert_eq!(resp.header("x"), None, "{route}");
        assert_generic(&resp, leaked);
        assert!(
            server.wait_for_log(&format!("route={route}"), LOG_WAIT)
                || server.wait_for_log(route, LOG_WAIT),
            "{route}: the failure is logged with its route:\n{}",
            server.log()
        );
    }

    let resp = get(server.addr, "/exit_1_with_response");
    assert_eq!(
        resp.status, 200,
        "a complete response is served despite exit 1"
    );
    assert_eq!(resp.body, b"answered anyway\n");
    assert!(
        server.wait_for_log("non-zero", LOG_WAIT),
        "{}",
        server.log()
    );

    let resp = get(server.addr, "/stderr_spam");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"still fine\n");
    assert!(server.wait_for_log("stderr-spam noise line", LOG_WAIT));
    assert!(
        server
            .log()
            .lines()
            .any(|l| l.contains("stderr-spam noise line") && l.contains("/stderr_spam")),
        "stderr lines are tagged with the route"
    );

    // Everyone else is still served, on a kept-alive connection too.
    let raw = b"GET /fine HTTP/1.1\r\nHost: h\r\n\r\nGET /trap HTTP/1.1\r\nHost: h\r\n\r\nGET /fine HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let statuses: Vec<_> = parse_responses(&send_raw(server.addr, raw))
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [200, 502, 200]);
}

#[test]
fn dev_mode_shows_the_detail_escaped() {
    let site = hostile_site();
    let server = site.start(&["--dev"]);
    let resp = get(server.addr, "/no_content_type");
    assert_eq!(resp.status, 502);
    assert!(resp.text().contains("no Content-Type"), "{}", resp.text());
    let resp = get(server.addr, "/trap");
    assert_eq!(resp.status, 502);
    assert!(resp.text().contains("/trap"), "{}", resp.text());
    assert!(!resp.text().contains("<script"));
}

#[test]
fn a_full_queue_answers_503_with_retry_after() {
    let site = Site::new();
    site.plugin("slow", &fixture("slow")).sidecar(
        "slow",
        "timeout_ms = 3000\nmax_concurrency = 1\nmax_queue = 0\n",
    );
    let server = site.start(&[]);
    let addr = server.addr;
    let first = std::thread::spawn(move || get(addr, "/slow"));
    assert!(
        server.wait_for_log("slow-started", LOG_WAIT),
        "the first request started:\n{}",
        server.log()
    );
    let resp = get(server.addr, "/slow");
    assert_eq!(resp.status, 503);
    assert_eq!(resp.header("retry-after"), Some("1"));
    assert_eq!(first.join().unwrap().status, 504);
}

#[test]
fn a_spinning_guest_does_not_stall_the_other_connections_of_its_worker() {
    let site = hostile_site();
    site.plugin("spin", &fixture("loop"))
        .sidecar("spin", "timeout_ms = 2500\n");
    // One worker: the spinning guest and the other clients share its thread.
    let server = site.start(&["--workers", "1"]);
    let addr = server.addr;
    let spinning = std::thread::spawn(move || get(addr, "/spin"));
    // Give the request a moment to reach the guest; it runs for 2.5 s, well
    // inside the client's read timeout.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!spinning.is_finished(), "the spinning request is in flight");
    for _ in 0..3 {
        let resp = get(server.addr, "/fine");
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body, b"fine\n");
    }
    assert!(
        !spinning.is_finished(),
        "the other clients were answered while the guest was still spinning"
    );
    assert_eq!(spinning.join().unwrap().status, 504);
}
