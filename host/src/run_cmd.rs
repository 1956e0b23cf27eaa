//! `wasibin run plugins/x.wasm`: one request through the exact contract the
//! server uses (the same CGI variables, gateway, limits and sidecar), with no
//! server and no socket, printing the HTTP response. For plugin authors
//! trying a handler, and for tests.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use clap::Args;

use crate::gateway::{redirected_request, Gateway, Outcome};
use crate::http::grammar::{is_field_value, is_token};
use crate::http::{reason_phrase, Headers, Request, Response, Version};
use crate::plugins::{
    is_safe_segment, load_config, short_hash, Gate, Lookup, Plugin, PluginDefaults, RouteTable,
};
use crate::runtime::{EngineConfig, WasmEngine};

/// What `wasibin run` sends to the plugin.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The plugin: a `.wasm` file (its `NAME.toml` sidecar next to it applies).
    pub plugin: PathBuf,

    /// Request method.
    #[arg(short = 'X', long, default_value = "GET")]
    pub method: String,

    /// Request path and query, under the plugin's mount `/NAME`
    /// (default: the mount itself).
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,

    /// A request header, `Name: value`; repeat for more.
    #[arg(short = 'H', long = "header", value_name = "NAME:VALUE")]
    pub headers: Vec<String>,

    /// The request body: text, or `@FILE` to read it from a file.
    #[arg(short = 'd', long, value_name = "TEXT|@FILE")]
    pub data: Option<String>,
}

/// How many local redirects within the plugin `run` follows, as the server does.
const MAX_LOCAL_REDIRECTS: usize = 10;

/// Run one request and print the response on stdout. Returns the process exit
/// code: 0 when the plugin answered below 500, 1 otherwise. Failure details
/// are shown in the page (as with `--dev`) and logged.
pub async fn run(
    args: RunArgs,
    runtime: EngineConfig,
    defaults: PluginDefaults,
) -> anyhow::Result<i32> {
    let runtime = Arc::new(WasmEngine::new(&runtime)?);
    let plugin = load_plugin(&args.plugin, &runtime, &defaults)?;
    let route = plugin.route.clone();
    let max_body = plugin.config.max_body;
    let table = RouteTable::new(vec![Arc::new(plugin)]);

    let body = match &args.data {
        None => Bytes::new(),
        Some(data) => match data.strip_prefix('@') {
            Some(file) => Bytes::from(
                std::fs::read(file).with_context(|| format!("cannot read --data file {file}"))?,
            ),
            None => Bytes::from(data.clone().into_bytes()),
        },
    };
    let target = args.path.clone().unwrap_or_else(|| route.clone());
    let mut req = request(&args, &target, args.data.is_some().then_some(body.len()))?;

    let gateway = Gateway::new(Arc::clone(&runtime), true);
    let response = if body.len() as u64 > max_body {
        Response::error_page(413)
    } else {
        let mut body = body;
        let mut hops = 0;
        loop {
            let m = match table.lookup(&req.path) {
                Lookup::Plugin(m) => m,
                Lookup::BadPath => break Response::error_page(400),
                Lookup::NotPlugin if hops == 0 => {
                    bail!("--path {target} is not under the plugin's mount {route}")
                }
                Lookup::NotPlugin => {
                    eprintln!(
                        "wasibin run: local redirect to {} leaves the plugin; the server would serve it",
                        req.target
                    );
                    return Ok(0);
                }
            };
            match gateway.handle(&req, &m, std::mem::take(&mut body)).await {
                Outcome::Respond(response) => break response,
                Outcome::LocalRedirect { path, query } if hops < MAX_LOCAL_REDIRECTS => {
                    hops += 1;
                    req = redirected_request(&req, path, query);
                }
                Outcome::LocalRedirect { .. } => {
                    eprintln!("wasibin run: more than {MAX_LOCAL_REDIRECTS} local redirects");
                    break Response::error_page(502);
                }
            }
        }
    };
    print_response(&response, req.is_head()).context("cannot write the response")?;
    Ok(if response.status < 500 { 0 } else { 1 })
}

/// The plugin as the server would mount it: compiled, its sidecar applied,
/// mounted at `/NAME`.
fn load_plugin(
    file: &Path,
    runtime: &WasmEngine,
    defaults: &PluginDefaults,
) -> anyhow::Result<Plugin> {
    let name = file
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| is_safe_segment(s))
        .with_context(|| {
            format!(
                "{}: a plugin's file name must be letters, digits, '-', '_', '.' or '~' before .wasm",
                file.display()
            )
        })?
        .to_owned();
    let wasm = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let module = runtime
        .compile(&wasm)
        .with_context(|| format!("cannot load {}", file.display()))?;
    let sidecar_file = file.with_extension("toml");
    let sidecar = sidecar_file.is_file().then_some(sidecar_file.as_path());
    let config =
        load_config(sidecar, defaults, runtime.max_memory()).map_err(anyhow::Error::msg)?;
    let gate = Gate::new(config.max_concurrency, config.max_queue);
    let hash = short_hash(&wasm);
    Ok(Plugin {
        route: format!("/{name}"),
        name,
        file: file.to_owned(),
        hash,
        module,
        config,
        gate,
    })
}

