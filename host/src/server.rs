//! The process: bind the socket, load the site and the plugins, accept
//! connections until SIGINT/SIGTERM, then let in-flight requests finish
//! within a grace period.
//!
//! Connections are served by one worker thread per core, each with its own
//! single-threaded tokio runtime, as nginx runs one worker process per core.
//! Each worker accepts on a listening socket of its own (`listener`: the
//! kernel gives a connection to the socket of the worker pinned to the CPU
//! that received it) and keeps the connection unless it holds far more than
//! another worker, which it then hands it to (`cpu_affinity::choose`). A
//! connection stays on its worker, so a request's tasks, its wasm instance
//! and its socket never cross threads. Measured
//! against one work-stealing runtime with as many threads (2 cores, wrk -c50
//! sharing them): +20-30 % plugin requests per second, from fewer
//! cross-thread wake-ups and context switches. What is given up is stealing:
//! a worker busy with a CPU-bound guest shares its core between that guest
//! (which yields every epoch tick) and its other connections instead of
//! handing them to an idle worker.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{mpsc, watch};

use crate::admin::Admin;
use crate::conn_cap::{self, AcceptBackoff, AcceptGate, ConnectionCap};
use crate::cpu_affinity;
use crate::dispatch::Dispatcher;
use crate::gateway::Gateway;
use crate::http::{self, AccessLog, ConnConfig, Limits, LogFormat};
use crate::listener;
use crate::plugins::{PluginDefaults, PluginFolder};
use crate::runtime::{EngineConfig, WasmEngine};
use crate::static_files::{CachePolicy, StaticFiles};
use crate::telemetry::Telemetry;
use crate::tls::{Certificates, TlsFiles};

/// Everything the server needs, resolved from the command line.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen.
    pub(crate) addr: SocketAddr,
    /// The static site's folder.
    pub(crate) static_dir: PathBuf,
    /// The plugins folder.
    pub(crate) plugins_dir: PathBuf,
    /// Access log on stdout, in this format; `None` with `--quiet`.
    pub(crate) access_log: Option<LogFormat>,
    /// Where the admin listener listens; `None` when it is off.
    pub(crate) admin: Option<SocketAddr>,
    /// `Cache-Control` for static answers.
    pub(crate) cache_policy: CachePolicy,
    /// The certificate and key when the listener speaks HTTPS.
    pub(crate) tls: Option<TlsFiles>,
    /// Plugin failure details in error pages.
    pub(crate) dev: bool,
    /// Connection-loop limits.
    pub(crate) limits: Limits,
    /// Engine-wide settings.
    pub(crate) engine: EngineConfig,
    /// Per-plugin defaults.
    pub(crate) plugin_defaults: PluginDefaults,
    /// Time in-flight requests get after a stop signal.
    pub(crate) grace: Duration,
    /// How plugin changes are noticed.
    pub(crate) watch: crate::reload::WatchMode,
    /// Connection worker threads (at least one).
    pub(crate) workers: usize,
    /// Pin one worker per allowed CPU and steer connections to the worker
    /// on their CPU (`cpu_affinity`), when the worker count allows it.
    pub(crate) cpu_affinity: bool,
    /// The most connections served at once; `None`: derived from the
    /// open-file limit ([`ConnectionCap::default_for`]).
    pub(crate) max_connections: Option<usize>,
}

/// Why the server could not start; the binary turns each into one line and
/// an exit code.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Another process holds the port.
    #[error("{0} is already in use (is another server running? pick another port)")]
    AddrInUse(SocketAddr),
    /// Anything else: missing folders, permissions, a broken engine.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Run the server until a stop signal, then shut down gracefully.
