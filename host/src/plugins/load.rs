//! Turning a plugin's files into a [`Plugin`]: read the module (bounded),
//! compile it (through the engine's disk cache) or keep the old version's
//! compiled copy when the bytes did not change, and apply its sidecar over
//! the defaults. A script is its interpreter's module, pre-initialised with
//! the script when the interpreter allows it, and a private copy of the
//! script named in argv. The folder scan and `wasibin run` both load this
//! way, so a plugin runs the same under both.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

use super::interpreters::{Extensions, Interpreter};
use super::route::is_safe_segment;
use super::script_copy::ScriptCopy;
use super::sidecar::{self, PluginConfig, PluginDefaults};
use super::{Gate, Plugin, ScriptRun};
use crate::bounded_file;
use crate::runtime::{CompiledModule, Preinit, WasmEngine};

/// Largest `.wasm` file loaded.
pub(crate) const MAX_MODULE_BYTES: u64 = 256 << 20;
/// Largest sidecar `.toml` read.
pub(crate) const MAX_SIDECAR_BYTES: u64 = 1 << 20;
/// Largest script read.
pub(crate) const MAX_SCRIPT_BYTES: u64 = 16 << 20;
/// Hex digits of the content hash shown in logs and the banner.
const SHORT_HASH_HEX: usize = 12;

/// Where one plugin comes from: its module or script, its sidecar if it has
/// one, and the route they make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PluginFile {
    /// The mount, e.g. `/api/users`.
    pub(crate) route: String,
    /// The file name without its extension (argv\[0\]).
    pub(crate) name: String,
    /// The `.wasm` file, or the script.
    pub(crate) file: PathBuf,
    /// What runs the script; `None` for a module.
    pub(crate) interpreter: Option<Interpreter>,
    /// `NAME.toml` next to it, when it exists.
    pub(crate) sidecar: Option<PathBuf>,
}

