//! How every run is bounded and how a bounded run ends, the same for p1
//! modules, wasi:cli commands and wasi:http handlers: the epoch deadline
//! armed before instantiation, the backstop for a guest parked in a host
//! call, and the mapping of what wasmtime reports to a [`RunError`].

use std::time::{Duration, Instant};

use wasmtime::{Store, Trap, UpdateDeadline};

/// A guest blocked in a host call (a long `poll_oneoff` sleep, a wasi:http
/// guest waiting on a pollable) never reaches an epoch check; this much past
/// its deadline the run is dropped instead.
pub(super) const HOST_CALL_GRACE: Duration = Duration::from_millis(50);

/// How a run failed; each variant maps to one HTTP status in the gateway.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The guest ran past its time limit and was stopped (504).
    #[error("the plugin ran past its time limit and was stopped")]
    Timeout,
    /// The guest wrote more than its stdout limit (502).
    #[error("the plugin wrote more than its output limit")]
    StdoutTooLarge,
    /// The guest hit its memory cap and then failed (502).
    #[error("the plugin ran out of memory (its memory limit was reached)")]
    MemoryLimit,
    /// Every instance slot of the engine's pool is in use (503): the server
    /// is saturated, the plugin did nothing wrong.
    #[error("no free instance slot: --max-instances are all running")]
    Busy,
    /// Any other trap or instantiation failure (502); the detail is for the log.
    #[error("the plugin failed: {0}")]
    Trap(String),
    /// The server could not set up the guest's world (its environment, a
    /// granted folder): 502, and not the plugin's doing.
    #[error("the server could not prepare the plugin's run: {0}")]
    Host(String),
}

/// Arms `store`'s deadline. Must run before instantiation: with epoch
/// interruption on, a store without a deadline traps at once.
///
/// The deadline is checked on each engine tick (one ticker thread for the
/// whole engine), and the guest yields to tokio in between so a busy guest
/// never holds a worker. It yields with `tokio::task::yield_now`, which
/// lets the worker poll its timers and sockets before the guest runs again:
/// a plain wake-up would put the guest back in the run queue at once, and a
/// single-threaded runtime polls its driver only every 61 task polls, so a
/// spinning guest would hold every other connection of its worker for
/// ~300 ms at a time. Starting at 1 tick, not 0, keeps the first check off
/// the fast path of a guest that finishes within a tick.
pub(super) fn arm_deadline<T: 'static>(store: &mut Store<T>, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        }
    });
}

/// Why a run that wasmtime ended with `error` failed. `stdout_overflowed`
/// and `memory_cap_hit` are what the run's own writers and limiter saw: an
/// overflow or a refused growth is usually followed by a trap of another
/// kind, and the cause is what the operator needs to read.
pub(super) fn failure(
    error: &wasmtime::Error,
    stdout_overflowed: bool,
    memory_cap_hit: bool,
) -> RunError {
    if stdout_overflowed {
        RunError::StdoutTooLarge
    } else if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        RunError::Timeout
    } else if memory_cap_hit {
        RunError::MemoryLimit
    } else if error
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        RunError::Busy
    } else {
        RunError::Trap(format!("{error:#}"))
    }
}
