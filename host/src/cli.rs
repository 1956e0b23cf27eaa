//! The command line: `wasibin [PORT]` like `python3 -m http.server [PORT]`,
//! every flag also settable from a `WASIBIN_*` environment variable, so the
//! same binary runs from a shell, a systemd unit or a container unchanged.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::http::Limits;

/// wasibin: the cgi-bin folder, rebuilt for WebAssembly.
///
/// Serves the files in the static folder at `/`, and runs every WASI module
/// in the plugins folder as a handler: `plugins/hello.wasm` answers `/hello`
/// and everything below it, with the request in CGI environment variables and
/// on stdin, and the CGI response on its stdout. Adding or replacing a `.wasm`
/// file takes effect on the next request.
#[derive(Debug, Parser)]
#[command(name = "wasibin", version, about, long_about = None)]
#[command(args_conflicts_with_subcommands = true, max_term_width = 100)]
pub struct Cli {
    /// A tool instead of the server (see `wasibin run --help`).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Server options.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Tools that share the server's code but start no server.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one request through a plugin, with no server, and print the HTTP
    /// response: for plugin authors and for tests.
    Run(crate::run_cmd::RunArgs),
}

/// How the server listens, what it serves, and its limits.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TCP port to listen on (0 picks a free one).
    #[arg(env = "WASIBIN_PORT", default_value_t = 8000)]
    pub port: u16,

    /// Address to listen on (use 0.0.0.0 or :: to accept remote clients).
    #[arg(long, env = "WASIBIN_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// Folder of static files served at `/`.
    #[arg(long = "static", env = "WASIBIN_STATIC", default_value = "static")]
    pub static_dir: PathBuf,

    /// Folder of `.wasm` handlers (and their `.toml` sidecars).
    #[arg(long, env = "WASIBIN_PLUGINS", default_value = "plugins")]
    pub plugins: PathBuf,

    /// Folder for compiled modules, so restarts skip compilation.
    /// Defaults to `$XDG_CACHE_HOME/wasibin` (or `~/.cache/wasibin`).
    #[arg(long, env = "WASIBIN_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Do not keep compiled modules on disk.
    #[arg(long, env = "WASIBIN_NO_CACHE")]
    pub no_cache: bool,

    /// No access log on stdout.
    #[arg(short, long, env = "WASIBIN_QUIET")]
    pub quiet: bool,

    /// Show a plugin's failure details in the 502 page (never in production).
    #[arg(long, env = "WASIBIN_DEV")]
    pub dev: bool,

    /// Connection worker threads, each with its own event loop; default: one
    /// per CPU core.
    #[arg(long, env = "WASIBIN_WORKERS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,

    /// Seconds in-flight requests get to finish after SIGINT or SIGTERM.
    #[arg(long, env = "WASIBIN_GRACE", default_value_t = 10, value_name = "SECS")]
    pub grace: u64,

    /// HTTP limits.
    #[command(flatten, next_help_heading = "HTTP limits")]
    pub http: HttpLimitArgs,

    /// Plugin defaults.
    #[command(
        flatten,
        next_help_heading = "Plugin limits (a plugin's .toml sidecar may override)"
    )]
    pub plugin: PluginLimitArgs,
}

/// The connection loop's limits; defaults are in [`Limits`].
#[derive(Debug, Args)]
pub struct HttpLimitArgs {
    /// Longest request line in bytes (414 beyond).
    #[arg(long, env = "WASIBIN_MAX_REQUEST_LINE", default_value_t = Limits::MAX_REQUEST_LINE, value_name = "BYTES")]
    pub max_request_line: usize,

    /// Largest request header block in bytes (431 beyond).
    #[arg(long, env = "WASIBIN_MAX_HEADER_BYTES", default_value_t = Limits::MAX_HEADER_BYTES, value_name = "BYTES")]
    pub max_header_bytes: usize,

    /// Most request header fields (431 beyond).
    #[arg(long, env = "WASIBIN_MAX_HEADERS", default_value_t = Limits::MAX_HEADERS, value_name = "N")]
    pub max_headers: usize,

    /// Largest request body in bytes (413 beyond).
    #[arg(long, env = "WASIBIN_MAX_BODY", default_value_t = Limits::MAX_BODY, value_name = "BYTES")]
    pub max_body: u64,

    /// Seconds a client has to send a whole request head (408 after).
    #[arg(long, env = "WASIBIN_HEADER_TIMEOUT", default_value_t = Limits::HEADER_TIMEOUT.as_secs_f64(), value_name = "SECS")]
    pub header_timeout: f64,

    /// Seconds a client has to send a whole request body (408 after).
    #[arg(long, env = "WASIBIN_BODY_TIMEOUT", default_value_t = Limits::BODY_TIMEOUT.as_secs_f64(), value_name = "SECS")]
    pub body_timeout: f64,

    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, env = "WASIBIN_KEEPALIVE_TIMEOUT", default_value_t = Limits::KEEPALIVE_TIMEOUT.as_secs_f64(), value_name = "SECS")]
    pub keepalive_timeout: f64,

    /// Seconds a client has to take one whole response.
    #[arg(long, env = "WASIBIN_SEND_TIMEOUT", default_value_t = Limits::SEND_TIMEOUT.as_secs_f64(), value_name = "SECS")]
    pub send_timeout: f64,
}

