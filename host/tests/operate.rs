//! Running it for real, end to end: the admin listener (metrics checked by
//! Debian's `promtool`, health, readiness through a drain, the status
//! document), request ids, caching headers and JSON logs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plugins_support;
mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use plugins_support::*;
use support::*;

const LOG_WAIT: Duration = Duration::from_secs(10);

/// A site with a plugin that answers, one that traps, one that spins past
/// its limit, one that sleeps before answering, one that writes to stderr,
/// the echo example, and a static page.
fn site() -> Site {
    let site = Site::new();
    site.plugin("fine", &printing(b"Content-Type: text/plain\n\nfine\n"))
        .plugin("trap", &fixture("trap"))
        .plugin("loop", &fixture("loop"))
        .sidecar("loop", "timeout_ms = 200\n")
        .plugin("slow", &fixture("sleep_then_answer"))
        .plugin("noisy", &fixture("stderr_spam"))
        .plugin("echo", &echo())
        .static_file("index.html", b"<!DOCTYPE html><title>home</title>\n")
        .static_file("assets/app.js", b"console.log(1)\n");
    site
}

fn skip_or_fail(why: &str) {
    assert!(
        std::env::var("WASIBIN_REQUIRE_ALL_TOOLCHAINS").as_deref() != Ok("1"),
        "{why}"
    );
    eprintln!("{why}");
}

/// The value of the sample `line_start` (a metric name with its labels) in
/// a Prometheus exposition.
fn sample(metrics: &str, line_start: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|rest| rest.trim().parse().ok())
}

#[test]
fn the_admin_listener_has_its_own_port_and_the_public_one_never_exposes_it() {
    let site = site();
    let server = site.start(&["--admin", "127.0.0.1:0"]);
    let admin = server.admin_addr();
    assert_ne!(admin, server.addr);

    let health = get(admin, "/healthz");
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    let ready = get(admin, "/readyz");
    assert_eq!((ready.status, ready.text().as_str()), (200, "ready\n"));
    let metrics = get(admin, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    assert_eq!(metrics.header("cache-control"), Some("no-store"));
    let page = get(admin, "/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<title>wasibin status</title>"));
    assert_eq!(
        request(admin, "POST", "/metrics", &[], b"x").status,
        405,
        "the admin endpoints only read"
    );

    // The public port serves the site, never the admin endpoints.
    for path in ["/metrics", "/healthz", "/readyz", "/status.json"] {
        assert_eq!(get(server.addr, path).status, 404, "{path}");
    }
    assert!(get(server.addr, "/").text().contains("<title>home</title>"));
}

