//! The guest's environment, served by our own `environ_sizes_get` and
//! `environ_get` in place of wasmtime-wasi's.
//!
//! Why by hand: wasmtime-wasi keeps the environment as a `Vec<(String,
//! String)>`, copied in from the builder, and clones all of it on each of the
//! two calls every guest makes at start (wasi-libc and Rust's std both ask
//! for the sizes, then the strings). For the ~17 variables of a plain GET
//! that is ~100 allocations per request for data that never changes. Here
//! the environment is laid out once, exactly as the guest receives it, and
//! each call is a bounds check and one copy. A pointer outside the guest's
//! memory, or a misaligned one where a `u32` goes, traps as it does in
//! wasmtime-wasi (the WASI spec: a function that must dereference an
//! out-of-bounds pointer shall trap). Measured with callgrind
//! (`bench/instances.sh`): the Rust hello went from 75.0k to 63.0k
//! instructions per instance, the minimal module from 33.9k to 31.7k.

use wasmtime::{Caller, Extern, Linker};

/// A store that holds one invocation's environment block.
pub(crate) trait GuestEnv: 'static {
    /// The block `environ_get` hands over.
    fn env_block(&self) -> &EnvBlock;
}

/// One invocation's environment as `environ_get` hands it over: every
/// variable as `NAME=value\0`, back to back, and where each one starts.
///
/// The gateway writes the CGI meta-variables straight into it
/// ([`EnvBlock::push`], [`EnvBlock::push_with`]): two buffers per request
/// instead of two `String`s per variable copied in afterwards. Building the
/// environment went from 4.1 % to 2.7 % of a `hello` request's server CPU
/// (perf under wrk).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EnvBlock {
    bytes: Vec<u8>,
    starts: Vec<u32>,
}

/// The value of the variable [`EnvBlock::push_with`] is writing. Only
/// `&str` and `Display` go in, so every value stays UTF-8, as WASI requires
/// of environment strings.
pub(crate) struct Value<'a>(&'a mut Vec<u8>);

impl Value<'_> {
    pub(crate) fn push_str(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn push_char(&mut self, c: char) {
        self.push_str(c.encode_utf8(&mut [0; 4]));
    }

    /// Appends bytes as text: as they are when they are UTF-8 (checked with
    /// `str::from_utf8`'s word-at-a-time scan: `String::from_utf8_lossy`
    /// walks them one character at a time, ~150 instructions more for a
    /// typical header value), each invalid sequence as U+FFFD otherwise.
    pub(crate) fn push_lossy(&mut self, bytes: &[u8]) {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.push_str(text),
            Err(_) => self.push_str(&String::from_utf8_lossy(bytes)),
        }
    }

    /// Appends an integer in decimal, as `Display` writes it.
    pub(crate) fn push_int(&mut self, n: impl Into<u64>) {
        crate::digits::push_decimal(self.0, n.into());
    }

    /// Appends an address as `Display` writes it: IPv4 (every client on
    /// most deployments) octet by octet, IPv6 by `Display`.
    pub(crate) fn push_ip(&mut self, ip: std::net::IpAddr) {
        match ip {
            std::net::IpAddr::V4(v4) => {
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        self.push_str(".");
                    }
                    self.push_int(octet);
                }
            }
            std::net::IpAddr::V6(v6) => {
                use std::io::Write as _;
                // Writing into a `Vec` cannot fail, nor does an address's
                // `Display`.
                let _ = write!(self.0, "{v6}");
            }
        }
    }
}

