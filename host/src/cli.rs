//! The command line: `wasibin [PORT]` like `python3 -m http.server [PORT]`,
//! every flag also settable from a `WASIBIN_*` environment variable, so the
//! same binary runs from a shell, a systemd unit or a container unchanged.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use std::io::IsTerminal as _;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::http::{Limits, LogFormat};
use crate::plugins::{kib, mib, PluginDefaults};
use crate::reload::{WatchMode, DEFAULT_POLL};
use crate::runtime::{EngineConfig, GuestLimits};
use crate::server::ServerConfig;
use crate::static_files::CachePolicy;
use crate::tls::TlsFiles;

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
    /// A tool instead of the server (see `wasibin run --help`, `wasibin probe --help`).
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
    /// GET a URL over plain HTTP and exit 0 if it answers 2xx, else 1: the
    /// container image's health check (it has no curl).
    Probe(crate::probe_cmd::ProbeArgs),
}

/// How the server listens, what it serves, and its limits.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TCP port to listen on (0 picks a free one).
    #[arg(env = "WASIBIN_PORT", default_value_t = 8000)]
    pub(crate) port: u16,

    /// Address to listen on (use 0.0.0.0 or :: to accept remote clients).
    #[arg(long, env = "WASIBIN_BIND", default_value = "127.0.0.1")]
    pub(crate) bind: IpAddr,

    /// Folder of static files served at `/`.
    #[arg(long = "static", env = "WASIBIN_STATIC", default_value = "static")]
    pub(crate) static_dir: PathBuf,

    /// Folder of `.wasm` handlers (and their `.toml` sidecars).
    #[arg(long, env = "WASIBIN_PLUGINS", default_value = "plugins")]
    pub(crate) plugins: PathBuf,

    /// Folder for compiled modules, so restarts skip compilation.
    /// Defaults to `$XDG_CACHE_HOME/wasibin` (or `~/.cache/wasibin`).
    #[arg(long, env = "WASIBIN_CACHE_DIR")]
    pub(crate) cache_dir: Option<PathBuf>,

    /// Do not keep compiled modules on disk.
    #[arg(long, env = "WASIBIN_NO_CACHE")]
    pub(crate) no_cache: bool,

    /// No access log on stdout.
    #[arg(short, long, env = "WASIBIN_QUIET")]
    pub(crate) quiet: bool,

    /// Show a plugin's failure details in the 502 page (never in production).
    #[arg(long, env = "WASIBIN_DEV")]
    pub(crate) dev: bool,

    /// Connection worker threads, each with its own event loop; default: one
    /// per CPU core.
    #[arg(long, env = "WASIBIN_WORKERS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) workers: Option<u16>,

    /// Leave the workers unpinned. By default, with one worker per CPU the
    /// process may use, each worker is pinned to its CPU and a new
    /// connection goes to the worker on the CPU that received its packets.
    #[arg(long, env = "WASIBIN_NO_CPU_AFFINITY")]
    pub(crate) no_cpu_affinity: bool,

    /// Seconds in-flight requests get to finish after SIGINT or SIGTERM.
    #[arg(long, env = "WASIBIN_GRACE", default_value_t = 10, value_name = "SECS")]
    pub(crate) grace: u64,

    /// How plugin changes are noticed; the help text is [`watch_help`]'s,
    /// which names the default polling period.
    #[arg(long, env = "WASIBIN_WATCH", default_value_t = WatchMode::Events, value_name = "inotify|poll[=SECS]", help = watch_help())]
    pub(crate) watch: WatchMode,

    /// Admin listener, logs, caching headers, TLS.
    #[command(flatten, next_help_heading = "Operating")]
    pub(crate) operate: OperateArgs,

    /// HTTP limits.
    #[command(flatten, next_help_heading = "HTTP limits")]
    pub(crate) http: HttpLimitArgs,

    /// Plugin defaults.
    #[command(
        flatten,
        next_help_heading = "Plugin limits (a plugin's .toml sidecar may override)"
    )]
    pub plugin: PluginLimitArgs,
}

/// What an operator needs beyond serving: a window on the server, logs a
/// pipeline can read, and caching headers.
#[derive(Debug, Args)]
pub struct OperateArgs {
    /// Serve /metrics (Prometheus), /healthz, /readyz and a status page at
    /// / on this address (e.g. 127.0.0.1:9090); off unless given. Keep it
    /// off the public network.
    #[arg(long, env = "WASIBIN_ADMIN", value_name = "ADDR")]
    pub(crate) admin: Option<SocketAddr>,

