//! The AssemblyScript SDK's output side: `assemblyscript/tests/refuse.ts`,
//! compiled with asc and run under Node's WASI, must see every header that
//! would break the block refused and print only the valid ones. Skipped with
//! a note where `npm ci --prefix guest-sdk/assemblyscript` has not run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::skip;

/// asc plus one module run: seconds.
const TIMEOUT: Duration = Duration::from_secs(300);

/// Runs `cmd` to completion with a deadline, capturing its output.
fn run_bounded(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{cmd:?} took longer than {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn assemblyscript_sdk_refuses_bad_headers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assemblyscript");
    if !dir.join("node_modules/.bin/asc").is_file() {
        skip("sdk_assemblyscript: skipped, asc not installed (npm ci --prefix guest-sdk/assemblyscript)");
        return;
    }
    let wasm = Path::new(env!("CARGO_TARGET_TMPDIR")).join("as-refuse.wasm");
    let built = run_bounded(
        Command::new(dir.join("node_modules/.bin/asc"))
            .current_dir(&dir)
            .args([
                "tests/refuse.ts",
                "--config",
                "node_modules/@assemblyscript/wasi-shim/asconfig.json",
                "--runtime",
                "stub",
                "-O3",
                "-o",
            ])
            .arg(&wasm),
    );
    assert!(
        built.status.success(),
        "asc failed: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let ran = run_bounded(
        Command::new("node")
            .arg("--no-warnings")
            .arg(dir.join("tests/run-wasi.mjs"))
            .arg(&wasm)
            .env_clear()
            .env("EVIL", "x\r\nSet-Cookie: stolen=1"),
    );
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(ran.status.success(), "exit {:?}: {stderr}", ran.status);
    assert!(!stderr.contains("not refused"), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        "Status: 201 Created\nContent-Type: text/plain\nSet-Cookie: ok=1; Path=/\n\nbody 0\n"
    );
}
