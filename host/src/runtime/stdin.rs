//! A CGI guest's stdin: the request body, whole when it was read before the
//! guest started, or fed as it arrives (an upload larger than the server
//! wants to hold), through the body the caller hands over. A guest reading
//! slowly slows the client down; a body that fails mid-way (too large, too
//! slow) ends the guest's stdin with a read error.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::Body;
use tokio::io::{AsyncRead, ReadBuf};
use wasmtime_wasi::cli::{IsTerminal, StdinStream};

/// Why a streamed body stopped short, as the caller's body says it.
pub type StdinError = Box<dyn std::error::Error + Send + Sync>;

/// A body that arrives while the guest runs.
pub type StdinBody = Pin<Box<dyn Body<Data = Bytes, Error = StdinError> + Send>>;

/// What a guest reads on stdin.
#[derive(Default)]
pub enum Stdin {
    /// The whole body, then end of file.
    #[default]
    Empty,
    /// These bytes, then end of file.
    Bytes(Bytes),
    /// The body as it arrives, then end of file (or an error).
    Streamed(StdinBody),
}

impl std::fmt::Debug for Stdin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stdin::Empty => f.write_str("Empty"),
            Stdin::Bytes(b) => write!(f, "Bytes({})", b.len()),
            Stdin::Streamed(_) => f.write_str("Streamed"),
        }
    }
}

/// The guest's end of a streamed body. Clones share one position: WASI
/// lets a guest open stdin more than once, and all handles read on.
#[derive(Clone)]
pub(super) struct StreamedStdin {
    shared: Arc<Mutex<Feed>>,
}

struct Feed {
    body: StdinBody,
    /// Bytes of the last frame not read yet.
    pending: Bytes,
    ended: bool,
}

impl StreamedStdin {
    pub(super) fn new(body: StdinBody) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Feed {
                body,
                pending: Bytes::new(),
                ended: false,
            })),
        }
    }
}

impl IsTerminal for StreamedStdin {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdinStream for StreamedStdin {
    fn async_stream(&self) -> Box<dyn AsyncRead + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncRead for StreamedStdin {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut feed = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if !feed.pending.is_empty() {
                let n = feed.pending.len().min(buf.remaining());
                buf.put_slice(&feed.pending[..n]);
                feed.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            if feed.ended {
                return Poll::Ready(Ok(()));
            }
            match std::task::ready!(feed.body.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        feed.pending = data;
                    }
                }
                Some(Err(e)) => {
                    feed.ended = true;
                    return Poll::Ready(Err(io::Error::other(e)));
                }
                None => feed.ended = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use tokio::io::AsyncReadExt as _;

    /// A body of ready pieces.
    struct Pieces(VecDeque<Result<&'static [u8], &'static str>>);

    impl Body for Pieces {
        type Data = Bytes;
        type Error = StdinError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, StdinError>>> {
            Poll::Ready(self.0.pop_front().map(|piece| {
                piece
                    .map(|b| http_body::Frame::data(Bytes::from_static(b)))
                    .map_err(StdinError::from)
            }))
        }
    }

    fn body(pieces: Vec<Result<&'static [u8], &'static str>>) -> StdinBody {
        Box::pin(Pieces(pieces.into()))
    }

    #[tokio::test]
    async fn reads_the_pieces_then_the_end_or_the_error() {
        let mut stdin = StreamedStdin::new(body(vec![Ok(b"ab"), Ok(b"cde")]));
        let mut all = Vec::new();
        stdin.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"abcde");
        let mut failing = StreamedStdin::new(body(vec![Ok(b"ab"), Err("too large")]));
        let mut got = Vec::new();
        let err = failing.read_to_end(&mut got).await.unwrap_err();
        assert_eq!(got, b"ab");
        assert!(err.to_string().contains("too large"));
    }
}
