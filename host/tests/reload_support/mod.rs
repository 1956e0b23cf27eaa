//! Helpers shared by the hot-reload end-to-end tests: modules that say which
//! version they are, a live site whose plugins folder the test edits while
//! the real server runs, and bounded polling for "the change is visible".

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::support::{example_plugins, get, printing, tempdir, Resp, Server};

/// How long a change may take to become visible. Generous: the debounce is
/// tens of milliseconds, but a debug build on a loaded 2-core machine
/// compiles a Rust example in about half a second.
pub const VISIBLE: Duration = Duration::from_secs(10);

/// The body a version module prints: its tag repeated, so a response mixing
/// two versions (or cut short) is obvious.
pub fn body_of(tag: &str) -> String {
    let mut body = String::new();
    for _ in 0..200 {
        body.push_str(tag);
        body.push(' ');
    }
    body
}

/// A WASI command that answers `200 text/plain` with [`body_of`]`(tag)`.
pub fn version(tag: &str) -> Vec<u8> {
    assert!(tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    printing(format!("Content-Type: text/plain\n\n{}", body_of(tag)).as_bytes())
}

/// The tag of a version module's response, if the body is wholly one
/// version: every word the same.
pub fn tag_of(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let tag = text.split(' ').next()?;
    (!tag.is_empty() && text == body_of(tag)).then(|| tag.to_owned())
}

/// A module whose only extra import is one the sandbox cannot satisfy.
pub fn unsatisfiable(module: &str, name: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func (param i32 i32 i32 i32) (result i32)))
  (import "{module}" "{name}" (func))
  (memory (export "memory") 1)
  (func (export "_start")))"#
    ))
    .unwrap()
}

/// An example plugin built by `host/build.rs`, e.g. `echo`.
pub fn example(name: &str) -> Vec<u8> {
    let path = example_plugins().join(format!("{name}.wasm"));
    fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (host/build.rs builds it with the wasm32-wasip1 target)",
            path.display()
        )
    })
}

/// The short hash wasibin shows for a module: the first 12 hex digits of
/// its SHA-256.
pub fn short_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Replaces `path` the way deploy tools do: write a hidden sibling (the
/// scanner ignores dot files), then rename it over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().unwrap().to_str().unwrap();
    let tmp = path.with_file_name(format!(".{name}.{n}.tmp"));
    fs::write(&tmp, bytes).unwrap();
    fs::rename(&tmp, path).unwrap();
}

/// A plugins folder, a private cache folder and an empty static site,
/// served by the real binary.
pub struct LiveSite {
    pub plugins: PathBuf,
    pub cache: PathBuf,
    root: tempfile::TempDir,
    pub server: Server,
}

impl LiveSite {
    /// Lets `setup` fill the plugins folder, then starts the server.
    pub fn start(setup: impl FnOnce(&Path)) -> LiveSite {
        Self::start_with_env(setup, &[])
    }

    /// Like [`LiveSite::start`], with extra environment (e.g. `RUST_LOG`).
    pub fn start_with_env(setup: impl FnOnce(&Path), env: &[(&str, &str)]) -> LiveSite {
        let root = tempdir();
        let plugins = root.path().join("plugins");
        let cache = root.path().join("cache");
        fs::create_dir(&plugins).unwrap();
        fs::create_dir(root.path().join("static")).unwrap();
        setup(&plugins);
        let server = serve(root.path(), env);
        LiveSite {
            plugins,
            cache,
            root,
            server,
        }
    }

    /// Stops the server and starts a new one on the same folders (and so
    /// the same disk cache).
    pub fn restart(&mut self, env: &[(&str, &str)]) {
        self.server.signal("TERM");
        assert_eq!(self.server.wait_exit(VISIBLE), Some(0), "a clean stop");
        self.server = serve(self.root.path(), env);
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The folder holding `plugins/`, `cache/` and `static/`.
    pub fn root_dir(&self) -> &Path {
        self.root.path()
    }

    /// `plugins/REL`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.plugins.join(rel)
    }

    pub fn get(&self, path: &str) -> Resp {
        get(self.addr(), path)
    }

    /// Polls until `path` answers 200 with version `tag`.
    pub fn wait_version(&self, path: &str, tag: &str) {
        let want = body_of(tag);
        self.wait(path, &format!("version {tag}"), |r| {
            r.status == 200 && r.body == want.as_bytes()
        });
        assert!(!self.has_5xx(), "a 5xx was logged:\n{}", self.server.log());
    }

    /// Polls until `path` answers `status`.
    pub fn wait_status(&self, path: &str, status: u16) {
        self.wait(path, &format!("status {status}"), |r| r.status == status);
    }

    /// Polls `GET path` until `ok` holds for the response; panics with
    /// `what` and the server's log after [`VISIBLE`].
    pub fn wait(&self, path: &str, what: &str, ok: impl Fn(&Resp) -> bool) -> Resp {
        let deadline = Instant::now() + VISIBLE;
        loop {
            let resp = self.get(path);
            if ok(&resp) {
                return resp;
            }
            assert!(
                Instant::now() < deadline,
                "not within {VISIBLE:?}: GET {path} -> {what}; last answer {} {:?}; log:\n{}",
                resp.status,
                resp.text(),
                self.server.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the log contains `needle` (bounded).
    pub fn wait_log(&self, needle: &str) {
        assert!(
            self.server.wait_for_log(needle, VISIBLE),
            "the log never said {needle:?}:\n{}",
            self.server.log()
        );
    }

    /// How often the log says `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.server.log().matches(needle).count()
    }

    /// Whether the server logged a plugin failure (it never should while
    /// files are replaced).
    fn has_5xx(&self) -> bool {
        self.server.log().contains("\" 50")
    }
}

fn serve(root: &Path, env: &[(&str, &str)]) -> Server {
    let plugins = root.join("plugins");
    let cache = root.join("cache");
    let statics = root.join("static");
    Server::start_with_env(
        &[
            "--static",
            statics.to_str().unwrap(),
            "--plugins",
            plugins.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
        env,
    )
}
