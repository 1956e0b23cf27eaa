//! Write wasibin handlers in Rust.
//!
//! A wasibin plugin is a WASI command: the request arrives as CGI variables
//! and the body on stdin, the response leaves on stdout. This crate turns that
//! contract into a [`Request`] and a [`Response`], so a handler is a function:
//!
//! ```no_run
//! use wasibin_guest::{Request, Response};
//!
//! fn handle(req: &Request) -> wasibin_guest::Result {
//!     let name = req.query().get("name").unwrap_or("world");
//!     Ok(Response::text(format!("Hello, {name}!\n")))
//! }
//!
//! fn main() {
//!     wasibin_guest::run(handle)
//! }
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip1` and copy the
//! `.wasm` into `plugins/`. The crate has no required dependencies and also
//! builds natively, so handlers are unit-tested with [`Request::builder`] and
//! [`dispatch`] under plain `cargo test`. The `json` feature adds
//! `Response::json` and `Request::json` (serde).

mod cookie;
mod error;
mod form;
mod header_params;
mod html;
mod request;
mod response;
mod urlencoded;

use std::io;

pub use cookie::{Cookie, CookieError, SameSite};
pub use error::{Error, HttpError, Result};
pub use form::{Form, FormError, UploadedFile};
pub use html::escape_html;
pub use request::{Request, RequestBuilder, RequestError};
pub use response::{Response, ResponseError, DEFAULT_CONTENT_TYPE};
pub use urlencoded::{decode_component, encode_component, percent_decode, Params};

/// Runs `handler` on the request this process was started for and writes its
/// response to stdout: the whole `main` of a plugin.
///
/// A handler error becomes an error response (see [`dispatch`]); the process
/// still exits 0 with a complete CGI response, so the host never has to
/// guess. Only a failing stdout (the host went away) exits 1.
pub fn run<F, E>(handler: F)
where
    F: FnOnce(&Request) -> std::result::Result<Response, E>,
    E: Into<Error>,
{
    let response = match Request::from_env() {
        Ok(request) => dispatch(&request, handler),
        Err(e) => error::error_response(&Error::from(e)),
    };
    if let Err(e) = response.write_to(io::stdout().lock()) {
        eprintln!("writing the response failed: {e}");
        std::process::exit(1);
    }
}

/// Calls `handler` and returns the response [`run`] would write: a handler
/// error becomes an error response, and a response that cannot be written
/// (a header with CR/LF, an invalid cookie) becomes a 500, its reason on
/// stderr. Use it to test handlers natively.
///
/// ```
/// use wasibin_guest::{dispatch, Request, Response};
/// let resp = dispatch(&Request::builder("GET", "/").build(), |_req| {
///     Ok::<_, std::io::Error>(Response::text("x").with_header("X-Bad", "a\r\nb"))
/// });
/// assert_eq!(resp.status(), 500);
/// ```
pub fn dispatch<F, E>(request: &Request, handler: F) -> Response
where
    F: FnOnce(&Request) -> std::result::Result<Response, E>,
    E: Into<Error>,
{
    let response = match handler(request) {
        Ok(response) => response,
        Err(e) => error::error_response(&e.into()),
    };
    match response.validate() {
        Ok(()) => response,
        Err(e) => {
            eprintln!("handler returned an invalid response: {e}");
            Response::error(500, "Internal Server Error")
        }
    }
}
