//! `echo`: the method, every CGI variable as `NAME=value`, then the body. The
//! debugging aid every CGI user wants.
//!
//! Build: `cargo build --release -p example-echo --target wasm32-wasip1`

use std::fmt::Write;

use wasibin_guest::{Request, Response};

fn handle(req: &Request) -> wasibin_guest::Result {
    let mut out = format!("{} {}\n\n", req.method(), req.path());
    for (name, value) in req.vars() {
        writeln!(out, "{name}={value}")?;
    }
    out.push('\n');
    let mut body = out.into_bytes();
    body.extend_from_slice(req.body());
    Ok(Response::bytes(wasibin_guest::DEFAULT_CONTENT_TYPE, body))
}

fn main() {
    wasibin_guest::run(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_method_vars_and_body() {
        let req = Request::builder("POST", "/echo/x?a=1")
            .script_name("/echo")
            .body("raw")
            .build();
        let resp = wasibin_guest::dispatch(&req, handle);
        let text = String::from_utf8(resp.body().to_vec()).unwrap();
        assert!(text.starts_with("POST /echo/x\n\n"), "{text}");
        assert!(text.contains("\nPATH_INFO=/x\n"), "{text}");
        assert!(text.contains("\nQUERY_STRING=a=1\n"), "{text}");
        assert!(text.ends_with("\n\nraw"), "{text}");
    }
}
