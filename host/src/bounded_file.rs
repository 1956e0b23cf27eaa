//! Reading a whole file the operator put in place (a module, a sidecar, a
//! certificate), refusing one larger than the caller expects: a wrong path
//! pointing at a huge file must not make the server read it into memory.

use std::fs;
use std::io::Read as _;
use std::path::Path;

/// The file's bytes, or why not in words (naming the file); a file larger
/// than `max` bytes is refused.
pub(crate) fn read(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let file = fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > max {
        return Err(format!("{} is larger than {max} bytes", path.display()));
    }
    Ok(bytes)
}
