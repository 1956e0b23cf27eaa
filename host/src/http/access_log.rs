//! The access log: one line per request, in the Combined Log Format with
//! the request id as a last field, or as one JSON object (`--log-format
//! json`) for log pipelines that parse JSON.
//!
//! Each worker thread appends formatted lines to a buffer of its own (its
//! lock is shared only with the writer's swap, never with another worker, so
//! no request waits on another core); a dedicated writer thread hands every
//! buffer to stdout at least every 100 ms, or sooner once one holds 64 KiB.
//! Lines of one worker keep their order; lines of different workers are
//! interleaved by flush. Each buffer is bounded: when stdout stops draining,
//! further lines are dropped and counted, never waited for, so a stuck log
//! reader cannot stall request handling.

use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::Version;

/// Longest wait between a line being logged and it reaching stdout.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Buffered bytes (in one worker's buffer) that wake the writer before its
/// interval ends.
const HIGH_WATER: usize = 64 * 1024;
/// Buffered bytes of one worker beyond which its lines are dropped.
const MAX_PENDING: usize = 4 * 1024 * 1024;

/// A handle on the access log, bound to one buffer; [`AccessLog::for_worker`]
/// gives each worker thread a handle with a buffer of its own. Every handle
/// shares one writer; when the last is dropped the writer flushes and exits.
#[derive(Clone)]
pub(crate) struct AccessLog {
    handle: Arc<Handle>,
    buffer: Arc<Buffer>,
    format: LogFormat,
}

/// How each line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Apache's Combined Log Format, the request id appended in quotes.
    #[default]
    Combined,
    /// One JSON object a line (the diagnostics on stderr too).
    Json,
}

/// Owned by the handles only (not by the writer thread), so dropping the
/// last one is observable.
struct Handle {
    shared: Arc<Shared>,
}

struct Shared {
    /// Every worker's buffer, in the order they were made.
    buffers: Mutex<Vec<Arc<Buffer>>>,
    /// Whether the last handle is gone; the writer waits on `wake` under it.
    closed: Mutex<bool>,
    wake: Condvar,
    /// Taken before any buffer whenever both are held, so flushes keep each
    /// worker's lines in order.
    sink: Mutex<Box<dyn Write + Send>>,
}

/// One worker's pending lines.
#[derive(Default)]
struct Buffer {
    state: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    dropped: u64,
}

/// The request line as the access log shows it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RequestLine<'a> {
    /// A parsed request.
    Parsed {
        /// The method.
        method: &'a str,
        /// The request-target as sent.
        target: &'a str,
        /// The protocol version.
        version: Version,
    },
    /// The raw first line of a head that could not be parsed.
    Raw(&'a [u8]),
}

/// One finished exchange, as the access log records it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exchange<'a> {
    /// The client's address.
    pub(crate) peer: IpAddr,
    /// What was asked.
    pub(crate) request: RequestLine<'a>,
    /// The status answered.
    pub(crate) status: u16,
    /// Body bytes sent (0 for HEAD and bodiless statuses).
    pub(crate) bytes: u64,
    /// The `Referer` header.
    pub(crate) referer: Option<&'a [u8]>,
    /// The `User-Agent` header.
    pub(crate) user_agent: Option<&'a [u8]>,
    /// The request's id (see `request_id`).
    pub(crate) request_id: &'a str,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AccessLog {
    /// A log writing to the process's stdout.
    pub(crate) fn stdout(format: LogFormat) -> AccessLog {
        Self::to_writer(Box::new(std::io::stdout()), format)
    }

    /// A log writing to `sink` (tests capture lines this way).
    pub(crate) fn to_writer(sink: Box<dyn Write + Send>, format: LogFormat) -> AccessLog {
        let buffer = Arc::new(Buffer::default());
        let shared = Arc::new(Shared {
            buffers: Mutex::new(vec![Arc::clone(&buffer)]),
            closed: Mutex::new(false),
            wake: Condvar::new(),
            sink: Mutex::new(sink),
        });
        let writer = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || writer.run());
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the access-log writer; lines are written only on flush");
        }
        AccessLog {
            handle: Arc::new(Handle { shared }),
            buffer,
            format,
        }
    }

    /// A handle on the same log with a buffer of its own, for one worker.
    pub(crate) fn for_worker(&self) -> AccessLog {
        let buffer = Arc::new(Buffer::default());
        lock(&self.handle.shared.buffers).push(Arc::clone(&buffer));
        AccessLog {
            handle: Arc::clone(&self.handle),
            buffer,
            format: self.format,
        }
    }

    /// Write everything logged so far to the sink now (at shutdown, so the
    /// last requests are not lost).
    pub(crate) fn flush(&self) {
        self.handle.shared.write_pending(&mut Vec::new());
    }

    /// Append one line for `exchange` to this handle's buffer.
    pub(crate) fn log(&self, exchange: &Exchange<'_>) {
        let mut pending = lock(&self.buffer.state);
        if pending.buf.len() > MAX_PENDING {
            pending.dropped += 1;
            return;
        }
        let before = pending.buf.len();
        match self.format {
            LogFormat::Combined => format_exchange(&mut pending.buf, exchange),
            LogFormat::Json => format_json(&mut pending.buf, exchange),
        }
        let crossed = before < HIGH_WATER && pending.buf.len() >= HIGH_WATER;
        drop(pending);
        if crossed {
            self.handle.shared.wake.notify_one();
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        *lock(&self.shared.closed) = true;
        self.shared.wake.notify_one();
    }
}

