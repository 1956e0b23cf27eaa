//! The per-connection loop: read a head, call the service, write the
//! response, drain what the service left of the body, repeat while the
//! connection may be kept alive.
//!
//! One task per connection and nothing else: no task per request, no
//! channel, no lock. The read buffer, the write buffer and the [`Request`]
//! are reused from one request to the next.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Buf;
use http_body_util::BodyExt as _;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::access_log::{AccessLog, Exchange, RequestLine};
use super::body::{BodyState, RequestBody};
use super::head::{parse_head, Expect, Head, Rejection};
use super::io::{ConnIo, ReadError, Transport, COPY_BODY_MAX};
use super::response::{encode_head, status_has_no_body, ConnectionHeader, Framing, StreamBody};
use super::sink::BodySink;
use super::{request_id, Body, Headers, Limits, Request, Response, Service, Version};
use crate::telemetry::{RouteLabel, Telemetry};

/// Most bytes of an unparseable request line copied into the access log.
const LOGGED_LINE_MAX: usize = 1024;

/// What every connection of one server shares.
#[derive(Clone)]
pub(crate) struct ConnConfig {
    /// The bounds on what a client may make the server hold or wait for.
    pub(crate) limits: Limits,
    /// Where finished exchanges are logged; `None` with `--quiet`.
    pub(crate) access_log: Option<AccessLog>,
    /// Where requests and connections are counted; `None` on the admin
    /// listener, whose scrapes are not traffic.
    pub(crate) telemetry: Option<Arc<Telemetry>>,
    /// TLS for every connection, when the listener speaks HTTPS.
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Serve one connection until it closes.
///
/// When `shutdown` becomes true an idle connection closes at once, and a
/// request in flight completes with `Connection: close` on its response.
pub(crate) async fn serve_connection<S: Service>(
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    service: Arc<S>,
    config: Arc<ConnConfig>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Without Nagle's algorithm (`TCP_NODELAY`) from the listener: see
    // `listener::socket`.
    let _open = config.telemetry.as_ref().map(|t| t.metrics.connection());
    // A fresh connection must start its first request within the head
    // timeout, like a trickled head; a TLS handshake counts against it.
    let first_deadline = Instant::now() + config.limits.header_timeout;
    let transport = match &config.tls {
        None => Transport::Plain(stream),
        Some(acceptor) => {
            match super::handshake::accept(stream, acceptor, first_deadline, peer).await {
                Some(tls) => tls,
                None => return,
            }
        }
    };
    let mut conn = Conn {
        io: ConnIo::new(transport, config.limits.send_timeout),
        req: Request::empty(peer, local),
        config: &config,
    };
    conn.req.secure = config.tls.is_some();
    conn.run(&*service, &mut shutdown, first_deadline).await;
}

struct Conn<'a> {
    io: ConnIo,
    req: Request,
    config: &'a ConnConfig,
}

/// What reading the next head produced.
enum Next {
    Head(Head),
    /// The client went away, stayed idle too long, or the server stops.
    Close,
    Reject(Rejection),
}

/// What writing one response did.
struct Written {
    /// Payload bytes sent.
    bytes: u64,
    /// Whether the body the head announced was sent whole; a cut-off or
    /// connection-delimited one leaves the connection unusable.
    complete: bool,
}

/// What a streamed response waits on next.
enum StreamEvent {
    Frame(Option<Result<http_body::Frame<bytes::Bytes>, super::response::StreamError>>),
    Pumped(Result<bool, super::BodyError>),
    Idle,
}

/// Feed one piece of the request body to `sink`; never resolves without one.
async fn pump(
    body: &mut BodyState,
    io: &mut ConnIo,
    sink: Option<&BodySink>,
) -> Result<bool, super::BodyError> {
    match sink {
        Some(sink) => body.pump_into(io, sink).await,
        None => std::future::pending().await,
    }
}

/// How an exchange left the connection.
enum After {
    KeepAlive,
    /// Close; `linger` when the client may still be sending.
    Close {
        linger: bool,
    },
}

