//! The live plugin folder: loads `plugins/`, keeps the route table as an
//! atomically swapped snapshot, and rescans on demand.
//!
//! Start-up is simply the first rescan. Reload machinery (issue 4) bolts on
//! from outside: a `notify` watcher or SIGHUP handler only calls
//! [`PluginHost::rescan`] (debounce before calling; rescans are serialised,
//! and an unchanged file costs one `stat`); the disk cache of compiled
//! modules sits behind `WasmEngine::compile`, the one place bytes become a
//! module.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use arc_swap::ArcSwap;
use sha2::{Digest as _, Sha256};

use super::scan::{self, Candidate, Fingerprint};
use super::sidecar::{self, PluginConfig, PluginDefaults};
use super::{Gate, Plugin, RouteTable};
use crate::runtime::{CompiledModule, WasmEngine};

/// Largest `.wasm` file loaded.
pub const MAX_MODULE_BYTES: u64 = 256 << 20;
/// Largest sidecar `.toml` read.
pub const MAX_SIDECAR_BYTES: u64 = 1 << 20;
/// Hex digits of the content hash shown in logs and the banner.
const SHORT_HASH_HEX: usize = 12;

/// Owns the plugin folder, the runtime handle and the current route table.
#[derive(Debug, Clone)]
pub struct PluginHost {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    runtime: Arc<WasmEngine>,
    defaults: PluginDefaults,
    table: ArcSwap<RouteTable>,
    /// Serialises rescans and remembers what each route was loaded from.
    state: Mutex<ScanState>,
}

#[derive(Debug, Default)]
struct ScanState {
    /// Route → the fingerprint its serving version was loaded from.
    loaded: HashMap<String, Fingerprint>,
    /// File → the fingerprint of its last refusal, so a failure is logged once
    /// and retried only when the file changes.
    refused: HashMap<PathBuf, Fingerprint>,
    /// Files already reported as unable to make a route.
    skipped: HashSet<PathBuf>,
}

/// What one rescan changed.
#[derive(Debug, Default)]
pub struct RescanReport {
    /// Routes added or replaced by a new version.
    pub loaded: Vec<LoadedPlugin>,
    /// Routes whose file is gone.
    pub removed: Vec<String>,
    /// Files refused by this rescan (each logged once).
    pub refused: Vec<RefusedFile>,
    /// Routes left exactly as they were.
    pub unchanged: usize,
}

impl RescanReport {
    /// Whether the route table changed.
    pub fn changed(&self) -> bool {
        !self.loaded.is_empty() || !self.removed.is_empty()
    }
}

/// A route that now serves a new version.
#[derive(Debug, Clone)]
pub struct LoadedPlugin {
    /// The mount.
    pub route: String,
    /// Short content hash of the new version.
    pub hash: String,
    /// Compile time; `None` when the module was unchanged (only the file's
    /// timestamp or its sidecar changed).
    pub compile_time: Option<Duration>,
    /// Whether an older version was serving the route.
    pub replaced: bool,
}

/// A file that cannot serve (yet); any old version keeps serving.
#[derive(Debug, Clone)]
pub struct RefusedFile {
    /// The `.wasm` file.
    pub file: PathBuf,
    /// Why, in words.
    pub reason: String,
}

impl PluginHost {
    /// Loads every plugin in `dir` (the first rescan). Files that fail to
    /// load are logged and skipped; only an unreadable folder is an error. A
    /// missing folder means no plugins yet.
    pub fn load(
        dir: &Path,
        runtime: Arc<WasmEngine>,
        defaults: PluginDefaults,
    ) -> anyhow::Result<PluginHost> {
        if dir.exists() && !dir.is_dir() {
            anyhow::bail!("{} is not a folder", dir.display());
        }
        if !dir.exists() {
            tracing::warn!(
                "plugin folder {} does not exist: no plugin routes",
                dir.display()
            );
        }
        let host = PluginHost {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                runtime,
                defaults,
                table: ArcSwap::from_pointee(RouteTable::default()),
                state: Mutex::new(ScanState::default()),
            }),
        };
        host.inner.rescan()?;
        Ok(host)
    }

    /// The current route table. A request keeps this snapshot for its whole
    /// life, so a reload never changes the plugin under it.
    pub fn table(&self) -> Arc<RouteTable> {
        self.inner.table.load_full()
    }

    /// Rescans the folder off the request path (on a blocking thread):
    /// unchanged files (same size, times and inode; then same hash) keep
    /// their compiled module; new or changed ones are compiled; a file that
    /// fails to load keeps the old version serving and is logged once. The
    /// table is swapped atomically if anything changed.
    pub async fn rescan(&self) -> anyhow::Result<RescanReport> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.rescan())
            .await
            .context("the rescan task failed")?
    }

    /// The folder being served.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The runtime that runs the plugins.
    pub fn runtime(&self) -> &Arc<WasmEngine> {
        &self.inner.runtime
    }
}

impl Inner {
    fn rescan(&self) -> anyhow::Result<RescanReport> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let found = scan::walk(&self.dir)
            .with_context(|| format!("cannot read the plugin folder {}", self.dir.display()))?;

        let skipped_now: HashSet<PathBuf> = found.skipped.iter().map(|s| s.path.clone()).collect();
        for s in &found.skipped {
            if !state.skipped.contains(&s.path) {
                tracing::warn!("ignoring {}: {}", s.path.display(), s.reason);
            }
        }
        state.skipped = skipped_now;

