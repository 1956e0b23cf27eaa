//! Reading a request body, bounded in size and in total time.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::time::Instant;

use super::chunked::{Chunk, ChunkedDecoder};
use super::head::Framing;
use super::io::{ConnIo, ReadError};
use super::sink::BodySink;
use super::Limits;

/// The interim response sent when a client waiting on `Expect:
/// 100-continue` is first asked for its body.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
/// Most capacity reserved up front for a declared length; a body grows
/// beyond it only as its bytes actually arrive.
const INITIAL_BODY_CAPACITY: u64 = 1024 * 1024;
/// Capacity reserved before each direct read of a length-delimited body.
const READ_RESERVE: u64 = 64 * 1024;

/// Why a body could not be read; each kind maps to one status code. Cloned
/// when a streamed body fails: the handler reading it and the connection
/// that answers both learn why.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum BodyError {
    /// Larger than the limit the service asked for: 413.
    #[error("request body larger than {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: u64,
    },
    /// The client did not deliver the body in time: 408.
    #[error("request body not received in time")]
    Timeout,
    /// Malformed chunked framing: 400.
    #[error("malformed chunked body: {0}")]
    Malformed(&'static str),
    /// The connection failed or closed early.
    #[error("connection error while reading body: {0}")]
    Io(Arc<io::Error>),
}

impl From<io::Error> for BodyError {
    fn from(e: io::Error) -> Self {
        BodyError::Io(Arc::new(e))
    }
}

impl BodyError {
    /// The status code this failure answers with.
    pub(crate) fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge { .. } => 413,
            BodyError::Timeout => 408,
            BodyError::Malformed(_) => 400,
            BodyError::Io(_) => 400,
        }
    }
}

/// The body of the current request. Reading it sends `100 Continue` first when
/// the client asked for it.
pub(crate) struct RequestBody<'c> {
    source: Source<'c>,
    state: BodyState,
}

enum Source<'c> {
    /// Streamed from the client connection.
    Conn(&'c mut ConnIo),
    /// Already in memory (the `run` subcommand, tests).
    Memory(Bytes),
}

/// What is left of a body to read, without the borrow of the connection, so
/// the loop can write the response and then drain what the service left.
#[derive(Debug)]
pub(crate) struct BodyState {
    remaining: Remaining,
    continue_pending: bool,
    body_timeout: Duration,
    deadline: Option<Instant>,
    /// A read failed part-way: the framing position is unknown.
    broken: bool,
    /// Payload bytes handed out by [`BodyState::read_chunk`] so far.
    consumed: u64,
}

#[derive(Debug)]
enum Remaining {
    Nothing,
    Length(u64),
    Chunked(ChunkedDecoder),
}