#[test]
fn metrics_count_by_route_method_and_status_and_pass_promtool() {
    let site = site();
    let server = site.start(&["--admin", "127.0.0.1:0"]);
    let admin = server.admin_addr();
    for _ in 0..3 {
        assert_eq!(get(server.addr, "/fine").status, 200);
    }
    assert_eq!(
        get(server.addr, "/fine/secret-path?token=hunter2").status,
        200
    );
    assert_eq!(request(server.addr, "BREW", "/fine", &[], b"").status, 200);
    assert_eq!(get(server.addr, "/trap").status, 502);
    assert_eq!(get(server.addr, "/loop").status, 504);
    assert_eq!(get(server.addr, "/").status, 200);
    assert_eq!(get(server.addr, "/missing").status, 404);
    assert!(send_raw(
        server.addr,
        b"NOT HTTP

"
    )
    .starts_with(b"HTTP/1.1 400"));

    let metrics = get(admin, "/metrics").text();
    let expect = [
        (
            r#"wasibin_requests_total{route="/fine",method="GET",status="2xx"}"#,
            4.0,
        ),
        (
            r#"wasibin_requests_total{route="/fine",method="other",status="2xx"}"#,
            1.0,
        ),
        (
            r#"wasibin_requests_total{route="/trap",method="GET",status="5xx"}"#,
            1.0,
        ),
        (
            r#"wasibin_requests_total{route="/loop",method="GET",status="5xx"}"#,
            1.0,
        ),
        (
            r#"wasibin_requests_total{route="static",method="GET",status="2xx"}"#,
            1.0,
        ),
        (
            r#"wasibin_requests_total{route="static",method="GET",status="4xx"}"#,
            1.0,
        ),
        (
            r#"wasibin_requests_total{route="none",method="other",status="4xx"}"#,
            1.0,
        ),
        (
            r#"wasibin_request_duration_seconds_count{route="/fine"}"#,
            5.0,
        ),
        (
            r#"wasibin_plugin_failures_total{route="/trap",reason="trap"}"#,
            1.0,
        ),
        (
            r#"wasibin_plugin_failures_total{route="/loop",reason="timeout"}"#,
            1.0,
        ),
        (r#"wasibin_plugin_loads_total{result="loaded"}"#, 6.0),
        (r#"wasibin_plugin_instances_running{route="/fine"}"#, 0.0),
        (r#"wasibin_plugin_requests_queued{route="/fine"}"#, 0.0),
        ("wasibin_requests_in_flight", 0.0),
    ];
    for (line, value) in expect {
        assert_eq!(sample(&metrics, line), Some(value), "{line} in:\n{metrics}");
    }
    assert!(sample(&metrics, "wasibin_open_connections").is_some());
    assert!(metrics.contains("wasibin_build_info{version=\""));
    assert!(metrics.contains("wasibin_plugin_compile_seconds_count "));
    for leaked in ["secret-path", "hunter2", "/missing", "BREW"] {
        assert!(
            !metrics.contains(leaked),
            "{leaked} became a label:\n{metrics}"
        );
    }

    let mut promtool = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return skip_or_fail("promtool is not installed (.ci/install-deps installs it)");
        }
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_compile_cache_reports_its_hits() {
    let site = site();
    let cache = tempdir();
    let cache_dir = cache.path().to_str().unwrap();
    let plugins = site.plugins();
    let statics = site.root().join("static");
    let args = [
        "--quiet",
        "--cache-dir",
        cache_dir,
        "--static",
        statics.to_str().unwrap(),
        "--plugins",
        plugins.to_str().unwrap(),
        "--admin",
        "127.0.0.1:0",
    ];
    let first = Server::start(&args);
    let metrics = get(first.admin_addr(), "/metrics").text();
    assert_eq!(
        sample(
            &metrics,
            r#"wasibin_compile_cache_lookups_total{result="miss"}"#
        ),
        Some(6.0),
        "{metrics}"
    );
    drop(first);
    let second = Server::start(&args);
    let metrics = get(second.admin_addr(), "/metrics").text();
    assert_eq!(
        sample(
            &metrics,
            r#"wasibin_compile_cache_lookups_total{result="hit"}"#
        ),
        Some(6.0),
        "{metrics}"
    );
}

#[test]
fn readyz_turns_503_while_the_server_drains_and_the_request_in_flight_finishes() {
    let site = site();
    let mut server = site.start(&["--admin", "127.0.0.1:0", "--grace", "10"]);
    let admin = server.admin_addr();
    let addr = server.addr;
    let slow = std::thread::spawn(move || get(addr, "/slow"));
    assert!(
        server.wait_for_log("sleeping", LOG_WAIT),
        "{}",
        server.log()
    );
    server.signal("TERM");
    let deadline = Instant::now() + LOG_WAIT;
    let drained = loop {
        let ready = get(admin, "/readyz");
        if ready.status == 503 {
            break ready;
        }
        assert!(Instant::now() < deadline, "readyz stayed {}", ready.status);
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(drained.text(), "draining\n");
    assert_eq!(get(admin, "/healthz").status, 200, "alive while draining");
    assert_eq!(slow.join().unwrap().status, 200);
    assert_eq!(server.wait_exit(LOG_WAIT), Some(0));
}

#[test]
fn every_request_has_an_id_the_client_the_log_and_the_plugin_share() {
    let site = site();
    let plugins = site.plugins();
    let statics = site.root().join("static");
    // Not quiet: the access log is part of what is checked.
    let server = Server::start(&[
        "--no-cache",
        "--static",
        statics.to_str().unwrap(),
        "--plugins",
        plugins.to_str().unwrap(),
    ]);

    let generated = get(server.addr, "/");
    let id = generated.header("x-request-id").unwrap().to_owned();
    assert_eq!(id.len(), 16, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(
        get(server.addr, "/").header("x-request-id"),
        Some(id.as_str())
    );

    let kept = request(
        server.addr,
        "GET",
        "/echo",
        &[("X-Request-Id", "trace-42.a_b")],
        b"",
    );
    assert_eq!(kept.header("x-request-id"), Some("trace-42.a_b"));
    let env = kept.text();
    assert!(env.contains("\nREQUEST_ID=trace-42.a_b\n"), "{env}");
    assert!(env.contains("\nHTTP_X_REQUEST_ID=trace-42.a_b\n"), "{env}");
    assert!(env.contains("\nREQUEST_SCHEME=http\n"), "{env}");
    assert!(!env.contains("\nHTTPS="), "{env}");

    let long = "x".repeat(65);
    for bad in ["has space", "quote\"d", long.as_str()] {
        let replaced = request(server.addr, "GET", "/echo", &[("X-Request-Id", bad)], b"");
        let id = replaced.header("x-request-id").unwrap().to_owned();
        assert_eq!(id.len(), 16, "{bad:?} -> {id}");
        assert!(replaced.text().contains(&format!("\nREQUEST_ID={id}\n")));
    }

    let noisy = request(
        server.addr,
        "GET",
        "/noisy",
        &[("X-Request-Id", "noisy-1")],
        b"",
    );
    assert_eq!(noisy.status, 200);
    assert!(
        server.wait_for_log("/noisy req noisy-1: stderr-spam noise line", LOG_WAIT),
        "guest stderr lines carry the id:\n{}",
        &server.log()[..2000.min(server.log().len())]
    );
    assert!(
        server.wait_for_log("\"GET / HTTP/1.1\" 200 ", LOG_WAIT)
            && server.wait_for_log(&format!(" \"{id}\"\n"), LOG_WAIT),
        "the access log ends each line with the id:\n{}",
        server.log()
    );
    assert!(server.wait_for_log(" \"trace-42.a_b\"\n", LOG_WAIT));
}

#[test]
fn cache_control_follows_the_longest_folder_and_only_on_cacheable_answers() {
    let site = site();
    let server = site.start(&[
        "--cache-control",
        "max-age=60",
        "--cache-control",
        "/assets/=public, max-age=31536000, immutable",
    ]);
    let page = get(server.addr, "/");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("max-age=60"));
    let asset = get(server.addr, "/assets/app.js");
    assert_eq!(
        asset.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let etag = asset.header("etag").unwrap().to_owned();
    let revalidated = request(
        server.addr,
        "GET",
        "/assets/app.js",
        &[("If-None-Match", etag.as_str())],
        b"",
    );
    assert_eq!(revalidated.status, 304);
    assert_eq!(
        revalidated.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let folder = get(server.addr, "/assets");
    assert_eq!(folder.status, 301);
    assert!(folder.header("cache-control").is_some());
    assert_eq!(get(server.addr, "/missing").header("cache-control"), None);
    assert_eq!(
        get(server.addr, "/fine").header("cache-control"),
        None,
        "a plugin's answer is its own business"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_wasibin"))
        .args(["--cache-control", "a\tb\x01", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cache-control"));
}

#[test]
fn json_logs_are_one_object_a_line() {
    let site = site();
    let plugins = site.plugins();
    let statics = site.root().join("static");
    let server = Server::start(&[
        "--no-cache",
        "--log-format",
        "json",
        "--static",
        statics.to_str().unwrap(),
        "--plugins",
        plugins.to_str().unwrap(),
    ]);
    let resp = request(
        server.addr,
        "GET",
        "/fine?q=\"x\"",
        &[("User-Agent", "ua\"1")],
        b"",
    );
    let id = resp.header("x-request-id").unwrap().to_owned();
    assert_eq!(get(server.addr, "/trap").status, 502);
    assert!(server.wait_for_log(&format!("\"request_id\":\"{id}\""), LOG_WAIT));
    assert!(server.wait_for_log("plugin failed", LOG_WAIT));
    let log = server.log();
    let objects: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let access = objects
        .iter()
        .find(|o| o["request_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no access line for {id} in:\n{log}"));
    assert_eq!(access["target"], "/fine?q=\"x\"");
    assert_eq!(access["status"], 200);
    assert_eq!(access["user_agent"], "ua\"1");
    let failure = objects
        .iter()
        .find(|o| {
            o["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("plugin failed"))
        })
        .unwrap_or_else(|| panic!("no JSON diagnostic in:\n{log}"));
    assert_eq!(failure["level"], "WARN");
    assert_eq!(failure["fields"]["route"], "/trap");
    // Every line but the banner is JSON.
    for line in log.lines() {
        assert!(
            line.starts_with('{')
                || line.starts_with("wasibin: serving")
                || line.starts_with("  /"),
            "not JSON: {line}"
        );
    }
}

/// A valid command module that takes cranelift a while to compile: many
/// functions of long straight-line arithmetic.
fn slow_to_compile() -> Vec<u8> {
    let mut wat = String::from("(module (memory (export \"memory\") 1)\n");
    for f in 0..3000 {
        wat.push_str(&format!(
            "(func $f{f} (param i32) (result i32) local.get 0\n"
        ));
        for i in 0..60 {
            wat.push_str(&format!("i32.const {i} i32.add i32.const 3 i32.mul\n"));
        }
        wat.push_str(")\n");
    }
    wat.push_str("(func (export \"_start\")))");
    wat::parse_str(&wat).unwrap()
}

#[test]
fn readyz_is_503_until_the_first_plugin_scan_is_done() {
    let site = site();
    site.plugin("big", &slow_to_compile());
    // A free port, for the admin listener to take before the banner.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let admin: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let plugins = site.plugins();
    let statics = site.root().join("static");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasibin"))
        .args(["--quiet", "--no-cache", "--bind", "127.0.0.1", "--admin"])
        .arg(admin.to_string())
        .arg("--static")
        .arg(&statics)
        .arg("--plugins")
        .arg(&plugins)
        .arg("0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(mut stream) = std::net::TcpStream::connect(admin) {
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let _ =
                stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
            if let Some((resp, _)) = parse_response(&read_to_close(&mut stream), false) {
                if seen.last() != Some(&resp.status) {
                    seen.push(resp.status);
                }
                if resp.status == 200 {
                    break;
                }
                assert_eq!(resp.text(), "starting: the plugin folder is being loaded\n");
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        seen,
        [503, 200],
        "readyz while the folder loads, then after"
    );
}

/// The CPUs in a kernel CPU list such as `0-3,8`.
fn cpu_list(list: &str) -> Vec<usize> {
    list.trim()
        .split(',')
        .filter(|part| !part.is_empty())
        .flat_map(|part| match part.split_once('-') {
            Some((a, b)) => a.parse::<usize>().unwrap()..=b.parse().unwrap(),
            None => {
                let cpu = part.parse().unwrap();
                cpu..=cpu
            }
        })
        .collect()
}

/// The `Cpus_allowed_list` of a `/proc/.../status` file.
fn allowed_cpus(status: &str) -> Vec<usize> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(cpu_list)
        .unwrap_or_default()
}

/// The CPUs each `wasibin-worker-N` thread of `pid` may run on, waiting up
/// to a few seconds for `count` of them (they start after the banner).
fn worker_cpus(pid: u32, count: usize) -> Vec<Vec<usize>> {
    let deadline = Instant::now() + LOG_WAIT;
    loop {
        let mut found = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .flatten()
        {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.starts_with("wasibin-worker") {
                let status =
                    std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
                found.push(allowed_cpus(&status));
            }
        }
        if found.len() >= count || Instant::now() > deadline {
            found.sort();
            return found;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn one_worker_per_allowed_cpu_is_pinned_to_it_and_the_rest_are_not() {
    let ours = allowed_cpus(&std::fs::read_to_string("/proc/self/status").unwrap());
    if ours.len() < 2 {
        skip_or_fail(&format!(
            "needs two CPUs to pin workers to; this process may use {ours:?}"
        ));
        return;
    }
    let site = site();
    let n = ours.len().to_string();

    let pinned = site.start(&["--workers", &n]);
    for _ in 0..4 {
        assert_eq!(get(pinned.addr, "/fine").status, 200);
    }
    let cpus = worker_cpus(pinned.pid(), ours.len());
    let expected: Vec<Vec<usize>> = ours.iter().map(|&cpu| vec![cpu]).collect();
    assert_eq!(cpus, expected, "each worker on a CPU of its own");

    // Fewer workers than CPUs (a CPU quota), or the switch: left to the
    // scheduler.
    for extra in [
        &["--workers", "1"][..],
        &["--workers", &n, "--no-cpu-affinity"],
    ] {
        let server = site.start(extra);
        assert_eq!(get(server.addr, "/fine").status, 200);
        let workers = if extra[1] == "1" { 1 } else { ours.len() };
        let cpus = worker_cpus(server.pid(), workers);
        assert_eq!(cpus, vec![ours.clone(); workers], "{extra:?}: unpinned");
    }
}
