//! Pre-initialising an interpreter that has loaded its script (wizer): at
//! load time, once per script version, the interpreter module runs its
//! `wizer-initialize` export with the script's source on stdin, and its
//! memory and globals are snapshotted into a new module. Each request then
//! starts from that snapshot (a copy-on-write memory image) instead of
//! creating the interpreter's runtime and parsing the script again.
//!
//! The init runs with no environment, no folders, a clock stopped at the
//! Unix epoch and random bytes that are always the same: what it leaves in
//! memory must be the same for every request, and the same snapshot every
//! time the same script is loaded, so that a restart finds the compiled
//! snapshot in the disk cache. (What must differ per request, an
//! interpreter reseeds in its run: QuickJS does so for `Math.random`.) An interpreter without the export, or whose init exits with
//! [`RUN_PER_REQUEST`] (a script that does request-time work at its top
//! level), is not an error: the script then runs the plain way, parsed per
//! request. Any other failure of the init (a syntax error, an exception, a
//! trap, the time or memory limit) means the script cannot run: that
//! version is refused, as a module that does not compile is.

use std::time::Duration;

use bytes::Bytes;
use wasmtime::{Engine, Instance, Linker, Module, Store, Trap, Val};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{Deterministic, HostMonotonicClock, HostWallClock, I32Exit, WasiCtxBuilder};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use super::cache::DiskCache;
use super::environ::EnvBlock;
use super::limiter::MemoryCap;
use super::outcome::{arm_deadline, HOST_CALL_GRACE};
use super::store::StoreState;
use super::GuestLimits;

/// The export an interpreter offers to be pre-initialised by (wizer's
/// default name).
pub(crate) const INIT_EXPORT: &str = "wizer-initialize";
/// The init's exit status that says "run this script per request"
/// (interpreters/quickjs/src/main.rs has the same number).
pub(crate) const RUN_PER_REQUEST: i32 = 3;
/// What an init may print (it should print nothing) or say on stderr
/// before the rest is cut; the stderr text is the refusal's reason.
const INIT_OUTPUT_LIMIT: usize = 4096;

/// The init's random bytes, repeated.
const FIXED_RANDOM: [u8; 4] = [0x9e, 0x37, 0x79, 0xb9];

/// The init's clocks: never moving, so nothing of the load time is kept.
struct Stopped;

impl HostWallClock for Stopped {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for Stopped {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        0
    }
}

/// What pre-initialising a script gave.
#[derive(Debug)]
pub enum Preinit {
    /// The new module's bytes: the interpreter with the script loaded.
    Snapshot(Vec<u8>),
    /// The script runs the plain way, parsed per request; why, in words.
    PerRequest(String),
}

