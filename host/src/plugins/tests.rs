//! Route lookup and folder (re)loading against real modules.

use std::fs;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use super::*;
use crate::runtime::{EngineConfig, WasmEngine};

/// The folder with its first scan done, as the server starts it.
fn open_and_scan(dir: &Path) -> PluginFolder {
    let folder = PluginFolder::open(
        dir,
        runtime(),
        PluginDefaults::default(),
        Arc::new(crate::telemetry::Telemetry::default()),
    )
    .unwrap();
    folder.rescan_here().unwrap();
    folder
}

fn runtime() -> Arc<WasmEngine> {
    static RT: OnceLock<Arc<WasmEngine>> = OnceLock::new();
    RT.get_or_init(|| {
        Arc::new(
            WasmEngine::new(&EngineConfig {
                max_memory: 64 << 20,
                max_instances: 16,
                cache_dir: None,
            })
            .unwrap(),
        )
    })
    .clone()
}

/// A valid command module; `tag` makes distinct contents (and hashes).
fn wasm(tag: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module (memory (export "memory") 1) (data (i32.const 0) "{tag}") (func (export "_start")))"#
    ))
    .unwrap()
}

fn plugin(route: &str) -> Arc<Plugin> {
    let module = runtime().compile(&wasm(route)).unwrap();
    let config = PluginConfig::from_defaults(&PluginDefaults::default());
    Arc::new(Plugin {
        route: Arc::from(route),
        loaded_at: std::time::SystemTime::now(),
        argv: vec![route.rsplit('/').next().unwrap().to_owned()],
        file: format!("plugins{route}.wasm").into(),
        hash: "0".repeat(12),
        module,
        script: None,
        gate: Gate::new(1, 1),
        config,
    })
}

fn table(routes: &[&str]) -> RouteTable {
    RouteTable::new(routes.iter().map(|r| plugin(r)).collect())
}

/// (script_name, path_info, raw_path_info) or a tag for the other outcomes.
fn look(t: &RouteTable, path: &str) -> Result<(String, String, String), &'static str> {
    match t.lookup(path) {
        Routing::Plugin(m) => {
            assert_eq!(*m.plugin.route, *m.script_name);
            Ok((m.script_name, m.path_info, m.raw_path_info))
        }
        Routing::NotPlugin => Err("not"),
        Routing::BadPath => Err("bad"),
    }
}

fn ok(s: &str, p: &str, r: &str) -> Result<(String, String, String), &'static str> {
    Ok((s.to_owned(), p.to_owned(), r.to_owned()))
}

#[test]
fn exact_and_below() {
    let t = table(&["/hello"]);
    assert_eq!(look(&t, "/hello"), ok("/hello", "", ""));
    assert_eq!(look(&t, "/hello/"), ok("/hello", "/", "/"));
    assert_eq!(look(&t, "/hello/a/b"), ok("/hello", "/a/b", "/a/b"));
    assert_eq!(look(&t, "/hello?x=1"), ok("/hello", "", ""));
    assert_eq!(look(&t, "/hello/a?x=/y"), ok("/hello", "/a", "/a"));
}

#[test]
fn segment_boundary() {
    let t = table(&["/hello"]);
    assert_eq!(look(&t, "/helloworld"), Err("not"));
    assert_eq!(look(&t, "/hell"), Err("not"));
    assert_eq!(look(&t, "/"), Err("not"));
    assert_eq!(look(&t, "//hello"), Err("not"));
    assert_eq!(look(&t, "/x/hello"), Err("not"));
    assert_eq!(look(&t, "*"), Err("not"));
    assert_eq!(look(&t, ""), Err("not"));
}

#[test]
fn longest_match_and_nesting() {
    let t = table(&["/api", "/api/users", "/api/v1/items"]);
    assert_eq!(look(&t, "/api/users/7"), ok("/api/users", "/7", "/7"));
    assert_eq!(look(&t, "/api/usersx"), ok("/api", "/usersx", "/usersx"));
    assert_eq!(look(&t, "/api/v1"), ok("/api", "/v1", "/v1"));
    assert_eq!(look(&t, "/api/v1/items"), ok("/api/v1/items", "", ""));
    let nested_only = table(&["/api/users"]);
    assert_eq!(look(&nested_only, "/api"), Err("not"));
    assert_eq!(look(&nested_only, "/api/users"), ok("/api/users", "", ""));
}

