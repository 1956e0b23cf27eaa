//! The route table: an immutable snapshot mapping URL paths to plugins.
//! Lookups walk a trie of path segments, so the longest mount wins and
//! `/hello` never matches `/helloworld`; a request holds one snapshot for its
//! whole life, so a reload never shows it a half-updated table.

use std::collections::HashMap;
use std::sync::Arc;

use super::Plugin;
use crate::url_path::{decode_path, decode_segment};

/// The result of routing a request path.
#[derive(Debug, Clone)]
pub(crate) enum Routing {
    /// The path is served by a plugin.
    Plugin(RouteMatch),
    /// No plugin mount covers the path (static files take it).
    NotPlugin,
    /// The path is under a plugin mount but its rest cannot become a
    /// `PATH_INFO` by the rule static paths follow too
    /// ([`crate::url_path::decode_segment`]): bad %-encoding, bytes that
    /// are not UTF-8, a `.` or `..` segment, an encoded `/` or `\`, a
    /// control character. The dispatcher answers 400.
    BadPath,
}

/// A request path matched to a plugin.
#[derive(Debug, Clone)]
pub(crate) struct RouteMatch {
    /// The plugin, kept alive by the request even if a reload replaces it.
    pub(crate) plugin: Arc<Plugin>,
    /// `SCRIPT_NAME`: the plugin's mount, e.g. `/api/users`.
    pub(crate) script_name: String,
    /// `PATH_INFO`: the rest of the path, percent-decoded (may be empty).
    pub(crate) path_info: String,
    /// The rest of the path as the client sent it (WAGI's `X_RAW_PATH_INFO`).
    pub(crate) raw_path_info: String,
}

#[derive(Debug, Default)]
struct Node {
    plugin: Option<Arc<Plugin>>,
    children: HashMap<Box<str>, Node>,
}

/// An immutable snapshot of every plugin route.
#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    root: Node,
    /// Sorted by route, for stable listings.
    plugins: Vec<Arc<Plugin>>,
}

impl RouteTable {
    /// A table with these plugins. Routes must be unique (the folder scan
    /// guarantees it: one file, one route); a later duplicate replaces an
    /// earlier one.
    pub(crate) fn new(mut plugins: Vec<Arc<Plugin>>) -> Self {
        plugins.sort_by(|a, b| a.route.cmp(&b.route));
        plugins.dedup_by(|later, earlier| {
            let same = later.route == earlier.route;
            if same {
                std::mem::swap(later, earlier);
            }
            same
        });
        let mut root = Node::default();
        for plugin in &plugins {
            let mut node = &mut root;
            for seg in plugin.route.split('/').filter(|s| !s.is_empty()) {
                node = node.children.entry(seg.into()).or_default();
            }
            node.plugin = Some(plugin.clone());
        }
        Self { root, plugins }
    }

    /// Every plugin, sorted by route (for the start-up banner and reloads).
    pub(crate) fn routes(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.plugins.iter()
    }

    /// The plugin mounted exactly at `route`, if any.
    pub(crate) fn get(&self, route: &str) -> Option<&Arc<Plugin>> {
        self.plugins
            .binary_search_by(|p| (*p.route).cmp(route))
            .ok()
            .map(|i| &self.plugins[i])
    }

    /// Raw (still percent-encoded) request path, without the query → the
    /// longest plugin mount at a segment boundary. A `?query` is ignored if
    /// present. Mount segments are compared after decoding, so `/hell%6F`
    /// reaches `/hello`.
    pub(crate) fn lookup(&self, raw_path: &str) -> Routing {
        if self.root.children.is_empty() {
            return Routing::NotPlugin;
        }
        let path = raw_path.split_once('?').map_or(raw_path, |(p, _)| p);
        if !path.starts_with('/') {
            return Routing::NotPlugin;
        }
        let mut node = &self.root;
        let mut best: Option<(&Arc<Plugin>, usize)> = None;
        let mut pos = 1;
        loop {
            let end = path[pos..].find('/').map_or(path.len(), |i| pos + i);
            let Ok(seg) = decode_segment(&path[pos..end]) else {
                break;
            };
            let Some(child) = node.children.get(&*seg) else {
                break;
            };
            node = child;
            if let Some(plugin) = &node.plugin {
                best = Some((plugin, end));
            }
            if end == path.len() {
                break;
            }
            pos = end + 1;
        }
        let Some((plugin, end)) = best else {
            return Routing::NotPlugin;
        };
        let raw_path_info = &path[end..];
        match decode_path(raw_path_info) {
            Ok(path_info) => Routing::Plugin(RouteMatch {
                plugin: plugin.clone(),
                script_name: plugin.route.to_string(),
                path_info: path_info.into_owned(),
                raw_path_info: raw_path_info.to_owned(),
            }),
            Err(_) => Routing::BadPath,
        }
    }
}

/// Whether `s` can be one segment of a route: RFC 3986 unreserved
/// characters only (so its encoded and decoded forms agree), not hidden.
pub(crate) fn is_safe_segment(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn safe_segments() {
        assert!(is_safe_segment("hello"));
        assert!(is_safe_segment("hello-c"));
        assert!(is_safe_segment("v1.2_x~y"));
        assert!(!is_safe_segment(""));
        assert!(!is_safe_segment(".hidden"));
        assert!(!is_safe_segment("a b"));
        assert!(!is_safe_segment("a%20"));
        assert!(!is_safe_segment("é"));
        assert!(!is_safe_segment("a?b"));
    }

    proptest! {
        #[test]
        fn path_info_never_climbs_or_carries_a_control(s in "\\PC*") {
            if let Ok(d) = decode_path(&s) {
                prop_assert!(!d.chars().any(char::is_control));
                prop_assert_eq!(d.matches('/').count(), s.matches('/').count());
                prop_assert!(d.split('/').all(|seg| seg != "." && seg != ".."));
            }
        }
    }
}
