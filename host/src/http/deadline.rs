//! One timer per connection for every wait on the client, moved lazily.
//!
//! A tokio timer registered with a deadline earlier than the one its
//! driver last slept towards wakes the driver (an eventfd write, then an
//! extra `epoll_wait`), even on the driver's own thread. A fresh
//! `timeout_at` per read did that once per keep-alive request: measured
//! with `perf record -e syscalls:sys_enter_write`, one eventfd write per
//! request, all from `Sleep::poll` in the read path.
//!
//! So each connection keeps one [`Sleep`]: it is moved at once when a wait
//! needs it earlier, and never moved later; when it fires before the
//! deadline of the wait at hand (which then lies further out), it is moved
//! to that deadline and the wait goes on. A keep-alive connection thus
//! re-arms its timer about once per keep-alive timeout instead of once
//! per request, as nginx keeps a timer that would move by less than
//! 300 ms where it is.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::{sleep_until, Instant, Sleep};

/// Where an unused timer sits: far enough that it never fires.
const PARKED: Duration = Duration::from_secs(365 * 24 * 3600);

/// A connection's reusable timer.
pub(crate) struct Deadline {
    sleep: Pin<Box<Sleep>>,
}

impl Deadline {
    /// A timer that fires for no wait yet.
    pub(crate) fn new() -> Deadline {
        Deadline {
            sleep: Box::pin(sleep_until(Instant::now() + PARKED)),
        }
    }

    /// Resolves once `deadline` has passed.
    pub(crate) async fn passed(&mut self, deadline: Instant) {
        loop {
            if self.sleep.deadline() > deadline {
                self.sleep.as_mut().reset(deadline);
            }
            (&mut self.sleep).await;
            if Instant::now() >= deadline {
                return;
            }
            self.sleep.as_mut().reset(deadline);
        }
    }

    /// `work`, or `None` if `deadline` passes first.
    pub(crate) async fn bound<T>(
        &mut self,
        deadline: Instant,
        work: impl Future<Output = T>,
    ) -> Option<T> {
        tokio::select! {
            biased;
            result = work => Some(result),
            () = self.passed(deadline) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn fires_at_each_deadline_whether_it_moves_earlier_or_later() {
        let mut timer = Deadline::new();
        let start = Instant::now();
        let pending = std::future::pending::<()>();
        assert_eq!(
            timer.bound(start + Duration::from_secs(10), pending).await,
            None
        );
        assert_eq!(Instant::now(), start + Duration::from_secs(10));
        // Later than the elapsed timer: moved out, fires at the new deadline.
        let later = Instant::now() + Duration::from_secs(75);
        assert_eq!(timer.bound(later, std::future::pending::<()>()).await, None);
        assert_eq!(Instant::now(), later);
        // Earlier than a timer still armed far out: moved in at once.
        timer
            .sleep
            .as_mut()
            .reset(Instant::now() + Duration::from_secs(500));
        let sooner = Instant::now() + Duration::from_secs(1);
        assert_eq!(
            timer.bound(sooner, std::future::pending::<()>()).await,
            None
        );
        assert_eq!(Instant::now(), sooner);
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_left_earlier_fires_early_and_the_wait_goes_on() {
        let mut timer = Deadline::new();
        let start = Instant::now();
        // An earlier wait left the timer at +10 s; this one ends at +75 s.
        timer.sleep.as_mut().reset(start + Duration::from_secs(10));
        let deadline = start + Duration::from_secs(75);
        let work = async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "done"
        };
        assert_eq!(timer.bound(deadline, work).await, Some("done"));
        assert_eq!(Instant::now(), start + Duration::from_secs(30));
        assert_eq!(
            timer.sleep.deadline(),
            deadline,
            "moved once, when it fired"
        );
    }
}
