//! `c/wasibin.h` compiled natively (with AddressSanitizer and UBSan where the
//! compiler has them) and run as the CGI program it is: the header refuses
//! every header that would break the block, `wb_body` reads a body with or
//! without `CONTENT_LENGTH` (then to end of file) within `WB_MAX_BODY`, and
//! the `form` example survives hostile bodies, cookies and content types
//! without a memory error. The same
//! for C++: the header compiled as C++ under `c/wasibin.hpp`, its refusals
//! (a NUL inside a `std::string` included), and `examples/cpp/form.cpp`.
//!
//! Native because the parsing code is the same C on every target, and a
//! sanitizer catches what a wasm trap would only hint at. Skipped with a note
//! where no C compiler is installed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use proptest::prelude::*;

mod common;
use common::skip;

fn sdk() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Compiles `source` with the header, once per test binary; `None` without
/// a C compiler. A `.cpp` source is compiled as C++17 with `$CXX` (`c++`).
fn compile(source: &str, name: &str) -> Option<PathBuf> {
    let cpp = source.ends_with(".cpp");
    let (var, default, std) = if cpp {
        ("CXX", "c++", "-std=c++17")
    } else {
        ("CC", "cc", "-std=c99")
    };
    let cc = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("wasibin-c-{name}"));
    let base = |cmd: &mut Command| {
        cmd.args([std, "-g", "-O1", "-Wall", "-Wextra", "-Werror", "-I"])
            .arg(sdk().join("c"))
            .arg("-o")
            .arg(&out)
            .arg(sdk().join(source));
    };
    let mut sanitized = Command::new(&cc);
    sanitized.args(["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]);
    base(&mut sanitized);
    match sanitized.output() {
        Ok(o) if o.status.success() => return Some(out),
        Ok(_) => {}
        Err(_) => {
            skip(&format!("sdk_c: skipped, no compiler ({cc})"));
            return None;
        }
    }
    let mut plain = Command::new(&cc);
    base(&mut plain);
    let o = plain.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    Some(out)
}

fn form_binary() -> Option<&'static PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| compile("examples/c/form.c", "form"))
        .as_ref()
}

fn cpp_form_binary() -> Option<&'static PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| compile("examples/cpp/form.cpp", "form-cpp"))
        .as_ref()
}

/// Both languages' `form`: the same header, the same answers.
fn form_binaries() -> Vec<&'static PathBuf> {
    form_binary().into_iter().chain(cpp_form_binary()).collect()
}

/// Runs `bin` as a CGI program: `vars` as its whole environment, `body` on stdin.
fn run_cgi(bin: &Path, vars: &[(&str, &str)], body: &[u8]) -> Output {
    let mut child = Command::new(bin)
        .env_clear()
        .envs(vars.iter().copied())
        .env("ASAN_OPTIONS", "detect_leaks=0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A program may exit before reading all of stdin: a broken pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(body);
    child.wait_with_output().unwrap()
}

/// The header block of a CGI response, checked to be well formed.
fn assert_clean_head(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}, stderr {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let (head, _) = text
        .split_once("\n\n")
        .unwrap_or_else(|| panic!("no blank line in {text:?}"));
    for line in head.split('\n') {
        let (name, _) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("bad header line {line:?}"));
        assert!(
            !name.is_empty() && !name.contains([' ', '\r', '\0']),
            "{line:?}"
        );
        assert!(!line.contains(['\r', '\0']), "{line:?}");
    }
}

#[test]
fn refuses_headers_that_would_break_the_block() {
    let Some(bin) = compile("c/tests/refuse.c", "refuse") else {
        return;
    };
    let out = run_cgi(&bin, &[("EVIL", "x\r\nSet-Cookie: stolen=1")], b"");
    assert_clean_head(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Status: 201 Created\nContent-Type: text/plain\nSet-Cookie: ok=1; Path=/\n\nbody\n"
    );
}

#[test]
fn cpp_layer_refuses_headers_that_would_break_the_block() {
    let Some(bin) = compile("c/tests/refuse.cpp", "refuse-cpp") else {
        return;
    };
    let out = run_cgi(&bin, &[("EVIL", "x\r\nSet-Cookie: stolen=1")], b"");
    assert_clean_head(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Status: 201 Created\nContent-Type: text/plain\nSet-Cookie: ok=1; Path=/\n\nbody\n"
    );
}

#[test]
fn form_answers_a_multipart_upload() {
    for bin in form_binaries() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"firstname\"\r\n\r\nAda\r\n--b\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.bin\"\r\n\r\n\x00\x01\r\n--b--\r\n";
        let len = body.len().to_string();
        let out = run_cgi(
            bin,
            &[
                ("REQUEST_METHOD", "POST"),
                ("SCRIPT_NAME", "/form"),
                ("CONTENT_TYPE", "multipart/form-data; boundary=b"),
                ("CONTENT_LENGTH", &len),
            ],
            body,
        );
        assert_clean_head(&out);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("<h1>Hello, Ada!</h1>"), "{text}");
        assert!(text.contains("<p>Received a.bin: 2 bytes</p>"), "{text}");
    }
}

