//! The bounds on what one client may make the server hold or wait for.

use std::time::Duration;

/// Every limit of the connection loop; defaults follow nginx where it has one.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest request line (method, target, version); longer answers 414.
    pub(crate) max_request_line: usize,
    /// Largest header block in bytes; larger answers 431.
    pub(crate) max_header_bytes: usize,
    /// Most header fields; more answers 431.
    pub(crate) max_headers: usize,
    /// Total time allowed to receive a request head once its first byte arrived.
    pub(crate) header_timeout: Duration,
    /// Total time allowed to receive a request body.
    pub(crate) body_timeout: Duration,
    /// How long an idle keep-alive connection is kept open.
    pub(crate) keepalive_timeout: Duration,
    /// How long a response write may make no progress before the client is
    /// dropped. Like nginx's `send_timeout` it is measured between two
    /// successful writes, so a large file to a slow but live client finishes.
    pub(crate) send_timeout: Duration,
}

impl Limits {
    /// Default request-line limit (nginx: 8 KiB).
    pub(crate) const MAX_REQUEST_LINE: usize = 8 * 1024;
    /// Default header-block limit.
    pub(crate) const MAX_HEADER_BYTES: usize = 32 * 1024;
    /// Default header-count limit.
    pub(crate) const MAX_HEADERS: usize = 100;
    /// Default head timeout.
    pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default body timeout.
    pub(crate) const BODY_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default keep-alive idle timeout.
    pub(crate) const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(75);
    /// Default send timeout.
    pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(60);

    /// The most unread request-body bytes discarded to keep a connection
    /// alive after the service answered without reading its body; a larger
    /// remainder closes the connection instead (cheaper than reading it).
    pub(crate) const MAX_DRAIN: u64 = 1024 * 1024;
    /// Longest chunk-size line (size, extensions, CRLF) of a chunked body:
    /// extensions are tolerated, not stored, but a client may not stream an
    /// endless one.
    pub(crate) const MAX_CHUNK_LINE: usize = 4096;
    /// Largest trailer section of a chunked body; trailers are discarded.
    pub(crate) const MAX_TRAILER_BYTES: usize = 8 * 1024;
    /// How long a closing connection keeps reading and discarding what the
    /// client still sends after the final response, so that closing a socket
    /// with unread input (which makes the kernel send RST) cannot destroy the
    /// response before the client read it (nginx's `lingering_time`).
    pub(crate) const LINGER_TIME: Duration = Duration::from_secs(2);

    /// The most bytes a request head can occupy: the request line plus the
    /// header block and their line ends.
    pub(crate) fn max_head(&self) -> usize {
        self.max_request_line
            .saturating_add(self.max_header_bytes)
            .saturating_add(2)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: Self::MAX_REQUEST_LINE,
            max_header_bytes: Self::MAX_HEADER_BYTES,
            max_headers: Self::MAX_HEADERS,
            header_timeout: Self::HEADER_TIMEOUT,
            body_timeout: Self::BODY_TIMEOUT,
            keepalive_timeout: Self::KEEPALIVE_TIMEOUT,
            send_timeout: Self::SEND_TIMEOUT,
        }
    }
}
