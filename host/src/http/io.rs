//! The socket side of one connection: a reused read buffer, a reused write
//! buffer, deadline-bounded reads and writes, and zero-copy file sending.
//!
//! Over plain TCP, writes go to the socket directly (`try_write`, then the
//! reactor only when it is full) and files go out with `sendfile`; over TLS
//! the bytes must pass through rustls to be encrypted, so they are written
//! through its stream and files are read and written in chunks.

use std::io::{self, IoSlice};
#[cfg(target_os = "linux")]
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
#[cfg(target_os = "linux")]
use tokio::io::Interest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_rustls::server::TlsStream;

use super::deadline::Deadline;
use super::FileBody;

/// Bytes asked of the kernel per read.
const READ_CHUNK: usize = 8 * 1024;
/// Bytes asked of the kernel by the first read of a request on an idle
/// connection (one that gave its buffer back): most request heads fit, and
/// an idle connection holds no more than this. A larger head or a body
/// grows the buffer to [`READ_CHUNK`] reads.
const FIRST_READ: usize = 2 * 1024;
/// Largest in-memory body copied into the write buffer behind its head (one
/// `write`); larger ones go out with `writev` straight from their `Bytes`.
pub(crate) const COPY_BODY_MAX: usize = 16 * 1024;
/// Most bytes of streamed body gathered in the write buffer before they are
/// written.
const GATHER_MAX: usize = 64 * 1024;
/// Bytes per `sendfile` call, so one large file cannot monopolise a worker
/// thread between cooperative yields.
#[cfg(target_os = "linux")]
const SENDFILE_CHUNK: usize = 1 << 20;
/// Buffer for the read+write fallback when `sendfile` is unavailable.
const FALLBACK_CHUNK: usize = 64 * 1024;

/// Why a read did not deliver bytes.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The deadline passed first.
    Timeout,
    /// The socket failed, or pending output could not be written.
    Io(io::Error),
}

/// The byte stream of one connection.
pub(crate) enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP, after its handshake (boxed: rustls's state is large).
    Tls(Box<TlsStream<TcpStream>>),
}

/// One client connection.
pub(crate) struct ConnIo {
    stream: Transport,
    /// Bytes received and not consumed yet (pipelined heads, body bytes).
    pub(crate) rbuf: BytesMut,
    /// Response bytes not written yet; flushed before any wait on the client.
    pub(crate) wbuf: Vec<u8>,
    send_timeout: Duration,
    /// Bounds every wait for the client's bytes.
    timer: Deadline,
    /// The read buffer was given back for an idle wait: the next read
    /// takes a small one.
    idle: bool,
}

impl ConnIo {
    /// Wrap an accepted stream.
    pub(crate) fn new(stream: Transport, send_timeout: Duration) -> Self {
        ConnIo {
            stream,
            rbuf: BytesMut::new(),
            wbuf: Vec::with_capacity(1024),
            send_timeout,
            timer: Deadline::new(),
            idle: true,
        }
    }

    /// Read more bytes into `rbuf` before `deadline`; `Ok(0)` is end of
    /// stream. Pending output is flushed first: a client may be waiting for
    /// it before it sends more.
    pub(crate) async fn read_more(&mut self, deadline: Instant) -> Result<usize, ReadError> {
        self.flush().await.map_err(ReadError::Io)?;
        self.read_into_rbuf(deadline).await
    }

    /// The read half of [`ConnIo::read_more`], with nothing to flush; kept
    /// separate so a caller can flush, then race this against shutdown.
    pub(crate) async fn read_into_rbuf(&mut self, deadline: Instant) -> Result<usize, ReadError> {
        let chunk = if std::mem::take(&mut self.idle) {
            FIRST_READ
        } else {
            READ_CHUNK
        };
        self.rbuf.reserve(chunk);
        let Self {
            stream,
            rbuf,
            timer,
            ..
        } = self;
        let read = async {
            match stream {
                Transport::Plain(tcp) => tcp.read_buf(rbuf).await,
                Transport::Tls(tls) => tls.read_buf(rbuf).await,
            }
        };
        match timer.bound(deadline, read).await {
            Some(result) => result.map_err(ReadError::Io),
            None => Err(ReadError::Timeout),
        }
    }

    /// Give back the read buffer before an idle wait for the next request,
    /// when nothing is left in it: 10,000 idle keep-alive clients would
    /// otherwise hold 80 MiB of empty buffers. The next read takes a fresh,
    /// small one ([`FIRST_READ`]): one allocation per keep-alive request,
    /// tens of nanoseconds.
    pub(crate) fn release_read_buffer(&mut self) {
        if self.rbuf.is_empty() {
            self.rbuf = BytesMut::new();
            self.idle = true;
        }
    }

