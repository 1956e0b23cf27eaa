//! End-to-end: the HTTP features of the static site through the real server.
//! Validators and 304, ranges and If-Range, precompressed siblings and Vary,
//! edits seen on the next request, and a large file streamed byte-exact.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::path::Path;

use support::*;

fn serve(root: &Path) -> (Server, tempfile::TempDir) {
    let plugins = tempdir();
    let server = Server::start(&[
        "--quiet",
        "--static",
        root.to_str().unwrap(),
        "--plugins",
        plugins.path().to_str().unwrap(),
    ]);
    (server, plugins)
}

/// Deterministic bytes that are not all alike, so offsets are checked.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

fn get_with(server: &Server, path: &str, headers: &[(&str, &str)]) -> Resp {
    request(server.addr, "GET", path, headers, b"")
}

#[test]
fn validators_and_not_modified() {
    let dir = tempdir();
    std::fs::write(dir.path().join("page.html"), "<p>page</p>").unwrap();
    let (server, _p) = serve(dir.path());

    let first = get(server.addr, "/page.html");
    let etag = first.header("etag").unwrap().to_string();
    let last_modified = first.header("last-modified").unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let weak = format!("W/{etag}");
    let listed = format!("\"nope\", {etag}");
    for headers in [
        vec![("If-None-Match", etag.as_str())],
        vec![("If-None-Match", weak.as_str())],
        vec![("If-None-Match", listed.as_str())],
        vec![("If-None-Match", "*")],
        vec![("If-Modified-Since", last_modified.as_str())],
        vec![("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")],
    ] {
        let r = get_with(&server, "/page.html", &headers);
        assert_eq!(r.status, 304, "{headers:?}");
        assert!(r.body.is_empty());
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        assert_eq!(r.header("last-modified"), Some(last_modified.as_str()));
    }
    for headers in [
        vec![("If-None-Match", "\"other\"")],
        vec![("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")],
        vec![("If-Modified-Since", "not a date")],
        // If-None-Match present and not matching wins over a matching date.
        vec![
            ("If-None-Match", "\"other\""),
            ("If-Modified-Since", last_modified.as_str()),
        ],
    ] {
        let r = get_with(&server, "/page.html", &headers);
        assert_eq!(r.status, 200, "{headers:?}");
        assert_eq!(r.text(), "<p>page</p>");
    }
    let head = request(
        server.addr,
        "HEAD",
        "/page.html",
        &[("If-None-Match", &etag)],
        b"",
    );
    assert_eq!(head.status, 304);
    assert_eq!(
        get_with(&server, "/page.html", &[("If-Match", "\"other\"")]).status,
        412
    );
    assert_eq!(
        get_with(&server, "/page.html", &[("If-Match", &etag)]).status,
        200
    );
}

#[test]
fn ranges_and_if_range() {
    let dir = tempdir();
    let small = pattern(1000);
    let large = pattern(300 * 1024);
    std::fs::write(dir.path().join("small.bin"), &small).unwrap();
    std::fs::write(dir.path().join("large.bin"), &large).unwrap();
    let (server, _p) = serve(dir.path());

    for (name, data) in [("/small.bin", &small), ("/large.bin", &large)] {
        let len = data.len();
        let full = get(server.addr, name);
        let etag = full.header("etag").unwrap().to_string();
        let last_modified = full.header("last-modified").unwrap().to_string();
        for (range, start, end) in [
            ("bytes=0-9", 0, 9),
            ("bytes=100-", 100, len - 1),
            ("bytes=-5", len - 5, len - 1),
            ("bytes=-999999999", 0, len - 1),
            ("bytes=500-999999999", 500, len - 1),
            ("bytes=7-7", 7, 7),
        ] {
            let r = get_with(&server, name, &[("Range", range)]);
            assert_eq!(r.status, 206, "{name} {range}");
            assert_eq!(
                r.header("content-range"),
                Some(format!("bytes {start}-{end}/{len}").as_str()),
                "{name} {range}"
            );
            assert_eq!(r.body, data[start..=end], "{name} {range}");
        }
        for range in [format!("bytes={len}-"), "bytes=-0".to_string()] {
            let r = get_with(&server, name, &[("Range", &range)]);
            assert_eq!(r.status, 416, "{name} {range}");
            assert_eq!(
                r.header("content-range"),
                Some(format!("bytes */{len}").as_str())
            );
        }
        // Several ranges, or syntax we do not understand: the whole file.
        for range in ["bytes=0-1,5-6", "bytes=9-1", "lines=1-2"] {
            let r = get_with(&server, name, &[("Range", range)]);
            assert_eq!(r.status, 200, "{name} {range}");
            assert_eq!(&r.body, data);
        }
        // If-Range: honoured when the validator still matches.
        let r = get_with(
            &server,
            name,
            &[("Range", "bytes=0-3"), ("If-Range", &etag)],
        );
        assert_eq!(r.status, 206);
        let r = get_with(
            &server,
            name,
            &[("Range", "bytes=0-3"), ("If-Range", &last_modified)],
        );
        assert_eq!(r.status, 206);
        let r = get_with(
            &server,
            name,
            &[("Range", "bytes=0-3"), ("If-Range", "\"stale\"")],
        );
        assert_eq!(r.status, 200);
        assert_eq!(&r.body, data);
        // HEAD ignores Range.
        let r = request(server.addr, "HEAD", name, &[("Range", "bytes=0-3")], b"");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), Some(len.to_string().as_str()));
    }
}

