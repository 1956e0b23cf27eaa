//! Parameters of structured header values (`multipart/form-data;
//! boundary="x"`, `form-data; name="f"; filename="a.txt"`), per RFC 9110 §5.6.6.

use crate::urlencoded::percent_decode;

/// Splits a header value into its lower-cased first item (a media type or a
/// disposition type) and its `name=value` parameters, names lower-cased and
/// quoted values unescaped. Malformed pieces are skipped, never fatal: a
/// missing parameter is reported by whoever needed it.
pub(crate) fn parse(value: &str) -> (String, Vec<(String, String)>) {
    let (head, rest) = value.split_once(';').unwrap_or((value, ""));
    let mut params = Vec::new();
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b';') {
            i += 1;
        }
        let name_start = i;
        while i < bytes.len() && !matches!(bytes[i], b'=' | b';') {
            i += 1;
        }
        let name = rest[name_start..i].trim().to_ascii_lowercase();
        if i >= bytes.len() || bytes[i] == b';' {
            continue;
        }
        i += 1;
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
        let value = if bytes.get(i) == Some(&b'"') {
            let mut out = Vec::new();
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                out.push(bytes[i]);
                i += 1;
            }
            i += 1;
            String::from_utf8_lossy(&out).into_owned()
        } else {
            let start = i;
            while i < bytes.len() && bytes[i] != b';' {
                i += 1;
            }
            rest[start..i].trim().to_owned()
        };
        if !name.is_empty() {
            params.push((name, value));
        }
    }
    (head.trim().to_ascii_lowercase(), params)
}

/// The value of parameter `name`, preferring the RFC 8187 extended form
/// (`filename*=UTF-8''%E2%82%AC.txt`) that carries non-ASCII text.
pub(crate) fn get(params: &[(String, String)], name: &str) -> Option<String> {
    let extended = format!("{name}*");
    if let Some((_, v)) = params.iter().find(|(n, _)| *n == extended) {
        if let Some((charset, rest)) = v.split_once('\'') {
            if charset.eq_ignore_ascii_case("utf-8") {
                if let Some((_lang, encoded)) = rest.split_once('\'') {
                    return Some(percent_decode(encoded));
                }
            }
        }
    }
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_and_quoted_params() {
        let (mt, p) = parse(r#"Multipart/Form-Data; Boundary="a b\"c"; x=1"#);
        assert_eq!(mt, "multipart/form-data");
        assert_eq!(get(&p, "boundary").as_deref(), Some("a b\"c"));
        assert_eq!(get(&p, "x").as_deref(), Some("1"));
    }

    #[test]
    fn semicolon_inside_quotes_is_kept() {
        let (_, p) = parse(r#"form-data; name="a;b"; filename="c.txt""#);
        assert_eq!(get(&p, "name").as_deref(), Some("a;b"));
        assert_eq!(get(&p, "filename").as_deref(), Some("c.txt"));
    }

    #[test]
    fn extended_value_wins() {
        let (_, p) = parse("attachment; filename=x; filename*=UTF-8''%E2%82%AC.txt");
        assert_eq!(get(&p, "filename").as_deref(), Some("€.txt"));
    }

    #[test]
    fn garbage_is_skipped() {
        let (mt, p) = parse(";;=;\"; a=\"unterminated");
        assert_eq!(mt, "");
        assert_eq!(get(&p, "a").as_deref(), Some("unterminated"));
    }
}
