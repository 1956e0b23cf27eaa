//! `/status.json`, what the status page shows: every route with its kind,
//! version, load time, admission state and last reload result (a bad upload
//! shows its refusal reason beside the version that keeps serving), files
//! refused that serve nothing, and the last plugin failures. Counters come
//! from `/metrics`, which the page reads too, so each figure has one source.

use std::collections::HashMap;
use std::time::SystemTime;

use serde::Serialize;

use crate::plugins::PluginFolder;
use crate::telemetry::{ErrorEvent, Telemetry};

#[derive(Serialize)]
struct Status {
    version: &'static str,
    /// Seconds since the Unix epoch.
    started: u64,
    ready: bool,
    draining: bool,
    plugins_dir: String,
    routes: Vec<RouteStatus>,
    /// Refused files that no older version covers.
    refused: Vec<RefusalStatus>,
    errors: Vec<ErrorEvent>,
}

#[derive(Serialize)]
struct RouteStatus {
    route: String,
    file: String,
    kind: String,
    hash: String,
    loaded_at: u64,
    running: usize,
    queued: usize,
    max_concurrency: usize,
    /// The last upload of this route's file, when it was refused: the
    /// version above keeps serving.
    refused: Option<RefusalStatus>,
}

#[derive(Serialize, Clone)]
struct RefusalStatus {
    file: String,
    route: String,
    reason: String,
    at: u64,
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The JSON document.
pub(super) fn render(
    telemetry: &Telemetry,
    plugins: &PluginFolder,
) -> Result<String, serde_json::Error> {
    let table = plugins.table();
    let mut refusals: HashMap<String, RefusalStatus> = plugins
        .refusals()
        .into_iter()
        .map(|(file, r)| {
            let file = file.display().to_string();
            let status = RefusalStatus {
                file: file.clone(),
                route: r.route,
                reason: r.reason,
                at: unix_secs(r.at),
            };
            (file, status)
        })
        .collect();
    let routes = table
        .routes()
        .map(|p| {
            let (running, queued) = p.gate.load();
            let file = p.file.display().to_string();
            RouteStatus {
                route: p.route.to_string(),
                refused: refusals.remove(&file),
                file,
                kind: p.kind_label(),
                hash: p.hash.clone(),
                loaded_at: unix_secs(p.loaded_at),
                running,
                queued,
                max_concurrency: p.gate.max_concurrency(),
            }
        })
        .collect();
    let mut refused: Vec<RefusalStatus> = refusals.into_values().collect();
    refused.sort_by(|a, b| a.file.cmp(&b.file));
    let health = &telemetry.health;
    serde_json::to_string(&Status {
        version: env!("CARGO_PKG_VERSION"),
        started: unix_secs(health.started()),
        ready: health.is_ready(),
        draining: health.is_draining(),
        plugins_dir: plugins.dir().display().to_string(),
        routes,
        refused,
        errors: telemetry.errors.snapshot(),
    })
}
