//! The token rule of HTTP, shared by header names and cookie names.

/// RFC 9110 §5.6.2: the characters allowed in a header name or cookie name.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| TCHAR[usize::from(b)])
}

/// `tchar`, by byte: one load per byte where testing the ranges and the
/// list of symbols cost about 40 instructions a byte in a plugin (callgrind).
static TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'^'..=b'`' | b'|' | b'~');
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tchar_is_rfc_9110s() {
        let symbols = b"!#$%&'*+-.^_`|~";
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || symbols.contains(&b);
            assert_eq!(TCHAR[usize::from(b)], expected, "byte {b:#04x}");
        }
        assert!(is_token("Content-Type"));
        assert!(!is_token(""));
        assert!(!is_token("a b"));
        assert!(!is_token("ä"));
    }
}
