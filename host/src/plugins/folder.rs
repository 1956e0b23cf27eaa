//! The live plugin folder: loads `plugins/`, keeps the route table as an
//! atomically swapped snapshot, and rescans on demand.
//!
//! Start-up is simply the first rescan. The watcher and the SIGHUP handler
//! (`reload.rs`) only call [`PluginFolder::rescan`], debounced; rescans are
//! serialised, and an unchanged file costs one `stat`. The disk cache of
//! compiled modules sits behind `WasmEngine::compile`, the one place bytes
//! become a module.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use arc_swap::ArcSwap;

use super::scan::{self, Fingerprint};
use super::sidecar::PluginDefaults;
use super::{Plugin, RouteTable};
use crate::runtime::WasmEngine;
use crate::telemetry::{LoadResult, Telemetry};

/// The route table requests read: swapped whole by a rescan, so a request
/// that loaded it keeps one consistent snapshot.
pub(crate) type LiveRoutes = Arc<ArcSwap<RouteTable>>;

/// Owns the plugin folder, the engine handle and the current route table.
#[derive(Debug, Clone)]
pub(crate) struct PluginFolder {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    engine: Arc<WasmEngine>,
    defaults: PluginDefaults,
    table: LiveRoutes,
    /// Serialises rescans and remembers what each route was loaded from.
    state: Mutex<ScanState>,
    /// Where loads, refusals and removals are counted.
    telemetry: Arc<Telemetry>,
}

#[derive(Debug, Default)]
struct ScanState {
    /// Route → the fingerprint its serving version was loaded from.
    loaded: HashMap<String, Fingerprint>,
    /// File → its last refusal, so a failure is logged once and retried
    /// only when the file changes.
    refused: HashMap<PathBuf, Refusal>,
    /// Files already reported as unable to make a route.
    skipped: HashSet<PathBuf>,
    /// The folder itself was missing at the last rescan.
    gone: bool,
}

/// A file that could not serve, as the status page shows it until the
/// file changes or goes.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    /// The fingerprint of the refused file.
    fingerprint: Fingerprint,
    /// The route it would serve.
    pub(crate) route: String,
    /// Why, in words.
    pub(crate) reason: String,
    /// When it was refused.
    pub(crate) at: SystemTime,
}

/// What one rescan changed.
#[derive(Debug, Default)]
pub(crate) struct RescanReport {
    /// Routes added or replaced by a new version.
    pub(crate) loaded: Vec<LoadedPlugin>,
    /// Routes whose file is gone.
    pub(crate) removed: Vec<String>,
    /// Files refused by this rescan (each logged once).
    pub(crate) refused: Vec<RefusedFile>,
    /// Routes left exactly as they were.
    pub(crate) unchanged: usize,
}

impl RescanReport {
    /// Whether the route table changed.
    pub(crate) fn changed(&self) -> bool {
        !self.loaded.is_empty() || !self.removed.is_empty()
    }
}

/// A route that now serves a new version; its log line is written from it.
#[derive(Debug, Clone)]
pub(crate) struct LoadedPlugin {
    /// The mount.
    route: String,
    /// The `.wasm` file or script it was loaded from.
    file: PathBuf,
    /// Short content hash of the new version.
    hash: String,
    /// Which contract it speaks, and for a script how it runs.
    kind: String,
    /// Compile time; `None` when the module was unchanged (only the file's
    /// timestamp or its sidecar changed).
    pub(crate) compile_time: Option<Duration>,
    /// Whether an older version was serving the route.
    pub(crate) replaced: bool,
}

impl LoadedPlugin {
    fn log(&self) {
        let what = if self.replaced { "reloaded" } else { "loaded" };
        let (route, file, hash, kind) = (&self.route, self.file.display(), &self.hash, &self.kind);
        match self.compile_time {
            Some(t) => tracing::info!(
                "plugin {route} {what} from {file} (hash {hash}, compiled in {:.1} ms, {kind})",
                t.as_secs_f64() * 1000.0
            ),
            None => tracing::info!(
                "plugin {route} {what} from {file} (hash {hash}, module unchanged, {kind})"
            ),
        }
    }
}

/// A file that cannot serve (yet); any old version keeps serving. Its log
/// line is written from it.
#[derive(Debug, Clone)]
pub(crate) struct RefusedFile {
    /// The `.wasm` file.
    file: PathBuf,
    /// The route it would serve.
    route: String,
    /// The hash of the version that keeps serving the route, if any.
    serving: Option<String>,
    /// Why, in words.
    pub(crate) reason: String,
}

impl RefusedFile {
    fn log(&self) {
        let (file, route, reason) = (self.file.display(), &self.route, &self.reason);
        match &self.serving {
            Some(hash) => {
                tracing::warn!("refused {file}: {reason}; {route} keeps serving version {hash}")
            }
            None => tracing::warn!("refused {file}: {reason}; {route} is not mounted"),
        }
    }
}

