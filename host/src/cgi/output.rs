//! The response side of RFC 3875 (§6): a guest's stdout becomes a validated
//! response head, or an error that answers 502 with nothing of the guest's
//! head reaching the client.
//!
//! The parser is fed bytes as they arrive and reports where the body starts
//! once the blank line has been seen, so a streamed body can follow the head
//! without a second pass. It keeps only the current partial line between
//! feeds, bounded by [`MAX_HEAD_BYTES`].

use crate::http::grammar::{is_field_value, is_server_written, is_token, trim_ows};
use crate::http::Headers;

/// The largest header block a guest may print (bytes, line ends included).
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most header lines a guest may print.
pub(crate) const MAX_HEAD_FIELDS: usize = 100;

/// Why a guest's output is not a CGI response. Every kind answers 502; the
/// text goes to the log (and with `--dev` into the page), never the guest's
/// bytes unescaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OutputError {
    /// The guest printed nothing at all.
    #[error("the handler printed no response")]
    Empty,
    /// The output ended before the blank line that closes the header block.
    #[error("the response headers are not ended by a blank line")]
    MissingBlankLine,
    /// The header block is larger than [`MAX_HEAD_BYTES`].
    #[error("the response header block exceeds {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    /// More than [`MAX_HEAD_FIELDS`] header lines.
    #[error("the response has more than {MAX_HEAD_FIELDS} header lines")]
    TooManyFields,
    /// A header line without a colon.
    #[error("header line {line} has no colon")]
    NoColon {
        /// 1-based line number within the header block.
        line: usize,
    },
    /// A header name that is not an RFC 9110 token (spaces, controls, empty).
    #[error("header line {line} has an invalid field name")]
    InvalidName {
        /// 1-based line number within the header block.
        line: usize,
    },
    /// A header value with CR, LF, NUL or another control character.
    #[error("header {name:?} has a control character in its value")]
    InvalidValue {
        /// The (valid) field name.
        name: String,
    },
    /// A `Status` that is not `NNN [reason]` with NNN in 200..=599 (a final
    /// 1xx would break the framing of the connection).
    #[error("invalid Status header")]
    InvalidStatus,
    /// A `Location` that is not a URI reference in visible ASCII.
    #[error("invalid Location header")]
    InvalidLocation,
    /// `Status`, `Location` or `Content-Type` given more than once.
    #[error("header {name:?} appears more than once")]
    Duplicate {
        /// The CGI field that was repeated.
        name: &'static str,
    },
    /// A document response with a body but without `Content-Type` (RFC
    /// 3875 §6.3.1 asks for one only when a body is returned).
    #[error("the response has a body but no Content-Type")]
    MissingContentType,
    /// A `Content-Length` that is not `1*DIGIT`.
    #[error("invalid Content-Length header")]
    InvalidContentLength,
}

/// What the guest asked the server to do.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// Answer the client with this head (and the guest's body).
    Document {
        /// The status code, 200..=599.
        status: u16,
        /// The guest's own reason phrase, if it gave one.
        reason: Option<String>,
        /// End-to-end fields in the guest's order, duplicates kept; framing,
        /// hop-by-hop, `Date` and `Server` removed (the host sets those).
        headers: Headers,
        /// Whether a body may follow: the head has a `Content-Type`, or is
        /// a client redirect.
        typed: bool,
        /// The body length the guest declared (`Content-Length`); the
        /// server holds it to it.
        length: Option<u64>,
    },
    /// Serve `path` (and `query`) instead, as a GET inside the server
    /// (RFC 3875 §6.2.2); the guest's body and other fields are ignored.
    LocalRedirect {
        /// An absolute path, still percent-encoded.
        path: String,
        /// The query after `?`, if any.
        query: Option<String>,
    },
}

/// The result of feeding bytes to a [`HeadParser`].
#[derive(Debug)]
pub(crate) enum Feed {
    /// The blank line has not arrived yet; feed the next bytes to this parser.
    Partial(HeadParser),
    /// The head is complete.
    Complete {
        /// What to answer.
        reply: Reply,
        /// Where the body starts in the chunk just fed.
        body_start: usize,
    },
}

/// An incremental CGI header-block parser.
#[derive(Debug, Default)]
pub(crate) struct HeadParser {
    /// The bytes of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// Header bytes consumed so far, for the size bound.
    head_bytes: usize,
    lines: usize,
    status: Option<(u16, Option<String>)>,
    location: Option<String>,
    content_type: bool,
    content_length: Option<u64>,
    headers: Headers,
}