pub async fn run(config: ServerConfig) -> Result<(), StartError> {
    let fd_limit = conn_cap::raise_fd_limit();
    let max_connections = config
        .max_connections
        .unwrap_or_else(|| fd_limit.map_or(usize::MAX, ConnectionCap::default_for));
    tracing::debug!(?fd_limit, max_connections, "connection cap");
    // A bad certificate stops the start with one line, before anything binds.
    let certificates = match &config.tls {
        Some(files) => Some(Certificates::load(files.clone()).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let tls = match &certificates {
        Some(certs) => Some(tokio_rustls::TlsAcceptor::from(
            certs.server_config().map_err(anyhow::Error::msg)?,
        )),
        None => None,
    };
    let worker_count = config.workers.max(1);
    let listeners = listener::bind_group(config.addr, worker_count)?;
    let local = match listeners.first() {
        Some(first) => first.local_addr().context("reading the bound address")?,
        None => config.addr,
    };

    let telemetry = Arc::new(Telemetry::default());
    let engine = Arc::new(WasmEngine::new(&config.engine).context("starting the wasm engine")?);
    let plugins = PluginFolder::open(
        &config.plugins_dir,
        Arc::clone(&engine),
        config.plugin_defaults.clone(),
        Arc::clone(&telemetry),
    )
    .with_context(|| format!("loading plugins from {}", config.plugins_dir.display()))?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // The admin listener answers while the first scan runs: `/readyz`
    // says 503 until it is done, `/healthz` 200 from the start.
    let admin = match config.admin {
        Some(addr) => Some(start_admin(
            addr,
            Admin::new(Arc::clone(&telemetry), plugins.clone(), Arc::clone(&engine)),
            &config.limits,
        )?),
        None => None,
    };
    plugins
        .rescan()
        .await
        .with_context(|| format!("loading plugins from {}", config.plugins_dir.display()))?;
    telemetry.health.set_scanned();
    let plugins = Arc::new(plugins);
    let exclude: Vec<PathBuf> = std::fs::canonicalize(&config.plugins_dir)
        .into_iter()
        .collect();
    let statics = StaticFiles::new(&config.static_dir, exclude, config.cache_policy.clone())
        .with_context(|| format!("opening static folder {}", config.static_dir.display()))?;

    // Handlers go in before the banner: from then on a client (or a test)
    // may signal us, and the default action would kill the process.
    let signals = Signals::install();
    announce(
        &config,
        local,
        tls.is_some(),
        admin.as_ref().map(|a| a.addr),
        &plugins,
        &statics,
    );

    let access_log = config.access_log.map(AccessLog::stdout);
    let conn_config = ConnConfig {
        limits: config.limits.clone(),
        access_log: access_log.clone(),
        // Without an admin listener nobody can read the request counters:
        // the request path skips them.
        telemetry: admin.is_some().then(|| Arc::clone(&telemetry)),
        tls,
    };
    let dispatcher = Arc::new(Dispatcher::new(
        plugins.live_routes(),
        Gateway::new(engine, config.dev, Arc::clone(&telemetry)),
        Some(statics.clone()),
    ));

    // With no CPU to pin to, the plan leaves every worker unpinned.
    let pin_to = if config.cpu_affinity {
        cpu_affinity::allowed_cpus()
    } else {
        Vec::new()
    };
    let cpus = cpu_affinity::plan(worker_count, &pin_to);
    if cpus.iter().any(Option::is_some) {
        if let Err(err) = listener::steer_by_cpu(&listeners, &cpus) {
            tracing::debug!(error = %err, "cannot steer connections by CPU; they are spread by a hash");
        }
    }
    let workers = start_workers(
        cpus.into_iter().zip(listeners).collect(),
        Intake {
            bound: local,
            gate: Arc::new(AcceptGate::new(max_connections, "--max-connections")),
        },
        &dispatcher,
        &conn_config,
        &shutdown_rx,
        config.grace,
    )?;
    let tls_reloader =
        certificates.map(|certs| tokio::spawn(crate::tls::watch(certs, shutdown_rx.clone())));
    let reloader = tokio::spawn(crate::reload::run(
        Arc::clone(&plugins),
        config.watch,
        signals.hangup,
        shutdown_rx,
    ));

    stop_signal(signals.interrupt, signals.terminate).await;

    // Not ready from now on, so a load balancer stops sending traffic
    // while the connections in flight finish. The workers stop accepting,
    // take what waits in their sockets' backlogs and close them.
    telemetry.health.set_draining();
    let _ = shutdown_tx.send(true);
    tracing::info!(grace = ?config.grace, "stopping: waiting for in-flight requests");
    let all_finished = tokio::task::spawn_blocking(move || join_workers(workers))
        .await
        .unwrap_or(false);
    if !all_finished {
        tracing::warn!("grace period over: closing the remaining connections");
    }
    let _ = reloader.await;
    if let Some(task) = tls_reloader {
        let _ = task.await;
    }
    if let Some(admin) = admin {
        admin.task.abort();
    }
    if let Some(log) = access_log {
        log.flush();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Open connections the admin listener serves at most. Scrapers, probes and
/// a status page hold a handful; past the cap a connection gets the same
/// 503 as the public port's, so a flood on the admin port cannot take the
/// descriptors and memory the public port serves with.
const ADMIN_MAX_CONNECTIONS: usize = 64;

/// The admin listener, serving on the coordinating thread: its traffic is
/// a scrape every few seconds, not worth a worker's time.
struct AdminListener {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

/// Bind the admin address and serve [`Admin`] on it until the process
/// stops: it keeps answering while the server drains (`/readyz`: 503), so
/// its connections do not take the public port's stop signal.
fn start_admin(
    addr: SocketAddr,
    admin: Admin,
    limits: &Limits,
) -> Result<AdminListener, StartError> {
    let listener = listener::bind(addr)?;
    let addr = listener
        .local_addr()
        .context("reading the admin listener's address")?;
    let admin = Arc::new(admin);
    let config = Arc::new(ConnConfig {
        limits: limits.clone(),
        access_log: None,
        telemetry: None,
        tls: None,
    });
    // Admin connections never drain by themselves: the task is aborted once
    // the server has stopped.
    let (never_stops, shutdown) = watch::channel(false);
    let task = tokio::spawn(async move {
        // Held here: a dropped sender would read as a stop signal.
        let _never_stops = never_stops;
        let gate = AcceptGate::new(ADMIN_MAX_CONNECTIONS, "admin listener");
        let mut backoff = AcceptBackoff::default();
        let open = Arc::new(AtomicUsize::new(0));
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(pair) => pair,
                Err(err) => {
                    backoff.accept_failed(&err).await;
                    continue;
                }
            };
            backoff.accepted();
            if !gate.admit(open.load(Ordering::Relaxed)) {
                if let Ok(stream) = stream.into_std() {
                    conn_cap::refuse(stream);
                }
                continue;
            }
            let Ok(local) = stream.local_addr() else {
                continue;
            };
            let held = LoadGuard::new(&open);
            let admin = Arc::clone(&admin);
            let config = Arc::clone(&config);
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                http::serve_connection(stream, peer, local, admin, config, shutdown).await;
                drop(held);
            });
        }
    });
    Ok(AdminListener { addr, task })
}

/// A connection one worker accepted, on its way to another.
struct Accepted {
    stream: std::net::TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    /// Counts the connection in its worker's load until it ends.
    load: LoadGuard,
}

/// One open connection in a worker's load count; dropping it ends the count.
struct LoadGuard(Arc<AtomicUsize>);

impl LoadGuard {
    fn new(load: &Arc<AtomicUsize>) -> LoadGuard {
        load.fetch_add(1, Ordering::Relaxed);
        LoadGuard(Arc::clone(load))
    }
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A worker as the others see it: where to hand it a connection, and how
/// many it has open.
struct Peer {
    intake: mpsc::UnboundedSender<Accepted>,
    load: Arc<AtomicUsize>,
}

/// What every worker's accept loop shares.
#[derive(Clone)]
struct Intake {
    /// The address the sockets are bound to.
    bound: SocketAddr,
    /// The connection cap, across all workers.
    gate: Arc<AcceptGate>,
}

/// Wait for every worker (their grace periods run at the same time, from
/// the stop signal); true when every connection ended within its grace.
fn join_workers(workers: Vec<std::thread::JoinHandle<bool>>) -> bool {
    // Every thread is joined, even after one reported stragglers.
    let mut all_finished = true;
    for thread in workers {
        all_finished &= thread.join().unwrap_or(false);
    }
    all_finished
}

/// Start one worker thread per entry of `workers`, each with its listening
/// socket and pinned to its CPU if it has one. Their runtimes are built and
/// the sockets registered here, so a failure is a start-up error rather
/// than a thread that silently never serves.
fn start_workers(
    workers: Vec<(Option<usize>, std::net::TcpListener)>,
    intake: Intake,
    dispatcher: &Arc<Dispatcher>,
    conn_config: &ConnConfig,
    shutdown_rx: &watch::Receiver<bool>,
    grace: Duration,
) -> anyhow::Result<Vec<std::thread::JoinHandle<bool>>> {
    let (peers, handed): (Vec<Peer>, Vec<_>) = workers
        .iter()
        .map(|_| {
            let (tx, rx) = mpsc::unbounded_channel();
            let load = Arc::new(AtomicUsize::new(0));
            (Peer { intake: tx, load }, rx)
        })
        .unzip();
    let peers: Arc<[Peer]> = peers.into();
    workers
        .into_iter()
        .zip(handed)
        .enumerate()
        .map(|(index, ((cpu, socket), handed))| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting a worker's async runtime")?;
            let socket = {
                let _in_runtime = runtime.enter();
                // SAFETY: a `std::net::TcpListener` owns its descriptor and
                // reports that one for as long as it lives, which is all
                // `AsyncFd` asks of it. Accepted without tokio's `accept`
                // (see `conn_cap::accept`).
                #[allow(unsafe_code)]
                unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
                    .map_err(std::io::Error::from)
                    .context("watching a listening socket")?
            };
            let worker = Worker {
                index,
                dispatcher: Arc::clone(dispatcher),
                // Each worker logs into a buffer of its own: no lock on the
                // request path is shared with another core.
                conn_config: Arc::new(ConnConfig {
                    limits: conn_config.limits.clone(),
                    access_log: conn_config.access_log.as_ref().map(AccessLog::for_worker),
                    telemetry: conn_config.telemetry.clone(),
                    tls: conn_config.tls.clone(),
                }),
                shutdown_rx: shutdown_rx.clone(),
                grace,
            };
            let accept = Acceptor {
                socket,
                intake: intake.clone(),
                peers: Arc::clone(&peers),
            };
            std::thread::Builder::new()
                .name(format!("wasibin-worker-{index}"))
                .spawn(move || {
                    // Unpinned, the worker only loses the locality.
                    if let Some(cpu) = cpu {
                        if !cpu_affinity::pin_current_thread(cpu) {
                            tracing::debug!(cpu, "cannot pin a worker to its CPU");
                        }
                    }
                    runtime.block_on(worker.serve(accept, handed))
                })
                .context("starting a worker thread")
        })
        .collect()
}

/// What one worker thread serves with.
struct Worker {
    /// Its place in the listening group and among the peers.
    index: usize,
    dispatcher: Arc<Dispatcher>,
    conn_config: Arc<ConnConfig>,
    shutdown_rx: watch::Receiver<bool>,
    grace: Duration,
}

/// One worker's accepting side: its socket, and the other workers to hand
/// a connection to. Dropped when the worker stops accepting, which closes
/// its hand-over channels into the others.
struct Acceptor {
    socket: AsyncFd<std::net::TcpListener>,
    intake: Intake,
    peers: Arc<[Peer]>,
}

/// Starts a worker's connection tasks. Each holds a clone of `alive`; when
/// all are gone, the receiver's `recv()` returns None: that is how the
/// worker knows they finished.
struct Spawner {
    dispatcher: Arc<Dispatcher>,
    conn_config: Arc<ConnConfig>,
    shutdown: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
}

impl Spawner {
    fn spawn(
        &self,
        stream: std::net::TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
        load: LoadGuard,
    ) {
        let stream = match TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(err) => {
                tracing::debug!(error = %err, "cannot register a connection");
                return;
            }
        };
        let dispatcher = Arc::clone(&self.dispatcher);
        let conn_config = Arc::clone(&self.conn_config);
        let shutdown = self.shutdown.clone();
        let alive = self.alive.clone();
        tokio::spawn(async move {
            // Boxed: the connection's future is about 4.7 KiB, and tokio
            // copies a task's future into its cell when spawning and its
            // whole stage again when it finishes; with a new connection per
            // request those copies were 4 % of the server's CPU (perf).
            Box::pin(http::serve_connection(
                stream,
                peer,
                local,
                dispatcher,
                conn_config,
                shutdown,
            ))
            .await;
            drop(load);
            drop(alive);
        });
    }
}

