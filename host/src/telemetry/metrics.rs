//! The Prometheus families, with the `prometheus-client` crate.
//!
//! Labels are bounded by construction: a route is a plugin's mount (the
//! operator's files decide how many), `static` or `none`; a method outside
//! the common ones is `other`; a status is its class. No path or query ever
//! becomes a label, so a client cannot grow the series count.
//!
//! Gauges that describe plugins (instances running and queued) are read
//! from the route table at scrape time instead of being kept up to date on
//! every request: see `admin`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// Upper bounds of the request-duration buckets, in seconds: from a fast
/// plugin's 100 µs to a slow one's time limit.
const DURATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Upper bounds of the compile-time buckets, in seconds.
const COMPILE_BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Who answered a request, as the `route` label says it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum RouteLabel {
    /// A plugin, by its mount.
    Plugin(Arc<str>),
    /// The static site (files, directory redirects, its 404s).
    Static,
    /// Nobody: the server refused the request before routing it (400,
    /// 408, 417, 431 and the like).
    None,
}

impl EncodeLabelValue for RouteLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(match self {
            RouteLabel::Plugin(route) => route,
            RouteLabel::Static => "static",
            RouteLabel::None => "none",
        })
    }
}

/// A request method as a label: the common ones by name, the rest `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct MethodLabel(&'static str);

impl MethodLabel {
    fn of(method: &str) -> MethodLabel {
        const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
        MethodLabel(KNOWN.into_iter().find(|m| *m == method).unwrap_or("other"))
    }
}

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.0)
    }
}

/// A status as its class: `2xx`, `4xx`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct StatusClass(u16);

impl EncodeLabelValue for StatusClass {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        write!(encoder, "{}xx", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: RouteLabel,
    method: MethodLabel,
    status: StatusClass,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: RouteLabel,
}

/// Why a plugin request failed, as the `reason` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Failure {
    /// The guest trapped or failed to instantiate (502).
    Trap,
    /// The guest ran past its time limit (504).
    Timeout,
    /// The guest hit its memory limit (502).
    MemoryLimit,
    /// The guest wrote more than its output limit (502).
    OutputLimit,
    /// The guest's answer broke the CGI or wasi:http rules (502).
    BadResponse,
    /// The plugin's queue or the engine's instance pool was full (503).
    Overloaded,
    /// The server could not prepare the run (502, not the guest's doing).
    Host,
}

