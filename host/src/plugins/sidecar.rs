//! Per-plugin configuration: the optional sidecar `NAME.toml` next to
//! `NAME.wasm`. Every key is optional; a missing key takes the server's
//! default (the command line's). Units are in the key names:
//!
//! ```toml
//! timeout_ms = 2000          # wall-clock limit per request (504 past it)
//! memory_mb = 32             # linear memory cap per instance, MiB (502)
//! max_stdout_kb = 1024       # response size the guest may print, KiB (502)
//! max_body_kb = 256          # request body accepted, KiB (413)
//! max_concurrency = 8        # instances running at once
//! max_queue = 32             # requests waiting beyond those (503 past it)
//! pass_authorization = false # export the Authorization header as HTTP_AUTHORIZATION
//! allowed_outbound_hosts = ["http://127.0.0.1:9000"] # origins a component may call
//! args = ["--verbose"]       # argv after the name (after the path, for a script)
//!
//! [env]                      # extra environment variables
//! GREETING = "hello"
//!
//! [[dirs]]                   # host folders mapped into the guest
//! host = "data"              # relative to this file's folder
//! guest = "/data"
//! writable = false           # read-only unless true
//! ```
//!
//! Unknown keys and bad values are errors naming the file, line and key.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::runtime::{GuestLimits, Origin, Preopen};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;
/// Longest time limit a sidecar may set.
pub(crate) const MAX_TIMEOUT_MS: u64 = 3_600_000;
/// Largest stdout or body limit a sidecar may set (both are buffered).
pub(crate) const MAX_BUFFER_KB: u64 = 1024 * 1024;
/// Most instances of one plugin a sidecar may let run at once.
pub(crate) const MAX_CONCURRENCY: u64 = 10_000;
/// Longest queue a sidecar may set.
pub(crate) const MAX_QUEUE: u64 = 100_000;
/// Most folders one plugin may map.
pub(crate) const MAX_DIRS: usize = 32;
/// Most outbound origins one plugin may list.
pub(crate) const MAX_OUTBOUND_HOSTS: usize = 64;
/// Most extra arguments one plugin may set.
pub(crate) const MAX_ARGS: usize = 256;

/// What the command line gives every plugin whose sidecar is silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginDefaults {
    /// Time, memory and stdout limits.
    pub(crate) limits: GuestLimits,
    /// Largest request body, bytes (413 past it).
    pub(crate) max_body: u64,
    /// Instances of one plugin running at once.
    pub(crate) max_concurrency: usize,
    /// Requests waiting beyond `max_concurrency` (503 past it).
    pub(crate) max_queue: usize,
}

impl PluginDefaults {
    /// Wall-clock milliseconds per request: generous for a handler, tight
    /// for a runaway.
    pub(crate) const TIMEOUT_MS: u64 = 10_000;
    /// Linear memory per instance, MiB.
    pub(crate) const MEMORY_MB: u64 = 64;
    /// Response a guest may print, KiB.
    pub(crate) const STDOUT_KB: u64 = 16 * 1024;
    /// Request body accepted, bytes (nginx's `client_max_body_size` is 1 MiB;
    /// handlers that take uploads want more).
    pub(crate) const MAX_BODY: u64 = 10 * 1024 * 1024;
    /// Instances of one plugin running at once.
    pub(crate) const CONCURRENCY: usize = 64;
    /// Requests waiting beyond those.
    pub(crate) const QUEUE: usize = 256;
}

impl Default for PluginDefaults {
    /// The command line's defaults: every plugin flag's default value is one
    /// of the constants above.
    fn default() -> Self {
        Self {
            limits: GuestLimits {
                timeout: Duration::from_millis(Self::TIMEOUT_MS),
                max_memory: mib(Self::MEMORY_MB),
                max_stdout: kib(Self::STDOUT_KB),
            },
            max_body: Self::MAX_BODY,
            max_concurrency: Self::CONCURRENCY,
            max_queue: Self::QUEUE,
        }
    }
}

/// `n` MiB in bytes, saturating.
pub(crate) fn mib(n: u64) -> usize {
    to_usize(n.saturating_mul(MIB))
}

