//! The `Range: bytes=` header (RFC 9110 §14.2), single ranges only.

/// What a `Range` header asks of a representation of a given length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeOutcome {
    /// Serve the whole representation with 200: no header, a header we do
    /// not understand, or several ranges. RFC 9110 §14.2 lets a server ignore
    /// `Range`; answering a multi-range request in full saves us a
    /// `multipart/byteranges` writer that clients almost never need.
    Full,
    /// Serve `len` bytes from `start` with 206.
    Partial {
        /// First byte offset.
        start: u64,
        /// Number of bytes.
        len: u64,
    },
    /// No byte of the range exists: 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Evaluate a `Range` header value against a representation of `len` bytes.
pub(crate) fn evaluate(value: &[u8], len: u64) -> RangeOutcome {
    let Some(spec) = single_spec(value) else {
        return RangeOutcome::Full;
    };
    match spec {
        Spec::From { first, last } => {
            if first >= len {
                return RangeOutcome::Unsatisfiable;
            }
            let last = last.map_or(len - 1, |l| l.min(len - 1));
            RangeOutcome::Partial {
                start: first,
                len: last - first + 1,
            }
        }
        Spec::Suffix(0) => RangeOutcome::Unsatisfiable,
        // A suffix range of an empty representation selects nothing; the
        // whole (empty) answer is the sensible reply.
        Spec::Suffix(_) if len == 0 => RangeOutcome::Full,
        Spec::Suffix(n) => {
            let take = n.min(len);
            RangeOutcome::Partial {
                start: len - take,
                len: take,
            }
        }
    }
}

/// One parsed range-spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `first-last` or `first-`.
    From { first: u64, last: Option<u64> },
    /// `-n`: the last n bytes.
    Suffix(u64),
}

/// The one range-spec of a `bytes=` header; `None` for anything else
/// (another unit, bad syntax, several ranges).
fn single_spec(value: &[u8]) -> Option<Spec> {
    let value = std::str::from_utf8(value).ok()?.trim_matches([' ', '\t']);
    let (unit, set) = value.split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = set
        .split(',')
        .map(|s| s.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty());
    let spec = specs.next()?;
    if specs.next().is_some() {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    if first.is_empty() {
        return Some(Spec::Suffix(digits(last)?));
    }
    let first = digits(first)?;
    let last = if last.is_empty() {
        None
    } else {
        Some(digits(last)?)
    };
    if last.is_some_and(|l| l < first) {
        return None;
    }
    Some(Spec::From { first, last })
}

/// A run of ASCII digits; values beyond `u64` saturate, which keeps huge
/// offsets unsatisfiable and huge suffixes "everything" as the RFC intends.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::RangeOutcome::*;
    use super::*;

    fn eval(v: &str, len: u64) -> RangeOutcome {
        evaluate(v.as_bytes(), len)
    }

    #[test]
    fn single_ranges() {
        assert_eq!(eval("bytes=0-9", 100), Partial { start: 0, len: 10 });
        assert_eq!(eval("bytes=90-", 100), Partial { start: 90, len: 10 });
        assert_eq!(eval("bytes=-10", 100), Partial { start: 90, len: 10 });
        assert_eq!(eval("bytes=-1000", 100), Partial { start: 0, len: 100 });
        assert_eq!(eval("bytes=50-1000", 100), Partial { start: 50, len: 50 });
        assert_eq!(eval("Bytes = 1-1", 100), Full);
        assert_eq!(eval("BYTES=1-1", 100), Partial { start: 1, len: 1 });
        assert_eq!(eval(" bytes=1-1, ", 100), Partial { start: 1, len: 1 });
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(eval("bytes=100-", 100), Unsatisfiable);
        assert_eq!(eval("bytes=100-200", 100), Unsatisfiable);
        assert_eq!(eval("bytes=-0", 100), Unsatisfiable);
        assert_eq!(eval("bytes=0-0", 0), Unsatisfiable);
        assert_eq!(eval("bytes=99999999999999999999999-", 100), Unsatisfiable);
        assert_eq!(eval("bytes=-5", 0), Full);
    }

    #[test]
    fn ignored_headers_serve_full() {
        for v in [
            "",
            "bytes=",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=--1",
            "bytes=1-2-3",
            "items=0-1",
            "bytes=0-1,5-6",
            "bytes=+1-2",
            "bytes=0x1-2",
        ] {
            assert_eq!(eval(v, 100), Full, "{v}");
        }
    }

    proptest! {
        #[test]
        fn partial_always_inside(v in "bytes=[0-9,-]{0,12}", len in 0u64..1000) {
            if let Partial { start, len: n } = evaluate(v.as_bytes(), len) {
                prop_assert!(n >= 1);
                prop_assert!(start + n <= len);
            }
        }

        #[test]
        fn never_panics(v in any::<Vec<u8>>(), len in any::<u64>()) {
            let _ = evaluate(&v, len);
        }
    }
}
