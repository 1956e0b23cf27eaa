//! Builds the example plugins into `plugins/`, so that `cargo run --release`
//! serves them and `cargo test` has them, with their sources in the repo and
//! no committed binaries.
//!
//! - Rust examples: a nested `cargo build --release` per target with its
//!   own target dir (`target/plugins`: sharing the outer build's would
//!   deadlock on its lock) and without the outer build's CARGO_* / RUSTFLAGS
//!   variables, which describe the host build, not this one. `wasm32-wasip1`
//!   makes the p1 command modules; `wasm32-wasip2` makes components: the
//!   same `hello` and `echo` as `wasi:cli` commands (`hello-p2.wasm`,
//!   `echo-p2.wasm`) and the `wasi:http` handlers `hello-http` and
//!   `stream`.
//! - C example: `clang-19 --target=wasm32-wasi -O2` when clang-19 is
//!   installed; otherwise a warning says how to install it.
//! - The built-in JavaScript interpreter (`interpreters/quickjs`, QuickJS
//!   compiled from source by rquickjs-sys with clang-19 and Debian's
//!   wasi-libc) into OUT_DIR, which the server embeds. Without clang-19 or
//!   llvm-ar-19 a warning says how to install them and the server is built
//!   without it (a script is then refused with that reason), as the C
//!   example is skipped; with them, a failed build is an error.
//!
//! Outputs are replaced only when their content changes (by an atomic
//! rename), so a running server's hot reload sees one clean change.
//!
//! `WASIBIN_SKIP_EXAMPLES=1` builds none of them: for builds of the library
//! alone (the fuzz targets, on a nightly toolchain without wasm targets).

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One Rust example as built for one target.
struct RustExample {
    /// The cargo package.
    package: &'static str,
    /// The `.wasm` cargo writes.
    artifact: &'static str,
    /// The plugin it becomes, `plugins/ROUTE.wasm`.
    route: &'static str,
}

/// Every Rust example, by target.
const RUST_EXAMPLES: [(&str, &[RustExample]); 2] = [
    (
        "wasm32-wasip1",
        &[
            RustExample {
                package: "example-hello",
                artifact: "hello",
                route: "hello",
            },
            RustExample {
                package: "example-echo",
                artifact: "echo",
                route: "echo",
            },
            RustExample {
                package: "example-form",
                artifact: "form",
                route: "form",
            },
            RustExample {
                package: "example-events",
                artifact: "events",
                route: "events",
            },
            RustExample {
                package: "example-digest",
                artifact: "digest",
                route: "digest",
            },
        ],
    ),
    (
        "wasm32-wasip2",
        &[
            RustExample {
                package: "example-hello",
                artifact: "hello",
                route: "hello-p2",
            },
            RustExample {
                package: "example-echo",
                artifact: "echo",
                route: "echo-p2",
            },
            RustExample {
                package: "example-stream",
                artifact: "stream",
                route: "stream",
            },
            RustExample {
                package: "example-hello-http",
                artifact: "hello_http",
                route: "hello-http",
            },
        ],
    ),
];
/// The built-in JavaScript interpreter, as host/src/plugins/interpreters.rs
/// includes it from OUT_DIR.
const QUICKJS_WASM: &str = "quickjs.wasm";
/// Wasm stack of the Rust examples, bytes.
const GUEST_STACK: u32 = 64 * 1024;
const CLANG: &str = "clang-19";
const C_INSTALL_HINT: &str =
    "on Debian/Ubuntu: apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_owned);
    let examples = root.join("plugins").join("examples");
    let out_dir = root.join("plugins");

    let builtin_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=WASIBIN_SKIP_EXAMPLES");
    if env::var_os("WASIBIN_SKIP_EXAMPLES").is_some_and(|v| v == "1") {
        // The server then says, for a script, that it has no interpreter.
        install(&[], &builtin_dir.join(QUICKJS_WASM));
        return;
    }
    build_interpreter(&root, &builtin_dir.join(QUICKJS_WASM));
    println!("cargo:rerun-if-changed={}", examples.display());
    // The Rust examples are built on the guest SDK.
    println!(
        "cargo:rerun-if-changed={}",
        root.join("guest-sdk").join("src").display()
    );

    for (target, examples) in RUST_EXAMPLES {
        build_rust_examples(&root, &out_dir, target, examples);
    }
    build_c_example(
        &examples.join("hello-c").join("hello.c"),
        &out_dir.join("hello-c.wasm"),
    );
}

