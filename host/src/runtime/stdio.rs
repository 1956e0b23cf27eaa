//! The guest's stderr (and a wasi:http guest's stdout): tagged, bounded log
//! lines, not bytes. Ours rather than wasmtime-wasi's pipes, which keep
//! bytes.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// How much a guest may write in one step; the real bound is checked on write.
const WRITE_PERMIT: usize = 64 * 1024;
/// Longest stderr line logged; the rest of the line is cut off.
pub(crate) const MAX_STDERR_LINE: usize = 2048;
/// Most stderr bytes logged per request; the rest is dropped with one note.
pub(crate) const MAX_STDERR_TOTAL: usize = 64 * 1024;
/// Log target of guest stderr lines, so they can be filtered apart.
pub(crate) const GUEST_LOG_TARGET: &str = "wasibin::guest";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another handle panicked mid-write; the
    // buffer itself is still a valid byte string.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Cuts a byte stream into lines with both a per-line and a total bound.
/// Pure, so the bounds are unit-tested without a guest.
#[derive(Debug)]
pub(super) struct LineSplitter {
    line: Vec<u8>,
    line_cut: bool,
    total: usize,
    exhausted: bool,
    max_line: usize,
    max_total: usize,
}

/// One line ready for the log.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line<'a> {
    /// A line (without its newline); `cut` when it was longer than the bound.
    Text {
        /// The bytes of the line, at most `max_line`.
        bytes: &'a [u8],
        /// Whether the line was truncated.
        cut: bool,
    },
    /// The total bound was reached; nothing more is logged for this request.
    Truncated(usize),
}

impl LineSplitter {
    pub(super) fn new(max_line: usize, max_total: usize) -> Self {
        Self {
            line: Vec::new(),
            line_cut: false,
            total: 0,
            exhausted: false,
            max_line,
            max_total,
        }
    }

    pub(super) fn push(&mut self, bytes: &[u8], emit: &mut dyn FnMut(Line<'_>)) {
        if self.exhausted {
            return;
        }
        let take = bytes.len().min(self.max_total - self.total);
        self.total += take;
        let mut rest = &bytes[..take];
        while !rest.is_empty() {
            let (piece, newline) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], Some(i)),
                None => (rest, None),
            };
            let room = self.max_line - self.line.len();
            self.line.extend_from_slice(&piece[..piece.len().min(room)]);
            self.line_cut |= piece.len() > room;
            match newline {
                Some(i) => {
                    self.emit_line(emit);
                    rest = &rest[i + 1..];
                }
                None => rest = &[],
            }
        }
        if take < bytes.len() {
            self.finish(emit);
            self.exhausted = true;
            emit(Line::Truncated(self.max_total));
        }
    }

    /// Emits a last unterminated line, if any.
    pub(super) fn finish(&mut self, emit: &mut dyn FnMut(Line<'_>)) {
        if !self.line.is_empty() || self.line_cut {
            self.emit_line(emit);
        }
    }

    fn emit_line(&mut self, emit: &mut dyn FnMut(Line<'_>)) {
        let bytes = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
        emit(Line::Text {
            bytes,
            cut: self.line_cut,
        });
        self.line.clear();
        self.line_cut = false;
    }
}

/// Writes one guest line to the log. Control characters are escaped so a
/// guest cannot forge log lines or drive the operator's terminal.
fn log_line(tag: &str, line: Line<'_>) {
    match line {
        Line::Text { bytes, cut } => {
            let mut text = String::with_capacity(bytes.len());
            for c in String::from_utf8_lossy(bytes).chars() {
                if c.is_control() && c != '\t' {
                    text.extend(c.escape_default());
                } else {
                    text.push(c);
                }
            }
            let more = if cut { " [line cut]" } else { "" };
            tracing::info!(target: GUEST_LOG_TARGET, "{tag}: {text}{more}");
        }
        Line::Truncated(n) => {
            tracing::info!(target: GUEST_LOG_TARGET, "{tag}: [stderr truncated after {n} bytes]");
        }
    }
}

/// The guest's stderr: forwarded to the log line by line, tagged with the
/// request's `log_tag`. Never fails a write, so logging can't change what the
/// guest does. The last partial line is logged when the store is dropped.
#[derive(Clone)]
pub(super) struct StderrLog {
    shared: Arc<Mutex<LineLog>>,
}

struct LineLog {
    tag: String,
    lines: LineSplitter,
}

impl LineLog {
    fn push(&mut self, bytes: &[u8]) {
        let tag = &self.tag;
        self.lines.push(bytes, &mut |line| log_line(tag, line));
    }
}

impl Drop for LineLog {
    fn drop(&mut self) {
        let tag = &self.tag;
        self.lines.finish(&mut |line| log_line(tag, line));
    }
}

impl StderrLog {
    pub(super) fn new(tag: String) -> Self {
        Self {
            shared: Arc::new(Mutex::new(LineLog {
                tag,
                lines: LineSplitter::new(MAX_STDERR_LINE, MAX_STDERR_TOTAL),
            })),
        }
    }
}

impl IsTerminal for StderrLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrLog {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for StderrLog {
    async fn ready(&mut self) {}
}

impl OutputStream for StderrLog {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        lock(&self.shared).push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl AsyncWrite for StderrLog {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        lock(&self.shared).push(buf);
        Poll::Ready(Ok(buf.len()))
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

    fn split(max_line: usize, max_total: usize, chunks: &[&[u8]]) -> Vec<String> {
        let mut s = LineSplitter::new(max_line, max_total);
        let mut out = Vec::new();
        let mut emit = |l: Line<'_>| {
            out.push(match l {
                Line::Text { bytes, cut } => {
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(bytes),
                        if cut { "+" } else { "" }
                    )
                }
                Line::Truncated(n) => format!("<{n}>"),
            })
        };
        for c in chunks {
            s.push(c, &mut emit);
        }
        s.finish(&mut emit);
        out
    }

    #[test]
    fn lines_are_joined_across_writes_and_split_on_newlines() {
        assert_eq!(
            split(100, 1000, &[b"ab", b"c\r\nde\n\nf"]),
            ["abc", "de", "", "f"]
        );
    }

    #[test]
    fn long_lines_are_cut_and_marked() {
        assert_eq!(split(3, 1000, &[b"abcdef\nxy"]), ["abc+", "xy"]);
    }

    #[test]
    fn total_is_bounded_with_one_note() {
        assert_eq!(
            split(100, 5, &[b"abc\ndefgh", b"more\n"]),
            ["abc", "d", "<5>"]
        );
    }
}