/// `n` KiB in bytes, saturating.
pub(crate) fn kib(n: u64) -> usize {
    to_usize(n.saturating_mul(KIB))
}

/// One plugin's effective configuration: its sidecar over the defaults.
#[derive(Debug, Clone)]
pub(crate) struct PluginConfig {
    /// Extra environment variables for the guest.
    pub(crate) env: Vec<(String, String)>,
    /// argv after the plugin's name (and a script's path).
    pub(crate) args: Vec<String>,
    /// Host folders mapped into the guest.
    pub(crate) preopens: Vec<Preopen>,
    /// Time, memory and stdout limits.
    pub(crate) limits: GuestLimits,
    /// Largest request body, bytes.
    pub(crate) max_body: u64,
    /// Instances running at once.
    pub(crate) max_concurrency: usize,
    /// Requests waiting beyond that.
    pub(crate) max_queue: usize,
    /// Whether `Authorization` reaches the guest as `HTTP_AUTHORIZATION`.
    pub(crate) pass_authorization: bool,
    /// Origins a component may send wasi:http requests to; none by default.
    pub(crate) allowed_outbound: Arc<[Origin]>,
}

impl PluginConfig {
    /// The configuration of a plugin without a sidecar.
    pub(crate) fn from_defaults(d: &PluginDefaults) -> Self {
        Self {
            env: Vec::new(),
            args: Vec::new(),
            preopens: Vec::new(),
            limits: d.limits.clone(),
            max_body: d.max_body,
            max_concurrency: d.max_concurrency,
            max_queue: d.max_queue,
            pass_authorization: false,
            allowed_outbound: Arc::default(),
        }
    }
}

/// A sidecar that cannot be applied, located for the person fixing it.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {key}: {message}", file.display())]
pub(crate) struct SidecarError {
    /// The sidecar file.
    pub(crate) file: PathBuf,
    /// 1-based line of the offending key or value.
    pub(crate) line: usize,
    /// The key at fault (`dirs.host` for a key inside a table).
    pub(crate) key: String,
    /// What is wrong.
    pub(crate) message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sidecar {
    timeout_ms: Option<Spanned<u64>>,
    memory_mb: Option<Spanned<u64>>,
    max_stdout_kb: Option<Spanned<u64>>,
    max_body_kb: Option<Spanned<u64>>,
    max_concurrency: Option<Spanned<u64>>,
    max_queue: Option<Spanned<u64>>,
    pass_authorization: Option<bool>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<Spanned<String>>,
    #[serde(default)]
    args: Vec<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    dirs: Vec<Spanned<Dir>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Dir {
    host: Spanned<String>,
    guest: Spanned<String>,
    #[serde(default)]
    writable: bool,
}

/// Reads a sidecar's text into a configuration over `defaults`.
/// `file` names the sidecar in errors and anchors relative `dirs.host`
/// paths; `memory_ceiling` is the engine's per-instance maximum.
pub(crate) fn parse(
    text: &str,
    file: &Path,
    defaults: &PluginDefaults,
    memory_ceiling: usize,
) -> Result<PluginConfig, SidecarError> {
    let err = |span: Range<usize>, key: &str, message: String| SidecarError {
        file: file.to_owned(),
        line: line_of(text, span.start),
        key: key.to_owned(),
        message,
    };
    let sidecar: Sidecar = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let key = key_at(text, span.start);
        err(span, &key, e.message().trim().to_owned())
    })?;

