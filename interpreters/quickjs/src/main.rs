//! `quickjs.wasm`: the interpreter wasibin runs `plugins/NAME.js` scripts
//! with, a WASI p1 command module embedding QuickJS-ng (through rquickjs).
//!
//! argv is `[ROUTE_NAME, SCRIPT_PATH, extra args...]`. Two ways in:
//!
//! - **plain run** (`_start` of this module): read the script from
//!   SCRIPT_PATH, evaluate the prelude (`prelude.js`, the JS API) and the
//!   script, then call the handler the script registered with `serve`, if it
//!   did (a classic script answers from its top level instead);
//! - **pre-initialised run**: the host calls the export `wizer-initialize`
//!   once per script version with the script's source on stdin, snapshots the
//!   instance with Wizer, and runs the snapshot's `_start` per request, which
//!   finds the engine already set up and only calls the handler.
//!
//! An uncaught exception or a syntax error prints its message and stack on
//! stderr and exits 1 with nothing on stdout (the host answers 502).

mod host;

use std::cell::RefCell;
use std::io::Read;
use std::mem::ManuallyDrop;
use std::process::ExitCode;

use rquickjs::context::EvalOptions;
use rquickjs::{CatchResultExt, CaughtError, Context, Function, Object, Persistent, Runtime};

use host::Phase;

/// The JS API: a function expression taking the native `host` object and the
/// global object, returning `{ run, endInit }`.
const PRELUDE: &str = include_str!("prelude.js");

/// QuickJS's heap limit, under the host's 64 MiB per instance: the rest is
/// for the 1 MiB stack (build.rs), the module's data, the request body's
/// Rust-side copy and the response buffer. Past it, an allocation throws an
/// `InternalError` the handler's 500 path catches, rather than a trap.
const MEMORY_LIMIT: usize = 48 << 20;

/// The biggest script a pre-initialised run reads from stdin.
const MAX_SCRIPT: u64 = 16 << 20;

/// What a failed run prints on stderr before exiting 1.
type Failure = String;

