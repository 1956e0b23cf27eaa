//! Scripts as plugins: which interpreter module runs a script file, chosen
//! by the file's extension, as Apache's `AddHandler` + `Action` choose a
//! CGI program for a script in cgi-bin.
//!
//! `.js` runs under the QuickJS interpreter built into the server. A folder
//! maps more extensions (or maps `js` elsewhere) with `interpreters.toml`,
//! which applies to that folder and every folder below it, the nearest
//! table winning per extension:
//!
//! ```toml
//! js = "quickjs"                    # the built-in interpreter (the default)
//! lua = "../interpreters/lua.wasm"  # a p1 command module, relative to this file
//! ```
//!
//! An interpreter module gets the script's path as argv\[1\] (the script is
//! readable there, read-only) and the CGI request as any module does.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bounded_file;
use crate::file_stamp::FileStamp;

/// The per-folder table's file name; `interpreters.wasm` cannot be a plugin.
pub(crate) const TABLE_FILE: &str = "interpreters.toml";
/// The stem the table's name takes from the plugin namespace.
pub(crate) const RESERVED_STEM: &str = "interpreters";
/// Largest table read.
const MAX_TABLE_BYTES: u64 = 64 << 10;
/// Most extensions one table may map.
const MAX_EXTENSIONS: usize = 64;

/// An interpreter compiled into the server.
#[derive(Debug)]
pub(crate) struct Builtin {
    /// Its name in a table, and in logs.
    pub(crate) name: &'static str,
    /// The extension it runs when no table says otherwise.
    pub(crate) extension: &'static str,
    /// The module; empty in a build made without the example toolchains
    /// (`WASIBIN_SKIP_EXAMPLES=1`).
    pub(crate) wasm: &'static [u8],
}

/// Built-ins are one of a kind: equal by name, without comparing the
/// modules' megabytes at every rescan.
impl PartialEq for Builtin {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Builtin {}

/// QuickJS, built from `interpreters/quickjs` by host/build.rs.
pub(crate) static QUICKJS: Builtin = Builtin {
    name: "quickjs",
    extension: "js",
    wasm: include_bytes!(concat!(env!("OUT_DIR"), "/quickjs.wasm")),
};

/// Every built-in interpreter.
pub(crate) static BUILTINS: [&Builtin; 1] = [&QUICKJS];

/// What runs one kind of script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Interpreter {
    /// One of [`BUILTINS`].
    Builtin(&'static Builtin),
    /// A module file, its path resolved against the table that named it.
    Module(PathBuf),
}

impl fmt::Display for Interpreter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interpreter::Builtin(b) => write!(f, "built-in {}", b.name),
            Interpreter::Module(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Interpreter {
    /// The module's bytes, or why not in words.
    pub(crate) fn wasm(&self, max: u64) -> Result<std::borrow::Cow<'static, [u8]>, String> {
        match self {
            Interpreter::Builtin(b) if b.wasm.is_empty() => Err(format!(
                "this wasibin was built without its {} interpreter (WASIBIN_SKIP_EXAMPLES=1)",
                b.name
            )),
            Interpreter::Builtin(b) => Ok(b.wasm.into()),
            Interpreter::Module(path) => bounded_file::read(path, max).map(Into::into),
        }
    }

    /// What identifies this interpreter's current version without reading
    /// it: a rescan reloads every script it runs when this changes.
    pub(crate) fn stamp(&self) -> InterpreterStamp {
        InterpreterStamp {
            interpreter: self.clone(),
            file: match self {
                Interpreter::Builtin(_) => None,
                Interpreter::Module(path) => FileStamp::at(path),
            },
        }
    }
}

/// An interpreter and the version of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InterpreterStamp {
    interpreter: Interpreter,
    file: Option<FileStamp>,
}

/// Extension → interpreter, as it applies in one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Extensions {
    map: Arc<BTreeMap<String, Interpreter>>,
}

impl Default for Extensions {
    /// The built-ins' own extensions.
    fn default() -> Self {
        let map = BUILTINS
            .iter()
            .map(|b| (b.extension.to_owned(), Interpreter::Builtin(b)))
            .collect();
        Extensions { map: Arc::new(map) }
    }
}

