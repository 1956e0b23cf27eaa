//! Which CPU each connection worker runs on, and which worker serves a new
//! connection: the one on the CPU where the kernel processed the
//! connection's packets (the kernel steers it to that worker's socket:
//! `listener::steer_by_cpu`), unless that worker holds far more
//! connections than another.
//!
//! Why: a response's `send` runs the receiving side's TCP processing and
//! wakes the reader. When the reader last ran on the other core, that is an
//! inter-processor interrupt, paid by the sender (in a VM, a VM exit). With
//! every worker serving connections from every client thread, measured here
//! (2 cores, wrk -t2 -c50, `hello`): 8.5 % of the server's CPU was that
//! wake-up, and two shared-nothing processes, each paired with one client
//! thread, served 1.45x the requests per second at 10.2 against 13.6 µs of
//! CPU per request. Steering by the receiving CPU to a worker pinned to that
//! CPU gives one process the same pairing (nginx's `worker_cpu_affinity`
//! pins, but its `reuseport` spreads connections by a hash, not by CPU). A
//! remote client's packets land on the CPU its flow hashes to (RSS), so the
//! worker there finds them in its own cache.

use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};

/// The CPUs this process may run on (its affinity mask: a container's
/// cpuset, `taskset`), in order; empty when the kernel would not say.
pub(crate) fn allowed_cpus() -> Vec<usize> {
    match sched_getaffinity(None) {
        Ok(set) => (0..CpuSet::MAX_CPU)
            .filter(|&cpu| set.is_set(cpu))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The CPU each of `workers` workers is pinned to: one CPU each when there
/// are exactly as many workers as allowed CPUs (the default, one per core),
/// otherwise none. A worker count below the CPU set (a CPU quota, or
/// `--workers`) leaves the scheduler free to place them.
pub(crate) fn plan(workers: usize, allowed: &[usize]) -> Vec<Option<usize>> {
    if workers > 1 && workers == allowed.len() {
        allowed.iter().copied().map(Some).collect()
    } else {
        vec![None; workers]
    }
}

/// Pins the calling thread to `cpu`; false when the kernel refused (the
/// worker then runs unpinned, which is only slower).
pub(crate) fn pin_current_thread(cpu: usize) -> bool {
    let mut set = CpuSet::new();
    set.set(cpu);
    sched_setaffinity(None, &set).is_ok()
}

/// Connections a worker may hold beyond twice the least loaded one's and
/// still keep one more it accepted, for locality.
const SLACK: usize = 8;

/// Of workers with these open-connection counts, the one to serve a
/// connection worker `accepting` took from its socket: that worker, unless
/// it holds more than twice the least loaded one's count plus [`SLACK`],
/// else the least loaded. The bound keeps clients whose connections all
/// come from one CPU from piling onto one worker (they end up about two to
/// one), while a burst of connections from one client thread, as load
/// generators open them, stays on its CPU's worker.
pub(crate) fn choose(loads: &[usize], accepting: usize) -> usize {
    let (least, min) = loads
        .iter()
        .copied()
        .enumerate()
        .min_by_key(|&(_, load)| load)
        .unwrap_or((accepting, 0));
    let bound = min.saturating_mul(2).saturating_add(SLACK);
    match loads.get(accepting) {
        Some(&load) if load <= bound => accepting,
        _ => least,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_pinned_only_one_per_allowed_cpu() {
        assert_eq!(plan(2, &[0, 1]), vec![Some(0), Some(1)]);
        assert_eq!(plan(2, &[2, 5]), vec![Some(2), Some(5)]);
        assert_eq!(plan(1, &[0, 1]), vec![None]);
        assert_eq!(plan(3, &[0, 1]), vec![None, None, None]);
        // One worker on one CPU gains nothing from pinning.
        assert_eq!(plan(1, &[0]), vec![None]);
        // `--no-cpu-affinity`: nothing to pin to.
        assert_eq!(plan(2, &[]), vec![None, None]);
    }

    #[test]
    fn the_accepting_worker_keeps_a_connection_within_the_slack() {
        assert_eq!(choose(&[10, 10], 1), 1);
        assert_eq!(choose(&[0, 8], 1), 1);
        assert_eq!(choose(&[0, 9], 1), 0);
        assert_eq!(choose(&[10, 28], 1), 1);
        assert_eq!(choose(&[10, 29], 1), 0);
        assert_eq!(choose(&[3, 1, 40], 2), 1);
    }

    #[test]
    fn an_unknown_worker_gives_it_to_the_least_loaded() {
        assert_eq!(choose(&[3, 1], 7), 1);
        assert_eq!(choose(&[], 0), 0);
    }
}
