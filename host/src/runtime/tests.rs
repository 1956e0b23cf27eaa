//! Hostile and friendly guests as inline WAT, run through the real engine.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;

const PREAMBLE: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get"
    (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get"
    (func $random_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; write(fd, ptr, len) through an iovec at address 0
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
"#;

fn guest(body: &str) -> Vec<u8> {
    wat::parse_str(format!("(module {PREAMBLE} {body})")).unwrap()
}

fn runtime() -> WasmEngine {
    WasmEngine::new(&EngineConfig {
        max_memory: 64 << 20,
        max_instances: 16,
        cache_dir: None,
    })
    .unwrap()
}

/// Generous, so no test depends on the machine's speed.
fn limits() -> GuestLimits {
    GuestLimits {
        timeout: Duration::from_secs(20),
        max_memory: 8 << 20,
        max_stdout: 1 << 20,
    }
}

/// For the guests that must be stopped.
fn short() -> GuestLimits {
    GuestLimits {
        timeout: Duration::from_millis(200),
        ..limits()
    }
}

fn inv() -> Invocation {
    Invocation {
        args: vec!["test".to_owned()],
        log_tag: "test".to_owned(),
        ..Invocation::default()
    }
}

async fn run_wat(body: &str, inv: Invocation) -> Result<GuestOutput, RunError> {
    run_limited(body, inv, &limits()).await
}

async fn run_limited(
    body: &str,
    inv: Invocation,
    limits: &GuestLimits,
) -> Result<GuestOutput, RunError> {
    let rt = runtime();
    let module = rt.compile(&guest(body)).unwrap();
    rt.run(&module, inv, limits).await
}

#[tokio::test]
async fn hello_writes_stdout_and_exits_zero() {
    let out = run_wat(
        r#"(data (i32.const 100) "Content-Type: text/plain\n\nhi")
           (func (export "_start") (call $write (i32.const 1) (i32.const 100) (i32.const 28)))"#,
        inv(),
    )
    .await
    .unwrap();
    assert_eq!(out.exit_code, 0);
    assert_eq!(&out.stdout[..], b"Content-Type: text/plain\n\nhi");
}

#[tokio::test]
async fn stdin_arrives_and_ends() {
    // Read stdin in a loop into 1000.., echo each chunk, stop at EOF.
    let body = r#"
      (func (export "_start") (local $n i32)
        (loop $more
          (i32.store (i32.const 16) (i32.const 1000))
          (i32.store (i32.const 20) (i32.const 3))
          (drop (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)))
          (local.set $n (i32.load (i32.const 24)))
          (if (local.get $n) (then
            (call $write (i32.const 1) (i32.const 1000) (local.get $n))
            (br $more)))))"#;
    let mut i = inv();
    i.stdin = Stdin::Bytes(Bytes::from_static(b"hello body"));
    let out = run_wat(body, i).await.unwrap();
    assert_eq!(&out.stdout[..], b"hello body");
}

#[tokio::test]
async fn env_is_exactly_the_invocation_env() {
    // environ_get fills a NUL-separated buffer at 2000; write it to stdout.
    let body = r#"
      (func (export "_start")
        (drop (call $environ_sizes_get (i32.const 16) (i32.const 20)))
        (drop (call $environ_get (i32.const 1000) (i32.const 2000)))
        (call $write (i32.const 1) (i32.const 2000) (i32.load (i32.const 20))))"#;
    let mut i = inv();
    i.env = EnvBlock::from_pairs(&[("A", "1"), ("B", "x y")]);
    let out = run_wat(body, i).await.unwrap();
    assert_eq!(&out.stdout[..], b"A=1\0B=x y\0");
}

#[tokio::test]
async fn env_pointers_past_memory_trap_as_in_wasmtime_wasi() {
    // One 64 KiB page: environ_get's strings would straddle its end. The
    // guest traps (502 in the gateway) instead of reading an errno.
    let body = r#"
      (func (export "_start")
        (drop (call $environ_get (i32.const 1000) (i32.const 65530)))
        (call $write (i32.const 1) (i32.const 1000) (i32.const 4)))"#;
    let mut i = inv();
    i.env = EnvBlock::from_pairs(&[("NAME", "value")]);
    let err = run_wat(body, i).await.unwrap_err();
    assert!(
        matches!(&err, RunError::Trap(detail) if detail.contains("environ")),
        "{err:?}"
    );
}

#[tokio::test]
async fn infinite_loop_times_out_and_is_stopped() {
    let started = Instant::now();
    let err = run_limited(r#"(func (export "_start") (loop (br 0)))"#, inv(), &short())
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Timeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_guest_asleep_in_a_host_call_times_out() {
    // poll_oneoff on one relative clock subscription of 60 s.
    let body = r#"
      (func (export "_start")
        (i64.store (i32.const 104) (i64.const 0))        ;; userdata
        (i32.store8 (i32.const 112) (i32.const 0))       ;; tag: clock
        (i32.store (i32.const 120) (i32.const 1))        ;; monotonic
        (i64.store (i32.const 128) (i64.const 60000000000))
        (i64.store (i32.const 136) (i64.const 0))
        (i32.store16 (i32.const 144) (i32.const 0))      ;; relative
        (drop (call $poll_oneoff (i32.const 104) (i32.const 208) (i32.const 1) (i32.const 304))))"#;
    let started = Instant::now();
    let err = run_limited(body, inv(), &short()).await.unwrap_err();
    assert!(matches!(err, RunError::Timeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_busy_guest_does_not_hold_the_worker() {
    // On a current-thread runtime, another task still runs while the guest spins.
    let rt = runtime();
    let module = rt
        .compile(&guest(r#"(func (export "_start") (loop (br 0)))"#))
        .unwrap();
    let ticks = tokio::spawn(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Instant::now()
    });
    let err = rt.run(&module, inv(), &short()).await.unwrap_err();
    let ended = Instant::now();
    assert!(matches!(err, RunError::Timeout));
    assert!(ticks.await.unwrap() < ended);
}

#[tokio::test]
async fn trap_is_a_trap() {
    let err = run_wat(r#"(func (export "_start") unreachable)"#, inv())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RunError::Trap(d) if d.contains("unreachable")),
        "{err:?}"
    );
}

#[tokio::test]
async fn memory_grab_past_the_cap_is_memory_limit() {
    let body = r#"
      (func (export "_start")
        (loop $grow
          (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
        unreachable)"#;
    let err = run_wat(body, inv()).await.unwrap_err();
    assert!(matches!(err, RunError::MemoryLimit), "{err:?}");
}

#[tokio::test]
async fn initial_memory_over_the_plugin_cap_is_memory_limit() {
    let rt = runtime();
    let wasm =
        wat::parse_str(r#"(module (memory (export "memory") 256) (func (export "_start")))"#)
            .unwrap();
    let module = rt.compile(&wasm).unwrap();
    let err = rt.run(&module, inv(), &limits()).await.unwrap_err();
    assert!(matches!(err, RunError::MemoryLimit), "{err:?}");
}

#[tokio::test]
async fn stdout_flood_is_too_large() {
    let body = r#"
      (func (export "_start")
        (loop $more
          (call $write (i32.const 1) (i32.const 1000) (i32.const 60000))
          (br $more)))"#;
    let err = run_wat(body, inv()).await.unwrap_err();
    assert!(matches!(err, RunError::StdoutTooLarge), "{err:?}");
}

#[tokio::test]
async fn stderr_flood_is_bounded_and_harmless() {
    let body = r#"
      (data (i32.const 100) "line\n")
      (func (export "_start") (local $i i32)
        (loop $more
          (call $write (i32.const 2) (i32.const 100) (i32.const 5))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $more (i32.lt_u (local.get $i) (i32.const 20000)))))"#;
    let out = run_wat(body, inv()).await.unwrap();
    assert_eq!(out.exit_code, 0);
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn proc_exit_is_an_exit_code_not_a_trap() {
    let out = run_wat(
        r#"(data (i32.const 100) "partial")
           (func (export "_start")
             (call $write (i32.const 1) (i32.const 100) (i32.const 7))
             (call $proc_exit (i32.const 3)))"#,
        inv(),
    )
    .await
    .unwrap();
    assert_eq!(out.exit_code, 3);
    assert_eq!(&out.stdout[..], b"partial");
}

#[tokio::test]
async fn requests_do_not_share_memory_or_globals() {
    // Each run bumps a memory cell and a global, and prints both as digits.
    let body = r#"
      (global $g (mut i32) (i32.const 0))
      (func (export "_start")
        (i32.store8 (i32.const 500) (i32.add (i32.load8_u (i32.const 500)) (i32.const 1)))
        (global.set $g (i32.add (global.get $g) (i32.const 1)))
        (i32.store8 (i32.const 600) (i32.add (i32.const 48) (i32.load8_u (i32.const 500))))
        (i32.store8 (i32.const 601) (i32.add (i32.const 48) (global.get $g)))
        (call $write (i32.const 1) (i32.const 600) (i32.const 2)))"#;
    let rt = runtime();
    let module = rt.compile(&guest(body)).unwrap();
    for _ in 0..3 {
        let out = rt.run(&module, inv(), &limits()).await.unwrap();
        assert_eq!(&out.stdout[..], b"11");
    }
}

/// `body` as a guest with `pages` wasm pages of memory, compiled for an
/// engine with one instance slot, so every run reuses the memory the
/// previous one dirtied.
fn in_one_slot(body: &str, pages: u32) -> (WasmEngine, CompiledModule) {
    let wasm = wat::parse_str(format!(
        "(module {} {body})",
        PREAMBLE.replace(
            r#"(memory (export "memory") 1)"#,
            &format!(r#"(memory (export "memory") {pages})"#)
        )
    ))
    .unwrap();
    let rt = WasmEngine::new(&EngineConfig {
        max_memory: 64 << 20,
        max_instances: 1,
        cache_dir: None,
    })
    .unwrap();
    let module = rt.compile(&wasm).unwrap();
    (rt, module)
}

/// The pool's reset keeps a slot's memory mapped and restores only the pages
/// the guest dirtied, found with PAGEMAP_SCAN 32 runs at a time (the patched
/// wasmtime in vendor/ resumes the scan past them). A guest that dirties 300
/// disjoint pages, in its data image and in zeroed memory, must find every
/// one pristine again in the same slot, run after run.
#[tokio::test]
async fn a_slot_is_pristine_after_hundreds_of_scattered_dirty_pages() {
    // Every other 4 KiB page from 16 to 614, 300 pages: those divisible by 4
    // start with 'i' from the data image, the others are zero (inside the
    // image's span, and past its end for 614). Each run checks its pages'
    // first bytes, then overwrites them; any stale page makes it print
    // "stale" instead of "fresh".
    let mut image = String::new();
    for page in (16..616).step_by(4) {
        image.push_str(&format!("(data (i32.const {}) \"i\")\n", page * 4096));
    }
    let body = format!(
        r#"
      {image}
      (func (export "_start") (local $page i32) (local $want i32) (local $stale i32)
        (local.set $page (i32.const 16))
        (loop $pages
          (local.set $want
            (select (i32.const 105) (i32.const 0)
              (i32.eqz (i32.rem_u (local.get $page) (i32.const 4)))))
          (if (i32.ne (i32.load8_u (i32.mul (local.get $page) (i32.const 4096)))
                      (local.get $want))
            (then (local.set $stale (i32.const 1))))
          (i32.store8 (i32.mul (local.get $page) (i32.const 4096)) (i32.const 120))
          (local.set $page (i32.add (local.get $page) (i32.const 2)))
          (br_if $pages (i32.lt_u (local.get $page) (i32.const 616))))
        (i32.store (i32.const 600) (i32.const 0x73657266)) ;; "fres"
        (i32.store8 (i32.const 604) (i32.const 104))       ;; "h"
        (if (local.get $stale)
          (then
            (i32.store (i32.const 600) (i32.const 0x6c617473)) ;; "stal"
            (i32.store8 (i32.const 604) (i32.const 101))))     ;; "e"
        (call $write (i32.const 1) (i32.const 600) (i32.const 5)))"#
    );
    // The preamble's memory is one wasm page; this guest needs 615 of 4 KiB.
    let (rt, module) = in_one_slot(&body, 40);
    for run in 0..4 {
        let out = rt.run(&module, inv(), &limits()).await.unwrap();
        assert_eq!(&out.stdout[..], b"fresh", "run {run}");
    }
}

/// The pool's reset repeats a slot's last dirty-page scan while the thread
/// has taken no page fault since (vendor/wasmtime's patch). Every way a page
/// can become dirty must be noticed: a first write to an untouched page, a
/// write to a page read before (the zero page), a write to a clean page of
/// the data image, and a write to a page the last reset already restored
/// (no fault at all). Each run checks one page, then writes another; one
/// slot, so each run finds what the previous ones left.
#[tokio::test]
async fn a_slot_is_pristine_whichever_way_its_pages_were_dirtied() {
    // `P=cw`: check the page letter `c` names ('_': none), then write the
    // one `w` names. Letters a..x are the 4 KiB pages 8..31; m and n (pages
    // 20 and 21) start with 'i' from the data image, the others with 0.
    let body = r#"
      (data (i32.const 81920) "i")
      (data (i32.const 86016) "i")
      (func $page (param $letter i32) (result i32)
        (i32.mul (i32.add (i32.sub (local.get $letter) (i32.const 97)) (i32.const 8))
                 (i32.const 4096)))
      (func $pristine (param $at i32) (result i32)
        (select (i32.const 105) (i32.const 0)
          (i32.or (i32.eq (local.get $at) (i32.const 81920))
                  (i32.eq (local.get $at) (i32.const 86016)))))
      (func (export "_start") (local $check i32) (local $dirty i32)
        (drop (call $environ_get (i32.const 1000) (i32.const 2000)))
        (local.set $check (i32.load8_u (i32.const 2002)))
        (local.set $dirty (i32.load8_u (i32.const 2003)))
        (i32.store (i32.const 600) (i32.const 0x73657266)) ;; "fres"
        (i32.store8 (i32.const 604) (i32.const 104))       ;; "h"
        (if (i32.ne (local.get $check) (i32.const 95))
          (then
            (if (i32.ne (i32.load8_u (call $page (local.get $check)))
                        (call $pristine (call $page (local.get $check))))
              (then
                (i32.store (i32.const 600) (i32.const 0x6c617473)) ;; "stal"
                (i32.store8 (i32.const 604) (i32.const 101))))))   ;; "e"
        (i32.store8 (call $page (local.get $dirty)) (i32.const 120))
        (call $write (i32.const 1) (i32.const 600) (i32.const 5)))"#;
    let (rt, module) = in_one_slot(body, 2);
    // First writes (a, b, c, x), a write after a read (b after "ab"
    // checked it), writes into the image (m, n), and the same page again
    // with nothing new touched (bb, cc, mm, aa).
    let runs = [
        "_a", "ab", "bb", "bc", "cc", "cm", "mm", "mn", "nn", "nx", "xx", "xa", "aa", "aa",
    ];
    for pages in runs {
        let mut i = inv();
        i.env = EnvBlock::from_pairs(&[("P", pages)]);
        let out = rt.run(&module, i, &limits()).await.unwrap();
        assert_eq!(&out.stdout[..], b"fresh", "P={pages}");
    }
}

#[test]
fn not_wasm_is_said_in_words() {
    let err = runtime().compile(b"#!/bin/sh\necho hi\n").unwrap_err();
    assert!(matches!(err, LoadError::NotWasm));
    assert!(err.to_string().contains("not a WebAssembly module"));
}

#[test]
fn truncated_wasm_is_invalid() {
    let wasm = guest(r#"(func (export "_start"))"#);
    let err = runtime().compile(&wasm[..wasm.len() - 3]).unwrap_err();
    assert!(matches!(err, LoadError::Invalid(_)), "{err:?}");
}

#[test]
fn unknown_import_is_named() {
    let wasm =
        wat::parse_str(r#"(module (import "env" "get_secret" (func)) (func (export "_start")))"#)
            .unwrap();
    let err = runtime().compile(&wasm).unwrap_err();
    assert!(
        matches!(&err, LoadError::UnsupportedImport { module, name } if module == "env" && name == "get_secret"),
        "{err:?}"
    );
    assert!(err.to_string().contains("env::get_secret"));
}

#[test]
fn unknown_wasi_function_is_named() {
    let wasm = wat::parse_str(
        r#"(module (import "wasi_snapshot_preview1" "no_such_call" (func)) (func (export "_start")))"#,
    )
    .unwrap();
    let err = runtime().compile(&wasm).unwrap_err();
    assert!(
        matches!(&err, LoadError::UnsupportedImport { name, .. } if name == "no_such_call"),
        "{err:?}"
    );
}

#[test]
fn wrong_signature_of_a_wasi_import_is_invalid() {
    let wasm = wat::parse_str(
        r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i64))) (func (export "_start")))"#,
    )
    .unwrap();
    assert!(matches!(
        runtime().compile(&wasm),
        Err(LoadError::Invalid(_))
    ));
}

#[test]
fn no_start_is_refused() {
    let rt = runtime();
    let reactor = wat::parse_str(r#"(module (func (export "_initialize")))"#).unwrap();
    assert!(matches!(rt.compile(&reactor), Err(LoadError::NoStart)));
    let wrong = wat::parse_str(r#"(module (func (export "_start") (param i32)))"#).unwrap();
    assert!(matches!(rt.compile(&wrong), Err(LoadError::NoStart)));
}

#[test]
fn memory_bigger_than_the_pool_is_refused_at_load() {
    let wasm = wat::parse_str(r#"(module (memory 2000) (func (export "_start")))"#).unwrap();
    let err = runtime().compile(&wasm).unwrap_err();
    assert!(
        matches!(&err, LoadError::Invalid(d) if d.contains("exceeds the limit")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_full_instance_pool_is_busy_not_a_trap() {
    let rt = WasmEngine::new(&EngineConfig {
        max_memory: 64 << 20,
        max_instances: 1,
        cache_dir: None,
    })
    .unwrap();
    let spin = rt
        .compile(&guest(r#"(func (export "_start") (loop (br 0)))"#))
        .unwrap();
    // `join!` polls the first run until the spinning guest yields at an
    // epoch tick, holding the only slot; the second cannot instantiate.
    let limits = short();
    let (first, second) =
        tokio::join!(rt.run(&spin, inv(), &limits), rt.run(&spin, inv(), &limits));
    assert!(matches!(first, Err(RunError::Timeout)), "{first:?}");
    assert!(matches!(second, Err(RunError::Busy)), "{second:?}");
}

/// An interpreter in WAT: `wizer-initialize` reads the "script" from stdin
/// into memory at 1024 (and counts it at 1020); `_start` prints a CGI head
/// and what was read, reading nothing itself. `$extra` goes into the init.
fn interpreter(extra_init: &str) -> Vec<u8> {
    guest(&format!(
        r#"
        (data (i32.const 512) "Content-Type: text/plain\n\n")
        (func (export "wizer-initialize")
          (i32.store (i32.const 16) (i32.const 1024))
          (i32.store (i32.const 20) (i32.const 4096))
          (drop (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 1020)))
          {extra_init})
        (func (export "_start")
          (call $write (i32.const 1) (i32.const 512) (i32.const 26))
          (call $write (i32.const 1) (i32.const 1024) (i32.load (i32.const 1020))))"#
    ))
}

fn preinit(rt: &WasmEngine, wasm: &[u8], limits: &GuestLimits) -> Result<Preinit, String> {
    let argv = ["s".to_owned(), "/wasibin/script/s.js".to_owned()];
    rt.preinitialise(wasm, Bytes::from_static(b"print(1)"), &argv, limits)
}

fn per_request(outcome: Result<Preinit, String>) -> String {
    match outcome {
        Ok(Preinit::PerRequest(why)) => why,
        other => panic!("expected a plain run, got {other:?}"),
    }
}

#[tokio::test]
async fn a_snapshot_starts_with_the_script_loaded() {
    let rt = runtime();
    let Ok(Preinit::Snapshot(snapshot)) = preinit(&rt, &interpreter(""), &limits()) else {
        panic!("no snapshot");
    };
    let module = rt.compile(&snapshot).unwrap();
    for _ in 0..2 {
        let out = rt.run(&module, inv(), &limits()).await.unwrap();
        assert_eq!(&out.stdout[..], b"Content-Type: text/plain\n\nprint(1)");
    }
    // The same script makes the same snapshot (the disk cache hits it at
    // the next load), even for an init that reads the clock and random
    // bytes.
    let reads = interpreter(
        "(drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 2048))) \
         (drop (call $random_get (i32.const 2056) (i32.const 16)))",
    );
    let snap = || match preinit(&rt, &reads, &limits()) {
        Ok(Preinit::Snapshot(bytes)) => bytes,
        other => panic!("no snapshot: {other:?}"),
    };
    assert_eq!(snap(), snap());
    // The plain interpreter, never initialised, has nothing to print.
    let plain = rt.compile(&interpreter("")).unwrap();
    let out = rt.run(&plain, inv(), &limits()).await.unwrap();
    assert_eq!(&out.stdout[..], b"Content-Type: text/plain\n\n");
}

#[test]
fn a_script_that_must_run_per_request_says_why() {
    let rt = runtime();
    let none = guest(r#"(func (export "_start"))"#);
    assert!(per_request(preinit(&rt, &none, &limits())).contains("no `wizer-initialize`"));
    let prints = interpreter("(call $write (i32.const 1) (i32.const 512) (i32.const 4))");
    assert!(per_request(preinit(&rt, &prints, &limits())).contains("writes output"));
    // Exit status 3, with the reason on stderr.
    let asks = interpreter(
        "(call $write (i32.const 2) (i32.const 512) (i32.const 12)) (call $proc_exit (i32.const 3))",
    );
    assert_eq!(per_request(preinit(&rt, &asks, &limits())), "Content-Type");
}

#[test]
fn a_script_that_cannot_load_is_refused_with_the_reason() {
    let rt = runtime();
    let exits = interpreter(
        "(call $write (i32.const 2) (i32.const 512) (i32.const 12)) (call $proc_exit (i32.const 1))",
    );
    let err = preinit(&rt, &exits, &limits()).unwrap_err();
    assert_eq!(err, "it failed to load (exit status 1): Content-Type");
    let traps = interpreter("unreachable");
    assert!(preinit(&rt, &traps, &limits())
        .unwrap_err()
        .contains("failed to load"));
    let spins = interpreter("(loop $l (br $l))");
    let started = Instant::now();
    let err = preinit(&rt, &spins, &short()).unwrap_err();
    assert!(err.contains("time limit"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
