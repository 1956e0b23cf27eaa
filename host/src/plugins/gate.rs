//! Per-plugin admission: at most `max_concurrency` instances run, at most
//! `max_queue` requests wait for a turn, and anyone beyond that is turned
//! away at once (503 + Retry-After) instead of piling up without bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A plugin's admission gate. Cheap to clone; a reloaded plugin with the same
/// limits keeps its gate, so a reload never doubles the concurrency.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    inner: Arc<GateInner>,
}

#[derive(Debug)]
struct GateInner {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_concurrency: usize,
    max_queue: usize,
}

/// The right to run one instance; released on drop.
#[derive(Debug)]
pub(crate) struct GatePermit {
    _permit: OwnedSemaphorePermit,
}

/// The plugin is at its concurrency limit and its queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the plugin is busy: all its instances are running and its queue is full")]
pub(crate) struct Busy;

/// Takes one place in the queue; gives it back on drop, also when the
/// waiting request is cancelled (client gone).
struct QueueSlot<'a>(&'a AtomicUsize);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gate {
    /// A gate letting `max_concurrency` (at least 1) run and `max_queue` wait.
    pub(crate) fn new(max_concurrency: usize, max_queue: usize) -> Self {
        let max_concurrency = max_concurrency.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            inner: Arc::new(GateInner {
                running: Arc::new(Semaphore::new(max_concurrency)),
                waiting: AtomicUsize::new(0),
                max_concurrency,
                max_queue,
            }),
        }
    }

    /// Whether this gate enforces exactly these limits (so it can be kept
    /// across a reload).
    pub(crate) fn has_limits(&self, max_concurrency: usize, max_queue: usize) -> bool {
        self.inner.max_concurrency == max_concurrency.clamp(1, Semaphore::MAX_PERMITS)
            && self.inner.max_queue == max_queue
    }

    /// Instances running and requests waiting for a turn now, for
    /// `/metrics` and the status page. A request being turned away counts
    /// in the queue for an instant; the bound hides it.
    pub(crate) fn load(&self) -> (usize, usize) {
        let inner = &self.inner;
        let running = inner
            .max_concurrency
            .saturating_sub(inner.running.available_permits());
        let queued = inner.waiting.load(Ordering::Acquire).min(inner.max_queue);
        (running, queued)
    }

    /// How many instances may run at once.
    pub(crate) fn max_concurrency(&self) -> usize {
        self.inner.max_concurrency
    }

    /// Waits for a turn to run, or answers `Busy` at once when the queue is
    /// full.
    pub(crate) async fn acquire(&self) -> Result<GatePermit, Busy> {
        let inner = &self.inner;
        if let Ok(permit) = inner.running.clone().try_acquire_owned() {
            return Ok(GatePermit { _permit: permit });
        }
        let queued = inner.waiting.fetch_add(1, Ordering::AcqRel);
        let _slot = QueueSlot(&inner.waiting);
        if queued >= inner.max_queue {
            return Err(Busy);
        }
        // The semaphore is never closed, so this only fails if it were.
        let permit = inner
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Busy)?;
        Ok(GatePermit { _permit: permit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_then_queues_then_refuses() {
        let gate = Gate::new(1, 1);
        let first = gate.acquire().await.unwrap();
        let g2 = gate.clone();
        let queued = tokio::spawn(async move { g2.acquire().await.map(|_| ()) });
        // Let the second request take its queue place.
        while gate.inner.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(gate.acquire().await.unwrap_err(), Busy);
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), queued)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(gate.inner.waiting.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn a_cancelled_waiter_gives_its_place_back() {
        let gate = Gate::new(1, 1);
        let _running = gate.acquire().await.unwrap();
        let waiting = gate.acquire();
        assert!(tokio::time::timeout(Duration::from_millis(10), waiting)
            .await
            .is_err());
        assert_eq!(gate.inner.waiting.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn load_counts_running_and_queued() {
        let gate = Gate::new(1, 2);
        assert_eq!(gate.load(), (0, 0));
        let running = gate.acquire().await.unwrap();
        assert_eq!(gate.load(), (1, 0));
        let g2 = gate.clone();
        let queued = tokio::spawn(async move { g2.acquire().await.map(|_| ()) });
        while gate.load().1 == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(gate.load(), (1, 1));
        drop(running);
        queued.await.unwrap().unwrap();
        assert_eq!(gate.load(), (0, 0));
    }

    #[tokio::test]
    async fn zero_queue_refuses_at_once() {
        let gate = Gate::new(1, 0);
        let _running = gate.acquire().await.unwrap();
        assert_eq!(gate.acquire().await.unwrap_err(), Busy);
    }

    #[test]
    fn limits_are_compared_for_reuse() {
        let gate = Gate::new(4, 8);
        assert!(gate.has_limits(4, 8));
        assert!(!gate.has_limits(4, 9));
        assert!(Gate::new(0, 0).has_limits(1, 0));
    }
}
