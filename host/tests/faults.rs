//! Faults while serving, end to end: the plugins folder removed, replaced
//! or unreadable, the compile cache unwritable, a module caught half
//! written, the static root replaced. Each keeps serving what it can, says
//! so in one log line, and recovers when the fault goes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reload_support;
mod support;

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::path::Path;

use reload_support::*;
use support::*;

/// Whether the tests run as root, for whom permission bits deny nothing.
fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn with_app(dir: &Path) {
    fs::write(dir.join("app.wasm"), version("v1")).unwrap();
}

#[test]
fn a_removed_plugins_folder_keeps_its_routes_until_it_is_back() {
    let site = LiveSite::start(with_app);
    site.wait_version("/app", "v1");

    fs::remove_dir_all(&site.plugins).unwrap();
    site.wait_log("is gone: its 1 route(s) keep serving");
    assert_eq!(tag_of(&site.get("/app").body).as_deref(), Some("v1"));

    // Back, with other contents: they are loaded, and the folder is watched
    // again (a later change shows without a signal).
    fs::create_dir(&site.plugins).unwrap();
    fs::write(site.path("other.wasm"), version("o1")).unwrap();
    write_atomic(&site.path("app.wasm"), &version("v2"));
    site.wait_version("/other", "o1");
    site.wait_version("/app", "v2");
    site.wait_log("is back");
    write_atomic(&site.path("app.wasm"), &version("v3"));
    site.wait_version("/app", "v3");
    assert_eq!(site.log_count("is gone"), 1, "{}", site.server.log());
}

#[test]
fn a_plugins_folder_replaced_by_a_rename_is_watched_anew() {
    let site = LiveSite::start(with_app);
    site.wait_version("/app", "v1");
    let next = site.root_dir().join("plugins.next");
    fs::create_dir(&next).unwrap();
    fs::write(next.join("app.wasm"), version("v2")).unwrap();
    fs::rename(&site.plugins, site.root_dir().join("plugins.old")).unwrap();
    fs::rename(&next, &site.plugins).unwrap();
    site.wait_version("/app", "v2");
    // The old watch follows the old folder; only a new one sees this.
    write_atomic(&site.path("app.wasm"), &version("v3"));
    site.wait_version("/app", "v3");
}

#[test]
fn an_unreadable_plugins_folder_keeps_its_routes_and_recovers() {
    if is_root() {
        eprintln!("skipped: running as root, where a folder without read permission is still read");
        return;
    }
    let site = LiveSite::start(with_app);
    site.wait_version("/app", "v1");
    chmod(&site.plugins, 0o000);
    site.server.signal("HUP");
    site.wait_log("plugin rescan failed");
    assert_eq!(tag_of(&site.get("/app").body).as_deref(), Some("v1"));
    site.server.signal("HUP");
    chmod(&site.plugins, 0o755);
    site.server.signal("HUP");
    site.wait_log("plugin rescan works again");
    assert_eq!(
        site.log_count("plugin rescan failed"),
        1,
        "{}",
        site.server.log()
    );
    write_atomic(&site.path("app.wasm"), &version("v2"));
    site.wait_version("/app", "v2");
}

