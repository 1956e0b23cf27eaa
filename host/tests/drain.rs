//! Drain under load: SIGTERM while clients keep sending finishes every
//! request in flight, refuses new connections, and exits 0. The clients
//! count what happened to every request they sent; none may fail except by
//! a refused connection.
//!
//! The load is bounded (a fixed number of requests per client, and every
//! client stops once the server refuses it), and so is every read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plugins_support;
mod support;

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugins_support::*;
use support::*;

/// Clients sending short requests on keep-alive connections.
const CLIENTS: usize = 6;
/// The most requests one client sends.
const REQUESTS_PER_CLIENT: usize = 2000;
/// Requests a connection carries before the client opens a new one.
const REQUESTS_PER_CONNECTION: usize = 20;
/// Slow requests (800 ms in the handler) in flight when SIGTERM arrives.
const SLOW: usize = 4;
/// Short requests answered before SIGTERM is sent (waited for, boundedly).
const BEFORE_SIGNAL: usize = 1000;

/// What the clients saw, request by request.
#[derive(Debug, Default)]
struct Counts {
    /// Answered 200 with the whole body.
    ok: usize,
    /// `connect` refused: the server had stopped listening.
    refused: usize,
    /// A fresh connection reset or closed before any byte of an answer:
    /// accepted by the kernel into the backlog after the server's last
    /// accept, and reset when the listener closed. A refusal too.
    reset_unserved: usize,
    /// A reused keep-alive connection closed before any byte of an answer
    /// (the server closed it idle as the request left): retried on a new
    /// connection, as RFC 9112 §9.3.1 lets a client do.
    retried: usize,
    /// Anything else: a partial answer, a wrong status, a timeout.
    failed: Vec<String>,
}

/// How one request ended.
enum Outcome {
    Ok { close: bool },
    ClosedUnanswered,
    Failed(String),
}

fn send(stream: &mut TcpStream, path: &str, expect: &str) -> Outcome {
    let head = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
    if let Err(e) = stream.write_all(head.as_bytes()) {
        return match e.kind() {
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset => Outcome::ClosedUnanswered,
            _ => Outcome::Failed(format!("write: {e}")),
        };
    }
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some((resp, _)) = parse_response(&raw, false) {
            if resp.status != 200 || resp.text() != expect {
                return Outcome::Failed(format!("{path}: {} {:?}", resp.status, resp.text()));
            }
            return Outcome::Ok {
                close: resp.header("connection") == Some("close"),
            };
        }
        match stream.read(&mut buf) {
            Ok(0) if raw.is_empty() => return Outcome::ClosedUnanswered,
            Err(e) if raw.is_empty() && e.kind() == ErrorKind::ConnectionReset => {
                return Outcome::ClosedUnanswered
            }
            Ok(0) => return Outcome::Failed(format!("{path}: cut off after {} bytes", raw.len())),
            Err(e) => return Outcome::Failed(format!("{path}: read: {e}")),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

/// One client: keep-alive requests until its budget is spent or the server
/// refuses it.
fn client(addr: SocketAddr, counts: &Mutex<Counts>, answered: &AtomicUsize) {
    let paths = [("/hello", "hi\n"), ("/index.html", "home\n")];
    let mut sent = 0;
    let mut conn: Option<(TcpStream, usize)> = None;
    while sent < REQUESTS_PER_CLIENT {
        let (mut stream, used) = match conn.take() {
            Some(open) => open,
            None => match TcpStream::connect(addr) {
                Ok(stream) => {
                    stream
                        .set_read_timeout(Some(Duration::from_secs(20)))
                        .unwrap();
                    (stream, 0)
                }
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    counts.lock().unwrap().refused += 1;
                    return;
                }
                Err(e) => {
                    counts.lock().unwrap().failed.push(format!("connect: {e}"));
                    return;
                }
            },
        };
        let (path, expect) = paths[sent % paths.len()];
        match send(&mut stream, path, expect) {
            Outcome::Ok { close } => {
                sent += 1;
                counts.lock().unwrap().ok += 1;
                answered.fetch_add(1, Ordering::Relaxed);
                if !close && used + 1 < REQUESTS_PER_CONNECTION {
                    conn = Some((stream, used + 1));
                }
            }
            // Retried on a new connection by the next turn of the loop.
            Outcome::ClosedUnanswered if used > 0 => counts.lock().unwrap().retried += 1,
            Outcome::ClosedUnanswered => {
                counts.lock().unwrap().reset_unserved += 1;
                return;
            }
            Outcome::Failed(why) => {
                counts.lock().unwrap().failed.push(why);
                return;
            }
        }
    }
}

#[test]
fn sigterm_under_load_finishes_what_is_in_flight_and_fails_nothing() {
    let site = Site::new();
    site.plugin("hello", &printing(b"Content-Type: text/plain\n\nhi\n"))
        .plugin("sleep", &fixture("sleep_then_answer"))
        .static_file("index.html", b"home\n");
    let mut server = site.start(&["--grace", "20"]);
    let addr = server.addr;

    let counts = Arc::new(Mutex::new(Counts::default()));
    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (counts, answered) = (Arc::clone(&counts), Arc::clone(&answered));
            std::thread::spawn(move || client(addr, &counts, &answered))
        })
        .collect();
    // Wait (boundedly) for the load to be under way; a slow machine sends
    // the signal with fewer answered, which tests the same.
    for _ in 0..3000 {
        if answered.load(Ordering::Relaxed) >= BEFORE_SIGNAL {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let slow: Vec<_> = (0..SLOW)
        .map(|_| {
            let mut stream = connect(addr);
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            std::thread::spawn(move || match send(&mut stream, "/sleep", "slept\n") {
                Outcome::Ok { close } => Ok(close),
                Outcome::ClosedUnanswered => Err("closed unanswered".to_string()),
                Outcome::Failed(why) => Err(why),
            })
        })
        .collect();
    let started = (0..1000).any(|_| {
        let n = server.log().matches("sleeping").count();
        n >= SLOW || {
            std::thread::sleep(Duration::from_millis(10));
            false
        }
    });
    assert!(
        started,
        "the slow handlers never started:\n{}",
        server.log()
    );

    server.signal("TERM");
    for slow in slow {
        let close = slow
            .join()
            .unwrap()
            .expect("a slow request in flight at SIGTERM");
        assert!(close, "an answer after SIGTERM says Connection: close");
    }
    for client in clients {
        client.join().unwrap();
    }
    let code = server.wait_exit(Duration::from_secs(30));

    let counts = counts.lock().unwrap();
    eprintln!(
        "drain: {} ok, {} refused at connect, {} reset unserved, {} retried after an idle close, {} failed; {SLOW} slow requests finished",
        counts.ok,
        counts.refused,
        counts.reset_unserved,
        counts.retried,
        counts.failed.len()
    );
    assert!(
        counts.failed.is_empty(),
        "failed requests: {:?}",
        counts.failed
    );
    assert!(counts.ok > 0, "{counts:?}");
    assert_eq!(code, Some(0), "exit code\n{}", server.log());
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after SIGTERM"
    );
}
