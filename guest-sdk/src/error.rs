//! Handler errors and the responses they become.

use std::fmt;
use std::io;

use crate::form::FormError;
use crate::response::Response;

/// Any error a handler returns: boxing lets `?` work on I/O errors, parse
/// errors, `String`s and `anyhow::Error` alike.
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a handler returns: a [`Response`] or an [`Error`].
pub type Result<T = Response, E = Error> = std::result::Result<T, E>;

/// An error that is meant for the client: its status and message are sent as
/// they are (`400 missing field "firstname"`), where any other error becomes
/// a bare 500.
///
/// ```
/// use wasibin_guest::{HttpError, Request, Response};
/// fn handle(req: &Request) -> wasibin_guest::Result {
///     let name = req.query().get("name").ok_or(HttpError::new(400, "name is required"))?;
///     Ok(Response::text(format!("Hello, {name}!")))
/// }
/// let resp = wasibin_guest::dispatch(&Request::builder("GET", "/hello").build(), handle);
/// assert_eq!(resp.status(), 400);
/// assert_eq!(resp.body(), b"name is required\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    status: u16,
    message: String,
}

impl HttpError {
    /// An error answered with `status` and `message`, both shown to the client.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// The status it answers with.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The message the client sees.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for HttpError {}

/// The response for a handler's error. Client mistakes the SDK knows about
/// ([`HttpError`], [`FormError`], [`RequestError`]) keep their status and
/// message; anything else is a 500 whose cause goes to stderr (the host's
/// log), never to the client.
pub(crate) fn error_response(error: &Error) -> Response {
    if let Some(e) = error.downcast_ref::<HttpError>() {
        return Response::error(e.status, &e.message);
    }
    if let Some(e) = error.downcast_ref::<FormError>() {
        return Response::error(e.status(), e);
    }
    if let Some(e) = error.downcast_ref::<RequestError>() {
        if e.status() < 500 {
            return Response::error(e.status(), e);
        }
    }
    let mut cause = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        cause.push_str(": ");
        cause.push_str(&s.to_string());
        source = s.source();
    }
    eprintln!("handler failed: {cause}");
    Response::error(500, "Internal Server Error")
}

/// Why the request could not be read from the environment and stdin.
#[derive(Debug)]
pub enum RequestError {
    /// `CONTENT_LENGTH` is not a decimal number.
    InvalidContentLength(String),
    /// stdin ended before `CONTENT_LENGTH` bytes.
    TruncatedBody {
        /// What `CONTENT_LENGTH` announced.
        expected: u64,
        /// What stdin delivered.
        received: u64,
    },
    /// Reading stdin failed.
    Io(io::Error),
}

impl RequestError {
    /// The status that answers it: 400 for a broken request, 500 when the
    /// environment itself failed.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidContentLength(_) | Self::TruncatedBody { .. } => 400,
            Self::Io(_) => 500,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidContentLength(v) => write!(f, "invalid CONTENT_LENGTH {v:?}"),
            Self::TruncatedBody { expected, received } => write!(
                f,
                "request body truncated: CONTENT_LENGTH is {expected}, stdin gave {received} bytes"
            ),
            Self::Io(e) => write!(f, "reading the request body: {e}"),
        }
    }
}

impl std::error::Error for RequestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}
