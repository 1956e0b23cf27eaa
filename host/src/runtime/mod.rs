//! wasmtime: one `Engine` for the process, every handler compiled once and
//! pre-instantiated, and a fresh `Store` with its own WASI context per
//! request. Knows nothing of sockets: a CGI handler (p1 module or `wasi:cli`
//! command) takes argv, env, stdin and limits and gives back stdout or a
//! typed failure; a `wasi:http` handler takes an `http::Request` and gives
//! back an `http::Response` whose body it is still writing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

mod cache;
mod cgi_run;
mod command;
mod component_store;
mod engine;
mod environ;
mod http_handler;
mod invoke;
mod limiter;
mod module;
mod outbound;
mod outcome;
mod preinit;
mod stdin;
mod stdio;
mod stdout;
mod store;

pub use cache::CacheStats;
pub use cgi_run::{CgiRun, GuestTask};
pub use engine::WasmEngine;
pub use environ::EnvBlock;
pub(crate) use environ::Value;
pub use http_handler::{GuestBody, HttpInvocation, HttpRun};
pub use module::{CompiledModule, HandlerKind, LoadError};
pub use outbound::Origin;
pub use outcome::RunError;
pub use preinit::Preinit;
pub use stdin::{Stdin, StdinBody, StdinError};
pub use stdout::StdoutReader;

/// Process-wide settings of the engine; per-plugin limits come with each run.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Largest linear memory any instance may have (the pool is sized for it).
    pub max_memory: usize,
    /// Most instances alive at once across all plugins (pool slots).
    pub max_instances: u32,
    /// Where compiled modules are cached on disk; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
}

impl EngineConfig {
    /// The default ceiling of any instance's memory, MiB.
    pub const MAX_MEMORY_MB: u64 = 1024;
    /// The default number of instances alive at once (pool slots).
    pub const MAX_INSTANCES: u32 = 256;
}

/// Per-run bounds; a plugin's sidecar may override the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestLimits {
    /// Wall-clock time before the guest is stopped (answer 504).
    pub timeout: Duration,
    /// Linear memory the guest may grow to (failure answers 502).
    pub max_memory: usize,
    /// Bytes of stdout the guest may write (more answers 502).
    pub max_stdout: usize,
}

/// A host folder visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// The folder on the host.
    pub host: PathBuf,
    /// The path the guest opens it by.
    pub guest: String,
    /// Whether the guest may create and write files there.
    pub writable: bool,
}

/// Everything a guest sees of one request.
#[derive(Debug, Default)]
pub struct Invocation {
    /// argv, starting with the plugin name.
    pub args: Vec<String>,
    /// The environment: CGI meta-variables and the sidecar's variables.
    pub env: EnvBlock,
    /// stdin: the request body, whole or as it arrives, then end of file.
    pub stdin: Stdin,
    /// Host folders mapped into the guest.
    pub preopens: Vec<Preopen>,
    /// Tags guest stderr lines in the log (plugin route and request id).
    pub log_tag: String,
    /// Origins a component may send wasi:http requests to.
    pub allowed_outbound: Arc<[Origin]>,
}

/// What a guest that ran to completion left behind.
#[derive(Debug)]
pub struct GuestOutput {
    /// Everything written to stdout (bounded by `GuestLimits::max_stdout`).
    pub stdout: Bytes,
    /// The exit status: 0 when `_start` returned or `proc_exit(0)` was called.
    pub exit_code: i32,
}

#[cfg(test)]
mod tests;
