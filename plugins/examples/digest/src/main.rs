//! `digest`: the length and SHA-256 of the request body. It reads stdin in
//! 64 KiB pieces as the upload arrives (the server feeds a large body while
//! it comes, with backpressure), so a gigabyte passes through in bounded
//! memory on both sides.
//!
//! Build: `cargo build --release -p example-digest --target wasm32-wasip1`

use std::io::{self, Read as _, Write as _};

use sha2::{Digest as _, Sha256};

fn main() -> io::Result<()> {
    let mut hasher = Sha256::new();
    let mut piece = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    let mut stdin = io::stdin().lock();
    loop {
        let n = match stdin.read(&mut piece) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // The upload stopped short (too large, too slow): say so.
                return answer(
                    "400 Bad Request",
                    &format!("the body stopped after {total} bytes: {e}\n"),
                );
            }
        };
        hasher.update(&piece[..n]);
        total += n as u64;
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    answer("200 OK", &format!("{total} bytes, sha256 {hex}\n"))
}

fn answer(status: &str, text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    write!(out, "Status: {status}\nContent-Type: text/plain\n\n{text}")?;
    out.flush()
}