    /// Move into `rbuf` what the client has already sent, without waiting:
    /// `true` when bytes came. Asks the kernel directly (the reactor may not
    /// have seen a fresh connection's data yet), so at shutdown a request
    /// that has arrived is served rather than closed on and lost.
    pub(crate) fn take_arrived(&mut self) -> bool {
        use std::io::Read as _;
        let mut chunk = [0u8; READ_CHUNK];
        // Over TLS what arrived is still encrypted: such a connection closes.
        let Transport::Plain(tcp) = &self.stream else {
            return false;
        };
        let socket = socket2::SockRef::from(tcp);
        match (&*socket).read(&mut chunk) {
            Ok(n) if n > 0 => {
                self.rbuf.extend_from_slice(&chunk[..n]);
                true
            }
            _ => false,
        }
    }

    /// Read into `dst` (a body buffer, skipping `rbuf`) before `deadline`.
    pub(crate) async fn read_direct(
        &mut self,
        dst: &mut BytesMut,
        max: usize,
        deadline: Instant,
    ) -> Result<usize, ReadError> {
        self.flush().await.map_err(ReadError::Io)?;
        let mut limited = bytes::BufMut::limit(dst, max);
        let Self { stream, timer, .. } = self;
        let read = async {
            match stream {
                Transport::Plain(tcp) => tcp.read_buf(&mut limited).await,
                Transport::Tls(tls) => tls.read_buf(&mut limited).await,
            }
        };
        match timer.bound(deadline, read).await {
            Some(result) => result.map_err(ReadError::Io),
            None => Err(ReadError::Timeout),
        }
    }