#[test]
fn form_rejects_a_body_shorter_than_its_length() {
    for bin in form_binaries() {
        let out = run_cgi(
            bin,
            &[
                ("REQUEST_METHOD", "POST"),
                ("CONTENT_TYPE", "application/x-www-form-urlencoded"),
                ("CONTENT_LENGTH", "100"),
            ],
            b"firstname=Ada",
        );
        assert_clean_head(&out);
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("Status: 400"));
    }
}

/// A body without `CONTENT_LENGTH` (a chunked upload the host streams) is
/// stdin to end of file, up to `WB_MAX_BODY` (10000 in `c/tests/body.c`);
/// one byte more is refused, as a `CONTENT_LENGTH` over it is.
#[test]
fn body_without_a_length_is_read_to_end_of_file() {
    let Some(bin) = compile("c/tests/body.c", "body") else {
        return;
    };
    let chunked = [
        ("REQUEST_METHOD", "POST"),
        ("CONTENT_TYPE", "application/x-www-form-urlencoded"),
        ("HTTP_TRANSFER_ENCODING", "chunked"),
    ];
    let answer = |vars: &[(&str, &str)], body: &[u8]| {
        let out = run_cgi(&bin, vars, body);
        assert_clean_head(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    let ok = |text: &str| format!("Content-Type: text/plain\n\n{text}, NUL-terminated: yes\n");
    assert_eq!(answer(&chunked, b"a=1&b=2"), ok("7 bytes, a=1 b=2"));
    assert_eq!(answer(&chunked, b""), ok("0 bytes, a=- b=-"));
    let mut longest = b"a=1&b=2&c=".to_vec();
    longest.resize(10000, b'x');
    assert_eq!(answer(&chunked, &longest), ok("10000 bytes, a=1 b=2"));
    longest.push(b'x');
    assert!(answer(&chunked, &longest).starts_with("Status: 400"));
    let over = [("CONTENT_LENGTH", "10001")];
    assert!(answer(&over, &longest).starts_with("Status: 400"));
    // An empty CONTENT_LENGTH still means no body, whatever stdin holds.
    assert_eq!(
        answer(&[("CONTENT_LENGTH", "")], b"a=1"),
        ok("0 bytes, a=- b=-")
    );
}

#[test]
fn form_answers_a_chunked_upload() {
    for bin in form_binaries() {
        let out = run_cgi(
            bin,
            &[
                ("REQUEST_METHOD", "POST"),
                ("SCRIPT_NAME", "/form"),
                ("CONTENT_TYPE", "application/x-www-form-urlencoded"),
                ("HTTP_TRANSFER_ENCODING", "chunked"),
            ],
            b"firstname=Ada",
        );
        assert_clean_head(&out);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("<h1>Hello, Ada!</h1>"), "{text}");
    }
}

/// Bytes that steer random input towards the parsers' edge cases.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(b"\r\n".to_vec()),
            Just(b"--b".to_vec()),
            Just(b"--b--".to_vec()),
            Just(b"Content-Disposition: form-data; name=\"".to_vec()),
            Just(b"firstname".to_vec()),
            Just(b"filename=\"".to_vec()),
            Just(b"\"; ".to_vec()),
            Just(b"%".to_vec()),
            Just(b"=".to_vec()),
            Just(b"&".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..8),
        ],
        0..40,
    )
    .prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn form_survives_hostile_input(
        body in hostile_bytes(),
        multipart in any::<bool>(),
        boundary in "[-a-zA-Z0-9'()+_,./:=? \"]{0,80}",
        cookie in "[ -~]{0,40}",
        query in "[ -~]{0,40}",
        chunked in any::<bool>(),
    ) {
        let content_type = if multipart {
            format!("multipart/form-data; boundary={boundary}")
        } else {
            "application/x-www-form-urlencoded".to_owned()
        };
        let len = body.len().to_string();
        // Without CONTENT_LENGTH the body is stdin to end of file.
        let length = if chunked {
            ("HTTP_TRANSFER_ENCODING", "chunked")
        } else {
            ("CONTENT_LENGTH", len.as_str())
        };
        for bin in form_binaries() {
            let out = run_cgi(bin, &[
                ("REQUEST_METHOD", "POST"),
                ("SCRIPT_NAME", "/form"),
                ("CONTENT_TYPE", &content_type),
                length,
                ("HTTP_COOKIE", &cookie),
                ("QUERY_STRING", &query),
            ], &body);
            assert_clean_head(&out);
            let get = run_cgi(bin, &[("REQUEST_METHOD", "GET"), ("HTTP_COOKIE", &cookie)], b"");
            assert_clean_head(&get);
        }
    }
}
