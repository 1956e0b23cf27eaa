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

use super::{failure_of, FailureTag};

/// The body of a guest still running.
pub(super) fn streamed(
    first: Bytes,
    run: CgiRun,
    permit: GatePermit,
    length: Option<u64>,
    request_body: Option<BodySink>,
    tag: FailureTag,
) -> Body {
    let mut run = run;
    run.guest.run_apart(tag.log_tag());
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
    tag: FailureTag,
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
                    request_id = %self.tag.request_id,
                    exit_code,
                    "plugin exited with a non-zero status after a complete response; served it"
                );
                None
            }
            Some(Err(err)) => {
                // The connection logs the cut-off; this counts it.
                self.tag
                    .count_after_head(failure_of(&err), &err.to_string());
                Some(Err(err))
            }
        })
    }
}