/// The snapshot of `interpreter` after its init read `script`, or why the
/// script runs per request; the error, in words, is why the script cannot
/// run at all. Runs on a thread of its own with its own small runtime, so
/// it can be called from a blocking thread or from async code alike.
pub(super) fn snapshot(
    engine: &Engine,
    linker: &Linker<StoreState>,
    cache: Option<&DiskCache>,
    interpreter: &[u8],
    script: Bytes,
    argv: &[String],
    limits: &GuestLimits,
) -> Result<Preinit, String> {
    if !exports_init(interpreter) {
        return Ok(Preinit::PerRequest(format!(
            "the interpreter has no `{INIT_EXPORT}` export"
        )));
    }
    let unsnapshottable = |e: wasmtime::Error| {
        Preinit::PerRequest(format!("the interpreter cannot be snapshotted: {e:#}"))
    };
    let wizer = Wizer::new();
    let (cx, instrumented) = match wizer.instrument(interpreter) {
        Ok(instrumented) => instrumented,
        Err(e) => return Ok(unsnapshottable(e)),
    };
    let build = || Module::new(engine, &instrumented);
    let module = match cache {
        Some(cache) => cache.load_or_compile(engine, &instrumented, build),
        None => build(),
    };
    let module = match module {
        Ok(module) => module,
        Err(e) => return Ok(unsnapshottable(e)),
    };
    let stdout = MemoryOutputPipe::new(INIT_OUTPUT_LIMIT);
    let stderr = MemoryOutputPipe::new(INIT_OUTPUT_LIMIT);
    let mut wasi = WasiCtxBuilder::new();
    wasi.args(argv)
        .stdin(MemoryInputPipe::new(script))
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .wall_clock(Stopped)
        .monotonic_clock(Stopped)
        .secure_random(Deterministic::new(FIXED_RANDOM.to_vec()))
        .insecure_random(Deterministic::new(FIXED_RANDOM.to_vec()))
        .insecure_random_seed(0);
    let mut store = Store::new(
        engine,
        StoreState::new(
            wasi.build_p1(),
            EnvBlock::default(),
            MemoryCap::for_module(limits.max_memory),
        ),
    );
    store.limiter(|s| s.limiter());
    arm_deadline(&mut store, limits.timeout);
    let timeout = limits.timeout + HOST_CALL_GRACE;
    let said = || {
        let text = String::from_utf8_lossy(&stderr.contents())
            .trim()
            .to_owned();
        (!text.is_empty()).then_some(text)
    };
    std::thread::scope(|scope| {
        let run = scope.spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .map_err(|e| format!("cannot start the pre-initialisation: {e}"))?;
            runtime.block_on(async {
                let init = async {
                    let instance = linker.instantiate_async(&mut store, &module).await?;
                    instance
                        .get_typed_func::<(), ()>(&mut store, INIT_EXPORT)?
                        .call_async(&mut store, ())
                        .await?;
                    Ok::<_, wasmtime::Error>(instance)
                };
                let instance = match tokio::time::timeout(timeout, init).await {
                    Err(_elapsed) => {
                        return Err(format!(
                            "its top level was still running after {} ms",
                            timeout.as_millis()
                        ))
                    }
                    Ok(Ok(instance)) => instance,
                    Ok(Err(e)) => {
                        let status = e.downcast_ref::<I32Exit>().map(|exit| exit.0);
                        if status == Some(RUN_PER_REQUEST) {
                            return Ok(Preinit::PerRequest(
                                said().unwrap_or_else(|| "its interpreter says so".to_owned()),
                            ));
                        }
                        let why = match status {
                            Some(status) => format!("exit status {status}"),
                            None if store.data().memory_cap_hit() => {
                                "over its memory limit".to_owned()
                            }
                            None if matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt)) => {
                                format!("over its time limit of {} ms", timeout.as_millis())
                            }
                            None => format!("{e:#}"),
                        };
                        return Err(match said() {
                            Some(text) => format!("it failed to load ({why}): {text}"),
                            None => format!("it failed to load ({why})"),
                        });
                    }
                };
                if !stdout.contents().is_empty() {
                    return Ok(Preinit::PerRequest(
                        "it writes output at its top level".to_owned(),
                    ));
                }
                let mut state = Snapshotted {
                    store: &mut store,
                    instance,
                };
                Ok(match wizer.snapshot(&cx, &mut state).await {
                    Ok(bytes) => Preinit::Snapshot(bytes),
                    Err(e) => unsnapshottable(e),
                })
            })
        });
        run.join()
            .unwrap_or_else(|_| Err("the pre-initialisation thread panicked".to_owned()))
    })
}

/// Whether the module exports [`INIT_EXPORT`]; read from the export section
/// alone, so an interpreter without it costs no compile.
fn exports_init(wasm: &[u8]) -> bool {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(wasmparser::Payload::ExportSection(exports)) => {
                return exports
                    .into_iter()
                    .any(|e| e.is_ok_and(|e| e.name == INIT_EXPORT));
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// Wizer's view of the initialised instance.
struct Snapshotted<'a> {
    store: &'a mut Store<StoreState>,
    instance: Instance,
}

impl InstanceState for Snapshotted<'_> {
    async fn global_get(&mut self, name: &str, _: ValType) -> SnapshotVal {
        // Wizer asks only for the globals its instrumentation exported.
        let value = self
            .instance
            .get_global(&mut *self.store, name)
            .map(|g| g.get(&mut *self.store));
        match value {
            Some(Val::I64(x)) => SnapshotVal::I64(x),
            Some(Val::F32(x)) => SnapshotVal::F32(x),
            Some(Val::F64(x)) => SnapshotVal::F64(x),
            Some(Val::V128(x)) => SnapshotVal::V128(x.as_u128()),
            Some(Val::I32(x)) => SnapshotVal::I32(x),
            _ => SnapshotVal::I32(0),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        match self.instance.get_memory(&mut *self.store, name) {
            Some(memory) => contents(memory.data(&*self.store)),
            None => contents(&[]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_is_found_without_compiling() {
        let with = wat::parse_str(r#"(module (func (export "wizer-initialize")))"#).unwrap();
        let without = wat::parse_str(r#"(module (func (export "_start")))"#).unwrap();
        assert!(exports_init(&with));
        assert!(!exports_init(&without));
        assert!(!exports_init(b"\0asm garbage"));
    }
}
