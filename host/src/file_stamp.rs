//! What identifies one version of a file without reading it, for the static
//! cache's revalidation and the plugin folder's rescans alike: if any field
//! differs, the file was replaced (another inode, a rename over it) or
//! rewritten. `ctime` catches a rewrite that restores `mtime`.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The identity of one version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    /// The stamp recorded in `meta`.
    pub(crate) fn of(meta: &Metadata) -> FileStamp {
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The stamp of whatever `path` names now (following symlinks).
    pub(crate) fn at(path: &Path) -> Option<FileStamp> {
        std::fs::metadata(path).ok().map(|m| FileStamp::of(&m))
    }

    /// The file's size in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The file's inode number (part of a static file's ETag).
    pub(crate) fn ino(&self) -> u64 {
        self.ino
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn any_rewrite_changes_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.wasm");
        fs::write(&p, b"one").unwrap();
        let before = FileStamp::at(&p).unwrap();
        assert_eq!(before.len(), 3);
        let tmp = dir.path().join(".a.tmp");
        fs::write(&tmp, b"two").unwrap();
        fs::rename(&tmp, &p).unwrap();
        assert_ne!(before, FileStamp::of(&fs::metadata(&p).unwrap()));
        assert_eq!(FileStamp::at(&dir.path().join("gone")), None);
    }
}