impl Conn<'_> {
    async fn run<S: Service>(
        &mut self,
        service: &S,
        shutdown: &mut watch::Receiver<bool>,
        first_deadline: Instant,
    ) {
        let limits = &self.config.limits;
        let mut idle_deadline = first_deadline;
        let linger = loop {
            let head = match self.next_head(idle_deadline, shutdown).await {
                Next::Head(head) => head,
                Next::Close => break false,
                Next::Reject(rejection) => {
                    self.reject(rejection).await;
                    break true;
                }
            };
            match self.exchange(service, head, shutdown).await {
                After::KeepAlive => {}
                After::Close { linger } => break linger,
            }
            idle_deadline = Instant::now() + limits.keepalive_timeout;
        };
        if self.io.flush().await.is_ok() && linger {
            self.linger().await;
        }
    }

    /// Read until a complete head is buffered, or decide to close.
    async fn next_head(
        &mut self,
        idle_deadline: Instant,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Next {
        let limits = &self.config.limits;
        let mut head_deadline = None;
        loop {
            skip_empty_lines(&mut self.io.rbuf);
            if !self.io.rbuf.is_empty() {
                match parse_head(&self.io.rbuf, limits, &mut self.req) {
                    Ok(Some(head)) => return Next::Head(head),
                    Ok(None) => {}
                    Err(rejection) => return Next::Reject(rejection),
                }
                // The total head deadline runs from its first byte.
                head_deadline.get_or_insert_with(|| Instant::now() + limits.header_timeout);
            }
            let result = match head_deadline {
                Some(deadline) => self.io.read_more(deadline).await,
                None => {
                    // Answers leave at the end of the worker's tick, not one
                    // by one: yielding lets every other connection of this
                    // worker that is ready compute its answer first, so the
                    // writes go out back to back and the client is woken
                    // once per batch instead of once per answer. Waking a
                    // sleeping client costs the sender an IPI; on the VMs we
                    // measured, ~10 us of server CPU per response. Measured
                    // with the hello plugin at 50 connections: 20-21k ->
                    // 27-28k req/s, 1 KiB static files unchanged. With
                    // nothing else ready it costs one non-blocking poll of
                    // the reactor.
                    if !self.io.wbuf.is_empty() {
                        tokio::task::yield_now().await;
                    }
                    if self.io.flush().await.is_err() {
                        return Next::Close;
                    }
                    // At shutdown an idle connection closes, but one whose
                    // next request has already arrived is served first
                    // (with `Connection: close`): closing on it would lose
                    // a request the client has every right to expect an
                    // answer to.
                    if !*shutdown.borrow() {
                        self.io.release_read_buffer();
                        tokio::select! {
                            biased;
                            result = self.io.read_into_rbuf(idle_deadline) => result,
                            () = shutdown_signalled(shutdown) => Ok(usize::from(self.io.take_arrived())),
                        }
                    } else {
                        Ok(usize::from(self.io.take_arrived()))
                    }
                }
            };
            match result {
                Ok(0) => {
                    if head_deadline.is_some() {
                        tracing::debug!(peer = %self.req.peer, "client closed the connection mid-head");
                    }
                    return Next::Close;
                }
                Ok(_) => {}
                Err(ReadError::Timeout) if head_deadline.is_some() => {
                    return Next::Reject(Rejection {
                        status: 408,
                        reason: "request head not received in time",
                    })
                }
                Err(ReadError::Timeout) => return Next::Close,
                Err(ReadError::Io(e)) => {
                    tracing::debug!(peer = %self.req.peer, error = %e, "read failed");
                    return Next::Close;
                }
            }
        }
    }

    /// Answer one parsed request, then leave the connection ready for the
    /// next one or say how to close it.
    async fn exchange<S: Service>(
        &mut self,
        service: &S,
        head: Head,
        shutdown: &watch::Receiver<bool>,
    ) -> After {
        self.io.rbuf.advance(head.len);
        request_id::assign(&mut self.req.id, &self.req.headers);
        let telemetry = self.config.telemetry.as_deref();
        let started = telemetry.map(|_| Instant::now());
        let _in_flight = telemetry.map(|t| t.metrics.in_flight());
        let limits = &self.config.limits;

        let mut body = RequestBody::from_conn(
            &mut self.io,
            head.framing,
            head.expect == Expect::Continue,
            limits.body_timeout,
        );
        let mut response = if head.expect == Expect::Unknown {
            tracing::info!(peer = %self.req.peer, id = %self.req.id, "rejected request: unsupported expectation");
            let mut r = Response::error_page(417);
            r.close = true;
            r
        } else if head.asterisk {
            let mut r = Response::new(200);
            r.headers.push_slices("Allow", b"GET, HEAD, POST, OPTIONS");
            r
        } else {
            // Boxed, so an idle connection's task does not carry the space
            // of a request in flight (the dispatcher's and the gateway's
            // state, kilobytes): one allocation per request buys ~2 KiB per
            // idle keep-alive connection (bench/idle.sh).
            Box::pin(service.call(&self.req, &mut body)).await
        };
        let mut body = body.into_state();

        if !(200..=599).contains(&response.status) {
            tracing::error!(
                id = %self.req.id,
                status = response.status,
                "service answered an invalid final status"
            );
            response = Response::error_page(500);
        }
        // A stream of unknown length to an HTTP/1.0 client ends with the
        // connection.
        let close_delimited = matches!(response.body, Body::Stream(ref s) if s.length.is_none())
            && self.req.version == Version::Http10
            && !status_has_no_body(response.status)
            && !self.req.is_head();
        let keep_alive = head.keep_alive
            && !response.close
            && !close_delimited
            && !*shutdown.borrow()
            && !body.must_close();
        let status = response.status;
        let route = std::mem::replace(&mut response.route, RouteLabel::None);
        let written = self.write_response(response, keep_alive, &mut body).await;
        self.log_exchange(status, written.as_ref().map_or(0, |w| w.bytes));
        if let (Some(t), Some(started)) = (telemetry, started) {
            t.metrics
                .request_done(route, &self.req.method, status, started.elapsed());
        }
        let written = match written {
            Ok(written) => written,
            Err(e) => {
                tracing::debug!(peer = %self.req.peer, id = %self.req.id, error = %e, "writing the response failed");
                return After::Close { linger: false };
            }
        };
        if !written.complete {
            // The head promised a body that did not come whole: the client
            // must see the connection end, not a last chunk.
            return After::Close { linger: false };
        }
        if !keep_alive {
            return After::Close {
                linger: body.has_unread() || !self.io.rbuf.is_empty(),
            };
        }
        if !body.drain(&mut self.io).await {
            tracing::debug!(peer = %self.req.peer, id = %self.req.id, "unread request body not drained; closing");
            return After::Close { linger: true };
        }
        After::KeepAlive
    }

    /// Frame and write `response`. With keep-alive, a small response may
    /// stay in the write buffer: it goes out before the next wait on the
    /// client, together with the answers to any requests already pipelined
    /// behind this one.
    async fn write_response(
        &mut self,
        response: Response,
        keep_alive: bool,
        request_body: &mut BodyState,
    ) -> std::io::Result<Written> {
        let no_content = status_has_no_body(response.status);
        let connection = match (keep_alive, self.req.version) {
            (false, _) => ConnectionHeader::Close,
            (true, Version::Http10) => ConnectionHeader::KeepAlive,
            (true, Version::Http11) => ConnectionHeader::Omit,
        };
        let chunked = self.req.version == Version::Http11;
        let framing = match response.body.len() {
            _ if no_content => Framing::Unannounced,
            Some(len) => Framing::Length(len),
            None if chunked => Framing::Chunked,
            None => Framing::Unannounced,
        };
        encode_head(
            &mut self.io.wbuf,
            &response,
            &self.req.id,
            framing,
            connection,
        );
        let send_body = !no_content && !self.req.is_head();
        let mut written = Written {
            bytes: 0,
            complete: true,
        };
        match response.body {
            _ if !send_body => {}
            Body::Empty => {}
            Body::Bytes(bytes) if bytes.len() <= COPY_BODY_MAX => {
                self.io.wbuf.extend_from_slice(&bytes);
                written.bytes = bytes.len() as u64;
            }
            Body::Bytes(bytes) => {
                self.io.flush_with(&bytes).await?;
                written.bytes = bytes.len() as u64;
            }
            Body::File(file) => {
                self.io.send_file(&file).await?;
                written.bytes = file.len;
            }
            Body::Stream(stream) => {
                let chunked = chunked && stream.length.is_none();
                written = self.write_stream(stream, chunked, request_body).await?;
            }
        }
        if !keep_alive {
            self.io.flush().await?;
        }
        Ok(written)
    }

    /// Write a body as its frames come, chunked or raw, while feeding the
    /// rest of the request body to its reader. Frames that are ready at once
    /// are gathered into one write; the last chunk stays in the write buffer
    /// like any small answer.
    async fn write_stream(
        &mut self,
        mut stream: StreamBody,
        chunked: bool,
        request_body: &mut BodyState,
    ) -> std::io::Result<Written> {
        let mut sink = stream.request_body.take();
        let promised = stream.length;
        if request_body.awaiting_continue() {
            // The client holds its body back until `100 Continue`, which
            // cannot follow a final response head: the reader gets no body.
            sink = None;
        }
        let mut bytes = 0u64;
        loop {
            let event = tokio::select! {
                biased;
                frame = stream.frames.frame() => StreamEvent::Frame(frame),
                // Polled only when nothing is ready: flushing between
                // frames that are ready at once would cost a write each.
                () = std::future::ready(()), if !self.io.wbuf.is_empty() => StreamEvent::Idle,
                pumped = pump(request_body, &mut self.io, sink.as_ref()) => StreamEvent::Pumped(pumped),
            };
            match event {
                StreamEvent::Idle => self.io.flush().await?,
                StreamEvent::Pumped(Ok(true)) => {}
                StreamEvent::Pumped(Ok(false)) => sink = None,
                StreamEvent::Pumped(Err(e)) => {
                    tracing::info!(peer = %self.req.peer, id = %self.req.id, error = %e, "request body failed while the response streamed");
                    sink = None;
                }
                StreamEvent::Frame(Some(Ok(frame))) => {
                    let Ok(mut data) = frame.into_data() else {
                        continue;
                    };
                    let mut over = false;
                    if let Some(limit) = promised {
                        let room = limit.saturating_sub(bytes);
                        if data.len() as u64 > room {
                            data.truncate(usize::try_from(room).unwrap_or(usize::MAX));
                            over = true;
                        }
                    }
                    bytes += data.len() as u64;
                    self.io.write_piece(&data, chunked).await?;
                    if over {
                        tracing::warn!(peer = %self.req.peer, id = %self.req.id, sent = bytes, "response cut off: the body is longer than its Content-Length");
                        self.io.flush().await?;
                        return Ok(Written {
                            bytes,
                            complete: false,
                        });
                    }
                }
                StreamEvent::Frame(Some(Err(e))) => {
                    tracing::warn!(peer = %self.req.peer, id = %self.req.id, sent = bytes, "response cut off: {e}");
                    self.io.flush().await?;
                    return Ok(Written {
                        bytes,
                        complete: false,
                    });
                }
                StreamEvent::Frame(None) => {
                    if chunked {
                        self.io.wbuf.extend_from_slice(b"0\r\n\r\n");
                    }
                    let complete = match promised {
                        Some(limit) if bytes < limit => {
                            tracing::warn!(peer = %self.req.peer, id = %self.req.id, sent = bytes, promised = limit, "response cut off: the body is shorter than its Content-Length");
                            self.io.flush().await?;
                            false
                        }
                        Some(_) => true,
                        None => chunked,
                    };
                    return Ok(Written { bytes, complete });
                }
            }
        }
    }

    fn log_exchange(&self, status: u16, bytes: u64) {
        let Some(log) = &self.config.access_log else {
            return;
        };
        let req = &self.req;
        log.log(&Exchange {
            peer: req.peer.ip(),
            request: RequestLine::Parsed {
                method: &req.method,
                target: &req.target,
                version: req.version,
            },
            status,
            bytes,
            referer: req.headers.get("referer"),
            user_agent: req.headers.get("user-agent"),
            request_id: &req.id,
        });
    }

    /// Answer a head we refused, with `Connection: close`. The error body is
    /// fixed text: nothing of the request is echoed.
    async fn reject(&mut self, rejection: Rejection) {
        let peer = self.req.peer;
        // The head was not understood: the client's id is not trusted.
        request_id::assign(&mut self.req.id, &Headers::new());
        let id = &self.req.id;
        tracing::info!(%peer, id, status = rejection.status, reason = rejection.reason, "rejected request");
        let line = first_line(&self.io.rbuf);
        let is_head = line.starts_with(b"HEAD ");
        let response = Response::error_page(rejection.status);
        let mut out = std::mem::take(&mut self.io.wbuf);
        encode_head(
            &mut out,
            &response,
            id,
            Framing::Length(response.body.len().unwrap_or(0)),
            ConnectionHeader::Close,
        );
        let mut sent = 0;
        if let (Body::Bytes(bytes), false) = (&response.body, is_head) {
            out.extend_from_slice(bytes);
            sent = bytes.len() as u64;
        }
        if let Some(log) = &self.config.access_log {
            log.log(&Exchange {
                peer: peer.ip(),
                request: RequestLine::Raw(if line.is_empty() { b"-" } else { line }),
                status: rejection.status,
                bytes: sent,
                referer: None,
                user_agent: None,
                request_id: id,
            });
        }
        if let Some(t) = &self.config.telemetry {
            let method = line.split(|&b| b == b' ').next().unwrap_or_default();
            t.metrics.request_done(
                RouteLabel::None,
                std::str::from_utf8(method).unwrap_or_default(),
                rejection.status,
                std::time::Duration::ZERO,
            );
        }
        self.io.wbuf = out;
        if let Err(e) = self.io.flush().await {
            tracing::debug!(%peer, error = %e, "writing the rejection failed");
        }
    }

    /// Half-close, then read and discard whatever the client still sends
    /// for a bounded time: closing a socket with unread input makes the
    /// kernel send RST, which can destroy the response before the client
    /// read it.
    async fn linger(&mut self) {
        self.io.shutdown_write().await;
        let deadline = Instant::now() + Limits::LINGER_TIME;
        loop {
            self.io.rbuf.clear();
            match self.io.read_into_rbuf(deadline).await {
                Ok(n) if n > 0 => {}
                _ => return,
            }
        }
    }
}

