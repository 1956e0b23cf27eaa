//! Walking `plugins/`: which files would make which routes (modules, and
//! scripts with the interpreter their folder maps them to), and a cheap
//! fingerprint of each so unchanged files are not read again.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::interpreters::{Extensions, InterpreterStamp, RESERVED_STEM, TABLE_FILE};
use super::load::PluginFile;
use super::route::is_safe_segment;
use crate::file_stamp::FileStamp;

/// Deepest folder nesting scanned (a route has at most this many segments).
pub(crate) const MAX_DEPTH: usize = 16;
/// Most plugin files in one folder tree; the rest are skipped with a note.
pub(crate) const MAX_PLUGINS: usize = 10_000;

/// A plugin file, its sidecar and, for a script, its interpreter, as found
/// on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fingerprint {
    pub(crate) file: FileStamp,
    pub(crate) sidecar: Option<FileStamp>,
    pub(crate) interpreter: Option<InterpreterStamp>,
}

/// A `.wasm` file or a script that would make a route.
#[derive(Debug)]
pub(super) struct Candidate {
    pub(crate) file: PluginFile,
    pub(crate) fingerprint: Fingerprint,
}

/// A file that cannot make a route (or a folder's interpreter table that
/// cannot apply), and why.
#[derive(Debug)]
pub(super) struct Skipped {
    pub(crate) path: PathBuf,
    pub(crate) reason: String,
}

/// Everything found in one walk.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) skipped: Vec<Skipped>,
}

struct Pending {
    dir: PathBuf,
    route: String,
    depth: usize,
    /// Set when a folder on the way has a name that cannot be in a URL.
    bad_folder: Option<PathBuf>,
    /// The script extensions of the parent folder.
    extensions: Extensions,
}

/// Walks `root`. A missing root is an empty folder (the routes go away);
/// any other error reading the root is returned; an unreadable subfolder is
/// skipped with a note.
pub(super) fn walk(root: &Path) -> io::Result<Found> {
    let mut found = Found::default();
    let mut stack = vec![Pending {
        dir: root.to_owned(),
        route: String::new(),
        depth: 0,
        bad_folder: None,
        extensions: Extensions::default(),
    }];
    while let Some(mut p) = stack.pop() {
        let entries = match fs::read_dir(&p.dir) {
            Ok(entries) => entries,
            Err(e) if p.depth == 0 && e.kind() == io::ErrorKind::NotFound => return Ok(found),
            Err(e) if p.depth == 0 => return Err(e),
            Err(e) => {
                found.skipped.push(Skipped {
                    path: p.dir,
                    reason: format!("cannot read the folder: {e}"),
                });
                continue;
            }
        };
        // A table that cannot apply leaves the parent's in force: the
        // folder's scripts keep the interpreters they had.
        match p.extensions.with_folder(&p.dir) {
            Ok(extensions) => p.extensions = extensions,
            Err(reason) => found.skipped.push(Skipped {
                path: p.dir.join(TABLE_FILE),
                reason,
            }),
        }
        for entry in entries {
            let Ok(entry) = entry else { continue };
            visit(&entry, &p, &mut stack, &mut found);
        }
    }
    drop_duplicate_routes(&mut found);
    if found.candidates.len() > MAX_PLUGINS {
        for c in found.candidates.drain(MAX_PLUGINS..) {
            found.skipped.push(Skipped {
                path: c.file.file,
                reason: format!("more than {MAX_PLUGINS} plugins"),
            });
        }
    }
    Ok(found)
}

/// `hello.wasm` and `hello.js` in one folder both name `/hello`: the module
/// serves it, and of two scripts the first by file name.
fn drop_duplicate_routes(found: &mut Found) {
    found.candidates.sort_by(|a, b| {
        (&a.file.route, a.file.interpreter.is_some(), &a.file.file).cmp(&(
            &b.file.route,
            b.file.interpreter.is_some(),
            &b.file.file,
        ))
    });
    let mut kept: Vec<Candidate> = Vec::with_capacity(found.candidates.len());
    for c in found.candidates.drain(..) {
        match kept.last() {
            Some(k) if k.file.route == c.file.route => found.skipped.push(Skipped {
                reason: format!("{} already serves {}", k.file.file.display(), c.file.route),
                path: c.file.file,
            }),
            _ => kept.push(c),
        }
    }
    found.candidates = kept;
}

