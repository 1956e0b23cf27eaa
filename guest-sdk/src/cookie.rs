//! Cookies both ways: the request's `Cookie` header (RFC 6265 §5.4) and the
//! response's `Set-Cookie` (RFC 6265 §4.1), checked so a value can never break
//! out of its header.

use std::fmt;

/// Splits a `Cookie` header (`a=1; b="2"`) into pairs, in order. The host
/// joins several `Cookie` headers with `; `, so one split sees them all.
/// Pieces without `=` are skipped, as browsers never send them.
pub(crate) fn parse_header(header: &str) -> Vec<(String, String)> {
    header
        .split(';')
        .filter_map(|piece| {
            let (name, value) = piece.split_once('=')?;
            let name = name.trim();
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            (!name.is_empty()).then(|| (name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// The `SameSite` attribute: whether the browser sends the cookie on requests
/// started by other sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Only same-site requests.
    Strict,
    /// Same-site requests and top-level navigations (browsers' default).
    Lax,
    /// Every request; browsers require [`Cookie::secure`] with it.
    None,
}

/// A `Set-Cookie` value under construction.
///
/// ```
/// use wasibin_guest::{Cookie, SameSite};
/// let c = Cookie::new("session", "abc123")
///     .path("/")
///     .max_age(3600)
///     .http_only()
///     .same_site(SameSite::Lax);
/// assert_eq!(
///     c.to_string(),
///     "session=abc123; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    name: String,
    value: String,
    path: Option<String>,
    domain: Option<String>,
    max_age: Option<i64>,
    expires: Option<String>,
    secure: bool,
    http_only: bool,
    same_site: Option<SameSite>,
}

/// Why a [`Cookie`] cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieError {
    /// The name is empty or not an RFC 9110 token.
    InvalidName(String),
    /// The value has a character outside RFC 6265's cookie-octet (space,
    /// `"`, `,`, `;`, `\`, controls, non-ASCII): encode it first.
    InvalidValue(String),
    /// An attribute value contains `;` or a control character.
    InvalidAttribute(&'static str),
}

impl fmt::Display for CookieError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(n) => write!(f, "invalid cookie name {n:?}"),
            Self::InvalidValue(v) => write!(
                f,
                "invalid cookie value {v:?} (space, quote, comma, semicolon, backslash, controls and non-ASCII must be encoded)"
            ),
            Self::InvalidAttribute(a) => write!(f, "invalid cookie attribute {a}"),
        }
    }
}

impl std::error::Error for CookieError {}

impl Cookie {
    /// A session cookie (no expiry) named `name` holding `value`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            path: None,
            domain: None,
            max_age: None,
            expires: None,
            secure: false,
            http_only: false,
            same_site: None,
        }
    }

    /// A cookie that tells the browser to delete `name` at once (`Max-Age=0`).
    /// Give it the same `path`/`domain` the cookie was set with.
    pub fn removal(name: impl Into<String>) -> Self {
        Self::new(name, "").max_age(0)
    }

    /// Limits the cookie to URLs under `path`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Shares the cookie with subdomains of `domain`.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Lifetime in seconds; 0 or less deletes the cookie.
    pub fn max_age(mut self, seconds: i64) -> Self {
        self.max_age = Some(seconds);
        self
    }

    /// An absolute expiry as an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`);
    /// prefer [`Cookie::max_age`], which needs no clock.
    pub fn expires(mut self, http_date: impl Into<String>) -> Self {
        self.expires = Some(http_date.into());
        self
    }

    /// Only sent over HTTPS.
    pub fn secure(mut self) -> Self {
        self.secure = true;
        self
    }

    /// Hidden from page scripts, the usual choice for session cookies.
    pub fn http_only(mut self) -> Self {
        self.http_only = true;
        self
    }

    /// Sets the `SameSite` attribute.
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = Some(same_site);
        self
    }

    /// Checks that every part fits in a `Set-Cookie` header unchanged.
    pub fn validate(&self) -> Result<(), CookieError> {
        if !crate::token::is_token(&self.name) {
            return Err(CookieError::InvalidName(self.name.clone()));
        }
        let value = self
            .value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(&self.value);
        let cookie_octet =
            |b: u8| matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E);
        if !value.bytes().all(cookie_octet) {
            return Err(CookieError::InvalidValue(self.value.clone()));
        }
        let attr_ok = |v: &str| !v.bytes().any(|b| b == b';' || b.is_ascii_control());
        for (name, value) in [
            ("Path", &self.path),
            ("Domain", &self.domain),
            ("Expires", &self.expires),
        ] {
            if value.as_deref().is_some_and(|v| !attr_ok(v)) {
                return Err(CookieError::InvalidAttribute(name));
            }
        }
        Ok(())
    }
}

