//! Helpers shared by the `plugins_*` end-to-end tests: WAT fixtures turned
//! into modules, a throw-away site (plugins + static folders), and readers
//! for what the `echo` example prints. Built on the lead's `support` harness.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{example_plugins, parse_response, send_raw, tempdir, Resp, Server};

/// The `echo` example built by `host/build.rs`.
pub fn echo() -> Vec<u8> {
    let path = example_plugins().join("echo.wasm");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (host/build.rs builds it with the wasm32-wasip1 target)",
            path.display()
        )
    })
}

/// A temporary site: `plugins/` and `static/` folders to fill, then serve.
pub struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    pub fn new() -> Site {
        let dir = tempdir();
        std::fs::create_dir(dir.path().join("plugins")).unwrap();
        std::fs::create_dir(dir.path().join("static")).unwrap();
        Site { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn plugins(&self) -> PathBuf {
        self.root().join("plugins")
    }

    /// `plugins/ROUTE.wasm`, e.g. `api/users` serves `/api/users`.
    pub fn plugin(&self, route: &str, wasm: &[u8]) -> &Site {
        let path = self.plugins().join(format!("{route}.wasm"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, wasm).unwrap();
        self
    }

    /// `plugins/ROUTE.toml`, the plugin's sidecar.
    pub fn sidecar(&self, route: &str, toml: &str) -> &Site {
        std::fs::write(self.plugins().join(format!("{route}.toml")), toml).unwrap();
        self
    }

    /// A file under `static/`.
    pub fn static_file(&self, rel: &str, contents: &[u8]) -> &Site {
        let path = self.root().join("static").join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    /// Start the real server on this site.
    pub fn start(&self, extra: &[&str]) -> Server {
        let plugins = self.plugins();
        let statics = self.root().join("static");
        let mut args = vec![
            "--quiet",
            "--no-cache",
            "--static",
            statics.to_str().unwrap(),
            "--plugins",
            plugins.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        Server::start(&args)
    }
}

/// Send a raw request (which must close the connection) and parse the answer.
pub fn exchange(addr: SocketAddr, raw: &[u8], head_request: bool) -> Resp {
    let reply = send_raw(addr, raw);
    parse_response(&reply, head_request)
        .unwrap_or_else(|| panic!("incomplete response: {:?}", String::from_utf8_lossy(&reply)))
        .0
}

/// `GET target` with exactly these header lines (no Host added).
pub fn get_with(addr: SocketAddr, target: &str, headers: &[&str]) -> Resp {
    let mut raw = format!("GET {target} HTTP/1.1\r\nConnection: close\r\n");
    for h in headers {
        raw.push_str(h);
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    exchange(addr, raw.as_bytes(), false)
}

/// What `echo` printed: its first line, the variables, and the body.
#[derive(Debug)]
pub struct Echo {
    pub first_line: String,
    pub vars: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Echo {
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

/// Parse echo's output: `METHOD PATH[?QUERY]`, (a blank line,) `NAME=value`
/// lines, a blank line, then the body bytes.
pub fn echo_output(resp: &Resp) -> Echo {
    assert_eq!(
        resp.status,
        200,
        "echo answered {}: {}",
        resp.status,
        resp.text()
    );
    let text = &resp.body;
    let first_end = find(text, b"\n").expect("echo's first line");
    let first_line = String::from_utf8_lossy(&text[..first_end]).into_owned();
    let mut vars_start = first_end + 1;
    if text.get(vars_start) == Some(&b'\n') {
        vars_start += 1;
    }
    let vars_end = vars_start + find(&text[vars_start..], b"\n\n").map_or(0, |i| i + 1);
    let mut vars = BTreeMap::new();
    for line in String::from_utf8_lossy(&text[vars_start..vars_end]).lines() {
        if let Some((k, v)) = line.split_once('=') {
            vars.insert(k.to_owned(), v.to_owned());
        }
    }
    let body = text.get(vars_end + 1..).unwrap_or_default().to_vec();
    Echo {
        first_line,
        vars,
        body,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Run `wasibin ARGS...` to completion (bounded), capturing its output.
pub fn wasibin(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasibin"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wasibin");
    // Drain both pipes while waiting, so a chatty child never blocks on them.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = r.read_to_end(&mut out);
            out
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("wasibin {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}