impl Extensions {
    /// The interpreter of `file_name`'s extension, if it is a script here.
    pub(crate) fn interpreter_of<'a>(&self, file_name: &'a str) -> Option<(&'a str, &Interpreter)> {
        let (stem, ext) = file_name.rsplit_once('.')?;
        if stem.is_empty() {
            return None;
        }
        self.map.get(ext).map(|i| (stem, i))
    }

    /// Whether files ending in `.ext` are scripts here.
    pub(crate) fn maps(&self, ext: &str) -> bool {
        self.map.contains_key(ext)
    }

    /// This table with `dir`'s `interpreters.toml` laid over it, if there is
    /// one; the error names the file, the line's key and what is wrong.
    pub(crate) fn with_folder(&self, dir: &Path) -> Result<Extensions, String> {
        let path = dir.join(TABLE_FILE);
        if !path.is_file() {
            return Ok(self.clone());
        }
        let text = bounded_file::read(&path, MAX_TABLE_BYTES)?;
        let text =
            String::from_utf8(text).map_err(|_| format!("{} is not UTF-8", path.display()))?;
        let table = parse_table(&text, dir).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut map = (*self.map).clone();
        map.extend(table);
        Ok(Extensions { map: Arc::new(map) })
    }
}

/// The `extension = "interpreter"` pairs of one table, paths resolved
/// against `dir`.
fn parse_table(text: &str, dir: &Path) -> Result<BTreeMap<String, Interpreter>, String> {
    let table: BTreeMap<String, String> =
        toml::from_str(text).map_err(|e| e.message().trim().to_owned())?;
    if table.len() > MAX_EXTENSIONS {
        return Err(format!("at most {MAX_EXTENSIONS} extensions"));
    }
    let mut out = BTreeMap::new();
    for (ext, target) in table {
        let valid = !ext.is_empty()
            && ext
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(format!(
                "{ext:?}: an extension is letters, digits, '-' or '_', without the dot"
            ));
        }
        if ext == "wasm" || ext == "toml" {
            return Err(format!("{ext:?}: .wasm and .toml files cannot be scripts"));
        }
        let interpreter = match BUILTINS.iter().find(|b| b.name == target) {
            Some(b) => Interpreter::Builtin(b),
            None if target.ends_with(".wasm") => Interpreter::Module(dir.join(&target)),
            None => {
                let names: Vec<_> = BUILTINS.iter().map(|b| b.name).collect();
                return Err(format!(
                    "{ext}: {target:?} is neither a built-in interpreter ({}) nor a .wasm file",
                    names.join(", ")
                ));
            }
        };
        out.insert(ext, interpreter);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn js_is_a_script_by_default() {
        let ext = Extensions::default();
        let (stem, i) = ext.interpreter_of("hello.js").unwrap();
        assert_eq!((stem, i), ("hello", &Interpreter::Builtin(&QUICKJS)));
        assert!(ext.interpreter_of("hello.wasm").is_none());
        assert!(ext.interpreter_of(".js").is_none());
        assert!(ext.interpreter_of("js").is_none());
        assert!(ext.interpreter_of("notes.txt").is_none());
    }

    #[test]
    fn a_folder_table_adds_and_overrides_for_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        fs::write(
            sub.join(TABLE_FILE),
            "lua = \"../lua.wasm\"\njs = \"../other-js.wasm\"\n",
        )
        .unwrap();
        let root = Extensions::default().with_folder(dir.path()).unwrap();
        assert_eq!(root, Extensions::default());
        let here = root.with_folder(&sub).unwrap();
        assert_eq!(
            here.interpreter_of("a.lua").unwrap().1,
            &Interpreter::Module(sub.join("../lua.wasm"))
        );
        assert_eq!(
            here.interpreter_of("a.js").unwrap().1,
            &Interpreter::Module(sub.join("../other-js.wasm"))
        );
    }

    #[test]
    fn bad_tables_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        for (text, needle) in [
            ("wasm = \"quickjs\"", "cannot be scripts"),
            ("\"j.s\" = \"quickjs\"", "without the dot"),
            ("py = \"python\"", "neither a built-in"),
            ("py = 3", "invalid type"),
        ] {
            fs::write(dir.path().join(TABLE_FILE), text).unwrap();
            let err = Extensions::default().with_folder(dir.path()).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(err.contains(TABLE_FILE), "{err}");
        }
    }
}
