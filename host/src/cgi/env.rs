//! The request side of RFC 3875 (§4): one HTTP request becomes the
//! meta-variables and argv a guest sees.
//!
//! Variable names follow RFC 3875 and, where WAGI adds its own
//! (`X_FULL_URL`, `X_MATCHED_ROUTE`, `X_RAW_PATH_INFO`), WAGI's spelling and
//! format, so that WAGI modules run unchanged.

use std::borrow::Cow;
use std::net::IpAddr;

use percent_encoding::percent_decode_str;

use crate::http::grammar::is_hop_by_hop;
use crate::http::{request_id, Request};
use crate::runtime::{EnvBlock, Value};

/// Where a request landed inside a plugin mount; the router computes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mount<'a> {
    /// The mount path, `SCRIPT_NAME` (e.g. `/api/users`).
    pub(crate) script_name: &'a str,
    /// The rest of the path, percent-decoded: `PATH_INFO`.
    pub(crate) path_info: &'a str,
    /// The rest of the path exactly as sent: `X_RAW_PATH_INFO`.
    pub(crate) raw_path_info: &'a str,
}

/// What a plugin's configuration changes about the environment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EnvPolicy<'a> {
    /// Pass `Authorization` as `HTTP_AUTHORIZATION` (off by default: a
    /// credential should reach only the handlers that are meant to check it).
    pub(crate) pass_authorization: bool,
    /// Variables from the plugin's sidecar; a CGI variable of the same name
    /// wins, so configuration can never fake request data.
    pub(crate) sidecar: &'a [(String, String)],
}

/// Request headers that never become `HTTP_*` variables besides the
/// hop-by-hop ones, which describe the connection to the server, not the
/// request to the handler.
///
/// `Content-Type`/`Content-Length` already have their own variables;
/// `Proxy` would become `HTTP_PROXY`, which HTTP client libraries read as
/// their proxy setting (httpoxy, CVE-2016-5385); `Proxy-Authorization` is a
/// credential for a proxy, never for the origin.
const NOT_PASSED: &[&str] = &[
    "content-type",
    "content-length",
    "proxy",
    "proxy-authorization",
    // Given as REQUEST_ID and HTTP_X_REQUEST_ID with the id the server
    // answers with, which may not be the client's.
    request_id::HEADER,
];

/// The environment of one invocation: every RFC 3875 meta-variable, then
/// `HTTP_*` for the request headers, then the sidecar's variables that no
/// CGI variable has taken.
///
/// `body_len` is the de-chunked body length; `CONTENT_LENGTH` is set only
/// when the request carried a body (a `Content-Length` or chunked framing).
/// `None` is a chunked body streamed to the guest as it arrives, whose
/// length nobody knows yet: as Apache's mod_cgi does, it has no
/// `CONTENT_LENGTH` but `HTTP_TRANSFER_ENCODING=chunked`, and the guest
/// reads stdin to its end.
pub(crate) fn meta_variables(
    req: &Request,
    mount: Mount<'_>,
    body_len: Option<u64>,
    policy: EnvPolicy<'_>,
) -> EnvBlock {
    // A plain GET from a browser: ~30 variables, ~1 KiB.
    let mut env = EnvBlock::with_capacity(
        24 + req.headers.len() + policy.sidecar.len(),
        1024 + req.target.len() * 3,
    );
    let (server_name, server_port) = server_name_port(req);
    env.push("GATEWAY_INTERFACE", "CGI/1.1");
    env.push("SERVER_SOFTWARE", crate::SERVER_SOFTWARE);
    env.push("SERVER_PROTOCOL", req.version.as_str());
    env.push("REQUEST_METHOD", &req.method);
    env.push("SCRIPT_NAME", mount.script_name);
    env.push("PATH_INFO", mount.path_info);
    env.push("QUERY_STRING", req.query.as_deref().unwrap_or_default());
    env.push_with("REMOTE_ADDR", |v| v.push_ip(plain_ip(req.peer.ip())));
    env.push_with("REMOTE_PORT", |v| v.push_int(req.peer.port()));
    // Apache's names for the scheme; HTTPS only on TLS connections.
    let scheme = if req.secure { "https" } else { "http" };
    env.push("REQUEST_SCHEME", scheme);
    if req.secure {
        env.push("HTTPS", "on");
    }
    env.push("REQUEST_ID", &req.id);
    env.push("HTTP_X_REQUEST_ID", &req.id);
    if let Some(value) = req.headers.get("content-type") {
        env.push_with("CONTENT_TYPE", |v| v.push_lossy(value));
    }
    match body_len {
        Some(len)
            if req.headers.contains("content-length")
                || req.headers.contains("transfer-encoding") =>
        {
            env.push_with("CONTENT_LENGTH", |v| v.push_int(len));
        }
        Some(_) => {}
        None => env.push("HTTP_TRANSFER_ENCODING", "chunked"),
    }
    env.push_with("X_FULL_URL", |v| {
        for part in [scheme, "://", &server_name, ":", &server_port, &req.path] {
            v.push_str(part);
        }
        if let Some(query) = &req.query {
            v.push_str("?");
            v.push_str(query);
        }
    });
    // WAGI names a wildcard route `/mount/...`: every path below it matches.
    env.push_with("X_MATCHED_ROUTE", |v| {
        v.push_str(mount.script_name);
        v.push_str("/...");
    });
    env.push("X_RAW_PATH_INFO", mount.raw_path_info);
    env.push("SERVER_NAME", &server_name);
    env.push("SERVER_PORT", &server_port);

    push_http_headers(&mut env, req, policy.pass_authorization);

    for (name, value) in policy.sidecar {
        if !env.contains(name) {
            env.push(name, value);
        }
    }
    env
}

