//! wasibin: the cgi-bin folder, rebuilt for WebAssembly.
//!
//! One process owns the sockets ([`server`], [`http`]), serves `static/`
//! ([`static_files`]) and hands dynamic paths to sandboxed WASI modules in
//! `plugins/` ([`plugins`], [`runtime`]) through the CGI contract ([`cgi`],
//! [`gateway`]). Dependencies point one way: `http` knows nothing of wasm,
//! `runtime` knows nothing of sockets, `cgi` is pure functions.

mod admin;
mod bounded_file;
mod cgi;
pub mod cli;
mod conn_cap;
mod cpu_affinity;
mod digits;
mod dispatch;
mod file_stamp;
#[doc(hidden)]
pub mod fuzzing;
mod gateway;
mod http;
mod listener;
mod plugins;
pub mod probe_cmd;
mod reload;
pub mod run_cmd;
pub mod runtime;
pub mod server;
mod static_files;
mod telemetry;
mod tls;
mod url_path;

/// The `Server` header and `SERVER_SOFTWARE` value.
pub const SERVER_SOFTWARE: &str = concat!("wasibin/", env!("CARGO_PKG_VERSION"));