    let mut cfg = PluginConfig::from_defaults(defaults);
    let ranged = |v: &Spanned<u64>, key: &str, min: u64, max: u64| {
        let n = *v.get_ref();
        if (min..=max).contains(&n) {
            Ok(n)
        } else {
            Err(err(
                v.span(),
                key,
                format!("must be between {min} and {max}, not {n}"),
            ))
        }
    };
    if let Some(v) = &sidecar.timeout_ms {
        cfg.limits.timeout = Duration::from_millis(ranged(v, "timeout_ms", 1, MAX_TIMEOUT_MS)?);
    }
    if let Some(v) = &sidecar.memory_mb {
        let ceiling = (memory_ceiling as u64 / MIB).max(1);
        cfg.limits.max_memory = to_usize(ranged(v, "memory_mb", 1, ceiling)? * MIB);
    }
    if let Some(v) = &sidecar.max_stdout_kb {
        cfg.limits.max_stdout = to_usize(ranged(v, "max_stdout_kb", 1, MAX_BUFFER_KB)? * KIB);
    }
    if let Some(v) = &sidecar.max_body_kb {
        cfg.max_body = ranged(v, "max_body_kb", 0, MAX_BUFFER_KB)? * KIB;
    }
    if let Some(v) = &sidecar.max_concurrency {
        cfg.max_concurrency = to_usize(ranged(v, "max_concurrency", 1, MAX_CONCURRENCY)?);
    }
    if let Some(v) = &sidecar.max_queue {
        cfg.max_queue = to_usize(ranged(v, "max_queue", 0, MAX_QUEUE)?);
    }
    if let Some(v) = sidecar.pass_authorization {
        cfg.pass_authorization = v;
    }
    if sidecar.allowed_outbound_hosts.len() > MAX_OUTBOUND_HOSTS {
        let span = sidecar.allowed_outbound_hosts[MAX_OUTBOUND_HOSTS].span();
        return Err(err(
            span,
            "allowed_outbound_hosts",
            format!("at most {MAX_OUTBOUND_HOSTS} origins"),
        ));
    }
    cfg.allowed_outbound = sidecar
        .allowed_outbound_hosts
        .iter()
        .map(|host| {
            Origin::parse(host.get_ref())
                .map_err(|message| err(host.span(), "allowed_outbound_hosts", message))
        })
        .collect::<Result<Vec<_>, _>>()?
        .into();
    if sidecar.args.len() > MAX_ARGS {
        let span = sidecar.args[MAX_ARGS].span();
        return Err(err(span, "args", format!("at most {MAX_ARGS} arguments")));
    }
    for arg in &sidecar.args {
        if arg.get_ref().contains('\0') {
            return Err(err(arg.span(), "args", "contains NUL".to_owned()));
        }
        cfg.args.push(arg.get_ref().clone());
    }
    for (name, value) in &sidecar.env {
        let n = name.get_ref();
        if n.is_empty() || n.contains(['=', '\0']) {
            return Err(err(
                name.span(),
                "env",
                format!("{n:?} is not a valid variable name (empty, or contains = or NUL)"),
            ));
        }
        if value.get_ref().contains('\0') {
            return Err(err(
                value.span(),
                &format!("env.{n}"),
                "contains NUL".to_owned(),
            ));
        }
        cfg.env.push((n.clone(), value.get_ref().clone()));
    }
    if sidecar.dirs.len() > MAX_DIRS {
        let span = sidecar.dirs[MAX_DIRS].span();
        return Err(err(span, "dirs", format!("at most {MAX_DIRS} folders")));
    }
    let base = file.parent().unwrap_or(Path::new("."));
    for dir in &sidecar.dirs {
        let d = dir.get_ref();
        let host = base.join(d.host.get_ref());
        if !host.is_dir() {
            return Err(err(
                d.host.span(),
                "dirs.host",
                format!("{} is not a folder", host.display()),
            ));
        }
        let guest = d.guest.get_ref();
        if guest.is_empty() || guest.contains('\0') {
            return Err(err(
                d.guest.span(),
                "dirs.guest",
                "must be a non-empty path without NUL".to_owned(),
            ));
        }
        cfg.preopens.push(Preopen {
            host,
            guest: guest.clone(),
            writable: d.writable,
        });
    }
    Ok(cfg)
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// 1-based line number of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    text.as_bytes()[..at]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The key named on the line holding byte `at`: the text before `=`, or a
/// `[table]` header's name.
fn key_at(text: &str, at: usize) -> String {
    let at = at.min(text.len());
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = text[start..end].trim();
    if let Some((key, _)) = line.split_once('=') {
        return key.trim().trim_matches('"').to_owned();
    }
    line.trim_matches(|c| c == '[' || c == ']')
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<PluginConfig, SidecarError> {
        parse(
            text,
            Path::new("plugins/x.toml"),
            &PluginDefaults::default(),
            256 << 20,
        )
    }

    #[test]
    fn empty_sidecar_is_the_defaults() {
        let cfg = parse_str("").unwrap();
        let d = PluginDefaults::default();
        assert_eq!(cfg.limits.timeout, d.limits.timeout);
        assert_eq!(cfg.max_queue, d.max_queue);
        assert!(!cfg.pass_authorization);
    }

    #[test]
    fn every_key_applies() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let text = r#"
timeout_ms = 1500
memory_mb = 16
max_stdout_kb = 64
max_body_kb = 0
max_concurrency = 2
max_queue = 0
pass_authorization = true
allowed_outbound_hosts = ["http://127.0.0.1:9000", "HTTPS://Api.Example/"]
args = ["-v", "two words"]

[env]
GREETING = "hi there"

[[dirs]]
host = "data"
guest = "/data"
writable = true
"#;
        let cfg = parse(
            text,
            &dir.path().join("x.toml"),
            &PluginDefaults::default(),
            256 << 20,
        )
        .unwrap();
        assert_eq!(cfg.limits.timeout, Duration::from_millis(1500));
        assert_eq!(cfg.limits.max_memory, 16 << 20);
        assert_eq!(cfg.limits.max_stdout, 64 << 10);
        assert_eq!(cfg.max_body, 0);
        assert_eq!(cfg.max_concurrency, 2);
        assert_eq!(cfg.max_queue, 0);
        assert!(cfg.pass_authorization);
        assert_eq!(
            &cfg.allowed_outbound[..],
            [
                Origin::parse("http://127.0.0.1:9000").unwrap(),
                Origin::parse("https://api.example:443").unwrap()
            ]
        );
        assert_eq!(cfg.env, [("GREETING".to_owned(), "hi there".to_owned())]);
        assert_eq!(cfg.args, ["-v", "two words"]);
        assert_eq!(
            cfg.preopens,
            [Preopen {
                host: dir.path().join("data"),
                guest: "/data".to_owned(),
                writable: true
            }]
        );
    }

