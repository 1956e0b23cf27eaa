//! The wasi:http adapter: one request through one `wasi:http` handler. The
//! request goes over as an `http::Request` (method, scheme, authority, path
//! with query, end-to-end headers) whose body streams in while the guest
//! runs, bounded by the plugin's `max_body`; the response comes back as a
//! head, validated as strictly as a CGI head, and a body the connection
//! streams out as the guest writes it.

use std::pin::{pin, Pin};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt as _;

use super::{failure_of, log_tag, pump, refused_body, FailureTag, Gateway};
use crate::http::grammar::{is_field_value, is_hop_by_hop, is_server_written};
use crate::http::request_id;
use crate::http::{
    body_channel, Body, BodyError, Headers, Request, RequestBody, Response, StreamBody, StreamError,
};
use crate::plugins::{GatePermit, Plugin, RouteMatch};
use crate::runtime::{GuestBody, HttpInvocation, RunError};
use crate::telemetry::Failure;

impl Gateway {
    /// Run `m`'s wasi:http handler for `req`, feeding it `body` as it comes.
    pub(crate) async fn serve_http(
        &self,
        req: &Request,
        m: &RouteMatch,
        body: &mut RequestBody<'_>,
    ) -> Response {
        let plugin = &m.plugin;
        let limit = plugin.config.max_body;
        if body.declared_len().is_some_and(|len| len > limit) {
            return refused_body(plugin, req, &BodyError::TooLarge { limit });
        }
        let Ok(permit) = plugin.gate.acquire().await else {
            return self.queue_full(plugin, req);
        };
        let (sink, stream) = body_channel(limit, body.declared_len());
        let request = match guest_request(req, plugin, stream.map_err(wasi_body_error)) {
            Ok(request) => request,
            Err(detail) => return self.failure(plugin, req, Failure::Host, &detail),
        };
        let invocation = HttpInvocation {
            request,
            https: req.secure,
            allowed_outbound: plugin.config.allowed_outbound.clone(),
            log_tag: log_tag(&plugin.route, &req.id),
        };
        let run = match self
            .engine
            .start_http(&plugin.module, invocation, &plugin.config.limits)
        {
            Ok(run) => run,
            Err(err) => return self.run_failed(plugin, req, &err),
        };

        // The guest may want the body before it answers, or answer first:
        // the body is fed until the head arrives, and after it by the
        // connection, while the response streams.
        let mut head = pin!(run.response());
        let mut sink = Some(sink);
        let head = loop {
            tokio::select! {
                biased;
                head = &mut head => break head,
                pumped = pump(body, sink.as_ref()) => match pumped {
                    Ok(true) => {}
                    Ok(false) => sink = None,
                    Err(err) => return refused_body(plugin, req, &err),
                },
            }
        };
        let response = match head {
            Ok(response) => response,
            Err(err) => return self.run_failed(plugin, req, &err),
        };
        let (parts, guest_body) = response.into_parts();
        let (status, headers) = match guest_head(&parts) {
            Ok(head) => head,
            Err(detail) => {
                return self.failure(
                    plugin,
                    req,
                    Failure::BadResponse,
                    &format!("invalid response head: {detail}"),
                )
            }
        };
        let frames = HeldBody {
            body: guest_body,
            _permit: permit,
            tag: self.tag(plugin, req),
        }
        .map_err(|e| Box::new(e) as StreamError);
        let mut response = Response::new(status);
        response.headers = headers;
        response.body = Body::Stream(StreamBody {
            frames: Box::pin(frames),
            length: None,
            request_body: sink,
        });
        response
    }
}

/// What the guest's `incoming-body` stream reports when the client's body
/// fails mid-way.
fn wasi_body_error(err: BodyError) -> wasmtime_wasi_http::Error {
    match err {
        BodyError::TooLarge { limit } => {
            wasmtime_wasi_http::Error::HttpRequestBodySize(Some(limit))
        }
        BodyError::Timeout => wasmtime_wasi_http::Error::ConnectionReadTimeout,
        BodyError::Malformed(_) | BodyError::Io(_) => {
            wasmtime_wasi_http::Error::ConnectionTerminated
        }
    }
}

