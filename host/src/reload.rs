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
/// cannot start degrades to polling, and a failed rescan is logged and
/// retried on the next event.
pub(crate) async fn run(
    plugins: Arc<PluginFolder>,
    mut hangup: Option<Signal>,
    mut shutdown: watch::Receiver<bool>,
) {
    let dirty = Arc::new(Notify::new());
    let watcher = start_watcher(plugins.dir(), Arc::clone(&dirty));
    // A change made after the initial load but before the watch began raised
    // no event; one rescan now catches it (an unchanged file costs a `stat`).
    rescan(&plugins).await;
    let poll = if watcher.is_some() {
        None
    } else {
        Some(POLL_FALLBACK)
    };
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            () = dirty.notified() => debounce(&dirty).await,
            Some(()) = recv_hangup(&mut hangup) => {
                tracing::info!("SIGHUP received: rescanning {}", plugins.dir().display());
            }
            () = sleep_or_never(poll) => {}
        }
        rescan(&plugins).await;
    }
}

/// One rescan; a failure is logged and retried on the next change.
async fn rescan(plugins: &PluginFolder) {
    if let Err(err) = plugins.rescan().await {
        tracing::error!(error = %format!("{err:#}"), "plugin rescan failed; retrying on the next change");
    }
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
