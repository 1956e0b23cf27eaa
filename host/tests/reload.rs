//! Hot reload through the real server: the test edits the plugins folder
//! the way people and deploy tools do (copy in, overwrite, rename, delete,
//! half-written files, garbage, sidecars, folders, SIGHUP) and checks each
//! change only by requests and the log. Every "the change is visible" is a
//! bounded poll, never a fixed sleep.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reload_support;
mod support;

use std::fs;
use std::io::Write as _;

use reload_support::*;

/// Drop in, overwrite in place, delete: each visible at the next request,
/// each reload logged with the route, the new hash and the compile time.
#[test]
fn add_update_in_place_and_delete() {
    let site = LiveSite::start(|_| {});
    site.wait_status("/v", 404);

    let v1 = version("v1");
    fs::write(site.path("v.wasm"), &v1).unwrap();
    site.wait_version("/v", "v1");
    site.wait_version("/v/below/it", "v1");
    site.wait_log(&format!(
        "plugin /v loaded from {}",
        site.path("v.wasm").display()
    ));

    let v2 = version("v2");
    fs::write(site.path("v.wasm"), &v2).unwrap();
    site.wait_version("/v", "v2");
    site.wait_log(&format!(
        "plugin /v reloaded from {} (hash {}, compiled in",
        site.path("v.wasm").display(),
        short_hash(&v2)
    ));

    fs::remove_file(site.path("v.wasm")).unwrap();
    site.wait_status("/v", 404);
    site.wait_log("plugin /v removed");
    for _ in 0..3 {
        assert_eq!(site.get("/v").status, 404, "404 from then on");
    }
}

/// An atomic rename over the file replaces the version; renaming the file
/// moves the route.
#[test]
fn replace_by_rename_and_rename_the_route() {
    let site = LiveSite::start(|dir| fs::write(dir.join("a.wasm"), version("a1")).unwrap());
    site.wait_version("/a", "a1");

    write_atomic(&site.path("a.wasm"), &version("a2"));
    site.wait_version("/a", "a2");

    fs::rename(site.path("a.wasm"), site.path("b.wasm")).unwrap();
    site.wait_version("/b", "a2");
    site.wait_status("/a", 404);
    site.wait_log("plugin /a removed");
}

