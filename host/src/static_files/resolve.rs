//! Turning a request path into path segments that cannot leave the root.
//!
//! The raw path is split on `/` *before* decoding, so an encoded `%2F` can
//! never become a separator, and each segment is percent-decoded exactly once.
//! Segments are decoded by the rule plugin paths share
//! ([`crate::url_path::decode_segment`]): one that could climb (`.`/`..`),
//! or that carries a separator or a control character after decoding, is
//! refused outright rather than normalised.

use std::path::{Path, PathBuf};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

pub(crate) use crate::url_path::PathError;

/// A validated request path: decoded segments, none of them empty, `.`, `..`,
/// or containing `/`, `\` or a control character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlPath {
    segments: Vec<String>,
    trailing_slash: bool,
}

/// What a segment may keep unencoded in a `Location` we build: RFC 3986
/// unreserved characters only, so the value is plain ASCII and cannot be
/// read as anything but a path.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl UrlPath {
    /// Validate and decode a raw (still percent-encoded) request path.
    /// Empty segments (`//`) are merged away, as nginx does by default.
    pub(crate) fn parse(raw: &str) -> Result<UrlPath, PathError> {
        let rest = raw.strip_prefix('/').ok_or(PathError::Forbidden)?;
        let mut segments = Vec::new();
        for raw_segment in rest.split('/').filter(|s| !s.is_empty()) {
            segments.push(crate::url_path::decode_segment(raw_segment)?.into_owned());
        }
        Ok(UrlPath {
            segments,
            trailing_slash: raw.ends_with('/'),
        })
    }

    /// Whether the request path ended in `/` (only a folder may be asked so).
    pub(crate) fn trailing_slash(&self) -> bool {
        self.trailing_slash
    }

    /// The file-system path this names under `root`. Every pushed component is
    /// a plain name, so the result is lexically inside `root`; symlinks are
    /// checked separately on the opened file.
    pub(crate) fn under(&self, root: &Path) -> PathBuf {
        let mut path = root.to_path_buf();
        for segment in &self.segments {
            path.push(segment);
        }
        path
    }

    /// The `Location` of this folder with a trailing slash: built from the
    /// decoded segments re-encoded, with exactly one leading `/`, so
    /// `//evil.com` style requests can never become a protocol-relative
    /// (open) redirect. The raw query is kept when it is plain visible ASCII.
    pub(crate) fn folder_location(&self, query: Option<&str>) -> String {
        let mut location = String::with_capacity(64);
        location.push('/');
        for segment in &self.segments {
            location.extend(utf8_percent_encode(segment, SEGMENT));
            location.push('/');
        }
        if let Some(query) = query.filter(|q| q.bytes().all(|b| b.is_ascii_graphic())) {
            location.push('?');
            location.push_str(query);
        }
        location
    }
}

#[cfg(test)]
mod tests {
    use std::path::Component;

    use proptest::prelude::*;

    use super::*;

    fn segments(raw: &str) -> Result<Vec<String>, PathError> {
        UrlPath::parse(raw).map(|p| p.segments)
    }

    #[test]
    fn plain_paths_decode() {
        assert_eq!(segments("/").unwrap(), Vec::<String>::new());
        assert_eq!(segments("/a/b.txt").unwrap(), ["a", "b.txt"]);
        assert_eq!(segments("/a%20b/%C3%A9").unwrap(), ["a b", "é"]);
        assert_eq!(segments("//a///b").unwrap(), ["a", "b"]);
        assert!(UrlPath::parse("/dir/").unwrap().trailing_slash());
        assert!(!UrlPath::parse("/dir").unwrap().trailing_slash());
    }

    #[test]
    fn decodes_only_once() {
        assert_eq!(segments("/%252e%252e").unwrap(), ["%2e%2e"]);
    }

    #[test]
    fn traversal_and_smuggling_refused() {
        for raw in [
            "/..",
            "/a/../b",
            "/%2e%2e/etc/passwd",
            "/%2E%2E",
            "/.",
            "/a%2f..%2fb",
            "/a%2Fb",
            "/a\\..\\b",
            "/a%5c..",
            "/a%00b",
            "/a%0Ab",
            "/%7F",
            "relative",
            "",
        ] {
            assert_eq!(segments(raw), Err(PathError::Forbidden), "{raw}");
        }
    }

    #[test]
    fn bad_encodings_refused() {
        for raw in ["/%zz", "/%", "/a%2", "/%ff", "/%c3%28", "/%G0"] {
            assert_eq!(segments(raw), Err(PathError::BadEncoding), "{raw}");
        }
    }

    #[test]
    fn location_never_protocol_relative() {
        let p = UrlPath::parse("//evil.com").unwrap();
        assert_eq!(p.folder_location(None), "/evil.com/");
        let p = UrlPath::parse("/%2Fevil.com");
        assert!(p.is_err());
        let p = UrlPath::parse("/a b/%C3%A9").unwrap();
        assert_eq!(p.folder_location(Some("x=1&y")), "/a%20b/%C3%A9/?x=1&y");
        let p = UrlPath::parse("/d").unwrap();
        assert_eq!(p.folder_location(Some("a\r\nb")), "/d/");
    }

    proptest! {
        #[test]
        fn never_escapes_root(raw in "/[a-zA-Z0-9%./\\\\_~-]{0,40}") {
            if let Ok(path) = UrlPath::parse(&raw) {
                let root = Path::new("/srv/root");
                let full = path.under(root);
                prop_assert!(full.starts_with(root));
                for c in full.strip_prefix(root).unwrap().components() {
                    prop_assert!(matches!(c, Component::Normal(_)), "{raw} gave {c:?}");
                }
                let location = path.folder_location(None);
                prop_assert!(location.starts_with('/'));
                prop_assert!(!location.starts_with("//"));
            }
        }

        #[test]
        fn arbitrary_input_never_panics(raw in any::<String>()) {
            if let Ok(path) = UrlPath::parse(&raw) {
                let root = Path::new("/srv/root");
                prop_assert!(path.under(root).starts_with(root));
            }
        }
    }
}
