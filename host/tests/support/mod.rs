//! The end-to-end harness: start the real `wasibin` binary on a loopback port
//! and speak raw HTTP/1.1 to it, so every test sees exactly what a client sees.
//!
//! Every helper here is bounded in time: a server that does not announce
//! itself, or a socket that never closes, fails the test instead of hanging it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a server may take to print its banner (it compiles plugins first).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a raw exchange may wait for the server to close the connection.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The repository root (the folder holding the workspace `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// The example plugins folder, filled with `.wasm` files by `host/build.rs`.
pub fn example_plugins() -> PathBuf {
    repo_root().join("plugins")
}

/// Whether host/build.rs built the QuickJS interpreter that the server
/// embeds (it skips it, with a warning, without clang-19 or llvm-ar-19).
pub fn quickjs_built() -> bool {
    repo_root()
        .join("target/interpreters/wasm32-wasip1/release/quickjs.wasm")
        .is_file()
}

/// The example static site.
pub fn example_static() -> PathBuf {
    repo_root().join("static")
}

/// A running `wasibin` process, killed when dropped.
pub struct Server {
    pub addr: SocketAddr,
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Start `wasibin --bind 127.0.0.1 0 ARGS...` and wait for its banner.
    pub fn start(args: &[&str]) -> Server {
        Self::start_with_env(args, &[])
    }

    /// Like [`Server::start`], with extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::start_within(&[], args, env, START_TIMEOUT)
    }

    /// Like [`Server::start_with_env`], run by `wrapper`, a command that
    /// execs the server (e.g. `prlimit --nofile=64:64`), so the pid is the
    /// server's.
    pub fn start_under(wrapper: &[&str], args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::start_within(wrapper, args, env, START_TIMEOUT)
    }

    /// Like [`Server::start_under`], waiting up to `timeout` for the
    /// banner: a folder of large modules compiles for a while on a cold
    /// compile cache before the server announces itself.
    pub fn start_within(
        wrapper: &[&str],
        args: &[&str],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> Server {
        let bin = env!("CARGO_BIN_EXE_wasibin");
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut cmd = Command::new(program);
                cmd.args(rest).arg(bin);
                cmd
            }
            None => Command::new(bin),
        };
        cmd.args(["--bind", "127.0.0.1"])
            .args(args)
            .arg("0")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start wasibin");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = Arc::clone(&log);
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    // Logged before the address is handed over, so a test
                    // that reads the log right after start sees the banner.
                    log.lock().unwrap().push_str(&format!("{line}\n"));
                    if let Some(addr) = banner_addr(&line) {
                        let _ = tx.send(addr);
                    }
                }
            });
        }
        match rx.recv_timeout(timeout) {
            Ok(addr) => Server { addr, child, log },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "wasibin did not announce its address within {timeout:?}; it printed:\n{}",
                    log.lock().unwrap()
                );
            }
        }
    }

    /// The admin listener's address, from the banner's `admin:` line
    /// (printed right after the first line).
    pub fn admin_addr(&self) -> SocketAddr {
        assert!(
            self.wait_for_log("  admin: http://", Duration::from_secs(10)),
            "no admin line in:\n{}",
            self.log()
        );
        self.log()
            .lines()
            .find(|l| l.starts_with("  admin: http://"))
            .and_then(banner_addr)
            .expect("an address on the admin line")
    }

    /// Everything the server printed so far (stdout and stderr interleaved).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Wait until the log contains `needle`; false after `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.log().contains(needle)
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a signal (e.g. `"TERM"`, `"HUP"`) to this server only.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Wait for the process to exit by itself; its exit code, or None on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `http://ADDR/` in the start-up banner, if this line is the banner.
fn banner_addr(line: &str) -> Option<SocketAddr> {
    let start = match line.find("http://") {
        Some(i) => i + "http://".len(),
        None => line.find("https://")? + "https://".len(),
    };
    let rest = &line[start..];
    let end = rest.find('/')?;
    rest[..end].parse().ok()
}

/// Open a connection with bounded read and write timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Write `bytes` and read until the server closes (or the read timeout passes).
pub fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = connect(addr);
    // A server may answer and close before reading everything; that is fine.
    let _ = stream.write_all(bytes);
    read_to_close(&mut stream)
}

/// Read until EOF, a reset or the read timeout; whatever arrived.
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// One parsed response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// The first value of a header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order.
    pub fn headers_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Parse one response from the front of `buf`, given whether it answers a HEAD
/// request; returns it and the number of bytes it used, or None if incomplete.
pub fn parse_response(buf: &[u8], head_request: bool) -> Option<(Resp, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(buf).expect("a valid response head") {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return None,
    };
    let status = parsed.code.unwrap();
    let reason = parsed.reason.unwrap_or("").to_string();
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let mut resp = Resp {
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    let no_body = head_request || status / 100 == 1 || status == 204 || status == 304;
    if no_body {
        return Some((resp, head_len));
    }
    if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        let mut pos = head_len;
        loop {
            let line_end = find(&buf[pos..], b"\r\n")? + pos;
            let size_text = std::str::from_utf8(&buf[pos..line_end]).unwrap();
            let size_text = size_text.split(';').next().unwrap().trim();
            let size = usize::from_str_radix(size_text, 16).expect("chunk size");
            pos = line_end + 2;
            if size == 0 {
                // No trailers from wasibin: the final CRLF follows.
                if buf.len() < pos + 2 {
                    return None;
                }
                return Some((resp, pos + 2));
            }
            if buf.len() < pos + size + 2 {
                return None;
            }
            resp.body.extend_from_slice(&buf[pos..pos + size]);
            pos += size + 2;
        }
    }
    match resp.header("content-length") {
        Some(len) => {
            let len: usize = len.parse().expect("numeric Content-Length");
            if buf.len() < head_len + len {
                return None;
            }
            resp.body = buf[head_len..head_len + len].to_vec();
            Some((resp, head_len + len))
        }
        None => {
            resp.body = buf[head_len..].to_vec();
            Some((resp, buf.len()))
        }
    }
}

/// Parse every complete response in `buf` (pipelined answers to non-HEAD requests).
pub fn parse_responses(buf: &[u8]) -> Vec<Resp> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        match parse_response(&buf[pos..], false) {
            Some((resp, used)) => {
                out.push(resp);
                pos += used;
            }
            None => break,
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One request on its own connection (`Connection: close`), parsed.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    raw.push_str("\r\n");
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    let reply = send_raw(addr, &bytes);
    parse_response(&reply, method == "HEAD")
        .unwrap_or_else(|| {
            panic!(
                "incomplete response to {method} {path}: {:?}",
                String::from_utf8_lossy(&reply)
            )
        })
        .0
}

/// `GET path` on its own connection.
pub fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, &[], b"")
}

/// A fresh temporary folder, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create temp dir")
}

/// A hostile or helper module from `tests/fixtures/NAME.wat`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = repo_root()
        .join("host/tests/fixtures")
        .join(format!("{name}.wat"));
    wat::parse_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A module that writes exactly `stdout` and exits 0: for response-side
/// cases whose whole point is the bytes printed.
pub fn printing(stdout: &[u8]) -> Vec<u8> {
    let mut data = String::new();
    for &b in stdout {
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            data.push(b as char);
        } else {
            write!(data, "\\{b:02x}").unwrap();
        }
    }
    let wat = format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{data}")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const {len}))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
        len = stdout.len()
    );
    wat::parse_str(&wat).unwrap()
}
