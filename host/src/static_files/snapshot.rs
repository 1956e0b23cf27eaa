//! What the cache holds about one request path: the file it resolved to,
//! its identity, validators and (for small files) its bytes, plus the
//! precompressed siblings that existed next to it.
//!
//! A snapshot is built once (`load`, off the async workers) and then only
//! revalidated: each request compares the file's current identity with the
//! recorded one, so an edited file is served as edited on the next request.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;

use super::conditional::Validators;
use super::confine::{Confinement, Verdict};
use super::encoding::Coding;
use super::resolve::{PathError, UrlPath};
use crate::file_stamp::FileStamp;

/// Files up to this size are kept in memory; larger ones are sent from disk
/// (sendfile) on every request and never read whole.
pub(crate) const SMALL_FILE: u64 = 64 * 1024;

/// The bytes of a representation, ready to become a response body.
#[derive(Debug)]
pub(crate) enum Source {
    /// A small file held in memory (cloning is a reference count).
    Memory(Bytes),
    /// A large file, freshly opened and checked.
    File(File),
}

/// One file that may be sent: the original or a precompressed sibling.
#[derive(Debug)]
pub(crate) struct Representation {
    /// The path the request names (not the canonical one): revalidating it
    /// also notices a symlink inside the root that was pointed elsewhere.
    fs_path: PathBuf,
    identity: FileStamp,
    /// ETag and Last-Modified of this file.
    pub(crate) validators: Validators,
    memory: Option<Bytes>,
}

impl Representation {
    /// Record an opened, confinement-checked regular file, reading it into
    /// memory when it is small and did not change while being read.
    fn new(fs_path: PathBuf, file: &File, meta: &Metadata) -> Representation {
        let identity = FileStamp::of(meta);
        let modified = meta.modified().unwrap_or(UNIX_EPOCH);
        let memory = if identity.len() <= SMALL_FILE {
            read_small(file, identity)
        } else {
            None
        };
        Representation {
            validators: Validators::new(identity.ino(), identity.len(), modified),
            fs_path,
            identity,
            memory,
        }
    }

    /// The payload length.
    pub(crate) fn len(&self) -> u64 {
        self.identity.len()
    }

    /// The bytes to send, if the file is still the recorded version; `None`
    /// means the snapshot is stale and must be rebuilt.
    ///
    /// The `stat` (or `open` + `fstat`) runs directly on the tokio worker: it
    /// hits the kernel's dentry and inode caches and costs well under a
    /// microsecond, far less than a `spawn_blocking` hop to a pool thread.
    pub(crate) fn current(&self) -> Option<Source> {
        match &self.memory {
            Some(bytes) => (FileStamp::at(&self.fs_path)? == self.identity)
                .then(|| Source::Memory(bytes.clone())),
            None => {
                let file = open(&self.fs_path).ok()?;
                let meta = file.metadata().ok()?;
                (FileStamp::of(&meta) == self.identity).then_some(Source::File(file))
            }
        }
    }

    fn memory_len(&self) -> usize {
        self.memory.as_ref().map_or(0, Bytes::len)
    }
}

/// Read a small file whole; `None` when it changed while being read (it is
/// then sent from disk, and the next revalidation rebuilds the snapshot).
fn read_small(file: &File, identity: FileStamp) -> Option<Bytes> {
    let len = usize::try_from(identity.len()).ok()?;
    let mut buf = Vec::with_capacity(len);
    file.take(identity.len() + 1).read_to_end(&mut buf).ok()?;
    let unchanged =
        buf.len() == len && file.metadata().ok().map(|m| FileStamp::of(&m)) == Some(identity);
    unchanged.then(|| Bytes::from(buf))
}

/// Everything needed to answer GET/HEAD for one request path.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The file itself.
    pub(crate) original: Representation,
    /// `Content-Type` from the original's extension (`text/*` with charset).
    pub(crate) content_type: String,
    br: Option<Representation>,
    gzip: Option<Representation>,
    /// The containing folder's identity when the siblings were looked for:
    /// a sibling created, deleted or renamed changes the folder's times.
    folder: Option<(PathBuf, FileStamp)>,
}

impl Snapshot {
    /// Whether precompressed siblings exist (responses then carry `Vary`).
    pub(crate) fn has_siblings(&self) -> bool {
        self.br.is_some() || self.gzip.is_some()
    }

    /// Whether a sibling with this coding exists.
    pub(crate) fn has(&self, coding: Coding) -> bool {
        self.sibling(coding).is_some()
    }

