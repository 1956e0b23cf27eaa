//! The HTTP grammar every part of wasibin applies: token characters, optional
//! whitespace, field values, which fields belong to one connection rather
//! than to the message, and authorities (RFC 9110 §5 and §7, RFC 9112 §3).
//!
//! One home, because the request parser, the chunked decoder, the response
//! writer and both directions of CGI must agree byte for byte: wherever two
//! readers of one message disagree on where a field ends or which fields a
//! hop owns, a request can be smuggled or a response split.

/// Fields that describe one connection, never the message (RFC 9110 §7.6.1,
/// plus the pre-standard `Keep-Alive` and `Proxy-Connection`): a server
/// neither passes them to a handler nor takes them from one.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Fields the connection loop writes itself on every response: the framing
/// and the server's own `Date` and `Server`.
const SERVER_WRITTEN: &[&str] = &["content-length", "date", "server", REQUEST_ID_FIELD];

/// The field that carries a request's id both ways (see `request_id`).
pub(crate) const REQUEST_ID_FIELD: &str = "x-request-id";

/// RFC 9110 §5.6.2 `tchar`: the characters of a token (method, field name,
/// transfer coding).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A non-empty run of `tchar`.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// A byte allowed inside a field value, a reason phrase or a chunk
/// extension: VCHAR, SP, HTAB and obs-text. Never CR, LF, NUL, DEL or any
/// other control byte, so no value can end a line early.
pub(crate) fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

/// Whether every byte of `value` may appear in a field value.
pub(crate) fn is_field_value(value: &[u8]) -> bool {
    value.iter().all(|&b| is_field_byte(b))
}

/// `value` without leading and trailing OWS (spaces and tabs).
pub(crate) fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// Whether `name` (any case) is a hop-by-hop field.
pub(crate) fn is_hop_by_hop(name: &str) -> bool {
    is_one_of(name, HOP_BY_HOP)
}

/// Whether `name` is a field no one but the connection loop may put on a
/// response: hop-by-hop fields, the framing, `Date` and `Server`.
pub(crate) fn is_server_written(name: &str) -> bool {
    is_hop_by_hop(name) || is_one_of(name, SERVER_WRITTEN)
}

fn is_one_of(name: &str, list: &[&str]) -> bool {
    list.iter()
        .any(|n| n.len() == name.len() && n.eq_ignore_ascii_case(name))
}

