//! Scripts as plugins, end to end: a `.js` file dropped into the folder is
//! served by the built-in QuickJS interpreter, pre-initialised when its top
//! level allows it and per request when not; an edit reloads it, a broken
//! edit is refused while the old version serves; `interpreters.toml` maps
//! other extensions to interpreter modules, which get the script's path and
//! the sidecar's `args` in argv.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reload_support;
mod support;

use std::fs;

use reload_support::*;
use support::*;

/// Whether the server has its QuickJS interpreter; without it these tests
/// skip with a note, or fail under `WASIBIN_REQUIRE_ALL_TOOLCHAINS=1` (CI).
fn interpreter_built() -> bool {
    let built = quickjs_built();
    if !built {
        assert!(
            std::env::var_os("WASIBIN_REQUIRE_ALL_TOOLCHAINS").is_none_or(|v| v != "1"),
            "the server was built without QuickJS (clang-19 or llvm-ar-19 missing)"
        );
        eprintln!(
            "skipped: the server was built without QuickJS (apt-get install clang-19 llvm-19)"
        );
    }
    built
}

/// A handler script whose answer names its version.
fn handler(tag: &str) -> String {
    format!("serve((req) => text(`{tag} ${{req.query.get(\"name\") ?? \"world\"}}\\n`));\n")
}

#[test]
fn a_dropped_in_script_is_served_from_its_snapshot_and_reloads_on_edit() {
    if !interpreter_built() {
        return;
    }
    let site = LiveSite::start(|plugins| {
        fs::write(plugins.join("hello.js"), handler("one")).unwrap();
    });
    let resp = site.wait("/hello?name=Ada", "version one", |r| r.body == b"one Ada\n");
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    site.wait_log("script run by built-in quickjs, pre-initialised");
    // Two requests from one snapshot see their own query.
    assert_eq!(site.get("/hello?name=Bob").body, b"one Bob\n");
    assert_eq!(site.get("/hello").body, b"one world\n");

    write_atomic(&site.path("hello.js"), handler("two").as_bytes());
    site.wait("/hello", "version two", |r| r.body == b"two world\n");

    // A syntax error is refused like a module that does not compile.
    write_atomic(&site.path("hello.js"), b"serve((req) => text(\"x\";\n");
    site.wait_log("refused");
    assert!(
        site.server.log().contains("SyntaxError"),
        "{}",
        site.server.log()
    );
    assert_eq!(site.get("/hello").body, b"two world\n");

    write_atomic(&site.path("hello.js"), handler("three").as_bytes());
    site.wait("/hello", "version three", |r| r.body == b"three world\n");
}

#[test]
fn a_classic_script_answers_from_its_top_level_per_request() {
    if !interpreter_built() {
        return;
    }
    let site = LiveSite::start(|plugins| {
        fs::write(
            plugins.join("classic.js"),
            "const req = request();\n\
             print(\"Content-Type: text/plain\");\n\
             print();\n\
             print(`query=${req.queryString} args=${req.args.join(\",\")}`);\n",
        )
        .unwrap();
        fs::write(
            plugins.join("classic.toml"),
            "args = [\"-x\", \"two words\"]\n",
        )
        .unwrap();
    });
    let resp = site.wait("/classic?a=1", "an answer", |r| r.status == 200);
    assert_eq!(resp.text(), "query=a=1 args=-x,two words\n");
    site.wait_log("not pre-initialised");
    // Search words follow the sidecar's arguments.
    assert_eq!(
        site.get("/classic?w").text(),
        "query=w args=-x,two words,w\n"
    );
}

#[test]
fn a_folder_table_maps_an_extension_to_an_interpreter_module() {
    if !interpreter_built() {
        return;
    }
    let site = LiveSite::start(|plugins| {
        let interp = plugins.parent().unwrap().join("interp");
        fs::create_dir(&interp).unwrap();
        fs::write(interp.join("args.wasm"), fixture("args")).unwrap();
        fs::write(
            plugins.join("interpreters.toml"),
            "txt = \"../interp/args.wasm\"\ncgi = \"quickjs\"\n",
        )
        .unwrap();
        fs::write(plugins.join("notes.txt"), "anything").unwrap();
        fs::write(plugins.join("notes.toml"), "args = [\"--flag\"]\n").unwrap();
        fs::write(plugins.join("greet.cgi"), handler("cgi")).unwrap();
        fs::write(plugins.join("readme.md"), "not a script").unwrap();
    });
    let resp = site.wait("/notes", "argv", |r| r.status == 200);
    assert_eq!(resp.text(), "notes\n/wasibin/script/notes.txt\n--flag\n");
    site.wait("/greet", "the cgi script", |r| r.body == b"cgi world\n");
    assert_eq!(site.get("/readme").status, 404);

    // The interpreter lives outside the folder: a rescan (SIGHUP) sees it
    // replaced and reloads the scripts it runs.
    write_atomic(&site.root_dir().join("interp/args.wasm"), &version("v2"));
    site.server.signal("HUP");
    site.wait_version("/notes", "v2");
}
