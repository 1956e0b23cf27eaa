//! The accept loop at its limits: the process's open-file limit, the
//! global connection cap derived from it, the answer a connection past the
//! cap gets, and the back-off when `accept` itself fails.
//!
//! Without a cap, a flood of connections runs the process out of file
//! descriptors, and then everything that needs one fails at once: static
//! files, plugin reloads, the compile cache, and every new client. With it,
//! the clients past the cap are refused in microseconds and everyone already
//! connected keeps being served.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// The connection cap and its default, declared once for the flag, the
/// server and the README.
pub(crate) struct ConnectionCap;

impl ConnectionCap {
    /// Descriptors kept back from client connections, at most: the
    /// listener, files being read or sent, plugin modules, the compile
    /// cache, the folder watcher. Never more than a quarter of the limit.
    pub(crate) const FD_RESERVE: u64 = 1024;

    /// The default cap under an open-file (soft) limit of `fd_limit`: that
    /// limit less the reserve.
    pub(crate) fn default_for(fd_limit: u64) -> usize {
        let reserve = Self::FD_RESERVE.min(fd_limit / 4);
        usize::try_from(fd_limit - reserve)
            .unwrap_or(usize::MAX)
            .max(1)
    }
}

/// Raise the soft open-file limit to the hard one (thousands of keep-alive
/// clients need thousands of descriptors; the soft limit is often 1024
/// while the hard one allows far more). Returns the soft limit in force
/// afterwards; `None` when it cannot be read, which leaves the cap to the
/// command line or unbounded.
pub(crate) fn raise_fd_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(err) => {
            tracing::warn!(error = %err, "cannot read or raise the open-file limit");
            rlimit::Resource::NOFILE.get().ok().map(|(soft, _)| soft)
        }
    }
}

/// What a connection past the cap is told before it is closed: written
/// with one non-blocking write (a fresh socket's send buffer is empty), so
/// refusing costs no task and no wait.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 34\r\n\
Retry-After: 1\r\n\
Connection: close\r\n\
\r\n\
Too many connections; retry soon.\n";

/// First pause after `accept` fails for lack of resources.
const BACKOFF_MIN: Duration = Duration::from_millis(5);
/// Longest pause: connections that end free descriptors within it.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The connection cap as every accepting worker applies it: one gate for
/// them all, so a refusal episode is logged once, and its end by whichever
/// worker next admits a connection.
#[derive(Debug)]
pub(crate) struct AcceptGate {
    max: usize,
    /// Which cap this is, as the log names it (`--max-connections`, `admin
    /// listener`).
    cap: &'static str,
    /// Refusing since the cap was last reached (logged once per episode).
    refusing: AtomicBool,
    refused: AtomicU64,
}

impl AcceptGate {
    /// A gate admitting at most `max` open connections; `cap` names it in
    /// the log.
    pub(crate) fn new(max: usize, cap: &'static str) -> AcceptGate {
        AcceptGate {
            max,
            cap,
            refusing: AtomicBool::new(false),
            refused: AtomicU64::new(0),
        }
    }

    /// Whether a connection accepted while `open` others are served may be
    /// served too. The first refusal of an episode is logged, and its end
    /// with the number refused.
    pub(crate) fn admit(&self, open: usize) -> bool {
        if open < self.max {
            // One load on the way of every admitted connection; the swap
            // only when an episode ends.
            if self.refusing.load(Ordering::Relaxed) && self.refusing.swap(false, Ordering::Relaxed)
            {
                // Outside the macro, which skips its fields when nobody
                // listens at info level.
                let refused = self.refused.swap(0, Ordering::Relaxed);
                tracing::info!(
                    refused,
                    "below the connection cap again ({}): accepting",
                    self.cap
                );
            }
            return true;
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        if !self.refusing.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                max = self.max,
                "connection cap reached ({}): refusing new connections with 503",
                self.cap
            );
        }
        false
    }
}

/// One accept loop's pause when `accept` itself fails.
#[derive(Debug)]
pub(crate) struct AcceptBackoff {
    next: Duration,
}

impl Default for AcceptBackoff {
    fn default() -> AcceptBackoff {
        AcceptBackoff { next: BACKOFF_MIN }
    }
}

impl AcceptBackoff {
    /// An `accept` worked: the next failure backs off from the start.
    pub(crate) fn accepted(&mut self) {
        self.next = BACKOFF_MIN;
    }