    /// How the access log (stdout) and the diagnostics (stderr) are written.
    #[arg(long, env = "WASIBIN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Combined)]
    pub(crate) log_format: LogFormat,

    /// Cache-Control for static answers: VALUE for the whole site,
    /// /FOLDER/=VALUE for one folder; repeat for several (the longest folder
    /// wins).
    #[arg(
        long = "cache-control",
        env = "WASIBIN_CACHE_CONTROL",
        value_name = "[/FOLDER/=]VALUE"
    )]
    pub(crate) cache_control: Vec<String>,

    /// Speak HTTPS with this PEM certificate chain (leaf first); needs
    /// --tls-key. Re-read on SIGHUP and when the file changes.
    #[arg(
        long,
        env = "WASIBIN_TLS_CERT",
        value_name = "PEM",
        requires = "tls_key"
    )]
    pub(crate) tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        env = "WASIBIN_TLS_KEY",
        value_name = "PEM",
        requires = "tls_cert"
    )]
    pub(crate) tls_key: Option<PathBuf>,
}

/// The connection loop's limits; defaults are in [`Limits`].
#[derive(Debug, Args)]
pub struct HttpLimitArgs {
    /// Longest request line in bytes (414 beyond).
    #[arg(long, env = "WASIBIN_MAX_REQUEST_LINE", default_value_t = Limits::MAX_REQUEST_LINE, value_name = "BYTES")]
    pub(crate) max_request_line: usize,

    /// Largest request header block in bytes (431 beyond).
    #[arg(long, env = "WASIBIN_MAX_HEADER_BYTES", default_value_t = Limits::MAX_HEADER_BYTES, value_name = "BYTES")]
    pub(crate) max_header_bytes: usize,

    /// Most request header fields (431 beyond).
    #[arg(long, env = "WASIBIN_MAX_HEADERS", default_value_t = Limits::MAX_HEADERS, value_name = "N")]
    pub(crate) max_headers: usize,

    /// Seconds a client has to send a whole request head (408 after).
    #[arg(long, env = "WASIBIN_HEADER_TIMEOUT", default_value_t = Limits::HEADER_TIMEOUT.as_secs_f64(), value_name = "SECS")]
    pub(crate) header_timeout: f64,

    /// Seconds a client has to send a whole request body (408 after).
    #[arg(long, env = "WASIBIN_BODY_TIMEOUT", default_value_t = Limits::BODY_TIMEOUT.as_secs_f64(), value_name = "SECS")]
    pub(crate) body_timeout: f64,

    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, env = "WASIBIN_KEEPALIVE_TIMEOUT", default_value_t = Limits::KEEPALIVE_TIMEOUT.as_secs_f64(), value_name = "SECS")]
    pub(crate) keepalive_timeout: f64,

    /// Seconds a client has to take one whole response.
    #[arg(long, env = "WASIBIN_SEND_TIMEOUT", default_value_t = Limits::SEND_TIMEOUT.as_secs_f64(), value_name = "SECS")]
    pub(crate) send_timeout: f64,

    /// Connections served at once; past it a new one is answered 503 and
    /// closed. [default: the open-file limit (raised to its hard limit at
    /// start) less a reserve of up to 1024]
    #[arg(long, env = "WASIBIN_MAX_CONNECTIONS", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_connections: Option<u64>,
}

/// Defaults for every plugin; a sidecar `NAME.toml` overrides them per
/// plugin. Every default is a constant of [`PluginDefaults`] or
/// [`EngineConfig`], so `--help`, a plugin without a sidecar and the README
/// say the same (a test holds them together).
#[derive(Debug, Args, Clone)]
pub struct PluginLimitArgs {
    /// Wall-clock milliseconds a handler may run (504 after).
    #[arg(long, env = "WASIBIN_PLUGIN_TIMEOUT_MS", default_value_t = PluginDefaults::TIMEOUT_MS, value_name = "MS")]
    pub(crate) plugin_timeout_ms: u64,

    /// Linear memory a handler may grow to, in MiB (502 beyond).
    #[arg(long, env = "WASIBIN_PLUGIN_MEMORY_MB", default_value_t = PluginDefaults::MEMORY_MB, value_name = "MIB")]
    pub(crate) plugin_memory_mb: u64,

    /// The most memory any plugin's sidecar may grant, in MiB (the ceiling
    /// of the instance pool's slots).
    #[arg(long, env = "WASIBIN_PLUGIN_MEMORY_MAX_MB", default_value_t = EngineConfig::MAX_MEMORY_MB, value_name = "MIB")]
    pub(crate) plugin_memory_max_mb: u64,

