//! Hot reload under load: clients keep requesting a route while its module
//! is replaced a hundred times, alternating an atomic rename and an in-place
//! write. Not one request may fail, every body must come wholly from one
//! version, and no client may ever go back to an older version.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reload_support;
mod support;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use reload_support::*;
use support::{connect, parse_response, request};

/// Replacements of the module while clients run.
const REPLACEMENTS: usize = 100;
/// Client threads, each on a fresh connection per request.
const CLOSE_CLIENTS: usize = 2;
/// Client threads, each on one keep-alive connection.
const KEEP_ALIVE_CLIENTS: usize = 2;
/// Upper bound on each client's requests, so the test is bounded even if
/// the replacements stall.
const MAX_REQUESTS: usize = 200_000;
/// Upper bound on the whole run.
const MAX_RUN: Duration = Duration::from_secs(240);

fn tag(n: usize) -> String {
    format!("v{n}")
}

/// What one client saw: the versions in order, or the first failure.
struct Seen {
    versions: Vec<usize>,
    failures: Vec<String>,
}

impl Seen {
    fn record(&mut self, status: u16, body: &[u8]) {
        match (status, tag_of(body)) {
            (200, Some(tag)) => match tag.strip_prefix('v').and_then(|n| n.parse().ok()) {
                Some(n) => self.versions.push(n),
                None => self.failures.push(format!("unknown tag {tag:?}")),
            },
            _ => self.failures.push(format!(
                "{status}: {:?}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            )),
        }
    }
}

fn close_client(addr: SocketAddr, stop: &AtomicBool) -> Seen {
    let mut seen = Seen {
        versions: Vec::new(),
        failures: Vec::new(),
    };
    while !stop.load(Ordering::Relaxed) && seen.versions.len() < MAX_REQUESTS {
        let resp = request(addr, "GET", "/live", &[], b"");
        seen.record(resp.status, &resp.body);
    }
    seen
}

fn keep_alive_client(addr: SocketAddr, stop: &AtomicBool) -> Seen {
    let mut seen = Seen {
        versions: Vec::new(),
        failures: Vec::new(),
    };
    let mut stream = connect(addr);
    let mut buf = Vec::new();
    while !stop.load(Ordering::Relaxed) && seen.versions.len() < MAX_REQUESTS {
        match exchange(&mut stream, &mut buf) {
            Ok((status, body)) => seen.record(status, &body),
            Err(err) => {
                seen.failures.push(err);
                // Keep going on a new connection so one failure is counted once.
                stream = connect(addr);
                buf.clear();
            }
        }
    }
    seen
}

/// One request on a keep-alive connection; the status and body.
fn exchange(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(u16, Vec<u8>), String> {
    stream
        .write_all(b"GET /live HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some((resp, used)) = parse_response(buf, false) {
            buf.drain(..used);
            return Ok((resp.status, resp.body));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err("the server closed a keep-alive connection".to_owned()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

#[test]
fn a_hundred_replacements_under_load_fail_no_request() {
    let site =
        LiveSite::start(|dir| std::fs::write(dir.join("live.wasm"), version(&tag(0))).unwrap());
    site.wait_version("/live", &tag(0));
    let addr = site.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLOSE_CLIENTS + KEEP_ALIVE_CLIENTS)
        .map(|i| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                if i < CLOSE_CLIENTS {
                    close_client(addr, &stop)
                } else {
                    keep_alive_client(addr, &stop)
                }
            })
        })
        .collect();

    let started = Instant::now();
    let path = site.path("live.wasm");
    for n in 1..=REPLACEMENTS {
        let module = version(&tag(n));
        if n % 2 == 0 {
            write_atomic(&path, &module);
        } else {
            // Truncate and rewrite the same file: the server sees it empty
            // or half written and must keep serving the previous version.
            std::fs::write(&path, &module).unwrap();
        }
        site.wait_version("/live", &tag(n));
        assert!(started.elapsed() < MAX_RUN, "the run took too long");
    }
    stop.store(true, Ordering::Relaxed);

    let mut total = 0;
    for (i, client) in clients.into_iter().enumerate() {
        let seen = client.join().unwrap();
        assert!(
            seen.failures.is_empty(),
            "client {i}: {} failed requests, first: {}",
            seen.failures.len(),
            seen.failures[0]
        );
        assert!(!seen.versions.is_empty(), "client {i} made no request");
        assert!(
            seen.versions.windows(2).all(|w| w[0] <= w[1]),
            "client {i} went back to an older version"
        );
        total += seen.versions.len();
    }
    let log = site.server.log();
    assert!(!log.contains("\" 50"), "a 5xx in the access log");
    eprintln!(
        "{total} requests during {REPLACEMENTS} replacements in {:.1} s; \
         {} half-written versions refused while the old one served",
        started.elapsed().as_secs_f64(),
        log.matches("refused").count()
    );
}
