//! Parsing and validating a request head: httparse does the syntax, this
//! module applies the rules that decide framing (RFC 9112 §6), where most
//! request smuggling happens, and the size limits.

use std::mem::MaybeUninit;

use super::grammar::{absolute_authority, is_token, is_valid_host, trim_ows};
use super::{Limits, Request, Version};

/// Header slots parsed into a stack array; a configured `max_headers` above
/// this uses a heap array for that parse instead.
const STACK_HEADERS: usize = 128;

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes (above zero).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// What the client's `Expect` header asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Nothing (or an HTTP/1.0 request, whose expectations are ignored).
    Nothing,
    /// `100-continue`.
    Continue,
    /// An expectation we cannot meet: 417.
    Unknown,
}

/// A complete, valid head; the request fields are in the [`Request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    /// Bytes of the buffer the head occupied.
    pub(crate) len: usize,
    /// How the body is framed.
    pub(crate) framing: Framing,
    /// Whether the client wants the connection kept open.
    pub(crate) keep_alive: bool,
    /// The client's expectation.
    pub(crate) expect: Expect,
    /// `OPTIONS *`: about the server, not a resource.
    pub(crate) asterisk: bool,
}

/// Why a head was refused: the status to answer and a reason for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rejection {
    /// The status code.
    pub(crate) status: u16,
    /// Why, for the log line; never sent to the client.
    pub(crate) reason: &'static str,
}

const fn reject(status: u16, reason: &'static str) -> Rejection {
    Rejection { status, reason }
}

/// Parse the head at the start of `buf` into `req`. `Ok(None)` means more
/// bytes are needed (and the limits allow waiting for them).
pub(crate) fn parse_head(
    buf: &[u8],
    limits: &Limits,
    req: &mut Request,
) -> Result<Option<Head>, Rejection> {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line_end = buf[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| start + p);
    match line_end {
        None if buf.len() - start > limits.max_request_line => {
            return Err(reject(414, "request line too long"))
        }
        Some(end) if end - start > limits.max_request_line + 1 => {
            return Err(reject(414, "request line too long"))
        }
        _ => {}
    }
    if limits.max_headers <= STACK_HEADERS {
        let mut slots = [const { MaybeUninit::uninit() }; STACK_HEADERS];
        parse_into(buf, line_end, limits, req, &mut slots[..limits.max_headers])
    } else {
        let mut slots = Vec::with_capacity(limits.max_headers);
        slots.resize_with(limits.max_headers, MaybeUninit::uninit);
        parse_into(buf, line_end, limits, req, &mut slots)
    }
}

fn parse_into<'b>(
    buf: &'b [u8],
    line_end: Option<usize>,
    limits: &Limits,
    req: &mut Request,
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<Option<Head>, Rejection> {
    let mut parsed = httparse::Request::new(&mut []);
    let status = parsed.parse_with_uninit_headers(buf, slots);
    let header_bytes = |end: usize| line_end.map_or(0, |l| end.saturating_sub(l + 1));
    match status {
        Ok(httparse::Status::Partial) => {
            if header_bytes(buf.len()) > limits.max_header_bytes {
                return Err(reject(431, "header block too large"));
            }
            // Catches what the two limits above cannot see: an endless run
            // of the empty lines allowed before a request line.
            if buf.len() > limits.max_head() {
                return Err(reject(400, "too many empty lines before the request"));
            }
            Ok(None)
        }
        Ok(httparse::Status::Complete(len)) => {
            if header_bytes(len) > limits.max_header_bytes {
                return Err(reject(431, "header block too large"));
            }
            finish(&parsed, len, req).map(Some)
        }
        Err(httparse::Error::TooManyHeaders) => Err(reject(431, "too many header fields")),
        Err(httparse::Error::Version) => Err(version_rejection(buf, line_end)),
        Err(httparse::Error::HeaderName) => Err(reject(
            400,
            "invalid header name (whitespace before colon, obs-fold or bad byte)",
        )),
        Err(httparse::Error::HeaderValue) => Err(reject(400, "invalid byte in header value")),
        Err(httparse::Error::NewLine) => Err(reject(400, "malformed line ending")),
        Err(httparse::Error::Token) | Err(httparse::Error::Status) => {
            Err(reject(400, "malformed request line"))
        }
    }
}

