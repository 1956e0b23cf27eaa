//! What a service answers; the connection loop frames and writes it.

use bytes::Bytes;

use std::fmt;
use std::pin::Pin;

use super::grammar::{is_field_byte, is_field_value, is_server_written, is_token};
use super::{BodySink, Headers};
use crate::digits::push_decimal;
use crate::telemetry::RouteLabel;

/// A response to write. The connection loop adds `Date`, `Server`, framing
/// (`Content-Length` or chunked) and `Connection`; a service must not set them.
#[derive(Debug)]
pub(crate) struct Response {
    /// The status code (100..=599).
    pub(crate) status: u16,
    /// A reason phrase other than the standard one (a CGI `Status:` line may
    /// carry its own); `None` uses the standard phrase.
    pub(crate) reason: Option<String>,
    /// End-to-end header fields, in order, duplicates kept.
    pub(crate) headers: Headers,
    /// The payload; for HEAD requests its length is announced but not sent.
    pub(crate) body: Body,
    /// Close the connection after this response.
    pub(crate) close: bool,
    /// Who answered, for the request metrics; set by the dispatcher.
    pub(crate) route: RouteLabel,
}

/// A response payload: known whole before the first byte is written, or
/// streamed while it is produced.
#[derive(Debug)]
pub(crate) enum Body {
    /// No payload (`Content-Length: 0`, or none for 204/304).
    Empty,
    /// A payload held in memory.
    Bytes(Bytes),
    /// A region of an open file, written without reading it whole into memory.
    File(FileBody),
    /// A payload still being produced, sent as it comes: chunked to an
    /// HTTP/1.1 client, delimited by the connection's end to an HTTP/1.0 one.
    Stream(StreamBody),
}

/// Why a streamed body ended before its end: the response is cut off (no
/// last chunk, the connection closed), and this goes to the log.
pub(crate) type StreamError = Box<dyn std::error::Error + Send + Sync>;

/// A body produced while it is sent.
pub(crate) struct StreamBody {
    /// The payload's frames; an error cuts the response off.
    pub(crate) frames: Pin<Box<dyn http_body::Body<Data = Bytes, Error = StreamError> + Send>>,
    /// The length its producer promised, if any: announced as
    /// `Content-Length` and held to (a body longer or shorter is cut off and
    /// the connection closed, never a desync).
    pub(crate) length: Option<u64>,
    /// Where the rest of the request body goes while the response streams,
    /// when its producer still reads it.
    pub(crate) request_body: Option<BodySink>,
}

impl fmt::Debug for StreamBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamBody")
            .field("request_body", &self.request_body.is_some())
            .finish_non_exhaustive()
    }
}

/// A byte range of an open file.
#[derive(Debug)]
pub(crate) struct FileBody {
    /// The open file.
    pub(crate) file: std::fs::File,
    /// Where the range starts.
    pub(crate) offset: u64,
    /// How many bytes to send.
    pub(crate) len: u64,
}

impl Body {
    /// The number of payload bytes; `None` for a stream that promised none,
    /// whose length is known only at its end.
    pub(crate) fn len(&self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Bytes(b) => Some(b.len() as u64),
            Body::File(f) => Some(f.len),
            Body::Stream(stream) => stream.length,
        }
    }
}

impl Response {
    /// A response with the given status and no headers or body.
    pub(crate) fn new(status: u16) -> Self {
        Response {
            status,
            reason: None,
            headers: Headers::new(),
            body: Body::Empty,
            close: false,
            route: RouteLabel::None,
        }
    }

    /// A small HTML error page for `status` whose text is fixed by the server,
    /// never by request data, so nothing a client sends is echoed unescaped.
    pub(crate) fn error_page(status: u16) -> Self {
        let reason = reason_phrase(status);
        let body = format!(
            "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\n\
             <body><h1>{status} {reason}</h1><hr><p>{server}</p></body></html>\n",
            server = crate::SERVER_SOFTWARE
        );
        let mut response = Response::new(status);
        response
            .headers
            .push_slices("Content-Type", b"text/html; charset=utf-8");
        response.body = Body::Bytes(Bytes::from(body));
        response
    }
}

/// The standard reason phrase of `status` (RFC 9110 §15 and the IANA
/// registry); an empty string for codes without one, which the status line
/// allows.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        511 => "Network Authentication Required",
        _ => "",
    }
}

/// Whether a response with this status never carries content (RFC 9110
/// §6.4.1): no body bytes and no `Content-Length`.
pub(crate) fn status_has_no_body(status: u16) -> bool {
    status < 200 || status == 204 || status == 304
}

/// What the `Connection` header of a response says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectionHeader {
    /// HTTP/1.1 keep-alive: the default, no header.
    Omit,
    /// `Connection: keep-alive`, for an HTTP/1.0 client that asked for it.
    KeepAlive,
    /// `Connection: close`.
    Close,
}

