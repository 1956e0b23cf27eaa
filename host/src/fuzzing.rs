//! Entry points for the coverage-guided fuzz targets in `fuzz/`: each runs
//! one of our own parsers of hostile bytes on arbitrary input and checks
//! what the parser promises besides not panicking (fed in pieces it decides
//! as it does whole; what it accepts stays within its bounds). Not an API:
//! the parsers stay private, this is the one door the fuzzer needs.

use std::net::SocketAddr;
use std::path::Path;

use crate::cgi::output::{self, Feed, HeadParser};
use crate::http::{parse_head, Chunk, ChunkedDecoder, Headers, Limits, Request};
use crate::plugins::{parse_sidecar, PluginDefaults};
use crate::static_files::{evaluate_range, RangeOutcome, UrlPath, Validators};
use crate::url_path::decode_path;

/// The size of the pieces an input is fed in, from its first byte.
fn split(data: &[u8]) -> (usize, &[u8]) {
    match data.split_first() {
        Some((&first, rest)) => (usize::from(first % 64) + 1, rest),
        None => (1, data),
    }
}

/// A request head: parsed under the default limits and tight ones; an
/// accepted head lies within the input and parses alike when cut at its end.
pub fn request_head(data: &[u8]) {
    let peer = SocketAddr::from(([127, 0, 0, 1], 40000));
    let tight = Limits {
        max_request_line: 64,
        max_header_bytes: 256,
        max_headers: 4,
        ..Limits::default()
    };
    for limits in [Limits::default(), tight] {
        let mut req = Request::empty(peer, peer);
        if let Ok(Some(head)) = parse_head(data, &limits, &mut req) {
            assert!(head.len <= data.len());
            let mut again = Request::empty(peer, peer);
            let cut = parse_head(&data[..head.len], &limits, &mut again);
            assert!(
                matches!(cut, Ok(Some(ref h)) if h.len == head.len),
                "a head parses differently cut at its end"
            );
            assert_eq!(req.target, again.target);
        }
    }
}

/// A chunked body, fed in pieces: every byte consumed is accounted for,
/// and the payload never exceeds what the size lines declared.
pub fn chunked_body(data: &[u8]) {
    let (piece, input) = split(data);
    let mut decoder = ChunkedDecoder::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut payload = 0u64;
    loop {
        if pending.is_empty() {
            if fed >= input.len() {
                return;
            }
            let end = (fed + piece).min(input.len());
            pending.extend_from_slice(&input[fed..end]);
            fed = end;
        }
        let Ok((used, chunk)) = decoder.decode(&pending) else {
            return;
        };
        assert!(used <= pending.len());
        match chunk {
            Chunk::Data(d) => {
                assert!(!d.is_empty(), "empty data piece");
                payload += d.len() as u64;
                assert!(payload <= decoder.declared());
            }
            Chunk::NeedMore => assert_eq!(used, pending.len()),
            Chunk::Done => {
                assert_eq!(payload, decoder.declared());
                return;
            }
        }
        pending.drain(..used);
    }
}

/// A guest's CGI output: the streaming parser, fed in pieces, decides as
/// the whole-output parser does, and finds the body at the same offset.
pub fn cgi_output(data: &[u8]) {
    let (piece, stdout) = split(data);
    let whole = output::parse_head(stdout);
    let mut parser = HeadParser::new();
    let mut offset = 0;
    let streamed = loop {
        if offset >= stdout.len() {
            break Ok(None);
        }
        let end = (offset + piece).min(stdout.len());
        match parser.feed(&stdout[offset..end]) {
            Err(e) => break Err(e),
            Ok(Feed::Partial(next)) => parser = next,
            Ok(Feed::Complete { reply, body_start }) => {
                break Ok(Some((reply, offset + body_start)))
            }
        }
        offset = end;
    };
    assert_eq!(
        format!("{whole:?}"),
        format!("{streamed:?}"),
        "fed in pieces of {piece}"
    );
    let _ = output::parse(stdout);
}

/// A plugin's sidecar `.toml`: read over the defaults without panicking;
/// what it accepts stays within the memory ceiling.
pub fn sidecar(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ceiling = 256 << 20;
    let defaults = PluginDefaults::default();
    if let Ok(config) = parse_sidecar(text, Path::new("/plugins/x.toml"), &defaults, ceiling) {
        assert!(config.limits.max_memory <= ceiling);
    }
}

/// `Range` against a length, and the conditional headers against a file's
/// validators: a range served lies within the file.
pub fn range_and_conditional(data: &[u8]) {
    let (len_bytes, rest) = data.split_at(data.len().min(8));
    let mut raw_len = [0u8; 8];
    raw_len[..len_bytes.len()].copy_from_slice(len_bytes);
    let len = u64::from_le_bytes(raw_len) >> (raw_len[0] % 64);
    match evaluate_range(rest, len) {
        RangeOutcome::Partial { start, len: n } => {
            assert!(n > 0 && start.checked_add(n).is_some_and(|end| end <= len));
        }
        RangeOutcome::Full | RangeOutcome::Unsatisfiable => {}
    }
    let mut headers = Headers::new();
    let names = [
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "if-range",
        "range",
    ];
    for (i, line) in rest.split(|&b| b == b'\n').enumerate() {
        headers.push_slices(names[i % names.len()], line);
    }
    let modified = std::time::UNIX_EPOCH + std::time::Duration::from_secs(len % (1 << 40));
    let validators = Validators::new(len, len, modified);
    let _ = validators.evaluate(&headers);
    let _ = validators.range_allowed(&headers);
}

/// A request path, as the static site and the plugin routes read it: an
/// accepted path never climbs out of its root, and `PATH_INFO` never
/// holds a dot segment or a control character.
pub fn request_path(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(path) = UrlPath::parse(raw) {
        let root = Path::new("/srv/root");
        let full = path.under(root);
        assert!(full.starts_with(root));
        assert!(full.strip_prefix(root).is_ok_and(|rest| rest
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))));
        assert!(!path.folder_location(Some(raw)).starts_with("//"));
    }
    if let Ok(info) = decode_path(raw) {
        assert!(!info.chars().any(char::is_control));
        assert!(info.split('/').all(|seg| seg != "." && seg != ".."));
        assert_eq!(info.matches('/').count(), raw.matches('/').count());
    }
}