/// The `Set-Cookie` header value. Call [`Cookie::validate`] first: the
/// [`crate::Response`] does, and refuses to send a cookie that fails it.
impl fmt::Display for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)?;
        if let Some(path) = &self.path {
            write!(f, "; Path={path}")?;
        }
        if let Some(domain) = &self.domain {
            write!(f, "; Domain={domain}")?;
        }
        if let Some(max_age) = self.max_age {
            write!(f, "; Max-Age={max_age}")?;
        }
        if let Some(expires) = &self.expires {
            write!(f, "; Expires={expires}")?;
        }
        if self.secure {
            f.write_str("; Secure")?;
        }
        if self.http_only {
            f.write_str("; HttpOnly")?;
        }
        match self.same_site {
            Some(SameSite::Strict) => f.write_str("; SameSite=Strict"),
            Some(SameSite::Lax) => f.write_str("; SameSite=Lax"),
            Some(SameSite::None) => f.write_str("; SameSite=None"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_pairs_in_order() {
        let c = parse_header("a=1; b=\"two\";c=x=y; junk; =nope;  d = 4 ");
        assert_eq!(
            c,
            [("a", "1"), ("b", "two"), ("c", "x=y"), ("d", "4")]
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn renders_every_attribute() {
        let c = Cookie::new("id", "\"q\"")
            .domain("example.com")
            .expires("Wed, 21 Oct 2015 07:28:00 GMT")
            .secure()
            .same_site(SameSite::None);
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(
            c.to_string(),
            "id=\"q\"; Domain=example.com; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Secure; SameSite=None"
        );
        assert_eq!(Cookie::removal("id").to_string(), "id=; Max-Age=0");
    }

    #[test]
    fn refuses_what_would_break_the_header() {
        assert!(matches!(
            Cookie::new("a b", "1").validate(),
            Err(CookieError::InvalidName(_))
        ));
        assert!(matches!(
            Cookie::new("", "1").validate(),
            Err(CookieError::InvalidName(_))
        ));
        for bad in ["a;b", "a b", "x\r\nSet-Cookie: evil=1", "é", "a,b", "a\\b"] {
            assert!(
                matches!(
                    Cookie::new("a", bad).validate(),
                    Err(CookieError::InvalidValue(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            Cookie::new("a", "1").path("/x;Domain=evil").validate(),
            Err(CookieError::InvalidAttribute("Path"))
        );
        assert_eq!(
            Cookie::new("a", "1").domain("a\nb").validate(),
            Err(CookieError::InvalidAttribute("Domain"))
        );
    }

    proptest! {
        #[test]
        fn validated_cookies_never_contain_line_breaks(
            name in "\\PC{0,8}", value in ".{0,16}", path in ".{0,16}"
        ) {
            let c = Cookie::new(name, value).path(path);
            if c.validate().is_ok() {
                let s = c.to_string();
                prop_assert!(!s.contains(['\r', '\n', '\0']));
            }
        }

        #[test]
        fn header_parse_never_panics(h in "\\PC{0,64}") {
            let _ = parse_header(&h);
        }
    }
}
