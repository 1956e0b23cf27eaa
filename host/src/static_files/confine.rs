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

use anyhow::Context;

/// The canonical root and the canonical excluded folders.
#[derive(Debug)]
pub(crate) struct Confinement {
    root: PathBuf,
    excluded: Vec<PathBuf>,
}

impl Confinement {
    /// Canonicalise `root` (it must be an existing folder) and the excluded
    /// folders (those that do not exist yet are kept as absolute paths, so a
    /// plugins folder created later is still refused).
    pub(crate) fn new(root: &Path, exclude: Vec<PathBuf>) -> anyhow::Result<Confinement> {
        let root = root
            .canonicalize()
            .with_context(|| format!("static folder {} cannot be opened", root.display()))?;
        anyhow::ensure!(
            root.is_dir(),
            "static folder {} is not a folder",
            root.display()
        );
        let excluded = exclude
            .into_iter()
            .filter_map(|p| p.canonicalize().or_else(|_| std::path::absolute(&p)).ok())
            .collect();
        Ok(Confinement { root, excluded })
    }

    /// The canonical root.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the open `file` (opened through `opened_as`) lives under the
    /// root and under no excluded folder.
    pub(crate) fn check(&self, file: &File, opened_as: &Path) -> Verdict {
        match real_path(file, opened_as) {
            Some(real) if !real.starts_with(&self.root) => Verdict::OutsideRoot,
            Some(real) if self.excluded.iter().any(|ex| real.starts_with(ex)) => Verdict::Excluded,
            Some(_) => Verdict::Inside,
            None => Verdict::OutsideRoot,
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
    fn missing_root_is_an_error() {
        let err = Confinement::new(Path::new("/no/such/folder/here"), vec![]).unwrap_err();
        assert!(format!("{err:#}").contains("/no/such/folder/here"));
    }
}
