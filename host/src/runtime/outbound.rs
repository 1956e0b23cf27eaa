//! Outbound HTTP from wasi:http guests (`wasi:http/outgoing-handler`):
//! denied unless the request's origin is on the plugin's list
//! (`allowed_outbound_hosts` in its sidecar), and bounded in time by the
//! plugin's own time limit. wasi:sockets, the other way out, stays closed:
//! `WasiCtxBuilder` grants no socket address unless told to.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt as _;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// One allowed origin: `scheme://host:port`, lower-case, port explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    /// Reads `http://host[:port]` or `https://host[:port]` (a trailing `/`
    /// is allowed; a path, query, userinfo or other scheme is not).
    pub(crate) fn parse(text: &str) -> Result<Origin, String> {
        let lower = text.trim_end_matches('/').to_ascii_lowercase();
        let (scheme, default_port, rest) = if let Some(rest) = lower.strip_prefix("http://") {
            ("http", 80, rest)
        } else if let Some(rest) = lower.strip_prefix("https://") {
            ("https", 443, rest)
        } else {
            return Err(format!("{text:?} is not an http:// or https:// origin"));
        };
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "{text:?} must be scheme://host[:port], without path or userinfo"
            ));
        }
        let uri: http::uri::Authority = rest
            .parse()
            .map_err(|_| format!("{text:?} has an invalid host or port"))?;
        // `Authority` reads a port it cannot parse as none at all.
        let names_a_port = rest.rfind(':') > rest.rfind(']');
        let port = match uri.port_u16() {
            Some(port) => port,
            None if names_a_port => return Err(format!("{text:?} has an invalid port")),
            None => default_port,
        };
        Ok(Origin(format!("{scheme}://{}:{port}", uri.host())))
    }

    /// The origin a request goes to; `None` without scheme or authority.
    fn of(uri: &http::Uri) -> Option<Origin> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let authority = uri.authority()?;
        let default_port = if scheme == "https" { 443 } else { 80 };
        let port = authority.port_u16().unwrap_or(default_port);
        Some(Origin(format!(
            "{scheme}://{}:{port}",
            authority.host().to_ascii_lowercase()
        )))
    }
}

/// Which outbound requests one run may make, and how long each may take.
#[derive(Debug, Clone)]
pub(crate) struct OutboundPolicy {
    allowed: Arc<[Origin]>,
    /// Connect, first-byte and between-bytes timeouts where the guest set
    /// none (wasmtime-wasi-http's own default is 600 s).
    timeout: Duration,
}

impl OutboundPolicy {
    /// A policy allowing exactly `allowed`, with `timeout` per step.
    pub(crate) fn new(allowed: Arc<[Origin]>, timeout: Duration) -> Self {
        OutboundPolicy { allowed, timeout }
    }

    /// Whether a request to `uri` may leave.
    fn permits(&self, uri: &http::Uri) -> bool {
        Origin::of(uri).is_some_and(|origin| self.allowed.contains(&origin))
    }
}

/// What `send_request` hands back to wasmtime-wasi-http.
type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundPolicy {
    /// A denied request fails at once with wasi:http's own
    /// `HTTP-request-denied`, before any connection is made.
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_done: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        if !self.permits(request.uri()) {
            tracing::info!(uri = %request.uri(), "outbound request denied: its origin is not in allowed_outbound_hosts");
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let step = Some(self.timeout);
        let options = options.unwrap_or(RequestOptions {
            connect_timeout: step,
            first_byte_timeout: step,
            between_bytes_timeout: step,
        });
        Box::new(async move {
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(|body| body.boxed_unsync()),
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_and_checked() {
        let parse = |s: &str| Origin::parse(s).map(|o| o.0);
        assert_eq!(
            parse("http://127.0.0.1:9000").unwrap(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            parse("HTTP://Example.COM/").unwrap(),
            "http://example.com:80"
        );
        assert_eq!(
            parse("https://api.example").unwrap(),
            "https://api.example:443"
        );
        for bad in [
            "ftp://x",
            "http://",
            "http://x/path",
            "http://u@x",
            "x:80",
            "http://x:99999",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_listed_origins_may_be_reached() {
        let allowed: Arc<[Origin]> = vec![Origin::parse("http://127.0.0.1:9000").unwrap()].into();
        let policy = OutboundPolicy::new(allowed, Duration::from_secs(1));
        let uri = |s: &str| s.parse::<http::Uri>().unwrap();
        assert!(policy.permits(&uri("http://127.0.0.1:9000/x?y")));
        assert!(!policy.permits(&uri("http://127.0.0.1:9001/")));
        assert!(!policy.permits(&uri("https://127.0.0.1:9000/")));
        assert!(!policy.permits(&uri("/relative")));
        let none = OutboundPolicy::new(Vec::new().into(), Duration::from_secs(1));
        assert!(!none.permits(&uri("http://127.0.0.1:9000/")));
    }
}
