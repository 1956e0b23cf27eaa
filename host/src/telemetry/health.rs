//! Liveness and readiness as a load balancer or Kubernetes asks for them:
//! the process answering at all is `/healthz`; `/readyz` also needs the
//! first plugin scan done (so no request meets a half-mounted folder) and
//! the server not draining (so a rolling update stops sending it traffic
//! before its connections close).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

/// The server's state as the health endpoints report it.
#[derive(Debug)]
pub(crate) struct Health {
    started: SystemTime,
    scanned: AtomicBool,
    draining: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            started: SystemTime::now(),
            scanned: AtomicBool::new(false),
            draining: AtomicBool::new(false),
        }
    }
}

impl Health {
    /// The first plugin scan finished: every plugin that could load is mounted.
    pub(crate) fn set_scanned(&self) {
        self.scanned.store(true, Ordering::Release);
    }

    /// A stop signal arrived: in-flight requests finish, new traffic should go elsewhere.
    pub(crate) fn set_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether the server should get traffic.
    pub(crate) fn is_ready(&self) -> bool {
        self.scanned.load(Ordering::Acquire) && !self.is_draining()
    }

    /// Whether a stop signal arrived.
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// When the process started.
    pub(crate) fn started(&self) -> SystemTime {
        self.started
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_between_the_first_scan_and_the_stop_signal() {
        let health = Health::default();
        assert!(!health.is_ready());
        health.set_scanned();
        assert!(health.is_ready());
        health.set_draining();
        assert!(!health.is_ready());
        assert!(health.is_draining());
    }
}