impl Worker {
    /// The shutdown signal as this worker's connections watch it: a channel
    /// of the worker's own, fed from the server's. Every connection reads
    /// the flag and registers a waiter on its channel around each request;
    /// on the one shared channel those were atomics and a mutex bounced
    /// between the cores' caches on every request.
    fn worker_shutdown(&self) -> watch::Receiver<bool> {
        let mut server = self.shutdown_rx.clone();
        let (tx, rx) = watch::channel(*server.borrow_and_update());
        tokio::spawn(async move {
            // Ends with the server's sender; dropping `tx` then leaves the
            // connections' receivers as the server's would have been.
            while server.changed().await.is_ok() {
                let stop = *server.borrow_and_update();
                if tx.send(stop).is_err() {
                    break;
                }
            }
        });
        rx
    }

    /// Serve what this worker accepts and what the others hand it until
    /// the stop signal, then give its connections the grace period; true
    /// when they all finished within it.
    async fn serve(self, accept: Acceptor, mut handed: mpsc::UnboundedReceiver<Accepted>) -> bool {
        let (alive, mut finished) = mpsc::channel::<()>(1);
        let shutdown = self.worker_shutdown();
        let spawner = Spawner {
            dispatcher: self.dispatcher,
            conn_config: self.conn_config,
            shutdown: shutdown.clone(),
            alive,
        };
        let accepting = accept_loop(accept, self.index, &spawner, shutdown);
        // Ends once every worker has stopped accepting (each holds a sender
        // into every intake until then).
        let taking_over = async {
            while let Some(accepted) = handed.recv().await {
                spawner.spawn(
                    accepted.stream,
                    accepted.peer,
                    accepted.local,
                    accepted.load,
                );
            }
        };
        tokio::join!(accepting, taking_over);
        drop(spawner);
        tokio::time::timeout(self.grace, finished.recv())
            .await
            .is_ok()
    }
}

