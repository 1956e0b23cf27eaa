//! Validators and conditional requests (RFC 9110 §8.8, §13): `ETag`,
//! `Last-Modified`, `If-Match`, `If-Unmodified-Since`, `If-None-Match`,
//! `If-Modified-Since` and `If-Range`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::http::Headers;

/// The latest time an IMF-fixdate can state, 9999-12-31T23:59:59Z, in
/// seconds since the epoch. A file may carry a later modification time (any
/// `touch -d`, an archive from anywhere); `httpdate` panics formatting one.
const LATEST_HTTP_DATE: u64 = 253_402_300_799;

/// What the precondition headers decide before the body is considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// Serve normally (possibly a range).
    Proceed,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// The validators of one representation, as the headers we send them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validators {
    /// The strong entity-tag with its quotes, e.g. `"1f-400-17a"`.
    pub(crate) etag: String,
    /// The `Last-Modified` value (IMF-fixdate).
    pub(crate) last_modified: String,
    /// The modification time truncated to whole seconds, as HTTP dates are.
    pub(crate) modified: SystemTime,
}

impl Validators {
    /// Validators from a file's inode, size and modification time. The tag is
    /// strong: these three change whenever the bytes are replaced or rewritten
    /// (save for an in-place rewrite of equal size within one timestamp tick,
    /// which no stat-based server can see), and a strong tag lets `If-Range`
    /// work. A time before 1970 or after 9999 is stated as the nearest one
    /// an HTTP date can say.
    pub(crate) fn new(ino: u64, len: u64, modified: SystemTime) -> Validators {
        let since_epoch = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
        let seconds = UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs().min(LATEST_HTTP_DATE));
        Validators {
            etag: format!("\"{ino:x}-{len:x}-{:x}\"", since_epoch.as_nanos()),
            last_modified: httpdate::fmt_http_date(seconds),
            modified: seconds,
        }
    }

    /// Evaluate the preconditions of a GET or HEAD in the RFC 9110 §13.2.2
    /// order: `If-Match`, else `If-Unmodified-Since`; then `If-None-Match`,
    /// else `If-Modified-Since` (so a present `If-None-Match` wins).
    pub(crate) fn evaluate(&self, headers: &Headers) -> Precondition {
        if headers.contains("if-match") {
            if !self.any_tag_matches(headers.get_all("if-match"), Comparison::Strong) {
                return Precondition::Failed;
            }
        } else if let Some(since) = date(headers, "if-unmodified-since") {
            if self.modified > since {
                return Precondition::Failed;
            }
        }
        if headers.contains("if-none-match") {
            if self.any_tag_matches(headers.get_all("if-none-match"), Comparison::Weak) {
                return Precondition::NotModified;
            }
        } else if let Some(since) = date(headers, "if-modified-since") {
            if self.modified <= since {
                return Precondition::NotModified;
            }
        }
        Precondition::Proceed
    }

    /// Whether a `Range` may be honoured: true without `If-Range`; with it,
    /// the entity-tag must match strongly or the date exactly.
    pub(crate) fn range_allowed(&self, headers: &Headers) -> bool {
        let Some(value) = headers.get("if-range") else {
            return true;
        };
        let value = value.trim_ascii();
        if value.starts_with(b"\"") || value.starts_with(b"W/") {
            return tag_list_matches(value, &self.etag, Comparison::Strong);
        }
        std::str::from_utf8(value)
            .ok()
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|d| d == self.modified)
    }

    fn any_tag_matches<'a>(
        &self,
        mut values: impl Iterator<Item = &'a [u8]>,
        how: Comparison,
    ) -> bool {
        values.any(|v| tag_list_matches(v, &self.etag, how))
    }
}

/// RFC 9110 §8.8.3.2: weak comparison ignores the `W/` prefixes, strong
/// comparison requires both tags to be strong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Strong,
    Weak,
}

/// Whether a list of entity-tags (or `*`) matches our strong `etag`. A
/// malformed element ends the scan: what came before it still counts.
fn tag_list_matches(list: &[u8], etag: &str, how: Comparison) -> bool {
    let ours = etag.as_bytes();
    let mut rest = list;
    loop {
        let start = rest
            .iter()
            .position(|&b| !matches!(b, b' ' | b'\t' | b','))
            .unwrap_or(rest.len());
        rest = &rest[start..];
        if rest.is_empty() {
            return false;
        }
        if rest[0] == b'*' {
            return true;
        }
        let (weak, quoted) = match rest.strip_prefix(b"W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        if quoted.first() != Some(&b'"') {
            return false;
        }
        let Some(close) = quoted[1..].iter().position(|&b| b == b'"') else {
            return false;
        };
        let tag = &quoted[..close + 2];
        if tag == ours && (how == Comparison::Weak || !weak) {
            return true;
        }
        rest = &quoted[close + 2..];
    }
}

