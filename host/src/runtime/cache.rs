//! A disk cache of compiled modules, so a restart with a hundred plugins
//! serves within a second instead of recompiling every one.
//!
//! Hand-written rather than wasmtime's own `cache` feature: that feature
//! pulls in a config file format, zstd and a background worker, and trusts
//! whatever bytes it finds; here an entry is verified before its native code
//! is mapped, written atomically, and any doubt is a miss.
//!
//! Layout: `DIR/<engine key, 16 hex>/<sha256 of the .wasm, 64 hex>`. Each entry
//! is a [`HEADER_LEN`]-byte header (magic, format version, full engine key,
//! module hash, artifact length, SHA-256 of the artifact) followed by the
//! artifact from `Module::serialize` or `Component::serialize`.
//!
//! What the checksum protects against: a truncated or half-written entry (a
//! crash between write and rename, a full disk, no `fsync` on purpose), bit
//! rot, a partial copy, an entry renamed or copied into the wrong place, and
//! an entry written by another engine configuration or wasmtime version. What
//! it does not protect against: someone who can write the folder can write a
//! well-formed header over any native code, and `Module::deserialize` runs
//! that code unchecked. The cache folder must be as trusted as the binary;
//! [`DiskCache::open`] refuses a folder other users can write to.
//!
//! Bound: no eviction. An entry is written only for a module version that
//! was actually loaded, identical content shares one entry, and each engine
//! configuration has its own subfolder, so growth is one compiled copy per
//! distinct module version ever served. Deleting the folder (or any entry)
//! at any time is safe: the next load recompiles.

use std::fs;
use std::hash::{Hash as _, Hasher};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

/// First bytes of every entry.
const MAGIC: [u8; 8] = *b"WBNCACHE";
/// Bumped when the header layout or the keying changes; an entry with another
/// version is a miss and gets overwritten.
const FORMAT_VERSION: u32 = 1;
/// Magic, version, engine key, module hash, artifact length, artifact hash.
const HEADER_LEN: usize = 8 + 4 + 32 + 32 + 8 + 32;
/// Largest entry read or written; a bigger artifact is simply not cached.
const MAX_ENTRY_BYTES: u64 = 1 << 30;
/// Hex digits of the engine key naming its subfolder.
const ENGINE_DIR_HEX: usize = 16;

/// SHA-256 digest.
type Digest32 = [u8; 32];

/// Why an entry on disk was not used; each becomes a miss and the entry is
/// rewritten after a fresh compile.
#[derive(Debug, thiserror::Error)]
pub(super) enum EntryError {
    /// Reading failed (other than "not found", which is a plain miss).
    #[error("cannot read it: {0}")]
    Io(#[from] io::Error),
    /// Shorter than a header, or not our magic.
    #[error("not a wasibin cache entry")]
    NotAnEntry,
    /// Written by another version of this cache's format.
    #[error("cache format version {0}, expected {FORMAT_VERSION}")]
    Format(u32),
    /// Compiled by another engine configuration or wasmtime version.
    #[error("compiled for another engine configuration")]
    OtherEngine,
    /// The header names another module than the file name says.
    #[error("the entry is for another module")]
    OtherModule,
    /// The artifact is shorter or longer than the header says.
    #[error("truncated or padded: {actual} artifact bytes, header says {expected}")]
    Length {
        /// What the header says.
        expected: u64,
        /// What the file holds.
        actual: u64,
    },
    /// Larger than [`MAX_ENTRY_BYTES`].
    #[error("larger than {MAX_ENTRY_BYTES} bytes")]
    TooLarge,
    /// The artifact's SHA-256 does not match the header.
    #[error("checksum mismatch (corrupted)")]
    Checksum,
    /// wasmtime refused the verified artifact.
    #[error("wasmtime refused it: {0}")]
    Deserialize(String),
}

/// The cache for one engine: a folder of verified, atomically written
/// compiled modules.
#[derive(Debug)]
pub(super) struct DiskCache {
    /// `root/<engine key>`; created on first write.
    dir: PathBuf,
    engine_key: Digest32,
    /// Look-ups answered from disk and look-ups that compiled, for
    /// `/metrics` (read at scrape time: the cache knows nothing of it).
    hits: AtomicU64,
    misses: AtomicU64,
    /// The last write failed (a full or read-only folder): logged once, not
    /// for every module, until a write works again.
    write_failing: AtomicBool,
}

/// How the disk cache has done since the server started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Modules loaded from a verified entry.
    pub hits: u64,
    /// Modules compiled (no entry, or one that could not be used).
    pub misses: u64,
}

