//! The HTTP/1.1 side of wasibin: the connection loop on httparse, request
//! bodies, response framing. It knows nothing about wasm or files; it calls a
//! [`Service`] for every request and writes what the service answers.

mod access_log;
mod body;
mod chunked;
mod conn;
mod date;
mod deadline;
pub(crate) mod grammar;
mod handshake;
mod head;
mod headers;
mod io;
mod limits;
mod request;
pub(crate) mod request_id;
mod response;
mod sink;

pub(crate) use access_log::{AccessLog, LogFormat};
pub(crate) use body::{BodyError, RequestBody};
/// For the fuzz targets ([`crate::fuzzing`]).
pub(crate) use chunked::{Chunk, ChunkedDecoder};
pub(crate) use conn::{serve_connection, ConnConfig};
pub(crate) use head::parse_head;
pub(crate) use headers::Headers;
pub(crate) use limits::Limits;
pub(crate) use request::{Request, Version};
pub(crate) use response::{reason_phrase, Body, FileBody, Response, StreamBody, StreamError};
pub(crate) use sink::{body_channel, BodySink};

use std::future::Future;

/// What the connection loop calls for every well-formed request.
///
/// A trait rather than a closure so that the server, the `run` subcommand and
/// tests can each plug their own dispatch into the same connection loop.
pub(crate) trait Service: Send + Sync + 'static {
    /// Answer one request. The body may be read (bounded) through `body`; what
    /// the service leaves unread is drained or the connection is closed by the
    /// caller, never parsed as the next request.
    fn call<'a>(
        &'a self,
        req: &'a Request,
        body: &'a mut RequestBody<'_>,
    ) -> impl Future<Output = Response> + Send + 'a;
}