/// The request as the guest sees it: the absolute URI the client
/// addressed, and every header but the hop-by-hop ones (and
/// `Authorization`, unless the plugin's sidecar passes it, as for CGI).
fn guest_request<B>(req: &Request, plugin: &Plugin, body: B) -> Result<http::Request<B>, String> {
    let authority = match req.authority() {
        Some((host, Some(port))) => format!("{host}:{port}"),
        Some((host, None)) => host.to_owned(),
        None => req.local.to_string(),
    };
    let path_and_query = match &req.query {
        Some(query) => format!("{}?{query}", req.path),
        None => req.path.clone(),
    };
    let uri = http::Uri::builder()
        .scheme(if req.secure { "https" } else { "http" })
        .authority(authority)
        .path_and_query(path_and_query)
        .build()
        .map_err(|e| format!("the request URI does not convert: {e}"))?;
    let method = http::Method::from_bytes(req.method.as_bytes())
        .map_err(|e| format!("the method does not convert: {e}"))?;
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (name, value) in req.headers.iter() {
        if is_hop_by_hop(name)
            || name.eq_ignore_ascii_case(request_id::HEADER)
            || (!plugin.config.pass_authorization && name.eq_ignore_ascii_case("authorization"))
        {
            continue;
        }
        builder = builder.header(name, value);
    }
    // The id the server answers with and logs, whatever the client sent.
    builder
        .header(request_id::HEADER, req.id.as_str())
        .body(body)
        .map_err(|e| format!("the request does not convert: {e}"))
}

/// The guest's status and headers, held to the rules of a CGI head: a final
/// status, field values without control bytes; the framing and hop-by-hop
/// fields, `Date` and `Server` are the server's and are dropped.
fn guest_head(parts: &http::response::Parts) -> Result<(u16, Headers), String> {
    let status = parts.status.as_u16();
    if !(200..=599).contains(&status) {
        return Err(format!("status {status} is not a final status"));
    }
    let mut headers = Headers::new();
    for (name, value) in &parts.headers {
        let name = name.as_str();
        if is_server_written(name) {
            continue;
        }
        if !is_field_value(value.as_bytes()) {
            return Err(format!(
                "header {name:?} has a control character in its value"
            ));
        }
        headers.push_slices(name, value.as_bytes());
    }
    Ok((status, headers))
}

/// The guest's body, holding the plugin's admission permit until the
/// guest is done with it.
struct HeldBody {
    body: GuestBody,
    _permit: GatePermit,
    tag: FailureTag,
}

impl http_body::Body for HeldBody {
    type Data = Bytes;
    type Error = RunError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RunError>>> {
        let frame = std::task::ready!(Pin::new(&mut self.body).poll_frame(cx));
        if let Some(Err(err)) = &frame {
            // The connection logs the cut-off; this counts it.
            self.tag.count_after_head(failure_of(err), &err.to_string());
        }
        Poll::Ready(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_heads_are_held_to_the_cgi_rules() {
        let head = |status: u16, headers: &[(&str, &[u8])]| {
            let mut b = http::Response::builder().status(status);
            for (n, v) in headers {
                b = b.header(*n, http::HeaderValue::from_bytes(v).unwrap());
            }
            guest_head(&b.body(()).unwrap().into_parts().0)
        };
        let (status, headers) = head(
            201,
            &[
                ("content-type", b"text/plain"),
                ("set-cookie", b"a=1"),
                ("set-cookie", b"b=2"),
                ("content-length", b"5"),
                ("transfer-encoding", b"chunked"),
                ("connection", b"close"),
                ("server", b"evil"),
            ],
        )
        .unwrap();
        assert_eq!(status, 201);
        let names: Vec<_> = headers.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["content-type", "set-cookie", "set-cookie"]);
        assert!(head(101, &[]).is_err());
        assert!(head(200, &[("x-a", b"a\tb")]).is_ok());
        assert!(head(200, &[("x-a", b"caf\xc3\xa9")]).is_ok());
    }

    #[test]
    fn body_failures_reach_the_guest_as_wasi_errors() {
        assert!(matches!(
            wasi_body_error(BodyError::TooLarge { limit: 9 }),
            wasmtime_wasi_http::Error::HttpRequestBodySize(Some(9))
        ));
        assert!(matches!(
            wasi_body_error(BodyError::Timeout),
            wasmtime_wasi_http::Error::ConnectionReadTimeout
        ));
    }
}
