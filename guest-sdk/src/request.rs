//! The request as a CGI program receives it (RFC 3875 §4): meta-variables in
//! the environment, the body on stdin.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::io::{self, Read};

use crate::cookie;
use crate::error::{HttpError, RequestError};
use crate::form::{self, Form, FormError};
use crate::urlencoded::{percent_decode, Params};
use crate::vars::Vars;

/// One HTTP request, read once at start-up.
///
/// Parsed views (query, cookies, form) are computed on first use and kept, so
/// a handler pays only for what it reads.
///
/// ```
/// use wasibin_guest::Request;
/// let req = Request::builder("GET", "/hello/world?name=Ada&tag=a&tag=b")
///     .script_name("/hello")
///     .header("Cookie", "theme=dark; id=42")
///     .header("Accept-Language", "en")
///     .build();
/// assert_eq!(req.method(), "GET");
/// assert_eq!(req.path(), "/hello/world");
/// assert_eq!(req.path_info(), "/world");
/// assert_eq!(req.query().get("name"), Some("Ada"));
/// assert_eq!(req.query().get_all("tag").count(), 2);
/// assert_eq!(req.cookie("theme"), Some("dark"));
/// assert_eq!(req.header("accept-language"), Some("en"));
/// assert_eq!(req.var("HTTP_ACCEPT_LANGUAGE"), Some("en"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Request {
    vars: Vars,
    body: Vec<u8>,
    query: OnceCell<Params>,
    cookies: OnceCell<Vec<(String, String)>>,
    form: OnceCell<Result<Form, FormError>>,
}

/// The most body bytes reserved up front, whatever `CONTENT_LENGTH` claims:
/// the vector still grows to the real size, but a lying length cannot make
/// the guest allocate memory the body never fills.
const MAX_PREALLOCATION: u64 = 1 << 20;

/// Reads exactly `length` bytes of `stdin` into `body`; fewer is a
/// [`RequestError::TruncatedBody`].
fn read_exactly(stdin: impl Read, length: u64, body: &mut Vec<u8>) -> Result<(), RequestError> {
    let capacity = usize::try_from(length.min(MAX_PREALLOCATION)).unwrap_or(0);
    body.reserve_exact(capacity);
    stdin
        .take(length)
        .read_to_end(body)
        .map_err(RequestError::Io)?;
    let received = body.len() as u64;
    if received != length {
        return Err(RequestError::TruncatedBody {
            expected: length,
            received,
        });
    }
    Ok(())
}

/// The process's stdin, unbuffered. In a plugin that is file descriptor 0
/// itself: `io::stdin()` allocates an 8 KiB buffer on first use, which every
/// request with a body would pay only to have the body copied through it.
#[cfg(target_os = "wasi")]
fn stdin() -> impl Read {
    use std::os::fd::FromRawFd;
    // SAFETY: fd 0 is the CGI request body, open for the whole life of the
    // process; `ManuallyDrop` keeps this handle from closing it. std offers
    // no handle on fd 0 without its buffer.
    #[allow(unsafe_code)]
    let file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(0) });
    RawStdin(file)
}

/// fd 0 as a [`Read`] that only reads: `File`'s own `read_to_end` would
/// first ask the host for the file's size and position, two calls that a
/// pipe answers with nothing useful.
#[cfg(target_os = "wasi")]
struct RawStdin(std::mem::ManuallyDrop<std::fs::File>);

#[cfg(target_os = "wasi")]
impl Read for RawStdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

/// The process's stdin, natively (a handler run by hand or under test).
#[cfg(not(target_os = "wasi"))]
fn stdin() -> impl Read {
    io::stdin().lock()
}

impl Request {
    /// Reads the request the host handed this process: the environment and
    /// the body on stdin (see [`Request::from_cgi`]). Variables that are not
    /// UTF-8 are converted lossily.
    pub fn from_env() -> Result<Self, RequestError> {
        Self::read(Vars::from_env(), stdin)
    }

    /// Reads a request from explicit CGI variables and a body stream, as
    /// [`Request::from_env`] does from the process: the body is exactly
    /// `CONTENT_LENGTH` bytes of `stdin`, none when the variable is empty.
    /// Without `CONTENT_LENGTH` it is all of `stdin` to end of file when
    /// `HTTP_TRANSFER_ENCODING` is set (the host streams a chunked upload
    /// that way, as Apache's mod_cgi does), and none otherwise: RFC 3875
    /// §4.1.2 has the server set `CONTENT_LENGTH` whenever a body comes, and
    /// HTTP/1.1 gives a request without either header no body. A GET then
    /// makes no read at all: one host call, 1.6k instructions, less per request.
    /// The host bounds a chunked body by its `max_body`; the crate sets no
    /// limit of its own, for this body as for one with a `CONTENT_LENGTH`.
    pub fn from_cgi<I, K, V, R>(vars: I, stdin: R) -> Result<Self, RequestError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
        R: Read,
    {
        Self::read(Vars::new(vars), || stdin)
    }

