//! A CGI guest's stdout: a bounded pipe from the guest to whoever answers
//! the client. Up to [`PIPE_CAPACITY`] bytes wait in it; a guest writing
//! more waits for room (its write blocks, as a pipe's would), so a slow
//! client slows the guest down and memory never grows with the response.
//! Past the plugin's `max_stdout` in all, the write traps and the pipe says
//! so, which tells "too large" (502) apart from a crash.
//!
//! Ours rather than wasmtime-wasi's `MemoryOutputPipe`, which has a hard
//! capacity and no reader while the guest runs.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// Bytes that may wait in the pipe. A guest that answers with less and
/// ends is answered in one piece with a `Content-Length`, as before
/// streaming existed: the common CGI answer is far smaller.
pub(crate) const PIPE_CAPACITY: usize = 256 * 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another handle panicked mid-write; the
    // buffer itself is still a valid byte string.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The guest's end, handed to its WASI context.
#[derive(Clone)]
pub(super) struct StdoutPipe {
    shared: Arc<Mutex<Pipe>>,
}

/// The reader's end.
pub struct StdoutReader {
    shared: Arc<Mutex<Pipe>>,
}

struct Pipe {
    buf: BytesMut,
    written: usize,
    limit: usize,
    overflowed: bool,
    /// The guest is done: nothing more will come.
    closed: bool,
    /// The reader is gone: further writes fail.
    reader_gone: bool,
    /// The guest, waiting for room.
    writer: Option<Waker>,
    /// The reader, waiting for bytes.
    reader: Option<Waker>,
}

impl Pipe {
    fn has_room(&self) -> bool {
        self.buf.len() < PIPE_CAPACITY || self.reader_gone || self.overflowed
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
        if self.overflowed || bytes.len() > self.limit - self.written {
            self.overflowed = true;
            return Err(StreamError::trap("stdout limit exceeded"));
        }
        if self.reader_gone {
            return Err(StreamError::Closed);
        }
        self.written += bytes.len();
        self.buf.extend_from_slice(bytes);
        if let Some(reader) = self.reader.take() {
            reader.wake();
        }
        Ok(())
    }
}

/// A pipe for one run whose guest may write `limit` bytes in all.
pub(super) fn stdout_pipe(limit: usize) -> (StdoutPipe, StdoutReader) {
    let shared = Arc::new(Mutex::new(Pipe {
        buf: BytesMut::new(),
        written: 0,
        limit,
        overflowed: false,
        closed: false,
        reader_gone: false,
        writer: None,
        reader: None,
    }));
    (
        StdoutPipe {
            shared: Arc::clone(&shared),
        },
        StdoutReader { shared },
    )
}

impl StdoutPipe {
    /// Whether the guest tried to write past its limit.
    pub(super) fn overflowed(&self) -> bool {
        lock(&self.shared).overflowed
    }

    /// The guest is done: the reader sees the end once it took the rest.
    pub(super) fn close(&self) {
        let mut pipe = lock(&self.shared);
        pipe.closed = true;
        if let Some(reader) = pipe.reader.take() {
            reader.wake();
        }
    }
}

impl StdoutReader {
    /// The next bytes the guest wrote, waiting for some; `None` once the
    /// guest is done and everything was read.
    pub async fn next(&mut self) -> Option<Bytes> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut pipe = lock(&self.shared);
        if !pipe.buf.is_empty() {
            let bytes = pipe.buf.split().freeze();
            if let Some(writer) = pipe.writer.take() {
                writer.wake();
            }
            return Poll::Ready(Some(bytes));
        }
        if pipe.closed {
            return Poll::Ready(None);
        }
        pipe.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Resolves once more than `seen` bytes wait in the pipe, or the guest
    /// is done; how many wait then.
    pub async fn grown(&mut self, seen: usize) -> usize {
        poll_fn(|cx| {
            let mut pipe = lock(&self.shared);
            if pipe.buf.len() > seen || pipe.closed {
                Poll::Ready(pipe.buf.len())
            } else {
                pipe.reader = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Everything waiting in the pipe now, left in place; for reading a
    /// head before deciding how to answer.
    pub(crate) fn peek(&self) -> Bytes {
        Bytes::copy_from_slice(&lock(&self.shared).buf)
    }

    /// Everything waiting in the pipe now, taken out.
    pub(crate) fn take(&mut self) -> Bytes {
        let mut pipe = lock(&self.shared);
        let bytes = pipe.buf.split().freeze();
        if let Some(writer) = pipe.writer.take() {
            writer.wake();
        }
        bytes
    }
}

impl Drop for StdoutReader {
    fn drop(&mut self) {
        let mut pipe = lock(&self.shared);
        pipe.reader_gone = true;
        if let Some(writer) = pipe.writer.take() {
            writer.wake();
        }
    }
}

impl IsTerminal for StdoutPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StdoutPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for StdoutPipe {
    async fn ready(&mut self) {
        poll_fn(|cx| {
            let mut pipe = lock(&self.shared);
            if pipe.has_room() {
                Poll::Ready(())
            } else {
                pipe.writer = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }
}

impl OutputStream for StdoutPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        lock(&self.shared).append(&bytes)
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        let pipe = lock(&self.shared);
        if pipe.overflowed {
            return Err(StreamError::trap("stdout limit exceeded"));
        }
        if pipe.reader_gone {
            return Err(StreamError::Closed);
        }
        Ok(PIPE_CAPACITY.saturating_sub(pipe.buf.len()))
    }
}

impl AsyncWrite for StdoutPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut pipe = lock(&self.shared);
        if !pipe.has_room() {
            pipe.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let room = PIPE_CAPACITY.saturating_sub(pipe.buf.len()).max(1);
        let n = buf.len().min(room);
        Poll::Ready(
            pipe.append(&buf[..n])
                .map(|()| n)
                .map_err(|e| io::Error::other(e.to_string())),
        )
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overflow_is_recorded() {
        let (mut out, mut reader) = stdout_pipe(4);
        assert!(out.write(Bytes::from_static(b"abc")).is_ok());
        assert!(out.write(Bytes::from_static(b"de")).is_err());
        assert!(out.overflowed());
        assert_eq!(reader.take(), Bytes::from_static(b"abc"));
    }

    #[tokio::test]
    async fn a_full_pipe_holds_the_writer_until_the_reader_takes() {
        let (mut out, mut reader) = stdout_pipe(usize::MAX);
        out.write(Bytes::from(vec![1u8; PIPE_CAPACITY])).unwrap();
        assert_eq!(out.check_write().unwrap(), 0);
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(20), out.ready());
        assert!(waiting.await.is_err(), "no room: the writer waits");
        assert_eq!(reader.next().await.unwrap().len(), PIPE_CAPACITY);
        out.ready().await;
        assert_eq!(out.check_write().unwrap(), PIPE_CAPACITY);
        out.write(Bytes::from_static(b"end")).unwrap();
        out.close();
        assert_eq!(reader.next().await.unwrap(), Bytes::from_static(b"end"));
        assert_eq!(reader.next().await, None);
    }

    #[test]
    fn writes_fail_once_the_reader_is_gone() {
        let (mut out, reader) = stdout_pipe(usize::MAX);
        drop(reader);
        assert!(matches!(out.check_write(), Err(StreamError::Closed)));
        assert!(out.write(Bytes::from_static(b"x")).is_err());
    }
}
