//! The plugin folder: scanning `plugins/`, sidecar configuration, and the
//! immutable route table that requests run against.
//!
//! `plugins/NAME.wasm` serves `/NAME` and below; folders nest
//! (`plugins/api/users.wasm` serves `/api/users`); the longest mount wins.
//! Only `*.wasm` files make routes; hidden files and folders are ignored.
//! A file that fails to load never takes a working route down.

use std::path::PathBuf;

use crate::runtime::CompiledModule;

mod gate;
mod host;
mod route;
mod scan;
pub mod sidecar;

pub use gate::{Busy, Gate, GatePermit};
pub(crate) use host::{load_config, short_hash};
pub use host::{LoadedPlugin, PluginHost, RefusedFile, RescanReport};
pub use route::{is_safe_segment, Lookup, RouteMatch, RouteTable};
pub use sidecar::{PluginConfig, PluginDefaults, SidecarError};

/// One loaded plugin version. Immutable: a reload makes a new one, and a
/// request keeps the version it started with.
#[derive(Debug)]
pub struct Plugin {
    /// Its mount, e.g. `/api/users` (also `SCRIPT_NAME`).
    pub route: String,
    /// Its file name without `.wasm`, e.g. `users` (argv\[0\]).
    pub name: String,
    /// The `.wasm` file it was loaded from.
    pub file: PathBuf,
    /// Short hex of the content's SHA-256: names the version in logs.
    pub hash: String,
    /// The compiled module.
    pub module: CompiledModule,
    /// Limits, env and folders: the sidecar over the defaults.
    pub config: PluginConfig,
    /// Admission control for this route.
    pub gate: Gate,
}

#[cfg(test)]
mod tests;