/// Append `HTTP_*` for every header a handler may see, repeated fields joined
/// into one variable (`, `, or `; ` for `Cookie` as RFC 9110 §5.3 and
/// RFC 6265 §5.4 prescribe).
///
/// A name with anything but letters, digits and `-` is dropped, as Apache
/// does: `X_Forwarded_For` and `X-Forwarded-For` would otherwise both become
/// `HTTP_X_FORWARDED_FOR`, letting a client forge a variable a proxy in front
/// of us set; and every variable name stays `[A-Z0-9_]`, which every
/// language's environment API can read. Of the names left, two map to the
/// same variable only when they are equal ignoring case, so a field joins
/// the fields of its name that came before it.
///
/// Values that are not UTF-8 (obs-text is legal in HTTP) are converted lossily:
/// WASI environment strings must be UTF-8, and a variable that is present
/// with U+FFFD where the odd bytes were tells the handler more than a header
/// that silently vanished. The replacement cannot introduce a separator or a
/// control character, so nothing can be injected this way.
fn push_http_headers(env: &mut EnvBlock, req: &Request, pass_authorization: bool) {
    let passed = |name: &str| {
        name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !is_hop_by_hop(name)
            && !NOT_PASSED.iter().any(|n| n.eq_ignore_ascii_case(name))
            && (pass_authorization || !name.eq_ignore_ascii_case("authorization"))
    };
    let fields: Vec<(&str, &[u8])> = req.headers.iter().filter(|(n, _)| passed(n)).collect();
    for (i, (name, value)) in fields.iter().enumerate() {
        if fields[..i]
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            continue;
        }
        let separator = if name.eq_ignore_ascii_case("cookie") {
            "; "
        } else {
            ", "
        };
        env.push_named(http_variable_name(name), |v| {
            v.push_lossy(value);
            for (_, more) in fields[i + 1..]
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                v.push_str(separator);
                v.push_lossy(more);
            }
        });
    }
}

