//! The CGI variables of a request, stored for a cheap start-up.
//!
//! A plugin instance lives for one request, so reading the variables is
//! paid on every request, while a handler reads two or three of them. They
//! are kept as WASI hands them over: one string of `NAME=value` strings,
//! each ended by NUL, and where each starts. Nothing is split at start-up:
//! a lookup of `NAME` matches a string that has `=` right after a prefix of
//! that length and then the name itself, which needs no `=` search.
//!
//! Replacing std's `vars_os` and a `BTreeMap<String, String>` with one
//! block cut the `hello` plugin from ~111k to ~74k instructions per request
//! (callgrind, 16 variables). Splitting nothing until asked cut reading
//! and looking up the variables from 6.1k to 4.3k instructions (17
//! variables, four lookups, one of them found); a lookup is now a scan of
//! about 45 instructions a variable, which an index of the names a handler
//! asks for most would shorten further.

use std::fmt;

/// Variables in the order given; of a name given twice the last value wins,
/// as it would in a map.
#[derive(Clone, Default)]
pub(crate) struct Vars {
    /// Every `NAME=value`, each followed by NUL, back to back.
    text: String,
    /// Where each variable starts in `text`; the next one's start (or the
    /// end of `text`) is one past its NUL.
    starts: Vec<usize>,
}

impl Vars {
    /// The variables from name/value pairs. A pair no environment can hold
    /// is left out: an empty name, or one with `=` after its first byte
    /// (std's `vars_os` would split it there).
    pub(crate) fn new<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut out = Self::default();
        for (name, value) in vars {
            let (name, value) = (name.into(), value.into());
            if !is_name(&name) {
                continue;
            }
            out.starts.push(out.text.len());
            out.text.push_str(&name);
            out.text.push('=');
            out.text.push_str(&value);
            out.text.push('\0');
        }
        out
    }

    /// The process environment, converted lossily where it is not UTF-8.
    pub(crate) fn from_env() -> Self {
        raw_env::environment()
            .and_then(|(block, starts)| Self::from_block(block, starts))
            .unwrap_or_else(|| Self::new(std::env::vars_os().map(|(k, v)| (lossy(k), lossy(v)))))
    }

    /// Takes a WASI environment block: `NAME=value` strings, each ended by
    /// NUL, back to back, the `i`th starting at `starts[i]`. `None` when the
    /// block is not UTF-8 or not laid out that way; the caller then asks
    /// std. A string without `=` after its first byte is no variable, as
    /// in std's `vars_os`: no lookup finds it and no listing shows it.
    fn from_block(block: Vec<u8>, starts: Vec<usize>) -> Option<Self> {
        let text = String::from_utf8(block).ok()?;
        let bytes = text.as_bytes();
        // Back to back: the first starts the block, each later one follows
        // a NUL (so each is also a char boundary), and the block ends in one.
        let contiguous = match starts.first() {
            None => bytes.is_empty(),
            Some(&first) => {
                first == 0
                    && bytes.last() == Some(&0)
                    && starts
                        .windows(2)
                        .all(|w| w[0] < w[1] && w[1] < bytes.len() && bytes[w[1] - 1] == 0)
            }
        };
        contiguous.then_some(Self { text, starts })
    }

    /// Variable `i` as `NAME=value`, without its NUL.
    fn string(&self, i: usize) -> &str {
        let start = self.starts[i];
        let end = self.starts.get(i + 1).map_or(self.text.len(), |&next| next) - 1;
        &self.text[start..end]
    }

    /// The value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        let (text, name) = (self.text.as_bytes(), name.as_bytes());
        let (&first, len) = (name.first()?, name.len());
        // Last first; each string ends one byte (its NUL) before the next
        // one starts.
        let mut end = text.len();
        for &start in self.starts.iter().rev() {
            // The string starts with `name=` exactly when its first `=`
            // after the first byte is at `len`, as `name` has none before
            // it. The name's ends are compared before its bytes: most
            // variables of the same length differ there, and a call to
            // `memcmp` costs more than the rest of the loop.
            let eq = start + len;
            if eq < end
                && text[eq] == b'='
                && text[start] == first
                && text[eq - 1] == name[len - 1]
                && text[start..eq] == *name
            {
                // Checked only here, where it is rare: a `name` with `=`
                // after its first byte names no variable, but would match
                // the string of a shorter name whose value starts with the
                // rest of it.
                return match name[1..].contains(&b'=') {
                    true => None,
                    false => self.text.get(eq + 1..end - 1),
                };
            }
            end = start;
        }
        None
    }

    /// Every variable sorted by name, each name once. Sorted here, on
    /// demand, because most handlers never list the variables.
    pub(crate) fn sorted(&self) -> Vec<(&str, &str)> {
        let mut all: Vec<(&str, &str)> = (0..self.starts.len())
            .filter_map(|i| {
                let var = self.string(i);
                let eq = 1 + find_eq(var.as_bytes().get(1..)?)?;
                Some((&var[..eq], &var[eq + 1..]))
            })
            .collect();
        // Stable: of a repeated name, the last value is the last one given.
        all.sort_by(|a, b| a.0.cmp(b.0));
        all.dedup_by(|later, kept| {
            let repeated = later.0 == kept.0;
            if repeated {
                kept.1 = later.1;
            }
            repeated
        });
        all
    }
}

