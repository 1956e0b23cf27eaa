//! What the server tells its operators about itself: Prometheus metrics,
//! the last errors the status page lists, and whether it is ready for
//! traffic. Fed from the request path with atomic updates only (no
//! formatting, no allocation once a series exists); read by the admin
//! listener.

mod health;
mod metrics;
mod recent;

pub(crate) use health::Health;
pub(crate) use metrics::{
    Failure, LoadResult, Metrics, PluginLoad, RouteLabel, Snapshot, CONTENT_TYPE,
};
pub(crate) use recent::{ErrorEvent, RecentErrors};

/// Everything one server reports; shared by its workers, its plugin folder
/// and its admin listener.
#[derive(Debug, Default)]
pub(crate) struct Telemetry {
    /// The `/metrics` families.
    pub(crate) metrics: Metrics,
    /// The last plugin failures, newest first.
    pub(crate) errors: RecentErrors,
    /// Readiness for `/readyz`.
    pub(crate) health: Health,
}
