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
mod token;
mod urlencoded;
mod vars;

use std::io;

pub use cookie::{Cookie, CookieError, SameSite};
pub use error::{Error, HttpError, RequestError, Result};
pub use form::{Form, FormError, UploadedFile};
pub use html::escape_html;
pub use request::{Request, RequestBuilder};
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
        Ok(request) => {
            let response = dispatch(&request, handler);
            // The process ends after the response: freeing the request and
            // the response would only cost time (~1k instructions a request).
            std::mem::forget(request);
            response
        }
        Err(e) => error::error_response(&Error::from(e)),
    };
    // Valid either way: `dispatch` checked the handler's response, and the
    // answer to a `RequestError` is a plain 400 or 500.
    if let Err(e) = write_to_stdout(&response) {
        eprintln!("writing the response failed: {e}");
        std::process::exit(1);
    }
    std::mem::forget(response);
}

/// Writes a validated response to stdout. In a plugin the file descriptor
/// is written directly: `io::stdout()` would allocate a line buffer and
/// split the write at its last newline, for ~5k more instructions per
/// request (callgrind) and a second `fd_write` when the body does not end
/// in a newline.
fn write_to_stdout(response: &Response) -> io::Result<()> {
    #[cfg(target_os = "wasi")]
    {
        use std::os::fd::FromRawFd;
        // SAFETY: fd 1 is the CGI response stream, open for the whole life
        // of the process; `ManuallyDrop` keeps this handle from closing it.
        // std offers no handle on fd 1 that writes without its line buffer.
        #[allow(unsafe_code)]
        let stdout = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(1) });
        response.write_validated(&*stdout)
    }
    #[cfg(not(target_os = "wasi"))]
    response.write_validated(io::stdout().lock())
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
