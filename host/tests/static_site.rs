//! End-to-end: the static site through the real server. Index pages, the 404
//! page, folder redirects (never open ones), path traversal in every
//! spelling, symlinks, MIME types, methods, and the plugins folder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use support::*;

/// A temporary site: `root/site` is served, `root/secret.txt` lies just
/// outside it, and `root/site/plugins` is the plugins folder.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let site = Site { dir: tempdir() };
        let s = site.root();
        std::fs::create_dir_all(s.join("docs")).unwrap();
        std::fs::create_dir_all(s.join("empty")).unwrap();
        std::fs::create_dir_all(s.join("evil.com")).unwrap();
        std::fs::create_dir_all(s.join("plugins/nested")).unwrap();
        std::fs::write(s.join("index.html"), "<h1>home</h1>\n").unwrap();
        std::fs::write(s.join("404.html"), "<h1>custom missing page</h1>\n").unwrap();
        std::fs::write(s.join("docs/index.html"), "<h1>docs</h1>\n").unwrap();
        std::fs::write(s.join("docs/a b.txt"), "spaced\n").unwrap();
        std::fs::write(s.join("evil.com/index.html"), "not evil\n").unwrap();
        std::fs::write(s.join("style.css"), "body{}\n").unwrap();
        std::fs::write(s.join("app.js"), "let x;\n").unwrap();
        std::fs::write(s.join("data.json"), "{}\n").unwrap();
        std::fs::write(s.join("pic.svg"), "<svg/>\n").unwrap();
        std::fs::write(s.join("notes.txt"), "notes\n").unwrap();
        std::fs::write(s.join("blob.unknownext"), "??\n").unwrap();
        std::fs::write(s.join("module.wasm"), b"\0asm\x01\0\0\0").unwrap();
        std::fs::write(site.dir.path().join("secret.txt"), "TOP-SECRET\n").unwrap();
        std::os::unix::fs::symlink(site.dir.path().join("secret.txt"), s.join("leak.txt")).unwrap();
        std::os::unix::fs::symlink(site.dir.path(), s.join("up")).unwrap();
        std::os::unix::fs::symlink("notes.txt", s.join("alias.txt")).unwrap();
        let module = wat::parse_str(r#"(module (func (export "_start")))"#).unwrap();
        std::fs::write(s.join("plugins/tool.wasm"), module).unwrap();
        std::fs::write(s.join("plugins/nested/readme.txt"), "plugin notes\n").unwrap();
        site
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("site")
    }

    fn start(&self) -> Server {
        serve(&self.root(), &self.root().join("plugins"))
    }
}

fn serve(root: &Path, plugins: &Path) -> Server {
    Server::start(&[
        "--quiet",
        "--static",
        root.to_str().unwrap(),
        "--plugins",
        plugins.to_str().unwrap(),
    ])
}