#[test]
fn precompressed_siblings_chosen_by_accept_encoding() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("app.js"), "plain javascript").unwrap();
    std::fs::write(d.join("app.js.gz"), "GZIP-BYTES").unwrap();
    std::fs::write(d.join("app.js.br"), "BROTLI-BYTES").unwrap();
    std::fs::write(d.join("only.css"), "body{}").unwrap();
    std::fs::write(d.join("only.css.gz"), "GZ-CSS").unwrap();
    std::fs::write(d.join("plain.txt"), "no siblings").unwrap();
    let (server, _p) = serve(d);

    let cases: [(&str, Option<&str>, &str, Option<&str>); 9] = [
        ("/app.js", None, "plain javascript", None),
        ("/app.js", Some("gzip"), "GZIP-BYTES", Some("gzip")),
        (
            "/app.js",
            Some("gzip, deflate, br"),
            "BROTLI-BYTES",
            Some("br"),
        ),
        ("/app.js", Some("br;q=0, gzip"), "GZIP-BYTES", Some("gzip")),
        (
            "/app.js",
            Some("br;q=0.5, gzip;q=0.8"),
            "GZIP-BYTES",
            Some("gzip"),
        ),
        (
            "/app.js",
            Some("gzip;q=0, br;q=0"),
            "plain javascript",
            None,
        ),
        ("/app.js", Some("identity"), "plain javascript", None),
        ("/only.css", Some("br, gzip"), "GZ-CSS", Some("gzip")),
        ("/only.css", Some("br"), "body{}", None),
    ];
    let mut etags = Vec::new();
    for (path, accept, body, coding) in cases {
        let headers: Vec<(&str, &str)> =
            accept.map(|a| ("Accept-Encoding", a)).into_iter().collect();
        let r = get_with(&server, path, &headers);
        assert_eq!(r.status, 200, "{path} {accept:?}");
        assert_eq!(r.text(), body, "{path} {accept:?}");
        assert_eq!(r.header("content-encoding"), coding, "{path} {accept:?}");
        assert_eq!(
            r.header("vary"),
            Some("Accept-Encoding"),
            "{path} {accept:?}"
        );
        let mime = if path.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert!(
            r.header("content-type").unwrap().starts_with(mime),
            "{path}"
        );
        if path == "/app.js" {
            etags.push((coding, r.header("etag").unwrap().to_string()));
        }
    }
    let distinct = |a: Option<&str>, b: Option<&str>| {
        let find = |c| etags.iter().find(|(k, _)| *k == c).unwrap().1.clone();
        assert_ne!(find(a), find(b));
    };
    distinct(None, Some("gzip"));
    distinct(Some("gzip"), Some("br"));

    let r = get_with(&server, "/plain.txt", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(r.text(), "no siblings");
    assert!(r.header("vary").is_none());
    assert!(r.header("content-encoding").is_none());

    // The sibling itself, asked for by name, is a gzip file.
    let r = get(server.addr, "/app.js.gz");
    assert_eq!(r.header("content-type"), Some("application/gzip"));
    assert!(r.header("content-encoding").is_none());
}

