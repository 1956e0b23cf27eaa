//! The process-wide wasmtime engine: pooling allocator, copy-on-write memory
//! images, epoch interruption and its single ticker thread, the WASI
//! preview 1 linker every core module is linked against and the WASI 0.2
//! linker (with wasi:http) every component is linked against.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, Linker, PoolingAllocationConfig, Store,
};

use bytes::Bytes;

use super::cache::{CacheStats, DiskCache};
use super::cgi_run::CgiRun;
use super::command;
use super::component_store::ComponentState;
use super::environ;
use super::http_handler::{self, HttpInvocation, HttpRun};
use super::invoke;
use super::module::{self, Compiled, CompiledModule, Linkers, LoadError, Provided};
use super::outcome::RunError;
use super::preinit::{self, Preinit};
use super::stdout::stdout_pipe;
use super::store::StoreState;
use super::{EngineConfig, GuestLimits, GuestOutput, Invocation};

/// How often the engine's epoch advances: the granularity of time limits and
/// of a busy guest yielding to other requests.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);
/// Tables per core module (wasm MVP modules, as Rust and C emit, have one;
/// the modules inside today's components have at most one each too).
const MAX_TABLES: u32 = 2;
/// What one component may instantiate, with headroom over what the
/// toolchains of today need per request: Rust's `wasm32-wasip2` 3 core
/// instances, componentize-js 4, componentize-py 14; each one memory and
/// two tables (measured with the pool's per-component limits at 0, which
/// makes wasmtime's load-time validation name the real count).
const CORE_INSTANCES_PER_COMPONENT: u32 = 24;
const MEMORIES_PER_COMPONENT: u32 = 4;
const TABLES_PER_COMPONENT: u32 = 12;
/// Core instance slots per instance slot: enough for every instance to be a
/// componentize-py component (14 core instances).
const CORE_INSTANCES_PER_SLOT: u32 = 16;
/// Elements per table, the pool's slot size.
const MAX_TABLE_ELEMENTS: usize = 20_000;
/// Bytes of each linear memory the pool resets with `memset` and keeps
/// mapped, instead of `madvise`-ing them away and taking page faults on the
/// next use. Measured here (Linux 6.18, Rust hello): a guest whose memory
/// fits under this costs ~8 µs per instance against ~25 µs with nothing kept
/// resident. The reset covers the guest's whole grown memory (wasmtime's
/// dirty-page scan reports every resident page), so the cost grows with
/// memory size: a Rust guest with the default 1 MiB stack costs ~30 µs either
/// way, which is why the examples link with a 64 KiB stack (host/build.rs).
const MEMORY_KEEP_RESIDENT: usize = 2 << 20;
/// Same for tables.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// The wasm engine of the process: compiles modules and runs requests.
/// `Send + Sync`; share it in an `Arc`.
pub struct WasmEngine {
    engine: Engine,
    linkers: Linkers,
    max_memory: usize,
    /// Compiled modules on disk; `None` when disabled or unusable.
    cache: Option<DiskCache>,
    /// Where loaded plugin versions keep private files (scripts' copies).
    scratch: PathBuf,
    /// Dropping the sender stops the ticker thread.
    _ticker: Sender<()>,
}

impl std::fmt::Debug for WasmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmEngine")
            .field("max_memory", &self.max_memory)
            .finish_non_exhaustive()
    }
}