/// The engine with the prelude and the script evaluated: kept here between
/// `wizer-initialize` and `_start`, in linear memory, so the snapshot holds
/// it. (No threads on wasm32-wasip1: this is a plain static.)
struct Engine {
    runtime: Runtime,
    context: Context,
    /// The prelude's `run`: calls the registered handler for this request.
    run: Persistent<Function<'static>>,
    /// The prelude's `endInit`: undoes the top-level guards and says
    /// whether the script registered a handler.
    end_init: Persistent<Function<'static>>,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

fn main() -> ExitCode {
    host::start_request();
    let outcome = ENGINE.with_borrow(|engine| match engine {
        Some(engine) => engine.serve(),
        None => plain_run(),
    });
    match outcome.and_then(|()| host::flush().map_err(|e| format!("writing the response: {e}"))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            host::discard_output();
            eprintln!("{why}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the script named by argv[1], evaluates it, and serves the request.
fn plain_run() -> Result<(), Failure> {
    let path = std::env::args_os()
        .nth(1)
        .ok_or("quickjs: no script path in argv[1]")?;
    let source = std::fs::read(&path)
        .map_err(|e| format!("quickjs: cannot read {}: {e}", path.to_string_lossy()))?;
    let engine = Engine::new(Phase::Request)?;
    engine.eval_script(source, &path.to_string_lossy())?;
    if engine.end_init()? {
        engine.serve()?;
    }
    Ok(())
}

/// Wizer's init function: evaluates the prelude and the script (its source
/// on stdin) and keeps the engine for the snapshot. When the script did
/// request-time work at its top level, or registered no handler, it exits
/// with [`RUN_PER_REQUEST`] and the host runs it the plain way; a script
/// that cannot load at all (a syntax error, an exception at its top level)
/// exits 1, and the host refuses that version (an older one keeps
/// serving). The reason goes to stderr either way.
///
/// wasm-ld can wrap a command module's exports in calls to
/// `__wasm_call_ctors` and `__wasm_call_dtors`, which would run the C
/// constructors and destructors around the init and again in the snapshot's
/// `_start`. It does not here: the `wizer-initialize` export is this
/// function itself (no `.command_export` wrapper in the name section), so
/// the only constructor run is crt1's, in each `_start`; check.sh proves
/// that a snapshot serves.
// `export_name` is `unsafe_code` because two exports of one name would
// clash at link time; this name is the only export the crate adds.
#[allow(unsafe_code)]
#[export_name = "wizer-initialize"]
pub extern "C" fn wizer_initialize() {
    match initialize() {
        Ok(()) => {}
        Err(Init::PerRequest(why)) => {
            eprintln!("{why}");
            std::process::exit(RUN_PER_REQUEST);
        }
        Err(Init::Broken(why)) => {
            eprintln!("{why}");
            std::process::exit(1);
        }
    }
}

/// The init's exit status that asks the host to run the script per request
/// (host/src/runtime/preinit.rs has the same number).
const RUN_PER_REQUEST: i32 = 3;

/// Why an init did not leave a snapshot to take.
enum Init {
    /// The script is fine but must run per request.
    PerRequest(Failure),
    /// The script cannot run at all.
    Broken(Failure),
}

fn initialize() -> Result<(), Init> {
    let mut source = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_SCRIPT + 1)
        .read_to_end(&mut source)
        .map_err(|e| Init::Broken(format!("quickjs: reading the script from stdin: {e}")))?;
    if source.len() as u64 > MAX_SCRIPT {
        return Err(Init::Broken(format!(
            "quickjs: the script is over {MAX_SCRIPT} bytes"
        )));
    }
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "script.js".to_owned());
    let engine = Engine::new(Phase::Init).map_err(Init::Broken)?;
    let evaluated = engine
        .eval_script(source, &name)
        .and_then(|()| engine.end_init());
    if let Some(what) = host::top_level_work() {
        // Whether or not the script caught the exception that stopped it.
        return Err(Init::PerRequest(format!(
            "quickjs: {name} cannot be pre-initialised: its top level {what}; it runs per request instead"
        )));
    }
    let has_handler = evaluated.map_err(Init::Broken)?;
    if !has_handler {
        return Err(Init::PerRequest(format!(
            "quickjs: {name} cannot be pre-initialised: it registers no handler with serve()"
        )));
    }
    // What the script's top level left behind goes into the snapshot only
    // if it is still reachable.
    engine.runtime.run_gc();
    host::set_phase(Phase::Request);
    ENGINE.set(Some(ManuallyDrop::into_inner(engine)));
    Ok(())
}

impl Engine {
    /// A runtime and context with the native functions and the prelude,
    /// never dropped: the process ends after the request, freeing it would
    /// only cost time, and QuickJS asserts when a runtime is freed with
    /// objects alive (the saved `run` and `endInit` are).
    fn new(phase: Phase) -> Result<ManuallyDrop<Engine>, Failure> {
        host::set_phase(phase);
        let runtime = Runtime::new().map_err(|e| format!("quickjs: no runtime: {e}"))?;
        runtime.set_memory_limit(MEMORY_LIMIT);
        let context = Context::full(&runtime).map_err(|e| format!("quickjs: no context: {e}"))?;
        let (run, end_init) = context.with(|ctx| {
            let natives = host::natives(&ctx).catch(&ctx).map_err(|e| describe(&e))?;
            let prelude: Function = ctx
                .eval_with_options(PRELUDE, options("wasibin:prelude.js"))
                .catch(&ctx)
                .map_err(|e| describe(&e))?;
            let api: Object = prelude
                .call((natives, ctx.globals()))
                .catch(&ctx)
                .map_err(|e| describe(&e))?;
            let get = |name: &str| -> Result<Persistent<Function<'static>>, Failure> {
                let f: Function = api.get(name).catch(&ctx).map_err(|e| describe(&e))?;
                Ok(Persistent::save(&ctx, f))
            };
            Ok::<_, Failure>((get("run")?, get("endInit")?))
        })?;
        Ok(ManuallyDrop::new(Engine {
            runtime,
            context,
            run,
            end_init,
        }))
    }

    /// Evaluates the script as global code (not a module: a classic CGI
    /// script's top-level statements run as they stand), then any jobs its
    /// promises queued.
    fn eval_script(&self, source: Vec<u8>, name: &str) -> Result<(), Failure> {
        self.context.with(|ctx| {
            ctx.eval_with_options::<(), _>(source, options(name))
                .catch(&ctx)
                .map_err(|e| describe(&e))
        })?;
        self.drain_jobs()
    }

    /// Ends the top level; true when the script registered a handler.
    fn end_init(&self) -> Result<bool, Failure> {
        self.context.with(|ctx| {
            let end_init = self
                .end_init
                .clone()
                .restore(&ctx)
                .map_err(|e| e.to_string())?;
            end_init.call(()).catch(&ctx).map_err(|e| describe(&e))
        })
    }

    /// Calls the handler for this request; a handler's own failure is its
    /// 500 (the prelude's), so an error here is the prelude's or the
    /// engine's.
    fn serve(&self) -> Result<(), Failure> {
        if host::has_output() {
            return Err(
                "quickjs: the script wrote output at its top level and registered a handler".into(),
            );
        }
        self.context.with(|ctx| {
            let run = self.run.clone().restore(&ctx).map_err(|e| e.to_string())?;
            run.call::<_, ()>(()).catch(&ctx).map_err(|e| describe(&e))
        })?;
        self.drain_jobs()?;
        if !host::responded() {
            eprintln!("quickjs: the handler's promise never settled");
            host::internal_error();
        }
        Ok(())
    }

    /// Runs the promise jobs queued so far (an async handler's awaits).
    fn drain_jobs(&self) -> Result<(), Failure> {
        loop {
            match self.runtime.execute_pending_job() {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(job) => {
                    return job.0.with(|ctx| {
                        Err(describe(&CaughtError::from_error(
                            &ctx,
                            rquickjs::Error::Exception,
                        )))
                    });
                }
            }
        }
    }
}

/// Global code, strict only if the script says so, named for stack traces.
fn options(filename: &str) -> EvalOptions {
    let mut options = EvalOptions::default();
    options.global = true;
    options.strict = false;
    options.filename = Some(filename.to_owned());
    options
}

/// An uncaught exception as its message and stack.
fn describe(error: &CaughtError<'_>) -> Failure {
    match error {
        CaughtError::Exception(e) => {
            let message = e.message().unwrap_or_default();
            let stack = e.stack().unwrap_or_default();
            format!("Uncaught {}: {message}\n{stack}", error_name(e))
        }
        CaughtError::Value(v) => format!("Uncaught {}", host::to_display(v)),
        CaughtError::Error(e) => format!("quickjs: {e}"),
    }
}

/// The exception's `name` (`TypeError`, `SyntaxError`...).
fn error_name(e: &rquickjs::Exception<'_>) -> String {
    e.as_object()
        .get::<_, String>("name")
        .unwrap_or_else(|_| "Error".to_owned())
}
