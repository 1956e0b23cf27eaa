//! Runs the Zig SDK's own unit tests (`zig test guest-sdk/zig/wasibin.zig`):
//! parsing, the body read (CONTENT_LENGTH bytes, or to end of file without
//! it, within max_body) and the refusal of headers that would break the
//! block. Skipped with a note where PyPI's ziglang is not installed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::skip;

/// A cold `zig test` compiles part of std: seconds, not minutes.
const TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn zig_sdk_unit_tests_pass() {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR"));
    let probe = Command::new("python3")
        .args(["-m", "ziglang", "version"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        skip("sdk_zig: skipped, zig not installed (pip install ziglang==0.17.0)");
        return;
    }
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("zig-cache");
    let mut child = Command::new("python3")
        .args(["-m", "ziglang", "test"])
        .arg(sdk.join("zig/wasibin.zig"))
        .arg("--cache-dir")
        .arg(&cache)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("zig test took longer than {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "zig test failed: {status}");
}