    /// Write all of `wbuf`. Cancel-safe: what was written leaves the
    /// buffer as it goes, so a flush abandoned half-way (a streamed response
    /// racing the request body) resumes where it stopped.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        let tcp = match &mut self.stream {
            Transport::Plain(tcp) => tcp,
            Transport::Tls(tls) => {
                let result = flush_tls(tls, &mut self.wbuf, self.send_timeout).await;
                if result.is_err() {
                    self.wbuf.clear();
                }
                return result;
            }
        };
        let mut stalled_since: Option<Instant> = None;
        while !self.wbuf.is_empty() {
            match tcp.try_write(&self.wbuf) {
                Ok(0) => {
                    self.wbuf.clear();
                    return Err(io::ErrorKind::WriteZero.into());
                }
                Ok(n) => {
                    self.wbuf.drain(..n);
                    stalled_since = None;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let since = *stalled_since.get_or_insert_with(Instant::now);
                    if let Err(e) = wait_writable(tcp, since + self.send_timeout).await {
                        self.wbuf.clear();
                        return Err(e);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.wbuf.clear();
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Append one piece of a streamed body, chunk-framed or raw: into the
    /// write buffer when it is small (the caller flushes when nothing more
    /// is ready), else written at once behind what the buffer holds.
    pub(crate) async fn write_piece(&mut self, data: &[u8], chunked: bool) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let mut size_line = Vec::with_capacity(20);
        if chunked {
            size_line.extend(crate::digits::hex_digits(data.len() as u64, 1));
            size_line.extend_from_slice(b"\r\n");
        }
        let trailer: &[u8] = if chunked { b"\r\n" } else { b"" };
        if data.len() <= COPY_BODY_MAX && self.wbuf.len() < GATHER_MAX {
            self.wbuf.extend_from_slice(&size_line);
            self.wbuf.extend_from_slice(data);
            self.wbuf.extend_from_slice(trailer);
            return Ok(());
        }
        let result = write_all(
            &mut self.stream,
            &mut [
                IoSlice::new(&self.wbuf),
                IoSlice::new(&size_line),
                IoSlice::new(data),
                IoSlice::new(trailer),
            ],
            self.send_timeout,
        )
        .await;
        self.wbuf.clear();
        result
    }

    /// Write `wbuf` followed by `body` with vectored writes, no copy.
    pub(crate) async fn flush_with(&mut self, body: &[u8]) -> io::Result<()> {
        let result = write_all(
            &mut self.stream,
            &mut [IoSlice::new(&self.wbuf), IoSlice::new(body)],
            self.send_timeout,
        )
        .await;
        self.wbuf.clear();
        result
    }

    /// Flush `wbuf`, then send the file region with `sendfile(2)`: the bytes
    /// go from the page cache to the socket without entering user space.
    /// Falls back to positioned reads and writes where `sendfile` refuses
    /// the file. The file must hold `len` bytes from `offset`: the head
    /// already promised them, so a shorter file is an error.
    #[cfg(target_os = "linux")]
    pub(crate) async fn send_file(&mut self, file: &FileBody) -> io::Result<()> {
        if matches!(self.stream, Transport::Tls(_)) {
            self.flush().await?;
            return self.copy_file(file).await;
        }
        self.send_head_corked();
        self.flush().await?;
        let Transport::Plain(tcp) = &self.stream else {
            return Err(io::ErrorKind::Unsupported.into());
        };
        let Ok(mut offset) = libc::off_t::try_from(file.offset) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "file offset too large",
            ));
        };
        let mut remaining = file.len;
        let socket = tcp.as_raw_fd();
        let source = file.file.as_raw_fd();
        let mut stalled_since: Option<Instant> = None;
        let mut first = true;
        while remaining > 0 {
            let count =
                usize::try_from(remaining).map_or(SENDFILE_CHUNK, |r| r.min(SENDFILE_CHUNK));
            let sent = tcp.try_io(Interest::WRITABLE, || {
                // SAFETY: both descriptors are open for the whole call (the
                // stream and the file are borrowed from `self` and `file`),
                // and `offset` is a live local the kernel updates in place.
                // sendfile(2) has no safe wrapper in std or tokio.
                #[allow(unsafe_code)]
                let n = unsafe { libc::sendfile(socket, source, &mut offset, count) };
                usize::try_from(n).map_err(|_| io::Error::last_os_error())
            });
            match sent {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shorter than announced",
                    ))
                }
                Ok(n) => {
                    remaining -= n as u64;
                    stalled_since = None;
                    first = false;
                    tokio::task::consume_budget().await;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let since = *stalled_since.get_or_insert_with(Instant::now);
                    wait_writable(tcp, since + self.send_timeout).await?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if first && sendfile_unsupported(&e) => {
                    tracing::debug!(error = %e, "sendfile unavailable for this file; copying instead");
                    return self.copy_file(file).await;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Elsewhere `sendfile(2)` has other signatures: positioned reads and
    /// writes serve.
    #[cfg(not(target_os = "linux"))]
    pub(crate) async fn send_file(&mut self, file: &FileBody) -> io::Result<()> {
        self.flush().await?;
        self.copy_file(file).await
    }

    /// Try to send the pending head with `MSG_MORE`, so the kernel holds it
    /// and puts it in one segment with the first file bytes (what nginx's
    /// `tcp_nopush` achieves with TCP_CORK, without two extra syscalls).
    /// Whatever this does not send, [`ConnIo::flush`] sends normally.
    #[cfg(target_os = "linux")]
    fn send_head_corked(&mut self) {
        let Transport::Plain(tcp) = &self.stream else {
            return;
        };
        if self.wbuf.is_empty() {
            return;
        }
        let socket = tcp.as_raw_fd();
        let head = &self.wbuf;
        let sent = tcp.try_io(Interest::WRITABLE, || {
            // SAFETY: `head` is a live, initialised buffer of `head.len()`
            // bytes and `socket` is open for the whole call. std's
            // `send` has no flags argument, so `MSG_MORE` needs libc.
            #[allow(unsafe_code)]
            let n = unsafe {
                libc::send(
                    socket,
                    head.as_ptr().cast(),
                    head.len(),
                    libc::MSG_MORE | libc::MSG_NOSIGNAL,
                )
            };
            usize::try_from(n).map_err(|_| io::Error::last_os_error())
        });
        if let Ok(n) = sent {
            self.wbuf.drain(..n);
        }
    }

    /// The fallback: read the file in chunks and write them. The reads are
    /// plain blocking `pread`s, as nginx does without thread pools: static
    /// files are expected in the page cache.
    async fn copy_file(&mut self, file: &FileBody) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.wbuf);
        let mut offset = file.offset;
        let end = file.offset.saturating_add(file.len);
        let result = async {
            while offset < end {
                let want =
                    usize::try_from(end - offset).map_or(FALLBACK_CHUNK, |r| r.min(FALLBACK_CHUNK));
                buf.resize(want, 0);
                let n = file.file.read_at(&mut buf, offset)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shorter than announced",
                    ));
                }
                write_all(
                    &mut self.stream,
                    &mut [IoSlice::new(&buf[..n])],
                    self.send_timeout,
                )
                .await?;
                offset += n as u64;
            }
            Ok(())
        }
        .await;
        buf.clear();
        self.wbuf = buf;
        result
    }

    /// Half-close the write side so the client sees end of stream after the
    /// last response, while we can still read what it sends.
    pub(crate) async fn shutdown_write(&mut self) {
        // TLS sends its close_notify first, within the send timeout.
        let _ = match &mut self.stream {
            Transport::Plain(tcp) => tcp.shutdown().await,
            Transport::Tls(tls) => timeout(self.send_timeout, tls.shutdown())
                .await
                .unwrap_or(Ok(())),
        };
    }
}

