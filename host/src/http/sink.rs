//! A request body on its way to a handler that reads it while it arrives:
//! a bounded channel from the connection (the [`BodySink`] end) to the
//! handler (the [`BodyStream`] end, an `http_body::Body`). Bounded, so a
//! handler that reads slowly slows the client down instead of the server
//! buffering the body.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use super::BodyError;

/// Pieces of body in flight between the connection and the handler.
const IN_FLIGHT: usize = 4;

/// The connection's end.
#[derive(Debug)]
pub(crate) struct BodySink {
    tx: mpsc::Sender<Result<Bytes, BodyError>>,
    limit: u64,
}

/// The handler's end: the body, then its end, or the error that cut it.
#[derive(Debug)]
pub(crate) struct BodyStream {
    rx: mpsc::Receiver<Result<Bytes, BodyError>>,
    declared: Option<u64>,
}

/// A channel for one body of at most `limit` bytes; `declared` is its
/// `Content-Length`, when it has one.
pub(crate) fn body_channel(limit: u64, declared: Option<u64>) -> (BodySink, BodyStream) {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    (BodySink { tx, limit }, BodyStream { rx, declared })
}

impl BodySink {
    /// The most bytes the body may have.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Room for one more piece; `None` when the handler is gone.
    pub(crate) async fn reserve(&self) -> Option<mpsc::Permit<'_, Result<Bytes, BodyError>>> {
        self.tx.reserve().await.ok()
    }

    /// Hands over one piece, waiting for room.
    pub(crate) async fn send(&self, bytes: Bytes) {
        // A handler that stopped reading has no use for the rest.
        let _ = self.tx.send(Ok(bytes)).await;
    }

    /// Ends the body with an error.
    pub(crate) async fn fail(&self, err: BodyError) {
        let _ = self.tx.send(Err(err)).await;
    }
}

impl Body for BodyStream {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|piece| piece.map(Frame::data)))
    }

    fn size_hint(&self) -> SizeHint {
        self.declared
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    #[tokio::test]
    async fn pieces_then_the_end_or_the_error() {
        let (sink, mut stream) = body_channel(10, Some(5));
        assert_eq!(stream.size_hint().exact(), Some(5));
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(frame) = stream.frame().await {
                got.push(frame.map(|f| f.into_data().unwrap_or_default()));
            }
            got
        });
        sink.send(Bytes::from_static(b"ab")).await;
        sink.send(Bytes::from_static(b"cde")).await;
        sink.fail(BodyError::Timeout).await;
        drop(sink);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].as_ref().unwrap(), "ab");
        assert_eq!(got[1].as_ref().unwrap(), "cde");
        assert!(matches!(got[2], Err(BodyError::Timeout)));
    }

    #[tokio::test]
    async fn a_full_channel_waits_for_the_reader() {
        let (sink, stream) = body_channel(100, None);
        for _ in 0..IN_FLIGHT {
            sink.send(Bytes::from_static(b"x")).await;
        }
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(20), sink.reserve());
        assert!(waiting.await.is_err(), "no room until the reader takes one");
        drop(stream);
        assert!(sink.reserve().await.is_none(), "the reader is gone");
    }
}