impl DiskCache {
    /// Opens (creating, private to this user) the cache under `root` for
    /// `engine`. `None`, with a warning, when the folder cannot be created or
    /// other users can write to it: then every module is compiled fresh.
    pub(super) fn open(root: &Path, engine: &Engine) -> Option<DiskCache> {
        if let Err(err) = create_private_dir(root) {
            tracing::warn!(
                "cannot create the module cache folder {}: {err}; compiling without a cache",
                root.display()
            );
            return None;
        }
        if let Err(reason) = check_trusted(root, effective_user()) {
            tracing::warn!(
                "not using the module cache folder {}: {reason}; compiling without a cache",
                root.display()
            );
            return None;
        }
        let engine_key = engine_key(engine);
        Some(DiskCache {
            dir: root.join(hex(&engine_key[..ENGINE_DIR_HEX / 2])),
            engine_key,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            write_failing: AtomicBool::new(false),
        })
    }

    /// The compiled module for `wasm`: from the cache when a verified entry
    /// exists, otherwise from `compile`, whose result is then stored. A bad
    /// entry is logged and overwritten; a failed write is logged and ignored.
    pub(super) fn load_or_compile<A: Artifact, E>(
        &self,
        engine: &Engine,
        wasm: &[u8],
        compile: impl FnOnce() -> Result<A, E>,
    ) -> Result<A, E> {
        let module_hash: Digest32 = Sha256::digest(wasm).into();
        let path = self.entry_path(&module_hash);
        match self.load(engine, &path, &module_hash) {
            Ok(Some(module)) => {
                tracing::debug!("compiled module loaded from cache {}", path.display());
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(module);
            }
            Ok(None) => tracing::debug!("module cache miss: {}", path.display()),
            Err(err) => tracing::info!(
                "ignoring module cache entry {}: {err}; recompiling",
                path.display()
            ),
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let module = compile()?;
        match self.store(&path, &module_hash, &module) {
            Err(err) if !self.write_failing.swap(true, Ordering::Relaxed) => tracing::warn!(
                "cannot write module cache entry {}: {err:#}; modules are compiled without caching until the folder takes writes again",
                path.display()
            ),
            Err(err) => tracing::debug!(
                "cannot write module cache entry {}: {err:#}",
                path.display()
            ),
            Ok(()) if self.write_failing.swap(false, Ordering::Relaxed) => {
                tracing::info!("module cache {} takes writes again", self.dir.display());
            }
            Ok(()) => {}
        }
        Ok(module)
    }

    /// Hits and misses so far.
    pub(super) fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    fn entry_path(&self, module_hash: &Digest32) -> PathBuf {
        self.dir.join(hex(module_hash))
    }

    /// `Ok(None)` when there is no entry; an error when there is one that
    /// cannot be trusted or used.
    fn load<A: Artifact>(
        &self,
        engine: &Engine,
        path: &Path,
        module_hash: &Digest32,
    ) -> Result<Option<A>, EntryError> {
        let file = match fs::File::open(path) {
            Ok(file) => file,
            // No entry, or no folder where the entries go (a file in its
            // place): a miss either way.
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None)
            }
            Err(err) => return Err(err.into()),
        };
        if file.metadata()?.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge);
        }
        let mut bytes = Vec::new();
        file.take(MAX_ENTRY_BYTES).read_to_end(&mut bytes)?;
        let artifact = verify(&bytes, &self.engine_key, module_hash)?;
        // SAFETY: `deserialize` runs `artifact` as native code without
        // checking it. These exact bytes (read once into memory, so nothing
        // can change them after the check) carry this engine's key and match
        // the SHA-256 that `store` recorded beside them. That rules out
        // accidents, not an attacker who can write the folder: the module
        // docs say why the folder must be as trusted as the binary.
        #[allow(unsafe_code)]
        let module = unsafe { A::deserialize(engine, artifact) }
            .map_err(|e| EntryError::Deserialize(format!("{e:#}")))?;
        Ok(Some(module))
    }

    /// Writes the entry to a temporary file and renames it into place, so a
    /// reader sees either no entry, the old one, or the whole new one. No
    /// `fsync`: an entry lost or torn by a crash fails verification and is
    /// rebuilt, which costs one compile.
    fn store<A: Artifact>(
        &self,
        path: &Path,
        module_hash: &Digest32,
        module: &A,
    ) -> anyhow::Result<()> {
        let artifact = module.serialize()?;
        let len = artifact.len() as u64;
        if len + HEADER_LEN as u64 > MAX_ENTRY_BYTES {
            tracing::debug!("compiled module too large to cache ({len} bytes)");
            return Ok(());
        }
        create_private_dir(&self.dir)?;
        let header = encode_header(&self.engine_key, module_hash, &artifact);
        let tmp = temp_path(path);
        let written = (|| -> io::Result<()> {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            file.write_all(&header)?;
            file.write_all(&artifact)?;
            fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        Ok(written?)
    }
}

/// Something compiled that the cache can keep: a core module or a
/// component. Entries are keyed by the hash of the `.wasm` bytes, which are
/// either one or the other, so the two kinds never meet in one entry.
// An unsafe method is this trait's point: `Module::deserialize` and
// `Component::deserialize` are unsafe, and the cache is their one caller.
#[allow(unsafe_code)]
pub(super) trait Artifact: Sized {
    /// The native artifact, for the disk.
    fn serialize(&self) -> wasmtime::Result<Vec<u8>>;

    /// # Safety
    ///
    /// `bytes` must come from [`Artifact::serialize`] by an engine of the
    /// same configuration: wasmtime runs them as native code unchecked.
    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self>;
}

impl Artifact for Module {
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        Module::serialize(self)
    }

    #[allow(unsafe_code)]
    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's promise is this function's contract.
        unsafe { Module::deserialize(engine, bytes) }
    }
}

