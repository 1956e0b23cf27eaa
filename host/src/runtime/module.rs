//! Turning bytes into something a request can instantiate, and saying in words
//! why a file was refused. Everything a handler needs is checked here, at
//! load time, so a file that can never run is refused before its first
//! request. The kind of handler is a property of the file, found here once:
//! a WASI preview 1 command module, a `wasi:cli` command component or a
//! `wasi:http` handler component.

use std::collections::HashSet;
use std::fmt;

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{self, Component};
use wasmtime::{Engine, ExternType, InstancePre, Linker, Module, ModuleExport};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::cache::DiskCache;
use super::component_store::ComponentState;
use super::store::StoreState;

/// The only import namespace a core module may use: WASI preview 1.
pub(crate) const WASI_P1: &str = "wasi_snapshot_preview1";

/// The first four bytes of every WebAssembly binary.
const WASM_MAGIC: [u8; 4] = *b"\0asm";
/// Version field of a core module.
const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];
/// Version field of a component (encoding 0x0d, layer 1).
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0, 1, 0];
/// The component export that makes a `wasi:cli` command.
const CLI_RUN: &str = "wasi:cli/run";
/// The component export that makes a `wasi:http` handler.
const HTTP_HANDLER: &str = "wasi:http/incoming-handler";

/// What a plugin file is, and so which contract it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerKind {
    /// A WASI preview 1 core module exporting `_start`: CGI.
    P1Command,
    /// A component exporting `wasi:cli/run`: the same CGI contract.
    CliCommand,
    /// A component exporting `wasi:http/incoming-handler`: request and
    /// response resources, streamed bodies, no CGI.
    HttpHandler,
}

impl fmt::Display for HandlerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandlerKind::P1Command => "WASI p1 command",
            HandlerKind::CliCommand => "wasi:cli command",
            HandlerKind::HttpHandler => "wasi:http handler",
        })
    }
}

/// Why a file cannot be served as a plugin; the old version keeps serving and
/// the message goes to the log, so each variant reads as a sentence.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Without this check wasmtime would try the bytes as WAT text and report
    /// "expected `(`", which says nothing useful about a half-copied file.
    #[error("not a WebAssembly module (the file does not start with \\0asm)")]
    NotWasm,
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
    /// A component import the host does not provide, as wasmtime names it.
    #[error("the component needs what this server does not provide: {0}")]
    UnsupportedComponentImport(String),
    /// Only WASI commands run per request; a reactor or library has no entry.
    #[error("no `_start` function of type () -> () (not a WASI command)")]
    NoStart,
    /// A component that is neither kind of handler.
    #[error("a component that exports neither {CLI_RUN}@0.2.x nor {HTTP_HANDLER}@0.2.x (it exports: {0})")]
    NotAHandler(String),
}

/// A validated, compiled handler with its imports already resolved, ready to
/// instantiate per request. Cloning is cheap (reference counted), so route
/// tables and in-flight requests share one compiled copy.
#[derive(Clone)]
pub struct CompiledModule {
    pub(super) compiled: Compiled,
}

/// The pre-instantiated form of each kind.
#[derive(Clone)]
pub(super) enum Compiled {
    P1 {
        pre: InstancePre<StoreState>,
        start: ModuleExport,
    },
    Cli(CommandPre<ComponentState>),
    Http(ProxyPre<ComponentState>),
}

impl CompiledModule {
    /// Which contract the handler speaks.
    pub fn kind(&self) -> HandlerKind {
        match self.compiled {
            Compiled::P1 { .. } => HandlerKind::P1Command,
            Compiled::Cli(_) => HandlerKind::CliCommand,
            Compiled::Http(_) => HandlerKind::HttpHandler,
        }
    }
}

impl fmt::Debug for CompiledModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledModule")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

/// What the first eight bytes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Binary {
    Core,
    Component,
}

/// Cheap checks on the raw bytes, before any parsing.
pub(super) fn check_header(wasm: &[u8]) -> Result<Binary, LoadError> {
    if wasm.get(..4) != Some(&WASM_MAGIC[..]) {
        return Err(LoadError::NotWasm);
    }
    match wasm.get(4..8) {
        Some(v) if v == CORE_VERSION => Ok(Binary::Core),
        Some(v) if v == COMPONENT_VERSION => Ok(Binary::Component),
        Some([a, b, 1, 0]) => Err(LoadError::Invalid(format!(
            "a component in an unsupported encoding ({a:#04x}{b:02x}, expected 0x0d)"
        ))),
        _ => Err(LoadError::Invalid(
            "unknown WebAssembly binary version".to_owned(),
        )),
    }
}

