//! `form`: the tutorials' POST form, as a wasibin plugin. `GET` shows the
//! form; a `POST` of `application/x-www-form-urlencoded` with `firstname`
//! answers a greeting page with the name HTML-escaped.

use std::io::{Read as _, Write as _};

const STYLE: &str = "body{font-family:sans-serif;max-width:40em;margin:2em auto}";

fn var(name: &str) -> String {
    std::env::var_os(name)
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Escapes text for HTML element content and quoted attribute values.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one `application/x-www-form-urlencoded` name or value: `+` is a
/// space, `%XX` a byte; a malformed escape is kept as written.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let pair = bytes
                    .get(i + 1)
                    .copied()
                    .and_then(hex)
                    .zip(bytes.get(i + 2).copied().and_then(hex));
                if let Some((hi, lo)) = pair {
                    out.push(hi << 4 | lo);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first value of `name` in an urlencoded body.
fn field(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(k) == name).then(|| form_decode(v))
    })
}

fn page(status: &str, title: &str, content: &str) -> Vec<u8> {
    format!(
        "Status: {status}\nContent-Type: text/html; charset=utf-8\n\n\
         <!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>{STYLE}</style></head>\n<body>\n{content}\n</body></html>\n"
    )
    .into_bytes()
}

fn form_html(action: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\">\n\
         <label>First name: <input name=\"firstname\" autofocus></label>\n\
         <button>Send</button>\n</form>",
        escape_html(action)
    )
}

fn respond() -> Vec<u8> {
    let action = var("SCRIPT_NAME");
    match var("REQUEST_METHOD").as_str() {
        "GET" | "HEAD" => page(
            "200 OK",
            "Form",
            &format!("<h1>Who are you?</h1>\n{}", form_html(&action)),
        ),
        "POST" => {
            let content_type = var("CONTENT_TYPE");
            let media = content_type.split(';').next().unwrap_or("").trim();
            if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
                return page(
                    "415 Unsupported Media Type",
                    "Unsupported form",
                    "<p>Send the form as application/x-www-form-urlencoded.</p>",
                );
            }
            let mut body = Vec::new();
            // The host bounds the body; a read error leaves what was read.
            let _ = std::io::stdin().read_to_end(&mut body);
            let body = String::from_utf8_lossy(&body);
            match field(&body, "firstname").filter(|n| !n.trim().is_empty()) {
                Some(name) => {
                    let name = escape_html(name.trim());
                    page(
                        "200 OK",
                        &format!("Hello, {name}"),
                        &format!("<h1>Hello, {name}!</h1>"),
                    )
                }
                None => page(
                    "400 Bad Request",
                    "Who are you?",
                    &format!("<p>Please give a first name.</p>\n{}", form_html(&action)),
                ),
            }
        }
        _ => {
            let mut r = b"Allow: GET, HEAD, POST\n".to_vec();
            r.extend(page(
                "405 Method Not Allowed",
                "Method not allowed",
                "<p>Use GET or POST.</p>",
            ));
            r
        }
    }
}

fn main() {
    let _ = std::io::stdout().write_all(&respond());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_decoded() {
        assert_eq!(
            field("a=1&firstname=J%C3%B6rg+M", "firstname").as_deref(),
            Some("Jörg M")
        );
        assert_eq!(field("firstname", "firstname").as_deref(), Some(""));
        assert_eq!(field("x=%zz", "x").as_deref(), Some("%zz"));
        assert_eq!(field("a=1", "firstname"), None);
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(escape_html("<b>\"&'"), "&lt;b&gt;&quot;&amp;&#39;");
    }
}
