//! The gateway: one request through one plugin. It owns the policy between
//! the request and the runtime: the concurrency gate, the invocation, and
//! which failure answers which status. The adapter differs by kind: CGI
//! both ways (the pure functions of [`crate::cgi`]) for p1 modules and
//! `wasi:cli` commands, here; request and response resources for
//! `wasi:http` handlers, in [`wasi_http`]. The detail of a failure goes to the log, tagged with the route and
//! the request id; the client sees a short generic page (the detail too, but
//! HTML-escaped, only with `--dev`).

use std::fmt::Write as _;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;

use crate::cgi::{self, EnvPolicy, Mount, Reply};
use http_body_util::BodyExt as _;

use crate::http::{body_channel, Body, BodyError, BodySink, Request, RequestBody, Response};
use crate::plugins::{GatePermit, Plugin, RouteMatch};
use crate::runtime::{CgiRun, Invocation, RunError, Stdin, StdinError, WasmEngine};
use crate::telemetry::{Failure, RouteLabel, Telemetry};

mod cgi_stream;
mod wasi_http;

/// What the dispatcher does with a plugin's answer.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Send this response.
    Respond(Response),
    /// Serve this path instead, as a GET without a body (RFC 3875 §6.2.2);
    /// the dispatcher bounds how many times it follows one.
    LocalRedirect {
        /// An absolute path, still percent-encoded.
        path: String,
        /// The query string, if any.
        query: Option<String>,
    },
}

/// Runs requests through plugins; one per server, shared by all connections.
#[derive(Debug)]
pub(crate) struct Gateway {
    engine: Arc<WasmEngine>,
    dev: bool,
    telemetry: Arc<Telemetry>,
}

impl Gateway {
    /// `dev` puts failure details into error pages (never in production: a
    /// guest's error text may reveal its configuration).
    /// Failures are counted and listed in `telemetry`.
    pub(crate) fn new(engine: Arc<WasmEngine>, dev: bool, telemetry: Arc<Telemetry>) -> Gateway {
        Gateway {
            engine,
            dev,
            telemetry,
        }
    }

