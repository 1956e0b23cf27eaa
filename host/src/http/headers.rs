//! An ordered header list with case-insensitive look-up.

use std::fmt;
use std::ops::Range;

/// Header fields in the order they were received; names keep their case,
/// values are raw bytes (obs-text is legal in values).
///
/// The fields live back to back in two buffers rather than as one `String`
/// and one `Vec` per field: the connection loop refills the same `Headers`
/// for every request of a keep-alive connection, and [`Headers::clear`]
/// keeps the buffers, so a warmed-up connection parses heads without
/// allocating.
#[derive(Clone, Default)]
pub(crate) struct Headers {
    names: String,
    values: Vec<u8>,
    fields: Vec<Field>,
}

/// Where one field's name and value sit in the shared buffers.
#[derive(Clone)]
struct Field {
    name: Range<usize>,
    value: Range<usize>,
}

impl Headers {
    /// An empty list.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Append a field, keeping duplicates.
    pub(crate) fn push(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.push_slices(&name.into(), &value.into());
    }

    /// Append a field from borrowed parts, copying them into the shared
    /// buffers without a temporary allocation.
    pub(crate) fn push_slices(&mut self, name: &str, value: &[u8]) {
        let name_start = self.names.len();
        self.names.push_str(name);
        let value_start = self.values.len();
        self.values.extend_from_slice(value);
        self.fields.push(Field {
            name: name_start..self.names.len(),
            value: value_start..self.values.len(),
        });
    }

    /// Remove every field but keep the buffers for the next request.
    pub(crate) fn clear(&mut self) {
        self.names.clear();
        self.values.clear();
        self.fields.clear();
    }

    /// The first value of `name` (case-insensitive).
    pub(crate) fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first value of `name` as text, if it is valid UTF-8.
    pub(crate) fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of `name` (case-insensitive), in order.
    pub(crate) fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// All fields in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.fields.iter().map(move |f| self.field(f))
    }

    /// Remove every field called `name` (case-insensitive).
    pub(crate) fn remove(&mut self, name: &str) {
        let names = &self.names;
        self.fields.retain(|f| {
            !names
                .get(f.name.clone())
                .unwrap_or("")
                .eq_ignore_ascii_case(name)
        });
    }

    /// Whether any field called `name` exists.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The number of fields.
    pub(crate) fn len(&self) -> usize {
        self.fields.len()
    }

    fn field(&self, f: &Field) -> (&str, &[u8]) {
        // The ranges were recorded by `push_slices` on these very buffers,
        // which only grow or are cleared together with `fields`, so the
        // look-ups cannot fail; `unwrap_or` keeps the code panic-free anyway.
        (
            self.names.get(f.name.clone()).unwrap_or(""),
            self.values.get(f.value.clone()).unwrap_or(&[]),
        )
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(n, v)| (n, String::from_utf8_lossy(v).into_owned())),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_duplicates_and_case() {
        let mut h = Headers::new();
        h.push("Set-Cookie", "a=1");
        h.push_slices("X-Other", b"x");
        h.push("set-cookie", b"b=2".to_vec());
        assert_eq!(h.len(), 3);
        assert_eq!(h.get("SET-COOKIE"), Some(&b"a=1"[..]));
        assert_eq!(
            h.get_all("set-cookie").collect::<Vec<_>>(),
            vec![&b"a=1"[..], &b"b=2"[..]]
        );
        let names: Vec<&str> = h.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["Set-Cookie", "X-Other", "set-cookie"]);
        assert_eq!(h.get_str("x-other"), Some("x"));
    }

    #[test]
    fn remove_and_clear() {
        let mut h = Headers::new();
        h.push("A", "1");
        h.push("B", "2");
        h.push("a", "3");
        h.remove("A");
        assert_eq!(h.len(), 1);
        assert!(!h.contains("a"));
        assert_eq!(h.get("b"), Some(&b"2"[..]));
        h.clear();
        assert_eq!(h.len(), 0);
        h.push("C", "4");
        assert_eq!(h.iter().collect::<Vec<_>>(), vec![("C", &b"4"[..])]);
    }
}