    /// Bytes of stdout a handler may write, in KiB (502 beyond).
    #[arg(long, env = "WASIBIN_PLUGIN_STDOUT_KB", default_value_t = PluginDefaults::STDOUT_KB, value_name = "KIB")]
    pub(crate) plugin_stdout_kb: u64,

    /// Largest request body a handler is given, in bytes (413 beyond).
    #[arg(long, env = "WASIBIN_MAX_BODY", default_value_t = PluginDefaults::MAX_BODY, value_name = "BYTES")]
    pub(crate) max_body: u64,

    /// Handlers of one plugin running at once.
    #[arg(long, env = "WASIBIN_PLUGIN_CONCURRENCY", default_value_t = PluginDefaults::CONCURRENCY, value_name = "N")]
    pub(crate) plugin_concurrency: usize,

    /// Requests waiting for a busy plugin before 503 + Retry-After.
    #[arg(long, env = "WASIBIN_PLUGIN_QUEUE", default_value_t = PluginDefaults::QUEUE, value_name = "N")]
    pub(crate) plugin_queue: usize,

    /// Handler instances alive at once across all plugins (the memory pool's size).
    #[arg(long, env = "WASIBIN_MAX_INSTANCES", default_value_t = EngineConfig::MAX_INSTANCES, value_name = "N")]
    pub(crate) max_instances: u32,
}

impl ServeArgs {
    /// Everything the server needs; a contradiction between flags is the
    /// message of a usage error.
    pub fn server_config(&self) -> Result<ServerConfig, String> {
        Ok(ServerConfig {
            addr: SocketAddr::new(self.bind, self.port),
            static_dir: self.static_dir.clone(),
            plugins_dir: self.plugins.clone(),
            access_log: (!self.quiet).then_some(self.operate.log_format),
            admin: self.operate.admin,
            tls: match (&self.operate.tls_cert, &self.operate.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                _ => None,
            },
            cache_policy: CachePolicy::parse(
                self.operate.cache_control.iter().map(String::as_str),
            )?,
            dev: self.dev,
            limits: self.http.to_limits()?,
            engine: self.engine_config()?,
            plugin_defaults: self.plugin.defaults(),
            grace: Duration::from_secs(self.grace),
            watch: self.watch,
            workers: self.workers.map_or_else(
                || std::thread::available_parallelism().map_or(1, usize::from),
                usize::from,
            ),
            cpu_affinity: !self.no_cpu_affinity,
            max_connections: self
                .http
                .max_connections
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        })
    }

    /// The wasm engine's settings, the compile cache included (the server
    /// and `wasibin run` share it).
    pub fn engine_config(&self) -> Result<EngineConfig, String> {
        let p = &self.plugin;
        if p.plugin_memory_mb > p.plugin_memory_max_mb {
            return Err(format!(
                "--plugin-memory-mb {} is above --plugin-memory-max-mb {}",
                p.plugin_memory_mb, p.plugin_memory_max_mb
            ));
        }
        Ok(EngineConfig {
            max_memory: mib(p.plugin_memory_max_mb),
            max_instances: p.max_instances,
            cache_dir: self.cache_dir(),
        })
    }

    /// `--cache-dir`, else `$XDG_CACHE_HOME/wasibin`, else `~/.cache/wasibin`;
    /// none with `--no-cache` or when no home is known.
    fn cache_dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        if let Some(dir) = &self.cache_dir {
            return Some(dir.clone());
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
        Some(base.join("wasibin"))
    }
}

impl PluginLimitArgs {
    /// What a plugin without a sidecar runs with.
    pub fn defaults(&self) -> PluginDefaults {
        PluginDefaults {
            limits: GuestLimits {
                timeout: Duration::from_millis(self.plugin_timeout_ms),
                max_memory: mib(self.plugin_memory_mb),
                max_stdout: kib(self.plugin_stdout_kb),
            },
            max_body: self.max_body,
            max_concurrency: self.plugin_concurrency,
            max_queue: self.plugin_queue,
        }
    }
}