#[test]
fn edits_are_served_on_the_next_request() {
    let dir = tempdir();
    let d = dir.path();
    let file = d.join("live.txt");
    std::fs::write(&file, "version one").unwrap();
    let (server, _p) = serve(d);
    let gzip = [("Accept-Encoding", "gzip")];

    let first = get(server.addr, "/live.txt");
    assert_eq!(first.text(), "version one");
    assert!(first.header("vary").is_none());

    // Rewritten in place, with another length.
    std::fs::write(&file, "version two, longer").unwrap();
    let second = get(server.addr, "/live.txt");
    assert_eq!(second.text(), "version two, longer");
    assert_ne!(second.header("etag"), first.header("etag"));

    // Replaced atomically by a file of the same length (a new inode).
    let tmp = d.join(".live.txt.tmp");
    std::fs::write(&file, "version 3 (same length)").unwrap();
    let mut f = std::fs::File::create(&tmp).unwrap();
    f.write_all(b"version 4 (same length)").unwrap();
    drop(f);
    assert_eq!(
        get(server.addr, "/live.txt").text(),
        "version 3 (same length)"
    );
    std::fs::rename(&tmp, &file).unwrap();
    assert_eq!(
        get(server.addr, "/live.txt").text(),
        "version 4 (same length)"
    );

    // A sibling appearing later is noticed.
    std::fs::write(d.join("live.txt.gz"), "GZ").unwrap();
    let r = get_with(&server, "/live.txt", &gzip);
    assert_eq!(r.text(), "GZ");
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    let r = get(server.addr, "/live.txt");
    assert_eq!(r.text(), "version 4 (same length)");
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    std::fs::write(d.join("live.txt.gz"), "GZ, rewritten").unwrap();
    assert_eq!(
        get_with(&server, "/live.txt", &gzip).text(),
        "GZ, rewritten"
    );
    std::fs::remove_file(d.join("live.txt.gz")).unwrap();
    assert_eq!(
        get_with(&server, "/live.txt", &gzip).text(),
        "version 4 (same length)"
    );

    // Deleted: 404. Back again: served.
    std::fs::remove_file(&file).unwrap();
    assert_eq!(get(server.addr, "/live.txt").status, 404);
    std::fs::write(&file, "reborn").unwrap();
    assert_eq!(get(server.addr, "/live.txt").text(), "reborn");

    // A large file edited in place.
    let big = d.join("big.bin");
    std::fs::write(&big, pattern(200 * 1024)).unwrap();
    assert_eq!(get(server.addr, "/big.bin").body, pattern(200 * 1024));
    std::fs::write(&big, pattern(150 * 1024)).unwrap();
    assert_eq!(get(server.addr, "/big.bin").body, pattern(150 * 1024));
}

#[test]
fn a_large_file_streams_byte_exact() {
    let dir = tempdir();
    let data = pattern(5 * 1024 * 1024);
    std::fs::write(dir.path().join("five.bin"), &data).unwrap();
    let (server, _p) = serve(dir.path());

    let r = get(server.addr, "/five.bin");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("5242880"));
    assert!(r.body == data, "5 MiB body differs");

    let r = get_with(&server, "/five.bin", &[("Range", "bytes=3000000-3000999")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, data[3_000_000..3_001_000]);

    let r = request(server.addr, "HEAD", "/five.bin", &[], b"");
    assert_eq!(r.header("content-length"), Some("5242880"));
}

#[test]
fn pipelined_static_requests_keep_their_framing() {
    let dir = tempdir();
    std::fs::write(dir.path().join("a.txt"), "alpha").unwrap();
    std::fs::write(dir.path().join("b.bin"), pattern(100 * 1024)).unwrap();
    let (server, _p) = serve(dir.path());
    let etag = get(server.addr, "/a.txt")
        .header("etag")
        .unwrap()
        .to_string();

    let requests = format!(
        "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n\
         GET /b.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n\
         GET /b.bin HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /missing HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=99-\r\nConnection: close\r\n\r\n"
    );
    let replies = parse_responses(&send_raw(server.addr, requests.as_bytes()));
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 304, 206, 200, 404, 416]);
    assert_eq!(replies[0].text(), "alpha");
    assert_eq!(replies[2].body, pattern(100 * 1024)[10..20]);
    assert_eq!(replies[3].body, pattern(100 * 1024));
}
