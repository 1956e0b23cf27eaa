//! Turning a plugin's files into a [`Plugin`]: read the module (bounded),
//! compile it (through the engine's disk cache) or keep the old version's
//! compiled copy when the bytes did not change, and apply its sidecar over
//! the defaults. The folder scan and `wasibin run` both load this way, so a
//! plugin runs the same under both.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest as _, Sha256};

use super::route::is_safe_segment;
use super::sidecar::{self, PluginConfig, PluginDefaults};
use super::{Gate, Plugin};
use crate::bounded_file;
use crate::runtime::WasmEngine;

/// Largest `.wasm` file loaded.
pub(crate) const MAX_MODULE_BYTES: u64 = 256 << 20;
/// Largest sidecar `.toml` read.
pub(crate) const MAX_SIDECAR_BYTES: u64 = 1 << 20;
/// Hex digits of the content hash shown in logs and the banner.
const SHORT_HASH_HEX: usize = 12;

/// Where one plugin comes from: its module, its sidecar if it has one, and
/// the route they make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PluginFile {
    /// The mount, e.g. `/api/users`.
    pub(crate) route: String,
    /// The file name without `.wasm` (argv\[0\]).
    pub(crate) name: String,
    /// The `.wasm` file.
    pub(crate) wasm: PathBuf,
    /// `NAME.toml` next to it, when it exists.
    pub(crate) sidecar: Option<PathBuf>,
}

impl PluginFile {
    /// A lone module mounted at `/NAME`, as `wasibin run` serves it.
    pub(crate) fn standalone(wasm: &Path) -> Result<PluginFile, String> {
        let name = wasm
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| is_safe_segment(s))
            .ok_or_else(|| {
                format!(
                    "{}: a plugin's file name must be letters, digits, '-', '_', '.' or '~' before .wasm",
                    wasm.display()
                )
            })?
            .to_owned();
        let sidecar = wasm.with_extension("toml");
        Ok(PluginFile {
            route: format!("/{name}"),
            name,
            wasm: wasm.to_owned(),
            sidecar: sidecar.is_file().then_some(sidecar),
        })
    }
}

impl Plugin {
    /// Builds the version of `file` to serve; the error is the reason, in
    /// words. With the route's `old` version, unchanged bytes keep its
    /// compiled module (the returned compile time is then `None`) and
    /// unchanged limits keep its admission gate, so a reload never doubles a
    /// plugin's concurrency. CPU-heavy when it compiles: call it off the
    /// request path.
    pub(crate) fn load(
        file: &PluginFile,
        engine: &WasmEngine,
        defaults: &PluginDefaults,
        old: Option<&Plugin>,
    ) -> Result<(Plugin, Option<Duration>), String> {
        let bytes = bounded_file::read(&file.wasm, MAX_MODULE_BYTES)?;
        let hash = short_hash(&bytes);
        let (module, compile_time) = match old {
            Some(p) if p.hash == hash => (p.module.clone(), None),
            _ => {
                let started = Instant::now();
                let module = engine.compile(&bytes).map_err(|e| e.to_string())?;
                (module, Some(started.elapsed()))
            }
        };
        let config = load_config(file.sidecar.as_deref(), defaults, engine.max_memory())?;
        let gate = match old {
            Some(p) if p.gate.has_limits(config.max_concurrency, config.max_queue) => {
                p.gate.clone()
            }
            _ => Gate::new(config.max_concurrency, config.max_queue),
        };
        let plugin = Plugin {
            route: Arc::from(file.route.as_str()),
            loaded_at: SystemTime::now(),
            name: file.name.clone(),
            file: file.wasm.clone(),
            hash,
            module,
            config,
            gate,
        };
        Ok((plugin, compile_time))
    }
}

/// The configuration a plugin runs with: its sidecar, when it has one, over
/// the server's defaults, with memory capped at the engine's ceiling.
fn load_config(
    sidecar: Option<&Path>,
    defaults: &PluginDefaults,
    memory_ceiling: usize,
) -> Result<PluginConfig, String> {
    let mut config = match sidecar {
        Some(path) => {
            let text = bounded_file::read(path, MAX_SIDECAR_BYTES)?;
            let text =
                String::from_utf8(text).map_err(|_| format!("{} is not UTF-8", path.display()))?;
            sidecar::parse(&text, path, defaults, memory_ceiling).map_err(|e| e.to_string())?
        }
        None => PluginConfig::from_defaults(defaults),
    };
    config.limits.max_memory = config.limits.max_memory.min(memory_ceiling);
    Ok(config)
}

/// Short hex of the SHA-256 of `bytes`: names a module version in logs.
fn short_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(SHORT_HASH_HEX);
    for b in digest.iter().take(SHORT_HASH_HEX / 2) {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_standalone_file_mounts_at_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("hello.wasm");
        let file = PluginFile::standalone(&wasm).unwrap();
        assert_eq!(
            (file.route.as_str(), file.name.as_str()),
            ("/hello", "hello")
        );
        assert_eq!(file.sidecar, None);
        fs::write(dir.path().join("hello.toml"), "").unwrap();
        assert_eq!(
            PluginFile::standalone(&wasm).unwrap().sidecar,
            Some(dir.path().join("hello.toml"))
        );
        assert!(PluginFile::standalone(&dir.path().join("bad name.wasm")).is_err());
        assert!(PluginFile::standalone(&dir.path().join(".hidden.wasm")).is_err());
    }

    #[test]
    fn hashes_are_short_and_stable() {
        assert_eq!(short_hash(b""), "e3b0c44298fc");
        assert_eq!(short_hash(b"x").len(), SHORT_HASH_HEX);
    }
}