/// Accept on worker `me`'s socket until the stop signal, keeping each
/// connection or handing it to another worker (`cpu_affinity::choose`:
/// balanced, so clients on one CPU do not all land on one worker), or
/// refusing it past the cap.
async fn accept_loop(
    accept: Acceptor,
    me: usize,
    spawner: &Spawner,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = AcceptBackoff::default();
    let mut loads = Vec::with_capacity(accept.peers.len());
    loop {
        let mut ready = tokio::select! {
            biased;
            _ = stop.wait_for(|&stop| stop) => break,
            ready = accept.socket.readable() => match ready {
                Ok(ready) => ready,
                Err(err) => {
                    backoff.accept_failed(&err).await;
                    continue;
                }
            },
        };
        match ready.try_io(|socket| conn_cap::accept(socket.get_ref())) {
            Ok(Ok((stream, peer))) => {
                backoff.accepted();
                place(&accept, me, spawner, &mut loads, stream, peer);
            }
            Ok(Err(err)) => backoff.accept_failed(&err).await,
            // Nothing more to accept: readiness is cleared until the next.
            Err(_would_block) => {}
        }
    }
    // Connections the kernel completed before the stop wait in the backlog;
    // closing the socket would reset them unread. They are taken too, and
    // their requests answered with `Connection: close`.
    for (stream, peer) in conn_cap::backlog(accept.socket.get_ref()) {
        place(&accept, me, spawner, &mut loads, stream, peer);
    }
}

