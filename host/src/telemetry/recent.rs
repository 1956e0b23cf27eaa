//! The last plugin failures, for the status page: a person looking at a
//! failing route wants the last few reasons next to it, not a log search.
//! Bounded; written only on the failure path, so its lock is never taken
//! by a request that succeeds.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

/// How many failures the status page keeps.
const KEPT: usize = 50;
/// Longest detail kept per failure.
const DETAIL_MAX: usize = 300;

/// One failure as the status page lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct ErrorEvent {
    /// Seconds since the Unix epoch.
    pub(crate) at: u64,
    /// The plugin's route.
    pub(crate) route: String,
    /// The request it failed.
    pub(crate) request_id: String,
    /// The status the client got.
    pub(crate) status: u16,
    /// What went wrong, in words (cut to a few hundred bytes).
    pub(crate) detail: String,
}

/// A bounded list of the newest failures.
#[derive(Debug, Default)]
pub(crate) struct RecentErrors {
    events: Mutex<VecDeque<ErrorEvent>>,
}

impl RecentErrors {
    /// Record one failure, forgetting the oldest beyond the bound.
    pub(crate) fn push(&self, route: &str, request_id: &str, status: u16, detail: &str) {
        let mut cut = detail.len().min(DETAIL_MAX);
        while !detail.is_char_boundary(cut) {
            cut -= 1;
        }
        let at = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let event = ErrorEvent {
            at,
            route: route.to_owned(),
            request_id: request_id.to_owned(),
            status,
            detail: detail[..cut].to_owned(),
        };
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        if events.len() == KEPT {
            events.pop_back();
        }
        events.push_front(event);
    }

    /// The failures kept, newest first.
    pub(crate) fn snapshot(&self) -> Vec<ErrorEvent> {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        events.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_first_and_stays_bounded() {
        let errors = RecentErrors::default();
        for i in 0..(KEPT + 5) {
            errors.push("/r", &i.to_string(), 502, "boom");
        }
        let kept = errors.snapshot();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].request_id, (KEPT + 4).to_string());
    }

    #[test]
    fn long_details_are_cut_on_a_character_boundary() {
        let errors = RecentErrors::default();
        errors.push("/r", "1", 502, &"é".repeat(DETAIL_MAX));
        let detail = &errors.snapshot()[0].detail;
        assert!(detail.len() <= DETAIL_MAX);
        assert!(detail.chars().all(|c| c == 'é'));
    }
}