impl Shared {
    fn run(&self) {
        let mut spare = Vec::with_capacity(HIGH_WATER);
        loop {
            let closed = {
                let closed = lock(&self.closed);
                let closed = if *closed || self.any_full() {
                    closed
                } else {
                    self.wake
                        .wait_timeout(closed, FLUSH_INTERVAL)
                        .map_or_else(|e| e.into_inner().0, |(c, _)| c)
                };
                *closed
            };
            self.write_pending(&mut spare);
            if closed {
                return;
            }
        }
    }

    fn any_full(&self) -> bool {
        lock(&self.buffers)
            .iter()
            .any(|b| lock(&b.state).buf.len() >= HIGH_WATER)
    }

    /// Swap each buffer's pending lines out under its lock and write them
    /// outside it, so appenders never wait for stdout.
    fn write_pending(&self, spare: &mut Vec<u8>) {
        let mut sink = lock(&self.sink);
        let buffers = lock(&self.buffers).clone();
        let mut dropped = 0;
        for buffer in buffers {
            {
                let mut pending = lock(&buffer.state);
                std::mem::swap(&mut pending.buf, spare);
                dropped += std::mem::take(&mut pending.dropped);
            }
            if !spare.is_empty() {
                // A closed or failing stdout loses log lines, never requests.
                let _ = sink.write_all(spare);
                spare.clear();
            }
        }
        let _ = sink.flush();
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "access log lines dropped: stdout is not keeping up"
            );
        }
    }
}

/// `%h - - [%t] "%r" %>s %b "%{Referer}i" "%{User-Agent}i" "%{X-Request-Id}o"`,
/// with nginx's escaping of client-controlled bytes.
fn format_exchange(out: &mut Vec<u8>, e: &Exchange<'_>) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{} - - [", e.peer);
    super::date::with_clf_date(|d| out.extend_from_slice(d));
    out.extend_from_slice(b"] \"");
    match e.request {
        RequestLine::Parsed {
            method,
            target,
            version,
        } => {
            escape_into(out, method.as_bytes());
            out.push(b' ');
            escape_into(out, target.as_bytes());
            out.push(b' ');
            out.extend_from_slice(version.as_str().as_bytes());
        }
        RequestLine::Raw(line) => escape_into(out, line),
    }
    let _ = write!(out, "\" {} {} \"", e.status, e.bytes);
    quoted_or_dash(out, e.referer);
    out.extend_from_slice(b"\" \"");
    quoted_or_dash(out, e.user_agent);
    out.extend_from_slice(b"\" \"");
    quoted_or_dash(out, Some(e.request_id.as_bytes()));
    out.extend_from_slice(b"\"\n");
}

/// The same fields as one JSON object; bytes that are not UTF-8 are
/// replaced (U+FFFD), and serde_json escapes the rest, so a client cannot
/// break the line.
fn format_json(out: &mut Vec<u8>, e: &Exchange<'_>) {
    fn string(out: &mut Vec<u8>, value: &str) {
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, value);
    }
    fn bytes_or_null(out: &mut Vec<u8>, value: Option<&[u8]>) {
        match value {
            Some(v) if !v.is_empty() => string(out, &String::from_utf8_lossy(v)),
            _ => out.extend_from_slice(b"null"),
        }
    }
    out.extend_from_slice(b"{\"time\":\"");
    super::date::with_rfc3339_date(|d| out.extend_from_slice(d));
    let _ = write!(out, "\",\"remote_addr\":\"{}\",\"request_id\":", e.peer);
    string(out, e.request_id);
    match e.request {
        RequestLine::Parsed {
            method,
            target,
            version,
        } => {
            out.extend_from_slice(b",\"method\":");
            string(out, method);
            out.extend_from_slice(b",\"target\":");
            string(out, target);
            let _ = write!(out, ",\"protocol\":\"{}\"", version.as_str());
        }
        RequestLine::Raw(line) => {
            out.extend_from_slice(b",\"request\":");
            string(out, &String::from_utf8_lossy(line));
        }
    }
    let _ = write!(out, ",\"status\":{},\"bytes\":{}", e.status, e.bytes);
    out.extend_from_slice(b",\"referer\":");
    bytes_or_null(out, e.referer);
    out.extend_from_slice(b",\"user_agent\":");
    bytes_or_null(out, e.user_agent);
    out.extend_from_slice(b"}\n");
}