    /// Run `m`'s plugin for `req` with `body` on stdin: a body of up to
    /// [`WHOLE_BODY_MAX`] bytes is read before the guest starts; a larger
    /// one is fed while it arrives (a chunked one without `CONTENT_LENGTH`,
    /// which nobody knows yet). Either is bounded by the plugin's
    /// `max_body`.
    pub(crate) async fn handle(
        &self,
        req: &Request,
        m: &RouteMatch,
        body: &mut RequestBody<'_>,
    ) -> Outcome {
        let plugin = &m.plugin;
        let limit = plugin.config.max_body;
        let declared = body.declared_len();
        if declared.is_some_and(|len| len > limit) {
            return Outcome::Respond(refused_body(plugin, req, &BodyError::TooLarge { limit }));
        }
        let streamed = |limit, declared| {
            let (sink, stream) = body_channel(limit, declared);
            let stream = stream.map_err(|e| Box::new(e) as StdinError);
            (Stdin::Streamed(Box::pin(stream)), sink)
        };
        let (stdin, body_len, mut sink) = match declared {
            Some(len) if len > WHOLE_BODY_MAX => {
                let (stdin, sink) = streamed(limit, Some(len));
                (stdin, Some(len), Some(sink))
            }
            Some(_) => match body.read_to_end(limit).await {
                Ok(bytes) => {
                    let len = bytes.len() as u64;
                    (Stdin::Bytes(bytes), Some(len), None)
                }
                Err(err) => return Outcome::Respond(refused_body(plugin, req, &err)),
            },
            // Chunked: a small body is read whole, to be given with its
            // length as CGI expects; a larger one streams from what was
            // read, without one.
            None => match body.read_prefix(WHOLE_BODY_MAX, limit).await {
                Ok((bytes, true)) => {
                    let len = bytes.len() as u64;
                    (Stdin::Bytes(bytes), Some(len), None)
                }
                Ok((prefix, false)) => {
                    let (stdin, sink) = streamed(limit, None);
                    sink.send(prefix).await;
                    (stdin, None, Some(sink))
                }
                Err(err) => return Outcome::Respond(refused_body(plugin, req, &err)),
            },
        };
        let Ok(permit) = plugin.gate.acquire().await else {
            return Outcome::Respond(self.queue_full(plugin, req));
        };
        let mount = Mount {
            script_name: &m.script_name,
            path_info: &m.path_info,
            raw_path_info: &m.raw_path_info,
        };
        let policy = EnvPolicy {
            pass_authorization: plugin.config.pass_authorization,
            sidecar: &plugin.config.env,
        };
        let invocation = Invocation {
            args: cgi::argv(&plugin.argv, req.query.as_deref()),
            env: cgi::meta_variables(req, mount, body_len, policy),
            stdin,
            preopens: plugin.config.preopens.clone(),
            log_tag: log_tag(&plugin.route, &req.id),
            allowed_outbound: plugin.config.allowed_outbound.clone(),
        };
        let mut run = match self
            .engine
            .start_cgi(&plugin.module, invocation, &plugin.config.limits)
        {
            Ok(run) => run,
            Err(err) => return Outcome::Respond(self.run_failed(plugin, req, &err)),
        };
        // The guest runs inside this task's polls (`run.guest.done()`), so
        // the other branches are looked at only when it has ended or paused
        // (waiting for room in the pipe, in a host call, or at an epoch
        // tick). Ended: the answer goes out whole, with its length. Waiting
        // with a complete head: the answer streams, and the body's polls
        // drive the guest from then on.
        let mut seen = 0;
        loop {
            tokio::select! {
                biased;
                () = run.guest.done() => break,
                pumped = pump(body, sink.as_ref()) => match pumped {
                    Ok(true) => {}
                    Ok(false) => sink = None,
                    Err(err) => return Outcome::Respond(refused_body(plugin, req, &err)),
                },
                waiting = run.stdout.grown(seen) => {
                    seen = waiting;
                    // An epoch tick pauses a guest too: give it its turn
                    // back once, so that only a guest that waits (for room
                    // in the pipe, a clock, input) is answered while it runs.
                    tokio::task::yield_now().await;
                    let done = std::future::poll_fn(|cx| Poll::Ready(run.guest.poll_done(cx).is_ready())).await;
                    if done {
                        continue;
                    }
                    match self.early_answer(plugin, req, &mut run) {
                        None => {}
                        Some(Early::Done(outcome)) => return outcome,
                        Some(Early::Stream(reply, first)) => {
                            let tag = self.tag(plugin, req);
                            return Outcome::streamed(reply, first, run, permit, sink, tag);
                        }
                    }
                }
            }
        }
        drop(permit);
        let exit_code = match run.guest.take_status() {
            Some(Ok(code)) => code,
            Some(Err(err)) => return Outcome::Respond(self.run_failed(plugin, req, &err)),
            None => {
                let err = RunError::Host("the guest's status is gone".to_owned());
                return Outcome::Respond(self.run_failed(plugin, req, &err));
            }
        };
        let stdout = run.stdout.take();
        match cgi::output::parse(&stdout) {
            Ok((reply, body_start)) => {
                if exit_code != 0 {
                    tracing::warn!(
                        route = %plugin.route,
                        request_id = %req.id,
                        exit_code,
                        "plugin exited with a non-zero status after a complete response; serving it"
                    );
                }
                Outcome::from_reply(reply, stdout.slice(body_start..))
            }
            Err(err) => {
                let detail = if exit_code == 0 {
                    format!("malformed CGI response: {err}")
                } else {
                    format!("exited with status {exit_code} without a complete response ({err})")
                };
                Outcome::Respond(self.failure(plugin, req, Failure::BadResponse, &detail))
            }
        }
    }

    /// What a paused guest's output so far allows: nothing yet (`None`),
    /// a failure, a local redirect, or the head of a streamed answer.
    fn early_answer(&self, plugin: &Plugin, req: &Request, run: &mut CgiRun) -> Option<Early> {
        let start = run.stdout.peek();
        let parsed = cgi::output::parse_head(&start).and_then(|head| match head {
            Some((reply, body_start)) => {
                let has_body = start.len() > body_start;
                cgi::output::check_typed(&reply, has_body)
                    .map(|()| Some((reply, body_start, has_body)))
            }
            None => Ok(None),
        });
        match parsed {
            Err(err) => Some(Early::Done(Outcome::Respond(self.failure(
                plugin,
                req,
                Failure::BadResponse,
                &format!("malformed CGI response: {err}"),
            )))),
            Ok(None) => None,
            Ok(Some((Reply::LocalRedirect { path, query }, _, _))) => {
                Some(Early::Done(Outcome::LocalRedirect { path, query }))
            }
            // A head without a type may still turn out to have no body:
            // wait for the guest to end or to write one.
            Ok(Some((Reply::Document { typed: false, .. }, _, false))) => None,
            Ok(Some((reply, body_start, _))) => {
                let mut output = run.stdout.take();
                let first = output.split_off(body_start);
                Some(Early::Stream(reply, first))
            }
        }
    }

