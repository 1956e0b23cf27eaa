//! The smallest useful wasibin plugin: a CGI response on stdout.
//!
//! Deliberately bare (no SDK, one write) so it measures the server's cost
//! per request, not the handler's.

use std::io::Write as _;

fn main() {
    // Nothing useful can be done if stdout is gone; the host answers 502.
    let _ = std::io::stdout().write_all(b"Content-Type: text/plain\n\nHello, world!\n");
}
