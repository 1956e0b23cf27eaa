//! `echo`: the debugging aid every CGI user wants. Prints the request line it
//! was given, every CGI variable as `NAME=value` (sorted), a blank line, and
//! the request body as received.

use std::io::{Read as _, Write as _};

fn var(name: &str) -> String {
    std::env::var_os(name)
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn main() {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\n\n");

    let query = var("QUERY_STRING");
    let mut line = format!(
        "{} {}{}",
        var("REQUEST_METHOD"),
        var("SCRIPT_NAME"),
        var("PATH_INFO")
    );
    if !query.is_empty() {
        line.push('?');
        line.push_str(&query);
    }
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');

    let mut vars: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    vars.sort();
    for (name, value) in vars {
        out.extend_from_slice(format!("{name}={value}\n").as_bytes());
    }
    out.push(b'\n');

    // The host bounds the body; a read error leaves what was read.
    let _ = std::io::stdin().read_to_end(&mut out);
    let _ = std::io::stdout().write_all(&out);
}