impl HttpLimitArgs {
    /// The connection loop's limits, after checking the durations make sense.
    pub(crate) fn to_limits(&self) -> Result<Limits, String> {
        Ok(Limits {
            max_request_line: self.max_request_line,
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
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

/// `--watch`'s help, which names the default polling period.
fn watch_help() -> String {
    format!(
        "How plugin changes are noticed: file events, or a rescan every SECS \
         (`poll` alone: every {} s) for network volumes that deliver no events; \
         file events fall back to polling when the folder cannot be watched",
        DEFAULT_POLL.as_secs()
    )
}

impl Cli {
    /// Diagnostics go to stderr (stdout carries the banner and the access
    /// log), as text or as JSON lines after `--log-format`; `RUST_LOG`
    /// overrides the default `info` level.
    pub fn init_logging(&self) {
        let filter = EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("info,wasmtime=warn,cranelift=warn"));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false);
        match self.serve.operate.log_format {
            LogFormat::Combined => builder.with_ansi(std::io::stderr().is_terminal()).init(),
            LogFormat::Json => builder.json().with_ansi(false).init(),
        }
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
    use crate::conn_cap::ConnectionCap;

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

    /// The value clap prints as `[default: VALUE]` for `flag` in `help`
    /// (whitespace folded, since help text wraps).
    fn default_in_help(help: &str, flag: &str) -> Option<String> {
        let folded = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let at = folded.find(&format!("{flag} <"))?;
        let rest = &folded[at..];
        let start = rest.find("[default: ")? + "[default: ".len();
        let end = start + rest[start..].find(']')?;
        Some(rest[start..end].to_owned())
    }

    #[test]
    fn help_prints_the_defaults_a_plugin_without_a_sidecar_gets() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        let d = PluginDefaults::default();
        let expected = [
            (
                "--plugin-timeout-ms",
                d.limits.timeout.as_millis().to_string(),
            ),
            (
                "--plugin-memory-mb",
                (d.limits.max_memory >> 20).to_string(),
            ),
            (
                "--plugin-stdout-kb",
                (d.limits.max_stdout >> 10).to_string(),
            ),
            ("--max-body", d.max_body.to_string()),
            ("--plugin-concurrency", d.max_concurrency.to_string()),
            ("--plugin-queue", d.max_queue.to_string()),
        ];
        for (flag, want) in &expected {
            assert_eq!(default_in_help(&help, flag).as_ref(), Some(want), "{flag}");
        }
        let cap = default_in_help(&help, "--max-connections").unwrap_or_default();
        assert!(
            cap.ends_with(&format!(
                "less a reserve of up to {}",
                ConnectionCap::FD_RESERVE
            )),
            "--max-connections default: {cap}"
        );
        // And a command line without plugin flags gives exactly those.
        let cli = Cli::try_parse_from(["wasibin"]).unwrap();
        assert_eq!(cli.serve.plugin.defaults(), d);
    }

    #[test]
    fn help_and_readme_state_the_default_poll_period() {
        use clap::CommandFactory;
        let every = format!("every {} s", DEFAULT_POLL.as_secs());
        let help = Cli::command().render_long_help().to_string();
        let folded = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(folded.contains(&every), "{help}");
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let line = readme
            .lines()
            .find(|l| l.trim_start().starts_with("--watch"))
            .expect("README.md's command line lists --watch");
        assert!(line.contains(&every), "README says {line:?}, not {every:?}");
        let cli = Cli::try_parse_from(["wasibin", "--watch", "poll=0.5"]).unwrap();
        assert_eq!(cli.serve.watch, WatchMode::Poll(Duration::from_millis(500)));
        assert!(Cli::try_parse_from(["wasibin", "--watch", "poll=x"]).is_err());
    }

    #[test]
    fn the_readme_states_the_same_defaults() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let d = PluginDefaults::default();
        let row = |flag: &str| {
            readme
                .lines()
                .find(|l| l.starts_with('|') && l.contains(&format!("`{flag}`")))
                .unwrap_or_else(|| panic!("README.md has no limits row for {flag}"))
                .to_owned()
        };
        let expected = [
            (
                "--plugin-timeout-ms",
                format!("{} s", d.limits.timeout.as_secs()),
            ),
            (
                "--plugin-memory-mb",
                format!("{} MiB", d.limits.max_memory >> 20),
            ),
            (
                "--plugin-memory-max-mb",
                format!("{} GiB", EngineConfig::MAX_MEMORY_MB >> 10),
            ),
            (
                "--plugin-stdout-kb",
                format!("{} MiB", d.limits.max_stdout >> 20),
            ),
            ("--max-body", format!("{} MiB", d.max_body >> 20)),
            (
                "--plugin-concurrency",
                format!("{}, then {} queued", d.max_concurrency, d.max_queue),
            ),
            ("--max-instances", EngineConfig::MAX_INSTANCES.to_string()),
            (
                "--max-connections",
                format!("less up to {}", ConnectionCap::FD_RESERVE),
            ),
        ];
        for (flag, want) in &expected {
            let row = row(flag);
            assert!(
                row.contains(want.as_str()),
                "README row for {flag} should say {want:?}: {row}"
            );
        }
    }
}
