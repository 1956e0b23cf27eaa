//! A CGI body sent while the guest still writes it: what followed the head
//! when the answer started, then what the guest writes next, read from its
//! stdout pipe (whose bound holds a slow client's guest back). The body
//! ends when the guest has ended, with its failure if it failed after the
//! head went out; the connection then cuts the response off.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt as _;

use crate::http::{Body, BodySink, StreamBody, StreamError};
use crate::plugins::GatePermit;
use crate::runtime::{CgiRun, RunError};

/// Names a request in the log lines written after its answer started.
#[derive(Debug, Clone)]
pub(super) struct Tag {
    route: String,
    request_id: u64,
}

impl Tag {
    pub(super) fn new(route: &str, request_id: u64) -> Tag {
        Tag {
            route: route.to_owned(),
            request_id,
        }
    }
}

/// The body of a guest still running.
pub(super) fn streamed(
    first: Bytes,
    run: CgiRun,
    permit: GatePermit,
    length: Option<u64>,
    request_body: Option<BodySink>,
    tag: Tag,
) -> Body {
    let mut run = run;
    run.guest
        .run_apart(format!("{} req {}", tag.route, tag.request_id));
    let body = GuestStdout {
        first: (!first.is_empty()).then_some(first),
        run,
        _permit: permit,
        tag,
    };
    Body::Stream(StreamBody {
        frames: Box::pin(body.map_err(|e| Box::new(e) as StreamError)),
        length,
        request_body,
    })
}

struct GuestStdout {
    first: Option<Bytes>,
    run: CgiRun,
    /// The plugin's admission permit, held until the guest is done.
    _permit: GatePermit,
    tag: Tag,
}

impl http_body::Body for GuestStdout {
    type Data = Bytes;
    type Error = RunError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RunError>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        if let Some(bytes) = std::task::ready!(self.run.stdout.poll_next(cx)) {
            return Poll::Ready(Some(Ok(Frame::data(bytes))));
        }
        // The pipe closes when the guest is done.
        std::task::ready!(self.run.guest.poll_done(cx));
        Poll::Ready(match self.run.guest.take_status() {
            Some(Ok(0)) | None => None,
            Some(Ok(exit_code)) => {
                tracing::warn!(
                    route = %self.tag.route,
                    request_id = self.tag.request_id,
                    exit_code,
                    "plugin exited with a non-zero status after a complete response; served it"
                );
                None
            }
            Some(Err(err)) => Some(Err(err)),
        })
    }
}