/// `Accept-Language` → `HTTP_ACCEPT_LANGUAGE` (RFC 3875 §4.1.18), written
/// into the block.
fn http_variable_name(header: &str) -> impl FnOnce(&mut Value<'_>) + '_ {
    move |var| {
        var.push_str("HTTP_");
        for c in header.chars() {
            var.push_char(match c {
                '-' => '_',
                c => c.to_ascii_uppercase(),
            });
        }
    }
}

/// An IPv4 client reaching a dual-stack socket shows as `::ffff:a.b.c.d`;
/// handlers (and their allow-lists) expect `a.b.c.d`.
fn plain_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// `SERVER_NAME` and `SERVER_PORT`: the authority the client addressed (the
/// absolute-form target wins over `Host`, RFC 9112 §3.2.2), its port or 80
/// when it names none; the local socket address when the request named no
/// host at all (HTTP/1.0 without `Host`).
/// Borrowed from the request when it named a host, as nearly every one does.
fn server_name_port(req: &Request) -> (Cow<'_, str>, Cow<'_, str>) {
    match req.authority() {
        Some((name, port)) => (Cow::Borrowed(name), Cow::Borrowed(port.unwrap_or("80"))),
        None => {
            let name = match plain_ip(req.local.ip()) {
                IpAddr::V6(v6) => format!("[{v6}]"),
                IpAddr::V4(v4) => v4.to_string(),
            };
            (Cow::Owned(name), Cow::Owned(req.local.port().to_string()))
        }
    }
}

/// argv: the plugin's own leading arguments (its name, a script's path, the
/// sidecar's `args`), then the RFC 3875 §4.4 search words when the
/// query is a search-string (no unencoded `=`): split on `+`, each word
/// percent-decoded. A query that does not fit the search-string grammar (an
/// empty word, as in `a++b`) adds nothing, as the RFC allows.
pub(crate) fn argv(leading: &[String], query: Option<&str>) -> Vec<String> {
    let mut args = leading.to_vec();
    let Some(query) = query.filter(|q| !q.is_empty() && !q.contains('=')) else {
        return args;
    };
    if query.split('+').any(str::is_empty) {
        return args;
    }
    args.extend(
        query
            .split('+')
            .map(|w| match percent_decode_str(w).decode_utf8_lossy() {
                Cow::Borrowed(s) => s.to_owned(),
                Cow::Owned(s) => s,
            }),
    );
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Headers, Version};

    fn request(target: &str, headers: &[(&str, &[u8])]) -> Request {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (target.to_owned(), None),
        };
        let mut h = Headers::new();
        for (n, v) in headers {
            h.push(*n, v.to_vec());
        }
        Request {
            method: "GET".into(),
            target: target.into(),
            path,
            query,
            version: Version::Http11,
            headers: h,
            peer: "[::ffff:10.1.2.3]:4567".parse().unwrap(),
            local: "127.0.0.1:8000".parse().unwrap(),
            secure: false,
            id: "7".to_owned(),
        }
    }

    const MOUNT: Mount<'static> = Mount {
        script_name: "/api/users",
        path_info: "/a b",
        raw_path_info: "/a%20b",
    };

    fn env_of(req: &Request, policy: EnvPolicy<'_>) -> EnvBlock {
        meta_variables(req, MOUNT, Some(3), policy)
    }

    const PLAIN: EnvPolicy<'static> = EnvPolicy {
        pass_authorization: false,
        sidecar: &[],
    };

    fn var<'a>(env: &'a EnvBlock, name: &str) -> Option<&'a str> {
        let mut found = env.iter().filter(|(n, _)| *n == name);
        let first = found.next().map(|(_, v)| v);
        assert!(found.next().is_none(), "{name} set twice");
        first
    }

    #[test]
    fn rfc3875_variables() {
        let req = request(
            "/api/users/a%20b?x=1&y",
            &[("Host", b"example.com:8080"), ("Accept", b"*/*")],
        );
        let env = env_of(&req, PLAIN);
        assert_eq!(var(&env, "GATEWAY_INTERFACE"), Some("CGI/1.1"));
        assert_eq!(var(&env, "SERVER_SOFTWARE"), Some(crate::SERVER_SOFTWARE));
        assert_eq!(var(&env, "SERVER_PROTOCOL"), Some("HTTP/1.1"));
        assert_eq!(var(&env, "REQUEST_METHOD"), Some("GET"));
        assert_eq!(var(&env, "SCRIPT_NAME"), Some("/api/users"));
        assert_eq!(var(&env, "PATH_INFO"), Some("/a b"));
        assert_eq!(var(&env, "X_RAW_PATH_INFO"), Some("/a%20b"));
        assert_eq!(var(&env, "QUERY_STRING"), Some("x=1&y"));
        assert_eq!(var(&env, "REMOTE_ADDR"), Some("10.1.2.3"));
        assert_eq!(var(&env, "REMOTE_PORT"), Some("4567"));
        assert_eq!(var(&env, "SERVER_NAME"), Some("example.com"));
        assert_eq!(var(&env, "SERVER_PORT"), Some("8080"));
        assert_eq!(
            var(&env, "X_FULL_URL"),
            Some("http://example.com:8080/api/users/a%20b?x=1&y")
        );
        assert_eq!(var(&env, "X_MATCHED_ROUTE"), Some("/api/users/..."));
        assert_eq!(var(&env, "HTTP_ACCEPT"), Some("*/*"));
        assert_eq!(var(&env, "HTTP_HOST"), Some("example.com:8080"));
        assert_eq!(var(&env, "CONTENT_LENGTH"), None);
        assert_eq!(var(&env, "CONTENT_TYPE"), None);
        assert_eq!(var(&env, "PATH_TRANSLATED"), None);
    }

    #[test]
    fn query_string_is_empty_not_absent() {
        let env = env_of(&request("/api/users", &[("Host", b"h")]), PLAIN);
        assert_eq!(var(&env, "QUERY_STRING"), Some(""));
        assert_eq!(var(&env, "SERVER_PORT"), Some("80"));
        assert_eq!(var(&env, "X_FULL_URL"), Some("http://h:80/api/users"));
    }

    #[test]
    fn content_variables_only_with_a_body() {
        let req = request(
            "/api/users",
            &[
                ("Host", b"h"),
                ("Content-Type", b"text/plain"),
                ("Transfer-Encoding", b"chunked"),
            ],
        );
        let env = env_of(&req, PLAIN);
        assert_eq!(var(&env, "CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(var(&env, "CONTENT_LENGTH"), Some("3"));
        assert_eq!(var(&env, "HTTP_CONTENT_TYPE"), None);
        assert_eq!(var(&env, "HTTP_TRANSFER_ENCODING"), None);
        let req = request("/api/users", &[("Host", b"h"), ("Content-Length", b"3")]);
        let env = env_of(&req, PLAIN);
        assert_eq!(var(&env, "CONTENT_LENGTH"), Some("3"));
        assert_eq!(var(&env, "HTTP_CONTENT_LENGTH"), None);
    }

    #[test]
    fn a_streamed_chunked_body_has_no_length() {
        let req = request(
            "/api/users",
            &[("Host", b"h"), ("Transfer-Encoding", b"chunked")],
        );
        let policy = EnvPolicy {
            pass_authorization: false,
            sidecar: &[],
        };
        let env = meta_variables(&req, MOUNT, None, policy);
        assert_eq!(var(&env, "CONTENT_LENGTH"), None);
        assert_eq!(var(&env, "HTTP_TRANSFER_ENCODING"), Some("chunked"));
    }

    #[test]
    fn hostile_and_private_headers_are_not_passed() {
        let req = request(
            "/api/users",
            &[
                ("Host", b"h"),
                ("Proxy", b"http://evil:1"),
                ("X_Forwarded_For", b"6.6.6.6"),
                ("X.Dotted", b"1"),
                ("Authorization", b"Basic Zm9v"),
                ("Proxy-Authorization", b"Basic Zm9v"),
                ("Connection", b"keep-alive, Upgrade"),
                ("Keep-Alive", b"timeout=5"),
                ("TE", b"trailers"),
                ("Upgrade", b"websocket"),
                ("X-Forwarded-For", b"1.2.3.4"),
            ],
        );
        let env = env_of(&req, PLAIN);
        for name in [
            "HTTP_PROXY",
            "HTTP_AUTHORIZATION",
            "HTTP_PROXY_AUTHORIZATION",
            "HTTP_CONNECTION",
            "HTTP_KEEP_ALIVE",
            "HTTP_TE",
            "HTTP_UPGRADE",
        ] {
            assert_eq!(var(&env, name), None, "{name}");
        }
        assert_eq!(var(&env, "HTTP_X_FORWARDED_FOR"), Some("1.2.3.4"));
        assert!(env.iter().all(|(n, _)| !n.contains('.')));
        let with_auth = EnvPolicy {
            pass_authorization: true,
            sidecar: &[],
        };
        let env = env_of(&req, with_auth);
        assert_eq!(var(&env, "HTTP_AUTHORIZATION"), Some("Basic Zm9v"));
        assert_eq!(var(&env, "HTTP_PROXY"), None);
    }

    #[test]
    fn repeated_headers_are_joined() {
        let req = request(
            "/api/users",
            &[
                ("Host", b"h"),
                ("Cookie", b"a=1"),
                ("Accept", b"text/html"),
                ("cookie", b"b=2"),
                ("ACCEPT", b"*/*"),
                ("X-Odd", b"caf\xe9"),
            ],
        );
        let env = env_of(&req, PLAIN);
        assert_eq!(var(&env, "HTTP_COOKIE"), Some("a=1; b=2"));
        assert_eq!(var(&env, "HTTP_ACCEPT"), Some("text/html, */*"));
        assert_eq!(var(&env, "HTTP_X_ODD"), Some("caf\u{fffd}"));
    }

    #[test]
    fn sidecar_variables_lose_conflicts() {
        let sidecar = [
            ("GREETING".to_owned(), "hi".to_owned()),
            ("REQUEST_METHOD".to_owned(), "FAKE".to_owned()),
            ("HTTP_HOST".to_owned(), "fake".to_owned()),
        ];
        let policy = EnvPolicy {
            pass_authorization: false,
            sidecar: &sidecar,
        };
        let env = env_of(&request("/api/users", &[("Host", b"h")]), policy);
        assert_eq!(var(&env, "GREETING"), Some("hi"));
        assert_eq!(var(&env, "REQUEST_METHOD"), Some("GET"));
        assert_eq!(var(&env, "HTTP_HOST"), Some("h"));
    }

    #[test]
    fn server_name_sources() {
        let req = request("http://abs.example:81/api/users", &[("Host", b"other:82")]);
        let env = env_of(&req, PLAIN);
        assert_eq!(var(&env, "SERVER_NAME"), Some("abs.example"));
        assert_eq!(var(&env, "SERVER_PORT"), Some("81"));
        let env = env_of(&request("/api/users", &[("Host", b"[::1]:9000")]), PLAIN);
        assert_eq!(var(&env, "SERVER_NAME"), Some("[::1]"));
        assert_eq!(var(&env, "SERVER_PORT"), Some("9000"));
        let env = env_of(&request("/api/users", &[("Host", b"[::1]")]), PLAIN);
        assert_eq!(var(&env, "SERVER_NAME"), Some("[::1]"));
        assert_eq!(var(&env, "SERVER_PORT"), Some("80"));
        let mut req = request("/api/users", &[]);
        req.version = Version::Http10;
        let env = env_of(&req, PLAIN);
        assert_eq!(var(&env, "SERVER_NAME"), Some("127.0.0.1"));
        assert_eq!(var(&env, "SERVER_PORT"), Some("8000"));
        assert_eq!(var(&env, "SERVER_PROTOCOL"), Some("HTTP/1.0"));
    }

    proptest::proptest! {
        #[test]
        fn variables_are_well_formed_whatever_the_headers(
            headers in proptest::collection::vec(
                ("[A-Za-z0-9!#$%&'*+.^_`|~-]{1,10}", proptest::collection::vec(proptest::num::u8::ANY, 0..20)),
                0..30,
            ),
            pass_authorization in proptest::bool::ANY,
        ) {
            let headers: Vec<(&str, &[u8])> =
                headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
            let req = request("/api/users", &headers);
            let policy = EnvPolicy { pass_authorization, sidecar: &[] };
            let env = meta_variables(&req, MOUNT, Some(0), policy);
            let mut names: Vec<&str> = env.iter().map(|(n, _)| n).collect();
            for name in &names {
                proptest::prop_assert!(
                    !name.is_empty()
                        && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
                    "{name}"
                );
            }
            proptest::prop_assert!(!names.contains(&"HTTP_PROXY"));
            proptest::prop_assert!(!names.contains(&"HTTP_CONTENT_LENGTH"));
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            proptest::prop_assert_eq!(names.len(), count, "a variable is set twice");
        }
    }

    #[test]
    fn search_words() {
        let echo = ["echo".to_owned()];
        assert_eq!(argv(&echo, None), ["echo"]);
        assert_eq!(argv(&echo, Some("")), ["echo"]);
        assert_eq!(argv(&echo, Some("a=1")), ["echo"]);
        assert_eq!(argv(&echo, Some("a+b%20c+%3D")), ["echo", "a", "b c", "="]);
        assert_eq!(argv(&echo, Some("a++b")), ["echo"]);
        assert_eq!(argv(&echo, Some("%ff")), ["echo", "\u{fffd}"]);
        let script = ["x".to_owned(), "/wasibin/script/x.js".to_owned()];
        assert_eq!(argv(&script, Some("w")), ["x", "/wasibin/script/x.js", "w"]);
    }
}
