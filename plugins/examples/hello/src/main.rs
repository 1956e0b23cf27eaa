//! `hello`: greets `?name=`, else the `name` cookie, else the world.
//!
//! Build: `cargo build --release -p example-hello --target wasm32-wasip1`

use wasibin_guest::{Request, Response};

fn handle(req: &Request) -> wasibin_guest::Result {
    let name = req
        .query()
        .get("name")
        .or_else(|| req.cookie("name"))
        .unwrap_or("world");
    Ok(Response::text(format!("Hello, {name}!\n")))
}

fn main() {
    wasibin_guest::run(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_then_cookie_then_world() {
        let body = |req: Request| wasibin_guest::dispatch(&req, handle).body().to_vec();
        assert_eq!(
            body(Request::builder("GET", "/hello?name=Ada").build()),
            b"Hello, Ada!\n"
        );
        assert_eq!(
            body(
                Request::builder("GET", "/hello")
                    .header("Cookie", "name=Bob")
                    .build()
            ),
            b"Hello, Bob!\n"
        );
        assert_eq!(
            body(Request::builder("GET", "/hello").build()),
            b"Hello, world!\n"
        );
    }
}
