//! The parsed request head handed to a [`crate::http::Service`].

use std::net::SocketAddr;

use super::grammar::{absolute_authority, split_authority};
use super::Headers;

/// The protocol version of a request; it decides keep-alive defaults and
/// whether a chunked response may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: close by default, no chunked responses.
    Http10,
    /// HTTP/1.1: keep-alive by default.
    Http11,
}

impl Version {
    /// The version as it appears on the wire and in `SERVER_PROTOCOL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// One request head, validated by the connection loop (framing, Host, limits).
#[derive(Debug, Clone)]
pub struct Request {
    /// The method token exactly as sent (methods are case-sensitive).
    pub method: String,
    /// The request-target exactly as sent (origin-form or absolute-form).
    pub target: String,
    /// The path of the target, still percent-encoded, always starting with `/`.
    pub path: String,
    /// The raw query string after `?`, without the `?`; `None` when absent.
    pub query: Option<String>,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The header fields in the order received.
    pub headers: Headers,
    /// The client's address, for `REMOTE_ADDR` and the access log.
    pub peer: SocketAddr,
    /// The address the connection was accepted on, for `SERVER_PORT` fallback.
    pub local: SocketAddr,
    /// A process-unique id that ties log lines of one request together.
    pub id: u64,
}

impl Request {
    /// Whether this is a HEAD request, whose response never carries a body.
    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }

    /// The host name from the Host header (or the absolute-form target),
    /// without the port; `None` when the request named none.
    pub fn host_name(&self) -> Option<&str> {
        // RFC 9112 §3.2.2: with an absolute-form target the target's
        // authority wins over the Host header.
        let authority = match absolute_authority(&self.target) {
            Some(authority) => authority,
            None => self.headers.get_str("host")?,
        };
        let (host, _port) = split_authority(authority);
        (!host.is_empty()).then_some(host)
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
            id: 0,
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
    fn host_name_comes_from_host_header_without_port() {
        assert_eq!(
            request("/", Some("example.com:8080")).host_name(),
            Some("example.com")
        );
        assert_eq!(
            request("/", Some("example.com")).host_name(),
            Some("example.com")
        );
        assert_eq!(request("/", Some("[::1]:80")).host_name(), Some("[::1]"));
        assert_eq!(request("/", Some("")).host_name(), None);
        assert_eq!(request("/", None).host_name(), None);
    }

    #[test]
    fn absolute_form_target_wins_over_host() {
        let req = request("HTTP://Other.example:81/p?q", Some("example.com"));
        assert_eq!(req.host_name(), Some("Other.example"));
        assert_eq!(request("https://h", None).host_name(), Some("h"));
    }
}
