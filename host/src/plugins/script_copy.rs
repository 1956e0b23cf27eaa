//! A private, read-only copy of one script version for its interpreter to
//! read. The guest sees exactly the bytes this version was loaded (and
//! pre-initialised) from, whatever happens to the file afterwards, and
//! nothing else of the script's folder: a sibling's sidecar may hold
//! secrets in its `[env]`.

use std::fs;
use std::path::Path;

use crate::runtime::Preopen;

/// Where the guest finds its script's folder.
pub(crate) const GUEST_DIR: &str = "/wasibin/script";

/// The copy; removed when the plugin version holding it is dropped (after
/// its last request).
#[derive(Debug)]
pub(crate) struct ScriptCopy {
    dir: tempfile::TempDir,
    guest_path: String,
}

impl ScriptCopy {
    /// Writes `bytes` as `file_name` into a new folder under `base`, private
    /// to this user; the error, in words, names the folder.
    pub(crate) fn new(base: &Path, file_name: &str, bytes: &[u8]) -> Result<ScriptCopy, String> {
        let fail = |e: std::io::Error| {
            format!(
                "cannot copy the script into {} for its interpreter: {e}",
                base.display()
            )
        };
        fs::create_dir_all(base).map_err(fail)?;
        let dir = tempfile::Builder::new()
            .prefix("script-")
            .tempdir_in(base)
            .map_err(fail)?;
        fs::write(dir.path().join(file_name), bytes).map_err(fail)?;
        Ok(ScriptCopy {
            dir,
            guest_path: format!("{GUEST_DIR}/{file_name}"),
        })
    }

    /// The script's path as the guest opens it (argv\[1\]).
    pub(crate) fn guest_path(&self) -> &str {
        &self.guest_path
    }

    /// The read-only mapping of the copy into the guest.
    pub(crate) fn preopen(&self) -> Preopen {
        Preopen {
            host: self.dir.path().to_owned(),
            guest: GUEST_DIR.to_owned(),
            writable: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_lives_as_long_as_its_holder() {
        let base = tempfile::tempdir().unwrap();
        let copy = ScriptCopy::new(&base.path().join("scripts"), "a.js", b"x").unwrap();
        assert_eq!(copy.guest_path(), "/wasibin/script/a.js");
        let host = copy.preopen().host;
        assert_eq!(fs::read(host.join("a.js")).unwrap(), b"x");
        drop(copy);
        assert!(!host.exists());
    }
}
