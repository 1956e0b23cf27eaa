//! The dispatcher: plugin routes first, then the static site; local CGI
//! redirects are followed here, inside the server, as GET requests.

use std::sync::Arc;

use bytes::Bytes;

use crate::gateway::{self, Gateway, Outcome};
use crate::http::{Request, RequestBody, Response, Service};
use crate::plugins::{Lookup, PluginHost, RouteTable};
use crate::static_files::StaticFiles;

/// How many local redirects one request may follow before it is a loop (502).
pub const MAX_LOCAL_REDIRECTS: usize = 10;

/// The server's [`Service`]: routes each request to a plugin or a file.
pub struct App {
    plugins: Arc<PluginHost>,
    gateway: Gateway,
    statics: StaticFiles,
}

impl App {
    /// Tie the route table, the gateway and the static site together.
    pub fn new(plugins: Arc<PluginHost>, gateway: Gateway, statics: StaticFiles) -> App {
        App {
            plugins,
            gateway,
            statics,
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
            let next = gateway::redirected_request(req, path, query);
            outcome = match table.lookup(&next.path) {
                Lookup::Plugin(m) => self.gateway.handle(&next, &m, Bytes::new()).await,
                Lookup::NotPlugin => return self.statics.serve(&next).await,
                Lookup::BadPath => return Response::error_page(400),
            };
        }
        match outcome {
            Outcome::Respond(response) => response,
            Outcome::LocalRedirect { .. } => {
                tracing::warn!(
                    request_id = req.id,
                    path = %req.path,
                    "more than {MAX_LOCAL_REDIRECTS} local redirects: answering 502"
                );
                Response::error_page(502)
            }
        }
    }
}

impl Service for App {
    async fn call<'a>(&'a self, req: &'a Request, body: &'a mut RequestBody<'_>) -> Response {
        let table = self.plugins.table();
        match table.lookup(&req.path) {
            Lookup::NotPlugin => self.statics.serve(req).await,
            Lookup::BadPath => Response::error_page(400),
            Lookup::Plugin(m) => {
                let body = match body.read_to_end(m.plugin.config.max_body).await {
                    Ok(bytes) => bytes,
                    Err(err) => {
                        tracing::info!(
                            request_id = req.id,
                            route = %m.plugin.route,
                            error = %err,
                            "request body refused"
                        );
                        let mut response = Response::error_page(err.status());
                        response.close = true;
                        return response;
                    }
                };
                let outcome = self.gateway.handle(req, &m, body).await;
                self.follow(&table, req, outcome).await
            }
        }
    }
}