/// Parse a complete stdout: the reply and the offset where the body starts.
pub(crate) fn parse(stdout: &[u8]) -> Result<(Reply, usize), OutputError> {
    match HeadParser::new().feed(stdout)? {
        Feed::Complete { reply, body_start } => {
            check_typed(&reply, body_start < stdout.len())?;
            Ok((reply, body_start))
        }
        Feed::Partial(parser) => Err(parser.finish()),
    }
}

/// Parse the start of a stdout still being written: the reply and where
/// the body starts once the head is complete, `None` until then.
pub(crate) fn parse_head(start: &[u8]) -> Result<Option<(Reply, usize)>, OutputError> {
    match HeadParser::new().feed(start)? {
        Feed::Complete { reply, body_start } => Ok(Some((reply, body_start))),
        Feed::Partial(_) => Ok(None),
    }
}

/// A body needs a `Content-Type` (RFC 3875 §6.3.1), except after a status
/// that never carries one; without a body any head is complete.
pub(crate) fn check_typed(reply: &Reply, has_body: bool) -> Result<(), OutputError> {
    match reply {
        Reply::Document {
            typed: false,
            status,
            ..
        } if has_body && !matches!(status, 204 | 205 | 304) => Err(OutputError::MissingContentType),
        _ => Ok(()),
    }
}

impl HeadParser {
    /// A parser at the start of a guest's output.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Consume the next bytes of stdout.
    pub(crate) fn feed(mut self, chunk: &[u8]) -> Result<Feed, OutputError> {
        let mut pos = 0;
        while let Some(nl) = chunk[pos..].iter().position(|&b| b == b'\n') {
            let end = pos + nl + 1;
            self.count(end - pos)?;
            let done = if self.partial.is_empty() {
                self.line(&chunk[pos..end])?
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&chunk[pos..end]);
                self.line(&line)?
            };
            pos = end;
            if done {
                let reply = self.reply()?;
                return Ok(Feed::Complete {
                    reply,
                    body_start: pos,
                });
            }
        }
        let rest = &chunk[pos..];
        self.count(rest.len())?;
        self.partial.extend_from_slice(rest);
        Ok(Feed::Partial(self))
    }

    /// The output ended before the head was complete: the error to report.
    pub(crate) fn finish(self) -> OutputError {
        if self.head_bytes == 0 {
            OutputError::Empty
        } else {
            OutputError::MissingBlankLine
        }
    }

    fn count(&mut self, n: usize) -> Result<(), OutputError> {
        self.head_bytes += n;
        if self.head_bytes > MAX_HEAD_BYTES {
            return Err(OutputError::HeadTooLarge);
        }
        Ok(())
    }

    /// Handle one line including its `\n`; `true` at the blank line.
    fn line(&mut self, line: &[u8]) -> Result<bool, OutputError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Ok(true);
        }
        self.lines += 1;
        if self.lines > MAX_HEAD_FIELDS {
            return Err(OutputError::TooManyFields);
        }
        let lineno = self.lines;
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(OutputError::NoColon { line: lineno })?;
        let name = &line[..colon];
        if !is_token(name) {
            return Err(OutputError::InvalidName { line: lineno });
        }
        // A token is ASCII, so this conversion cannot fail. Borrowed: the
        // field is copied once, into the head's buffers.
        let name = std::str::from_utf8(name).unwrap_or_default();
        let value = trim_ows(&line[colon + 1..]);
        if !is_field_value(value) {
            return Err(OutputError::InvalidValue {
                name: name.to_owned(),
            });
        }
        self.field(name, value)?;
        Ok(false)
    }

    fn field(&mut self, name: &str, value: &[u8]) -> Result<(), OutputError> {
        if name.eq_ignore_ascii_case("status") {
            if self.status.is_some() {
                return Err(OutputError::Duplicate { name: "Status" });
            }
            self.status = Some(parse_status(value)?);
            return Ok(());
        }
        if name.eq_ignore_ascii_case("location") {
            if self.location.is_some() {
                return Err(OutputError::Duplicate { name: "Location" });
            }
            if value.is_empty() || !value.iter().all(u8::is_ascii_graphic) {
                return Err(OutputError::InvalidLocation);
            }
            self.location = Some(String::from_utf8_lossy(value).into_owned());
        } else if name.eq_ignore_ascii_case("content-type") {
            if self.content_type {
                return Err(OutputError::Duplicate {
                    name: "Content-Type",
                });
            }
            self.content_type = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            if self.content_length.is_some() {
                return Err(OutputError::Duplicate {
                    name: "Content-Length",
                });
            }
            self.content_length = Some(parse_length(value)?);
            return Ok(());
        } else if is_server_written(name) {
            return Ok(());
        }
        self.headers.push_slices(name, value);
        Ok(())
    }

    /// Decide what the complete head means (RFC 3875 §6.2, leniently like
    /// Apache: a path `Location` without a `Status` other than 200 is a local
    /// redirect even if other fields or a body came with it).
    fn reply(self) -> Result<Reply, OutputError> {
        let (status, reason) = match self.status {
            Some((code, reason)) => (Some(code), reason),
            None => (None, None),
        };
        if let Some(location) = &self.location {
            if is_local_path(location) && matches!(status, None | Some(200)) {
                let location = location.split('#').next().unwrap_or_default();
                let (path, query) = match location.split_once('?') {
                    Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
                    None => (location.to_owned(), None),
                };
                return Ok(Reply::LocalRedirect { path, query });
            }
            return Ok(Reply::Document {
                status: status.unwrap_or(302),
                reason,
                headers: self.headers,
                typed: true,
                length: self.content_length,
            });
        }
        Ok(Reply::Document {
            status: status.unwrap_or(200),
            reason,
            headers: self.headers,
            typed: self.content_type,
            length: self.content_length,
        })
    }
}