/// A raw request line sent as is (no client-side normalisation).
fn raw_get(server: &Server, target: &str) -> Resp {
    let reply = send_raw(
        server.addr,
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    parse_response(&reply, false)
        .unwrap_or_else(|| {
            panic!(
                "no response to {target:?}: {:?}",
                String::from_utf8_lossy(&reply)
            )
        })
        .0
}

#[test]
fn index_pages_files_and_the_404_page() {
    let site = Site::new();
    let server = site.start();

    let home = get(server.addr, "/");
    assert_eq!(home.status, 200);
    assert_eq!(
        home.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(home.text(), "<h1>home</h1>\n");
    assert_eq!(home.header("content-length"), Some("14"));
    assert_eq!(home.header("accept-ranges"), Some("bytes"));
    assert!(home.header("etag").is_some());
    assert!(home.header("last-modified").is_some());

    assert_eq!(get(server.addr, "/index.html").text(), "<h1>home</h1>\n");
    assert_eq!(get(server.addr, "/docs/").text(), "<h1>docs</h1>\n");
    assert_eq!(get(server.addr, "/docs/a%20b.txt").text(), "spaced\n");
    assert_eq!(get(server.addr, "//docs///a%20b.txt").text(), "spaced\n");
    assert_eq!(get(server.addr, "/alias.txt").text(), "notes\n");
    assert_eq!(get(server.addr, "/notes.txt?v=2").text(), "notes\n");

    for missing in [
        "/nope",
        "/docs/nope.html",
        "/empty/",
        "/notes.txt/",
        "/index.html/x",
    ] {
        let r = get(server.addr, missing);
        assert_eq!(r.status, 404, "{missing}");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.text(), "<h1>custom missing page</h1>\n", "{missing}");
    }

    std::fs::remove_file(site.root().join("404.html")).unwrap();
    let r = get(server.addr, "/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r.text().contains("404 Not Found"), "{}", r.text());
}

#[test]
fn folders_redirect_with_a_trailing_slash_and_never_off_site() {
    let site = Site::new();
    let server = site.start();
    for (target, location) in [
        ("/docs", "/docs/"),
        ("/docs?x=1&y=%20", "/docs/?x=1&y=%20"),
        ("//docs", "/docs/"),
        ("//evil.com", "/evil.com/"),
        ("///evil.com?q", "/evil.com/?q"),
        ("/evil%2Ecom", "/evil.com/"),
    ] {
        let r = raw_get(&server, target);
        assert_eq!(r.status, 301, "{target}");
        assert_eq!(r.header("location"), Some(location), "{target}");
    }
    for target in [
        "/%2Fevil.com",
        "/%2f%2fevil.com",
        "/\\evil.com",
        "/%5Cevil.com",
    ] {
        let r = raw_get(&server, target);
        assert!(matches!(r.status, 400 | 404), "{target}: {}", r.status);
        assert!(r.header("location").is_none(), "{target}");
    }
}

#[test]
fn traversal_never_reaches_outside_files() {
    let site = Site::new();
    let server = site.start();
    for target in [
        "/../secret.txt",
        "/docs/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/docs/%2e%2e/%2e%2e/secret.txt",
        "/docs%2f..%2f..%2fsecret.txt",
        "/..%2fsecret.txt",
        "/..%5csecret.txt",
        "/..\\secret.txt",
        "/%00/../secret.txt",
        "/secret.txt%00.html",
        "/./secret.txt",
        "/%252e%252e/secret.txt",
        "/leak.txt",
        "/up/secret.txt",
        "/up/site/plugins/tool.wasm",
    ] {
        let r = raw_get(&server, target);
        assert!(matches!(r.status, 400 | 404), "{target}: {}", r.status);
        assert!(!r.text().contains("TOP-SECRET"), "{target} leaked the file");
    }
    for target in ["/%zz", "/%", "/a%2", "/%ff", "/%c3%28"] {
        assert_eq!(raw_get(&server, target).status, 400, "{target}");
    }
    // What matters is where a file really is: a detour that ends inside the
    // root is fine.
    assert_eq!(
        raw_get(&server, "/up/site/index.html").text(),
        "<h1>home</h1>\n"
    );
    // Absolute-form targets resolve the same way.
    let r = raw_get(&server, "http://localhost/../secret.txt");
    assert!(matches!(r.status, 400 | 404), "{}", r.status);
    assert!(!r.text().contains("TOP-SECRET"));
}

#[test]
fn mime_types_by_extension() {
    let site = Site::new();
    let server = site.start();
    for (path, mime) in [
        ("/style.css", "text/css; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/notes.txt", "text/plain; charset=utf-8"),
        ("/data.json", "application/json"),
        ("/pic.svg", "image/svg+xml"),
        ("/module.wasm", "application/wasm"),
        ("/blob.unknownext", "application/octet-stream"),
    ] {
        let r = get(server.addr, path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(mime), "{path}");
    }
}

#[test]
fn methods_head_options_405_and_501() {
    let site = Site::new();
    let server = site.start();

    let reply = send_raw(
        server.addr,
        b"HEAD / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    let (head, used) = parse_response(&reply, true).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("14"));
    assert_eq!(
        head.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(used, reply.len(), "HEAD must not carry a body");

    let options = request(server.addr, "OPTIONS", "/", &[], b"");
    assert_eq!(options.status, 204);
    assert_eq!(options.header("allow"), Some("GET, HEAD, OPTIONS"));

    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let r = request(server.addr, method, "/index.html", &[], b"x=1");
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"), "{method}");
    }
    let r = request(server.addr, "BREW", "/", &[], b"");
    assert_eq!(r.status, 501);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
}

#[test]
fn plugins_folder_under_the_root_is_never_served() {
    let site = Site::new();
    let server = site.start();
    for target in [
        "/plugins/tool.wasm",
        "/plugins/nested/readme.txt",
        "/plugins/",
        "/plugins",
        "/plugins/nested",
        "//plugins//tool.wasm",
        "/%70lugins/tool.wasm",
    ] {
        let r = raw_get(&server, target);
        assert_eq!(r.status, 404, "{target}");
        assert!(r.header("location").is_none(), "{target}");
        assert!(!r.body.starts_with(b"\0asm"), "{target}");
    }
}

#[test]
fn the_example_site() {
    let plugins = tempdir();
    let server = serve(&repo_root().join("static"), plugins.path());
    let home = get(server.addr, "/");
    assert_eq!(home.status, 200);
    let html = home.text();
    assert!(html.contains("<title>"), "{html}");
    assert!(html.contains("src=\"/test.jpg\""), "{html}");
    assert!(html.contains("action=\"/form\""), "{html}");
    assert!(html.contains("name=\"firstname\""), "{html}");

    let picture = get(server.addr, "/test.jpg");
    assert_eq!(picture.status, 200);
    assert_eq!(picture.header("content-type"), Some("image/jpeg"));
    assert_eq!(
        picture.body,
        std::fs::read(repo_root().join("static/test.jpg")).unwrap()
    );
    assert!(picture.body.starts_with(&[0xFF, 0xD8, 0xFF]));

    let missing = get(server.addr, "/no/such/page");
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body,
        std::fs::read(repo_root().join("static/404.html")).unwrap()
    );

    assert_eq!(get(server.addr, "/style.css").status, 200);
}
