//! Request ids: one per request, sent back as `X-Request-Id`, written in
//! the access log, handed to the plugin and put on its stderr lines, so one
//! id finds a request everywhere it went.
//!
//! A client's (or a proxy's) `X-Request-Id` is kept when it is a short
//! token, so a trace started in front of us continues through us; anything
//! else is replaced, since the id reaches logs and CGI environments.
//! Generated ids are 16 hex digits: a random start per process, then
//! consecutive within a block of [`BLOCK`] that each thread takes at a time,
//! so two replicas do not hand out the same ids and one worker's ids sort in
//! arrival order. Blocks, because one counter shared by every worker was an
//! atomic bounced between the cores' caches on every request.

use std::cell::Cell;
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use super::grammar::{is_token, REQUEST_ID_FIELD};
use super::Headers;

/// The header that carries the id both ways.
pub(crate) const HEADER: &str = REQUEST_ID_FIELD;
/// Longest client-chosen id kept.
pub(crate) const MAX_LEN: usize = 64;

/// Where this process's ids start: random, from the standard library's
/// hash seed (which the OS randomises per process), so no dependency is
/// needed for 64 bits that only have to differ between processes.
static START: LazyLock<u64> = LazyLock::new(|| {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    hasher.finish()
});
/// The next block's first id, less [`START`].
static NEXT: AtomicU64 = AtomicU64::new(0);
/// Ids a thread takes from [`NEXT`] at a time.
const BLOCK: u64 = 1 << 16;

thread_local! {
    /// This thread's next id and the end of its block (both less [`START`]).
    static LOCAL: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A process-unique number, consecutive within this thread's block.
fn next_number() -> u64 {
    LOCAL.with(|local| {
        let (mut next, mut end) = local.get();
        if next == end {
            next = NEXT.fetch_add(BLOCK, Ordering::Relaxed);
            end = next.wrapping_add(BLOCK);
        }
        local.set((next.wrapping_add(1), end));
        START.wrapping_add(next)
    })
}

/// Whether a client's id is kept: 1 to [`MAX_LEN`] token characters.
pub(crate) fn is_acceptable(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_LEN && is_token(id)
}

/// Fill `id` (cleared first, its buffer reused) with the id of a request
/// with these headers.
pub(crate) fn assign(id: &mut String, headers: &Headers) {
    id.clear();
    if let Some(given) = headers.get(HEADER).filter(|v| is_acceptable(v)) {
        // A token is ASCII.
        id.push_str(std::str::from_utf8(given).unwrap_or_default());
        if !id.is_empty() {
            return;
        }
    }
    id.extend(crate::digits::hex_digits(next_number(), 16).map(char::from));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn with(value: Option<&[u8]>) -> String {
        let mut headers = Headers::new();
        if let Some(v) = value {
            headers.push("X-Request-Id", v);
        }
        let mut id = "stale".to_owned();
        assign(&mut id, &headers);
        id
    }

    #[test]
    fn a_short_token_from_the_client_is_kept() {
        assert_eq!(with(Some(b"abc-123_x.y")), "abc-123_x.y");
        let longest = "a".repeat(MAX_LEN);
        assert_eq!(with(Some(longest.as_bytes())), longest);
    }

    #[test]
    fn anything_else_gets_a_fresh_id() {
        for bad in [
            &b""[..],
            b"has space",
            b"quote\"",
            b"new\nline",
            b"\xff",
            "a".repeat(MAX_LEN + 1).as_bytes(),
        ] {
            let id = with(Some(bad));
            assert_eq!(id.len(), 16, "{bad:?} -> {id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_eq!(with(None).len(), 16);
    }

    #[test]
    fn fresh_ids_differ() {
        assert_ne!(with(None), with(None));
    }

    #[test]
    fn threads_hand_out_distinct_ids_consecutive_within_each() {
        let per_thread: Vec<Vec<u64>> = (0..4)
            .map(|_| std::thread::spawn(|| (0..1000).map(|_| next_number()).collect()))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        for ids in &per_thread {
            assert!(ids.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
        }
        let mut all: Vec<u64> = per_thread.concat();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 4000);
    }

    proptest! {
        #[test]
        fn every_id_is_a_short_token(value in proptest::collection::vec(any::<u8>(), 0..100)) {
            let id = with(Some(&value));
            prop_assert!(is_acceptable(id.as_bytes()));
        }
    }
}
