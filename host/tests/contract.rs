//! The guest SDKs' shared contract: every language's `hello` and `form`
//! examples, built from source by `guest-sdk/build-examples.sh`, served by the
//! real server, answer the same requests with the same responses — a GET with
//! a query, a cookie, an urlencoded POST, a multipart POST with a file, a
//! client redirect, a custom status with its header, a 404 with `Status`
//! and a local redirect (which a `wasi:http` handler, having none, answers
//! itself).
//!
//! A language whose toolchain is missing here is skipped with a note (CI sets
//! `WASIBIN_REQUIRE_ALL_TOOLCHAINS=1`, which makes a skip fail the build step).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// Every SDK language, as the folder its examples are built into (and so the
/// route prefix they are served under).
const LANGUAGES: &[&str] = &[
    "rust",
    "c",
    "zig",
    "assemblyscript",
    "go",
    "cpp",
    "python",
    "js",
    "quickjs",
];

/// A cold build of every example (Rust release build, asc, zig) on two cores.
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// Compiling every example at start-up, with a cold compile cache.
const COLD_START_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs the build script into `out`, killing it if it exceeds [`BUILD_TIMEOUT`].
fn build_examples(out: &Path) {
    let script = repo_root().join("guest-sdk/build-examples.sh");
    let mut child = Command::new("bash")
        .arg(&script)
        .arg(out)
        .stdin(Stdio::null())
        .spawn()
        .expect("run guest-sdk/build-examples.sh");
    let deadline = Instant::now() + BUILD_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "build-examples.sh failed: {status}");
            return;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("build-examples.sh took longer than {BUILD_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Collects every mismatch so one run reports all languages at once.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    fn expect_status(&mut self, lang: &str, case: &str, resp: &Resp, status: u16) {
        self.check(resp.status == status, || {
            format!(
                "{lang} {case}: status {} (want {status}), body {:?}",
                resp.status,
                resp.text()
            )
        });
    }

    fn expect_header(&mut self, lang: &str, case: &str, resp: &Resp, name: &str, want: &str) {
        let got = resp.header(name);
        self.check(got == Some(want), || {
            format!("{lang} {case}: {name} is {got:?}, want {want:?}")
        });
    }

    fn expect_type(&mut self, lang: &str, case: &str, resp: &Resp, prefix: &str) {
        let got = resp.header("content-type").unwrap_or("");
        self.check(got.starts_with(prefix), || {
            format!("{lang} {case}: Content-Type {got:?}, want {prefix}...")
        });
    }

    fn expect_body(&mut self, lang: &str, case: &str, resp: &Resp, want: &str) {
        let got = resp.text();
        self.check(got == want, || {
            format!("{lang} {case}: body {got:?}, want {want:?}")
        });
    }

    fn expect_contains(&mut self, lang: &str, case: &str, resp: &Resp, needle: &str) {
        let got = resp.text();
        self.check(got.contains(needle), || {
            format!("{lang} {case}: body lacks {needle:?}: {got:?}")
        });
    }
}

fn check_hello(f: &mut Failures, addr: SocketAddr, lang: &str) {
    let path = format!("/{lang}/hello");

    let resp = get(addr, &format!("{path}?x&name=Ada%20L"));
    f.expect_status(lang, "GET hello?name", &resp, 200);
    f.expect_type(lang, "GET hello?name", &resp, "text/plain");
    f.expect_body(lang, "GET hello?name", &resp, "Hello, Ada L!\n");

    let resp = request(
        addr,
        "GET",
        &path,
        &[("Cookie", "theme=dark; name=Bob")],
        b"",
    );
    f.expect_body(lang, "GET hello with cookie", &resp, "Hello, Bob!\n");

    let resp = get(addr, &path);
    f.expect_body(lang, "GET hello", &resp, "Hello, world!\n");
}

