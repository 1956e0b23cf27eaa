//! The dispatcher: one request's way through the server, for the socket
//! server and `wasibin run` alike. Plugin routes come first, then the static
//! site; local CGI redirects are followed here, inside the server, as GET
//! requests. The gateway reads a plugin's body, bounded by its `max_body`.

use std::sync::Arc;

use bytes::Bytes;

use crate::gateway::{Gateway, Outcome};
use crate::http::{Request, RequestBody, Response, Service};
use crate::plugins::{LiveRoutes, RouteTable, Routing};
use crate::runtime::HandlerKind;
use crate::static_files::StaticFiles;
use crate::telemetry::RouteLabel;

/// How many local redirects one request may follow before it is a loop (502).
const MAX_LOCAL_REDIRECTS: usize = 10;

/// The server's [`Service`]: routes each request to a plugin or a file.
pub(crate) struct Dispatcher {
    routes: LiveRoutes,
    gateway: Gateway,
    /// `None` where there is no site (`wasibin run`): paths no plugin serves
    /// answer 404.
    statics: Option<StaticFiles>,
}

impl Dispatcher {
    /// Tie the route table, the gateway and the static site together.
    pub(crate) fn new(
        routes: LiveRoutes,
        gateway: Gateway,
        statics: Option<StaticFiles>,
    ) -> Dispatcher {
        Dispatcher {
            routes,
            gateway,
            statics,
        }
    }

    async fn serve_static(&self, req: &Request) -> Response {
        match &self.statics {
            Some(statics) => statics.serve(req).await,
            None => Response::error_page(404),
        }
    }

    /// Follow local redirects from a plugin's first answer; every hop runs on
    /// the same route-table snapshot as the original request.
    async fn follow(&self, table: &RouteTable, req: &Request, mut outcome: Outcome) -> Response {
        for _ in 0..MAX_LOCAL_REDIRECTS {
            let (path, query) = match outcome {
                Outcome::Respond(response) => return response,
                Outcome::LocalRedirect { path, query } => (path, query),
            };
            let next = redirected_request(req, path, query);
            outcome = match table.lookup(&next.path) {
                Routing::Plugin(m) if m.plugin.module.kind() == HandlerKind::HttpHandler => {
                    let mut no_body = RequestBody::from_bytes(Bytes::new());
                    return self.gateway.serve_http(&next, &m, &mut no_body).await;
                }
                Routing::Plugin(m) => {
                    let mut no_body = RequestBody::from_bytes(Bytes::new());
                    self.gateway.handle(&next, &m, &mut no_body).await
                }
                Routing::NotPlugin => return self.serve_static(&next).await,
                Routing::BadPath => return Response::error_page(400),
            };
        }
        match outcome {
            Outcome::Respond(response) => response,
            Outcome::LocalRedirect { .. } => {
                tracing::warn!(
                    request_id = %req.id,
                    path = %req.path,
                    "more than {MAX_LOCAL_REDIRECTS} local redirects: answering 502"
                );
                Response::error_page(502)
            }
        }
    }
}

impl Service for Dispatcher {
    async fn call<'a>(&'a self, req: &'a Request, body: &'a mut RequestBody<'_>) -> Response {
        // A guard, not `load_full`'s `Arc`: the clone and drop were two
        // atomic writes per request on a count every worker shares. A guard
        // held across a long answer only makes a reload pay that count.
        let table = self.routes.load();
        match table.lookup(&req.path) {
            Routing::NotPlugin => {
                let mut response = self.serve_static(req).await;
                response.route = RouteLabel::Static;
                response
            }
            Routing::BadPath => Response::error_page(400),
            Routing::Plugin(m) => {
                let mut response = if m.plugin.module.kind() == HandlerKind::HttpHandler {
                    self.gateway.serve_http(req, &m, body).await
                } else {
                    let outcome = self.gateway.handle(req, &m, body).await;
                    self.follow(&table, req, outcome).await
                };
                // Counted under the route asked for, wherever a local
                // redirect led.
                response.route = RouteLabel::Plugin(Arc::clone(&m.plugin.route));
                response
            }
        }
    }
}

/// The request a CGI local redirect (RFC 3875 §6.2.2) becomes inside the
/// server: a GET (HEAD stays HEAD) for the new path, with the original
/// headers minus those describing the old body.
pub(crate) fn redirected_request(
    original: &Request,
    path: String,
    query: Option<String>,
) -> Request {
    let mut headers = original.headers.clone();
    headers.remove("content-length");
    headers.remove("content-type");
    headers.remove("transfer-encoding");
    headers.remove("expect");
    let target = match &query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    Request {
        method: if original.is_head() { "HEAD" } else { "GET" }.to_string(),
        target,
        path,
        query,
        headers,
        ..original.clone()
    }
}