/// Garbage over a working plugin: the old version keeps serving, the log
/// names the file and the reason once, and the file is retried when it
/// changes. Garbage as a new file: no route, no 5xx.
#[test]
fn garbage_never_replaces_a_working_version() {
    let site = LiveSite::start(|dir| fs::write(dir.join("g.wasm"), version("g1")).unwrap());
    site.wait_version("/g", "g1");

    let garbage = site.path("g.wasm");
    write_atomic(&garbage, b"this is not a module at all");
    let refusal = format!(
        "refused {}: not a WebAssembly module (the file does not start with \\0asm); /g keeps serving version {}",
        garbage.display(),
        short_hash(&version("g1"))
    );
    site.wait_log(&refusal);
    assert_eq!(tag_of(&site.get("/g").body).as_deref(), Some("g1"));

    // A module without `_start` is refused too, as a new route.
    let reactor = wat::parse_str(r#"(module (func (export "other")))"#).unwrap();
    write_atomic(&site.path("r.wasm"), &reactor);
    site.wait_log(&format!(
        "refused {}: no `_start` function of type () -> () (not a WASI command); /r is not mounted",
        site.path("r.wasm").display()
    ));
    assert_eq!(site.get("/r").status, 404);

    // Later rescans (other files changing) do not repeat the refusals.
    for n in 1..=2 {
        write_atomic(&site.path(&format!("other{n}.wasm")), &version("o"));
        site.wait_version(&format!("/other{n}"), "o");
    }
    assert_eq!(site.log_count(&format!("refused {}", garbage.display())), 1);
    assert_eq!(site.log_count("refused"), 2, "{}", site.server.log());
    assert_eq!(tag_of(&site.get("/g").body).as_deref(), Some("g1"));

    write_atomic(&garbage, &version("g2"));
    site.wait_version("/g", "g2");
}

/// A file being written in place is refused while incomplete (the old
/// version serves, a new route does not appear) and loads once complete.
#[test]
fn partial_write_then_completion() {
    let site = LiveSite::start(|dir| fs::write(dir.join("p.wasm"), version("p1")).unwrap());
    site.wait_version("/p", "p1");

    for (route, old) in [("p", Some("p1")), ("q", None)] {
        let path = site.path(&format!("{route}.wasm"));
        let new = version(&format!("{route}2"));
        let (first, rest) = new.split_at(new.len() / 2);
        let mut file = fs::File::create(&path).unwrap();
        file.write_all(first).unwrap();
        file.flush().unwrap();
        site.wait_log(&format!("refused {}", path.display()));
        let half = site.get(&format!("/{route}"));
        match old {
            Some(tag) => assert_eq!(tag_of(&half.body).as_deref(), Some(tag)),
            None => assert_eq!(half.status, 404, "no route yet, and no 5xx"),
        }
        file.write_all(rest).unwrap();
        drop(file);
        site.wait_version(&format!("/{route}"), &format!("{route}2"));
    }
}

/// An import the sandbox cannot satisfy is refused at load, naming the
/// import, both at start-up and on reload; the old version keeps serving.
#[test]
fn unsatisfiable_import_is_refused_at_load() {
    let site = LiveSite::start(|dir| {
        fs::write(dir.join("bad.wasm"), unsatisfiable("env", "host_thing")).unwrap();
        fs::write(dir.join("ok.wasm"), version("ok1")).unwrap();
    });
    site.wait_log(&format!(
        "refused {}: unsupported import `env::host_thing`",
        site.path("bad.wasm").display()
    ));
    assert_eq!(site.get("/bad").status, 404);
    site.wait_version("/ok", "ok1");

    write_atomic(
        &site.path("ok.wasm"),
        &unsatisfiable("wasi_snapshot_preview1", "no_such_call"),
    );
    site.wait_log(&format!(
        "refused {}: unsupported import `wasi_snapshot_preview1::no_such_call`",
        site.path("ok.wasm").display()
    ));
    assert_eq!(tag_of(&site.get("/ok").body).as_deref(), Some("ok1"));
}

/// Editing a sidecar applies to the next request, with the same module.
#[test]
fn sidecar_change_applies_to_the_next_request() {
    let site = LiveSite::start(|dir| {
        fs::write(dir.join("echo.wasm"), example("echo")).unwrap();
        fs::write(dir.join("echo.toml"), "[env]\nGREETING = \"one\"\n").unwrap();
    });
    site.wait("/echo", "GREETING=one", |r| {
        r.text().contains("GREETING=one")
    });

    fs::write(site.path("echo.toml"), "[env]\nGREETING = \"two\"\n").unwrap();
    site.wait("/echo", "GREETING=two", |r| {
        r.text().contains("GREETING=two")
    });
    site.wait_log("plugin /echo reloaded");
    site.wait_log("module unchanged");

    // A broken sidecar is refused like a broken module: the last good
    // configuration keeps serving.
    fs::write(
        site.path("echo.toml"),
        "[env]\nGREETING = \"three\"\nbogus = 1\n",
    )
    .unwrap();
    site.wait_log(&format!("refused {}", site.path("echo.wasm").display()));
    assert!(site.get("/echo").text().contains("GREETING=two"));

    fs::remove_file(site.path("echo.toml")).unwrap();
    site.wait("/echo", "no GREETING", |r| {
        r.status == 200 && !r.text().contains("GREETING=")
    });
}

/// New subfolders mount nested routes (made in place or moved in whole);
/// removing a folder removes its routes.
#[test]
fn subfolders_come_and_go() {
    let site = LiveSite::start(|_| {});

    fs::create_dir(site.path("api")).unwrap();
    fs::write(site.path("api/users.wasm"), version("users")).unwrap();
    site.wait_version("/api/users", "users");
    fs::create_dir_all(site.path("api/v1/deep")).unwrap();
    fs::write(site.path("api/v1/deep/x.wasm"), version("deep")).unwrap();
    site.wait_version("/api/v1/deep/x", "deep");

    // A whole tree prepared under a hidden name, then renamed into view.
    fs::create_dir_all(site.path(".staging/shop")).unwrap();
    fs::write(site.path(".staging/shop/cart.wasm"), version("cart")).unwrap();
    fs::rename(site.path(".staging"), site.path("store")).unwrap();
    site.wait_version("/store/shop/cart", "cart");

    fs::remove_dir_all(site.path("api")).unwrap();
    site.wait_status("/api/users", 404);
    site.wait_status("/api/v1/deep/x", 404);
    site.wait_version("/store/shop/cart", "cart");

    fs::rename(site.path("store"), site.path("shop2")).unwrap();
    site.wait_version("/shop2/shop/cart", "cart");
    site.wait_status("/store/shop/cart", 404);
}

/// SIGHUP rescans even what no file event reports: a plugin that is a
/// symlink to a file outside the folder changes only for the rescan.
#[test]
fn sighup_forces_a_rescan() {
    let outside = support::tempdir();
    let target = outside.path().join("real.wasm");
    fs::write(&target, version("s1")).unwrap();
    let link_target = target.clone();
    let site = LiveSite::start(move |dir| {
        std::os::unix::fs::symlink(&link_target, dir.join("s.wasm")).unwrap();
    });
    site.wait_version("/s", "s1");

    write_atomic(&target, &version("s2"));
    assert_eq!(
        tag_of(&site.get("/s").body).as_deref(),
        Some("s1"),
        "no event inside plugins/, so no reload yet"
    );
    site.server.signal("HUP");
    site.wait_log("SIGHUP received: rescanning");
    site.wait_version("/s", "s2");
    assert_eq!(site.get("/nothing-here").status, 404, "still serving");
}

/// The banner lists every route with its module's short hash.
#[test]
fn banner_lists_routes_with_short_hashes() {
    let modules = [
        ("hello.wasm", example("hello")),
        ("echo.wasm", example("echo")),
        ("api/users.wasm", version("users")),
    ];
    let files = modules.clone();
    let site = LiveSite::start(move |dir| {
        for (rel, bytes) in &files {
            let path = dir.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, bytes).unwrap();
        }
    });
    site.wait_log("3 plugins");
    for (rel, _) in &modules {
        site.wait_log(&format!("  /{} ", rel.trim_end_matches(".wasm")));
    }
    let log = site.server.log();
    for (rel, bytes) in &modules {
        let route = format!("/{}", rel.trim_end_matches(".wasm"));
        let line = log
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{route} ")))
            .unwrap_or_else(|| panic!("no banner line for {route}:\n{log}"));
        assert!(line.contains(&format!("({})", short_hash(bytes))), "{line}");
        assert!(
            line.contains(&site.path(rel).display().to_string()),
            "{line}"
        );
    }
}