#[test]
fn path_info_is_decoded_and_raw_is_kept() {
    let t = table(&["/hello"]);
    assert_eq!(
        look(&t, "/hello/a%20b/%C3%A9"),
        ok("/hello", "/a b/é", "/a%20b/%C3%A9")
    );
    assert_eq!(look(&t, "/hell%6F/x"), ok("/hello", "/x", "/x"));
}

#[test]
fn bad_paths_under_a_mount() {
    let t = table(&["/hello"]);
    assert_eq!(look(&t, "/hello/a%2Fb"), Err("bad"));
    assert_eq!(look(&t, "/hello/a%2fb"), Err("bad"));
    assert_eq!(look(&t, "/hello/%zz"), Err("bad"));
    assert_eq!(look(&t, "/hello/%00"), Err("bad"));
    assert_eq!(look(&t, "/hello/%ff"), Err("bad"));
    assert_eq!(look(&t, "/hello%2Fx"), Err("not"));
    // Dot segments and decoded control characters, as on a static path.
    for path in [
        "/hello/../echo",
        "/hello/..",
        "/hello/./x",
        "/hello/%2e%2e/x",
        "/hello/a/%2E%2E",
        "/hello/a%0Ab",
        "/hello/%0D%0ASet-Cookie:x",
        "/hello/%7F",
        "/hello/a%5Cb",
    ] {
        assert_eq!(look(&t, path), Err("bad"), "{path}");
    }
    assert_eq!(
        look(&t, "/hello/...x/.y"),
        ok("/hello", "/...x/.y", "/...x/.y")
    );
    // Outside any mount, the static side decides.
    assert_eq!(look(&t, "/a%2Fb"), Err("not"));
    assert_eq!(look(&t, "/%zz"), Err("not"));
}

#[test]
fn empty_table_and_listing() {
    let t = RouteTable::default();
    assert_eq!(t.routes().count(), 0);
    assert_eq!(look(&t, "/hello"), Err("not"));
    let t = table(&["/b", "/a/c", "/a"]);
    let routes: Vec<_> = t.routes().map(|p| &*p.route).collect();
    assert_eq!(routes, ["/a", "/a/c", "/b"]);
    assert!(t.get("/a/c").is_some());
    assert!(t.get("/a/b").is_none());
    assert_eq!(t.routes().count(), 3);
}

mod folder {
    use super::*;

    fn load(dir: &Path) -> PluginFolder {
        open_and_scan(dir)
    }

    fn routes(host: &PluginFolder) -> Vec<(String, String)> {
        host.table()
            .routes()
            .map(|p| (p.route.to_string(), p.hash.clone()))
            .collect()
    }