impl EncodeLabelValue for Failure {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(match self {
            Failure::Trap => "trap",
            Failure::Timeout => "timeout",
            Failure::MemoryLimit => "memory_limit",
            Failure::OutputLimit => "output_limit",
            Failure::BadResponse => "bad_response",
            Failure::Overloaded => "overloaded",
            Failure::Host => "host",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FailureLabels {
    route: RouteLabel,
    reason: Failure,
}

/// What a plugin load did, as the `result` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum LoadResult {
    /// A new or changed plugin now serves.
    Loaded,
    /// A file was refused; any old version keeps serving.
    Refused,
    /// A plugin's file is gone and its route unmounted.
    Removed,
}

impl EncodeLabelValue for LoadResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(match self {
            LoadResult::Loaded => "loaded",
            LoadResult::Refused => "refused",
            LoadResult::Removed => "removed",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LoadLabels {
    result: LoadResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CacheLabels {
    result: &'static str,
}

/// Values read at scrape time from what holds them (the route table's
/// admission gates, the engine's cache), so the request path never
/// updates them.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// Per plugin route: instances running, requests queued.
    pub(crate) plugins: Vec<PluginLoad>,
    /// The disk cache's hits and misses; `None` without a cache.
    pub(crate) cache: Option<(u64, u64)>,
}

/// One plugin's admission state at scrape time.
#[derive(Debug)]
pub(crate) struct PluginLoad {
    /// Its mount.
    pub(crate) route: Arc<str>,
    /// Instances running now.
    pub(crate) running: u64,
    /// Requests waiting for an instance now.
    pub(crate) queued: u64,
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Every family the server updates, registered once.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    connections: Gauge,
    failures: Family<FailureLabels, Counter>,
    loads: Family<LoadLabels, Counter>,
    compile_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("wasibin");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by route, method and status class",
            requests.clone(),
        );
        let durations = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        registry.register(
            "request_duration_seconds",
            "Time from a complete request head to the last byte of its answer, by route",
            durations.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "requests_in_flight",
            "Requests being answered now",
            in_flight.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "open_connections",
            "Client connections open now",
            connections.clone(),
        );
        let failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "plugin_failures",
            "Plugin requests that failed, by route and reason (trap, timeout, memory_limit, output_limit, bad_response, overloaded, host)",
            failures.clone(),
        );
        let loads = Family::<LoadLabels, Counter>::default();
        registry.register(
            "plugin_loads",
            "Plugin versions loaded, files refused and routes removed by folder scans",
            loads.clone(),
        );
        let compile_seconds = Histogram::new(COMPILE_BUCKETS);
        registry.register(
            "plugin_compile_seconds",
            "Time to make a servable module from a changed file (compile or disk-cache load)",
            compile_seconds.clone(),
        );
        registry.register(
            "build",
            "The running build",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        Metrics {
            registry,
            requests,
            durations,
            in_flight,
            connections,
            failures,
            loads,
            compile_seconds,
        }
    }
}

impl Metrics {
    /// One request answered (or refused) in `elapsed`.
    pub(crate) fn request_done(
        &self,
        route: RouteLabel,
        method: &str,
        status: u16,
        elapsed: Duration,
    ) {
        let mut labels = RequestLabels {
            route,
            method: MethodLabel::of(method),
            status: StatusClass(status / 100),
        };
        self.requests.get_or_create(&labels).inc();
        let route = RouteLabels {
            route: std::mem::replace(&mut labels.route, RouteLabel::None),
        };
        self.durations
            .get_or_create(&route)
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a request in flight until the guard drops.
    pub(crate) fn in_flight(&self) -> GaugeGuard {
        GaugeGuard::new(&self.in_flight)
    }

    /// Counts an open connection until the guard drops.
    pub(crate) fn connection(&self) -> GaugeGuard {
        GaugeGuard::new(&self.connections)
    }

    /// A plugin request failed.
    pub(crate) fn plugin_failed(&self, route: &Arc<str>, reason: Failure) {
        self.failures
            .get_or_create(&FailureLabels {
                route: RouteLabel::Plugin(Arc::clone(route)),
                reason,
            })
            .inc();
    }

    /// A folder scan loaded, refused or removed a plugin; `compile` is the
    /// time a changed module took to become servable.
    pub(crate) fn plugin_load(&self, result: LoadResult, compile: Option<Duration>) {
        self.loads.get_or_create(&LoadLabels { result }).inc();
        if let Some(t) = compile {
            self.compile_seconds.observe(t.as_secs_f64());
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of every family, the
    /// ones read at scrape time from `now` included.
    pub(crate) fn encode(&self, now: &Snapshot, out: &mut String) -> std::fmt::Result {
        prometheus_text::encode(out, &self.registry)?;
        let mut scraped = Registry::with_prefix("wasibin");
        let running = Family::<RouteLabels, Gauge>::default();
        let queued = Family::<RouteLabels, Gauge>::default();
        for plugin in &now.plugins {
            let labels = RouteLabels {
                route: RouteLabel::Plugin(Arc::clone(&plugin.route)),
            };
            let as_gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            running.get_or_create(&labels).set(as_gauge(plugin.running));
            queued.get_or_create(&labels).set(as_gauge(plugin.queued));
        }
        scraped.register(
            "plugin_instances_running",
            "Instances running now, by plugin route",
            running,
        );
        scraped.register(
            "plugin_requests_queued",
            "Requests waiting for one of the plugin's instances, by plugin route",
            queued,
        );
        if let Some((hits, misses)) = now.cache {
            let lookups = Family::<CacheLabels, Counter>::default();
            lookups
                .get_or_create(&CacheLabels { result: "hit" })
                .inc_by(hits);
            lookups
                .get_or_create(&CacheLabels { result: "miss" })
                .inc_by(misses);
            scraped.register(
                "compile_cache_lookups",
                "Look-ups in the disk cache of compiled modules, by result (hit, miss)",
                lookups,
            );
        }
        prometheus_text::encode(out, &scraped)
    }
}

/// Decrements its gauge when dropped.
#[derive(Debug)]
pub(crate) struct GaugeGuard(Gauge);

impl GaugeGuard {
    fn new(gauge: &Gauge) -> GaugeGuard {
        gauge.inc();
        GaugeGuard(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub(crate) const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

#[cfg(test)]
mod tests {
    use super::*;

    fn text(metrics: &Metrics) -> String {
        let mut out = String::new();
        let now = Snapshot {
            plugins: vec![PluginLoad {
                route: Arc::from("/hello"),
                running: 2,
                queued: 1,
            }],
            cache: Some((3, 4)),
        };
        metrics.encode(&now, &mut out).unwrap();
        out
    }

    #[test]
    fn requests_are_labelled_by_route_method_and_class_only() {
        let metrics = Metrics::default();
        let route: Arc<str> = Arc::from("/hello");
        metrics.request_done(
            RouteLabel::Plugin(route.clone()),
            "GET",
            200,
            Duration::from_micros(300),
        );
        metrics.request_done(RouteLabel::Static, "BREW", 404, Duration::from_millis(2));
        metrics.request_done(RouteLabel::None, "GET", 400, Duration::ZERO);
        metrics.plugin_failed(&route, Failure::MemoryLimit);
        let out = text(&metrics);
        for line in [
            r#"wasibin_requests_total{route="/hello",method="GET",status="2xx"} 1"#,
            r#"wasibin_requests_total{route="static",method="other",status="4xx"} 1"#,
            r#"wasibin_requests_total{route="none",method="GET",status="4xx"} 1"#,
            r#"wasibin_request_duration_seconds_bucket{route="/hello",le="0.0005"} 1"#,
            r#"wasibin_plugin_failures_total{route="/hello",reason="memory_limit"} 1"#,
            r#"wasibin_build_info{version=""#,
            r#"wasibin_plugin_instances_running{route="/hello"} 2"#,
            r#"wasibin_plugin_requests_queued{route="/hello"} 1"#,
            r#"wasibin_compile_cache_lookups_total{result="hit"} 3"#,
            r#"wasibin_compile_cache_lookups_total{result="miss"} 4"#,
        ] {
            assert!(out.contains(line), "{line} missing from:\n{out}");
        }
    }

    #[test]
    fn gauges_follow_their_guards() {
        let metrics = Metrics::default();
        let a = metrics.in_flight();
        let b = metrics.in_flight();
        drop(a);
        let _c = metrics.connection();
        let out = text(&metrics);
        assert!(out.contains("wasibin_requests_in_flight 1\n"), "{out}");
        assert!(out.contains("wasibin_open_connections 1\n"), "{out}");
        drop(b);
        assert!(text(&metrics).contains("wasibin_requests_in_flight 0\n"));
    }
}
