//! What one plugin instance costs, without sockets or HTTP: instantiate a
//! handler, run it on a typical request (a CGI environment for a p1 module
//! or a `wasi:cli` command, an `http::Request` for a `wasi:http` handler),
//! read its whole answer, drop the store; many times, on one thread. `bench/instances.sh` runs it
//! for the example plugins and a minimal module (the engine's floor), in
//! wall time and, under callgrind, in instructions, which the noise of a
//! shared machine cannot move.
//!
//! `cargo run --release -p wasibin --example instance_cost -- FILE.wasm|FILE.wat [N [SCRIPT [plain]]]`
//! (`INSTANCE_COST_SLOTS` sizes the pool; callgrind needs a small one).
//! With SCRIPT, FILE is an interpreter and each instance runs the script as
//! the server does: pre-initialised with it (a snapshot), or with `plain`
//! the interpreter reading it per request; the script's folder is mapped
//! at `/wasibin/script` either way.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use wasibin::runtime::{
    CompiledModule, EngineConfig, EnvBlock, GuestLimits, HandlerKind, HttpInvocation, Invocation,
    Preinit, Preopen, WasmEngine,
};

/// The allocator of the server binary, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The environment of `GET /hello` from curl, as the gateway builds it.
const ENV: &[(&str, &str)] = &[
    ("GATEWAY_INTERFACE", "CGI/1.1"),
    ("SERVER_SOFTWARE", "wasibin"),
    ("SERVER_PROTOCOL", "HTTP/1.1"),
    ("REQUEST_METHOD", "GET"),
    ("SCRIPT_NAME", "/hello"),
    ("PATH_INFO", ""),
    ("QUERY_STRING", ""),
    ("REMOTE_ADDR", "127.0.0.1"),
    ("REMOTE_PORT", "50312"),
    ("X_FULL_URL", "http://127.0.0.1:8000/hello"),
    ("X_MATCHED_ROUTE", "/hello/..."),
    ("X_RAW_PATH_INFO", ""),
    ("SERVER_NAME", "127.0.0.1"),
    ("SERVER_PORT", "8000"),
    ("HTTP_HOST", "127.0.0.1:8000"),
    ("HTTP_USER_AGENT", "curl/7.88.1"),
    ("HTTP_ACCEPT", "*/*"),
];

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: instance_cost FILE.wasm|FILE.wat [N [SCRIPT [plain]]]")?;
    let count: u32 = args.next().map_or(Ok(20_000), |n| n.parse())?;
    let script = args.next().map(std::path::PathBuf::from);
    let plain = args.next().is_some_and(|a| a == "plain");
    let slots = std::env::var("INSTANCE_COST_SLOTS").map_or(Ok(16), |n| n.parse())?;
    let runtime = WasmEngine::new(&EngineConfig {
        max_memory: 128 << 20,
        max_instances: slots,
        cache_dir: None,
    })?;
    let bytes = wat::parse_file(&path).with_context(|| format!("reading {path}"))?;
    let limits = GuestLimits {
        timeout: Duration::from_secs(10),
        max_memory: 128 << 20,
        max_stdout: 1 << 20,
    };
    let mut world = World {
        args: vec!["hello".to_owned()],
        preopens: Vec::new(),
    };
    let module = match &script {
        None => runtime.compile(&bytes)?,
        Some(script) => {
            let name = script
                .file_name()
                .and_then(|n| n.to_str())
                .context("the script's file name")?;
            world.args.push(format!("/wasibin/script/{name}"));
            world.preopens.push(Preopen {
                host: script.parent().context("the script's folder")?.to_owned(),
                guest: "/wasibin/script".to_owned(),
                writable: false,
            });
            if plain {
                runtime.compile(&bytes)?
            } else {
                let source = Bytes::from(std::fs::read(script)?);
                match runtime
                    .preinitialise(&bytes, source, &world.args, &limits)
                    .map_err(anyhow::Error::msg)?
                {
                    Preinit::Snapshot(snapshot) => runtime.compile(&snapshot)?,
                    Preinit::PerRequest(why) => anyhow::bail!("not pre-initialised: {why}"),
                }
            }
        }
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async {
        for round in 1..=3 {
            let start = Instant::now();
            for _ in 0..count {
                let answer = match module.kind() {
                    HandlerKind::HttpHandler => http_once(&runtime, &module, &limits).await?,
                    _ => cgi_once(&runtime, &module, &world, &limits).await?,
                };
                anyhow::ensure!(answer > 0, "the handler answered nothing");
            }
            let per_instance = start.elapsed() / count;
            println!(
                "round {round}: {:.2} us per instance",
                per_instance.as_secs_f64() * 1e6
            );
        }
        Ok(())
    })
}

/// What a CGI instance gets besides the request: argv and folders.
struct World {
    args: Vec<String>,
    preopens: Vec<Preopen>,
}

/// One CGI run; the bytes of stdout.
async fn cgi_once(
    runtime: &WasmEngine,
    module: &CompiledModule,
    world: &World,
    limits: &GuestLimits,
) -> anyhow::Result<usize> {
    let invocation = Invocation {
        args: world.args.clone(),
        preopens: world.preopens.clone(),
        env: EnvBlock::from_pairs(ENV),
        log_tag: "instance_cost".to_owned(),
        ..Invocation::default()
    };
    Ok(runtime.run(module, invocation, limits).await?.stdout.len())
}

/// One `GET /hello-http` through a wasi:http handler; the bytes of its body.
async fn http_once(
    runtime: &WasmEngine,
    module: &CompiledModule,
    limits: &GuestLimits,
) -> anyhow::Result<usize> {
    let body =
        Empty::<Bytes>::new().map_err(|never| -> wasmtime_wasi_http::Error { match never {} });
    let request = http::Request::get("http://127.0.0.1:8000/hello-http")
        .header("user-agent", "curl/7.88.1")
        .header("accept", "*/*")
        .body(body)?;
    let invocation = HttpInvocation {
        request,
        https: false,
        allowed_outbound: Vec::new().into(),
        log_tag: "instance_cost".to_owned(),
    };
    let run = runtime.start_http(module, invocation, limits)?;
    let mut body = run.response().await?.into_body();
    let mut len = 0;
    while let Some(frame) = body.frame().await {
        len += frame?.into_data().map_or(0, |d| d.len());
    }
    Ok(len)
}