    /// [`Request::from_cgi`] with the body stream opened only when there is
    /// a body to read.
    fn read<R: Read>(vars: Vars, stdin: impl FnOnce() -> R) -> Result<Self, RequestError> {
        let mut body = Vec::new();
        match vars.get("CONTENT_LENGTH").map(|v| v.trim()) {
            None if vars.get("HTTP_TRANSFER_ENCODING").is_some() => {
                stdin().read_to_end(&mut body).map_err(RequestError::Io)?;
            }
            None | Some("") => {}
            Some(v) => {
                let length = v
                    .parse::<u64>()
                    .map_err(|_| RequestError::InvalidContentLength(v.to_owned()))?;
                if length > 0 {
                    read_exactly(stdin(), length, &mut body)?;
                }
            }
        }
        Ok(Self {
            vars,
            body,
            ..Self::default()
        })
    }

    /// A request from variables and a body already in memory; the body is
    /// taken as is, whatever `CONTENT_LENGTH` says.
    pub fn from_parts<I, K, V>(vars: I, body: impl Into<Vec<u8>>) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: Vars::new(vars),
            body: body.into(),
            ..Self::default()
        }
    }

    /// A builder for the request a server would send for `method` and
    /// `target` (`/path?query`), for testing handlers natively.
    pub fn builder(method: &str, target: &str) -> RequestBuilder {
        RequestBuilder::new(method, target)
    }

    /// `REQUEST_METHOD`; `GET` when absent (a plugin run by hand).
    pub fn method(&self) -> &str {
        self.var("REQUEST_METHOD").unwrap_or("GET")
    }

    /// `SCRIPT_NAME`: the route this plugin is mounted on (`/api/users`).
    pub fn script_name(&self) -> &str {
        self.var("SCRIPT_NAME").unwrap_or("")
    }

    /// `PATH_INFO`: the decoded rest of the path below the route (`/42`), empty
    /// for the route itself.
    pub fn path_info(&self) -> &str {
        self.var("PATH_INFO").unwrap_or("")
    }

    /// The decoded request path: `SCRIPT_NAME` followed by `PATH_INFO`.
    pub fn path(&self) -> String {
        format!("{}{}", self.script_name(), self.path_info())
    }

    /// `QUERY_STRING` exactly as the client sent it, still encoded.
    pub fn query_string(&self) -> &str {
        self.var("QUERY_STRING").unwrap_or("")
    }

    /// The decoded query parameters.
    pub fn query(&self) -> &Params {
        self.query
            .get_or_init(|| Params::parse(self.query_string()))
    }

    /// Request header `name`, case-insensitive (`"User-Agent"`), read from
    /// the `HTTP_*` variable (or `CONTENT_TYPE`/`CONTENT_LENGTH`). Repeated
    /// headers arrive joined by the host with `, ` (cookies with `; `).
    pub fn header(&self, name: &str) -> Option<&str> {
        let key = name.to_ascii_uppercase().replace('-', "_");
        match key.as_str() {
            "CONTENT_TYPE" | "CONTENT_LENGTH" => self.var(&key),
            _ => self.var(&format!("HTTP_{key}")),
        }
    }

    /// All request headers as lower-case names (`accept-language`) and
    /// values, rebuilt from the variables: the host never passes a header
    /// whose name has `_`, so the mapping back is exact.
    pub fn headers(&self) -> impl Iterator<Item = (String, &str)> {
        self.vars().filter_map(|(k, v)| {
            let name = match k {
                "CONTENT_TYPE" | "CONTENT_LENGTH" => k,
                _ => k.strip_prefix("HTTP_")?,
            };
            Some((name.to_ascii_lowercase().replace('_', "-"), v))
        })
    }

    /// `CONTENT_TYPE`, the media type of the body.
    pub fn content_type(&self) -> Option<&str> {
        self.var("CONTENT_TYPE")
    }

    /// The value of cookie `name` from the `Cookie` header.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// All cookies in the order the browser sent them.
    pub fn cookies(&self) -> impl Iterator<Item = (&str, &str)> {
        self.cookies
            .get_or_init(|| {
                self.var("HTTP_COOKIE")
                    .map(cookie::parse_header)
                    .unwrap_or_default()
            })
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as UTF-8 text; a body that is not is the client's mistake,
    /// so the error answers 400 when returned from a handler.
    pub fn text(&self) -> Result<&str, HttpError> {
        std::str::from_utf8(&self.body)
            .map_err(|_| HttpError::new(400, "the request body is not UTF-8 text"))
    }

    /// The body deserialized from JSON; a body that does not parse answers 400.
    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| HttpError::new(400, format!("invalid JSON body: {e}")))
    }

    /// The form fields and files of a `application/x-www-form-urlencoded` or
    /// `multipart/form-data` body (an empty form when there is no body).
    /// Returned from a handler, the error answers 400 or 415.
    ///
    /// ```
    /// use wasibin_guest::Request;
    /// let req = Request::builder("POST", "/form")
    ///     .header("Content-Type", "application/x-www-form-urlencoded")
    ///     .body("firstname=Ada+Lovelace")
    ///     .build();
    /// assert_eq!(req.form().unwrap().get("firstname"), Some("Ada Lovelace"));
    /// ```
    pub fn form(&self) -> Result<&Form, FormError> {
        self.form
            .get_or_init(|| form::parse(self.content_type().unwrap_or(""), &self.body))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// `REMOTE_ADDR`: the client's IP address.
    pub fn remote_addr(&self) -> Option<&str> {
        self.var("REMOTE_ADDR")
    }

    /// Any CGI variable by its exact name (`SERVER_NAME`, `X_FULL_URL`,
    /// variables from the plugin's configuration).
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name)
    }

    /// Every variable, sorted by name: what an `echo` handler prints.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.sorted().into_iter()
    }
}