/// An unparseable version is 505 when it looks like `HTTP/x.y` (a real
/// version we do not speak) and 400 when it is garbage.
fn version_rejection(buf: &[u8], line_end: Option<usize>) -> Rejection {
    let line = &buf[..line_end.unwrap_or(buf.len())];
    let token = line.rsplit(|&b| b == b' ').next().unwrap_or(&[]);
    match token {
        [b'H', b'T', b'T', b'P', b'/', d, ..] if d.is_ascii_digit() => {
            reject(505, "unsupported HTTP version")
        }
        _ => reject(400, "malformed HTTP version"),
    }
}

/// Apply the semantic rules to a syntactically complete head and fill `req`.
fn finish(
    parsed: &httparse::Request<'_, '_>,
    len: usize,
    req: &mut Request,
) -> Result<Head, Rejection> {
    let method = parsed.method.unwrap_or("");
    let target = parsed.path.unwrap_or("");
    req.version = if parsed.version == Some(0) {
        Version::Http10
    } else {
        Version::Http11
    };
    let asterisk = target == "*";
    let (path, query) = split_target(method, target)?;
    refill(&mut req.method, method);
    refill(&mut req.target, target);
    refill(&mut req.path, path);
    match (query, &mut req.query) {
        (Some(q), Some(old)) => refill(old, q),
        (Some(q), slot) => *slot = Some(q.to_owned()),
        (None, slot) => *slot = None,
    }

    req.headers.clear();
    let mut content_length = None;
    let mut transfer_encoding = None;
    let mut hosts = 0;
    let mut close = false;
    let mut keep_alive = false;
    let mut expect = Expect::Nothing;
    for h in parsed.headers.iter() {
        req.headers.push_slices(h.name, h.value);
        let is = |name: &str| h.name.eq_ignore_ascii_case(name);
        match h.name.len() {
            4 if is("host") => {
                hosts += 1;
                if hosts > 1 {
                    return Err(reject(400, "several Host headers"));
                }
                validate_host(h.value)?;
            }
            6 if is("expect") => {
                let value = trim_ows(h.value);
                expect = if value.eq_ignore_ascii_case(b"100-continue") && expect != Expect::Unknown
                {
                    Expect::Continue
                } else {
                    Expect::Unknown
                };
            }
            10 if is("connection") => {
                for token in h.value.split(|&b| b == b',').map(trim_ows) {
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            14 if is("content-length") => {
                if content_length.is_some() {
                    return Err(reject(400, "several Content-Length headers"));
                }
                content_length = Some(parse_content_length(h.value)?);
            }
            17 if is("transfer-encoding") => {
                if transfer_encoding.is_some() {
                    return Err(reject(400, "several Transfer-Encoding headers"));
                }
                transfer_encoding = Some(h.value);
            }
            _ => {}
        }
    }

    let http11 = req.version == Version::Http11;
    if http11 && hosts == 0 {
        return Err(reject(400, "HTTP/1.1 request without Host"));
    }
    let framing = match (transfer_encoding, content_length) {
        (Some(_), _) if !http11 => {
            return Err(reject(400, "Transfer-Encoding in an HTTP/1.0 request"))
        }
        (Some(_), Some(_)) => return Err(reject(400, "both Content-Length and Transfer-Encoding")),
        (Some(te), None) => {
            check_transfer_coding(te)?;
            Framing::Chunked
        }
        (None, Some(0)) | (None, None) => Framing::None,
        (None, Some(n)) => Framing::Length(n),
    };
    Ok(Head {
        len,
        framing,
        keep_alive: !close && (http11 || keep_alive),
        expect: if http11 { expect } else { Expect::Nothing },
        asterisk,
    })
}

fn refill(slot: &mut String, value: &str) {
    slot.clear();
    slot.push_str(value);
}

/// Split the target into its path and query, accepting origin-form,
/// absolute-form (`http://host/path`) and `*` for OPTIONS only.
fn split_target<'t>(
    method: &str,
    target: &'t str,
) -> Result<(&'t str, Option<&'t str>), Rejection> {
    if target.contains('#') {
        return Err(reject(400, "fragment in request target"));
    }
    if target == "*" {
        return if method == "OPTIONS" {
            Ok(("*", None))
        } else {
            Err(reject(
                400,
                "asterisk target on a method other than OPTIONS",
            ))
        };
    }
    let path_and_query = if target.starts_with('/') {
        target
    } else if let Some(authority) = absolute_authority(target) {
        if authority.is_empty() || authority.contains('@') {
            return Err(reject(400, "invalid authority in absolute-form target"));
        }
        validate_host(authority.as_bytes())?;
        let scheme_len = target.find("://").map_or(0, |i| i + 3);
        &target[scheme_len + authority.len()..]
    } else {
        return Err(reject(400, "unsupported request-target form"));
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    Ok((if path.is_empty() { "/" } else { path }, query))
}

/// Refuse a Host value (or authority) that is not `host[:port]`.
fn validate_host(value: &[u8]) -> Result<(), Rejection> {
    if is_valid_host(value) {
        Ok(())
    } else {
        Err(reject(400, "invalid Host"))
    }
}

/// `1*DIGIT`, no sign, no list, no overflow.
fn parse_content_length(value: &[u8]) -> Result<u64, Rejection> {
    const BAD: Rejection = reject(400, "invalid Content-Length");
    if value.is_empty() {
        return Err(BAD);
    }
    value.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return Err(BAD);
        }
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(BAD)
    })
}