    #[test]
    fn startup_loads_every_wasm() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("hello.wasm"), wasm("a")).unwrap();
        fs::create_dir(dir.path().join("api")).unwrap();
        fs::write(dir.path().join("api/users.wasm"), wasm("b")).unwrap();
        fs::write(dir.path().join("junk.wasm"), b"not wasm").unwrap();
        let host = load(dir.path());
        let t = host.table();
        let r: Vec<_> = t.routes().map(|p| &*p.route).collect();
        assert_eq!(r, ["/api/users", "/hello"]);
        let users = t.get("/api/users").unwrap();
        assert_eq!(users.argv, ["users"]);
        assert_eq!(users.hash.len(), 12);
    }

    #[test]
    fn missing_folder_is_no_plugins() {
        let dir = tempfile::tempdir().unwrap();
        let host = load(&dir.path().join("plugins"));
        assert_eq!(host.table().routes().count(), 0);
    }

    #[tokio::test]
    async fn add_update_delete() {
        let dir = tempfile::tempdir().unwrap();
        let host = load(dir.path());
        assert_eq!(host.table().routes().count(), 0);

        let file = dir.path().join("hello.wasm");
        fs::write(&file, wasm("v1")).unwrap();
        let report = host.rescan().await.unwrap();
        assert_eq!(report.loaded.len(), 1);
        assert!(report.loaded[0].compile_time.is_some());
        let v1 = routes(&host);

        let report = host.rescan().await.unwrap();
        assert!(!report.changed());
        assert_eq!(report.unchanged, 1);

        // Replaced by rename, as deploy tools do.
        let tmp = dir.path().join(".hello.tmp");
        fs::write(&tmp, wasm("v2")).unwrap();
        fs::rename(&tmp, &file).unwrap();
        let report = host.rescan().await.unwrap();
        assert!(report.loaded[0].replaced);
        let v2 = routes(&host);
        assert_ne!(v1, v2);

        fs::remove_file(&file).unwrap();
        let report = host.rescan().await.unwrap();
        assert_eq!(report.removed, ["/hello"]);
        assert_eq!(host.table().routes().count(), 0);
    }

    #[tokio::test]
    async fn a_bad_file_keeps_the_old_version_and_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hello.wasm");
        fs::write(&file, wasm("good")).unwrap();
        let host = load(dir.path());
        let before = routes(&host);
        let old_table = host.table();

        let good = wasm("good");
        fs::write(&file, &good[..good.len() / 2]).unwrap();
        let report = host.rescan().await.unwrap();
        assert_eq!(report.refused.len(), 1);
        assert!(!report.changed());
        assert_eq!(routes(&host), before);
        assert!(Arc::ptr_eq(&old_table, &host.table()));

        let report = host.rescan().await.unwrap();
        assert!(report.refused.is_empty(), "logged once");

        fs::write(&file, wasm("fixed")).unwrap();
        let report = host.rescan().await.unwrap();
        assert_eq!(report.loaded.len(), 1);
        assert_ne!(routes(&host), before);
    }

    #[tokio::test]
    async fn an_import_we_cannot_satisfy_is_refused_at_load_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let bad =
            wat::parse_str(r#"(module (import "env" "secret" (func)) (func (export "_start")))"#)
                .unwrap();
        fs::write(dir.path().join("x.wasm"), bad).unwrap();
        let host = load(dir.path());
        assert_eq!(host.table().routes().count(), 0);
        fs::write(dir.path().join("x.wasm"), b"\0asm\x01\0\0\0garbage").unwrap();
        let report = host.rescan().await.unwrap();
        assert_eq!(report.refused.len(), 1);
        fs::write(
            dir.path().join("x.wasm"),
            wat::parse_str(r#"(module (import "env" "secret" (func)) (func (export "_start")))"#)
                .unwrap(),
        )
        .unwrap();
        let report = host.rescan().await.unwrap();
        assert!(
            report.refused[0].reason.contains("env::secret"),
            "{:?}",
            report.refused
        );
    }

    #[tokio::test]
    async fn sidecar_changes_apply_without_recompiling() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("hello.wasm"), wasm("a")).unwrap();
        let host = load(dir.path());
        let hash = routes(&host);

        fs::write(
            dir.path().join("hello.toml"),
            "timeout_ms = 1234\nmax_concurrency = 3\n",
        )
        .unwrap();
        let report = host.rescan().await.unwrap();
        assert_eq!(report.loaded.len(), 1);
        assert!(report.loaded[0].compile_time.is_none());
        assert_eq!(routes(&host), hash);
        let t = host.table();
        let p = t.get("/hello").unwrap();
        assert_eq!(p.config.limits.timeout.as_millis(), 1234);
        assert!(p.gate.has_limits(3, PluginDefaults::default().max_queue));

        // A broken sidecar refuses the change; the old config keeps serving.
        fs::write(
            dir.path().join("hello.toml"),
            "timeout_ms = 1234\nbogus = 1\n",
        )
        .unwrap();
        let report = host.rescan().await.unwrap();
        assert_eq!(report.refused.len(), 1);
        let reason = &report.refused[0].reason;
        assert!(reason.contains("hello.toml:2: bogus"), "{reason}");
        assert_eq!(
            host.table()
                .get("/hello")
                .unwrap()
                .config
                .limits
                .timeout
                .as_millis(),
            1234
        );

        // Removing the sidecar goes back to the defaults.
        fs::remove_file(dir.path().join("hello.toml")).unwrap();
        host.rescan().await.unwrap();
        assert_eq!(
            host.table().get("/hello").unwrap().config.limits.timeout,
            PluginDefaults::default().limits.timeout
        );
    }

    #[tokio::test]
    async fn a_request_keeps_its_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("hello.wasm"), wasm("a")).unwrap();
        let host = load(dir.path());
        let snapshot = host.table();
        fs::remove_file(dir.path().join("hello.wasm")).unwrap();
        host.rescan().await.unwrap();
        assert_eq!(host.table().routes().count(), 0);
        assert!(matches!(snapshot.lookup("/hello"), Routing::Plugin(_)));
    }

    #[tokio::test]
    async fn a_loaded_plugin_runs() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("hello.wasm"), wasm("a")).unwrap();
        let host = load(dir.path());
        let Routing::Plugin(m) = host.table().lookup("/hello/x") else {
            panic!("no route");
        };
        let _permit = m.plugin.gate.acquire().await.unwrap();
        let out = runtime()
            .run(
                &m.plugin.module,
                crate::runtime::Invocation::default(),
                &m.plugin.config.limits,
            )
            .await
            .unwrap();
        assert_eq!(out.exit_code, 0);
    }
}