/// Serve a connection worker `me` accepted, on `me` or the worker
/// `cpu_affinity::choose` picks, or refuse it past the connection cap.
/// `loads` is scratch space for the workers' counts.
fn place(
    accept: &Acceptor,
    me: usize,
    spawner: &Spawner,
    loads: &mut Vec<usize>,
    stream: std::net::TcpStream,
    peer: SocketAddr,
) {
    loads.clear();
    loads.extend(accept.peers.iter().map(|p| p.load.load(Ordering::Relaxed)));
    if !accept.intake.gate.admit(loads.iter().sum()) {
        conn_cap::refuse(stream);
        return;
    }
    // A socket bound to one address is every connection's local address;
    // on a wildcard one each connection says which of the machine's it
    // reached.
    let bound = accept.intake.bound;
    let local = if bound.ip().is_unspecified() {
        let Ok(local) = stream.local_addr() else {
            return;
        };
        local
    } else {
        bound
    };
    let chosen = cpu_affinity::choose(loads, me);
    let (stream, peer) = match accept.peers.get(chosen) {
        Some(other) if chosen != me => {
            let handed = Accepted {
                stream,
                peer,
                local,
                load: LoadGuard::new(&other.load),
            };
            match other.intake.send(handed) {
                Ok(()) => return,
                // Refused only by a worker that is gone (its thread
                // failed): this one serves the connection then.
                Err(mpsc::error::SendError(back)) => (back.stream, back.peer),
            }
        }
        _ => (stream, peer),
    };
    if let Some(mine) = accept.peers.get(me) {
        spawner.spawn(stream, peer, local, LoadGuard::new(&mine.load));
    }
}

