//! `hello-http`: hello as a `wasi:http` handler, the kind of component
//! Spin and `wasmtime serve` run; the same file runs under both and here.
//! `?name=` picks who is greeted.
//!
//! Build: `cargo build --release -p example-hello-http --target wasm32-wasip2`

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wasi::http::proxy::export!(Hello);

struct Hello;

impl Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let name = request
            .path_with_query()
            .and_then(|pq| name_asked(&pq))
            .unwrap_or_else(|| "world".to_owned());
        let text = format!("Hello, {name}!\n");
        let Ok(headers) = Fields::from_list(&[(
            "content-type".to_owned(),
            b"text/plain; charset=utf-8".to_vec(),
        )]) else {
            return;
        };
        let response = OutgoingResponse::new(headers);
        let Ok(body) = response.body() else {
            return;
        };
        ResponseOutparam::set(out, Ok(response));
        if let Ok(stream) = body.write() {
            // One write: a hello is far below the 4 KiB a write may carry.
            let _ = stream.blocking_write_and_flush(text.as_bytes());
        }
        let _ = OutgoingBody::finish(body, None);
    }
}

/// `name=...` from `PATH?QUERY`, `+` and `%XX` decoded; only letters,
/// digits, spaces and `-` are kept, so the greeting needs no escaping.
fn name_asked(path_and_query: &str) -> Option<String> {
    let (_, query) = path_and_query.split_once('?')?;
    let raw = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("name="))?;
    let mut bytes = Vec::with_capacity(raw.len());
    let mut rest = raw.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        match (b, tail) {
            (b'+', _) => {
                bytes.push(b' ');
                rest = tail;
            }
            (b'%', [h, l, more @ ..]) => match (hex(*h), hex(*l)) {
                (Some(h), Some(l)) => {
                    bytes.push(h * 16 + l);
                    rest = more;
                }
                _ => {
                    bytes.push(b);
                    rest = tail;
                }
            },
            _ => {
                bytes.push(b);
                rest = tail;
            }
        }
    }
    let name: String = String::from_utf8_lossy(&bytes)
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
        .collect();
    (!name.is_empty()).then_some(name)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_decoded_and_kept_plain() {
        assert_eq!(name_asked("/h?name=Ada%20L").as_deref(), Some("Ada L"));
        assert_eq!(name_asked("/h?x=1&name=Bob+B").as_deref(), Some("Bob B"));
        assert_eq!(
            name_asked("/h?name=%3Cscript%3E").as_deref(),
            Some("script")
        );
        assert_eq!(name_asked("/h"), None);
        assert_eq!(name_asked("/h?name="), None);
    }
}
