//! `application/x-www-form-urlencoded` decoding, shared by query strings and
//! form bodies.
//!
//! Hand-written rather than taken from `form_urlencoded` because the crate
//! promises no required dependencies: plugin authors pay only for what they use,
//! and the whole decoder is a few dozen lines.

/// An ordered list of name/value pairs where a name may repeat.
///
/// Query strings and forms keep their order and their repeated keys
/// (`?tag=a&tag=b`, a group of checkboxes), which a map would lose; lookups are
/// linear, which is faster than hashing for the handful of fields a request has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes `a=1&b=two+words&c=%C3%A9`: `+` is a space, `%XX` a byte, and
    /// bytes that are not UTF-8 become U+FFFD rather than an error, because a
    /// handler cannot do anything better with them than show them.
    ///
    /// ```
    /// use wasibin_guest::Params;
    /// let p = Params::parse("name=Ada+Lovelace&tag=a&tag=b&empty&x=%3D");
    /// assert_eq!(p.get("name"), Some("Ada Lovelace"));
    /// assert_eq!(p.get_all("tag").collect::<Vec<_>>(), ["a", "b"]);
    /// assert_eq!(p.get("empty"), Some(""));
    /// assert_eq!(p.get("x"), Some("="));
    /// ```
    pub fn parse(input: &str) -> Self {
        Self::parse_bytes(input.as_bytes())
    }

    /// Like [`Params::parse`], for a request body that need not be UTF-8.
    pub fn parse_bytes(input: &[u8]) -> Self {
        let pairs = input
            .split(|&b| b == b'&')
            .filter(|piece| !piece.is_empty())
            .map(|piece| {
                let (name, value) = match piece.iter().position(|&b| b == b'=') {
                    Some(eq) => (&piece[..eq], &piece[eq + 1..]),
                    None => (piece, &[][..]),
                };
                (decode_component(name), decode_component(value))
            })
            .collect();
        Self { pairs }
    }

    /// The first value of `name`, the answer for a field expected once.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` in request order, for repeated fields.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `name` appears at all, even with an empty value (`?debug`).
    pub fn contains(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    /// All pairs in request order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// How many pairs there are, repeated names counted each time.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no pairs at all.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Adds a pair at the end; used by the multipart parser and by tests that
    /// build a form by hand.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.pairs.push((name.into(), value.into()));
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Params {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Self {
            pairs: iter
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        }
    }
}

/// Decodes one form component: `+` to space, `%XX` to its byte; a `%` not
/// followed by two hex digits stays literal, as browsers and WHATWG's URL
/// standard do, so a stray `%` never loses the rest of the value.
pub fn decode_component(input: &[u8]) -> String {
    decode(input, true)
}

/// Percent-encodes every byte except RFC 3986's unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`): safe in a query, a form, a path segment and a
/// cookie value, and undone by [`decode_component`].
///
/// ```
/// assert_eq!(wasibin_guest::encode_component("Ada L/é"), "Ada%20L%2F%C3%A9");
/// ```
pub fn encode_component(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for b in input.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

/// Decodes `%XX` escapes only (`+` stays `+`), the rule for paths.
pub fn percent_decode(input: &str) -> String {
    decode(input.as_bytes(), false)
}

fn decode(input: &[u8], plus_is_space: bool) -> String {
    if !input
        .iter()
        .any(|&b| b == b'%' || (plus_is_space && b == b'+'))
    {
        return String::from_utf8_lossy(input).into_owned();
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => {
                let hi = input.get(i + 1).and_then(|&b| hex_value(b));
                let lo = input.get(i + 2).and_then(|&b| hex_value(b));
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push(hi << 4 | lo);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_plus_and_escapes() {
        assert_eq!(decode_component(b"a+b%20c%2B"), "a b c+");
        assert_eq!(percent_decode("/a+b%2Fc"), "/a+b/c");
    }

    #[test]
    fn stray_percent_stays_literal() {
        assert_eq!(decode_component(b"100%"), "100%");
        assert_eq!(decode_component(b"%zz%4"), "%zz%4");
    }

    #[test]
    fn invalid_utf8_becomes_replacement() {
        assert_eq!(decode_component(b"%FFok"), "\u{FFFD}ok");
    }

    #[test]
    fn keeps_order_and_repeats_and_skips_empty_pieces() {
        let p = Params::parse("&b=2&&a=1&b=3&");
        let all: Vec<_> = p.iter().collect();
        assert_eq!(all, [("b", "2"), ("a", "1"), ("b", "3")]);
        assert!(p.contains("a"));
        assert!(!p.contains("c"));
        assert_eq!(p.len(), 3);
    }

    #[test]
    fn value_may_contain_equals() {
        let p = Params::parse("k=a=b");
        assert_eq!(p.get("k"), Some("a=b"));
    }

    proptest! {
        #[test]
        fn never_panics(input in proptest::collection::vec(any::<u8>(), 0..512)) {
            let p = Params::parse_bytes(&input);
            prop_assert!(p.len() <= input.len());
        }

        #[test]
        fn encode_then_decode_is_identity(s in "\\PC{0,32}") {
            prop_assert_eq!(decode_component(encode_component(&s).as_bytes()), s);
        }

        #[test]
        fn round_trips_encoded_text(name in "[a-z]{1,8}", value in "\\PC{0,32}") {
            let encoded: String = value
                .bytes()
                .map(|b| format!("%{b:02X}"))
                .collect();
            let p = Params::parse(&format!("{name}={encoded}"));
            prop_assert_eq!(p.get(&name), Some(value.as_str()));
        }
    }
}
