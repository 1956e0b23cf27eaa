//! The operator's `Cache-Control` for static responses: one value for the
//! whole site and others per folder (`--cache-control /assets/=...`), the
//! longest matching folder winning, so that caches need no heuristics
//! (RFC 9111 §4.2.2) and fingerprinted assets can be `immutable`.
//!
//! Applied to the answers that caches store or revalidate (200, 206, 304
//! and the folder redirect 301), as nginx's `expires` is; never to errors.

use crate::http::grammar::is_field_value;
use crate::http::Response;

/// Statuses that carry the operator's `Cache-Control`.
const CACHEABLE: [u16; 4] = [200, 206, 301, 304];

/// Which `Cache-Control` each static path gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CachePolicy {
    /// (URL path prefix, value), longest prefix first; `/` is the site.
    rules: Vec<(String, String)>,
}

impl CachePolicy {
    /// Builds the policy from `--cache-control` arguments: `VALUE` for the
    /// whole site, `/FOLDER/=VALUE` for one folder. The error names the
    /// argument.
    pub(crate) fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut rules: Vec<(String, String)> = Vec::new();
        for arg in args {
            let (prefix, value) = match arg.split_once('=') {
                Some((prefix, value)) if prefix.starts_with('/') => (prefix, value),
                _ => ("/", arg),
            };
            let value = value.trim();
            if value.is_empty() || !is_field_value(value.as_bytes()) {
                return Err(format!(
                    "invalid --cache-control '{arg}': expected VALUE or /FOLDER/=VALUE, the value a header field may carry"
                ));
            }
            if rules.iter().any(|(p, _)| p == prefix) {
                return Err(format!("--cache-control names {prefix} twice"));
            }
            rules.push((prefix.to_owned(), value.to_owned()));
        }
        rules.sort_by_key(|rule| std::cmp::Reverse(rule.0.len()));
        Ok(CachePolicy { rules })
    }

    /// The value for `path` (still percent-encoded, as requested), if any.
    fn value_for(&self, path: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|(prefix, _)| {
                path.starts_with(prefix.as_str())
                    || (prefix.ends_with('/') && path == &prefix[..prefix.len() - 1])
            })
            .map(|(_, value)| value.as_str())
    }

    /// Adds the header to `response` when its status is one caches keep.
    pub(crate) fn apply(&self, path: &str, response: &mut Response) {
        if !CACHEABLE.contains(&response.status) {
            return;
        }
        if let Some(value) = self.value_for(path) {
            response
                .headers
                .push_slices("Cache-Control", value.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(policy: &CachePolicy, path: &str, status: u16) -> Option<String> {
        let mut response = Response::new(status);
        policy.apply(path, &mut response);
        response.headers.get_str("cache-control").map(str::to_owned)
    }

    #[test]
    fn the_longest_folder_wins_and_the_site_value_is_the_fallback() {
        let policy = CachePolicy::parse([
            "max-age=60",
            "/assets/=public, max-age=31536000, immutable",
            "/assets/live/=no-cache",
        ])
        .unwrap();
        assert_eq!(
            header(&policy, "/index.html", 200).as_deref(),
            Some("max-age=60")
        );
        assert_eq!(
            header(&policy, "/assets/app.3f2a.js", 200).as_deref(),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(
            header(&policy, "/assets/live/feed.json", 304).as_deref(),
            Some("no-cache")
        );
        assert_eq!(
            header(&policy, "/assets", 301).as_deref(),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(
            header(&policy, "/assetsX", 200).as_deref(),
            Some("max-age=60")
        );
    }

    #[test]
    fn errors_and_an_empty_policy_carry_nothing() {
        let policy = CachePolicy::parse(["max-age=60"]).unwrap();
        for status in [404, 412, 416, 500, 503] {
            assert_eq!(header(&policy, "/x", status), None, "{status}");
        }
        assert_eq!(header(&CachePolicy::default(), "/x", 200), None);
        let folder_only = CachePolicy::parse(["/a/=no-store"]).unwrap();
        assert_eq!(header(&folder_only, "/b", 200), None);
    }

    #[test]
    fn bad_arguments_are_refused_with_their_text() {
        for bad in ["", "/a/=", "a\r\nSet-Cookie: x=1", "/a/= "] {
            let err = CachePolicy::parse([bad]).unwrap_err();
            assert!(err.contains("--cache-control"), "{bad:?}: {err}");
        }
        assert!(CachePolicy::parse(["x", "y"])
            .unwrap_err()
            .contains("twice"));
    }
}