impl Artifact for Component {
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        Component::serialize(self)
    }

    #[allow(unsafe_code)]
    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's promise is this function's contract.
        unsafe { Component::deserialize(engine, bytes) }
    }
}

/// The header for `artifact`.
fn encode_header(engine_key: &Digest32, module_hash: &Digest32, artifact: &[u8]) -> Vec<u8> {
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(engine_key);
    header.extend_from_slice(module_hash);
    header.extend_from_slice(&(artifact.len() as u64).to_le_bytes());
    header.extend_from_slice(&Sha256::digest(artifact));
    header
}

/// Checks the header of a whole entry against what we expect; the artifact
/// when everything matches.
fn verify<'a>(
    entry: &'a [u8],
    engine_key: &Digest32,
    module_hash: &Digest32,
) -> Result<&'a [u8], EntryError> {
    let (header, artifact) = entry
        .split_at_checked(HEADER_LEN)
        .ok_or(EntryError::NotAnEntry)?;
    let (magic, rest) = header.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err(EntryError::NotAnEntry);
    }
    let (version, rest) = rest.split_at(4);
    let version = u32::from_le_bytes(version.try_into().map_err(|_| EntryError::NotAnEntry)?);
    if version != FORMAT_VERSION {
        return Err(EntryError::Format(version));
    }
    let (engine, rest) = rest.split_at(32);
    if engine != engine_key {
        return Err(EntryError::OtherEngine);
    }
    let (module, rest) = rest.split_at(32);
    if module != module_hash {
        return Err(EntryError::OtherModule);
    }
    let (len, checksum) = rest.split_at(8);
    let expected = u64::from_le_bytes(len.try_into().map_err(|_| EntryError::NotAnEntry)?);
    let actual = artifact.len() as u64;
    if expected != actual {
        return Err(EntryError::Length { expected, actual });
    }
    if Sha256::digest(artifact).as_slice() != checksum {
        return Err(EntryError::Checksum);
    }
    Ok(artifact)
}

/// Identifies everything that makes a compiled artifact usable by `engine`:
/// wasmtime's own compatibility hash (target, compiler flags, tunables,
/// features, wasmtime version) plus this cache's format version.
fn engine_key(engine: &Engine) -> Digest32 {
    let mut hasher = DigestHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    FORMAT_VERSION.hash(&mut hasher);
    hasher.0.finalize().into()
}

/// A `Hasher` that feeds SHA-256, because the compatibility hash is only
/// exposed through `std::hash::Hash`, and std's hashers are neither wide
/// enough for a cache key nor promised to be stable across Rust releases.
struct DigestHasher(Sha256);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

/// A unique sibling of `path` for the atomic write: two servers sharing the
/// folder, or two rescans, never write the same temporary file.
fn temp_path(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp.{}.{n}", std::process::id()));
    path.with_file_name(name)
}

