//! The token rule of HTTP, shared by header names and cookie names.

/// RFC 9110 §5.6.2: the characters allowed in a header name or cookie name.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