    /// The answer to a run that failed: 503 when the server is saturated,
    /// 504 past the time limit, 502 for anything the guest did.
    fn run_failed(&self, plugin: &Plugin, req: &Request, err: &RunError) -> Response {
        self.failure(plugin, req, failure_of(err), &err.to_string())
    }

    /// 503 for a plugin whose instances are all running and whose queue is full.
    fn queue_full(&self, plugin: &Plugin, req: &Request) -> Response {
        self.failure(
            plugin,
            req,
            Failure::Overloaded,
            "plugin busy: its queue is full",
        )
    }

    /// Names `req` in what is logged and counted after its answer started.
    fn tag(&self, plugin: &Plugin, req: &Request) -> FailureTag {
        FailureTag {
            route: Arc::clone(&plugin.route),
            request_id: req.id.clone(),
            telemetry: Arc::clone(&self.telemetry),
        }
    }

    /// Log, count and list why `plugin` failed `req`, and build the page
    /// the client gets: 503 (with `Retry-After`) when it was turned away,
    /// 504 past its time limit, 502 for the rest.
    fn failure(&self, plugin: &Plugin, req: &Request, reason: Failure, detail: &str) -> Response {
        let status = status_of(reason);
        self.tag(plugin, req).record(status, reason, detail);
        if status == 503 {
            return busy();
        }
        let mut response = Response::error_page(status);
        if self.dev {
            let mut page = String::with_capacity(256 + detail.len());
            let _ = write!(
                page,
                "<!DOCTYPE html>\n<html><head><title>{status}</title></head>\n\
                 <body><h1>{status} {}</h1>\n<p>Plugin <code>",
                crate::http::reason_phrase(status),
            );
            escape_html(&mut page, &plugin.route);
            page.push_str("</code> failed (shown because the server runs with --dev):</p>\n<pre>");
            escape_html(&mut page, detail);
            page.push_str("</pre></body></html>\n");
            response.body = Body::Bytes(Bytes::from(page));
        }
        response
    }
}

/// Names one request in what is logged, counted and listed when its plugin
/// fails, also after the answer started (when the gateway is long done).
#[derive(Debug, Clone)]
pub(crate) struct FailureTag {
    route: Arc<str>,
    request_id: String,
    telemetry: Arc<Telemetry>,
}

impl FailureTag {
    /// The guest's log tag.
    fn log_tag(&self) -> String {
        log_tag(&self.route, &self.request_id)
    }

    /// A failure after the head went out: the connection cuts the answer
    /// off and logs it; this counts and lists it.
    fn count_after_head(&self, reason: Failure, detail: &str) {
        self.telemetry.metrics.plugin_failed(&self.route, reason);
        self.telemetry.errors.push(
            &self.route,
            &self.request_id,
            status_of(reason),
            &format!("after the head was sent: {detail}"),
        );
    }

    /// One failure: a log line, a count by reason, an entry on the status page.
    fn record(&self, status: u16, reason: Failure, detail: &str) {
        if reason == Failure::Overloaded {
            tracing::warn!(route = %self.route, request_id = %self.request_id, "{detail}; answering 503");
        } else {
            tracing::warn!(route = %self.route, request_id = %self.request_id, status, "plugin failed: {detail}");
        }
        self.telemetry.metrics.plugin_failed(&self.route, reason);
        self.telemetry
            .errors
            .push(&self.route, &self.request_id, status, detail);
    }
}

/// What a guest's stderr lines are tagged with: its route and the request id.
/// Built once per request: pushed, not `format!`ed (~900 instructions less,
/// callgrind).
fn log_tag(route: &str, request_id: &str) -> String {
    let mut tag = String::with_capacity(route.len() + 5 + request_id.len());
    for part in [route, " req ", request_id] {
        tag.push_str(part);
    }
    tag
}

/// The metric's reason for a run's failure.
fn failure_of(err: &RunError) -> Failure {
    match err {
        RunError::Timeout => Failure::Timeout,
        RunError::StdoutTooLarge => Failure::OutputLimit,
        RunError::MemoryLimit => Failure::MemoryLimit,
        RunError::Busy => Failure::Overloaded,
        RunError::Trap(_) => Failure::Trap,
        RunError::Host(_) => Failure::Host,
    }
}

/// The status a failure answers with, before the head went out.
fn status_of(reason: Failure) -> u16 {
    match reason {
        Failure::Overloaded => 503,
        Failure::Timeout => 504,
        _ => 502,
    }
}