/// A path on this server (`/x`), as opposed to an absolute URL or a
/// network-path reference (`//host/x`), which the client must follow.
fn is_local_path(location: &str) -> bool {
    location.starts_with('/') && !location.starts_with("//")
}

/// `1*DIGIT`, no sign, no list, no overflow.
fn parse_length(value: &[u8]) -> Result<u64, OutputError> {
    if value.is_empty() {
        return Err(OutputError::InvalidContentLength);
    }
    value.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return Err(OutputError::InvalidContentLength);
        }
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(OutputError::InvalidContentLength)
    })
}

/// `NNN` or `NNN reason`.
fn parse_status(value: &[u8]) -> Result<(u16, Option<String>), OutputError> {
    let (code, rest) = value
        .split_at_checked(3)
        .ok_or(OutputError::InvalidStatus)?;
    if !code.iter().all(u8::is_ascii_digit) || !matches!(rest.first(), None | Some(b' ' | b'\t')) {
        return Err(OutputError::InvalidStatus);
    }
    let code = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    if !(200..=599).contains(&code) {
        return Err(OutputError::InvalidStatus);
    }
    let reason = trim_ows(rest);
    // A reason that is not UTF-8 (obs-text) falls back to the standard phrase.
    let reason = (!reason.is_empty())
        .then(|| std::str::from_utf8(reason).ok().map(str::to_owned))
        .flatten();
    Ok((code, reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A parsed document response, flattened for comparisons.
    struct Doc {
        status: u16,
        reason: Option<String>,
        headers: Vec<(String, Vec<u8>)>,
        body_start: usize,
    }

    fn doc(out: &[u8]) -> Doc {
        match parse(out) {
            Ok((
                Reply::Document {
                    status,
                    reason,
                    headers,
                    ..
                },
                body_start,
            )) => Doc {
                status,
                reason,
                headers: headers
                    .iter()
                    .map(|(n, v)| (n.to_owned(), v.to_vec()))
                    .collect(),
                body_start,
            },
            other => panic!("not a document: {other:?}"),
        }
    }

    #[test]
    fn plain_document() {
        let out = b"Content-Type: text/plain\nX-A: 1\n\nhello";
        let d = doc(out);
        assert_eq!((d.status, d.reason), (200, None));
        assert_eq!(
            d.headers,
            [
                ("Content-Type".to_owned(), b"text/plain".to_vec()),
                ("X-A".to_owned(), b"1".to_vec())
            ]
        );
        assert_eq!(&out[d.body_start..], b"hello");
    }

    #[test]
    fn crlf_status_and_duplicates() {
        let out = b"Status: 404 Not  Here \r\nContent-Type:text/html\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n";
        let d = doc(out);
        assert_eq!(d.status, 404);
        assert_eq!(d.reason.as_deref(), Some("Not  Here"));
        let cookies = d.headers.iter().filter(|(n, _)| n == "Set-Cookie");
        assert_eq!(cookies.count(), 2);
        assert_eq!(d.body_start, out.len());
        assert_eq!(doc(b"Status: 201\nContent-Type: a/b\n\n").status, 201);
    }

    #[test]
    fn framing_and_hop_by_hop_fields_are_dropped() {
        let out = b"Content-Type: a/b\nContent-Length: 99\nTransfer-Encoding: chunked\nConnection: close\nDate: x\nServer: evil\nKeep-Alive: 1\nTE: t\nTrailer: x\nUpgrade: h2c\nProxy-Connection: x\nX-Kept: y\n\n";
        let names: Vec<_> = doc(out).headers.into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["Content-Type", "X-Kept"]);
    }

    #[test]
    fn redirects() {
        match parse(b"Location: /other/x?q=1#frag\n\n").unwrap().0 {
            Reply::LocalRedirect { path, query } => {
                assert_eq!(path, "/other/x");
                assert_eq!(query.as_deref(), Some("q=1"));
            }
            r => panic!("{r:?}"),
        }
        let d = doc(b"Location: https://example.com/\n\n");
        assert_eq!(d.status, 302);
        assert_eq!(d.headers[0].1, b"https://example.com/");
        assert_eq!(doc(b"Status: 301\nLocation: https://e.x/\n\n").status, 301);
        assert_eq!(doc(b"Status: 303 See Other\nLocation: /a\n\n").status, 303);
        assert_eq!(doc(b"Location: //evil.example/\n\n").status, 302);
        assert!(matches!(
            parse(b"Status: 200\nLocation: /a\n\n").unwrap().0,
            Reply::LocalRedirect { .. }
        ));
    }

    #[test]
    fn bodyless_statuses_need_no_content_type() {
        assert_eq!(doc(b"Status: 204\n\n").status, 204);
        assert_eq!(doc(b"Status: 304\n\n").status, 304);
        assert_eq!(
            parse(b"Status: 404\n\nmissing").unwrap_err(),
            OutputError::MissingContentType
        );
    }

    #[test]
    fn malformed_heads() {
        let cases: &[(&[u8], OutputError)] = &[
            (b"", OutputError::Empty),
            (b"Content-Type: a/b\n", OutputError::MissingBlankLine),
            (b"Content-Type: a/b", OutputError::MissingBlankLine),
            (b"hello world\n\n", OutputError::NoColon { line: 1 }),
            (
                b"Content-Type: a/b\nX Y: 1\n\n",
                OutputError::InvalidName { line: 2 },
            ),
            (b": x\n\n", OutputError::InvalidName { line: 1 }),
            (b" X: folded\n\n", OutputError::InvalidName { line: 1 }),
            (
                b"Content-Type: a/b\nX: a\rSet-Cookie: evil\n\n",
                OutputError::InvalidValue { name: "X".into() },
            ),
            (
                b"Content-Type: a/b\nX: a\0b\n\n",
                OutputError::InvalidValue { name: "X".into() },
            ),
            (b"Status: 20\n\n", OutputError::InvalidStatus),
            (b"Status: 2000\n\n", OutputError::InvalidStatus),
            (b"Status: abc\n\n", OutputError::InvalidStatus),
            (b"Status: 101\n\n", OutputError::InvalidStatus),
            (b"Status: 600\n\n", OutputError::InvalidStatus),
            (b"Location: \n\n", OutputError::InvalidLocation),
            (b"Location: /a b\n\n", OutputError::InvalidLocation),
            (
                b"Status: 200\nStatus: 200\n\n",
                OutputError::Duplicate { name: "Status" },
            ),
            (
                b"Content-Type: a/b\ncontent-type: c/d\n\n",
                OutputError::Duplicate {
                    name: "Content-Type",
                },
            ),
            (b"X-A: 1\n\nbody", OutputError::MissingContentType),
        ];
        for (out, want) in cases {
            assert_eq!(parse(out).unwrap_err(), *want, "{}", out.escape_ascii());
        }
    }

    #[test]
    fn bounds() {
        let mut many = Vec::new();
        for i in 0..=MAX_HEAD_FIELDS {
            many.extend_from_slice(format!("X-{i}: v\n").as_bytes());
        }
        assert_eq!(parse(&many).unwrap_err(), OutputError::TooManyFields);
        let mut huge = b"Content-Type: a/b\nX: ".to_vec();
        huge.resize(MAX_HEAD_BYTES + 1, b'a');
        assert_eq!(parse(&huge).unwrap_err(), OutputError::HeadTooLarge);
        // An unterminated line is bounded too, not buffered forever.
        let mut parser = HeadParser::new();
        let chunk = vec![b'a'; 1024];
        let err = loop {
            match parser.feed(&chunk) {
                Ok(Feed::Partial(p)) => parser = p,
                Ok(Feed::Complete { .. }) => panic!("no blank line was fed"),
                Err(e) => break e,
            }
        };
        assert_eq!(err, OutputError::HeadTooLarge);
    }

    /// Feed `out` split at `cuts`, as a streaming guest would deliver it.
    fn feed_in_pieces(out: &[u8], cuts: &[usize]) -> Result<(Reply, Vec<u8>), OutputError> {
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (out.len() + 1)).collect();
        bounds.push(0);
        bounds.push(out.len());
        bounds.sort_unstable();
        let mut parser = HeadParser::new();
        for w in bounds.windows(2) {
            let chunk = &out[w[0]..w[1]];
            match parser.feed(chunk)? {
                Feed::Partial(p) => parser = p,
                Feed::Complete { reply, body_start } => {
                    let body = [&chunk[body_start..], &out[w[1]..]].concat();
                    check_typed(&reply, !body.is_empty())?;
                    return Ok((reply, body));
                }
            }
        }
        Err(parser.finish())
    }

    fn token() -> impl Strategy<Value = String> {
        "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
    }

    fn value() -> impl Strategy<Value = String> {
        "[\\x21-\\x7e]([\\x20-\\x7e]{0,30}[\\x21-\\x7e])?"
    }

    /// Output assembled from pieces a CGI head is made of, so that the
    /// hostile cases reach deep into the parser rather than failing at once.
    fn cgi_ish() -> impl Strategy<Value = Vec<u8>> {
        const PIECES: &[&[u8]] = &[
            b"Content-Type: text/plain",
            b"Status: ",
            b"200",
            b"302 Found",
            b"Location: ",
            b"/a?b#c",
            b"http://x/",
            b"Set-Cookie: a=1",
            b"X-A",
            b": ",
            b"\r",
            b"\n",
            b"\r\n",
            b"\0",
            b" ",
            b"\t",
            b"\x7f",
            b"\xff",
            b"body",
        ];
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..400),
            proptest::collection::vec(proptest::sample::select(PIECES), 0..40)
                .prop_map(|p| p.concat()),
        ]
    }

    proptest! {
        #[test]
        fn never_panics_never_yields_controls(
            out in cgi_ish(),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let whole = parse(&out).map(|(r, start)| (r, out[start..].to_vec()));
            let pieces = feed_in_pieces(&out, &cuts);
            match (&whole, &pieces) {
                (Ok((_, b1)), Ok((_, b2))) => prop_assert_eq!(b1, b2),
                (Err(e1), Err(e2)) => prop_assert_eq!(e1, e2),
                _ => prop_assert!(false, "whole and piecewise parses differ"),
            }
            if let Ok((Reply::Document { headers, reason, .. }, _)) = &whole {
                for (n, v) in headers.iter() {
                    prop_assert!(is_token(n.as_bytes()));
                    prop_assert!(!v.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)));
                }
                prop_assert!(!reason.as_deref().unwrap_or_default().contains(['\r', '\n', '\0']));
            }
            if let Ok((Reply::LocalRedirect { path, query }, _)) = whole {
                prop_assert!(path.starts_with('/'));
                let all = format!("{}{}", path, query.unwrap_or_default());
                prop_assert!(!all.contains(['\r', '\n', '\0']));
            }
        }

        #[test]
        fn valid_heads_round_trip(
            fields in proptest::collection::vec(("X-[A-Za-z0-9-]{1,8}", value()), 0..20),
            extra in proptest::collection::vec((token(), value()), 0..5),
            crlf in any::<bool>(),
            status in 200u16..600,
            body in proptest::collection::vec(any::<u8>(), 0..64),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let extra: Vec<_> = extra
                .into_iter()
                .filter(|(n, _)| {
                    let n = n.to_ascii_lowercase();
                    !matches!(n.as_str(), "status" | "location" | "content-type")
                        && !is_server_written(&n)
                })
                .collect();
            let mut want = vec![("Content-Type".to_owned(), "text/plain".to_owned())];
            want.extend(fields);
            want.extend(extra);
            let mut out = format!("Status: {status} Some Reason{eol}");
            for (n, v) in &want {
                out.push_str(&format!("{n}:  {v}\t{eol}"));
            }
            out.push_str(eol);
            let mut out = out.into_bytes();
            out.extend_from_slice(&body);
            let (reply, got_body) = feed_in_pieces(&out, &cuts).unwrap();
            let Reply::Document { status: s, reason, headers, .. } = reply else {
                panic!("not a document");
            };
            prop_assert_eq!(s, status);
            prop_assert_eq!(reason.as_deref(), Some("Some Reason"));
            let got: Vec<_> = headers
                .iter()
                .map(|(n, v)| (n.to_owned(), String::from_utf8(v.to_vec()).unwrap()))
                .collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(got_body, body);
        }
    }
}