/// Builds the [`Request`] a wasibin host would hand a plugin, for native
/// unit tests of handlers.
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    vars: BTreeMap<String, String>,
    path: String,
    script_name: Option<String>,
    body: Vec<u8>,
}

impl RequestBuilder {
    fn new(method: &str, target: &str) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut vars = BTreeMap::new();
        for (k, v) in [
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("SERVER_SOFTWARE", "wasibin"),
            ("SERVER_NAME", "localhost"),
            ("SERVER_PORT", "80"),
            ("REMOTE_ADDR", "127.0.0.1"),
            ("REMOTE_PORT", "40000"),
            ("REQUEST_METHOD", method),
            ("QUERY_STRING", query),
        ] {
            vars.insert(k.to_owned(), v.to_owned());
        }
        Self {
            vars,
            path: path.to_owned(),
            script_name: None,
            body: Vec::new(),
        }
    }

    /// The route the plugin is mounted on; the rest of the path becomes
    /// `PATH_INFO`. Without it the whole path is `SCRIPT_NAME`.
    pub fn script_name(mut self, script_name: &str) -> Self {
        self.script_name = Some(script_name.to_owned());
        self
    }

    /// Adds a request header as the host would: `Content-Type` to
    /// `CONTENT_TYPE`, others to `HTTP_*`, a repeat joined with `, ` (`; `
    /// for cookies).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let key = name.to_ascii_uppercase().replace('-', "_");
        let key = if key == "CONTENT_TYPE" {
            key
        } else {
            format!("HTTP_{key}")
        };
        let separator = if key == "HTTP_COOKIE" { "; " } else { ", " };
        self.vars
            .entry(key)
            .and_modify(|v| {
                v.push_str(separator);
                v.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
        self
    }

    /// Sets any variable, e.g. one from the plugin's configuration.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_owned(), value.to_owned());
        self
    }

    /// The request body; `CONTENT_LENGTH` follows it.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The finished request.
    pub fn build(mut self) -> Request {
        let path = percent_decode(&self.path);
        let (script, info) = match &self.script_name {
            Some(s) if path.starts_with(s.as_str()) => (s.clone(), path[s.len()..].to_owned()),
            _ => (path, String::new()),
        };
        self.vars.insert("SCRIPT_NAME".to_owned(), script);
        self.vars.insert("PATH_INFO".to_owned(), info);
        if !self.body.is_empty() {
            self.vars
                .insert("CONTENT_LENGTH".to_owned(), self.body.len().to_string());
        }
        Request::from_parts(self.vars, self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_cgi_reads_exactly_content_length() {
        let req = Request::from_cgi([("CONTENT_LENGTH", "5")], &b"helloEXTRA"[..]).unwrap();
        assert_eq!(req.body(), b"hello");
        let req = Request::from_cgi([("CONTENT_LENGTH", "")], &b"ignored"[..]).unwrap();
        assert!(req.body().is_empty());
    }

    #[test]
    fn from_cgi_reads_a_chunked_body_to_end_of_file() {
        let vars = [
            ("REQUEST_METHOD", "POST"),
            ("CONTENT_TYPE", "application/x-www-form-urlencoded"),
            ("HTTP_TRANSFER_ENCODING", "chunked"),
        ];
        let req = Request::from_cgi(vars, &b"a=1&b=2"[..]).unwrap();
        assert_eq!(req.body(), b"a=1&b=2");
        let form = req.form().unwrap();
        assert_eq!(form.get("a"), Some("1"));
        assert_eq!(form.get("b"), Some("2"));
    }

    /// Neither `CONTENT_LENGTH` nor `HTTP_TRANSFER_ENCODING`: no body, and
    /// stdin is not read at all.
    #[test]
    fn from_cgi_reads_no_stdin_without_a_body() {
        struct Untouched;
        impl Read for Untouched {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                panic!("stdin was read for a request without a body")
            }
        }
        let req = Request::from_cgi([("REQUEST_METHOD", "GET")], Untouched).unwrap();
        assert!(req.body().is_empty());
        let req = Request::from_cgi([("CONTENT_LENGTH", "")], Untouched).unwrap();
        assert!(req.body().is_empty());
    }

    /// The crate has no body limit of its own (the host's `max_body` is the
    /// bound): a long chunked body is read whole, as a long `CONTENT_LENGTH`
    /// is, past the preallocation too.
    #[test]
    fn from_cgi_reads_a_long_chunked_body_whole() {
        let long = vec![b'x'; 3 * (1 << 20) + 1];
        let vars = [("HTTP_TRANSFER_ENCODING", "chunked")];
        let req = Request::from_cgi(vars, &long[..]).unwrap();
        assert_eq!(req.body().len(), long.len());
    }

    #[test]
    fn from_cgi_reports_a_failing_stdin() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("the upload stopped"))
            }
        }
        let err = Request::from_cgi([("HTTP_TRANSFER_ENCODING", "chunked")], Failing).unwrap_err();
        assert!(matches!(err, RequestError::Io(_)), "{err}");
    }

    #[test]
    fn from_cgi_rejects_bad_lengths() {
        let err = Request::from_cgi([("CONTENT_LENGTH", "x")], &b""[..]).unwrap_err();
        assert_eq!(err.status(), 400);
        let err = Request::from_cgi([("CONTENT_LENGTH", "10")], &b"short"[..]).unwrap_err();
        assert!(matches!(
            err,
            RequestError::TruncatedBody {
                expected: 10,
                received: 5
            }
        ));
        let huge = u64::MAX.to_string();
        let err = Request::from_cgi([("CONTENT_LENGTH", huge.as_str())], &b""[..]).unwrap_err();
        assert!(matches!(
            err,
            RequestError::TruncatedBody { received: 0, .. }
        ));
    }

    #[test]
    fn headers_map_back_from_variables() {
        let req = Request::builder("POST", "/x")
            .header("Content-Type", "text/plain")
            .header("X-Forwarded-For", "a")
            .header("x-forwarded-for", "b")
            .header("Cookie", "a=1")
            .header("Cookie", "b=2")
            .body("hi")
            .build();
        assert_eq!(req.header("x-forwarded-for"), Some("a, b"));
        assert_eq!(req.header("Content-Length"), Some("2"));
        assert_eq!(req.content_type(), Some("text/plain"));
        assert_eq!(req.cookies().collect::<Vec<_>>(), [("a", "1"), ("b", "2")]);
        let names: Vec<_> = req.headers().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "content-length",
                "content-type",
                "cookie",
                "x-forwarded-for"
            ]
        );
    }

    #[test]
    fn path_is_decoded_and_split() {
        let req = Request::builder("GET", "/api/users/a%20b?q=%41")
            .script_name("/api/users")
            .build();
        assert_eq!(req.script_name(), "/api/users");
        assert_eq!(req.path_info(), "/a b");
        assert_eq!(req.query_string(), "q=%41");
        assert_eq!(req.query().get("q"), Some("A"));
    }

    #[test]
    fn text_and_form_errors() {
        let req = Request::builder("POST", "/x").body(vec![0xff]).build();
        assert_eq!(req.text().unwrap_err().status(), 400);
        assert!(matches!(
            req.form(),
            Err(FormError::UnsupportedContentType(_))
        ));
        let get = Request::builder("GET", "/x").build();
        assert!(get.form().unwrap().fields().is_empty());
        assert_eq!(get.method(), "GET");
        assert_eq!(Request::default().method(), "GET");
    }
}