/// 503 with `Retry-After`: the server is saturated, a retry soon may succeed.
fn busy() -> Response {
    let mut response = Response::error_page(503);
    response.headers.push("Retry-After", "1");
    response
}

/// Bodies up to this size are read before a CGI guest starts (most form
/// posts: no channel, no task switches); larger ones stream in.
pub(crate) const WHOLE_BODY_MAX: u64 = 64 * 1024;

/// Feeds one piece of the body; never resolves once the body is all in.
async fn pump(body: &mut RequestBody<'_>, sink: Option<&BodySink>) -> Result<bool, BodyError> {
    match sink {
        Some(sink) => body.pump_into(sink).await,
        None => std::future::pending().await,
    }
}

/// 413, 408 or 400 before the head: the body cannot be read, the connection
/// closes.
fn refused_body(plugin: &Plugin, req: &Request, err: &BodyError) -> Response {
    tracing::info!(
        request_id = %req.id,
        route = %plugin.route,
        error = %err,
        "request body refused"
    );
    let mut response = Response::error_page(err.status());
    response.close = true;
    response
}

/// What a paused guest's output decided.
enum Early {
    /// The answer, known already.
    Done(Outcome),
    /// A complete head, and the body bytes that followed it so far.
    Stream(Reply, Bytes),
}

impl Outcome {
    /// The dispatcher's instruction for a valid CGI reply with its whole
    /// `body`, framed by the server with the body's real length (whatever
    /// `Content-Length` the guest printed).
    fn from_reply(reply: Reply, body: Bytes) -> Outcome {
        match reply {
            Reply::LocalRedirect { path, query } => Outcome::LocalRedirect { path, query },
            Reply::Document {
                status,
                reason,
                headers,
                ..
            } => {
                // 204 and 304 never carry a body; whatever the guest printed
                // after the head is not sent.
                let body = if body.is_empty() || matches!(status, 204 | 304) {
                    Body::Empty
                } else {
                    Body::Bytes(body)
                };
                Outcome::Respond(Response {
                    status,
                    reason,
                    headers,
                    body,
                    close: false,
                    route: RouteLabel::None,
                })
            }
        }
    }

    /// The answer to a guest still writing: its head now, its body as it
    /// comes, held to the `Content-Length` the guest printed, if it did (a
    /// body longer or shorter is cut off and the connection closed).
    fn streamed(
        reply: Reply,
        first: Bytes,
        run: CgiRun,
        permit: GatePermit,
        request_body: Option<BodySink>,
        tag: FailureTag,
    ) -> Outcome {
        match reply {
            Reply::LocalRedirect { path, query } => Outcome::LocalRedirect { path, query },
            Reply::Document {
                status,
                reason,
                headers,
                length,
                ..
            } => Outcome::Respond(Response {
                status,
                reason,
                headers,
                body: cgi_stream::streamed(first, run, permit, length, request_body, tag),
                close: false,
                route: RouteLabel::None,
            }),
        }
    }
}