impl EnvBlock {
    /// Room for `vars` variables of `bytes` bytes in all, so that a typical
    /// request's block is allocated once.
    pub(crate) fn with_capacity(vars: usize, bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            starts: Vec::with_capacity(vars),
        }
    }

    /// The block of `vars`, in order (tests, benchmarks, tools).
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(vars: &[(K, V)]) -> Self {
        let bytes = vars
            .iter()
            .map(|(k, v)| k.as_ref().len() + v.as_ref().len() + 2)
            .sum();
        let mut block = Self::with_capacity(vars.len(), bytes);
        for (name, value) in vars {
            block.push(name.as_ref(), value.as_ref());
        }
        block
    }

    /// Appends `NAME=value`. Names are the caller's to keep unique.
    pub(crate) fn push(&mut self, name: &str, value: &str) {
        self.push_with(name, |v| v.push_str(value));
    }

    /// Appends `NAME=` and whatever `value` writes.
    pub(crate) fn push_with(&mut self, name: &str, value: impl FnOnce(&mut Value<'_>)) {
        self.push_named(|n| n.push_str(name), value);
    }

    /// Appends whatever `name` writes, `=`, and whatever `value` writes: a
    /// name derived from a header's is written in place, not allocated.
    /// `name` must write neither `=` nor NUL.
    pub(crate) fn push_named(
        &mut self,
        name: impl FnOnce(&mut Value<'_>),
        value: impl FnOnce(&mut Value<'_>),
    ) {
        // Truncation past 4 GiB is caught by `check_fits` before a guest
        // sees the block.
        self.starts.push(self.bytes.len() as u32);
        name(&mut Value(&mut self.bytes));
        self.bytes.push(b'=');
        value(&mut Value(&mut self.bytes));
        self.bytes.push(0);
    }

    /// Every variable as `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let ends = self.starts.iter().skip(1).map(|s| *s as usize);
        let ends = ends.chain(std::iter::once(self.bytes.len()));
        self.starts.iter().zip(ends).filter_map(|(start, end)| {
            // Without its NUL; only `&str` went in, and `=` is ASCII.
            let var = std::str::from_utf8(self.bytes.get(*start as usize..end - 1)?).ok()?;
            var.split_once('=')
        })
    }

    /// Whether `name` is set: its bytes and the `=` after them compared in
    /// place, without reading any value (the sidecar's variables are each
    /// checked against the whole block on every request).
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.starts.iter().any(|start| {
            let var = self.bytes.get(*start as usize..).unwrap_or_default();
            var.strip_prefix(name.as_bytes())
                .is_some_and(|rest| rest.first() == Some(&b'='))
        })
    }

    /// Fails when the block would not fit a guest's 32-bit address space (a
    /// request cannot get near that: the header limits bound it).
    pub(crate) fn check_fits(&self) -> Result<(), EnvTooLarge> {
        u32::try_from(self.bytes.len())
            .map(drop)
            .map_err(|_| EnvTooLarge)
    }

    /// `environ_sizes_get`: the count and the buffer size; nothing is
    /// written unless both slots are valid.
    fn write_sizes(
        &self,
        memory: &mut [u8],
        count_at: u32,
        size_at: u32,
    ) -> Result<(), BadPointer> {
        let count_slot = guest_range(memory.len(), count_at, 4, 4)?;
        let size_slot = guest_range(memory.len(), size_at, 4, 4)?;
        // Both fit a u32: `new` checked the block's size, and the count is
        // smaller.
        memory[count_slot].copy_from_slice(&(self.starts.len() as u32).to_le_bytes());
        memory[size_slot].copy_from_slice(&(self.bytes.len() as u32).to_le_bytes());
        Ok(())
    }

    /// `environ_get`: the pointer array at `environ_at`, the strings at
    /// `buf_at`; nothing is written unless both are valid.
    fn write_vars(
        &self,
        memory: &mut [u8],
        environ_at: u32,
        buf_at: u32,
    ) -> Result<(), BadPointer> {
        let table = guest_range(memory.len(), environ_at, self.starts.len() * 4, 4)?;
        let strings = guest_range(memory.len(), buf_at, self.bytes.len(), 1)?;
        memory[strings].copy_from_slice(&self.bytes);
        for (slot, start) in memory[table].chunks_exact_mut(4).zip(&self.starts) {
            // Inside a memory of at most 4 GiB, so it fits a u32.
            let at = buf_at.wrapping_add(*start);
            slot.copy_from_slice(&at.to_le_bytes());
        }
        Ok(())
    }
}

/// The environment does not fit a 32-bit guest.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the environment is larger than a 32-bit guest can address")]
pub(crate) struct EnvTooLarge;

/// A guest passed a pointer outside its memory or misaligned for what it
/// points to; the call traps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the guest passed an environ pointer outside its memory or misaligned")]
pub(crate) struct BadPointer;

