//! The admin listener (`--admin ADDR`, off by default): `/metrics` for
//! Prometheus, `/healthz` and `/readyz` for load balancers and Kubernetes,
//! and at `/` a status page a person reads instead of the logs.
//!
//! It has a port of its own, as Envoy's and Traefik's admin endpoints do,
//! so no plugin route or static file can collide with it and the public
//! port never exposes it. It runs the same connection loop as the public
//! port (limits, keep-alive, timeouts), with its own [`Service`] and
//! without counting its scrapes as traffic.

mod status;

use std::sync::Arc;

use bytes::Bytes;

use crate::http::{Body, Request, RequestBody, Response, Service};
use crate::plugins::PluginFolder;
use crate::runtime::WasmEngine;
use crate::telemetry::{PluginLoad, Snapshot, Telemetry, CONTENT_TYPE};

/// The status page: one self-contained file that polls `/status.json` and
/// `/metrics`.
const STATUS_PAGE: &str = include_str!("status.html");

/// Everything the admin endpoints read.
pub(crate) struct Admin {
    telemetry: Arc<Telemetry>,
    plugins: PluginFolder,
    engine: Arc<WasmEngine>,
}

impl Admin {
    /// Endpoints over this server's telemetry, plugin folder and engine.
    pub(crate) fn new(
        telemetry: Arc<Telemetry>,
        plugins: PluginFolder,
        engine: Arc<WasmEngine>,
    ) -> Admin {
        Admin {
            telemetry,
            plugins,
            engine,
        }
    }

    fn metrics(&self) -> Response {
        let table = self.plugins.table();
        let now = Snapshot {
            plugins: table
                .routes()
                .map(|p| {
                    let (running, queued) = p.gate.load();
                    PluginLoad {
                        route: Arc::clone(&p.route),
                        running: running as u64,
                        queued: queued as u64,
                    }
                })
                .collect(),
            cache: self.engine.cache_stats().map(|s| (s.hits, s.misses)),
        };
        let mut text = String::with_capacity(16 * 1024);
        if self.telemetry.metrics.encode(&now, &mut text).is_err() {
            return Response::error_page(500);
        }
        ok(CONTENT_TYPE, Bytes::from(text))
    }

    fn ready(&self) -> Response {
        let health = &self.telemetry.health;
        if health.is_ready() {
            return ok("text/plain; charset=utf-8", Bytes::from_static(b"ready\n"));
        }
        let why: &'static [u8] = if health.is_draining() {
            b"draining\n"
        } else {
            b"starting: the plugin folder is being loaded\n"
        };
        let mut response = ok("text/plain; charset=utf-8", Bytes::from_static(why));
        response.status = 503;
        response
    }
}

impl Service for Admin {
    async fn call<'a>(&'a self, req: &'a Request, _body: &'a mut RequestBody<'_>) -> Response {
        if !matches!(req.method.as_str(), "GET" | "HEAD") {
            let mut response = Response::error_page(405);
            response.headers.push_slices("Allow", b"GET, HEAD");
            return response;
        }
        let mut response = match req.path.as_str() {
            "/metrics" => self.metrics(),
            "/healthz" => ok("text/plain; charset=utf-8", Bytes::from_static(b"ok\n")),
            "/readyz" => self.ready(),
            "/" => ok(
                "text/html; charset=utf-8",
                Bytes::from_static(STATUS_PAGE.as_bytes()),
            ),
            "/status.json" => match status::render(&self.telemetry, &self.plugins) {
                Ok(json) => ok("application/json", Bytes::from(json)),
                Err(_) => Response::error_page(500),
            },
            _ => Response::error_page(404),
        };
        // Every answer describes this instant.
        response.headers.push_slices("Cache-Control", b"no-store");
        response
    }
}

fn ok(content_type: &str, body: Bytes) -> Response {
    let mut response = Response::new(200);
    response
        .headers
        .push_slices("Content-Type", content_type.as_bytes());
    response.body = Body::Bytes(body);
    response
}