    fn error(text: &str) -> SidecarError {
        parse_str(text).unwrap_err()
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = error("timeout_ms = 5\n\ntimeout = 3\n");
        assert_eq!((e.line, e.key.as_str()), (3, "timeout"));
        let shown = e.to_string();
        assert!(shown.starts_with("plugins/x.toml:3: timeout: "), "{shown}");
        assert!(shown.contains("unknown field"), "{shown}");
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let e = error("\nmemory_mb = \"lots\"\n");
        assert_eq!((e.line, e.key.as_str()), (2, "memory_mb"));
    }

    #[test]
    fn out_of_range_names_line_and_key() {
        let e = error("max_concurrency = 0\n");
        assert_eq!((e.line, e.key.as_str()), (1, "max_concurrency"));
        assert!(e.message.contains("between 1 and"), "{}", e.message);
        let e = error("\n\nmemory_mb = 100000\n");
        assert_eq!((e.line, e.key.as_str()), (3, "memory_mb"));
        let e = error("timeout_ms = -1\n");
        assert_eq!((e.line, e.key.as_str()), (1, "timeout_ms"));
    }

    #[test]
    fn unknown_key_inside_a_table_is_found() {
        let e = error("[[dirs]]\nhost = \".\"\nguest = \"/\"\nmode = \"rw\"\n");
        assert_eq!((e.line, e.key.as_str()), (4, "mode"));
    }

    #[test]
    fn missing_folder_is_refused() {
        let e = error("[[dirs]]\nhost = \"no-such-folder\"\nguest = \"/d\"\n");
        assert_eq!((e.line, e.key.as_str()), (2, "dirs.host"));
    }

    #[test]
    fn bad_env_is_refused() {
        let e = error("[env]\n\"A=B\" = \"x\"\n");
        assert_eq!((e.line, e.key.as_str()), (2, "env"));
        let e = error("[env]\nA = 3\n");
        assert_eq!(e.line, 2);
    }

    #[test]
    fn syntax_error_has_a_line() {
        let e = error("timeout_ms = 5\nthis is not toml\n");
        assert_eq!(e.line, 2);
    }
}
