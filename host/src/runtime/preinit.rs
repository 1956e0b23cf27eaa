//! Pre-initialising an interpreter that has loaded its script (wizer): at
//! load time, once per script version, the interpreter module runs its
//! `wizer-initialize` export with the script's source on stdin, and its
//! memory and globals are snapshotted into a new module. Each request then
//! starts from that snapshot (a copy-on-write memory image) instead of
//! creating the interpreter's runtime and parsing the script again.
//!
//! The init runs with no environment, no folders and no clock it could keep
//! a reading of: what it leaves in memory must be the same for every
//! request. An interpreter without the export, or whose init fails (a
//! script that does request-time work at its top level), is not an error:
//! the script then runs the plain way, parsed per request.

use bytes::Bytes;
use wasmtime::{Engine, Instance, Linker, Module, Store, Val};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use super::cache::DiskCache;
use super::environ::EnvBlock;
use super::limiter::MemoryCap;
use super::outcome::{arm_deadline, HOST_CALL_GRACE};
use super::stdio::StderrLog;
use super::store::StoreState;
use super::GuestLimits;

/// The export an interpreter offers to be pre-initialised by (wizer's
/// default name).
pub(crate) const INIT_EXPORT: &str = "wizer-initialize";
/// What an init may print before it counts as request-time output.
const INIT_STDOUT_LIMIT: usize = 4096;

/// Why a script runs without pre-initialisation, in words for the log.
#[derive(Debug, thiserror::Error)]
pub enum NotPreinitialised {
    /// The interpreter does not offer it.
    #[error("the interpreter has no `{INIT_EXPORT}` export")]
    NoExport,
    /// The init ran and failed, or did what only a request may do.
    #[error("its top level did not load cleanly ({0})")]
    InitFailed(String),
    /// Wizer could not instrument the module or snapshot the instance.
    #[error("the interpreter cannot be snapshotted: {0}")]
    Snapshot(String),
}

/// The snapshot of `interpreter` after its init read `script`, as a new
/// module's bytes. Runs on a thread of its own with its own small runtime,
/// so it can be called from a blocking thread or from async code alike.
#[allow(clippy::too_many_arguments)]
pub(super) fn snapshot(
    engine: &Engine,
    linker: &Linker<StoreState>,
    cache: Option<&DiskCache>,
    interpreter: &[u8],
    script: Bytes,
    argv: &[String],
    limits: &GuestLimits,
    log_tag: String,
) -> Result<Vec<u8>, NotPreinitialised> {
    if !exports_init(interpreter) {
        return Err(NotPreinitialised::NoExport);
    }
    let wizer = Wizer::new();
    let (cx, instrumented) = wizer
        .instrument(interpreter)
        .map_err(|e| NotPreinitialised::Snapshot(format!("{e:#}")))?;
    let build = || Module::new(engine, &instrumented).map_err(|e| format!("{e:#}"));
    let module = match cache {
        Some(cache) => cache.load_or_compile(engine, &instrumented, build),
        None => build(),
    }
    .map_err(NotPreinitialised::Snapshot)?;
    let stdout = MemoryOutputPipe::new(INIT_STDOUT_LIMIT);
    let mut wasi = WasiCtxBuilder::new();
    wasi.args(argv)
        .stdin(MemoryInputPipe::new(script))
        .stdout(stdout.clone())
        .stderr(StderrLog::new(log_tag));
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
    std::thread::scope(|scope| {
        let run = scope.spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .map_err(|e| NotPreinitialised::Snapshot(e.to_string()))?;
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
                        return Err(NotPreinitialised::InitFailed(format!(
                            "still running after {} ms",
                            timeout.as_millis()
                        )))
                    }
                    Ok(Err(e)) => return Err(NotPreinitialised::InitFailed(format!("{e:#}"))),
                    Ok(Ok(instance)) => instance,
                };
                if !stdout.contents().is_empty() {
                    return Err(NotPreinitialised::InitFailed(
                        "it wrote output while loading".to_owned(),
                    ));
                }
                let mut state = Snapshotted {
                    store: &mut store,
                    instance,
                };
                wizer
                    .snapshot(&cx, &mut state)
                    .await
                    .map_err(|e| NotPreinitialised::Snapshot(format!("{e:#}")))
            })
        });
        run.join().unwrap_or_else(|_| {
            Err(NotPreinitialised::Snapshot(
                "the snapshot thread panicked".to_owned(),
            ))
        })
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