impl RequestBody<'_> {
    /// The body of a request just parsed from `io`.
    pub(crate) fn from_conn(
        io: &mut ConnIo,
        framing: Framing,
        expect_continue: bool,
        body_timeout: Duration,
    ) -> RequestBody<'_> {
        let remaining = match framing {
            Framing::None => Remaining::Nothing,
            Framing::Length(n) => Remaining::Length(n),
            Framing::Chunked => Remaining::Chunked(ChunkedDecoder::new()),
        };
        RequestBody {
            source: Source::Conn(io),
            state: BodyState {
                continue_pending: expect_continue && !matches!(remaining, Remaining::Nothing),
                remaining,
                body_timeout,
                deadline: None,
                broken: false,
                consumed: 0,
            },
        }
    }

    /// A body that is already in memory, for running a [`super::Service`]
    /// without a connection (the `run` subcommand, tests).
    pub(crate) fn from_bytes(body: Bytes) -> RequestBody<'static> {
        let len = body.len() as u64;
        RequestBody {
            source: Source::Memory(body),
            state: BodyState {
                remaining: if len == 0 {
                    Remaining::Nothing
                } else {
                    Remaining::Length(len)
                },
                continue_pending: false,
                body_timeout: Limits::BODY_TIMEOUT,
                deadline: None,
                broken: false,
                consumed: 0,
            },
        }
    }

    /// Read the whole body, de-chunked, refusing more than `limit` bytes.
    /// A declared length above `limit` fails before anything is read (and
    /// before `100 Continue` is sent). Once the body was read, further calls
    /// return an empty body.
    pub(crate) async fn read_to_end(&mut self, limit: u64) -> Result<Bytes, BodyError> {
        if self.state.broken {
            return Err(io::Error::other("request body already failed").into());
        }
        if let Remaining::Length(n) = self.state.remaining {
            if n > limit {
                return Err(BodyError::TooLarge { limit });
            }
        }
        let io = match &mut self.source {
            Source::Memory(bytes) => {
                self.state.remaining = Remaining::Nothing;
                return Ok(std::mem::take(bytes));
            }
            Source::Conn(io) => &mut **io,
        };
        if matches!(self.state.remaining, Remaining::Nothing) {
            return Ok(Bytes::new());
        }
        let result = self.state.read_from(io, limit).await;
        if result.is_err() {
            self.state.broken = true;
        }
        result
    }

    /// The body's first bytes, about `max` of them (one piece more at
    /// most), and whether that was all of it; the rest stays to be read or
    /// pumped. More than `limit` bytes in all is refused.
    pub(crate) async fn read_prefix(
        &mut self,
        max: u64,
        limit: u64,
    ) -> Result<(Bytes, bool), BodyError> {
        let io = match &mut self.source {
            Source::Memory(_) => return Ok((self.read_to_end(limit).await?, true)),
            Source::Conn(io) => &mut **io,
        };
        let mut prefix = BytesMut::new();
        while prefix.len() as u64 <= max {
            match self.state.read_chunk(io, limit).await? {
                Some(piece) => prefix.extend_from_slice(&piece),
                None => return Ok((prefix.freeze(), true)),
            }
        }
        Ok((prefix.freeze(), false))
    }

    /// The length the client declared (`Content-Length`); `None` for a
    /// chunked body, whose length is known only at its end.
    pub(crate) fn declared_len(&self) -> Option<u64> {
        match self.state.remaining {
            Remaining::Nothing => Some(0),
            Remaining::Length(n) => Some(n),
            Remaining::Chunked(_) => None,
        }
    }

    /// Move the next piece of the body into `sink`, waiting for room there
    /// first (so a handler that reads slowly slows the client down). `Ok(true)`
    /// while more may follow; `Ok(false)` at the end of the body, or when the
    /// reader is gone. A failure is also sent to the reader.
    pub(crate) async fn pump_into(&mut self, sink: &BodySink) -> Result<bool, BodyError> {
        match &mut self.source {
            Source::Conn(io) => self.state.pump_into(io, sink).await,
            Source::Memory(bytes) => {
                let bytes = std::mem::take(bytes);
                self.state.remaining = Remaining::Nothing;
                if bytes.len() as u64 > sink.limit() {
                    let err = BodyError::TooLarge {
                        limit: sink.limit(),
                    };
                    sink.fail(err.clone()).await;
                    return Err(err);
                }
                if !bytes.is_empty() {
                    sink.send(bytes).await;
                }
                Ok(false)
            }
        }
    }

    /// Give up the connection borrow, keeping what is left to drain.
    pub(crate) fn into_state(self) -> BodyState {
        self.state
    }
}

