//! Strict percent-decoding of request-path pieces, shared by the static
//! site and the plugin routes so both read a path by the same rule.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// Decode `raw` once, or `None` when an escape is malformed (`%zz`, `%4`)
/// or the result is not UTF-8. The `percent-encoding` crate passes malformed
/// escapes through literally; a server must refuse them instead, so that
/// two readers of one path cannot disagree. Callers add their own refusals
/// (an encoded `/`, NUL, dot segments).
pub(crate) fn decode_strict(raw: &str) -> Option<Cow<'_, str>> {
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
}
