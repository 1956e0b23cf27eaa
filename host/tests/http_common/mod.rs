//! What the `http_*` end-to-end tests share: a small site (static files and
//! the `cat` plugin, which echoes its request body) served by the real
//! binary, and helpers to read pipelined answers off a raw socket.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Read;
use std::net::TcpStream;

use crate::support::{parse_response, Resp, Server};

/// The content of `/k1.txt`: exactly 1 KiB.
pub fn k1() -> Vec<u8> {
    (0..1024u32).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The content of `/big.bin`: 300 KiB, large enough to go out by sendfile.
pub fn big() -> Vec<u8> {
    (0..300 * 1024u32).map(|i| (i % 251) as u8).collect()
}

/// A running server and the folders it serves.
pub struct Site {
    pub server: Server,
    _static: tempfile::TempDir,
    _plugins: tempfile::TempDir,
}

/// Serve the test site with `extra` command-line flags.
pub fn start_site(extra: &[&str]) -> Site {
    let static_dir = crate::support::tempdir();
    std::fs::write(static_dir.path().join("k1.txt"), k1()).unwrap();
    std::fs::write(static_dir.path().join("big.bin"), big()).unwrap();
    std::fs::write(static_dir.path().join("index.html"), "<h1>hi</h1>\n").unwrap();
    let plugins_dir = crate::support::tempdir();
    let cat = crate::support::fixture("cat");
    std::fs::write(plugins_dir.path().join("cat.wasm"), cat).unwrap();
    let mut args = vec![
        "--static",
        static_dir.path().to_str().unwrap(),
        "--plugins",
        plugins_dir.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Site {
        server: Server::start(&args),
        _static: static_dir,
        _plugins: plugins_dir,
    }
}

/// Parse answers to requests whose HEAD-ness is given in order; stops at the
/// first incomplete one.
pub fn parse_answers(mut buf: &[u8], head_flags: &[bool]) -> Vec<Resp> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let head = head_flags.get(out.len()).copied().unwrap_or(false);
        match parse_response(buf, head) {
            Some((resp, used)) => {
                out.push(resp);
                buf = &buf[used..];
            }
            None => break,
        }
    }
    out
}

/// Read from `stream` until `n` answers (non-HEAD) are complete; the read
/// timeout set by `support::connect` bounds every wait.
pub fn read_answers(stream: &mut TcpStream, n: usize) -> Vec<Resp> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let answers = parse_answers(&buf, &[]);
        if answers.len() >= n {
            return answers;
        }
        let got = stream
            .read(&mut chunk)
            .expect("answer within the read timeout");
        assert!(
            got > 0,
            "server closed early after {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..got]);
    }
}