fn visit(entry: &fs::DirEntry, p: &Pending, stack: &mut Vec<Pending>, found: &mut Found) {
    let path = entry.path();
    let file_name = entry.file_name();
    let Some(name) = file_name.to_str() else {
        if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "wasm" || p.extensions.maps(e))
        {
            found.skipped.push(Skipped {
                path,
                reason: "the file name is not UTF-8".to_owned(),
            });
        }
        return;
    };
    if name.starts_with('.') {
        return;
    }
    let Ok(file_type) = entry.file_type() else {
        return;
    };
    if file_type.is_dir() {
        if p.depth + 1 >= MAX_DEPTH {
            found.skipped.push(Skipped {
                path,
                reason: format!("folders nest deeper than {MAX_DEPTH}"),
            });
            return;
        }
        let bad_folder = p
            .bad_folder
            .clone()
            .or_else(|| (!is_safe_segment(name)).then(|| path.clone()));
        stack.push(Pending {
            route: format!("{}/{name}", p.route),
            dir: path,
            depth: p.depth + 1,
            bad_folder,
            extensions: p.extensions.clone(),
        });
        return;
    }
    let (stem, interpreter) = match name.strip_suffix(".wasm") {
        Some(stem) => (stem, None),
        None => match p.extensions.interpreter_of(name) {
            Some((stem, interpreter)) => (stem, Some(interpreter.clone())),
            None => return,
        },
    };
    // Follows a symlinked file; a symlinked folder is not entered (no loops).
    let Ok(meta) = fs::metadata(&path) else {
        return;
    };
    if !meta.is_file() {
        return;
    }
    if let Some(folder) = &p.bad_folder {
        found.skipped.push(Skipped {
            path,
            reason: format!(
                "the folder name {:?} cannot be a URL segment (use letters, digits, - _ . ~)",
                folder.file_name().unwrap_or_default()
            ),
        });
        return;
    }
    if !is_safe_segment(stem) {
        found.skipped.push(Skipped {
            path,
            reason: format!("{stem:?} cannot be a URL segment (use letters, digits, - _ . ~)"),
        });
        return;
    }
    if stem == RESERVED_STEM {
        found.skipped.push(Skipped {
            path,
            reason: format!("{TABLE_FILE} is the folder's interpreter table, not its sidecar"),
        });
        return;
    }
    let sidecar = p.dir.join(format!("{stem}.toml"));
    let sidecar_stamp = fs::metadata(&sidecar).ok().map(|m| FileStamp::of(&m));
    found.candidates.push(Candidate {
        fingerprint: Fingerprint {
            file: FileStamp::of(&meta),
            sidecar: sidecar_stamp,
            interpreter: interpreter.as_ref().map(|i| i.stamp()),
        },
        file: PluginFile {
            route: format!("{}/{stem}", p.route),
            name: stem.to_owned(),
            file: path,
            interpreter,
            sidecar: sidecar_stamp.map(|_| sidecar),
        },
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, b"x").unwrap();
    }

    /// The skipped files, relative to `root`, sorted.
    fn skipped_under(found: &Found, root: &Path) -> Vec<PathBuf> {
        let mut skipped: Vec<_> = found
            .skipped
            .iter()
            .map(|s| s.path.strip_prefix(root).unwrap().to_owned())
            .collect();
        skipped.sort();
        skipped
    }

    #[test]
    fn routes_follow_the_folder_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "hello.wasm",
            "api/users.wasm",
            "api/v1/items.wasm",
            "api/users.toml",
            "README.md",
            ".hidden.wasm",
            ".git/x.wasm",
            "examples/hello/src/main.rs",
            "bad name.wasm",
            "my stuff/x.wasm",
        ] {
            touch(root, f);
        }
        let found = walk(root).unwrap();
        let routes: Vec<_> = found
            .candidates
            .iter()
            .map(|c| c.file.route.as_str())
            .collect();
        assert_eq!(routes, ["/api/users", "/api/v1/items", "/hello"]);
        let users = &found.candidates[0];
        assert_eq!(users.file.name, "users");
        assert!(users.fingerprint.sidecar.is_some());
        assert!(found.candidates[2].fingerprint.sidecar.is_none());
        assert_eq!(
            skipped_under(&found, root),
            [
                PathBuf::from("bad name.wasm"),
                PathBuf::from("my stuff/x.wasm")
            ]
        );
    }

    /// A Kubernetes ConfigMap volume: each key a link into `..data`, itself
    /// a link to a hidden timestamped folder. The links make the routes; the
    /// hidden entries make none and are not reported.
    #[test]
    fn a_configmap_volume_routes_its_links_only() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, "..2026_12_01_14_00_00.123/a.wasm");
        symlink("..2026_12_01_14_00_00.123", root.join("..data")).unwrap();
        symlink("..data/a.wasm", root.join("a.wasm")).unwrap();
        let found = walk(root).unwrap();
        let routes: Vec<_> = found
            .candidates
            .iter()
            .map(|c| c.file.route.as_str())
            .collect();
        assert_eq!(routes, ["/a"]);
        assert!(found.skipped.is_empty(), "{:?}", found.skipped);
        let target = fs::metadata(root.join("..2026_12_01_14_00_00.123/a.wasm")).unwrap();
        assert_eq!(found.candidates[0].fingerprint.file, FileStamp::of(&target));
    }

    #[test]
    fn scripts_route_by_their_folders_interpreters() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "hello.js",
            "clash.wasm",
            "clash.js",
            "interpreters.js",
            "notes.txt",
            "lua/a.lua",
            "lua/b.js",
            "bad/c.js",
        ] {
            touch(root, f);
        }
        fs::write(root.join("lua").join(TABLE_FILE), "lua = \"../lua.wasm\"").unwrap();
        fs::write(root.join("bad").join(TABLE_FILE), "lua = 1").unwrap();
        let found = walk(root).unwrap();
        let routes: Vec<_> = found
            .candidates
            .iter()
            .map(|c| {
                let file = c.file.file.strip_prefix(root).unwrap().to_owned();
                (c.file.route.as_str(), file, c.file.interpreter.is_some())
            })
            .collect();
        assert_eq!(
            routes,
            [
                ("/bad/c", PathBuf::from("bad/c.js"), true),
                ("/clash", PathBuf::from("clash.wasm"), false),
                ("/hello", PathBuf::from("hello.js"), true),
                ("/lua/a", PathBuf::from("lua/a.lua"), true),
                ("/lua/b", PathBuf::from("lua/b.js"), true),
            ]
        );
        let lua = &found.candidates[3];
        assert!(lua.fingerprint.interpreter.is_some());
        assert_eq!(
            skipped_under(&found, root),
            [
                PathBuf::from("bad").join(TABLE_FILE),
                PathBuf::from("clash.js"),
                PathBuf::from("interpreters.js"),
            ]
        );
    }

    #[test]
    fn a_missing_folder_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let found = walk(&dir.path().join("nope")).unwrap();
        assert!(found.candidates.is_empty());
    }
}
