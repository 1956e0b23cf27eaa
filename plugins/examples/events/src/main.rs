//! `events`: server-sent events from a plain CGI handler. It prints its head
//! and then one event a second, flushing each: the server sends every event
//! as it is written (its stdout streams once the handler waits), and a page
//! (`static/events.html`) shows them live through `EventSource`.
//!
//! `?n=N` (1 to 30, default 5) is how many events come; then a `done` event
//! tells the page to stop listening, so nothing runs for ever.
//!
//! Build: `cargo build --release -p example-events --target wasm32-wasip1`

use std::io::{self, Write as _};
use std::time::Duration;

const DEFAULT_EVENTS: u32 = 5;
const MAX_EVENTS: u32 = 30;
const INTERVAL: Duration = Duration::from_secs(1);

fn main() -> io::Result<()> {
    let events = std::env::var("QUERY_STRING")
        .ok()
        .and_then(|q| events_asked(&q))
        .unwrap_or(DEFAULT_EVENTS);
    let mut out = io::stdout().lock();
    // No-cache and no buffering by proxies: events are for now.
    out.write_all(
        b"Content-Type: text/event-stream\nCache-Control: no-cache\nX-Accel-Buffering: no\n\n",
    )?;
    // Reconnect no sooner than a minute after the stream ends.
    out.write_all(b"retry: 60000\n\n")?;
    out.flush()?;
    for i in 1..=events {
        write!(out, "id: {i}\ndata: tick {i} of {events}\n\n")?;
        out.flush()?;
        if i < events {
            std::thread::sleep(INTERVAL);
        }
    }
    out.write_all(b"event: done\ndata: bye\n\n")?;
    out.flush()
}

/// `n=N` from the query string, if it is a number in range.
fn events_asked(query: &str) -> Option<u32> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("n="))
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=MAX_EVENTS).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_picks_how_many_events() {
        assert_eq!(events_asked("n=3"), Some(3));
        assert_eq!(events_asked("x=1&n=30"), Some(30));
        assert_eq!(events_asked("n=0"), None);
        assert_eq!(events_asked("n=31"), None);
        assert_eq!(events_asked(""), None);
    }
}