/// The example plugins that `build.rs` puts in the repository's `plugins/`:
/// they load, import only WASI, and answer. What they answer is the
/// examples' own business (their unit tests and `tests/contract.rs`).
mod examples {
    use super::*;
    use crate::runtime::{GuestOutput, Invocation};
    use bytes::Bytes;

    fn repo_plugins() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins")
    }

    async fn run(route: &str, env: &[(&str, &str)], body: &'static [u8]) -> String {
        let host = open_and_scan(&repo_plugins());
        let Routing::Plugin(m) = host.table().lookup(route) else {
            panic!("{route} is not mounted: did build.rs run?");
        };
        let inv = Invocation {
            args: m.plugin.argv.clone(),
            env: crate::runtime::EnvBlock::from_pairs(env),
            stdin: crate::runtime::Stdin::Bytes(Bytes::from_static(body)),
            log_tag: route.to_owned(),
            ..Invocation::default()
        };
        let out: GuestOutput = runtime()
            .run(&m.plugin.module, inv, &m.plugin.config.limits)
            .await
            .unwrap();
        assert_eq!(out.exit_code, 0);
        String::from_utf8(out.stdout.to_vec()).unwrap()
    }

    fn get(script: &str) -> [(&str, &str); 3] {
        [
            ("REQUEST_METHOD", "GET"),
            ("SCRIPT_NAME", script),
            ("QUERY_STRING", ""),
        ]
    }

    #[tokio::test]
    async fn hello() {
        let out = run("/hello", &get("/hello"), b"").await;
        assert!(out.ends_with("\n\nHello, world!\n"), "{out}");
    }

    #[tokio::test]
    async fn hello_c() {
        if !repo_plugins().join("hello-c.wasm").exists() {
            eprintln!("skipped: plugins/hello-c.wasm was not built (clang-19 missing)");
            return;
        }
        let out = run("/hello-c", &get("/hello-c"), b"").await;
        assert!(out.ends_with("\r\n\r\nHello, world!\n"), "{out}");
    }

    #[tokio::test]
    async fn echo() {
        let env = [
            ("REQUEST_METHOD", "POST"),
            ("SCRIPT_NAME", "/echo"),
            ("PATH_INFO", "/a/b"),
            ("QUERY_STRING", "x=1"),
            ("CONTENT_LENGTH", "4"),
        ];
        let out = run("/echo", &env, b"ping").await;
        assert!(out.contains("\nPATH_INFO=/a/b\n"), "{out}");
        assert!(out.ends_with("\n\nping"), "{out}");
    }

    #[tokio::test]
    async fn form_greets_escaped() {
        let body = b"firstname=%3Cb%3EAda&x=1";
        let len = body.len().to_string();
        let env = [
            ("REQUEST_METHOD", "POST"),
            ("SCRIPT_NAME", "/form"),
            ("CONTENT_TYPE", "application/x-www-form-urlencoded"),
            ("CONTENT_LENGTH", len.as_str()),
        ];
        let out = run("/form", &env, body).await;
        assert!(out.contains("Hello, &lt;b&gt;Ada!"), "{out}");
        assert!(!out.contains("<b>"), "{out}");
    }
}
