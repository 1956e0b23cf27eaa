//! The `wasibin` binary: parse the command line, set up logging, run.
//! Everything else lives in the library so tests and tools share it.

use std::process::ExitCode;

use wasibin::cli::{self, Command};
use wasibin::server::{self, StartError};

/// Every plugin request builds and drops a WASI context, a store and an
/// instance: ~60 small allocations, many of one size, which overflow glibc's
/// per-thread cache and fall through to its locked arenas. Measured with
/// callgrind on a minimal guest: 57.5k instructions per instance with glibc
/// malloc, 33.1k with mimalloc; wall time 10.1 -> 7.7 us per instance.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::parse();
    cli.init_logging();
    // This runtime only coordinates (start-up, signals, reloads, `wasibin
    // run`); connections are served by the server's own worker threads.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("wasibin: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Some(Command::Run(args)) => {
            let engine = cli
                .serve
                .engine_config()
                .unwrap_or_else(|msg| cli::usage_error(&msg));
            let defaults = cli.serve.plugin.defaults();
            match runtime.block_on(wasibin::run_cmd::run(args, engine, defaults)) {
                Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
                Err(err) => {
                    eprintln!("wasibin run: {err:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::Probe(args)) => wasibin::probe_cmd::main(&args),
        None => {
            let config = cli
                .serve
                .server_config()
                .unwrap_or_else(|msg| cli::usage_error(&msg));
            match runtime.block_on(server::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(StartError::AddrInUse(addr)) => {
                    eprintln!("wasibin: {addr} is already in use (is another server running? pick another port)");
                    ExitCode::FAILURE
                }
                Err(StartError::Other(err)) => {
                    eprintln!("wasibin: {err:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