    /// After `accept` failed: back off exponentially while it is resource
    /// exhaustion (descriptors, buffers, memory), so the loop neither spins
    /// nor waits longer than needed once connections end.
    pub(crate) async fn accept_failed(&mut self, err: &std::io::Error) {
        if let Some(pause) = self.pause_after(err) {
            tokio::time::sleep(pause).await;
        }
    }

    /// How long to pause after `err`, if at all (logged).
    fn pause_after(&mut self, err: &std::io::Error) -> Option<Duration> {
        match err.raw_os_error() {
            Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM) => {
                let pause = self.next;
                tracing::warn!(error = %err, ?pause, "cannot accept: out of resources; backing off");
                self.next = (self.next * 2).min(BACKOFF_MAX);
                Some(pause)
            }
            _ => {
                tracing::debug!(error = %err, "accept failed");
                None
            }
        }
    }
}

/// Tell a connection past the cap to retry, and close it.
pub(crate) fn refuse(stream: TcpStream) {
    // Best effort, never waiting: a client that went away needs no answer.
    if stream.set_nonblocking(true).is_ok() {
        let _ = (&stream).write(REFUSAL);
    }
}

/// The connections waiting in `listener`'s backlog, taken without waiting
/// (straight from the kernel: the reactor may not have reported them yet).
pub(crate) fn backlog(
    listener: &std::net::TcpListener,
) -> impl Iterator<Item = (TcpStream, SocketAddr)> + '_ {
    std::iter::from_fn(move || accept(listener).ok())
}

/// One connection from `listener`, non-blocking from the start (one
/// `accept4`), for the worker that serves it to register: the one that
/// accepted it or, handed over, another. tokio's `accept` would register it
/// with the accepting worker's reactor, and a hand-over take it out again.
pub(crate) fn accept(listener: &std::net::TcpListener) -> std::io::Result<(TcpStream, SocketAddr)> {
    use rustix::net::{acceptfrom_with, SocketFlags};
    let (conn, peer) = acceptfrom_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC)?;
    let peer = peer
        .and_then(|peer| SocketAddr::try_from(peer).ok())
        .ok_or_else(|| std::io::Error::other("accepted a connection without a peer address"))?;
    Ok((TcpStream::from(conn), peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_keeps_a_reserve_of_descriptors_back() {
        assert_eq!(ConnectionCap::default_for(1_048_576), 1_047_552);
        assert_eq!(ConnectionCap::default_for(20_000), 18_976);
        assert_eq!(ConnectionCap::default_for(1024), 768);
        assert_eq!(ConnectionCap::default_for(0), 1);
    }

    #[test]
    fn the_refusal_is_a_complete_response() {
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut resp = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(len)) = resp.parse(REFUSAL) else {
            panic!("incomplete refusal");
        };
        assert_eq!(resp.code, Some(503));
        let declared: usize = resp
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
            .unwrap_or(0);
        assert_eq!(REFUSAL.len() - len, declared);
    }

    #[test]
    fn admits_below_the_cap_and_refuses_at_it() {
        let gate = AcceptGate::new(2, "test");
        assert!(gate.admit(0));
        assert!(gate.admit(1));
        assert!(!gate.admit(2));
        assert!(!gate.admit(5));
        assert_eq!(gate.refused.load(Ordering::Relaxed), 2);
        assert!(gate.admit(1));
        assert_eq!(gate.refused.load(Ordering::Relaxed), 0);
        assert!(!gate.refusing.load(Ordering::Relaxed));
    }

    #[test]
    fn resource_exhaustion_backs_off_exponentially_up_to_a_ceiling() {
        let mut gate = AcceptBackoff::default();
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        let pauses: Vec<_> = (0..12).map(|_| gate.pause_after(&emfile)).collect();
        assert_eq!(pauses[0], Some(BACKOFF_MIN));
        assert_eq!(pauses[1], Some(BACKOFF_MIN * 2));
        assert_eq!(pauses[2], Some(BACKOFF_MIN * 4));
        assert_eq!(pauses[11], Some(BACKOFF_MAX));
        // A connection accepted again starts over.
        gate.accepted();
        assert_eq!(gate.pause_after(&emfile), Some(BACKOFF_MIN));
        let enfile = std::io::Error::from_raw_os_error(libc::ENFILE);
        assert_eq!(gate.pause_after(&enfile), Some(BACKOFF_MIN * 2));
        // Other failures (a client that gave up) do not pause.
        let aborted = std::io::Error::from_raw_os_error(libc::ECONNABORTED);
        assert_eq!(gate.pause_after(&aborted), None);
    }
}
