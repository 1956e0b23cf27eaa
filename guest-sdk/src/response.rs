//! The handler's answer and its CGI encoding (RFC 3875 §6): a `Status` line,
//! header lines, a blank line, the body.
//!
//! Every header is checked before the first byte is written, so a value with
//! CR, LF or NUL can never split the header block (the host would answer 502
//! anyway; the SDK reports the handler's mistake instead of emitting it).

use std::fmt;
use std::io::{self, Write};

use crate::cookie::{Cookie, CookieError};
use crate::token::is_token;

/// The body type when a handler sets none, so that every document response
/// carries the `Content-Type` RFC 3875 §6.3.1 requires.
pub const DEFAULT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The largest body [`Response::write_to`] copies behind the header block to
/// write both at once; a larger one is written on its own, where a second
/// write costs less than copying it (and holding it twice in memory).
const ONE_WRITE_BODY: usize = 64 * 1024;

/// An HTTP response a handler returns.
///
/// Built with a constructor for the common shapes and `with_*` methods for the
/// rest; nothing is written until [`Response::write_to`], which refuses a
/// response that would not survive the trip through the CGI header block.
///
/// ```
/// use wasibin_guest::{Cookie, Response};
/// let resp = Response::html("<h1>Created</h1>")
///     .with_status(201)
///     .with_header("Cache-Control", "no-store")
///     .with_cookie(Cookie::new("seen", "1").path("/"));
/// let cgi = String::from_utf8(resp.to_cgi().unwrap()).unwrap();
/// assert_eq!(
///     cgi,
///     "Status: 201 Created\n\
///      Content-Type: text/html; charset=utf-8\n\
///      Cache-Control: no-store\n\
///      Set-Cookie: seen=1; Path=/\n\
///      \n\
///      <h1>Created</h1>"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// A mistake found while building (an invalid cookie), reported by
    /// [`Response::validate`] so the builder methods can stay infallible.
    deferred: Option<ResponseError>,
    /// `Location` is a path the host serves instead (no `Status` line).
    local_redirect: bool,
}

