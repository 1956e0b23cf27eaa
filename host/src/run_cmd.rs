//! `wasibin run plugins/x.wasm`: one request through the exact contract the
//! server uses (the same CGI variables, gateway, limits and sidecar), with no
//! server and no socket, printing the HTTP response. For plugin authors
//! trying a handler, and for tests.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use arc_swap::ArcSwap;
use bytes::Bytes;
use clap::Args;
use http_body_util::BodyExt as _;

use crate::dispatch::Dispatcher;
use crate::gateway::Gateway;
use crate::http::grammar::{is_field_value, is_token};
use crate::http::{
    reason_phrase, request_id, Body, Headers, Request, RequestBody, Response, Service, Version,
};
use crate::plugins::{Plugin, PluginDefaults, PluginFile, RouteTable, Routing};
use crate::runtime::{EngineConfig, WasmEngine};
use crate::telemetry::Telemetry;

/// What `wasibin run` sends to the plugin.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The plugin: a `.wasm` file (its `NAME.toml` sidecar next to it applies).
    pub(crate) plugin: PathBuf,

    /// Request method.
    #[arg(short = 'X', long, default_value = "GET")]
    pub(crate) method: String,

    /// Request path and query, under the plugin's mount `/NAME`
    /// (default: the mount itself).
    #[arg(long, value_name = "PATH")]
    pub(crate) path: Option<String>,

    /// A request header, `Name: value`; repeat for more.
    #[arg(short = 'H', long = "header", value_name = "NAME:VALUE")]
    pub(crate) headers: Vec<String>,

    /// The request body: text, or `@FILE` to read it from a file.
    #[arg(short = 'd', long, value_name = "TEXT|@FILE")]
    pub(crate) data: Option<String>,
}

/// Run one request and print the response on stdout. Returns the process exit
/// code: 0 when the plugin answered below 500, 1 otherwise. Failure details
/// are shown in the page (as with `--dev`) and logged.
///
/// The request goes through the server's own dispatcher (body limit, local
/// redirects), with the plugin as the only route and no static site: a
/// redirect out of the plugin answers 404.
pub async fn run(
    args: RunArgs,
    engine: EngineConfig,
    defaults: PluginDefaults,
) -> anyhow::Result<i32> {
    let engine = Arc::new(WasmEngine::new(&engine)?);
    let file = PluginFile::standalone(&args.plugin).map_err(anyhow::Error::msg)?;
    let (plugin, _) = Plugin::load(&file, &engine, &defaults, None)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("cannot load {}", args.plugin.display()))?;
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
    let target = args.path.clone().unwrap_or_else(|| file.route.clone());
    let req = request(&args, &target, args.data.is_some().then_some(body.len()))?;
    if let Routing::NotPlugin = table.lookup(&req.path) {
        bail!(
            "--path {target} is not under the plugin's mount {}",
            file.route
        );
    }

    let dispatcher = Dispatcher::new(
        Arc::new(ArcSwap::from_pointee(table)),
        Gateway::new(engine, true, Arc::new(Telemetry::default())),
        None,
    );
    let response = dispatcher
        .call(&req, &mut RequestBody::from_bytes(body))
        .await;
    let status = response.status;
    let whole = print_response(response, req.is_head())
        .await
        .context("cannot write the response")?;
    Ok(if status < 500 && whole { 0 } else { 1 })
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
    let mut id = String::new();
    request_id::assign(&mut id, &headers);
    Ok(Request {
        method: args.method.clone(),
        target: target.to_owned(),
        path,
        query,
        version: Version::Http11,
        headers,
        peer: local,
        local,
        secure: false,
        id,
    })
}

fn split_target(target: &str) -> (String, Option<String>) {
    let target = target.split('#').next().unwrap_or_default();
    match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.to_owned(), None),
    }
}

/// Status line, headers, framing, blank line and body, as the server would
/// frame them (minus `Date` and `Server`, which would make the output
/// differ run to run; a streamed body is shown de-chunked, as it comes).
/// Lines end in LF, for reading in a terminal. `Ok(false)` when a streamed
/// body was cut off.
async fn print_response(response: Response, head: bool) -> anyhow::Result<bool> {
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
        match response.body.len() {
            Some(len) => writeln!(out, "Content-Length: {len}")?,
            None => writeln!(out, "Transfer-Encoding: chunked")?,
        }
    }
    out.push(b'\n');
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush()?;
    if head {
        return Ok(true);
    }
    match response.body {
        Body::Bytes(bytes) => stdout.write_all(&bytes)?,
        Body::Stream(mut stream) => {
            while let Some(frame) = stream.frames.frame().await {
                match frame {
                    Ok(frame) => {
                        if let Ok(data) = frame.into_data() {
                            stdout.write_all(&data)?;
                            stdout.flush()?;
                        }
                    }
                    Err(e) => {
                        eprintln!("wasibin run: the response was cut off: {e}");
                        return Ok(false);
                    }
                }
            }
        }
        Body::Empty | Body::File(_) => {}
    }
    stdout.flush()?;
    Ok(true)
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
        let next = crate::dispatch::redirected_request(&req, "/x/y".into(), Some("q".into()));
        assert_eq!(next.method, "GET");
        assert_eq!(next.target, "/x/y?q");
        assert!(!next.headers.contains("content-length"));
        assert!(!next.headers.contains("content-type"));
        assert!(next.headers.contains("host"));
    }
}