#[cfg(target_os = "linux")]
fn sendfile_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
    )
}

async fn wait_writable(stream: &TcpStream, deadline: Instant) -> io::Result<()> {
    match timeout_at(deadline, stream.writable()).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "send timeout")),
    }
}

/// Write `wbuf` through TLS, draining it as rustls takes the bytes (so an
/// abandoned flush resumes where it stopped), then push the records out;
/// each step must progress within `send_timeout`.
async fn flush_tls(
    tls: &mut TlsStream<TcpStream>,
    wbuf: &mut Vec<u8>,
    send_timeout: Duration,
) -> io::Result<()> {
    while !wbuf.is_empty() {
        let n = within(send_timeout, tls.write(wbuf)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        wbuf.drain(..n);
    }
    within(send_timeout, tls.flush()).await
}

/// `step`, failing with `TimedOut` if it takes longer than `limit`. The
/// step is tried once before a timer is armed: a write that the socket
/// takes at once (nearly all of them) costs no timer (see `deadline`).
async fn within<T>(
    limit: Duration,
    step: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    let mut step = std::pin::pin!(step);
    if let Poll::Ready(done) = std::future::poll_fn(|cx| Poll::Ready(step.as_mut().poll(cx))).await
    {
        return done;
    }
    timeout(limit, step)
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "send timeout")))
}

/// Write every byte of `bufs`: over TCP trying the socket directly before
/// involving the reactor or a timer, over TLS through rustls; fails if no
/// progress is made for `send_timeout`.
async fn write_all(
    stream: &mut Transport,
    bufs: &mut [IoSlice<'_>],
    send_timeout: Duration,
) -> io::Result<()> {
    match stream {
        Transport::Plain(tcp) => write_all_tcp(tcp, bufs, send_timeout).await,
        Transport::Tls(tls) => {
            for buf in bufs.iter() {
                within(send_timeout, tls.write_all(buf)).await?;
            }
            within(send_timeout, tls.flush()).await
        }
    }
}

async fn write_all_tcp(
    stream: &TcpStream,
    mut bufs: &mut [IoSlice<'_>],
    send_timeout: Duration,
) -> io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    let mut stalled_since: Option<Instant> = None;
    while !bufs.is_empty() {
        match stream.try_write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                IoSlice::advance_slices(&mut bufs, n);
                stalled_since = None;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let since = *stalled_since.get_or_insert_with(Instant::now);
                wait_writable(stream, since + send_timeout).await?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server-side connection whose client has sent `sent`.
    async fn conn_with(sent: &[u8]) -> (ConnIo, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(sent).await.unwrap();
        (
            ConnIo::new(Transport::Plain(server), Duration::from_secs(5)),
            client,
        )
    }

    #[tokio::test]
    async fn an_idle_connection_reads_its_next_request_into_a_small_buffer() {
        let (mut io, mut client) = conn_with(b"GET / HTTP/1.1\r\n\r\n").await;
        let deadline = Instant::now() + Duration::from_secs(5);
        assert!(io.read_into_rbuf(deadline).await.unwrap() > 0);
        assert!(io.rbuf.capacity() <= FIRST_READ, "{}", io.rbuf.capacity());
        // More of a head (or a body) reads in full chunks.
        client.write_all(&[b'x'; 100]).await.unwrap();
        io.read_into_rbuf(deadline).await.unwrap();
        assert!(io.rbuf.capacity() >= READ_CHUNK);
        // Consumed and idle again: the buffer is given back.
        io.rbuf.clear();
        io.release_read_buffer();
        assert_eq!(io.rbuf.capacity(), 0);
        client
            .write_all(b"GET /next HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        io.read_into_rbuf(deadline).await.unwrap();
        assert!(io.rbuf.capacity() <= FIRST_READ);
    }

    #[tokio::test]
    async fn what_already_arrived_is_taken_without_waiting() {
        let (mut io, client) = conn_with(b"GET / HTTP/1.1\r\n\r\n").await;
        // The bytes are in the kernel by the time the client's write returns
        // on loopback, whatever the reactor has seen.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !io.take_arrived() {
            assert!(Instant::now() < deadline, "the request never arrived");
            tokio::task::yield_now().await;
        }
        assert_eq!(&io.rbuf[..], b"GET / HTTP/1.1\r\n\r\n");
        assert!(!io.take_arrived(), "nothing more: no wait, no bytes");
        drop(client);
        assert!(!io.take_arrived(), "end of stream is no bytes either");
    }
}