/// Whether `name` can name a variable: not empty, no `=` after its first
/// byte (a leading `=` is allowed, as in Windows' `=C:`).
fn is_name(name: &str) -> bool {
    name.as_bytes()
        .split_first()
        .is_some_and(|(_, rest)| !rest.contains(&b'='))
}

/// Shown as the map it stands for.
impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.sorted()).finish()
    }
}

/// The index of the first `=` in `bytes`, tested eight bytes at a time:
/// byte by byte it cost twice the instructions when every variable was split
/// at start-up. Only [`Vars::sorted`] splits them now.
fn find_eq(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        // `x` has a zero byte where `bytes` has `=`. Subtracting 1 from each
        // byte sets the high bit of the zero ones; the borrow can also flag
        // a byte above a zero one, never below, so the lowest flag is exact.
        let x = u64::from_le_bytes(word) ^ (ONES * u64::from(b'='));
        let flagged = x.wrapping_sub(ONES) & !x & HIGHS;
        if flagged != 0 {
            return Some(offset + (flagged.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    let rest = chunks.remainder().iter().position(|&b| b == b'=')?;
    Some(offset + rest)
}

/// The string itself when it is UTF-8, else a lossy copy.
fn lossy(s: std::ffi::OsString) -> String {
    s.into_string()
        .unwrap_or_else(|s| s.to_string_lossy().into_owned())
}

/// The environment read straight from WASI preview 1 into one buffer,
/// where std's `vars_os` copies it into libc's `environ`, then into two
/// strings per variable: that cost ~23k instructions per request.
/// Calling the WASI imports directly is `unsafe` by nature; each block says
/// why it is sound.
#[cfg(all(target_os = "wasi", target_env = "p1"))]
#[allow(unsafe_code)]
mod raw_env {
    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        fn environ_sizes_get(count: *mut usize, size: *mut usize) -> u16;
        fn environ_get(environ: *mut *mut u8, buf: *mut u8) -> u16;
    }

    /// The environment block and where each variable starts in it, or
    /// `None` if WASI refused it.
    pub(super) fn environment() -> Option<(Vec<u8>, Vec<usize>)> {
        let (mut count, mut size) = (0, 0);
        // SAFETY: both pointers are to live, writable locals.
        if unsafe { environ_sizes_get(&mut count, &mut size) } != 0 {
            return None;
        }
        let mut pointers: Vec<*mut u8> = Vec::with_capacity(count);
        let mut block: Vec<u8> = Vec::with_capacity(size);
        // SAFETY: WASI writes `count` pointers and `size` bytes, the sizes
        // it reported above, and both vectors have that much capacity.
        if unsafe { environ_get(pointers.as_mut_ptr(), block.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: `environ_get` initialised the `count` pointers and the
        // `size` bytes.
        unsafe {
            pointers.set_len(count);
            block.set_len(size);
        }
        // Offsets are only compared and sliced with, never dereferenced: a
        // pointer outside the block makes `from_block` give up, not crash.
        let base = block.as_ptr() as usize;
        let starts = pointers
            .into_iter()
            .map(|p| (p as usize).wrapping_sub(base))
            .collect();
        Some((block, starts))
    }
}

/// Elsewhere (natively, a plugin run by hand) std's `vars_os` does it.
#[cfg(not(all(target_os = "wasi", target_env = "p1")))]
mod raw_env {
    pub(super) fn environment() -> Option<(Vec<u8>, Vec<usize>)> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A WASI environment block for `vars` and where each string starts.
    fn block(vars: &[&str]) -> (Vec<u8>, Vec<usize>) {
        let mut block = Vec::new();
        let mut starts = Vec::new();
        for var in vars {
            starts.push(block.len());
            block.extend_from_slice(var.as_bytes());
            block.push(0);
        }
        (block, starts)
    }

    fn parse(vars: &[&str]) -> Option<Vec<(String, String)>> {
        let (bytes, starts) = block(vars);
        let parsed = Vars::from_block(bytes, starts)?;
        let all = parsed.sorted();
        Some(
            all.into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn block_splits_at_the_first_equals_after_the_first_byte() {
        let vars = [
            "QUERY_STRING=a=b&c",
            "EMPTY=",
            "=C:=C:\\x",
            "NO_EQUALS",
            "",
            "=",
            "LONG_NAME_PAST_EIGHT_BYTES=é",
        ];
        assert_eq!(
            parse(&vars),
            Some(pairs(&[
                ("=C:", "C:\\x"),
                ("EMPTY", ""),
                ("LONG_NAME_PAST_EIGHT_BYTES", "é"),
                ("QUERY_STRING", "a=b&c"),
            ]))
        );
        let (bytes, starts) = block(&vars);
        let v = Vars::from_block(bytes, starts).unwrap();
        assert_eq!(v.get("QUERY_STRING"), Some("a=b&c"));
        assert_eq!(v.get("NO_EQUALS"), None);
        assert_eq!(v.get("QUERY"), None);
    }

    #[test]
    fn block_not_laid_out_as_promised_is_refused() {
        let (bytes, _) = block(&["A=1", "B=2"]);
        assert!(Vars::from_block(bytes.clone(), vec![0, 3]).is_none());
        assert!(Vars::from_block(bytes.clone(), vec![0, 99]).is_none());
        assert!(Vars::from_block(bytes.clone(), vec![4, 0]).is_none());
        assert!(Vars::from_block(vec![b'A', b'=', 0xff, 0], vec![0]).is_none());
        let (bytes, starts) = block(&["É=1", "B=2"]);
        assert!(Vars::from_block(bytes.clone(), vec![1, starts[1]]).is_none());
        assert!(Vars::from_block(bytes, starts).is_some());
    }

    #[test]
    fn last_value_of_a_repeated_name_wins() {
        let v = Vars::new([("B", "1"), ("A", "x"), ("B", "2"), ("B", "3")]);
        assert_eq!(v.get("B"), Some("3"));
        assert_eq!(v.sorted(), [("A", "x"), ("B", "3")]);
        assert_eq!(format!("{v:?}"), r#"{"A": "x", "B": "3"}"#);
    }

    proptest! {
        #[test]
        fn find_eq_finds_the_first(bytes in proptest::collection::vec(
            prop_oneof![Just(b'='), any::<u8>()], 0..40)
        ) {
            prop_assert_eq!(find_eq(&bytes), bytes.iter().position(|&b| b == b'='));
        }

        #[test]
        fn block_and_pairs_agree(
            vars in proptest::collection::vec(("[A-Z_]{1,20}", "[ -~é]{0,20}"), 0..20)
        ) {
            let strings: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let refs: Vec<&str> = strings.iter().map(String::as_str).collect();
            let (bytes, starts) = block(&refs);
            let from_block = Vars::from_block(bytes, starts).unwrap();
            let from_pairs = Vars::new(vars.clone());
            prop_assert_eq!(from_block.sorted(), from_pairs.sorted());
            for (k, _) in &vars {
                prop_assert_eq!(from_block.get(k), from_pairs.get(k));
            }
        }

        /// Lookups match without splitting the strings; std splits each at
        /// its first `=` after the first byte, and the last name wins.
        #[test]
        fn get_finds_what_splitting_finds(
            strings in proptest::collection::vec("[AB=é]{0,6}", 0..12),
            names in proptest::collection::vec("[AB=é]{0,4}", 0..8),
        ) {
            let refs: Vec<&str> = strings.iter().map(String::as_str).collect();
            let (bytes, starts) = block(&refs);
            let vars = Vars::from_block(bytes, starts).unwrap();
            let split = |name: &str| {
                strings.iter().rev().find_map(|s| {
                    let eq = 1 + s.as_bytes().get(1..)?.iter().position(|&b| b == b'=')?;
                    (&s[..eq] == name).then(|| &s[eq + 1..])
                })
            };
            for name in names.iter().map(String::as_str).chain(["", "=", "A", "=A"]) {
                prop_assert_eq!(vars.get(name), split(name), "{:?}", name);
            }
        }
    }
}
