//! The plugin folder: scanning `plugins/`, sidecar configuration, and the
//! immutable route table that requests run against.
//!
//! `plugins/NAME.wasm` serves `/NAME` and below; folders nest
//! (`plugins/api/users.wasm` serves `/api/users`); the longest mount wins.
//! Only `*.wasm` files make routes; hidden files and folders are ignored.
//! A file that fails to load never takes a working route down.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use crate::runtime::CompiledModule;

mod folder;
mod gate;
mod load;
mod route;
mod scan;
mod sidecar;

pub(crate) use folder::{LiveRoutes, PluginFolder};
pub(crate) use gate::{Gate, GatePermit};
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
    /// Its file name without `.wasm`, e.g. `users` (argv\[0\]).
    pub(crate) name: String,
    /// The `.wasm` file it was loaded from.
    pub(crate) file: PathBuf,
    /// Short hex of the content's SHA-256: names the version in logs.
    pub(crate) hash: String,
    /// The compiled module.
    pub(crate) module: CompiledModule,
    /// Limits, env and folders: the sidecar over the defaults.
    pub(crate) config: PluginConfig,
    /// Admission control for this route.
    pub(crate) gate: Gate,
}

#[cfg(test)]
mod tests;
