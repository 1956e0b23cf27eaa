//! The last line of defence against symlinks: is an *opened* file really
//! under the root, and outside the folders that are never static content?
//!
//! The check looks at the open file descriptor (`/proc/self/fd/N`), not at
//! the path it was opened by, so swapping a path component for a symlink
//! between the check and the use cannot win a race. It runs only when a
//! cache entry is built; later requests compare the file's identity (device,
//! inode, size, times) with the checked one, which an outside file cannot match.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

use anyhow::Context;

/// The root as given and as it resolves, and the canonical excluded folders.
///
/// Files are opened through the root as given, so a root that is replaced
/// while serving (a folder renamed over it, or a `current` symlink a deploy
/// points at the next release) is served from its new contents; the
/// canonical root each opened file is checked against follows it.
#[derive(Debug)]
pub(crate) struct Confinement {
    /// Absolute, symlinks kept: what files are opened through.
    given: PathBuf,
    /// Where `given` last resolved to.
    canonical: RwLock<PathBuf>,
    excluded: Vec<PathBuf>,
    /// The root was missing at the last look (logged once).
    missing: AtomicBool,
}

impl Confinement {
    /// Canonicalise `root` (it must be an existing folder) and the excluded
    /// folders (those that do not exist yet are kept as absolute paths, so a
    /// plugins folder created later is still refused).
    pub(crate) fn new(root: &Path, exclude: Vec<PathBuf>) -> anyhow::Result<Confinement> {
        let canonical = root
            .canonicalize()
            .with_context(|| format!("static folder {} cannot be opened", root.display()))?;
        anyhow::ensure!(
            canonical.is_dir(),
            "static folder {} is not a folder",
            root.display()
        );
        let given = std::path::absolute(root)
            .with_context(|| format!("static folder {} cannot be opened", root.display()))?;
        let excluded = exclude
            .into_iter()
            .filter_map(|p| p.canonicalize().or_else(|_| std::path::absolute(&p)).ok())
            .collect();
        Ok(Confinement {
            given,
            canonical: RwLock::new(canonical),
            excluded,
            missing: AtomicBool::new(false),
        })
    }

    /// The root files are opened through.
    pub(crate) fn root(&self) -> &Path {
        &self.given
    }

    /// Whether the open `file` (opened through `opened_as`) lives under the
    /// root and under no excluded folder.
    pub(crate) fn check(&self, file: &File, opened_as: &Path) -> Verdict {
        let Some(real) = real_path(file, opened_as) else {
            return Verdict::OutsideRoot;
        };
        let inside = |root: &Path| real.starts_with(root);
        let mut root_ok = inside(
            &self
                .canonical
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if !root_ok {
            // The root may have been re-pointed since it was resolved.
            root_ok = self.resolve_again().is_some_and(|root| inside(&root));
        }
        if !root_ok {
            Verdict::OutsideRoot
        } else if self.excluded.iter().any(|ex| real.starts_with(ex)) {
            Verdict::Excluded
        } else {
            Verdict::Inside
        }
    }

    /// Resolve the root again; the new canonical root when it moved.
    fn resolve_again(&self) -> Option<PathBuf> {
        let now = self.given.canonicalize().ok()?;
        let mut canonical = self
            .canonical
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if *canonical == now {
            return None;
        }
        tracing::info!(
            "static folder {} now leads to {} (was {})",
            self.given.display(),
            now.display(),
            canonical.display()
        );
        *canonical = now.clone();
        Some(now)
    }

    /// After a look-up (`found` or not): say once that the whole root is
    /// missing (every static path answers 404 until it is back), and once
    /// that it is back. A found path costs nothing while all is well.
    pub(crate) fn note_lookup(&self, found: bool) {
        if found && !self.missing.load(Ordering::Relaxed) {
            return;
        }
        let missing = !self.given.is_dir();
        if self.missing.swap(missing, Ordering::Relaxed) == missing {
            return;
        }
        if missing {
            tracing::warn!(
                "static folder {} is gone: static paths answer 404 until it is back",
                self.given.display()
            );
        } else {
            tracing::info!("static folder {} is back", self.given.display());
        }
    }
}

/// Where an opened file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Under the root and servable.
    Inside,
    /// Under an excluded folder (the plugins): never static content.
    Excluded,
    /// Outside the root (a symlink leading out), or nowhere we can name.
    OutsideRoot,
}