/// Escape text for an HTML element body: written here because the only
/// untrusted text the server ever puts into HTML is this one detail line.
fn escape_html(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Headers, Version};
    use crate::plugins::{Gate, PluginConfig, PluginDefaults};
    use crate::runtime::EngineConfig;

    fn runtime() -> Arc<WasmEngine> {
        let config = EngineConfig {
            max_memory: 16 << 20,
            max_instances: 4,
            cache_dir: None,
        };
        Arc::new(WasmEngine::new(&config).unwrap())
    }

    /// A match for `/NAME` running `tests/fixtures/NAME.wat`.
    fn fixture_match(
        runtime: &WasmEngine,
        name: &str,
        tune: impl FnOnce(&mut PluginConfig),
    ) -> RouteMatch {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(format!("{name}.wat"));
        let wasm = wat::parse_file(&file).unwrap();
        let mut config = PluginConfig::from_defaults(&PluginDefaults::default());
        config.limits.max_memory = 16 << 20;
        tune(&mut config);
        let plugin = Plugin {
            route: Arc::from(format!("/{name}")),
            loaded_at: std::time::SystemTime::now(),
            argv: vec![name.to_owned()],
            file,
            hash: "test".to_owned(),
            module: runtime.compile(&wasm).unwrap(),
            script: None,
            gate: Gate::new(config.max_concurrency, config.max_queue),
            config,
        };
        RouteMatch {
            plugin: Arc::new(plugin),
            script_name: format!("/{name}"),
            path_info: String::new(),
            raw_path_info: String::new(),
        }
    }

    fn get(path: &str) -> Request {
        let mut headers = Headers::new();
        headers.push("Host", "localhost");
        Request {
            method: "GET".into(),
            target: path.into(),
            path: path.into(),
            query: None,
            version: Version::Http11,
            headers,
            peer: "127.0.0.1:1".parse().unwrap(),
            local: "127.0.0.1:2".parse().unwrap(),
            secure: false,
            id: "1".to_owned(),
        }
    }

    /// The whole body, in memory or streamed.
    async fn body_of(r: Response) -> Bytes {
        match r.body {
            Body::Bytes(b) => b,
            Body::Stream(stream) => stream.frames.collect().await.unwrap().to_bytes(),
            other => panic!("status {}, body {other:?}", r.status),
        }
    }

    #[tokio::test]
    async fn fixtures_map_to_their_status() {
        let runtime = runtime();
        let gateway = Gateway::new(Arc::clone(&runtime), false, Arc::default());
        let cases: &[(&str, u16)] = &[
            ("loop", 504),
            ("trap", 502),
            ("memory_grab", 502),
            ("stdout_flood", 502),
            ("header_injection", 502),
            ("missing_blank_line", 502),
            ("no_content_type", 502),
            ("bad_status", 502),
            ("exit_1", 502),
            ("exit_1_with_response", 200),
            ("stderr_spam", 200),
            ("args", 200),
            ("cat", 200),
        ];
        for &(name, status) in cases {
            let m = fixture_match(&runtime, name, |c| {
                c.limits.timeout = std::time::Duration::from_millis(200);
                c.limits.max_memory = 4 << 20;
                c.limits.max_stdout = 64 << 10;
            });
            let req = get(&format!("/{name}"));
            match gateway
                .handle(&req, &m, &mut RequestBody::from_bytes(Bytes::new()))
                .await
            {
                Outcome::Respond(r) => assert_eq!(r.status, status, "{name}"),
                Outcome::LocalRedirect { .. } => panic!("{name}: unexpected redirect"),
            }
        }
    }

    #[tokio::test]
    async fn dev_pages_carry_the_escaped_detail() {
        let runtime = runtime();
        let m = fixture_match(&runtime, "no_content_type", |_| {});
        let req = get("/no_content_type");
        for (dev, shown) in [(false, false), (true, true)] {
            let gateway = Gateway::new(Arc::clone(&runtime), dev, Arc::default());
            let Outcome::Respond(r) = gateway
                .handle(&req, &m, &mut RequestBody::from_bytes(Bytes::new()))
                .await
            else {
                panic!("unexpected redirect");
            };
            let Body::Bytes(page) = r.body else {
                panic!("no page");
            };
            let page = String::from_utf8_lossy(&page);
            assert_eq!(page.contains("no Content-Type"), shown, "{page}");
        }
    }

    #[tokio::test]
    async fn argv_and_stdin_reach_the_guest() {
        let runtime = runtime();
        let gateway = Gateway::new(Arc::clone(&runtime), false, Arc::default());
        let mut req = get("/args");
        req.query = Some("a+b%21".into());
        let m = fixture_match(&runtime, "args", |_| {});
        let Outcome::Respond(r) = gateway
            .handle(&req, &m, &mut RequestBody::from_bytes(Bytes::new()))
            .await
        else {
            panic!("unexpected redirect");
        };
        assert_eq!(body_of(r).await, "args\na\nb!\n");
        let m = fixture_match(&runtime, "cat", |_| {});
        let body = Bytes::from((0..=255u8).cycle().take(100_000).collect::<Vec<u8>>());
        let Outcome::Respond(r) = gateway
            .handle(&get("/cat"), &m, &mut RequestBody::from_bytes(body.clone()))
            .await
        else {
            panic!("unexpected redirect");
        };
        assert_eq!(body_of(r).await, body);
    }

    #[test]
    fn html_escaping() {
        let mut out = String::new();
        escape_html(&mut out, "<script>alert('x') & \"y\"</script>");
        assert_eq!(
            out,
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }

    #[test]
    fn bodyless_statuses_drop_the_guest_body() {
        let reply = |status| Reply::Document {
            status,
            reason: None,
            headers: crate::http::Headers::new(),
            typed: true,
            length: None,
        };
        let Outcome::Respond(r) = Outcome::from_reply(reply(204), Bytes::from_static(b"x")) else {
            panic!("not a response");
        };
        assert!(matches!(r.body, Body::Empty));
        let Outcome::Respond(r) = Outcome::from_reply(reply(200), Bytes::from_static(b"x")) else {
            panic!("not a response");
        };
        assert_eq!(r.body.len(), Some(1));
    }
}