/// Only a lone, final `chunked` is supported: `chunked` anywhere but last
/// (or missing) is a framing error (400, RFC 9112 §6.3); other codings
/// before it are valid HTTP we do not implement (501, as nginx answers).
fn check_transfer_coding(value: &[u8]) -> Result<(), Rejection> {
    const BAD: Rejection = reject(400, "chunked is not the final transfer coding");
    let mut count = 0;
    let mut last_chunked = false;
    for item in value.split(|&b| b == b',') {
        let mut parts = item.split(|&b| b == b';');
        let name = trim_ows(parts.next().unwrap_or(&[]));
        let has_params = parts.next().is_some();
        if !is_token(name) {
            return Err(reject(400, "malformed Transfer-Encoding"));
        }
        if last_chunked {
            return Err(BAD);
        }
        last_chunked = name.eq_ignore_ascii_case(b"chunked");
        if last_chunked && has_params {
            return Err(reject(400, "parameters on chunked"));
        }
        count += 1;
    }
    if !last_chunked {
        return Err(BAD);
    }
    if count > 1 {
        return Err(reject(501, "unsupported transfer coding"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::SocketAddr;

    fn new_request() -> Request {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        Request::empty(addr, addr)
    }

    fn parse(raw: &[u8]) -> Result<Option<Head>, Rejection> {
        parse_head(raw, &Limits::default(), &mut new_request())
    }

    fn status(raw: &str) -> u16 {
        match parse(raw.as_bytes()) {
            Ok(Some(_)) => 200,
            Ok(None) => 0,
            Err(r) => r.status,
        }
    }

    #[test]
    fn parses_a_simple_get() {
        let mut req = new_request();
        let raw = b"\r\nGET /a/b?x=1&y HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\n\r\nrest";
        let head = parse_head(raw, &Limits::default(), &mut req)
            .unwrap()
            .unwrap();
        assert_eq!(head.len, raw.len() - 4);
        assert_eq!(head.framing, Framing::None);
        assert!(head.keep_alive);
        assert_eq!(req.method, "GET");
        assert_eq!(req.target, "/a/b?x=1&y");
        assert_eq!(req.path, "/a/b");
        assert_eq!(req.query.as_deref(), Some("x=1&y"));
        assert_eq!(req.version, Version::Http11);
        assert_eq!(req.headers.get("x-a"), Some(&b"1"[..]));
    }

    #[test]
    fn reuses_the_request_between_heads() {
        let mut req = new_request();
        let limits = Limits::default();
        parse_head(
            b"GET /x?q HTTP/1.1\r\nHost: a\r\nA: 1\r\n\r\n",
            &limits,
            &mut req,
        )
        .unwrap();
        parse_head(b"POST /y HTTP/1.0\r\n\r\n", &limits, &mut req).unwrap();
        assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/y"));
        assert_eq!(req.query, None);
        assert_eq!(req.headers.len(), 0);
        assert_eq!(req.version, Version::Http10);
    }

    #[test]
    fn partial_heads_wait_for_more() {
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\n"), 0);
        assert_eq!(status("GET / HT"), 0);
        assert_eq!(status("\r\n"), 0);
    }

    #[test]
    fn keep_alive_defaults() {
        let ka = |raw: &str| parse(raw.as_bytes()).unwrap().unwrap().keep_alive;
        assert!(ka("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!ka(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n"
        ));
        assert!(!ka(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: x, close\r\n\r\n"
        ));
        assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
        assert!(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!ka(
            "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"
        ));
    }

    #[test]
    fn framing_by_length_and_chunked() {
        let framing = |raw: &str| parse(raw.as_bytes()).unwrap().unwrap().framing;
        assert_eq!(
            framing("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n"),
            Framing::Length(12)
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
            Framing::None
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"),
            Framing::Chunked
        );
        assert_eq!(
            framing("POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n"),
            Framing::Length(3)
        );
    }

    #[test]
    fn rejects_smuggling_shapes() {
        let cases: &[(&str, u16)] = &[
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX\0A: 1\r\n\r\n", 400),
            ("GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400),
            ("GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            ("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            ("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET /#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
            ("GET /\r\n\r\n", 400),
            ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET / FOO/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            ("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
            ("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
        ];
        for (raw, want) in cases {
            assert_eq!(status(raw), *want, "for {raw:?}");
        }
    }

    #[test]
    fn accepts_what_the_rfc_allows() {
        let ok = [
            "GET / HTTP/1.1\nHost: a\n\n",
            "GET / HTTP/1.1\r\nHost:\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX-Obs: caf\u{e9}\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  chunked \r\n\r\n",
        ];
        for raw in ok {
            assert_eq!(status(raw), 200, "for {raw:?}");
        }
    }

    #[test]
    fn absolute_form_gives_path_and_query() {
        let mut req = new_request();
        let raw = b"GET http://example.com:81/p/q?x=y HTTP/1.1\r\nHost: other\r\n\r\n";
        parse_head(raw, &Limits::default(), &mut req)
            .unwrap()
            .unwrap();
        assert_eq!(req.path, "/p/q");
        assert_eq!(req.query.as_deref(), Some("x=y"));
        assert_eq!(req.authority(), Some(("example.com", Some("81"))));
        parse_head(
            b"GET https://h HTTP/1.1\r\nHost: h\r\n\r\n",
            &Limits::default(),
            &mut req,
        )
        .unwrap();
        assert_eq!((req.path.as_str(), req.query.as_deref()), ("/", None));
        parse_head(
            b"GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n",
            &Limits::default(),
            &mut req,
        )
        .unwrap();
        assert_eq!((req.path.as_str(), req.query.as_deref()), ("/", Some("q")));
    }

    #[test]
    fn expectations() {
        let expect = |raw: &str| parse(raw.as_bytes()).unwrap().unwrap().expect;
        assert_eq!(
            expect("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n"),
            Expect::Continue
        );
        assert_eq!(
            expect("POST / HTTP/1.1\r\nHost: a\r\nExpect: later\r\n\r\n"),
            Expect::Unknown
        );
        assert_eq!(
            expect("POST / HTTP/1.1\r\nHost: a\r\nExpect: x\r\nExpect: 100-continue\r\n\r\n"),
            Expect::Unknown
        );
        assert_eq!(
            expect("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"),
            Expect::Nothing
        );
    }

    #[test]
    fn limits_answer_414_and_431() {
        let limits = Limits {
            max_request_line: 20,
            max_header_bytes: 40,
            max_headers: 3,
            ..Limits::default()
        };
        let p = |raw: &str| match parse_head(raw.as_bytes(), &limits, &mut new_request()) {
            Ok(Some(_)) => 200,
            Ok(None) => 0,
            Err(r) => r.status,
        };
        assert_eq!(p("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaa"), 414);
        assert_eq!(p("GET /aaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n"), 414);
        assert_eq!(p("GET /a HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
        assert_eq!(
            p("GET /a HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\nZ: 3\r\n\r\n"),
            431
        );
        assert_eq!(
            p("GET /a HTTP/1.1\r\nHost: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            431
        );
        assert_eq!(
            p("GET /a HTTP/1.1\r\nHost: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nB: bbbbb\r\n\r\n"),
            431
        );
    }

    #[test]
    fn endless_empty_lines_are_bounded() {
        let limits = Limits::default();
        let raw = b"\r\n".repeat(limits.max_head());
        assert_eq!(
            parse_head(&raw, &limits, &mut new_request())
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn many_headers_beyond_the_stack_array() {
        let limits = Limits {
            max_headers: 300,
            max_header_bytes: 1 << 20,
            ..Limits::default()
        };
        let mut raw = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..250 {
            raw.push_str(&format!("X-{i}: v\r\n"));
        }
        raw.push_str("\r\n");
        let mut req = new_request();
        assert!(parse_head(raw.as_bytes(), &limits, &mut req)
            .unwrap()
            .is_some());
        assert_eq!(req.headers.len(), 251);
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(raw in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&raw);
        }

        #[test]
        fn never_panics_on_mutated_requests(
            pos in 0usize..80,
            byte in any::<u8>(),
        ) {
            let mut raw = b"POST /p?q HTTP/1.1\r\nHost: a:1\r\nContent-Length: 5\r\nX: y\r\n\r\nhello".to_vec();
            let pos = pos % raw.len();
            raw[pos] = byte;
            if let Ok(Some(head)) = parse(&raw) {
                prop_assert!(head.len <= raw.len());
            }
        }

        #[test]
        fn valid_heads_round_trip(
            path in "/[a-zA-Z0-9._~%/-]{0,40}",
            query in proptest::option::of("[a-zA-Z0-9=&%]{0,20}"),
            headers in proptest::collection::vec(("X-[A-Za-z0-9-]{1,10}", "[ -~]{0,30}"), 0..10),
        ) {
            let target = match &query { Some(q) => format!("{path}?{q}"), None => path.clone() };
            let mut raw = format!("GET {target} HTTP/1.1\r\nHost: h\r\n");
            for (n, v) in &headers {
                raw.push_str(&format!("{n}: {v}\r\n"));
            }
            raw.push_str("\r\n");
            let mut req = new_request();
            let head = parse_head(raw.as_bytes(), &Limits::default(), &mut req).unwrap().unwrap();
            prop_assert_eq!(head.len, raw.len());
            prop_assert_eq!(&req.path, &path);
            prop_assert_eq!(&req.query, &query);
            prop_assert_eq!(req.headers.len(), headers.len() + 1);
            for ((n, v), (gn, gv)) in headers.iter().zip(req.headers.iter().skip(1)) {
                prop_assert_eq!(n.as_str(), gn);
                prop_assert_eq!(v.trim_matches([' ', '\t']).as_bytes(), gv);
            }
        }
    }
}