impl BodyState {
    async fn read_from(&mut self, io: &mut ConnIo, limit: u64) -> Result<Bytes, BodyError> {
        if self.continue_pending {
            self.continue_pending = false;
            // A client that already sent body bytes is not waiting for 100.
            if io.rbuf.is_empty() {
                io.wbuf.extend_from_slice(CONTINUE);
                io.flush().await?;
            }
        }
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + self.body_timeout);
        match &mut self.remaining {
            Remaining::Nothing => Ok(Bytes::new()),
            Remaining::Length(remaining) => {
                let mut out =
                    BytesMut::with_capacity(to_usize((*remaining).min(INITIAL_BODY_CAPACITY)));
                let buffered = to_usize(*remaining).min(io.rbuf.len());
                out.extend_from_slice(&io.rbuf[..buffered]);
                io.rbuf.advance(buffered);
                *remaining -= buffered as u64;
                while *remaining > 0 {
                    out.reserve(to_usize((*remaining).min(READ_RESERVE)));
                    let n = io
                        .read_direct(&mut out, to_usize(*remaining), deadline)
                        .await
                        .map_err(body_read_error)?;
                    if n == 0 {
                        return Err(body_read_error_eof());
                    }
                    *remaining -= n as u64;
                }
                self.remaining = Remaining::Nothing;
                Ok(out.freeze())
            }
            Remaining::Chunked(decoder) => {
                let mut out = BytesMut::new();
                loop {
                    let (used, chunk) = decode_within(decoder, &io.rbuf, limit)?;
                    match chunk {
                        Chunk::Data(data) => {
                            out.extend_from_slice(data);
                            io.rbuf.advance(used);
                        }
                        Chunk::Done => {
                            io.rbuf.advance(used);
                            break;
                        }
                        Chunk::NeedMore => {
                            io.rbuf.advance(used);
                            let n = io.read_more(deadline).await.map_err(body_read_error)?;
                            if n == 0 {
                                return Err(body_read_error_eof());
                            }
                        }
                    }
                }
                self.remaining = Remaining::Nothing;
                Ok(out.freeze())
            }
        }
    }

    /// [`RequestBody::pump_into`] for the rest of a body, once the
    /// connection loop has the connection back.
    pub(crate) async fn pump_into(
        &mut self,
        io: &mut ConnIo,
        sink: &BodySink,
    ) -> Result<bool, BodyError> {
        let Some(permit) = sink.reserve().await else {
            return Ok(false);
        };
        match self.read_chunk(io, sink.limit()).await {
            Ok(Some(bytes)) => {
                permit.send(Ok(bytes));
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(err) => {
                permit.send(Err(err.clone()));
                Err(err)
            }
        }
    }

    /// The next piece of the body, de-chunked: what is buffered, else what
    /// one read brings; `None` at its end. More than `limit` bytes in all is
    /// refused, a declared length above it before anything is read.
    /// Cancel-safe: bytes are taken from the buffer only when they are
    /// returned, so an abandoned call loses nothing.
    async fn read_chunk(
        &mut self,
        io: &mut ConnIo,
        limit: u64,
    ) -> Result<Option<Bytes>, BodyError> {
        if self.broken {
            return Err(io::Error::other("request body already failed").into());
        }
        let result = self.next_chunk(io, limit).await;
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    async fn next_chunk(
        &mut self,
        io: &mut ConnIo,
        limit: u64,
    ) -> Result<Option<Bytes>, BodyError> {
        let too_large = BodyError::TooLarge { limit };
        if let Remaining::Length(n) = self.remaining {
            if self.consumed.saturating_add(n) > limit {
                return Err(too_large);
            }
        }
        if matches!(self.remaining, Remaining::Nothing) {
            return Ok(None);
        }
        if self.continue_pending {
            self.continue_pending = false;
            if io.rbuf.is_empty() {
                io.wbuf.extend_from_slice(CONTINUE);
                io.flush().await?;
            }
        }
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + self.body_timeout);
        loop {
            match &mut self.remaining {
                Remaining::Nothing => return Ok(None),
                Remaining::Length(remaining) => {
                    if !io.rbuf.is_empty() {
                        let take = to_usize(*remaining).min(io.rbuf.len());
                        *remaining -= take as u64;
                        self.consumed += take as u64;
                        if *remaining == 0 {
                            self.remaining = Remaining::Nothing;
                        }
                        return Ok(Some(io.rbuf.split_to(take).freeze()));
                    }
                }
                Remaining::Chunked(decoder) => {
                    let (used, chunk) = decode_within(decoder, &io.rbuf, limit)?;
                    match chunk {
                        Chunk::Data(data) => {
                            let data = Bytes::copy_from_slice(data);
                            io.rbuf.advance(used);
                            self.consumed += data.len() as u64;
                            return Ok(Some(data));
                        }
                        Chunk::Done => {
                            io.rbuf.advance(used);
                            self.remaining = Remaining::Nothing;
                            return Ok(None);
                        }
                        Chunk::NeedMore => io.rbuf.advance(used),
                    }
                }
            }
            let n = io.read_more(deadline).await.map_err(body_read_error)?;
            if n == 0 {
                return Err(body_read_error_eof());
            }
        }
    }

    /// Whether the client still waits for `100 Continue` before it sends
    /// the body it announced.
    pub(crate) fn awaiting_continue(&self) -> bool {
        self.continue_pending && self.has_unread()
    }

    /// Whether body bytes may still be on their way from the client.
    pub(crate) fn has_unread(&self) -> bool {
        match &self.remaining {
            Remaining::Nothing => false,
            Remaining::Length(n) => *n > 0,
            Remaining::Chunked(d) => !d.is_done(),
        }
    }

    /// Whether the connection must close after this response rather than
    /// drain the unread body: the framing position is lost, the client is
    /// still waiting for `100 Continue` (draining would wait for a body it
    /// may never send), or there is more left than is worth reading.
    pub(crate) fn must_close(&self) -> bool {
        if self.broken {
            return true;
        }
        if !self.has_unread() {
            return false;
        }
        self.continue_pending
            || matches!(self.remaining, Remaining::Length(n) if n > Limits::MAX_DRAIN)
    }

    /// Discard the unread rest of the body, so the next request starts at the
    /// right byte. Bounded by [`Limits::MAX_DRAIN`] bytes and the body
    /// timeout; `false` means the connection must close instead.
    pub(crate) async fn drain(&mut self, io: &mut ConnIo) -> bool {
        if self.must_close() {
            return false;
        }
        if !self.has_unread() {
            return true;
        }
        let deadline = Instant::now() + self.body_timeout;
        let mut budget = Limits::MAX_DRAIN;
        loop {
            match &mut self.remaining {
                Remaining::Nothing => return true,
                Remaining::Length(remaining) => {
                    let take = to_usize(*remaining).min(io.rbuf.len());
                    io.rbuf.advance(take);
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        return true;
                    }
                }
                Remaining::Chunked(decoder) => {
                    let Ok((used, chunk)) = decode_within(decoder, &io.rbuf, Limits::MAX_DRAIN)
                    else {
                        return false;
                    };
                    let done = chunk == Chunk::Done;
                    let need_more = chunk == Chunk::NeedMore;
                    io.rbuf.advance(used);
                    budget = match budget.checked_sub(used as u64) {
                        Some(b) => b,
                        None => return false,
                    };
                    if done {
                        return true;
                    }
                    if !need_more {
                        continue;
                    }
                }
            }
            match io.read_more(deadline).await {
                Ok(n) if n > 0 => {}
                _ => return false,
            }
        }
    }
}