#[test]
fn an_unwritable_cache_folder_compiles_without_it_and_recovers() {
    let site = LiveSite::start(with_app);
    site.wait_version("/app", "v1");
    // The engine's folder of entries, made by the first compile.
    let entries = fs::read_dir(&site.cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("the cache has an engine folder");
    // Read-only where permissions hold; as root, a file where the folder
    // was (every write fails the same way).
    let root = is_root();
    if root {
        eprintln!("as root: the cache folder is replaced by a file instead of made read-only");
        fs::remove_dir_all(&entries).unwrap();
        fs::write(&entries, b"not a folder").unwrap();
    } else {
        chmod(&entries, 0o500);
    }
    write_atomic(&site.path("app.wasm"), &version("v2"));
    site.wait_version("/app", "v2");
    write_atomic(&site.path("app.wasm"), &version("v3"));
    site.wait_version("/app", "v3");
    site.wait_log("compiled without caching");
    assert_eq!(
        site.log_count("compiled without caching"),
        1,
        "{}",
        site.server.log()
    );

    if root {
        fs::remove_file(&entries).unwrap();
    } else {
        chmod(&entries, 0o700);
    }
    write_atomic(&site.path("app.wasm"), &version("v4"));
    site.wait_version("/app", "v4");
    site.wait_log("takes writes again");
}

#[test]
fn a_module_caught_half_written_is_refused_and_the_old_version_serves() {
    let site = LiveSite::start(with_app);
    site.wait_version("/app", "v1");
    let v2 = version("v2");
    // Written in place, not renamed: a copy in progress.
    let mut file = fs::File::create(site.path("app.wasm")).unwrap();
    file.write_all(&v2[..v2.len() / 2]).unwrap();
    file.flush().unwrap();
    site.wait_log("refused");
    assert_eq!(tag_of(&site.get("/app").body).as_deref(), Some("v1"));
    file.write_all(&v2[v2.len() / 2..]).unwrap();
    drop(file);
    site.wait_version("/app", "v2");
}

#[test]
fn a_static_root_replaced_by_a_rename_or_removed_serves_what_is_there() {
    let site = LiveSite::start(with_app);
    let statics = site.root_dir().join("static");
    fs::write(statics.join("index.html"), "one\n").unwrap();
    site.wait("/index.html", "the first site", |r| r.text() == "one\n");

    let next = site.root_dir().join("static.next");
    fs::create_dir(&next).unwrap();
    fs::write(next.join("index.html"), "two\n").unwrap();
    fs::rename(&statics, site.root_dir().join("static.old")).unwrap();
    fs::rename(&next, &statics).unwrap();
    site.wait("/index.html", "the new site", |r| r.text() == "two\n");

    // Gone: 404 for files, one log line, the plugins still serve.
    let gone = site.root_dir().join("static.gone");
    fs::rename(&statics, &gone).unwrap();
    site.wait_status("/index.html", 404);
    site.wait_log("is gone: static paths answer 404");
    site.wait_version("/app", "v1");
    fs::rename(&gone, &statics).unwrap();
    site.wait("/index.html", "the site back", |r| r.text() == "two\n");
    site.wait_log("is back");
}

#[test]
fn a_static_root_symlink_pointed_at_a_new_release_serves_it() {
    let dir = tempdir();
    for (release, text) in [("v1", "one\n"), ("v2", "two\n")] {
        fs::create_dir_all(dir.path().join("releases").join(release)).unwrap();
        fs::write(
            dir.path().join("releases").join(release).join("index.html"),
            text,
        )
        .unwrap();
    }
    let current = dir.path().join("current");
    symlink("releases/v1", &current).unwrap();
    let plugins = dir.path().join("plugins");
    let server = Server::start(&[
        "--quiet",
        "--no-cache",
        "--static",
        current.to_str().unwrap(),
        "--plugins",
        plugins.to_str().unwrap(),
    ]);
    assert_eq!(get(server.addr, "/index.html").text(), "one\n");
    // A deploy: a new link renamed over the old one.
    symlink("releases/v2", dir.path().join("current.next")).unwrap();
    fs::rename(dir.path().join("current.next"), &current).unwrap();
    fs::remove_dir_all(dir.path().join("releases/v1")).unwrap();
    let resp = get(server.addr, "/index.html");
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (200, "two\n"),
        "{}",
        server.log()
    );
    assert!(server.wait_for_log("now leads to", std::time::Duration::from_secs(10)));
}

/// A tmpfs mounted over a folder for one test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// Mounts `size` bytes over `dir`, private to this user (the cache
    /// refuses a folder others can write to); `None` where mounting is not
    /// allowed.
    fn mount(dir: &Path, size: u64) -> Option<Tmpfs> {
        fs::create_dir_all(dir).unwrap();
        let opts = format!("size={size},mode=0700");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_owned()))
    }

    fn resize(&self, size: u64) {
        let opts = format!("remount,size={size}");
        let status = std::process::Command::new("mount")
            .args(["-o", &opts])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount {}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_cache_folder_compiles_without_it_and_recovers() {
    let mut mounted = None;
    let site = LiveSite::start(|plugins| {
        // One page: the folder opens, no compiled module fits (ENOSPC).
        mounted = Tmpfs::mount(&plugins.parent().unwrap().join("cache"), 4096);
        with_app(plugins);
    });
    let Some(tmpfs) = mounted else {
        eprintln!("skipped: cannot mount a tmpfs here (needs CAP_SYS_ADMIN)");
        return;
    };
    site.wait_version("/app", "v1");
    site.wait_log("compiled without caching");
    write_atomic(&site.path("app.wasm"), &version("v2"));
    site.wait_version("/app", "v2");
    assert_eq!(
        site.log_count("compiled without caching"),
        1,
        "{}",
        site.server.log()
    );
    assert!(
        site.server.log().contains("No space left on device"),
        "{}",
        site.server.log()
    );

    tmpfs.resize(64 << 20);
    write_atomic(&site.path("app.wasm"), &version("v3"));
    site.wait_version("/app", "v3");
    site.wait_log("takes writes again");
    drop(site);
}