/// Where `len` bytes at guest address `at` lie, if all of them are inside a
/// memory of `memory_len` bytes and `at` is a multiple of `align`.
fn guest_range(
    memory_len: usize,
    at: u32,
    len: usize,
    align: u32,
) -> Result<std::ops::Range<usize>, BadPointer> {
    let start = usize::try_from(at).map_err(|_| BadPointer)?;
    let end = start.checked_add(len).ok_or(BadPointer)?;
    if end <= memory_len && at.is_multiple_of(align) {
        Ok(start..end)
    } else {
        Err(BadPointer)
    }
}

/// Replaces wasmtime-wasi's two environment functions of the `namespace`
/// (WASI preview 1) in `linker`, which must already hold them, with ones that
/// read the store's [`EnvBlock`].
pub(super) fn shadow_in<T: GuestEnv>(
    linker: &mut Linker<T>,
    namespace: &str,
) -> wasmtime::Result<()> {
    /// Both calls take two guest pointers.
    type Write = fn(&EnvBlock, &mut [u8], u32, u32) -> Result<(), BadPointer>;
    let calls: [(&str, Write); 2] = [
        ("environ_sizes_get", EnvBlock::write_sizes),
        ("environ_get", EnvBlock::write_vars),
    ];
    linker.allow_shadowing(true);
    for (name, write) in calls {
        linker.func_wrap(
            namespace,
            name,
            move |mut caller: Caller<'_, T>, first: u32, second: u32| {
                with_memory(&mut caller, |memory, env| write(env, memory, first, second))?;
                // errno::success
                Ok(0i32)
            },
        )?;
    }
    linker.allow_shadowing(false);
    Ok(())
}