/// The signals the server reacts to; `None` where the handler could not be
/// installed (logged), so that signal keeps its default action.
struct Signals {
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
    hangup: Option<Signal>,
}

impl Signals {
    fn install() -> Signals {
        let install = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(signal) => Some(signal),
            Err(err) => {
                tracing::warn!(error = %err, "cannot handle {name}; it keeps its default action");
                None
            }
        };
        Signals {
            interrupt: install(SignalKind::interrupt(), "SIGINT"),
            terminate: install(SignalKind::terminate(), "SIGTERM"),
            hangup: install(SignalKind::hangup(), "SIGHUP"),
        }
    }
}

/// Resolves on the first SIGINT or SIGTERM.
async fn stop_signal(interrupt: Option<Signal>, terminate: Option<Signal>) {
    tokio::select! {
        Some(()) = recv(interrupt) => tracing::info!("SIGINT received"),
        Some(()) = recv(terminate) => tracing::info!("SIGTERM received"),
        else => std::future::pending().await,
    }
}

/// The next delivery of `signal`; never, when there is no handler.
async fn recv(signal: Option<Signal>) -> Option<()> {
    match signal {
        Some(mut signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

/// The start-up banner: one line saying what is served where, one line per
/// plugin route, and a warning for each plugin that hides a static path.
fn announce(
    config: &ServerConfig,
    local: SocketAddr,
    https: bool,
    admin: Option<SocketAddr>,
    plugins: &PluginFolder,
    statics: &StaticFiles,
) {
    let table = plugins.table();
    let mut routes: Vec<_> = table.routes().collect();
    routes.sort_by(|a, b| a.route.cmp(&b.route));
    println!(
        "wasibin: serving {} and {} plugin{} from {} at {}://{local}/",
        display_dir(&config.static_dir),
        routes.len(),
        if routes.len() == 1 { "" } else { "s" },
        display_dir(&config.plugins_dir),
        if https { "https" } else { "http" },
    );
    if let Some(admin) = admin {
        println!("  admin: http://{admin}/ (status page, /metrics, /healthz, /readyz)");
    }
    for plugin in &routes {
        println!(
            "  {:<24} {} ({}) {}",
            plugin.route,
            plugin.file.display(),
            plugin.hash,
            plugin.kind_label()
        );
        if statics.contains(&plugin.route) {
            tracing::warn!(
                route = %plugin.route,
                "plugin {} shadows static path {} in {}",
                plugin.file.display(),
                plugin.route,
                config.static_dir.display()
            );
        }
    }
}

/// A folder for humans: with a trailing slash, as given on the command line.
fn display_dir(dir: &Path) -> String {
    let text = dir.display().to_string();
    if text.ends_with('/') {
        text
    } else {
        format!("{text}/")
    }
}