/// Drop the empty lines a client may send between requests (RFC 9112
/// §2.2), so that a connection holding only those still counts as idle.
fn skip_empty_lines(buf: &mut bytes::BytesMut) {
    loop {
        match &buf[..] {
            [b'\r', b'\n', ..] => buf.advance(2),
            [b'\n', ..] => buf.advance(1),
            _ => return,
        }
    }
}

/// The first line of a (possibly partial) head, for the log.
fn first_line(buf: &[u8]) -> &[u8] {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let rest = &buf[start..];
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
    &line[..line.len().min(LOGGED_LINE_MAX)]
}

/// Resolves once shutdown is signalled; never, if the sender is gone.
async fn shutdown_signalled(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::access_log::tests::Captured;
    use crate::http::{FileBody, Headers};
    use bytes::Bytes;
    use std::future::Future;
    use std::io::Write as _;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Each test is bounded: a hung server fails the test instead of the run.
    const TEST_CAP: Duration = Duration::from_secs(10);

    struct TestService {
        file: std::path::PathBuf,
        /// Signalled when `/echo` starts, so tests act while it is in flight.
        entered: Arc<tokio::sync::Notify>,
    }

    impl Service for TestService {
        async fn call<'a>(&'a self, req: &'a Request, body: &'a mut RequestBody<'_>) -> Response {
            let mut r = Response::new(200);
            r.headers.push("Content-Type", "text/plain");
            match req.path.as_str() {
                "/echo" => {
                    self.entered.notify_one();
                    match body.read_to_end(1000).await {
                        Ok(b) => r.body = Body::Bytes(b),
                        Err(e) => return Response::error_page(e.status()),
                    }
                }
                "/ignore" => r.body = Body::Bytes(Bytes::from_static(b"ignored")),
                "/nocontent" => r.status = 204,
                "/big" => r.body = Body::Bytes(Bytes::from(vec![b'x'; 100_000])),
                "/file" => {
                    let file = std::fs::File::open(&self.file).unwrap();
                    r.body = Body::File(FileBody {
                        file,
                        offset: 3,
                        len: 200_000,
                    });
                }
                "/info" => {
                    let text = format!(
                        "{} {} {:?} {:?} {}",
                        req.method,
                        req.path,
                        req.query,
                        req.authority().map(|(host, _)| host),
                        req.version.as_str()
                    );
                    r.body = Body::Bytes(Bytes::from(text));
                }
                _ => r.body = Body::Bytes(Bytes::from_static(b"hello")),
            }
            r
        }
    }

    struct TestServer {
        addr: SocketAddr,
        shutdown: watch::Sender<bool>,
        entered: Arc<tokio::sync::Notify>,
        log: Captured,
        _dir: tempfile::TempDir,
    }

    fn test_limits() -> Limits {
        Limits {
            header_timeout: Duration::from_millis(300),
            body_timeout: Duration::from_millis(500),
            keepalive_timeout: Duration::from_millis(500),
            max_request_line: 200,
            max_header_bytes: 1000,
            max_headers: 20,
            ..Limits::default()
        }
    }

    async fn start(limits: Limits) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data.bin");
        let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::File::create(&file)
            .unwrap()
            .write_all(&content)
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = watch::channel(false);
        let log = Captured::default();
        let config = Arc::new(ConnConfig {
            limits,
            access_log: Some(AccessLog::to_writer(
                Box::new(log.clone()),
                crate::http::LogFormat::Combined,
            )),
            telemetry: None,
            tls: None,
        });
        let entered = Arc::new(tokio::sync::Notify::new());
        let service = Arc::new(TestService {
            file,
            entered: Arc::clone(&entered),
        });
        tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let local = stream.local_addr().unwrap();
                tokio::spawn(serve_connection(
                    stream,
                    peer,
                    local,
                    Arc::clone(&service),
                    Arc::clone(&config),
                    rx.clone(),
                ));
            }
        });
        TestServer {
            addr,
            shutdown: tx,
            entered,
            log,
            _dir: dir,
        }
    }

    #[derive(Debug)]
    struct Resp {
        status: u16,
        headers: Headers,
        body: Vec<u8>,
    }

    impl Resp {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.get_str(name)
        }
    }

    /// Split a byte stream into responses; HEAD answers carry no body.
    fn parse_responses(mut raw: &[u8], head_requests: &[bool]) -> Vec<Resp> {
        let mut out = Vec::new();
        while !raw.is_empty() {
            let mut slots = [httparse::EMPTY_HEADER; 64];
            let mut p = httparse::Response::new(&mut slots);
            let httparse::Status::Complete(len) = p.parse(raw).unwrap() else {
                panic!("partial response: {:?}", String::from_utf8_lossy(raw))
            };
            let mut headers = Headers::new();
            for h in p.headers.iter() {
                headers.push_slices(h.name, h.value);
            }
            let status = p.code.unwrap();
            raw = &raw[len..];
            if status == 100 {
                continue;
            }
            let is_head = head_requests.get(out.len()).copied().unwrap_or(false);
            let body_len = if is_head {
                0
            } else {
                headers
                    .get_str("content-length")
                    .map_or(0, |v| v.parse().unwrap())
            };
            out.push(Resp {
                status,
                headers,
                body: raw[..body_len].to_vec(),
            });
            raw = &raw[body_len..];
        }
        out
    }

    /// Send `request` and read until the server closes.
    async fn send(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
        tokio::time::timeout(TEST_CAP, async {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(request).await.unwrap();
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out).await;
            out
        })
        .await
        .expect("server did not close the connection")
    }

    /// Read from `s` until `n` complete responses (not HEAD) are buffered.
    async fn read_responses(s: &mut tokio::net::TcpStream, n: usize) -> Vec<Resp> {
        let mut buf = Vec::new();
        tokio::time::timeout(TEST_CAP, async {
            loop {
                if let Some(resps) = try_parse(&buf, n) {
                    return resps;
                }
                let mut chunk = [0u8; 65536];
                let got = s.read(&mut chunk).await.unwrap();
                assert!(got > 0, "closed early: {:?}", String::from_utf8_lossy(&buf));
                buf.extend_from_slice(&chunk[..got]);
            }
        })
        .await
        .expect("responses did not arrive")
    }

    fn try_parse(buf: &[u8], n: usize) -> Option<Vec<Resp>> {
        let result = std::panic::catch_unwind(|| parse_responses(buf, &[]));
        match result {
            Ok(r) if r.len() >= n => Some(r),
            _ => None,
        }
    }

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(30), f)
                    .await
                    .expect("test timed out")
            })
    }

    #[test]
    fn keep_alive_serves_several_requests_on_one_connection() {
        run(async {
            let srv = start(test_limits()).await;
            let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
            for _ in 0..3 {
                s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                    .await
                    .unwrap();
                let r = read_responses(&mut s, 1).await;
                assert_eq!(r[0].status, 200);
                assert_eq!(r[0].body, b"hello");
                assert_eq!(r[0].header("server"), Some(crate::SERVER_SOFTWARE));
                assert!(r[0].header("date").unwrap().ends_with(" GMT"));
                assert_eq!(r[0].header("connection"), None);
            }
        });
    }

    #[test]
    fn empty_lines_between_requests_are_ignored() {
        let mut buf = bytes::BytesMut::from(&b"\r\n\n\r\nGET"[..]);
        skip_empty_lines(&mut buf);
        assert_eq!(&buf[..], b"GET");
        let mut buf = bytes::BytesMut::from(&b"\r\r\n"[..]);
        skip_empty_lines(&mut buf);
        assert_eq!(&buf[..], b"\r\r\n");
        run(async {
            let srv = start(test_limits()).await;
            let raw = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\na\r\n\
                GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
            let r = parse_responses(&send(srv.addr, raw).await, &[]);
            assert_eq!(r.len(), 2);
            assert_eq!(r[1].body, b"hello");
        });
    }

    #[test]
    fn pipelined_requests_are_answered_in_order() {
        run(async {
            let srv = start(test_limits()).await;
            let raw = b"GET /info?a=1 HTTP/1.1\r\nHost: one\r\n\r\n\
                POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde\
                POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n2;e=1\r\n12\r\n0\r\nT: 1\r\n\r\n\
                POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nGET\
                GET /info HTTP/1.1\r\nHost: two\r\nConnection: close\r\n\r\n";
            let out = send(srv.addr, raw).await;
            let r = parse_responses(&out, &[]);
            assert_eq!(r.len(), 5, "{:?}", String::from_utf8_lossy(&out));
            assert_eq!(r[0].body, b"GET /info Some(\"a=1\") Some(\"one\") HTTP/1.1");
            assert_eq!(r[1].body, b"abcde");
            assert_eq!(r[2].body, b"xyz12");
            assert_eq!(r[3].body, b"ignored");
            assert_eq!(r[4].body, b"GET /info None Some(\"two\") HTTP/1.1");
            assert_eq!(r[4].header("connection"), Some("close"));
        });
    }

    #[test]
    fn http10_closes_unless_asked_and_never_gets_chunked() {
        run(async {
            let srv = start(test_limits()).await;
            let out = send(srv.addr, b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n").await;
            let r = parse_responses(&out, &[]);
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].header("connection"), Some("close"));
            assert_eq!(r[0].header("transfer-encoding"), None);
            assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));

            let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
            s.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .await
                .unwrap();
            let r = read_responses(&mut s, 1).await;
            assert_eq!(r[0].header("connection"), Some("keep-alive"));
            s.write_all(b"GET /info HTTP/1.0\r\n\r\n").await.unwrap();
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).await.unwrap();
            assert_eq!(
                parse_responses(&rest, &[])[0].body,
                b"GET /info None None HTTP/1.0"
            );
        });
    }

    #[test]
    fn smuggling_shapes_get_400_and_a_closed_connection() {
        run(async {
            let srv = start(test_limits()).await;
            let shapes: &[&[u8]] = &[
                b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
                b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
                b"POST /echo HTTP/1.1\r\nHost: t\r\nX: y\r\n z\r\n\r\n",
                b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length : 3\r\n\r\nabc",
            ];
            for shape in shapes {
                let mut raw = shape.to_vec();
                raw.extend_from_slice(b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n");
                let out = send(srv.addr, &raw).await;
                let r = parse_responses(&out, &[]);
                assert_eq!(r.len(), 1, "{:?}", String::from_utf8_lossy(&out));
                assert_eq!(r[0].status, 400);
                assert_eq!(r[0].header("connection"), Some("close"));
                assert!(!String::from_utf8_lossy(&r[0].body).contains("smuggled"));
            }
            let out = send(
                srv.addr,
                b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            )
            .await;
            assert_eq!(parse_responses(&out, &[])[0].status, 501);
        });
    }

    #[test]
    fn malformed_chunked_body_is_400_and_closes() {
        run(async {
            let srv = start(test_limits()).await;
            let out = send(
                srv.addr,
                b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
            )
            .await;
            let r = parse_responses(&out, &[]);
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].status, 400);
            assert_eq!(r[0].header("connection"), Some("close"));
        });
    }

    #[test]
    fn unread_bodies_are_drained_or_close_the_connection() {
        run(async {
            let srv = start(test_limits()).await;
            let raw = b"POST /ignore HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nGET /\r\n0\r\n\r\n\
                GET /info HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
            let r = parse_responses(&send(srv.addr, raw).await, &[]);
            assert_eq!(r.len(), 2);
            assert_eq!(r[1].body, b"GET /info None Some(\"t\") HTTP/1.1");

            // More than the drain budget: answered, then closed.
            let big = Limits::MAX_DRAIN + 1;
            let head = format!("POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: {big}\r\n\r\n");
            let r = parse_responses(&send(srv.addr, head.as_bytes()).await, &[]);
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].body, b"ignored");
            assert_eq!(r[0].header("connection"), Some("close"));
        });
    }

    #[test]
    fn body_limits_and_timeouts() {
        run(async {
            let srv = start(test_limits()).await;
            // Declared above the service's limit: 413 before reading.
            let out = send(
                srv.addr,
                b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n",
            )
            .await;
            let r = parse_responses(&out, &[]);
            assert_eq!(r[0].status, 413);
            // Chunked beyond the limit.
            let mut raw =
                b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for _ in 0..3 {
                raw.extend_from_slice(b"190\r\n");
                raw.extend_from_slice(&[b'a'; 400]);
                raw.extend_from_slice(b"\r\n");
            }
            let r = parse_responses(&send(srv.addr, &raw).await, &[]);
            assert_eq!(r[0].status, 413);
            assert_eq!(r[0].header("connection"), Some("close"));
            // A body that never completes: 408 after the body timeout.
            let r = parse_responses(
                &send(
                    srv.addr,
                    b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc",
                )
                .await,
                &[],
            );
            assert_eq!(r[0].status, 408);
            assert_eq!(r[0].header("connection"), Some("close"));
        });
    }

    #[test]
    fn expect_100_continue() {
        run(async {
            let srv = start(test_limits()).await;
            let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
            s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
                .await
                .unwrap();
            let mut interim = [0u8; 25];
            s.read_exact(&mut interim).await.unwrap();
            assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
            s.write_all(b"ping").await.unwrap();
            let r = read_responses(&mut s, 1).await;
            assert_eq!((r[0].status, r[0].body.as_slice()), (200, &b"ping"[..]));
            assert_eq!(r[0].header("connection"), None);

            // Answered without reading: no 100, and the connection closes.
            let out = send(srv.addr, b"POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n").await;
            assert!(
                out.starts_with(b"HTTP/1.1 200 OK\r\n"),
                "{:?}",
                String::from_utf8_lossy(&out)
            );
            assert_eq!(
                parse_responses(&out, &[])[0].header("connection"),
                Some("close")
            );

            // Declared too large: 413 without 100.
            let out = send(srv.addr, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4000\r\nExpect: 100-continue\r\n\r\n").await;
            assert!(out.starts_with(b"HTTP/1.1 413 "));

            let out = send(
                srv.addr,
                b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: something\r\n\r\n",
            )
            .await;
            assert!(out.starts_with(b"HTTP/1.1 417 "));
        });
    }

    #[test]
    fn head_gets_length_but_no_body_and_204_no_length() {
        run(async {
            let srv = start(test_limits()).await;
            let raw = b"HEAD /big HTTP/1.1\r\nHost: t\r\n\r\nGET /nocontent HTTP/1.1\r\nHost: t\r\n\r\nHEAD /file HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
            let out = send(srv.addr, raw).await;
            let r = parse_responses(&out, &[true, false, true]);
            assert_eq!(r.len(), 3, "{:?}", String::from_utf8_lossy(&out));
            assert_eq!(r[0].header("content-length"), Some("100000"));
            assert_eq!(r[1].status, 204);
            assert_eq!(r[1].header("content-length"), None);
            assert_eq!(r[2].header("content-length"), Some("200000"));
        });
    }

    #[test]
    fn large_bodies_and_files_arrive_whole() {
        run(async {
            let srv = start(test_limits()).await;
            let raw = b"GET /big HTTP/1.1\r\nHost: t\r\n\r\nGET /file HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
            let r = parse_responses(&send(srv.addr, raw).await, &[]);
            assert_eq!(r[0].body, vec![b'x'; 100_000]);
            let expected: Vec<u8> = (3..200_003u32).map(|i| (i % 251) as u8).collect();
            assert_eq!(r[1].body, expected);
        });
    }

    #[test]
    fn head_limits_answer_414_431_and_408() {
        run(async {
            let srv = start(test_limits()).await;
            let long_line = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(300));
            assert!(send(srv.addr, long_line.as_bytes())
                .await
                .starts_with(b"HTTP/1.1 414 "));
            let big_header = format!(
                "GET / HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n",
                "a".repeat(1200)
            );
            assert!(send(srv.addr, big_header.as_bytes())
                .await
                .starts_with(b"HTTP/1.1 431 "));
            let many: String = (0..30).map(|i| format!("X-{i}: 1\r\n")).collect();
            let many = format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n");
            assert!(send(srv.addr, many.as_bytes())
                .await
                .starts_with(b"HTTP/1.1 431 "));
            // Trickled head: cut off by the total head deadline.
            let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
            s.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
            let mut out = Vec::new();
            tokio::time::timeout(TEST_CAP, async {
                loop {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if s.write_all(b"X: y\r\n").await.is_err() {
                        break;
                    }
                }
            })
            .await
            .unwrap();
            let _ = tokio::time::timeout(TEST_CAP, s.read_to_end(&mut out)).await;
            assert!(
                out.starts_with(b"HTTP/1.1 408 "),
                "{:?}",
                String::from_utf8_lossy(&out)
            );
            // Error pages never echo the request.
            let out = send(srv.addr, b"GET /<script> HTTP/1.1\r\n\r\n").await;
            assert!(out.starts_with(b"HTTP/1.1 400 "));
            assert!(!String::from_utf8_lossy(&out).contains("script"));
        });
    }

    #[test]
    fn idle_connections_close_silently() {
        run(async {
            let srv = start(test_limits()).await;
            // Never sends anything: closed after the head timeout, no answer.
            assert!(send(srv.addr, b"").await.is_empty());
            // Keep-alive idle after a response.
            let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                .await
                .unwrap();
            read_responses(&mut s, 1).await;
            let mut rest = Vec::new();
            tokio::time::timeout(TEST_CAP, s.read_to_end(&mut rest))
                .await
                .unwrap()
                .unwrap();
            assert!(rest.is_empty());
        });
    }

    #[test]
    fn shutdown_closes_idle_and_finishes_in_flight_with_close() {
        run(async {
            let limits = Limits {
                keepalive_timeout: Duration::from_secs(60),
                ..test_limits()
            };
            let srv = start(limits).await;
            let mut idle = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
            idle.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                .await
                .unwrap();
            read_responses(&mut idle, 1).await;
            let mut busy = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
            busy.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\na")
                .await
                .unwrap();
            srv.entered.notified().await;
            srv.shutdown.send(true).unwrap();
            let mut rest = Vec::new();
            tokio::time::timeout(TEST_CAP, idle.read_to_end(&mut rest))
                .await
                .unwrap()
                .unwrap();
            assert!(rest.is_empty());
            busy.write_all(b"b").await.unwrap();
            let mut out = Vec::new();
            tokio::time::timeout(TEST_CAP, busy.read_to_end(&mut out))
                .await
                .unwrap()
                .unwrap();
            let r = parse_responses(&out, &[]);
            assert_eq!(r[0].body, b"ab");
            assert_eq!(r[0].header("connection"), Some("close"));
        });
    }

    #[test]
    fn options_asterisk_and_access_log() {
        run(async {
            let srv = start(test_limits()).await;
            let out = send(
                srv.addr,
                b"OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            )
            .await;
            let r = parse_responses(&out, &[]);
            assert_eq!(r[0].status, 200);
            assert_eq!(r[0].header("allow"), Some("GET, HEAD, POST, OPTIONS"));
            assert_eq!(r[0].header("content-length"), Some("0"));
            send(srv.addr, b"GET /x?\"q\" HTTP/1.1\r\nHost: t\r\nUser-Agent: ua\r\nReferer: r\r\nConnection: close\r\n\r\n").await;
            send(srv.addr, b"BAD\0LINE\r\n\r\n").await;
            let log = srv.config_log();
            assert!(
                log.contains("\"OPTIONS * HTTP/1.1\" 200 0 \"-\" \"-\" \""),
                "{log}"
            );
            assert!(
                log.contains("\"GET /x?\\x22q\\x22 HTTP/1.1\" 200 5 \"r\" \"ua\" \""),
                "{log}"
            );
            assert!(log.contains("\"BAD\\x00LINE\" 400 "), "{log}");
            // Every line ends with the request's id, generated ones too.
            for line in log.lines() {
                let id = line.rsplit(' ').next().unwrap().trim_matches('"');
                assert_eq!(id.len(), 16, "{line}");
            }
        });
    }

    impl TestServer {
        /// Log lines so far (the writer flushes within 100 ms; wait for it).
        fn config_log(&self) -> String {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            loop {
                let text = self.log.text();
                if text.lines().count() >= 3 || std::time::Instant::now() > deadline {
                    return text;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