fn quoted_or_dash(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(v) if !v.is_empty() => escape_into(out, v),
        _ => out.push(b'-'),
    }
}

/// `"`, `\`, control bytes and non-ASCII become `\xHH`, so a client cannot
/// forge a log line or a field boundary.
fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]);
        } else {
            out.push(b);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A sink tests can read back.
    #[derive(Clone, Default)]
    pub(crate) struct Captured(pub Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        pub(crate) fn text(&self) -> String {
            String::from_utf8_lossy(&lock(&self.0)).into_owned()
        }
    }

    #[test]
    fn formats_combined_log_format_with_escaping() {
        let mut out = Vec::new();
        format_exchange(
            &mut out,
            &Exchange {
                peer: "127.0.0.1".parse().unwrap(),
                request: RequestLine::Parsed {
                    method: "GET",
                    target: "/a\"b\\c",
                    version: Version::Http11,
                },
                status: 200,
                bytes: 1024,
                referer: None,
                user_agent: Some(b"curl/8 \x1b[31m\"x\"\n"),
                request_id: "r1",
            },
        );
        let line = String::from_utf8(out).unwrap();
        assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
        assert!(line.contains(" +0000] \"GET /a\\x22b\\x5Cc HTTP/1.1\" 200 1024 \"-\" \"curl/8 \\x1B[31m\\x22x\\x22\\x0A\" \"r1\"\n"), "{line}");
        assert_eq!(line.matches('\n').count(), 1);
    }

    #[test]
    fn raw_request_line_and_ipv6() {
        let mut out = Vec::new();
        format_exchange(
            &mut out,
            &Exchange {
                peer: "::1".parse().unwrap(),
                request: RequestLine::Raw(b"GARBAGE \xff"),
                status: 400,
                bytes: 0,
                referer: Some(b"http://r/"),
                user_agent: None,
                request_id: "r2",
            },
        );
        let line = String::from_utf8(out).unwrap();
        assert!(line.starts_with("::1 - - ["));
        assert!(
            line.ends_with("\"GARBAGE \\xFF\" 400 0 \"http://r/\" \"-\" \"r2\"\n"),
            "{line}"
        );
    }

    #[test]
    fn json_lines_are_one_object_each_whatever_the_client_sent() {
        let mut out = Vec::new();
        format_json(
            &mut out,
            &Exchange {
                peer: "::1".parse().unwrap(),
                request: RequestLine::Parsed {
                    method: "GET",
                    target: "/a\"b\n",
                    version: Version::Http11,
                },
                status: 200,
                bytes: 5,
                referer: None,
                user_agent: Some(b"ua \xff\x00"),
                request_id: "abc",
            },
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["target"], "/a\"b\n");
        assert_eq!(v["status"], 200);
        assert_eq!(v["request_id"], "abc");
        assert_eq!(v["referer"], serde_json::Value::Null);
        assert_eq!(v["user_agent"], "ua \u{fffd}\u{0}");
        assert_eq!(v["remote_addr"], "::1");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn lines_reach_the_sink_on_flush_and_on_drop() {
        let captured = Captured::default();
        let log = AccessLog::to_writer(Box::new(captured.clone()), LogFormat::Combined);
        let entry = Exchange {
            peer: "10.0.0.1".parse().unwrap(),
            request: RequestLine::Raw(b"-"),
            status: 204,
            bytes: 0,
            referer: None,
            user_agent: None,
            request_id: "r",
        };
        log.log(&entry);
        log.flush();
        assert_eq!(captured.text().lines().count(), 1);
        log.log(&entry);
        let clone = log.clone();
        drop(log);
        clone.log(&entry);
        drop(clone);
        // The writer thread flushes once it sees the last handle gone.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while captured.text().lines().count() < 3 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(captured.text().lines().count(), 3);
    }

    #[test]
    fn each_worker_keeps_its_own_order() {
        let captured = Captured::default();
        let log = AccessLog::to_writer(Box::new(captured.clone()), LogFormat::Combined);
        let workers = [log.for_worker(), log.for_worker()];
        for i in 0..50u64 {
            for (w, worker) in workers.iter().enumerate() {
                worker.log(&Exchange {
                    peer: "10.0.0.1".parse().unwrap(),
                    request: RequestLine::Raw(format!("w{w}").as_bytes()),
                    status: 200,
                    bytes: i,
                    referer: None,
                    user_agent: None,
                    request_id: "r",
                });
            }
        }
        log.flush();
        let text = captured.text();
        assert_eq!(text.lines().count(), 100);
        for w in ["w0", "w1"] {
            let sizes: Vec<u64> = text
                .lines()
                .filter(|l| l.contains(&format!("\"{w}\"")))
                .map(|l| l.split(' ').nth(7).unwrap().parse().unwrap())
                .collect();
            assert_eq!(sizes, (0..50).collect::<Vec<_>>(), "{w}");
        }
    }
}
