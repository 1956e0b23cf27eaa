//! The plugin folder: scanning `plugins/`, sidecar configuration, and the
//! immutable route table that requests run against.
//!
//! `plugins/NAME.wasm` serves `/NAME` and below; folders nest
//! (`plugins/api/users.wasm` serves `/api/users`); the longest mount wins.
//! `*.wasm` files make routes, and so do scripts (`NAME.js`, or any
//! extension a folder's `interpreters.toml` maps); hidden files and folders
//! are ignored. A file that fails to load never takes a working route down.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use crate::runtime::CompiledModule;

mod folder;
mod gate;
mod interpreters;
mod load;
mod route;
mod scan;
mod script_copy;
mod sidecar;

pub(crate) use folder::{LiveRoutes, PluginFolder};
pub(crate) use gate::{Gate, GatePermit};
pub(crate) use interpreters::Interpreter;
pub(crate) use load::PluginFile;
pub(crate) use route::{RouteMatch, RouteTable, Routing};
/// For the fuzz targets ([`crate::fuzzing`]).
pub(crate) use sidecar::parse as parse_sidecar;
pub(crate) use sidecar::PluginDefaults;
pub(crate) use sidecar::{kib, mib, PluginConfig};

/// One loaded plugin version. Immutable: a reload makes a new one, and a
/// request keeps the version it started with.
#[derive(Debug)]
pub(crate) struct Plugin {
    /// Its mount, e.g. `/api/users` (also `SCRIPT_NAME`); shared, since every
    /// request's metrics name it.
    pub(crate) route: Arc<str>,
    /// When this version was loaded.
    pub(crate) loaded_at: SystemTime,
    /// argv before the request's search words: the file name without its
    /// extension (`users`), a script's path, the sidecar's `args`.
    pub(crate) argv: Vec<String>,
    /// The `.wasm` file or the script it was loaded from.
    pub(crate) file: PathBuf,
    /// Short hex of the content's SHA-256: names the version in logs.
    pub(crate) hash: String,
    /// The compiled module (for a script: its interpreter's, pre-initialised
    /// with it when it could be).
    pub(crate) module: CompiledModule,
    /// How a script is run; `None` for a module.
    pub(crate) script: Option<Arc<ScriptRun>>,
    /// Limits, env and folders: the sidecar over the defaults.
    pub(crate) config: PluginConfig,
    /// Admission control for this route.
    pub(crate) gate: Gate,
}

impl Plugin {
    /// The contract it speaks, in words for logs and the status page: for a
    /// script, its interpreter and whether requests start from a snapshot.
    pub(crate) fn kind_label(&self) -> String {
        let kind = self.module.kind();
        match &self.script {
            None => kind.to_string(),
            Some(script) => match &script.preinitialised {
                Ok(()) => format!("script run by {}, pre-initialised", script.interpreter),
                Err(why) => format!(
                    "script run by {}, not pre-initialised: {why}",
                    script.interpreter
                ),
            },
        }
    }
}

/// A script's side of a plugin version, shared by the versions that differ
/// only in their sidecar.
#[derive(Debug)]
pub(crate) struct ScriptRun {
    /// What runs it.
    pub(crate) interpreter: Interpreter,
    /// The copy the guest reads (argv\[1\]); kept while this version lives.
    copy: script_copy::ScriptCopy,
    /// Whether each request starts from the interpreter's snapshot after it
    /// loaded the script, or why it parses the script per request.
    pub(crate) preinitialised: Result<(), String>,
}

#[cfg(test)]
mod tests;