/// Why a [`Response`] cannot be written as a CGI response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    /// Not a final status a CGI host accepts (200..=599).
    InvalidStatus(u16),
    /// A header name that is empty or not an RFC 9110 token.
    InvalidHeaderName(String),
    /// A header value with a control character (CR, LF, NUL, ...), which would
    /// split or corrupt the header block.
    InvalidHeaderValue(String),
    /// `Status` set as a header: use [`Response::with_status`].
    ReservedHeader(String),
    /// A `Location` that is not a URL in visible ASCII, or a local redirect
    /// that is not an absolute path.
    InvalidLocation(String),
    /// A cookie that does not fit in `Set-Cookie`.
    InvalidCookie(CookieError),
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidStatus(s) => {
                write!(f, "status {s} is not a final HTTP status (200..=599)")
            }
            Self::InvalidHeaderName(n) => write!(f, "invalid header name {n:?}"),
            Self::InvalidHeaderValue(n) => {
                write!(
                    f,
                    "header {n:?} has a control character (CR, LF, NUL, ...) in its value"
                )
            }
            Self::ReservedHeader(n) => write!(f, "header {n:?} is reserved: use with_status"),
            Self::InvalidLocation(l) => write!(f, "invalid Location {l:?}"),
            Self::InvalidCookie(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ResponseError {}

impl Response {
    /// An empty response with `status`; without a body type it is sent as
    /// [`DEFAULT_CONTENT_TYPE`].
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            deferred: None,
            local_redirect: false,
        }
    }

    /// 200 with `body` as `text/plain; charset=utf-8`.
    pub fn text(body: impl Into<String>) -> Self {
        Self::bytes(DEFAULT_CONTENT_TYPE, body.into().into_bytes())
    }

    /// 200 with `body` as `text/html; charset=utf-8`. Escape what came from
    /// the request with [`crate::escape_html`].
    pub fn html(body: impl Into<String>) -> Self {
        Self::bytes("text/html; charset=utf-8", body.into().into_bytes())
    }

    /// 200 with any body and type (an image, a download).
    pub fn bytes(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self::new(200)
            .with_header("Content-Type", content_type)
            .with_body(body)
    }

    /// 200 with `value` serialized as `application/json`.
    ///
    /// ```
    /// let resp = wasibin_guest::Response::json(&serde_json::json!({"ok": true})).unwrap();
    /// assert_eq!(resp.body(), br#"{"ok":true}"#);
    /// ```
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Self::bytes("application/json", serde_json::to_vec(value)?))
    }

    /// A text response with an error status and a short message: 404, 400,
    /// 405... The message is shown to the client, so keep internals out of it.
    pub fn error(status: u16, message: impl fmt::Display) -> Self {
        Self::text(format!("{message}\n")).with_status(status)
    }

    /// 404 Not Found.
    pub fn not_found() -> Self {
        Self::error(404, "Not Found")
    }

    /// 405 with the `Allow` header listing what the handler does accept.
    pub fn method_not_allowed(allowed: &[&str]) -> Self {
        Self::error(405, "Method Not Allowed").with_header("Allow", allowed.join(", "))
    }

    /// Asks the host to serve `path` (an absolute path on this server, with an
    /// optional query) instead, as a GET, without a round trip to the client:
    /// RFC 3875's local redirect.
    ///
    /// ```
    /// let resp = wasibin_guest::Response::redirect_local("/index.html");
    /// assert_eq!(resp.to_cgi().unwrap(), b"Location: /index.html\n\n");
    /// ```
    pub fn redirect_local(path: &str) -> Self {
        let mut resp = Self::new(200).with_header("Location", escape_location(path));
        resp.local_redirect = true;
        resp
    }

    /// 302 Found to `url` (absolute, or a path on this server), the browser
    /// follows it.
    pub fn redirect(url: &str) -> Self {
        Self::redirect_with(302, url)
    }

    /// 303 See Other to `url`: the answer to a POST, so that reloading the
    /// next page does not resubmit the form.
    pub fn see_other(url: &str) -> Self {
        Self::redirect_with(303, url)
    }

    /// A client redirect with a chosen status: 301, 302, 303, 307 or 308.
    /// Spaces and non-ASCII in `url` are percent-encoded; other statuses are
    /// refused by [`Response::validate`].
    ///
    /// ```
    /// let resp = wasibin_guest::Response::redirect_with(308, "https://example.org/new place");
    /// assert_eq!(resp.header("Location"), Some("https://example.org/new%20place"));
    /// ```
    pub fn redirect_with(status: u16, url: &str) -> Self {
        let mut resp = Self::new(status).with_header("Location", escape_location(url));
        if !matches!(status, 301 | 302 | 303 | 307 | 308) {
            resp.defer(ResponseError::InvalidStatus(status));
        }
        resp
    }

    /// Replaces the status code.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Sets header `name` to `value`, replacing any earlier values of that
    /// name (case-insensitive).
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Adds one more value for header `name`, keeping earlier ones (several
    /// `Link` or `Vary` lines). `Content-Type` and `Location` exist once, so
    /// for them this replaces.
    pub fn append_header(self, name: &str, value: impl Into<String>) -> Self {
        if is_singleton(name) {
            return self.with_header(name, value);
        }
        let mut resp = self;
        resp.headers.push((name.to_owned(), value.into()));
        resp
    }

    /// Adds a `Set-Cookie` header; call it once per cookie.
    pub fn with_cookie(mut self, cookie: Cookie) -> Self {
        if let Err(e) = cookie.validate() {
            self.defer(ResponseError::InvalidCookie(e));
        }
        self.headers
            .push(("Set-Cookie".to_owned(), cookie.to_string()));
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All headers in the order they will be written.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Whether this response can be written: status in range, header names
    /// tokens, values free of control characters, cookies and `Location` valid.
    pub fn validate(&self) -> Result<(), ResponseError> {
        if let Some(e) = &self.deferred {
            return Err(e.clone());
        }
        if !(200..=599).contains(&self.status) {
            return Err(ResponseError::InvalidStatus(self.status));
        }
        for (name, value) in &self.headers {
            if !is_token(name) {
                return Err(ResponseError::InvalidHeaderName(name.clone()));
            }
            if name.eq_ignore_ascii_case("status") {
                return Err(ResponseError::ReservedHeader(name.clone()));
            }
            if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                return Err(ResponseError::InvalidHeaderValue(name.clone()));
            }
            if name.eq_ignore_ascii_case("location") {
                let bad = value.is_empty()
                    || !value.bytes().all(|b| b.is_ascii_graphic())
                    || (self.local_redirect
                        && (!value.starts_with('/') || value.starts_with("//")));
                if bad {
                    return Err(ResponseError::InvalidLocation(value.clone()));
                }
            }
        }
        Ok(())
    }

    /// Writes the CGI response to `out` (stdout in a plugin, a `Vec` in a
    /// test). Nothing is written if [`Response::validate`] fails; that error
    /// comes back as [`io::ErrorKind::InvalidData`] wrapping the
    /// [`ResponseError`].
    ///
    /// The header block and a body of up to 64 KiB go out in a single
    /// `write_all`: to a plugin's stdout that is one `fd_write` host call
    /// instead of one per header line.
    pub fn write_to<W: Write>(&self, out: W) -> io::Result<()> {
        self.validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.write_validated(out)
    }

    /// [`Response::write_to`] for a response already validated, as
    /// [`crate::run`] has from [`crate::dispatch`]: validating again cost
    /// ~1.2k instructions per request.
    pub(crate) fn write_validated<W: Write>(&self, mut out: W) -> io::Result<()> {
        let body = self.sent_body();
        if body.len() <= ONE_WRITE_BODY {
            out.write_all(&self.head_and(body))?;
        } else {
            out.write_all(&self.head_and(&[]))?;
            out.write_all(body)?;
        }
        out.flush()
    }

    /// The whole CGI response as bytes, for tests and for hosts that want a
    /// buffer.
    pub fn to_cgi(&self) -> Result<Vec<u8>, ResponseError> {
        self.validate()?;
        Ok(self.head_and(self.sent_body()))
    }

    /// The header block, blank line included, of a validated response,
    /// followed by `body`, in one allocation.
    fn head_and(&self, body: &[u8]) -> Vec<u8> {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 3)
            .sum();
        let mut head = Vec::with_capacity(64 + DEFAULT_CONTENT_TYPE.len() + headers + body.len());
        if !self.local_redirect {
            // A validated status has three digits; written by hand rather
            // than with `to_string`, which allocates and runs the formatter.
            let s = self.status;
            head.extend_from_slice(b"Status: ");
            head.extend_from_slice(&[
                b'0' + (s / 100 % 10) as u8,
                b'0' + (s / 10 % 10) as u8,
                b'0' + (s % 10) as u8,
            ]);
            if let Some(reason) = reason_phrase(self.status) {
                head.push(b' ');
                head.extend_from_slice(reason.as_bytes());
            }
            head.push(b'\n');
        }
        let needs_type = !self.local_redirect
            && self.header("Content-Type").is_none()
            && self.header("Location").is_none()
            && !matches!(self.status, 204 | 205 | 304);
        if needs_type {
            head.extend_from_slice(b"Content-Type: ");
            head.extend_from_slice(DEFAULT_CONTENT_TYPE.as_bytes());
            head.push(b'\n');
        }
        for (name, value) in &self.headers {
            head.extend_from_slice(name.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.push(b'\n');
        }
        head.push(b'\n');
        head.extend_from_slice(body);
        head
    }

    /// A local redirect's body is ignored by the host (RFC 3875 §6.2.2), so
    /// it is not sent at all.
    fn sent_body(&self) -> &[u8] {
        if self.local_redirect {
            &[]
        } else {
            &self.body
        }
    }

    fn defer(&mut self, error: ResponseError) {
        self.deferred.get_or_insert(error);
    }
}