/// A valid HTTP date in the first `name` header; invalid dates are ignored,
/// as RFC 9110 requires.
fn date(headers: &Headers, name: &str) -> Option<SystemTime> {
    headers
        .get_str(name)
        .and_then(|v| httpdate::parse_http_date(v.trim()).ok())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn validators() -> Validators {
        Validators::new(
            0x1f,
            0x400,
            UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789),
        )
    }

    /// Found by the `range_and_conditional` fuzz target: a file dated after
    /// the year 9999 made `httpdate` panic while its validators were built.
    #[test]
    fn a_modification_time_past_the_year_9999_is_stated_as_its_last_second() {
        for secs in [
            LATEST_HTTP_DATE,
            LATEST_HTTP_DATE + 1,
            1 << 40,
            u64::MAX >> 2,
        ] {
            let v = Validators::new(1, 2, UNIX_EPOCH + Duration::from_secs(secs));
            assert_eq!(v.last_modified, "Fri, 31 Dec 9999 23:59:59 GMT");
            assert_eq!(
                v.evaluate(&headers(&[(
                    "if-modified-since",
                    "Fri, 31 Dec 9999 23:59:59 GMT"
                )])),
                Precondition::NotModified
            );
        }
        let before = UNIX_EPOCH - Duration::from_secs(86_400);
        assert_eq!(
            Validators::new(1, 2, before).last_modified,
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }

    fn headers(fields: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in fields {
            h.push(*n, v.as_bytes());
        }
        h
    }

    fn eval(fields: &[(&str, &str)]) -> Precondition {
        validators().evaluate(&headers(fields))
    }

    #[test]
    fn validator_values() {
        let v = validators();
        assert_eq!(v.etag, "\"1f-400-17979cfe3d85cd15\"");
        assert_eq!(v.last_modified, "Tue, 14 Nov 2023 22:13:20 GMT");
    }

    #[test]
    fn if_none_match() {
        let tag = validators().etag;
        assert_eq!(eval(&[("If-None-Match", &tag)]), Precondition::NotModified);
        let weak = format!("W/{tag}");
        assert_eq!(eval(&[("If-None-Match", &weak)]), Precondition::NotModified);
        let list = format!("\"a\", \"b,c\" ,{tag}");
        assert_eq!(eval(&[("if-none-match", &list)]), Precondition::NotModified);
        assert_eq!(eval(&[("If-None-Match", "*")]), Precondition::NotModified);
        assert_eq!(
            eval(&[("If-None-Match", "\"other\"")]),
            Precondition::Proceed
        );
        assert_eq!(eval(&[("If-None-Match", "garbage")]), Precondition::Proceed);
        let two = [("If-None-Match", "\"x\""), ("If-None-Match", tag.as_str())];
        assert_eq!(eval(&two), Precondition::NotModified);
    }

    #[test]
    fn if_modified_since_and_precedence() {
        let lm = validators().last_modified;
        assert_eq!(
            eval(&[("If-Modified-Since", &lm)]),
            Precondition::NotModified
        );
        let later = "Wed, 15 Nov 2023 00:00:00 GMT";
        assert_eq!(
            eval(&[("If-Modified-Since", later)]),
            Precondition::NotModified
        );
        let earlier = "Mon, 13 Nov 2023 00:00:00 GMT";
        assert_eq!(
            eval(&[("If-Modified-Since", earlier)]),
            Precondition::Proceed
        );
        assert_eq!(
            eval(&[("If-Modified-Since", "yesterday")]),
            Precondition::Proceed
        );
        // A present If-None-Match that does not match wins over a matching date.
        let both = [
            ("If-None-Match", "\"other\""),
            ("If-Modified-Since", lm.as_str()),
        ];
        assert_eq!(eval(&both), Precondition::Proceed);
    }

    #[test]
    fn if_match_and_unmodified_since() {
        let tag = validators().etag;
        assert_eq!(eval(&[("If-Match", &tag)]), Precondition::Proceed);
        assert_eq!(eval(&[("If-Match", "*")]), Precondition::Proceed);
        let weak = format!("W/{tag}");
        assert_eq!(eval(&[("If-Match", &weak)]), Precondition::Failed);
        assert_eq!(eval(&[("If-Match", "\"x\"")]), Precondition::Failed);
        let earlier = "Mon, 13 Nov 2023 00:00:00 GMT";
        assert_eq!(
            eval(&[("If-Unmodified-Since", earlier)]),
            Precondition::Failed
        );
        let lm = validators().last_modified;
        assert_eq!(eval(&[("If-Unmodified-Since", &lm)]), Precondition::Proceed);
    }

    #[test]
    fn if_range() {
        let v = validators();
        assert!(v.range_allowed(&headers(&[])));
        assert!(v.range_allowed(&headers(&[("If-Range", &v.etag)])));
        assert!(!v.range_allowed(&headers(&[("If-Range", &format!("W/{}", v.etag))])));
        assert!(!v.range_allowed(&headers(&[("If-Range", "\"old\"")])));
        assert!(v.range_allowed(&headers(&[("If-Range", &v.last_modified)])));
        let other = "Mon, 13 Nov 2023 00:00:00 GMT";
        assert!(!v.range_allowed(&headers(&[("If-Range", other)])));
        assert!(!v.range_allowed(&headers(&[("If-Range", "nonsense")])));
    }

    proptest! {
        #[test]
        fn tag_lists_never_panic(v in any::<Vec<u8>>()) {
            let _ = tag_list_matches(&v, "\"a\"", Comparison::Weak);
            let _ = tag_list_matches(&v, "\"a\"", Comparison::Strong);
        }

        #[test]
        fn finds_our_tag_among_others(
            others in prop::collection::vec("[a-z0-9,]{0,6}", 0..5),
            weak: bool,
        ) {
            let tag = "\"ours\"";
            let clash = others.iter().any(|o| o == "ours");
            let mut list: Vec<String> = others.iter().map(|o| format!("\"{o}\"")).collect();
            let without = list.join(", ");
            prop_assert_eq!(tag_list_matches(without.as_bytes(), tag, Comparison::Weak), clash);
            list.push(if weak { format!("W/{tag}") } else { tag.to_string() });
            let with = list.join(",");
            prop_assert!(tag_list_matches(with.as_bytes(), tag, Comparison::Weak));
            let strong = tag_list_matches(with.as_bytes(), tag, Comparison::Strong);
            prop_assert_eq!(strong, !weak || clash);
        }
    }
}
