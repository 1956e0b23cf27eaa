//! The parsed request head handed to a [`crate::http::Service`].

use std::net::SocketAddr;

use super::grammar::{absolute_authority, split_authority};
use super::Headers;

/// The protocol version of a request; it decides keep-alive defaults and
/// whether a chunked response may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    /// HTTP/1.0: close by default, no chunked responses.
    Http10,
    /// HTTP/1.1: keep-alive by default.
    Http11,
}

impl Version {
    /// The version as it appears on the wire and in `SERVER_PROTOCOL`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// One request head, validated by the connection loop (framing, Host, limits).
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// The method token exactly as sent (methods are case-sensitive).
    pub(crate) method: String,
    /// The request-target exactly as sent (origin-form or absolute-form).
    pub(crate) target: String,
    /// The path of the target, still percent-encoded, always starting with `/`.
    pub(crate) path: String,
    /// The raw query string after `?`, without the `?`; `None` when absent.
    pub(crate) query: Option<String>,
    /// HTTP/1.0 or HTTP/1.1.
    pub(crate) version: Version,
    /// The header fields in the order received.
    pub(crate) headers: Headers,
    /// The client's address, for `REMOTE_ADDR` and the access log.
    pub(crate) peer: SocketAddr,
    /// The address the connection was accepted on, for `SERVER_PORT` fallback.
    pub(crate) local: SocketAddr,
    /// Whether the connection is TLS (`HTTPS=on`, the `https` scheme).
    pub(crate) secure: bool,
    /// Ties the log lines, the response and the plugin's view of one
    /// request together: the client's `X-Request-Id` when acceptable, else
    /// generated (see `request_id`).
    pub(crate) id: String,
}

impl Request {
    /// Whether this is a HEAD request, whose response never carries a body.
    pub(crate) fn is_head(&self) -> bool {
        self.method == "HEAD"
    }

    /// The authority the client addressed, as host and port (the port
    /// `None` when it names none): the absolute-form target's wins over the
    /// Host header (RFC 9112 §3.2.2); `None` when the request named none.
    pub(crate) fn authority(&self) -> Option<(&str, Option<&str>)> {
        let authority = match absolute_authority(&self.target) {
            Some(authority) => authority,
            None => self.headers.get_str("host")?,
        };
        let authority = authority.trim_matches([' ', '\t']);
        (!authority.is_empty()).then(|| split_authority(authority))
    }

    /// A request with empty fields, refilled by the connection loop for
    /// every request on a connection so its buffers are reused.
    pub(crate) fn empty(peer: SocketAddr, local: SocketAddr) -> Self {
        Request {
            method: String::new(),
            target: String::new(),
            path: String::new(),
            query: None,
            version: Version::Http11,
            headers: Headers::new(),
            peer,
            local,
            secure: false,
            id: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str, host: Option<&str>) -> Request {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut req = Request::empty(addr, addr);
        req.target = target.to_owned();
        if let Some(h) = host {
            req.headers.push("Host", h);
        }
        req
    }

    #[test]
    fn authority_comes_from_host_header_with_the_port_apart() {
        assert_eq!(
            request("/", Some("example.com:8080"))
                .authority()
                .map(|(h, _)| h),
            Some("example.com")
        );
        assert_eq!(
            request("/", Some("example.com"))
                .authority()
                .map(|(h, _)| h),
            Some("example.com")
        );
        assert_eq!(
            request("/", Some("[::1]:80")).authority().map(|(h, _)| h),
            Some("[::1]")
        );
        assert_eq!(request("/", Some("")).authority().map(|(h, _)| h), None);
        assert_eq!(request("/", None).authority().map(|(h, _)| h), None);
    }

    #[test]
    fn absolute_form_target_wins_over_host() {
        let req = request("HTTP://Other.example:81/p?q", Some("example.com"));
        assert_eq!(req.authority().map(|(h, _)| h), Some("Other.example"));
        assert_eq!(
            request("https://h", None).authority().map(|(h, _)| h),
            Some("h")
        );
    }
}