impl PluginFile {
    /// A lone module or script mounted at `/NAME`, as `wasibin run` serves
    /// it: a script runs under the interpreter its folder's table (or the
    /// built-in default) maps its extension to.
    pub(crate) fn standalone(path: &Path) -> Result<PluginFile, String> {
        let file_name = path.file_name().and_then(|s| s.to_str()).unwrap_or("");
        let (name, interpreter) = match file_name.strip_suffix(".wasm") {
            Some(stem) => (stem, None),
            None => {
                let dir = path.parent().unwrap_or(Path::new("."));
                let extensions = Extensions::default().with_folder(dir)?;
                match extensions.interpreter_of(file_name) {
                    Some((stem, interpreter)) => (stem, Some(interpreter.clone())),
                    None => {
                        return Err(format!(
                            "{}: neither a .wasm module nor a script with an interpreter",
                            path.display()
                        ))
                    }
                }
            }
        };
        if !is_safe_segment(name) {
            return Err(format!(
                "{}: a plugin's file name must be letters, digits, '-', '_', '.' or '~' before its extension",
                path.display()
            ));
        }
        let sidecar = path.with_file_name(format!("{name}.toml"));
        Ok(PluginFile {
            route: format!("/{name}"),
            name: name.to_owned(),
            file: path.to_owned(),
            interpreter,
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
        let mut config = load_config(file.sidecar.as_deref(), defaults, engine.max_memory())?;
        let loaded = match &file.interpreter {
            None => load_module(file, engine, old)?,
            Some(interpreter) => load_script(file, interpreter, engine, &config, old)?,
        };
        let mut argv = vec![file.name.clone()];
        if let Some(script) = &loaded.script {
            argv.push(script.copy.guest_path().to_owned());
            config.preopens.push(script.copy.preopen());
        }
        argv.extend(config.args.iter().cloned());
        let gate = match old {
            Some(p) if p.gate.has_limits(config.max_concurrency, config.max_queue) => {
                p.gate.clone()
            }
            _ => Gate::new(config.max_concurrency, config.max_queue),
        };
        let plugin = Plugin {
            route: Arc::from(file.route.as_str()),
            loaded_at: SystemTime::now(),
            argv,
            file: file.file.clone(),
            hash: loaded.hash,
            module: loaded.module,
            script: loaded.script,
            config,
            gate,
        };
        Ok((plugin, loaded.compile_time))
    }
}

/// What loading a module or a script gives besides its configuration.
struct Loaded {
    hash: String,
    module: CompiledModule,
    script: Option<Arc<ScriptRun>>,
    /// `None` when the old version's compiled module was kept.
    compile_time: Option<Duration>,
}

fn load_module(
    file: &PluginFile,
    engine: &WasmEngine,
    old: Option<&Plugin>,
) -> Result<Loaded, String> {
    let bytes = bounded_file::read(&file.file, MAX_MODULE_BYTES)?;
    let hash = short_hash(&[&bytes]);
    let (module, compile_time) = match old {
        Some(p) if p.hash == hash && p.script.is_none() => (p.module.clone(), None),
        _ => {
            let started = Instant::now();
            let module = engine.compile(&bytes).map_err(|e| e.to_string())?;
            (module, Some(started.elapsed()))
        }
    };
    Ok(Loaded {
        hash,
        module,
        script: None,
        compile_time,
    })
}

/// A script: the version is the interpreter's bytes and the script's
/// together. Unchanged, the old version's module and copy are kept.
/// Otherwise the interpreter is pre-initialised with the script when it
/// can be, and run plain (reading the copy per request) when not.
fn load_script(
    file: &PluginFile,
    interpreter: &Interpreter,
    engine: &WasmEngine,
    config: &PluginConfig,
    old: Option<&Plugin>,
) -> Result<Loaded, String> {
    let wasm = interpreter.wasm(MAX_MODULE_BYTES)?;
    let script = bounded_file::read(&file.file, MAX_SCRIPT_BYTES)?;
    let hash = short_hash(&[&wasm, file.name.as_bytes(), &script]);
    if let Some(p) = old.filter(|p| p.hash == hash) {
        if let Some(run) = &p.script {
            return Ok(Loaded {
                hash,
                module: p.module.clone(),
                script: Some(run.clone()),
                compile_time: None,
            });
        }
    }
    let file_name = file
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(&file.name);
    let copy = ScriptCopy::new(engine.scratch_dir(), file_name, &script)?;
    let started = Instant::now();
    let init_argv = [file.name.clone(), copy.guest_path().to_owned()];
    let (module, preinitialised) =
        match engine.preinitialise(&wasm, Bytes::from(script), &init_argv, &config.limits)? {
            Preinit::Snapshot(snapshot) => (engine.compile(&snapshot), Ok(())),
            Preinit::PerRequest(why) => (engine.compile(&wasm), Err(why)),
        };
    let module = module.map_err(|e| format!("the interpreter {interpreter}: {e}"))?;
    Ok(Loaded {
        hash,
        module,
        script: Some(Arc::new(ScriptRun {
            interpreter: interpreter.clone(),
            copy,
            preinitialised,
        })),
        compile_time: Some(started.elapsed()),
    })
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

/// Short hex of the SHA-256 of `parts` (each length-prefixed, so two
/// splits of the same bytes differ): names a version in logs.
fn short_hash(parts: &[&[u8]]) -> String {
    let mut sha = Sha256::new();
    if let [one] = parts {
        sha.update(one);
    } else {
        for part in parts {
            sha.update((part.len() as u64).to_le_bytes());
            sha.update(part);
        }
    }
    let digest = sha.finalize();
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
        assert_eq!(short_hash(&[b""]), "e3b0c44298fc");
        assert_eq!(short_hash(&[b"x"]).len(), SHORT_HASH_HEX);
        assert_ne!(short_hash(&[b"ab", b"c"]), short_hash(&[b"a", b"bc"]));
    }
}