/// The request the connection loop would have parsed, from a local client.
fn request(args: &RunArgs, target: &str, body_len: Option<usize>) -> anyhow::Result<Request> {
    if !target.starts_with('/') {
        bail!("--path must start with '/', not {target:?}");
    }
    if !is_token(args.method.as_bytes()) {
        bail!("--method {:?} is not an HTTP method token", args.method);
    }
    let mut headers = Headers::new();
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .with_context(|| format!("--header {h:?} is not NAME:VALUE"))?;
        let value = value.trim_matches([' ', '\t']);
        if !is_token(name.as_bytes()) {
            bail!("--header {h:?}: {name:?} is not a header name");
        }
        if !is_field_value(value.as_bytes()) {
            bail!("--header {h:?}: control characters are not allowed in a value");
        }
        headers.push(name, value);
    }
    if !headers.contains("host") {
        headers.push("Host", "localhost");
    }
    if let Some(len) = body_len {
        if !headers.contains("content-length") && !headers.contains("transfer-encoding") {
            headers.push("Content-Length", len.to_string());
        }
    }
    let (path, query) = split_target(target);
    let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    Ok(Request {
        method: args.method.clone(),
        target: target.to_owned(),
        path,
        query,
        version: Version::Http11,
        headers,
        peer: local,
        local,
        id: 1,
    })
}

fn split_target(target: &str) -> (String, Option<String>) {
    let target = target.split('#').next().unwrap_or_default();
    match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.to_owned(), None),
    }
}

/// Status line, headers, `Content-Length`, blank line and body, as the
/// server would frame them (minus `Date` and `Server`, which would make the
/// output differ run to run). Lines end in LF, for reading in a terminal.
fn print_response(response: &Response, head: bool) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(256);
    let reason = response
        .reason
        .as_deref()
        .unwrap_or_else(|| reason_phrase(response.status));
    writeln!(out, "HTTP/1.1 {} {reason}", response.status)?;
    for (name, value) in response.headers.iter() {
        write!(out, "{name}: ")?;
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    if !matches!(response.status, 204 | 304) {
        writeln!(out, "Content-Length: {}", response.body.len())?;
    }
    out.push(b'\n');
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out)?;
    if !head {
        if let crate::http::Body::Bytes(bytes) = &response.body {
            stdout.write_all(bytes)?;
        }
    }
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(method: &str, headers: &[&str]) -> RunArgs {
        RunArgs {
            plugin: PathBuf::from("plugins/x.wasm"),
            method: method.to_owned(),
            path: None,
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            data: None,
        }
    }

    #[test]
    fn builds_the_request_a_client_would_send() {
        let req = request(
            &args("POST", &["X-A: 1", "Host: example.com"]),
            "/x/a?b=c",
            Some(3),
        )
        .unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/x/a");
        assert_eq!(req.query.as_deref(), Some("b=c"));
        assert_eq!(req.headers.get_str("x-a"), Some("1"));
        assert_eq!(req.headers.get_str("host"), Some("example.com"));
        assert_eq!(req.headers.get_str("content-length"), Some("3"));
        assert_eq!(req.peer.to_string(), "127.0.0.1:0");
        let req = request(&args("GET", &[]), "/x", None).unwrap();
        assert_eq!(req.headers.get_str("host"), Some("localhost"));
        assert!(!req.headers.contains("content-length"));
    }

    #[test]
    fn refuses_malformed_input() {
        assert!(request(&args("GET", &["nocolon"]), "/x", None).is_err());
        assert!(request(&args("GET", &["Bad Name: v"]), "/x", None).is_err());
        assert!(request(&args("GET", &["X: a\rb"]), "/x", None).is_err());
        assert!(request(&args("G T", &[]), "/x", None).is_err());
        assert!(request(&args("GET", &[]), "x", None).is_err());
    }

    #[test]
    fn redirect_becomes_get_without_body_headers() {
        let req = request(&args("POST", &["Content-Type: a/b"]), "/x", Some(3)).unwrap();
        let next = redirected_request(&req, "/x/y".into(), Some("q".into()));
        assert_eq!(next.method, "GET");
        assert_eq!(next.target, "/x/y?q");
        assert!(!next.headers.contains("content-length"));
        assert!(!next.headers.contains("content-type"));
        assert!(next.headers.contains("host"));
    }
}
