//! Strict percent-decoding of request paths, shared by the static site and
//! the plugin routes so both read a path by the same rule: a path whose
//! segment decodes to `.` or `..`, or to anything holding `/`, `\` or a
//! control character, is refused (400) wherever it points. Refusing rather
//! than removing dot segments (RFC 3986 §5.2.4): browsers never send them,
//! and a plugin that maps a folder can then never be walked out of it
//! through `PATH_INFO`, whatever it does with the path.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// Why a request path cannot be served; both answer 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PathError {
    /// A `%` not followed by two hex digits, or decoded bytes that are not UTF-8.
    #[error("invalid percent-encoding or UTF-8 in the path")]
    BadEncoding,
    /// A `.` or `..` segment, an encoded `/`, a backslash or a control character.
    #[error("path segment not allowed")]
    Forbidden,
}

/// Decode one raw segment (the text between two `/`) by the shared rule.
pub(crate) fn decode_segment(raw: &str) -> Result<Cow<'_, str>, PathError> {
    let decoded = decode_strict(raw).ok_or(PathError::BadEncoding)?;
    let forbidden = decoded == "."
        || decoded == ".."
        || decoded
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if forbidden {
        return Err(PathError::Forbidden);
    }
    Ok(decoded)
}

/// Decode a raw path piece segment by segment, keeping its `/` (empty
/// segments included): `PATH_INFO` from the rest of a plugin's path.
pub(crate) fn decode_path(raw: &str) -> Result<Cow<'_, str>, PathError> {
    if !raw.contains('/') {
        return decode_segment(raw);
    }
    let mut out = String::with_capacity(raw.len());
    for (i, segment) in raw.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if !segment.is_empty() {
            out.push_str(&decode_segment(segment)?);
        }
    }
    Ok(Cow::Owned(out))
}

/// Decode `raw` once, or `None` when an escape is malformed (`%zz`, `%4`)
/// or the result is not UTF-8. The `percent-encoding` crate passes malformed
/// escapes through literally; a server must refuse them instead, so that
/// two readers of one path cannot disagree.
fn decode_strict(raw: &str) -> Option<Cow<'_, str>> {
    if !escapes_well_formed(raw.as_bytes()) {
        return None;
    }
    percent_decode_str(raw).decode_utf8().ok()
}

/// Whether every `%` is followed by two hex digits.
fn escapes_well_formed(raw: &[u8]) -> bool {
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            match raw.get(i + 1..i + 3) {
                Some([a, b]) if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else {
            i += 1;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_once_and_refuses_malformed_escapes() {
        assert_eq!(decode_strict("a%20b").as_deref(), Some("a b"));
        assert_eq!(decode_strict("%2541").as_deref(), Some("%41"));
        assert_eq!(decode_strict("%C3%A9").as_deref(), Some("é"));
        assert!(matches!(
            decode_strict("plain"),
            Some(Cow::Borrowed("plain"))
        ));
        assert_eq!(decode_strict("%zz"), None);
        assert_eq!(decode_strict("%4"), None);
        assert_eq!(decode_strict("%"), None);
        assert_eq!(decode_strict("%FF"), None);
    }

    #[test]
    fn segments_that_climb_split_or_carry_controls_are_refused() {
        assert_eq!(decode_segment("a%20b").as_deref(), Ok("a b"));
        assert_eq!(decode_segment("...").as_deref(), Ok("..."));
        assert_eq!(decode_segment(".x").as_deref(), Ok(".x"));
        assert_eq!(decode_segment("%252e%252e").as_deref(), Ok("%2e%2e"));
        for raw in [
            ".", "..", "%2e", "%2E%2e", ".%2E", "a%2Fb", "a%2fb", "a%5Cb", "a\\b", "%00", "a%0Ab",
            "%0D", "%09", "%7F", "%C2%85", "a\u{1}",
        ] {
            assert_eq!(decode_segment(raw), Err(PathError::Forbidden), "{raw:?}");
        }
        for raw in ["%zz", "%4", "%FF", "%c3%28"] {
            assert_eq!(decode_segment(raw), Err(PathError::BadEncoding), "{raw:?}");
        }
    }

    #[test]
    fn paths_decode_segment_by_segment_keeping_their_slashes() {
        assert_eq!(decode_path("").as_deref(), Ok(""));
        assert_eq!(decode_path("/").as_deref(), Ok("/"));
        assert_eq!(decode_path("/a%20b//c/").as_deref(), Ok("/a b//c/"));
        assert_eq!(decode_path("/%C3%A9").as_deref(), Ok("/é"));
        for raw in [
            "/..",
            "/../echo",
            "/%2e%2e/x",
            "/a/./b",
            "/a%0Ab",
            "/a%2Fb",
            "/x/%00",
        ] {
            assert_eq!(decode_path(raw), Err(PathError::Forbidden), "{raw:?}");
        }
        assert_eq!(decode_path("/%zz"), Err(PathError::BadEncoding));
    }
}