/// The authority of an absolute-form target (`http://host:port/path`,
/// scheme in any case), or `None` for any other form. The authority ends at
/// the first `/`, `?` or `#`; userinfo, if any, is still part of it (the
/// request parser refuses it).
pub(crate) fn absolute_authority(target: &str) -> Option<&str> {
    let rest = strip_prefix_ignore_case(target, "http://")
        .or_else(|| strip_prefix_ignore_case(target, "https://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end])
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Split `host[:port]` or `[v6]:port` into the host (an IPv6 literal keeps
/// its brackets, as `SERVER_NAME` writes it, RFC 3875 §4.1.14) and the port
/// digits, `None` when absent or empty. A suffix that is not all digits is
/// part of the host; [`is_valid_host`] refuses such a value at the door.
pub(crate) fn split_authority(authority: &str) -> (&str, Option<&str>) {
    let colon = if authority.starts_with('[') {
        authority
            .find(']')
            .and_then(|close| authority[close..].find(':').map(|c| close + c))
    } else {
        authority.rfind(':')
    };
    match colon {
        Some(c) if authority[c + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            let port = &authority[c + 1..];
            (&authority[..c], (!port.is_empty()).then_some(port))
        }
        _ => (authority, None),
    }
}

/// A Host value or authority: `reg-name[:port]` or `[IP-literal][:port]`,
/// possibly empty. Anything else (slashes, spaces, userinfo) is refused so
/// that no later consumer (`SERVER_NAME`, redirects) sees it.
pub(crate) fn is_valid_host(value: &[u8]) -> bool {
    let (host, port) = if let Some(rest) = value.strip_prefix(b"[") {
        let Some(end) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        if !rest[..end]
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        (&[][..], &rest[end + 1..])
    } else {
        let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        (&value[..end], &value[end..])
    };
    let reg_name_ok = host
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b));
    let port_ok = match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    reg_name_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tokens_and_values() {
        assert!(is_token(b"X-Forwarded-For"));
        assert!(is_token(b"!#$%&'*+-.^_`|~09azAZ"));
        for bad in [&b""[..], b"a b", b"a:b", b"a\0", b"(x)", b"caf\xc3\xa9"] {
            assert!(!is_token(bad), "{bad:?}");
        }
        assert!(is_field_value(b"text/html; charset=\"utf-8\"\tcaf\xc3\xa9"));
        for bad in [&b"a\rb"[..], b"a\nb", b"a\0b", b"a\x7fb", b"\x1b[31m"] {
            assert!(!is_field_value(bad), "{bad:?}");
        }
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b" \t "), b"");
    }

    #[test]
    fn connection_fields() {
        for name in ["Connection", "TE", "Trailer", "Upgrade", "keep-alive"] {
            assert!(is_hop_by_hop(name), "{name}");
            assert!(is_server_written(name), "{name}");
        }
        for name in ["Content-Length", "Date", "SERVER"] {
            assert!(!is_hop_by_hop(name), "{name}");
            assert!(is_server_written(name), "{name}");
        }
        for name in ["Content-Type", "Set-Cookie", "Connections", "T"] {
            assert!(!is_server_written(name), "{name}");
        }
    }

    #[test]
    fn authorities() {
        assert_eq!(
            absolute_authority("HTTP://Other.example:81/p?q"),
            Some("Other.example:81")
        );
        assert_eq!(absolute_authority("https://h"), Some("h"));
        assert_eq!(absolute_authority("http://h?q"), Some("h"));
        assert_eq!(absolute_authority("http://h#f"), Some("h"));
        assert_eq!(absolute_authority("http://u@h/"), Some("u@h"));
        assert_eq!(absolute_authority("/http://x"), None);
        assert_eq!(absolute_authority("ftp://x/"), None);
        assert_eq!(
            split_authority("example.com:8080"),
            ("example.com", Some("8080"))
        );
        assert_eq!(split_authority("example.com"), ("example.com", None));
        assert_eq!(split_authority("example.com:"), ("example.com", None));
        assert_eq!(split_authority("[::1]:80"), ("[::1]", Some("80")));
        assert_eq!(split_authority("[::1]"), ("[::1]", None));
        assert_eq!(split_authority("a:8x"), ("a:8x", None));
        assert!(is_valid_host(b""));
        assert!(is_valid_host(b"[::1]:8080"));
        assert!(is_valid_host(b"a.example:80"));
        for bad in [&b"a/b"[..], b"a b", b"u@a", b"a:8x", b"[::1", b"[x]"] {
            assert!(!is_valid_host(bad), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn trimmed_values_have_no_outer_ows(value in proptest::collection::vec(any::<u8>(), 0..40)) {
            let t = trim_ows(&value);
            prop_assert!(!t.starts_with(b" ") && !t.starts_with(b"\t"));
            prop_assert!(!t.ends_with(b" ") && !t.ends_with(b"\t"));
            prop_assert_eq!(trim_ows(t), t);
        }

        #[test]
        fn a_field_value_never_holds_a_line_end(value in proptest::collection::vec(any::<u8>(), 0..40)) {
            if is_field_value(&value) {
                prop_assert!(!value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0));
            }
        }

        #[test]
        fn tokens_are_what_httparse_accepts_as_names(name in "[ -9;-~]{1,12}") {
            let raw = format!("GET / HTTP/1.1\r\n{name}: v\r\n\r\n");
            let mut headers = [httparse::EMPTY_HEADER; 4];
            let parsed = httparse::Request::new(&mut headers).parse(raw.as_bytes());
            prop_assert_eq!(is_token(name.as_bytes()), parsed.is_ok());
        }

        #[test]
        fn valid_authorities_split_back(
            host in "([a-z0-9.-]{0,20}|\\[[0-9a-f:]{2,20}\\])",
            port in proptest::option::of("[0-9]{1,5}"),
        ) {
            let authority = match &port {
                Some(p) => format!("{host}:{p}"),
                None => host.clone(),
            };
            prop_assert!(is_valid_host(authority.as_bytes()));
            prop_assert_eq!(split_authority(&authority), (host.as_str(), port.as_deref()));
            let target = format!("http://{authority}/x");
            prop_assert_eq!(absolute_authority(&target), Some(authority.as_str()));
        }

        #[test]
        fn authorities_never_panic(target in "\\PC{0,40}") {
            if let Some(a) = absolute_authority(&target) {
                prop_assert!(!a.contains(['/', '?', '#']));
                let (host, port) = split_authority(a);
                prop_assert!(host.len() + port.map_or(0, |p| p.len() + 1) <= a.len());
            }
        }
    }
}