impl PluginFolder {
    /// The folder `dir`, with no plugin mounted yet: the first
    /// [`PluginFolder::rescan`] loads them. A missing folder means no
    /// plugins yet; a path that is not a folder is an error.
    pub(crate) fn open(
        dir: &Path,
        engine: Arc<WasmEngine>,
        defaults: PluginDefaults,
        telemetry: Arc<Telemetry>,
    ) -> anyhow::Result<PluginFolder> {
        if dir.exists() && !dir.is_dir() {
            anyhow::bail!("{} is not a folder", dir.display());
        }
        if !dir.exists() {
            tracing::warn!(
                "plugin folder {} does not exist: no plugin routes",
                dir.display()
            );
        }
        Ok(PluginFolder {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                engine,
                defaults,
                table: Arc::new(ArcSwap::from_pointee(RouteTable::default())),
                state: Mutex::new(ScanState::default()),
                telemetry,
            }),
        })
    }

    /// The current route table. A request keeps this snapshot for its whole
    /// life, so a reload never changes the plugin under it.
    pub(crate) fn table(&self) -> Arc<RouteTable> {
        self.inner.table.load_full()
    }

    /// Rescans the folder off the request path (on a blocking thread):
    /// unchanged files (same size, times and inode; then same hash) keep
    /// their compiled module; new or changed ones are compiled; a file that
    /// fails to load keeps the old version serving and is logged once. The
    /// table is swapped atomically if anything changed.
    pub(crate) async fn rescan(&self) -> anyhow::Result<RescanReport> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.rescan())
            .await
            .context("the rescan task failed")?
    }

    /// [`PluginFolder::rescan`] on the calling thread, for tests without a runtime.
    #[cfg(test)]
    pub(crate) fn rescan_here(&self) -> anyhow::Result<RescanReport> {
        self.inner.rescan()
    }

    /// The live route table itself, for the dispatcher: it loads the
    /// current snapshot per request.
    pub(crate) fn live_routes(&self) -> LiveRoutes {
        Arc::clone(&self.inner.table)
    }

    /// The folder being served.
    pub(crate) fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The files refused and not changed since, by file, for the status page.
    pub(crate) fn refusals(&self) -> Vec<(PathBuf, Refusal)> {
        let state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut refusals: Vec<_> = state
            .refused
            .iter()
            .map(|(file, r)| (file.clone(), r.clone()))
            .collect();
        refusals.sort_by(|a, b| a.0.cmp(&b.0));
        refusals
    }
}

impl Inner {
    fn rescan(&self) -> anyhow::Result<RescanReport> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // A folder that disappears (an unmounted volume, a deploy that swaps
        // it, a slip of `rm -r`) is a fault, not an order to unmount every
        // plugin: what is loaded keeps serving until the folder is back.
        // Removing a plugin's file removes its route.
        if !self.dir.try_exists().unwrap_or(true) {
            let serving = self.table.load().routes().count();
            if !state.gone && serving > 0 {
                tracing::warn!(
                    "plugin folder {} is gone: its {serving} route(s) keep serving until it is back",
                    self.dir.display()
                );
            }
            state.gone = true;
            return Ok(RescanReport::default());
        }
        if std::mem::take(&mut state.gone) {
            tracing::info!(
                "plugin folder {} is back: rescanning it",
                self.dir.display()
            );
        }
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
            let route = &c.file.route;
            let wasm = &c.file.file;
            let old = current.get(route);
            if old.is_some() && state.loaded.get(route) == Some(&c.fingerprint) {
                next.extend(old.cloned());
                report.unchanged += 1;
                continue;
            }
            if state.refused.get(wasm).map(|r| &r.fingerprint) == Some(&c.fingerprint) {
                next.extend(old.cloned());
                continue;
            }
            match Plugin::load(&c.file, &self.engine, &self.defaults, old.map(|p| &**p)) {
                Ok((plugin, compile_time)) => {
                    let loaded = LoadedPlugin {
                        route: plugin.route.to_string(),
                        file: plugin.file.clone(),
                        hash: plugin.hash.clone(),
                        kind: plugin.kind_label(),
                        compile_time,
                        replaced: old.is_some(),
                    };
                    loaded.log();
                    self.telemetry
                        .metrics
                        .plugin_load(LoadResult::Loaded, compile_time);
                    report.loaded.push(loaded);
                    state.loaded.insert(route.clone(), c.fingerprint.clone());
                    state.refused.remove(wasm);
                    next.push(Arc::new(plugin));
                }
                Err(reason) => {
                    let refused = RefusedFile {
                        file: wasm.clone(),
                        route: route.clone(),
                        serving: old.map(|p| p.hash.clone()),
                        reason,
                    };
                    refused.log();
                    self.telemetry
                        .metrics
                        .plugin_load(LoadResult::Refused, None);
                    state.refused.insert(
                        wasm.clone(),
                        Refusal {
                            fingerprint: c.fingerprint.clone(),
                            route: route.clone(),
                            reason: refused.reason.clone(),
                            at: SystemTime::now(),
                        },
                    );
                    report.refused.push(refused);
                    next.extend(old.cloned());
                }
            }
        }

        let present: HashSet<&str> = found
            .candidates
            .iter()
            .map(|c| c.file.route.as_str())
            .collect();
        for p in current.routes() {
            if !present.contains(&*p.route) {
                tracing::info!("plugin {} removed ({} is gone)", p.route, p.file.display());
                self.telemetry
                    .metrics
                    .plugin_load(LoadResult::Removed, None);
                report.removed.push(p.route.to_string());
            }
        }
        state
            .loaded
            .retain(|route, _| present.contains(route.as_str()));
        let files: HashSet<&Path> = found
            .candidates
            .iter()
            .map(|c| c.file.file.as_path())
            .collect();
        state
            .refused
            .retain(|file, _| files.contains(file.as_path()));

        if report.changed() {
            self.table.store(Arc::new(RouteTable::new(next)));
        }
        Ok(report)
    }
}