impl WasmEngine {
    /// Builds the engine and starts its one epoch ticker thread.
    pub fn new(cfg: &EngineConfig) -> anyhow::Result<WasmEngine> {
        let engine = Engine::new(&engine_config(cfg))
            .map_err(anyhow::Error::from)
            .context("cannot create the wasm engine")?;
        let mut core = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut core, StoreState::wasi)?;
        environ::shadow_in(&mut core, module::WASI_P1)?;
        shadow_proc_exit(&mut core)?;
        let provided = provided_imports(&engine, &core);
        // One component linker serves both kinds: wasi:cli commands import
        // WASI 0.2, handlers import it too (the toolchains' runtimes do) and
        // wasi:http on top.
        let mut component = wasmtime::component::Linker::<ComponentState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut component)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut component)?;
        let ticker = start_ticker(&engine)?;
        let cache = cfg
            .cache_dir
            .as_deref()
            .and_then(|dir| DiskCache::open(dir, &engine));
        Ok(WasmEngine {
            engine,
            linkers: Linkers {
                core,
                provided,
                component,
            },
            max_memory: cfg.max_memory,
            cache,
            scratch: cfg.cache_dir.as_ref().map_or_else(
                || std::env::temp_dir().join("wasibin-scripts"),
                |dir| dir.join("scripts"),
            ),
            _ticker: ticker,
        })
    }

    /// Checks the `\0asm` magic (saying in words when it's not wasm),
    /// validates and compiles, finds the kind (a p1 module needs `_start`
    /// and WASI preview 1 imports only; a component must export
    /// `wasi:cli/run` or `wasi:http/incoming-handler`), and refuses an
    /// import the linkers do not have, naming it. With a cache folder, a
    /// verified compiled copy of the same bytes for this engine skips
    /// compilation. CPU-heavy: call it off the request path
    /// (`spawn_blocking`).
    pub fn compile(&self, wasm: &[u8]) -> Result<CompiledModule, LoadError> {
        module::compile(&self.engine, &self.linkers, self.cache.as_ref(), wasm)
    }

    /// Starts one CGI request in a fresh instance of `module`, a p1 module
    /// or a `wasi:cli` command; its stdout is read while it runs.
    pub fn start_cgi(
        &self,
        module: &CompiledModule,
        inv: Invocation,
        limits: &GuestLimits,
    ) -> Result<CgiRun, RunError> {
        let (pipe, reader) = stdout_pipe(limits.max_stdout);
        let (engine, limits, writer) = (self.engine.clone(), limits.clone(), pipe.clone());
        Ok(match &module.compiled {
            Compiled::P1 { pre, start } => CgiRun::new(
                Box::pin(invoke::run_p1(
                    engine,
                    pre.clone(),
                    *start,
                    inv,
                    limits,
                    writer,
                )),
                pipe,
                reader,
            ),
            Compiled::Cli(pre) => CgiRun::new(
                Box::pin(command::run_cli(engine, pre.clone(), inv, limits, writer)),
                pipe,
                reader,
            ),
            Compiled::Http(_) => {
                return Err(RunError::Host(
                    "a wasi:http handler does not speak CGI".to_owned(),
                ))
            }
        })
    }

    /// Runs one CGI request to its end: all of stdout and the exit status.
    pub async fn run(
        &self,
        module: &CompiledModule,
        inv: Invocation,
        limits: &GuestLimits,
    ) -> Result<GuestOutput, RunError> {
        self.start_cgi(module, inv, limits)?.output().await
    }

    /// Starts one request in a fresh instance of a `wasi:http` handler.
    pub fn start_http<B>(
        &self,
        module: &CompiledModule,
        inv: HttpInvocation<B>,
        limits: &GuestLimits,
    ) -> Result<HttpRun, RunError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        match &module.compiled {
            Compiled::Http(pre) => http_handler::start_http(&self.engine, pre, inv, limits),
            _ => Err(RunError::Host(
                "only a wasi:http handler takes an HTTP request".to_owned(),
            )),
        }
    }

    /// `interpreter` (a p1 module) pre-initialised with `script` on its
    /// stdin and `argv`: a new module's bytes to [`WasmEngine::compile`], or
    /// why the script runs the plain way; the error is why it cannot run at
    /// all. Bounded by `limits`; CPU-heavy the first time (it compiles the
    /// instrumented interpreter, then finds it in the disk cache).
    pub fn preinitialise(
        &self,
        interpreter: &[u8],
        script: Bytes,
        argv: &[String],
        limits: &GuestLimits,
    ) -> Result<Preinit, String> {
        preinit::snapshot(
            &self.engine,
            &self.linkers.core,
            self.cache.as_ref(),
            interpreter,
            script,
            argv,
            limits,
        )
    }

    /// The disk cache's hits and misses; `None` without a cache.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(DiskCache::stats)
    }

    /// Where loaded plugin versions keep private files: under the cache
    /// folder when there is one (a container's writable volume), else in
    /// the system's temporary folder.
    pub fn scratch_dir(&self) -> &Path {
        &self.scratch
    }

    /// The largest memory any instance may have: a plugin's own limit must
    /// not exceed it.
    pub fn max_memory(&self) -> usize {
        self.max_memory
    }
}