    /// The sibling for `coding`, if it existed when the snapshot was taken.
    pub(crate) fn sibling(&self, coding: Coding) -> Option<&Representation> {
        match coding {
            Coding::Br => self.br.as_ref(),
            Coding::Gzip => self.gzip.as_ref(),
        }
    }

    /// Whether the set of siblings can still be trusted: one `stat` of the
    /// folder (on the worker, like [`Representation::current`]).
    pub(crate) fn folder_unchanged(&self) -> bool {
        match &self.folder {
            Some((path, identity)) => FileStamp::at(path) == Some(*identity),
            None => true,
        }
    }

    /// Approximate memory held, for the cache's byte bound.
    pub(crate) fn cost(&self) -> usize {
        let reps = [Some(&self.original), self.br.as_ref(), self.gzip.as_ref()];
        reps.into_iter()
            .flatten()
            .map(|r| r.memory_len() + r.fs_path.as_os_str().len() + 160)
            .sum()
    }
}

/// The outcome of resolving a request path from scratch.
#[derive(Debug)]
pub(crate) enum Resolution {
    /// A servable file, shared with the cache.
    Found(Arc<Snapshot>),
    /// A folder named without its trailing slash: redirect there.
    Folder(UrlPath),
    /// Nothing servable (missing, not a regular file, outside the root,
    /// excluded, or a folder without `index.html`).
    NotFound,
    /// The path itself is malformed or hostile: 400.
    BadPath(PathError),
}

/// Resolve `raw` (the still-encoded request path) under the root: decode,
/// open, check confinement on the open descriptor, descend into `index.html`
/// for folders, read small files and look for `.br`/`.gz` siblings.
/// Blocking file-system work: callers run it off the async workers.
pub(crate) fn load(confinement: &Confinement, raw: &str) -> Resolution {
    let url = match UrlPath::parse(raw) {
        Ok(url) => url,
        Err(e) => return Resolution::BadPath(e),
    };
    let mut path = url.under(confinement.root());
    let opened = open_confined(confinement, &path);
    confinement.note_lookup(opened.is_some());
    let Some((mut file, mut meta)) = opened else {
        return Resolution::NotFound;
    };
    if meta.is_dir() {
        if !url.trailing_slash() {
            return Resolution::Folder(url);
        }
        path.push("index.html");
        let Some(index) = open_confined(confinement, &path) else {
            return Resolution::NotFound;
        };
        (file, meta) = index;
    } else if url.trailing_slash() {
        return Resolution::NotFound;
    }
    if !meta.is_file() {
        return Resolution::NotFound;
    }
    // The folder is looked at before the siblings, so a sibling that appears
    // after this point changes the recorded folder identity.
    let folder = path
        .parent()
        .and_then(|dir| Some((dir.to_path_buf(), FileStamp::at(dir)?)));
    let content_type = content_type(&path);
    let br = sibling(confinement, &path, Coding::Br);
    let gzip = sibling(confinement, &path, Coding::Gzip);
    let original = Representation::new(path, &file, &meta);
    Resolution::Found(Arc::new(Snapshot {
        original,
        content_type,
        br,
        gzip,
        folder,
    }))
}

/// Whether `raw` names an existing file or folder under the root that may
/// be served (for the start-up report of plugins shadowing static files).
pub(crate) fn exists(confinement: &Confinement, raw: &str) -> bool {
    UrlPath::parse(raw)
        .ok()
        .and_then(|url| open_confined(confinement, &url.under(confinement.root())))
        .is_some()
}

fn sibling(confinement: &Confinement, path: &Path, coding: Coding) -> Option<Representation> {
    let mut name = path.as_os_str().to_owned();
    name.push(coding.suffix());
    let path = PathBuf::from(name);
    let (file, meta) = open_confined(confinement, &path)?;
    meta.is_file()
        .then(|| Representation::new(path, &file, &meta))
}

/// Open `path` and check where the descriptor really leads.
fn open_confined(confinement: &Confinement, path: &Path) -> Option<(File, Metadata)> {
    let file = open(path).ok()?;
    match confinement.check(&file, path) {
        Verdict::Inside => {}
        Verdict::Excluded => return None,
        Verdict::OutsideRoot => {
            tracing::warn!(path = %path.display(), "not served: it leads outside the static folder");
            return None;
        }
    }
    let meta = file.metadata().ok()?;
    Some((file, meta))
}