/// How the body after a head is delimited, as the head announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: a status without content, or a body that ends with the
    /// connection (HTTP/1.0).
    Unannounced,
}

/// Append the status line and header block of `response` to `out`, adding
/// `Server`, `Date`, `X-Request-Id` (when `request_id` is not empty), the
/// `framing` and `Connection`. Header fields a service must not set
/// (framing and these server fields) or that could split the response (CR,
/// LF, NUL, an invalid name) are dropped and logged: a service bug must not
/// become response splitting.
pub(crate) fn encode_head(
    out: &mut Vec<u8>,
    response: &Response,
    request_id: &str,
    framing: Framing,
    connection: ConnectionHeader,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, u64::from(response.status));
    out.push(b' ');
    let reason = match response.reason.as_deref() {
        Some(r) if r.bytes().all(is_field_byte) => r,
        _ => reason_phrase(response.status),
    };
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\nServer: ");
    out.extend_from_slice(crate::SERVER_SOFTWARE.as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    super::date::with_http_date(|d| out.extend_from_slice(d));
    out.extend_from_slice(b"\r\n");
    if !request_id.is_empty() {
        out.extend_from_slice(b"X-Request-Id: ");
        out.extend_from_slice(request_id.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in response.headers.iter() {
        if is_server_written(name) {
            tracing::debug!(
                header = name,
                "service set a connection-managed header; dropped"
            );
            continue;
        }
        if !is_token(name.as_bytes()) || !is_field_value(value) {
            tracing::warn!(
                header = name,
                "service produced an invalid header field; dropped"
            );
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Length(len) => {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, len);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::Unannounced => {}
    }
    match connection {
        ConnectionHeader::Omit => {}
        ConnectionHeader::KeepAlive => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        ConnectionHeader::Close => out.extend_from_slice(b"Connection: close\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_of(response: &Response, len: Option<u64>, conn: ConnectionHeader) -> String {
        let mut out = Vec::new();
        let framing = len.map_or(Framing::Unannounced, Framing::Length);
        encode_head(&mut out, response, "", framing, conn);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn encodes_status_server_date_fields_and_framing() {
        let mut r = Response::new(200);
        r.headers.push("Content-Type", "text/plain");
        r.headers.push("Set-Cookie", "a=1");
        r.headers.push("Set-Cookie", "b=2");
        let head = head_of(&r, Some(1234), ConnectionHeader::Omit);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\nServer: wasibin/"));
        assert!(head.contains("\r\nDate: "));
        assert!(head.contains(" GMT\r\n"));
        assert!(head.contains("Content-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"));
        assert!(head.ends_with("Content-Length: 1234\r\n\r\n"));
        assert!(!head.contains("Connection"));
    }

    #[test]
    fn connection_header_variants() {
        let r = Response::new(204);
        let head = head_of(&r, None, ConnectionHeader::Close);
        assert!(head.starts_with("HTTP/1.1 204 No Content\r\n"));
        assert!(head.ends_with("Connection: close\r\n\r\n"));
        assert!(!head.contains("Content-Length"));
        let head = head_of(&r, None, ConnectionHeader::KeepAlive);
        assert!(head.ends_with("Connection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn drops_reserved_and_invalid_fields_and_bad_reasons() {
        let mut r = Response::new(299);
        r.reason = Some("Bad\r\nX-Injected: 1".into());
        r.headers.push("Content-Length", "5");
        r.headers.push("transfer-encoding", "chunked");
        r.headers.push("X-Split", "a\r\nX-Injected: 1");
        r.headers.push("Bad Name", "x");
        r.headers.push("X-Fine", "ok");
        let head = head_of(&r, Some(0), ConnectionHeader::Omit);
        assert!(head.starts_with("HTTP/1.1 299 \r\n"));
        assert!(!head.contains("Injected"));
        assert!(!head.contains("chunked"));
        assert!(!head.contains("Bad Name"));
        assert_eq!(head.matches("Content-Length").count(), 1);
        assert!(head.contains("X-Fine: ok\r\n"));
        let mut r = Response::new(404);
        r.reason = Some("Nicht gefunden".into());
        assert!(head_of(&r, None, ConnectionHeader::Omit)
            .starts_with("HTTP/1.1 404 Nicht gefunden\r\n"));
    }

    #[test]
    fn error_pages_are_fixed_html() {
        let r = Response::error_page(431);
        assert_eq!(r.status, 431);
        assert_eq!(
            r.headers.get_str("content-type"),
            Some("text/html; charset=utf-8")
        );
        let Body::Bytes(body) = &r.body else {
            panic!("no body")
        };
        let text = std::str::from_utf8(body).unwrap();
        assert!(text.contains("<h1>431 Request Header Fields Too Large</h1>"));
    }
}
