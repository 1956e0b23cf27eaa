//! Turning bytes into something a request can instantiate, and saying in words
//! why a file was refused. Everything a module needs is checked here, at load
//! time, so a module that can never run is refused before its first request.

use std::collections::HashSet;

use wasmtime::{Engine, ExternType, InstancePre, Linker, Module, ModuleExport};

use super::cache::DiskCache;
use super::store::StoreState;

/// The only import namespace a plugin may use: WASI preview 1.
pub(crate) const WASI_P1: &str = "wasi_snapshot_preview1";

/// The first four bytes of every WebAssembly binary.
const WASM_MAGIC: [u8; 4] = *b"\0asm";
/// Version field of a core module (a component has `0d 00 01 00`).
const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];

/// Why a file cannot be served as a plugin; the old version keeps serving and
/// the message goes to the log, so each variant reads as a sentence.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Without this check wasmtime would try the bytes as WAT text and report
    /// "expected `(`", which says nothing useful about a half-copied file.
    #[error("not a WebAssembly module (the file does not start with \\0asm)")]
    NotWasm,
    /// Components are WASI preview 2; the CGI contract here is preview 1.
    #[error("a WebAssembly component, not a WASI preview 1 command module")]
    Component,
    /// Malformed or unsupported wasm; the detail comes from wasmtime.
    #[error("invalid module: {0}")]
    Invalid(String),
    /// An import the sandbox does not provide: refused at load, not at the
    /// first request.
    #[error("unsupported import `{module}::{name}` (plugins may import only {WASI_P1} functions)")]
    UnsupportedImport {
        /// Import module name.
        module: String,
        /// Import field name.
        name: String,
    },
    /// Only WASI commands run per request; a reactor or library has no entry.
    #[error("no `_start` function of type () -> () (not a WASI command)")]
    NoStart,
}

/// A validated, compiled module with its imports already resolved, ready to
/// instantiate per request. Cloning is cheap (reference counted), so route
/// tables and in-flight requests share one compiled copy.
#[derive(Clone)]
pub struct CompiledModule {
    pub(super) pre: InstancePre<StoreState>,
    pub(super) start: ModuleExport,
}

impl std::fmt::Debug for CompiledModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModule")
            .field("name", &self.pre.module().name())
            .finish_non_exhaustive()
    }
}

/// Cheap checks on the raw bytes, before any parsing.
pub(super) fn check_header(wasm: &[u8]) -> Result<(), LoadError> {
    if wasm.get(..4) != Some(&WASM_MAGIC[..]) {
        return Err(LoadError::NotWasm);
    }
    match wasm.get(4..8) {
        Some(v) if v == CORE_VERSION => Ok(()),
        Some([_, _, 1, 0]) => Err(LoadError::Component),
        _ => Err(LoadError::Invalid(
            "unknown WebAssembly binary version".to_owned(),
        )),
    }
}

/// What the linker can satisfy: `(module, name)` pairs, computed once.
pub(super) type Provided = HashSet<(String, String)>;

/// Compiles `wasm` and checks everything that would otherwise fail at the
/// first request: imports, `_start`, and (checked by wasmtime against the
/// pool) memories and tables larger than an instance slot. With a `cache`,
/// a verified compiled copy replaces the compile step.
pub(super) fn compile(
    engine: &Engine,
    linker: &Linker<StoreState>,
    provided: &Provided,
    cache: Option<&DiskCache>,
    wasm: &[u8],
) -> Result<CompiledModule, LoadError> {
    let module = match cache {
        Some(cache) => cache.load_or_compile(engine, wasm, || build(engine, wasm))?,
        None => build(engine, wasm)?,
    };
    prepare(linker, provided, &module)
}

/// Header check, validation and compilation only: what a disk cache skips
/// on a hit.
pub(super) fn build(engine: &Engine, wasm: &[u8]) -> Result<Module, LoadError> {
    check_header(wasm)?;
    Module::new(engine, wasm).map_err(|e| LoadError::Invalid(format!("{e:#}")))
}

/// The checks and linking that follow compilation. Kept apart from
/// [`compile`] so that a module deserialized from a disk cache goes through
/// exactly the same checks.
pub(super) fn prepare(
    linker: &Linker<StoreState>,
    provided: &Provided,
    module: &Module,
) -> Result<CompiledModule, LoadError> {
    for import in module.imports() {
        let known = import.module() == WASI_P1
            && matches!(import.ty(), ExternType::Func(_))
            && provided.contains(&(import.module().to_owned(), import.name().to_owned()));
        if !known {
            return Err(LoadError::UnsupportedImport {
                module: import.module().to_owned(),
                name: import.name().to_owned(),
            });
        }
    }
    match module.get_export("_start") {
        Some(ExternType::Func(f)) if f.params().len() == 0 && f.results().len() == 0 => {}
        _ => return Err(LoadError::NoStart),
    }
    let start = module
        .get_export_index("_start")
        .ok_or(LoadError::NoStart)?;
    // Resolves and type-checks every import once, so a request only allocates.
    let pre = linker
        .instantiate_pre(module)
        .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
    Ok(CompiledModule { pre, start })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks_name_the_problem() {
        assert!(matches!(check_header(b""), Err(LoadError::NotWasm)));
        assert!(matches!(check_header(b"(module)"), Err(LoadError::NotWasm)));
        assert!(matches!(
            check_header(b"\0asm\x0d\0\x01\0"),
            Err(LoadError::Component)
        ));
        assert!(matches!(check_header(b"\0asm"), Err(LoadError::Invalid(_))));
        assert!(check_header(b"\0asm\x01\0\0\0").is_ok());
    }
}