/// Runs `f` on the caller's exported memory and its environment; a guest
/// without a `memory` export cannot receive anything and traps, as in
/// wasmtime-wasi.
fn with_memory<T: GuestEnv>(
    caller: &mut Caller<'_, T>,
    f: impl FnOnce(&mut [u8], &EnvBlock) -> Result<(), BadPointer>,
) -> wasmtime::Result<()> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Err(wasmtime::format_err!("the guest exports no `memory`"));
    };
    let (memory, state) = memory.data_and_store_mut(caller);
    Ok(f(memory, state.env_block())?)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn u32_at(memory: &[u8], at: usize) -> u32 {
        let mut word = [0; 4];
        word.copy_from_slice(&memory[at..at + 4]);
        u32::from_le_bytes(word)
    }

    #[test]
    fn sizes_and_strings_are_laid_out_as_wasi_expects() {
        let env = EnvBlock::from_pairs(&[("A", "1"), ("PATH_INFO", ""), ("B", "x=y")]);
        let mut memory = vec![0xAA; 256];
        assert_eq!(env.write_sizes(&mut memory, 0, 4), Ok(()));
        assert_eq!(u32_at(&memory, 0), 3);
        assert_eq!(u32_at(&memory, 4), 21);
        assert_eq!(env.write_vars(&mut memory, 16, 101), Ok(()));
        assert_eq!(&memory[101..122], b"A=1\0PATH_INFO=\0B=x=y\0");
        assert_eq!(memory[122], 0xAA);
        assert_eq!([16, 20, 24].map(|at| u32_at(&memory, at)), [101, 105, 116]);
    }

    #[test]
    fn a_block_reads_back_what_was_pushed() {
        let mut env = EnvBlock::with_capacity(3, 64);
        env.push("A", "1");
        env.push_with("PORT", |v| v.push_int(8080u16));
        env.push_with("URL", |v| {
            v.push_str("http://h");
            v.push_str("/p=q");
        });
        let vars: Vec<_> = env.iter().collect();
        assert_eq!(
            vars,
            [("A", "1"), ("PORT", "8080"), ("URL", "http://h/p=q")]
        );
        assert!(env.contains("URL") && !env.contains("B"));
        assert!(env.contains("PORT") && !env.contains("POR") && !env.contains("PORT="));
        assert_eq!(env, EnvBlock::from_pairs(&vars));
    }

    #[test]
    fn an_empty_environment_writes_zeros_and_nothing_else() {
        let env = EnvBlock::default();
        let mut memory = vec![0xAA; 16];
        assert_eq!(env.write_sizes(&mut memory, 0, 4), Ok(()));
        assert_eq!(&memory[..8], &[0; 8]);
        assert_eq!(env.write_vars(&mut memory, 16, 16), Ok(()));
        assert!(memory[8..].iter().all(|b| *b == 0xAA));
    }

    #[test]
    fn bad_pointers_are_refused_and_write_nothing() {
        let env = EnvBlock::from_pairs(&[("NAME", "value")]);
        let mut memory = vec![0xAA; 64];
        // Past the end, straddling it, wrapping, and misaligned for a u32.
        for (count_at, size_at) in [(64, 0), (0, 62), (u32::MAX - 3, 0), (0, 2), (1, 8)] {
            assert_eq!(
                env.write_sizes(&mut memory, count_at, size_at),
                Err(BadPointer)
            );
        }
        // The table fits but the strings run past the end, the reverse,
        // both wrap, and a misaligned table.
        for (environ_at, buf_at) in [(0, 60), (64, 0), (u32::MAX, u32::MAX), (2, 8)] {
            assert_eq!(
                env.write_vars(&mut memory, environ_at, buf_at),
                Err(BadPointer)
            );
        }
        assert!(memory.iter().all(|b| *b == 0xAA));
    }

    fn written(write: impl FnOnce(&mut Value<'_>)) -> String {
        let mut bytes = Vec::new();
        write(&mut Value(&mut bytes));
        String::from_utf8(bytes).expect("a Value holds UTF-8")
    }

    proptest! {
        #[test]
        fn values_read_as_display_and_lossy_conversion_write_them(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            v4 in any::<std::net::Ipv4Addr>(),
            v6 in any::<std::net::Ipv6Addr>(),
            n in any::<u64>(),
            port in any::<u16>(),
        ) {
            prop_assert_eq!(written(|v| v.push_lossy(&bytes)), String::from_utf8_lossy(&bytes));
            prop_assert_eq!(written(|v| v.push_ip(v4.into())), v4.to_string());
            prop_assert_eq!(written(|v| v.push_ip(v6.into())), v6.to_string());
            prop_assert_eq!(written(|v| v.push_int(n)), n.to_string());
            prop_assert_eq!(written(|v| v.push_int(port)), port.to_string());
        }
    }

    proptest! {
        // The guest picks the pointers and the memory size: whatever they
        // are, the host never panics, and it either writes exactly the
        // table and the strings inside memory or writes nothing at all.
        #[test]
        fn hostile_pointers_never_panic_or_write_outside_what_they_name(
            names in proptest::collection::vec(("[A-Z_]{1,8}", "[ -~]{0,12}"), 0..6),
            memory_len in 0usize..512,
            environ_at in prop_oneof![0u32..600, Just(u32::MAX - 3), any::<u32>()],
            buf_at in prop_oneof![0u32..600, Just(u32::MAX - 3), any::<u32>()],
        ) {
            let env = EnvBlock::from_pairs(&names);
            let mut memory = vec![0xAAu8; memory_len];
            let result = env.write_vars(&mut memory, environ_at, buf_at);
            let table = guest_range(memory_len, environ_at, env.starts.len() * 4, 4);
            let strings = guest_range(memory_len, buf_at, env.bytes.len(), 1);
            if let (Ok(table), Ok(strings)) = (table, strings) {
                prop_assert_eq!(result, Ok(()));
                for (i, b) in memory.iter().enumerate() {
                    if !table.contains(&i) && !strings.contains(&i) {
                        prop_assert_eq!(*b, 0xAA);
                    }
                }
                if table.end <= strings.start || strings.end <= table.start {
                    prop_assert_eq!(&memory[strings.clone()], &env.bytes[..]);
                    for (i, start) in env.starts.iter().enumerate() {
                        let at = u32_at(&memory, table.start + 4 * i) as usize;
                        prop_assert!(at < memory_len);
                        prop_assert_eq!(at, strings.start + *start as usize);
                    }
                }
            } else {
                prop_assert_eq!(result, Err(BadPointer));
                prop_assert!(memory.iter().all(|b| *b == 0xAA));
            }
            let mut memory = vec![0xAAu8; memory_len];
            let result = env.write_sizes(&mut memory, environ_at, buf_at);
            let valid = guest_range(memory_len, environ_at, 4, 4).is_ok()
                && guest_range(memory_len, buf_at, 4, 4).is_ok();
            prop_assert_eq!(result.is_ok(), valid);
            if !valid {
                prop_assert!(memory.iter().all(|b| *b == 0xAA));
            }
        }
    }
}