/// Creates `dir` and its parents, readable and writable by this user only.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Refuses a folder that other users can write to: whoever writes an entry
/// chooses the native code this server runs.
fn check_trusted(dir: &Path, user: u32) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let meta = fs::metadata(dir).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_dir() {
        return Err("not a folder".to_owned());
    }
    if meta.uid() != user {
        return Err(format!(
            "it belongs to user {}, not to this server's user {user}, and a cache entry is native code this server runs",
            meta.uid()
        ));
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(
            "other users can write to it, and a cache entry is native code this server runs"
                .to_owned(),
        );
    }
    Ok(())
}

/// The user this process acts as, the only one whose cache it trusts.
fn effective_user() -> u32 {
    // SAFETY: geteuid(2) has no preconditions and cannot fail; std has no
    // safe way to ask.
    #[allow(unsafe_code)]
    let user = unsafe { libc::geteuid() };
    user
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::Duration;

    use wasmtime::Config;

    use super::*;
    use crate::runtime::{EngineConfig, GuestLimits, Invocation, LoadError, WasmEngine};

    const HELLO: &str = r#"(module
      (import "wasi_snapshot_preview1" "fd_write"
        (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "Content-Type: text/plain\n\ncached")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (i32.const 32))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;

    fn wasm() -> Vec<u8> {
        wat::parse_str(HELLO).unwrap()
    }

    fn engine(epochs: bool) -> Engine {
        let mut config = Config::new();
        config.epoch_interruption(epochs);
        Engine::new(&config).unwrap()
    }

    /// Loads through `cache`; the bool says whether it had to compile.
    fn load(cache: &DiskCache, engine: &Engine, wasm: &[u8]) -> (Module, bool) {
        let compiled = Cell::new(false);
        let module = cache
            .load_or_compile(engine, wasm, || {
                compiled.set(true);
                build(engine, wasm)
            })
            .unwrap();
        (module, compiled.get())
    }

    fn build(engine: &Engine, wasm: &[u8]) -> Result<Module, LoadError> {
        Module::new(engine, wasm).map_err(|e| LoadError::Invalid(format!("{e:#}")))
    }

    fn only_entry(dir: &Path) -> PathBuf {
        let engines: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(engines.len(), 1, "{engines:?}");
        let entries: Vec<_> = fs::read_dir(&engines[0])
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(
            entries.len(),
            1,
            "one entry, no temporary files: {entries:?}"
        );
        entries[0].clone()
    }

    #[test]
    fn miss_then_hit_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(true);
        let cache = DiskCache::open(dir.path(), &engine).unwrap();
        let (_, compiled) = load(&cache, &engine, &wasm());
        assert!(compiled, "an empty cache is a miss");

        let cache = DiskCache::open(dir.path(), &engine).unwrap();
        let (module, compiled) = load(&cache, &engine, &wasm());
        assert!(!compiled, "the second open hits");
        assert!(module.get_export("_start").is_some());
        let entry = only_entry(dir.path());
        let name = entry.file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(name, hex(&Sha256::digest(wasm())));
    }

    #[test]
    fn different_content_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(true);
        let cache = DiskCache::open(dir.path(), &engine).unwrap();
        assert!(load(&cache, &engine, &wasm()).1);
        let other = wat::parse_str(HELLO.replace("cached", "CACHED")).unwrap();
        assert!(load(&cache, &engine, &other).1);
        assert!(!load(&cache, &engine, &other).1);
    }

    #[test]
    fn corrupted_entries_are_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(true);
        let cache = DiskCache::open(dir.path(), &engine).unwrap();
        load(&cache, &engine, &wasm());
        let entry = only_entry(dir.path());
        let good = fs::read(&entry).unwrap();

        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        let mut bad_header = good.clone();
        bad_header[0] = b'X';
        let cases: [(&str, Vec<u8>); 4] = [
            ("flipped artifact byte", flipped),
            ("truncated", good[..good.len() / 2].to_vec()),
            ("empty", Vec::new()),
            ("bad magic", bad_header),
        ];
        for (what, bytes) in cases {
            fs::write(&entry, &bytes).unwrap();
            let (_, compiled) = load(&cache, &engine, &wasm());
            assert!(compiled, "{what}: must be a miss");
            assert_eq!(fs::read(&entry).unwrap(), good, "{what}: entry rewritten");
            assert!(!load(&cache, &engine, &wasm()).1, "{what}: then a hit");
        }
    }

    #[test]
    fn verify_names_each_mismatch() {
        let key = [1u8; 32];
        let module = [2u8; 32];
        let mut entry = encode_header(&key, &module, b"artifact");
        entry.extend_from_slice(b"artifact");
        assert_eq!(verify(&entry, &key, &module).unwrap(), b"artifact");
        assert!(matches!(
            verify(&entry, &[9; 32], &module),
            Err(EntryError::OtherEngine)
        ));
        assert!(matches!(
            verify(&entry, &key, &[9; 32]),
            Err(EntryError::OtherModule)
        ));
        let mut longer = entry.clone();
        longer.push(0);
        assert!(matches!(
            verify(&longer, &key, &module),
            Err(EntryError::Length { .. })
        ));
        let mut version = entry.clone();
        version[8] = 7;
        assert!(matches!(
            verify(&version, &key, &module),
            Err(EntryError::Format(7))
        ));
        let mut flipped = entry;
        flipped[HEADER_LEN] ^= 1;
        assert!(matches!(
            verify(&flipped, &key, &module),
            Err(EntryError::Checksum)
        ));
    }

    #[test]
    fn another_engine_configuration_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let with_epochs = engine(true);
        let without = engine(false);
        let a = DiskCache::open(dir.path(), &with_epochs).unwrap();
        let b = DiskCache::open(dir.path(), &without).unwrap();
        assert_ne!(a.engine_key, b.engine_key);
        load(&a, &with_epochs, &wasm());
        assert!(load(&b, &without, &wasm()).1, "its own subfolder: a miss");

        // Even an entry copied into the other engine's place is refused.
        let hash: Digest32 = Sha256::digest(wasm()).into();
        fs::copy(a.entry_path(&hash), b.entry_path(&hash)).unwrap();
        assert!(matches!(
            b.load::<Module>(&without, &b.entry_path(&hash), &hash),
            Err(EntryError::OtherEngine)
        ));
        assert!(load(&b, &without, &wasm()).1);
        assert!(!load(&b, &without, &wasm()).1);
    }

    #[test]
    fn refuses_a_folder_others_can_write() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        assert!(DiskCache::open(dir.path(), &engine(true)).is_none());
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        assert!(DiskCache::open(dir.path(), &engine(true)).is_some());
    }

    #[test]
    fn refuses_a_folder_of_another_user() {
        let dir = tempfile::tempdir().unwrap();
        let me = effective_user();
        assert!(check_trusted(dir.path(), me).is_ok());
        let refused = check_trusted(dir.path(), me.wrapping_add(1)).unwrap_err();
        assert!(refused.contains("belongs to user"), "{refused}");
    }

    #[test]
    fn created_folders_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a").join("cache");
        let engine = engine(true);
        let cache = DiskCache::open(&root, &engine).unwrap();
        load(&cache, &engine, &wasm());
        for d in [&root, &cache.dir] {
            let mode = fs::metadata(d).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", d.display());
        }
    }

    /// The deserialized module goes through the same checks and runs.
    #[tokio::test]
    async fn a_cached_module_runs_in_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let config = EngineConfig {
            max_memory: 16 << 20,
            max_instances: 4,
            cache_dir: Some(dir.path().to_owned()),
        };
        let limits = GuestLimits {
            timeout: Duration::from_secs(20),
            max_memory: 1 << 20,
            max_stdout: 1 << 16,
        };
        // Two runtimes: the second process start of a server, with a warm cache.
        for _ in 0..2 {
            let runtime = WasmEngine::new(&config).unwrap();
            let module = runtime.compile(&wasm()).unwrap();
            let inv = Invocation {
                args: vec!["t".to_owned()],
                log_tag: "t".to_owned(),
                ..Invocation::default()
            };
            let out = runtime.run(&module, inv, &limits).await.unwrap();
            assert_eq!(&out.stdout[..], b"Content-Type: text/plain\n\ncached");
        }
        only_entry(dir.path());
    }

    #[test]
    fn a_cache_hit_still_refuses_a_bad_import() {
        let dir = tempfile::tempdir().unwrap();
        let config = EngineConfig {
            max_memory: 16 << 20,
            max_instances: 4,
            cache_dir: Some(dir.path().to_owned()),
        };
        let bad =
            wat::parse_str(r#"(module (import "env" "nope" (func)) (func (export "_start")))"#)
                .unwrap();
        for _ in 0..2 {
            let runtime = WasmEngine::new(&config).unwrap();
            let err = runtime.compile(&bad).unwrap_err();
            assert!(err.to_string().contains("env::nope"), "{err}");
        }
    }
}