fn check_form(f: &mut Failures, addr: SocketAddr, lang: &str) {
    let path = format!("/{lang}/form");
    let urlencoded = [("Content-Type", "application/x-www-form-urlencoded")];

    let case = "POST form urlencoded";
    let resp = request(
        addr,
        "POST",
        &path,
        &urlencoded,
        b"x=1&firstname=%3Cscript%3EAda+L",
    );
    f.expect_status(lang, case, &resp, 200);
    f.expect_type(lang, case, &resp, "text/html");
    f.expect_contains(lang, case, &resp, "<h1>Hello, &lt;script&gt;Ada L!</h1>");
    f.check(!resp.text().contains("<script>"), || {
        format!("{lang} {case}: unescaped input in {:?}", resp.text())
    });
    f.expect_header(
        lang,
        case,
        &resp,
        "set-cookie",
        "firstname=%3Cscript%3EAda%20L; Path=/",
    );

    let case = "POST form multipart";
    let file: &[u8] = b"line 1\r\n--not-the-boundary\r\n\x00\xff\xfe end";
    let mut body = Vec::new();
    body.extend_from_slice(
        b"--wasibin-7MA4YWxk\r\nContent-Disposition: form-data; name=\"firstname\"\r\n\r\nAda\r\n",
    );
    body.extend_from_slice(
        b"--wasibin-7MA4YWxk\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"notes <1>.txt\"\r\nContent-Type: application/octet-stream\r\n\r\n",
    );
    body.extend_from_slice(file);
    body.extend_from_slice(b"\r\n--wasibin-7MA4YWxk--\r\n");
    let multipart = [(
        "Content-Type",
        "multipart/form-data; boundary=wasibin-7MA4YWxk",
    )];
    let resp = request(addr, "POST", &path, &multipart, &body);
    f.expect_status(lang, case, &resp, 200);
    f.expect_contains(lang, case, &resp, "<h1>Hello, Ada!</h1>");
    f.expect_contains(
        lang,
        case,
        &resp,
        &format!("<p>Received notes &lt;1&gt;.txt: {} bytes</p>", file.len()),
    );

    let case = "GET form with cookie";
    let resp = request(addr, "GET", &path, &[("Cookie", "firstname=Ada%20L")], b"");
    f.expect_status(lang, case, &resp, 200);
    f.expect_contains(lang, case, &resp, "<p>Welcome back, Ada L!</p>");
    f.expect_contains(
        lang,
        case,
        &resp,
        &format!("<form method=\"post\" action=\"{path}\""),
    );

    let case = "POST form without a name (redirect)";
    let resp = request(addr, "POST", &path, &urlencoded, b"firstname=");
    f.expect_status(lang, case, &resp, 303);
    f.expect_header(lang, case, &resp, "location", &path);

    let case = "GET form/missing (404 with Status)";
    let resp = get(addr, &format!("{path}/missing"));
    f.expect_status(lang, case, &resp, 404);
    f.expect_type(lang, case, &resp, "text/plain");

    let case = "GET form/again (local redirect to the form)";
    let resp = get(addr, &format!("{path}/again"));
    f.expect_status(lang, case, &resp, 200);
    f.expect_contains(
        lang,
        case,
        &resp,
        &format!("<form method=\"post\" action=\"{path}\""),
    );

    let case = "PUT form (custom status)";
    let resp = request(addr, "PUT", &path, &[], b"");
    f.expect_status(lang, case, &resp, 405);
    f.expect_header(lang, case, &resp, "allow", "GET, POST");
}

/// The Rust `echo` example shows the CGI variables as the handler saw them.
fn check_rust_echo(f: &mut Failures, addr: SocketAddr) {
    let resp = request(
        addr,
        "POST",
        "/rust/echo/a%20b?q=1",
        &[("X-Custom", "yes")],
        b"raw body",
    );
    f.expect_status("rust", "echo", &resp, 200);
    for needle in [
        "POST /rust/echo/a b\n",
        "\nSCRIPT_NAME=/rust/echo\n",
        "\nPATH_INFO=/a b\n",
        "\nQUERY_STRING=q=1\n",
        "\nHTTP_X_CUSTOM=yes\n",
        "\nCONTENT_LENGTH=8\n",
    ] {
        f.expect_contains("rust", "echo", &resp, needle);
    }
    f.check(resp.text().ends_with("\n\nraw body"), || {
        format!(
            "rust echo: body does not end with the request body: {:?}",
            resp.text()
        )
    });
}

#[test]
fn every_language_answers_the_same() {
    let plugins = tempdir();
    let site = tempdir();
    build_examples(plugins.path());

    // A language's form is a module, or for QuickJS a script that the
    // server's built-in interpreter runs (host/build.rs skips building it
    // without clang-19).
    let quickjs_built = quickjs_built();
    let built: Vec<&str> = LANGUAGES
        .iter()
        .copied()
        .filter(|lang| {
            let dir = plugins.path().join(lang);
            dir.join("form.wasm").is_file()
                || (quickjs_built && *lang == "quickjs" && dir.join("form.js").is_file())
        })
        .collect();
    for lang in LANGUAGES.iter().filter(|l| !built.contains(l)) {
        eprintln!("contract: {lang} skipped, its toolchain is missing here");
    }
    assert!(
        built.contains(&"rust"),
        "the Rust examples must always build"
    );

    // Every language's modules compile before the banner; on a cold cache
    // the JavaScript and Python components alone take a minute or more on
    // two cores.
    let server = Server::start_within(
        &[],
        &[
            "--quiet",
            "--static",
            site.path().to_str().unwrap(),
            "--plugins",
            plugins.path().to_str().unwrap(),
        ],
        &[],
        COLD_START_TIMEOUT,
    );
    let mut failures = Failures::default();
    for lang in &built {
        check_hello(&mut failures, server.addr, lang);
        check_form(&mut failures, server.addr, lang);
    }
    check_rust_echo(&mut failures, server.addr);
    assert!(
        failures.0.is_empty(),
        "{} contract mismatches:\n{}\n--- server log ---\n{}",
        failures.0.len(),
        failures.0.join("\n"),
        server.log()
    );
}