/// Open read-only and non-blocking, so a FIFO planted in the root cannot stall
/// a worker in `open`; regular files ignore the flag.
fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// The `Content-Type` for a file name: `mime_guess` by extension, UTF-8
/// declared for text (our own pages are UTF-8; browsers otherwise guess).
fn content_type(path: &Path) -> String {
    match mime_guess::from_path(path).first_raw() {
        Some(mime) if mime.starts_with("text/") || mime == "application/javascript" => {
            format!("{mime}; charset=utf-8")
        }
        Some(mime) => mime.to_owned(),
        None => "application/octet-stream".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> (tempfile::TempDir, Confinement) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("index.html"), "<h1>hi</h1>").unwrap();
        std::fs::create_dir(root.join("docs")).unwrap();
        std::fs::write(root.join("docs/index.html"), "docs").unwrap();
        std::fs::create_dir(root.join("empty")).unwrap();
        std::fs::write(root.join("app.js"), "let x = 1;").unwrap();
        std::fs::write(root.join("app.js.gz"), "gz").unwrap();
        std::fs::write(root.join("big.bin"), vec![7u8; SMALL_FILE as usize + 1]).unwrap();
        let confinement = Confinement::new(root, vec![]).unwrap();
        (dir, confinement)
    }

    fn found(c: &Confinement, raw: &str) -> Arc<Snapshot> {
        match load(c, raw) {
            Resolution::Found(e) => e,
            other => panic!("{raw}: {other:?}"),
        }
    }

    #[test]
    fn resolves_files_and_index_pages() {
        let (_dir, c) = site();
        let e = found(&c, "/");
        assert_eq!(e.content_type, "text/html; charset=utf-8");
        assert!(matches!(e.original.current(), Some(Source::Memory(b)) if b == "<h1>hi</h1>"));
        assert!(!e.has_siblings());
        assert!(e.folder_unchanged());
        let e = found(&c, "/docs/");
        assert!(matches!(e.original.current(), Some(Source::Memory(b)) if b == "docs"));
        assert!(matches!(load(&c, "/docs"), Resolution::Folder(_)));
        assert!(matches!(load(&c, "/empty/"), Resolution::NotFound));
        assert!(matches!(load(&c, "/index.html/"), Resolution::NotFound));
        assert!(matches!(load(&c, "/nope"), Resolution::NotFound));
        assert!(matches!(load(&c, "/%2e%2e/x"), Resolution::BadPath(_)));
    }

    #[test]
    fn siblings_types_and_large_files() {
        let (dir, c) = site();
        let e = found(&c, "/app.js");
        assert_eq!(e.content_type, "text/javascript; charset=utf-8");
        assert!(e.has(Coding::Gzip) && !e.has(Coding::Br));
        let e = found(&c, "/big.bin");
        assert_eq!(e.content_type, "application/octet-stream");
        assert!(matches!(e.original.current(), Some(Source::File(_))));
        assert_eq!(e.original.len(), SMALL_FILE + 1);
        std::fs::write(dir.path().join("big.bin"), "changed").unwrap();
        assert!(e.original.current().is_none());
    }

    #[test]
    fn edits_and_new_siblings_make_snapshots_stale() {
        let (dir, c) = site();
        let e = found(&c, "/index.html");
        std::fs::write(dir.path().join("index.html"), "<h1>new, longer</h1>").unwrap();
        assert!(e.original.current().is_none());
        let e = found(&c, "/index.html");
        assert!(e.folder_unchanged());
        std::fs::write(dir.path().join("index.html.br"), "br").unwrap();
        assert!(!e.folder_unchanged());
        assert!(found(&c, "/index.html").has(Coding::Br));
    }

    #[test]
    fn fifo_is_not_served_and_does_not_block() {
        let (dir, c) = site();
        let fifo = dir.path().join("pipe");
        let cpath = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo has no other
        // preconditions, and std has no way to make a FIFO.
        #[allow(unsafe_code)]
        let made = unsafe { libc::mkfifo(cpath.as_ptr(), 0o644) };
        assert_eq!(made, 0);
        assert!(matches!(load(&c, "/pipe"), Resolution::NotFound));
    }

    #[test]
    fn exists_reports_files_and_folders() {
        let (_dir, c) = site();
        assert!(exists(&c, "/docs"));
        assert!(exists(&c, "/app.js"));
        assert!(!exists(&c, "/hello"));
        assert!(!exists(&c, "/../etc"));
    }
}
