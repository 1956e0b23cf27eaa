//! Pages in a real browser: headless Chromium (Debian's `chromium`) loads
//! a page (of the example site, or the admin listener's status page) and
//! the test reads the DOM it built. Skipped
//! with a note where Chromium is not installed (CI sets
//! `WASIBIN_REQUIRE_ALL_TOOLCHAINS=1`, which makes a skip a failure).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plugins_support;
mod support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use plugins_support::Site;
use support::*;

/// Chromium's own start-up and the page's few seconds of events.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// The DOM of `url` once its scripts are done, or `None` without Chromium.
/// The flags are the ones this machine's closed network needs (no
/// background fetches, no QUIC) and a fresh profile per run.
fn dump_dom(url: &str) -> Option<String> {
    let profile = tempdir();
    let mut child = match Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=20000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot run chromium: {e}"),
    };
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("chromium took longer than {BROWSER_TIMEOUT:?} on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut dom = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut dom)
        .unwrap();
    Some(dom)
}

fn skip(why: &str) {
    assert!(
        std::env::var("WASIBIN_REQUIRE_ALL_TOOLCHAINS").as_deref() != Ok("1"),
        "{why}"
    );
    eprintln!("{why}");
}

#[test]
fn the_events_page_shows_each_event_the_handler_streams() {
    let server = Server::start(&[
        "--quiet",
        "--static",
        example_static().to_str().unwrap(),
        "--plugins",
        example_plugins().to_str().unwrap(),
    ]);

    // The handler's events leave as it writes them, a second apart: the
    // first arrives while the last is not written yet.
    let mut stream = connect(server.addr);
    stream
        .write_all(b"GET /events?n=3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("tick 1 of 3") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let first = String::from_utf8_lossy(&seen).into_owned();
    assert!(
        first.contains("Content-Type: text/event-stream\r\n"),
        "{first}"
    );
    assert!(!first.contains("tick 3 of 3"), "{first}");

    let Some(dom) = dump_dom(&format!("http://{}/events.html?n=3", server.addr)) else {
        skip("browser: skipped, chromium is not installed (apt-get install chromium)");
        return;
    };
    for tick in 1..=3 {
        assert!(dom.contains(&format!("tick {tick} of 3</li>")), "{dom}");
    }
    assert!(dom.contains(r#"<p id="status">done</p>"#), "{dom}");
}

#[test]
fn the_status_page_shows_routes_reloads_counters_and_the_last_errors() {
    let site = Site::new();
    site.plugin("fine", &printing(b"Content-Type: text/plain\n\nfine\n"))
        .plugin("trap", &fixture("trap"));
    let server = site.start(&["--admin", "127.0.0.1:0"]);
    let admin = server.admin_addr();
    for _ in 0..3 {
        assert_eq!(get(server.addr, "/fine").status, 200);
    }
    let failed = request(
        server.addr,
        "GET",
        "/trap",
        &[("X-Request-Id", "trap-req-1")],
        b"",
    );
    assert_eq!(failed.status, 502);
    // A bad upload over a working plugin: refused, the old version serves.
    std::fs::write(site.plugins().join("fine.wasm"), b"not a module").unwrap();
    assert!(
        server.wait_for_log("refused", Duration::from_secs(10)),
        "{}",
        server.log()
    );
    assert_eq!(get(server.addr, "/fine").status, 200);

    let Some(dom) = dump_dom(&format!("http://{admin}/")) else {
        skip("browser: skipped, chromium is not installed (apt-get install chromium)");
        return;
    };
    assert!(
        dom.contains(r#"<span id="state" class="badge ok">ready</span>"#),
        "{dom}"
    );
    let fine = row_of(&dom, r#"data-route="/fine""#);
    assert!(
        fine.contains(r#"<td class="kind">WASI p1 command</td>"#),
        "{fine}"
    );
    assert!(fine.contains(r#"<td class="requests">4</td>"#), "{fine}");
    assert!(
        fine.contains("refused") && fine.contains("still serving"),
        "the refusal shows beside the version that serves: {fine}"
    );
    let trap = row_of(&dom, r#"data-route="/trap""#);
    assert!(trap.contains(r#"<td class="failures">1</td>"#), "{trap}");
    let error = row_of(&dom, r#"data-request-id="trap-req-1""#);
    assert!(error.contains("<td>502</td>"), "{error}");
    assert!(error.contains("<td>/trap</td>"), "{error}");
    assert!(dom.contains(r#"<b id="counter-5xx">1</b>"#), "{dom}");
    assert!(dom.contains(r#"<b id="counter-refused">1</b>"#), "{dom}");
}

/// The `<tr ...>` element carrying `attr`, up to its end.
fn row_of<'a>(dom: &'a str, attr: &str) -> &'a str {
    let start = dom
        .find(attr)
        .unwrap_or_else(|| panic!("no row with {attr} in:\n{dom}"));
    let end = dom[start..].find("</tr>").map_or(dom.len(), |i| start + i);
    &dom[start..end]
}