/// Where the open file really is. `/proc/self/fd` names the descriptor's own
/// file; where `/proc` is missing, canonicalise the path and accept it only
/// if it still names the very inode we hold.
fn real_path(file: &File, opened_as: &Path) -> Option<PathBuf> {
    if let Ok(real) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
        return Some(real);
    }
    let held = file.metadata().ok()?;
    let canonical = opened_as.canonicalize().ok()?;
    let named = std::fs::metadata(&canonical).ok()?;
    (named.dev() == held.dev() && named.ino() == held.ino()).then_some(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_out_of_root_and_excluded_folders_refused() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret.txt");
        std::fs::write(&secret, "secret").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("ok.txt"), "ok").unwrap();
        std::fs::create_dir(root.path().join("plugins")).unwrap();
        std::fs::write(root.path().join("plugins/x.wasm"), "\0asm").unwrap();
        std::os::unix::fs::symlink(&secret, root.path().join("leak.txt")).unwrap();
        std::os::unix::fs::symlink("ok.txt", root.path().join("alias.txt")).unwrap();

        let c = Confinement::new(root.path(), vec![root.path().join("plugins")]).unwrap();
        let check = |name: &str| {
            let path = root.path().join(name);
            c.check(&File::open(&path).unwrap(), &path)
        };
        assert_eq!(check("ok.txt"), Verdict::Inside);
        assert_eq!(check("alias.txt"), Verdict::Inside);
        assert_eq!(check("leak.txt"), Verdict::OutsideRoot);
        assert_eq!(check("plugins/x.wasm"), Verdict::Excluded);
        assert_eq!(check("plugins"), Verdict::Excluded);
        assert_eq!(check(""), Verdict::Inside);
    }

    #[test]
    fn a_root_symlink_pointed_elsewhere_is_followed() {
        let base = tempfile::tempdir().unwrap();
        for release in ["v1", "v2"] {
            std::fs::create_dir(base.path().join(release)).unwrap();
            std::fs::write(base.path().join(release).join("a.txt"), release).unwrap();
        }
        std::os::unix::fs::symlink(
            base.path().join("v2/a.txt"),
            base.path().join("v1/leak.txt"),
        )
        .unwrap();
        let current = base.path().join("current");
        std::os::unix::fs::symlink("v1", &current).unwrap();
        let c = Confinement::new(&current, vec![]).unwrap();
        let check = |name: &str| {
            let path = c.root().join(name);
            (
                c.check(&File::open(&path).unwrap(), &path),
                std::fs::read_to_string(&path).unwrap(),
            )
        };
        assert_eq!(check("a.txt"), (Verdict::Inside, "v1".to_owned()));
        assert_eq!(check("leak.txt").0, Verdict::OutsideRoot);

        std::os::unix::fs::symlink("v2", base.path().join("next")).unwrap();
        std::fs::rename(base.path().join("next"), &current).unwrap();
        assert_eq!(check("a.txt"), (Verdict::Inside, "v2".to_owned()));
        // The old release is outside the root now.
        let old = base.path().join("v1/a.txt");
        assert_eq!(
            c.check(&File::open(&old).unwrap(), &old),
            Verdict::OutsideRoot
        );
    }

    #[test]
    fn missing_root_is_an_error() {
        let err = Confinement::new(Path::new("/no/such/folder/here"), vec![]).unwrap_err();
        assert!(format!("{err:#}").contains("/no/such/folder/here"));
    }
}