/// Decode the next piece of a chunked body, refusing it as soon as the
/// chunk sizes it declared add up to more than `limit`: a client that
/// announces a chunk of `ffffffffffffffff` bytes is answered 413 at its size
/// line instead of being waited for until the body timeout. The one place
/// where a chunked body meets its limit, for reading, streaming and
/// draining alike.
fn decode_within<'a>(
    decoder: &mut ChunkedDecoder,
    src: &'a [u8],
    limit: u64,
) -> Result<(usize, Chunk<'a>), BodyError> {
    let decoded = decoder.decode(src).map_err(BodyError::Malformed)?;
    if decoder.declared() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(decoded)
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn body_read_error(e: ReadError) -> BodyError {
    match e {
        ReadError::Timeout => BodyError::Timeout,
        ReadError::Io(e) => e.into(),
    }
}

fn body_read_error_eof() -> BodyError {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "client closed the connection mid-body",
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_memory_body() {
        let mut body = RequestBody::from_bytes(Bytes::from_static(b"hello"));
        assert!(matches!(
            body.read_to_end(4).await,
            Err(BodyError::TooLarge { limit: 4 })
        ));
        assert_eq!(&body.read_to_end(5).await.unwrap()[..], b"hello");
        assert!(body.read_to_end(5).await.unwrap().is_empty());
    }

    /// A connection whose client side has sent `sent` and stays open.
    async fn conn_with(sent: &[u8]) -> (ConnIo, tokio::net::TcpStream) {
        use tokio::io::AsyncWriteExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(sent).await.unwrap();
        (
            ConnIo::new(
                crate::http::io::Transport::Plain(server),
                Duration::from_secs(5),
            ),
            client,
        )
    }

    /// A chunk announced larger than the limit is refused at its size line,
    /// well before the (long) body timeout, however few of its bytes came.
    #[tokio::test]
    async fn an_oversized_chunk_is_refused_at_its_size_line() {
        for sent in [
            &b"ffffffffffffffff\r\n"[..],
            b"ffffffffffffffff\r\nab",
            b"3e9\r\n",
            b"10\r\n0123456789abcdef\r\n3d9\r\nxy",
        ] {
            let (mut io, _client) = conn_with(sent).await;
            let mut body =
                RequestBody::from_conn(&mut io, Framing::Chunked, false, Duration::from_secs(60));
            let read = tokio::time::timeout(Duration::from_secs(5), body.read_to_end(1000));
            let result = read
                .await
                .expect("refused at once, not at the body timeout");
            assert!(
                matches!(result, Err(BodyError::TooLarge { limit: 1000 })),
                "{:?}: {result:?}",
                String::from_utf8_lossy(sent)
            );
            assert!(body.into_state().must_close());
        }
    }

    #[tokio::test]
    async fn chunks_adding_up_to_the_limit_are_read() {
        let mut sent = b"1f4\r\n".to_vec();
        sent.extend_from_slice(&[b'a'; 500]);
        sent.extend_from_slice(b"\r\n1f4\r\n");
        sent.extend_from_slice(&[b'b'; 500]);
        sent.extend_from_slice(b"\r\n0\r\n\r\n");
        let (mut io, _client) = conn_with(&sent).await;
        let mut body =
            RequestBody::from_conn(&mut io, Framing::Chunked, false, Duration::from_secs(5));
        assert_eq!(body.read_to_end(1000).await.unwrap().len(), 1000);
    }

    #[tokio::test]
    async fn a_streamed_oversized_chunk_is_refused_at_its_size_line() {
        let (mut io, _client) = conn_with(b"5\r\nhello\r\nffffffffffffffff\r\nab").await;
        let mut body =
            RequestBody::from_conn(&mut io, Framing::Chunked, false, Duration::from_secs(60));
        let (sink, _stream) = crate::http::body_channel(1000, None);
        let pumped = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match body.pump_into(&sink).await {
                    Ok(true) => {}
                    other => return other,
                }
            }
        });
        let result = pumped.await.expect("refused at once");
        assert!(
            matches!(result, Err(BodyError::TooLarge { limit: 1000 })),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn draining_gives_up_on_a_chunk_larger_than_the_drain_budget() {
        let (mut io, _client) = conn_with(b"ffffffff\r\nab").await;
        let body =
            RequestBody::from_conn(&mut io, Framing::Chunked, false, Duration::from_secs(60));
        let mut state = body.into_state();
        let drained = tokio::time::timeout(Duration::from_secs(5), state.drain(&mut io));
        assert!(!drained.await.expect("gives up at once"));
    }

    #[test]
    fn statuses() {
        assert_eq!(BodyError::TooLarge { limit: 1 }.status(), 413);
        assert_eq!(BodyError::Timeout.status(), 408);
        assert_eq!(BodyError::Malformed("x").status(), 400);
    }
}
