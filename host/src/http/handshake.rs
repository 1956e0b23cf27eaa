//! The start of a connection on a TLS listener: the handshake, bounded by
//! the same deadline as the first request head (a client that opens a
//! connection and says nothing is dropped alike, encrypted or not), and a
//! short plain-text answer to a client that speaks plain HTTP to the TLS
//! port, so it sees what is wrong instead of hanging or a reset.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::TlsAcceptor;

use super::io::Transport;
use super::Limits;

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// What a plain-HTTP client on the TLS port reads.
const PLAIN_HTTP_REFUSAL: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 51\r\n\
Connection: close\r\n\
\r\n\
This port speaks HTTPS: use https:// to reach it.\r\n";

/// The TLS stream of `stream` once its handshake is done before
/// `deadline`; `None` when the client went away, was too slow, failed the
/// handshake (logged at debug level: scanners do it all day) or spoke
/// plain HTTP (answered with a 400 first).
pub(crate) async fn accept(
    stream: TcpStream,
    acceptor: &TlsAcceptor,
    deadline: Instant,
    peer: SocketAddr,
) -> Option<Transport> {
    let mut first = [0u8; 1];
    match timeout_at(deadline, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        Ok(Ok(_)) | Ok(Err(_)) => return None,
        Err(_) => {
            tracing::debug!(%peer, "no TLS handshake within the header timeout");
            return None;
        }
    }
    if first[0] != TLS_HANDSHAKE_RECORD {
        tracing::info!(%peer, "plain HTTP on the TLS port: answered 400");
        if let Err(e) = refuse_plain_http(stream).await {
            tracing::debug!(%peer, error = %e, "writing the plain-HTTP refusal failed");
        }
        return None;
    }
    match timeout_at(deadline, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(Transport::Tls(Box::new(tls))),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake not finished within the header timeout");
            None
        }
    }
}

/// Answer 400 in plain text, then read what the client still sends for a
/// moment before closing: closing with unread input would reset the
/// connection and could destroy the answer before it is read.
async fn refuse_plain_http(mut stream: TcpStream) -> io::Result<()> {
    let deadline = Instant::now() + Limits::LINGER_TIME;
    timeout_at(deadline, stream.write_all(PLAIN_HTTP_REFUSAL)).await??;
    stream.shutdown().await?;
    let mut sink = [0u8; 4096];
    while let Ok(Ok(n)) = timeout_at(deadline, stream.read(&mut sink)).await {
        if n == 0 {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_well_framed_response() {
        let text = std::str::from_utf8(PLAIN_HTTP_REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
    }
}
