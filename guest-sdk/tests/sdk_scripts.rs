//! Runs the Python and JavaScript helpers' own tests natively: the query,
//! cookie, urlencoded and multipart parsers and the response writers of
//! `guest-sdk/python/wasibin.py` (`python3 -m unittest`),
//! `guest-sdk/js/wasibin.js` and the QuickJS interpreter's prelude
//! `interpreters/quickjs/src/prelude.js` with the QuickJS examples
//! (`node --test`). The components built from them are checked against every
//! other language by the host's contract test, and quickjs.wasm itself by
//! `interpreters/quickjs/check.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::skip;

const TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `program args` in `dir` to completion (bounded); false when the
/// program is not installed.
fn run(program: &str, args: &[&str], dir: &Path) -> bool {
    let mut child = match Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return false,
        Err(e) => panic!("cannot run {program}: {e}"),
    };
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("{program} {args:?} took longer than {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{program} {args:?} failed: {status}");
    true
}

#[test]
fn python_helper() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("python");
    if !run("python3", &["-m", "unittest", "discover", "-s", "."], &dir) {
        skip("skipping the Python helper tests: python3 not found");
    }
}

#[test]
fn javascript_helper() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
    if !run("node", &["--test", "test/"], &dir) {
        skip("skipping the JavaScript helper tests: node not found (apt-get install nodejs)");
    }
}

#[test]
fn quickjs_prelude() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../interpreters/quickjs");
    if !run("node", &["--test", "test/"], &dir) {
        skip("skipping the QuickJS prelude tests: node not found (apt-get install nodejs)");
    }
}
