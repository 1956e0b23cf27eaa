//! `stream`: a `wasi:http` handler (a WASI 0.2 component, as Spin and
//! `wasmtime serve` run them) that answers ten lines, 100 ms apart. The
//! server sends each line as it is written, so a client sees them arrive
//! one by one: the shape of a progress page or a long report.
//!
//! `?lines=N` (1 to 100) changes how many lines come.
//!
//! Build: `cargo build --release -p example-stream --target wasm32-wasip2`

use wasi::clocks::monotonic_clock;
use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wasi::http::proxy::export!(Stream);

/// Pause between two lines.
const INTERVAL_NS: u64 = 100_000_000;
/// Lines unless the query asks for another number.
const DEFAULT_LINES: u32 = 10;
/// The most lines a query may ask for.
const MAX_LINES: u32 = 100;

struct Stream;

impl Guest for Stream {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let lines = request
            .path_with_query()
            .and_then(|pq| lines_asked(&pq))
            .unwrap_or(DEFAULT_LINES);
        let headers = Fields::from_list(&[(
            "content-type".to_owned(),
            b"text/plain; charset=utf-8".to_vec(),
        )]);
        let Ok(headers) = headers else {
            return;
        };
        let response = OutgoingResponse::new(headers);
        let Ok(body) = response.body() else {
            return;
        };
        ResponseOutparam::set(out, Ok(response));
        let Ok(stream) = body.write() else {
            return;
        };
        for i in 1..=lines {
            let line = format!("line {i} of {lines}\n");
            // One write and flush per line: the server sees each line as a
            // frame of its own and sends it at once.
            if stream.blocking_write_and_flush(line.as_bytes()).is_err() {
                // The client went away.
                return;
            }
            if i < lines {
                monotonic_clock::subscribe_duration(INTERVAL_NS).block();
            }
        }
        drop(stream);
        let _ = OutgoingBody::finish(body, None);
    }
}

/// `lines=N` from `PATH?QUERY`, if it is a number in range.
fn lines_asked(path_and_query: &str) -> Option<u32> {
    let (_, query) = path_and_query.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("lines="))
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=MAX_LINES).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_picks_the_number_of_lines() {
        assert_eq!(lines_asked("/stream?lines=3"), Some(3));
        assert_eq!(lines_asked("/stream?x=1&lines=100"), Some(100));
        assert_eq!(lines_asked("/stream?lines=0"), None);
        assert_eq!(lines_asked("/stream?lines=101"), None);
        assert_eq!(lines_asked("/stream"), None);
    }
}
