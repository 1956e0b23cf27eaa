//! Hot reload: a recursive watch on the plugins folder and SIGHUP both lead
//! to one debounced [`PluginFolder::rescan`], which compiles what changed off
//! the request path and swaps the route table atomically. Requests never
//! wait for this; they keep running on the snapshot they started with.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::signal::unix::Signal;
use tokio::sync::{watch, Notify};

use crate::plugins::PluginFolder;

/// Quiet time after the last file event before rescanning: a copy or a
/// compiler writing a module emits bursts of events, and one rescan per
/// burst is enough.
pub(crate) const DEBOUNCE_QUIET: Duration = Duration::from_millis(40);
/// Longest a rescan waits behind a steady stream of events, so a folder
/// that never goes quiet still reloads.
pub(crate) const DEBOUNCE_MAX: Duration = Duration::from_millis(250);
/// How often the folder is rescanned when file events cannot be watched
/// (a network mount, an exhausted inotify budget).
pub(crate) const POLL_FALLBACK: Duration = Duration::from_secs(2);

/// Watch `plugins` until shutdown. Never returns an error: a watcher that
/// cannot start degrades to polling, a failed rescan is logged once and
/// retried on the next event, and a folder that is removed, replaced or
/// created is watched anew once it is there.
pub(crate) async fn run(
    plugins: Arc<PluginFolder>,
    mut hangup: Option<Signal>,
    mut shutdown: watch::Receiver<bool>,
) {
    let dirty = Arc::new(Notify::new());
    let mut watch = FolderWatch::start(plugins.dir(), &dirty);
    let mut failing = None;
    // A change made after the initial load but before the watch began raised
    // no event; one rescan now catches it (an unchanged file costs a `stat`).
    rescan(&plugins, &mut failing).await;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            () = dirty.notified() => debounce(&dirty).await,
            Some(()) = recv_hangup(&mut hangup) => {
                tracing::info!("SIGHUP received: rescanning {}", plugins.dir().display());
            }
            () = sleep_or_never(watch.poll()) => {}
        }
        rescan(&plugins, &mut failing).await;
        if watch.refresh(plugins.dir(), &dirty) {
            // Changes between the rescan and the new watch raised no event.
            rescan(&plugins, &mut failing).await;
        }
    }
}

/// One rescan. A failure (an unreadable folder) leaves the routes as they
/// are and is logged once, not on every retry; its end is logged too.
async fn rescan(plugins: &PluginFolder, failing: &mut Option<String>) {
    match plugins.rescan().await {
        Ok(_) => {
            if failing.take().is_some() {
                tracing::info!(
                    "plugin rescan works again: {} is read",
                    plugins.dir().display()
                );
            }
        }
        Err(err) => {
            let message = format!("{err:#}");
            if failing.as_deref() != Some(message.as_str()) {
                tracing::error!(error = %message, "plugin rescan failed; the routes stay as they are, retrying on the next change");
            }
            *failing = Some(message);
        }
    }
}

/// The watch on the plugins folder, tied to the folder it was set on: a
/// folder removed and created again, or replaced by a rename, is another
/// inode, which the old watch never reports on.
struct FolderWatch {
    watcher: Option<notify::RecommendedWatcher>,
    /// Device and inode of the watched folder; `None` while it is missing.
    folder: Option<(u64, u64)>,
}

impl FolderWatch {
    fn start(dir: &Path, dirty: &Arc<Notify>) -> FolderWatch {
        let folder = identity(dir);
        FolderWatch {
            watcher: folder.and_then(|_| start_watcher(dir, Arc::clone(dirty))),
            folder,
        }
    }

    /// How often to rescan without events: only while nothing is watched.
    fn poll(&self) -> Option<Duration> {
        self.watcher.is_none().then_some(POLL_FALLBACK)
    }

    /// Watch again if the folder is another one than the watched one (or
    /// went away); true when a new watch started.
    fn refresh(&mut self, dir: &Path, dirty: &Arc<Notify>) -> bool {
        let folder = identity(dir);
        if folder == self.folder {
            return false;
        }
        *self = FolderWatch::start(dir, dirty);
        if self.folder.is_none() {
            tracing::debug!(dir = %dir.display(), "plugin folder missing: polling every {POLL_FALLBACK:?}");
        }
        self.watcher.is_some()
    }
}

fn identity(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(dir)
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| (m.dev(), m.ino()))
}

/// Wait until no event has arrived for [`DEBOUNCE_QUIET`], or at most
/// [`DEBOUNCE_MAX`] in all.
async fn debounce(dirty: &Notify) {
    let deadline = tokio::time::Instant::now() + DEBOUNCE_MAX;
    loop {
        let quiet = tokio::time::sleep(DEBOUNCE_QUIET);
        tokio::select! {
            () = quiet => return,
            () = tokio::time::sleep_until(deadline) => return,
            () = dirty.notified() => {}
        }
    }
}

async fn recv_hangup(signal: &mut Option<Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_or_never(period: Option<Duration>) {
    match period {
        Some(period) => tokio::time::sleep(period).await,
        None => std::future::pending().await,
    }
}

/// A recursive watcher whose every event marks the folder dirty; `None`
/// (with a log line) when the platform refuses.
fn start_watcher(dir: &Path, dirty: Arc<Notify>) -> Option<notify::RecommendedWatcher> {
    let handler = move |event: notify::Result<notify::Event>| match event {
        Ok(event) if event.kind.is_access() => {}
        Ok(_) => dirty.notify_one(),
        Err(err) => {
            tracing::warn!(error = %err, "plugin folder watch error; rescanning");
            dirty.notify_one();
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(watcher) => watcher,
        Err(err) => {
            tracing::warn!(error = %err, "cannot watch for file changes; polling every {POLL_FALLBACK:?}");
            return None;
        }
    };
    if let Err(err) = watcher.watch(dir, RecursiveMode::Recursive) {
        tracing::warn!(
            error = %err,
            dir = %dir.display(),
            "cannot watch the plugins folder; polling every {POLL_FALLBACK:?}"
        );
        return None;
    }
    Some(watcher)
}
