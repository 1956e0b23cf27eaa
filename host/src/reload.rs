//! Hot reload: a recursive watch on the plugins folder (or a poll of it)
//! and SIGHUP all lead to one debounced [`PluginFolder::rescan`], which
//! compiles what changed off the request path and swaps the route table
//! atomically. Requests never wait for this; they keep running on the
//! snapshot they started with.
//!
//! Any event in the folder, hidden names included, marks it dirty: a
//! Kubernetes ConfigMap update writes a hidden timestamped folder and
//! renames the hidden `..data` symlink to it, while the `NAME.wasm ->
//! ..data/NAME.wasm` links that make the routes never change themselves.
//! The rescan follows them to the new files and finds them changed by their
//! [`FileStamp`](crate::file_stamp::FileStamp).

use std::fmt;
use std::path::Path;
use std::str::FromStr;
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
/// How often the folder is rescanned by `--watch poll` without a period,
/// and when file events cannot be watched (an exhausted inotify budget, a
/// folder missing at start). A rescan of unchanged files costs one `stat`
/// per file.
pub(crate) const DEFAULT_POLL: Duration = Duration::from_secs(2);
/// Shortest polling period accepted: below it the rescans' `stat`s would
/// be most of what the process does.
const MIN_POLL: Duration = Duration::from_millis(100);
/// Longest polling period accepted: past a day it is a typo, not a choice.
const MAX_POLL: Duration = Duration::from_secs(86_400);

/// How changes to the plugins folder are noticed (`--watch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum WatchMode {
    /// File events (inotify on Linux), falling back to polling every
    /// [`DEFAULT_POLL`] when the folder cannot be watched.
    #[default]
    Events,
    /// A rescan every period: for network volumes (NFS, most ReadWriteMany
    /// volumes), which deliver no events for changes made on other machines.
    Poll(Duration),
}

impl FromStr for WatchMode {
    type Err = String;

    /// `inotify`, `poll` (every [`DEFAULT_POLL`]) or `poll=SECS`.
    fn from_str(s: &str) -> Result<WatchMode, String> {
        let expected = "expected 'inotify', 'poll' or 'poll=SECS'";
        match s.split_once('=') {
            None if s == "inotify" => Ok(WatchMode::Events),
            None if s == "poll" => Ok(WatchMode::Poll(DEFAULT_POLL)),
            Some(("poll", secs)) => {
                let period = secs
                    .parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .filter(|p| (MIN_POLL..=MAX_POLL).contains(p))
                    .ok_or_else(|| {
                        format!(
                            "poll period {secs:?}: expected seconds, from {MIN_POLL:?} to a day"
                        )
                    })?;
                Ok(WatchMode::Poll(period))
            }
            _ => Err(expected.to_owned()),
        }
    }
}

impl fmt::Display for WatchMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchMode::Events => f.write_str("inotify"),
            WatchMode::Poll(period) => write!(f, "poll={}", period.as_secs_f64()),
        }
    }
}

/// Watch `plugins` until shutdown. Never returns an error: a watcher that
/// cannot start degrades to polling, a failed rescan is logged once and
/// retried on the next event, and a folder that is removed, replaced or
/// created is watched anew once it is there.
pub(crate) async fn run(
    plugins: Arc<PluginFolder>,
    mode: WatchMode,
    mut hangup: Option<Signal>,
    mut shutdown: watch::Receiver<bool>,
) {
    let dirty = Arc::new(Notify::new());
    if let WatchMode::Poll(period) = mode {
        tracing::info!(
            "watching {} by polling every {period:?}",
            plugins.dir().display()
        );
    }
    let mut watch = FolderWatch::start(plugins.dir(), &dirty, mode, true);
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
    mode: WatchMode,
}

impl FolderWatch {
    /// The watch `mode` asks for on `dir`; `announce` says in the log when
    /// events cannot be watched and polling stands in.
    fn start(dir: &Path, dirty: &Arc<Notify>, mode: WatchMode, announce: bool) -> FolderWatch {
        let folder = identity(dir);
        let watcher = match mode {
            WatchMode::Poll(_) => None,
            WatchMode::Events => {
                let watched = match folder {
                    Some(_) => start_watcher(dir, Arc::clone(dirty)).map_err(|e| e.to_string()),
                    None => Err("the folder is missing".to_owned()),
                };
                match watched {
                    Ok(watcher) => Some(watcher),
                    Err(err) if announce => {
                        tracing::warn!(
                            error = %err,
                            "cannot watch the plugins folder {} for changes; polling it every {DEFAULT_POLL:?} instead",
                            dir.display()
                        );
                        None
                    }
                    Err(err) => {
                        tracing::debug!(error = %err, dir = %dir.display(), "plugin folder not watched: polling every {DEFAULT_POLL:?}");
                        None
                    }
                }
            }
        };
        FolderWatch {
            watcher,
            folder,
            mode,
        }
    }

    /// How often to rescan without events: always when polling is asked
    /// for, else only while nothing is watched.
    fn poll(&self) -> Option<Duration> {
        match self.mode {
            WatchMode::Poll(period) => Some(period),
            WatchMode::Events => self.watcher.is_none().then_some(DEFAULT_POLL),
        }
    }

    /// Watch again if the folder is another one than the watched one (or
    /// went away); true when a new watch started.
    fn refresh(&mut self, dir: &Path, dirty: &Arc<Notify>) -> bool {
        let folder = identity(dir);
        if folder == self.folder {
            return false;
        }
        *self = FolderWatch::start(dir, dirty, self.mode, false);
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

/// A recursive watcher whose every event marks the folder dirty, or why the
/// platform refuses one.
fn start_watcher(dir: &Path, dirty: Arc<Notify>) -> notify::Result<notify::RecommendedWatcher> {
    let handler = move |event: notify::Result<notify::Event>| match event {
        Ok(event) if event.kind.is_access() => {}
        Ok(_) => dirty.notify_one(),
        Err(err) => {
            tracing::warn!(error = %err, "plugin folder watch error; rescanning");
            dirty.notify_one();
        }
    };
    let mut watcher = notify::recommended_watcher(handler)?;
    watcher.watch(dir, RecursiveMode::Recursive)?;
    Ok(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_modes_parse_and_print_back() {
        assert_eq!("inotify".parse(), Ok(WatchMode::Events));
        assert_eq!("poll".parse(), Ok(WatchMode::Poll(DEFAULT_POLL)));
        assert_eq!(
            "poll=0.5".parse(),
            Ok(WatchMode::Poll(Duration::from_millis(500)))
        );
        assert_eq!(
            "poll=30".parse::<WatchMode>().map(|m| m.to_string()),
            Ok("poll=30".to_owned())
        );
        assert_eq!(WatchMode::default().to_string(), "inotify");
        for bad in [
            "",
            "poll=",
            "poll=0",
            "poll=0.01",
            "poll=-1",
            "poll=NaN",
            "poll=inf",
            "poll=1e10",
            "fanotify",
            "inotify=1",
        ] {
            assert!(bad.parse::<WatchMode>().is_err(), "{bad:?}");
        }
    }
}
