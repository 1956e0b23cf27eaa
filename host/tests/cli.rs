//! The command line as a user meets it: one clear line and exit 2 for a
//! mistake, exit 1 for a port in use, `WASIBIN_*` variables, and SIGTERM
//! letting the request in flight finish before a clean exit 0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use support::*;

/// Run the binary to completion with a bounded wait; (exit code, stderr).
fn run(args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasibin"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..500 {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("wasibin {args:?} did not exit within 10 s");
}

/// The diagnostic lines, without log lines a server start may print first.
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("wasibin"))
        .collect()
}

#[test]
fn a_bad_port_is_one_line_and_exit_2() {
    for port in ["99999", "http", "-1"] {
        let (code, err) = run(&[port]);
        assert_eq!(code, 2, "port {port}: {err}");
        assert_eq!(err.lines().count(), 1, "one line for port {port}: {err}");
        assert!(err.starts_with("wasibin: "), "{err}");
    }
}

#[test]
fn an_unknown_flag_is_one_line_and_exit_2() {
    let (code, err) = run(&["--no-such-flag"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--no-such-flag"), "{err}");
}

#[test]
fn help_explains_and_exits_0() {
    let out = Command::new(env!("CARGO_BIN_EXE_wasibin"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "[PORT]",
        "--bind",
        "--static",
        "--plugins",
        "WASIBIN_PORT",
        "run",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}

#[test]
fn a_port_in_use_is_one_line_and_exit_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let empty = tempdir();
    let dir = empty.path().to_str().unwrap();
    let (code, err) = run(&[
        "--bind",
        "127.0.0.1",
        "--static",
        dir,
        "--plugins",
        dir,
        "--no-cache",
        &port,
    ]);
    assert_eq!(code, 1, "{err}");
    let lines = error_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("already in use"), "{err}");
    drop(taken);
}

#[test]
fn flags_can_come_from_the_environment() {
    let site = tempdir();
    std::fs::write(site.path().join("index.html"), "from the environment\n").unwrap();
    let plugins = tempdir();
    let server = Server::start_with_env(
        &["--no-cache"],
        &[
            ("WASIBIN_STATIC", site.path().to_str().unwrap()),
            ("WASIBIN_PLUGINS", plugins.path().to_str().unwrap()),
            ("WASIBIN_QUIET", "true"),
        ],
    );
    let resp = get(server.addr, "/");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "from the environment\n");
    thread::sleep(Duration::from_millis(300));
    assert!(
        !server.log().contains("\"GET / HTTP/1.1\""),
        "WASIBIN_QUIET=true still logged:\n{}",
        server.log()
    );
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_then_exits_0() {
    let site = tempdir();
    let plugins = site.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let wasm = fixture("sleep_then_answer");
    std::fs::write(plugins.join("sleepy.wasm"), wasm).unwrap();
    let mut server = Server::start(&[
        "--no-cache",
        "--static",
        site.path().to_str().unwrap(),
        "--plugins",
        plugins.to_str().unwrap(),
    ]);

    let mut stream = connect(server.addr);
    stream
        .write_all(b"GET /sleepy HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(
        server.wait_for_log("sleeping", Duration::from_secs(10)),
        "the plugin never started:\n{}",
        server.log()
    );
    server.signal("TERM");

    let reply = read_to_close(&mut stream);
    let (resp, _) = parse_response(&reply, false).expect("a whole response after SIGTERM");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.text(), "slept\n");
    assert_eq!(resp.header("connection"), Some("close"));

    assert_eq!(server.wait_exit(Duration::from_secs(15)), Some(0));
    assert!(
        std::net::TcpStream::connect(server.addr).is_err(),
        "still accepting after SIGTERM"
    );
}

/// `wasibin probe`, the image's health check: exit 0 for a 2xx answer, 1
/// for another status or no answer, 2 for a URL it cannot use.
#[test]
fn probe_exits_0_on_2xx_and_1_otherwise() {
    let empty = tempdir();
    let server = Server::start(&[
        "--static",
        example_static().to_str().unwrap(),
        "--plugins",
        empty.path().to_str().unwrap(),
    ]);
    let url = |path: &str| format!("http://{}{path}", server.addr);
    let (code, err) = run(&["probe", &url("/")]);
    assert_eq!(code, 0, "{err}");
    let (code, err) = run(&["probe", &url("/no-such-page")]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        error_lines(&err),
        [format!("wasibin probe: {}: 404", url("/no-such-page"))]
    );

    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, err) = run(&["probe", &format!("http://{closed}/healthz")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot connect"), "{err}");

    for bad in ["https://127.0.0.1/", "127.0.0.1:9090/healthz"] {
        let (code, err) = run(&["probe", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
    }
}