/// What the core linker can satisfy: `(module, name)` pairs, computed once.
pub(super) type Provided = HashSet<(String, String)>;

/// The linkers handlers are checked and instantiated against.
pub(super) struct Linkers {
    pub(super) core: Linker<StoreState>,
    pub(super) provided: Provided,
    pub(super) component: component::Linker<ComponentState>,
}

/// Compiles `wasm` and checks everything that would otherwise fail at the
/// first request: its kind, its imports, its entry point, and (checked by
/// wasmtime against the pool) memories, tables and instances larger than a
/// slot. With a `cache`, a verified compiled copy replaces the compile step.
pub(super) fn compile(
    engine: &Engine,
    linkers: &Linkers,
    cache: Option<&DiskCache>,
    wasm: &[u8],
) -> Result<CompiledModule, LoadError> {
    let compiled = match check_header(wasm)? {
        Binary::Core => {
            let build = || Module::new(engine, wasm).map_err(invalid);
            let module = match cache {
                Some(cache) => cache.load_or_compile(engine, wasm, build)?,
                None => build()?,
            };
            prepare_core(&linkers.core, &linkers.provided, &module)?
        }
        Binary::Component => {
            let build = || Component::new(engine, wasm).map_err(invalid);
            let component = match cache {
                Some(cache) => cache.load_or_compile(engine, wasm, build)?,
                None => build()?,
            };
            prepare_component(engine, &linkers.component, &component)?
        }
    };
    Ok(CompiledModule { compiled })
}

fn invalid(e: wasmtime::Error) -> LoadError {
    LoadError::Invalid(format!("{e:#}"))
}

/// The checks and linking that follow compilation of a core module. Kept
/// apart from [`compile`] so that a module deserialized from a disk cache
/// goes through exactly the same checks.
pub(super) fn prepare_core(
    linker: &Linker<StoreState>,
    provided: &Provided,
    module: &Module,
) -> Result<Compiled, LoadError> {
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
    let pre = linker.instantiate_pre(module).map_err(invalid)?;
    Ok(Compiled::P1 { pre, start })
}

/// A component's kind, from its export names: `wasi:http/incoming-handler`
/// or `wasi:cli/run` at any 0.2.x version (toolchains differ: Rust std
/// exports `run@0.2.0`, componentize-js `incoming-handler@0.2.10`). One
/// exporting both is a handler, as `wasmtime serve` decides.
fn component_kind(engine: &Engine, component: &Component) -> Result<HandlerKind, LoadError> {
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentInstance(_)))
        .map(|(name, _)| name.to_owned())
        .collect();
    let exports_0_2 = |interface: &str| {
        exports.iter().any(|name| {
            name.strip_prefix(interface)
                .and_then(|rest| rest.strip_prefix("@0.2."))
                .is_some()
        })
    };
    if exports_0_2(HTTP_HANDLER) {
        Ok(HandlerKind::HttpHandler)
    } else if exports_0_2(CLI_RUN) {
        Ok(HandlerKind::CliCommand)
    } else if exports.is_empty() {
        Err(LoadError::NotAHandler("nothing".to_owned()))
    } else {
        Err(LoadError::NotAHandler(exports.join(", ")))
    }
}

/// Classifies a compiled component and resolves its imports once.
fn prepare_component(
    engine: &Engine,
    linker: &component::Linker<ComponentState>,
    component: &Component,
) -> Result<Compiled, LoadError> {
    let kind = component_kind(engine, component)?;
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| LoadError::UnsupportedComponentImport(format!("{e:#}")))?;
    match kind {
        HandlerKind::HttpHandler => ProxyPre::new(pre).map(Compiled::Http),
        _ => CommandPre::new(pre).map(Compiled::Cli),
    }
    .map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks_name_the_problem() {
        assert!(matches!(check_header(b""), Err(LoadError::NotWasm)));
        assert!(matches!(check_header(b"(module)"), Err(LoadError::NotWasm)));
        assert_eq!(
            check_header(b"\0asm\x0d\0\x01\0").unwrap(),
            Binary::Component
        );
        assert!(matches!(
            check_header(b"\0asm\x0c\0\x01\0"),
            Err(LoadError::Invalid(_))
        ));
        assert!(matches!(check_header(b"\0asm"), Err(LoadError::Invalid(_))));
        assert_eq!(check_header(b"\0asm\x01\0\0\0").unwrap(), Binary::Core);
    }
}
