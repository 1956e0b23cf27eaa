//! The AssemblyScript SDK under Node's WASI: `assemblyscript/tests/refuse.ts`
//! must see every header that would break the block refused and print only
//! the valid ones, and `assemblyscript/tests/body.ts` must get the body of
//! exactly CONTENT_LENGTH bytes, or stdin to end of file without one, within
//! MAX_BODY. Skipped with a note where `npm ci --prefix
//! guest-sdk/assemblyscript` has not run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::skip;

/// asc plus one module run: seconds.
const TIMEOUT: Duration = Duration::from_secs(300);

/// Runs `cmd` to completion with a deadline, `stdin` as its input, capturing
/// its output. The input is written from a thread, so a program that answers
/// before reading it all cannot deadlock the test.
fn run_bounded(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    // A program may exit before reading all of stdin: a broken pipe is fine.
    let writer = std::thread::spawn(move || drop(pipe.write_all(&input)));
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{cmd:?} took longer than {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    writer.join().unwrap();
    child.wait_with_output().unwrap()
}

fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assemblyscript")
}

/// Compiles `assemblyscript/tests/NAME.ts` as `build-examples.sh` compiles
/// a handler, plus `extra` asc flags; `None` where asc is not installed.
fn compile(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let dir = sdk_dir();
    if !dir.join("node_modules/.bin/asc").is_file() {
        skip("sdk_assemblyscript: skipped, asc not installed (npm ci --prefix guest-sdk/assemblyscript)");
        return None;
    }
    let wasm = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("as-{name}.wasm"));
    let built = run_bounded(
        Command::new(dir.join("node_modules/.bin/asc"))
            .current_dir(&dir)
            .arg(format!("tests/{name}.ts"))
            .args([
                "--config",
                "node_modules/@assemblyscript/wasi-shim/asconfig.json",
                "--runtime",
                "stub",
                "-O3",
            ])
            .args(extra)
            .arg("-o")
            .arg(&wasm),
        b"",
    );
    assert!(
        built.status.success(),
        "asc failed: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    Some(wasm)
}

/// Runs a compiled module under Node's WASI: `vars` as its whole
/// environment, `body` on stdin.
fn run_wasi(wasm: &Path, vars: &[(&str, &str)], body: &[u8]) -> Output {
    run_bounded(
        Command::new("node")
            .arg("--no-warnings")
            .arg(sdk_dir().join("tests/run-wasi.mjs"))
            .arg(wasm)
            .env_clear()
            .envs(vars.iter().copied()),
        body,
    )
}

#[test]
fn assemblyscript_sdk_refuses_bad_headers() {
    let Some(wasm) = compile("refuse", &[]) else {
        return;
    };
    let ran = run_wasi(&wasm, &[("EVIL", "x\r\nSet-Cookie: stolen=1")], b"");
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(ran.status.success(), "exit {:?}: {stderr}", ran.status);
    assert!(!stderr.contains("not refused"), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        "Status: 201 Created\nContent-Type: text/plain\nSet-Cookie: ok=1; Path=/\n\nbody 0\n"
    );
}

#[test]
fn assemblyscript_sdk_reads_the_body_with_or_without_a_length() {
    // 64 MiB of memory from the start: Node 20's WASI often crashes at exit
    // (SIGSEGV) after a module grew its memory many times between reads of
    // a large stdin, whatever the SDK (the Rust echo does too; compare
    // nodejs/node#51303). A module that never grows is not exposed to it.
    let Some(wasm) = compile("body", &["--initialMemory", "1024"]) else {
        return;
    };
    let answer = |vars: &[(&str, &str)], body: &[u8]| {
        let ran = run_wasi(&wasm, vars, body);
        let stderr = String::from_utf8_lossy(&ran.stderr);
        assert!(ran.status.success(), "exit {:?}: {stderr}", ran.status);
        String::from_utf8(ran.stdout).unwrap()
    };
    let form = ("CONTENT_TYPE", "application/x-www-form-urlencoded");
    let chunked = [form, ("HTTP_TRANSFER_ENCODING", "chunked")];
    let ok = |text: &str| format!("Content-Type: text/plain\n\n{text}\n");
    assert_eq!(answer(&chunked, b"a=1&b=2"), ok("7 bytes, a=1 b=2"));
    assert_eq!(answer(&chunked, b""), ok("0 bytes, a=- b=-"));
    assert_eq!(
        answer(&[form, ("CONTENT_LENGTH", "3")], b"a=1&b=2"),
        ok("3 bytes, a=1 b=-")
    );
    assert_eq!(
        answer(&[form, ("CONTENT_LENGTH", "")], b"a=1"),
        ok("0 bytes, a=- b=-")
    );
    // MAX_BODY (16 MiB) is the limit with a length or without one.
    let mut longest = b"a=1&b=2&c=".to_vec();
    longest.resize(16 << 20, b'x');
    assert_eq!(answer(&chunked, &longest), ok("16777216 bytes, a=1 b=2"));
    longest.push(b'x');
    let refused = "Status: 400 Bad Request\n";
    assert!(answer(&chunked, &longest).starts_with(refused));
    let over = [form, ("CONTENT_LENGTH", "16777217")];
    assert!(answer(&over, &longest).starts_with(refused));
}