fn build_rust_examples(root: &Path, out_dir: &Path, target: &str, examples: &[RustExample]) {
    ensure_wasm_target(target);
    let target_dir = root.join("target").join("plugins");
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root)
        .args(["build", "--release", "--target", target])
        .arg("--target-dir")
        .arg(&target_dir);
    for example in examples {
        cmd.args(["-p", example.package]);
    }
    clean_env(&mut cmd);
    // Small modules compile faster per reload; names stay for trap backtraces.
    cmd.env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
        // Rust's default 1 MiB wasm stack makes every instance 1 MiB of
        // memory to reset: ~30 µs per request instead of ~8 µs with 64 KiB
        // (see MEMORY_KEEP_RESIDENT in host/src/runtime/engine.rs). CGI
        // handlers don't recurse deeply; 64 KiB is also C's default.
        .env(
            format!(
                "CARGO_TARGET_{}_RUSTFLAGS",
                target.to_uppercase().replace('-', "_")
            ),
            format!("-C link-arg=-zstack-size={GUEST_STACK}"),
        );
    let output = run(&mut cmd, "cargo");
    if !output.status.success() {
        panic!(
            "building the example plugins failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let built = target_dir.join(target).join("release");
    for example in examples {
        let from = built.join(format!("{}.wasm", example.artifact));
        let bytes =
            fs::read(&from).unwrap_or_else(|e| panic!("cannot read {}: {e}", from.display()));
        install(&bytes, &out_dir.join(format!("{}.wasm", example.route)));
    }
}

/// Builds `interpreters/quickjs` for wasm32-wasip1 into `dest`, in a target
/// dir of its own: its stack and link flags (its own build.rs) differ from
/// the examples', and sharing one dir would rebuild both in turn.
fn build_interpreter(root: &Path, dest: &Path) {
    const TARGET: &str = "wasm32-wasip1";
    const AR: &str = "llvm-ar-19";
    for tool in [CLANG, AR] {
        if !on_path(tool) {
            println!(
                "cargo:warning=building the server without its JavaScript interpreter: {tool} \
                 is not installed ({C_INSTALL_HINT} llvm-19)"
            );
            install(&[], dest);
            return;
        }
    }
    ensure_wasm_target(TARGET);
    println!(
        "cargo:rerun-if-changed={}",
        root.join("interpreters").display()
    );
    let target_dir = root.join("target").join("interpreters");
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root)
        .args(["build", "--release", "--target", TARGET])
        .args(["-p", "wasibin-quickjs"])
        .arg("--target-dir")
        .arg(&target_dir);
    clean_env(&mut cmd);
    // rquickjs-sys compiles QuickJS with these and downloads nothing.
    // Debian's wasi-libc is no sysroot (headers in /usr/include/wasm32-wasi):
    // without -nostdlibinc clang would take the host's /usr/include. wasm-ld
    // needs an archive index for wasm objects, which llvm-ar writes.
    cmd.env("RQUICKJS_SYS_NO_WASI_SDK", "1")
        .env("CC_wasm32_wasip1", CLANG)
        .env("AR_wasm32_wasip1", AR)
        .env(
            "CFLAGS_wasm32_wasip1",
            "-nostdlibinc -isystem /usr/include/wasm32-wasi",
        )
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false");
    let output = run(&mut cmd, "cargo");
    if !output.status.success() {
        panic!(
            "building the built-in JavaScript interpreter failed ({C_INSTALL_HINT}):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let from = target_dir.join(TARGET).join("release").join(QUICKJS_WASM);
    let bytes = fs::read(&from).unwrap_or_else(|e| panic!("cannot read {}: {e}", from.display()));
    install(&bytes, dest);
}

/// Whether `program` is found on PATH.
fn on_path(program: &str) -> bool {
    env::var_os("PATH")
        .is_some_and(|path| env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Makes sure the std library for `target` is there: tries `rustup target
/// add` once, then fails with a clear message.
fn ensure_wasm_target(target: &str) {
    if wasm_target_installed(target) {
        return;
    }
    println!("cargo:warning=installing the {target} target with rustup");
    let added = Command::new("rustup")
        .args(["target", "add", target])
        .status()
        .is_ok_and(|s| s.success());
    if !added || !wasm_target_installed(target) {
        panic!(
            "the Rust target {target} is missing and `rustup target add {target}` \
             did not install it; install it by hand to build the example plugins"
        );
    }
}

fn wasm_target_installed(target: &str) -> bool {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Path::new(&sysroot)
        .join("lib/rustlib")
        .join(target)
        .join("lib")
        .is_dir()
}

/// Removes what the outer build tells its build scripts and compiler: the
/// nested cargo must configure itself from scratch. Registry, network and
/// jobserver settings are kept (the jobserver keeps both builds within the
/// outer `-j`).
fn clean_env(cmd: &mut Command) {
    const KEEP: [&str; 7] = [
        "CARGO_HOME",
        "CARGO_MAKEFLAGS",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_TERM_",
    ];
    const DROP: [&str; 16] = [
        "RUSTC",
        "RUSTDOC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_LINKER",
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "TARGET",
        "HOST",
        "OUT_DIR",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "NUM_JOBS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
    ];
    for (key, _) in env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        let cargo_var = (k.starts_with("CARGO_") || k.starts_with("__CARGO"))
            && !KEEP.iter().any(|keep| k.starts_with(keep));
        if cargo_var || DROP.contains(&k) {
            cmd.env_remove(&key);
        }
    }
}

fn build_c_example(source: &Path, dest: &Path) {
    let tmp_out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default()).join("hello-c.wasm");
    let mut cmd = Command::new(CLANG);
    cmd.args(["--target=wasm32-wasi", "-O2", "-o"])
        .arg(&tmp_out)
        .arg(source);
    let output = match cmd.output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            println!(
                "cargo:warning=skipping the C example (plugins/hello-c.wasm): {CLANG} is not \
                 installed ({C_INSTALL_HINT})"
            );
            return;
        }
        Err(e) => {
            println!("cargo:warning=skipping the C example: cannot run {CLANG}: {e}");
            return;
        }
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        println!(
            "cargo:warning=skipping the C example: {CLANG} failed ({C_INSTALL_HINT}): {first}"
        );
        return;
    }
    match fs::read(&tmp_out) {
        Ok(bytes) => install(&bytes, dest),
        Err(e) => println!("cargo:warning=skipping the C example: {e}"),
    }
}

/// Puts `bytes` at `dest` unless it already holds exactly them, through a
/// hidden temporary file and a rename, so no reader sees half a module.
fn install(bytes: &[u8], dest: &Path) {
    if fs::read(dest).is_ok_and(|old| old == bytes) {
        return;
    }
    let name = dest.file_name().unwrap_or(OsStr::new("plugin.wasm"));
    let tmp = dest.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    if let Err(e) = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, dest)) {
        panic!("cannot write {}: {e}", dest.display());
    }
}

fn run(cmd: &mut Command, what: &str) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"))
}