/// Defaults for every plugin; a sidecar `NAME.toml` overrides them per plugin.
#[derive(Debug, Args, Clone)]
pub struct PluginLimitArgs {
    /// Wall-clock milliseconds a handler may run (504 after).
    #[arg(
        long,
        env = "WASIBIN_PLUGIN_TIMEOUT_MS",
        default_value_t = 10_000,
        value_name = "MS"
    )]
    pub plugin_timeout_ms: u64,

    /// Linear memory a handler may grow to, in MiB (502 beyond).
    #[arg(
        long,
        env = "WASIBIN_PLUGIN_MEMORY_MB",
        default_value_t = 64,
        value_name = "MIB"
    )]
    pub plugin_memory_mb: u64,

    /// The most memory any plugin's sidecar may grant, in MiB (the ceiling
    /// of the instance pool's slots).
    #[arg(
        long,
        env = "WASIBIN_PLUGIN_MEMORY_MAX_MB",
        default_value_t = 1024,
        value_name = "MIB"
    )]
    pub plugin_memory_max_mb: u64,

    /// Bytes of stdout a handler may write, in KiB (502 beyond).
    #[arg(long, env = "WASIBIN_PLUGIN_STDOUT_KB", default_value_t = 16 * 1024, value_name = "KIB")]
    pub plugin_stdout_kb: u64,

    /// Handlers of one plugin running at once.
    #[arg(
        long,
        env = "WASIBIN_PLUGIN_CONCURRENCY",
        default_value_t = 64,
        value_name = "N"
    )]
    pub plugin_concurrency: usize,

    /// Requests waiting for a busy plugin before 503 + Retry-After.
    #[arg(
        long,
        env = "WASIBIN_PLUGIN_QUEUE",
        default_value_t = 256,
        value_name = "N"
    )]
    pub plugin_queue: usize,

    /// Handler instances alive at once across all plugins (the memory pool's size).
    #[arg(
        long,
        env = "WASIBIN_MAX_INSTANCES",
        default_value_t = 256,
        value_name = "N"
    )]
    pub max_instances: u32,
}

impl HttpLimitArgs {
    /// The connection loop's limits, after checking the durations make sense.
    pub fn to_limits(&self) -> Result<Limits, String> {
        Ok(Limits {
            max_request_line: self.max_request_line,
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            max_body: self.max_body,
            header_timeout: secs("--header-timeout", self.header_timeout)?,
            body_timeout: secs("--body-timeout", self.body_timeout)?,
            keepalive_timeout: secs("--keepalive-timeout", self.keepalive_timeout)?,
            send_timeout: secs("--send-timeout", self.send_timeout)?,
        })
    }
}

/// A positive, finite number of seconds as a `Duration`.
fn secs(flag: &str, value: f64) -> Result<Duration, String> {
    if value.is_finite() && value > 0.0 && value < 1e9 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "invalid value '{value}' for '{flag}': expected a positive number of seconds"
        ))
    }
}

/// Parse the command line. Help and version print and exit 0; a mistake
/// prints one line (no usage dump, no stack trace) and exits 2, like other
/// well-behaved Unix tools.
pub fn parse() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => match err.kind() {
            clap::error::ErrorKind::DisplayHelp
            | clap::error::ErrorKind::DisplayVersion
            | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => err.exit(),
            _ => usage_error(&first_line(&err.to_string())),
        },
    }
}

/// Print `wasibin: MESSAGE (see --help)` and exit 2.
pub fn usage_error(message: &str) -> ! {
    eprintln!("wasibin: {message} (see 'wasibin --help')");
    std::process::exit(2)
}

/// The first line of a clap error without its `error: ` prefix.
fn first_line(rendered: &str) -> String {
    let line = rendered.lines().next().unwrap_or("invalid command line");
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_is_positional_and_defaults_to_8000() {
        let cli = Cli::try_parse_from(["wasibin"]).unwrap();
        assert_eq!(cli.serve.port, 8000);
        let cli = Cli::try_parse_from(["wasibin", "9090"]).unwrap();
        assert_eq!(cli.serve.port, 9090);
    }

    #[test]
    fn bad_port_is_an_error() {
        assert!(Cli::try_parse_from(["wasibin", "99999"]).is_err());
        assert!(Cli::try_parse_from(["wasibin", "http"]).is_err());
    }

    #[test]
    fn first_line_drops_usage() {
        let err = Cli::try_parse_from(["wasibin", "--nope"]).unwrap_err();
        let line = first_line(&err.to_string());
        assert!(line.contains("--nope"), "{line}");
        assert!(!line.contains('\n'));
        assert!(!line.starts_with("error:"));
    }

    #[test]
    fn durations_must_be_positive() {
        assert!(secs("--x", 0.0).is_err());
        assert!(secs("--x", f64::NAN).is_err());
        assert!(secs("--x", -1.0).is_err());
        assert_eq!(secs("--x", 0.5).unwrap(), Duration::from_millis(500));
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