fn engine_config(cfg: &EngineConfig) -> Config {
    let mut pool = PoolingAllocationConfig::new();
    let slots = cfg.max_instances;
    // Every instance, a core module's or a component's, has one linear
    // memory today; twice that leaves room for a component with two.
    pool.total_memories(slots.saturating_mul(2))
        .total_core_instances(slots.saturating_mul(CORE_INSTANCES_PER_SLOT))
        .total_tables(slots.saturating_mul(4))
        .total_stacks(slots)
        .total_component_instances(slots)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_memories_per_module(1)
        .max_tables_per_module(MAX_TABLES)
        .table_elements(MAX_TABLE_ELEMENTS)
        .max_memory_size(cfg.max_memory)
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT.min(cfg.max_memory))
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        // With PAGEMAP_SCAN (Linux 6.7+) a slot's reset touches only the pages
        // the guest dirtied instead of memsetting the whole resident region:
        // measured 5-6 % of server CPU per hello request without it.
        .pagemap_scan(Enabled::Auto)
        // And while the resetting thread has taken no page fault since a
        // slot's last scan, the slot's reset repeats that scan's answer
        // (vendor/wasmtime's patch): a `getrusage` in place of the scan,
        // 16.2-16.4 against 19.0-19.2 µs of server CPU per hello request
        // (alternating runs, Linux 6.18). Sound because every store lives on
        // the one current-thread runtime that created it (workers, `wasibin
        // run`, the pre-initialisation's own thread), and with transparent
        // huge pages off for the process, which wasmtime checks. Most
        // distributions leave them to `madvise`, which nothing here asks
        // for, so turning them off changes nothing else.
        .pagemap_scan_reuse(disable_transparent_huge_pages());
    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_init_cow(true)
        .epoch_interruption(true);
    config
}

/// Turns transparent huge pages off for this process: khugepaged may
/// otherwise collapse a pool slot's pages into a huge page behind our back,
/// which the pool's reuse of dirty-page scans must not miss. Whether it
/// worked.
fn disable_transparent_huge_pages() -> bool {
    #[cfg(target_os = "linux")]
    {
        rustix::thread::disable_transparent_huge_pages(true).is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// wasmtime-wasi's `proc_exit` refuses a status of 126 or more ("invalid
/// exit status") with a trap, which would turn a complete CGI answer
/// followed by `exit(-1)` or `exit(200)` into a 502. Ours ends the run with
/// the status as given, like every other exit; the gateway serves a complete
/// answer whatever the status and logs it.
fn shadow_proc_exit(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap(
        module::WASI_P1,
        "proc_exit",
        |status: i32| -> wasmtime::Result<()> {
            Err(wasmtime::Error::new(wasmtime_wasi::I32Exit(status)))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Every `(module, name)` the linker defines, so a module importing anything
/// else is refused at load with the import named.
fn provided_imports(engine: &Engine, linker: &Linker<StoreState>) -> Provided {
    let mut store = Store::new(engine, StoreState::empty());
    linker
        .iter(&mut store)
        .map(|(m, n, _)| (m.to_owned(), n.to_owned()))
        .collect()
}

/// One thread per engine advances the epoch; a timer or thread per request
/// is the known 100×-slower trap (wasmtime issue 11814).
fn start_ticker(engine: &Engine) -> anyhow::Result<Sender<()>> {
    let (stop, stopped) = mpsc::channel::<()>();
    let engine = engine.clone();
    std::thread::Builder::new()
        .name("wasm-epoch".to_owned())
        .spawn(move || {
            // Ticks until the runtime drops the sender.
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                engine.increment_epoch();
            }
        })
        .context("cannot start the epoch ticker thread")?;
    Ok(stop)
}