fn is_singleton(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-type") || name.eq_ignore_ascii_case("location")
}

/// Percent-encodes what may not appear in a `Location` value (spaces,
/// controls, non-ASCII) and leaves the rest, including existing `%XX`, alone:
/// what browsers do with a URL typed into the address bar.
fn escape_location(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for b in url.bytes() {
        if b.is_ascii_graphic() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The standard reason phrase, for a readable `Status` line; the host uses
/// its own phrase for codes missing here.
fn reason_phrase(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        418 => "I'm a teapot",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cgi(r: &Response) -> String {
        String::from_utf8(r.to_cgi().unwrap()).unwrap()
    }

    #[test]
    fn text_response() {
        assert_eq!(
            cgi(&Response::text("hi")),
            "Status: 200 OK\nContent-Type: text/plain; charset=utf-8\n\nhi"
        );
    }

    #[test]
    fn empty_response_gets_default_type_except_no_content() {
        assert_eq!(
            cgi(&Response::new(418)),
            "Status: 418 I'm a teapot\nContent-Type: text/plain; charset=utf-8\n\n"
        );
        assert_eq!(cgi(&Response::new(204)), "Status: 204 No Content\n\n");
        assert_eq!(
            cgi(&Response::new(299)),
            "Status: 299\nContent-Type: text/plain; charset=utf-8\n\n"
        );
    }

    #[test]
    fn client_redirects() {
        assert_eq!(
            cgi(&Response::see_other("/thanks")),
            "Status: 303 See Other\nLocation: /thanks\n\n"
        );
        assert_eq!(
            Response::redirect("https://e.org/ä").header("Location"),
            Some("https://e.org/%C3%A4")
        );
        assert_eq!(
            Response::redirect_with(200, "/x").validate(),
            Err(ResponseError::InvalidStatus(200))
        );
    }

    #[test]
    fn local_redirect_must_be_a_path_and_has_no_body() {
        let r = Response::redirect_local("/a?b=c").with_body("ignored");
        assert_eq!(cgi(&r), "Location: /a?b=c\n\n");
        for bad in ["https://e.org/", "//e.org/x", "relative", ""] {
            assert!(
                matches!(
                    Response::redirect_local(bad).validate(),
                    Err(ResponseError::InvalidLocation(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn location_injection_is_escaped() {
        let r = Response::redirect("/x\r\nSet-Cookie: evil=1");
        assert_eq!(r.header("Location"), Some("/x%0D%0ASet-Cookie:%20evil=1"));
        assert!(r.validate().is_ok());
    }

    #[test]
    fn headers_replace_or_append() {
        let r = Response::text("x")
            .with_header("content-type", "text/csv")
            .append_header("Vary", "Accept")
            .append_header("Vary", "Cookie")
            .append_header("Content-Type", "text/tab-separated-values")
            .with_header("X-One", "1")
            .with_header("x-one", "2");
        let all: Vec<_> = r.headers().collect();
        assert_eq!(
            all,
            [
                ("Vary", "Accept"),
                ("Vary", "Cookie"),
                ("Content-Type", "text/tab-separated-values"),
                ("x-one", "2"),
            ]
        );
    }

    #[test]
    fn refuses_bad_headers_and_writes_nothing() {
        let cases = [
            (Response::text("x").with_header("X-A", "a\nb"), "value"),
            (Response::text("x").with_header("X-A", "a\rb"), "value"),
            (Response::text("x").with_header("X-A", "a\0b"), "value"),
            (Response::text("x").with_header("Bad Name", "v"), "name"),
            (Response::text("x").with_header("", "v"), "name"),
            (Response::text("x").with_header("Status", "200"), "reserved"),
            (
                Response::text("x").with_header("Location", "/a b"),
                "location",
            ),
            (Response::text("x").with_status(100), "status"),
            (Response::text("x").with_status(600), "status"),
            (
                Response::text("x").with_cookie(Cookie::new("a", "b;c")),
                "cookie",
            ),
        ];
        for (resp, what) in cases {
            let mut out = Vec::new();
            let err = resp.write_to(&mut out).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{what}");
            assert!(out.is_empty(), "{what}");
        }
    }

    #[test]
    fn several_cookies_are_kept() {
        let r = Response::text("x")
            .with_cookie(Cookie::new("a", "1"))
            .with_cookie(Cookie::removal("b"));
        assert_eq!(
            cgi(&r),
            "Status: 200 OK\nContent-Type: text/plain; charset=utf-8\nSet-Cookie: a=1\nSet-Cookie: b=; Max-Age=0\n\nx"
        );
    }

    #[test]
    fn error_helpers() {
        let r = Response::method_not_allowed(&["GET", "POST"]);
        assert_eq!(r.status(), 405);
        assert_eq!(r.header("Allow"), Some("GET, POST"));
        assert_eq!(Response::not_found().body(), b"Not Found\n");
    }

    proptest! {
        #[test]
        fn a_valid_response_has_a_clean_header_block(
            name in "\\PC{0,12}",
            value in "(.|\r|\n|\0){0,24}",
            status in 0u16..1000,
        ) {
            let r = Response::text("body").with_status(status).with_header(&name, value);
            if let Ok(bytes) = r.to_cgi() {
                let end = bytes.windows(2).position(|w| w == b"\n\n").unwrap();
                let head = std::str::from_utf8(&bytes[..end]).unwrap();
                for line in head.split('\n') {
                    prop_assert!(line.contains(": "), "{line:?}");
                    prop_assert!(!line.contains(['\r', '\0']));
                }
            }
        }
    }
}
