//! `wasibin run`: one request through the exact contract, no server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plugins_support;
mod support;

use plugins_support::*;
use support::{fixture, printing};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn runs_a_request_and_prints_the_response() {
    let site = Site::new();
    site.plugin("echo", &echo());
    let echo_wasm = site.plugins().join("echo.wasm");
    let body_file = site.root().join("body.txt");
    std::fs::write(&body_file, "from a file").unwrap();

    let out = wasibin(&[
        "run",
        echo_wasm.to_str().unwrap(),
        "--method",
        "POST",
        "--path",
        "/echo/x%20y?a=1",
        "--header",
        "X-Thing: 42",
        "--header",
        "Content-Type: text/plain",
        "--data",
        "hello",
    ]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("HTTP/1.1 200 OK\n"), "{text}");
    for line in [
        "\nREQUEST_METHOD=POST\n",
        "\nSCRIPT_NAME=/echo\n",
        "\nPATH_INFO=/x y\n",
        "\nQUERY_STRING=a=1\n",
        "\nHTTP_X_THING=42\n",
        "\nCONTENT_TYPE=text/plain\n",
        "\nCONTENT_LENGTH=5\n",
        "\nREMOTE_ADDR=127.0.0.1\n",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    assert!(text.ends_with("\nhello"), "{text}");

    let data = format!("@{}", body_file.display());
    let out = wasibin(&["run", echo_wasm.to_str().unwrap(), "-X", "PUT", "-d", &data]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("\nCONTENT_LENGTH=11\n"), "{text}");
    assert!(text.ends_with("\nfrom a file"), "{text}");
}

#[test]
fn failures_print_the_error_response_and_exit_1() {
    let site = Site::new();
    site.plugin("trap", &fixture("trap"))
        .plugin("noct", &fixture("no_content_type"));
    for name in ["trap", "noct"] {
        let wasm = site.plugins().join(format!("{name}.wasm"));
        let out = wasibin(&["run", wasm.to_str().unwrap()]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.starts_with("HTTP/1.1 502 Bad Gateway\n"), "{text}");
    }
}

#[test]
fn redirects_within_the_plugin_are_followed_and_head_has_no_body() {
    let site = Site::new();
    site.plugin(
        "hop",
        &printing(b"Status: 404 Gone Fishing\nContent-Type: text/plain\nSet-Cookie: a=1\nSet-Cookie: b=2\n\nbody"),
    );
    let wasm = site.plugins().join("hop.wasm");
    let out = wasibin(&["run", wasm.to_str().unwrap(), "-X", "HEAD"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "a 404 is an answer: {text}");
    assert_eq!(
        text,
        "HTTP/1.1 404 Gone Fishing\nContent-Type: text/plain\nSet-Cookie: a=1\nSet-Cookie: b=2\nContent-Length: 4\n\n"
    );

    site.plugin("go", &printing(b"Location: /go/there\n\n"));
    let wasm = site.plugins().join("go.wasm");
    let out = wasibin(&["run", wasm.to_str().unwrap()]);
    // /go/there redirects to itself again: the loop limit ends it.
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("HTTP/1.1 502"));

    let out = wasibin(&["run", wasm.to_str().unwrap(), "--path", "/elsewhere"]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "a path outside the mount is refused"
    );
}