        let current = self.table.load_full();
        let mut report = RescanReport::default();
        let mut next = Vec::with_capacity(found.candidates.len());
        for c in &found.candidates {
            let old = current.get(&c.route);
            if old.is_some() && state.loaded.get(&c.route) == Some(&c.fingerprint) {
                next.extend(old.cloned());
                report.unchanged += 1;
                continue;
            }
            if state.refused.get(&c.wasm) == Some(&c.fingerprint) {
                next.extend(old.cloned());
                continue;
            }
            match self.load_one(c, old.map(|p| &**p)) {
                Ok((plugin, compile_time)) => {
                    log_loaded(&plugin, compile_time, old.is_some());
                    report.loaded.push(LoadedPlugin {
                        route: plugin.route.clone(),
                        hash: plugin.hash.clone(),
                        compile_time,
                        replaced: old.is_some(),
                    });
                    state.loaded.insert(c.route.clone(), c.fingerprint);
                    state.refused.remove(&c.wasm);
                    next.push(Arc::new(plugin));
                }
                Err(reason) => {
                    match old {
                        Some(p) => tracing::warn!(
                            "refused {}: {reason}; {} keeps serving version {}",
                            c.wasm.display(),
                            p.route,
                            p.hash
                        ),
                        None => tracing::warn!(
                            "refused {}: {reason}; {} is not mounted",
                            c.wasm.display(),
                            c.route
                        ),
                    }
                    report.refused.push(RefusedFile {
                        file: c.wasm.clone(),
                        reason,
                    });
                    state.refused.insert(c.wasm.clone(), c.fingerprint);
                    next.extend(old.cloned());
                }
            }
        }

        let present: HashSet<&str> = found.candidates.iter().map(|c| c.route.as_str()).collect();
        for p in current.routes() {
            if !present.contains(p.route.as_str()) {
                tracing::info!("plugin {} removed ({} is gone)", p.route, p.file.display());
                report.removed.push(p.route.clone());
            }
        }
        state
            .loaded
            .retain(|route, _| present.contains(route.as_str()));
        let files: HashSet<&Path> = found.candidates.iter().map(|c| c.wasm.as_path()).collect();
        state
            .refused
            .retain(|file, _| files.contains(file.as_path()));

        if report.changed() {
            self.table.store(Arc::new(RouteTable::new(next)));
        }
        Ok(report)
    }

    /// Builds the new version of one route; the error is the reason, in words.
    fn load_one(
        &self,
        c: &Candidate,
        old: Option<&Plugin>,
    ) -> Result<(Plugin, Option<Duration>), String> {
        let bytes = read_bounded(&c.wasm, MAX_MODULE_BYTES)?;
        let hash = short_hash(&bytes);
        let (module, compile_time) = match old {
            Some(p) if p.hash == hash => (p.module.clone(), None),
            _ => {
                let (module, took) = self.compile_module(&bytes)?;
                (module, Some(took))
            }
        };
        let sidecar = c.fingerprint.sidecar.map(|_| c.sidecar.as_path());
        let config = load_config(sidecar, &self.defaults, self.runtime.max_memory())?;
        let gate = match old {
            Some(p) if p.gate.has_limits(config.max_concurrency, config.max_queue) => {
                p.gate.clone()
            }
            _ => Gate::new(config.max_concurrency, config.max_queue),
        };
        let plugin = Plugin {
            route: c.route.clone(),
            name: c.name.clone(),
            file: c.wasm.clone(),
            hash,
            module,
            config,
            gate,
        };
        Ok((plugin, compile_time))
    }

    /// Bytes → module, timed for the log (`WasmEngine::compile` consults the
    /// disk cache).
    fn compile_module(&self, bytes: &[u8]) -> Result<(CompiledModule, Duration), String> {
        let started = Instant::now();
        let module = self.runtime.compile(bytes).map_err(|e| e.to_string())?;
        Ok((module, started.elapsed()))
    }
}

/// The configuration a plugin runs with: its sidecar, when it has one, over
/// the server's defaults, with memory capped at the engine's ceiling. Shared
/// by the server and `wasibin run`, so both run a plugin the same way.
pub(crate) fn load_config(
    sidecar: Option<&Path>,
    defaults: &PluginDefaults,
    memory_ceiling: usize,
) -> Result<PluginConfig, String> {
    let mut config = match sidecar {
        Some(path) => {
            let text = read_bounded(path, MAX_SIDECAR_BYTES)?;
            let text =
                String::from_utf8(text).map_err(|_| format!("{} is not UTF-8", path.display()))?;
            sidecar::parse(&text, path, defaults, memory_ceiling).map_err(|e| e.to_string())?
        }
        None => PluginConfig::from_defaults(defaults),
    };
    config.limits.max_memory = config.limits.max_memory.min(memory_ceiling);
    Ok(config)
}

fn log_loaded(p: &Plugin, compile_time: Option<Duration>, replaced: bool) {
    let what = if replaced { "reloaded" } else { "loaded" };
    match compile_time {
        Some(t) => tracing::info!(
            "plugin {} {what} from {} (hash {}, compiled in {:.1} ms)",
            p.route,
            p.file.display(),
            p.hash,
            t.as_secs_f64() * 1000.0
        ),
        None => tracing::info!(
            "plugin {} {what} from {} (hash {}, module unchanged)",
            p.route,
            p.file.display(),
            p.hash
        ),
    }
}

/// Reads a whole file, refusing one larger than `max` bytes.
fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let file = fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > max {
        return Err(format!("{} is larger than {max} bytes", path.display()));
    }
    Ok(bytes)
}

/// Short hex of the SHA-256 of `bytes`.
pub(crate) fn short_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(SHORT_HASH_HEX);
    for b in digest.iter().take(SHORT_HASH_HEX / 2) {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{b:02x}");
    }
    hex
}