/// A restart loads compiled modules from the disk cache; corrupted entries
/// are ignored, rebuilt, and used again on the next restart.
#[test]
fn restart_uses_the_disk_cache_and_rebuilds_corrupted_entries() {
    const DEBUG_CACHE: [(&str, &str); 1] = [("RUST_LOG", "info,wasibin::runtime::cache=debug")];
    let mut site = LiveSite::start(|dir| {
        fs::write(dir.join("hello.wasm"), example("hello")).unwrap();
        fs::write(dir.join("v.wasm"), version("c1")).unwrap();
    });
    site.wait_version("/v", "c1");

    site.restart(&DEBUG_CACHE);
    wait_loaded(&site);
    assert_eq!(
        site.log_count("compiled module loaded from cache"),
        2,
        "{}",
        site.server.log()
    );
    assert_eq!(site.get("/hello").status, 200);
    site.wait_version("/v", "c1");

    let mut entries = Vec::new();
    for engine in fs::read_dir(&site.cache).unwrap() {
        for entry in fs::read_dir(engine.unwrap().path()).unwrap() {
            entries.push(entry.unwrap().path());
        }
    }
    assert_eq!(entries.len(), 2, "{entries:?}");
    for entry in &entries {
        let mut bytes = fs::read(entry).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(entry, bytes).unwrap();
    }

    site.restart(&DEBUG_CACHE);
    wait_loaded(&site);
    let log = site.server.log();
    assert_eq!(
        log.matches("checksum mismatch (corrupted); recompiling")
            .count(),
        2,
        "{log}"
    );
    assert_eq!(
        log.matches("compiled module loaded from cache").count(),
        0,
        "{log}"
    );
    assert_eq!(site.get("/hello").status, 200);
    site.wait_version("/v", "c1");

    site.restart(&DEBUG_CACHE);
    wait_loaded(&site);
    assert_eq!(site.log_count("compiled module loaded from cache"), 2);
}

/// Start-up log lines travel on stderr, apart from the banner on stdout:
/// wait for both plugins' lines (each comes after its cache lookup).
fn wait_loaded(site: &LiveSite) {
    site.wait_log("plugin /hello loaded");
    site.wait_log("plugin /v loaded");
}
